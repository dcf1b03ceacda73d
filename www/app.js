// The demo page: draw a frame from <video> into a canvas, round-trip it through the wasm
// model, show both, with the backend in use and ms per frame.
// `?pkg=../out/pkg-ndarray/vqcodec.js` loads a comparison build (docs/backends.md); same origin only.
const pkgParam = new URLSearchParams(location.search).get('pkg');
const comparison = pkgParam && /^\.\.\/out\/[\w-]+\/vqcodec\.js$/.test(pkgParam) ? pkgParam : null;
// The package's loader fetches the module the backend needs (WebGPU-only, or the CPU-only one
// without an adapter) and the weights of the model asked for, each once.
const loader = await import(comparison ? comparison.replace(/vqcodec\.js$/, 'loader.js') : '../pkg/loader.js');
/** `{codec, fallback}` as the loader gives it; a comparison build is one module with every backend. */
async function createCodec(backend, model) {
  if (!comparison) return loader.createCodec(backend, model);
  const [m, bytes] = await Promise.all([import(comparison), loader.fetchWeights(model)]);
  await m.default();
  return { codec: await m.VqCodec.create(backend, model, bytes), fallback: null };
}

const $ = (id) => document.getElementById(id);
const video = $('video');
const original = $('original');
const decoded = $('decoded');
let codec = null;
let playing = false;
let loaded = null; // what was asked for: { backend, model }
let reason = ''; // why the loaded codec runs where it does

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
  setBadge('loading…', 'off');
  codec?.free();
  codec = null;
  try {
    const made = await createCodec(backend, model);
    codec = made.codec;
    reason = made.fallback ?? codec.reason;
  } catch (e) {
    setBadge('error', 'error');
    $('reason').textContent = String(e.message ?? e);
    throw e;
  }
  setBadge(codec.backend, codec.backend);
  $('reason').textContent = reason;
  showDownload();
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

/** What this page fetched of modules and weights: bytes as sent (compressed) and as used. */
function showDownload() {
  const files = performance.getEntriesByType('resource').filter((e) => /\.(wasm|vqw)$/.test(new URL(e.name).pathname));
  const sum = (k) => files.reduce((n, e) => n + e[k], 0) / 1e6;
  $('downloaded').textContent = files.length ? `${sum('encodedBodySize').toFixed(2)} MB (${sum('decodedBodySize').toFixed(2)} MB unpacked)` : '–';
  $('downloaded').title = files.map((e) => `${new URL(e.name).pathname}: ${(e.encodedBodySize / 1e6).toFixed(2)} MB sent`).join('\n');
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
  const out = { backend: codec.backend, reason, modelId: codec.modelId, width: r.width,
    height: r.height, ms, psnrRgb: r.psnrRgb, psnrY: r.psnrY, rgba, input: new Uint8Array(img.data) };
  r.free();
  return out;
}

// ---- Sources: the bundled clip, a file, the camera, or a canvas animation, all through <video> ----
let live = false; // camera and canvas cannot seek: frames are taken as they come
let animation = null;
async function setSource(kind, file) {
  if (animation) { cancelAnimationFrame(animation); animation = null; }
  video.srcObject?.getTracks?.().forEach((t) => t.stop());
  video.srcObject = null;
  live = kind === 'camera' || kind === 'canvas';
  if (kind === 'sample') video.src = 'sample.webm';
  else if (kind === 'file') video.src = URL.createObjectURL(file);
  else if (kind === 'camera') {
    video.removeAttribute('src');
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  } else {
    video.removeAttribute('src');
    const c = document.createElement('canvas');
    c.width = 640;
    c.height = 360;
    const g = c.getContext('2d');
    const draw = (t) => {
      const s = t / 1000;
      const sky = g.createLinearGradient(0, 0, 0, 360);
      sky.addColorStop(0, '#6fa8dc');
      sky.addColorStop(1, '#f6e7c1');
      g.fillStyle = sky;
      g.fillRect(0, 0, 640, 360);
      for (let i = 0; i < 6; i++) {
        g.fillStyle = `hsl(${(i * 60 + s * 40) % 360} 70% 50%)`;
        g.beginPath();
        g.arc(320 + Math.cos(s + i) * (80 + 30 * i), 180 + Math.sin(1.3 * s + i) * 90, 24 + 4 * i, 0, 2 * Math.PI);
        g.fill();
      }
      g.fillStyle = '#1a1a1a';
      g.font = 'bold 36px system-ui';
      g.fillText(`vqcodec ${s.toFixed(1)} s`, 24, 330);
      animation = requestAnimationFrame(draw);
    };
    animation = requestAnimationFrame(draw);
    video.srcObject = c.captureStream(30);
  }
  await videoReady();
  await video.play().catch(() => {});
  if (!live) video.pause();
}

/** The next frame to encode: seek (files) or wait for a fresh one (camera, canvas). */
async function nextFrame(i, fps) {
  if (!live) return seek(((i + 0.5) / fps) % video.duration);
  await new Promise((ok) => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(() => ok()) : setTimeout(ok, 1000 / fps)));
}

