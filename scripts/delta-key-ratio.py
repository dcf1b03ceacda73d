#!/usr/bin/env python3
"""What a delta frame costs against a keyframe at equal quality (issue 16's target: <= 40 % on
carphone). Encodes CLIP with `vqcodec encode` twice per quality: every frame a keyframe
(--keyint 1), and one keyframe then delta frames (--keyint larger than the clip); reads the
per-frame lines (bytes, PSNR-Y) and compares mean keyframe bits with mean delta-frame bits at
equal mean PSNR-Y (log-bits interpolated linearly in PSNR between quality points, at the points
of either curve that fall inside the other).

  python3 scripts/delta-key-ratio.py VQCODEC CLIP [--weights W | --model M] [--qualities 15,35,...]
"""
import argparse
import math
import re
import subprocess

LINE = re.compile(r"frame\s+(\d+)\s+(key|delta)\s+(\d+) B .*PSNR-Y\s+([\d.]+)")


def run(vqcodec, clip, model_args, quality, keyint):
    out = subprocess.run(
        [vqcodec, "encode", clip, "-o", "/dev/null", "--quality", str(quality),
         "--keyint", str(keyint), "--backend", "cpu", *model_args],
        capture_output=True, text=True, check=True,
    )
    frames = [LINE.search(l) for l in (out.stdout + out.stderr).splitlines()]
    return [(m.group(2), int(m.group(3)) * 8, float(m.group(4))) for m in frames if m]


def interp(curve, psnr):
    """log-bits at `psnr` on a curve of (psnr, bits) points, or None outside it."""
    pts = sorted(curve)
    for (p0, b0), (p1, b1) in zip(pts, pts[1:]):
        if p0 <= psnr <= p1 and p1 > p0:
            t = (psnr - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vqcodec")
    ap.add_argument("clip")
    ap.add_argument("--weights")
    ap.add_argument("--model")
    ap.add_argument("--qualities", default="15,25,35,45,55,70")
    a = ap.parse_args()
    model = ["--weights", a.weights] if a.weights else (["--model", a.model] if a.model else [])
    intra, delta = [], []
    print("quality | keyframes: bits/frame, PSNR-Y | delta frames: bits/frame, PSNR-Y")
    for q in [int(x) for x in a.qualities.split(",")]:
        k = run(a.vqcodec, a.clip, model, q, 1)
        d = [f for f in run(a.vqcodec, a.clip, model, q, 100000) if f[0] == "delta"]
        kb, kp = sum(f[1] for f in k) / len(k), sum(f[2] for f in k) / len(k)
        db, dp = sum(f[1] for f in d) / len(d), sum(f[2] for f in d) / len(d)
        intra.append((kp, kb))
        delta.append((dp, db))
        print(f"{q} | {kb:,.0f}, {kp:.2f} | {db:,.0f}, {dp:.2f}")
    # at each point of either curve, the other curve interpolated there (the keyframes' λ is
    # λ/50, so their PSNR range is narrow and high: the ratio exists where the curves overlap)
    print("PSNR-Y | delta bits / keyframe bits at equal PSNR-Y")
    ratios = []
    for p, b in delta:
        k = interp(intra, p)
        if k is not None:
            ratios.append((p, b / k))
    for p, k in intra:
        d = interp(delta, p)
        if d is not None:
            ratios.append((p, d / k))
    for p, r in sorted(ratios):
        print(f"{p:.2f} | {100 * r:.0f}%")
    if not ratios:
        print("the curves do not overlap")


if __name__ == "__main__":
    main()
