// Scenario 9: RFC 9470 step-up through gate.fetch: a protected call without a fresh enough
// grant gets `401 insufficient_user_authentication`, runs exactly one step-up, and succeeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, signedIn, serverEvents, serverKinds, prompts } from './lib.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

/** `gate.fetch` from the page, with no task given: the server's challenge names it. */
const gateFetch = (page, url, init) => page.evaluate(async ({ url, init }) => {
  try {
    const r = await window.wardportal.gate.fetch(url, { ...init, headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, credentials: 'same-origin' });
    return { status: r.status, body: await r.json() };
  } catch (e) {
    return { error: e.code || String(e), message: e.message };
  }
}, { url, init });

test('9: a protected call without a grant triggers exactly one step-up through gate.fetch, then succeeds', async () => {
  const { context, page } = await signedIn(browser, srv, { user: 'dr-lee' });
  const order = await page.evaluate(async () => (await (await fetch('/api/patients/p-1008')).json()).orders.find((o) => o.status === 'draft'));
  const before = await prompts(page);
  const r = await gateFetch(page, `/api/orders/${order.id}/sign`, { method: 'POST', body: JSON.stringify({ patientId: 'p-1008', summary: 'sign ' + order.summary }) });
  assert.equal(r.status, 200, JSON.stringify(r));
  assert.equal(r.body.order.status, 'signed');
  assert.equal(await prompts(page) - before, 1, 'exactly one step-up');
  const events = await serverEvents(page);
  const decisions = serverKinds(events, 'decision').filter((e) => e.task?.action === 'order-sign');
  assert.deepEqual(decisions.map((e) => e.outcome), ['step-up', 'allow'], 'refused once (401), then allowed with the grant');
  assert.equal(serverKinds(events, 'challenge-issued').length, 1);
  assert.equal(serverKinds(events, 'grant-used').length, 1);
  await context.close();
});

test('9b: a malformed WWW-Authenticate is an error, not a loop', async () => {
  const { context, page } = await signedIn(browser, srv, { user: 'dr-okafor' });
  let calls = 0;
  await page.route('**/api/orders/*/sign', (route) => {
    calls += 1;
    return route.fulfill({ status: 401, headers: { 'WWW-Authenticate': 'Bearer error="insufficient_user_authentication", max_age=' }, json: { code: 'WARDGATE_STEP_UP_REQUIRED' } });
  });
  const before = await prompts(page);
  const r = await gateFetch(page, '/api/orders/o-1001-1/sign', { method: 'POST', body: JSON.stringify({ patientId: 'p-1001' }) });
  assert.equal(r.error, 'WARDGATE_RFC9470_MALFORMED', JSON.stringify(r));
  assert.equal(calls, 1, 'not retried');
  assert.equal(await prompts(page), before, 'no prompt');
  await context.close();
});
