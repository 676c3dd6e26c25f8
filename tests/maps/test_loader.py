"""The loader accepts good wards and reports each kind of mistake as one located line."""

from __future__ import annotations

import re

import pytest

from carefleet.errors import InputError
from carefleet.maps import PlaceKind, check_ward, load_ward

from ward_texts import TINY


def test_demo_ward_is_valid_and_realistic(demo_ward):
    assert len(demo_ward.floors) == 2
    assert len(demo_ward.places_of_kind(PlaceKind.RESIDENT_ROOM)) >= 30
    assert len(demo_ward.places_of_kind(PlaceKind.BED)) >= 30
    assert demo_ward.places_of_kind(PlaceKind.KITCHEN)[0].floor == "F1"
    assert {p.floor for p in demo_ward.places_of_kind(PlaceKind.NURSE_STATION)} == {"F1", "F2"}
    assert len(demo_ward.places_of_kind(PlaceKind.CHARGER)) == 2
    assert demo_ward.lifts["lift_a"].transfer_time == 45
    assert any(lane.door for lane in demo_ward.lanes)
    assert any(lane.one_way for lane in demo_ward.lanes)
    assert all(f.grid is not None for f in demo_ward.floors.values())


def test_tiny_ward_fields(tiny):
    lane = next(lane for lane in tiny.lanes if lane.start == "a" and lane.end == "b")
    assert lane.id == "a-b" and lane.door and lane.corridor == "main"
    assert tiny.places["kitchen"].x == 0 and tiny.places["kitchen"].y == 0  # from its waypoint
    assert tiny.places["bed_1"].room == "room_1"
    assert tiny.lifts["L"].stops == {"F1": "a", "F2": "e"}
    assert tiny.door_delay == 4 and tiny.timezone == "UTC"


