"""``carefleet map ...``: check, draw and try routes on a ward file.

``check`` is what a ward author runs after every edit, so it prints every error (one
line each, file:line first, like a compiler) rather than stopping at the first.
"""

from __future__ import annotations

import argparse
import math
import sys

from carefleet.errors import InputError
from carefleet.maps.loader import check_ward, load_ward
from carefleet.maps.model import PlaceKind, Route, Ward
from carefleet.maps.routing import REFERENCE_SPEED, Planner

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``map check``, ``render``, ``route`` and ``export-sdf`` to the ``carefleet`` command."""
    parser = subparsers.add_parser("map", help="check, draw and route on ward map files")
    commands = parser.add_subparsers(dest="map_command", metavar="ACTION", required=True)

    check = commands.add_parser("check", help="validate a ward file and list every error")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=check_command)

    render = commands.add_parser("render", help="draw a ward as a PNG, one panel per floor")
    render.add_argument("file", metavar="FILE")
    render.add_argument("-o", "--output", default="ward.png", help="PNG to write (ward.png)")
    render.set_defaults(func=render_command)

    route = commands.add_parser("route", help="print the fastest route between two places")
    route.add_argument("file", metavar="FILE")
    route.add_argument("start", metavar="FROM", help="place or waypoint id")
    route.add_argument("goal", metavar="TO", help="place or waypoint id")
    route.add_argument("--speed", type=float, default=REFERENCE_SPEED,
                       help=f"robot top speed in m/s ({REFERENCE_SPEED})")
    route.add_argument("--closed", action="append", default=[], metavar="NAME",
                       help="a closed lane id, corridor name or lift id (repeatable)")
    route.set_defaults(func=route_command)

    export = commands.add_parser(
        "export-sdf", help="write the ward as a Gazebo world (SDF 1.9), optionally with a "
                           "ros_gz_bridge config")
    export.add_argument("file", metavar="WARD",
                        help="ward file, or the name of a bundled ward (demo_ward)")
    export.add_argument("-o", "--output", default="ward.sdf", help="SDF file to write (ward.sdf)")
    export.add_argument("--camera", action="append", default=[], metavar="ROOM=ID",
                        help="a ward camera watching place ROOM, publishing /ID/image (repeatable)")
    export.add_argument("--from", dest="from_file", metavar="SCENARIO_OR_SITE",
                        help="take the cameras (and, for --bridge, the robot ids) from a "
                             "scenario or site file")
    export.add_argument("--robot", action="append", default=[], metavar="ID",
                        help="a robot (ROS namespace /ID) for --bridge (repeatable)")
    export.add_argument("--bridge", metavar="FILE",
                        help="also write a ros_gz_bridge config for the robots and cameras")
    export.set_defaults(func=export_sdf_command)


def check_command(args: argparse.Namespace) -> int:
    ward, errors = check_ward(args.file)
    for error in errors:
        print(error, file=sys.stderr)
    if ward is None:
        return EXIT_BAD_INPUT
    print(f"{args.file}: ok: {summary(ward)}")
    return EXIT_OK


def summary(ward: Ward) -> str:
    """``2 floors, 84 places (32 resident rooms), 40 waypoints, 41 lanes, 1 lifts``."""
    rooms = len(ward.places_of_kind(PlaceKind.RESIDENT_ROOM))
    return (f"{len(ward.floors)} floors, {len(ward.places)} places ({rooms} resident rooms), "
            f"{len(ward.waypoints)} waypoints, {len(ward.lanes)} lanes, {len(ward.lifts)} lifts")


def render_command(args: argparse.Namespace) -> int:
    from carefleet.maps.render import render_ward  # late: matplotlib is slow to import

    ward = load_ward(args.file)
    print(f"{render_ward(ward, args.output)}: {ward.name}, {len(ward.floors)} floors")
    return EXIT_OK


def route_command(args: argparse.Namespace) -> int:
    if not (args.speed > 0 and math.isfinite(args.speed)):
        raise InputError("--speed", f"must be a positive finite number of m/s, got {args.speed:g}")
    planner = Planner(load_ward(args.file))
    _check_closures(planner, args.closed)
    route = planner.route(args.start, args.goal, closed=frozenset(args.closed),
                          speed=args.speed)
    print(f"{args.start} -> {args.goal}: " + format_route(route, args.speed))
    return EXIT_OK


def _check_closures(planner: Planner, names: list[str]) -> None:
    """Refuse a ``--closed`` name the ward does not have: a typo would close nothing.

    (The planner itself ignores such names, for closures that outlive a map edit.)
    """
    unknown = sorted(set(names) - planner.closable, key=names.index)
    if not unknown:
        return
    ward = planner.ward
    corridors = sorted({lane.corridor for lane in ward.lanes if lane.corridor})
    example = f", e.g. '{ward.lanes[0].id}'" if ward.lanes else ""
    raise InputError("--closed", (
        f"{', '.join(repr(n) for n in unknown)}: not a lane id, corridor name or lift id "
        f"of ward '{ward.name}' ({ward.source}); corridors: {', '.join(corridors) or 'none'}; "
        f"lifts: {', '.join(sorted(ward.lifts)) or 'none'}; lane ids are 'from-to' unless "
        f"the file names them{example} (each route leg prints its lane)"))


def export_sdf_command(args: argparse.Namespace) -> int:
    from carefleet.files import write_atomically
    from carefleet.maps import sdf

    if args.robot and not args.bridge:
        raise InputError("--robot", "robots are only written to a bridge config: add --bridge FILE")
    ward = load_ward(_ward_file(args.file))
    robots, cameras = _fleet_and_cameras(args.from_file, ward) if args.from_file else ([], {})
    for spec in args.camera:
        room, _, camera_id = spec.partition("=")
        if not room or not camera_id:
            raise InputError("--camera", f"expected ROOM=ID (e.g. room_203=cam_203), got '{spec}'")
        if room in cameras:
            raise InputError("--camera", f"{room} already has camera '{cameras[room]}'")
        cameras[room] = camera_id
    sdf.check_cameras(ward, cameras)
    robots += [robot for robot in args.robot if robot not in robots]
    sdf.check_topic_ids(robots, "robot", "--robot")
    world = sdf.ward_world(ward, cameras)
    path = write_atomically(args.output, sdf.serialize(world))
    models = world.findall("world/model")
    walls = sum(len(m.findall("link/collision")) for m in models
                if m.get("name", "").startswith("walls_"))
    print(f"{path}: world '{world.find('world').get('name')}' of {ward.name}: "
          f"{len(ward.floors)} floors, {walls} wall boxes, {len(ward.lifts)} lifts, "
          f"{len(models)} models, {len(cameras)} cameras")
    if args.bridge:
        camera_ids = sorted(cameras.values())
        bridge = sdf.write_bridge(args.bridge, robots, camera_ids)
        print(f"{bridge}: ros_gz_bridge config for {len(robots)} robots "
              f"({', '.join(robots) or 'none'}) and {len(camera_ids)} cameras")
    return EXIT_OK


def _ward_file(name: str) -> str:
    """``demo_ward`` names a bundled ward (as in scenarios); anything else is a path."""
    from carefleet.maps import WARDS_DIR

    bundled = WARDS_DIR / f"{name}.yaml"
    if "/" not in name and not name.endswith((".yaml", ".yml")) and bundled.is_file():
        return str(bundled)
    return name


def _fleet_and_cameras(path: str, ward: Ward) -> tuple[list[str], dict[str, str]]:
    """Robot ids (``fleet.robots[].id``) and cameras (``cameras[]``: room -> id) of a
    scenario or site file; only those fields are read (``carefleet sim`` or ``site check``
    validate the rest). Mistakes are located in that file."""
    from carefleet.maps.sdf import TOPIC_ID
    from carefleet.yamlfile import Reader, load_yaml

    def topic_id(reader: Reader, what: str) -> str:
        value = reader.str("id")
        if not TOPIC_ID.match(value):
            raise reader.error("id", f"{what} id '{value}' cannot name a ROS namespace or topic "
                               "(letters, digits and _, not starting with a digit)")
        return value

    data = load_yaml(path)
    if data is None:
        raise InputError(path, "the file is empty (expected a scenario or site file)")
    top = Reader(path, data)
    robots: list[str] = []
    fleet = top.mapping("fleet", None)
    if fleet is not None:
        for robot in fleet.items("robots", []):
            robot_id = topic_id(robot, "robot")
            if robot_id in robots:
                raise robot.error("id", f"robot id '{robot_id}' is used twice")
            robots.append(robot_id)
    cameras: dict[str, str] = {}
    for camera in top.items("cameras", []):
        camera_id, room = topic_id(camera, "camera"), camera.str("room")
        if room not in ward.places:
            raise camera.error("room", f"no place '{room}' in ward '{ward.name}' ({ward.source})")
        if room in cameras:
            raise camera.error("room", f"{room} already has camera '{cameras[room]}'")
        if camera_id in cameras.values():
            raise camera.error("id", f"camera id '{camera_id}' is used twice")
        cameras[room] = camera_id
    return robots, cameras


def format_route(route: Route, speed: float) -> str:
    """One line per leg, then the totals, for people checking a ward by hand."""
    lines = [f"route {route.start} -> {route.end} at {speed:g} m/s"]
    for leg in route.legs:
        how = (f"lift {leg.lift}" if leg.lift else f"lane {leg.lane}" + (
            f", limit {leg.speed_limit:g} m/s" if leg.speed_limit else "") + (
            ", door" if leg.fixed_time else ""))
        lines.append(f"  {leg.start} -> {leg.end}: {leg.length:.1f} m, "
                     f"{leg.duration(speed):.1f} s ({how})")
    lines.append(f"distance {route.distance:.1f} m, time {route.duration(speed):.1f} s")
    return "\n".join(lines)
