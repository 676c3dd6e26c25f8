"""Crash rig: a real host in a child process, killed with SIGKILL, and the checks after.

Shared by ``tests/orchestrator/test_crash.py`` (a few kills in ``make test``) and
``bench/host_crash.py`` (a thousand), so both run exactly the same loop.

**The child** (``python crash_child.py STORE RUN [RETRY_ID ...]``) opens a ``Host`` on a
real store with the wall clock, two instant robots, ``run_forever`` in a thread, and
then submits ``go_to`` tasks one after another, printing ``ACK <id>`` only once the
future has resolved, i.e. once the store has committed the task. An ACK is the promise
under test: whatever moment the kill lands on (mid-commit included), every id the child
printed must be on disk, once. Started again on the same store it is a new incarnation
that resumes the open tasks (``Host.__init__`` restores), as a restarted service would.
It first resubmits the ``RETRY_ID`` s it is given: the one id that was in flight when
the last child died, which it may or may not have committed. A client retrying like
this must get exactly one task either way (a duplicate is audited, not stored twice).

**The parent** (``CrashLoop``) starts the child, reads a random number of ACKs, kills
it, reads the ACKs still in the pipe (printed, so committed), then ``inspect`` s the
store: every acknowledged id stored once, one ``task_submitted`` audit row per id, an
intact audit (sequence without gaps, old rows unchanged), ``PRAGMA integrity_check``,
and a host restarted on the store holding every acknowledged task not yet finished.
"""

from __future__ import annotations

import itertools
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from carefleet.errors import StoreError
from carefleet.maps import DEMO_WARD, Ward, load_ward
from carefleet.orchestrator.core import Orchestrator, Policy
from carefleet.orchestrator.events import CommandResult, Outcome, RobotStatus, TaskSubmitted
from carefleet.orchestrator.host import Host, WallClock
from carefleet.orchestrator.store import OPEN_STATES, TaskStore
from carefleet.robots.driver import Reply, RobotDriver
from carefleet.robots.model import Capability, RobotProfile, RobotSpec

ROBOTS = ("r1", "r2")
ROOMS = [f"room_{n}" for n in range(101, 117)]
PROFILE = RobotProfile(model="instant", trays=2, capabilities=frozenset(Capability))
#: Failure guard only (a child that hangs or never starts), never a speed assertion.
DEADLINE = 60.0


# == the child ===============================================================
class InstantBot(RobotDriver):
    """Finishes every command at once, so the child commits as fast as it can and a
    kill lands anywhere in the host's cycle (inbox, commit, driver call, report)."""

    def __init__(self, robot_id: str, report: Any) -> None:
        super().__init__(robot_id, report)
        self.position = "f1_service"

    def _done(self, command_id: str, outcome: Outcome = Outcome.SUCCEEDED) -> Reply:
        self.report(CommandResult(robot_id=self.robot_id, command_id=command_id,
                                  outcome=outcome, position=self.position))
        return Reply.ACCEPTED

    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        self.position = waypoint
        return self._done(command_id)

    def stop(self, command_id: str) -> Reply:
        return self._done(command_id, Outcome.CANCELLED)

    def perform(self, command_id: str, action: str, place: str, params: dict) -> Reply:
        return self._done(command_id)

    def dock(self, command_id: str, place: str) -> Reply:
        return self._done(command_id)

    def status(self) -> RobotStatus:
        return RobotStatus(robot_id=self.robot_id, position=self.position, battery=1.0)


def open_host(ward: Ward, path: str) -> Host:
    """The host as the child runs it (and as the parent reopens it after a kill)."""
    clock = WallClock()
    specs = [RobotSpec(id=r, profile=PROFILE, start="kitchen") for r in ROBOTS]
    return Host(lambda inc: Orchestrator(ward, specs, start=clock.now(), incarnation=inc,
                                         policy=Policy(silence_timeout=None)),
                path, clock=clock, driver_timeout=2.0)


def request_for(task_id: str) -> dict[str, Any]:
    """The request behind an id, so a retry of an id asks for the same thing."""
    return {"kind": "go_to", "place": ROOMS[int(task_id.rsplit("-", 1)[1]) % len(ROOMS)]}


def child(path: str, run: str, retry: list[str]) -> None:
    """Submit tasks forever, printing each id once it is committed; ends by SIGKILL (or
    when the parent goes away: its end of stdin closes)."""
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(3)), daemon=True).start()
    host = open_host(load_ward(DEMO_WARD), path)
    host.drivers.update({r: InstantBot(r, host.post) for r in ROBOTS})
    threading.Thread(target=host.run_forever, args=(threading.Event(),), daemon=True).start()
    for driver in host.drivers.values():
        host.post(driver.status()).result(timeout=DEADLINE)
    for task_id in itertools.chain(retry, (f"{run}-{n}" for n in itertools.count(1))):
        event = TaskSubmitted(request=request_for(task_id), requested_by="staff:crash",
                              task_id=task_id)
        host.post(event).result(timeout=DEADLINE)       # resolved = committed
        print(f"ACK {task_id}", flush=True)


# == the parent ==============================================================
@dataclass
class Round:
    """One child's life: what it acknowledged and what the lock said while it lived."""

    acked: list[str]
    inflight: str            # the id it was probably submitting when it died
    refusals: list[str]      # what a second TaskStore and a second Host were told
    pid: int


