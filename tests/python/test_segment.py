"""Segmenters from Python: GrabCut (no model file), the `sam` contract with tiny TorchScript modules
built here, the store-backed encoding path and the scene labeller.

Run with the built package on the path: PYTHONPATH=build/python /usr/bin/python3 -m pytest tests/python
"""
import json
import threading

import numpy as np
import pytest

import inpaint

torch = pytest.importorskip("torch")
import sam_models  # noqa: E402  (needs torch)


def object_scene(width=321, height=239):
    """A reddish textured ellipse on a noisy green-grey background, and its ground truth."""
    rng = np.random.default_rng(5)
    image = np.empty((height, width, 3), np.int16)
    image[:] = (90, 120, 80)
    image += rng.integers(-20, 21, image.shape, dtype=np.int16)
    y, x = np.mgrid[0:height, 0:width]
    truth = ((x - 170) / 70.0) ** 2 + ((y - 110) / 50.0) ** 2 <= 1
    image[truth] = (200, 60, 50) + rng.integers(-15, 16, (int(truth.sum()), 3), dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8), truth


def iou(mask, truth):
    m = mask > 127
    return (m & truth).sum() / (m | truth).sum()


@pytest.fixture(scope="module")
def sam(tmp_path_factory):
    paths = sam_models.save(tmp_path_factory.mktemp("sam"))
    return paths


def test_listing_and_default():
    names = [name for name, _ in inpaint.segmenters()]
    assert names == sorted(names) and {"grabcut", "sam"} <= set(names)
    assert inpaint.default_segmenter_spec() == "grabcut"
    listed = {info.name: info for info in inpaint.segmenters()}
    assert list(listed["grabcut"].keys) == ["iterations", "max_side", "radius"]
    assert {"encoder", "decoder", "preprocess"} <= set(listed["sam"].keys)
    assert tuple(listed["grabcut"]) == ("grabcut", listed["grabcut"].description)
    with pytest.raises(inpaint.InvalidArgumentError, match="it takes iterations, max_side, radius"):
        inpaint.Segmenter("grabcut:iteratons=3")
    seg = inpaint.Segmenter()
    assert seg.spec.startswith("grabcut")
    caps = seg.capabilities
    assert caps["points"] and caps["boxes"] and not caps["mask_input"] and caps["concepts"] == []
    assert inpaint.surface_labels()[:2] == ["grass", "concrete"]


def test_grabcut_box_and_points():
    image, truth = object_scene()
    seg = inpaint.Segmenter("grabcut")
    encoding = seg.encode(image)
    by_box = seg.segment(encoding, box=(90, 50, 250, 170))
    assert len(by_box) == 1
    best = by_box[0]
    assert best.mask.shape == truth.shape and best.mask.dtype == np.uint8
    assert iou(best.mask, truth) >= 0.9
    x, y, w, h = best.box
    assert abs(x - 100) <= 4 and abs(y - 60) <= 4 and abs(w - 141) <= 8 and abs(h - 101) <= 8
    assert 0 <= best.score <= 1 and best.low_res_logits is None
    by_points = seg.segment(encoding, points=[(170, 110), (150, 100), (20, 20, 0), (300, 220, 0)])
    assert iou(by_points[0].mask, truth) >= 0.9
    assert set(by_box.timings) == {"decode", "postprocess"}


def test_grabcut_errors():
    image, _ = object_scene()
    seg = inpaint.Segmenter("grabcut")
    encoding = seg.encode(image)
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding)  # no prompt
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, points=[(1, 2, 5)])
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, points=[(float("nan"), 2)])
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, box=(10, 10, 5))
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, concepts=["grass"])
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, box=(1, 1, 50, 50), mask_input=np.zeros((256, 256), np.float32))
    with pytest.raises(TypeError):
        seg.encode(image.astype(np.float32))
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.encode(image[:, :, :2].copy())
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.Segmenter("grabcut:iterations=0")
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.Segmenter("grabcut:colour=red")
    with pytest.raises(inpaint.UnknownModelError, match="grabcut"):
        inpaint.Segmenter("nope")
    token = inpaint.CancelToken()
    token.cancel()
    with pytest.raises(inpaint.CancelledError):
        seg.segment(encoding, box=(90, 50, 250, 170), cancel=token)


def test_store_encodes_once_and_survives_a_dead_store(tmp_path):
    image, truth = object_scene()
    seg = inpaint.Segmenter("grabcut")
    store = inpaint.Store(f"dir:path={tmp_path}/enc")
    first, outcome = seg.encode_with_store(image, store)
    assert not outcome["from_store"] and outcome["stored"] and outcome["store_error"] == ""
    assert outcome["id"] == inpaint.encoding_id(image, seg.model_id)
    again, outcome2 = seg.encode_with_store(image, store)
    assert outcome2["from_store"] and outcome2["encode_ms"] == 0 and outcome2["id"] == outcome["id"]
    a = seg.segment(first, box=(90, 50, 250, 170))[0].mask
    b = seg.segment(again, box=(90, 50, 250, 170))[0].mask
    assert np.array_equal(a, b)
    # A server that is not there: the request still gets its encoding, and says what failed.
    dead = inpaint.Store("redis://127.0.0.1:1/0?timeout_ms=200&retry_ms=0")
    encoding, outcome = seg.encode_with_store(image, dead)
    assert not outcome["from_store"] and not outcome["stored"] and outcome["store_error"]
    assert iou(seg.segment(encoding, box=(90, 50, 250, 170))[0].mask, truth) >= 0.9
    _, none_outcome = seg.encode_with_store(image, None)
    assert not none_outcome["stored"] and none_outcome["store_error"] == ""


