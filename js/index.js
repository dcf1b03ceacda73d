// vqcodec for the web: WebCodecs-shaped encoder and decoder running in a module worker,
// plus compressVideo() and VqcPlayer for the two common jobs. Nothing to initialise: the
// worker and the wasm module start on first use (call init() only to start them early).
//
// What this file knows of the .vqc format, its limits and its defaults comes from the small
// format module (format/vqc.js, the Rust format crate built alone, a few tens of KB): it holds
// no byte offset, no limit and no default of its own. It is imported by URL, as the worker and
// the codec modules are, so that a bundled copy of this file finds it beside the bundle.
const format = await import(new URL('./format/vqc.js', import.meta.url).href);
await format.default();

const MODELS = ['base', 'lite'];
const BACKENDS = ['auto', 'webgpu', 'cpu'];
/** Fewest frames trainCodebook() learns from. */
export const MIN_CODEBOOK_FRAMES = 4;

/** The encoder's defaults: `{framerate, quality, keyInterval, sceneCut, effort, lookahead, aq, search, slices}`
 * for a live source (`VqVideoEncoder`), and `fileKeyInterval` / `fileLookahead`, what
 * `compressVideo` uses for a whole file unless told otherwise. */
export const encoderDefaults = Object.freeze(format.encoderDefaults());
/** The decoder's limits (and the largest frame the encoder takes). */
export const limits = Object.freeze(format.limits());

/**
 * What every failure of this package is: an Error whose `kind` says what went wrong, to branch
 * on (the message is for people):
 * 'Format' (not a .vqc stream or codebook file), 'Damaged' (a failed CRC, a cut, a lost
 * reference: decoding resumes at the next keyframe), 'Limits', 'Unsupported', 'ModelMismatch'
 * (a stream or codebook made for other weights), 'Config' (settings out of range), 'Device' (the
 * GPU or CPU backend failed), 'Network' (a file could not be fetched), 'Input' (a source the
 * browser cannot decode). Settings rejected by configure() are TypeErrors with `kind: 'Config'`,
 * as WebCodecs throws them.
 */
export class VqError extends Error {
  constructor(kind, message, options) {
    super(message, options);
    this.name = 'VqError';
    this.kind = kind;
  }
}

/** Where a worker's error carries what it changed in a decoder's `info` (not the page's to see). */
const INFO = Symbol('info');

/** An error from the format module or the worker (`{kind, message}`) as a VqError. */
function vqError(e) {
  return e instanceof VqError ? e : new VqError(e?.kind ?? 'Internal', String(e?.message ?? e));
}

/** A TypeError of kind 'Config' (what WebCodecs' configure() throws for bad settings). */
function configError(message) {
  return Object.assign(new TypeError(message), { kind: 'Config' });
}

/** A RangeError of kind 'Config' (a count or size out of range). */
function rangeError(message) {
  return Object.assign(new RangeError(message), { kind: 'Config' });
}

