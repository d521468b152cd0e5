//! Synthetic medical-ward shifts: clinicians sharing one ward tablet, handing it over between
//! them, doing what a medical ward does (mostly chart views, vitals, medication rounds and notes;
//! order signing per patient in bursts; a few controlled-substance prescriptions; occasional
//! VIP or restricted charts; rare exports; a code blue or two), with tab and app switches, idle
//! gaps (some longer than the tablet's idle lock) and an offline period or two.
//!
//! Deterministic: the same configuration gives the same bytes. The actions and roles are the
//! ones the shipped policy (`pkg-config/policies/clinical-default.json`) names; the generator
//! knows nothing of what the policy decides.

use std::fmt;

use crate::rng::Rng;
use crate::trace::{DEFAULT_DEVICE, Line, TaskLine, TraceEvent};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenConfig {
    pub seed: u64,
    /// Clinicians sharing the tablet (1..=12).
    pub clinicians: usize,
    /// Shift length in hours (1..=24).
    pub hours: u64,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            seed: 1,
            clinicians: 3,
            hours: 12,
        }
    }
}

/// A configuration the generator refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenError {
    Clinicians(usize),
    Hours(u64),
}

impl GenError {
    pub fn code(&self) -> &'static str {
        match self {
            GenError::Clinicians(_) => "WARDGATE_SIM_GEN_CLINICIANS",
            GenError::Hours(_) => "WARDGATE_SIM_GEN_HOURS",
        }
    }
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Clinicians(n) => write!(f, "`--clinicians {n}` is outside 1..=12"),
            GenError::Hours(h) => write!(f, "`--hours {h}` is outside 1..=24"),
        }
    }
}

impl std::error::Error for GenError {}

const SEC: u64 = 1000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
/// Beds on the ward.
const BEDS: usize = 24;
/// Beds the team (the physicians and residents on this tablet) looks after.
const TEAM_BEDS: usize = 14;
/// Patients per nurse.
const NURSE_PATIENTS: usize = 5;
/// Gaps at least this long get an explicit `idle` line.
const IDLE_LINE_MS: u64 = MIN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Physician,
    Resident,
    Nurse,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Physician => "physician",
            Role::Resident => "resident",
            Role::Nurse => "nurse",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Role::Physician => "dr",
            Role::Resident => "res",
            Role::Nurse => "rn",
        }
    }
}

/// The roles of the first, second, ... clinician (then again from the start).
const ROLE_CYCLE: [Role; 6] = [
    Role::Physician,
    Role::Resident,
    Role::Nurse,
    Role::Nurse,
    Role::Resident,
    Role::Nurse,
];

#[derive(Debug, Clone)]
struct Clinician {
    id: String,
    role: Role,
    /// Indexes into the ward's patients.
    patients: Vec<usize>,
}

#[derive(Debug, Clone)]
struct WardPatient {
    id: String,
    labels: Vec<String>,
}

#[derive(Debug)]
struct Gen {
    rng: Rng,
    lines: Vec<Line>,
    /// Now: never before the end of the last line.
    cursor: u64,
    /// Offline/online boundaries still to write: (time, offline?).
    boundaries: Vec<(u64, bool)>,
    patients: Vec<WardPatient>,
    clinicians: Vec<Clinician>,
    holder: Option<usize>,
    /// When each clinician last finished at the tablet.
    last_seen: Vec<u64>,
    /// Tasks each clinician started so far.
    done: Vec<u64>,
    order_seq: u64,
    note_seq: u64,
}

