//! The trace format: JSON lines, one event per line (see `sim/README.md`).
//!
//! Parsing never panics: every problem is a [`TraceError`] naming the 1-based line number and a
//! stable `code()`. Besides the JSON shape, a trace is checked for what would make a replay
//! meaningless: time going backwards, a task by a clinician who does not hold the device, a
//! task context that wardgate itself rejects (`TaskContext::validate`).

use std::fmt;

use serde::{Deserialize, Serialize};
use wardgate::task::{Connectivity, Device, Emergency, Patient, TaskContext, User};

/// The device a line means when it names none: the ward's shared, managed tablet.
pub const DEFAULT_DEVICE: &str = "ward-tablet";

/// Largest `t` or duration accepted (2^53, so JSON numbers stay exact in JavaScript too).
pub const MAX_MS: u64 = 1 << 53;

/// One line of a trace: the time and the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Milliseconds, since the shift start or since the Unix epoch (only differences matter).
    pub t: u64,
    #[serde(flatten)]
    pub event: TraceEvent,
}

/// What happened at `t`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum TraceEvent {
    /// A clinician starts a clinical task.
    Task(TaskLine),
    /// The portal tab is hidden for `ms` (another tab of the browser), then shown again.
    TabSwitch {
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
    /// The browser is hidden for `ms` (another app: phone call, pager, scanner app).
    AppSwitch {
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
    /// Nobody touches anything for `ms`.
    Idle { ms: u64 },
    /// The next clinician takes the device (signs in with a passkey).
    Handoff {
        to: String,
        roles: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shared: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        managed: Option<bool>,
    },
    /// The ward loses its connection (every device).
    Offline {},
    /// The connection is back.
    Online {},
    /// An emergency (code blue) is declared: for `ms`, tasks on the device (for `patient`, when
    /// given) carry `reason` as their emergency.
    Emergency {
        reason: String,
        ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        patient: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
}

/// A `task` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskLine {
    pub clinician: String,
    pub roles: Vec<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// An emergency reason for this task alone (break-glass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<String>,
    /// How long the clinician takes to approve a passkey prompt for this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve_ms: Option<u64>,
}

impl TaskLine {
    /// The device this task runs on.
    pub fn device(&self) -> Device {
        device(self.device.as_deref(), self.shared, self.managed)
    }

    /// The wardgate task context (online, no emergency window applied).
    pub fn context(&self) -> TaskContext {
        TaskContext {
            user: User {
                id: self.clinician.clone(),
                roles: self.roles.clone(),
            },
            action: self.action.clone(),
            patient: self.patient.as_ref().map(|id| Patient {
                id: id.clone(),
                labels: self.labels.clone(),
            }),
            encounter_id: None,
            targets: self.targets.clone(),
            summary: self.summary.clone(),
            device: self.device(),
            zone: self.zone.clone(),
            connectivity: Connectivity::Online,
            emergency: self.emergency.as_ref().map(|reason| Emergency {
                reason: reason.clone(),
            }),
        }
    }
}

/// A device from a line's optional fields (defaults: the shared, managed ward tablet).
pub fn device(id: Option<&str>, shared: Option<bool>, managed: Option<bool>) -> Device {
    Device {
        id: id.unwrap_or(DEFAULT_DEVICE).to_string(),
        shared: shared.unwrap_or(true),
        managed: managed.unwrap_or(true),
    }
}

impl Line {
    /// When this event is over: `t + ms` for a switch or an idle gap, `t` otherwise. The next
    /// line may not start before it (nobody starts a task in a hidden tab).
    pub fn end(&self) -> u64 {
        match &self.event {
            TraceEvent::TabSwitch { ms, .. }
            | TraceEvent::AppSwitch { ms, .. }
            | TraceEvent::Idle { ms } => self.t.saturating_add(*ms),
            _ => self.t,
        }
    }
}

/// A parsed, checked trace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    /// Each line with its 1-based line number in the source.
    pub lines: Vec<(usize, Line)>,
}

impl Trace {
    /// Distinct clinicians who hold a device or start a task, in order of appearance.
    pub fn clinicians(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, line) in &self.lines {
            let who = match &line.event {
                TraceEvent::Task(task) => Some(&task.clinician),
                TraceEvent::Handoff { to, .. } => Some(to),
                _ => None,
            };
            if let Some(who) = who {
                if !out.contains(who) {
                    out.push(who.clone());
                }
            }
        }
        out
    }

    /// First `t` and last end.
    pub fn span(&self) -> (u64, u64) {
        let start = self.lines.first().map_or(0, |(_, l)| l.t);
        let end = self
            .lines
            .iter()
            .map(|(_, l)| l.end())
            .max()
            .unwrap_or(start);
        (start, end)
    }

    /// Serialize back to JSON lines.
    pub fn to_jsonl(&self) -> String {
        to_jsonl(self.lines.iter().map(|(_, l)| l))
    }
}

