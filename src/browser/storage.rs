//! Browser storage: the tab's session state in `sessionStorage` (per tab, copied into a
//! duplicated tab, kept across reloads and tab discards) and the audit queue in `localStorage`
//! (shared by the origin's tabs, so a tab closed mid-flush loses nothing: the next tab sends
//! it). Grants never go to `localStorage` (NIST SP 800-63B-4: session secrets should not).
//!
//! Storage may be missing or full (private browsing, quota, Safari's 7-day eviction): the
//! queue then keeps events in memory and says so in `metrics()` (`auditNotDurable`).

use std::cell::{Cell, RefCell};

use crate::audit::AuditEvent;

/// `sessionStorage` key of the tab's session state.
pub const STATE_KEY: &str = "wardgate:state";
/// `localStorage` key prefix of queued audit events (`wardgate:audit:<event id>`).
pub const AUDIT_PREFIX: &str = "wardgate:audit:";
/// Events per audit request (PROTOCOL.md: at most 500).
pub const AUDIT_BATCH: usize = 500;
/// Events kept in memory when storage fails; beyond, the oldest are dropped and counted.
pub const MEMORY_CAP: usize = 5_000;

fn session_storage() -> Option<web_sys::Storage> {
    super::js::window()?.session_storage().ok().flatten()
}

fn local_storage() -> Option<web_sys::Storage> {
    super::js::window()?.local_storage().ok().flatten()
}

/// The persisted state text, if any.
pub fn load_state() -> Option<String> {
    session_storage()?.get_item(STATE_KEY).ok().flatten()
}

/// Persist the state; `false` if storage refused.
pub fn save_state(text: &str) -> bool {
    session_storage().is_some_and(|s| s.set_item(STATE_KEY, text).is_ok())
}

pub fn clear_state() {
    if let Some(s) = session_storage() {
        let _ = s.remove_item(STATE_KEY);
    }
}

/// One queued event: its id and JSON text.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: String,
    pub at_ms: u64,
    pub json: String,
}

/// The durable audit queue.
#[derive(Debug, Default)]
pub struct AuditQueue {
    memory: RefCell<Vec<Queued>>,
    /// Events kept only in memory because storage failed.
    not_durable: Cell<u32>,
    /// Events lost: memory full, or unreadable entries found in storage.
    lost: Cell<u32>,
}

impl AuditQueue {
    /// Queue an event: `localStorage` first, memory if storage fails.
    pub fn push(&self, event: &AuditEvent) {
        let Ok(json) = serde_json::to_string(event) else {
            self.lost.set(self.lost.get().saturating_add(1));
            return;
        };
        let key = format!("{AUDIT_PREFIX}{}", event.id);
        let durable = local_storage().is_some_and(|s| s.set_item(&key, &json).is_ok());
        if !durable {
            let mut memory = self.memory.borrow_mut();
            if memory.len() >= MEMORY_CAP {
                memory.remove(0);
                self.lost.set(self.lost.get().saturating_add(1));
            }
            memory.push(Queued {
                id: event.id.clone(),
                at_ms: event.at_ms,
                json,
            });
            self.not_durable
                .set(self.not_durable.get().saturating_add(1));
        }
    }

    /// Everything waiting: the shared durable queue (every tab's) and this tab's memory.
    /// Entries that are not audit events (another script wrote them) are removed and counted
    /// as lost rather than block the queue forever.
    pub fn pending(&self, limit: usize) -> Vec<Queued> {
        let mut out = Vec::new();
        if let Some(s) = local_storage() {
            let mut bad = Vec::new();
            let len = s.length().unwrap_or(0);
            for i in 0..len {
                if out.len() >= limit {
                    break;
                }
                let Some(key) = s.key(i).ok().flatten() else {
                    continue;
                };
                let Some(id) = key.strip_prefix(AUDIT_PREFIX) else {
                    continue;
                };
                let json = s.get_item(&key).ok().flatten().unwrap_or_default();
                match serde_json::from_str::<Shape>(&json) {
                    Ok(ev) if ev.id == id => {
                        out.push(Queued {
                            id: id.to_string(),
                            at_ms: ev.at_ms,
                            json,
                        });
                    }
                    _ => bad.push(key),
                }
            }
            for key in bad {
                let _ = s.remove_item(&key);
                self.lost.set(self.lost.get().saturating_add(1));
            }
        }
        let memory = self.memory.borrow();
        for q in memory.iter() {
            if out.len() >= limit {
                break;
            }
            if !out.iter().any(|o| o.id == q.id) {
                out.push(q.clone());
            }
        }
        // Storage order is not insertion order: send in the order things happened.
        out.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// Remove acknowledged events, everywhere.
    pub fn acknowledge(&self, ids: &[String]) {
        if let Some(s) = local_storage() {
            for id in ids {
                let _ = s.remove_item(&format!("{AUDIT_PREFIX}{id}"));
            }
        }
        self.memory.borrow_mut().retain(|q| !ids.contains(&q.id));
    }

    /// How many events wait (durable and in memory).
    pub fn queued(&self) -> u32 {
        let durable = local_storage().map_or(0, |s| {
            let len = s.length().unwrap_or(0);
            (0..len)
                .filter_map(|i| s.key(i).ok().flatten())
                .filter(|k| k.starts_with(AUDIT_PREFIX))
                .count()
        });
        let total = durable.saturating_add(self.memory.borrow().len());
        u32::try_from(total).unwrap_or(u32::MAX)
    }

    pub fn not_durable(&self) -> u32 {
        self.not_durable.get()
    }

    pub fn lost(&self) -> u32 {
        self.lost.get()
    }
}

/// The shape checked before an entry is sent (any script of the origin can write
/// localStorage; an entry that is not an audit event would make the server refuse the batch).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shape {
    id: String,
    at_ms: u64,
    #[expect(dead_code, reason = "shape check only")]
    kind: String,
    #[expect(dead_code, reason = "shape check only")]
    device_id: String,
    #[expect(dead_code, reason = "shape check only")]
    session_id: String,
    #[expect(dead_code, reason = "shape check only")]
    outcome: String,
}

/// The request body for a batch: `{ "events": [ ... ] }`, built from the stored JSON texts.
pub fn batch_body(batch: &[Queued]) -> String {
    let mut body = String::from("{\"events\":[");
    for (i, q) in batch.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&q.json);
    }
    body.push_str("]}");
    body
}
