//! Load and fault drill for the reference relying party (issue 6): N concurrent clinicians,
//! each with its own software passkey (a cross-platform P-256 authenticator) and session, each
//! looping: protected EPCS prescription without a grant → RFC 9470 `401` → step-up options →
//! assertion → verify → the prescription with the single-use grant → two browser audit events.
//!
//! Connection failures (a server killed and restarting) are retried, not counted as errors.
//! At the end, with `--data-dir`, it opens the server's SQLite and checks that nothing
//! acknowledged was lost: every acknowledged audit event id, every prescription answered
//! `201`, every registered credential. Prints one JSON object.
//!
//! `cargo run --release -p wardgate-server --example load -- --base http://localhost:8080
//!  --clinicians 16 --seconds 20 --data-dir ./data` (the server needs `--verify-per-minute`
//! raised: ten a minute per user is its default). `scripts/load.sh` runs the whole drill.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a drill tool: a broken invariant of the drill itself should stop it loudly"
)]

#[path = "../tests/support/soft_authenticator.rs"]
#[allow(dead_code, reason = "shared with the tests")]
mod soft_authenticator;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use soft_authenticator::SoftAuthenticator;
use tokio::sync::Mutex;

const PRESCRIBERS: [&str; 2] = ["dr-okafor", "dr-lee"];
const PATIENTS: [&str; 4] = ["p-1001", "p-1002", "p-1004", "p-1006"];

#[derive(Debug, Clone)]
struct Args {
    base: String,
    origin: String,
    rp_id: String,
    clinicians: usize,
    seconds: u64,
    data_dir: Option<String>,
    run: String,
}

fn args() -> Args {
    let mut a = Args {
        base: String::from("http://localhost:8080"),
        origin: String::new(),
        rp_id: String::from("localhost"),
        clinicians: 8,
        seconds: 15,
        data_dir: None,
        run: format!("{:x}", std::process::id()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => a.base = value(),
            "--origin" => a.origin = value(),
            "--rp-id" => a.rp_id = value(),
            "--clinicians" => a.clinicians = value().parse().expect("--clinicians N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--data-dir" => a.data_dir = Some(value()),
            "--run" => a.run = value(),
            other => panic!("unknown argument {other}"),
        }
    }
    if a.origin.is_empty() {
        a.origin = a.base.clone();
    }
    a
}

/// What every clinician reports.
#[derive(Debug, Default)]
struct Tally {
    iterations: u64,
    verify_ms: Vec<f64>,
    iteration_ms: Vec<f64>,
    errors: Vec<String>,
    retries: u64,
    acknowledged: Vec<String>,
    prescriptions: Vec<String>,
    credentials: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
}

enum Failure {
    /// The server is not reachable (killed, restarting): try again.
    Down,
    /// A wrong answer: counted.
    Wrong(String),
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        cookie: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<(u16, Value, Option<String>), Failure> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if let Some(c) = cookie {
            req = req.header("cookie", format!("wg_session={c}"));
        }
        if let Some(g) = bearer {
            req = req.header("authorization", format!("Bearer {g}"));
        }
        let res = req.send().await.map_err(|_| Failure::Down)?;
        let status = res.status().as_u16();
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = res.bytes().await.map_err(|_| Failure::Down)?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, body, cookie))
    }

    async fn expect(
        &self,
        status: u16,
        method: &str,
        path: &str,
        body: Option<&Value>,
        cookie: Option<&str>,
        bearer: Option<&str>,
    ) -> Result<(Value, Option<String>), Failure> {
        let (s, b, c) = self.call(method, path, body, cookie, bearer).await?;
        if s == status {
            Ok((b, c))
        } else {
            Err(Failure::Wrong(format!(
                "{method} {path}: {s} {}",
                b.get("code").and_then(Value::as_str).unwrap_or("")
            )))
        }
    }
}

