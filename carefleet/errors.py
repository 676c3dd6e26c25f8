"""One error family for the whole project, split by whose fault it is.

Users see ``str(error)`` as a single line (the CLI never shows a traceback), so every
error names its source (file, robot, task, camera) and, where there is one, the field.
"""

from __future__ import annotations


class CareFleetError(Exception):
    """Base of every error CareFleet raises on purpose."""


class InputError(CareFleetError):
    """The caller gave us something wrong: a broken map, scenario, task or config.

    ``source`` is the file (or other origin, e.g. ``"task api"``), ``line`` the
    1-based line in it when known, ``field`` a dotted path to the offending entry.
    """

    def __init__(self, source: str, message: str, *, field: str | None = None,
                 line: int | None = None) -> None:
        self.source = str(source)
        self.message = message
        self.field = field
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.field:
            where = f"{where}: {self.field}"
        return f"{where}: {self.message}"


class IllegalTransition(CareFleetError):
    """A state machine was asked for a transition its current state does not allow.

    Raised before anything changes, like h11's ``LocalProtocolError``.
    """

    def __init__(self, what: str, state: str, event: str) -> None:
        self.what, self.state, self.event = what, state, event
        super().__init__(f"{what}: cannot '{event}' while '{state}'")


class SourceError(CareFleetError):
    """An external source (camera stream, device, driver link) failed or sent garbage."""
