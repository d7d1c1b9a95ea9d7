#!/usr/bin/python3
"""Converts a plain ONNX CNN graph into a TorchScript module (fp32) that LibTorch can load.

Usage: /usr/bin/python3 tools/onnx2torchscript.py IN.onnx OUT.pt [--input-shape 1,3,1024,1024]
                                                  [--freeze] [--check] [--threads 2]

Every ONNX node becomes a small step that calls the matching torch op; a module runs the steps in
order once and torch.jit.trace records that run, so the saved graph holds only torch ops (no
Python, no per-call loop). Float initializers become module buffers so torch.jit.freeze can fold
them. Integer tensors that only describe shapes (Shape -> Slice -> Concat -> Resize sizes) are
evaluated in numpy while tracing: the input shape is fixed, so they end up as constants.

The module returns the graph's first output only; nodes that do not feed it are dropped.

Anything this tool does not know -- an op, an attribute, an attribute value -- is refused by name
before any tensor work, all of them in one error, rather than converted approximately.
Semantics follow the ONNX operator specification (https://onnx.ai/onnx/operators/).

--check compares the traced module with onnxruntime-node through tools/isnet_reference.js when the
runtime is installed (scripts/get-test-models.sh puts it into the model cache); without it only
the traced module is checked against the eager run.
"""
import argparse
import heapq
import math
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[1]

FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
               onnx.TensorProto.BFLOAT16}
INT_TYPES = {onnx.TensorProto.INT64: np.int64, onnx.TensorProto.INT32: np.int32,
             onnx.TensorProto.INT8: np.int8, onnx.TensorProto.UINT8: np.uint8,
             onnx.TensorProto.BOOL: np.bool_}


class ConversionError(Exception):
    pass


def attrs_of(node):
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def to_fp32(array):
    # fp16/double weights are widened (or narrowed) to fp32: the module computes in fp32.
    return array.astype(np.float32) if array.dtype.kind == "f" else array


# ---------------------------------------------------------------- values at run time
# A value is either a torch tensor (data that flows through the network) or a numpy array
# (a constant or a shape computed from the fixed input shape). Ops on numpy arrays stay in numpy,
# so shape arithmetic never enters the traced graph as tensor ops.

def is_static(v):
    return isinstance(v, np.ndarray)


def as_tensor(v):
    return torch.from_numpy(np.ascontiguousarray(v)) if is_static(v) else v


def static_ints(v, what):
    if not is_static(v):
        raise ConversionError(f"{what} must be a constant or computed from shapes, not from data")
    return [int(x) for x in np.asarray(v).reshape(-1)]


# ---------------------------------------------------------------- the ops
# Each builder gets (node, attrs, opset), checks the attributes, and returns a function
# run(inputs) -> list of outputs. Builders raise ConversionError for values they do not support.
OPS = {}


def op(name, allowed=()):
    def register(builder):
        OPS[name] = (builder, set(allowed))
        return builder
    return register


def refuse(node, attr, value):
    raise ConversionError(f"{node.op_type} node '{node.name}': unsupported {attr}={value!r}")


def spatial_pads(node, pads, rank):
    """ONNX pads are [x1_begin, x2_begin, ..., x1_end, x2_end]; returns (begins, ends)."""
    pads = list(pads or [0] * (2 * rank))
    if len(pads) != 2 * rank:
        refuse(node, "pads", pads)
    return pads[:rank], pads[rank:]


def torch_pad(begins, ends):
    """F.pad takes (last_begin, last_end, second_last_begin, ...): reverse the ONNX order."""
    out = []
    for b, e in zip(reversed(begins), reversed(ends)):
        out += [b, e]
    return out


def check_auto_pad(node, a):
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        refuse(node, "auto_pad", a["auto_pad"])
    # VALID means no padding; NOTSET uses the explicit pads.
    return a.get("auto_pad", "NOTSET") == "NOTSET"


