#!/usr/bin/env node
// The integer half of a browser decode in WebAssembly: a stream's chunks read down to their code
// indices and reconstructed latent (`VqStreamDecoder.advance`, the same `Decoder::symbols` the
// WebGPU module runs on its host before each frame's decoder network), in the package's CPU
// module under Node, one thread. Streams come from the CLI (any backend makes the same symbols):
//   vqcodec encode CLIP.y4m -o /tmp/s.vqc --model lite --quality 80
//   node benches/wasm-symbols.mjs /tmp/s.vqc [PKG_DIR…] [--model=lite] [--rounds=5]
// PKG_DIR is a built package (default pkg; the format module is read from the first). Each
// round decodes the whole stream with a fresh decoder; prints ms per frame, the median and the
// least of the rounds after the first, per package.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const [streamPath, ...dirs] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!streamPath) {
  console.error('usage: node benches/wasm-symbols.mjs STREAM.vqc [PKG_DIR…] [--model=lite] [--rounds=5]');
  process.exit(2);
}
const pkgs = (dirs.length ? dirs : ['pkg']).map((p) => resolve(p));
const model = arg('model') ?? 'lite';
const rounds = Number(arg('rounds') ?? 5);
const bytes = new Uint8Array(readFileSync(streamPath));

const fmt = await import(pathToFileURL(join(pkgs[0], 'format', 'vqc.js')).href);
fmt.initSync({ module: readFileSync(join(pkgs[0], 'format', 'vqc_bg.wasm')) });
const layout = fmt.layout(bytes);
const header = bytes.subarray(0, layout.header.headerLength);
const chunks = layout.chunks.map((c) => bytes.subarray(c.start, c.end));
console.log(`${streamPath}: ${layout.header.width}x${layout.header.height}, ${chunks.length} chunks, ${bytes.length} bytes; model ${model}`);

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
for (const dir of pkgs) {
  const m = await import(pathToFileURL(join(dir, 'cpu', 'vqcodec.js')).href);
  m.initSync({ module: readFileSync(join(dir, 'cpu', 'vqcodec_bg.wasm')) });
  m.start?.();
  const codec = await m.VqCodec.create('cpu', model, readFileSync(join(dir, 'weights', `${model}.vqw`)));
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const dec = codec.decoder(header);
    const t = performance.now();
    for (const c of chunks) dec.advance(c);
    if (r > 0) times.push((performance.now() - t) / chunks.length);
    dec.free();
  }
  console.log(`${dir}: symbols ${median(times).toFixed(2)} ms/frame median (least ${Math.min(...times).toFixed(2)}) over ${times.length} rounds`);
}
