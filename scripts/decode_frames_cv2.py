#!/usr/bin/env python3
"""Decode data/sources (as written by fetch-training-data.sh) to 4:4:4 y4m with OpenCV.

For the GPU machine, which has opencv-python-headless but no ffmpeg: only the compact sources
travel there. Writes OUT/y4m/*.y4m, OUT/manifest-train.txt and OUT/manifest-val.txt with the
same split as fetch-training-data.sh. BT.601 limited range, as the Rust reader expects.
Usage: decode_frames_cv2.py SOURCES_DIR OUT_DIR
"""
import glob
import os
import sys

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
    frames = list(frames)
    if not frames:
        return 0
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C444\n".encode())
        for fr in frames:
            if fr.shape[:2] != (h, w):
                fr = cv2.resize(fr, (w, h), interpolation=cv2.INTER_AREA)
            f.write(b"FRAME\n")
            for p in to_yuv444(fr):
                f.write(p.tobytes())
    return len(frames)


def video_frames(path):
    cap = cv2.VideoCapture(path)
    while True:
        ok, fr = cap.read()
        if not ok:
            break
        h, w = fr.shape[:2]
        if w > 1280:
            fr = cv2.resize(fr, (1280, int(round(h * 1280 / w / 2)) * 2), interpolation=cv2.INTER_AREA)
        yield fr[: fr.shape[0] // 2 * 2, : fr.shape[1] // 2 * 2]


def main(src, out):
    os.makedirs(os.path.join(out, "y4m"), exist_ok=True)
    names = []
    for p in sorted(glob.glob(os.path.join(src, "video", "*"))):
        name = os.path.splitext(os.path.basename(p))[0]
        if os.path.isdir(p):
            frames = (cv2.imread(f) for f in sorted(glob.glob(os.path.join(p, "*.jpg"))))
        else:
            frames = video_frames(p)
        n = write_y4m(os.path.join(out, "y4m", name + ".y4m"), frames)
        print(f"{name}: {n} frames", flush=True)
        if n:
            names.append(name)
    for p in sorted(glob.glob(os.path.join(src, "photo", "*.jpg"))):
        name = os.path.splitext(os.path.basename(p))[0]
        img = cv2.imread(p)
        if img is None:
            continue
        write_y4m(os.path.join(out, "y4m", name + ".y4m"), [img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]])
        names.append(name)
    with open(os.path.join(out, "manifest-train.txt"), "w") as t, open(os.path.join(out, "manifest-val.txt"), "w") as v:
        for n in names:
            (v if n in VAL else t).write(f"y4m/{n}.y4m\n")
    print(f"{len(names)} files, {sum(n in VAL for n in names)} for validation")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
