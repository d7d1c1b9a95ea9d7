"""The tiny sam2video modules of video_models.py and their clips, checked through the reference loop
(video_models.reference_propagate: what the library does around the modules). No inpaint module needed.

Run: /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python/test_video_models.py
"""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import video_models as vm

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return vm.save(tmp_path_factory.mktemp("sam2video"), size=256)


@pytest.fixture(scope="module")
def modules(paths):
    return vm.load(paths)


@pytest.fixture(scope="module")
def clip():
    return vm.make_clip(None)


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "disc.mp4"
    clip = vm.make_clip(path)
    return clip, vm.read_frames(path)


def features_of(modules, frame, size=256):
    with torch.inference_mode():
        return modules["encoder"](vm.preprocess(frame, size))


def decode(modules, feats, memory=None, offsets=(), prompted=(), points=(), box=None, width=320, height=240, size=256):
    coords, labels = vm.prompt_tensors(width, height, size, points, box)
    with torch.inference_mode():
        return modules["decoder"](feats, memory or {}, torch.tensor(offsets, dtype=torch.float32).reshape(-1),
                                  torch.tensor(prompted, dtype=torch.float32).reshape(-1), coords, labels,
                                  torch.zeros(1, 1, 256, 256), torch.zeros(1))


def state(cx, cy, rx, ry, colour, present=1.0):
    return torch.tensor([[cx, cy, rx, ry, *colour, present]], dtype=torch.float32)


def test_spec_names_the_files_and_extra_keys(paths):
    assert vm.spec(paths) == (f"sam2video:encoder={paths['encoder']},memory_encoder={paths['memory_encoder']},"
                              f"decoder={paths['decoder']},size=256")
    assert vm.spec(paths, 512, device="cpu", id="tiny").endswith(",size=512,device=cpu,id=tiny")


def test_modules_load_and_answer_the_contract(modules, clip):
    feats = features_of(modules, clip.frames[0])
    assert set(feats) == {"rgb", "input_size"} and feats["rgb"].shape == (1, 3, 256, 256)
    assert feats["input_size"].tolist() == [256.0]
    # the grid holds the frame's colours (0..255) back
    assert np.abs(feats["rgb"][0].permute(1, 2, 0).numpy()
                  - cv2.resize(clip.frames[0], (256, 256), interpolation=cv2.INTER_AREA)).max() < 0.01

    x, y = clip.centre(0)
    logits, score, object_score = decode(modules, feats, points=[(x, y, 1)])
    assert logits.shape == (1, 1, 256, 256) and score.shape == (1,) and object_score.shape == (1,)
    assert logits.dtype == score.dtype == object_score.dtype == torch.float32
    assert 0.9 <= float(score) <= 1 and float(object_score) == 10.0
    assert float(logits.max()) <= 32 and float(logits.min()) >= -32

    with torch.inference_mode():
        entry = modules["memory_encoder"](feats, logits, object_score)
    assert list(entry) == ["state"] and entry["state"].shape == (1, 8)
    cx, cy, rx, ry, r, g, b, present = entry["state"][0].tolist()
    assert abs(cx - x * 256 / 320) < 0.5 and abs(cy - y * 256 / 240) < 0.5
    assert abs(rx - 24 * 256 / 320) < 1 and abs(ry - 24 * 256 / 240) < 1  # the disc is squeezed to an ellipse
    assert np.abs(np.array([r, g, b]) - vm.RED).max() < 15 and present == 1.0

    # deterministic
    again = decode(modules, feats, points=[(x, y, 1)])
    assert torch.equal(again[0], logits) and torch.equal(again[1], score)


def test_encoder_checks_its_size(paths, modules, clip):
    with pytest.raises(Exception, match="256 x 256"):
        modules["encoder"](vm.preprocess(clip.frames[0], 512))
    anysize = vm.scripted(size=0)["encoder"]
    for size in (256, 512, 1024):
        feats = anysize(vm.preprocess(clip.frames[0], size))
        assert feats["rgb"].shape == (1, 3, 256, 256) and feats["input_size"].tolist() == [float(size)]


