#!/usr/bin/env python3
"""Golden tensors for libinpaint's native FLUX.1-Fill port, produced by the public BFL reference.

Usage:
    git -C <bfl flux repo> archive 802fb471 src | tar -x -C /tmp/flux-ref
    python3 tools/flux_golden.py --reference /tmp/flux-ref/src --out tests/data/flux

The reference is imported from --reference and only called; nothing of it lives in this repository.
What Python-torch 1.13 (and this machine) lacks is supplied here, never patched into the reference:
  * torch.nn.functional.scaled_dot_product_attention (plain softmax(q k^T / sqrt(d)) v, no mask),
  * the `einops` module (a small rearrange/repeat for the patterns the reference uses), if missing,
  * empty stand-ins for modules that are imported but never used on this path (transformers,
    huggingface_hub, requests, imwatermark, safetensors, cv2), if missing.
Tiny random models (bf16-valued weights), fp32 on CPU, fixed seeds: the output is deterministic.
See tests/data/flux/README.md for what every file and tensor holds.
"""
import argparse
import contextlib
import math
import os
import re
import sys
import tempfile
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_write  # noqa: E402
from flux_keys import bfl_to_diffusers  # noqa: E402
from st_io import write_safetensors  # noqa: E402

REFERENCE_COMMIT = "802fb4713906133fcbd0d8dc5351620ca4773036"  # black-forest-labs/flux "FLUX.1 Krea Release"

# ----------------------------------------------------------------------------------------------
# shims


def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
    assert attn_mask is None and dropout_p == 0.0 and not is_causal
    s = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    return torch.matmul(torch.softmax(s, dim=-1), v)


_TOKEN = re.compile(r"\(|\)|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|\d+")


def _parse_side(side):
    groups, cur = [], None
    for tok in _TOKEN.findall(side):
        if tok == "(":
            cur = []
        elif tok == ")":
            groups.append(cur)
            cur = None
        elif tok == "...":
            groups.append("...")
        elif tok.isdigit():
            if tok != "1":
                raise NotImplementedError("only the literal 1 is supported")
            if cur is None:
                groups.append([])  # a unit axis; inside a group it contributes nothing
        else:
            if cur is not None:
                cur.append(tok)
            else:
                groups.append([tok])
    return groups


def _einops_apply(x, pattern, sizes, allow_new):
    left, right = (_parse_side(s) for s in pattern.split("->"))
    if "..." in left:
        n = x.dim() - (len(left) - 1)
        ell = [[f"_ell{i}"] for i in range(n)]
        i = left.index("...")
        left = left[:i] + ell + left[i + 1:]
        j = right.index("...")
        right = right[:j] + ell + right[j + 1:]
    if len(left) != x.dim():
        raise ValueError(f"{pattern}: tensor has {x.dim()} dims")
    known = dict(sizes)
    for group, dim in zip(left, x.shape):
        unknown = [a for a in group if a not in known]
        prod = 1
        for a in group:
            if a in known:
                prod *= known[a]
        if len(unknown) > 1:
            raise ValueError(f"{pattern}: cannot infer {unknown}")
        if unknown:
            known[unknown[0]] = dim // prod
            prod *= known[unknown[0]]
        if prod != dim:
            raise ValueError(f"{pattern}: dim {dim} != {prod}")
    elem_left = [a for g in left for a in g]
    elem_right = [a for g in right for a in g]
    new = [a for a in elem_right if a not in elem_left]
    if new and not allow_new:
        raise ValueError(f"{pattern}: new axes {new} in rearrange")
    if sorted(set(elem_left)) != sorted(a for a in elem_right if a in elem_left):
        raise ValueError(f"{pattern}: axes dropped")
    x = x.reshape([known[a] for a in elem_left])
    x = x.permute([elem_left.index(a) for a in elem_right if a in elem_left])
    if new:
        for pos, a in enumerate(elem_right):
            if a in new:
                x = x.unsqueeze(pos)
        x = x.expand([known[a] for a in elem_right])
    return x.reshape([math.prod(known[a] for a in g) for g in right])


