"""Scenario files: a ward, a fleet, schedules, scripted happenings and expectations.

The format is documented in the README ("Scenario format"). Loading validates all of
it against the ward (rooms, robots, places, closable passages) so a typo gives one
line naming the file, line and field before anything runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from carefleet.devices.config import DeviceConfig
from carefleet.devices.day import SCENARIO_KINDS, check_happening, read_scenario_devices
from carefleet.maps import DEMO_WARD, WARDS_DIR, load_ward
from carefleet.maps.model import PlaceKind, Ward
from carefleet.maps.routing import Planner
from carefleet.messages import DEFAULT_LANGUAGE, render
from carefleet.orchestrator.schedules import MealService, PatrolSchedule, Schedule, parse_clock
from carefleet.tasks.meal import LOAD_SECONDS, PICKUP_EXPECTED, MealDelivery
from carefleet.tasks.model import Task
from carefleet.tasks.requests import build_task, check_place
from carefleet.robots.model import Battery, Capability, RobotProfile, RobotSpec
from carefleet.simulation.cameras import ACTIVITIES
from carefleet.simulation.kpi import KPI_DEFINITIONS, PERCENT, SYSTEM, shown, stored
from carefleet.yamlfile import Reader, load_yaml

#: Kinds of scripted happening and the fields each takes (besides ``at`` and ``kind``).
HAPPENING_FIELDS: dict[str, tuple[str, ...]] = {
    "fall": ("room",),
    "activity": ("room", "scene"),
    "robot_fault": ("robot", "error", "repair_after"),
    "robot_stuck": ("robot", "duration"),
    "battery": ("robot", "level"),
    "estop": ("robot", "release_after"),
    "close": ("what", "duration"),
    "open": ("what",),
    "submit": ("task", "by", "id"),
    "cancel": ("task", "by"),
    "call_button": ("room",),
    "restart": (),
    **SCENARIO_KINDS,                 # the ward devices' happenings (devices/day.py)
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Happening:
    at: float                      # epoch seconds
    kind: str
    args: dict[str, Any]
    line: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """``kpi`` must be >= ``minimum`` and/or <= ``maximum`` (None: no data fails).

    Bounds are in the unit the KPI table prints: for a KPI shown in % (stored as a
    fraction), ``minimum=90`` means 90 %; ``judge`` takes the stored figure.
    """

    kpi: str
    minimum: float | None = None
    maximum: float | None = None

    @property
    def unit(self) -> str:
        return KPI_DEFINITIONS[self.kpi][1]

    def _with_unit(self, number: float, digits: str = "g") -> str:
        """A number as written in a bound: percentages say so, other units stay bare."""
        text = f"{number:{digits}}"
        return f"{text} %" if self.unit == PERCENT else text

    @property
    def name(self) -> str:
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self._with_unit(self.minimum)}")
        if self.maximum is not None:
            bounds.append(f"<= {self._with_unit(self.maximum)}")
        return f"{self.kpi} {' and '.join(bounds)}"

    def judge(self, value: float | None,
              language: str = DEFAULT_LANGUAGE) -> tuple[bool, str]:
        """Whether ``value`` meets the bounds, and what was measured, in ``language``."""
        if value is None:
            return False, render("verdict.no_data", {}, language, "report")
        ok = ((self.minimum is None or value >= stored(self.kpi, self.minimum))
              and (self.maximum is None or value <= stored(self.kpi, self.maximum)))
        measured = self._with_unit(shown(self.kpi, value), '.4g')
        return ok, render("verdict.measured", {"value": measured}, language, "report")


@dataclass(frozen=True, slots=True, kw_only=True)
class Residents:
    pickup_delay: tuple[float, float] = (15.0, 90.0)   # seconds to take a tray, uniform
    no_pickup_share: float = 0.02                       # trays nobody takes
    acknowledge_after: float = 150.0                    # a nurse reaches a fall


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    source: str
    ward: Ward
    ward_file: str
    seed: int
    start: float
    end: float
    robots: tuple[RobotSpec, ...]
    schedules: tuple[Schedule, ...]
    happenings: tuple[Happening, ...]
    expectations: tuple[Expectation, ...]
    residents: Residents = Residents()
    on_time_window: float = 30.0       # minutes after the slot a meal counts as on time
    description: str = ""
    cameras: dict[str, str] = field(default_factory=dict)   # room -> camera id
    devices: DeviceConfig | None = None      # the ward's devices, paired by allow-list


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (raises ``InputError`` on the first problem)."""
    path = Path(path)
    top = Reader(str(path), load_yaml(path))
    top.only("name", "description", "ward", "date", "start", "duration", "seed", "fleet",
             "residents", "schedules", "events", "expect", "on_time_window", "cameras",
             "devices")
    ward_file = ward_path(top, path.parent)
    ward = load_ward(ward_file)
    zone = ZoneInfo(ward.timezone)
    day = top.convert("date", _date, date(2026, 12, 1))
    start = datetime.combine(day, top.convert("start", parse_clock, time(0, 0)), zone)
    hours = top.number("duration", 24.0, positive=True, maximum=24 * 14)
    begin = start.timestamp()
    end = begin + hours * 3600.0
    fleet = read_fleet(top, ward)
    cameras = _cameras(top, ward)
    devices = read_scenario_devices(top, ward)
    return Scenario(
        cameras=cameras, devices=devices,
        name=top.str("name"), description=top.str("description", ""), source=str(path),
        ward=ward, ward_file=str(ward_file), seed=top.number("seed", 1, integer=True),
        start=begin, end=end, robots=fleet,
        schedules=read_schedules(top, ward, fleet),
        happenings=_happenings(top, ward, fleet, cameras, devices, start, end, zone),
        expectations=_expectations(top),
        residents=_residents(top),
        on_time_window=_on_time_window(top))


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a date like 2026-12-01") from None


