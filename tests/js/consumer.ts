// Type-checked with `tsc --noEmit --strict` against the generated pkg/index.d.ts: a portal
// engineer's code must compile with real types, not `any`.
import init, {
  Policy,
  validatePolicy,
  evaluate,
  taskHash,
  checkChallenge,
  errorCodes,
  WardgateError,
  Gate,
} from '../../pkg/index.js';
import type {
  Decision,
  TaskContext,
  SessionFacts,
  PolicySummary,
  WardgateErrorCode,
  Effect,
  GateConfig,
  Outcome,
  GateMetrics,
  UnlockOutcome,
} from '../../pkg/index.js';

export async function example(policyJson: string): Promise<Effect> {
  await init();
  const summary: PolicySummary = validatePolicy(policyJson);
  const ids: string[] = summary.ruleIds;
  const policy = Policy.parse(policyJson);
  const task: TaskContext = {
    user: { id: 'u-nurse-1', roles: ['nurse'] },
    action: 'patient-view',
    patient: { id: 'p-7', labels: [] },
    device: { id: 'tablet-4b-1', shared: true, managed: true },
  };
  const session: SessionFacts = { sessionId: 's-1', startedAtMs: Date.now() };
  const decision: Decision = policy.evaluate(task, session, Date.now());
  const same: Decision = evaluate(policy, task, session, Date.now());
  const hash: string = taskHash(task);
  const codes: WardgateErrorCode[] = errorCodes();
  try {
    checkChallenge(new Uint8Array(48), task);
  } catch (e) {
    if (e instanceof WardgateError) {
      const code: WardgateErrorCode = e.code;
      void code;
    }
  }
  void ids; void same; void hash; void codes;
  return decision.effect;
}

// The browser layer as a portal uses it (README "Integration").
export async function portal(policy: string, task: TaskContext): Promise<string> {
  await init();
  const config: GateConfig = {
    policy,
    session: { sessionId: 's-1', user: { id: 'dr-okafor', roles: ['physician'] }, startedAtMs: Date.now(),
      device: { id: 'tablet-4b-1', shared: true, managed: true } },
  };
  const gate: Gate = await Gate.create(config);
  gate.addEventListener('grant', (e) => { const jti: string = e.detail.claims.jti; void jti; });
  gate.addEventListener('lock', (e) => { void e.detail; });
  const outcome: Outcome = await gate.begin(task);
  let said: string;
  switch (outcome.kind) {
    case 'allowed': said = outcome.by; break;
    case 'stepped-up': said = outcome.claims.jti; break;
    case 'denied': said = outcome.ruleIds.join(','); break;
    case 'cancelled': said = outcome.code; break;
    case 'needs-connection': said = outcome.reason; break;
    case 'break-glass': said = String(outcome.decision.reviewRequired); break;
  }
  const r: Response = await gate.fetch('/api/orders/42/sign', { method: 'POST', wardgateTask: task });
  const m: GateMetrics = gate.metrics();
  const u: UnlockOutcome = await gate.unlock();
  try { await gate.lock(); } catch (e) {
    if (e instanceof WardgateError && e.code === 'WARDGATE_DISPOSED') { void e.status; void e.serverCode; }
  }
  gate.dispose();
  void r; void m; void u;
  return said;
}