@op("Conv", ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
def build_conv(node, a, opset):
    use_pads = check_auto_pad(node, a)
    kernel = a.get("kernel_shape")
    rank = len(kernel) if kernel else None

    def run(x, w, b=None):
        r = w.dim() - 2
        if r not in (1, 2, 3) or (kernel and list(w.shape[2:]) != list(kernel)):
            raise ConversionError(f"Conv node '{node.name}': kernel_shape {kernel} does not match weight {list(w.shape)}")
        begins, ends = spatial_pads(node, a.get("pads") if use_pads else None, r)
        conv = (F.conv1d, F.conv2d, F.conv3d)[r - 1]
        padding = begins
        if begins != ends:  # asymmetric: pad explicitly with zeros, then convolve unpadded
            x = F.pad(x, torch_pad(begins, ends))
            padding = [0] * r
        return [conv(x, w, b, stride=a.get("strides", [1] * r), padding=padding,
                     dilation=a.get("dilations", [1] * r), groups=a.get("group", 1))]
    if rank not in (None, 1, 2, 3):
        refuse(node, "kernel_shape", kernel)
    return run


def pool_output_size(size, k, s, d, pb, pe, ceil_mode):
    span = size + pb + pe - d * (k - 1) - 1
    return (math.ceil(span / s) if ceil_mode else span // s) + 1


@op("MaxPool", ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"])
def build_maxpool(node, a, opset):
    use_pads = check_auto_pad(node, a)
    if a.get("storage_order", 0) != 0:
        refuse(node, "storage_order", a["storage_order"])
    if len(node.output) > 1 and node.output[1]:
        raise ConversionError(f"MaxPool node '{node.name}': the Indices output is not supported")
    k = list(a["kernel_shape"])
    r = len(k)
    if r not in (1, 2, 3):
        refuse(node, "kernel_shape", k)
    s, d = list(a.get("strides", [1] * r)), list(a.get("dilations", [1] * r))
    begins, ends = spatial_pads(node, a.get("pads") if use_pads else None, r)
    ceil_mode = a.get("ceil_mode", 0)
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[r - 1]

    def run(x):
        # ONNX ceil_mode takes ceil((in + pads - dilated kernel) / stride) + 1 windows. torch's ceil_mode
        # additionally drops a last window that starts in the end padding, so instead pad the end
        # with -inf up to exactly the ONNX window count and pool in floor mode.
        extra_end = []
        for i in range(r):
            n = pool_output_size(x.shape[2 + i], k[i], s[i], d[i], begins[i], ends[i], ceil_mode)
            needed = (n - 1) * s[i] + d[i] * (k[i] - 1) + 1
            extra_end.append(max(0, needed - (x.shape[2 + i] + begins[i] + ends[i])) + ends[i])
        if any(begins) or any(extra_end):
            x = F.pad(x, torch_pad(begins, extra_end), value=-math.inf)
        return [pool(x, k, s, 0, d, ceil_mode=False)]
    return run


@op("AveragePool", ["auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"])
def build_avgpool(node, a, opset):
    use_pads = check_auto_pad(node, a)
    k = list(a["kernel_shape"])
    r = len(k)
    if r not in (1, 2, 3):
        refuse(node, "kernel_shape", k)
    s = list(a.get("strides", [1] * r))
    begins, ends = spatial_pads(node, a.get("pads") if use_pads else None, r)
    # torch pads symmetrically and at most half a kernel; anything else would need its own divisor.
    if begins != ends or any(2 * p > kk for p, kk in zip(begins, k)):
        refuse(node, "pads", a.get("pads"))
    ceil_mode = a.get("ceil_mode", 0)
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[r - 1]

    def run(x):
        y = pool(x, k, s, begins, ceil_mode=bool(ceil_mode), count_include_pad=bool(a.get("count_include_pad", 0)))
        want = [pool_output_size(x.shape[2 + i], k[i], s[i], 1, begins[i], ends[i], ceil_mode) for i in range(r)]
        if list(y.shape[2:]) != want:  # torch's ceil_mode drops a window ONNX keeps
            raise ConversionError(f"AveragePool node '{node.name}': ceil_mode output {want} differs from torch's")
        return [y]
    return run


@op("GlobalAveragePool")
def build_gap(node, a, opset):
    return lambda x: [x.mean(dim=tuple(range(2, x.dim())), keepdim=True)]


@op("GlobalMaxPool")
def build_gmp(node, a, opset):
    return lambda x: [x.amax(dim=tuple(range(2, x.dim())), keepdim=True)]


@op("BatchNormalization", ["epsilon", "momentum", "training_mode", "spatial"])
def build_bn(node, a, opset):
    if a.get("training_mode", 0) != 0:
        refuse(node, "training_mode", a["training_mode"])
    if a.get("spatial", 1) != 1:
        refuse(node, "spatial", a["spatial"])
    if len([o for o in node.output if o]) > 1:
        raise ConversionError(f"BatchNormalization node '{node.name}': training outputs are not supported")
    # momentum only matters in training.
    return lambda x, scale, bias, mean, var: [F.batch_norm(x, mean, var, scale, bias, False, 0.0,
                                                             a.get("epsilon", 1e-5))]


def elementwise(np_fn, torch_fn):
    def builder(node, a, opset):
        def run(x, y):
            if is_static(x) and is_static(y):
                return [np_fn(x, y)]
            return [torch_fn(as_tensor(x), as_tensor(y))]
        return run
    return builder


def int_div(x, y):
    # ONNX integer Div truncates toward zero (like C), numpy's // floors.
    if x.dtype.kind in "iu" and y.dtype.kind in "iu":
        return (np.trunc(x / y)).astype(np.result_type(x, y))
    return x / y


op("Add")(elementwise(np.add, torch.add))
op("Sub")(elementwise(np.subtract, torch.sub))
op("Mul")(elementwise(np.multiply, torch.mul))
op("Div")(elementwise(int_div, torch.div))


def unary(torch_fn):
    return lambda node, a, opset: (lambda x: [torch_fn(as_tensor(x))])


op("Relu")(unary(torch.relu))
op("Sigmoid")(unary(torch.sigmoid))
op("Tanh")(unary(torch.tanh))
op("Identity")(lambda node, a, opset: (lambda x: [x]))


@op("LeakyRelu", ["alpha"])
def build_leaky(node, a, opset):
    return lambda x: [F.leaky_relu(x, a.get("alpha", 0.01))]


@op("Clip", ["min", "max"])
def build_clip(node, a, opset):
    def run(x, lo=None, hi=None):
        # opset < 11 gives the bounds as attributes, later ones as optional inputs.
        lo = a.get("min") if opset < 11 else (None if lo is None else float(np.asarray(lo)))
        hi = a.get("max") if opset < 11 else (None if hi is None else float(np.asarray(hi)))
        return [torch.clamp(x, lo, hi)]
    return run


@op("Softmax", ["axis"])
def build_softmax(node, a, opset):
    axis = a.get("axis", -1 if opset >= 13 else 1)

    def run(x):
        if opset < 13 and axis not in (-1, x.dim() - 1):
            refuse(node, "axis (opset < 13 flattens)", axis)
        return [torch.softmax(x, axis)]
    return run


@op("Constant", ["value", "value_float", "value_floats", "value_int", "value_ints"])
def build_constant(node, a, opset):
    if "value" in a:
        v = numpy_helper.to_array(a["value"])
    elif "value_float" in a or "value_floats" in a:
        v = np.array(a.get("value_float", a.get("value_floats")), dtype=np.float32)
    elif "value_int" in a or "value_ints" in a:
        v = np.array(a.get("value_int", a.get("value_ints")), dtype=np.int64)
    else:
        raise ConversionError(f"Constant node '{node.name}': no supported value attribute ({sorted(a)})")
    v = to_fp32(v)
    return lambda: [v]


@op("Cast", ["to", "saturate"])
def build_cast(node, a, opset):
    to = a["to"]
    if to in FLOAT_TYPES:
        # The module computes in fp32: a Cast to fp16 (the fp16 export wraps Resize and the graph
        # input in such casts) or to double is a no-op here, a cast from an integer becomes fp32.
        def run(x):
            if is_static(x):
                return [x.astype(np.float32)]
            return [x if x.is_floating_point() else x.float()]
        return run
    if to not in INT_TYPES:
        refuse(node, "to", onnx.TensorProto.DataType.Name(to))
    np_type = INT_TYPES[to]
    torch_type = torch.from_numpy(np.zeros(1, np_type)).dtype
    return lambda x: [x.astype(np_type) if is_static(x) else x.to(torch_type)]


@op("Shape", ["start", "end"])
def build_shape(node, a, opset):
    start, end = a.get("start", 0), a.get("end")
    # The input shape is fixed at conversion, so the shape is a constant of the traced graph.
    return lambda x: [np.array(list(x.shape), dtype=np.int64)[start:end]]


@op("Concat", ["axis"])
def build_concat(node, a, opset):
    axis = a["axis"]

    def run(*xs):
        if all(is_static(x) for x in xs):
            return [np.concatenate(xs, axis=axis)]
        return [torch.cat([as_tensor(x) for x in xs], dim=axis)]
    return run


def slice_indices(dim, start, end, step):
    """Index list of ONNX Slice on one axis, with the spec's clamping of start and end."""
    if step == 0:
        raise ConversionError("Slice: step 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return list(range(start, end, step))


@op("Slice", ["starts", "ends", "axes"])
def build_slice(node, a, opset):
    def run(x, starts=None, ends=None, axes=None, steps=None):
        if opset < 10:  # starts/ends/axes were attributes; no steps
            starts, ends, axes = a["starts"], a["ends"], a.get("axes")
        else:
            starts, ends = static_ints(starts, "Slice starts"), static_ints(ends, "Slice ends")
            axes = None if axes is None else static_ints(axes, "Slice axes")
            steps = None if steps is None else static_ints(steps, "Slice steps")
        rank = len(x.shape)
        axes = list(range(len(starts))) if axes is None else [ax + rank if ax < 0 else ax for ax in axes]
        steps = steps or [1] * len(starts)
        for ax, st, en, sp in zip(axes, starts, ends, steps):
            idx = slice_indices(x.shape[ax], st, en, sp)
            if is_static(x):
                x = np.take(x, np.array(idx, dtype=np.int64), axis=ax)
            elif sp > 0:
                x = x[(slice(None),) * ax + (slice(idx[0], idx[-1] + 1, sp) if idx else slice(0, 0),)]
            else:  # torch has no negative steps: gather the indices
                x = x.index_select(ax, torch.tensor(idx, dtype=torch.long))
        return [x]
    return run


@op("Gather", ["axis"])
def build_gather(node, a, opset):
    axis = a.get("axis", 0)

    def run(x, idx):
        idx = np.asarray(idx) if is_static(idx) else None
        if idx is None:
            raise ConversionError(f"Gather node '{node.name}': indices must be constant")
        ax = axis + len(x.shape) if axis < 0 else axis
        idx = np.where(idx < 0, idx + x.shape[ax], idx).astype(np.int64)
        if is_static(x):
            return [np.take(x, idx, axis=ax)]
        if idx.ndim == 0:
            return [x.select(ax, int(idx))]
        flat = x.index_select(ax, torch.from_numpy(idx.reshape(-1)))
        return [flat.reshape(x.shape[:ax] + idx.shape + x.shape[ax + 1:])]
    return run


def axes_arg(node, a, opset, given, rank, what):
    axes = a.get("axes") if opset < 13 else (None if given is None else static_ints(given, f"{what} axes"))
    return None if axes is None else sorted(ax + rank if ax < 0 else ax for ax in axes)


@op("Unsqueeze", ["axes"])
def build_unsqueeze(node, a, opset):
    def run(x, axes=None):
        out_rank = len(x.shape) + len(a.get("axes", []) if opset < 13 else static_ints(axes, "Unsqueeze axes"))
        for ax in axes_arg(node, a, opset, axes, out_rank, "Unsqueeze"):
            x = np.expand_dims(x, ax) if is_static(x) else x.unsqueeze(ax)
        return [x]
    return run


@op("Squeeze", ["axes"])
def build_squeeze(node, a, opset):
    def run(x, axes=None):
        axes = axes_arg(node, a, opset, axes, len(x.shape), "Squeeze")
        if axes is None:
            axes = [i for i, n in enumerate(x.shape) if n == 1]
        for ax in reversed(axes):
            x = np.squeeze(x, ax) if is_static(x) else x.squeeze(ax)
        return [x]
    return run


@op("Reshape", ["allowzero"])
def build_reshape(node, a, opset):
    if a.get("allowzero", 0) != 0:
        refuse(node, "allowzero", a["allowzero"])

    def run(x, shape):
        # 0 copies the input's size on that axis, -1 is inferred.
        shape = [x.shape[i] if n == 0 else n for i, n in enumerate(static_ints(shape, "Reshape shape"))]
        return [x.reshape(shape)]
    return run


@op("Flatten", ["axis"])
def build_flatten(node, a, opset):
    axis = a.get("axis", 1)

    def run(x):
        ax = axis + len(x.shape) if axis < 0 else axis
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    return run


@op("Transpose", ["perm"])
def build_transpose(node, a, opset):
    def run(x):
        perm = a.get("perm", list(reversed(range(len(x.shape)))))
        return [np.transpose(x, perm) if is_static(x) else x.permute(perm)]
    return run


@op("MatMul")
def build_matmul(node, a, opset):
    return lambda x, y: [torch.matmul(as_tensor(x), as_tensor(y))]


@op("Gemm", ["alpha", "beta", "transA", "transB"])
def build_gemm(node, a, opset):
    def run(x, w, c=None):
        x = x.t() if a.get("transA", 0) else x
        w = w.t() if a.get("transB", 0) else w
        y = torch.matmul(x, w) * a.get("alpha", 1.0)
        return [y if c is None else y + a.get("beta", 1.0) * c]
    return run


@op("Resize", ["coordinate_transformation_mode", "mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
               "extrapolation_value", "antialias", "keep_aspect_ratio_policy", "axes"])
def build_resize(node, a, opset):
    if opset < 11:
        raise ConversionError(f"Resize node '{node.name}': opset {opset} Resize is not supported (needs >= 11)")
    mode = a.get("mode", "nearest")
    ctm = a.get("coordinate_transformation_mode", "half_pixel")
    nearest = a.get("nearest_mode", "round_prefer_floor")
    for name, default in (("exclude_outside", 0), ("antialias", 0), ("axes", None),
                          ("keep_aspect_ratio_policy", "stretch")):
        if a.get(name, default) != default:
            refuse(node, name, a[name])
    # cubic_coeff_a only matters for mode=cubic, extrapolation_value only for tf_crop_and_resize,
    # and both of those are refused below.
    if mode == "linear" and ctm in ("half_pixel", "pytorch_half_pixel"):
        # half_pixel: x_in = (x_out + 0.5) / scale - 0.5, edge-clamped == torch align_corners=False.
        torch_mode, align = None, False
    elif mode == "linear" and ctm == "align_corners":
        torch_mode, align = None, True
    elif mode == "nearest" and ctm == "asymmetric" and nearest == "floor":
        torch_mode, align = "nearest", None  # torch 'nearest' is floor(x_out * in / out)
    elif mode == "nearest" and ctm in ("half_pixel", "pytorch_half_pixel") and nearest == "round_prefer_ceil":
        torch_mode, align = "nearest-exact", None  # floor((x_out + 0.5) * in / out)
    else:
        raise ConversionError(f"Resize node '{node.name}': unsupported mode={mode!r} with "
                              f"coordinate_transformation_mode={ctm!r}, nearest_mode={nearest!r}")

    def run(x, roi=None, scales=None, sizes=None):
        r = x.dim() - 2
        if torch_mode is None:
            interp = {1: "linear", 2: "bilinear", 3: "trilinear"}.get(r)
            if interp is None:
                refuse(node, "mode (input rank)", x.dim())
        else:
            interp = torch_mode
        if sizes is not None and np.asarray(sizes).size:
            sizes = static_ints(sizes, "Resize sizes")
            if sizes[:2] != list(x.shape[:2]):
                raise ConversionError(f"Resize node '{node.name}': only spatial axes may be resized")
            out, kw = sizes[2:], {"size": sizes[2:]}
        else:
            sc = [float(v) for v in np.asarray(scales).reshape(-1)]
            if sc[:2] != [1.0, 1.0]:
                raise ConversionError(f"Resize node '{node.name}': only spatial axes may be resized")
            # With scales, ONNX maps coordinates with the given scale, as torch does with
            # recompute_scale_factor=False; the output size is floor(in * scale) in both.
            out, kw = [math.floor(n * s) for n, s in zip(x.shape[2:], sc[2:])], {
                "scale_factor": sc[2:], "recompute_scale_factor": False}
        if ctm == "pytorch_half_pixel" and 1 in out:
            refuse(node, "coordinate_transformation_mode (output length 1)", ctm)
        if align is not None:
            kw["align_corners"] = align
        return [F.interpolate(x, mode=interp, **kw)]
    return run


# ---------------------------------------------------------------- graph handling

def topological_order(nodes, available):
    """Kahn's algorithm, keeping the file order among ready nodes (the graph need not be sorted)."""
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    waiting = {}
    users = {}
    for i, n in enumerate(nodes):
        deps = {producer[x] for x in n.input if x and x not in available and x in producer}
        missing = [x for x in n.input if x and x not in available and x not in producer]
        if missing:
            raise ConversionError(f"node '{n.name}' ({n.op_type}) reads undefined values {missing}")
        waiting[i] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(i)
    ready = [i for i, c in waiting.items() if c == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(nodes[i])
        for u in users.get(i, []):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(nodes):
        raise ConversionError("the graph has a cycle")
    return order


def needed_nodes(nodes, outputs):
    """The nodes the given outputs depend on."""
    producer = {o: n for n in nodes for o in n.output if o}
    keep, stack = set(), list(outputs)
    while stack:
        n = producer.get(stack.pop())
        if n is not None and id(n) not in keep:
            keep.add(id(n))
            stack.extend(x for x in n.input if x)
    return [n for n in nodes if id(n) in keep]


class OnnxModule(torch.nn.Module):
    """Runs the converted steps; meant to be traced, not called per request from Python."""

    def __init__(self, model):
        super().__init__()
        graph = model.graph
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        if opset is None:
            raise ConversionError("the model imports no default-domain opset")
        init_names = {t.name for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in init_names]
        if len(self.input_names) != 1:
            raise ConversionError(f"exactly one graph input is supported, got {self.input_names}")
        self.output_name = graph.output[0].name
        nodes = needed_nodes(list(graph.node), [self.output_name])

        errors = []
        foreign = sorted({f"{n.domain}::{n.op_type}" for n in nodes if n.domain not in ("", "ai.onnx")})
        unknown = sorted({n.op_type for n in nodes if n.domain in ("", "ai.onnx") and n.op_type not in OPS})
        if foreign or unknown:
            raise ConversionError("unsupported ONNX ops: " + ", ".join(unknown + foreign))
        for n in nodes:
            extra = sorted(set(attrs_of(n)) - OPS[n.op_type][1])
            if extra:
                errors.append(f"{n.op_type} node '{n.name}': unsupported attributes {extra}")
        if errors:
            raise ConversionError("\n".join(errors))

        # Float initializers are buffers (freeze folds them); integer ones stay numpy (shapes, indices).
        self.static = {}
        self.buffer_of = {}
        for t in graph.initializer:
            arr = to_fp32(numpy_helper.to_array(t))
            if arr.dtype == np.float32:
                key = f"w{len(self.buffer_of)}"
                self.register_buffer(key, torch.from_numpy(arr.copy()))
                self.buffer_of[t.name] = key
            else:
                self.static[t.name] = arr

        self.steps = []
        for n in topological_order(nodes, set(init_names) | set(self.input_names)):
            try:
                fn = OPS[n.op_type][0](n, attrs_of(n), opset)
            except ConversionError as e:
                errors.append(str(e))
                continue
            except KeyError as e:
                errors.append(f"{n.op_type} node '{n.name}': missing attribute {e}")
                continue
            self.steps.append((n, fn))
        if errors:
            raise ConversionError("\n".join(errors))

    def forward(self, x):
        env = dict(self.static)
        env.update({name: getattr(self, key) for name, key in self.buffer_of.items()})
        env[self.input_names[0]] = x
        for n, fn in self.steps:
            args = [env[i] if i else None for i in n.input]
            while args and args[-1] is None:  # trailing optional inputs left out
                args.pop()
            try:
                outs = fn(*args)
            except ConversionError:
                raise
            except Exception as e:
                raise ConversionError(f"{n.op_type} node '{n.name}' failed: {e}") from e
            for name, value in zip([o for o in n.output if o], outs):
                env[name] = value
        return as_tensor(env[self.output_name])


def convert(onnx_path, input_shape, freeze=False):
    module = OnnxModule(onnx.load(str(onnx_path))).eval()
    example = torch.zeros(input_shape)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns whenever a size becomes a Python number; that is intended here (the
        # input shape is fixed, shape arithmetic is folded into constants).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(module, example, check_trace=False)
    if freeze:
        traced = torch.jit.freeze(traced)
    return module, traced


def reference_forward(onnx_path, x, threads):
    """Runs onnxruntime-node through tools/isnet_reference.js; None when it is not installed."""
    node_modules = os.environ.get("INPAINT_NODE_MODULES") or str(cache_dir() / "node" / "node_modules")
    if not (Path(node_modules) / "onnxruntime-node").is_dir():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        x.numpy().astype("<f4").tofile(src)
        subprocess.run(["node", str(ROOT / "tools" / "isnet_reference.js"), "forward", str(onnx_path), str(src),
                        str(dst), "--threads", str(threads), "--shape", ",".join(map(str, x.shape)),
                        "--node-modules", node_modules], check=True)
        return np.fromfile(dst, dtype="<f4")


def cache_dir():
    # Same rule as scripts/get-test-models.sh.
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("INPAINT_MODEL_CACHE") or Path(base) / "libinpaint")


def check(module, out_path, onnx_path, input_shape, threads):
    # A smooth test pattern in the range of (pixel - 128) / 256 rather than noise: a photo-like
    # input keeps the network in the regime it was trained for.
    grids = torch.meshgrid(*[torch.linspace(0, 1, n) for n in input_shape[2:]], indexing="ij")
    x = torch.stack([torch.sin(6.0 * sum(grids) + c) * 0.45 for c in range(input_shape[1])])
    x = x.unsqueeze(0).expand(*input_shape).contiguous()
    loaded = torch.jit.load(str(out_path))
    with torch.no_grad():
        eager, traced = module(x), loaded(x)
    ok = True
    d = (eager - traced).abs().max().item()
    print(f"check: saved TorchScript vs eager conversion: max abs diff {d:.3g}")
    ok &= d <= 1e-5
    ref = reference_forward(onnx_path, x, threads)
    if ref is None:
        print("check: onnxruntime-node not found (run scripts/get-test-models.sh); skipped the ONNX comparison")
    else:
        diff = np.abs(ref.reshape(traced.shape) - traced.numpy())
        print(f"check: vs onnxruntime: max abs diff {diff.max():.3g}, mean {diff.mean():.3g}")
        ok &= diff.max() <= 2e-3 and diff.mean() <= 1e-4
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("onnx")
    p.add_argument("out")
    p.add_argument("--input-shape", default="1,3,1024,1024")
    p.add_argument("--freeze", action="store_true", help="save torch.jit.freeze'd module (weights folded)")
    p.add_argument("--check", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    shape = [int(v) for v in args.input_shape.split(",")]
    try:
        module, traced = convert(args.onnx, shape, args.freeze)
    except ConversionError as e:
        sys.exit(f"onnx2torchscript: {e}")
    # Write then rename, so an interrupted run never leaves a half-written model behind.
    tmp = Path(args.out).with_name(Path(args.out).name + ".tmp")
    traced.save(str(tmp))
    os.replace(tmp, args.out)
    print(f"onnx2torchscript: wrote {args.out} ({len(module.steps)} ops, input {shape})")
    if args.check and not check(module, args.out, args.onnx, shape, args.threads):
        sys.exit("onnx2torchscript: check failed")


if __name__ == "__main__":
    main()
