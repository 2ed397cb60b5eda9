"""Composites: ordered (selector, rule) lists that assign a rule to every node.

The first matching entry wins; nodes no entry matches get their op kind's default rule
(:func:`lrp.rules.default_rule`). Presets carry zennit's names, meaning and defaults
(ε = 1e-6, γ = 0.25, biases as zennit treats them).

Composition fails loudly: a rule matched to an op it cannot handle is a :class:`RuleError`
when the composite is applied (:meth:`Composite.assign`, hence ``lrp.explain``); an entry
whose selector matches no node of the graph is an :class:`UnmatchedSelectorWarning` (an
error with ``strict=True``); :meth:`Composite.describe` shows both without raising. The
presets' entries are optional (a preset's convolution entry matches nothing on an MLP): they
never warn, also after ``+`` and :meth:`Composite.override`.
"""

from __future__ import annotations

import inspect
import sys
import warnings

from neon.ops import Affine

from . import select
from .rules import (
    AlphaBeta,
    ElementwiseEpsilon,
    Epsilon,
    Flat,
    FrozenScale,
    Gamma,
    Norm,
    Rule,
    RuleError,
    SignalTakeAll,
    SoftmaxRule,
    UniformSplit,
    ZBox,
    ZPlus,
    default_rule,
)
from .rules.base import check_flag, check_number, format_value

__all__ = ["Composite", "EpsilonOnly", "EpsilonPlusFlat", "EpsilonGammaBox",
           "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat", "EpsilonPlus", "CPLRP", "AttnLRP",
           "PRESETS",
           "UnmatchedSelectorWarning", "resolve"]



class UnmatchedSelectorWarning(UserWarning):
    """A composite entry's selector matches no node of the graph: its rule is never used."""


def _as_selector(sel):
    if isinstance(sel, select.Selector):
        return sel
    if isinstance(sel, str):
        return select.kind(sel)
    if isinstance(sel, (tuple, list)) and sel and all(isinstance(s, str) for s in sel):
        return select.kind(*sel)
    if callable(sel):
        return select.where(sel, getattr(sel, "__name__", "predicate"))
    raise TypeError(f"not a selector: {sel!r} (use lrp.select.kind/name/first/last/where)")


def _as_entry(entry):
    if not isinstance(entry, (tuple, list)) or len(entry) != 2:
        raise TypeError(f"composite entries are (selector, rule) pairs, got {entry!r}")
    sel, rule = entry
    if isinstance(rule, type) and issubclass(rule, Rule):
        raise TypeError(f"composite entries need lrp.rules.Rule instances, got the class "
                        f"{rule.__name__}: write {rule.__name__}(...)")
    if not isinstance(rule, Rule):
        raise TypeError(f"composite entries need lrp.rules.Rule instances, got {rule!r}")
    return _as_selector(sel), rule


