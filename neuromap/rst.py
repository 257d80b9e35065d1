"""reStructuredText in docstrings, shown as plain text where no renderer runs (``--help``).

Docstrings are written for Sphinx (``:func:`deploy```, ````code````); a command's ``--help`` prints
them to a terminal, where the markup is noise. :func:`plain` strips it::

    >>> plain("Run :func:`~neuromap.deploy.deploy` with ``--backend loihi``.")
    'Run deploy() with --backend loihi.'
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?P<role>\w+):`(?:[^`<]*<)?~?(?P<target>[^`>]+)>?`")
_LITERAL = re.compile(r"``(?P<text>[^`]+)``")


def _role(match: re.Match) -> str:
    target = match["target"]
    name = target.rsplit(".", 1)[-1] if match.group(0).count("~") or match["role"] in ("func", "meth") else target
    return f"{name}()" if match["role"] in ("func", "meth") and not name.endswith(")") else name


def plain(text: str | None) -> str:
    """``text`` with Sphinx roles (``:func:`x```, ``:class:`~a.B```) and double-backquoted literals as
    plain text; ``::`` that introduces a literal block becomes ``:``."""
    if not text:
        return ""
    text = _ROLE.sub(_role, text)
    text = _LITERAL.sub(lambda m: m["text"], text)
    return re.sub(r"(\S)::$", r"\1:", text, flags=re.M)


__all__ = ["plain"]