def test_no_prompt_and_no_memory_is_an_absent_object(modules, clip):
    feats = features_of(modules, clip.frames[0])
    logits, score, object_score = decode(modules, feats)
    assert float(object_score) < 0 and float(score) == 0 and bool((logits < 0).all())
    # negative clicks alone are ignored
    x, y = clip.centre(0)
    assert float(decode(modules, feats, points=[(x, y, 0)])[2]) < 0
    # the memory encoder answers an all-zero row for an empty mask
    with torch.inference_mode():
        assert modules["memory_encoder"](feats, logits, object_score)["state"].abs().sum() == 0


def test_memory_entry_choice(modules, clip):
    """Nearest in time wins; a prompted entry wins a tie; absent entries are skipped; the size comes
    from the nearest prompted entry."""
    frame = 12
    feats = features_of(modules, clip.frames[frame])
    x, y = clip.centre(frame)
    gx, gy = x * 256 / 320, y * 256 / 240
    red, blue = [float(c) for c in vm.RED], [float(c) for c in vm.BLUE]
    here = state(gx + 3, gy - 2, 19.2, 25.6, red)  # the disc, remembered a little off
    elsewhere = state(40, 40, 19.2, 25.6, blue)  # nothing blue there: absent
    memory = {"state": torch.cat([elsewhere, here], 0)}

    def present(offsets, prompted, mem=memory):
        return float(decode(modules, feats, mem, offsets, prompted)[2]) > 0

    assert present([-2.0, -1.0], [0.0, 0.0])  # "here" is nearer
    assert not present([-1.0, -2.0], [0.0, 0.0])  # "elsewhere" is nearer
    assert not present([1.0, -1.0], [1.0, 0.0])  # tie: the prompted one
    assert present([1.0, -1.0], [0.0, 1.0])
    assert not present([-1.0, 1.0], [0.0, 0.0])  # tie between unprompted ones: the first
    gone = {"state": torch.cat([state(40, 40, 19.2, 25.6, blue, present=0.0), here], 0)}
    assert present([-1.0, -5.0], [0.0, 0.0], gone)  # an absent entry is skipped

    # the shape is the nearest prompted entry's, the centre the measured one
    small = state(gx, gy, 10.0, 10.0, red)
    logits, _, object_score = decode(modules, feats, {"state": torch.cat([small, here], 0)}, [-5.0, -1.0], [1.0, 0.0])
    assert float(object_score) > 0
    with torch.inference_mode():
        cx, cy, rx, ry = modules["memory_encoder"](feats, logits, object_score)["state"][0, :4].tolist()
    assert abs(rx - 10) < 0.7 and abs(ry - 10) < 0.7 and abs(cx - gx) < 0.5 and abs(cy - gy) < 0.5


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("source", ["drawn", "mp4"])
def test_propagation_follows_the_disc(modules, clip, mp4, direction, source):
    frames = clip.frames if source == "drawn" else mp4[1]
    assert len(frames) == 24
    steps = vm.reference_propagate(modules, frames, 12, clip.centre(12), direction)
    expected = list(range(12, 24)) if direction == "forward" else list(range(12, -1, -1))
    assert [s.frame for s in steps] == expected
    for s in steps:
        assert vm.iou(s.mask, clip.truth(s.frame)) >= 0.9, s
        assert s.object_score > 0 and 0.9 <= s.score <= 1, s


def test_two_objects_stay_apart(modules, tmp_path):
    objects = vm.lane_objects(2, 320, 240, 24)
    clip = vm.make_clip(tmp_path / "two.mp4", objects=objects)
    frames = vm.read_frames(tmp_path / "two.mp4")
    features = {}
    masks = []
    for k in range(2):
        steps = vm.reference_propagate(modules, frames, 0, clip.centre(0, k), "forward", features=features)
        masks.append({s.frame: s.mask for s in steps})
    for f in range(24):
        for k in range(2):
            assert vm.iou(masks[k][f], clip.truth(f, k)) >= 0.9, (f, k)
            assert ((masks[k][f] > 0) & (clip.truth(f, 1 - k) > 0)).sum() == 0, (f, k)


