// §1 in headless Chromium: module init on fresh pages (the engines alternating, files from the
// HTTP cache after the first), then the side-by-side page (../page/decide.html).
// `node decide-browser.mjs [out.json] [--quick]`
import { writeFileSync } from 'node:fs';
import { startServer } from './serve.mjs';
import { launch, watch } from './lib/browser.mjs';
import { stats } from './lib/harness.mjs';

const out = process.argv.find((a, i) => i > 1 && !a.startsWith('--'));
const quick = process.argv.includes('--quick');
const log = (...a) => console.error('[decide-browser]', ...a);

const srv = await startServer();
const browser = await launch();
try {
  const context = await browser.newContext();
  const result = async (page, timeout = 600_000) => {
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout, polling: 100 });
    return page.evaluate(() => window.__result);
  };
  // Module init: a fresh page per run, same context (HTTP cache warm after the first run).
  const runs = quick ? 3 : 15;
  const init = { wardgate: [], 'cedar-wasm': [] };
  for (let i = 0; i < runs + 1; i++) {
    for (const e of i % 2 ? ['cedar-wasm', 'wardgate'] : ['wardgate', 'cedar-wasm']) {
      const page = await context.newPage();
      watch(page, 'init');
      await page.goto(`${srv.url}/bench/js/page/init.html?engine=${e}`);
      const r = await result(page, 60_000);
      await page.close();
      if (!r.ok) throw new Error(r.error);
      if (i > 0) init[e].push(r); // run 0 fills the HTTP cache
    }
  }
  const moduleInit = Object.fromEntries(Object.entries(init).map(([e, rs]) => [e, {
    runs: rs.length, initMs: stats(rs.map((r) => r.initMs)), importMs: stats(rs.map((r) => r.importMs)),
    totalMs: stats(rs.map((r) => r.totalMs)),
    ...(e === 'wardgate' ? { firstPolicyParseMs: stats(rs.map((r) => r.policyMs)) } : {}),
  }]));
  log('module init (median ms, fetch+compile+instantiate):', moduleInit.wardgate.initMs.median.toFixed(2), moduleInit['cedar-wasm'].initMs.median.toFixed(2));

  const page = await context.newPage();
  watch(page, 'decide');
  page.on('console', (m) => { if (m.type() === 'log') log(m.text()); });
  await page.goto(`${srv.url}/bench/js/page/decide.html${quick ? '?quick=1' : ''}`);
  const r = await result(page);
  if (!r.ok) {
    if (r.disagreements) for (const d of r.disagreements) console.error(JSON.stringify(d));
    throw new Error(r.error || `${r.disagreements.length} disagreements in Chromium`);
  }
  const version = browser.version();
  const res = { runtime: { name: 'chromium', version, userAgent: r.userAgent, crossOriginIsolated: r.crossOriginIsolated },
    moduleInit, ...r };
  delete res.ok;
  delete res.log;
  if (out) writeFileSync(out, JSON.stringify(res, null, 2));
  else console.log(JSON.stringify(res, null, 2));
} finally {
  await browser.close();
  await srv.close();
}
