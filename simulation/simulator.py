"""The deterministic ward simulator: the one ``Host`` with a virtual clock and a simulated world.

It is a runtime like any other: the host (``orchestrator/host.py``) feeds events to the
core, commits the journal to a real SQLite file *before* carrying out the commands,
and passes robot commands to drivers, here ``SimRobot``s. Time only moves when the
next timer is due, so a 24-hour day takes seconds, and one ``random.Random(seed)``
makes every run with the same seed identical. A scripted ``restart`` is the host's
own ``restart()``: the core is thrown away and rebuilt from the store, exactly as a
crash and restart of the service would.
"""

from __future__ import annotations

import heapq
import itertools
import random
import tempfile
import time as wallclock
from pathlib import Path
from typing import Any, Callable

from carefleet.devices.day import SCENARIO_KINDS, DeviceDay
from carefleet.errors import CareFleetError, CoreFault, InputError, RobotError
from carefleet.maps.routing import Planner
from carefleet.messages import DEFAULT_LANGUAGE, catalogue, render
from carefleet.orchestrator.commands import NotifyStaff
from carefleet.orchestrator.core import Orchestrator
from carefleet.orchestrator.events import (AlertResolved, DeviceEvent, Event, FallDetected,
                                           PassageChanged,
                                           StaffAcknowledged, TaskCancelled, TaskSubmitted, Tick)
from carefleet.orchestrator.host import Change, Host, VirtualClock
from carefleet.orchestrator.store import TaskStore
from carefleet.robots.drivers.sim import SimRobot
from carefleet.simulation.cameras import watch_scene
from carefleet.simulation.result import Happening as Shown
from carefleet.simulation.result import Notification, SimResult
from carefleet.simulation.scenario import Happening, Scenario
from carefleet.simulation.telling import Teller

HEARTBEAT = 60.0        # seconds between robot status reports
LOAD_TIME = (45.0, 90.0)
SCAN_TIME = (15.0, 25.0)

Progress = Callable[[float], None]


