#!/usr/bin/env node
// Real WebGPU speed of the project's WebGPU wasm module (pkg/vqcodec_bg.wasm): Dawn — the WebGPU
// inside Chromium — under Node on the GPU machine (scripts/device-dawn.sh sets it up and runs
// this there). The module's own API (VqCodec → stream encoder / decoder, as the package's worker
// calls it), synthetic moving frames, medians after warm-up; compare with `vqcodec-lab bench
// --backend wgpu` (native burn-wgpu, the same kernels) on the same machine.
//   node benches/dawn.mjs DAWN_DIR PKG_DIR [models] [sizes]   e.g. lite,base 640x360,1920x1080
// Profiling mode (opt-in, scripts/device-dawn-profile.sh): VQ_DAWN_PROFILE=DIR runs the cases of
// VQ_DAWN_CASES instead (default lite:640x360:encode,lite:640x360:decode,lite:640x360:roundtrip,
// base:1920x1080:decode; kinds encode, encode-device, decode, roundtrip), each after
// VQ_DAWN_WARMUP (4) frames in three phases of VQ_DAWN_FRAMES (8) frames: plain timing; every
// call into Dawn counted and timed (counting wrappers on the GPU* prototypes), every call from
// the wasm module into its JS imports and from JS into its exports counted; a V8 CPU profile
// (inspector, sampling every VQ_DAWN_INTERVAL_US, 100 µs) written to DIR/CASE.cpuprofile.
// DIR/counts.json holds the counts; scripts/cpuprofile-summary.mjs reads both. (For a quick
// check where there is no GPU: VQ_DAWN_FLAGS=backend=null, Dawn's null device; no numbers.)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bufferRenderer, gpuRenderThread, medianAfterFirst, splitStreamMs, spreadStreamMs, symbolsThread } from './symbols-thread.mjs';

