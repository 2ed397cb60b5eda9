"""Testing with concept activation vectors (TCAV), with its null distribution and a multiple
testing correction built in.

Notation (Kim et al., ICML 2018): f_l maps an input to node l's activation, h_{l,k} maps that
activation to the explained output k (a class logit, a k-means cluster logit, an outlier
score), X_k are the inputs tested (examples of class k), P_C the examples of concept C and
N_0 … N_{R−1} random example sets.

1. **CAVs.** For each run r, v_{C,r} is the unit normal of a linear classifier of P_C against
   N_r on the activations a_x = flatten(f_l(x)), oriented toward the concept
   (:class:`concepts.CAV`; its held-out accuracy says whether the node separates the concept).
2. **Sensitivities.** S_{C,k,l}(x) = ∇h_{l,k}(f_l(x)) · v_C, for every x ∈ X_k and every CAV
   at once: with G the (|X_k|, d) matrix of node gradients (one batched backward pass) and V
   the (m, d) matrix of all CAV directions, S = G Vᵀ is one matrix product.
3. **Score.** TCAV_{C,k,l,r} = |{x ∈ X_k : S(x) > 0}| / |X_k| (S = 0 counts as not
   positive); the magnitude is the mean sensitivity mean_x S(x) (in units of the output per
   unit of activation along v), and captum's scale-free share Σ_x max(S, 0) / Σ_x |S| is
   reported beside it.
4. **Null.** Random-vs-random CAVs, scored the same way (``test`` below says which).
5. **Test.** The p-values of all hypotheses of one call (concepts × nodes × targets) are
   adjusted by Holm's step-down method (default), Bonferroni, or not at all; a hypothesis is
   significant iff its adjusted p ≤ α. Two tests:

   ``test="runs"`` (Kim et al., the reference code; default)
       null CAVs N_r vs N_{(r+1) mod R}, r = 0 … runs − 1 (one per run, without the
       reference code's O(R²) pairs; the cyclic pairing never fits a pair and its mirror
       image when R ≥ 3); two-sided two-sample Student t-test (pooled variance, as
       ``scipy.stats.ttest_ind``) of the runs' concept scores against the runs' null scores.
       It treats the runs as independent samples, but every run reuses the one concept set,
       so for a concept set that is itself random the test is anti-conservative: on
       hand-built MLPs, 12–50 % of random concept sets (drawn like the random sets) came out
       with p ≤ 0.05, and up to 6 of 40 stayed significant after Holm
       (``tests/concepts/test_tcav.py`` measures it).
   ``test="sets"`` (calibrated; costs R × runs null CAVs)
       every random set N_i is also scored as a pseudo-concept against ``runs`` other random
       sets N_{(i+1) mod R} … N_{(i+runs) mod R}; its mean score T_i is exchangeable with the
       concept's mean score T_C when the concept is random. Two-sided prediction t-test:
       t = (T_C − mean T) / (sd T · √(1 + 1/R)), R − 1 degrees of freedom (the two-sample
       t-test of [T_C] against the T_i). Its rate of p ≤ 0.05 on random concept sets stays
       near α (same measurements: 0–5 %, once 17 %; none significant after Holm). It has
       less power: a random set's own direction can score near 0 or 1 at a node where the
       gradients share a strong common component, so a score of 1 is only significant when
       random sets rarely reach it (give 15–20 random sets).

Relative TCAV (``relative=True``): run r fits the concept against a random subset of the
union of the other concepts' examples instead of N_r; the null stays random vs random.

Reference: B. Kim, M. Wattenberg, J. Gilmer, C. Cai, J. Wexler, F. Viégas, R. Sayres,
"Interpretability beyond feature attribution: quantitative testing with concept activation
vectors (TCAV)", ICML 2018.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from lrp.calls import Call, check_batch_size, check_graph
from lrp.methods.autograd import score_gradient
from lrp.rules.base import check_choice, check_flag, check_number
from lrp.targets import Column, TargetError, resolve_target, select_target

from .cav import (
    CAV,
    LEARNERS,
    CAVError,
    _check_held_out,
    _check_pair,
    _held_out_accuracy,
    _split,
    fit_many,
)
from .nodes import (
    OUTPUTS,
    _log_softmax,
    _resolve_cache,
    as_batch,
    data_fingerprint,
    graph_fingerprint,
)

__all__ = ["tcav", "TCAVResult", "adjust_p_values", "CORRECTIONS", "TESTS", "ROW_KEYS"]

#: Multiple-testing corrections of :func:`tcav` and :func:`adjust_p_values`.
CORRECTIONS = ("holm", "bonferroni", None)

#: The significance tests of :func:`tcav` (see the module docstring).
TESTS = ("runs", "sets")

#: The keys of every row of :meth:`TCAVResult.table`, in order.
ROW_KEYS = ("concept", "node", "target", "output", "score_mean", "score_std",
            "magnitude_mean", "positive_share_mean", "null_mean", "null_std", "p_value",
            "p_adjusted", "significant", "cav_accuracy_mean", "near_chance_cavs", "runs",
            "learner")

_BATCHED = ("torch_logistic", "mean_difference")
_DEFAULT_RANDOM_COUNT = 10


# ---------------------------------------------------------------------------- statistics

def adjust_p_values(p_values, method="holm") -> np.ndarray:
    """p-values adjusted for testing m hypotheses at once (family-wise error rate).

    ``"holm"`` (Holm–Bonferroni step-down): with p_(1) ≤ … ≤ p_(m) sorted,
    p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j)); rejecting every p̃ ≤ α controls the
    family-wise error rate at α and rejects at least what Bonferroni rejects.
    ``"bonferroni"``: p̃_i = min(1, m p_i). ``None``: the p-values unchanged.

    Parameters
    ----------
    p_values : sequence of float in [0, 1]
    method : "holm", "bonferroni" or None

    Returns
    -------
    ndarray of float
        In the order of ``p_values``.

    References
    ----------
    S. Holm, "A simple sequentially rejective multiple test procedure", Scandinavian Journal
    of Statistics 6 (1979) 65–70.
    """
    method = check_choice(method, "method", CORRECTIONS)
    p = np.asarray(p_values, dtype=float) if not isinstance(p_values, torch.Tensor) else \
        p_values.detach().cpu().double().numpy()
    if p.ndim != 1:
        raise ValueError(f"p_values must be a 1-d sequence, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p_values must be probabilities in [0, 1] (no NaN), got "
                         f"{p[~(np.isfinite(p) & (p >= 0) & (p <= 1))][:5].tolist()}")
    m = len(p)
    if method is None or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def _ttest(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of Student's two-sample t-test with pooled variance (what
    ``scipy.stats.ttest_ind`` computes with its defaults). Two constant samples: p = 1 when
    their values are equal (no evidence of a difference; scipy gives NaN), p = 0 otherwise."""
    from scipy import stats

    n1, n2 = len(a), len(b)
    m1, m2 = float(np.mean(a)), float(np.mean(b))
    pooled = (((n1 - 1) * np.var(a, ddof=1) if n1 > 1 else 0.0) +
              ((n2 - 1) * np.var(b, ddof=1) if n2 > 1 else 0.0)) / (n1 + n2 - 2)
    if pooled <= 1e-300:
        return 1.0 if m1 == m2 else 0.0
    t = (m1 - m2) / math.sqrt(pooled * (1 / n1 + 1 / n2))
    return float(min(1.0, 2 * stats.t.sf(abs(t), n1 + n2 - 2)))


