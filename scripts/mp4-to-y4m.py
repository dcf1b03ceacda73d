#!/usr/bin/env python3
"""A video file (the device scripts' carried phone.mp4) → 4:2:0 y4m with OpenCV, as decoded,
no rotation applied (the GPU machine has OpenCV and no ffmpeg). Prints the frame count and size.

Usage: mp4-to-y4m.py IN.mp4 OUT.y4m
"""
import sys

import cv2

cap = cv2.VideoCapture(sys.argv[1])
cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
out, n = None, 0
while True:
    ok, bgr = cap.read()
    if not ok:
        break
    h, w = bgr.shape[:2]
    if out is None:
        out = open(sys.argv[2], "wb")
        out.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
    out.write(b"FRAME\n" + cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
    n += 1
print(f"clip: {n} frames of {w}x{h}")
