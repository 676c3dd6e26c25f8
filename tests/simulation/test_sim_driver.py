"""SimRobot, the simulated driver, in a tiny world of its own: a heap of timers, the real
Planner and the bundled demo ward. No orchestrator: the tests play the runtime."""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable

import pytest

from carefleet.maps import DEMO_WARD, Planner, load_ward
from carefleet.orchestrator.events import CommandResult, DriverMode, Outcome, RobotStatus
from carefleet.robots.driver import Reply, RobotDriver
from carefleet.robots.drivers.sim import SimRobot
from carefleet.robots.model import Battery, Capability, RobotProfile, RobotSpec

SPEED = 0.8
BATTERY = Battery(capacity_wh=480.0, drain_per_m_wh=0.06, drain_idle_w=12.0, charge_w=240.0)
PROFILE = RobotProfile(model="TrayRunner T4", speed=SPEED, trays=4, battery=BATTERY,
                       capabilities=frozenset({Capability.MEAL_DELIVERY, Capability.CAMERA}))
T0 = 1_796_000_000.0


class TinyWorld:
    """Implements the SimWorld protocol: time, the planner, closures and timers."""

    def __init__(self, planner: Planner) -> None:
        self.now = T0
        self.planner = planner
        self.closed: frozenset[str] = frozenset()
        self.actions: dict[str, tuple[float, bool] | None] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def schedule(self, at: float, action: Callable[[], None]) -> None:
        assert at >= self.now, "a timer in the past"
        heapq.heappush(self._timers, (at, next(self._order), action))

    def action_time(self, robot_id: str, action: str, place: str,
                    params: dict[str, Any]) -> tuple[float, bool] | None:
        return self.actions.get(action)

    def run_until(self, until: float) -> None:
        while self._timers and self._timers[0][0] <= until:
            at, _, action = heapq.heappop(self._timers)
            self.now = at
            action()
        self.now = until

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(load_ward(DEMO_WARD))


@pytest.fixture
def world(planner) -> TinyWorld:
    return TinyWorld(planner)


class Bot:
    """A SimRobot plus what it reported, each report stamped with the world's time."""

    def __init__(self, world: TinyWorld, start: str = "kitchen") -> None:
        self.world = world
        self.reports: list[tuple[float, Any]] = []
        self.robot = SimRobot(RobotSpec(id="r1", profile=PROFILE, start=start),
                              lambda event: self.reports.append((world.now, event)), world)

    def results(self) -> list[tuple[float, CommandResult]]:
        return [(at, e) for at, e in self.reports if isinstance(e, CommandResult)]

    def statuses(self) -> list[tuple[float, RobotStatus]]:
        return [(at, e) for at, e in self.reports if isinstance(e, RobotStatus)]


@pytest.fixture
def bot(world) -> Bot:
    return Bot(world)


def test_sim_robot_is_a_driver(bot, planner):
    assert isinstance(bot.robot, RobotDriver)
    status = bot.robot.status()
    assert status.robot_id == "r1" and status.position == planner.waypoint_of("kitchen")
    assert status.battery == 1.0 and status.mode is DriverMode.READY