def ward_path(top: Reader, folder: Path) -> Path:
    """``ward: demo_ward`` names a bundled ward; anything else is a path from the scenario."""
    name = top.str("ward", DEMO_WARD.stem)
    bundled = WARDS_DIR / f"{name}.yaml"
    if "/" not in name and not name.endswith((".yaml", ".yml")) and bundled.exists():
        return bundled
    candidate = (folder / name).resolve()
    if not candidate.exists():
        raise top.error("ward", f"no ward file '{name}' (looked for {candidate})")
    return candidate


# -- fleet --------------------------------------------------------------------
def read_fleet(top: Reader, ward: Ward, *, fleet_fields: tuple[str, ...] = (),
               robot_fields: tuple[str, ...] = ()) -> tuple[RobotSpec, ...]:
    """The ``fleet:`` section of ``top`` (profiles and robots), checked against ``ward``.

    Scenarios and site files share it. ``fleet_fields`` and ``robot_fields`` are extra
    keys a caller allows in ``fleet`` and in each ``fleet.robots[i]`` and reads itself
    (a site file's ``driver_defaults``, ``driver`` and ``params``); the robots come back
    in file order.
    """
    fleet = top.mapping("fleet")
    fleet.only("profiles", "robots", *fleet_fields)
    profiles_reader = fleet.mapping("profiles")
    profiles = {name: _profile(name, profiles_reader.mapping(name)) for name in profiles_reader.keys()}
    specs: list[RobotSpec] = []
    for robot in fleet.items("robots"):
        robot.only("id", "profile", "start", *robot_fields)
        robot_id = robot.str("id")
        if any(spec.id == robot_id for spec in specs):
            raise robot.error("id", f"robot id '{robot_id}' is used twice")
        profile = robot.str("profile", choices=sorted(profiles))
        start = robot.str("start")
        if start not in ward.places and start not in ward.waypoints:
            raise robot.error("start", f"unknown place '{start}' in ward '{ward.name}'")
        specs.append(RobotSpec(id=robot_id, profile=profiles[profile], start=start))
    if not specs:
        raise fleet.error("robots", "the fleet needs at least one robot")
    return tuple(specs)


