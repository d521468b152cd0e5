// Scenario 8: a replayed assertion, a grant spent on another task or patient, a tampered or
// expired JWT, and a challenge whose task hash is not the task shown are all refused and audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, signedIn, openChart, act, tid, serverEvents, serverKinds, prompts,
  firstDraftOrder, recordGrants, apiCall,
} from './lib.mjs';

let srv, browser, context, page, earned, verifyBody;
before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  ({ context, page } = await signedIn(browser, srv, { user: 'dr-okafor', device: 'personal' }));
  await recordGrants(page);
  page.on('request', (r) => { if (r.url().endsWith('/api/step-up/verify')) verifyBody = r.postData(); });
  await openChart(page, 'p-1001');
  assert.match(await act(page, await firstDraftOrder(page), 'order-sign'), /^Signed/);
  [earned] = await page.evaluate(() => window.e2eGrants);
  assert.ok(earned && verifyBody, 'a grant earned with a real ceremony');
});
after(async () => { await browser?.close(); await srv?.stop(); });

const draftOf = (patient) => page.evaluate(async (p) => (await (await fetch('/api/patients/' + p)).json()).orders.find((o) => o.status === 'draft'), patient);

test('8a: a replayed assertion is refused (single-use challenge) and audited', async () => {
  const failedBefore = serverKinds(await serverEvents(page), 'ceremony-failed').length;
  const r = await apiCall(page, { url: '/api/step-up/verify', method: 'POST', body: JSON.parse(verifyBody) });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.code, 'WARDGATE_CHALLENGE_UNKNOWN');
  assert.equal(serverKinds(await serverEvents(page), 'ceremony-failed').length, failedBefore + 1);
});

test('8b: a grant spent on another patient or another task is refused and audited', async () => {
  const other = await draftOf('p-1002');
  const r1 = await apiCall(page, {
    url: `/api/orders/${other.id}/sign`, method: 'POST', grant: earned.grant,
    body: { patientId: 'p-1002', summary: 'sign with another patient\'s grant' },
  });
  assert.equal(r1.status, 401);
  assert.equal(r1.body.code, 'WARDGATE_STEP_UP_REQUIRED');
  assert.match(r1.wwwAuthenticate, /error="insufficient_user_authentication"/);
  const r2 = await apiCall(page, {
    url: '/api/prescriptions', method: 'POST', grant: earned.grant,
    body: { patientId: 'p-1001', drug: 'oxycodone-5mg-tab', controlled: true, summary: 'EPCS with an order grant' },
  });
  assert.equal(r2.status, 401);
  const refused = serverKinds(await serverEvents(page), 'grant-refused').filter((e) => e.grantId === earned.claims.jti);
  assert.ok(refused.length >= 2, `both refusals audited: ${JSON.stringify(refused.map((e) => e.outcome))}`);
});

test('8c: a tampered grant is refused and audited', async () => {
  const [h, p, s] = earned.grant.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
  claims.scp = { ...claims.scp, kind: 'session' }; // widen the scope
  const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
  const order = await draftOf('p-1002');
  const r = await apiCall(page, {
    url: `/api/orders/${order.id}/sign`, method: 'POST', grant: forged, body: { patientId: 'p-1002', summary: 'forged' },
  });
  assert.equal(r.status, 401);
  const events = serverKinds(await serverEvents(page), 'grant-refused');
  assert.ok(events.some((e) => e.outcome === 'WARDGATE_GRANT_SIGNATURE'), JSON.stringify(events.map((e) => e.outcome)));
});

test('8d: a challenge that does not carry the hash of the task shown is refused before any prompt, and audited', async () => {
  await openChart(page, 'p-1004');
  // The relying party (or someone on the path) answers with a challenge for another task.
  await page.route('**/api/step-up/options', async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    if (body.publicKey) {
      const bytes = Buffer.from(body.publicKey.challenge, 'base64url');
      bytes[bytes.length - 1] ^= 0xff;
      body.publicKey.challenge = bytes.toString('base64url');
    }
    await route.fulfill({ response: resp, json: body });
  });
  const before = await prompts(page);
  const text = await act(page, await firstDraftOrder(page), 'order-sign');
  await page.unroute('**/api/step-up/options');
  assert.equal(await prompts(page), before, 'no passkey prompt for a challenge of another task');
  assert.match(text, /task|challenge/i, text);
  await page.waitForFunction(() => window.wardportal.gate.metrics().auditQueued === 0, null, { timeout: 20_000 });
  const events = await serverEvents(page);
  assert.ok(events.some((e) => e.source !== 'server' && e.kind === 'challenge-mismatch'), 'the browser\'s refusal reached the server audit');
});

test('8e: the server refuses a verify whose task is not the one the challenge was issued for', async () => {
  const order = await draftOf('p-1008');
  const task = {
    user: { id: 'dr-okafor', roles: ['physician'] }, action: 'order-sign',
    patient: { id: 'p-1008', labels: [] }, device: await page.evaluate(() => window.wardportal.session.device),
    zone: 'ward-4b', connectivity: 'online', targets: [order.resource], summary: 'sign ' + order.summary,
  };
  const opts = await apiCall(page, { url: '/api/step-up/options', method: 'POST', body: { task } });
  assert.equal(opts.status, 200, JSON.stringify(opts.body));
  // A real, user-verified assertion over that challenge...
  const credential = await page.evaluate(async (publicKey) => {
    const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
    return cred.toJSON();
  }, opts.body.publicKey);
  // ...presented for another patient's task.
  const swapped = { ...task, patient: { id: 'p-1007', labels: [] } };
  const r = await apiCall(page, { url: '/api/step-up/verify', method: 'POST', body: { requestId: opts.body.requestId, task: swapped, credential } });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.code, 'WARDGATE_CHALLENGE_TASK_MISMATCH');
  const events = serverKinds(await serverEvents(page), 'challenge-mismatch');
  assert.equal(events.length, 1);
});

test('8f: an expired grant is refused and audited (server restarted 16 minutes ahead)', async () => {
  await srv.stop({ keepData: true });
  srv = await startServer({ dataDir: srv.dataDir, port: srv.port, clockOffsetSeconds: 16 * 60 });
  const order = await draftOf('p-1001');
  assert.ok(order, 'the restarted server kept the ward');
  const r = await apiCall(page, {
    url: `/api/orders/${order.id}/sign`, method: 'POST', grant: earned.grant, body: { patientId: 'p-1001', summary: 'late' },
  });
  assert.equal(r.status, 401);
  assert.equal(r.body.code, 'WARDGATE_STEP_UP_REQUIRED');
  const events = serverKinds(await serverEvents(page), 'grant-refused');
  assert.ok(events.some((e) => e.outcome === 'WARDGATE_GRANT_EXPIRED'), JSON.stringify(events.map((e) => e.outcome)));
  await context.close();
});
