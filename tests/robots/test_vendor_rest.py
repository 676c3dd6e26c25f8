"""The vendor REST driver end to end: a real ``Host`` (wall clock, driver calls bounded
at 5 s) drives ``VendorRestDriver`` against the fake vendor server of
``fake_vendor.py`` over real HTTP on 127.0.0.1, with one robot in the demo ward.

Nothing here measures speed: every wait polls for a condition, and its deadline only
keeps a broken build from hanging. The host's retry backoff is shortened (it is a
tuning constant) so that a retried send costs a tenth of a second, not seconds.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from carefleet.maps import DEMO_WARD, load_ward
from carefleet.orchestrator import host as host_module
from carefleet.orchestrator.core import Orchestrator
from carefleet.orchestrator.events import (CommandResult, DriverMode, Outcome, RobotStatus,
                                           TaskCancelled, TaskSubmitted)
from carefleet.orchestrator.host import Change, Host, RobotView, WallClock
from carefleet.robots.driver import DriverContext, Reply
from carefleet.robots.drivers.vendor_rest import VendorRestDriver
from carefleet.robots.model import Capability, RobotProfile, RobotSpec

from fake_vendor import FakeVendor

WARD = load_ward(DEMO_WARD)
POLL = 0.05           # the driver's poll period here (1 s on a real site)
HANG_TIMEOUT = 0.3    # the driver's HTTP timeout where a test makes the server hang
DEADLINE = 20.0       # a failure guard, never a speed requirement
GO_TO_101 = {"kind": "go_to", "place": "room_101"}


def wait_for(condition: Callable[[], Any], what: str, alive: Callable[[], bool] = lambda: True,
             deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if not alive():
            pytest.fail(f"the host loop died while waiting for {what}")
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


class Site:
    """One robot, ``v1``, behind the fake vendor, served by a host running its loop on a
    thread, as ``carefleet serve`` runs it. Records what the driver reported and what
    the host's change feed said about tasks and the robot."""

    def __init__(self, vendor: FakeVendor, store: Path, timeout: float) -> None:
        self.vendor = vendor
        spec = RobotSpec(id="v1", start="kitchen", profile=RobotProfile(
            model="VendorBot", trays=2, capabilities=frozenset(Capability)))
        clock = WallClock()
        self.host = Host(lambda incarnation: Orchestrator(WARD, [spec], start=clock.now(),
                                                          incarnation=incarnation),
                         str(store), clock=clock, driver_timeout=5.0, core_faults="raise")
        self.reports: list[Any] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self.robots: list[RobotView] = []
        self.host.subscribe(self._follow)
        # As the service builds it from a site file's params:
        self.driver = VendorRestDriver("v1", self._report, context=self.host.context(),
                                       url=vendor.url, poll_every=POLL, timeout=timeout)
        self.host.drivers["v1"] = self.driver
        self._stop = threading.Event()
        self.crash: list[BaseException] = []
        self._loop = threading.Thread(target=self._run, name="host", daemon=True)
        self._loop.start()

    def _run(self) -> None:
        try:
            self.host.run_forever(self._stop)
        except BaseException as exc:         # shown by wait() and close()
            self.crash.append(exc)

    def _report(self, event: Any) -> Any:
        self.reports.append(event)
        return self.host.post(event)

    def _follow(self, change: Change) -> None:
        if change.kind == "task":
            self.tasks[change.data["id"]] = change.data
        elif change.kind == "robot":
            self.robots.append(change.data)

    # == for the tests =====================================================
    def wait(self, condition: Callable[[], Any], what: str) -> None:
        wait_for(condition, what, alive=self._loop.is_alive)

    def submit(self, request: dict[str, Any], task_id: str) -> str:
        self.host.post(TaskSubmitted(request=request, requested_by="staff:test",
                                     task_id=task_id)).result(timeout=DEADLINE)
        return task_id

    def state(self, task_id: str) -> str | None:
        return self.tasks.get(task_id, {}).get("state")

    @property
    def robot(self) -> RobotView | None:
        """The robot as the host last showed it."""
        return self.robots[-1] if self.robots else None

    def robot_is(self, state: str) -> bool:
        return self.robot is not None and self.robot.state == state

    def states(self) -> list[str]:
        return [view.state for view in self.robots]

    def results(self, outcome: Outcome) -> list[CommandResult]:
        return [r for r in list(self.reports)
                if isinstance(r, CommandResult) and r.outcome is outcome]

    def ready(self) -> "Site":
        self.wait(lambda: self.robot_is("idle"), "the robot's first status")
        return self

    def close(self) -> None:
        self._stop.set()
        self.host.wake()
        self._loop.join(timeout=DEADLINE)
        self.driver.close()
        self.host.close()
        assert not self.crash, self.crash


