"""The vendor surface: what a robot driver implements, and how commands reach it.

Kept as small as Open-RMF's EasyFullControl: four commands and one status call. A
driver answers each command at once with a ``Reply`` (accepted, try again, or
impossible) and reports how it *ended* later, through the ``report`` callback it was
given, as a ``CommandResult`` carrying the same ``command_id``. Status
(position, battery, mode) flows back as ``RobotStatus`` events whenever it changes
and at least every minute. A driver never decides what to do next; the orchestrator
does.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Protocol

from carefleet.maps.model import Ward
from carefleet.orchestrator.commands import (Dock, Navigate, Perform, RobotCommand, RoutePoint,
                                             Stop)
from carefleet.orchestrator.events import CommandResult, Event, Outcome, Pose, RobotStatus


class Reply(str, Enum):
    """A driver's immediate answer to a command (like rmf_demos' ``RobotAPIResult``)."""

    ACCEPTED = "accepted"
    """The robot took the command; a ``CommandResult`` will follow."""
    RETRY = "retry"
    """Temporarily unable (link busy): the runtime retries shortly."""
    IMPOSSIBLE = "impossible"
    """Will never work (unknown place, action not supported): reported as FAILED."""


Report = Callable[[Event], Any]


class Clock(Protocol):
    """The runtime's clock (virtual in the simulator, the wall clock live)."""

    def now(self) -> float: ...


@dataclass(frozen=True, slots=True)
class DriverContext:
    """What a driver may know of the ward and the runtime.

    ``ward`` holds the coordinates (floors are the robots' map names, waypoints and
    places with x/y); ``clock`` is the runtime's; ``post`` takes reports from any thread.
    """

    ward: Ward
    clock: Clock
    post: Report

    def pose_of(self, place_or_waypoint: str) -> Pose:
        """Where a place's stop (or a waypoint) is, as a pose to send a robot to."""
        places = self.ward.places
        waypoint_id = places[place_or_waypoint].waypoint if place_or_waypoint in places \
            else place_or_waypoint
        w = self.ward.waypoints[waypoint_id]
        return Pose(floor=w.floor, x=w.x, y=w.y)


class Execution:
    """One command as the driver sees it: mark it succeeded, failed or cancelled, once,
    from any thread (Open-RMF's ``execution.finished()``); the id stays underneath."""

    def __init__(self, robot_id: str, command_id: str, report: Report) -> None:
        self.robot_id, self.command_id = robot_id, command_id
        self._report = report
        self._lock = threading.Lock()
        self.outcome: Outcome | None = None

    def succeeded(self, *, position: str | None = None, detail: str = "") -> bool:
        return self._finish(Outcome.SUCCEEDED, position, detail)

    def failed(self, detail: str = "", *, position: str | None = None) -> bool:
        return self._finish(Outcome.FAILED, position, detail)

    def cancelled(self, detail: str = "") -> bool:
        return self._finish(Outcome.CANCELLED, None, detail)

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def _finish(self, outcome: Outcome, position: str | None, detail: str) -> bool:
        """Report the end once; later marks are ignored (False), as a late callback is."""
        with self._lock:
            if self.outcome is not None:
                return False
            self.outcome = outcome
        self._report(CommandResult(robot_id=self.robot_id, command_id=self.command_id,
                                   outcome=outcome, position=position, detail=detail))
        return True


