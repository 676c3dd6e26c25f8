"""Allocation: earliest estimated finish among capable robots, with what each robot has
already promised, and never beyond what its battery can do and still reach a charger."""

from __future__ import annotations

import math
from dataclasses import replace

from carefleet.orchestrator.allocation import Allocator
from orchestrator_helpers import text
from carefleet.orchestrator.commands import Navigate, NotifyStaff
from carefleet.robots.model import Battery
from carefleet.tasks.errands import GoTo
from carefleet.tasks.model import Go, Priority, TaskState


def test_nearest_idle_capable_robot_wins(make_fleet, profiles) -> None:
    fleet = make_fleet([("kitchen_bot", profiles.patrol, "kitchen"),
                        ("upstairs", profiles.patrol, "charger_f2"),
                        ("wing_bot", profiles.patrol, "room_116")])
    out = fleet.submit({"kind": "go_to", "place": "room_113"})
    assert [(c.robot_id, c.place) for c in out if isinstance(c, Navigate)] == [
        ("wing_bot", "room_113")]
    out = fleet.submit({"kind": "go_to", "place": "room_209"})
    assert [c.robot_id for c in out if isinstance(c, Navigate)] == ["upstairs"]
    out = fleet.submit({"kind": "go_to", "place": "nurse_station_f1"})
    assert [c.robot_id for c in out if isinstance(c, Navigate)] == ["kitchen_bot"]


def test_nearest_robot_without_the_capability_is_passed_over(make_fleet, profiles) -> None:
    fleet = make_fleet([("tray", profiles.meal, "room_113"),
                        ("upstairs", profiles.patrol, "charger_f2"),
                        ("hall", profiles.patrol, "nurse_station_f1")])
    fleet.submit({"kind": "patrol", "checkpoints": ["room_113"]})
    assert fleet.tasks["t00001"].robot == "hall"


def test_robot_with_a_long_queue_loses_to_an_idle_one_further_away(make_fleet, profiles) -> None:
    fleet = make_fleet([("busy", profiles.patrol, "room_113"),
                        ("idle", profiles.patrol, "kitchen")])
    for place in ("room_216", "room_201", "room_214", "room_202"):
        fleet.submit({"kind": "go_to", "place": place, "robot": "busy"})
    busy = fleet.orch.robots["busy"]
    assert busy.task == "t00001" and len(busy.queue) == 3
    out = fleet.submit({"kind": "go_to", "place": "room_115"})
    assert fleet.tasks["t00005"].robot == "idle"
    assert [c.robot_id for c in out if isinstance(c, Navigate)] == ["idle"]
    # without that queue the nearer robot would have won
    fresh = make_fleet([("busy", profiles.patrol, "room_113"),
                        ("idle", profiles.patrol, "kitchen")])
    fresh.submit({"kind": "go_to", "place": "room_115"})
    assert fresh.tasks["t00001"].robot == "busy"


def test_task_no_robot_can_finish_on_one_charge_fails(make_fleet, profiles) -> None:
    tiny = replace(profiles.patrol, battery=Battery(capacity_wh=2.0))
    fleet = make_fleet([("r1", tiny, "charger_f1"), ("r2", tiny, "charger_f2")])
    out = fleet.submit({"kind": "patrol", "checkpoints": ["room_116", "room_216"], "rounds": 3})
    task = fleet.tasks["t00001"]
    assert task.state is TaskState.FAILED
    assert task.reason == "no robot can finish it on one charge"
    [note] = [c for c in out if isinstance(c, NotifyStaff)]
    assert note.key == "task_failed" and "no robot can finish it on one charge" in text(note)
    assert not any(isinstance(c, Navigate) for c in out)


def test_task_beyond_todays_battery_but_not_a_full_one_waits(make_fleet, profiles) -> None:
    weak = replace(profiles.patrol, battery=Battery(capacity_wh=20.0, low_threshold=0.2))
    fleet = make_fleet([("r1", weak, "room_113")])
    fleet.report("r1", "room_113", battery=0.21)
    fleet.submit({"kind": "go_to", "place": "room_216"})
    [task] = [t for t in fleet.tasks.values() if t.kind == "go_to"]
    [charge] = [t for t in fleet.tasks.values() if t.kind == "charge"]
    # not failed: once charged the robot can do it, so it is promised after the charge
    assert task.is_open
    robot = fleet.orch.robots["r1"]
    assert robot.task == charge.id
    assert task.state is TaskState.QUEUED or task.robot == "r1"


# == the allocator on its own ==============================================
def test_estimate_adds_drive_and_action_times(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    allocator: Allocator = fleet.orch.allocator
    robot = fleet.orch.robots["r1"]
    planner = fleet.orch.planner
    meal_plan = [Go("kitchen"), Go("room_101")]
    estimate = allocator.estimate(meal_plan, robot.position, robot)
    assert estimate.end == "room_101"
    assert estimate.duration == planner.travel_time("kitchen", "room_101", robot.profile.speed)
    assert estimate.distance == planner.distance("kitchen", "room_101")
    assert estimate.energy == robot.profile.battery.energy(estimate.distance, estimate.duration)
    blocked = allocator.estimate([Go("room_105")], robot.position, robot,
                                 closed=frozenset({"wing_corridor_f1"}))
    assert math.isinf(blocked.duration)


def test_offer_is_refused_when_battery_would_end_below_reserve(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.patrol, "kitchen")])
    robot = fleet.orch.robots["r1"]
    task = GoTo(id="x", place="room_216", priority=Priority.NORMAL, created_at=fleet.now,
                requested_by="test")
    allocator = fleet.orch.allocator
    assert allocator.offer(robot, task, fleet.orch.tasks, fleet.now) is not None
    robot.battery = 0.105                     # 42 Wh; the reserve is 40 Wh
    allocator.forget("r1")
    assert allocator.offer(robot, task, fleet.orch.tasks, fleet.now) is None
    assert allocator.feasible_on_full_battery(robot, task, fleet.now)
