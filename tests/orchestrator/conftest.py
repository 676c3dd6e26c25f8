"""Shared fixtures for the orchestrator core tests: the demo ward (loaded once), robot
profiles, and ``ScriptedFleet``, a test double for every robot driver at once.

``ScriptedFleet`` feeds events to one ``Orchestrator`` at explicit times and answers its
commands the way drivers would, like py_trees' ``StatusQueue``: each ``Navigate`` ends
``SUCCEEDED`` at the estimated arrival time, each ``Perform`` after ``ACTION_SECONDS``
with the next outcome scripted for that action (SUCCEEDED when nothing is scripted).
``Dock`` and ``attend`` are never answered (a charge ends on a status report, attending
on a staff acknowledgement). Nothing sleeps: time is
only ever the ``now`` argument.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Iterable

import pytest

from carefleet.maps import DEMO_WARD, Ward, load_ward
from carefleet.orchestrator.commands import Command, Dock, Navigate, Perform, Stop
from carefleet.orchestrator.core import Orchestrator, Policy
from carefleet.orchestrator.events import (CommandResult, DriverMode, Event, Outcome,
                                           RobotStatus, TaskSubmitted)
from carefleet.orchestrator.journal import JournalEntry, TaskSaved
from carefleet.robots.model import RobotProfile, RobotSpec
from orchestrator_helpers import ALL_ROUND, MEAL_BOT, PATROL_BOT, START, ZONE, finished_view

ACTION_SECONDS = 10.0


def local(day: int, hour: int, minute: int = 0) -> float:
    """Epoch seconds of ``day`` June 2025 at ``hour:minute`` in the ward's time zone."""
    return datetime(2025, 6, day, hour, minute, tzinfo=ZONE).timestamp()


class ScriptedFleet:
    """Test double for the drivers of every robot: answers commands at scripted times."""

    def __init__(self, orchestrator: Orchestrator, now: float = START,
                 script: dict[str, list[Outcome]] | None = None) -> None:
        self.orch = orchestrator
        self.now = now
        self.sent: list[Command] = []
        self.journal: list[JournalEntry] = []
        self.batch: list[JournalEntry] = []
        self.pending: dict[str, tuple[float, Command]] = {}     # robot id -> (due, command)
        self.script: dict[str, list[Outcome]] = defaultdict(list, script or {})
        #: every task the core has held, finished ones too (they leave the core's memory)
        self.tasks: dict[str, Any] = dict(orchestrator.tasks)

    # -- feeding -----------------------------------------------------------
    def feed(self, event: Event, at: float | None = None) -> list[Command]:
        if at is not None:
            self.now = at
        out = self.orch.handle(event, self.now)
        self.tasks.update(self.orch.tasks)
        self.sent += out
        self.batch = self.orch.take_journal()      # journal entries of this event only
        for entry in self.batch:                   # born and finished within this event
            if isinstance(entry, TaskSaved) and entry.record["id"] not in self.tasks:
                self.tasks[entry.record["id"]] = finished_view(entry.record)
        self.journal += self.batch
        for command in out:
            if isinstance(command, Stop):
                due_cmd = self.pending.get(command.robot_id)
                if due_cmd and due_cmd[1].command_id == command.command_id:
                    del self.pending[command.robot_id]
            elif isinstance(command, (Navigate, Perform, Dock)):
                self.pending[command.robot_id] = (self._due(command), command)
        return out

    def submit(self, request: dict[str, Any], by: str = "staff:anna", at: float | None = None,
               task_id: str | None = None) -> list[Command]:
        return self.feed(TaskSubmitted(request=request, requested_by=by, task_id=task_id), at)

    def report(self, robot_id: str, position: str, battery: float = 1.0,
               mode: DriverMode = DriverMode.READY, at: float | None = None,
               error: str | None = None) -> list[Command]:
        return self.feed(RobotStatus(robot_id=robot_id, position=position, battery=battery,
                                     mode=mode, error=error), at)

    def connect_all(self) -> list[Command]:
        out: list[Command] = []
        for robot in self.orch.robots.values():
            out += self.report(robot.id, robot.spec.start)
        return out

    def answer(self, robot_id: str, outcome: Outcome = Outcome.SUCCEEDED,
               at: float | None = None, detail: str = "") -> list[Command]:
        """End ``robot_id``'s pending command with ``outcome`` (at its due time by default)."""
        due, command = self.pending.pop(robot_id)
        position = command.place if isinstance(command, Navigate) and \
            outcome is Outcome.SUCCEEDED else None
        return self.feed(CommandResult(robot_id=robot_id, command_id=command.command_id,
                                       outcome=outcome, position=position, detail=detail),
                         max(self.now, due) if at is None else at)

    # -- running -----------------------------------------------------------
    def step(self) -> list[Command] | None:
        """Answer the pending Navigate/Perform due first; None when nothing is pending."""
        due = [(d, rid) for rid, (d, c) in self.pending.items() if not isinstance(c, Dock)
               and not (isinstance(c, Perform) and c.action == "attend")]
        if not due:
            return None
        _, robot_id = min(due)
        command = self.pending[robot_id][1]
        key = "navigate" if isinstance(command, Navigate) else command.action
        outcome = self.script[key].pop(0) if self.script[key] else Outcome.SUCCEEDED
        return self.answer(robot_id, outcome)

    def run(self, max_steps: int = 200) -> None:
        for _ in range(max_steps):
            if self.step() is None:
                return
        raise AssertionError(f"still busy after {max_steps} answers: {self.pending}")

    def _due(self, command: Command) -> float:
        if isinstance(command, Navigate):
            robot = self.orch.robots[command.robot_id]
            return self.now + self.orch.planner.travel_time(
                robot.position, command.place, robot.profile.speed, closed=self.orch.closed)
        return self.now + ACTION_SECONDS

    # -- looking -----------------------------------------------------------
    def of(self, kind: type, robot_id: str | None = None) -> list[Any]:
        return [c for c in self.sent if isinstance(c, kind)
                and (robot_id is None or getattr(c, "robot_id", None) == robot_id)]

    def trace(self, robot_id: str | None = None) -> list[str]:
        """Robot commands as short text, e.g. ``"r1 navigate kitchen"``."""
        lines = []
        for c in self.sent:
            if robot_id is not None and getattr(c, "robot_id", None) != robot_id:
                continue
            if isinstance(c, Navigate):
                lines.append(f"{c.robot_id} navigate {c.place}")
            elif isinstance(c, Perform):
                lines.append(f"{c.robot_id} perform {c.action} {c.place}")
            elif isinstance(c, Dock):
                lines.append(f"{c.robot_id} dock {c.place}")
            elif isinstance(c, Stop):
                lines.append(f"{c.robot_id} stop")
        return lines


