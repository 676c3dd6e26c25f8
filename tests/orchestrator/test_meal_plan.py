"""The meal-service planner (``orchestrator/meal_plan.py``) on the demo ward and a
generated four-floor ward: properties over generated room lists and fleets (every
room once, trays respected, listing order irrelevant, floors kept apart unless a trip
is full, hot food on time), then the core using it (a service clears top-ups and low
errands off the robots it needs)."""

from __future__ import annotations

import math
from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carefleet.maps.generate import corridor_ward
from carefleet.maps.model import PlaceKind
from carefleet.maps.routing import Planner
from carefleet.orchestrator.commands import Dock, Navigate, Stop
from carefleet.orchestrator.events import Tick
from carefleet.orchestrator.meal_plan import MealPlan, NoRunner, Runner, plan_service
from carefleet.orchestrator.schedules import MealService
from carefleet.tasks.errands import Charge
from carefleet.tasks.meal import LOAD_SECONDS, PICKUP_EXPECTED, MealDelivery
from carefleet.tasks.model import TaskState

FOUR_FLOORS = corridor_ward(40, floors=4)
FOUR_FLOOR_PLANNER = Planner(FOUR_FLOORS)
FOUR_FLOOR_ROOMS = [p.id for p in FOUR_FLOORS.places_of_kind(PlaceKind.RESIDENT_ROOM)]


def plan(rooms, runners, planner, **extra) -> MealPlan:
    return plan_service(rooms, runners, kitchen="kitchen", planner=planner,
                        load=LOAD_SECONDS, pickup=PICKUP_EXPECTED, **extra)


def runners_of(trays: list[int], ready: list[float] | None = None) -> list[Runner]:
    return [Runner(id=f"r{i}", trays=n, speed=0.8, ready=(ready or [0.0] * len(trays))[i])
            for i, n in enumerate(trays)]


def floors_of(trip, ward) -> set[str]:
    return {ward.places[room].floor for room in trip.rooms}


fleets = st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=4)
room_lists = st.lists(st.sampled_from(FOUR_FLOOR_ROOMS), min_size=1, max_size=24, unique=True)


@settings(max_examples=25, deadline=None)
@given(rooms=room_lists, trays=fleets, data=st.data())
def test_every_room_once_no_trip_over_its_trays_and_any_listing_order_the_same_plan(
        rooms, trays, data) -> None:
    runners = runners_of(trays)
    first = plan(rooms, runners, FOUR_FLOOR_PLANNER)
    served = [room for trip in first.trips for room in trip.rooms]
    assert sorted(served) == sorted(rooms)                        # every room exactly once
    capacity = {r.id: r.trays for r in runners}
    assert all(len(trip.rooms) <= capacity[trip.robot] for trip in first.trips)
    shuffled = data.draw(st.permutations(rooms))
    again = plan(list(shuffled) + list(shuffled[:2]), runners, FOUR_FLOOR_PLANNER)  # + repeats
    assert again == first


@settings(max_examples=25, deadline=None)
@given(rooms=room_lists, trays=fleets)
def test_a_trip_changes_floors_only_when_it_is_full(rooms, trays) -> None:
    runners = runners_of(trays)
    capacity = {r.id: r.trays for r in runners}
    for trip in plan(rooms, runners, FOUR_FLOOR_PLANNER).trips:
        if len(floors_of(trip, FOUR_FLOORS)) > 1:
            assert len(trip.rooms) == capacity[trip.robot]


@pytest.mark.parametrize("trays", [[4, 4], [4, 4, 4], [2, 2, 2, 2]])
def test_trips_never_straddle_floors_when_every_floor_fills_whole_trips(trays) -> None:
    # 10 rooms on each of 4 floors would leave remainders for 4 trays; 8 per floor do not
    rooms = [r for r in FOUR_FLOOR_ROOMS if int(r[-2:]) <= 8]
    for trip in plan(rooms, runners_of(trays), FOUR_FLOOR_PLANNER).trips:
        assert len(floors_of(trip, FOUR_FLOORS)) == 1


