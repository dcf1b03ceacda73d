#!/usr/bin/env node
// Real WebGPU speed of the project's WebGPU wasm module (pkg/vqcodec_bg.wasm): Dawn — the WebGPU
// inside Chromium — under Node on the GPU machine (scripts/device-dawn.sh sets it up and runs
// this there). The module's own API (VqCodec → stream encoder / decoder, as the package's worker
// calls it), synthetic moving frames, medians after warm-up; compare with `vqcodec-lab bench
// --backend wgpu` (native burn-wgpu, the same kernels) on the same machine.
//   node benches/dawn.mjs DAWN_DIR PKG_DIR [models] [sizes]   e.g. lite,base 640x360,1920x1080
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dawnDir, pkgDir, models = 'lite,base', sizes = '640x360,1920x1080'] = process.argv.slice(2);
const { create, globals } = await import(pathToFileURL(join(dawnDir, 'index.js')).href);
Object.assign(globalThis, globals);
globalThis.navigator ??= {}; // Node 21+ has one; Node 20 does not
Object.defineProperty(globalThis.navigator, 'gpu', { value: create([]), configurable: true });
// wgpu's web backend wants a Window (or WorkerGlobalScope) constructor on the global
globalThis.Window ??= class Window {};
const m = await import(pathToFileURL(join(pkgDir, 'vqcodec.js')).href);
m.initSync({ module: readFileSync(join(pkgDir, 'vqcodec_bg.wasm')) });

/** An RGBA frame of a smooth moving pattern with texture: frame `t`. */
function frame(w, h, t) {
  const a = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      const v = Math.sin((x + 2 * t) * 0.05) * Math.cos((y - t) * 0.04);
      a[i] = 128 + 100 * v; a[i + 1] = (x * 7 + y * 3 + t) & 255; a[i + 2] = 128 - 90 * v; a[i + 3] = 255;
    }
  }
  return a;
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const ms = (t) => performance.now() - t;

const adapter = await navigator.gpu.requestAdapter();
console.log(`adapter: ${JSON.stringify({ vendor: adapter?.info?.vendor, architecture: adapter?.info?.architecture, description: adapter?.info?.description, fallback: adapter?.info?.isFallbackAdapter })}`);
console.log('| model | size | encode ms (fps) | encode, search on the device, ms (fps) | decode ms (fps) | model round trip ms |');
console.log('|---|---|---|---|---|---|');
for (const model of models.split(',')) {
  const t0 = performance.now();
  const codec = await m.VqCodec.create('webgpu', model, readFileSync(join(pkgDir, 'weights', `${model}.vqw`)));
  console.error(`${model}: ${codec.backend} (${codec.reason}), created in ${ms(t0).toFixed(0)} ms`);
  for (const size of sizes.split(',')) {
    const [w, h] = size.split('x').map(Number);
    const frames = Array.from({ length: 8 }, (_, t) => frame(w, h, t));
    const enc = await codec.encoder({ width: w, height: h, quality: 80 });
    // the same frames with the choices made on the device (search: 'device')
    const encD = await codec.encoder({ width: w, height: h, quality: 80, search: 'device' });
    const dec = codec.decoder(enc.header);
    const [te, tD, td, tr] = [[], [], [], []];
    for (let k = 0; k < 16; k++) {
      const f = frames[k % frames.length];
      let t = performance.now();
      const c = await enc.encode(f, k === 0);
      const e = ms(t);
      t = performance.now();
      await encD.encode(f, k === 0);
      const eD = ms(t);
      t = performance.now();
      await dec.decode(c.data);
      const d = ms(t);
      t = performance.now();
      (await codec.roundtrip(f, w, h)).free();
      const r = ms(t);
      if (k >= 4) { te.push(e); tD.push(eD); td.push(d); tr.push(r); }
    }
    const [e, eD, d, r] = [median(te), median(tD), median(td), median(tr)];
    console.log(`| ${model} | ${w}×${h} | ${e.toFixed(1)} (${(1000 / e).toFixed(1)}) | ${eD.toFixed(1)} (${(1000 / eD).toFixed(1)}) | ${d.toFixed(1)} (${(1000 / d).toFixed(1)}) | ${r.toFixed(1)} |`);
    enc.free();
    encD.free();
    dec.free();
  }
  codec.free();
}
process.exit(0);
