"""Video segmentation from Python and from `inpaint track`: VideoSource, VideoSegmenter with the tiny
sam2video modules of video_models.py (colour tracking with known behaviour), sessions, the
propagation iterator (threads, back-pressure, early exits), checkpoints across processes and the
bad input a service meets.

Run: PYTHONPATH=build/python INPAINT_CLI=build/bin/inpaint /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    tests/python/test_video.py
"""
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import inpaint

torch = pytest.importorskip("torch")
import video_models as vm  # noqa: E402  (needs torch)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLI = Path(os.environ.get("INPAINT_CLI", ROOT / "build" / "bin" / "inpaint"))
FRAMES = 24
MIDDLE = 12


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("video")


@pytest.fixture(scope="module")
def spec(work):
    return vm.spec(vm.save(work / "models"))


@pytest.fixture(scope="module")
def segmenter(spec):
    return inpaint.VideoSegmenter(spec)


@pytest.fixture(scope="module")
def mp4(work):
    path = work / "disc.mp4"
    return path, vm.make_clip(path, frames=FRAMES)


@pytest.fixture(scope="module")
def frame_dir(work):
    path = work / "disc_frames"
    return path, vm.make_clip(path, frames=FRAMES)


@pytest.fixture(scope="module")
def two(work):
    path = work / "two.mp4"
    return path, vm.make_clip(path, frames=16, objects=vm.lane_objects(2, 320, 240, 16))


@pytest.fixture(params=["mp4", "directory"])
def clip(request, mp4, frame_dir):
    return mp4 if request.param == "mp4" else frame_dir


def click(clip, frame, obj=0):
    x, y = clip.centre(frame, obj)
    return [(x, y)]


def prompted_session(segmenter, path, clip, frame=MIDDLE, object_id=1, **options):
    session = segmenter.open_session(inpaint.VideoSource(path), **options)
    m = session.add_prompt(frame, object_id, points=click(clip, frame))
    assert m.prompted and m.present and vm.iou(m.mask, clip.truth(frame)) >= 0.9
    return session


def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


# ---------------------------------------------------------------- sources


def test_source_info_and_frames(clip):
    path, drawn = clip
    source = inpaint.VideoSource(path, fps=25.0)
    info = source.info
    assert (info.width, info.height, info.frame_count, len(source)) == (320, 240, FRAMES, FRAMES)
    assert info.fps == pytest.approx(25.0, abs=0.01) and not info.variable_frame_rate
    assert len(info.content_id) == 64 and info.path == str(path)
    assert len(info.timestamps_ms) == FRAMES and info.timestamps_ms[1] == pytest.approx(40.0, abs=0.5)
    if path.suffix == ".mp4":
        assert info.codec == "mpeg4" and "mp4" in info.format
    else:
        assert (info.format, info.codec) == ("directory", "png")
    frame = source.frame(MIDDLE)
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8 and not frame.flags.writeable
    x, y = drawn.centre(MIDDLE)
    assert frame[int(y), int(x), 0] > 150 and frame[int(y), int(x), 1] < 110
    if path.suffix != ".mp4":
        assert np.array_equal(frame, drawn.frames[MIDDLE])  # PNG frames are lossless
    assert source.frame(0, 160, 120).shape == (120, 160, 3)
    assert source.cached_bytes > 0
    source.cache_capacity = 0
    assert source.cached_bytes == 0 and source.cache_capacity == 0
    with pytest.raises(inpaint.InvalidArgumentError):
        source.frame(FRAMES)
    with pytest.raises(inpaint.InvalidArgumentError):
        source.frame(-1)


# ---------------------------------------------------------------- tracking


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_a_middle_click_follows_the_disc(segmenter, clip, direction):
    path, drawn = clip
    session = prompted_session(segmenter, path, drawn)
    frames = list(session.propagate(direction=direction))
    expected = list(range(MIDDLE, FRAMES)) if direction == "forward" else list(range(MIDDLE, -1, -1))
    assert [f.frame for f in frames] == expected
    for f in frames:
        (m,) = f.objects
        assert m.object_id == 1 and m.present and m.prompted == (f.frame == MIDDLE)
        assert m.mask.shape == (240, 320) and m.mask.dtype == np.uint8
        assert vm.iou(m.mask, drawn.truth(f.frame)) >= 0.9, f.frame
        assert set(f.timings) == {"read", "encode", "decode", "memory", "postprocess", "total", "model"}
        assert f.timings["total"] > 0 and 0 <= f.timings["model"] <= f.timings["total"]


