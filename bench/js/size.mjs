// §2: what the browser downloads, raw / gzip -9 / brotli (q11), for wardgate's package and the
// two reference packages; the wasm's sections; and, given a wasm with its name section
// (`--named path`, see run.sh), the top items by retained and by shallow size (twiggy) and the
// code size per crate. `node size.mjs [out.json] [--named file.wasm]`
import { readFileSync, writeFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const named = args.includes('--named') ? args[args.indexOf('--named') + 1] : null;
const out = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--named');
const log = (...a) => console.error('[size]', ...a);

function measure(buf) {
  return {
    raw: buf.length,
    gzip9: gzipSync(buf, { level: 9 }).length,
    brotli: brotliCompressSync(buf, { params: {
      [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: buf.length } }).length,
  };
}
const file = (rel) => ({ path: rel, ...measure(readFileSync(join(root, rel))) });
const walk = (dir, pred) => readdirSync(dir).flatMap((n) => {
  const p = join(dir, n);
  return statSync(p).isDirectory() ? walk(p, pred) : pred(p) ? [p] : [];
});
// A group of files: each compressed on its own (as served), summed.
const group = (paths) => {
  const files = paths.map((p) => file(relative(root, p)));
  const sum = (k) => files.reduce((a, f) => a + f[k], 0);
  return { files: files.length, raw: sum('raw'), gzip9: sum('gzip9'), brotli: sum('brotli') };
};

const cedarDir = join(root, 'node_modules/@cedar-policy/cedar-wasm');
const swaDir = join(root, 'node_modules/@simplewebauthn/browser');
const version = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
const snippets = walk(join(root, 'pkg/snippets'), (p) => p.endsWith('.js'));
const result = {
  wardgate: {
    version: version(join(root, 'pkg')),
    wasm: file('pkg/wardgate_bg.wasm'),
    glue: file('pkg/wardgate.js'),
    runtimeTotal: group([join(root, 'pkg/wardgate_bg.wasm'), join(root, 'pkg/wardgate.js'),
      join(root, 'pkg/index.js'), ...snippets]),
    policy: file('pkg-config/policies/clinical-default.json'),
  },
  cedarWasm: {
    version: version(cedarDir),
    wasm: file('node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm_bg.wasm'),
    glue: file('node_modules/@cedar-policy/cedar-wasm/web/cedar_wasm.js'),
  },
  simplewebauthnBrowser: {
    version: version(swaDir),
    note: 'no wasm: plain JS. The minified UMD bundle (what a <script> tag loads) and the ESM build (what a bundler starts from, before minification)',
    bundleMin: file('node_modules/@simplewebauthn/browser/dist/bundle/index.umd.min.js'),
    esmFiles: group(walk(join(swaDir, 'esm'), (p) => p.endsWith('.js'))),
  },
};

// Sections of the shipped wasm.
function sections(buf) {
  const names = ['custom', 'type', 'import', 'function', 'table', 'memory', 'global', 'export',
    'start', 'element', 'code', 'data', 'datacount', 'tag'];
  const leb = (o) => { let r = 0, s = 0, b; do { b = buf[o++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return [r >>> 0, o]; };
  const out = [];
  let o = 8;
  while (o < buf.length) {
    const id = buf[o];
    const [len, start] = leb(o + 1);
    let name = names[id] || `id${id}`;
    if (id === 0) { const [nl, no] = leb(start); name = 'custom:' + buf.subarray(no, no + nl).toString('utf8'); }
    let count;
    if (id === 10 || id === 2 || id === 3 || id === 11) count = leb(start)[0];
    out.push({ section: name, bytes: start - o + len, ...(count !== undefined ? { count } : {}) });
    o = start + len;
  }
  return out;
}
result.wardgate.sections = sections(readFileSync(join(root, 'pkg/wardgate_bg.wasm')));
result.cedarWasm.sections = sections(readFileSync(join(cedarDir, 'web/cedar_wasm_bg.wasm')));

// Items and crates from a build that kept its name section.
if (named && existsSync(named)) {
  const twiggy = (a) => JSON.parse(execFileSync('twiggy', a, { encoding: 'utf8', maxBuffer: 1 << 28 }));
  try {
    const total = statSync(named).size;
    // Roots that only stand for "everything reachable" (the indirect-call table) and the name
    // section itself (not shipped) are left out of the retained list.
    const synthetic = (x) => /^(table|elem)\[/.test(x.name) || x.name.startsWith('"function names"');
    const retained = twiggy(['top', '--retained', '-n', '60', '-f', 'json', named]).filter((x) => !synthetic(x)).slice(0, 15);
    const shallow = twiggy(['top', '-n', '16', '-f', 'json', named]).filter((x) => !synthetic(x)).slice(0, 15);
    const all = twiggy(['top', '-f', 'json', named]);
    // Code bytes per crate (the first path segment of the demangled name), like cargo bloat --crates.
    const crates = {};
    const shipped = total - all.filter((x) => x.name.startsWith('"function names"')).reduce((a, x) => a + x.shallow_size, 0);
    for (const it of all) {
      if (it.name.startsWith('"function names"')) continue;
      const crate = crateOf(it.name);
      crates[crate] = (crates[crate] || 0) + it.shallow_size;
    }
    const crateList = Object.entries(crates).map(([crate, bytes]) => ({ crate, bytes, percent: (100 * bytes) / shipped }))
      .sort((a, b) => b.bytes - a.bytes);
    result.wardgate.named = {
      file: named, bytes: total, bytesWithoutNames: shipped,
      serdeJsonAndPathToError: crateList.filter((c) => ['serde_json', 'serde_path_to_error', 'serde', 'serde_core'].includes(c.crate)).reduce((a, c) => a + c.bytes, 0),
      sections: sections(readFileSync(named)),
      // The same build as pkg/ (a rebuilt src/ would differ): code and data sections equal.
      matchesShipped: ['code', 'data'].every((k) => {
        const a = result.wardgate.sections.find((x) => x.section === k);
        const b = sections(readFileSync(named)).find((x) => x.section === k);
        return a && b && a.bytes === b.bytes;
      }),
      topRetained: retained.map((x) => ({ name: x.name, retained: x.retained_size, retainedPercent: x.retained_size_percent, shallow: x.shallow_size })),
      topShallow: shallow.map((x) => ({ name: x.name, shallow: x.shallow_size, shallowPercent: x.shallow_size_percent })),
      crates: crateList.slice(0, 20),
    };
    log('top retained:', retained.slice(0, 5).map((x) => `${x.name.slice(0, 60)} ${x.retained_size}`).join(' | '));
  } catch (err) {
    result.wardgate.named = { file: named, error: String(err.message || err) };
    log('twiggy failed:', err.message);
  }
} else if (named) {
  result.wardgate.named = { file: named, error: 'missing' };
}

// The crate a (demangled) item belongs to, like `cargo bloat --crates`: a generic's
// instantiation counts for the crate that defines the generic; `<A as B>::f` for A's crate
// (B's when A is a type parameter or a primitive).
function crateOf(name) {
  if (name.startsWith('data segment')) return '(data: .rodata/.data)';
  if (name.startsWith('"function names"') || name.startsWith('custom section')) return '(custom sections)';
  if (/^(table|elem|type|import|export|memory|global)\[/.test(name)) return '(tables, types)';
  const n = name.replace(/\[[0-9a-f]{16}\]/g, '');
  const crate = (t) => {
    const m = t.replace(/^[&*]*(mut |const |dyn )*[\[(]*/, '').match(/^([a-z_][a-z0-9_]*)::/);
    return m ? m[1] : null;
  };
  if (n.startsWith('<')) {
    const inner = n.slice(1);
    const asAt = inner.indexOf(' as ');
    return crate(inner) || (asAt >= 0 ? crate(inner.slice(asAt + 4)) : null) || '(other)';
  }
  return crate(n) || '(no path: exports, wasm-bindgen shims, compiler builtins)';
}

log(`wardgate_bg.wasm ${result.wardgate.wasm.raw} B raw, ${result.wardgate.wasm.gzip9} gzip, ${result.wardgate.wasm.brotli} br; cedar ${result.cedarWasm.wasm.raw} / ${result.cedarWasm.wasm.gzip9} / ${result.cedarWasm.wasm.brotli}`);
if (out) writeFileSync(out, JSON.stringify(result, null, 2));
else console.log(JSON.stringify(result, null, 2));
