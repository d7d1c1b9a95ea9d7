"""Tiny `sam2video`-contract modules saved with python3-torch, whose outputs are known exactly, the
clips they are meant for, and a pure-Python reference loop over the contract.

Every module works on a 256 x 256 RGB grid (0..255 units) that the encoder pools from the model
input, so the "tracking" is plain colour matching that a test can predict:

- encoder: undoes the normalisation and area-pools the S x S input to the grid ->
  {"rgb": [1,3,256,256], "input_size": [1] (= S)}. Built with a size (save's `size`) it refuses any
  other input size (RuntimeError), so a library that ignores the spec's size fails loudly;
  size 0 accepts any S.
- memory encoder: the mask (logits > 0 on the grid) as an axis-aligned ellipse and a colour ->
  {"state": [1,8]} = (cx, cy, rx, ry, R, G, B, present), grid units (pixel centres at i + 0.5).
  The centroid is the mask pixels' mean; rx * ry = area / pi and rx / ry = sqrt(var_x / var_y)
  (the frame is squeezed to a square, so a disc in the frame is an ellipse on the grid); the colour
  is the per-channel median of the masked grid pixels; present = 1 when object_score > 0 and the
  mask is not empty, else 0 (and the rest of the row is 0 for an empty mask).
- decoder: an ellipse of logits (1 - d) * sqrt(rx * ry) * 4 clamped to +-32, d the ellipse's
  normalised distance, so the mask's edge is the ellipse. The object's pixels are those within
  TOLERANCE (RGB distance) of a colour:
  * a prompt (any point with label 1, or a box 2/3) wins over memory. Box: the colour is the
    3x3 median at the box centre, the pixels are the matching ones inside the box. Otherwise the
    first positive click: the 3x3 median colour at the click, then a square window around the
    click (half size 16) is moved to the matching pixels' centroid and resized to 3 r + 8
    (r = sqrt(area / pi)) four times. The ellipse is fitted to the matching pixels found (as the
    memory encoder does). object_score +10 when at least 4 pixels match, else -10 (empty mask).
    Negative clicks (0), padding (-1), mask_input and has_mask_input are ignored.
  * no prompt: the memory entry nearest in time (smallest |offset|; on a tie a prompted entry,
    then the first one), skipping entries whose `present` is 0. Its colour is searched for in a
    window of half size 3 max(rx, ry) + 8 around its centroid; the matching pixels' centroid is the
    object's new centre and the remembered rx, ry its shape. fraction = matches / (pi rx ry);
    object_score = 10 (fraction - 0.3): absent (<= 0) below 30 %, and then the mask is empty.
    No usable entry (or no memory at all): empty mask, object_score -10, score 0.
  * score = the matching pixels inside the predicted ellipse / (pi rx ry), clamped to [0, 1].
  Every mask edge case answers an all -32 mask, never NaN.

Clips (make_clip): coloured discs moving over a static, low-saturation textured background
(grey-green stripes + noise) that no disc colour matches, written as a video (cv2.VideoWriter) or a
directory of frame_<i>.png files. The default clip has one red disc of radius 10 % of the short side
kept fully inside the frame, moving left to right and a little downwards; exits=True makes it start
in the middle and leave through the right edge (fully outside over the last frames).

The reference loop (reference_propagate, with preprocess, prompt_tensors, MemoryBank and
logits_to_mask) does what the library does around the modules; test_video_models.py checks the
modules through it and bench/video_baseline.py times its non-model steps.

Command line: video_models.py save DIR [--size S] (prints the spec);
video_models.py clip PATH [--frames N --width W --height H --objects K --exits --fourcc F].
"""
import argparse
import math
import sys
from collections import deque
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# The constants below are written out as literals in the TorchScript code (it cannot read globals).
GRID = 256
TOLERANCE = 70.0  # RGB distance (0..255 units) under which a grid pixel matches a colour
PRESENT_FRACTION = 0.3  # matched share of the remembered ellipse above which the object is present
LOGIT_SCALE = 4.0
LOGIT_CLAMP = 32.0
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
STATE = ("cx", "cy", "rx", "ry", "r", "g", "b", "present")

RED = (220, 40, 40)
BLUE = (40, 70, 220)
YELLOW = (230, 200, 30)
MAGENTA = (200, 40, 200)
COLOURS = (RED, BLUE, YELLOW, MAGENTA)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")


# ---- the modules (TorchScript)

