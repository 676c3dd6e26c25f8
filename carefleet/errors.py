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


class RobotError(CareFleetError):
    """A robot (its driver) sent something the ward cannot use: an unknown waypoint, a
    command result for a robot we do not have. The robot's fault, not the ward file's."""

    def __init__(self, robot_id: str, message: str, *, field: str | None = None) -> None:
        self.robot_id, self.message, self.field = robot_id, message, field
        where = f"robot {robot_id}" + (f": {field}" if field else "")
        super().__init__(f"{where}: {message}")


class CoreFault(CareFleetError):
    """A bug inside the orchestrator core: it stopped taking events until it is rebuilt
    from the store (nothing half-applied reaches a robot or the store)."""


class StoreError(CareFleetError):
    """The store could not commit (disk full, read-only, locked by another orchestrator):
    the event was refused before any command left."""
