#!/usr/bin/python3
"""Computes the prompt table of the native FLUX.1-Fill model offline.

The flux model has no text encoders at request time: the T5-XXL sequence embedding ([T, 4096],
T = 512 as BFL and diffusers pad) and the CLIP-L pooled vector ([768]) of every prompt the
service can send are computed here once and written as one safetensors file:

  tensors      t5.<i> [T, context] and clip.<i> [vec]  (BF16, F16 or F32; one T for all; i = 0, 1, ...)
  __metadata__ prompt.<i> = the prompt's text, fallback = the text of one of the prompts (optional),
               kind = flux-prompt-table, t5 / clip = the encoders' names or paths, max_length = T

The prompts are a closed set, the texts inpaint.build_prompt() can return: every surface prompt of
the prompt table, each with the details the scene labeller emits in front ("<label> with
<detail phrase of another label>, <surface prompt>", for every label that names a table surface and
every other label), and the fallback. `--list` prints them (no encoders needed).

Usage:
  make_prompt_table.py --t5 google/t5-v1_1-xxl --clip openai/clip-vit-large-patch14 --out table.safetensors
      [--prompt-table table.json] [--labels grass concrete ...] [--prompts FILE] [--max-length 512]
      [--dtype bf16|fp16|fp32] [--device cpu|cuda]
  make_prompt_table.py --list [--prompt-table table.json] [--labels ...]

The encoders are Hugging Face transformers' T5EncoderModel (T5TokenizerFast, padding to max_length,
truncation, no attention mask given to the encoder, as BFL and diffusers run it) and CLIPTextModel
(CLIPTokenizer, 77 tokens padded, pooler_output). transformers is imported only when encoding.
"""

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

KIND = "flux-prompt-table"

# scene_labels.cpp detail_phrase(): how a second label reads after "with" in a detail; other
# labels as they are. tests/python/test_prompt_table.py checks it against label_scene().
DETAIL_PHRASES = {
    "grass": "patches of grass",
    "concrete": "patches of concrete",
    "wood": "wooden boards",
    "sand": "patches of sand",
    "gravel": "scattered gravel",
    "leaves": "fallen leaves",
    "tile": "tiles",
    "water": "puddles",
}

_WHITESPACE = " \t\r\n"  # what prompt.cpp trims


def _inpaint():
    """The library's Python module: installed, or the build tree's (build/python) of this checkout."""
    try:
        import inpaint
    except ImportError:
        build = Path(__file__).resolve().parents[1] / "build" / "python"
        if not (build / "inpaint").is_dir():
            raise SystemExit("make_prompt_table: the inpaint module is not importable (build it, then set "
                             "PYTHONPATH=build/python)") from None
        sys.path.insert(0, str(build))
        import inpaint
    return inpaint


def load_prompt_table(path=None):
    """{'surfaces': {surface: prompt}, 'fallback': prompt}: the table build_prompt() uses, the
    built-in one or the built-in one extended by the JSON file `path`."""
    return _inpaint().prompt_table(None if path is None else str(path))


def default_labels():
    """The labels the scene labeller names by default (the segmentation service's surfaces)."""
    return list(_inpaint().surface_labels())


def detail_phrase(label):
    return DETAIL_PHRASES.get(label, label)


def closed_prompt_set(table, labels):
    """Every text build_prompt() can return for `table` ({'surfaces': {...}, 'fallback': ...}, as
    load_prompt_table() gives it) when the labels come from the scene labeller over `labels`:

      - each surface's prompt (labels without a detail);
      - for each label whose lower-cased, trimmed name is a table surface (what build_prompt()
        looks up) and each other label: "<label> with <detail_phrase(other)>, <surface prompt>";
      - the fallback (no labels, an unknown surface, low confidence).

    In that order, each text once. Labels outside the table give the fallback as a surface and
    join details as a second label. Empty labels are refused (label_scene refuses them)."""
    surfaces = table["surfaces"]
    fallback = table["fallback"]
    labels = list(dict.fromkeys(labels))  # the labeller keys coverage by label: each once
    for label in labels:
        if not isinstance(label, str) or not label:
            raise ValueError(f"labels must be non-empty strings, got {label!r}")
    if not fallback:
        raise ValueError("the prompt table has no fallback prompt")
    prompts = []
    for surface in surfaces:
        prompts.append(surfaces[surface])
    for label in labels:
        surface = label.strip(_WHITESPACE).lower()
        if surface not in surfaces:
            continue
        for other in labels:
            if other == label:
                continue
            detail = f"{label} with {detail_phrase(other)}".strip(_WHITESPACE)
            prompts.append(f"{detail}, {surfaces[surface]}")
    prompts.append(fallback)
    return list(dict.fromkeys(prompts))


