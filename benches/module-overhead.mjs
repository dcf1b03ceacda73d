#!/usr/bin/env node
// Host-side cost of a WebGPU module build: the demo page's round trip (encoder → RVQ → decoder,
// with readback) on a 32×32 frame, where the GPU work is tiny and what is timed is mostly the
// module's own code: kernel lookup and launch through cubecl, wgpu's bookkeeping, our RVQ.
// Compares module builds side by side in one headless Chromium (WebGPU on SwiftShader here):
//   node benches/module-overhead.mjs ../out/pkg-a/vqcodec.js ../out/pkg-b/vqcodec.js
// (paths as the demo's ?pkg= takes them: ../out/NAME/vqcodec.js; the default is ../pkg/vqcodec.js
// through the package's loader). Prints the median and quartiles of 40 round trips each, in
// alternating rounds so that drift in the machine's load hits both alike.
import { serve } from '../scripts/serve.mjs';
import { launchChromium } from '../scripts/chromium.mjs';

const pkgs = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!pkgs.length) pkgs.push('');
const rounds = 4;
const perRound = 10;
const size = 32;

const server = await serve(0);
const port = server.address().port;
const { context, close } = await launchChromium();
try {
  const pages = [];
  for (const pkg of pkgs) {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/www/${pkg ? `?pkg=${pkg}` : ''}`);
    await page.waitForFunction(() => window.vqDemo !== undefined);
    await page.evaluate(() => window.vqDemo.ready);
    // warm-up: shader compilation and the first allocations are not what is compared
    const r = await page.evaluate((s) => window.vqDemo.runOnce({ backend: 'webgpu', model: 'lite', width: s, height: s, repeat: 5 }), size);
    if (r.backend !== 'webgpu') throw new Error(`${pkg || 'pkg'}: no WebGPU (${r.reason})`);
    pages.push({ pkg: pkg || '../pkg/vqcodec.js', page, times: [] });
  }
  for (let i = 0; i < rounds; i++) {
    for (const p of pages) {
      const r = await p.page.evaluate(({ s, n }) => window.vqDemo.runOnce({ backend: 'webgpu', model: 'lite', width: s, height: s, repeat: n }), { s: size, n: perRound });
      p.times.push(...r.times);
    }
  }
  const q = (xs, f) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(f * s.length))]; };
  console.log(`WebGPU round trip, lite, ${size}×${size}, ${rounds * perRound} runs each (ms: median [25%, 75%])`);
  for (const p of pages) {
    console.log(`  ${p.pkg}: ${q(p.times, 0.5).toFixed(2)} [${q(p.times, 0.25).toFixed(2)}, ${q(p.times, 0.75).toFixed(2)}]`);
  }
} finally {
  await close();
  server.close();
}
