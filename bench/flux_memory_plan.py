#!/usr/bin/python3
"""The FLUX.1-Fill memory plan on paper: resident bytes and activation peaks from the real model's
tensor shapes, against an L4 (24 GB) and a T4 (16 GB). Arithmetic only: nothing is loaded or run.

The transformer's tensor list is read from tests/data/flux/flux1-fill-dev.tensors.txt
(`name<TAB>d0,d1,...`, from the real flux-dev-fill config built on meta by tools/flux_golden.py)
and the autoencoder's from tests/data/flux/ae.tensors.txt; when a file is missing the list is
computed from the published config (and, when both exist, the two are compared).

Usage: python3 bench/flux_memory_plan.py [--data tests/data/flux] [--prompts N] [--write-results bench/RESULTS.md]
Prints markdown.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30

# FLUX.1-Fill-dev (BFL util.configs "flux-dev-fill"): hidden 3072, 24 heads of 128, MLP ratio 4,
# 19 double and 38 single blocks, in_channels 384 (64 latent + 320 Fill conditioning), out 64,
# context 4096 (T5-XXL), vec 768 (CLIP-L), guidance embedding.
H, HEADS, HEAD_DIM, DOUBLE, SINGLE = 3072, 24, 128, 19, 38
IN_CH, OUT_CH, CONTEXT, VEC, T5_TOKENS = 384, 64, 4096, 768, 512
# The autoencoder: ch 128, ch_mult 1,2,4,4, 2 res blocks, z 16, in/out 3 channels.
AE_CH, AE_MULT, AE_RES, AE_Z = 128, (1, 2, 4, 4), 2, 16


def linear(out, name, o, i, bias=True):
    out[f"{name}.weight"] = (o, i)
    if bias:
        out[f"{name}.bias"] = (o,)


def transformer_tensors():
    t = {}
    h = H
    linear(t, "img_in", h, IN_CH)
    linear(t, "txt_in", h, CONTEXT)
    for emb in ("time_in", "guidance_in"):
        linear(t, f"{emb}.in_layer", h, 256)
        linear(t, f"{emb}.out_layer", h, h)
    linear(t, "vector_in.in_layer", h, VEC)
    linear(t, "vector_in.out_layer", h, h)
    for b in range(DOUBLE):
        for s in ("img", "txt"):
            p = f"double_blocks.{b}.{s}"
            linear(t, f"{p}_mod.lin", 6 * h, h)
            linear(t, f"{p}_attn.qkv", 3 * h, h)
            t[f"{p}_attn.norm.query_norm.scale"] = (HEAD_DIM,)
            t[f"{p}_attn.norm.key_norm.scale"] = (HEAD_DIM,)
            linear(t, f"{p}_attn.proj", h, h)
            linear(t, f"{p}_mlp.0", 4 * h, h)
            linear(t, f"{p}_mlp.2", h, 4 * h)
    for b in range(SINGLE):
        p = f"single_blocks.{b}"
        linear(t, f"{p}.linear1", 3 * h + 4 * h, h)
        linear(t, f"{p}.linear2", h, h + 4 * h)
        t[f"{p}.norm.query_norm.scale"] = (HEAD_DIM,)
        t[f"{p}.norm.key_norm.scale"] = (HEAD_DIM,)
        linear(t, f"{p}.modulation.lin", 3 * h, h)
    linear(t, "final_layer.linear", OUT_CH, h)
    linear(t, "final_layer.adaLN_modulation.1", 2 * h, h)
    return t


def ae_tensors():
    t = {}

    def conv(name, o, i, k):
        t[f"{name}.weight"] = (o, i, k, k)
        t[f"{name}.bias"] = (o,)

    def norm(name, c):
        t[f"{name}.weight"] = (c,)
        t[f"{name}.bias"] = (c,)

    def resnet(name, i, o):
        norm(f"{name}.norm1", i)
        conv(f"{name}.conv1", o, i, 3)
        norm(f"{name}.norm2", o)
        conv(f"{name}.conv2", o, o, 3)
        if i != o:
            conv(f"{name}.nin_shortcut", o, i, 1)

    def mid(name, c):
        resnet(f"{name}.block_1", c, c)
        norm(f"{name}.attn_1.norm", c)
        for q in ("q", "k", "v", "proj_out"):
            conv(f"{name}.attn_1.{q}", c, c, 1)
        resnet(f"{name}.block_2", c, c)

    conv("encoder.conv_in", AE_CH, 3, 3)
    in_mult = (1,) + AE_MULT
    for lvl, m in enumerate(AE_MULT):
        c_in = AE_CH * in_mult[lvl]
        for j in range(AE_RES):
            resnet(f"encoder.down.{lvl}.block.{j}", c_in, AE_CH * m)
            c_in = AE_CH * m
        if lvl != len(AE_MULT) - 1:
            conv(f"encoder.down.{lvl}.downsample.conv", c_in, c_in, 3)
    top = AE_CH * AE_MULT[-1]
    mid("encoder.mid", top)
    norm("encoder.norm_out", top)
    conv("encoder.conv_out", 2 * AE_Z, top, 3)
    conv("decoder.conv_in", top, AE_Z, 3)
    mid("decoder.mid", top)
    c_in = top
    for lvl in reversed(range(len(AE_MULT))):
        for j in range(AE_RES + 1):
            resnet(f"decoder.up.{lvl}.block.{j}", c_in, AE_CH * AE_MULT[lvl])
            c_in = AE_CH * AE_MULT[lvl]
        if lvl != 0:
            conv(f"decoder.up.{lvl}.upsample.conv", c_in, c_in, 3)
    norm("decoder.norm_out", AE_CH)
    conv("decoder.conv_out", 3, AE_CH, 3)
    return t


def read_list(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            name, dims = line.split("\t")
            out[name] = tuple(int(d) for d in dims.split(","))
    return out


def load(path, computed, what, notes):
    if path.is_file():
        listed = read_list(path)
        agree = listed == computed
        notes.append(f"{what}: {len(listed)} tensors from `{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`"
                     f" ({'identical to' if agree else 'DIFFERS from'} the list computed from the config)")
        if not agree:
            diff = sorted(set(listed.items()) ^ set(computed.items()))[:5]
            notes.append(f"  first differences: {diff}")
        return listed
    notes.append(f"{what}: {len(computed)} tensors computed from the config ({path} not found)")
    return computed


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def closed_set_size():
    """N from scripts/make_prompt_table.py's enumeration of the built-in table, when the inpaint
    module is importable; else the same count from the built-in table's shape (8 surfaces that
    are also the labeller's 8 labels: 8 + 8*7 + 1)."""
    try:
        sys.path.insert(0, str(ROOT / "scripts"))
        import make_prompt_table as mpt

        return len(mpt.closed_prompt_set(mpt.load_prompt_table(), mpt.default_labels())), "make_prompt_table.py enumeration"
    except (ImportError, SystemExit):
        return 8 + 8 * 7 + 1, "8 surfaces x 8 labels, computed (inpaint not importable)"


