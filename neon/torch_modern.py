"""Converters for the ops of today's CNNs: constant arithmetic, gating products, routing
(permutations, broadcasts, chunks, padding, cyclic shifts), normalization by a sample's own
statistics, and resampling.

The tables at the bottom join :mod:`neon.torch_import`'s; every converter has the importer's
signature ``convert(imp, node) -> (op, inputs)`` (functions and methods) or
``convert(imp, node, module) -> op`` (modules) and refuses what it cannot represent exactly,
naming the call site.

Constants are tensors that do not depend on the input: parameters read by ``get_attr``
(ConvNeXt's layer scale), python numbers, and tensors computed from them alone. Arithmetic
between a computed tensor and a constant becomes a :class:`~neon.ops.BroadcastAffine`;
a product of two computed tensors a :class:`~neon.ops.Mul` whose gate (the factor from a
sigmoid-like op, or the one broadcast against the other) is recorded for the rules.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from . import ops
from .torch_import import UnsupportedOpError, _bind, _unary

# ------------------------------------------------------------------------------ arithmetic

_GATES = ("sigmoid", "hardsigmoid")


def _operands(imp, node, names=("input", "other")):
    """The two operands of a binary arithmetic call (function, method or operator)."""
    if node.target in (operator.add, operator.iadd, operator.mul, operator.imul,
                       operator.sub, operator.isub, operator.truediv, operator.itruediv):
        return node.args
    bound = _bind(imp.where(node), names + ("alpha", "rounding_mode", "out"),
                  {"alpha": 1, "rounding_mode": None, "out": None}, node.args, node.kwargs)
    if bound["alpha"] != 1:
        raise UnsupportedOpError(f"{imp.where(node)}: arithmetic with alpha != 1")
    if bound["rounding_mode"] is not None:
        raise UnsupportedOpError(f"{imp.where(node)}: division with rounding_mode="
                                 f"{bound['rounding_mode']!r} is not a smooth function")
    return bound[names[0]], bound[names[1]]


def _constant(imp, node, value, like) -> torch.Tensor:
    """``value`` (a number or a constant tensor) as a tensor that broadcasts against a sample
    of ``like`` (a computed tensor) without growing it or touching the batch axis."""
    if isinstance(value, fx.Node):
        if not imp.is_constant(value):
            raise UnsupportedOpError(f"{imp.where(node)}: an operand is neither a tensor "
                                     "computed from the input nor a constant")
        value = imp.value(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, torch.Tensor)):
        raise UnsupportedOpError(f"{imp.where(node)}: arithmetic with {type(value).__name__}")
    # python numbers in float64: the graph is cast to the example's dtype afterwards
    c = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(
        float(value), dtype=torch.float64)
    x = imp.values[like]
    if c.dim() >= x.dim():
        if c.dim() > x.dim() or c.shape[0] != 1:
            raise UnsupportedOpError(
                f"{imp.where(node)}: a constant of shape {tuple(c.shape)} combined with a "
                f"tensor of shape (N, {', '.join(map(str, x.shape[1:]))}) would act on the "
                "batch axis")
        c = c[0]
    try:
        grown = torch.broadcast_shapes(x.shape, c.shape) != x.shape
    except RuntimeError:
        grown = True
    if grown:
        raise UnsupportedOpError(
            f"{imp.where(node)}: a constant of shape {tuple(c.shape)} broadcasts the tensor of "
            f"shape (N, {', '.join(map(str, x.shape[1:]))}) to a larger one; expand the tensor "
            "first (x.expand(...))")
    return c


def _affine(imp, node, x, scale=None, shift=None):
    one = torch.ones((), dtype=torch.float64)
    scale = one if scale is None else scale
    shift = torch.zeros_like(one) if shift is None else shift
    return ops.BroadcastAffine(scale, shift), [x]


def source_kind(imp, arg) -> str | None:
    """The kind of the op that produced ``arg``, looking through identities (dropout);
    ``None`` for a graph input."""
    name = imp.names[arg]
    while imp.graph.is_op_node(name):
        node = imp.graph[name]
        if node.kind != "identity":
            return node.kind
        name = node.inputs[0]
    return None


def _gate(imp, a, b) -> int | None:
    """Which factor of a ⊙ b is the gate: the one a sigmoid-like op produced, else the one
    broadcast against the other; ``None`` when neither or both are."""
    gated = [source_kind(imp, t) in _GATES for t in (a, b)]
    if gated[0] != gated[1]:
        return 0 if gated[0] else 1
    sizes = [imp.values[t][0].numel() for t in (a, b)]
    if sizes[0] != sizes[1] and not all(gated):
        return 0 if sizes[0] < sizes[1] else 1
    return None


def _mul(imp, node):
    a, b = _operands(imp, node)
    if imp.is_tensor(a) and imp.is_tensor(b):
        # a decomposition (the unrolled GRU's (1 − z) ⊙ n) may say which factor gates
        gate = node.meta["neon_gate"] if "neon_gate" in node.meta else _gate(imp, a, b)
        return ops.Mul(gate=gate), [a, b]
    x, c = (a, b) if imp.is_tensor(a) else (b, a)
    return _affine(imp, node, x, scale=_constant(imp, node, c, x))


def _add(imp, node):
    a, b = _operands(imp, node)
    if imp.is_tensor(a) and imp.is_tensor(b):
        return ops.Add(), [a, b]
    x, c = (a, b) if imp.is_tensor(a) else (b, a)
    return _affine(imp, node, x, shift=_constant(imp, node, c, x))


def _sub(imp, node):
    a, b = _operands(imp, node)
    if imp.is_tensor(a) and imp.is_tensor(b):
        raise UnsupportedOpError(
            f"{imp.where(node)}: the difference of two computed tensors is not supported "
            "(only sums of branches); write it as a + (-1) * b")
    if imp.is_tensor(a):
        return _affine(imp, node, a, shift=-_constant(imp, node, b, a))
    minus = -torch.ones((), dtype=torch.float64)
    return _affine(imp, node, b, scale=minus, shift=_constant(imp, node, a, b))


def _div(imp, node):
    a, b = _operands(imp, node)
    if not imp.is_tensor(a) or imp.is_tensor(b):
        raise UnsupportedOpError(f"{imp.where(node)}: only division of a computed tensor by a "
                                 "constant is supported")
    return _affine(imp, node, a, scale=1.0 / _constant(imp, node, b, a))


def _neg(imp, node):
    return _affine(imp, node, node.args[0], scale=-torch.ones((), dtype=torch.float64))


# ------------------------------------------------------------------------------- routing

def _permute(imp, node):
    x, *dims = node.args
    dims = dims or [node.kwargs["dims"]]
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = list(dims[0])
    dims = [int(imp.value(d)) % imp.rank(x) for d in dims]
    if dims[0] != 0:
        raise UnsupportedOpError(f"{imp.where(node)}: a permutation that moves the batch axis "
                                 f"({dims}); keep axis 0 first")
    return ops.Permute(dims), [x]


def _transpose(imp, node):
    bound = _bind(imp.where(node), ("input", "dim0", "dim1"), {}, node.args, node.kwargs)
    x = bound["input"]
    d0, d1 = (imp.dim_arg(node, imp.value(bound[k]), imp.rank(x)) for k in ("dim0", "dim1"))
    dims = list(range(imp.rank(x)))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return ops.Permute(dims), [x]


def _reshape_to_output(imp, node):
    """unsqueeze / squeeze: a reshape to the call's output shape."""
    x = node.args[0]
    out = imp.values[node]
    if out.dim() == 0 or out.shape[0] != imp.values[x].shape[0]:
        raise UnsupportedOpError(f"{imp.where(node)}: {node.target} acts on the batch axis")
    return ops.Reshape(out.shape[1:]), [x]


