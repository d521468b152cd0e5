//! SQLite storage: clinicians and their passkeys, sessions, ceremonies (challenges), grants and
//! spent grant ids, the demo's patients and orders, and the audit trail.
//!
//! Durability: WAL journal with `synchronous=FULL`. An acknowledged audit event is deleted from
//! the browser's durable queue, and a spent single-use grant id must stay spent, so every
//! commit is on disk before the answer leaves (NORMAL could lose the last commits on power
//! loss, though not on a process crash). Writes are small and rare enough for the fsync cost.
//!
//! One connection behind a mutex: statements are short and never held across an `.await`.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  roles TEXT NOT NULL,
  handle TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS credentials (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  passkey TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  last_used_ms INTEGER
);
CREATE INDEX IF NOT EXISTS credentials_user ON credentials(user_id);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL REFERENCES users(id),
  device_id TEXT NOT NULL,
  device_shared INTEGER NOT NULL,
  device_managed INTEGER NOT NULL,
  roles_at_start TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  last_strong_auth_ms INTEGER NOT NULL,
  last_activity_ms INTEGER NOT NULL,
  ended_ms INTEGER
);
CREATE TABLE IF NOT EXISTS ceremonies (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  user_id TEXT NOT NULL,
  session_id TEXT,
  challenge TEXT NOT NULL,
  task TEXT,
  task_hash TEXT,
  requirement TEXT,
  state TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  used_ms INTEGER
);
CREATE INDEX IF NOT EXISTS ceremonies_challenge ON ceremonies(challenge);
CREATE TABLE IF NOT EXISTS grants (
  jti TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  claims TEXT NOT NULL,
  issued_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  single_use INTEGER NOT NULL,
  revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS spent_grants (
  jti TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  action TEXT NOT NULL,
  task_hash TEXT NOT NULL,
  spent_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS patients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  born TEXT NOT NULL,
  ward TEXT NOT NULL,
  bed TEXT NOT NULL,
  labels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
  id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL REFERENCES patients(id),
  resource TEXT NOT NULL,
  summary TEXT NOT NULL,
  status TEXT NOT NULL,
  signed_by TEXT,
  signed_ms INTEGER,
  grant_id TEXT
);
CREATE TABLE IF NOT EXISTS notes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  patient_id TEXT NOT NULL REFERENCES patients(id),
  author TEXT NOT NULL,
  text TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  grant_id TEXT
);
CREATE TABLE IF NOT EXISTS vitals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  patient_id TEXT NOT NULL REFERENCES patients(id),
  author TEXT NOT NULL,
  observation TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS prescriptions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  patient_id TEXT NOT NULL REFERENCES patients(id),
  prescriber TEXT NOT NULL,
  drug TEXT NOT NULL,
  controlled INTEGER NOT NULL,
  summary TEXT,
  created_ms INTEGER NOT NULL,
  grant_id TEXT
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  received_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  user_id TEXT,
  device_id TEXT,
  session_id TEXT,
  action TEXT,
  patient_id TEXT,
  task_hash TEXT,
  outcome TEXT NOT NULL,
  grant_id TEXT,
  submitted_by TEXT,
  event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_session ON audit(session_id, seq);
";

/// The storage handle.
#[derive(Debug)]
pub struct Db {
    conn: Mutex<Connection>,
}

/// A clinician.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    /// The WebAuthn user handle (a random UUID, hyphenated).
    pub handle: String,
}

/// A portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub device_id: String,
    pub device_shared: bool,
    pub device_managed: bool,
    pub roles_at_start: Vec<String>,
    pub started_ms: u64,
    pub last_strong_auth_ms: u64,
    pub last_activity_ms: u64,
    pub ended_ms: Option<u64>,
}

/// A WebAuthn ceremony in progress (registration, sign-in, unlock or step-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyRow {
    pub id: String,
    pub kind: String,
    pub user_id: String,
    pub session_id: Option<String>,
    /// base64url of the challenge sent to the browser.
    pub challenge: String,
    /// For a step-up: the task (JSON), its hash (hex) and the requirement (JSON).
    pub task: Option<String>,
    pub task_hash: Option<String>,
    pub requirement: Option<String>,
    /// webauthn-rs state (JSON).
    pub state: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub used_ms: Option<u64>,
}

