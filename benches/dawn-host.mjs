#!/usr/bin/env node
// The WebGPU module's host work per frame of a stream decode, on a machine without a GPU: Dawn's
// null device (the `webgpu` npm package, `backend=null`) takes every call and does nothing, so
// what is timed is the module's own work on the host — the symbols path in wasm, the latent's
// upload, the readback's copies into RGBA and into JS, the calls into Dawn — with three decodes
// in flight as benches/dawn.mjs keeps them. The frames are zeros; only the times mean anything,
// and the GPU's own time is not in them (benches/dawn.mjs on the GPU machine has both).
//   npm pack webgpu@0.6.2 && mkdir -p /tmp/webgpu && tar -xzf webgpu-0.6.2.tgz -C /tmp/webgpu
//   vqcodec encode CLIP.y4m -o /tmp/s.vqc --model lite --quality 80
//   node benches/dawn-host.mjs /tmp/webgpu/package PKG_DIR /tmp/s.vqc lite
// PKG_DIR: a package with the WebGPU module (vqcodec.js, vqcodec_bg.wasm), format/ and
// weights/ (scripts/build-wasm.sh's pkg), and where it has cpu/ (the CPU module) the same stream
// with the symbols on a worker thread (benches/symbols-thread.mjs). Prints ms per frame for six
// passes (the first warms up).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bufferRenderer, gpuRenderThread, splitStreamMs, spreadStreamMs, symbolsThread } from './symbols-thread.mjs';
const [dawnDir, pkgDir, streamPath, model] = process.argv.slice(2);
const { create, globals } = await import(pathToFileURL(join(dawnDir, 'index.js')).href);
Object.assign(globalThis, globals);
globalThis.navigator ??= {};
Object.defineProperty(globalThis.navigator, 'gpu', { value: create(['backend=null']), configurable: true });
globalThis.Window ??= class Window {};
const m = await import(pathToFileURL(join(pkgDir, 'vqcodec.js')).href);
m.initSync({ module: readFileSync(join(pkgDir, 'vqcodec_bg.wasm')) });
m.start?.();
const fmt = await import(pathToFileURL(join(pkgDir, 'format', 'vqc.js')).href);
fmt.initSync({ module: readFileSync(join(pkgDir, 'format', 'vqc_bg.wasm')) });
const bytes = new Uint8Array(readFileSync(streamPath));
const l = fmt.layout(bytes);
const header = bytes.subarray(0, l.header.headerLength);
const chunks = l.chunks.map((c) => bytes.subarray(c.start, c.end));
const codec = await m.VqCodec.create('webgpu', model, readFileSync(join(pkgDir, 'weights', `${model}.vqw`)));
const thread = existsSync(join(pkgDir, 'cpu', 'vqcodec_bg.wasm')) ? await symbolsThread(pkgDir, model) : null;
// and with its slices on VQ_SLICE_THREADS (default 3) threads of their own
const sliced = thread ? await symbolsThread(pkgDir, model, Number(process.env.VQ_SLICE_THREADS ?? 3)) : null;
// and its frames on VQ_GPU_THREADS (default 2) threads of their own, each with the WebGPU module and a device
const gpuThreads = sliced ? await Promise.all(Array.from({ length: Number(process.env.VQ_GPU_THREADS ?? 2) },
  () => gpuRenderThread(dawnDir, ['backend=null'], pkgDir, model))) : [];
for (let pass = 0; pass < 6; pass++) {
  const dec = codec.decoder(header);
  const t = performance.now();
  const pending = [];
  for (const c of chunks) { pending.push(dec.decode(c)); if (pending.length >= 3) await pending.shift(); }
  while (pending.length) await pending.shift();
  const whole = (performance.now() - t) / chunks.length;
  dec.free();
  // the same with the symbols on a thread of the CPU module (pkg/cpu), as the package's
  // worker decodes 1280x720 and more
  const apart = thread ? await splitStreamMs(thread, codec, header, chunks, 3, 1) : NaN;
  const slicedMs = sliced ? await splitStreamMs(sliced, codec, header, chunks, 3, 1) : NaN;
  const spreadMs = gpuThreads.length ? await spreadStreamMs(sliced, gpuThreads, header, chunks, 4, 1) : NaN;
  // and its two halves alone: the symbols on the thread, then their frames rendered here
  let halves = '';
  if (thread) {
    thread.open(header);
    let t1 = performance.now();
    const syms = [];
    for (const c of chunks) syms.push(await thread.symbols(c));
    const sym = (performance.now() - t1) / chunks.length;
    // ms a frame of those frames rendered by `r`, 3 in flight
    const framesMs = async (r) => {
      const t2 = performance.now();
      for (const s of syms) { pending.push(r.render(s.latent, s.width, s.height)); if (pending.length >= 3) await pending.shift(); }
      while (pending.length) await pending.shift();
      return (performance.now() - t2) / chunks.length;
    };
    const frames = await framesMs(codec);
    // the same frames read from the module's memory into one buffer (VqCodec.renderFrame,
    // VqFrame.copyTo), where render copies each into a new array
    const viewed = await framesMs(bufferRenderer(codec));
    halves = ` (its symbols alone ${sym.toFixed(2)}, its frames alone ${frames.toFixed(2)}, into one buffer ${viewed.toFixed(2)})`;
  }
  console.log(`pass ${pass}: ${whole.toFixed(2)} ms/frame; symbols on a thread ${apart.toFixed(2)} ms/frame${halves}; its slices on threads too ${slicedMs.toFixed(2)}; its frames on ${gpuThreads.length} threads too, 4 in flight ${spreadMs.toFixed(2)}`);
}
thread?.close();
sliced?.close();
for (const g of gpuThreads) g.close();