def test_navigate_succeeds_after_exactly_the_route_duration(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    assert bot.robot.navigate("c1", "room_116", planner.waypoint_of("room_116")) is Reply.ACCEPTED
    assert bot.robot.status().mode is DriverMode.BUSY
    world.run_until(T0 + route.duration(SPEED) - 0.01)
    assert bot.results() == []
    world.run_until(T0 + route.duration(SPEED) + 600)
    [(at, result)] = bot.results()
    assert at == pytest.approx(T0 + route.duration(SPEED), abs=1e-6)
    assert result.command_id == "c1" and result.outcome is Outcome.SUCCEEDED
    assert result.position == planner.waypoint_of("room_116") == "f1_door_7"
    assert bot.robot.status().position == "f1_door_7"
    assert bot.robot.status().mode is DriverMode.READY
    assert bot.robot.record.distance_m == pytest.approx(route.distance)


def test_position_mid_drive_is_the_last_waypoint_passed(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    first = route.legs[0].duration(SPEED)
    world.run_for(first + 0.5)
    assert bot.robot.status().position == route.legs[0].end


def test_battery_drains_by_distance_and_by_time(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(route.duration(SPEED))
    expected = (route.distance * BATTERY.drain_per_m_wh
                + route.duration(SPEED) / 3600.0 * BATTERY.drain_idle_w)
    assert bot.robot.record.energy_wh == pytest.approx(expected)
    assert bot.robot.status().battery == pytest.approx(1 - expected / BATTERY.capacity_wh, abs=1e-4)
    # then an idle hour costs the idle drain only
    before = bot.robot.energy
    world.run_for(3600.0)
    bot.robot.status()
    assert before - bot.robot.energy == pytest.approx(BATTERY.drain_idle_w)
    assert bot.robot.record.distance_m == pytest.approx(route.distance)
    assert bot.robot.record.min_battery == pytest.approx(bot.robot.energy / BATTERY.capacity_wh)


def test_dock_charges_until_charged(world, planner):
    bot = Bot(world, start="charger_f1")
    bot.robot.set_battery(0.5)
    assert bot.robot.dock("c1", "charger_f1") is Reply.ACCEPTED
    [(at, result)] = bot.results()
    assert at == T0 and result.outcome is Outcome.SUCCEEDED
    assert bot.robot.status().mode is DriverMode.CHARGING
    need = (BATTERY.charged - 0.5) * BATTERY.capacity_wh / BATTERY.charge_w * 3600.0
    world.run_for(need - 60)
    assert bot.robot.status().battery < BATTERY.charged
    assert not [s for at, s in bot.statuses() if s.battery >= BATTERY.charged]
    world.run_for(120)
    charged = [(at, s) for at, s in bot.statuses() if s.battery >= BATTERY.charged]
    assert charged, "a status report announces the charged battery"
    assert charged[0][0] <= T0 + need + 1.0 + 1e-6
    assert charged[0][1].mode is DriverMode.CHARGING


def test_dock_away_from_the_charger_is_impossible(bot):
    assert bot.robot.dock("c1", "charger_f1") is Reply.IMPOSSIBLE
    assert bot.results() == []


def test_stop_reports_cancelled_and_stays_put(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(route.duration(SPEED) / 2)
    where = bot.robot.status().position
    assert where not in ("f1_service", "f1_door_7")
    assert bot.robot.stop("c1") is Reply.ACCEPTED
    [(at, result)] = bot.results()
    assert result.outcome is Outcome.CANCELLED and result.command_id == "c1"
    assert result.position == where
    world.run_for(3600)
    assert [r.outcome for _, r in bot.results()] == [Outcome.CANCELLED]
    assert bot.robot.status().position == where
    assert bot.robot.status().mode is DriverMode.READY


def test_stop_of_another_command_changes_nothing(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    bot.robot.stop("c0")
    world.run_for(route.duration(SPEED))
    assert [(r.command_id, r.outcome) for _, r in bot.results()] == [("c1", Outcome.SUCCEEDED)]


def test_break_down_reports_error_and_refuses_work(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(route.duration(SPEED) / 2)
    bot.robot.break_down("drive failure")
    _, status = bot.statuses()[-1]
    assert status.mode is DriverMode.ERROR and status.error == "drive failure"
    where = status.position
    world.run_for(3600)
    assert bot.results() == [], "the drive in flight never ends"
    assert bot.robot.status().position == where
    assert bot.robot.navigate("c2", "kitchen", "f1_service") is Reply.IMPOSSIBLE
    assert bot.robot.perform("c3", "scan", "kitchen", {}) is Reply.IMPOSSIBLE
    bot.robot.repair()
    assert bot.statuses()[-1][1].mode is DriverMode.READY
    assert bot.robot.navigate("c4", "kitchen", "f1_service") is Reply.ACCEPTED


def test_navigate_to_an_unreachable_place_fails(bot, world, planner):
    world.closed = frozenset({"lift_a"})
    assert bot.robot.navigate("c1", "room_201", planner.waypoint_of("room_201")) is Reply.ACCEPTED
    world.run_for(1.0)
    [(at, result)] = bot.results()
    assert at == T0
    assert result.outcome is Outcome.FAILED and result.command_id == "c1"
    assert result.detail
    assert bot.robot.status().position == "f1_service"
    assert bot.robot.status().mode is DriverMode.READY


def test_a_corridor_closed_mid_drive_makes_it_replan(bot, world, planner):
    direct = planner.route("kitchen", "room_116", speed=SPEED)
    assert "f1_east_1" in direct.waypoints
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(8.0)                       # past f1_hall_2, before the east corridor
    passed = bot.robot.status().position
    assert passed == "f1_hall_2"
    world.closed = frozenset({"east_corridor_f1"})
    bot.robot.passages_changed()
    detour = planner.route(passed, "room_116", speed=SPEED, closed=world.closed)
    assert "f1_east_1" not in detour.waypoints
    world.run_for(600)
    [(at, result)] = bot.results()
    assert result.outcome is Outcome.SUCCEEDED and result.position == "f1_door_7"
    assert at == pytest.approx(T0 + 8.0 + detour.duration(SPEED), abs=1e-6)
    assert at > T0 + direct.duration(SPEED)


def test_a_closure_elsewhere_does_not_delay_the_drive(bot, world, planner):
    direct = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(8.0)
    world.closed = frozenset({"east_corridor_f2"})
    bot.robot.passages_changed()
    world.run_for(600)
    [(at, result)] = bot.results()
    # re-planned from the last waypoint passed, on the same route
    rest = planner.route("f1_hall_2", "room_116", speed=SPEED)
    assert at == pytest.approx(T0 + 8.0 + rest.duration(SPEED), abs=1e-6)
    assert at <= T0 + direct.duration(SPEED) + 8.0


def test_stuck_delays_arrival(bot, world, planner):
    direct = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(8.0)
    bot.robot.get_stuck(120.0)
    world.run_for(60.0)
    assert bot.results() == []
    assert bot.robot.status().position == "f1_hall_2", "no progress while stuck"
    world.run_for(600)
    [(at, result)] = bot.results()
    rest = planner.route("f1_hall_2", "room_116", speed=SPEED)
    assert result.outcome is Outcome.SUCCEEDED
    assert at == pytest.approx(T0 + 8.0 + 120.0 + rest.duration(SPEED), abs=1e-6)
    assert at >= T0 + direct.duration(SPEED) + 120.0


def test_stuck_before_a_drive_delays_its_start(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    bot.robot.get_stuck(300.0)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(1000)
    [(at, _)] = bot.results()
    assert at == pytest.approx(T0 + 300.0 + route.duration(SPEED), abs=1e-6)
    # no energy spent on metres while stuck: only the route's distance
    assert bot.robot.record.distance_m == pytest.approx(route.distance)


def test_perform_takes_the_world_s_time_and_outcome(bot, world):
    world.actions = {"load_trays": (50.0, True), "await_pickup": (30.0, False)}
    bot.robot.perform("c1", "load_trays", "kitchen", {})
    world.run_for(49.0)
    assert bot.results() == []
    world.run_for(2.0)
    [(at, result)] = bot.results()
    assert at == T0 + 50.0 and result.outcome is Outcome.SUCCEEDED
    bot.robot.perform("c2", "await_pickup", "kitchen", {})
    world.run_for(31.0)
    assert bot.results()[-1][1].outcome is Outcome.FAILED


def test_an_open_ended_action_lasts_until_stopped(bot, world):
    bot.robot.perform("c1", "attend", "kitchen", {})
    world.run_for(3600)
    assert bot.results() == []
    bot.robot.stop("c1")
    assert [r.outcome for _, r in bot.results()] == [Outcome.CANCELLED]


def test_estop_and_release(bot, world):
    bot.robot.press_estop()
    assert bot.statuses()[-1][1].mode is DriverMode.EMERGENCY_STOP
    assert bot.robot.navigate("c1", "room_101", "f1_door_0") is Reply.IMPOSSIBLE
    bot.robot.release_estop()
    assert bot.statuses()[-1][1].mode is DriverMode.READY


def test_a_flat_battery_becomes_a_fault_at_the_next_heartbeat(bot, world):
    bot.robot.set_battery(0.0)
    assert bot.statuses()[-1][1].battery == 0.0
    bot.robot.heartbeat()
    status = bot.statuses()[-1][1]
    assert status.mode is DriverMode.ERROR and status.error == "battery empty"


def test_timeline_segments_follow_the_activities(bot, world, planner):
    route = planner.route("kitchen", "room_116", speed=SPEED)
    world.run_for(100.0)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(route.duration(SPEED) + 50.0)
    record = bot.robot.close_record()
    activities = [(s.activity, s.place) for s in record.segments]
    assert activities == [("idle", None), ("navigating", "room_116"), ("idle", None)]
    assert record.segments[1].start == T0 + 100.0
    assert record.segments[1].end == pytest.approx(T0 + 100.0 + route.duration(SPEED))
    assert record.segments[-1].end == world.now


def test_a_replanned_drive_keeps_its_place_on_the_timeline(bot, world, planner):
    world.run_for(10.0)
    bot.robot.navigate("c1", "room_116", "f1_door_7")
    world.run_for(8.0)
    world.closed = frozenset({"east_corridor_f1"})
    bot.robot.passages_changed()
    world.run_for(600)
    record = bot.robot.close_record()
    driving = [s.place for s in record.segments if s.activity == "navigating"]
    assert driving and all(place == "room_116" for place in driving), driving