/// A patient of the demo ward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRow {
    pub id: String,
    pub name: String,
    pub born: String,
    pub ward: String,
    pub bed: String,
    pub labels: Vec<String>,
}

/// A (draft or signed) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub id: String,
    pub patient_id: String,
    /// The FHIR reference signed (`MedicationRequest/o-1001-1`).
    pub resource: String,
    pub summary: String,
    pub status: String,
    pub signed_by: Option<String>,
    pub signed_ms: Option<u64>,
}

/// An audit row to store.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: String,
    pub source: &'static str,
    pub at_ms: u64,
    pub kind: String,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub session_id: Option<String>,
    pub action: Option<String>,
    pub patient_id: Option<String>,
    pub task_hash: Option<String>,
    pub outcome: String,
    pub grant_id: Option<String>,
    pub submitted_by: Option<String>,
    /// The whole event, as JSON.
    pub event: Value,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn list_json(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| String::from("[]"))
}

impl Db {
    /// Open (creating if needed) the database file, apply the schema and seed the demo data.
    pub fn open(path: &Path) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        Db::init(conn)
    }

    fn init(conn: Connection) -> rusqlite::Result<Db> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let db = Db {
            conn: Mutex::new(conn),
        };
        Ok(db)
    }

    /// Run `f` with the connection.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> ApiResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn).map_err(ApiError::from)
    }

    // --- users and credentials ---

    pub fn user(&self, id: &str) -> ApiResult<Option<UserRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, name, roles, handle FROM users WHERE id = ?1",
                params![id],
                |r| {
                    Ok(UserRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        roles: json_list(&r.get::<_, String>(2)?),
                        handle: r.get(3)?,
                    })
                },
            )
            .optional()
        })
    }

    /// `(credential id, passkey JSON)` of a user's passkeys.
    pub fn passkeys(&self, user_id: &str) -> ApiResult<Vec<(String, String)>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT id, passkey FROM credentials WHERE user_id = ?1 ORDER BY rowid")?;
            let rows = st.query_map(params![user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    pub fn credential_owner(&self, cred_id: &str) -> ApiResult<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT user_id FROM credentials WHERE id = ?1",
                params![cred_id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Store a new credential; `false` when the id is already registered.
    pub fn insert_credential(
        &self,
        cred_id: &str,
        user_id: &str,
        passkey: &str,
        now: u64,
    ) -> ApiResult<bool> {
        self.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO credentials (id, user_id, passkey, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![cred_id, user_id, passkey, to_i64(now)],
            )?;
            Ok(n == 1)
        })
    }

    pub fn update_passkey(&self, cred_id: &str, passkey: &str, now: u64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE credentials SET passkey = ?2, last_used_ms = ?3 WHERE id = ?1",
                params![cred_id, passkey, to_i64(now)],
            )?;
            Ok(())
        })
    }

    // --- ceremonies ---

    pub fn insert_ceremony(&self, row: &CeremonyRow) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO ceremonies (id, kind, user_id, session_id, challenge, task, task_hash, requirement, state, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    row.id,
                    row.kind,
                    row.user_id,
                    row.session_id,
                    row.challenge,
                    row.task,
                    row.task_hash,
                    row.requirement,
                    row.state,
                    to_i64(row.created_ms),
                    to_i64(row.expires_ms)
                ],
            )?;
            Ok(())
        })
    }

    pub fn ceremony(&self, id: &str) -> ApiResult<Option<CeremonyRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, kind, user_id, session_id, challenge, task, task_hash, requirement, state, created_ms, expires_ms, used_ms
                 FROM ceremonies WHERE id = ?1",
                params![id],
                ceremony_from_row,
            )
            .optional()
        })
    }

    /// The latest registration ceremony of `user_id` that issued `challenge`.
    pub fn register_ceremony_by_challenge(
        &self,
        user_id: &str,
        challenge: &str,
    ) -> ApiResult<Option<CeremonyRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, kind, user_id, session_id, challenge, task, task_hash, requirement, state, created_ms, expires_ms, used_ms
                 FROM ceremonies WHERE kind = 'register' AND user_id = ?1 AND challenge = ?2
                 ORDER BY created_ms DESC LIMIT 1",
                params![user_id, challenge],
                ceremony_from_row,
            )
            .optional()
        })
    }

    /// Mark a ceremony used if it is unused and unexpired; `false` otherwise (single use, atomic).
    pub fn consume_ceremony(&self, id: &str, now: u64) -> ApiResult<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE ceremonies SET used_ms = ?2 WHERE id = ?1 AND used_ms IS NULL AND expires_ms > ?2",
                params![id, to_i64(now)],
            )?;
            Ok(n == 1)
        })
    }

    // --- sessions ---

    pub fn insert_session(&self, s: &SessionRow, token_hash: &str) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (id, token_hash, user_id, device_id, device_shared, device_managed, roles_at_start, started_ms, last_strong_auth_ms, last_activity_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    s.id,
                    token_hash,
                    s.user_id,
                    s.device_id,
                    s.device_shared,
                    s.device_managed,
                    list_json(&s.roles_at_start),
                    to_i64(s.started_ms),
                    to_i64(s.last_strong_auth_ms),
                    to_i64(s.last_activity_ms)
                ],
            )?;
            Ok(())
        })
    }

    pub fn session_by_token_hash(&self, token_hash: &str) -> ApiResult<Option<SessionRow>> {
        self.session_where("token_hash = ?1", token_hash)
    }

    pub fn session(&self, id: &str) -> ApiResult<Option<SessionRow>> {
        self.session_where("id = ?1", id)
    }

    fn session_where(&self, cond: &str, value: &str) -> ApiResult<Option<SessionRow>> {
        let sql = format!(
            "SELECT id, user_id, device_id, device_shared, device_managed, roles_at_start, started_ms, last_strong_auth_ms, last_activity_ms, ended_ms
             FROM sessions WHERE {cond}"
        );
        self.with(|c| {
            c.query_row(&sql, params![value], |r| {
                Ok(SessionRow {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    device_id: r.get(2)?,
                    device_shared: r.get(3)?,
                    device_managed: r.get(4)?,
                    roles_at_start: json_list(&r.get::<_, String>(5)?),
                    started_ms: to_u64(r.get(6)?),
                    last_strong_auth_ms: to_u64(r.get(7)?),
                    last_activity_ms: to_u64(r.get(8)?),
                    ended_ms: r.get::<_, Option<i64>>(9)?.map(to_u64),
                })
            })
            .optional()
        })
    }

    pub fn touch_session(&self, id: &str, now: u64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE sessions SET last_activity_ms = MAX(last_activity_ms, ?2) WHERE id = ?1",
                params![id, to_i64(now)],
            )?;
            Ok(())
        })
    }

    /// A user-verified ceremony happened in this session (unlock or step-up).
    pub fn strong_auth(&self, id: &str, now: u64) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE sessions SET last_strong_auth_ms = ?2, last_activity_ms = MAX(last_activity_ms, ?2) WHERE id = ?1",
                params![id, to_i64(now)],
            )?;
            Ok(())
        })
    }

    /// End a session and revoke its grants.
    pub fn end_session(&self, id: &str, now: u64) -> ApiResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE sessions SET ended_ms = ?2 WHERE id = ?1 AND ended_ms IS NULL",
                params![id, to_i64(now)],
            )?;
            tx.execute(
                "UPDATE grants SET revoked_ms = ?2 WHERE session_id = ?1 AND revoked_ms IS NULL",
                params![id, to_i64(now)],
            )?;
            tx.commit()
        })
    }

    // --- grants ---

    pub fn insert_grant(
        &self,
        claims: &wardgate::grant::GrantClaims,
        claims_json: &str,
        now: u64,
    ) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO grants (jti, session_id, user_id, device_id, claims, issued_ms, expires_ms, single_use)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    claims.jti,
                    claims.sid,
                    claims.sub,
                    claims.dev,
                    claims_json,
                    to_i64(now),
                    to_i64(claims.exp.saturating_mul(1000)),
                    claims.once
                ],
            )?;
            Ok(())
        })
    }

    /// `Some(revoked)` for a grant this server minted, `None` for one it never did.
    pub fn grant_revoked(&self, jti: &str) -> ApiResult<Option<bool>> {
        self.with(|c| {
            c.query_row(
                "SELECT revoked_ms IS NOT NULL FROM grants WHERE jti = ?1",
                params![jti],
                |r| r.get(0),
            )
            .optional()
        })
    }

    pub fn grant_spent(&self, jti: &str) -> ApiResult<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM spent_grants WHERE jti = ?1",
                params![jti],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
        })
    }

    /// Spend a single-use grant: `true` the first time, `false` when it was already spent (the
    /// primary key makes this atomic).
    pub fn spend_grant(
        &self,
        jti: &str,
        session_id: &str,
        action: &str,
        task_hash: &str,
        now: u64,
    ) -> ApiResult<bool> {
        self.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO spent_grants (jti, session_id, action, task_hash, spent_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![jti, session_id, action, task_hash, to_i64(now)],
            )?;
            Ok(n == 1)
        })
    }

    // --- demo ward ---

    pub fn patients(&self) -> ApiResult<Vec<PatientRow>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT id, name, born, ward, bed, labels FROM patients ORDER BY id")?;
            let rows = st.query_map([], patient_from_row)?;
            rows.collect()
        })
    }

    pub fn patient(&self, id: &str) -> ApiResult<Option<PatientRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, name, born, ward, bed, labels FROM patients WHERE id = ?1",
                params![id],
                patient_from_row,
            )
            .optional()
        })
    }

    pub fn orders(&self, patient_id: &str) -> ApiResult<Vec<OrderRow>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, patient_id, resource, summary, status, signed_by, signed_ms FROM orders WHERE patient_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map(params![patient_id], order_from_row)?;
            rows.collect()
        })
    }

    pub fn order(&self, id: &str) -> ApiResult<Option<OrderRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, patient_id, resource, summary, status, signed_by, signed_ms FROM orders WHERE id = ?1",
                params![id],
                order_from_row,
            )
            .optional()
        })
    }

    /// Sign a draft order; `false` if it is not a draft any more.
    pub fn sign_order(
        &self,
        id: &str,
        by: &str,
        grant_id: Option<&str>,
        now: u64,
    ) -> ApiResult<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE orders SET status = 'signed', signed_by = ?2, signed_ms = ?3, grant_id = ?4 WHERE id = ?1 AND status = 'draft'",
                params![id, by, to_i64(now), grant_id],
            )?;
            Ok(n == 1)
        })
    }

    pub fn notes(&self, patient_id: &str) -> ApiResult<Vec<Value>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, author, text, created_ms FROM notes WHERE patient_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map(params![patient_id], |r| {
                Ok(serde_json::json!({
                    "id": r.get::<_, i64>(0)?,
                    "author": r.get::<_, String>(1)?,
                    "text": r.get::<_, String>(2)?,
                    "createdAtMs": to_u64(r.get(3)?),
                }))
            })?;
            rows.collect()
        })
    }

    /// Vital signs as recorded (a JSON object of the values given).
    pub fn vitals(&self, patient_id: &str) -> ApiResult<Vec<Value>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, author, observation, created_ms FROM vitals WHERE patient_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map(params![patient_id], |r| {
                let text: String = r.get(2)?;
                Ok(serde_json::json!({
                    "id": r.get::<_, i64>(0)?,
                    "author": r.get::<_, String>(1)?,
                    "values": serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
                    "createdAtMs": to_u64(r.get(3)?),
                }))
            })?;
            rows.collect()
        })
    }

    pub fn insert_vitals(
        &self,
        patient_id: &str,
        author: &str,
        observation: &str,
        now: u64,
    ) -> ApiResult<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO vitals (patient_id, author, observation, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![patient_id, author, observation, to_i64(now)],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn insert_note(
        &self,
        patient_id: &str,
        author: &str,
        text: &str,
        grant_id: Option<&str>,
        now: u64,
    ) -> ApiResult<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO notes (patient_id, author, text, created_ms, grant_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![patient_id, author, text, to_i64(now), grant_id],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    #[allow(clippy::too_many_arguments, reason = "one row, one call")]
    pub fn insert_prescription(
        &self,
        patient_id: &str,
        prescriber: &str,
        drug: &str,
        controlled: bool,
        summary: Option<&str>,
        grant_id: Option<&str>,
        now: u64,
    ) -> ApiResult<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO prescriptions (patient_id, prescriber, drug, controlled, summary, created_ms, grant_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![patient_id, prescriber, drug, controlled, summary, to_i64(now), grant_id],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    // --- audit ---

    /// Store audit rows in one transaction; ids already stored are left alone (idempotent).
    /// Returns how many were new.
    pub fn insert_audit(&self, rows: &[AuditRow], received_ms: u64) -> ApiResult<usize> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut added = 0;
            {
                let mut st = tx.prepare(
                    "INSERT OR IGNORE INTO audit (id, source, at_ms, received_ms, kind, user_id, device_id, session_id, action, patient_id, task_hash, outcome, grant_id, submitted_by, event)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )?;
                for r in rows {
                    added += st.execute(params![
                        r.id,
                        r.source,
                        to_i64(r.at_ms),
                        to_i64(received_ms),
                        r.kind,
                        r.user_id,
                        r.device_id,
                        r.session_id,
                        r.action,
                        r.patient_id,
                        r.task_hash,
                        r.outcome,
                        r.grant_id,
                        r.submitted_by,
                        r.event.to_string()
                    ])?;
                }
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// The events of a session, oldest first (at most `limit`, the latest ones).
    pub fn audit_for_session(&self, session_id: &str, limit: u32) -> ApiResult<Vec<Value>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT event, source, received_ms FROM audit WHERE session_id = ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![session_id, limit], |r| {
                let text: String = r.get(0)?;
                let source: String = r.get(1)?;
                let received = to_u64(r.get(2)?);
                let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("source".into(), Value::String(source));
                    m.insert("receivedAtMs".into(), Value::from(received));
                }
                Ok(v)
            })?;
            let mut out: Vec<Value> = rows.collect::<rusqlite::Result<_>>()?;
            out.reverse();
            Ok(out)
        })
    }

    // --- seed ---

    /// Seed the demo clinicians, patients and draft orders. Idempotent: existing rows (and
    /// their state: signed orders, user handles) are kept.
    pub fn seed(&self, mut handle: impl FnMut() -> String) -> ApiResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for (id, name, roles) in SEED_USERS {
                let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
                tx.execute(
                    "INSERT OR IGNORE INTO users (id, name, roles, handle) VALUES (?1, ?2, ?3, ?4)",
                    params![id, name, list_json(&roles), handle()],
                )?;
            }
            for (id, name, born, ward, bed, labels, orders) in SEED_PATIENTS {
                let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
                tx.execute(
                    "INSERT OR IGNORE INTO patients (id, name, born, ward, bed, labels) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, name, born, ward, bed, list_json(&labels)],
                )?;
                for (n, (kind, summary)) in orders.iter().enumerate() {
                    let order_id = format!("o-{}-{}", id.trim_start_matches("p-"), n + 1);
                    tx.execute(
                        "INSERT OR IGNORE INTO orders (id, patient_id, resource, summary, status) VALUES (?1, ?2, ?3, ?4, 'draft')",
                        params![order_id, id, format!("{kind}/{order_id}"), summary],
                    )?;
                }
            }
            tx.commit()
        })
    }
}

