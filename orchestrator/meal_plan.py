"""Planning a meal service: which robot carries which rooms, in which trip, in which order.

A service is a vehicle-routing problem with several trips per robot: every trip loads
at the kitchen (``load`` seconds), serves at most the robot's own tray count of rooms
(``pickup`` seconds at each door) and drives back. What residents feel is when their
tray arrives, so a plan is judged by its latest delivery (makespan) plus its mean
delivery, both counted from the meal slot; a robot's last drive home costs nothing.

The planner is deterministic and pure: rooms are put in a canonical order first (by
floor, then travel time from the kitchen, then id), so the same rooms listed in any
order give the same plan; the descent that improves the first plans takes the best
move of each pass and stops when none improves or after a fixed number of passes,
never after a time limit, and draws no random numbers. A trip changes floors only
when it is full: floors whose
room counts leave a part-filled trip each may pool those remainders (104 rooms on 4
floors in 26 full trips instead of 28), never otherwise. With a
``hot_limit`` no tray rides longer than that from the start of loading to its door.

``bench/meal_rounds.py`` measures these plans against OR-Tools on the same route times.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from carefleet.maps.routing import Planner

#: Passes of the improving descent (each takes its best move); it stops sooner when no
#: move improves, which on the wards of ``bench/meal_rounds.py`` happens well before.
PASSES = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Runner:
    """A meal robot the service may use: its trays, speed and when it can start loading
    (seconds after the plan's origin, its travel to the kitchen included)."""

    id: str
    trays: int
    speed: float
    ready: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Trip:
    """One kitchen-to-kitchen round of one robot, rooms in serving order."""

    robot: str
    rooms: tuple[str, ...]
    start: float          # loading starts (seconds after the origin)
    deliveries: tuple[float, ...]   # each room's tray taken (seconds after the origin)
    distance: float       # metres, the drive back included


@dataclass(frozen=True, slots=True, kw_only=True)
class MealPlan:
    """Every robot's trips in the order it drives them, and the rooms no route reaches
    now (behind a closure: the caller queues them until it opens)."""

    trips: tuple[Trip, ...]
    unplanned: tuple[str, ...] = ()

    @property
    def makespan(self) -> float:
        """The latest delivery, seconds after the origin."""
        return max((d for trip in self.trips for d in trip.deliveries), default=0.0)

    @property
    def mean(self) -> float:
        times = [d for trip in self.trips for d in trip.deliveries]
        return sum(times) / len(times) if times else 0.0

    @property
    def distance(self) -> float:
        return sum(trip.distance for trip in self.trips)

    def of(self, robot: str) -> list[Trip]:
        return [trip for trip in self.trips if trip.robot == robot]


class NoRunner(ValueError):
    """No robot with trays was offered to the planner."""


def plan_service(rooms: Sequence[str], runners: Sequence[Runner], *, kitchen: str,
                 planner: Planner, load: float, pickup: float,
                 hot_limit: float | None = None, closed: frozenset[str] = frozenset(),
                 passes: int = PASSES) -> MealPlan:
    """The trips of one service: ``rooms`` (any order, duplicates ignored) over ``runners``.

    ``passes`` bounds the improving descent (default ``PASSES``); 0 keeps the first plan.
    """
    runners = sorted((r for r in runners if r.trays >= 1), key=lambda r: r.id)
    if not runners:
        raise NoRunner("a meal service needs at least one robot with trays")
    model = _Model(sorted(set(rooms)), runners, kitchen, planner, load, pickup, hot_limit,
                   closed)
    improved = [model.improve(start, passes) for start in model.starts()]
    return model.plan(min(improved, key=model.cost))


# A solution: per runner (index), a list of trips, each a list of room indexes.
_Solution = list[list[list[int]]]


class _Model:
    """Route times between the kitchen and the rooms, per robot speed, and the cost."""

    def __init__(self, rooms: list[str], runners: list[Runner], kitchen: str,
                 planner: Planner, load: float, pickup: float, hot_limit: float | None,
                 closed: frozenset[str]) -> None:
        self.runners, self.load, self.pickup, self.hot_limit = runners, load, pickup, hot_limit
        ward = planner.ward
        home = planner.times_from(kitchen, planner.reference_speed, closed=closed)
        reachable = [r for r in rooms if math.isfinite(home.get(r, math.inf))]
        # canonical order: floor, then time from the kitchen, then id
        self.rooms = sorted(reachable, key=lambda r: (ward.places[r].floor, home[r], r))
        self.unreachable = [r for r in rooms if r not in reachable]
        self.floor = [ward.places[r].floor for r in self.rooms]
        stops = [kitchen] + self.rooms               # index 0: the kitchen, room i: i + 1
        self.time: dict[float, list[list[float]]] = {}
        for speed in {r.speed for r in runners}:
            rows = [planner.times_from(s, speed, closed=closed) for s in stops]
            self.time[speed] = [[row.get(t, math.inf) for t in stops] for row in rows]
        self.metres = [[planner.distance(s, t, closed=closed) for t in stops] for s in stops]

    # -- the cost ----------------------------------------------------------------
    def schedule(self, solution: _Solution) -> list[list[tuple[float, list[float]]]]:
        """Per runner, per trip: (loading starts, deliveries) in seconds."""
        out = []
        for runner, trips in zip(self.runners, solution):
            t, legs = runner.ready, self.time[runner.speed]
            mine = []
            for trip in trips:
                start = t
                t += self.load
                here, times = 0, []
                for room in trip:
                    t += legs[here][room + 1] + self.pickup
                    here = room + 1
                    times.append(t)
                t += legs[here][0]
                mine.append((start, times))
            out.append(mine)
        return out

    def cost(self, solution: _Solution) -> float:
        """Latest delivery plus mean delivery (seconds), plus penalties (``_robot_cost``)."""
        parts = [self._robot_cost(k, trips) for k, trips in enumerate(solution)]
        return (max((p[0] for p in parts), default=0.0)
                + sum(p[1] for p in parts) / max(len(self.rooms), 1) + sum(p[2] for p in parts))

    # -- the first plan ----------------------------------------------------------
    def starts(self) -> list[_Solution]:
        """First plans for the descent: nearest trips first, each to the robot that can
        start loading soonest, so the far trips come last and their drive home is never
        waited for. Each robot in turn takes the nearest rooms left on one floor, as
        many as it carries; with one tray count for every robot, a second first plan
        pools each floor's remainder (its rooms beyond whole trips, the ones nearest
        the lift) with other floors' into full trips where they fit."""
        home = self.time[self.runners[0].speed][0]
        order = sorted(range(len(self.rooms)), key=lambda i: (home[i + 1], self.rooms[i]))
        trays = {r.trays for r in self.runners}
        starts = [self._nearest_first(order)]
        if len(trays) == 1:
            starts.append(self._assign_trips(self._pooled_trips(order, trays.pop())))
        return starts

    def _nearest_first(self, order: list[int]) -> _Solution:
        solution: _Solution = [[] for _ in self.runners]
        free = [r.ready for r in self.runners]
        left = list(order)
        while left:
            k = min(range(len(self.runners)), key=lambda j: (free[j], -self.runners[j].trays, j))
            runner = self.runners[k]
            floor = self.floor[left[0]]
            trip = self._fit_hot([i for i in left if self.floor[i] == floor][:runner.trays], runner)
            left = [i for i in left if i not in trip]
            solution[k].append(trip)
            free[k] = self._end(free[k], trip, runner)
        return solution

    def _pooled_trips(self, order: list[int], trays: int) -> list[list[int]]:
        floors: dict[str, list[int]] = {}
        for i in order:
            floors.setdefault(self.floor[i], []).append(i)
        trips, remainders = [], []
        for rooms in floors.values():
            cut = len(rooms) % trays
            remainders.append(rooms[:cut])
            trips += [rooms[j:j + trays] for j in range(cut, len(rooms), trays)]
        bins: list[list[int]] = []
        for group in sorted((g for g in remainders if g), key=lambda g: (-len(g), g)):
            for pooled in bins:
                if len(pooled) + len(group) <= trays:
                    pooled += group
                    break
            else:
                bins.append(list(group))
        for pooled in bins:                 # a pool that cannot be filled stays per floor
            if len(pooled) == trays:
                trips.append(pooled)
            else:
                trips += [[i for i in pooled if self.floor[i] == f]
                          for f in dict.fromkeys(self.floor[i] for i in pooled)]
        return trips

    def _assign_trips(self, trips: list[list[int]]) -> _Solution:
        solution: _Solution = [[] for _ in self.runners]
        free = [r.ready for r in self.runners]
        home = self.time[self.runners[0].speed][0]
        for trip in sorted(trips, key=lambda t: (max(home[i + 1] for i in t), t)):
            k = min(range(len(self.runners)), key=lambda j: (free[j], j))
            runner = self.runners[k]
            for part in self._split_hot(self._sweep(trip, runner), runner):
                solution[k].append(part)
                free[k] = self._end(free[k], part, runner)
        return solution

    def _fit_hot(self, trip: list[int], runner: Runner) -> list[int]:
        """The trip's first rooms, as many as the hot limit allows (at least one)."""
        trip = self._sweep(trip, runner)
        while len(trip) > 1 and self._hot(trip, runner):
            trip = trip[:-1]
        return trip

    def _split_hot(self, trip: list[int], runner: Runner) -> list[list[int]]:
        parts = []
        while trip:
            part = self._fit_hot(trip, runner)
            parts.append(part)
            trip = [i for i in trip if i not in part]
        return parts

    def _sweep(self, trip: list[int], runner: Runner) -> list[int]:
        """Serving order inside a trip: outward from the kitchen."""
        home = self.time[runner.speed][0]
        return sorted(trip, key=lambda i: (home[i + 1], self.rooms[i]))

    def _hot(self, trip: list[int], runner: Runner) -> bool:
        if self.hot_limit is None:
            return False
        end = self._end(0.0, trip, runner, back=False)
        return end > self.hot_limit

    def _end(self, t: float, trip: list[int], runner: Runner, *, back: bool = True) -> float:
        legs = self.time[runner.speed]
        t += self.load
        here = 0
        for room in trip:
            t += legs[here][room + 1] + self.pickup
            here = room + 1
        return t + (legs[here][0] if back else 0.0)

    # -- the improving search -----------------------------------------------------
    def _robot_cost(self, k: int, trips: list[list[int]]) -> tuple[float, float, float]:
        """(latest delivery, sum of deliveries, penalty) of runner ``k`` driving ``trips``."""
        runner, floor, limit = self.runners[k], self.floor, self.hot_limit
        t, legs, load, pickup = runner.ready, self.time[runner.speed], self.load, self.pickup
        latest = total = over = 0.0
        for trip in trips:
            if len(trip) < runner.trays and any(floor[i] != floor[trip[0]] for i in trip):
                over += 1e6
            start = t
            t += load
            here = 0
            for room in trip:
                t += legs[here][room + 1] + pickup
                here = room + 1
                total += t
            if trip:
                latest = max(latest, t)
                if limit is not None and t - start > limit:
                    over += (t - start - limit) * 3600.0
            t += legs[here][0]
        return latest, total, over

    def improve(self, solution: _Solution, budget: int) -> _Solution:
        """Descent over moves that keep every trip within its robot's trays: move a
        trip to another place (another robot's or its own), swap two trips, swap two
        rooms of neighbouring trips, move a room into a trip with a free tray. Each
        move changes one or two robots, so only theirs is re-costed; the best move of a
        pass is taken, until none improves or ``budget`` passes are done."""
        n = max(len(self.rooms), 1)
        current = _copy(solution)
        parts = [self._robot_cost(k, trips) for k, trips in enumerate(current)]
        for _ in range(budget):
            ranked = sorted(range(len(parts)), key=lambda k: -parts[k][0])
            sums = sum(p[1] for p in parts) / n + sum(p[2] for p in parts)
            cost = parts[ranked[0]][0] + sums

            def value(costs: dict[int, tuple[float, float, float]]) -> float:
                """The plan's cost with ``costs`` replacing those robots' own: the
                latest of the others is the first in ``ranked`` not replaced."""
                others = next((parts[k][0] for k in ranked if k not in costs), 0.0)
                latest = max([others] + [c[0] for c in costs.values()])
                return latest + sums + sum((c[1] - parts[k][1]) / n + c[2] - parts[k][2]
                                           for k, c in costs.items())
            best: tuple[float, dict[int, list[list[int]]],
                        dict[int, tuple[float, float, float]]] | None = None
            for change in self._moves(current):
                costs = {k: self._robot_cost(k, trips) for k, trips in change.items()}
                new = value(costs)
                if new < cost - 1e-6 and (best is None or new < best[0] - 1e-9):
                    best = (new, change, costs)
            if best is None:
                break
            for k, trips in best[1].items():
                current[k] = trips
                parts[k] = best[2][k]
        return current

    def _moves(self, solution: _Solution) -> Iterator[dict[int, list[list[int]]]]:
        """Every move of one pass, each as the new trip lists of the robots it changes."""
        runners = self.runners
        where = {room: (k, t) for k, trips in enumerate(solution)
                 for t, trip in enumerate(trips) for room in trip}
        trips = [(k, t) for k, mine in enumerate(solution) for t in range(len(mine))]
        for k, t in trips:                                   # move a trip
            trip = solution[k][t]
            rest = solution[k][:t] + solution[k][t + 1:]
            for k2 in range(len(solution)):
                if len(trip) > runners[k2].trays:
                    continue
                target = rest if k2 == k else solution[k2]
                for pos in range(len(target) + 1):
                    if k2 == k and pos == t:
                        continue
                    moved = target[:pos] + [trip] + target[pos:]
                    yield {k: moved} if k2 == k else {k: rest, k2: moved}
        for a, (k, t) in enumerate(trips):                   # swap two trips
            for k2, t2 in trips[a + 1:]:
                if k2 == k:
                    continue
                if (len(solution[k][t]) > runners[k2].trays
                        or len(solution[k2][t2]) > runners[k].trays):
                    continue
                mine, theirs = list(solution[k]), list(solution[k2])
                mine[t], theirs[t2] = solution[k2][t2], solution[k][t]
                yield {k: mine, k2: theirs}
        reach = 2 * max(r.trays for r in runners)
        for i in range(len(self.rooms)):                     # neighbouring rooms
            k, t = where[i]
            for j in range(i + 1, min(i + reach, len(self.rooms))):
                k2, t2 = where[j]
                if (k, t) == (k2, t2):
                    continue
                a_trip, b_trip = list(solution[k][t]), list(solution[k2][t2])
                a_trip[a_trip.index(i)] = j
                b_trip[b_trip.index(j)] = i
                yield _with(solution, {(k, t): self._sweep(a_trip, runners[k]),
                                       (k2, t2): self._sweep(b_trip, runners[k2])})
                if len(solution[k2][t2]) < runners[k2].trays:    # or just move room i
                    rest = [x for x in solution[k][t] if x != i]
                    yield _with(solution, {(k, t): rest, (k2, t2): self._sweep(
                        solution[k2][t2] + [i], runners[k2])})

    # -- the answer ---------------------------------------------------------------
    def plan(self, solution: _Solution) -> MealPlan:
        out = []
        for runner, trips, timed in zip(self.runners, solution, self.schedule(solution)):
            for trip, (start, times) in zip(trips, timed):
                stops = [0] + [i + 1 for i in trip] + [0]
                metres = sum(self.metres[a][b] for a, b in zip(stops, stops[1:]))
                out.append(Trip(robot=runner.id, rooms=tuple(self.rooms[i] for i in trip),
                                start=start, deliveries=tuple(times), distance=metres))
        return MealPlan(trips=tuple(out), unplanned=tuple(self.unreachable))


def _copy(solution: _Solution) -> _Solution:
    return [[list(trip) for trip in mine] for mine in solution]


def _with(solution: _Solution, trips: dict[tuple[int, int], list[int]]) -> dict[int, list[list[int]]]:
    """The trip lists of the robots owning ``trips`` (robot, index) with those replaced
    (an emptied trip is dropped)."""
    out: dict[int, list[list[int]]] = {}
    for (k, t), trip in trips.items():
        mine = out.setdefault(k, list(solution[k]))
        mine[t] = trip
    return {k: [trip for trip in mine if trip] for k, mine in out.items()}