def _broken(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


LINE_OF = {line: n for n, line in enumerate(TINY.splitlines(), start=1)}


# (what is broken, replace this, by this, the error's field, words in its message)
CASES = [
    ("unknown top-level field", "door_delay: 4", "door_dely: 4", "door_dely", "unknown field"),
    ("bad door delay", "door_delay: 4", "door_delay: -1", "door_delay", "at least 0"),
    ("extra not a mapping", "door_delay: 4", "door_delay: 4\nextra: [1]", "extra",
     "expected a mapping, got a list"),
    ("extra empty", "door_delay: 4", "door_delay: 4\nextra:", "extra",
     "expected a mapping, got nothing"),
    ("missing field", "{id: b, floor: F1, x: 3, y: 4}", "{id: b, floor: F1, x: 3}",
     "waypoints[1]", "missing required field 'y'"),
    ("unknown entry field", "{id: d, floor: F1, x: 0, y: 10}", "{id: d, floor: F1, x: 0, y: 10, z: 1}",
     "waypoints[3].z", "unknown field"),
    ("duplicate floor", "floors:\n", "floors:\n  - {id: F2, name: Again}\n",
     "floors[2].id", "duplicate floor id 'F2'"),
    ("duplicate waypoint", "{id: d, floor: F1, x: 0, y: 10}",
     "{id: d, floor: F1, x: 0, y: 10}\n  - {id: b, floor: F1, x: 0, y: 1}",
     "waypoints[4].id", "duplicate waypoint id 'b'"),
    ("duplicate lane", "{id: upstairs, from: e, to: f}",
     "{id: upstairs, from: e, to: f}\n  - {from: a, to: b}", "lanes[5]", "duplicate lane id 'a-b'"),
    ("duplicate lift", "lifts:\n", "lifts:\n  - {id: L, transfer_time: 9, stops: {F1: b, F2: f}}\n",
     "lifts[1].id", "duplicate lift id 'L'"),
    ("duplicate place", "{id: room_2, kind", "{id: kitchen, kind", "places[3].id",
     "duplicate place id 'kitchen'"),
    ("lane to unknown waypoint", "{from: b, to: c, corridor: main}", "{from: b, to: x, corridor: main}",
     "lanes[1].to", "unknown waypoint 'x'"),
    ("lane between floors", "{from: b, to: c, corridor: main}", "{from: b, to: e, corridor: main}",
     "lanes[1].to", "floor F1 to floor F2"),
    ("negative speed limit", "speed_limit: 0.2", "speed_limit: -0.2", "lanes[3].speed_limit",
     "greater than 0"),
    ("waypoint on unknown floor", "{id: f, floor: F2, x: 10", "{id: f, floor: F3, x: 10",
     "waypoints[5].floor", "unknown floor 'F3'"),
    ("waypoint on no floor", "{id: f, floor: F2, x: 10, y: 0}", "{id: f, x: 10, y: 0}",
     "waypoints[5]", "missing required field 'floor'"),
    ("non-finite coordinate", "{id: b, floor: F1, x: 3, y: 4}", "{id: b, floor: F1, x: .inf, y: 4}",
     "waypoints[1].x", "finite"),
    ("place on unknown floor", "{id: room_2, kind: resident_room, floor: F2",
     "{id: room_2, kind: resident_room, floor: F9", "places[3].floor", "unknown floor 'F9'"),
    ("place waypoint unknown", "floor: F2, waypoint: f}", "floor: F2, waypoint: zz}",
     "places[3].waypoint", "unknown waypoint 'zz'"),
    ("place waypoint on another floor", "floor: F2, waypoint: f}", "floor: F2, waypoint: a}",
     "places[3].waypoint", "on floor F1, not F2"),
    ("bed in unknown room", "room: room_1", "room: room_9", "places[1].room", "'room_9'"),
    ("bed in a kitchen", "room: room_1", "room: kitchen", "places[1].room", "not a resident_room"),
    ("unknown place kind", "kind: kitchen", "kind: kitchn", "places[2].kind", "'kitchn' is not one of"),
    ("lift stop on unknown floor", "stops: {F1: a, F2: e}", "stops: {F1: a, F7: e}",
     "lifts[0].stops.F7", "unknown floor 'F7'"),
    ("lift stop on unknown waypoint", "stops: {F1: a, F2: e}", "stops: {F1: a, F2: q}",
     "lifts[0].stops.F2", "unknown waypoint 'q'"),
    ("negative transfer time", "transfer_time: 30", "transfer_time: -30",
     "lifts[0].transfer_time", "at least 0"),
    ("place unreachable (one-way)", "{id: upstairs, from: e, to: f}",
     "{id: upstairs, from: f, to: e, one_way: true}", "places[3].waypoint",
     "'room_2' is unreachable: no route from 'room_1'"),
    ("place id clashes with a waypoint", "{id: room_2, kind", "{id: e, kind", "places[3].id",
     "ambiguous"),
]


@pytest.mark.parametrize("what, old, new, field, words", CASES, ids=[c[0] for c in CASES])
def test_each_mistake_is_one_located_error(write_ward, what, old, new, field, words):
    path = write_ward(_broken(TINY, old, new))
    ward, errors = check_ward(path)
    assert ward is None
    assert len(errors) == 1, "\n".join(map(str, errors))
    message = str(errors[0])
    assert "\n" not in message
    assert message.startswith(f"{path}:"), message
    assert re.match(rf"{re.escape(str(path))}:\d+: {re.escape(field)}", message), message
    assert words in message


def test_error_line_points_at_the_entry(write_ward):
    text = _broken(TINY, "{from: b, to: c, corridor: main}", "{from: b, to: x, corridor: main}")
    path = write_ward(text)
    _, [error] = check_ward(path)
    assert error.line == LINE_OF["  - {from: b, to: c, corridor: main}"]


def test_unreachable_place_names_the_missing_direction(write_ward):
    one_way_out = TINY.replace("{id: upstairs, from: e, to: f}",
                               "{id: upstairs, from: e, to: f, one_way: true}")
    _, [error] = check_ward(write_ward(one_way_out))
    assert "'room_2' is unreachable: no route back to 'room_1'" in str(error)
    isolated = TINY.replace("  - {id: upstairs, from: e, to: f}\n", "")
    _, [error] = check_ward(write_ward(isolated))
    assert "'room_2' is unreachable: no route between here and 'room_1'" in str(error)


def test_several_mistakes_are_all_reported_in_line_order(write_ward):
    text = TINY.replace("kind: kitchen", "kind: kitchn").replace("x: 3, y: 4", "x: 3, y: .nan")
    _, errors = check_ward(write_ward(text))
    assert len(errors) == 2
    assert errors[0].line < errors[1].line


def test_reference_to_a_broken_entry_is_not_reported_again(write_ward):
    # b is broken; the lanes and nothing else naming b must not add "unknown waypoint 'b'".
    _, errors = check_ward(write_ward(TINY.replace("x: 3, y: 4", "x: 3, y: .nan")))
    assert len(errors) == 1 and "waypoints[1].y" in str(errors[0])


@pytest.mark.parametrize("text, words", [
    ("ward: [unclosed\n", "malformed YAML"),
    ("", "empty"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_malformed_files(write_ward, text, words):
    ward, [error] = check_ward(write_ward(text))
    assert ward is None and words in str(error)


#: Nesting no ward (or any other YAML file we read) comes near, as lists and as mappings.
DEEP_TEXTS = {
    "lists": "[" * 100_000,
    "flow mappings": "{a: " * 50_000,
    "block mappings": "".join(" " * depth + f"k{depth}:\n" for depth in range(1500)),
    "in extra": TINY + "extra: {tool: " + "[" * 5_000 + "]" * 5_000 + "}\n",
}


@pytest.mark.parametrize("text", DEEP_TEXTS.values(), ids=DEEP_TEXTS.keys())
def test_deeply_nested_yaml_is_one_located_error(write_ward, text):
    path = write_ward(text)
    ward, [error] = check_ward(path)
    assert ward is None and error.source == str(path) and error.line is not None
    assert str(error).startswith(f"{path}:") and "nested too deeply" in str(error)
    with pytest.raises(InputError, match="nested too deeply"):
        load_ward(path)


def test_deeply_nested_grid_file_is_one_located_error(write_ward, tmp_path):
    (tmp_path / "g.yaml").write_text("image: " + "[" * 100_000)
    _, [error] = check_ward(write_ward(TINY.replace("{id: F1, name: Ground}",
                                                    "{id: F1, name: Ground, grid: g.yaml}")))
    assert str(error).startswith(f"{tmp_path / 'g.yaml'}:1:") and "nested too deeply" in str(error)


def test_nesting_a_ward_may_use_is_accepted(write_ward):
    ward = load_ward(write_ward(TINY + "extra: {tool: " + "[" * 40 + "]" * 40 + "}\n"))
    assert list(ward.extra) == ["tool"]
    depth, value = 0, ward.extra["tool"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == 39


def test_missing_file(tmp_path):
    _, [error] = check_ward(tmp_path / "nope.yaml")
    assert "file not found" in str(error)


def test_grid_missing_and_bad(write_ward, tmp_path):
    missing = TINY.replace("{id: F1, name: Ground}", "{id: F1, name: Ground, grid: g.yaml}")
    _, [error] = check_ward(write_ward(missing))
    assert "floors[0].grid" in str(error) and "not found" in str(error)
    (tmp_path / "g.yaml").write_text("image: g.pgm\nresolution: 0.05\norigin: [0, 0, 0]\n")
    (tmp_path / "g.pgm").write_bytes(b"not an image")
    _, [error] = check_ward(write_ward(missing))
    assert str(error).startswith(f"{tmp_path / 'g.yaml'}:1: image:") and "cannot read" in str(error)


def test_grid_loaded(write_ward, tmp_path):
    (tmp_path / "g.yaml").write_text("image: g.pgm\nresolution: 0.05\norigin: [-1, -2, 0]\n")
    (tmp_path / "g.pgm").write_bytes(b"P5\n4 3\n255\n" + bytes(range(12)))
    ward = load_ward(write_ward(TINY.replace("{id: F1, name: Ground}",
                                             "{id: F1, name: Ground, grid: g.yaml}")))
    grid = ward.floors["F1"].grid
    assert grid.resolution == 0.05 and grid.origin == (-1.0, -2.0)
    assert grid.image == str((tmp_path / "g.pgm").resolve())


def test_load_ward_raises_first_error_and_counts_the_rest(write_ward):
    path = write_ward(TINY.replace("kind: kitchen", "kind: kitchn")
                      .replace("transfer_time: 30", "transfer_time: -1"))
    with pytest.raises(InputError) as caught:
        load_ward(path)
    message = str(caught.value)
    assert "transfer_time" in message  # the lifts come before the places in the file
    assert f"(and 1 more; run 'carefleet map check {path}')" in message

