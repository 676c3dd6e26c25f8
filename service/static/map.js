// map.js: the live ward map, an SVG drawn from /api/ward: floors side by side, rooms
// with their numbers, lanes (closed ones struck through), the lift between floors,
// robots moving with their state and battery, and rooms with an open alert flashing.
import {h} from './dom.js';
import {t, placeName, floorName} from './i18n.js';

const MARGIN = 2.5, GAP = 4, TITLE = 3, ROOM = 3;
const SYMBOL = {idle: '●', navigating: '➜', performing: '⚙', charging: '⚡', fault: '!',
  emergency_stop: '■', offline: '?'};
export const ROBOT_STATES = Object.keys(SYMBOL);
const s = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

export class WardMap {
  constructor(container, ward) {
    this.container = container;
    this.ward = ward;
    this.robots = new Map();          // id -> {group, level, pos}
    this.closed = new Set(ward.closed || []);
    this.alarms = new Map();          // place id -> priority
    this.updates = 0;                 // robot redraws applied (for the bench)
    this.layout();
    this.render();
  }

  /** Where each floor goes: side by side, each in its own box, y pointing up. */
  layout() {
    const floors = [...this.ward.floors].sort((a, b) => a.elevation - b.elevation);
    this.boxes = new Map();
    let left = 0;
    floors.forEach((floor, index) => {
      const points = [...this.ward.waypoints, ...this.ward.places].filter((p) => p.floor === floor.id);
      const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
      const box = {floor, index, minX: Math.min(...xs) - MARGIN, maxX: Math.max(...xs) + MARGIN,
        minY: Math.min(...ys) - MARGIN, maxY: Math.max(...ys) + MARGIN, left};
      box.width = box.maxX - box.minX;
      box.height = box.maxY - box.minY + TITLE;
      this.boxes.set(floor.id, box);
      left += box.width + GAP;
    });
    this.width = left - GAP;
    this.height = Math.max(...[...this.boxes.values()].map((b) => b.height));
    this.waypoints = new Map(this.ward.waypoints.map((w) => [w.id, w]));
  }

  /** Map metres on a floor -> SVG user units. */
  at(floor, x, y) {
    const box = this.boxes.get(floor);
    return [box.left + x - box.minX, TITLE + box.maxY - y];
  }

  /** Draw everything but the robots' positions (again after a language change). */
  render() {
    const svg = s('svg', {viewBox: `0 0 ${this.width} ${this.height}`, role: 'img', class: 'ward-map',
      'aria-label': t('map.title'), preserveAspectRatio: 'xMidYMin meet'});
    this.svg = svg;
    for (const box of this.boxes.values()) {
      svg.append(s('rect', {class: 'floor-bg', x: box.left, y: 0, width: box.width, height: this.height, rx: 1}),
        s('text', {class: 'floor-name', x: box.left + 1, y: 2.2}, floorName(box.floor, box.index)));
    }
    this.lanes = new Map();
    for (const lane of this.ward.lanes) {
      const a = this.waypoints.get(lane.from), b = this.waypoints.get(lane.to);
      if (!a || !b || a.floor !== b.floor) continue;
      const [x1, y1] = this.at(a.floor, a.x, a.y), [x2, y2] = this.at(b.floor, b.x, b.y);
      const line = s('line', {x1, y1, x2, y2, class: `lane${lane.door ? ' door' : ''}${lane.one_way ? ' one-way' : ''}`});
      const cross = s('text', {x: (x1 + x2) / 2, y: (y1 + y2) / 2 + 0.5, class: 'closed-mark'}, '✕');
      svg.append(line, cross);
      this.lanes.set(lane.id, {lane, line, cross});
    }
    this.drawLifts(svg);
    this.places = new Map();
    for (const place of this.ward.places) this.drawPlace(svg, place);
    this.robotLayer = s('g', {class: 'robots'});
    svg.append(this.robotLayer);
    for (const [id, robot] of this.robots) this.robotLayer.append(robot.group);
    this.container.replaceChildren(svg);
    this.showClosed();
    this.showAlarms();
  }

  drawLifts(svg) {
    for (const lift of this.ward.lifts) {
      const stops = Object.entries(lift.stops).map(([floor, wp]) => this.waypoints.get(wp))
        .filter(Boolean).map((w) => this.at(w.floor, w.x, w.y));
      const group = s('g', {class: `lift${lift.closed ? ' closed' : ''}`, dataset: {lift: lift.id}});
      stops.forEach(([x, y], i) => {
        group.append(s('rect', {x: x - 1.2, y: y - 1.2, width: 2.4, height: 2.4, class: 'lift-car'}),
          s('text', {x, y: y - 1.8, class: 'place-label'}, t('map.lift')));
        if (i > 0) {
          const [px, py] = stops[i - 1];
          const low = this.height - 0.6;
          group.append(s('path', {class: 'lift-shaft', d: `M${px},${py + 1.2} V${low} H${x} V${y + 1.2}`}));
        }
      });
      group.append(s('text', {x: stops[0][0], y: stops[0][1] + 0.5, class: 'closed-mark'}, '✕'));
      svg.append(group);
      this.liftGroups = [...(this.liftGroups || []).filter((g) => g.dataset.lift !== lift.id), group];
    }
  }

