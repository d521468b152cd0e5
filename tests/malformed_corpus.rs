//! The malformed-input corpus: every file in `tests/corpus/` is an array of cases
//! `{ "name", "input" | "generate", "code" }` for one core entry point. Each case must be refused
//! with exactly its code (not just "an error"), never accepted and never a panic; afterwards the
//! entry point must still accept a valid input. A case marked `"finding"` is a defect this corpus
//! found in the crate (39 cases, all fixed since): it keeps the code the input should get and
//! stays as a regression test.
//!
//! `input` is the text itself (a JSON string, when the bytes are the point) or a JSON value
//! (serialised compactly). `generate` builds inputs too large or too repetitive to store: for
//! text entry points a list of segments (`{"text": s}`, `{"repeat": s, "times": n}`); for grant
//! tokens a recipe (see [`token`]). Challenges are `{ "context", "challenge": [parts] }` (see
//! [`challenge_bytes`]).
//!
//! Run with `cargo test --features server --test malformed_corpus` (the grant verification
//! corpus needs the `server` feature; without it that file is skipped). Per-entry-point counts
//! are written to stderr even when the test passes.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wardgate::Error;
use wardgate::policy::{Policy, SessionFacts};
use wardgate::rfc9470::parse_www_authenticate;
use wardgate::session::{ChannelMessage, State};
use wardgate::task::{TaskContext, check_challenge};

/// Every corpus file and the entry point it feeds. A file not listed here fails `corpus_shape`.
const FILES: &[(&str, &str)] = &[
    ("policy", "Policy::from_json"),
    ("context", "TaskContext::from_json"),
    ("session_facts", "SessionFacts::from_json"),
    ("grant_decode", "grant::decode (+ GrantKeys::verify)"),
    ("grant_verify", "GrantKeys::verify / verify_for"),
    ("channel", "ChannelMessage::decode"),
    ("state", "State::from_json"),
    ("rfc9470", "rfc9470::parse_www_authenticate"),
    ("challenge", "task::check_challenge"),
];

/// The keys a case may have. `js` (`"skip: why"`), `jsCode` and `jsWhy` are read by the node
/// harness (tests/js/corpus.test.mjs) only.
const CASE_KEYS: &[&str] = &[
    "name", "input", "generate", "code", "finding", "js", "jsCode", "jsWhy",
];

/// "Now" for grant verification unless a case says otherwise (600 s after the default `iat`).
const NOW_MS: u64 = 1_764_057_600_000;

// ------------------------------------------------------------------------------------------
// Loading

#[derive(Debug)]
struct Case {
    name: String,
    code: String,
    input: Option<Value>,
    generate: Option<Value>,
    finding: Option<String>,
}

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn load(file: &str) -> Vec<Case> {
    let path = corpus_dir().join(format!("{file}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let Value::Array(items) = value else {
        panic!("{} is not a JSON array", path.display());
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(mut o) = item else {
                panic!("{file}: a case is not an object: {item}");
            };
            if let Some(k) = o.keys().find(|k| !CASE_KEYS.contains(&k.as_str())) {
                panic!("{file}: unknown key `{k}` in a case: {o:?}");
            }
            let name = o
                .remove("name")
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_else(|| panic!("{file}: a case without a name"));
            let code = o
                .remove("code")
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_else(|| panic!("{file}: `{name}` has no code"));
            Case {
                input: o.remove("input"),
                generate: o.remove("generate"),
                finding: o
                    .remove("finding")
                    .and_then(|v| v.as_str().map(String::from)),
                name,
                code,
            }
        })
        .collect()
}

/// Segments `{"text": s}` / `{"repeat": s, "times": n}`, concatenated.
fn segments(list: &Value) -> String {
    let mut out = String::new();
    for seg in list.as_array().expect("`generate` is a list of segments") {
        if let Some(t) = seg.get("text").and_then(Value::as_str) {
            out.push_str(t);
        } else {
            let s = seg["repeat"].as_str().expect("`repeat` is a string");
            let n = usize::try_from(seg["times"].as_u64().expect("`times` is a count")).unwrap();
            out.push_str(&s.repeat(n));
        }
    }
    out
}