$('source').onchange = () => {
  const kind = $('source').value;
  if (kind === 'file') { $('srcfile').click(); return; }
  setSource(kind).catch((e) => setStream('error', 'error', `source: ${e.message ?? e}`));
};
$('srcfile').onchange = () => {
  const f = $('srcfile').files[0];
  if (f) setSource('file', f).catch((e) => setStream('error', 'error', `source: ${e.message ?? e}`));
};

/** The source's first frame, or an error when the browser cannot decode it — at once when that
 * was already decided (a listener added after the `error` event would wait for ever). */
async function videoReady() {
  const cannot = () => new Error(`the browser cannot decode this source${video.error?.message ? ` (${video.error.message})` : ''}: pick a video file`);
  if (video.error) throw cannot();
  if (video.readyState >= 2) return;
  await new Promise((ok, fail) => {
    video.addEventListener('loadeddata', ok, { once: true });
    video.addEventListener('error', () => fail(cannot()), { once: true });
  });
}

async function seek(t) {
  await videoReady();
  if (Math.abs(video.currentTime - t) < 1e-3) return;
  await pkgLayer.seekFrame(video, t); // the frame there drawn, not only `seeked`
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
const pkgLayer = await import(comparison ? comparison.replace(/vqcodec\.js$/, 'index.js') : '../pkg/index.js');
const { VqVideoEncoder, VqVideoDecoder, VqcPlayer, Codebook, trainCodebook, videoFrameRate } = pkgLayer;
let lastVqc = null;
let lastSources = []; // the frames that went into the last encode, for the split view

/** A cheap fingerprint of a frame's pixels (to tell frames apart: a source that does not seek
 * gives the same frame again and again). */
function fingerprint(img) {
  let h = 0;
  for (let i = 0; i < img.data.length; i += 61) h = (h * 31 + img.data[i]) | 0;
  return h;
}

/** What the source is and the size and rate to encode it at: its own frame rate (measured once
 * per source), its own size, scaled to fit 640×360 with its aspect kept. */
let formatOf = null; // {src, format}
async function sourceFormat() {
  await videoReady();
  if (!live && formatOf?.src === video.currentSrc) return formatOf.format;
  const [w0, h0] = [video.videoWidth, video.videoHeight];
  const scale = Math.min(1, 640 / w0, 360 / h0);
  const [width, height] = [Math.max(1, Math.round(w0 * scale)), Math.max(1, Math.round(h0 * scale))];
  const fps = live ? 30 : await videoFrameRate(video);
  const frames = live ? Infinity : Math.max(1, Math.round(video.duration * fps));
  const format = { width, height, fps, frames, note: scale < 1 ? `scaled from ${w0}x${h0}, aspect kept` : 'the source\'s size' };
  if (!live) formatOf = { src: video.currentSrc, format };
  return format;
}

function psnrRgba(a, b) {
  let se = 0;
  let n = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) { const d = a[i + c] - b[i + c]; se += d * d; }
    n += 3;
  }
  return se === 0 ? 100 : 10 * Math.log10((255 * 255 * n) / se);
}

/** Y' of RGBA pixels: BT.601, 8-bit limited range, rounded — as the native tools compute PSNR-Y. */
function lumaOf(rgba) {
  const y = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < y.length; i++) {
    const l = 0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2];
    y[i] = Math.round(16 + l * (219 / 255));
  }
  return y;
}

