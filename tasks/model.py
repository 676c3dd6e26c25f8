"""The task lifecycle shared by every task type, and the orders a task's steps give.

A task has two machines: its *lifecycle* (queued -> assigned -> active -> completed /
failed / cancelled, always with a reason), the same for every type, and its *steps*
(e.g. to_kitchen -> loading -> to_room ...), one machine per task type. The
orchestrator asks a task for its current ``order()`` and tells it what happened
(``arrived``, ``action_done``); the task never talks to robots itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, ClassVar

from transitions import Machine

from carefleet.errors import IllegalTransition
from carefleet.machines import build_machine, diagram, fire
from carefleet.robots.model import Capability, RobotProfile


class Priority(IntEnum):
    """Lower value is served first; urgent work pre-empts everything below it."""

    URGENT = 0
    """A resident may be hurt (fall response). Pre-empts any other work at once."""
    HIGH = 1
    """Must happen soon (low-battery charge, staff request marked high)."""
    NORMAL = 2
    """Meal deliveries and most staff requests."""
    LOW = 3
    """Opportunistic work (top-up charging, non-urgent errands)."""

    @classmethod
    def parse(cls, text: str) -> "Priority":
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"'{text}' is not one of: urgent, high, normal, low") from None


class TaskState(Enum):
    QUEUED = "queued"
    """Accepted and stored, waiting for a robot."""
    ASSIGNED = "assigned"
    """Given to a robot's queue, not started (or paused by a more urgent task)."""
    ACTIVE = "active"
    """The robot is working on it now."""
    COMPLETED = "completed"
    """Done; ``reason`` says how (e.g. some rooms did not pick up)."""
    FAILED = "failed"
    """Given up after the retry limit; staff were told why."""
    CANCELLED = "cancelled"
    """Withdrawn by someone; ``reason`` says who and why."""


FINAL = frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED})

_T = TaskState
_OPEN = [_T.QUEUED, _T.ASSIGNED, _T.ACTIVE]
LIFECYCLE: list[dict[str, Any]] = [
    {"trigger": "assign", "source": _T.QUEUED, "dest": _T.ASSIGNED},
    {"trigger": "start", "source": _T.ASSIGNED, "dest": _T.ACTIVE},
    {"trigger": "pause", "source": _T.ACTIVE, "dest": _T.ASSIGNED},
    {"trigger": "requeue", "source": [_T.ASSIGNED, _T.ACTIVE], "dest": _T.QUEUED},
    {"trigger": "complete", "source": _OPEN, "dest": _T.COMPLETED},
    {"trigger": "fail", "source": _OPEN, "dest": _T.FAILED},
    {"trigger": "cancel", "source": _OPEN, "dest": _T.CANCELLED},
]
LIFECYCLE_MACHINE = build_machine(TaskState, LIFECYCLE, TaskState.QUEUED)


@dataclass(frozen=True, slots=True)
class Go:
    """Order: drive to ``place``."""

    place: str


@dataclass(frozen=True, slots=True)
class Act:
    """Order: do ``action`` at ``place``; ``timeout`` seconds (None: until told)."""

    action: str
    place: str
    expected: float                  # seconds it usually takes (for estimates)
    timeout: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DockAt:
    """Order: dock and charge at the charger ``place``."""

    place: str


Order = Go | Act | DockAt


