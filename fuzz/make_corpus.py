#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora into fuzz/corpus/<target>/: small valid files of every
kind each target reads. Deterministic (fixed seeds): running it again gives the same bytes, so
the committed corpus can be checked against it (fuzz/run.sh does not need it to be re-run).

Uses Debian's python3-numpy and python3-pil (JPEG). PNGs are written by hand here so that every
colour type, bit depth, palette transparency and Adam7 interlacing can be produced.

Usage: /usr/bin/python3 fuzz/make_corpus.py [OUT_DIR]   (default: fuzz/corpus beside this file)
"""
import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)


# ---------------------------------------------------------------- PNG

def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _pack_rows(pixels, bit_depth):
    """pixels: uint array HxWxC of samples -> list of packed scanlines (without filter byte)."""
    h = pixels.shape[0]
    rows = []
    for y in range(h):
        row = pixels[y].reshape(-1)
        if bit_depth == 16:
            rows.append(row.astype(">u2").tobytes())
        elif bit_depth == 8:
            rows.append(row.astype(np.uint8).tobytes())
        else:  # 1, 2, 4 bits per sample, big-endian within a byte
            per = 8 // bit_depth
            padded = np.zeros((len(row) + per - 1) // per * per, dtype=np.uint8)
            padded[: len(row)] = row
            packed = np.zeros(len(padded) // per, dtype=np.uint8)
            for i in range(per):
                packed |= (padded[i::per] << (8 - bit_depth * (i + 1))).astype(np.uint8)
            rows.append(packed.tobytes())
    return rows


def _filtered(rows, bpp, filter_type):
    """Applies one PNG filter type (0 none, 1 sub, 2 up) to every row."""
    out = b""
    prev = bytes(len(rows[0])) if rows else b""
    for row in rows:
        if filter_type == 1:
            f = bytes((row[i] - (row[i - bpp] if i >= bpp else 0)) & 0xFF for i in range(len(row)))
        elif filter_type == 2:
            f = bytes((row[i] - prev[i]) & 0xFF for i in range(len(row)))
        else:
            f = row
        out += bytes([filter_type]) + f
        prev = row
    return out


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(pixels, color_type, bit_depth=8, palette=None, trns=None, interlace=False, filter_type=0):
    """pixels: HxWxC samples (C = 1 for grey/palette, 2 grey+alpha, 3 RGB, 4 RGBA)."""
    h, w = pixels.shape[:2]
    channels = pixels.shape[2]
    bpp = max(1, channels * bit_depth // 8)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = pixels[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += _filtered(_pack_rows(sub, bit_depth), bpp, filter_type)
    else:
        raw = _filtered(_pack_rows(pixels, bit_depth), bpp, filter_type)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    out += _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    return out


def samples(h, w, c, maximum=255):
    return rng.integers(0, maximum + 1, size=(h, w, c), dtype=np.uint32)


def png_set():
    """Every PNG kind the decoder handles, each small."""
    out = {}
    out["grey8.png"] = png(samples(9, 7, 1), 0)
    out["grey1.png"] = png(samples(5, 11, 1, 1), 0, bit_depth=1)
    out["grey4_interlaced.png"] = png(samples(10, 9, 1, 15), 0, bit_depth=4, interlace=True)
    out["grey16.png"] = png(samples(6, 5, 1, 65535), 0, bit_depth=16)
    out["grey_alpha8.png"] = png(samples(6, 8, 2), 4)
    out["grey_alpha16.png"] = png(samples(4, 4, 2, 65535), 4, bit_depth=16)
    out["rgb8.png"] = png(samples(8, 8, 3), 2, filter_type=1)
    out["rgb8_up.png"] = png(samples(7, 5, 3), 2, filter_type=2)
    out["rgb16.png"] = png(samples(5, 6, 3, 65535), 2, bit_depth=16)
    out["rgb8_interlaced.png"] = png(samples(11, 13, 3), 2, interlace=True)
    out["rgba8.png"] = png(samples(8, 6, 4), 6)
    out["rgba16_interlaced.png"] = png(samples(9, 9, 4, 65535), 6, bit_depth=16, interlace=True)
    pal = samples(16, 1, 3).reshape(16, 3)
    out["palette4.png"] = png(samples(7, 9, 1, 15), 3, bit_depth=4, palette=pal)
    out["palette8_trns.png"] = png(samples(6, 6, 1, 15), 3, palette=pal, trns=bytes(range(0, 256, 16)))
    out["palette2_interlaced.png"] = png(samples(8, 10, 1, 3), 3, bit_depth=2, palette=pal[:4], interlace=True)
    out["grey8_trns.png"] = png(samples(4, 4, 1), 0, trns=struct.pack(">H", 7))
    return out


# ---------------------------------------------------------------- JPEG

def jpeg(pixels, **kwargs):
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def exif_segment(orientation, little_endian):
    """APP1 "Exif" with IFD0 holding one entry: Orientation (0x0112, SHORT, count 1)."""
    e = "<" if little_endian else ">"
    tiff = (b"II" if little_endian else b"MM") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 2)  # two entries: a harmless one first, then Orientation
    tiff += struct.pack(e + "HHI", 0x010F, 2, 4) + b"Cam\0"  # Make, ASCII, 4 bytes inline
    tiff += struct.pack(e + "HHIH", 0x0112, 3, 1, orientation) + b"\0\0"
    tiff += struct.pack(e + "I", 0)  # no next IFD
    payload = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def with_exif(jpeg_bytes, orientation, little_endian):
    return jpeg_bytes[:2] + exif_segment(orientation, little_endian) + jpeg_bytes[2:]


def jpeg_set():
    out = {}
    rgb = samples(16, 24, 3)
    out["baseline.jpg"] = jpeg(rgb, quality=80)
    out["baseline_444.jpg"] = jpeg(rgb, quality=90, subsampling=0)
    out["progressive.jpg"] = jpeg(rgb, quality=75, progressive=True)
    out["optimized.jpg"] = jpeg(samples(9, 13, 3), quality=60, optimize=True)
    out["grey.jpg"] = jpeg(samples(12, 10, 1)[:, :, 0], quality=85)
    out["grey_progressive.jpg"] = jpeg(samples(8, 8, 1)[:, :, 0], quality=85, progressive=True)
    return out


def exif_set():
    small = jpeg(samples(8, 16, 3), quality=50)
    out = {}
    for orientation in range(1, 9):
        out[f"exif_ii_{orientation}.jpg"] = with_exif(small, orientation, True)
        out[f"exif_mm_{orientation}.jpg"] = with_exif(small, orientation, False)
    return out


# ---------------------------------------------------------------- safetensors

def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype name, shape, raw bytes) in file order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_set():
    meta = {"model_id": "sam-tiny", "model_checksum": "ab" * 32, "preprocessing": "resize=64,pad", "dtype": "F32",
            "image_sha256": "cd" * 32, "original_width": "64", "original_height": "48", "created_at": "1700000000",
            "format_version": "1", "note": "extra keys are kept"}
    f32 = np.arange(6, dtype="<f4").tobytes()
    out = {}
    out["f32_meta.safetensors"] = safetensors([("features", "F32", [1, 2, 3], f32)], meta)
    out["mixed.safetensors"] = safetensors([
        ("a", "F64", [2], np.array([1.5, -2], dtype="<f8").tobytes()),
        ("b", "I64", [1, 1], np.array([7], dtype="<i8").tobytes()),
        ("c", "F16", [3], np.array([1, 2, 3], dtype="<f2").tobytes()),
        ("d", "BF16", [2], b"\x80\x3f\x00\x40"),
        ("e", "U8", [4], b"\x00\x01\xfe\xff"),
        ("f", "BOOL", [2], b"\x00\x01"),
        ("g", "F8_E4M3", [2], b"\x38\x40"),
        ("h", "I32", [], np.array([-1], dtype="<i4").tobytes()),
    ], {"format_version": "1"})
    out["empty_tensor.safetensors"] = safetensors([("z", "F32", [0, 4], b""), ("x", "U16", [1], b"\x01\x00")])
    out["no_metadata_unpadded.safetensors"] = safetensors([("w", "I8", [3], b"\x01\x02\x03")], pad=False)
    out["only_metadata.safetensors"] = safetensors([], {"model_id": "m"})
    out["empty.safetensors"] = safetensors([])
    return out


# ---------------------------------------------------------------- GGUF

def _gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}


def _gvalue(vtype, value):
    """The bytes of a value of GGUF value type vtype (no type id); arrays: (element type, [values])."""
    if vtype == 8:
        return _gstr(value)
    if vtype == 9:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(_gvalue(etype, v) for v in items)
    return struct.pack(_SCALARS[vtype], value)


def gguf(tensors, metadata=(), alignment=32, version=3):
    """tensors: list of (name, ggml type id, ne innermost first, raw bytes) in file order;
    metadata: list of (key, value type, value). Each tensor padded to the alignment but the last."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, vtype, value in metadata:
        out += _gstr(key) + struct.pack("<I", vtype) + _gvalue(vtype, value)
    offset = 0
    for name, gtype, ne, raw in tensors:
        out += _gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", gtype, offset)
        offset += len(raw) + (-len(raw) % alignment)
    out += b"\0" * (-len(out) % alignment)
    for k, (_, _, _, raw) in enumerate(tensors):
        out += raw
        if k + 1 < len(tensors):
            out += b"\0" * (-len(raw) % alignment)
    return out