# --- writing ----------------------------------------------------------------------------------

DTYPES = {"bf16": "BF16", "fp16": "F16", "fp32": "F32"}


def float32_to_bf16_bits(array):
    """bfloat16 bits (uint16) of float32 values, rounded to nearest even; NaN stays NaN."""
    a = np.ascontiguousarray(array, dtype=np.float32)
    bits = a.view(np.uint32)
    nan = np.isnan(a)
    finite_bits = np.where(nan, np.uint32(0), bits)
    rounded = (finite_bits + np.uint32(0x7FFF) + ((finite_bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    out = np.where(nan, (bits >> np.uint32(16)) | np.uint32(0x40), rounded)
    return out.astype(np.uint16)


def _stored(array, dtype, name):
    """(numpy array to store, safetensors dtype name); refuses values that are not finite after
    the conversion (T5 run in fp16 overflows; fp16 storage overflows past 65504)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    a = np.asarray(array, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds values that are not finite (NaN or infinity)")
    if dtype == "fp32":
        return np.ascontiguousarray(a), "F32"
    if dtype == "fp16":
        with np.errstate(over="ignore"):
            h = a.astype(np.float16)
        if not np.isfinite(h).all():
            raise ValueError(f"{name} holds values beyond float16's range (|x| > 65504); store bf16 or fp32")
        return np.ascontiguousarray(h), "F16"
    b = float32_to_bf16_bits(a)
    if ((b & 0x7F80) == 0x7F80).any():
        raise ValueError(f"{name} holds values beyond bfloat16's range")
    return b, "BF16"


def write_prompt_table(path, prompts, t5_embed, clip_embed, fallback=None, meta=None, dtype="bf16"):
    """Encodes each prompt with t5_embed(text) -> [T, context] and clip_embed(text) -> [vec] (array
    likes of floats) and writes the table to `path` through the inpaint module (atomically).

    fallback: None, or the text of one of the prompts. meta: other __metadata__ strings, e.g.
    {'t5': ..., 'clip': ...}; kind and max_length (= T) are set here. Refuses an empty list,
    prompts that are not non-empty strings, duplicates, a fallback outside the list, embeddings of
    the wrong rank or of differing shapes, and values that are not finite. Returns the Encoding."""
    inpaint = _inpaint()
    prompts = list(prompts)
    if not prompts:
        raise ValueError("the prompt list is empty: a prompt table needs at least one prompt")
    seen = {}
    for i, text in enumerate(prompts):
        if not isinstance(text, str) or not text:
            raise ValueError(f"prompt {i} must be a non-empty string, got {text!r}")
        if text in seen:
            raise ValueError(f"prompt {i} repeats prompt {seen[text]}: {text!r}")
        seen[text] = i
    if fallback is not None and fallback not in seen:
        raise ValueError(f"the fallback is not one of the prompts: {fallback!r}")
    extra = {str(k): str(v) for k, v in (meta or {}).items()}
    for key in extra:
        if key in ("kind", "fallback", "max_length") or key.startswith("prompt."):
            raise ValueError(f"meta key {key!r} is written by write_prompt_table itself")

    encoding = inpaint.Encoding(model_id=KIND, dtype=DTYPES.get(dtype, ""))
    t5_shape = clip_shape = None
    for i, text in enumerate(prompts):
        t5, t5_type = _stored(t5_embed(text), dtype, f"the T5 embedding of prompt {i}")
        clip, clip_type = _stored(clip_embed(text), dtype, f"the CLIP embedding of prompt {i}")
        if t5.ndim != 2 or 0 in t5.shape:
            raise ValueError(f"the T5 embedding of prompt {i} must be [T, context], got shape {list(t5.shape)}")
        if clip.ndim != 1 or clip.shape[0] == 0:
            raise ValueError(f"the CLIP embedding of prompt {i} must be [vec], got shape {list(clip.shape)}")
        if t5_shape is None:
            t5_shape, clip_shape = t5.shape, clip.shape
        elif t5.shape != t5_shape or clip.shape != clip_shape:
            raise ValueError(f"prompt {i}'s embeddings have shapes {list(t5.shape)}, {list(clip.shape)}; "
                             f"prompt 0's {list(t5_shape)}, {list(clip_shape)}")
        encoding.add(f"t5.{i}", t5, dtype=t5_type, copy=False)
        encoding.add(f"clip.{i}", clip, dtype=clip_type, copy=False)
        extra[f"prompt.{i}"] = text
    extra["kind"] = KIND
    extra["max_length"] = str(t5_shape[0])
    if fallback is not None:
        extra["fallback"] = fallback
    encoding.extra = extra
    inpaint.write_safetensors(str(path), encoding)
    return encoding


# --- the encoders (Hugging Face transformers, only when encoding) -----------------------------


def _transformers():
    try:
        import torch
        import transformers
    except ImportError as e:
        raise SystemExit(f"make_prompt_table: encoding needs Hugging Face transformers and torch ({e}); "
                         "install them: pip install transformers sentencepiece torch") from None
    return torch, transformers


def make_encoders(t5_name, clip_name, max_length=512, device="cpu"):
    """(t5_embed, clip_embed): text -> float32 numpy arrays [max_length, 4096] and [768], as BFL's
    HFEmbedder computes them. T5 runs in bf16 on CUDA (fp16 overflows in T5), fp32 on the CPU."""
    torch, transformers = _transformers()
    run_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    t5_tok = transformers.T5TokenizerFast.from_pretrained(t5_name)
    t5 = transformers.T5EncoderModel.from_pretrained(t5_name, torch_dtype=run_dtype).to(device).eval()
    clip_tok = transformers.CLIPTokenizer.from_pretrained(clip_name)
    clip = transformers.CLIPTextModel.from_pretrained(clip_name, torch_dtype=run_dtype).to(device).eval()

    def run(tokenizer, model, length, key, text):
        tokens = tokenizer(text, truncation=True, max_length=length, return_length=False,
                           return_overflowing_tokens=False, padding="max_length", return_tensors="pt")
        with torch.inference_mode():
            out = model(input_ids=tokens["input_ids"].to(device), attention_mask=None, output_hidden_states=False)
        return out[key][0].float().cpu().numpy()

    return (lambda text: run(t5_tok, t5, max_length, "last_hidden_state", text),
            lambda text: run(clip_tok, clip, 77, "pooler_output", text))


def read_prompts_file(path):
    """One prompt a line (line ends removed); empty lines skipped."""
    return [line.rstrip("\r\n") for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--t5", help="T5 encoder: a Hugging Face name or a local folder (BFL: google/t5-v1_1-xxl)")
    parser.add_argument("--clip", help="CLIP text encoder (BFL: openai/clip-vit-large-patch14)")
    parser.add_argument("--out", help="the safetensors file to write")
    parser.add_argument("--prompts", help="a file of prompts, one a line, instead of the enumerated set")
    parser.add_argument("--prompt-table", help="the library's prompt table JSON (default: the built-in table)")
    parser.add_argument("--labels", nargs="+", help="the scene labeller's labels (default: inpaint.surface_labels())")
    parser.add_argument("--max-length", type=int, default=512, help="T5 tokens, padded or truncated (512)")
    parser.add_argument("--dtype", choices=list(DTYPES), default="bf16", help="stored dtype (bf16)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (cpu)")
    parser.add_argument("--list", action="store_true", help="print the prompts, one a line, and exit")
    args = parser.parse_args(argv)

    table = load_prompt_table(args.prompt_table)
    if args.prompts:
        prompts = read_prompts_file(args.prompts)
    else:
        prompts = closed_prompt_set(table, args.labels if args.labels else default_labels())
    fallback = table["fallback"] if table["fallback"] in prompts else None
    if args.list:
        for text in prompts:
            print(text)
        print(f"{len(prompts)} prompts; fallback: {'yes' if fallback else 'not in the list'}", file=sys.stderr)
        return 0
    missing = [flag for flag, value in (("--t5", args.t5), ("--clip", args.clip), ("--out", args.out)) if not value]
    if missing:
        parser.error(f"{', '.join(missing)} required (or --list)")
    if args.max_length < 1:
        parser.error("--max-length must be at least 1")
    if fallback is None:
        print("make_prompt_table: the table's fallback is not among the prompts; no fallback written", file=sys.stderr)
    t5_embed, clip_embed = make_encoders(args.t5, args.clip, args.max_length, args.device)
    encoding = write_prompt_table(args.out, prompts, t5_embed, clip_embed, fallback,
                                  {"t5": args.t5, "clip": args.clip}, args.dtype)
    digest = hashlib.sha256(Path(args.out).read_bytes()).hexdigest()
    print(f"{args.out}: {len(prompts)} prompts, {encoding.nbytes / 2**20:.1f} MiB of tensors, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
