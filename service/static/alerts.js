// alerts.js: the alert bar, always on top: what, where, how long ago, which robot is on
// its way, one large button to acknowledge and then resolve; escalated alerts stand out.
import {h, name, $} from './dom.js';
import {t, ago, clockTime} from './i18n.js';
import {api, can, clock} from './api.js';
import {state, alertText, placeText} from './state.js';

const ORDER = {high: 0, medium: 1, low: 2};
const drawn = new Map();     // alert id -> {el, signature}
let announced = new Set();

export function sortedAlerts() {
  return [...state.alerts.values()].sort((a, b) =>
    (ORDER[a.priority] ?? 9) - (ORDER[b.priority] ?? 9) || a.raised_at - b.raised_at);
}

/** The robot answering an alert: its own, its task's, or the one a call sent. */
export function robotFor(alert) {
  if (alert.robot_id) return alert.robot_id;
  const task = alert.task_id && state.tasks.get(alert.task_id);
  if (task) return task.robot;
  if (alert.key === 'call_button') {
    const sent = [...state.tasks.values()].find((t) => t.kind === 'go_to' && !['completed', 'failed', 'cancelled'].includes(t.state)
      && (t.places || []).includes(alert.place) && String(t.requested_by).startsWith('device:'));
    return sent ? sent.robot : null;
  }
  return null;
}

function robotLine(alert) {
  const robot = robotFor(alert);
  if (alert.robot_arrived_at) return robot ? [name(robot), ' ', t('alert.robot_there')] : [t('alert.robot_there_anon')];
  if (robot) return [name(robot), ' ', t('alert.robot_coming')];
  return alert.task_id ? [t('alert.robot_finding')] : [];
}

function signature(alert) {
  return JSON.stringify([alert.state, alert.tier, alert.escalations, alert.returns, robotFor(alert),
    alert.robot_arrived_at, alert.acknowledged_by, document.documentElement.lang, can('ack_alert')]);
}

function card(alert) {
  const escalated = alert.escalations > 0 || alert.tier > 0;
  const button = answerButton(alert);
  return h('article', {class: `alert p-${alert.priority}${escalated ? ' escalated' : ''} s-${alert.state}`,
      dataset: {alert: alert.id, key: alert.key, place: alert.place || '', priority: alert.priority, state: alert.state}},
    h('div', {class: 'alert-priority'}, t(`priority.${alert.priority}`)),
    h('div', {class: 'alert-body'},
      h('p', {class: 'alert-what'}, ...alertText(alert)),
      h('p', {class: 'alert-meta'},
        alert.place ? h('strong', {class: 'alert-where'}, placeText(alert.place)) : null,
        h('span', {class: 'alert-ago', dataset: {since: alert.raised_at}}, ago(clock.now() - alert.raised_at)),
        h('span', {class: 'alert-robot'}, ...robotLine(alert)),
        alert.state === 'acknowledged'
          ? h('span', {class: 'alert-state'}, t('alert.acknowledged_at', {time: clockTime(alert.acknowledged_at)}))
          : null,
        escalated ? h('strong', {class: 'alert-escalated'}, '⚠ ', t('alert.escalated', {n: alert.escalations})) : null)),
    button);
}

function answerButton(alert) {
  const action = alert.state === 'raised' ? 'acknowledge' : 'resolve';
  if (!can(action === 'acknowledge' ? 'ack_alert' : 'resolve_alert')) return null;
  const button = h('button', {class: `big answer ${action}`, type: 'button', dataset: {action},
    onclick: async () => {
      button.disabled = true;
      try {
        const answered = await api(`/api/alerts/${encodeURIComponent(alert.id)}/${action}`, {method: 'POST'});
        answered.state === 'resolved' ? state.alerts.delete(answered.id) : state.alerts.set(answered.id, answered);
        renderAlerts();
      } catch (error) {
        button.disabled = false;
        button.title = error.message;
      }
    }}, t(action === 'acknowledge' ? 'alert.acknowledge' : 'alert.resolve'));
  return button;
}

export function renderAlerts() {
  const bar = $('#alert-list');
  const alerts = sortedAlerts();
  const keep = new Set(alerts.map((a) => a.id));
  for (const [id, entry] of drawn) if (!keep.has(id)) { entry.el.remove(); drawn.delete(id); }
  alerts.forEach((alert, index) => {
    const sig = signature(alert);
    let entry = drawn.get(alert.id);
    if (!entry || entry.signature !== sig) {
      const el = card(alert);
      if (entry) entry.el.replaceWith(el);
      entry = {el, signature: sig};
      drawn.set(alert.id, entry);
    }
    if (bar.children[index] !== entry.el) bar.insertBefore(entry.el, bar.children[index] || null);
  });
  $('#alert-none').hidden = alerts.length > 0;
  $('#alert-count').textContent = alerts.length ? t('alert.count', {n: alerts.length}) : '';
  const fresh = alerts.filter((a) => !announced.has(a.id) && a.state === 'raised');
  if (fresh.length) $('#announce').textContent = t('alert.new', {n: fresh.length});
  announced = new Set(alerts.map((a) => a.id));
}

/** Redraw everything (a language change). */
export function redrawAlerts() {
  $('#announce').textContent = '';
  for (const entry of drawn.values()) entry.signature = '';
  renderAlerts();
}

/** Once a second: "how long ago" moves on without redrawing the buttons. */
export function tickAlerts() {
  const now = clock.now();
  for (const el of document.querySelectorAll('.alert-ago')) el.textContent = ago(now - Number(el.dataset.since));
}