def _coords() -> Tuple[torch.Tensor, torch.Tensor]:
    """Grid pixel centres: xs [1,256] and ys [256,1]."""
    g = torch.arange(256, dtype=torch.float32) + 0.5
    return g.view(1, 256), g.view(256, 1)


def _ellipse(mask: torch.Tensor) -> List[float]:
    """[area, cx, cy, rx, ry] of a bool [256,256] mask (all 0 for an empty one)."""
    area = float(mask.sum())
    if area < 1.0:
        return [0.0, 0.0, 0.0, 0.0, 0.0]
    xs, ys = _coords()
    m = mask.to(torch.float32)
    cx = float((m * xs).sum()) / area
    cy = float((m * ys).sum()) / area
    vx = float((m * (xs - cx) ** 2).sum()) / area + 1.0 / 12.0
    vy = float((m * (ys - cy) ** 2).sum()) / area + 1.0 / 12.0
    r2 = area / math.pi
    rx = math.sqrt(r2 * math.sqrt(vx / vy))
    ry = math.sqrt(r2 * math.sqrt(vy / vx))
    return [area, cx, cy, rx, ry]


def _logits(cx: float, cy: float, rx: float, ry: float) -> torch.Tensor:
    xs, ys = _coords()
    d = torch.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    logits = ((1.0 - d) * (math.sqrt(rx * ry) * 4.0)).clamp(-32.0, 32.0)
    return logits.view(1, 1, 256, 256)


def _empty() -> torch.Tensor:
    return torch.full([1, 1, 256, 256], -32.0)


