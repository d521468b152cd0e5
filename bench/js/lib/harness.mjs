// The side-by-side harness, shared by node (../decide-node.mjs) and Chromium
// (../page/decide.html): engines, the agreement check, and the timing loops. Isomorphic: the
// caller passes the loaded modules, the texts and a clock.

import { loadCedar, cedarDecide, cedarDecideUnparsed } from './cedar.mjs';
import { floorDecide } from './floor.mjs';
import { generateContexts } from './contexts.mjs';

export const EFFECTS = ['allow', 'deny', 'step-up', 'break-glass', 'needs-connection'];
export const SYNTHETIC = ['$session-locked', '$session-expired', '$session-idle', '$offline', '$default'];

/** Percentiles of a numeric array (sorted copy); nearest-rank. */
export function stats(xs) {
  const s = Float64Array.from(xs).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  let sum = 0;
  for (const x of s) sum += x;
  return { n: s.length, median: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99), min: s[0], max: s[s.length - 1], mean: sum / s.length };
}

/** Load the three engines. `wg` is the initialised wardgate package, `cedar` cedar-wasm/web. */
export function engines({ wg, cedar, policyJson, cedarText, cedarSchema }) {
  const policy = wg.Policy.parse(policyJson);
  const cedarEngine = loadCedar(cedar, cedarText, cedarSchema);
  return {
    policy,
    cedarEngine,
    list: [
      { name: 'wardgate', decide: (c) => policy.evaluate(c.task, c.session, c.now) },
      { name: 'cedar-wasm', decide: (c) => cedarDecide(cedar, cedarEngine, c.task, c.session, c.now) },
      { name: 'js-floor', decide: (c) => floorDecide(c.task, c.session, c.now) },
    ],
    cedarUnparsed: (c) => cedarDecideUnparsed(cedar, cedarEngine, c.task, c.session, c.now),
  };
}

/** The shared contexts: seeded, covering every rule id, synthetic id and effect. */
export function contextsFor(e, opts = {}) {
  const ruleIds = e.policy.summary().ruleIds;
  const { contexts, missing } = generateContexts({
    seed: opts.seed ?? 20251124, min: opts.min ?? 256,
    decide: (c) => e.policy.evaluate(c.task, c.session, c.now),
    mustCover: [...ruleIds, ...SYNTHETIC], effects: EFFECTS,
  });
  return { contexts, missing, ruleIds };
}

/**
 * Every engine on every context: effects must agree (all three), and the floor's rule ids must
 * equal wardgate's (checks the hand-written floor). Returns the disagreements and coverage.
 */
export function agreement(e, contexts) {
  const disagreements = [];
  const coverage = {};
  const effects = {};
  contexts.forEach((c, i) => {
    const [w, ce, f] = e.list.map((x) => x.decide(c));
    for (const id of w.ruleIds) coverage[id] = (coverage[id] || 0) + 1;
    effects[w.effect] = (effects[w.effect] || 0) + 1;
    const sameIds = w.ruleIds.join(',') === f.ruleIds.join(',');
    if (w.effect !== ce.effect || w.effect !== f.effect || !sameIds) {
      disagreements.push({ i, wardgate: [w.effect, w.ruleIds], cedar: [ce.effect, ce.ruleIds],
        floor: [f.effect, f.ruleIds], context: c });
    }
  });
  return { contexts: contexts.length, disagreements, coverage, effects };
}

/** The clock's overhead: median of back-to-back reads (same unit as `now`). */
export function clockOverhead(now, n = 20000) {
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) { const t0 = now(); xs[i] = now() - t0; }
  return stats(xs).median;
}

/**
 * Per-decision latency measured call by call (node: the clock has sub-microsecond resolution):
 * `count` samples in µs, clock overhead subtracted. Cycles through `contexts` from `start`.
 */
export function timeEach(decide, contexts, count, start, nowMs, overheadMs) {
  const xs = new Float64Array(count);
  const n = contexts.length;
  let sink = 0;
  for (let i = 0; i < count; i++) {
    const c = contexts[(start + i) % n];
    const t0 = nowMs();
    const d = decide(c);
    xs[i] = (nowMs() - t0 - overheadMs) * 1000;
    sink += d.effect.length;
  }
  return { xs, sink };
}

/**
 * Per-decision latency from batches of `batch` consecutive decisions (Chromium's clock is too
 * coarse for one call): `count` batch means in µs per decision.
 */
export function timeBatches(decide, contexts, count, batch, start, nowMs) {
  const xs = new Float64Array(count);
  const n = contexts.length;
  let k = start, sink = 0;
  for (let i = 0; i < count; i++) {
    const t0 = nowMs();
    for (let j = 0; j < batch; j++) { sink += decide(contexts[k % n]).effect.length; k++; }
    xs[i] = ((nowMs() - t0) * 1000) / batch;
  }
  return { xs, sink };
}

/** Warm an engine up for about `ms` and return its mean µs per decision. */
export function warmUp(decide, contexts, ms, nowMs) {
  const t0 = nowMs();
  let k = 0, sink = 0;
  while (nowMs() - t0 < ms || k < contexts.length) { sink += decide(contexts[k % contexts.length]).effect.length; k++; }
  return { meanUs: ((nowMs() - t0) * 1000) / k, decisions: k, sink };
}

/**
 * The timed comparison: `rounds` rounds, each engine in turn (the order rotates every round),
 * each running its share of at least `minDecisions` decisions. `mode` 'each' (call by call)
 * or 'batch' (batches sized to last about `batchTargetUs` each, at least `minBatches` batches).
 */
export function compare(list, contexts, { nowMs, mode, rounds = 10, minDecisions = 100_000,
  warmMs = 1500, batchTargetUs = 400, minBatches = 300, log = () => {} }) {
  const overhead = mode === 'each' ? clockOverhead(nowMs) : 0;
  const plan = list.map((eng) => {
    const w = warmUp(eng.decide, contexts, warmMs, nowMs);
    const batch = mode === 'batch' ? Math.max(1, Math.min(1 << 16, Math.ceil(batchTargetUs / w.meanUs))) : 1;
    const samples = mode === 'batch' ? Math.max(minBatches, Math.ceil(minDecisions / batch)) : minDecisions;
    log(`${eng.name}: warm-up ${w.decisions} decisions, ~${w.meanUs.toFixed(3)} µs each; ${samples} samples x ${batch}`);
    return { eng, batch, samples, perRound: Math.ceil(samples / rounds), xs: [], start: 0 };
  });
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < plan.length; j++) {
      const p = plan[(r + j) % plan.length];
      const res = mode === 'batch'
        ? timeBatches(p.eng.decide, contexts, p.perRound, p.batch, p.start, nowMs)
        : timeEach(p.eng.decide, contexts, p.perRound, p.start, nowMs, overhead);
      p.start += p.perRound * p.batch;
      p.xs.push(res.xs);
    }
  }
  const out = {};
  for (const p of plan) {
    const all = new Float64Array(p.xs.reduce((a, x) => a + x.length, 0));
    let o = 0;
    for (const x of p.xs) { all.set(x, o); o += x.length; }
    out[p.eng.name] = { ...stats(all), unit: 'µs/decision', batch: p.batch, decisions: all.length * p.batch };
  }
  return { mode, rounds, clockOverheadMs: overhead, engines: out };
}

/** Median time (ms) of `fn()` over `n` runs. */
export function timeMedian(fn, n, nowMs) {
  const xs = [];
  for (let i = 0; i < n; i++) { const t0 = nowMs(); fn(); xs.push(nowMs() - t0); }
  return stats(xs);
}
