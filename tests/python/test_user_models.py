"""Fill models written in Python (inpaint.register_model): the library runs them inside fill/run
with its own clean-up, compositing and encoding around them; their exceptions come out
unchanged; a wrong answer is a clear error and no output."""
import itertools
import threading
import time

import numpy as np
import pytest

import inpaint

_names = itertools.count()


def unique(name):
    # The process-wide registry keeps every name: each test registers its own.
    return f"{name}-{next(_names)}"


def photo(h=64, w=80):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 3 + y) % 256, (y * 5 + 40) % 256, ((x ^ y) * 7) % 256], axis=-1).astype(np.uint8)


def hole(h=64, w=80):
    m = np.zeros((h, w), np.uint8)
    m[20:40, 30:50] = 255
    return m


class Constant:
    """Fills with one colour and remembers what it was given."""

    def __init__(self, value="200"):
        self.value = int(value)
        self.calls = []

    def inpaint(self, image, mask, prompt):
        self.calls.append((image.shape, mask.shape, image.flags.writeable, prompt, threading.get_ident()))
        return np.full(image.shape, self.value, np.uint8)


def test_a_python_model_fills_through_the_pipeline():
    made = []
    name = unique("const")

    def factory(**params):
        made.append(params)
        return Constant(**params)

    inpaint.register_model(name, factory, "a constant colour")
    assert (name, "a constant colour") in inpaint.models()
    model = inpaint.Model(f"{name}:value=90")
    assert made == [{"value": "90"}] and model.spec == f"{name}:value=90"
    image, mask = photo(), hole()
    result = inpaint.fill(model, image, mask, clean=False, feather_px=0, prompt="grass")
    out = result.image
    # Inside the hole the model's colour, outside the input, byte for byte.
    assert (out[mask == 255] == 90).all()
    assert np.array_equal(out[mask == 0], image[mask == 0])


@pytest.mark.parametrize("layout", ["packed", "rows of a larger array", "flipped", "fortran order"])
def test_any_memory_layout_of_the_answer_is_read_exactly(layout):
    image, mask = photo(), hole()
    expected = (255 - image).copy()
    answers = {
        "packed": lambda: expected.copy(),
        "rows of a larger array": lambda: np.pad(expected, ((0, 3), (0, 5), (0, 0)))[:64, :80],
        "flipped": lambda: np.ascontiguousarray(expected[:, ::-1])[:, ::-1],
        "fortran order": lambda: np.asfortranarray(expected),
    }
    name = unique("layout")

    class Answer:
        def inpaint(self, image, mask, prompt):
            return answers[layout]()

    inpaint.register_model(name, Answer)
    out = inpaint.fill(inpaint.Model(name), image, mask, clean=False, feather_px=0).image
    assert np.array_equal(out[mask == 255], expected[mask == 255])


def test_the_gil_is_released_around_the_library_work():
    # The model's call runs on a library thread, not the caller's, and another Python thread
    # keeps running while fill works (the GIL is taken only around the model's call).
    name = unique("slow")

    class Slow(Constant):
        def inpaint(self, image, mask, prompt):
            time.sleep(0.2)
            return super().inpaint(image, mask, prompt)

    inpaint.register_model(name, lambda: Slow())
    model = inpaint.Model(name)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    t = threading.Thread(target=ticker)
    t.start()
    inpaint.fill(model, photo(), hole(), clean=False)
    stop.set()
    t.join()
    assert len(ticks) > 5


def test_run_encodes_what_a_python_model_filled():
    name = unique("const")
    inpaint.register_model(name, Constant)
    image, mask = photo(), hole()
    result = inpaint.run(inpaint.Model(name), inpaint.encode(image, format="png"), inpaint.encode(mask, format="png"),
                         clean=False, feather_px=0, format="png")
    out = inpaint.decode(result.encoded).rgb
    assert (out[mask == 255] == 200).all() and np.array_equal(out[mask == 0], image[mask == 0])


class Boom(Exception):
    pass


def test_exceptions_come_out_unchanged():
    name = unique("raises")

    class Raises:
        def inpaint(self, image, mask, prompt):
            raise Boom("the model's own error")

    inpaint.register_model(name, Raises)
    with pytest.raises(Boom, match="the model's own error"):
        inpaint.fill(inpaint.Model(name), photo(), hole(), clean=False)

    def bad_factory(**params):
        raise KeyError("no such weights")

    factory_name = unique("bad-factory")
    inpaint.register_model(factory_name, bad_factory)
    with pytest.raises(KeyError, match="no such weights"):
        inpaint.Model(factory_name)


