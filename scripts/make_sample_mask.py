#!/usr/bin/python3
"""Writes an animal-like hole mask (255 = hole) the size of the given photo.
Usage: make_sample_mask.py PHOTO MASK_OUT"""
import sys

import cv2
import numpy as np

photo = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
if photo is None:
    sys.exit(f"make_sample_mask: cannot read {sys.argv[1]}")
h, w = photo.shape[:2]
s = min(h, w) / 512.0
mask = np.zeros((h, w), np.uint8)
cx, cy = w // 2, int(h * 0.55)
pt = lambda x, y: (int(cx + x * s), int(cy + y * s))
cv2.ellipse(mask, pt(0, 0), (int(90 * s), int(45 * s)), 0, 0, 360, 255, -1)      # body
cv2.circle(mask, pt(105, -40), int(32 * s), 255, -1)                              # head
cv2.ellipse(mask, pt(125, -70), (int(10 * s), int(22 * s)), 20, 0, 360, 255, -1)   # ear
for x in (-65, -35, 40, 70):                                                      # legs
    cv2.rectangle(mask, pt(x - 9, 20), pt(x + 9, 85), 255, -1)
cv2.line(mask, pt(-85, -10), pt(-140, -60), 255, max(1, int(12 * s)))             # tail
cv2.imwrite(sys.argv[2], mask)
