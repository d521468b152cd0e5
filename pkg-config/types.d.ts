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
  | "WARDGATE_INTERNAL"
  | "WARDGATE_CONFIG_INVALID"
  | "WARDGATE_CEREMONY_NOT_ALLOWED"
  | "WARDGATE_CEREMONY_ABORTED"
  | "WARDGATE_CEREMONY_SECURITY"
  | "WARDGATE_CEREMONY_INVALID_STATE"
  | "WARDGATE_CEREMONY_UNKNOWN"
  | "WARDGATE_CEREMONY_TIMEOUT"
  | "WARDGATE_CEREMONY_UNSUPPORTED"
  | "WARDGATE_CEREMONY_OPTIONS_INVALID"
  | "WARDGATE_NETWORK"
  | "WARDGATE_SERVER"
  | "WARDGATE_DISPOSED"
  | "WARDGATE_LOCKED"
  | "WARDGATE_STORAGE";

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

// ---- The browser layer: Gate ----------------------------------------------------------------

/** A device as the portal knows it. */
export interface DeviceInfo {
  id: string;
  shared?: boolean;
  managed?: boolean;
}

/** The portal session: the server's `SessionInfo` (docs/PROTOCOL.md), or the part of it
 * wardgate needs. Times in Unix ms. */
export interface SessionInfo {
  sessionId: string;
  user: { id: string; roles?: string[]; name?: string };
  startedAtMs: number;
  lastStrongAuthMs?: number | null;
  device?: DeviceInfo;
}

/** Relying-party endpoints (defaults: the paths of docs/PROTOCOL.md). */
export interface GateEndpoints {
  /** Default `/api/step-up/options`. */
  stepUpOptions?: string;
  /** Default `/api/step-up/verify`. */
  stepUpVerify?: string;
  /** Default `/api/unlock/start`. */
  unlockStart?: string;
  /** Default `/api/unlock/finish`. */
  unlockFinish?: string;
  /** Default `/api/audit`. */
  audit?: string;
}

/** `Gate.create(config)`. Unknown fields are refused (`WARDGATE_CONFIG_INVALID` with `path`). */
export interface GateConfig {
  /** The policy document, its JSON text, or where to fetch it. */
  policy: object | string | { url: string };
  endpoints?: GateEndpoints;
  session: SessionInfo;
  /** Required unless `session.device` is given. */
  device?: DeviceInfo;
  /** Wall-clock ms (tests); default `Date.now`. */
  clock?: () => number;
  /** BroadcastChannel `wardgate:<channelName>`; default `default`. */
  channelName?: string;
  /** How often queued audit events are sent; default 15000 (50 to 3600000). */
  auditFlushIntervalMs?: number;
}

/** `init` of `gate.fetch`: a `RequestInit` plus the task the request performs. */
export interface GateRequestInit extends RequestInit {
  wardgateTask?: TaskContext;
}

/** What `gate.begin(task)` resolves to. */
export type Outcome =
  | { kind: "allowed"; by: "policy" | "grant"; grantId?: string; decision: Decision }
  | { kind: "stepped-up"; grant: string; claims: GrantClaims; decision: Decision }
  | { kind: "denied"; reason: string; ruleIds: string[]; decision: Decision }
  | { kind: "cancelled"; code: WardgateErrorCode }
  | { kind: "needs-connection"; reason: string; decision: Decision }
  | { kind: "break-glass"; decision: Decision };

/** What `gate.unlock()` resolves to. */
export type UnlockOutcome =
  | { kind: "unlocked" }
  | { kind: "not-locked" }
  | { kind: "cancelled"; code: WardgateErrorCode };

/** Friction signals: prompts that do not fit practice show up here. */
export interface FrictionCounters {
  decisions: number;
  allowedWithoutPrompt: number;
  grantsReused: number;
  prompts: number;
  approvals: number;
  cancels: number;
  failures: number;
  interrupted: number;
  resumed: number;
  appSwitchesDuringPrompt: number;
  currentFailureStreak: number;
  maxFailureStreak: number;
  breakGlass: number;
  locks: number;
  handoffs: number;
}

/** `gate.metrics()`. */
export interface GateMetrics extends FrictionCounters {
  /** Cross-tab messages dropped (malformed, foreign, or a grant that does not bind). */
  droppedMessages: number;
  /** Audit events waiting for the server's acknowledgement (all tabs' durable queue + memory). */
  auditQueued: number;
  /** Audit events kept only in memory because storage failed (lost if the tab closes). */
  auditNotDurable: number;
  /** Audit events lost (memory cap reached, or unreadable entries in storage). */
  auditLost: number;
  /** Session-state writes to sessionStorage that failed. */
  storageFailures: number;
}