/// JSON lines, one per event, each ending with `\n`.
pub fn to_jsonl<'a>(lines: impl IntoIterator<Item = &'a Line>) -> String {
    let mut out = String::new();
    for line in lines {
        // Serializing these plain structs cannot fail; an empty object would still be caught
        // by `parse` on the way back.
        out.push_str(&serde_json::to_string(line).unwrap_or_else(|_| String::from("{}")));
        out.push('\n');
    }
    out
}

/// What is wrong with a trace line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceErrorKind {
    /// Not JSON.
    Syntax { column: usize, message: String },
    /// JSON, but not a trace event (missing or unknown field, wrong type, unknown kind).
    Shape { message: String },
    /// `t` or a duration is missing, negative, fractional or too large.
    Time { message: String },
    /// Time goes backwards (or a line starts inside the previous line's switch or idle gap).
    OutOfOrder { t: u64, not_before: u64 },
    /// The task context is one wardgate rejects (`path` as wardgate names it).
    Task {
        code: &'static str,
        path: String,
        message: String,
    },
    /// The event does not fit the replay so far (a task by someone not holding the device).
    Sequence { message: String },
}

/// A trace error, with the 1-based line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    pub line: usize,
    pub kind: TraceErrorKind,
}

impl TraceError {
    /// A stable code (API; messages are not).
    pub fn code(&self) -> &'static str {
        match self.kind {
            TraceErrorKind::Syntax { .. } => "WARDGATE_SIM_TRACE_SYNTAX",
            TraceErrorKind::Shape { .. } => "WARDGATE_SIM_TRACE_SHAPE",
            TraceErrorKind::Time { .. } => "WARDGATE_SIM_TRACE_TIME",
            TraceErrorKind::OutOfOrder { .. } => "WARDGATE_SIM_TRACE_ORDER",
            TraceErrorKind::Task { .. } => "WARDGATE_SIM_TRACE_TASK",
            TraceErrorKind::Sequence { .. } => "WARDGATE_SIM_TRACE_SEQUENCE",
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            TraceErrorKind::Syntax { column, message } => {
                write!(f, "not JSON (column {column}): {message}")
            }
            TraceErrorKind::Shape { message } => write!(f, "{message}"),
            TraceErrorKind::Time { message } => write!(f, "{message}"),
            TraceErrorKind::OutOfOrder { t, not_before } => write!(
                f,
                "`t` is {t}, before the end of the previous event ({not_before}): lines must be in time order"
            ),
            TraceErrorKind::Task { code, message, .. } => write!(f, "{message} ({code})"),
            TraceErrorKind::Sequence { message } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for TraceError {}

fn err(line: usize, kind: TraceErrorKind) -> TraceError {
    TraceError { line, kind }
}

/// Parse one line (1-based `line` for errors). Blank lines are `Ok(None)`.
pub fn parse_line(line: usize, text: &str) -> Result<Option<Line>, TraceError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Fields = serde_json::from_str(text).map_err(|e| {
        let kind = if e.is_data() {
            TraceErrorKind::Shape {
                message: strip_position(&e.to_string()),
            }
        } else {
            TraceErrorKind::Syntax {
                column: e.column(),
                message: strip_position(&e.to_string()),
            }
        };
        err(line, kind)
    })?;
    let mut map = serde_json::Map::new();
    for (key, v) in value.0 {
        if map.contains_key(&key) {
            return Err(err(
                line,
                TraceErrorKind::Shape {
                    message: format!("`{}` appears twice", short(&key)),
                },
            ));
        }
        map.insert(key, v);
    }
    let t = match map.remove("t") {
        None => {
            return Err(err(
                line,
                TraceErrorKind::Time {
                    message: String::from("missing `t` (milliseconds)"),
                },
            ));
        }
        Some(v) => {
            ms_value("t", &v).map_err(|message| err(line, TraceErrorKind::Time { message }))?
        }
    };
    if !map.contains_key("kind") {
        return Err(err(
            line,
            TraceErrorKind::Shape {
                message: String::from(
                    "missing `kind` (task, tab-switch, app-switch, idle, handoff, offline, online, emergency)",
                ),
            },
        ));
    }
    for key in ["ms", "approveMs"] {
        if let Some(v) = map.get(key) {
            ms_value(key, v).map_err(|message| err(line, TraceErrorKind::Time { message }))?;
        }
    }
    let event: TraceEvent =
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
            err(
                line,
                TraceErrorKind::Shape {
                    message: strip_position(&e.to_string()),
                },
            )
        })?;
    let parsed = Line { t, event };
    check_line(line, &parsed)?;
    Ok(Some(parsed))
}

