// The Ward 4B demo portal: a small clinical front end on top of wardgate's `Gate`.
//
// Every protected action is a task: `gate.begin(task)` decides it (allow, passkey step-up bound
// to the task, deny, needs-connection, break-glass), then `gate.fetch(url, { wardgateTask })`
// sends it with the grant that covers it (and answers an RFC 9470 step-up challenge of the
// server with one step-up and one retry). The server decides again, natively, and records.

import init, { Gate } from '/pkg/index.js';
import * as api from './api.js';
import { registerPasskey, signIn, ceremonyMessage } from './passkey.js';
import { renderFriction } from './friction.js';
import * as T from './tasks.js';
import { h, $, toast, clock, timeOfDay, age, initials } from './dom.js';

/** The demo clinicians (the reference server seeds the same ids; roles come from the server). */
const STAFF = [
  { id: 'rn-ade', name: 'Nurse A. Adeyemi', role: 'nurse' },
  { id: 'dr-okafor', name: 'Dr A. Okafor', role: 'physician' },
  { id: 'dr-lee', name: 'Dr J. Lee', role: 'resident' },
  { id: 'ph-santos', name: 'M. Santos', role: 'pharmacist' },
  { id: 'st-kim', name: 'S. Kim', role: 'student' },
];

/** Controlled substances offered for EPCS prescribing (DEA schedule II). */
const CONTROLLED = [
  { drug: 'oxycodone-5mg-tab', label: 'Oxycodone 5 mg tablet', sig: '1 tablet by mouth every 6 hours as needed for severe pain', quantity: '12 (twelve) tablets', schedule: 'C-II' },
  { drug: 'morphine-sulfate-10mg-tab', label: 'Morphine sulfate 10 mg tablet', sig: '1 tablet by mouth every 4 hours as needed for pain', quantity: '10 (ten) tablets', schedule: 'C-II' },
  { drug: 'hydromorphone-2mg-tab', label: 'Hydromorphone 2 mg tablet', sig: '1 tablet by mouth every 4 hours as needed for pain', quantity: '8 (eight) tablets', schedule: 'C-II' },
];

const UI_KEY = 'wardportal:ui';
const CHART_KEY = 'wardportal:chart:';
const OUTBOX_KEY = 'wardportal:outbox';

const app = {
  session: null,
  device: null,
  gate: null,
  patients: [],
  current: null, // patient id of the open chart
  chart: null, // { patient, orders, notes, mode: 'normal' | 'emergency' | 'offline', decision }
  denied: null, // { patient, outcome } when the last chart open was refused
  localAudit: new Map(), // id -> event (the Gate's, this tab)
  serverAudit: [],
  serverIds: new Set(),
  vitals: new Map(), // patient id -> [{ atMs, text, where }]
  lastResult: new Map(), // `${patient}:${action}` -> message under the form
  timers: [],
  busy: false,
  resultSeq: 0,
};

// Debug and test handle (the e2e tests read the gate's metrics and state through it).
window.wardportal = {
  get gate() { return app.gate; },
  get session() { return app.session; },
  get chart() { return app.chart; },
  ready: false,
};

// ---- storage of the portal's own UI state (per tab; wiped on handoff and sign-out) --------

function saveUi(patch) {
  const ui = { ...loadUi(), ...patch };
  try { sessionStorage.setItem(UI_KEY, JSON.stringify(ui)); } catch { /* private mode: fine */ }
}
function loadUi() {
  try { return JSON.parse(sessionStorage.getItem(UI_KEY) || '{}') || {}; } catch { return {}; }
}
function wipePortalStorage() {
  try {
    for (const k of Object.keys(sessionStorage)) if (k.startsWith('wardportal:')) sessionStorage.removeItem(k);
  } catch { /* nothing to wipe */ }
}

function deviceFor(kind) {
  const key = 'wardportal:device-id:' + kind;
  let id = null;
  try { id = localStorage.getItem(key); } catch { /* no storage */ }
  if (!id) {
    const rand = Math.random().toString(36).slice(2, 6);
    id = kind === 'shared' ? `tablet-4b-${rand}` : `ws-4b-${rand}`;
    try { localStorage.setItem(key, id); } catch { /* no storage */ }
  }
  return { id, shared: kind === 'shared', managed: true };
}

// ---- boot ------------------------------------------------------------------------------------

async function boot() {
  await init();
  wireStatic();
  let session = null;
  try {
    session = await api.currentSession();
  } catch (e) {
    showBanner('The ward server cannot be reached: ' + e.message, 'danger');
  }
  if (session) await startSession(session);
  else showSignin();
  window.wardportal.ready = true;
  document.documentElement.dataset.ready = 'true';
}

async function loadPolicy() {
  // The server enforces a policy and publishes it: the browser evaluates the same document.
  try {
    const r = await fetch('/api/policy', { credentials: 'same-origin' });
    if (r.ok) return await r.text();
  } catch { /* fall back to the packaged default below */ }
  const r = await fetch('/pkg/policies/clinical-default.json');
  return r.text();
}

/** `SessionInfo` as the Gate takes it (only the fields it knows). */
function gateSession(s) {
  return {
    sessionId: s.sessionId,
    user: { id: s.user.id, roles: s.user.roles || [], name: s.user.name },
    startedAtMs: s.startedAtMs,
    lastStrongAuthMs: s.lastStrongAuthMs ?? null,
    device: s.device,
  };
}

