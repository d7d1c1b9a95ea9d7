"""Minimal safetensors writer and reader (libinpaint's own; format: 8-byte little-endian header
length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}},
padded with spaces to a multiple of 8, then the raw little-endian data)."""
import json
import struct

import numpy as np

from gguf_write import bf16_bits, bf16_to_f32

_NP = {"F32": "<f4", "F16": "<f2", "U8": "u1", "I64": "<i8"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> (dtype string, numpy array). BF16 arrays are given as float32 values
    (rounded to nearest even when written). Data is laid out in sorted-name order."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        dtype, arr = tensors[name]
        arr = np.ascontiguousarray(arr)
        if dtype == "BF16":
            raw = bf16_bits(arr.astype(np.float32)).astype("<u2").tobytes()
        else:
            raw = arr.astype(_NP[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """-> (dict name -> (dtype, numpy array; BF16/F16 widened to float32), metadata dict)."""
    data = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            arr = bf16_to_f32(np.frombuffer(raw, dtype="<u2")).reshape(shape)
        else:
            arr = np.frombuffer(raw, dtype=_NP[info["dtype"]]).reshape(shape).copy()
        out[name] = (info["dtype"], arr)
    return out, meta