def g(b):
    return f"{b / GiB:.2f}"


def plan(data, prompts=None):
    notes = []
    tr = load(data / "flux1-fill-dev.tensors.txt", transformer_tensors(), "transformer", notes)
    ae = load(data / "ae.tensors.txt", ae_tensors(), "autoencoder", notes)
    n_prompts, n_source = (prompts, "--prompts") if prompts else closed_set_size()

    tr_params = sum(numel(s) for s in tr.values())
    blocks_2d = sum(numel(s) for n, s in tr.items() if n.startswith(("double_blocks.", "single_blocks.")) and len(s) == 2)
    other = tr_params - blocks_2d
    ae_params = sum(numel(s) for s in ae.values())
    dec_params = sum(numel(s) for n, s in ae.items() if n.startswith("decoder."))
    tr_bf16 = 2 * tr_params
    tr_int8 = blocks_2d + blocks_2d // 32 * 2 + 2 * other  # int8 + one fp16 scale per 32; rest 16-bit
    per_prompt = 2 * (T5_TOKENS * CONTEXT + VEC)
    table = n_prompts * per_prompt
    ae16, ae32 = 2 * ae_params, 4 * ae_params

    def activations(size, b=2):
        """Transformer step and AE peaks at size x size, 16-bit compute (b bytes). Estimates."""
        img = (size // 16) ** 2
        L = img + T5_TOKENS
        hidden = L * H * b
        lin1 = L * 7 * H * b
        mlp = L * 4 * H * b
        concat = L * 5 * H * b
        attn_eff = 6 * L * H * b  # q, k, v (RoPE'd copies of q, k) and the output: no L^2 matrix
        scores = HEADS * L * L * 4  # fp32 scores of all heads at once
        plain = 2 * scores  # scores and softmax probabilities
        dequant = 7 * H * H * b  # int8 path: the largest block weight (linear1) dequantized
        base = 4 * hidden + dequant  # residual streams, normed/modulated copy, block outputs
        step_eff = base + lin1 + max(attn_eff, mlp + concat)
        step_plain = base + lin1 + max(attn_eff + plain, mlp + concat)
        px = size * size
        dec = (3 * 256 + 128) * px * b  # at full size: 256-ch upsample output + 2 temporaries + a 128-ch output
        enc = 4 * 128 * px * b  # the Fill conditioning encode: 4 live 128-ch maps at full size
        ae_attn = 2 * ((size // 8) ** 2) ** 2 * 4  # mid-block attention, one head: scores + probs in fp32
        return dict(L=L, img=img, hidden=hidden, lin1=lin1, attn_eff=attn_eff, scores=scores, plain=plain,
                    dequant=dequant, step_eff=step_eff, step_plain=step_plain, dec=dec, enc=enc, ae_attn=ae_attn)

    a = activations(1024)
    a768 = activations(768)

    lines = []
    w = lines.append
    w("## FLUX.1-Fill memory plan (issue 13)")
    w("")
    w("Arithmetic from the real tensor shapes; nothing loaded or run. Command: "
      "`/usr/bin/python3 bench/flux_memory_plan.py --write-results bench/RESULTS.md` (the tensor lists from tests/data/flux, N from the build tree's inpaint module). GiB = 2^30 bytes. "
      "Rows marked *est.* are estimates of live buffers, not measurements.")
    w("")
    for n in notes:
        w(f"- {n}")
    w(f"- transformer: {tr_params:,} parameters ({tr_params / 1e9:.2f} B); 2-D weights of the double/single blocks "
      f"{blocks_2d:,} ({100 * blocks_2d / tr_params:.1f} %); autoencoder {ae_params:,} ({ae_params / 1e6:.1f} M, "
      f"decoder {dec_params / 1e6:.1f} M)")
    w(f"- prompt table: N = {n_prompts} prompts ({n_source}); per prompt T5 [512, 4096] + CLIP [768] in bf16 = "
      f"{per_prompt / 2**20:.2f} MiB")
    w("")
    w("### Resident")
    w("")
    w("| component | bf16 GiB | int8 GiB | note |")
    w("|---|---:|---:|---|")
    w(f"| transformer | {g(tr_bf16)} | {g(tr_int8)} | int8: block 2-D weights int8 + fp16 scale per 32 (1.0625 B/weight), rest 16-bit |")
    w(f"| prompt table ({n_prompts} prompts) | {g(table)} | {g(table)} | on the device; on the host instead: 0 on the device + {per_prompt / 2**20:.0f} MiB per request uploaded |")
    w(f"| autoencoder | {g(ae16)} | {g(ae16)} | fp32: {g(ae32)} GiB |")
    w(f"| **weights + table** | **{g(tr_bf16 + table + ae16)}** | **{g(tr_int8 + table + ae16)}** | |")
    w("")
    w("### Activations, batch 1 (guidance-distilled: no CFG batch), 16-bit compute")
    w("")
    w("| at | 1024² GiB | 768² GiB | note |")
    w("|---|---:|---:|---|")
    w(f"| tokens | {a['img']} + 512 = {a['L']} | {a768['img']} + 512 = {a768['L']} | image tokens (size/16)² + T5 |")
    w(f"| hidden states [L, 3072] | {g(a['hidden'])} | {g(a768['hidden'])} | one copy; ×4 live in the step estimate |")
    w(f"| single block linear1 out [L, 21504] | {g(a['lin1'])} | {g(a768['lin1'])} | the largest intermediate |")
    w(f"| int8 dequant scratch (linear1 weight in 16-bit) | {g(a['dequant'])} | {g(a768['dequant'])} | 0 with a fused int8 GEMM |")
    w(f"| attention, flash / memory-efficient | {g(a['attn_eff'])} | {g(a768['attn_eff'])} | q, k, v, RoPE'd q/k, out; no L² |")
    w(f"| attention, plain: 24 × L² scores fp32 | {g(a['scores'])} | {g(a768['scores'])} | ×2 with the softmax output: {g(a['plain'])} / {g(a768['plain'])} |")
    w(f"| **transformer step peak, flash** *est.* | **{g(a['step_eff'])}** | **{g(a768['step_eff'])}** | 4 hidden + dequant + linear1 out + max(attn, mlp + concat) |")
    w(f"| **transformer step peak, plain attn** *est.* | **{g(a['step_plain'])}** | **{g(a768['step_plain'])}** | |")
    w(f"| AE decoder peak, 16-bit *est.* | {g(a['dec'])} | {g(a768['dec'])} | 256-ch map at full size + 2 temps + 128-ch out; fp32 ×2: {g(2 * a['dec'])} / {g(2 * a768['dec'])} |")
    w(f"| AE mid-block attention, plain *est.* | {g(a['ae_attn'])} | {g(a768['ae_attn'])} | one head over (size/8)² tokens, scores + probs fp32 (at 1/8 size, not at the same time as the full-size peak) |")
    w(f"| AE encoder peak (Fill conditioning), 16-bit *est.* | {g(a['enc'])} | {g(a768['enc'])} | 4 live 128-ch maps at full size |")
    w("")

    # Budgets: nvidia-smi totals (L4 23034 MiB, T4 15360 MiB) minus CUDA context, cuBLAS/cuDNN
    # workspaces and allocator slack (~0.6 GiB, an assumption).
    l4_total, t4_total = 23034 * 2**20, 15360 * 2**20
    slack = int(0.6 * GiB)
    l4, t4 = l4_total - slack, t4_total - slack

    def peak(resident, act, ae_peak):
        return resident + max(act, ae_peak)

    rows = []
    res_l4 = tr_int8 + table + ae16
    rows.append(("L4, bf16 weights (no int8)", tr_bf16 + table + ae16, a["step_eff"], a["dec"], l4))
    rows.append(("L4, int8 + table on device + AE bf16, 1024², flash attn", res_l4, a["step_eff"], a["dec"], l4))
    rows.append(("L4, int8 + table on device + AE bf16, 1024², plain attn", res_l4, a["step_plain"], max(a["dec"], a["ae_attn"]), l4))
    res_t4 = tr_int8 + ae16  # table on the host: one prompt's 4 MiB uploaded per request
    rows.append(("T4, int8 + fp16 compute + AE fp16, table on host, 1024², mem-efficient attn", res_t4 + per_prompt, a["step_eff"], a["dec"], t4))
    rows.append(("T4, same, 1024², plain attn", res_t4 + per_prompt, a["step_plain"], max(a["dec"], a["ae_attn"]), t4))
    rows.append(("T4, same, 1024², mem-efficient attn, AE decode in 512² tiles", res_t4 + per_prompt, a["step_eff"], a["dec"] / 4, t4))
    rows.append(("T4, same, 768² working size, mem-efficient attn", res_t4 + per_prompt, a768["step_eff"], a768["dec"], t4))
    rows.append(("T4, int8 + AE fp32 (if fp16 AE overflows), 768², mem-efficient, AE tiled 512²", tr_int8 + ae32 + per_prompt, a768["step_eff"], 2 * a["dec"] / 4, t4))
    w("### Against the cards")
    w("")
    w(f"Assumption: usable = nvidia-smi total minus ~0.6 GiB for the CUDA context, cuBLAS/cuDNN workspaces and "
      f"allocator slack: L4 {g(l4_total)} → **{g(l4)} GiB**, T4 {g(t4_total)} → **{g(t4)} GiB**. T4 (sm_75) has no "
      f"bf16 tensor cores: fp16 compute; flash-attention 2 needs sm_80, the memory-efficient (cutlass) kernel runs on sm_75.")
    w("")
    w("| plan | resident GiB | + peak activations GiB | total GiB | usable GiB | fits, headroom GiB |")
    w("|---|---:|---:|---:|---:|---|")
    for name, resident, act, ae_peak, budget in rows:
        total = peak(resident, act, ae_peak)
        fits = "yes" if total <= budget else "**no**"
        w(f"| {name} | {g(resident)} | {g(max(act, ae_peak))} | {g(total)} | {g(budget)} | {fits}, {g(budget - total)} |")
    w("")
    w("The transformer and the AE run one after the other, so the peak is resident + the larger of the "
      "transformer step's and the AE's working sets.")
    w("")
    w("Reading:")
    w(f"- bf16 weights alone ({g(tr_bf16)} GiB) do not fit an L4: int8 block weights are required there.")
    w(f"- L4: int8 + the whole prompt table on the device + AE bf16 = {g(res_l4)} GiB resident; 1024² with a flash "
      f"kernel peaks near {g(peak(res_l4, a['step_eff'], a['dec']))} GiB, leaving "
      f"{g(l4 - peak(res_l4, a['step_eff'], a['dec']))} GiB; even plain attention fits.")
    w(f"- T4: int8 weights ({g(tr_int8)} GiB) + fp16 compute fit with the table on the host (a 4 MiB upload per "
      f"request); at 1024² with the memory-efficient kernel the estimate leaves "
      f"{g(t4 - peak(res_t4 + per_prompt, a['step_eff'], a['dec']))} GiB, too little to trust for fragmentation; "
      f"plain attention does not fit. Plan: mem-efficient attention + AE decode tiled (512² tiles) at 1024², or a "
      f"768² working size. fp16 needs the activation clamp diffusers applies in the single blocks (FLUX was "
      f"trained in bf16; fp16 activations can overflow) — not verified here.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "flux")
    parser.add_argument("--prompts", type=int, help="prompt table size (default: the built-in table's closed set)")
    parser.add_argument("--write-results", type=Path, help="replace or append the section in this markdown file")
    args = parser.parse_args(argv)
    text = plan(args.data, args.prompts)
    print(text, end="")
    if args.write_results:
        title = "## FLUX.1-Fill memory plan (issue 13)"
        old = args.write_results.read_text() if args.write_results.exists() else ""
        start = old.find(title)
        if start >= 0:
            end = old.find("\n## ", start + len(title))
            old = old[:start] + (old[end + 1:] if end >= 0 else "")
        args.write_results.write_text(old.rstrip("\n") + "\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
