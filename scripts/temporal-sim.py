#!/usr/bin/env python3
"""Issue 16 measurement: does predicting a delta frame's latent from the previous decoded
latent pay, against today's per-level skip? A simulation on dumped latents (numpy only).

Input: a folder from `vqcodec-lab latents CLIP --weights W.vqw -o DIR` holding latents.npy
(f32 [frames, h, w, D]) and codebooks.npy (f32 [L, K, D]).

Schemes (delta frames; frame 0 is the same intra keyframe for all; closed loop: each scheme
predicts from its own decoded previous frame):
  A  today, simplified: greedy RVQ per position; at each level the previous frame's index at
     that level/position may be reused (skip flag) when its error + λ·bits is lower; depth per
     position by RD (stop flags).
  B  per position one mode: intra (A without skips); copy (ẑ_{t−1}(p), nothing else coded);
     or s ∈ {0,2,4,6}: greedy RVQ of z_t − ẑ_{t−1}(p) with the levels s..d−1 (d > s), the
     levels' own codebooks.
  C  B, with the prediction also taken from ẑ_{t−1} shifted by ±1 latent position in x or y
     (edge positions clamp): a shift symbol per copy/inter position.
  I  every frame intra (what a keyframe costs once the models have learned the statistics).

Bits: adaptive models, Krichevsky–Trofimov (+0.5 prior) code lengths, exact for sequential
adaptive coding (the KT code length does not depend on the order of the symbols). Models: an
index model per level (keyframe, delta-intra and inter residuals apart); flags with the
format's contexts (skip: [level][left + above][lower]; stop: [level][class][ended]); mode:
[#copy neighbours + 3·(any intra neighbour)]; shift: [left's shift]. The encoder's RD choices
use the models' state at the start of the frame, marginalized over the neighbour contexts (A's
skip keeps its "lower" context). Left out for every scheme: the format's same-as-left/above
index flags. Distortion: squared latent error summed over D, mean over positions; "PSNR~" =
10·log10(3·64 / that): an approximation for [0,1] pixels through the model's near-orthonormal
linear path (plain RVQ with 1..12 levels, lite64L, carphone: within 0.3 dB of the measured
PSNR-Y, 2.2 dB above PSNR-RGB; coinpen: up to 3 dB off PSNR-Y).
"""

import argparse
import math
import sys
import time

import numpy as np

SHIFTS = [(0, 0), (0, -1), (0, 1), (-1, 0), (1, 0)]
STARTS = [0, 2, 4, 6]
MODES = ["intra", "copy"] + [f"s{s}" for s in STARTS]
BIG = 1 << 20
_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def lg(x):
    return np.array(_lgamma(np.asarray(x, dtype=np.float64)), dtype=np.float64)


class Model:
    """Adaptive categorical models (KT, +0.5 prior): counts [contexts..., k]."""

    def __init__(self, shape, k):
        self.k = k
        self.c = np.zeros(tuple(shape) + (k,))

    def cost(self, marginal=()):
        """Bits per symbol, summing the counts over the context axes `marginal`."""
        c = self.c.sum(axis=marginal) if marginal else self.c
        return -np.log2((c + 0.5) / (c.sum(-1, keepdims=True) + 0.5 * self.k))

    def _len(self, c):
        n = c.sum(-1)
        nats = -(lg(c + 0.5) - math.lgamma(0.5)).sum(-1) + lg(n + 0.5 * self.k) - math.lgamma(0.5 * self.k)
        return float(nats.sum()) / math.log(2)

    def add(self, counts):
        """Adds symbol counts; returns their sequential adaptive code length in bits."""
        before = self._len(self.c)
        self.c = self.c + counts
        return self._len(self.c) - before


def tally(shape, k, ctx, sym, sel):
    """Counts [shape..., k] of symbols sym at context tuples ctx over the positions sel."""
    out = np.zeros(tuple(shape) + (k,))
    np.add.at(out, tuple(c[sel] for c in ctx) + (sym[sel],), 1)
    return out


def neighbours(a, hw, fill):
    g = a.reshape(hw)
    left, above = np.full_like(g, fill), np.full_like(g, fill)
    left[:, 1:], above[1:] = g[:, :-1], g[:-1]
    return left.ravel(), above.ravel()


