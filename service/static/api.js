// api.js: the service's HTTP API with the login token, the live WebSocket (reconnecting),
// and the ward's clock (which may run faster than the wall in a simulated ward).

const TOKEN = 'carefleet.token';
export const session = {token: sessionStorage.getItem(TOKEN), me: null};
const logoutListeners = [];
export const onLoggedOut = (listener) => logoutListeners.push(listener);

export class ApiError extends Error {
  constructor(status, error = {}) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
  }
}

async function errorOf(response) {
  let body = {};
  try { body = await response.json(); } catch { /* not JSON */ }
  return new ApiError(response.status, body.error);
}

export async function login(username, password) {
  const response = await fetch('/api/auth/token', {method: 'POST', body: new URLSearchParams({username, password})});
  if (!response.ok) throw await errorOf(response);
  const body = await response.json();
  session.token = body.access_token;
  sessionStorage.setItem(TOKEN, session.token);
  return body;
}

export function logout() {
  session.token = null;
  session.me = null;
  sessionStorage.removeItem(TOKEN);
  for (const listener of logoutListeners) listener();
}

/** One API call: JSON in and out (``text: true`` for CSV); a 401 logs out. */
export async function api(path, {method = 'GET', body, text = false} = {}) {
  const headers = {Authorization: `Bearer ${session.token}`};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (response.status === 401) logout();
  if (!response.ok) throw await errorOf(response);
  return text ? response.text() : response.json();
}

// == the ward's clock ==========================================================
// The service stamps every change with its own time (``at``), which a simulated ward
// may run N times faster than the wall; the page follows it from those stamps.
const samples = [];
export const clock = {
  note(at) {
    const wall = performance.now() / 1000;
    samples.push({at, wall});
    while (samples.length > 2 && wall - samples[0].wall > 120) samples.shift();
  },
  rate() {
    if (samples.length < 2) return 1;
    const first = samples[0], last = samples[samples.length - 1];
    const span = last.wall - first.wall;
    return span < 2 ? 1 : Math.max(0.01, (last.at - first.at) / span);
  },
  now() {
    if (!samples.length) return Date.now() / 1000;
    const last = samples[samples.length - 1];
    return last.at + (performance.now() / 1000 - last.wall) * this.rate();
  },
};

// == live changes ==============================================================
/** Follow ``/api/live``: ``onSnapshot`` on every (re)connection, ``onChange`` per
 *  message, ``onState('live' | 'down')`` at once when the link comes or goes. */
export function live({onSnapshot, onChange, onState}) {
  let socket = null, tries = 0, timer = null, stopped = false;

  function open() {
    timer = null;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    socket = new WebSocket(`${scheme}://${location.host}/api/live`);
    socket.onopen = () => socket.send(JSON.stringify({token: session.token}));
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === 'error') return;             // the close that follows says it
      if (message.type === 'snapshot') {
        tries = 0;
        onState('live');
        onSnapshot(message);
        return;
      }
      if (typeof message.at === 'number') clock.note(message.at);
      onChange(message);
    };
    socket.onclose = (event) => {
      socket = null;
      if (stopped) return;
      onState('down');
      if (event.code === 4401) { logout(); return; }     // the token is no longer valid
      timer = setTimeout(open, Math.min(5000, 500 * 2 ** tries++));   // 0.5 s, 1 s, 2 s, 4 s, then every 5 s
    };
  }

  // A machine that knows it went offline need not wait for TCP to notice.
  const offline = () => { if (socket) socket.close(); };
  const online = () => { if (!socket && timer) { clearTimeout(timer); open(); } };
  addEventListener('offline', offline);
  addEventListener('online', online);
  open();
  return {
    close() {
      stopped = true;
      removeEventListener('offline', offline);
      removeEventListener('online', online);
      if (timer) clearTimeout(timer);
      if (socket) socket.close();
    },
  };
}

/** Whether the logged-in person may do ``action`` (the service says, in /api/me). */
export const can = (action) => (session.me?.may || []).includes(action);