def _outside_lrp() -> int:
    """The ``stacklevel`` of the first caller outside the lrp package (where a warning is
    shown: the user's ``lrp.explain`` or ``describe`` call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "lrp":
        frame, level = frame.f_back, level + 1
    return level


def _cannot_handle(rule) -> str:
    return f"cannot handle: {type(rule).__name__} handles {rule.handled()}"


class Composite:
    """An ordered list of (selector, rule) pairs; the first match wins.

    Parameters
    ----------
    rules : list of (selector, Rule)
        A selector is a :class:`lrp.select.Selector`, an op-kind string or tuple of kinds, or
        a predicate ``(graph, node) -> bool``.
    strict : bool
        Refuse to let a parametrized node (Linear, Conv) fall back to its default rule, and
        refuse an entry whose selector matches no node of the graph (otherwise a warning,
        :class:`UnmatchedSelectorWarning`).

    Examples
    --------
    >>> from lrp import Composite, select, rules
    >>> c = Composite([(select.first(), rules.Flat()),
    ...                (select.kind("conv"), rules.ZPlus()),
    ...                (select.name("classifier.*") & select.kind("linear"),
    ...                 rules.Epsilon(0.25))])
    """

    def __init__(self, rules=(), strict: bool = False):
        if isinstance(rules, (Rule, Composite, str)) or \
                (isinstance(rules, tuple) and len(rules) == 2 and isinstance(rules[1], Rule)):
            raise TypeError(f"Composite takes a list of (selector, rule) pairs, got {rules!r}; "
                            "lrp.composites.resolve(...) turns a rule or a preset name into a "
                            "composite")
        self.rules = [_as_entry(e) for e in rules]
        self.strict = check_flag(strict, "strict")
        self._optional = [False] * len(self.rules)

    # ---------------------------------------------------------------------- building

    @classmethod
    def _of(cls, entries, optional, strict) -> Composite:
        """A plain Composite with given entries and per-entry optional flags."""
        out = Composite(entries, strict)
        out._optional = list(optional)
        return out

    def _flags(self) -> list:
        """Whether each entry is optional (may match nothing without a warning)."""
        optional = getattr(self, "_optional", [])
        return [i < len(optional) and optional[i] for i in range(len(self.rules))]

    def __add__(self, other: Composite) -> Composite:
        """``a + b``: a's entries first (a overrides b), strict if either is."""
        if not isinstance(other, Composite):
            return NotImplemented
        return Composite._of(self.rules + other.rules, self._flags() + other._flags(),
                             self.strict or other.strict)

    def override(self, *rules) -> Composite:
        """A composite whose ``rules`` take precedence over this one's."""
        return Composite(rules, self.strict) + self

    # ---------------------------------------------------------------------- matching

    def match(self, graph, node):
        """(rule, where it came from) for one node."""
        for i, (sel, rule) in enumerate(self.rules):
            if sel(graph, node):
                return rule, f"entry {i}: {sel!r}"
        if self.strict and isinstance(node.op, Affine):
            raise RuleError(f"strict composite: parametrized node {node.name!r} "
                            f"({type(node.op).__name__}) matches no entry")
        return default_rule(node.op), "default"

    def unmatched(self, graph) -> list:
        """The entries (index, selector, rule) whose selector matches no node of ``graph``,
        the presets' optional entries left out."""
        nodes = list(graph.nodes)
        return [(i, sel, rule) for i, ((sel, rule), optional)
                in enumerate(zip(self.rules, self._flags()))
                if not optional and not any(sel(graph, n) for n in nodes)]

    @staticmethod
    def _unmatched_text(i, sel, rule) -> str:
        return f"entry {i} ({sel!r}, {rule!r}) matches no node of the graph"

    def _report_unmatched(self, graph, raise_strict: bool) -> list:
        entries = self.unmatched(graph)
        if entries and self.strict and raise_strict:
            text = "; ".join(self._unmatched_text(*e) for e in entries)
            raise RuleError(f"strict composite: {text}. Check the selectors against the "
                            "graph's node names and kinds (graph.summary())")
        for e in entries:
            warnings.warn(UnmatchedSelectorWarning(
                f"composite {self._unmatched_text(*e)}: its rule is never used. Check the "
                "selector against the graph's node names and kinds (graph.summary()); "
                "strict=True makes this an error"), stacklevel=_outside_lrp())
        return entries

    def _rows(self, graph):
        """Per node: (node, rule or None, source, problem or None) — the checks of assign."""
        rows = []
        for node in graph.nodes:
            try:
                rule, source = self.match(graph, node)
            except RuleError as error:
                rows.append((node, None, "-", str(error)))
                continue
            problem = None if rule.handles(node.op) else _cannot_handle(rule)
            rows.append((node, rule, source, problem))
        return rows

    def assign(self, graph) -> dict:
        """The rule of every node, checked: a rule that cannot handle its op is a
        :class:`RuleError`, as is (with ``strict``) a Linear/Conv node no entry matches or an
        entry that matches no node; without ``strict`` the latter is an
        :class:`UnmatchedSelectorWarning`."""
        # entries first: a misspelled selector is the likely cause of nodes matching nothing
        self._report_unmatched(graph, raise_strict=True)
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
        """A table: every node, its op and its rule (and which entry chose it).

        Never raises: a node whose rule cannot handle it (what :meth:`assign` refuses) is
        flagged in a last column and counted in a line below the table, and entries whose
        selector matches no node are listed (and warned about, as :meth:`assign` does).
        """
        rows = [("node", "op", "rule", "from")]
        problems = 0
        for node, rule, source, problem in self._rows(graph):
            row = (node.name, type(node.op).__name__, "-" if rule is None else repr(rule),
                   source)
            if problem is not None:
                problems += 1
                row += (problem,)
            rows.append(row)
        if problems:
            rows[0] += ("problem",)
            rows = [r + ("",) * (5 - len(r)) for r in rows]
        n = len(rows[0])
        widths = [max(len(r[i]) for r in rows) for i in range(n)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if problems:
            lines.append(f"{problems} node(s) flagged (a rule that cannot handle its node, or "
                         "no rule): lrp.explain will refuse this composite (RuleError)")
        entries = self._report_unmatched(graph, raise_strict=False)
        for e in entries:
            consequence = "lrp.explain will refuse it (strict)" if self.strict else \
                "its rule is never used"
            lines.append(f"unmatched: {self._unmatched_text(*e)}: {consequence}")
        return "\n".join(lines)

    def __repr__(self):
        entries = ", ".join(f"({s!r}, {r!r})" for s, r in self.rules)
        return f"Composite([{entries}], strict={self.strict!r})"


# ------------------------------------------------------------------------------ presets

class _Preset(Composite):
    """A preset: its entries are optional, its ``repr`` shows its parameters."""

    def _preset(self, **params):
        self._optional = [True] * len(self.rules)
        self._params = params

    def __repr__(self):
        params = getattr(self, "_params", None)
        if params is None:
            return super().__repr__()
        args = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
        return f"{type(self).__name__}({args})"


class EpsilonOnly(_Preset):
    """LRP-ε on every Linear and Conv (ε = 1e-6 is LRP-0 made safe)."""

    def __init__(self, epsilon: float = 1e-6, strict=False):
        eps = Epsilon(epsilon)
        super().__init__([(select.kind(*select.AFFINE), eps)], strict)
        self._preset(epsilon=eps.stabilizer, strict=self.strict)


class EpsilonPlus(_Preset):
    """z⁺ on convolutions, ε on dense layers."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        zplus, eps = ZPlus(stabilizer), Epsilon(epsilon)
        super().__init__([(select.kind("conv"), zplus), (select.kind("linear"), eps)], strict)
        self._preset(epsilon=eps.stabilizer, stabilizer=zplus.stabilizer, strict=self.strict)


class EpsilonPlusFlat(_Preset):
    """Flat on the first Linear/Conv layer, z⁺ on other convolutions, ε on dense layers."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        flat, eps = Flat(stabilizer), Epsilon(epsilon)
        super().__init__([(select.first(), flat),
                          (select.kind("conv"), ZPlus(stabilizer)),
                          (select.kind("linear"), eps)], strict)
        self._preset(epsilon=eps.stabilizer, stabilizer=flat.stabilizer, strict=self.strict)


class EpsilonGammaBox(_Preset):
    """z^B on the first convolution (box [low, high]), γ on other convolutions, ε on dense.

    ``low``/``high``: scalars or per-channel tensors of shape (C, 1, 1) in the network's input
    units (e.g. normalized pixel bounds), low ≤ high. As in zennit, an MLP's first dense layer
    gets ε.
    """

    def __init__(self, low, high, epsilon=1e-6, gamma=0.25, stabilizer=1e-6, strict=False):
        box, g, eps = ZBox(low, high, stabilizer), Gamma(gamma, stabilizer), Epsilon(epsilon)
        super().__init__([(select.first("conv"), box), (select.kind("conv"), g),
                          (select.kind("linear"), eps)], strict)
        self._preset(low=box.low, high=box.high, epsilon=eps.stabilizer, gamma=g.gamma,
                     stabilizer=g.stabilizer, strict=self.strict)


class EpsilonAlpha2Beta1(_Preset):
    """αβ(2, 1) on convolutions, ε on dense layers."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        ab, eps = AlphaBeta(2.0, 1.0, stabilizer), Epsilon(epsilon)
        super().__init__([(select.kind("conv"), ab), (select.kind("linear"), eps)], strict)
        self._preset(epsilon=eps.stabilizer, stabilizer=ab.stabilizer, strict=self.strict)


class EpsilonAlpha2Beta1Flat(_Preset):
    """Flat on the first Linear/Conv layer, αβ(2, 1) on other convolutions, ε on dense."""

    def __init__(self, epsilon=1e-6, stabilizer=1e-6, strict=False):
        flat, eps = Flat(stabilizer), Epsilon(epsilon)
        super().__init__([(select.first(), flat),
                          (select.kind("conv"), AlphaBeta(2.0, 1.0, stabilizer)),
                          (select.kind("linear"), eps)], strict)
        self._preset(epsilon=eps.stabilizer, stabilizer=flat.stabilizer, strict=self.strict)


def _projection_rule(epsilon, gamma, stabilizer) -> Rule:
    return Epsilon(epsilon) if gamma is None else Gamma(gamma, stabilizer)


class _Transformer(_Preset):
    """The entries the two transformer presets share; only the product rule differs."""

    def __init__(self, products: Rule, epsilon, gamma, stabilizer, strict):
        projection = _projection_rule(epsilon, gamma, stabilizer)
        super().__init__([(select.kind(*select.AFFINE), projection),
                          (select.kind("product"), products),
                          (select.kind("normalization"), FrozenScale(epsilon)),
                          (select.kind("softmax"), SoftmaxRule()),
                          (select.kind("summation"), Norm(epsilon)),
                          (select.kind("batchnorm", "broadcast_affine"),
                           ElementwiseEpsilon(epsilon))], strict)
        self._preset(epsilon=products.epsilon, gamma=gamma,
                     stabilizer=check_number(stabilizer, "stabilizer"), strict=self.strict)


class CPLRP(_Transformer):
    """Conservative propagation through transformers (CP-LRP, Ali et al., ICML 2022).

    * attention heads (AH-rule): in every product the gate — the attention weights of
      A v, a sigmoid or squeeze-and-excitation gate — is a constant,
      R_v = v ⊙ Aᵀ (R / stab(A v)), R_A = 0 (:class:`~lrp.rules.SignalTakeAll`), so no
      relevance reaches the queries, keys or softmax; products with no gate are split in
      half (:class:`~lrp.rules.UniformSplit`);
    * LayerNorm and GroupNorm (LN-rule): the inverse standard deviation is a constant, the
      rest is affine and gets ε (:class:`~lrp.rules.FrozenScale`);
    * every Linear and Conv (projections, the MLP, the patch embedding): ε, or γ when
      ``gamma`` is given;
    * elementwise activations (GELU, SiLU): pass-through, the identity rule (a GELU
      z Φ(z) with its gate Φ(z) held constant);
    * residual sums and average pools (proportional split), position embeddings, masks and
      other constant shifts: their defaults with the same ε.

    With ``epsilon=0`` the result is gradient × input of the model whose attention weights,
    normalization scales and activation gates are detached (the identity that defines
    CP-LRP; tested on a ViT in float64).

    Parameters
    ----------
    epsilon : float
        ε ≥ 0 of every rule's denominator (1e-6 by default: LRP-0 made safe).
    gamma : float or None
        γ ≥ 0 for the affine layers instead of ε (Montavon et al.'s γ rule).
    stabilizer : float
        The γ rule's stabilizer.
    """

    def __init__(self, epsilon=1e-6, gamma=None, stabilizer=1e-6, strict=False):
        super().__init__(SignalTakeAll(epsilon), epsilon, gamma, stabilizer, strict)


class AttnLRP(_Transformer):
    """Attention-aware LRP (AttnLRP, Achtibat et al., ICML 2024).

    * softmax: R_in = x ⊙ (R − s ΣR), the deep-Taylor rule of s = softmax(x) with the
      expansion's bias absorbing the rest (:class:`~lrp.rules.SoftmaxRule`);
    * every product of two computed tensors (q kᵀ, A v, gates): the uniform rule, each
      factor half of every elementary product's relevance, ε-stabilized
      (:class:`~lrp.rules.UniformSplit`);
    * LayerNorm and GroupNorm: the identity rule on the division by the standard deviation
      and ε on the affine rest, which is :class:`~lrp.rules.FrozenScale` (the two coincide:
      the identity rule passes R through the division, and x ↦ x − μ(x) and γ ⊙ · + β are
      affine);
    * every Linear and Conv: ε, or γ when ``gamma`` is given; elementwise activations:
      the identity rule; sums and constant shifts: their defaults with the same ε.

    Parameters
    ----------
    epsilon : float
        ε ≥ 0 of every rule's denominator.
    gamma : float or None
        γ ≥ 0 for the affine layers instead of ε (the paper recommends γ on the projections
        of large vision transformers).
    stabilizer : float
        The γ rule's stabilizer.
    """

    def __init__(self, epsilon=1e-6, gamma=None, stabilizer=1e-6, strict=False):
        super().__init__(UniformSplit(epsilon), epsilon, gamma, stabilizer, strict)


PRESETS = {cls.__name__: cls for cls in (EpsilonPlusFlat, EpsilonGammaBox, EpsilonAlpha2Beta1,
                                         EpsilonAlpha2Beta1Flat, EpsilonPlus, EpsilonOnly,
                                         CPLRP, AttnLRP)}
"""The preset composites by name (:func:`resolve` also takes them in snake case)."""


# ------------------------------------------------------------------------------ resolve

def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").replace(" ", "").lower()


def _instantiate(cls) -> Composite:
    """``cls()``, or a TypeError saying how to construct it when it has required parameters."""
    required = [p.name for p in inspect.signature(cls).parameters.values()
                if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required:
        where = "lrp." if cls in PRESETS.values() else f"{cls.__module__}."
        args = ", ".join(f"{p}=..." for p in required)
        raise TypeError(f"the composite {cls.__name__} has required parameters "
                        f"({', '.join(required)}): construct it, "
                        f"composite={where}{cls.__name__}({args})")
    return cls()


def resolve(composite) -> Composite:
    """The composite that ``composite`` names, as ``lrp.explain`` reads its argument.

    * ``None``: ``Composite()`` (every node gets its default rule);
    * a :class:`Composite`: itself;
    * a preset name, e.g. ``"EpsilonPlusFlat"`` or ``"epsilon_plus_flat"`` (case and
      underscores ignored): that preset with its defaults (``EpsilonGammaBox`` needs its box:
      give ``lrp.EpsilonGammaBox(low=..., high=...)``);
    * a Composite class, e.g. ``lrp.EpsilonPlusFlat``: an instance with its defaults;
    * a rule instance, e.g. ``lrp.rules.Epsilon(0.1)``: a composite applying it to every node
      it can handle (:func:`lrp.select.handles`; the others get their default rules); a
      ZBox only to the first layers (:func:`lrp.select.first`), since z^B assumes bounded
      data, which only the input is.

    Raises ValueError for an unknown name (listing the presets) and TypeError for anything
    else, or for a preset whose required parameters are missing.
    """
    if composite is None:
        return Composite()
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, ZBox):   # z^B assumes bounded data: only the input layer has it
        return Composite([(select.first(), composite)])
    if isinstance(composite, Rule):
        return Composite([(select.handles(composite), composite)])
    if isinstance(composite, str):
        for name, cls in PRESETS.items():
            if _key(name) == _key(composite):
                return _instantiate(cls)
        snake = ", ".join(f"{n!r}" for n in PRESETS)
        raise ValueError(f"unknown composite {composite!r}; the presets are {snake} (or in "
                         "snake case, e.g. 'epsilon_plus_flat')")
    if isinstance(composite, type) and issubclass(composite, Composite):
        return _instantiate(composite)
    if isinstance(composite, type) and issubclass(composite, Rule):
        raise TypeError(f"composite={composite.__name__} is a rule class: give an instance, "
                        f"e.g. composite=lrp.rules.{composite.__name__}(...)")
    raise TypeError(f"composite must be None, an lrp.Composite, a preset name (one of "
                    f"{', '.join(PRESETS)}), a Composite class, or an lrp.rules.Rule instance; "
                    f"got {composite!r} ({type(composite).__name__})")