/// Generate a shift as trace lines.
pub fn generate(cfg: GenConfig) -> Result<Vec<Line>, GenError> {
    if !(1..=12).contains(&cfg.clinicians) {
        return Err(GenError::Clinicians(cfg.clinicians));
    }
    if !(1..=24).contains(&cfg.hours) {
        return Err(GenError::Hours(cfg.hours));
    }
    let mut rng = Rng::new(cfg.seed);
    let end = cfg.hours.saturating_mul(HOUR);

    // The ward: a couple of VIP charts and a restricted one (e.g. a staff member, a minor in
    // protective custody), fixed for the shift.
    let mut beds: Vec<usize> = (0..BEDS).collect();
    shuffle(&mut rng, &mut beds);
    let mut patients: Vec<WardPatient> = (0..BEDS)
        .map(|b| WardPatient {
            id: format!("p-{:02}", b.saturating_add(1)),
            labels: Vec::new(),
        })
        .collect();
    for (k, bed) in beds.iter().take(2).enumerate() {
        if let Some(p) = patients.get_mut(*bed) {
            p.labels
                .push(String::from(if k == 0 { "vip" } else { "restricted" }));
        }
    }
    // The team's patients (shuffled, so the sensitive charts land on the list or not by seed).
    shuffle(&mut rng, &mut beds);
    let team: Vec<usize> = beds.iter().take(TEAM_BEDS).copied().collect();

    let mut clinicians = Vec::new();
    let mut per_role = [0usize; 3];
    let mut nurse_k = 0usize;
    for i in 0..cfg.clinicians {
        let role = ROLE_CYCLE
            .get(i % ROLE_CYCLE.len())
            .copied()
            .unwrap_or(Role::Nurse);
        let slot = match role {
            Role::Physician => 0,
            Role::Resident => 1,
            Role::Nurse => 2,
        };
        let n = per_role.get(slot).copied().unwrap_or(0).saturating_add(1);
        if let Some(c) = per_role.get_mut(slot) {
            *c = n;
        }
        let list = match role {
            Role::Physician | Role::Resident => team.clone(),
            Role::Nurse => {
                let start = nurse_k.saturating_mul(NURSE_PATIENTS);
                nurse_k = nurse_k.saturating_add(1);
                (0..NURSE_PATIENTS)
                    .filter_map(|j| team.get((start + j) % TEAM_BEDS).copied())
                    .collect()
            }
        };
        clinicians.push(Clinician {
            id: format!("{}-{n}", role.prefix()),
            role,
            patients: list,
        });
    }

    // One or two network outages, between the first and the last hour.
    let mut boundaries = Vec::new();
    if end >= 3 * HOUR {
        let outages = if rng.chance(500) { 2 } else { 1 };
        let window = (end - 2 * HOUR) / outages;
        for k in 0..outages {
            let start = HOUR + k * window + rng.below(window.saturating_sub(30 * MIN));
            let len = rng.range(4 * MIN, 25 * MIN);
            boundaries.push((start, true));
            boundaries.push((start + len, false));
        }
    }

    // A handful of emergencies (code blue, rapid response): one or two per 12 hours.
    let emergencies_n = 1 + rng.below(cfg.hours.div_ceil(6).saturating_add(1));
    let mut emergencies: Vec<u64> = (0..emergencies_n)
        .map(|_| rng.range(20 * MIN, end.saturating_sub(40 * MIN)))
        .collect();
    emergencies.sort_unstable();

    // Admissions to the team: two to four per 12 hours, each with an order set.
    let admissions_n = 1 + rng.range(cfg.hours / 6, cfg.hours / 4);
    let mut admissions: Vec<u64> = (0..admissions_n)
        .map(|_| rng.range(30 * MIN, end.saturating_sub(60 * MIN)))
        .collect();
    admissions.sort_unstable();

    let mut g = Gen {
        rng,
        lines: Vec::new(),
        cursor: 0,
        boundaries,
        patients,
        clinicians,
        holder: None,
        last_seen: Vec::new(),
        done: Vec::new(),
        order_seq: 0,
        note_seq: 0,
    };
    g.last_seen = vec![0; g.clinicians.len()];
    g.done = vec![0; g.clinicians.len()];

    let mut next_emergency = 0usize;
    let mut next_admission = 0usize;
    while g.cursor.saturating_add(5 * MIN) < end {
        let who = g.next_clinician();
        if g.holder != Some(who) {
            g.handoff(who);
        }
        let emergency_due = emergencies
            .get(next_emergency)
            .is_some_and(|at| *at <= g.cursor);
        let admission_due = admissions
            .get(next_admission)
            .is_some_and(|at| *at <= g.cursor);
        let prescriber = g.clinicians.get(who).is_some_and(|c| c.role != Role::Nurse);
        if emergency_due {
            next_emergency = next_emergency.saturating_add(1);
            g.emergency(who);
        } else if admission_due && prescriber {
            next_admission = next_admission.saturating_add(1);
            g.admission(who);
        } else {
            g.block(who);
        }
        if let Some(seen) = g.last_seen.get_mut(who) {
            *seen = g.cursor;
        }
        g.gap_between_blocks();
    }
    let cursor = g.cursor;
    g.flush_boundaries(cursor);
    Ok(g.lines)
}

