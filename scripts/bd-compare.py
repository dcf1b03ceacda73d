#!/usr/bin/env python3
"""BD-rate between two codecs' rows of `vqcodec-lab eval` CSVs, which may come from different
runs (a format version against the one before it, say): eval's own method (PCHIP of ln(rate)
against quality over the efficient frontier, integrated over the overlap; crates/lab/src/eval/
bdrate.rs), on PSNR-Y, MS-SSIM-Y (dB) and PSNR-RGB (— where a CSV has none).

  python3 scripts/bd-compare.py ANCHOR.csv ANCHOR_CODEC TEST.csv TEST_CODEC [CLIP…]
      [--also OTHER.csv OTHER_CODEC]…

`--also` narrows each clip's range to what the other curves cover too, so that two tests
against one anchor are compared over the same qualities.

Prints per clip: BD-rate of TEST against ANCHOR (negative = TEST needs fewer bits) and the
quality range integrated. Needs numpy and scipy.
"""
import csv
import math
import sys

import numpy as np
from scipy.interpolate import PchipInterpolator

MIN_STEP = 0.02


def frontier(points):
    pts = sorted((r, q) for r, q in points if r > 0 and math.isfinite(q))
    out = []
    for r, q in pts:
        if not out or q >= out[-1][1] + MIN_STEP:
            out.append((r, q))
    return out


def bd_rate(anchor, test, others=()):
    a, t = frontier(anchor), frontier(test)
    others = [frontier(o) for o in others]
    if len(a) < 2 or len(t) < 2 or any(len(o) < 2 for o in others):
        return None, None
    lo = max([a[0][1], t[0][1]] + [o[0][1] for o in others])
    hi = min([a[-1][1], t[-1][1]] + [o[-1][1] for o in others])
    if hi <= lo:
        return None, None
    fa = PchipInterpolator([q for _, q in a], [math.log(r) for r, _ in a])
    ft = PchipInterpolator([q for _, q in t], [math.log(r) for r, _ in t])
    diff = (ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
    return math.exp(diff) - 1, (lo, hi)


def rows(path, codec):
    out = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["codec"] == codec:
                out.setdefault(r["clip"], []).append(r)
    return out


def main():
    args = sys.argv[1:]
    also = []
    while "--also" in args:
        i = args.index("--also")
        if len(args) < i + 3:
            sys.exit("--also needs a CSV and a codec")
        also.append(rows(args[i + 1], args[i + 2]))
        del args[i : i + 3]
    a_csv, a_codec, t_csv, t_codec, *clips = args
    a, t = rows(a_csv, a_codec), rows(t_csv, t_codec)
    clips = clips or sorted(set(a) & set(t))
    print(f"BD-rate of {t_codec} ({t_csv}) against {a_codec} ({a_csv})")
    for clip in clips:
        if clip not in a or clip not in t:
            print(f"{clip}: missing")
            continue
        cells = []
        for key in ("psnr_y", "msssim_y_db", "psnr_rgb"):
            pa = [(float(r["bpp"]), float(r[key])) for r in a[clip]]
            pt = [(float(r["bpp"]), float(r[key])) for r in t[clip]]
            po = [[(float(r["bpp"]), float(r[key])) for r in o.get(clip, [])] for o in also]
            d, rng = bd_rate(pa, pt, po)
            cells.append("—" if d is None else f"{d * 100:+.1f}% over {rng[0]:.2f}–{rng[1]:.2f} dB")
        print(f"{clip}: PSNR-Y {cells[0]}; MS-SSIM {cells[1]}; PSNR-RGB {cells[2]}")


if __name__ == "__main__":
    main()