def _squeeze(imp, node):
    bound = _bind(imp.where(node), ("input", "dim"), {"dim": None}, node.args, node.kwargs)
    if bound["dim"] is None:
        raise UnsupportedOpError(f"{imp.where(node)}: squeeze without a dim would drop a batch "
                                 "of one; give the axis (x.squeeze(1))")
    return _reshape_to_output(imp, node)


def _expand(imp, node):
    x = node.args[0]
    for arg in list(node.args[1:]) + list(node.kwargs.values()):
        if not imp.is_tensor(arg):   # expand_as(y) reads only y's shape
            imp.static(node, arg)    # a size computed from the input's shape pins it
    out = imp.values[node]
    if out.shape[0] != imp.values[x].shape[0]:
        raise UnsupportedOpError(f"{imp.where(node)}: expand acts on the batch axis")
    return ops.Expand(out.shape[1:]), [x]


def _split(imp, node) -> None:
    """chunk / split: recorded, not a node; each ``getitem`` of it becomes a Select."""
    x = node.args[0]
    bound_dim = node.kwargs.get("dim", node.args[2] if len(node.args) > 2 else 0)
    dim = imp.dim_arg(node, imp.value(bound_dim), imp.rank(x))
    sizes = [int(t.shape[dim]) for t in imp.values[node]]
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    imp.splits[node] = (x, dim, bounds)


