#!/usr/bin/python3
"""Generates the 12 MP benchmark photo and its hole mask from Debian-packaged samples.

A 4032x3024 JPEG (quality 92) tiled from scikit-image's grass and gravel photos with random
flips and mild noise, so it has photo-like entropy, and an animal-shaped mask covering the
requested fraction of the frame. Usage: make_photo.py OUT_DIR [hole_fraction=0.08]"""
import os
import sys

import cv2
import numpy as np

DATA = "/usr/lib/python3/dist-packages/skimage/data"
out_dir = sys.argv[1]
fraction = float(sys.argv[2]) if len(sys.argv) > 2 else 0.08
os.makedirs(out_dir, exist_ok=True)
rng = np.random.default_rng(12)
W, H = 4032, 3024
tiles = [cv2.imread(os.path.join(DATA, n), cv2.IMREAD_COLOR) for n in ("grass.png", "gravel.png")]
photo = np.zeros((H, W, 3), np.uint8)
for y in range(0, H, 512):
    for x in range(0, W, 512):
        t = tiles[int(rng.integers(2))]
        t = cv2.flip(t, int(rng.integers(-1, 2)))
        tint = np.array([rng.uniform(0.8, 1.0), rng.uniform(0.9, 1.1), rng.uniform(0.7, 0.9)])
        t = np.clip(t * tint, 0, 255).astype(np.uint8)
        photo[y:y + 512, x:x + 512] = t[: min(512, H - y), : min(512, W - x)]
photo = np.clip(photo.astype(np.int16) + rng.integers(-6, 7, photo.shape), 0, 255).astype(np.uint8)
cv2.imwrite(os.path.join(out_dir, "photo12mp.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 92])


def animal(scale):
    m = np.zeros((H, W), np.uint8)
    cx, cy = W // 2, int(H * 0.55)
    p = lambda x, y: (int(cx + x * scale), int(cy + y * scale))
    cv2.ellipse(m, p(0, 0), (int(90 * scale), int(45 * scale)), 0, 0, 360, 255, -1)
    cv2.circle(m, p(105, -40), int(32 * scale), 255, -1)
    for x in (-65, -35, 40, 70):
        cv2.rectangle(m, p(x - 9, 20), p(x + 9, 85), 255, -1)
    cv2.line(m, p(-85, -10), p(-140, -60), 255, max(1, int(12 * scale)))
    return m


scale = 5.0
for _ in range(20):  # grow or shrink the silhouette until it covers the fraction asked for
    covered = (animal(scale) > 0).mean()
    scale *= (fraction / covered) ** 0.5
mask = animal(scale)
cv2.imwrite(os.path.join(out_dir, "photo12mp_mask.png"), mask)
print(f"photo12mp.jpg {W}x{H}, hole {100 * (mask > 0).mean():.1f}% of the frame")