class Quantizer:
    def __init__(self, cb):
        self.cb = cb.astype(np.float32)
        self.cbt = [np.ascontiguousarray(c.T) for c in self.cb]
        self.n2 = (self.cb.astype(np.float64) ** 2).sum(-1).astype(np.float32)
        self.L, self.K, self.D = cb.shape

    def nearest(self, r, l):
        return np.argmin(self.n2[l] - 2.0 * (r @ self.cbt[l]), axis=1)

    def path(self, r, s):
        """Greedy RVQ of r with levels s..L−1: indices [N, L−s], errors after 0..L−s levels."""
        idx, err = [], [(r * r).sum(1)]
        for l in range(s, self.L):
            i = self.nearest(r, l)
            r = r - self.cb[l][i]
            idx.append(i)
            err.append((r * r).sum(1))
        return np.stack(idx, 1), np.stack(err, 1)

    def decode(self, idx, base):
        """base + the codes of idx [N, L] (−1: none)."""
        out = base.copy()
        for l in range(self.L):
            m = idx[:, l] >= 0
            out[m] += self.cb[l][idx[m, l]]
        return out


def depth_choice(q, err, idx, s, lam, idx_cost, stop_cost, fixed_bits, min_depth):
    """RD depth d ∈ [min_depth, L] (min_depth > s) for a path from level s: (cost, depth).
    idx_cost [L, K]: bits of an index; stop_cost [L, 2]: bits of continue/stop, coded at the
    levels min_depth.. (a position codes levels s..min_depth−1 unconditionally)."""
    n, L = len(err), q.L
    lev = np.zeros((n, L - s + 1))
    for j in range(L - s):
        l = s + j
        lev[:, j + 1] = idx_cost[l][idx[:, j]] + stop_cost[l, 0] * (l >= min_depth)
    stop = np.array([stop_cost[s + j, 1] if s + j < L else 0.0 for j in range(L - s + 1)])
    total = err + lam * (np.cumsum(lev, 1) + stop + fixed_bits[:, None])
    lo = min_depth - s
    j = np.argmin(total[:, lo:], 1) + lo
    return total[np.arange(n), j], s + j


def full(idx, s, depth, L):
    """Path indices [N, L−s] from level s to [N, L] with −1 outside s..depth−1."""
    out = np.full((len(idx), L), -1)
    lv = np.arange(L)[None, :]
    out[:, s:] = idx
    return np.where((lv >= s) & (lv < depth[:, None]), out, -1)


def level_counts(q, hw, idx, depth, first_flag, sel):
    """Index counts [L, K] and stop-flag counts [L, 3 (ended), 2] of the positions sel: indices
    idx [N, L] (−1: none), flags at levels first_flag[p]..depth[p] (stop at depth < L)."""
    ld, ad = neighbours(depth, hw, BIG)
    ci, cs = np.zeros((q.L, q.K)), np.zeros((q.L, 3, 2))
    for l in range(q.L):
        m = sel & (idx[:, l] >= 0)
        ci[l] = np.bincount(idx[m, l], minlength=q.K)
        flag = sel & (l >= first_flag) & (depth >= l)
        ended = (ld <= l).astype(int) + (ad <= l)
        cs[l] = tally((3,), 2, (ended,), (depth == l).astype(int), flag)
    return ci, cs


class IntraModels:
    def __init__(self, q):
        self.idx, self.stop = Model((q.L,), q.K), Model((q.L, 3), 2)


def intra_frame(q, z, path, lam, m, hw, passes=1):
    """Intra frame: RD depth on the greedy path. passes > 1 re-decide with the costs the last
    pass's counts give (for a keyframe, whose models start empty)."""
    idx, err = path
    n = len(z)
    costs = m.idx.cost(), m.stop.cost((1,))
    for _ in range(passes):
        _, depth = depth_choice(q, err, idx, 0, lam, costs[0], costs[1], np.zeros(n), 1)
        fi = full(idx, 0, depth, q.L)
        ci, cs = level_counts(q, hw, fi, depth, np.ones(n, int), np.ones(n, bool))
        ti, ts = Model((q.L,), q.K), Model((q.L, 3), 2)
        ti.c, ts.c = m.idx.c + ci, m.stop.c + cs
        costs = ti.cost(), ts.cost((1,))
    bits = m.idx.add(ci) + m.stop.add(cs)
    return q.decode(fi, np.zeros_like(z)), fi, depth, bits


