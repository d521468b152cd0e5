// Scenario 6: idle lock then passkey unlock resumes; a handoff on a shared tablet wipes the
// previous clinician's grants in every tab, and the server refuses them too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, signedIn, openPortal, openChart, act, tid, serverEvents, serverKinds,
  prompts, firstDraftOrder, recordGrants, apiCall,
} from './lib.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

test('6a: an idle shared tablet locks; a passkey unlock resumes where the clinician was', async () => {
  const { context, page } = await signedIn(browser, srv, { user: 'rn-ade', clock: true });
  await openChart(page, 'p-1007');
  await page.fill(tid('note-text'), 'Febrile overnight, cultures sent.');
  await page.dispatchEvent(tid('note-text'), 'input');
  // Six minutes without a touch (the shared-device idle limit is five).
  await page.clock.fastForward('06:00');
  await page.waitForSelector('#lock:not([hidden])', { timeout: 10_000 });
  const st = await page.evaluate(() => window.wardportal.gate.state().status);
  assert.equal(st.status, 'locked');
  assert.equal(st.reason, 'idle');
  const before = await prompts(page);
  await page.click(tid('unlock'));
  await page.waitForSelector('#lock[hidden]', { state: 'attached', timeout: 15_000 });
  assert.equal(await prompts(page) - before, 1, 'one passkey to unlock');
  assert.equal((await page.evaluate(() => window.wardportal.gate.state().status)).status, 'active');
  // Where the clinician was: the same chart, the draft note intact.
  assert.match(await page.locator(tid('patient-banner')).textContent(), /p-1007/);
  assert.equal(await page.inputValue(tid('note-text')), 'Febrile overnight, cultures sent.');
  const events = await serverEvents(page);
  assert.equal(serverKinds(events, 'unlock').length, 1, 'the server recorded the unlock');
  const browserLocks = events.filter((e) => e.source !== 'server' && e.kind === 'lock');
  assert.ok(browserLocks.length >= 1 || events.some((e) => e.kind === 'lock'), 'the lock reached the server audit');
  await context.close();
});

test('6b: a handoff wipes the first clinician\'s grants in every tab, and the server refuses them', async () => {
  const { context, page: a, auth } = await signedIn(browser, srv, { user: 'dr-okafor', alsoRegister: ['dr-lee'] });
  const { page: b } = await openPortal(context, srv, { auth });
  await b.waitForSelector('#view-ward:not([hidden])');
  await recordGrants(a);
  await openChart(a, 'p-1001');
  assert.match(await act(a, await firstDraftOrder(a), 'order-sign'), /^Signed/);
  await b.waitForFunction(() => window.wardportal.gate.state().grants.length === 1);
  const [earned] = await a.evaluate(() => window.e2eGrants);
  const firstSession = await a.evaluate(() => window.wardportal.session.sessionId);

  // Dr Okafor hands the tablet to Dr Lee (Dr Lee's passkey).
  await a.click(tid('handover'));
  await a.selectOption(tid('handover-to'), 'dr-lee');
  await a.click(tid('handover-go'));
  await a.waitForFunction(() => window.wardportal.session.user.id === 'dr-lee', null, { timeout: 15_000 });
  for (const t of [a, b]) {
    await t.waitForFunction((sid) => {
      const s = window.wardportal.gate.state();
      return s.sessionId !== sid && s.grants.length === 0 && !s.pending;
    }, firstSession, { timeout: 10_000 });
  }
  assert.match(await b.locator(tid('who')).textContent(), /Lee/);
  for (const t of [a, b]) {
    const keys = await t.evaluate(() => Object.keys(sessionStorage).join(' '));
    assert.doesNotMatch(keys, /chart/, 'no previous chart kept in storage');
  }
  // Server side: the old session is dead, and its grant is refused even in the new session.
  const reuse = await apiCall(a, {
    url: '/api/orders/' + encodeURIComponent((await a.evaluate(async () => (await (await fetch('/api/patients/p-1001')).json()).orders.find((o) => o.status === 'draft').id))) + '/sign',
    method: 'POST', grant: earned.grant, body: { patientId: 'p-1001', summary: 'reuse after handoff' },
  });
  assert.equal(reuse.status, 401, JSON.stringify(reuse.body));
  assert.equal(reuse.body.code, 'WARDGATE_STEP_UP_REQUIRED', 'the old grant counts for nothing: step up (RFC 9470)');
  // Dr Lee cannot read Dr Okafor's session trail either.
  await assert.rejects(serverEvents(a, firstSession), /403/);
  const now = await serverEvents(a);
  const refused = serverKinds(now, 'grant-refused');
  assert.ok(refused.some((e) => e.grantId === earned.claims.jti), `the refused grant is audited: ${JSON.stringify(refused)}`);
  await context.close();
});