export type AuditKind =
  | "decision" | "ceremony-started" | "ceremony-succeeded" | "ceremony-cancelled"
  | "ceremony-failed" | "ceremony-interrupted" | "grant-earned" | "grant-used"
  | "grant-revoked" | "grant-dropped" | "lock" | "unlock" | "handoff" | "logout"
  | "break-glass-start" | "break-glass-stop" | "channel-message-dropped" | "challenge-mismatch";

/** One audit event (ids are unique: delivery is idempotent). */
export interface AuditEvent {
  id: string;
  atMs: number;
  kind: AuditKind;
  userId?: string | null;
  deviceId: string;
  sessionId: string;
  task?: { action: string; patientId?: string | null; taskHash: string } | null;
  /** A decision effect, an error code, or `ok`. */
  outcome: string;
  reason?: string | null;
  ruleIds: string[];
  durationMs?: number | null;
  reviewRequired: boolean;
  previousUserId?: string | null;
  grantId?: string | null;
}

export type LockReason = "idle" | "absolute" | "manual";

/** A grant held by the tab. */
export interface HeldGrant {
  token: string;
  claims: GrantClaims;
}

/** `gate.state()`: this tab's session state (debugging and tests; the shape may grow). */
export interface GateState {
  version: number;
  sessionId: string;
  user: { id: string; roles: string[] } | null;
  device: { id: string; shared: boolean; managed: boolean };
  limits: SessionLimits;
  startedAtMs: number;
  lastActivityMs: number;
  lastStrongAuthMs: number | null;
  rolesAtStart: string[];
  status:
    | { status: "active" }
    | { status: "locked"; reason: LockReason; sinceMs: number }
    | { status: "logged-out" };
  visible: boolean;
  frozen: boolean;
  online: boolean;
  grants: HeldGrant[];
  spentGrants: string[];
  pending: {
    task: TaskContext;
    taskHash: string;
    requestedAtMs: number;
    attempts: number;
    interrupted: boolean;
    resumed: boolean;
  } | null;
  ceremony:
    | { state: "idle" }
    | { state: "running"; taskHash: string; startedAtMs: number; hiddenDuring: boolean };
  auditSeq: number;
  counters: FrictionCounters;
  droppedMessages: number;
  instanceId: string;
  lastActivityBroadcastMs: number;
}

/** `prompt`: a ceremony starts now (`ceremony`: keep the task, e.g. the EPCS attestation, on
 * screen), or a task waits to be offered again and nothing in this tab is waiting for it
 * (`pending`: after a reload or an unlock elsewhere; call `gate.begin(task)`). */
export type PromptEventDetail =
  | { kind: "ceremony"; task: TaskContext; taskHash: string; attempt: number; reason: string;
      requirement?: StepUp | null }
  | { kind: "pending"; task: TaskContext; taskHash: string };

/** The gate's events: `gate.addEventListener(type, (e) => e.detail)`. */
export interface GateEventMap {
  /** A grant was earned here (`source: "here"`) or received from a sibling tab. */
  grant: { grant: string; claims: GrantClaims; source: "here" | "elsewhere" };
  /** Show the lock screen (idle, absolute limit, by hand, here or in a sibling tab). */
  lock: { reason: LockReason };
  /** The session was unlocked (here or in a sibling tab). */
  unlock: Record<string, never>;
  /** Another clinician took the device; the previous clinician's state is wiped. */
  handoff: {
    sessionId: string;
    previousSessionId: string;
    previousUserId: string | null;
    user: { id: string; roles: string[] } | null;
  };
  /** Logged out (here or in a sibling tab). */
  logout: { previousUserId: string | null };
  /** An audit event was recorded (and queued for the server). */
  audit: AuditEvent;
  prompt: PromptEventDetail;
}

export type GateEventType = keyof GateEventMap;
export type GateEventListener<K extends GateEventType> = (event: CustomEvent<GateEventMap[K]>) => void;

/** Typed listener methods of `Gate` (declaration merging with the generated class). */
export interface Gate {
  addEventListener<K extends GateEventType>(
    type: K,
    listener: GateEventListener<K>,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends GateEventType>(
    type: K,
    listener: GateEventListener<K>,
    options?: boolean | EventListenerOptions,
  ): void;
}