def split_select(imp, node, index):
    """The Select of piece ``index`` of a recorded chunk/split call."""
    x, dim, bounds = imp.splits[node.args[0]]
    index = int(index)
    start, stop = bounds[index], bounds[index + 1]
    return ops.Select((slice(None),) * (dim - 1) + (slice(start, stop),)), [x]


def _roll(imp, node):
    bound = _bind(imp.where(node), ("input", "shifts", "dims"), {"dims": None},
                  node.args, node.kwargs)
    shifts, dims = imp.static(node, bound["shifts"]), imp.value(bound["dims"])
    if dims is None:
        raise UnsupportedOpError(f"{imp.where(node)}: roll without dims flattens the batch "
                                 "axis into the shift; give the axes")
    shifts = shifts if isinstance(shifts, (list, tuple)) else (shifts,)
    dims = dims if isinstance(dims, (list, tuple)) else (dims,)
    x = bound["input"]
    return ops.Roll(shifts, [imp.dim_arg(node, d, imp.rank(x)) for d in dims]), [x]


def _pad(imp, node):
    bound = _bind(imp.where(node), ("input", "pad", "mode", "value"),
                  {"mode": "constant", "value": None}, node.args, node.kwargs)
    x, pad = bound["input"], imp.static(node, bound["pad"])
    if len(pad) // 2 >= imp.rank(x):
        raise UnsupportedOpError(f"{imp.where(node)}: padding {tuple(pad)} reaches the batch "
                                 "axis")
    return ops.Pad(pad, imp.value(bound["mode"]), imp.value(bound["value"]) or 0.0), [x]


_PAD_MODES = {nn.modules.padding._ReflectionPadNd: "reflect",
              nn.modules.padding._ReplicationPadNd: "replicate",
              nn.modules.padding._CircularPadNd: "circular"}


def _pad_module(imp, node, m):
    mode = next((name for cls, name in _PAD_MODES.items() if isinstance(m, cls)), None)
    return ops.Pad(m.padding, mode) if mode else ops.Pad(m.padding, "constant", m.value)


# -------------------------------------------------------------------------- normalization

def _layer_norm_fn(imp, node):
    b = _bind(imp.where(node), ("input", "normalized_shape", "weight", "bias", "eps"),
              {"weight": None, "bias": None, "eps": 1e-5}, node.args, node.kwargs)
    shape = imp.value(b["normalized_shape"])
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if len(shape) >= imp.rank(b["input"]):
        raise UnsupportedOpError(f"{imp.where(node)}: layer_norm over {shape} includes the "
                                 "batch axis")
    return ops.LayerNorm(shape, imp.value(b["weight"]), imp.value(b["bias"]),
                         imp.value(b["eps"])), [b["input"]]


def _group_norm_fn(imp, node):
    b = _bind(imp.where(node), ("input", "num_groups", "weight", "bias", "eps"),
              {"weight": None, "bias": None, "eps": 1e-5}, node.args, node.kwargs)
    return ops.GroupNorm(imp.value(b["num_groups"]), imp.value(b["weight"]),
                         imp.value(b["bias"]), imp.value(b["eps"])), [b["input"]]


def _layer_norm(imp, node, m: nn.LayerNorm):
    return ops.LayerNorm(m.normalized_shape, m.weight, m.bias, m.eps)


def _group_norm(imp, node, m: nn.GroupNorm):
    return ops.GroupNorm(m.num_groups, m.weight, m.bias, m.eps)


# ----------------------------------------------------------------------------- resampling

def _interpolation(imp, node, size, scale_factor, mode, align_corners, recompute, antialias):
    if antialias:
        raise UnsupportedOpError(f"{imp.where(node)}: interpolation with antialias=True")
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear", "trilinear"):
        raise UnsupportedOpError(
            f"{imp.where(node)}: interpolation mode {mode!r} is not supported (nearest, "
            "nearest-exact, linear, bilinear and trilinear are: their weights are fixed and "
            "non-negative)")
    if isinstance(size, (list, tuple)):
        size = tuple(int(s) for s in size)
    return ops.Interpolate(size, scale_factor, mode, align_corners, recompute)


def _interpolate_fn(imp, node):
    b = _bind(imp.where(node), ("input", "size", "scale_factor", "mode", "align_corners",
                                "recompute_scale_factor", "antialias"),
              {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None,
               "recompute_scale_factor": None, "antialias": False}, node.args, node.kwargs)
    size = imp.static(node, b["size"])   # size=x.shape[-2:] fixes the input's size
    return _interpolation(imp, node, size, imp.value(b["scale_factor"]), imp.value(b["mode"]),
                          imp.value(b["align_corners"]), imp.value(b["recompute_scale_factor"]),
                          imp.value(b["antialias"])), [b["input"]]


