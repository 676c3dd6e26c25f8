"""What a simulated run produces: per-robot timelines, task outcomes, notifications.

The simulator fills a ``SimResult``; ``kpi`` turns it into figures, ``expectations``
judges them and ``report`` draws them. Times are seconds since the Unix epoch
(``start``/``end`` bound the run); ``timezone`` is the ward's, for showing clock times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, kw_only=True)
class Segment:
    """One stretch of a robot's day: what it was doing from ``start`` to ``end``.

    ``activity`` is one of: idle, navigating, load_trays, await_pickup, scan, attend,
    charging, fault, emergency_stop, offline.
    """

    start: float
    end: float
    activity: str
    task_id: str | None = None
    place: str | None = None


@dataclass(slots=True, kw_only=True)
class RobotRecord:
    id: str
    model: str
    segments: list[Segment] = field(default_factory=list)
    distance_m: float = 0.0
    energy_wh: float = 0.0
    final_battery: float = 1.0
    min_battery: float = 1.0


@dataclass(slots=True, kw_only=True)
class Happening:
    """A scripted or notable moment shown on the timeline (fall, fault, closure, restart)."""

    at: float
    kind: str
    text: str


@dataclass(slots=True, kw_only=True)
class Notification:
    at: float
    severity: str
    key: str
    text: str
    task_id: str | None = None


@dataclass(slots=True, kw_only=True)
class SimResult:
    scenario: str                      # scenario name
    source: str                        # scenario file
    ward: str                          # ward name
    ward_file: str
    timezone: str
    seed: int
    start: float
    end: float
    robots: list[RobotRecord]
    tasks: list[dict[str, Any]]        # final ``Task.to_record()`` of every task, plus
                                       # "history": [[t, state, reason], ...]
    happenings: list[Happening] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    restarts: int = 0
    lost_tasks: list[str] = field(default_factory=list)   # accepted but missing after restart
    wall_seconds: float = 0.0
    devices: dict[str, Any] | None = None   # ``DeviceDay.report()`` when the ward has devices
