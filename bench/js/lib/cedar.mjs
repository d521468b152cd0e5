// The Cedar engine for the side-by-side: load the Cedar text of the clinical-default policy
// (../policy/), turn a shared context (wardgate's TaskContext + SessionFacts + now) into a
// Cedar request, and read the wardgate effect back from the determining policies'
// annotations. Isomorphic: `cedar` is the `@cedar-policy/cedar-wasm/web` module, initialised.

/**
 * Parse, id and validate the policies against the schema, and preparse both into cedar-wasm's
 * thread-local cache (`statefulIsAuthorized` then skips parsing on every call).
 * Returns the engine state: the annotation table and the preparsed ids.
 */
export function loadCedar(cedar, policyText, schemaText, setId = 'clinical-default') {
  const parts = cedar.policySetTextToParts(policyText);
  if (parts.type !== 'success') throw new Error('cedar: ' + JSON.stringify(parts.errors));
  const policies = {};
  const annotations = {};
  for (const text of parts.policies) {
    const json = cedar.policyToJson(text);
    if (json.type !== 'success') throw new Error('cedar: ' + JSON.stringify(json.errors));
    const a = json.json.annotations || {};
    if (!a.id) throw new Error('cedar: a policy without @id: ' + text.slice(0, 80));
    policies[a.id] = text;
    annotations[a.id] = {
      effect: a.effect,
      strengthensOnly: a.strengthensOnly === 'true',
      appliesTo: a.appliesTo || null,
    };
  }
  const v = cedar.validate({ schema: schemaText, policies: { staticPolicies: policies },
    validationSettings: { mode: 'strict' } });
  if (v.type !== 'success') throw new Error('cedar validate: ' + JSON.stringify(v.errors));
  if (v.validationErrors.length) {
    throw new Error('cedar validate: ' + JSON.stringify(v.validationErrors.map((e) => [e.policyId, e.error.message])));
  }
  const p = cedar.preparsePolicySet(setId, { staticPolicies: policies });
  if (p.type !== 'success') throw new Error('cedar preparse: ' + JSON.stringify(p.errors));
  const s = cedar.preparseSchema(setId, schemaText);
  if (s.type !== 'success') throw new Error('cedar preparse schema: ' + JSON.stringify(s.errors));
  return { setId, policies, annotations, count: Object.keys(policies).length };
}

/** The shared context as a Cedar request (principal, action, resource, context, entities). */
export function cedarRequest(task, session, nowMs) {
  const patient = task.patient;
  const user = { type: 'User', id: task.user.id };
  const resource = { type: 'Patient', id: patient ? patient.id : '-' };
  const s = {
    startedAtMs: session.startedAtMs,
    rolesAtStart: session.rolesAtStart || [],
    locked: session.locked === true,
  };
  if (session.lastActivityMs != null) s.lastActivityMs = session.lastActivityMs;
  if (session.lastStrongAuthMs != null) s.lastStrongAuthMs = session.lastStrongAuthMs;
  return {
    principal: user,
    action: { type: 'Action', id: task.action },
    resource,
    context: {
      nowMs,
      hasPatient: !!patient,
      device: { shared: task.device.shared === true, managed: task.device.managed === true },
      connectivity: task.connectivity || 'online',
      emergency: task.emergency != null,
      session: s,
    },
    entities: [
      { uid: user, attrs: { roles: task.user.roles || [] }, parents: [] },
      { uid: resource, attrs: { labels: (patient && patient.labels) || [] }, parents: [] },
    ],
  };
}

/**
 * Cedar's answer as a wardgate effect, from the determining policies' annotations only (no
 * knowledge of the clinical policy here): forbid -> deny; then break-glass > step-up > allow;
 * strengthens-only step-ups and needs-connection markers permit nothing by themselves; a marker
 * whose @appliesTo is the base effect turns it into needs-connection.
 */
export function mapCedar(annotations, answer) {
  if (answer.type !== 'success') return { effect: 'error', ruleIds: [], errors: answer.errors };
  const { decision, diagnostics } = answer.response;
  const ids = diagnostics.reason;
  if (decision === 'deny') return { effect: 'deny', ruleIds: ids.length ? ids : ['$default'] };
  let glass = false, step = false, strengthen = false, allow = false;
  const markers = [];
  for (const id of ids) {
    const a = annotations[id];
    if (!a) continue;
    if (a.effect === 'break-glass') glass = true;
    else if (a.effect === 'step-up') { if (a.strengthensOnly) strengthen = true; else step = true; }
    else if (a.effect === 'allow') allow = true;
    else if (a.effect === 'needs-connection') markers.push(a.appliesTo);
  }
  if (glass) return { effect: 'break-glass', ruleIds: ids };
  if (!step && !allow) return { effect: 'deny', ruleIds: ['$default'] };
  const base = step || strengthen ? 'step-up' : 'allow';
  if (markers.includes(base)) return { effect: 'needs-connection', ruleIds: ids };
  return { effect: base, ruleIds: ids };
}

/** One decision, preparsed policies (the fast path). */
export function cedarDecide(cedar, engine, task, session, nowMs) {
  const r = cedarRequest(task, session, nowMs);
  const answer = cedar.statefulIsAuthorized({
    principal: r.principal, action: r.action, resource: r.resource, context: r.context,
    entities: r.entities, preparsedPolicySetId: engine.setId, validateRequest: false,
  });
  return mapCedar(engine.annotations, answer);
}

/** One decision through `isAuthorized`, which parses the policy set on every call. */
export function cedarDecideUnparsed(cedar, engine, task, session, nowMs) {
  const r = cedarRequest(task, session, nowMs);
  const answer = cedar.isAuthorized({
    principal: r.principal, action: r.action, resource: r.resource, context: r.context,
    entities: r.entities, policies: { staticPolicies: engine.policies }, validateRequest: false,
  });
  return mapCedar(engine.annotations, answer);
}