def _install_shims():
    import torch.nn.functional as F

    if not hasattr(F, "scaled_dot_product_attention"):
        F.scaled_dot_product_attention = _sdpa
    shimmed = ["torch.nn.functional.scaled_dot_product_attention"] if F.scaled_dot_product_attention is _sdpa else []
    try:
        import einops  # noqa: F401
    except ImportError:
        mod = types.ModuleType("einops")
        mod.rearrange = lambda x, pattern, **kw: _einops_apply(x, pattern, kw, False)
        mod.repeat = lambda x, pattern, **kw: _einops_apply(x, pattern, kw, True)
        sys.modules["einops"] = mod
        shimmed.append("einops")

    class _Stub:
        def __init__(self, *a, **k):
            pass

        def __call__(self, *a, **k):
            return self

        def __getattr__(self, name):
            return self

    def _stub_attr(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Stub

    for name in ["transformers", "huggingface_hub", "requests", "imwatermark", "safetensors",
                 "safetensors.torch", "cv2"]:
        try:
            __import__(name)
        except ImportError:
            mod = types.ModuleType(name)
            mod.__path__ = []  # a package, so that submodules (safetensors.torch) can be stubbed too
            mod.__getattr__ = _stub_attr
            sys.modules[name] = mod
            shimmed.append(name + " (unused stand-in)")
    return shimmed


def import_reference(path):
    sys.path.insert(0, os.path.abspath(path))
    shimmed = _install_shims()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # flux.util creates ./checkpoints at import time
        try:
            import flux.model as model
            import flux.modules.autoencoder as autoencoder
            import flux.sampling as sampling
            import flux.util as util
        finally:
            os.chdir(cwd)
    return types.SimpleNamespace(model=model, ae=autoencoder, sampling=sampling, util=util), shimmed


# ----------------------------------------------------------------------------------------------
# weights

F16_MIN_NORMAL = 2.0 ** -14


def bf16_exact(t):
    """Round to bf16 values and flush |x| < 2^-14 to 0, so that every value is exact in bf16 AND f16."""
    t = t.to(torch.bfloat16).to(torch.float32)
    return torch.where(t.abs() < F16_MIN_NORMAL, torch.zeros_like(t), t)


@torch.no_grad()
def randomise(module, seed, bias_std=0.05):
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(module.named_parameters()):
        if p.dim() >= 2:
            fan_in = p[0].numel()
            v = torch.randn(p.shape, generator=g) / math.sqrt(fan_in)
        elif name.endswith(".scale") or (name.endswith(".weight")):
            v = 1.0 + 0.1 * torch.randn(p.shape, generator=g)  # RMSNorm scale / GroupNorm weight
        else:
            v = bias_std * torch.randn(p.shape, generator=g)
        p.copy_(bf16_exact(v))


def state_np(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


@contextlib.contextmanager
def factories_on_meta():
    """torch 1.13 has no `with torch.device('meta')`; make the factories that nn modules use default to meta."""
    saved = {n: getattr(torch, n) for n in ("empty", "ones", "zeros")}

    def wrap(fn):
        def f(*a, **k):
            if k.get("device") is None:
                k["device"] = "meta"
            return fn(*a, **k)
        return f

    for n, fn in saved.items():
        setattr(torch, n, wrap(fn))
    try:
        yield
    finally:
        for n, fn in saved.items():
            setattr(torch, n, fn)


def write_shapes(path, module):
    lines = []
    total = 0
    for name, t in sorted(module.state_dict().items()):
        assert t.device.type == "meta", name
        lines.append(f"{name}\t{','.join(str(d) for d in t.shape)}")
        total += t.numel()
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return len(lines), total


# ----------------------------------------------------------------------------------------------
# what goes where in the GGUF


def gguf_type(name, arr, one_d_type):
    if arr.ndim == 1:
        return one_d_type
    if name.startswith(("double_blocks.", "single_blocks.")) and arr.ndim == 2:
        return gguf_write.Q8_0
    return gguf_write.BF16 if one_d_type == gguf_write.F32 else gguf_write.F16


def f32(t):
    return ("F32", t.detach().to(torch.float32).numpy())


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="the reference's src/ directory (contains flux/)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)

    ref, shimmed = import_reference(args.reference)
    print("shimmed:", ", ".join(shimmed) or "nothing")
    golden = {}

    # ---- real configs, shapes only (meta tensors, nothing allocated)
    spec = ref.util.configs["flux-dev-fill"]
    with factories_on_meta():
        real = ref.model.Flux(spec.params)
        real_ae = ref.ae.AutoEncoder(spec.ae_params)
    n, p = write_shapes(os.path.join(args.out, "flux1-fill-dev.tensors.txt"), real)
    print(f"flux-dev-fill transformer: {n} tensors, {p} parameters")
    n, p = write_shapes(os.path.join(args.out, "ae.tensors.txt"), real_ae)
    print(f"flux-dev-fill AE: {n} tensors, {p} parameters")
    del real, real_ae

    # ---- tiny transformer
    tp = ref.model.FluxParams(in_channels=384, out_channels=64, vec_in_dim=16, context_in_dim=32, hidden_size=32,
                              mlp_ratio=4.0, num_heads=2, depth=2, depth_single_blocks=2, axes_dim=[4, 6, 6],
                              theta=10_000, qkv_bias=True, guidance_embed=True)
    model = ref.model.Flux(tp).eval()
    randomise(model, seed=1)
    bfl = state_np(model)

    # ---- tiny AE
    ap_ = ref.ae.AutoEncoderParams(resolution=64, in_channels=3, ch=32, out_ch=3, ch_mult=[1, 1, 1, 1],
                                   num_res_blocks=1, z_channels=16, scale_factor=0.3611, shift_factor=0.1159)
    ae = ref.ae.AutoEncoder(ap_).eval()
    randomise(ae, seed=2)

    S = ref.sampling

    def stub_encoder(value):
        return lambda prompt: value.clone()

    with torch.no_grad():
        # ---- (a) one transformer forward on a 32x48-pixel image: latent 4x6, packed grid 2x3, L = 6
        g = torch.Generator().manual_seed(3)
        H, W = 32, 48
        latent_like = torch.zeros(1, 16, H // 8, W // 8)
        txt = torch.randn(1, 5, 32, generator=g)
        vec = torch.randn(1, 16, generator=g)
        inp = S.prepare(stub_encoder(txt), stub_encoder(vec), latent_like, "unused")
        img = torch.randn(1, inp["img"].shape[1], 384, generator=g)
        t = torch.tensor([0.75])
        guid = torch.tensor([3.5])

        # per-stage captures
        caps = {}
        hooks = []
        for i, blk in enumerate(model.double_blocks):
            hooks.append(blk.register_forward_hook(
                lambda m, a, o, i=i: caps.update({f"fwd.double{i}.img": o[0], f"fwd.double{i}.txt": o[1]})))
        for i, blk in enumerate(model.single_blocks):
            hooks.append(blk.register_forward_hook(lambda m, a, o, i=i: caps.update({f"fwd.single{i}": o})))
        hooks.append(model.pe_embedder.register_forward_hook(lambda m, a, o: caps.update({"fwd.pe": o})))
        hooks.append(model.final_layer.register_forward_hook(
            lambda m, a, o: caps.update({"fwd.vec": a[1]})))
        out = model(img=img, img_ids=inp["img_ids"], txt=inp["txt"], txt_ids=inp["txt_ids"], timesteps=t,
                    y=inp["vec"], guidance=guid)
        for h in hooks:
            h.remove()
        golden.update({
            "fwd.img": f32(img), "fwd.img_ids": f32(inp["img_ids"]), "fwd.txt": f32(inp["txt"]),
            "fwd.txt_ids": f32(inp["txt_ids"]), "fwd.y": f32(inp["vec"]), "fwd.timesteps": f32(t),
            "fwd.guidance": f32(guid), "fwd.out": f32(out),
            "fwd.temb": f32(ref.model.timestep_embedding(t, 256)),
        })
        golden.update({k: f32(v) for k, v in caps.items()})

        # ---- Q8_0: the same forward with the dequantised block weights
        q8 = {}
        for name, a in bfl.items():
            if gguf_type(name, a, gguf_write.F32) == gguf_write.Q8_0:
                q8[name] = gguf_write.dequantize_q8_0(gguf_write.quantize_q8_0(a), a.shape)
        model_q8 = ref.model.Flux(tp).eval()
        model_q8.load_state_dict({k: torch.from_numpy(q8.get(k, v)) for k, v in bfl.items()})
        out_q8 = model_q8(img=img, img_ids=inp["img_ids"], txt=inp["txt"], txt_ids=inp["txt_ids"], timesteps=t,
                          y=inp["vec"], guidance=guid)
        golden["fwd.out_q8_0"] = f32(out_q8)
        werr = max(float(np.abs(q8[k] - bfl[k]).max()) for k in q8)
        wrel = math.sqrt(sum(float(((q8[k] - bfl[k]) ** 2).sum()) for k in q8) /
                         sum(float((bfl[k] ** 2).sum()) for k in q8))
        oerr = float((out_q8 - out).abs().max())
        orel = float((out_q8 - out).norm() / out.norm())
        q8_report = (f"Q8_0 weights: max |w_q - w| = {werr:.3g}, relative RMS = {wrel:.3g}; forward: "
                     f"max |out_q8 - out| = {oerr:.3g} (|out| max {float(out.abs().max()):.3g}), "
                     f"relative L2 = {orel:.3g}")
        print(q8_report)

        # ---- (c) schedules
        for steps, seq, shift in [(28, 4096, True), (50, 4096, True), (4, 12, True), (4, 6, True), (4, 6, False)]:
            sch = S.get_schedule(steps, seq, shift=shift)
            golden[f"sched.{steps}_{seq}{'' if shift else '_noshift'}"] = ("F32", np.array(sch, dtype=np.float32))

        # ---- (b) AE on a 48x32 image (H=48, W=32: portrait, while (a) is landscape); (d) Fill
        # conditioning on the same image; (e) sampling at that size: latent 6x4, packed grid 3x2, L = 6
        H, W = 48, 32
        rng = np.random.default_rng(4)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        base = np.stack([255 * xx / (W - 1), 255 * yy / (H - 1), 128 + 100 * np.sin(xx / 5 + yy / 7)], -1)
        image_u8 = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).round().astype(np.uint8)
        mask_u8 = np.zeros((H, W), np.uint8)
        mask_u8[12:36, 6:27] = 255           # hole (not aligned to the 8x8 grid)
        mask_u8[11, 6:27] = 128              # soft edges: prepare_fill does not binarise
        mask_u8[36, 6:27] = 64
        mask_u8[12:36, 5] = 200

        image = torch.from_numpy(image_u8).float() / 127.5 - 1.0
        image = image.permute(2, 0, 1)[None].contiguous()       # [1,3,H,W]
        moments = ae.encoder(image)
        z = ae.encode(image)
        dec = ae.decode(z)
        golden.update({"ae.image": f32(image), "ae.moments": f32(moments), "ae.latent": f32(z),
                       "ae.decoded": f32(dec)})

        # Fill conditioning in fp32, step by step as prepare_fill does (without its two bf16 casts)
        mask = (torch.from_numpy(mask_u8).float() / 255.0)[None, None]   # [1,1,H,W]
        masked = image * (1 - mask)
        cond_latent = ae.encode(masked)                                   # [1,16,H/8,W/8]
        einops = sys.modules.get("einops") or __import__("einops")
        mask_unshuffled = einops.rearrange(mask[:, 0], "b (h ph) (w pw) -> b (ph pw) h w", ph=8, pw=8)
        mask_packed = einops.rearrange(mask_unshuffled, "b c (h ph) (w pw) -> b (h w) (c ph pw)", ph=2, pw=2)
        cond_packed = einops.rearrange(cond_latent, "b c (h ph) (w pw) -> b (h w) (c ph pw)", ph=2, pw=2)
        img_cond = torch.cat((cond_packed, mask_packed), dim=-1)

        # the reference's own prepare_fill on PNG files (mask and masked-image latent cast to bf16 there)
        g = torch.Generator().manual_seed(5)
        txt_s = torch.randn(1, 7, 32, generator=g)
        vec_s = torch.randn(1, 16, generator=g)
        seed = 42
        noise = S.get_noise(1, H, W, device=torch.device("cpu"), dtype=torch.float32, seed=seed)
        noise_bf16 = S.get_noise(1, H, W, device=torch.device("cpu"), dtype=torch.bfloat16, seed=seed)
        from PIL import Image
        with tempfile.TemporaryDirectory() as tmp:
            Image.fromarray(image_u8).save(os.path.join(tmp, "img.png"))
            Image.fromarray(mask_u8).save(os.path.join(tmp, "mask.png"))
            ref_inp = S.prepare_fill(stub_encoder(txt_s), stub_encoder(vec_s), noise, "unused", ae,
                                     os.path.join(tmp, "img.png"), os.path.join(tmp, "mask.png"))
        assert ref_inp["img_cond"].dtype == torch.bfloat16
        same = torch.equal(img_cond.to(torch.bfloat16), ref_inp["img_cond"])
        fill_diff = float((ref_inp["img_cond"].float() - img_cond).abs().max())
        print(f"fp32 Fill conditioning rounded to bf16 == reference prepare_fill output: {same} "
              f"(max |ref_bf16 - fp32| = {fill_diff:.3g})")
        assert same
        golden.update({
            "fill.image_u8": ("U8", image_u8), "fill.mask_u8": ("U8", mask_u8),
            "fill.mask": f32(mask), "fill.masked_image": f32(masked), "fill.cond_latent": f32(cond_latent),
            "fill.mask_unshuffled": f32(mask_unshuffled), "fill.img_cond": f32(img_cond),
            "fill.img_cond_ref_bf16": ("BF16", ref_inp["img_cond"].float().numpy()),
        })

        # packing of a latent and its unpack (the noise latent)
        packed = ref_inp["img"]
        unpacked = S.unpack(packed, H, W)
        assert torch.equal(unpacked, noise)
        golden.update({"pack.latent": f32(noise), "pack.packed": f32(packed), "pack.img_ids": f32(ref_inp["img_ids"])})

        # ---- (e) full sampling run, 4 steps, guidance 30 (cli_fill default), fp32 img_cond
        steps, guidance = 4, 30.0
        timesteps = S.get_schedule(steps, packed.shape[1], shift=True)
        calls = []

        def recording_model(**kw):
            o = model(**kw)
            calls.append((kw["img"], kw["timesteps"], kw["guidance"], o))
            return o

        x = S.denoise(recording_model, img=packed, img_ids=ref_inp["img_ids"], txt=ref_inp["txt"],
                      txt_ids=ref_inp["txt_ids"], vec=ref_inp["vec"], timesteps=timesteps, guidance=guidance,
                      img_cond=img_cond)
        assert len(calls) == steps
        for i, (xin, tv, gv, o) in enumerate(calls):
            assert torch.equal(xin[..., 64:], img_cond)
            golden[f"sample.step{i}.x"] = f32(xin[..., :64])
            golden[f"sample.step{i}.t"] = f32(tv)
            golden[f"sample.step{i}.pred"] = f32(o)
        assert torch.equal(calls[0][2], torch.tensor([guidance]))
        x_latent = S.unpack(x.float(), H, W)
        final = ae.decode(x_latent)
        golden.update({
            "sample.noise": f32(noise), "sample.noise_bf16": ("BF16", noise_bf16.float().numpy()),
            "sample.img": f32(packed),
            "sample.img_ids": f32(ref_inp["img_ids"]), "sample.txt": f32(ref_inp["txt"]),
            "sample.txt_ids": f32(ref_inp["txt_ids"]), "sample.vec": f32(ref_inp["vec"]),
            "sample.timesteps": ("F32", np.array(timesteps, np.float32)),
            "sample.guidance": f32(torch.tensor([guidance])), "sample.x_final": f32(x),
            "sample.latent": f32(x_latent), "sample.decoded": f32(final),
        })
        print(f"noise bf16 draw == fp32 draw rounded to bf16: {torch.equal(noise_bf16, noise.bfloat16())}")
        for k in ("fwd.out", "ae.decoded", "sample.x_final", "sample.decoded"):
            a = golden[k][1]
            print(f"{k}: shape {list(a.shape)} mean {a.mean():.4f} std {a.std():.4f} min {a.min():.3f} max {a.max():.3f}")

    # ---- files
    meta = {"reference": f"black-forest-labs/flux@{REFERENCE_COMMIT}", "generator": "tools/flux_golden.py"}
    write_safetensors(os.path.join(args.out, "golden.safetensors"), golden, dict(meta, q8_0=q8_report))
    write_safetensors(os.path.join(args.out, "transformer-bfl.safetensors"),
                      {k: ("BF16", v) for k, v in bfl.items()}, meta)
    write_safetensors(os.path.join(args.out, "ae.safetensors"),
                      {k: ("BF16", v) for k, v in state_np(ae).items()}, meta)
    diff = bfl_to_diffusers(bfl, tp.hidden_size)
    write_safetensors(os.path.join(args.out, "transformer-diffusers.safetensors"),
                      {k: ("BF16", v) for k, v in diff.items()}, meta)
    for fname, one_d in (("transformer-q8_0.gguf", gguf_write.F32), ("transformer-q8_0-f16.gguf", gguf_write.F16)):
        gguf_write.write_gguf(
            os.path.join(args.out, fname),
            [("general.architecture", "flux"), ("general.quantization_version", ("u32", 2))],
            [(k, bfl[k], gguf_type(k, bfl[k], one_d)) for k in sorted(bfl)])
    print(f"transformer: {len(bfl)} BFL tensors, {len(diff)} diffusers tensors, "
          f"{sum(v.size for v in bfl.values())} parameters; AE {sum(v.numel() for v in ae.state_dict().values())}")

    import flux_golden_check
    flux_golden_check.check(args.out)


if __name__ == "__main__":
    main()
