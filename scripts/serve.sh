#!/usr/bin/env bash
# One command for the demo: install what is missing, build the npm package (pkg/), build the
# reference server and start it with the ward portal at http://localhost:8080 (data in ./data).
# Extra arguments go to wardgate-server (see `--help`), e.g. `--bind localhost:9000
# --origin http://localhost:9000`. Ctrl-C stops it; nothing is lost (SQLite WAL).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash pkg-config/build.sh
cargo build -p wardgate-server
exec "${CARGO_TARGET_DIR:-$root/target}/debug/wardgate-server" "$@"
