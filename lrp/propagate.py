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

import torch

from . import composites
from .calls import Call, explained_node, target_mask
from .targets import Column, TargetError, select_target

__all__ = ["explain", "Explanation", "TargetError", "select_target", "Column", "walk",
           "explained_node"]


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


def _propagate(graph, xs, target, rules, return_all, start_at="value"):
    with torch.no_grad():
        values = graph.activations(*xs, validated=True)
        start = explained_node(graph)
        out = values[start]
        mask = target_mask(graph, out, target)
        # LRP starts at the explained value, R = f ⊙ mask; gradient-family walks at the mask
        relevance = {start: out * mask if start_at == "value" else mask}
        explained = _per_sample(out * mask)
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


def walk(call: Call, composite, *, start_at: str = "value", return_all: bool = False):
    """The reverse walk of :func:`explain` over a prepared :class:`Call`, chunk by chunk:
    (per-input results, explained output, per-node relevance, table)."""
    rules = composites.resolve(composite).assign(call.graph)
    pieces = [_propagate(call.graph, part, t, rules, return_all, start_at)
              for _, _, part, t in call.chunks()]
    results = [pieces[0][0][i] if len(pieces) == 1 else torch.cat([p[0][i] for p in pieces])
               for i in range(len(call.xs))]
    output = torch.cat([p[1] for p in pieces])
    if not return_all:
        return results, output, None, None
    nodes = {k: torch.cat([p[2][k] for p in pieces]) for k in pieces[0][2]}
    table = []
    for i, row in enumerate(pieces[0][3]):
        merged = dict(row)
        for key in ("relevance_in", "relevance_out", "absorbed"):
            merged[key] = torch.cat([p[3][i][key] for p in pieces])
        table.append(merged)
    return results, output, nodes, table


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
    tensor, ndarray, DataFrame or Explanation
        The relevance, shaped like ``x`` (a tuple for several inputs), or an
        :class:`Explanation` with ``return_all=True``.

    Notes
    -----
    The relevance starts at the explained output's value, R = f(x) ⊙ mask, so with
    conserving rules Σ_i R_i = f(x). A ZBox rule checks that its input lies in its box.
    Reference: Bach et al., "On pixel-wise explanations for non-linear classifier decisions
    by layer-wise relevance propagation", PLoS ONE 2015.
    """
    if not isinstance(return_all, bool):
        raise TypeError(f"return_all must be True or False, got {return_all!r}")
    call = Call(graph, x, target, batch_size, method="lrp.explain", as_frame=as_frame)
    results, output, nodes, table = walk(call, composite, return_all=return_all)
    relevance = call.finish(results)
    if not return_all:
        return relevance
    return Explanation(relevance, output, nodes, table)
