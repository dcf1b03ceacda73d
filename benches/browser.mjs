#!/usr/bin/env node
// Browser speed benchmark (issue 7): in headless Debian Chromium, the npm package's encoder and
// decoder (in its worker, wasm CPU and — where the flags give an adapter — WebGPU) at
// 320×180, 640×360 and 1280×720 for both models, and ffmpeg.wasm's x264 (@ffmpeg/core, one
// thread, -preset medium) on the same frames; then bpp at equal PSNR-Y against x264, with
// PSNR computed here from the decoded streams (vqcodec: the native CLI; x264: native ffmpeg).
// Also trainCodebook() on 64 frames at 640×360 (issue 6's target: ≤ 10 s on WebGPU, ≤ 60 s on
// the CPU). `--only=codebook` runs just that.
//   node benches/browser.mjs [--frames=N] [--webgpu] [--only=codebook] [--models=lite,base]
//                            [--sizes=640x360,…] [--no-x264] [--source=CLIP] [--cpu-workers=0,2]
//   (needs pkg/ and the CLI; CLIP: any file ffmpeg reads, scaled to each size; default
//   www/sample.webm; --cpu-workers: the decoder's render workers to measure, default the package's)
// Prints a table and writes out/bench/browser.json.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { serve } from '../scripts/serve.mjs';
import { launchChromium } from '../scripts/chromium.mjs';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const webgpu = process.argv.includes('--webgpu');
const cli = process.env.VQCODEC ?? join(process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache/vqcodec/target'), 'release/vqcodec');
const outDir = join(process.cwd(), 'out', 'bench');
mkdirSync(outDir, { recursive: true });
const sizes = [[320, 180, 30], [640, 360, 30], [1280, 720, 8]]
  .filter(([w, h]) => !arg('sizes') || arg('sizes').split(',').includes(`${w}x${h}`))
  .map(([w, h, n]) => [w, h, Number(arg('frames') ?? n)]);
const models = (arg('models') ?? 'lite,base').split(',');
// the decoder's cpuWorkers (render workers on the CPU) to measure; default: the package's default
const workerCounts = arg('cpu-workers')?.split(',').map(Number) ?? [undefined];

/** The bundled clip at w×h, n frames, 4:2:0 y4m (native ffmpeg). */
const source = arg('source') ?? 'www/sample.webm';
function clip(w, h, n) {
  const tag = source === 'www/sample.webm' ? 'sample' : basename(source).replace(/\.[^.]*$/, '');
  const path = join(outDir, `${tag}-${w}x${h}-${n}.y4m`);
  if (!existsSync(path)) {
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', source, '-vf', `scale=${w}:${h}`,
      '-frames:v', String(n), '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', path]);
  }
  return path;
}

/** Y planes of a 4:2:0 y4m file. */
function lumaPlanes(bytes) {
  const nl = bytes.indexOf(10);
  const header = bytes.subarray(0, nl).toString();
  const w = Number(/ W(\d+)/.exec(header)[1]); const h = Number(/ H(\d+)/.exec(header)[1]);
  const cs = / C(\S+)/.exec(header)?.[1] ?? '420';
  const chroma = cs.startsWith('444') ? w * h : cs.startsWith('422') ? ((w + 1) >> 1) * h : cs === 'mono' ? 0 : ((w + 1) >> 1) * ((h + 1) >> 1);
  const planes = [];
  let p = nl + 1;
  while (p < bytes.length) {
    p = bytes.indexOf(10, p) + 1;
    planes.push(bytes.subarray(p, p + w * h));
    p += w * h + 2 * chroma;
  }
  return planes;
}

/** Mean over frames of PSNR-Y between two y4m files. */
function psnrY(refPath, decodedY4m) {
  const a = lumaPlanes(readFileSync(refPath)); const b = lumaPlanes(decodedY4m);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    let se = 0;
    for (let j = 0; j < a[i].length; j++) { const d = a[i][j] - b[i][j]; se += d * d; }
    sum += Math.min(100, 10 * Math.log10((255 * 255) / Math.max(se / a[i].length, 1e-10)));
  }
  return sum / a.length;
}