function psnrPlane(a, b) {
  let se = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; se += d * d; }
  return se === 0 ? 100 : Math.min(100, 10 * Math.log10((255 * 255 * a.length) / se));
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
async function encodeClip({ frames = 30, quality = 70, bitrate, keyInterval = 60, backend = $('backend').value,
  model, width = 640, height = 360, fps = 30, keepSources = frames <= 120, returnTokens = frames <= 120,
  codebook = $('usecb').checked ? myCodebook : null, onFrame } = {}) {
  $('browsercmp').hidden = true; // the comparison belongs to the stream it was made for
  await videoReady();
  if (!live) video.pause();
  setStream('encoding…', 'off');
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx2 = canvas.getContext('2d', { willReadFrequently: true });
  // Encoder and decoder run side by side: each chunk is decoded as it arrives and compared
  // with its source, then both are dropped (kept only for short clips, for the split view),
  // so memory stays bounded however long the clip.
  const pending = new Map(); // frame index -> source ImageData, until decoded
  const sources = [];
  const prints = new Set(); // distinct source frames seen
  const parts = [];
  const rows = [];
  let tokensMatch = true;
  const encTokens = new Map();
  const decTokens = [];
  let decoded = 0;
  let lastDecoded = null;
  let failure = null;
  let decoder = null;
  let t0 = 0;
  let decodeMs = 0;
  const decoderFor = (header, info) => {
    const d = new VqVideoDecoder({
      output(frame, meta) {
        if (!frame) { failure ??= meta.error; return; }
        const i = decoded++;
        const src = pending.get(i);
        pending.delete(i);
        rows[i].psnr = src ? psnrRgba(src.data, frame.data) : NaN;
        rows[i].psnrY = src ? psnrPlane(lumaOf(src.data), lumaOf(frame.data)) : NaN;
        const enc = encTokens.get(i);
        encTokens.delete(i);
        tokensMatch &&= !!enc && enc.length === meta.tokens.length && enc.every((v, j) => v === meta.tokens[j]);
        if (returnTokens) decTokens.push(Array.from(meta.tokens));
        lastDecoded = frame;
        onFrame?.(i);
      },
      error(e) { failure ??= e; },
    });
    d.configure({ codec: `vqc1.${info.model}`, description: header, backend });
    return d;
  };
  const encoder = new VqVideoEncoder({
    output(chunk, meta, extra) {
      if (meta) {
        parts.push(meta.decoderConfig.description);
        decoder = decoderFor(meta.decoderConfig.description, encoder.info);
      }
      parts.push(chunk.data);
      rows.push({ type: chunk.type, bytes: chunk.byteLength, stats: extra.stats, psnr: NaN });
      encTokens.set(rows.length - 1, extra.tokens);
      const t = performance.now();
      decoder.decode({ data: chunk.data, timestamp: chunk.timestamp });
      decodeMs += performance.now() - t;
    },
    error(e) { failure ??= e; },
  });
  encoder.configure({ width, height, framerate: fps, keyInterval, backend, ...(bitrate ? { bitrate } : { quality }),
    ...(model ? { model } : {}), ...(codebook ? { codebook } : {}) });
  t0 = performance.now();
  for (let i = 0; i < frames && !failure; i++) {
    await nextFrame(i, fps);
    ctx2.drawImage(video, 0, 0, width, height);
    const img = ctx2.getImageData(0, 0, width, height);
    prints.add(fingerprint(img));
    pending.set(i, img);
    if (keepSources) sources.push(img);
    encoder.encode(img, { timestamp: Math.round((i * 1e6) / fps) });
    if (encoder.encodeQueueSize > 2) await encoder.flush().catch(() => {});
    if (i % 10 === 9) {
      // live: progress, fps so far, and the chart of what is already decoded
      const sec = (performance.now() - t0) / 1000;
      setStream(`encoding ${i + 1}/${frames}`, 'off');
      $('sfps').textContent = `${((i + 1) / sec).toFixed(1)} (encode + decode)`;
      drawChart(rows.slice(0, decoded));
    }
  }
  await encoder.flush().catch(() => {});
  const info = encoder.info;
  encoder.close();
  await decoder?.flush().catch(() => {});
  decoder?.close();
  const totalMs = performance.now() - t0;
  if (failure) { setStream('error', 'error', String(failure.message ?? failure)); throw failure; }
  lastSources = sources;
  const psnr = rows.reduce((a, r) => a + r.psnr, 0) / rows.length;
  const psnrY = rows.reduce((a, r) => a + r.psnrY, 0) / rows.length;
  const vqc = new Uint8Array(await new Blob(parts).arrayBuffer());
  const bpp = (vqc.byteLength * 8) / (width * height * frames);
  lastVqc = vqc;
  const url = URL.createObjectURL(new Blob([vqc], { type: 'application/x-vqc' }));
  Object.assign($('download'), { href: url, hidden: false });
  Object.assign($('playvqc'), { disabled: false, textContent: 'Play the .vqc' });
  $('ssize').textContent = `${(vqc.byteLength / 1024).toFixed(1)} KiB`;
  $('sbpp').textContent = `${bpp.toFixed(4)} bpp`;
  $('ssaving').textContent = `${((width * height * 3 * frames) / vqc.byteLength).toFixed(0)}× smaller`;
  $('spsnr').textContent = `${psnr.toFixed(2)} dB`;
  $('sfps').textContent = `${((frames * 1000) / totalMs).toFixed(1)} (encode + decode)`;
  const last = rows.at(-1)?.stats;
  const rate = rateNote(last?.target_kbps, last?.achieved_kbps);
  setStream(info.backend, info.backend, `${info.model} · ${info.reason}${rate ? ` · ${rate}` : ''}`);
  drawChart(rows);
  if (lastDecoded) showSplit(rows.length - 1, lastDecoded);
  $('vqccaption').textContent = `${frames} frames ${width}x${height}: ${keepSources ? 'original left of the slider, ' : ''}decoded from the .vqc`;
  const headerBytes = parts[0].byteLength;
  return { bytes: vqc.byteLength, bpp, psnr, psnrY, frames: rows.length, decodedFrames: decoded, headerBytes,
    distinctSources: prints.size, targetKbps: last?.target_kbps ?? null, achievedKbps: last?.achieved_kbps ?? null,
    width, height, fps, rateNote: rate,
    chunkBpp: ((vqc.byteLength - headerBytes) * 8) / (width * height * frames), lastFrame: lastDecoded,
    codebook: info.codebook,
    types: rows.map((r) => r.type), chunkBytes: rows.map((r) => r.bytes), psnrs: rows.map((r) => r.psnr),
    totalMs, backend: info.backend, model: info.model, reason: info.reason, tokensMatch, tokens: decTokens };
}

