#!/usr/bin/env python3
"""Re-read tests/data/flux with libinpaint's own readers and check that the diffusers-layout file and
both GGUF files decode back to the BFL weights (exactly, except Q8_0 tensors: within one Q8_0 step).

Usage: python3 tools/flux_golden_check.py tests/data/flux
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_write  # noqa: E402
from flux_keys import diffusers_to_bfl  # noqa: E402
from st_io import read_safetensors  # noqa: E402


def check(out_dir):
    bfl, _ = read_safetensors(os.path.join(out_dir, "transformer-bfl.safetensors"))
    bfl = {k: a for k, (dt, a) in bfl.items()}
    diff, _ = read_safetensors(os.path.join(out_dir, "transformer-diffusers.safetensors"))
    back = diffusers_to_bfl({k: a for k, (dt, a) in diff.items()})
    assert sorted(back) == sorted(bfl), set(back) ^ set(bfl)
    for k in bfl:
        assert back[k].shape == bfl[k].shape and np.array_equal(back[k], bfl[k]), k
    print(f"check: diffusers layout ({len(diff)} tensors) -> BFL ({len(bfl)}) exact")

    for fname, one_d in (("transformer-q8_0.gguf", gguf_write.F32), ("transformer-q8_0-f16.gguf", gguf_write.F16)):
        meta, tensors = gguf_write.read_gguf(os.path.join(out_dir, fname))
        assert meta == {"general.architecture": "flux", "general.quantization_version": 2}, meta
        assert sorted(t["name"] for t in tensors) == sorted(bfl)
        worst = 0.0
        types = {}
        for t in tensors:
            ref = bfl[t["name"]]
            assert t["shape"] == ref.shape, t["name"]
            types[gguf_write.TYPE_NAMES[t["type"]]] = types.get(gguf_write.TYPE_NAMES[t["type"]], 0) + 1
            if t["type"] == gguf_write.Q8_0:
                # half a quantisation step, plus up to 127 times the fp16 rounding of the block scale
                d = np.abs(ref.reshape(-1, 32)).max(axis=1, keepdims=True) / np.float32(127)
                bound = 0.5 * d + 127 * np.abs(d.astype(np.float16).astype(np.float32) - d) + 1e-7
                err = np.abs(t["array"] - ref)
                assert (err.reshape(-1, 32) <= bound).all(), t["name"]
                worst = max(worst, float(err.max()))
            else:
                if ref.ndim == 1:
                    assert t["type"] == one_d, t["name"]
                assert np.array_equal(t["array"], ref), t["name"]
        print(f"check: {fname}: {types}; unquantised exact, Q8_0 max abs error {worst:.3g}")

    golden, _ = read_safetensors(os.path.join(out_dir, "golden.safetensors"))
    ae, _ = read_safetensors(os.path.join(out_dir, "ae.safetensors"))
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"check: golden.safetensors {len(golden)} tensors, ae.safetensors {len(ae)} tensors; "
          f"{out_dir} holds {total} bytes")
    assert total <= 2 * 1024 * 1024


if __name__ == "__main__":
    check(sys.argv[1] if len(sys.argv) > 1 else "tests/data/flux")
