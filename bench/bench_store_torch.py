#!/usr/bin/python3
"""The encoding store's local tier from Python against torch.save / torch.load of the same
tensors (python3-torch), same files directory, medians of N runs. Prints one JSON line per size.

save: Encoding viewing the torch tensors (add(copy=False)) + Store.put (fsync=0) vs torch.save.
load: Store.get + zero-copy torch views of the arrays vs torch.load.
Usage: PYTHONPATH=build/python /usr/bin/python3 bench/bench_store_torch.py DIR [runs=15]
"""
import json
import statistics
import sys
import time
import warnings

import numpy as np
import torch

import inpaint

warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


def median_ms(runs, body):
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        body()
        if i:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def to_encoding(tensors, model_id):
    e = inpaint.Encoding(model_id=model_id)
    for name, t in tensors.items():
        if t.dtype == torch.bfloat16:
            e.add(name, t.view(torch.int16).numpy().view(np.uint16), dtype="BF16", copy=False)
        else:
            e.add(name, t.numpy(), copy=False)
    return e


def to_torch(encoding):
    out = {}
    for name in encoding.names():
        array = encoding[name]
        if encoding.dtype_of(name) == "BF16":
            out[name] = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        else:
            out[name] = torch.from_numpy(array)
    return out


def bench(label, tensors, directory, runs):
    store = inpaint.Store(f"dir:path={directory},fsync=0")
    path = f"{directory}/torch-{label}.pt"
    torch_save = median_ms(runs, lambda: torch.save(tensors, path))
    store_save = median_ms(runs, lambda: store.put(label, to_encoding(tensors, label)))
    torch_load = median_ms(runs, lambda: torch.load(path))
    store_load = median_ms(runs, lambda: to_torch(store.get(label)))
    back = to_torch(store.get(label))
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)
    mb = sum(t.numel() * t.element_size() for t in tensors.values()) / 1e6
    print(json.dumps({
        "encoding": label, "mb": round(mb, 2), "runs": runs,
        "torch_save_ms": round(torch_save, 2), "store_save_ms": round(store_save, 2),
        "save_speedup": round(torch_save / store_save, 2),
        "torch_load_ms": round(torch_load, 2), "store_load_ms": round(store_load, 3),
        "load_speedup": round(torch_load / store_load, 1),
    }))
    store.remove(label)


def main():
    directory = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    torch.manual_seed(0)
    sam3 = {f"backbone_fpn_{i}": torch.randn(1, 256, s, s).to(torch.bfloat16) for i, s in enumerate((288, 144, 72))}
    sam1 = {"image_embeddings": torch.randn(1, 256, 64, 64)}
    bench("sam3", sam3, directory, runs)
    bench("sam1", sam1, directory, runs)


if __name__ == "__main__":
    main()
