// The vqcodec worker: owns the wasm module, the models and the encoder/decoder sessions.
// Messages: {id, op, ...}; replies: {id, ok, result} or {id, ok: false, error}.
// Two builds of the module: ./vqcodec.js (WebGPU + CPU) is loaded only when the browser gives
// a WebGPU adapter and WebGPU may be used; otherwise ./cpu/vqcodec.js, which has no GPU code
// and is a fraction of the size.

const modules = new Map(); // "gpu" | "cpu" -> Promise<module> (initialised)
const codecs = new Map();   // "backend/model" -> Promise<VqCodec>
const sessions = new Map(); // session id -> {enc | dec, width, height}
let canvas = null;
let ctx = null;

async function hasAdapter() {
  try {
    return !!(await navigator.gpu?.requestAdapter());
  } catch {
    return false;
  }
}

function load(which) {
  if (!modules.has(which)) {
    const url = which === 'gpu' ? './vqcodec.js' : './cpu/vqcodec.js';
    modules.set(which, import(url).then(async (m) => ({ m, wasm: await m.default() })));
  }
  return modules.get(which);
}

// 'cpu' always takes the CPU-only module; 'auto' takes it too when there is no adapter (the
// full module would only fall back to the same CPU code); 'webgpu' needs the full module.
async function moduleFor(backend) {
  if (backend === 'cpu') return load('cpu');
  if (backend === 'auto' && !(await hasAdapter())) return load('cpu');
  return load('gpu');
}

function codecFor(backend, model) {
  const key = `${backend}/${model}`;
  if (!codecs.has(key)) {
    codecs.set(key, moduleFor(backend).then(({ m }) => m.VqCodec.create(backend, model)));
  }
  return codecs.get(key);
}

// A transferred VideoFrame / ImageBitmap, or an RGBA buffer, as RGBA bytes of width×height.
function rgbaOf(frame, width, height) {
  if (frame.rgba) {
    if (frame.width !== width || frame.height !== height) {
      throw new Error(`frame is ${frame.width}x${frame.height}, the encoder is configured for ${width}x${height}`);
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

// No model asked for: base where the backend resolves to WebGPU, lite on the CPU.
async function codecAuto(backend, model) {
  if (model) return [await codecFor(backend, model), model];
  if (backend === 'cpu' || (backend === 'auto' && !(await hasAdapter()))) {
    return [await codecFor(backend, 'lite'), 'lite'];
  }
  const base = await codecFor(backend, 'base');
  // an adapter that fails to initialise leaves `auto` on the CPU: lite there too
  return base.backend === 'cpu' ? [await codecFor(backend, 'lite'), 'lite'] : [base, 'base'];
}

const ops = {
  async 'configure-encoder'({ session, backend, model, options }) {
    const [codec, name] = await codecAuto(backend, model);
    const enc = await codec.encoder(options);
    sessions.set(session, { enc, width: options.width, height: options.height });
    return { header: enc.header, backend: codec.backend, reason: codec.reason, modelId: codec.modelId, model: name };
  },
  async encode({ session, frame, keyFrame }) {
    const s = sessions.get(session);
    if (!s?.enc) throw new Error('encoder is not configured');
    const out = await s.enc.encode(rgbaOf(frame, s.width, s.height), keyFrame);
    return [out, [out.data.buffer]];
  },
  async 'configure-decoder'({ session, backend, model, header }) {
    const { m } = await moduleFor(backend);
    const want = m.streamModelId(new Uint8Array(header));
    // the model the stream names; `model` only says which to try first
    const names = [model, ...['base', 'lite'].filter((m) => m !== model)];
    for (const name of names) {
      const codec = await codecFor(backend, name);
      if (codec.modelId === want) {
        const dec = codec.decoder(new Uint8Array(header));
        sessions.set(session, { dec });
        return { width: dec.width, height: dec.height, framerate: dec.framerate, model: name,
          backend: codec.backend, reason: codec.reason, modelId: codec.modelId };
      }
    }
    throw new Error(`the stream was made with model ${want}, which this package does not ship`);
  },
  async decode({ session, data }) {
    const s = sessions.get(session);
    if (!s?.dec) throw new Error('decoder is not configured');
    const out = await s.dec.decode(new Uint8Array(data));
    return [out, [out.rgba.buffer]];
  },
  async close({ session }) {
    const s = sessions.get(session);
    s?.enc?.free();
    s?.dec?.free();
    sessions.delete(session);
  },
  async memory() {
    let wasmBytes = 0;
    for (const p of modules.values()) wasmBytes += (await p).wasm.memory.buffer.byteLength;
    return { wasmBytes, sessions: sessions.size, modules: [...modules.keys()] };
  },
  async probe({ backend, model }) {
    const codec = await codecFor(backend, model);
    return { backend: codec.backend, reason: codec.reason, modelId: codec.modelId };
  },
};

// Messages run one at a time, in order: an encoder's frames must reach it in sequence.
let chain = Promise.resolve();
self.onmessage = (event) => {
  const { id, op, ...msg } = event.data;
  chain = chain.then(async () => {
    try {
      const r = await ops[op](msg);
      const [result, transfer] = Array.isArray(r) ? r : [r, []];
      self.postMessage({ id, ok: true, result }, transfer);
    } catch (e) {
      self.postMessage({ id, ok: false, error: String(e?.message ?? e) });
    }
  });
};