def _profile(name: str, reader: Reader) -> RobotProfile:
    reader.only("model", "speed", "trays", "capabilities", "battery")
    capabilities = frozenset(
        reader.convert("capabilities", lambda v: [Capability(c) for c in _list(v)], []))
    trays = reader.number("trays", 0, minimum=0, integer=True)
    if Capability.MEAL_DELIVERY in capabilities and trays < 1:
        raise reader.error("trays", "a meal_delivery robot needs at least one tray")
    battery = Battery()
    if "battery" in reader:
        b = reader.mapping("battery")
        b.only("capacity_wh", "drain_per_m_wh", "drain_idle_w", "charge_w", "low_threshold",
               "reserve", "charged")
        battery = Battery(
            capacity_wh=b.number("capacity_wh", battery.capacity_wh, positive=True),
            drain_per_m_wh=b.number("drain_per_m_wh", battery.drain_per_m_wh, minimum=0),
            drain_idle_w=b.number("drain_idle_w", battery.drain_idle_w, minimum=0),
            charge_w=b.number("charge_w", battery.charge_w, positive=True),
            low_threshold=b.number("low_threshold", battery.low_threshold, minimum=0, maximum=1),
            reserve=b.number("reserve", battery.reserve, minimum=0, maximum=1),
            charged=b.number("charged", battery.charged, minimum=0, maximum=1))
        if not battery.reserve < battery.low_threshold < battery.charged:
            raise b.error(None, "need reserve < low_threshold < charged")
    return RobotProfile(model=reader.str("model", name), speed=reader.number("speed", 0.7, positive=True),
                        trays=trays, capabilities=capabilities, battery=battery)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("expected a list, e.g. [meal_delivery, camera]")
    return value


