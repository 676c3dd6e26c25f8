"""A ward map as a Gazebo world (SDFormat 1.9), and the ``ros_gz_bridge`` file to go with it.

``carefleet map export-sdf WARD -o ward.sdf`` writes what ``world_sdf`` builds:

- every floor is a static slab (``floor_<id>``) whose top is at the floor's elevation;
  floors are stacked in one world frame (a floor's own x, y are kept);
- walls (``walls_<id>``, one static model per floor): from the occupancy grid when the
  floor has one (occupied pixels by ``map_server``'s default rule, merged into as few
  boxes as rows of identical runs allow), otherwise from the room layout: a perimeter
  around the floor's places and waypoints, and an outline around each resident room
  with a door gap on the side facing its waypoint (the corridor);
- each lift is a see-through shaft (``lift_<id>``, visual only) over its landings,
  from the lowest stop to above the highest;
- places are named models: chargers (``charger_f1``: a dock, visual only so it never
  blocks its docking waypoint) and rooms (``room_101``, and the kitchen, lounges ...:
  a thin floor marker, visual only);
- cameras (room -> camera id) are static models with a ``<sensor type="camera">``
  mounted high in a corner of the room, looking down across it, publishing
  ``/<camera id>/image``.

The XML is built with ``xml.etree.ElementTree`` only, and the output is deterministic
(same ward, same bytes): numbers are printed with at most four decimals and models are
emitted in a fixed order. Gazebo (gz-sim) is not needed here; the tests check every
export with SDFormat's own validator (``gz sdf -k`` / ``ign sdf -k``).

``bridge_config`` writes the matching ``ros_gz_bridge`` YAML: per robot namespace
``cmd_vel``/``odom``/``scan``/``battery_state`` (and ``tf``, which Nav2 needs), per camera its image and camera info,
and the simulation clock.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from carefleet.errors import InputError
from carefleet.files import write_atomically
from carefleet.maps.model import Floor, OccupancyGrid, Place, PlaceKind, Ward

SDF_VERSION = "1.9"

SLAB = 0.1              # floor slab thickness (m); its top is the floor's elevation
WALL_HEIGHT = 2.4       # walls (and so room height) unless the floor above is lower
WALL_THICKNESS = 0.1    # walls drawn from the room layout
MARGIN = 1.5            # perimeter distance around a floor's places and waypoints (m)
ROOM_HALF = 1.6         # half the side of a room outline around its place (m)
MIN_ROOM_HALF = 0.75    # below this a room is only marked, not walled
DOOR_WIDTH = 1.0        # door gap in a room outline (m)
CLEARANCE = 0.4         # room walls keep this far from other waypoints and lanes (m)
OCCUPIED_THRESH = 0.65  # map_server's default: a pixel is a wall when (255 - p) / 255 > this
CAMERA_INSET = 0.3      # camera distance from the room corner (m)
CAMERA_BELOW_CEILING = 0.2

#: Places shown as a named floor marker (resident rooms also get walls).
ROOM_KINDS = (PlaceKind.RESIDENT_ROOM, PlaceKind.KITCHEN, PlaceKind.NURSE_STATION,
              PlaceKind.LOUNGE, PlaceKind.BATHROOM, PlaceKind.STORE)

COLOURS = {
    "slab": "0.75 0.75 0.72 1", "wall": "0.93 0.92 0.88 1", "lift": "0.3 0.45 0.8 1",
    "charger": "0.1 0.6 0.2 1", "camera": "0.15 0.15 0.15 1",
    PlaceKind.RESIDENT_ROOM: "0.95 0.8 0.5 1", PlaceKind.KITCHEN: "0.9 0.5 0.4 1",
    PlaceKind.NURSE_STATION: "0.5 0.7 0.95 1", PlaceKind.LOUNGE: "0.6 0.85 0.6 1",
    PlaceKind.BATHROOM: "0.55 0.85 0.9 1", PlaceKind.STORE: "0.7 0.7 0.7 1",
}

#: ``ros_gz_bridge`` entries per robot: (ROS name in the robot's namespace, Gazebo topic,
#: ROS type, Gazebo type, direction). The Gazebo topics are those of gz-sim's DiffDrive
#: (``/model/<name>/cmd_vel``, ``/model/<name>/odometry``, the odom -> base transform on
#: ``/model/<name>/tf``, which Nav2 reads as ``<namespace>/tf``) and LinearBatteryPlugin
#: (battery ``linear_battery``) systems, and a lidar whose ``<topic>`` is
#: ``/model/<name>/scan``; edit the Gazebo side if a robot's SDF says otherwise. Nav2
#: (Jazzy and later) publishes ``TwistStamped`` on ``cmd_vel``.
ROBOT_TOPICS = (
    ("cmd_vel", "/model/{robot}/cmd_vel", "geometry_msgs/msg/TwistStamped", "gz.msgs.Twist",
     "ROS_TO_GZ"),
    ("odom", "/model/{robot}/odometry", "nav_msgs/msg/Odometry", "gz.msgs.Odometry",
     "GZ_TO_ROS"),
    ("scan", "/model/{robot}/scan", "sensor_msgs/msg/LaserScan", "gz.msgs.LaserScan",
     "GZ_TO_ROS"),
    ("battery_state", "/model/{robot}/battery/linear_battery/state",
     "sensor_msgs/msg/BatteryState", "gz.msgs.BatteryState", "GZ_TO_ROS"),
    ("tf", "/model/{robot}/tf", "tf2_msgs/msg/TFMessage", "gz.msgs.Pose_V", "GZ_TO_ROS"),
)
CAMERA_TOPICS = (
    ("image", "sensor_msgs/msg/Image", "gz.msgs.Image"),
    ("camera_info", "sensor_msgs/msg/CameraInfo", "gz.msgs.CameraInfo"),
)
CLOCK_ENTRY = {"ros_topic_name": "/clock", "gz_topic_name": "/clock",
               "ros_type_name": "rosgraph_msgs/msg/Clock", "gz_type_name": "gz.msgs.Clock",
               "direction": "GZ_TO_ROS"}

#: Robot and camera ids become ROS topic names (``/tray_1/odom``, ``/cam_203/image``).
TOPIC_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# -- geometry ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in world coordinates (metres)."""

    x0: float
    y0: float
    x1: float
    y1: float
    z0: float
    z1: float

    @property
    def centre(self) -> tuple[float, float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2, (self.z0 + self.z1) / 2

    @property
    def size(self) -> tuple[float, float, float]:
        return self.x1 - self.x0, self.y1 - self.y0, self.z1 - self.z0


@dataclass(frozen=True, slots=True)
class Room:
    """A room-like place as drawn: a square around the place, its door on one side."""

    place: Place
    x: float
    y: float
    half: float
    doors: tuple[tuple[str, float], ...]
    """(side, position): side "n", "s", "e" or "w", position of the door's centre along it
    (an x for "n"/"s", a y for "e"/"w"). One door facing the waypoint when the waypoint
    is outside the room; one per lane leaving it when the room is drawn around it."""

    @property
    def walled(self) -> bool:
        return self.place.kind is PlaceKind.RESIDENT_ROOM and self.half >= MIN_ROOM_HALF


@dataclass(frozen=True, slots=True)
class FloorPlan:
    """What one floor becomes in the world."""

    floor: Floor
    extent: tuple[float, float, float, float]   # x0, y0, x1, y1 of the slab
    wall_height: float
    walls: tuple[Box, ...]
    rooms: tuple[Room, ...]
    walls_from: str                             # "grid" or "layout"


def grid_rectangles(occupied: Sequence[Sequence[bool]]) -> list[tuple[int, int, int, int]]:
    """Occupied pixels as ``(col0, row0, col1, row1)`` rectangles (end exclusive).

    Each row is cut into runs of occupied pixels; a run continues the rectangle above it
    when it has exactly the same columns. Every occupied pixel lies in exactly one
    rectangle, so the walls cover the grid's obstacles and nothing else.
    """
    rectangles: list[tuple[int, int, int, int]] = []
    open_runs: dict[tuple[int, int], int] = {}      # (col0, col1) -> first row
    rows = len(occupied)
    for r in range(rows + 1):
        runs = set(_runs(occupied[r])) if r < rows else set()
        for key in sorted(open_runs):
            if key not in runs:
                rectangles.append((key[0], open_runs.pop(key), key[1], r))
        for key in runs:
            open_runs.setdefault(key, r)
    return sorted(rectangles, key=lambda c: (c[1], c[0]))


def _runs(row: Sequence[bool]) -> Iterable[tuple[int, int]]:
    start = None
    for c, value in enumerate(row):
        if value and start is None:
            start = c
        elif not value and start is not None:
            yield start, c
            start = None
    if start is not None:
        yield start, len(row)


def occupied_pixels(grid: OccupancyGrid) -> list[list[bool]]:
    """The grid image as rows (top row first) of "is a wall" by map_server's default rule."""
    import cv2  # late, as in the loader: only wards with grids pay for OpenCV

    image = cv2.imread(grid.image, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError(grid.image, "cannot read the occupancy grid image")
    walls = (255 - image.astype("int16")) / 255.0 > OCCUPIED_THRESH
    return walls.tolist()


def _grid_walls(grid: OccupancyGrid, z0: float, z1: float) -> tuple[list[Box], tuple]:
    pixels = occupied_pixels(grid)
    height, width = len(pixels), len(pixels[0]) if pixels else 0
    ox, oy, res = grid.origin[0], grid.origin[1], grid.resolution
    boxes = [Box(ox + c0 * res, oy + (height - r1) * res, ox + c1 * res, oy + (height - r0) * res,
                 z0, z1) for c0, r0, c1, r1 in grid_rectangles(pixels)]
    return boxes, (ox, oy, ox + width * res, oy + height * res)


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _rooms(ward: Ward, floor: Floor) -> list[Room]:
    """Room-like places of ``floor`` as squares around the place that stay clear of each
    other, of other waypoints and of lanes; doors where the way out is."""
    places = sorted((p for p in ward.places.values()
                     if p.floor == floor.id and p.kind in ROOM_KINDS), key=lambda p: p.id)
    waypoints = sorted((w for w in ward.waypoints.values() if w.floor == floor.id),
                       key=lambda w: w.id)
    lanes = [lane for lane in ward.lanes if ward.waypoints[lane.start].floor == floor.id]
    rooms = []
    for place in places:
        own = ward.waypoints[place.waypoint]
        half = ROOM_HALF                     # clear of everything but the own waypoint's lanes
        for other in places:
            if other is not place:
                gap = max(abs(other.x - place.x), abs(other.y - place.y))
                half = min(half, gap / 2 - WALL_THICKNESS)
        for waypoint in waypoints:
            if waypoint.id != own.id:
                gap = max(abs(waypoint.x - place.x), abs(waypoint.y - place.y))
                half = min(half, gap - CLEARANCE)
        own_lanes = []
        for lane in lanes:
            a, b = ward.waypoints[lane.start], ward.waypoints[lane.end]
            if own.id in (a.id, b.id):
                own_lanes.append(b if a.id == own.id else a)
                continue
            distance = _segment_distance(place.x, place.y, a.x, a.y, b.x, b.y)
            half = min(half, (distance - CLEARANCE) / math.sqrt(2))
        own_gap = max(abs(own.x - place.x), abs(own.y - place.y))
        if own_gap < half - CLEARANCE:
            # Drawn around its own waypoint: a door wherever a lane leaves the room.
            targets = [(w.x, w.y) for w in sorted(own_lanes, key=lambda w: w.id)
                       if (w.x, w.y) != (own.x, own.y)] or [(own.x, own.y - 1.0)]
            start = (own.x, own.y)
        else:
            # The waypoint waits outside the door: keep the room and its lanes clear of it.
            half = min(half, own_gap - CLEARANCE)
            for w in own_lanes:
                distance = _segment_distance(place.x, place.y, own.x, own.y, w.x, w.y)
                half = min(half, (distance - CLEARANCE) / math.sqrt(2))
            start = (place.x, place.y)
            targets = [(own.x, own.y)] if own_gap > 0 else [(own.x, own.y - 1.0)]
        half = max(half, 0.25)
        doors = sorted({_exit(place.x, place.y, half, start, target) for target in targets})
        rooms.append(Room(place=place, x=place.x, y=place.y, half=half, doors=tuple(doors)))
    return rooms


def _exit(cx: float, cy: float, half: float, start: tuple[float, float],
          target: tuple[float, float]) -> tuple[str, float]:
    """Where the straight line from ``start`` (inside the square) to ``target`` leaves
    the square centred on (cx, cy): (side, position along it), rounded to the millimetre."""
    (sx, sy), (tx, ty) = start, target
    dx, dy = tx - sx, ty - sy
    if dx == 0 and dy == 0:
        return "s", round(cx, 3)
    t_x = ((cx + math.copysign(half, dx)) - sx) / dx if dx else math.inf
    t_y = ((cy + math.copysign(half, dy)) - sy) / dy if dy else math.inf
    if t_x <= t_y:
        return ("e" if dx > 0 else "w"), round(sy + t_x * dy, 3)
    return ("n" if dy > 0 else "s"), round(sx + t_y * dx, 3)


def _room_walls(room: Room, z0: float, z1: float) -> list[Box]:
    """Four walls around the room, with a door gap (``DOOR_WIDTH``) at each door."""
    t, h = WALL_THICKNESS / 2, room.half
    x0, x1, y0, y1 = room.x - h, room.x + h, room.y - h, room.y + h
    # side -> (fixed coordinate, from, to along the side); n/s walls run along x and
    # cover the corners, e/w walls along y between them.
    sides = {"s": (y0, x0 - t, x1 + t), "n": (y1, x0 - t, x1 + t),
             "w": (x0, y0 + t, y1 - t), "e": (x1, y0 + t, y1 - t)}
    boxes = []
    for side in ("s", "n", "w", "e"):
        fixed, start, end = sides[side]
        pieces = [(start, end)]
        for door_side, at in room.doors:
            if door_side != side:
                continue
            gap0, gap1 = at - DOOR_WIDTH / 2, at + DOOR_WIDTH / 2
            pieces = [cut for a, b in pieces
                      for cut in ((a, min(b, gap0)), (max(a, gap1), b)) if cut[1] - cut[0] > 1e-3]
        for a, b in pieces:
            boxes.append(Box(a, fixed - t, b, fixed + t, z0, z1) if side in ("s", "n")
                         else Box(fixed - t, a, fixed + t, b, z0, z1))
    return boxes


def _perimeter(extent: tuple[float, float, float, float], z0: float, z1: float) -> list[Box]:
    x0, y0, x1, y1 = extent
    t = WALL_THICKNESS / 2
    return [Box(x0 - t, y0 - t, x1 + t, y0 + t, z0, z1), Box(x0 - t, y1 - t, x1 + t, y1 + t, z0, z1),
            Box(x0 - t, y0 + t, x0 + t, y1 - t, z0, z1), Box(x1 - t, y0 + t, x1 + t, y1 - t, z0, z1)]


def _wall_height(ward: Ward, floor: Floor) -> float:
    """``WALL_HEIGHT``, lowered to fit under the next floor up (never below 0.3 m)."""
    above = [f.elevation - floor.elevation for f in ward.floors.values()
             if f.elevation > floor.elevation]
    if not above:
        return WALL_HEIGHT
    return max(0.3, min(WALL_HEIGHT, min(above) - SLAB - 0.05))


def floor_plan(ward: Ward, floor: Floor) -> FloorPlan:
    """Slab extent, walls and rooms of one floor."""
    height = _wall_height(ward, floor)
    z0, z1 = floor.elevation, floor.elevation + height
    rooms = _rooms(ward, floor)
    xs = [w.x for w in ward.waypoints.values() if w.floor == floor.id]
    ys = [w.y for w in ward.waypoints.values() if w.floor == floor.id]
    for place in ward.places.values():
        if place.floor == floor.id:
            xs.append(place.x)
            ys.append(place.y)
    for room in rooms:
        xs += [room.x - room.half, room.x + room.half]
        ys += [room.y - room.half, room.y + room.half]
    if not xs:
        xs, ys = [0.0], [0.0]
    extent = (min(xs) - MARGIN, min(ys) - MARGIN, max(xs) + MARGIN, max(ys) + MARGIN)
    if floor.grid is not None:
        walls, grid_extent = _grid_walls(floor.grid, z0, z1)
        extent = (min(extent[0], grid_extent[0]), min(extent[1], grid_extent[1]),
                  max(extent[2], grid_extent[2]), max(extent[3], grid_extent[3]))
        return FloorPlan(floor=floor, extent=extent, wall_height=height, walls=tuple(walls),
                         rooms=tuple(rooms), walls_from="grid")
    walls = _perimeter(extent, z0, z1)
    for room in rooms:
        if room.walled:
            walls += _room_walls(room, z0, z1)
    return FloorPlan(floor=floor, extent=extent, wall_height=height, walls=tuple(walls),
                     rooms=tuple(rooms), walls_from="layout")


# -- XML -------------------------------------------------------------------------
def _num(value: float) -> str:
    """At most four decimals, no trailing zeros, never ``-0``: stable text for the same value."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _nums(*values: float) -> str:
    return " ".join(_num(v) for v in values)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def sdf_name(text: str) -> str:
    """A model or link name SDFormat accepts: letters, digits, ``_.-``; not reserved
    (``world``, anything starting with ``__``)."""
    name = _NAME_CHARS.sub("_", text) or "_"
    if name.startswith("__"):
        name = "m" + name
    if name == "world":
        name = "world_"
    return name


class _Names:
    """Unique model names: the first to ask gets the plain name, later ones ``_2``, ``_3``."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def claim(self, wanted: str) -> str:
        base = sdf_name(wanted)
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name


def _static_model(world: ET.Element, name: str, pose: str | None = None) -> ET.Element:
    model = _sub(world, "model", name=name)
    _sub(model, "static", "true")
    if pose is not None:
        _sub(model, "pose", pose)
    return model


def _box_shape(parent: ET.Element, tag: str, name: str, pose: tuple[float, ...] | None,
               size: tuple[float, float, float], colour: str | None = None,
               transparency: float | None = None) -> ET.Element:
    element = _sub(parent, tag, name=f"{name}_{tag}")   # names are unique across a link
    if pose is not None:
        _sub(element, "pose", _nums(*pose, 0, 0, 0))
    geometry = _sub(element, "geometry")
    _sub(_sub(geometry, "box"), "size", _nums(*size))
    if tag == "visual":
        if transparency is not None:
            _sub(element, "transparency", _num(transparency))
        if colour is not None:
            material = _sub(element, "material")
            _sub(material, "ambient", colour)
            _sub(material, "diffuse", colour)
    return element


def _solid_box(link: ET.Element, name: str, box: Box, colour: str) -> None:
    _box_shape(link, "collision", name, box.centre, box.size)
    _box_shape(link, "visual", name, box.centre, box.size, colour)


def _world_header(world: ET.Element) -> None:
    physics = _sub(world, "physics", name="1ms", type="ignored")
    _sub(physics, "max_step_size", "0.001")
    _sub(physics, "real_time_factor", "1")
    for filename, name in (("gz-sim-physics-system", "gz::sim::systems::Physics"),
                           ("gz-sim-user-commands-system", "gz::sim::systems::UserCommands"),
                           ("gz-sim-scene-broadcaster-system",
                            "gz::sim::systems::SceneBroadcaster")):
        _sub(world, "plugin", filename=filename, name=name)
    sensors = _sub(world, "plugin", filename="gz-sim-sensors-system",
                   name="gz::sim::systems::Sensors")
    _sub(sensors, "render_engine", "ogre2")
    _sub(world, "gravity", "0 0 -9.8")
    scene = _sub(world, "scene")
    _sub(scene, "ambient", "0.6 0.6 0.6 1")
    _sub(scene, "background", "0.8 0.8 0.8 1")
    _sub(scene, "shadows", "false")
    sun = _sub(world, "light", name="sun", type="directional")
    _sub(sun, "cast_shadows", "false")
    _sub(sun, "pose", "0 0 30 0 0 0")
    _sub(sun, "diffuse", "0.9 0.9 0.9 1")
    _sub(sun, "specular", "0.2 0.2 0.2 1")
    _sub(sun, "direction", "-0.4 0.2 -0.9")


def world_name(ward: Ward) -> str:
    """``Sunrise House, east wing`` -> ``sunrise_house_east_wing`` (Gazebo's ``/world/<name>``)."""
    return re.sub(r"[^a-z0-9]+", "_", ward.name.lower()).strip("_") or "ward"


def check_cameras(ward: Ward, cameras: Mapping[str, str], source: str = "--camera") -> None:
    """Each camera watches a place of the ward, one camera per room, ids usable as topics."""
    seen: dict[str, str] = {}
    for room, camera_id in cameras.items():
        if room not in ward.places:
            raise InputError(source, f"camera '{camera_id}': no place '{room}' in ward "
                             f"'{ward.name}' ({ward.source})")
        if not TOPIC_ID.match(camera_id):
            raise InputError(source, f"camera id '{camera_id}' cannot name a ROS topic "
                             "(letters, digits and _, not starting with a digit)")
        if camera_id in seen:
            raise InputError(source, f"camera id '{camera_id}' is used for both "
                             f"'{seen[camera_id]}' and '{room}'")
        seen[camera_id] = room


def ward_world(ward: Ward, cameras: Mapping[str, str] | None = None) -> ET.Element:
    """The ``<sdf>`` element of the ward's world; ``cameras`` maps a place id to a camera id."""
    cameras = dict(cameras or {})
    check_cameras(ward, cameras)
    floors = sorted(ward.floors.values(), key=lambda f: (f.elevation, f.id))
    plans = {floor.id: floor_plan(ward, floor) for floor in floors}
    names = _Names()
    # Places first, so they keep their own ids as model names (room_101, charger_f1).
    rooms = {room.place.id: room for plan in plans.values() for room in plan.rooms}
    chargers = ward.places_of_kind(PlaceKind.CHARGER)
    place_names = {pid: names.claim(pid) for pid in sorted(set(rooms) | {c.id for c in chargers})}

    sdf = ET.Element("sdf", version=SDF_VERSION)
    sdf.append(ET.Comment(f" Ward '{ward.name}' as a Gazebo world, exported by "
                          "'carefleet map export-sdf'; edit the ward map, not this file. "))
    world = _sub(sdf, "world", name=world_name(ward))
    _world_header(world)
    for floor in floors:
        _floor_models(world, names, plans[floor.id])
    for lift_id in sorted(ward.lifts):
        _lift_model(world, names, ward, lift_id, plans)
    for room_id in sorted(rooms):
        _room_marker(world, place_names[room_id], rooms[room_id], ward.floors)
    for charger in chargers:
        _charger_model(world, place_names[charger.id], charger, ward.floors)
    for room_id in sorted(cameras, key=lambda r: cameras[r]):
        _camera_model(world, names, cameras[room_id], _camera_room(ward, rooms, room_id),
                      plans[ward.places[room_id].floor])
    return sdf


def _floor_models(world: ET.Element, names: _Names, plan: FloorPlan) -> None:
    floor = plan.floor
    x0, y0, x1, y1 = plan.extent
    slab = _static_model(world, names.claim(f"floor_{floor.id}"))
    link = _sub(slab, "link", name="slab")
    _solid_box(link, "slab", Box(x0, y0, x1, y1, floor.elevation - SLAB, floor.elevation),
               COLOURS["slab"])
    if not plan.walls:
        return
    walls = _static_model(world, names.claim(f"walls_{floor.id}"))
    link = _sub(walls, "link", name="walls")
    for i, box in enumerate(plan.walls):
        _solid_box(link, f"wall_{i}", box, COLOURS["wall"])


def _lift_model(world: ET.Element, names: _Names, ward: Ward, lift_id: str,
                plans: Mapping[str, FloorPlan]) -> None:
    """A see-through shaft over each landing, up to the next stop (visual only: Gazebo
    does not carry robots between floors; a runtime moves them)."""
    lift = ward.lifts[lift_id]
    stops = sorted(lift.stops.items(), key=lambda s: (ward.floors[s[0]].elevation, s[0]))
    model = _static_model(world, names.claim(f"lift_{lift_id}"))
    link = _sub(model, "link", name="shaft")
    for i, (floor_id, waypoint_id) in enumerate(stops):
        landing = ward.waypoints[waypoint_id]
        bottom = ward.floors[floor_id].elevation
        top = bottom + plans[floor_id].wall_height
        if i + 1 < len(stops):
            top = max(top, ward.floors[stops[i + 1][0]].elevation)
        _box_shape(link, "visual", f"shaft_{sdf_name(floor_id)}",
                   (landing.x, landing.y, (bottom + top) / 2), (1.6, 1.6, top - bottom),
                   COLOURS["lift"], transparency=0.7)


def _room_marker(world: ET.Element, name: str, room: Room, floors: Mapping[str, Floor]) -> None:
    elevation = floors[room.place.floor].elevation
    model = _static_model(world, name, _nums(room.x, room.y, elevation + 0.0025, 0, 0, 0))
    link = _sub(model, "link", name="marker")
    side = max(2 * room.half - WALL_THICKNESS, 0.2)
    _box_shape(link, "visual", "floor_marker", None, (side, side, 0.005),
               COLOURS[room.place.kind], transparency=0.5)


def _charger_model(world: ET.Element, name: str, charger: Place,
                   floors: Mapping[str, Floor]) -> None:
    elevation = floors[charger.floor].elevation
    model = _static_model(world, name, _nums(charger.x, charger.y, elevation + 0.125, 0, 0, 0))
    link = _sub(model, "link", name="dock")
    _box_shape(link, "visual", "dock", None, (0.5, 0.3, 0.25), COLOURS["charger"])


def _camera_room(ward: Ward, rooms: Mapping[str, Room], place_id: str) -> Room:
    """The room square a camera watches (a place that is not a room: a 3.2 m square)."""
    if place_id in rooms:
        return rooms[place_id]
    place = ward.places[place_id]
    own = ward.waypoints[place.waypoint]
    door = _exit(place.x, place.y, ROOM_HALF, (place.x, place.y), (own.x, own.y))
    return Room(place=place, x=place.x, y=place.y, half=ROOM_HALF, doors=(door,))


def camera_pose(room: Room, floor: Floor, wall_height: float) -> tuple[float, ...]:
    """(x, y, z, roll, pitch, yaw): high in the corner beside the (first) door, on the side
    away from it, looking down across the room at the middle of its floor."""
    h = max(room.half - CAMERA_INSET, 0.05)
    side, at = room.doors[0]
    if side in ("n", "s"):
        sx, sy = (-1 if at >= room.x else 1), (1 if side == "n" else -1)
    else:
        sx, sy = (1 if side == "e" else -1), (-1 if at >= room.y else 1)
    x, y = room.x + sx * h, room.y + sy * h
    above_floor = max(wall_height - CAMERA_BELOW_CEILING, 0.2)
    yaw = math.atan2(room.y - y, room.x - x)
    pitch = math.atan2(above_floor, math.hypot(room.x - x, room.y - y))
    return x, y, floor.elevation + above_floor, 0.0, pitch, yaw


def _camera_model(world: ET.Element, names: _Names, camera_id: str, room: Room,
                  plan: FloorPlan) -> None:
    pose = camera_pose(room, plan.floor, plan.wall_height)
    model = _static_model(world, names.claim(f"camera_{camera_id}"), _nums(*pose))
    link = _sub(model, "link", name="link")
    _box_shape(link, "visual", "body", None, (0.12, 0.08, 0.08), COLOURS["camera"])
    sensor = _sub(link, "sensor", name=camera_id, type="camera")
    _sub(sensor, "always_on", "true")
    _sub(sensor, "update_rate", "15")
    _sub(sensor, "visualize", "false")
    _sub(sensor, "topic", f"/{camera_id}/image")
    camera = _sub(sensor, "camera", name=camera_id)
    _sub(camera, "horizontal_fov", "1.5708")
    image = _sub(camera, "image")
    _sub(image, "width", "640")
    _sub(image, "height", "480")
    _sub(image, "format", "R8G8B8")
    clip = _sub(camera, "clip")
    _sub(clip, "near", "0.1")
    _sub(clip, "far", "30")


def serialize(root: ET.Element) -> bytes:
    """An ``<sdf>`` element as file bytes (UTF-8, two-space indent, ending in a newline)."""
    ET.indent(root, space="  ")
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n")


def world_sdf(ward: Ward, cameras: Mapping[str, str] | None = None) -> bytes:
    """The ward's world as SDF file bytes."""
    return serialize(ward_world(ward, cameras))


def export_sdf(ward: Ward, path: str | Path, cameras: Mapping[str, str] | None = None) -> Path:
    """Write the ward's world to ``path`` (atomically) and return the path."""
    return write_atomically(path, world_sdf(ward, cameras))


# -- ros_gz_bridge -----------------------------------------------------------------
def check_topic_ids(ids: Iterable[str], what: str, source: str) -> None:
    for item in ids:
        if not TOPIC_ID.match(item):
            raise InputError(source, f"{what} id '{item}' cannot name a ROS namespace or topic "
                             "(letters, digits and _, not starting with a digit)")


def bridge_entries(robots: Sequence[str], cameras: Iterable[str]) -> list[dict[str, str]]:
    """``ros_gz_bridge`` entries: the clock, each robot's topics, each camera's image."""
    entries = [dict(CLOCK_ENTRY)]
    for robot in robots:
        for ros_name, gz_name, ros_type, gz_type, direction in ROBOT_TOPICS:
            entries.append({"ros_topic_name": f"/{robot}/{ros_name}",
                            "gz_topic_name": gz_name.format(robot=robot),
                            "ros_type_name": ros_type, "gz_type_name": gz_type,
                            "direction": direction})
    for camera in cameras:
        for name, ros_type, gz_type in CAMERA_TOPICS:
            entries.append({"ros_topic_name": f"/{camera}/{name}",
                            "gz_topic_name": f"/{camera}/{name}",
                            "ros_type_name": ros_type, "gz_type_name": gz_type,
                            "direction": "GZ_TO_ROS"})
    return entries


def bridge_yaml(robots: Sequence[str], cameras: Iterable[str]) -> bytes:
    """The ``ros_gz_bridge`` config file (``config_file:=...``) as YAML bytes."""
    import yaml

    head = ("# ros_gz_bridge configuration (ros2 run ros_gz_bridge parameter_bridge --ros-args\n"
            "#   -p config_file:=THIS_FILE), written by 'carefleet map export-sdf --bridge'.\n"
            "# Robots' Gazebo topics assume gz-sim's DiffDrive and LinearBatteryPlugin systems\n"
            "# and a lidar publishing on /model/<robot>/scan: see README, 'Running the ward in\n"
            "# Gazebo'.\n")
    body = yaml.safe_dump(bridge_entries(robots, cameras), sort_keys=False,
                          default_flow_style=False, width=100)
    return (head + body).encode("utf-8")


def write_bridge(path: str | Path, robots: Sequence[str], cameras: Iterable[str]) -> Path:
    """Write the ``ros_gz_bridge`` config for ``robots`` and ``cameras`` (ids, in that order)."""
    robots, cameras = list(robots), list(cameras)
    check_topic_ids(robots, "robot", "--robot")
    check_topic_ids(cameras, "camera", "--camera")
    return write_atomically(path, bridge_yaml(robots, cameras))
