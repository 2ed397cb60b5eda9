"""Conservation (completeness): does the relevance add up to the explained output?

δ_n = |Σ_i R_ni − f(x_n)| / |f(x_n)| per sample, with f(x) = Σ_c mask_c f_c(x) the output
that ``lrp.explain`` explains (the logits before an output softmax, the target's mask fixed at
x). A conserving method (LRP-0 and z⁺ on bias-free ReLU nets, gradient × input on linear
bias-free models, the NEON rules of neuralized k-means) has δ at float precision; otherwise δ
is what leaks, and for an :class:`lrp.Explanation` the per-node ``absorbed`` relevance (biases,
stabilizers, coincident points) says where. The check is never an exact float equality: δ is
reported, with its median and 95th percentile, beside what produced the relevance.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ..calls import Call
from ..propagate import Explanation, explain
from .inputs import flat, relevance_of, resolve_method
from .scores import Score

__all__ = ["conservation", "ConservationResult"]

#: |f| at or below this many units of rounding of the output's own scale counts as f = 0.
ZERO_TOLERANCE = 16


@dataclass
class ConservationResult:
    """Result of :func:`conservation`.

    Attributes
    ----------
    output : ndarray, shape (N,)
        f(x) = Σ_c mask_c f_c(x), the explained output.
    total : ndarray, shape (N,)
        Σ_i R_i over every input feature (all graph inputs).
    delta : Score
        δ = |Σ R − f| / |f| per sample (``higher_is_better=False``); NaN where f(x) = 0.
    source : str
        What produced the relevance: ``"lrp.explain, composite …"``, a method's name, or
        ``"precomputed"``.
    rules : dict or None
        Node → the rule that propagated through it (an :class:`lrp.Explanation`'s table).
    absorbed : dict or None
        Node → relevance absorbed there per sample (arriving minus sent on: biases,
        stabilizers), ndarray (N,).
    """

    output: np.ndarray
    total: np.ndarray
    delta: Score
    source: str
    rules: dict | None = None
    absorbed: dict | None = field(default=None, repr=False)

    @property
    def gap(self) -> np.ndarray:
        """f − Σ R per sample (signed): what no input feature received."""
        return self.output - self.total

    @property
    def absorbed_total(self) -> np.ndarray | None:
        """Σ over nodes of the absorbed relevance, per sample (None without a table)."""
        if self.absorbed is None:
            return None
        return np.sum(list(self.absorbed.values()), axis=0) if self.absorbed else \
            np.zeros_like(self.output)

    @property
    def unexplained(self) -> np.ndarray | None:
        """gap − absorbed_total: what the per-node table does not account for (rounding);
        None without a table."""
        total = self.absorbed_total
        return None if total is None else self.gap - total

    @property
    def median(self) -> float:
        """Median δ over the samples where it is defined."""
        return self.delta.median()

    @property
    def p95(self) -> float:
        """95th percentile of δ over the samples where it is defined."""
        return self.delta.quantile(0.95)

    def summary(self) -> str:
        n = len(self.output)
        undefined = int(np.isnan(self.delta.values).sum())
        lines = [f"conservation of {self.source} on {n} samples: δ = |ΣR − f| / |f| "
                 f"median {self.median:.3g}, 95th percentile {self.p95:.3g} (lower is better)"]
        if undefined:
            lines.append(f"  {undefined} sample(s) with f(x) = 0: δ undefined (NaN)")
        lines.append(f"  Σ f = {self.output.sum():.6g}, Σ ΣR = {self.total.sum():.6g}, "
                     f"gap Σ(f − ΣR) = {self.gap.sum():.3g}")
        if self.absorbed is not None:
            lines.append(f"  absorbed in the graph: {self.absorbed_total.sum():.3g} in total, "
                         f"unaccounted {np.abs(self.unexplained).max():.3g} at most per sample")
            shown = sorted(self.absorbed.items(), key=lambda kv: -np.abs(kv[1]).sum())
            for node, values in shown:
                if np.abs(values).sum() > 0:
                    lines.append(f"    {node} ({self.rules.get(node, '?')}): "
                                 f"{values.sum():.3g}")
        return "\n".join(lines)


def _is_explain(method) -> bool:
    while isinstance(method, functools.partial):
        method = method.func
    return method is explain


def _name(method) -> str:
    if isinstance(method, functools.partial):
        args = [repr(a) for a in method.args] + [f"{k}={v!r}" for k, v in
                                                 method.keywords.items()]
        return f"{_name(method.func)}({', '.join(args)})"
    name = getattr(method, "__name__", type(method).__name__)
    return f"lrp.{name}" if getattr(method, "__module__", "").startswith("lrp") else name


def _check_output(given: torch.Tensor, f: torch.Tensor, what: str) -> None:
    """A result that carries its own explained output must be of this x and target."""
    given = torch.as_tensor(given).detach().to(device=f.device, dtype=f.dtype).reshape(-1)
    scale = float(f.abs().max()) if f.numel() else 0.0
    tol = 1e-5 * scale + torch.finfo(f.dtype).tiny
    if given.shape != f.shape or not bool(torch.allclose(given, f, rtol=1e-5, atol=tol)):
        raise ValueError(f"the {what} was computed for another output than f(x) at this x and "
                         "target (its output differs): pass the x and target it was made with")


def conservation(graph, x, relevance, target=None, *, batch_size=None) -> ConservationResult:
    """Relative conservation error of relevance, per sample.

        δ_n = |Σ_i R_ni − f(x_n)| / |f(x_n)|,   f(x) = Σ_c mask_c f_c(x),

    the sum running over every feature of every graph input, f the output ``lrp.explain``
    explains for ``target`` (the logits before an output softmax). δ = 0 means the relevance
    redistributes exactly the explained output (completeness; Bach et al.'s conservation,
    Sundararajan et al.'s completeness axiom).

    Parameters
    ----------
    graph : neon.Graph
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    relevance : lrp.Explanation, array, tensor, method or method name
        * an :class:`lrp.Explanation` (``lrp.explain(..., return_all=True)``): its relevance
          is scored and its table gives the rule of every node and the relevance absorbed
          there, so the gap can be attributed (``result.absorbed``);
        * a method (``lrp.gradient_x_input``, ``functools.partial(lrp.explain,
          composite=…)``) or a name of one: computed here; ``lrp.explain`` (or a partial of
          it) is run with ``return_all=True`` to get the table;
        * precomputed relevance shaped like x (or an :class:`lrp.Attribution`).
    target : as in :func:`lrp.explain`
    batch_size : int, optional
        Samples per forward pass (and per pass of the method).

    Returns
    -------
    ConservationResult
        ``delta`` (a :class:`Score`, lower is better), ``median`` and ``p95``, ``output`` f,
        ``total`` Σ R, ``gap`` f − Σ R, ``source``, and for explanations ``rules`` and
        ``absorbed`` (per node), with ``unexplained`` = gap − Σ absorbed (≈ rounding).

    Warns
    -----
    RuntimeWarning
        When f(x) = 0 for some samples (|f| within 16 units of rounding of the largest
        |f_c(x)| of that sample): δ is undefined there and set to NaN (never ∞); the
        absolute gap is still in ``result.gap``.

    References
    ----------
    Bach, Binder, Montavon, Klauschen, Müller & Samek, "On pixel-wise explanations for
    non-linear classifier decisions by layer-wise relevance propagation", PLoS ONE 2015;
    Sundararajan, Taly & Yan, "Axiomatic attribution for deep networks", ICML 2017.
    """
    call = Call(graph, x, target, batch_size, method="lrp.metrics.conservation")
    out, mask = call.outputs_and_masks()
    f = flat(out * mask).sum(1)
    table = None
    if isinstance(relevance, Explanation):
        _check_output(relevance.output, f, "Explanation")
        source = "an lrp.Explanation"
        table, given = relevance.table, relevance.relevance
    elif callable(relevance) or isinstance(relevance, str):
        method = resolve_method(relevance, "relevance")
        if _is_explain(method):
            xs = tuple(call.xs) if len(call.xs) > 1 else call.xs[0]
            e = method(graph, xs, call.target, batch_size=call.batch_size, return_all=True)
            table, given = e.table, e.relevance
        else:
            given = method
        source = _name(method)
    else:
        if hasattr(relevance, "attribution") and hasattr(relevance, "output"):
            _check_output(relevance.output, f, "lrp.Attribution")
        source = "precomputed"
        given = relevance
    rs = relevance_of(call, given, call.target)
    total = sum(flat(r).sum(1) for r in rs)
    scale = flat(out).abs().amax(1)
    zero = f.abs() <= ZERO_TOLERANCE * torch.finfo(f.dtype).eps * scale
    delta = (total - f).abs() / torch.where(zero, torch.ones_like(f), f.abs())
    delta = torch.where(zero, torch.full_like(delta, float("nan")), delta)
    if bool(zero.any()):
        rows = torch.nonzero(zero).flatten().tolist()
        warnings.warn(f"lrp.metrics.conservation: f(x) = 0 for {len(rows)} sample(s) "
                      f"{rows[:5]}: δ = |ΣR − f| / |f| is undefined there and set to NaN "
                      "(result.gap holds the absolute gap)", RuntimeWarning, stacklevel=2)
    rules = absorbed = None
    if table is not None:
        rules = {row["node"]: row["rule"] for row in table}
        absorbed = {row["node"]: row["absorbed"].detach().cpu().numpy().astype(np.float64)
                    for row in table}
        composites = sorted(set(rules.values()))
        source += f" (rules: {', '.join(composites)})"

    def numpy(t):
        return t.detach().cpu().numpy().astype(np.float64)

    score = Score("conservation_delta", numpy(delta), False,
                  "|ΣR − f(x)| / |f(x)| per sample, f the explained output "
                  f"Σ_c mask_c f_c(x); relevance from {source}")
    return ConservationResult(numpy(f), numpy(total), score, source, rules, absorbed)
