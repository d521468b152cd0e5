#!/usr/bin/env bash
# Build the npm package into pkg/: compile the crate for wasm32 (release profile tuned for
# size), generate the JS glue with wasm-bindgen (ESM, --target web), add the package.json,
# the stable `index.js` entry (re-exports the glue and WardgateError), the shipped policies,
# and type-check the .d.ts with tsc --noEmit. Prints the module's size.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/pkg"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

cargo build --lib --release --target wasm32-unknown-unknown --quiet
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" --out-name wardgate --remove-name-section \
  "$target_dir/wasm32-unknown-unknown/release/wardgate.wasm"

errors_js="$(cd "$out" && find snippets -name errors.js | head -n 1)"
[ -n "$errors_js" ] || { echo "build.sh: errors.js snippet not found" >&2; exit 1; }

cat > "$out/index.js" <<JS
// wardgate: the package entry. Initialise once with \`await init()\` (browsers fetch
// wardgate_bg.wasm next to this file) or \`initSync({ module: bytes })\` (node, workers).
export * from './wardgate.js';
export { default } from './wardgate.js';
export { WardgateError } from './${errors_js}';
JS
cat > "$out/index.d.ts" <<TS
export * from './wardgate.js';
export { default } from './wardgate.js';
import type { WardgateErrorCode } from './wardgate.js';
/** The one error class wardgate throws; \`code\` is stable API. */
export declare class WardgateError extends Error {
  readonly name: 'WardgateError';
  readonly code: WardgateErrorCode;
  /** The JSON path of the offending value, when there is one (e.g. \`rules[3].when.actions\`). */
  readonly path?: string;
  /** \`WARDGATE_SERVER\`: the relying party's HTTP status. */
  readonly status?: number;
  /** \`WARDGATE_SERVER\`: the relying party's own error code. */
  readonly serverCode?: string;
  constructor(code: WardgateErrorCode, message: string, path?: string, cause?: unknown);
}
TS
cp "$root/pkg-config/package.json" "$out/package.json"
mkdir -p "$out/policies"
cp "$root"/pkg-config/policies/*.json "$out/policies/"
[ -f "$root/README.md" ] && cp "$root/README.md" "$out/README.md"

# Type-check the generated declarations together with a consumer that uses them strictly.
if [ -x "$root/node_modules/.bin/tsc" ]; then
  "$root/node_modules/.bin/tsc" -p "$root/pkg-config/tsconfig.json"
  echo "build.sh: tsc --noEmit on pkg/index.d.ts: ok"
else
  echo "build.sh: typescript not installed (run npm ci); skipping the .d.ts type-check" >&2
fi

wasm="$out/wardgate_bg.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
glue=$(stat -c %s "$out/wardgate.js")
echo "build.sh: pkg/wardgate_bg.wasm ${raw} bytes raw, ${gz} bytes gzip -9; glue wardgate.js ${glue} bytes"
