"""Rewrites: functions Graph → Graph that keep the graph's outputs equal.

Each rewrite returns a new graph and records, in ``graph.aliases``, which node now computes a
removed node's value, so ``graph.forward(x, keep=["bn1"])`` still finds a folded BatchNorm.
"""

from __future__ import annotations

import copy

import torch

from . import ops
from .graph import Graph

__all__ = ["canonicalize", "fold_batchnorm", "drop_identities", "rebuild"]


def rebuild(graph: Graph, replace: dict | None = None, remove: dict | None = None, *,
            copy_ops: bool = True) -> Graph:
    """Copy ``graph``, swapping ops (``replace``: name → op) and removing nodes.

    ``remove`` maps each removed node to the node whose value replaces it for its consumers.
    ``copy_ops=False`` moves the unchanged ops into the new graph instead of copying them
    (for a caller that discards ``graph``: no second copy of every weight).
    """
    replace, remove = replace or {}, remove or {}
    new = Graph()
    for spec in graph.input_specs:
        new.add_input(spec.name, spec.shape, vocabulary=spec.vocabulary)
    new.aliases = dict(graph.aliases)

    def target(name):
        while name in remove:
            name = remove[name]
        return name

    for node in graph.nodes:
        if node.name in remove:
            new.aliases[node.name] = target(node.name)
            continue
        op = replace.get(node.name) or (copy.deepcopy(node.op) if copy_ops else node.op)
        new.add_node(node.name, op, [target(i) for i in node.inputs], **node.meta)
    new.output = target(graph.output)
    new.meta = dict(graph.meta)
    new.copy_declarations(graph)
    return new.to(graph.device)


def drop_identities(graph: Graph, *, copy_ops: bool = True) -> Graph:
    """Remove Identity nodes (nn.Identity, Dropout in eval, ``.contiguous()``)."""
    remove = {n.name: n.inputs[0] for n in graph.nodes if n.kind == "identity"}
    return rebuild(graph, remove=remove, copy_ops=copy_ops) if remove else graph


def fold_batchnorm(graph: Graph, *, copy_ops: bool = True) -> Graph:
    """Fold each BatchNorm into the Linear/Conv that feeds it alone.

    With the BatchNorm y = s ⊙ z + t after z = W a + b: W' = s ⊙ W (per output unit),
    b' = s ⊙ b + t. A BatchNorm whose input is not an affine op read only by it (after a
    concatenation, or an affine op with several consumers) stays an elementwise affine op.
    A Linear is folded only when its output is (N, features), so the channel axes agree.
    """
    replace, remove = {}, {}
    for node in graph.nodes:
        if node.kind != "batchnorm":
            continue
        src = graph[node.inputs[0]] if graph.is_op_node(node.inputs[0]) else None
        # exactly Linear or Conv: a subclass (RootedLinear) carries more than W and b
        if src is None or type(src.op) not in (ops.Linear, ops.Conv) or src.name in replace:
            continue
        if len(graph.consumers(src.name)) != 1 or src.name == graph.output:
            continue
        if isinstance(src.op, ops.Linear) and len(src.meta.get("shape", (0,))) != 1:
            continue
        replace[src.name] = _fold(src.op, node.op)
        remove[node.name] = src.name
    return rebuild(graph, replace, remove, copy_ops=copy_ops) if replace else graph


def _fold(affine: ops.Affine, bn: ops.BatchNorm) -> ops.Affine:
    scale, shift = bn.scale, bn.shift
    weight = affine.weight * scale.reshape((-1,) + (1,) * (affine.weight.dim() - 1))
    bias = shift if affine.bias is None else affine.bias * scale + shift
    folded = ops.Linear(weight, bias) if isinstance(affine, ops.Linear) else ops.Conv(
        weight, bias, stride=affine.stride, padding=affine.padding, dilation=affine.dilation,
        groups=affine.groups)
    return folded


def canonicalize(graph: Graph, *, copy_ops: bool = True) -> Graph:
    """Drop identities, then fold BatchNorm into preceding affine ops.

    ``copy_ops=False`` lets the result reuse ``graph``'s unchanged ops (``graph`` must then be
    discarded); :func:`neon.from_torch` uses it to avoid copying every weight twice.
    """
    with torch.no_grad():
        return fold_batchnorm(drop_identities(graph, copy_ops=copy_ops), copy_ops=copy_ops)
