"""Selectors: predicates on graph nodes that composites use to assign rules.

A selector is called as ``selector(graph, node) -> bool`` and combines with ``&``, ``|`` and
``~``. Selection by op kind, node-name glob, position (first layers that read the input, last
layers before the output) or any predicate.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

__all__ = ["Selector", "kind", "name", "first", "last", "where", "everything"]

AFFINE = ("linear", "conv")


class Selector:
    """A named predicate ``(graph, node) -> bool``."""

    def __init__(self, predicate: Callable, description: str):
        self.predicate = predicate
        self.description = description

    def __call__(self, graph, node) -> bool:
        return bool(self.predicate(graph, node))

    def __and__(self, other):
        return Selector(lambda g, n: self(g, n) and other(g, n),
                        f"({self.description} & {other.description})")

    def __or__(self, other):
        return Selector(lambda g, n: self(g, n) or other(g, n),
                        f"({self.description} | {other.description})")

    def __invert__(self):
        return Selector(lambda g, n: not self(g, n), f"~{self.description}")

    def __repr__(self):
        return self.description


def kind(*kinds: str) -> Selector:
    """Nodes whose op kind is one of ``kinds`` (``"conv"``, ``"linear"``, ``"relu"``, …)."""
    return Selector(lambda g, n: n.kind in kinds, f"kind{kinds}")


def name(*patterns: str) -> Selector:
    """Nodes whose name matches one of the shell-style globs (``"features.*"``)."""
    return Selector(lambda g, n: any(fnmatch.fnmatchcase(n.name, p) for p in patterns),
                    f"name{patterns}")


def where(predicate: Callable, description: str = "where(...)") -> Selector:
    """Any predicate ``(graph, node) -> bool``."""
    return Selector(predicate, description)


def everything() -> Selector:
    """Every node."""
    return Selector(lambda g, n: True, "everything")


def _frontier(graph, kinds, forward: bool) -> set:
    """Nodes of ``kinds`` reachable from the inputs (or the output) through no other such node."""
    found, seen = set(), set()
    stack = list(graph.input_names) if forward else [graph.output]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        nxt = graph.structure.successors(current) if forward else \
            graph.structure.predecessors(current)
        for other in nxt:
            if graph[other].kind in kinds:
                found.add(other)
            else:
                stack.append(other)
    if not forward and graph.output in graph._nodes and graph[graph.output].kind in kinds:
        found = {graph.output}
    return found


def first(*kinds: str) -> Selector:
    """The first layers: nodes of ``kinds`` (default Linear/Conv) that read the input
    through no other node of those kinds (for a sequential net, its first layer)."""
    kinds = kinds or AFFINE
    return Selector(lambda g, n: n.name in _cached(g, ("first", kinds), True, kinds),
                    f"first{kinds}")


def last(*kinds: str) -> Selector:
    """The last layers: nodes of ``kinds`` (default Linear/Conv) that reach the output
    through no other node of those kinds."""
    kinds = kinds or AFFINE
    return Selector(lambda g, n: n.name in _cached(g, ("last", kinds), False, kinds),
                    f"last{kinds}")


def _cached(graph, key, forward, kinds):
    cache = graph.__dict__.setdefault("_selector_cache", {})
    token = (key, len(graph), graph.output)
    if token not in cache:
        cache[token] = _frontier(graph, kinds, forward)
    return cache[token]
