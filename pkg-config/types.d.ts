/** Every stable error code wardgate throws (`WardgateError.code`). */
export type WardgateErrorCode =
  | "WARDGATE_POLICY_PARSE"
  | "WARDGATE_POLICY_INVALID"
  | "WARDGATE_POLICY_VERSION"
  | "WARDGATE_CONTEXT_INVALID"
  | "WARDGATE_STATE_INVALID"
  | "WARDGATE_CHALLENGE_MALFORMED"
  | "WARDGATE_CHALLENGE_TASK_MISMATCH"
  | "WARDGATE_GRANT_MALFORMED"
  | "WARDGATE_GRANT_ALGORITHM"
  | "WARDGATE_GRANT_SIGNATURE"
  | "WARDGATE_GRANT_EXPIRED"
  | "WARDGATE_GRANT_NOT_YET_VALID"
  | "WARDGATE_GRANT_MISMATCH"
  | "WARDGATE_KEY_INVALID"
  | "WARDGATE_INPUT_TOO_LARGE"
  | "WARDGATE_RFC9470_MALFORMED"
  | "WARDGATE_INTERNAL";

/** The task-initiation context: who starts which clinical action, for whom, where. */
export interface TaskContext {
  user: { id: string; roles?: string[] };
  /** `patient-view`, `order-select`, `order-sign`, `medication-prescribe`, `note-sign`,
   * `record-export`, `break-glass`, or a custom lowercase name. */
  action: string;
  patient?: { id: string; labels?: string[] } | null;
  encounterId?: string | null;
  /** FHIR references of what the action acts on, e.g. `MedicationRequest/42`. */
  targets?: string[];
  /** The text shown while approving; bound into the task hash. */
  summary?: string | null;
  device: { id: string; shared?: boolean; managed?: boolean };
  zone?: string | null;
  connectivity?: "online" | "offline";
  /** Break-glass: a reason is mandatory. */
  emergency?: { reason: string } | null;
}

export type ScopeKind = "task" | "action-patient" | "action" | "session";
export type AuthenticatorAttachment = "any" | "cross-platform";

/** What a passkey step-up must achieve. */
export interface StepUp {
  userVerification?: "required";
  /** 0: a ceremony for this very task. */
  maxAuthAgeSeconds: number;
  scope: ScopeKind;
  grantLifetimeSeconds: number;
  authenticator?: AuthenticatorAttachment;
  singleUse?: boolean;
}

/** The claims of a grant JWT (times in seconds since the epoch). */
export interface GrantClaims {
  iss: string;
  sub: string;
  sid: string;
  dev: string;
  acr: string;
  amr: string[];
  auth_time: number;
  iat: number;
  exp: number;
  jti: string;
  scp: { kind: ScopeKind; actions?: string[]; patient?: string; task?: string };
  att?: AuthenticatorAttachment;
  once?: boolean;
}

/** What the evaluator needs to know about the session. Times in Unix ms. */
export interface SessionFacts {
  sessionId: string;
  startedAtMs: number;
  lastActivityMs?: number | null;
  lastStrongAuthMs?: number | null;
  rolesAtStart?: string[];
  grants?: GrantClaims[];
  spentGrants?: string[];
  locked?: boolean;
}

export type Effect = "allow" | "step-up" | "deny" | "needs-connection" | "break-glass";

/** A decision: never an error, always with the rule ids that produced it. */
export interface Decision {
  effect: Effect;
  ruleIds: string[];
  reason: string;
  requirement?: StepUp;
  grantId?: string;
  allowedBy?: "policy" | "grant";
  reviewRequired: boolean;
}

export interface SessionLimits {
  idleLockMs: number;
  absoluteLimitMs: number;
}

/** A validated policy's summary. */
export interface PolicySummary {
  id: string;
  version: string;
  description?: string | null;
  default: "allow" | "deny";
  ruleIds: string[];
  sessions: { personal: SessionLimits; shared: SessionLimits };
  offlineActions: string[];
}