def gguf_set():
    f32 = np.arange(6, dtype="<f4").tobytes()
    f16 = np.array([1, -2, 0.5, 3], dtype="<f2").tobytes()
    bf16 = b"\x80\x3f\x00\x40\x00\xc0\x00\x00"
    q8_0 = b"".join(np.array([0.01], dtype="<f2").tobytes() + bytes(range(k, k + 32)) for k in range(4))  # 2 rows of 64
    every_value = [
        ("general.architecture", 8, "flux"), ("general.quantization_version", 4, 2), ("general.file_type", 4, 7),
        ("v.u8", 0, 200), ("v.i8", 1, -5), ("v.u16", 2, 60000), ("v.i16", 3, -30000), ("v.i32", 5, -7),
        ("v.f32", 6, 1.5), ("v.bool", 7, 1), ("v.u64", 10, 1 << 40), ("v.i64", 11, -(1 << 40)), ("v.f64", 12, -2.25),
        ("v.ints", 9, (5, [1, -2, 3])), ("v.strings", 9, (8, ["a", "bc", ""])),
        ("v.nested", 9, (9, [(0, [1, 2]), (8, ["x"])])), ("v.bools", 9, (7, [0, 1])),
    ]
    flux = [
        ("img_in.bias", 0, [6], f32),
        ("img_in.weight", 1, [2, 2], f16),
        ("time_in.weight", 30, [4], bf16),
        ("double_blocks.0.img_attn.qkv.weight", 8, [64, 2], q8_0),
    ]
    out = {}
    out["flux_q8_0.gguf"] = gguf(flux, every_value)
    out["align64.gguf"] = gguf(flux, [("general.alignment", 4, 64)], alignment=64)
    out["version2.gguf"] = gguf(flux[:2], [("general.architecture", 8, "flux")], version=2)
    out["only_metadata.gguf"] = gguf([], every_value[:3])
    out["empty.gguf"] = gguf([])
    out["f32_3d.gguf"] = gguf([("t", 0, [1, 2, 3], f32)])
    return out


