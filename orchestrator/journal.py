"""What the core wants remembered: task records, audit entries and schedule marks.

The core does no I/O, so it *journals*: every handled event appends entries here and
the runtime writes them to the store (``store.TaskStore``) in one transaction before it
acts on the commands. That order is what makes "accepted" mean "on disk".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSaved:
    """The latest full record of a task (``Task.to_record``)."""

    record: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Audited:
    """An append-only fact: who asked for what, what each robot did, when."""

    at: float
    actor: str              # "staff:anna", "schedule:lunch", "robot:r1", "orchestrator"
    action: str             # "task_submitted", "navigate", "task_completed", ...
    task_id: str | None = None
    robot_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleMarked:
    """Schedule ``name`` has created its work for every slot up to ``until``."""

    name: str
    until: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSaved:
    """Something the core must know again after a restart besides tasks: ``closed``
    (passages closed by staff) ... ``value`` is JSON-able."""

    key: str
    value: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSaved:
    """The latest full record of a staff alert (``alerts.Alert.to_record``)."""

    record: dict[str, Any]


JournalEntry = Union[TaskSaved, Audited, ScheduleMarked, StateSaved, AlertSaved]
