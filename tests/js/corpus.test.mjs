// The malformed-input corpus (tests/corpus/*.json) through the built npm package (pkg/) in
// node, for the entry points the JS API exposes: policies (`validatePolicy`, `Policy.parse`),
// task contexts (`taskHash`, `evaluate`), session facts (`evaluate`) and step-up challenges
// (`checkChallenge`). Every case must throw a `WardgateError` whose `code` is the expected one;
// a wasm trap (a panic: the instance is dead for good) stops the run. Afterwards the module must
// still answer a valid evaluate. Grants, channel messages, stored state and RFC 9470 headers
// have no JS entry point and are covered natively (tests/malformed_corpus.rs).
//
// A case that only makes sense as text (trailing garbage, duplicated keys) says `"js": "skip:
// ..."`: a JS caller hands over objects, and `JSON.parse` would change the input. A case whose
// JS value fails earlier than its text would says so with `jsCode` (and why, in `jsWhy`).
// Run with `node --test tests/js/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const wg = await import(new URL('../../pkg/index.js', import.meta.url));
wg.initSync({ module: readFileSync(root + 'pkg/wardgate_bg.wasm') });

const policyJson = readFileSync(root + 'pkg-config/policies/clinical-default.json', 'utf8');
const corpus = (name) => JSON.parse(readFileSync(`${root}tests/corpus/${name}.json`, 'utf8'));

const NOW_MS = 1764057600000;
const VALID_CONTEXT = {
  user: { id: 'dr-okafor', roles: ['physician'] },
  action: 'order-sign',
  patient: { id: 'p-3', labels: [] },
  targets: ['MedicationRequest/42'],
  device: { id: 'ws-12', shared: false, managed: true },
};
const VALID_FACTS = {
  sessionId: 's-1',
  startedAtMs: 1764050400000,
  rolesAtStart: ['physician'],
  grants: [],
  spentGrants: [],
  locked: false,
  lastStrongAuthMs: 1764057000000,
  lastActivityMs: 1764057540000,
};

/** Segments `{text}` / `{repeat, times}`, concatenated (as the native harness does). */
function segments(list) {
  return list.map((s) => (s.text !== undefined ? s.text : s.repeat.repeat(s.times))).join('');
}

/** The text of a case (policies take text). */
function caseText(c) {
  if (c.generate !== undefined) return segments(c.generate);
  return typeof c.input === 'string' ? c.input : JSON.stringify(c.input);
}

/** The JS value of a case (contexts and facts take values): parsed text, else the raw string. */
function caseValue(c) {
  if (c.generate === undefined && typeof c.input !== 'string') return c.input;
  const text = caseText(c);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

let dead = null; // the first case that trapped: the instance cannot be trusted after it

/** Run `call`; return null when it threw the expected WardgateError, else what went wrong. */
function expectCode(c, call, code = c.code) {
  if (dead) return `not run: the module trapped on \`${dead}\``;
  try {
    const out = call();
    return `accepted (returned ${JSON.stringify(out)?.slice(0, 80)})`;
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      dead = c.name;
      return `PANICKED (wasm trap: ${e.message})`;
    }
    if (!(e instanceof wg.WardgateError)) return `threw a non-WardgateError: ${e}`;
    if (e.code !== code) return `got ${e.code} (${String(e.message).slice(0, 160)})`;
    return null;
  }
}

/** Every case of `file` through each of `calls` ({ label: (case) => result }). */
function runCorpus(t, file, calls) {
  const cases = corpus(file);
  const failures = [];
  let skipped = 0;
  for (const c of cases) {
    if (typeof c.js === 'string' && c.js.startsWith('skip')) {
      skipped += 1;
      continue;
    }
    for (const [label, call] of Object.entries(calls)) {
      const code = c.jsCode ?? c.code;
      const problem = expectCode(c, () => call(c), code);
      if (problem) {
        const tag = c.finding ? 'FINDING ' : '';
        failures.push(`${tag}${label} \`${c.name}\`: expected ${code}, ${problem}`);
      }
    }
  }
  const runs = (cases.length - skipped) * Object.keys(calls).length;
  const findings = cases.filter((c) => c.finding).length;
  const line = `corpus ${file}: ${cases.length} cases (${skipped} text-only skipped) x ` +
    `${Object.keys(calls).join(', ')} = ${runs} calls, ${runs - failures.length} passed, ` +
    `${failures.length} failed (${findings} cases marked as findings)`;
  t.diagnostic(line);
  return failures;
}

const policy = wg.Policy.parse(policyJson);

test('policy documents: validatePolicy and Policy.parse', (t) => {
  const failures = runCorpus(t, 'policy', {
    validatePolicy: (c) => wg.validatePolicy(caseText(c)),
    'Policy.parse': (c) => wg.Policy.parse(caseText(c)).summary(),
  });
  assert.deepEqual(failures, []);
});