def _prediction_test(value: float, null: np.ndarray) -> float:
    """Two-sided p-value of one new value against a sample ``null`` of R values from the
    same normal distribution: t = (value − mean) / (sd · √(1 + 1/R)), R − 1 degrees of
    freedom. A constant null: p = 1 when the value equals it, 0 otherwise."""
    from scipy import stats

    R = len(null)
    mean, sd = float(np.mean(null)), float(np.std(null, ddof=1))
    if sd <= 1e-300:
        return 1.0 if value == mean else 0.0
    t = (value - mean) / (sd * math.sqrt(1 + 1 / R))
    return float(min(1.0, 2 * stats.t.sf(abs(t), R - 1)))


# ---------------------------------------------------------------------------- result

def _key_text(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


@dataclass
class TCAVResult:
    """What :func:`tcav` measured: one row per hypothesis (concept, node, target) and the
    per-run values behind it.

    Attributes
    ----------
    rows : list of dict
        One per hypothesis, keys :data:`ROW_KEYS`: ``score_mean``/``score_std`` (mean and
        sample standard deviation over the runs of the TCAV score),
        ``magnitude_mean`` (mean sensitivity), ``positive_share_mean`` (Σ S⁺ / Σ |S|),
        ``null_mean``/``null_std`` (the random-vs-random scores), ``p_value`` (t-test),
        ``p_adjusted``, ``significant`` (p_adjusted ≤ alpha), ``cav_accuracy_mean`` (held-out
        accuracy of the concept CAVs), ``near_chance_cavs`` (how many of them are near
        chance, :attr:`concepts.CAV.near_chance`).
    scores, magnitudes : dict
        (concept, node, target) → per-run TCAV scores and mean sensitivities, shape (runs,).
    null_scores, null_magnitudes : dict
        (node, target) → the null values the test compared with: per run (the cyclic
        random-vs-random CAVs, shape (runs,)) for ``test="runs"``; per random set (its mean
        over runs as a pseudo-concept, shape (R,)) for ``test="sets"``.
    accuracies : dict
        (concept, node) → held-out accuracy per run; ``null_accuracies``: node → per run.
    targets : list of dict
        Per target: ``target`` (the label, or the column of a graph without labels),
        ``column``, ``chosen`` (how it was chosen), ``share`` (fraction of the inputs the
        graph assigns to it).
    settings : dict
        The call's alpha, correction, learner, output, relative, seed, held_out, runs,
        random set names and the number of inputs.
    timings : dict
        Seconds spent on activations, gradients, CAV fits and statistics.
    cavs, null_cavs, sensitivities : dict or None
        With ``keep_cavs=True``: (concept, node) → the runs' :class:`concepts.CAV`, node → the
        null CAVs, and (concept, node, target) → S, shape (inputs, runs); null sensitivities
        under (None, node, target).
    """

    rows: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)
    magnitudes: dict = field(default_factory=dict)
    null_scores: dict = field(default_factory=dict)
    null_magnitudes: dict = field(default_factory=dict)
    accuracies: dict = field(default_factory=dict)
    null_accuracies: dict = field(default_factory=dict)
    targets: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    cavs: dict | None = None
    null_cavs: dict | None = None
    sensitivities: dict | None = None

    def table(self, sort=None) -> list:
        """The rows as a list of dicts (copies); ``sort``: a row key to sort by, ascending
        (e.g. ``"p_adjusted"``)."""
        rows = [dict(r) for r in self.rows]
        if sort is not None:
            if sort not in ROW_KEYS:
                raise ValueError(f"sort must be one of the row keys {', '.join(ROW_KEYS)}, "
                                 f"got {sort!r}")
            rows.sort(key=lambda r: (str(type(r[sort])), r[sort]))
        return rows

    def to_frame(self):
        """The rows as a pandas DataFrame (columns :data:`ROW_KEYS`)."""
        import pandas as pd

        return pd.DataFrame(self.table(), columns=list(ROW_KEYS))

    def runs_of(self, concept, node=None, target=None) -> dict:
        """The per-run values of one hypothesis: ``scores``, ``magnitudes``, ``accuracies``,
        ``null_scores``, ``null_magnitudes`` (arrays of shape (runs,)). ``node`` and
        ``target`` may be left out when the result has only one of them."""
        concepts_ = list(dict.fromkeys(r["concept"] for r in self.rows))
        if concept not in concepts_:
            raise KeyError(f"no concept {concept!r} in this result; concepts: "
                           f"{', '.join(map(_key_text, concepts_))}")
        node = self._one("node", node)
        target = self._one("target", target)
        key = (concept, node, target)
        if key not in self.scores:
            raise KeyError(f"no hypothesis {key!r} in this result")
        return {"scores": self.scores[key], "magnitudes": self.magnitudes[key],
                "accuracies": self.accuracies[(concept, node)],
                "null_scores": self.null_scores[(node, target)],
                "null_magnitudes": self.null_magnitudes[(node, target)]}

    def _one(self, what, value):
        known = list(dict.fromkeys(r[what] for r in self.rows))
        if value is None and what == "target" and None in known:
            return None
        if value is None:
            if len(known) != 1:
                raise ValueError(f"this result has {len(known)} {what}s "
                                 f"({', '.join(map(_key_text, known))}): name one")
            return known[0]
        if value not in known:
            raise KeyError(f"no {what} {value!r} in this result; {what}s: "
                           f"{', '.join(map(_key_text, known))}")
        return value

    def __len__(self):
        return len(self.rows)

    def summary(self) -> str:
        """A readable table of the hypotheses, with what was tested and how."""
        s = self.settings
        if not self.rows:
            return "TCAVResult (no hypotheses)"
        n = len(self.rows)
        correction = {"holm": "Holm-adjusted", "bonferroni": "Bonferroni-adjusted",
                      None: "unadjusted"}.get(s.get("correction"), "adjusted")
        lines = [f"TCAV (Kim et al., ICML 2018): {n} hypothes{'is' if n == 1 else 'es'}, "
                 f"{s.get('runs')} runs, learner {s.get('learner')!r}, output "
                 f"{s.get('output')!r}{', relative' if s.get('relative') else ''}; test "
                 f"{s.get('test')!r}, {correction} p-values, alpha {s.get('alpha')}"]
        for t in self.targets:
            lines.append(f"target {t['target']!r}: {t['chosen']}; the graph assigns "
                         f"{t['share']:.0%} of the {s.get('inputs')} inputs to it")
        header = ("concept", "node", "target", "score", "null", "magnitude", "p",
                  "p adjusted", "verdict")
        body = []
        for r in self.rows:
            verdict = ("significant " + ("(above null)" if r["score_mean"] > r["null_mean"]
                                         else "(below null)")) if r["significant"] else "n.s."
            if r["near_chance_cavs"]:
                verdict += f"; {r['near_chance_cavs']}/{r['runs']} CAVs near chance"
            body.append((str(r["concept"]), str(r["node"]), str(r["target"]),
                         f"{r['score_mean']:.3f} ± {r['score_std']:.3f}",
                         f"{r['null_mean']:.3f} ± {r['null_std']:.3f}",
                         f"{r['magnitude_mean']:.3g}", f"{r['p_value']:.3g}",
                         f"{r['p_adjusted']:.3g}", verdict))
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines += [fmt.format(*header).rstrip(), *(fmt.format(*b).rstrip() for b in body)]
        if s.get("test") == "runs":
            lines.append("note: test='runs' (Kim et al.) treats the runs as independent though "
                         "they share one concept set; random concept sets pass it more often "
                         "than alpha. test='sets' is calibrated.")
        return "\n".join(lines)

    def __repr__(self):
        return self.summary()


