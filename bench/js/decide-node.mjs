// §1 in node: the clinical-default policy for wardgate, cedar-wasm and a hand-written JS
// function, on the same seeded contexts. Checks the three agree on every context first (exit 1
// and print the disagreements otherwise), then times module init (fresh processes), policy
// load/validate, and per-decision latency (alternating rounds, call by call and in batches).
// `node decide-node.mjs [out.json] [--quick]`
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as h from './lib/harness.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const here = fileURLToPath(new URL('./', import.meta.url));
const out = process.argv.find((a, i) => i > 1 && !a.startsWith('--'));
const quick = process.argv.includes('--quick');
const log = (...a) => console.error('[decide-node]', ...a);
const nowMs = () => performance.now();

// Module init: a fresh process per sample, the engines alternating.
const initRuns = quick ? 3 : 11;
const init = { wardgate: [], 'cedar-wasm': [] };
for (let i = 0; i < initRuns; i++) {
  for (const e of i % 2 ? ['cedar-wasm', 'wardgate'] : ['wardgate', 'cedar-wasm']) {
    const r = JSON.parse(execFileSync(process.execPath, [here + 'init-node.mjs', e], { encoding: 'utf8' }));
    init[e].push(r);
  }
}
const initStats = Object.fromEntries(Object.entries(init).map(([e, rs]) => [e, {
  runs: rs.length,
  initMs: h.stats(rs.map((r) => r.initMs)),
  importMs: h.stats(rs.map((r) => r.importMs)),
  totalMs: h.stats(rs.map((r) => r.totalMs)),
}]));
log('module init (median ms, initSync):', initStats.wardgate.initMs.median.toFixed(2), initStats['cedar-wasm'].initMs.median.toFixed(2));

const wg = await import(root + 'pkg/index.js');
wg.initSync({ module: readFileSync(root + 'pkg/wardgate_bg.wasm') });
const cedar = await import(root + 'node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm.js');
cedar.initSync({ module: readFileSync(root + 'node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm') });
const texts = {
  policyJson: readFileSync(root + 'pkg-config/policies/clinical-default.json', 'utf8'),
  cedarText: readFileSync(here + 'policy/clinical-default.cedar', 'utf8'),
  cedarSchema: readFileSync(here + 'policy/clinical-default.cedarschema', 'utf8'),
};
const e = h.engines({ wg, cedar, ...texts });
const { contexts, missing, ruleIds } = h.contextsFor(e);
if (missing.length) { log('contexts miss', missing); process.exit(1); }
const agree = h.agreement(e, contexts);
log(`${contexts.length} contexts, ${ruleIds.length} rules; effects ${JSON.stringify(agree.effects)}; disagreements: ${agree.disagreements.length}`);
if (agree.disagreements.length) {
  for (const d of agree.disagreements) console.error(JSON.stringify(d));
  process.exit(1);
}
// Cedar re-parsing its policies on every call must agree too.
const unparsedBad = contexts.filter((c) => e.cedarUnparsed(c).effect !== e.list[0].decide(c).effect);
if (unparsedBad.length) { log('cedar isAuthorized disagrees on', unparsedBad.length); process.exit(1); }

// Policy load / validate.
const loadRuns = quick ? 20 : 200;
const load = {
  wardgate: h.timeMedian(() => wg.Policy.parse(texts.policyJson).free(), loadRuns, nowMs),
  'wardgate-validatePolicy': h.timeMedian(() => wg.validatePolicy(texts.policyJson), loadRuns, nowMs),
  'cedar-wasm': h.timeMedian(() => h.engines({ wg, cedar, ...texts }).policy.free(), Math.ceil(loadRuns / 4), nowMs),
  'js-floor': null,
};
// h.engines() parses the wardgate policy too: take its median out of cedar's figure.
load['cedar-wasm'] = { ...load['cedar-wasm'], note: 'split, annotations read, validated against the schema, preparsed (policy set + schema); wardgate parse subtracted',
  median: load['cedar-wasm'].median - load.wardgate.median };
log('policy load (median ms):', load.wardgate.median.toFixed(3), load['cedar-wasm'].median.toFixed(3));

const minDecisions = quick ? 20_000 : 100_000;
const each = h.compare(e.list, contexts, { nowMs, mode: 'each', rounds: 10, minDecisions, warmMs: quick ? 300 : 1500, log });
for (const [k, v] of Object.entries(each.engines)) log(`each ${k}: median ${v.median.toFixed(3)} µs, p99 ${v.p99.toFixed(3)} µs (${v.n})`);
const batch = h.compare(e.list, contexts, { nowMs, mode: 'batch', rounds: 10, minDecisions, warmMs: quick ? 300 : 1000, log });
for (const [k, v] of Object.entries(batch.engines)) log(`batch ${k}: median ${v.median.toFixed(3)} µs, p99 ${v.p99.toFixed(3)} µs (${v.n} x ${v.batch})`);
const unparsed = h.compare([{ name: 'cedar-wasm-isAuthorized', decide: e.cedarUnparsed }], contexts,
  { nowMs, mode: 'each', rounds: 2, minDecisions: quick ? 200 : 2000, warmMs: 300, log });

// Where wardgate's per-decision time goes (means over the contexts, µs): the JS side's
// JSON.stringify of the two arguments, a trivial call that returns a value through JSON, and
// taskHash (the context parsed and validated in wasm, then hashed).
const meanUs = (f, n) => { const t0 = nowMs(); for (let i = 0; i < n; i++) f(contexts[i % contexts.length]); return ((nowMs() - t0) * 1000) / n; };
const bn = quick ? 20_000 : 100_000;
const breakdown = {};
for (let pass = 0; pass < 2; pass++) { // the first pass warms up
  Object.assign(breakdown, {
    jsonStringifyArgsUs: meanUs((c) => JSON.stringify(c.task).length + JSON.stringify(c.session).length, bn),
    trivialCallUs: meanUs(() => e.policy.sessionLimits(true), bn),
    taskHashUs: meanUs((c) => wg.taskHash(c.task), bn),
    evaluateUs: meanUs((c) => e.policy.evaluate(c.task, c.session, c.now), bn),
  });
}
log('wardgate breakdown (mean µs):', JSON.stringify(breakdown, (k, v) => (typeof v === 'number' ? +v.toFixed(3) : v)));

const result = {
  runtime: { name: 'node', version: process.version, v8: process.versions.v8 },
  cedarVersion: cedar.getCedarVersion(),
  contexts: { count: contexts.length, seed: 20251124, effects: agree.effects, ruleCoverage: agree.coverage,
    rules: ruleIds.length, cedarPolicies: e.cedarEngine.count },
  agreement: { disagreements: 0, checked: ['effect (all three)', 'rule ids (wardgate vs floor)', 'effect (cedar isAuthorized)'] },
  moduleInit: initStats,
  policyLoadMs: load,
  decision: { each, batch, cedarIsAuthorizedUnparsed: unparsed.engines['cedar-wasm-isAuthorized'] },
  wardgateBreakdownMeanUs: breakdown,
};
if (out) writeFileSync(out, JSON.stringify(result, null, 2));
else console.log(JSON.stringify(result, null, 2));