def test_both_directions(segmenter, mp4):
    path, drawn = mp4
    session = prompted_session(segmenter, path, drawn)
    it = session.propagate(direction="both")
    frames = list(it)
    assert [f.frame for f in frames] == list(range(MIDDLE, FRAMES)) + list(range(MIDDLE - 1, -1, -1))
    assert all(vm.iou(f.objects[0].mask, drawn.truth(f.frame)) >= 0.9 for f in frames)
    s = it.summary
    assert (s.frames, s.dropped, s.superseded, s.stopped) == (FRAMES, 0, False, False)
    assert s.generation == session.generation and it.finished
    # Every frame encoding is cached now: a second pass runs no encoder.
    again = list(session.propagate(direction="forward", max_frames=3))
    assert [f.frame for f in again] == [MIDDLE, MIDDLE + 1, MIDDLE + 2]
    assert all(f.encoding_from_store and f.timings["encode"] < 1 for f in again[1:])  # [0]: the prompt's


def test_two_objects_stay_separate(segmenter, two):
    path, drawn = two
    session = segmenter.open_session(inpaint.VideoSource(path))
    session.add_prompt(0, 1, points=click(drawn, 0, 0))
    session.add_prompt(0, 2, points=click(drawn, 0, 1))
    assert session.objects == [1, 2]
    for f in session.propagate():
        a, b = f.objects
        assert (a.object_id, b.object_id) == (1, 2)
        assert vm.iou(a.mask, drawn.truth(f.frame, 0)) >= 0.9 and vm.iou(b.mask, drawn.truth(f.frame, 1)) >= 0.9
        assert not np.any((a.mask > 127) & (b.mask > 127))


def test_box_and_mask_prompts(segmenter, mp4):
    path, drawn = mp4
    session = segmenter.open_session(inpaint.VideoSource(path))
    x, y = drawn.centre(5)
    r = drawn.objects[0]["radius"]
    m = session.add_prompt(5, 0, box=(x - r - 3, y - r - 3, x + r + 3, y + r + 3))
    assert vm.iou(m.mask, drawn.truth(5)) >= 0.9 and m.box is not None
    truth = drawn.truth(9)
    m = session.add_prompt(9, 4, mask=truth)
    assert np.array_equal(m.mask, truth) and m.prompted
    with pytest.raises(inpaint.InvalidArgumentError):
        session.add_prompt(9, 4, mask=truth[:100])  # another size
    with pytest.raises(TypeError):
        session.add_prompt(9, 4, mask=truth.astype(np.int32))
    with pytest.raises(inpaint.InvalidArgumentError, match="label"):
        session.add_prompt(9, 4, points=[(x, y, 5)])
    with pytest.raises(inpaint.InvalidArgumentError, match="finite"):
        session.add_prompt(9, 4, points=[(float("nan"), y)])
    assert session.objects == [0, 4]


# ---------------------------------------------------------------- the iterator and threads


def test_waiting_for_a_frame_releases_the_gil(segmenter, mp4):
    path, drawn = mp4
    session = prompted_session(segmenter, path, drawn)
    list(session.propagate(direction="both"))  # warm: frame and encoding caches filled
    session.reset()
    session.add_prompt(MIDDLE, 1, points=click(drawn, MIDDLE))

    def count_for(seconds, counter):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not counter["stop"]:
            counter["n"] += 1

    alone = {"n": 0, "stop": False}
    count_for(0.2, alone)
    rate_alone = alone["n"] / 0.2

    # The counter runs beside a consumer that waits for frames; the encoder is left out of the
    # frames (they are cached) so the model's share of the time is small, and the waits are many.
    beside = {"n": 0, "stop": False}
    thread = threading.Thread(target=count_for, args=(30.0, beside))
    thread.start()
    start = time.perf_counter()
    for _ in range(3):
        for f in session.propagate(direction="both", max_pending=1):
            pass  # a frame in hand; the next wait starts at once
    elapsed = time.perf_counter() - start
    beside["stop"] = True
    thread.join()
    # Holding the GIL while waiting would have starved the counter (a few switches per frame at
    # most); released, it ran for a good share of the time even on two cores.
    print(f"counter beside the iteration: {beside['n'] / elapsed / rate_alone:.2f} of its rate alone")
    assert beside["n"] / elapsed > 0.1 * rate_alone, (beside["n"], elapsed, rate_alone)


