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

from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, Callable

from carefleet.orchestrator.commands import Dock, Navigate, Perform, RobotCommand, Stop
from carefleet.orchestrator.events import CommandResult, Event, Outcome, RobotStatus


class Reply(str, Enum):
    """A driver's immediate answer to a command (like rmf_demos' ``RobotAPIResult``)."""

    ACCEPTED = "accepted"
    """The robot took the command; a ``CommandResult`` will follow."""
    RETRY = "retry"
    """Temporarily unable (link busy): the runtime retries shortly."""
    IMPOSSIBLE = "impossible"
    """Will never work (unknown place, action not supported): reported as FAILED."""


Report = Callable[[Event], None]


class RobotDriver(ABC):
    """Implement these five methods to bring a robot model into CareFleet.

    ``report`` (given to the constructor by the runtime) accepts ``RobotStatus`` and
    ``CommandResult`` events; it may be called from any thread.
    """

    def __init__(self, robot_id: str, report: Report) -> None:
        self.robot_id = robot_id
        self.report = report

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


def send(driver: RobotDriver, command: RobotCommand) -> Reply:
    """Carry out one robot command; an IMPOSSIBLE reply is reported as a FAILED result."""
    if isinstance(command, Navigate):
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