def run_child(path: str, ward: Ward, run: str, retry: list[str], acks_before_kill: int,
              rng: random.Random) -> Round:
    """Start a child, read ``acks_before_kill`` ACKs, try a second writer, SIGKILL it,
    then collect the ACKs still in the pipe. Raises if the child dies on its own."""
    script = os.path.abspath(__file__)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([sys.executable, script, path, run, *retry],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errors, text=True)
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        acked: list[str] = []
        refusals: list[str] = []
        deadline = time.monotonic() + DEADLINE
        try:
            while len(acked) < acks_before_kill:
                try:
                    line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
                except queue.Empty:
                    line = "no ACK within the deadline"
                if line is None or not line.startswith("ACK "):
                    proc.send_signal(signal.SIGKILL)
                    errors.seek(0)
                    raise RuntimeError(f"child {proc.pid}: {line or 'ended on its own'} (exit "
                                       f"{proc.wait()}):\n{errors.read().decode()}")
                acked.append(line.split()[1])
                if len(acked) == 1:
                    refusals = second_writer_refusals(path, ward)
            # Jitter so the kill does not always follow the same ACK in the child's cycle
            # (randomness only; nothing depends on this timing).
            time.sleep(rng.random() * 0.005)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=DEADLINE)
            reader.join(timeout=DEADLINE)
            proc.stdin.close()                               # type: ignore[union-attr]
    while (line := lines.get_nowait()) is not None:          # printed, so committed
        acked.append(line.split()[1])
    own = [a for a in acked if a.startswith(f"{run}-")]
    return Round(acked, f"{run}-{len(own) + 1}", refusals, proc.pid)


def _pump(stdout: Any, lines: queue.Queue[str | None]) -> None:
    """Move the child's lines to a queue (read with a deadline); None at its end."""
    for line in stdout:
        lines.put(line)
    lines.put(None)


def second_writer_refusals(path: str, ward: Ward) -> list[str]:
    """Open the store as a writer, bare and under a host, while the child holds it:
    the errors' text ("" where it was not refused, which would be a finding)."""
    said = []
    for second_writer in (lambda: TaskStore(path), lambda: open_host(ward, path)):
        try:
            second_writer().close()
            said.append("")
        except StoreError as error:
            said.append(str(error))
    return said


@dataclass
class Inspection:
    """What the store looks like after a kill; every list empty means all promises held."""

    lost: list[str] = field(default_factory=list)            # acked, not stored
    duplicates: list[str] = field(default_factory=list)      # stored or submitted twice
    integrity: str = "ok"
    audit_problems: list[str] = field(default_factory=list)
    not_resumed: list[str] = field(default_factory=list)     # open, not in a restarted core
    host_lost: list[str] = field(default_factory=list)       # Host.restart()'s own count
    resumed: int = 0                                         # acked, open, and held again
    audit: list[tuple] = field(default_factory=list)         # every row, for the next round

    @property
    def clean(self) -> bool:
        return (not (self.lost or self.duplicates or self.audit_problems or self.not_resumed
                     or self.host_lost) and self.integrity == "ok")


def inspect(path: str, ward: Ward, acked: set[str], audit_before: list[tuple]) -> Inspection:
    """Check the store a kill left behind (the child must be dead: a host is reopened)."""
    found = Inspection()
    with TaskStore(path, writer=False) as reader:              # as the kill left it
        ids = Counter(reader.task_ids())
        found.lost = sorted(acked - set(ids))
        submitted = Counter(a.task_id for a in reader.audit() if a.action == "task_submitted")
        found.duplicates = sorted({i for i, n in ids.items() if n > 1}
                                  | {i for i, n in submitted.items() if n > 1})
        unaudited = sorted(i for i in acked & set(ids) if submitted[i] == 0)
        if unaudited:
            found.audit_problems.append(f"no task_submitted row for {', '.join(unaudited)}")
        found.integrity = reader.integrity()
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found.audit = raw.execute("SELECT seq, at, actor, action, task_id, robot_id, detail "
                                  "FROM audit ORDER BY seq").fetchall()
    finally:
        raw.close()
    seqs = [row[0] for row in found.audit]
    if seqs != list(range(1, len(seqs) + 1)):
        found.audit_problems.append(f"audit sequence has gaps: {len(seqs)} rows up to "
                                    f"{seqs[-1] if seqs else 0}")
    if found.audit[:len(audit_before)] != audit_before:
        found.audit_problems.append("audit rows written before this kill were changed")
    host = open_host(ward, path)                               # a restart, as the child does
    try:
        for task_id in sorted(acked - set(found.lost)):
            record = host.store.task(task_id)
            if record["state"] in OPEN_STATES:
                if task_id in host.core.tasks:
                    found.resumed += 1
                else:
                    found.not_resumed.append(task_id)
        found.host_lost = host.restart() + host.lost
    finally:
        host.close()
    return found


class CrashLoop:
    """Kill after kill on one store, keeping every acknowledged id and the audit seen."""

    def __init__(self, path: str, *, seed: int = 0, max_acks: int = 8) -> None:
        self.path = path
        self.rng = random.Random(seed)
        self.max_acks = max_acks
        self.ward = load_ward(DEMO_WARD)
        self.acked: set[str] = set()
        self.audit: list[tuple] = []
        self.kills = 0
        self.retry: list[str] = []

    def kill_once(self) -> tuple[Round, Inspection]:
        """One child started, killed at a random ACK, and the store inspected."""
        self.kills += 1
        life = run_child(self.path, self.ward, f"k{self.kills}", self.retry,
                         self.rng.randint(1, self.max_acks), self.rng)
        self.acked.update(life.acked)
        self.retry = [life.inflight]
        found = inspect(self.path, self.ward, self.acked, self.audit)
        self.audit = found.audit
        return life, found


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], sys.argv[3:])