def _matches(rgb: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    return ((rgb - colour.view(3, 1, 1)) ** 2).sum(0) < 70.0 * 70.0


def _window(cx: float, cy: float, half: float) -> torch.Tensor:
    xs, ys = _coords()
    return ((xs - cx).abs() <= half) & ((ys - cy).abs() <= half)


def _colour_at(rgb: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Per-channel median of the 3x3 grid pixels around grid point (x, y)."""
    i = min(max(int(math.floor(x)), 1), 254)
    j = min(max(int(math.floor(y)), 1), 254)
    return rgb[:, j - 1:j + 2, i - 1:i + 2].reshape(3, 9).median(dim=1).values


def _inside(cx: float, cy: float, rx: float, ry: float) -> torch.Tensor:
    return _logits(cx, cy, rx, ry)[0, 0] > 0


class Encoder(torch.nn.Module):
    def __init__(self, size: int = 0):
        super().__init__()
        self.size = size

    def forward(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.size > 0 and (image.shape[2] != self.size or image.shape[3] != self.size):
            raise RuntimeError("this encoder takes " + str(self.size) + " x " + str(self.size) + " images, not "
                               + str(image.shape[3]) + " x " + str(image.shape[2]))
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        rgb = (F.adaptive_avg_pool2d(image, [256, 256]) * std + mean) * 255.0  # pooling first: it is linear
        return {"rgb": rgb, "input_size": torch.tensor([float(image.shape[3])])}


class MemoryEncoder(torch.nn.Module):
    def forward(self, features: Dict[str, torch.Tensor], mask_logits: torch.Tensor,
                object_score: torch.Tensor) -> Dict[str, torch.Tensor]:
        rgb = features["rgb"][0]
        mask = mask_logits[0, 0] > 0
        e = _ellipse(mask)
        if e[0] < 1.0:
            return {"state": torch.zeros(1, 8)}
        colour = rgb[:, mask].median(dim=1).values
        present = 1.0 if bool(object_score[0] > 0) else 0.0
        state = torch.tensor([e[1], e[2], e[3], e[4], 0.0, 0.0, 0.0, present])
        state[4:7] = colour
        return {"state": state.view(1, 8)}


class Decoder(torch.nn.Module):
    def forward(self, features: Dict[str, torch.Tensor], memory: Dict[str, torch.Tensor],
                memory_offsets: torch.Tensor, memory_prompted: torch.Tensor, point_coords: torch.Tensor,
                point_labels: torch.Tensor, mask_input: torch.Tensor,
                has_mask_input: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rgb = features["rgb"][0]
        to_grid = 256.0 / float(features["input_size"][0])
        labels: List[float] = point_labels[0].tolist()
        coords: List[List[float]] = (point_coords[0] * to_grid).tolist()
        click = -1
        box = [-1.0, -1.0, -1.0, -1.0]
        for k in range(len(labels)):
            if labels[k] == 1.0 and click < 0:
                click = k
            elif labels[k] == 2.0:
                box[0] = coords[k][0]
                box[1] = coords[k][1]
            elif labels[k] == 3.0:
                box[2] = coords[k][0]
                box[3] = coords[k][1]
        if box[0] >= 0.0 and box[2] >= 0.0:
            return self._from_box(rgb, box)
        if click >= 0:
            return self._from_click(rgb, coords[click][0], coords[click][1])
        if "state" not in memory:
            return _empty(), torch.zeros(1), torch.full([1], -10.0)
        return self._from_memory(rgb, memory["state"], memory_offsets, memory_prompted)

    def _fitted(self, rgb: torch.Tensor, found: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e = _ellipse(found)
        if e[0] < 4.0:
            return _empty(), torch.zeros(1), torch.full([1], -10.0)
        inside = _inside(e[1], e[2], e[3], e[4])
        score = min(float((inside & found).sum()) / (math.pi * e[3] * e[4]), 1.0)
        return _logits(e[1], e[2], e[3], e[4]), torch.tensor([score]), torch.full([1], 10.0)

    def _from_box(self, rgb: torch.Tensor, box: List[float]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x0, x1 = min(box[0], box[2]), max(box[0], box[2])
        y0, y1 = min(box[1], box[3]), max(box[1], box[3])
        colour = _colour_at(rgb, 0.5 * (x0 + x1), 0.5 * (y0 + y1))
        xs, ys = _coords()
        in_box = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        return self._fitted(rgb, _matches(rgb, colour) & in_box)

    def _from_click(self, rgb: torch.Tensor, x: float, y: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        colour = _colour_at(rgb, x, y)
        match = _matches(rgb, colour)
        cx, cy, half = x, y, 16.0
        found = match & _window(cx, cy, half)
        for _ in range(4):
            e = _ellipse(found)
            if e[0] < 1.0:
                break
            cx, cy = e[1], e[2]
            half = 3.0 * math.sqrt(e[0] / math.pi) + 8.0
            found = match & _window(cx, cy, half)
        return self._fitted(rgb, found)

    def _from_memory(self, rgb: torch.Tensor, state: torch.Tensor, offsets: torch.Tensor,
                     prompted: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        offs: List[float] = offsets.tolist()
        prom: List[float] = prompted.tolist()
        pres: List[float] = state[:, 7].tolist()
        best = -1  # the nearest present entry: centre and colour
        shape = -1  # the nearest present prompted entry: size (a clipped mask must not shrink the object)
        for i in range(len(offs)):
            if pres[i] <= 0.5:
                continue
            if best < 0 or abs(offs[i]) < abs(offs[best]):
                best = i
            elif abs(offs[i]) == abs(offs[best]) and prom[i] > 0.5 and prom[best] <= 0.5:
                best = i
            if prom[i] > 0.5 and (shape < 0 or abs(offs[i]) < abs(offs[shape])):
                shape = i
        if best < 0:
            return _empty(), torch.zeros(1), torch.full([1], -10.0)
        if shape < 0:
            shape = best
        s: List[float] = state[best].tolist()
        cx, cy = s[0], s[1]
        rx, ry = float(state[shape, 2]), float(state[shape, 3])
        match = _matches(rgb, state[best, 4:7])
        found = match & _window(cx, cy, 3.0 * max(rx, ry) + 8.0)
        e = _ellipse(found)
        area = max(math.pi * rx * ry, 1.0)
        fraction = e[0] / area
        object_score = torch.tensor([10.0 * (fraction - 0.3)])
        if fraction <= 0.3:
            return _empty(), torch.tensor([min(fraction, 1.0)]), object_score
        inside = _inside(e[1], e[2], rx, ry)
        score = min(float((inside & match).sum()) / area, 1.0)
        return _logits(e[1], e[2], rx, ry), torch.tensor([score]), object_score


def scripted(size=256):
    """{"encoder", "memory_encoder", "decoder"}: the modules, scripted (not saved)."""
    return {"encoder": torch.jit.script(Encoder(size or 0)), "memory_encoder": torch.jit.script(MemoryEncoder()),
            "decoder": torch.jit.script(Decoder())}


def save(directory, size=256):
    """Saves the three modules into directory; returns {"encoder", "memory_encoder", "decoder"}: paths.
    size: the only input size the encoder takes (0 or None: any)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, module in scripted(size).items():
        paths[name] = directory / f"{name}.pt"
        module.save(str(paths[name]))
    return paths


def spec(paths, size=256, **extra):
    text = (f"sam2video:encoder={paths['encoder']},memory_encoder={paths['memory_encoder']},"
            f"decoder={paths['decoder']},size={size}")
    for key, value in extra.items():
        text += f",{key}={value}"
    return text


def load(paths):
    return {name: torch.jit.load(str(paths[name])) for name in ("encoder", "memory_encoder", "decoder")}


# ---- clips

def default_objects(width, height, frames, exits=False):
    """One red disc, radius 10 % of the short side. Kept inside: from (r + 16, 0.4 h) on the first frame
    to (w - r - 16, 0.6 h) on the last. exits: from the middle (0.5 w, 0.5 h) to (w + 2 r, 0.5 h), so
    it is fully outside once its centre passes w + r (the last ~12 % of the frames)."""
    r = round(0.1 * min(width, height))
    steps = max(frames - 1, 1)
    if exits:
        start, end = (0.5 * width, 0.5 * height), (width + 2.0 * r, 0.5 * height)
    else:
        start, end = (r + 16.0, 0.4 * height), (width - r - 16.0, 0.6 * height)
    return [{"colour": RED, "radius": r, "start": start,
             "velocity": ((end[0] - start[0]) / steps, (end[1] - start[1]) / steps)}]


def lane_objects(count, width, height, frames):
    """count (1..4) discs in horizontal lanes of their own (never overlapping), moving left to right
    (even lanes) or right to left (odd lanes), colours red, blue, yellow, magenta in that order."""
    if not 1 <= count <= len(COLOURS):
        raise ValueError(f"1..{len(COLOURS)} objects")
    lane = height / count
    r = round(min(0.1 * min(width, height), 0.4 * lane))
    steps = max(frames - 1, 1)
    objects = []
    for k in range(count):
        y = (k + 0.5) * lane
        left, right = r + 16.0, width - r - 16.0
        a, b = (left, right) if k % 2 == 0 else (right, left)
        objects.append({"colour": COLOURS[k], "radius": r, "start": (a, y), "velocity": ((b - a) / steps, 0.0)})
    return objects


def background(width, height, seed=0):
    """Static grey-green texture: diagonal luminance stripes and noise (low saturation)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = 14.0 * np.sin((x + 0.6 * y) * (2 * np.pi / 23.0))
    lum = stripes + rng.normal(0.0, 9.0, (height, width)).astype(np.float32)
    base = np.array([118, 130, 112], np.float32)
    tint = rng.normal(0.0, 3.0, (height, width, 3)).astype(np.float32)
    return np.clip(base + lum[..., None] + tint, 0, 255).astype(np.uint8)


class Clip:
    """The frames of a generated clip as drawn (RGB) and the discs' exact positions.

    Pixel (i, j) covers [i, i+1) x [j, j+1); a disc covers the pixels whose centre (i + 0.5, j + 0.5)
    lies within its radius of its centre (no anti-aliasing). Later objects are drawn over earlier ones.
    """

    def __init__(self, frames, objects, width, height, fps, path=None, count=0):
        self.frames = frames
        self.count = count  # frames in the clip (also when they are not kept)
        self.objects = objects
        self.width, self.height, self.fps = width, height, fps
        self.path = path

    def __len__(self):
        return self.count

    def centre(self, frame, obj=0):
        o = self.objects[obj]
        return (o["start"][0] + o["velocity"][0] * frame, o["start"][1] + o["velocity"][1] * frame)

    def disc(self, frame, obj=0):
        """The whole disc (bool HxW), hidden parts included."""
        cx, cy = self.centre(frame, obj)
        r = self.objects[obj]["radius"]
        y, x = np.ogrid[0:self.height, 0:self.width]
        return (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r

    def truth(self, frame, obj=0):
        """The disc's visible pixels on `frame` as a HxW uint8 mask (255 = object)."""
        visible = self.disc(frame, obj)
        for later in range(obj + 1, len(self.objects)):
            visible &= ~self.disc(frame, later)
        return visible.astype(np.uint8) * 255

    def inside(self, frame, obj=0):
        """True when the whole disc is inside the frame."""
        cx, cy = self.centre(frame, obj)
        r = self.objects[obj]["radius"]
        return r <= cx <= self.width - r and r <= cy <= self.height - r

    def outside(self, frame, obj=0):
        """True when no pixel of the disc is in the frame."""
        return not self.disc(frame, obj).any()


def _draw(back, clip, frame, rng):
    image = back.copy()
    for k, o in enumerate(clip.objects):
        cx, cy = clip.centre(frame, k)
        r = o["radius"]
        x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, clip.width)
        y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, clip.height)
        if x0 >= x1 or y0 >= y1:
            continue
        y, x = np.ogrid[y0:y1, x0:x1]
        disc = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r
        texture = np.asarray(o["colour"], np.int16) + rng.integers(-10, 11, (y1 - y0, x1 - x0, 1), dtype=np.int16)
        patch = image[y0:y1, x0:x1]
        patch[disc] = np.clip(texture, 0, 255).astype(np.uint8)[disc]
    return image