# ---------------------------------------------------------------- text inputs

JSON_SEEDS = [
    {"surface": "grass", "detail": "patchy grass with fallen leaves", "confidence": 0.87, "labeledAt": "2026-11-01T10:00:00Z"},
    {"surface": " Gravel ", "confidence": 0.3},
    {"surface": "lava", "detail": None, "confidence": None},
    {"surface": "water", "confidence": 1},
    {},
    None,
    {"surfaces": {"grass": "lush lawn", "Moss ": "soft green moss"}, "fallback": "plain ground"},
    {"fallback": "background"},
    {"lama_fp32": "torchscript:path=/models/big-lama.pt", "fast": "telea:radius=5", "default": "patchmatch"},
]

MODEL_SPECS = ["telea", "telea:radius=3", "ns:radius=64", "ns", "patchmatch",
               "patchmatch:patch=7,levels=0,iterations=5,search=0,seed=42", "patchmatch:patch=15,iterations=50,search=32",
               "torchscript:path=/models/big-lama.pt,contract=lama,device=cpu,dtype=fp32,max_side=1024",
               "unknown:key=value", "telea:radius=1e1",
               "torchscript:path='/m/a,b=c d.pt',device=\"cuda:0\"", "telea:radius='3'", "x:a='it\\'s \\\\ C:\\x'"]
SEGMENTER_SPECS = ["grabcut", "grabcut:iterations=5,max_side=1024,radius=0", "grabcut:radius=2.5",
                   "sam:encoder=/m/enc.pt,decoder=/m/dec.pt,device=cpu", "other"]
STORE_SPECS = ["memory:capacity=512MB", "memory", "dir:path=/var/cache/enc,capacity=10GB,fsync=0",
               "redis://127.0.0.1:6379/0?prefix=enc:&ttl=3600&timeout_ms=500&retry_ms=1000&chunk=256MB",
               "redis://cache", "redis://:6380/2", "memory:capacity=1GiB|dir:path=/tmp/enc|redis://cache:6379",
               "4096", "1TiB", "memory|dir:path='/tmp/a,b|c',fsync=0", "redis://cache?prefix='a&b|c'&ttl=5"]
ENCODING_IDS = ["0" * 64, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "abc.DEF_1-2", ".hidden",
                "a" * 128, "a" * 129, "sha\n" + "model"]
MANIFESTS = [b"INPAINT-CHUNKS\n1234567890123\n3\n600000000\n", b"INPAINT-CHUNKS\n42\n1\n1024\n",
             b"INPAINT-CHUNKS\n7\n2\n536870913\n", b"\x10\x00\x00\x00\x00\x00\x00\x00{}"]


