//! Per-trace and total results: a plain-text table and machine-readable JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::replay::{Metrics, Run, Strategy, UnsafeAllow};
use crate::trace::Trace;

/// How many unsafe allows each result lists as examples.
pub const UNSAFE_EXAMPLES: usize = 5;

/// One strategy's results.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategyReport {
    pub strategy: Strategy,
    pub prompts_per_clinician_hour: f64,
    #[serde(flatten)]
    pub metrics: Metrics,
    pub prompts_by_action: BTreeMap<String, u64>,
    pub prompt_causes: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsafe_examples: Vec<UnsafeAllow>,
}

/// One trace's results.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceReport {
    pub trace: String,
    pub clinicians: usize,
    pub hours: f64,
    /// Shift length times the number of clinicians.
    pub clinician_hours: f64,
    pub results: Vec<StrategyReport>,
}

/// All traces and the total.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub policy: String,
    pub traces: Vec<TraceReport>,
    pub total: TraceReport,
}

fn merge(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        let n = into.entry(k.clone()).or_insert(0);
        *n = n.saturating_add(*v);
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn per_hour(prompts: u64, hours: f64) -> f64 {
    if hours > 0.0 {
        // Counts far below 2^52: exact as f64.
        round2(prompts as f64 / hours)
    } else {
        0.0
    }
}

impl TraceReport {
    /// The report of the runs of one trace.
    pub fn new(name: &str, trace: &Trace, runs: &[Run]) -> TraceReport {
        let (start, end) = trace.span();
        let hours = end.saturating_sub(start) as f64 / 3_600_000.0;
        let clinicians = trace.clinicians().len();
        let clinician_hours = round2(hours * clinicians as f64);
        TraceReport {
            trace: name.to_string(),
            clinicians,
            hours: round2(hours),
            clinician_hours,
            results: runs
                .iter()
                .map(|r| StrategyReport {
                    strategy: r.strategy,
                    prompts_per_clinician_hour: per_hour(r.metrics.prompts, clinician_hours),
                    metrics: r.metrics.clone(),
                    prompts_by_action: r.prompts_by_action.clone(),
                    prompt_causes: r.prompt_causes.clone(),
                    unsafe_examples: r
                        .unsafe_allows
                        .iter()
                        .take(UNSAFE_EXAMPLES)
                        .cloned()
                        .collect(),
                })
                .collect(),
        }
    }

    /// The results of `strategy`.
    pub fn get(&self, strategy: Strategy) -> Option<&StrategyReport> {
        self.results.iter().find(|r| r.strategy == strategy)
    }
}

impl Report {
    pub fn new(policy: &str, traces: Vec<TraceReport>) -> Report {
        let mut total = TraceReport {
            trace: String::from("total"),
            clinicians: traces.iter().map(|t| t.clinicians).sum(),
            hours: round2(traces.iter().map(|t| t.hours).sum()),
            clinician_hours: round2(traces.iter().map(|t| t.clinician_hours).sum()),
            results: Vec::new(),
        };
        for strategy in Strategy::ALL {
            let mut m = Metrics::default();
            let mut by_action: BTreeMap<String, u64> = BTreeMap::new();
            let mut causes: BTreeMap<String, u64> = BTreeMap::new();
            for t in &traces {
                if let Some(r) = t.get(strategy) {
                    m.add(&r.metrics);
                    merge(&mut by_action, &r.prompts_by_action);
                    merge(&mut causes, &r.prompt_causes);
                }
            }
            total.results.push(StrategyReport {
                strategy,
                prompts_per_clinician_hour: per_hour(m.prompts, total.clinician_hours),
                metrics: m,
                prompts_by_action: by_action,
                prompt_causes: causes,
                unsafe_examples: Vec::new(),
            });
        }
        Report {
            policy: policy.to_string(),
            traces,
            total,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "policy: {}", self.policy);
        let head = [
            "trace",
            "strategy",
            "tasks",
            "protected",
            "prompts",
            "/clin-h",
            "reused",
            "interrupted",
            "resumed",
            "locks",
            "handoffs",
            "break-glass",
            "needs-conn",
            "denied",
            "UNSAFE",
        ];
        let mut rows: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
        for t in self.traces.iter().chain(std::iter::once(&self.total)) {
            for (k, r) in t.results.iter().enumerate() {
                let m = &r.metrics;
                rows.push(vec![
                    if k == 0 {
                        format!("{} ({:.1} clin-h)", t.trace, t.clinician_hours)
                    } else {
                        String::new()
                    },
                    r.strategy.name().to_string(),
                    m.tasks.to_string(),
                    m.protected.to_string(),
                    m.prompts.to_string(),
                    format!("{:.2}", r.prompts_per_clinician_hour),
                    m.grants_reused.to_string(),
                    m.interrupted.to_string(),
                    m.resumed.to_string(),
                    m.locks.to_string(),
                    m.handoffs.to_string(),
                    m.break_glass.to_string(),
                    m.needs_connection.to_string(),
                    m.denied.to_string(),
                    m.unsafe_allows.to_string(),
                ]);
            }
        }
        let cols = head.len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let w = widths.get(c).copied().unwrap_or(0);
                if c < 2 {
                    let _ = write!(line, "{cell:<w$}  ");
                } else {
                    let _ = write!(line, "{cell:>w$}  ");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        let tot = &self.total;
        if let (Some(w), Some(e)) = (tot.get(Strategy::Wardgate), tot.get(Strategy::EveryAction)) {
            if w.metrics.prompts > 0 {
                let _ = writeln!(
                    out,
                    "\nevery-action / wardgate prompts: {:.2}x (target >= 5x)",
                    e.metrics.prompts as f64 / w.metrics.prompts as f64
                );
            }
        }
        for (title, pick) in [
            (
                "prompts by action",
                (|r: &StrategyReport| &r.prompts_by_action)
                    as fn(&StrategyReport) -> &BTreeMap<String, u64>,
            ),
            ("prompts by cause", |r: &StrategyReport| &r.prompt_causes),
        ] {
            let _ = writeln!(out, "\n{title} (all traces):");
            for r in &tot.results {
                let parts: Vec<String> = pick(r).iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(out, "  {:<13} {}", r.strategy.name(), parts.join(", "));
            }
        }
        for t in &self.traces {
            for r in &t.results {
                if let Some(u) = r.unsafe_examples.first() {
                    let _ = writeln!(
                        out,
                        "e.g. {} {} unsafe: line {} `{}`{} by `{}`: {}",
                        t.trace,
                        r.strategy.name(),
                        u.line,
                        u.action,
                        u.patient
                            .as_deref()
                            .map(|p| format!(" for `{p}`"))
                            .unwrap_or_default(),
                        u.clinician,
                        u.why
                    );
                }
            }
        }
        out
    }
}