type SeedPatient = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

/// The demo's clinicians: id, display name, roles.
pub const SEED_USERS: &[(&str, &str, &[&str])] = &[
    ("rn-ade", "Nurse A. Adeyemi", &["nurse"]),
    ("dr-okafor", "Dr A. Okafor", &["physician"]),
    ("dr-lee", "Dr J. Lee", &["resident"]),
    ("ph-santos", "M. Santos", &["pharmacist"]),
    ("st-kim", "S. Kim", &["student"]),
];

/// The demo ward: id, name, born, ward, bed, labels, draft orders (FHIR type, summary).
pub const SEED_PATIENTS: &[SeedPatient] = &[
    (
        "p-1001",
        "Eleanor Voss",
        "1948-03-12",
        "4B",
        "1",
        &[],
        &[
            (
                "MedicationRequest",
                "amoxicillin 500 mg oral, every 8 hours for 5 days",
            ),
            ("ServiceRequest", "full blood count, tomorrow 06:00"),
            (
                "MedicationRequest",
                "paracetamol 1 g oral, every 6 hours as needed",
            ),
        ],
    ),
    (
        "p-1002",
        "Tomasz Nowak",
        "1962-11-30",
        "4B",
        "2",
        &[],
        &[
            ("MedicationRequest", "enoxaparin 40 mg subcutaneous, daily"),
            ("ServiceRequest", "chest X-ray, PA view"),
        ],
    ),
    (
        "p-1003",
        "Aurelia Marchetti",
        "1975-06-04",
        "4B",
        "3",
        &["vip"],
        &[
            (
                "MedicationRequest",
                "ondansetron 4 mg IV, every 8 hours as needed",
            ),
            ("ServiceRequest", "CT abdomen with contrast"),
        ],
    ),
    (
        "p-1004",
        "Kwame Mensah",
        "1990-01-22",
        "4B",
        "4",
        &[],
        &[
            (
                "MedicationRequest",
                "insulin glargine 12 units subcutaneous, nightly",
            ),
            ("ServiceRequest", "HbA1c"),
        ],
    ),
    (
        "p-1005",
        "Ingrid Solberg",
        "1983-09-17",
        "4B",
        "5",
        &["restricted"],
        &[
            ("MedicationRequest", "sertraline 50 mg oral, daily"),
            ("ServiceRequest", "psychiatry liaison review"),
        ],
    ),
    (
        "p-1006",
        "Rafael Ortega",
        "1955-04-08",
        "4B",
        "6",
        &[],
        &[
            ("MedicationRequest", "furosemide 40 mg oral, every morning"),
            ("ServiceRequest", "urea and electrolytes, daily"),
            (
                "MedicationRequest",
                "morphine sulfate 5 mg oral, every 4 hours as needed",
            ),
        ],
    ),
    (
        "p-1007",
        "Mei Lin Chen",
        "2001-12-25",
        "4B",
        "7",
        &[],
        &[
            ("MedicationRequest", "ceftriaxone 2 g IV, daily"),
            ("ServiceRequest", "blood cultures x2"),
        ],
    ),
    (
        "p-1008",
        "Samuel Adebayo",
        "1939-07-19",
        "4B",
        "8",
        &[],
        &[
            ("MedicationRequest", "apixaban 2.5 mg oral, twice daily"),
            ("ServiceRequest", "ECG, 12-lead"),
        ],
    ),
];

fn ceremony_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CeremonyRow> {
    Ok(CeremonyRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        user_id: r.get(2)?,
        session_id: r.get(3)?,
        challenge: r.get(4)?,
        task: r.get(5)?,
        task_hash: r.get(6)?,
        requirement: r.get(7)?,
        state: r.get(8)?,
        created_ms: to_u64(r.get(9)?),
        expires_ms: to_u64(r.get(10)?),
        used_ms: r.get::<_, Option<i64>>(11)?.map(to_u64),
    })
}

fn patient_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PatientRow> {
    Ok(PatientRow {
        id: r.get(0)?,
        name: r.get(1)?,
        born: r.get(2)?,
        ward: r.get(3)?,
        bed: r.get(4)?,
        labels: json_list(&r.get::<_, String>(5)?),
    })
}

fn order_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrderRow> {
    Ok(OrderRow {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        resource: r.get(2)?,
        summary: r.get(3)?,
        status: r.get(4)?,
        signed_by: r.get(5)?,
        signed_ms: r.get::<_, Option<i64>>(6)?.map(to_u64),
    })
}
