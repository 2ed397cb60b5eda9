"""Selectors: predicates on graph nodes that composites use to assign rules.

A selector is called as ``selector(graph, node) -> bool`` and combines with ``&``, ``|`` and
``~``. Selection by op kind, node-name glob, position (first layers that read the input, last
layers before the output) or any predicate.
"""

from __future__ import annotations

import fnmatch
import weakref
from collections.abc import Callable

__all__ = ["Selector", "kind", "name", "first", "last", "where", "everything", "is_kind"]

AFFINE = ("linear", "conv")   # the default of first/last; subclasses match through is_kind


def is_kind(op, kinds) -> bool:
    """Whether ``op`` has one of ``kinds``: its own kind or the kind of a category it derives
    from (``"affine"`` matches Linear and Conv, ``"elementwise"`` every activation)."""
    return any(getattr(cls, "kind", None) in kinds for cls in type(op).__mro__
               if "kind" in cls.__dict__)


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
    """Nodes whose op kind is one of ``kinds`` (``"conv"``, ``"linear"``, ``"relu"``, …), or
    whose op derives from a category of that kind (``"affine"``, ``"elementwise"``, …)."""
    return Selector(lambda g, n: is_kind(n.op, kinds), f"kind{kinds}")


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
            if is_kind(graph[other].op, kinds):
                found.add(other)
            else:
                stack.append(other)
    if not forward and graph.is_op_node(graph.output) and is_kind(graph[graph.output].op,
                                                                  kinds):
        found = {graph.output}
    return found


def first(*kinds: str) -> Selector:
    """The first layers: nodes of ``kinds`` (default Linear/Conv and their subclasses) that
    read the input through no other node of those kinds (for a sequential net, its first
    layer)."""
    kinds = kinds or AFFINE
    return Selector(lambda g, n: n.name in _cached(g, ("first", kinds), True, kinds),
                    f"first{kinds}")


def last(*kinds: str) -> Selector:
    """The last layers: nodes of ``kinds`` (default Linear/Conv and their subclasses) that
    reach the output through no other node of those kinds."""
    kinds = kinds or AFFINE
    return Selector(lambda g, n: n.name in _cached(g, ("last", kinds), False, kinds),
                    f"last{kinds}")


_FRONTIERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached(graph, key, forward, kinds):
    """The frontier, computed once per graph and graph version (a weak cache outside it)."""
    cache = _FRONTIERS.setdefault(graph, {})
    token = (key, graph.version)
    if token not in cache:
        cache.clear() if len(cache) > 64 else None
        cache[token] = _frontier(graph, kinds, forward)
    return cache[token]
