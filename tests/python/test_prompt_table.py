"""scripts/make_prompt_table.py's enumeration and writer, with deterministic stand-in encoders
(transformers is never imported here)."""
import hashlib
import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inpaint

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_prompt_table.py"
_spec = importlib.util.spec_from_file_location("make_prompt_table", SCRIPT)
mpt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mpt)

T, CONTEXT, VEC = 16, 8, 6


def _rng(kind, text):
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"{kind}:{text}".encode()).digest()[:8], "little"))


def t5_standin(text):
    return _rng("t5", text).standard_normal((T, CONTEXT)).astype(np.float32) * 3


def clip_standin(text):
    return _rng("clip", text).standard_normal(VEC).astype(np.float32)


def labelled(first, second=None):
    """The scene labeller's labels JSON for a ring wholly of `first` (score 1) and of `second`
    (score 0.5, enough to join the detail)."""
    h, w = 40, 40
    obj = np.zeros((h, w), np.uint8)
    obj[15:25, 15:25] = 255
    full = np.full((h, w), 255, np.uint8)
    masks = [inpaint.SegmentMask(full, 1.0, first)]
    if second is not None:
        masks.append(inpaint.SegmentMask(full, 0.5, second))
    return inpaint.label_scene(masks, obj, ring_width=4)["json"]


def reachable(table_path, labels):
    """What build_prompt returns for every labeller output over `labels` (each label alone and
    each ordered pair), every table surface named alone and no labels."""
    texts = {inpaint.build_prompt(None, table=table_path).text}
    for surface in inpaint.prompt_table(table_path)["surfaces"]:
        texts.add(inpaint.build_prompt({"surface": surface, "confidence": 1.0}, table=table_path).text)
    for first in labels:
        texts.add(inpaint.build_prompt(labelled(first), table=table_path).text)
        for second in labels:
            if second != first:
                texts.add(inpaint.build_prompt(labelled(first, second), table=table_path).text)
    return texts


def test_builtin_set_is_what_build_prompt_returns():
    labels = inpaint.surface_labels()
    prompts = mpt.closed_prompt_set(mpt.load_prompt_table(), labels)
    assert len(prompts) == len(set(prompts))
    assert set(prompts) == reachable(None, labels)
    n = len(labels)
    assert len(prompts) == n + n * (n - 1) + 1  # plain, every ordered pair, the fallback
    assert prompts[-1] == inpaint.prompt_table()["fallback"]


def test_user_table_and_labels(tmp_path):
    path = tmp_path / "table.json"
    path.write_text(json.dumps({"surfaces": {" Moss ": "soft green moss", "grass": "short lawn"}, "fallback": "fb"}))
    labels = ["Moss", "grass", "rock", "leaves"]  # rock is in no table: fallback as a surface, itself in details
    prompts = mpt.closed_prompt_set(mpt.load_prompt_table(path), labels)
    assert set(prompts) == reachable(path, labels)
    assert "Moss with rock, soft green moss" in prompts and "grass with fallen leaves, short lawn" in prompts
    assert not any(p.startswith("rock with") for p in prompts)
    with pytest.raises(ValueError, match="non-empty"):
        mpt.closed_prompt_set(mpt.load_prompt_table(path), ["grass", ""])


def test_detail_phrases_are_the_labellers():
    for label in inpaint.surface_labels() + ["rock"]:
        details = json.loads(labelled("sand" if label != "sand" else "grass", label))["detail"]
        assert details.endswith(" with " + mpt.detail_phrase(label))


def test_bf16_rounds_to_nearest_even():
    values = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e38, np.inf, np.nan, 1.0 + 2**-8 + 2**-20], np.float32)
    bits = mpt.float32_to_bf16_bits(values)
    back = (bits.astype(np.uint32) << 16).view(np.float32)
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even (1.0); 1 + 3*2^-8 to 1 + 2^-6.
    assert back[0] == 1.0 and back[1] == 1.0 and back[2] == 1.015625 and back[3] == -2.5
    assert np.isfinite(back[4]) and abs(back[4] / 3.0e38 - 1) < 2**-8
    assert np.isinf(back[5]) and np.isnan(back[6]) and back[7] == 1.0078125
    torch = pytest.importorskip("torch")

    sample = np.random.default_rng(0).standard_normal(10000).astype(np.float32) * 100
    expected = torch.from_numpy(sample).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(mpt.float32_to_bf16_bits(sample), expected)


