#!/usr/bin/env python3
"""What a context model can win on vqcodec's indices (issue 15, docs/model.md).

Two steps:

  python3 scripts/token-entropy.py prepare [--models base,lite] [--qualities 100,80]
      Cuts a sample of every training video clip (data/manifest-train.txt; photos left out:
      one frame, no temporal context) to data/tokens/clips/ -- consecutive frames from the
      middle, about --positions latent positions per clip (16..120 frames) so that no clip
      dominates -- and, for those samples and the whole validation clips, runs
        vqcodec encode CLIP -o S.vqc --backend cpu --model M --quality Q
        vqcodec tokens S.vqc -o S.npy
        vqcodec info --json S.vqc > S.json
      At quality 100 the stream carries exactly the plain-RVQ indices (docs/bitstream.md),
      every index coded; at 80 it carries the encoder's RD choices.

  python3 scripts/token-entropy.py analyse [--models base,lite] [--qualities 100,80]
      Per level, the code length (bits/index) of the validation streams' indices under
      context models estimated on the training samples' streams at the same quality and
      model, next to what the v1 coder spends (file bytes x 8 / indices).

  python3 scripts/token-entropy.py binary [--models base,lite] [--qualities 100,80]
      v1's own syntax and adaptive binary models emulated exactly (floats for its 15-bit
      integers), which reproduces the files' payload; then the same syntax with the parent
      and reference code classes added to the contexts of its bit tree and skip flag.

Honest estimation on this much data: a context code (parent, reference, left, above; 128
values) is first mapped to one of <= 16 classes, and a joint context (a tuple of classes and
flags) to one of <= 64 classes (16 in one row of the table); both maps are fitted on training tokens only, by k-means
in distribution space (assign each context to the class whose distribution codes its training
symbols in the fewest bits; Lloyd iterations, farthest-point seeding). The models are then
evaluated on the held-out validation tokens, every model starting again at each keyframe:
  static   add-1/2 smoothed training counts, never updated;
  counts   adaptive counts starting from the training distribution as a Dirichlet prior of
           strength s: the code length of a sequential adaptive coder, which for Dirichlet
           counts does not depend on the coding order (closed form);
  ema      exponential forgetting from the training distribution, p <- (1-a) p + a onehot, as
           integer CDFs with a fixed adaptation shift do (closed form per context and symbol;
           probabilities floored at 2^-15);
  kt       adaptive counts from add-1/2 (nothing learned but the context classes);
  picked   whichever of the counts / ema settings (s in 16..4096, a in 1/16..1/256) codes the
           training clips best when fitted on half of them and run on the other half, and the
           other way round -- never chosen on validation.
A symbol is either the plain index (alphabet 128) or, for the "copy" variants, the index in an
alphabet of 128 + n where the first n symbols mean "same as candidate i" (the co-located
reference code, the left code, the above code; the first candidate that matches), as v1's
skip / same-as flags do, but as one multi-symbol alphabet.
"""

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
OUT = DATA / "tokens"
K = 128  # codes per level
NONE = -1
CODE_CLASSES = 16


def tool(name):
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/vqcodec/target"))
    return str(Path(target) / "release" / name)


# --------------------------------------------------------------------------- prepare

def y4m_header(path):
    with open(path, "rb") as f:
        line = f.readline()
    fields = line.decode().split()
    w = int(next(x[1:] for x in fields if x.startswith("W")))
    h = int(next(x[1:] for x in fields if x.startswith("H")))
    c = next((x[1:] for x in fields if x.startswith("C")), "420")
    assert c.startswith("444"), f"{path}: expected 4:4:4 y4m, got C{c}"
    return line, w, h


def cut(src, dst, positions):
    """Writes consecutive frames from the middle of `src`, about `positions` latent positions."""
    header, w, h = y4m_header(src)
    frame = len(b"FRAME\n") + 3 * w * h
    total = (os.path.getsize(src) - len(header)) // frame
    per = math.ceil(w / 8) * math.ceil(h / 8)
    n = min(total, max(16, min(120, math.ceil(positions / per))))
    start = (total - n) // 2
    with open(src, "rb") as f, open(dst, "wb") as o:
        o.write(header)
        f.seek(len(header) + start * frame)
        for _ in range(n):
            chunk = f.read(frame)
            assert chunk.startswith(b"FRAME\n"), f"{src}: frames carry parameters"
            o.write(chunk)
    return n, total


