// End-to-end harness: a real wardgate-server (fresh SQLite data dir, free port), Debian's
// Chromium through playwright-core, and Chrome's virtual authenticator (CDP WebAuthn domain)
// for real passkey ceremonies. Nothing here stands in for the server or the browser.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run', '--disable-default-apps', '--mute-audio',
];

function serverBinary() {
  const dir = process.env.CARGO_TARGET_DIR || join(root, 'target');
  const bin = join(dir, 'debug', 'wardgate-server');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build -p wardgate-server`);
  return bin;
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Start the reference server on a free port with its own data dir (or `dataDir`, to restart). */
export async function startServer({ dataDir, port: wanted, clockOffsetSeconds = 0 } = {}) {
  const port = wanted || await freePort();
  const dir = dataDir || mkdtempSync(join(tmpdir(), 'wardgate-e2e-'));
  const url = `http://localhost:${port}`;
  const child = spawn(serverBinary(), [
    '--bind', `localhost:${port}`, '--origin', url, '--rp-id', 'localhost', '--data-dir', dir,
    '--policy', join(root, 'pkg-config/policies/clinical-default.json'),
    '--static-dir', join(root, 'www/portal'), '--pkg-dir', join(root, 'pkg'),
    '--clock-offset-seconds', String(clockOffsetSeconds),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wardgate-server exited: ${log}`);
    try {
      const r = await fetch(`${url}/api/policy`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`wardgate-server did not start: ${log}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, port, dataDir: dir, child,
    log: () => log,
    async stop({ keepData = false, signal = 'SIGTERM' } = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill(signal);
        await exited;
      }
      if (!keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
}

/**
 * A virtual authenticator on `page` (CDP targets are per page). `platform` is a built-in
 * authenticator (transport internal); otherwise a USB security key (cross-platform, for EPCS).
 * (Its signature counter is no ceremony count: Chrome pre-flights allow lists silently.)
 */
export async function addAuthenticator(page, { platform = true } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: platform ? 'internal' : 'usb',
      hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const auth = {
    cdp, authenticatorId,
    async credentials() { return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials; },
    async addCredential(credential) { await cdp.send('WebAuthn.addCredential', { authenticatorId, credential }); },
    async setUserVerified(isUserVerified) { await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified }); },
    async setPresence(enabled) { await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled }); },
    async remove() { await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId }); },
  };
  return auth;
}

/** Copy the passkeys of one page's authenticator into another's (the same device, another tab). */
export async function shareCredentials(from, to) {
  for (const c of await from.credentials()) await to.addCredential(c);
}

export const tid = (id) => `[data-testid="${id}"]`;

/** A new tab (page) in `context` with its own virtual authenticator, on the portal. */
export async function openPortal(context, srv, { platform = true, auth: from, credentials = [] } = {}) {
  const page = await context.newPage();
  page.on('pageerror', (e) => { page.errors = [...(page.errors || []), String(e)]; });
  const auth = await addAuthenticator(page, { platform });
  if (from) await shareCredentials(from, auth);
  for (const c of credentials) await auth.addCredential(c);
  await page.goto(srv.url);
  await page.waitForSelector('html[data-ready="true"]');
  return { page, auth };
}

/** Register a passkey for `user` on this tab's authenticator. */
export async function register(page, user) {
  await page.locator(tid('staff-' + user)).check({ force: true });
  await page.evaluate(() => { document.querySelector('#signin-msg').textContent = ''; });
  await page.click(tid('register'));
  await page.waitForFunction(() => /registered/.test(document.querySelector('#signin-msg').textContent), null, { timeout: 15_000 });
}

/** Sign `user` in on a shared tablet or a personal workstation; waits for the ward view. */
export async function signIn(page, user, { device = 'shared' } = {}) {
  await page.locator(tid('staff-' + user)).check({ force: true });
  await page.locator(tid('device-' + device)).check({ force: true });
  await page.click(tid('signin'));
  await page.waitForSelector('#view-ward:not([hidden])', { timeout: 15_000 });
}

// Every `navigator.credentials.get()` a page of the context starts, one localStorage key each
// (shared by the context's tabs, kept across reloads): the passkey prompts a clinician saw.
//
// With `window.e2eCutOffWhenHidden` set, a running ceremony ends with `NotAllowedError` when
// the page becomes hidden, as the OS passkey sheet does when the clinician switches apps.
const COUNT_CEREMONIES = () => {
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options) => {
    if (!options || !options.publicKey) return get(options);
    localStorage.setItem('e2e:get:' + crypto.randomUUID(), String(Date.now()));
    if (!window.e2eCutOffWhenHidden) return get(options);
    const ours = new AbortController();
    const theirs = options.signal;
    if (theirs) theirs.addEventListener('abort', () => ours.abort(theirs.reason));
    const onVisibility = () => { if (document.visibilityState === 'hidden') ours.abort('e2e: hidden'); };
    document.addEventListener('visibilitychange', onVisibility);
    return get({ ...options, signal: ours.signal }).catch((e) => {
      if (ours.signal.reason === 'e2e: hidden') throw new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError');
      throw e;
    }).finally(() => document.removeEventListener('visibilitychange', onVisibility));
  };
};

