#!/usr/bin/env node
// vqcodec against what the user already has (issue 17): in headless Debian Chromium, the
// browser's own VideoEncoder (WebCodecs: each of H.264, VP8, VP9, AV1 that isConfigSupported
// accepts) and MediaRecorder on the validation clips, at several rates; each stream decoded back
// in the same page (VideoDecoder) and scored there with the project's PSNR-Y and MS-SSIM-Y
// (benches/quality.mjs, a port of src/metrics.rs; `--verify-metrics` checks it against the
// native eval's x264 rows). Writes the rows in `vqcodec-lab eval`'s CSV format and prints
// BD-rates of vqcodec-lite (docs/results/encoder-metric/final.csv) against each browser codec
// (scripts/bd-compare.py).
//   node benches/webcodecs.mjs [--clips=carphone,coinpen,balle-jbart] [--frames=60]
//        [--codecs=vp9,av1,h264,vp8] [--quantizer] [--no-recorder] [--csv=PATH] [--vq=CSV:CODEC] [--verify-metrics]
// Needs ffmpeg (to make 4:2:0 copies of the 4:4:4 clips, as the eval feeds its ffmpeg codecs,
// and to decode the MediaRecorder's WebM) and python3 with numpy + scipy (BD-rates).
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { serve } from '../scripts/serve.mjs';
import { launchChromium } from '../scripts/chromium.mjs';
import { psnrPlane, msSsim, msSsimDb, y4mLuma } from './quality.mjs';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const flag = (name) => process.argv.includes(`--${name}`);
const root = process.cwd();
const outDir = join(root, 'out', 'bench', 'webcodecs');
mkdirSync(outDir, { recursive: true });
const clips = (arg('clips') ?? 'carphone,coinpen,balle-jbart').split(',');
const nFrames = Number(arg('frames') ?? 60);
const codecs = (arg('codecs') ?? 'vp9,av1,h264,vp8').split(',');
const csvPath = arg('csv') ?? join(outDir, 'results.csv');
const [vqCsv, vqCodec] = (arg('vq') ?? 'docs/results/encoder-metric/final.csv:vqcodec-lite').split(':');
const KEYINT = 60;
const CODEC_STRINGS = { h264: 'avc1.42001f', vp8: 'vp8', vp9: 'vp09.00.31.08', av1: 'av01.0.04M.08' };
// bitrate targets spanning vqcodec's own rates on the clip (per clip, below); with --quantizer,
// VP9 and AV1 at these per-frame quantizers (0–63) instead
const QUANTIZERS = [63, 58, 52, 46, 40, 34, 28];

const sh = (cmd, args) => execFileSync(cmd, args, { maxBuffer: 1 << 30 });

/** The first n frames of data/y4m/CLIP.y4m as 4:2:0 (ffmpeg's conversion, as the eval's). */
function clip420(name, n) {
  const path = join(outDir, `${name}-420-${n}.y4m`);
  if (!existsSync(path)) {
    sh('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', `data/y4m/${name}.y4m`, '-frames:v', String(n),
      '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', path]);
  }
  return path;
}

/** Rows of an eval CSV. */
function readCsv(path) {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const keys = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [keys[i], v])));
}

/** Mean PSNR-Y and MS-SSIM of two y4m files' luma (first n frames). */
function scoreFiles(refPath, testBytes, n) {
  const a = y4mLuma(readFileSync(refPath), n);
  const b = y4mLuma(testBytes, n);
  const m = Math.min(a.planes.length, b.planes.length);
  let p = 0; let s = 0;
  for (let i = 0; i < m; i++) { p += psnrPlane(a.planes[i], b.planes[i]); s += msSsim(a.planes[i], b.planes[i], a.width, a.height); }
  return { psnrY: p / m, msssim: s / m, frames: b.planes.length };
}