class Task:
    """Base of every task type: identity, priority, lifecycle, history and retries.

    Subclasses define ``kind``, ``needs``, their ``Step`` enum with ``STEPS`` transition
    data, the fields they persist, and the step logic (``begin``, ``arrived``,
    ``action_done``, ``order``, ``plan``).
    """

    kind: ClassVar[str]
    needs: ClassVar[frozenset[Capability]] = frozenset()
    Step: ClassVar[type[Enum]]
    STEPS: ClassVar[list[dict[str, Any]]]
    step_machine: ClassVar[Machine]
    #: step -> trigger fired when the robot reaches the place of that step's ``Go``
    ARRIVALS: ClassVar[dict[Enum, str]]
    #: attributes saved in the task record besides the common ones
    progress_fields: ClassVar[tuple[str, ...]] = ()

    state: TaskState
    step: Enum

    def __init__(self, *, id: str, priority: Priority, created_at: float, requested_by: str,
                 robot: str | None = None, due: float | None = None) -> None:
        self.id = id
        self.priority = priority
        self.created_at = created_at
        self.requested_by = requested_by
        self.pinned_robot = robot        # the requester asked for this robot
        self.due = due                   # when it is wanted (meal slot), for order and KPIs
        self.robot: str | None = None
        self.reason = ""
        self.attempts = 0
        self.failed_on: list[str] = []   # robots that failed this task (tried last)
        self.history: list[tuple[float, str, str]] = []
        self.finished_at: float | None = None
        LIFECYCLE_MACHINE.add_model(self)
        type(self).step_machine.add_model(self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.step_machine = build_machine(cls.Step, cls.STEPS, cls.Step.PENDING,
                                         model_attribute="step")

    # -- lifecycle ----------------------------------------------------------
    def move(self, trigger: str, now: float, reason: str) -> None:
        """Fire a lifecycle trigger and record it in the history with its reason."""
        fire(LIFECYCLE_MACHINE, self, trigger, what=f"task {self.id}")
        self.reason = reason
        self.history.append((now, self.state.value, reason))
        if self.state in FINAL:
            self.finished_at = now
            LIFECYCLE_MACHINE.remove_model(self)
            type(self).step_machine.remove_model(self)

    @property
    def is_open(self) -> bool:
        return self.state not in FINAL

    def sort_key(self) -> tuple[int, float, float, str]:
        """Queue order: priority, then wanted time, then submission."""
        due = self.due if self.due is not None else self.created_at
        return (int(self.priority), due, self.created_at, self.id)

    # -- steps --------------------------------------------------------------
    def go(self, trigger: str) -> None:
        fire(type(self).step_machine, self, trigger, what=f"{self.kind} {self.id}")

    def interrupt(self, *, same_robot: bool) -> None:
        """The robot stopped working on this task (pre-empted, handed back, restart).

        Steps go back to ``pending`` and ``begin`` later picks the re-entry step from
        the progress kept in fields; ``same_robot`` says whether what the robot carries
        (meal trays) is still there.
        """
        if self.step is not self.Step.PENDING and self.step is not self.Step.DONE:
            self.go("suspend")

    def begin(self, now: float) -> None:
        raise NotImplementedError

    def order(self) -> Order | None:
        """What the robot should do now; None when the steps are done."""
        raise NotImplementedError

    def arrived(self, now: float) -> None:
        """The robot reached the place of the current ``Go`` order."""
        trigger = self.ARRIVALS.get(self.step)
        if trigger is None:
            raise IllegalTransition(f"{self.kind} {self.id}", self.step.value, "arrived")
        self.go(trigger)

    def action_done(self, succeeded: bool, now: float) -> None:
        raise NotImplementedError

    def plan(self, now: float) -> list[Order]:
        """The orders still to do from ``pending``, for time and energy estimates."""
        raise NotImplementedError

    def fits(self, profile: RobotProfile) -> bool:
        """Whether a robot of this profile can carry this task out (capabilities and load)."""
        return profile.can(self.needs)

    @property
    def open_ended(self) -> bool:
        """Runs until a time or a person ends it, so a tiring robot should hand it back."""
        return False

    @property
    def done(self) -> bool:
        return self.step is self.Step.DONE

    def summary(self) -> str:
        return f"{self.kind} {self.id}"

    # -- persistence --------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        """Everything needed to resume this task after a restart, JSON-able."""
        record = {
            "id": self.id, "kind": self.kind, "priority": self.priority.name.lower(),
            "created_at": self.created_at, "requested_by": self.requested_by,
            "robot": self.pinned_robot, "due": self.due, "state": self.state.value,
            "assigned_robot": self.robot, "reason": self.reason, "attempts": self.attempts,
            "failed_on": list(self.failed_on), "finished_at": self.finished_at,
        }
        record["progress"] = {name: _plain(getattr(self, name)) for name in self.progress_fields}
        return record

    def restore_progress(self, record: dict[str, Any]) -> None:
        self.attempts = record.get("attempts", 0)
        self.failed_on = list(record.get("failed_on", []))
        self.finished_at = record.get("finished_at")
        for name, value in record.get("progress", {}).items():
            setattr(self, name, value)

    @classmethod
    def step_diagram(cls) -> str:
        return diagram(cls.Step, cls.STEPS, f"{cls.kind} steps")


def lifecycle_diagram() -> str:
    return diagram(TaskState, LIFECYCLE, "task lifecycle")


def _plain(value: Any) -> Any:
    """A detached, JSON-able copy: a saved record must not change with the live task."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
