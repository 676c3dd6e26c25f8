"""The ward as a Gazebo world (``carefleet map export-sdf``), checked with SDFormat's own
validator, and the ``ros_gz_bridge`` config that goes with it.

The validator is Debian's (``apt-get install libsdformat-dev ignition-tools ruby``, which
``make test`` does): ``gz sdf -k FILE`` or, on older tools, ``ign sdf -k FILE``; exit 0
valid, 255 invalid. Tests that need it are skipped, naming the packages, only when
neither command can check a known-good file.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from carefleet.cli import main
from carefleet.maps import DEMO_WARD, PlaceKind, load_ward
from carefleet.maps.sdf import (ROOM_KINDS, SLAB, Box, bridge_yaml, floor_plan, grid_rectangles,
                                occupied_pixels, serialize, ward_world, world_sdf)
from ward_texts import TINY

REPO = Path(__file__).resolve().parents[2]
DEMO_CAMERAS = {"room_203": "cam_203", "room_208": "cam_208", "lounge": "cam_lounge"}
DEMO_ROBOTS = ["tray_1", "tray_2", "owl_1"]          # simulation/scenarios/demo_day.yaml
GENERATED_WARDS = 15

MINIMAL_WORLD = """<?xml version="1.0"?>
<sdf version="1.9"><world name="probe"><model name="m"><static>true</static>
<link name="l"><visual name="v"><geometry><box><size>1 1 1</size></box></geometry></visual>
</link></model></world></sdf>
"""


# -- the validator ---------------------------------------------------------------
@pytest.fixture(scope="session")
def sdf_check(tmp_path_factory):
    """``check(path) -> CompletedProcess`` running ``gz sdf -k`` or ``ign sdf -k``."""
    probe = tmp_path_factory.mktemp("sdf-probe") / "probe.sdf"
    probe.write_text(MINIMAL_WORLD, encoding="utf-8")
    tried = []
    for tool in ("gz", "ign"):
        exe = shutil.which(tool)
        if exe is None:
            continue
        tried.append(exe)
        try:
            probe_run = subprocess.run([exe, "sdf", "-k", str(probe)], capture_output=True,
                                       text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe_run.returncode == 0:
            def check(path, exe=exe):
                return subprocess.run([exe, "sdf", "-k", str(path)], capture_output=True,
                                      text=True, timeout=60, check=False)
            return check
    pytest.skip("SDFormat's validator is not installed (no working 'gz sdf' or 'ign sdf'"
                + (f"; tried {', '.join(tried)}" if tried else "") + "): apt-get install "
                "libsdformat-dev ignition-tools ruby (make test installs them)")


def assert_valid(result, what):
    assert result.returncode == 0 and "Valid" in result.stdout, (
        f"{what}: sdf -k exit {result.returncode}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


# -- reading the XML back ------------------------------------------------------------
def _floats(text):
    return [float(v) for v in text.split()]


def models(root):
    return {m.get("name"): m for m in root.findall("world/model")}


def boxes_of(model):
    """World-frame ``Box``es of a model's collisions (model and link poses are 0 here)."""
    found = []
    for collision in model.iter("collision"):
        x, y, z = _floats(collision.findtext("pose"))[:3]
        sx, sy, sz = _floats(collision.findtext("geometry/box/size"))
        found.append(Box(x - sx / 2, y - sy / 2, x + sx / 2, y + sy / 2, z - sz / 2, z + sz / 2))
    return found


