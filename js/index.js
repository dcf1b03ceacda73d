// vqcodec for the web: WebCodecs-shaped encoder and decoder running in a module worker,
// plus compressVideo() and VqcPlayer for the two common jobs. Nothing to initialise: the
// worker and the wasm module start on first use (call init() only to start them early).

const MODELS = ['base', 'lite'];
const BACKENDS = ['auto', 'webgpu', 'cpu'];
const HEADER_LEN = 60;
const CHUNK_HEADER_LEN = 16;
const FLAG_CODEBOOK = 1;
/** Fewest frames trainCodebook() learns from. */
export const MIN_CODEBOOK_FRAMES = 4;

class Client {
  constructor(url) {
    this.worker = new Worker(url ?? new URL('./worker.js', import.meta.url), { type: 'module' });
    this.next = 1;
    this.pending = new Map();
    this.worker.onmessage = ({ data }) => {
      const p = this.pending.get(data.id);
      if (!p) return;
      this.pending.delete(data.id);
      if (data.ok) p.resolve(data.result);
      else p.reject(new Error(data.error));
    };
    this.worker.onerror = (e) => {
      const err = new Error(`vqcodec worker failed: ${e.message ?? e}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  call(op, msg = {}, transfer = []) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, ...msg }, transfer);
    });
  }
}

let client = null;
let sessions = 0;
const shared = () => (client ??= new Client());

/**
 * Starts the worker (and, with `probe`, loads a model) ahead of first use. Only needed by
 * hosts that want to pay the start-up cost early, or serve the worker or the weight files
 * (`weights/base.vqw`, `weights/lite.vqw`, next to worker.js by default) from other URLs.
 */
export async function init({ workerUrl, weightsUrl, probe } = {}) {
  client ??= new Client(workerUrl);
  if (weightsUrl) {
    const base = new URL(weightsUrl, globalThis.location?.href);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    await client.call('weights-url', { url: base.href });
  }
  if (probe) return client.call('probe', { backend: probe.backend ?? 'auto', model: probe.model ?? 'lite' });
  return undefined;
}

/**
 * Testing only: destroys the worker's WebGPU device (a real device loss). Resolves to whether
 * the worker saw the loss; sessions on the GPU then go on on the CPU.
 */
export async function loseGpuForTesting() {
  return shared().call('lose-gpu');
}

/** The worker's wasm memory size and open sessions (for monitoring long encodes). */
export async function workerMemory() {
  return shared().call('memory');
}

function invalidState(what) {
  return new DOMException(what, 'InvalidStateError');
}

function checkEncoderConfig(c) {
  if (!c || typeof c !== 'object') return 'config must be an object';
  for (const k of ['width', 'height']) {
    if (!Number.isInteger(c[k]) || c[k] < 1 || c[k] > 8192) return `${k} must be an integer in 1..=8192`;
  }
  if (c.framerate !== undefined && !(c.framerate > 0 && c.framerate <= 1000)) return 'framerate must be in (0, 1000]';
  if (c.bitrate !== undefined && c.quality !== undefined) return 'give bitrate or quality, not both';
  if (c.bitrate !== undefined && !(c.bitrate > 0)) return 'bitrate must be positive (bit/s)';
  if (c.quality !== undefined && !(Number.isInteger(c.quality) && c.quality >= 0 && c.quality <= 100)) return 'quality must be an integer in 0..=100';
  if (c.keyInterval !== undefined && !(Number.isInteger(c.keyInterval) && c.keyInterval >= 1)) return 'keyInterval must be a positive integer';
  if (c.backend !== undefined && !BACKENDS.includes(c.backend)) return `backend must be one of ${BACKENDS.join(', ')}`;
  if (c.model !== undefined && !MODELS.includes(c.model)) return `model must be one of ${MODELS.join(', ')}`;
  if (c.codebook !== undefined && c.codebook !== null) {
    if (!(c.codebook instanceof Codebook)) return 'codebook must be a Codebook (from trainCodebook() or Codebook.from())';
    if (c.model !== undefined && c.model !== c.codebook.model) {
      return `the codebook was made for the ${c.codebook.model ?? 'unknown'} model, not ${c.model}`;
    }
    if (!MODELS.includes(c.codebook.model)) return `the codebook was made for model ${c.codebook.modelId}, which this package does not ship`;
  }
  return null;
}

// A frame as something the worker can take by transfer, and its timestamp (µs) if it has one.
async function transferable(frame) {
  if (typeof ImageData !== 'undefined' && frame instanceof ImageData) {
    const rgba = frame.data.slice().buffer; // the caller keeps its ImageData
    return [{ rgba, width: frame.width, height: frame.height }, [rgba], undefined];
  }
  if (typeof VideoFrame !== 'undefined' && frame instanceof VideoFrame) {
    const copy = frame.clone(); // WebCodecs leaves closing the caller's frame to the caller
    return [copy, [copy], frame.timestamp];
  }
  if (typeof ImageBitmap !== 'undefined' && frame instanceof ImageBitmap) {
    const copy = await createImageBitmap(frame);
    return [copy, [copy], undefined];
  }
  if ((typeof HTMLCanvasElement !== 'undefined' && frame instanceof HTMLCanvasElement)
    || (typeof OffscreenCanvas !== 'undefined' && frame instanceof OffscreenCanvas)
    || (typeof HTMLVideoElement !== 'undefined' && frame instanceof HTMLVideoElement)
    || (typeof HTMLImageElement !== 'undefined' && frame instanceof HTMLImageElement)) {
    const bmp = await createImageBitmap(frame);
    return [bmp, [bmp], undefined];
  }
  throw new TypeError('encode() takes a VideoFrame, ImageData, ImageBitmap, canvas, video or image');
}

/**
 * What the encoder and decoder share: the WebCodecs life cycle (state, a queue of work that
 * runs in order, flush / reset / close) and the worker session.
 */
class QueuedCodec {
  _output; _error; _state = 'unconfigured'; _queue = Promise.resolve(); _queueSize = 0;
  _generation = 0; _session = 0; _failure = null;

  constructor(name, { output, error } = {}) {
    if (typeof output !== 'function' || typeof error !== 'function') {
      throw new TypeError(`${name} needs {output, error} callbacks`);
    }
    this._name = name;
    this._output = output;
    this._error = error;
  }

  get state() { return this._state; }

  _configure() {
    if (this._state === 'closed') throw invalidState(`the ${this._name} is closed`);
    this._state = 'configured';
    this._session = ++sessions;
    return [this._session, this._generation];
  }

  _check(what) {
    if (this._state !== 'configured') throw invalidState(`${what}() on a ${this._state} ${this._name}`);
    return [this._session, this._generation];
  }

  /** Resolves when every queued job has run; rejects if the codec failed. */
  async flush() {
    this._check('flush');
    await this._queue;
    if (this._failure) throw this._failure;
  }

  /** Drops queued work; configure() again to go on. */
  reset() {
    if (this._state === 'closed') throw invalidState(`the ${this._name} is closed`);
    this._drop();
    this._state = 'unconfigured';
  }

  close() {
    if (this._state === 'closed') return;
    this._drop();
    this._state = 'closed';
  }

  _drop() {
    this._generation++;
    this._queueSize = 0;
    if (this._session) {
      const session = this._session;
      this._queue = this._queue.then(() => shared().call('close', { session })).catch(() => {});
    }
  }

  _enqueue(generation, job, done = () => {}) {
    this._queue = this._queue.then(async () => {
      if (generation !== this._generation || this._failure) return;
      try {
        await job();
      } catch (e) {
        if (generation !== this._generation) return;
        this._failure = e instanceof Error ? e : new Error(String(e));
        this._state = 'closed';
        this._error(this._failure);
      } finally {
        if (generation === this._generation) done();
      }
    });
  }
}

/** A WebCodecs-shaped encoder of `.vqc` chunks. */
export class VqVideoEncoder extends QueuedCodec {
  #config = null; #metadata = null; #frames = 0;

  /** @param {{output: Function, error: Function}} init */
  constructor(init) { super('encoder', init); }

  get encodeQueueSize() { return this._queueSize; }
  /** Backend, reason, model and model id once configured (null before). */
  get info() { return this.#metadata?.info ?? null; }

  static async isConfigSupported(config) {
    const problem = checkEncoderConfig(config);
    return { supported: problem === null, config: { ...config }, ...(problem ? { reason: problem } : {}) };
  }

  configure(config) {
    const problem = checkEncoderConfig(config);
    if (problem) throw new TypeError(problem);
    const [session, generation] = this._configure();
    this.#config = { ...config };
    this.#frames = 0;
    this.#metadata = null;
    const { width, height, framerate = 30, quality, bitrate, keyInterval, backend = 'auto' } = config;
    const codebook = config.codebook ? config.codebook.bytes() : null;
    // the worker picks lite unless asked (or the codebook's model)
    const model = config.model ?? config.codebook?.model ?? null;
    const options = { width, height, framerate, ...(quality !== undefined ? { quality } : {}),
      ...(bitrate !== undefined ? { bitrate } : {}), ...(keyInterval !== undefined ? { keyInterval } : {}) };
    this._enqueue(generation, async () => {
      const r = await shared().call('configure-encoder', { session, backend, model, options, codebook },
        codebook ? [codebook.buffer] : []);
      this.#metadata = {
        decoderConfig: { codec: `vqc1.${r.model}`, codedWidth: width, codedHeight: height, description: r.header },
        info: { backend: r.backend, reason: r.reason, modelId: r.modelId, model: r.model,
          codebook: config.codebook?.id ?? null },
      };
    });
  }

  /**
   * @param {VideoFrame|ImageData|ImageBitmap|HTMLCanvasElement|OffscreenCanvas} frame
   * @param {{keyFrame?: boolean, timestamp?: number}} [options]
   */
  encode(frame, { keyFrame = false, timestamp } = {}) {
    const [session, generation] = this._check('encode');
    const index = this.#frames++;
    const fps = this.#config.framerate ?? 30;
    this._queueSize++;
    const prepared = transferable(frame); // starts now: the caller may close its frame after encode()
    this._enqueue(generation, async () => {
      const [msg, transfer, frameTs] = await prepared;
      const r = await shared().call('encode', { session, frame: msg, keyFrame }, transfer);
      if (generation !== this._generation) return;
      // the GPU was lost and the CPU took over (this chunk is a keyframe)
      if (r.info) Object.assign(this.#metadata.info, r.info);
      const data = r.data;
      const chunk = {
        type: r.type,
        timestamp: timestamp ?? frameTs ?? Math.round((index * 1e6) / fps),
        duration: Math.round(1e6 / fps),
        byteLength: data.byteLength,
        data,
        copyTo(dest) { new Uint8Array(dest.buffer ?? dest, dest.byteOffset ?? 0).set(data); },
      };
      const first = index === 0 ? { decoderConfig: this.#metadata.decoderConfig } : undefined;
      this._output(chunk, first, { stats: r.stats, tokens: r.tokens });
    }, () => { this._queueSize--; });
  }
}

/** A WebCodecs-shaped decoder of `.vqc` chunks; outputs ImageData (or VideoFrame). */
export class VqVideoDecoder extends QueuedCodec {
  #config = null; #info = null;

  constructor(init) { super('decoder', init); }

  get decodeQueueSize() { return this._queueSize; }
  /** Stream size, frame rate, backend and model once configured (null before). */
  get info() { return this.#info; }

  static async isConfigSupported(config) {
    const ok = !!config && typeof config.codec === 'string' && config.codec.startsWith('vqc1')
      && config.description && (config.description.byteLength ?? 0) >= HEADER_LEN;
    return { supported: ok, config: { ...config } };
  }

  /** @param {{codec: string, description: BufferSource, backend?: string, output?: 'imagedata'|'videoframe'}} config */
  configure(config) {
    if (!config?.description || (config.description.byteLength ?? 0) < HEADER_LEN) {
      throw new TypeError('configure() needs the stream header as `description`');
    }
    const [session, generation] = this._configure();
    this.#config = { ...config };
    this.#info = null;
    const header = new Uint8Array(config.description.buffer ?? config.description,
      config.description.byteOffset ?? 0, config.description.byteLength).slice().buffer;
    const backend = config.backend ?? 'auto';
    const model = String(config.codec).split('.')[1] ?? 'lite';
    this._enqueue(generation, async () => {
      this.#info = await shared().call('configure-decoder', { session, backend, model, header }, [header]);
    });
  }

  /** @param {{type?: string, timestamp?: number, data?: Uint8Array, copyTo?: Function, byteLength?: number}} chunk */
  decode(chunk) {
    const [session, generation] = this._check('decode');
    let bytes;
    if (chunk.data instanceof Uint8Array) bytes = chunk.data.slice();
    else if (typeof chunk.copyTo === 'function') { bytes = new Uint8Array(chunk.byteLength); chunk.copyTo(bytes); }
    else throw new TypeError('decode() takes a chunk with `data` or `copyTo`');
    const wantFrames = this.#config.output === 'videoframe' && typeof VideoFrame !== 'undefined';
    this._queueSize++;
    this._enqueue(generation, async () => {
      let r;
      try {
        r = await shared().call('decode', { session, data: bytes.buffer }, [bytes.buffer]);
      } catch (e) {
        // a damaged chunk costs frames up to the next keyframe, not the decoder
        this._output(null, { error: e, timestamp: chunk.timestamp });
        return;
      }
      if (generation !== this._generation) return;
      if (r.info && this.#info) Object.assign(this.#info, r.info); // the CPU took over from a lost GPU
      const timestamp = chunk.timestamp ?? Math.round((r.pts * 1e6) / (this.#info?.framerate ?? 30));
      const frame = wantFrames
        ? new VideoFrame(r.rgba, { format: 'RGBA', codedWidth: r.width, codedHeight: r.height, timestamp })
        : new ImageData(new Uint8ClampedArray(r.rgba.buffer, r.rgba.byteOffset, r.rgba.byteLength), r.width, r.height);
      this._output(frame, { type: r.type, timestamp, pts: r.pts, levels: r.levels, tokens: r.tokens });
    }, () => { this._queueSize--; });
  }
}

/**
 * Splits a `.vqc` file into its header and chunks (offsets and lengths only; the decoder
 * checks every CRC).
 * @param {ArrayBuffer|Uint8Array} bytes
 */
export function splitStream(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (b.length < HEADER_LEN || String.fromCharCode(...b.subarray(0, 4)) !== 'VQCV') {
    throw new TypeError('not a .vqc stream');
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const chunks = [];
  // the header, with the codebook block that follows it when the stream carries one
  let at = HEADER_LEN;
  if (dv.getUint32(8, true) & FLAG_CODEBOOK) {
    if (b.length < HEADER_LEN + 4) throw new TypeError('the .vqc stream is cut inside its header');
    at += 4 + dv.getUint32(HEADER_LEN, true);
    if (at > b.length) throw new TypeError('the .vqc stream is cut inside its codebook');
  }
  const headerLen = at;
  while (at + CHUNK_HEADER_LEN <= b.length) {
    const len = dv.getUint32(at + 8, true);
    const end = at + CHUNK_HEADER_LEN + len;
    if (end > b.length) break;
    chunks.push({ type: b[at + 2] & 0x80 ? 'delta' : 'key', pts: dv.getUint32(at + 4, true), data: b.subarray(at, end) });
    at = end;
  }
  const fps = dv.getUint32(36, true) / dv.getUint32(40, true);
  return { header: b.subarray(0, headerLen), width: dv.getUint32(28, true), height: dv.getUint32(32, true),
    framerate: fps, chunks, truncated: at !== b.length, codebook: headerLen > HEADER_LEN };
}

/**
 * Codebook levels adapted to some footage: made by trainCodebook() or read from a `.codebook`
 * file with Codebook.from(). Give it to VqVideoEncoder.configure({codebook}); the stream then
 * carries it, so any decoder (this package or the CLI) plays the stream with it.
 */
export class Codebook {
  #bytes;

  /** @internal use trainCodebook() or Codebook.from() */
  constructor(bytes, info, report = null) {
    this.#bytes = bytes;
    /** 16 hex digits, as a stream header names it. */
    this.id = info.id;
    /** The id of the model it was made for, and that model's name ('base' | 'lite'), or null. */
    this.modelId = info.model;
    this.model = info.modelName ?? null;
    /** The RVQ levels it replaces. */
    this.levels = info.levels;
    /** For a trained codebook: {frames, steps, mseBefore, mseAfter, seconds, backend, stopped}. */
    this.report = report;
  }

  get byteLength() { return this.#bytes.byteLength; }

  /** A copy of the `.codebook` file's bytes. */
  bytes() { return this.#bytes.slice(); }

  /** The `.codebook` file, to save (a few KiB). */
  toBlob() { return new Blob([this.#bytes], { type: 'application/octet-stream' }); }

  /**
   * Reads a `.codebook` file (a Blob, ArrayBuffer or Uint8Array). Rejects for anything that is
   * not a valid codebook file.
   */
  static async from(source) {
    const bytes = source instanceof Blob ? new Uint8Array(await source.arrayBuffer())
      : new Uint8Array(source.buffer ?? source, source.byteOffset ?? 0, source.byteLength).slice();
    const info = await shared().call('codebook-info', { bytes }); // structured clone copies it
    return new Codebook(bytes, info);
  }
}

function frameSize(f) {
  if (typeof VideoFrame !== 'undefined' && f instanceof VideoFrame) return [f.displayWidth, f.displayHeight];
  if (typeof HTMLVideoElement !== 'undefined' && f instanceof HTMLVideoElement) return [f.videoWidth, f.videoHeight];
  if (typeof HTMLImageElement !== 'undefined' && f instanceof HTMLImageElement) return [f.naturalWidth, f.naturalHeight];
  return [f?.width, f?.height];
}

// `count` frames sampled evenly across `source`: an array of frames, a <video>, or a video Blob.
async function* sampleFrames(source, count, size) {
  if (Array.isArray(source)) {
    const n = Math.min(count, source.length);
    for (let i = 0; i < n; i++) yield source[Math.floor((i * source.length) / n)];
    return;
  }
  let video = source;
  let url = null;
  if (source instanceof Blob) {
    video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.preload = 'auto';
    url = URL.createObjectURL(source);
    video.src = url;
  } else if (!(typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement)) {
    throw new TypeError('trainCodebook() takes a video Blob, a <video> element or an array of frames');
  }
  try {
    if (video.readyState < 2) {
      await new Promise((resolve, reject) => {
        video.addEventListener('loadeddata', resolve, { once: true });
        video.addEventListener('error', () => reject(new Error('the browser cannot decode this video')), { once: true });
      });
    }
    if (!Number.isFinite(video.duration)) throw new TypeError('trainCodebook() needs a video it can seek in (not a live stream): pass an array of frames');
    const [w, h] = size ?? [video.videoWidth, video.videoHeight];
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    for (let i = 0; i < count; i++) {
      await seek(video, ((i + 0.5) / count) * video.duration);
      ctx.drawImage(video, 0, 0, w, h);
      yield ctx.getImageData(0, 0, w, h);
    }
  } finally {
    if (url) URL.revokeObjectURL(url);
  }
}

/**
 * Adapts codebook levels to your footage, on this device: samples `frames` frames across
 * `source`, runs the encoder network on them (WebGPU or CPU, as configure() would pick) and
 * refits the codebooks by k-means. Nothing leaves the page.
 * @param {Blob|HTMLVideoElement|Array<VideoFrame|ImageData|ImageBitmap|HTMLCanvasElement>} source
 * @param {{frames?: number, levels?: number[], iterations?: number, model?: string, backend?: string,
 *   width?: number, height?: number, budget?: number, signal?: AbortSignal,
 *   onProgress?: (p: {phase: 'frames'|'kmeans', done: number, total: number, level?: number, mse?: number}) => void}} [options]
 *   `budget`: milliseconds for the k-means; when spent, the codebook so far is returned.
 * @returns {Promise<Codebook>}
 */
export async function trainCodebook(source, options = {}) {
  const { frames = 64, levels, iterations, signal, onProgress, backend = 'auto', budget } = options;
  signal?.throwIfAborted();
  if (options.model !== undefined && !MODELS.includes(options.model)) throw new TypeError(`model must be one of ${MODELS.join(', ')}`);
  if (!BACKENDS.includes(backend)) throw new TypeError(`backend must be one of ${BACKENDS.join(', ')}`);
  if (!Number.isInteger(frames) || frames < MIN_CODEBOOK_FRAMES) {
    throw new RangeError(`frames must be an integer ≥ ${MIN_CODEBOOK_FRAMES}`);
  }
  if (Array.isArray(source) && source.length < MIN_CODEBOOK_FRAMES) {
    throw new RangeError(`${source.length} frame(s) are too few: a codebook needs at least ${MIN_CODEBOOK_FRAMES}`);
  }
  const first = Array.isArray(source) ? frameSize(source[0]) : null;
  const size = options.width && options.height ? [options.width, options.height] : first;
  const session = ++sessions;
  const started = performance.now();
  let opened = null;
  try {
    let n = 0;
    for await (const frame of sampleFrames(source, frames, size)) {
      signal?.throwIfAborted();
      const [w, h] = frameSize(frame);
      if (!opened) {
        const [width, height] = size ?? [w, h];
        if (!(width >= 1 && height >= 1)) throw new TypeError('cannot tell the frame size: pass width and height');
        opened = await shared().call('train-start', { session, backend, model: options.model ?? null, width, height,
          options: { ...(levels ? { levels } : {}), ...(iterations !== undefined ? { iterations } : {}) } });
        opened.size = [width, height];
      }
      if (w !== opened.size[0] || h !== opened.size[1]) {
        throw new RangeError(`frame ${n} is ${w}x${h}, the others are ${opened.size[0]}x${opened.size[1]}`);
      }
      const [msg, transfer] = await transferable(frame);
      await shared().call('train-frame', { session, frame: msg }, transfer);
      n++;
      onProgress?.({ phase: 'frames', done: n, total: Array.isArray(source) ? Math.min(frames, source.length) : frames });
    }
    if (n < MIN_CODEBOOK_FRAMES) throw new RangeError(`${n} frame(s) are too few: a codebook needs at least ${MIN_CODEBOOK_FRAMES}`);
    signal?.throwIfAborted();
    const steps = await shared().call('train-begin', { session });
    const t0 = performance.now();
    let stopped = false;
    for (;;) {
      signal?.throwIfAborted();
      if (budget !== undefined && performance.now() - t0 >= budget) { stopped = true; break; }
      const p = await shared().call('train-step', { session });
      if (!p) break;
      onProgress?.({ phase: 'kmeans', done: p.step, total: steps, level: p.level, mse: p.mse });
    }
    const r = await shared().call('train-finish', { session });
    return new Codebook(r.bytes, { id: r.id, model: r.model, modelName: opened.model, levels: r.levels },
      { frames: r.frames, steps: r.steps, mseBefore: r.mseBefore, mseAfter: r.mseAfter, stopped,
        seconds: (performance.now() - started) / 1000, backend: opened.backend, reason: opened.reason });
  } finally {
    shared().call('close', { session }).catch(() => {});
  }
}

function seek(video, t) {
  return new Promise((resolve, reject) => {
    video.addEventListener('seeked', () => resolve(), { once: true });
    video.addEventListener('error', () => reject(new Error('the video cannot be decoded')), { once: true });
    video.currentTime = t;
  });
}

/**
 * Compresses a video file (anything the browser's <video> plays) into a `.vqc` Blob.
 * @param {Blob} source
 * @param {{framerate?: number, width?: number, height?: number, quality?: number, bitrate?: number,
 *   keyInterval?: number, backend?: string, model?: string, maxFrames?: number, signal?: AbortSignal}} [options]
 * @param {(p: {frame: number, total: number, bytes: number}) => void} [onProgress]
 * @returns {Promise<Blob>}
 */
export async function compressVideo(source, options = {}, onProgress) {
  const { signal, maxFrames = Infinity, ...config } = options;
  signal?.throwIfAborted();
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.preload = 'auto';
  const url = URL.createObjectURL(source);
  try {
    video.src = url;
    await new Promise((resolve, reject) => {
      video.onloadeddata = resolve;
      video.onerror = () => reject(new Error('the browser cannot decode this video'));
    });
    const fps = config.framerate ?? 30;
    const width = config.width ?? video.videoWidth;
    const height = config.height ?? video.videoHeight;
    const total = Math.max(1, Math.min(maxFrames, Math.floor((video.duration || 0) * fps) || 1));
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const parts = [];
    let bytes = 0;
    let failed = null;
    const encoder = new VqVideoEncoder({
      output(chunk, meta) {
        if (meta?.decoderConfig) { parts.push(meta.decoderConfig.description); bytes += meta.decoderConfig.description.byteLength; }
        parts.push(chunk.data);
        bytes += chunk.byteLength;
      },
      error(e) { failed = e; },
    });
    encoder.configure({ ...config, width, height, framerate: fps });
    try {
      for (let i = 0; i < total; i++) {
        signal?.throwIfAborted();
        if (failed) throw failed;
        await seek(video, Math.min(i / fps, Math.max(0, video.duration - 1e-3)));
        ctx.drawImage(video, 0, 0, width, height);
        // ImageData: its copy is transferred to the worker; nothing here waits for a close()
        encoder.encode(ctx.getImageData(0, 0, width, height), { timestamp: Math.round((i * 1e6) / fps) });
        if (encoder.encodeQueueSize > 2) await encoder.flush();
        onProgress?.({ frame: i + 1, total, bytes });
      }
      await encoder.flush();
    } finally {
      encoder.close();
    }
    if (failed) throw failed;
    return new Blob(parts, { type: 'application/x-vqc' });
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Plays a `.vqc` stream into a canvas at its frame rate. */
export class VqcPlayer {
  #canvas; #ctx; #options; #stream = null; #frames = []; #timer = null; #index = 0;

  /** @param {HTMLCanvasElement|OffscreenCanvas} canvas @param {{backend?: string, onframe?: Function}} [options] */
  constructor(canvas, options = {}) {
    this.#canvas = canvas;
    this.#ctx = canvas.getContext('2d');
    this.#options = options;
  }

  /** Decodes every frame of `source` (a Blob, ArrayBuffer or Uint8Array); resolves with the stream info. */
  async load(source) {
    this.pause();
    const bytes = source instanceof Blob ? new Uint8Array(await source.arrayBuffer()) : new Uint8Array(source.buffer ?? source);
    const stream = splitStream(bytes);
    const frames = [];
    const errors = [];
    const decoder = new VqVideoDecoder({
      output: (frame, meta) => (frame ? frames.push(frame) : errors.push(meta.error)),
      error: (e) => errors.push(e),
    });
    decoder.configure({ codec: 'vqc1', description: stream.header, backend: this.#options.backend });
    for (const c of stream.chunks) decoder.decode({ type: c.type, data: c.data });
    await decoder.flush().catch((e) => errors.push(e));
    decoder.close();
    this.#stream = stream;
    this.#frames = frames;
    this.#index = 0;
    this.#canvas.width = stream.width;
    this.#canvas.height = stream.height;
    if (frames.length) this.#show(0);
    return { width: stream.width, height: stream.height, framerate: stream.framerate,
      frames: frames.length, bytes: bytes.byteLength, errors, truncated: stream.truncated };
  }

  #show(i) {
    this.#ctx.putImageData(this.#frames[i], 0, 0);
    this.#options.onframe?.(i, this.#frames[i]);
  }

  play() {
    if (!this.#stream || this.#timer) return;
    const period = 1000 / this.#stream.framerate;
    const start = performance.now() - this.#index * period;
    const tick = () => {
      const i = Math.floor((performance.now() - start) / period);
      if (i >= this.#frames.length) { this.#timer = null; this.#index = 0; return; }
      if (i !== this.#index || i === 0) { this.#index = i; this.#show(i); }
      this.#timer = requestAnimationFrame(tick);
    };
    this.#timer = requestAnimationFrame(tick);
  }

  pause() {
    if (this.#timer) cancelAnimationFrame(this.#timer);
    this.#timer = null;
  }
}
