"""FLUX key layouts: BFL <-> diffusers, for the transformer and the autoencoder.

Transformer (flux1-*.safetensors, GGUF <-> FluxTransformer2DModel): only renames, the q/k/v splits
and the swap of the final modulation halves; see the project research notes (flux-native.md, section 1.2)
for the table this follows.

Autoencoder (ae.safetensors <-> AutoencoderKL's vae/diffusion_pytorch_model.safetensors): renames,
the decoder's level order reversed, and the mid-block attention projections as 1x1 convs
[C,C,1,1] (BFL) or Linear [C,C] (diffusers). Written from diffusers' own converter,
convert_ldm_vae_checkpoint and update_vae_{resnet,attentions}_ldm_to_diffusers in
src/diffusers/loaders/single_file_utils.py (which scripts/convert_flux_to_diffusers.py --vae calls):
  encoder.down.{i}.block.{j}.*        -> encoder.down_blocks.{i}.resnets.{j}.*   (nin_shortcut -> conv_shortcut)
  encoder.down.{i}.downsample.conv    -> encoder.down_blocks.{i}.downsamplers.0.conv
  decoder.up.{n-1-i}.block.{j}.*      -> decoder.up_blocks.{i}.resnets.{j}.*     (block_id = num_up_blocks - 1 - i)
  decoder.up.{n-1-i}.upsample.conv    -> decoder.up_blocks.{i}.upsamplers.0.conv
  {en,de}coder.mid.block_{1,2}        -> {en,de}coder.mid_block.resnets.{0,1}
  {en,de}coder.mid.attn_1.{norm,q,k,v,proj_out} -> mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}
  {en,de}coder.norm_out               -> {en,de}coder.conv_norm_out; conv_in, conv_out unchanged
No quant_conv/post_quant_conv: FLUX's VAE has none (the converter loads SD3's VAE config,
use_quant_conv False, with strict=True). Older diffusers files name the attention
query/key/value/proj_attn (ModelMixin._convert_deprecated_attention_blocks renames them on load);
ae_diffusers_to_bfl reads those too.

  python3 tools/flux_keys.py                          # self-check
  python3 tools/flux_keys.py ae-to-diffusers IN OUT   # BFL ae.safetensors -> diffusers VAE file
  python3 tools/flux_keys.py ae-to-bfl IN OUT         # and back
"""
import re
import sys

import numpy as np

# 1:1 renames (prefix-free part after the block index for block tensors)
_TOP = {
    "img_in": "x_embedder",
    "txt_in": "context_embedder",
    "time_in.in_layer": "time_text_embed.timestep_embedder.linear_1",
    "time_in.out_layer": "time_text_embed.timestep_embedder.linear_2",
    "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
    "vector_in.out_layer": "time_text_embed.text_embedder.linear_2",
    "guidance_in.in_layer": "time_text_embed.guidance_embedder.linear_1",
    "guidance_in.out_layer": "time_text_embed.guidance_embedder.linear_2",
    "final_layer.linear": "proj_out",
}
_DOUBLE = {
    "img_mod.lin": "norm1.linear",
    "txt_mod.lin": "norm1_context.linear",
    "img_attn.proj": "attn.to_out.0",
    "txt_attn.proj": "attn.to_add_out",
    "img_mlp.0": "ff.net.0.proj",
    "img_mlp.2": "ff.net.2",
    "txt_mlp.0": "ff_context.net.0.proj",
    "txt_mlp.2": "ff_context.net.2",
}
_DOUBLE_NORM = {
    "img_attn.norm.query_norm.scale": "attn.norm_q.weight",
    "img_attn.norm.key_norm.scale": "attn.norm_k.weight",
    "txt_attn.norm.query_norm.scale": "attn.norm_added_q.weight",
    "txt_attn.norm.key_norm.scale": "attn.norm_added_k.weight",
}
_SINGLE = {
    "linear2": "proj_out",
    "modulation.lin": "norm.linear",
}
_SINGLE_NORM = {
    "norm.query_norm.scale": "attn.norm_q.weight",
    "norm.key_norm.scale": "attn.norm_k.weight",
}
_QKV = {"img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
        "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")}


def _swap_halves(a):
    h = a.shape[0] // 2
    return np.concatenate([a[h:], a[:h]], axis=0)


