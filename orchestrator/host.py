"""The one host between the orchestrator core and every runtime.

The core (``core.Orchestrator``) decides and does no I/O; a runtime owns threads,
sockets and time. Between them sits this host, the same for the simulator, the live
service and the ROS 2 node, so the guarantees below are written and tested once:

- **an inbox**: ``post(event)`` is safe from any thread (a driver's callback, an HTTP
  handler, a ROS subscription) and returns a ``Future`` that resolves once the event's
  effects are on disk; events are handled **one at a time**, in order;
- **journal before commands**: the core's journal for an event is committed to the
  store *before* any of its commands is carried out; if the commit fails (disk full,
  read-only) the event is refused with the real cause, no command leaves, and the core
  is rebuilt from the store (it was ahead of the disk);
- **bounded driver calls**: each robot command goes to its driver with a time limit;
  ``Reply.RETRY`` is tried again with backoff, and a driver that keeps refusing, hangs
  or raises is reported to the core as a FAILED command (the robot's fault), never as a
  crash of the host;
- **wakeups** from the core's ``next_wakeup()`` and the retry timers, read against an
  injected ``Clock``: a virtual one in the simulator, the wall clock live;
- **restart from the store**: ``restart()`` throws the core away and rebuilds it from
  what the store acknowledged, exactly as a crash would, and counts any accepted task
  the rebuilt core does not hold (``lost``: must stay empty);
- **no spinning**: more than ``runaway_limit`` events at one instant is a runaway loop,
  refused with an error that names what was looping;
- **observers**: ``subscribe(callback)`` gets a change feed (task records, robot
  states, staff notifications, refusals, faults) without draining the journal;
  ``ReadModel`` keeps the latest of each for an API, a dashboard or a ROS topic.

Like py_trees' ``tick()`` and ``tick_tock()``: ``handle`` / ``step`` / ``poll`` are one
step each; ``run_forever`` is the loop around them for runtimes with a real clock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from carefleet.errors import CoreFault, InputError, RobotError, StoreError
from carefleet.orchestrator.commands import Command, NotifyStaff, RobotCommand, Stop
from carefleet.orchestrator.core import Orchestrator
from carefleet.orchestrator.events import CommandResult, Event, Outcome, Tick
from carefleet.orchestrator.journal import (AlertSaved, Audited, JournalEntry, StateSaved,
                                            TaskSaved)
from carefleet.orchestrator.schedules import schedule_record
from carefleet.orchestrator.store import OPEN_STATES, TaskStore
from carefleet.robots.driver import DriverContext, Reply, RobotDriver, send

#: Seconds between tries when a driver answers ``Reply.RETRY``; then it has failed.
RETRY_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0)


class Clock(Protocol):
    """Where the host reads the time: virtual in the simulator, the wall clock live."""

    def now(self) -> float: ...


class WallClock:
    """Real time, in epoch seconds."""

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """Time that moves only when the simulator says so."""

    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


class RunawayError(CoreFault):
    """Events kept arriving at one instant: a loop between the core and a driver."""


@dataclass(frozen=True, slots=True)
class Change:
    """One item of the change feed.

    ``kind`` is ``task`` (``data``: the stored record), ``robot`` (a ``RobotView``),
    ``alert`` (the stored alert record), ``state`` (``(key, value)`` of core state such
    as closures or schedules), ``notify`` (a ``NotifyStaff``), ``command`` (a robot
    command about to be sent),
    ``refused`` (``data``: ``(event, error)``), ``fault`` (``data``: the message),
    ``restart`` (``data``: ids of tasks lost, normally none).
    """

    kind: str
    at: float
    data: Any


@dataclass(frozen=True, slots=True)
class RobotView:
    """What observers see of a robot (the core's ``Robot`` stays the core's)."""

    id: str
    state: str
    position: str
    battery: float
    task: str | None
    queue: tuple[str, ...]
    error: str | None
    held: bool = False


@dataclass(frozen=True, slots=True)
class Handled:
    """What one accepted event did, once it is on disk: the commands carried out, the
    task records and audit entries committed (an API reads the new task's id here)."""

    commands: tuple[Command, ...]
    records: tuple[dict[str, Any], ...]
    audits: tuple[Audited, ...]

    def task_id(self, action: str = "task_submitted") -> str | None:
        """The task the first audit entry named ``action`` is about."""
        return next((a.task_id for a in self.audits if a.action == action), None)


Observer = Callable[[Change], None]
Build = Callable[[int], Orchestrator]


@dataclass
class _Retry:
    at: float
    command: RobotCommand
    attempt: int


@dataclass
class _Slot:
    """One event in the inbox and the future its poster waits on."""

    event: Event
    future: Future = field(default_factory=Future)


class Host:
    """Runs one orchestrator core on one store for one runtime.

    ``build(incarnation)`` makes a fresh core (ward, fleet, schedules, policy) and is
    called again for every restart or rebuild. ``on_post`` is called (from the posting
    thread) whenever an event joins the inbox and ``on_due(t)`` whenever the next
    wakeup may have changed; a runtime that runs its own loop (the simulator) uses
    them to schedule ``step`` and ``poll``; without them ``run_forever`` waits itself.
    ``core_faults="raise"`` (tests, the simulator) lets a core bug end the run;
    ``"rebuild"`` (live) rebuilds the core from the store and carries on.
    """

    def __init__(self, build: Build, store_path: str, *, clock: Clock,
                 drivers: dict[str, RobotDriver] | None = None,
                 driver_timeout: float | None = 5.0, runaway_limit: int = 20_000,
                 core_faults: str = "rebuild", on_post: Callable[[], None] | None = None,
                 on_due: Callable[[float], None] | None = None) -> None:
        if core_faults not in ("raise", "rebuild"):
            raise ValueError("core_faults is 'raise' or 'rebuild'")
        self.build = build
        self.store_path = store_path
        self.clock = clock
        self.drivers: dict[str, RobotDriver] = dict(drivers or {})
        self.driver_timeout = driver_timeout
        self.runaway_limit = runaway_limit
        self.core_faults = core_faults
        self.lost: list[str] = []
        self.restarts = 0
        self._on_post = on_post
        self._on_due = on_due
        self._observers: list[Observer] = []
        self._inbox: deque[_Slot] = deque()
        self._wakeup = threading.Condition()
        self._retries: list[_Retry] = []
        self._latest: dict[str, str] = {}            # robot id -> newest command id sent
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._instant: tuple[float, Counter[str]] = (float("nan"), Counter())
        self._robot_views: dict[str, RobotView] = {}
        self._accepted: set[str] = set()             # open tasks the store acknowledged
        self.store = TaskStore(store_path)
        self.core = self._restore()

    # == the inbox =========================================================
    def post(self, event: Event) -> Future:
        """Queue ``event`` (from any thread); the future resolves with its ``Handled``
        once it is committed, or with the refusal (``InputError``, ``RobotError``,
        ``StoreError``, ``CoreFault``)."""
        slot = _Slot(event)
        with self._wakeup:
            self._inbox.append(slot)
            self._wakeup.notify()
        if self._on_post is not None:
            self._on_post()
        return slot.future

    def step(self) -> bool:
        """Handle the oldest event in the inbox; False when it was empty."""
        with self._wakeup:
            if not self._inbox:
                return False
            slot = self._inbox.popleft()
        try:
            slot.future.set_result(self.handle(slot.event))
        except (InputError, RobotError, StoreError) as error:
            slot.future.set_exception(error)
        except CoreFault as error:
            slot.future.set_exception(error)
            if self.core_faults == "raise":
                raise
        return True

    def poll(self) -> None:
        """Do what is due now: driver retries, then the core's wakeup (a ``Tick``)."""
        now = self.clock.now()
        due = [r for r in self._retries if r.at <= now]
        self._retries = [r for r in self._retries if r.at > now]
        for retry in due:
            if self._latest.get(retry.command.robot_id) == retry.command.command_id:
                self._deliver(retry.command, retry.attempt)
        wake = self.core.next_wakeup()
        if wake is not None and wake <= now:
            self.handle(Tick())
        else:
            self._announce_due()

    def next_due(self) -> float | None:
        """When ``poll`` should run next (the core's wakeup or a driver retry)."""
        times = [r.at for r in self._retries]
        wake = self.core.next_wakeup()
        if wake is not None:
            times.append(wake)
        return min(times) if times else None

    # == one event =========================================================
    def handle(self, event: Event) -> Handled:
        """Handle one event now: core, commit, observers, then commands.

        Raises what the core raises for a refused event (nothing changed), and
        ``StoreError`` when the commit failed (nothing was sent; the core is rebuilt).
        """
        now = self.clock.now()
        self._count(event, now)
        try:
            commands = self.core.handle(event, now)
        except (InputError, RobotError) as error:
            self._emit(Change("refused", now, (event, str(error))))
            raise
        except CoreFault as fault:
            self._emit(Change("fault", now, str(fault)))
            if self.core_faults == "rebuild":
                self._rebuild()
            raise
        journal = self.core.take_journal()
        try:
            self.store.write(journal, now=now)
        except StoreError as error:
            self._emit(Change("fault", now, str(error)))
            self._rebuild()
            raise
        self._acknowledge(journal, now)
        self._emit_robots(now)
        for command in commands:
            self._carry_out(command, now)
        self._announce_due()
        return Handled(tuple(commands),
                       tuple(e.record for e in journal if isinstance(e, TaskSaved)),
                       tuple(e for e in journal if isinstance(e, Audited)))

    # == restart ===========================================================
    def restart(self, *, reopen_store: bool = True) -> list[str]:
        """Crash and restart: the core is gone, the store remains; returns lost ids.

        With ``reopen_store`` the store is closed and opened again too (a new process
        would do exactly that); every driver is then asked for its status.
        """
        self.restarts += 1
        self.core.close()
        if reopen_store:
            self.store.close()
            self.store = TaskStore(self.store_path)
        else:
            self.store.new_incarnation()
        accepted = set(self._accepted)
        self.core = self._restore()
        lost = sorted(accepted - set(self.core.tasks))
        self.lost += lost
        self._emit(Change("restart", self.clock.now(), lost))
        for robot_id in sorted(self.drivers):
            self.ask_status(robot_id)
        self._announce_due()
        return lost

    def _restore(self, *, after_failure: bool = False) -> Orchestrator:
        """A new core from everything the store holds (an empty store included).

        ``after_failure``: the store may still refuse to commit; the core then stays
        broken (refusing events, saying why) instead of the host crashing.
        """
        core = self.build(self.store.incarnation)
        core.restore(self.store.open_tasks(), self.store.marks(),
                     used_ids=self.store.task_ids(), state=self.store.core_state(),
                     alerts=self.store.open_alerts())
        journal = core.take_journal()
        try:
            self.store.write(journal, now=core.now)
        except StoreError as error:
            if not after_failure:
                core.close()
                raise
            core.broken = f"its store cannot commit: {error}"
        self._accepted = {t.id for t in core.tasks.values()}
        return core

    def _rebuild(self) -> None:
        """The core is ahead of the store (a failed commit) or broken: start it again."""
        self.core.close()
        try:
            self.store.new_incarnation()
        except StoreError:
            pass     # the store still cannot write: the restored core will say so
        self.core = self._restore(after_failure=True)
        for robot_id in sorted(self.drivers):
            self.ask_status(robot_id)

    # == observers =========================================================
    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Add an observer of the change feed; returns a function that removes it.

        Observers run on the host's thread, after the commit: they must not block
        (an API hands changes to its event loop with ``call_soon_threadsafe``).
        """
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    def _emit(self, change: Change) -> None:
        for observer in list(self._observers):
            observer(change)

    def _acknowledge(self, journal: Iterable[JournalEntry], now: float) -> None:
        """The store has committed ``journal``: keep the ledger of accepted open tasks
        (the runtime's own count, so a task a restarted core lost would show)."""
        for entry in journal:
            if isinstance(entry, TaskSaved):
                record = entry.record
                if record["state"] in OPEN_STATES:
                    self._accepted.add(record["id"])
                else:
                    self._accepted.discard(record["id"])
                if self._observers:
                    self._emit(Change("task", now, record))
            elif self._observers and isinstance(entry, AlertSaved):
                self._emit(Change("alert", now, entry.record))
            elif self._observers and isinstance(entry, StateSaved):
                self._emit(Change("state", now, (entry.key, entry.value)))

    def _emit_robots(self, now: float) -> None:
        """Show the robots this event changed (the core keeps count: never the whole fleet)."""
        changed = self.core.take_changed_robots()
        if not self._observers:
            return
        for robot in changed:
            view = RobotView(robot.id, robot.state.value, robot.position, robot.battery,
                             robot.task, tuple(robot.queue), robot.error, robot.held)
            if self._robot_views.get(robot.id) != view:
                self._robot_views[robot.id] = view
                self._emit(Change("robot", now, view))

    # == commands to drivers ===============================================
    def _carry_out(self, command: Command, now: float) -> None:
        if isinstance(command, NotifyStaff):
            self._emit(Change("notify", now, command))
            return
        self._emit(Change("command", now, command))
        if not isinstance(command, Stop):
            self._latest[command.robot_id] = command.command_id
        self._deliver(command, 0)

    def _deliver(self, command: RobotCommand, attempt: int) -> None:
        """Send one command; a busy driver (``RETRY``) is asked again with backoff. A
        ``Stop`` the driver could not take is retried the same way (a robot must not keep
        doing what it was told to stop), for as long as what it stops is still the
        robot's newest command."""
        driver = self.drivers.get(command.robot_id)
        if driver is None:
            self._failed(command, "no driver is configured for this robot")
            return
        stop = isinstance(command, Stop)
        try:
            reply = self._call(command.robot_id, lambda: send(driver, command))
        except FutureTimeout:
            why = f"driver did not answer within {self.driver_timeout:g} s"
            self._again(command, attempt, why) if stop else self._failed(command, why)
            return
        except Exception as exc:          # a driver bug is the robot's fault, not ours
            why = f"driver error: {type(exc).__name__}: {exc}"
            self._again(command, attempt, why) if stop else self._failed(command, why)
            return
        if reply is Reply.RETRY:
            self._again(command, attempt, "driver still busy")

    def _again(self, command: RobotCommand, attempt: int, why: str) -> None:
        if attempt >= len(RETRY_BACKOFF):
            self._failed(command, f"{why} after {attempt + 1} tries")
        else:
            self._retries.append(_Retry(self.clock.now() + RETRY_BACKOFF[attempt],
                                        command, attempt + 1))

    def _failed(self, command: RobotCommand, why: str) -> None:
        if isinstance(command, Stop):     # the core keeps no answer to a Stop: say it loud
            self._emit(Change("fault", self.clock.now(),
                              f"robot {command.robot_id}: could not stop {command.command_id}: "
                              f"{why}"))
            return
        self.post(CommandResult(robot_id=command.robot_id, command_id=command.command_id,
                                outcome=Outcome.FAILED, detail=why))

    def _call(self, robot_id: str, call: Callable[[], Reply]) -> Reply:
        """Run a driver call with the time limit, on that robot's own worker thread so
        a hung driver holds up nobody else (inline when there is no limit)."""
        if self.driver_timeout is None:
            return call()
        pool = self._pools.get(robot_id)
        if pool is None:
            pool = self._pools[robot_id] = ThreadPoolExecutor(1, f"driver-{robot_id}")
        return pool.submit(call).result(timeout=self.driver_timeout)

    def ask_status(self, robot_id: str) -> None:
        """Ask a driver for its status (bounded) and post it; a failure is the robot's."""
        driver = self.drivers[robot_id]
        try:
            status = self._call(robot_id, driver.status)    # type: ignore[arg-type]
        except Exception as exc:
            self._emit(Change("fault", self.clock.now(), f"robot {robot_id}: status: {exc}"))
            return
        self.post(status)      # type: ignore[arg-type]

    # == time ==============================================================
    def _announce_due(self) -> None:
        if self._on_due is not None:
            due = self.next_due()
            if due is not None:
                self._on_due(due)
        else:
            with self._wakeup:
                self._wakeup.notify()

    def _count(self, event: Event, now: float) -> None:
        """Refuse to spin: too many events at one instant is a loop, named here."""
        at, counts = self._instant
        if at != now:
            self._instant = (now, Counter())
            at, counts = self._instant
        who = getattr(event, "robot_id", None)
        counts[type(event).__name__ + (f" from {who}" if who else "")] += 1
        if sum(counts.values()) > self.runaway_limit:
            top = ", ".join(f"{name} x{n}" for name, n in counts.most_common(3))
            raise RunawayError(f"runaway: more than {self.runaway_limit} events at one "
                               f"instant ({top}); the core and a driver are feeding each other")

    def run_forever(self, stop: threading.Event) -> None:
        """The loop for runtimes with a real clock: handle events as they arrive, poll
        when something is due, until ``stop`` is set (then return promptly)."""
        while not stop.is_set():
            with self._wakeup:
                if not self._inbox:
                    due = self.next_due()
                    wait = 1.0 if due is None else min(max(due - self.clock.now(), 0.0), 1.0)
                    if wait > 0:
                        self._wakeup.wait(wait)
            if stop.is_set():
                break
            if not self.step():
                due = self.next_due()
                if due is not None and due <= self.clock.now():
                    self.poll()

    def wake(self) -> None:
        """Make ``run_forever`` look again (e.g. to notice ``stop``)."""
        with self._wakeup:
            self._wakeup.notify()

    def context(self) -> DriverContext:
        """What a driver of this host may know: the ward, the clock, the inbox."""
        return DriverContext(ward=self.core.ward, clock=self.clock, post=self.post)

    def close(self) -> None:
        """Stop driver workers, release the core's models and the store's lock."""
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self.core.close()
        self.store.close()


class ReadModel:
    """The latest robots, tasks, alerts, schedules and notifications, from the change feed.

    Thread-safe: the host writes on its thread, readers (HTTP handlers) copy. Made
    before the host runs, it starts from the host's core and store; finished tasks and
    resolved alerts beyond ``keep_finished`` are dropped (the store keeps them).
    """

    def __init__(self, host: Host, *, keep_notifications: int = 500,
                 keep_finished: int = 500) -> None:
        self._lock = threading.Lock()
        self.robots: dict[str, RobotView] = {}
        self.tasks: dict[str, dict[str, Any]] = {t.id: t.to_record()
                                                 for t in host.core.tasks.values()}
        self.alerts: dict[str, dict[str, Any]] = {a["id"]: a for a in host.store.open_alerts()}
        self.schedules: dict[str, dict[str, Any]] = {
            name: schedule_record(s) for name, s in host.core.schedules.items()}
        self.notifications: deque[tuple[float, NotifyStaff]] = deque(maxlen=keep_notifications)
        self._finished: deque[tuple[str, str]] = deque()
        self._keep = keep_finished
        self.version = 0
        self.unsubscribe = host.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        with self._lock:
            self.version += 1
            if change.kind == "robot":
                self.robots[change.data.id] = change.data
            elif change.kind == "task":
                self._keep_record(self.tasks, "tasks", change.data,
                                  change.data["state"] in ("completed", "failed", "cancelled"))
            elif change.kind == "alert":
                self._keep_record(self.alerts, "alerts", change.data,
                                  change.data["state"] == "resolved")
            elif change.kind == "state" and change.data[0] == "schedules":
                self.schedules = {r["name"]: r for r in change.data[1]}
            elif change.kind == "notify":
                self.notifications.append((change.at, change.data))

    def _keep_record(self, table: dict[str, dict[str, Any]], name: str,
                     record: dict[str, Any], finished: bool) -> None:
        table[record["id"]] = record
        if finished:
            self._finished.append((name, record["id"]))
            while len(self._finished) > self._keep:
                which, old = self._finished.popleft()
                getattr(self, which).pop(old, None)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"version": self.version, "robots": dict(self.robots),
                    "tasks": dict(self.tasks), "alerts": dict(self.alerts),
                    "schedules": dict(self.schedules),
                    "notifications": list(self.notifications)}