# ---------------------------------------------------------------------------- checks

def _check_alpha(alpha) -> float:
    alpha = check_number(alpha, "alpha")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be a significance level in (0, 1), e.g. 0.05, got "
                         f"{alpha:g}")
    return alpha


def _resolve_nodes(graph, node) -> list:
    given = [node] if isinstance(node, str) else node
    if not isinstance(given, (list, tuple)) or not given:
        raise TypeError(f"node must be a node or module name (a string) or a non-empty list "
                        f"of them, got {node!r}")
    out, seen = [], {}
    for n in given:
        if not isinstance(n, str):
            raise TypeError(f"node must be a node or module name (a string) or a list of "
                            f"them, got {n!r} in {node!r}")
        name = graph.node_of(n)
        if name in seen:
            raise ValueError(f"node lists {n!r} and {seen[name]!r}, which are the same node "
                             f"{name!r}: name each node once")
        seen[name] = n
        out.append((n, name))
    return out


def _batch(graph, data, label):
    try:
        return as_batch(data, graph, label)
    except (ValueError, TypeError) as e:
        try:
            error = type(e)(f"{label}: {e}")
        except Exception:
            raise e from None
        raise error from e


def _check_size(n, held_out, label):
    k = int(round(n * held_out))
    if n < 2 or (held_out > 0 and (k < 1 or n - k < 2)):
        need = 2 if held_out == 0 else next(m for m in range(2, 10_000) if
                                            int(round(m * held_out)) >= 1 and
                                            m - int(round(m * held_out)) >= 2)
        raise CAVError(f"{label} has {n} example(s); a CAV with held_out={held_out:g} needs "
                       f"at least {need} (tens for a stable direction)")


