#!/usr/bin/python3
"""Background removal end to end: libinpaint against the service's Python way, same run.

Times, on this machine with 2 threads each (medians):
- forward: the ISNet network at 1024x1024 through the library (`salient` matter, model_ms of
  predict() on a 1024x1024 photo), through python3-torch (the same TorchScript file), and through
  onnxruntime-node on the original ONNX (tools/isnet_reference.js --repeat);
- request: a 12 MP JPEG -> alpha -> the four effects -> four PNGs. The library's
  remove_background against a Python baseline written the service's way: PIL decode, numpy
  preprocessing, the model through python3-torch, each effect one after another at full
  resolution with numpy/OpenCV-python (Floyd-Steinberg through PIL's C implementation), PIL PNG
  encodes at the same zlib level. Reported: everything but the model, against the Python path's
  non-model time and against the codec floor (the library's own decode + four encodes);
- repeat: the same request again with a result cache (the four outputs from memory), and with a
  fresh cache but the matte in Redis (the model skipped);
- cold start: a new process from exec to its first cut-out (CLI `inpaint cutout --json`), and
  the model's load and warm-up as load_info reports them.

Needs scripts/get-test-models.sh (the ISNet files in the cache) and a build (build/python,
build/bin/inpaint). Usage:
  /usr/bin/python3 bench/bench_cutout.py [--reps 5] [--skip-forward] [--skip-python]
"""
import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "python"))
sys.path.insert(0, str(ROOT / "tests" / "python"))
import inpaint  # noqa: E402
from model_cache import cache_dir, node_modules  # noqa: E402

THREADS = 2


def median_ms(fn, reps, warm=1):
    for _ in range(warm):
        fn()
    runs = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


# ---------------------------------------------------------------- the Python way (the seed's)

def py_bw(rgb, alpha):
    x = rgb.astype(np.float32) / 255
    g = x[..., 0] * 0.18 + x[..., 1] * 0.72 + x[..., 2] * 0.10
    shadows = np.power(np.clip(1.1 * g, 0, None), 1.25) * 0.92
    highlights = 1 - np.power(np.clip((1 - g) * 1.05, 0, None), 0.75) * 0.95
    w = 1 / (1 + np.exp(-10 * (g - 0.4)))
    g = (shadows * (1 - w) + highlights * w - 0.5) * 1.12 + 0.5
    blur = cv2.GaussianBlur(g, (5, 5), 1.2)
    g = g + (g - blur) * 0.9 * 4 * g * (1 - g)
    glow = cv2.GaussianBlur(np.where(g > 0.75, g, 0).astype(np.float32), (21, 21), 7)
    g = g + glow * 0.12 * (1 - g * g)
    rng = np.random.default_rng(0)
    g = g + rng.normal(0, 0.4, g.shape).astype(np.float32) * 0.7 * 0.08 * np.clip(1.2 - g, 0.3, 1)
    g8 = (np.clip(g, 0, 1) * 255).astype(np.uint8)
    return np.dstack([g8, g8, g8, alpha])


def py_popart(rgb, alpha):
    c = np.clip((rgb.astype(np.float32) - 128) * 2.5 + 128, 0, 255)
    lum = c @ np.array([0.299, 0.587, 0.114], np.float32)
    c = np.clip(lum[..., None] + (c - lum[..., None]) * 2.0, 0, 255)
    c = np.round(c / 127.5) * 127.5
    l709 = c @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    palette = np.array([[0, 0, 0], [138, 43, 226], [0, 191, 255], [255, 20, 147], [50, 205, 50],
                        [0, 255, 127], [50, 205, 50], [255, 20, 147], [0, 191, 255]], np.uint8)
    bands = np.digitize(l709, [40, 70.001, 100.001, 130.001, 160.001, 190.001, 210.001, 240.001])
    out = palette[bands]
    return np.dstack([out, alpha])