/** Runs a format-module call, turning its errors into VqErrors. */
function fmt(call, ...args) {
  try {
    return format[call](...args);
  } catch (e) {
    throw vqError(e);
  }
}

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
      else p.reject(data.error.info ? Object.assign(vqError(data.error), { [INFO]: data.error.info }) : vqError(data.error));
    };
    this.worker.onerror = (e) => {
      const err = new VqError('Internal', `vqcodec worker failed: ${e.message ?? e}`);
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
 * the worker saw the loss; sessions on the GPU then go on on the CPU. With `{gpuWorkers: true}`
 * the devices of the decoders' GPU render workers instead (their sessions go on in the
 * decoder's worker, on its device).
 */
export async function loseGpuForTesting(options = {}) {
  return shared().call('lose-gpu', { gpuWorkers: !!options.gpuWorkers });
}

/** The worker's wasm memory size and open sessions (for monitoring long encodes). */
export async function workerMemory() {
  return shared().call('memory');
}

function invalidState(what) {
  return new DOMException(what, 'InvalidStateError');
}

/** The options the codec reads from a config (the rest — backend, model, codebook — are ours). */
function codecOptions({ width, height, framerate, quality, bitrate, keyInterval, sceneCut, effort, lookahead, aq, search, slices }) {
  const o = { width, height, framerate, quality, bitrate, keyInterval, sceneCut, effort, lookahead, aq, search, slices };
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

/** What is wrong with an encoder config, as `{kind, message}`, or null. */
function checkEncoderConfig(c) {
  const config = (message) => ({ kind: 'Config', message });
  if (!c || typeof c !== 'object') return config('config must be an object');
  const problem = format.checkEncoderOptions(codecOptions(c));
  if (problem) return { kind: problem.kind, message: problem.message };
  if (c.backend !== undefined && !BACKENDS.includes(c.backend)) return config(`backend must be one of ${BACKENDS.join(', ')}`);
  if (c.model !== undefined && !MODELS.includes(c.model)) return config(`model must be one of ${MODELS.join(', ')}`);
  const workers = c.cpuWorkers === undefined ? null : workersProblem('cpuWorkers', c.cpuWorkers, MAX_CPU_WORKERS);
  if (workers) return config(workers);
  if (c.codebook !== undefined && c.codebook !== null) {
    if (!(c.codebook instanceof Codebook)) return config('codebook must be a Codebook (from trainCodebook() or Codebook.from())');
    const mismatch = (message) => ({ kind: 'ModelMismatch', message });
    if (c.model !== undefined && c.model !== c.codebook.model) {
      return mismatch(`the codebook was made for the ${c.codebook.model ?? 'unknown'} model, not ${c.model}`);
    }
    if (!MODELS.includes(c.codebook.model)) return mismatch(`the codebook was made for model ${c.codebook.modelId}, which this package does not ship`);
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
  throw configError('encode() takes a VideoFrame, ImageData, ImageBitmap, canvas, video or image');
}

/**
 * What the encoder and decoder share: the WebCodecs life cycle (state, a queue of work that
 * runs in order, flush / reset / close, a `dequeue` event when the queue shrinks) and the worker
 * session.
 */
class QueuedCodec extends EventTarget {
  /** Called (as WebCodecs' `ondequeue`) each time a queued frame or chunk is done. */
  ondequeue = null;
  _output; _error; _state = 'unconfigured'; _queue = Promise.resolve(); _queueSize = 0;
  _generation = 0; _session = 0; _failure = null;
  // the worker's calls, posted in call order, at most _inFlight unanswered frames or chunks (an
  // encoder's on the CPU one more than its render workers, which run the network of the frames
  // ahead; a decoder's see DECODES_IN_FLIGHT); outputs still come out in order (the queue awaits
  // each answer in turn)
  _posting = Promise.resolve(); _window = []; _inFlight = 1;

  constructor(name, { output, error } = {}) {
    super();
    if (typeof output !== 'function' || typeof error !== 'function') {
      throw configError(`${name} needs {output, error} callbacks`);
    }
    this._name = name;
    this._output = output;
    this._error = error;
  }

  get state() { return this._state; }

  _configure() {
    if (this._state === 'closed') throw invalidState(`the ${this._name} is closed`);
    if (this._state === 'configured') this._closeSession(); // after the work queued for it
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

  /** One queued job is done: the queue is shorter (WebCodecs' `dequeue`). */
  _dequeued() {
    this._queueSize--;
    const event = new Event('dequeue');
    this.dispatchEvent(event);
    this.ondequeue?.(event);
  }

  _drop() {
    this._generation++;
    this._queueSize = 0;
    this._closeSession();
  }

  /** Closes the worker's session (its state, and a decoder's symbols worker) once the jobs
   * queued before now have run. */
  _closeSession() {
    if (this._session) {
      const session = this._session;
      this._session = null;
      this._queue = this._queue.then(() => shared().call('close', { session })).catch(() => {});
    }
  }

  /** Posts `call` (a worker call) after the calls posted before it, without waiting for their
   * answers; one that `counts` waits while _inFlight counted calls are unanswered. */
  _post(call, counts = false) {
    const posted = this._posting.then(async () => {
      while (counts && this._window.length >= this._inFlight) await this._window.shift();
      const reply = call();
      reply.catch(() => {}); // awaited by its job, unless reset() dropped it
      if (counts) this._window.push(reply.then(() => {}, () => {}));
      return { reply }; // wrapped: the next call is posted without waiting for this answer
    });
    this._posting = posted.then(() => {}, () => {});
    return posted.then(({ reply }) => reply);
  }

  _enqueue(generation, job, done = () => {}, dropped = () => {}) {
    this._queue = this._queue.then(async () => {
      if (generation !== this._generation || this._failure) { dropped(); return; }
      try {
        await job();
      } catch (e) {
        if (generation !== this._generation) return;
        this._failure = e instanceof Error ? e : vqError(e);
        this._state = 'closed';
        this._closeSession();
        this._error(this._failure);
      } finally {
        if (generation === this._generation) done();
      }
    });
  }
}

/**
 * A WebCodecs-shaped encoder of `.vqc` chunks. With a `lookahead` (frames) it holds frames back
 * and outputs a window's chunks at once, in order; `flush()` outputs the rest.
 */
export class VqVideoEncoder extends QueuedCodec {
  #config = null; #metadata = null; #frames = 0; #emitted = 0; #timestamps = new Map();
  /** @param {{output: Function, error: Function}} init */
  constructor(init) { super('encoder', init); }

  get encodeQueueSize() { return this._queueSize; }
  /** Backend, reason, model and model id once configured (null before). */
  get info() { return this.#metadata?.info ?? null; }

  static async isConfigSupported(config) {
    const problem = checkEncoderConfig(config);
    return { supported: problem === null, config: { ...config }, ...(problem ? { reason: problem.message, kind: problem.kind } : {}) };
  }

  /** Throws a TypeError whose `kind` is 'Config' (or 'ModelMismatch' for another model's codebook). */
  configure(config) {
    const problem = checkEncoderConfig(config);
    if (problem) throw Object.assign(new TypeError(problem.message), { kind: problem.kind });
    const cpuWorkers = cpuWorkersOf(config);
    const [session, generation] = this._configure();
    this._inFlight = cpuWorkers + 1;
    this.#config = { ...config };
    this.#frames = 0;
    this.#emitted = 0;
    this.#timestamps = new Map();
    this.#metadata = null;
    const { width, height, backend = 'auto' } = config;
    const codebook = config.codebook ? config.codebook.bytes() : null;
    // the worker picks lite unless asked (or the codebook's model)
    const model = config.model ?? config.codebook?.model ?? null;
    const options = codecOptions(config);
    const configured = this._post(() => shared().call('configure-encoder', { session, backend, model, options, codebook, cpuWorkers },
      codebook ? [codebook.buffer] : []));
    configured.catch(() => {}); // reported by the job below
    this._enqueue(generation, async () => {
      const r = await configured;
      this.#metadata = {
        decoderConfig: { codec: `vqc1.${r.model}`, codedWidth: width, codedHeight: height, description: r.header },
        info: { backend: r.backend, reason: r.reason, modelId: r.modelId, model: r.model,
          codebook: config.codebook?.id ?? null, renderWorkers: r.renderWorkers },
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
    const fps = this.#config.framerate ?? encoderDefaults.framerate;
    this._queueSize++;
    const prepared = transferable(frame); // starts now: the caller may close its frame after encode()
    const reply = this._post(async () => {
      const [msg, transfer, frameTs] = await prepared;
      this.#timestamps.set(index, timestamp ?? frameTs ?? Math.round((index * 1e6) / fps));
      return shared().call('encode', { session, frame: msg, keyFrame }, transfer);
    }, true);
    reply.catch(() => {}); // handled by the job below
    this._enqueue(generation, async () => {
      const packets = await reply;
      if (generation !== this._generation) return;
      this.#output(packets);
    }, () => this._dequeued());
  }

  /** Outputs every chunk (a lookahead's held ones too); resolves when all are out. */
  async flush() {
    const [session, generation] = this._check('flush');
    const reply = this._post(() => shared().call('flush-encoder', { session }));
    reply.catch(() => {}); // handled by the job below
    this._enqueue(generation, async () => {
      const packets = await reply;
      if (generation !== this._generation) return;
      this.#output(packets);
    });
    await super.flush();
  }

  // Chunks come out in frame order: the n-th packet is the n-th frame encode() was given.
  #output(packets) {
    const fps = this.#config.framerate ?? encoderDefaults.framerate;
    for (const r of packets) {
      const n = this.#emitted++;
      // the GPU was lost and the CPU took over (this chunk is a keyframe)
      if (r.info) Object.assign(this.#metadata.info, r.info);
      const data = r.data;
      const timestamp = this.#timestamps.get(n) ?? Math.round((n * 1e6) / fps);
      this.#timestamps.delete(n);
      const chunk = {
        type: r.type,
        timestamp,
        duration: Math.round(1e6 / fps),
        byteLength: data.byteLength,
        data,
        copyTo(dest) { new Uint8Array(dest.buffer ?? dest, dest.byteOffset ?? 0).set(data); },
      };
      const first = n === 0 ? { decoderConfig: this.#metadata.decoderConfig } : undefined;
      this._output(chunk, first, { stats: r.stats, tokens: r.tokens });
    }
  }
}

/** Chunks a decoder keeps in flight in its worker: on WebGPU the device renders one frame while
 * the next chunks' symbols are read (through Dawn on an H100, base 1080p 21 -> 46 fps with three,
 * no better with six; docs/results/device-profile.md); on the CPU one more than its render
 * workers. */
const DECODES_IN_FLIGHT = 3;

/** Render workers an encoder or decoder on the CPU uses by default (`cpuWorkers`): one per core,
 * up to 4; none on one core. Each runs the network of one frame at a time in its own CPU module
 * (a decoder's decoder network, an encoder's encoder network) while the codec's worker reads or
 * codes the symbols in order (docs/results/cpu-workers.md). */
const defaultCpuWorkers = () => {
  const cores = Math.floor(globalThis.navigator?.hardwareConcurrency ?? 1);
  return cores >= 2 ? Math.min(cores, 4) : 0;
};

/** GPU render workers a decoder uses by default (`gpuWorkers`): 3 for frames of 1920×1080 or
 * more on 8 cores or more, else none. They apply only where the session runs on WebGPU with a
 * symbols worker. Through Dawn on an H100 (Node's worker threads standing in for Web Workers),
 * base 1920×1080 went from 6.5–7.1 ms a frame to 4.7 with its frames on 3 devices (native
 * burn-wgpu: 3.6–3.8), each device beside the decoder's own holding ~25 MiB more of GPU memory
 * (docs/results/wasm-host.md). Not yet measured in a browser on a GPU. */
const GPU_WORKERS_PIXELS = 1920 * 1080;
const defaultGpuWorkers = (width, height) => {
  const cores = Math.floor(globalThis.navigator?.hardwareConcurrency ?? 1);
  return width * height >= GPU_WORKERS_PIXELS && cores >= 8 ? 3 : 0;
};

/** The most workers of each kind a config may ask for (`cpuWorkers`, a decoder's `gpuWorkers`). */
const MAX_CPU_WORKERS = 8;
const MAX_GPU_WORKERS = 4;

/** What is wrong with a worker count `n` given as `name` (0..=`max`), or null. */
function workersProblem(name, n, max) {
  return Number.isInteger(n) && n >= 0 && n <= max ? null : `${name} must be an integer from 0 to ${max} (got ${n})`;
}

/** Worker count `n` (`name`, 0..=`max`), or a TypeError of kind Config. */
function workersOf(name, n, max) {
  const problem = workersProblem(name, n, max);
  if (problem) throw configError(problem);
  return n;
}

/** A config's `cpuWorkers`, or the default; a TypeError of kind Config out of 0..=8. */
const cpuWorkersOf = (config) => workersOf('cpuWorkers', config.cpuWorkers ?? defaultCpuWorkers(), MAX_CPU_WORKERS);

/** A WebCodecs-shaped decoder of `.vqc` chunks; outputs ImageData (or VideoFrame). */
export class VqVideoDecoder extends QueuedCodec {
  #config = null; #info = null;

  constructor(init) { super('decoder', init); }

  get decodeQueueSize() { return this._queueSize; }
  /** Stream size, frame rate, backend and model once configured (null before). */
  get info() { return this.#info; }

  static async isConfigSupported(config) {
    let reason = null;
    if (!config || typeof config.codec !== 'string' || !config.codec.startsWith('vqc1')) reason = "codec must be 'vqc1' or 'vqc1.<model>'";
    else if (!config.description) reason = 'description must be the stream header';
    else {
      // as configure() throws: the worker counts asked for, then the header
      reason = (config.cpuWorkers !== undefined && workersProblem('cpuWorkers', config.cpuWorkers, MAX_CPU_WORKERS))
        || (config.gpuWorkers !== undefined && workersProblem('gpuWorkers', config.gpuWorkers, MAX_GPU_WORKERS)) || null;
      if (!reason) {
        try { fmt('headerInfo', bytesOf(config.description)); } catch (e) { reason = e.message; }
      }
    }
    return { supported: reason === null, config: { ...config }, ...(reason ? { reason } : {}) };
  }

  /**
   * @param {{codec: string, description: BufferSource, backend?: string, output?: 'imagedata'|'videoframe', cpuWorkers?: number, gpuWorkers?: number}} config
   * Throws a TypeError (kind 'Config') without a header or with a `gpuWorkers` out of 0..=4,
   * and the header's VqError (kind 'Format', 'Damaged', 'Limits' or 'Unsupported') when it is
   * not a valid one.
   */
  configure(config) {
    if (!config?.description) throw configError('configure() needs the stream header as `description`');
    // a header that does not parse fails here, not later
    const stream = fmt('headerInfo', bytesOf(config.description));
    const cpuWorkers = cpuWorkersOf(config);
    const gpuWorkers = workersOf('gpuWorkers', config.gpuWorkers ?? defaultGpuWorkers(stream.width, stream.height), MAX_GPU_WORKERS);
    const [session, generation] = this._configure();
    this.#config = { ...config };
    this.#info = null;
    const header = bytesOf(config.description).slice().buffer;
    const backend = config.backend ?? 'auto';
    const model = String(config.codec).split('.')[1] ?? 'lite';
    // two frames in flight for each GPU render worker keep every device busy
    this._inFlight = Math.max(DECODES_IN_FLIGHT, cpuWorkers + 1, 2 * gpuWorkers);
    const configured = this._post(() => shared().call('configure-decoder',
      { session, backend, model, header, cpuWorkers, cpuWorkersChosen: config.cpuWorkers !== undefined, gpuWorkers }, [header]));
    configured.catch(() => {}); // reported by the job below
    this._enqueue(generation, async () => {
      this.#info = await configured;
    });
  }

  /** @param {{type?: string, timestamp?: number, data?: Uint8Array, copyTo?: Function, byteLength?: number}} chunk */
  decode(chunk) {
    const [session, generation] = this._check('decode');
    let bytes;
    if (chunk.data instanceof Uint8Array) bytes = chunk.data.slice();
    else if (typeof chunk.copyTo === 'function') { bytes = new Uint8Array(chunk.byteLength); chunk.copyTo(bytes); }
    else throw configError('decode() takes a chunk with `data` or `copyTo`');
    const wantFrames = this.#config.output === 'videoframe' && typeof VideoFrame !== 'undefined';
    this._queueSize++;
    const reply = this._post(() => shared().call('decode', { session, data: bytes.buffer, videoFrame: wantFrames }, [bytes.buffer]), true);
    reply.catch(() => {}); // handled by the job below
    this._enqueue(generation, async () => {
      let r;
      try {
        r = await reply;
      } catch (e) {
        // a damaged chunk costs frames up to the next keyframe, not the decoder (whose worker
        // may have taken over at it: what that changed)
        if (generation === this._generation && e?.[INFO] && this.#info) Object.assign(this.#info, e[INFO]);
        this._output(null, { error: e, timestamp: chunk.timestamp });
        return;
      }
      if (generation !== this._generation) { r.frame?.close(); return; }
      if (r.info && this.#info) Object.assign(this.#info, r.info); // the CPU took over from a lost GPU
      const timestamp = chunk.timestamp ?? Math.round((r.pts * 1e6) / (this.#info?.framerate ?? encoderDefaults.framerate));
      let frame;
      if (r.frame) {
        // the worker made it of the module's memory: the same pixels under this timestamp
        try {
          frame = new VideoFrame(r.frame, { timestamp });
        } finally {
          r.frame.close();
        }
      } else {
        frame = wantFrames
          ? new VideoFrame(r.rgba, { format: 'RGBA', codedWidth: r.width, codedHeight: r.height, timestamp })
          : new ImageData(new Uint8ClampedArray(r.rgba.buffer, r.rgba.byteOffset, r.rgba.byteLength), r.width, r.height);
      }
      this._output(frame, { type: r.type, timestamp, pts: r.pts, levels: r.levels, tokens: r.tokens });
    }, () => this._dequeued(), () => reply.then((r) => r.frame?.close(), () => {}));
  }
}

/** A BufferSource as a Uint8Array view (no copy). */
function bytesOf(source) {
  return source instanceof Uint8Array ? source
    : new Uint8Array(source.buffer ?? source, source.byteOffset ?? 0, source.byteLength);
}

/**
 * Splits a `.vqc` file into its header and chunks, as the format's own reader walks it (with
 * resync after damage). A damaged span is listed with `type: null` and its `error`: a decoder
 * given it fails it and waits for the next keyframe, as on the whole file. Throws a VqError
 * when the header cannot be read.
 * @param {ArrayBuffer|Uint8Array} bytes
 */
export function splitStream(bytes) {
  const b = bytesOf(bytes);
  const l = fmt('layout', b);
  const h = l.header;
  return {
    header: b.subarray(0, h.headerLength), width: h.width, height: h.height, framerate: h.framerate,
    frameCount: h.frameCount, modelId: h.modelId, codebook: h.codebookId !== null,
    chunks: l.chunks.map((c) => ({ type: c.type, pts: c.pts, data: b.subarray(c.start, c.end),
      ...(c.error ? { error: vqError(c.error) } : {}) })),
    truncated: l.truncated ? vqError(l.truncated) : null,
  };
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
    /** For a trained codebook: {frames, steps, mseBefore, mseAfter, bitsBefore, bitsAfter, seconds, backend, stopped}. */
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
    throw configError('trainCodebook() takes a video Blob, a <video> element or an array of frames');
  }
  try {
    await loaded(video);
    if (!Number.isFinite(video.duration)) throw new VqError('Input', 'trainCodebook() needs a video it can seek in (not a live stream): pass an array of frames');
    const [w, h] = size ?? [video.videoWidth, video.videoHeight];
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    for (let i = 0; i < count; i++) {
      await seekFrame(video, ((i + 0.5) / count) * video.duration);
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
  if (options.model !== undefined && !MODELS.includes(options.model)) throw configError(`model must be one of ${MODELS.join(', ')}`);
  if (!BACKENDS.includes(backend)) throw configError(`backend must be one of ${BACKENDS.join(', ')}`);
  if (!Number.isInteger(frames) || frames < MIN_CODEBOOK_FRAMES) {
    throw rangeError(`frames must be an integer ≥ ${MIN_CODEBOOK_FRAMES}`);
  }
  if (Array.isArray(source) && source.length < MIN_CODEBOOK_FRAMES) {
    throw rangeError(`${source.length} frame(s) are too few: a codebook needs at least ${MIN_CODEBOOK_FRAMES}`);
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
        if (!(width >= 1 && height >= 1)) throw configError('cannot tell the frame size: pass width and height');
        opened = await shared().call('train-start', { session, backend, model: options.model ?? null, width, height,
          options: { ...(levels ? { levels } : {}), ...(iterations !== undefined ? { iterations } : {}) } });
        opened.size = [width, height];
      }
      if (w !== opened.size[0] || h !== opened.size[1]) {
        throw rangeError(`frame ${n} is ${w}x${h}, the others are ${opened.size[0]}x${opened.size[1]}`);
      }
      const [msg, transfer] = await transferable(frame);
      await shared().call('train-frame', { session, frame: msg }, transfer);
      n++;
      onProgress?.({ phase: 'frames', done: n, total: Array.isArray(source) ? Math.min(frames, source.length) : frames });
    }
    if (n < MIN_CODEBOOK_FRAMES) throw rangeError(`${n} frame(s) are too few: a codebook needs at least ${MIN_CODEBOOK_FRAMES}`);
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
      { frames: r.frames, steps: r.steps, mseBefore: r.mseBefore, mseAfter: r.mseAfter,
        bitsBefore: r.bitsBefore, bitsAfter: r.bitsAfter, stopped,
        seconds: (performance.now() - started) / 1000, backend: opened.backend, reason: opened.reason });
  } finally {
    shared().call('close', { session }).catch(() => {});
  }
}

/**
 * Seeks `video` (paused) to `t` seconds; resolves once the frame there is the one `drawImage`
 * draws. `seeked` alone is not that: Chromium may fire it before the new frame is presented
 * (measured on a loaded 2-core machine: one frame in 30 of a clip drawn from before its seek, so
 * the same file compressed twice made two different streams), so this also waits for the frame's
 * `requestVideoFrameCallback` — or 250 ms after `seeked` where none comes (a browser without
 * it). Rejects with a VqError of kind 'Input' when the video cannot be decoded.
 * @param {HTMLVideoElement} video
 * @param {number} t
 */
export function seekFrame(video, t) {
  if (video.error) return Promise.reject(new VqError('Input', 'the video cannot be decoded'));
  if (Math.abs(video.currentTime - t) < 1e-6 && video.readyState >= 2) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const watch = typeof video.requestVideoFrameCallback === 'function';
    let seeked = false;
    let presented = !watch;
    let timer = 0;
    const settle = () => {
      if (!seeked || !presented) return;
      clearTimeout(timer);
      resolve();
    };
    const handle = watch ? video.requestVideoFrameCallback(() => { presented = true; settle(); }) : 0;
    video.addEventListener('seeked', () => {
      seeked = true;
      if (!presented) {
        timer = setTimeout(() => {
          video.cancelVideoFrameCallback?.(handle);
          presented = true;
          settle();
        }, 250);
      }
      settle();
    }, { once: true });
    video.addEventListener('error', () => {
      clearTimeout(timer);
      reject(new VqError('Input', 'the video cannot be decoded'));
    }, { once: true });
    video.currentTime = t;
  });
}

/**
 * Resolves when `video` has its first frame; rejects with a VqError of kind 'Input' when the
 * browser cannot decode it — also when that was already decided before the call (a listener
 * added after the `error` event would wait for ever).
 */
function loaded(video) {
  if (video.error) return Promise.reject(new VqError('Input', 'the browser cannot decode this video'));
  if (video.readyState >= 2) return Promise.resolve();
  return new Promise((resolve, reject) => {
    video.addEventListener('loadeddata', () => resolve(), { once: true });
    video.addEventListener('error', () => reject(new VqError('Input', 'the browser cannot decode this video')), { once: true });
  });
}

const COMMON_RATES = [24000 / 1001, 24, 25, 30000 / 1001, 30, 50, 60000 / 1001, 60];

/**
 * The frame rate of a `<video>`'s source, measured: plays a few frames (muted) and reads their
 * media times (`requestVideoFrameCallback`), then snaps to a common rate within 0.5%. The video
 * is left paused where it was. Resolves to `fallback` (default: the encoder's default frame
 * rate) where the browser cannot tell.
 * @param {HTMLVideoElement} video
 */
export async function videoFrameRate(video, fallback = encoderDefaults.framerate) {
  if (typeof video.requestVideoFrameCallback !== 'function' || !(video.duration > 0)) return fallback;
  const start = video.currentTime;
  const seen = [];
  await new Promise((resolve) => {
    const step = (_, meta) => {
      seen.push(meta);
      if (seen.length < 12) video.requestVideoFrameCallback(step); else resolve();
    };
    video.requestVideoFrameCallback(step);
    video.play().catch(resolve);
    setTimeout(resolve, 2000); // a clip shorter than that, or one that will not play
  });
  video.pause();
  await seekFrame(video, start);
  // the media time between frames presented one after the other
  const steps = seen.slice(1).filter((m, i) => m.presentedFrames === seen[i].presentedFrames + 1)
    .map((m, i) => m.mediaTime - seen[i].mediaTime).filter((d) => d > 0).sort((x, y) => x - y);
  if (!steps.length) return fallback;
  const fps = 1 / steps[steps.length >> 1];
  return COMMON_RATES.find((r) => Math.abs(r / fps - 1) < 0.005) ?? Math.round(fps * 1000) / 1000;
}

/** Resolves at the codec's next `dequeue` event (a queued frame or chunk is done). */
function dequeued(codec) {
  return new Promise((resolve) => codec.addEventListener('dequeue', () => resolve(), { once: true }));
}

/**
 * Compresses a video file (anything the browser's `<video>` plays) into a `.vqc` Blob, frame for
 * frame: at the source's own frame rate (measured, see `videoFrameRate`; `framerate` overrides
 * it) and size (`width` / `height` scale it; give one and the other keeps the aspect).
 * @param {Blob} source
 * @param {{framerate?: number, width?: number, height?: number, quality?: number, bitrate?: number,
 *   keyInterval?: number, sceneCut?: boolean, effort?: number, lookahead?: number, aq?: number, search?: string, slices?: number, backend?: string, model?: string,
 *   codebook?: Codebook, maxFrames?: number, signal?: AbortSignal}} [options]
 * @param {(p: {frame: number, total: number, bytes: number, kbps: number}) => void} [onProgress]
 *   `kbps`: the rate achieved so far (file bytes over the frames' duration), to compare with a
 *   `bitrate` target.
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
    await loaded(video);
    const fps = config.framerate ?? await videoFrameRate(video);
    const [w0, h0] = [video.videoWidth, video.videoHeight];
    const width = config.width ?? (config.height ? Math.round((w0 * config.height) / h0) : w0);
    const height = config.height ?? (config.width ? Math.round((h0 * config.width) / w0) : h0);
    const total = Math.max(1, Math.min(maxFrames, Math.round((video.duration || 0) * fps) || 1));
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
    encoder.configure({
      keyInterval: encoderDefaults.fileKeyInterval,
      // the device's search codes each frame as it comes
      lookahead: config.search === 'device' ? 0 : encoderDefaults.fileLookahead,
      ...config, width, height, framerate: fps,
    });
    try {
      for (let i = 0; i < total; i++) {
        signal?.throwIfAborted();
        if (failed) throw failed;
        // the middle of frame i: a seek to its first instant may land on the frame before
        await seekFrame(video, Math.min((i + 0.5) / fps, Math.max(0, video.duration - 1e-3)));
        ctx.drawImage(video, 0, 0, width, height);
        // ImageData: its copy is transferred to the worker; nothing here waits for a close()
        encoder.encode(ctx.getImageData(0, 0, width, height), { timestamp: Math.round((i * 1e6) / fps) });
        // wait for the queue, not flush(): a flush would cut a lookahead's window short
        while (encoder.encodeQueueSize > 2 && !failed) await dequeued(encoder);
        onProgress?.({ frame: i + 1, total, bytes, kbps: (bytes * 8 * fps) / (i + 1) / 1000 });
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

/** Decoded frames a player holds ahead of the one it shows (queued or being decoded), at most:
 * 64 MiB of RGBA, from 2 (4K) to 16 (640×360 and smaller). */
const PLAYER_BUFFER_BYTES = 64 * 1024 * 1024;
const PLAYER_AHEAD_MAX = 16;

/**
 * Plays a `.vqc` stream into a canvas at its frame rate. It decodes as it plays, a few frames
 * ahead of the clock (`ahead`), so a long or large file takes no more memory than a short one;
 * when decoding is slower than the frame rate, playback waits for the next frame instead of
 * skipping it. Replaying decodes the file again.
 */
export class VqcPlayer {
  #canvas; #ctx; #options;
  #stream = null; #errors = []; #decoder = null;
  // the frames decoded ahead, in order: {index, frame} (frame null for a frame a damaged chunk cost)
  #queue = [];
  #fed = 0; // chunks given to the decoder
  #outputs = 0; // chunks it answered (a frame, or none for a damaged chunk)
  #shown = -1; // index of the frame on the canvas
  #pos = 0; // the clock, in frames
  #ahead = 2; #timer = null; #ended = false; #wake = null;
  #failure = null; // why the decoder could not start

  /**
   * @param {HTMLCanvasElement|OffscreenCanvas} canvas
   * @param {{backend?: string, output?: 'imagedata'|'videoframe', ahead?: number, onframe?: (index: number, frame: ImageData|VideoFrame) => void, onended?: () => void}} [options]
   *   `onframe`: each frame as it is shown, with its index in the file (a VideoFrame is closed
   *   when onframe returns). `output: 'videoframe'` draws VideoFrames (no copy into an
   *   ImageData: faster for large frames). `ahead`: frames decoded ahead at most (default: 64 MiB
   *   of RGBA, 2–16). `onended`: the last frame was shown (play() again replays from the start).
   */
  constructor(canvas, options = {}) {
    this.#canvas = canvas;
    this.#ctx = canvas.getContext('2d');
    this.#options = options;
  }

  /** Frames decoded or being decoded ahead of the one shown (never more than `ahead`). */
  get buffered() { return this.#fed - this.#shown - 1; }

  /**
   * Reads `source` (a Blob, ArrayBuffer or Uint8Array), shows its first frame and resolves
   * with the stream info: `frames` is how many the file holds (0 when none of them decodes),
   * `truncated` why a cut file ends early (or null), `errors` what damaged chunks cost
   * (VqErrors), filled as playback reaches them. Rejects with a VqError when the header cannot
   * be read or the decoder cannot start.
   */
  async load(source) {
    this.close();
    const bytes = source instanceof Blob ? new Uint8Array(await source.arrayBuffer()) : new Uint8Array(source.buffer ?? source);
    const stream = splitStream(bytes);
    this.#stream = stream;
    this.#errors = [];
    this.#canvas.width = stream.width;
    this.#canvas.height = stream.height;
    const info = { width: stream.width, height: stream.height, framerate: stream.framerate,
      frames: stream.chunks.length, bytes: bytes.byteLength, errors: this.#errors, truncated: stream.truncated };
    const frameBytes = Math.max(1, stream.width * stream.height * 4);
    this.#ahead = Math.max(1, Math.floor(this.#options.ahead
      ?? Math.min(PLAYER_AHEAD_MAX, Math.max(2, Math.floor(PLAYER_BUFFER_BYTES / frameBytes)))));
    this.#start();
    // the first frame that decodes, or the end of the stream (frames lost before it are passed)
    for (;;) {
      while (this.#queue.length && !this.#queue[0].frame) this.#shown = this.#queue.shift().index;
      if (this.#stream !== stream || this.#queue.length || this.#outputs >= stream.chunks.length) break;
      this.#feed();
      await new Promise((resolve) => { this.#wake = resolve; });
    }
    if (this.#stream !== stream) return info; // another load() came first
    if (this.#failure) {
      const e = this.#failure;
      this.close();
      throw e;
    }
    if (this.#queue.length) this.#showUpTo(this.#queue[0].index);
    else info.frames = 0;
    this.#pos = Math.max(0, this.#shown);
    return info;
  }

  /** A new decoder from the stream's first chunk. */
  #start() {
    this.#stopDecoder();
    this.#failure = null;
    this.#errors.length = 0; // filled again as playback reaches them
    this.#fed = 0;
    this.#outputs = 0;
    this.#shown = -1;
    this.#pos = 0;
    this.#ended = false;
    const stream = this.#stream;
    const decoder = new VqVideoDecoder({
      output: (frame, meta) => {
        if (this.#decoder !== decoder) { frame?.close?.(); return; }
        if (!frame) this.#errors.push(meta.error);
        this.#queue.push({ index: this.#outputs++, frame });
        this.#notify();
      },
      error: (e) => {
        if (this.#decoder !== decoder) return;
        // nothing more comes: the rest of the file is lost (before any frame, load() rejects)
        this.#errors.push(e);
        if (this.#outputs === 0 && !this.#queue.length) this.#failure = e;
        this.#outputs = stream.chunks.length;
        this.#notify();
      },
    });
    this.#decoder = decoder;
    decoder.configure({ codec: 'vqc1', description: stream.header, backend: this.#options.backend,
      ...(this.#options.output ? { output: this.#options.output } : {}) });
    this.#feed();
  }

  #notify() {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Keeps `ahead` frames decoded or in the decoder past the one shown. */
  #feed() {
    const chunks = this.#stream.chunks;
    while (this.#decoder?.state === 'configured' && this.#fed < chunks.length && this.#fed - this.#shown - 1 < this.#ahead) {
      const c = chunks[this.#fed++];
      this.#decoder.decode({ type: c.type, data: c.data });
    }
  }

  /** Shows the latest decoded frame up to `i` that is not on the canvas yet; frames before it are dropped. */
  #showUpTo(i) {
    let show = null;
    while (this.#queue.length && this.#queue[0].index <= i) {
      const e = this.#queue.shift();
      if (!e.frame) continue;
      if (show) closeFrame(show.frame);
      show = e;
    }
    if (i > this.#shown) this.#shown = i;
    if (!show) return;
    const { index, frame } = show;
    if (frame instanceof ImageData) this.#ctx.putImageData(frame, 0, 0);
    else this.#ctx.drawImage(frame, 0, 0);
    try {
      this.#options.onframe?.(index, frame);
    } catch (e) {
      queueMicrotask(() => { throw e; }); // the page's error, reported; playback goes on
    } finally {
      closeFrame(frame);
    }
  }

  play() {
    if (!this.#stream || this.#timer || !this.#stream.chunks.length) return;
    if (this.#ended) this.#start(); // replay: decode the file again from its start
    const total = this.#stream.chunks.length;
    const period = 1000 / this.#stream.framerate;
    let last = performance.now();
    const tick = (now) => {
      // the clock runs at the frame rate but never past the frames decoded so far
      this.#pos = Math.min(this.#pos + Math.max(0, now - last) / period, this.#outputs);
      last = now;
      if (this.#pos >= total) {
        this.#showUpTo(total - 1);
        this.#timer = null;
        this.#ended = true;
        this.#stopDecoder();
        this.#options.onended?.();
        return;
      }
      this.#showUpTo(Math.min(Math.floor(this.#pos), this.#outputs - 1));
      this.#feed();
      this.#timer = requestAnimationFrame(tick);
    };
    this.#timer = requestAnimationFrame(tick);
  }

  pause() {
    if (this.#timer) cancelAnimationFrame(this.#timer);
    this.#timer = null;
  }

  /** Stops playback and releases the decoder and the frames held (load() again to play). */
  close() {
    this.pause();
    this.#stopDecoder();
    this.#stream = null;
    this.#notify();
  }

  #stopDecoder() {
    const d = this.#decoder;
    this.#decoder = null;
    if (d && d.state !== 'closed') d.close();
    for (const e of this.#queue.splice(0)) closeFrame(e.frame);
  }
}

/** Closes a VideoFrame (an ImageData needs nothing). */
function closeFrame(frame) {
  if (frame && typeof frame.close === 'function') frame.close();
}