def _count(value, name, minimum):
    value = check_number(value, name, integer=True, minimum=minimum)
    return value


class _Sets:
    """Example sets as (source batch, row indices or None); activations per source."""

    def __init__(self):
        self.sources: list = []
        self.refs: dict = {}       # set name -> (source id, index tensor or None)

    def add_source(self, batch) -> int:
        self.sources.append(batch)
        return len(self.sources) - 1

    def add(self, name, source, index=None):
        self.refs[name] = (source, index)

    def size(self, name) -> int:
        source, index = self.refs[name]
        return self.sources[source].shape[0] if index is None else len(index)


def _concept_sets(graph, concepts, sets):
    if not isinstance(concepts, dict):
        raise TypeError(f"concepts must be a dict name → example set, got "
                        f"{type(concepts).__name__}")
    if not concepts:
        raise ValueError("concepts is empty: give at least one concept, {name: examples}")
    names = []
    for name, data in concepts.items():
        if not isinstance(name, str):
            raise TypeError(f"concept names must be strings, got {name!r}")
        sets.add(("concept", name), sets.add_source(_batch(graph, data,
                                                           f"concepts[{name!r}]")))
        names.append(name)
    return names


def _random_sets(graph, randoms, random_pool, random_size, runs, seed, sets, concept_names):
    if isinstance(randoms, bool):
        raise TypeError(f"randoms must be a list of example sets or a count, got {randoms!r}")
    if randoms is None and random_pool is None:
        raise ValueError("TCAV needs random example sets for its null distribution: give "
                         "randoms=[set, set, set, …] (at least 3), or random_pool=examples "
                         "with randoms=count")
    if isinstance(randoms, numbers.Integral) or randoms is None:
        if random_pool is None:
            raise ValueError(f"randoms={randoms} draws that many random sets from random_pool; "
                             "give random_pool=examples (or randoms as a list of sets)")
        count = _count(randoms if randoms is not None else
                       (runs if isinstance(runs, numbers.Integral) and not isinstance(runs, bool)
                        and runs >= 3 else _DEFAULT_RANDOM_COUNT), "randoms", 3)
        pool = _batch(graph, random_pool, "random_pool")
        if random_size is None:
            size = max(sets.size(("concept", c)) for c in concept_names)
            if size > pool.shape[0]:
                raise ValueError(f"random_pool holds {pool.shape[0]} examples, fewer than the "
                                 f"largest concept set ({size}); give random_size ≤ "
                                 f"{pool.shape[0]} or a larger pool")
        else:
            size = _count(random_size, "random_size", 2)
            if size > pool.shape[0]:
                raise ValueError(f"random_size={size} exceeds the {pool.shape[0]} examples of "
                                 "random_pool (sets are drawn without replacement)")
        gen = torch.Generator().manual_seed(int(seed))
        draws = [torch.randperm(pool.shape[0], generator=gen)[:size] for _ in range(count)]
        used = torch.unique(torch.cat(draws))
        position = torch.full((pool.shape[0],), -1, dtype=torch.long)
        position[used] = torch.arange(len(used))
        source = sets.add_source(pool[used.to(pool.device)])
        names = [f"random_{i}" for i in range(count)]
        seen = {}
        for name, idx in zip(names, draws):
            signature = tuple(sorted(idx.tolist()))
            if signature in seen:
                raise ValueError(f"{name} and {seen[signature]} drew the same examples: "
                                 "random_pool is too small for distinct sets; give a larger "
                                 "pool or a smaller random_size")
            seen[signature] = name
            sets.add(("random", name), source, position[idx])
        return names
    if random_pool is not None or random_size is not None:
        raise ValueError("random_pool and random_size are for drawing sets (randoms=count); "
                         "with randoms given as sets leave them out")
    if isinstance(randoms, dict):
        items = list(randoms.items())
        for name, _ in items:
            if not isinstance(name, str):
                raise TypeError(f"random set names must be strings, got {name!r}")
    elif isinstance(randoms, (list, tuple)):
        items = [(f"random_{i}", r) for i, r in enumerate(randoms)]
    else:
        raise TypeError(f"randoms must be a list (or dict) of example sets or a count drawn "
                        f"from random_pool, got {type(randoms).__name__}")
    if len(items) < 3:
        raise ValueError(f"TCAV needs at least 3 random sets (the null pairs random r with "
                         f"random r+1; with 2 the pairs mirror each other), got {len(items)}")
    names = []
    for name, data in items:
        if name in concept_names:
            raise ValueError(f"random set name {name!r} is also a concept name")
        sets.add(("random", name), sets.add_source(_batch(graph, data, f"randoms[{name!r}]")))
        names.append(name)
    return names


def _check_distinct(sets, concept_names, random_names):
    """Refuse a random set equal to a concept set or to another random set (exact data)."""
    prints = {}
    for kind, names in (("concept", concept_names), ("random", random_names)):
        for name in names:
            source, index = sets.refs[(kind, name)]
            if index is not None:
                continue
            fp = data_fingerprint(sets.sources[source])
            if fp in prints:
                other = prints[fp]
                raise CAVError(f"{kind} set {name!r} equals {other[0]} set {other[1]!r}: a CAV "
                               "separates a concept from other inputs, so give distinct sets")
            prints[fp] = (kind, name)


# ---------------------------------------------------------------------------- targets

@dataclass
class _Target:
    label: object          # recorded in the rows
    passed: object         # given to score_gradient
    column: int | None
    chosen: str
    share: float


def _scalar(value):
    return value.item() if isinstance(value, (np.generic, np.ndarray, torch.Tensor)) else value


def _explained_output(graph, x, batch_size):
    call = Call(graph, x, None, batch_size, method="concepts.tcav")
    return torch.cat([call.output_at(part) for _, _, part, _ in call.chunks()])


