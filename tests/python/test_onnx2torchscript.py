"""tools/onnx2torchscript.py on small hand-made graphs: refusals by name, and attribute semantics
against onnxruntime-node (when scripts/get-test-models.sh installed it)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
import torch  # noqa: E402
from onnx import TensorProto as T  # noqa: E402
from onnx import helper  # noqa: E402

import model_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "onnx2torchscript.py"


def save(tmp_path, nodes, inits=(), shape=(1, 2, 7, 9), opset=13):
    x = helper.make_tensor_value_info("x", T.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", T.FLOAT, None)
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], list(inits)),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return path


def convert(path, shape, *extra):
    return subprocess.run([sys.executable, str(TOOL), str(path), str(path.with_suffix(".pt")),
                           "--input-shape", ",".join(map(str, shape)), *extra], capture_output=True, text=True)


def test_unknown_ops_are_listed_before_any_work(tmp_path):
    path = save(tmp_path, [helper.make_node("Foo", ["x"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                           helper.make_node("Bar", ["b"], ["y"])])
    r = convert(path, (1, 2, 7, 9))
    assert r.returncode == 1 and "unsupported ONNX ops: Bar, Foo" in r.stderr
    assert not path.with_suffix(".pt").exists()


@pytest.mark.parametrize("case", [
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], foo=3), "unsupported attributes ['foo']"),
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad="SAME_UPPER"), "auto_pad='SAME_UPPER'"),
    (helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER"), "auto_pad='SAME_LOWER'"),
])
def test_unsupported_attribute_values_are_named(tmp_path, case):
    node, needle = case
    w = helper.make_tensor("w", T.FLOAT, [2, 2, 1, 1], [1.0, 0, 0, 1.0])
    r = convert(save(tmp_path, [node], [w]), (1, 2, 7, 9))
    assert r.returncode == 1 and needle in r.stderr, r.stderr


def test_attribute_semantics_match_onnxruntime(tmp_path):
    model_cache.require(model_cache.node_modules() / "onnxruntime-node")
    rng = np.random.default_rng(0)

    def ints(name, values):
        return helper.make_tensor(name, T.INT64, [len(values)], values)

    nodes = [  # deliberately in reverse order: the converter must sort the graph itself
        helper.make_node("Sigmoid", ["a"], ["y"]),
        helper.make_node("AveragePool", ["r2"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0),
        helper.make_node("Resize", ["r", "", "sc2"], ["r2"], mode="linear", coordinate_transformation_mode="half_pixel"),
        helper.make_node("Resize", ["s", "", "sc"], ["r"], mode="nearest", coordinate_transformation_mode="asymmetric",
                         nearest_mode="floor"),
        helper.make_node("Slice", ["m", "st", "en", "ax", "sp"], ["s"]),  # negative step on the last axis
        helper.make_node("MaxPool", ["c"], ["m"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),  # odd sizes
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[0, 1, 2, 1], group=2, strides=[1, 2], dilations=[2, 1]),
    ]
    inits = [helper.make_tensor("w", T.FLOAT, [4, 1, 3, 3], rng.normal(size=36).astype(np.float32).tolist()),
             ints("st", [-1, 0]), ints("en", [-100, 1000]), ints("ax", [3, 2]), ints("sp", [-2, 1]),
             helper.make_tensor("sc", T.FLOAT, [4], [1, 1, 2, 3]),
             helper.make_tensor("sc2", T.FLOAT, [4], [1, 1, 1.5, 0.5])]
    r = convert(save(tmp_path, nodes, inits), (1, 2, 7, 9), "--check")
    print(r.stdout, r.stderr)
    assert r.returncode == 0 and "vs onnxruntime" in r.stdout