if (flag('verify-metrics')) {
  // the port against the native eval: x264 as the eval runs it, scored here, vs its CSV row
  const ref = readCsv('docs/results/v3-eval/results.csv').find((r) => r.clip === 'carphone' && r.codec === 'x264' && r.setting === 'crf39');
  const file = join(outDir, 'verify.h264');
  sh('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', 'data/y4m/carphone.y4m', '-frames:v', ref.frames, '-pix_fmt', 'yuv420p',
    '-c:v', 'libx264', '-preset', 'medium', '-crf', '39', '-f', 'h264', file]);
  const dec = sh('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', file, '-pix_fmt', 'yuv444p', '-f', 'yuv4mpegpipe', '-']);
  const q = scoreFiles('data/y4m/carphone.y4m', dec, Number(ref.frames));
  console.log(`metric port vs native eval (carphone x264 crf39, ${ref.frames} frames): bytes ${readFileSync(file).length} vs ${ref.bytes}; `
    + `PSNR-Y ${q.psnrY.toFixed(4)} vs ${ref.psnr_y}; MS-SSIM ${q.msssim.toFixed(6)} vs ${ref.msssim_y}`);
  process.exit(0);
}

const vqRows = readCsv(vqCsv).filter((r) => r.codec === vqCodec);
const rows = [];
const recorderRows = [];
const server = await serve(0);
const port = server.address().port;
const { context, close } = await launchChromium({ webgpu: false });
const machine = `${sh('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim()}, ${sh('nproc', []).toString().trim()} threads`;
const chromiumVersion = context.browser()?.version() ?? sh('/usr/bin/chromium', ['--version']).toString().trim();
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => console.log(`[pageerror] ${e.message}`));
  await page.goto(`http://127.0.0.1:${port}/benches/webcodecs.html`);
  await page.waitForFunction(() => window.bench !== undefined);
  console.log(`machine: ${machine}; Chromium ${chromiumVersion}; ${nFrames} frames per clip, a keyframe every ${KEYINT}`);
  const support = await page.evaluate(() => window.bench.probe({ width: 720, height: 576, fps: 25 }));
  console.log('isConfigSupported (720×576, 25 fps; software):');
  for (const [name, r] of Object.entries(support)) console.log(`  ${name}: ${JSON.stringify(r)}`);

  for (const name of clips) {
    const path = clip420(name, nFrames);
    const url = `/${relative(root, path)}`;
    const vq = vqRows.filter((r) => r.clip === name);
    if (vq.length && Number(vq[0].frames) !== nFrames) console.log(`  ! ${vqCodec} rows for ${name} have ${vq[0].frames} frames, this run ${nFrames}`);
    const { width, height, fps } = y4mLuma(readFileSync(path), 1);
    const kbps = (bytes) => (bytes * 8 * fps) / nFrames / 1000;
    const vqK = vq.map((r) => kbps(Number(r.bytes)));
    const [lo, hi] = vq.length ? [Math.min(...vqK) * 0.6, Math.max(...vqK) * 1.2] : [20, 1000];
    const ladder = Array.from({ length: 8 }, (_, i) => Math.round(lo * (hi / lo) ** (i / 7)));
    console.log(`\n${name} ${width}×${height} @ ${fps.toFixed(2)} fps; bitrate ladder ${ladder.join(', ')} kbit/s`);
    console.log('| codec | setting | bytes | bpp | PSNR-Y | MS-SSIM-Y | MS-SSIM dB | encode fps | decode fps | keyframes |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const c of codecs) {
      const codec = CODEC_STRINGS[c];
      const s = support[c];
      // bitrate mode for all: Chromium's quantizer mode (VP9, AV1 only) stops far above vqcodec's
      // rates (q63, its coarsest, is 42 dB at 0.41 bpp on carphone); --quantizer runs it anyway
      const points = flag('quantizer') && s?.quantizer === true ? QUANTIZERS.map((q) => ({ mode: 'quantizer', quantizer: q, setting: `q${q}` }))
        : s?.variable === true ? ladder.map((k) => ({ mode: 'variable', bitrate: k * 1000, setting: `${k}kbps` })) : [];
      if (!points.length) { console.log(`| ${c} | not supported by this Chromium's VideoEncoder | | | | | | | | |`); continue; }
      for (const pt of points) {
        let r;
        try {
          r = await page.evaluate((o) => window.bench.encode(o), { url, frames: nFrames, codec, keyInterval: KEYINT, ...pt });
        } catch (e) {
          console.log(`| ${c} | ${pt.setting} | failed: ${String(e.message ?? e).split('\n')[0]} | | | | | | | |`);
          continue;
        }
        if (r.decoded !== r.frames) console.log(`  ! ${c} ${pt.setting}: ${r.decoded} of ${r.frames} frames decoded`);
        const row = { clip: name, codec: `webcodecs-${c}`, setting: pt.setting, frames: r.frames, width, height, bytes: r.bytes,
          bpp: (r.bytes * 8) / (width * height * r.frames), psnr_y: r.psnrY, psnr_rgb: NaN, msssim_y: r.msssim,
          msssim_y_db: msSsimDb(r.msssim), encode_fps: (r.frames * 1000) / r.encodeMs, decode_fps: (r.decoded * 1000) / r.decodeMs };
        rows.push(row);
        console.log(`| ${c} | ${pt.setting} | ${r.bytes} | ${row.bpp.toFixed(5)} | ${r.psnrY.toFixed(2)} | ${r.msssim.toFixed(4)} | ${row.msssim_y_db.toFixed(2)} | `
          + `${row.encode_fps.toFixed(1)} | ${row.decode_fps.toFixed(1)} | ${r.keyframes} |`);
      }
    }
    if (!flag('no-recorder')) {
      // MediaRecorder (VP9 in WebM, the browser's default recorder codec here): real time, so no
      // encode fps; the file's bytes include the WebM container
      for (const k of ladder.filter((_, i) => i % 2 === 0)) {
        let r;
        try {
          r = await page.evaluate((o) => window.bench.record(o), { url, frames: nFrames, bitrate: k * 1000, keyInterval: KEYINT });
        } catch (e) {
          console.log(`| mediarecorder | ${k}kbps | failed: ${String(e.message ?? e).split('\n')[0]} | | | | | | | |`);
          continue;
        }
        const webm = join(outDir, `${name}-mediarecorder-${k}kbps.webm`);
        writeFileSync(webm, Buffer.from(r.data));
        let q = null;
        let decodedFrames = 0;
        try {
          const y4m = sh('ffmpeg', ['-nostdin', '-loglevel', 'error', '-i', webm, '-fps_mode', 'passthrough', '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', '-']);
          decodedFrames = y4mLuma(y4m).planes.length;
          // frame i of the file is source frame i only when none was dropped or repeated
          if (decodedFrames === nFrames) q = scoreFiles(path, y4m, nFrames);
        } catch (e) {
          console.log(`  ! ffmpeg cannot decode ${webm}: ${e.message}`);
        }
        const row = { clip: name, codec: 'mediarecorder-vp9', setting: `${k}kbps`, frames: nFrames, width, height, bytes: r.bytes,
          bpp: (r.bytes * 8) / (width * height * nFrames), psnr_y: q?.psnrY ?? NaN, psnr_rgb: NaN, msssim_y: q?.msssim ?? NaN,
          msssim_y_db: q ? msSsimDb(q.msssim) : NaN, encode_fps: NaN, decode_fps: NaN };
        recorderRows.push({ ...row, decodedFrames, mimeType: r.mimeType });
        if (q) rows.push(row);
        console.log(`| mediarecorder (${r.mimeType}) | ${k}kbps | ${r.bytes} (WebM) | ${row.bpp.toFixed(5)} | ${q ? q.psnrY.toFixed(2) : '–'} | `
          + `${q ? q.msssim.toFixed(4) : '–'} | ${q ? row.msssim_y_db.toFixed(2) : '–'} | real time | – | ${decodedFrames} frames in the file |`);
      }
    }
  }
} finally {
  await close();
  server.close();
}

const header = 'clip,codec,setting,frames,width,height,bytes,bpp,psnr_y,psnr_rgb,msssim_y,msssim_y_db,encode_fps,decode_fps';
const fmt = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : 'nan');
writeFileSync(csvPath, `${header}\n${rows.map((r) => [r.clip, r.codec, r.setting, r.frames, r.width, r.height, r.bytes, fmt(r.bpp, 6),
  fmt(r.psnr_y, 4), fmt(r.psnr_rgb, 4), fmt(r.msssim_y, 6), fmt(r.msssim_y_db, 4), fmt(r.encode_fps, 2), fmt(r.decode_fps, 2)].join(',')).join('\n')}\n`);
console.log(`\nwrote ${relative(root, csvPath)}`);

console.log(`\nBD-rate of ${vqCodec} (${vqCsv}) against each browser codec (negative: vqcodec needs fewer bits):`);
for (const c of [...new Set(rows.map((r) => r.codec))]) {
  try {
    console.log(sh('python3', ['scripts/bd-compare.py', csvPath, c, vqCsv, vqCodec, ...clips]).toString().trim());
  } catch (e) {
    console.log(`bd-compare failed for ${c}: ${e.message}`);
  }
}
