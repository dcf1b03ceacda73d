#!/usr/bin/env node
// Static server for the demo: serves the repository root on 127.0.0.1 with the right MIME
// types (application/wasm for streaming compilation) and COOP/COEP so the page is
// cross-origin isolated (needed if wasm threads are ever used; harmless otherwise).
// Usage: node scripts/serve.mjs [port]   → http://127.0.0.1:PORT/www/
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm',
  '.json': 'application/json', '.css': 'text/css', '.webm': 'video/webm',
  '.mp4': 'video/mp4', '.png': 'image/png', '.svg': 'image/svg+xml',
  '.vqc': 'application/octet-stream', '.ts': 'text/plain; charset=utf-8',
};

/**
 * Serves the repository root on 127.0.0.1. `handle(req, res)` may answer a request itself
 * (return true), as the upload example's server does for POST /upload.
 */
export function serve(listenPort = port, handle = null) {
  const server = createServer(async (req, res) => {
    try {
      if (handle && (await handle(req, res))) return;
      const url = new URL(req.url, 'http://localhost');
      let path = normalize(join(root, decodeURIComponent(url.pathname)));
      if (!path.startsWith(root)) { res.writeHead(403).end(); return; }
      if ((await stat(path)).isDirectory()) path = join(path, 'index.html');
      const body = await readFile(path);
      res.writeHead(200, {
        'Content-Type': types[extname(path)] ?? 'application/octet-stream',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cache-Control': 'no-cache',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((ok) => server.listen(listenPort, '127.0.0.1', () => ok(server)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const server = await serve();
  console.log(`vqcodec demo: http://127.0.0.1:${server.address().port}/www/`);
}
