#!/usr/bin/env node
// Where the time goes in a V8 CPU profile of the WebGPU wasm module under Node + Dawn
// (benches/dawn.mjs's profiling mode, scripts/device-dawn-profile.sh): every sample weighed by
// its own interval and put in one category — the module's wasm (grouped by Rust crate: the
// module keeps its name section in the profiling build), the wasm-bindgen glue (vqcodec.js),
// calls into dawn.node (the bench's named wrappers `GPUClass.method` on the GPU* prototypes and
// what runs under them), the webgpu package's index.js, GC, "(program)" (native code with no JS
// frame: the event loop, Dawn's callbacks), "(idle)" (nothing to run: waiting on the GPU). Per
// frame when the profile's case is in counts.json. Markdown on stdout.
//   node scripts/cpuprofile-summary.mjs DIR            (DIR/counts.json + DIR/*.cpuprofile)
//   node scripts/cpuprofile-summary.mjs FILE.cpuprofile [frames]
//   node scripts/cpuprofile-summary.mjs --table DIR    one table, ms per frame: groups × cases
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { join, basename } from 'node:path';

const argv = process.argv.slice(2);
const table = argv[0] === '--table';
if (table) argv.shift();
const [arg, framesArg] = argv;
if (!arg) {
  console.error('usage: cpuprofile-summary.mjs DIR | FILE.cpuprofile [frames]');
  process.exit(2);
}
let jobs; // [{name, file, frames, counts}]
if (arg.endsWith('.cpuprofile')) {
  jobs = [{ name: basename(arg), file: arg, frames: Number(framesArg ?? 1), counts: null }];
} else if (existsSync(join(arg, 'counts.json'))) {
  const counts = JSON.parse(readFileSync(join(arg, 'counts.json'), 'utf8'));
  for (const [name, c] of Object.entries(counts)) if (c.error) console.log(`### ${name}\n\nfailed: ${c.error}\n`);
  jobs = Object.entries(counts).filter(([, c]) => !c.error)
    .map(([name, c]) => ({ name, file: join(arg, c.file), frames: c.frames, counts: c }));
} else {
  jobs = readdirSync(arg).filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ name: f, file: join(arg, f), frames: 1, counts: null }));
}

const GPU_WRAPPER = /^GPU[A-Za-z]*\$[A-Za-z]+$/; // benches/dawn.mjs's wrappers: GPUDevice$createBindGroup
const f1 = (x) => x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2);
const pct = (x, t) => `${((100 * x) / t).toFixed(1)}%`;

/** The Rust crate of a demangled name: `<burn_cubecl::X as burn_tensor::Y>::f` -> burn_cubecl;
 * `<f32 as vqc::motion::Arith>::apply` -> vqc (a primitive or generic self type: the trait's). */