def test_sam_points_map_back_exactly_at_odd_aspect_ratios(sam):
    seg = inpaint.Segmenter(sam_models.spec(sam))
    assert seg.capabilities["points"] and seg.capabilities["mask_input"] and seg.capabilities["multimask"]
    for height, width, click in ((1001, 703, (300.0, 500.0)), (703, 1001, (640.0, 210.0))):
        image = np.full((height, width, 3), 90, np.uint8)
        encoding = seg.encode(image)
        result = seg.segment(encoding, points=[click])
        assert len(result) == 1
        best = result[0]
        assert best.score == pytest.approx(0.9)
        scale = 1024 / max(height, width)
        radius = 40 / scale  # the best candidate's radius, in image pixels
        ys, xs = np.nonzero(best.mask > 127)
        assert abs(xs.mean() - click[0]) < 1.0 and abs(ys.mean() - click[1]) < 1.0
        assert len(xs) == pytest.approx(np.pi * radius ** 2, rel=0.03)
        logits = best.low_res_logits
        assert logits.shape == (1, 1, 256, 256) and logits.dtype == np.float32 and not logits.flags.writeable
        # Handing the logits back (the decoder returns mask_input then) gives the same mask.
        again = seg.segment(encoding, points=[click], mask_input=np.ascontiguousarray(logits))
        assert np.array_equal(again[0].mask, best.mask)
        every = seg.segment(encoding, points=[click], multimask=True)
        assert [m.score for m in every] == pytest.approx([0.9, 0.7, 0.5])
        areas = [int((m.mask > 127).sum()) for m in every]
        assert areas[2] < areas[0] < areas[1]


def test_sam_errors(sam, tmp_path):
    seg = inpaint.Segmenter(sam_models.spec(sam))
    image = np.full((64, 80, 3), 90, np.uint8)
    encoding = seg.encode(image)
    other = inpaint.Segmenter(sam_models.spec(sam) + ",id=another-model")
    with pytest.raises(inpaint.InvalidArgumentError, match="another-model|model"):
        other.segment(encoding, points=[(10, 10)])
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, concepts=["grass"])  # this spec has no concepts
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, points=[(10, 10)], mask_input=np.zeros((3, 3), np.float32))
    with pytest.raises(inpaint.FileError):
        inpaint.Segmenter(f"sam:encoder={tmp_path}/missing.pt,decoder={sam['decoder']}")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip archive")
    with pytest.raises(inpaint.DecodeError):
        inpaint.Segmenter(f"sam:encoder={junk},decoder={sam['decoder']}")


def test_sam_concepts_and_scene_labels(sam):
    seg = inpaint.Segmenter(sam_models.spec(sam, concepts=True))
    assert seg.capabilities["concepts"] == ["grass", "leaves"]
    image, obj = sam_models.ground_scene()
    encoding = seg.encode(image)
    result = seg.segment(encoding, concepts=["grass", "leaves"])
    labels = sorted(m.label for m in result)
    assert labels == ["grass", "leaves"]
    leaves = next(m for m in result if m.label == "leaves")
    # The leaves region is x >= 190; the mask follows it to within the features' 5 px cells.
    cols = np.nonzero((leaves.mask > 127).any(axis=0))[0]
    assert abs(cols.min() - 190) <= 6 and cols.max() == image.shape[1] - 1
    with pytest.raises(inpaint.InvalidArgumentError, match="grass"):
        seg.segment(encoding, concepts=["lava"])
    with pytest.raises(inpaint.InvalidArgumentError):
        seg.segment(encoding, concepts=["grass"], points=[(3, 3)])

    labelled = inpaint.label_scene(result.masks, obj, ring_width=48)
    assert labelled["labels"]["surface"] == "grass"
    cov = labelled["coverage"]
    assert cov["grass"] > cov["leaves"] > 0.35 * cov["grass"]
    assert labelled["labels"]["detail"] == "grass with fallen leaves"
    parsed = json.loads(labelled["json"])
    assert parsed["surface"] == "grass" and parsed["labeledAt"].endswith("Z")
    prompt = inpaint.build_prompt(labelled["json"])
    assert prompt.from_labels and "fallen leaves" in prompt.text
    assert inpaint.label_scene(result.masks, obj, detail_ratio=1.0)["labels"]["detail"] == ""
    bare = inpaint.label_scene(result.masks, obj, min_coverage=1.0)["labels"]
    assert bare["surface"] == "" and bare["confidence"] == 0
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.label_scene(result.masks, obj, ring_width=0)
    assert len(seg.segment(encoding, concepts=["leaves"], min_score=0.95)) == 0


def test_label_scene_from_masks_made_elsewhere():
    h, w = 120, 160
    obj = np.zeros((h, w), np.uint8)
    obj[40:80, 60:100] = 255
    sand = np.full((h, w), 255, np.uint8)
    labelled = inpaint.label_scene([inpaint.SegmentMask(sand, 1.0, "sand")], obj, ring_width=10)
    assert labelled["labels"]["surface"] == "sand" and labelled["labels"]["confidence"] == pytest.approx(1.0)
    assert labelled["labels"]["detail"] == ""
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.label_scene([inpaint.SegmentMask(sand[:10].copy(), 1.0, "sand")], obj)
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.label_scene([inpaint.SegmentMask(sand, 1.0, "sand")], np.zeros((h, w), np.uint8))


def test_segmenter_is_shared_by_threads():
    image, truth = object_scene()
    seg = inpaint.Segmenter("grabcut")
    encoding = seg.encode(image)
    results, errors = [], []

    def work():
        try:
            results.append(seg.segment(encoding, box=(90, 50, 250, 170))[0].mask)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert all(np.array_equal(r, results[0]) for r in results)
