// Scenario 7: offline, allowed work goes on, the rest says needs-connection; every audit event
// written offline reaches the server after reconnect, exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, signedIn, openChart, act, tid, serverEvents, prompts, firstDraftOrder, metrics,
} from './lib.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

test('7: offline work, needs-connection, and an audit trail that arrives whole after reconnect', async () => {
  const { context, page } = await signedIn(browser, srv, { user: 'dr-okafor' });
  await openChart(page, 'p-1001'); // seen once online: the chart is on this device
  await page.evaluate(() => {
    window.e2eAudit = [];
    window.wardportal.gate.addEventListener('audit', (e) => window.e2eAudit.push(e.detail.id));
  });
  const promptsBefore = await prompts(page);

  await context.setOffline(true);
  await page.waitForFunction(() => !navigator.onLine && window.wardportal.gate.state().online === false);
  await openChart(page, 'p-1001');
  await page.waitForSelector(tid('offline-flag'));
  await page.fill(tid('v-hr'), '88');
  await page.fill(tid('v-spo2'), '95');
  assert.equal(await act(page, tid('record-vitals'), 'vitals-record'), 'Recorded offline: sent when the connection is back.');
  const refused = await act(page, await firstDraftOrder(page), 'order-sign');
  assert.match(refused, /^Needs a connection/);
  assert.equal(await prompts(page), promptsBefore, 'no ceremony that cannot complete');
  const offlineIds = await page.evaluate(() => window.e2eAudit.slice());
  assert.ok(offlineIds.length >= 3, `audit events written offline: ${offlineIds.length}`);
  assert.ok((await metrics(page)).auditQueued >= offlineIds.length, 'kept in the durable queue');

  await context.setOffline(false);
  await page.waitForFunction(() => window.wardportal.gate.metrics().auditQueued === 0, null, { timeout: 20_000 });
  // The vitals queued offline are on the server now, once.
  await page.waitForFunction(async () => {
    const c = await (await fetch('/api/patients/p-1001')).json();
    return c.vitals && c.vitals.length === 1;
  }, null, { timeout: 20_000 });
  const ids = await page.evaluate(() => window.e2eAudit.slice());
  const events = await serverEvents(page);
  const stored = events.filter((e) => e.source !== 'server').map((e) => e.id);
  for (const id of ids) assert.equal(stored.filter((x) => x === id).length, 1, `event ${id} stored exactly once`);
  assert.equal(new Set(stored).size, stored.length, 'no duplicates on the server');
  assert.equal((await metrics(page)).auditLost, 0);
  await context.close();
});