class Simulation:
    """One run of a scenario. ``run()`` plays it to the end and returns the result."""

    def __init__(self, scenario: Scenario, *, db_path: str | Path | None = None,
                 progress: Progress | None = None, language: str = DEFAULT_LANGUAGE) -> None:
        catalogue(language)                     # refuse an unknown language up front
        self.scenario = scenario
        self.language = language
        self.tell = Teller(scenario.ward, language)
        self.clock = VirtualClock(scenario.start)
        self.rng = random.Random(scenario.seed)
        self.planner = Planner(scenario.ward)
        self.closed: frozenset[str] = frozenset()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._ticks: set[float] = set()
        self._progress = progress
        self._tmp = tempfile.TemporaryDirectory(prefix="carefleet-sim-") if db_path is None else None
        self.db_path = Path(db_path) if db_path else Path(self._tmp.name) / "tasks.sqlite"  # type: ignore[union-attr]
        with TaskStore(self.db_path) as store:
            if store.task_ids():
                raise InputError(str(self.db_path), "already holds tasks of another run; "
                                 "give a new file (a run starts from an empty store)")
        self.host = Host(self._new_orchestrator, str(self.db_path), clock=self.clock,
                         driver_timeout=None, core_faults="raise",
                         on_post=self._posted, on_due=self._due)
        self.robots = {spec.id: SimRobot(spec, self.host.post, self)
                       for spec in scenario.robots}
        self.host.drivers.update(self.robots)
        self.host.subscribe(self._observe)
        self.shown: list[Shown] = []
        self.notifications: list[Notification] = []
        #: called after every step (a test's invariant checks, ``faultmix.Promises``)
        self.after_step: Callable[[], None] | None = None
        #: the scenario's ward devices: the real pairing, verifier, rules and health watch
        self.devices = DeviceDay.attach(self, scenario.devices) if scenario.devices else None

    @property
    def now(self) -> float:
        return self.clock.t

    @property
    def orchestrator(self) -> Orchestrator:
        return self.host.core

    # == the SimWorld protocol used by SimRobot ============================
    def schedule(self, at: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (at, next(self._order), action))

    def action_time(self, robot_id: str, action: str, place: str,
                    params: dict[str, Any]) -> tuple[float, bool] | None:
        """How long an action takes here and whether it succeeds; None: until stopped."""
        residents = self.scenario.residents
        if action == "load_trays":
            return self.rng.uniform(*LOAD_TIME), True
        if action == "await_pickup":
            if self.rng.random() < residents.no_pickup_share:
                return None                       # nobody comes: the core's timeout ends it
            return self.rng.uniform(*residents.pickup_delay), True
        if action == "scan":
            return self.rng.uniform(*SCAN_TIME), True
        return None                               # attend: until staff take over

    # == running ===========================================================
    def run(self) -> SimResult:
        started = wallclock.perf_counter()
        scenario = self.scenario
        for happening in scenario.happenings:
            self.schedule(happening.at, lambda h=happening: self._happen(h))
        for robot in self.robots.values():
            self._heartbeat(robot)
        self.schedule(self.now, lambda: self._feed(Tick()))
        next_report = self.now
        while self._timers and self._timers[0][0] <= scenario.end:
            at, _, action = heapq.heappop(self._timers)
            self.clock.t = at
            action()
            if self.after_step is not None:
                self.after_step()
            if self._progress and at >= next_report:
                self._progress((at - scenario.start) / (scenario.end - scenario.start))
                next_report = at + 600.0
        self.clock.t = scenario.end
        if self._progress:
            self._progress(1.0)
        return self._result(wallclock.perf_counter() - started)

    def close(self) -> None:
        if self.devices is not None:
            self.devices.close()
        self.host.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # == the host's hooks ===================================================
    def _new_orchestrator(self, incarnation: int) -> Orchestrator:
        scenario = self.scenario
        return Orchestrator(scenario.ward, scenario.robots, start=self.now,
                            schedules=scenario.schedules, planner=self.planner,
                            incarnation=incarnation)

    def _feed(self, event: Event) -> None:
        """Hand one scripted event to the host now; a refusal is shown, not fatal
        (a scenario may script a mistake), while core faults end the run."""
        try:
            self.host.handle(event)
        except (InputError, RobotError) as error:
            self._show("rejected", str(error))

    def _posted(self) -> None:
        """A driver reported: delivered as a separate step, never re-entrantly."""
        self.schedule(self.now, self._step)

    def _step(self) -> None:
        try:
            self.host.step()
        except CoreFault:
            raise
        except CareFleetError as error:
            self._show("rejected", str(error))

    def _due(self, at: float) -> None:
        if at <= self.scenario.end and at not in self._ticks:
            self._ticks.add(at)
            self.schedule(max(at, self.now), lambda: self._poll(at))

    def _poll(self, at: float) -> None:
        self._ticks.discard(at)
        self.host.poll()

    def _observe(self, change: Change) -> None:
        if change.kind == "command":
            command = change.data
            self.robots[command.robot_id].task_hint = self.orchestrator.robots[command.robot_id].task
        elif change.kind == "notify":
            command: NotifyStaff = change.data
            text = render(command.key, command.params, self.language)
            self.notifications.append(Notification(at=self.now, severity=command.severity.value,
                                                   key=command.key, text=text,
                                                   task_id=command.task_id))
            if command.escalated or command.alert_id is None:
                return
            if command.key == "fall_detected" and command.task_id:
                self._staff_will_acknowledge(command.task_id)
            else:
                self._staff_will_resolve(command.alert_id)

    def _staff_will_acknowledge(self, task_id: str) -> None:
        delay = self.scenario.residents.acknowledge_after
        self.schedule(self.now + delay, lambda: self._acknowledge(task_id))

    def _staff_will_resolve(self, alert_id: str) -> None:
        """Nurses answer every other alert too (after the same delay), so a simulated
        day does not page all staff for ever about a call button nobody answers."""
        delay = self.scenario.residents.acknowledge_after
        self.schedule(self.now + delay, lambda: self._resolve(alert_id))

    def _resolve(self, alert_id: str) -> None:
        try:
            alert = self.orchestrator.alerts.get(alert_id)
        except InputError:
            return                               # resolved meanwhile (or before a restart)
        if alert.is_open:
            self._feed(AlertResolved(alert_id=alert_id, by="nurse on duty"))

    def _acknowledge(self, task_id: str) -> None:
        task = self.orchestrator.tasks.get(task_id)
        if task is not None and task.is_open:
            self._feed(StaffAcknowledged(task_id=task_id, by="nurse on duty"))

    def _heartbeat(self, robot: SimRobot) -> None:
        robot.heartbeat()
        self.schedule(self.now + HEARTBEAT, lambda: self._heartbeat(robot))

    # == scripted happenings ===============================================
    def _happen(self, h: Happening) -> None:
        args = h.args
        robot = self.robots.get(args.get("robot", ""))
        kind = h.kind
        marker = self.tell.happening(kind, args)
        if marker is not None:
            self._show(*marker)
        if kind in ("fall", "activity"):
            self._resident_moves(args["room"], args.get("scene", "fall"))
        elif kind == "call_button":
            self._feed(DeviceEvent(device_id=f"call_{args['room']}", kind="call_button",
                                   room=args["room"]))
        elif kind == "robot_fault" and robot:
            robot.break_down(args.get("error", "drive failure"))
            if "repair_after" in args:
                self.schedule(self.now + args["repair_after"], robot.repair)
        elif kind == "robot_stuck" and robot:
            robot.get_stuck(args["duration"])
        elif kind == "battery" and robot:
            robot.set_battery(args["level"])
        elif kind == "estop" and robot:
            robot.press_estop()
            if "release_after" in args:
                self.schedule(self.now + args["release_after"], robot.release_estop)
        elif kind in ("close", "open"):
            self._passage(args["what"], kind == "close")
            if kind == "close" and "duration" in args:
                self.schedule(self.now + args["duration"],
                              lambda: self._passage(args["what"], False))
        elif kind == "submit":
            self._feed(TaskSubmitted(request=args["task"], requested_by=args["by"],
                                     task_id=args.get("id")))
        elif kind == "cancel":
            self._feed(TaskCancelled(task_id=args["task"], requested_by=args.get("by", "staff")))
        elif kind == "restart":
            self._restart()
        elif kind in SCENARIO_KINDS and self.devices is not None:
            self.devices.happen(kind, args)

    def _resident_moves(self, room: str, scene: str) -> None:
        """A fall (or an everyday movement) in ``room``: seen by its camera, if it has one.

        With a camera, only what the real detector reports on the rendered footage
        reaches the orchestrator, after the detector's own delay; without one, a fall
        is reported at once by the resident's wearable.
        """
        self._show(*self.tell.scene(room, scene))
        camera = self.scenario.cameras.get(room)
        if camera is None:
            self._feed(FallDetected(room=room, source="wearable"))
            return
        sighting = watch_scene(camera, scene, seed=self.rng.randrange(2 ** 31))
        if sighting is None:
            if scene == "fall":
                self._show(*self.tell.missed(camera, room))
            return

        def alarm() -> None:
            self._show(*self.tell.alarm(camera, sighting.confidence))
            self._feed(FallDetected(room=room, source=camera, confidence=sighting.confidence))
        self.schedule(self.now + sighting.delay, alarm)

    def _passage(self, what: str, closed: bool) -> None:
        self._show(*self.tell.passage(what, closed))
        names = set(self.closed)
        (names.add if closed else names.discard)(what)
        self.closed = frozenset(names)
        self._feed(PassageChanged(what=what, closed=closed))
        for robot in self.robots.values():
            robot.passages_changed()

    def _restart(self) -> None:
        """Crash and restart: all in-memory orchestrator state is gone; the store remains."""
        self._show(*self.tell.restart())
        self.host.restart()
        for task in self.orchestrator.tasks.values():
            if task.kind == "fall_response" and task.is_open:
                self._staff_will_acknowledge(task.id)

    def _show(self, kind: str, text: str) -> None:
        self.shown.append(Shown(at=self.now, kind=kind, text=text))

    # == result ============================================================
    def _result(self, wall: float) -> SimResult:
        scenario = self.scenario
        records = []
        store = self.host.store
        for record in store.all_tasks():
            record = dict(record)
            record["history"] = [list(row) for row in store.history(record["id"])]
            records.append(record)
        return SimResult(
            scenario=scenario.name, source=scenario.source, ward=scenario.ward.name,
            ward_file=scenario.ward_file, timezone=scenario.ward.timezone, seed=scenario.seed,
            start=scenario.start, end=scenario.end,
            robots=[robot.close_record() for robot in self.robots.values()],
            tasks=records, happenings=self.shown, notifications=self.notifications,
            restarts=self.host.restarts, lost_tasks=self.host.lost, wall_seconds=wall,
            devices=self.devices.report() if self.devices is not None else None)
