// devices.js: the ward's devices with their health, the ones waiting to be paired
// (an admin types the code a device shows, or rejects it), refusals and the rules in force.
import {h, name, $, fill} from './dom.js';
import {t, tNodes, ago, duration} from './i18n.js';
import {api, can} from './api.js';
import {state, placeWithFloor} from './state.js';

const devices = {listing: null, rules: []};
const BAD_HEALTH = new Set(['silent', 'battery_low', 'gone', 'needs_pairing']);

/** Fetch the listing and the rules (the view refreshes while it is shown). */
export async function loadDevices() {
  const [listing, rules] = await Promise.all([api('/api/devices'), api('/api/devices/rules')]);
  devices.listing = listing;
  devices.rules = rules.rules;
  renderDevices();
}

const where = (d) => (d.resident ? t('dev.resident', {name: d.resident})
  : d.room && state.places.has(d.room) ? placeWithFloor(state.places.get(d.room)) : d.room ? name(d.room) : '–');

function health(d) {
  const value = d.health || 'unknown';
  return h('span', {class: `pill health-${value}${BAD_HEALTH.has(value) ? ' bad' : ''}`}, t(`dev.health.${value}`));
}

const battery = (d) => (d.battery == null ? '–' : `${Math.round(d.battery * 100)} %`);
const heard = (d) => (d.last_seen == null ? '–' : ago(Math.max(0, Date.now() / 1000 - d.last_seen)));

export function renderDevices() {
  const listing = devices.listing;
  if (!listing) return;
  const admin = can('manage_devices');
  const paired = [...listing.paired].sort((a, b) => a.id.localeCompare(b.id));
  fill($('#device-rows'), ...paired.map((d) => h('tr', {dataset: {device: d.id, health: d.health || 'unknown'}},
    h('td', {}, name(d.id)), h('td', {}, t(`dev.kind.${d.kind}`)), h('td', {}, where(d)),
    h('td', {}, health(d)), h('td', {}, battery(d)), h('td', {}, heard(d)), h('td', {}, String(d.refused || 0)),
    h('td', {}, admin ? h('button', {type: 'button', class: 'small danger unpair', onclick: () => unpair(d)}, t('dev.unpair')) : null))));
  $('#device-none').hidden = paired.length > 0;
  const down = paired.filter((d) => BAD_HEALTH.has(d.health)).length;
  $('#dev-summary').textContent = t('dev.summary', {n: paired.length, down});

  const pending = [...listing.pending].sort((a, b) => a.id.localeCompare(b.id));
  fill($('#pending-rows'), ...pending.map((d) => h('tr', {dataset: {device: d.id}},
    h('td', {}, name(d.id)), h('td', {}, t(`dev.kind.${d.kind}`)), h('td', {}, where(d)),
    h('td', {}, d.model ? name(d.model) : '–'),
    h('td', {}, d.addresses.length ? name(`${d.addresses[0]}:${d.port}`) : '–'),
    h('td', {}, t(d.awaiting_device ? 'dev.why.awaiting_device' : d.method === 'allow_list' ? 'dev.why.differs' : 'dev.why.code')),
    h('td', {}, admin ? pairForm(d) : null))));
  $('#pending-none').hidden = pending.length > 0;

  const refusals = Object.entries(listing.refusals || {});
  $('#refused-summary').textContent = refusals.length
    ? refusals.map(([reason, n]) => t('dev.refused_n', {reason: t(`dev.refusal.${reason}`), n})).join(' · ')
    : t('dev.refused_none');

  fill($('#rule-rows'), ...devices.rules.map((rule) => h('tr', {dataset: {rule: rule.name}},
    h('td', {}, name(rule.name)), h('td', {}, when(rule.when)), h('td', {}, then(rule.then)),
    h('td', {}, limits(rule)))));
}

