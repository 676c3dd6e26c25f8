"""The orchestrator core: events in, commands out, no I/O, no wall clock.

``Orchestrator.handle(event, now)`` is the only way in. It updates the robots and
tasks it keeps, and returns the commands for the runtime to carry out; what must be
remembered is left in ``journal`` for the runtime to store *before* it acts. The same
events at the same times always give the same commands, which is what lets the
simulator run a day in seconds and every test replay exactly.

Policy in one place (each piece is a method below):

- **dispatch**: queued tasks go, most urgent first, to the capable robot that would
  finish them first (``allocation``); a robot works its queue in priority order.
- **pre-emption**: an urgent task takes the robot that can reach it first at once; the
  task it interrupts is paused at the head of that robot's queue and resumed after.
- **batteries**: below its low threshold a robot finishes its current task if it can
  still reach a charger (else hands it back), hands back its queue, and charges at
  the nearest free charger; idle robots top up. No task is given to a robot that
  cannot finish it and still reach a charger above its reserve.
- **failures**: a robot fault, a failed navigation or an overdue command hands the
  task to another robot; after ``retry_limit`` retries the task fails and staff are
  told why. A robot silent past ``silence_timeout`` goes offline and hands its work back.
- **waiting, not failing**: a task that cannot be carried out *now* (no capable robot
  available, everything behind a closure, no charger reachable) waits with a reason,
  and staff are told once; it never fails and re-creates itself in the same instant.

``handle`` is all-or-nothing, as h11's connection is: a refused event (a caller's
``InputError``, a robot's ``RobotError``) changes nothing at all, not even the clock;
an unexpected exception inside the core is a bug, after which it refuses every event
(``CoreFault``) until the runtime rebuilds it from the store, so no half-applied state
ever reaches a robot or the store.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from carefleet.errors import CoreFault, InputError, RobotError
from carefleet.maps.model import PlaceKind, Ward
from carefleet.maps.routing import NoRoute, Planner
from carefleet.orchestrator.alerts import Alert, AlertBook, AlertPriority, EscalationPolicy
from carefleet.orchestrator.allocation import Allocator, Offer
from carefleet.orchestrator.commands import (Command, Dock, Navigate, NotifyStaff, Perform,
                                             RoutePoint, Severity, Stop)
from carefleet.orchestrator.events import (AlertAcknowledged, AlertResolved, CommandResult,
                                           DeviceEvent, DriverMode, Event,
                                           FallDetected, Outcome, PassageChanged, Pose,
                                           RobotHeld, RobotStatus, ScheduleChanged,
                                           StaffAcknowledged, TaskCancelled, TaskSubmitted, Tick)
from carefleet.orchestrator.journal import (AlertSaved, Audited, JournalEntry, ScheduleMarked,
                                            StateSaved, TaskSaved)
from carefleet.orchestrator.meal_plan import Runner, plan_service
from carefleet.orchestrator.schedules import (MealService, PatrolSchedule, Schedule, next_slot,
                                              schedule_from_record, schedule_record,
                                              slots_between)
from carefleet.robots.lifecycle import Robot, RobotState
from carefleet.robots.model import Capability, RobotSpec
from carefleet.tasks.errands import Charge
from carefleet.tasks.fall_response import FallResponse
from carefleet.tasks.meal import LOAD_SECONDS, PICKUP_EXPECTED, MealDelivery
from carefleet.tasks.model import FINAL, Act, DockAt, Go, Priority, Task, TaskState
from carefleet.tasks.requests import build_task, task_from_record

ORCHESTRATOR = "orchestrator"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Tunable rules; the defaults suit a ward of a few robots."""

    retry_limit: int = 2                # hand-overs before a task fails and staff are told
    navigate_slack: float = 2.0         # a drive is overdue after slack x estimate + margin
    navigate_margin: float = 120.0      # seconds
    topup_below: float = 0.6            # idle robots with nothing to do charge below this
    startup_grace: float = 15.0         # seconds to wait for every robot's first report
    silence_timeout: float | None = 300.0  # a robot silent this long goes offline (drivers
    #                                        report at least once a minute)
    catch_up_limit: float = 3600.0      # a slot missed by more than this is reported, not run
    charge_retry: float = 300.0         # after a failed charge, wait this long before the next
    charger_yield_margin: float = 0.10  # a charging robot gives its charger to a low one
    #                                     when it has this much more than both its own
    #                                     low threshold and the low robot's battery
    meal_charge_window: float = 5400.0  # seconds before a meal service in which idle meal
    topup_before_meal: float = 0.8      # robots top up below this instead of topup_below


