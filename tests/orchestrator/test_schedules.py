"""Schedules in ward-local time (Asia/Shanghai for the demo ward): meal services fire once
per slot (their loading lead before it), survive a restart through their marks, and are
planned into trips per robot; night patrols run until the end of their window the next
morning."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import pytest

from carefleet.orchestrator.commands import NotifyStaff
from carefleet.orchestrator.events import Tick
from carefleet.orchestrator.journal import Audited, ScheduleMarked
from carefleet.orchestrator.schedules import (MealService, PatrolSchedule, next_slot,
                                              parse_clock, schedule_from_record,
                                              schedule_record, slots_between)
from carefleet.tasks.meal import MealDelivery
from carefleet.tasks.patrol import Patrol

ZONE = ZoneInfo("Asia/Shanghai")
LUNCH = MealService(name="lunch", at=time(12, 0))
NIGHT = PatrolSchedule(name="night", start=time(22, 0), end=time(6, 0),
                       checkpoints=("checkpoint_f1_wing", "checkpoint_f2_wing"))


def meals(fleet) -> list[MealDelivery]:
    return [t for t in fleet.tasks.values() if isinstance(t, MealDelivery)]


def test_lunch_fires_exactly_once_when_time_passes_noon(make_fleet, profiles, local_time) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen"), ("r2", profiles.all_round, "charger_f1")],
                       schedules=[LUNCH])
    assert fleet.orch.next_wakeup() == local_time(2, 12)
    fleet.feed(Tick(), at=local_time(2, 11, 59))
    assert meals(fleet) == []
    fleet.feed(Tick(), at=local_time(2, 12))
    fired = meals(fleet)
    # every resident room (32) once, each trip cut for the robot it was planned for
    assert sorted(r for t in fired for r in t.rooms) == sorted(
        p for p in fleet.orch.ward.places if p.startswith("room_"))
    assert all(len(t.rooms) <= fleet.orch.robots[t.robot].profile.trays for t in fired)
    assert any(len(t.rooms) > 2 for t in fired)        # r1 carries 4, not r2's 2
    assert {t.due for t in fired} == {local_time(2, 12)}
    assert {t.meal for t in fired} == {"lunch"}
    assert {t.requested_by for t in fired} == {"schedule:lunch"}
    assert ScheduleMarked(name="lunch", until=local_time(2, 12)) in fleet.batch
    fleet.feed(Tick(), at=local_time(2, 12, 30))
    fleet.feed(Tick(), at=local_time(2, 23))
    assert len(meals(fleet)) == len(fired)
    assert fleet.orch.next_wakeup() <= local_time(3, 12)
    fleet.feed(Tick(), at=local_time(3, 12, 1))                  # the next day: once more
    assert sum(len(t.rooms) for t in meals(fleet)) == 2 * 32
    assert {t.due for t in meals(fleet)} == {local_time(2, 12), local_time(3, 12)}


def test_missed_slots_are_caught_up_or_reported_never_skipped(make_fleet, profiles,
                                                             local_time) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")],
                       schedules=[MealService(name="lunch", at=time(12), rooms=("room_101",))])
    out = fleet.feed(Tick(), at=local_time(4, 12, 40))           # slept through three noons
    # the last lunch is 40 min late: still served; the two older ones are reported
    assert sorted(t.due for t in meals(fleet)) == [local_time(4, 12)]
    missed = [c for c in out if isinstance(c, NotifyStaff) and c.key == "schedule_missed"]
    assert [c.params["schedule"] for c in missed] == ["lunch", "lunch"]
    assert [e.detail["slot"] for e in fleet.batch
            if isinstance(e, Audited) and e.action == "schedule_missed"] == [
        local_time(2, 12), local_time(3, 12)]
    later = fleet.feed(Tick(), at=local_time(4, 13))     # reported once (then only reminded)
    assert not [c for c in later if isinstance(c, NotifyStaff) and c.key == "schedule_missed"
                and not c.escalated]


def test_a_slot_that_passed_while_down_is_caught_up_after_restart(make_fleet, profiles,
                                                                 local_time) -> None:
    """No mark stored before the crash: the first start stores one, so the restarted
    core still knows that noon has not been served."""
    fleet = make_fleet([("r1", profiles.meal, "kitchen")], schedules=[LUNCH],
                       start=local_time(2, 11))
    fleet.orch.restore([], {})
    marks = {e.name: e.until for e in fleet.orch.take_journal() if isinstance(e, ScheduleMarked)}
    assert marks == {"lunch": local_time(2, 11)}
    restarted = make_fleet([("r1", profiles.meal, "kitchen")], schedules=[LUNCH],
                           start=local_time(2, 12, 20))               # down from 11:50 to 12:20
    restarted.orch.restore([], marks)
    restarted.feed(Tick(), at=local_time(2, 12, 20))
    assert {t.due for t in meals(restarted)} == {local_time(2, 12)}


@pytest.mark.parametrize("with_marks", [True, False])
def test_restored_marks_keep_a_slot_from_firing_twice(make_fleet, profiles, local_time,
                                                     with_marks: bool) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")], schedules=[LUNCH])
    fleet.feed(Tick(), at=local_time(2, 12))
    marks = {e.name: e.until for e in fleet.journal if isinstance(e, ScheduleMarked)}
    assert marks == {"lunch": local_time(2, 12)}
    # the restarted process starts a little before noon (its clock was behind)
    restarted = make_fleet([("r1", profiles.meal, "kitchen")], schedules=[LUNCH],
                           start=local_time(2, 11, 58))
    restarted.orch.restore([], marks if with_marks else {})
    restarted.feed(Tick(), at=local_time(2, 12, 5))
    assert (len(meals(restarted)) == 0) is with_marks


def test_rooms_are_planned_into_trips_of_each_robots_own_tray_count(make_fleet, profiles,
                                                                     local_time) -> None:
    service = MealService(name="supper", at=time(17, 30), pickup_timeout=90.0,
                          rooms=("room_105", "room_101", "room_104", "room_103", "room_102"))
    fleet = make_fleet([("big", profiles.meal, "kitchen"), ("small", profiles.all_round, "lounge"),
                        ("walker", profiles.patrol, "charger_f2")], schedules=[service])
    fleet.feed(Tick(), at=local_time(2, 17, 30))
    trips = meals(fleet)
    assert sorted(r for t in trips for r in t.rooms) == [f"room_10{i}" for i in range(1, 6)]
    assert {t.robot for t in trips} <= {"big", "small"}
    assert all(len(t.rooms) <= fleet.orch.robots[t.robot].profile.trays for t in trips)
    assert {t.pickup_timeout for t in trips} == {90.0}


def test_a_loading_lead_fires_the_service_early_and_latency_still_counts_from_the_slot(
        make_fleet, profiles, local_time) -> None:
    service = MealService(name="lunch", at=time(12), lead=600.0, hot_limit=1200.0,
                          rooms=("room_101", "room_102"))
    fleet = make_fleet([("r1", profiles.meal, "kitchen")], schedules=[service])
    assert fleet.orch.next_wakeup() == local_time(2, 11, 50)
    fleet.feed(Tick(), at=local_time(2, 11, 50))
    [trip] = meals(fleet)
    assert trip.due == local_time(2, 12) and trip.robot == "r1"
    assert schedule_from_record(schedule_record(service)) == service


def test_a_lead_before_midnight_fires_the_day_before() -> None:
    early = MealService(name="early", at=time(0, 10), lead=1800.0)
    after = 1748793600.0 - 7200                  # 2025-06-01 22:00 in Shanghai (UTC+8)
    [fired] = slots_between(early, after, after + 3 * 3600, ZONE)
    assert fired == 1748793600.0 + 600 - 1800    # 23:40 the evening before 00:10


def test_night_patrol_runs_until_six_next_morning(make_fleet, profiles, local_time) -> None:
    fleet = make_fleet([("r1", profiles.patrol, "charger_f1")], schedules=[NIGHT])
    assert fleet.orch.next_wakeup() == local_time(2, 22)
    fleet.feed(Tick(), at=local_time(2, 22))
    [patrol] = [t for t in fleet.tasks.values() if isinstance(t, Patrol)]
    assert patrol.until == local_time(3, 6) and patrol.rounds is None
    assert patrol.checkpoints == ["checkpoint_f1_wing", "checkpoint_f2_wing"]
    assert (patrol.due, patrol.requested_by) == (local_time(2, 22), "schedule:night")
    assert patrol.robot == "r1"


def test_patrol_schedule_with_rounds_has_no_end_time(make_fleet, profiles, local_time) -> None:
    schedule = PatrolSchedule(name="evening", start=time(19), end=time(21), rounds=2,
                              checkpoints=("lounge",))
    fleet = make_fleet([("r1", profiles.patrol, "charger_f1")], schedules=[schedule])
    fleet.feed(Tick(), at=local_time(2, 19))
    [patrol] = [t for t in fleet.tasks.values() if isinstance(t, Patrol)]
    assert (patrol.rounds, patrol.until) == (2, None)


def test_next_wakeup_is_the_earliest_of_slots_and_deadlines(make_fleet, profiles,
                                                           local_time) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")], schedules=[LUNCH, NIGHT])
    assert fleet.orch.next_wakeup() == local_time(2, 12)
    fleet.submit({"kind": "go_to", "place": "room_216"})
    deadline = fleet.orch.robots["r1"].deadline
    assert deadline is not None and fleet.orch.next_wakeup() == deadline < local_time(2, 12)
    fleet.run()
    assert fleet.orch.next_wakeup() == local_time(2, 12)
    fleet.feed(Tick(), at=local_time(2, 12))
    deadlines = [r.deadline for r in fleet.orch.robots.values() if r.deadline is not None]
    assert fleet.orch.next_wakeup() == min(deadlines + [local_time(2, 22)])


def test_no_schedules_and_nothing_in_flight_means_no_wakeup(make_fleet, profiles) -> None:
    fleet = make_fleet([("r1", profiles.meal, "kitchen")])
    assert fleet.orch.next_wakeup() is None


# == pure helpers ==========================================================
def test_slots_between_excludes_after_and_includes_until() -> None:
    noon = slots_between(LUNCH, 0.0, 1e10, ZONE)[0]
    assert slots_between(LUNCH, noon - 1, noon, ZONE) == [noon]
    assert slots_between(LUNCH, noon, noon + 3600, ZONE) == []
    assert next_slot(LUNCH, noon, ZONE) == noon + 86400


def test_window_end_crosses_midnight() -> None:
    start = slots_between(NIGHT, 1748822400.0, 1748822400.0 + 86400, ZONE)[0]
    assert NIGHT.window_end(start, ZONE) - start == 8 * 3600


@pytest.mark.parametrize("text", ["7", "noon", "25:00", "12:61", None])
def test_parse_clock_refuses_bad_times(text) -> None:
    with pytest.raises(ValueError, match="is not a clock time like 07:30"):
        parse_clock(text)


def test_parse_clock() -> None:
    assert parse_clock("07:30") == time(7, 30)


def test_trips_do_not_depend_on_the_order_rooms_are_listed(make_fleet, profiles,
                                                          local_time) -> None:
    rooms = ["room_105", "room_101", "room_216", "room_103", "room_201", "room_102",
             "room_104", "room_203"]
    cut = []
    for listed in (rooms, list(reversed(rooms)), sorted(rooms)):
        service = MealService(name="lunch", at=time(12), rooms=tuple(listed))
        fleet = make_fleet([("r1", profiles.meal, "kitchen")], schedules=[service])
        fleet.feed(Tick(), at=local_time(2, 12))
        cut.append(sorted(tuple(t.rooms) for t in meals(fleet)))
    assert cut[0] == cut[1] == cut[2]


def test_trips_never_straddle_floors_when_they_need_not(make_fleet, profiles,
                                                       local_time) -> None:
    rooms = ("room_101", "room_102", "room_103", "room_104", "room_105", "room_106",
             "room_201", "room_202", "room_203")
    fleet = make_fleet([("r1", profiles.meal, "kitchen")],
                       schedules=[MealService(name="lunch", at=time(12), rooms=rooms)])
    fleet.feed(Tick(), at=local_time(2, 12))
    trips = [t.rooms for t in meals(fleet)]
    assert sorted(len(t) for t in trips) == [2, 3, 4]
    for trip in trips:
        assert len({room[5] for room in trip}) == 1, trips       # one floor per trip


def test_a_meal_service_interrupts_a_top_up_charge(make_fleet, profiles, local_time) -> None:
    from carefleet.orchestrator.commands import Navigate
    from carefleet.tasks.errands import Charge
    fleet = make_fleet([("r1", profiles.meal, "charger_f1")], schedules=[
        MealService(name="lunch", at=time(12), rooms=("room_101",))], start=local_time(2, 11))
    fleet.report("r1", "f1_charger", battery=0.5, at=local_time(2, 11, 1))   # idle: tops up
    [charge] = [t for t in fleet.tasks.values() if isinstance(t, Charge)]
    assert charge.priority.name == "LOW" and fleet.orch.robots["r1"].task == charge.id
    out = fleet.feed(Tick(), at=local_time(2, 12))
    assert charge.state.value == "cancelled" and "needs the robot" in charge.reason
    [meal] = meals(fleet)
    assert meal.robot == "r1" and any(isinstance(c, Navigate) or getattr(c, "action", "") ==
                                      "load_trays" for c in out)
