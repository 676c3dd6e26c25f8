"""Wards of any size, built in code: for benchmarks and tests that need more rooms than
the bundled demo ward has (104 rooms on 4 floors, 300 rooms, ...).

Each floor is the demo ward's shape reduced to its bones: a lift landing at the west
end, a hall with a charger bay, then one long bedroom corridor with a door every
``pitch`` metres and a room on each side of it (two rooms per door), and a fire door
every eight doors. The kitchen is on the first floor beside the lift. Rooms are
numbered ``room_<floor><nn>`` as on the demo ward (``room_101``, ``room_102`` ...).
"""

from __future__ import annotations

import math

from carefleet.maps.model import Floor, Lane, Lift, Place, PlaceKind, Ward, Waypoint

HALL_END = 12.0       # metres from the lift to the first door
PITCH = 3.5           # metres between two doors


def corridor_ward(rooms: int, *, floors: int = 1, chargers: int = 2,
                  lift_time: float = 45.0, name: str = "") -> Ward:
    """A ward of ``rooms`` resident rooms spread evenly over ``floors`` floors, with
    ``chargers`` chargers (spread over the floors, first floor first)."""
    if rooms < 1 or floors < 1 or chargers < 0:
        raise ValueError("a generated ward needs at least one room and one floor")
    waypoints: dict[str, Waypoint] = {}
    lanes: list[Lane] = []
    places: dict[str, Place] = {}
    per_floor = [rooms // floors + (1 if k < rooms % floors else 0) for k in range(floors)]
    stops: dict[str, str] = {}
    for k in range(floors):
        fid, f = f"F{k + 1}", f"f{k + 1}"

        def point(name: str, x: float, y: float = 10.0) -> str:
            waypoints[f"{f}_{name}"] = Waypoint(id=f"{f}_{name}", floor=fid, x=x, y=y)
            return f"{f}_{name}"

        def place(pid: str, kind: PlaceKind, waypoint: str, x: float, y: float,
                  label: str = "") -> None:
            places[pid] = Place(id=pid, kind=kind, floor=fid, x=x, y=y, waypoint=waypoint,
                                name=label)

        lift = point("lift", 2.5)
        hall = point("hall", 6.0)
        bay = point("charger_bay", 8.0, 7.0)
        lanes += [Lane(id=f"{f}_lift_hall", start=lift, end=hall, corridor=f"hall_{f}"),
                  Lane(id=f"{f}_hall_bay", start=hall, end=bay)]
        stops[fid] = lift
        place(f"{f}_lift_landing", PlaceKind.LIFT, lift, 1.2, 10.0, f"Lift landing {k + 1}")
        if k == 0:
            kitchen = point("service", 5.0, 6.0)
            lanes.append(Lane(id=f"{f}_hall_service", start=hall, end=kitchen))
            place("kitchen", PlaceKind.KITCHEN, kitchen, 5.0, 4.5, "Kitchen")
        doors = math.ceil(per_floor[k] / 2)
        previous = hall
        for d in range(doors):
            x = HALL_END + PITCH * d
            door = point(f"door_{d}", x)
            lanes.append(Lane(id=f"{f}_corridor_{d}", start=previous, end=door,
                              corridor=f"corridor_{f}", door=(d > 0 and d % 8 == 0)))
            previous = door
            for side, y in enumerate((14.0, 6.0)):
                number = 2 * d + side + 1
                if number > per_floor[k]:
                    break
                room = f"room_{k + 1}{number:02d}"
                place(room, PlaceKind.RESIDENT_ROOM, door, x, y, f"Room {k + 1}{number:02d}")
    for c in range(chargers):
        f = f"f{c % floors + 1}"
        waypoint = f"{f}_charger_bay"
        number = c // floors
        places[f"charger_{f}_{number}"] = Place(
            id=f"charger_{f}_{number}", kind=PlaceKind.CHARGER, floor=f"F{c % floors + 1}",
            x=8.0 + number, y=6.5, waypoint=waypoint, name=f"Charger {c + 1}")
    lifts = {"lift_a": Lift(id="lift_a", stops=stops, transfer_time=lift_time)} if floors > 1 else {}
    return Ward(name=name or f"Generated ward, {rooms} rooms on {floors} floors",
                source=f"<generated: {rooms} rooms, {floors} floors>",
                floors={f"F{k + 1}": Floor(id=f"F{k + 1}", name=f"Floor {k + 1}",
                                           elevation=3.5 * k) for k in range(floors)},
                waypoints=waypoints, lanes=tuple(lanes), lifts=lifts, places=places,
                timezone="Asia/Shanghai")
