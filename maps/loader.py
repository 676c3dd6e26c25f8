"""Read a ward YAML file into a ``Ward``, reporting every mistake at once.

A ward file is written by hand by someone setting up a care home, so ``check_ward``
does not stop at the first problem: it collects every error (each one line naming
file, line, entry and field) so that one ``carefleet map check`` run lists them all.
``load_ward`` is the strict front door used by everything else: it raises the first.

The format is documented for ward authors in ``docs/map-format.md``.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from carefleet.errors import InputError
from carefleet.maps.model import (Floor, Lane, Lift, OccupancyGrid, Place, PlaceKind, Ward,
                                  Waypoint)
from carefleet.yamlfile import Reader, load_yaml

T = TypeVar("T")

TOP_FIELDS = ("ward", "timezone", "door_delay", "floors", "waypoints", "lanes", "lifts",
              "places", "extra")
FLOOR_FIELDS = ("id", "name", "elevation", "grid")
WAYPOINT_FIELDS = ("id", "floor", "x", "y")
LANE_FIELDS = ("id", "from", "to", "one_way", "speed_limit", "door", "corridor")
LIFT_FIELDS = ("id", "transfer_time", "stops")
PLACE_FIELDS = ("id", "kind", "floor", "x", "y", "waypoint", "name", "room")
GRID_FIELDS = ("image", "resolution", "origin", "negate", "occupied_thresh", "free_thresh",
               "mode")
PLACE_KINDS = tuple(kind.value for kind in PlaceKind)


class _Errors:
    """Collects ``InputError``s so one bad field does not hide the next one."""

    def __init__(self) -> None:
        self.found: list[InputError] = []

    def attempt(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``func(*args, **kwargs)``, or None after recording the ``InputError`` it raised."""
        try:
            return func(*args, **kwargs)
        except InputError as error:
            self.found.append(error)
            return None

    def add(self, error: InputError) -> None:
        self.found.append(error)


@dataclass
class _Parsed:
    """What parsing produced so far, with each entry's Reader kept to locate later errors."""

    floors: dict[str, Floor] = field(default_factory=dict)
    waypoints: dict[str, Waypoint] = field(default_factory=dict)
    lanes: dict[str, Lane] = field(default_factory=dict)
    lifts: dict[str, Lift] = field(default_factory=dict)
    places: dict[str, Place] = field(default_factory=dict)
    where: dict[tuple[str, str], Reader] = field(default_factory=dict)
    broken: set[tuple[str, str]] = field(default_factory=set)
    """(kind, id) of entries already reported as bad: referring to them is no new error."""


def load_ward(path: str | Path) -> Ward:
    """Load and validate a ward; raise its first error (mentioning how many more there are)."""
    ward, errors = check_ward(path)
    if errors:
        first = errors[0]
        if len(errors) > 1:
            first.message += (f" (and {len(errors) - 1} more; "
                              f"run 'carefleet map check {first.source}')")
            first.args = (str(first),)
        raise first
    assert ward is not None
    return ward


def check_ward(path: str | Path) -> tuple[Ward | None, list[InputError]]:
    """Validate a ward file completely: the ward (None if any error) and every error found.

    Errors come sorted by line so they read like a compiler's output.
    """
    source = str(path)
    errors = _Errors()
    data = errors.attempt(load_yaml, path)
    if data is None:
        if not errors.found:
            errors.add(InputError(source, "the file is empty"))
        return None, errors.found
    top = errors.attempt(Reader, source, data)
    if top is None:
        return None, errors.found
    ward = _read_ward(top, Path(path).parent, errors)
    errors.found.sort(key=lambda e: e.line or 0)
    return (None if errors.found else ward), errors.found


def _extra(top: Reader) -> dict[str, Any]:
    """``extra`` is not checked inside, but it must be a mapping (``Ward.extra``)."""
    return dict(top.mapping("extra").data) if "extra" in top else {}


def _read_ward(top: Reader, base: Path, errors: _Errors) -> Ward | None:
    errors.attempt(top.only, *TOP_FIELDS)
    name = errors.attempt(top.str, "ward")
    timezone = errors.attempt(_timezone, top)
    door_delay = errors.attempt(top.number, "door_delay", 4.0, minimum=0)
    extra = errors.attempt(_extra, top)
    parsed = _Parsed()
    for floor_reader in _entries(top, "floors", errors):
        _add(parsed, "floor", floor_reader, _read_floor(floor_reader, base, errors), errors)
    for reader in _entries(top, "waypoints", errors):
        _add(parsed, "waypoint", reader, _read_waypoint(reader, parsed, errors), errors)
    for reader in _entries(top, "lanes", errors, required=False):
        _add(parsed, "lane", reader, _read_lane(reader, parsed, errors), errors)
    for reader in _entries(top, "lifts", errors, required=False):
        _add(parsed, "lift", reader, _read_lift(reader, parsed, errors), errors)
    for reader in _entries(top, "places", errors):
        _add(parsed, "place", reader, _read_place(reader, parsed, errors), errors)
    _check_rooms(parsed, errors)
    if not errors.found:  # a dropped bad entry would make sound places look unreachable
        _check_connected(parsed, errors)
    if name is None or timezone is None or door_delay is None or extra is None:
        return None
    return Ward(name=name, source=top.source, floors=parsed.floors,
                waypoints=parsed.waypoints, lanes=tuple(parsed.lanes.values()),
                lifts=parsed.lifts, places=parsed.places, door_delay=door_delay,
                timezone=timezone, extra=dict(extra))


