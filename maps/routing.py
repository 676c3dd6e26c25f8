"""Route planning on a ward's waypoint graph: lanes on a floor, lifts between floors.

Routes are the fastest by travel time, because that is what a resident waiting for a
meal feels: a door costs ``ward.door_delay`` seconds, a lift ride its
``transfer_time``, and a lane with a speed limit is slower than its length suggests.
A route therefore depends on the robot's speed; ``route`` and ``distance`` use the
planner's ``reference_speed`` unless told otherwise, ``travel_time`` the speed given.

The orchestrator asks for thousands of travel times per allocation, so the planner
memoises one shortest-path tree per (source waypoint, speed, closed set): after the
first question from a source, every answer is a dictionary lookup. ``times_from``
hands out such a tree whole, for callers that want to do the lookups themselves.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from carefleet.errors import CareFleetError, InputError
from carefleet.maps.model import Leg, Route, Ward

#: Speed (m/s) at which ``route`` and ``distance`` compare routes when none is given:
#: a typical indoor service robot's cruising speed among residents.
REFERENCE_SPEED = 0.8

NO_CLOSURES: frozenset[str] = frozenset()


class NoRoute(CareFleetError):
    """No path joins two places with the lanes, corridors and lifts that are open."""

    def __init__(self, start: str, goal: str, closed: frozenset[str] = NO_CLOSURES) -> None:
        self.start, self.goal, self.closed = start, goal, closed
        because = f" with {', '.join(sorted(closed))} closed" if closed else ""
        super().__init__(f"no route from '{start}' to '{goal}'{because}")


class UnknownPlace(InputError):
    """The caller named a place or waypoint the ward does not have."""

    def __init__(self, ward: Ward, name: str) -> None:
        super().__init__(ward.source, f"unknown place or waypoint '{name}' in ward '{ward.name}'")
        self.name = name


@dataclass(frozen=True, slots=True)
class _Edge:
    """A leg leaving a waypoint, and the names (lane, corridor, lift) that close it."""

    leg: Leg
    closers: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Tree:
    """Shortest paths from one source; ``time``/``distance`` are keyed by waypoint AND place id."""

    time: dict[str, float]
    distance: dict[str, float]
    via: dict[str, Leg]        # waypoint -> the leg that reaches it


class Planner:
    """Answers route questions about one ward; cheap to query again once warmed up.

    ``start`` and ``goal`` everywhere may be waypoint ids or place ids (a place means
    its ``waypoint``). ``closed`` holds lane ids, corridor names and lift ids that are
    out of use; names the ward does not have are ignored (see ``closable``).
    """

    def __init__(self, ward: Ward, *, reference_speed: float = REFERENCE_SPEED,
                 cache_size: int = 4096) -> None:
        _check_speed(reference_speed)
        self.ward = ward
        self.reference_speed = reference_speed
        self._cache_size = cache_size
        self._trees: dict[tuple[str, float, frozenset[str]], _Tree] = {}
        self._stops = {w: w for w in ward.waypoints} | {
            p.id: p.waypoint for p in ward.places.values()}
        self._edges: dict[str, list[_Edge]] = {w: [] for w in ward.waypoints}
        for edge in _lane_edges(ward) + _lift_edges(ward):
            self._edges[edge.leg.start].append(edge)
        self._by_floor: dict[str, list[Any]] = {}
        for waypoint in ward.waypoints.values():
            self._by_floor.setdefault(waypoint.floor, []).append(waypoint)
        self.closable: frozenset[str] = frozenset().union(
            *(e.closers for edges in self._edges.values() for e in edges))
        """Every name ``closed`` can usefully hold: lane ids, corridor names, lift ids."""

    # -- questions ----------------------------------------------------------------
    def route(self, start: str, goal: str, *, closed: frozenset[str] = NO_CLOSURES,
              speed: float | None = None) -> Route:
        """The fastest route at ``speed`` (default ``reference_speed``); raises ``NoRoute``."""
        source, target = self.waypoint_of(start), self.waypoint_of(goal)
        tree = self._tree(source, self.reference_speed if speed is None else speed, closed)
        if target not in tree.time:
            raise NoRoute(start, goal, closed)
        legs: list[Leg] = []
        while target != source:
            legs.append(tree.via[target])
            target = legs[-1].start
        return Route(start=source, end=self.waypoint_of(goal), legs=tuple(reversed(legs)))

    def travel_time(self, start: str, goal: str, speed: float, *,
                    closed: frozenset[str] = NO_CLOSURES) -> float:
        """Seconds for a robot of top speed ``speed`` m/s; ``math.inf`` when there is no route."""
        time = self._tree(self.waypoint_of(start), speed, closed).time.get(goal)
        if time is None:
            self.waypoint_of(goal)  # an unknown goal is the caller's mistake, not "far away"
            return math.inf
        return time

    def distance(self, start: str, goal: str, *, closed: frozenset[str] = NO_CLOSURES) -> float:
        """Metres driven on the route ``route`` picks; ``math.inf`` when there is none."""
        tree = self._tree(self.waypoint_of(start), self.reference_speed, closed)
        metres = tree.distance.get(goal)
        if metres is None:
            self.waypoint_of(goal)
            return math.inf
        return metres

    def times_from(self, start: str, speed: float, *,
                   closed: frozenset[str] = NO_CLOSURES) -> Mapping[str, float]:
        """Seconds from ``start`` to every reachable waypoint and place id (read-only).

        For allocation loops: one call per robot, then plain lookups per task.
        """
        return MappingProxyType(self._tree(self.waypoint_of(start), speed, closed).time)

    def snap(self, floor: str, x: float, y: float) -> str | None:
        """The waypoint nearest to ``(x, y)`` on ``floor`` (a robot's pose), or None when
        the ward has no such floor. The one place where poses meet the route graph."""
        best, best_d = None, math.inf
        for waypoint in self._by_floor.get(floor, ()):
            d = (waypoint.x - x) ** 2 + (waypoint.y - y) ** 2
            if d < best_d:
                best, best_d = waypoint.id, d
        return best

    def waypoint_of(self, name: str) -> str:
        """The waypoint a place id stands for (a waypoint id stands for itself)."""
        try:
            return self._stops[name]
        except KeyError:
            raise UnknownPlace(self.ward, name) from None

    def position_along(self, route: Route, elapsed: float,
                       speed: float) -> tuple[str, float, float, str]:
        """(floor, x, y, last waypoint reached) ``elapsed`` seconds into ``route``.

        Clamped to the route's ends. A leg's fixed time comes before its driving: the
        robot waits at the lane's start for a door to open, and during a lift ride it
        stays at the departure landing until the ride is over.
        """
        remaining = max(elapsed, 0.0)
        reached = route.start
        for leg in route.legs:
            duration = leg.duration(speed)
            if remaining < duration:
                return self._inside(leg, remaining, speed)
            remaining -= duration
            reached = leg.end
        return self._at(reached)

    # -- machinery ----------------------------------------------------------------
    def _inside(self, leg: Leg, elapsed: float, speed: float) -> tuple[str, float, float, str]:
        if leg.lift is not None or elapsed <= leg.fixed_time:
            return self._at(leg.start)
        a, b = self.ward.waypoints[leg.start], self.ward.waypoints[leg.end]
        share = (elapsed - leg.fixed_time) / (leg.duration(speed) - leg.fixed_time)
        return a.floor, a.x + (b.x - a.x) * share, a.y + (b.y - a.y) * share, leg.start

    def _at(self, waypoint: str) -> tuple[str, float, float, str]:
        w = self.ward.waypoints[waypoint]
        return w.floor, w.x, w.y, waypoint

    def _tree(self, source: str, speed: float, closed: frozenset[str]) -> _Tree:
        key = (source, speed, closed)
        tree = self._trees.get(key)
        if tree is None:
            _check_speed(speed)
            if len(self._trees) >= self._cache_size:
                del self._trees[next(iter(self._trees))]  # oldest first: cheap and bounded
            tree = self._trees[key] = self._dijkstra(source, speed, closed)
        return tree

    def _dijkstra(self, source: str, speed: float, closed: frozenset[str]) -> _Tree:
        """Fastest paths from ``source``; ties go to the lane listed first (deterministic)."""
        time, distance, via = {source: 0.0}, {source: 0.0}, {}
        heap = [(0.0, 0, source)]
        done: set[str] = set()
        pushed = 0
        while heap:
            now, _, node = heapq.heappop(heap)
            if node in done:
                continue
            done.add(node)
            for edge in self._edges[node]:
                if closed and not closed.isdisjoint(edge.closers):
                    continue
                leg = edge.leg
                then = now + leg.duration(speed)
                if then < time.get(leg.end, math.inf):
                    time[leg.end], distance[leg.end], via[leg.end] = (
                        then, distance[node] + leg.length, leg)
                    pushed += 1
                    heapq.heappush(heap, (then, pushed, leg.end))
        for place, waypoint in self._stops.items():
            if waypoint in time:
                time[place], distance[place] = time[waypoint], distance[waypoint]
        return _Tree(time=time, distance=distance, via=via)


def _lane_edges(ward: Ward) -> list[_Edge]:
    """Both directions of each two-way lane, one of each one-way lane."""
    edges = []
    for lane in ward.lanes:
        a, b = ward.waypoints[lane.start], ward.waypoints[lane.end]
        closers = frozenset(n for n in (lane.id, lane.corridor) if n is not None)
        ends = [(a.id, b.id)] if lane.one_way else [(a.id, b.id), (b.id, a.id)]
        for start, end in ends:
            leg = Leg(start=start, end=end, length=math.hypot(b.x - a.x, b.y - a.y),
                      speed_limit=lane.speed_limit, lane=lane.id,
                      fixed_time=ward.door_delay if lane.door else 0.0)
            edges.append(_Edge(leg, closers))
    return edges


def _lift_edges(ward: Ward) -> list[_Edge]:
    """A ride between every two landings of each lift, costing its transfer time."""
    return [_Edge(Leg(start=a, end=b, length=0.0, fixed_time=lift.transfer_time, lift=lift.id),
                  frozenset({lift.id}))
            for lift in ward.lifts.values()
            for a in lift.stops.values() for b in lift.stops.values() if a != b]


def _check_speed(speed: float) -> None:
    if not speed > 0 or math.isinf(speed):
        raise ValueError(f"speed must be a positive finite number of m/s, got {speed}")