def _resolve_targets(graph, x, target, output, batch_size) -> list:
    out = _explained_output(graph, x, batch_size)
    n = out.shape[0]
    columns = out.shape[1] if out.dim() == 2 else 1
    if output == "log_softmax" and (out.dim() != 2 or columns < 2):
        raise ValueError(f"output='log_softmax' needs an (N, C) output with C ≥ 2 classes; "
                         f"this graph's explained output has shape {tuple(out.shape)}: use "
                         "output='logit'")
    labels = graph.output_labels
    wanted = list(target) if isinstance(target, (list, tuple)) else [target]
    if not wanted:
        raise TargetError("target is an empty list: give a label (or column), a list of them, "
                          "or None for the class predicted for most inputs")
    predicted = out.argmax(1) if out.dim() == 2 and columns > 1 else None
    result, seen = [], {}
    for t in wanted:
        if t is None:
            if columns == 1 or out.dim() != 2:
                label = _scalar(labels[0]) if labels is not None and len(labels) else 0
                result.append(_Target(label, None, 0, "the graph's single output", 1.0))
                continue
            if graph.default_target is not None:
                raise TargetError(f"this graph explains several outputs at once by default "
                                  f"({columns} columns, graph.default_target); TCAV tests one "
                                  "output per hypothesis: give target=lrp.Column(i), or a "
                                  "list of them")
            col = int(torch.bincount(predicted, minlength=columns).argmax())
            label = _scalar(labels[col]) if labels is not None else col
            share = float((predicted == col).double().mean())
            result.append(_Target(label, Column(col), col,
                                  "target=None: the class predicted for most inputs", share))
        else:
            if callable(t) and not isinstance(t, (torch.Tensor, np.ndarray, Column)):
                raise TargetError("TCAV tests one target per hypothesis: give a label (or "
                                  "column), not a callable")
            index = t.index if isinstance(t, Column) else None
            shaped = np.ndim(index) if index is not None else (
                t.ndim if isinstance(t, (np.ndarray, torch.Tensor)) else
                (1 if isinstance(t, (list, tuple)) or hasattr(t, "iloc") else 0))
            if shaped:
                raise TargetError(f"TCAV tests one target per hypothesis: give one label (or "
                                  f"column) per target, not one per sample or a mask; got "
                                  f"{t!r}")
            resolved = resolve_target(graph, t, n, tuple(out.shape))
            select_target(out, resolved)           # range and shape checks
            col = int(resolved)
            label = _scalar(labels[col]) if labels is not None else col
            share = float((predicted == col).double().mean()) if predicted is not None else 1.0
            passed = Column(col) if out.dim() == 2 else None
            result.append(_Target(label, passed, col, "given", share))
        key = result[-1].column
        if key in seen:
            raise TargetError(f"target lists {result[-1].label!r} twice (or a label and its "
                              "column): test each target once")
        seen[key] = True
    return result


# ---------------------------------------------------------------------------- computation

def _activations(graph, sets, names, batch_size, store, fingerprint, bar):
    """acts[node][source] = flattened activations; one forward pass per source for every
    node not in the cache."""
    acts = {name: [None] * len(sets.sources) for name in names}
    for s, batch in enumerate(sets.sources):
        keys = {name: store.key(graph, name, batch, fingerprint=fingerprint)
                for name in names} if store is not None else {}
        missing = []
        for name in names:
            value = store.get(keys[name]) if store is not None else None
            if value is None:
                missing.append(name)
            else:
                acts[name][s] = value
        if missing:
            size = batch_size or batch.shape[0]
            with torch.no_grad():
                parts = [graph.activations(batch[i:i + size], validated=True, keep=missing)
                         for i in range(0, batch.shape[0], size)]
            for name in missing:
                value = torch.cat([p[name] for p in parts]).contiguous()
                if store is not None:
                    store.put(keys[name], value)
                acts[name][s] = value
        for name in names:
            acts[name][s] = acts[name][s].reshape(batch.shape[0], -1)
        bar.update(1)
    return acts


def _gradients(graph, x, names, targets, output, batch_size, bar):
    """grads[(node, target index)] = (N, d) node gradients; one batched backward pass per
    target (and chunk) for all nodes."""
    transform = None if output == "logit" else _log_softmax
    grads = {}
    for ti, t in enumerate(targets):
        call = Call(graph, x, t.passed, batch_size, method="concepts.tcav")
        parts = []
        for _, _, part, chunk_target in call.chunks():
            _, _, node_grads, _, _ = score_gradient(call.graph, part, target=chunk_target,
                                                    nodes=names, transform=transform,
                                                    inputs=False)
            parts.append(node_grads)
        for j, name in enumerate(names):
            g = torch.cat([p[j] for p in parts])
            grads[(name, ti)] = g.reshape(g.shape[0], -1)
        bar.update(1)
    return grads


def _mean_difference(pairs, name, seed, held_out):
    """The mean-difference CAVs of :func:`concepts.fit_many` (v ∝ mean of the concept's
    training split − mean of the random set's, threshold halfway between the projected
    means), with each set's split and training mean computed once however many pairs use
    it: O(sets · n · d + pairs · (d + n_test · d)) instead of stacking every pair's rows."""
    stats = {}

    def of(key, t, salt):
        k = (salt, id(t) if key is None else key)
        if k not in stats:
            train, test = _split(t, held_out, seed, salt)
            stats[k] = (train, test, train.mean(0))
        return stats[k]

    cavs = []
    for a, b, cname, rname, _, akey, bkey in pairs:
        train_a, test_a, mean_a = of(akey, a, 0)
        train_b, test_b, mean_b = of(bkey, b, 1)
        d = mean_a - mean_b
        norm = d.norm()
        if norm == 0:
            raise CAVError(f"at node {name!r}, {cname!r} vs {rname!r}: the two sets have the "
                           "same mean activation: the mean-difference direction is undefined")
        v = d / norm
        intercept = -float(mean_a @ v + mean_b @ v) / 2
        accuracy, chance = _held_out_accuracy(v, intercept, train_a, train_b, test_a, test_b)
        cavs.append(CAV(v, name, "mean_difference", accuracy, chance, cname, rname))
    return cavs


