#!/usr/bin/env bash
# Issue 5 §1-§3 benchmarks and the native core benches, in one command:
#
#   bash bench/run.sh            # the full run (about 3.5 minutes on 2 cores, warm caches)
#   bash bench/run.sh --quick    # fewer samples, for a smoke test (about 2 minutes)
#
# Installs what is missing (npm packages from package-lock.json, pkg/ via pkg-config/build.sh,
# twiggy if cargo can install it in time), then runs, in order: decision speed in node and in
# headless Chromium (§1), start-up and continuity in Chromium (§3), size (§2), the criterion
# benches (benches/core.rs), the shift simulator and its chart (§4, bench/shift.svg), and writes
# bench/results.json and bench/RESULTS.md.
# Cargo uses $CARGO_TARGET_DIR (default: target/). Parts land in bench/js/out/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=""
[ "${1:-}" = "--quick" ] && quick="--quick"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
out="$root/bench/js/out"
mkdir -p "$out"
rm -f "$out"/*.json
start=$(date +%s)
step() { echo "== bench: $* ($(( $(date +%s) - start )) s)" >&2; }

step "setup"
if [ ! -d node_modules/@cedar-policy/cedar-wasm ] || [ ! -d node_modules/@simplewebauthn/browser ] \
   || [ ! -d node_modules/playwright-core ]; then
  npm install --no-audit --no-fund
fi
if [ ! -f pkg/wardgate_bg.wasm ] || [ ! -f pkg/index.js ]; then
  bash pkg-config/build.sh
fi
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "bench: $chromium is missing (apt-get install chromium); playwright never downloads a browser here" >&2
  exit 1
fi

step "§1 decision speed, node"
node bench/js/decide-node.mjs "$out/decide-node.json" $quick
step "§1 decision speed, headless Chromium"
node bench/js/decide-browser.mjs "$out/decide-browser.json" $quick
step "§3 start-up, cross-tab, ceremony (headless Chromium)"
node bench/js/startup.mjs "$out/startup.json" $quick

step "§2 size"
# A build that keeps the wasm name section (same profile as pkg-config/build.sh, then
# wasm-bindgen without --remove-name-section), for twiggy.
named="$CARGO_TARGET_DIR/wasm-named"
named_args=()
if cargo build --lib --release --target wasm32-unknown-unknown --quiet \
   && wasm-bindgen --target web --out-dir "$named" --out-name wardgate \
        "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/wardgate.wasm"; then
  if ! command -v twiggy >/dev/null; then
    timeout 300 cargo install --locked twiggy --quiet || echo "bench: twiggy could not be installed" >&2
  fi
  if command -v twiggy >/dev/null; then named_args=(--named "$named/wardgate_bg.wasm"); fi
fi
node bench/js/size.mjs "$out/size.json" "${named_args[@]}"

step "native core benches (criterion)"
rm -rf "$CARGO_TARGET_DIR/criterion"
cargo bench --bench core -- --quick >"$out/criterion.log" 2>&1 || { cat "$out/criterion.log" >&2; exit 1; }
node bench/js/criterion.mjs "$CARGO_TARGET_DIR/criterion" "$out/criterion.json"

# ---- shift simulator (issue 5 §4, sim/) ------------------------------------------------------
step "§4 shift simulator (5 traces, 3 strategies) and its chart"
cargo build --release -q -p wardgate-sim
sim="$CARGO_TARGET_DIR/release/wardgate-sim"
"$sim" run --json bench/traces/*.jsonl >"$out/simulator-raw.json"
"$sim" chart --out bench/shift.svg bench/traces/shift-1.jsonl
node bench/js/simulator.mjs "$out/simulator-raw.json" "$out/simulator.json"
# ---- end of HOOK -----------------------------------------------------------------------------

step "report"
node bench/js/report.mjs "$out"
step "done"
