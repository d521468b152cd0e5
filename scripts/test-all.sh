#!/usr/bin/env bash
# Every test wardgate has: formatting, clippy (native and wasm32), native unit + integration +
# property tests, the npm package build with its .d.ts type-check, wasm-bindgen-test suites in
# node and in headless Chromium, and the node tests of the built package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

# Keep a copy of everything printed, to add up the tests at the end.
log="$(mktemp)"
exec > >(tee "$log") 2>&1

step() { printf '\n==== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (native, all targets, server feature)"
cargo clippy --all-targets --features server -- -D warnings
step "clippy (wasm32)"
cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
step "clippy (reference server, shift simulator)"
cargo clippy -p wardgate-server -p wardgate-sim --all-targets -- -D warnings

step "core purity: no web-sys, js-sys or wasm-bindgen in the core"
if grep -rnE "web_sys|js_sys|wasm_bindgen" src/policy src/task src/grant src/session src/audit; then
  echo "the core must not import browser crates" >&2; exit 1
fi

step "native tests (cargo test --features server)"
cargo test --features server

step "reference server tests (cargo test -p wardgate-server)"
cargo test -p wardgate-server

step "ward-shift simulator tests (cargo test -p wardgate-sim)"
cargo test -p wardgate-sim

step "reference server load and SIGKILL drill (short; scripts/load.sh for the long run)"
bash scripts/load.sh --ci

step "fuzzing, short (10 s per target; scripts/fuzz.sh 60 is the documented run)"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  bash scripts/fuzz.sh 10
else
  echo "skipped: cargo-fuzz needs the nightly toolchain, which this machine lacks"
fi

step "npm package build (pkg/) and .d.ts type-check"
bash pkg-config/build.sh

step "node tests of the built package"
node --test tests/js/

export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
wasm_tests=(--test decision_table --test task_vectors --test policy_parse)
browser_tests=(--test browser_ceremony --test browser_continuity --test browser_transport)
step "wasm-bindgen-test in node"
cargo test --target wasm32-unknown-unknown "${wasm_tests[@]}"
step "wasm-bindgen-test in headless Chromium"
WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test --target wasm32-unknown-unknown "${wasm_tests[@]}" "${browser_tests[@]}"

step "end-to-end: reference server + demo portal + passkeys in headless Chromium (tests/e2e)"
cargo build -p wardgate-server
node --test --test-concurrency=1 tests/e2e/

# Chromium leaves profile folders behind (~5 MB a launch).
rm -rf /tmp/org.chromium.Chromium.* 2>/dev/null || true

step "summary"
# cargo's and node's own counts, added up into one plain closing line.
passed=$(awk '/^test result:/ {for (i=1;i<=NF;i++) if ($i ~ /^passed;?$/) s+=$(i-1)} /^# pass / {s+=$3} END {print s+0}' "$log")
failed=$(awk '/^test result:/ {for (i=1;i<=NF;i++) if ($i ~ /^failed;?$/) s+=$(i-1)} /^# fail / {s+=$3} END {print s+0}' "$log")
rm -f "$log"
echo "wardgate: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