def run(*args, **kw):
    subprocess.run([str(a) for a in args], check=True, **kw)


def manifest(name):
    return [DATA / line.strip() for line in open(DATA / name) if line.strip()]


def prepare(args):
    (OUT / "clips").mkdir(parents=True, exist_ok=True)
    train = []
    for p in manifest("manifest-train.txt"):
        if p.stem.startswith("photo_"):
            continue
        dst = OUT / "clips" / p.name
        n, total = cut(p, dst, args.positions)
        print(f"train sample {p.stem}: {n} of {total} frames", flush=True)
        train.append(("train", dst))
    val = [("val", p) for p in manifest("manifest-val.txt")]
    for split, clip in train + val:
        for m in args.models:
            for q in args.qualities:
                stem = OUT / f"{split}-{clip.stem}-{m}-q{q}"
                if stem.with_suffix(".json").exists():
                    continue
                run(tool("vqcodec"), "encode", clip, "-o", stem.with_suffix(".vqc"),
                    "--backend", "cpu", "--model", m, "--quality", q, "-q")
                run(tool("vqcodec"), "tokens", stem.with_suffix(".vqc"), "-o",
                    stem.with_suffix(".npy"))
                with open(stem.with_suffix(".json"), "w") as o:
                    run(tool("vqcodec"), "info", "--json", stem.with_suffix(".vqc"), stdout=o)


# --------------------------------------------------------------------------- data

class Clip:
    """One stream's indices `[F, L, H, W]` (int64, -1 = none) and keyframe flags."""

    def __init__(self, stem):
        self.name = stem.name
        self.x = np.load(stem.with_suffix(".npy")).astype(np.int64)
        info = json.load(open(stem.with_suffix(".json")))
        self.bytes = info["bytes"]
        self.key = np.array([c["kind"] == "key" for c in info["chunks"]])
        assert len(self.key) == self.x.shape[0], f"{stem}: chunks vs frames"
        assert (self.x >= 0).all(), f"{stem}: frames with fewer levels coded"
        self.gop = np.cumsum(self.key) - 1  # keyframe interval of each frame
        self.features = compute_features(self.x, self.key)

    @property
    def indices(self):
        return self.x.size


def shift(a, axis, fill=NONE):
    """a moved one step forward along `axis` (a[i-1] at i), `fill` at the start."""
    out = np.full_like(a, fill)
    idx = [slice(None)] * a.ndim
    src = [slice(None)] * a.ndim
    idx[axis] = slice(1, None)
    src[axis] = slice(None, -1)
    out[tuple(idx)] = a[tuple(src)]
    return out


def compute_features(x, key):
    """Raw context values per position, each `[F, L, H, W]`."""
    ref = shift(x, 0)
    ref[key] = NONE  # a keyframe has no reference
    parent = shift(x, 1)
    parent_ref = shift(ref, 1)
    left, above = shift(x, 3), shift(x, 2)
    copied = np.where(ref == NONE, 2, (x == ref).astype(np.int64))  # 0/1, 2 = no reference
    return {
        "x": x,
        "ref": ref,
        "parent": parent,
        "left": left,
        "above": above,
        # did the parent level keep its reference code here? (2: no parent or no reference)
        "Pc": np.where((parent == NONE) | (parent_ref == NONE), 2,
                       (parent == parent_ref).astype(np.int64)),
        "Lc": shift(copied, 3, 2),
        "Ac": shift(copied, 2, 2),
        "agree": np.where((left == NONE) | (above == NONE), 2, (left == above).astype(np.int64)),
    }


# --------------------------------------------------------------------------- models

