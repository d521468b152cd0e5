// The demo portal as a clinician sees it: screenshots in headless Chromium (written to
// target/e2e/), with the page free of script errors and its regions laid out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { root, startServer, launchBrowser, newContext, openPortal, signedIn, openChart, act, tid, firstDraftOrder } from './lib.mjs';

const out = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'e2e');
let srv, browser;
before(async () => { mkdirSync(out, { recursive: true }); srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

const box = async (page, sel) => {
  const b = await page.locator(sel).boundingBox();
  assert.ok(b && b.width > 100 && b.height > 40, `${sel} is laid out: ${JSON.stringify(b)}`);
  return b;
};

test('portal: sign-in, ward, chart, approvals and audit panels render; screenshots', async () => {
  const context = await newContext(browser);
  const { page: signin } = await openPortal(context, srv);
  await box(signin, '#view-signin .signin-card');
  await signin.screenshot({ path: join(out, 'portal-signin.png') });
  await context.close();

  const { context: c2, page } = await signedIn(browser, srv, { user: 'dr-okafor' });
  await openChart(page, 'p-1001');
  assert.match(await act(page, await firstDraftOrder(page), 'order-sign'), /^Signed/);
  await page.waitForFunction(() => window.wardportal.gate.metrics().auditQueued === 0, null, { timeout: 20_000 });
  const list = await box(page, tid('patient-list'));
  const chart = await box(page, tid('chart'));
  const activity = await box(page, tid('activity'));
  assert.ok(list.x < chart.x && chart.x < activity.x, 'patients | chart | session activity, left to right');
  assert.match(await page.locator(tid('grants')).textContent(), /order/i, 'the approval in force is listed');
  assert.ok(await page.locator(`${tid('audit')} li, ${tid('audit')} > *`).count() >= 3, 'the audit trail shows events');
  await page.screenshot({ path: join(out, 'portal-ward.png'), fullPage: true });
  assert.deepEqual(page.errors || [], [], 'no script errors');
  await c2.close();
});
