"""The core under faults: each case here was a crash, a livelock or a broken promise
found by the fault-mix sweep or by hand (issue "One host for every runtime")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from carefleet.errors import InputError
from carefleet.orchestrator.allocation import Allocator
from carefleet.orchestrator.commands import Navigate, NotifyStaff, Stop
from carefleet.orchestrator.core import Orchestrator, Policy
from carefleet.orchestrator.events import (CommandResult, DriverMode, Outcome, PassageChanged,
                                           RobotStatus, TaskCancelled, TaskSubmitted, Tick)
from carefleet.orchestrator.journal import StateSaved, TaskSaved
from carefleet.robots.lifecycle import RobotState
from carefleet.robots.model import Battery
from carefleet.tasks.errands import Charge
from carefleet.tasks.model import TaskState
from orchestrator_helpers import MEAL_BOT, PATROL_BOT, START

GO_TO = {"kind": "go_to", "place": "room_101"}


def notes(out, key: str) -> list[NotifyStaff]:
    return [c for c in out if isinstance(c, NotifyStaff) and c.key == key]


def restarted_core(ward, fleet, *, incarnation: int = 2, **kw) -> Orchestrator:
    """A new core restored from everything ``fleet``'s journal would have stored."""
    records: dict[str, dict] = {}
    state: dict = {}
    for entry in fleet.journal:
        if isinstance(entry, TaskSaved):
            records[entry.record["id"]] = entry.record
        elif isinstance(entry, StateSaved):
            state[entry.key] = entry.value
    core = Orchestrator(ward, [r.spec for r in fleet.orch.robots.values()], start=fleet.now + 5,
                        incarnation=incarnation, policy=Policy(silence_timeout=None), **kw)
    core.restore([r for r in records.values() if r["state"] in ("queued", "assigned", "active")],
                 {}, used_ids=list(records), state=state)
    return core


def test_a_robot_cut_off_from_every_charger_waits_and_staff_are_told_once(make_fleet) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "room_101")])
    fleet.feed(PassageChanged(what="f1_hall_3-f1_charger", closed=True), at=START + 1)
    fleet.feed(PassageChanged(what="lift_a", closed=True), at=START + 2)
    out = fleet.report("r1", "room_101", battery=0.2, at=START + 3)
    assert not [c for c in out if isinstance(c, Navigate)]          # no drive it cannot make
    [charge] = [t for t in fleet.orch.tasks.values() if isinstance(t, Charge)]
    assert "no free charger can be reached" in charge.reason
    assert len(notes(out, "task_waiting")) == 1
    for minute in range(1, 30):                                     # no spinning, no paging
        later = fleet.report("r1", "room_101", battery=0.2, at=START + 3 + 60 * minute)
        reminders = [c for c in later if isinstance(c, NotifyStaff) and c.escalated]
        assert later == reminders and [t.id for t in fleet.orch.tasks.values()] == [charge.id]
    out = fleet.feed(PassageChanged(what="lift_a", closed=False), at=START + 4000)
    assert [c.place for c in out if isinstance(c, Navigate)] == ["charger_f2"]


def test_a_failed_charge_is_not_retried_in_the_same_instant(make_fleet) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "room_101")], policy=Policy(charge_retry=300.0))
    out = fleet.report("r1", "room_101", battery=0.2, at=START + 1)
    assert [c.place for c in out if isinstance(c, Navigate)] == ["charger_f1"]
    out = fleet.answer("r1", Outcome.FAILED, at=START + 2, detail="dock blocked")
    assert not [c for c in out if isinstance(c, Navigate)]
    assert notes(out, "robot_cannot_charge")
    assert fleet.orch.robots["r1"].charge_retry_at == START + 2 + 300.0
    assert fleet.orch.next_wakeup() <= START + 2 + 300.0
    out = fleet.feed(Tick(), at=START + 302)
    assert [c.place for c in out if isinstance(c, Navigate)] == ["charger_f1"]


@pytest.mark.parametrize("mode", [DriverMode.ERROR, DriverMode.EMERGENCY_STOP,
                                  DriverMode.CHARGING, DriverMode.BUSY])
