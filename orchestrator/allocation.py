"""Choosing a robot for a task: earliest estimated completion among the robots that can.

A robot's *projection* is what it has already promised: when it will be free, where it
will be then and how much battery it will have left. A task goes to the capable robot
whose projection plus this task finishes first, provided it can still reach a charger
afterwards above its reserve, and wait there for its turn (``charger_wait``). Projections are cached per robot and dropped whenever
the orchestrator changes that robot (``forget``), which keeps one allocation among 50
robots and 500 queued tasks to a few lookups per robot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from carefleet.maps.model import PlaceKind
from carefleet.maps.routing import Planner
from carefleet.robots.lifecycle import Robot
from carefleet.tasks.errands import Charge
from carefleet.tasks.model import Act, DockAt, Go, Order, Priority, Task


@dataclass(frozen=True, slots=True)
class Estimate:
    """Seconds, metres and watt-hours a list of orders takes, and where it ends."""

    duration: float
    distance: float
    energy: float
    end: str


@dataclass(frozen=True, slots=True)
class Projection:
    """A robot once it has done everything it has promised."""

    busy: float       # seconds from now until free
    position: str     # waypoint it will be at
    energy: float     # watt-hours left then


@dataclass(frozen=True, slots=True)
class Offer:
    robot: Robot
    finish: float     # seconds from now until this task would be done
    energy_left: float


class Allocator:
    """Estimates and robot choice for one ward; the orchestrator owns one."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.chargers = [p.id for p in planner.ward.places_of_kind(PlaceKind.CHARGER)]
        self._projections: dict[str, Projection] = {}
        self.closed: frozenset[str] = frozenset()
        #: seconds a robot would now wait for a charger (the orchestrator keeps it): work
        #: must leave a robot enough to idle that long above its reserve
        self.charger_wait = 0.0

    def set_charger_wait(self, seconds: float) -> None:
        self.charger_wait = seconds

    def set_closed(self, closed: frozenset[str]) -> None:
        """Passages changed: every estimate may be different now."""
        self.closed = closed
        self._projections.clear()

    def forget(self, robot_id: str) -> None:
        """The robot's position, task or queue changed: recompute its projection."""
        self._projections.pop(robot_id, None)

    # -- estimates ----------------------------------------------------------
    def estimate(self, orders: list[Order], start: str, robot: Robot, *,
                 closed: frozenset[str] | None = None) -> Estimate:
        """Time, distance and energy of ``orders`` from ``start`` (inf when unreachable)."""
        closed = self.closed if closed is None else closed
        speed, battery = robot.profile.speed, robot.profile.battery
        times = self.planner.times_from
        duration = distance = 0.0
        here = start
        for order in orders:
            if isinstance(order, (Go, DockAt)):
                if order.place != here:
                    duration += times(here, speed, closed=closed).get(order.place, math.inf)
                    distance += self.planner.distance(here, order.place, closed=closed)
                    here = order.place
            elif isinstance(order, Act):
                duration += order.expected
        return Estimate(duration, distance, battery.energy(distance, duration), here)

    def to_charger(self, place: str, robot: Robot, *,
                   closed: frozenset[str] | None = None) -> Estimate:
        """The cheapest way from ``place`` to any charger (inf when none is reachable)."""
        best = Estimate(math.inf, math.inf, math.inf, place)
        for charger in self.chargers:
            estimate = self.estimate([Go(charger)], place, robot, closed=closed)
            if estimate.energy < best.energy:
                best = estimate
        return best

    def projection(self, robot: Robot, tasks: dict[str, Task], now: float) -> Projection:
        cached = self._projections.get(robot.id)
        if cached is None:
            cached = self._project(robot, tasks, now)
            self._projections[robot.id] = cached
        return cached

    def _project(self, robot: Robot, tasks: dict[str, Task], now: float) -> Projection:
        battery = robot.profile.battery
        busy, here, energy = 0.0, robot.position, robot.battery_wh
        for task_id in ([robot.task] if robot.task else []) + robot.queue:
            task = tasks[task_id]
            if isinstance(task, Charge) and task.priority is Priority.LOW and task_id != robot.task:
                continue     # a top-up not started is dropped when work arrives: no credit
            estimate = self.estimate(task.plan(now), here, robot)
            busy += estimate.duration
            here = estimate.end
            energy -= estimate.energy
            if isinstance(task, Charge):
                target = battery.charged * battery.capacity_wh
                busy += max(target - energy, 0.0) / battery.charge_w * 3600.0
                energy = max(energy, target)
        return Projection(busy, here, energy)

    # -- choice -------------------------------------------------------------
    def offer(self, robot: Robot, task: Task, tasks: dict[str, Task], now: float, *,
              preempt: bool = False) -> Offer | None:
        """What ``robot`` would promise for ``task``; None if it cannot finish it safely.

        ``preempt`` estimates from the robot's current position and battery, as if
        it dropped what it is doing (urgent work).
        """
        if preempt:
            start = Projection(0.0, robot.position, robot.battery_wh)
        else:
            start = self.projection(robot, tasks, now)
        work = self.estimate(task.plan(now), start.position, robot)
        home = self.to_charger(work.end, robot)
        left = start.energy - work.energy - home.energy
        battery = robot.profile.battery
        floor = battery.reserve * battery.capacity_wh + battery.drain_idle_w * self.charger_wait / 3600.0
        if not math.isfinite(work.duration) or left < floor:
            return None
        return Offer(robot, start.busy + work.duration, left)

    def feasible_on_full_battery(self, robot: Robot, task: Task, now: float, *,
                                 closed: frozenset[str] = frozenset()) -> bool:
        """Could this robot ever do the task: charged, from a charger, with only
        ``closed`` closed (by default every passage open)?

        When this is false waiting cannot help, so the task fails; when only closures
        or today's batteries stand in the way, the task waits in the queue.
        """
        profile = robot.profile
        start = self.chargers[0] if self.chargers else robot.position
        work = self.estimate(task.plan(now), start, robot, closed=closed)
        home = self.to_charger(work.end, robot, closed=closed)
        budget = (profile.battery.charged - profile.battery.reserve) * profile.battery.capacity_wh
        return math.isfinite(work.duration) and work.energy + home.energy <= budget