async function startSession(session) {
  app.session = session;
  app.device = session.device;
  const policy = await loadPolicy();
  app.gate = await Gate.create({ policy, session: gateSession(session), auditFlushIntervalMs: 2000 });
  wireGate(app.gate);
  $('view-signin').hidden = true;
  $('view-ward').hidden = false;
  $('topbar-session').hidden = false;
  renderHeader();
  await loadPatients();
  startTimers();
  await refreshServerAudit();
  renderActivity();
  const st = app.gate.state();
  if (st.status.status === 'locked') showLock(st.status.reason);
  // Back where the clinician was (a reload, a discarded tab): the chart they had open.
  const ui = loadUi();
  if (ui.patientId && app.patients.some((p) => p.id === ui.patientId)) {
    await openChart(ui.patientId);
  }
}

function stopSessionUi() {
  for (const t of app.timers) clearInterval(t);
  app.timers = [];
  app.current = null;
  app.chart = null;
  app.denied = null;
  app.localAudit.clear();
  app.serverAudit = [];
  app.serverIds.clear();
  app.vitals.clear();
  app.lastResult.clear();
  closePrompt();
  hideLock();
  renderChart();
}

// ---- sign-in ---------------------------------------------------------------------------------

function showSignin(message) {
  $('view-signin').hidden = false;
  $('view-ward').hidden = true;
  $('topbar-session').hidden = true;
  hideLock();
  const grid = $('staff-grid');
  if (!grid.childElementCount) {
    STAFF.forEach((s, i) => grid.append(
      h('label', { class: 'staff' },
        h('input', { type: 'radio', name: 'staff', value: s.id, checked: i === 1, 'data-testid': 'staff-' + s.id }),
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(s.name)),
        h('span', {}, h('span', { class: 'staff-name' }, s.name), h('br'), h('span', { class: 'staff-role' }, s.role)))));
  }
  setMsg('signin-msg', message || '');
}

function selectedStaff() {
  const input = document.querySelector('input[name="staff"]:checked');
  return input ? input.value : null;
}

function setMsg(id, text, ok = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('ok', ok);
}

async function onRegister() {
  const userId = selectedStaff();
  if (!userId) return setMsg('signin-msg', 'Choose a clinician first.');
  setMsg('signin-msg', 'Follow your device’s passkey prompt…', true);
  try {
    await registerPasskey(userId);
    setMsg('signin-msg', 'Passkey registered on this device. You can sign in now.', true);
  } catch (e) {
    setMsg('signin-msg', e instanceof api.ApiError ? e.message : ceremonyMessage(e));
  }
}

async function onSignin(event) {
  event.preventDefault();
  const userId = selectedStaff();
  if (!userId) return setMsg('signin-msg', 'Choose a clinician first.');
  const kind = document.querySelector('input[name="device"]:checked')?.value || 'shared';
  setMsg('signin-msg', 'Confirm with your passkey…', true);
  try {
    const session = await signIn(userId, deviceFor(kind));
    setMsg('signin-msg', '');
    wipePortalStorage();
    await startSession(session);
  } catch (e) {
    const m = e instanceof api.ApiError
      ? (e.code === 'WARDGATE_NO_CREDENTIALS' || e.code === 'WARDGATE_UNKNOWN_USER' ? 'No passkey yet for this clinician on this server: register one first.' : e.message)
      : ceremonyMessage(e);
    setMsg('signin-msg', m);
  }
}

async function onSignout() {
  try { await api.postJson('/api/signout', {}); } catch { /* signed out locally anyway */ }
  if (app.gate) {
    try { await app.gate.logout(); } catch { /* disposed */ }
    app.gate.dispose();
    app.gate = null;
  }
  afterLogout();
}

function afterLogout() {
  stopSessionUi();
  wipePortalStorage();
  app.session = null;
  showSignin('Signed out.');
}

// ---- header ------------------------------------------------------------------------------------

function renderHeader() {
  const s = app.session;
  const d = app.device || {};
  const badge = $('device-badge');
  badge.textContent = (d.shared ? 'Shared ward tablet' : 'Personal workstation') + ' · ' + d.id;
  badge.classList.toggle('shared', !!d.shared);
  const role = (s.user.roles || [])[0] || '';
  $('who').replaceChildren(h('strong', {}, s.user.name || s.user.id), h('span', { class: 'role-tag' }, role));
  $('btn-handover').hidden = !d.shared;
  renderNet();
}

function renderNet() {
  $('net-badge').hidden = navigator.onLine;
  $('net-badge').textContent = 'Offline — limited actions';
}

function showBanner(text, kind = '', action) {
  const b = $('banner');
  b.className = 'banner ' + kind;
  b.replaceChildren(text);
  if (action) b.append(' ', h('button', { type: 'button', class: 'btn btn-sm', onclick: action.run, 'data-testid': 'banner-action' }, action.label));
  b.hidden = false;
}
function hideBanner() { $('banner').hidden = true; }

// ---- patients -----------------------------------------------------------------------------------