def test_box_prompt(modules, clip):
    x, y = clip.centre(12)
    r = clip.objects[0]["radius"]
    box = (x - r - 6, y - r - 4, x + r + 5, y + r + 7)
    steps = vm.reference_propagate(modules, clip.frames, 12, None, "backward", box=box)
    assert len(steps) == 13
    for s in steps:
        assert vm.iou(s.mask, clip.truth(s.frame)) >= 0.9, s


def test_an_object_leaving_the_frame_is_absent(modules, tmp_path):
    clip = vm.make_clip(tmp_path / "exit.mp4", exits=True)
    steps = vm.reference_propagate(modules, vm.read_frames(tmp_path / "exit.mp4"), 0, clip.centre(0), "forward")
    assert any(clip.outside(s.frame) for s in steps) and any(not clip.inside(s.frame) for s in steps)
    for s in steps:
        if clip.inside(s.frame):
            assert s.object_score > 0 and vm.iou(s.mask, clip.truth(s.frame)) >= 0.9, s
        visible = (clip.truth(s.frame) > 0).sum() / (np.pi * clip.objects[0]["radius"] ** 2)
        if visible < 0.15:  # absent below 30 % of the prompted size
            assert s.object_score < 0 and not s.mask.any(), s
        if visible > 0.4:
            assert s.object_score > 0, s


def test_frame_directory_is_lossless_and_naturally_numbered(tmp_path):
    clip = vm.make_clip(tmp_path / "frames", frames=12, width=160, height=120)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert len(names) == 12 and "frame_10.png" in names and "frame_9.png" in names
    for i in (0, 9, 10, 11):
        rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "frames" / f"frame_{i}.png")), cv2.COLOR_BGR2RGB)
        assert np.array_equal(rgb, clip.frames[i])
    assert clip.truth(0).shape == (120, 160) and clip.truth(0).dtype == np.uint8
    assert set(np.unique(clip.truth(0))) == {0, 255} and clip.inside(0) and clip.inside(11)


def test_clip_colours_do_not_match_the_background(clip):
    back = vm.background(320, 240).reshape(-1, 3).astype(np.float32)
    for colour in vm.COLOURS:
        assert np.sqrt(((back - colour) ** 2).sum(1)).min() > 1.5 * vm.TOLERANCE
    for a in vm.COLOURS:
        for b in vm.COLOURS:
            assert a == b or np.sqrt(((np.array(a) - b) ** 2).sum()) > 2 * vm.TOLERANCE


def test_command_line(tmp_path):
    script = str(HERE / "video_models.py")
    r = subprocess.run([sys.executable, script, "save", str(tmp_path / "m"), "--size", "512"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == vm.spec({k: tmp_path / "m" / f"{k}.pt" for k in ("encoder", "memory_encoder", "decoder")},
                                       512)
    encoder = torch.jit.load(str(tmp_path / "m" / "encoder.pt"))
    assert encoder(torch.zeros(1, 3, 512, 512))["rgb"].shape == (1, 3, 256, 256)
    # the clip command in this process (a second interpreter start costs seconds)
    assert vm.main(["clip", str(tmp_path / "c.avi"), "--frames", "5", "--width", "64", "--height", "48",
                    "--fourcc", "MJPG"]) == 0
    assert len(vm.read_frames(tmp_path / "c.avi")) == 5 and vm.read_frames(tmp_path / "c.avi")[0].shape == (48, 64, 3)


def test_the_baseline_benchmark_runs(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("video_baseline", HERE.parents[1] / "bench" / "video_baseline.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    vm.make_clip(tmp_path / "b.mp4", frames=6, objects=vm.lane_objects(2, 320, 240, 6), keep=False)
    result = bench.run(tmp_path / "b.mp4", 0, 256, 2, 3, sam2_sized_memory=True)
    assert result["frames"] == 6 and result["present_share"] == 1.0
    assert set(result["per_frame_ms"]) == {"read", "preprocess", "memory", "postprocess", "total"}
