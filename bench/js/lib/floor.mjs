// The floor: pkg-config/policies/clinical-default.json written by hand as one JavaScript
// function over the same shared context (wardgate's TaskContext + SessionFacts + now). No
// parsing, no validation, no boundary: what a portal would write if it hard-coded the policy.
// Returns the effect and the rule ids in wardgate's order. Grants are not modelled (the
// benchmark's contexts hold none).

const H = 3_600_000;
const OFFLINE_ACTIONS = ['patient-view', 'vitals-record', 'med-administer', 'note-draft'];
const GLASS_ACTIONS = ['patient-view', 'vitals-record', 'med-administer', 'note-draft',
  'note-sign', 'order-select', 'order-sign', 'medication-prescribe'];

export function floorDecide(task, s, now) {
  if (s.locked) return { effect: 'deny', ruleIds: ['$session-locked'] };
  const shared = task.device.shared === true;
  const managed = task.device.managed === true;
  const base = s.lastStrongAuthMs != null ? s.lastStrongAuthMs : s.startedAtMs;
  if (base + (shared ? 8 * H : 24 * H) <= now) return { effect: 'deny', ruleIds: ['$session-expired'] };
  if (s.lastActivityMs != null && s.lastActivityMs + (shared ? 300_000 : H) <= now) {
    return { effect: 'deny', ruleIds: ['$session-idle'] };
  }
  const roles = task.user.roles || [];
  const labels = (task.patient && task.patient.labels) || [];
  const nurse = roles.includes('nurse'), physician = roles.includes('physician');
  const resident = roles.includes('resident'), pharmacist = roles.includes('pharmacist');
  const student = roles.includes('student');
  const prescriber = physician || resident;
  const clinical = nurse || prescriber || pharmacist; // nurse, physician, resident, pharmacist
  const sensitive = labels.includes('vip') || labels.includes('restricted');
  const restricted = labels.includes('restricted');
  const controlled = labels.includes('controlled-substance');
  const offline = task.connectivity === 'offline';
  const emergency = task.emergency != null;
  const start = s.rolesAtStart || [];
  const roleChanged = roles.some((r) => !start.includes(r)) || start.some((r) => !roles.includes(r));
  const a = task.action;

  // In rule order, as wardgate lists them.
  const ids = [];
  const eff = [];
  const hit = (id, effect) => { ids.push(id); eff.push(effect); };
  if (a === 'patient-view' && (clinical || student) && !sensitive) hit('chart-view', 'A');
  if (a === 'patient-view' && clinical && sensitive) hit('chart-view-sensitive', 'S');
  if (a === 'patient-view' && student && sensitive) hit('chart-view-sensitive-students', 'D');
  if (restricted && !managed) hit('restricted-unmanaged-device', 'D');
  if (a === 'vitals-record' && (nurse || prescriber || student)) hit('vitals', 'A');
  if (a === 'med-administer' && nurse) hit('med-administer', 'A');
  if (a === 'note-draft' && (clinical || student)) hit('note-draft', 'A');
  if (a === 'note-sign' && clinical && !shared) hit('note-sign-personal', 'A');
  if (a === 'note-sign' && clinical && shared) hit('note-sign-shared', 'S');
  if (a === 'order-select' && prescriber) hit('order-select', 'A');
  if (a === 'order-sign' && prescriber) hit('order-sign', 'S');
  if (a === 'order-sign' && prescriber && shared) hit('order-sign-shared', 'S');
  if (a === 'order-verify' && pharmacist) hit('order-verify', 'A');
  if (a === 'medication-prescribe' && prescriber) hit('prescribe', 'S');
  if (a === 'medication-prescribe' && controlled) hit('epcs-controlled-substance', 'S');
  if ((a === 'order-select' || a === 'order-sign' || a === 'medication-prescribe') && !prescriber) {
    hit('orders-prescribers-only', 'D');
  }
  if (a === 'record-export' && physician) hit('record-export', 'S');
  if (a === 'record-export' && !physician) hit('record-export-others', 'D');
  if (a === 'record-export' && offline) hit('record-export-offline', 'D');
  if (roleChanged && !emergency) hit('role-changed', 'T');
  if (a === 'medication-prescribe' && controlled && emergency) hit('epcs-no-break-glass', 'D');
  if (emergency && (physician || resident || nurse) && GLASS_ACTIONS.includes(a)) hit('break-glass-clinicians', 'G');

  const pick = (...kinds) => ids.filter((_, i) => kinds.includes(eff[i]));
  if (eff.includes('D')) return { effect: 'deny', ruleIds: pick('D') };
  if (eff.includes('G')) return { effect: 'break-glass', ruleIds: pick('G') };
  const step = eff.includes('S'), allow = eff.includes('A'), strengthen = eff.includes('T');
  let d;
  if (step || (strengthen && allow)) {
    d = { effect: 'step-up', ruleIds: step ? pick('S', 'T') : [...pick('A'), ...pick('S', 'T')] };
  } else if (allow) {
    d = { effect: 'allow', ruleIds: pick('A') };
  } else {
    return { effect: 'deny', ruleIds: ['$default'] };
  }
  if (offline) {
    const fresh = s.lastStrongAuthMs != null && s.lastStrongAuthMs + 4 * H >= now;
    if (d.effect === 'step-up' || !OFFLINE_ACTIONS.includes(a) || !fresh) {
      d.effect = 'needs-connection';
      d.ruleIds.push('$offline');
    }
  }
  return d;
}