/// A JSON object's fields in order, duplicates kept (so that they can be refused: a second
/// `patient` must not silently win).
#[derive(Debug)]
struct Fields(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a trace line: a JSON object with `t` and `kind`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Fields, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry::<String, serde_json::Value>()? {
                    out.push(entry);
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn ms_value(name: &str, v: &serde_json::Value) -> Result<u64, String> {
    match v.as_u64() {
        Some(ms) if ms <= MAX_MS => Ok(ms),
        Some(ms) => Err(format!("`{name}` is {ms}, more than 2^53")),
        None => Err(format!(
            "`{name}` must be a non-negative whole number of milliseconds, not `{}`",
            short(&v.to_string())
        )),
    }
}

fn short(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message).to_string(),
        None => message.to_string(),
    }
}

/// What one line must satisfy by itself.
fn check_line(line: usize, parsed: &Line) -> Result<(), TraceError> {
    let seq = |message: String| err(line, TraceErrorKind::Sequence { message });
    match &parsed.event {
        TraceEvent::Task(task) => {
            if task.patient.is_none() && !task.labels.is_empty() {
                return Err(seq(String::from(
                    "`labels` are the patient's sensitivity labels: a task with labels needs a `patient`",
                )));
            }
            task.context()
                .validate()
                .map_err(|e| wardgate_error(line, &e))?;
        }
        TraceEvent::Handoff { to, roles, .. } => {
            let ctx = TaskContext {
                user: User {
                    id: to.clone(),
                    roles: roles.clone(),
                },
                action: String::from("patient-view"),
                patient: None,
                encounter_id: None,
                targets: Vec::new(),
                summary: None,
                device: device(None, None, None),
                zone: None,
                connectivity: Connectivity::Online,
                emergency: None,
            };
            ctx.validate().map_err(|e| wardgate_error(line, &e))?;
        }
        TraceEvent::Emergency { reason, .. } if reason.trim().is_empty() => {
            return Err(seq(String::from(
                "an emergency needs a `reason`: break-glass is never silent",
            )));
        }
        _ => {}
    }
    Ok(())
}

fn wardgate_error(line: usize, e: &wardgate::Error) -> TraceError {
    err(
        line,
        TraceErrorKind::Task {
            code: e.code(),
            path: e.path().unwrap_or("$").to_string(),
            message: e.to_string(),
        },
    )
}

/// Parse a whole trace and check it: time order, and that every task is started by the
/// clinician holding its device (a device is taken by a `handoff`, or by its first task).
pub fn parse(text: &str) -> Result<Trace, TraceError> {
    let mut lines: Vec<(usize, Line)> = Vec::new();
    let mut not_before: u64 = 0;
    let mut holders: Vec<(String, String)> = Vec::new(); // (device id, clinician id)
    for (i, raw) in text.lines().enumerate() {
        let n = i.saturating_add(1);
        let Some(line) = parse_line(n, raw)? else {
            continue;
        };
        if line.t < not_before {
            return Err(err(
                n,
                TraceErrorKind::OutOfOrder {
                    t: line.t,
                    not_before,
                },
            ));
        }
        not_before = line.end();
        match &line.event {
            TraceEvent::Task(task) => {
                let dev = task.device.as_deref().unwrap_or(DEFAULT_DEVICE);
                match holders.iter().find(|(d, _)| d == dev) {
                    Some((_, who)) if *who != task.clinician => {
                        return Err(err(
                            n,
                            TraceErrorKind::Sequence {
                                message: format!(
                                    "a task by `{}` on `{dev}`, which `{who}` holds: add a `handoff` first",
                                    short(&task.clinician)
                                ),
                            },
                        ));
                    }
                    Some(_) => {}
                    None => holders.push((dev.to_string(), task.clinician.clone())),
                }
            }
            TraceEvent::Handoff { to, device, .. } => {
                let dev = device.as_deref().unwrap_or(DEFAULT_DEVICE);
                match holders.iter_mut().find(|(d, _)| d == dev) {
                    Some((_, who)) if who == to => {
                        return Err(err(
                            n,
                            TraceErrorKind::Sequence {
                                message: format!(
                                    "a handoff to `{}`, who already holds `{dev}`",
                                    short(to)
                                ),
                            },
                        ));
                    }
                    Some((_, who)) => *who = to.clone(),
                    None => holders.push((dev.to_string(), to.clone())),
                }
            }
            _ => {}
        }
        lines.push((n, line));
    }
    Ok(Trace { lines })
}