/** The achieved rate next to a bitrate target, and why a missed target was missed. */
function rateNote(target, achieved) {
  if (target == null || achieved == null) return '';
  const off = achieved / target - 1;
  const why = off < -0.1 ? ': the top quality needs no more bits for this clip (the model\'s quality ceiling)'
    : off > 0.1 ? ': even the lowest quality needs more bits for this clip' : '';
  return `target ${target.toFixed(0)} kbit/s, achieved ${achieved.toFixed(0)} kbit/s (${off >= 0 ? '+' : ''}${(off * 100).toFixed(0)}%)${why}`;
}

// The split view: the original left of the slider, the decoded frame right of it.
const splitCanvas = document.createElement('canvas');
let shown = null;
function showSplit(index, decodedFrame) {
  shown = { index, decodedFrame };
  const v = $('vqcview');
  v.width = decodedFrame.width;
  v.height = decodedFrame.height;
  const g = v.getContext('2d');
  g.putImageData(decodedFrame, 0, 0);
  const src = lastSources[index];
  if (!src || src.width !== decodedFrame.width || src.height !== decodedFrame.height) return;
  const x = Math.round((Number($('split').value) / 100) * src.width);
  splitCanvas.width = src.width;
  splitCanvas.height = src.height;
  splitCanvas.getContext('2d').putImageData(src, 0, 0);
  g.drawImage(splitCanvas, 0, 0, x, src.height, 0, 0, x, src.height);
  g.fillStyle = '#fff';
  g.fillRect(x - 1, 0, 2, src.height);
}
$('split').oninput = () => shown && showSplit(shown.index, shown.decodedFrame);

/** Throughput of the package's encoder + decoder on `frames` frames (8 distinct ones cycled: no seeking in the timing). */
async function benchStream({ backend = 'cpu', model = 'lite', width = 640, height = 360, frames = 30, quality = 80 } = {}) {
  await videoReady();
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  const g = c.getContext('2d', { willReadFrequently: true });
  const pool = [];
  for (let i = 0; i < 8; i++) {
    await seek((i + 0.5) / 30);
    g.drawImage(video, 0, 0, width, height);
    pool.push(g.getImageData(0, 0, width, height));
  }
  const run = async (n) => {
    let decoder = null;
    let info = null;
    let out = 0;
    const encoder = new VqVideoEncoder({
      output(chunk, meta) {
        if (meta) {
          info = encoder.info;
          decoder = new VqVideoDecoder({ output: (f) => { if (f) out++; }, error: () => {} });
          decoder.configure({ codec: `vqc1.${info.model}`, description: meta.decoderConfig.description, backend });
        }
        decoder.decode({ data: chunk.data });
      },
      error: () => {},
    });
    encoder.configure({ width, height, quality, backend, model });
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      encoder.encode(pool[i % pool.length]);
      if (encoder.encodeQueueSize > 2) await encoder.flush();
    }
    await encoder.flush();
    await decoder.flush();
    const ms = performance.now() - t;
    encoder.close();
    decoder.close();
    return { ms, decoded: out, info };
  };
  await run(3); // warm-up: worker, wasm, model
  const r = await run(frames);
  const fps = (frames * 1000) / r.ms;
  return { fps, mpxs: (fps * width * height) / 1e6, decoded: r.decoded, backend: r.info.backend, model: r.info.model };
}

let played = null; // what the player holds: {info, note}
const player = new VqcPlayer(document.createElement('canvas'), {
  backend: 'cpu',
  onframe: (i, f) => showSplit(i, f),
  onended: () => {
    // damaged chunks are found as playback reaches them
    played.note = describePlayed(played.info);
    $('vqccaption').textContent = played.note;
    setStream('played', played.info.errors.length ? 'error' : 'off', `${played.note} · "Replay" plays it again`);
    $('playvqc').textContent = 'Replay';
    $('playvqc').disabled = false;
  },
});

/** What a decoded file is, and what was wrong with it (damaged chunks, a cut), in words. */
function describePlayed(info) {
  const problems = [];
  if (info.errors.length) problems.push(`${info.errors.length} chunk(s) damaged (${[...new Set(info.errors.map((e) => e.kind ?? 'error'))].join(', ')}): frames lost until the next keyframe`);
  if (info.truncated) problems.push(`the file is cut: it ends inside a chunk after ${info.frames} whole frame(s)`);
  return `${info.frames} frames, ${info.width}x${info.height} @ ${info.framerate.toFixed(2)} fps, ${info.bytes} bytes${problems.length ? ` — ${problems.join('; ')}` : ''}`;
}

/** Decodes a .vqc and plays it; a header that cannot be read is an error shown with its kind. */
async function playVqc(bytes) {
  $('browsercmp').hidden = true;
  setStream('decoding…', 'off');
  Object.assign($('playvqc'), { disabled: true, textContent: 'Play the .vqc' });
  let info;
  try {
    info = await player.load(bytes);
  } catch (e) {
    $('playvqc').disabled = !lastVqc;
    setStream('error', 'error', `cannot play this file (${e.kind ?? 'error'}): ${e.message ?? e}`);
    throw e;
  }
  const note = describePlayed(info);
  $('vqccaption').textContent = note;
  if (!info.frames) {
    played = null;
    $('playvqc').disabled = !lastVqc;
    setStream('error', 'error', `nothing to play: ${note}`);
    return info;
  }
  played = { info, note, bytes };
  setStream('playing', info.errors.length || info.truncated ? 'error' : 'cpu', note);
  player.play();
  return info;
}

