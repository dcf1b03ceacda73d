#!/usr/bin/env python3
"""Decode the training data to 4:4:4 y4m with OpenCV, for the GPU machine (opencv-python-headless
and numpy, no ffmpeg). BT.601 limited range, as the Rust reader expects.

Usage: decode_frames_cv2.py SRC_DIR OUT_DIR [--compare REF_DIR] [--jobs N]

SRC_DIR is either
  * a pack written by scripts/pack-training-data.sh (it has index.tsv): every training clip and
    photo is an mp4 holding exactly the frames fetch-training-data.sh selected (already scaled),
    the held-out clips are the originals. Every frame count and size is checked against
    index.tsv, so the selection is the ffmpeg path's by construction; or
  * data/sources as fetch-training-data.sh writes it (no index.tsv; the old route): clips are
    decoded by OpenCV and, when SRC_DIR/../selection.tsv or SRC_DIR/selection.tsv exists, the
    listed frame indices are kept (OpenCV's decode order may differ from ffmpeg's on VFR or
    rotated clips: a warning is printed when its frame count differs).
Writes OUT_DIR/y4m/*.y4m, OUT_DIR/manifest-train.txt and OUT_DIR/manifest-val.txt (validation:
carphone, coinpen, balle-jbart, never in the train manifest).
--compare REF_DIR (e.g. data, the ffmpeg path's output) checks that both give the same clips with
the same frame counts and sizes, and prints the PSNR of every file against REF_DIR/y4m, in luma and
in RGB as the Rust reader converts it (the pack's generation loss plus OpenCV's own conversion).
"""
import argparse
import glob
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

VAL = {"carphone", "coinpen", "balle-jbart"}


def to_yuv444(bgr):
    b, g, r = [bgr[..., i].astype(np.float32) for i in range(3)]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    y = 16.0 + luma * (219.0 / 255.0)
    u = 128.0 + (b - luma) / 1.772 * (224.0 / 255.0)
    v = 128.0 + (r - luma) / 1.402 * (224.0 / 255.0)
    return [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, u, v)]


def write_y4m(path, frames):
    n, h, w = 0, None, None
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for fr in frames:
            if fr.ndim == 2:
                fr = cv2.cvtColor(fr, cv2.COLOR_GRAY2BGR)
            if h is None:
                h, w = fr.shape[:2]
                f.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C444\n".encode())
            if fr.shape[:2] != (h, w):
                fr = cv2.resize(fr, (w, h), interpolation=cv2.INTER_AREA)
            f.write(b"FRAME\n")
            for p in to_yuv444(fr):
                f.write(p.tobytes())
            n += 1
    if n:
        os.replace(tmp, path)
    else:
        os.remove(tmp)
    return n, (w, h)


def capture_frames(path):
    cap = cv2.VideoCapture(path)
    try:
        while True:
            ok, fr = cap.read()
            if not ok:
                break
            yield fr
    finally:
        cap.release()


def scaled(frames):
    """fetch-training-data.sh's rule for originals: long side <= 1280 (landscape: width <= 1280),
    the other side rounded to an even size as ffmpeg's -2 does (1088x1920 -> 726x1280)."""
    for fr in frames:
        h, w = fr.shape[:2]
        if w >= h and w > 1280:
            fr = cv2.resize(fr, (1280, int(round(h * 1280 / w / 2)) * 2), interpolation=cv2.INTER_AREA)
        elif h > w and h > 1280:
            fr = cv2.resize(fr, (int(round(w * 1280 / h / 2)) * 2, 1280), interpolation=cv2.INTER_AREA)
        yield fr[: fr.shape[0] // 2 * 2, : fr.shape[1] // 2 * 2]


def picked(frames, keep):
    if keep is None:
        yield from frames
        return
    for i, fr in enumerate(frames):
        if i in keep:
            yield fr


# --- jobs: (name, split, kind, path, expected frames, expected "WxH", keep) -> result dict
def run_job(job, out):
    name, split, kind, path, want_n, want_size, keep = job
    if kind == "pack":
        frames = capture_frames(path)
    elif kind == "images":
        frames = picked((cv2.imread(f, cv2.IMREAD_COLOR) for f in sorted(glob.glob(os.path.join(path, "*.jpg")))), keep)
    elif kind == "photo":
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        frames = [] if img is None else [img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]]
    else:  # an original clip
        frames = scaled(picked(capture_frames(path), keep))
    n, (w, h) = write_y4m(os.path.join(out, "y4m", name + ".y4m"), frames)
    size = f"{w}x{h}" if n else "-"
    err = None
    if want_n is not None and (n != want_n or size != want_size):
        err = f"{name}: got {n} frames {size}, index says {want_n} frames {want_size}"
    return {"name": name, "split": split, "n": n, "size": size, "err": err}


def read_tsv(path):
    with open(path) as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def jobs_for(src):
    index = os.path.join(src, "index.tsv")
    if os.path.exists(index):
        return [(r["name"], r["split"], "pack", os.path.join(src, r["file"]), int(r["frames"]), r["size"], None)
                if r["split"] == "train" else
                (r["name"], r["split"], "video", os.path.join(src, r["file"]), int(r["frames"]), r["size"], None)
                for r in read_tsv(index)]
    # old route: data/sources
    sel = {}
    for cand in (os.path.join(src, "selection.tsv"), os.path.join(src, "..", "selection.tsv")):
        if os.path.exists(cand):
            sel = {r["name"]: r for r in read_tsv(cand)}
            break
    jobs = []
    for p in sorted(glob.glob(os.path.join(src, "video", "*"))):
        name = os.path.splitext(os.path.basename(p))[0]
        split = "val" if name in VAL else "train"
        keep = None
        if name in sel and split == "train":
            keep = {int(i) for i in sel[name]["indices"].split()}
        jobs.append((name, split, "images" if os.path.isdir(p) else "video", p, None, None, keep))
    for p in sorted(glob.glob(os.path.join(src, "photo", "*.jpg"))):
        jobs.append((os.path.splitext(os.path.basename(p))[0], "train", "photo", p, None, None, None))
    return jobs


