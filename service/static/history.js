// history.js: past tasks and the audit log, searched by time, kind, room, robot or text,
// and exported as CSV (made here from what is shown, so it needs no second request).
import {h, name, $, fill} from './dom.js';
import {t, dateTime, wardEpoch, wardParts, locale} from './i18n.js';
import {clock} from './api.js';
import {api} from './api.js';
import {state, taskPlaces, listOfPlaces, requester, placeWithFloor} from './state.js';

const SHOWN = 300;
let tasks = [], audit = [];
let asked = {tasks: 0, audit: 0};    // only the newest search's answer is shown

export function fillHistoryForm() {
  const form = $('#history-form');
  const keep = {kind: form.elements.kind.value, state: form.elements.state.value,
    room: form.elements.room.value, robot: form.elements.robot.value, day: form.elements.day.value};
  fill(form.elements.kind, h('option', {value: ''}, t('history.any')),
    ...['meal_delivery', 'patrol', 'fall_response', 'go_to', 'charge'].map((k) => h('option', {value: k}, t(`kind.${k}`))));
  fill(form.elements.state, h('option', {value: ''}, t('history.any')),
    ...['queued', 'assigned', 'active', 'completed', 'failed', 'cancelled'].map((s) => h('option', {value: s}, t(`task.state.${s}`))));
  const rooms = [...state.places.values()].filter((p) => p.kind !== 'bed').sort((a, b) => a.id.localeCompare(b.id));
  fill(form.elements.room, h('option', {value: ''}, t('history.any')), ...rooms.map((p) => h('option', {value: p.id}, placeWithFloor(p))));
  fill(form.elements.robot, h('option', {value: ''}, t('history.any')),
    ...[...state.robots.keys()].sort().map((id) => h('option', {value: id, translate: 'no'}, id)));
  Object.entries(keep).forEach(([key, value]) => { form.elements[key].value = value; });
  const audit = $('#audit-form').elements.day, auditDay = audit.value;
  fillDays(form.elements.day);
  fillDays(audit);
  form.elements.day.value = keep.day;
  audit.value = auditDay;
}

const pad = (n) => String(n).padStart(2, '0');

/** The last two weeks as ward-local days: value "YYYY-MM-DD", shown in the page's language. */
function fillDays(select) {
  const today = wardParts(clock.now());
  const noon = Date.UTC(today.year, today.month - 1, today.day, 12) / 1000;
  const format = new Intl.DateTimeFormat(locale(), {timeZone: 'UTC', month: 'long', day: 'numeric', weekday: 'short'});
  fill(select, h('option', {value: ''}, t('history.any_day')),
    ...Array.from({length: 14}, (_, back) => {
      const day = new Date((noon - back * 86400) * 1000);
      const value = `${day.getUTCFullYear()}-${pad(day.getUTCMonth() + 1)}-${pad(day.getUTCDate())}`;
      const label = back === 0 ? t('history.today') : back === 1 ? t('history.yesterday') : format.format(day);
      return h('option', {value}, label);
    }));
}

/** [from, to] epochs of a chosen ward-local day (nothing when none is chosen). */
function dayRange(value) {
  if (!value) return [];
  const from = wardEpoch(`${value}T00:00`);
  return [from, wardEpoch(`${value}T23:59`) + 60];
}

async function searchTasks(event) {
  event?.preventDefault();
  const f = $('#history-form').elements, query = new URLSearchParams({limit: '1000'});
  for (const key of ['kind', 'state', 'room', 'robot']) if (f[key].value) query.set(key, f[key].value);
  const [since, until] = dayRange(f.day.value);
  if (since) query.set('since', since);
  if (until) query.set('until', until);
  const mine = ++asked.tasks;
  const found = await api(`/api/tasks?${query}`);
  if (mine !== asked.tasks) return;
  tasks = found;
  renderTasks();
}

export function renderTasks() {
  fill($('#history-rows'), ...tasks.slice(0, SHOWN).map((task) => h('tr', {dataset: {task: task.id}},
    h('td', {}, dateTime(task.created_at)),
    h('td', {}, t(`kind.${task.kind}`)),
    h('td', {}, listOfPlaces(taskPlaces(task), 3)),
    h('td', {}, task.robot ? name(task.robot) : '–'),
    h('td', {}, t(`task.state.${task.state}`)),
    h('td', {}, ...requester(task.requested_by)),
    h('td', {}, task.finished_at ? dateTime(task.finished_at) : '–'))));
  $('#history-found').textContent = t('history.found', {n: tasks.length});
}

async function searchAudit(event) {
  event?.preventDefault();
  const f = $('#audit-form').elements, query = new URLSearchParams();
  const [since, until] = dayRange(f.day.value);
  if (since) query.set('from', since);
  if (until) query.set('to', until);
  const mine = ++asked.audit;
  const rows = parseCsv(await api(`/api/audit.csv?${query}`, {text: true}));
  if (mine !== asked.audit) return;
  audit = rows.slice(1).filter((row) => row.length > 1);
  renderAudit();
}

function auditShown() {
  const needle = $('#audit-form').elements.text.value.trim().toLowerCase();
  return needle ? audit.filter((row) => row.some((cell) => cell.toLowerCase().includes(needle))) : audit;
}

export function renderAudit() {
  const rows = auditShown();
  fill($('#audit-rows'), ...rows.slice(-SHOWN).reverse().map((row) => h('tr', {},
    h('td', {}, dateTime(Number(row[0]))), h('td', {}, name(row[2])), h('td', {}, name(row[3])),
    h('td', {}, name(row[4] || '–')), h('td', {}, name(row[5] || '–')), h('td', {class: 'detail'}, name(row[6])))));
  $('#audit-found').textContent = t('history.found', {n: rows.length});
}

// == CSV ========================================================================
export function parseCsv(text) {
  const rows = [];
  let row = [], cell = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

const quote = (value) => {
  const text = value == null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

function download(filename, rows) {
  const blob = new Blob(['\ufeff' + rows.map((r) => r.map(quote).join(',')).join('\r\n') + '\r\n'], {type: 'text/csv;charset=utf-8'});
  const link = h('a', {href: URL.createObjectURL(blob), download: filename});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

export function setUpHistory() {
  $('#history-form').addEventListener('submit', searchTasks);
  $('#audit-form').addEventListener('submit', searchAudit);
  $('#audit-form').elements.text.addEventListener('input', renderAudit);
  $('#history-export').addEventListener('click', () => download('tasks.csv', [
    ['id', 'created', 'created_local', 'kind', 'state', 'priority', 'robot', 'places', 'requested_by', 'finished_at', 'reason'],
    ...tasks.map((task) => [task.id, task.created_at, task.created_local, task.kind, task.state, task.priority,
      task.robot || '', taskPlaces(task).join(' '), task.requested_by, task.finished_at || '', task.reason])]));
  $('#audit-export').addEventListener('click', () => download('audit.csv', [
    ['time', 'local_time', 'who', 'what', 'task', 'robot', 'detail'], ...auditShown()]));
}

export const showHistory = () => Promise.all([searchTasks(), searchAudit()]);
