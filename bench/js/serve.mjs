// A small static server (node:http) for the Chromium benchmarks: serves pkg/, the engines'
// npm packages and bench/js/ from the repository root at http://localhost:PORT, cross-origin
// isolated (COOP/COEP, so performance.now() has 5 µs rather than 100 µs resolution), with
// `Cache-Control: max-age` so a fresh page gets the files from the HTTP cache.
// Standalone: `node serve.mjs [port]`.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, normalize, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ALLOWED = ['pkg/', 'bench/js/', 'node_modules/@cedar-policy/', 'node_modules/@simplewebauthn/', 'pkg-config/policies/'];
const TYPES = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.html': 'text/html; charset=utf-8', '.cedar': 'text/plain',
  '.cedarschema': 'text/plain', '.map': 'application/json',
};

/** Start on `port` (0: any free one). `routes` maps a path to a handler (req, res, body). */
export async function startServer({ port = 0, routes = {} } = {}) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    };
    if (path === '/favicon.ico' && !routes[path]) {
      res.writeHead(204, headers);
      return res.end();
    }
    if (routes[path]) {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      return routes[path](req, res, Buffer.concat(chunks).toString('utf8'), headers);
    }
    const rel = normalize(path).replace(/^\/+/, '');
    if (rel.includes('..') || !ALLOWED.some((p) => rel.startsWith(p))) {
      res.writeHead(404, headers);
      return res.end('not found');
    }
    try {
      const body = await readFile(join(ROOT, rel));
      res.writeHead(200, {
        ...headers,
        'Content-Type': TYPES[extname(rel)] || 'application/octet-stream',
        'Content-Length': body.length,
        'Cache-Control': 'max-age=3600',
      });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end('not found');
    }
  });
  await new Promise((r) => server.listen(port, 'localhost', r));
  const { port: actual } = server.address();
  return { server, url: `http://localhost:${actual}`, close: () => new Promise((r) => server.close(r)) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = await startServer({ port: Number(process.argv[2] || 8099) });
  console.log(`serving ${ROOT} at ${s.url}`);
}