def _segment_hits_box(a, b, box, pad=0.0):
    """Does the 2-D segment a-b pass through the box's footprint (Liang-Barsky clip)?"""
    (ax, ay), (bx, by) = a, b
    t0, t1 = 0.0, 1.0
    for p, q in ((-(bx - ax), ax - (box.x0 - pad)), (bx - ax, (box.x1 + pad) - ax),
                 (-(by - ay), ay - (box.y0 - pad)), (by - ay, (box.y1 + pad) - ay)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


# -- generated wards ------------------------------------------------------------------
def _write_grid(folder: Path, name: str, x0: float, y0: float, width_m: float,
                height_m: float, rng: random.Random) -> str:
    """A map_server grid: walls round the edge, unknown outside, a few random wall runs."""
    res = 0.1
    w, h = int(width_m / res), int(height_m / res)
    pixels = bytearray([254]) * (w * h)
    for c in range(w):
        pixels[c] = pixels[(h - 1) * w + c] = 0
    for r in range(h):
        pixels[r * w] = pixels[r * w + w - 1] = 0
    for _ in range(rng.randint(1, 4)):                  # a few stubs of wall, some unknown
        r, c = rng.randrange(1, h - 1), rng.randrange(1, w - 10)
        value = rng.choice((0, 0, 205))
        for dc in range(rng.randint(3, 10)):
            pixels[r * w + c + dc] = value
    (folder / f"{name}.pgm").write_bytes(b"P5\n%d %d\n255\n" % (w, h) + bytes(pixels))
    (folder / f"{name}.yaml").write_text(
        f"image: {name}.pgm\nresolution: {res}\norigin: [{x0}, {y0}, 0.0]\n"
        "negate: 0\noccupied_thresh: 0.65\nfree_thresh: 0.196\n", encoding="utf-8")
    return f"{name}.yaml"


def generated_ward(seed: int, folder: Path) -> Path:
    """A small valid ward: 1-3 floors (a lift when more than one), corridors of waypoints,
    rooms beside them (some at their waypoint), chargers, sometimes a grid; awkward ids."""
    rng = random.Random(seed)
    floors, waypoints, lanes, places, stops = [], [], [], [], {}
    elevation = 0.0
    for f in range(rng.randint(1, 3)):
        floor_id = rng.choice([f"F{f + 1}", f"L{f}", f"level {f}"])
        if f:
            elevation = round(elevation + rng.uniform(2.6, 4.2), 2)
        x, y = round(rng.uniform(-20, 20), 1), round(rng.uniform(-20, 20), 1)
        spacing = round(rng.uniform(3.0, 5.0), 1)
        count = rng.randint(2, 5)
        corridor = [f"w{f}_{i}" for i in range(count)]
        for i, name in enumerate(corridor):
            waypoints.append({"id": name, "floor": floor_id, "x": x + i * spacing, "y": y})
        for i in range(count - 1):
            lane = {"from": corridor[i], "to": corridor[i + 1]}
            lane.update(rng.choice([{}, {"door": True}, {"speed_limit": 0.4},
                                    {"corridor": f"hall_{f}"}]))
            lanes.append(lane)
        stops[floor_id] = corridor[0]
        for i, name in enumerate(corridor[1:], 1):
            if rng.random() < 0.3:      # a room drawn around its own waypoint
                places.append({"id": f"room_{f}{i:02d}", "kind": "resident_room",
                               "floor": floor_id, "waypoint": name})
                continue
            for side in (1, -1):
                if rng.random() < 0.7:
                    places.append({"id": f"room_{f}{i:02d}{'n' if side > 0 else 's'}",
                                   "kind": "resident_room", "floor": floor_id,
                                   "waypoint": name, "x": x + i * spacing,
                                   "y": round(y + side * rng.uniform(2.5, 4.0), 2),
                                   "name": f"Room {f}{i}"})
        charger = {"id": f"charger_{f}", "kind": "charger", "floor": floor_id,
                   "waypoint": corridor[0]}
        if rng.random() < 0.5:
            charger.update(x=x - 1.0, y=y - 1.0)
        places.append(charger)
        if f == 0:
            places.append({"id": "kitchen", "kind": "kitchen", "floor": floor_id,
                           "waypoint": corridor[-1], "x": x + (count - 1) * spacing + 2.5,
                           "y": y})
        floor = {"id": floor_id, "elevation": elevation}
        if rng.random() < 0.3:
            floor["grid"] = _write_grid(folder, f"grid_{seed}_{f}", x - 3, y - 6,
                                        (count - 1) * spacing + 8, 12, rng)
        floors.append(floor)
    if seed % 5 == 0:   # place ids that clash with generated model names, or need cleaning
        places.append({"id": f"floor_{floors[0]['id']}", "kind": "lounge",
                       "floor": floors[0]["id"], "waypoint": waypoints[0]["id"],
                       "x": waypoints[0]["x"], "y": waypoints[0]["y"] - 3})
        places.append({"id": "__odd::room", "kind": "store", "floor": floors[0]["id"],
                       "waypoint": waypoints[1]["id"], "x": waypoints[1]["x"],
                       "y": waypoints[1]["y"] - 3.5})
    ward = {"ward": f"Generated {seed}", "floors": floors, "waypoints": waypoints,
            "lanes": lanes, "places": places}
    if len(floors) > 1:
        ward["lifts"] = [{"id": "lift", "transfer_time": 30, "stops": stops}]
        if len(floors) == 3 and rng.random() < 0.5:
            ward["lifts"].append({"id": "goods lift", "transfer_time": 50,
                                  "stops": {k: v for k, v in list(stops.items())[1:]}})
    path = folder / f"ward_{seed}.yaml"
    path.write_text(yaml.safe_dump(ward, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated-wards")
    return [load_ward(generated_ward(seed, folder)) for seed in range(GENERATED_WARDS)]


def _cameras_for(ward):
    rooms = ward.places_of_kind(PlaceKind.RESIDENT_ROOM)
    return {room.id: f"cam_{i}" for i, room in enumerate(rooms[:2])}


# -- validity ----------------------------------------------------------------------
def test_bundled_ward_exports_a_world_the_validator_accepts(demo_ward, tmp_path, sdf_check):
    path = tmp_path / "demo.sdf"
    path.write_bytes(world_sdf(demo_ward, DEMO_CAMERAS))
    assert_valid(sdf_check(path), "bundled ward")


def test_generated_wards_all_export_and_validate(generated, tmp_path, sdf_check):
    paths = []
    for i, ward in enumerate(generated):
        path = tmp_path / f"generated_{i}.sdf"
        path.write_bytes(world_sdf(ward, _cameras_for(ward)))
        paths.append(path)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(sdf_check, paths))
    for ward, result in zip(generated, results):
        assert_valid(result, f"{ward.name} ({ward.source})")
    kinds = {floor_plan(w, f).walls_from for w in generated for f in w.floors.values()}
    assert kinds == {"grid", "layout"}                  # both wall sources were exercised
    assert sum(len(w.floors) > 1 for w in generated) >= 3 and any(w.lifts for w in generated)


def test_a_broken_world_is_rejected_so_the_check_is_real(tiny, tmp_path, sdf_check):
    """Three mutations of a valid export: a model twice, a pose that is not numbers, a
    model without its name. Each must fail ``sdf -k``, which passes the unchanged file."""
    def written(name, change=None):
        root = ET.fromstring(world_sdf(tiny))
        if change is not None:
            change(root)
        path = tmp_path / f"{name}.sdf"
        path.write_bytes(serialize(root))
        return path

    def duplicate(root):
        root.find("world").append(models(root)["room_1"])

    def bad_pose(root):
        models(root)["room_1"].find("pose").text = "ten metres north"

    def nameless(root):
        del models(root)["room_2"].attrib["name"]

    assert_valid(sdf_check(written("unchanged")), "tiny ward")
    for name, change in (("duplicate", duplicate), ("bad_pose", bad_pose),
                         ("nameless", nameless)):
        result = sdf_check(written(name, change))
        assert result.returncode != 0 and "Valid." not in result.stdout, name


# -- content -----------------------------------------------------------------------
def test_export_is_deterministic(tmp_path):
    first = world_sdf(load_ward(DEMO_WARD), DEMO_CAMERAS)
    copy = tmp_path / "elsewhere" / "ward.yaml"
    copy.parent.mkdir()
    copy.write_text(TINY, encoding="utf-8")
    assert world_sdf(load_ward(DEMO_WARD), dict(reversed(DEMO_CAMERAS.items()))) == first
    assert world_sdf(load_ward(copy)) == world_sdf(load_ward(copy))
    assert first.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<sdf version="1.9">')


def test_rooms_and_chargers_are_models_named_after_their_places(demo_ward, generated):
    for ward in [demo_ward] + generated:
        root = ward_world(ward)
        names = [m.get("name") for m in root.findall("world/model")]
        assert len(names) == len(set(names)), ward.name
        for place in ward.places.values():
            if place.kind in ROOM_KINDS or place.kind is PlaceKind.CHARGER:
                name = place.id if "::" not in place.id and not place.id.startswith("__") \
                    else None
                if name is not None:
                    assert name in names, (ward.name, place.id)
    named = models(ward_world(demo_ward))
    assert {"charger_f1", "charger_f2", "room_101", "room_216", "kitchen", "lounge"} <= set(named)
    x, y, _ = _floats(named["charger_f1"].findtext("pose"))[:3]
    assert (x, y) == (demo_ward.places["charger_f1"].x, demo_ward.places["charger_f1"].y)
    clashing = next(w for w in generated if any(p.startswith("floor_") for p in w.places))
    clash = next(p for p in clashing.places if p.startswith("floor_"))
    generated_names = set(models(ward_world(clashing)))
    assert clash in generated_names and f"{clash}_2" in generated_names  # the place keeps it


def test_floors_sit_at_their_elevations(demo_ward, generated):
    for ward in [demo_ward] + generated:
        named = models(ward_world(ward))
        for floor in ward.floors.values():
            plan = floor_plan(ward, floor)
            slab = next(m for n, m in named.items() if n.startswith("floor_")
                        and boxes_of(m)[0].z1 == pytest.approx(floor.elevation)
                        and abs(boxes_of(m)[0].x0 - plan.extent[0]) < 1e-3)
            box = boxes_of(slab)[0]
            assert box.z1 - box.z0 == pytest.approx(SLAB)
            assert all(w.z0 == pytest.approx(floor.elevation) for w in plan.walls)
        for place in ward.places.values():
            model = named.get(place.id)
            if model is not None and (place.kind in ROOM_KINDS or place.kind is PlaceKind.CHARGER):
                x, y, z = _floats(model.findtext("pose"))[:3]
                elevation = ward.floors[place.floor].elevation
                assert (x, y) == pytest.approx((place.x, place.y), abs=1e-4)
                assert elevation < z < elevation + 0.5, (ward.name, place.id)
    f2 = models(ward_world(demo_ward))["floor_F2"]
    assert boxes_of(f2)[0].z1 == pytest.approx(3.5)


def test_grid_walls_are_merged_boxes_covering_exactly_the_occupied_pixels(demo_ward):
    for floor in demo_ward.floors.values():
        grid = floor.grid
        pixels = occupied_pixels(grid)
        occupied = sum(map(sum, pixels))
        rectangles = grid_rectangles(pixels)
        assert sum((c1 - c0) * (r1 - r0) for c0, r0, c1, r1 in rectangles) == occupied
        covered = set()
        for c0, r0, c1, r1 in rectangles:
            cells = {(r, c) for r in range(r0, r1) for c in range(c0, c1)}
            assert all(pixels[r][c] for r, c in cells) and not (cells & covered)
            covered |= cells
        plan = floor_plan(demo_ward, floor)
        assert plan.walls_from == "grid" and len(plan.walls) == len(rectangles)
        assert len(plan.walls) < occupied / 50              # merged: the world stays small
        area = sum(w.size[0] * w.size[1] for w in plan.walls)
        assert area == pytest.approx(occupied * grid.resolution ** 2)
        height, width = len(pixels), len(pixels[0])
        x0, y0 = grid.origin
        for wall in plan.walls:
            assert x0 - 1e-9 <= wall.x0 < wall.x1 <= x0 + width * grid.resolution + 1e-9
            assert y0 - 1e-9 <= wall.y0 < wall.y1 <= y0 + height * grid.resolution + 1e-9
    # the top-left occupied pixel of F1 is a wall at its world position (rows run down)
    grid = demo_ward.floors["F1"].grid
    pixels = occupied_pixels(grid)
    r, c = next((r, c) for r, row in enumerate(pixels) for c, v in enumerate(row) if v)
    px = grid.origin[0] + (c + 0.5) * grid.resolution
    py = grid.origin[1] + (len(pixels) - r - 0.5) * grid.resolution
    assert any(w.x0 <= px <= w.x1 and w.y0 <= py <= w.y1
               for w in floor_plan(demo_ward, demo_ward.floors["F1"]).walls)


def test_layout_walls_enclose_the_floor_and_leave_doors_on_the_corridor_side(tiny, generated):
    wards = [tiny] + generated
    checked_rooms = 0
    for ward in wards:
        for floor in ward.floors.values():
            plan = floor_plan(ward, floor)
            if plan.walls_from != "layout":
                continue
            x0, y0, x1, y1 = plan.extent
            for wp in ward.waypoints.values():          # everything inside the perimeter
                if wp.floor == floor.id:
                    assert x0 < wp.x < x1 and y0 < wp.y < y1
            for lane in ward.lanes:                     # no lane drives through a wall
                a, b = ward.waypoints[lane.start], ward.waypoints[lane.end]
                if a.floor != floor.id:
                    continue
                for wall in plan.walls:
                    assert not _segment_hits_box((a.x, a.y), (b.x, b.y), wall), (
                        ward.name, lane.id, wall)
            for room in plan.rooms:
                if not room.walled:
                    continue
                checked_rooms += 1
                own = ward.waypoints[room.place.waypoint]
                outside = max(abs(own.x - room.x), abs(own.y - room.y)) > room.half
                if outside:     # the way from the room's middle to its waypoint is the door
                    for wall in plan.walls:
                        assert not _segment_hits_box((room.x, room.y), (own.x, own.y), wall)
    assert checked_rooms >= 20
    tiny_plan = floor_plan(tiny, tiny.floors["F2"])
    (room,) = [r for r in tiny_plan.rooms if r.place.id == "room_2"]
    assert room.walled and room.doors == (("w", 0.0),)  # towards e, the lane's other end


def test_lift_shaft_spans_the_floors_it_serves(demo_ward, generated):
    for ward in [demo_ward] + generated:
        named = models(ward_world(ward))
        for lift in ward.lifts.values():
            shaft = next(m for n, m in named.items() if n.startswith("lift_")
                         and len(m.findall("link/visual")) == len(lift.stops)
                         and m.find("link/collision") is None)
            spans = []
            for visual in shaft.findall("link/visual"):
                x, y, z = _floats(visual.findtext("pose"))[:3]
                height = _floats(visual.findtext("geometry/box/size"))[2]
                spans.append((z - height / 2, z + height / 2, x, y))
            spans.sort()
            elevations = sorted(ward.floors[f].elevation for f in lift.stops)
            assert spans[0][0] == pytest.approx(elevations[0])
            assert spans[-1][1] > elevations[-1]
            for (_, top, _, _), (bottom, _, _, _) in pairwise(spans):
                assert top >= bottom - 1e-6             # no gap between floors
            landings = {(ward.waypoints[w].x, ward.waypoints[w].y) for w in lift.stops.values()}
            assert {(round(s[2], 3), round(s[3], 3)) for s in spans} == {
                (round(x, 3), round(y, 3)) for x, y in landings}


def test_cameras_are_sensors_looking_down_into_their_room(demo_ward):
    root = ward_world(demo_ward, DEMO_CAMERAS)
    named = models(root)
    for room_id, camera_id in DEMO_CAMERAS.items():
        model = named[f"camera_{camera_id}"]
        sensor = model.find("link/sensor")
        assert sensor.get("type") == "camera" and sensor.get("name") == camera_id
        assert sensor.findtext("topic") == f"/{camera_id}/image"
        x, y, z, _roll, pitch, yaw = _floats(model.findtext("pose"))
        place = demo_ward.places[room_id]
        floor_z = demo_ward.floors[place.floor].elevation
        assert floor_z + 1.5 < z < floor_z + 2.5 and 0 < pitch < math.pi / 2
        # the optical axis (+x of the camera frame) meets the floor in the middle of the room
        run = (z - floor_z) / math.tan(pitch)
        hit = (x + run * math.cos(yaw), y + run * math.sin(yaw))
        assert hit == pytest.approx((place.x, place.y), abs=0.05)
        assert math.hypot(x - place.x, y - place.y) < 2.3      # inside the room's square
    assert not [m for n, m in models(ward_world(demo_ward)).items() if n.startswith("camera_")]


# -- the bridge config ---------------------------------------------------------------
def test_bridge_config_has_every_robot_and_camera_topic(tmp_path):
    entries = yaml.safe_load(bridge_yaml(["tray_1", "owl_1"], ["cam_203"]))
    assert isinstance(entries, list) and len(entries) == 1 + 2 * 5 + 2
    keys = {"ros_topic_name", "gz_topic_name", "ros_type_name", "gz_type_name", "direction"}
    assert all(set(entry) == keys for entry in entries)
    by_topic = {e["ros_topic_name"]: e for e in entries}
    assert by_topic["/clock"]["direction"] == "GZ_TO_ROS"
    for robot in ("tray_1", "owl_1"):
        assert by_topic[f"/{robot}/cmd_vel"]["direction"] == "ROS_TO_GZ"
        assert by_topic[f"/{robot}/cmd_vel"]["gz_topic_name"] == f"/model/{robot}/cmd_vel"
        assert by_topic[f"/{robot}/odom"]["ros_type_name"] == "nav_msgs/msg/Odometry"
        assert by_topic[f"/{robot}/scan"]["gz_type_name"] == "gz.msgs.LaserScan"
        assert by_topic[f"/{robot}/battery_state"]["ros_type_name"] == \
            "sensor_msgs/msg/BatteryState"
        assert by_topic[f"/{robot}/tf"]["gz_topic_name"] == f"/model/{robot}/tf"
    image = by_topic["/cam_203/image"]
    assert (image["gz_topic_name"], image["ros_type_name"], image["direction"]) == (
        "/cam_203/image", "sensor_msgs/msg/Image", "GZ_TO_ROS")


def test_committed_bridge_config_is_the_demo_days(tmp_path):
    """``launch/ros_gz_bridge.yaml`` is what the README's command writes for the demo day."""
    committed = REPO / "launch" / "ros_gz_bridge.yaml"
    assert committed.read_bytes() == bridge_yaml(DEMO_ROBOTS, sorted(DEMO_CAMERAS.values()))


# -- the command -----------------------------------------------------------------------
def test_cli_exports_the_bundled_ward_by_name(tmp_path, capsys, sdf_check):
    out = tmp_path / "out.sdf"
    assert main(["map", "export-sdf", "demo_ward", "-o", str(out)]) == 0
    assert "sunrise_house_east_wing" in capsys.readouterr().out
    assert out.read_bytes() == world_sdf(load_ward(DEMO_WARD))
    assert_valid(sdf_check(out), "carefleet map export-sdf demo_ward")


def test_cli_takes_cameras_and_robots_from_a_scenario_and_writes_the_bridge(tmp_path, capsys):
    out, bridge = tmp_path / "w.sdf", tmp_path / "bridge.yaml"
    scenario = REPO / "simulation" / "scenarios" / "demo_day.yaml"
    code = main(["map", "export-sdf", str(DEMO_WARD), "-o", str(out), "--from", str(scenario),
                 "--camera", "room_101=cam_101", "--robot", "extra_bot", "--bridge", str(bridge)])
    assert code == 0, capsys.readouterr().err
    cameras = {m.find("link/sensor").get("name") for m in ET.parse(out).getroot()
               .findall("world/model") if m.find("link/sensor") is not None}
    assert cameras == {"cam_101", "cam_203", "cam_208", "cam_lounge"}
    topics = {e["ros_topic_name"] for e in yaml.safe_load(bridge.read_text(encoding="utf-8"))}
    assert {"/tray_1/odom", "/owl_1/cmd_vel", "/extra_bot/battery_state",
            "/cam_101/image", "/cam_lounge/image", "/clock"} <= topics


def test_cli_broken_ward_is_one_located_line_and_exit_2(write_ward, tmp_path, capsys):
    text = TINY.replace("{id: b, floor: F1, x: 3, y: 4}", "{id: b, floor: F1, x: three, y: 4}")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "three" in row)
    broken = write_ward(text)
    out = tmp_path / "never.sdf"
    assert main(["map", "export-sdf", str(broken), "-o", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and f"{broken}:{line}: waypoints[1].x" in lines[0], captured.err
    assert "Traceback" not in captured.err and not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--camera", "room_101"], "expected ROOM=ID"),
    (["--camera", "room_999=cam_x"], "no place 'room_999'"),
    (["--camera", "room_101=9cam"], "cannot name a ROS topic"),
    (["--camera", "room_101=cam", "--camera", "room_102=cam"], "used for both"),
    (["--robot", "tray-1", "--bridge", "b.yaml"], "cannot name a ROS namespace"),
    (["--robot", "tray_1"], "add --bridge FILE"),
])
def test_cli_bad_options_are_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main(["map", "export-sdf", "demo_ward", "-o", str(tmp_path / "w.sdf"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_bad_camera_in_a_scenario_file_is_located(write_ward, tmp_path, capsys):
    scenario = tmp_path / "day.yaml"
    scenario.write_text("ward: demo_ward\ncameras:\n  - {id: cam_1, room: room_101}\n"
                        "  - {id: cam_2, room: room_9999}\n", encoding="utf-8")
    assert main(["map", "export-sdf", "demo_ward", "-o", str(tmp_path / "w.sdf"),
                 "--from", str(scenario)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{scenario}:4: cameras[1].room: no place 'room_9999'" in err[0]
