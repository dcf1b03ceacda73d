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

// ---- The stream section: the npm package's encoder/decoder (in its worker) on the clip ----
const pkgLayer = await import(pkgUrl.replace(/vqcodec\.js$/, 'index.js'));
const { VqVideoEncoder, VqVideoDecoder, VqcPlayer } = pkgLayer;
let lastVqc = null;

function psnrRgba(a, b) {
  let se = 0;
  let n = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) { const d = a[i + c] - b[i + c]; se += d * d; }
    n += 3;
  }
  return se === 0 ? 100 : 10 * Math.log10((255 * 255 * n) / se);
}

function drawChart(rows) {
  const c = $('chart');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  if (!rows.length) return;
  const maxB = Math.max(...rows.map((r) => r.bytes));
  const w = c.width / rows.length;
  rows.forEach((r, i) => {
    const h = (r.bytes / maxB) * (c.height - 20);
    ctx.fillStyle = r.type === 'key' ? '#e8913a' : '#4a7bd0';
    ctx.fillRect(i * w + 1, c.height - h, Math.max(1, w - 2), h);
  });
  const ps = rows.map((r) => r.psnr).filter(Number.isFinite);
  const lo = Math.min(...ps) - 1;
  const hi = Math.max(...ps) + 1;
  ctx.strokeStyle = '#1a1a1a';
  ctx.beginPath();
  rows.forEach((r, i) => {
    const y = c.height - ((r.psnr - lo) / (hi - lo)) * (c.height - 20);
    if (i === 0) ctx.moveTo(i * w + w / 2, y); else ctx.lineTo(i * w + w / 2, y);
  });
  ctx.stroke();
  ctx.fillStyle = '#1a1a1a';
  ctx.fillText(`${maxB} B`, 4, 12);
  ctx.fillText(`PSNR ${lo.toFixed(1)}–${hi.toFixed(1)} dB`, c.width - 130, 12);
}

function setStream(text, cls, reason = '') {
  $('sbadge').textContent = text;
  $('sbadge').className = `badge ${cls}`;
  $('sreason').textContent = reason;
}