@pytest.mark.parametrize("answer,needle", [
    (lambda image: None, "returned None"),
    (lambda image: image.astype(np.float32), "float32"),
    (lambda image: image[:, :, :1].copy(), "shape (64, 80, 1)"),
    (lambda image: image[:10].copy(), "shape (10, 80, 3)"),
    (lambda image: [[1, 2, 3]], "returned a list"),
])
def test_a_wrong_answer_is_a_clear_error_and_no_output(tmp_path, answer, needle):
    name = unique("wrong")

    class Wrong:
        def inpaint(self, image, mask, prompt):
            return answer(np.array(image))

    inpaint.register_model(name, Wrong)
    model = inpaint.Model(name)
    with pytest.raises(inpaint.InvalidArgumentError, match="expected a uint8 array of shape") as info:
        inpaint.fill(model, photo(), hole(), clean=False)
    assert needle in str(info.value)
    with pytest.raises(inpaint.InvalidArgumentError):
        inpaint.run(model, inpaint.encode(photo(), format="png"), inpaint.encode(hole(), format="png"))


def test_a_model_that_keeps_its_input_views_is_refused():
    name = unique("keeper")
    kept = []

    class Keeper(Constant):
        def inpaint(self, image, mask, prompt):
            kept.append(image)
            return super().inpaint(image, mask, prompt)

    inpaint.register_model(name, Keeper)
    with pytest.raises(inpaint.InvalidArgumentError, match="kept a reference"):
        inpaint.fill(inpaint.Model(name), photo(), hole(), clean=False)


def test_a_model_past_its_deadline_is_a_timeout_and_no_output():
    name = unique("hangs")

    class Hangs(Constant):
        def inpaint(self, image, mask, prompt):
            time.sleep(0.5)
            return super().inpaint(image, mask, prompt)

    inpaint.register_model(name, Hangs)
    token = inpaint.CancelToken(timeout=0.1)
    with pytest.raises(inpaint.WaitTimeoutError):
        inpaint.run(inpaint.Model(name), inpaint.encode(photo(), format="png"), inpaint.encode(hole(), format="png"),
                    cancel=token)


def test_registration_errors():
    name = unique("dup")
    inpaint.register_model(name, Constant)
    with pytest.raises(inpaint.InvalidArgumentError, match="already registered"):
        inpaint.register_model(name, Constant)
    with pytest.raises(inpaint.InvalidArgumentError, match=r"\[a-z0-9_-\]"):
        inpaint.register_model("Bad Name", Constant)
    with pytest.raises(TypeError, match="callable"):
        inpaint.register_model(unique("not-callable"), 42)
    nothing = unique("nothing")
    inpaint.register_model(nothing, lambda: None)
    with pytest.raises(inpaint.InvalidArgumentError, match="without an inpaint"):
        inpaint.Model(nothing)


def test_per_call_parameters_reach_a_python_model():
    name = unique("seeded")

    class Seeded:
        parameters = {"value": 10, "strength": 0.5, "tag": "x"}

        def __init__(self):
            self.seen = []

        def inpaint(self, image, mask, prompt, value, strength, tag):
            self.seen.append((value, strength, tag))
            return np.full(image.shape, value, np.uint8)

    inpaint.register_model(name, Seeded)
    model = inpaint.Model(name)
    assert [(p["name"], p["type"], p["default"]) for p in model.parameters()] == [
        ("value", "int", 10), ("strength", "float", 0.5), ("tag", "string", "x")]
    image, mask = photo(), hole()
    out = inpaint.fill(model, image, mask, clean=False, feather_px=0, params={"value": 33}).image
    assert (out[mask == 255] == 33).all()
    out = inpaint.fill(model, image, mask, clean=False, feather_px=0).image
    assert (out[mask == 255] == 10).all()
    with pytest.raises(inpaint.InvalidArgumentError, match="value"):
        inpaint.fill(model, image, mask, params={"value": 1.5})
    with pytest.raises(inpaint.InvalidArgumentError, match="seed"):
        inpaint.fill(model, image, mask, params={"seed": 1})
