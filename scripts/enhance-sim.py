#!/usr/bin/env python3
"""What a linear enhancement could add to a model's picture (docs/results/enhance.md).

Reads the frames `vqcodec-lab ceiling --dump DIR` writes (u8 [frames, H, W, 3] .npy: CLIP-source,
CLIP-MODEL-unquantized, CLIP-MODEL-L{depth}) for training clips (TRAIN_DIR) and validation clips
(VAL_DIR). Fits K directions to the training residual blocks (8x8x3, second moments, no mean),
then reports per validation clip (PSNR-Y, BT.601 from RGB):

  * the ceiling: the model's picture plus the residual's projection on the K directions, against
    its unquantized picture and against its deepest RVQ rung (the residual taken against that
    rung's picture: closed loop), and a plain PCA of the source with K values for comparison;
  * with --levels N --codes C: the residual's K values (against the deepest rung) coded by N
    more RVQ levels of C codes (k-means on the training values, level by level, every block to
    full depth), PSNR-Y and the levels' empirical entropy in bits per block after each level;
  * with --steps D1,D2,...: the same K values scalar-quantized instead (one uniform step D for
    all, rounding to the nearest multiple; orthonormal directions, so one step is what squared
    error asks), PSNR-Y and the sum over the K values of their integer levels' empirical
    entropy in bits per block — the same static, per-clip estimate as the levels' (optimistic
    for both: no model adapts that well, no side information).

  python3 scripts/enhance-sim.py TRAIN_DIR VAL_DIR [--model lite] [--k 48] [--levels 12 --codes 256]
      [--steps 0.01,0.02,0.04]
"""
import argparse
import glob
import os

import numpy as np


def blocks(a):
    f, h, w, _ = a.shape
    h, w = h // 8, w // 8
    return a[:, :h * 8, :w * 8].reshape(f, h, 8, w, 8, 3).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 192)


def unblocks(b, shape):
    f, h, w, _ = shape
    h, w = h // 8, w // 8
    return b.reshape(f, h, w, 8, 8, 3).transpose(0, 1, 3, 2, 4, 5).reshape(f, h * 8, w * 8, 3)


def psnr_y(a, b):
    wts = np.array([65.481, 128.553, 24.966], dtype=np.float32)
    mse = (((a - b) @ wts) ** 2).mean(axis=(1, 2))
    return float(np.mean(10 * np.log10(255 ** 2 / np.maximum(mse, 1e-10))))


def load(p):
    return np.load(p).astype(np.float32) / 255


def crop8(a):
    return a[:, :a.shape[1] // 8 * 8, :a.shape[2] // 8 * 8]


def nearest(x, cb):
    return ((cb * cb).sum(1)[None] - 2 * x @ cb.T).argmin(1)


def entropy(idx, n):
    p = np.bincount(idx, minlength=n) / len(idx)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def directions(rows, k):
    """The top k eigenvectors of the blocks' second moments (192 x k), and their energy's share."""
    ev, v = np.linalg.eigh(rows.T @ rows)
    return v[:, ::-1][:, :k].astype(np.float32), ev[::-1][:k].sum() / ev.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('train')
    ap.add_argument('val')
    ap.add_argument('--model', default='lite')
    ap.add_argument('--k', type=int, default=48)
    ap.add_argument('--levels', type=int, default=0)
    ap.add_argument('--codes', type=int, default=256)
    ap.add_argument('--iters', type=int, default=12)
    ap.add_argument('--steps', default='')
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    deepest = None
    unq, closed = [], []
    for s in sorted(glob.glob(os.path.join(a.train, '*-source.npy'))):
        c = s[:-len('-source.npy')]
        src = load(s)
        unq.append(blocks(src - load(f'{c}-{a.model}-unquantized.npy')))
        deepest = deepest or sorted(glob.glob(f'{c}-{a.model}-L*.npy'))[0].rsplit('-', 1)[1][:-4]
        closed.append(blocks(src - load(f'{c}-{a.model}-{deepest}.npy')))
    basis = {}
    for name, rows in (('unq', np.concatenate(unq)), ('closed', np.concatenate(closed))):
        basis[name], kept = directions(rows, a.k)
        print(f'{name}: {len(rows)} training blocks, {a.k} directions keep {100 * kept:.1f}% of the energy')
    src_rows = np.concatenate([blocks(load(s)) for s in sorted(glob.glob(os.path.join(a.train, '*-source.npy')))])
    ev, v = np.linalg.eigh(np.cov(src_rows.T))
    pca, mean = v[:, ::-1][:, :a.k], src_rows.mean(0)
    books = []
    if a.levels:
        res = (np.concatenate(closed) @ basis['closed']).astype(np.float32)
        for _ in range(a.levels):
            sub = res[rng.choice(len(res), min(len(res), 200000), replace=False)]
            cb = sub[rng.choice(len(sub), a.codes, replace=False)].copy()
            for _ in range(a.iters):
                i = nearest(sub, cb)
                cnt = np.bincount(i, minlength=a.codes)
                sums = np.zeros_like(cb)
                np.add.at(sums, i, sub)
                cb[cnt > 0] = sums[cnt > 0] / cnt[cnt > 0][:, None]
            books.append(cb)
            res = res - cb[nearest(res, cb)]
    for s in sorted(glob.glob(os.path.join(a.val, '*-source.npy'))):
        c = s[:-len('-source.npy')]
        clip = os.path.basename(c)
        src = crop8(load(s))
        u = crop8(load(f'{c}-{a.model}-unquantized.npy'))
        q = crop8(load(f'{c}-{a.model}-{deepest}.npy'))
        L, Lc = basis['unq'], basis['closed']
        rec_u = u + unblocks(blocks(src - u) @ L @ L.T, src.shape)
        rec_q = q + unblocks(blocks(src - q) @ Lc @ Lc.T, src.shape)
        lin = unblocks((blocks(src) - mean) @ pca @ pca.T + mean, src.shape)
        print(f'{clip}: unquantized {psnr_y(u, src):.2f}, {deepest} {psnr_y(q, src):.2f}; with {a.k} values: '
              f'unquantized + residual {psnr_y(rec_u, src):.2f}, {deepest} + residual {psnr_y(rec_q, src):.2f}; '
              f'plain PCA {psnr_y(lin, src):.2f}')
        if books:
            e = blocks(src - q) @ Lc
            rec, r, bits, row = np.zeros_like(e), e.copy(), 0.0, []
            for n, cb in enumerate(books):
                i = nearest(r, cb)
                rec += cb[i]
                r -= cb[i]
                bits += entropy(i, a.codes)
                row.append(f'+{n + 1}: {psnr_y(q + unblocks(rec @ Lc.T, src.shape), src):.2f} ({bits:.1f} b)')
            print('   ', ' '.join(row))
        if a.steps:
            e = blocks(src - q) @ Lc
            row = []
            for step in (float(x) for x in a.steps.split(',')):
                levels = np.rint(e / step).astype(np.int64)
                bits = sum(entropy(col - col.min(), int(col.max() - col.min()) + 1) for col in levels.T)
                rec = q + unblocks((levels * step).astype(np.float32) @ Lc.T, src.shape)
                row.append(f'step {step:g}: {psnr_y(rec, src):.2f} ({bits:.1f} b)')
            print('    scalar:', ' '.join(row))


if __name__ == '__main__':
    main()
