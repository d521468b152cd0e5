// The built npm package (pkg/) in node: the decision table through the JS API, typed errors,
// and the module still working after bad input. Run with `node --test tests/js/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const wg = await import(new URL('../../pkg/index.js', import.meta.url));
wg.initSync({ module: readFileSync(root + 'pkg/wardgate_bg.wasm') });

const policyJson = readFileSync(root + 'pkg-config/policies/clinical-default.json', 'utf8');
const table = JSON.parse(readFileSync(root + 'tests/data/decision-table.json', 'utf8'));

// Rows may name the hash of their own task as "$TASK_HASH" inside grant scopes.
function substitute(value, hash) {
  if (typeof value === 'string') return value === '$TASK_HASH' ? hash : value;
  if (Array.isArray(value)) return value.map((v) => substitute(v, hash));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, hash)]));
  }
  return value;
}

function subset(expected, actual) {
  if (expected === null || typeof expected !== 'object') return expected === actual;
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && expected.length === actual.length &&
      expected.every((v, i) => subset(v, actual[i]));
  }
  return actual !== null && typeof actual === 'object' &&
    Object.entries(expected).every(([k, v]) => subset(v, actual[k]));
}

test('the decision table holds through the built module', () => {
  const rows = table.scenarios;
  assert.ok(rows.length >= 40, `only ${rows.length} scenarios`);
  const policy = wg.Policy.parse(policyJson);
  const failures = [];
  for (const row of rows) {
    const hash = wg.taskHash(row.context);
    const session = substitute(row.session, hash);
    const got = policy.evaluate(row.context, session, row.nowMs);
    if (!subset(row.expect, got)) {
      failures.push(`${row.name}: expected ${JSON.stringify(row.expect)} got ${JSON.stringify(got)}`);
    }
  }
  assert.deepEqual(failures, []);
});

test('bad policies throw WardgateError with a code and a JSON path', () => {
  const bad = JSON.parse(policyJson);
  bad.rules[1].when = { actions: ['Order Sign'] };
  assert.throws(() => wg.validatePolicy(JSON.stringify(bad)), (e) => {
    assert.ok(e instanceof wg.WardgateError);
    assert.ok(e instanceof Error);
    assert.equal(e.code, 'WARDGATE_POLICY_INVALID');
    assert.match(e.path, /^rules\[1\]\.when\.actions/);
    return true;
  });
  assert.throws(() => wg.validatePolicy('{"version":"wardgate/9","rules":[]}'),
    (e) => e.code === 'WARDGATE_POLICY_VERSION');
  assert.throws(() => wg.validatePolicy('not json'), (e) => e.code === 'WARDGATE_POLICY_PARSE');
});

test('bad contexts, sessions and clocks are typed errors, and the module keeps working', () => {
  const policy = wg.Policy.parse(policyJson);
  const row = table.scenarios[0];
  const badInputs = [
    [{ ...row.context, action: 42 }, row.session, row.nowMs, 'WARDGATE_CONTEXT_INVALID'],
    [{ ...row.context, user: undefined }, row.session, row.nowMs, 'WARDGATE_CONTEXT_INVALID'],
    [{ ...row.context, emergency: { reason: ' ' } }, row.session, row.nowMs, 'WARDGATE_CONTEXT_INVALID'],
    [{ ...row.context, typo: true }, row.session, row.nowMs, 'WARDGATE_CONTEXT_INVALID'],
    [null, row.session, row.nowMs, 'WARDGATE_CONTEXT_INVALID'],
    [row.context, { sessionId: 's' }, row.nowMs, 'WARDGATE_STATE_INVALID'],
    [row.context, row.session, -1, 'WARDGATE_CONTEXT_INVALID'],
    [row.context, row.session, NaN, 'WARDGATE_CONTEXT_INVALID'],
    [row.context, row.session, 1.5, 'WARDGATE_CONTEXT_INVALID'],
  ];
  for (const [ctx, session, now, code] of badInputs) {
    assert.throws(() => policy.evaluate(ctx, session, now), (e) => {
      assert.ok(e instanceof wg.WardgateError, String(e));
      assert.equal(e.code, code, e.message);
      return true;
    });
  }
  // Still alive and still right after all that.
  const again = policy.evaluate(row.context, substitute(row.session, wg.taskHash(row.context)), row.nowMs);
  assert.equal(again.effect, row.expect.effect);
});

test('challenge binding: the hash of the task shown, nothing else', () => {
  const ctx = table.scenarios[0].context;
  const hash = wg.taskHash(ctx);
  assert.match(hash, /^[0-9a-f]{64}$/);
  const bytes = new Uint8Array(16 + 32);
  crypto.getRandomValues(bytes.subarray(0, 16));
  bytes.set(Buffer.from(hash, 'hex'), 16);
  wg.checkChallenge(bytes, ctx);
  const other = { ...ctx, targets: ['MedicationRequest/999'] };
  assert.throws(() => wg.checkChallenge(bytes, other), (e) => e.code === 'WARDGATE_CHALLENGE_TASK_MISMATCH');
  assert.throws(() => wg.checkChallenge(bytes.subarray(0, 40), ctx), (e) => e.code === 'WARDGATE_CHALLENGE_MALFORMED');
});

test('error codes are the documented set', () => {
  const codes = wg.errorCodes();
  assert.ok(codes.length >= 15);
  for (const c of codes) assert.match(c, /^WARDGATE_[A-Z0-9_]+$/);
  const readme = readFileSync(root + 'README.md', 'utf8');
  for (const c of codes) assert.ok(readme.includes(c), `README does not document ${c}`);
});
