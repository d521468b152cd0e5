//! `Gate.create(config)`: the configuration, parsed strictly (unknown fields rejected, errors
//! name the field: `WARDGATE_CONFIG_INVALID`).

use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::error::BrowserError;
use super::js;
use crate::task::{Device, User};

/// The relying party's endpoints (docs/PROTOCOL.md paths by default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Endpoints {
    pub step_up_options: String,
    pub step_up_verify: String,
    pub unlock_start: String,
    pub unlock_finish: String,
    pub audit: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            step_up_options: String::from("/api/step-up/options"),
            step_up_verify: String::from("/api/step-up/verify"),
            unlock_start: String::from("/api/unlock/start"),
            unlock_finish: String::from("/api/unlock/finish"),
            audit: String::from("/api/audit"),
        }
    }
}

/// The clinician as the server's `SessionInfo` names them (`name` is accepted and unused).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionUser {
    pub id: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The portal session (the server's `SessionInfo`, or the subset wardgate needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionInfo {
    pub session_id: String,
    pub user: SessionUser,
    pub started_at_ms: u64,
    #[serde(default)]
    pub last_strong_auth_ms: Option<u64>,
    #[serde(default)]
    pub device: Option<Device>,
}

impl SessionInfo {
    pub fn user(&self) -> User {
        User {
            id: self.user.id.clone(),
            roles: self.user.roles.clone(),
        }
    }

    /// Check ids (non-empty, bounded, no control characters); `prefix` names the field.
    pub fn validate(&self, prefix: &str) -> Result<(), BrowserError> {
        let check = |field: &str, value: &str| {
            crate::task::check_id(field, value)
                .map_err(|e| BrowserError::config(&format!("{prefix}{field}"), e.to_string()))
        };
        check("sessionId", &self.session_id)?;
        check("user.id", &self.user.id)?;
        if self.user.roles.len() > crate::error::limits::LIST_ITEMS {
            return Err(BrowserError::config(
                &format!("{prefix}user.roles"),
                "too many roles",
            ));
        }
        for r in &self.user.roles {
            check("user.roles", r)?;
        }
        if let Some(d) = &self.device {
            check("device.id", &d.id)?;
        }
        Ok(())
    }
}

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// JSON text.
    Text(String),
    /// A URL to fetch it from.
    Url(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigJson {
    /// Read from the JS object itself (text, object or `{ url }`).
    #[expect(
        dead_code,
        reason = "read from the JS object itself; listed so it is required"
    )]
    policy: serde::de::IgnoredAny,
    #[serde(default)]
    endpoints: Endpoints,
    session: SessionInfo,
    #[serde(default)]
    device: Option<Device>,
    /// A function: `JSON.stringify` leaves it out; anything else is refused before.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read from the JS object itself; listed so it is not unknown"
    )]
    clock: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    channel_name: Option<String>,
    #[serde(default)]
    audit_flush_interval_ms: Option<u32>,
}

/// A parsed configuration.
#[derive(Debug)]
pub struct Config {
    pub policy: PolicySource,
    pub endpoints: Endpoints,
    pub session: SessionInfo,
    pub device: Device,
    pub clock: Option<js_sys::Function>,
    pub channel_name: String,
    pub audit_flush_interval_ms: u32,
}

/// The policy: JSON text, a document, or `{ url }`.
fn policy_source(policy: &JsValue) -> Result<PolicySource, BrowserError> {
    if let Some(text) = policy.as_string() {
        return Ok(PolicySource::Text(text));
    }
    let Some(obj) = policy.dyn_ref::<js_sys::Object>() else {
        return Err(BrowserError::config(
            "policy",
            "must be a policy document, its JSON text, or { url }",
        ));
    };
    let keys = js_sys::Object::keys(obj);
    if keys.length() == 1 && keys.get(0).as_string().as_deref() == Some("url") {
        return match js::get(policy, "url").as_string() {
            Some(u) if !u.is_empty() => Ok(PolicySource::Url(u)),
            _ => Err(BrowserError::config("policy.url", "must be a URL")),
        };
    }
    js::stringify(policy)
        .map(PolicySource::Text)
        .ok_or_else(|| BrowserError::config("policy", "is not JSON-shaped"))
}

/// Default audit flush interval.
pub const DEFAULT_FLUSH_MS: u32 = 15_000;

impl Config {
    pub fn from_js(value: &JsValue) -> Result<Config, BrowserError> {
        if !value.is_object() {
            return Err(BrowserError::config(
                "$",
                "the configuration must be an object",
            ));
        }
        let clock =
            match js::get(value, "clock") {
                v if v.is_undefined() || v.is_null() => None,
                v => Some(v.dyn_into::<js_sys::Function>().map_err(|_| {
                    BrowserError::config("clock", "must be a function returning ms")
                })?),
            };
        let text = js::stringify(value)
            .ok_or_else(|| BrowserError::config("$", "the configuration is not JSON-shaped"))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let parsed: ConfigJson = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let mut message = e.into_inner().to_string();
            if let Some(i) = message.find(" at line ") {
                message.truncate(i);
            }
            BrowserError::config(if path == "." { "$" } else { &path }, message)
        })?;
        let policy = policy_source(&js::get(value, "policy"))?;
        parsed.session.validate("session.")?;
        let device = parsed
            .device
            .or_else(|| parsed.session.device.clone())
            .ok_or_else(|| BrowserError::config("device", "missing field `device`"))?;
        crate::task::check_id("device.id", &device.id)
            .map_err(|e| BrowserError::config("device.id", e.to_string()))?;
        if let Some(d) = &parsed.session.device {
            if d.id != device.id {
                return Err(BrowserError::config(
                    "session.device.id",
                    "differs from `device.id`",
                ));
            }
        }
        let channel_name = parsed
            .channel_name
            .unwrap_or_else(|| String::from("default"));
        crate::task::check_id("channelName", &channel_name)
            .map_err(|e| BrowserError::config("channelName", e.to_string()))?;
        let audit_flush_interval_ms = parsed.audit_flush_interval_ms.unwrap_or(DEFAULT_FLUSH_MS);
        if !(50..=3_600_000).contains(&audit_flush_interval_ms) {
            return Err(BrowserError::config(
                "auditFlushIntervalMs",
                "must be between 50 and 3600000",
            ));
        }
        for (field, url) in [
            ("endpoints.stepUpOptions", &parsed.endpoints.step_up_options),
            ("endpoints.stepUpVerify", &parsed.endpoints.step_up_verify),
            ("endpoints.unlockStart", &parsed.endpoints.unlock_start),
            ("endpoints.unlockFinish", &parsed.endpoints.unlock_finish),
            ("endpoints.audit", &parsed.endpoints.audit),
        ] {
            if url.is_empty() || url.len() > 2048 {
                return Err(BrowserError::config(field, "must be a URL"));
            }
        }
        Ok(Config {
            policy,
            endpoints: parsed.endpoints,
            session: parsed.session,
            device,
            clock,
            channel_name,
            audit_flush_interval_ms,
        })
    }
}
