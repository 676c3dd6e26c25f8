// dashboard.js: the staff dashboard. Logs in, loads the ward, follows /api/live and
// draws what changed once per animation frame; views live in their own modules.
import {h, name, $, $$, fill} from './dom.js';
import {t, loadStrings, setLanguage, language, onLanguage, setZone, clockTime} from './i18n.js';
import {api, login, logout, onLoggedOut, session, live, clock, can} from './api.js';
import {state, isFinal} from './state.js';
import {WardMap, ROBOT_STATES} from './map.js';
import {Routes} from './eta.js';
import {renderAlerts, redrawAlerts, tickAlerts, sortedAlerts} from './alerts.js';
import {renderBoard, redrawBoard, tickBoard, fillForms, setUpForms, setUpCancel} from './board.js';
import {renderRobots, redrawRobots} from './robots.js';
import {loadSchedules, renderSchedules, fillScheduleForm, setUpSchedules} from './schedules.js';
import {loadKpis, redrawKpis} from './kpis.js';
import {loadDevices, renderDevices} from './devices.js';
import {fillHistoryForm, setUpHistory, showHistory, renderTasks, renderAudit} from './history.js';

const RECENT = 40;               // finished tasks loaded for the board's "done" column
const KPI_EVERY = 10000;         // ms between refreshes of today's figures (while shown)
const DEVICES_EVERY = 5000;      // ms between refreshes of the devices' health (while shown)
const LARGE = 'carefleet.large';

// Counters the bench and the tests read: messages in, map frames drawn, how long a
// robot's change waited before it was drawn.
const stats = {messages: 0, robotMessages: 0, frames: 0, drawn: 0, waitMax: 0, waitSum: 0, lastDrawnAt: 0,
  reconnects: 0, snapshots: 0};
let newestAt = 0;                 // ward time of the newest robot change received
window.carefleet = {state, stats, clock};

let map = null, link = null, view = 'ward', refreshTimer = null;
const pendingRobots = new Map();  // robot id -> received at (performance.now)
const dirty = new Set();
let frameAsked = false;
const movedRobots = new Set();    // robots whose card is not redrawn yet
const CARDS_EVERY = 250;
let lastCards = 0, cardsTimer = null;

// == drawing once per frame ==================================================
function redraw(...what) {
  for (const item of what) dirty.add(item);
  if (!frameAsked) { frameAsked = true; requestAnimationFrame(frame); }
}

function frame() {
  frameAsked = false;
  if (pendingRobots.size && map) {
    const now = performance.now();
    for (const received of pendingRobots.values()) {
      const waited = now - received;
      stats.waitMax = Math.max(stats.waitMax, waited);
      stats.waitSum += waited;
    }
    const ids = [...pendingRobots.keys()];
    pendingRobots.clear();
    map.setRobots(ids.map((id) => state.robots.get(id)));
    stats.frames += 1;
    stats.drawn += ids.length;
    stats.lastDrawnAt = Math.max(stats.lastDrawnAt, newestAt);
    for (const id of ids) movedRobots.add(id);
  }
  if (dirty.has('alerts')) {
    dirty.delete('alerts');
    renderAlerts();
    const alarms = new Map();
    for (const alert of sortedAlerts()) if (alert.place && !alarms.has(alert.place)) alarms.set(alert.place, alert.priority);
    map?.setAlarms(alarms);
  }
  // The map moves every frame; the board and the robot cards (text to read, not to
  // watch move) at most every CARDS_EVERY ms, and only while they are shown.
  if (view === 'ward' && (dirty.has('tasks') || dirty.has('robots') || movedRobots.size)) {
    const wait = lastCards + CARDS_EVERY - performance.now();
    if (wait > 0) { if (!cardsTimer) cardsTimer = setTimeout(() => { cardsTimer = null; redraw(); }, wait); return; }
    lastCards = performance.now();
    if (dirty.has('tasks')) renderBoard();
    if (dirty.has('robots')) renderRobots(); else if (movedRobots.size) renderRobots([...movedRobots]);
    movedRobots.clear();
    dirty.delete('tasks');
    dirty.delete('robots');
  }
}

