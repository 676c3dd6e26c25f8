"""Fall response: go to the room at once and stay with the resident until staff take over.

Always urgent. Staff are paged when the task is created, and again when the robot
arrives (it streams its camera); a staff acknowledgement ends the task wherever the
robot is, because then a person is with the resident.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from carefleet.robots.model import Capability
from carefleet.tasks.model import Act, Go, Order, Task

ATTEND_EXPECTED = 300.0   # a nurse usually arrives within five minutes


class FallStep(Enum):
    PENDING = "pending"
    """Not started (or interrupted)."""
    TO_ROOM = "to_room"
    """Driving to the resident's room."""
    ATTENDING = "attending"
    """In the room: talking to the resident, streaming video to staff."""
    DONE = "done"
    """A staff member acknowledged: a person has taken over."""


_F = FallStep


class FallResponse(Task):
    kind = "fall_response"
    needs = frozenset({Capability.CAMERA})
    Step = FallStep
    STEPS: list[dict[str, Any]] = [
        {"trigger": "go_to_room", "source": _F.PENDING, "dest": _F.TO_ROOM},
        {"trigger": "reach_room", "source": _F.TO_ROOM, "dest": _F.ATTENDING},
        {"trigger": "hand_over", "source": [_F.PENDING, _F.TO_ROOM, _F.ATTENDING],
         "dest": _F.DONE},
        {"trigger": "suspend", "source": [_F.TO_ROOM, _F.ATTENDING], "dest": _F.PENDING},
    ]
    ARRIVALS = {_F.TO_ROOM: "reach_room"}
    progress_fields = ("room", "source", "reached_at", "acknowledged_by", "acknowledged_at")

    def __init__(self, *, room: str, source: str = "", **common: Any) -> None:
        super().__init__(**common)
        self.room = room
        self.source = source
        self.reached_at: float | None = None
        self.acknowledged_by: str | None = None
        self.acknowledged_at: float | None = None

    def begin(self, now: float) -> None:
        self.go("go_to_room")

    def arrived(self, now: float) -> None:
        super().arrived(now)
        if self.reached_at is None:
            self.reached_at = now

    def acknowledge(self, by: str, now: float) -> None:
        self.acknowledged_by, self.acknowledged_at = by, now
        self.go("hand_over")

    def action_done(self, succeeded: bool, now: float) -> None:
        """``attend`` only ends when staff acknowledge; an early end means: attend again."""

    def order(self) -> Order | None:
        if self.step is _F.TO_ROOM:
            return Go(self.room)
        if self.step is _F.ATTENDING:
            return Act("attend", self.room, ATTEND_EXPECTED, params={"task": self.id})
        return None

    def plan(self, now: float) -> list[Order]:
        return [Go(self.room), Act("attend", self.room, ATTEND_EXPECTED)]

    def summary(self) -> str:
        return f"fall in {self.room}"