def cluster(counts, k, iters=25):
    """Maps the rows of `counts` [C, S] (training symbol counts per context value) to <= k
    classes minimising the training code length. Returns (assignment [C], classes)."""
    c, s = counts.shape
    n = counts.sum(1)
    seen = np.flatnonzero(n > 0)
    glob = counts.sum(0) + 0.5
    glob = glob / glob.sum()
    if len(seen) <= k:
        assign = np.zeros(c, np.int64)
        assign[seen] = np.arange(len(seen))
        return assign, max(1, len(seen))

    def class_logp(members):
        cnt = counts[members].sum(0)
        p = (cnt + 0.5 * glob * s) / (cnt.sum() + 0.5 * s)  # a little of the global shape
        return np.log2(p)

    cs = counts[seen]
    # farthest-point seeding: the busiest context, then the one coded worst by the seeds
    centres = [np.log2((cs[np.argmax(n[seen])] + 0.5 * glob * s) / (n[seen].max() + 0.5 * s))]
    while len(centres) < k:
        cost = -(cs @ np.stack(centres).T)  # bits of each context under each centre
        excess = cost.min(1) - (-(cs * np.log2((cs + 1e-9) / n[seen][:, None])).sum(1))
        i = int(np.argmax(excess))
        centres.append(np.log2((cs[i] + 0.5 * glob * s) / (n[seen][i] + 0.5 * s)))
    assign_seen = None
    for _ in range(iters):
        new = np.argmin(-(cs @ np.stack(centres).T), 1)
        if assign_seen is not None and (new == assign_seen).all():
            break
        assign_seen = new
        centres = [class_logp(seen[assign_seen == j]) if (assign_seen == j).any() else centres[j]
                   for j in range(len(centres))]
    used = np.unique(assign_seen)
    remap = np.full(len(centres), -1)
    remap[used] = np.arange(len(used))
    assign = np.zeros(c, np.int64)  # unseen context values join class 0 (the busiest seed's)
    assign[seen] = remap[assign_seen]
    return assign, len(used)


def symbols(f, level, cands):
    """The coded symbol per position of one level: the plain index, or with candidates
    (feature names) the first matching candidate's slot, else len(cands) + index."""
    x = f["x"][:, level]
    if not cands:
        return x
    sym = x + len(cands)
    for i in reversed(range(len(cands))):  # the first candidate that matches wins
        c = f[cands[i]][:, level]
        sym = np.where((c != NONE) & (c == x), i, sym)
    return sym


class Variant:
    """A context model: the symbol alphabet (copy candidates) and the context features.
    Features named `P`, `R`, `L`, `A` are the class of the parent / reference / left / above
    code; `Pc`, `Lc`, `Ac`, `agree` are flags taken as they are."""

    CODE = {"P": "parent", "R": "ref", "L": "left", "A": "above"}

    def __init__(self, name, cands=(), ctx=(), joint=64):
        self.name, self.cands, self.ctx, self.joint = name, list(cands), list(ctx), joint
        self.alphabet = K + len(self.cands)

    def raw_context(self, f, level, code_maps):
        """Per position, the tuple of context values as one integer."""
        shape = f["x"][:, level].shape
        cid = np.zeros(shape, np.int64)
        for name in self.ctx:
            if name in self.CODE:
                v = f[self.CODE[name]][:, level]
                classes = code_maps[(name, level)]
                v = np.where(v == NONE, CODE_CLASSES, classes[np.maximum(v, 0)])
                radix = CODE_CLASSES + 1
            else:
                v, radix = f[name][:, level], 3
            cid = cid * radix + v
        return cid

    def fit(self, clips, level):
        """Code-class maps, the joint-context map and the counts table, from training clips."""
        code_maps = {}
        for name in self.ctx:
            if name in self.CODE:
                key = (name, level)
                counts = np.zeros((K, K))
                for c in clips:
                    v = c.features[self.CODE[name]][:, level].ravel()
                    x = c.features["x"][:, level].ravel()
                    ok = v != NONE
                    counts += np.bincount(v[ok] * K + x[ok], minlength=K * K).reshape(K, K)
                code_maps[key] = cluster(counts, CODE_CLASSES)[0]
        raw = np.concatenate([self.raw_context(c.features, level, code_maps).ravel()
                              for c in clips])
        sym = np.concatenate([symbols(c.features, level, self.cands).ravel() for c in clips])
        values, inv = np.unique(raw, return_inverse=True)
        counts = np.bincount(inv * self.alphabet + sym, minlength=len(values) * self.alphabet)
        counts = counts.reshape(len(values), self.alphabet).astype(np.float64)
        assign, classes = cluster(counts, self.joint)
        table = np.zeros((classes, self.alphabet))
        np.add.at(table, assign, counts)
        return Fitted(self, level, code_maps, values, assign, table)


