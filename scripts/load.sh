#!/usr/bin/env bash
# Load and crash drill of the reference server (issue 6), one JSON line per phase:
#   1. load: N clinicians doing EPCS step-ups (options → verify → protected call → audit) for
#      S seconds: verifications per second, p50/p99, errors, nothing acknowledged lost;
#   2. crash: the same load, the server SIGKILLed mid-run and restarted on the same data dir:
#      clients retry, and no credential, prescription or acknowledged audit event is lost.
# `bash scripts/load.sh` (release build, 16 clinicians, 30 s) or `--ci` (debug build, short).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
clinicians=16 seconds=30 kill_at=12 profile=release
if [ "${1:-}" = "--ci" ]; then clinicians=6 seconds=10 kill_at=4 profile=debug; fi
if [ "$profile" = release ]; then
  cargo build --release -p wardgate-server --bin wardgate-server --example load
else
  cargo build -p wardgate-server --bin wardgate-server --example load
fi
server="$target/$profile/wardgate-server"
load="$target/$profile/examples/load"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://localhost:$port"
data="$(mktemp -d)"
pid=""
start_server() {
  "$server" --bind "localhost:$port" --origin "$base" --data-dir "$data" \
    --verify-per-minute 1000000 --static-dir "$root/www/portal" --pkg-dir "$root/pkg" 2>>"$data/server.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "$base/api/policy" >/dev/null && return 0; sleep 0.1; done
  echo "load.sh: the server did not start" >&2; cat "$data/server.log" >&2; exit 1
}
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap stop EXIT

start_server
result=$("$load" --base "$base" --clinicians "$clinicians" --seconds "$seconds" --data-dir "$data" --run load)
echo "load: $result"
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); d = r["durability"]
bad = r["errors"] or d["auditEventsLost"] or d["prescriptionsLost"] or d["credentialsLost"] or not r["verifications"]
sys.exit(f"load.sh: load phase failed: {r}" if bad else 0)
PY

"$load" --base "$base" --clinicians "$clinicians" --seconds "$seconds" --data-dir "$data" --run crash >"$data/crash.json" &
client=$!
sleep "$kill_at"
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
echo "crash: wardgate-server SIGKILLed after ${kill_at} s; restarting on the same data dir"
sleep 1
start_server
wait "$client"
# The clients check the database (read-only, beside the restarted server) after the run.
echo "crash: $(cat "$data/crash.json")"
python3 - "$(cat "$data/crash.json")" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); d = r["durability"]
if d["auditEventsLost"] or d["prescriptionsLost"] or d["credentialsLost"]:
    sys.exit(f"load.sh: something acknowledged was lost across the crash: {d}")
if not r["retriesWhileDown"] or not r["verifications"]:
    sys.exit(f"load.sh: the drill did not cross a crash or the clients did not recover: {r}")
PY
