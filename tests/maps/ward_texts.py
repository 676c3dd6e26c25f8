"""Ward YAML texts shared by the map tests (imported by name: tests/ has no packages)."""

#: A valid two-floor ward small enough to reason about by hand:
#:   F1: a(0,0) -- b(3,4) [door] -- c(6,8);  a -> d(0,10) one-way; d -- c slow (0.2 m/s)
#:   F2: e(0,0) -- f(10,0);  lift L (30 s) joins a and e.
TINY = """\
ward: Tiny
door_delay: 4
floors:
  - {id: F1, name: Ground}
  - {id: F2, name: First, elevation: 3}
waypoints:
  - {id: a, floor: F1, x: 0, y: 0}
  - {id: b, floor: F1, x: 3, y: 4}
  - {id: c, floor: F1, x: 6, y: 8}
  - {id: d, floor: F1, x: 0, y: 10}
  - {id: e, floor: F2, x: 0, y: 0}
  - {id: f, floor: F2, x: 10, y: 0}
lanes:
  - {from: a, to: b, door: true, corridor: main}
  - {from: b, to: c, corridor: main}
  - {from: a, to: d, one_way: true}
  - {from: d, to: c, speed_limit: 0.2}
  - {id: upstairs, from: e, to: f}
lifts:
  - {id: L, transfer_time: 30, stops: {F1: a, F2: e}}
places:
  - {id: room_1, kind: resident_room, floor: F1, waypoint: c, x: 6, y: 9, name: Room 1}
  - {id: bed_1, kind: bed, room: room_1, floor: F1, waypoint: c, x: 6, y: 9.5}
  - {id: kitchen, kind: kitchen, floor: F1, waypoint: a}
  - {id: room_2, kind: resident_room, floor: F2, waypoint: f}
"""