class Orchestrator:
    """One ward's robots and tasks. Not thread-safe: one runtime drives it."""

    def __init__(self, ward: Ward, robots: Iterable[RobotSpec], *, start: float,
                 schedules: Iterable[Schedule] = (), policy: Policy = Policy(),
                 planner: Planner | None = None, incarnation: int = 1,
                 escalation: EscalationPolicy | None = None) -> None:
        """``incarnation`` (the store counts them) goes into every command id, so ids
        stay unique across restarts."""
        self.ward = ward
        self.zone = ZoneInfo(ward.timezone)
        self.planner = planner or Planner(ward)
        self.allocator = Allocator(self.planner)
        self.policy = policy
        self.robots: dict[str, Robot] = {}
        for spec in robots:
            if spec.id in self.robots:
                raise InputError("fleet", f"robot id '{spec.id}' is used twice", field="robots")
            self.robots[spec.id] = Robot(spec, self.planner.waypoint_of(spec.start))
            self.robots[spec.id].last_seen = start
        self.tasks: dict[str, Task] = {}
        self.closed: frozenset[str] = frozenset()
        self.schedules = {s.name: s for s in schedules}
        self.marks = {name: start for name in self.schedules}
        self._slot_cache: dict[str, tuple[float, float]] = {}   # name -> (mark, next slot)
        self.now = start
        self.started = start
        self.journal: list[JournalEntry] = []
        self._out: list[Command] = []
        self._dirty: set[str] = set()
        self._next_command = 0
        self._next_task = 0
        self.incarnation = incarnation
        self.known: dict[str, str] = {}           # finished task id -> its final state
        self.broken: str | None = None            # why the core stopped taking events
        self._finished: set[str] = set()          # closed during this event: leave memory
        self._charge_of: dict[str, str] = {}      # robot id -> its open charge task
        self._told: dict[str, str] = {}           # task id -> why it waits (staff were told)
        self.alerts = AlertBook(escalation, incarnation=incarnation)
        # Indexes that keep every event's cost independent of the fleet's and the task
        # list's size: robots changed by this event (and not yet shown to the host's
        # observers), queued tasks and those never yet offered to the whole fleet,
        # command deadlines in a heap, robots waiting to retry a charge, and the first
        # moment any robot can fall silent.
        self._touched: set[str] = set(self.robots)
        self._unseen: set[str] = set(self.robots)
        for robot in self.robots.values():
            robot.sink = self._touched
        self._queued: set[str] = set()
        self._fresh: set[str] = set()
        self._order_of_queue: list[Task] | None = []   # ``_queued`` by Task.sort_key
        self._deadlines: list[tuple[float, str]] = []
        self._retrying: set[str] = set()
        self._silence_check_at = start
        self._charger_scan_at = start

    # == the one way in ====================================================
    def handle(self, event: Event, now: float) -> list[Command]:
        """Apply ``event`` at time ``now`` and return the commands to carry out.

        Raises ``InputError`` for a caller's mistake (unknown task, malformed request)
        and ``RobotError`` for a robot's (unknown waypoint), having changed nothing;
        ``CoreFault`` for a bug in here, after which every event is refused.
        """
        if self.broken is not None:
            raise CoreFault(f"orchestrator stopped after an internal error ({self.broken}); "
                            "it must be rebuilt from the store")
        handler = self._HANDLERS.get(type(event))
        if handler is None:
            raise InputError("event", f"unknown event type {type(event).__name__!r}")
        if now < self.now:
            raise InputError("clock", f"time went backwards: {now} after {self.now}")
        before = (self.now, len(self.journal), self._next_task, self._next_command)
        self.now = now
        self._out = []
        self._touched.clear()
        try:
            handler(self, event)
        except (InputError, RobotError):
            self.now, kept, self._next_task, self._next_command = before
            del self.journal[kept:]
            self._out, self._dirty, self._finished = [], set(), set()
            raise
        except Exception as exc:
            self._break(event, exc)
        try:
            self._after_event()
        except Exception as exc:
            self._break(event, exc)
        self._unseen |= self._touched
        return self._out

    def take_changed_robots(self) -> list[Robot]:
        """Robots whose state, place, battery, task, queue, error or pause changed since
        the last call (all of them at first): what a read model must show again."""
        ids, self._unseen = self._unseen, set()
        return [self.robots[i] for i in sorted(ids) if i in self.robots]

    def _changed(self, robot: Robot) -> None:
        """The robot's position, task or queue changed: its projection is stale, and
        this event's battery and dispatch checks (and the read model) look at it."""
        self.allocator.forget(robot.id)
        self._touched.add(robot.id)

    def _after_event(self) -> None:
        """What every event is followed by: deadlines, schedules, batteries, dispatch."""
        self._time_out_commands()
        self._check_silence()
        self._fire_schedules()
        self._manage_batteries()
        self._dispatch()
        self._escalate()
        self._save_dirty()

    def _break(self, event: Event, exc: Exception) -> None:
        self.broken = f"{type(exc).__name__}: {exc}"
        self._out = []
        raise CoreFault(f"orchestrator core failed while handling {type(event).__name__} "
                        f"({self.broken}); it takes no more events until rebuilt from the store"
                        ) from exc

    def close(self) -> None:
        """Release every model from the shared state machines (a restart, a test's end)."""
        from carefleet.robots.lifecycle import MACHINE
        from carefleet.tasks.model import LIFECYCLE_MACHINE
        for robot in self.robots.values():
            MACHINE.remove_model(robot)
        for task in self.tasks.values():
            if task.is_open:
                LIFECYCLE_MACHINE.remove_model(task)
                type(task).step_machine.remove_model(task)
        self.tasks.clear()
        self.alerts.close()

    def take_journal(self) -> list[JournalEntry]:
        """Entries to store since the last call (the runtime stores them, then acts)."""
        entries, self.journal = self.journal, []
        return entries

    def next_wakeup(self) -> float | None:
        """The next time a ``Tick`` is needed (a deadline or a schedule slot), if any."""
        deadlines = self._deadlines
        while deadlines and self.robots[deadlines[0][1]].deadline != deadlines[0][0]:
            heapq.heappop(deadlines)                     # replaced or cleared since
        times = [deadlines[0][0]] if deadlines else []
        times += [self._next_slot(name) for name in self.schedules]
        times += [at for r in self._retrying
                  if (at := self.robots[r].charge_retry_at) is not None and at > self.now]
        if self.policy.silence_timeout is not None and math.isfinite(self._silence_check_at):
            times.append(self._silence_check_at)
        if self._waiting_for_robots():
            times.append(self.started + self.policy.startup_grace)
        alert_due = self.alerts.next_deadline()
        if alert_due is not None:
            times.append(alert_due)
        return min(times) if times else None

    # == restart ===========================================================
    def restore(self, records: Iterable[dict[str, Any]], marks: dict[str, float], *,
                used_ids: Iterable[str] = (), state: dict[str, Any] | None = None,
                alerts: Iterable[dict[str, Any]] = ()) -> int:
        """Take back every unfinished task, schedule mark and closure from the store.

        A runtime calls this once on every start, on an empty store too. Robots are
        unknown until they report, so every task goes back to ``queued`` with its
        progress (rooms already served stay served); finished records are skipped.
        ``used_ids`` (every id in the store) keeps new ids from colliding with finished
        tasks and makes a resubmission of any of them a duplicate. A schedule without
        a stored mark starts from now, and that mark is stored at once, so a slot that
        passes while the orchestrator is down is caught up after the restart. Returns
        the number of tasks resumed.
        """
        state = state or {}
        if "schedules" in state:                      # staff changed them: theirs count
            self.schedules = {r["name"]: schedule_from_record(r) for r in state["schedules"]}
            self.marks = {name: self.marks.get(name, self.started) for name in self.schedules}
        for robot_id in state.get("held", []):
            if robot_id in self.robots:
                self.robots[robot_id].held = True
        closed = [name for name in state.get("closed", []) if name in self.planner.closable]
        self.closed = frozenset(closed)
        self.allocator.set_closed(self.closed)
        count = 0
        for record in records:
            if record.get("state") in {state.value for state in FINAL}:
                continue
            task = task_from_record(record)
            task.interrupt(same_robot=False)   # whatever a robot carried, it may not be ours
            task.history.append((self.now, TaskState.QUEUED.value, "resumed after restart"))
            task.reason = "resumed after restart"
            self.tasks[task.id] = task
            if isinstance(task, Charge) and task.pinned_robot in self.robots:
                self._charge_of[task.pinned_robot] = task.id
            self._dirty.add(task.id)
            count += 1
        self.known.update({i: "finished" for i in used_ids if i not in self.tasks})
        self.alerts.restore(alerts)
        self._next_task = max([self._next_task] + [_serial(t) for t in [*self.tasks, *self.known]])
        for name in self.schedules:
            if name in marks:
                self.marks[name] = marks[name]
            else:
                self.journal.append(ScheduleMarked(name=name, until=self.marks[name]))
        self._audit(ORCHESTRATOR, "restarted", detail={"tasks_resumed": count,
                                                       "incarnation": self.incarnation})
        self._save_dirty()
        return count

    # == event handlers ====================================================
    def _on_submitted(self, event: TaskSubmitted) -> None:
        if event.task_id is not None and (event.task_id in self.tasks
                                          or event.task_id in self.known):
            self._audit(event.requested_by, "duplicate_submission", task_id=event.task_id)
            return
        self.submit(event.request, event.requested_by, task_id=event.task_id)

    def submit(self, request: dict[str, Any], requested_by: str, *,
               task_id: str | None = None, source: str = "task request") -> Task:
        """Validate and accept a task (also used by schedules and device rules)."""
        generated = task_id is None
        if task_id is None:
            while self._taken(f"t{self._next_task + 1:05d}"):   # a caller may have chosen it
                self._next_task += 1
            task_id = f"t{self._next_task + 1:05d}"
        task = build_task(request, task_id=task_id, now=self.now, requested_by=requested_by,
                          ward=self.ward, source=source)
        pinned = task.pinned_robot
        if pinned is not None and pinned not in self.robots:
            raise InputError(source, f"unknown robot '{pinned}'", field="robot")
        if pinned is not None and not task.fits(self.robots[pinned].profile):
            raise InputError(source, f"robot '{pinned}' ({self.robots[pinned].profile.model}) "
                             f"cannot do {task.kind}", field="robot")
        if isinstance(task, MealDelivery) and not any(task.fits(r.profile)
                                                      for r in self.robots.values()):
            most = max((r.profile.trays for r in self.robots.values()
                        if r.profile.can(task.needs)), default=0)
            raise InputError(source, f"{len(task.rooms)} rooms in one trip, but the fleet's meal "
                             f"robots carry at most {most} trays: split the request",
                             field="rooms")
        if generated:
            self._next_task += 1
        task.history.append((self.now, TaskState.QUEUED.value, "accepted"))
        self.tasks[task.id] = task
        if isinstance(task, Charge):
            self._charge_of[pinned] = task.id    # type: ignore[index]
        self._dirty.add(task.id)
        self._audit(requested_by, "task_submitted", task_id=task.id,
                    detail={"kind": task.kind, "priority": task.priority.name.lower(),
                            "summary": task.summary()})
        if isinstance(task, FallResponse):
            self._notify(Severity.URGENT, "fall_detected", task=task, place=task.room,
                         source=task.source or requested_by)
        return task

    def _on_cancelled(self, event: TaskCancelled) -> None:
        if event.task_id in self.known:
            raise InputError("task request", f"task {event.task_id} is already "
                             f"{self.known[event.task_id]}", field="task_id")
        task = self._task(event.task_id, "task_id")
        if not task.is_open:
            raise InputError("task request", f"task {task.id} is already {task.state.value}",
                             field="task_id")
        self._release(task, "cancel", f"{event.reason} (by {event.requested_by})")
        self._audit(event.requested_by, "task_cancelled", task_id=task.id,
                    detail={"reason": event.reason})

    def _on_status(self, event: RobotStatus) -> None:
        """Reconcile with what the robot says it is, whatever state we had it in.

        A robot may (re)connect in any mode (after our restart, or its own): it is
        accepted as it is, and a command it is still executing that we did not give
        (one from before a restart) is stopped.
        """
        robot = self._robot(event.robot_id)
        position = self._robot_waypoint(robot, event.position, event.pose)
        robot.position = position
        robot.battery = event.battery
        robot.last_seen = self.now
        self._changed(robot)   # position or battery may have changed
        mode = event.mode
        if mode is DriverMode.OFFLINE:       # the driver lost the robot: no need to wait
            if robot.state is not RobotState.OFFLINE:
                reason = event.error or "link lost"
                self._go_offline(robot, f"robot {robot.id}: {reason}")
                self._notify(Severity.WARNING, "robot_link_lost", robot=robot, reason=reason)
            return
        if robot.state is RobotState.OFFLINE:
            robot.trigger("connect")
            if self.policy.silence_timeout is not None:     # it can fall silent again
                self._silence_check_at = min(self._silence_check_at,
                                             self.now + self.policy.silence_timeout)
            self._audit(f"robot:{robot.id}", "connected", robot_id=robot.id,
                        detail={"mode": mode.value})
            self._back_at_work(robot)
            self._rebalance()
        if (event.command_id is not None and event.command_id != robot.command
                and mode in (DriverMode.BUSY, DriverMode.CHARGING)):
            self._out.append(Stop(robot_id=robot.id, command_id=event.command_id))
            self._audit(ORCHESTRATOR, "stale_command_stopped", robot_id=robot.id,
                        detail={"command_id": event.command_id})
        if mode is DriverMode.ERROR or event.battery <= 0.0:
            if robot.state is not RobotState.FAULT:
                self._fault(robot, event.error or "battery empty")
            return
        if mode is DriverMode.EMERGENCY_STOP:
            if robot.state is not RobotState.EMERGENCY_STOP:
                self._hand_back_all(robot, "emergency stop pressed", count_attempt=False)
                robot.trigger("estop")
                robot.charger = None
                self._notify(Severity.WARNING, "robot_estop", robot=robot)
            return
        if robot.state is RobotState.FAULT:
            robot.trigger("recover")
            robot.error = None
            self._notify(Severity.INFO, "robot_recovered", robot=robot)
            self._rebalance()
        elif robot.state is RobotState.EMERGENCY_STOP:
            robot.trigger("release")
            self._back_at_work(robot)
            self._rebalance()
        self._check_charged(robot)

    def _on_result(self, event: CommandResult) -> None:
        robot = self._robot(event.robot_id)
        position = (self._robot_waypoint(robot, event.position)
                    if event.position is not None else None)
        robot.last_seen = self.now
        if event.command_id != robot.command:
            self._audit(f"robot:{robot.id}", "stale_result", robot_id=robot.id,
                        detail={"command_id": event.command_id, "outcome": event.outcome.value})
            return
        robot.command, robot.deadline = None, None
        if position is not None:
            robot.position = position
        self._changed(robot)
        task = self.tasks[robot.task] if robot.task else None
        state = robot.state
        self._audit(f"robot:{robot.id}", f"{state.value}_{event.outcome.value}", robot_id=robot.id,
                    task_id=task.id if task else None, detail={"detail": event.detail} if event.detail else {})
        if state is RobotState.NAVIGATING:
            if event.outcome is Outcome.SUCCEEDED:
                robot.trigger("arrive")
                if task is not None:
                    task.arrived(self.now)
                    self._report_arrival(robot, task)
                    self._progress(robot, task)
            else:
                robot.trigger("halt")
                if task is not None:
                    self._hand_back(robot, task, f"navigation failed: {event.detail or 'no reason given'}")
        elif state is RobotState.PERFORMING:
            robot.trigger("finish")
            if task is not None:
                task.action_done(event.outcome is Outcome.SUCCEEDED, self.now)
                self._progress(robot, task)
        elif state is RobotState.CHARGING and event.outcome is not Outcome.SUCCEEDED:
            robot.trigger("undock")
            if task is not None:
                self._hand_back(robot, task, f"docking failed: {event.detail or 'no reason given'}")
        elif state is not RobotState.CHARGING:
            # The result of a command we hold while the robot is in fault or e-stop (it
            # was stopped with the robot): nothing is running any more.
            self._audit(f"robot:{robot.id}", "late_result", robot_id=robot.id,
                        detail={"command_id": event.command_id})

    def _on_acknowledged(self, event: StaffAcknowledged) -> None:
        if event.task_id in self.known:
            raise InputError("task request", f"task {event.task_id} is already finished",
                             field="task_id")
        task = self._task(event.task_id, "task_id")
        if not isinstance(task, FallResponse) or not task.is_open:
            raise InputError("task request", f"task {task.id} is not an open fall response",
                             field="task_id")
        task.acknowledge(event.by, self.now)
        self._audit(f"staff:{event.by}", "fall_acknowledged", task_id=task.id)
        for alert in self.alerts.resolve_for_task(task.id, event.by, self.now):
            self._alert_saved(alert)
        if task.robot is not None and self.robots[task.robot].task == task.id:
            robot = self.robots[task.robot]
            self._stop(robot)
            self._progress(robot, task)
        else:
            self._release(task, "complete", f"staff ({event.by}) took over before a robot arrived")

    def _on_alert_acknowledged(self, event: AlertAcknowledged) -> None:
        alert = self.alerts.acknowledge(event.alert_id, event.by, self.now)
        self._alert_saved(alert)
        self._audit(event.by, "alert_acknowledged", task_id=alert.task_id,
                    robot_id=alert.robot_id, detail={"alert": alert.id, "key": alert.key})

    def _on_alert_resolved(self, event: AlertResolved) -> None:
        alert = self.alerts.get(event.alert_id)
        task = self.tasks.get(alert.task_id or "")
        if isinstance(task, FallResponse) and task.is_open:
            # staff are with the resident: that ends the fall response, and its alerts
            self._on_acknowledged(StaffAcknowledged(task_id=task.id, by=event.by))
        if alert.is_open:
            self._alert_saved(self.alerts.resolve(alert.id, event.by, self.now))
        self._audit(event.by, "alert_resolved", task_id=alert.task_id, robot_id=alert.robot_id,
                    detail={"alert": alert.id, "key": alert.key})

    def _on_fall(self, event: FallDetected) -> None:
        for task in self.tasks.values():
            if isinstance(task, FallResponse) and task.is_open and task.room == event.room:
                self._audit(event.source, "fall_repeated", task_id=task.id)
                return
        self.submit({"kind": "fall_response", "room": event.room, "source": event.source},
                    event.source, source=f"fall report from {event.source}")

    def _on_device(self, event: DeviceEvent) -> None:
        if event.room not in self.ward.places:
            raise InputError(f"device {event.device_id}", f"unknown place '{event.room}' in "
                             f"ward '{self.ward.name}'", field="room")
        if event.kind == "fall":
            self._on_fall(FallDetected(room=event.room, source=event.device_id))
        elif event.kind == "call_button":
            request = str(event.data.get("request", "help"))
            if request not in CALL_REQUESTS:
                raise InputError(f"device {event.device_id}", f"unknown request '{request}' "
                                 f"(one of: {', '.join(CALL_REQUESTS)})", field="data.request")
            if request != "help":                # water, toilet, a meal: staff, no robot
                self._notify(Severity.WARNING, f"call_{request}", place=event.room)
                return
            self._notify(Severity.WARNING, "call_button", place=event.room)
            self.submit({"kind": "go_to", "place": event.room, "priority": "high"},
                        f"device:{event.device_id}", source=f"device {event.device_id}")
        elif event.kind == "device_alert":
            key, priority, params = _device_alert(event)
            self._notify(_SEVERITY[priority], key, place=event.room, priority=priority,
                         device=event.device_id, **params)
        elif event.kind == "device_ok":
            for key in event.data.get("resolves", ()):
                dedupe = f"device:{event.device_id}:{key}"
                for alert in [a for a in self.alerts.open() if a.dedupe == dedupe]:
                    self._alert_saved(self.alerts.resolve(alert.id, ORCHESTRATOR, self.now))
        elif event.kind in ("camera_down", "camera_up"):
            self._notify(Severity.WARNING if event.kind == "camera_down" else Severity.INFO,
                         event.kind, place=event.room, device=event.device_id,
                         reason=str(event.data.get("error", "")))
        else:
            self._notify(Severity.INFO, "device_event", place=event.room,
                         device=event.device_id, event=event.kind.replace("_", " "))

    def _on_passage(self, event: PassageChanged) -> None:
        if event.what not in self.planner.closable:
            raise InputError("passage", f"'{event.what}' is no lane, corridor or lift of "
                             f"ward '{self.ward.name}'", field="what")
        closed = set(self.closed)
        (closed.add if event.closed else closed.discard)(event.what)
        self.closed = frozenset(closed)
        self.allocator.set_closed(self.closed)
        self._touched.update(self.robots)        # every robot's reach may have changed
        self.journal.append(StateSaved(key="closed", value=sorted(self.closed)))
        self._audit(event.by, "passage_closed" if event.closed else "passage_opened",
                    detail={"what": event.what})
        self._told = {k: v for k, v in self._told.items() if v != "behind_closure"}

    def _on_held(self, event: RobotHeld) -> None:
        robot = self._robot(event.robot_id)
        if robot.held == event.held:
            return
        if event.held:
            self._hand_back_all(robot, f"robot {robot.id} paused by {event.by}",
                                count_attempt=False)
            if robot.state is RobotState.CHARGING:
                robot.trigger("undock")
            robot.charger = None
        robot.held = event.held
        self._audit(event.by, "robot_paused" if event.held else "robot_resumed",
                    robot_id=robot.id)
        self.journal.append(StateSaved(key="held", value=sorted(
            r.id for r in self.robots.values() if r.held)))
        if not event.held:
            self._rebalance()

    def _on_schedule(self, event: ScheduleChanged) -> None:
        if event.schedule is None and event.name not in self.schedules:
            raise InputError("schedule change", f"no schedule named '{event.name}'", field="name")
        if event.schedule is None:
            del self.schedules[event.name]
            self.marks.pop(event.name, None)
            self._slot_cache.pop(event.name, None)
        else:
            self._check_schedule(event.schedule)
            self.schedules[event.name] = event.schedule
            self._slot_cache.pop(event.name, None)
            self.marks[event.name] = self.now           # from now on, not retroactively
            self.journal.append(ScheduleMarked(name=event.name, until=self.now))
        self.journal.append(StateSaved(key="schedules", value=[
            schedule_record(s) for s in self.schedules.values()]))
        self._audit(event.by, "schedule_removed" if event.schedule is None else "schedule_saved",
                    detail={"schedule": event.name})

    def _check_schedule(self, schedule: Schedule) -> None:
        """Refuse a schedule whose places the ward does not have (before any change)."""
        where = f"schedule '{schedule.name}'"
        places = (schedule.rooms or ()) if isinstance(schedule, MealService) \
            else schedule.checkpoints
        for place in places:
            if place not in self.ward.places:
                raise InputError(where, f"unknown place '{place}' in ward '{self.ward.name}'",
                                 field="rooms" if isinstance(schedule, MealService)
                                 else "checkpoints")
        if isinstance(schedule, PatrolSchedule) and not schedule.checkpoints:
            raise InputError(where, "must list at least one checkpoint", field="checkpoints")

    def _on_tick(self, event: Tick) -> None:
        """Nothing to do beyond what every event does (deadlines, schedules, dispatch)."""

    _HANDLERS: dict[type, Callable[["Orchestrator", Any], None]] = {
        TaskSubmitted: _on_submitted, TaskCancelled: _on_cancelled, RobotStatus: _on_status,
        CommandResult: _on_result, StaffAcknowledged: _on_acknowledged,
        AlertAcknowledged: _on_alert_acknowledged, AlertResolved: _on_alert_resolved,
        FallDetected: _on_fall,
        DeviceEvent: _on_device, PassageChanged: _on_passage, RobotHeld: _on_held,
        ScheduleChanged: _on_schedule, Tick: _on_tick}

    # == after every event =================================================
    def _time_out_commands(self) -> None:
        deadlines = self._deadlines
        due = []
        while deadlines and deadlines[0][0] <= self.now:
            due.append(self.robots[heapq.heappop(deadlines)[1]])
        for robot in dict.fromkeys(due):
            if robot.deadline is None or self.now < robot.deadline:
                continue
            task = self.tasks[robot.task] if robot.task else None
            if robot.state is RobotState.PERFORMING:
                self._stop(robot)            # e.g. nobody took the tray: move on
                if task is not None:
                    task.action_done(False, self.now)
                    self._progress(robot, task)
            else:
                self._stop(robot)
                self._fault(robot, f"no progress: overdue at {self._label(robot.position)}")

    def _check_silence(self) -> None:
        """A robot that has not reported for ``silence_timeout`` is offline: its work goes
        back to the fleet and staff are told (it rejoins with its next report)."""
        silence = self.policy.silence_timeout
        if silence is None or self.now < self._silence_check_at:
            return                       # nobody can have been silent that long yet
        online = [r for r in self.robots.values() if r.state is not RobotState.OFFLINE]
        self._silence_check_at = min((r.last_seen + silence for r in online
                                      if self.now < r.last_seen + silence), default=math.inf)
        for robot in online:
            if self.now < robot.last_seen + silence:
                continue
            self._go_offline(robot, f"robot {robot.id} stopped reporting")
            self._notify(Severity.WARNING, "robot_offline", robot=robot,
                         minutes=f"{(self.now - robot.last_seen) / 60:.0f}")

    def _go_offline(self, robot: Robot, why: str) -> None:
        """The robot cannot be reached: its work goes back to the fleet (it rejoins with
        its next report)."""
        self._hand_back_all(robot, why, count_attempt=False)
        robot.trigger("disconnect")
        robot.charger = None

    def _back_at_work(self, robot: Robot) -> None:
        """A robot that comes back (online again, e-stop released) answers the alert it
        raised, if one is open; a robot merely connecting at start-up says nothing."""
        dedupe = _dedupe("robot_fault", None, robot.id, None, {})
        if any(alert.dedupe == dedupe for alert in self.alerts.open()):
            self._notify(Severity.INFO, "robot_recovered", robot=robot)

    def _fire_schedules(self) -> None:
        for name, schedule in self.schedules.items():
            if self._next_slot(name) > self.now:
                continue
            slots = slots_between(schedule, self.marks[name], self.now, self.zone)
            if not slots:
                continue
            for slot in slots:
                if self._too_late(schedule, slot):
                    self._notify(Severity.WARNING, "schedule_missed", schedule=schedule.name,
                                 minutes=f"{(self.now - slot) / 60:.0f}")
                    self._audit(ORCHESTRATOR, "schedule_missed",
                                detail={"schedule": schedule.name, "slot": slot})
                else:
                    self._run_schedule(schedule, slot)
            self.marks[name] = slots[-1]
            self.journal.append(ScheduleMarked(name=name, until=slots[-1]))

    def _too_late(self, schedule: Schedule, slot: float) -> bool:
        """A slot that passed while nobody ran the ward: caught up if still useful (a
        meal within ``catch_up_limit``, a patrol whose window is still open)."""
        if isinstance(schedule, PatrolSchedule) and schedule.rounds is None:
            return schedule.window_end(slot, self.zone) <= self.now
        return self.now - slot > self.policy.catch_up_limit

    def _next_slot(self, name: str) -> float:
        """When schedule ``name`` fires next; cached per mark (asked after every event)."""
        mark = self.marks[name]
        cached = self._slot_cache.get(name)
        if cached is None or cached[0] != mark:
            cached = self._slot_cache[name] = (mark, next_slot(self.schedules[name], mark, self.zone))
        return cached[1]

    def _run_schedule(self, schedule: Schedule, slot: float) -> None:
        who = f"schedule:{schedule.name}"
        if isinstance(schedule, MealService):
            self._serve_meal(schedule, slot, who)
        elif isinstance(schedule, PatrolSchedule):
            request: dict[str, Any] = {"kind": "patrol", "checkpoints": list(schedule.checkpoints),
                                       "due": slot}
            if schedule.rounds is not None:
                request["rounds"] = schedule.rounds
            else:
                request["until"] = schedule.window_end(slot, self.zone)
            self.submit(request, who, source=f"patrol schedule '{schedule.name}'")

    def _serve_meal(self, service: MealService, fired: float, who: str) -> None:
        """Plan the service (``meal_plan``) and give every planned trip to its robot at
        once, in the planned order, after clearing low-priority work off the robots the
        plan needs. A trip its robot cannot take safely now (battery) stays queued for
        whichever robot can; so does every trip when no meal robot is available."""
        rooms = list(service.rooms or [p.id for p in
                                       self.ward.places_of_kind(PlaceKind.RESIDENT_ROOM)])
        kitchen = self.ward.places_of_kind(PlaceKind.KITCHEN)[0].id
        meal_robots = [r for r in self.robots.values()
                       if Capability.MEAL_DELIVERY in r.profile.capabilities and r.profile.trays]
        available = [r for r in meal_robots if r.available] or meal_robots
        runners = [Runner(id=r.id, trays=r.profile.trays, speed=r.profile.speed,
                          ready=self._ready_for_meal(r, kitchen)) for r in available]
        plan = plan_service(rooms, runners, kitchen=kitchen, planner=self.planner,
                            load=LOAD_SECONDS, pickup=PICKUP_EXPECTED,
                            hot_limit=service.hot_limit, closed=self.closed)
        trips = [(trip.robot, list(trip.rooms)) for trip in plan.trips]
        smallest = min(r.profile.trays for r in meal_robots)
        trips += [(None, list(plan.unplanned[i:i + smallest]))      # behind a closure
                  for i in range(0, len(plan.unplanned), smallest)]
        for robot_id in dict.fromkeys(robot for robot, _ in trips if robot is not None):
            self._clear_for(self.robots[robot_id], f"meal service '{service.name}'")
        for robot_id, rooms_of_trip in trips:
            task = self.submit({"kind": "meal_delivery", "rooms": rooms_of_trip,
                                "meal": service.name, "due": fired + service.lead,
                                "pickup_timeout": service.pickup_timeout}, who,
                               source=f"meal service '{service.name}'")
            robot = self.robots.get(robot_id or "")
            if (robot is not None and robot.available
                    and self.allocator.offer(robot, task, self.tasks, self.now) is not None):
                self._assign(robot, task)

    def _ready_for_meal(self, robot: Robot, kitchen: str) -> float:
        """Seconds until ``robot`` could start loading: after the work it keeps (low-
        priority work gives way to the meal), plus its drive to the kitchen."""
        if self._low_work(robot):
            busy, here = 0.0, robot.position
        else:
            projection = self.allocator.projection(robot, self.tasks, self.now)
            busy, here = projection.busy, projection.position
        drive = self.planner.times_from(here, robot.profile.speed, closed=self.closed)
        return busy + drive.get(kitchen, 0.0)

    def _low_work(self, robot: Robot) -> bool:
        """The robot is busy only with low-priority work (a top-up, a low errand)."""
        current = self.tasks.get(robot.task or "")
        return current is not None and current.priority is Priority.LOW

    def _clear_for(self, robot: Robot, why: str) -> None:
        """A meal service needs ``robot``: a charge it does not need yet (battery above
        its low threshold: a top-up, a free charger used) ends, running or planned; a
        low-priority errand pauses (it resumes, from where it was, after the meal)."""
        charge = self.tasks.get(self._charge_of.get(robot.id, ""))
        if charge is not None and robot.battery >= robot.profile.battery.low_threshold:
            self._release(charge, "cancel", f"{why} needs the robot")
        current = self.tasks.get(robot.task or "")
        if current is not None and current.priority is Priority.LOW:
            self._pause(robot, f"paused for {why}")

    def _meal_soon(self) -> bool:
        """A meal service fires within ``Policy.meal_charge_window``: idle meal robots
        top up to more than usual first, so the service does not wait for a charge."""
        return any(isinstance(schedule, MealService)
                   and self._next_slot(name) - self.now <= self.policy.meal_charge_window
                   for name, schedule in self.schedules.items())

    def _charger_wait(self) -> float:
        """Seconds a robot joining the charger queue now would wait: the charging still
        to do by every robot at or waiting for a charger, shared by the chargers."""
        chargers = len(self.allocator.chargers)
        work = 0.0
        for robot in self._charging_robots():
            battery = robot.profile.battery
            work += (max(battery.charged - robot.battery, 0.0) * battery.capacity_wh
                     / battery.charge_w * 3600.0)
        return work / chargers if chargers else 0.0

    def _low_level(self, robot: Robot) -> float:
        """Below this the robot goes to charge now: its low threshold, or higher when the
        chargers are busy, so that waiting its turn still leaves it above its reserve."""
        battery = robot.profile.battery
        waiting = battery.drain_idle_w * self.allocator.charger_wait / 3600.0
        return max(battery.low_threshold,
                   battery.reserve + (waiting + battery.capacity_wh * 0.02) / battery.capacity_wh)

    def _manage_batteries(self) -> None:
        wait = self._charger_wait()
        if wait != self.allocator.charger_wait:
            self.allocator.set_charger_wait(wait)
            self._touched.update(self._charge_of)
        meal_soon = self._meal_soon()
        due = {r for r in self._retrying if (self.robots[r].charge_retry_at or 0.0) <= self.now}
        self._retrying -= due
        for robot_id in sorted(self._touched | due):
            robot = self.robots[robot_id]
            if not robot.available:
                continue
            if robot.charge_retry_at is not None:
                if self.now < robot.charge_retry_at:
                    continue
                robot.charge_retry_at = None
            battery = robot.profile.battery
            charge = self.tasks.get(self._charge_of.get(robot.id, ""))
            if robot.battery < self._low_level(robot):
                if charge is not None and (charge.priority <= Priority.HIGH
                                           or charge.id == robot.task):
                    continue
                if charge is not None:            # a top-up not started: a real charge now
                    self._release(charge, "cancel", "battery low: charging first")
                self._send_to_charge(robot)
            elif (charge is None and robot.task is None and not robot.queue
                  and robot.state is RobotState.IDLE
                  and robot.battery < (self.policy.topup_before_meal
                                       if meal_soon and robot.profile.trays
                                       else self.policy.topup_below)):
                self._queue_charge(robot, Priority.LOW, "topping up while idle")
        self._use_free_chargers(meal_soon)

    def _use_free_chargers(self, meal_soon: bool) -> None:
        """Chargers do not stand idle while robots run down at work: when one is free,
        the robot with the least battery below ``topup_below`` (and no charge planned)
        charges after its current task, before the rest of its queue. Meal robots are
        left to the meal services (their top-up before a service, their trips during
        it). Looked for at most once a minute while no robot needs one."""
        free = len(self.allocator.chargers) - len(self._held_chargers_all())
        if free <= 0 or self.now < self._charger_scan_at:
            return
        needy = sorted((r for r in self.robots.values()
                        if r.available and r.id not in self._charge_of
                        and r.charge_retry_at is None
                        and r.battery < self.policy.topup_below
                        and not (meal_soon and r.profile.trays)
                        and not any(isinstance(self.tasks[t], MealDelivery)
                                    for t in ([r.task] if r.task else []) + r.queue)),
                       key=lambda r: (r.battery, r.id))[:free]
        if not needy:
            self._charger_scan_at = self.now + 60.0
        for robot in needy:
            self._queue_charge(robot, Priority.HIGH, "a charger is free")

    def _send_to_charge(self, robot: Robot) -> None:
        """Low battery: keep the current task only if it can be finished safely."""
        for task_id in list(robot.queue):
            self._hand_back(robot, self.tasks[task_id], "robot battery low", count_attempt=False)
        if robot.task is not None:
            task = self.tasks[robot.task]
            estimate = self.allocator.estimate(task.plan(self.now), robot.position, robot)
            home = self.allocator.to_charger(estimate.end, robot)
            reserve = robot.profile.battery.reserve * robot.profile.battery.capacity_wh
            if task.open_ended or robot.battery_wh - estimate.energy - home.energy < reserve:
                self._stop(robot)
                self._hand_back(robot, task, "robot battery low", count_attempt=False)
        self._queue_charge(robot, Priority.HIGH, "battery low")
        self._notify(Severity.INFO, "robot_low_battery", robot=robot,
                     battery=f"{robot.battery:.0%}")

    def _queue_charge(self, robot: Robot, priority: Priority, why: str) -> None:
        task = self.submit({"kind": "charge", "robot": robot.id,
                            "priority": priority.name.lower()}, ORCHESTRATOR, source=why)
        self._assign(robot, task)

    def _waiting_for_robots(self) -> bool:
        """Just started and not every robot has reported: allocating now would give all
        the work to whichever robot happened to report first."""
        return (self.now < self.started + self.policy.startup_grace
                and any(r.state is RobotState.OFFLINE for r in self.robots.values()))

    def _dispatch(self) -> None:
        """Offer queued work and start idle robots. A task queued (again) by this event
        is offered to the whole fleet; one that already waits is offered again only to
        the robots this event changed (nothing else can have become able to take it);
        only changed robots and robots waiting for a charger may start something."""
        self._index_queued()
        if self._waiting_for_robots():
            return
        changed = [self.robots[r] for r in sorted(self._touched)]
        if self._queued and (self._fresh or changed):
            if self._order_of_queue is None:
                self._order_of_queue = sorted((self.tasks[t] for t in self._queued),
                                              key=Task.sort_key)
            refused: set[str] = set()     # changed robots that could not take a waiting task
            for task in list(self._order_of_queue):
                if task.state is not TaskState.QUEUED:   # an earlier allocation ended it
                    continue
                if task.id in self._fresh:
                    self._fresh.discard(task.id)
                    self._allocate(task)
                else:
                    willing = [r for r in changed if r.id not in refused]
                    if not willing and not self._fresh:
                        break             # nobody left who could take what waits
                    if willing:
                        self._allocate(task, among=willing, refused=refused)
                if task.state is not TaskState.QUEUED:
                    self._queued.discard(task.id)
                    self._order_of_queue = None
        for robot_id in sorted(self._touched | set(self._charge_of)):
            robot = self.robots[robot_id]
            if robot.state is RobotState.IDLE and robot.task is None and robot.queue:
                self._start_next(robot)

    def _index_queued(self) -> None:
        """Bring the queued-task index up to date with the tasks this event changed."""
        for task_id in self._dirty:
            task = self.tasks.get(task_id)
            if task is not None and task.state is TaskState.QUEUED:
                if task_id not in self._queued:
                    self._queued.add(task_id)
                    self._fresh.add(task_id)
                    self._order_of_queue = None
            elif task_id in self._queued:
                self._queued.discard(task_id)
                self._fresh.discard(task_id)
                self._order_of_queue = None

    def _allocate(self, task: Task, *, among: list[Robot] | None = None,
                  refused: set[str] | None = None) -> None:
        """Give ``task`` to the robot that would finish it first; ``among``: a task that
        already waits, offered again to these (changed) robots only, and left waiting
        with its reason when none of them can take it (those that could have but
        lacked the battery go into ``refused``: the tasks after it wait behind it)."""
        if isinstance(task, Charge):
            robot = self.robots[task.pinned_robot]  # type: ignore[index]
            if robot.available:
                self._assign(robot, task)
            return
        candidates = [r for r in (self.robots.values() if among is None else among)
                      if r.available and task.fits(r.profile)
                      and (task.pinned_robot is None or r.id == task.pinned_robot)]
        if among is not None and not candidates:
            return
        if not candidates:
            if not any(task.fits(r.profile) for r in self.robots.values()):
                self._give_up(task, f"no robot in the fleet can do {task.kind}")
            elif task.pinned_robot is not None:
                self._wait(task, "robot_unavailable", f"robot {task.pinned_robot} is not available")
            else:
                self._wait(task, "no_robot_available",
                           f"no robot that can do {task.kind} is available")
            return
        fresh = [r for r in candidates if r.id not in task.failed_on] or candidates
        urgent = task.priority is Priority.URGENT
        offers = [o for r in fresh
                  if (o := self.allocator.offer(r, task, self.tasks, self.now,
                                                preempt=(urgent and self._preemptible(r, task))
                                                or self._topping_up(r)))]
        if not offers and among is not None:
            if refused is not None:
                refused.update(r.id for r in fresh)
            return
        if not offers:
            if not any(self.allocator.feasible_on_full_battery(r, task, self.now) for r in fresh):
                self._give_up(task, "no robot can finish it on one charge")
            elif self.closed and not any(self.allocator.feasible_on_full_battery(
                    r, task, self.now, closed=self.closed) for r in fresh):
                self._wait(task, "behind_closure", "unreachable while "
                           + ", ".join(sorted(self.closed)) + " is closed")
            else:
                self._wait(task, "battery", "waiting for a robot with enough battery", tell=False)
            return
        best = min(offers, key=_offer_key)
        robot = best.robot
        if urgent and self._preemptible(robot, task):
            self._preempt(robot, task)
        else:
            if self._topping_up(robot):              # a meal will not wait for a top-up
                self._release(self.tasks[robot.task], "cancel",  # type: ignore[index]
                              f"{task.kind} {task.id} needs the robot")
            self._assign(robot, task)

    def _topping_up(self, robot: Robot) -> bool:
        """Charging only to top up (not low), nothing queued: any real work comes first."""
        current = self.tasks.get(robot.task or "")
        return (isinstance(current, Charge) and current.priority is Priority.LOW
                and not robot.queue
                and robot.battery >= robot.profile.battery.low_threshold)

    def _wait(self, task: Task, why: str, reason: str, *, tell: bool = True) -> None:
        """``task`` cannot be carried out now: it stays queued with ``reason``; staff are
        told once per reason (not again at every event)."""
        if self._told.get(task.id) == why:
            return
        self._told[task.id] = why
        task.reason = reason
        self._dirty.add(task.id)
        self._audit(ORCHESTRATOR, "task_waiting", task_id=task.id, detail={"reason": reason})
        if tell:
            self._notify(Severity.WARNING, "task_waiting", task=task, reason=reason)

    def _rebalance(self) -> None:
        """A robot joined: offer every not-yet-started queued task to the whole fleet again."""
        for robot in self.robots.values():
            for task_id in list(robot.queue):
                task = self.tasks[task_id]
                if isinstance(task, Charge) or task.pinned_robot or _ever_started(task):
                    continue
                self._leave(robot, task)
                task.robot = None
                task.move("requeue", self.now, "offered again: a robot joined")
                self._dirty.add(task.id)

    def _preemptible(self, robot: Robot, task: Task) -> bool:
        current = self.tasks[robot.task] if robot.task else None
        return current is not None and current.priority > task.priority

    # == robots doing tasks ================================================
    def _assign(self, robot: Robot, task: Task) -> None:
        topup = self.tasks.get(self._charge_of.get(robot.id, ""))
        if (topup is not None and not isinstance(task, Charge) and topup.priority is Priority.LOW
                and topup.id != robot.task):
            self._release(topup, "cancel", "work arrived before the top-up charge")
        self._told.pop(task.id, None)
        task.move("assign", self.now, f"assigned to {robot.id}")
        task.robot = robot.id
        robot.queue.append(task.id)
        robot.queue.sort(key=lambda i: self.tasks[i].sort_key())
        self._dirty.add(task.id)
        self._changed(robot)
        self._audit(ORCHESTRATOR, "task_assigned", task_id=task.id, robot_id=robot.id)

    def _pause(self, robot: Robot, why: str, *, by: str | None = None) -> None:
        """Interrupt the robot's current task and put it back in its queue: first when
        an urgent task took the robot (``by``), in priority order otherwise."""
        current = self.tasks[robot.task]  # type: ignore[index]
        self._stop(robot)
        current.interrupt(same_robot=True)
        current.move("pause", self.now, why)
        robot.task = None
        robot.queue.insert(0, current.id)   # resumed first once the urgent task is done
        if by is None:
            robot.queue.sort(key=lambda i: self.tasks[i].sort_key())
        self._dirty.add(current.id)
        self._changed(robot)
        self._audit(ORCHESTRATOR, "task_preempted", task_id=current.id, robot_id=robot.id,
                    detail={"by": by or why})

    def _preempt(self, robot: Robot, urgent: Task) -> None:
        self._pause(robot, f"paused for {urgent.kind} {urgent.id}", by=urgent.id)
        urgent.move("assign", self.now, f"assigned to {robot.id}")
        urgent.robot = robot.id
        self._start(robot, urgent)

    def _start_next(self, robot: Robot) -> None:
        task = self.tasks[robot.queue.pop(0)]
        self._start(robot, task)

    def _start(self, robot: Robot, task: Task) -> None:
        if isinstance(task, Charge):
            if task.charger is None or task.charger in self._held_chargers(robot):
                task.charger = self._free_charger(robot)    # none kept, or kept by another
            if task.charger is not None and self._lower_battery_waiting(robot):
                task.charger = None              # the lowest battery charges first
            if task.charger is None:
                task.charger = self._charger_given_up_for(robot)
            if task.charger is None:
                robot.queue.insert(0, task.id)   # wait until a charger frees up / is reachable
                cut_off = self._free_charger(robot, reachable_only=False) is not None
                self._wait(task, "no_charger", "no free charger can be reached" if cut_off
                           else "every charger is in use", tell=cut_off)
                return
            robot.charger = task.charger
        robot.task = task.id
        task.move("start", self.now, f"started by {robot.id}")
        if task.step is task.Step.PENDING:
            task.begin(self.now)
        self._dirty.add(task.id)
        self._progress(robot, task)

    def _progress(self, robot: Robot, task: Task) -> None:
        """Give the robot the task's next order, or finish the task."""
        self._dirty.add(task.id)
        self._changed(robot)
        while True:
            if task.step is task.Step.PENDING:
                task.begin(self.now)
            order = task.order()
            if order is None:
                self._finish(robot, task)
                return
            if isinstance(order, Go) and self.planner.waypoint_of(order.place) == robot.position:
                task.arrived(self.now)            # already there: no drive needed
                self._report_arrival(robot, task)
                continue
            self._order(robot, order)
            return

    def _order(self, robot: Robot, order: Go | Act | DockAt) -> None:
        command_id = self._command_id()
        robot.command, robot.deadline = command_id, None
        if isinstance(order, Go):
            if robot.state is RobotState.CHARGING:
                robot.trigger("undock")
            robot.trigger("navigate")
            estimate = self.planner.travel_time(robot.position, order.place, robot.profile.speed,
                                                closed=self.closed)
            if math.isfinite(estimate):
                robot.deadline = (self.now + estimate * self.policy.navigate_slack
                                  + self.policy.navigate_margin)
                heapq.heappush(self._deadlines, (robot.deadline, robot.id))
            goal = self.planner.waypoint_of(order.place)
            self._out.append(Navigate(robot_id=robot.id, command_id=command_id, place=order.place,
                                      waypoint=goal, route=self._route_points(robot, goal)))
        elif isinstance(order, Act):
            robot.trigger("perform")
            if order.timeout is not None:
                robot.deadline = self.now + order.timeout
                heapq.heappush(self._deadlines, (robot.deadline, robot.id))
            self._out.append(Perform(robot_id=robot.id, command_id=command_id,
                                     action=order.action, place=order.place, params=order.params))
        else:
            robot.trigger("dock")
            robot.dock_command = command_id
            self._out.append(Dock(robot_id=robot.id, command_id=command_id, place=order.place))
        self._audit(ORCHESTRATOR, type(self._out[-1]).__name__.lower(), robot_id=robot.id,
                    task_id=robot.task, detail={"command_id": command_id, "place": order.place})

    def _finish(self, robot: Robot, task: Task) -> None:
        self._leave(robot, task)
        self._close(task, "complete", _completion_reason(task), robot=robot)
        if robot.state is RobotState.CHARGING:
            robot.trigger("undock")
        if robot.state is RobotState.IDLE and robot.queue:
            self._start_next(robot)

    def _report_arrival(self, robot: Robot, task: Task) -> None:
        """A robot at a fall tells staff it is there and streaming, so they can look in."""
        if isinstance(task, FallResponse) and task.reached_at == self.now:
            self._notify(Severity.URGENT, "fall_robot_arrived", task=task, robot=robot,
                         place=task.room)

    def _check_charged(self, robot: Robot) -> None:
        task = self.tasks[robot.task] if robot.task else None
        if (isinstance(task, Charge) and robot.state is RobotState.CHARGING
                and robot.battery >= robot.profile.battery.charged):
            task.go("charged")
            robot.command = None
            self._progress(robot, task)

    def _undock(self, robot: Robot) -> None:
        """End a charge before it is done: the robot leaves the dock (another may need it)."""
        if robot.dock_command is not None:
            self._out.append(Stop(robot_id=robot.id, command_id=robot.dock_command))
            robot.dock_command = None
        robot.trigger("undock")

    def _stop(self, robot: Robot) -> None:
        """Stop the command in flight (its late result will be ignored as stale)."""
        if robot.command is not None and robot.state in (RobotState.NAVIGATING,
                                                         RobotState.PERFORMING):
            self._out.append(Stop(robot_id=robot.id, command_id=robot.command))
            robot.trigger("halt")
        robot.command, robot.deadline = None, None

    # == giving work back ==================================================
    def _fault(self, robot: Robot, why: str) -> None:
        robot.error = why
        self._hand_back_all(robot, f"robot {robot.id} fault: {why}", count_attempt=True)
        if robot.state is not RobotState.FAULT:
            robot.trigger("fail")
        robot.charger = None
        self._notify(Severity.WARNING, "robot_fault", robot=robot, reason=why)

    def _hand_back_all(self, robot: Robot, why: str, *, count_attempt: bool) -> None:
        self._stop(robot)
        if robot.task is not None:
            self._hand_back(robot, self.tasks[robot.task], why, count_attempt=count_attempt)
        for task_id in list(robot.queue):
            self._hand_back(robot, self.tasks[task_id], why, count_attempt=False)

    def _hand_back(self, robot: Robot, task: Task, why: str, *, count_attempt: bool = True) -> None:
        """Take ``task`` off ``robot``; re-queue it for another robot or give up."""
        self._leave(robot, task)
        task.interrupt(same_robot=False)
        task.robot = None
        self._dirty.add(task.id)
        if isinstance(task, Charge) or task.pinned_robot == robot.id:
            if isinstance(task, Charge) and count_attempt:
                robot.charge_retry_at = self.now + self.policy.charge_retry
                self._retrying.add(robot.id)
                self._notify(Severity.WARNING, "robot_cannot_charge", robot=robot, reason=why)
            self._close(task, "cancel", why)
            return
        if count_attempt:
            task.attempts += 1
            task.failed_on.append(robot.id)
        if task.attempts > self.policy.retry_limit:
            self._give_up(task, f"{why}; gave up after {task.attempts} attempts")
        else:
            task.move("requeue", self.now, why)
            self._audit(ORCHESTRATOR, "task_requeued", task_id=task.id, robot_id=robot.id,
                        detail={"reason": why})

    def _give_up(self, task: Task, why: str) -> None:
        self._close(task, "fail", why)
        severity = Severity.URGENT if task.priority is Priority.URGENT else Severity.WARNING
        self._notify(severity, "task_failed", task=task, reason=why)

    def _release(self, task: Task, trigger: str, why: str) -> None:
        """End ``task`` wherever it is (cancel, or completed by staff), freeing its robot."""
        robot = self.robots.get(task.robot) if task.robot else None
        if robot is not None:
            if robot.task == task.id:
                self._stop(robot)
                if robot.state is RobotState.CHARGING:
                    self._undock(robot)
            self._leave(robot, task)
        self._close(task, trigger, why)

    def _leave(self, robot: Robot, task: Task) -> None:
        """Take ``task`` off ``robot`` (current or queued); a charge frees its charger."""
        if robot.task == task.id:
            robot.task = None
        elif task.id in robot.queue:
            robot.queue.remove(task.id)
        if isinstance(task, Charge) and robot.charger == task.charger:
            robot.charger = None
        self._changed(robot)

    def _close(self, task: Task, trigger: str, why: str, *, robot: Robot | None = None) -> None:
        """End ``task`` (``robot``: the robot that completed it, for the audit)."""
        task.move(trigger, self.now, why)
        self._dirty.add(task.id)
        self._finished.add(task.id)
        self._told.pop(task.id, None)
        if isinstance(task, Charge) and self._charge_of.get(task.pinned_robot or "") == task.id:
            del self._charge_of[task.pinned_robot]  # type: ignore[arg-type]
        self._audit(f"robot:{robot.id}" if robot else ORCHESTRATOR, f"task_{task.state.value}",
                    task_id=task.id, robot_id=robot.id if robot else None, detail={"reason": why})

    # == chargers ==========================================================
    # A charger is reserved by the robot whose open charge task holds it
    # (``robot.charger``); only robots with an open charge task (``_charge_of``) can
    # hold or wait for one, so these look at those robots, never the whole fleet.
    def _charging_robots(self) -> list[Robot]:
        return [self.robots[r] for r in self._charge_of if r in self.robots]

    def _charger_given_up_for(self, robot: Robot) -> str | None:
        """Every charger is taken and ``robot`` is low: the robot at a charger with the
        most battery gives its charger up, if it has enough to wait (its low threshold
        plus ``Policy.charger_yield_margin``, and that much more than ``robot``). So no
        robot runs flat while another tops up, and chargers go round the lowest."""
        battery = robot.profile.battery
        if robot.battery >= battery.low_threshold:
            return None
        margin = self.policy.charger_yield_margin
        times = self.planner.times_from(robot.position, robot.profile.speed, closed=self.closed)
        givers = [r for r in self._charging_robots()
                  if r is not robot and r.charger is not None
                  and r.task == self._charge_of.get(r.id)
                  and math.isfinite(times.get(r.charger, math.inf))
                  and r.battery >= r.profile.battery.low_threshold + margin
                  and r.battery >= robot.battery + margin]
        if not givers:
            return None
        giver = max(givers, key=lambda r: (r.battery, r.id))
        charger = giver.charger
        self._release(self.tasks[giver.task], "cancel",  # type: ignore[index]
                      f"gave {charger} up to {robot.id} (battery {robot.battery:.0%})")
        self._audit(ORCHESTRATOR, "charger_given_up", robot_id=giver.id,
                    detail={"charger": charger, "to": robot.id})
        return charger

    def _lower_battery_waiting(self, robot: Robot) -> bool:
        """Another robot with less battery also waits for a charger, and there are not
        chargers enough for both: it goes first."""
        lower = [r for r in self._charging_robots()
                 if r is not robot and r.battery < robot.battery and r.charger is None
                 and r.task is None and r.queue and r.state is RobotState.IDLE
                 and self._charge_of.get(r.id) == r.queue[0]
                 and self._free_charger(r) is not None]
        if not lower:
            return False
        held = self._held_chargers(robot)
        times = self.planner.times_from(robot.position, robot.profile.speed, closed=self.closed)
        free = [c for c in self.allocator.chargers
                if c not in held and math.isfinite(times.get(c, math.inf))]
        return len(free) <= len(lower)

    def _held_chargers_all(self) -> set[str]:
        return {r.charger for r in self._charging_robots() if r.charger}

    def _held_chargers(self, robot: Robot) -> set[str]:
        return {r.charger for r in self._charging_robots() if r.charger and r is not robot}

    def _free_charger(self, robot: Robot, *, reachable_only: bool = True) -> str | None:
        """The nearest charger no other robot holds; only a reachable one unless asked."""
        held = self._held_chargers(robot)
        free = [c for c in self.allocator.chargers if c not in held]
        times = self.planner.times_from(robot.position, robot.profile.speed, closed=self.closed)
        if reachable_only:
            free = [c for c in free if math.isfinite(times.get(c, math.inf))]
        if not free:
            return None
        return min(free, key=lambda c: (times.get(c, math.inf), c))

    def _command_id(self) -> str:
        self._next_command += 1
        return f"c{self.incarnation}-{self._next_command:06d}"

    def _taken(self, task_id: str) -> bool:
        return task_id in self.tasks or task_id in self.known

    def _robot_waypoint(self, robot: Robot, position: str | None,
                        pose: Pose | None = None) -> str:
        """The waypoint a robot reports (or the one nearest its pose), or the robot's
        fault (not the ward file's)."""
        if position is None and pose is not None:
            snapped = self.planner.snap(pose.floor, pose.x, pose.y)
            if snapped is None:
                raise RobotError(robot.id, f"reports a pose on floor '{pose.floor}', which ward "
                                 f"'{self.ward.name}' does not have", field="pose.floor")
            return snapped
        try:
            return self.planner.waypoint_of(position or "")
        except InputError:
            raise RobotError(robot.id, f"reports position '{position}', which is no waypoint "
                             f"or place of ward '{self.ward.name}'", field="position") from None

    def _route_points(self, robot: Robot, goal: str) -> tuple[RoutePoint, ...]:
        try:
            route = self.planner.route(robot.position, goal, closed=self.closed,
                                       speed=robot.profile.speed)
        except NoRoute:
            return ()
        points = []
        for waypoint_id in route.waypoints:
            w = self.ward.waypoints[waypoint_id]
            points.append(RoutePoint(waypoint=w.id, floor=w.floor, x=w.x, y=w.y))
        return tuple(points)

    def _robot(self, robot_id: str) -> Robot:
        try:
            return self.robots[robot_id]
        except KeyError:
            raise RobotError(robot_id, "is not in this ward's fleet", field="robot_id") from None

    def _task(self, task_id: str, field: str) -> Task:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise InputError("task request", f"unknown task '{task_id}'", field=field) from None

    def _label(self, place: str) -> str:
        found = self.ward.places.get(place)
        return found.label if found else place

    def _notify(self, severity: Severity, key: str, *, task: Task | None = None,
                robot: Robot | None = None, place: str | None = None,
                priority: AlertPriority | None = None, **extra: str) -> None:
        """Page staff with message ``key`` (see ``carefleet/strings``); whoever shows it
        renders the text in the reader's language (``priority``: an alert of a device
        rule, whose key the core does not list itself).

        Messages that need an answer (``ALERTS``) raise an alert, which escalates until
        someone acknowledges and resolves it; the others only inform. A repeat of an
        open alert (the same fall seen twice, a call button pressed again) is not paged
        again. Good news resolves the alert it answers (``RESOLVES``).
        """
        params = dict(extra)
        if task is not None:
            params["task"] = task.summary()
        if robot is not None:
            params["robot"] = robot.id
        if place is not None:
            params["place"] = self._label(place)
        task_id, robot_id = (task.id if task else None), (robot.id if robot else None)
        for answered in RESOLVES.get(key, ()):
            dedupe = _dedupe(answered, task_id, robot_id, place, params)
            for alert in [a for a in self.alerts.open() if a.dedupe == dedupe]:
                self._alert_saved(self.alerts.resolve(alert.id, ORCHESTRATOR, self.now))
        alert: Alert | None = None
        if key in ALERTS or priority is not None:
            if priority is None:
                priority = ALERTS[key]
                if key == "task_failed" and task is not None and task.priority is Priority.URGENT:
                    priority = AlertPriority.HIGH
            alert, new = self.alerts.raise_alert(
                key=key, params=params, priority=priority, now=self.now, place=place,
                task_id=task_id, robot_id=robot_id, source=params.get("source", ""),
                dedupe=_dedupe(key, task_id, robot_id, place, params))
            self._alert_saved(alert)
            if not new:
                return
        if key == "fall_robot_arrived" and task_id is not None:
            for arrived in self.alerts.robot_arrived(task_id, self.now):
                self._alert_saved(arrived)
        self._out.append(NotifyStaff(severity=severity, key=key, params=params,
                                     task_id=task_id, robot_id=robot_id, place=place,
                                     alert_id=alert.id if alert else None,
                                     tier=self.alerts.tier_name(alert) if alert else None))
        self._audit(ORCHESTRATOR, "staff_notified", task_id=task_id, robot_id=robot_id,
                    detail={"key": key, "params": params,
                            **({"alert": alert.id} if alert else {})})

    def _escalate(self) -> None:
        """Alerts nobody answered in time go to the next tier (or come back)."""
        due = self.alerts.next_deadline()
        if due is None or due > self.now:
            return
        for alert in self.alerts.due(self.now):
            self._alert_saved(alert)
            tier = self.alerts.tier_name(alert)
            self._out.append(NotifyStaff(
                severity=_SEVERITY[alert.priority], key=alert.key, params=dict(alert.params),
                task_id=alert.task_id, robot_id=alert.robot_id, place=alert.place,
                alert_id=alert.id, tier=tier, escalated=True))
            self._audit(ORCHESTRATOR, "alert_escalated", task_id=alert.task_id,
                        robot_id=alert.robot_id, detail={"alert": alert.id, "tier": tier})

    def _alert_saved(self, alert: Alert) -> None:
        self.journal.append(AlertSaved(record=alert.to_record()))

    def _audit(self, actor: str, action: str, *, task_id: str | None = None,
               robot_id: str | None = None, detail: dict[str, Any] | None = None) -> None:
        self.journal.append(Audited(at=self.now, actor=actor, action=action, task_id=task_id,
                                    robot_id=robot_id, detail=detail or {}))

    def _save_dirty(self) -> None:
        """Journal every task changed by this event; finished ones then leave memory
        (the store keeps them), so a long run does not slow down day by day."""
        self._index_queued()
        for task_id in sorted(self._dirty):
            self.journal.append(TaskSaved(record=self.tasks[task_id].to_record()))
        self._dirty.clear()
        for task_id in self._finished:
            self.known[task_id] = self.tasks.pop(task_id).state.value
        self._finished.clear()
        self.alerts.take_finished()            # resolved alerts: the store has them


