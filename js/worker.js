// The vqcodec worker: owns the wasm module, the models and the encoder/decoder sessions.
// Messages: {id, op, ...}; replies: {id, ok, result} or {id, ok: false, error: {kind, message}}
// (the wasm module's errors carry their kind; the page turns them into VqErrors). What a chunk
// or header says is read by the module's format functions (peekChunk, headerInfo), never here.
// Two builds of the module (loader.js): ./vqcodec.js (WebGPU only) is loaded only when the
// browser gives a WebGPU adapter and WebGPU may be used; otherwise ./cpu/vqcodec.js. The
// weights of a model are fetched when it is first used.
import { createCodec, forgetModule, loadModule, loadedModules, moduleFor, setWeightsBase } from './loader.js';

const codecs = new Map();   // "backend/model" -> Promise<VqCodec>
const sessions = new Map(); // session id -> {enc | dec, gpu, ...}
let symbolsDecoder = Promise.reject(kindError('Internal', 'not opened')); // in a symbols worker
symbolsDecoder.catch(() => {});
let canvas = null;
let ctx = null;

// WebGPU device loss. The worker keeps the GPUDevice that burn-wgpu asks for, so it hears of a
// loss (device.lost), can stop waiting on work that will never finish, and a test can cause
// one (op 'lose-gpu'). After a loss everything runs on the CPU module; sessions that were on
// the GPU carry on there without losing a frame (see encode / decode below).
let gpuDevice = null;
let gpuLost = null; // the reason, once lost
let markLost;
const lost = new Promise((resolve) => { markLost = resolve; });
function loseGpu(reason) {
  if (gpuLost) return;
  gpuLost = reason;
  forgetModule('gpu');
  for (const key of [...codecs.keys()]) if (!key.startsWith('cpu/')) codecs.delete(key);
  markLost(reason);
}
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    gpuDevice = device;
    device.lost.then((info) => loseGpu(`CPU fallback: the WebGPU device was lost (${info.reason ?? 'unknown'}${info.message ? `: ${info.message}` : ''})`));
    return device;
  };
}

/** `work` from a GPU session, or an error as soon as the device is lost (then a VideoFrame
 * the work still makes is closed: nobody will take it). */
function onGpu(work) {
  return Promise.race([work, lost.then((reason) => { throw new GpuLost(reason); })]).catch((e) => {
    if (e instanceof GpuLost) dropFrame(work);
    throw e;
  });
}

/** Closes the VideoFrame that `answer` (a promise of a decoded frame's answer) may bring. */
function dropFrame(answer) {
  Promise.resolve(answer).then((out) => out?.frame?.close?.(), () => {});
}
class GpuLost extends Error {}

/** Whether `e`, thrown by GPU work, means the GPU is gone (then marks it so). */
async function gpuFailed(e) {
  if (e instanceof GpuLost || gpuLost) return true;
  // the loss may be reported just after the failing call
  await Promise.race([lost, new Promise((r) => setTimeout(r, 200))]);
  if (gpuLost) return true;
  if (e instanceof WebAssembly.RuntimeError) { // a trap: the GPU module is unusable
    loseGpu(`CPU fallback: the WebGPU module failed (${e.message})`);
    return true;
  }
  return false;
}

/** The module a session on `backend` uses (for calls that need no model). */
async function moduleOf(backend) {
  return loadModule(await moduleFor(gpuLost ? 'cpu' : backend));
}

// Decoding on the CPU, one frame per core. A stream's symbols are read in order (each delta
// frame predicts from the previous frame's latent), but a frame's decoder network needs only its
// own latent, and one wasm instance runs on one core. So a CPU session reads the symbols here
// (VqStreamDecoder.symbols, a small share of the time) and hands each latent to the least busy
// of its render workers: this same script in workers of its own, each with the CPU module and
// the model (VqCodec.render), the same pixels as decoding here.
const MAX_RENDER_WORKERS = 8;
let weightsUrl = null; // what 'weights-url' set, for render workers started later
const renderers = []; // {call(op, msg, transfer), pending}
const helpers = new Set(); // every worker this one started (render, symbols and slice workers)

/** This same script in a worker of its own (`name`: 'render', 'symbols' or 'slices'): `{call(op, msg,
 * transfer), pending, stop(why)}`. A worker that failed (it did not start, or its module
 * trapped) rejects its calls, those to come too, with kind Internal; `onStop` is told. */