  drawPlace(svg, place) {
    if (['bed', 'lift', 'door'].includes(place.kind)) return;
    const [x, y] = this.at(place.floor, place.x, place.y);
    const group = s('g', {class: `place kind-${place.kind}`, dataset: {place: place.id}});
    if (place.kind === 'resident_room') {
      const number = (place.label.match(/(\d+)\D*$/) || [])[1];
      group.append(s('rect', {class: 'halo', x: x - ROOM / 2 - 0.6, y: y - ROOM / 2 - 0.6, width: ROOM + 1.2, height: ROOM + 1.2, rx: 0.8}),
        s('rect', {class: 'room', x: x - ROOM / 2, y: y - ROOM / 2, width: ROOM, height: ROOM, rx: 0.4}),
        s('text', {class: 'room-label', x, y: y + 0.45}, number || placeName(place)));
    } else {
      group.append(s('circle', {class: 'halo', cx: x, cy: y, r: 1.6}),
        s('circle', {class: 'spot', cx: x, cy: y, r: 0.6}),
        s('text', {class: 'place-label', x, y: y - 1.1}, placeName(place)));
    }
    group.append(s('title', {}, placeName(place)));
    svg.append(group);
    this.places.set(place.id, group);
  }

  /** Closed passages: names of lanes, corridors or lifts (the ``closures`` message). */
  setClosed(closed) {
    this.closed = new Set(closed);
    this.showClosed();
  }

  showClosed() {
    for (const {lane, line, cross} of this.lanes.values()) {
      const shut = this.closed.has(lane.id) || (lane.corridor && this.closed.has(lane.corridor));
      line.classList.toggle('closed', Boolean(shut));
      cross.classList.toggle('shown', Boolean(shut));
    }
    for (const group of this.liftGroups || []) group.classList.toggle('closed', this.closed.has(group.dataset.lift));
  }

  /** Rooms with an open alert: place id -> 'high' | 'medium' | 'low'. */
  setAlarms(alarms) {
    this.alarms = alarms;
    this.showAlarms();
  }

  showAlarms() {
    for (const [id, group] of this.places) {
      const priority = this.alarms.get(id);
      group.classList.remove('alarm-high', 'alarm-medium', 'alarm-low');
      if (priority) group.classList.add(`alarm-${priority}`);
      group.dataset.alarm = priority || '';
    }
  }

  /** Move, add or recolour robots (called once per animation frame with what changed). */
  setRobots(robots) {
    for (const robot of robots) {
      let drawn = this.robots.get(robot.id);
      if (!drawn) {
        const level = s('rect', {class: 'battery-level', x: -1.2, y: 1.5, height: 0.55, width: 2.4});
        const symbol = s('text', {class: 'robot-symbol', y: 0.45});
        const group = s('g', {class: 'robot', dataset: {robot: robot.id}},
          s('circle', {class: 'robot-body', r: 1.1}), symbol,
          s('rect', {class: 'battery-bg', x: -1.25, y: 1.45, height: 0.65, width: 2.5}), level,
          s('text', {class: 'robot-label', y: -1.5, translate: 'no'}, robot.id));
        drawn = {group, level, symbol};
        this.robots.set(robot.id, drawn);
        this.robotLayer.append(group);
      }
      drawn.robot = robot;
      drawn.group.setAttribute('class', `robot state-${robot.state}${robot.held ? ' held' : ''}`);
      drawn.symbol.textContent = SYMBOL[robot.state] || '?';
      const battery = Math.max(0, Math.min(1, robot.battery));
      drawn.level.setAttribute('width', (2.4 * battery).toFixed(2));
      drawn.level.setAttribute('class', `battery-level ${battery < 0.2 ? 'low' : battery < 0.5 ? 'mid' : 'ok'}`);
      drawn.group.dataset.pos = robot.position || '';
      drawn.group.dataset.battery = Math.round(battery * 100);
      drawn.group.dataset.state = robot.state;
    }
    this.place();
    this.updates += 1;
  }

  /** Put each robot at its pose; robots sharing a spot stand in a small ring. */
  place() {
    const byPos = new Map();
    for (const drawn of this.robots.values()) {
      const pose = drawn.robot.pose;
      if (!pose || !this.boxes.has(pose.floor)) { drawn.group.style.display = 'none'; continue; }
      const key = `${pose.floor}:${pose.x}:${pose.y}`;
      if (!byPos.has(key)) byPos.set(key, []);
      byPos.get(key).push(drawn);
    }
    for (const group of byPos.values()) {
      group.sort((a, b) => a.robot.id.localeCompare(b.robot.id));
      group.forEach((drawn, i) => {
        const pose = drawn.robot.pose;
        let [x, y] = this.at(pose.floor, pose.x, pose.y);
        if (group.length > 1) {
          const angle = (2 * Math.PI * i) / group.length, radius = 1.4 + 0.12 * group.length;
          x += radius * Math.cos(angle);
          y += radius * Math.sin(angle);
        }
        drawn.group.style.display = '';
        drawn.group.style.transform = `translate(${x.toFixed(2)}px, ${y.toFixed(2)}px)`;
      });
    }
  }

  /** Show one floor (its id) or all of them (null). */
  showFloor(floorId) {
    const box = floorId && this.boxes.get(floorId);
    this.svg.setAttribute('viewBox', box ? `${box.left} 0 ${box.width} ${this.height}` : `0 0 ${this.width} ${this.height}`);
  }
}
