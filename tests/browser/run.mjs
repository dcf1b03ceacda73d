#!/usr/bin/env node
// Browser test: Debian Chromium (headless, driven by playwright-core) loads the demo page
// served on 127.0.0.1, round-trips a frame of the bundled clip through the wasm model on the
// CPU backend and, when the headless flags give a WebGPU adapter, on WebGPU too; asserts the
// decoded frame's size and that both backends agree. Prints timings; `--bench` adds
// 640×360 timings on every backend. Screenshots go to out/browser/.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import { launchChromium } from '../../scripts/chromium.mjs';
import { handleUpload } from '../../examples/upload/server.mjs';

const bench = process.argv.includes('--bench');
// --pkg=../out/pkg-ndarray/vqcodec.js --backends=cpu,ndarray: benchmark a comparison build
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const pkg = arg('pkg');
const benchBackends = arg('backends')?.split(',');
const outDir = join(process.cwd(), 'out', 'browser');
mkdirSync(outDir, { recursive: true });

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) { passed++; console.log(`  ok   ${name}${detail ? ` (${detail})` : ''}`); } else { failed++; console.log(`  FAIL ${name}${detail ? ` (${detail})` : ''}`); }
}

const server = await serve(0, handleUpload);
const port = server.address().port;
const { context, close: closeChromium } = await launchChromium({ args: ['--js-flags=--expose-gc', '--enable-precise-memory-info'] });
// In every page: a stream of `n` frames (`frame(t)`: an ImageData of w×h) from the package's
// encoder on the CPU (lite, quality 80, a keyframe every `keyInterval`): {chunks, encTokens,
// header, errors}, for the checks that decode one
await context.addInitScript(() => {
  window.vqTestStream = async ({ w, h, n, keyInterval }, frame) => {
    const { VqVideoEncoder } = await import('../pkg/index.js');
    const chunks = []; const encTokens = []; const errors = [];
    let header = null;
    const enc = new VqVideoEncoder({
      output: (c, meta, extra) => { chunks.push(c); encTokens.push(Array.from(extra.tokens)); if (meta) header = meta.decoderConfig.description; },
      error: (e) => errors.push(`encoder: ${e.message}`),
    });
    enc.configure({ width: w, height: h, backend: 'cpu', model: 'lite', quality: 80, keyInterval });
    for (let t = 0; t < n; t++) enc.encode(frame(t));
    await enc.flush();
    enc.close();
    return { chunks, encTokens, header, errors };
  };
});
const page = context.pages()[0] ?? await context.newPage();
const logs = [];
page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));

