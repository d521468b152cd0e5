//! The task-initiation context: who starts which clinical action, for which patient, on which
//! device, where, online or not, in an emergency or not. Its canonical encoding and SHA-256 hash
//! are defined here, once, and are what a passkey approval is bound to.
//!
//! # Canonical encoding (`WGT1`)
//!
//! Only the fields that say *what is being approved* are encoded (who, what, for whom, on what,
//! with which on-screen summary); circumstances that may change between the prompt and the
//! server's check (device, zone, connectivity, labels, emergency) are not. Layout:
//!
//! ```text
//! "WGT1"                                   4 bytes, magic and version
//! field*                                   in increasing tag order
//! field  = tag:u8 ‖ len:u32 big-endian ‖ UTF-8 bytes (len bytes)
//! tag 0x01 action        (always)
//! tag 0x02 user id       (always)
//! tag 0x03 patient id    (when there is a patient)
//! tag 0x04 encounter id  (when present)
//! tag 0x05 target        (once per target, sorted by bytes, duplicates removed)
//! tag 0x06 summary       (when present)
//! ```
//!
//! The encoding does not depend on JSON field order or on the order of `targets`. The task hash
//! is SHA-256 over these bytes. A step-up challenge is `nonce (>= 16 bytes) ‖ task hash`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, limits};

/// Clinical action names wardgate knows by name. CDS Hooks names are used where they exist;
/// any other lowercase name (`[a-z0-9][a-z0-9.:-]*`) is accepted as a custom action.
///
/// `medication-prescribe` is deprecated in CDS Hooks in favour of `order-select`/`order-sign`;
/// wardgate keeps it as the name of EPCS-regulated prescribing (21 CFR 1311), so a policy can
/// single it out.
pub const KNOWN_ACTIONS: &[&str] = &[
    "patient-view",
    "order-select",
    "order-sign",
    "medication-prescribe",
    "note-sign",
    "record-export",
    "break-glass",
];

/// Who is starting the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub id: String,
    /// Current roles, e.g. `nurse`, `physician`, `pharmacist`, `resident`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The patient the task is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patient {
    pub id: String,
    /// Sensitivity labels, e.g. `vip`, `restricted`, `controlled-substance`.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// The device the task is started on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Device {
    pub id: String,
    /// A ward tablet or workstation used by several clinicians in turn.
    #[serde(default)]
    pub shared: bool,
    /// Enrolled in the organisation's device management.
    #[serde(default)]
    pub managed: bool,
}

/// Whether the portal can reach its server right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Connectivity {
    #[default]
    Online,
    Offline,
}

/// An emergency declared by the clinician (break-glass). The reason is mandatory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Emergency {
    pub reason: String,
}

/// The task-initiation context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskContext {
    #[serde(deserialize_with = "crate::json::object")]
    pub user: User,
    /// The clinical action, e.g. `order-sign`.
    pub action: String,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub patient: Option<Patient>,
    #[serde(default)]
    pub encounter_id: Option<String>,
    /// What the action acts on, as FHIR references (`MedicationRequest/42`), like the ids of a
    /// CDS Hooks `order-sign` hook's `draftOrders`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// The text shown to the clinician while approving (e.g. the EPCS attestation and the
    /// order), bound into the task hash: what you see is what you approve.
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(deserialize_with = "crate::json::object")]
    pub device: Device,
    /// Location or care zone, e.g. `icu`, `ward-4b`, `home`.
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub connectivity: Connectivity,
    #[serde(default, deserialize_with = "crate::json::object_opt")]
    pub emergency: Option<Emergency>,
}

/// The SHA-256 of a task's canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskHash(pub [u8; 32]);

impl TaskHash {
    /// Lowercase hex, as carried in grants and audit events.
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Parse lowercase or uppercase hex of exactly 32 bytes.
    pub fn from_hex(text: &str) -> Option<TaskHash> {
        let bytes = hex_decode(text)?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(TaskHash(arr))
    }
}