async function loadPatients() {
  try {
    const { patients } = await api.getJson('/api/patients');
    app.patients = patients || [];
    try { sessionStorage.setItem('wardportal:patients', JSON.stringify(app.patients)); } catch { /* ignore */ }
  } catch (e) {
    const cached = sessionStorage.getItem('wardportal:patients');
    if (cached) app.patients = JSON.parse(cached);
    else if (e instanceof api.ApiError && e.status === 401) return sessionGone();
  }
  renderPatients();
}

function labelChip(l) {
  const cls = l === 'vip' ? 'label label-vip' : l === 'restricted' ? 'label label-restricted' : 'label';
  return h('span', { class: cls }, l === 'vip' ? 'VIP' : l);
}

function renderPatients() {
  const list = $('patient-list');
  list.replaceChildren(...app.patients.map((p) => h('li', {},
    h('button', {
      type: 'button', class: 'patient-btn', 'aria-current': String(app.current === p.id),
      'data-testid': 'patient-' + p.id, onclick: () => openChart(p.id),
    },
    h('span', { class: 'bed', 'aria-label': 'Bed ' + p.bed }, p.bed),
    h('span', { class: 'patient-name' }, p.name),
    h('span', { class: 'patient-meta' }, `${age(p.born)} y · ${p.id}`, ...(p.labels || []).map(labelChip))))));
  $('patients-count').textContent = `${app.patients.length} on ward ${app.patients[0]?.ward || ''}`;
}

const patientById = (id) => app.patients.find((p) => p.id === id);

// ---- running a task ---------------------------------------------------------------------------

/**
 * Decide a task with the Gate, then send its request through `gate.fetch`.
 * Resolves to `{ ok, outcome, data, error, offline }`.
 */
async function perform({ task, request }) {
  let outcome;
  try {
    outcome = await app.gate.begin(task);
  } catch (e) {
    closePrompt();
    return { ok: false, error: e };
  }
  closePrompt();
  if (outcome.kind === 'denied' || outcome.kind === 'cancelled' || outcome.kind === 'needs-connection') {
    return { ok: false, outcome };
  }
  if (!request) return { ok: true, outcome, data: null };
  let response;
  try {
    const init = { method: request.method, credentials: 'same-origin', headers: { Accept: 'application/json' }, wardgateTask: task };
    if (request.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    response = await app.gate.fetch(request.url, init);
  } catch (e) {
    closePrompt();
    // The task is allowed (here, offline) but the server is out of reach.
    return { ok: false, outcome, error: e, offline: !navigator.onLine || e.code === 'WARDGATE_NETWORK' };
  }
  closePrompt();
  try {
    const data = await api.readJson(response);
    return { ok: true, outcome, data };
  } catch (e) {
    if (e.status === 401 && e.code === 'WARDGATE_UNAUTHENTICATED') sessionGone();
    return { ok: false, outcome, error: e };
  }
}

function explain(result) {
  const o = result.outcome;
  if (result.error) {
    const e = result.error;
    if (e.code === 'WARDGATE_AUTHENTICATOR_NOT_ALLOWED') return 'This approval needs a security key or your phone (EPCS: a passkey of this tablet does not count as a separate device).';
    if (e.code === 'WARDGATE_LOCKED') return 'The session is locked.';
    return e.message || String(e);
  }
  if (!o) return 'Something went wrong.';
  switch (o.kind) {
    case 'denied': return o.reason;
    case 'cancelled': return 'Passkey cancelled: nothing was done.';
    case 'needs-connection': return 'Needs a connection: ' + o.reason;
    default: return '';
  }
}

// ---- chart -------------------------------------------------------------------------------------

async function openChart(patientId) {
  const p = patientById(patientId);
  if (!p) return;
  app.current = p.id;
  app.denied = null;
  saveUi({ patientId: p.id });
  renderPatients();
  const result = await perform(T.viewChart(app.session, app.device, p));
  if (app.current !== p.id) return; // another chart was opened meanwhile
  if (result.ok) {
    app.chart = { ...result.data, mode: 'normal' };
    cacheChart(p.id, result.data);
  } else if (result.offline && result.outcome && result.outcome.kind !== 'denied') {
    const cached = cachedChart(p.id);
    app.chart = cached ? { ...cached, mode: 'offline' } : null;
    if (!cached) app.denied = { patient: p, title: 'Not available offline', text: 'This chart was not opened on this device before the connection dropped.' };
  } else {
    app.chart = null;
    const o = result.outcome;
    app.denied = {
      patient: p,
      kind: o?.kind || 'error',
      title: o?.kind === 'cancelled' ? 'Chart not opened' : o?.kind === 'needs-connection' ? 'Needs a connection' : 'Access refused',
      text: explain(result),
      ruleIds: o?.ruleIds || o?.decision?.ruleIds || [],
    };
  }
  renderChart();
  renderActivity();
}

function cacheChart(id, data) {
  try { sessionStorage.setItem(CHART_KEY + id, JSON.stringify({ ...data, cachedAtMs: Date.now() })); } catch { /* ignore */ }
}
function cachedChart(id) {
  try { return JSON.parse(sessionStorage.getItem(CHART_KEY + id) || 'null'); } catch { return null; }
}

function renderChart() {
  const body = $('chart-body');
  const empty = $('chart-empty');
  if (!app.chart && !app.denied) {
    body.hidden = true;
    empty.hidden = false;
    body.replaceChildren();
    return;
  }
  empty.hidden = true;
  body.hidden = false;
  if (!app.chart) {
    const d = app.denied;
    const canBreakGlass = d.kind === 'denied' || d.kind === 'cancelled';
    body.replaceChildren(
      patientBanner(d.patient),
      h('div', { class: 'denied', 'data-testid': 'chart-refused' },
        h('h3', {}, d.title),
        h('p', {}, d.text),
        d.ruleIds && d.ruleIds.length ? h('p', { class: 'rule-ids' }, 'Rules: ' + d.ruleIds.join(', ')) : null,
        h('div', { class: 'row-actions' },
          d.kind === 'cancelled' ? h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'retry-open', onclick: () => openChart(d.patient.id) }, 'Try again') : null,
          canBreakGlass ? breakGlassButton(d.patient) : null)));
    return;
  }
  const c = app.chart;
  const p = c.patient;
  const parts = [patientBanner(p)];
  if (c.mode === 'emergency') {
    parts.push(h('div', { class: 'emergency-flag', 'data-testid': 'emergency-flag' },
      'Emergency access (break-glass): this access is recorded with your reason and will be reviewed.'));
  }
  if (c.mode === 'offline') {
    parts.push(h('div', { class: 'offline-flag', 'data-testid': 'offline-flag' },
      `Offline: chart as of ${timeOfDay(c.cachedAtMs || Date.now())}. Viewing and recording vitals go on; signing waits for the connection.`));
  }
  parts.push(h('div', { class: 'grid-2' }, ordersCard(p, c.orders || []), notesCard(p, c.notes || []), vitalsCard(p), prescribeCard(p)));
  body.replaceChildren(...parts);
  const draft = loadUi().noteDraft;
  if (draft && draft.patientId === p.id && $('note-text')) $('note-text').value = draft.text;
  renderGrantLife();
}