def py_dither(rgb, alpha):
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g = 255 * np.power(g / 255, 0.45)
    g[alpha < 128] = 255
    edges = cv2.filter2D(g, -1, np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32) / 8)
    g = np.clip(g + 0.3 * edges, 0, 255).astype(np.uint8)
    small = cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)
    dots = np.asarray(Image.fromarray(small).convert("1"), dtype=np.uint8) * 255  # PIL's Floyd-Steinberg in C
    full = cv2.resize(dots, (g.shape[1], g.shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.dstack([full, full, full, alpha])


def py_color(rgb, alpha):
    return np.dstack([rgb, alpha])


def python_request(module, jpeg_bytes, stages):
    t = time.perf_counter()
    image = Image.open(io.BytesIO(jpeg_bytes)).convert("RGB")
    rgb = np.asarray(image)
    stages["decode"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    x = np.asarray(image.resize((1024, 1024), Image.BILINEAR), dtype=np.float32)
    x = torch.from_numpy((x - 128) / 256).permute(2, 0, 1)[None].contiguous()
    stages["preprocess"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    with torch.no_grad():
        out = module(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    stages["model"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    pred = torch.nn.functional.interpolate(out.reshape(1, 1, 1024, 1024), size=rgb.shape[:2], mode="bilinear",
                                           align_corners=False)
    alpha = (pred.clamp(0, 1)[0, 0].numpy() * 255 + 0.5).astype(np.uint8)
    stages["postprocess"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    outputs = [fx(rgb, alpha) for fx in (py_color, py_bw, py_popart, py_dither)]
    stages["effects"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    encoded = []
    for o in outputs:
        buf = io.BytesIO()
        Image.fromarray(o, "RGBA").save(buf, format="PNG", compress_level=1)
        encoded.append(buf.getvalue())
    stages["encode"] = (time.perf_counter() - t) * 1000
    return encoded


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--skip-forward", action="store_true")
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--redis-port", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    onnx_path, pt_path = cache_dir() / "isnet" / "isnet-medium.onnx", cache_dir() / "isnet" / "isnet-medium.pt"
    if not (onnx_path.exists() and pt_path.exists()):
        sys.exit("the ISNet files are missing: run scripts/get-test-models.sh")
    spec = f"salient:path={pt_path},preset=isnet-imgly,threads={THREADS},device=cpu,warmup=1"
    results = {"threads": THREADS, "spec": spec}

    load_start = time.perf_counter()
    matter = inpaint.load_matter(spec)
    results["load_ms_wall"] = (time.perf_counter() - load_start) * 1000
    results["load_info"] = dict(matter.load_info) if not isinstance(matter.load_info, dict) else matter.load_info

    work = Path(tempfile.mkdtemp(prefix="bench_cutout_"))
    try:
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_photo.py"), str(work)], check=True)
        jpeg = (work / "photo12mp.jpg").read_bytes()
        rgb12 = cv2.cvtColor(cv2.imread(str(work / "photo12mp.jpg")), cv2.COLOR_BGR2RGB)
        # A subject for the matte: the bench photo has none, so paste a real one (chelsea) in.
        cat = cv2.cvtColor(cv2.imread(str(ROOT.parent / "shared/data/inpaint-dev/chelsea.png")), cv2.COLOR_BGR2RGB)
        cat = cv2.resize(cat, (cat.shape[1] * 4, cat.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
        y0, x0 = 800, 1000
        rgb12[y0:y0 + cat.shape[0], x0:x0 + cat.shape[1]] = cat
        ok, enc = cv2.imencode(".jpg", cv2.cvtColor(rgb12, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        jpeg = enc.tobytes()
        results["photo"] = {"width": rgb12.shape[1], "height": rgb12.shape[0], "jpeg_bytes": len(jpeg)}

        if not args.skip_forward:
            square = np.ascontiguousarray(cv2.resize(rgb12, (1024, 1024), interpolation=cv2.INTER_AREA))
            lib_runs = []
            for _ in range(args.reps + 1):
                t = time.perf_counter()
                pred = matter.predict(square)
                lib_runs.append((time.perf_counter() - t) * 1000)
            results["forward_library_ms"] = statistics.median(lib_runs[1:])
            module = torch.jit.load(str(pt_path)).eval()
            x = torch.from_numpy((square.astype(np.float32) - 128) / 256).permute(2, 0, 1)[None].contiguous()
            with torch.no_grad():
                results["forward_python_torch_ms"] = median_ms(lambda: module(x), args.reps)
                frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.load(str(pt_path)).eval()))
                results["forward_python_torch_optimized_ms"] = median_ms(lambda: frozen(x), args.reps)
            raw = work / "in.f32"
            x.numpy().astype("<f4").tofile(raw)
            node = subprocess.run(["node", str(ROOT / "tools" / "isnet_reference.js"), "forward", str(onnx_path), str(raw),
                                   str(work / "out.f32"), "--threads", str(THREADS), "--repeat", str(args.reps)],
                                  check=True, capture_output=True, text=True,
                                  env={**os.environ, "INPAINT_NODE_MODULES": str(node_modules())})
            results["forward_onnxruntime_node_ms"] = json.loads(node.stdout.strip().splitlines()[-1])["median_ms"]
            results["forward_ratio_library_vs_onnxruntime"] = (results["forward_library_ms"] /
                                                               results["forward_onnxruntime_node_ms"])

        effects = ["color", "bw", "popart", "dither"]
        lib_stage_runs = []
        for _ in range(args.reps):
            r = inpaint.remove_background(matter, jpeg, effects=effects, threads=THREADS)
            lib_stage_runs.append(dict(r.timings))
        lib = {k: statistics.median(run[k] for run in lib_stage_runs) for k in lib_stage_runs[0]}
        lib_model = lib["preprocess"] + lib["model"]
        results["library_request_ms"] = lib
        results["library_non_model_ms"] = lib["total"] - lib_model

        # The codec floor: the library's decode of the photo and encodes of the four outputs
        # (PNG level 1, as remove_background writes them), nothing else.
        planes = []
        for name in effects:
            rgba = np.asarray(Image.open(io.BytesIO(r.outputs[name])).convert("RGBA"))
            planes.append((np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])))

        def codec_floor():
            inpaint.decode(jpeg)
            for rgb, alpha in planes:
                inpaint.encode(rgb, format="png", alpha=alpha)
        results["codec_floor_ms"] = median_ms(codec_floor, args.reps)
        results["library_non_model_vs_codec_floor"] = results["library_non_model_ms"] / results["codec_floor_ms"]

        if not args.skip_python:
            module = torch.jit.load(str(pt_path)).eval()
            py_runs = []
            for _ in range(max(3, args.reps // 2)):
                stages = {}
                t = time.perf_counter()
                python_request(module, jpeg, stages)
                stages["total"] = (time.perf_counter() - t) * 1000
                py_runs.append(stages)
            py = {k: statistics.median(run[k] for run in py_runs) for k in py_runs[0]}
            results["python_request_ms"] = py
            results["python_non_model_ms"] = py["total"] - py["model"] - py["preprocess"]
            results["non_model_ratio_library_vs_python"] = results["library_non_model_ms"] / results["python_non_model_ms"]

        cache = inpaint.ResultCache(512 << 20)
        inpaint.remove_background(matter, jpeg, effects=effects, threads=THREADS, cache=cache)
        hits = []
        for _ in range(max(20, args.reps)):
            t = time.perf_counter()
            hit = inpaint.remove_background(matter, jpeg, effects=effects, threads=THREADS, cache=cache)
            hits.append((time.perf_counter() - t) * 1000)
            assert hit.outputs_from_cache
        results["repeat_from_cache_ms"] = statistics.median(hits)

        redis = None
        if shutil.which("redis-server"):
            import socket
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)
            time.sleep(0.5)
            store = inpaint.Store(f"redis://127.0.0.1:{port}?prefix=bench:")
            first = inpaint.remove_background(matter, jpeg, effects=effects, threads=THREADS, store=store)
            second = inpaint.remove_background(matter, jpeg, effects=effects, threads=THREADS, store=store)
            results["redis"] = {"first_total_ms": first.timings["total"], "first_model_ms": first.timings["model"],
                                "second_total_ms": second.timings["total"], "second_store_ms": second.timings["store"],
                                "second_from_store": second.matte_from_store, "model_ms_saved": second.model_ms_saved}
            redis.terminate()
            redis.wait()

        cli = ROOT / "build" / "bin" / "inpaint"
        if cli.exists():
            src = work / "in.jpg"
            src.write_bytes(jpeg)
            t = time.perf_counter()
            out = subprocess.run([str(cli), "cutout", "--image", str(src), "--out", str(work / "out.png"),
                                  "--model", spec, "--json"], check=True, capture_output=True, text=True)
            results["cold_start_ms"] = (time.perf_counter() - t) * 1000
            results["cold_start_cli_json"] = json.loads(out.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
