"""Generate ``demo_ward.yaml`` and its occupancy grids (``grids/``): run it after editing.

    .venv/bin/python maps/wards/make_demo_ward.py

Sunrise House, east wing: two identical floors joined by one lift. On each floor a
hall runs east from the lift past the nurse station to the wing's fire door; the
east corridor then leads to a 30 m bedroom corridor with 8 rooms on each side (doors
every 3.5 m), a fire door half way and a bathroom and store at the far end. The
lounge (ground floor) and day room (first floor) are a slow (0.3 m/s) alternative
to the east corridor, so closing ``east_corridor_f1`` reroutes robots through the
lounge instead of stranding them. The ground-floor kitchen is a one-way loop
(clean in, dirty out). Coordinates are metres, x east, y north.

The generated files are committed; this script is kept to regenerate them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
FLOORS = (("F1", "Ground floor", 0.0), ("F2", "First floor", 3.5))
DOOR_X = [22.0 + 3.5 * k for k in range(8)]   # room doors along the bedroom corridor
CORRIDOR_Y = 10.0
RESOLUTION = 0.1                               # metres per grid pixel
ORIGIN = (-1.0, -1.0)
SIZE_M = (54.0, 22.0)                          # grid extent, metres


def floor_layout(n: int) -> tuple[list[str], list[str], list[str], list[tuple], list[tuple]]:
    """Floor ``n``: YAML lines (waypoints, lanes, places), free-space boxes, lane ends."""
    f = f"f{n}"
    waypoints = {f"{f}_lift": (2.5, 10), f"{f}_hall_1": (5, 10), f"{f}_hall_2": (8.5, 10),
                 f"{f}_hall_3": (12, 10), f"{f}_east_1": (16, 10), f"{f}_wing_0": (20, 10),
                 f"{f}_lounge_w": (13.5, 14.5), f"{f}_lounge": (16, 16),
                 f"{f}_lounge_e": (18.5, 14.5), f"{f}_service": (5, 6),
                 f"{f}_charger": (10.5, 7.5), f"{f}_wing_end": (50, 10)}
    waypoints |= {f"{f}_door_{k}": (x, CORRIDOR_Y) for k, x in enumerate(DOOR_X)}
    hall, east, lounge, wing = (f"hall_{f}", f"east_corridor_{f}", f"lounge_{f}",
                                f"wing_corridor_{f}")
    lanes = [
        dict(a="lift", b="hall_1", corridor=hall), dict(a="hall_1", b="hall_2", corridor=hall),
        dict(a="hall_2", b="hall_3", corridor=hall), dict(a="hall_3", b="charger"),
        dict(a="hall_3", b="east_1", corridor=east, door=True),
        dict(a="east_1", b="wing_0", corridor=east),
        dict(a="hall_3", b="lounge_w", corridor=lounge, speed_limit=0.3),
        dict(a="lounge_w", b="lounge", corridor=lounge, speed_limit=0.3),
        dict(a="lounge", b="lounge_e", corridor=lounge, speed_limit=0.3),
        dict(a="lounge_e", b="wing_0", corridor=lounge, speed_limit=0.3),
        dict(a="wing_0", b="door_0", corridor=wing),
    ]
    lanes += [dict(a=f"door_{k}", b=f"door_{k + 1}", corridor=wing, door=(k == 3))
              for k in range(7)]
    lanes.append(dict(a="door_7", b="wing_end", corridor=wing))
    if n == 1:   # kitchen: clean trays in from hall_1, dirty trays out to hall_2
        lanes += [dict(a="hall_1", b="service", one_way=True), dict(a="service", b="hall_2", one_way=True)]
    else:
        lanes.append(dict(a="hall_1", b="service"))
    places = [
        (f"{f}_lift_landing", "lift", 1.2, 10, "lift", f"Lift landing {n}"),
        (f"nurse_station_{f}", "nurse_station", 8.5, 13, "hall_2", f"Nurse station {n}"),
        (f"charger_{f}", "charger", 10.5, 6.5, "charger", f"Charger {n}"),
        (f"fire_door_{f}", "door", 14, 10, "east_1", "Fire door"),
        (f"fire_door_{f}_wing", "door", 34.25, 10, "door_4", "Fire door"),
        (f"bathroom_{f}", "bathroom", 50, 13, "wing_end", "Bathroom"),
        (f"linen_store_{f}", "store", 50, 7, "wing_end", "Linen store"),
        (f"checkpoint_{f}_wing", "corridor", 43, 10, "door_6", "Wing checkpoint"),
    ]
    if n == 1:
        places += [("kitchen", "kitchen", 5, 4.5, "service", "Kitchen"),
                   ("lounge", "lounge", 16, 17.5, "lounge", "Lounge and dining room")]
    else:
        places += [("day_room", "lounge", 16, 17.5, "lounge", "Day room"),
                   (f"store_{f}", "store", 5, 4.5, "service", "Supplies store")]
    rooms = []
    for k, x in enumerate(DOOR_X):
        for side, (room_y, bed_dy) in enumerate(((14.0, 1.2), (6.0, -1.2))):
            number = n * 100 + 2 * k + 1 + side
            rooms.append((x, side))
            places.append((f"room_{number}", "resident_room", x, room_y, f"door_{k}",
                           f"Room {number}"))
            places.append((f"bed_{number}", "bed", x + 0.6, room_y + bed_dy, f"door_{k}",
                           f"room_{number}"))
    lane_ends = [(waypoints[f"{f}_{lane['a']}"], waypoints[f"{f}_{lane['b']}"]) for lane in lanes]
    return (_waypoint_lines(waypoints, n), _lane_lines(lanes, f), _place_lines(places, n),
            _boxes(rooms), lane_ends)


def _waypoint_lines(waypoints: dict[str, tuple[float, float]], n: int) -> list[str]:
    return [f"  - {{id: {w}, floor: F{n}, x: {x:g}, y: {y:g}}}" for w, (x, y) in waypoints.items()]


def _lane_lines(lanes: list[dict], f: str) -> list[str]:
    lines = []
    for lane in lanes:
        extra = "".join(f", {key}: {str(lane[key]).lower() if isinstance(lane[key], bool) else lane[key]}"
                        for key in ("one_way", "door", "speed_limit", "corridor")
                        if lane.get(key))
        lines.append(f"  - {{from: {f}_{lane['a']}, to: {f}_{lane['b']}{extra}}}")
    return lines


def _place_lines(places: list[tuple], n: int) -> list[str]:
    lines = []
    for place_id, kind, x, y, waypoint, name in places:
        label = f"room: {name}" if kind == "bed" else f"name: {name}"
        lines.append(f"  - {{id: {place_id}, kind: {kind}, floor: F{n}, x: {x:g}, y: {y:g}, "
                     f"waypoint: f{n}_{waypoint}, {label}}}")
    return lines


def _boxes(rooms: list[tuple[float, int]]) -> list[tuple[float, ...]]:
    """Free-space rectangles (x0, y0, x1, y1) of one floor, walls go around each."""
    boxes = [(0, 8.8, 20, 11.2), (20, 8.8, 52, 11.2),        # hall + east corridor, wing
             (0, 8.8, 2, 11.2), (12, 12, 20, 20),              # lift, lounge
             (2, 2, 9, 8.2), (7, 11.8, 11, 15.5),              # kitchen/store, nurse station
             (9.5, 5, 12.5, 8.2), (48.3, 11.8, 52, 15),        # charger bay, bathroom
             (48.3, 5, 52, 8.2)]                               # store
    for x, side in rooms:
        y0, y1 = (11.8, 17.2) if side == 0 else (2.8, 8.2)
        boxes.append((x - 1.6, y0, x + 1.6, y1))
    return boxes


def write_grid(n: int, boxes: list[tuple[float, ...]],
               lanes: list[tuple[tuple[float, float], tuple[float, float]]]) -> None:
    """A map_server occupancy grid: walls around every box, openings where lanes cross."""
    width, height = (int(round(s / RESOLUTION)) for s in SIZE_M)
    image = np.full((height, width), 205, np.uint8)           # unknown outside

    def px(x: float, y: float) -> tuple[int, int]:
        return (int(round((x - ORIGIN[0]) / RESOLUTION)),
                height - 1 - int(round((y - ORIGIN[1]) / RESOLUTION)))

    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(image, px(x0 - 0.15, y0 - 0.15), px(x1 + 0.15, y1 + 0.15), 0, -1)
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(image, px(x0 + 0.05, y0 + 0.05), px(x1 - 0.05, y1 - 0.05), 254, -1)
    for x in DOOR_X:                                           # room doors
        for y in (11.5, 8.5):
            cv2.rectangle(image, px(x - 0.5, y - 0.5), px(x + 0.5, y + 0.5), 254, -1)
    for a, b in lanes:
        cv2.line(image, px(*a), px(*b), 254, 9)
    grids = HERE / "grids"
    grids.mkdir(exist_ok=True)
    cv2.imwrite(str(grids / f"demo_ward_f{n}.pgm"), image)
    (grids / f"demo_ward_f{n}.yaml").write_text(
        f"# ROS map_server map of demo_ward floor F{n} (generated by make_demo_ward.py)\n"
        f"image: demo_ward_f{n}.pgm\nresolution: {RESOLUTION}\n"
        f"origin: [{ORIGIN[0]}, {ORIGIN[1]}, 0.0]\nnegate: 0\n"
        f"occupied_thresh: 0.65\nfree_thresh: 0.196\n", encoding="utf-8")


def main() -> None:
    sections: dict[str, list[str]] = {"waypoints": [], "lanes": [], "places": []}
    for n, _ in enumerate(FLOORS, start=1):
        waypoints, lanes, places, boxes, lane_ends = floor_layout(n)
        sections["waypoints"] += [f"  # floor F{n}", *waypoints]
        sections["lanes"] += [f"  # floor F{n}", *lanes]
        sections["places"] += [f"  # floor F{n}", *places]
        write_grid(n, boxes, lane_ends)
    floors = [f"  - {{id: {fid}, name: {name}, elevation: {elev:g}, "
              f"grid: grids/demo_ward_f{n}.yaml}}" for n, (fid, name, elev) in enumerate(FLOORS, 1)]
    text = "\n".join([
        "# Sunrise House, east wing: the bundled demo ward (format: docs/map-format.md).",
        "# Generated by make_demo_ward.py in this folder; edit that script, not this file.",
        "ward: Sunrise House, east wing",
        "timezone: Asia/Shanghai",
        "door_delay: 4",
        "floors:", *floors,
        "waypoints:", *sections["waypoints"],
        "lanes:", *sections["lanes"],
        "lifts:",
        "  - {id: lift_a, transfer_time: 45, stops: {F1: f1_lift, F2: f2_lift}}",
        "places:", *sections["places"], ""])
    (HERE / "demo_ward.yaml").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