/// Generate a shift as JSON lines.
pub fn generate_jsonl(cfg: GenConfig) -> Result<String, GenError> {
    Ok(crate::trace::to_jsonl(&generate(cfg)?))
}

fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = usize::try_from(rng.below(u64::try_from(i).unwrap_or(0) + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

impl Gen {
    fn push(&mut self, event: TraceEvent) {
        let t = self.cursor;
        self.flush_boundaries(t);
        let line = Line {
            t: self.cursor,
            event,
        };
        self.cursor = line.end();
        self.lines.push(line);
    }

    /// Write the offline/online lines due by `upto`.
    fn flush_boundaries(&mut self, upto: u64) {
        while let Some((at, offline)) = self.boundaries.first().copied() {
            if at > upto {
                break;
            }
            self.boundaries.remove(0);
            let line = Line {
                t: at.max(self.cursor),
                event: if offline {
                    TraceEvent::Offline {}
                } else {
                    TraceEvent::Online {}
                },
            };
            self.cursor = line.end();
            self.lines.push(line);
        }
    }

    /// Let `ms` pass with nobody at the tablet (an `idle` line when long enough), with the
    /// network changing on time meanwhile.
    fn idle(&mut self, ms: u64) {
        let target = self.cursor.saturating_add(ms);
        while let Some((at, _)) = self.boundaries.first().copied() {
            if at > target {
                break;
            }
            let before = at.saturating_sub(self.cursor);
            if before >= IDLE_LINE_MS {
                self.push(TraceEvent::Idle { ms: before });
            } else {
                self.cursor = self.cursor.max(at);
            }
            self.flush_boundaries(at);
        }
        let rest = target.saturating_sub(self.cursor);
        if rest >= IDLE_LINE_MS {
            self.push(TraceEvent::Idle { ms: rest });
        } else {
            self.cursor = self.cursor.max(target);
        }
    }

    /// Think time between two tasks.
    fn think(&mut self, lo_s: u64, hi_s: u64) {
        let ms = self.rng.range(lo_s * SEC, hi_s * SEC);
        self.cursor = self.cursor.saturating_add(ms);
    }

    fn next_clinician(&mut self) -> usize {
        let n = self.clinicians.len();
        let Some(h) = self.holder else {
            return 0;
        };
        // Whoever has waited longer for the tablet, or has more work left (fewer tasks done
        // so far), is likelier to take it; the holder carries on now and then.
        let most = self.done.iter().copied().max().unwrap_or(0);
        let weights: Vec<u64> = (0..n)
            .map(|i| {
                let done = self.done.get(i).copied().unwrap_or(0);
                let behind = (most - done).saturating_mul(2);
                if i == h {
                    4 + behind
                } else {
                    let seen = self.last_seen.get(i).copied().unwrap_or(0);
                    8 + self.cursor.saturating_sub(seen) / MIN + behind
                }
            })
            .collect();
        self.rng.weighted(&weights).unwrap_or(h)
    }

    fn handoff(&mut self, who: usize) {
        let Some(c) = self.clinicians.get(who) else {
            return;
        };
        let (to, roles) = (c.id.clone(), vec![c.role.name().to_string()]);
        self.push(TraceEvent::Handoff {
            to,
            roles,
            device: Some(DEFAULT_DEVICE.to_string()),
            shared: Some(true),
            managed: Some(true),
        });
        self.holder = Some(who);
        // Signing in and finding the patient list.
        self.think(8, 40);
    }

    fn gap_between_blocks(&mut self) {
        let kind = self.rng.weighted(&[64, 24, 9, 3]).unwrap_or(0);
        let ms = match kind {
            0 => self.rng.range(10 * SEC, 45 * SEC),
            1 => self.rng.range(45 * SEC, 3 * MIN),
            2 => self.rng.range(5 * MIN, 12 * MIN),
            _ => self.rng.range(12 * MIN, 25 * MIN),
        };
        self.idle(ms);
    }

    /// A work block: a few of the clinician's patients, one after the other, now and then a
    /// chart outside the list (covering for a colleague).
    fn block(&mut self, who: usize) {
        let Some(c) = self.clinicians.get(who).cloned() else {
            return;
        };
        let n = match c.role {
            Role::Nurse => self.rng.range(3, 7),
            Role::Physician | Role::Resident => self.rng.range(2, 6),
        };
        for _ in 0..n {
            let p = if self.rng.chance(60) {
                usize::try_from(self.rng.below(BEDS as u64)).unwrap_or(0)
            } else {
                self.rng.pick(&c.patients).copied().unwrap_or(0)
            };
            match c.role {
                Role::Nurse => self.nurse_episode(&c, p),
                Role::Physician | Role::Resident => self.prescriber_episode(&c, p),
            }
            if self.rng.chance(100) {
                // Interrupted at the bedside: the tablet sits unattended for a while.
                let ms = self.rng.range(2 * MIN, 9 * MIN);
                self.idle(ms);
            }
        }
    }

    fn nurse_episode(&mut self, c: &Clinician, p: usize) {
        self.task(c, "patient-view", Some(p), TaskExtra::default());
        if self.rng.chance(300) {
            self.task(c, "patient-view", Some(p), TaskExtra::default());
        }
        if self.rng.chance(750) {
            self.task(c, "vitals-record", Some(p), TaskExtra::default());
        }
        if self.rng.chance(550) {
            let doses = self.rng.range(1, 3);
            for _ in 0..doses {
                self.task(c, "med-administer", Some(p), TaskExtra::default());
            }
        }
        if self.rng.chance(450) {
            let note = self.next_note();
            self.task(c, "note-draft", Some(p), TaskExtra::target(note.clone()));
            if self.rng.chance(600) {
                self.task(c, "note-sign", Some(p), TaskExtra::target(note));
            }
        }
    }

    fn prescriber_episode(&mut self, c: &Clinician, p: usize) {
        let views = self.rng.range(2, 4);
        for _ in 0..views {
            self.task(c, "patient-view", Some(p), TaskExtra::default());
        }
        if self.rng.chance(150) {
            self.task(c, "vitals-record", Some(p), TaskExtra::default());
        }
        if self.rng.chance(300) {
            let note = self.next_note();
            self.task(c, "note-draft", Some(p), TaskExtra::target(note.clone()));
            if self.rng.chance(700) {
                self.task(c, "note-sign", Some(p), TaskExtra::target(note));
            }
        }
        let order_chance = if c.role == Role::Resident { 450 } else { 300 };
        if self.rng.chance(order_chance) {
            // Orders for this patient come in a burst: select them, then sign them.
            let k = self.rng.weighted(&[30, 30, 20, 12, 8]).unwrap_or(0) + 1;
            let mut orders = Vec::new();
            for _ in 0..k {
                let kind = if self.rng.chance(500) {
                    "MedicationRequest"
                } else {
                    "ServiceRequest"
                };
                let id = self.next_order(kind);
                self.task(c, "order-select", Some(p), TaskExtra::target(id.clone()));
                orders.push(id);
            }
            for id in orders {
                self.task(c, "order-sign", Some(p), TaskExtra::target(id));
            }
        }
        if self.rng.chance(100) {
            let id = self.next_order("MedicationRequest");
            self.task(c, "medication-prescribe", Some(p), TaskExtra::target(id));
        }
        if self.rng.chance(30) {
            // EPCS: a schedule II opioid; the attestation is on screen while the clinician
            // approves with a security key or phone (slower than a platform passkey).
            let id = self.next_order("MedicationRequest");
            let approve = self.rng.range(10 * SEC, 25 * SEC);
            self.task(
                c,
                "medication-prescribe",
                Some(p),
                TaskExtra {
                    targets: vec![id.clone()],
                    labels: vec![String::from("controlled-substance")],
                    summary: Some(format!(
                        "EPCS {id}: oxycodone 5 mg PO q6h PRN, 12 tablets. I attest this prescription is accurate and that I am the prescriber."
                    )),
                    approve_ms: Some(approve),
                    emergency: None,
                },
            );
        }
        if c.role == Role::Physician && self.rng.chance(12) {
            self.task(c, "record-export", Some(p), TaskExtra::default());
        }
    }

    /// A code blue: declared for one patient, then a quick burst of care for that patient.
    fn emergency(&mut self, who: usize) {
        let Some(c) = self.clinicians.get(who).cloned() else {
            return;
        };
        let p = usize::try_from(self.rng.below(BEDS as u64)).unwrap_or(0);
        let Some(patient) = self.patients.get(p).map(|x| x.id.clone()) else {
            return;
        };
        let window = self.rng.range(10 * MIN, 20 * MIN);
        self.push(TraceEvent::Emergency {
            reason: format!("code blue, {patient}"),
            ms: window,
            patient: Some(patient),
            device: None,
        });
        self.cursor = self
            .cursor
            .saturating_add(self.rng.range(3 * SEC, 10 * SEC));
        let n = self.rng.range(4, 9);
        let mut i = 0u64;
        while i < n {
            let action = match c.role {
                Role::Nurse => *self
                    .rng
                    .pick(&[
                        "patient-view",
                        "vitals-record",
                        "med-administer",
                        "vitals-record",
                    ])
                    .unwrap_or(&"vitals-record"),
                _ => *self
                    .rng
                    .pick(&[
                        "patient-view",
                        "order-select",
                        "order-sign",
                        "vitals-record",
                    ])
                    .unwrap_or(&"patient-view"),
            };
            let extra = if action.starts_with("order") || action == "med-administer" {
                TaskExtra::target(self.next_order("MedicationRequest"))
            } else {
                TaskExtra::default()
            };
            self.task_at_pace(&c, action, Some(p), extra, (10, 45));
            i += 1;
        }
        let note = self.next_note();
        self.task(&c, "note-draft", Some(p), TaskExtra::target(note));
    }

    /// A new patient for the team: history and examination, then the admission order set
    /// (signed order by order), and the admission medications.
    fn admission(&mut self, who: usize) {
        let Some(c) = self.clinicians.get(who).cloned() else {
            return;
        };
        let p = self.patients.len();
        self.patients.push(WardPatient {
            id: format!("p-{:02}", p.saturating_add(1)),
            labels: Vec::new(),
        });
        for k in &mut self.clinicians {
            if k.role != Role::Nurse {
                k.patients.push(p);
            }
        }
        let views = self.rng.range(2, 4);
        for _ in 0..views {
            self.task(&c, "patient-view", Some(p), TaskExtra::default());
        }
        let note = self.next_note();
        self.task(&c, "note-draft", Some(p), TaskExtra::target(note.clone()));
        let n = self.rng.range(6, 14);
        let mut orders = Vec::new();
        for _ in 0..n {
            let kind = if self.rng.chance(450) {
                "MedicationRequest"
            } else {
                "ServiceRequest"
            };
            let id = self.next_order(kind);
            self.task(&c, "order-select", Some(p), TaskExtra::target(id.clone()));
            orders.push(id);
        }
        for id in orders {
            self.task(&c, "order-sign", Some(p), TaskExtra::target(id));
        }
        let meds = self.rng.range(0, 2);
        for _ in 0..meds {
            let id = self.next_order("MedicationRequest");
            self.task(&c, "medication-prescribe", Some(p), TaskExtra::target(id));
        }
        self.task(&c, "note-sign", Some(p), TaskExtra::target(note));
    }

    fn next_order(&mut self, kind: &str) -> String {
        self.order_seq = self.order_seq.saturating_add(1);
        format!("{kind}/{}", 7000 + self.order_seq)
    }

    fn next_note(&mut self) -> String {
        self.note_seq = self.note_seq.saturating_add(1);
        format!("DocumentReference/{}", 3000 + self.note_seq)
    }

    fn task(&mut self, c: &Clinician, action: &str, p: Option<usize>, extra: TaskExtra) {
        let pace = match action {
            "patient-view" => (8, 50),
            "vitals-record" => (20, 70),
            "med-administer" => (20, 80),
            "note-draft" => (40, 180),
            "order-select" => (5, 25),
            "medication-prescribe" => (20, 50),
            "record-export" => (20, 60),
            _ => (5, 20), // signing
        };
        self.task_at_pace(c, action, p, extra, pace);
    }

    fn task_at_pace(
        &mut self,
        c: &Clinician,
        action: &str,
        p: Option<usize>,
        extra: TaskExtra,
        pace: (u64, u64),
    ) {
        let patient = p.and_then(|i| self.patients.get(i)).cloned();
        let mut labels = patient
            .as_ref()
            .map(|x| x.labels.clone())
            .unwrap_or_default();
        labels.extend(extra.labels);
        let line = TaskLine {
            clinician: c.id.clone(),
            roles: vec![c.role.name().to_string()],
            action: action.to_string(),
            patient: patient.map(|x| x.id),
            labels,
            targets: extra.targets,
            summary: extra.summary,
            device: Some(DEFAULT_DEVICE.to_string()),
            shared: Some(true),
            managed: None,
            zone: None,
            emergency: extra.emergency,
            approve_ms: extra.approve_ms,
        };
        if let Some(i) = self.clinicians.iter().position(|k| k.id == c.id) {
            if let Some(d) = self.done.get_mut(i) {
                *d = d.saturating_add(1);
            }
        }
        let sensitive = line
            .labels
            .iter()
            .any(|l| l == "vip" || l == "restricted" || l == "controlled-substance");
        self.push(TraceEvent::Task(line));
        // A prompt-prone task: now and then the phone rings while the passkey prompt is up.
        let prompt_prone = sensitive
            || matches!(
                action,
                "order-sign" | "note-sign" | "medication-prescribe" | "record-export"
            );
        if prompt_prone && self.rng.chance(70) {
            self.cursor = self.cursor.saturating_add(self.rng.range(SEC, 3 * SEC));
            let ms = self.rng.range(8 * SEC, 60 * SEC);
            self.push(TraceEvent::AppSwitch { ms, device: None });
        } else if self.rng.chance(40) {
            self.think(3, 20);
            let ms = self.rng.range(2 * SEC, 45 * SEC);
            self.push(TraceEvent::TabSwitch { ms, device: None });
        } else if self.rng.chance(25) {
            self.think(3, 20);
            let ms = if self.rng.chance(150) {
                self.rng.range(6 * MIN, 12 * MIN)
            } else {
                self.rng.range(10 * SEC, 3 * MIN)
            };
            self.push(TraceEvent::AppSwitch { ms, device: None });
        }
        self.think(pace.0, pace.1);
    }
}

#[derive(Debug, Clone, Default)]
struct TaskExtra {
    targets: Vec<String>,
    labels: Vec<String>,
    summary: Option<String>,
    approve_ms: Option<u64>,
    emergency: Option<String>,
}

impl TaskExtra {
    fn target(id: String) -> TaskExtra {
        TaskExtra {
            targets: vec![id],
            ..TaskExtra::default()
        }
    }
}