# -- schedules ----------------------------------------------------------------
def _check_hot_limit(meal: Reader, ward: Ward, fleet: tuple[RobotSpec, ...],
                     rooms: list[str] | None, limit: float) -> None:
    """A hot-food limit (``hot_limit``, minutes from loading to the door) that not even a
    one-tray trip to the farthest room can keep is refused at load time, naming it."""
    speed = min(r.profile.speed for r in fleet if Capability.MEAL_DELIVERY in r.profile.capabilities)
    kitchen = ward.places_of_kind(PlaceKind.KITCHEN)[0].id
    times = Planner(ward).times_from(kitchen, speed)
    served = rooms or [p.id for p in ward.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    farthest = max(served, key=lambda r: (times.get(r, 0.0), r))
    needed = LOAD_SECONDS + times.get(farthest, 0.0) + PICKUP_EXPECTED
    if needed > limit:
        raise meal.error("hot_limit", f"{limit / 60:g} min is less than loading and one tray "
                         f"to {farthest} take ({needed / 60:.1f} min)")



def read_schedules(top: Reader, ward: Ward, fleet: tuple[RobotSpec, ...]) -> tuple[Schedule, ...]:
    """The ``schedules:`` section of ``top`` (meals and patrols; none when absent), checked
    against ``ward`` and ``fleet``. Scenarios and site files share it."""
    if "schedules" not in top:
        return ()
    schedules = top.mapping("schedules")
    schedules.only("meals", "patrols")
    result: list[Schedule] = []
    seen: set[str] = set()

    def unique(entry: Reader) -> str:
        name = entry.str("name")
        if name in seen:
            raise entry.error("name", f"schedule name '{name}' is used twice")
        seen.add(name)
        return name

    for meal in schedules.items("meals", []):
        meal.only("name", "at", "rooms", "pickup_timeout", "lead", "hot_limit")
        if not ward.places_of_kind(PlaceKind.KITCHEN):
            raise meal.error(None, f"ward '{ward.name}' has no kitchen to load meals at")
        _needs_a_robot(meal, fleet, Capability.MEAL_DELIVERY, "a meal service")
        rooms = meal.strings("rooms", None)
        if rooms is not None:
            _check_places(meal, ward, "rooms", rooms, (PlaceKind.RESIDENT_ROOM,))
        hot_limit = meal.number("hot_limit", None, positive=True)
        if hot_limit is not None:
            _check_hot_limit(meal, ward, fleet, rooms, hot_limit * 60.0)
        result.append(MealService(name=unique(meal), at=meal.convert("at", parse_clock),
                                  rooms=tuple(rooms) if rooms else None,
                                  pickup_timeout=meal.number("pickup_timeout", 180.0, positive=True),
                                  lead=meal.number("lead", 0.0, minimum=0.0, maximum=120.0) * 60.0,
                                  hot_limit=hot_limit * 60.0 if hot_limit is not None else None))
    for patrol in schedules.items("patrols", []):
        patrol.only("name", "start", "end", "checkpoints", "rounds")
        _needs_a_robot(patrol, fleet, Capability.PATROL, "a patrol schedule")
        checkpoints = patrol.strings("checkpoints")
        _check_places(patrol, ward, "checkpoints", checkpoints)
        result.append(PatrolSchedule(
            name=unique(patrol), start=patrol.convert("start", parse_clock),
            end=patrol.convert("end", parse_clock), checkpoints=tuple(checkpoints),
            rounds=patrol.number("rounds", None, minimum=1, integer=True)))
    return tuple(result)


def _needs_a_robot(reader: Reader, fleet: tuple[RobotSpec, ...], capability: Capability,
                   what: str) -> None:
    """Refuse work no robot of the fleet can ever do (it would wait all day)."""
    if not any(capability in spec.profile.capabilities for spec in fleet):
        raise reader.error(None, f"{what} needs a robot with the '{capability.value}' "
                           "capability, and the fleet has none")


def _check_places(reader: Reader, ward: Ward, key: str, places: list[str],
                  kinds: tuple[PlaceKind, ...] = ()) -> None:
    for place in places:
        check_place(reader, ward, key, place, kinds)


# -- happenings ---------------------------------------------------------------
_GENERATED_ID = re.compile(r"^t\d{5}$")   # ids the orchestrator hands out: t00001, ...
_AT = re.compile(r"^(?:(?P<day>\d+)d\s*)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?$")


def _cameras(top: Reader, ward: Ward) -> dict[str, str]:
    """``cameras: [{id, room}]`` -> room -> camera id (one camera per room)."""
    cameras: dict[str, str] = {}
    for camera in top.items("cameras", []):
        camera.only("id", "room")
        camera_id, room = camera.str("id"), camera.str("room")
        _check_places(camera, ward, "room", [room])
        if camera_id in cameras.values():
            raise camera.error("id", f"camera id '{camera_id}' is used twice")
        if room in cameras:
            raise camera.error("room", f"{room} already has camera '{cameras[room]}'")
        cameras[room] = camera_id
    return cameras


def _happenings(top: Reader, ward: Ward, fleet: tuple[RobotSpec, ...], cameras: dict[str, str],
                devices: DeviceConfig | None, start: datetime, end: float,
                zone: ZoneInfo) -> tuple[Happening, ...]:
    result = []
    named: dict[str, tuple[float, int, Reader]] = {}       # submit id -> (at, index, event)
    cancels: list[tuple[float, int, Reader, str]] = []
    robots = {spec.id for spec in fleet}
    closable = Planner(ward).closable
    for index, event in enumerate(top.items("events", [])):
        kind = event.str("kind", choices=sorted(HAPPENING_FIELDS))
        event.only("at", "kind", *HAPPENING_FIELDS[kind])
        at = event.convert("at", lambda v: _clock_at(v, start, zone))
        if at > end:
            raise event.error("at", f"{event.get('at')} is after the scenario ends "
                              f"({_clock_text(end, zone)}: start + duration)")
        if kind in SCENARIO_KINDS:
            args = check_happening(event, kind, devices)
            if "room" in args:
                _check_places(event, ward, "room", [args["room"]])
            result.append(Happening(at=at, kind=kind, args=args, line=event.line))
            continue
        args = {key: event.get(key) for key in HAPPENING_FIELDS[kind] if key in event}
        if "robot" in HAPPENING_FIELDS[kind]:
            robot = event.str("robot")
            if robot not in robots:
                raise event.error("robot", f"no robot '{robot}' in the fleet")
        if "room" in args:
            _check_places(event, ward, "room", [event.str("room")])
        if "what" in args and event.str("what") not in closable:
            raise event.error("what", f"'{args['what']}' is no lane, corridor or lift of the ward")
        for key in ("duration", "repair_after", "release_after"):
            if key in args:
                args[key] = event.number(key, positive=True)
        if kind == "activity":
            args["scene"] = event.str("scene", choices=ACTIVITIES)
            if args["room"] not in cameras:
                raise event.error("room", f"{args['room']} has no camera, so an activity there "
                                  "has no effect (add it under 'cameras')")
        if kind == "battery":
            args["level"] = event.number("level", minimum=0, maximum=1)
        if kind in ("submit", "cancel"):
            args["by"] = event.str("by", "staff")
            if args["by"] == SYSTEM:
                raise event.error("by", f"'{SYSTEM}' is the orchestrator's own name; name the "
                                  "person, e.g. 'staff:mei'")
        if kind == "submit":
            request = event.mapping("task")
            args["task"] = request.data
            task = build_task(args["task"], task_id="scenario-check", now=at,
                              requested_by=args["by"], ward=ward, source=event.source,
                              field=event.field("task"))   # refuse a bad request before the run
            _check_robots_for(request, task, fleet)
            if "id" in args:
                args["id"] = event.str("id")
                if args["id"] in named:
                    raise event.error("id", f"task id '{args['id']}' is used twice")
                named[args["id"]] = (at, index, event)
        if kind == "cancel":
            args["task"] = event.str("task")
            cancels.append((at, index, event, args["task"]))
        result.append(Happening(at=at, kind=kind, args=args, line=event.line))
    _check_cancels(named, cancels, zone)
    return tuple(sorted(result, key=lambda h: h.at))


def _check_robots_for(request: Reader, task: Task, fleet: tuple[RobotSpec, ...]) -> None:
    """Refuse a submitted task that no robot of the fleet could ever take: pinned to a
    robot that is not there or cannot do it, or needing what no robot has."""
    needs = ", ".join(sorted(c.value for c in task.needs))
    rooms = len(task.rooms) if isinstance(task, MealDelivery) else 0
    pinned = task.pinned_robot
    if pinned is not None:
        spec = next((spec for spec in fleet if spec.id == pinned), None)
        if spec is None:
            raise request.error("robot", f"no robot '{pinned}' in the fleet")
        missing = ", ".join(sorted(c.value for c in task.needs - spec.profile.capabilities))
        if missing:
            raise request.error("robot", f"robot '{pinned}' ({spec.profile.model}) has no "
                                f"'{missing}' capability, which a {task.kind} task needs")
        if not task.fits(spec.profile):
            raise request.error("robot", f"robot '{pinned}' carries {spec.profile.trays} trays, "
                                f"but the trip has {rooms} rooms")
        return
    capable = [spec for spec in fleet if spec.profile.can(task.needs)]
    if not capable:
        raise request.error("kind", f"no robot in the fleet can do a {task.kind} task "
                            f"(it needs the '{needs}' capability)")
    if not any(task.fits(spec.profile) for spec in capable):
        most = max(spec.profile.trays for spec in capable)
        raise request.error("rooms", f"{rooms} rooms in one trip, but the fleet's meal robots "
                            f"carry at most {most} trays: split the request")


def _check_cancels(named: dict[str, tuple[float, int, Reader]],
                   cancels: list[tuple[float, int, Reader, str]], zone: ZoneInfo) -> None:
    """Each cancel must come, in the order the day plays (time, then file order), after
    the submit that gave its id, and only once. Generated ids (``t00001`` ...) are handed
    out in play (schedules and the orchestrator take them too), so only their repeats can
    be refused here."""
    cancelled: dict[str, int] = {}
    for at, index, event, task_id in sorted(cancels, key=lambda c: (c[0], c[1])):
        if task_id in cancelled:
            raise event.error("task", f"task '{task_id}' is already cancelled by "
                              f"events[{cancelled[task_id]}]")
        cancelled[task_id] = index
        if task_id in named:
            submitted_at, submitted_index, _ = named[task_id]
            if (submitted_at, submitted_index) > (at, index):
                raise event.error("task", f"task '{task_id}' is only submitted at "
                                  f"{_clock_text(submitted_at, zone)} (events[{submitted_index}]), "
                                  "after this cancel")
        elif not _GENERATED_ID.match(task_id):
            raise event.error("task", f"no earlier submit event has id '{task_id}'")


def _clock_text(moment: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d %H:%M:%S").removesuffix(":00")


def _clock_at(value: Any, start: datetime, zone: ZoneInfo) -> float:
    """``"12:10"`` (first day of the run), ``"1d 03:00"`` (next day) -> epoch seconds."""
    match = _AT.match(str(value).strip())
    if not match:
        raise ValueError(f"'{value}' is not a time like 12:10 or '1d 03:00'")
    day = start.date() + timedelta(days=int(match["day"] or 0))
    clock = time(int(match["h"]), int(match["m"]), int(match["s"] or 0))
    moment = datetime.combine(day, clock, zone)
    if moment < start:
        raise ValueError(f"{value} is before the scenario starts")
    return moment.timestamp()


# -- expectations and residents -----------------------------------------------
def _expectations(top: Reader) -> tuple[Expectation, ...]:
    result = []
    for expect in top.items("expect", []):
        expect.only("kpi", "min", "max")
        kpi = expect.str("kpi", choices=list(KPI_DEFINITIONS))
        minimum, maximum = expect.number("min", None), expect.number("max", None)
        if minimum is None and maximum is None:
            raise expect.error(None, "an expectation needs 'min' or 'max'")
        if KPI_DEFINITIONS[kpi][1] == PERCENT:
            for key, bound in (("min", minimum), ("max", maximum)):
                _check_percent(expect, key, bound)
        if minimum is not None and maximum is not None and minimum > maximum:
            raise expect.error("min", f"min {minimum:g} is greater than max {maximum:g}: "
                               "no figure can meet both")
        result.append(Expectation(kpi=kpi, minimum=minimum, maximum=maximum))
    return tuple(result)


def _check_percent(expect: Reader, key: str, bound: float | None) -> None:
    """A bound on a KPI shown in % is written in percent, as the KPI table prints it."""
    if bound is None:
        return
    if not 0 <= bound <= 100:
        raise expect.error(key, f"{bound:g} is no percentage: bounds on this KPI are in % "
                           "(0..100)")
    if 0 < bound < 1:
        raise expect.error(key, f"{bound:g} reads as {bound:g} %: bounds on this KPI are in "
                           f"%, as the KPI table prints it (write {bound * 100:g} for "
                           f"{bound * 100:g} %)")


def _residents(top: Reader) -> Residents:
    if "residents" not in top:
        return Residents()
    r = top.mapping("residents")
    r.only("pickup_delay", "no_pickup_share", "acknowledge_after")
    default = Residents()
    delay = r.convert("pickup_delay", _range, default.pickup_delay)
    return Residents(pickup_delay=delay,
                     no_pickup_share=r.number("no_pickup_share", default.no_pickup_share,
                                              minimum=0, maximum=1),
                     acknowledge_after=r.number("acknowledge_after", default.acknowledge_after,
                                                positive=True))


def _range(value: Any) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] <= value[1]):
        raise ValueError("expected [low, high] seconds with 0 <= low <= high")
    return float(value[0]), float(value[1])


def _on_time_window(top: Reader) -> float:
    return top.number("on_time_window", 30.0, positive=True) if "on_time_window" in top else 30.0
