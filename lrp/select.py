"""Selectors: predicates on graph nodes that composites use to assign rules.

A selector is called as ``selector(graph, node) -> bool`` and combines with ``&``, ``|`` and
``~``. Selection by op kind, node-name glob, position (first layers that read the input, last
layers before the output) or any predicate.
"""

from __future__ import annotations

import difflib
import fnmatch
import weakref
from collections.abc import Callable

__all__ = ["Selector", "kind", "name", "first", "last", "where", "everything", "handles",
           "is_kind"]

AFFINE = ("linear", "conv")   # the default of first/last; subclasses match through is_kind


def is_kind(op, kinds) -> bool:
    """Whether ``op`` has one of ``kinds``: its own kind or the kind of a category it derives
    from (``"affine"`` matches Linear and Conv, ``"elementwise"`` every activation). A single
    kind may be given as a string."""
    if isinstance(kinds, str):
        kinds = (kinds,)
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
        other = _operand(other, "&")
        return Selector(lambda g, n: self(g, n) and other(g, n),
                        f"({self.description} & {other.description})")

    def __or__(self, other):
        other = _operand(other, "|")
        return Selector(lambda g, n: self(g, n) or other(g, n),
                        f"({self.description} | {other.description})")

    def __invert__(self):
        return Selector(lambda g, n: not self(g, n), f"~{self.description}")

    def __repr__(self):
        return self.description


def _operand(other, op: str) -> Selector:
    if not isinstance(other, Selector):
        raise TypeError(f"selectors combine with {op} only with other selectors, got {other!r}; "
                        "wrap kinds in select.kind(...), names in select.name(...), "
                        "predicates in select.where(...)")
    return other


def _check_kinds(kinds: tuple, caller: str) -> tuple:
    """``kinds`` if each is the kind of a defined op class (or category); else an error listing
    the known kinds (:func:`neon.ops.known_kinds`), with a suggestion for a near miss."""
    from neon.ops import known_kinds

    known = known_kinds()
    for k in kinds:
        if not isinstance(k, str):
            raise TypeError(f"select.{caller}(...) takes op kinds as strings, got {k!r} "
                            f"({type(k).__name__}); known kinds: {', '.join(known)}")
        if k not in known:
            near = [c for c in known if c.lower() == k.lower().replace("-", "_")] or \
                difflib.get_close_matches(k.lower(), known, n=3)
            hint = f" (did you mean {' or '.join(map(repr, near))}?)" if near else ""
            raise ValueError(f"select.{caller}({', '.join(map(repr, kinds))}): unknown op kind "
                             f"{k!r}{hint}; known kinds: {', '.join(known)}")
    return tuple(kinds)


def kind(*kinds: str) -> Selector:
    """Nodes whose op kind is one of ``kinds`` (``"conv"``, ``"linear"``, ``"relu"``, …), or
    whose op derives from a category of that kind (``"affine"``, ``"elementwise"``, …).

    Raises ValueError for a kind no op class declares (the message lists the known kinds,
    :func:`neon.ops.known_kinds`) and TypeError for a kind that is not a string.
    """
    if not kinds:
        raise ValueError("select.kind() needs at least one op kind, e.g. select.kind('conv')")
    kinds = _check_kinds(kinds, "kind")
    return Selector(lambda g, n: is_kind(n.op, kinds), f"kind{kinds}")


def name(*patterns: str) -> Selector:
    """Nodes whose name matches one of the shell-style globs (``"features.*"``).

    A glob matches nodes of every kind (``"classifier.*"`` also picks the classifier's ReLUs):
    combine it with :func:`kind` to pick only some, ``name("classifier.*") & kind("linear")``.
    Patterns must be non-empty strings.
    """
    if not patterns:
        raise ValueError("select.name() needs at least one pattern, e.g. select.name('fc')")
    for p in patterns:
        if not isinstance(p, str):
            raise TypeError(f"select.name(...) takes name globs as strings, got {p!r} "
                            f"({type(p).__name__})")
        if not p:
            raise ValueError("select.name(...): a pattern must be a non-empty string, got ''")
    return Selector(lambda g, n: any(fnmatch.fnmatchcase(n.name, p) for p in patterns),
                    f"name{patterns}")


def handles(rule) -> Selector:
    """Nodes whose op ``rule`` can handle (:meth:`lrp.rules.Rule.handles`): a bare rule given
    as a composite applies to these (:func:`lrp.composites.resolve`)."""
    from .rules import Rule

    if not isinstance(rule, Rule):
        raise TypeError(f"select.handles(...) takes an lrp.rules.Rule instance, got {rule!r}")
    return Selector(lambda g, n: rule.handles(n.op), f"handles({rule!r})")


def where(predicate: Callable, description: str = "where(...)") -> Selector:
    """Any predicate ``(graph, node) -> bool``."""
    if not callable(predicate):
        raise TypeError(f"select.where(...) takes a predicate (graph, node) -> bool, got "
                        f"{predicate!r}")
    return Selector(predicate, description)


def everything() -> Selector:
    """Every node."""
    return Selector(lambda g, n: True, "everything()")


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
    layer). Unknown kinds are refused as by :func:`kind`."""
    kinds = _check_kinds(kinds, "first") if kinds else AFFINE
    return Selector(lambda g, n: n.name in _cached(g, ("first", kinds), True, kinds),
                    f"first{kinds}")


def last(*kinds: str) -> Selector:
    """The last layers: nodes of ``kinds`` (default Linear/Conv and their subclasses) that
    reach the output through no other node of those kinds. Unknown kinds are refused as by
    :func:`kind`."""
    kinds = _check_kinds(kinds, "last") if kinds else AFFINE
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
