// Shared, seeded contexts for the side-by-side: { task, session, now } in wardgate's shapes
// (TaskContext, SessionFacts, Unix ms). Deterministic for a seed: mulberry32, no Math.random.

export const NOW = 1_764_000_000_000; // a fixed "now" (2025-11-24T16:00:00Z)
const MIN = 60_000;
const H = 60 * MIN;

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ACTIONS = ['patient-view', 'vitals-record', 'med-administer', 'note-draft', 'note-sign',
  'order-select', 'order-sign', 'order-verify', 'medication-prescribe', 'record-export',
  'lab-result-view'];
const ROLES = ['nurse', 'physician', 'resident', 'pharmacist', 'student'];
const TYPICAL = {
  'vitals-record': ['nurse'], 'med-administer': ['nurse'], 'note-sign': ['nurse', 'physician', 'resident'],
  'order-select': ['physician', 'resident'], 'order-sign': ['physician', 'resident'],
  'order-verify': ['pharmacist'], 'medication-prescribe': ['physician', 'resident'],
  'record-export': ['physician'],
};

/** One context from the generator `rnd`, numbered `i`. */
export function makeContext(rnd, i) {
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const chance = (p) => rnd() < p;
  // Mostly someone who does this kind of work; now and then anyone (or nobody).
  const action = pick(ACTIONS);
  const who = () => (chance(0.7) ? pick(TYPICAL[action] || ROLES) : pick(ROLES));
  const r = rnd();
  let roles = r < 0.85 ? [who()] : r < 0.96 ? [...new Set([who(), pick(ROLES)])] : [];
  let rolesAtStart = roles.slice();
  if (chance(0.12)) {
    rolesAtStart = chance(0.5) && roles.length ? roles.slice(1) : [...new Set([...roles, pick(ROLES)])];
  }
  const labels = [];
  if (chance(0.15)) labels.push('vip');
  if (chance(0.12)) labels.push('restricted');
  if (chance(action === 'medication-prescribe' ? 0.45 : 0.08)) labels.push('controlled-substance');
  const user = { id: `u-${1 + Math.floor(rnd() * 40)}`, roles };
  const task = { user, action };
  if (chance(0.93)) task.patient = { id: `p-${1 + Math.floor(rnd() * 300)}`, labels };
  if (chance(0.6)) task.encounterId = `e-${1 + Math.floor(rnd() * 900)}`;
  if (action.startsWith('order') || action === 'medication-prescribe') {
    task.targets = [`MedicationRequest/${1 + Math.floor(rnd() * 5000)}`];
    if (chance(0.3)) task.targets.push(`ServiceRequest/${1 + Math.floor(rnd() * 5000)}`);
    task.summary = `${action} ${task.targets.join(', ')}`;
  }
  task.device = { id: `dev-${1 + Math.floor(rnd() * 30)}`, shared: chance(0.5), managed: chance(0.85) };
  if (chance(0.5)) task.zone = pick(['ward-4b', 'icu', 'ed', 'home']);
  task.connectivity = chance(0.15) ? 'offline' : 'online';
  if (chance(0.12)) task.emergency = { reason: 'code blue, bed 4' };

  const now = NOW + i * 1000;
  const elapsed = Math.floor(chance(0.85) ? rnd() * 7 * H : 7 * H + rnd() * 20 * H);
  const session = { sessionId: `s-${i}`, startedAtMs: now - elapsed, rolesAtStart };
  if (chance(0.9)) session.lastStrongAuthMs = now - Math.floor(rnd() * Math.min(elapsed, 6 * H));
  if (chance(0.95)) {
    const q = rnd();
    const idle = q < 0.8 ? rnd() * 2 * MIN : q < 0.93 ? 2 * MIN + rnd() * 6 * MIN : 10 * MIN + rnd() * 80 * MIN;
    session.lastActivityMs = now - Math.floor(idle);
  }
  if (chance(0.03)) session.locked = true;
  session.grants = [];
  session.spentGrants = [];
  return { task, session, now };
}

/**
 * At least `min` contexts, generated until `decide` (wardgate) has produced every id in
 * `mustCover` (the policy's rule ids and the synthetic ones) and every effect; at most `max`.
 */
export function generateContexts({ seed = 20251124, min = 256, max = 20000, decide, mustCover, effects }) {
  const rnd = mulberry32(seed);
  const out = [];
  const seenIds = new Set();
  const seenEffects = new Set();
  const missing = () => [...mustCover.filter((id) => !seenIds.has(id)),
    ...effects.filter((e) => !seenEffects.has(e))];
  while (out.length < max && (out.length < min || missing().length)) {
    const c = makeContext(rnd, out.length);
    const d = decide(c);
    const fresh = d.ruleIds.some((id) => !seenIds.has(id)) || !seenEffects.has(d.effect);
    // Past `min`, keep only contexts that cover something new.
    if (out.length >= min && !fresh) continue;
    for (const id of d.ruleIds) seenIds.add(id);
    seenEffects.add(d.effect);
    out.push(c);
  }
  return { contexts: out, missing: missing() };
}
