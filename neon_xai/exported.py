"""PyTorch programs saved with ``torch.export`` as ordinary modules the importer reads.

``torch.export.load(path).module()`` is an fx graph of ATen operators
(``aten.conv2d.default``, ``aten.linear.default``, …) on lifted parameters. Each operator is
mapped back to what a model's own code would call: the layers that hold weights become
modules (``nn.Conv2d``, ``nn.Linear``, ``nn.BatchNorm2d``, ``nn.Embedding``) so that
BatchNorm folding and every module converter apply; the rest become the torch functions
:mod:`neon.torch_import` converts (``aten.relu`` → ``torch.relu``, ``aten.view`` →
``torch.reshape``, …). An operator without a mapping is refused by name.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

__all__ = ["module_from_export", "ExportError"]

aten = torch.ops.aten


class ExportError(ValueError):
    """A torch.export program that cannot be read back as a module."""


def _fn(target):
    return lambda args, kwargs: (target, args, kwargs)


def _dropout(args, kwargs):
    return (torch.nn.functional.dropout, (args[0],), {"p": 0.0, "training": False})


# ATen operator → (torch function, args, kwargs) for the functions the importer converts
FUNCTIONS = {
    aten.relu.default: _fn(torch.relu), aten.relu_.default: _fn(torch.relu),
    aten.sigmoid.default: _fn(torch.sigmoid), aten.tanh.default: _fn(torch.tanh),
    aten.gelu.default: _fn(F.gelu), aten.silu.default: _fn(F.silu),
    aten.hardtanh.default: _fn(F.hardtanh), aten.leaky_relu.default: _fn(F.leaky_relu),
    aten.elu.default: _fn(F.elu), aten.softplus.default: _fn(F.softplus),
    aten.softmax.int: _fn(torch.softmax), aten._softmax.default: _fn(torch.softmax),
    aten.log_softmax.int: _fn(torch.log_softmax),
    aten.flatten.using_ints: _fn(torch.flatten),
    aten.view.default: _fn(torch.reshape), aten.reshape.default: _fn(torch.reshape),
    aten._unsafe_view.default: _fn(torch.reshape),
    aten.permute.default: _fn(torch.permute), aten.transpose.int: _fn(torch.transpose),
    aten.unsqueeze.default: _fn(torch.unsqueeze), aten.squeeze.dim: _fn(torch.squeeze),
    aten.cat.default: _fn(torch.cat),
    aten.add.Tensor: _fn(torch.add), aten.mul.Tensor: _fn(torch.mul),
    aten.sub.Tensor: _fn(torch.sub), aten.div.Tensor: _fn(torch.div),
    aten.mean.dim: _fn(torch.mean), aten.sum.dim_IntList: _fn(torch.sum),
    aten.max_pool1d.default: _fn(F.max_pool1d), aten.max_pool2d.default: _fn(F.max_pool2d),
    aten.avg_pool1d.default: _fn(F.avg_pool1d), aten.avg_pool2d.default: _fn(F.avg_pool2d),
    aten.adaptive_avg_pool1d.default: _fn(F.adaptive_avg_pool1d),
    aten.adaptive_avg_pool2d.default: _fn(F.adaptive_avg_pool2d),
    aten.layer_norm.default: _fn(F.layer_norm),
    aten.dropout.default: _dropout, aten.clone.default: _fn(torch.clone),
    aten.contiguous.default: _fn(torch.clone),
    operator.getitem: _fn(operator.getitem),
}


def _with_weights(module: nn.Module, weight, bias) -> nn.Module:
    """``module`` holding the exported program's ``weight`` (and ``bias``)."""
    with torch.no_grad():
        module.weight.copy_(weight)
        if bias is not None:
            module.bias.copy_(bias)
    return module


def _conv(args, values):
    x, w, b = args[0], values[args[1]], values.get(args[2]) if len(args) > 2 else None
    given = list(args[3:7])                   # stride, padding, dilation, groups
    stride, padding, dilation, groups = given + [1, 0, 1, 1][len(given):]
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[w.dim() - 2]
    m = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=stride,
            padding=padding, dilation=dilation, groups=groups, bias=b is not None)
    return _with_weights(m, w, b), x