const decodeVqc = (bytes) => {
  const f = join(outDir, 'tmp.vqc');
  writeFileSync(f, Buffer.from(bytes));
  return execFileSync(cli, ['decode', f, '-o', '-', '--backend', 'cpu', '-q'], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
};
const decodeH264 = (bytes) => {
  const f = join(outDir, 'tmp.h264');
  writeFileSync(f, Buffer.from(bytes));
  return execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', f, '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', '-'], { maxBuffer: 1 << 30 });
};

const server = await serve(0);
const port = server.address().port;
const { context, close } = await launchChromium({ webgpu });
const results = { machine: execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; nproc"]).toString().trim().replace(/\n/, ', ') + ' threads', chromium: context.browser()?.version() ?? '', vq: [], x264: [] };
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => console.log(`[pageerror] ${e.message}`));
  await page.goto(`http://127.0.0.1:${port}/benches/browser.html`);
  await page.waitForFunction(() => window.bench !== undefined);
  const mpx = (w, h, n, ms) => (w * h * n) / ms / 1000;
  const backends = ['cpu', ...(webgpu ? ['webgpu'] : [])];
  console.log(`machine: ${results.machine}; Chromium ${results.chromium}`);
  results.codebook = [];
  for (const backend of backends) {
    for (const model of ['lite', 'base']) {
      // SwiftShader runs the base encoder at seconds per frame: fewer frames there
      const n = backend === 'webgpu' ? 16 : 64;
      const path = clip(640, 360, n);
      const r = await page.evaluate((o) => window.bench.train(o), { url: `/${path.slice(process.cwd().length + 1)}`, model, backend });
      results.codebook.push(r);
      console.log(`trainCodebook ${r.backend} ${r.model} ${r.width}×${r.height}, ${r.frames} frames: ${(r.totalMs / 1000).toFixed(1)} s `
        + `(encoder network ${(r.framesMs / 1000).toFixed(1)} s, k-means ${r.steps} steps ${(r.kmeansMs / 1000).toFixed(1)} s); `
        + `latent error ${r.mseBefore.toExponential(3)} → ${r.mseAfter.toExponential(3)} (${((r.mseAfter / r.mseBefore - 1) * 100).toFixed(1)}%); ${r.bytes} bytes`);
    }
  }
  if (arg('only') === 'codebook') {
    writeFileSync(join(outDir, 'browser.json'), JSON.stringify(results, null, 1));
    process.exit(0);
  }
  console.log('| backend | model | size | frames | render workers | encode fps | encode Mpx/s | decode fps | decode Mpx/s | bpp | PSNR-Y |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const backend of backends) {
    for (const model of models) {
      for (const [w, h, n] of sizes) for (const cpuWorkers of workerCounts) {
        // SwiftShader (the only adapter headless gives here) runs base at seconds per frame
        const frames = backend === 'webgpu' ? Math.min(n, 3) : n;
        const path = clip(w, h, frames);
        const url = `/${path.slice(process.cwd().length + 1)}`;
        const r = await page.evaluate((o) => window.bench.vq(o), { url, model, backend, cpuWorkers });
        const bpp = (r.bytes.length * 8) / (w * h * r.frames);
        // NaN when this machine's CLI cannot decode the stream (a pkg/ built from other weights)
        let psnr = NaN;
        try { psnr = psnrY(path, decodeVqc(r.bytes)); } catch { /* reported as NaN */ }
        const row = { backend: r.backend, model: r.model, w, h, frames: r.frames, renderWorkers: r.renderWorkers, memory: r.memory, decoded: r.decoded, encodeMs: r.encodeMs, decodeMs: r.decodeMs, bpp, psnr };
        results.vq.push(row);
        console.log(`| ${r.backend} | ${r.model} | ${w}×${h} | ${r.frames} | ${r.renderWorkers} | ${(r.frames * 1000 / r.encodeMs).toFixed(1)} | ${mpx(w, h, r.frames, r.encodeMs).toFixed(2)} | ${(r.decoded * 1000 / r.decodeMs).toFixed(1)} | ${mpx(w, h, r.decoded, r.decodeMs).toFixed(2)} | ${bpp.toFixed(4)} | ${psnr.toFixed(2)} |`);
      }
    }
  }
  if (process.argv.includes('--no-x264')) {
    writeFileSync(join(outDir, 'browser.json'), JSON.stringify(results, null, 1));
    process.exit(0);
  }
  // ffmpeg.wasm x264 at 640×360 on the same frames
  const [w, h, n] = [640, 360, Number(arg('frames') ?? 30)];
  const path = clip(w, h, n);
  const url = `/${path.slice(process.cwd().length + 1)}`;
  const xs = await page.evaluate((o) => window.bench.x264(o), { url, crfs: [20, 26, 32, 38, 44] });
  console.log(`\nffmpeg.wasm (@ffmpeg/core 0.12.10, x264 -preset medium, one thread) ${w}×${h}, ${n} frames:`);
  console.log('| crf | encode fps | encode Mpx/s | decode fps | decode Mpx/s | bpp | PSNR-Y |');
  console.log('|---|---|---|---|---|---|---|');
  for (const x of xs) {
    const bpp = (x.bytes.length * 8) / (w * h * n);
    const psnr = psnrY(path, decodeH264(x.bytes));
    results.x264.push({ crf: x.crf, w, h, frames: n, encodeMs: x.encodeMs, decodeMs: x.decodeMs, bpp, psnr });
    console.log(`| ${x.crf} | ${(n * 1000 / x.encodeMs).toFixed(1)} | ${mpx(w, h, n, x.encodeMs).toFixed(2)} | ${(n * 1000 / x.decodeMs).toFixed(1)} | ${mpx(w, h, n, x.decodeMs).toFixed(2)} | ${bpp.toFixed(4)} | ${psnr.toFixed(2)} |`);
  }
  // x264's bpp at each vqcodec point's PSNR (log-linear between the bracketing CRFs)
  const curve = [...results.x264].sort((a, b) => a.psnr - b.psnr);
  const x264At = (p) => {
    for (let i = 0; i + 1 < curve.length; i++) {
      const [a, b] = [curve[i], curve[i + 1]];
      if (p >= a.psnr && p <= b.psnr) {
        const t = (p - a.psnr) / (b.psnr - a.psnr);
        return Math.exp(Math.log(a.bpp) + t * (Math.log(b.bpp) - Math.log(a.bpp)));
      }
    }
    return null;
  };
  console.log(`\nequal PSNR-Y at ${w}×${h} (wasm CPU, one thread each):`);
  for (const r of results.vq.filter((r) => r.w === w && r.backend === 'cpu')) {
    const xb = x264At(r.psnr);
    const fast = results.x264.reduce((s, x) => s + x.encodeMs, 0) / results.x264.length;
    r.x264BppAtEqualPsnr = xb;
    console.log(`  vqcodec ${r.model}: ${r.bpp.toFixed(4)} bpp at ${r.psnr.toFixed(2)} dB; x264 ${xb ? `${xb.toFixed(4)} bpp (vqcodec ${(r.bpp / xb).toFixed(2)}× its size)` : 'outside its measured range'}; encode ${mpx(w, h, r.frames, r.encodeMs).toFixed(2)} vs x264 ${mpx(w, h, n, fast).toFixed(2)} Mpx/s (mean over CRFs)`);
  }
  writeFileSync(join(outDir, 'browser.json'), JSON.stringify(results, null, 1));
  console.log(`wrote ${join(outDir, 'browser.json')}`);
} finally {
  await close();
  server.close();
}
