"""The relevance propagator: one reverse walk over a :class:`neon.Graph`.

1. forward with every activation kept (no autograd graph);
2. pick the explained output (a class, one class per sample, a mask, a callable; default the
   predicted class, or what the graph declares as ``graph.default_target``);
3. start the relevance at that output's value, R = f(x) ⊙ mask;
4. walk the nodes in reverse topological order, each node's rule mapping the relevance of its
   output to its inputs, fan-out nodes summing what their consumers send;
5. return the input relevance, shaped and typed like ``x`` (numpy in, numpy out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .composites import Composite

__all__ = ["explain", "Explanation", "TargetError", "select_target"]


class TargetError(ValueError):
    """The requested target does not fit the graph's output."""


@dataclass
class Explanation:
    """Everything one propagation computed.

    Attributes
    ----------
    relevance : tensor or ndarray
        Relevance of the (first) graph input, shaped like it.
    output : tensor
        The explained output f(x) per sample (Σ of the start relevance), shape (N,).
    nodes : dict
        Relevance at every node's output (inputs included), keyed by node name.
    table : list of dict
        Per node: ``relevance_in`` (arriving at its output), ``relevance_out`` (sent to its
        inputs), ``absorbed`` (their difference: biases and stabilizers), each per sample.
    """

    relevance: object
    output: torch.Tensor
    nodes: dict
    table: list

    def conservation(self) -> str:
        """The conservation table as text: totals over the batch per node."""
        rows = [("node", "rule", "relevance in", "relevance out", "absorbed")]
        for row in self.table:
            rows.append((row["node"], row["rule"], f"{float(row['relevance_in'].sum()):.6g}",
                         f"{float(row['relevance_out'].sum()):.6g}",
                         f"{float(row['absorbed'].sum()):.3g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _per_sample(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).sum(1)


def explained_node(graph) -> str:
    """The node whose value is explained: the output, or the logits before an output softmax."""
    node = graph[graph.output]
    if node.kind in ("softmax", "log_softmax"):
        return node.inputs[0]
    return graph.output


def select_target(out: torch.Tensor, target) -> torch.Tensor:
    """Turn ``target`` into a mask/weight tensor shaped like ``out``.

    ``target``: None (the predicted class, argmax over axis 1; all of a (N,) or (N, 1)
    output), an int, one int per sample, a mask shaped like the output, or a callable
    ``out -> any of these``.
    """
    n = out.shape[0]
    if callable(target) and not isinstance(target, (torch.Tensor, np.ndarray)):
        return select_target(out, target(out))
    if target is None:
        if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
            return torch.ones_like(out)
        if out.dim() != 2:
            raise TargetError(f"output of shape {tuple(out.shape)}: give a target mask shaped "
                              "like it (the predicted class is defined for (N, C) outputs)")
        target = out.argmax(1)
    if isinstance(target, (int, np.integer)):
        target = torch.full((n,), int(target), dtype=torch.long, device=out.device)
    target = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor)
                             else target, device=out.device)
    is_mask = target.dtype.is_floating_point or target.dtype == torch.bool
    if target.dim() == 0 and not is_mask:  # a class as a 0-d tensor or array
        target = target.reshape(1).expand(n)
    if is_mask or (target.dim() >= 2 and tuple(target.shape) == tuple(out.shape)):
        if tuple(target.shape) != tuple(out.shape):
            raise TargetError(f"a target mask must be shaped like the output "
                              f"{tuple(out.shape)}, got {tuple(target.shape)}")
        if not bool(torch.isfinite(target.to(out.dtype)).all()):
            raise TargetError("the target mask contains NaN or infinite values")
        return target.to(out.dtype)
    if out.dim() < 2:
        raise TargetError(f"class targets need an (N, C) output; this graph's output has shape "
                          f"{tuple(out.shape)}: use target=None or a mask")
    if target.dim() != 1 or target.shape[0] != n:
        raise TargetError(f"give one class per sample: expected shape ({n},), got "
                          f"{tuple(target.shape)}")
    classes = out.shape[1]
    if bool(((target < 0) | (target >= classes)).any()):
        bad = target[(target < 0) | (target >= classes)][0].item()
        raise TargetError(f"target class {bad} is out of range: the output has {classes} "
                          f"classes (0 … {classes - 1})")
    mask = torch.zeros_like(out)
    mask.reshape(n, classes, -1)[torch.arange(n, device=out.device), target.long()] = 1
    return mask