def test_a_prompt_from_another_thread_supersedes_within_one_frame(segmenter, mp4):
    path, drawn = mp4
    session = segmenter.open_session(inpaint.VideoSource(path))
    session.add_prompt(0, 1, points=click(drawn, 0))
    before = session.generation
    returned = threading.Event()
    errors = []

    def prompt():
        try:
            session.add_prompt(20, 1, points=click(drawn, 20))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        returned.set()

    it = session.propagate(max_pending=1)
    delivered, after_return = [], 0
    prompter = None
    for f in it:
        delivered.append(f.frame)
        if returned.is_set():
            after_return += 1
        if f.frame == 3:
            prompter = threading.Thread(target=prompt)
            prompter.start()
            while session.generation == before:
                time.sleep(0.001)
    prompter.join()
    assert not errors
    s = it.summary
    assert s.superseded and not s.stopped and s.generation == before
    assert delivered[:4] == [0, 1, 2, 3] and len(delivered) <= 6, delivered
    assert after_return <= 1, delivered
    assert session.generation > before
    # The new generation propagates from the earliest prompt again.
    frames = list(session.propagate())
    assert [f.frame for f in frames] == list(range(FRAMES))
    assert frames[20].objects[0].prompted


SAME_THREAD_PROMPT = """
import sys
import inpaint
spec, clip, x0, y0, x1, y1 = sys.argv[1:7]
session = inpaint.VideoSegmenter(spec).open_session(inpaint.VideoSource(clip))
session.add_prompt(0, 1, points=[(float(x0), float(y0))])
it = session.propagate(max_pending=1)
next(it)
import time
time.sleep(0.3)  # the producer has filled the one pending place and waits for this thread
session.add_prompt(20, 1, points=[(float(x1), float(y1))])
rest = [f.frame for f in it]
print(it.summary.superseded, len(rest))
"""


