"""Route planning on the tiny ward (hand-checkable) and the demo ward (realistic)."""

from __future__ import annotations

import math

import pytest

from carefleet.errors import CareFleetError, InputError
from carefleet.maps import NoRoute, Planner, UnknownPlace

# Tiny ward (see ward_texts.TINY): a -(5 m, door)- b -(5 m)- c ; a -> d one-way (10 m);
# d -(7.2 m, 0.2 m/s)- c ; lift L (30 s) a <-> e ; e -(10 m)- f.


def test_shortest_route_takes_the_door_when_it_is_faster(planner):
    route = planner.route("a", "c", speed=1.0)
    assert route.waypoints == ("a", "b", "c")
    assert route.distance == pytest.approx(10.0)
    assert route.legs[0].fixed_time == 4.0  # door delay
    assert planner.travel_time("a", "c", 1.0) == pytest.approx(14.0)


def test_one_way_lane_is_not_driven_backwards(planner):
    # d -> a is only possible round by c and b.
    assert planner.route("d", "a", speed=1.0).waypoints == ("d", "c", "b", "a")


def test_closed_corridor_reroutes_then_no_route(planner):
    route = planner.route("a", "c", closed=frozenset({"main"}), speed=1.0)
    assert route.waypoints == ("a", "d", "c")
    assert planner.travel_time("a", "c", 1.0, closed=frozenset({"main"})) == pytest.approx(
        10 + math.hypot(6, 2) / 0.2)
    with pytest.raises(NoRoute) as caught:
        planner.route("room_1", "kitchen", closed=frozenset({"main"}))
    assert "'room_1'" in str(caught.value) and "'kitchen'" in str(caught.value)
    assert isinstance(caught.value, CareFleetError)
    assert planner.travel_time("c", "a", 1.0, closed=frozenset({"a-b"})) == math.inf
    assert planner.distance("c", "a", closed=frozenset({"b-c"})) == math.inf


def test_lift_ride_between_floors(planner):
    route = planner.route("kitchen", "room_2", speed=1.0)
    lift_leg = route.legs[0]
    assert (lift_leg.lift, lift_leg.length, lift_leg.fixed_time) == ("L", 0.0, 30.0)
    assert route.waypoints == ("a", "e", "f")
    assert planner.travel_time("kitchen", "room_2", 1.0) == pytest.approx(40.0)
    assert planner.travel_time("kitchen", "room_2", 1.0, closed=frozenset({"L"})) == math.inf


def test_speed_limit_caps_only_the_limited_lane(planner):
    slow = planner.route("a", "c", closed=frozenset({"main"}))
    assert planner.travel_time("a", "c", 0.5, closed=frozenset({"main"})) == pytest.approx(
        slow.duration(0.5)) == pytest.approx(10 / 0.5 + math.hypot(6, 2) / 0.2)
    # Faster robot: saves on a -> d but not on the 0.2 m/s lane.
    assert planner.travel_time("a", "c", 1.0, closed=frozenset({"main"})) == pytest.approx(
        10 / 1.0 + math.hypot(6, 2) / 0.2)


def test_place_ids_stand_for_their_waypoint(planner):
    assert planner.route("kitchen", "bed_1").waypoints == planner.route("a", "c").waypoints
    assert planner.travel_time("kitchen", "room_1", 1.0) == planner.travel_time("a", "c", 1.0)
    assert planner.times_from("kitchen", 1.0)["room_1"] == pytest.approx(14.0)
    assert planner.route("room_1", "bed_1").legs == ()


def test_unknown_ids_are_the_callers_mistake(planner):
    for call, name in ((lambda: planner.route("kitchen", "room_9"), "room_9"),
                       (lambda: planner.travel_time("nowhere", "a", 1.0), "nowhere"),
                       (lambda: planner.travel_time("a", "nowhere", 1.0), "nowhere"),
                       (lambda: planner.distance("a", "nowhere"), "nowhere")):
        with pytest.raises(UnknownPlace) as caught:
            call()
        assert isinstance(caught.value, InputError)
        assert f"unknown place or waypoint '{name}'" in str(caught.value)


def test_bad_speed_is_refused(planner):
    with pytest.raises(ValueError):
        planner.travel_time("a", "c", 0.0)


def test_answers_are_memoised(planner):
    first = planner.travel_time("a", "f", 0.7)
    trees = dict(planner._trees)
    assert planner.travel_time("a", "f", 0.7) == first
    assert planner.distance("a", "f") == planner.route("a", "f").distance
    assert planner.travel_time("a", "c", 0.7) == pytest.approx(10 / 0.7 + 4)
    assert planner._trees[("a", 0.7, frozenset())] is trees[("a", 0.7, frozenset())]


def test_cache_is_bounded(tiny):
    planner = Planner(tiny, cache_size=2)
    for speed in (0.1, 0.2, 0.3, 0.4):
        planner.travel_time("a", "c", speed)
    assert len(planner._trees) == 2
    assert planner.travel_time("a", "c", 0.1) == pytest.approx(10 / 0.1 + 4)


def test_position_along(planner):
    route = planner.route("kitchen", "room_1", speed=1.0)  # a -(door 4 s + 5 s)- b -(5 s)- c
    assert planner.position_along(route, -1, 1.0) == ("F1", 0.0, 0.0, "a")
    assert planner.position_along(route, 3.0, 1.0) == ("F1", 0.0, 0.0, "a")  # door opening
    floor, x, y, last = planner.position_along(route, 4 + 2.5, 1.0)
    assert (floor, last) == ("F1", "a") and (x, y) == pytest.approx((1.5, 2.0))
    floor, x, y, last = planner.position_along(route, 9 + 2.5, 1.0)
    assert last == "b" and (x, y) == pytest.approx((4.5, 6.0))
    assert planner.position_along(route, 999, 1.0) == ("F1", 6.0, 8.0, "c")


def test_position_during_lift_ride_is_the_landing(planner):
    route = planner.route("kitchen", "room_2", speed=1.0)
    assert planner.position_along(route, 15, 1.0) == ("F1", 0.0, 0.0, "a")
    assert planner.position_along(route, 30, 1.0) == ("F2", 0.0, 0.0, "e")
    assert planner.position_along(route, 35, 1.0)[:3] == ("F2", 5.0, 0.0)


def test_demo_ward_routes(demo_ward):
    planner = Planner(demo_ward)
    upstairs = planner.route("kitchen", "room_215")
    assert [leg.lift for leg in upstairs.legs if leg.lift] == ["lift_a"]
    assert 45 < planner.travel_time("kitchen", "room_215", 0.8) < 200
    direct = planner.travel_time("kitchen", "room_101", 0.8)
    detour = planner.travel_time("kitchen", "room_101", 0.8,
                                 closed=frozenset({"east_corridor_f1"}))
    assert direct < detour < math.inf  # through the slow lounge instead
    corridor_of = {lane.id: lane.corridor for lane in demo_ward.lanes}
    detour_route = planner.route("kitchen", "room_101", closed=frozenset({"east_corridor_f1"}))
    assert "lounge_f1" in {corridor_of[leg.lane] for leg in detour_route.legs if leg.lane}
    with pytest.raises(NoRoute):
        planner.route("kitchen", "room_101", closed=frozenset({"wing_corridor_f1"}))
    assert {"east_corridor_f1", "lift_a", "wing_corridor_f2"} <= planner.closable


def test_every_place_reachable_in_demo_ward(demo_ward):
    times = Planner(demo_ward).times_from("kitchen", 0.8)
    assert all(place in times for place in demo_ward.places)