def _fit(pairs, name, learner, seed, held_out, runs, bar):
    """CAVs of ``pairs`` [(a, b, concept name, random name, run, a's set key, b's set key)],
    in order: mean differences per set, torch_logistic batched per shape, the scikit-learn
    learners run by run."""
    for a, b, cname, rname, *_ in pairs:
        try:
            _check_pair(a, b)
        except CAVError as e:
            raise CAVError(f"at node {name!r}, {cname!r} vs {rname!r}: {e}") from None
    if learner == "mean_difference":
        cavs = _mean_difference(pairs, name, seed, held_out)
        bar.update(runs)
        return cavs
    cavs = [None] * len(pairs)
    if learner in _BATCHED:
        groups = {}
        for i, (a, b, *_) in enumerate(pairs):
            groups.setdefault((a.shape, b.shape), []).append(i)
        for idx in groups.values():
            fitted = fit_many([pairs[i][:4] for i in idx], node=name, learner=learner,
                              seed=seed, held_out=held_out)
            for i, c in zip(idx, fitted):
                cavs[i] = c
        bar.update(runs)
        return cavs
    for r in range(runs):
        idx = [i for i, p in enumerate(pairs) if p[4] == r]
        fitted = fit_many([pairs[i][:4] for i in idx], node=name, learner=learner, seed=seed,
                          held_out=held_out)
        for i, c in zip(idx, fitted):
            cavs[i] = c
        bar.update(1)
    return cavs


def _progress(progress, total):
    if progress:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="TCAV", unit="step")

    class _Quiet:
        def update(self, n=1):
            pass

        def set_description(self, text):
            pass

        def close(self):
            pass
    return _Quiet()


