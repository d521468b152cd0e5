//! wardgate-sim: replays ward shifts through wardgate's own core (the policy evaluator, the
//! session state machine and grants), the way the browser gate drives it, and through two
//! baselines on the same traces: a prompt for every protected action, and a re-authentication
//! every 15 minutes. It counts prompts, grant reuse, interruptions, locks, handoffs,
//! break-glass, needs-connection and unsafe allows (a protected task allowed without an
//! approval that meets the policy's requirement).
//!
//! No clock is read: time comes from the trace.

pub mod chart;
pub mod generate;
pub mod oracle;
pub mod replay;
pub mod report;
pub mod rng;
pub mod trace;

use wardgate::policy::Policy;

pub use replay::{Metrics, Run, Strategy, replay};
pub use trace::{Trace, TraceError, TraceErrorKind, parse};

/// The shipped ward policy, as built into this binary.
pub const SHIPPED_POLICY: &str = include_str!("../../pkg-config/policies/clinical-default.json");

/// The shipped ward policy, parsed.
pub fn shipped_policy() -> wardgate::Result<Policy> {
    Policy::from_json(SHIPPED_POLICY)
}

/// Replay a trace under every strategy.
pub fn simulate(policy: &Policy, trace: &Trace) -> Vec<Run> {
    Strategy::ALL
        .iter()
        .map(|s| replay(policy, trace, *s))
        .collect()
}

/// The chart of one trace's runs.
pub fn chart(name: &str, policy_id: &str, trace: &Trace, runs: &[Run]) -> String {
    let (start, end) = trace.span();
    let series: Vec<chart::Series> = runs
        .iter()
        .map(|r| chart::Series {
            label: format!(
                "{}: {} prompts, {} unsafe allows",
                r.strategy.name(),
                r.metrics.prompts,
                r.metrics.unsafe_allows
            ),
            color: match r.strategy {
                Strategy::Wardgate => "#1b7f4b",
                Strategy::EveryAction => "#c0392b",
                Strategy::Reauth15 => "#2c62c6",
            },
            times: r
                .prompt_times
                .iter()
                .map(|t| t.saturating_sub(start))
                .collect(),
        })
        .collect();
    let clinicians = trace.clinicians().len();
    chart::svg(
        "Passkey prompts over a ward shift",
        &format!("{name}: {clinicians} clinicians sharing a ward tablet, policy {policy_id}"),
        end.saturating_sub(start),
        &series,
    )
}
