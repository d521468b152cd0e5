// §3 in headless Chromium: cold start (fresh page each run, pkg/ from the HTTP cache), cross-tab
// grant latency (a grant earned in tab A observed in tab B, 'grant' event), and the ceremony
// overhead (wardgate's own time in a step-up, without the authenticator's and the server's).
//
// The relying party is a stub in this process (real HTTP on localhost): it decides with the
// real policy (pkg/ in node), answers step-up options whose challenge carries the task's hash,
// and mints EdDSA (Ed25519) grant JWTs with node:crypto. It checks no assertion: the
// authenticator is Chrome's virtual one (CDP WebAuthn), holding a P-256 credential made here.
// `node startup.mjs [out.json] [--quick]`
import { readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes, sign, createPublicKey, createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';
import { launch, watch } from './lib/browser.mjs';
import { stats } from './lib/harness.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = process.argv.find((a, i) => i > 1 && !a.startsWith('--'));
const quick = process.argv.includes('--quick');
const log = (...a) => console.error('[startup]', ...a);
const COLD_RUNS = quick ? 5 : 31;
const TRIALS = quick ? 20 : 200;
const WARM_TRIALS = quick ? 3 : 10;
// Grants live 2 s (1-2 s: iat is in whole seconds) and trials start at least PACE_MS apart, so a
// tab holds a handful of grants, as a clinician would (the whole state, every grant with its
// token, is written to sessionStorage on each change: 100 held grants double the overhead).
const GRANT_TTL_S = 2;
const PACE_MS = 250;

const wg = await import(root + 'pkg/index.js');
wg.initSync({ module: readFileSync(root + 'pkg/wardgate_bg.wasm') });
const policyText = readFileSync(root + 'pkg-config/policies/clinical-default.json', 'utf8');
const policy = wg.Policy.parse(policyText);

// ---- the stub relying party -------------------------------------------------------------------
const b64u = (buf) => Buffer.from(buf).toString('base64url');
const { privateKey: grantKey } = generateKeyPairSync('ed25519');
const kid = createHash('sha256').update(createPublicKey(grantKey).export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
const mint = (claims) => {
  const input = b64u(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid })) + '.' + b64u(JSON.stringify(claims));
  return input + '.' + b64u(sign(null, Buffer.from(input), grantKey));
};
const credentialId = randomBytes(16);
const { privateKey: credKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SESSION_ID = 's-bench';
const USER = { id: 'dr-okafor', roles: ['physician'] };
const DEVICE = { id: 'tablet-bench', shared: true, managed: true };
const sessionStart = Date.now() - 60_000;
const issued = new Map();
let seq = 0;
const counts = { options: 0, verify: 0, audit: 0, auditEvents: 0 };

const json = (res, headers, status, body) => {
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};
const routes = {
  '/api/step-up/options': (req, res, body, headers) => {
    counts.options++;
    const { task } = JSON.parse(body);
    const facts = { sessionId: SESSION_ID, startedAtMs: sessionStart, lastStrongAuthMs: sessionStart,
      lastActivityMs: Date.now(), rolesAtStart: USER.roles };
    const decision = policy.evaluate(task, facts, Date.now());
    if (decision.effect !== 'step-up') return json(res, headers, 200, { decision });
    const taskHash = wg.taskHash(task);
    const requestId = 'r-' + ++seq;
    issued.set(requestId, { taskHash, requirement: decision.requirement });
    const challenge = Buffer.concat([randomBytes(16), Buffer.from(taskHash, 'hex')]);
    json(res, headers, 200, { decision, requestId, taskHash, publicKey: {
      challenge: b64u(challenge), rpId: 'localhost', timeout: 60_000, userVerification: 'required',
      allowCredentials: [{ type: 'public-key', id: b64u(credentialId) }] } });
  },
  '/api/step-up/verify': (req, res, body, headers) => {
    counts.verify++;
    const { requestId, task } = JSON.parse(body);
    const req0 = issued.get(requestId);
    issued.delete(requestId);
    if (!req0 || req0.taskHash !== wg.taskHash(task)) {
      return json(res, headers, 400, { code: 'WARDGATE_CHALLENGE_UNKNOWN', message: 'unknown request' });
    }
    const now = Math.floor(Date.now() / 1000);
    const r = req0.requirement;
    const scp = r.scope === 'task' ? { kind: 'task', actions: [task.action], patient: task.patient?.id, task: req0.taskHash }
      : r.scope === 'action-patient' ? { kind: 'action-patient', actions: [task.action], patient: task.patient.id }
      : r.scope === 'action' ? { kind: 'action', actions: [task.action] } : { kind: 'session', actions: [] };
    const claims = { iss: 'http://localhost', sub: task.user.id, sid: SESSION_ID, dev: task.device.id, acr: 'phr',
      amr: ['hwk', 'user', 'mfa'], auth_time: now, iat: now, exp: now + GRANT_TTL_S, jti: 'g-' + requestId,
      scp, att: 'any', once: !!r.singleUse };
    json(res, headers, 200, { grant: mint(claims), claims });
  },
  '/api/audit': (req, res, body, headers) => {
    counts.audit++;
    let ids = [];
    try { ids = (JSON.parse(body).events || []).map((e) => e.id); } catch { /* a beacon cut short */ }
    counts.auditEvents += ids.length;
    json(res, headers, 200, { acknowledged: ids });
  },
  '/favicon.ico': (req, res, body, headers) => { res.writeHead(204, headers); res.end(); },
};

const srv = await startServer({ routes });
const browser = await launch();
const result = { runtime: { name: 'chromium', version: browser.version() } };
try {
  const context = await browser.newContext();
  const waitResult = async (page) => {
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000, polling: 20 });
    return page.evaluate(() => window.__result);
  };

  // ---- cold start ----------------------------------------------------------------------------
  const cold = [];
  let first = null;
  for (let i = 0; i <= COLD_RUNS; i++) {
    const page = await context.newPage();
    watch(page, 'cold');
    await page.goto(`${srv.url}/bench/js/page/cold.html`);
    const r = await waitResult(page);
    await page.close();
    if (!r.ok) throw new Error(r.error);
    if (r.firstBeginKind !== 'allowed') throw new Error('cold start: the first decision was ' + r.firstBeginKind);
    if (i === 0) first = r; else cold.push(r);
  }
  result.coldStart = {
    runs: cold.length,
    note: 'fresh page each run; the policy text is in hand; pkg/ from the HTTP cache (run 0, uncached, reported apart)',
    totalMs: stats(cold.map((r) => r.totalMs)),
    importMs: stats(cold.map((r) => r.importMs)),
    initMs: stats(cold.map((r) => r.initMs)),
    gateCreateMs: stats(cold.map((r) => r.createMs)),
    sinceNavigationMs: stats(cold.map((r) => r.sinceNavigationMs)),
    firstBeginMs: stats(cold.map((r) => r.firstBeginMs)),
    secondGateCreateMs: stats(cold.map((r) => r.secondCreateMs)),
    uncachedFirstRun: first,
  };
  log(`cold start: median ${result.coldStart.totalMs.median.toFixed(2)} ms (import ${result.coldStart.importMs.median.toFixed(2)}, init ${result.coldStart.initMs.median.toFixed(2)}, Gate.create ${result.coldStart.gateCreateMs.median.toFixed(2)})`);

  // ---- two tabs of one session -----------------------------------------------------------------
  const pageA = await context.newPage();
  const pageB = await context.newPage();
  watch(pageA, 'tab A');
  watch(pageB, 'tab B');
  const cdp = await context.newCDPSession(pageA);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: {
    protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
    hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true } });
  await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: {
    credentialId: credentialId.toString('base64'), isResidentCredential: false, rpId: 'localhost',
    privateKey: credKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'), signCount: 0 } });
  for (const p of [pageA, pageB]) {
    await p.goto(`${srv.url}/bench/js/page/tab.html`);
    await p.waitForFunction(() => window.__ready === true, null, { timeout: 30_000 });
  }
  const config = { policy: policyText, session: { sessionId: SESSION_ID, user: USER, startedAtMs: sessionStart,
    lastStrongAuthMs: sessionStart }, device: DEVICE, channelName: 'bench', auditFlushIntervalMs: 1000 };
  for (const p of [pageA, pageB]) await p.evaluate((c) => window.bench.create(c), config);
  await pageA.bringToFront();

  // Clock offset of tab B against tab A (NTP-style, the ping with the smallest round trip).
  const pings = await pageA.evaluate(() => window.bench.ping(60, 5));
  if (!pings.length) throw new Error('clock sync: tab B never answered');
  const best = pings.reduce((a, p) => ((p.tA1 - p.tA0) < (a.tA1 - a.tA0) ? p : a));
  const offset = best.tB - (best.tA0 + best.tA1) / 2;
  const rawOneWay = stats(pings.map((p) => (p.tA1 - p.tA0) / 2));
  log(`clock offset B-A ${offset.toFixed(3)} ms (best ping round trip ${(best.tA1 - best.tA0).toFixed(3)} ms)`);

  const task = (i) => ({ user: USER, action: 'order-sign', patient: { id: `p-${i}`, labels: [] },
    targets: [`MedicationRequest/${i}`], summary: `sign order ${i}`, device: DEVICE });
  const trials = [];
  let last = 0;
  for (let i = 0; i < WARM_TRIALS + TRIALS; i++) {
    const wait = last + PACE_MS - Date.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    last = Date.now();
    const held = await pageA.evaluate(() => window.bench.state().grants.length);
    const r = { ...(await pageA.evaluate((t) => window.bench.begin(t), task(i))), held };
    if (r.kind !== 'stepped-up') throw new Error(`trial ${i}: ${JSON.stringify(r)}`);
    await pageB.waitForFunction((tok) => window.bench.seen(tok) !== null, r.token, { timeout: 10_000, polling: 'raf' });
    const tB = await pageB.evaluate((tok) => window.bench.seen(tok), r.token);
    if (i >= WARM_TRIALS) trials.push({ ...r, tB });
  }
  const metricsB = await pageB.evaluate(() => window.bench.metrics());
  const metricsA = await pageA.evaluate(() => window.bench.metrics());
  const stateBytes = await pageA.evaluate(() => JSON.stringify(window.bench.state()).length);
  // What tab A's state (persisted to sessionStorage on every change) is made of, in bytes of JSON.
  const stateParts = await pageA.evaluate(() => Object.fromEntries(Object.entries(window.bench.state())
    .map(([k, v]) => [k, JSON.stringify(v).length]).filter(([, n]) => n > 200)));
  result.crossTab = {
    trials: trials.length,
    note: 'tab A earns a grant (order-sign, a new patient each trial); from the moment wardgate in A posts it on its BroadcastChannel to the moment B\'s gate dispatches its \'grant\' event (clocks: performance.timeOrigin + now(), B\'s corrected by the estimated offset)',
    clockOffsetMs: offset,
    bestPingRoundTripMs: best.tA1 - best.tA0,
    rawBroadcastOneWayMs: rawOneWay,
    latencyMs: stats(trials.map((t) => t.tB - offset - t.postT)),
    fromGrantEventInAMs: stats(trials.map((t) => t.tB - offset - t.hereT)),
    droppedMessagesB: metricsB.droppedMessages,
    grantsHeldByAAtTrialStart: stats(trials.map((t) => t.held)),
    paceMs: PACE_MS,
    grantLifetimeS: GRANT_TTL_S,
    stateBytesA: stateBytes,
    statePartsA: stateParts,
  };
  const q95 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]; };
  result.crossTab.latencyMs.p95 = q95(trials.map((t) => t.tB - offset - t.postT));
  result.crossTab.fromGrantEventInAMs.p95 = q95(trials.map((t) => t.tB - offset - t.hereT));
  log(`cross-tab: p50 ${result.crossTab.latencyMs.median.toFixed(3)} ms, p95 ${result.crossTab.latencyMs.p95.toFixed(3)} ms (raw BroadcastChannel one way ~${rawOneWay.median.toFixed(3)} ms)`);

  const overhead = trials.map((t) => t.totalMs - t.fetchMs - t.getMs);
  result.ceremony = {
    trials: trials.length,
    note: 'gate.begin(order-sign) in tab A to its resolution (stepped-up), minus the time inside fetch for /api/step-up/options and /verify (body read included) and inside navigator.credentials.get (Chrome virtual authenticator, CDP)',
    overheadMs: { ...stats(overhead), p95: q95(overhead) },
    beginTotalMs: { ...stats(trials.map((t) => t.totalMs)), p95: q95(trials.map((t) => t.totalMs)) },
    serverFetchMs: stats(trials.map((t) => t.fetchMs)),
    authenticatorGetMs: stats(trials.map((t) => t.getMs)),
    fetchesPerStepUp: stats(trials.map((t) => t.fetches)).median,
    getsPerStepUp: stats(trials.map((t) => t.gets)).median,
    frictionA: metricsA,
  };
  result.stubServer = counts;
  log(`ceremony overhead: p50 ${result.ceremony.overheadMs.median.toFixed(2)} ms, p95 ${result.ceremony.overheadMs.p95.toFixed(2)} ms (begin ${result.ceremony.beginTotalMs.median.toFixed(2)}, get ${result.ceremony.authenticatorGetMs.median.toFixed(2)}, server ${result.ceremony.serverFetchMs.median.toFixed(2)})`);
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
} finally {
  await browser.close();
  await srv.close();
}
if (out) writeFileSync(out, JSON.stringify(result, null, 2));
else console.log(JSON.stringify(result, null, 2));
