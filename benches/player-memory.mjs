#!/usr/bin/env node
// What `VqcPlayer` holds while it plays a file, in headless Chromium on this machine (the CPU
// module): the page's renderer process's peak resident memory (VmHWM, which includes the
// decoder's worker and its wasm memory) after the player loaded the file and played it to the
// end, how long until its first frame showed (load() resolved) and how many frames it showed;
// for the package's player and, with --before, another build of the package's index.js (a file
// under the repository, e.g. an older one copied into pkg/: `git show REV:js/index.js >
// pkg/index-before.js`). Each player in a browser of its own.
//   node benches/player-memory.mjs FILE.vqc [--before=pkg/index-before.js] [--runs=2]
import { readFileSync } from 'node:fs';
import { launchChromium } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const file = process.argv.slice(2).find((a) => !a.startsWith('--'));
if (!file) throw new Error('usage: node benches/player-memory.mjs FILE.vqc [--before=pkg/index-before.js] [--runs=2]');
const bytes = readFileSync(file);
const runs = Number(arg('runs') ?? 2);
const players = [['pkg/index.js', 'this package'], ...(arg('before') ? [[arg('before'), arg('before')]] : [])];

const server = await serve(0, (req, res) => {
  if (req.url === '/player-memory.vqc') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    res.end(bytes);
    return true;
  }
  if (!req.url.startsWith('/player-memory')) return false;
  res.writeHead(200, { 'Content-Type': 'text/html', 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
  res.end('<!doctype html><title>player memory</title><canvas></canvas>');
  return true;
});
const { port } = server.address();

/** The largest peak resident set (VmHWM, kB) among the browser's renderer processes. */
async function rendererPeakKb(context) {
  const cdp = await context.browser()?.newBrowserCDPSession?.() ?? null;
  let pids = [];
  if (cdp) {
    const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
    pids = processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
  }
  let peak = 0;
  for (const pid of pids) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch { /* gone */ }
  }
  return peak;
}

console.log(`${file}: ${bytes.length} bytes; each player in a fresh headless Chromium, CPU module`);
console.log('| player | run | frames shown / in the file | frame size | first frame after (s) | to the end (s) | renderer peak RSS (MB) |');
console.log('|---|---|---|---|---|---|---|');
for (let run = 1; run <= runs; run++) {
  for (const [path, label] of players) {
    const { context, close } = await launchChromium({ webgpu: false });
    try {
      const tab = await context.newPage();
      await tab.goto(`http://127.0.0.1:${port}/player-memory`);
      const r = await tab.evaluate(async (path) => {
        const { VqcPlayer } = await import(`/${path}`);
        const data = new Uint8Array(await (await fetch('/player-memory.vqc')).arrayBuffer());
        const t0 = performance.now();
        let shown = 0;
        return new Promise((resolve, reject) => {
          let info = null;
          const player = new VqcPlayer(document.querySelector('canvas'), { backend: 'cpu',
            onframe: () => { shown++; },
            onended: () => resolve({ shown, frames: info.frames, w: info.width, h: info.height, first, s: (performance.now() - t0) / 1000 }) });
          let first = 0;
          player.load(data).then((i) => { info = i; first = (performance.now() - t0) / 1000; player.play(); }, reject);
        });
      }, path);
      const peak = await rendererPeakKb(context);
      console.log(`| ${label} | ${run} | ${r.shown} / ${r.frames} | ${r.w}×${r.h} | ${r.first.toFixed(2)} | ${r.s.toFixed(1)} | ${(peak / 1024).toFixed(0)} |`);
    } finally {
      await close();
    }
  }
}
server.close();