const rateUi = () => {
  const kbps = $('ratemode').value === 'bitrate';
  $('qlabel').textContent = kbps ? 'kbit/s' : 'Quality';
  Object.assign($('quality'), kbps ? { min: 20, max: 2000, step: 10 } : { min: 0, max: 100, step: 1 });
  const q = Number($('quality').value);
  // 81-100: the model's enhancement coefficients (docs/results/high-fidelity.md)
  $('qval').textContent = !kbps && q > 80 ? `${q} · high fidelity: several times the bytes, slower` : `${q}`;
};
$('ratemode').onchange = () => { $('quality').value = $('ratemode').value === 'bitrate' ? 300 : 70; rateUi(); };
$('quality').oninput = rateUi;
// ---- Against what the user already has: the browser's own encoder (WebCodecs) on the same frames ----
const BROWSER_CODECS = [['VP9', 'vp09.00.31.08'], ['AV1', 'av01.0.04M.08'], ['H.264', 'avc1.42001f'], ['VP8', 'vp8']];
let lastBrowser = null;

/** RGBA → planar 4:2:0 Y'CbCr (BT.601 limited range, chroma averaged over 2×2), as the native tools convert. */
function toI420({ data, width, height }) {
  const cw = (width + 1) >> 1;
  const ch = (height + 1) >> 1;
  const out = new Uint8Array(width * height + 2 * cw * ch);
  out.set(lumaOf(data));
  const acc = new Float32Array(3 * cw * ch);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const o = 4 * (r * width + c);
      const l = 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
      const i = 3 * ((r >> 1) * cw + (c >> 1));
      acc[i] += (data[o + 2] - l) / 1.772;
      acc[i + 1] += (data[o] - l) / 1.402;
      acc[i + 2] += 1;
    }
  }
  for (let i = 0; i < cw * ch; i++) {
    out[width * height + i] = Math.round(128 + (acc[3 * i] / acc[3 * i + 2]) * (224 / 255));
    out[width * height + cw * ch + i] = Math.round(128 + (acc[3 * i + 1] / acc[3 * i + 2]) * (224 / 255));
  }
  return out;
}

/**
 * The same frames through the browser's own VideoEncoder — the first of VP9, AV1, H.264, VP8 that
 * it supports at this size — at `bitrate` (vqcodec's), decoded back with VideoDecoder; file size
 * (the encoded chunks' bytes) and mean PSNR-Y on Y' as above. Null where WebCodecs is missing.
 */
async function encodeWithBrowser(sources, { fps, keyInterval, bitrate }) {
  if (typeof VideoEncoder !== 'function' || !sources.length) return null;
  const { width, height } = sources[0];
  const colorSpace = { primaries: 'smpte170m', transfer: 'smpte170m', matrix: 'smpte170m', fullRange: false };
  let config = null;
  let name = null;
  for (const [n, codec] of BROWSER_CODECS) {
    const c = { codec, width, height, framerate: fps, bitrate: Math.max(1000, Math.round(bitrate)), bitrateMode: 'variable',
      ...(codec.startsWith('avc1') ? { avc: { format: 'annexb' } } : {}) };
    if ((await VideoEncoder.isConfigSupported(c).catch(() => ({})))?.supported) { config = c; name = n; break; }
  }
  if (!config) return null;
  const planes = sources.map(toI420);
  const chunks = [];
  let decoderConfig = null;
  let failure = null;
  const enc = new VideoEncoder({ output(chunk, meta) { decoderConfig ??= meta?.decoderConfig; chunks.push(chunk); }, error(e) { failure ??= e; } });
  enc.configure(config);
  const t0 = performance.now();
  planes.forEach((data, i) => {
    const f = new VideoFrame(data, { format: 'I420', codedWidth: width, codedHeight: height, colorSpace, timestamp: Math.round((i * 1e6) / fps) });
    enc.encode(f, { keyFrame: i % keyInterval === 0 });
    f.close();
  });
  await enc.flush();
  const encodeMs = performance.now() - t0;
  enc.close();
  if (failure) throw failure;
  const lumas = [];
  const copies = [];
  const dec = new VideoDecoder({
    output(f) {
      const r = f.visibleRect;
      const buf = new Uint8Array(f.allocationSize());
      copies.push(f.copyTo(buf).then((layout) => {
        const y = new Uint8Array(r.width * r.height);
        for (let row = 0; row < r.height; row++) {
          const o = layout[0].offset + (row + r.y) * layout[0].stride + r.x;
          y.set(buf.subarray(o, o + r.width), row * r.width);
        }
        lumas.push(y);
      }).finally(() => f.close()));
    },
    error(e) { failure ??= e; },
  });
  dec.configure(decoderConfig);
  for (const c of chunks) dec.decode(c);
  await dec.flush();
  await Promise.all(copies);
  dec.close();
  if (failure) throw failure;
  const n = Math.min(lumas.length, planes.length);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += psnrPlane(planes[i].subarray(0, width * height), lumas[i]);
  const description = decoderConfig?.description?.byteLength ?? 0;
  return { name, codec: config.codec, bitrate: config.bitrate, frames: planes.length, decoded: lumas.length, encodeMs,
    bytes: chunks.reduce((a, c) => a + c.byteLength, 0) + description, psnrY: sum / n };
}