#: Messages that raise an alert, with its priority (IEC 60601-1-8 grades alarms so).
ALERTS: dict[str, AlertPriority] = {
    "fall_detected": AlertPriority.HIGH, "call_button": AlertPriority.MEDIUM,
    "robot_fault": AlertPriority.MEDIUM, "robot_estop": AlertPriority.MEDIUM,
    "robot_offline": AlertPriority.MEDIUM, "robot_cannot_charge": AlertPriority.MEDIUM,
    "robot_link_lost": AlertPriority.MEDIUM,
    "task_failed": AlertPriority.MEDIUM, "schedule_missed": AlertPriority.MEDIUM,
    "camera_down": AlertPriority.LOW, "task_waiting": AlertPriority.LOW,
}
#: What a resident can ask for from a call button or the bedside call page.
CALL_REQUESTS = ("help", "water", "toilet", "meal")
ALERTS.update({"call_water": AlertPriority.LOW, "call_toilet": AlertPriority.MEDIUM,
               "call_meal": AlertPriority.LOW})
#: Good news that resolves the alert it answers.
RESOLVES: dict[str, tuple[str, ...]] = {
    "robot_recovered": ("robot_fault", "robot_estop", "robot_offline", "robot_link_lost"),
    "camera_up": ("camera_down",),
}
_SEVERITY = {AlertPriority.HIGH: Severity.URGENT, AlertPriority.MEDIUM: Severity.WARNING,
             AlertPriority.LOW: Severity.INFO}