impl TaskContext {
    /// Parse and validate a context from JSON text. Errors name the JSON path.
    pub fn from_json(text: &str) -> Result<TaskContext> {
        if text.len() > limits::CONTEXT_BYTES {
            return Err(Error::InputTooLarge {
                what: "task context",
                limit: limits::CONTEXT_BYTES,
            });
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let crate::json::Obj::<TaskContext>(ctx) = serde_path_to_error::deserialize(&mut *de)
            .map_err(|e| {
                Error::from_serde_path(e, |path, message| Error::ContextInvalid { path, message })
            })?;
        Error::json_end(de, |path, message| Error::ContextInvalid { path, message })?;
        ctx.validate()?;
        Ok(ctx)
    }

    /// Check what the type system cannot: non-empty bounded ids, action syntax, list sizes,
    /// a non-empty emergency reason.
    pub fn validate(&self) -> Result<()> {
        check_id("user.id", &self.user.id)?;
        check_list("user.roles", &self.user.roles)?;
        check_action("action", &self.action)?;
        if let Some(p) = &self.patient {
            check_id("patient.id", &p.id)?;
            check_list("patient.labels", &p.labels)?;
        }
        if let Some(e) = &self.encounter_id {
            check_id("encounterId", e)?;
        }
        check_list("targets", &self.targets)?;
        if let Some(s) = &self.summary {
            check_text("summary", s)?;
        }
        check_id("device.id", &self.device.id)?;
        if let Some(z) = &self.zone {
            check_id("zone", z)?;
        }
        if let Some(em) = &self.emergency {
            if !has_visible_text(&em.reason) {
                return Err(ctx_err(
                    "emergency.reason",
                    "an emergency needs a reason: break-glass is never silent",
                ));
            }
            check_text("emergency.reason", &em.reason)?;
        }
        Ok(())
    }

    /// The canonical `WGT1` encoding (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.action.len() + self.user.id.len());
        out.extend_from_slice(b"WGT1");
        push_field(&mut out, 0x01, &self.action);
        push_field(&mut out, 0x02, &self.user.id);
        if let Some(p) = &self.patient {
            push_field(&mut out, 0x03, &p.id);
        }
        if let Some(e) = &self.encounter_id {
            push_field(&mut out, 0x04, e);
        }
        let mut targets: Vec<&str> = self.targets.iter().map(String::as_str).collect();
        targets.sort_unstable();
        targets.dedup();
        for t in targets {
            push_field(&mut out, 0x05, t);
        }
        if let Some(s) = &self.summary {
            push_field(&mut out, 0x06, s);
        }
        out
    }

    /// SHA-256 of the canonical encoding.
    pub fn hash(&self) -> TaskHash {
        let digest = Sha256::digest(self.canonical_bytes());
        TaskHash(digest.into())
    }

    /// The patient id, if the task is about a patient.
    pub fn patient_id(&self) -> Option<&str> {
        self.patient.as_ref().map(|p| p.id.as_str())
    }

    /// The patient's sensitivity labels (empty without a patient).
    pub fn labels(&self) -> &[String] {
        self.patient.as_ref().map_or(&[], |p| p.labels.as_slice())
    }
}

fn push_field(out: &mut Vec<u8>, tag: u8, value: &str) {
    out.push(tag);
    // Values are bounded by validation far below u32::MAX; saturate rather than wrap regardless.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

/// Minimum nonce length in a step-up challenge.
pub const MIN_NONCE_BYTES: usize = 16;

/// Build a step-up challenge: `nonce ‖ SHA-256(canonical task)`.
pub fn challenge(nonce: &[u8], task: &TaskHash) -> Result<Vec<u8>> {
    if nonce.len() < MIN_NONCE_BYTES {
        return Err(Error::ChallengeMalformed {
            message: format!(
                "nonce is {} bytes, at least {MIN_NONCE_BYTES} are required",
                nonce.len()
            ),
        });
    }
    if nonce.len() + 32 > limits::CHALLENGE_BYTES {
        return Err(Error::InputTooLarge {
            what: "challenge",
            limit: limits::CHALLENGE_BYTES,
        });
    }
    let mut out = Vec::with_capacity(nonce.len() + 32);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&task.0);
    Ok(out)
}

/// Split a challenge into its nonce and the task hash it carries.
pub fn split_challenge(challenge: &[u8]) -> Result<(&[u8], TaskHash)> {
    if challenge.len() > limits::CHALLENGE_BYTES {
        return Err(Error::InputTooLarge {
            what: "challenge",
            limit: limits::CHALLENGE_BYTES,
        });
    }
    let Some(split) = challenge.len().checked_sub(32) else {
        return Err(Error::ChallengeMalformed {
            message: format!("challenge is {} bytes, too short", challenge.len()),
        });
    };
    if split < MIN_NONCE_BYTES {
        return Err(Error::ChallengeMalformed {
            message: format!(
                "challenge is {} bytes, at least {} are required",
                challenge.len(),
                MIN_NONCE_BYTES + 32
            ),
        });
    }
    let (nonce, hash) = challenge.split_at(split);
    let arr: [u8; 32] = hash.try_into().map_err(|_| Error::ChallengeMalformed {
        message: String::from("task hash is not 32 bytes"),
    })?;
    Ok((nonce, TaskHash(arr)))
}

/// Check that a challenge carries the hash of `task`. The browser runs this before calling
/// `navigator.credentials.get`; the server runs it again on verify.
pub fn check_challenge(challenge: &[u8], task: &TaskContext) -> Result<()> {
    let (_, carried) = split_challenge(challenge)?;
    if carried == task.hash() {
        Ok(())
    } else {
        Err(Error::ChallengeTaskMismatch)
    }
}

/// Lowercase hex encoding.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            s.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    s
}

/// Hex decoding; `None` on odd length or a non-hex digit.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digits = text.as_bytes();
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks_exact(2) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        out.push(u8::try_from(hi * 16 + lo).ok()?);
    }
    Some(out)
}

