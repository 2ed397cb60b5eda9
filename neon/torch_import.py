"""Import a PyTorch module into the graph IR with torch.fx.

``from_torch(module, example_input)`` traces the module symbolically, runs the trace once on
the example to learn shapes and shape-valued expressions (``x.size(0)``), and turns every call
site into one IR node. Importing never guesses: a module, function or method it does not know
raises :class:`UnsupportedOpError` naming it, where it is called, and what is supported.

Converters are found through the class hierarchy: a subclass of a supported module that keeps
its parent's ``forward`` is converted like its parent; one that overrides ``forward`` is
traced through (its own code is imported). :func:`register_converter` adds converters for
user modules and functions.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from . import ops
from .graph import Graph

__all__ = ["from_torch", "register_converter", "Call", "UnsupportedOpError", "TraceError"]


class UnsupportedOpError(TypeError):
    """The importer met a module, function or method it cannot represent exactly."""


class TraceError(RuntimeError):
    """torch.fx could not trace the module (data-dependent control flow, …)."""


# --------------------------------------------------------------------------- argument binding

def _bind(where: str, names: tuple, defaults: dict, args, kwargs) -> dict:
    """Bind positional and keyword arguments to ``names``, filling ``defaults``."""
    if len(args) > len(names):
        raise UnsupportedOpError(f"{where}: too many positional arguments")
    bound = dict(defaults)
    bound.update(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise UnsupportedOpError(f"{where}: unsupported keyword argument {key!r}")
        bound[key] = value
    missing = [n for n in names if n not in bound]
    if missing:
        raise UnsupportedOpError(f"{where}: missing argument(s) {missing}")
    return bound


_POOL_MAX = (("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
              "return_indices"),
             dict(stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False))
_POOL_AVG = (("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
              "divisor_override"),
             dict(stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                  divisor_override=None))
_REDUCE = (("input", "dim", "keepdim", "dtype"), dict(dim=None, keepdim=False, dtype=None))
_SOFTMAX = (("input", "dim", "_stacklevel", "dtype"), dict(dim=None, _stacklevel=3, dtype=None))


# ------------------------------------------------------------------------------ the importer

def _holds_tensor(value) -> bool:
    """Whether ``value`` is a tensor or a container holding one (``torch.split``'s tuple)."""
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor(v) for v in value.values())
    return False