def _upsample(imp, node, m: nn.Upsample):
    return _interpolation(imp, node, m.size, m.scale_factor, m.mode, m.align_corners,
                          getattr(m, "recompute_scale_factor", None), False)


# ------------------------------------------------------------------------- torchvision ops

def _stochastic_depth(imp, node):
    """torchvision.ops.stochastic_depth (wrapped as a leaf by torchvision): the identity in
    eval mode."""
    b = _bind(imp.where(node), ("input", "p", "mode", "training"), {"training": True},
              node.args, node.kwargs)
    if imp.value(b["training"]) and imp.value(b["p"]) > 0:
        raise UnsupportedOpError(f"{imp.where(node)}: stochastic depth in training mode is "
                                 "random; import the model in eval mode")
    return ops.Identity(), [b["input"]]


def _torchvision_functions() -> dict:
    try:
        from torchvision.ops import stochastic_depth
    except ImportError:  # torchvision is optional
        return {}
    return {stochastic_depth: ("stochastic_depth", _stochastic_depth)}


# ---------------------------------------------------------------------------------- tables

MODULES = {
    nn.SiLU: lambda imp, node, m: ops.SiLU(),
    nn.Hardswish: lambda imp, node, m: ops.Hardswish(),
    nn.Hardsigmoid: lambda imp, node, m: ops.Hardsigmoid(),
    nn.LayerNorm: _layer_norm,
    nn.GroupNorm: _group_norm,
    nn.Upsample: _upsample,
    nn.modules.padding._ConstantPadNd: _pad_module,
    nn.modules.padding._ReflectionPadNd: _pad_module,
    nn.modules.padding._ReplicationPadNd: _pad_module,
    nn.modules.padding._CircularPadNd: _pad_module,
}

FUNCTIONS = {
    operator.add: ("add", _add), operator.iadd: ("add", _add), torch.add: ("add", _add),
    operator.mul: ("mul", _mul), operator.imul: ("mul", _mul), torch.mul: ("mul", _mul),
    torch.multiply: ("mul", _mul),
    operator.sub: ("sub", _sub), operator.isub: ("sub", _sub), torch.sub: ("sub", _sub),
    operator.truediv: ("div", _div), operator.itruediv: ("div", _div), torch.div: ("div", _div),
    operator.neg: ("neg", _neg), torch.neg: ("neg", _neg),
    F.silu: ("silu", _unary(ops.SiLU)), F.hardswish: ("hardswish", _unary(ops.Hardswish)),
    F.hardsigmoid: ("hardsigmoid", _unary(ops.Hardsigmoid)),
    torch.permute: ("permute", _permute), torch.transpose: ("transpose", _transpose),
    torch.swapaxes: ("transpose", _transpose), torch.swapdims: ("transpose", _transpose),
    torch.unsqueeze: ("unsqueeze", _reshape_to_output), torch.squeeze: ("squeeze", _squeeze),
    torch.roll: ("roll", _roll), F.pad: ("pad", _pad),
    F.layer_norm: ("layer_norm", _layer_norm_fn), F.group_norm: ("group_norm", _group_norm_fn),
    F.interpolate: ("interpolate", _interpolate_fn),
    **_torchvision_functions(),
}

METHODS = {
    "add": ("add", _add), "add_": ("add", _add), "__add__": ("add", _add),
    "mul": ("mul", _mul), "mul_": ("mul", _mul), "__mul__": ("mul", _mul),
    "sub": ("sub", _sub), "sub_": ("sub", _sub), "div": ("div", _div), "div_": ("div", _div),
    "neg": ("neg", _neg),
    "sigmoid_": ("sigmoid", _unary(ops.Sigmoid)),
    "permute": ("permute", _permute), "transpose": ("transpose", _transpose),
    "swapaxes": ("transpose", _transpose), "swapdims": ("transpose", _transpose),
    "unsqueeze": ("unsqueeze", _reshape_to_output), "squeeze": ("squeeze", _squeeze),
    "expand": ("expand", _expand), "expand_as": ("expand", _expand),
    "roll": ("roll", _roll),
}

# chunk and split return tuples: recorded by the importer, read back by getitem
SPLITS = {torch.chunk, torch.split, torch.tensor_split, "chunk", "split"}
