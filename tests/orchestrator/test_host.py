"""The host's guarantees, tested once for every runtime: journal before commands, one
event at a time, bounded driver calls with retry, refusals that change nothing,
failures of the store and of the core, restarts, observers, and the threaded loop."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from carefleet.errors import CoreFault, InputError, RobotError, StoreError
from carefleet.maps import Ward
from carefleet.orchestrator.core import Orchestrator, Policy
from carefleet.orchestrator.events import (CommandResult, DriverMode, FallDetected, Outcome,
                                           RobotStatus, TaskCancelled, TaskSubmitted, Tick)
from carefleet.orchestrator.host import Host, ReadModel, RunawayError, VirtualClock, WallClock
from carefleet.orchestrator.store import TaskStore
from carefleet.robots.driver import Reply, RobotDriver
from carefleet.robots.model import RobotSpec

from orchestrator_helpers import MEAL_BOT, START

GO_TO = {"kind": "go_to", "place": "room_101"}


class Recorder(RobotDriver):
    """A scripted driver: answers each call with the next scripted reply (ACCEPTED when
    nothing is scripted), records what it was sent, and can look at the store first."""

    def __init__(self, robot_id: str, report: Callable[[Any], Any], position: str = "f1_service",
                 replies: list[Any] | None = None,
                 on_command: Callable[[str], None] | None = None) -> None:
        super().__init__(robot_id, report)
        self.position = position
        self.replies = list(replies or [])
        self.sent: list[tuple[str, str]] = []
        self.on_command = on_command

    def _answer(self, kind: str, command_id: str) -> Reply:
        self.sent.append((kind, command_id))
        if self.on_command:
            self.on_command(command_id)
        reply = self.replies.pop(0) if self.replies else Reply.ACCEPTED
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply()
        return reply

    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        return self._answer("navigate", command_id)

    def stop(self, command_id: str) -> Reply:
        return self._answer("stop", command_id)

    def perform(self, command_id: str, action: str, place: str, params: dict) -> Reply:
        return self._answer("perform", command_id)

    def dock(self, command_id: str, place: str) -> Reply:
        return self._answer("dock", command_id)

    def status(self) -> RobotStatus:
        return RobotStatus(robot_id=self.robot_id, position=self.position, battery=0.9)


@pytest.fixture
def make_host(ward: Ward, tmp_path: Path) -> Callable[..., Host]:
    hosts: list[Host] = []

    def make(*, path: Path | None = None, clock: Any = None, robots: tuple[str, ...] = ("r1",),
             **kw: Any) -> Host:
        clock = clock or VirtualClock(START)
        specs = [RobotSpec(id=r, profile=MEAL_BOT, start="kitchen") for r in robots]
        kw.setdefault("driver_timeout", None)
        kw.setdefault("core_faults", "raise")
        host = Host(lambda inc: Orchestrator(ward, specs, start=clock.now(), incarnation=inc,
                                             policy=Policy(silence_timeout=None)),
                    str(path or tmp_path / "store.db"), clock=clock, **kw)
        hosts.append(host)
        return host
    yield make
    for host in hosts:
        try:
            host.close()
        except Exception:
            pass


def drain(host: Host) -> None:
    while host.step():
        pass


def test_the_journal_is_committed_before_any_command_reaches_a_driver(make_host, tmp_path) -> None:
    host = make_host()
    reader = TaskStore(tmp_path / "store.db", writer=False)
    seen: list[Any] = []
    driver = Recorder("r1", host.post, on_command=lambda cid: seen.append(reader.task("t00001")))
    host.drivers["r1"] = driver
    host.post(driver.status())
    done = host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna"))
    drain(host)
    assert done.result() and driver.sent[0][0] == "navigate"
    assert seen[0] is not None and seen[0]["state"] == "active"   # on disk before the drive
    reader.close()


def test_a_refused_event_changes_nothing_and_its_poster_is_told(make_host) -> None:
    host = make_host()
    refused: list[Any] = []
    host.subscribe(lambda c: refused.append(c.data) if c.kind == "refused" else None)
    before = host.store.audit()
    bad = host.post(TaskSubmitted(request={"kind": "go_to", "place": "room_999"},
                                  requested_by="staff:anna"))
    ghost = host.post(RobotStatus(robot_id="r9", position="kitchen", battery=0.5))
    drain(host)
    with pytest.raises(InputError, match="room_999"):
        bad.result()
    with pytest.raises(RobotError, match="robot r9"):
        ghost.result()
    assert host.store.audit() == before and host.core.now == START
    assert len(refused) == 2


def test_a_robot_reporting_an_unknown_waypoint_is_blamed_and_not_stuck(make_host) -> None:
    host = make_host()
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    lost = host.post(RobotStatus(robot_id="r1", position="narnia", battery=0.5))
    drain(host)
    with pytest.raises(RobotError, match="robot r1: position: reports position 'narnia'"):
        lost.result()
    host.post(driver.status())
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna"))
    drain(host)
    assert driver.sent and driver.sent[0][0] == "navigate"         # the next report works


def test_a_full_disk_refuses_the_event_before_any_command_leaves(make_host) -> None:
    host = make_host()
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    host.post(driver.status())
    drain(host)
    pages = host.store._db.execute("PRAGMA page_count").fetchone()[0]
    host.store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = {"kind": "meal_delivery", "rooms": ["room_101"], "meal": "x" * 20000}
    done = host.post(TaskSubmitted(request=big, requested_by="staff:anna", task_id="m1"))
    drain(host)
    with pytest.raises(StoreError, match="database or disk is full"):
        done.result()
    assert driver.sent == [] and "m1" not in host.core.tasks          # refused, not half-done
    host.store._db.execute(f"PRAGMA max_page_count = {pages * 100}")
    again = host.post(TaskSubmitted(request=big, requested_by="staff:anna", task_id="m1"))
    drain(host)
    assert again.result() and host.store.task("m1") is not None
    assert driver.sent and driver.sent[0][0] == "perform"             # loading trays


def test_a_second_host_on_the_same_store_is_refused(make_host, tmp_path) -> None:
    make_host()
    with pytest.raises(StoreError, match="already in use by another orchestrator"):
        make_host(path=tmp_path / "store.db")


def test_retry_is_honoured_with_backoff_then_the_command_fails(make_host) -> None:
    clock = VirtualClock(START)
    host = make_host(clock=clock)
    driver = Recorder("r1", host.post, replies=[Reply.RETRY, Reply.RETRY])
    host.drivers["r1"] = driver
    host.post(driver.status())
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna"))
    drain(host)
    assert [k for k, _ in driver.sent] == ["navigate"] and host.next_due() == START + 1.0
    clock.t = START + 1.0
    host.poll()
    assert len(driver.sent) == 2 and host.next_due() == START + 3.0   # 1 s, then 2 s
    clock.t = START + 3.0
    host.poll()
    assert len(driver.sent) == 3 and len({cid for _, cid in driver.sent}) == 1   # same command

    stubborn = Recorder("r1", host.post, replies=[Reply.RETRY] * 10)
    host.drivers["r1"] = stubborn
    host.post(TaskSubmitted(request={**GO_TO, "place": "room_102"}, requested_by="staff:anna"))
    drain(host)
    host.post(CommandResult(robot_id="r1", command_id=driver.sent[0][1],
                            outcome=Outcome.SUCCEEDED))
    drain(host)
    play_until(host, clock, START + 100)
    assert "driver still busy after 6 tries" in failures(host)[-1]


def play_until(host: Host, clock: VirtualClock, end: float) -> None:
    """Move the virtual clock from one due moment of the host to the next, up to ``end``."""
    while host.next_due() is not None and host.next_due() < end:
        clock.t = host.next_due()
        host.poll()
        drain(host)


def failures(host: Host) -> list[str]:
    return [a.detail.get("detail", "") for a in host.store.audit()
            if a.action == "navigating_failed"]


def test_a_hanging_driver_is_the_robots_fault(make_host) -> None:
    release = threading.Event()
    host = make_host(clock=WallClock(), driver_timeout=0.2)
    driver = Recorder("r1", host.post, replies=[lambda: (release.wait(30), Reply.ACCEPTED)[1]])
    host.drivers["r1"] = driver
    host.post(driver.status())
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna"))
    drain(host)
    release.set()
    assert "driver did not answer within 0.2 s" in failures(host)[0]


def test_a_raising_driver_is_the_robots_fault(make_host) -> None:
    host = make_host()
    driver = Recorder("r1", host.post, replies=[RuntimeError("socket closed")])
    host.drivers["r1"] = driver
    host.post(driver.status())
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna"))
    drain(host)
    assert failures(host)[0] == "driver error: RuntimeError: socket closed"
    assert host.core.robots["r1"].state.value == "navigating"        # retried, host alive


def test_a_runaway_loop_is_refused_and_named(make_host) -> None:
    host = make_host(runaway_limit=50)
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    with pytest.raises(RunawayError, match=r"more than 50 events at one instant \(RobotStatus "
                                           r"from r1 x51"):
        for _ in range(60):
            host.handle(driver.status())


def test_a_core_bug_stops_the_core_and_the_host_rebuilds_it(make_host, monkeypatch) -> None:
    host = make_host(core_faults="rebuild")
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    host.post(driver.status())
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna", task_id="a"))
    drain(host)
    broken_core = host.core
    monkeypatch.setattr(broken_core, "_dispatch", lambda: 1 / 0)
    failed = host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna", task_id="b"))
    drain(host)
    with pytest.raises(CoreFault, match="ZeroDivisionError"):
        failed.result()
    assert host.core is not broken_core and "b" not in host.core.tasks   # nothing half-applied
    with pytest.raises(CoreFault, match="must be rebuilt"):
        broken_core.handle(Tick(), START + 5)
    assert "a" in host.core.tasks                                      # rebuilt from the store


def test_restart_loses_nothing_and_command_ids_never_repeat(make_host) -> None:
    host = make_host()
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    host.post(driver.status())
    for i in range(3):
        host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna", task_id=f"t{i}"))
    drain(host)
    first = {cid for _, cid in driver.sent}
    assert host.restart() == [] and host.lost == []
    assert set(host.core.tasks) == {"t0", "t1", "t2"}
    drain(host)                                  # the driver's status after the restart
    assert {cid for _, cid in driver.sent} - first          # new commands were sent
    assert not [cid for _, cid in driver.sent[1:] if cid in first and cid != driver.sent[0][1]]
    again = host.post(TaskSubmitted(request={**GO_TO, "place": "room_105"},
                                    requested_by="staff:anna", task_id="t0"))
    drain(host)
    again.result()
    assert host.store.task("t0")["progress"]["place"] == "room_101"   # the existing task


def test_a_stale_command_from_before_a_restart_is_stopped(make_host) -> None:
    host = make_host()
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    host.restart()
    drain(host)
    host.post(RobotStatus(robot_id="r1", position="f1_service", battery=0.8,
                          mode=DriverMode.BUSY, command_id="c1-000007"))
    drain(host)
    assert ("stop", "c1-000007") in driver.sent


def test_observers_see_tasks_robots_and_notifications(make_host) -> None:
    host = make_host()
    model = ReadModel(host)
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    host.post(driver.status())
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna"))
    host.post(FallDetected(room="room_203", source="camera_203"))
    drain(host)
    snap = model.snapshot()
    assert snap["robots"]["r1"].state == "navigating" and snap["robots"]["r1"].task == "t00001"
    assert snap["tasks"]["t00001"]["state"] == "active"
    assert snap["tasks"]["t00002"]["kind"] == "fall_response"
    assert "fall_detected" in [n.key for _, n in snap["notifications"]]
    model.unsubscribe()
    host.post(Tick())
    drain(host)
    assert model.snapshot()["version"] == snap["version"]


def test_the_threaded_loop_takes_posts_from_any_thread_and_stops_cleanly(make_host) -> None:
    host = make_host(clock=WallClock(), driver_timeout=2.0)
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    stop = threading.Event()
    loop = threading.Thread(target=host.run_forever, args=(stop,))
    loop.start()
    host.post(driver.status()).result(timeout=10)
    futures: list[Any] = []

    def submit(n: int) -> None:
        for i in range(10):
            futures.append(host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna",
                                                   task_id=f"w{n}-{i}")))
    posters = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    for t in posters:
        t.start()
    for t in posters:
        t.join()
    for future in futures:
        future.result(timeout=10)
    stop.set()
    host.wake()
    loop.join(timeout=10)
    assert not loop.is_alive()
    assert len([t for t in host.store.task_ids() if t.startswith("w")]) == 40
    assert isinstance(host.core.robots["r1"].state.value, str)
    navigates = [c for k, c in driver.sent if k == "navigate"]
    assert navigates and len(set(navigates)) == len(navigates)


def test_a_task_the_store_lost_shows_as_lost_after_a_restart(make_host, tmp_path) -> None:
    """``lost`` is the host's own count of what the store acknowledged, not the store
    compared with itself: a row that vanished behind its back is reported."""
    import sqlite3
    host = make_host()
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna", task_id="keep"))
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna", task_id="vanish"))
    drain(host)
    raw = sqlite3.connect(tmp_path / "store.db")
    raw.execute("DELETE FROM tasks WHERE id = 'vanish'")
    raw.commit()
    raw.close()
    assert host.restart() == ["vanish"] and host.lost == ["vanish"]


def test_a_stop_the_driver_cannot_take_is_retried_then_said_loud(make_host) -> None:
    """A robot must not keep doing what it was told to stop: a Stop that raises or is
    answered RETRY is sent again with the same backoff, while what it stops is still
    the robot's newest command; after the last try the host reports a fault."""
    clock = VirtualClock(START)
    host = make_host(clock=clock)
    faults: list[str] = []
    host.subscribe(lambda change: faults.append(change.data) if change.kind == "fault" else None)
    driver = Recorder("r1", host.post)
    host.drivers["r1"] = driver
    host.post(driver.status())
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna", task_id="errand"))
    drain(host)
    (kind, command_id), = driver.sent
    driver.replies = [RuntimeError("link down"), Reply.RETRY]      # then it takes the Stop
    host.post(TaskCancelled(task_id="errand", requested_by="staff:anna"))
    drain(host)
    play_until(host, clock, START + 100)
    assert driver.sent[1:] == [("stop", command_id)] * 3 and faults == []

    driver.sent.clear()
    host.post(TaskSubmitted(request=GO_TO, requested_by="staff:anna", task_id="errand-2"))
    drain(host)
    (_, second), = driver.sent
    driver.replies = [RuntimeError("link down")] * 10
    host.post(TaskCancelled(task_id="errand-2", requested_by="staff:anna"))
    drain(host)
    play_until(host, clock, START + 200)
    assert [k for k, _ in driver.sent[1:]] == ["stop"] * 6
    assert len(faults) == 1 and f"could not stop {second}" in faults[0] \
        and "link down after 6 tries" in faults[0]