// == the live link ===========================================================
function onSnapshot(snapshot) {
  stats.snapshots += 1;
  if (stats.snapshots > 1) stats.reconnects += 1;
  state.robots = new Map(snapshot.robots.map((r) => [r.id, r]));
  for (const [id, task] of state.tasks) if (!isFinal(task)) state.tasks.delete(id);
  for (const task of snapshot.tasks) state.tasks.set(task.id, task);
  state.alerts = new Map(snapshot.alerts.map((a) => [a.id, a]));
  for (const robot of snapshot.robots) pendingRobots.set(robot.id, performance.now());
  if (stats.snapshots > 1) loadRecent();          // what finished while we were away
  fillForms();
  redraw('alerts', 'tasks', 'robots');
}

function onChange(message) {
  stats.messages += 1;
  switch (message.type) {
    case 'robot': {
      stats.robotMessages += 1;
      const robot = message.robot;
      state.routes.observe(robot, message.at);
      newestAt = Math.max(newestAt, message.at);
      state.robots.set(robot.id, robot);
      if (!pendingRobots.has(robot.id)) pendingRobots.set(robot.id, performance.now());
      redraw();
      break;
    }
    case 'task':
      state.tasks.set(message.task.id, message.task);
      trimDone();
      redraw('tasks', 'alerts');
      break;
    case 'alert':
      if (message.alert.state === 'resolved') state.alerts.delete(message.alert.id);
      else state.alerts.set(message.alert.id, message.alert);
      redraw('alerts');
      break;
    case 'closures':
      map.setClosed(message.closed);
      state.routes.setClosed(message.closed);
      break;
  }
}

function onLink(now) {
  state.link = now;
  const banner = $('#conn');
  banner.hidden = now === 'live';
  banner.textContent = t('conn.lost');
  document.body.dataset.link = now;
}

function trimDone() {
  const done = [...state.tasks.values()].filter(isFinal).sort((a, b) => (b.finished_at || 0) - (a.finished_at || 0));
  for (const task of done.slice(RECENT)) state.tasks.delete(task.id);
}

async function loadRecent() {
  const recent = await api(`/api/tasks?limit=${RECENT}`);
  for (const task of recent) if (isFinal(task) || !state.tasks.has(task.id)) state.tasks.set(task.id, task);
  trimDone();
  redraw('tasks');
}

// == views ===================================================================
function show(next) {
  view = next;
  for (const tab of $$('#tabs [data-view]')) tab.dataset.view === next ? tab.setAttribute('aria-current', 'page') : tab.removeAttribute('aria-current');
  for (const panel of $$('[data-panel]')) panel.hidden = panel.dataset.panel !== next;
  clearInterval(refreshTimer);
  if (next === 'ward') { lastCards = 0; redraw('tasks', 'robots'); }
  if (next === 'schedules') loadSchedules();
  if (next === 'today') { loadKpis(); refreshTimer = setInterval(loadKpis, KPI_EVERY); }
  if (next === 'devices') { loadDevices(); refreshTimer = setInterval(loadDevices, DEVICES_EVERY); }
  if (next === 'history') showHistory();
}

function tick() {
  $('#ward-clock').textContent = t('ui.ward_time', {time: clockTime(clock.now())});
  tickAlerts();
  if (view === 'ward') tickBoard();
}

function legend() {
  fill($('#map-legend'), ...ROBOT_STATES.map((s) => h('span', {class: `legend-item state-${s}`},
    h('span', {class: 'legend-dot', 'aria-hidden': 'true'}), t(`robot.state.${s}`))),
  h('span', {class: 'legend-item alarm-high'}, h('span', {class: 'legend-dot', 'aria-hidden': 'true'}), t('map.alarm.high')),
  h('span', {class: 'legend-item alarm-medium'}, h('span', {class: 'legend-dot', 'aria-hidden': 'true'}), t('map.alarm.medium')),
  h('span', {class: 'legend-item alarm-low'}, h('span', {class: 'legend-dot', 'aria-hidden': 'true'}), t('map.alarm.low')),
  h('span', {class: 'legend-item closed'}, h('span', {class: 'legend-dot', 'aria-hidden': 'true'}), t('map.closed')));
  const floors = [...state.ward.floors].sort((a, b) => a.elevation - b.elevation);
  const current = $('#floor-buttons [aria-pressed=true]')?.dataset.floor ?? '';
  fill($('#floor-buttons'), ...[{id: '', label: t('map.all_floors')}, ...floors.map((f, i) => ({id: f.id, label: t('floor.n', {n: i + 1})}))]
    .map((f) => h('button', {type: 'button', class: 'small', dataset: {floor: f.id}, 'aria-pressed': String(f.id === current),
      onclick: (event) => {
        for (const b of $$('#floor-buttons button')) b.setAttribute('aria-pressed', String(b === event.currentTarget));
        map.showFloor(f.id || null);
      }}, f.label)));
}