def _timezone(top: Reader) -> str:
    """The ward's IANA time zone; checked only where the system has a zone database."""
    name = top.str("timezone", "UTC")
    if zoneinfo.available_timezones() and name not in zoneinfo.available_timezones() | {"UTC"}:
        raise top.error("timezone", f"unknown time zone '{name}' (e.g. Europe/London)")
    return name


def _entries(top: Reader, key: str, errors: _Errors, *, required: bool = True) -> Iterator[Reader]:
    """Each entry of a top-level list; a non-mapping entry is reported and skipped."""
    items = errors.attempt(top.items, key) if required else errors.attempt(top.items, key, [])
    while items is not None:
        try:
            yield next(items)
        except StopIteration:
            return
        except InputError as error:
            errors.add(error)


def _add(parsed: _Parsed, kind: str, reader: Reader, entry: Any, errors: _Errors) -> None:
    """Store a parsed entry under its id, refusing a second entry with the same id."""
    if entry is None:
        if isinstance(reader.data.get("id"), str):
            parsed.broken.add((kind, reader.data["id"]))
        return
    table: dict[str, Any] = getattr(parsed, kind + "s")
    if entry.id in table:
        first = parsed.where[(kind, entry.id)]
        errors.add(reader.error("id" if "id" in reader else None,
                                f"duplicate {kind} id '{entry.id}' (first on line {first.line})"))
        return
    table[entry.id] = entry
    parsed.where[(kind, entry.id)] = reader