def read_y4m(path):
    with open(path, "rb") as f:
        data = f.read()
    hdr_end = data.index(b"\n")
    fields = data[:hdr_end].split()
    w = int([x for x in fields if x.startswith(b"W")][0][1:])
    h = int([x for x in fields if x.startswith(b"H")][0][1:])
    fsize = 6 + 3 * w * h
    n = (len(data) - hdr_end - 1) // fsize
    arr = np.frombuffer(data, np.uint8, n * fsize, hdr_end + 1).reshape(n, fsize)[:, 6:]
    return arr.reshape(n, 3, h, w), (w, h)


def psnr(mse):
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def to_rgb(yuv):
    """The Rust reader's conversion (src/frame.rs Frame::from_yuv): BT.601 limited, clamped to u8."""
    y, u, v = [p.astype(np.float32) for p in yuv]
    yy = (y - 16.0) * (255.0 / 219.0)
    cb = (u - 128.0) * (255.0 / 224.0)
    cr = (v - 128.0) * (255.0 / 224.0)
    rgb = [yy + 1.402 * cr, yy - 0.344136 * cb - 0.714136 * cr, yy + 1.772 * cb]
    return np.stack([np.clip(np.rint(c), 0, 255) for c in rgb])


def compare_one(args):
    """Squared errors against the reference y4m: luma, and RGB as the trainer sees the frames."""
    name, out, ref = args
    a, sa = read_y4m(os.path.join(out, "y4m", name + ".y4m"))
    b, sb = read_y4m(os.path.join(ref, "y4m", name + ".y4m"))
    if a.shape != b.shape:
        return name, None, None, f"shape {a.shape} vs ref {b.shape}", a.shape[0] * sa[0] * sa[1]
    se_y = se_rgb = 0.0
    for fa, fb in zip(a, b):
        se_y += float(np.mean((fa[0].astype(np.float32) - fb[0].astype(np.float32)) ** 2))
        se_rgb += float(np.mean((to_rgb(fa) - to_rgb(fb)) ** 2))
    return name, se_y / len(a), se_rgb / len(a), None, a.shape[0] * sa[0] * sa[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--compare", metavar="REF_DIR")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "y4m"), exist_ok=True)
    jobs = jobs_for(a.src)
    # largest first, so the pool ends together
    jobs.sort(key=lambda j: -os.path.getsize(j[3]) if os.path.isfile(j[3]) else 0)
    with ProcessPoolExecutor(a.jobs) as ex:
        results = list(ex.map(run_job, jobs, [a.out] * len(jobs)))
    results.sort(key=lambda r: r["name"])
    errors = [r["err"] for r in results if r["err"]]
    names = [r for r in results if r["n"]]
    for r in results:
        if r["n"] > 1 or r["split"] == "val":
            print(f"{r['name']}: {r['n']} frames {r['size']} ({r['split']})", flush=True)
    with open(os.path.join(a.out, "manifest-train.txt"), "w") as t, open(os.path.join(a.out, "manifest-val.txt"), "w") as v:
        for r in names:
            is_val = r["split"] == "val" or r["name"] in VAL
            (v if is_val else t).write(f"y4m/{r['name']}.y4m\n")
    for e in errors:
        print("ERROR " + e, file=sys.stderr)
    px = 0
    for r in names:
        if r["split"] == "train" and r["name"] not in VAL:
            w, h = map(int, r["size"].split("x"))
            px += r["n"] * w * h
    n_train = sum(1 for r in names if r["split"] == "train" and r["name"] not in VAL)
    print(f"{len(names)} files, {len(names) - n_train} for validation; train: "
          f"{sum(r['n'] for r in names if r['split'] == 'train')} frames, {px / 1e6:.1f} Mpx")
    if a.compare:
        bad = 0
        def lst(d, m):
            p = os.path.join(d, m)
            return sorted(l.strip() for l in open(p) if l.strip()) if os.path.exists(p) else []
        for m in ("manifest-train.txt", "manifest-val.txt"):
            if lst(a.out, m) != lst(a.compare, m):
                print(f"MISMATCH {m}: {sorted(set(lst(a.out, m)) ^ set(lst(a.compare, m)))}")
                bad += 1
        todo = [(r["name"], a.out, a.compare) for r in names
                if os.path.exists(os.path.join(a.compare, "y4m", r["name"] + ".y4m"))]
        with ProcessPoolExecutor(a.jobs) as ex:
            cmp = list(ex.map(compare_one, todo))
        se_y = se = px_all = 0.0
        worst = []
        for name, my, m, err, npx in cmp:
            if err:
                print(f"MISMATCH {name}: {err}")
                bad += 1
                continue
            print(f"  {name}: PSNR-Y {psnr(my):.2f} dB, RGB {psnr(m):.2f} dB")
            se_y += my * npx
            se += m * npx
            px_all += npx
            worst.append((psnr(m), name))
        worst.sort()
        print(f"compare: {len(cmp)} files, {bad} mismatches; pixel-weighted PSNR-Y {psnr(se_y / px_all):.2f} dB, "
              f"RGB {psnr(se / px_all):.2f} dB (as the trainer reads it); worst {', '.join(f'{n} {p:.1f}' for p, n in worst[:3])}")
        errors += ["compare"] * bad
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