def test_a_restarted_core_accepts_a_robot_reporting_in_any_state(make_fleet, ward, mode) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    fleet.submit(GO_TO)
    core = restarted_core(ward, fleet)
    out = core.handle(RobotStatus(robot_id="r1", position="f1_service", battery=0.8, mode=mode,
                                  error="drive failure" if mode is DriverMode.ERROR else None,
                                  command_id="c1-000001" if mode is DriverMode.BUSY else None),
                      fleet.now + 10)
    robot = core.robots["r1"]
    expected = {DriverMode.ERROR: RobotState.FAULT, DriverMode.EMERGENCY_STOP:
                RobotState.EMERGENCY_STOP}.get(mode)
    if expected is not None:
        assert robot.state is expected and core.tasks["t00001"].state is TaskState.QUEUED
    else:
        assert robot.state is RobotState.NAVIGATING
    if mode is DriverMode.BUSY:       # still driving an order from before the restart
        assert Stop(robot_id="r1", command_id="c1-000001") in out


def test_a_fault_or_dead_battery_during_an_emergency_stop(make_fleet) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    fleet.report("r1", "f1_service", mode=DriverMode.EMERGENCY_STOP, at=START + 1)
    fleet.report("r1", "f1_service", battery=0.0, mode=DriverMode.EMERGENCY_STOP, at=START + 2)
    fleet.report("r1", "f1_service", mode=DriverMode.ERROR, error="motor", at=START + 3)
    assert fleet.orch.robots["r1"].state is RobotState.FAULT
    fleet.report("r1", "f1_service", mode=DriverMode.READY, at=START + 4)
    assert fleet.orch.robots["r1"].state is RobotState.IDLE


def test_command_ids_are_unique_across_restarts(make_fleet, ward) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    out = fleet.submit(GO_TO)
    before = {c.command_id for c in out if hasattr(c, "command_id")}
    core = restarted_core(ward, fleet)
    out = core.handle(RobotStatus(robot_id="r1", position="f1_service", battery=0.8), fleet.now + 9)
    after = {c.command_id for c in out if hasattr(c, "command_id")}
    assert after and not after & before
    late = core.handle(CommandResult(robot_id="r1", command_id=min(before),
                                     outcome=Outcome.SUCCEEDED), fleet.now + 10)
    assert late == [] and core.robots["r1"].state is RobotState.NAVIGATING   # not taken as ours


def test_closures_survive_a_restart(make_fleet, ward) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    fleet.feed(PassageChanged(what="wing_corridor_f1", closed=True), at=START + 1)
    core = restarted_core(ward, fleet)
    assert core.closed == {"wing_corridor_f1"}
    core.handle(RobotStatus(robot_id="r1", position="f1_service", battery=1.0), fleet.now + 6)
    out = core.handle(TaskSubmitted(request={"kind": "go_to", "place": "room_105"},
                                    requested_by="staff:anna"), fleet.now + 7)
    task = next(iter(core.tasks.values()))
    assert task.state is TaskState.QUEUED and "wing_corridor_f1" in task.reason   # waits
    assert not [c for c in out if isinstance(c, Navigate)]


def test_charger_reservations_are_not_duplicated_after_a_restart(make_fleet, ward) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "f1_hall_3"), ("r2", MEAL_BOT, "f1_hall_2")])
    fleet.report("r1", "f1_hall_3", battery=0.2, at=START + 1)         # r1 heads to charger_f1
    core = restarted_core(ward, fleet)
    core.handle(RobotStatus(robot_id="r1", position="f1_hall_3", battery=0.2), fleet.now + 6)
    core.handle(RobotStatus(robot_id="r2", position="f1_hall_2", battery=0.2), fleet.now + 7)
    charges = [t for t in core.tasks.values() if isinstance(t, Charge)]
    assert sorted(t.pinned_robot for t in charges) == ["r1", "r2"]      # one each, no more
    held = [r.charger for r in core.robots.values() if r.charger]
    assert len(held) == len(set(held)) == 2