def mask_set(pngs):
    out = {}
    opts = bytes([127, 2, 2, 15, 32, 32, 4])  # threshold, open, close, dilate, islands, holes, feather<<1|raw
    for i in range(6):
        w, h = int(rng.integers(4, 40)), int(rng.integers(4, 40))
        m = (rng.random((h, w)) < [0.05, 0.3, 0.5, 0.7, 0.9, 0.5][i]).astype(np.uint8) * 255
        if i == 5:  # a blob with a hole and specks
            m[:] = 0
            m[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
            m[h // 2, w // 2] = 0
            m[0, 0] = 255
        raw_opts = bytearray(opts)
        raw_opts[6] = (i * 3 % 17) << 1 | 1
        raw_opts[1], raw_opts[2], raw_opts[3] = i % 5, (i + 2) % 5, i * 3
        out[f"raw_{i}.bin"] = bytes(raw_opts) + bytes([w - 1, h - 1]) + m.tobytes()
    enc_opts = bytes(opts[:6]) + bytes([6 << 1])
    hole = np.zeros((24, 32, 1), dtype=np.uint32)
    hole[6:18, 8:24] = 255
    out["mask_grey.png"] = enc_opts + png(hole, 0)
    rgba = np.zeros((16, 16, 4), dtype=np.uint32)
    rgba[..., 0] = 200
    rgba[4:12, 4:12, 3] = 255  # paint on transparent: the hole is in alpha
    out["mask_rgba.png"] = enc_opts + png(rgba, 6)
    out["mask_rgb.jpg"] = enc_opts + jpeg(np.repeat(hole, 3, axis=2), quality=90)
    out["mask_grey_alpha.png"] = enc_opts + pngs["grey_alpha8.png"]
    return out


def capi_set(pngs, jpegs):
    def pack(flags, image, mask):
        return bytes([flags]) + struct.pack("<H", len(image)) + image + mask

    photo = samples(24, 32, 3)
    hole = np.zeros((24, 32, 1), dtype=np.uint32)
    hole[8:16, 10:22] = 255
    photo_png, hole_png = png(photo, 2), png(hole, 0)
    out = {}
    out["png_png.bin"] = pack(0b0000_0101, photo_png, hole_png)
    out["jpeg_png_crop.bin"] = pack(0b0110_0100, jpeg(photo, quality=80), hole_png)
    out["png_resize_preview.bin"] = pack(0b1011_0101, photo_png, hole_png)
    out["exif_rotated.bin"] = pack(0b0100_0110, with_exif(jpeg(photo, quality=80), 6, True),
                                   png(hole.transpose(1, 0, 2).copy(), 0))
    out["resize_mask.bin"] = pack(0b0000_1101, photo_png, png(hole[::2, ::2].copy(), 0))
    out["rgba_image.bin"] = pack(0b0000_0101, pngs["rgba8.png"], png(np.full((8, 6, 1), 255, dtype=np.uint32), 0))
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    pngs, jpegs, exifs = png_set(), jpeg_set(), exif_set()
    images = {**pngs, **jpegs, **{k: v for k, v in exifs.items() if k.endswith(("_1.jpg", "_6.jpg", "_8.jpg"))}}
    text = lambda items: {f"seed_{i:02d}.txt": (s if isinstance(s, bytes) else s.encode()) for i, s in enumerate(items)}
    corpora = {
        "fuzz_image_probe": {**pngs, **jpegs, **exifs},
        "fuzz_image_decode": images,
        "fuzz_exif": {**exifs, "no_exif.jpg": jpegs["baseline.jpg"][:64]},
        "fuzz_mask": mask_set(pngs),
        "fuzz_safetensors": safetensors_set(),
        "fuzz_gguf": gguf_set(),
        "fuzz_json": text(json.dumps(j) for j in JSON_SEEDS),
        "fuzz_model_spec": text(MODEL_SPECS),
        "fuzz_segmenter_spec": text(SEGMENTER_SPECS),
        "fuzz_store_spec": text(STORE_SPECS),
        "fuzz_encoding_id": text(ENCODING_IDS),
        "fuzz_redis_manifest": text(MANIFESTS),
        "fuzz_capi_run": capi_set(pngs, jpegs),
    }
    for target, files in corpora.items():
        folder = os.path.join(out_dir, target)
        # Seeds only: inputs that fuzz/run.sh --merge added or regression inputs are kept.
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_dir) for f in fs)
    print(f"corpus: {sum(len(v) for v in corpora.values())} seeds for {len(corpora)} targets, {total} bytes in {out_dir}")


if __name__ == "__main__":
    main()
