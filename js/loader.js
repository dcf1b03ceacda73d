// Loads, on demand and once each, what a codec needs: one of the two wasm modules and the weight
// file of the model in use. Shared by the worker and the demo page.
//   ./vqcodec.js       WebGPU only (no CPU backend): used when the browser gives an adapter
//   ./cpu/vqcodec.js   CPU only, a fraction of the size: used otherwise, and after a GPU loss
//   ./weights/{base,lite}.vqw   fetched for the model asked for; each module refuses a file
//                               that is not the one it was built with

const modules = new Map(); // 'gpu' | 'cpu' -> Promise<{m, wasm}> (initialised)
const weights = new Map(); // model -> Promise<Uint8Array>
let weightsBase = new URL('./weights/', import.meta.url);

/** The module `which` ('gpu' | 'cpu'), imported and initialised once. */
export function loadModule(which) {
  if (!modules.has(which)) {
    const url = which === 'gpu' ? './vqcodec.js' : './cpu/vqcodec.js';
    const p = import(url).then(async (m) => ({ m, wasm: await m.default() }));
    p.catch(() => modules.delete(which));
    modules.set(which, p);
  }
  return modules.get(which);
}

/** Drops a module (after a GPU loss its codecs are unusable). */
export function forgetModule(which) {
  modules.delete(which);
}

/** The modules loaded or loading: [name, Promise<{m, wasm}>] pairs. */
export function loadedModules() {
  return [...modules.entries()];
}

/** Where the weight files are served: a folder URL (default: weights/ beside this file). */
export function setWeightsBase(url) {
  weightsBase = new URL(url);
}

/** The bytes of `model`'s weight file, fetched once (a failed fetch may be retried). */
export function fetchWeights(model) {
  if (!weights.has(model)) {
    const url = new URL(`${model}.vqw`, weightsBase);
    const fail = (why) => {
      throw Object.assign(new Error(`could not fetch the ${model} weights from ${url}: ${why}`), { kind: 'Network' });
    };
    const p = fetch(url).then(async (r) => {
      if (!r.ok) fail(`HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    }, (e) => fail(e.message));
    p.catch(() => weights.delete(model));
    weights.set(model, p);
  }
  return weights.get(model);
}

/**
 * Whether the browser gives a hardware WebGPU adapter. A software fallback (SwiftShader, which
 * says so with `isFallbackAdapter`) runs the networks many times slower than the CPU module, so
 * 'auto' does not take it; 'webgpu' asked for by name still may.
 */
async function hasHardwareAdapter() {
  try {
    const a = await navigator.gpu?.requestAdapter();
    return !!a && a.isFallbackAdapter !== true && a.info?.isFallbackAdapter !== true;
  } catch {
    return false;
  }
}

/** Which module serves `backend`: 'cpu', and 'auto' without a hardware adapter, take the CPU module. */
export async function moduleFor(backend) {
  return backend === 'cpu' || (backend === 'auto' && !(await hasHardwareAdapter())) ? 'cpu' : 'gpu';
}

/**
 * A `VqCodec` for `model` on `backend` ('auto' | 'webgpu' | 'cpu'), fetching the module and
 * the weights in parallel. 'cpu', and 'auto' without a hardware adapter, take the CPU module
 * (whose `reason` says why: no adapter, or only a software one); an adapter that does not
 * initialise leaves 'auto' on the CPU module too. Resolves to
 * `{codec, fallback}`, `fallback` being why 'auto' is on the CPU although WebGPU was tried.
 */
export async function createCodec(backend, model) {
  const which = await moduleFor(backend);
  const [{ m }, bytes] = await Promise.all([loadModule(which), fetchWeights(model)]);
  try {
    return { codec: await m.VqCodec.create(backend, model, bytes), fallback: null };
  } catch (e) {
    if (which === 'cpu' || backend !== 'auto') throw e;
    if (e instanceof WebAssembly.RuntimeError) forgetModule('gpu'); // a trap leaves it unusable
    const { m: cpu } = await loadModule('cpu');
    return { codec: await cpu.VqCodec.create('cpu', model, bytes), fallback: `CPU fallback: ${e?.message ?? e}` };
  }
}