/**
 * Emulate a tab or app switch: headless Chromium keeps every tab visible, so the page's
 * `visibilityState` is overridden and `visibilitychange` dispatched, as the browser would.
 */
export async function setVisibility(page, state) {
  await page.evaluate((state) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
}

/** A fresh browser context (cookies, storage) that counts passkey prompts. */
export async function newContext(browser) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  await context.addInitScript(COUNT_CEREMONIES);
  return context;
}

/** Passkey prompts (`credentials.get`) started so far in `page`'s context. */
export const prompts = (page) => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('e2e:get:')).length);

/** A fresh context (cookies, storage) with one tab signed in as `user`. */
export async function signedIn(browser, srv, { user = 'dr-okafor', device = 'shared', platform = true, alsoRegister = [], clock = false } = {}) {
  const context = await newContext(browser);
  // Playwright's fake clock (Date and timers of the page) lets idle limits pass in no time.
  if (clock) await context.clock.install();
  const { page, auth } = await openPortal(context, srv, { platform });
  for (const other of alsoRegister) await register(page, other);
  await register(page, user);
  await signIn(page, user, { device });
  return { context, page, auth };
}

/** What the server recorded for the page's session (browser and server events). */
export async function serverEvents(page, sessionId) {
  return page.evaluate(async (sid) => {
    const q = sid ? '?sessionId=' + encodeURIComponent(sid) : '';
    const r = await fetch('/api/audit' + q, { credentials: 'same-origin' });
    if (!r.ok) throw new Error('audit read: ' + r.status + ' ' + await r.text());
    return (await r.json()).events;
  }, sessionId || null);
}

export const serverKinds = (events, kind) => events.filter((e) => e.source === 'server' && e.kind === kind);

/** Open a patient's chart and wait until it is shown (or refused). */
export async function openChart(page, patientId) {
  await page.click(tid('patient-' + patientId));
  await page.waitForFunction((id) => {
    const b = document.querySelector('[data-testid="patient-banner"]');
    return b && b.textContent.includes(id) && (document.querySelector('[data-testid="chart-refused"]') || document.querySelector('[data-testid="order-sign-placeholder"], #orders-h'));
  }, patientId, { timeout: 15_000 });
}

/** Click and wait for a new result on the line of `action`; returns its text. */
export async function act(page, selector, action, { timeout = 20_000 } = {}) {
  const line = tid('result-' + action);
  const before = Number(await page.locator(line).getAttribute('data-seq').catch(() => '0')) || 0;
  await page.click(selector);
  await page.waitForFunction(([sel, prev]) => {
    const el = document.querySelector(sel);
    return el && Number(el.dataset.seq) > prev;
  }, [line, before], { timeout });
  return page.locator(line).textContent();
}

/** The first unsigned order's sign button on the open chart. */
export async function firstDraftOrder(page) {
  const id = await page.evaluate(() => {
    const b = [...document.querySelectorAll('[data-testid^="sign-"]')].find((x) => x.dataset.testid !== 'sign-note');
    return b ? b.dataset.testid : null;
  });
  if (!id) throw new Error('no draft order to sign on this chart');
  return tid(id);
}

export const metrics = (page) => page.evaluate(() => window.wardportal.gate.metrics());

/** Keep every grant the page's gate announces in `window.e2eGrants` (token and claims). */
export async function recordGrants(page) {
  await page.evaluate(() => {
    window.e2eGrants = [];
    window.wardportal.gate.addEventListener('grant', (e) => window.e2eGrants.push(e.detail));
  });
}

/** A raw API call from the page (its cookie), optionally with a grant: `{ status, body, wwwAuthenticate }`. */
export async function apiCall(page, { url, method = 'GET', body, grant }) {
  return page.evaluate(async ({ url, method, body, grant }) => {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (grant) headers.Authorization = 'Bearer ' + grant;
    const r = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    let json = null;
    try { json = await r.json(); } catch { /* no body */ }
    return { status: r.status, body: json, wwwAuthenticate: r.headers.get('WWW-Authenticate') };
  }, { url, method, body, grant });
}
