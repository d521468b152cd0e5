//! Cross-tab messages (BroadcastChannel). Versioned and validated; any same-origin script can
//! post one, so a message is a hint, never proof: grants in it are checked against this tab's
//! session, and the server verifies every grant anyway. Messages carry ids only.

use serde::{Deserialize, Serialize};

use super::LockReason;
use crate::error::{Error, Result};
use crate::task::User;

/// Largest message accepted.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// A message between tabs of one portal session.
// No `deny_unknown_fields` here: serde rejects flattened fields with it. `decode` checks the
// keys itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelMessage {
    /// Format version (1).
    pub v: u32,
    pub session_id: String,
    #[serde(flatten)]
    pub kind: ChannelKind,
}

/// What the message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum ChannelKind {
    Grant {
        token: String,
    },
    Revoke {
        jti: String,
    },
    Spent {
        jti: String,
    },
    Lock {
        reason: LockReason,
    },
    Unlock {
        at_ms: u64,
    },
    Handoff {
        new_session_id: String,
        user: User,
        strong_auth_at_ms: Option<u64>,
    },
    Logout,
    Activity {
        at_ms: u64,
    },
}

impl ChannelMessage {
    /// Decode and validate a message; anything else is `WARDGATE_STATE_INVALID`.
    pub fn decode(text: &str) -> Result<ChannelMessage> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(Error::InputTooLarge {
                what: "channel message",
                limit: MAX_MESSAGE_BYTES,
            });
        }
        // serde's flatten + internally tagged enums do not reject unknown fields, so check the
        // keys first, per message type: a typo must not change meaning, and no key of another
        // type (free text) may ride along. Duplicate keys are refused, as everywhere else.
        let UniqueObject(obj) = serde_json::from_str(text).map_err(|e| Error::StateInvalid {
            path: String::from("$"),
            message: format!("channel message is not a JSON object: {e}"),
        })?;
        let kind_keys: &[&str] = match obj.get("type").and_then(serde_json::Value::as_str) {
            Some("grant") => &["token"],
            Some("revoke" | "spent") => &["jti"],
            Some("lock") => &["reason"],
            Some("unlock" | "activity") => &["atMs"],
            Some("handoff") => &["newSessionId", "user", "strongAuthAtMs"],
            _ => &[],
        };
        if let Some(k) = obj.keys().find(|k| {
            !["v", "sessionId", "type"].contains(&k.as_str()) && !kind_keys.contains(&k.as_str())
        }) {
            return Err(Error::StateInvalid {
                path: k.clone(),
                message: String::from("unknown field for this type of channel message"),
            });
        }
        let msg: ChannelMessage =
            serde_json::from_value(serde_json::Value::Object(obj)).map_err(|e| {
                Error::StateInvalid {
                    path: String::from("$"),
                    message: format!("channel message: {e}"),
                }
            })?;
        if msg.v != 1 {
            return Err(Error::StateInvalid {
                path: String::from("v"),
                message: format!("channel message version `{}` is not 1", msg.v),
            });
        }
        crate::task::check_id("sessionId", &msg.session_id).map_err(to_state)?;
        match &msg.kind {
            ChannelKind::Revoke { jti } | ChannelKind::Spent { jti } => {
                crate::task::check_id("jti", jti).map_err(to_state)?;
            }
            ChannelKind::Handoff {
                new_session_id,
                user,
                strong_auth_at_ms,
            } => {
                crate::task::check_id("newSessionId", new_session_id).map_err(to_state)?;
                crate::task::check_id("user.id", &user.id).map_err(to_state)?;
                Error::check_time("strongAuthAtMs", *strong_auth_at_ms)?;
            }
            ChannelKind::Unlock { at_ms } | ChannelKind::Activity { at_ms } => {
                Error::check_time("atMs", Some(*at_ms))?;
            }
            ChannelKind::Grant { token } if token.is_empty() => {
                return Err(Error::StateInvalid {
                    path: "token".into(),
                    message: "must not be empty".into(),
                });
            }
            _ => {}
        }
        Ok(msg)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A JSON object whose keys are unique (serde_json's `Value` keeps the last of duplicates).
struct UniqueObject(serde_json::Map<String, serde_json::Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<UniqueObject, A::Error> {
                let mut map = serde_json::Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: serde_json::Value = access.next_value()?;
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn to_state(e: Error) -> Error {
    e.into_state("")
}
