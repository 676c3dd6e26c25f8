"""The orchestrator core driven like h11's tests: feed events at explicit times, answer
commands with the ``ScriptedFleet`` test double (conftest.py), assert commands and state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest


from carefleet.errors import InputError, RobotError
from orchestrator_helpers import text
from carefleet.orchestrator.commands import Dock, Navigate, NotifyStaff, Perform, Severity, Stop
from carefleet.orchestrator.core import Orchestrator, Policy
from carefleet.orchestrator.events import (CommandResult, DriverMode, FallDetected, Outcome,
                                           PassageChanged, RobotStatus, StaffAcknowledged,
                                           TaskCancelled, TaskSubmitted, Tick)
from carefleet.orchestrator.journal import Audited, TaskSaved
from carefleet.robots.lifecycle import RobotState
from carefleet.robots.model import RobotSpec
from carefleet.tasks.model import Priority, TaskState

GO_TO_101 = {"kind": "go_to", "place": "room_101"}


def state_of(fleet) -> dict[str, Any]:
    """A comparable snapshot of every task record and robot."""
    orch = fleet.orch
    return {"tasks": {i: t.to_record() for i, t in orch.tasks.items()},
            "robots": {r.id: (r.state, r.position, r.task, list(r.queue), r.command, r.battery)
                       for r in orch.robots.values()},
            "closed": orch.closed}


def saved(journal, task_id: str) -> list[dict]:
    return [e.record for e in journal if isinstance(e, TaskSaved) and e.record["id"] == task_id]


# == basic work ==============================================================
def test_go_to_navigates_to_the_place_waypoint_and_completes(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    out = fleet.submit({"kind": "go_to", "place": "nurse_station_f1"})
    [nav] = [c for c in out if isinstance(c, Navigate)]
    assert (nav.robot_id, nav.place, nav.waypoint) == ("r1", "nurse_station_f1", "f1_hall_2")
    task = fleet.tasks["t00001"]
    assert task.state is TaskState.ACTIVE and task.robot == "r1"
    assert fleet.orch.robots["r1"].state is RobotState.NAVIGATING
    fleet.answer("r1")
    assert task.state is TaskState.COMPLETED and task.reason == "done"
    robot = fleet.orch.robots["r1"]
    assert (robot.state, robot.position, robot.task, robot.command) == (
        RobotState.IDLE, "f1_hall_2", None, None)


def test_nothing_is_allocated_until_every_robot_reported_or_grace_ends(make_fleet, profiles,
                                                                       start) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.meal, "charger_f1")],
                       connect=False)
    fleet.report("r1", "kitchen")
    assert fleet.submit(GO_TO_101) == []
    assert fleet.tasks["t00001"].state is TaskState.QUEUED
    grace = start + Policy().startup_grace
    assert fleet.orch.next_wakeup() == grace
    assert fleet.feed(Tick(), at=grace - 1) == []
    out = fleet.feed(Tick(), at=grace)
    assert [type(c) for c in out] == [Navigate] and out[0].robot_id == "r1"


def test_meal_delivery_full_command_sequence(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "charger_f1")])
    fleet.submit({"kind": "meal_delivery", "rooms": ["room_101", "room_102", "room_105"],
                  "meal": "lunch"})
    fleet.run()
    # room_101 and room_102 share a door: no drive between their pickups
    assert fleet.trace() == [
        "r1 navigate kitchen", "r1 perform load_trays kitchen",
        "r1 navigate room_101", "r1 perform await_pickup room_101",
        "r1 perform await_pickup room_102",
        "r1 navigate room_105", "r1 perform await_pickup room_105",
        "r1 navigate kitchen"]
    load = fleet.of(Perform)[0]
    assert load.params == {"trays": 3, "meal": "lunch"}
    task = fleet.tasks["t00001"]
    assert task.state is TaskState.COMPLETED and task.reason == "done"
    assert task.delivered == ["room_101", "room_102", "room_105"]
    assert fleet.orch.robots["r1"].state is RobotState.IDLE


def test_meal_untaken_tray_is_reported_in_the_reason(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")],
                       script={"await_pickup": [Outcome.SUCCEEDED, Outcome.FAILED]})
    fleet.submit({"kind": "meal_delivery", "rooms": ["room_101", "room_103"]})
    fleet.run()
    task = fleet.tasks["t00001"]
    assert (task.delivered, task.missed) == (["room_101"], ["room_103"])
    assert task.state is TaskState.COMPLETED
    assert task.reason == "done; tray not taken in room_103"


def test_pickup_timeout_stops_waiting_and_moves_on(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.submit({"kind": "meal_delivery", "rooms": ["room_101", "room_103"],
                  "pickup_timeout": 60})
    fleet.step()                                       # loaded
    fleet.step()                                       # at room_101
    waiting = fleet.pending["r1"][1]
    assert isinstance(waiting, Perform) and waiting.action == "await_pickup"
    deadline = fleet.orch.next_wakeup()
    assert deadline == pytest.approx(fleet.now + 60)
    out = fleet.feed(Tick(), at=deadline)
    assert Stop(robot_id="r1", command_id=waiting.command_id) in out
    assert [c.place for c in out if isinstance(c, Navigate)] == ["room_103"]
    assert fleet.tasks["t00001"].missed == ["room_101"]
    # the driver's late CANCELLED answer to the stopped wait is ignored
    late = fleet.feed(CommandResult(robot_id="r1", command_id=waiting.command_id,
                                    outcome=Outcome.CANCELLED))
    assert late == [] and fleet.orch.robots["r1"].state is RobotState.NAVIGATING


# == allocation and capabilities ============================================
def test_the_robot_that_finishes_first_gets_the_task(make_fleet, profiles) -> None:
    fleet = make_fleet([("far", profiles.meal, "room_216"), ("near", profiles.meal, "kitchen")])
    fleet.submit({"kind": "meal_delivery", "rooms": ["room_101"]})
    assert fleet.tasks["t00001"].robot == "near"
    assert fleet.trace() == ["near perform load_trays kitchen"]


def test_patrol_never_goes_to_a_meal_only_robot(make_fleet, profiles) -> None:
    fleet = make_fleet([("tray", profiles.meal, "room_101"), ("walker", profiles.patrol, "room_216")])
    fleet.submit({"kind": "patrol", "checkpoints": ["room_101", "room_103"]})
    assert fleet.tasks["t00001"].robot == "walker"
    fleet.run()
    assert fleet.tasks["t00001"].state is TaskState.COMPLETED
    assert fleet.trace("tray") == []


def test_no_capable_robot_fails_the_task_with_reason(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    out = fleet.submit({"kind": "patrol", "checkpoints": ["room_101"]})
    task = fleet.tasks["t00001"]
    assert task.state is TaskState.FAILED
    assert task.reason == "no robot in the fleet can do patrol"
    [note] = [c for c in out if isinstance(c, NotifyStaff)]
    assert (note.key, note.task_id, note.severity) == ("task_failed", "t00001", Severity.WARNING)
    assert "no robot in the fleet can do patrol" in text(note)


def test_pinned_task_goes_to_its_robot(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.meal, "room_216")])
    fleet.submit({**GO_TO_101, "robot": "r2"})
    assert fleet.tasks["t00001"].robot == "r2"


# == urgent pre-emption =====================================================
def test_urgent_fall_preempts_meal_which_resumes_after_acknowledgement(make_fleet,
                                                                     profiles) -> None:
    fleet = make_fleet([("r1", profiles.all_round, "kitchen")])
    fleet.submit({"kind": "meal_delivery", "rooms": ["room_101", "room_103"]})
    fleet.step()                                     # trays loaded, driving to room_101
    meal = fleet.tasks["t00001"]
    driving = fleet.pending["r1"][1]
    assert isinstance(driving, Navigate) and driving.place == "room_101"

    out = fleet.feed(FallDetected(room="room_203", source="camera_203"), at=fleet.now + 5)
    assert out[0] == NotifyStaff(severity=Severity.URGENT, key="fall_detected",
                                 params=out[0].params, task_id="t00002", place="room_203",
                                 alert_id="a1-00001", tier="nurse_on_duty")
    assert text(out[0]) == "Possible fall in Room 203 (reported by camera_203)"
    assert Stop(robot_id="r1", command_id=driving.command_id) in out
    assert [c.place for c in out if isinstance(c, Navigate)] == ["room_203"]
    fall = fleet.tasks["t00002"]
    assert fall.priority is Priority.URGENT and fall.state is TaskState.ACTIVE
    robot = fleet.orch.robots["r1"]
    assert meal.state is TaskState.ASSIGNED and robot.queue[0] == "t00001"
    assert meal.loaded                                  # trays stay on the same robot

    out = fleet.step()                                  # at room_203: attends
    [here] = [c for c in out if isinstance(c, NotifyStaff) and not c.escalated]
    assert (here.key, here.task_id, here.robot_id) == ("fall_robot_arrived", "t00002", "r1")
    attend = fleet.pending["r1"][1]
    assert isinstance(attend, Perform) and attend.action == "attend"
    out = fleet.feed(StaffAcknowledged(task_id="t00002", by="nurse_li"), at=fleet.now + 120)
    assert Stop(robot_id="r1", command_id=attend.command_id) in out
    assert fall.state is TaskState.COMPLETED and fall.reason == "staff (nurse_li) took over"
    # the meal resumes at once, straight to its next room (no reload)
    assert [c.place for c in out if isinstance(c, Navigate)] == ["room_101"]
    assert meal.state is TaskState.ACTIVE
    fleet.run()
    assert meal.state is TaskState.COMPLETED and meal.delivered == ["room_101", "room_103"]
    assert fleet.trace().count("r1 perform load_trays kitchen") == 1


def test_fall_acknowledged_before_any_robot_arrives_completes_it(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])       # no camera robot
    fleet.feed(FallDetected(room="room_105", source="camera_105"))
    fall = fleet.tasks["t00001"]
    assert fall.state is TaskState.FAILED        # nobody in the fleet can attend
    fleet2 = make_fleet([("r1", profiles.patrol, "room_216")])
    fleet2.feed(FallDetected(room="room_105", source="camera_105"))
    out = fleet2.feed(StaffAcknowledged(task_id="t00001", by="nurse_li"), at=fleet2.now + 3)
    fall2 = fleet2.tasks["t00001"]
    assert fall2.state is TaskState.COMPLETED and fall2.reached_at is None
    assert [type(c) for c in out] == [Stop]
    assert fleet2.orch.robots["r1"].state is RobotState.IDLE


def test_repeated_fall_report_does_not_create_a_second_task(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.patrol, "room_216")])
    fleet.feed(FallDetected(room="room_105", source="camera_105"))
    assert fleet.feed(FallDetected(room="room_105", source="wearable_7")) == []
    assert list(fleet.orch.tasks) == ["t00001"]


# == failures ===============================================================
def test_failed_navigation_hands_the_task_to_another_robot(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.meal, "charger_f1")])
    fleet.submit({"kind": "go_to", "place": "room_110"})
    task = fleet.tasks["t00001"]
    first = task.robot
    other = "r2" if first == "r1" else "r1"
    out = fleet.answer(first, Outcome.FAILED, detail="door blocked")
    assert [(c.robot_id, c.place) for c in out if isinstance(c, Navigate)] == [(other, "room_110")]
    assert (task.attempts, task.failed_on, task.robot) == (1, [first], other)
    assert fleet.orch.robots[first].state is RobotState.IDLE
    fleet.answer(other)
    assert task.state is TaskState.COMPLETED


@pytest.mark.parametrize("retry_limit", [0, 1, 2])
def test_task_fails_after_retry_limit_and_staff_are_told(make_fleet, profiles,
                                                         retry_limit: int) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.meal, "charger_f1")],
                       policy=Policy(retry_limit=retry_limit))
    fleet.submit({"kind": "go_to", "place": "room_110"})
    task = fleet.tasks["t00001"]
    for attempt in range(retry_limit + 1):
        assert task.state is TaskState.ACTIVE, attempt
        out = fleet.answer(task.robot, Outcome.FAILED, detail="door blocked")
    assert task.state is TaskState.FAILED
    assert task.reason == (f"navigation failed: door blocked; gave up after "
                           f"{retry_limit + 1} attempts")
    [note] = [c for c in out if isinstance(c, NotifyStaff)]
    assert note.key == "task_failed" and note.task_id == "t00001"
    assert "navigation failed: door blocked" in text(note)
    assert not any(isinstance(c, Navigate) for c in out)


def _one_robot_busy_other_offline(make_fleet, profiles, start):
    """r1 has an active task and a queued one; r2 has not reported yet (grace over)."""
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.meal, "charger_f2")],
                       connect=False)
    fleet.report("r1", "kitchen")
    fleet.feed(Tick(), at=start + Policy().startup_grace)
    fleet.submit({"kind": "go_to", "place": "room_110"})
    fleet.submit({"kind": "go_to", "place": "room_112"})
    robot = fleet.orch.robots["r1"]
    assert (robot.task, robot.queue) == ("t00001", ["t00002"])
    return fleet


def test_robot_fault_hands_back_its_task_and_queue(make_fleet, profiles, start) -> None:
    fleet = _one_robot_busy_other_offline(make_fleet, profiles, start)
    driving = fleet.pending["r1"][1]
    out = fleet.report("r1", "f1_hall_3", mode=DriverMode.ERROR, error="wheel jammed",
                       at=fleet.now + 5)
    assert Stop(robot_id="r1", command_id=driving.command_id) in out
    [note] = [c for c in out if isinstance(c, NotifyStaff) and c.key == "robot_fault"]
    assert "wheel jammed" in text(note)
    robot = fleet.orch.robots["r1"]
    assert (robot.state, robot.task, robot.queue) == (RobotState.FAULT, None, [])
    first, second = fleet.tasks["t00001"], fleet.tasks["t00002"]
    assert first.state is second.state is TaskState.QUEUED
    assert (first.attempts, first.failed_on) == (1, ["r1"])
    assert second.attempts == 0                         # never started: not its failure
    out = fleet.report("r2", "charger_f2", at=fleet.now + 5)
    assert {first.robot, second.robot} == {"r2"}
    fleet.run()
    assert first.state is second.state is TaskState.COMPLETED


def test_overdue_navigation_stops_robot_and_reassigns(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.meal, "charger_f1")])
    fleet.submit({"kind": "go_to", "place": "room_110"})
    task = fleet.tasks["t00001"]
    first = task.robot
    driving = fleet.pending[first][1]
    deadline = fleet.orch.next_wakeup()
    robot = fleet.orch.robots[first]
    estimate = fleet.orch.planner.travel_time(robot.position, "room_110", robot.profile.speed)
    policy = Policy()
    assert deadline == pytest.approx(fleet.now + estimate * policy.navigate_slack
                                     + policy.navigate_margin)
    assert fleet.feed(Tick(), at=deadline - 1) == []
    out = fleet.feed(Tick(), at=deadline)
    assert Stop(robot_id=first, command_id=driving.command_id) in out
    other = "r2" if first == "r1" else "r1"
    assert [(c.robot_id, c.place) for c in out if isinstance(c, Navigate)] == [(other, "room_110")]
    assert robot.state is RobotState.FAULT and "overdue" in robot.error
    assert (task.robot, task.attempts) == (other, 1)


# == batteries ==============================================================
def test_low_battery_sends_idle_robot_to_charge_until_charged(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.meal, "charger_f2")])
    out = fleet.report("r1", "kitchen", battery=0.2, at=fleet.now + 1)
    charge = fleet.tasks["t00001"]
    assert charge.kind == "charge" and charge.priority is Priority.HIGH
    assert charge.pinned_robot == "r1" and charge.requested_by == "orchestrator"
    assert [c.place for c in out if isinstance(c, Navigate)] == ["charger_f1"]   # nearest free
    assert any(isinstance(c, NotifyStaff) and c.key == "robot_low_battery" for c in out)
    out = fleet.answer("r1")
    [dock] = [c for c in out if isinstance(c, Dock)]
    assert (dock.robot_id, dock.place) == ("r1", "charger_f1")
    robot = fleet.orch.robots["r1"]
    assert robot.state is RobotState.CHARGING and robot.charger == "charger_f1"
    fleet.report("r1", "charger_f1", battery=0.5, mode=DriverMode.CHARGING, at=fleet.now + 600)
    assert charge.state is TaskState.ACTIVE
    fleet.report("r1", "charger_f1", battery=0.95, mode=DriverMode.CHARGING, at=fleet.now + 600)
    assert charge.state is TaskState.COMPLETED
    assert (robot.state, robot.charger, robot.task) == (RobotState.IDLE, None, None)


def test_low_battery_hands_back_queued_work(make_fleet, profiles, start) -> None:
    fleet = _one_robot_busy_other_offline(make_fleet, profiles, start)
    out = fleet.report("r1", "kitchen", battery=0.2, at=fleet.now + 1)
    robot = fleet.orch.robots["r1"]
    queued = fleet.tasks["t00002"]
    # handed back (not counted as a failure) and, r2 being offline, offered again: r1 may
    # only do it after charging
    assert any(h[1:] == ("queued", "robot battery low") for h in queued.history)
    assert queued.attempts == 0
    charge = fleet.tasks["t00003"]
    assert charge.kind == "charge" and robot.queue == ["t00003", "t00002"]
    # the short current task is still safe to finish before charging
    assert robot.task == "t00001" and not any(isinstance(c, Stop) for c in out)
    fleet.step()
    assert fleet.tasks["t00001"].state is TaskState.COMPLETED
    assert fleet.pending["r1"][1].place == "charger_f1"
    # a robot that joins takes the handed-back work instead of waiting for the charge
    fleet.report("r2", "charger_f2", at=fleet.now + 1)
    assert queued.robot == "r2" and robot.queue == []


def test_no_task_for_a_robot_that_cannot_finish_it_and_reach_a_charger(
        make_fleet, profiles) -> None:
    from dataclasses import replace

    from carefleet.robots.model import Battery
    small = replace(profiles.meal, battery=Battery(capacity_wh=20.0, low_threshold=0.2))
    fleet = make_fleet([("weak", small, "room_113"), ("strong", profiles.meal, "kitchen")],
                       policy=Policy(topup_below=0.0))
    fleet.report("weak", "room_113", battery=0.21)   # 4.2 Wh; reserve 2 Wh
    fleet.submit({"kind": "go_to", "place": "room_216"})
    # weak is much nearer, but ~2.8 Wh there plus ~3 Wh to a charger is more than it has
    assert fleet.tasks["t00001"].robot == "strong"


def test_idle_robot_below_topup_level_charges_at_low_priority(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.report("r1", "kitchen", battery=0.5, at=fleet.now + 1)
    charge = fleet.tasks["t00001"]
    assert charge.kind == "charge" and charge.priority is Priority.LOW


# == cancellation ===========================================================
def test_cancel_queued_task(make_fleet, profiles, start) -> None:
    fleet = _one_robot_busy_other_offline(make_fleet, profiles, start)
    out = fleet.feed(TaskCancelled(task_id="t00002", requested_by="staff:bob",
                                   reason="resident is out"))
    assert not any(isinstance(c, Stop) for c in out)
    task = fleet.tasks["t00002"]
    assert task.state is TaskState.CANCELLED
    assert task.reason == "resident is out (by staff:bob)"
    assert fleet.orch.robots["r1"].queue == []
    assert any(isinstance(e, Audited) and e.action == "task_cancelled" and e.actor == "staff:bob"
               for e in fleet.journal)


def test_cancel_active_task_stops_the_robot(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.submit(GO_TO_101)
    driving = fleet.pending["r1"][1]
    out = fleet.feed(TaskCancelled(task_id="t00001", requested_by="staff:bob"), at=fleet.now + 3)
    assert out == [Stop(robot_id="r1", command_id=driving.command_id)]
    task = fleet.tasks["t00001"]
    assert task.state is TaskState.CANCELLED and task.reason == "cancelled by request (by staff:bob)"
    robot = fleet.orch.robots["r1"]
    assert (robot.state, robot.task, robot.command) == (RobotState.IDLE, None, None)
    with pytest.raises(InputError, match="already cancelled"):
        fleet.feed(TaskCancelled(task_id="t00001", requested_by="staff:bob"))


# == caller mistakes and stale answers ======================================
@pytest.mark.parametrize("event", [
    TaskCancelled(task_id="t99999", requested_by="staff:bob"),
    StaffAcknowledged(task_id="t99999", by="nurse_li"),
    StaffAcknowledged(task_id="t00001", by="nurse_li"),          # not a fall response
    RobotStatus(robot_id="r9", position="kitchen", battery=0.5),
    CommandResult(robot_id="r9", command_id="c000001", outcome=Outcome.SUCCEEDED),
    PassageChanged(what="secret_tunnel", closed=True),
    TaskSubmitted(request={"kind": "go_to", "place": "room_999"}, requested_by="staff:anna"),
    TaskSubmitted(request={**GO_TO_101, "robot": "r9"}, requested_by="staff:anna"),
], ids=["cancel", "ack", "ack-not-fall", "status", "result", "passage", "bad-place", "bad-robot"])
def test_unknown_ids_raise_input_error_and_change_nothing(make_fleet, profiles, event) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.submit(GO_TO_101)
    before = state_of(fleet)
    with pytest.raises((InputError, RobotError)) as caught:
        fleet.feed(event, at=fleet.now + 1)
    assert "\n" not in str(caught.value)
    assert state_of(fleet) == before
    assert fleet.orch.take_journal() == []


def test_refused_submission_does_not_use_up_an_id(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    with pytest.raises(InputError):
        fleet.submit({"kind": "go_to", "place": "room_999"})
    fleet.submit(GO_TO_101)
    assert list(fleet.orch.tasks) == ["t00001"]


def test_stale_command_result_is_ignored(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.submit(GO_TO_101)
    before = state_of(fleet)
    out = fleet.feed(CommandResult(robot_id="r1", command_id="c000000",
                                   outcome=Outcome.SUCCEEDED, position="room_101"), at=fleet.now + 1)
    assert out == [] and state_of(fleet) == before
    [entry] = [e for e in fleet.batch if isinstance(e, Audited)]
    assert entry.action == "stale_result" and entry.detail["command_id"] == "c000000"


def test_time_going_backwards_is_refused(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.feed(Tick(), at=fleet.now + 10)
    with pytest.raises(InputError, match="time went backwards"):
        fleet.feed(Tick(), at=fleet.now - 1)


# == determinism and journal ================================================
def _scenario(ward, profiles, start) -> tuple[list, list]:
    specs = [RobotSpec(id="r1", profile=profiles.all_round, start="kitchen"),
             RobotSpec(id="r2", profile=profiles.meal, start="charger_f1"),
             RobotSpec(id="r3", profile=profiles.patrol, start="charger_f2")]
    orch = Orchestrator(ward, specs, start=start)
    events = [
        (start, RobotStatus(robot_id="r1", position="kitchen", battery=0.9)),
        (start, RobotStatus(robot_id="r2", position="charger_f1", battery=0.8)),
        (start + 1, RobotStatus(robot_id="r3", position="charger_f2", battery=0.7)),
        (start + 2, TaskSubmitted(request={"kind": "meal_delivery",
                                           "rooms": ["room_101", "room_103", "room_201"]},
                                  requested_by="staff:anna")),
        (start + 3, TaskSubmitted(request={"kind": "patrol", "checkpoints": ["room_105", "lounge"],
                                           "rounds": 2}, requested_by="staff:bob")),
        (start + 4, FallDetected(room="room_210", source="camera_210")),
        (start + 10, CommandResult(robot_id="r2", command_id="c000001", outcome=Outcome.SUCCEEDED)),
        (start + 20, PassageChanged(what="east_corridor_f1", closed=True)),
        (start + 30, Tick()),
        (start + 400, Tick()),
    ]
    commands, journal = [], []
    for at, event in events:
        commands.append(orch.handle(event, at))
        journal.append(orch.take_journal())
    return commands, journal


def test_same_events_give_same_commands_and_journal(ward, profiles, start) -> None:
    first = _scenario(ward, profiles, start)
    second = _scenario(ward, profiles, start)
    assert first == second
    assert sum(len(batch) for batch in first[0]) > 5


def test_every_accepted_task_is_saved_with_its_first_commands(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.patrol, "charger_f1")])
    out = fleet.feed(TaskSubmitted(request=GO_TO_101, requested_by="staff:anna"), at=fleet.now + 1)
    batch = fleet.batch
    assert any(isinstance(c, Navigate) for c in out)
    [record] = saved(batch, "t00001")
    assert record["state"] == "active" and record["requested_by"] == "staff:anna"
    [asked] = [e for e in batch if isinstance(e, Audited) and e.action == "task_submitted"]
    assert (asked.actor, asked.task_id, asked.detail["kind"]) == ("staff:anna", "t00001", "go_to")
    # fall reports are audited as asked by their source
    fleet.feed(FallDetected(room="room_203", source="camera_203"), at=fleet.now + 1)
    batch = fleet.batch
    assert saved(batch, "t00002")
    assert any(isinstance(e, Audited) and e.action == "task_submitted" and e.actor == "camera_203"
               for e in batch)


def test_journaled_record_is_a_snapshot(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.submit({"kind": "meal_delivery", "rooms": ["room_101"]})
    [record] = saved(fleet.journal, "t00001")
    fleet.run()
    assert record["progress"]["delivered"] == []
    assert record["progress"]["delivered_at"] == {}


# == restart ================================================================
def _store(journal) -> dict[str, dict]:
    """A task store in miniature: the latest TaskSaved record per task id."""
    latest: dict[str, dict] = {}
    for entry in journal:
        if isinstance(entry, TaskSaved):
            latest[entry.record["id"]] = entry.record
    return latest


def _open(store: dict[str, dict]) -> list[dict]:
    return [r for r in store.values() if r["state"] in ("queued", "assigned", "active")]


def _before_restart(make_fleet, profiles):
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.patrol, "room_216")])
    fleet.submit({"kind": "meal_delivery", "rooms": ["room_101", "room_105"]})    # t00001
    fleet.submit({"kind": "patrol", "checkpoints": ["room_201"], "rounds": 1})    # t00002
    meal, patrol = fleet.tasks["t00001"], fleet.tasks["t00002"]
    while not meal.delivered or patrol.is_open:      # meal served room_101; patrol done
        fleet.step()
    assert meal.delivered == ["room_101"] and meal.state is TaskState.ACTIVE
    assert fleet.tasks["t00002"].state is TaskState.COMPLETED
    return fleet


def test_restore_gets_open_tasks_back_queued_with_progress(make_fleet, profiles) -> None:
    fleet = _before_restart(make_fleet, profiles)
    store = _store(fleet.journal)
    restarted = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.patrol, "room_216")],
                           connect=False, start=fleet.now + 60)
    assert restarted.orch.restore(_open(store), {}) == 1
    meal = restarted.orch.tasks["t00001"]
    assert "t00002" not in restarted.orch.tasks                 # finished: not resurrected
    assert meal.state is TaskState.QUEUED and meal.reason == "resumed after restart"
    assert meal.delivered == ["room_101"] and meal.remaining == ["room_105"]
    saved_now = _store(restarted.orch.take_journal())
    assert saved_now["t00001"]["state"] == "queued"
    restarted.connect_all()
    restarted.run()
    assert meal.state is TaskState.COMPLETED and meal.delivered == ["room_101", "room_105"]
    assert "r1 perform await_pickup room_101" not in restarted.trace()


def test_ids_continue_without_collision_after_restore(make_fleet, profiles) -> None:
    fleet = _before_restart(make_fleet, profiles)
    store = _store(fleet.journal)
    restarted = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.patrol, "room_216")],
                           start=fleet.now + 60)
    restarted.orch.restore(_open(store), {}, used_ids=list(store))
    restarted.submit(GO_TO_101)
    new_ids = set(restarted.orch.tasks) - {"t00001"}
    assert new_ids and not new_ids & set(store)


def test_restored_loaded_meal_reloads_at_the_kitchen(make_fleet, profiles) -> None:
    fleet = _before_restart(make_fleet, profiles)
    store = _store(fleet.journal)
    assert store["t00001"]["progress"]["loaded"] is True
    restarted = make_fleet([("r3", profiles.meal, "charger_f1")], connect=False,
                           start=fleet.now + 60)
    restarted.orch.restore(_open(store), {})
    assert restarted.orch.tasks["t00001"].loaded is False    # trays may be on another robot
    restarted.connect_all()
    restarted.run()
    assert restarted.trace() == ["r3 navigate kitchen", "r3 perform load_trays kitchen",
                                 "r3 navigate room_105", "r3 perform await_pickup room_105",
                                 "r3 navigate kitchen"]


# == passages ===============================================================
def test_closing_a_corridor_changes_route_estimates(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    robot = fleet.orch.robots["r1"]
    from carefleet.tasks.model import Go
    open_estimate = fleet.orch.allocator.estimate([Go("room_101")], robot.position, robot)
    fleet.feed(PassageChanged(what="east_corridor_f1", closed=True, by="staff:bob"),
               at=fleet.now + 1)
    assert fleet.orch.closed == frozenset({"east_corridor_f1"})
    closed_estimate = fleet.orch.allocator.estimate([Go("room_101")], robot.position, robot)
    assert closed_estimate.duration > open_estimate.duration      # through the slow lounge
    fleet.submit(GO_TO_101)
    slow_deadline = fleet.orch.next_wakeup()
    assert slow_deadline == pytest.approx(
        fleet.now + closed_estimate.duration * 2 + 120)
    assert any(isinstance(e, Audited) and e.action == "passage_closed" and e.actor == "staff:bob"
               for e in fleet.journal)


def test_task_whose_only_route_is_closed_waits(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    fleet.feed(PassageChanged(what="wing_corridor_f1", closed=True), at=fleet.now + 1)
    out = fleet.submit({"kind": "go_to", "place": "room_105"})
    task = fleet.tasks["t00001"]
    [waiting] = out                                # staff are told once, not at every event
    assert waiting.key == "task_waiting" and "wing_corridor_f1 is closed" in text(waiting)
    assert task.state is TaskState.QUEUED and "wing_corridor_f1" in task.reason
    assert fleet.feed(Tick(), at=fleet.now + 30) == []
    out = fleet.feed(PassageChanged(what="wing_corridor_f1", closed=False), at=fleet.now + 60)
    assert [c.place for c in out if isinstance(c, Navigate)] == ["room_105"]
    assert task.state is TaskState.ACTIVE


def test_restore_skips_finished_records(make_fleet, profiles) -> None:
    fleet = _before_restart(make_fleet, profiles)
    store = _store(fleet.journal)
    finished = {i for i, record in store.items() if record["state"] == "completed"}
    assert finished
    restarted = make_fleet([("r1", profiles.meal, "kitchen")], start=fleet.now + 60)
    restored = restarted.orch.restore(list(store.values()), {}, used_ids=list(store))
    assert restored == len(store) - len(finished)
    assert not finished & set(restarted.orch.tasks)


# == tray capacity ==========================================================
SIX_ROOMS = {"kind": "meal_delivery", "rooms": ["room_101", "room_102", "room_103", "room_104",
                                                 "room_105", "room_106"]}


def test_a_trip_larger_than_any_robots_trays_is_refused_at_submission(make_fleet, profiles):
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.all_round, "kitchen")])
    with pytest.raises(InputError) as caught:
        fleet.submit(SIX_ROOMS)
    assert str(caught.value) == ("task request: rooms: 6 rooms in one trip, but the fleet's meal "
                                 "robots carry at most 4 trays: split the request")
    assert fleet.orch.tasks == {}


def test_a_trip_goes_only_to_a_robot_with_enough_trays(make_fleet, profiles):
    big = replace(profiles.meal, model="tray-bot XL", trays=8)
    fleet = make_fleet([("small", profiles.meal, "kitchen"), ("big", big, "charger_f2")])
    fleet.submit(SIX_ROOMS)            # the small robot is nearer but carries only 4
    fleet.run()
    (task,) = fleet.tasks.values()
    assert task.state is TaskState.COMPLETED
    assert fleet.trace("small") == [] and fleet.trace("big")[0] == "big navigate kitchen"


# == events validate themselves ==============================================
@pytest.mark.parametrize("make, message", [
    (lambda: RobotStatus(robot_id="", position="kitchen", battery=0.5), "robot report: robot_id: must be given"),
    (lambda: RobotStatus(robot_id="r1", position="kitchen", battery=1.5), "battery 1.5 outside 0..1"),
    (lambda: CommandResult(robot_id="r1", command_id=" ", outcome=Outcome.SUCCEEDED), "command_id: must be given"),
    (lambda: TaskCancelled(task_id="", requested_by="staff:anna"), "task cancellation: task_id: must be given"),
    (lambda: StaffAcknowledged(task_id="t00001", by=""), "staff acknowledgement: by: must be given"),
    (lambda: FallDetected(room="room_203", source="cam", confidence=2.0), "confidence 2.0 outside 0..1"),
    (lambda: TaskSubmitted(request={"kind": "go_to"}, requested_by=""), "requested_by: must be given"),
])
def test_malformed_events_are_refused_at_the_boundary(make, message) -> None:
    with pytest.raises(InputError, match=message):
        make()
