// state.js: what the page knows of the ward (filled from the API and /api/live), and
// the few ways every view names things from it.
import {h, name} from './dom.js';
import {t, tNodes, placeName} from './i18n.js';

export const state = {
  ward: null,
  places: new Map(),      // id -> place
  robots: new Map(),      // id -> robot view
  tasks: new Map(),       // id -> task view (open ones, and recently finished ones)
  alerts: new Map(),      // id -> open alert
  schedules: [],
  routes: null,           // eta.js Routes
  link: 'connecting',     // 'live' | 'down' | 'connecting'
};

export const FINAL = ['completed', 'failed', 'cancelled'];
export const isFinal = (task) => FINAL.includes(task.state);

export const place = (id) => state.places.get(id);
export const placeText = (id) => (state.places.has(id) ? placeName(state.places.get(id)) : id);

/** A place for a list to pick from: rooms by name, other places with their floor too
 *  (every floor has its "Bathroom"). */
export function placeWithFloor(p) {
  if (p.kind === 'resident_room') return placeName(p);
  const floors = [...state.ward.floors].sort((a, b) => a.elevation - b.elevation);
  return `${placeName(p)} · ${t('floor.n', {n: floors.findIndex((f) => f.id === p.floor) + 1})}`;
}

/** Places a task is about, in the order it serves them. */
export function taskPlaces(task) {
  const p = task.progress || {};
  const ordered = [...(p.rooms || []), ...(p.checkpoints || []), p.room, p.place, p.charger].filter(Boolean);
  return [...new Set(ordered.length ? ordered : task.places || [])];
}

export function listOfPlaces(ids, most = 4) {
  const names = ids.slice(0, most).map(placeText);
  const more = ids.length - names.length;
  return names.join(t('list.sep')) + (more > 0 ? t('list.more', {n: more}) : '');
}

/** "Meal · Room 203" as nodes. */
export function taskSummary(task) {
  return [t(`kind.${task.kind}`), ' · ', listOfPlaces(taskPlaces(task))];
}

/** An alert's text in the page's language, rendered from its key and params. */
export function alertText(alert) {
  const p = alert.params || {};
  const values = {};
  for (const [key, value] of Object.entries(p)) values[key] = name(value);
  if (alert.place) values.place = placeText(alert.place);
  if (p.task !== undefined) {
    const task = alert.task_id && state.tasks.get(alert.task_id);
    values.task = task ? h('span', {}, ...taskSummary(task))
                       : h('span', {}, t('task.ref'), ' ', name(alert.task_id || p.task));
  }
  if (typeof p.source === 'string') {
    values.source = p.source.startsWith('staff:')
      ? h('span', {}, t('source.staff'), ' ', name(p.source.slice(6)))
      : p.source.startsWith('device:') ? t('source.device') : name(p.source || '–');
  }
  return tNodes(`msg.${alert.key}`, values);
}

/** Who or what asked: "staff anna", "schedule lunch", "call button 203号房" ... */
const ASKERS = {staff: 'who.staff', schedule: 'who.schedule', device: 'who.device', robot: 'who.robot',
  orchestrator: 'who.orchestrator', rule: 'who.rule', scenario: 'who.scenario'};

export function requester(text) {
  const [kind, ...rest] = String(text || '').split(':');
  if (!ASKERS[kind]) return [name(text)];
  let who = rest.join(':');
  while (who.startsWith('device:')) who = who.slice(7);
  if (state.places.has(who)) return [t(ASKERS[kind]), ' ', placeText(who)];
  return who ? [t(ASKERS[kind]), ' ', name(who)] : [t(ASKERS[kind])];
}
