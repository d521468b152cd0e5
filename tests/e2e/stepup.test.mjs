// Scenarios 1-3: zero prompts for low-risk work; order-sign once per patient; EPCS every time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, signedIn, openChart, act, tid, serverEvents, serverKinds, metrics, prompts, recordGrants, apiCall, firstDraftOrder } from './lib.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

test('1: register, sign in; low-risk work runs with zero prompts', async () => {
  const { context, page, auth } = await signedIn(browser, srv, { user: 'rn-ade' });
  assert.equal(await prompts(page), 1, 'sign-in is the only ceremony');
  await openChart(page, 'p-1001');
  await page.fill(tid('v-hr'), '72');
  const text = await act(page, tid('record-vitals'), 'vitals-record');
  assert.match(text, /record/i);
  await openChart(page, 'p-1002');
  assert.equal(await prompts(page), 1, 'no passkey prompt for chart views and vitals');
  const m = await metrics(page);
  assert.equal(m.prompts, 0);
  const events = await serverEvents(page);
  assert.equal(serverKinds(events, 'challenge-issued').length, 0, 'the server issued no step-up challenge');
  assert.equal(serverKinds(events, 'sign-in').length, 1);
  await context.close();
});

test('2: order-sign prompts once per patient for the grant\'s life; another patient prompts', async () => {
  const { context, page, auth } = await signedIn(browser, srv, { user: 'dr-okafor' });
  await openChart(page, 'p-1001');
  let text = await act(page, await firstDraftOrder(page), 'order-sign');
  assert.match(text, /^Signed/);
  assert.equal(await prompts(page), 2, 'one step-up for the first order');
  text = await act(page, await firstDraftOrder(page), 'order-sign');
  assert.match(text, /^Signed/);
  assert.equal(await prompts(page), 2, 'the second order of the same patient is covered: no prompt');
  await openChart(page, 'p-1002');
  text = await act(page, await firstDraftOrder(page), 'order-sign');
  assert.match(text, /^Signed/);
  assert.equal(await prompts(page), 3, 'another patient needs its own approval');
  const m = await metrics(page);
  assert.equal(m.prompts, 2);
  assert.ok(m.grantsReused >= 1, `grants reused: ${m.grantsReused}`);
  const events = await serverEvents(page);
  assert.equal(serverKinds(events, 'grant-earned').length, 2, 'the server minted two grants');
  const used = serverKinds(events, 'grant-used');
  assert.equal(used.length, 3, 'three orders signed under a grant');
  assert.equal(new Set(used.map((e) => e.grantId)).size, 2);
  await context.close();
});

test('3: EPCS prompts every time; the server refuses the previous prescription\'s grant', async () => {
  const { context, page } = await signedIn(browser, srv, { user: 'dr-okafor', platform: false });
  await recordGrants(page);
  await openChart(page, 'p-1006');
  let text = await act(page, tid('prescribe'), 'medication-prescribe');
  assert.match(text, /^Prescription sent/, text);
  assert.equal(await prompts(page), 2);
  text = await act(page, tid('prescribe'), 'medication-prescribe');
  assert.match(text, /^Prescription sent/, text);
  assert.equal(await prompts(page), 3, 'a second prescription needs a second approval');
  const grants = await page.evaluate(() => window.e2eGrants);
  assert.equal(grants.length, 2);
  assert.equal(grants[0].claims.scp.kind, 'task');
  // Spend the first prescription's grant again, straight at the API, for the same drug.
  const replay = await apiCall(page, {
    url: '/api/prescriptions', method: 'POST', grant: grants[0].grant,
    body: { patientId: 'p-1006', drug: 'oxycodone-5mg-tab', controlled: true, summary: grants[0].claims.summary || 'replay' },
  });
  assert.equal(replay.status, 401, JSON.stringify(replay.body));
  assert.match(replay.wwwAuthenticate || '', /insufficient_user_authentication/);
  const events = await serverEvents(page);
  assert.equal(serverKinds(events, 'grant-earned').length, 2);
  assert.equal(serverKinds(events, 'grant-used').length, 2, 'two prescriptions, each with its own grant');
  assert.ok(serverKinds(events, 'grant-refused').length >= 1, 'the replay is audited');
  await context.close();
});

test('VIP chart steps up once; a declined passkey leaves break-glass, which opens with a reason and is flagged for review', async () => {
  const { context, page, auth } = await signedIn(browser, srv, { user: 'rn-ade' });
  await openChart(page, 'p-1003'); // VIP
  assert.equal(await prompts(page), 2, 'one step-up for the VIP chart');
  await page.waitForSelector(tid('order-grant-life'), { state: 'attached' });
  await openChart(page, 'p-1001');
  await openChart(page, 'p-1003');
  assert.equal(await prompts(page), 2, 'covered on return');

  // A restricted chart in an emergency: the passkey is not verified, the nurse breaks glass.
  await auth.setUserVerified(false);
  await openChart(page, 'p-1005');
  await page.waitForSelector(tid('chart-refused'));
  await page.click(tid('break-glass'));
  await page.click(tid('bg-go')); // no reason: refused by the form
  assert.match(await page.locator('#bg-msg').textContent(), /reason is required/);
  await page.fill(tid('bg-reason'), 'Patient unresponsive in bed 5, rapid response called');
  await page.click(tid('bg-go'));
  await page.waitForSelector(tid('emergency-flag'), { timeout: 15_000 });
  const events = await serverEvents(page);
  const bg = serverKinds(events, 'break-glass-start');
  assert.equal(bg.length, 1);
  assert.equal(bg[0].reviewRequired, true);
  assert.match(bg[0].reason, /unresponsive/);
  await context.close();
});
