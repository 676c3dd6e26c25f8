"""The ward map as immutable data: floors, places, the route graph and lifts.

Loading and validation live in ``loader``; route planning in ``routing``. Everything
here is plain frozen data so the orchestrator core can share one ward between
robots, tasks and the simulator without copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class PlaceKind(str, Enum):
    """What a place is for; the orchestrator picks places by kind."""

    RESIDENT_ROOM = "resident_room"
    """A resident's room: meals go to its door, patrols look in, falls happen here."""
    BED = "bed"
    """A bed inside a resident room (``room`` names the room)."""
    KITCHEN = "kitchen"
    """Where meal trays are loaded."""
    NURSE_STATION = "nurse_station"
    """Where staff are; robots report here."""
    CHARGER = "charger"
    """A docking/charging station; one robot at a time."""
    LIFT = "lift"
    """A lift landing on one floor."""
    DOOR = "door"
    """A door on a corridor (fire door, wing door)."""
    LOUNGE = "lounge"
    """Day room, dining room or other common area."""
    BATHROOM = "bathroom"
    """Shared bathroom or shower room."""
    STORE = "store"
    """Linen, supplies or cleaning store."""
    CORRIDOR = "corridor"
    """A named point on a corridor (patrol checkpoints)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Floor:
    id: str
    name: str
    elevation: float = 0.0
    grid: "OccupancyGrid | None" = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OccupancyGrid:
    """A ROS ``map_server`` map (PGM image + YAML), used only for drawing."""

    image: str          # absolute path of the PGM/PNG image
    resolution: float   # metres per pixel
    origin: tuple[float, float]  # world position of the bottom-left pixel


@dataclass(frozen=True, slots=True, kw_only=True)
class Waypoint:
    id: str
    floor: str
    x: float
    y: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Lane:
    """A drivable connection between two waypoints on the same floor."""

    id: str
    start: str
    end: str
    one_way: bool = False
    speed_limit: float | None = None   # m/s; None = robot's own speed
    door: bool = False                 # a door to pass: adds ``Ward.door_delay`` seconds
    corridor: str | None = None        # name used to close a whole corridor at once


@dataclass(frozen=True, slots=True, kw_only=True)
class Lift:
    """A lift: one landing waypoint per floor, ``transfer_time`` seconds between any two."""

    id: str
    stops: dict[str, str]   # floor id -> waypoint id
    transfer_time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    id: str
    kind: PlaceKind
    floor: str
    x: float
    y: float
    waypoint: str               # the route-graph node a robot stops at to serve this place
    name: str = ""
    room: str | None = None     # for a bed: the resident room it is in

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class Ward:
    name: str
    source: str                 # file the ward was loaded from (for error messages)
    floors: dict[str, Floor]
    waypoints: dict[str, Waypoint]
    lanes: tuple[Lane, ...]
    lifts: dict[str, Lift]
    places: dict[str, Place]
    door_delay: float = 4.0     # seconds to pass a door
    timezone: str = "UTC"       # ward-local time for schedules (IANA name)
    extra: dict = field(default_factory=dict)

    def places_of_kind(self, kind: PlaceKind) -> list[Place]:
        """Places of one kind in a stable (id) order."""
        return sorted((p for p in self.places.values() if p.kind is kind), key=lambda p: p.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Leg:
    """One step of a route: a lane, or a lift ride between two landings."""

    start: str              # waypoint id
    end: str                # waypoint id
    length: float           # metres driven (0 for a lift ride)
    speed_limit: float | None = None
    fixed_time: float = 0.0  # seconds not spent driving: a door, a lift transfer
    lane: str | None = None  # lane id, or None for a lift ride
    lift: str | None = None  # lift id for a lift ride

    def duration(self, speed: float) -> float:
        """Seconds to traverse this leg for a robot whose top speed is ``speed`` m/s."""
        v = speed if self.speed_limit is None else min(speed, self.speed_limit)
        return self.fixed_time + (self.length / v if self.length else 0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A planned path from one waypoint to another."""

    start: str
    end: str
    legs: tuple[Leg, ...]

    @property
    def waypoints(self) -> tuple[str, ...]:
        return (self.start,) + tuple(leg.end for leg in self.legs)

    @property
    def distance(self) -> float:
        """Metres driven (lift rides count 0)."""
        return sum(leg.length for leg in self.legs)

    def duration(self, speed: float) -> float:
        """Seconds to drive the whole route at ``speed`` m/s, doors and lifts included."""
        return sum(leg.duration(speed) for leg in self.legs)