/** How soon a rule fires again: its cooldown, and the window in which repeats count once. */
function limits(rule) {
  const cooldown = rule.cooldown > 0, dedupe = rule.dedupe > 0;
  if (cooldown && dedupe) return t('dev.rule.limits', {cooldown: duration(rule.cooldown), dedupe: duration(rule.dedupe)});
  if (cooldown) return duration(rule.cooldown);
  return dedupe ? t('dev.rule.dedupe', {dedupe: duration(rule.dedupe)}) : '–';
}

function when(w) {
  const parts = [w.event.map((e) => t(`dev.event.${e}`)).join(' / ')];
  if (w.device_kind.length) parts.push(w.device_kind.map((k) => t(`dev.kind.${k}`)).join(' / '));
  if (w.label.length) parts.push(tNodes('dev.rule.label', {labels: name(w.label.join(', '))}));
  if (w.outside_limits.length) parts.push(t('dev.rule.outside_limits'));
  if (w.between) parts.push(t('dev.rule.between', {from: w.between[0], to: w.between[1]}));
  return parts.flatMap((part, i) => (i ? [' · ', part] : [part]));
}

function then(action) {
  const parts = [];
  if (action.task) parts.push(t('dev.rule.task', {kind: t(`kind.${action.task.kind}`)}));
  if (action.alert) parts.push(t('dev.rule.alert', {priority: t(`priority.${action.alert.priority}`)}));
  if (action.fall) parts.push(t('dev.rule.fall'));
  if (action.call) parts.push(t('dev.rule.call'));
  return parts.join(' + ') || '–';
}

function pairForm(device) {
  const code = h('input', {name: 'code', inputmode: 'numeric', autocomplete: 'off', maxlength: '20', size: '11',
    pattern: '[0-9 \\-]{6,20}', 'aria-label': t('dev.code_for', {id: device.id}), placeholder: '1234-5678'});
  // a device that does not say where it is (a plain RTSP camera) is placed by the admin
  const room = device.room || device.resident ? null : h('select', {name: 'room', 'aria-label': t('dev.room_for', {id: device.id})},
    ...[...state.places.values()].filter((p) => !['bed', 'lift', 'door', 'charger', 'corridor'].includes(p.kind))
      .sort((a, b) => a.id.localeCompare(b.id)).map((p) => h('option', {value: p.id}, placeWithFloor(p))));
  return h('form', {class: 'pair-form', onsubmit: async (event) => {
    event.preventDefault();
    const body = {};
    if (code.value.trim()) body.code = code.value.trim();
    if (room) body.room = room.value;
    await change(device, 'pair', body);
  }}, code, ' ', room, room ? ' ' : null, h('button', {type: 'submit', class: 'small pair'}, t('dev.pair')), ' ',
  h('button', {type: 'button', class: 'small danger reject', onclick: () => change(device, 'reject')}, t('dev.reject')));
}

/** What a pairing step came to, for the admin (the service's step types). */
const STEP = {create_entry: 'dev.done.paired', form: 'dev.done.code_taken', abort: 'dev.done.nothing'};
const FIELDS = new Set(['code', 'room', 'resident']);

async function change(device, what, body) {
  const status = $('#pair-status');
  try {
    const step = await api(`/api/devices/${encodeURIComponent(device.id)}/${what}`, {method: 'POST', body});
    fill(status, t(what === 'pair' ? STEP[step.step] || 'dev.done.nothing' : `dev.done.${what}`), ' ', name(device.id));
    status.className = 'form-status ok';
  } catch (error) {
    const why = FIELDS.has(error.field) ? error.field : error.status === 409 ? 'conflict' : error.status === 404 ? 'gone' : 'other';
    fill(status, t('dev.refused_change', {why: t(`dev.change_error.${why}`)}), ' ', name(device.id));
    status.className = 'form-status bad';
  }
  await loadDevices();
}

async function unpair(device) {
  if (!confirm(t('dev.confirm_unpair', {id: device.id}))) return;
  await change(device, 'unpair');
}
