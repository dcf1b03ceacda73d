#!/usr/bin/env node
// Writes FILE.br (brotli, quality 11) and FILE.gz (gzip -9) beside each FILE given, as a static
// host or CDN would serve them, and prints the sizes as JSON lines: {file, raw, gzip, brotli}.
// scripts/serve.mjs sends these to browsers that accept them.
//   node scripts/precompress.mjs pkg/vqcodec_bg.wasm pkg/weights/lite.vqw …
import { readFileSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

for (const file of process.argv.slice(2)) {
  const raw = readFileSync(file);
  const br = brotliCompressSync(raw, { params: {
    [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(`${file}.br`, br);
  writeFileSync(`${file}.gz`, gz);
  console.log(JSON.stringify({ file, raw: raw.length, gzip: gz.length, brotli: br.length }));
}