class _Entry:
    """One list entry being read: each bad field is recorded and the entry marked bad."""

    def __init__(self, reader: Reader, errors: _Errors,
                 allowed: tuple[str, ...] | None = None) -> None:
        self.reader = reader
        self.errors = errors
        self._before = len(errors.found)
        if allowed is not None:
            errors.attempt(reader.only, *allowed)

    def read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``Reader.<method>(*args)``, recording its error and returning None instead."""
        return self.errors.attempt(getattr(self.reader, method), *args, **kwargs)

    def fail(self, key: str | None, message: str) -> None:
        self.errors.add(self.reader.error(key, message))

    def fail_quietly(self) -> None:
        """Mark the entry bad without a new error: it refers to an entry already reported."""
        self._quiet = True

    @property
    def ok(self) -> bool:
        """True while no error was recorded for this entry."""
        return len(self.errors.found) == self._before and not getattr(self, "_quiet", False)


def _read_floor(reader: Reader, base: Path, errors: _Errors) -> Floor | None:
    entry = _Entry(reader, errors, FLOOR_FIELDS)
    floor_id = entry.read("str", "id")
    name = entry.read("str", "name", floor_id)
    elevation = entry.read("number", "elevation", 0.0)
    grid = _read_grid(entry, base) if "grid" in reader else None
    if not entry.ok:
        return None
    return Floor(id=floor_id, name=name, elevation=elevation, grid=grid)


def _read_grid(entry: _Entry, base: Path) -> OccupancyGrid | None:
    """A ROS map_server map (YAML + image); its own errors point into the grid YAML."""
    relative = entry.read("str", "grid")
    if relative is None:
        return None
    path = base / relative
    if not path.is_file():
        entry.fail("grid", f"grid file '{relative}' not found (looked for {path})")
        return None
    data = entry.errors.attempt(load_yaml, path)
    grid = entry.errors.attempt(Reader, str(path), data) if data is not None else None
    if grid is None:
        if data is None and entry.ok:
            entry.fail("grid", f"grid file '{relative}' is empty")
        return None
    return _read_grid_fields(_Entry(grid, entry.errors, GRID_FIELDS), path.parent)


def _read_grid_fields(grid: _Entry, base: Path) -> OccupancyGrid | None:
    image = grid.read("str", "image")
    resolution = grid.read("number", "resolution", positive=True)
    origin = grid.read("convert", "origin", _origin)
    if image is not None and _image_size(base / image) is None:
        grid.fail("image", f"cannot read image '{image}' (expected a PGM or PNG map)")
    if not grid.ok:
        return None
    return OccupancyGrid(image=str((base / image).resolve()), resolution=resolution,
                         origin=origin)


def _origin(value: Any) -> tuple[float, float]:
    """map_server's ``[x, y, yaw]``; a rotated map cannot be drawn, so yaw must be 0."""
    if not isinstance(value, list) or len(value) not in (2, 3) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value):
        raise ValueError("expected [x, y, yaw] with finite numbers")
    if len(value) == 3 and value[2] != 0:
        raise ValueError("rotated maps (yaw != 0) are not supported")
    return float(value[0]), float(value[1])


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an occupancy image, or None when it is missing or unreadable."""
    import cv2  # late: only wards with grids pay for OpenCV's import

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    return None if image is None else (image.shape[1], image.shape[0])


def _read_floor_ref(entry: _Entry, parsed: _Parsed, key: str = "floor") -> str | None:
    """A field naming a floor that must already be declared."""
    floor = entry.read("str", key)
    if floor is not None and floor not in parsed.floors:
        _unknown(entry, parsed, key, "floor", floor)
        return None
    return floor


def _read_waypoint_ref(entry: _Entry, parsed: _Parsed, key: str, floor: str | None) -> str | None:
    """A field naming a declared waypoint, which must lie on ``floor`` when one is given."""
    name = entry.read("str", key)
    if name is None:
        return None
    waypoint = parsed.waypoints.get(name)
    if waypoint is None:
        _unknown(entry, parsed, key, "waypoint", name)
    elif floor is not None and waypoint.floor != floor:
        entry.fail(key, f"waypoint '{name}' is on floor {waypoint.floor}, not {floor}")
    return name


def _unknown(entry: _Entry, parsed: _Parsed, key: str, kind: str, name: str) -> None:
    """Report a reference to an undeclared entry, unless that entry was itself reported."""
    if (kind, name) in parsed.broken:
        entry.fail_quietly()
        return
    table: dict[str, Any] = getattr(parsed, kind + "s")
    hint = f" (declared: {', '.join(table)})" if kind == "floor" and table else ""
    entry.fail(key, f"unknown {kind} '{name}'{hint}")


def _read_coordinates(entry: _Entry, *default: float) -> tuple[float, float]:
    """``x`` and ``y`` in metres (finite: ``Reader.number`` refuses .nan and .inf).

    ``default`` is an ``(x, y)`` used for absent fields; without it both are required.
    """
    x = entry.read("number", "x", *default[:1])
    y = entry.read("number", "y", *default[1:])
    return x, y


def _read_waypoint(reader: Reader, parsed: _Parsed, errors: _Errors) -> Waypoint | None:
    entry = _Entry(reader, errors, WAYPOINT_FIELDS)
    waypoint_id = entry.read("str", "id")
    floor = _read_floor_ref(entry, parsed)
    x, y = _read_coordinates(entry)
    if not entry.ok:
        return None
    return Waypoint(id=waypoint_id, floor=floor, x=x, y=y)


def _read_lane(reader: Reader, parsed: _Parsed, errors: _Errors) -> Lane | None:
    entry = _Entry(reader, errors, LANE_FIELDS)
    start = _read_waypoint_ref(entry, parsed, "from", None)
    end = _read_waypoint_ref(entry, parsed, "to", None)
    lane_id = entry.read("str", "id", f"{start}-{end}")
    one_way = entry.read("bool", "one_way", False)
    speed_limit = entry.read("number", "speed_limit", None, positive=True)
    door = entry.read("bool", "door", False)
    corridor = entry.read("str", "corridor", None)
    if entry.ok and start == end:
        entry.fail("to", f"lane '{lane_id}' joins waypoint '{start}' to itself")
    elif entry.ok and parsed.waypoints[start].floor != parsed.waypoints[end].floor:
        entry.fail("to", f"lane '{lane_id}' joins floor {parsed.waypoints[start].floor} to "
                         f"floor {parsed.waypoints[end].floor} (use a lift between floors)")
    if not entry.ok:
        return None
    return Lane(id=lane_id, start=start, end=end, one_way=one_way, speed_limit=speed_limit,
                door=door, corridor=corridor)


def _read_lift(reader: Reader, parsed: _Parsed, errors: _Errors) -> Lift | None:
    entry = _Entry(reader, errors, LIFT_FIELDS)
    lift_id = entry.read("str", "id")
    transfer_time = entry.read("number", "transfer_time", minimum=0)
    stops_reader = entry.read("mapping", "stops")
    stops = None if stops_reader is None else _read_stops(stops_reader, parsed, errors)
    if stops is None:
        entry.fail_quietly()
    elif entry.ok and len(stops) < 2:
        entry.fail("stops", f"lift '{lift_id}' needs stops on at least two floors")
    if not entry.ok:
        return None
    return Lift(id=lift_id, stops=stops, transfer_time=transfer_time)


def _read_stops(stops: Reader, parsed: _Parsed, errors: _Errors) -> dict[str, str] | None:
    """``{floor id: landing waypoint}``, each landing on the floor it serves; None if bad."""
    entry = _Entry(stops, errors)
    result = {}
    for floor in stops.keys():
        if floor not in parsed.floors:
            _unknown(entry, parsed, str(floor), "floor", str(floor))
            continue
        result[floor] = _read_waypoint_ref(entry, parsed, floor, floor)
    return result if entry.ok else None


def _read_place(reader: Reader, parsed: _Parsed, errors: _Errors) -> Place | None:
    entry = _Entry(reader, errors, PLACE_FIELDS)
    place_id = entry.read("str", "id")
    kind = entry.read("str", "kind", choices=PLACE_KINDS)
    floor = _read_floor_ref(entry, parsed)
    waypoint = _read_waypoint_ref(entry, parsed, "waypoint", floor)
    name = entry.read("str", "name", "")
    room = entry.read("str", "room", None)
    stop = parsed.waypoints.get(waypoint or "")
    # A place sits at its waypoint unless placed elsewhere (a bed, a room's centre).
    x, y = _read_coordinates(entry, *((stop.x, stop.y) if stop else (0.0, 0.0)))
    if place_id in parsed.waypoints and place_id != waypoint:
        entry.fail("id", f"place id '{place_id}' is also a waypoint id but the place stops at "
                         f"'{waypoint}': a route to '{place_id}' would be ambiguous")
    if kind == PlaceKind.BED.value and room is None:
        entry.fail(None, f"bed '{place_id}' needs 'room' (the resident room it is in)")
    if not entry.ok:
        return None
    return Place(id=place_id, kind=PlaceKind(kind), floor=floor, x=x, y=y, waypoint=waypoint,
                 name=name, room=room)


def _check_rooms(parsed: _Parsed, errors: _Errors) -> None:
    """Every ``room`` must name a resident room (beds are checked once all places are read)."""
    for place in parsed.places.values():
        if place.room is None:
            continue
        room = parsed.places.get(place.room)
        if ("place", place.room) in parsed.broken:
            continue
        if room is None or room.kind is not PlaceKind.RESIDENT_ROOM:
            what = "not a known place" if room is None else f"a {room.kind.value}, not a resident_room"
            reader = parsed.where[("place", place.id)]
            errors.add(reader.error("room", f"'{place.room}' is {what} "
                                            f"(room of {place.kind.value} '{place.id}')"))


def _check_connected(parsed: _Parsed, errors: _Errors) -> None:
    """Every place must be reachable from every other one, one-way lanes respected.

    The place list's first place that lies in the biggest group of mutually reachable
    places is the anchor; each place outside that group is reported, saying which way
    the route is missing, so the author knows which lane to add or turn around.
    """
    places = list(parsed.places.values())
    if len(places) < 2:
        return
    forward, backward = _adjacency(parsed)
    reach_from = {p.id: _reachable(p.waypoint, forward) for p in places}
    anchor = max(places, key=lambda p: sum(
        q.waypoint in reach_from[p.id] and p.waypoint in reach_from[q.id] for q in places))
    to_anchor = _reachable(anchor.waypoint, backward)
    for place in places:
        there = place.waypoint in reach_from[anchor.id]
        back = place.waypoint in to_anchor
        if there and back:
            continue
        missing = ("no route between here and" if not (there or back) else
                   "no route from" if not there else "no route back to")
        reader = parsed.where[("place", place.id)]
        errors.add(reader.error("waypoint", f"place '{place.id}' is unreachable: {missing} "
                                            f"'{anchor.id}' (check lanes and one_way)"))


def _adjacency(parsed: _Parsed) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Waypoint graph (lanes and lift rides) and its reverse."""
    forward: dict[str, set[str]] = {w: set() for w in parsed.waypoints}
    backward: dict[str, set[str]] = {w: set() for w in parsed.waypoints}
    for a, b in _edges(parsed.lanes.values(), parsed.lifts.values()):
        forward[a].add(b)
        backward[b].add(a)
    return forward, backward


def _edges(lanes: Iterable[Lane], lifts: Iterable[Lift]) -> Iterator[tuple[str, str]]:
    for lane in lanes:
        yield lane.start, lane.end
        if not lane.one_way:
            yield lane.end, lane.start
    for lift in lifts:
        for a in lift.stops.values():
            for b in lift.stops.values():
                if a != b:
                    yield a, b


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in graph[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen
