#!/usr/bin/env node
// The package's CPU module in Node (V8 without a browser or a worker): lite encodes and decodes
// the demo clip's frames, for comparing module builds on one machine (docs/results/cpu-ab.md):
//   node benches/cpu-module.mjs [PKG_DIR…] [--processes=6] [--rounds=3] [--size=640x360] [--frames=30]
// PKG_DIR is a built package (default pkg); each process loads one module, codes the frames
// `rounds` times (the first round warms up and is not counted) and prints ms per frame; the
// processes alternate between the packages so that the machine's drift hits each alike. Prints
// the median and the least of the counted rounds per package.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const [w, h] = (arg('size') ?? '640x360').split('x').map(Number);
const frames = Number(arg('frames') ?? 30);

if (process.env.VQ_CPU_MODULE_CHILD) {
  // one process: one package, several rounds
  const dir = process.env.VQ_CPU_MODULE_CHILD;
  const m = await import(pathToFileURL(join(dir, 'cpu', 'vqcodec.js')).href);
  m.initSync({ module: readFileSync(join(dir, 'cpu', 'vqcodec_bg.wasm')) });
  m.start?.();
  const all = readFileSync(process.env.VQ_CPU_MODULE_RGBA);
  const size = w * h * 4;
  const rgba = Array.from({ length: frames }, (_, i) => all.subarray(i * size, (i + 1) * size));
  const codec = await m.VqCodec.create('cpu', 'lite', readFileSync(join(dir, 'weights', 'lite.vqw')));
  const rounds = Number(arg('rounds') ?? 3);
  for (let r = 0; r < rounds; r++) {
    const enc = await codec.encoder({ width: w, height: h, quality: 80 });
    const packets = [];
    let t = performance.now();
    for (let i = 0; i < frames; i++) {
      const out = await enc.encode(rgba[i], i === 0);
      packets.push(...(Array.isArray(out) ? out : [out]));
    }
    const encodeMs = (performance.now() - t) / frames;
    const dec = codec.decoder(enc.header);
    t = performance.now();
    for (const p of packets) await dec.decode(p.data);
    const decodeMs = (performance.now() - t) / frames;
    const bytes = packets.reduce((a, p) => a + p.data.length, 0);
    if (r > 0) console.log(JSON.stringify({ encodeMs, decodeMs, bytes }));
    enc.free();
    dec.free();
  }
  process.exit(0);
}

const pkgs = process.argv.slice(2).filter((a) => !a.startsWith('--')).map((p) => resolve(p));
if (!pkgs.length) pkgs.push(resolve('pkg'));
const outDir = join(process.cwd(), 'out', 'bench');
mkdirSync(outDir, { recursive: true });
const raw = join(outDir, `sample-${w}x${h}-${frames}.rgba`);
if (!existsSync(raw)) {
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', 'www/sample.webm', '-vf', `scale=${w}:${h}`,
    '-frames:v', String(frames), '-pix_fmt', 'rgba', '-f', 'rawvideo', raw]);
}
const runs = new Map(pkgs.map((p) => [p, []]));
for (let i = 0; i < Number(arg('processes') ?? 6); i++) {
  for (const p of pkgs) {
    const out = execFileSync(process.execPath, [process.argv[1], ...process.argv.slice(2).filter((a) => a.startsWith('--'))], {
      env: { ...process.env, VQ_CPU_MODULE_CHILD: p, VQ_CPU_MODULE_RGBA: raw }, encoding: 'utf8',
    });
    for (const line of out.trim().split('\n')) runs.get(p).push(JSON.parse(line));
  }
}
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
console.log(`| package | rounds | encode ms/frame, median (least) | decode ms/frame, median (least) | bytes |`);
console.log('|---|---|---|---|---|');
for (const [p, r] of runs) {
  const e = r.map((x) => x.encodeMs);
  const d = r.map((x) => x.decodeMs);
  console.log(`| ${p} | ${r.length} | ${median(e).toFixed(1)} (${Math.min(...e).toFixed(1)}) | ${median(d).toFixed(1)} (${Math.min(...d).toFixed(1)}) | ${r[0].bytes} |`);
}