def _propagate(graph, xs, target, rules, return_all):
    with torch.no_grad():
        values = graph.activations(*xs, validated=True)
        start = explained_node(graph)
        out = values[start]
        default = graph.default_target
        mask = select_target(out, default if target is None and default is not None else target)
        relevance = {start: out * mask}
        explained = _per_sample(relevance[start])
        record, table = ({}, []) if return_all else (None, None)
        for node in reversed(graph.nodes):
            r = relevance.pop(node.name, None)
            if r is None:
                continue
            rule = rules[node.name]
            args = [values[i] for i in node.inputs]
            sent = rule(node.op, args, values[node.name], r)
            if return_all:
                record[node.name] = r
                r_in = _per_sample(r)
                r_out = sum(_per_sample(s) for s in sent)
                table.append(dict(node=node.name, rule=repr(rule), relevance_in=r_in,
                                  relevance_out=r_out, absorbed=r_in - r_out))
            for name, s in zip(node.inputs, sent):
                relevance[name] = s if name not in relevance else relevance[name] + s
        results = [relevance[name] if name in relevance else torch.zeros_like(values[name])
                   for name in graph.input_names]
        if return_all:
            record.update({name: r for name, r in zip(graph.input_names, results)})
        return results, explained, record, table


def explain(graph, x, target=None, composite: Composite | None = None, *,
            return_all: bool = False, batch_size: int | None = None):
    """Layer-wise relevance of ``x`` for the graph's (selected) output.

    Parameters
    ----------
    graph : neon.Graph
    x : tensor or ndarray, or a tuple of them for a graph with several inputs
        A batch, batch axis first. numpy in gives numpy out; tensors in, tensors out.
    target : None, int, sequence of int, mask, or callable
        Which output to explain (see :func:`select_target`). Default: the predicted class,
        or ``graph.default_target`` when the graph declares one (neuralized regressors).
    composite : lrp.Composite, optional
        Rule assignment. Default: every node gets its op category's default rule
        (ε = 1e-6 on Linear/Conv, the NEON rules on neuralized models).
    return_all : bool
        Return an :class:`Explanation` with every node's relevance and a conservation table.
    batch_size : int, optional
        Explain in chunks of this many samples to bound memory.

    Returns
    -------
    relevance shaped like ``x`` (a tuple for several inputs), or an :class:`Explanation`.

    Notes
    -----
    The relevance starts at the explained output's value, R = f(x) ⊙ mask, so with
    conserving rules Σ_i R_i = f(x). Reference: Bach et al., "On pixel-wise explanations for
    non-linear classifier decisions by layer-wise relevance propagation", PLoS ONE 2015.
    """
    multi = isinstance(x, (tuple, list))
    xs = list(x) if multi else [x]
    from_numpy = any(isinstance(v, np.ndarray) for v in xs)
    xs = graph.check_inputs(*xs)
    if composite is None:
        composite = Composite()
    rules = composite.assign(graph)
    n = xs[0].shape[0]
    if n == 0:
        raise ValueError(f"x holds no samples (shape {tuple(xs[0].shape)}); give at least one")
    chunk = n if batch_size is None else int(batch_size)
    if chunk < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    pieces = []
    for start in range(0, n, chunk):
        part = [v[start:start + chunk] for v in xs]
        t = target
        if isinstance(target, (torch.Tensor, np.ndarray, list, tuple)) and chunk < n \
                and getattr(target, "ndim", 1) > 0:
            if len(target) != n:
                raise TargetError(f"give one target per sample: the input has {n} samples, "
                                  f"the target {len(target)}")
            t = target[start:start + chunk]
        pieces.append(_propagate(graph, part, t, rules, return_all))
    results = [torch.cat([p[0][i] for p in pieces]) for i in range(len(xs))]
    if from_numpy:
        results = [r.detach().cpu().numpy() for r in results]
    relevance = tuple(results) if multi else results[0]
    if not return_all:
        return relevance
    output = torch.cat([p[1] for p in pieces])
    nodes = {k: torch.cat([p[2][k] for p in pieces]) for k in pieces[0][2]}
    table = []
    for i, row in enumerate(pieces[0][3]):
        merged = dict(row)
        for key in ("relevance_in", "relevance_out", "absorbed"):
            merged[key] = torch.cat([p[3][i][key] for p in pieces])
        table.append(merged)
    return Explanation(relevance, output, nodes, table)
