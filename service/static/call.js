// call.js: the bedside call page. A tablet bound to one room (its device token comes
// once in the address, #token=..., and is kept on the tablet); each button is a call
// for that room, and the page says so when a nurse has acknowledged it.
import {t, loadStrings, setLanguage, language} from './i18n.js';

const POLL = 2000;       // ms between asking whether someone answered
const room = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const KEY = `carefleet.call.${room}`;
let token = localStorage.getItem(KEY);
let shown = {state: 'none'};
let problem = null;

function takeToken() {
  const from = new URLSearchParams(location.hash.slice(1)).get('token') || new URLSearchParams(location.search).get('token');
  if (!from) return;
  token = from;
  localStorage.setItem(KEY, token);
  history.replaceState(null, '', location.pathname);     // the token leaves the address bar
}

async function call(method, body) {
  const response = await fetch(`/api/call/${encodeURIComponent(room)}`, {method,
    headers: {Authorization: `Bearer ${token}`, ...(body ? {'Content-Type': 'application/json'} : {})},
    body: body ? JSON.stringify(body) : undefined});
  if (response.status === 401 || response.status === 403 || response.status === 404) {
    problem = 'call.not_set_up';
    throw new Error(String(response.status));
  }
  if (!response.ok) throw new Error(String(response.status));
  problem = null;
  return response.json();
}

function render() {
  const number = (room.match(/(\d+)\D*$/) || [])[1];
  document.getElementById('call-room').textContent = number ? t('call.room', {n: number}) : t('call.room_any');
  const status = document.getElementById('call-status');
  const key = problem || {none: 'call.ready', raised: 'call.sent', acknowledged: 'call.coming', resolved: 'call.done'}[shown.state] || 'call.ready';
  status.textContent = t(key);
  status.className = `call-status ${problem ? 'problem' : shown.state === 'acknowledged' ? 'coming' : shown.state === 'raised' ? 'raised' : ''}`;
  document.body.dataset.call = problem ? 'problem' : shown.state;
  const button = document.getElementById('lang');
  const other = language() === 'zh' ? 'en' : 'zh';
  button.textContent = other === 'zh' ? '中文' : 'English';
  button.lang = other === 'zh' ? 'zh-CN' : 'en';
  button.setAttribute('translate', 'no');
  button.dataset.switchTo = other;
}

async function poll() {
  if (token) {
    try { shown = await call('GET'); } catch { problem = problem || 'call.offline'; }
  } else problem = 'call.not_set_up';
  render();
}

async function press(request) {
  if (!token) { problem = 'call.not_set_up'; render(); return; }
  try { shown = await call('POST', {request}); } catch { problem = problem || 'call.offline'; }
  render();
}

async function start() {
  takeToken();
  await loadStrings();
  for (const button of document.querySelectorAll('[data-request]')) {
    button.addEventListener('click', () => press(button.dataset.request));
  }
  document.getElementById('lang').addEventListener('click', (event) => {
    setLanguage(event.currentTarget.dataset.switchTo);
    render();
  });
  render();
  await poll();
  setInterval(poll, POLL);
  document.body.dataset.ready = 'true';
}

start();
