//! Shared helpers for the simulator's tests.

#![allow(dead_code, reason = "each test file uses a part")]

use std::path::PathBuf;

use wardgate::policy::Policy;
use wardgate_sim::{Run, Strategy, Trace, parse, shipped_policy, simulate};

pub fn policy() -> Policy {
    match shipped_policy() {
        Ok(p) => p,
        Err(e) => panic!("the shipped policy does not parse: {e}"),
    }
}

pub fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("bench")
        .join("traces")
}

/// The five shipped traces, by seed.
pub fn shipped_traces() -> Vec<(u64, String, Trace)> {
    (1..=5)
        .map(|seed| {
            let path = traces_dir().join(format!("shift-{seed}.jsonl"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
            let trace = parse(&text).unwrap_or_else(|e| panic!("`{}` {e}", path.display()));
            (seed, text, trace)
        })
        .collect()
}

pub fn trace(text: &str) -> Trace {
    parse(text).unwrap_or_else(|e| panic!("{e}"))
}

pub fn run_of(runs: &[Run], strategy: Strategy) -> &Run {
    runs.iter()
        .find(|r| r.strategy == strategy)
        .unwrap_or_else(|| panic!("no run for {strategy:?}"))
}

pub fn runs(text: &str) -> Vec<Run> {
    simulate(&policy(), &trace(text))
}