@pytest.fixture
def vendor() -> FakeVendor:
    server = FakeVendor().start()
    yield server
    server.stop()


@pytest.fixture
def make_site(vendor: FakeVendor, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Callable[..., Site]:
    """A running site on the fake vendor; ``timeout`` is the driver's (its default)."""
    monkeypatch.setattr(host_module, "RETRY_BACKOFF", (0.05, 0.1, 0.2, 0.4, 0.8))
    sites: list[Site] = []

    def make(timeout: float = 2.0) -> Site:
        sites.append(Site(vendor, tmp_path / "store.db", timeout))
        return sites[-1].ready()
    yield make
    for running in sites:
        running.close()
        assert not running.driver._poller.is_alive()    # close() stopped the poller


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()


def test_a_go_to_is_sent_as_coordinates_polled_as_poses_and_completes(site: Site) -> None:
    task = site.submit(GO_TO_101, "go-1")
    site.wait(lambda: site.state(task) == "completed", "the go_to to complete")
    [goal] = site.vendor.sent("POST", "/goals")
    door = WARD.waypoints[WARD.places["room_101"].waypoint]          # the route's end
    assert (goal["map"], goal["x"], goal["y"]) == (door.floor, door.x, door.y)
    [done] = site.results(Outcome.SUCCEEDED)
    assert done.command_id == goal["goal_id"] and done.position == door.id
    statuses = [r for r in site.reports if isinstance(r, RobotStatus)]
    assert statuses and all(s.pose is not None and s.position is None for s in statuses)
    assert DriverMode.BUSY in {s.mode for s in statuses}              # reported while driving
    site.wait(lambda: site.robot.position == door.id, "the pose snapped to the door")


def test_cancelling_mid_drive_deletes_the_vendors_goal(site: Site) -> None:
    site.vendor.steps = 10**6                                         # a long drive
    task = site.submit(GO_TO_101, "go-2")
    site.wait(lambda: site.vendor.robot["state"] == "moving", "the robot to set off")
    [goal] = site.vendor.sent("POST", "/goals")
    site.host.post(TaskCancelled(task_id=task, requested_by="staff:test")).result(DEADLINE)
    site.wait(lambda: site.vendor.sent("DELETE", f"/goals/{goal['goal_id']}"), "the DELETE")
    site.wait(lambda: site.results(Outcome.CANCELLED), "the drive to end cancelled")
    assert [r.command_id for r in site.results(Outcome.CANCELLED)] == [goal["goal_id"]]
    assert site.state(task) == "cancelled" and site.vendor.robot["goal_state"] == "cancelled"
    site.wait(lambda: site.robot_is("idle"), "the robot to be free")


def test_a_busy_robot_is_asked_again_and_then_drives(site: Site) -> None:
    site.vendor.busy = 2                                              # two 409s, then 202
    task = site.submit(GO_TO_101, "go-3")
    site.wait(lambda: site.state(task) == "completed", "the go_to to complete")
    goals = site.vendor.sent("POST", "/goals")
    assert len(goals) == 3 and len({g["goal_id"] for g in goals}) == 1
    assert site.tasks[task]["attempts"] == 0 and "fault" not in site.states()


def test_a_dropped_connection_faults_the_robot_and_it_recovers(site: Site) -> None:
    site.vendor.steps = 10**6                                         # a long drive
    task = site.submit(GO_TO_101, "go-4")
    site.wait(lambda: site.vendor.robot["state"] == "moving", "the robot to set off")
    [first] = site.vendor.sent("POST", "/goals")
    site.vendor.drop = True                                           # every socket closes
    site.wait(lambda: site.robot_is("fault"), "the robot to fault")
    assert site.robot.error.startswith("link lost: ")
    site.wait(lambda: site.state(task) == "queued", "the task to be handed back")
    site.vendor.steps = 3                                             # the next drive: short
    site.vendor.drop = False                                          # the link is back
    site.wait(lambda: site.state(task) == "completed", "the go_to to complete after all")
    # The robot still drove the old goal: its status named it, the core stopped it.
    assert first["goal_id"] in [r.command_id for r in site.results(Outcome.CANCELLED)]
    last = site.vendor.sent("POST", "/goals")[-1]
    assert last["goal_id"] != first["goal_id"]                        # a new drive finished
    assert site.states().count("fault") == 1 and site.robot.error is None


def test_a_vendor_server_that_goes_away_and_comes_back(site: Site) -> None:
    site.vendor.stop()                                                # connections refused
    site.wait(lambda: site.robot_is("fault"), "the robot to fault")
    assert site.robot.error.startswith("link lost: ")
    site.vendor.start()                                               # the same port again
    site.wait(lambda: site.robot_is("idle"), "the robot to recover")
    task = site.submit(GO_TO_101, "go-5")
    site.wait(lambda: site.state(task) == "completed", "the go_to to complete")


def test_a_hanging_server_gives_timeouts_not_a_hung_driver(make_site: Callable[..., Site]) -> None:
    site = make_site(timeout=HANG_TIMEOUT)
    site.vendor.hang()                                                # no answers at all
    site.wait(lambda: site.robot_is("fault"), "the robot to fault")
    assert site.robot.error == "link lost: timed out"
    assert site.driver.navigate("x-1", "room_101", "f1_door_0") is Reply.RETRY
    assert site.driver.stop("x-1") is Reply.RETRY
    assert site.driver.status().mode is DriverMode.ERROR
    site.vendor.release()
    site.wait(lambda: site.robot_is("idle"), "the robot to recover")
    task = site.submit(GO_TO_101, "go-6")
    site.wait(lambda: site.state(task) == "completed", "the go_to to complete")


def test_a_goal_that_times_out_is_sent_again(make_site: Callable[..., Site]) -> None:
    site = make_site(timeout=HANG_TIMEOUT)
    site.vendor.hang(methods=("POST",))                               # statuses still flow
    task = site.submit(GO_TO_101, "go-7")
    site.wait(lambda: len(site.vendor.sent("POST", "/goals")) >= 2, "the goal sent again")
    site.vendor.release()
    site.wait(lambda: site.state(task) == "completed", "the go_to to complete")
    assert len({g["goal_id"] for g in site.vendor.sent("POST", "/goals")}) == 1
    assert site.tasks[task]["attempts"] == 0 and "fault" not in site.states()


def test_a_robot_error_fails_the_drive_faults_the_robot_and_clears(site: Site) -> None:
    site.vendor.steps = 10**6
    task = site.submit(GO_TO_101, "go-8")
    site.wait(lambda: site.vendor.robot["state"] == "moving", "the robot to set off")
    site.vendor.fail("bumper pressed")
    site.wait(lambda: site.robot_is("fault"), "the robot to fault")
    assert site.robot.error == "bumper pressed"
    [failed] = site.results(Outcome.FAILED)
    assert failed.detail == "bumper pressed"
    site.wait(lambda: site.state(task) == "queued", "the task to be handed back")
    site.vendor.steps = 3
    site.vendor.clear()
    site.wait(lambda: site.state(task) == "completed", "the go_to to complete after all")


def test_a_meal_uses_vendor_actions_and_a_charge_docks_until_full(site: Site) -> None:
    meal = site.submit({"kind": "meal_delivery", "rooms": ["room_101"]}, "meal-1")
    site.wait(lambda: site.state(meal) == "completed", "the meal to be delivered")
    assert [a["name"] for a in site.vendor.sent("POST", "/actions")] == [
        "load_trays", "await_pickup"]
    assert site.tasks[meal]["progress"]["delivered"] == ["room_101"]
    charge = site.submit({"kind": "charge", "robot": "v1"}, "charge-1")
    site.wait(lambda: site.state(charge) == "completed", "the charge to finish")
    [dock] = site.vendor.sent("POST", "/dock")
    charger = site.host.context().pose_of("charger_f1")
    assert (dock["map"], dock["x"], dock["y"]) == (charger.floor, charger.x, charger.y)
    assert site.vendor.robot["battery"] >= 0.95


def test_refused_goals_and_actions_are_impossible(vendor: FakeVendor) -> None:
    vendor.maps = ("F1",)                                             # it knows no F2
    reports: list[Any] = []
    context = DriverContext(ward=WARD, clock=WallClock(), post=reports.append)
    driver = VendorRestDriver("v1", reports.append, context=context, url=vendor.url,
                              poll_every=POLL)
    try:
        assert driver.navigate("c-1", "room_201", "f2_door_0") is Reply.IMPOSSIBLE
        assert driver.perform("c-2", "dance", "kitchen", {}) is Reply.IMPOSSIBLE
        assert driver.perform("c-3", "scan", "kitchen", {}) is Reply.ACCEPTED
        wait_for(lambda: any(isinstance(r, CommandResult) for r in reports), "the scan")
        assert [r.outcome for r in reports if isinstance(r, CommandResult)] == [
            Outcome.SUCCEEDED]
        assert driver.status().pose.floor == "F1"
    finally:
        driver.close()
    assert not driver._poller.is_alive()
    with pytest.raises(ValueError, match="poll_every"):
        VendorRestDriver("v1", reports.append, context=context, url=vendor.url, poll_every=0)