def test_a_prompt_on_the_consumers_thread_does_not_deadlock(spec, mp4):
    path, drawn = mp4
    (x0, y0), (x1, y1) = drawn.centre(0), drawn.centre(20)
    try:
        r = subprocess.run([sys.executable, "-c", SAME_THREAD_PROMPT, spec, str(path), *map(str, (x0, y0, x1, y1))],
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("add_prompt never returned: deadlock")
    assert r.returncode == 0, r.stderr
    superseded, rest = r.stdout.split()
    assert superseded == "True" and int(rest) <= 1

def test_back_pressure_waits_for_a_slow_consumer(segmenter, mp4):
    path, drawn = mp4
    session = prompted_session(segmenter, path, drawn)
    it = session.propagate(max_pending=2)
    time.sleep(0.5)  # the producer could have made every frame by now; it waits at 2
    assert it.pending == 2
    seen = []
    for f in it:
        assert it.pending <= 2
        seen.append(f.frame)
        time.sleep(0.02)
    assert seen == list(range(MIDDLE, FRAMES)) and it.summary.dropped == 0


def test_drop_oldest_counts_what_it_drops(segmenter, mp4):
    path, drawn = mp4
    session = prompted_session(segmenter, path, drawn)
    it = session.propagate(max_pending=1, policy="drop_oldest")
    time.sleep(0.5)  # every frame made; only the last one kept
    seen = [f.frame for f in it]
    s = it.summary
    assert s.dropped > 0 and s.frames == len(seen) and s.frames + s.dropped == FRAMES - MIDDLE
    assert seen[-1] == FRAMES - 1 and seen == sorted(seen)
    with pytest.raises(inpaint.InvalidArgumentError, match="policy"):
        session.propagate(policy="newest")
    with pytest.raises(inpaint.InvalidArgumentError, match="direction"):
        session.propagate(direction="sideways")
    with pytest.raises(inpaint.InvalidArgumentError, match="max_pending"):
        session.propagate(max_pending=0)


def test_memory_stays_flat_over_a_long_clip(segmenter, work):
    path = work / "long.mp4"
    drawn = vm.make_clip(path, frames=300, width=160, height=120, keep=False)
    source = inpaint.VideoSource(path, cache_bytes=2 << 20)
    session = segmenter.open_session(source, encoding_cache_bytes=8 << 20)
    session.add_prompt(0, 1, points=click(drawn, 0))
    it = session.propagate(max_pending=2)
    samples = {}
    for f in it:
        assert it.pending <= 2
        if f.frame in (60, 299):
            samples[f.frame] = rss_bytes()
        if f.frame % 50 == 0:
            assert vm.iou(f.objects[0].mask, drawn.truth(f.frame)) >= 0.85, f.frame
    assert it.summary.frames == 300
    growth = samples[299] - samples[60]
    assert growth < 24 << 20, f"RSS grew {growth / 2**20:.1f} MiB over 240 frames"
    memory = session.memory()
    assert memory["encodings"] <= 8 << 20 and memory["frame_cache"] <= 2 << 20
    assert memory["total"] == memory["frame_cache"] + memory["encodings"] + memory["memory_bank"]


def test_leaving_the_loop_early_keeps_the_session_usable(segmenter, mp4):
    path, drawn = mp4
    session = prompted_session(segmenter, path, drawn)
    for f in session.propagate():
        break  # the iterator goes: its propagation is stopped and joined
    assert inpaint.running_propagations() == 0

    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        for f in session.propagate():
            if f.frame == MIDDLE + 2:
                raise Stop()
    assert inpaint.running_propagations() == 0

    it = session.propagate()
    assert next(it).frame == MIDDLE
    it.close()
    assert it.finished and it.summary.stopped and it.summary.frames < FRAMES - MIDDLE
    with pytest.raises(StopIteration):
        next(it)

    with session.propagate() as it:
        next(it)
    assert it.finished and it.summary.stopped

    it = session.propagate()
    next(it)
    threading.Timer(0.05, it.cancel).start()  # from another thread
    rest = list(it)
    assert it.summary.stopped and len(rest) < FRAMES - MIDDLE

    # The iterator keeps its session (and the session its segmenter and source) alive.
    it = session.propagate()
    del session
    frames = list(it)
    assert [f.frame for f in frames] == list(range(MIDDLE, FRAMES))


def test_cancel_and_deadline_raise(segmenter, mp4):
    path, drawn = mp4
    session = prompted_session(segmenter, path, drawn)
    token = inpaint.CancelToken()
    token.cancel()
    with pytest.raises(inpaint.CancelledError):
        list(session.propagate(cancel=token))
    with pytest.raises(inpaint.WaitTimeoutError):
        list(session.propagate(cancel=inpaint.CancelToken(timeout=0)))
    with pytest.raises(inpaint.CancelledError):
        session.add_prompt(MIDDLE, 1, points=click(drawn, MIDDLE), cancel=token)
    with pytest.raises(TypeError):
        session.propagate(cancel="soon")
    # The session goes on.
    assert len(list(session.propagate())) == FRAMES - MIDDLE


def test_errors_of_the_propagation_come_from_the_iteration(segmenter, mp4):
    path, drawn = mp4
    session = segmenter.open_session(inpaint.VideoSource(path))
    it = session.propagate()
    with pytest.raises(inpaint.InvalidArgumentError, match="no objects"):
        next(it)
    with pytest.raises(StopIteration):  # raised once; the end after it
        next(it)
    session.add_prompt(3, 1, points=click(drawn, 3))
    with pytest.raises(inpaint.InvalidArgumentError):
        list(session.propagate(start_frame=FRAMES))


def test_the_process_wide_limit(segmenter, mp4):
    before = inpaint.max_concurrent_propagations()
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.set_max_concurrent_propagations(-1)
    path, drawn = mp4
    a = prompted_session(segmenter, path, drawn)
    b = prompted_session(segmenter, path, drawn)
    try:
        inpaint.set_max_concurrent_propagations(1)
        assert inpaint.max_concurrent_propagations() == 1
        first = a.propagate(max_pending=1)
        next(first)  # a holds the only slot while its consumer keeps it waiting
        with pytest.raises(inpaint.WaitTimeoutError):
            list(b.propagate(cancel=inpaint.CancelToken(timeout=0.2)))
        first.close()
        assert len(list(b.propagate())) == FRAMES - MIDDLE
    finally:
        inpaint.set_max_concurrent_propagations(before)


# ---------------------------------------------------------------- checkpoints

RESUME = """
import hashlib, json, sys
import inpaint
spec, clip, store_spec, checkpoint = sys.argv[1:5]
session = inpaint.VideoSegmenter(spec).resume_session(inpaint.VideoSource(clip), inpaint.Store(store_spec), checkpoint)
out = {"objects": session.objects, "generation": session.generation, "frames": []}
for f in session.propagate(start_frame=int(sys.argv[5])):
    out["frames"].append([f.frame, [hashlib.sha256(o.mask.tobytes()).hexdigest() for o in f.objects]])
print(json.dumps(out))
"""


def digests(frames):
    return [[f.frame, [hashlib.sha256(o.mask.tobytes()).hexdigest() for o in f.objects]] for f in frames]


def test_a_checkpoint_resumes_in_another_process(segmenter, spec, two, work):
    path, drawn = two
    store_spec = f"dir:path={work / 'checkpoints'}"
    store = inpaint.Store(store_spec)
    session = segmenter.open_session(inpaint.VideoSource(path))
    session.add_prompt(1, 1, points=click(drawn, 1, 0))
    session.add_prompt(1, 2, points=click(drawn, 1, 1))
    assert len(list(session.propagate(max_frames=6))) == 6  # frames 1..6 in the bank
    checkpoint = session.checkpoint(store)
    assert store.exists(checkpoint) and session.checkpoint(store, "named-ckpt") == "named-ckpt"
    in_place = digests(session.propagate(start_frame=7))
    assert [f for f, _ in in_place] == list(range(7, 16))
    r = subprocess.run([sys.executable, "-c", RESUME, spec, str(path), store_spec, checkpoint, "7"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    resumed = json.loads(r.stdout)
    assert resumed["objects"] == [1, 2] and resumed["generation"] == session.generation
    assert resumed["frames"] == in_place


def test_bad_checkpoints_are_refused_and_change_nothing(segmenter, spec, mp4, two, work):
    path, drawn = mp4
    store = inpaint.Store("memory:capacity=256MB")
    session = prompted_session(segmenter, path, drawn)
    good = session.checkpoint(store, "good")
    source = inpaint.VideoSource(path)
    with pytest.raises(inpaint.InvalidArgumentError, match="nothing-here"):
        segmenter.resume_session(source, store, "nothing-here")
    other = inpaint.VideoSegmenter(spec + ",id=another-model")
    with pytest.raises(inpaint.InvalidArgumentError, match="another-model"):
        other.resume_session(source, store, good)
    with pytest.raises(inpaint.InvalidArgumentError, match="another clip"):
        segmenter.resume_session(inpaint.VideoSource(two[0]), store, good)
    # The same checkpoint with one tensor left out.
    e = store.get(good)
    damaged = inpaint.Encoding(model_id=e.model_id, model_checksum=e.model_checksum, preprocessing=e.preprocessing,
                               dtype=e.dtype, image_sha256=e.image_sha256, original_width=e.original_width,
                               original_height=e.original_height, created_at=e.created_at, extra=e.extra)
    names = e.names()
    for name in names[:-1]:
        damaged.add(name, np.ascontiguousarray(e[name]), dtype=e.dtype_of(name))
    store.put("damaged", damaged)
    with pytest.raises(inpaint.InvalidArgumentError, match=names[-1]):
        segmenter.resume_session(source, store, "damaged")
    with pytest.raises(inpaint.InvalidArgumentError):
        session.checkpoint(store, "../escape")
    assert store.ids() == ["damaged", "good"]
    # Nothing changed: the good checkpoint resumes, the session goes on.
    resumed = segmenter.resume_session(source, store, good)
    assert resumed.objects == [1]
    assert len(list(session.propagate())) == FRAMES - MIDDLE


# ---------------------------------------------------------------- bad input


def test_bad_sources(work, mp4):
    text = work / "text.mp4"
    text.write_text("not a video at all, just some words\n")
    with pytest.raises(inpaint.DecodeError):
        inpaint.VideoSource(text)
    with pytest.raises(inpaint.FileError):
        inpaint.VideoSource(work / "missing.mp4")
    empty = work / "empty_dir"
    empty.mkdir(exist_ok=True)
    with pytest.raises(inpaint.DecodeError):
        inpaint.VideoSource(empty)
    with pytest.raises(inpaint.TooLargeError, match="max_pixels"):
        inpaint.VideoSource(mp4[0], max_pixels=320 * 240 - 1)
    with pytest.raises(inpaint.TooLargeError):
        inpaint.VideoSource(mp4[0], max_frames=FRAMES - 1)
    # Truncated: the bytes end half way. Refused when opened, or when a lost frame is decoded.
    truncated = work / "truncated.mp4"
    data = mp4[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    try:
        source = inpaint.VideoSource(truncated)
    except inpaint.DecodeError:
        return
    with pytest.raises(inpaint.DecodeError):
        for i in range(len(source)):
            source.frame(i)


def test_bad_prompts_leave_the_session_as_it_was(segmenter, mp4):
    path, drawn = mp4
    session = prompted_session(segmenter, path, drawn)
    generation, objects = session.generation, session.objects
    with pytest.raises(inpaint.InvalidArgumentError, match="outside the clip"):
        session.add_prompt(FRAMES, 2, points=click(drawn, MIDDLE))
    with pytest.raises(inpaint.InvalidArgumentError):
        session.add_prompt(0, -1, points=click(drawn, 0))
    with pytest.raises(inpaint.InvalidArgumentError):
        session.add_prompt(0, 2)  # empty prompt
    with pytest.raises(inpaint.InvalidArgumentError, match="1"):
        session.remove_object(7)
    with pytest.raises(inpaint.InvalidArgumentError):
        session.add_prompt(0, 2, points=[(1, 2, 3, 4)])
    assert (session.generation, session.objects) == (generation, objects)
    memory = session.memory()
    assert set(memory) == {"frame_cache", "encodings", "memory_bank", "total", "cap"} and memory["cap"] == 2 << 30
    session.remove_object(1)
    assert session.objects == [] and session.generation > generation


def test_segmenter_spec_errors(spec):
    with pytest.raises(inpaint.UnknownModelError):
        inpaint.VideoSegmenter("sam3video:encoder=a")
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.VideoSegmenter(spec + ",colour=red")
    with pytest.raises(inpaint.FileError):
        inpaint.VideoSegmenter("sam2video:encoder=/nonexistent/e.pt,memory_encoder=/n/m.pt,decoder=/n/d.pt")
    names = [info.name for info in inpaint.video_segmenters()]
    assert "sam2video" in names
    model = inpaint.VideoSegmenter(spec)
    assert model.spec.startswith("sam2video:") and model.model_id and model.load_info["device"] == "cpu"


# ---------------------------------------------------------------- inpaint track

cli = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")


def run_cli(*args):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=300)


def point(clip, frame, obj=0, object_id=None):
    x, y = clip.centre(frame, obj)
    return f"{frame}:{x:.1f},{y:.1f}" + (f"@{object_id}" if object_id is not None else "")


@cli
def test_track_writes_one_mask_per_frame(spec, mp4, tmp_path):
    path, drawn = mp4
    out = tmp_path / "masks"
    r = run_cli("track", "--video", path, "--model", spec, "--point", point(drawn, MIDDLE), "--out-dir", out,
                "--direction", "both", "--json")
    assert r.returncode == 0, r.stderr
    files = sorted((out / "obj1").iterdir())
    assert [f.name for f in files] == [f"frame_{i:06d}.png" for i in range(FRAMES)]
    assert sorted(p.name for p in out.iterdir()) == ["obj1"]
    for i, f in enumerate(files):
        mask = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (240, 320) and vm.iou(mask, drawn.truth(i)) >= 0.9, f
    report = json.loads(r.stdout)
    assert set(report) == {"video", "model", "model_id", "objects", "direction", "out_dir", "prompts", "summary", "frames"}
    assert report["video"]["frame_count"] == FRAMES and report["video"]["width"] == 320
    assert report["objects"] == [1] and report["direction"] == "both"
    assert report["summary"]["frames"] == FRAMES and not report["summary"]["superseded"]
    assert [f["frame"] for f in report["frames"]] == list(range(MIDDLE, FRAMES)) + list(range(MIDDLE - 1, -1, -1))
    first = report["frames"][0]
    assert set(first["timings_ms"]) == {"read", "encode", "decode", "memory", "postprocess", "total", "model"}
    assert first["objects"][0]["id"] == 1 and first["objects"][0]["prompted"]
    assert first["objects"][0]["file"] == str(out / "obj1" / f"frame_{MIDDLE:06d}.png")
    assert report["prompts"] == [{"frame": MIDDLE, "object": 1, "score": report["prompts"][0]["score"],
                                  "present": True, "box": report["prompts"][0]["box"]}]


@cli
def test_track_two_objects_and_a_frame_directory(spec, two, work, tmp_path):
    path, drawn = two
    out = tmp_path / "two"
    r = run_cli("track", "--video", path, "--model", spec, "--point", point(drawn, 0, 0, 3),
                "--point", point(drawn, 0, 1, 8), "--out-dir", out, "--max-frames", 5)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    for obj, object_id in ((0, 3), (1, 8)):
        files = sorted((out / f"obj{object_id}").iterdir())
        assert len(files) == 5
        for i, f in enumerate(files):
            assert vm.iou(cv2.imread(str(f), cv2.IMREAD_UNCHANGED), drawn.truth(i, obj)) >= 0.9


@cli
def test_track_errors_write_nothing(spec, mp4, work, tmp_path):
    path, drawn = mp4
    out = tmp_path / "none"
    cases = [
        (["--video", work / "text.mp4", "--point", point(drawn, 0)], 1),
        (["--video", path, "--point", f"{FRAMES}:10,10"], 2),
        (["--video", path, "--point", "12:10"], 2),
        (["--video", path, "--point", "x:10,10"], 2),
        (["--video", path, "--point", "3:10,10@me"], 2),
        (["--video", path, "--point", "3:10,10,7"], 2),
        (["--video", path, "--box", "3:10,10,20"], 2),
        (["--video", path], 2),
        (["--video", path, "--point", point(drawn, 0), "--direction", "up"], 2),
    ]
    (work / "text.mp4").write_text("not a video\n")
    for args, code in cases:
        r = run_cli("track", "--model", spec, "--out-dir", out, *args)
        assert r.returncode == code, (args, r.returncode, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("inpaint: error: "), r.stderr
        assert not out.exists(), args
    r = run_cli("track", "--model", "sam2video:encoder=/no/e.pt,memory_encoder=/no/m.pt,decoder=/no/d.pt",
                "--video", path, "--point", point(drawn, 0), "--out-dir", out)
    assert r.returncode == 1 and not out.exists(), r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run_cli("track", "--model", spec, "--video", path, "--point", point(drawn, 0), "--out-dir", blocker)
    assert r.returncode == 1 and "not a directory" in r.stderr
    r = run_cli("track", "--help")
    assert r.returncode == 0 and "FRAME:X,Y[,LABEL][@ID]" in r.stdout and "obj<ID>/frame_<NNNNNN>.png" in r.stdout

