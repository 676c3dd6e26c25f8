"""Simulated robots on the wall clock: the demo ward, live, with no hardware.

``carefleet serve --demo`` (and a site robot with ``driver: simulated``) drives the very
``SimRobot`` the simulator uses, but in real time (optionally N times faster): a
``ScaledClock`` gives the time, and a ``RealTimeWorld`` runs the robots' timers on one
thread. Everything a simulated robot does happens under the world's lock, whether a
timer fires or the host calls the driver from its worker thread, so the robot never
sees two threads at once.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from typing import Any, Callable

from carefleet.maps.routing import Planner
from carefleet.orchestrator.events import RobotStatus
from carefleet.robots.driver import Reply, RobotDriver
from carefleet.robots.drivers.sim import SimRobot
from carefleet.robots.model import RobotSpec

HEARTBEAT = 60.0          # simulated seconds between status reports
LOAD_TIME = (45.0, 90.0)
SCAN_TIME = (15.0, 25.0)
PICKUP_DELAY = (15.0, 90.0)


class ScaledClock:
    """The wall clock, ``speed`` times faster from the moment it was made."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._wall0 = time.time()
        self._t0 = self._wall0 if start is None else start

    def now(self) -> float:
        return self._t0 + (time.time() - self._wall0) * self.speed

    def wall_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds last on the wall."""
        return simulated / self.speed


class RealTimeWorld:
    """What ``SimRobot`` needs from a world (``SimWorld``), on a real clock."""

    def __init__(self, planner: Planner, clock: ScaledClock, *, seed: int = 1) -> None:
        self.planner = planner
        self.clock = clock
        self.closed: frozenset[str] = frozenset()
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition(self.lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.robots: dict[str, SimRobot] = {}

    @property
    def now(self) -> float:
        return self.clock.now()

    def schedule(self, at: float, action: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._timers, (at, next(self._order), action))
            self._wake.notify()

    def action_time(self, robot_id: str, action: str, place: str,
                    params: dict[str, Any]) -> tuple[float, bool] | None:
        if action == "load_trays":
            return self.rng.uniform(*LOAD_TIME), True
        if action == "await_pickup":
            return self.rng.uniform(*PICKUP_DELAY), True
        if action == "scan":
            return self.rng.uniform(*SCAN_TIME), True
        return None                        # attend: until staff take over

    def add_robot(self, spec: RobotSpec, report: Callable[[Any], Any]) -> RobotDriver:
        """A simulated robot in this world, behind the lock, reporting every minute."""
        with self.lock:
            robot = SimRobot(spec, report, self)
            self.robots[spec.id] = robot
            self._heartbeat(robot)
        return LockedDriver(robot, self.lock)

    def _heartbeat(self, robot: SimRobot) -> None:
        robot.heartbeat()
        self.schedule(self.now + HEARTBEAT, lambda: self._heartbeat(robot))

    def passages_changed(self, closed: frozenset[str]) -> None:
        """The ward's closures changed (staff, through the core): robots re-plan."""
        with self.lock:
            if closed != self.closed:
                self.closed = closed
                for robot in self.robots.values():
                    robot.passages_changed()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="simulated robots", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._wake:
            while not self._stop.is_set():
                if not self._timers:
                    self._wake.wait(1.0)
                    continue
                due = self._timers[0][0] - self.now
                if due > 0:
                    self._wake.wait(min(self.clock.wall_seconds(due), 1.0))
                    continue
                _, _, action = heapq.heappop(self._timers)
                action()


class LockedDriver(RobotDriver):
    """A simulated robot as the host sees it: every call under the world's lock."""

    def __init__(self, robot: SimRobot, lock: threading.RLock) -> None:
        super().__init__(robot.robot_id, robot.report)
        self.robot, self.lock = robot, lock

    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        with self.lock:
            return self.robot.navigate(command_id, place, waypoint)

    def stop(self, command_id: str) -> Reply:
        with self.lock:
            return self.robot.stop(command_id)

    def perform(self, command_id: str, action: str, place: str, params: dict[str, Any]) -> Reply:
        with self.lock:
            return self.robot.perform(command_id, action, place, params)

    def dock(self, command_id: str, place: str) -> Reply:
        with self.lock:
            return self.robot.dock(command_id, place)

    def status(self) -> RobotStatus:
        with self.lock:
            return self.robot.status()
