#!/usr/bin/env python3
"""One FLUX.1-Fill denoising step on the CPU: the library's native transformer against the
reference's PyTorch code (black-forest-labs/flux), same random weights, same inputs, same threads.

Usage:
    git -C <bfl flux repo> archive 802fb471 src | tar -x -C /tmp/flux-ref
    cmake --build build --target bench_flux_step
    python3 bench/bench_flux_step.py --reference /tmp/flux-ref/src [--threads 2] [--repeats 5] \
        [--rounds 2] [--work /tmp/flux-bench] [--binary build/bin/bench_flux_step] [--reuse]

The model is the issue's mid-size config: the real widths (hidden 3072, 24 heads, MLP 12288,
context 4096, vec 768, in 384 / out 64, axes [16,56,56], qkv bias, guidance embedding) with
1 double-stream and 1 single-stream block (~545 M parameters, 2.2 GB in fp32). Its weights are
random (seeded, scaled as tools/flux_golden.py scales them: N(0,1)/sqrt(fan_in) for matrices,
1 + 0.1 N for norm scales, 0.05 N for biases) and rounded to bf16 values, but stored and run as
fp32 ("bf16-valued fp32"): both sides compute in fp32. The inputs are one step of a 256x256 Fill
run: latent 32x32 -> 256 packed image tokens of 384 channels, 512 text tokens of 4096, pooled
vector 768, t = 0.75, guidance 30; all random N(0,1) except the ids (the reference's own prepare()).

The checkpoint (BFL layout) and the inputs (with the reference's output) go to --work, outside
the repository; --reuse keeps files made by an earlier run with the same seed. Then, with the
same thread count on both sides (torch.set_num_threads / at::set_num_threads, and
OMP_NUM_THREADS for both processes), each round times the reference forward (median of
--repeats after a warm-up, torch.inference_mode, fp32) and then runs the C++ binary (which loads
the checkpoint and times its forward the same way: quant none, and with --int8 also quant int8).
Rounds alternate the two so that load on this shared machine falls on both. Prints one JSON
line per measurement and a summary: ratio = median of the library's medians / median of the
reference's medians, and the output agreement.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEED = 13


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="the reference's src/ directory (contains flux/)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="timed forwards per measurement (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations reference / library")
    ap.add_argument("--work", default="/tmp/flux-bench")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "bin", "bench_flux_step"))
    ap.add_argument("--reuse", action="store_true", help="keep the checkpoint and inputs of an earlier run")
    ap.add_argument("--int8", action="store_true", help="also time the library with int8 block weights")
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--depth-single", type=int, default=1)
    return ap.parse_args()


def main():
    args = parse_args()
    # Before torch is imported, so that its OpenMP pool and the BLAS see the same count as the C++ side.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from flux_golden import import_reference, randomise, state_np  # noqa: E402
    from st_io import write_safetensors  # noqa: E402

    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    ckpt = os.path.join(args.work, "transformer-bfl-f32.safetensors")
    inputs_path = os.path.join(args.work, "inputs.safetensors")
    stamp = os.path.join(args.work, "stamp.json")
    want = {"seed": SEED, "depth": args.depth, "depth_single": args.depth_single, "dtype": "bf16-valued F32"}

    ref, shimmed = import_reference(args.reference)
    print("shimmed:", ", ".join(shimmed) or "nothing", file=sys.stderr)
    params = ref.model.FluxParams(in_channels=384, out_channels=64, vec_in_dim=768, context_in_dim=4096,
                                  hidden_size=3072, mlp_ratio=4.0, num_heads=24, depth=args.depth,
                                  depth_single_blocks=args.depth_single, axes_dim=[16, 56, 56], theta=10_000,
                                  qkv_bias=True, guidance_embed=True)
    torch.manual_seed(SEED)
    model = ref.model.Flux(params).eval()
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.time()
    randomise(model, seed=SEED)
    print(f"model: {n_params / 1e6:.1f} M parameters, randomised in {time.time() - t0:.1f} s", file=sys.stderr)

    reuse = args.reuse and all(os.path.exists(p) for p in (ckpt, inputs_path, stamp)) and \
        json.load(open(stamp)) == want

    S = ref.sampling
    with torch.inference_mode():
        if reuse:
            sys.path.insert(0, os.path.join(ROOT, "tools"))
            from st_io import read_safetensors
            saved, _ = read_safetensors(inputs_path)
            inp = {k: torch.from_numpy(v[1]) for k, v in saved.items()}
        else:
            g = torch.Generator().manual_seed(SEED + 1)
            txt = torch.randn(1, 512, 4096, generator=g)
            vec = torch.randn(1, 768, generator=g)
            latent_like = torch.zeros(1, 16, 32, 32)  # 256x256 image -> 32x32 latent -> 16x16 packed tokens
            prep = S.prepare(lambda prompt: txt.clone(), lambda prompt: vec.clone(), latent_like, "unused")
            inp = {"img": torch.randn(1, prep["img"].shape[1], 384, generator=g), "img_ids": prep["img_ids"],
                   "txt": prep["txt"], "txt_ids": prep["txt_ids"], "y": prep["vec"],
                   "timesteps": torch.tensor([0.75]), "guidance": torch.tensor([30.0])}

        def forward():
            return model(img=inp["img"], img_ids=inp["img_ids"], txt=inp["txt"], txt_ids=inp["txt_ids"],
                         timesteps=inp["timesteps"], y=inp["y"], guidance=inp["guidance"])

        if not reuse:
            out = forward()
            inp["out"] = out
            meta = {"generator": "bench/bench_flux_step.py", "seed": str(SEED),
                    "weights": "random, bf16-valued, stored F32"}
            t0 = time.time()
            write_safetensors(ckpt, {k: ("F32", v) for k, v in state_np(model).items()}, meta)
            write_safetensors(inputs_path, {k: ("F32", v.numpy()) for k, v in inp.items()}, meta)
            json.dump(want, open(stamp, "w"))
            print(f"wrote {ckpt} ({os.path.getsize(ckpt) / 2**30:.2f} GiB) and {inputs_path} "
                  f"in {time.time() - t0:.1f} s", file=sys.stderr)
        print(f"inputs: img {list(inp['img'].shape)}, txt {list(inp['txt'].shape)}, y {list(inp['y'].shape)}, "
              f"t {inp['timesteps'].tolist()}, guidance {inp['guidance'].tolist()}; reference out "
              f"{list(inp['out'].shape)} std {float(inp['out'].std()):.4f}", file=sys.stderr)

        ref_medians, lib_medians, int8_medians, lib_lines = [], [], [], []
        for r in range(args.rounds):
            times = []
            for i in range(args.repeats + 1):
                t0 = time.perf_counter()
                out = forward()
                if i:
                    times.append((time.perf_counter() - t0) * 1000)
            same = float((out - inp["out"]).abs().max())  # the reference against its own saved output
            med = sorted(times)[len(times) // 2] if len(times) % 2 else \
                sum(sorted(times)[len(times) // 2 - 1:len(times) // 2 + 1]) / 2
            ref_medians.append(med)
            print(json.dumps({"impl": "reference", "round": r, "threads": args.threads, "repeats": args.repeats,
                              "median_ms": round(med, 2), "runs_ms": [round(t, 1) for t in times],
                              "max_abs_diff_vs_saved": same}), flush=True)

            cmd = [args.binary, ckpt, inputs_path, str(args.threads), str(args.repeats),
                   "both" if args.int8 and r == args.rounds - 1 else "none"]
            res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True,
                                 env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
            for line in res.stdout.splitlines():
                d = json.loads(line)
                d["round"] = r
                print(json.dumps(d), flush=True)
                (lib_medians if d["quant"] == "none" else int8_medians).append(d["median_ms"])
                lib_lines.append(d)

    def median(v):
        v = sorted(v)
        return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

    fp32 = [d for d in lib_lines if d["quant"] == "none"]
    summary = {"threads": args.threads, "repeats": args.repeats, "rounds": args.rounds,
               "reference_median_ms": round(median(ref_medians), 1),
               "library_median_ms": round(median(lib_medians), 1),
               "ratio": round(median(lib_medians) / median(ref_medians), 3),
               "max_abs_diff": max(d["max_abs_diff"] for d in fp32), "ref_max_abs": fp32[0]["ref_max_abs"],
               "rel_l2": max(d["rel_l2"] for d in fp32)}
    if int8_medians:
        q = [d for d in lib_lines if d["quant"] == "int8"][-1]
        summary.update({"int8_median_ms": round(median(int8_medians), 1),
                        "int8_ratio": round(median(int8_medians) / median(ref_medians), 3),
                        "int8_max_abs_diff": q["max_abs_diff"], "int8_rel_l2": q["rel_l2"]})
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