class Fitted:
    def __init__(self, variant, level, code_maps, values, assign, table):
        self.v, self.level, self.code_maps = variant, level, code_maps
        self.values, self.assign, self.table = values, assign, table
        self.contexts = table.shape[0]

    def classify(self, f):
        raw = self.v.raw_context(f, self.level, self.code_maps)
        pos = np.searchsorted(self.values, raw)
        pos = np.minimum(pos, len(self.values) - 1)
        known = self.values[pos] == raw
        return np.where(known, self.assign[pos], 0), (~known).sum()

    def sequences(self, clips):
        """Per clip, the (keyframe interval, context class, symbol) of every position of the
        level, in coding order (frame, row, column)."""
        out = []
        for clip in clips:
            cls, _ = self.classify(clip.features)
            sym = symbols(clip.features, self.level, self.v.cands)
            gop = np.broadcast_to(clip.gop[:, None, None], cls.shape)
            out.append((gop.ravel(), cls.ravel(), sym.ravel()))
        return out

    def static_p(self):
        t = self.table + 0.5
        return t / t.sum(1, keepdims=True)


LGAMMA = np.frompyfunc(math.lgamma, 1, 1)


def lgamma(a):
    return LGAMMA(a).astype(np.float64)


def dirichlet_bits(counts, alpha):
    """Code length (bits) of symbols with these per-context counts under sequential adaptive
    Dirichlet(alpha) estimation (the same for any order)."""
    n = counts.sum(1)
    a = alpha.sum(1)
    nz = counts > 0
    live = n > 0
    nats = (lgamma(a[live] + n[live]) - lgamma(a[live])).sum() - (
        lgamma(alpha[nz] + counts[nz]) - lgamma(alpha[nz])).sum()
    return nats / math.log(2)


def counts_bits(alpha, seq):
    """Adaptive counts from a Dirichlet(alpha) prior, restarted at every keyframe."""
    gop, cls, sym = seq
    c, s = alpha.shape
    segs = int(gop.max()) + 1
    cnt = np.bincount((gop * c + cls) * s + sym, minlength=segs * c * s)
    return sum(dirichlet_bits(x, alpha) for x in cnt.reshape(segs, c, s).astype(np.float64))


FLOOR = 2.0 ** -15  # an integer CDF never gives a symbol less than about this
SEGMENT = 1e5  # > the log-range of one segment's terms, so segments do not mix


def ema_bits(p0, seq, rate):
    """Exponential forgetting, as integer CDF adaptation with a fixed shift does:
    p <- (1 - rate) p + rate onehot(symbol) per context, from p0 at every keyframe. Closed
    form per (context, symbol): p_i[v] = p0[v] r^i + rate sum_{j<i, s_j = v} r^(i-1-j)."""
    gop, cls, sym = seq
    c, s = p0.shape
    lr = math.log1p(-rate)
    g = gop * c + cls
    order = np.argsort(g, kind="stable")  # by context, coding order within
    gs, ss, cs = g[order], sym[order], cls[order]
    n = len(gs)
    ar = np.arange(n)
    start = np.r_[True, gs[1:] != gs[:-1]]
    i = ar - np.maximum.accumulate(np.where(start, ar, 0))  # index within the context
    key = gs * s + ss
    o2 = np.argsort(key, kind="stable")  # by (context, symbol), coding order within
    k2, i2 = key[o2], i[o2].astype(np.float64)
    first = np.r_[True, k2[1:] != k2[:-1]]
    seg = (np.cumsum(first) - 1).astype(np.float64) * SEGMENT
    acc = np.logaddexp.accumulate(-i2 * lr + seg)
    prev = np.r_[-np.inf, acc[:-1]] - seg
    log_e = np.where(first, -np.inf, prev + (i2 - 1) * lr)
    p = p0[cs[o2], ss[o2]] * np.exp(i2 * lr) + rate * np.exp(log_e)
    return float(-np.log2(np.maximum(p, FLOOR)).sum())


def code_length(fit, seqs, how, param=None):
    """Bits of each clip's symbols (`seqs` from `Fitted.sequences`) under `how`."""
    p = fit.static_p()
    out = []
    for seq in seqs:
        if how == "static":
            _, cls, sym = seq
            out.append(float(-np.log2(p[cls, sym]).sum()))
        elif how == "counts":
            out.append(counts_bits(param * p, seq))
        elif how == "ema":
            out.append(ema_bits(p, seq, param))
        else:  # kt: counts from add-1/2, nothing learned but the contexts
            out.append(counts_bits(np.full_like(p, 0.5), seq))
    return np.array(out)