def test_a_resubmitted_finished_task_is_answered_not_run_again(make_fleet, ward) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    fleet.submit(GO_TO, task_id="visit-1")
    fleet.run()
    assert fleet.tasks["visit-1"].state is TaskState.COMPLETED
    core = restarted_core(ward, fleet)
    core.handle(RobotStatus(robot_id="r1", position="room_101", battery=1.0), fleet.now + 6)
    out = core.handle(TaskSubmitted(request={"kind": "go_to", "place": "room_116"},
                                    requested_by="staff:anna", task_id="visit-1"), fleet.now + 7)
    assert out == [] and "visit-1" not in core.tasks
    assert [e.action for e in core.take_journal()][-1:] == ["duplicate_submission"]
    with pytest.raises(InputError, match="visit-1 is already"):
        core.handle(TaskCancelled(task_id="visit-1", requested_by="staff:anna"), fleet.now + 8)


def test_a_silent_robot_goes_offline_and_its_work_moves(make_fleet) -> None:
    fleet = make_fleet([("a", MEAL_BOT, "kitchen"), ("b", MEAL_BOT, "charger_f1")],
                       silence_timeout=300.0, policy=Policy(navigate_margin=10_000))
    fleet.submit(GO_TO)                              # (no drive is overdue in this test)
    quiet = fleet.tasks["t00001"].robot
    chatty = "b" if quiet == "a" else "a"
    fleet.report(chatty, fleet.orch.robots[chatty].position, at=START + 200)
    assert fleet.orch.next_wakeup() <= START + 300
    out = fleet.feed(Tick(), at=START + 301)
    assert fleet.orch.robots[quiet].state is RobotState.OFFLINE
    assert [n.params["robot"] for n in notes(out, "robot_offline")] == [quiet]
    assert fleet.tasks["t00001"].robot == chatty
    fleet.report(quiet, "f1_service", at=START + 400)                 # back: rejoins
    assert fleet.orch.robots[quiet].available


def test_a_robot_its_driver_says_is_lost_goes_offline_at_once_and_its_alert_ends_on_return(
        make_fleet) -> None:
    fleet = make_fleet([("a", MEAL_BOT, "kitchen"), ("b", MEAL_BOT, "charger_f1")],
                       policy=Policy(navigate_margin=10_000))
    fleet.submit(GO_TO)
    lost = fleet.tasks["t00001"].robot
    other = "b" if lost == "a" else "a"
    out = fleet.report(lost, fleet.orch.robots[lost].position, mode=DriverMode.OFFLINE,
                       error="no pose or battery for 30 s", at=START + 20)
    assert fleet.orch.robots[lost].state is RobotState.OFFLINE
    assert [n.params["reason"] for n in notes(out, "robot_link_lost")] == [
        "no pose or battery for 30 s"]
    assert fleet.tasks["t00001"].robot == other                     # no silence timeout to wait
    again = fleet.report(lost, fleet.orch.robots[lost].position, mode=DriverMode.OFFLINE,
                         error="still gone", at=START + 30)
    assert notes(again, "robot_link_lost") == []                    # told once
    [alert] = [a for a in fleet.orch.alerts.open() if a.key == "robot_link_lost"]
    back = fleet.report(lost, "f1_service", at=START + 60)
    assert fleet.orch.robots[lost].available
    assert [n.params["robot"] for n in notes(back, "robot_recovered")] == [lost]
    assert alert.id not in {a.id for a in fleet.orch.alerts.open()}


def test_a_released_emergency_stop_ends_its_alert_and_start_up_says_nothing(make_fleet) -> None:
    fleet = make_fleet([("a", MEAL_BOT, "kitchen")])
    assert notes(fleet.sent, "robot_recovered") == []               # connecting is no news
    fleet.report("a", "f1_service", mode=DriverMode.EMERGENCY_STOP, at=START + 10)
    assert [a.key for a in fleet.orch.alerts.open()] == ["robot_estop"]
    out = fleet.report("a", "f1_service", at=START + 40)
    assert [n.params["robot"] for n in notes(out, "robot_recovered")] == ["a"]
    assert fleet.orch.alerts.open() == []


