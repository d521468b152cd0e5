//! Trace parsing: every bad line is a typed error with its line number, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use wardgate_sim::{TraceError, TraceErrorKind, parse};

const HANDOFF: &str = r#"{"t":0,"kind":"handoff","to":"dr-1","roles":["physician"]}"#;
const VIEW: &str = r#"{"t":1000,"kind":"task","clinician":"dr-1","roles":["physician"],"action":"patient-view","patient":"p-1"}"#;

/// Parse `lines` joined by newlines; the error it must give.
fn error(lines: &[&str]) -> TraceError {
    match parse(&lines.join("\n")) {
        Ok(t) => panic!("expected an error, parsed {} lines", t.lines.len()),
        Err(e) => e,
    }
}

#[test]
fn a_good_trace_parses_with_its_line_numbers() {
    let text = format!("{HANDOFF}\n\n{VIEW}\n");
    let t = parse(&text).unwrap();
    assert_eq!(t.lines.len(), 2);
    assert_eq!(t.lines[0].0, 1);
    assert_eq!(t.lines[1].0, 3, "blank lines are skipped but still counted");
    assert_eq!(t.clinicians(), vec![String::from("dr-1")]);
}

#[test]
fn table_of_bad_lines() {
    // (line 2 text, expected code, a fragment the message must contain)
    let rows: &[(&str, &str, &str)] = &[
        (
            r#"{"t":5,"kind":"task","#,
            "WARDGATE_SIM_TRACE_SYNTAX",
            "column",
        ),
        ("not json", "WARDGATE_SIM_TRACE_SYNTAX", "not JSON"),
        ("[1,2]", "WARDGATE_SIM_TRACE_SHAPE", "JSON object"),
        (r#""a string""#, "WARDGATE_SIM_TRACE_SHAPE", "JSON object"),
        (
            r#"{"t":5,"kind":"tab-switch","ms":1,"ms":2}"#,
            "WARDGATE_SIM_TRACE_SHAPE",
            "`ms` appears twice",
        ),
        (
            r#"{"kind":"idle","ms":5}"#,
            "WARDGATE_SIM_TRACE_TIME",
            "missing `t`",
        ),
        (
            r#"{"t":-5,"kind":"idle","ms":5}"#,
            "WARDGATE_SIM_TRACE_TIME",
            "`t`",
        ),
        (
            r#"{"t":5.5,"kind":"idle","ms":5}"#,
            "WARDGATE_SIM_TRACE_TIME",
            "whole number",
        ),
        (
            r#"{"t":"5","kind":"idle","ms":5}"#,
            "WARDGATE_SIM_TRACE_TIME",
            "`t`",
        ),
        (
            r#"{"t":99999999999999999,"kind":"online"}"#,
            "WARDGATE_SIM_TRACE_TIME",
            "2^53",
        ),
        (
            r#"{"t":5,"kind":"idle","ms":-1}"#,
            "WARDGATE_SIM_TRACE_TIME",
            "`ms`",
        ),
        (r#"{"t":5}"#, "WARDGATE_SIM_TRACE_SHAPE", "missing `kind`"),
        (
            r#"{"t":5,"kind":"nap"}"#,
            "WARDGATE_SIM_TRACE_SHAPE",
            "unknown variant `nap`",
        ),
        (
            r#"{"t":5,"kind":"idle"}"#,
            "WARDGATE_SIM_TRACE_SHAPE",
            "missing field `ms`",
        ),
        (
            r#"{"t":5,"kind":"task","clinician":"dr-1","roles":["physician"],"action":"patient-view","pateint":"p-1"}"#,
            "WARDGATE_SIM_TRACE_SHAPE",
            "unknown field `pateint`",
        ),
        (
            r#"{"t":5,"kind":"task","clinician":"dr-1","roles":["physician"],"action":"Order Sign","patient":"p-1"}"#,
            "WARDGATE_SIM_TRACE_TASK",
            "WARDGATE_CONTEXT_INVALID",
        ),
        (
            r#"{"t":5,"kind":"task","clinician":"dr-1","roles":["physician"],"action":"patient-view","labels":["vip"]}"#,
            "WARDGATE_SIM_TRACE_SEQUENCE",
            "needs a `patient`",
        ),
        (
            r#"{"t":5,"kind":"task","clinician":"rn-1","roles":["nurse"],"action":"patient-view","patient":"p-1"}"#,
            "WARDGATE_SIM_TRACE_SEQUENCE",
            "`dr-1` holds",
        ),
        (
            r#"{"t":5,"kind":"handoff","to":"dr-1","roles":["physician"]}"#,
            "WARDGATE_SIM_TRACE_SEQUENCE",
            "already holds",
        ),
        (
            r#"{"t":5,"kind":"emergency","reason":"  ","ms":1000}"#,
            "WARDGATE_SIM_TRACE_SEQUENCE",
            "needs a `reason`",
        ),
        (
            r#"{"t":5,"kind":"offline","why":"wifi"}"#,
            "WARDGATE_SIM_TRACE_SHAPE",
            "unknown field `why`",
        ),
    ];
    let mut failures = Vec::new();
    for (line, code, fragment) in rows {
        let e = error(&[HANDOFF, line]);
        let text = e.to_string();
        if e.line != 2 || e.code() != *code || !text.contains(fragment) {
            failures.push(format!(
                "{line}\n  got line {} {} `{text}`, want line 2 {code} containing `{fragment}`",
                e.line,
                e.code()
            ));
        }
        assert!(text.starts_with("line 2: "), "{text}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn task_errors_carry_wardgates_path() {
    let e = error(&[
        HANDOFF,
        r#"{"t":5,"kind":"task","clinician":"dr-1","roles":["physician"],"action":"patient-view","patient":"p-1","emergency":" "}"#,
    ]);
    match &e.kind {
        TraceErrorKind::Task { code, path, .. } => {
            assert_eq!(*code, "WARDGATE_CONTEXT_INVALID");
            assert_eq!(path, "emergency.reason");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn time_must_not_go_backwards_nor_start_inside_a_switch() {
    let e = error(&[HANDOFF, VIEW, r#"{"t":500,"kind":"online"}"#]);
    assert_eq!(e.line, 3);
    assert_eq!(
        e.kind,
        TraceErrorKind::OutOfOrder {
            t: 500,
            not_before: 1000
        }
    );
    assert_eq!(e.code(), "WARDGATE_SIM_TRACE_ORDER");
    // Nobody starts a task in a hidden tab: the next line waits for the app switch to end.
    let e = error(&[
        HANDOFF,
        r#"{"t":2000,"kind":"app-switch","ms":60000}"#,
        r#"{"t":30000,"kind":"task","clinician":"dr-1","roles":["physician"],"action":"patient-view","patient":"p-1"}"#,
    ]);
    assert_eq!((e.line, e.code()), (3, "WARDGATE_SIM_TRACE_ORDER"));
    assert!(e.to_string().contains("62000"), "{e}");
}

#[test]
fn garbage_never_panics() {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let inputs = [
        "\u{0}",
        "{}",
        "{\"t\":1,\"kind\":null}",
        "{\"t\":1,\"kind\":\"task\"}",
        "{\"t\":1,\"kind\":\"task\",\"clinician\":\"\",\"roles\":[],\"action\":\"patient-view\"}",
        "{\"t\":1,\"kind\":\"handoff\",\"to\":\"x\",\"roles\":[\"\"]}",
        "{\"t\":1e3,\"kind\":\"online\"}",
        "{\"t\":18446744073709551615,\"kind\":\"online\"}",
        "\"just a string\"",
        nested.as_str(),
        "{\"t\":1,\"kind\":\"tab-switch\",\"ms\":1,\"ms\":2}",
    ];
    for input in inputs {
        let e = parse(input).expect_err(input);
        assert_eq!(e.line, 1, "{input}: {e}");
    }
}

#[test]
fn a_task_may_sign_its_clinician_in_and_lines_round_trip() {
    // The first task on a device signs its clinician in (no handoff needed).
    let text = r#"{"t":0,"kind":"task","clinician":"rn-1","roles":["nurse"],"action":"vitals-record","patient":"p-2","labels":["vip"],"device":"ward-tablet","shared":true,"approveMs":3000}
{"t":100,"kind":"tab-switch","ms":5000}
{"t":5100,"kind":"idle","ms":60000}
{"t":65100,"kind":"offline"}
{"t":65200,"kind":"online"}
{"t":65300,"kind":"emergency","reason":"code blue, p-2","ms":600000,"patient":"p-2"}
{"t":65400,"kind":"handoff","to":"dr-1","roles":["physician"],"device":"ward-tablet","shared":true,"managed":true}
"#;
    let t = parse(text).unwrap();
    assert_eq!(t.lines.len(), 7);
    assert_eq!(t.to_jsonl(), text, "serializing gives the same lines back");
}
