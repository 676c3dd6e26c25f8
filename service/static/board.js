// board.js: the task board (queued / active / done, with robot, place, ETA and delay),
// the one-tap forms staff use all day, and cancelling with a reason.
import {h, name, $, fill} from './dom.js';
import {t, clockTime, duration, wardParts, wardEpoch} from './i18n.js';
import {api, can, clock} from './api.js';
import {state, isFinal, taskSummary, placeText, requester, placeWithFloor} from './state.js';

const COLUMNS = {queued: ['queued', 'assigned'], active: ['active'], done: ['completed', 'failed', 'cancelled']};
const DONE_SHOWN = 12;
const drawn = new Map();   // task id -> {el, signature}

// == the board ===============================================================
export function renderBoard() {
  const tasks = [...state.tasks.values()];
  for (const [column, states] of Object.entries(COLUMNS)) {
    let shown = tasks.filter((task) => states.includes(task.state));
    shown.sort(column === 'done' ? (a, b) => (b.finished_at || 0) - (a.finished_at || 0)
                                 : (a, b) => a.created_at - b.created_at);
    if (column === 'done') shown = shown.slice(0, DONE_SHOWN);
    const list = $(`#col-${column} .cards`);
    shown.forEach((task, index) => {
      const sig = JSON.stringify([task.state, task.robot, task.reason, task.progress, document.documentElement.lang]);
      let entry = drawn.get(task.id);
      if (!entry || entry.signature !== sig) {
        const el = taskCard(task);
        if (entry) entry.el.replaceWith(el);
        entry = {el, signature: sig};
        drawn.set(task.id, entry);
        tickBoard(el);
      }
      if (list.children[index] !== entry.el) list.insertBefore(entry.el, list.children[index] || null);
    });
    while (list.children.length > shown.length) {
      const last = list.lastElementChild;
      drawn.delete(last.dataset.task);
      last.remove();
    }
    $(`#col-${column} .count`).textContent = `(${shown.length})`;
  }
}

export function redrawBoard() {
  for (const entry of drawn.values()) entry.signature = '';
  renderBoard();
}

function taskCard(task) {
  const final = isFinal(task);
  return h('article', {class: `task s-${task.state} pr-${task.priority}`, dataset: {task: task.id, state: task.state}},
    h('header', {},
      h('strong', {class: 'task-kind'}, ...taskSummary(task)),
      h('span', {class: `pill state-${task.state}`}, t(`task.state.${task.state}`))),
    h('p', {class: 'task-robot'}, task.robot ? [t('task.robot'), ' ', name(task.robot)]
                                             : t(final ? 'task.no_robot' : 'task.waiting_robot')),
    final ? null : h('p', {class: 'task-eta', dataset: {eta: task.id}}),
    h('p', {class: 'task-delay', dataset: {delay: task.id}}),
    h('p', {class: 'task-meta'}, clockTime(task.created_at), ' · ', ...requester(task.requested_by),
      task.priority === 'urgent' || task.priority === 'high' ? [' · ', h('strong', {}, t(`priority.task.${task.priority}`))] : null),
    task.state === 'cancelled' && task.reason ? h('p', {class: 'task-reason'}, t('task.reason'), ' ', name(task.reason)) : null,
    !final && can('cancel_task')
      ? h('button', {type: 'button', class: 'cancel', onclick: () => askCancel(task)}, t('task.cancel')) : null);
}

/** ETAs and delays move with the clock and the robots: refreshed in place (once a
 *  second, and when a card is drawn). */
export function tickBoard(root = document) {
  const now = clock.now();
  for (const el of root.querySelectorAll('[data-eta]')) {
    const task = state.tasks.get(el.dataset.eta);
    const robot = task && task.robot && state.robots.get(task.robot);
    const eta = task && task.state === 'active' && state.routes.eta(task, robot, now);
    el.textContent = eta ? t('task.eta', {place: placeText(eta[0]), time: clockTime(eta[1])}) : '';
  }
  for (const el of root.querySelectorAll('[data-delay]')) {
    const task = state.tasks.get(el.dataset.delay);
    el.textContent = task ? delayText(task, now) : '';
    el.classList.toggle('late', Boolean(task && task.kind === 'meal_delivery' && task.due != null
      && (task.finished_at || now) - task.due > ON_TIME));
  }
}

const ON_TIME = 30 * 60;   // a meal counts as on time within 30 min of its slot (the KPI's window)

function delayText(task, now) {
  const end = task.finished_at || now;
  if (task.kind === 'meal_delivery' && task.due != null) {
    const after = end - task.due;
    if (after > ON_TIME) return t('task.late', {d: duration(after - ON_TIME)});
    return after > 60 && isFinal(task) ? t('task.after_slot', {d: duration(after)}) : '';
  }
  if (task.state === 'queued' || task.state === 'assigned') {
    const waited = now - task.created_at;
    return waited > 120 ? t('task.waited', {d: duration(waited)}) : '';
  }
  if (isFinal(task) && task.finished_at) return t('task.took', {d: duration(task.finished_at - task.created_at)});
  return '';
}