/** The comparison line under the stream's stats: the browser's codec beside vqcodec's file. */
async function compareWithBrowser(r, keyInterval) {
  const line = $('browsercmp');
  line.hidden = false;
  lastBrowser = null;
  if (lastSources.length !== r.frames) {
    line.textContent = 'Your browser\'s own codec: compared on clips of at most 120 frames (encode fewer frames to see it).';
    return null;
  }
  line.textContent = 'Encoding the same frames with your browser\'s own codec…';
  try {
    const b = await encodeWithBrowser(lastSources, { fps: r.fps, keyInterval, bitrate: (r.bytes * 8 * r.fps) / r.frames });
    if (!b) { line.textContent = 'Your browser has no WebCodecs VideoEncoder for VP9, AV1, H.264 or VP8 here: nothing to compare with.'; return null; }
    const kb = (bytes) => (bytes / 1024).toFixed(1);
    lastBrowser = { ...b, vqBytes: r.bytes, vqPsnrY: r.psnrY };
    line.textContent = `Your browser's ${b.name} would make this file ${kb(b.bytes)} KiB at ${b.psnrY.toFixed(2)} dB PSNR-Y `
      + `(vqcodec: ${kb(r.bytes)} KiB at ${r.psnrY.toFixed(2)} dB) — WebCodecs VideoEncoder, ${b.codec}, `
      + `asked for vqcodec's ${(b.bitrate / 1000).toFixed(0)} kbit/s; it encoded at ${((b.frames * 1000) / b.encodeMs).toFixed(0)} fps.`;
    return lastBrowser;
  } catch (e) {
    line.textContent = `Your browser's own codec failed on this clip: ${e.message ?? e}`;
    return null;
  }
}

/** The Encode button: the source at its own size (fit to 640×360, aspect kept) and frame rate. */
async function encodeSource() {
  const v = Number($('quality').value);
  const rate = $('ratemode').value === 'bitrate' ? { bitrate: v * 1000 } : { quality: v };
  const f = await sourceFormat();
  const r = await encodeClip({ frames: Math.min(Number($('nframes').value), f.frames), keyInterval: Number($('keyint').value),
    width: f.width, height: f.height, fps: f.fps, ...rate });
  $('vqccaption').textContent = `${r.frames} frames ${f.width}x${f.height} (${f.note}) at ${f.fps.toFixed(2)} fps: `
    + 'original left of the slider, decoded from the .vqc right of it';
  r.browser = await compareWithBrowser(r, Number($('keyint').value));
  return r;
}
$('encode').onclick = () => encodeSource().catch((e) => setStream('error', 'error', String(e.message ?? e)));
$('playvqc').onclick = () => {
  // after a file played to its end, the button replays it; else it plays the last encode
  if (played && $('playvqc').textContent === 'Replay') {
    $('playvqc').disabled = true;
    setStream('playing', 'cpu', played.note);
    player.play();
    return;
  }
  if (lastVqc) playVqc(lastVqc).catch(() => {});
};
$('openvqc').onchange = async () => {
  const f = $('openvqc').files[0];
  lastSources = []; // an opened file has no originals to compare with
  if (f) playVqc(new Uint8Array(await f.arrayBuffer())).catch(() => {});
};

// ---- Learn my codebook: trainCodebook() on this video, then before/after at one bitrate ----
let myCodebook = null;
let learning = null; // AbortController of the run in progress

function setCodebook(book, note) {
  myCodebook = book;
  $('usecb').disabled = !book;
  $('usecb').checked = !!book;
  $('cbbadge').textContent = book ? `my codebook ${book.id.slice(0, 8)}` : "model's codebook";
  $('cbbadge').className = `badge ${book ? 'webgpu' : 'off'}`;
  $('cbstatus').textContent = note;
  if (book) Object.assign($('cbdownload'), { href: URL.createObjectURL(book.toBlob()), hidden: false });
}

/** `count` frames of the current source at width × height: seeks a file, waits for live frames. */
async function sourceFrames(count, width, height) {
  if (!live) return video; // trainCodebook() samples a seekable <video> itself
  const c = document.createElement('canvas');
  Object.assign(c, { width, height });
  const g = c.getContext('2d', { willReadFrequently: true });
  const out = [];
  for (let i = 0; i < count; i++) {
    await nextFrame(i, 30);
    g.drawImage(video, 0, 0, width, height);
    out.push(g.getImageData(0, 0, width, height));
  }
  return out;
}

