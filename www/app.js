// The demo page: draw a frame from <video> into a canvas, round-trip it through the wasm
// model, show both, with the backend in use and ms per frame.
// `?pkg=../out/pkg-ndarray/vqcodec.js` loads a comparison build (docs/backends.md); same origin only.
const pkgParam = new URLSearchParams(location.search).get('pkg');
const pkgUrl = pkgParam && /^\.\.\/out\/[\w-]+\/vqcodec\.js$/.test(pkgParam) ? pkgParam : '../pkg/vqcodec.js';
const { default: init, VqCodec } = await import(pkgUrl);

const $ = (id) => document.getElementById(id);
const video = $('video');
const original = $('original');
const decoded = $('decoded');
let codec = null;
let playing = false;
let loaded = null; // what was asked for: { backend, model }

const ready = init(); // fetch + compile the wasm once

function setBadge(text, cls) {
  const b = $('badge');
  b.textContent = text;
  b.className = `badge ${cls}`;
}

// Loads are queued so that a click, the initial load and the test hooks never interleave.
let loading = Promise.resolve();
function load(backend, model) {
  const next = loading.then(() => doLoad(backend, model));
  loading = next.catch(() => {});
  return next;
}

async function doLoad(backend, model) {
  await ready;
  setBadge('loading…', 'off');
  codec?.free();
  codec = null;
  try {
    codec = await VqCodec.create(backend, model);
  } catch (e) {
    setBadge('error', 'error');
    $('reason').textContent = String(e.message ?? e);
    throw e;
  }
  setBadge(codec.backend, codec.backend);
  $('reason').textContent = codec.reason;
  $('modelid').textContent = `${model} ${codec.modelId}`;
  $('bpp').textContent = `${codec.rawBpp.toFixed(3)} bpp`;
  $('once').disabled = false;
  $('play').disabled = false;
  loaded = { backend, model };
  // keep the controls in step with what was loaded (also when the test hooks load)
  for (const [id, value] of [['backend', backend], ['model', model]]) {
    if ([...$(id).options].some((o) => o.value === value)) $(id).value = value;
  }
  return codec;
}

function grab(width, height) {
  const w = width ?? video.videoWidth;
  const h = height ?? video.videoHeight;
  original.width = w;
  original.height = h;
  const ctx = original.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

async function roundtrip(width, height) {
  const img = grab(width, height);
  const t0 = performance.now();
  const r = await codec.roundtrip(new Uint8Array(img.data.buffer), img.width, img.height);
  const ms = performance.now() - t0;
  const rgba = r.rgba;
  decoded.width = r.width;
  decoded.height = r.height;
  decoded.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer), r.width, r.height), 0, 0);
  $('ms').textContent = ms.toFixed(1);
  $('psnr').textContent = `${r.psnrRgb.toFixed(2)} dB`;
  $('psnry').textContent = `${r.psnrY.toFixed(2)} dB`;
  const out = { backend: codec.backend, reason: codec.reason, modelId: codec.modelId, width: r.width,
    height: r.height, ms, psnrRgb: r.psnrRgb, psnrY: r.psnrY, rgba, input: new Uint8Array(img.data) };
  r.free();
  return out;
}

async function videoReady() {
  if (video.readyState >= 2) return;
  await new Promise((ok, fail) => {
    video.addEventListener('loadeddata', ok, { once: true });
    video.addEventListener('error', () => fail(new Error('the sample video failed to load')), { once: true });
  });
}

async function seek(t) {
  await videoReady();
  if (Math.abs(video.currentTime - t) < 1e-3) return;
  await new Promise((ok) => { video.addEventListener('seeked', ok, { once: true }); video.currentTime = t; });
}

async function playLoop() {
  playing = !playing;
  $('play').textContent = playing ? 'Stop' : 'Play through codec';
  if (!playing) { video.pause(); return; }
  await video.play();
  while (playing) {
    await roundtrip();
    await new Promise(requestAnimationFrame);
  }
}

$('load').onclick = () => load($('backend').value, $('model').value).catch(() => {});
$('once').onclick = async () => { await videoReady(); await roundtrip(); };
$('play').onclick = () => playLoop();

// Hooks for the browser tests and the benchmark (tests/browser/).
window.vqDemo = {
  ready,
  load,
  seek,
  /** Round-trip the frame at `time` seconds, optionally scaled to width × height. */
  async runOnce({ backend = 'auto', model = 'base', time = 0.5, width, height, repeat = 1 } = {}) {
    await loading;
    if (!codec || loaded?.backend !== backend || loaded?.model !== model) await load(backend, model);
    await seek(time);
    let r;
    const times = [];
    for (let i = 0; i < repeat; i++) { r = await roundtrip(width, height); times.push(r.ms); }
    return { ...r, times };
  },
};

// Start on the default backend once the page is up.
videoReady().then(() => grab()).catch(() => {});
load('auto', 'base').catch(() => {});