function patientBanner(p) {
  return h('div', { class: 'patient-banner', 'data-testid': 'patient-banner' },
    h('div', {},
      h('h2', { id: 'chart-name' }, p.name, ' ', ...(p.labels || []).map(labelChip)),
      h('div', { class: 'facts' },
        h('span', {}, 'Born ', h('strong', {}, p.born), ` (${age(p.born)} y)`),
        h('span', {}, 'Bed ', h('strong', {}, `${p.ward}-${p.bed}`)),
        h('span', {}, 'ID ', h('strong', {}, p.id)))),
    app.chart && app.chart.mode !== 'emergency' ? breakGlassButton(p, true) : null);
}

function breakGlassButton(p, quiet = false) {
  return h('button', {
    type: 'button', class: quiet ? 'btn btn-sm btn-danger-outline' : 'btn btn-danger', 'data-testid': 'break-glass',
    onclick: () => openBreakGlass(p),
  }, 'Emergency access');
}

function resultLine(p, action) {
  const r = app.lastResult.get(`${p.id}:${action}`);
  return h('p', { class: 'form-msg' + (r && r.ok ? ' ok' : ''), role: 'status', 'data-testid': `result-${action}`, 'data-seq': String(r ? r.seq : 0) }, r ? r.text : '');
}

function setResult(p, action, ok, text) {
  // `seq` tells a repeated identical result from the previous one (tests wait on it).
  app.resultSeq += 1;
  app.lastResult.set(`${p.id}:${action}`, { ok, text, seq: app.resultSeq });
}

function ordersCard(p, orders) {
  return h('section', { class: 'card', 'aria-labelledby': 'orders-h' },
    h('h3', { id: 'orders-h' }, 'Orders'),
    h('ul', { class: 'orders' }, ...orders.map((o) => h('li', { 'data-testid': 'order-' + o.id },
      h('div', {},
        h('div', { class: 'order-text' }, o.summary),
        h('div', { class: 'order-kind' }, o.resource.split('/')[0].replace('Request', ' request'),
          o.signedBy ? ` · signed by ${o.signedBy} at ${timeOfDay(o.signedAtMs)}` : '')),
      o.status === 'draft'
        ? h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'data-testid': 'sign-' + o.id, onclick: () => onSignOrder(p, o) }, 'Sign')
        : h('span', { class: 'status status-signed' }, 'Signed')))),
    h('p', { class: 'hint', id: 'order-grant-life', 'data-testid': 'order-grant-life' }),
    resultLine(p, 'order-sign'));
}

function notesCard(p, notes) {
  return h('section', { class: 'card', 'aria-labelledby': 'notes-h' },
    h('h3', { id: 'notes-h' }, 'Progress notes'),
    notes.length
      ? h('ul', { class: 'notes' }, ...notes.slice().reverse().map((n) => h('li', {},
        h('div', {}, n.text),
        h('div', { class: 'note-meta' }, `${n.author} · ${n.createdMs ? timeOfDay(n.createdMs) : ''}`))))
      : h('p', { class: 'muted small' }, 'No notes yet.'),
    h('label', { for: 'note-text' }, 'New note'),
    h('textarea', {
      id: 'note-text', rows: 3, maxlength: 2000, 'data-testid': 'note-text',
      placeholder: 'Assessment, plan…', oninput: (e) => saveUi({ noteDraft: { patientId: p.id, text: e.target.value } }),
    }),
    h('div', { class: 'row-actions' },
      h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'sign-note', onclick: () => onSignNote(p) }, 'Sign note'),
      h('span', { class: 'hint' }, app.device.shared ? 'On a shared tablet signing asks for your passkey.' : '')),
    resultLine(p, 'note-sign'));
}