function startHelper(name, onStop = () => {}) {
  const worker = new Worker(new URL(import.meta.url), { type: 'module', name: `vqcodec-${name}` });
  const calls = new Map();
  let next = 0;
  let stopped = null;
  worker.onmessage = ({ data }) => {
    const c = calls.get(data.id);
    calls.delete(data.id);
    if (data.ok) c?.resolve(data.result);
    else c?.reject(kindError(data.error.kind, data.error.message));
  };
  const r = {
    pending: 0,
    stop(why) {
      if (stopped) return;
      stopped = kindError('Internal', `a ${name} worker failed: ${why}`);
      for (const c of calls.values()) c.reject(stopped);
      calls.clear();
      worker.terminate();
      helpers.delete(r);
      onStop(r);
    },
    call(op, msg, transfer = []) {
      if (stopped) return Promise.reject(stopped);
      const id = ++next;
      r.pending++;
      const p = new Promise((resolve, reject) => {
        calls.set(id, { resolve, reject });
        worker.postMessage({ id, op, ...msg }, transfer);
      });
      return p.finally(() => { r.pending--; });
    },
  };
  worker.onerror = (e) => { e.preventDefault?.(); r.stop(e.message ?? 'error'); };
  if (weightsUrl) r.call('weights-url', { url: weightsUrl }).catch(() => {});
  helpers.add(r);
  return r;
}

/** The least busy of the first `count` workers of `pool` (this script as helper `name`), started
 * as needed; one that stops leaves the pool, so a later call starts another in its place. */
function leastBusy(pool, name, count) {
  while (pool.length < count) pool.push(startHelper(name, (r) => pool.splice(pool.indexOf(r) >>> 0, 1)));
  return pool.slice(0, count).reduce((a, b) => (b.pending < a.pending ? b : a));
}

const renderer = (count) => leastBusy(renderers, 'render', count);

// Decoding large frames on WebGPU, the frames on several devices (gpuWorkers: by default 3 for
// 1920x1080 or more on 8 cores or more, the page decides).
// With a symbols worker, this worker's one thread still uploads each frame, has it rendered, reads
// it back and hands it over: the bound through Dawn once the symbols are apart. GPU render
// workers (this same script, each with the WebGPU module, the model and a device of its own)
// take the frames in turn instead (VqCodec.render of the latent the symbols worker made), each
// its own thread and queue: through Dawn on an H100, base 1920x1080 6.5-7.1 -> 4.7 ms a frame
// with three (docs/results/wasm-host.md). Each holds its own copy of the model on the GPU.
// Should one fail (no device there, a loss, a trap), it stops, the session lets go of them and
// renders that frame and the rest on its own device, its symbols worker still reading the
// symbols. They stop when no session uses them.
const MAX_GPU_WORKERS = 4;
const gpuRenderers = []; // {call, pending, stop}
let gpuWorkerSessions = 0; // open sessions using them
let gpuFramesRendered = 0; // frames GPU render workers rendered for this worker's sessions (workerMemory)

/** Session `s` no longer uses GPU render workers (it took over, or closed); they stop with the
 * last session that did. */
function releaseGpuWorkers(s) {
  s.gpuWorkers = 0;
  if (!s.usesGpuWorkers) return;
  s.usesGpuWorkers = false;
  if (--gpuWorkerSessions === 0) for (const r of gpuRenderers.splice(0)) r.stop('no session uses it');
}

const gpuRenderer = (count) => leastBusy(gpuRenderers, 'gpu-render', count);

/** How many render workers a CPU session asking for `n` uses (none where a worker cannot start
 * workers). */
function renderWorkersFor(n) {
  if (typeof Worker !== 'function') return 0;
  return Math.max(0, Math.min(Math.floor(Number(n) || 0), MAX_RENDER_WORKERS));
}

/** `op` on one of `count` render workers (the least busy); one whose module trapped is stopped. */
async function onRenderer(count, op, msg, transfer) {
  const r = renderer(count);
  try {
    return await r.call(op, msg, transfer);
  } catch (e) {
    if (e.kind === 'Internal') r.stop(e.message); // a trap leaves its module unusable
    throw e;
  }
}

/** The encoder network's analysis of a frame (`{latent, activity}`: VqCodec.analyse) for
 * session `s`'s encoder, made by one of its render workers. */
function analyseElsewhere(rgba, s) {
  return onRenderer(s.renderWorkers, 'analyse',
    { model: s.model, rgba, width: s.width, height: s.height, enhancement: s.enc.enhancement }, [rgba.buffer]);
}

/** The frame of the symbols `sym` a session's decoder read, made by one of `count` render
 * workers: what that decoder's `decode` resolves to (with `videoFrame`, as `decodeWith`: the
 * render worker makes the VideoFrame). */
async function renderElsewhere(sym, model, count, videoFrame) {
  const { latent, ...rest } = sym;
  const pixels = await onRenderer(count, 'render', { model, latent, width: sym.width, height: sym.height, videoFrame }, [latent.buffer]);
  return { ...rest, ...pixelsOf(pixels) };
}

