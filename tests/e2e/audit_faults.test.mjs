// Issue 6: the browser audit queue under faults. The server is down while three tabs of one
// session write 1,000 audit events; two tabs are closed, the server comes back, the last open
// tab is closed in the middle of a flush, two tabs are reopened: every event reaches the
// server, exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, signedIn, openPortal, serverEvents } from './lib.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

const listen = (page) => page.evaluate(() => {
  window.e2eAudit = [];
  window.wardportal.gate.addEventListener('audit', (e) => window.e2eAudit.push(e.detail.id));
});

/** `n` low-risk decisions (vitals, allowed with no network) in `page`: one audit event each. */
const decide = (page, n) => page.evaluate(async (n) => {
  const s = window.wardportal.session;
  for (let i = 0; i < n; i += 1) {
    const task = {
      user: { id: s.user.id, roles: s.user.roles }, action: 'vitals-record',
      patient: { id: 'p-100' + (1 + (i % 8)), labels: [] }, device: s.device, zone: 'ward-4b', connectivity: 'online',
    };
    const o = await window.wardportal.gate.begin(task);
    if (o.kind !== 'allowed') throw new Error('not allowed: ' + JSON.stringify(o));
  }
  return window.e2eAudit.slice();
}, n);

test('1,000 audit events across 3 tabs, server down, tabs closed mid-flush and reopened: each arrives exactly once', async () => {
  const { context, page: one, auth } = await signedIn(browser, srv, { user: 'rn-ade', device: 'personal' });
  const tabs = [one];
  for (let i = 0; i < 2; i += 1) {
    const { page } = await openPortal(context, srv, { auth });
    await page.waitForSelector('#view-ward:not([hidden])');
    tabs.push(page);
  }
  for (const t of tabs) await listen(t);
  const credentials = await auth.credentials(); // the device's passkeys, for the reopened tabs
  const port = srv.port;
  await srv.stop({ keepData: true }); // the server is down for the whole period

  const ids = new Set();
  const counts = [400, 300, 300];
  await Promise.all(tabs.map(async (t, i) => {
    for (const id of await decide(t, counts[i])) ids.add(id);
  }));
  assert.ok(ids.size >= 1000, `events written: ${ids.size}`);
  // Two tabs are closed with their events still queued.
  await tabs[1].close();
  await tabs[2].close();

  // The server comes back; the first flush of the last tab is cut off by closing the tab.
  let seen = 0;
  await one.route('**/api/audit', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    seen += 1;
    await new Promise((r) => setTimeout(r, 1500));
    return route.continue().catch(() => {});
  });
  srv = await startServer({ dataDir: srv.dataDir, port });
  const deadline = Date.now() + 20_000;
  while (seen === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(seen > 0, 'a flush started');
  await one.close({ runBeforeUnload: false }); // mid-flush

  // Two tabs reopened (the same session, the same device): they flush what is queued.
  const reopened = [];
  for (let i = 0; i < 2; i += 1) {
    const { page } = await openPortal(context, srv, { credentials });
    await page.waitForSelector('#view-ward:not([hidden])');
    reopened.push(page);
  }
  await reopened[0].waitForFunction(() => window.wardportal.gate.metrics().auditQueued === 0, null, { timeout: 60_000 });
  const events = await serverEvents(reopened[0]);
  const stored = events.filter((e) => e.source !== 'server').map((e) => e.id);
  const missing = [...ids].filter((id) => !stored.includes(id));
  assert.deepEqual(missing, [], `${missing.length} events missing on the server`);
  assert.equal(new Set(stored).size, stored.length, 'no event stored twice');
  const m = await reopened[0].evaluate(() => window.wardportal.gate.metrics());
  assert.equal(m.auditLost, 0);
  assert.equal(m.auditNotDurable, 0);
  await context.close();
});