function crateOf(name) {
  if (/^wasm-function\[\d+\]$|^\$?func\d+$/.test(name)) return '(unnamed wasm)';
  if (/^(js-to-wasm|wasm-to-js)/.test(name)) return '(V8 JS<->wasm wrapper)';
  if (/^__wasm_call_ctors$|command_export/.test(name)) return '__wasm_call_ctors';
  const path = (x) => /^([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?::/.exec(x)?.[1];
  let s = name.replace(/^\$/, '');
  const qualified = /^<(.*?) as ([^>]*)>::/.exec(s);
  if (qualified) {
    const self = qualified[1].replace(/^[&*\[(\s]+/, '').replace(/^(mut|const|dyn)\s+/, '');
    const own = path(self);
    if (own) return own;
    const tr = path(qualified[2].replace(/^(dyn)\s+/, ''));
    if (tr) return tr;
  }
  for (;;) {
    const t = s.replace(/^[<&*(\[\s]+/, '').replace(/^(mut|const|dyn|impl)\s+/, '');
    if (t === s) break;
    s = t;
  }
  const c = path(s);
  if (c) return c;
  if (/^__wbindgen|^__wbg|^__externref/.test(s)) return 'wasm_bindgen';
  if (/^(malloc|free|realloc|calloc|memcpy|memmove|memset|memcmp|__rust_|__rdl_|__rg_|dlmalloc)/.test(s)) return 'alloc/libc';
  if (/^(f?min|f?max|round|floor|ceil|trunc|sqrt|exp|log|pow|sin|cos|tan|fmod|__[a-z]+[dst]i[0-9])[a-z0-9]*$/.test(s)) return 'libm/compiler_builtins';
  return 'other';
}
const family = (crate) => {
  if (crate === '__wasm_call_ctors' || crate === 'inventory') return 'constructors rerun on export calls (__wasm_call_ctors, inventory)';
  if (/^(burn|burn_)/.test(crate)) return 'burn';
  if (/^(cubecl|cubek)/.test(crate)) return 'cubecl';
  if (crate === 'pliron' || /^pliron_/.test(crate)) return 'cubecl';
  if (/^(wgpu|wgpu_|naga)/.test(crate)) return 'wgpu';
  if (/^(wasm_bindgen|js_sys|web_sys|wasm_bindgen_futures)$/.test(crate) || crate === '(V8 JS<->wasm wrapper)') return 'wasm-bindgen';
  if (crate === 'vqcodec' || crate === 'vqc') return 'vqcodec (ours)';
  if (/^(core|alloc|std|hashbrown|alloc\/libc|dlmalloc|compiler_builtins|libm\/compiler_builtins|__rustc|spin)$/.test(crate)) return 'Rust core/alloc/std/libm';
  return 'other crates';
};
const stripHash = (n) => n.replace(/::h[0-9a-f]{16}$/, '');

function summarise({ name, file, frames, counts }) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // each sample's duration: until the next sample (the last one: the median interval)
  const ts = [];
  let t = p.startTime;
  for (const d of p.timeDeltas) ts.push((t += d));
  const dur = ts.map((x, i) => (i + 1 < ts.length ? ts[i + 1] - x : NaN));
  const sortedD = dur.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  dur[dur.length - 1] = sortedD[sortedD.length >> 1] ?? 0;
  const kind = (n) => {
    const { functionName: fn, url } = n.callFrame;
    if (GPU_WRAPPER.test(fn)) return 'gpu-wrapper';
    if (url.startsWith('wasm://')) return 'wasm';
    if (url.endsWith('vqcodec.js')) return 'glue';
    if (url.endsWith('/webgpu/index.js') || url.endsWith('webgpu/index.js')) return 'webgpu-index';
    if (url.endsWith('dawn.mjs')) return 'bench';
    if (url.startsWith('node:') || url.startsWith('internal/')) return 'node';
    if (fn.startsWith('(')) return fn;
    return 'native';
  };
  const stackCache = new Map();
  const stack = (id) => { // root .. leaf
    if (stackCache.has(id)) return stackCache.get(id);
    const s = [];
    for (let x = id; x !== undefined; x = parent.get(x)) s.push(byId.get(x));
    s.reverse();
    stackCache.set(id, s);
    return s;
  };
  const cat = new Map(); // category -> ms
  const sub = new Map(); // category -> Map(detail -> ms)
  const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
  const addSub = (c, d, v) => { if (!sub.has(c)) sub.set(c, new Map()); add(sub.get(c), d, v); };
  const selfFn = new Map(); // wasm function -> self ms
  const inclFn = new Map(); // wasm function -> inclusive ms
  const entry = new Map(); // first burn/cubecl frame under our code -> ms
  let total = 0;
  p.samples.forEach((id, i) => {
    const ms = dur[i] / 1000;
    total += ms;
    const st = stack(id);
    const leaf = st[st.length - 1];
    const k = kind(leaf);
    const fn = leaf.callFrame.functionName;
    // inside a call into Dawn: a wrapper on the stack
    const w = st.findLast((n) => kind(n) === 'gpu-wrapper');
    let c;
    if (k === '(idle)') c = 'idle (nothing to run: awaiting the GPU / promises)';
    else if (k === '(garbage collector)') c = 'GC';
    else if (k === '(program)') c = '(program): native, no JS frame';
    else if (k === '(root)') c = '(program): native, no JS frame';
    else if (w) {
      c = 'Dawn: calls into dawn.node';
      addSub(c, w.callFrame.functionName.replace('$', '.'), ms);
    } else if (k === 'wasm') {
      const cr = crateOf(fn);
      c = `wasm: ${family(cr)}`;
      addSub(c, cr, ms);
      add(selfFn, stripHash(fn), ms);
    } else if (k === 'glue') {
      c = 'JS: wasm-bindgen glue (vqcodec.js)';
      addSub(c, fn.replace(/_[0-9a-f]{16}$/, ''), ms);
    } else if (k === 'webgpu-index') {
      c = 'JS: webgpu package index.js (buffer tracking)';
      addSub(c, fn, ms);
    } else if (k === 'bench') {
      c = 'JS: bench + instrumentation (import counters)';
      addSub(c, fn || '(anonymous)', ms);
    } else if (k === 'node') {
      c = 'JS: Node internals';
      addSub(c, fn || '(anonymous)', ms);
    } else {
      // a builtin or API callback: by the nearest JS/wasm frame above it
      const up = st.findLast((n) => kind(n) !== 'native');
      const uk = up ? kind(up) : 'none';
      c = `native/builtin called from ${uk === 'glue' ? 'the glue' : uk}`;
      addSub(c, `${fn || '(anonymous)'} <- ${up?.callFrame.functionName || '?'}`, ms);
    }
    add(cat, c, ms);
    // inclusive time per wasm function (once per sample) and the entry into burn/cubecl
    const seen = new Set();
    let ours = false;
    let entered = false;
    for (const n of st) {
      if (kind(n) !== 'wasm') continue;
      const f = stripHash(n.callFrame.functionName);
      if (!seen.has(f)) { seen.add(f); add(inclFn, f, ms); }
      const fam = family(crateOf(f));
      if (fam === 'vqcodec (ours)') ours = true;
      else if (ours && !entered && (fam === 'burn' || fam === 'cubecl' || fam === 'wgpu')) {
        entered = true;
        add(entry, f, ms);
      }
    }
  });
  const per = (x) => x / frames;
  const out = [];
  const wall = counts?.profileWallMs ?? (p.endTime - p.startTime) / 1000;
  out.push(`### ${name}`, '');
  out.push(`${frames} frame(s) profiled; wall ${f1(wall)} ms (${f1(per(wall))} ms per frame), sampled ${f1(total)} ms, ` +
    `${p.samples.length} samples${counts ? `; plain timing ${f1(counts.msPerFrame.plainMedian)} ms per frame (median), ` +
      `counted ${f1(counts.msPerFrame.countedMedian)}, profiled ${f1(counts.msPerFrame.profiledMedian)}` : ''}.`, '');
  out.push('| where | ms per frame | share | of which (ms per frame) |', '|---|---|---|---|');
  for (const [c, v] of [...cat].sort((a, b) => b[1] - a[1])) {
    const d = sub.has(c) ? [...sub.get(c)].sort((a, b) => b[1] - a[1]).slice(0, 6)
      .map(([k, x]) => `${k} ${f1(per(x))}`).join('; ') : '';
    out.push(`| ${c} | ${f1(per(v))} | ${pct(v, total)} | ${d} |`);
  }
  out.push('');
  const top = (m, n, label) => {
    out.push(`| ${label} | ms per frame | share |`, '|---|---|---|');
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      const s = k.length > 150 ? `${k.slice(0, 147)}...` : k;
      out.push(`| \`${s.replaceAll('|', '\\|')}\` | ${f1(per(v))} | ${pct(v, total)} |`);
    }
    out.push('');
  };
  top(selfFn, 20, 'wasm function, self time');
  top(inclFn, 25, 'wasm function, inclusive time');
  top(entry, 15, 'first burn/cubecl/wgpu frame under our code (inclusive)');
  if (counts?.gpu) {
    out.push('| call into Dawn | calls per frame | µs per call | ms per frame | bytes per frame | await, ms per call |', '|---|---|---|---|---|---|');
    for (const [k, v] of Object.entries(counts.gpu)) {
      out.push(`| ${k} | ${f1(v.perFrame)} | ${f1(v.usPerCall)} | ${f1(v.msPerFrame)} | ${v.bytesPerFrame ? Math.round(v.bytesPerFrame) : ''} | ${v.awaitMsPerCall !== undefined ? f1(v.awaitMsPerCall) : ''} |`);
    }
    out.push('');
    out.push(`wasm → JS import calls per frame: ${Math.round(counts.importCallsPerFrame)}; JS → wasm export calls per frame: ` +
      `${Math.round(counts.exportCallsPerFrame ?? 0)}` +
      `${counts.exportCallUs != null ? `; an export call (externref slot alloc/free) costs ${counts.exportCallUs.toFixed(2)} µs` : ''}` +
      `${counts.psnrY != null ? `; round trip PSNR-Y ${counts.psnrY.toFixed(2)} dB` : ''}. The most frequent:`, '');
    out.push('| import | calls per frame |', '|---|---|');
    for (const [k, v] of Object.entries(counts.imports).slice(0, 20)) out.push(`| ${k.replace(/_[0-9a-f]{16}$/, '')} | ${f1(v)} |`);
    out.push('');
    if (counts.exports) {
      out.push('| export (JS → wasm) | calls per frame |', '|---|---|');
      for (const [k, v] of Object.entries(counts.exports).slice(0, 10)) out.push(`| ${k} | ${f1(v)} |`);
      out.push('');
    }
  }
  return { text: out.join('\n'), cat, total, wall, frames, counts };
}

/** The categories in a few groups, for one table across cases. */
const GROUPS = [
  ['constructors rerun on export calls', (c) => c.startsWith('wasm: constructors')],
  ['our wasm (vqc, vqcodec)', (c) => c === 'wasm: vqcodec (ours)'],
  ['Rust core/alloc/std/libm (wasm)', (c) => c.startsWith('wasm: Rust core')],
  ['burn, cubecl, wgpu, wasm-bindgen, other crates (wasm)', (c) => c.startsWith('wasm: ')],
  ['calls into dawn.node', (c) => c.startsWith('Dawn: ')],
  ['JS: glue, webgpu index.js, counters', (c) => c.startsWith('JS: wasm-bindgen') || c.startsWith('JS: webgpu') ||
    c.startsWith('JS: bench') || c === 'native/builtin called from the glue' || c === 'native/builtin called from bench' ||
    c === 'native/builtin called from wasm'],
  ['waiting: Dawn event polling (setImmediate), Node, idle, (program)', (c) => c.startsWith('idle') ||
    c.startsWith('JS: Node') || c === 'native/builtin called from node' || c.startsWith('(program)')],
  ['GC', (c) => c === 'GC'],
  ['other', () => true],
];

if (table) {
  const rs = jobs.map((j) => ({ name: j.name, ...summarise(j) }));
  const out = [`| ms per frame | ${rs.map((r) => r.name).join(' | ')} |`, `|---|${rs.map(() => '---|').join('')}`];
  const row = (label, f) => out.push(`| ${label} | ${rs.map(f).join(' | ')} |`);
  row('plain timing (median)', (r) => (r.counts ? f1(r.counts.msPerFrame.plainMedian) : ''));
  row('profiled: wall', (r) => f1(r.wall / r.frames));
  const g = rs.map((r) => {
    const m = new Map();
    for (const [c, v] of r.cat) {
      const [label] = GROUPS.find(([, t]) => t(c));
      m.set(label, (m.get(label) ?? 0) + v);
    }
    return m;
  });
  for (const [label] of GROUPS) {
    if (g.every((m) => !m.get(label))) continue;
    row(label, (r, i) => { const v = g[i].get(label) ?? 0; return `${f1(v / r.frames)} (${pct(v, r.total)})`; });
  }
  console.log(out.join('\n'));
} else {
  for (const j of jobs) console.log(summarise(j).text);
}