STRENGTHS = [16, 64, 256, 1024, 4096]
RATES = [1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]
CANDIDATES = [("counts", s) for s in STRENGTHS] + [("ema", r) for r in RATES]


def pick(variant, train, level):
    """Train-split code length of every adaptive estimator: a model fitted on half of the
    training clips codes the other half (and the other way round)."""
    a, b = train[0::2], train[1::2]
    folds = []
    for fit_on, test_on in ((a, b), (b, a)):
        fit = variant.fit(fit_on, level)
        folds.append((fit, fit.sequences(test_on)))
    return {cand: sum(code_length(f, seq, *cand).sum() for f, seq in folds)
            for cand in CANDIDATES}


def label(cand):
    how, p = cand
    return f"s={p}" if how == "counts" else f"1/{round(1 / p)}"


VARIANTS = [
    Variant("U: none"),
    Variant("P: parent class", ctx=["P"]),
    Variant("R: reference class", ctx=["R"]),
    Variant("Rc: copy reference", cands=["ref"]),
    Variant("Rc+R: copy reference; its class", cands=["ref"], ctx=["R"]),
    Variant("LA: left, above classes", ctx=["L", "A"]),
    Variant("LAc: copy left/above; agree", cands=["left", "above"], ctx=["agree"]),
    Variant("Rc+P: copy reference; parent class, parent kept", cands=["ref"],
            ctx=["P", "Pc"]),
    Variant("v1-like: copy ref/left/above; Lc Ac Pc agree", cands=["ref", "left", "above"],
            ctx=["Lc", "Ac", "Pc", "agree"]),
    Variant("all: copy r/l/a; P Pc Lc Ac agree", cands=["ref", "left", "above"],
            ctx=["P", "Pc", "Lc", "Ac", "agree"]),
    Variant("all+R: the same + reference class", cands=["ref", "left", "above"],
            ctx=["P", "Pc", "Lc", "Ac", "agree", "R"]),
    Variant("all+R, 16 joint classes", cands=["ref", "left", "above"],
            ctx=["P", "Pc", "Lc", "Ac", "agree", "R"], joint=16),
]


def short(clip):
    return clip.name.split("-", 1)[1].rsplit("-", 2)[0]


def analyse(args):
    only = set(args.variants.split(",")) if args.variants else None
    for m in args.models:
        for q in args.qualities:
            train = [Clip(p.with_suffix("")) for p in sorted(OUT.glob(f"train-*-{m}-q{q}.npy"))]
            val = [Clip(p.with_suffix("")) for p in sorted(OUT.glob(f"val-*-{m}-q{q}.npy"))]
            if not train or not val:
                sys.exit(f"no tokens for {m} q{q}: run `prepare` first")
            levels = val[0].x.shape[1]
            n_val = np.array([c.indices for c in val], np.float64)
            print(f"\n## model {m}, quality {q}\n")
            print(f"training samples: {len(train)} streams, "
                  f"{sum(c.indices for c in train):,} indices; validation: "
                  + ", ".join(f"{short(c)} {c.indices:,}" for c in val))
            spent = sum(c.bytes for c in val) * 8 / n_val.sum()
            print(f"v1 coder, the validation files: {spent:.3f} bits/index pooled ("
                  + ", ".join(f"{short(c)} {c.bytes * 8 / c.indices:.3f}" for c in val) + ")")
            cols = " | ".join(f"L{l + 1}" for l in range(levels))
            print("\nbits/index on the validation streams (the clips pooled), with the adaptive "
                  "estimator the training split picked (counts: Dirichlet prior of strength s; "
                  "1/N: exponential forgetting at rate 1/N; both start from the training "
                  "distribution at every keyframe) [contexts]\n")
            print(f"| context | {cols} | all levels: static / counts / ema / kt / **picked** | "
                  "picked, per clip: " + ", ".join(short(c) for c in val) + " |")
            print("|---|" + "---|" * levels + "---|---|")
            for i, v in enumerate(VARIANTS):
                if only and str(i) not in only:
                    continue
                cells = []
                tot = {"static": 0.0, "counts": 0.0, "ema": 0.0, "kt": 0.0, "picked": 0.0}
                per_clip = np.zeros(len(val))
                complete = True
                for l in range(levels):
                    split = pick(v, train, l)
                    best = min(split, key=split.get)
                    best_of = {h: min((c for c in split if c[0] == h), key=split.get)
                               for h in ("counts", "ema")}
                    fit = v.fit(train, l)
                    seqs = fit.sequences(val)
                    r = {"static": code_length(fit, seqs, "static"),
                         "kt": code_length(fit, seqs, "kt")}
                    for h, cand in best_of.items():
                        r[h] = code_length(fit, seqs, *cand)
                    r["picked"] = r[best[0]]
                    for h in tot:
                        tot[h] += r[h].sum()
                    per_clip += r["picked"]
                    n = n_val.sum() / levels
                    cells.append(f"{r['picked'].sum() / n:.3f} ({label(best)}) "
                                 f"[{fit.contexts}]")
                if complete:
                    allv = " / ".join(f"{tot[h] / n_val.sum():.3f}" for h in
                                      ("static", "counts", "ema", "kt"))
                    allv += f" / **{tot['picked'] / n_val.sum():.3f}**"
                    clips = ", ".join(f"{b / n:.3f}" for b, n in zip(per_clip, n_val))
                else:
                    allv, clips = "—", "—"
                print(f"| {v.name} | " + " | ".join(cells) + f" | {allv} | {clips} |", flush=True)


