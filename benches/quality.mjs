// PSNR-Y and MS-SSIM on one 8-bit plane, ported line for line from the native definitions
// (src/frame.rs `psnr_y_planes`, src/metrics.rs `ms_ssim`) so that the WebCodecs benchmark
// (benches/webcodecs.mjs) scores browser codecs exactly as `vqcodec-lab eval` scores the rest.
// Planes are stored in f32 (Float32Array) as the native code stores them; sums run in f64.
// Checked against the native eval in docs/results/webcodecs.md (`--verify-metrics`).

/** PSNR of two equal-length 8-bit planes in dB, capped at 100 as the eval caps it. */
export function psnrPlane(a, b) {
  let se = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; se += d * d; }
  return se === 0 ? 100 : Math.min(100, 10 * Math.log10((255 * 255) / (se / a.length)));
}

const WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const WINDOW = 11;
const SIGMA = 1.5;
const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;

const plane = (w, h, v) => ({ w, h, v });
const mul = (a, b) => { const v = new Float32Array(a.v.length); for (let i = 0; i < v.length; i++) v[i] = a.v[i] * b.v[i]; return plane(a.w, a.h, v); };

/** 2×2 average, dropping an odd last row or column. */
function downsample(p) {
  const w = p.w >> 1; const h = p.h >> 1;
  const v = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const r0 = 2 * y * p.w; const r1 = (2 * y + 1) * p.w;
    for (let x = 0; x < w; x++) v[y * w + x] = (p.v[r0 + 2 * x] + p.v[r0 + 2 * x + 1] + p.v[r1 + 2 * x] + p.v[r1 + 2 * x + 1]) * 0.25;
  }
  return plane(w, h, v);
}

/** Separable "valid" filtering with `k`. */
function filter(p, k) {
  const n = k.length; const w = p.w + 1 - n; const h = p.h + 1 - n;
  const tmp = new Float32Array(w * p.h);
  for (let y = 0; y < p.h; y++) {
    const row = y * p.w;
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let j = 0; j < n; j++) s = Math.fround(s + Math.fround(p.v[row + x + j] * k[j]));
      tmp[y * w + x] = s;
    }
  }
  const v = new Float32Array(w * h);
  for (let i = 0; i < n; i++) {
    const kk = k[i];
    for (let y = 0; y < h; y++) {
      const src = (y + i) * w; const dst = y * w;
      for (let x = 0; x < w; x++) v[dst + x] = v[dst + x] + Math.fround(kk * tmp[src + x]);
    }
  }
  return plane(w, h, v);
}

function gaussian(n) {
  const c = (n - 1) / 2;
  const g = Array.from({ length: n }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * SIGMA * SIGMA)));
  const s = g.reduce((a, b) => a + b, 0);
  return Float32Array.from(g, (x) => x / s);
}

function ssimCs(a, b) {
  let n = Math.min(WINDOW, a.w, a.h);
  if (n % 2 === 0) n -= 1;
  const k = gaussian(Math.max(n, 1));
  const ma = filter(a, k); const mb = filter(b, k);
  const aa = filter(mul(a, a), k); const bb = filter(mul(b, b), k); const ab = filter(mul(a, b), k);
  let ssim = 0; let cs = 0;
  for (let i = 0; i < ma.v.length; i++) {
    const x = ma.v[i]; const y = mb.v[i];
    const va = aa.v[i] - x * x; const vb = bb.v[i] - y * y; const cov = ab.v[i] - x * y;
    const c = (2 * cov + C2) / (va + vb + C2);
    const l = (2 * x * y + C1) / (x * x + y * y + C1);
    ssim += l * c;
    cs += c;
  }
  return [ssim / ma.v.length, cs / ma.v.length];
}

/** MS-SSIM of two width × height 8-bit planes, in 0..1. */
export function msSsim(a, b, width, height) {
  let pa = plane(width, height, Float32Array.from(a));
  let pb = plane(width, height, Float32Array.from(b));
  let result = 1;
  for (let s = 0; s < WEIGHTS.length; s++) {
    const [ssim, cs] = ssimCs(pa, pb);
    const term = s + 1 === WEIGHTS.length ? ssim : cs;
    result *= Math.max(term, 0) ** WEIGHTS[s];
    if (s + 1 < WEIGHTS.length) {
      if (pa.w < 2 || pa.h < 2) break;
      pa = downsample(pa);
      pb = downsample(pb);
    }
  }
  return result;
}

/** −10·log10(1 − msssim). */
export const msSsimDb = (m) => -10 * Math.log10(Math.max(1 - m, 1e-10));

/** The Y' planes of a y4m file's bytes (any chroma layout), with its size and frame rate. */
export function y4mLuma(bytes, limit = Infinity) {
  const nl = bytes.indexOf(10);
  const header = new TextDecoder().decode(bytes.subarray(0, nl));
  const width = Number(/ W(\d+)/.exec(header)[1]);
  const height = Number(/ H(\d+)/.exec(header)[1]);
  const [fn, fd] = (/ F(\d+):(\d+)/.exec(header) ?? [0, 30, 1]).slice(1).map(Number);
  const cs = / C(\S+)/.exec(header)?.[1] ?? '420';
  const cw = (width + 1) >> 1; const ch = (height + 1) >> 1;
  const chroma = cs.startsWith('444') ? width * height : cs.startsWith('422') ? cw * height : cs === 'mono' ? 0 : cw * ch;
  const planes = [];
  let p = nl + 1;
  while (p < bytes.length && planes.length < limit) {
    p = bytes.indexOf(10, p) + 1;
    planes.push(bytes.subarray(p, p + width * height));
    p += width * height + 2 * chroma;
  }
  return { width, height, fps: fn / fd, fpsRatio: [fn, fd], planes };
}
