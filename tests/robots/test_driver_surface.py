"""The vendor surface beyond the five methods: execution handles marked once from any
thread, the planned route, the ward context, and the asyncio face."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from carefleet.maps import DEMO_WARD, load_ward
from carefleet.orchestrator.commands import Navigate, RoutePoint
from carefleet.orchestrator.events import CommandResult, DriverMode, Outcome, RobotStatus
from carefleet.orchestrator.host import VirtualClock
from carefleet.robots.driver import AsyncRobotDriver, DriverContext, Reply, RobotDriver, send


class Keeper(RobotDriver):
    """Keeps each command's execution handle, as a real driver does until its robot answers."""

    def __init__(self, report: Any) -> None:
        super().__init__("k1", report)
        self.handles: dict[str, Any] = {}

    def navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        self.handles[command_id] = self.execution(command_id)
        return Reply.ACCEPTED

    def stop(self, command_id: str) -> Reply:
        return Reply.ACCEPTED

    def perform(self, command_id: str, action: str, place: str, params: dict) -> Reply:
        return Reply.IMPOSSIBLE

    def dock(self, command_id: str, place: str) -> Reply:
        return Reply.ACCEPTED

    def status(self) -> RobotStatus:
        return RobotStatus(robot_id="k1", position="f1_service")


def test_an_execution_is_marked_once_from_any_thread() -> None:
    reports: list[Any] = []
    driver = Keeper(reports.append)
    route = (RoutePoint(waypoint="f1_service", floor="F1", x=1.0, y=2.0),)
    send(driver, Navigate(robot_id="k1", command_id="c1-000001", place="kitchen",
                          waypoint="f1_service", route=route))
    assert driver.route("c1-000001") == route and driver.route("other") == ()
    handle = driver.handles["c1-000001"]
    results = []
    threads = [threading.Thread(target=lambda: results.append(handle.succeeded()))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True] and handle.done
    assert reports == [CommandResult(robot_id="k1", command_id="c1-000001",
                                     outcome=Outcome.SUCCEEDED)]
    assert handle.failed("late") is False and len(reports) == 1


def test_the_context_gives_coordinates_of_places() -> None:
    ward = load_ward(DEMO_WARD)
    context = DriverContext(ward=ward, clock=VirtualClock(5.0), post=lambda e: None)
    pose = context.pose_of("charger_f2")
    w = ward.waypoints[ward.places["charger_f2"].waypoint]
    assert (pose.floor, pose.x, pose.y) == (w.floor, w.x, w.y)
    assert context.clock.now() == 5.0


class AsyncBot(AsyncRobotDriver):
    async def async_navigate(self, command_id: str, place: str, waypoint: str) -> Reply:
        await asyncio.sleep(0)
        self.execution(command_id).succeeded(position=waypoint)
        return Reply.ACCEPTED

    async def async_stop(self, command_id: str) -> Reply:
        return Reply.ACCEPTED

    async def async_perform(self, command_id, action, place, params) -> Reply:
        return Reply.RETRY

    async def async_dock(self, command_id: str, place: str) -> Reply:
        return Reply.ACCEPTED

    async def async_status(self) -> RobotStatus:
        return RobotStatus(robot_id=self.robot_id, position="f1_service", mode=DriverMode.READY)


def test_the_async_face_runs_on_the_drivers_own_loop() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    reports: list[Any] = []
    bot = AsyncBot("a1", reports.append, loop)
    try:
        assert send(bot, Navigate(robot_id="a1", command_id="c1-1", place="kitchen",
                                  waypoint="f1_service")) is Reply.ACCEPTED
        assert reports[0].outcome is Outcome.SUCCEEDED and bot.status().robot_id == "a1"

        async def inside() -> None:
            with pytest.raises(RuntimeError, match="would deadlock"):
                bot.status()
        asyncio.run_coroutine_threadsafe(inside(), loop).result(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
