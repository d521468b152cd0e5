//! wardgate's reference relying party (docs/PROTOCOL.md).
//!
//! - passkey registration and sign-in with webauthn-rs (user verification required);
//! - task-bound step-up: the WebAuthn challenge is `nonce(16) ‖ SHA-256(WGT1(task))`, checked
//!   again on verify, single use, expiring with the ceremony timeout ([`passkeys`]);
//! - grants: Ed25519 JWTs minted by `wardgate::grant::server`, verified on every protected
//!   request for this user, session and device; single-use grants spent once ([`db`]);
//! - enforcement: every protected route builds its task from the request and the server's own
//!   records, evaluates the wardgate policy natively and answers RFC 9470 step-up challenges
//!   ([`enforce`]);
//! - audit: idempotent ingest of the browser's events, plus the server's own;
//! - the demo portal (`--static-dir`) and the npm package (`--pkg-dir`) as static files.
//!
//! Time comes from an injectable [`Clock`], so tests move it.

pub mod body;
pub mod config;
pub mod db;
pub mod enforce;
pub mod error;
pub mod passkeys;
pub mod ratelimit;
mod routes;

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;
use wardgate::grant::server::GrantKeys;
use wardgate::policy::Policy;
use wardgate::task::TaskContext;

pub use config::Config;
use db::{AuditRow, Db, SessionRow, UserRow};
use error::{ApiError, ApiResult};
use ratelimit::RateLimiter;

/// Milliseconds since the Unix epoch. Injectable: tests move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    })
}

/// The session cookie.
pub const SESSION_COOKIE: &str = "wg_session";
/// SQLite file name under `--data-dir`.
pub const DB_FILE: &str = "wardgate.sqlite3";
/// Grant signing key seed file name under `--data-dir` (32 bytes, mode 0600).
pub const KEY_FILE: &str = "grant-signing-key.seed";

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Shared server state.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    db: Db,
    passkeys: passkeys::Passkeys,
    policy: Policy,
    policy_json: String,
    keys: GrantKeys,
    clock: Clock,
    limiter: RateLimiter,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .field("policy", &self.inner.policy.id())
            .field("kid", &self.inner.keys.kid())
            .finish_non_exhaustive()
    }
}

/// Fill `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> ApiResult<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| ApiError::internal(format!("no randomness from the OS: {e}")))?;
    Ok(buf)
}

/// A random identifier: `prefix` and 16 random bytes in hex.
pub fn random_id(prefix: &str) -> ApiResult<String> {
    let bytes = random_bytes::<16>()?;
    Ok(format!("{prefix}{}", wardgate::task::hex_encode(&bytes)))
}

fn random_uuid() -> ApiResult<webauthn_rs::prelude::Uuid> {
    let mut b = random_bytes::<16>()?;
    // RFC 9562 version 4, variant 10.
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0f) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3f) | 0x80;
    }
    Ok(webauthn_rs::prelude::Uuid::from_bytes(b))
}

/// Hex SHA-256 (session tokens are stored hashed).
pub fn sha256_hex(data: &[u8]) -> String {
    wardgate::task::hex_encode(&Sha256::digest(data))
}

/// A server-side audit event (stored with `source: "server"`).
#[derive(Debug, Clone, Default)]
pub struct ServerEvent {
    /// `sign-in`, `unlock`, `logout`, `register`, `challenge-issued`, `ceremony-succeeded`,
    /// `ceremony-failed`, `challenge-mismatch`, `grant-earned`, `grant-used`,
    /// `grant-refused`, `decision`, `break-glass-start`.
    pub kind: &'static str,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub session_id: Option<String>,
    pub task: Option<TaskContext>,
    /// `ok`, a decision effect or an error code.
    pub outcome: String,
    pub reason: Option<String>,
    pub rule_ids: Vec<String>,
    pub grant_id: Option<String>,
    pub review_required: bool,
}

impl ServerEvent {
    /// An event about a session.
    pub fn for_session(kind: &'static str, s: &SessionRow, outcome: &str) -> ServerEvent {
        ServerEvent {
            kind,
            user_id: Some(s.user_id.clone()),
            device_id: Some(s.device_id.clone()),
            session_id: Some(s.id.clone()),
            outcome: outcome.to_string(),
            ..ServerEvent::default()
        }
    }

