"""The native FLUX.1-Fill model (`flux`) from Python and from the CLI, on the tiny checkpoints in
tests/data/flux (README there): loading from BFL safetensors and from GGUF Q8_0, the per-call
parameters, fills through the pipeline, the autoencoder in diffusers' layout (converted at test time
by tools/flux_keys.py), and the errors a caller sees.

The prompt table is written by scripts/make_prompt_table.py's write_prompt_table() from the golden
text conditioning (sample.txt, sample.vec), so the writer is checked against the model's reader.
Its prompts are the built-in prompt table's grass prompt and fallback: what the CLI's --surface
grass (and no surface at all) builds. The tiny model fills a 64x48 image in well under a second.

Run with the built package on the path:
  PYTHONPATH=build/python INPAINT_CLI=build/bin/inpaint /usr/bin/python3 -m pytest tests/python/test_flux.py
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import inpaint

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "flux"
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))

sys.path.insert(0, str(ROOT / "scripts"))
from make_prompt_table import write_prompt_table  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
from flux_keys import ae_bfl_to_diffusers  # noqa: E402
from st_io import read_safetensors as read_st, write_safetensors as write_st  # noqa: E402

TORCH_BUILT = next(b for b in inpaint.backends() if b["name"] == "torch")["built"]
# The flux model lives in the torch backend; the core-only build (INPAINT_WITH_TORCH=OFF) has no
# Python module, so this skip is for hand-built trees. The checkpoints are committed: no skip for
# missing files (INPAINT_REQUIRE_TEST_MODELS is about fetched models).
pytestmark = pytest.mark.skipif(not TORCH_BUILT, reason="the torch backend is not built (INPAINT_WITH_TORCH=OFF)")

W, H = 64, 48
CX, CY, R = 30, 22, 9
PARAMS = {"steps": 2, "seed": 3}


def photo():
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([(x * 4 + y) % 256, (y * 5 + 40) % 256, ((x ^ y) * 7) % 256], axis=-1)
    return np.ascontiguousarray(rgb.astype(np.uint8))


def disc(radius=R):
    y, x = np.mgrid[0:H, 0:W]
    return np.where((x - CX) ** 2 + (y - CY) ** 2 <= radius * radius, 255, 0).astype(np.uint8)


@pytest.fixture(scope="module")
def prompts():
    """(grass prompt, fallback prompt) of the built-in prompt table."""
    table = inpaint.prompt_table()
    return table["surfaces"]["grass"], table["fallback"]


@pytest.fixture(scope="module")
def table(tmp_path_factory, prompts):
    grass, fallback = prompts
    golden = inpaint.read_safetensors(DATA / "golden.safetensors")
    txt = np.asarray(golden["sample.txt"], dtype=np.float32)[0]  # [7, 32]
    vec = np.asarray(golden["sample.vec"], dtype=np.float32)[0]  # [16]
    scale = {grass: 1.0, fallback: -0.5}
    path = tmp_path_factory.mktemp("flux") / "prompts.safetensors"
    write_prompt_table(path, [grass, fallback], lambda text: txt * scale[text], lambda text: vec * scale[text],
                       fallback=fallback, meta={"t5": "golden sample.txt", "clip": "golden sample.vec"})
    return path


def spec(table, transformer="transformer-bfl.safetensors", steps=2, ae=DATA / "ae.safetensors"):
    path = transformer if os.path.isabs(str(transformer)) else DATA / transformer
    return (f"flux:path={path},ae={ae},prompts={table},device=cpu,axes=4/6/6,"
            f"min_side=0,steps={steps},threads=1")


@pytest.fixture(scope="module")
def bfl(table):
    return inpaint.Model(spec(table))


@pytest.fixture(scope="module")
def gguf(table):
    return inpaint.Model(spec(table, "transformer-q8_0.gguf"))


def test_the_written_prompt_table_reads_back(table, prompts):
    grass, fallback = prompts
    read = inpaint.read_safetensors(table)
    assert sorted(read.names()) == ["clip.0", "clip.1", "t5.0", "t5.1"]
    assert read.dtype_of("t5.0") == "BF16" and read.dtype_of("clip.1") == "BF16"
    assert read["t5.0"].shape == (7, 32) and read["clip.0"].shape == (16,)
    extra = read.extra
    assert extra["kind"] == "flux-prompt-table" and extra["max_length"] == "7"
    assert extra["prompt.0"] == grass and extra["prompt.1"] == fallback and extra["fallback"] == fallback


def test_models_lists_flux_with_its_keys():
    listed = {info.name: info for info in inpaint.models()}
    assert "flux" in listed and "FLUX.1-Fill" in listed["flux"].description
    keys = listed["flux"].keys
    assert {"path", "ae", "prompts", "missing_prompt", "device", "dtype", "quant", "axes", "steps", "guidance",
            "max_side", "min_side"} <= set(keys)
    assert all(keys.values())


def test_loads_from_bfl_safetensors_and_gguf(bfl, gguf):
    for model in (bfl, gguf):
        assert model.ready
        assert model.spec.startswith("flux:") and "device=cpu" in model.spec
        info = model.load_info
        assert info["device"] == "cpu" and info["load_ms"] > 0 and info["weight_bytes"] > 0, info
        assert model.geometry["multiple_of"] == 16
    assert "quant=int8" in gguf.spec, gguf.spec
    # Q8_0 block weights stay int8: fewer resident bytes than the fp32 weights of the BFL file.
    assert gguf.load_info["weight_bytes"] < bfl.load_info["weight_bytes"], (gguf.load_info, bfl.load_info)


# ---- the autoencoder in diffusers' AutoencoderKL layout (vae/diffusion_pytorch_model.safetensors)
#
# Built at test time from ae.safetensors by tools/flux_keys.py (written from diffusers'
# convert_ldm_vae_checkpoint), so the C++ reader's table is checked against an independent converter.


def write_diffusers_vae(path, change=None):
    tensors, meta = read_st(DATA / "ae.safetensors")
    assert {dtype for dtype, _ in tensors.values()} == {"BF16"}
    converted = ae_bfl_to_diffusers({name: a for name, (_, a) in tensors.items()})
    if change:
        change(converted)
    write_st(path, {name: ("BF16", a) for name, a in converted.items()}, meta)  # bf16 values: exact
    return path


@pytest.fixture(scope="module")
def diffusers_vae(tmp_path_factory):
    return write_diffusers_vae(tmp_path_factory.mktemp("vae") / "diffusion_pytorch_model.safetensors")


def test_the_converted_vae_is_in_diffusers_layout(diffusers_vae):
    read = inpaint.read_safetensors(diffusers_vae)
    names = set(read.names())
    assert len(names) == 172 and not any(".down." in n or ".up." in n or ".mid." in n for n in names)
    # BFL's deepest decoder level (up.3, with the upsampler) is diffusers' first up_block.
    assert "decoder.up_blocks.0.upsamplers.0.conv.weight" in names
    assert "decoder.up_blocks.3.upsamplers.0.conv.weight" not in names
    assert "decoder.up_blocks.3.resnets.1.conv2.weight" in names
    assert read["encoder.mid_block.attentions.0.to_q.weight"].shape == (32, 32)  # Linear, not a 1x1 conv
    assert "decoder.conv_norm_out.weight" in names


@pytest.mark.parametrize("old_names", [False, True], ids=["current", "deprecated-attention-names"])
def test_a_diffusers_vae_fills_byte_identically(bfl, table, prompts, diffusers_vae, tmp_path, old_names):
    ae = diffusers_vae
    if old_names:  # what older diffusers files carry (diffusers renames them on load)
        old = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}

        def rename(sd):
            for name in [n for n in sd if ".attentions.0." in n and "group_norm" not in n]:
                stem, leaf = name.rsplit(".", 1)
                head, proj = stem.split(".attentions.0.")
                sd[f"{head}.attentions.0.{old[proj]}.{leaf}"] = sd.pop(name)
        ae = write_diffusers_vae(tmp_path / "old.safetensors", rename)
        assert "decoder.mid_block.attentions.0.query.weight" in inpaint.read_safetensors(ae).names()
    model = inpaint.Model(spec(table, ae=ae))
    assert model.ready and f"ae={ae}" in model.spec, model.spec
    image, mask = photo(), disc()
    expected = inpaint.fill(bfl, image, mask, prompt=prompts[0], params=PARAMS).image
    got = inpaint.fill(model, image, mask, prompt=prompts[0], params=PARAMS).image
    assert np.array_equal(got, expected)


def test_a_broken_diffusers_vae_is_a_clear_error(table, tmp_path):
    def load(change):
        path = write_diffusers_vae(tmp_path / "broken.safetensors", change)
        with pytest.raises(inpaint.DecodeError) as raised:
            inpaint.Model(spec(table, ae=path))
        text = str(raised.value)
        assert str(path) in text, text
        return text

    # A missing tensor is named both ways; the decoder's level order is reversed in the message too.
    text = load(lambda sd: sd.pop("decoder.mid_block.attentions.0.to_k.weight"))
    assert "'decoder.mid.attn_1.k.weight' (stored as 'decoder.mid_block.attentions.0.to_k.weight') is missing" in text
    assert "ae-diffusers layout" in text
    text = load(lambda sd: sd.pop("decoder.up_blocks.3.resnets.1.conv2.bias"))
    assert "'decoder.up.0.block.1.conv2.bias' (stored as 'decoder.up_blocks.3.resnets.1.conv2.bias')" in text, text
    # A projection of the wrong width names the stored (Linear) shape.
    text = load(lambda sd: sd.update({"encoder.mid_block.attentions.0.to_v.weight": np.zeros((32, 16), np.float32)}))
    assert "'encoder.mid_block.attentions.0.to_v.weight'" in text and "[32, 16], expected [32, 32]" in text, text
    # Another model's VAE (quant_conv), and a name the layout does not have.
    text = load(lambda sd: sd.update({"quant_conv.weight": np.zeros((32, 32, 1, 1), np.float32)}))
    assert "quant_conv" in text, text
    text = load(lambda sd: sd.update({"decoder.mid_block.resnets.2.conv1.bias": np.zeros((32,), np.float32)}))
    assert "'decoder.mid_block.resnets.2.conv1.bias' is not one of a FLUX autoencoder's" in text, text
    # Old and new attention names for one tensor.
    text = load(lambda sd: sd.update({"encoder.mid_block.attentions.0.query.weight": sd["encoder.mid_block.attentions.0.to_q.weight"]}))
    assert "both map to 'encoder.mid.attn_1.q.weight'" in text, text


def test_per_call_parameters_and_their_defaults(bfl):
    params = {p["name"]: p for p in bfl.parameters()}
    assert {"steps", "guidance", "seed", "strength"} <= set(params)
    assert params["steps"]["type"] == "int" and params["steps"]["default"] == 2  # steps=2 in the spec
    assert params["steps"]["min"] == 1 and params["steps"]["max"] == 200
    assert params["guidance"]["type"] == "float" and params["guidance"]["default"] == 30.0
    assert params["seed"]["type"] == "int"
    assert params["strength"]["type"] == "float" and params["strength"]["default"] == 1.0
    assert all(p["doc"] for p in params.values())


def test_fill_keeps_the_outside_and_is_seeded(bfl, prompts):
    grass, _ = prompts
    image, mask = photo(), disc()
    seen = []
    a = inpaint.fill(bfl, image, mask, prompt=grass, params=PARAMS, progress=seen.append)
    assert a.image.shape == (H, W, 3) and a.regions == 1 and not a.mask_empty
    assert len(seen) == 2 and seen[-1] == 1.0 and seen == sorted(seen), seen
    # Outside the cleaned hole grown by the feather the result is the input, byte for byte.
    defaults = {o["name"]: o["default"] for o in inpaint.pipeline_options()}
    far = disc(R + defaults["dilate_px"] + defaults["feather_px"] + 2) == 0
    assert far.any() and np.array_equal(a.image[far], image[far])
    hole = mask > 127
    assert not np.array_equal(a.image[hole], image[hole])

    b = inpaint.fill(bfl, image, mask, prompt=grass, params=PARAMS)
    assert np.array_equal(a.image, b.image)  # same seed: same bytes
    c = inpaint.fill(bfl, image, mask, prompt=grass, params={"steps": 2, "seed": 4})
    assert not np.array_equal(a.image[hole], c.image[hole])  # another seed: another fill
    assert np.array_equal(a.image[far], c.image[far])

    # Without clean-up and feather only the mask's own pixels change.
    raw = inpaint.fill(bfl, image, mask, prompt=grass, params=PARAMS, clean=False, feather_px=0)
    assert np.array_equal(raw.image[~hole], image[~hole])


def test_gguf_fills_too(gguf, prompts):
    image, mask = photo(), disc()
    out = inpaint.fill(gguf, image, mask, prompt=prompts[1], params=PARAMS, clean=False, feather_px=0).image
    hole = mask > 127
    assert np.array_equal(out[~hole], image[~hole]) and not np.array_equal(out[hole], image[hole])


def test_the_raw_model_call(bfl, prompts):
    image, mask = photo(), disc()
    out = bfl.inpaint(image, mask, prompt=prompts[0], params=PARAMS)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    with pytest.raises(inpaint.InvalidArgumentError, match="steps"):
        bfl.inpaint(image, mask, prompt=prompts[0], params={"steps": 0})


def test_a_prompt_outside_the_table_names_the_nearest(bfl, prompts):
    grass, _ = prompts
    near = grass.replace(",", "", 1) if "," in grass else grass + "!"
    with pytest.raises(inpaint.InvalidArgumentError) as raised:
        inpaint.fill(bfl, photo(), disc(), prompt=near, params=PARAMS)
    message = str(raised.value)
    assert "not in the prompt table" in message and f"nearest: '{grass}'" in message, message


@pytest.mark.parametrize("key, value", [("steps", 0), ("steps", 1000), ("guidance", float("nan")),
                                        ("seed", 2**60), ("seed", -1), ("strength", 0.0)])
def test_bad_per_call_parameters_are_clear_errors(bfl, prompts, key, value):
    with pytest.raises(inpaint.InvalidArgumentError, match=key) as raised:
        inpaint.fill(bfl, photo(), disc(), prompt=prompts[0], params={key: value})
    text = str(raised.value)
    assert text.startswith(f"model 'flux': parameter '{key}' must be") and "\n" not in text, text


def test_spec_errors_name_the_file(table, tmp_path):
    with pytest.raises(inpaint.FileError, match="absent.gguf"):
        inpaint.Model(spec(table, tmp_path / "absent.gguf"))
    cut = tmp_path / "cut.gguf"
    cut.write_bytes((DATA / "transformer-q8_0.gguf").read_bytes()[:-1000])
    with pytest.raises(inpaint.DecodeError, match=str(cut)):
        inpaint.Model(spec(table, cut))
    with pytest.raises(inpaint.InvalidArgumentError, match="steps"):
        inpaint.Model(spec(table, steps=0))


# ---- the CLI


def cli(*args):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120)


def assert_clean_failure(result, out_dir, *needles):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("inpaint: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    leftovers = [p.name for p in out_dir.iterdir() if p.name.startswith(("out", ".tmp-"))]
    assert leftovers == [], leftovers


@pytest.fixture
def files(tmp_path):
    if not CLI.exists():
        pytest.skip(f"{CLI} is not built")
    image = tmp_path / "photo.png"
    image.write_bytes(inpaint.encode(photo(), format="png"))
    mask = tmp_path / "mask.png"
    mask.write_bytes(inpaint.encode(disc(), format="png"))
    return tmp_path, image, mask


def test_cli_lists_and_describes_flux(files, table):
    r = cli("models", "--json")
    assert r.returncode == 0, r.stderr
    flux = {m["name"]: m for m in json.loads(r.stdout)}["flux"]
    assert [k["name"] for k in flux["keys"]][:3] == ["path", "ae", "prompts"]
    r = cli("model-info", "--model", spec(table), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert {p["name"]: p["default"] for p in info["parameters"]}["steps"] == 2
    assert info["geometry"]["multiple_of"] == 16


def test_cli_fill_matches_the_python_fill(files, table, bfl, prompts):
    d, image, mask = files
    r = cli("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--model", spec(table),
            "--surface", "grass", "--param", "steps=2", "--param", "seed=3", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["prompt"] == prompts[0] and report["model"].startswith("flux:")
    out = inpaint.decode((d / "out.png").read_bytes()).rgb
    expected = inpaint.fill(bfl, photo(), disc(), prompt=prompts[0], params=PARAMS).image
    assert np.array_equal(out, expected)
    # No --surface: the fallback prompt, which the table holds.
    r = cli("run", "--image", image, "--mask", mask, "--out", d / "out2.png", "--model", spec(table),
            "--param", "steps=1")
    assert r.returncode == 0, r.stderr
    assert (d / "out2.png").stat().st_size > 0


def test_cli_bad_steps_leave_no_output(files, table):
    d, image, mask = files
    r = cli("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--model", spec(table),
            "--param", "steps=0")
    assert_clean_failure(r, d, "steps")


def test_cli_truncated_gguf_and_missing_transformer(files, table):
    d, image, mask = files
    cut = d / "cut.gguf"
    cut.write_bytes((DATA / "transformer-q8_0.gguf").read_bytes()[:-1000])
    r = cli("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--model", spec(table, cut))
    assert_clean_failure(r, d, str(cut))
    absent = d / "absent.safetensors"
    r = cli("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--model", spec(table, absent))
    assert_clean_failure(r, d, str(absent))


def test_cli_prompt_outside_the_table(files, table):
    d, image, mask = files
    # --surface lava is not a table surface: the prompt builder falls back, which the table holds;
    # a labels file naming a detail makes a prompt the table lacks.
    labels = d / "labels.json"
    labels.write_text(json.dumps({"surface": "grass", "detail": "long grass", "confidence": 0.9}))
    r = cli("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--model", spec(table),
            "--labels", labels)
    assert_clean_failure(r, d, "not in the prompt table", "nearest: ")


def test_the_canonical_spec_loads_again(bfl):
    again = inpaint.Model(bfl.spec)
    assert again.spec == bfl.spec
    assert "axes=4/6/6" in bfl.spec and "threads=1" in bfl.spec


def test_missing_prompt_fallback_is_reported(table, prompts):
    grass, fallback = prompts
    lenient = inpaint.Model(spec(table) + ",missing_prompt=fallback")
    result = inpaint.fill(lenient, photo(), disc(), prompt="a prompt nobody encoded", params=PARAMS)
    assert result.model_prompt == fallback
    assert "not in the prompt table" in result.model_prompt_reason
    assert "missing_prompt=fallback" in result.model_prompt_reason
    same = inpaint.fill(lenient, photo(), disc(), prompt=grass, params=PARAMS)
    assert same.model_prompt == grass and same.model_prompt_reason == ""


def test_cli_json_reports_the_fallback(files, table):
    d, image, mask = files
    labels = d / "labels.json"
    labels.write_text(json.dumps({"surface": "grass", "detail": "long grass", "confidence": 0.9}))
    r = cli("run", "--image", image, "--mask", mask, "--out", d / "out.png", "--json",
            "--model", spec(table) + ",missing_prompt=fallback", "--labels", labels)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["prompt"].startswith("long grass")
    assert report["model_prompt"] == inpaint.prompt_table()["fallback"]
    assert "not in the prompt table" in report["model_prompt_reason"]