// == language and large mode ===================================================
function languageButton() {
  const other = language() === 'zh' ? 'en' : 'zh';
  const button = $('#lang');
  button.textContent = other === 'zh' ? '中文' : 'English';
  button.lang = other === 'zh' ? 'zh-CN' : 'en';
  button.setAttribute('translate', 'no');
  button.dataset.switchTo = other;
}

function setLarge(on) {
  document.documentElement.classList.toggle('large', on);
  localStorage.setItem(LARGE, on ? '1' : '0');
  $('#large').setAttribute('aria-pressed', String(on));
}

onLanguage(() => {
  languageButton();
  if (!state.ward) return;
  map.render();
  map.setRobots([...state.robots.values()]);
  legend();
  fillForms();
  fillScheduleForm();
  fillHistoryForm();
  redrawAlerts();
  redrawBoard();
  redrawRobots();
  renderSchedules();
  redrawKpis();
  renderDevices();
  renderTasks();
  renderAudit();
  showWho();
  tick();
});

function showWho() {
  fill($('#who'), name(session.me.name), ' · ', t(`role.${session.me.role}`));
}

// == logging in ================================================================
async function start() {
  session.me = await api('/api/me');
  state.ward = await api('/api/ward');
  setZone(state.ward.timezone);
  state.places = new Map(state.ward.places.map((p) => [p.id, p]));
  state.routes = new Routes(state.ward);
  $('#ward-name').textContent = state.ward.name;
  document.body.dataset.role = session.me.role;
  for (const el of $$('[data-needs]')) el.hidden = !can(el.dataset.needs);
  map = new WardMap($('#map'), state.ward);
  window.carefleet.map = map;
  legend();
  showWho();
  fillScheduleForm();
  fillHistoryForm();
  loadKpis().catch(() => {});
  await loadRecent();
  $('#login-view').hidden = true;
  $('#app').hidden = false;
  show('ward');
  link = live({onSnapshot, onChange, onState: onLink});
}

function showLogin() {
  link?.close();
  link = null;
  state.ward = null;
  $('#app').hidden = true;
  $('#conn').hidden = true;
  $('#logout').hidden = true;
  $('#login-view').hidden = false;
  $('#login-form').elements.username.focus();
}

async function boot() {
  await loadStrings();
  languageButton();
  setLarge(localStorage.getItem(LARGE) === '1');
  $('#lang').addEventListener('click', () => setLanguage($('#lang').dataset.switchTo));
  $('#large').addEventListener('click', () => setLarge(!document.documentElement.classList.contains('large')));
  $('#logout').addEventListener('click', () => logout());
  for (const tab of $$('#tabs [data-view]')) tab.addEventListener('click', () => show(tab.dataset.view));
  onLoggedOut(showLogin);
  setUpForms();
  setUpCancel();
  setUpSchedules();
  setUpHistory();
  $('#login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    $('#login-error').textContent = '';
    try {
      await login(form.elements.username.value.trim(), form.elements.password.value);
      form.reset();
      await start();
    } catch (error) {
      $('#login-error').textContent = t(error.status === 429 ? 'login.throttled' : error.status === 401 ? 'login.wrong' : 'login.failed');
    }
  });
  setInterval(tick, 1000);
  document.body.dataset.ready = 'true';
  if (session.token) {
    try { await start(); return; } catch { /* the token is no good any more */ }
  }
  showLogin();
}

boot();