def bfl_to_diffusers(sd, hidden_size):
    """sd: dict BFL name -> numpy array. Returns dict diffusers name -> numpy array."""
    out = {}
    for name, a in sd.items():
        stem, suffix = name.rsplit(".", 1)  # suffix: weight / bias / scale
        m = re.match(r"double_blocks\.(\d+)\.(.+)$", stem)
        if m:
            i, rest = m.group(1), m.group(2)
            p = f"transformer_blocks.{i}."
            if rest in _QKV:
                for part, new in zip(np.split(a, 3, axis=0), _QKV[rest]):
                    out[p + new + "." + suffix] = part
            elif rest in _DOUBLE:
                out[p + _DOUBLE[rest] + "." + suffix] = a
            elif rest + "." + suffix in _DOUBLE_NORM:
                out[p + _DOUBLE_NORM[rest + "." + suffix]] = a
            else:
                raise KeyError(name)
            continue
        m = re.match(r"single_blocks\.(\d+)\.(.+)$", stem)
        if m:
            i, rest = m.group(1), m.group(2)
            p = f"single_transformer_blocks.{i}."
            if rest == "linear1":
                h = hidden_size
                q, k, v, mlp = np.split(a, [h, 2 * h, 3 * h], axis=0)
                out[p + "attn.to_q." + suffix] = q
                out[p + "attn.to_k." + suffix] = k
                out[p + "attn.to_v." + suffix] = v
                out[p + "proj_mlp." + suffix] = mlp
            elif rest in _SINGLE:
                out[p + _SINGLE[rest] + "." + suffix] = a
            elif rest + "." + suffix in _SINGLE_NORM:
                out[p + _SINGLE_NORM[rest + "." + suffix]] = a
            else:
                raise KeyError(name)
            continue
        if stem == "final_layer.adaLN_modulation.1":
            # BFL chunks this output as (shift, scale); diffusers' AdaLayerNormContinuous as (scale, shift)
            out["norm_out.linear." + suffix] = _swap_halves(a)
        elif stem in _TOP:
            out[_TOP[stem] + "." + suffix] = a
        else:
            raise KeyError(name)
    return out


def diffusers_to_bfl(sd):
    """Inverse of bfl_to_diffusers (written separately so that the check exercises both)."""
    inv_top = {v: k for k, v in _TOP.items()}
    out = {}
    pending = {}
    for name, a in sd.items():
        m = re.match(r"(transformer_blocks|single_transformer_blocks)\.(\d+)\.(.+)$", name)
        if not m:
            stem, suffix = name.rsplit(".", 1)
            if stem == "norm_out.linear":
                out["final_layer.adaLN_modulation.1." + suffix] = _swap_halves(a)
            else:
                out[inv_top[stem] + "." + suffix] = a
            continue
        kind, i, rest = m.groups()
        if kind == "transformer_blocks":
            p = f"double_blocks.{i}."
            norm = {v: k for k, v in _DOUBLE_NORM.items()}
            if rest in norm:
                out[p + norm[rest]] = a
                continue
            stem, suffix = rest.rsplit(".", 1)
            hit = [(k, v.index(stem)) for k, v in _QKV.items() if stem in v]
            if hit:
                pending.setdefault((p + hit[0][0] + "." + suffix), {})[hit[0][1]] = a
            else:
                out[p + {v: k for k, v in _DOUBLE.items()}[stem] + "." + suffix] = a
        else:
            p = f"single_blocks.{i}."
            norm = {v: k for k, v in _SINGLE_NORM.items()}
            if rest in norm:
                out[p + norm[rest]] = a
                continue
            stem, suffix = rest.rsplit(".", 1)
            order = {"attn.to_q": 0, "attn.to_k": 1, "attn.to_v": 2, "proj_mlp": 3}
            if stem in order:
                pending.setdefault(p + "linear1." + suffix, {})[order[stem]] = a
            else:
                out[p + {v: k for k, v in _SINGLE.items()}[stem] + "." + suffix] = a
    for name, parts in pending.items():
        out[name] = np.concatenate([parts[j] for j in sorted(parts)], axis=0)
    return out


# ---- the autoencoder

_AE_TOP = {"conv_in": "conv_in", "conv_out": "conv_out", "norm_out": "conv_norm_out"}
_AE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "nin_shortcut": "conv_shortcut"}
_AE_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
_AE_ATTN_OLD = {"query": "q", "key": "k", "value": "v", "proj_attn": "proj_out"}  # diffusers' deprecated names -> BFL
_AE_PROJ = ("q", "k", "v", "proj_out")


def _ae_levels(names, pattern):
    found = {int(m.group(1)) for m in (re.match(pattern, n) for n in names) if m}
    return max(found) + 1 if found else 0


