//! The command line: generate, run (table and JSON), chart, and its errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use std::process::{Command, Output};

use wardgate_sim::generate::{GenConfig, generate_jsonl};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardgate-sim"))
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wardgate-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn generate_prints_the_generators_bytes() {
    let out = sim(&[
        "generate",
        "--seed",
        "4",
        "--clinicians",
        "2",
        "--hours",
        "3",
    ]);
    assert!(out.status.success());
    let want = generate_jsonl(GenConfig {
        seed: 4,
        clinicians: 2,
        hours: 3,
    })
    .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    let out = sim(&["generate", "--clinicians", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARDGATE_SIM_GEN_CLINICIANS"));
}

#[test]
fn run_prints_a_table_or_json() {
    let trace = common::traces_dir().join("shift-2.jsonl");
    let trace = trace.to_str().unwrap();
    let out = sim(&["run", trace]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("wardgate") && table.contains("reauth-15min"),
        "{table}"
    );
    let out = sim(&["run", "--json", trace, trace]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["policy"], "clinical-default");
    assert_eq!(json["traces"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["total"]["results"][0]["prompts"].as_u64().unwrap(),
        2 * json["traces"][0]["results"][0]["prompts"].as_u64().unwrap()
    );
    // --policy takes a file; the shipped one gives the same numbers.
    let policy = common::traces_dir().join("../../pkg-config/policies/clinical-default.json");
    let out2 = sim(&[
        "run",
        "--json",
        "--policy",
        policy.to_str().unwrap(),
        trace,
        trace,
    ]);
    assert_eq!(out2.stdout, out.stdout);
}

#[test]
fn a_bad_trace_names_its_file_and_line() {
    let path = scratch("bad.jsonl");
    std::fs::write(
        &path,
        "{\"t\":0,\"kind\":\"handoff\",\"to\":\"dr-1\",\"roles\":[\"physician\"]}\n{\"t\":1,\"kind\":\"task\"\n",
    )
    .unwrap();
    let out = sim(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 2") && err.contains("WARDGATE_SIM_TRACE_SYNTAX"),
        "{err}"
    );
    let out = sim(&[
        "run",
        "--policy",
        path.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = sim(&["run", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    let out = sim(&[]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn chart_writes_an_svg() {
    let out_path = scratch("shift.svg");
    let trace = common::traces_dir().join("shift-1.jsonl");
    let out = sim(&[
        "chart",
        "--out",
        out_path.to_str().unwrap(),
        trace.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&out_path).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 3);
    for label in [
        "wardgate",
        "every-action",
        "reauth-15min",
        "hours into the shift",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    // The shipped chart is what the command draws.
    let shipped = common::traces_dir().join("../shift.svg");
    assert!(
        std::fs::read_to_string(shipped).unwrap() == svg,
        "bench/shift.svg is stale: redraw it with \
         `wardgate-sim chart --out bench/shift.svg bench/traces/shift-1.jsonl`"
    );
}