class _Importer:
    """State of one import: the IR being built and the map fx node → IR name or value."""

    def __init__(self, gm: fx.GraphModule, values: dict, source: nn.Module | None = None):
        self.gm = gm
        self.values = values            # fx node -> example value (tensor or python value)
        self.names: dict[fx.Node, str] = {}
        self.graph = Graph()
        self.modules = dict(gm.named_modules())
        # the user's modules, classes intact (the GraphModule keeps plain containers for the
        # owners of attributes read by get_attr)
        self.source_modules = dict((source or gm).named_modules())
        self.constants: set[fx.Node] = set()   # tensors that do not depend on the input
        self.dynamic: set[fx.Node] = set()     # nodes whose value depends on the input
        self.splits: dict[fx.Node, tuple] = {}  # chunk/split calls: (input, dim, bounds)
        self.pinned: list[str] = []            # why the input's shape had to be fixed
        self.batch = next(v.shape[0] for n, v in values.items() if n.op == "placeholder")

    # ---------------------------------------------------------------- helpers
    def where(self, node: fx.Node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        scope = list(stack.values())[-1][0] if stack else "<top level>"
        target = node.target if isinstance(node.target, str) else getattr(
            node.target, "__name__", repr(node.target))
        return f"{node.op} {target!r} (fx node {node.name!r}, in module {scope!r})"

    def unique(self, base: str) -> str:
        """``base``, or ``base:k`` for its k-th repeat (or when an input took the name)."""
        return self.graph.unique_name(base)

    def scoped(self, node: fx.Node, base: str) -> str:
        base = node.meta.get("neon_name", base)   # a decomposition's step name (``q``)
        stack = node.meta.get("nn_module_stack") or {}
        scope = list(stack.values())[-1][0] if stack else ""
        return self.unique(f"{scope}.{base}" if scope else base)

    def is_tensor(self, arg) -> bool:
        """Whether ``arg`` is a tensor computed from the input (a node of the IR graph)."""
        return isinstance(arg, fx.Node) and isinstance(self.values.get(arg), torch.Tensor) \
            and arg not in self.constants

    def is_constant(self, arg) -> bool:
        """Whether ``arg`` is a constant tensor (a module attribute or computed from one)."""
        return isinstance(arg, fx.Node) and arg in self.constants

    def static(self, node: fx.Node, arg):
        """The concrete value of ``arg``; when it was computed from the input's shape (a pad
        amount, an output size), the graph's input shape is fixed to the example's, so
        another size is refused instead of being resampled to the example's size."""
        if isinstance(arg, fx.Node) and arg in self.dynamic or isinstance(arg, (list, tuple)) \
                and any(isinstance(a, fx.Node) and a in self.dynamic for a in arg):
            self.pinned.append(self.where(node))
        return self.value(arg)

    def value(self, arg):
        """Concrete python value of an argument (shape expressions evaluated on the example)."""
        if isinstance(arg, fx.Node):
            if self.is_tensor(arg):
                raise UnsupportedOpError(f"a tensor is used where a constant is expected "
                                         f"({self.where(arg)})")
            return self.values[arg]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(a) for a in arg)
        return arg

    def rank(self, arg) -> int:
        return self.values[arg].dim()

    def dim_arg(self, node, dim, rank) -> int:
        dim = int(dim)
        dim = dim + rank if dim < 0 else dim
        if dim == 0:
            raise UnsupportedOpError(f"{self.where(node)} acts on the batch axis (dim 0); "
                                     "only per-sample operations can be imported")
        return dim

    def add(self, node: fx.Node, name: str, op: ops.Op, inputs) -> None:
        names = [self.names[i] for i in inputs]
        self.graph.add_node(name, op, names, shape=tuple(self.values[node].shape[1:]))
        self.names[node] = name

    # ---------------------------------------------------------------- dispatch
    def run(self) -> Graph:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder" or any(a in self.dynamic for a in node.all_input_nodes):
                self.dynamic.add(node)
            if node.op != "placeholder" and _holds_tensor(self.values.get(node)):
                self.check_token_use(node)
            if node.op == "placeholder":
                x = self.values[node]
                if not isinstance(x, torch.Tensor):
                    raise UnsupportedOpError(f"input {node.name!r} is not a tensor")
                free = x.dim() > 2
                shape = [s if (i == 0 or not free) else None for i, s in enumerate(x.shape[1:])]
                self.graph.add_input(node.name, shape)
                self.names[node] = node.name
            elif node.op == "output":
                self.set_output(node)
            elif node.op == "call_module" and any(self.is_tensor(a) for a in node.all_input_nodes):
                self.call_module(node)  # even one returning a tuple must be a known module
            elif node.op in ("get_attr", "call_module") or \
                    not _holds_tensor(self.values.get(node)):
                self.constant(node)
            elif not any(self.is_tensor(a) or a in self.splits for a in node.all_input_nodes):
                self.constant(node)
            elif node.target in SPLITS:
                split(self, node)
            elif node.op == "call_function":
                self.call_function(node, node.target)
            elif node.op == "call_method":
                self.call_method(node)
        if self.pinned:
            self.pin_inputs()
        return self.graph

    def check_token_use(self, node: fx.Node) -> None:
        """Integer inputs are token ids: only an embedding may read them."""
        ids = [a for a in node.all_input_nodes if a.op == "placeholder"
               and not self.values[a].is_floating_point()]
        if not ids:
            return
        module = self.modules.get(node.target) if node.op == "call_module" else None
        if isinstance(module, EMBEDDINGS):
            return
        raise UnsupportedOpError(
            f"{self.where(node)} reads the integer input {ids[0].name!r}; integer inputs are "
            "token ids, which only an nn.Embedding or nn.EmbeddingBag may read (compute "
            "masks and lengths outside the model, or pass floats)")

    def use_tokens(self, node: fx.Node, vocabulary: int) -> None:
        """Mark the graph input read by an embedding as token ids in [0, vocabulary)."""
        arg = node.args[0] if node.args else next(iter(node.kwargs.values()))
        index = self.graph.input_names.index(self.names[arg])
        spec = self.graph.input_specs[index]
        known = spec.vocabulary
        self.graph.input_specs[index] = dataclasses.replace(
            spec, vocabulary=vocabulary if known is None else min(known, vocabulary))
        self.graph._changed()

    def constant(self, node: fx.Node) -> None:
        """A value that is no IR node: a shape expression, a parameter read by ``get_attr``,
        or a tensor computed from constants alone; converters read it as a constant."""
        if not isinstance(self.values.get(node), torch.Tensor):
            return  # a shape expression (x.size(1)): evaluated where it is used
        if node in self.dynamic and self.broadcast_to_batch(node):
            # a constant broadcast to the batch (ViT's class token expanded to x.size(0)):
            # kept with a batch axis of 1, which is how converters read a constant
            self.values[node] = self.values[node][:1]
            self.constants.add(node)
            return
        if node in self.dynamic:
            raise UnsupportedOpError(
                f"{self.where(node)} builds a tensor from the input's shape (a batch-sized "
                "constant such as torch.zeros(x.size(0), ...) or a token expanded to the "
                "batch), which the importer cannot represent; build it from a module "
                "attribute without the batch axis")
        self.constants.add(node)

    def broadcast_to_batch(self, node: fx.Node) -> bool:
        """Whether a tensor built from the input's shape (and constants) is one row repeated
        along the batch axis, the same row at any batch size: it is recomputed at a batch of
        3 (tensors computed from the input stand in as zeros: only their shapes are read)."""
        value = self.values[node]
        if value.dim() == 0 or value.shape[0] != self.batch or not bool((value == value[:1])
                                                                         .all()):
            return False
        ancestors, stack = [], [node]
        while stack:
            n = stack.pop()
            if n in ancestors:
                continue
            ancestors.append(n)
            if n not in self.names and n not in self.splits:   # not yet an IR node
                stack.extend(n.all_input_nodes)
        interpreter = fx.Interpreter(self.gm)
        env = interpreter.env
        with torch.no_grad():
            for n in self.gm.graph.nodes:
                if n not in ancestors:
                    continue
                known = self.values.get(n)
                if n in self.names:      # computed from the input: only its shape is read
                    env[n] = known.new_zeros((3,) + tuple(known.shape[1:]))
                elif n not in self.dynamic:
                    env[n] = known
                else:
                    try:
                        env[n] = interpreter.run_node(n)
                    except Exception:   # noqa: BLE001 - whatever fails is not batch-free
                        return False
        again = env[node]
        return isinstance(again, torch.Tensor) and again.shape[0] == 3 and \
            again.shape[1:] == value.shape[1:] and bool((again == value[:1]).all())

    def pin_inputs(self) -> None:
        """Fix every input's free axes to the example's size (see :meth:`static`)."""
        examples = {n.name: v for n, v in self.values.items() if n.op == "placeholder"}
        for i, spec in enumerate(self.graph.input_specs):
            shape = tuple(examples[spec.name].shape[1:])
            self.graph.input_specs[i] = dataclasses.replace(spec, shape=shape)
        self.graph.meta["shape_fixed_by"] = list(dict.fromkeys(self.pinned))
        self.graph._changed()

    def override_hint(self, attribute: str) -> str:
        """Why a call reads a module's tensor attribute (``F.linear(x, self.weight)``): the
        module subclasses a supported class but overrides its forward."""
        owner = self.source_modules.get(attribute.rpartition(".")[0])
        if owner is None:
            return ""
        for cls in type(owner).__mro__[1:]:
            if cls in _MODULES:
                return (f"; module {attribute.rpartition('.')[0]!r} ({type(owner).__name__}) "
                        f"subclasses {cls.__module__}.{cls.__name__} but overrides forward, so "
                        "its code is traced and cannot be imported as it is; register a "
                        f"converter for {type(owner).__name__} with neon.register_converter")
        return ""

    def set_output(self, node):
        out = node.args[0]
        if not self.is_tensor(out):
            raise UnsupportedOpError(
                f"the module returns {type(self.values.get(out, out)).__name__}; the importer "
                "needs a module that returns a single tensor (wrap it to select one output)")
        self.graph.set_output(self.names[out])

    def call_module(self, node):
        module = self.modules[node.target]
        converter = _module_converter(module)
        if converter is None:
            raise UnsupportedOpError(
                f"{self.where(node)}: module type {type(module).__module__}."
                f"{type(module).__name__} is not supported. Supported modules: "
                f"{', '.join(sorted(t.__name__ for t in _MODULES))}")
        tensors = list(node.args) + list(node.kwargs.values())  # self.fc(input=x) too
        if len(tensors) != 1 or not self.is_tensor(tensors[0]):
            raise UnsupportedOpError(f"{self.where(node)}: modules are imported when called on "
                                     "exactly one tensor")
        op = converter(self, node, module)
        if isinstance(op, (list, tuple)):   # a chain of ops (nn.EmbeddingBag: lookup, sum)
            *steps, op = op
            value, source = self.values[tensors[0]], self.names[tensors[0]]
            for step in steps:
                value = step(value)
                source = self.graph.add_node(self.unique(f"{node.target}.{step.kind}"), step,
                                             [source], shape=tuple(value.shape[1:]))
            self.names[node] = self.graph.add_node(self.unique(node.target), op, [source],
                                                   shape=tuple(self.values[node].shape[1:]))
            return
        self.add(node, self.unique(node.target), op, tensors)

    def call_function(self, node, fn, method=False):
        table = _METHODS if method else _FUNCTIONS
        entry = table.get(fn)
        if entry is None:
            label = f"method .{fn}()" if method else (
                f"function {getattr(fn, '__module__', '') or ''}."
                f"{getattr(fn, '__name__', repr(fn))}")
            names = sorted(k if isinstance(k, str) else getattr(k, "__name__", repr(k))
                           for k in table)
            hints = [self.override_hint(a.target) for a in node.all_input_nodes
                     if a.op == "get_attr"]
            raise UnsupportedOpError(f"{self.where(node)}: {label} is not supported"
                                     f"{next((h for h in hints if h), '')}. "
                                     f"Supported: {', '.join(dict.fromkeys(names))}")
        base, convert = entry
        op, inputs = convert(self, node)
        self.add(node, self.scoped(node, base), op, inputs)

    def call_method(self, node):
        self.call_function(node, node.target, method=True)


