// @ts-check
// The mcpwire dashboard: reads the admin feed (/_events) with the browser's own EventSource and keeps
// the page current. No framework: a few DOM helpers and a canvas chart.

const HISTORY = 60;
const MAX_CHANGES = 50;
const MAX_ACTIVITY = 30;

/** @type {{ at: number, out: number, in: number }[]} */
const rates = [];
/** @type {{ at: number, messagesOut: number, messagesIn: number } | undefined} */
let last;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(string | Node)[]} [children]
 */
function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

/** @param {number} ms */
function age(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** @param {number} at */
const clock = (at) => new Date(at).toLocaleTimeString([], { hour12: false });

/** @param {number} n */
function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const KIND = {
  resource_updated: 'updated',
  resources_list_changed: 'resources list changed',
  tools_list_changed: 'tools list changed',
  prompts_list_changed: 'prompts list changed',
  notification: 'broadcast',
};

/** @param {any} s */
function showStats(s) {
  const sw = s.sessionsByWire;
  const st = s.streamsByWire;
  const c = s.counters;
  $('sessions-total').textContent = String(sw.legacy + sw.streamable);
  $('sessions-split').textContent = `legacy SSE ${sw.legacy} · streamable ${sw.streamable}`;
  $('streams-total').textContent = String(st.legacy + st.streamable);
  $('streams-split').textContent = `legacy SSE ${st.legacy} · streamable ${st.streamable}`;
  $('replays').textContent = String(c.replays);
  $('resume-detail').textContent = `${c.eventsReplayed} events replayed · ${c.resumeMisses} misses`;
  $('drops').textContent = String(c.eventsDropped);
  $('drop-detail').textContent = `${c.slowClientsEvicted} slow clients cut · ${c.stalledStreamsClosed} stalled`;
  $('keepalives').textContent = String(c.keepalivesSent);
  $('traffic').textContent = `${bytes(c.bytesOut)} out · ${bytes(c.bytesIn)} in`;

  if (last && s.at > last.at) {
    const dt = (s.at - last.at) / 1000;
    rates.push({ at: s.at, out: (c.messagesOut - last.messagesOut) / dt, in: (c.messagesIn - last.messagesIn) / dt });
    if (rates.length > HISTORY) rates.shift();
    const r = rates[rates.length - 1];
    $('rate-out').textContent = r.out.toFixed(1);
    $('rate-in').textContent = `${r.in.toFixed(1)} / s from clients`;
  }
  last = { at: s.at, messagesOut: c.messagesOut, messagesIn: c.messagesIn };
  drawChart();
  // The table lists the viewer's own sessions (every session with auth off); the cards, the instance's.
  showSessions(s.sessions, s.sessionsVisible ?? sw.legacy + sw.streamable, s.at);
}

/** @param {any[]} sessions @param {number} total @param {number} now the server's clock, not the browser's */
function showSessions(sessions, total, now) {
  const body = /** @type {HTMLTableSectionElement} */ ($('sessions').querySelector('tbody'));
  body.replaceChildren(
    ...sessions.map((x) =>
      el('tr', { 'data-session': x.id }, [
        el('td', {}, [el('code', {}, [x.id])]),
        el('td', {}, [el('span', { class: `wire ${x.wire}` }, [x.wire === 'legacy' ? 'legacy SSE' : 'streamable'])]),
        el('td', {}, [x.client || '–']),
        el('td', { class: 'num' }, [String(x.subscriptions)]),
        el('td', { class: 'num' }, [String(x.streams)]),
        el('td', { class: 'num' }, [age(now - x.since)]),
      ]),
    ),
  );
  $('sessions-empty').hidden = sessions.length > 0;
  $('sessions-note').textContent = total > sessions.length ? `· newest ${sessions.length} of ${total}` : '';
}

/** @param {any} row */
function addChange(row) {
  const list = $('changes');
  const named = row.uri ?? row.method;
  const what = named ? [el('code', {}, [named])] : [];
  const who =
    row.recipients === 0
      ? [el('span', { class: 'dim' }, ['no session subscribed'])]
      : [
          `→ ${row.recipients} session${row.recipients === 1 ? '' : 's'}: `,
          ...row.sessions.map((/** @type {string} */ id) => el('code', { class: 'chip' }, [id])),
          row.recipients > row.sessions.length ? ' …' : '',
        ];
  const item = el('li', { 'data-kind': row.kind, ...(row.uri ? { 'data-uri': row.uri } : {}) }, [
    el('time', {}, [clock(row.at)]),
    el('span', { class: `kind ${row.kind}` }, [KIND[/** @type {keyof typeof KIND} */ (row.kind)] ?? row.kind]),
    ...what,
    el('div', { class: 'who' }, who),
  ]);
  list.prepend(item);
  while (list.children.length > MAX_CHANGES) list.lastElementChild?.remove();
  $('changes-empty').hidden = true;
}

/** @param {string} text @param {string} cls @param {number} at */
function addActivity(text, cls, at) {
  const list = $('activity');
  list.prepend(el('li', { class: cls }, [el('time', {}, [clock(at)]), text]));
  while (list.children.length > MAX_ACTIVITY) list.lastElementChild?.remove();
}

function drawChart() {
  const canvas = /** @type {HTMLCanvasElement} */ ($('chart'));
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
  if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const top = Math.max(1, ...rates.map((r) => Math.max(r.out, r.in)));
  const scale = niceCeil(top);
  const pad = { l: 36, r: 8, t: 8, b: 16 };
  const x = (/** @type {number} */ i) => pad.l + ((w - pad.l - pad.r) * (i + HISTORY - rates.length)) / (HISTORY - 1);
  const y = (/** @type {number} */ v) => h - pad.b - ((h - pad.t - pad.b) * v) / scale;
  g.strokeStyle = '#2a3342';
  g.fillStyle = '#7d8796';
  g.font = '11px system-ui, sans-serif';
  g.lineWidth = 1;
  for (const f of [0, 0.5, 1]) {
    const yy = Math.round(y(scale * f)) + 0.5;
    g.beginPath();
    g.moveTo(pad.l, yy);
    g.lineTo(w - pad.r, yy);
    g.stroke();
    g.fillText(String(+(scale * f).toFixed(1)), 4, yy + 4);
  }
  g.fillText('-60 s', pad.l, h - 2);
  g.fillText('now', w - pad.r - 22, h - 2);
  for (const [key, color] of /** @type {const} */ ([['in', '#e3a857'], ['out', '#4fc3a1']])) {
    if (rates.length < 2) break;
    g.beginPath();
    rates.forEach((r, i) => (i === 0 ? g.moveTo(x(i), y(r[key])) : g.lineTo(x(i), y(r[key]))));
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.stroke();
  }
}

/** @param {number} v */
function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/** Pause before a new feed once the browser gave up on one: doubles up to a minute, reset when live. */
let retryMs = 0;

function connect() {
  const conn = $('conn');
  const events = new EventSource('/_events');
  events.addEventListener('open', () => {
    retryMs = 0;
    conn.textContent = 'live';
    conn.className = 'conn on';
  });
  events.addEventListener('error', () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn off';
    // The browser retries a dropped connection by itself, but gives up for good on an HTTP error: a
    // 503 (too many dashboards open), a 401 (a restarted server no longer knows the pass).
    if (events.readyState !== EventSource.CLOSED) return;
    retryMs = Math.min(60_000, retryMs * 2 || 2_000);
    setTimeout(reopen, retryMs / 2 + (Math.random() * retryMs) / 2);
  });
  events.addEventListener('hello', (e) => {
    const h = JSON.parse(/** @type {MessageEvent} */ (e).data);
    $('about').textContent = `v${h.version} · up since ${new Date(h.startedAt).toLocaleString()}`;
    $('changes').replaceChildren();
    for (const row of h.recent) addChange(row);
    last = undefined;
    showStats(h);
  });
  events.addEventListener('stats', (e) => showStats(JSON.parse(/** @type {MessageEvent} */ (e).data)));
  events.addEventListener('change', (e) => addChange(JSON.parse(/** @type {MessageEvent} */ (e).data)));
  events.addEventListener('session', (e) => {
    const s = JSON.parse(/** @type {MessageEvent} */ (e).data);
    const wire = s.wire === 'legacy' ? 'legacy SSE' : 'streamable HTTP';
    const text = s.event === 'opened' ? `session ${s.id} opened (${wire})` : `session ${s.id} ended: ${s.reason}`;
    addActivity(text, s.event, s.at);
  });
}

/** Signed out (the page itself is refused now): reload, which shows the sign-in page; else a new feed. */
async function reopen() {
  const res = await fetch('/', { cache: 'no-store' }).catch(() => undefined);
  await res?.body?.cancel();
  if (res?.status === 401) location.reload();
  else connect();
}

window.addEventListener('resize', drawChart);
connect();
