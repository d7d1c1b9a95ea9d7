"""FLUX transformer key layouts: BFL (flux1-*.safetensors, GGUF) <-> diffusers FluxTransformer2DModel.

Only renames, the q/k/v splits and the swap of the final modulation halves; see
/work/shared/research/flux-native.md section 1.2 for the table this follows.
"""
import re

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
