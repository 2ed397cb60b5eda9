"""Graphs that read token ids, seen from their embedding vectors.

A text model's input is integer token ids, and neither gradients nor relevance reach
integers: explanations are computed at the embedding vectors, the first real-valued tensors,
and one value per token is their sum over the embedding axis,

    R_t = Σ_d R_{t,d},

with padding tokens given none. :func:`embedded` is that change of viewpoint: a view of the
graph whose inputs are the embedding vectors (the lookups cut off; every other node, op and
name shared with the graph), and the vectors of given ids. Every method of :mod:`lrp` takes
token ids and explains through the view (:class:`lrp.calls.Call`); call a method on the view
yourself for relevance per embedding dimension.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .graph import Graph
from .ops import Embedding

__all__ = ["embedded", "TokenView", "has_tokens"]


def has_tokens(graph: Graph) -> bool:
    """Whether any input of ``graph`` holds token ids."""
    return any(spec.vocabulary is not None for spec in graph.input_specs)


@dataclass(frozen=True)
class _Source:
    """Where a view input comes from: a graph input as it is (``lookup`` None), or the
    embedding node ``lookup`` applied to the token input ``token``."""

    token: int
    lookup: str | None = None


class TokenView:
    """The graph seen from its embedding vectors (see the module notes).

    Attributes
    ----------
    graph : neon.Graph
        Inputs: the graph's real-valued inputs, then one per embedding node, named after it
        (an ``nn.EmbeddingBag``'s lookup node, ``<bag>.embedding``), shaped (tokens, dim).
    sources : list
        Per view input, the graph input and lookup it stands for.
    """

    def __init__(self, graph: Graph):
        self.source = graph
        self.graph = view = Graph()
        self.sources: list[_Source] = []
        lookups = [n for n in graph.nodes if isinstance(n.op, Embedding)]
        for i, spec in enumerate(graph.input_specs):
            if spec.vocabulary is None:
                view.add_input(spec.name, spec.shape)
                self.sources.append(_Source(i))
        for node in lookups:
            (ids,) = node.inputs
            index = graph.input_names.index(ids)
            view.add_input(node.name, graph.input_specs[index].shape + (node.op.dim,))
            self.sources.append(_Source(index, node.name))
        for node in graph.nodes:
            if not isinstance(node.op, Embedding):
                view.add_node(node.name, node.op, node.inputs, **node.meta)
        view.set_output(graph.output)
        view.aliases = dict(graph.aliases)
        view.meta = {k: v for k, v in graph.meta.items() if k != "example_input"}
        view.copy_declarations(graph)
        view.feature_names = None        # they name tokens, not embedding dimensions
        self.version = graph.version

    def inputs(self, xs) -> list[torch.Tensor]:
        """The view's inputs for the graph's validated inputs ``xs``: embedding vectors of
        the token ids (no autograd graph), real-valued inputs as they are."""
        with torch.no_grad():
            return [xs[s.token] if s.lookup is None else
                    self.source[s.lookup].op(xs[s.token]) for s in self.sources]

    def collapse(self, results, xs) -> list[torch.Tensor]:
        """Per graph input, the view's results brought back: a token input gets, per token,
        the sum over the embedding axis of what its lookups received (0 at padding)."""
        out = [None] * len(self.source.input_specs)
        for s, r in zip(self.sources, results):
            if s.lookup is None:
                out[s.token] = r
                continue
            per_token = r.sum(-1)
            pad = self.source[s.lookup].op.padding_idx
            if pad is not None:
                per_token = per_token.masked_fill(xs[s.token] == pad, 0)
            out[s.token] = per_token if out[s.token] is None else out[s.token] + per_token
        return out


def embedded(graph: Graph, *xs):
    """The view of ``graph`` from its embedding vectors and, given token ids ``xs`` (one per
    graph input, validated like ``graph(*xs)``), their embedding vectors.

    Returns
    -------
    view : neon.Graph, or (view, inputs)
        ``inputs``: a tensor, or a tuple for a view of several inputs; ``view(inputs)``
        equals ``graph(*xs)``; explaining ``view`` at ``inputs`` with any
        method of :mod:`lrp` gives relevance per token and embedding dimension.

    Examples
    --------
    >>> view, vectors = neon.tokens.embedded(graph, ids)          # doctest: +SKIP
    >>> per_dimension = lrp.gradient_x_input(view, vectors)      # (N, tokens, dim)
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"embedded takes a neon.Graph, got {type(graph).__name__}")
    if not has_tokens(graph):
        raise ValueError("the graph has no token-id input (no nn.Embedding reads an input); "
                         "explain it directly")
    view = token_view(graph)
    if not xs:
        return view.graph
    inputs = view.inputs(graph.check_inputs(*xs))
    return view.graph, inputs[0] if len(inputs) == 1 else tuple(inputs)


def token_view(graph: Graph) -> TokenView:
    """The graph's :class:`TokenView`, built once per version of the graph."""
    cached = graph.__dict__.get("_token_view")
    if cached is None or cached.version != graph.version:
        cached = TokenView(graph)
        object.__setattr__(graph, "_token_view", cached)   # not a submodule, not copied
    return cached
