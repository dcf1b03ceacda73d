#!/usr/bin/env python3
"""What entropy-constrained assignment does with a model's codebooks held fixed: per RVQ level,
the entropy of the indices (bits) and the squared latent error per position, for a few λ.

  vqcodec-lab latents data/y4m/CLIP.y4m --weights lite --frames 8 -o /tmp/lat-CLIP   (each clip)
  python3 scripts/ecvq-fixed-codebooks.py /tmp/lat-CLIP… [--lambdas 0,3e-4,1e-3,3e-3,1e-2]

Each level assigns `argmin ‖r − c‖² + λ·bits(c)` with bits = −log2 of the codes' shares in the
previous assignment (three rounds from the nearest-code assignment), as `vqcodec-lab train
--rate-lambda` does with its EMA counts. Needs numpy.
"""
import sys

import numpy as np


def main():
    args = sys.argv[1:]
    lambdas = [0, 3e-4, 1e-3, 3e-3, 1e-2]
    if "--lambdas" in args:
        i = args.index("--lambdas")
        lambdas = [float(v) for v in args[i + 1].split(",")]
        del args[i : i + 2]
    zs, cb = [], None
    for d in args:
        z = np.load(d + "/latents.npy")
        cb = np.load(d + "/codebooks.npy").astype(np.float64)
        zs.append(z.reshape(-1, z.shape[-1]))
    z = np.concatenate(zs).astype(np.float64)
    levels, k, _ = cb.shape
    print(f"{len(z)} latent vectors from {len(args)} clips, codebooks {cb.shape}")

    def assign(r, c, penalty):
        d = (r**2).sum(1)[:, None] - 2 * r @ c.T + (c**2).sum(1)[None, :]
        return np.argmin(d + penalty[None, :], 1), d

    for lam in lambdas:
        r, out = z.copy(), []
        for level in range(levels):
            c = cb[level]
            idx, d = assign(r, c, np.zeros(k))
            for _ in range(3):
                counts = np.bincount(idx, minlength=k) + 0.01
                idx, d = assign(r, c, lam * -np.log2(counts / counts.sum()))
            counts = np.bincount(idx, minlength=k)
            p = counts[counts > 0] / len(idx)
            out.append((-(p * np.log2(p)).sum(), d[np.arange(len(idx)), idx].mean()))
            r = r - c[idx]
        levels_text = " | ".join(f"L{l} {h:.2f} bits, error {e:.4f}" for l, (h, e) in enumerate(out))
        print(f"λ {lam:g}: {levels_text} | total {sum(h for h, _ in out):.2f} bits, error {(r**2).sum(1).mean():.4f}")


if __name__ == "__main__":
    main()