// == cancelling with a reason =================================================
let cancelling = null;

function askCancel(task) {
  cancelling = task;
  const dialog = $('#cancel-dialog');
  fill($('#cancel-what'), ...taskSummary(task));
  $('#cancel-form').reset();
  $('#cancel-error').textContent = '';
  dialog.showModal();
}

export function setUpCancel() {
  $('#cancel-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (event.submitter && event.submitter.value === 'back') { $('#cancel-dialog').close(); return; }
    const form = new FormData(event.target);
    const preset = form.get('preset');
    const reason = (form.get('other') || '').trim() || (preset ? t(`cancel.reason.${preset}`) : t('cancel.reason.none'));
    try {
      const task = await api(`/api/tasks/${encodeURIComponent(cancelling.id)}/cancel`, {method: 'POST', body: {reason}});
      state.tasks.set(task.id, task);
      renderBoard();
      $('#cancel-dialog').close();
    } catch (error) {
      $('#cancel-error').textContent = t('form.refused');
    }
  });
}

// == the one-tap forms ==========================================================
const clientId = () => `ui-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
const rooms = () => [...state.places.values()].filter((p) => p.kind === 'resident_room').sort((a, b) => a.id.localeCompare(b.id));
const goals = () => [...state.places.values()].filter((p) => !['bed', 'lift', 'door'].includes(p.kind)).sort((a, b) => a.id.localeCompare(b.id));

function placeOptions(select, places) {
  const keep = select.value;
  fill(select, ...places.map((p) => h('option', {value: p.id}, placeWithFloor(p))));
  if (keep) select.value = keep;
}

/** The areas a patrol can cover: each floor's rooms, and the whole ward. */
function areas() {
  const floors = [...state.ward.floors].sort((a, b) => a.elevation - b.elevation);
  const list = floors.map((floor, i) => ({id: floor.id, label: t('form.area.floor', {n: i + 1}),
    checkpoints: rooms().filter((r) => r.floor === floor.id).map((r) => r.id)}));
  list.push({id: '*', label: t('form.area.all'), checkpoints: rooms().map((r) => r.id)});
  return list.filter((a) => a.checkpoints.length);
}

/** Fill the forms' lists (again after a language change). */
export function fillForms() {
  for (const select of document.querySelectorAll('select[data-places="rooms"]')) placeOptions(select, rooms());
  for (const select of document.querySelectorAll('select[data-places="goals"]')) placeOptions(select, goals());
  const area = $('#patrol-area'), keep = area.value;
  fill(area, ...areas().map((a) => h('option', {value: a.id}, a.label)));
  if (keep) area.value = keep;
  const robot = $('#goto-robot'), chosen = robot.value;
  fill(robot, h('option', {value: ''}, t('form.any_robot')),
    ...[...state.robots.keys()].sort().map((id) => h('option', {value: id, translate: 'no'}, id)));
  robot.value = chosen;
}

/** The next 06:00 in the ward (a night patrol's end). */
function nextMorning(now) {
  const p = wardParts(now);
  const pad = (n) => String(n).padStart(2, '0');
  let end = wardEpoch(`${p.year}-${pad(p.month)}-${pad(p.day)}T06:00`);
  if (end <= now) end += 24 * 3600;
  return end;
}

const REQUESTS = {
  meal: (f) => ({kind: 'meal_delivery', rooms: [f.get('room')]}),
  patrol: (f) => {
    const area = areas().find((a) => a.id === f.get('area'));
    return f.get('when') === 'night'
      ? {kind: 'patrol', checkpoints: area.checkpoints, until: nextMorning(clock.now())}
      : {kind: 'patrol', checkpoints: area.checkpoints, rounds: 1};
  },
  goto: (f) => ({kind: 'go_to', place: f.get('place'), ...(f.get('robot') ? {robot: f.get('robot')} : {})}),
  send: (f) => ({kind: 'go_to', place: f.get('room'), priority: 'high'}),
  fall: (f) => ({kind: 'fall_response', room: f.get('room')}),
};

export function setUpForms() {
  for (const form of document.querySelectorAll('form[data-request]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const status = form.querySelector('.form-status');
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const task = await api('/api/tasks', {method: 'POST',
          body: {id: clientId(), ...REQUESTS[form.dataset.request](new FormData(form))}});
        state.tasks.set(task.id, task);
        renderBoard();
        fill(status, t('form.sent'), ' ', ...taskSummary(task));
        status.className = 'form-status ok';
      } catch (error) {
        fill(status, t('form.refused'));
        status.className = 'form-status bad';
      } finally {
        button.disabled = false;
      }
    });
  }
}
