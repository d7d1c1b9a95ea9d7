"""`inpaint segment`, `inpaint encode`, `inpaint label` and `inpaint segmenters`, driven as a user would."""
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

import inpaint

torch = pytest.importorskip("torch")
import sam_models  # noqa: E402  (needs torch)
from test_segment import iou, object_scene  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))

pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")


def run(*args):
    import subprocess

    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120)


def write_rgb(path, rgb):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


@pytest.fixture(scope="module")
def sam(tmp_path_factory):
    return sam_models.save(tmp_path_factory.mktemp("sam"))


@pytest.fixture
def scene(tmp_path):
    image, truth = object_scene()
    return write_rgb(tmp_path / "photo.png", image), truth


def test_segmenters_are_listed():
    r = run("segmenters")
    assert r.returncode == 0
    names = [line.split("\t")[0] for line in r.stdout.splitlines() if not line.startswith(" ")]
    assert names == sorted(names) and "grabcut" in names and "sam" in names
    listed = {s["name"]: s for s in json.loads(run("segmenters", "--json").stdout)}
    assert [k["name"] for k in listed["grabcut"]["keys"]] == ["iterations", "max_side", "radius"]


def test_segment_with_a_box_and_points(tmp_path, scene):
    photo, truth = scene
    out = tmp_path / "mask.png"
    r = run("segment", "--image", photo, "--box", "90,50,250,170", "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["model"].startswith("grabcut") and len(report["masks"]) == 1
    assert report["masks"][0]["file"] == str(out) and not report["from_store"]
    assert iou(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), truth) >= 0.9
    out2 = tmp_path / "by-points.png"
    r = run("segment", "--image", photo, "--point", "170,110", "--point", "150,100,1", "--point", "20,20,0",
            "--point", "300,220,0", "--out", out2)
    assert r.returncode == 0, r.stderr
    assert iou(cv2.imread(str(out2), cv2.IMREAD_GRAYSCALE), truth) >= 0.9


def test_segment_reuses_the_stored_encoding(tmp_path, scene):
    photo, _ = scene
    store = f"dir:path={tmp_path}/enc"
    reports = []
    for _ in range(2):
        r = run("segment", "--image", photo, "--box", "90,50,250,170", "--store", store, "--out", tmp_path / "m.png",
                "--json")
        assert r.returncode == 0, r.stderr
        reports.append(json.loads(r.stdout))
    assert not reports[0]["from_store"] and reports[0]["stored"]
    assert reports[1]["from_store"] and reports[1]["id"] == reports[0]["id"]
    assert run("store", "ls", "--store", store).stdout.split() == [reports[0]["id"]]


def test_a_dead_store_warns_and_the_mask_is_still_written(tmp_path, scene):
    photo, truth = scene
    out = tmp_path / "mask.png"
    r = run("segment", "--image", photo, "--box", "90,50,250,170", "--out", out,
            "--store", "redis://127.0.0.1:1/0?timeout_ms=200&retry_ms=0")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr
    assert iou(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), truth) >= 0.9