@pytest.mark.parametrize("dtype, stored", [("bf16", "BF16"), ("fp16", "F16"), ("fp32", "F32")])
def test_written_table_reads_back(tmp_path, dtype, stored):
    table = mpt.load_prompt_table()
    prompts = mpt.closed_prompt_set(table, inpaint.surface_labels())
    path = tmp_path / "table.safetensors"
    mpt.write_prompt_table(path, prompts, t5_standin, clip_standin, table["fallback"],
                           {"t5": "stand-in/t5", "clip": "stand-in/clip"}, dtype)
    e = inpaint.read_safetensors(path)
    assert sorted(e.names()) == sorted([f"t5.{i}" for i in range(len(prompts))] + [f"clip.{i}" for i in range(len(prompts))])
    extra = e.extra
    assert extra["kind"] == "flux-prompt-table" and extra["max_length"] == str(T)
    assert extra["t5"] == "stand-in/t5" and extra["clip"] == "stand-in/clip"
    assert extra["fallback"] == table["fallback"]
    for i, text in enumerate(prompts):
        assert extra[f"prompt.{i}"] == text
        assert e.dtype_of(f"t5.{i}") == stored and e.dtype_of(f"clip.{i}") == stored
        assert e[f"t5.{i}"].shape == (T, CONTEXT) and e[f"clip.{i}"].shape == (VEC,)
        t5 = e[f"t5.{i}"]
        if stored == "BF16":
            t5 = (t5.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_allclose(t5.astype(np.float32), t5_standin(text), rtol=2**-8, atol=0)
    assert set(k for k in extra if not k.startswith("prompt.")) == {"kind", "max_length", "t5", "clip", "fallback"}
    # The same file from the same embeddings, and one that the raw safetensors header agrees with.
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    assert header["t5.0"]["dtype"] == stored and header["t5.0"]["shape"] == [T, CONTEXT]
    assert header["__metadata__"]["prompt.0"] == prompts[0]
    again = tmp_path / "again.safetensors"
    mpt.write_prompt_table(again, prompts, t5_standin, clip_standin, table["fallback"],
                           {"t5": "stand-in/t5", "clip": "stand-in/clip"}, dtype)
    assert again.read_bytes() == data


def test_no_fallback_is_written_when_none_is_given(tmp_path):
    path = tmp_path / "t.safetensors"
    mpt.write_prompt_table(path, ["a", "b"], t5_standin, clip_standin)
    e = inpaint.read_safetensors(path)
    assert "fallback" not in e.extra and e.extra["prompt.1"] == "b" and len(e) == 4


def test_refusals(tmp_path):
    path = tmp_path / "t.safetensors"
    with pytest.raises(ValueError, match="empty"):
        mpt.write_prompt_table(path, [], t5_standin, clip_standin)
    with pytest.raises(ValueError, match=r"prompt 2 repeats prompt 0: 'a'"):
        mpt.write_prompt_table(path, ["a", "b", "a"], t5_standin, clip_standin)
    with pytest.raises(ValueError, match="fallback is not one of the prompts"):
        mpt.write_prompt_table(path, ["a", "b"], t5_standin, clip_standin, fallback="c")
    with pytest.raises(ValueError, match="non-empty string"):
        mpt.write_prompt_table(path, ["a", ""], t5_standin, clip_standin)
    with pytest.raises(ValueError, match="written by write_prompt_table"):
        mpt.write_prompt_table(path, ["a"], t5_standin, clip_standin, meta={"kind": "x"})
    with pytest.raises(ValueError, match="dtype"):
        mpt.write_prompt_table(path, ["a"], t5_standin, clip_standin, dtype="int8")
    ragged = lambda text: np.zeros((T + len(text), CONTEXT), np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="shapes"):
        mpt.write_prompt_table(path, ["a", "bb"], ragged, clip_standin)
    with pytest.raises(ValueError, match=r"\[T, context\]"):
        mpt.write_prompt_table(path, ["a"], clip_standin, clip_standin)
    overflow = lambda text: np.full((T, CONTEXT), np.nan, np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="not finite"):
        mpt.write_prompt_table(path, ["a"], overflow, clip_standin)
    big = lambda text: np.full((T, CONTEXT), 1e5, np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="float16"):
        mpt.write_prompt_table(path, ["a"], big, clip_standin, dtype="fp16")
    assert not path.exists()


def test_list_needs_no_encoders():
    run = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == mpt.closed_prompt_set(mpt.load_prompt_table(), inpaint.surface_labels())


@pytest.mark.skipif(importlib.util.find_spec("transformers") is not None, reason="transformers is installed")
def test_missing_transformers_is_one_clear_line(tmp_path):
    out = tmp_path / "t.safetensors"
    run = subprocess.run([sys.executable, str(SCRIPT), "--t5", "x", "--clip", "y", "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and not out.exists()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "transformers" in lines[0] and "pip install" in lines[0]