function vitalsCard(p) {
  // Recorded on the server, then those still waiting on this device (offline).
  const rows = [
    ...((app.chart && app.chart.vitals) || []).map((v) => ({ atMs: v.createdAtMs, text: T.vitalsText(v.values || {}), where: 'recorded by ' + v.author })),
    ...(app.vitals.get(p.id) || []),
  ];
  const field = (id, label, ph) => h('div', {}, h('label', { for: id }, label), h('input', { type: 'text', id, inputmode: 'decimal', placeholder: ph, 'data-testid': id }));
  return h('section', { class: 'card', 'aria-labelledby': 'vitals-h' },
    h('h3', { id: 'vitals-h' }, 'Vital signs'),
    rows.length ? h('ul', { class: 'notes' }, ...rows.slice().reverse().map((r) => h('li', {}, h('div', {}, r.text), h('div', { class: 'note-meta' }, `${timeOfDay(r.atMs)} · ${r.where}`)))) : null,
    h('div', { class: 'vitals-form' },
      field('v-hr', 'Heart rate', '72'), field('v-bp', 'Blood pressure', '120/80'),
      field('v-spo2', 'SpO₂ %', '97'), field('v-temp', 'Temp °C', '36.8')),
    h('div', { class: 'row-actions' },
      h('button', { type: 'button', class: 'btn', 'data-testid': 'record-vitals', onclick: () => onRecordVitals(p) }, 'Record vitals')),
    resultLine(p, 'vitals-record'));
}

function prescribeCard(p) {
  return h('section', { class: 'card', 'aria-labelledby': 'rx-h' },
    h('h3', { id: 'rx-h' }, 'Prescribe a controlled substance'),
    h('label', { for: 'rx-drug' }, 'Medication'),
    h('select', { id: 'rx-drug', 'data-testid': 'rx-drug' }, ...CONTROLLED.map((c) => h('option', { value: c.drug }, `${c.label} (${c.schedule})`))),
    h('div', { class: 'epcs-box' }, h('span', { class: 'label label-controlled' }, 'EPCS'), ' Each prescription is signed on its own with your security key or phone; the attestation stays on screen while you approve.'),
    h('div', { class: 'row-actions' },
      h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'prescribe', onclick: () => onPrescribe(p) }, 'Sign & send prescription')),
    resultLine(p, 'medication-prescribe'));
}

// ---- actions -------------------------------------------------------------------------------

async function onSignOrder(p, order) {
  const result = await perform(T.signOrder(app.session, app.device, p, order));
  if (result.ok) {
    setResult(p, 'order-sign', true, `Signed: ${order.summary}.`);
    const o = result.data.order;
    const orders = (app.chart.orders || []).map((x) => (x.id === o.id ? o : x));
    app.chart = { ...app.chart, orders };
    cacheChart(p.id, app.chart);
  } else {
    setResult(p, 'order-sign', false, explain(result));
  }
  rerender();
}

async function onSignNote(p) {
  const text = ($('note-text')?.value || '').trim();
  if (!text) { setResult(p, 'note-sign', false, 'Write the note first.'); return rerender(); }
  const result = await perform(T.signNote(app.session, app.device, p, text));
  if (result.ok) {
    setResult(p, 'note-sign', true, 'Note signed.');
    saveUi({ noteDraft: null });
    const note = { ...result.data.note, createdMs: Date.now() };
    app.chart = { ...app.chart, notes: [...(app.chart.notes || []), note] };
    cacheChart(p.id, app.chart);
  } else {
    setResult(p, 'note-sign', false, explain(result));
  }
  rerender();
}

async function onRecordVitals(p) {
  const val = (id) => ($(id)?.value || '').trim();
  const vitals = { heartRate: val('v-hr'), bloodPressure: val('v-bp'), spo2: val('v-spo2'), temperature: val('v-temp') };
  if (!Object.values(vitals).some(Boolean)) { setResult(p, 'vitals-record', false, 'Enter at least one value.'); return rerender(); }
  const job = T.recordVitals(app.session, app.device, p, vitals);
  const result = await perform(job);
  const list = app.vitals.get(p.id) || [];
  if (result.ok) {
    const v = result.data.vitals;
    app.chart = { ...app.chart, vitals: [...(app.chart.vitals || []), { ...v, createdAtMs: Date.now() }] };
    cacheChart(p.id, app.chart);
    setResult(p, 'vitals-record', true, 'Vitals recorded.');
  } else if (result.offline) {
    list.push({ atMs: Date.now(), text: T.vitalsText(vitals), where: 'offline: sent on reconnect' });
    queueOutbox(job);
    setResult(p, 'vitals-record', true, 'Recorded offline: sent when the connection is back.');
  } else {
    setResult(p, 'vitals-record', false, explain(result));
  }
  app.vitals.set(p.id, list);
  rerender();
}

function queueOutbox(job) {
  let box = [];
  try { box = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || '[]'); } catch { /* empty */ }
  box.push(job);
  try { sessionStorage.setItem(OUTBOX_KEY, JSON.stringify(box)); } catch { /* kept in memory only */ }
}