def ae_bfl_to_diffusers(sd):
    """sd: dict BFL AE name -> numpy array. Returns dict diffusers AutoencoderKL name -> array."""
    levels = _ae_levels(sd, r"(?:encoder\.down|decoder\.up)\.(\d+)\.")
    out = {}
    for name, a in sd.items():
        half, rest = name.split(".", 1)
        stem, suffix = rest.rsplit(".", 1)
        if half not in ("encoder", "decoder"):
            raise KeyError(name)
        m = re.fullmatch(r"(down|up)\.(\d+)\.block\.(\d+)\.(\w+)", stem)
        if m:
            kind, i, j, leaf = m.group(1), int(m.group(2)), m.group(3), m.group(4)
            k = i if kind == "down" else levels - 1 - i
            new = f"{kind}_blocks.{k}.resnets.{j}.{_AE_RESNET[leaf]}"
        elif re.fullmatch(r"(down|up)\.(\d+)\.(downsample|upsample)\.conv", stem):
            kind, i, what = re.fullmatch(r"(down|up)\.(\d+)\.(\w+)\.conv", stem).groups()
            k = int(i) if kind == "down" else levels - 1 - int(i)
            new = f"{kind}_blocks.{k}.{what}rs.0.conv"
        elif re.fullmatch(r"mid\.block_[12]\.\w+", stem):
            m = re.fullmatch(r"mid\.block_([12])\.(\w+)", stem)
            new = f"mid_block.resnets.{int(m.group(1)) - 1}.{_AE_RESNET[m.group(2)]}"
        elif stem.startswith("mid.attn_1."):
            leaf = stem[len("mid.attn_1."):]
            new = "mid_block.attentions.0." + _AE_ATTN[leaf]
            if leaf in _AE_PROJ and suffix == "weight":
                assert a.ndim == 4 and a.shape[2:] == (1, 1), (name, a.shape)
                a = a[:, :, 0, 0]  # 1x1 conv -> Linear
        elif stem in _AE_TOP:
            new = _AE_TOP[stem]
        else:
            raise KeyError(name)
        out[f"{half}.{new}.{suffix}"] = a
    return out


def ae_diffusers_to_bfl(sd):
    """Inverse of ae_bfl_to_diffusers (written separately); also reads the old attention names."""
    levels = _ae_levels(sd, r"(?:encoder\.down|decoder\.up)_blocks\.(\d+)\.")
    inv_top = {v: k for k, v in _AE_TOP.items()}
    inv_resnet = {v: k for k, v in _AE_RESNET.items()}
    inv_attn = {v: k for k, v in _AE_ATTN.items()}
    inv_attn.update(_AE_ATTN_OLD)
    inv_attn["group_norm"] = "norm"
    out = {}
    for name, a in sd.items():
        half, rest = name.split(".", 1)
        stem, suffix = rest.rsplit(".", 1)
        if half not in ("encoder", "decoder"):
            raise KeyError(name)
        m = re.fullmatch(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)", stem)
        m2 = re.fullmatch(r"(down|up)_blocks\.(\d+)\.(down|up)samplers\.0\.conv", stem)
        m3 = re.fullmatch(r"mid_block\.resnets\.([01])\.(\w+)", stem)
        m4 = re.fullmatch(r"mid_block\.attentions\.0\.(.+)", stem)
        if m:
            kind, k, j, leaf = m.group(1), int(m.group(2)), m.group(3), m.group(4)
            i = k if kind == "down" else levels - 1 - k
            new = f"{kind}.{i}.block.{j}.{inv_resnet[leaf]}"
        elif m2:
            kind, k = m2.group(1), int(m2.group(2))
            i = k if kind == "down" else levels - 1 - k
            new = f"{kind}.{i}.{kind}sample.conv"
        elif m3:
            new = f"mid.block_{int(m3.group(1)) + 1}.{inv_resnet[m3.group(2)]}"
        elif m4:
            leaf = inv_attn[m4.group(1)]
            new = "mid.attn_1." + leaf
            if leaf in _AE_PROJ and suffix == "weight" and a.ndim < 4:
                a = a.reshape(a.shape[:2] + (1, 1))  # Linear (or conv1d) -> 1x1 conv
        elif stem in inv_top:
            new = inv_top[stem]
        else:
            raise KeyError(name)
        key = f"{half}.{new}.{suffix}"
        if key in out:
            raise KeyError(f"{name}: a second tensor for {key}")
        out[key] = a
    return out