def tcav(graph, inputs, concepts, node, target=None, *, randoms=None, runs=None,
         random_pool=None, random_size=None, learner="sgd", seed=0, alpha=0.05,
         correction="holm", test="runs", relative=False, output="logit", held_out=0.33,
         batch_size=None, cache=True, progress=False, keep_cavs=False) -> TCAVResult:
    """Test whether ``graph``'s output for ``target`` is sensitive to each concept at each
    node, against a random-vs-random null, with the p-values adjusted over every hypothesis
    of the call.

    For each concept C, node l, target k and run r = 0 … runs − 1: the CAV v_{C,r} separates
    the activations of C's examples from those of random set N_r; the TCAV score is the
    fraction of ``inputs`` x with S(x) = ∇h_{l,k}(f_l(x)) · v_{C,r} > 0, the magnitude the
    mean of S. The null scores come from random-vs-random CAVs; the test (``test``) compares
    the concept's scores with them; Holm's step-down (default) adjusts the p-values over all
    concepts × nodes × targets; significant iff adjusted p ≤ ``alpha``. (Kim et al., ICML
    2018; see :mod:`concepts.tcav` for the formulas.)

    Parameters
    ----------
    graph : neon.Graph
        From :func:`neon.neuralize` (a torch module or a scikit-learn model).
    inputs : tensor, array, DataFrame or iterable of batches
        X_k, the inputs whose sensitivity is measured: examples of the target class (or
        cluster).
    concepts : dict
        Concept name (str) → its example set (tensor, array, DataFrame, list of rows or
        iterable of batches), shaped like the graph's input.
    node : str or list of str
        Node, input or source-module name(s) (:meth:`neon.Graph.node_of`).
    target : label, column, lrp.Column, list of them, or None
        What h_k is, **one target per hypothesis**: a label of a labelled graph (scikit-learn
        classifiers and clusterers: ``graph.output_labels``), a column index of a torch
        graph, ``lrp.Column(i)``; a list (or tuple) tests each (more hypotheses, all in the
        correction) — it is never read as one target per sample. None: the class the graph
        predicts for most of ``inputs`` (recorded, with the share of inputs predicted as it,
        in ``result.targets``); the single output of a one-output graph (a one-class SVM's
        outlierness, a regressor); refused for a graph that explains several outputs at once
        by default (a multi-output regressor): name one.
    randoms : list or dict of example sets, or int
        The random sets N_0 … N_{R−1} (at least 3), or how many to draw from
        ``random_pool`` (default with a pool: ``runs`` (+1 for ``test="sets"``) if given,
        else 10).
    runs : int, optional
        CAVs per concept, each against its own random set: 2 ≤ runs ≤ R (≤ R − 1 for
        ``test="sets"``); default the most allowed.
    random_pool : example set, optional
        Where ``randoms=count`` sets are drawn from, each without replacement, with ``seed``.
    random_size : int, optional
        Examples per drawn set; default the size of the largest concept set.
    learner : str
        One of :data:`concepts.cav.LEARNERS`: ``"sgd"`` (the reference code's hinge-loss SGD),
        ``"logistic"``, ``"linear_svm"``, ``"mean_difference"`` (closed form) or
        ``"torch_logistic"`` (all CAVs of a node in one batched fit); the last two are much
        faster at conv-layer widths.
    seed : int
        Seeds the drawn sets, the held-out splits and the learners: the same call gives the
        same table.
    alpha : float in (0, 1)
        Significance level for the adjusted p-values.
    correction : "holm", "bonferroni" or None
        Family-wise correction over all hypotheses of the call (:func:`adjust_p_values`).
    test : "runs" or "sets"
        ``"runs"``: Kim et al.'s two-sample t-test of the runs' scores against ``runs``
        cyclic random-vs-random scores (anti-conservative for random concept sets; see
        :mod:`concepts.tcav`). ``"sets"``: the concept's mean score against the mean scores
        of every random set taken as a pseudo-concept (R × runs null CAVs), calibrated.
    relative : bool
        Relative TCAV: concept vs a random subset (per run, of the concept's size) of the
        union of the other concepts' examples; needs ≥ 2 concepts. The null stays random vs
        random.
    output : "logit" or "log_softmax"
        Differentiate the explained output itself, or its log-softmax over the classes (what
        the reference code effectively differentiates, through its loss with a flipped sign).
    held_out : float in [0, 1)
        Fraction of each set held out to measure the CAVs' accuracy (near-chance CAVs are
        counted per hypothesis).
    batch_size : int, optional
        Samples per forward/backward pass.
    cache : True, False or concepts.Cache
        Where activations are cached (by graph weights, node and data).
    progress : bool
        Show a tqdm bar (forward passes, runs of CAV fits, backward passes).
    keep_cavs : bool
        Keep the CAVs and the sensitivity matrices in the result (memory: runs × d per
        concept and node).

    Returns
    -------
    TCAVResult
        ``rows``/``table()``/``to_frame()`` (one row per concept × node × target), the
        per-run scores, ``summary()``; draw it with :func:`concepts.plot.tcav`.

    Notes
    -----
    Gradients at every node come from one batched backward pass per target; the
    sensitivities of all inputs to all CAVs of a node are one product S = G Vᵀ; activations
    are computed once per (node, set), with one forward pass per set for all nodes, and
    cached. A significant score *below* the null says the concept lowers the output.

    References
    ----------
    B. Kim et al., "Interpretability beyond feature attribution: quantitative testing with
    concept activation vectors (TCAV)", ICML 2018.
    """
    started = time.perf_counter()
    check_graph(graph, "concepts.tcav")
    learner = check_choice(learner, "learner", LEARNERS)
    output = check_choice(output, "output", OUTPUTS)
    correction = check_choice(correction, "correction", CORRECTIONS)
    test = check_choice(test, "test", TESTS)
    alpha = _check_alpha(alpha)
    seed = check_number(seed, "seed", integer=True)
    held_out = _check_held_out(held_out)
    batch_size = check_batch_size(batch_size)
    relative = check_flag(relative, "relative")
    progress = check_flag(progress, "progress")
    keep_cavs = check_flag(keep_cavs, "keep_cavs")
    store = _resolve_cache(cache)
    if runs is not None:
        runs = _count(runs, "runs", 2)
    nodes = _resolve_nodes(graph, node)
    names = [name for _, name in nodes]
    x = _batch(graph, inputs, "inputs")

    sets = _Sets()
    concept_names = _concept_sets(graph, concepts, sets)
    if relative and len(concept_names) < 2:
        raise ValueError("relative=True tests each concept against the others: give at least "
                         "2 concepts")
    spare = 1 if test == "sets" else 0        # a pseudo-concept needs runs other sets
    random_names = _random_sets(graph, randoms, random_pool, random_size,
                                None if runs is None else runs + spare, seed, sets,
                                concept_names)
    R = len(random_names)
    if runs is None:
        runs = R - spare
    elif runs > R - spare:
        need = f"{runs + 1} random sets (each, as a pseudo-concept, against {runs} others)" \
            if spare else f"{runs} random sets (one per run)"
        raise ValueError(f"runs={runs} with test={test!r} needs {need}, got {R}: give more "
                         "random sets or fewer runs")
    for c in concept_names:
        _check_size(sets.size(("concept", c)), held_out, f"concept {c!r}")
    for r in random_names:
        _check_size(sets.size(("random", r)), held_out, f"random set {r!r}")
    _check_distinct(sets, concept_names, random_names)
    targets = _resolve_targets(graph, x, target, output, batch_size)

    # relative TCAV: per concept and run, rows of the union of the other concepts
    relative_rows = {}
    if relative:
        gen = torch.Generator().manual_seed(int(seed) + 1)
        for c in concept_names:
            union = sum(sets.size(("concept", o)) for o in concept_names if o != c)
            size = min(sets.size(("concept", c)), union)
            _check_size(size, held_out, f"the other concepts than {c!r}")
            relative_rows[c] = [torch.randperm(union, generator=gen)[:size]
                                for _ in range(runs)]
    # null pairs (random i, random j) and the run they are fitted with
    if test == "runs":
        null_pairs = [(r, (r + 1) % R, r) for r in range(runs)]
    else:
        null_pairs = [(i, (i + k) % R, k - 1) for i in range(R) for k in range(1, runs + 1)]

    bar = _progress(progress, len(sets.sources) + len(targets) + len(nodes) * runs)
    timings = {"activations": 0.0, "gradients": 0.0, "fits": 0.0, "statistics": 0.0}
    try:
        t0 = time.perf_counter()
        fingerprint = graph_fingerprint(graph) if store is not None else None
        bar.set_description("TCAV: activations")
        acts = _activations(graph, sets, names, batch_size, store, fingerprint, bar)
        t1 = time.perf_counter()
        bar.set_description("TCAV: gradients")
        grads = _gradients(graph, x, names, targets, output, batch_size, bar)
        t2 = time.perf_counter()
        timings["activations"], timings["gradients"] = t1 - t0, t2 - t1

        picked = {}

        def of(kind, set_name, name):
            """A set's activations at a node (rows of a pool picked once per node)."""
            key = (kind, set_name, name)
            if key not in picked:
                source, index = sets.refs[(kind, set_name)]
                a = acts[name][source]
                picked[key] = a if index is None else a[index.to(a.device)]
            return picked[key]

        result = TCAVResult(cavs={} if keep_cavs else None,
                            null_cavs={} if keep_cavs else None,
                            sensitivities={} if keep_cavs else None)
        p_values = []
        n_concept = len(concept_names) * runs
        null_slice = slice(n_concept, n_concept + len(null_pairs))
        for given, name in nodes:
            t_fit = time.perf_counter()
            bar.set_description(f"TCAV: CAVs at {given}")
            pairs = []
            for c in concept_names:
                a = of("concept", c, name)
                others = torch.cat([of("concept", o, name) for o in concept_names
                                    if o != c]) if relative else None
                for r in range(runs):
                    if relative:
                        b, rname = others[relative_rows[c][r].to(others.device)], \
                            f"other concepts (run {r})"
                        key = None                        # a subset of its own
                    else:
                        b, rname = of("random", random_names[r], name), random_names[r]
                        key = ("random", rname)
                    pairs.append((a, b, c, rname, r, ("concept", c), key))
            for i, j, r in null_pairs:
                pairs.append((of("random", random_names[i], name),
                              of("random", random_names[j], name), random_names[i],
                              random_names[j], r, ("random", random_names[i]),
                              ("random", random_names[j])))
            cavs = _fit(pairs, given, learner, seed, held_out, runs, bar)
            t_stats = time.perf_counter()
            timings["fits"] += t_stats - t_fit
            V = torch.stack([c.direction for c in cavs]).double()
            accuracy = np.array([c.accuracy for c in cavs], dtype=float)
            near = np.array([c.near_chance for c in cavs], dtype=bool)
            result.null_accuracies[given] = accuracy[null_slice]
            if keep_cavs:
                result.null_cavs[given] = cavs[null_slice]
            for ci, c in enumerate(concept_names):
                sl = slice(ci * runs, (ci + 1) * runs)
                result.accuracies[(c, given)] = accuracy[sl]
                if keep_cavs:
                    result.cavs[(c, given)] = cavs[sl]
            for ti, t in enumerate(targets):
                G = grads[(name, ti)].to(device=V.device, dtype=V.dtype)
                if not bool((G != 0).any()):
                    warnings.warn(f"the gradient of target {t.label!r} at node {given!r} is 0 "
                                  "for every input: every sensitivity is 0 and every TCAV "
                                  "score 0", RuntimeWarning, stacklevel=2)
                S = G @ V.T                                      # (inputs, CAVs)
                score = (S > 0).double().mean(0).cpu().numpy()
                magnitude = S.mean(0).cpu().numpy()
                total = S.abs().sum(0)
                share = torch.where(total > 0, S.clamp_min(0).sum(0) / total.clamp_min(1e-300),
                                    torch.full_like(total, math.nan)).cpu().numpy()
                null, null_mag = score[null_slice], magnitude[null_slice]
                if test == "sets":       # per random set (pseudo-concept): the mean over runs
                    null, null_mag = null.reshape(R, runs).mean(1), \
                        null_mag.reshape(R, runs).mean(1)
                result.null_scores[(given, t.label)] = null
                result.null_magnitudes[(given, t.label)] = null_mag
                if keep_cavs:
                    result.sensitivities[(None, given, t.label)] = S[:, null_slice].cpu()
                for ci, c in enumerate(concept_names):
                    sl = slice(ci * runs, (ci + 1) * runs)
                    key = (c, given, t.label)
                    result.scores[key], result.magnitudes[key] = score[sl], magnitude[sl]
                    if keep_cavs:
                        result.sensitivities[key] = S[:, sl].cpu()
                    p = _ttest(score[sl], null) if test == "runs" else \
                        _prediction_test(float(score[sl].mean()), null)
                    p_values.append(p)
                    acc = accuracy[sl]
                    result.rows.append({
                        "concept": c, "node": given, "target": t.label, "output": output,
                        "score_mean": float(score[sl].mean()),
                        "score_std": float(score[sl].std(ddof=1)),
                        "magnitude_mean": float(magnitude[sl].mean()),
                        "positive_share_mean": float(np.mean(share[sl])),
                        "null_mean": float(null.mean()), "null_std": float(null.std(ddof=1)),
                        "p_value": p, "p_adjusted": math.nan, "significant": False,
                        "cav_accuracy_mean": float(acc.mean()) if held_out > 0 else math.nan,
                        "near_chance_cavs": int(near[sl].sum()), "runs": runs,
                        "learner": learner})
            timings["statistics"] += time.perf_counter() - t_stats
            del acts[name]
            picked.clear()
    finally:
        bar.close()
    adjusted = adjust_p_values(p_values, correction)
    for row, p in zip(result.rows, adjusted):
        row["p_adjusted"] = float(p)
        row["significant"] = bool(p <= alpha)
    result.targets = [{"target": t.label, "column": t.column, "chosen": t.chosen,
                       "share": t.share} for t in targets]
    result.settings = {"alpha": alpha, "correction": correction, "test": test,
                       "learner": learner, "output": output, "relative": relative,
                       "seed": seed, "held_out": held_out, "runs": runs,
                       "randoms": random_names, "concepts": concept_names,
                       "nodes": dict(nodes), "inputs": int(x.shape[0])}
    timings["total"] = time.perf_counter() - started
    result.timings = timings
    return result
