"""Everything that can happen to the orchestrator core, as frozen event records.

Runtimes (the simulator, the service, the ROS 2 node) build these from the outside
world and feed them to ``Orchestrator.handle(event, now)``. Each validates itself on
construction so a malformed report is refused at the boundary, not deep in the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from carefleet.errors import InputError


def _require(origin: str, /, **fields: str) -> None:
    """Refuse an event whose identifying fields are empty (a broken driver or client)."""
    for name, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError(origin, "must be given", field=name)


class Outcome(str, Enum):
    """How a command ended, as a driver reports it (like rmf_demos' ``RobotAPIResult``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"          # could not do it (blocked path, gripper jam ...)
    CANCELLED = "cancelled"    # stopped on our request


class DriverMode(str, Enum):
    """The robot's own view of itself in a status report."""

    READY = "ready"
    BUSY = "busy"
    CHARGING = "charging"
    ERROR = "error"
    EMERGENCY_STOP = "emergency_stop"
    OFFLINE = "offline"
    """Said by a driver that has lost its robot (no pose or battery for a while):
    the robot's work goes to others at once, without waiting for the silence timeout."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSubmitted:
    """Someone (staff, a schedule, a device rule) asks for a task.

    ``request`` is the task request mapping as documented in the README
    (``{"kind": "meal_delivery", "rooms": [...], ...}``); ``requested_by`` is kept in the
    audit log.
    """

    request: dict[str, Any]
    requested_by: str
    task_id: str | None = None   # caller-chosen id (idempotent resubmission); else generated

    def __post_init__(self) -> None:
        if not isinstance(self.request, dict):
            raise InputError("task request", "expected a mapping")
        _require("task request", requested_by=self.requested_by)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCancelled:
    task_id: str
    requested_by: str
    reason: str = "cancelled by request"

    def __post_init__(self) -> None:
        _require("task cancellation", task_id=self.task_id, requested_by=self.requested_by)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pose:
    """Where a robot is in the ward's coordinates: ``floor`` is the ward's floor id (the
    robot's map name), metres as in the ward file, ``yaw`` in radians."""

    floor: str
    x: float
    y: float
    yaw: float = 0.0

    def __post_init__(self) -> None:
        _require("robot pose", floor=self.floor)
        for name in ("x", "y", "yaw"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
                raise InputError("robot pose", f"{value!r} is not a finite number", field=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class RobotStatus:
    """A driver's periodic report: where the robot is, its battery and its own mode.

    Where: ``position`` (a waypoint or place id, for robots that know the route graph)
    or ``pose`` (coordinates, for robots that do not: the core snaps it to the nearest
    waypoint of that floor).
    """

    robot_id: str
    position: str | None = None  # waypoint id of the last place reached
    battery: float = 1.0         # 0..1
    pose: Pose | None = None
    mode: DriverMode = DriverMode.READY
    error: str | None = None
    command_id: str | None = None  # the command it is executing, if any (reconciled after
    #                                a restart: one we did not give is stopped)

    def __post_init__(self) -> None:
        _require("robot report", robot_id=self.robot_id)
        if self.position is None and self.pose is None:
            raise InputError(f"robot {self.robot_id}", "a status needs a position or a pose",
                             field="position")
        if self.position is not None:
            _require("robot report", position=self.position)
        if self.command_id is not None:
            _require("robot report", command_id=self.command_id)
        if not 0.0 <= self.battery <= 1.0:
            raise InputError(f"robot {self.robot_id}", f"battery {self.battery} outside 0..1",
                             field="battery")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """A navigate, perform or dock command ended (every command has a ``command_id``)."""

    robot_id: str
    command_id: str
    outcome: Outcome
    position: str | None = None  # where the robot is now, when it knows
    detail: str = ""

    def __post_init__(self) -> None:
        _require("robot report", robot_id=self.robot_id, command_id=self.command_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffAcknowledged:
    """A staff member has taken over (e.g. is with the fallen resident)."""

    task_id: str
    by: str

    def __post_init__(self) -> None:
        _require("staff acknowledgement", task_id=self.task_id, by=self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged:
    """A staff member has taken an alert ("I am on my way"): it stops escalating."""

    alert_id: str
    by: str

    def __post_init__(self) -> None:
        _require("alert acknowledgement", alert_id=self.alert_id, by=self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertResolved:
    """A staff member has dealt with an alert. Resolving a fall's alert means staff are
    with the resident: the fall response ends (as ``StaffAcknowledged``)."""

    alert_id: str
    by: str

    def __post_init__(self) -> None:
        _require("alert resolution", alert_id=self.alert_id, by=self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class FallDetected:
    """A camera or wearable saw a fall in ``room``; becomes an urgent fall response."""

    room: str
    source: str
    confidence: float = 1.0

    def __post_init__(self) -> None:
        _require("fall report", room=self.room, source=self.source)
        if not 0.0 <= self.confidence <= 1.0:
            raise InputError(f"fall report from {self.source}",
                             f"confidence {self.confidence} outside 0..1", field="confidence")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEvent:
    """A paired ward device reported something (call button, bed exit ...)."""

    device_id: str
    kind: str
    room: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require("device event", device_id=self.device_id, kind=self.kind, room=self.room)


@dataclass(frozen=True, slots=True, kw_only=True)
class PassageChanged:
    """A corridor, lane or lift closed or re-opened (``what`` is its id or corridor name)."""

    what: str
    closed: bool
    by: str = "staff"

    def __post_init__(self) -> None:
        _require("passage change", what=self.what, by=self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class RobotHeld:
    """Staff pause (``held``) or resume a robot: a paused robot hands its work back,
    stops where it is and gets nothing new until resumed."""

    robot_id: str
    held: bool
    by: str

    def __post_init__(self) -> None:
        _require("robot pause", robot_id=self.robot_id, by=self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleChanged:
    """Staff add or replace a recurring schedule (``schedule``), or remove the one named
    ``name`` (``schedule`` None). ``schedule`` is a ``MealService`` or ``PatrolSchedule``."""

    name: str
    by: str
    schedule: Any = None

    def __post_init__(self) -> None:
        _require("schedule change", name=self.name, by=self.by)
        if self.schedule is not None and getattr(self.schedule, "name", None) != self.name:
            raise InputError("schedule change", "the schedule's name differs from 'name'",
                             field="name")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Time has passed; lets the core fire schedules and time out overdue commands."""


Event = Union[TaskSubmitted, TaskCancelled, RobotStatus, CommandResult, StaffAcknowledged,
              AlertAcknowledged, AlertResolved, FallDetected, DeviceEvent, PassageChanged,
              RobotHeld, ScheduleChanged, Tick]
