"""Composites: ordered (selector, rule) lists that assign a rule to every node.

The first matching entry wins; nodes no entry matches get their op kind's default rule
(:func:`lrp.rules.default_rule`). Presets carry zennit's names, meaning and defaults
(ε = 1e-6, γ = 0.25, biases as zennit treats them).
"""

from __future__ import annotations

from neon.ops import Affine

from . import select
from .rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, RuleError, ZBox, ZPlus, default_rule

__all__ = ["Composite", "EpsilonOnly", "EpsilonPlusFlat", "EpsilonGammaBox",
           "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat", "EpsilonPlus"]

PARAMETRIZED = ("linear", "conv")   # the kinds the presets give rules to


def _as_selector(sel):
    if isinstance(sel, select.Selector):
        return sel
    if isinstance(sel, str):
        return select.kind(sel)
    if isinstance(sel, (tuple, list)) and all(isinstance(s, str) for s in sel):
        return select.kind(*sel)
    if callable(sel):
        return select.where(sel, getattr(sel, "__name__", "predicate"))
    raise TypeError(f"not a selector: {sel!r} (use lrp.select.kind/name/first/last/where)")


class Composite:
    """An ordered list of (selector, rule) pairs; the first match wins.

    Parameters
    ----------
    rules : list of (selector, Rule)
        A selector is a :class:`lrp.select.Selector`, an op-kind string or tuple of kinds, or
        a predicate ``(graph, node) -> bool``.
    strict : bool
        Refuse to let a parametrized node (Linear, Conv) fall back to its default rule.

    Examples
    --------
    >>> from lrp import Composite, select, rules
    >>> c = Composite([(select.first(), rules.Flat()),
    ...                (select.kind("conv"), rules.ZPlus()),
    ...                (select.name("classifier.*"), rules.Epsilon(0.25))])
    """

    def __init__(self, rules=(), strict: bool = False):
        self.rules = [(_as_selector(s), r) for s, r in rules]
        for _, rule in self.rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"composite entries need lrp.rules.Rule instances, got {rule!r}")
        self.strict = strict

    def __add__(self, other: Composite) -> Composite:
        """``a + b``: a's entries first (a overrides b), strict if either is."""
        return Composite(self.rules + other.rules, self.strict or other.strict)

    def override(self, *rules) -> Composite:
        """A composite whose ``rules`` take precedence over this one's."""
        return Composite(rules, self.strict) + self

    def match(self, graph, node):
        """(rule, where it came from) for one node."""
        for i, (sel, rule) in enumerate(self.rules):
            if sel(graph, node):
                return rule, f"entry {i}: {sel!r}"
        if self.strict and isinstance(node.op, Affine):
            raise RuleError(f"strict composite: parametrized node {node.name!r} "
                            f"({type(node.op).__name__}) matches no entry")
        return default_rule(node.op), "default"

    def assign(self, graph) -> dict:
        """The rule of every node, checked: a rule that cannot handle its op is an error."""
        assigned = {}
        for node in graph.nodes:
            rule, _ = self.match(graph, node)
            if not rule.handles(node.op):
                raise RuleError(f"node {node.name!r} ({type(node.op).__name__}, kind "
                                f"{node.kind!r}) was matched to {rule!r}, which handles only "
                                f"{rule.handled()}")
            assigned[node.name] = rule
        return assigned

    def describe(self, graph) -> str:
        """A table: every node, its op and its rule (and which entry chose it)."""
        rows = [("node", "op", "rule", "from")]
        for node in graph.nodes:
            rule, source = self.match(graph, node)
            rows.append((node.name, type(node.op).__name__, repr(rule), source))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self):
        entries = ", ".join(f"({s!r}, {r!r})" for s, r in self.rules)
        return f"{type(self).__name__}([{entries}])"


class EpsilonOnly(Composite):
    """LRP-ε on every Linear and Conv (ε = 1e-6 is LRP-0 made safe)."""

    def __init__(self, epsilon: float = 1e-6, strict=False):
        super().__init__([(select.kind(*PARAMETRIZED), Epsilon(epsilon))], strict)


class EpsilonPlus(Composite):
    """z⁺ on convolutions, ε on dense layers."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        super().__init__([(select.kind("conv"), ZPlus(stabilizer)),
                          (select.kind("linear"), Epsilon(epsilon))], strict)


class EpsilonPlusFlat(Composite):
    """Flat on the first Linear/Conv layer, z⁺ on other convolutions, ε on dense layers."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        super().__init__([(select.first("linear", "conv"), Flat(stabilizer)),
                          (select.kind("conv"), ZPlus(stabilizer)),
                          (select.kind("linear"), Epsilon(epsilon))], strict)


class EpsilonGammaBox(Composite):
    """z^B on the first convolution (box [low, high]), γ on other convolutions, ε on dense.

    ``low``/``high``: scalars or per-channel tensors of shape (C, 1, 1) in the network's input
    units (e.g. normalized pixel bounds). As in zennit, an MLP's first dense layer gets ε.
    """

    def __init__(self, low, high, epsilon=1e-6, gamma=0.25, stabilizer=1e-6, strict=False):
        super().__init__([(select.first("conv"), ZBox(low, high, stabilizer)),
                          (select.kind("conv"), Gamma(gamma, stabilizer)),
                          (select.kind("linear"), Epsilon(epsilon))], strict)


class EpsilonAlpha2Beta1(Composite):
    """αβ(2, 1) on convolutions, ε on dense layers."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        super().__init__([(select.kind("conv"), AlphaBeta(2.0, 1.0, stabilizer)),
                          (select.kind("linear"), Epsilon(epsilon))], strict)


class EpsilonAlpha2Beta1Flat(Composite):
    """Flat on the first Linear/Conv layer, αβ(2, 1) on other convolutions, ε on dense."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        super().__init__([(select.first("linear", "conv"), Flat(stabilizer)),
                          (select.kind("conv"), AlphaBeta(2.0, 1.0, stabilizer)),
                          (select.kind("linear"), Epsilon(epsilon))], strict)