# --------------------------------------------------------------------------- v1's coder

PMIN = 63 / 32768  # v1's 15-bit probabilities stop moving this close to 0 or 1 (shift 6)
TYPES = 4  # skip, same-as-left, same-as-above, bit tree
JOINT = 32  # classes of the (parent class, reference class) pair
CTX_ROOM = (CODE_CLASSES + 1) ** 3 * 6  # context values per model type


def binary_bits(model, bit, p_init=None):
    """Bits of binary decisions under v1's adaptive models: one model per id in `model`
    (events in coding order), p(1) from `p_init` (default 1/2), then p <- p + (bit - p) 2^-s
    with s = 4 for a model's first 16 decisions, 5 up to its 64th, then 6 (docs/bitstream.md),
    as floats. Closed form: p_i = c_(i-1) (p_0 + sum_(k<i) a_k t_k / c_k), c_i = prod (1 - a_k)."""
    order = np.argsort(model, kind="stable")
    m, t = model[order], bit[order]
    n = len(m)
    ar = np.arange(n)
    start = np.r_[True, m[1:] != m[:-1]]
    first = np.maximum.accumulate(np.where(start, ar, 0))
    i = ar - first
    a = np.where(i < 16, 1 / 16, np.where(i < 64, 1 / 32, 1 / 64))
    la = np.log1p(-a)
    cum = np.cumsum(la)
    logc = cum - (cum[first] - la[first])
    seg = (np.cumsum(start) - 1).astype(np.float64) * SEGMENT
    acc = np.logaddexp.accumulate(np.where(t == 1, np.log(a) - logc, -np.inf) + seg)
    prev = np.where(start, -np.inf, np.r_[-np.inf, acc[:-1]] - seg)
    p0 = np.full(n, 0.5) if p_init is None else p_init[order]
    logc_prev = logc - la
    p1 = np.clip(np.exp(np.logaddexp(logc_prev + np.log(p0), logc_prev + prev)), PMIN, 1 - PMIN)
    return float(-np.log2(np.where(t == 1, p1, 1 - p1)).sum())


