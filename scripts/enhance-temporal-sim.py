#!/usr/bin/env python3
"""How much of an enhancement's coefficients the previous frame predicts (docs/results/coefficients.md).

Reads the frames `vqcodec-lab ceiling --dump DIR` writes (as scripts/enhance-sim.py does):
fits K directions to the training clips' residual blocks (source minus the model's unquantized
picture, 8x8x3, second moments), then codes each validation clip's residual coefficients
closed loop with one uniform step, each frame predicted by

  * intra:       nothing (every frame on its own),
  * colocated:   the previous frame's decoded coefficients at the same block (what a copy of
                 the latent at the same position predicts),
  * mc:          the previous frame's decoded enhancement *picture* moved by the best whole-pixel
                 vector within +-R (pixel-domain motion compensation, chosen against the target),
  * mc+intra:    that or nothing, per block,

and reports per clip and step the bits per 8x8 block (the sum over the K coefficient indices of
their integer values' empirical entropy, plus the vectors' entropy: static per-clip estimates,
optimistic for every mode alike), the PSNR-Y of the model's unquantized picture plus the decoded
enhancement, and the share of nonzero coefficients.

  python3 scripts/enhance-temporal-sim.py TRAIN_DIR VAL_DIR [--k 48] [--range 3] [--steps 0.01,0.03]
"""
import argparse
import glob
import importlib.util
import os

import numpy as np

_spec = importlib.util.spec_from_file_location(
    'enhance_sim', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'enhance-sim.py'))
_es = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_es)
blocks, unblocks, psnr_y, load, crop8 = _es.blocks, _es.unblocks, _es.psnr_y, _es.load, _es.crop8


def entropy(x):
    _, cnt = np.unique(x, return_counts=True)
    p = cnt / cnt.sum()
    return float(-(p * np.log2(p)).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('train')
    ap.add_argument('val')
    ap.add_argument('--model', default='lite')
    ap.add_argument('--k', type=int, default=48)
    ap.add_argument('--range', type=int, default=3)
    ap.add_argument('--steps', default='0.01,0.03')
    a = ap.parse_args()
    rows = []
    for s in sorted(glob.glob(os.path.join(a.train, '*-source.npy'))):
        c = s[:-len('-source.npy')]
        rows.append(blocks(load(s) - load(f'{c}-{a.model}-unquantized.npy')))
    u, _ = _es.directions(np.concatenate(rows), a.k)
    r = a.range
    for s in sorted(glob.glob(os.path.join(a.val, '*-source.npy'))):
        c = s[:-len('-source.npy')]
        clip = os.path.basename(c)
        src, unq = crop8(load(s)), crop8(load(f'{c}-{a.model}-unquantized.npy'))
        f, h, w, _ = src.shape
        target = [blocks(src[t:t + 1] - unq[t:t + 1]) @ u for t in range(f)]
        cands = [(0, 0)] + [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                            if (dx, dy) != (0, 0)]
        for step in (float(x) for x in a.steps.split(',')):
            out = []
            for mode in ('intra', 'colocated', 'mc', 'mc+intra'):
                qs, mvs, ps = [], [], []
                prev_pic = prev_e = None
                for t in range(f):
                    e = target[t]
                    if t == 0 or mode == 'intra':
                        pred, mv = np.zeros_like(e), None
                    elif mode == 'colocated':
                        pred, mv = prev_e, None
                    else:
                        pad = np.pad(prev_pic[0], ((r, r), (r, r), (0, 0)), mode='edge')
                        preds = np.stack([blocks(pad[r + dy:r + dy + h, r + dx:r + dx + w][None]) @ u
                                          for dx, dy in cands])
                        err = ((preds - e[None]) ** 2).sum(-1)
                        if mode == 'mc+intra':
                            preds = np.concatenate([preds, np.zeros_like(preds[:1])])
                            err = np.concatenate([err, (e ** 2).sum(-1)[None]])
                        mv = err.argmin(0)
                        pred = preds[mv, np.arange(len(e))]
                    q = np.round((e - pred) / step).astype(np.int64)
                    prev_e = pred + q * step
                    prev_pic = unblocks(prev_e @ u.T, (1, h, w, 3))
                    if t > 0:
                        qs.append(q)
                        ps.append(psnr_y(src[t:t + 1], unq[t:t + 1] + prev_pic))
                        if mv is not None:
                            mvs.append(mv)
                q = np.concatenate(qs)
                bits = sum(entropy(q[:, j]) for j in range(q.shape[1]))
                bits += entropy(np.concatenate(mvs)) if mvs else 0.0
                out.append(f'{mode}: {bits:.1f} b/block {np.mean(ps):.2f} dB nonzero {(q != 0).mean():.3f}')
            print(f'{clip} step {step}: ' + '  '.join(out), flush=True)


if __name__ == '__main__':
    main()
