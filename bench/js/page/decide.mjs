// §1 in Chromium: the same harness as node (../lib/harness.mjs) in one page, the engines
// alternating in rounds. Timed in batches (the page is cross-origin isolated: performance.now()
// ticks in 5 µs). Query: ?quick=1. The result lands in window.__result.
import init, * as wg from '/pkg/index.js';
import cedarInit, * as cedar from '/node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm.js';
import * as h from '../lib/harness.mjs';

const quick = new URLSearchParams(location.search).has('quick');
const nowMs = () => performance.now();
const lines = [];
const log = (s) => { lines.push(s); console.log(s); };

async function run() {
  const text = (u) => fetch(u).then((r) => r.text());
  const [policyJson, cedarText, cedarSchema] = await Promise.all([
    text('/pkg-config/policies/clinical-default.json'),
    text('/bench/js/policy/clinical-default.cedar'),
    text('/bench/js/policy/clinical-default.cedarschema'),
  ]);
  // First init in this page (the runner measures cold inits on fresh pages separately).
  let t0 = nowMs();
  await init({ module_or_path: '/pkg/wardgate_bg.wasm' });
  const wgInitMs = nowMs() - t0;
  t0 = nowMs();
  await cedarInit({ module_or_path: '/node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm' });
  const cedarInitMs = nowMs() - t0;

  const e = h.engines({ wg, cedar, policyJson, cedarText, cedarSchema });
  const { contexts, missing, ruleIds } = h.contextsFor(e);
  if (missing.length) throw new Error('contexts miss ' + missing.join(','));
  const agree = h.agreement(e, contexts);
  log(`${contexts.length} contexts, ${ruleIds.length} rules; disagreements: ${agree.disagreements.length}`);
  if (agree.disagreements.length) return { ok: false, disagreements: agree.disagreements };

  const loadRuns = quick ? 20 : 100;
  const wgLoad = h.timeMedian(() => wg.Policy.parse(policyJson).free(), loadRuns, nowMs);
  const cedarLoad = h.timeMedian(() => h.engines({ wg, cedar, policyJson, cedarText, cedarSchema }).policy.free(),
    Math.ceil(loadRuns / 4), nowMs);
  const batch = h.compare(e.list, contexts, { nowMs, mode: 'batch', rounds: 10,
    minDecisions: quick ? 20_000 : 100_000, warmMs: quick ? 300 : 1000, log });
  for (const [k, v] of Object.entries(batch.engines)) log(`batch ${k}: median ${v.median.toFixed(3)} µs, p99 ${v.p99.toFixed(3)} µs (${v.n} x ${v.batch})`);
  return {
    ok: true,
    crossOriginIsolated: self.crossOriginIsolated,
    userAgent: navigator.userAgent,
    contexts: { count: contexts.length, effects: agree.effects },
    firstInitMs: { wardgate: wgInitMs, 'cedar-wasm': cedarInitMs },
    policyLoadMs: {
      wardgate: wgLoad,
      'cedar-wasm': { ...cedarLoad, median: cedarLoad.median - wgLoad.median,
        note: 'split, annotations read, validated against the schema, preparsed; wardgate parse subtracted' },
      'js-floor': null,
    },
    decision: { batch },
    log: lines,
  };
}

run().then((r) => { window.__result = r; }, (err) => { window.__result = { ok: false, error: String(err && err.stack || err) }; });