class Binary:
    """v1's syntax (skip flag, same-as-left, same-as-above, 7-bit tree; docs/bitstream.md) with
    optional extra context for the skip flag and the tree: the class of the parent code (P),
    of the reference code (R), of the left or above code (L, A), or of the (parent,
    reference) pair (PR, <= JOINT classes). `trained`: every model starts from the probability the
    training streams give it instead of 1/2."""

    def __init__(self, name, skip=(), tree=(), trained=False):
        self.name, self.skip, self.tree, self.trained = name, list(skip), list(tree), trained

    @staticmethod
    def code_class(f, level, name, code_maps):
        c = f[Variant.CODE[name]][:, level]
        cls = code_maps[(name, level)]
        return np.where(c == NONE, CODE_CLASSES, cls[np.maximum(c, 0)])

    @staticmethod
    def room(names):
        """How many values `extra` takes for these names."""
        return (CODE_CLASSES + 1) ** sum(2 if n == "PR" else 1 for n in names)

    def extra(self, f, level, names, code_maps):
        """The extra context: classes of the named codes; `PR` is the pair (parent class,
        reference class) mapped to one of <= JOINT classes."""
        v = np.zeros(f["x"][:, level].shape, np.int64)
        for name in names:
            if name == "PR":
                pair = (self.code_class(f, level, "P", code_maps) * (CODE_CLASSES + 1)
                        + self.code_class(f, level, "R", code_maps))
                v = v * (CODE_CLASSES + 1) ** 2 + code_maps[("PR", level)][pair]
            else:
                v = v * (CODE_CLASSES + 1) + self.code_class(f, level, name, code_maps)
        return v

    def events(self, clip, level, code_maps):
        """(model key without the keyframe interval, interval, bit) of every decision."""
        f = clip.features
        x, r = f["x"][:, level], f["ref"][:, level]
        left, above = f["left"][:, level], f["above"][:, level]
        shape = x.shape
        kind = np.broadcast_to(clip.key[:, None, None], shape).astype(np.int64)
        gop = np.broadcast_to(clip.gop[:, None, None], shape)
        ctx_room = CTX_ROOM
        keys, gops, bits = [], [], []

        def emit(typ, where, ctx, node, bit):
            keys.append(((typ * ctx_room + ctx[where]) * 128 + node[where]
                         if node is not None else (typ * ctx_room + ctx[where]) * 128))
            gops.append(gop[where])
            bits.append(bit[where].astype(np.int64))

        has_r = r != NONE
        skip = has_r & (x == r)
        sctx = ((f["Lc"][:, level] == 1).astype(np.int64) + (f["Ac"][:, level] == 1)) * 2 + (
            f["Pc"][:, level] == 1)
        sctx = sctx * self.room(self.skip) + self.extra(f, level, self.skip, code_maps)
        emit(0, has_r, sctx, None, skip)
        lit = ~skip
        agree = (left != NONE) & (above != NONE) & (left == above)
        offer_a = lit & (left != NONE) & (left != r)
        is_a = offer_a & (x == left)
        emit(1, offer_a, kind * 2 + agree, None, is_a)
        rest = lit & ~is_a
        offer_b = rest & (above != NONE) & (above != left) & ~agree & (above != r)
        is_b = offer_b & (x == above)
        emit(2, offer_b, kind, None, is_b)
        tree = rest & ~is_b
        tctx = kind * self.room(self.tree) + self.extra(f, level, self.tree, code_maps)
        node = np.ones(shape, np.int64)
        for j in range(7):
            bit = (x >> (6 - j)) & 1
            emit(3, tree, tctx, node, bit)
            node = node * 2 + bit
        return np.concatenate(keys), np.concatenate(gops), np.concatenate(bits)

    def bits(self, train, val, level, code_maps):
        """Per validation clip, bits of the level."""
        init = None
        if self.trained:
            k, _, b = (np.concatenate(z) for z in zip(*(self.events(c, level, code_maps)
                                                         for c in train)))
            size = TYPES * CTX_ROOM * 128
            n1 = np.bincount(k, weights=b, minlength=size)
            n = np.bincount(k, minlength=size)
            init = (n1 + 0.5) / (n + 1.0)
        out = []
        for c in val:
            k, g, b = self.events(c, level, code_maps)
            out.append(binary_bits(k + g * (TYPES * CTX_ROOM * 128), b,
                                   None if init is None else init[k]))
        return np.array(out)


