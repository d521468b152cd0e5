// Launch Debian's Chromium through playwright-core (never a downloaded browser).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
  '--disable-default-apps', '--mute-audio'];

/** Chromium with a private TMPDIR (it leaves org.chromium.Chromium.* folders behind there). */
export async function launch() {
  const tmp = mkdtempSync(join(tmpdir(), 'wardgate-bench-chromium-'));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true,
    env: { ...process.env, TMPDIR: tmp } });
  const close = browser.close.bind(browser);
  browser.close = async () => {
    try { await close(); } finally { rmSync(tmp, { recursive: true, force: true }); }
  };
  return browser;
}

/** Forward a page's console errors and uncaught errors to stderr. */
export function watch(page, tag) {
  page.on('pageerror', (e) => console.error(`[${tag}] pageerror:`, String(e)));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`[${tag}] console.${m.type()}:`, m.text()); });
}
