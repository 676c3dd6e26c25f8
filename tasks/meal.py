"""Meal delivery: load trays at the kitchen, serve up to ``trays`` rooms in one trip, return.

At each door the robot waits for the resident or a carer to take the tray (its tray
sensor confirms) or for ``pickup_timeout``; an untaken tray stays aboard and goes back
to the kitchen, and the room is reported as missed rather than silently dropped.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from carefleet.robots.model import Capability, RobotProfile
from carefleet.tasks.model import Act, Go, Order, Task

LOAD_SECONDS = 60.0          # kitchen staff put the trays in
PICKUP_EXPECTED = 40.0       # a resident usually takes the tray within this
PICKUP_TIMEOUT = 180.0       # after this the tray goes back


class MealStep(Enum):
    PENDING = "pending"
    """Not started (or interrupted): ``begin`` picks the re-entry step."""
    TO_KITCHEN = "to_kitchen"
    """Driving to the kitchen to load trays."""
    LOADING = "loading"
    """Kitchen staff load the trays."""
    TO_ROOM = "to_room"
    """Driving to the next room of the trip."""
    AWAITING_PICKUP = "awaiting_pickup"
    """At a door, waiting for the tray to be taken."""
    RETURNING = "returning"
    """All rooms served; back to the kitchen with empty or untaken trays."""
    DONE = "done"
    """Back at the kitchen."""


_M = MealStep


class MealDelivery(Task):
    kind = "meal_delivery"
    needs = frozenset({Capability.MEAL_DELIVERY})
    Step = MealStep
    STEPS: list[dict[str, Any]] = [
        {"trigger": "go_load", "source": _M.PENDING, "dest": _M.TO_KITCHEN},
        {"trigger": "reach_kitchen", "source": _M.TO_KITCHEN, "dest": _M.LOADING},
        {"trigger": "go_deliver", "source": [_M.PENDING, _M.LOADING, _M.AWAITING_PICKUP],
         "dest": _M.TO_ROOM},
        {"trigger": "reach_room", "source": _M.TO_ROOM, "dest": _M.AWAITING_PICKUP},
        {"trigger": "head_back", "source": [_M.PENDING, _M.AWAITING_PICKUP], "dest": _M.RETURNING},
        {"trigger": "reach_back", "source": _M.RETURNING, "dest": _M.DONE},
        {"trigger": "suspend", "source": [_M.TO_KITCHEN, _M.LOADING, _M.TO_ROOM,
                                            _M.AWAITING_PICKUP, _M.RETURNING], "dest": _M.PENDING},
    ]
    ARRIVALS = {_M.TO_KITCHEN: "reach_kitchen", _M.TO_ROOM: "reach_room",
                _M.RETURNING: "reach_back"}
    progress_fields = ("rooms", "kitchen", "meal", "delivered", "missed", "loaded",
                       "delivered_at", "pickup_timeout")

    def __init__(self, *, rooms: list[str], kitchen: str, meal: str = "",
                 pickup_timeout: float = PICKUP_TIMEOUT, **common: Any) -> None:
        super().__init__(**common)
        self.rooms = list(rooms)
        self.kitchen = kitchen
        self.meal = meal
        self.pickup_timeout = pickup_timeout
        self.delivered: list[str] = []
        self.missed: list[str] = []
        self.delivered_at: dict[str, float] = {}
        self.loaded = False          # trays are on the robot doing this task

    def fits(self, profile: RobotProfile) -> bool:
        """One tray per room still to serve must fit on the robot in one trip."""
        return super().fits(profile) and len(self.remaining) <= profile.trays

    @property
    def remaining(self) -> list[str]:
        served = set(self.delivered) | set(self.missed)
        return [room for room in self.rooms if room not in served]

    def interrupt(self, *, same_robot: bool) -> None:
        super().interrupt(same_robot=same_robot)
        if not same_robot:
            self.loaded = False      # the trays are on the other robot: load fresh ones

    def begin(self, now: float) -> None:
        if not self.remaining:
            self.go("head_back")
        elif self.loaded:
            self.go("go_deliver")
        else:
            self.go("go_load")

    def action_done(self, succeeded: bool, now: float) -> None:
        if self.step is _M.LOADING:
            if not succeeded:
                self.go("suspend")        # kitchen did not load: try again from the start
                return
            self.loaded = True
        else:
            room = self.remaining[0]
            if succeeded:
                self.delivered.append(room)
                self.delivered_at[room] = now
            else:
                self.missed.append(room)
        self.go("go_deliver" if self.remaining else "head_back")

    def order(self) -> Order | None:
        step = self.step
        if step is _M.TO_KITCHEN or step is _M.RETURNING:
            return Go(self.kitchen)
        if step is _M.LOADING:
            return Act("load_trays", self.kitchen, LOAD_SECONDS, timeout=LOAD_SECONDS * 5,
                       params={"trays": len(self.remaining), "meal": self.meal})
        if step is _M.TO_ROOM:
            return Go(self.remaining[0])
        if step is _M.AWAITING_PICKUP:
            return Act("await_pickup", self.remaining[0], PICKUP_EXPECTED,
                       timeout=self.pickup_timeout, params={"meal": self.meal})
        return None

    def plan(self, now: float) -> list[Order]:
        orders: list[Order] = []
        if not self.loaded and self.remaining:
            orders += [Go(self.kitchen), Act("load_trays", self.kitchen, LOAD_SECONDS)]
        for room in self.remaining:
            orders += [Go(room), Act("await_pickup", room, PICKUP_EXPECTED)]
        return orders + [Go(self.kitchen)]

    def summary(self) -> str:
        return f"{self.meal or 'meal'} to {', '.join(self.rooms)}"