def scheme_a_frame(q, z, ref, lam, m, hw):
    """Today's scheme: ref [N, L] the previous decoded indices (−1: none)."""
    n, L = len(z), q.L
    ic, sc, kc = m["idx"].cost(), m["stop"].cost((2,)), m["skip"].cost((1,))
    r = z.copy()
    e = (r * r).sum(1)
    bits = np.zeros(n)
    best, bestd = np.full(n, np.inf), np.zeros(n, int)
    choice, skipped = np.zeros((n, L), int), np.zeros((n, L), bool)
    lower = np.zeros(n, int)
    for l in range(L):
        hasr = ref[:, l] >= 0
        h = hasr.astype(int)
        no_skip = np.where(hasr, kc[l, lower, 0], 0)
        if l >= 1:  # stop here: depth l
            c = e + lam * (bits + no_skip + sc[l, h, 1])
            better = c < best
            best[better], bestd[better] = c[better], l
        i = q.nearest(r, l)
        rn = r - q.cb[l][i]
        en = (rn * rn).sum(1)
        rs = r - q.cb[l][np.maximum(ref[:, l], 0)]
        es = (rs * rs).sum(1)
        bn = ic[l][i] + no_skip + (sc[l, h, 0] if l > 0 else 0)
        bs = kc[l, lower, 1]
        sk = hasr & (es + lam * bs < en + lam * bn)
        r = np.where(sk[:, None], rs, rn)
        e = np.where(sk, es, en)
        bits = bits + np.where(sk, bs, bn)
        choice[:, l] = np.where(sk, ref[:, l], i)
        skipped[:, l] = sk
        lower = sk.astype(int)
    better = e + lam * bits < best
    bestd[better] = L
    # what is coded, with the format's contexts
    lv = np.arange(L)[None, :]
    skipped &= lv < bestd[:, None]
    ld, ad = neighbours(bestd, hw, BIG)
    ci, cs, ck = np.zeros((L, q.K)), np.zeros((L, 2, 3, 2)), np.zeros((L, 3, 2, 2))
    for l in range(L):
        hasr = ref[:, l] >= 0
        reach = bestd >= l
        sl, sa = neighbours(skipped[:, l].astype(int), hw, 0)
        low = skipped[:, l - 1].astype(int) if l > 0 else np.zeros(n, int)
        ck[l] = tally((3, 2), 2, (sl + sa, low), skipped[:, l].astype(int), hasr & reach)
        new = (bestd > l) & ~skipped[:, l]
        ci[l] = np.bincount(choice[new, l], minlength=q.K)
        if l > 0:
            flag = (new | (bestd == l))
            ended = (ld <= l).astype(int) + (ad <= l)
            cs[l] = tally((2, 3), 2, (hasr.astype(int), ended), (bestd == l).astype(int), flag)
    b = m["idx"].add(ci) + m["stop"].add(cs) + m["skip"].add(ck)
    nref = np.where(lv < bestd[:, None], choice, -1)
    dec = q.decode(nref, np.zeros_like(z))
    return dec, nref, b, {"skip": skipped.sum() / bestd.sum(), "depth": bestd.mean()}


def shifted(prev, hw, dy, dx):
    h, w = hw
    p = prev.reshape(h, w, -1)
    ys, xs = np.clip(np.arange(h) + dy, 0, h - 1), np.clip(np.arange(w) + dx, 0, w - 1)
    return p[ys][:, xs].reshape(h * w, -1)