// Decoding on WebGPU, large frames: the symbols in a worker of their own. This worker's one
// thread reads a frame's symbols (entropy decoding, the latent's reconstruction) and then hands
// the latent to the device, uploads it, reads the frame back and copies it out; at 1920×1080
// the symbols are about half of that (docs/results/wasm-host.md). A decoder session of as many
// pixels as 1280×720 or more (any shape) with its own symbols worker (this script, the CPU
// module: the same integers) reads chunk n+1's symbols there while this worker has chunk n
// rendered, so a stream's frames come at the pace of the slower half instead of the sum. Small
// frames keep it all here: a message each way costs more than they would gain.
const SYMBOLS_WORKER_PIXELS = 1280 * 720;

// And the slices of such a frame (each coded with models of its own, so read apart as well):
// a symbols worker of a session with cpuWorkers n starts up to n - 1 slice workers (this
// script, the CPU module without a model), each reading a run of the stream's slices of every
// chunk (VqSliceReader) while the symbols worker puts the previous chunk's parts together and
// reconstructs its latent (VqStreamDecoder.symbolsFrom). A frame's entropy decoding, most of
// its symbols' time, then runs on several cores, and beside the reconstruction.
const sliceReaders = []; // in a symbols worker: its slice workers ({call, stop}), in slice order
let partsChain = Promise.resolve(); // in a symbols worker: chunks put together in order
let sliceReader = null; // in a slice worker: its VqSliceReader

/** Slice workers a session may start unless its page chose `cpuWorkers`: the cores beside the
 * page's thread, this worker and the symbols worker (none on two or three cores: on two, slice
 * workers made a base 1920x1080 stream slower, docs/results/wasm-host.md). */
const SPARE_CORES = () => Math.floor(globalThis.navigator?.hardwareConcurrency ?? 1) - 3;

/** Slices `0..slices` cut into `n` runs as even as possible: `[first, count]` each. */
function sliceRuns(slices, n) {
  return Array.from({ length: n }, (_, k) => {
    const first = Math.floor((k * slices) / n);
    return [first, Math.floor(((k + 1) * slices) / n) - first];
  });
}

/** The frame of the symbols a session's symbols worker reads (`symbols`, a promise of what
 * `VqStreamDecoder.symbols` answers), rendered on this session's GPU codec: what its decoder's
 * `decode` would resolve to, with `videoFrame` as `decodeWith`. A failure of the worker itself is
 * marked (`symbolsWorker`). */
async function renderSymbols(s, symbols, videoFrame) {
  let sym;
  try {
    sym = await symbols;
  } catch (e) {
    if (e.kind === 'Internal') e.symbolsWorker = true;
    throw e;
  }
  const { latent, ...rest } = sym;
  if (s.gpuWorkers > 0) {
    const r = gpuRenderer(s.gpuWorkers);
    try {
      // copied over, not transferred: should that worker fail, the latent is still here
      const pixels = await r.call('render',
        { model: s.model, latent, width: sym.width, height: sym.height, videoFrame, backend: 'webgpu' });
      gpuFramesRendered++;
      return { ...rest, ...pixelsOf(pixels) };
    } catch (e) {
      // a GPU render worker failed (no device, a loss, a trap): it stops, the session lets go of
      // them, and this frame and the rest are rendered on its own device, its symbols worker
      // going on (that device lost too is the session's GPU loss, as anywhere)
      r.stop(e.message);
      releaseGpuWorkers(s);
      const out = { ...rest, ...(await renderOn(s.codec, latent, sym.width, sym.height, videoFrame)) };
      out.info = { gpuWorkers: 0 };
      return out;
    }
  }
  return { ...rest, ...(await renderOn(s.codec, latent, sym.width, sym.height, videoFrame)) };
}

/** A render worker's answer (`render` op: RGBA bytes or a VideoFrame) as a decoded frame's field. */
const pixelsOf = (pixels) => (pixels instanceof Uint8Array ? { rgba: pixels } : { frame: pixels });

/** The frame of `latent` on `codec`: `{rgba}`, or with `videoFrame` (where there is VideoFrame)
 * `{frame}`, a VideoFrame made of the module's memory (as `decodeWith`). */
function renderOn(codec, latent, width, height, videoFrame) {
  return wantsVideoFrame(videoFrame)
    ? codec.renderFrame(latent, width, height).then((frame) => videoFrameOf({ frame }))
    : codec.render(latent, width, height).then((rgba) => ({ rgba }));
}

/** Whether a decode asked for a VideoFrame (`decode`'s `videoFrame`) gets one from here. */
const wantsVideoFrame = (videoFrame) => videoFrame && typeof VideoFrame === 'function';

let videoFramesMade = 0; // by videoFrameOf, for workerMemory()

