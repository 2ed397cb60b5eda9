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

from neon.graph import Graph
from neon.ops import Softmax

from . import composites
from .targets import Column, TargetError, resolve_target, select_target

__all__ = ["explain", "Explanation", "TargetError", "select_target", "Column"]


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
    if isinstance(node.op, Softmax):      # LogSoftmax too
        return node.inputs[0]
    return graph.output


def _propagate(graph, xs, target, rules, return_all):
    with torch.no_grad():
        values = graph.activations(*xs, validated=True)
        start = explained_node(graph)
        out = values[start]
        default = graph.default_target
        if callable(target) and not isinstance(target, (torch.Tensor, np.ndarray, Column)):
            target = target(out)          # read like a target given directly (labels, …)
        target = resolve_target(graph, target, out.shape[0], tuple(out.shape))
        if isinstance(target, torch.Tensor) and target.is_floating_point() and \
                target.shape == out.shape and _is_the_prediction(target, out):
            raise TargetError(
                "the target equals the graph's own output: a float target is a mask "
                "(R starts at f ⊙ mask), so this would explain f². For a regressor, "
                "target=None explains every output and lrp.Column(k) one of them")
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
            rule.check(node.op, args, f"node {node.name!r}")
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


def _is_the_prediction(mask, out) -> bool:
    """Whether a float mask is the output itself (``target=model.predict(X)`` on a
    regressor), not a 0/1 or weighting mask."""
    binary = bool(((mask == 0) | (mask == 1)).all())
    return not binary and bool(torch.allclose(mask.to(out.dtype), out, rtol=1e-6, atol=1e-9))


def _check_graph(graph):
    if isinstance(graph, Graph):
        return
    kind = type(graph).__name__
    if isinstance(graph, torch.nn.Module):
        raise TypeError(f"lrp.explain takes a neon.Graph, got the torch module {kind}: import it "
                        "first, graph = neon.neuralize(model, example_input), and explain the "
                        "graph (reuse it across calls)")
    if hasattr(graph, "fit") and hasattr(graph, "get_params"):
        raise TypeError(f"lrp.explain takes a neon.Graph, got the scikit-learn estimator {kind}: "
                        "neuralize it first, graph = neon.neuralize(model, X), and explain the "
                        "graph")
    raise TypeError(f"lrp.explain takes a neon.Graph (from neon.neuralize), got {kind}")


def _split_inputs(graph, x):
    """(list of inputs, whether the user gave a tuple of per-input arrays)."""
    n_inputs = len(graph.input_specs)
    if isinstance(x, (tuple, list)):
        per_input = n_inputs > 1 or (
            len(x) == 1 and isinstance(x[0], (torch.Tensor, np.ndarray))
            and x[0].ndim == len(graph.input_specs[0].shape) + 1)
        if per_input:
            return list(x), True
    return [x], False


def _check_batch_size(batch_size):
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _slice_target(target, n, start, stop):
    """The part of a per-sample target that belongs to samples start … stop."""
    if isinstance(target, Column):
        if target.index.ndim == 0:
            return target
        if len(target.index) != n:
            raise TargetError(f"give one target per sample: the input has {n} samples, "
                              f"the lrp.Column {len(target.index)}")
        return Column(target.index[start:stop])
    if isinstance(target, (torch.Tensor, np.ndarray, list, tuple)) or hasattr(target, "iloc"):
        if getattr(target, "ndim", 1) == 0:
            return target
        if len(target) != n:
            raise TargetError(f"give one target per sample: the input has {n} samples, "
                              f"the target {len(target)}")
        if hasattr(target, "iloc"):
            return target.iloc[start:stop]
        return target[start:stop]
    return target


def _align_target(target, frame):
    """A pandas Series target follows its index: aligned to a DataFrame input's rows."""
    if not (hasattr(target, "index") and hasattr(target, "to_numpy")) or \
            hasattr(target, "columns"):
        return target
    if frame is None or target.index.equals(frame.index):
        return target.to_numpy()
    if len(target) == len(frame) and set(target.index) == set(frame.index):
        return target.reindex(frame.index).to_numpy()
    raise TargetError("the target Series' index does not match the input DataFrame's rows; "
                      "align them (target.loc[X.index]) or pass target.to_numpy()")


