// i18n.js: every text of the dashboard and the call page in zh-CN and en (i18n.json),
// the language switch (remembered on this device), ward-local times, place names.
import {name} from './dom.js';

export const LANGUAGES = ['en', 'zh'];
const KEY = 'carefleet.lang';
let tables = {en: {}, zh: {}};
let lang = pickLanguage();
let zone = 'UTC';
const listeners = [];

function pickLanguage() {
  const saved = localStorage.getItem(KEY);
  if (LANGUAGES.includes(saved)) return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export async function loadStrings() {
  const response = await fetch('/i18n.json');
  tables = await response.json();
  applyLanguage();
}

export const language = () => lang;
export const locale = () => (lang === 'zh' ? 'zh-CN' : 'en-GB');

export function setLanguage(next) {
  if (!LANGUAGES.includes(next)) return;
  lang = next;
  localStorage.setItem(KEY, next);
  applyLanguage();
  for (const listener of listeners) listener(next);
}

export const onLanguage = (listener) => listeners.push(listener);

/** The text of ``key`` with {params} filled in (a missing key shows itself, loudly). */
export function t(key, params = {}) {
  const template = tables[lang]?.[key];
  if (template === undefined) return `⟦${key}⟧`;
  return template.replace(/\{(\w+)\}/g, (_, p) => (p in params ? String(params[p]) : `{${p}}`));
}

/** Like t(), but params may be nodes (names kept untranslated): returns a node list. */
export function tNodes(key, params = {}) {
  const template = tables[lang]?.[key] ?? `⟦${key}⟧`;
  const out = [];
  let last = 0;
  for (const match of template.matchAll(/\{(\w+)\}/g)) {
    out.push(template.slice(last, match.index));
    const value = params[match[1]];
    out.push(value === undefined ? name(`{${match[1]}}`) : value);
    last = match.index + match[0].length;
  }
  out.push(template.slice(last));
  return out.filter((part) => part !== '');
}

/** Texts in the static markup: data-i18n="key", data-i18n-attr="placeholder:key;aria-label:key". */
export function applyLanguage(root = document) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr, t(key));
    }
  }
}

// == ward-local time ========================================================
export const setZone = (timezone) => { zone = timezone || 'UTC'; };

const formats = new Map();
function format(options) {
  const key = lang + zone + JSON.stringify(options);   // the zone too: it may come later
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(locale(), {timeZone: zone, ...options}));
  return formats.get(key);
}

/** "14:05" in the ward's time zone. */
export const clockTime = (epoch) => (epoch == null ? '' : format({hour: '2-digit', minute: '2-digit', hourCycle: 'h23'}).format(epoch * 1000));
/** "1 Dec 14:05" / "12月1日 14:05" in the ward's time zone. */
export const dateTime = (epoch) => (epoch == null ? '' : format({month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23'}).format(epoch * 1000));

/** The ward-local wall time of an epoch as parts {year, month, day, hour, minute}. */
export function wardParts(epoch) {
  const parts = new Intl.DateTimeFormat('en-GB', {timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23'}).formatToParts(epoch * 1000);
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return {year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second')};
}

/** The epoch of a ward-local wall time ("2026-12-01T14:05" from a datetime-local input). */
export function wardEpoch(local) {
  const [date, time = '00:00'] = local.split('T');
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mm] = time.split(':').map(Number);
  const guess = Date.UTC(y, mo - 1, d, hh, mm) / 1000;
  const seen = wardParts(guess);
  const offset = Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute, seen.second) / 1000 - guess;
  return guess - offset;
}

/** "just now", "4 min ago", "2 h 5 min ago". */
export function ago(seconds) {
  if (seconds < 60) return t('time.just_now');
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t('time.min_ago', {n: minutes});
  return t('time.h_min_ago', {h: Math.floor(minutes / 60), n: minutes % 60});
}

/** A duration in seconds: "45 s", "3 min", "1 h 20 min". */
export function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return '–';
  if (seconds < 90) return t('time.s', {n: Math.round(seconds)});
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return t('time.min', {n: minutes});
  return t('time.h_min', {h: Math.floor(minutes / 60), n: minutes % 60});
}

// == names of places and floors ===============================================
const CJK = /[\u3400-\u9fff]/;

/** A place as staff named it; a name written in the other language is said in this
 *  one from its kind and number ("Room 203" reads 203号房 in zh), so no text mixes two. */
export function placeName(place) {
  if (!place) return '';
  const label = place.label || place.id;
  if ((lang === 'zh') === CJK.test(label)) return label;
  const number = (label.match(/(\d+)\D*$/) || [])[1];
  if (place.kind === 'resident_room' && number) return t('place.room', {n: number});
  const kind = t(`place.kind.${place.kind}`);
  return number ? t('place.numbered', {kind, n: number}) : kind;
}

/** A floor as staff named it, or "Floor 2" / "2层" by its order when named in the other language. */
export function floorName(floor, index) {
  if ((lang === 'zh') === CJK.test(floor.name || '') && floor.name) return floor.name;
  return t('floor.n', {n: index + 1});
}