/** A decoded frame's answer whose `frame` (a VqFrame: the module's memory) made a VideoFrame
 * (timestamp 0; the page sets it), the VqFrame freed. */
function videoFrameOf(out) {
  const f = out.frame;
  try {
    const { width, height } = f;
    // nothing calls into the module between the view and VideoFrame's copy of it
    out.frame = new VideoFrame(f.view(), { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp: 0 });
    videoFramesMade++;
  } finally {
    try { f.free(); } catch { /* a trapped module: its memory goes with it */ }
  }
  return out;
}

/** `dec.decode(chunk)`, or with `videoFrame` (where there is VideoFrame) the same answer with a
 * VideoFrame `frame` in place of `rgba` (VqStreamDecoder.decodeFrame): made of the module's
 * memory directly, it saves the frame a copy into a new array here and another on the page's
 * thread (docs/results/wasm-host.md). */
function decodeWith(dec, chunk, videoFrame) {
  return wantsVideoFrame(videoFrame) ? dec.decodeFrame(chunk).then(videoFrameOf) : dec.decode(chunk);
}

/** A decoded frame's answer and what it transfers: its VideoFrame or its RGBA bytes. */
const frameTransfer = (out) => [out, [out.frame ?? out.rgba.buffer]];

/** A new decoder of session `s`'s stream on `codec`, brought up to the chunk that `replay`
 * (`{list, upTo}`: the chunks since the keyframe before it) was taken for, in place of the
 * session's decoder, which is freed. */
function replayed(s, codec, replay) {
  const dec = codec.decoder(s.header);
  for (const c of replay.list.slice(0, replay.upTo)) {
    try { dec.advance(c); } catch { /* a damaged chunk fails here as it did there */ }
  }
  try { s.dec.free(); } catch { /* its module may be gone */ }
  return dec;
}

function codecFor(backend, model) {
  const effective = gpuLost ? 'cpu' : backend;
  const key = `${effective}/${model}`;
  if (!codecs.has(key)) {
    const p = createCodec(effective, model).then(({ codec, fallback }) => {
      if (fallback) fallbackReason.set(codec, fallback);
      return codec;
    });
    p.catch(() => codecs.delete(key)); // not kept when it failed (a download may recover)
    codecs.set(key, p);
  }
  return codecs.get(key);
}

/** An Error with a `kind`, as the wasm module throws them. */
function kindError(kind, message) {
  return Object.assign(new Error(message), { kind });
}

const fallbackReason = new WeakMap(); // codec -> why it is on the CPU although WebGPU was tried

/** Backend and reason of a codec, as a caller who asked for `requested` should see them. */
const describe = (codec, requested) => ({ backend: codec.backend,
  reason: gpuLost && requested !== 'cpu' && codec.backend === 'cpu' ? gpuLost
    : fallbackReason.get(codec) ?? codec.reason });

// A transferred VideoFrame / ImageBitmap, or an RGBA buffer, as RGBA bytes of width×height.
function rgbaOf(frame, width, height) {
  if (frame.rgba) {
    if (frame.width !== width || frame.height !== height) {
      throw kindError('Config', `frame is ${frame.width}x${frame.height}, the encoder is configured for ${width}x${height}`);
    }
    return new Uint8Array(frame.rgba);
  }
  if (!canvas || canvas.width !== width || canvas.height !== height) {
    canvas = new OffscreenCanvas(width, height);
    ctx = canvas.getContext('2d', { willReadFrequently: true });
  }
  ctx.drawImage(frame, 0, 0, width, height);
  frame.close?.();
  return new Uint8Array(ctx.getImageData(0, 0, width, height).data.buffer);
}

// No model asked for: lite on every backend. It codes as well as base (docs/results.md: within
// 0.3 dB), runs 2.5-4x faster, and its weights are 0.2 MB against base's 1.3 MB.
async function codecAuto(backend, model) {
  const name = model ?? 'lite';
  return [await codecFor(backend, name), name];
}

// An encoder session's packets as the reply: counted (the next timestamp a CPU takeover
// resumes at), the first of the CPU's after a GPU loss marked with why (`skip`: packets of the
// lost encoder before it), their buffers transferred.
function sent(s, out, skip) {
  if (s.takeover && out.length > skip) {
    out[skip].info = s.takeover;
    s.takeover = null;
  }
  s.next += out.length;
  return [out, out.map((p) => p.data.buffer)];
}

