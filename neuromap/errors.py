"""The root of neuromap's exceptions.

Every error neuromap raises on purpose for bad input (a malformed graph, a network that does not
fit, a target file with a wrong field, an output path it cannot write) derives from
:class:`NeuromapError`, so the ``neuromap`` command turns any of them into one line and exit code 2
and a library user can catch them all at once. Classes that were ``ValueError`` subclasses stay so
(``except ValueError`` keeps working); they live beside the code that raises them:

- :class:`neuromap.graph.GraphError` (and ``UnsupportedNodeError``), ``ValueError``
- :class:`neuromap.backends.BackendError`, ``ValueError``
- :class:`neuromap.partition.DoesNotFit`, ``ValueError``
- :class:`neuromap.targets.TargetError`, ``ValueError``
- :class:`neuromap.energy.ActivityError` and ``MissingFigure``, ``ValueError``
- :class:`neuromap.backends.loihi.neurons.QuantizationError`, ``ValueError``
- :class:`InputError` (a bad argument or input file), ``ValueError``
- :class:`OutputError` (an output that cannot be written), ``OSError``
"""

from __future__ import annotations


class NeuromapError(Exception):
    """Base class of every error neuromap raises on purpose; the message says what and why."""


class InputError(NeuromapError, ValueError):
    """A bad argument or input file; the message names it."""


class OutputError(NeuromapError, OSError):
    """An output cannot be written (missing or read-only directory, full disk); names the user's path."""

    def __str__(self) -> str:  # OSError's own __str__ would print "[Errno ...]" with the args tuple
        return str(self.args[0]) if self.args else "cannot write output"


class Terminated(BaseException):
    """The process was told to stop (SIGTERM, SIGHUP) while the ``neuromap`` command ran: raised by the
    command's signal handler so that every ``finally`` runs (no temporary file or directory is left
    behind) and the command exits with ``128 + signum``. Like ``KeyboardInterrupt``, not an error:
    ``except Exception`` does not catch it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