# ------------------------------------------------------------------------- module converters

def _linear(imp, node, m: nn.Linear):
    return ops.Linear(m.weight, m.bias)


def _conv(imp, node, m):
    rank = imp.rank(_first_tensor(node))
    if rank != m.weight.dim():
        raise TraceError(f"{imp.where(node)}: {type(m).__name__} reads a {rank - 1}-d sample "
                         f"(expected {m.weight.dim() - 1}-d, channels first): the example input "
                         "lacks its batch axis? Pass x[None] (or x.unsqueeze(0))")
    if m.padding_mode != "zeros":
        raise UnsupportedOpError(f"{imp.where(node)}: padding_mode={m.padding_mode!r}; only "
                                 "zero padding is supported")
    padding = m.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        else:  # 'same'
            total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
            if any(t % 2 for t in total):
                raise UnsupportedOpError(f"{imp.where(node)}: padding='same' with an even "
                                         "kernel pads asymmetrically, which is not supported")
            padding = [t // 2 for t in total]
    return ops.Conv(m.weight, m.bias, stride=m.stride, padding=padding, dilation=m.dilation,
                    groups=m.groups)


def _embedding(imp, node, m: nn.Embedding):
    if m.max_norm is not None:
        raise UnsupportedOpError(f"{imp.where(node)}: nn.Embedding with max_norm renormalizes "
                                 "its weights while it looks them up; renormalize the weights "
                                 "once and set max_norm=None")
    _check_ids(imp, node)
    imp.use_tokens(node, m.num_embeddings)
    return ops.Embedding(m.weight, m.padding_idx)


def _embedding_bag(imp, node, m: nn.EmbeddingBag):
    if len(node.args) + len(node.kwargs) != 1:
        raise UnsupportedOpError(f"{imp.where(node)}: nn.EmbeddingBag is imported for bags of "
                                 "fixed length, a 2-d input (N, L) without offsets or "
                                 "per-sample weights")
    if m.mode not in ("sum", "mean"):
        raise UnsupportedOpError(f"{imp.where(node)}: nn.EmbeddingBag(mode={m.mode!r}) is not "
                                 "supported; use mode='sum' or 'mean'")
    if m.max_norm is not None:
        raise UnsupportedOpError(f"{imp.where(node)}: nn.EmbeddingBag with max_norm "
                                 "renormalizes its weights while it looks them up")
    if m.mode == "mean" and m.padding_idx is not None:
        raise UnsupportedOpError(f"{imp.where(node)}: nn.EmbeddingBag(mode='mean') with a "
                                 "padding_idx divides by the number of non-padding tokens, "
                                 "which depends on the input; use mode='sum'")
    _check_ids(imp, node)
    if imp.values[node.args[0]].dim() != 2:
        raise UnsupportedOpError(f"{imp.where(node)}: nn.EmbeddingBag is imported for a 2-d "
                                 "input of bags (N, L)")
    imp.use_tokens(node, m.num_embeddings)
    lookup = ops.Embedding(m.weight, m.padding_idx, zero_padding=True)
    return [lookup, (ops.Sum if m.mode == "sum" else ops.Mean)((1,))]


def _check_ids(imp, node):
    ids = node.args[0] if node.args else None
    if not (isinstance(ids, fx.Node) and ids.op == "placeholder"
            and not imp.values[ids].is_floating_point()):
        raise UnsupportedOpError(f"{imp.where(node)}: an embedding is imported when it reads "
                                 "integer token ids given to the model directly (a model input "
                                 "of dtype int64)")


def _batchnorm(imp, node, m):
    if m.running_mean is None or m.running_var is None:
        raise UnsupportedOpError(f"{imp.where(node)}: BatchNorm without running statistics "
                                 "(track_running_stats=False) normalizes by batch statistics "
                                 "and is not a per-sample function")
    scale = torch.rsqrt(m.running_var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    shift = -m.running_mean * scale
    if m.bias is not None:
        shift = shift + m.bias
    return ops.BatchNorm(scale, shift)


def _pool_dim(m) -> int:
    return int(type(m).__name__[-2])


def _maxpool(imp, node, m):
    if m.return_indices:
        raise UnsupportedOpError(f"{imp.where(node)}: MaxPool with return_indices=True")
    return ops.MaxPool(_pool_dim(m), m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)


def _avgpool(imp, node, m):
    dim = _pool_dim(m)
    return ops.AvgPool(dim, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                       m.count_include_pad, getattr(m, "divisor_override", None))


def _adaptive_maxpool(imp, node, m):
    """Adaptive max pooling to an output size that divides the input's (max over time in a
    text CNN: output size 1) is a max pool with kernel = stride = input / output."""
    if m.return_indices:
        raise UnsupportedOpError(f"{imp.where(node)}: AdaptiveMaxPool with return_indices=True")
    dim = _pool_dim(m)
    spatial = tuple(imp.values[node.args[0]].shape[-dim:])
    out = m.output_size if isinstance(m.output_size, tuple) else (m.output_size,) * dim
    out = tuple(s if o is None else o for s, o in zip(spatial, out))
    if any(s % o for s, o in zip(spatial, out)):
        raise UnsupportedOpError(f"{imp.where(node)}: adaptive max pooling from {spatial} to "
                                 f"{out} has windows of unequal size; only output sizes that "
                                 "divide the input's are supported")
    imp.pinned.append(imp.where(node))   # the window is the example's length
    kernel = tuple(s // o for s, o in zip(spatial, out))
    return ops.MaxPool(dim, kernel, kernel, 0, 1, False)


def _flatten_module(imp, node, m):
    return _flatten_op(imp, node, m.start_dim, m.end_dim)


def _softmax_module(imp, node, m):
    return _softmax_op(imp, node, type(m) is nn.LogSoftmax, m.dim)


_MODULES: dict[type, Callable] = {
    nn.Linear: _linear,
    nn.Conv1d: _conv, nn.Conv2d: _conv, nn.Conv3d: _conv,
    nn.BatchNorm1d: _batchnorm, nn.BatchNorm2d: _batchnorm, nn.BatchNorm3d: _batchnorm,
    nn.ReLU: lambda imp, node, m: ops.ReLU(),
    nn.ReLU6: lambda imp, node, m: ops.Hardtanh(0.0, 6.0),
    nn.Hardtanh: lambda imp, node, m: ops.Hardtanh(m.min_val, m.max_val),
    nn.LeakyReLU: lambda imp, node, m: ops.LeakyReLU(m.negative_slope),
    nn.ELU: lambda imp, node, m: ops.ELU(m.alpha),
    nn.Tanh: lambda imp, node, m: ops.Tanh(),
    nn.Sigmoid: lambda imp, node, m: ops.Sigmoid(),
    nn.Softplus: lambda imp, node, m: ops.Softplus(m.beta, m.threshold),
    nn.GELU: lambda imp, node, m: ops.GELU(m.approximate),
    nn.MaxPool1d: _maxpool, nn.MaxPool2d: _maxpool, nn.MaxPool3d: _maxpool,
    nn.AvgPool1d: _avgpool, nn.AvgPool2d: _avgpool, nn.AvgPool3d: _avgpool,
    nn.AdaptiveAvgPool1d: lambda imp, node, m: ops.AdaptiveAvgPool(1, m.output_size),
    nn.AdaptiveAvgPool2d: lambda imp, node, m: ops.AdaptiveAvgPool(2, m.output_size),
    nn.AdaptiveAvgPool3d: lambda imp, node, m: ops.AdaptiveAvgPool(3, m.output_size),
    nn.Flatten: _flatten_module,
    nn.Identity: lambda imp, node, m: ops.Identity(),
    nn.Dropout: lambda imp, node, m: ops.Identity(),
    nn.Dropout1d: lambda imp, node, m: ops.Identity(),
    nn.Dropout2d: lambda imp, node, m: ops.Identity(),
    nn.Dropout3d: lambda imp, node, m: ops.Identity(),
    nn.AlphaDropout: lambda imp, node, m: ops.Identity(),
    nn.Softmax: _softmax_module,
    nn.LogSoftmax: _softmax_module,
    nn.AdaptiveMaxPool1d: _adaptive_maxpool, nn.AdaptiveMaxPool2d: _adaptive_maxpool,
    nn.Embedding: _embedding,
    nn.EmbeddingBag: _embedding_bag,
}

#: The modules that may read integer inputs (token ids).
EMBEDDINGS = (nn.Embedding, nn.EmbeddingBag)


def _module_converter(module: nn.Module):
    """The converter for ``module``: the nearest class in its hierarchy with one, provided the
    module still runs that class's ``forward`` (an overridden ``forward`` is traced instead)."""
    for cls in type(module).__mro__:
        converter = _MODULES.get(cls)
        if converter is not None:
            return converter if type(module).forward is cls.forward else None
    return None


class _Root(nn.Module):
    """Holds a bare leaf module (``from_torch(nn.Linear(5, 2), x)``) so it can be traced; the
    node is named after the module's class (``linear``)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.name = type(module).__name__.lower()
        self.add_module(self.name, module)

    @property
    def wrapped(self) -> nn.Module:
        return getattr(self, self.name)

    def forward(self, x):
        return self.wrapped(x)


# ----------------------------------------------------------------------- function converters

def _args(imp, node, spec, method=False):
    names, defaults = spec
    return _bind(imp.where(node), names, defaults, node.args, node.kwargs)


def _cat(imp, node):
    bound = _bind(imp.where(node), ("tensors", "dim"), {"dim": 0}, node.args, node.kwargs)
    tensors = list(bound["tensors"])
    computed = [t for t in tensors if imp.is_tensor(t)]
    if not computed or not all(imp.is_tensor(t) or imp.is_constant(t) for t in tensors):
        raise UnsupportedOpError(f"{imp.where(node)}: torch.cat of non-computed tensors")
    for t in tensors:
        if imp.is_constant(t) and t not in imp.names:   # a class token: a Constant node
            value = imp.values[t]
            if value.dim() != imp.rank(computed[0]) or value.shape[0] != 1:
                raise UnsupportedOpError(f"{imp.where(node)}: torch.cat of a constant of shape "
                                         f"{tuple(value.shape)} that has no batch axis")
            source = next((a.target for a in t.all_input_nodes if a.op == "get_attr"), t.name)
            name = imp.unique(source)
            imp.graph.add_node(name, ops.Constant(value[0]), [imp.names[computed[0]]],
                               shape=tuple(value.shape[1:]))
            imp.names[t] = name
    return ops.Concat(imp.dim_arg(node, bound["dim"], imp.rank(tensors[0]))), tensors


def _first_tensor(node):
    """The tensor a module call or function reads (positional or keyword)."""
    return (list(node.args) + list(node.kwargs.values()))[0]


def _flatten_op(imp, node, start_dim, end_dim, x=None):
    rank = imp.rank(_first_tensor(node) if x is None else x)
    start = imp.dim_arg(node, start_dim, rank)
    end = int(end_dim) + rank if int(end_dim) < 0 else int(end_dim)
    return ops.Flatten(start, end)


def _flatten(imp, node):
    bound = _bind(imp.where(node), ("input", "start_dim", "end_dim"),
                  {"start_dim": 0, "end_dim": -1}, node.args, node.kwargs)
    x = bound["input"]
    return _flatten_op(imp, node, bound["start_dim"], bound["end_dim"], x), [x]


def _reshape(imp, node):
    x, *shape = node.args
    shape = shape or [node.kwargs.get("shape", node.kwargs.get("size"))]
    if len(shape) == 1 and isinstance(shape[0], (list, tuple, torch.Size)):
        shape = list(shape[0])
    if len(shape) == 1 and isinstance(shape[0], fx.Node) and not imp.is_tensor(shape[0]):
        shape = list(imp.value(shape[0]))   # x.view(x.shape)
    out = imp.values[node]
    if out.dim() == 0 or out.shape[0] != imp.values[x].shape[0]:
        raise UnsupportedOpError(
            f"{imp.where(node)}: reshape from {tuple(imp.values[x].shape)} to "
            f"{tuple(out.shape)} mixes the batch axis; keep dim 0 as the batch "
            "(e.g. x.view(x.size(0), -1))")
    tail = []
    for item in shape[1:]:
        literal = isinstance(item, int)
        tail.append(int(item) if literal else int(imp.value(item)))
    if len(tail) != out.dim() - 1:
        tail = list(out.shape[1:])
    return ops.Reshape(tail), [x]


def _reduce(cls, base):
    def convert(imp, node):
        bound = _bind(imp.where(node), *_REDUCE, node.args, node.kwargs)
        x, dim = bound["input"], bound["dim"]
        if bound["dtype"] is not None:
            raise UnsupportedOpError(f"{imp.where(node)}: {base} with dtype={bound['dtype']} "
                                     "changes the dtype inside the graph; cast the input instead")
        if dim is None:
            raise UnsupportedOpError(f"{imp.where(node)}: {base} over all axes includes the "
                                     "batch axis; give the axes (e.g. x.mean((2, 3)))")
        dims = dim if isinstance(dim, (list, tuple)) else (dim,)
        dims = tuple(sorted(imp.dim_arg(node, d, imp.rank(x)) for d in dims))
        return cls(dims, bound["keepdim"]), [x]
    return convert


def _softmax_op(imp, node, log, dim, x=None):
    if dim is None:
        raise UnsupportedOpError(f"{imp.where(node)}: softmax without an explicit dim")
    rank = imp.rank(_first_tensor(node) if x is None else x)
    dim = imp.dim_arg(node, dim, rank)
    return ops.LogSoftmax(dim) if log else ops.Softmax(dim)


def _softmax(log):
    def convert(imp, node):
        bound = _bind(imp.where(node), *_SOFTMAX, node.args, node.kwargs)
        return _softmax_op(imp, node, log, bound["dim"], bound["input"]), [bound["input"]]
    return convert


def _unary(make, names=("input",), defaults=None):
    """Converter for an elementwise function whose parameters are ``names[1:]``."""
    defaults = defaults or {}

    def convert(imp, node):
        bound = _bind(imp.where(node), names + ("inplace",), {**defaults, "inplace": False},
                      node.args, node.kwargs)
        return make(**{k: imp.value(bound[k]) for k in names[1:]}), [bound["input"]]
    return convert


def _maxpool_fn(dim):
    def convert(imp, node):
        b = _args(imp, node, _POOL_MAX)
        if b["return_indices"]:
            raise UnsupportedOpError(f"{imp.where(node)}: max pooling with return_indices")
        stride = b["stride"] if b["stride"] else None
        return ops.MaxPool(dim, b["kernel_size"], stride, b["padding"], b["dilation"],
                           b["ceil_mode"]), [b["input"]]
    return convert


def _avgpool_fn(dim):
    def convert(imp, node):
        b = _args(imp, node, _POOL_AVG)
        stride = b["stride"] if b["stride"] else None
        return ops.AvgPool(dim, b["kernel_size"], stride, b["padding"], b["ceil_mode"],
                           b["count_include_pad"], b["divisor_override"]), [b["input"]]
    return convert


def _adaptive_fn(dim):
    def convert(imp, node):
        b = _bind(imp.where(node), ("input", "output_size"), {}, node.args, node.kwargs)
        return ops.AdaptiveAvgPool(dim, imp.value(b["output_size"])), [b["input"]]
    return convert


def _dropout(imp, node):
    b = _bind(imp.where(node), ("input", "p", "training", "inplace"),
              {"p": 0.5, "training": True, "inplace": False}, node.args, node.kwargs)
    if b["training"] and imp.value(b["p"]):
        raise UnsupportedOpError(f"{imp.where(node)}: dropout with training=True is random; "
                                 "pass training=self.training so it is off in eval mode")
    return ops.Identity(), [b["input"]]


def _identity(imp, node):
    return ops.Identity(), [node.args[0]]


def _getitem(imp, node):
    x, index = node.args
    if x in imp.splits:
        return split_select(imp, node, imp.value(index))
    index = imp.value(index)
    index = index if isinstance(index, tuple) else (index,)
    if index.count(Ellipsis) == 1:   # x[..., ::2, :] spelled out
        at = index.index(Ellipsis)
        fill = imp.rank(x) - (len(index) - 1 - sum(i is None for i in index))
        index = index[:at] + (slice(None),) * fill + index[at + 1:]
    if not index or index[0] != slice(None) or any(i is Ellipsis or i is None for i in index):
        raise UnsupportedOpError(f"{imp.where(node)}: indexing {index} must keep the batch axis "
                                 "whole (x[:, ...]) and use only ints and slices")
    return ops.Select(index[1:]), [x]


_RELU = _unary(ops.ReLU)
_HARDTANH = _unary(lambda min_val, max_val: ops.Hardtanh(min_val, max_val),
                   ("input", "min_val", "max_val"), {"min_val": -1.0, "max_val": 1.0})
_FUNCTIONS: dict = {
    torch.cat: ("cat", _cat), torch.concat: ("cat", _cat), torch.concatenate: ("cat", _cat),
    torch.flatten: ("flatten", _flatten),
    torch.reshape: ("reshape", _reshape),
    torch.mean: ("mean", _reduce(ops.Mean, "mean")), torch.sum: ("sum", _reduce(ops.Sum, "sum")),
    F.relu: ("relu", _RELU), torch.relu: ("relu", _RELU), F.relu_: ("relu", _RELU),
    torch.relu_: ("relu", _RELU),
    F.relu6: ("relu6", _unary(lambda: ops.Hardtanh(0.0, 6.0))),
    F.hardtanh: ("hardtanh", _HARDTANH),
    F.leaky_relu: ("leaky_relu", _unary(lambda negative_slope: ops.LeakyReLU(negative_slope),
                                        ("input", "negative_slope"), {"negative_slope": 0.01})),
    F.elu: ("elu", _unary(lambda alpha: ops.ELU(alpha), ("input", "alpha"), {"alpha": 1.0})),
    torch.tanh: ("tanh", _unary(ops.Tanh)), F.tanh: ("tanh", _unary(ops.Tanh)),
    torch.sigmoid: ("sigmoid", _unary(ops.Sigmoid)), F.sigmoid: ("sigmoid", _unary(ops.Sigmoid)),
    F.softplus: ("softplus", _unary(lambda beta, threshold: ops.Softplus(beta, threshold),
                                    ("input", "beta", "threshold"),
                                    {"beta": 1.0, "threshold": 20.0})),
    F.gelu: ("gelu", _unary(lambda approximate: ops.GELU(approximate),
                            ("input", "approximate"), {"approximate": "none"})),
    F.max_pool1d: ("max_pool", _maxpool_fn(1)), F.max_pool2d: ("max_pool", _maxpool_fn(2)),
    F.max_pool3d: ("max_pool", _maxpool_fn(3)),
    F.avg_pool1d: ("avg_pool", _avgpool_fn(1)), F.avg_pool2d: ("avg_pool", _avgpool_fn(2)),
    F.avg_pool3d: ("avg_pool", _avgpool_fn(3)),
    F.adaptive_avg_pool1d: ("adaptive_avg_pool", _adaptive_fn(1)),
    F.adaptive_avg_pool2d: ("adaptive_avg_pool", _adaptive_fn(2)),
    F.adaptive_avg_pool3d: ("adaptive_avg_pool", _adaptive_fn(3)),
    F.dropout: ("dropout", _dropout), F.dropout1d: ("dropout", _dropout),
    F.dropout2d: ("dropout", _dropout), F.dropout3d: ("dropout", _dropout),
    F.softmax: ("softmax", _softmax(False)), torch.softmax: ("softmax", _softmax(False)),
    F.log_softmax: ("log_softmax", _softmax(True)),
    torch.log_softmax: ("log_softmax", _softmax(True)),
    operator.getitem: ("getitem", _getitem),
}

_METHODS: dict = {
    "view": ("view", _reshape), "reshape": ("reshape", _reshape),
    "flatten": ("flatten", _flatten),
    "mean": ("mean", _reduce(ops.Mean, "mean")), "sum": ("sum", _reduce(ops.Sum, "sum")),
    "relu": ("relu", _RELU), "relu_": ("relu", _RELU),
    "tanh": ("tanh", _unary(ops.Tanh)), "sigmoid": ("sigmoid", _unary(ops.Sigmoid)),
    "softmax": ("softmax", _softmax(False)), "log_softmax": ("log_softmax", _softmax(True)),
    "contiguous": ("contiguous", _identity), "clone": ("clone", _identity),
    "detach": ("detach", _identity),
}


from .torch_attention import CONVERTERS, METHOD_CONVERTERS, decompose  # noqa: E402
from .torch_modern import FUNCTIONS, METHODS, MODULES, SPLITS, split_select  # noqa: E402
from .torch_modern import _split as split  # noqa: E402
from .torch_recurrent import unroll  # noqa: E402

_MODULES.update(MODULES)
_FUNCTIONS.update(FUNCTIONS)
_FUNCTIONS.update(CONVERTERS)
_METHODS.update(METHODS)
_METHODS.update(METHOD_CONVERTERS)


# ------------------------------------------------------------------------------ entry point

class _Tracer(fx.Tracer):
    """Keeps every module the importer converts as a leaf; traces through the rest."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return _module_converter(m) is not None or super().is_leaf_module(m, qualname)


def _trace(module: nn.Module) -> fx.GraphModule:
    try:
        graph = _Tracer().trace(module)
    except (fx.proxy.TraceError, TypeError, RuntimeError, NotImplementedError) as err:
        raise TraceError(
            f"torch.fx cannot trace {type(module).__name__}: {err}. This usually means the "
            "forward has data-dependent control flow (an `if` or loop on tensor values) or "
            "calls non-torch code on tensors; rewrite that part without it, or import the "
            "traceable sub-module.") from err
    return fx.GraphModule(module, graph)


def _run_example(module: nn.Module, inputs) -> None:
    """Run the module on the user's example as given, so a bad example is reported in the
    user's terms (and not as an error on the importer's internal batch of two)."""
    try:
        with torch.no_grad():
            module(*inputs)
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
        raise TraceError(
            f"{type(module).__name__} fails on the example input of shape {shapes}: {err}. "
            "The importer reads axis 0 as the batch axis: if the example is one sample, add "
            "the batch axis (x[None] or x.unsqueeze(0))") from err


def _example_values(gm: fx.GraphModule, inputs) -> dict:
    interpreter = fx.Interpreter(gm, garbage_collect_values=False)
    try:
        with torch.no_grad():
            interpreter.run(*inputs)
    except (RuntimeError, ValueError, IndexError) as err:
        # the module ran on the user's example but not on a batch of two of its first row:
        # its axis 0 is not a batch (torch convolutions accept one unbatched sample)
        shapes = ", ".join(str(tuple(x[:1].shape)) for x in inputs)
        raise TraceError(
            f"the module fails on a batch made of the example's first row {shapes}: "
            f"{str(err).splitlines()[0]}. The importer reads axis 0 as the batch axis: if "
            "the example is one sample, add the batch axis (x[None] or x.unsqueeze(0))") \
            from None
    return interpreter.env


def from_torch(module: nn.Module, example_input, *, canonicalize: bool = True) -> Graph:
    """Import a PyTorch module as a :class:`neon.Graph`.

    Parameters
    ----------
    module : torch.nn.Module
        The model, evaluated in eval mode (Dropout off, BatchNorm with running statistics).
        Its training flag is restored afterwards; its parameters are copied.
    example_input : torch.Tensor or tuple of tensors
        A batch of example inputs (any batch size) to learn shapes from.
    canonicalize : bool
        Apply :func:`neon.rewrites.canonicalize` (fold BatchNorm into the preceding
        Linear/Conv, drop Identity and Dropout). Outputs are equal either way.

    Returns
    -------
    Graph
        Node names are module paths (``layer1.0.conv1``); a module called k times gives
        ``name``, ``name:1``, …; functional ops are named in their module's scope
        (``layer1.0.add``).

    Raises
    ------
    UnsupportedOpError
        For a module, function or method with no exact IR op, naming it and where it is called.
    TraceError
        If torch.fx cannot trace the module (data-dependent control flow).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    if _module_converter(module) is not None:   # a bare leaf module: trace it inside a root
        module = _Root(module)
    inputs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    for x in inputs:
        if not isinstance(x, torch.Tensor) or x.dtype == torch.bool or x.is_complex():
            raise TypeError("example_input must be a floating-point tensor, or an integer "
                            "tensor of token ids read by an nn.Embedding (or a tuple of them)")
        if x.dim() < 2:
            raise ValueError(f"example_input needs a batch axis first; got shape {tuple(x.shape)}")
    if any(not x.is_floating_point() for x in inputs) and \
            not any(isinstance(m, EMBEDDINGS) for m in module.modules()):
        raise TypeError("example_input is an integer tensor, but the model has no nn.Embedding "
                        "or nn.EmbeddingBag to read token ids: give a floating-point example "
                        "(x.float())")
    # a batch of 2 lets the importer tell reshapes that mix the batch axis from those that don't
    traced_inputs = tuple(torch.cat([x[:1], x[:1]]) for x in inputs)
    training = {m: m.training for m in module.modules()}  # restored per submodule
    module.eval()
    try:
        _run_example(module, inputs)
        gm = _trace(module)
        values = _example_values(gm, traced_inputs)
        decomposed = []
        for rewrite in (decompose, unroll):   # attention and recurrent layers written out
            replaced = rewrite(gm, values)
            if replaced:
                values = _example_values(gm, traced_inputs)
                decomposed += replaced
        importer = _Importer(gm, values, module)
        importer.pinned.extend(decomposed)
        graph = importer.run()
    finally:
        for m, flag in training.items():
            m.training = flag
    first = inputs[0]
    graph = graph.to(device=first.device, dtype=_float_dtype(inputs, module))
    missing = [spec.name for spec, x in zip(graph.input_specs, inputs)
               if not x.is_floating_point() and spec.vocabulary is None]
    if missing:
        raise UnsupportedOpError(f"the integer input {missing[0]!r} is read by no embedding; "
                                 "integer inputs are token ids for an nn.Embedding or "
                                 "nn.EmbeddingBag; pass floats otherwise")
    graph.meta["example_input"] = tuple(x[:1].detach().clone() for x in inputs) \
        if len(inputs) > 1 else first[:1].detach().clone()
    graph.declare(source=type(module.wrapped if isinstance(module, _Root) else module).__name__)
    if canonicalize:
        from .rewrites import canonicalize as _canonicalize

        graph = _canonicalize(graph, copy_ops=False)  # the uncanonicalized graph is dropped
    return graph


def _float_dtype(inputs, module: nn.Module) -> torch.dtype:
    """The graph's dtype: the first floating input's, else (token ids only) the module's."""
    for x in inputs:
        if x.is_floating_point():
            return x.dtype
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


# ------------------------------------------------------------------------- extension point

class Call:
    """What a user converter learns about one call site (see :func:`register_converter`).

    Attributes
    ----------
    where : str
        The call site in words, for error messages ("call_module 'block' (fx node …)").
    args, kwargs
        The call's arguments: constants evaluated on the example (``x.size(1)`` is an int),
        tensors computed from the input replaced by their example values.
    tensors : list of torch.Tensor
        The example values of the tensor arguments, in order; the op the converter returns is
        applied to them in this order.
    output : torch.Tensor
        The call's example output (batch of 2).
    """

    def __init__(self, imp, node: fx.Node):
        self.where = imp.where(node)
        self._tensor_nodes = [a for a in _flat_args(node) if imp.is_tensor(a)]
        self.tensors = [imp.values[a] for a in self._tensor_nodes]
        self.args = tuple(_example(imp, a) for a in node.args)
        self.kwargs = {k: _example(imp, v) for k, v in node.kwargs.items()}
        self.output = imp.values[node]


def _flat_args(node: fx.Node) -> list:
    out = []
    for a in list(node.args) + list(node.kwargs.values()):
        out.extend(a if isinstance(a, (list, tuple)) else [a])
    return out


def _example(imp, arg):
    if isinstance(arg, fx.Node):
        return imp.values[arg]
    if isinstance(arg, (list, tuple)):
        return type(arg)(_example(imp, a) for a in arg)
    return arg


def _checked_op(op, call: Call) -> ops.Op:
    if not isinstance(op, ops.Op):
        raise UnsupportedOpError(f"{call.where}: the registered converter returned "
                                 f"{type(op).__name__}, not a neon.ops.Op")
    return op


def register_converter(target):
    """Register how a module type or a function is imported; a decorator.

    Parameters
    ----------
    target : nn.Module subclass, function, or method name (str)
        A module class: ``converter(module, call) -> Op``, applied to the module's input; it
        also serves subclasses that keep the class's ``forward``. A function (``torch.erf``)
        or a tensor method name (``"erf"``): ``converter(call) -> Op``, applied to the call's
        tensor arguments in order (``call.tensors``). ``call`` is a :class:`Call`.

    Returns
    -------
    callable
        The decorator, which returns the converter unchanged.

    Examples
    --------
    >>> class Scale(nn.Module):
    ...     def __init__(self, s): super().__init__(); self.s = nn.Parameter(s)
    ...     def forward(self, x): return x * self.s
    >>> @neon.register_converter(Scale)
    ... def _(module, call):
    ...     return neon.ops.ElementwiseAffine(module.s.detach(), torch.zeros_like(module.s))

    Notes
    -----
    The importer checks nothing about the op's math: the graph reproduces the module only if
    the converter's op computes what the module computes. ``neon.from_torch`` output can be
    compared with the module's own on the example (the project's tests do so for every
    built-in converter).
    """
    if isinstance(target, type) and issubclass(target, nn.Module):
        def decorate(fn):
            def convert(imp, node, module):
                return _checked_op(fn(module, Call(imp, node)), Call(imp, node))
            _MODULES[target] = convert
            return fn
        return decorate
    if isinstance(target, nn.Module):
        raise TypeError(f"register_converter takes the module class, not an instance: use "
                        f"register_converter({type(target).__name__})")
    if callable(target) or isinstance(target, str):
        table = _METHODS if isinstance(target, str) else _FUNCTIONS
        base = target if isinstance(target, str) else getattr(target, "__name__", "call")

        def decorate(fn):
            def convert(imp, node):
                call = Call(imp, node)
                return _checked_op(fn(call), call), call._tensor_nodes
            table[target] = (base, convert)
            return fn
        return decorate
    raise TypeError(f"register_converter takes a module class, a function or a method name, "
                    f"got {target!r}")
