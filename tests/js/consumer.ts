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
} from '../../pkg/index.js';
import type {
  Decision,
  TaskContext,
  SessionFacts,
  PolicySummary,
  WardgateErrorCode,
  Effect,
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
