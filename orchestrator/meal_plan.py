"""Planning a meal service: which robot carries which rooms, in which trip, in which order.

A service is a vehicle-routing problem with several trips per robot: every trip loads
at the kitchen (``load`` seconds), serves at most the robot's own tray count of rooms
(``pickup`` seconds at each door) and drives back. What residents feel is when their
tray arrives, so a plan is judged by its latest delivery (makespan) plus its mean
delivery, both counted from the meal slot; a robot's last drive home costs nothing.

The planner is deterministic and pure: rooms are put in a canonical order first (by
floor, then travel time from the kitchen, then id), so the same rooms listed in any
order give the same plan; the search that improves the first plan draws from a
``random.Random`` seeded by the problem itself and stops after a fixed number of moves,
never after a time limit. Trips never change floors (a lift ride inside a trip is
never needed: any floor's rooms can be served in trips of their own). With a
``hot_limit`` no tray rides longer than that from the start of loading to its door.

``bench/meal_rounds.py`` measures these plans against OR-Tools on the same route times.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from carefleet.maps.routing import Planner

#: Search moves per room and robot (the plan's cost stops improving well before this
#: on the wards measured in ``bench/meal_rounds.py``).
MOVES_PER_ROOM = 120
MAX_MOVES = 40_000


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
                 moves: int | None = None) -> MealPlan:
    """The trips of one service: ``rooms`` (any order, duplicates ignored) over ``runners``.

    ``moves`` bounds the improving search (default: ``MOVES_PER_ROOM`` per room and
    robot, at most ``MAX_MOVES``); 0 keeps the constructed plan.
    """
    runners = sorted((r for r in runners if r.trays >= 1), key=lambda r: r.id)
    if not runners:
        raise NoRunner("a meal service needs at least one robot with trays")
    model = _Model(sorted(set(rooms)), runners, kitchen, planner, load, pickup, hot_limit,
                   closed)
    solution = model.construct()
    budget = (min(MAX_MOVES, MOVES_PER_ROOM * len(model.rooms) * len(runners))
              if moves is None else moves)
    solution = model.improve(solution, budget)
    return model.plan(solution)


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
        self.seed = len(self.rooms) * 7919 + len(runners)

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
        """Latest delivery plus mean delivery (seconds); a tray riding past the hot
        limit costs an hour per second over, so no plan keeps one."""
        latest, total, count, over = 0.0, 0.0, 0, 0.0
        limit = self.hot_limit
        for runner, trips in zip(self.runners, solution):
            t, legs, load, pickup = runner.ready, self.time[runner.speed], self.load, self.pickup
            for trip in trips:
                start = t
                t += load
                here = 0
                for room in trip:
                    t += legs[here][room + 1] + pickup
                    here = room + 1
                    total += t
                    count += 1
                if trip:
                    if t > latest:
                        latest = t
                    if limit is not None and t - start > limit:
                        over += t - start - limit
                t += legs[here][0]
        return latest + (total / count if count else 0.0) + over * 3600.0

    # -- the first plan ----------------------------------------------------------
    def construct(self) -> _Solution:
        """Nearest rooms first: the robot that can start loading soonest takes the
        nearest rooms left on the floor of the nearest room left, as many as it carries
        (fewer when the hot limit says so), so the far trips come last and their drive
        home is never waited for."""
        left = list(range(len(self.rooms)))
        home = self.time[self.runners[0].speed][0]
        left.sort(key=lambda i: (home[i + 1], self.rooms[i]))
        solution: _Solution = [[] for _ in self.runners]
        free = [r.ready for r in self.runners]
        while left:
            k = min(range(len(self.runners)), key=lambda j: (free[j], -self.runners[j].trays, j))
            runner = self.runners[k]
            floor = self.floor[left[0]]
            trip = [i for i in left if self.floor[i] == floor][:runner.trays]
            trip = self._sweep(trip, runner)
            while len(trip) > 1 and self._hot(trip, runner):
                trip = trip[:-1]
            for i in trip:
                left.remove(i)
            solution[k].append(trip)
            free[k] = self._end(free[k], trip, runner)
        return solution

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
    def improve(self, solution: _Solution, budget: int) -> _Solution:
        """Simulated annealing over moves that keep every trip on one floor and within
        its robot's trays: move a room, swap two rooms, move a trip to another robot
        or place, swap two trips, reverse part of a trip. Deterministic: a fixed seed,
        a fixed number of moves."""
        if budget <= 0 or not self.rooms:
            return solution
        rng = random.Random(self.seed)
        current = _copy(solution)
        cost = self.cost(current)
        best, best_cost = _copy(current), cost
        start_temp = max(cost * 0.01, 1.0)
        for step in range(budget):
            temp = start_temp * (1.0 - step / budget) + 1e-9
            candidate = self._neighbour(current, rng)
            if candidate is None:
                continue
            new = self.cost(candidate)
            if new <= cost or rng.random() < math.exp((cost - new) / temp):
                current, cost = candidate, new
                if cost < best_cost - 1e-9:
                    best, best_cost = _copy(current), cost
        return best

    def _neighbour(self, solution: _Solution, rng: random.Random) -> _Solution | None:
        trips = [(k, t) for k, mine in enumerate(solution) for t in range(len(mine))]
        move = rng.random()
        new = _copy(solution)
        if move < 0.35:                                 # move one room
            k, t = trips[rng.randrange(len(trips))]
            trip = new[k][t]
            room = trip.pop(rng.randrange(len(trip)))
            targets = [(k2, t2) for k2, t2 in trips
                       if (k2, t2) != (k, t) and new[k2][t2]
                       and self.floor[new[k2][t2][0]] == self.floor[room]
                       and len(new[k2][t2]) < self.runners[k2].trays]
            if rng.random() < 0.1 or not targets:       # or open a new trip with it
                k2 = rng.randrange(len(new))
                new[k2].insert(rng.randrange(len(new[k2]) + 1), [room])
            else:
                k2, t2 = targets[rng.randrange(len(targets))]
                dest = new[k2][t2]
                dest.insert(rng.randrange(len(dest) + 1), room)
        elif move < 0.6:                                # swap two rooms of one floor
            k, t = trips[rng.randrange(len(trips))]
            k2, t2 = trips[rng.randrange(len(trips))]
            a, b = new[k][t], new[k2][t2]
            i, j = rng.randrange(len(a)), rng.randrange(len(b))
            if self.floor[a[i]] != self.floor[b[j]] or (k, t, i) == (k2, t2, j):
                return None
            a[i], b[j] = b[j], a[i]
        elif move < 0.75:                               # move a trip (to another robot)
            k, t = trips[rng.randrange(len(trips))]
            trip = new[k].pop(t)
            k2 = rng.randrange(len(new))
            if len(trip) > self.runners[k2].trays:
                return None
            new[k2].insert(rng.randrange(len(new[k2]) + 1), trip)
        elif move < 0.85:                               # swap two trips
            k, t = trips[rng.randrange(len(trips))]
            k2, t2 = trips[rng.randrange(len(trips))]
            if (len(new[k][t]) > self.runners[k2].trays
                    or len(new[k2][t2]) > self.runners[k].trays):
                return None
            new[k][t], new[k2][t2] = new[k2][t2], new[k][t]
        else:                                           # reverse part of a trip
            k, t = trips[rng.randrange(len(trips))]
            trip = new[k][t]
            if len(trip) < 2:
                return None
            i, j = sorted(rng.sample(range(len(trip) + 1), 2))
            trip[i:j] = reversed(trip[i:j])
        for mine in new:
            mine[:] = [trip for trip in mine if trip]
        return new

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