const [dawnDir, pkgDir, models = 'lite,base', sizes = '640x360,1920x1080'] = process.argv.slice(2);
const { create, globals } = await import(pathToFileURL(join(dawnDir, 'index.js')).href);
Object.assign(globalThis, globals);
globalThis.navigator ??= {}; // Node 21+ has one; Node 20 does not
// VQ_DAWN_FLAGS: Dawn's create() flags, comma-separated (e.g. backend=null to test the script
// where there is no GPU: nothing runs on a device then, the numbers mean nothing)
const dawnFlags = (process.env.VQ_DAWN_FLAGS ?? '').split(',').filter(Boolean);
Object.defineProperty(globalThis.navigator, 'gpu', { value: create(dawnFlags), configurable: true });
// wgpu's web backend wants a Window (or WorkerGlobalScope) constructor on the global
globalThis.Window ??= class Window {};
const profDir = process.env.VQ_DAWN_PROFILE;
const prof = profDir ? instrument(globals) : null;
const m = await import(pathToFileURL(join(pkgDir, 'vqcodec.js')).href);
m.initSync({ module: readFileSync(join(pkgDir, 'vqcodec_bg.wasm')) });
if (prof) prof.restoreInstance();

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
if (prof) {
  await profile(prof);
  process.exit(0);
}
// K decodes in flight: the API reads a chunk's symbols when it is called and returns a promise
// of the frame, so a caller that awaits frames in order while it passes the next chunks keeps
// the device busy during the readbacks and the symbols of the frames after (a file's or a
// player's throughput, as `vqcodec decode` overlaps natively); the 16 chunks, VQ_DAWN_PASSES
// (default 3) times, from a new decoder each time, the median of the passes after the first
// timed (the same in every stream column: a single 16-frame pass moves by a tenth from run to run)
const IN_FLIGHT = Number(process.env.VQ_DAWN_IN_FLIGHT ?? 3);
const PASSES = Number(process.env.VQ_DAWN_PASSES ?? 3);
async function streamMs(codec, header, chunks, k) {
  const times = [];
  for (let pass = 0; pass < PASSES; pass++) {
    const dec = codec.decoder(header);
    const t = performance.now();
    const pending = [];
    for (const c of chunks) {
      pending.push(dec.decode(c));
      if (pending.length >= k) await pending.shift();
    }
    while (pending.length) await pending.shift();
    times.push(ms(t) / chunks.length);
    dec.free();
  }
  return medianAfterFirst(times);
}
// where PKG_DIR has the CPU module (cpu/), the stream again with its symbols on a worker thread
// of that module, as the package's worker decodes 1280x720 and more (benches/symbols-thread.mjs),
// and again with that thread's slices read on VQ_SLICE_THREADS (3) threads of their own, as the
// package's symbols worker reads them by default on six cores or more
const withThread = existsSync(join(pkgDir, 'cpu', 'vqcodec_bg.wasm'));
const SLICE_THREADS = Number(process.env.VQ_SLICE_THREADS ?? 3);
// and again with each frame read from the module's memory into one buffer (VqCodec.renderFrame,
// VqFrame.copyTo: what a VideoFrame made of its view would cost), not copied into a new array;
// and, a lab experiment the package does not do (yet): those frames rendered on VQ_GPU_THREADS (2)
// threads of their own, each with the WebGPU module, the model and its own device, round robin,
// VQ_GPU_IN_FLIGHT (4) decodes in flight in all
const GPU_THREADS = Number(process.env.VQ_GPU_THREADS ?? 2);
const GPU_IN_FLIGHT = Number(process.env.VQ_GPU_IN_FLIGHT ?? 4);
console.log(`| model | size | encode ms (fps) | encode, search on the device, ms (fps) | decode ms (fps) | the stream, 1 / ${IN_FLIGHT} decodes in flight, ms per frame (fps) | ${IN_FLIGHT} in flight, symbols on a thread, ms per frame (fps) | the same, its slices on ${SLICE_THREADS} threads (fps) | the same, its frames read into one buffer (fps) | the same, its frames on ${GPU_THREADS} threads, ${GPU_IN_FLIGHT} in flight (fps) | model round trip ms |`);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const model of models.split(',')) {
  const t0 = performance.now();
  const codec = await m.VqCodec.create('webgpu', model, readFileSync(join(pkgDir, 'weights', `${model}.vqw`)));
  console.error(`${model}: ${codec.backend} (${codec.reason}), created in ${ms(t0).toFixed(0)} ms`);
  const thread = withThread ? await symbolsThread(pkgDir, model) : null;
  const sliced = withThread ? await symbolsThread(pkgDir, model, SLICE_THREADS) : null;
  const gpuThreads = withThread && GPU_THREADS > 0 ? await Promise.all(Array.from({ length: GPU_THREADS },
    () => gpuRenderThread(dawnDir, dawnFlags, pkgDir, model))) : [];
  for (const size of sizes.split(',')) {
    const [w, h] = size.split('x').map(Number);
    const frames = Array.from({ length: 8 }, (_, t) => frame(w, h, t));
    const enc = await codec.encoder({ width: w, height: h, quality: 80 });
    // the same frames with the choices made on the device (search: 'device')
    const encD = await codec.encoder({ width: w, height: h, quality: 80, search: 'device' });
    const dec = codec.decoder(enc.header);
    const [te, tD, td, tr] = [[], [], [], []];
    const chunks = [];
    for (let k = 0; k < 16; k++) {
      const f = frames[k % frames.length];
      let t = performance.now();
      const c = await enc.encode(f, k === 0);
      const e = ms(t);
      chunks.push(c.data);
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
    const [s1, sk] = [await streamMs(codec, enc.header, chunks, 1), await streamMs(codec, enc.header, chunks, IN_FLIGHT)];
    const st = thread ? await splitStreamMs(thread, codec, enc.header, chunks, IN_FLIGHT, PASSES) : NaN;
    const ss = sliced ? await splitStreamMs(sliced, codec, enc.header, chunks, IN_FLIGHT, PASSES) : NaN;
    const sv = sliced ? await spreadStreamMs(sliced, [bufferRenderer(codec)], enc.header, chunks, IN_FLIGHT, PASSES) : NaN;
    const sg = gpuThreads.length ? await spreadStreamMs(sliced, gpuThreads, enc.header, chunks, GPU_IN_FLIGHT, PASSES) : NaN;
    const fps = (x) => `${x.toFixed(1)} (${(1000 / x).toFixed(1)})`;
    console.log(`| ${model} | ${w}×${h} | ${fps(e)} | ${fps(eD)} | ${fps(d)} | ${fps(s1)} / ${fps(sk)} | ${fps(st)} | ${fps(ss)} | ${fps(sv)} | ${fps(sg)} | ${r.toFixed(1)} |`);
    enc.free();
    encD.free();
    dec.free();
  }
  thread?.close();
  sliced?.close();
  for (const g of gpuThreads) g.close();
  codec.free();
}
process.exit(0);

// ---- profiling mode (VQ_DAWN_PROFILE) ----

/** Counting wrappers: every method of Dawn's GPU* prototypes (installed or removed as a whole;
 * each a function named `GPUClass$method`, so a CPU profile attributes the native call to it),
 * and every JS import and export of the wasm module (counted by name; installed once, at
 * instantiation). */
function instrument(globals) {
  const gpu = new Map(); // 'GPUQueue.submit' -> {n, ms, lat, bytes}
  const imports = new Map(); // import name -> count
  const exportsCount = new Map(); // export name -> count (calls from JS into the module)
  let rawExports = null;
  let counting = false;
  const now = () => performance.now();
  const stat = (k) => {
    let v = gpu.get(k);
    if (!v) gpu.set(k, (v = { n: 0, ms: 0, lat: 0, latN: 0, bytes: 0 }));
    return v;
  };
  const sizeOf = (k, args, ret) => {
    if (k === 'GPUQueue.writeBuffer') {
      const d = args[2];
      const el = d?.BYTES_PER_ELEMENT ?? 1;
      return args[4] !== undefined ? args[4] * el : (d?.byteLength ?? 0) - (args[3] ?? 0) * el;
    }
    if (k === 'GPUBuffer.getMappedRange') return ret?.byteLength ?? 0;
    if (k === 'GPUDevice.createBuffer') return args[0]?.size ?? 0;
    if (k === 'GPUCommandEncoder.copyBufferToBuffer') return args.length >= 5 ? args[4] : (args[2] ?? 0);
    return 0;
  };
  const call = (f, k, self, args) => {
    if (!counting) return f.apply(self, args);
    const t = now();
    const r = f.apply(self, args);
    const s = stat(k);
    s.n++;
    s.ms += now() - t;
    s.bytes += sizeOf(k, args, r);
    if (r && typeof r.then === 'function') {
      r.then(() => { s.lat += now() - t; s.latN++; }, () => {});
    }
    return r;
  };
  const originals = [];
  for (const [cls, C] of Object.entries(globals)) {
    if (!cls.startsWith('GPU') || typeof C !== 'function' || !C.prototype) continue;
    for (const name of Object.getOwnPropertyNames(C.prototype)) {
      const d = Object.getOwnPropertyDescriptor(C.prototype, name);
      if (name === 'constructor' || typeof d.value !== 'function' || !d.writable) continue;
      const f = d.value;
      const k = `${cls}.${name}`;
      // a real function name (GPUDevice$createBindGroup), which the profiler shows
      const w = new Function('call', 'f', 'k', `return function ${cls}$${name}(...args) { return call(f, k, this, args); }`)(call, f, k);
      originals.push([C.prototype, name, f, w]);
    }
  }
  const install = () => { for (const [p, n, , w] of originals) p[n] = w; };
  const uninstall = () => { for (const [p, n, f] of originals) p[n] = f; };
  install();
  // the wasm-bindgen glue instantiates with `new WebAssembly.Instance(module, imports)`
  const Instance = WebAssembly.Instance;
  function CountingInstance(module, imps) {
    const wrapped = {};
    for (const [ns, obj] of Object.entries(imps ?? {})) {
      wrapped[ns] = {};
      for (const [name, f] of Object.entries(obj)) {
        if (typeof f !== 'function') { wrapped[ns][name] = f; continue; }
        const c = { n: 0 };
        imports.set(name, c);
        wrapped[ns][name] = function () {
          c.n++;
          return f.apply(this, arguments);
        };
      }
    }
    // the exports too: the glue reads `instance.exports` once, so it gets counting wrappers
    const inst = new Instance(module, wrapped);
    rawExports = inst.exports;
    const ex = {};
    for (const [name, f] of Object.entries(inst.exports)) {
      if (typeof f !== 'function') { ex[name] = f; continue; }
      const c = { n: 0 };
      exportsCount.set(name, c);
      ex[name] = function () {
        c.n++;
        return f.apply(this, arguments);
      };
    }
    return Object.defineProperty(Object.create(Instance.prototype), 'exports', { value: ex, enumerable: true });
  }
  CountingInstance.prototype = Instance.prototype;
  WebAssembly.Instance = CountingInstance;
  return {
    gpu, imports, install, uninstall,
    restoreInstance: () => { WebAssembly.Instance = Instance; },
    setCounting: (on) => { counting = on; },
    reset: () => { gpu.clear(); for (const c of [...imports.values(), ...exportsCount.values()]) c.n = 0; },
    /** µs per call of the cheapest exports there are, the externref table's slot alloc and
     * free (a pair per call, halved): where wasm-ld wrapped the exports as `.command_export`
     * (each runs `__wasm_call_ctors` first), about what that wrapper costs per export call. */
    exportCallUs() {
      const e = rawExports ?? {};
      const alloc = Object.keys(e).find((k) => k.startsWith('__externref_table_alloc'));
      const free = Object.keys(e).find((k) => k.startsWith('__externref_table_dealloc'));
      if (!alloc || !free) return null;
      const pair = () => e[free](e[alloc]());
      for (let i = 0; i < 200; i++) pair();
      const t = now();
      for (let i = 0; i < 2000; i++) pair();
      return { us: (1000 * (now() - t)) / 4000, alloc, free };
    },
    snapshot(frames) {
      const g = {};
      for (const [k, v] of [...gpu].sort((a, b) => b[1].ms - a[1].ms)) {
        g[k] = { perFrame: v.n / frames, msPerFrame: v.ms / frames, usPerCall: (1000 * v.ms) / v.n,
          bytesPerFrame: v.bytes / frames, awaitMsPerCall: v.latN ? v.lat / v.latN : undefined };
      }
      const im = {};
      let total = 0;
      for (const [k, v] of [...imports].sort((a, b) => b[1].n - a[1].n)) {
        total += v.n;
        if (v.n) im[k] = v.n / frames;
      }
      const ex = {};
      let exTotal = 0;
      for (const [k, v] of [...exportsCount].sort((a, b) => b[1].n - a[1].n)) {
        exTotal += v.n;
        if (v.n) ex[k] = v.n / frames;
      }
      return { gpu: g, importCallsPerFrame: total / frames, imports: im, exportCallsPerFrame: exTotal / frames, exports: ex };
    },
  };
}

async function profile(prof) {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { Session } = await import('node:inspector/promises');
  mkdirSync(profDir, { recursive: true });
  const cases = (process.env.VQ_DAWN_CASES ??
    'lite:640x360:encode,lite:640x360:decode,lite:640x360:roundtrip,base:1920x1080:decode').split(',');
  const warm = Number(process.env.VQ_DAWN_WARMUP ?? 4);
  const n = Number(process.env.VQ_DAWN_FRAMES ?? 8);
  const interval = Number(process.env.VQ_DAWN_INTERVAL_US ?? 100);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval });
  const exportCall = prof.exportCallUs();
  console.log(exportCall === null ? 'no externref table exports to time' :
    `${exportCall.alloc} + ${exportCall.free}: ${exportCall.us.toFixed(2)} µs per export call`);
  const codecs = new Map();
  const codecFor = async (model) => {
    if (!codecs.has(model)) {
      codecs.set(model, await m.VqCodec.create('webgpu', model, readFileSync(join(pkgDir, 'weights', `${model}.vqw`))));
    }
    return codecs.get(model);
  };
  const total = warm + 3 * n;
  const results = {};
  const gc = () => globalThis.gc?.();
  for (const c of cases) {
    try {
      await profileCase(c);
    } catch (e) {
      console.log(`${c}: failed: ${e?.message ?? e}`);
      prof.setCounting(false);
      await session.post('Profiler.stop').catch(() => {});
      results[c] = { error: String(e?.message ?? e) };
    }
  }
  for (const codec of codecs.values()) codec.free();
  await session.post('Profiler.disable');
  session.disconnect();

  async function profileCase(c) {
    const [model, size, kind] = c.split(':');
    const [w, h] = size.split('x').map(Number);
    const codec = await codecFor(model);
    const frames = Array.from({ length: 8 }, (_, t) => frame(w, h, t));
    let step;
    let lastPsnr = null; // the round trip's PSNR-Y of the last frame: a check on the module
    let cleanup = () => {};
    if (kind === 'encode' || kind === 'encode-device') {
      const enc = await codec.encoder({ width: w, height: h, quality: 80, ...(kind === 'encode-device' ? { search: 'device' } : {}) });
      step = async (k) => { await enc.encode(frames[k % frames.length], k === 0); };
      cleanup = () => enc.free();
    } else if (kind === 'decode') {
      // the stream to decode: `total` frames, made first (base 1080p with the device's search, faster)
      const stream = async (options) => {
        const t0 = performance.now();
        const enc = await codec.encoder({ width: w, height: h, quality: 80, ...options });
        try {
          const chunks = [];
          for (let k = 0; k < total; k++) chunks.push((await enc.encode(frames[k % frames.length], k === 0)).data);
          console.error(`${c}: ${total} chunks (${chunks.reduce((a, b) => a + b.length, 0)} bytes, ` +
            `search ${options.search ?? 'host'}) encoded in ${ms(t0).toFixed(0)} ms`);
          return { chunks, header: enc.header };
        } finally {
          enc.free();
        }
      };
      let made;
      try {
        made = await stream(w * h > 640 * 360 ? { search: 'device' } : {});
      } catch (e) {
        console.error(`${c}: ${e?.message ?? e}; the host's search instead`);
        made = await stream({});
      }
      const { chunks } = made;
      const dec = codec.decoder(made.header);
      step = async (k) => { await dec.decode(chunks[k]); };
      cleanup = () => dec.free();
    } else if (kind === 'roundtrip') {
      step = async (k) => {
        const r = await codec.roundtrip(frames[k % frames.length], w, h);
        lastPsnr = r.psnrY;
        r.free();
      };
    } else {
      throw new Error(`unknown case kind ${kind}`);
    }
    let k = 0;
    prof.uninstall();
    for (; k < warm; k++) await step(k);
    // phase A: plain (no wrappers on the GPU prototypes; the import counters stay, they are one
    // increment per call)
    const tA = [];
    gc();
    for (let i = 0; i < n; i++, k++) { const t = performance.now(); await step(k); tA.push(ms(t)); }
    // phase B: every call into Dawn counted and timed
    prof.install();
    prof.reset();
    prof.setCounting(true);
    const tB = [];
    gc();
    const tB0 = performance.now();
    for (let i = 0; i < n; i++, k++) { const t = performance.now(); await step(k); tB.push(ms(t)); }
    const wallB = ms(tB0);
    prof.setCounting(false);
    const counts = prof.snapshot(n);
    // phase C: V8 CPU profile (the wrappers stay installed, not counting: each Dawn call is a
    // named JS frame in the profile)
    const tC = [];
    gc();
    await session.post('Profiler.start');
    const tC0 = performance.now();
    for (let i = 0; i < n; i++, k++) { const t = performance.now(); await step(k); tC.push(ms(t)); }
    const wallC = ms(tC0);
    const { profile: p } = await session.post('Profiler.stop');
    const file = `${c.replaceAll(':', '_')}.cpuprofile`;
    writeFileSync(join(profDir, file), JSON.stringify(p));
    cleanup();
    const sum = (xs) => xs.reduce((a, b) => a + b, 0);
    results[c] = {
      frames: n, warmup: warm, file,
      msPerFrame: { plainMedian: median(tA), plainMean: sum(tA) / n, countedMedian: median(tB), countedMean: wallB / n,
        profiledMedian: median(tC), profiledMean: wallC / n },
      profileWallMs: wallC,
      exportCallUs: exportCall?.us ?? null,
      psnrY: lastPsnr,
      ...counts,
    };
    const g = counts.gpu;
    const pf = (key) => (g[key]?.perFrame ?? 0).toFixed(0);
    console.log(`${c}: plain ${median(tA).toFixed(1)} ms, counted ${median(tB).toFixed(1)} ms, profiled ${median(tC).toFixed(1)} ms per frame (medians of ${n}); ` +
      `per frame: ${pf('GPUQueue.submit')} submits, ${pf('GPUBuffer.mapAsync')} mapAsync, ${pf('GPUQueue.writeBuffer')} writeBuffer, ` +
      `${pf('GPUDevice.createBindGroup')} createBindGroup, ${pf('GPUComputePassEncoder.dispatchWorkgroups')} dispatches, ` +
      `${pf('GPUDevice.createBuffer')} createBuffer, ${counts.importCallsPerFrame.toFixed(0)} wasm->JS import calls, ` +
      `${counts.exportCallsPerFrame.toFixed(0)} JS->wasm export calls`);
    writeFileSync(join(profDir, 'counts.json'), JSON.stringify(results, null, 1));
  }
}
