#!/usr/bin/env bash
# Fuzz every entry point of the core with cargo-fuzz (libFuzzer, nightly toolchain):
# policy parse+evaluate, task context decode+hash, grant decode+verify, cross-tab messages,
# the session state machine under random event sequences (invariants checked every step), and
# RFC 9470 headers. Usage: scripts/fuzz.sh [seconds per target, default 60] [target ...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
secs="${1:-60}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(policy context grant channel session rfc9470)
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
  out=$(cargo +nightly fuzz run -O "$t" -- -max_total_time="$secs" -max_len=16384 2>&1) || { echo "$out" | tail -40; echo "fuzz: $t FAILED"; exit 1; }
  echo "fuzz: $t: $(echo "$out" | grep -E '^Done' | tail -1)"
done