def test_a_task_pinned_to_a_robot_that_cannot_do_it_is_refused(make_fleet) -> None:
    fleet = make_fleet([("tray", MEAL_BOT, "kitchen"), ("owl", PATROL_BOT, "charger_f2")])
    with pytest.raises(InputError, match="robot 'owl' .* cannot do meal_delivery"):
        fleet.submit({"kind": "meal_delivery", "rooms": ["room_101"], "robot": "owl"})


def test_a_task_pinned_to_an_unavailable_robot_waits_and_staff_are_told_once(make_fleet) -> None:
    fleet = make_fleet([("tray", MEAL_BOT, "kitchen"), ("other", MEAL_BOT, "charger_f1")])
    fleet.report("tray", "f1_service", mode=DriverMode.ERROR, error="wheel", at=START + 1)
    out = fleet.submit({**GO_TO, "robot": "tray"}, at=START + 2)
    assert [n.params["reason"] for n in notes(out, "task_waiting")] == ["robot tray is not available"]
    assert notes(fleet.feed(Tick(), at=START + 60), "task_waiting") == []


def test_an_unknown_event_type_is_the_callers_fault(make_fleet) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    before = fleet.orch.now
    with pytest.raises(InputError, match="unknown event type 'dict'"):
        fleet.orch.handle({"kind": "go_to"}, START + 1)              # type: ignore[arg-type]
    assert fleet.orch.now == before


def test_a_refused_event_moves_no_clock_and_leaves_no_audit_row(make_fleet) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    before = fleet.orch.now
    with pytest.raises(InputError):
        fleet.feed(PassageChanged(what="secret_tunnel", closed=True), at=START + 500)
    assert fleet.orch.now == before and fleet.orch.take_journal() == []


def test_the_robot_at_the_room_already_tells_staff_it_is_with_the_resident(make_fleet) -> None:
    fleet = make_fleet([("cam", PATROL_BOT, "room_203")])
    out = fleet.submit({"kind": "fall_response", "room": "room_203"})
    assert notes(out, "fall_robot_arrived")


def test_battery_promise_holds_in_a_burst_of_2000_tasks(make_fleet, ward) -> None:
    """Every assignment leaves each robot able to finish its whole queue and still reach
    a charger above its reserve, however the burst is spread (2,000 tasks, 10 robots)."""
    small = replace(MEAL_BOT, battery=Battery(capacity_wh=120.0))
    robots = [(f"r{i}", small, "charger_f1" if i % 2 else "charger_f2") for i in range(10)]
    fleet = make_fleet(robots)
    for i, robot_id in enumerate(fleet.orch.robots):
        fleet.report(robot_id, "f1_charger" if i % 2 else "f2_charger", battery=0.3 + 0.06 * i)
    rooms = [p.id for p in ward.places.values() if p.id.startswith("room_")]
    allocator = Allocator(fleet.orch.planner)
    for n in range(2000):
        fleet.submit({"kind": "go_to", "place": rooms[n % len(rooms)]}, at=START + 10 + n * 0.5)
        if n % 97 == 0 or n > 1990:
            for robot in fleet.orch.robots.values():
                projection = allocator._project(robot, fleet.orch.tasks, fleet.now)
                home = allocator.to_charger(projection.position, robot)
                reserve = robot.profile.battery.reserve * robot.profile.battery.capacity_wh
                assert projection.energy - home.energy >= reserve - 1e-6, robot.id
    assert any(t.state is TaskState.QUEUED for t in fleet.orch.tasks.values())  # some wait


def test_the_lowest_battery_charges_first(make_fleet) -> None:
    """One charger free, two robots waiting for it: the emptier one gets it."""
    fleet = make_fleet([("full", MEAL_BOT, "f1_hall_3"), ("low", MEAL_BOT, "f1_hall_2"),
                        ("lower", MEAL_BOT, "f1_hall_1")])
    fleet.report("full", "f1_hall_3", battery=0.2, at=START + 1)      # takes charger_f1
    fleet.feed(PassageChanged(what="lift_a", closed=True), at=START + 2)  # f2 out of reach
    fleet.report("low", "f1_hall_2", battery=0.2, at=START + 3)
    fleet.report("lower", "f1_hall_1", battery=0.15, at=START + 4)
    assert [r.charger for r in fleet.orch.robots.values()] == ["charger_f1", None, None]
    fleet.orch.robots["full"].charger = None                         # charger_f1 frees up
    fleet.orch.tasks[fleet.orch._charge_of["full"]].charger = None
    out = fleet.feed(Tick(), at=START + 5)
    drives = [(c.robot_id, c.place) for c in out if isinstance(c, Navigate)]
    assert ("lower", "charger_f1") in drives and ("low", "charger_f1") not in drives


