"""Minimal GGUF v3 writer/reader and Q8_0 (de)quantisation, written for libinpaint's golden files.

Only what the FLUX golden tests need: metadata values of type UINT32 and STRING, tensors of type
F32, F16, BF16 and Q8_0.  Layout (ggml docs/gguf.md): magic "GGUF", uint32 version, uint64 tensor
count, uint64 kv count, the kv pairs, the tensor infos (name, n_dims, ne[] innermost first, type,
offset relative to the data section), padding to the alignment, the data section (every tensor
starts at a multiple of the alignment).
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# ggml_type ids
F32, F16, Q8_0, BF16 = 0, 1, 8, 30
TYPE_NAMES = {F32: "F32", F16: "F16", Q8_0: "Q8_0", BF16: "BF16"}

# gguf metadata value types
KV_UINT32, KV_STRING = 4, 8

Q8_0_BLOCK = 32           # values per block
Q8_0_BYTES = 2 + 32       # fp16 scale + 32 int8


def bf16_bits(x):
    """float32 array -> uint16 bf16 bits, round to nearest even (x is expected finite)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def quantize_q8_0(w):
    """float32 [..., K] (K % 32 == 0) -> bytes of Q8_0 blocks, row-major.

    Per block of 32 consecutive values along the last axis: d = max|x| / 127 (fp32),
    q = round-half-away-from-zero(x * (1/d)) (0 when d == 0), stored as fp16(d) then 32 int8.
    This is what ggml's quantize_row_q8_0_ref does.
    """
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.shape[-1] % Q8_0_BLOCK:
        raise ValueError(f"Q8_0 needs the innermost dim divisible by 32, got {w.shape}")
    blocks = w.reshape(-1, Q8_0_BLOCK)
    d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127.0)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    v = blocks * inv
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)
    out = np.empty((blocks.shape[0], Q8_0_BYTES), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def dequantize_q8_0(raw, shape):
    """bytes of Q8_0 blocks -> float32 array of `shape` (torch order, innermost last): w = fp16(d) * q."""
    a = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q8_0_BYTES)
    d = a[:, :2].copy().view(np.float16).astype(np.float32)
    q = a[:, 2:].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(shape)


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _pad(n, align):
    return (-n) % align


def encode_tensor(arr, ggml_type):
    """float32 numpy array (torch order) -> raw bytes for ggml_type."""
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if ggml_type == F32:
        return arr.astype("<f4").tobytes()
    if ggml_type == F16:
        return arr.astype("<f2").tobytes()
    if ggml_type == BF16:
        return bf16_bits(arr).astype("<u2").tobytes()
    if ggml_type == Q8_0:
        return quantize_q8_0(arr)
    raise ValueError(f"unsupported ggml type {ggml_type}")


def write_gguf(path, metadata, tensors, alignment=DEFAULT_ALIGNMENT):
    """metadata: list of (key, value) with str or ('u32', int) values.
    tensors: list of (name, float32 numpy array in torch order, ggml_type), written in that order."""
    kv = b""
    for key, value in metadata:
        if isinstance(value, str):
            kv += _str(key) + struct.pack("<I", KV_STRING) + _str(value)
        elif isinstance(value, tuple) and value[0] == "u32":
            kv += _str(key) + struct.pack("<I", KV_UINT32) + struct.pack("<I", value[1])
        else:
            raise ValueError(f"unsupported metadata value for {key}: {value!r}")
    infos = b""
    blobs = []
    offset = 0
    for name, arr, ggml_type in tensors:
        raw = encode_tensor(arr, ggml_type)
        ne = list(reversed(arr.shape))  # ggml: ne[0] is the innermost (contiguous) dimension
        infos += _str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        infos += struct.pack("<I", ggml_type) + struct.pack("<Q", offset)
        blobs.append(raw + b"\0" * _pad(len(raw), alignment))
        offset += len(blobs[-1])
    head = GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(tensors), len(metadata)) + kv + infos
    head += b"\0" * _pad(len(head), alignment)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


def read_gguf(path):
    """-> (metadata dict, list of dicts {name, type, shape (torch order), raw bytes, array float32})."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals if len(vals) > 1 else vals[0]

    def take_str():
        nonlocal pos
        n = take("<Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    if data[:4] != GGUF_MAGIC:
        raise ValueError("not a GGUF file")
    pos = 4
    version, n_tensors, n_kv = take("<IQQ")
    if version != GGUF_VERSION:
        raise ValueError(f"GGUF version {version}")
    meta = {}
    for _ in range(n_kv):
        key = take_str()
        vtype = take("<I")
        if vtype == KV_STRING:
            meta[key] = take_str()
        elif vtype == KV_UINT32:
            meta[key] = take("<I")
        else:
            raise ValueError(f"metadata type {vtype} not supported by this reader")
    alignment = meta.get("general.alignment", DEFAULT_ALIGNMENT)
    infos = []
    for _ in range(n_tensors):
        name = take_str()
        nd = take("<I")
        ne = [take("<Q") for _ in range(nd)]
        ttype = take("<I")
        off = take("<Q")
        infos.append((name, ne, ttype, off))
    data_start = pos + _pad(pos, alignment)
    out = []
    for name, ne, ttype, off in infos:
        shape = tuple(reversed(ne))
        n = int(np.prod(shape)) if shape else 1
        start = data_start + off
        if start % alignment:
            raise ValueError(f"{name}: data not aligned")
        if ttype == F32:
            raw = data[start:start + 4 * n]
            arr = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        elif ttype == F16:
            raw = data[start:start + 2 * n]
            arr = np.frombuffer(raw, dtype="<f2").reshape(shape).astype(np.float32)
        elif ttype == BF16:
            raw = data[start:start + 2 * n]
            arr = bf16_to_f32(np.frombuffer(raw, dtype="<u2")).reshape(shape)
        elif ttype == Q8_0:
            raw = data[start:start + n // Q8_0_BLOCK * Q8_0_BYTES]
            arr = dequantize_q8_0(raw, shape)
        else:
            raise ValueError(f"{name}: ggml type {ttype} not supported by this reader")
        out.append({"name": name, "type": ttype, "shape": shape, "raw": raw, "array": arr})
    return meta, out