const ops = {
  async 'configure-encoder'({ session, backend, model, options, codebook, cpuWorkers = 0 }) {
    const [codec, name] = await codecAuto(backend, model);
    const book = codebook ? new Uint8Array(codebook) : undefined;
    const enc = await codec.encoder(options, book);
    const gpu = codec.backend === 'webgpu';
    sessions.set(session, { enc, gpu, model: name, options, book, next: 0,
      header: enc.header, width: options.width, height: options.height, tail: Promise.resolve(),
      renderWorkers: gpu || enc.searchOnDevice ? 0 : renderWorkersFor(cpuWorkers) });
    return { header: enc.header, ...describe(codec, backend), modelId: codec.modelId, model: name,
      renderWorkers: sessions.get(session).renderWorkers };
  },
  // Pushes one frame; replies with the packets coded now (all of them without a lookahead: this
  // frame's; with one, a window's once it is full).
  async encode({ session, frame, keyFrame }) {
    const s = sessions.get(session);
    if (!s?.enc) throw kindError('Config', 'encoder is not configured');
    const rgba = rgbaOf(frame, s.width, s.height); // wasm copies it: still ours for a retry
    if (s.renderWorkers > 0) {
      // on the CPU: the network in a render worker now, the coding here in frame order
      const analysed = analyseElsewhere(rgba, s);
      analysed.catch(() => {});
      const answer = s.tail.then(async () => {
        const a = await analysed;
        return sent(s, s.enc.pushAnalysed(a.latent, a.activity, keyFrame), 0);
      });
      s.tail = answer.then(() => {}, () => {});
      return { later: answer };
    }
    let out;
    let held;
    try {
      out = await (s.gpu ? onGpu(s.enc.push(rgba, keyFrame)) : s.enc.push(rgba, keyFrame));
    } catch (e) {
      if (!s.gpu || !(await gpuFailed(e))) throw e;
      // the frames a lookahead held were analysed already: coding them needs no device
      held = [];
      try { held = s.enc.flush(); } catch { throw kindError('Device', `${gpuLost}, and the frames the encoder held are lost`); }
      // the same model on the CPU takes over the stream at this frame, with a keyframe
      const codec = await codecFor('cpu', s.model);
      const enc = await codec.encoder(s.options, s.book);
      if (enc.header.join() !== s.header.join()) throw kindError('Device', `${gpuLost}, and the CPU encoder cannot continue this stream`);
      enc.resumeAt(s.next + held.length);
      try { s.enc.free(); } catch { /* its module may be gone */ }
      Object.assign(s, { enc, gpu: false });
      // the CPU's first packet says so (with a lookahead it may come out later)
      s.takeover = describe(codec, 'webgpu');
      out = [...held, ...await enc.push(rgba, true)];
    }
    return sent(s, out, held?.length ?? 0);
  },
  // Codes what a lookahead holds (nothing without one).
  async 'flush-encoder'({ session }) {
    const s = sessions.get(session);
    if (!s?.enc) throw kindError('Config', 'encoder is not configured');
    await s.tail; // the frames still in render workers
    return sent(s, s.enc.flush(), 0);
  },
  async 'configure-decoder'({ session, backend, header, cpuWorkers = 0, cpuWorkersChosen = false, gpuWorkers = 0 }) {
    const { m } = await moduleOf(backend);
    const want = m.headerInfo(new Uint8Array(header)).modelId;
    const ids = m.modelIds();
    // the model the stream names (`model` is only a hint); only that one is loaded
    const name = Object.keys(ids).find((k) => ids[k] === want);
    if (!name) throw kindError('ModelMismatch', `the stream was made with model ${want}, which this package does not ship`);
    const codec = await codecFor(backend, name);
    const dec = codec.decoder(new Uint8Array(header));
    const gpu = codec.backend === 'webgpu';
    // render workers only make sense where this worker would run the network on the CPU itself
    // (and where a worker may start workers)
    const allowed = renderWorkersFor(cpuWorkers); // workers this session may start
    const renderWorkers = gpu ? 0 : allowed;
    const s = { dec, gpu, codec, model: name, header: new Uint8Array(header), sinceKey: [],
      peek: m.peekChunk, tail: Promise.resolve(), renderWorkers, symbols: null };
    let sliceWorkers = 0;
    if (gpu && allowed > 0 && dec.width * dec.height >= SYMBOLS_WORKER_PIXELS) {
      // its own, for the stream's state, with its slice workers; a failure is met at the first chunk
      sliceWorkers = Math.max(0, Math.min(allowed - 1, dec.slices,
        cpuWorkersChosen ? Infinity : SPARE_CORES()));
      s.symbols = startHelper('symbols');
      s.symbols.call('symbols-open', { model: name, header: s.header, slices: dec.slices, sliceWorkers }).catch(() => {});
      // GPU render workers, started now: each makes its device and loads the model meanwhile
      s.gpuWorkers = Math.max(0, Math.min(Math.floor(Number(gpuWorkers) || 0), MAX_GPU_WORKERS));
      for (let k = 1; k <= s.gpuWorkers; k++) gpuRenderer(k).call('probe', { backend: 'webgpu', model: name }).catch(() => {});
      if (s.gpuWorkers > 0) { s.usesGpuWorkers = true; gpuWorkerSessions++; }
    }
    sessions.set(session, s);
    return { width: dec.width, height: dec.height, framerate: dec.framerate, model: name,
      ...describe(codec, backend), modelId: codec.modelId, renderWorkers, symbolsWorker: !!s.symbols, sliceWorkers,
      gpuWorkers: s.gpuWorkers ?? 0 };
  },
  // One chunk. On the GPU its symbols are read now, in message order, and the answer comes when
  // its frame is ready (`later`), so with a few chunks in flight (the page's decoder keeps up
  // to three) the device renders while the next ones arrive. Answers are made in chunk order
  // (s.tail): the order in which a CPU decoder that takes over after a GPU loss must see the
  // chunks, replaying those since the keyframe before the first one the GPU lost.
  async decode({ session, data, videoFrame = false }) {
    const s = sessions.get(session);
    if (!s?.dec) throw kindError('Config', 'decoder is not configured');
    const chunk = new Uint8Array(data);
    if (!s.gpu && s.renderWorkers > 0) {
      // the symbols now, in message order; the frame in a render worker; answers in chunk order
      let rendered;
      try {
        rendered = renderElsewhere(s.dec.symbols(chunk), s.model, s.renderWorkers, videoFrame);
      } catch (e) {
        rendered = Promise.reject(e); // a damaged chunk: answered in its turn
      }
      rendered.catch(() => {});
      const answer = s.tail.then(() => rendered);
      s.tail = answer.then(() => {}, () => {});
      return { later: answer.then(frameTransfer) };
    }
    let rendered = null; // the GPU's promise of this frame
    let replay = null;   // the chunks since the keyframe, before this one
    let viaWorker = false; // its symbols read by the session's symbols worker
    if (s.gpu) {
      if (s.peek(chunk)?.type === 'key') s.sinceKey = [];
      replay = { list: s.sinceKey, upTo: s.sinceKey.length };
      s.sinceKey.push(chunk.slice());
      viaWorker = !!s.symbols;
      // after its symbols worker failed a session reads them here, in the answers' order: the
      // chunks that were in flight there come first
      if (!s.inOrder) {
        try {
          rendered = onGpu(viaWorker ? renderSymbols(s, s.symbols.call('symbols', { data: chunk }), videoFrame) : decodeWith(s.dec, chunk, videoFrame));
        } catch (e) {
          rendered = Promise.reject(e); // a trap in the GPU module: handled as a loss below
        }
        rendered.catch(() => {}); // answered in order below
      }
    }
    const answer = s.tail.then(async () => {
      if (!rendered && !s.gpu) return decodeWith(s.dec, chunk, videoFrame);
      try {
        if (s.gpu && s.inOrder && (!rendered || viaWorker)) {
          if (rendered) dropFrame(rendered); // the failed symbols worker's: this decoder reads it again
          rendered = onGpu(decodeWith(s.dec, chunk, videoFrame));
        }
        const out = await rendered;
        // a frame the GPU finished after an earlier chunk handed the stream to the CPU: the
        // CPU decoder reads its symbols too, to stay in step
        if (!s.gpu) { try { s.dec.advance(chunk); } catch { /* as the replay */ } }
        return out;
      } catch (e) {
        let failed = e;
        if (e.symbolsWorker && s.gpu) {
          // the symbols worker failed (it did not start, or its module trapped): a decoder here
          // takes over, brought up to this chunk as a CPU decoder would be after a GPU loss, and
          // reads the session's chunks from now on, in the answers' order (s.inOrder)
          s.symbols?.stop('replaced');
          releaseGpuWorkers(s);
          Object.assign(s, { symbols: null, inOrder: true });
          const tookOver = { symbolsWorker: false, sliceWorkers: 0, gpuWorkers: 0 };
          try {
            s.dec = replayed(s, s.codec, replay);
            const out = await onGpu(decodeWith(s.dec, chunk, videoFrame));
            out.info = tookOver;
            return out;
          } catch (e2) {
            // a damaged chunk (its error says the decoder took over), or the GPU lost meanwhile
            // (then the CPU below)
            failed = e2;
            if (failed && typeof failed === 'object') failed.info = tookOver;
          }
        }
        if (!(await gpuFailed(failed))) {
          if (!s.gpu) { try { s.dec.advance(chunk); } catch { /* damaged there too */ } }
          throw failed;
        }
      }
      if (!s.gpu) return decodeWith(s.dec, chunk, videoFrame); // taken over at an earlier chunk
      const codec = await codecFor('cpu', s.model);
      const dec = replayed(s, codec, replay);
      s.symbols?.stop('the CPU took over'); // the chunks in flight there are decoded here
      releaseGpuWorkers(s);
      Object.assign(s, { dec, gpu: false, sinceKey: [], symbols: null });
      const out = await decodeWith(dec, chunk, videoFrame);
      out.info = { ...describe(codec, 'webgpu'), symbolsWorker: false, sliceWorkers: 0, gpuWorkers: 0 };
      return out;
    });
    s.tail = answer.then(() => {}, () => {});
    return { later: answer.then(frameTransfer) };
  },
  async close({ session }) {
    const s = sessions.get(session);
    await s?.tail; // the decodes still in flight
    s?.symbols?.stop('closed');
    if (s) releaseGpuWorkers(s);
    s?.enc?.free();
    s?.dec?.free();
    s?.trainer?.free();
    sessions.delete(session);
  },
  // A codebook file's id, model and levels (any loaded module reads it).
  async 'codebook-info'({ bytes }) {
    const { m } = await (loadedModules()[0]?.[1] ?? loadModule('cpu'));
    const info = m.codebookInfo(new Uint8Array(bytes));
    const ids = m.modelIds();
    const modelName = Object.keys(ids).find((k) => ids[k] === info.model) ?? null;
    return { ...info, modelName };
  },
  // trainCodebook(): frames in, then one k-means step per message (the caller can cancel
  // between them), then the codebook file.
  async 'train-start'({ session, backend, model, width, height, options }) {
    const [codec, name] = await codecAuto(backend, model);
    const trainer = codec.trainer(width, height, options);
    sessions.set(session, { trainer, width, height });
    return { ...describe(codec, backend), model: name, modelId: codec.modelId };
  },
  async 'train-frame'({ session, frame }) {
    const s = sessions.get(session);
    if (!s?.trainer) throw kindError('Config', 'no codebook training in progress');
    return s.trainer.addFrame(rgbaOf(frame, s.width, s.height));
  },
  async 'train-begin'({ session }) {
    return sessions.get(session).trainer.start();
  },
  async 'train-step'({ session }) {
    return sessions.get(session).trainer.step();
  },
  async 'train-finish'({ session }) {
    const r = sessions.get(session).trainer.finish();
    return [r, [r.bytes.buffer]];
  },
  async memory() {
    let wasmBytes = 0;
    const modules = loadedModules();
    for (const [, p] of modules) wasmBytes += (await p).wasm.memory.buffer.byteLength;
    // the render and symbols workers' own modules, each with its wasm memory
    const rendering = await Promise.all([...helpers].map((r) => r.call('memory').catch(() => ({ wasmBytes: 0 }))));
    const renderWasmBytes = rendering.reduce((sum, m) => sum + m.wasmBytes + (m.renderWasmBytes ?? 0), 0);
    const sliceWorkers = rendering.reduce((sum, m) => sum + (m.sliceWorkers ?? 0), sliceReaders.length);
    // VideoFrames made of a module's memory, here and in the helpers (since they started)
    const framesMade = rendering.reduce((sum, m) => sum + (m.videoFramesMade ?? 0), videoFramesMade);
    return { wasmBytes, sessions: sessions.size, modules: modules.map(([name]) => name),
      renderWorkers: renderers.length, gpuRenderWorkers: gpuRenderers.length,
      symbolsWorkers: helpers.size - renderers.length - gpuRenderers.length - sliceReaders.length,
      sliceWorkers, renderWasmBytes, videoFramesMade: framesMade, gpuFramesRendered };
  },
  async probe({ backend, model }) {
    const codec = await codecFor(backend, model);
    return { ...describe(codec, backend), modelId: codec.modelId };
  },
  // A symbols worker's jobs (see renderSymbols), on the CPU module: one stream's decoder, whose
  // chunks come in order, and its slice workers (see sliceRuns).
  async 'symbols-open'({ model, header, slices = 1, sliceWorkers = 0 }) {
    symbolsDecoder = codecFor('cpu', model).then((codec) => codec.decoder(new Uint8Array(header)));
    // the slice workers start meanwhile (they need no model); a failure is met at the first chunk
    try {
      for (const [first, count] of sliceRuns(slices, Math.min(sliceWorkers, slices))) {
        const r = startHelper('slices');
        sliceReaders.push(r);
        r.call('slices-open', { header, first, count }).catch(() => {});
      }
    } catch {
      // a worker that cannot start workers of its own: this one reads every slice
      for (const r of sliceReaders.splice(0)) r.stop('not every slice worker started');
    }
    await symbolsDecoder;
  },
  async symbols({ data }) {
    let dec;
    try {
      dec = await symbolsDecoder;
    } catch (e) {
      throw kindError('Internal', `the symbols worker has no decoder: ${e?.message ?? e}`);
    }
    const chunk = new Uint8Array(data);
    if (!sliceReaders.length) {
      const sym = dec.symbols(chunk);
      return [sym, [sym.latent.buffer, sym.tokens.buffer]];
    }
    // the parts now, on the slice workers; put together here in chunk order. A slice worker
    // that failed fails the symbols worker (kind Internal): the session's worker takes over.
    const parts = Promise.all(sliceReaders.map((r) => r.call('slice-part', { data: chunk })));
    parts.catch(() => {});
    const answer = partsChain.then(async () => {
      let got;
      try {
        got = await parts;
      } catch (e) {
        throw kindError('Internal', e?.message ?? String(e));
      }
      let sym;
      try {
        sym = dec.symbolsFrom(chunk, got);
      } catch (e) {
        // parts that are not the chunk's: a fault of ours, which the session's worker takes over
        throw e.kind === 'Config' ? kindError('Internal', e.message) : e;
      }
      return [sym, [sym.latent.buffer, sym.tokens.buffer]];
    });
    partsChain = answer.then(() => {}, () => {});
    return { later: answer };
  },
  // A slice worker's jobs: its part of each chunk of one stream (VqSliceReader, no model).
  async 'slices-open'({ header, first, count }) {
    const { m } = await moduleOf('cpu');
    sliceReader = new m.VqSliceReader(new Uint8Array(header), first, count);
  },
  async 'slice-part'({ data }) {
    if (!sliceReader) throw kindError('Internal', 'the slice worker has no reader');
    const part = sliceReader.part(new Uint8Array(data));
    return [part, [part.buffer]];
  },
  // A render worker's jobs (see renderElsewhere, analyseElsewhere), on the CPU module: the frame
  // of a latent, and the encoder network's analysis of a frame; a GPU render worker's (see
  // renderSymbols): the frame of a latent on its own device (backend 'webgpu').
  async render({ model, latent, width, height, videoFrame = false, backend = 'cpu' }) {
    const gpu = backend !== 'cpu';
    // a GPU render worker without a device of its own (none, or lost) renders nothing on the CPU
    const noDevice = (why) => kindError('Internal', `this render worker has no ${backend} device (${why})`);
    if (gpu && gpuLost) throw noDevice(gpuLost);
    const codec = await codecFor(backend, model);
    if (codec.backend !== backend) throw noDevice(describe(codec, backend).reason);
    // on a device, the work races its loss, so that a caller never waits on a lost device
    const work = renderOn(codec, new Int32Array(latent), width, height, videoFrame);
    const out = await (gpu ? onGpu(work) : work);
    return [out.frame ?? out.rgba, [out.frame ?? out.rgba.buffer]];
  },
  async analyse({ model, rgba, width, height, enhancement }) {
    const codec = await codecFor('cpu', model);
    const a = await codec.analyse(new Uint8Array(rgba), width, height, enhancement);
    return [a, [a.latent.buffer, a.activity.buffer]];
  },
  // init({weightsUrl}): where the weight files are served (a folder URL ending in '/')
  async 'weights-url'({ url }) {
    setWeightsBase(url); // files already fetched stay: they were checked
    weightsUrl = url;
    for (const r of helpers) r.call('weights-url', { url }).catch(() => {});
  },
  // testing: destroys the GPUDevice burn-wgpu uses, a real device loss
  async 'lose-gpu'({ gpuWorkers = false } = {}) {
    // testing the GPU render workers: their devices, not this worker's
    if (gpuWorkers) return (await Promise.all(gpuRenderers.map((r) => r.call('lose-gpu').catch(() => false)))).some(Boolean);
    if (!gpuDevice) return false;
    gpuDevice.destroy();
    await Promise.race([lost, new Promise((r) => setTimeout(r, 2000))]);
    return !!gpuLost;
  },
};

// Messages run one at a time, in order: an encoder's frames must reach it in sequence. An op may
// answer `{later: promise}`: the next message runs at once, and the answer goes when it is ready.
let chain = Promise.resolve();
self.onmessage = (event) => {
  const { id, op, ...msg } = event.data;
  const answer = async (work) => {
    try {
      const r = await work;
      const [result, transfer] = Array.isArray(r) ? r : [r, []];
      self.postMessage({ id, ok: true, result }, transfer);
    } catch (e) {
      // a wasm error carries its kind; anything else here is a fault of ours
      // (`info`: what a session's failed chunk changed, a decoder's takeover, for its `info`)
      self.postMessage({ id, ok: false, error: { kind: e?.kind ?? 'Internal', message: String(e?.message ?? e), ...(e?.info ? { info: e.info } : {}) } });
    }
  };
  chain = chain.then(async () => {
    let r;
    try {
      r = await ops[op](msg);
    } catch (e) {
      return answer(Promise.reject(e));
    }
    if (r?.later) answer(r.later);
    else await answer(r);
  });
};