def _dedupe(key: str, task_id: str | None, robot_id: str | None, place: str | None,
            params: dict[str, str]) -> str | None:
    """What makes two alerts the same thing: a fall in one room, one robot's fault ...
    (None: every one is its own, e.g. each missed meal slot)."""
    if key == "schedule_missed":
        return None
    if key == "fall_detected":
        return f"fall:{place}"
    if key.startswith("robot_"):
        return f"robot:{robot_id}:{'robot_fault' if key != 'robot_cannot_charge' else key}"
    if key.startswith("camera_"):
        return f"camera:{params.get('device')}"
    if key.startswith("device_") and params.get("device"):
        return f"device:{params['device']}:{key}"
    if task_id is not None:
        return f"{key}:{task_id}"
    return f"{key}:{place or params.get('schedule', '')}"


_DEVICE_KEY = re.compile(r"[a-z][a-z0-9_]{0,60}")
_RESERVED_PARAMS = frozenset({"key", "severity", "task", "robot", "place", "priority", "device"})


def _device_alert(event: DeviceEvent) -> tuple[str, AlertPriority, dict[str, str]]:
    """The alert a device rule or the device health watch asks for, checked: its own
    message key (not one of the core's), a priority, and plain text parameters."""
    where = f"device {event.device_id}"
    key = event.data.get("key")
    if not isinstance(key, str) or not _DEVICE_KEY.fullmatch(key) or key in ALERTS:
        raise InputError(where, "an alert key is lower-case letters, digits and _, "
                         "not one of the core's own", field="data.key")
    try:
        priority = AlertPriority(event.data.get("priority", "medium"))
    except ValueError:
        raise InputError(where, "priority is high, medium or low", field="data.priority") from None
    given = event.data.get("params") or {}
    if not isinstance(given, dict):
        raise InputError(where, "expected a mapping", field="data.params")
    return key, priority, {str(k): str(v)[:200] for k, v in given.items()
                           if str(k) not in _RESERVED_PARAMS}


def _offer_key(offer: Offer) -> tuple[float, float, str]:
    return (offer.finish, -offer.energy_left, offer.robot.id)


def _ever_started(task: Task) -> bool:
    return any(state == TaskState.ACTIVE.value for _, state, _ in task.history)


def _serial(task_id: str) -> int:
    digits = task_id[1:] if task_id.startswith("t") else ""
    return int(digits) if digits.isdigit() else 0


def _completion_reason(task: Task) -> str:
    missed = getattr(task, "missed", None)
    if missed:
        return f"done; tray not taken in {', '.join(missed)}"
    if isinstance(task, FallResponse) and task.acknowledged_by:
        return f"staff ({task.acknowledged_by}) took over"
    return "done"
