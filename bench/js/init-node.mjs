// One cold module initialisation in a fresh node process (V8 caches compiled wasm within a
// process, so each sample needs its own): `node init-node.mjs wardgate|cedar-wasm`.
// Prints JSON: import of the JS glue, read of the .wasm, initSync (compile + instantiate), and
// for wardgate the first policy parse.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const root = new URL('../../', import.meta.url);
const engine = process.argv[2];
const t0 = performance.now();
const mod = engine === 'wardgate'
  ? await import(new URL('pkg/index.js', root))
  : await import(new URL('node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm.js', root));
const t1 = performance.now();
const bytes = readFileSync(new URL(engine === 'wardgate' ? 'pkg/wardgate_bg.wasm'
  : 'node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm', root));
const t2 = performance.now();
mod.initSync({ module: bytes });
const t3 = performance.now();
console.log(JSON.stringify({ engine, importMs: t1 - t0, readMs: t2 - t1, initMs: t3 - t2, totalMs: t3 - t0 }));
