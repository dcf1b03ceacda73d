#!/usr/bin/env python3
"""Issue 15: what deeper RVQ levels cost against a uniform scalar quantizer of what the first
levels leave (entropy-coded integers per latent value), per position of a model's latents.

  vqcodec-lab latents data/y4m/CLIP.y4m --weights W --frames N -o /tmp/lat/CLIP   (each clip)
  python3 scripts/scalar-refinement.py /tmp/lat/CLIP…

Intra only (each frame's latent alone). For each clip apart and for all together: the rate (bits per latent position) and the latent
squared error per position of
  - plain RVQ, every depth k = 1..L (nearest code per level, as quality 100 codes), the rate
    the empirical entropy of each level's indices (no context: an optimistic count, the coder's
    contexts win a few percent, docs/results/entropy-v2.md);
  - RVQ with a depth per position: each position stops where err + λ·bits is least (its
    indices' code lengths under each level's empirical distribution, one stop flag per level
    it passes), as the encoder's RD choice does, for a range of λ;
  - RVQ to depth k, then each of the D residual values rounded to a multiple of a step Δ
    (round to nearest with a dead zone of `--deadzone`, the integers' rate the empirical entropy
    per latent channel, plus one flag per position that says whether any integer is non-zero).
Distortion as "latent dB": 10·log10(the latent's variance per position / squared error).
The entropy of every set of symbols is counted on the same data it codes: an adaptive coder
pays more on few symbols; with 256-symbol RVQ levels that favours the RVQ more than the
integers (a few symbols each), so the comparison is, if anything, kind to plain RVQ.
Needs numpy.
"""
import sys

import numpy as np


def entropy_bits(symbols):
    """Total bits of the symbols under their own empirical distribution."""
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())


def rvq(z, cb):
    """Nearest-code RVQ: the residual after each depth and the indices per level."""
    r = z.copy()
    residuals, indices = [r.copy()], []
    for c in cb:
        d = (r**2).sum(1)[:, None] - 2 * r @ c.T + (c**2).sum(1)[None, :]
        i = np.argmin(d, 1)
        r = r - c[i]
        residuals.append(r.copy())
        indices.append(i)
    return residuals, indices


def scalar_rate(q):
    """Bits of integer residuals q (n × D): a per-position any-non-zero flag, then per channel
    the integers of the positions whose flag is set."""
    nz = np.any(q != 0, axis=1)
    bits = entropy_bits(nz.astype(np.int8)) if 0 < nz.sum() < len(nz) else 0.0
    for ch in range(q.shape[1]):
        if nz.any():
            bits += entropy_bits(q[nz, ch])
    return bits


def hull(points):
    """Lower-left convex hull of (rate, dB) points: the best dB for each rate."""
    pts = sorted(points)
    out = []
    for p in pts:
        if out and p[1] <= out[-1][1]:
            continue
        while len(out) >= 2:
            (r1, d1), (r2, d2) = out[-2], out[-1]
            if (d2 - d1) * (p[0] - r1) <= (p[1] - d1) * (r2 - r1):
                out.pop()
            else:
                break
        out.append(p)
    return out


def at_rate(curve, rate):
    """dB at a rate on a hull (linear between points), None outside it."""
    for (r1, d1), (r2, d2) in zip(curve, curve[1:]):
        if r1 <= rate <= r2:
            return d1 + (d2 - d1) * (rate - r1) / (r2 - r1)
    return None


def at_db(curve, db):
    """Rate at a dB on a hull, None outside it."""
    for (r1, d1), (r2, d2) in zip(curve, curve[1:]):
        if d1 <= db <= d2:
            return r1 + (r2 - r1) * (db - d1) / (d2 - d1)
    return None