async function flushOutbox() {
  let box = [];
  try { box = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) || '[]'); } catch { return; }
  if (!box.length || !app.gate) return;
  sessionStorage.removeItem(OUTBOX_KEY);
  for (const job of box) {
    job.task.connectivity = 'online';
    const r = await perform(job);
    if (!r.ok && r.offline) queueOutbox(job);
  }
  // What was waiting on this device is on the server now: show the server's chart.
  if (!sessionStorage.getItem(OUTBOX_KEY)) {
    app.vitals.clear();
    if (app.current) await openChart(app.current);
  }
}

async function onPrescribe(p) {
  const rx = CONTROLLED.find((c) => c.drug === $('rx-drug').value) || CONTROLLED[0];
  const result = await perform(T.prescribe(app.session, app.device, p, { ...rx, controlled: true }));
  if (result.ok) setResult(p, 'medication-prescribe', true, `Prescription sent: ${rx.label}, ${rx.quantity}.`);
  else setResult(p, 'medication-prescribe', false, explain(result));
  rerender();
}

function rerender() {
  renderChart();
  renderActivity();
}

// ---- break-glass --------------------------------------------------------------------------------

let bgPatient = null;

function openBreakGlass(p) {
  bgPatient = p;
  $('bg-patient').textContent = `${p.name} (${p.id})`;
  $('bg-reason').value = '';
  setMsg('bg-msg', '');
  $('bg-dialog').showModal();
  $('bg-reason').focus();
}

async function onBreakGlassSubmit(event) {
  event.preventDefault();
  const detail = $('bg-reason').value.trim();
  if (detail.length < 5) {
    setMsg('bg-msg', 'A reason is required: say what is happening.');
    $('bg-reason').focus();
    return;
  }
  const reason = `${$('bg-reason-kind').value}: ${detail}`;
  const p = bgPatient;
  $('bg-dialog').close();
  app.current = p.id;
  saveUi({ patientId: p.id });
  const result = await perform(T.breakGlass(app.session, app.device, p, reason));
  if (result.ok) {
    app.denied = null;
    app.chart = { ...result.data, mode: 'emergency' };
    showBanner(`Emergency access to ${p.name} is recorded and will be reviewed.`, 'danger');
  } else {
    app.chart = null;
    app.denied = { patient: p, kind: result.outcome?.kind || 'error', title: 'Emergency access refused', text: explain(result), ruleIds: result.outcome?.ruleIds || [] };
  }
  rerender();
}

// ---- passkey prompt (the Gate's 'prompt' events) ---------------------------------------------------

function onPromptEvent(detail) {
  if (detail.kind === 'ceremony') {
    showPrompt(detail);
  } else if (detail.kind === 'pending') {
    // A task waits to be offered again and nothing in this tab waits for it (a reload or an
    // unlock mid-ceremony): offer it, in the clinician's words.
    const task = detail.task;
    const p = task.patient ? patientById(task.patient.id) : null;
    showBanner(`Not finished: ${T.describeTask(task, p && p.name)}.`, 'info', {
      label: 'Continue', run: () => resumeTask(task),
    });
  }
}

async function resumeTask(task) {
  hideBanner();
  const request = T.requestForTask(task);
  const p = task.patient ? patientById(task.patient.id) : null;
  if (task.action === 'patient-view' && !task.emergency && p) return openChart(p.id);
  const result = await perform({ task, request });
  if (p) setResult(p, task.action, result.ok, result.ok ? 'Done.' : explain(result));
  if (p && app.current === p.id && result.ok) await openChart(p.id);
  else rerender();
}

function showPrompt(detail) {
  const task = detail.task;
  const p = task.patient ? patientById(task.patient.id) : null;
  const epcs = task.action === 'medication-prescribe' && (task.patient?.labels || []).includes('controlled-substance');
  $('prompt-title').textContent = epcs ? 'Sign this controlled-substance prescription' : 'Confirm with your passkey';
  $('prompt-reason').textContent = detail.reason || '';
  const quote = $('prompt-task');
  quote.textContent = T.describeTask(task, p && p.name);
  quote.classList.toggle('epcs', epcs);
  const dlg = $('prompt-dialog');
  dlg.dataset.taskHash = detail.taskHash;
  dlg.dataset.action = task.action;
  if (!dlg.open) dlg.showModal();
}

function closePrompt() {
  const dlg = $('prompt-dialog');
  if (dlg.open) dlg.close();
}

// ---- lock, unlock, handoff ---------------------------------------------------------------------------

function showLock(reason) {
  closePrompt();
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  $('lock-who').textContent = app.session ? `${app.session.user.name || app.session.user.id} is signed in on this device.` : '';
  $('lock-reason').textContent = reason === 'idle' ? 'Locked after a period without activity.' : reason === 'absolute' ? 'The session reached its time limit: confirm it is you.' : 'Locked by hand.';
  setMsg('lock-msg', '');
  $('btn-lock-handover').hidden = !(app.device && app.device.shared);
  $('lock').hidden = false;
  $('btn-unlock').focus();
}

function hideLock() {
  $('lock').hidden = true;
}

async function onUnlock() {
  if (!app.gate) return;
  setMsg('lock-msg', 'Confirm with your passkey…', true);
  try {
    const r = await app.gate.unlock();
    if (r.kind === 'unlocked' || r.kind === 'not-locked') {
      hideLock();
      setMsg('lock-msg', '');
    } else {
      setMsg('lock-msg', 'Passkey cancelled: still locked.');
    }
  } catch (e) {
    setMsg('lock-msg', e.message || String(e));
  }
}

