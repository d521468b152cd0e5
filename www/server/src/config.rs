//! Configuration from command-line flags and environment variables (flags win), with defaults
//! that run the demo from the repository root.

use std::path::PathBuf;

/// Server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address to listen on (`host:port`).
    pub bind: String,
    /// WebAuthn relying-party id (a domain, never an IP address).
    pub rp_id: String,
    /// The portal's origin, as the browser reports it in `clientDataJSON`.
    pub origin: String,
    /// SQLite database and grant signing key seed.
    pub data_dir: PathBuf,
    /// The wardgate policy enforced (the same document the browser evaluates).
    pub policy: PathBuf,
    /// The demo portal, served at `/`.
    pub static_dir: PathBuf,
    /// The npm package, served at `/pkg/`.
    pub pkg_dir: PathBuf,
    /// Seconds added to the wall clock (drills and end-to-end tests: let grants expire
    /// without waiting). 0 in service.
    pub clock_offset_seconds: u64,
    /// Passkey verifications (step-up, sign-in, unlock) per user and minute.
    pub verify_per_minute: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bind: String::from("localhost:8080"),
            rp_id: String::from("localhost"),
            origin: String::from("http://localhost:8080"),
            data_dir: PathBuf::from("./data"),
            policy: PathBuf::from("pkg-config/policies/clinical-default.json"),
            static_dir: PathBuf::from("www/portal"),
            pkg_dir: PathBuf::from("pkg"),
            clock_offset_seconds: 0,
            verify_per_minute: crate::ratelimit::ATTEMPTS_PER_MINUTE,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve(Config),
    Help,
    Version,
}

pub const HELP: &str = "\
wardgate-server: the reference relying party of wardgate

Serves the demo clinical portal and the protocol of docs/PROTOCOL.md: passkey registration and
sign-in (webauthn-rs), task-bound step-up challenges, grants (Ed25519 JWT), enforcement of the
wardgate policy with RFC 9470 step-up challenges, and idempotent audit ingest. Data lives in
SQLite (WAL, synchronous=FULL) under --data-dir.

USAGE:
    wardgate-server [OPTIONS]

OPTIONS (flag, environment variable, default):
    --bind <HOST:PORT>     WARDGATE_BIND        localhost:8080
    --rp-id <DOMAIN>       WARDGATE_RP_ID       localhost
    --origin <URL>         WARDGATE_ORIGIN      http://localhost:8080
    --data-dir <DIR>       WARDGATE_DATA_DIR    ./data
    --policy <FILE>        WARDGATE_POLICY      pkg-config/policies/clinical-default.json
    --static-dir <DIR>     WARDGATE_STATIC_DIR  www/portal   (served at /)
    --pkg-dir <DIR>        WARDGATE_PKG_DIR     pkg          (served at /pkg/)
    --verify-per-minute <N>     WARDGATE_VERIFY_PER_MINUTE     10 (passkey verifications per
                           user and minute; raise it only for load tests)
    --clock-offset-seconds <N>  WARDGATE_CLOCK_OFFSET_SECONDS  0  (drills and tests only:
                           run the server N seconds in the future, e.g. to let grants expire)
    -h, --help             print this help
    -V, --version          print the version

Flags win over environment variables. Both `--flag value` and `--flag=value` are accepted.
WebAuthn needs a domain: open http://localhost:8080, not http://127.0.0.1:8080.
";

/// Parse flags (without the program name) over environment variables over defaults.
fn seconds(name: &str, value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|s| *s <= 10 * 365 * 24 * 3600)
        .ok_or_else(|| format!("`{name}` must be a whole number of seconds up to ten years"))
}

fn per_minute(name: &str, value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| format!("`{name}` must be a whole number from 1 to 1000000"))
}

pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut c = Config::default();
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(v) = get("WARDGATE_BIND") {
        c.bind = v;
    }
    if let Some(v) = get("WARDGATE_RP_ID") {
        c.rp_id = v;
    }
    if let Some(v) = get("WARDGATE_ORIGIN") {
        c.origin = v;
    }
    if let Some(v) = get("WARDGATE_DATA_DIR") {
        c.data_dir = PathBuf::from(v);
    }
    if let Some(v) = get("WARDGATE_POLICY") {
        c.policy = PathBuf::from(v);
    }
    if let Some(v) = get("WARDGATE_STATIC_DIR") {
        c.static_dir = PathBuf::from(v);
    }
    if let Some(v) = get("WARDGATE_PKG_DIR") {
        c.pkg_dir = PathBuf::from(v);
    }
    if let Some(v) = get("WARDGATE_VERIFY_PER_MINUTE") {
        c.verify_per_minute = per_minute("WARDGATE_VERIFY_PER_MINUTE", &v)?;
    }
    if let Some(v) = get("WARDGATE_CLOCK_OFFSET_SECONDS") {
        c.clock_offset_seconds = seconds("WARDGATE_CLOCK_OFFSET_SECONDS", &v)?;
    }
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--bind"
            | "--rp-id"
            | "--origin"
            | "--data-dir"
            | "--policy"
            | "--static-dir"
            | "--pkg-dir"
            | "--clock-offset-seconds"
            | "--verify-per-minute" => {
                let value = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .ok_or_else(|| format!("`{flag}` needs a value (see --help)"))?,
                };
                if value.is_empty() {
                    return Err(format!("`{flag}` needs a non-empty value"));
                }
                match flag.as_str() {
                    "--bind" => c.bind = value,
                    "--rp-id" => c.rp_id = value,
                    "--origin" => c.origin = value,
                    "--data-dir" => c.data_dir = PathBuf::from(value),
                    "--policy" => c.policy = PathBuf::from(value),
                    "--static-dir" => c.static_dir = PathBuf::from(value),
                    "--verify-per-minute" => c.verify_per_minute = per_minute(&flag, &value)?,
                    "--clock-offset-seconds" => {
                        c.clock_offset_seconds = seconds(&flag, &value)?;
                    }
                    _ => c.pkg_dir = PathBuf::from(value),
                }
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    Ok(Command::Serve(c))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::unreachable, reason = "tests")]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_win_over_env_over_defaults() {
        let env = |k: &str| (k == "WARDGATE_BIND").then(|| String::from("0.0.0.0:9000"));
        let Command::Serve(c) = parse(args(&[]), env).unwrap() else {
            unreachable!()
        };
        assert_eq!(c.bind, "0.0.0.0:9000");
        assert_eq!(c.rp_id, "localhost");
        let Command::Serve(c) = parse(
            args(&["--bind", "localhost:1", "--rp-id=ward.example"]),
            env,
        )
        .unwrap() else {
            unreachable!()
        };
        assert_eq!(c.bind, "localhost:1");
        assert_eq!(c.rp_id, "ward.example");
    }

    #[test]
    fn help_and_errors() {
        assert_eq!(parse(args(&["--help"]), |_| None).unwrap(), Command::Help);
        assert!(parse(args(&["--bind"]), |_| None).is_err());
        assert!(parse(args(&["--nope"]), |_| None).is_err());
    }
}