/** Encodes `frames` frames of the clip with the package's encoder, then decodes them back. */
async function encodeClip({ frames = 30, quality = 70, keyInterval = 60, backend = $('backend').value,
  model, width = 640, height = 360, fps = 30 } = {}) {
  await videoReady();
  video.pause();
  setStream('encoding…', 'off');
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx2 = canvas.getContext('2d', { willReadFrequently: true });
  const sources = [];
  const parts = [];
  const rows = [];
  const encTokens = [];
  let failure = null;
  const encoder = new VqVideoEncoder({
    output(chunk, meta, extra) {
      if (meta) parts.push(meta.decoderConfig.description);
      parts.push(chunk.data);
      rows.push({ type: chunk.type, bytes: chunk.byteLength, stats: extra.stats });
      encTokens.push(extra.tokens);
    },
    error(e) { failure = e; },
  });
  encoder.configure({ width, height, framerate: fps, quality, keyInterval, backend, ...(model ? { model } : {}) });
  const t0 = performance.now();
  for (let i = 0; i < frames; i++) {
    await seek(((i + 0.5) / fps) % video.duration);
    ctx2.drawImage(video, 0, 0, width, height);
    const img = ctx2.getImageData(0, 0, width, height);
    sources.push(img.data);
    encoder.encode(img, { timestamp: Math.round((i * 1e6) / fps) });
    setStream(`encoding ${i + 1}/${frames}`, 'off');
  }
  await encoder.flush().catch(() => {});
  const encodeMs = performance.now() - t0;
  const info = encoder.info;
  encoder.close();
  if (failure) { setStream('error', 'error', String(failure.message ?? failure)); throw failure; }
  const vqc = new Uint8Array(await new Blob(parts).arrayBuffer());
  // decode it back: what a receiver sees
  const decTokens = [];
  const decoded = [];
  const decoder = new VqVideoDecoder({
    output(frame, meta) { if (frame) { decoded.push(frame); decTokens.push(meta.tokens); } },
    error(e) { failure = e; },
  });
  decoder.configure({ codec: `vqc1.${info.model}`, description: parts[0], backend });
  const t1 = performance.now();
  for (const p of parts.slice(1)) decoder.decode({ data: p });
  await decoder.flush().catch(() => {});
  const decodeMs = performance.now() - t1;
  decoder.close();
  if (failure) { setStream('error', 'error', String(failure.message ?? failure)); throw failure; }
  rows.forEach((r, i) => { r.psnr = decoded[i] ? psnrRgba(sources[i], decoded[i].data) : NaN; });
  const psnr = rows.reduce((a, r) => a + r.psnr, 0) / rows.length;
  const bpp = (vqc.byteLength * 8) / (width * height * frames);
  lastVqc = vqc;
  const url = URL.createObjectURL(new Blob([vqc], { type: 'application/x-vqc' }));
  Object.assign($('download'), { href: url, hidden: false });
  $('playvqc').disabled = false;
  $('ssize').textContent = `${(vqc.byteLength / 1024).toFixed(1)} KiB`;
  $('sbpp').textContent = `${bpp.toFixed(4)} bpp`;
  $('ssaving').textContent = `${((width * height * 3 * frames) / vqc.byteLength).toFixed(0)}× smaller`;
  $('spsnr').textContent = `${psnr.toFixed(2)} dB`;
  $('sfps').textContent = `${((frames * 1000) / encodeMs).toFixed(1)} / ${((frames * 1000) / decodeMs).toFixed(1)}`;
  setStream(info.backend, info.backend, `${info.model} · ${info.reason}`);
  drawChart(rows);
  if (decoded.length) {
    const v = $('vqcview');
    v.width = width;
    v.height = height;
    v.getContext('2d').putImageData(decoded[decoded.length - 1], 0, 0);
  }
  return { bytes: vqc.byteLength, bpp, psnr, frames: rows.length, decodedFrames: decoded.length,
    types: rows.map((r) => r.type), chunkBytes: rows.map((r) => r.bytes), psnrs: rows.map((r) => r.psnr),
    encodeMs, decodeMs, backend: info.backend, model: info.model, reason: info.reason,
    tokensMatch: encTokens.every((t, i) => decTokens[i] && t.length === decTokens[i].length && t.every((v, j) => v === decTokens[i][j])),
    tokens: decTokens.map((t) => Array.from(t)) };
}

const player = new VqcPlayer($('vqcview'), { backend: 'cpu' });
async function playVqc(bytes) {
  setStream('decoding…', 'off');
  const info = await player.load(bytes);
  $('vqccaption').textContent = `${info.frames} frames, ${info.width}x${info.height} @ ${info.framerate.toFixed(2)} fps, ${info.bytes} bytes${info.errors.length ? `, ${info.errors.length} damaged` : ''}`;
  setStream('playing', 'cpu');
  player.play();
  return info;
}

$('quality').oninput = () => { $('qval').textContent = $('quality').value; };
$('encode').onclick = () => encodeClip({ frames: Number($('nframes').value), quality: Number($('quality').value),
  keyInterval: Number($('keyint').value) }).catch((e) => setStream('error', 'error', String(e.message ?? e)));
$('playvqc').onclick = () => lastVqc && playVqc(lastVqc).catch((e) => setStream('error', 'error', String(e.message ?? e)));
$('openvqc').onchange = async () => {
  const f = $('openvqc').files[0];
  if (f) playVqc(new Uint8Array(await f.arrayBuffer())).catch((e) => setStream('error', 'error', String(e.message ?? e)));
};

// Hooks for the browser tests and the benchmark (tests/browser/).
window.vqDemo = {
  ready,
  encodeClip,
  playVqc,
  /** The last encoded stream, as a plain array (for the tests). */
  lastVqc: () => (lastVqc ? Array.from(lastVqc) : null),
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