function openHandover() {
  const sel = $('handover-to');
  const me = app.session.user.id;
  sel.replaceChildren(...STAFF.filter((s) => s.id !== me).map((s) => h('option', { value: s.id }, `${s.name} (${s.role})`)));
  $('handover-from').textContent = app.session.user.name || me;
  setMsg('handover-msg', '');
  $('handover-dialog').showModal();
}

async function onHandoverSubmit(event) {
  event.preventDefault();
  const next = $('handover-to').value;
  setMsg('handover-msg', 'The next clinician confirms with their passkey…', true);
  try {
    // The next clinician's passkey first (a cancel changes nothing); then the previous session
    // ends server-side (its grants die with it) and the new one starts on this device.
    const { requestId, publicKey } = await api.postJson('/api/signin/start', { userId: next });
    const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
    await api.postJson('/api/signout', {});
    const { session } = await api.postJson('/api/signin/finish', { requestId, credential: cred.toJSON(), device: app.device });
    $('handover-dialog').close();
    app.handingOver = true;
    try { await app.gate.handoff(gateSession(session)); } finally { app.handingOver = false; }
    await becomeClinician(session);
    toast(`Handed over to ${session.user.name || session.user.id}.`, 'ok');
  } catch (e) {
    setMsg('handover-msg', e instanceof api.ApiError ? e.message : ceremonyMessage(e));
    if (!(await api.currentSession())) { $('handover-dialog').close(); await onSignout(); }
  }
}

/** A new clinician on this device (handoff here or in another tab): wipe the previous one's
 * screen state and start over with the new session. */
async function becomeClinician(session) {
  stopSessionUi();
  wipePortalStorage();
  hideBanner();
  app.session = session;
  app.device = session.device || app.device;
  renderHeader();
  await loadPatients();
  startTimers();
  await refreshServerAudit();
  renderActivity();
}

async function onHandoffEvent(detail) {
  if (app.handingOver || (app.session && detail.sessionId === app.session.sessionId)) return; // ours
  // Another tab handed the device over: the Gate already wiped this tab's grants.
  const session = await api.currentSession().catch(() => null);
  if (session && session.sessionId === detail.sessionId) await becomeClinician(session);
  else {
    stopSessionUi();
    wipePortalStorage();
    if (detail.user) {
      app.session = { ...app.session, sessionId: detail.sessionId, user: { ...detail.user, name: detail.user.id } };
      renderHeader();
    }
  }
}

function sessionGone() {
  if (app.gate) { app.gate.dispose(); app.gate = null; }
  afterLogout();
  showSignin('Your session ended: sign in again.');
}

// ---- activity panel: grants, friction, audit ------------------------------------------------------

function heldGrants() {
  if (!app.gate) return [];
  let st;
  try { st = app.gate.state(); } catch { return []; }
  const now = Date.now();
  const spent = new Set(st.spentGrants || []);
  return (st.grants || []).filter((g) => g.claims.exp * 1000 > now && !spent.has(g.claims.jti));
}

function grantScope(c) {
  const acts = (c.scp.actions || []).map((a) => T.ACTION_LABEL[a] || a).join(', ');
  const p = c.scp.patient ? patientById(c.scp.patient) : null;
  switch (c.scp.kind) {
    case 'task': return `${acts || 'One task'}: this task only${c.once ? ', once' : ''}`;
    case 'action-patient': return `${acts} · ${p ? p.name : c.scp.patient}`;
    case 'action': return `${acts} · any patient`;
    default: return 'Everything this session';
  }
}

function renderGrants() {
  const list = $('grants');
  const grants = heldGrants();
  if (!grants.length) {
    list.replaceChildren(h('li', { class: 'muted' }, 'None: low-risk work needs none.'));
    return;
  }
  const now = Date.now();
  list.replaceChildren(...grants.map((g) => {
    const left = g.claims.exp * 1000 - now;
    return h('li', { 'data-testid': 'grant', 'data-jti': g.claims.jti },
      h('span', {}, grantScope(g.claims)),
      h('span', { class: 'grant-life' + (left < 60_000 ? ' low' : ''), title: 'Time left' }, clock(left)));
  }));
}

function renderGrantLife() {
  const el = $('order-grant-life');
  if (!el || !app.chart) return;
  const pid = app.chart.patient.id;
  const g = heldGrants().find((x) => (x.claims.scp.actions || []).includes('order-sign') && x.claims.scp.patient === pid);
  el.textContent = g
    ? `Your passkey approval covers signing orders for this patient for ${clock(g.claims.exp * 1000 - Date.now())} more.`
    : 'Signing an order asks for your passkey once; further orders for this patient are then covered for a while.';
}

function renderFrictionPanel() {
  if (!app.gate) return;
  let m;
  try { m = app.gate.metrics(); } catch { return; }
  renderFriction($('friction-chart'), m);
  $('friction-note').textContent = `${m.allowedWithoutPrompt} of ${m.decisions} decisions needed no prompt · ${m.appSwitchesDuringPrompt} app switches during a prompt · ${m.auditQueued} audit events waiting`;
  $('friction-note').dataset.auditQueued = m.auditQueued;
}