def test_a_paused_robot_hands_its_work_back_and_resumes(make_fleet, ward) -> None:
    from carefleet.orchestrator.events import RobotHeld
    fleet = make_fleet([("a", MEAL_BOT, "kitchen"), ("b", MEAL_BOT, "charger_f1")])
    fleet.submit(GO_TO)
    first = fleet.tasks["t00001"].robot
    other = "b" if first == "a" else "a"
    out = fleet.feed(RobotHeld(robot_id=first, held=True, by="staff:anna"), at=START + 5)
    assert any(isinstance(c, Stop) for c in out) and fleet.tasks["t00001"].robot == other
    fleet.submit({"kind": "go_to", "place": "room_116"}, at=START + 6)
    assert fleet.tasks["t00002"].robot == other                      # nothing new for it
    core = restarted_core(ward, fleet)
    assert core.robots[first].held                                   # kept across a restart
    fleet.feed(RobotHeld(robot_id=first, held=False, by="staff:anna"), at=START + 7)
    assert fleet.orch.robots[first].available


def test_schedules_changed_by_staff_fire_and_survive_a_restart(make_fleet, ward, local_time) -> None:
    from datetime import time
    from carefleet.orchestrator.events import ScheduleChanged
    from carefleet.orchestrator.schedules import MealService
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    snack = MealService(name="snack", at=time(15), rooms=("room_101",))
    fleet.feed(ScheduleChanged(name="snack", schedule=snack, by="staff:anna"), at=START + 1)
    with pytest.raises(InputError, match="unknown place 'room_999'"):
        fleet.feed(ScheduleChanged(name="bad", by="staff:anna", schedule=MealService(
            name="bad", at=time(16), rooms=("room_999",))), at=START + 2)
    core = restarted_core(ward, fleet)
    assert list(core.schedules) == ["snack"]
    fleet.feed(Tick(), at=local_time(2, 15))
    assert [t.meal for t in fleet.tasks.values()] == ["snack"]
    fleet.feed(ScheduleChanged(name="snack", by="staff:anna"), at=local_time(2, 16))
    assert fleet.orch.schedules == {}


def test_a_pose_is_snapped_to_the_nearest_waypoint_of_its_floor(make_fleet, ward) -> None:
    from carefleet.errors import RobotError
    from carefleet.orchestrator.events import Pose
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")], connect=False)
    w = ward.waypoints["f2_charger"]
    fleet.feed(RobotStatus(robot_id="r1", battery=0.9,
                           pose=Pose(floor=w.floor, x=w.x + 0.2, y=w.y - 0.1)), at=START + 1)
    assert fleet.orch.robots["r1"].position == "f2_charger"
    with pytest.raises(RobotError, match="floor 'F9'"):
        fleet.feed(RobotStatus(robot_id="r1", battery=0.9, pose=Pose(floor="F9", x=0, y=0)),
                   at=START + 2)


def test_navigate_carries_the_planned_route_with_coordinates(make_fleet, ward) -> None:
    fleet = make_fleet([("r1", MEAL_BOT, "kitchen")])
    [drive] = [c for c in fleet.submit({"kind": "go_to", "place": "room_216"})
               if isinstance(c, Navigate)]
    assert drive.route[0].waypoint == "f1_service" and drive.route[-1].waypoint == drive.waypoint
    assert {p.floor for p in drive.route} == {"F1", "F2"}            # through the lift
    assert all((p.x, p.y) == (ward.waypoints[p.waypoint].x, ward.waypoints[p.waypoint].y)
               for p in drive.route)
