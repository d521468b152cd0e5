// Scenarios 4-5: grants carry across tabs (one ceremony for K tabs), a ceremony cut off by a
// tab or app switch is offered again, and a reload keeps the grant.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, signedIn, openPortal, openChart, act, tid, serverEvents, serverKinds,
  metrics, prompts, firstDraftOrder, setVisibility,
} from './lib.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

test('4a: a grant earned in tab A is used in tab B of the same session with no prompt', async () => {
  const { context, page: a, auth } = await signedIn(browser, srv, { user: 'dr-okafor' });
  const { page: b } = await openPortal(context, srv, { auth });
  await b.waitForSelector('#view-ward:not([hidden])');
  const sid = await a.evaluate(() => window.wardportal.session.sessionId);
  assert.equal(await b.evaluate(() => window.wardportal.session.sessionId), sid, 'one portal session');
  await openChart(a, 'p-1001');
  assert.match(await act(a, await firstDraftOrder(a), 'order-sign'), /^Signed/);
  assert.equal(await prompts(a), 2, 'sign-in and one step-up');
  // Tab B learnt of the grant over BroadcastChannel and signs with no prompt.
  await b.waitForFunction(() => window.wardportal.gate.state().grants.length > 0, null, { timeout: 5000 });
  await openChart(b, 'p-1001');
  assert.match(await act(b, await firstDraftOrder(b), 'order-sign'), /^Signed/);
  assert.equal(await prompts(b), 2, 'no prompt in tab B');
  assert.equal((await metrics(b)).prompts, 0);
  const events = await serverEvents(a);
  assert.equal(serverKinds(events, 'grant-earned').length, 1);
  const used = serverKinds(events, 'grant-used');
  assert.equal(used.length, 2);
  assert.equal(new Set(used.map((e) => e.grantId)).size, 1, 'tab B spent tab A\'s grant');
  await context.close();
});

test('4b: five tabs needing the same step-up at once run exactly one ceremony', async () => {
  const { context, page: first, auth } = await signedIn(browser, srv, { user: 'dr-lee' });
  const tabs = [first];
  for (let i = 1; i < 5; i += 1) {
    const { page } = await openPortal(context, srv, { auth });
    await page.waitForSelector('#view-ward:not([hidden])');
    tabs.push(page);
  }
  for (const [i, t] of tabs.entries()) {
    await openChart(t, 'p-1004');
    await t.fill(tid('note-text'), `Tab ${i + 1}: reviewed overnight glucose, plan unchanged.`);
  }
  const before = await prompts(first);
  const results = await Promise.all(tabs.map((t) => act(t, tid('sign-note'), 'note-sign', { timeout: 30_000 })));
  for (const r of results) assert.equal(r, 'Note signed.');
  assert.equal(await prompts(first) - before, 1, 'one ceremony for five tabs');
  const events = await serverEvents(first);
  assert.equal(serverKinds(events, 'challenge-issued').length, 1);
  assert.equal(serverKinds(events, 'grant-earned').length, 1);
  assert.equal(serverKinds(events, 'grant-used').length, 5, 'five notes, one grant');
  const chart = await first.evaluate(async () => (await fetch('/api/patients/p-1004')).json());
  assert.equal(chart.notes.filter((n) => n.text.startsWith('Tab ')).length, 5, 'the server has all five notes');
  await context.close();
});

test('5: a ceremony cut off by a tab switch is offered again and completes; a reload keeps the grant', async () => {
  const { context, page, auth } = await signedIn(browser, srv, { user: 'dr-okafor' });
  await openChart(page, 'p-1002');
  await page.evaluate(() => { window.e2eCutOffWhenHidden = true; });
  await auth.setPresence(false); // the clinician has not touched the authenticator yet
  const line = tid('result-order-sign');
  await page.click(await firstDraftOrder(page));
  await page.waitForSelector('#prompt-dialog[open]');
  await setVisibility(page, 'hidden'); // switches to another app: the OS sheet goes away
  await page.waitForFunction(() => window.wardportal.gate.metrics().interrupted === 1);
  await auth.setPresence(true);
  await setVisibility(page, 'visible'); // back: the same task is offered again
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.seq) > 0, line, { timeout: 20_000 });
  assert.match(await page.locator(line).textContent(), /^Signed/);
  const m = await metrics(page);
  assert.equal(m.interrupted, 1);
  assert.equal(m.resumed, 1);
  assert.equal(m.approvals, 1);
  assert.equal(await prompts(page), 3, 'sign-in, the cut-off ceremony, the resumed one');
  // Reload: the grant is still there, the next order of this patient needs no prompt.
  await page.reload();
  await page.waitForSelector('html[data-ready="true"]');
  await page.waitForSelector('#view-ward:not([hidden])');
  assert.equal((await page.evaluate(() => window.wardportal.gate.state().grants)).length, 1);
  await openChart(page, 'p-1002');
  assert.match(await act(page, await firstDraftOrder(page), 'order-sign'), /^Signed/);
  assert.equal(await prompts(page), 3, 'no prompt after the reload');
  const events = await serverEvents(page);
  assert.equal(serverKinds(events, 'grant-earned').length, 1);
  assert.equal(serverKinds(events, 'grant-used').length, 2);
  await context.close();
});