try {
  const t0 = Date.now();
  await page.goto(`http://127.0.0.1:${port}/www/${pkg ? `?pkg=${pkg}` : ''}`);
  await page.waitForFunction(() => window.vqDemo !== undefined);
  await page.evaluate(() => window.vqDemo.ready);
  console.log(`page + wasm ready in ${Date.now() - t0} ms`);

  const adapter = await page.evaluate(async () => {
    if (!navigator.gpu) return null;
    const a = await navigator.gpu.requestAdapter();
    if (!a) return null;
    const info = a.info ?? {};
    return { vendor: info.vendor, architecture: info.architecture, description: info.description, fallback: a.isFallbackAdapter ?? info.isFallbackAdapter };
  });
  console.log(`WebGPU adapter: ${adapter ? JSON.stringify(adapter) : 'none'}`);
  // the page starts on auto/lite: only the module for that backend and that model's weights
  const entries = await page.evaluate(() => performance.getEntriesByType('resource')
    .map((e) => ({ path: new URL(e.name).pathname, wire: e.encodedBodySize, body: e.decodedBodySize }))
    .filter((e) => /\.(wasm|vqw)$/.test(e.path)).sort((a, b) => a.path.localeCompare(b.path)));
  const fetched = entries.map((e) => e.path);
  const wire = entries.reduce((n, e) => n + e.wire, 0);
  console.log(`first use over the wire: ${(wire / 1e6).toFixed(2)} MB for ${entries.map((e) => `${e.path} ${(e.wire / 1e6).toFixed(2)} of ${(e.body / 1e6).toFixed(2)} MB`).join(', ')}`);
  const pageBadge = await page.evaluate(() => ({ badge: document.getElementById('badge').textContent,
    reason: document.getElementById('reason').textContent }));
  if (adapter && !pkg && !adapter.fallback) {
    check('with a hardware adapter the page fetches only the format module, the WebGPU module and the lite weights',
      fetched.join() === '/pkg/format/vqc_bg.wasm,/pkg/vqcodec_bg.wasm,/pkg/weights/lite.vqw', fetched.join(', '));
  }
  if (adapter?.fallback && !pkg) {
    // issue 18, defect 3: a software adapter (SwiftShader here) must not win 'auto'
    check('auto does not take a software WebGPU adapter: CPU module, and the badge says why',
      fetched.join() === '/pkg/cpu/vqcodec_bg.wasm,/pkg/format/vqc_bg.wasm,/pkg/weights/lite.vqw'
      && pageBadge.badge === 'cpu' && pageBadge.reason.includes('software fallback'), `${fetched.join(', ')} | ${pageBadge.badge}: ${pageBadge.reason}`);
  }
  // issue 18, defects 1 and 8: ids are unique; the codebook views stay hidden until there is something to show
  const onLoad = await page.evaluate(() => {
    const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
    return { dupes: ids.filter((id, i) => ids.indexOf(id) !== i),
      cbviews: getComputedStyle(document.getElementById('cbviews')).display,
      cbcompare: getComputedStyle(document.getElementById('cbcompare')).display };
  });
  check('the page has no duplicate ids, and the empty codebook views are not shown on load',
    onLoad.dupes.length === 0 && onLoad.cbviews === 'none' && onLoad.cbcompare === 'none', JSON.stringify(onLoad));
  // a module refuses weights that are not the file it was built with (here: lite's as base)
  const wrongWeights = await page.evaluate(async () => {
    const m = await import('../pkg/cpu/vqcodec.js');
    await m.default();
    const lite = new Uint8Array(await (await fetch('../pkg/weights/lite.vqw')).arrayBuffer());
    const ok = await m.VqCodec.create('cpu', 'lite', lite).then((c) => { const id = c.modelId; c.free(); return id; });
    const bad = await m.VqCodec.create('cpu', 'base', lite).then(() => ({ kind: 'accepted' }), (e) => ({ kind: e.kind, message: e.message }));
    // VqCodec.render (what the decoder's render workers run) refuses a latent of the wrong
    // length and a size beyond the format's limits, as typed errors
    const codec = await m.VqCodec.create('cpu', 'lite', lite);
    const refused = (p) => p.then(() => 'accepted', (e) => `${e.kind}: ${e.message}`);
    const render = { short: await refused(codec.render(new Int32Array(5), 64, 48)),
      huge: await refused(codec.render(new Int32Array(0), 9000, 8)), empty: await refused(codec.render(new Int32Array(0), 0, 0)) };
    codec.free();
    return { ok, bad, ids: m.modelIds(), render };
  });
  check('a module refuses another file as a model\'s weights (kind ModelMismatch)', wrongWeights.ok === wrongWeights.ids.lite
    && wrongWeights.bad.kind === 'ModelMismatch', JSON.stringify(wrongWeights.bad));
  check('VqCodec.render refuses a latent of the wrong length and sizes beyond the limits (kind Config)',
    Object.values(wrongWeights.render).every((r) => r.startsWith('Config: ')), Object.values(wrongWeights.render).join(' | '));

  const W = 160;
  const H = 96;
  const run = (opts) => page.evaluate(async (o) => {
    const r = await window.vqDemo.runOnce(o);
    return { ...r, rgba: Array.from(r.rgba), input: undefined };
  }, opts);

  // CPU backend
  const cpu = await run({ backend: 'cpu', model: 'base', time: 1.0, width: W, height: H, repeat: 2 });
  check('cpu backend chosen', cpu.backend === 'cpu', cpu.reason);
  check('decoded frame has the requested size', cpu.width === W && cpu.height === H && cpu.rgba.length === W * H * 4, `${cpu.width}x${cpu.height}`);
  check('decoded frame is not blank', new Set(cpu.rgba.filter((_, i) => i % 4 === 0)).size > 10);
  check('PSNR is finite', Number.isFinite(cpu.psnrRgb), `${cpu.psnrRgb.toFixed(2)} dB`);
  console.log(`  cpu ${W}x${H}: ${cpu.times.map((t) => t.toFixed(1)).join(', ')} ms`);
  await page.screenshot({ path: join(outDir, 'cpu.png'), fullPage: true });

  // odd size on CPU: padding and cropping in the browser path
  const odd = await run({ backend: 'cpu', model: 'lite', time: 1.0, width: 37, height: 29 });
  check('odd frame size 37x29 round-trips (lite)', odd.width === 37 && odd.height === 29 && odd.rgba.length === 37 * 29 * 4);

  // The .vqc stream: the npm package's WebCodecs-shaped encoder and decoder, in their worker,
  // on the CPU; then the native CLI on the same stream and on the same clip.
  const N = 10;
  const enc = await page.evaluate((n) => window.vqDemo.encodeClip({ frames: n, quality: 80, backend: 'cpu', model: 'lite' }), N);
  check('stream: every frame encoded and decoded in the worker', enc.frames === N && enc.decodedFrames === N, `${enc.frames} chunks, ${enc.bytes} bytes, ${enc.backend}/${enc.model}`);
  check('stream: keyframe first, predicted frames after', enc.types[0] === 'key' && enc.types.slice(1).includes('delta'), enc.types.join(','));
  check('stream: the page decoder gets the encoder\'s indices', enc.tokensMatch);
  check('stream: real rate below the raw token rate', enc.bpp < 0.328, `${enc.bpp.toFixed(4)} bpp, PSNR ${enc.psnr.toFixed(2)} dB, ${(N * 1000 / enc.totalMs).toFixed(1)} fps encode+decode incl. seeking`);
  // issue 18, defect 2: the bundled clip is served with byte ranges, so seeking moves: N frames, not N copies of one
  check('stream: the frames encoded from the bundled clip are distinct frames, not one frozen frame', enc.distinctSources >= N - 1,
    `${enc.distinctSources} distinct of ${N}`);
  // issue 18, defect 1: the download link appears
  const link = await page.evaluate(() => { const a = document.querySelector('a#download'); return { hidden: a.hidden, href: a.href }; });
  check('stream: "Download .vqc" appears after an encode', !link.hidden && link.href.startsWith('blob:'), JSON.stringify(link));
  await page.screenshot({ path: join(outDir, 'stream.png'), fullPage: true });
  const vqc = Uint8Array.from(await page.evaluate(() => window.vqDemo.lastVqc()));
  const vqcPath = join(outDir, 'page.vqc');
  writeFileSync(vqcPath, vqc);
  const bin = join(process.env.CARGO_TARGET_DIR ?? join(process.cwd(), 'target'), 'release', 'vqcodec');
  const npyPath = join(outDir, 'page.npy');
  execFileSync(bin, ['tokens', vqcPath, '-o', npyPath], { stdio: 'pipe' });
  const npy = readFileSync(npyPath);
  const hlen = npy.readUInt16LE(8);
  const native = new Int16Array(npy.buffer.slice(npy.byteOffset + 10 + hlen, npy.byteOffset + npy.length));
  const pageTokens = enc.tokens.flat().map((v) => (v === 65535 ? -1 : v));
  check('stream: the native CLI decodes the browser\'s .vqc to the same indices', native.length === pageTokens.length && native.every((v, i) => v === pageTokens[i]), `${native.length} indices`);
  const y4m = join(outDir, 'sample.y4m');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', 'www/sample.webm', '-frames:v', String(N), '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', y4m]);
  // the page's encoder is a live one (a keyframe every 60, no lookahead); the CLI's defaults are a whole file's
  const live = ['--keyint', '60', '--lookahead', '0'];
  const cli = execFileSync(bin, ['encode', y4m, '-o', join(outDir, 'native.vqc'), '--backend', 'cpu', '--model', 'lite', '--quality', '80', '-q', ...live], { encoding: 'utf8' });
  const nativePsnr = Number(/PSNR-RGB ([0-9.]+) dB/.exec(cli)[1]);
  check('stream: in-page PSNR within 0.5 dB of the native CLI on the same clip', Math.abs(nativePsnr - enc.psnr) <= 0.5, `page ${enc.psnr.toFixed(2)} dB, CLI ${nativePsnr.toFixed(2)} dB`);
  const played = await page.evaluate(async () => {
    const r = await window.vqDemo.playVqc(new Uint8Array(window.vqDemo.lastVqc()));
    return { frames: r.frames, errors: r.errors.length };
  });
  check('stream: the player decodes and plays the .vqc', played.frames === N && played.errors === 0, `${played.frames} frames`);
  await page.waitForTimeout(200);
  await page.screenshot({ path: join(outDir, 'player.png'), fullPage: true });

  // Learn my codebook (issue 6): click the button, see progress, then the before/after table.
  await page.selectOption('#backend', 'cpu');
  await page.selectOption('#model', 'lite');
  await page.fill('#cbframes', '8');
  await page.fill('#nframes', String(N));
  await page.click('#learn');
  const progressSeen = await page.waitForFunction(() => {
    const v = document.getElementById('cbprogress').value;
    return v > 0 && v < 1 ? v : null;
  }, null, { polling: 20, timeout: 120_000 }).then((h) => h.jsonValue());
  await page.waitForFunction(() => !document.getElementById('cbcompare').hidden && !document.getElementById('learn').disabled,
    null, { timeout: 300_000 });
  const learned = await page.evaluate(() => ({
    badge: document.getElementById('cbbadge').textContent,
    status: document.getElementById('cbstatus').textContent,
    rows: [...document.querySelectorAll('#cbcompare tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
    use: document.getElementById('usecb').checked,
    download: !document.getElementById('cbdownload').hidden,
  }));
  check('codebook: the button shows progress and a result', progressSeen > 0 && learned.rows.length === 2 && learned.use
    && learned.download && learned.badge.includes('my codebook') && learned.status.includes('k-means steps'),
  `progress ${Number(progressSeen).toFixed(2)} seen; ${learned.status}`);
  // issue 18, defect 8: with and without my codebook compared at equal file size (±2%)
  const comparison = await page.evaluate(() => window.vqDemo.lastComparison());
  check('codebook: the before/after comparison is at equal file size (within 2%), and says so',
    comparison.equalSize && Math.abs(comparison.rows[1].bytes / comparison.rows[0].bytes - 1) <= 0.02 && learned.status.includes('equal file size'),
    `${comparison.rows[0].bytes} vs ${comparison.rows[1].bytes} bytes (targets ${comparison.rows[0].target} / ${comparison.rows[1].target} bit/s)`);
  // both metrics in the table and the status, and a codebook that costs PSNR-Y is called so
  const [modelsRow, mine] = comparison.rows;
  const losesY = mine.psnrY < modelsRow.psnrY;
  check('codebook: the comparison gives PSNR-Y and PSNR-RGB, and says when the codebook does not pay',
    learned.rows.every((r) => r.length === 6) && learned.status.includes('PSNR-Y') && learned.status.includes('PSNR-RGB')
    && learned.status.includes('does not pay') === losesY,
    `PSNR-Y ${modelsRow.psnrY.toFixed(2)} → ${mine.psnrY.toFixed(2)}, PSNR-RGB ${modelsRow.psnr.toFixed(2)} → ${mine.psnr.toFixed(2)} dB`);
  await page.screenshot({ path: join(outDir, 'codebook.png'), fullPage: true });

  // the stream with the codebook in its header: page decoder and native CLI agree
  const cb = await page.evaluate((n) => window.vqDemo.encodeClip({ frames: n, quality: 80, backend: 'cpu', model: 'lite' }), N);
  const cbVqc = Uint8Array.from(await page.evaluate(() => window.vqDemo.lastVqc()));
  const cbPath = join(outDir, 'page-codebook.vqc');
  writeFileSync(cbPath, cbVqc);
  const cbInfo = JSON.parse(execFileSync(bin, ['info', cbPath, '--json'], { encoding: 'utf8' }));
  execFileSync(bin, ['tokens', cbPath, '-o', npyPath], { stdio: 'pipe' });
  const npy2 = readFileSync(npyPath);
  const native2 = new Int16Array(npy2.buffer.slice(npy2.byteOffset + 10 + npy2.readUInt16LE(8), npy2.byteOffset + npy2.length));
  const page2 = cb.tokens.flat().map((v) => (v === 65535 ? -1 : v));
  check("codebook: the stream carries it and the page decodes it to the encoder's indices",
    cb.codebook && cbInfo.codebook && cb.tokensMatch && cb.headerBytes > 60 && cb.decodedFrames === N,
    `codebook ${cb.codebook}, header ${cb.headerBytes} bytes, levels ${JSON.stringify(cbInfo.codebook?.adapted)}`);
  check("codebook: the native CLI reads the browser's stream to the same indices",
    native2.length === page2.length && native2.every((v, i) => v === page2[i]), `${native2.length} indices`);
  // the page's codebook in the native encoder on the same clip: the same quality as in the page
  // (as for the plain stream above; each against its own source frames)
  const bookPath = join(outDir, 'page.codebook');
  writeFileSync(bookPath, Uint8Array.from(await page.evaluate(() => window.vqDemo.codebookBytes())));
  const cbCli = execFileSync(bin, ['encode', y4m, '-o', join(outDir, 'native-codebook.vqc'), '--backend', 'cpu', '--model', 'lite',
    '--quality', '80', '-q', '--codebook', bookPath, ...live], { encoding: 'utf8' });
  // The codebook's effect, page against CLI, measured on one reference: both page streams (with
  // and without the codebook) decoded by the native CLI against the y4m, beside the native
  // encoder's two streams. (Each side against its own source does not compare: at quality 80 this
  // clip is near-lossless — PSNR-Y ~50 dB, a mean squared error of ~0.7 — so the 8-bit rounding of
  // the page's RGB source and of its Y' moves a gain by tenths of a dB.) Whether a codebook pays
  // is a property of the model and the clip, measured at equal size (the comparison above and
  // docs/adapt.md), not something this test can assert at a fixed quality.
  const cliY = (out) => Number(/PSNR-Y ([0-9.]+) dB/.exec(out)[1]);
  const decodeY = (vqcFile) => cliY(execFileSync(bin, ['decode', vqcFile, '-o', join(outDir, 'decoded.y4m'), '--reference', y4m, '-q'], { encoding: 'utf8' }));
  const cliCbPsnr = cliY(cbCli);
  const cliPsnrY = cliY(cli);
  const cliCbDecoded = decodeY(join(outDir, 'native-codebook.vqc'));
  const pagePlainY = decodeY(vqcPath);
  const pageCbY = decodeY(cbPath);
  const pageGain = pageCbY - pagePlainY;
  const cliGain = cliCbPsnr - cliPsnrY;
  check("codebook: the page's codebook does in the page's encoder what it does in the native encoder (PSNR-Y gain within 0.3 dB, both decoded natively against the clip; the CLI decoder agrees with its encoder)",
    Math.abs(pageGain - cliGain) <= 0.3 && Math.abs(cliCbDecoded - cliCbPsnr) < 0.01,
    `page streams ${pagePlainY.toFixed(2)} → ${pageCbY.toFixed(2)} dB (${enc.bytes} → ${cb.bytes} bytes; in the page, against its own source: PSNR-Y ${enc.psnrY.toFixed(2)} → ${cb.psnrY.toFixed(2)}, PSNR-RGB ${enc.psnr.toFixed(2)} → ${cb.psnr.toFixed(2)}), CLI ${cliPsnrY.toFixed(2)} → ${cliCbPsnr.toFixed(2)} dB, CLI decode ${cliCbDecoded.toFixed(2)} dB`);

  // bad input: each a clear error, the codebook in use stays
  const bad = await page.evaluate(async () => {
    const { trainCodebook, Codebook, VqVideoEncoder } = await import('../pkg/index.js');
    const out = {};
    const catching = async (f) => {
      try { await f(); return { name: 'no error' }; } catch (e) { return { name: e.name, kind: e.kind, message: e.message }; }
    };
    const img = (w, h) => new ImageData(w, h);
    out.few = await catching(() => trainCodebook([img(64, 48), img(64, 48)], { backend: 'cpu', model: 'lite' }));
    out.sizes = await catching(() => trainCodebook([img(64, 48), img(64, 48), img(32, 32), img(64, 48)], { backend: 'cpu', model: 'lite' }));
    const before = (await window.vqDemo.openCodebook(new Uint8Array(0))).id;
    out.garbage = await window.vqDemo.openCodebook(new TextEncoder().encode('not a codebook at all, no'));
    out.keptAfterGarbage = out.garbage.id === before;
    // cancelled mid-run: rejects with AbortError, the codebook in use stays
    const ac = new AbortController();
    const run = trainCodebook(document.getElementById('video'), { frames: 8, backend: 'cpu', model: 'lite', width: 160, height: 96,
      signal: ac.signal, onProgress: (p) => { if (p.done === 2) ac.abort(); } });
    out.cancelled = await catching(() => run);
    // a small real one, saved and loaded back
    const frames = [];
    const c = new OffscreenCanvas(160, 96);
    const g = c.getContext('2d');
    const v = document.getElementById('video');
    for (let i = 0; i < 6; i++) { await window.vqDemo.seek(i * 0.3); g.drawImage(v, 0, 0, 160, 96); frames.push(g.getImageData(0, 0, 160, 96)); }
    const book = await trainCodebook(frames, { backend: 'cpu', model: 'lite' });
    const again = await Codebook.from(book.toBlob());
    out.saved = { id: book.id, againId: again.id, model: again.model, levels: again.levels, bytes: again.byteLength,
      gain: 1 - book.report.mseAfter / book.report.mseBefore };
    // another model's codebook: configure() throws, the encoder stays as it was
    const enc = new VqVideoEncoder({ output: () => {}, error: () => {} });
    out.otherModel = await catching(() => enc.configure({ width: 160, height: 96, model: 'base', codebook: book }));
    out.stateAfter = enc.state;
    enc.close();
    return out;
  });
  const shown = (e) => `${e.name}/${e.kind}: ${e.message}`;
  check('codebook: too few frames → RangeError of kind Config', bad.few.name === 'RangeError' && bad.few.kind === 'Config', shown(bad.few));
  check('codebook: frames of another size → RangeError of kind Config', bad.sizes.name === 'RangeError' && bad.sizes.kind === 'Config', shown(bad.sizes));
  check('codebook: a file that is not a codebook → error of kind Format shown, previous codebook kept',
    bad.garbage.kind === 'Format' && bad.garbage.status.includes(bad.garbage.message) && bad.keptAfterGarbage, bad.garbage.status);
  check('codebook: a cancelled run rejects with AbortError', bad.cancelled.name === 'AbortError', shown(bad.cancelled));
  check('codebook: saved and loaded back (same id, model, levels)', bad.saved.id === bad.saved.againId && bad.saved.model === 'lite'
    && bad.saved.levels.join() === '0' && bad.saved.gain > 0.1, JSON.stringify(bad.saved));
  check('codebook: another model\'s codebook → TypeError of kind ModelMismatch from configure(), state unchanged',
    bad.otherModel.name === 'TypeError' && bad.otherModel.kind === 'ModelMismatch' && bad.stateAfter === 'unconfigured',
    `${shown(bad.otherModel)}; state ${bad.stateAfter}`);

  // The package's public API on its own page (not the demo): encoder → splitStream → decoder,
  // damage, cuts, and the error kinds a caller branches on.
  const pkgPage = await context.newPage();
  pkgPage.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  await pkgPage.goto(`http://127.0.0.1:${port}/tests/browser/package.html`);
  await pkgPage.waitForFunction(() => window.packageReady === true);
  const api = await pkgPage.evaluate(() => window.packageTest());
  await pkgPage.close();
  check('package: encoder → file → splitStream gives the encoder\'s header and chunks',
    api.types.join() === 'key,delta,delta,key,delta,delta' && api.split.chunks === 6 && api.split.headerSame && api.split.dataSame
    && api.split.types.join() === api.types.join() && api.split.width === 64 && api.split.height === 48 && api.split.truncated === null,
    `${api.bytes} bytes, ${api.types.join(',')}, ${api.info?.backend}/${api.info?.model}`);
  check('package: the decoder gives every frame with the encoder\'s indices',
    api.decoded.frames === 6 && api.decoded.pts.join() === '0,1,2,3,4,5' && api.decoded.size && api.decoded.tokensMatch, JSON.stringify(api.decoded.pts));
  check('package: a damaged chunk is reported (kind Damaged) and costs frames until the next keyframe',
    api.damaged.split.join() === 'key,damaged:Damaged,delta,key,delta,delta'
    && api.damaged.decoded.join() === 'pts0,error:Damaged,error:Damaged,pts3,pts4,pts5', `${api.damaged.split.join()} → ${api.damaged.decoded.join()}`);
  const ew = api.encodeWorkers.encoded;
  check('package: on the CPU the encoder network runs in render workers (default one per core, up to 4) while the encoder codes in order: the very same file for 0, 1 or 3 of them, with a lookahead too; search \'device\' uses none; cpuWorkers 9 is a Config error',
    api.encodeWorkers.defaultWorkers === api.workers.defaultWorkers
    && ['0', '1', '3'].every((n) => ew[n].same && ew[n].workers === Number(n) && ew[n].error === null && ew[n].timestamps === '0,1000,2000,3000,4000,5000')
    && ew.ahead0.hash === ew.ahead3.hash && ew.ahead3.workers === 3 && !ew.ahead3.same && ew.ahead3.error === null
    && ew.device.workers === 0 && ew.device.error === null && !ew.device.same
    && api.encodeWorkers.bad.kind === 'Config' && api.encodeWorkers.bad.name === 'TypeError' && api.encodeWorkers.supported === false,
    `default ${api.encodeWorkers.defaultWorkers} | ${api.encodeWorkers.bad.message}`);
  const wk = api.workers;
  check('package: on the CPU the decoder network runs in render workers (default one per core, up to 4), the very same frames in order for 0, 1 or 3 of them; cpuWorkers 9 and gpuWorkers 5 are Config errors, and not supported',
    wk.defaultWorkers === Math.min(wk.cores, 4) * (wk.cores >= 2 ? 1 : 0)
    && [0, 1, 3].every((n) => wk.byWorkers[n].workers === n && wk.byWorkers[n].pts === '0,1,2,3,4,5' && wk.byWorkers[n].pixels === wk.defaultPixels)
    && wk.bad.kind === 'Config' && wk.bad.name === 'TypeError' && wk.badGpu.kind === 'Config' && wk.badGpu.name === 'TypeError'
    && wk.supported.join() === 'false,false,true',
    `default ${wk.defaultWorkers} on ${wk.cores} cores | ${wk.bad.message} | ${wk.badGpu.message} | supported ${wk.supported.join()}`);
  check('package: a cut file gives its whole chunks and says it was cut (kind Damaged)', api.cut.chunks === 5 && api.cut.kind === 'Damaged', JSON.stringify(api.cut));
  const la = api.lookahead;
  check('package: with a lookahead the encoder outputs a window of chunks at a time, in order, with their timestamps, and the stream decodes to its indices',
    la.error === null && la.types.join() === 'key,delta,delta,key,delta,delta' && la.timestamps.join() === '0,1000,2000,3000,4000,5000'
    // keyframes every 3 frames cut windows of 4 to 3: the first window is out before the flush, the last only after it
    && la.outputsBeforeFlush === 3 && la.tokensMatch && !la.sameAsPlain && la.bad.kind === 'Config' && api.encoderDefaults.lookahead === 0,
    `${la.bytes} bytes (without: ${api.bytes}), ${la.outputsBeforeFlush} chunks before flush(), ${la.types.join(',')} | ${la.bad.message}`);
  check("package: search 'device' (run by the CPU module here) makes an ordinary stream that decodes to the encoder's indices; the default is 'host'; with a lookahead or another value, a Config error",
    api.search.error === null && api.search.types.join() === 'key,delta,delta,key,delta,delta' && api.search.tokensMatch && api.search.differs
      && api.search.default === 'host' && api.search.withLookahead.kind === 'Config' && api.search.bad.kind === 'Config',
    `${api.search.bytes} bytes on the device's search, ${api.bytes} on the host's | ${api.search.withLookahead.message} | ${api.search.bad.message}`);
  check("package: slices: 3 makes a stream that decodes to the encoder's indices; the default is 0 (by the frame's size, from the format module); 17 is a Config error",
    api.slices.error === null && api.slices.chunks === 6 && api.slices.tokensMatch && api.slices.differs && api.slices.default === 0
      && api.slices.bad.kind === 'Config',
    `${api.slices.bytes} bytes in 3 slices, ${api.bytes} in 1 | ${api.slices.bad.message}`);
  check('package: adaptive quantisation is on by default (0.15, from the format module); aq: 0 codes the same frames to another stream; aq 1.5 is a Config error',
    api.aq.error === null && api.aq.chunks === 6 && api.aq.differs && api.encoderDefaults.aq === 0.15 && api.aq.bad.kind === 'Config',
    `${api.aq.bytes} bytes with aq 0, ${api.bytes} with the default ${api.encoderDefaults.aq} | ${api.aq.bad.message}`);
  const e = api.errors;
  check('package: error kinds — not a stream: Format; damaged header: Damaged; garbage description: Format',
    e.notVqc.kind === 'Format' && e.notVqc.vq && e.damagedHeader.kind === 'Damaged' && e.decoderGarbage.kind === 'Format',
    [e.notVqc, e.damagedHeader, e.decoderGarbage].map((x) => `${x.name}/${x.kind}`).join(', '));
  check('package: bad encoder settings are TypeErrors of kind Config; limits and defaults come from the format module',
    e.tooWide.name === 'TypeError' && e.tooWide.kind === 'Config' && e.quality.kind === 'Config'
    && e.both.supported === false && e.both.kind === 'Config' && api.limits.maxWidth === 8192 && api.encoderDefaults.framerate === 30
    && api.encoderDefaults.keyInterval === 60 && api.encoderDefaults.quality === 80
    && api.encoderDefaults.fileKeyInterval === 250 && api.encoderDefaults.fileLookahead === 40,
    `${e.tooWide.message} | ${e.quality.message} | ${e.both.reason}`);

  // Issue 18: the package README works on its own — every js block of js/README.md runs as written
  // (in a page with the README's import map and the inputs it names), and its esbuild recipe
  // (the sh block, run as written) gives a bundle that works.
  const readme = readFileSync('js/README.md', 'utf8');
  const blocks = (lang) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  const examples = blocks('js');
  const results = [];
  for (const [i, code] of examples.entries()) {
    const p = await context.newPage();
    const consoleErrors = [];
    p.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    await p.goto(`http://127.0.0.1:${port}/tests/browser/readme.html`);
    await p.waitForFunction(() => window.readmeReady === true);
    await p.evaluate(() => window.setupInputs());
    const r = await Promise.race([p.evaluate((c) => window.runExample(c), code),
      new Promise((ok) => setTimeout(() => ok({ ok: false, error: 'timed out after 180 s' }), 180_000))]);
    results.push({ i, first: code.split('\n').find((l) => l && !l.startsWith('import')) ?? '', ...r, consoleErrors });
    await p.close();
  }
  const failedExamples = results.filter((r) => !r.ok || r.consoleErrors.length);
  check(`README: all ${examples.length} js examples run as written`, examples.length >= 7 && failedExamples.length === 0,
    failedExamples.map((r) => `#${r.i} (${r.first.slice(0, 50)}): ${r.error ?? ''} ${r.consoleErrors.join(' | ')}`).join(' ; ') || `${examples.length} examples`);
  const recipe = blocks('sh').find((b) => b.includes('esbuild'));
  const bundleDir = join(outDir, 'readme-bundle');
  execFileSync('rm', ['-rf', bundleDir]);
  mkdirSync(join(bundleDir, 'node_modules'), { recursive: true });
  execFileSync('ln', ['-s', join(process.cwd(), 'pkg'), join(bundleDir, 'node_modules', 'vqcodec')]);
  writeFileSync(join(bundleDir, 'app.js'), examples[0]);
  let bundled = null;
  try {
    execFileSync('bash', ['-e', '-c', recipe], { cwd: bundleDir, stdio: 'pipe' });
    const bp = await context.newPage();
    const consoleLines = [];
    bp.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    await bp.goto(`http://127.0.0.1:${port}/tests/browser/readme.html`);
    await bp.waitForFunction(() => window.readmeReady === true);
    await bp.evaluate(() => window.setupInputs());
    // the bundle, not the import map: it imports nothing by bare name
    const r = await bp.evaluate(async (url) => { try { await import(url); return { ok: true }; } catch (e) { return { ok: false, error: String(e.stack ?? e) }; } },
      `http://127.0.0.1:${port}/out/browser/readme-bundle/dist/app.js`);
    bundled = { ...r, lines: consoleLines };
    await bp.close();
  } catch (e) {
    bundled = { ok: false, error: String(e.stderr ?? e.message ?? e) };
  }
  check('README: the esbuild recipe gives a bundle that encodes (the first example, bundled as written)',
    bundled.ok && bundled.lines.some((l) => l.includes('-byte .vqc file')) && !bundled.lines.some((l) => l.startsWith('[error]')),
    bundled.ok ? bundled.lines.filter((l) => l.includes('.vqc file')).join(' ') : bundled.error);

  // 1,000 frames through the page's encoder and decoder: memory must stay flat. Bound: after
  // a 100-frame warm-up, the worker's wasm memory may grow by at most 8 MiB and the page's
  // JS heap (after GCs) by at most 16 MiB.
  const mem = await page.evaluate(async () => {
    const { workerMemory } = await import('../pkg/index.js');
    const heap = async () => {
      for (let i = 0; i < 3; i++) { globalThis.gc?.(); await new Promise((r) => setTimeout(r, 50)); }
      return performance.memory?.usedJSHeapSize ?? NaN;
    };
    const opts = { quality: 60, backend: 'cpu', model: 'lite', width: 160, height: 96 };
    await window.vqDemo.encodeClip({ ...opts, frames: 100 });
    const wasm = (m) => m.wasmBytes + m.renderWasmBytes; // the render workers' modules too
    const before = { wasm: wasm(await workerMemory()), heap: await heap() };
    const t = performance.now();
    const r = await window.vqDemo.encodeClip({ ...opts, frames: 1000 });
    const m = await workerMemory();
    const after = { wasm: wasm(m), heap: await heap(), sessions: m.sessions, modules: m.modules, renderWorkers: m.renderWorkers,
      renderWasm: m.renderWasmBytes };
    return { before, after, frames: r.frames, decoded: r.decodedFrames, ms: performance.now() - t, psnr: r.psnr, match: r.tokensMatch };
  });
  const mib = (b) => (b / 1048576).toFixed(1);
  check('1,000 frames encoded and decoded in the page', mem.frames === 1000 && mem.decoded === 1000 && mem.match, `${(mem.ms / 1000).toFixed(1)} s, PSNR ${mem.psnr.toFixed(2)} dB`);
  check('the worker loaded only the CPU-only module for backend cpu', mem.after.modules.join() === 'cpu', String(mem.after.modules));
  check('memory stays flat over 1,000 frames (wasm +8 MiB, JS heap +16 MiB at most)',
    mem.after.wasm - mem.before.wasm <= 8 << 20 && mem.after.heap - mem.before.heap <= 16 << 20,
    `worker wasm ${mib(mem.before.wasm)} → ${mib(mem.after.wasm)} MiB (of which ${mem.after.renderWorkers} render workers ${mib(mem.after.renderWasm)} MiB), JS heap ${mib(mem.before.heap)} → ${mib(mem.after.heap)} MiB, ${mem.after.sessions} open sessions`);

  // The upload example: compress a file in the page with the package, POST it, the server
  // decodes it with the native CLI.
  const up = await context.newPage();
  up.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  await up.goto(`http://127.0.0.1:${port}/examples/upload/`);
  await up.waitForFunction(() => window.uploadExample !== undefined);
  await up.setInputFiles('#file', 'www/sample.webm');
  await up.waitForFunction(() => window.uploadExample.last, null, { timeout: 120_000 });
  const upload = await up.evaluate(() => window.uploadExample.last);
  check('upload example: compressed in the page, decoded by the server\'s CLI', upload.status === 200 && upload.reply?.ok
    && upload.reply.frames === 60 && upload.reply.width === 320 && upload.reply.bytes === upload.bytes,
  JSON.stringify(upload.reply ?? upload).slice(0, 160));
  await up.screenshot({ path: join(outDir, 'upload.png'), fullPage: true });
  await up.close();

  // Issue 18: the demo as a new user meets it — other aspect ratios and frame rates, bad input,
  // damaged and cut files, a bitrate target that cannot be met.
  const clip43 = join(outDir, 'clip43-25fps.webm');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-frames:v', '60',
    '-c:v', 'libvpx-vp9', '-b:v', '400k', clip43]);
  await page.setInputFiles('#srcfile', clip43);
  await page.waitForFunction(() => document.getElementById('video').readyState >= 2, null, { timeout: 30_000 });
  await page.fill('#nframes', '100');
  await page.selectOption('#ratemode', 'quality');
  const own = await page.evaluate(() => window.vqDemo.encodeSource());
  const ownSplit = await page.evaluate(async () => {
    const { splitStream } = await import('../pkg/index.js');
    const s = splitStream(new Uint8Array(window.vqDemo.lastVqc()));
    return { width: s.width, height: s.height, framerate: s.framerate, chunks: s.chunks.length,
      caption: document.getElementById('vqccaption').textContent };
  });
  check('a 4:3, 25 fps file is encoded at its own size and frame rate: 60 frames, not resampled to 30 fps or squashed to 16:9',
    ownSplit.width === 320 && ownSplit.height === 240 && ownSplit.framerate === 25 && ownSplit.chunks === 60 && own.distinctSources >= 59,
    `${ownSplit.width}x${ownSplit.height} @ ${ownSplit.framerate} fps, ${ownSplit.chunks} chunks, ${own.distinctSources} distinct | ${ownSplit.caption}`);
  // issue 17: beside vqcodec's file, the browser's own codec (WebCodecs) on the same frames
  const browser = await page.evaluate(() => window.vqDemo.lastBrowser());
  const lineRe = /^Your browser's (VP9|AV1|H\.264|VP8) would make this file (\d+\.\d) KiB at (\d+\.\d\d) dB PSNR-Y \(vqcodec: (\d+\.\d) KiB at (\d+\.\d\d) dB\)/;
  const m = lineRe.exec(browser?.line ?? '');
  check('after encoding the user\'s clip, the page shows what the browser\'s own codec makes of it: size and PSNR-Y beside vqcodec\'s',
    !!m && browser.decoded === browser.frames && browser.frames === own.frames && browser.bytes > 0 && Number(m[2]) > 0
    && Number(m[3]) > 15 && Number(m[3]) < 100 && Number(m[4]) === Number((own.bytes / 1024).toFixed(1)) && Math.abs(Number(m[5]) - own.psnrY) < 0.01,
    browser?.line ?? 'no comparison');
  await page.locator('#browsercmp').screenshot({ path: join(outDir, 'browser-codec-line.png') });
  const compressed = await page.evaluate(async () => {
    const { compressVideo, splitStream } = await import('../pkg/index.js');
    const file = await (await fetch('/out/browser/clip43-25fps.webm')).blob();
    const seen = [];
    const vqc = await compressVideo(file, { backend: 'cpu', quality: 60 }, (p) => seen.push(p));
    const s = splitStream(new Uint8Array(await vqc.arrayBuffer()));
    // a whole file's defaults: a 40-frame lookahead (and a keyframe every 250), unlike configure()'s
    const bytes = async (o) => new Uint8Array(await (await compressVideo(file, { backend: 'cpu', quality: 60, maxFrames: 30, ...o })).arrayBuffer());
    const [dflt, file40, live] = [await bytes({}), await bytes({ keyInterval: 250, lookahead: 40 }), await bytes({ keyInterval: 60, lookahead: 0 })];
    const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
    return { width: s.width, height: s.height, framerate: s.framerate, chunks: s.chunks.length, last: seen.at(-1),
      fileDefaults: same(dflt, file40) && !same(dflt, live), sizes: [dflt.length, live.length] };
  });
  check('compressVideo keeps a 25 fps, 60-frame clip at 25 fps and 60 frames, at its size, with a whole file\'s defaults (lookahead 40, keyframes every 250)',
    compressed.width === 320 && compressed.height === 240 && compressed.framerate === 25 && compressed.chunks === 60
    && compressed.last.frame === 60 && compressed.last.kbps > 0 && compressed.fileDefaults, JSON.stringify(compressed));
  // a bitrate target that cannot be met: the achieved rate is reported next to it, in the API's stats and on the page
  const missed = await page.evaluate(() => window.vqDemo.encodeClip({ frames: 10, bitrate: 5_000_000, backend: 'cpu', model: 'lite',
    width: 160, height: 120, fps: 25 }));
  const streamStatus = await page.evaluate(() => document.getElementById('sreason').textContent);
  const expectKbps = (missed.bytes * 8 * 25) / 10 / 1000;
  check('a bitrate target that cannot be met is reported: target and achieved rate in the stats and on the page',
    missed.targetKbps === 5000 && Math.abs(missed.achievedKbps - expectKbps) < 0.5 && streamStatus.includes('achieved')
    && streamStatus.includes('5000 kbit/s'), `${missed.achievedKbps?.toFixed(1)} kbit/s of 5000 | ${streamStatus}`);

  // a file that is not a video: a clear error at once, Encode and Learn do not hang, the page stays usable
  await page.setInputFiles('#srcfile', join(process.cwd(), 'Cargo.toml'));
  await page.waitForFunction(() => document.getElementById('sbadge').textContent === 'error', null, { timeout: 10_000 }).catch(() => {});
  await page.evaluate(() => { document.getElementById('sbadge').textContent = 'waiting'; });
  const t1 = Date.now();
  await page.click('#encode');
  const encodeError = await page.waitForFunction(() => document.getElementById('sbadge').textContent === 'error'
    && document.getElementById('sreason').textContent, null, { timeout: 10_000 }).then((h) => h.jsonValue(), () => null);
  await page.click('#learn');
  const learnError = await page.waitForFunction(() => !document.getElementById('learn').disabled
    && document.getElementById('cbstatus').textContent.startsWith('error'), null, { timeout: 10_000 }).then(() => true, () => false);
  const badInputMs = Date.now() - t1;
  await page.selectOption('#source', 'sample');
  await page.waitForFunction(() => document.getElementById('video').readyState >= 2, null, { timeout: 30_000 });
  const again = await page.evaluate(() => window.vqDemo.encodeClip({ frames: 4, quality: 60, backend: 'cpu', model: 'lite', width: 160, height: 96 }));
  check('a file that is not a video: Encode and Learn fail at once with a clear error, and the page stays usable',
    encodeError?.includes('cannot decode') && learnError && badInputMs < 15_000 && again.frames === 4,
    `${encodeError} | learn error shown: ${learnError} | ${badInputMs} ms | then ${again.frames} frames encoded`);
  // the high-fidelity qualities (81-100: the model's enhancement coefficients), through the same
  // page, worker and CPU module
  const fine = await page.evaluate(() => window.vqDemo.encodeClip({ frames: 4, quality: 95, backend: 'cpu', model: 'lite', width: 160, height: 96 }));
  check('quality 95 (high fidelity): the enhancement lifts the decoded frames far above quality 60, and the decoder reads the encoder\'s indices (the coefficients: tests/codec.rs, the fidelity conformance vector)',
    fine.frames === 4 && fine.decodedFrames === 4 && fine.psnrY > again.psnrY + 3 && fine.bytes > again.bytes && fine.tokensMatch === true,
    `quality 95: ${fine.bytes} B, PSNR-Y ${fine.psnrY?.toFixed?.(2)} dB, ${fine.decodedFrames} decoded; quality 60: ${again.bytes} B, ${again.psnrY?.toFixed?.(2)} dB; tokens match: ${fine.tokensMatch}`);

  // a damaged header, a cut file, and the end of playback
  const good = Uint8Array.from(await page.evaluate(() => window.vqDemo.lastVqc()));
  const ended18 = await page.evaluate(async (bytes) => {
    const b = new Uint8Array(bytes);
    const status = () => ({ badge: document.getElementById('sbadge').textContent, reason: document.getElementById('sreason').textContent });
    const damaged = b.slice();
    damaged[30] ^= 1;
    const a = await window.vqDemo.playVqc(damaged).then(() => 'played', (e) => e.kind);
    const afterDamaged = status();
    const cut = await window.vqDemo.playVqc(b.slice(0, b.length - 7));
    const afterCut = status();
    await new Promise((r) => setTimeout(r, 1000)); // 4 frames at 30 fps: played to the end
    const ended = { ...status(), button: document.getElementById('playvqc').textContent };
    return { a, afterDamaged, cut: { frames: cut.frames, truncated: cut.truncated?.kind }, afterCut, ended };
  }, Array.from(good));
  check('a damaged header is an error shown with its kind, not "playing" with 0 frames',
    ended18.a === 'Damaged' && ended18.afterDamaged.badge === 'error' && ended18.afterDamaged.reason.includes('Damaged'), JSON.stringify(ended18.afterDamaged));
  check('a cut file plays its whole frames and says it was cut', ended18.cut.frames === 3 && ended18.cut.truncated === 'Damaged'
    && ended18.afterCut.reason.includes('cut'), JSON.stringify(ended18.afterCut));
  check('after playback the badge says so and the button replays', ended18.ended.badge === 'played' && ended18.ended.button === 'Replay',
    JSON.stringify(ended18.ended));
  await page.screenshot({ path: join(outDir, 'issue18.png'), fullPage: true });

  // the player decodes as it plays: a bounded number of frames ahead, every frame shown in
  // order, a damaged chunk's frames passed over (its error reported when playback reaches it),
  // and the same pictures drawn from VideoFrames
  await page.evaluate(() => window.vqDemo.encodeClip({ frames: 24, quality: 40, keyInterval: 8, backend: 'cpu', model: 'lite', width: 160, height: 96 }));
  const streamed = await page.evaluate(async () => {
    const { VqcPlayer, splitStream } = await import('../pkg/index.js');
    const good = new Uint8Array(window.vqDemo.lastVqc());
    const play = (bytes, options) => new Promise((resolve, reject) => {
      const canvas = document.createElement('canvas');
      const shown = [];
      let maxBuffered = 0;
      let info = null;
      let first = null;
      const player = new VqcPlayer(canvas, { backend: 'cpu', ...options,
        onframe: (i, f) => { shown.push({ i, type: f.constructor.name }); maxBuffered = Math.max(maxBuffered, player.buffered); },
        onended: () => { player.close(); resolve({ shown, maxBuffered, first, frames: info.frames, errors: info.errors.map((e) => e.kind ?? String(e)) }); } });
      player.load(bytes).then((i) => {
        info = i;
        first = Array.from(canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data);
        player.play();
      }, reject);
    });
    const plain = await play(good, { ahead: 3 });
    const frames = await play(good, { ahead: 3, output: 'videoframe' });
    // chunk 10's payload damaged: frames 10-15 are lost until the keyframe at 16
    const damaged = good.slice();
    const c = splitStream(good).chunks[10];
    damaged[c.data.byteOffset + c.data.byteLength - 2] ^= 0x40;
    const lost = await play(damaged, { ahead: 3 });
    let diff = 0;
    for (let k = 0; k < plain.first.length; k++) diff = Math.max(diff, Math.abs(plain.first[k] - frames.first[k]));
    return { plain, frames, lost, diff };
  });
  const order = (r) => r.shown.every((s, k) => k === 0 || s.i > r.shown[k - 1].i);
  const idx = (r) => r.shown.map((s) => s.i);
  check('the player decodes as it plays: at most `ahead` (3) frames ahead of the one shown, all 24 frames shown in order, as ImageData or as VideoFrames (the same first picture)',
    streamed.plain.frames === 24 && streamed.plain.maxBuffered <= 3 && streamed.plain.shown.length === 24 && order(streamed.plain)
      && streamed.plain.shown[0].type === 'ImageData' && streamed.frames.maxBuffered <= 3 && streamed.frames.shown.length === 24
      && order(streamed.frames) && streamed.frames.shown[0].type === 'VideoFrame' && streamed.diff <= 1,
    `ImageData: ${streamed.plain.shown.length} shown, ${streamed.plain.maxBuffered} at most ahead; VideoFrame: ${streamed.frames.shown.length} shown, ${streamed.frames.maxBuffered} ahead; first picture differs by ${streamed.diff}`);
  check('a damaged chunk in a played file: its frames up to the next keyframe are passed over, the rest shown, its errors reported by the end',
    streamed.lost.frames === 24 && order(streamed.lost) && idx(streamed.lost).join() === [...Array(10).keys(), 16, 17, 18, 19, 20, 21, 22, 23].join()
      && streamed.lost.errors.length === 6 && streamed.lost.errors.every((k) => k === 'Damaged'),
    `shown ${idx(streamed.lost).join(',')}; errors ${streamed.lost.errors.join(',')}`);

  // WebGPU backend, where the flags give an adapter
  if (adapter) {
    const gpu = await run({ backend: 'webgpu', model: 'base', time: 1.0, width: W, height: H, repeat: 2 });
    check('webgpu backend chosen', gpu.backend === 'webgpu', gpu.reason);
    check('webgpu decoded size', gpu.width === W && gpu.height === H && gpu.rgba.length === W * H * 4);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < gpu.rgba.length; i++) {
      if (i % 4 === 3) continue;
      const d = Math.abs(gpu.rgba[i] - cpu.rgba[i]);
      sum += d;
      max = Math.max(max, d);
    }
    const mean = sum / (W * H * 3);
    check('webgpu and cpu agree (mean |diff| <= 1.0 level of 255)', mean <= 1.0, `mean ${mean.toFixed(3)}, max ${max}`);
    check('webgpu and cpu PSNR within 0.1 dB', Math.abs(gpu.psnrRgb - cpu.psnrRgb) < 0.1, `${gpu.psnrRgb.toFixed(3)} vs ${cpu.psnrRgb.toFixed(3)}`);
    console.log(`  webgpu ${W}x${H}: ${gpu.times.map((t) => t.toFixed(1)).join(', ')} ms`);
    await page.screenshot({ path: join(outDir, 'webgpu.png'), fullPage: true });

    // The package's stream on WebGPU in its worker, and a real device loss midway (the worker
    // destroys the GPUDevice burn-wgpu uses): the decoder loses it at a delta frame and must
    // replay the chunks since the keyframe on the CPU; the encoder goes on on the CPU with a
    // keyframe. No frame may be lost, and the native CLI must read the whole stream.
    const loss = await page.evaluate(async () => {
      const { VqVideoEncoder, VqVideoDecoder, loseGpuForTesting } = await import('../pkg/index.js');
      const [w, h] = [64, 48];
      const frame = (t) => {
        const d = new Uint8ClampedArray(w * h * 4);
        for (let i = 0; i < w * h; i++) {
          const x = i % w; const y = (i / w) | 0;
          d.set([(x * 4 + t * 9) & 255, (y * 5 + t * 3) & 255, ((x ^ y) * 3 + t) & 255, 255], i * 4);
        }
        return new ImageData(d, w, h);
      };
      const chunks = []; const encTokens = []; const encBackends = []; const errors = [];
      let header = null;
      const enc = new VqVideoEncoder({
        output: (c, meta, extra) => { chunks.push(c); encTokens.push(Array.from(extra.tokens)); encBackends.push(enc.info.backend); if (meta) header = meta.decoderConfig.description; },
        error: (e) => errors.push(`encoder: ${e.message}`),
      });
      enc.configure({ width: w, height: h, backend: 'webgpu', model: 'lite', quality: 80 });
      for (let t = 0; t < 3; t++) enc.encode(frame(t));
      await enc.flush();
      const decoded = []; const decBackends = [];
      const dec = new VqVideoDecoder({
        output: (f, meta) => { if (f) { decoded.push({ pts: meta.pts, tokens: Array.from(meta.tokens) }); decBackends.push(dec.info.backend); } else errors.push(`decoder: ${meta.error.message}`); },
        error: (e) => errors.push(`decoder: ${e.message}`),
      });
      dec.configure({ codec: 'vqc1.lite', description: header, backend: 'webgpu' });
      dec.decode(chunks[0]); dec.decode(chunks[1]);
      await dec.flush();
      const before = { enc: enc.info.backend, dec: dec.info.backend };
      const lostSeen = await loseGpuForTesting();
      dec.decode(chunks[2]);
      await dec.flush();
      for (let t = 3; t < 6; t++) enc.encode(frame(t));
      await enc.flush();
      for (const c of chunks.slice(3)) dec.decode(c);
      await dec.flush();
      const stream = [new Uint8Array(header), ...chunks.map((c) => c.data)];
      const bytes = new Uint8Array(stream.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of stream) { bytes.set(p, o); o += p.length; }
      return { before, lostSeen, errors, types: chunks.map((c) => c.type), encBackends, decBackends,
        reason: enc.info.reason, decReason: dec.info.reason, decodedPts: decoded.map((d) => d.pts),
        tokensMatch: decoded.length === encTokens.length && decoded.every((d, i) => d.tokens.join() === encTokens[i].join()),
        bytes: Array.from(bytes) };
    });
    check('stream on WebGPU in the worker', loss.before.enc === 'webgpu' && loss.before.dec === 'webgpu', JSON.stringify(loss.before));
    check('GPU loss: no frame lost, CPU takes over (encoder: keyframe at the loss; decoder: replay to a delta frame)',
      loss.lostSeen && loss.errors.length === 0 && loss.types.join() === 'key,delta,delta,key,delta,delta'
      && loss.decodedPts.join() === '0,1,2,3,4,5' && loss.tokensMatch
      && loss.encBackends.join() === 'webgpu,webgpu,webgpu,cpu,cpu,cpu' && loss.decBackends.join() === 'webgpu,webgpu,cpu,cpu,cpu,cpu'
      && /device was lost/.test(loss.reason) && /device was lost/.test(loss.decReason),
    `${loss.types.join(',')} | enc ${loss.encBackends.join(',')} | dec ${loss.decBackends.join(',')} | ${loss.reason} ${loss.errors.join('; ')}`);
    const lossPath = join(outDir, 'gpu-loss.vqc');
    writeFileSync(lossPath, Uint8Array.from(loss.bytes));
    const lossInfo = JSON.parse(execFileSync(bin, ['info', lossPath, '--json'], { encoding: 'utf8' }));
    check('GPU loss: the native CLI reads the whole stream (6 chunks, pts 0..5, no errors)',
      lossInfo.chunks.length === 6 && lossInfo.chunks.map((c) => c.pts).join() === '0,1,2,3,4,5' && (lossInfo.errors ?? []).length === 0,
      `${lossInfo.chunks.length} chunks`);
    // The search on the device on WebGPU: one kernel of ours (src/search_kernel.rs) compiled to
    // WGSL and run by the browser's WebGPU (SwiftShader here), in a fresh tab. Its stream decodes
    // on the CPU to the encoder's indices, and it chooses what the CPU module's search chooses:
    // the same file but where the encoder networks' latents differ by rounding.
    const searchTab = await context.newPage();
    try {
      await searchTab.goto(`http://127.0.0.1:${port}/www/`);
      await searchTab.waitForFunction(() => window.vqDemo !== undefined);
      const ds = await searchTab.evaluate(async () => {
        const { VqVideoEncoder, VqVideoDecoder } = await import('../pkg/index.js');
        const [w, h] = [64, 48];
        const frame = (t) => {
          const d = new Uint8ClampedArray(w * h * 4);
          for (let i = 0; i < w * h; i++) {
            const x = i % w; const y = (i / w) | 0;
            d.set([(x * 4 + t * 2) & 255, (y * 5 + t) & 255, ((x ^ y) * 3) & 255, 255], i * 4);
          }
          return new ImageData(d, w, h);
        };
        const encodeOn = async (backend) => {
          const out = { chunks: [], tokens: [], header: null, errors: [] };
          const enc = new VqVideoEncoder({
            output: (c, meta, extra) => { out.chunks.push(c); out.tokens.push(Array.from(extra.tokens)); if (meta) out.header = meta.decoderConfig.description; },
            error: (e) => out.errors.push(e.message),
          });
          enc.configure({ width: w, height: h, backend, model: 'lite', quality: 70, keyInterval: 4, search: 'device' });
          for (let t = 0; t < 6; t++) enc.encode(frame(t), { timestamp: 1000 * t });
          await enc.flush();
          out.backend = enc.info.backend;
          enc.close();
          out.bytes = [new Uint8Array(out.header), ...out.chunks.map((c) => c.data)].reduce((n, p) => n + p.length, 0);
          return out;
        };
        const gpu = await encodeOn('webgpu');
        const cpu = await encodeOn('cpu');
        const decoded = [];
        const dec = new VqVideoDecoder({
          output: (f, meta) => { if (f) decoded.push(Array.from(meta.tokens)); },
          error: (e) => gpu.errors.push(`decoder: ${e.message}`),
        });
        dec.configure({ codec: 'vqc1.lite', description: gpu.header, backend: 'cpu' });
        for (const c of gpu.chunks) dec.decode(c);
        await dec.flush();
        const same = gpu.tokens.map((t, i) => t.filter((v, j) => v === cpu.tokens[i][j]).length / t.length);
        return { backend: gpu.backend, errors: [...gpu.errors, ...cpu.errors], types: gpu.chunks.map((c) => c.type).join(),
          tokensMatch: decoded.length === 6 && decoded.every((t, i) => t.join() === gpu.tokens[i].join()),
          bytes: [gpu.bytes, cpu.bytes], same: Math.min(...same) };
      });
      check("search 'device' on WebGPU (the search kernel): its stream decodes on the CPU to the encoder's indices, and its indices are the CPU module's search's (≥ 95% of each frame's; the networks' latents differ by rounding)",
        ds.backend === 'webgpu' && ds.errors.length === 0 && ds.types === 'key,delta,delta,delta,key,delta' && ds.tokensMatch && ds.same >= 0.95,
        `${ds.backend}, ${ds.types}, ${ds.bytes[0]} bytes on WebGPU, ${ds.bytes[1]} on the CPU, indices alike ${(ds.same * 100).toFixed(1)}% (least frame) ${ds.errors.join('; ')}`);
    } finally {
      await searchTab.close();
    }
    // The decoder keeps three chunks in flight on WebGPU; a device loss while they are (a fresh
    // tab: a new worker and device) must still give every frame, in order, with the encoder's
    // indices: the in-flight chunks the GPU loses are decoded again on the CPU in chunk order.
    const inFlightTab = await context.newPage();
    try {
      await inFlightTab.goto(`http://127.0.0.1:${port}/www/`);
      await inFlightTab.waitForFunction(() => window.vqDemo !== undefined);
      const fl = await inFlightTab.evaluate(async () => {
        const { VqVideoDecoder, loseGpuForTesting } = await import('../pkg/index.js');
        const [w, h] = [64, 48];
        const frame = (t) => {
          const d = new Uint8ClampedArray(w * h * 4);
          for (let i = 0; i < w * h; i++) {
            const x = i % w; const y = (i / w) | 0;
            d.set([(x * 3 + t * 7) & 255, (y * 4 + t * 5) & 255, ((x ^ y) * 2 + t) & 255, 255], i * 4);
          }
          return new ImageData(d, w, h);
        };
        const { chunks, encTokens, header, errors } = await window.vqTestStream({ w, h, n: 12, keyInterval: 5 }, frame);
        const decoded = []; const backends = [];
        const dec = new VqVideoDecoder({
          output: (f, meta) => { if (f) { decoded.push({ pts: meta.pts, tokens: Array.from(meta.tokens) }); backends.push(dec.info.backend); } else errors.push(`decoder: ${meta.error.message}`); },
          error: (e) => errors.push(`decoder: ${e.message}`),
        });
        dec.configure({ codec: 'vqc1.lite', description: header, backend: 'webgpu' });
        const t0 = performance.now();
        for (const c of chunks.slice(0, 4)) dec.decode(c);
        await dec.flush();
        const msFour = performance.now() - t0;
        // the loss while chunks 4.. are queued and in flight
        for (const c of chunks.slice(4)) dec.decode(c);
        const lost = loseGpuForTesting();
        await dec.flush();
        return { lost: await lost, errors, types: chunks.map((c) => c.type), backends, msFour,
          pts: decoded.map((d) => d.pts),
          tokensMatch: decoded.length === encTokens.length && decoded.every((d, i) => d.tokens.join() === encTokens[i].join()) };
      });
      check('decodes in flight on WebGPU and a device loss among them: every frame in order with the encoder\'s indices, the CPU takes over',
        fl.lost && fl.errors.length === 0 && fl.pts.join() === [...Array(12).keys()].join() && fl.tokensMatch
        && fl.backends.slice(0, 4).every((b) => b === 'webgpu') && fl.backends.at(-1) === 'cpu',
        `${fl.types.join(',')} | ${fl.backends.join(',')} | ${fl.errors.join('; ')} | first four frames ${fl.msFour.toFixed(0)} ms`);
    } finally {
      await inFlightTab.close();
    }
    // A 1280x720 stream on WebGPU reads its symbols in a worker of its own (cpuWorkers > 0): the
    // same frames, indices and damaged chunks as the decoder's own worker reading them
    // (cpuWorkers 0); a device loss among the chunks in flight hands the stream to the CPU
    // without losing a frame. A fresh tab: the loss stays there.
    const splitTab = await context.newPage();
    try {
      await splitTab.goto(`http://127.0.0.1:${port}/www/`);
      await splitTab.waitForFunction(() => window.vqDemo !== undefined);
      const sp = await splitTab.evaluate(async () => {
        const { VqVideoDecoder, loseGpuForTesting, workerMemory } = await import('../pkg/index.js');
        const [w, h] = [1280, 720];
        const frame = (t) => {
          const d = new Uint8ClampedArray(w * h * 4);
          for (let i = 0; i < w * h; i++) {
            const x = i % w; const y = (i / w) | 0;
            d.set([128 + 100 * Math.sin((x + 3 * t) * 0.03), (x * 2 + y + t * 4) & 255, (x ^ y) & 255, 255], i * 4);
          }
          return new ImageData(d, w, h);
        };
        const { chunks, encTokens, header, errors } = await window.vqTestStream({ w, h, n: 6, keyInterval: 3 }, frame);
        // chunk 1 damaged: it and the delta frame after it are lost, the keyframe at 3 resumes
        const damaged = chunks.map((c, i) => {
          const data = c.data.slice();
          if (i === 1) data[data.length >> 1] ^= 0x40;
          return { type: c.type, timestamp: c.timestamp, data };
        });
        const hash = (a) => { let x = 2166136261; for (let i = 0; i < a.length; i++) x = Math.imul(x ^ a[i], 16777619); return x >>> 0; };
        // lose: the device is lost once the first frame is out, with the next ones in flight
        // output 'videoframe': the frames' bytes (VideoFrame.copyTo) and what they say
        const frameCopies = [];
        const decodeAll = async (cpuWorkers, list, lose = false, output = undefined, backend = 'webgpu', gpuWorkers = undefined) => {
          const out = []; const backends = []; const described = [];
          const memBefore = await workerMemory();
          let first;
          const firstOut = new Promise((r) => { first = r; });
          const dec = new VqVideoDecoder({
            output: (f, meta) => {
              if (f instanceof VideoFrame) {
                const o = { pts: meta.pts, tokens: Array.from(meta.tokens).join(), hash: 0 };
                described.push(`${f.format} ${f.codedWidth}x${f.codedHeight} at ${f.timestamp} (${meta.timestamp})`);
                const bytes = new Uint8Array(f.allocationSize());
                frameCopies.push(f.copyTo(bytes).then(() => { o.hash = hash(bytes); }).finally(() => f.close()));
                out.push(o);
              } else {
                out.push(f ? { pts: meta.pts, tokens: Array.from(meta.tokens).join(), hash: hash(f.data) } : { error: meta.error.kind });
              }
              backends.push(dec.info.backend); first();
            },
            error: (e) => errors.push(`decoder: ${e.message}`),
          });
          dec.configure({ codec: 'vqc1.lite', description: header, backend, cpuWorkers, output, gpuWorkers });
          for (const c of list) dec.decode(c);
          // lose: true, this worker's device; 'gpuWorkers', its GPU render workers' devices
          const lost = lose ? firstOut.then(() => loseGpuForTesting({ gpuWorkers: lose === 'gpuWorkers' })) : null;
          await lost;
          await dec.flush();
          await Promise.all(frameCopies.splice(0));
          const mem = await workerMemory();
          const info = dec.info;
          dec.close();
          return { out, backends, info, described, made: mem.videoFramesMade - memBefore.videoFramesMade, gpuRenderWorkers: mem.gpuRenderWorkers,
            gpuRendered: mem.gpuFramesRendered - memBefore.gpuFramesRendered, symbolsWorkers: mem.symbolsWorkers, sliceWorkers: mem.sliceWorkers, lost: await lost };
        };
        const here = await decodeAll(0, damaged);
        // VideoFrames, made by the decoder's worker of the module's memory, with a symbols worker
        // reading the symbols and without
        const framesApart = await decodeAll(2, damaged, false, 'videoframe');
        const framesHere = await decodeAll(0, damaged, false, 'videoframe');
        const timestamps = damaged.map((c) => c.timestamp);
        // and on the CPU module (its own worker: cpuWorkers 0), against its ImageData
        const cpuImages = await decodeAll(0, damaged, false, undefined, 'cpu');
        const cpuFrames = await decodeAll(0, damaged, false, 'videoframe', 'cpu');
        // and in its render workers (cpuWorkers 2)
        const cpuFramesApart = await decodeAll(2, damaged, false, 'videoframe', 'cpu');
        // the frames on two GPU render workers (each its own device), as ImageData and VideoFrames;
        // they stop with the last session that used them; their devices lost midway, the
        // decoder's own worker renders the rest (its symbols worker going on)
        const gpuApart = await decodeAll(2, damaged, false, undefined, 'webgpu', 2);
        const gpuFrames = await decodeAll(2, damaged, false, 'videoframe', 'webgpu', 2);
        await new Promise((r) => setTimeout(r, 100));
        const gpuAfterClose = (await workerMemory()).gpuRenderWorkers;
        const gpuLoss = await decodeAll(2, chunks, 'gpuWorkers', undefined, 'webgpu', 2);
        const clean = await decodeAll(0, chunks);
        // the symbols worker alone (cpuWorkers 1), with one slice worker (2), with one for each
        // of the stream's two slices (4: three asked for)
        const alone = await decodeAll(1, damaged);
        const apart = await decodeAll(2, damaged);
        const sliced = await decodeAll(4, damaged);
        // no cpuWorkers: slice workers only on cores to spare (none on two or three)
        const byDefault = await decodeAll(undefined, damaged);
        const cores = navigator.hardwareConcurrency;
        const defaultSlices = cores >= 2 ? Math.max(0, Math.min(Math.min(cores, 4) - 1, 2, cores - 3)) : 0;
        await new Promise((r) => setTimeout(r, 100));
        const afterClose = (await workerMemory()).symbolsWorkers + (await workerMemory()).sliceWorkers;
        // configured again without a close: the first session's symbols worker goes with it
        const again = new VqVideoDecoder({ output: (f) => f?.close?.(), error: (e) => errors.push(`decoder: ${e.message}`) });
        for (let k = 0; k < 2; k++) {
          again.configure({ codec: 'vqc1.lite', description: header, backend: 'webgpu', cpuWorkers: 2 });
          again.decode(chunks[0]);
          await again.flush();
        }
        await new Promise((r) => setTimeout(r, 100));
        const reconfigured = (await workerMemory()).symbolsWorkers;
        again.close();
        // a symbols worker that cannot start its decoder (no weights where it looks): the
        // decoder's own worker reads the symbols from the first chunk on
        const { init } = await import('../pkg/index.js');
        await init({ weightsUrl: '/no-such-folder/' });
        const noHelper = await decodeAll(2, damaged);
        // the same with the first chunk damaged: the takeover's first answer is that chunk's
        // error, which still tells the decoder that its own worker reads the stream now
        const damagedFirst = chunks.map((c, i) => {
          const data = c.data.slice();
          if (i === 0) data[data.length >> 1] ^= 0x40;
          return { type: c.type, timestamp: c.timestamp, data };
        });
        const noHelperDamaged = await decodeAll(2, damagedFirst);
        await init({ weightsUrl: new URL('../pkg/weights/', location.href).href });
        const loss = await decodeAll(2, chunks, true);
        return { here, framesApart, framesHere, timestamps, cpuImages, cpuFrames, cpuFramesApart, gpuApart, gpuFrames, gpuAfterClose, gpuLoss, clean, alone, apart, sliced, byDefault, cores, defaultSlices, afterClose, reconfigured, noHelper, noHelperDamaged, loss, errors, encTokens: encTokens.map((t) => t.join()), types: chunks.map((c) => c.type) };
      });
      const same = sp.here.out.length === 6 && [sp.alone, sp.apart, sp.sliced, sp.byDefault].every((r) => JSON.stringify(sp.here.out) === JSON.stringify(r.out));
      const errorsAt = (r) => r.out.map((o, i) => (o.error ? `${i}:${o.error}` : '')).filter(Boolean).join();
      check('1280x720 on WebGPU: the symbols in a worker of their own give the same frames, indices and damaged chunks as in the decoder\'s worker',
        sp.here.info.symbolsWorker === false && sp.apart.info.symbolsWorker === true && sp.here.symbolsWorkers === 0 && sp.apart.symbolsWorkers === 1
        && sp.afterClose === 0 && sp.reconfigured === 1 && same && errorsAt(sp.apart) === '1:Damaged,2:Damaged'
        && [0, 3, 4, 5].every((i) => sp.apart.out[i].tokens === sp.encTokens[i]) && sp.apart.backends.every((b) => b === 'webgpu'),
        `${sp.types.join(',')} | in its worker: ${errorsAt(sp.here)}, apart: ${errorsAt(sp.apart)}, symbols workers ${sp.here.symbolsWorkers}/${sp.apart.symbolsWorkers}/${sp.afterClose}, configured twice ${sp.reconfigured} | ${sp.errors.join('; ')}`);
      check('1280x720 on WebGPU: the slices read in slice workers of the symbols worker give the same frames, indices and damaged chunks',
        same && [[sp.alone, 0], [sp.apart, 1], [sp.sliced, 2]].every(([r, n]) => r.info.sliceWorkers === n && r.sliceWorkers === n && r.symbolsWorkers === 1)
        && sp.byDefault.info.sliceWorkers === sp.defaultSlices && sp.byDefault.sliceWorkers === sp.defaultSlices
        && sp.afterClose === 0 && errorsAt(sp.sliced) === '1:Damaged,2:Damaged',
        `slice workers ${[sp.alone, sp.apart, sp.sliced].map((r) => `${r.info.sliceWorkers}/${r.sliceWorkers}`).join(', ')}, by default on ${sp.cores} cores ${sp.byDefault.info.sliceWorkers} (expected ${sp.defaultSlices}) | ${errorsAt(sp.sliced)}`);
      const framesOk = (r, images = sp.here) => JSON.stringify(r.out) === JSON.stringify(images.out)
        && r.described.join() === [0, 3, 4, 5].map((i) => `RGBA 1280x720 at ${sp.timestamps[i]} (${sp.timestamps[i]})`).join();
      check('1280x720, output \'videoframe\': VideoFrames made in the workers of the module\'s memory (WebGPU with a symbols worker and without; the CPU module, with render workers and without) hold the ImageData\'s pixels and the chunks\' timestamps',
        framesOk(sp.framesApart) && framesOk(sp.framesHere) && sp.framesApart.info.symbolsWorker === true
        && framesOk(sp.cpuFrames, sp.cpuImages) && framesOk(sp.cpuFramesApart, sp.cpuImages) && sp.cpuFramesApart.info.renderWorkers === 2
        && [sp.cpuFrames, sp.cpuFramesApart].every((r) => r.backends.every((b) => b === 'cpu'))
        // made in the workers, not on the page's thread of RGBA bytes
        && [sp.framesApart, sp.framesHere, sp.cpuFrames, sp.cpuFramesApart].every((r) => r.made === 4) && sp.here.made === 0 && sp.cpuImages.made === 0,
        `${sp.framesApart.described.join(', ')} | ${errorsAt(sp.framesApart)} | made in workers ${[sp.framesApart, sp.framesHere, sp.cpuFrames, sp.cpuFramesApart, sp.here, sp.cpuImages].map((r) => r.made).join('/')}, render workers ${sp.cpuFramesApart.info.renderWorkers}`);
      check('1280x720 on WebGPU with gpuWorkers 2: the frames rendered by two GPU render workers are the decoder\'s own, as ImageData and as VideoFrames made there; the workers stop with the session',
        JSON.stringify(sp.gpuApart.out) === JSON.stringify(sp.here.out) && framesOk(sp.gpuFrames) && sp.gpuFrames.made === 4
        && [sp.gpuApart, sp.gpuFrames].every((r) => r.info.gpuWorkers === 2 && r.gpuRenderWorkers === 2 && r.gpuRendered === 4 && r.info.symbolsWorker === true && r.backends.every((b) => b === 'webgpu'))
        && sp.gpuAfterClose === 0,
        `${errorsAt(sp.gpuApart)} | GPU render workers ${sp.gpuApart.gpuRenderWorkers}/${sp.gpuFrames.gpuRenderWorkers}, frames they rendered ${sp.gpuApart.gpuRendered}/${sp.gpuFrames.gpuRendered}, after close ${sp.gpuAfterClose}, VideoFrames made ${sp.gpuFrames.made}`);
      check('1280x720 on WebGPU with gpuWorkers 2: their devices lost among the chunks in flight, the decoder\'s own worker renders the rest on its device, its symbols worker still reading them, every frame in order with the encoder\'s indices and pixels',
        sp.gpuLoss.lost && sp.gpuLoss.out.map((o) => o.pts).join() === '0,1,2,3,4,5' && sp.gpuLoss.out.every((o, i) => o.tokens === sp.encTokens[i])
        && JSON.stringify(sp.gpuLoss.out) === JSON.stringify(sp.clean.out) && sp.gpuLoss.gpuRendered >= 1
        && sp.gpuLoss.backends.every((b) => b === 'webgpu') && sp.gpuLoss.info.gpuWorkers === 0 && sp.gpuLoss.info.symbolsWorker === true
        && sp.gpuLoss.gpuRenderWorkers === 0,
        `${sp.gpuLoss.out.map((o) => o.pts ?? o.error).join(',')} | ${sp.gpuLoss.backends.join(',')} | lost ${sp.gpuLoss.lost}, gpuWorkers ${sp.gpuLoss.info.gpuWorkers}, symbols worker ${sp.gpuLoss.info.symbolsWorker}, frames they rendered ${sp.gpuLoss.gpuRendered}, GPU render workers left ${sp.gpuLoss.gpuRenderWorkers}`);
      check('1280x720 on WebGPU, a symbols worker that fails: the decoder\'s own worker takes over, the same frames',
        sp.noHelper.info.symbolsWorker === false && sp.noHelper.symbolsWorkers === 0 && JSON.stringify(sp.noHelper.out) === JSON.stringify(sp.here.out)
        && sp.noHelper.backends.every((b) => b === 'webgpu'), `${errorsAt(sp.noHelper)} | ${sp.noHelper.backends.join(',')}`);
      check('1280x720 on WebGPU, a symbols worker that fails at a damaged chunk: the decoder\'s info says its own worker took over (symbolsWorker false), the frames from the next keyframe on are the encoder\'s',
        sp.noHelperDamaged.info.symbolsWorker === false && sp.noHelperDamaged.info.sliceWorkers === 0
        && sp.noHelperDamaged.out.slice(0, 3).every((o) => o.error) && sp.noHelperDamaged.out.slice(3).map((o) => o.pts).join() === '3,4,5'
        && sp.noHelperDamaged.out.slice(3).every((o, i) => o.tokens === sp.encTokens[i + 3]),
        `${sp.noHelperDamaged.out.map((o) => o.error ?? o.pts).join(',')} | symbolsWorker ${sp.noHelperDamaged.info.symbolsWorker}`);
      check('1280x720 on WebGPU with a symbols worker: a device loss among the chunks in flight loses no frame, the CPU takes over',
        sp.loss.lost && sp.loss.out.map((o) => o.pts).join() === '0,1,2,3,4,5' && sp.loss.out.every((o, i) => o.tokens === sp.encTokens[i])
        && sp.loss.backends[0] === 'webgpu' && sp.loss.backends.at(-1) === 'cpu' && sp.loss.info.symbolsWorker === false
        && sp.loss.symbolsWorkers === 0 && sp.errors.length === 0,
        `${sp.loss.out.map((o) => o.pts ?? o.error).join(',')} | ${sp.loss.backends.join(',')} | ${sp.errors.join('; ')}`);
    } finally {
      await splitTab.close();
    }
    // the default GPU render workers: 3 for frames of 1920x1080 on a page with 8 cores or more (a
    // tab that says it has 16: the page decides), none when asked for none; the same frames
    const coresTab = await context.newPage();
    try {
      await coresTab.addInitScript(() => Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 16, configurable: true }));
      await coresTab.goto(`http://127.0.0.1:${port}/www/`);
      await coresTab.waitForFunction(() => window.vqDemo !== undefined);
      const t1 = Date.now();
      const many = await coresTab.evaluate(async () => {
        const { VqVideoDecoder, workerMemory } = await import('../pkg/index.js');
        const [w, h] = [1920, 1080];
        const frame = (t) => {
          const d = new Uint8ClampedArray(w * h * 4);
          for (let i = 0; i < w * h; i++) {
            const x = i % w; const y = (i / w) | 0;
            d.set([(x + t * 8) & 255, (y * 2) & 255, (x ^ y) & 255, 255], i * 4);
          }
          return new ImageData(d, w, h);
        };
        const { chunks, header, errors } = await window.vqTestStream({ w, h, n: 2, keyInterval: 2 }, frame);
        const hash = (a) => { let x = 2166136261; for (let i = 0; i < a.length; i++) x = Math.imul(x ^ a[i], 16777619); return x >>> 0; };
        const decodeAll = async (config) => {
          const out = [];
          const before = (await workerMemory()).gpuFramesRendered;
          const dec = new VqVideoDecoder({ output: (f, meta) => out.push(f ? hash(f.data) : meta.error.kind), error: (e) => errors.push(`decoder: ${e.message}`) });
          dec.configure({ codec: 'vqc1.lite', description: header, backend: 'webgpu', ...config });
          for (const c of chunks) dec.decode(c);
          await dec.flush();
          const { gpuWorkers, symbolsWorker, backend } = dec.info;
          dec.close();
          return { out, gpuWorkers, symbolsWorker, backend, rendered: (await workerMemory()).gpuFramesRendered - before };
        };
        return { cores: navigator.hardwareConcurrency, byDefault: await decodeAll({}), none: await decodeAll({ gpuWorkers: 0 }), errors };
      });
      check('1920x1080 on WebGPU on a page with 16 cores: 3 GPU render workers by default render its frames, the same as none (gpuWorkers 0)',
        many.cores === 16 && many.byDefault.gpuWorkers === 3 && many.byDefault.symbolsWorker === true && many.byDefault.rendered === 2
        && many.none.gpuWorkers === 0 && many.none.rendered === 0 && many.byDefault.out.length === 2
        && JSON.stringify(many.byDefault.out) === JSON.stringify(many.none.out) && many.byDefault.backend === 'webgpu' && many.errors.length === 0,
        `default: gpuWorkers ${many.byDefault.gpuWorkers}, ${many.byDefault.rendered} rendered by them; gpuWorkers 0: ${many.none.rendered}; frames ${many.byDefault.out.join(',')} / ${many.none.out.join(',')}; ${many.errors.join('; ')} (${Date.now() - t1} ms)`);
    } finally {
      await coresTab.close();
    }
    // an adapter whose device does not initialise: the WebGPU module has no CPU backend, so
    // 'auto' must go on with the CPU module and keep the reason (a fresh tab: the patch stays there)
    const tab = await context.newPage();
    try {
      await tab.addInitScript(() => {
        GPUAdapter.prototype.requestDevice = () => Promise.reject(new Error('test: requestDevice refused'));
        // a hardware adapter, as far as the page can tell (SwiftShader is a fallback, which auto skips)
        for (const proto of [GPUAdapter.prototype, globalThis.GPUAdapterInfo?.prototype]) {
          if (proto) Object.defineProperty(proto, 'isFallbackAdapter', { get: () => false, configurable: true });
        }
      });
      await tab.goto(`http://127.0.0.1:${port}/www/`);
      await tab.waitForFunction(() => window.vqDemo !== undefined);
      const noDevice = await tab.evaluate(async () => {
        const r = await window.vqDemo.runOnce({ backend: 'auto', model: 'lite', time: 1.0, width: 64, height: 48 });
        const loader = await import('../pkg/loader.js');
        return { backend: r.backend, reason: r.reason, badge: document.getElementById('badge').textContent,
          modules: loader.loadedModules().map(([n]) => n) };
      });
      check('auto with an adapter that does not initialise: CPU module, with the reason',
        noDevice.backend === 'cpu' && noDevice.badge === 'cpu' && /CPU fallback: WebGPU initialisation failed.*requestDevice refused/.test(noDevice.reason)
        && noDevice.modules.join() === 'gpu,cpu', `${noDevice.backend}, modules ${noDevice.modules}, ${noDevice.reason}`);
    } finally {
      await tab.close();
    }
  } else {
    console.log('  (no WebGPU adapter with these flags: WebGPU checks skipped)');
  }

  // ms per frame at 640×360 (printed, not asserted: speed targets live in benchmarks)
  const backends = benchBackends ?? ['cpu', ...(adapter ? ['webgpu'] : [])];
  const sizes = bench ? backends.flatMap((b) => [[b, 'base'], [b, 'lite']]) : [['cpu', 'base']];
  for (const [backend, model] of sizes) {
    const r = await run({ backend, model, time: 2.0, width: 640, height: 360, repeat: bench ? 3 : 2 });
    const best = Math.min(...r.times.slice(1));
    console.log(`  bench ${backend} ${model} 640x360: ${r.times.map((t) => t.toFixed(0)).join(', ')} ms (warm ${best.toFixed(0)} ms, ${(640 * 360 / best / 1000).toFixed(2)} Mpx/s), PSNR ${r.psnrRgb.toFixed(2)} dB`);
  }
  // the package's encoder + decoder in the worker (printed, not asserted)
  for (const [backend, model] of bench ? backends.flatMap((b) => [[b, 'lite'], [b, 'base']]) : [['cpu', 'lite']]) {
    const s = await page.evaluate((o) => window.vqDemo.benchStream(o), { backend, model, frames: bench ? 60 : 20 });
    console.log(`  bench stream ${s.backend} ${s.model} 640x360 encode+decode in the worker: ${s.fps.toFixed(1)} fps, ${s.mpxs.toFixed(2)} Mpx/s (${s.decoded} frames decoded)`);
  }
  await page.screenshot({ path: join(outDir, 'demo.png'), fullPage: true });
  // Without --enable-unsafe-webgpu headless Chromium offers no adapter: 'auto' must fall back
  // to the CPU and say why.
  const { context: plain, close: closePlain } = await launchChromium({ webgpu: false });
  try {
    const p2 = plain.pages()[0] ?? await plain.newPage();
    await p2.goto(`http://127.0.0.1:${port}/www/`);
    await p2.waitForFunction(() => window.vqDemo !== undefined);
    const auto = await p2.evaluate(async () => {
      const r = await window.vqDemo.runOnce({ backend: 'auto', model: 'lite', time: 1.0, width: 64, height: 48 });
      return { backend: r.backend, reason: r.reason, width: r.width, badge: document.getElementById('badge').textContent };
    });
    const plainEntries = await p2.evaluate(() => performance.getEntriesByType('resource')
      .map((e) => ({ path: new URL(e.name).pathname, wire: e.encodedBodySize })).filter((e) => /\.(wasm|vqw)$/.test(e.path)));
    const wasmFetched = plainEntries.map((e) => e.path).filter((p) => p.endsWith('.wasm'));
    check('without an adapter the demo page fetches only the format module and the CPU-only module',
      wasmFetched.sort().join() === '/pkg/cpu/vqcodec_bg.wasm,/pkg/format/vqc_bg.wasm',
      `${plainEntries.map((e) => e.path).join(', ')}: ${(plainEntries.reduce((n, e) => n + e.wire, 0) / 1e6).toFixed(2)} MB over the wire`);
    check('auto falls back to the CPU without an adapter, with a reason', auto.backend === 'cpu' && /CPU fallback: .*(requestAdapter|navigator\.gpu)/.test(auto.reason) && auto.badge === 'cpu', auto.reason);
    // the package's worker: without an adapter it loads only the small CPU-only module
    const pkgAuto = await p2.evaluate(async () => {
      const { VqVideoEncoder, workerMemory } = await import('../pkg/index.js');
      const chunks = [];
      const enc = new VqVideoEncoder({ output: (c) => chunks.push(c), error: () => {} });
      enc.configure({ width: 64, height: 48 });
      enc.encode(new ImageData(64, 48), { keyFrame: true });
      await enc.flush();
      return { info: enc.info, chunks: chunks.length, mem: await workerMemory() };
    });
    check('package on auto without an adapter: CPU-only module, lite model, with the reason',
      pkgAuto.chunks === 1 && pkgAuto.info.backend === 'cpu' && pkgAuto.info.model === 'lite'
      && /requestAdapter/.test(pkgAuto.info.reason) && pkgAuto.mem.modules.join() === 'cpu',
      `${pkgAuto.info.model}, modules ${pkgAuto.mem.modules}, ${pkgAuto.info.reason}`);
    // weights that cannot be fetched (a wrong weightsUrl): the error callback says which and
    // where, flush() rejects, and nothing is thrown uncaught
    const noWeights = await p2.evaluate(async () => {
      const { VqVideoEncoder, init } = await import('../pkg/index.js');
      await init({ weightsUrl: '/no-such-folder/' });
      const errors = [];
      const enc = new VqVideoEncoder({ output: () => {}, error: (e) => errors.push({ kind: e.kind, message: e.message }) });
      enc.configure({ width: 64, height: 48, model: 'base' });
      const flushed = await enc.flush().then(() => ({ kind: 'resolved' }), (e) => ({ kind: e.kind }));
      return { errors, flushed, state: enc.state, url: new URL('/no-such-folder/base.vqw', location.href).href };
    });
    check('weights that cannot be fetched: the error callback gets kind Network naming the URL, flush() rejects',
      noWeights.errors.length === 1 && noWeights.errors[0].kind === 'Network' && noWeights.errors[0].message.includes(noWeights.url)
      && noWeights.flushed.kind === 'Network', `${JSON.stringify(noWeights.errors)} | flush ${noWeights.flushed.kind} | ${noWeights.state}`);
  } finally {
    await closePlain();
  }
} catch (e) {
  failed++;
  console.log(`  FAIL ${e.stack ?? e}`);
} finally {
  const errors = logs.filter((l) => l.startsWith('[error]') || l.startsWith('[pageerror]'));
  if (errors.length) console.log(`browser console errors:\n${errors.join('\n')}`);
  await closeChromium();
  server.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
