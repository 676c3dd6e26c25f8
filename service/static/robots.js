// robots.js: one card per robot: state, battery, current task and queue, pause/resume.
import {h, name, $} from './dom.js';
import {t} from './i18n.js';
import {api, can} from './api.js';
import {state, taskSummary, placeText} from './state.js';

const drawn = new Map();   // robot id -> {el, signature}

function summary(id) {
  const task = id && state.tasks.get(id);
  return task ? taskSummary(task) : [t('task.ref'), ' ', name(id)];
}

function card(robot) {
  const battery = Math.round(Math.max(0, Math.min(1, robot.battery)) * 100);
  const level = battery < 20 ? 'low' : battery < 50 ? 'mid' : 'ok';
  return h('article', {class: `robot-card state-${robot.state}${robot.held ? ' held' : ''}`,
      dataset: {robot: robot.id, state: robot.state}},
    h('header', {},
      h('h3', {}, name(robot.id)),
      h('span', {class: `pill state-${robot.state}`}, t(`robot.state.${robot.state}`)),
      robot.held ? h('span', {class: 'pill held'}, t('robot.paused')) : null),
    h('div', {class: 'battery', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': battery,
        'aria-label': t('robot.battery')},
      h('span', {class: `battery-fill ${level}`, style: `width:${battery}%`})),
    h('p', {class: 'battery-text'}, t('robot.battery_is', {n: battery})),
    h('p', {}, robot.task ? [t('robot.doing'), ' ', ...summary(robot.task)] : t('robot.no_task')),
    robot.queue.length ? h('p', {class: 'robot-queue'}, t('robot.queue', {n: robot.queue.length}), ' ',
      ...robot.queue.slice(0, 3).flatMap((id, i) => [i ? t('list.sep') : '', ...summary(id)])) : null,
    robot.position && state.ward ? h('p', {class: 'robot-where'}, t('robot.near', {place: nearest(robot)})) : null,
    robot.error ? h('p', {class: 'robot-error'}, t('robot.error'), ' ', name(robot.error)) : null,
    can('pause_robot') ? h('button', {type: 'button', class: robot.held ? 'resume' : 'pause',
      onclick: (event) => hold(robot, event.currentTarget)}, t(robot.held ? 'robot.resume' : 'robot.pause')) : null);
}

/** The place nearest the robot's waypoint (a name staff know, not a graph node). */
function nearest(robot) {
  const here = state.routes.waypoints.get(robot.position);
  if (!here) return '–';
  let best = null, bestDistance = Infinity;
  for (const place of state.places.values()) {
    if (place.floor !== here.floor || place.kind === 'bed') continue;
    const d = place.waypoint === here.id ? -1 : Math.hypot(place.x - here.x, place.y - here.y);
    if (d < bestDistance) { best = place; bestDistance = d; }
  }
  return best ? placeText(best.id) : '–';
}

async function hold(robot, button) {
  button.disabled = true;
  try {
    const view = await api(`/api/robots/${encodeURIComponent(robot.id)}/${robot.held ? 'resume' : 'pause'}`, {method: 'POST'});
    state.robots.set(view.id, view);
    renderRobots([view.id]);
  } catch {
    button.disabled = false;
  }
}

/** Redraw the cards of these robots (all when not given). */
export function renderRobots(ids = null) {
  const list = $('#robot-cards');
  const all = [...state.robots.keys()].sort();
  for (const id of ids || all) {
    const robot = state.robots.get(id);
    if (!robot) continue;
    const sig = JSON.stringify([robot.state, Math.round(robot.battery * 100), robot.task, robot.queue, robot.held,
      robot.error, robot.position, document.documentElement.lang]);
    const entry = drawn.get(id);
    if (entry && entry.signature === sig) continue;
    const el = card(robot);
    if (entry) entry.el.replaceWith(el);
    drawn.set(id, {el, signature: sig});
  }
  all.forEach((id, index) => {
    const el = drawn.get(id)?.el;
    if (el && list.children[index] !== el) list.insertBefore(el, list.children[index] || null);
  });
}

export function redrawRobots() {
  for (const entry of drawn.values()) entry.signature = '';
  renderRobots();
}
