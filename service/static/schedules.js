// schedules.js: today's meal services and patrols, and their editor.
import {h, name, $, fill} from './dom.js';
import {t, wardParts} from './i18n.js';
import {api, can, clock} from './api.js';
import {state, listOfPlaces, placeWithFloor} from './state.js';

const minutes = (hhmm) => { const [h, m] = hhmm.split(':').map(Number); return h * 60 + m; };

/** Where a schedule stands today, in the ward's time. */
function today(schedule, now) {
  const p = wardParts(now), here = p.hour * 60 + p.minute;
  if (schedule.type === 'meal') return minutes(schedule.at) <= here ? t('sched.passed') : t('sched.upcoming');
  const start = minutes(schedule.start), end = minutes(schedule.end);
  const inside = start <= end ? here >= start && here < end : here >= start || here < end;
  return inside ? t('sched.running') : t('sched.upcoming');
}

export async function loadSchedules() {
  state.schedules = await api('/api/schedules');
  renderSchedules();
}

export function renderSchedules() {
  const now = clock.now();
  const sorted = [...state.schedules].sort((a, b) => (a.at || a.start).localeCompare(b.at || b.start));
  fill($('#schedule-rows'), ...sorted.map((s) => h('tr', {dataset: {schedule: s.name}},
    h('td', {}, t(`sched.type.${s.type}`)),
    h('td', {}, name(s.name)),
    h('td', {}, s.type === 'meal' ? s.at : `${s.start}–${s.end}`),
    h('td', {}, s.type === 'meal' ? (s.rooms ? listOfPlaces(s.rooms, 3) : t('sched.all_rooms'))
                                 : [listOfPlaces(s.checkpoints, 3), ' · ',
                                    s.rounds ? t('sched.rounds', {n: s.rounds}) : t('sched.whole_window')]),
    h('td', {}, today(s, now)),
    h('td', {}, can('edit_schedules') ? [
      h('button', {type: 'button', class: 'small', onclick: () => edit(s)}, t('sched.edit')), ' ',
      h('button', {type: 'button', class: 'small danger', onclick: () => remove(s)}, t('sched.delete'))] : null))));
  $('#schedule-none').hidden = sorted.length > 0;
}

function edit(schedule) {
  const form = $('#schedule-form');
  form.reset();
  form.elements.type.value = schedule.type;
  form.elements.name.value = schedule.name;
  if (schedule.type === 'meal') form.elements.at.value = schedule.at.padStart(5, '0');
  else {
    form.elements.start.value = schedule.start.padStart(5, '0');
    form.elements.end.value = schedule.end.padStart(5, '0');
    form.elements.rounds.value = schedule.rounds || '';
  }
  const chosen = new Set(schedule.rooms || schedule.checkpoints || []);
  for (const option of form.elements.places.options) option.selected = chosen.has(option.value);
  showType();
  form.scrollIntoView({block: 'nearest'});
}

async function remove(schedule) {
  if (!confirm(t('sched.confirm_delete', {name: schedule.name}))) return;
  await api(`/api/schedules/${encodeURIComponent(schedule.name)}`, {method: 'DELETE'});
  await loadSchedules();
}

function showType() {
  const form = $('#schedule-form');
  const meal = form.elements.type.value === 'meal';
  for (const el of form.querySelectorAll('[data-for]')) el.hidden = el.dataset.for !== (meal ? 'meal' : 'patrol');
  $('#schedule-places-label').textContent = t(meal ? 'sched.rooms_hint' : 'sched.checkpoints');
}

export function fillScheduleForm() {
  const select = $('#schedule-form').elements.places;
  const chosen = new Set([...select.selectedOptions].map((o) => o.value));
  const places = [...state.places.values()].filter((p) => !['bed', 'lift', 'door'].includes(p.kind))
    .sort((a, b) => a.id.localeCompare(b.id));
  fill(select, ...places.map((p) => h('option', {value: p.id, selected: chosen.has(p.id)}, placeWithFloor(p))));
  showType();
}

export function setUpSchedules() {
  const form = $('#schedule-form');
  for (const radio of form.querySelectorAll('input[name=type]')) radio.addEventListener('change', showType);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = form.elements, places = [...f.places.selectedOptions].map((o) => o.value);
    const body = f.type.value === 'meal'
      ? {type: 'meal', name: f.name.value.trim(), at: f.at.value, ...(places.length ? {rooms: places} : {})}
      : {type: 'patrol', name: f.name.value.trim(), start: f.start.value, end: f.end.value, checkpoints: places,
         ...(f.rounds.value ? {rounds: Number(f.rounds.value)} : {})};
    const status = $('#schedule-status');
    try {
      await api('/api/schedules', {method: 'POST', body});
      fill(status, t('sched.saved'), ' ', name(body.name));
      status.className = 'form-status ok';
      await loadSchedules();
    } catch (error) {
      fill(status, t('form.refused'), error.field ? [' ', t('form.field'), ' ', name(error.field)] : null);
      status.className = 'form-status bad';
    }
  });
}
