#!/usr/bin/env node
// How a decoded frame gets from the decoder's worker to the page (issue 17), in headless
// Chromium on this machine, without the codec: a worker holds an RGBA frame in a WebAssembly
// memory, as the module holds the frame it read back, and hands the page each of N frames
//   - 'imagedata': copied into a new array (what `VqCodec.render` / `decode` answer), the array
//     transferred, an ImageData made of it on the page (the package's default output);
//   - 'videoframe, copied': the same array, a VideoFrame made of it on the page (the package's
//     'videoframe' output before VqFrame);
//   - 'videoframe, of the memory': a VideoFrame made in the worker of a view of the memory
//     (`VqFrame.view`), transferred, and made again with the page's timestamp (what the package
//     does now).
// Prints, per size and way, the worker's ms a frame (its part only) and the page's (its part),
// and the whole hand-over's ms a frame with 3 frames in flight.
//   node benches/frame-handoff.mjs [--sizes=1920x1080,640x360] [--frames=120]
import { launchChromium } from '../scripts/chromium.mjs';
import { serve } from '../scripts/serve.mjs';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const sizes = (arg('sizes') ?? '1920x1080,640x360').split(',').map((s) => s.split('x').map(Number));
const frames = Number(arg('frames') ?? 120);

const page = `<!doctype html><title>frame hand-over</title><script>
const workerSource = ${JSON.stringify(`
  let mem = null;
  onmessage = ({ data: { way, w, h, i } }) => {
    const n = w * h * 4;
    if (!mem || mem.buffer.byteLength < n + 65536) {
      mem = new WebAssembly.Memory({ initial: Math.ceil((n + 65536) / 65536) + 1 });
      const v = new Uint8Array(mem.buffer, 65536, n);
      for (let k = 0; k < n; k++) v[k] = (k * 7 + (k >> 12)) & 255;
    }
    const t = performance.now();
    const view = new Uint8Array(mem.buffer, 65536, n);
    if (way === 'frame') {
      const f = new VideoFrame(view, { format: 'RGBA', codedWidth: w, codedHeight: h, timestamp: 0 });
      postMessage({ i, f, ms: performance.now() - t }, [f]);
    } else {
      const a = view.slice();
      postMessage({ i, a, ms: performance.now() - t }, [a.buffer]);
    }
  };`)};
window.handoff = (way, w, h, count, inFlight = 3) => new Promise((resolve) => {
  const worker = new Worker(URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' })));
  let sent = 0, done = 0, workerMs = 0, pageMs = 0, t0 = 0;
  const warm = 8;
  const send = () => worker.postMessage({ way: way === 'imagedata' ? 'copy' : way === 'copied' ? 'copy' : 'frame', w, h, i: sent++ });
  worker.onmessage = ({ data }) => {
    const t = performance.now();
    if (data.f) {
      const f = new VideoFrame(data.f, { timestamp: data.i * 33333 });
      data.f.close();
      f.close();
    } else if (way === 'copied') {
      new VideoFrame(data.a, { format: 'RGBA', codedWidth: w, codedHeight: h, timestamp: data.i * 33333 }).close();
    } else {
      new ImageData(new Uint8ClampedArray(data.a.buffer), w, h);
    }
    done++;
    if (done === warm) { t0 = performance.now(); workerMs = 0; pageMs = 0; }
    else if (done > warm) { workerMs += data.ms; pageMs += performance.now() - t; }
    if (done === count + warm) {
      worker.terminate();
      const n = count;
      resolve({ workerMs: workerMs / n, pageMs: pageMs / n, wholeMs: (performance.now() - t0) / n });
    } else if (sent < count + warm) send();
  };
  for (let k = 0; k < inFlight; k++) send();
});
</script>`;

const server = await serve(0, (req, res) => {
  if (!req.url.startsWith('/frame-handoff')) return false;
  res.writeHead(200, { 'Content-Type': 'text/html', 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
  res.end(page);
  return true;
});
const { port } = server.address();
const { context, close } = await launchChromium({ webgpu: false });
try {
  const tab = await context.newPage();
  await tab.goto(`http://127.0.0.1:${port}/frame-handoff`);
  console.log(`Chromium ${context.browser()?.version() ?? ''}, ${frames} frames a way (after 8), 3 in flight; ms a frame`);
  console.log('| size | way | worker | page | whole hand-over |');
  console.log('|---|---|---|---|---|');
  for (const [w, h] of sizes) {
    for (const [way, label] of [['imagedata', 'ImageData of a copy (default output)'], ['copied', 'VideoFrame of a copy (before)'], ['frame', 'VideoFrame of the memory (now)']]) {
      const r = await tab.evaluate(([way, w, h, n]) => window.handoff(way, w, h, n), [way, w, h, frames]);
      console.log(`| ${w}×${h} | ${label} | ${r.workerMs.toFixed(2)} | ${r.pageMs.toFixed(2)} | ${r.wholeMs.toFixed(2)} |`);
    }
  }
} finally {
  await close();
  server.close();
}