/// The text of a case: generated, the string itself, or the JSON value serialised.
fn text(case: &Case) -> String {
    if let Some(g) = &case.generate {
        return segments(g);
    }
    match case
        .input
        .as_ref()
        .expect("a case has `input` or `generate`")
    {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ------------------------------------------------------------------------------------------
// Running

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| String::from("(non-string panic payload)"))
}

fn short(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

/// Feed every case to `call` (inputs built by `prepare` outside the panic guard, so a broken
/// fixture is not blamed on the crate), then `valid` must succeed. Writes the counts to stderr
/// and fails listing every failing case.
fn run<T>(
    file: &str,
    extra: &str,
    cases: &[Case],
    prepare: impl Fn(&Case) -> T,
    call: impl Fn(&T) -> Result<(), Error>,
    valid: impl FnOnce() -> Result<(), String>,
) -> Vec<String> {
    let entry = FILES
        .iter()
        .find(|(f, _)| *f == file)
        .map_or(file, |(_, e)| *e);
    let mut failures = Vec::new();
    for case in cases {
        let input = prepare(case);
        let outcome = catch_unwind(AssertUnwindSafe(|| call(&input)));
        let problem = match outcome {
            Err(payload) => Some(format!("PANICKED: {}", panic_message(payload.as_ref()))),
            Ok(Ok(())) => Some(String::from("accepted")),
            Ok(Err(e)) if e.code() == case.code => None,
            Ok(Err(e)) => Some(format!("got {} ({})", e.code(), short(&e.to_string()))),
        };
        if let Some(problem) = problem {
            let tag = if case.finding.is_some() {
                "FINDING "
            } else {
                ""
            };
            let why = case
                .finding
                .as_deref()
                .map(|f| format!("\n      finding: {f}"))
                .unwrap_or_default();
            failures.push(format!(
                "{tag}{file}{extra} `{}`: expected {}, {problem}{why}",
                case.name, case.code
            ));
        }
    }
    let after = catch_unwind(AssertUnwindSafe(valid))
        .unwrap_or_else(|p| Err(format!("PANICKED: {}", panic_message(p.as_ref()))));
    if let Err(e) = &after {
        failures.push(format!(
            "{file}{extra}: a valid input fails after the corpus: {e}"
        ));
    }
    let findings = cases.iter().filter(|c| c.finding.is_some()).count();
    let failed = failures.len() - usize::from(after.is_err());
    let _ = writeln!(
        std::io::stderr(),
        "corpus {:<40} {:>4} cases  {:>4} passed  {:>3} failed  ({findings} marked as findings)  \
         valid input afterwards: {}",
        format!("{entry}{extra}"),
        cases.len(),
        cases.len() - failed,
        failed,
        if after.is_ok() { "ok" } else { "FAILED" },
    );
    failures
}

fn report(failures: Vec<String>) {
    if !failures.is_empty() {
        panic!(
            "{} corpus case(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
}

fn unit<T>(r: wardgate::Result<T>) -> Result<(), Error> {
    r.map(|_| ())
}

// ------------------------------------------------------------------------------------------
// Valid inputs (used after each corpus, and as the bases of generated grants and challenges)

const VALID_POLICY: &str = include_str!("../pkg-config/policies/clinical-default.json");
const VALID_SMALL_POLICY: &str = r#"{"version":"wardgate/1","id":"small","rules":[{"id":"a","when":{"actions":["patient-view"]},"effect":"allow"},{"id":"b","when":{"actions":["order-sign"]},"effect":"step-up","stepUp":{"maxAuthAgeSeconds":60,"scope":"task","grantLifetimeSeconds":60}}]}"#;
const VALID_CONTEXT: &str = r#"{"user":{"id":"dr-okafor","roles":["physician"]},"action":"order-sign","patient":{"id":"p-3","labels":[]},"targets":["MedicationRequest/42"],"device":{"id":"ws-12","shared":false,"managed":true}}"#;
const VALID_FACTS: &str = r#"{"sessionId":"s-1","startedAtMs":1764050400000,"rolesAtStart":["nurse"],"grants":[],"spentGrants":[],"locked":false,"lastStrongAuthMs":1764057000000,"lastActivityMs":1764057540000}"#;
const VALID_HEADER: &str = "Bearer error=\"insufficient_user_authentication\", error_description=\"signing needs a passkey\", acr_values=\"phrh phr\", max_age=900";
const VALID_MESSAGES: &[&str] = &[
    r#"{"v":1,"sessionId":"s-1","type":"grant","token":"a.b.c"}"#,
    r#"{"v":1,"sessionId":"s-1","type":"revoke","jti":"g-1"}"#,
    r#"{"v":1,"sessionId":"s-1","type":"spent","jti":"g-1"}"#,
    r#"{"v":1,"sessionId":"s-1","type":"lock","reason":"manual"}"#,
    r#"{"v":1,"sessionId":"s-1","type":"unlock","atMs":1764057600000}"#,
    r#"{"v":1,"sessionId":"s-1","type":"handoff","newSessionId":"s-2","user":{"id":"rn-b","roles":["nurse"]},"strongAuthAtMs":1764057600000}"#,
    r#"{"v":1,"sessionId":"s-1","type":"logout"}"#,
    r#"{"v":1,"sessionId":"s-1","type":"activity","atMs":1764057600000}"#,
];

fn valid_state() -> Value {
    json!({
        "version": 1, "sessionId": "s-1", "user": {"id": "rn-ade", "roles": ["nurse"]},
        "device": {"id": "tablet-4b-1", "shared": true, "managed": true},
        "limits": {"idleLockMs": 300_000, "absoluteLimitMs": 28_800_000},
        "startedAtMs": 1_764_050_400_000_u64, "lastActivityMs": 1_764_057_540_000_u64,
        "lastStrongAuthMs": 1_764_057_000_000_u64, "rolesAtStart": ["nurse"],
        "status": {"status": "active"}, "visible": true, "frozen": false, "online": true,
        "grants": [], "spentGrants": [], "pending": null, "ceremony": {"state": "idle"},
        "auditSeq": 0,
        "counters": {"decisions": 0, "allowedWithoutPrompt": 0, "grantsReused": 0, "prompts": 0,
            "approvals": 0, "cancels": 0, "failures": 0, "interrupted": 0, "resumed": 0,
            "appSwitchesDuringPrompt": 0, "currentFailureStreak": 0, "maxFailureStreak": 0,
            "breakGlass": 0, "locks": 0, "handoffs": 0},
        "droppedMessages": 0, "instanceId": "a1b2c3", "lastActivityBroadcastMs": 0
    })
}

/// The claims of a grant for `dr-okafor` on `ws-12` in session `s-1` (valid at [`NOW_MS`]).
fn valid_claims() -> Value {
    json!({
        "iss": "http://localhost:8080", "sub": "dr-okafor", "sid": "s-1", "dev": "ws-12",
        "acr": "phr", "amr": ["hwk", "user", "mfa"], "auth_time": 1_764_056_995_u64,
        "iat": 1_764_057_000_u64, "exp": 1_764_057_900_u64, "jti": "g-1",
        "scp": {"kind": "action-patient", "actions": ["order-sign"], "patient": "p-3"},
        "att": "any", "once": false
    })
}

// ------------------------------------------------------------------------------------------
// Grant tokens

const SERVER_SEED: [u8; 32] = [7; 32];
const OTHER_SEED: [u8; 32] = [9; 32];

#[cfg(feature = "server")]
fn server_keys() -> wardgate::grant::server::GrantKeys {
    wardgate::grant::server::GrantKeys::from_seed(&SERVER_SEED).unwrap()
}

/// (public key, kid) of a seed, as `GrantKeys` derives them.
#[cfg(feature = "server")]
fn public(seed: &[u8; 32]) -> ([u8; 32], String) {
    let k = wardgate::grant::server::GrantKeys::from_seed(seed).unwrap();
    (k.public_key(), k.kid().to_string())
}

#[cfg(not(feature = "server"))]
fn public(seed: &[u8; 32]) -> ([u8; 32], String) {
    // Without the server feature nothing verifies: any stable stand-ins do.
    (*seed, format!("kid-{}", seed[0]))
}

/// An Ed25519 signature (a stand-in without the server feature: decoding never verifies).
fn ed25519(seed: &[u8; 32], input: &[u8]) -> Vec<u8> {
    #[cfg(feature = "server")]
    {
        use ed25519_dalek::{Signer as _, SigningKey};
        SigningKey::from_bytes(seed).sign(input).to_bytes().to_vec()
    }
    #[cfg(not(feature = "server"))]
    {
        let _ = input;
        vec![seed[0]; 64]
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// Add the Ed25519 group order L to the scalar half of a signature: the same signature in a
/// second, non-canonical encoding (what `verify_strict` must refuse).
fn malleate(sig: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (s, l) in sig[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
}

/// Replace the placeholders `$kid`, `$other-kid`, `$other-x` in string values.
fn substitute(v: &mut Value) {
    match v {
        Value::String(s) => {
            let (_, kid) = public(&SERVER_SEED);
            let (other_pk, other_kid) = public(&OTHER_SEED);
            match s.as_str() {
                "$kid" => *s = kid,
                "$other-kid" => *s = other_kid,
                "$other-x" => *s = B64.encode(other_pk),
                _ => {}
            }
        }
        Value::Array(items) => items.iter_mut().for_each(substitute),
        Value::Object(map) => map.values_mut().for_each(substitute),
        _ => {}
    }
}

fn edit(target: &mut Value, set: Option<&Value>, remove: Option<&Value>) {
    let Value::Object(obj) = target else { return };
    if let Some(Value::Object(set)) = set {
        for (k, v) in set {
            obj.insert(k.clone(), v.clone());
        }
    }
    if let Some(Value::Array(keys)) = remove {
        for k in keys {
            obj.remove(k.as_str().unwrap());
        }
    }
}

/// A JSON part of the token: raw text when the recipe gives a string, else the value.
enum Part {
    Raw(String),
    Json(Value),
}

impl Part {
    fn text(&self) -> String {
        match self {
            Part::Raw(s) => s.clone(),
            Part::Json(v) => v.to_string(),
        }
    }
}

/// Build a token from a recipe. Fields, all optional:
/// `header` / `claims` (a JSON value, or a string used as the raw text; defaults: EdDSA with
/// the server's kid, and [`valid_claims`]), `headerSet` / `headerRemove` / `claimsSet` /
/// `claimsRemove` (top-level edits), `headerPad` (a padding parameter of n bytes),
/// `headerB64` / `payloadB64` / `signatureB64` (raw parts), `sign` (`key` (default),
/// `other-key`, `hs256-public-key`, `zeros`, `empty`, `flip-bit`, `malleable`, `trailing-bits`,
/// `{"bytes": n}`), `after` (edits applied once signed, keeping the signature), `truncate`
/// (characters dropped from the end), `prefix`, `suffix`.
fn token(r: &Value) -> String {
    let (server_pk, kid) = public(&SERVER_SEED);
    let mut header = match r.get("header") {
        Some(Value::String(s)) => Part::Raw(s.replace("$kid", &kid)),
        Some(v) => Part::Json(v.clone()),
        None => Part::Json(json!({"alg": "EdDSA", "typ": "JWT", "kid": "$kid"})),
    };
    let mut claims = match r.get("claims") {
        Some(Value::String(s)) => Part::Raw(s.clone()),
        Some(v) => Part::Json(v.clone()),
        None => Part::Json(valid_claims()),
    };
    if let Part::Json(h) = &mut header {
        edit(h, r.get("headerSet"), r.get("headerRemove"));
        if let Some(n) = r.get("headerPad").and_then(Value::as_u64) {
            let pad = "x".repeat(usize::try_from(n).unwrap());
            h.as_object_mut().unwrap().insert("pad".into(), pad.into());
        }
        substitute(h);
    }
    if let Part::Json(c) = &mut claims {
        edit(c, r.get("claimsSet"), r.get("claimsRemove"));
    }
    let part = |key: &str, p: &Part| {
        r.get(key)
            .and_then(Value::as_str)
            .map_or_else(|| B64.encode(p.text()), String::from)
    };
    let mut h = part("headerB64", &header);
    let mut p = part("payloadB64", &claims);
    let input = format!("{h}.{p}");
    let signed = |seed| ed25519(seed, input.as_bytes());
    let mut s = match r.get("sign") {
        None => B64.encode(signed(&SERVER_SEED)),
        Some(Value::Object(o)) => B64.encode(vec![
            0x2a;
            usize::try_from(o["bytes"].as_u64().unwrap())
                .unwrap()
        ]),
        Some(Value::String(mode)) => match mode.as_str() {
            "key" => B64.encode(signed(&SERVER_SEED)),
            "other-key" => B64.encode(signed(&OTHER_SEED)),
            "hs256-public-key" => B64.encode(hmac_sha256(&server_pk, input.as_bytes())),
            "zeros" => B64.encode([0u8; 64]),
            "empty" => String::new(),
            "flip-bit" => {
                let mut sig = signed(&SERVER_SEED);
                sig[0] ^= 1;
                B64.encode(sig)
            }
            "malleable" => {
                let mut sig = signed(&SERVER_SEED);
                malleate(&mut sig);
                B64.encode(sig)
            }
            "trailing-bits" => {
                // 64 bytes are 86 characters; the last one carries 4 unused bits: set one.
                let mut enc = B64.encode(signed(&SERVER_SEED)).into_bytes();
                let last = enc.last_mut().unwrap();
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                let idx = ALPHABET.iter().position(|c| c == last).unwrap();
                *last = ALPHABET[idx | 1];
                String::from_utf8(enc).unwrap()
            }
            other => panic!("unknown `sign` mode `{other}`"),
        },
        Some(other) => panic!("bad `sign`: {other}"),
    };
    if let Some(sb) = r.get("signatureB64").and_then(Value::as_str) {
        s = sb.to_string();
    }
    if let Some(after) = r.get("after") {
        if let Part::Json(hv) = &mut header {
            edit(hv, after.get("headerSet"), after.get("headerRemove"));
            h = B64.encode(hv.to_string());
        }
        if let Part::Json(cv) = &mut claims {
            edit(cv, after.get("claimsSet"), after.get("claimsRemove"));
            p = B64.encode(cv.to_string());
        }
    }
    let mut t = format!("{h}.{p}.{s}");
    if let Some(n) = r.get("truncate").and_then(Value::as_u64) {
        t.truncate(t.len() - usize::try_from(n).unwrap());
    }
    format!(
        "{}{t}{}",
        r.get("prefix").and_then(Value::as_str).unwrap_or_default(),
        r.get("suffix").and_then(Value::as_str).unwrap_or_default()
    )
}

/// A grant case: a literal token, or one built from its recipe.
fn grant_input(case: &Case) -> (String, Value) {
    match (&case.input, &case.generate) {
        (Some(Value::String(t)), None) => (t.clone(), Value::Null),
        (None, Some(recipe)) => (token(recipe), recipe.clone()),
        _ => panic!("grant case `{}`: a string input or a recipe", case.name),
    }
}

// ------------------------------------------------------------------------------------------
// Challenges

fn context_hash(spec: &Value, own: &Value) -> [u8; 32] {
    let ctx = if spec == "self" { own } else { spec };
    TaskContext::from_json(&ctx.to_string())
        .unwrap_or_else(|e| panic!("challenge fixture: context does not parse: {e}"))
        .hash()
        .0
}

/// The bytes of a challenge, concatenated from parts: `{"bytes": n, "fill": b}` (default 7),
/// `{"taskHash": "self" | context, "take": n, "xorLast": b}`, `{"taskHashHex": ...}` (the hex
/// text), `{"sha256": text}`, `{"utf8": text}`, `{"b64urlText": [parts]}` (the base64url text of
/// those bytes, not decoded).
fn challenge_bytes(parts: &Value, own: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts.as_array().expect("challenge parts") {
        let n = |k: &str| part.get(k).and_then(Value::as_u64);
        if let Some(len) = n("bytes") {
            let fill = u8::try_from(n("fill").unwrap_or(7)).unwrap();
            out.extend(std::iter::repeat_n(fill, usize::try_from(len).unwrap()));
        } else if let Some(spec) = part.get("taskHash") {
            let mut h = context_hash(spec, own).to_vec();
            if let Some(take) = n("take") {
                h.truncate(usize::try_from(take).unwrap());
            }
            if let Some(x) = n("xorLast") {
                *h.last_mut().unwrap() ^= u8::try_from(x).unwrap();
            }
            out.extend(h);
        } else if let Some(spec) = part.get("taskHashHex") {
            out.extend(wardgate::task::hex_encode(&context_hash(spec, own)).into_bytes());
        } else if let Some(t) = part.get("sha256").and_then(Value::as_str) {
            out.extend(Sha256::digest(t.as_bytes()));
        } else if let Some(t) = part.get("utf8").and_then(Value::as_str) {
            out.extend(t.as_bytes());
        } else if let Some(inner) = part.get("b64urlText") {
            out.extend(B64.encode(challenge_bytes(inner, own)).into_bytes());
        } else {
            panic!("unknown challenge part {part}");
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// The corpus, one test per entry point

#[test]
fn corpus_shape() {
    let mut total = 0;
    let mut listed: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    for name in &listed {
        let stem = name.strip_suffix(".json").unwrap_or(name);
        assert!(
            FILES.iter().any(|(f, _)| *f == stem),
            "tests/corpus/{name} belongs to no entry point: add it to FILES"
        );
    }
    for (file, _) in FILES {
        let cases = load(file);
        assert!(!cases.is_empty(), "{file}: no cases");
        let mut names = std::collections::BTreeSet::new();
        for c in &cases {
            assert!(names.insert(&c.name), "{file}: duplicate name `{}`", c.name);
            assert!(
                Error::ALL_CODES.contains(&c.code.as_str()),
                "{file} `{}`: `{}` is not a code of this crate",
                c.name,
                c.code
            );
            assert!(
                c.input.is_some() != c.generate.is_some(),
                "{file} `{}`: exactly one of `input` and `generate`",
                c.name
            );
        }
        total += cases.len();
    }
    let _ = writeln!(
        std::io::stderr(),
        "corpus total: {total} cases in {} files",
        FILES.len()
    );
    assert!(total >= 300, "the corpus has only {total} cases");
}

#[test]
fn policy_documents() {
    let cases = load("policy");
    report(run(
        "policy",
        "",
        &cases,
        text,
        |t| unit(Policy::from_json(t)),
        || {
            let p = Policy::from_json(VALID_POLICY).map_err(|e| e.to_string())?;
            Policy::from_json(VALID_SMALL_POLICY).map_err(|e| e.to_string())?;
            let ctx = TaskContext::from_json(VALID_CONTEXT).map_err(|e| e.to_string())?;
            let facts = SessionFacts::from_json(VALID_FACTS).map_err(|e| e.to_string())?;
            let d = p.evaluate(&ctx, &facts, NOW_MS);
            if d.rule_ids.is_empty() {
                return Err(format!("a decision without rule ids: {d:?}"));
            }
            Ok(())
        },
    ));
}

#[test]
fn task_contexts() {
    let cases = load("context");
    report(run(
        "context",
        "",
        &cases,
        text,
        |t| unit(TaskContext::from_json(t)),
        || {
            let a = TaskContext::from_json(VALID_CONTEXT).map_err(|e| e.to_string())?;
            let b = TaskContext::from_json(VALID_CONTEXT).map_err(|e| e.to_string())?;
            (a.hash() == b.hash())
                .then_some(())
                .ok_or_else(|| String::from("the hash of one context changed"))
        },
    ));
}

#[test]
fn session_facts() {
    let cases = load("session_facts");
    report(run(
        "session_facts",
        "",
        &cases,
        text,
        |t| unit(SessionFacts::from_json(t)),
        || unit(SessionFacts::from_json(VALID_FACTS)).map_err(|e| e.to_string()),
    ));
}

#[test]
fn grant_tokens_decoded() {
    let cases = load("grant_decode");
    let mut failures = run(
        "grant_decode",
        "",
        &cases,
        grant_input,
        |(t, _)| unit(wardgate::grant::decode(t)),
        || {
            let c = wardgate::grant::decode(&token(&json!({}))).map_err(|e| e.to_string())?;
            (c.sub == "dr-okafor")
                .then_some(())
                .ok_or_else(|| format!("decoded the wrong claims: {c:?}"))
        },
    );
    // The server decodes through the same `split` before it verifies: same codes.
    #[cfg(feature = "server")]
    failures.extend(run(
        "grant_decode",
        " via GrantKeys::verify",
        &cases,
        grant_input,
        |(t, _)| unit(server_keys().verify(t, NOW_MS)),
        || unit(server_keys().verify(&token(&json!({})), NOW_MS)).map_err(|e| e.to_string()),
    ));
    report(failures);
}

#[cfg(feature = "server")]
#[test]
fn grant_tokens_verified() {
    use wardgate::grant::server::Expected;
    let cases = load("grant_verify");
    report(run(
        "grant_verify",
        "",
        &cases,
        grant_input,
        |(t, recipe)| {
            let now = recipe
                .get("nowMs")
                .and_then(Value::as_u64)
                .unwrap_or(NOW_MS);
            let keys = server_keys();
            match recipe.get("expect") {
                None => unit(keys.verify(t, now)),
                Some(e) => {
                    let field = |k: &str| e[k].as_str().unwrap();
                    let expected = Expected {
                        user_id: field("user"),
                        session_id: field("session"),
                        device_id: field("device"),
                    };
                    unit(keys.verify_for(t, now, &expected))
                }
            }
        },
        || {
            let keys = server_keys();
            let t = token(&json!({}));
            let expected = Expected {
                user_id: "dr-okafor",
                session_id: "s-1",
                device_id: "ws-12",
            };
            unit(keys.verify_for(&t, NOW_MS, &expected)).map_err(|e| e.to_string())
        },
    ));
}

#[cfg(not(feature = "server"))]
#[test]
fn grant_tokens_verified() {
    let _ = writeln!(
        std::io::stderr(),
        "corpus GrantKeys::verify: skipped (run with --features server)"
    );
}

#[test]
fn channel_messages() {
    let cases = load("channel");
    report(run(
        "channel",
        "",
        &cases,
        text,
        |t| unit(ChannelMessage::decode(t)),
        || {
            for m in VALID_MESSAGES {
                ChannelMessage::decode(m).map_err(|e| format!("{m}: {e}"))?;
            }
            Ok(())
        },
    ));
}

#[test]
fn stored_session_state() {
    let cases = load("state");
    report(run(
        "state",
        "",
        &cases,
        text,
        |t| unit(State::from_json(t)),
        || {
            let s = State::from_json(&valid_state().to_string()).map_err(|e| e.to_string())?;
            let again = State::from_json(&s.to_json().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            (again == s)
                .then_some(())
                .ok_or_else(|| String::from("state does not round-trip"))
        },
    ));
}

#[test]
fn www_authenticate_headers() {
    let cases = load("rfc9470");
    report(run(
        "rfc9470",
        "",
        &cases,
        text,
        |t| unit(parse_www_authenticate(t)),
        || match parse_www_authenticate(VALID_HEADER) {
            Ok(Some(c)) if c.max_age == Some(900) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    ));
}

#[test]
fn step_up_challenges() {
    let cases = load("challenge");
    report(run(
        "challenge",
        "",
        &cases,
        |case| {
            let input = case.input.as_ref().expect("a challenge case has an input");
            let context = &input["context"];
            (
                context.to_string(),
                challenge_bytes(&input["challenge"], context),
            )
        },
        |(ctx, bytes)| {
            let task = TaskContext::from_json(ctx)?;
            check_challenge(bytes, &task)
        },
        || {
            let own: Value = serde_json::from_str(VALID_CONTEXT).unwrap();
            let bytes = challenge_bytes(&json!([{"bytes": 16}, {"taskHash": "self"}]), &own);
            let task = TaskContext::from_json(VALID_CONTEXT).map_err(|e| e.to_string())?;
            check_challenge(&bytes, &task).map_err(|e| e.to_string())
        },
    ));
}