def _as_frame(relevance, graph, frame):
    import pandas as pd

    if relevance.ndim != 2:
        raise ValueError("as_frame=True needs tabular (N, features) input")
    columns = frame.columns if frame is not None else (
        graph.feature_names or [f"x{i}" for i in range(relevance.shape[1])])
    index = frame.index if frame is not None else None
    return pd.DataFrame(relevance, columns=columns, index=index)


def explain(graph, x, target=None, composite=None, *, return_all: bool = False,
            batch_size: int | None = None, as_frame: bool | None = None):
    """Layer-wise relevance of ``x`` for the graph's (selected) output.

    Parameters
    ----------
    graph : neon.Graph
        From :func:`neon.neuralize` (a torch module or an estimator must be neuralized first).
    x : tensor, ndarray, DataFrame or list of rows; a tuple of them for a graph with several
        inputs
        A batch, batch axis first (:meth:`neon.Graph.check_inputs` says what is accepted and
        how dtypes are converted). Tensors in, tensors out; numpy in (or lists), numpy out;
        a DataFrame in gives a DataFrame out with its columns and index.
    target : None, label, sequence of labels, lrp.Column, float mask, or callable
        Which output to explain (see :mod:`lrp.targets`). For graphs that declare output
        labels (scikit-learn classifiers, clusterers, pipelines) targets are **labels** of
        the estimator's own type, so ``target=model.predict(X)`` explains the predicted
        classes; ``lrp.Column(i)`` picks output columns by position. For torch graphs and
        regressors, integers are column indices. Default: the predicted class, or the
        output the graph declares (``graph.default_target``).
    composite : lrp.Composite, preset name, preset class, or a Rule, optional
        Rule assignment (:func:`lrp.composites.resolve`): a Composite; a preset by name
        (``"EpsilonPlusFlat"``) or class (``lrp.EpsilonPlusFlat``); a bare Rule, applied to
        every node it handles. Default: every node gets its op category's default rule
        (ε = 1e-6 on Linear/Conv, the NEON rules on neuralized models).
    return_all : bool
        Return an :class:`Explanation` with every node's relevance and a conservation table.
    batch_size : int, optional
        Explain in chunks of this many samples to bound memory.
    as_frame : bool, optional
        Return a pandas DataFrame (columns: the graph's feature names). Default: only for
        DataFrame input.

    Returns
    -------
    relevance shaped like ``x`` (a tuple for several inputs), or an :class:`Explanation`.

    Notes
    -----
    The relevance starts at the explained output's value, R = f(x) ⊙ mask, so with
    conserving rules Σ_i R_i = f(x). A ZBox rule checks that its input lies in its box.
    Reference: Bach et al., "On pixel-wise explanations for non-linear classifier decisions
    by layer-wise relevance propagation", PLoS ONE 2015.
    """
    _check_graph(graph)
    if not isinstance(return_all, bool):
        raise TypeError(f"return_all must be True or False, got {return_all!r}")
    if as_frame is not None and not isinstance(as_frame, bool):
        raise TypeError(f"as_frame must be None, True or False, got {as_frame!r}")
    xs, multi = _split_inputs(graph, x)
    frame = xs[0] if not multi and hasattr(xs[0], "columns") else None
    target = _align_target(target, frame)
    to_numpy = any(not isinstance(v, torch.Tensor) for v in xs)
    xs = graph.check_inputs(*xs)
    rules = composites.resolve(composite).assign(graph)
    n = xs[0].shape[0]
    if n == 0:
        raise ValueError(f"x holds no samples (shape {tuple(xs[0].shape)}); give at least one")
    batch_size = _check_batch_size(batch_size)
    chunk = n if batch_size is None else batch_size
    pieces = []
    for start in range(0, n, chunk):
        part = [v[start:start + chunk] for v in xs]
        t = _slice_target(target, n, start, start + chunk) if chunk < n else target
        pieces.append(_propagate(graph, part, t, rules, return_all))
    results = [pieces[0][0][i] if len(pieces) == 1 else torch.cat([p[0][i] for p in pieces])
               for i in range(len(xs))]
    if to_numpy or as_frame:
        results = [r.detach().cpu().numpy() for r in results]
    if as_frame or (as_frame is None and frame is not None):
        results[0] = _as_frame(results[0], graph, frame)
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