test('task contexts: taskHash and evaluate', (t) => {
  const failures = runCorpus(t, 'context', {
    taskHash: (c) => wg.taskHash(caseValue(c)),
    evaluate: (c) => wg.evaluate(policy, caseValue(c), VALID_FACTS, NOW_MS),
  });
  assert.deepEqual(failures, []);
});

test('session facts: evaluate', (t) => {
  const failures = runCorpus(t, 'session_facts', {
    evaluate: (c) => policy.evaluate(VALID_CONTEXT, caseValue(c), NOW_MS),
  });
  assert.deepEqual(failures, []);
});

/** The bytes of a challenge from its parts (see `challenge_bytes` in the native harness). */
function challengeBytes(parts, own) {
  const hashOf = (spec) => Buffer.from(wg.taskHash(spec === 'self' ? own : spec), 'hex');
  const chunks = parts.map((p) => {
    if (p.bytes !== undefined) return Buffer.alloc(p.bytes, p.fill ?? 7);
    if (p.taskHash !== undefined) {
      let h = hashOf(p.taskHash);
      if (p.take !== undefined) h = h.subarray(0, p.take);
      if (p.xorLast !== undefined) h[h.length - 1] ^= p.xorLast;
      return h;
    }
    if (p.taskHashHex !== undefined) return Buffer.from(hashOf(p.taskHashHex).toString('hex'), 'utf8');
    if (p.sha256 !== undefined) return createHash('sha256').update(p.sha256, 'utf8').digest();
    if (p.utf8 !== undefined) return Buffer.from(p.utf8, 'utf8');
    if (p.b64urlText !== undefined) {
      return Buffer.from(challengeBytes(p.b64urlText, own).toString('base64url'), 'utf8');
    }
    throw new Error(`unknown challenge part ${JSON.stringify(p)}`);
  });
  return Buffer.concat(chunks);
}

test('step-up challenges: checkChallenge', (t) => {
  const failures = runCorpus(t, 'challenge', {
    checkChallenge: (c) => {
      const bytes = new Uint8Array(challengeBytes(c.input.challenge, c.input.context));
      return wg.checkChallenge(bytes, c.input.context);
    },
  });
  assert.deepEqual(failures, []);
});

test('values JSON cannot carry are typed errors too', () => {
  const cyclic = { ...VALID_CONTEXT };
  cyclic.self = cyclic;
  const cases = [
    ['context undefined', () => wg.taskHash(undefined), 'WARDGATE_CONTEXT_INVALID'],
    ['context a function', () => wg.taskHash(() => VALID_CONTEXT), 'WARDGATE_CONTEXT_INVALID'],
    ['context a symbol', () => wg.taskHash(Symbol('ctx')), 'WARDGATE_CONTEXT_INVALID'],
    ['context with a BigInt', () => wg.taskHash({ ...VALID_CONTEXT, action: 1n }), 'WARDGATE_CONTEXT_INVALID'],
    ['context cyclic', () => wg.taskHash(cyclic), 'WARDGATE_CONTEXT_INVALID'],
    ['facts undefined', () => policy.evaluate(VALID_CONTEXT, undefined, NOW_MS), 'WARDGATE_STATE_INVALID'],
    ['facts with a BigInt', () => policy.evaluate(VALID_CONTEXT, { ...VALID_FACTS, startedAtMs: 1n }, NOW_MS), 'WARDGATE_STATE_INVALID'],
    ['challenge for a cyclic context', () => wg.checkChallenge(new Uint8Array(48), cyclic), 'WARDGATE_CONTEXT_INVALID'],
  ];
  const failures = [];
  for (const [name, call, code] of cases) {
    const problem = expectCode({ name, code }, call);
    if (problem) failures.push(`${name}: expected ${code}, ${problem}`);
  }
  assert.deepEqual(failures, []);
});

test('the module still works after the whole corpus', () => {
  assert.equal(dead, null, `the module trapped on \`${dead}\``);
  const summary = wg.validatePolicy(policyJson);
  assert.equal(summary.id, 'clinical-default');
  const hash = wg.taskHash(VALID_CONTEXT);
  assert.match(hash, /^[0-9a-f]{64}$/);
  const challenge = new Uint8Array(48);
  challenge.set(Buffer.from(hash, 'hex'), 16);
  wg.checkChallenge(challenge, VALID_CONTEXT);
  const fresh = wg.Policy.parse(policyJson);
  for (const p of [policy, fresh]) {
    const d = wg.evaluate(p, VALID_CONTEXT, VALID_FACTS, NOW_MS);
    assert.ok(['allow', 'step-up', 'deny', 'needs-connection', 'break-glass'].includes(d.effect), JSON.stringify(d));
    assert.ok(d.ruleIds.length > 0, JSON.stringify(d));
  }
});