def test_two_floors_of_the_demo_ward_are_served_floor_by_floor(ward) -> None:
    rooms = [p.id for p in ward.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    result = plan(rooms, runners_of([4, 4, 4]), Planner(ward))
    assert all(len(floors_of(trip, ward)) == 1 for trip in result.trips)


def test_mixed_tray_counts_are_used_fully(ward) -> None:
    rooms = [p.id for p in ward.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    result = plan(rooms, runners_of([4, 8]), Planner(ward))
    eights = [len(t.rooms) for t in result.trips if t.robot == "r1"]
    assert max(eights) > 4                             # not cut to the fleet's smallest
    assert len(result.trips) < 32 / 4                  # fewer trips than 4-tray ones


def test_a_robot_that_is_late_gets_less_work(ward) -> None:
    rooms = [p.id for p in ward.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    result = plan(rooms, runners_of([4, 4], ready=[0.0, 900.0]), Planner(ward))
    served = {r: sum(len(t.rooms) for t in result.of(r)) for r in ("r0", "r1")}
    assert served["r0"] > served["r1"]
    assert min(t.start for t in result.of("r1")) >= 900.0


@pytest.mark.parametrize("limit_min", [4.0, 6.0, 9.0])
def test_no_tray_rides_longer_than_the_hot_limit(ward, limit_min: float) -> None:
    rooms = [p.id for p in ward.places_of_kind(PlaceKind.RESIDENT_ROOM)]
    result = plan(rooms, runners_of([8, 8]), Planner(ward), hot_limit=limit_min * 60)
    for trip in result.trips:
        assert trip.deliveries[-1] - trip.start <= limit_min * 60 + 1e-6
    free = plan(rooms, runners_of([8, 8]), Planner(ward))
    assert max(t.deliveries[-1] - t.start for t in free.trips) > 4.0 * 60


def test_makespan_mean_and_distance_are_those_of_the_trips(ward) -> None:
    result = plan(["room_101", "room_216"], runners_of([4]), Planner(ward))
    times = [d for t in result.trips for d in t.deliveries]
    assert result.makespan == max(times) and result.mean == pytest.approx(sum(times) / 2)
    assert result.distance > 0 and math.isfinite(result.distance)


def test_rooms_behind_a_closure_are_left_unplanned(ward) -> None:
    result = plan(["room_101", "room_201"], runners_of([4]), Planner(ward),
                  closed=frozenset({"lift_a"}))
    assert result.unplanned == ("room_201",)
    assert [t.rooms for t in result.trips] == [("room_101",)]


def test_a_service_needs_a_robot_with_trays(ward) -> None:
    with pytest.raises(NoRunner):
        plan(["room_101"], runners_of([0]), Planner(ward))


# == the core uses it ======================================================
def test_a_meal_service_interrupts_a_top_up_charge(make_fleet, profiles, local_time) -> None:
    lunch = MealService(name="lunch", at=time(12), rooms=("room_101", "room_102"))
    fleet = make_fleet([("r1", profiles.meal, "charger_f1")], schedules=[lunch],
                       start=local_time(2, 11))
    fleet.report("r1", "charger_f1", battery=0.5, at=local_time(2, 11, 1))   # idle: tops up
    [topup] = [t for t in fleet.orch.tasks.values() if isinstance(t, Charge)]
    assert any(isinstance(c, Dock) for c in fleet.sent)
    fleet.report("r1", "charger_f1", battery=0.52, at=local_time(2, 11, 59))
    out = fleet.feed(Tick(), at=local_time(2, 12))
    assert fleet.tasks[topup.id].state is TaskState.CANCELLED
    assert any(isinstance(c, Stop) for c in out)                 # off the dock ...
    assert [c.place for c in out if isinstance(c, Navigate)] == ["kitchen"]  # ... to lunch
    [trip] = [t for t in fleet.orch.tasks.values() if isinstance(t, MealDelivery)]
    assert trip.robot == "r1" and trip.state is TaskState.ACTIVE


def test_a_meal_service_pauses_a_low_priority_errand(make_fleet, profiles, local_time) -> None:
    lunch = MealService(name="lunch", at=time(12), rooms=("room_101",))
    fleet = make_fleet([("r1", profiles.all_round, "kitchen")], schedules=[lunch],
                       start=local_time(2, 11, 58))
    fleet.submit({"kind": "go_to", "place": "room_216", "priority": "low"},
                 at=local_time(2, 11, 59))
    [errand] = [t for t in fleet.orch.tasks.values() if t.kind == "go_to"]
    assert errand.state is TaskState.ACTIVE
    fleet.feed(Tick(), at=local_time(2, 12))
    [trip] = [t for t in fleet.orch.tasks.values() if isinstance(t, MealDelivery)]
    assert trip.state is TaskState.ACTIVE and trip.robot == "r1"
    assert errand.state is TaskState.ASSIGNED and fleet.orch.robots["r1"].queue == [errand.id]
