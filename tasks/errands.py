"""Small single-destination tasks: go to a place, and go charge.

``Charge`` is created by the orchestrator itself (low battery, or topping up while
idle); its charger is chosen and reserved when it is assigned.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from carefleet.tasks.model import DockAt, Go, Order, Task


class GoToStep(Enum):
    PENDING = "pending"
    """Not started (or interrupted)."""
    TRAVELLING = "travelling"
    """Driving to the place."""
    DONE = "done"
    """Arrived."""


class GoTo(Task):
    kind = "go_to"
    Step = GoToStep
    STEPS: list[dict[str, Any]] = [
        {"trigger": "set_off", "source": GoToStep.PENDING, "dest": GoToStep.TRAVELLING},
        {"trigger": "reach_place", "source": GoToStep.TRAVELLING, "dest": GoToStep.DONE},
        {"trigger": "suspend", "source": GoToStep.TRAVELLING, "dest": GoToStep.PENDING},
    ]
    ARRIVALS = {GoToStep.TRAVELLING: "reach_place"}
    progress_fields = ("place",)

    def __init__(self, *, place: str, **common: Any) -> None:
        super().__init__(**common)
        self.place = place

    def begin(self, now: float) -> None:
        self.go("set_off")

    def action_done(self, succeeded: bool, now: float) -> None:
        """A go-to has no actions."""

    def order(self) -> Order | None:
        return Go(self.place) if self.step is GoToStep.TRAVELLING else None

    def plan(self, now: float) -> list[Order]:
        return [Go(self.place)]

    def summary(self) -> str:
        return f"go to {self.place}"


class ChargeStep(Enum):
    PENDING = "pending"
    """Not started (or interrupted)."""
    TO_CHARGER = "to_charger"
    """Driving to the reserved charger."""
    CHARGING = "charging"
    """Docked, charging until the battery reaches its 'charged' level."""
    DONE = "done"
    """Charged."""


class Charge(Task):
    kind = "charge"
    Step = ChargeStep
    STEPS: list[dict[str, Any]] = [
        {"trigger": "head_to_charger", "source": ChargeStep.PENDING, "dest": ChargeStep.TO_CHARGER},
        {"trigger": "reach_charger", "source": ChargeStep.TO_CHARGER, "dest": ChargeStep.CHARGING},
        {"trigger": "charged", "source": [ChargeStep.PENDING, ChargeStep.CHARGING],
         "dest": ChargeStep.DONE},
        {"trigger": "suspend", "source": [ChargeStep.TO_CHARGER, ChargeStep.CHARGING],
         "dest": ChargeStep.PENDING},
    ]
    ARRIVALS = {ChargeStep.TO_CHARGER: "reach_charger"}
    progress_fields = ("charger",)

    def __init__(self, *, charger: str | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.charger = charger

    def begin(self, now: float) -> None:
        self.go("head_to_charger")

    def action_done(self, succeeded: bool, now: float) -> None:
        """Docking ends through ``charged`` (battery level), not through an action result."""

    def order(self) -> Order | None:
        if self.charger is None:
            return None
        if self.step is ChargeStep.TO_CHARGER:
            return Go(self.charger)
        if self.step is ChargeStep.CHARGING:
            return DockAt(self.charger)
        return None

    def plan(self, now: float) -> list[Order]:
        return [Go(self.charger)] if self.charger else []

    def summary(self) -> str:
        return f"charge at {self.charger or 'a free charger'}"