def make_clip(target, frames=24, width=320, height=240, fps=25.0, objects=None, fourcc="mp4v", seed=0,
              exits=False, keep=True):
    """Draws a clip and writes it to target: a video file when target ends with .mp4/.avi/.mkv/.mov
    (cv2.VideoWriter with fourcc; frames converted to BGR), else a directory of frame_0.png ...
    frame_<n-1>.png (created). target None: nothing written. objects: [{colour (R,G,B), radius,
    start (x, y), velocity (dx, dy) px/frame}]; None: default_objects(width, height, frames, exits).
    keep False: Clip.frames stays empty (a long or large clip is written as it is drawn)."""
    if objects is None:
        objects = default_objects(width, height, frames, exits)
    clip = Clip([], [dict(o) for o in objects], width, height, fps, target, frames)
    back = background(width, height, seed)
    rng = np.random.default_rng(seed + 1)
    writer = None
    if target is not None:
        target = Path(target)
        if target.suffix.lower() in VIDEO_SUFFIXES:
            target.parent.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
            if not writer.isOpened():
                raise RuntimeError(f"cv2.VideoWriter cannot write {target} with {fourcc}")
        else:
            target.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        image = _draw(back, clip, i, rng)
        if writer is not None:
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        elif target is not None:
            if not cv2.imwrite(str(target / f"frame_{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise RuntimeError(f"cannot write {target / f'frame_{i}.png'}")
        if keep:
            clip.frames.append(image)
    if writer is not None:
        writer.release()
    return clip


def read_frames(path):
    """Every frame of a video file (cv2.VideoCapture) as RGB arrays."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def iou(a, b):
    """Intersection over union of two 0/255 (or bool) masks; 1.0 when both are empty."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


# ---- the reference loop: what the library does around the three modules

MEAN_T = torch.tensor(MEAN).view(3, 1, 1)
STD_T = torch.tensor(STD).view(3, 1, 1)


def preprocess(frame_rgb, size):
    """RGB uint8 HxWx3 -> normalised f32 [1,3,S,S] (area resize, aspect ignored)."""
    resized = cv2.resize(frame_rgb, (size, size), interpolation=cv2.INTER_AREA)
    # planar first: normalising the permuted (channel-last) view in place is 3x slower
    x = torch.from_numpy(resized).permute(2, 0, 1).contiguous().to(torch.float32).div_(255.0)
    return x.sub_(MEAN_T).div_(STD_T).unsqueeze(0)


def prompt_tensors(width, height, size, points=(), box=None):
    """points [(x, y, label)] and box (x0, y0, x1, y1) in frame pixels -> (point_coords [1,N,2],
    point_labels [1,N]) in model-input pixels; nothing: one padding point (0, 0) with label -1."""
    coords, labels = [], []
    for x, y, label in points:
        coords.append((x * size / width, y * size / height))
        labels.append(float(label))
    if box is not None:
        x0, y0, x1, y1 = box
        coords += [(x0 * size / width, y0 * size / height), (x1 * size / width, y1 * size / height)]
        labels += [2.0, 3.0]
    if not coords:
        coords, labels = [(0.0, 0.0)], [-1.0]
    return torch.tensor([coords], dtype=torch.float32), torch.tensor([labels], dtype=torch.float32)


def logits_to_mask(logits, size, height, width):
    """[1,1,256,256] logits -> HxW uint8 0/255: bilinear to S x S, bilinear to the frame, > 0."""
    up = F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False)
    up = F.interpolate(up, size=(height, width), mode="bilinear", align_corners=False)
    return (up[0, 0] > 0).to(torch.uint8).mul_(255).numpy()


class MemoryBank:
    """One object's memory: its prompted frames' entries and its last N propagated ones."""

    def __init__(self, memory_frames=7):
        self.prompted = {}
        self.recent = deque(maxlen=memory_frames)

    def add(self, frame, entry, prompted):
        if prompted:
            self.prompted[frame] = entry
        else:
            self.recent.append((frame, entry))

    def gather(self, frame):
        """(memory dict, memory_offsets [M], memory_prompted [M]) for `frame`: prompted entries nearest
        first, then recent ones nearest first; an empty dict when there is no entry."""
        chosen = sorted(self.prompted.items(), key=lambda item: (abs(item[0] - frame), item[0]))
        prompted_count = len(chosen)
        chosen += sorted(self.recent, key=lambda item: (abs(item[0] - frame), item[0]))
        offsets = torch.tensor([float(f - frame) for f, _ in chosen], dtype=torch.float32)
        flags = torch.tensor([1.0] * prompted_count + [0.0] * (len(chosen) - prompted_count), dtype=torch.float32)
        if not chosen:
            return {}, offsets, flags
        memory = {key: torch.cat([entry[key] for _, entry in chosen], 0) for key in chosen[0][1]}
        return memory, offsets, flags


class Step:
    def __init__(self, frame, mask, score, object_score):
        self.frame, self.mask, self.score, self.object_score = frame, mask, score, object_score

    def __repr__(self):
        return f"Step(frame={self.frame}, score={self.score:.3f}, object_score={self.object_score:.3f})"


def reference_propagate(modules, frames_rgb, prompt_frame, click, direction, memory_frames=7, size=256, box=None,
                        features=None):
    """Propagates one object from a prompt on `prompt_frame` through frames_rgb, as the library does.

    modules: {"encoder", "memory_encoder", "decoder"} (loaded or scripted). click: (x, y) positive click
    in frame pixels, or None with box (x0, y0, x1, y1). direction: "forward" (prompt_frame to the last
    frame) or "backward" (to frame 0). The prompted frame is decoded with its prompt and no memory; every
    next frame with no prompt (one padding point) and memory = the prompted entry + the last
    memory_frames propagated entries. features: an optional {frame: encoder output} cache, shared by
    objects. Returns [Step(frame, mask HxW 0/255, score, object_score)] in visiting order."""
    if direction not in ("forward", "backward"):
        raise ValueError("direction: forward or backward")
    height, width = frames_rgb[0].shape[:2]
    features = {} if features is None else features
    bank = MemoryBank(memory_frames)
    no_mask = torch.zeros(1, 1, GRID, GRID)
    order = range(prompt_frame, len(frames_rgb)) if direction == "forward" else range(prompt_frame, -1, -1)
    steps = []
    with torch.inference_mode():
        for frame in order:
            if frame not in features:
                out = modules["encoder"](preprocess(frames_rgb[frame], size))
                features[frame] = out if isinstance(out, dict) else {"image_embeddings": out}
            feats = features[frame]
            if frame == prompt_frame:
                points = [] if click is None else [(click[0], click[1], 1)]
                coords, labels = prompt_tensors(width, height, size, points, box)
                memory, offsets, flags = {}, torch.zeros(0), torch.zeros(0)
            else:
                coords, labels = prompt_tensors(width, height, size)
                memory, offsets, flags = bank.gather(frame)
            logits, score, object_score = modules["decoder"](feats, memory, offsets, flags, coords, labels,
                                                            no_mask, torch.zeros(1))
            entry = modules["memory_encoder"](feats, logits, object_score)
            bank.add(frame, entry, frame == prompt_frame)
            mask = logits_to_mask(logits, size, height, width)
            if float(object_score[0]) <= 0:
                mask[:] = 0
            steps.append(Step(frame, mask, float(score[0]), float(object_score[0])))
    return steps


# ---- command line

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("save", help="save the modules into DIR and print their spec")
    p.add_argument("directory")
    p.add_argument("--size", type=int, default=256)
    p = sub.add_parser("clip", help="write a clip (a video file, or a directory of PNG frames)")
    p.add_argument("path")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--objects", type=int, default=0, help="K discs in lanes (lane_objects); 0: the default disc")
    p.add_argument("--exits", action="store_true", help="the default disc leaves through the right edge")
    p.add_argument("--fourcc", default="mp4v")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "save":
        print(spec(save(args.directory, args.size), args.size))
        return 0
    objects = lane_objects(args.objects, args.width, args.height, args.frames) if args.objects else None
    clip = make_clip(args.path, args.frames, args.width, args.height, args.fps, objects, args.fourcc, args.seed,
                     args.exits, keep=False)
    for k in range(len(clip.objects)):
        first, last = clip.centre(0, k), clip.centre(len(clip) - 1, k)
        print(f"object {k}: colour {clip.objects[k]['colour']} radius {clip.objects[k]['radius']} "
              f"centre ({first[0]:.1f}, {first[1]:.1f}) -> ({last[0]:.1f}, {last[1]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
