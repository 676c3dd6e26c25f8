// eta.js: when will a robot get there? Shortest time over the ward's lanes and lifts
// (closed ones left out) at the speed the robot has been seen to drive.

const DEFAULT_SPEED = 0.7;   // m/s until a robot has been seen moving

export class Routes {
  constructor(ward) {
    this.ward = ward;
    this.waypoints = new Map(ward.waypoints.map((w) => [w.id, w]));
    this.places = new Map(ward.places.map((p) => [p.id, p]));
    this.closed = new Set(ward.closed || []);
    this.speeds = new Map();     // robot id -> m/s (smoothed)
    this.last = new Map();       // robot id -> {position, at}
  }

  setClosed(closed) { this.closed = new Set(closed); this.graph = null; }

  /** Learn a robot's speed from two successive positions (ward seconds). */
  observe(robot, at) {
    const before = this.last.get(robot.id);
    this.last.set(robot.id, {position: robot.position, at});
    if (!before || before.position === robot.position || robot.state !== 'navigating') return;
    const a = this.waypoints.get(before.position), b = this.waypoints.get(robot.position);
    const seconds = at - before.at;
    if (!a || !b || a.floor !== b.floor || !(seconds > 0)) return;
    const seen = Math.hypot(a.x - b.x, a.y - b.y) / seconds;
    if (!(seen > 0.05 && seen < 5)) return;
    const old = this.speeds.get(robot.id);
    this.speeds.set(robot.id, old ? old * 0.8 + seen * 0.2 : seen);
  }

  /** Seconds from waypoint ``from`` to waypoint ``to`` for ``robotId`` (null: no way). */
  seconds(robotId, from, to) {
    if (from === to) return 0;
    const speed = this.speeds.get(robotId) || DEFAULT_SPEED;
    const graph = this.graph || (this.graph = this.build());
    const best = new Map([[from, 0]]);
    const open = new Set([from]);
    while (open.size) {
      let here = null;
      for (const node of open) if (here === null || best.get(node) < best.get(here)) here = node;
      open.delete(here);
      if (here === to) return best.get(here);
      for (const [next, metres, seconds] of graph.get(here) || []) {
        const total = best.get(here) + metres / speed + seconds;
        if (total < (best.get(next) ?? Infinity)) { best.set(next, total); open.add(next); }
      }
    }
    return null;
  }

  /** waypoint -> [[next, metres, fixed seconds]] over the open lanes and lifts. */
  build() {
    const graph = new Map();
    const add = (a, b, metres, seconds) => { if (!graph.has(a)) graph.set(a, []); graph.get(a).push([b, metres, seconds]); };
    for (const lane of this.ward.lanes) {
      if (this.closed.has(lane.id) || (lane.corridor && this.closed.has(lane.corridor))) continue;
      const a = this.waypoints.get(lane.from), b = this.waypoints.get(lane.to);
      if (!a || !b) continue;
      const metres = Math.hypot(a.x - b.x, a.y - b.y);
      add(a.id, b.id, metres, 0);
      if (!lane.one_way) add(b.id, a.id, metres, 0);
    }
    for (const lift of this.ward.lifts) {
      if (this.closed.has(lift.id)) continue;
      const stops = Object.values(lift.stops);
      for (const a of stops) for (const b of stops) if (a !== b) add(a, b, 0, lift.transfer_time);
    }
    return graph;
  }

  /** The place a task is heading for next (null when it has none now). */
  nextStop(task) {
    const p = task.progress || {};
    switch (task.kind) {
      case 'meal_delivery': {
        if (!p.loaded) return p.kitchen || null;
        const done = new Set([...(p.delivered || []), ...(p.missed || [])]);
        return (p.rooms || []).find((room) => !done.has(room)) || null;
      }
      case 'patrol': return (p.checkpoints || [])[p.next_index || 0] || null;
      case 'fall_response': return p.reached_at ? null : p.room;
      case 'go_to': return p.place || null;
      case 'charge': return p.charger || null;
      default: return null;
    }
  }

  /** [place id, ward epoch of arrival] for an active task's next stop, or null. */
  eta(task, robot, now) {
    const stop = this.nextStop(task);
    const place = stop && this.places.get(stop);
    if (!place || !robot || !robot.position || robot.task !== task.id) return null;
    const seconds = this.seconds(robot.id, robot.position, place.waypoint);
    return seconds === null ? null : [stop, now + seconds];
  }
}