@pytest.fixture(scope="session")
def ward() -> Ward:
    return load_ward(DEMO_WARD)


@pytest.fixture
def make_fleet(ward: Ward) -> Callable[..., ScriptedFleet]:
    """``make_fleet([("r1", MEAL_BOT, "kitchen"), ...], connect=True, **orchestrator_kw)``.

    Scripted robots report only when a test says so, so robots never go offline for
    silence here unless a test gives ``silence_timeout``."""
    def make(robots: Iterable[tuple[str, RobotProfile, str]], *, connect: bool = True,
             script: dict[str, list[Outcome]] | None = None, start: float = START,
             silence_timeout: float | None = None, **kw: Any) -> ScriptedFleet:
        kw["policy"] = replace(kw.get("policy", Policy()), silence_timeout=silence_timeout)
        specs = [RobotSpec(id=rid, profile=profile, start=place) for rid, profile, place in robots]
        fleet = ScriptedFleet(Orchestrator(ward, specs, start=start, **kw), start, script)
        fleet.journal += fleet.orch.take_journal()
        if connect:
            fleet.connect_all()
        return fleet
    return make


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def profiles() -> Any:
    """Robot profiles by role: ``meal`` (4 trays), ``patrol`` (patrol + camera), ``all_round``."""
    from types import SimpleNamespace
    return SimpleNamespace(meal=MEAL_BOT, patrol=PATROL_BOT, all_round=ALL_ROUND)


@pytest.fixture
def local_time() -> Callable[..., float]:
    """``local_time(day, hour, minute=0)``: epoch seconds of that June 2025 ward-local time."""
    return local


@pytest.fixture
def start() -> float:
    """Where every scripted fleet's clock starts: 2 June 2025 08:00 ward-local."""
    return START