def predictive_frame(q, z, ipath, prev, hw, lam, m, shifts):
    """Schemes B (shifts = [(0, 0)]) and C (five shifts)."""
    n, L = len(z), q.L
    mc = m["mode"].cost((0,))
    shc = m["shift"].cost((0,)) if len(shifts) > 1 else np.zeros(len(shifts))
    ii, ie = ipath
    best, bestd = depth_choice(q, ie, ii, 0, lam, m["intra"].idx.cost(),
                               m["intra"].stop.cost((1,)), np.full(n, mc[0]), 1)
    cand = np.zeros(n, int)
    cands = [(0, ii, np.zeros_like(z), 0, 0)]  # (start, path indices, base, mode, shift)
    icost, scost = m["inter_idx"].cost(), m["inter_stop"].cost((1,))
    for k, (dy, dx) in enumerate(shifts):
        pred = shifted(prev, hw, dy, dx)
        res = z - pred
        c = (res * res).sum(1) + lam * (mc[1] + shc[k])  # copy
        better = c < best
        best[better], bestd[better], cand[better] = c[better], 0, len(cands)
        cands.append((0, np.zeros((n, L), int), pred, 1, k))
        for si, s in enumerate(STARTS):
            idx, err = q.path(res, s)
            c, d = depth_choice(q, err, idx, s, lam, icost, scost,
                                np.full(n, mc[2 + si] + shc[k]), s + 1)
            better = c < best
            best[better], bestd[better], cand[better] = c[better], d[better], len(cands)
            cands.append((s, idx, pred, 2 + si, k))
    fidx, base = np.full((n, L), -1), np.zeros_like(z)
    mode, shift, first = np.zeros(n, int), np.zeros(n, int), np.ones(n, int)
    for j, (s, idx, b, md, k) in enumerate(cands):
        sel = cand == j
        fidx[sel] = full(idx[sel], s, bestd[sel], L)
        base[sel], mode[sel], shift[sel], first[sel] = b[sel], md, k, s + 1
    dec = q.decode(fidx, base)
    intra = mode == 0
    inter = mode >= 2
    bits = 0.0
    for sel, mm in ((intra, m["intra"]), (inter, None)):
        ci, cs = level_counts(q, hw, fidx, bestd, first, sel)
        if mm is None:
            bits += m["inter_idx"].add(ci) + m["inter_stop"].add(cs)
        else:
            bits += mm.idx.add(ci) + mm.stop.add(cs)
    cl, ca = neighbours(mode, hw, -1)
    ctx = (cl == 1).astype(int) + (ca == 1) + 3 * ((cl == 0) | (ca == 0))
    bits += m["mode"].add(tally((6,), len(MODES), (ctx,), mode, np.ones(n, bool)))
    if len(shifts) > 1:
        sl, _ = neighbours(np.where(intra, len(shifts), shift), hw, len(shifts))
        bits += m["shift"].add(tally((len(shifts) + 1,), len(shifts), (sl,), shift, ~intra))
    stats = {k: float((mode == i).mean()) for i, k in enumerate(MODES)}
    stats["shifted"] = float((shift > 0).mean())
    return dec, bits, stats


def mse(a, b):
    return float(((a.astype(np.float64) - b) ** 2).sum(1).mean())


def psnr(m):
    return 10 * math.log10(3 * 64 / m)


def mean_stats(st):
    return {k: float(np.mean([s[k] for s in st])) for k in st[0]} if st else {}


def run(z, q, lam, ipaths, hw):
    T = len(z)
    kdec, kidx, kdepth, kbits = intra_frame(q, z[0], ipaths[0], lam, IntraModels(q), hw, passes=3)
    out = {"key": (kbits, mse(z[0], kdec), {})}
    ma = {"idx": Model((q.L,), q.K), "stop": Model((q.L, 2, 3), 2), "skip": Model((q.L, 3, 2), 2)}
    ref, bits, err, st = kidx, [], [], []
    for t in range(1, T):
        dec, ref, b, s = scheme_a_frame(q, z[t], ref, lam, ma, hw)
        bits.append(b), err.append(mse(z[t], dec)), st.append(s)
    out["A"] = (np.mean(bits), np.mean(err), mean_stats(st))
    for name, shifts in (("B", SHIFTS[:1]), ("C", SHIFTS)):
        m = {"intra": IntraModels(q), "inter_idx": Model((q.L,), q.K),
             "inter_stop": Model((q.L, 3), 2), "mode": Model((6,), len(MODES)),
             "shift": Model((len(shifts) + 1,), len(shifts))}
        prev, bits, err, st = kdec, [], [], []
        for t in range(1, T):
            prev, b, s = predictive_frame(q, z[t], ipaths[t], prev, hw, lam, m, shifts)
            bits.append(b), err.append(mse(z[t], prev)), st.append(s)
        out[name] = (np.mean(bits), np.mean(err), mean_stats(st))
    mi, bits, err = IntraModels(q), [], []
    for t in range(1, T):
        dec, _, _, b = intra_frame(q, z[t], ipaths[t], lam, mi, hw)
        bits.append(b), err.append(mse(z[t], dec))
    out["I"] = (np.mean(bits), np.mean(err), {})
    return out