/// Retry while the server is down (a kill and restart), up to a minute.
macro_rules! retrying {
    ($tally:expr, $e:expr) => {{
        let started = Instant::now();
        loop {
            match $e.await {
                Err(Failure::Down) if started.elapsed() < Duration::from_secs(60) => {
                    $tally.retries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => break other,
            }
        }
    }};
}

async fn clinician(i: usize, a: Args, deadline: Instant) -> Tally {
    let mut t = Tally::default();
    let c = Client {
        http: reqwest::Client::new(),
        base: a.base.clone(),
    };
    let user = PRESCRIBERS[i % PRESCRIBERS.len()];
    let mut auth = SoftAuthenticator::new(&a.rp_id, &a.origin).cross_platform();
    // Register and sign in (retried as a whole if the server goes down in between).
    let cookie = loop {
        let r: Result<String, Failure> = async {
            let (start, _) = c.expect(200, "POST", "/api/register/start", Some(&json!({ "userId": user })), None, None).await?;
            let credential = auth.register(&start["publicKey"]);
            c.expect(200, "POST", "/api/register/finish", Some(&json!({ "userId": user, "requestId": start["requestId"], "credential": credential })), None, None).await?;
            t.credentials.push(auth.credential_id_b64());
            let (start, _) = c.expect(200, "POST", "/api/signin/start", Some(&json!({ "userId": user })), None, None).await?;
            let credential = auth.assert(&start["publicKey"]);
            let device = json!({ "id": format!("ws-load-{}-{i}", a.run), "shared": false, "managed": true });
            let (_, set) = c.expect(200, "POST", "/api/signin/finish", Some(&json!({ "requestId": start["requestId"], "credential": credential, "device": device })), None, None).await?;
            set.and_then(|v| v.strip_prefix("wg_session=").and_then(|v| v.split(';').next()).map(str::to_string))
                .ok_or_else(|| Failure::Wrong(String::from("no session cookie")))
        }
        .await;
        match r {
            Ok(cookie) => break cookie,
            Err(Failure::Down) => {
                t.retries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(Failure::Wrong(e)) => {
                t.errors.push(format!("sign-in: {e}"));
                return t;
            }
        }
    };
    let sid = {
        let (b, _) = match retrying!(
            t,
            c.expect(200, "GET", "/api/session", None, Some(&cookie), None)
        ) {
            Ok(v) => v,
            Err(_) => {
                t.errors.push(String::from("session lookup"));
                return t;
            }
        };
        b["session"]["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let began = Instant::now();
        let patient = PATIENTS[(i + n as usize) % PATIENTS.len()];
        let summary = format!("load {} {i}-{n}", a.run);
        let body = json!({ "patientId": patient, "drug": "oxycodone-5mg-tab", "controlled": true, "summary": summary });
        let step: Result<(), Failure> = async {
            let (first, _) = retrying!(t, c.expect(401, "POST", "/api/prescriptions", Some(&body), Some(&cookie), None))?;
            let task = first["task"].clone();
            let (opts, _) = retrying!(t, c.expect(200, "POST", "/api/step-up/options", Some(&json!({ "task": task })), Some(&cookie), None))?;
            let credential = auth.assert(&opts["publicKey"]);
            let v0 = Instant::now();
            let verify = json!({ "requestId": opts["requestId"], "task": task, "credential": credential });
            // Not retried: a verify whose answer was lost consumed its challenge (single use).
            let (verified, _) = c.expect(200, "POST", "/api/step-up/verify", Some(&verify), Some(&cookie), None).await?;
            t.verify_ms.push(v0.elapsed().as_secs_f64() * 1000.0);
            let grant = verified["grant"].as_str().unwrap_or_default().to_string();
            retrying!(t, c.expect(201, "POST", "/api/prescriptions", Some(&body), Some(&cookie), Some(&grant)))?;
            t.prescriptions.push(summary.clone());
            let at = u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)).unwrap_or(0);
            let events: Vec<Value> = (0..2)
                .map(|k| json!({ "id": format!("load.{}.{i}.{n}.{k}", a.run), "atMs": at, "kind": "decision", "userId": user, "deviceId": format!("ws-load-{}-{i}", a.run), "sessionId": sid, "outcome": "allow", "reason": summary }))
                .collect();
            let (ack, _) = retrying!(t, c.expect(200, "POST", "/api/audit", Some(&json!({ "events": events })), Some(&cookie), None))?;
            for id in ack["acknowledged"].as_array().into_iter().flatten() {
                t.acknowledged.push(id.as_str().unwrap_or_default().to_string());
            }
            Ok(())
        }
        .await;
        match step {
            Ok(()) => {
                t.iterations += 1;
                t.iteration_ms.push(began.elapsed().as_secs_f64() * 1000.0);
            }
            // A verify lost in a kill: the drill goes on with a fresh challenge.
            Err(Failure::Down) => t.retries += 1,
            Err(Failure::Wrong(e)) => t.errors.push(e),
        }
    }
    t
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    (v[i.min(v.len() - 1)] * 100.0).round() / 100.0
}

#[tokio::main]
async fn main() {
    let a = args();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);
    let all = Arc::new(Mutex::new(Tally::default()));
    let mut handles = Vec::new();
    for i in 0..a.clinicians {
        let a = a.clone();
        let all = Arc::clone(&all);
        handles.push(tokio::spawn(async move {
            let t = clinician(i, a, deadline).await;
            let mut all = all.lock().await;
            all.iterations += t.iterations;
            all.verify_ms.extend(t.verify_ms);
            all.iteration_ms.extend(t.iteration_ms);
            all.errors.extend(t.errors);
            all.retries += t.retries;
            all.acknowledged.extend(t.acknowledged);
            all.prescriptions.extend(t.prescriptions);
            all.credentials.extend(t.credentials);
        }));
    }
    for h in handles {
        h.await.expect("clinician task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = Arc::try_unwrap(all).expect("one owner").into_inner();
    let mut lost = json!(null);
    if let Some(dir) = &a.data_dir {
        let db = rusqlite::Connection::open_with_flags(
            std::path::Path::new(dir).join("wardgate.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the server's database");
        let stored: HashSet<String> = {
            let mut st = db
                .prepare("SELECT id FROM audit WHERE id LIKE ?1")
                .expect("audit query");
            st.query_map([format!("load.{}.%", a.run)], |r| r.get::<_, String>(0))
                .expect("audit rows")
                .map(|r| r.expect("audit row"))
                .collect()
        };
        let rx: HashSet<String> = {
            let mut st = db
                .prepare("SELECT summary FROM prescriptions WHERE summary LIKE ?1")
                .expect("rx query");
            st.query_map([format!("load {} %", a.run)], |r| r.get::<_, String>(0))
                .expect("rx rows")
                .map(|r| r.expect("rx row"))
                .collect()
        };
        let creds: i64 = all
            .credentials
            .iter()
            .map(|id| {
                db.query_row(
                    "SELECT COUNT(*) FROM credentials WHERE id = ?1",
                    [id],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or(0)
            })
            .sum();
        let ack: HashSet<&String> = all.acknowledged.iter().collect();
        lost = json!({
            "auditEventsAcknowledged": ack.len(),
            "auditEventsLost": ack.iter().filter(|id| !stored.contains(**id)).count(),
            "prescriptionsCreated": all.prescriptions.len(),
            "prescriptionsLost": all.prescriptions.iter().filter(|s| !rx.contains(*s)).count(),
            "credentialsRegistered": all.credentials.len(),
            "credentialsLost": all.credentials.len() as i64 - creds,
        });
    }
    let verifications = all.verify_ms.len();
    let out = json!({
        "clinicians": a.clinicians,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "iterations": all.iterations,
        "verifications": verifications,
        "verificationsPerSecond": ((verifications as f64 / elapsed) * 10.0).round() / 10.0,
        "verifyMs": { "p50": pct(&mut all.verify_ms, 0.5), "p99": pct(&mut all.verify_ms, 0.99) },
        "iterationMs": { "p50": pct(&mut all.iteration_ms, 0.5), "p99": pct(&mut all.iteration_ms, 0.99) },
        "errors": all.errors.len(),
        "errorSamples": all.errors.iter().take(5).collect::<Vec<_>>(),
        "retriesWhileDown": all.retries,
        "durability": lost,
    });
    println!("{out}");
}