fn ctx_err(path: &str, message: &str) -> Error {
    Error::ContextInvalid {
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// Validate an identifier: non-empty, no control characters, bounded.
pub(crate) fn check_id(path: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(ctx_err(path, "must not be empty"));
    }
    if value.chars().count() > limits::ID_CHARS {
        return Err(ctx_err(
            path,
            &format!("is longer than {} characters", limits::ID_CHARS),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ctx_err(path, "contains a control character"));
    }
    Ok(())
}

/// At least one character a reviewer can read: not whitespace, control or format characters,
/// nor the blank look-alikes (Hangul fillers, the blank Braille pattern).
fn has_visible_text(value: &str) -> bool {
    value.chars().any(|c| {
        !c.is_whitespace()
            && !c.is_control()
            && !matches!(
                c,
                '\u{200b}'..='\u{200f}'
                    | '\u{2060}'..='\u{206f}'
                    | '\u{feff}'
                    | '\u{00ad}'
                    | '\u{034f}'
                    | '\u{180e}'
                    | '\u{115f}'
                    | '\u{1160}'
                    | '\u{3164}'
                    | '\u{ffa0}'
                    | '\u{2800}'
                    | '\u{202a}'..='\u{202e}'
            )
    })
}

fn check_text(path: &str, value: &str) -> Result<()> {
    if value.chars().count() > limits::TEXT_CHARS {
        return Err(ctx_err(
            path,
            &format!("is longer than {} characters", limits::TEXT_CHARS),
        ));
    }
    Ok(())
}

fn check_list(path: &str, items: &[String]) -> Result<()> {
    if items.len() > limits::LIST_ITEMS {
        return Err(ctx_err(
            path,
            &format!("has more than {} entries", limits::LIST_ITEMS),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        check_id(&format!("{path}[{i}]"), item)?;
    }
    Ok(())
}

/// Whether `name` is a syntactically valid action name: lowercase ASCII letters, digits and
/// `.:-`, starting with a letter or digit, at most 64 characters.
pub fn is_valid_action(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit() => {}
        _ => return false,
    }
    bytes.len() <= 64
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':')
        })
}

fn check_action(path: &str, name: &str) -> Result<()> {
    if is_valid_action(name) {
        Ok(())
    } else {
        Err(ctx_err(
            path,
            &format!(
                "`{}` is not an action name (lowercase letters, digits, `-`, `.`, `:`; at most 64)",
                truncate_for_message(name)
            ),
        ))
    }
}

/// Shorten user input quoted in an error message.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn ctx() -> TaskContext {
        TaskContext::from_json(
            r#"{"user":{"id":"u1","roles":["physician"]},"action":"order-sign",
               "patient":{"id":"p7","labels":[]},"targets":["MedicationRequest/42","MedicationRequest/41"],
               "device":{"id":"d1","shared":true}}"#,
        )
        .unwrap()
    }

    #[test]
    fn target_order_does_not_change_the_hash() {
        let a = ctx();
        let mut b = a.clone();
        b.targets.reverse();
        b.targets.push("MedicationRequest/41".into());
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn circumstances_are_not_hashed_but_identity_is() {
        let a = ctx();
        let mut b = a.clone();
        b.connectivity = Connectivity::Offline;
        b.zone = Some("icu".into());
        assert_eq!(a.hash(), b.hash());
        let mut c = a.clone();
        c.patient.as_mut().unwrap().id = "p8".into();
        assert_ne!(a.hash(), c.hash());
        let mut d = a.clone();
        d.summary = Some("sign".into());
        assert_ne!(a.hash(), d.hash());
    }

    #[test]
    fn challenge_round_trip_and_mismatch() {
        let a = ctx();
        let ch = challenge(&[7u8; 16], &a.hash()).unwrap();
        assert_eq!(ch.len(), 48);
        check_challenge(&ch, &a).unwrap();
        let mut other = a.clone();
        other.targets = vec!["MedicationRequest/43".into()];
        assert_eq!(
            check_challenge(&ch, &other).unwrap_err().code(),
            "WARDGATE_CHALLENGE_TASK_MISMATCH"
        );
        assert_eq!(
            check_challenge(&ch[..40], &a).unwrap_err().code(),
            "WARDGATE_CHALLENGE_MALFORMED"
        );
        assert!(challenge(&[1u8; 15], &a.hash()).is_err());
    }

    #[test]
    fn errors_name_the_path() {
        let e = TaskContext::from_json(
            r#"{"user":{"id":"u","roles":[1]},"action":"x","device":{"id":"d"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code(), "WARDGATE_CONTEXT_INVALID");
        assert_eq!(e.path(), Some("user.roles[0]"));
        let e = TaskContext::from_json(
            r#"{"user":{"id":"u"},"action":"x","device":{"id":"d"},"pateint":{}}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), Some("pateint"));
        let e = TaskContext::from_json(
            r#"{"user":{"id":"u"},"action":"x","device":{"id":"d"},"emergency":{"reason":"  "}}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), Some("emergency.reason"));
        let e = TaskContext::from_json(
            r#"{"user":{"id":"u"},"action":"Order Sign","device":{"id":"d"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), Some("action"));
    }

    #[test]
    fn hex_round_trip() {
        let h = ctx().hash();
        assert_eq!(TaskHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(TaskHash::from_hex("zz"), None);
        assert_eq!(TaskHash::from_hex("abc"), None);
    }
}