class RobotDriver(ABC):
    """Implement these five methods to bring a robot model into CareFleet.

    ``report`` (given to the constructor by the runtime) accepts ``RobotStatus`` and
    ``CommandResult`` events; it may be called from any thread. ``context`` (optional)
    gives the ward's coordinates and the clock; ``execution(command_id)`` gives the
    handle to mark a command's end, ``route(command_id)`` the route the core planned.
    """

    def __init__(self, robot_id: str, report: Report,
                 context: DriverContext | None = None) -> None:
        self.robot_id = robot_id
        self.report = report
        self.context = context
        self._routes: dict[str, tuple[RoutePoint, ...]] = {}

    def execution(self, command_id: str) -> Execution:
        """The handle for command ``command_id`` (keep it; mark it when the robot is done)."""
        return Execution(self.robot_id, command_id, self.report)

    def route(self, command_id: str) -> tuple[RoutePoint, ...]:
        """The route the core planned for the drive ``command_id`` (empty if none)."""
        return self._routes.get(command_id, ())

    @abstractmethod
    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        """Start driving to ``waypoint`` (the stop of ``place``); replaces any drive."""

    @abstractmethod
    def stop(self, command_id: str) -> Reply:
        """Stop the command ``command_id`` (report it CANCELLED); stay where you are."""

    @abstractmethod
    def perform(self, command_id: str, action: str, place: str, params: dict[str, Any]) -> Reply:
        """Do a named action here (``load_trays``, ``await_pickup``, ``scan``, ``attend``)."""

    @abstractmethod
    def dock(self, command_id: str, place: str) -> Reply:
        """Dock at the charger at ``place`` and charge."""

    @abstractmethod
    def status(self) -> RobotStatus:
        """The robot's current position, battery and mode."""


class AsyncRobotDriver(RobotDriver):
    """The asyncio face: implement the ``async_`` methods; they run on ``loop`` (the
    driver's own event loop, in the runtime's thread or another), and the sync methods
    the runtime calls wait for them (the runtime bounds how long)."""

    loop: asyncio.AbstractEventLoop

    def __init__(self, robot_id: str, report: Report, loop: asyncio.AbstractEventLoop,
                 context: DriverContext | None = None) -> None:
        super().__init__(robot_id, report, context)
        self.loop = loop

    def _run(self, coroutine: Any) -> Any:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coroutine.close()
            raise RuntimeError("a sync driver call from inside its own event loop would "
                               "deadlock; call the async_ method instead")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        return self._run(self.async_navigate(command_id, place, waypoint))

    def stop(self, command_id: str) -> Reply:
        return self._run(self.async_stop(command_id))

    def perform(self, command_id: str, action: str, place: str, params: dict[str, Any]) -> Reply:
        return self._run(self.async_perform(command_id, action, place, params))

    def dock(self, command_id: str, place: str) -> Reply:
        return self._run(self.async_dock(command_id, place))

    def status(self) -> RobotStatus:
        return self._run(self.async_status())

    @abstractmethod
    async def async_navigate(self, command_id: str, place: str, waypoint: str) -> Reply: ...

    @abstractmethod
    async def async_stop(self, command_id: str) -> Reply: ...

    @abstractmethod
    async def async_perform(self, command_id: str, action: str, place: str,
                            params: dict[str, Any]) -> Reply: ...

    @abstractmethod
    async def async_dock(self, command_id: str, place: str) -> Reply: ...

    @abstractmethod
    async def async_status(self) -> RobotStatus: ...


def send(driver: RobotDriver, command: RobotCommand) -> Reply:
    """Carry out one robot command; an IMPOSSIBLE reply is reported as a FAILED result."""
    if isinstance(command, Navigate):
        driver._routes = {command.command_id: command.route}     # only the current drive
        reply = driver.navigate(command.command_id, command.place, command.waypoint)
    elif isinstance(command, Perform):
        reply = driver.perform(command.command_id, command.action, command.place, command.params)
    elif isinstance(command, Dock):
        reply = driver.dock(command.command_id, command.place)
    elif isinstance(command, Stop):
        reply = driver.stop(command.command_id)
    else:
        raise TypeError(f"not a robot command: {command!r}")
    if reply is Reply.IMPOSSIBLE and not isinstance(command, Stop):
        driver.report(CommandResult(robot_id=driver.robot_id, command_id=command.command_id,
                                    outcome=Outcome.FAILED, detail="driver refused the command"))
    return reply
