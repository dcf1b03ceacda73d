// A stream's symbols read on a Node worker thread by the CPU module (pkg/cpu), as the package's
// worker reads them in a symbols worker when it decodes large frames on WebGPU (js/worker.js,
// renderSymbols): the benches' stand-in for that Web Worker, which Node does not have.
//   const t = await symbolsThread(pkgDir, model);
//   t.open(header);                     // a new stream decoder there
//   const sym = await t.symbols(chunk); // {type, pts, width, height, latent, levels, tokens}
//   t.close();
// Requests are answered in order; each chunk is copied over, each latent transferred back.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

/** ms per frame of a stream decode (`chunks` after `header`) with `k` decodes in flight, the
 * symbols on the thread `t` (`symbolsThread`) and each frame rendered by `codec` (the WebGPU
 * module's `VqCodec.render`): the package's worker with a symbols worker. The last of `passes`
 * passes, each from a new decoder (the first ones warm the thread's module up). */
export async function splitStreamMs(t, codec, header, chunks, k, passes = 2) {
  let per = 0;
  for (let pass = 0; pass < passes; pass++) {
    t.open(header);
    const t0 = performance.now();
    const pending = [];
    for (const c of chunks) {
      pending.push(t.symbols(c).then((sym) => codec.render(sym.latent, sym.width, sym.height)));
      if (pending.length >= k) await pending.shift();
    }
    while (pending.length) await pending.shift();
    per = (performance.now() - t0) / chunks.length;
  }
  return per;
}

export async function symbolsThread(pkgDir, model) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { pkgDir, model } });
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
  const ask = (msg) => (failed ? Promise.reject(failed) : new Promise((resolve, reject) => {
    waiting.push({ resolve, reject });
    if (msg !== undefined) worker.postMessage(msg);
  }));
  await ask(); // ready
  return {
    open(header) { ask({ header: new Uint8Array(header) }).catch(() => {}); },
    symbols(chunk) { return ask({ chunk }); },
    close() { worker.terminate(); },
  };
}

if (!isMainThread) {
  const { pkgDir, model } = workerData;
  const m = await import(pathToFileURL(join(pkgDir, 'cpu', 'vqcodec.js')).href);
  m.initSync({ module: readFileSync(join(pkgDir, 'cpu', 'vqcodec_bg.wasm')) });
  const codec = await m.VqCodec.create('cpu', model, readFileSync(join(pkgDir, 'weights', `${model}.vqw`)));
  let dec = null;
  parentPort.postMessage({ ok: true, result: null }); // ready
  parentPort.on('message', ({ header, chunk }) => {
    try {
      if (header) {
        dec?.free();
        dec = codec.decoder(header);
        parentPort.postMessage({ ok: true, result: null });
        return;
      }
      const sym = dec.symbols(chunk);
      parentPort.postMessage({ ok: true, result: sym }, [sym.latent.buffer, sym.tokens.buffer]);
    } catch (e) {
      parentPort.postMessage({ ok: false, error: String(e?.message ?? e) });
    }
  });
}