BINARY = [
    Binary("v1 as it is (its contexts, models from 1/2)"),
    Binary("v1, models start trained", trained=True),
    Binary("tree by parent class", tree=["P"]),
    Binary("tree by parent class, trained", tree=["P"], trained=True),
    Binary("tree by reference class, trained", tree=["R"], trained=True),
    Binary("tree by parent, reference class, trained", tree=["P", "R"], trained=True),
    Binary("skip by reference class, trained", skip=["R"], trained=True),
    Binary("skip by parent class, trained", skip=["P"], trained=True),
    Binary("skip by reference class; tree by parent class, trained", skip=["R"], tree=["P"],
           trained=True),
    Binary("skip by ref, parent class; tree by parent, ref class, trained", skip=["R", "P"],
           tree=["P", "R"], trained=True),
    Binary(f"tree by (parent, ref) pair in {JOINT} classes, trained", tree=["PR"], trained=True),
    Binary(f"skip by ref class; tree by (parent, ref) in {JOINT} classes, trained", skip=["R"],
           tree=["PR"], trained=True),
    Binary("tree by parent, reference class (models from 1/2)", tree=["P", "R"]),
    Binary("skip by ref, parent class; tree by parent, ref class (models from 1/2)",
           skip=["R", "P"], tree=["P", "R"]),
    Binary("tree by left, above class, trained", tree=["L", "A"], trained=True),
    Binary("skip by ref, parent class; tree by parent, ref, left class, trained",
           skip=["R", "P"], tree=["P", "R", "L"], trained=True),
]


def code_maps_for(train, level):
    """The 16 classes of parent, reference, left and above codes at `level` and the classes
    of the (parent, reference) pair, fitted on training tokens."""
    maps = {}
    for name in ("P", "R", "L", "A"):
        counts = np.zeros((K, K))
        for c in train:
            v = c.features[Variant.CODE[name]][:, level].ravel()
            x = c.features["x"][:, level].ravel()
            ok = v != NONE
            counts += np.bincount(v[ok] * K + x[ok], minlength=K * K).reshape(K, K)
        maps[(name, level)] = cluster(counts, CODE_CLASSES)[0]
    counts = np.zeros(((CODE_CLASSES + 1) ** 2, K))
    for c in train:
        pair = (Binary.code_class(c.features, level, "P", maps) * (CODE_CLASSES + 1)
                + Binary.code_class(c.features, level, "R", maps)).ravel()
        counts += np.bincount(pair * K + c.features["x"][:, level].ravel(),
                              minlength=counts.size).reshape(counts.shape)
    maps[("PR", level)] = cluster(counts, JOINT)[0]
    return maps


def analyse_binary(args):
    only = set(args.variants.split(",")) if args.variants else None
    for m in args.models:
        for q in args.qualities:
            train = [Clip(p.with_suffix("")) for p in sorted(OUT.glob(f"train-*-{m}-q{q}.npy"))]
            val = [Clip(p.with_suffix("")) for p in sorted(OUT.glob(f"val-*-{m}-q{q}.npy"))]
            levels = val[0].x.shape[1]
            n_val = np.array([c.indices for c in val], np.float64)
            maps = {}
            for l in range(levels):
                maps.update(code_maps_for(train, l))
            print(f"\n## model {m}, quality {q}: v1's binary syntax, emulated\n")
            print("v1 coder, the files: " + ", ".join(
                f"{short(c)} {c.bytes * 8 / c.indices:.3f}" for c in val)
                + f"; pooled {sum(c.bytes for c in val) * 8 / n_val.sum():.3f} bits/index\n")
            cols = " | ".join(f"L{l + 1}" for l in range(levels))
            print(f"| syntax and contexts | {cols} | all levels | per clip: "
                  + ", ".join(short(c) for c in val) + " |")
            print("|---|" + "---|" * levels + "---|---|")
            for i, v in enumerate(BINARY):
                if only and str(i) not in only:
                    continue
                per = [v.bits(train, val, l, maps) for l in range(levels)]
                n = n_val.sum() / levels
                cells = [f"{b.sum() / n:.3f}" for b in per]
                tot = sum(per)
                print(f"| {v.name} | " + " | ".join(cells) + f" | **{tot.sum() / n_val.sum():.3f}**"
                      " | " + ", ".join(f"{b / k:.3f}" for b, k in zip(tot, n_val)) + " |",
                      flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("prepare", "analyse", "binary"):
        p = sub.add_parser(name)
        p.add_argument("--models", default="base,lite")
        p.add_argument("--qualities", default="100,80")
        p.add_argument("--positions", type=int, default=150_000,
                       help="latent positions per training clip sample (prepare)")
        p.add_argument("--variants", default="",
                       help="analyse only these rows of the table (0-based, comma-separated)")
    a = ap.parse_args()
    a.models = a.models.split(",")
    a.qualities = [int(q) for q in a.qualities.split(",")]
    {"prepare": prepare, "analyse": analyse, "binary": analyse_binary}[a.cmd](a)


if __name__ == "__main__":
    main()
