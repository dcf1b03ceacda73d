#!/usr/bin/env node
// The upload example's server: serves the repository (so the page can import pkg/) and takes
// POST /upload, a .vqc stream, which it checks and decodes with the native CLI.
//   node examples/upload/server.mjs [port]   → http://127.0.0.1:PORT/examples/upload/
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { serve } from '../../scripts/serve.mjs';

const run = promisify(execFile);
const MAX_BYTES = 64 << 20;
const bin = process.env.VQCODEC ?? join(process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/vqcodec/target'), 'release', 'vqcodec');

async function body(req) {
  const parts = [];
  let n = 0;
  for await (const part of req) {
    n += part.length;
    if (n > MAX_BYTES) throw new Error('upload too large');
    parts.push(part);
  }
  return Buffer.concat(parts);
}

export async function handleUpload(req, res) {
  if (req.method !== 'POST' || new URL(req.url, 'http://x').pathname !== '/upload') return false;
  const dir = mkdtempSync(join(tmpdir(), 'vqc-upload-'));
  const reply = (status, obj) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(obj));
  try {
    const bytes = await body(req);
    const path = join(dir, 'upload.vqc');
    writeFileSync(path, bytes);
    const info = JSON.parse((await run(bin, ['info', '--json', path])).stdout);
    const dec = await run(bin, ['decode', path, '-o', join(dir, 'upload.y4m'), '--backend', 'cpu', '-q']);
    reply(200, { ok: true, bytes: bytes.length, frames: info.chunks.length, width: info.header.width,
      height: info.header.height, bpp: info.bpp, decoded: dec.stdout.trim() });
  } catch (e) {
    reply(400, { ok: false, error: String(e.stderr || e.message || e).trim() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8081), handleUpload);
  console.log(`upload example: http://127.0.0.1:${server.address().port}/examples/upload/`);
}
