"""What the orchestrator core asks the outside world to do, as frozen command records.

Robot commands carry a ``command_id`` that the driver echoes in its ``CommandResult``,
so a late answer to an old command can be told from the answer to the current one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutePoint:
    """One waypoint of a planned route, with its coordinates (floor = the robot's map)."""

    waypoint: str
    floor: str
    x: float
    y: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Navigate:
    """Drive ``robot_id`` to ``waypoint`` (the stop of place ``place``).

    ``route`` is the route the core planned (start to goal, lifts included), so a
    driver that takes goals as coordinates need not plan again; empty when none was
    found (the driver then plans, or reports the drive FAILED).
    """

    robot_id: str
    command_id: str
    place: str
    waypoint: str
    route: tuple[RoutePoint, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Perform:
    """Do a named action in place: ``load_trays``, ``await_pickup``, ``scan``, ``attend``."""

    robot_id: str
    command_id: str
    action: str
    place: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dock:
    """Dock at the charger at ``place`` and charge until told otherwise."""

    robot_id: str
    command_id: str
    place: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """Stop whatever command ``command_id`` is doing (the driver answers CANCELLED)."""

    robot_id: str
    command_id: str


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyStaff:
    """Tell staff something (pager, dashboard).

    ``key`` and ``params`` name the message; whoever shows it renders it in the
    reader's language with ``carefleet.messages.render`` (the core renders no text).
    """

    severity: Severity
    key: str
    params: dict[str, str] = field(default_factory=dict)
    task_id: str | None = None
    robot_id: str | None = None
    place: str | None = None
    alert_id: str | None = None    # the alert this belongs to (None: information only)
    tier: str | None = None        # who is told: the alert's escalation tier
    escalated: bool = False        # a reminder of an alert nobody answered in time


Command = Union[Navigate, Perform, Dock, Stop, NotifyStaff]
RobotCommand = Union[Navigate, Perform, Dock, Stop]