def study(name, z, cb, deadzone, steps, depths):
    n = len(z)
    var = float(((z - z.mean(0)) ** 2).sum(1).mean())
    residuals, indices = rvq(z, cb)
    level_bits = [entropy_bits(i) / n for i in indices]
    db = lambda err: 10 * np.log10(var / max(err, 1e-12))
    plain = [(0.0, 0.0)]
    for k in range(1, len(cb) + 1):
        plain.append((sum(level_bits[:k]), db(float((residuals[k] ** 2).sum(1).mean()))))
    # RVQ with a depth per position: each position stops where err_k + λ·bits_k is least, bits_k
    # its indices' code lengths under each level's empirical distribution plus one stop flag per
    # level it passes (entropy of the flags), the distributions re-counted once from the choices
    errs = np.stack([(r**2).sum(1) for r in residuals], 1)  # n × (L+1)
    stopped = []
    for lam in [3e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2, 6.4e-2, 0.128]:
        depth = np.full(n, len(cb))
        for _ in range(2):
            cost = np.zeros((n, len(cb) + 1))
            for lvl, idx in enumerate(indices):
                sel = idx[depth > lvl]
                counts = np.bincount(sel, minlength=256) + 0.5
                code = -np.log2(counts / counts.sum())
                reach = (depth >= lvl).sum()
                p_go = max((depth > lvl).sum(), 0.5) / max(reach, 1)
                flag_go, flag_stop = -np.log2(min(p_go, 1 - 1e-6)), -np.log2(max(1 - p_go, 1e-6))
                cost[:, lvl + 1] = cost[:, lvl] + flag_go + code[idx]
                cost[:, lvl] += flag_stop
            depth = np.argmin(errs + lam * cost, 1)
        bits = cost[np.arange(n), depth].mean()
        stopped.append((float(bits), db(float(errs[np.arange(n), depth].mean()))))
    hybrid = []
    for k in depths:
        r = residuals[k]
        for step in steps:
            q = np.sign(r) * np.maximum(np.floor(np.abs(r) / step + 0.5 - deadzone), 0)
            err = float(((r - q * step) ** 2).sum(1).mean())
            hybrid.append((sum(level_bits[:k]) + scalar_rate(q.astype(np.int64)) / n, db(err), k, step))
    print(f"\n## {name}: {n} positions × {z.shape[1]}, latent variance {var:.3f} per position")
    print("plain RVQ, bits/position and latent dB per depth: " +
          ", ".join(f"{k}: {r:.1f} b {d:.2f} dB" for k, (r, d) in enumerate(plain) if k))
    h_plain = hull(plain)
    h_hyb = hull([(r, d) for r, d, _, _ in hybrid] + plain[:1])
    best = {}
    for r, d, k, s in hybrid:
        for hr, hd in h_hyb:
            if hr == r and hd == d:
                best[(r, d)] = (k, s)
    print("hybrid hull (bits, dB, depth k, step Δ): " +
          ", ".join(f"{r:.1f} b {d:.2f} dB k{best[(r, d)][0]} Δ{best[(r, d)][1]:g}" for r, d in h_hyb if (r, d) in best))
    print("at equal latent dB, hybrid bits / plain RVQ bits:")
    rows = []
    for k, (r, d) in enumerate(plain):
        if k == 0:
            continue
        hr = at_db(h_hyb, d)
        rows.append(f"  depth {k:2d} ({d:5.2f} dB): plain {r:6.1f} b, hybrid {hr:6.1f} b ({100 * (hr / r - 1):+.1f}%)"
                    if hr else f"  depth {k:2d} ({d:5.2f} dB): plain {r:6.1f} b, hybrid outside its range")
    print("\n".join(rows))
    h_stop = hull(stopped + plain[:1])
    print("RVQ with a depth per position (bits, dB): " + ", ".join(f"{r:.1f} b {d:.2f} dB" for r, d in h_stop))
    for r, d in h_stop[1:]:
        hr = at_db(h_hyb, d)
        if hr:
            print(f"  at {d:5.2f} dB: per-position depth {r:6.1f} b, hybrid {hr:6.1f} b ({100 * (hr / r - 1):+.1f}%)")
    top = h_plain[-1][0]
    hd = at_rate(h_hyb, top)
    if hd is not None:
        print(f"at plain RVQ's top rate ({top:.1f} b): plain {h_plain[-1][1]:.2f} dB, hybrid {hd:.2f} dB")
    return plain, hybrid


def main():
    args = sys.argv[1:]
    deadzone = 0.2
    if "--deadzone" in args:
        i = args.index("--deadzone")
        deadzone = float(args[i + 1])
        del args[i : i + 2]
    steps = [0.02, 0.03, 0.04, 0.06, 0.08, 0.11, 0.16, 0.22, 0.32, 0.45, 0.64]
    zs, cb = [], None
    for d in args:
        z = np.load(d + "/latents.npy")
        cb = np.load(d + "/codebooks.npy").astype(np.float64)
        zs.append((d.rstrip("/").split("/")[-1], z.reshape(-1, z.shape[-1]).astype(np.float64)))
    depths = [0, 1, 2, 3, 4, 6]
    for name, z in zs:
        study(name, z, cb, deadzone, steps, depths)
    if len(zs) > 1:
        study("all together", np.concatenate([z for _, z in zs]), cb, deadzone, steps, depths)


if __name__ == "__main__":
    main()