function auditLine(e, src) {
  const task = e.task || null;
  const p = task && task.patientId ? patientById(task.patientId) : null;
  const bits = [];
  if (task) bits.push(`${T.ACTION_LABEL[task.action] || task.action}${p ? ' · ' + p.name : ''}`);
  if (e.outcome) bits.push(e.outcome);
  if (e.reason) bits.push(e.reason);
  const tag = { server: ['server', 'src-server', 'Recorded by the server'], client: ['browser', 'src-client', 'Sent by the browser, stored by the server'], queued: ['queued', 'src-queued', 'Waiting in this browser for the server'] }[src];
  return h('li', { 'data-kind': e.kind, 'data-id': e.id, 'data-src': src },
    h('time', {}, timeOfDay(e.atMs || Date.now())),
    h('span', {}, h('span', { class: 'kind' }, e.kind), h('span', { class: 'src ' + tag[1], title: tag[2] }, tag[0]),
      e.reviewRequired ? h('span', { class: 'flag' }, ' · review') : null),
    h('span', { class: 'detail' }, bits.join(' — ')));
}

function renderAudit() {
  const seen = new Set();
  const rows = [];
  for (const e of app.serverAudit) {
    seen.add(e.id);
    rows.push({ e, src: e.source === 'client' ? 'client' : 'server' });
  }
  for (const e of app.localAudit.values()) {
    if (!seen.has(e.id) && !app.serverIds.has(e.id)) rows.push({ e, src: 'queued' });
  }
  rows.sort((a, b) => (b.e.atMs || 0) - (a.e.atMs || 0));
  $('audit').replaceChildren(...rows.slice(0, 80).map((r) => auditLine(r.e, r.src)));
  const queued = rows.filter((r) => r.src === 'queued').length;
  $('audit-sync').textContent = queued ? `· ${queued} queued` : '· all on the server';
}

function renderActivity() {
  renderGrants();
  renderGrantLife();
  renderFrictionPanel();
  renderAudit();
}

async function refreshServerAudit() {
  if (!app.session || !navigator.onLine) return;
  try {
    const events = await api.serverAudit(app.session.sessionId);
    app.serverAudit = events;
    for (const e of app.serverAudit) app.serverIds.add(e.id);
  } catch { /* offline or signed out: keep what we have */ }
}

function startTimers() {
  for (const t of app.timers) clearInterval(t);
  app.timers = [
    setInterval(() => { renderGrants(); renderGrantLife(); renderFrictionPanel(); }, 1000),
    setInterval(async () => { await refreshServerAudit(); renderAudit(); }, 3000),
  ];
}

// ---- wiring -----------------------------------------------------------------------------------------

function wireGate(gate) {
  gate.addEventListener('prompt', (e) => onPromptEvent(e.detail));
  gate.addEventListener('grant', (e) => {
    if (e.detail.source === 'elsewhere') toast('Passkey approval received from another tab.');
    renderActivity();
  });
  gate.addEventListener('lock', (e) => showLock(e.detail.reason));
  gate.addEventListener('unlock', () => { hideLock(); renderActivity(); });
  gate.addEventListener('handoff', (e) => onHandoffEvent(e.detail));
  gate.addEventListener('logout', () => {
    if (app.gate === gate) { gate.dispose(); app.gate = null; afterLogout(); }
  });
  gate.addEventListener('audit', (e) => {
    app.localAudit.set(e.detail.id, e.detail);
    renderAudit();
    renderFrictionPanel();
  });
}

function wireStatic() {
  $('signin-form').addEventListener('submit', onSignin);
  $('btn-register').addEventListener('click', onRegister);
  $('btn-signout').addEventListener('click', onSignout);
  $('btn-lock-signout').addEventListener('click', onSignout);
  $('btn-lock').addEventListener('click', () => app.gate && app.gate.lock());
  $('btn-unlock').addEventListener('click', onUnlock);
  $('btn-handover').addEventListener('click', openHandover);
  $('btn-lock-handover').addEventListener('click', () => { hideLock(); openHandover(); });
  $('handover-form').addEventListener('submit', onHandoverSubmit);
  $('handover-cancel').addEventListener('click', () => {
    $('handover-dialog').close();
    if (app.gate && app.gate.state().status.status === 'locked') showLock('manual');
  });
  $('bg-form').addEventListener('submit', onBreakGlassSubmit);
  $('bg-cancel').addEventListener('click', () => $('bg-dialog').close());
  $('btn-open-tab').addEventListener('click', () => window.open(location.pathname, '_blank'));
  // The prompt stays while the ceremony runs; Escape must not hide what is being approved.
  $('prompt-dialog').addEventListener('cancel', (e) => e.preventDefault());
  window.addEventListener('online', async () => {
    renderNet();
    hideBanner();
    await flushOutbox();
    await refreshServerAudit();
    renderActivity();
  });
  window.addEventListener('offline', () => { renderNet(); showBanner('Offline: viewing charts and recording vitals go on; signing, ordering and prescribing wait for the connection.'); });
  // bfcache: a page restored after sign-out must not show the previous session.
  window.addEventListener('pageshow', async (e) => {
    if (e.persisted && app.session) {
      const s = await api.currentSession().catch(() => null);
      if (!s || s.sessionId !== app.session.sessionId) location.reload();
    }
  });
}

boot().catch((e) => {
  console.error(e);
  showBanner('The portal could not start: ' + (e.message || e), 'danger');
});