    pub fn task(mut self, task: &TaskContext) -> ServerEvent {
        self.task = Some(task.clone());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> ServerEvent {
        self.reason = Some(reason.into());
        self
    }

    pub fn grant(mut self, jti: impl Into<String>) -> ServerEvent {
        self.grant_id = Some(jti.into());
        self
    }

    pub fn rules(mut self, ids: &[String]) -> ServerEvent {
        self.rule_ids = ids.to_vec();
        self
    }
}

impl AppState {
    /// Open the data directory (creating the database, the grant key and the seed data on
    /// first start), load the policy and configure WebAuthn.
    pub fn open(config: Config, clock: Clock) -> Result<AppState, StartError> {
        let verify_per_minute = config.verify_per_minute;
        let data_dir = &config.data_dir;
        create_private_dir(data_dir)?;
        let seed = load_or_create_key_seed(&data_dir.join(KEY_FILE))?;
        let keys = GrantKeys::from_seed(&seed).map_err(|e| StartError(e.to_string()))?;
        let policy_json = std::fs::read_to_string(&config.policy)
            .map_err(|e| StartError(format!("policy `{}`: {e}", config.policy.display())))?;
        let policy = Policy::from_json(&policy_json)
            .map_err(|e| StartError(format!("policy `{}`: {e}", config.policy.display())))?;
        let db = Db::open(&data_dir.join(DB_FILE)).map_err(|e| {
            StartError(format!(
                "database `{}`: {e}",
                data_dir.join(DB_FILE).display()
            ))
        })?;
        let mut handles = Vec::new();
        for _ in db::SEED_USERS {
            handles.push(
                random_uuid()
                    .map_err(|e| StartError(e.message))?
                    .to_string(),
            );
        }
        let mut handles = handles.into_iter();
        db.seed(|| handles.next().unwrap_or_default())
            .map_err(|e| StartError(format!("seeding the database: {}", e.message)))?;
        let passkeys =
            passkeys::Passkeys::new(&config.rp_id, &config.origin).map_err(StartError)?;
        Ok(AppState {
            inner: Arc::new(Inner {
                config,
                db,
                passkeys,
                policy,
                policy_json,
                keys,
                clock,
                limiter: RateLimiter::new(verify_per_minute, 60_000),
            }),
        })
    }

    pub fn now(&self) -> u64 {
        (self.inner.clock)()
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The policy document as loaded (served at `/api/policy`).
    pub fn policy_json(&self) -> &str {
        &self.inner.policy_json
    }

    pub fn keys(&self) -> &GrantKeys {
        &self.inner.keys
    }

    pub(crate) fn passkeys(&self) -> &passkeys::Passkeys {
        &self.inner.passkeys
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// Store a server-side audit event.
    pub fn record(&self, ev: ServerEvent) -> ApiResult<()> {
        let now = self.now();
        let id = random_id("srv.")?;
        let task_ref = ev.task.as_ref().map(wardgate::audit::TaskRef::of);
        let event = json!({
            "id": id,
            "atMs": now,
            "kind": ev.kind,
            "userId": ev.user_id,
            "deviceId": ev.device_id,
            "sessionId": ev.session_id,
            "task": task_ref,
            "outcome": ev.outcome,
            "reason": ev.reason,
            "ruleIds": ev.rule_ids,
            "grantId": ev.grant_id,
            "reviewRequired": ev.review_required,
        });
        let row = AuditRow {
            id,
            source: "server",
            at_ms: now,
            kind: ev.kind.to_string(),
            user_id: ev.user_id,
            device_id: ev.device_id,
            session_id: ev.session_id,
            action: task_ref.as_ref().map(|t| t.action.clone()),
            patient_id: task_ref.as_ref().and_then(|t| t.patient_id.clone()),
            task_hash: task_ref.map(|t| t.task_hash),
            outcome: ev.outcome,
            grant_id: ev.grant_id,
            submitted_by: None,
            event,
        };
        self.inner.db.insert_audit(&[row], now).map(|_| ())
    }

    /// The session named by the `wg_session` cookie, live or ended.
    pub fn cookie_session(&self, headers: &HeaderMap) -> ApiResult<Option<SessionRow>> {
        let Some(token) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        self.inner
            .db
            .session_by_token_hash(&sha256_hex(token.as_bytes()))
    }

    /// The live session of the request: not signed out and within the policy's absolute limit
    /// since the last strong authentication (an idle-locked session is live: it can unlock).
    pub fn live_session(&self, headers: &HeaderMap) -> ApiResult<SessionRow> {
        let s = self
            .cookie_session(headers)?
            .ok_or_else(ApiError::unauthenticated)?;
        if s.ended_ms.is_some() {
            return Err(ApiError::unauthenticated());
        }
        let limits = self.inner.policy.session_limits(s.device_shared);
        let base = s.last_strong_auth_ms.max(s.started_ms);
        if base.saturating_add(limits.absolute_limit_ms) <= self.now() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                error::codes::UNAUTHENTICATED,
                "the session has passed its absolute limit: sign in again",
            ));
        }
        Ok(s)
    }