/** Learns a codebook from `frames` frames of the source, then compares at one bitrate. */
async function learnCodebook({ frames = Number($('cbframes').value), model = $('model').value,
  backend = $('backend').value, width, height, compareFrames = Number($('nframes').value),
  bitrate, compare = true } = {}) {
  learning?.abort();
  const ac = new AbortController();
  learning = ac;
  $('learn').disabled = true;
  $('cbcancel').disabled = false;
  const bar = $('cbprogress');
  const previous = myCodebook;
  const events = [];
  try {
    await videoReady();
    if (!width || !height) ({ width, height } = await sourceFormat()); // the source's aspect
    $('cbstatus').textContent = 'reading frames…';
    const source = await sourceFrames(frames, width, height);
    const book = await trainCodebook(source, {
      frames, model, backend, width, height, signal: ac.signal,
      onProgress(p) {
        events.push(p);
        // frames are the first half of the bar, k-means steps the second
        bar.value = p.phase === 'frames' ? 0.5 * (p.done / p.total) : 0.5 + 0.5 * (p.done / p.total);
        $('cbstatus').textContent = p.phase === 'frames'
          ? `encoder network on frame ${p.done}/${p.total}`
          : `k-means step ${p.done}/${p.total} (level ${p.level}, error ${p.mse.toFixed(4)})`;
      },
    });
    bar.value = 1;
    const r = book.report;
    setCodebook(book, `${r.frames} frames, ${r.steps} k-means steps in ${r.seconds.toFixed(1)} s on ${r.backend}; `
      + `latent error −${((1 - r.mseAfter / r.mseBefore) * 100).toFixed(0)}%, index entropy ${r.bitsBefore.toFixed(1)} → ${r.bitsAfter.toFixed(1)} bits; `
      + `${book.byteLength} bytes, levels ${book.levels.join(', ')}`);
    const summary = $('cbstatus').textContent;
    let compared = null;
    if (compare) {
      compared = await compareCodebooks(book, { frames: compareFrames, backend, bitrate });
      const signed = (d) => `${d >= 0 ? '+' : ''}${d.toFixed(2)}`;
      const gainY = compared[1].psnrY - compared[0].psnrY;
      const gain = compared[1].psnr - compared[0].psnr;
      const gains = `${signed(gainY)} dB PSNR-Y, ${signed(gain)} dB PSNR-RGB`;
      const sizes = `${(compared[0].bytes / 1024).toFixed(1)} vs ${(compared[1].bytes / 1024).toFixed(1)} KiB`;
      // whether a codebook pays depends on the model, the clip and its length (its bytes are
      // paid once per file; docs/adapt.md): say so when it costs luma, which the encoder weighs
      // first and the results compare by
      const loses = gainY < 0 ? " — it does not pay on this clip at this size: the model's own codebook gives the sharper picture (untick “encode the clip above with it”)" : '';
      $('cbstatus').textContent = compared.equalSize
        ? `${summary} · at equal file size (${sizes}): ${gains} with my codebook${loses}`
        : `${summary} · my file is ${(compared.sizeOff * 100).toFixed(1)}% ${compared.sizeOff > 0 ? 'larger' : 'smaller'} (${sizes}), `
          + `so its ${gains} are not at equal size`;
    }
    return { id: book.id, model: book.model, levels: book.levels, bytes: book.byteLength, report: r,
      progress: events.length, phases: [...new Set(events.map((e) => e.phase))], comparison: compared };
  } catch (e) {
    // a cancelled or failed run leaves the previous codebook in use
    setCodebook(previous, ac.signal.aborted ? 'cancelled — the previous codebook stays in use'
      : `error: ${e.message ?? e} — the previous codebook stays in use`);
    bar.value = 0;
    throw e;
  } finally {
    if (learning === ac) learning = null;
    $('learn').disabled = false;
    $('cbcancel').disabled = true;
  }
}

/**
 * The clip encoded with the model's codebook and with `book` at the same file size: the
 * model's at one bitrate target (the slider's kbit/s, or, in quality mode, the rate the model's
 * codebook takes at the slider's quality), then mine re-targeted until its file — which also
 * carries the codebook — is within 2% of that size (a few encodes at most). PSNR is compared at
 * equal size; when the sizes still differ, both are shown and the status says by how much.
 */