def _linear(args, values):
    w, b = values[args[1]], values.get(args[2]) if len(args) > 2 else None
    return _with_weights(nn.Linear(w.shape[1], w.shape[0], bias=b is not None), w, b), args[0]


def _batch_norm(args, values, rank):
    x, w, b, mean, var = args[:5]
    eps = args[7] if len(args) > 7 else 1e-5
    mean, var = values[mean], values[var]
    cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[rank]
    m = cls(mean.shape[0], eps=eps, affine=w is not None)
    with torch.no_grad():
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
    if w is not None:
        _with_weights(m, values[w], values[b])
    return m.eval(), x


def _embedding(args, values):
    w, ids = values[args[0]], args[1]
    padding = args[2] if len(args) > 2 and args[2] >= 0 else None
    return _with_weights(nn.Embedding(w.shape[0], w.shape[1], padding_idx=padding), w,
                         None), ids


MODULES = {aten.conv1d.default: _conv, aten.conv2d.default: _conv, aten.conv3d.default: _conv,
           aten.linear.default: _linear, aten.embedding.default: _embedding}


def module_from_export(program) -> fx.GraphModule:
    """An ``nn.Module`` (an fx GraphModule of standard modules and torch functions) that
    computes what the exported ``program`` (a ``torch.export.ExportedProgram``) computes."""
    gm = program.module()
    root = nn.Module()
    graph = fx.Graph()
    env, values, count = {}, {}, [0]

    def value_of(node):
        return values.get(node)

    def constant(tensor):
        count[0] += 1
        name = f"constant_{count[0]}"
        root.register_buffer(name, tensor.detach().clone())
        return graph.get_attr(name)

    def arg(a):
        if isinstance(a, fx.Node):
            if a in env:
                return env[a]
            if a in values:                     # a parameter used as a plain tensor
                env[a] = constant(values[a])
                return env[a]
            raise ExportError(f"the exported program uses {a.name!r} before it is defined")
        if isinstance(a, (list, tuple)):
            return type(a)(arg(v) for v in a)
        return a

    batch = example_shape = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            env[node] = graph.placeholder(node.name)
            val = node.meta.get("val")
            if batch is None and isinstance(val, torch.Tensor) and val.dim() > 0:
                batch, example_shape = val.shape[0], tuple(val.shape)
        elif node.op == "get_attr":
            values[node] = _attribute(gm, node.target)
        elif node.op == "call_module":
            continue                            # torch.export's input guards
        elif node.op == "call_function":
            target = node.target
            if target in MODULES or target is aten.batch_norm.default:
                if target is aten.batch_norm.default:
                    rank = node.args[0].meta["val"].dim() if "val" in node.args[0].meta \
                        else 4
                    module, x = _batch_norm(node.args, values, rank)
                else:
                    module, x = MODULES[target](node.args, values)
                name = f"{node.name}"
                root.add_module(name, module)
                env[node] = graph.call_module(name, (arg(x),))
            elif target in FUNCTIONS:
                fn, args, kwargs = FUNCTIONS[target](node.args, node.kwargs)
                val = node.meta.get("val")
                if fn is torch.reshape and isinstance(val, torch.Tensor) and val.dim() and \
                        val.shape[0] == batch:      # the example's batch size written in
                    args = (args[0], [-1, *val.shape[1:]])
                env[node] = graph.call_function(fn, arg(tuple(args)), arg(dict(kwargs)))
            else:
                raise ExportError(
                    f"the exported program calls {target}, which has no mapping to a module "
                    "or function the importer reads; export the model's layers it supports "
                    "(docs: the PyTorch import) or save the module's state_dict instead")
        elif node.op == "output":
            out = node.args[0]
            if isinstance(out, (tuple, list)):
                if len(out) != 1:
                    raise ExportError(f"the exported program returns {len(out)} outputs; "
                                      "export a module that returns one tensor")
                out = out[0]
            graph.output(arg(out))
    module = fx.GraphModule(root, graph)
    module.example_shape = example_shape     # the exported example's input shape
    return module.eval()


def _attribute(gm, path: str):
    obj = gm
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj.detach() if isinstance(obj, torch.Tensor) else obj
