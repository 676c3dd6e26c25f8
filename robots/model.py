"""What a robot is: its profile (speed, trays, battery) and the capabilities tasks need."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Capability(str, Enum):
    """What a robot can be asked to do; a task lists the capabilities it needs."""

    MEAL_DELIVERY = "meal_delivery"
    """Carries meal trays (``RobotProfile.trays`` of them)."""
    PATROL = "patrol"
    """Walks patrol rounds and looks into rooms."""
    CAMERA = "camera"
    """Has a camera: can attend a fallen resident and stream to staff."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Battery:
    """Battery model used for feasibility checks and by the simulated driver.

    Energies are in watt-hours so vendor data sheets can be copied in directly.
    """

    capacity_wh: float = 400.0
    drain_per_m_wh: float = 0.05      # driving
    drain_idle_w: float = 15.0        # electronics, sensors, waiting (per hour of time)
    charge_w: float = 200.0           # charging power at the dock
    low_threshold: float = 0.25       # below this a robot hands back or finishes, then charges
    reserve: float = 0.10             # never plan work that would end below this
    charged: float = 0.95             # a charge is done at this level

    def energy(self, distance_m: float, duration_s: float) -> float:
        """Watt-hours used to drive ``distance_m`` over ``duration_s`` seconds of work."""
        return distance_m * self.drain_per_m_wh + duration_s / 3600.0 * self.drain_idle_w


@dataclass(frozen=True, slots=True, kw_only=True)
class RobotProfile:
    """A robot model's fixed properties, shared by every robot of that model."""

    model: str
    speed: float = 0.7                # m/s top speed
    trays: int = 0                    # meal trays carried per trip
    capabilities: frozenset[Capability] = frozenset()
    battery: Battery = Battery()

    def can(self, needed: frozenset[Capability]) -> bool:
        return needed <= self.capabilities


@dataclass(frozen=True, slots=True, kw_only=True)
class RobotSpec:
    """One robot in a fleet: its id, profile and where it starts (a place or waypoint id)."""

    id: str
    profile: RobotProfile
    start: str
