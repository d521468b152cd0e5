//! `wardgate-sim generate | run | chart` (see `sim/README.md`).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use wardgate::policy::Policy;
use wardgate_sim::generate::{GenConfig, generate_jsonl};
use wardgate_sim::report::{Report, TraceReport};
use wardgate_sim::{SHIPPED_POLICY, Trace, chart, parse, simulate};

const USAGE: &str = "\
usage:
  wardgate-sim generate [--seed N] [--clinicians N] [--hours N] > trace.jsonl
  wardgate-sim run [--policy FILE] [--json] TRACE.jsonl...
  wardgate-sim chart --out FILE.svg [--policy FILE] TRACE.jsonl

The policy defaults to the shipped pkg-config/policies/clinical-default.json (built in).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "wardgate-sim: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(format!("no command\n{USAGE}"));
    };
    match command.as_str() {
        "generate" => cmd_generate(rest),
        "run" => cmd_run(rest),
        "chart" => cmd_chart(rest),
        "help" | "--help" | "-h" => out(&format!("{USAGE}\n")),
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

/// Options and positional arguments.
#[derive(Debug, Default)]
struct Args {
    options: Vec<(String, String)>,
    flags: Vec<String>,
    files: Vec<String>,
}

fn split(args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if with_value.contains(&a.as_str()) {
            let v = it
                .next()
                .ok_or_else(|| format!("`{a}` needs a value\n{USAGE}"))?;
            out.options.push((a.clone(), v.clone()));
        } else if flags.contains(&a.as_str()) {
            out.flags.push(a.clone());
        } else if a.starts_with("--") {
            return Err(format!("unknown option `{a}`\n{USAGE}"));
        } else {
            out.files.push(a.clone());
        }
    }
    Ok(out)
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("`{name} {v}` is not a number")),
        }
    }
}

fn cmd_generate(args: &[String]) -> Result<(), String> {
    let a = split(args, &["--seed", "--clinicians", "--hours"], &[])?;
    if let Some(f) = a.files.first() {
        return Err(format!("unexpected argument `{f}`\n{USAGE}"));
    }
    let d = GenConfig::default();
    let cfg = GenConfig {
        seed: a.number("--seed", d.seed)?,
        clinicians: a.number("--clinicians", d.clinicians)?,
        hours: a.number("--hours", d.hours)?,
    };
    let text = generate_jsonl(cfg).map_err(|e| format!("{e} ({})", e.code()))?;
    out(&text)
}

/// Write to stdout; a closed pipe (`| head`) just ends the output.
fn out(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("stdout: {e}")),
    }
}

fn load_policy(a: &Args) -> Result<Policy, String> {
    let (text, from) = match a.get("--policy") {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| format!("`{path}`: {e}"))?,
            path.to_string(),
        ),
        None => (
            SHIPPED_POLICY.to_string(),
            String::from("the shipped clinical-default"),
        ),
    };
    Policy::from_json(&text).map_err(|e| format!("{from}: {e} ({})", e.code()))
}

fn load_trace(path: &str) -> Result<Trace, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("`{path}`: {e}"))?;
    parse(&text).map_err(|e| format!("`{path}` {e} ({})", e.code()))
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
        .to_string()
}

fn cmd_run(args: &[String]) -> Result<(), String> {
    let a = split(args, &["--policy"], &["--json"])?;
    if a.files.is_empty() {
        return Err(format!("no trace given\n{USAGE}"));
    }
    let policy = load_policy(&a)?;
    let mut traces = Vec::new();
    for path in &a.files {
        let trace = load_trace(path)?;
        let runs = simulate(&policy, &trace);
        traces.push(TraceReport::new(&file_name(path), &trace, &runs));
    }
    let report = Report::new(policy.id(), traces);
    if a.flags.iter().any(|f| f == "--json") {
        out(&format!("{}\n", report.to_json()))
    } else {
        out(&report.table())
    }
}

fn cmd_chart(args: &[String]) -> Result<(), String> {
    let a = split(args, &["--out", "--policy"], &[])?;
    let out = a
        .get("--out")
        .ok_or_else(|| format!("`chart` needs `--out FILE.svg`\n{USAGE}"))?;
    let [path] = a.files.as_slice() else {
        return Err(format!("`chart` takes exactly one trace\n{USAGE}"));
    };
    let policy = load_policy(&a)?;
    let trace = load_trace(path)?;
    let runs = simulate(&policy, &trace);
    let svg = chart(&file_name(path), policy.id(), &trace, &runs);
    std::fs::write(out, svg).map_err(|e| format!("`{out}`: {e}"))?;
    let _ = writeln!(std::io::stderr(), "wrote {out}");
    Ok(())
}