    /// The session's clinician.
    pub fn session_user(&self, s: &SessionRow) -> ApiResult<UserRow> {
        self.inner
            .db
            .user(&s.user_id)?
            .ok_or_else(ApiError::unauthenticated)
    }

    /// `SessionInfo` (PROTOCOL.md).
    pub fn session_info(&self, s: &SessionRow, u: &UserRow) -> Value {
        json!({
            "sessionId": s.id,
            "user": { "id": u.id, "name": u.name, "roles": u.roles },
            "device": { "id": s.device_id, "shared": s.device_shared, "managed": s.device_managed },
            "startedAtMs": s.started_ms,
            "lastStrongAuthMs": s.last_strong_auth_ms,
        })
    }
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn create_private_dir(dir: &Path) -> Result<(), StartError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| StartError(format!("data directory `{}`: {e}", dir.display())))
}

/// The grant signing key seed: read it, or create it from OS randomness (mode 0600).
fn load_or_create_key_seed(path: &Path) -> Result<[u8; 32], StartError> {
    let err = |e: &dyn std::fmt::Display| StartError(format!("key `{}`: {e}", path.display()));
    match std::fs::read(path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| err(&format!("is {} bytes, expected 32", bytes.len()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed = random_bytes::<32>().map_err(|e| err(&e.message))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let mut f = opts.open(path).map_err(|e| err(&e))?;
            f.write_all(&seed).map_err(|e| err(&e))?;
            f.sync_all().map_err(|e| err(&e))?;
            Ok(seed)
        }
        Err(e) => Err(err(&e)),
    }
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        error::codes::BAD_REQUEST,
        "method not allowed",
    )
}

/// API answers are never cached (a back button after sign-out must not show them).
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The application: the API, the npm package at `/pkg/` and the demo portal at `/`.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/register/start", post(routes::auth::register_start))
        .route("/api/register/finish", post(routes::auth::register_finish))
        .route("/api/signin/start", post(routes::auth::signin_start))
        .route("/api/signin/finish", post(routes::auth::signin_finish))
        .route("/api/session", get(routes::auth::session))
        .route("/api/signout", post(routes::auth::signout))
        .route("/api/unlock/start", post(routes::auth::unlock_start))
        .route("/api/unlock/finish", post(routes::auth::unlock_finish))
        .route("/api/step-up/options", post(routes::stepup::options))
        .route("/api/step-up/verify", post(routes::stepup::verify))
        .route("/api/policy", get(routes::demo::policy))
        .route("/api/patients", get(routes::demo::patients))
        .route("/api/patients/{id}", get(routes::demo::patient))
        .route("/api/patients/{id}/notes", post(routes::demo::note))
        .route("/api/patients/{id}/vitals", post(routes::demo::vitals))
        .route("/api/orders/{id}/sign", post(routes::demo::sign_order))
        .route("/api/prescriptions", post(routes::demo::prescribe))
        .route("/api/break-glass", post(routes::demo::break_glass))
        .route(
            "/api/audit",
            post(routes::audit::ingest).get(routes::audit::read),
        )
        .route("/api", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(no_store))
        .with_state(state.clone());
    let config = state.config();
    api.nest_service("/pkg", ServeDir::new(&config.pkg_dir))
        .fallback_service(ServeDir::new(&config.static_dir))
}

/// Open the state, bind `config.bind` and serve until Ctrl-C / SIGTERM.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let bind = config.bind.clone();
    let origin = config.origin.clone();
    for (what, dir) in [
        ("--static-dir", &config.static_dir),
        ("--pkg-dir", &config.pkg_dir),
    ] {
        if !dir.is_dir() {
            eprintln!(
                "wardgate-server: warning: {what} `{}` is not a directory (nothing served there)",
                dir.display()
            );
        }
    }
    let offset_ms = config.clock_offset_seconds.saturating_mul(1000);
    let clock: Clock = if offset_ms == 0 {
        system_clock()
    } else {
        eprintln!(
            "wardgate-server: warning: the clock runs {} s ahead (--clock-offset-seconds)",
            config.clock_offset_seconds
        );
        let wall = system_clock();
        Arc::new(move || wall().saturating_add(offset_ms))
    };
    let state = AppState::open(config, clock)?;
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| StartError(format!("bind `{bind}`: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| StartError(format!("bind `{bind}`: {e}")))?;
    eprintln!(
        "wardgate-server: policy `{}`, grant key id `{}`; listening on {local}; open {origin}",
        state.policy().id(),
        state.keys().kid()
    );
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| StartError(format!("server: {e}")))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