let lastComparison = null;
async function compareCodebooks(book, { frames = 30, backend = $('backend').value, bitrate } = {}) {
  const { width, height, fps } = await sourceFormat();
  if (!bitrate && $('ratemode').value === 'bitrate') bitrate = Number($('quality').value) * 1000;
  if (!bitrate) {
    $('cbstatus').textContent = `finding the rate of quality ${$('quality').value}…`;
    const probe = await encodeClip({ frames, quality: Number($('quality').value), backend, model: book.model, codebook: null, width, height, fps });
    bitrate = Math.max(10_000, Math.round((probe.chunkBpp * width * height * fps) / 1000) * 1000);
    // my stream carries my codebook in its header: where that header would be most of the file
    // no equal-size comparison is possible (nor telling), so compare where the frames get at
    // least as many bytes as the header
    bitrate = Math.max(bitrate, Math.ceil((2 * book.byteLength * 8 * fps) / frames / 1000) * 1000);
  }
  const encode = (codebook, target) => {
    $('cbstatus').textContent = `encoding ${frames} frames at ${(target / 1000).toFixed(0)} kbit/s with ${codebook ? 'my' : "the model's"} codebook…`;
    return encodeClip({ frames, bitrate: target, backend, model: book.model, codebook, width, height, fps });
  };
  const plain = await encode(null, bitrate);
  let target = bitrate;
  let mine = await encode(book, target);
  for (let tries = 0; tries < 4 && Math.abs(mine.bytes / plain.bytes - 1) > 0.02; tries++) {
    // the frames' bytes follow the target: aim them at the plain file less my header
    target = Math.max(1000, Math.round((target * (plain.bytes - mine.headerBytes)) / (mine.bytes - mine.headerBytes)));
    mine = await encode(book, target);
  }
  const rows = [['model\'s', plain, bitrate], ['mine', mine, target]].map(([name, r, t]) => ({
    name, bytes: r.bytes, bpp: r.bpp, chunkBpp: r.chunkBpp, psnrY: r.psnrY, psnr: r.psnr, frame: r.lastFrame, target: t }));
  const body = $('cbcompare').querySelector('tbody');
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    for (const v of [r.name === 'mine' ? `mine (${book.id.slice(0, 8)})` : "model's own", `${(r.bytes / 1024).toFixed(1)} KiB`,
      r.bpp.toFixed(4), r.chunkBpp.toFixed(4), `${r.psnrY.toFixed(2)} dB`, `${r.psnr.toFixed(2)} dB`]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
  $('cbcompare').hidden = false;
  $('cbviews').hidden = false;
  for (const [id, r] of [['cbbefore', rows[0]], ['cbafter', rows[1]]]) {
    const c = $(id);
    Object.assign(c, { width: r.frame.width, height: r.frame.height });
    c.getContext('2d').putImageData(r.frame, 0, 0);
  }
  const sizeOff = rows[1].bytes / rows[0].bytes - 1;
  lastComparison = Object.assign(rows.map(({ frame, ...r }) => r), { bitrate, sizeOff, equalSize: Math.abs(sizeOff) <= 0.02 });
  return lastComparison;
}

$('learn').onclick = () => learnCodebook().catch(() => {});
$('cbcancel').onclick = () => learning?.abort();
$('opencb').onchange = async () => {
  const f = $('opencb').files[0];
  if (!f) return;
  try {
    setCodebook(await Codebook.from(f), `opened ${f.name}`);
  } catch (e) {
    setCodebook(myCodebook, `${f.name}: ${e.message ?? e} — the previous codebook stays in use`);
  }
};

// Start on the default backend and model: ready once its module and the lite weights are loaded.
const ready = load('auto', 'lite').catch(() => {});

// Hooks for the browser tests and the benchmark (tests/browser/).
window.vqDemo = {
  ready,
  encodeClip,
  playVqc,
  /** The last encoded stream, as a plain array (for the tests). */
  lastVqc: () => (lastVqc ? Array.from(lastVqc) : null),
  benchStream,
  learnCodebook,
  encodeSource,
  /** The last "your browser's codec" comparison after an encode of the source, and its line. */
  lastBrowser: () => lastBrowser && { ...lastBrowser, line: $('browsercmp').textContent },
  /** The last "Learn my codebook" comparison: rows (bytes, PSNR, target) and whether the sizes match. */
  lastComparison: () => lastComparison && { rows: [...lastComparison], bitrate: lastComparison.bitrate,
    sizeOff: lastComparison.sizeOff, equalSize: lastComparison.equalSize },
  /** The codebook in use, as a .codebook file's bytes (for the tests). */
  codebookBytes: () => (myCodebook ? Array.from(myCodebook.bytes()) : null),
  /** Opens a .codebook file's bytes as the file input does; resolves to the status line. */
  async openCodebook(bytes) {
    let error = null;
    try { setCodebook(await Codebook.from(new Uint8Array(bytes)), 'opened'); } catch (e) {
      error = e;
      setCodebook(myCodebook, `${e.message ?? e} — the previous codebook stays in use`);
    }
    return { status: $('cbstatus').textContent, id: myCodebook?.id ?? null, kind: error?.kind ?? null, message: error?.message ?? null };
  },
  setSource,
  load,
  seek,
  /** Round-trip the frame at `time` seconds, optionally scaled to width × height. */
  async runOnce({ backend = 'auto', model = 'lite', time = 0.5, width, height, repeat = 1 } = {}) {
    await loading;
    if (!codec || loaded?.backend !== backend || loaded?.model !== model) await load(backend, model);
    await seek(time);
    let r;
    const times = [];
    for (let i = 0; i < repeat; i++) { r = await roundtrip(width, height); times.push(r.ms); }
    return { ...r, times };
  },
};

videoReady().then(() => grab()).catch(() => {});
