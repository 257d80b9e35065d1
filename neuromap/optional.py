"""Optional integrations: which ``pip install neuromap[EXTRA]`` brings which package.

The core (neurons, training, graph/NIR, netlist, partitioner, Loihi emulator, SpiNNaker2 and
crossbar models, energy, reports, CLI) imports none of these. Code that needs one calls
:func:`require` at the point of use, so a missing package fails there with a message that names
the extra to install, and nothing else is affected::

    brian2 = require("brian2", "the Brian2 backend")   # MissingExtra: ... pip install 'neuromap[brian2]'
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

#: import name -> (extra that installs it, extra install steps the extra cannot express).
EXTRAS: dict[str, tuple[str, str]] = {
    "brian2": ("brian2", ""),
    "snntorch": ("snntorch", ""),
    "nirtorch": ("snntorch", ""),
    "norse": ("norse", ""),  # norse declares torchvision; `make setup` installs it --no-deps beside the CPU torch
    "pymetis": ("metis", ""),
    "tonic": ("data", ""),  # not needed by neuromap.data; for users of tonic's transforms
    # lava-nc 0.10.0 declares Python <3.11 and numpy<2; neuromap.compat.lava makes it import on 3.11.
    "lava": ("lava", "pip install --no-deps --ignore-requires-python lava-nc==0.10.0"),
    "spikingjelly": ("bench", "pip install --no-deps spikingjelly==2.0.0"),
    "ray": ("ray", ""),  # neuromap sweep: trials as Ray tasks; Ray Tune's Optuna integration for nsga2
    "optuna": ("ray", ""),
}


class MissingExtra(ImportError):
    """An optional integration is not installed; the message names the extra that installs it."""


def install_hint(module: str) -> str:
    """The command(s) that install ``module``'s extra, e.g. ``pip install 'neuromap[brian2]'``."""
    if module not in EXTRAS:
        raise KeyError(f"{module!r} is not an optional integration; known: {sorted(EXTRAS)}")
    extra, more = EXTRAS[module]
    hint = f"pip install 'neuromap[{extra}]'"
    return f"{hint} && {more}" if more else hint


def available(module: str) -> bool:
    """True when ``module`` can be imported (found on the path; it is not imported here)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (an optional integration) or raise :class:`MissingExtra` saying that
    ``purpose`` needs it and how to install it."""
    root = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or root).split(".")[0]
        what = "which is not installed" if missing == root else f"whose dependency {missing} is missing"
        raise MissingExtra(f"{purpose} needs {root}, {what}: {install_hint(root)}") from exc


__all__ = ["EXTRAS", "MissingExtra", "available", "install_hint", "require"]
