// A stream's symbols read on a Node worker thread by the CPU module (pkg/cpu), as the package's
// worker reads them in a symbols worker when it decodes large frames on WebGPU (js/worker.js,
// renderSymbols): the benches' stand-in for that Web Worker, which Node does not have.
//   const t = await symbolsThread(pkgDir, model, slices);
//   t.open(header);                     // a new stream decoder there (and its slice threads)
//   const sym = await t.symbols(chunk); // {type, pts, width, height, latent, levels, tokens}
//   t.close();
// Requests are answered in order; each chunk is copied over, each latent transferred back. With
// `slices` > 0 the thread reads each chunk's slices on up to that many threads of its own, as the
// package's symbols worker does with its slice workers (VqSliceReader, symbolsFrom).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/** ms per frame of a stream decode (`chunks` after `header`) with `k` decodes in flight, the
 * symbols on the thread `t` (`symbolsThread`) and each frame rendered by `codec` (the WebGPU
 * module's `VqCodec.render`): the package's worker with a symbols worker. The median of
 * `passes` passes after the first, each from a new decoder (the first warms the thread's module
 * up). */
export function splitStreamMs(t, codec, header, chunks, k, passes = 2) {
  return spreadStreamMs(t, [codec], header, chunks, k, passes);
}

/** A thread of this module (`data.role`: 'symbols', 'slices' or 'gpu-render') answering requests in order. */
async function thread(data) {
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  const waiting = [];
  let failed = null;
  worker.on('message', (m) => {
    const w = waiting.shift();
    if (m.ok) w?.resolve(m.result);
    else w?.reject(new Error(m.error));
  });
  worker.on('error', (e) => {
    failed = e;
    for (const w of waiting.splice(0)) w.reject(e);
  });
  const ask = (msg, transfer = []) => (failed ? Promise.reject(failed) : new Promise((resolve, reject) => {
    waiting.push({ resolve, reject });
    if (msg !== undefined) worker.postMessage(msg, transfer);
  }));
  await ask(); // ready
  return { ask, close() { worker.terminate(); } };
}

/** ms per frame as `splitStreamMs`, each frame rendered by the next of `renderers` in turn
 * (anything with `render(latent, width, height)`: `gpuRenderThread`s, the WebGPU module on
 * threads of their own, each with its own device, are what a package whose worker handed its
 * frames to WebGPU render workers would do). `k` decodes in flight in all. The median of the
 * passes after the first (which warms up), or the one pass. */
export async function spreadStreamMs(t, renderers, header, chunks, k, passes = 2) {
  const times = [];
  for (let pass = 0; pass < passes; pass++) {
    t.open(header);
    const t0 = performance.now();
    const pending = [];
    for (const [i, c] of chunks.entries()) {
      const r = renderers[i % renderers.length];
      pending.push(t.symbols(c).then((sym) => r.render(sym.latent, sym.width, sym.height)));
      if (pending.length >= k) await pending.shift();
    }
    while (pending.length) await pending.shift();
    times.push((performance.now() - t0) / chunks.length);
  }
  return medianAfterFirst(times);
}

/** The median of `times` after the first (a warm-up), or the first alone. */
export function medianAfterFirst(times) {
  const rest = (times.length > 1 ? times.slice(1) : times).sort((a, b) => a - b);
  const mid = rest.length >> 1;
  return rest.length % 2 ? rest[mid] : (rest[mid - 1] + rest[mid]) / 2;
}

/** A renderer for `spreadStreamMs` that makes each frame with `codec.renderFrame` and reads its
 * bytes from the module's memory into one buffer reused for every frame (`VqFrame.copyTo`),
 * where `render` copies them into a new array each time: what a worker that made a `VideoFrame`
 * of the module's view (`new VideoFrame(f.view(), …)`, one copy into memory outside the JS heap)
 * would spend, Node having no VideoFrame. */
export function bufferRenderer(codec) {
  let out = null;
  return {
    render: (latent, width, height) => codec.renderFrame(latent, width, height).then((f) => {
      out ??= new Uint8Array(f.width * f.height * 4);
      f.copyTo(out);
      f.free();
    }),
  };
}

/** The WebGPU module of `pkgDir` with `model` on a thread of its own, through Dawn (`dawnDir`,
 * `flags` its create() flags): `render(latent, w, h)` answers the frame's RGBA (transferred). */
export async function gpuRenderThread(dawnDir, flags, pkgDir, model) {
  const t = await thread({ role: 'gpu-render', dawnDir, flags, pkgDir, model });
  return {
    render(latent, width, height) { return t.ask({ latent, width, height }, [latent.buffer]); },
    close: t.close,
  };
}

export async function symbolsThread(pkgDir, model, slices = 0) {
  const t = await thread({ role: 'symbols', pkgDir, model, slices });
  return {
    open(header) { t.ask({ header: new Uint8Array(header) }).catch(() => {}); },
    symbols(chunk) { return t.ask({ chunk }); },
    close: t.close,
  };
}

if (!isMainThread && workerData.role === 'gpu-render') {
  const { dawnDir, flags, pkgDir, model } = workerData;
  const { create, globals } = await import(pathToFileURL(join(dawnDir, 'index.js')).href);
  Object.assign(globalThis, globals);
  globalThis.navigator ??= {};
  Object.defineProperty(globalThis.navigator, 'gpu', { value: create(flags), configurable: true });
  globalThis.Window ??= class Window {};
  const m = await import(pathToFileURL(join(pkgDir, 'vqcodec.js')).href);
  m.initSync({ module: readFileSync(join(pkgDir, 'vqcodec_bg.wasm')) });
  const codec = await m.VqCodec.create('webgpu', model, readFileSync(join(pkgDir, 'weights', `${model}.vqw`)));
  parentPort.postMessage({ ok: true, result: null }); // ready
  let chain = Promise.resolve();
  parentPort.on('message', ({ latent, width, height }) => {
    const frame = codec.render(latent, width, height); // at once: the device works while it waits
    chain = chain.then(async () => {
      try {
        const rgba = await frame;
        parentPort.postMessage({ ok: true, result: rgba }, [rgba.buffer]);
      } catch (e) {
        parentPort.postMessage({ ok: false, error: String(e?.message ?? e) });
      }
    });
  });
} else if (!isMainThread) {
  const { role, pkgDir, model, slices, first, count } = workerData;
  const m = await import(pathToFileURL(join(pkgDir, 'cpu', 'vqcodec.js')).href);
  m.initSync({ module: readFileSync(join(pkgDir, 'cpu', 'vqcodec_bg.wasm')) });
  const reply = (work) => {
    try {
      const [result, transfer] = work();
      parentPort.postMessage({ ok: true, result }, transfer);
    } catch (e) {
      parentPort.postMessage({ ok: false, error: String(e?.message ?? e) });
    }
  };
  if (role === 'slices') {
    let reader = null;
    parentPort.postMessage({ ok: true, result: null }); // ready
    parentPort.on('message', ({ header, chunk }) => reply(() => {
      if (header) {
        reader = new m.VqSliceReader(header, first, count);
        return [null, []];
      }
      const part = reader.part(chunk);
      return [part, [part.buffer]];
    }));
  } else {
    const codec = await m.VqCodec.create('cpu', model, readFileSync(join(pkgDir, 'weights', `${model}.vqw`)));
    let dec = null;
    let readers = [];
    let ready = Promise.resolve(); // the stream's decoder and slice threads, once opened
    let chain = Promise.resolve(); // answers in order
    parentPort.postMessage({ ok: true, result: null }); // ready
    parentPort.on('message', ({ header, chunk }) => {
      if (header) {
        const before = ready;
        ready = before.then(async () => {
          dec?.free();
          dec = codec.decoder(header);
          const n = Math.min(slices, dec.slices);
          const runs = Array.from({ length: n }, (_, k) => {
            const f = Math.floor((k * dec.slices) / n);
            return [f, Math.floor(((k + 1) * dec.slices) / n) - f];
          });
          // the threads of the last stream if it was cut the same way (a bench opens the same
          // stream again and again: the threads' start is not what it times)
          if (runs.join() !== readers.runs) {
            for (const r of readers) r.close();
            readers = await Promise.all(runs.map(([first, count]) => thread({ role: 'slices', pkgDir, first, count })));
            readers.runs = runs.join();
          }
          await Promise.all(readers.map((r) => r.ask({ header })));
        });
        ready.catch(() => {});
        chain = chain.then(() => ready).then(() => reply(() => [null, []]), (e) => reply(() => { throw e; }));
        return;
      }
      // the parts asked for as soon as the slice threads are there, put together in order
      const parts = ready.then(() => Promise.all(readers.map((r) => r.ask({ chunk }))));
      parts.catch(() => {});
      chain = chain.then(async () => {
        let got = [];
        try { got = await parts; } catch (e) { reply(() => { throw e; }); return; }
        reply(() => {
          const sym = readers.length ? dec.symbolsFrom(chunk, got) : dec.symbols(chunk);
          return [sym, [sym.latent.buffer, sym.tokens.buffer]];
        });
      });
    });
  }
}
