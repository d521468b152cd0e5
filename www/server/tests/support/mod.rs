//! The real app on 127.0.0.1:0 with a temporary data directory and a clock the test moves;
//! a small HTTP client; clinicians with software passkeys.
#![allow(dead_code, reason = "shared by several test binaries")]

pub mod soft_authenticator;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap};
use serde_json::{Value, json};
use soft_authenticator::{SoftAuthenticator, Tweaks};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wardgate_server::{AppState, Clock, Config, app};

pub const RP_ID: &str = "localhost";
pub const ORIGIN: &str = "http://localhost:8080";
/// 2025-11-25T04:30:00Z.
pub const T0: u64 = 1_764_045_000_000;

pub fn policy_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pkg-config/policies/clinical-default.json")
}

/// A personal, managed workstation.
pub fn workstation() -> Value {
    json!({ "id": "ws-4b-office", "shared": false, "managed": true })
}

/// A shared, managed ward tablet.
pub fn tablet() -> Value {
    json!({ "id": "tablet-4b-1", "shared": true, "managed": true })
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub now: Arc<AtomicU64>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(self.status, status, "unexpected answer: {:#}", self.body);
        self
    }

    #[track_caller]
    pub fn expect_code(self, status: u16, code: &str) -> Answer {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {:#}",
            self.body
        );
        self
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServer::start_in(dir, Arc::new(AtomicU64::new(T0))).await
    }

    /// Start on an existing data directory (a restart).
    pub async fn start_in(dir: tempfile::TempDir, now: Arc<AtomicU64>) -> TestServer {
        let config = Config {
            bind: String::from("127.0.0.1:0"),
            rp_id: RP_ID.to_string(),
            origin: ORIGIN.to_string(),
            data_dir: dir.path().join("data"),
            policy: policy_path(),
            static_dir: dir.path().join("no-portal"),
            pkg_dir: dir.path().join("no-pkg"),
            clock_offset_seconds: 0,
            verify_per_minute: 10,
        };
        let clock_now = now.clone();
        let clock: Clock = Arc::new(move || clock_now.load(Ordering::SeqCst));
        let state = AppState::open(config, clock).expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app(state))
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
        });
        TestServer {
            base: format!("http://{addr}"),
            dir,
            now,
            client: reqwest::Client::new(),
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stop the server; the data directory and the clock survive for a restart.
    pub async fn stop(mut self) -> (tempfile::TempDir, Arc<AtomicU64>) {
        drop(std::mem::replace(&mut self.client, reqwest::Client::new()));
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), h).await;
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        (dir, self.now.clone())
    }

    pub fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn time(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    /// The server's SQLite database (what it recorded).
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("data").join(wardgate_server::DB_FILE))
            .expect("open db")
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Server audit rows of a kind (and, if given, outcome) for a session.
    pub fn audit_rows(&self, session_id: &str, kind: &str) -> Vec<(String, Option<String>)> {
        let db = self.db();
        let mut st = db
            .prepare(
                "SELECT outcome, json_extract(event, '$.reason') FROM audit WHERE session_id = ?1 AND kind = ?2 ORDER BY seq",
            )
            .expect("prepare");
        st.query_map([session_id, kind], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        cookie: Option<&str>,
        bearer: Option<&str>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, url);
        if let Some((ct, bytes)) = body {
            req = req.header(CONTENT_TYPE, ct).body(bytes);
        }
        if let Some(c) = cookie {
            req = req.header(COOKIE, format!("wg_session={c}"));
        }
        if let Some(b) = bearer {
            req = req.header(AUTHORIZATION, format!("Bearer {b}"));
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: &Value, cookie: Option<&str>) -> Answer {
        self.request(
            "POST",
            path,
            Some(("application/json", body.to_string().into_bytes())),
            cookie,
            None,
        )
        .await
    }

    pub async fn post_bearer(
        &self,
        path: &str,
        body: &Value,
        cookie: &str,
        bearer: Option<&str>,
    ) -> Answer {
        self.request(
            "POST",
            path,
            Some(("application/json", body.to_string().into_bytes())),
            Some(cookie),
            bearer,
        )
        .await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>, bearer: Option<&str>) -> Answer {
        self.request("GET", path, None, cookie, bearer).await
    }

    /// Register a software passkey for `user_id`.
    pub async fn register(&self, user_id: &str, mut auth: SoftAuthenticator) -> SoftAuthenticator {
        let start = self
            .post("/api/register/start", &json!({ "userId": user_id }), None)
            .await
            .expect(200);
        let credential = auth.register(&start.body["publicKey"]);
        let finish = self
            .post(
                "/api/register/finish",
                &json!({ "userId": user_id, "requestId": start.body["requestId"], "credential": credential }),
                None,
            )
            .await
            .expect(200);
        assert_eq!(finish.body["credentialId"], auth.credential_id_b64());
        auth
    }

    /// A clinician with a fresh platform passkey, signed in on `device`.
    pub async fn clinician(&self, user_id: &str, device: Value) -> Clinician {
        let auth = self
            .register(user_id, SoftAuthenticator::new(RP_ID, ORIGIN))
            .await;
        self.sign_in(user_id, auth, device).await
    }

    pub async fn sign_in(
        &self,
        user_id: &str,
        mut auth: SoftAuthenticator,
        device: Value,
    ) -> Clinician {
        let start = self
            .post("/api/signin/start", &json!({ "userId": user_id }), None)
            .await
            .expect(200);
        let credential = auth.assert(&start.body["publicKey"]);
        let finish = self
            .post(
                "/api/signin/finish",
                &json!({ "requestId": start.body["requestId"], "credential": credential, "device": device }),
                None,
            )
            .await
            .expect(200);
        let cookie_header = finish.header("set-cookie").expect("set-cookie");
        assert!(cookie_header.contains("HttpOnly"), "{cookie_header}");
        assert!(cookie_header.contains("SameSite=Strict"), "{cookie_header}");
        assert!(cookie_header.contains("Path=/"), "{cookie_header}");
        let cookie = cookie_header
            .strip_prefix("wg_session=")
            .and_then(|v| v.split(';').next())
            .expect("wg_session cookie")
            .to_string();
        Clinician {
            user_id: user_id.to_string(),
            auth,
            cookie,
            session: finish.body["session"].clone(),
        }
    }

    /// Ask for step-up options for `task`.
    pub async fn options(&self, c: &Clinician, task: &Value) -> Answer {
        self.post(
            "/api/step-up/options",
            &json!({ "task": task }),
            Some(&c.cookie),
        )
        .await
    }

    /// Verify an assertion for a step-up.
    pub async fn verify(
        &self,
        c: &Clinician,
        request_id: &Value,
        task: &Value,
        credential: &Value,
    ) -> Answer {
        self.post(
            "/api/step-up/verify",
            &json!({ "requestId": request_id, "task": task, "credential": credential }),
            Some(&c.cookie),
        )
        .await
    }

    /// The whole step-up for `task`: options, assertion, verify; returns the grant.
    pub async fn step_up(&self, c: &mut Clinician, task: &Value) -> String {
        self.step_up_with(c, task, &Tweaks::default())
            .await
            .expect(200)
            .body["grant"]
            .as_str()
            .expect("grant")
            .to_string()
    }

    pub async fn step_up_with(&self, c: &mut Clinician, task: &Value, t: &Tweaks) -> Answer {
        let opts = self.options(c, task).await.expect(200);
        assert!(
            opts.body["requestId"].is_string(),
            "no ceremony: {:#}",
            opts.body
        );
        let credential = c.auth.assert_with(&opts.body["publicKey"], t);
        self.verify(c, &opts.body["requestId"], task, &credential)
            .await
    }
}

/// A signed-in clinician.
#[derive(Debug, Clone)]
pub struct Clinician {
    pub user_id: String,
    pub auth: SoftAuthenticator,
    pub cookie: String,
    pub session: Value,
}

impl Clinician {
    pub fn sid(&self) -> String {
        self.session["sessionId"]
            .as_str()
            .expect("session id")
            .to_string()
    }
}

/// The hex SHA-256 of a task's WGT1 encoding, computed by the wardgate crate.
pub fn task_hash(task: &Value) -> String {
    let t: wardgate::task::TaskContext =
        serde_json::from_value(task.clone()).expect("task context");
    t.hash().to_hex()
}
