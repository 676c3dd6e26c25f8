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
class RobotStatus:
    """A driver's periodic report: where the robot is, its battery and its own mode."""

    robot_id: str
    position: str                # waypoint id of the last place reached
    battery: float               # 0..1
    mode: DriverMode = DriverMode.READY
    error: str | None = None
    command_id: str | None = None  # the command it is executing, if any (reconciled after
    #                                a restart: one we did not give is stopped)

    def __post_init__(self) -> None:
        _require("robot report", robot_id=self.robot_id, position=self.position)
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
class Tick:
    """Time has passed; lets the core fire schedules and time out overdue commands."""


Event = Union[TaskSubmitted, TaskCancelled, RobotStatus, CommandResult, StaffAcknowledged,
              FallDetected, DeviceEvent, PassageChanged, Tick]