def _ae_self_check():
    """On the real FLUX AE's tensor list (shapes only) and on random small values."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    shapes = {}
    with open(os.path.join(here, "..", "tests", "data", "flux", "ae.tensors.txt")) as f:
        for line in f:
            name, dims = line.rstrip("\n").split("\t")
            shapes[name] = tuple(int(d) for d in dims.split(","))
    bfl = {n: np.broadcast_to(np.float32(0), s) for n, s in shapes.items()}
    d = ae_bfl_to_diffusers(bfl)
    assert len(d) == len(bfl) == 244
    got = {n: a.shape for n, a in d.items()}
    # The real diffusers FLUX VAE: the decoder's first up_block is BFL's deepest level (upsampler,
    # no shortcut); its last is BFL's level 0 (no upsampler, 256 -> 128 shortcut).
    expect = {
        "encoder.down_blocks.1.resnets.0.conv_shortcut.weight": (256, 128, 1, 1),
        "encoder.down_blocks.2.downsamplers.0.conv.weight": (512, 512, 3, 3),
        "encoder.mid_block.attentions.0.to_q.weight": (512, 512),
        "encoder.mid_block.attentions.0.group_norm.weight": (512,),
        "decoder.mid_block.attentions.0.to_out.0.weight": (512, 512),
        "decoder.mid_block.resnets.1.conv2.weight": (512, 512, 3, 3),
        "decoder.up_blocks.0.resnets.0.conv1.weight": (512, 512, 3, 3),
        "decoder.up_blocks.0.upsamplers.0.conv.weight": (512, 512, 3, 3),
        "decoder.up_blocks.2.resnets.0.conv_shortcut.weight": (256, 512, 1, 1),
        "decoder.up_blocks.3.resnets.0.conv_shortcut.weight": (128, 256, 1, 1),
        "decoder.up_blocks.3.resnets.2.conv2.weight": (128, 128, 3, 3),
        "decoder.conv_norm_out.weight": (128,),
    }
    for n, s in expect.items():
        assert got.get(n) == s, (n, got.get(n), s)
    assert "decoder.up_blocks.3.upsamplers.0.conv.weight" not in got
    assert not any("quant_conv" in n or ".down." in n or ".up." in n for n in got)
    back = ae_diffusers_to_bfl(d)
    assert {n: a.shape for n, a in back.items()} == shapes
    # Values, and the deprecated attention names.
    rng = np.random.default_rng(0)
    small = {n: rng.standard_normal(s).astype(np.float32) for n, s in
             [("decoder.up.0.block.1.conv1.weight", (4, 4, 3, 3)), ("decoder.up.3.block.0.norm1.bias", (4,)),
              ("encoder.down.0.block.0.conv1.weight", (4, 3, 3, 3)),
              ("decoder.mid.attn_1.q.weight", (4, 4, 1, 1)), ("decoder.mid.attn_1.proj_out.bias", (4,))]}
    d = ae_bfl_to_diffusers(small)
    assert sorted(d) == ["decoder.mid_block.attentions.0.to_out.0.bias", "decoder.mid_block.attentions.0.to_q.weight",
                         "decoder.up_blocks.0.resnets.0.norm1.bias", "decoder.up_blocks.3.resnets.1.conv1.weight",
                         "encoder.down_blocks.0.resnets.0.conv1.weight"], sorted(d)
    back = ae_diffusers_to_bfl(d)
    assert sorted(back) == sorted(small) and all(np.array_equal(back[n], small[n]) for n in small)
    old = {n.replace("to_q", "query").replace("to_out.0", "proj_attn"): a for n, a in d.items()}
    back = ae_diffusers_to_bfl(old)
    assert sorted(back) == sorted(small) and all(np.array_equal(back[n], small[n]) for n in small)


def _convert_file(direction, src, dst):
    """Converts a whole file; its tensors must share one dtype (FLUX AE files do), which the output keeps
    (BF16 values are exact: read widened to float32, written rounded to nearest even)."""
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from st_io import read_safetensors, write_safetensors
    tensors, meta = read_safetensors(src)
    dtypes = {dt for dt, _ in tensors.values()}
    if len(dtypes) != 1:
        sys.exit(f"{src}: tensors of several dtypes {sorted(dtypes)}; this converter keeps one")
    (dtype,) = dtypes
    convert = ae_bfl_to_diffusers if direction == "ae-to-diffusers" else ae_diffusers_to_bfl
    out = convert({n: a for n, (_, a) in tensors.items()})
    write_safetensors(dst, {n: (dtype, a) for n, a in out.items()}, meta)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("ae-to-diffusers", "ae-to-bfl"):
        _convert_file(*sys.argv[1:])
    elif len(sys.argv) == 1:
        _ae_self_check()
        print("flux_keys: autoencoder self-check passed")
    else:
        sys.exit(__doc__)
