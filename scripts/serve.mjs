#!/usr/bin/env node
// Static server for the demo: serves the repository root on 127.0.0.1 with the right MIME
// types (application/wasm for streaming compilation), the precompressed .br / .gz of the wasm
// modules and weights where the browser accepts them, byte ranges (HTTP Range: a <video> can
// only seek in a file served with them), and COOP/COEP so the page is cross-origin isolated
// (needed if wasm threads are ever used; harmless otherwise).
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
 * The file to send for `path`: its brotli or gzip sibling (written by scripts/precompress.mjs
 * for the wasm modules and weights) when the browser accepts that encoding and the sibling is
 * not older than the file, as a static host would; else the file itself.
 */
async function precompressed(path, info, accept) {
  for (const [encoding, ext] of [['br', '.br'], ['gzip', '.gz']]) {
    if (!new RegExp(`\\b${encoding}\\b`).test(accept)) continue;
    const sibling = await stat(path + ext).catch(() => null);
    if (sibling?.isFile() && sibling.mtimeMs >= info.mtimeMs) return [encoding, path + ext];
  }
  return [null, path];
}

/**
 * The byte range a `Range: bytes=…` header asks of a `size`-byte file: `[start, end]`
 * (inclusive), 'unsatisfiable', or null to send the whole file (no header, several ranges, or
 * a syntax this server does not serve).
 */
export function byteRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start;
  let end;
  if (m[1] === '') { // the last N bytes
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start >= size || start > end ? 'unsatisfiable' : [start, end];
}

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
      let info = await stat(path);
      if (info.isDirectory()) {
        path = join(path, 'index.html');
        info = await stat(path);
      }
      const [encoding, file] = await precompressed(path, info, req.headers['accept-encoding'] ?? '');
      // revalidation (Cache-Control: no-cache) costs a 304, not the file again: the demo page
      // and the package's worker both load the module
      const etag = `"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}${encoding ? `-${encoding}` : ''}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ETag: etag, Vary: 'Accept-Encoding' }).end();
        return;
      }
      const body = await readFile(file);
      const headers = {
        ETag: etag,
        'Content-Type': types[extname(path)] ?? 'application/octet-stream',
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cache-Control': 'no-cache',
        Vary: 'Accept-Encoding',
        ...(encoding ? { 'Content-Encoding': encoding } : { 'Accept-Ranges': 'bytes' }),
      };
      const range = encoding ? null : byteRange(req.headers.range, body.length);
      if (range === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${body.length}` }).end();
      } else if (range) {
        const [start, end] = range;
        res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${body.length}` });
        res.end(body.subarray(start, end + 1));
      } else {
        res.writeHead(200, headers);
        res.end(body);
      }
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