@pytest.mark.parametrize(
    "args, needle",
    [
        ([], "needs a prompt"),
        (["--point", "1,2,5"], "label"),
        (["--point", "1"], "x,y"),
        (["--box", "1,2,3"], "x0,y0,x1,y1"),
        (["--box", "1,2,3,nan"], "finite"),
        (["--box", "10,10,20,20", "--model", "nope"], "unknown segmenter"),
        (["--box", "10,10,20,20", "--model", "grabcut:iterations=0"], "iterations"),
        (["--concept", "grass"], "concept"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, scene, args, needle):
    photo, _ = scene
    out = tmp_path / "mask.png"
    r = run("segment", "--image", photo, "--out", out, *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert not out.exists()


def test_a_missing_image_exits_1(tmp_path):
    out = tmp_path / "mask.png"
    r = run("segment", "--image", tmp_path / "none.png", "--box", "1,1,5,5", "--out", out)
    assert r.returncode == 1 and "none.png" in r.stderr and not out.exists()


def test_encode_into_a_store_and_a_file(tmp_path, scene):
    photo, _ = scene
    store = f"dir:path={tmp_path}/enc"
    first = run("encode", "--image", photo, "--store", store)
    assert first.returncode == 0, first.stderr
    again = run("encode", "--image", photo, "--store", store, "--json")
    report = json.loads(again.stdout)
    assert report["from_store"] and report["id"] == first.stdout.strip()
    path = tmp_path / "enc.safetensors"
    r = run("encode", "--image", photo, "--out", path)
    assert r.returncode == 0, r.stderr
    encoding = inpaint.read_safetensors(path)
    assert encoding.model_id == "grabcut" and encoding.original_width == 321
    assert run("encode", "--image", photo).returncode == 2


def test_sam_multimask_and_concepts(tmp_path, sam):
    image = np.full((301, 407, 3), 90, np.uint8)
    photo = write_rgb(tmp_path / "flat.png", image)
    out = tmp_path / "cand.png"
    r = run("segment", "--image", photo, "--model", sam_models.spec(sam), "--point", "200,150", "--multimask",
            "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [m["score"] for m in report["masks"]] == pytest.approx([0.9, 0.7, 0.5])
    files = [tmp_path / "cand.png", tmp_path / "cand-1.png", tmp_path / "cand-2.png"]
    assert [m["file"] for m in report["masks"]] == [str(f) for f in files]
    areas = [int((cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) > 127).sum()) for f in files]
    assert areas[2] < areas[0] < areas[1]

    ground, obj = sam_models.ground_scene()
    ground_path = write_rgb(tmp_path / "ground.png", ground)
    mask_path = tmp_path / "object.png"
    cv2.imwrite(str(mask_path), obj)
    concepts = sam_models.spec(sam, concepts=True)
    r = run("segment", "--image", ground_path, "--model", concepts, "--concept", "leaves", "--out",
            tmp_path / "leaves.png", "--json")
    assert r.returncode == 0, r.stderr
    assert [m["label"] for m in json.loads(r.stdout)["masks"]] == ["leaves"]
    r = run("label", "--image", ground_path, "--mask", mask_path, "--model", concepts)
    assert r.returncode == 0, r.stderr
    labels = json.loads(r.stdout)
    assert labels["surface"] == "grass" and labels["detail"] == "grass with fallen leaves"
    assert 0 < labels["confidence"] <= 1
    r = run("label", "--image", ground_path, "--mask", mask_path)  # grabcut has no concepts
    assert r.returncode == 2 and "concept" in r.stderr
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), obj[:100])
    r = run("label", "--image", ground_path, "--mask", small, "--model", concepts)
    assert r.returncode == 2 and "mask" in r.stderr


def test_label_and_concept_options(tmp_path, sam):
    ground, obj = sam_models.ground_scene()
    ground_path = write_rgb(tmp_path / "ground.png", ground)
    mask_path = tmp_path / "object.png"
    cv2.imwrite(str(mask_path), obj)
    concepts = sam_models.spec(sam, concepts=True)

    def label(*options):
        r = run("label", "--image", ground_path, "--mask", mask_path, "--model", concepts, *options)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    # A second surface must reach detail_ratio of the first to join the detail.
    assert label("--detail-ratio", "1")["detail"] == ""
    # Nothing covers all of the ring: min_coverage 1 names no surface.
    none = label("--min-coverage", "1")
    assert none["surface"] == "" and none["confidence"] == 0
    # A ring one pixel wide still sees grass around the object (the leaves start 30 px right of it).
    assert label("--ring", "1")["surface"] == "grass"
    # --min-score: the tiny concept decoder scores its instances 0.9.
    report = label("--min-score", "0.95", "--json")
    assert report["labels"]["surface"] == "" and report["coverage"] == {}
    r = run("segment", "--image", ground_path, "--model", concepts, "--concept", "leaves", "--min-score", "0.95",
            "--out", tmp_path / "none.png", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["masks"] == []
    assert (cv2.imread(str(tmp_path / "none.png"), cv2.IMREAD_GRAYSCALE) == 0).all()
    assert run("label", "--image", ground_path, "--mask", mask_path, "--model", concepts, "--ring", "0").returncode == 2
