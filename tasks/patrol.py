"""Patrol: visit a list of checkpoints (rooms, corridors) for N rounds or until a time.

At each checkpoint the robot does a ``scan`` (looks into the room, checks the bed
sensor's view). A patrol with ``until`` walks rounds until that time and finishes
at the end of the checkpoint it is on, so a night patrol ends when the shift does.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from carefleet.robots.model import Capability
from carefleet.tasks.model import Act, Go, Order, Task

SCAN_SECONDS = 20.0


class PatrolStep(Enum):
    PENDING = "pending"
    """Not started (or interrupted): ``begin`` resumes at the next checkpoint."""
    TO_CHECKPOINT = "to_checkpoint"
    """Driving to the next checkpoint."""
    SCANNING = "scanning"
    """Looking around at a checkpoint."""
    DONE = "done"
    """All rounds walked, or the time window is over."""


_P = PatrolStep


class Patrol(Task):
    kind = "patrol"
    needs = frozenset({Capability.PATROL})
    Step = PatrolStep
    STEPS: list[dict[str, Any]] = [
        {"trigger": "go_next", "source": [_P.PENDING, _P.SCANNING], "dest": _P.TO_CHECKPOINT},
        {"trigger": "reach_checkpoint", "source": _P.TO_CHECKPOINT, "dest": _P.SCANNING},
        {"trigger": "finish", "source": [_P.PENDING, _P.SCANNING], "dest": _P.DONE},
        {"trigger": "suspend", "source": [_P.TO_CHECKPOINT, _P.SCANNING], "dest": _P.PENDING},
    ]
    ARRIVALS = {_P.TO_CHECKPOINT: "reach_checkpoint"}
    progress_fields = ("checkpoints", "rounds", "until", "next_index", "rounds_done", "scans")

    def __init__(self, *, checkpoints: list[str], rounds: int | None = None,
                 until: float | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.checkpoints = list(checkpoints)
        self.rounds = rounds if rounds is not None or until is not None else 1
        self.until = until
        self.next_index = 0
        self.rounds_done = 0
        self.scans = 0

    def _finished(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return True
        return self.rounds is not None and self.rounds_done >= self.rounds

    @property
    def open_ended(self) -> bool:
        return self.until is not None

    def begin(self, now: float) -> None:
        self.go("finish" if self._finished(now) else "go_next")

    def action_done(self, succeeded: bool, now: float) -> None:
        self.scans += 1
        self.next_index += 1
        if self.next_index == len(self.checkpoints):
            self.next_index = 0
            self.rounds_done += 1
        self.go("finish" if self._finished(now) else "go_next")

    def order(self) -> Order | None:
        place = self.checkpoints[self.next_index]
        if self.step is _P.TO_CHECKPOINT:
            return Go(place)
        if self.step is _P.SCANNING:
            return Act("scan", place, SCAN_SECONDS, timeout=SCAN_SECONDS * 6)
        return None

    def plan(self, now: float) -> list[Order]:
        rounds_left = (self.rounds - self.rounds_done) if self.rounds is not None else 1
        stops = self.checkpoints[self.next_index:] + self.checkpoints * max(rounds_left - 1, 0)
        return [order for place in stops for order in (Go(place), Act("scan", place, SCAN_SECONDS))]

    def summary(self) -> str:
        span = f"{self.rounds} round(s)" if self.rounds is not None else "until end of window"
        return f"patrol of {len(self.checkpoints)} checkpoints, {span}"