def interp_rate(curve, p):
    """Rate at PSNR p on a curve [(bits, psnr)], log-rate linear in PSNR; None outside."""
    c = sorted(curve, key=lambda x: x[1])
    ps = [x[1] for x in c]
    if p < ps[0] - 1e-9 or p > ps[-1] + 1e-9:
        return None
    return math.exp(np.interp(p, ps, [math.log(x[0]) for x in c]))


def report(name, T, hwd, q, rows, seconds):
    h, w, D = hwd
    print(f"### {name}: {T} frames ({T - 1} delta), start levels {STARTS}, latent {h}×{w}×{D}, codebooks {q.L}×{q.K}×{q.D}\n")
    print("bits per frame / latent MSE per position / PSNR~ dB (delta frames: means over them)\n")
    print("| λ | keyframe (frame 0) | I (all intra) | A (skip) | B (predict) | C (predict ±1) |")
    print("|---|---|---|---|---|---|")
    cell = lambda v: f"{v[0]:,.0f} / {v[1]:.4f} / {psnr(v[1]):.2f}"
    for lam, o in rows:
        print(f"| {lam:g} | " + " | ".join(cell(o[k]) for k in ("key", "I", "A", "B", "C")) + " |")
    print("\nchoices: A = skipped share of coded levels / mean depth; B, C = share of positions "
          "per mode (C: and with a nonzero shift)\n")
    print("| λ | A skip / depth | B " + " / ".join(MODES) + " | C " + " / ".join(MODES) + " / shifted |")
    print("|---|---|---|---|")
    f = lambda s, ks: " / ".join(f"{s[k]:.2f}" for k in ks)
    for lam, o in rows:
        print(f"| {lam:g} | {o['A'][2]['skip']:.2f} / {o['A'][2]['depth']:.1f} | "
              f"{f(o['B'][2], MODES)} | {f(o['C'][2], MODES + ['shifted'])} |")
    curves = {k: [(o[k][0], psnr(o[k][1])) for _, o in rows] for k in ("key", "I", "A", "B", "C")}
    print("\nat equal PSNR~ (at A's points; log-rate interpolated linearly in PSNR between λ "
          "points; – outside the measured range)\n")
    print("| PSNR~ | A bits | B vs A | C vs A | A / I | B / I | C / I | A / key | B / key | C / key |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ra, pa in sorted(curves["A"], key=lambda x: -x[1]):
        def rel(x, y, minus=0):
            rx, ry = interp_rate(curves[x], pa), interp_rate(curves[y], pa)
            return "–" if rx is None or ry is None else (f"{rx / ry - 1:+.0%}" if minus else f"{rx / ry:.0%}")
        print(f"| {pa:.2f} | {ra:,.0f} | {rel('B', 'A', 1)} | {rel('C', 'A', 1)} | {rel('A', 'I')} | "
              f"{rel('B', 'I')} | {rel('C', 'I')} | {rel('A', 'key')} | {rel('B', 'key')} | {rel('C', 'key')} |")
    print(f"\n({seconds:.0f} s)\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--lambdas", default="3e-4,1e-3,3e-3,1e-2,3e-2,1e-1")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--starts", default="0,2,4,6", help="inter modes' start levels")
    a = ap.parse_args()
    STARTS[:] = [int(x) for x in a.starts.split(",")]
    MODES[:] = ["intra", "copy"] + [f"s{s}" for s in STARTS]
    z = np.load(f"{a.dir}/latents.npy").astype(np.float32)
    q = Quantizer(np.load(f"{a.dir}/codebooks.npy"))
    if a.frames:
        z = z[: a.frames]
    T, h, w, D = z.shape
    z = z.reshape(T, h * w, D)
    t0 = time.time()
    ipaths = [q.path(z[t], 0) for t in range(T)]
    rows = []
    for lam in [float(x) for x in a.lambdas.split(",")]:
        rows.append((lam, run(z, q, lam, ipaths, (h, w))))
        print(f"λ={lam:g} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    report(a.dir, T, (h, w, D), q, rows, time.time() - t0)


if __name__ == "__main__":
    main()
