"""Checks a neuralizer must pass, in the spirit of scikit-learn's ``check_estimator``.

:func:`check_neuralizer` runs every check the project holds its own neuralizers to on a fitted
estimator and data, so that a user who registers a neuralizer of their own
(:func:`neon.register_neuralizer`) can run the same checks on it. It is the one module of
:mod:`neon` that uses :mod:`lrp` (imported when called): a harness for the whole stack.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_neuralizer", "NeuralizerCheckError"]


class NeuralizerCheckError(AssertionError):
    """A neuralizer failed one of :func:`check_neuralizer`'s checks (the message says which)."""


def _fail(name, message):
    raise NeuralizerCheckError(f"check_neuralizer: {name}: {message}")


def _relative_error(actual, expected) -> float:
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    return float(np.abs(actual - expected).max(initial=0.0)) / scale


def check_neuralizer(estimator, X, *, reference=None, rtol: float | None = None,
                     conservation_rtol: float = 1e-6, jitter: float = 1e-3,
                     seed: int = 0) -> dict:
    """Check the neuralizer of a fitted ``estimator`` on data ``X``; return the measurements.

    Checks, in order (each failure raises :class:`NeuralizerCheckError` naming it):

    1. **builds**: ``neon.neuralize(estimator, X)`` returns a :class:`neon.Graph` that passes
       :meth:`~neon.Graph.lint`, declares its ``source`` (the estimator) and what it
       ``explained`` (a sentence), and whose ``output_labels``, if declared, are one per
       output column;
    2. **equivalence**: the graph's output on ``X`` matches the registered reference (the
       estimator's own ``transform`` / ``score_samples`` / ``decision_function`` /
       ``predict_proba``, see :class:`neon.sklearn.registry.Expected`) to ``rtol`` of its
       scale, or in sign where the reference says so;
    3. **finite**: the output and ``lrp.explain(graph, X)`` (default rules) are finite;
    4. **batch independence**: explaining ``X`` in chunks of 1 gives the same relevance;
    5. **conservation** where the graph declares it (``graph.conserves``): on ``X`` jittered
       by ``jitter`` standard deviations (so that no sample sits exactly on a centre, where a
       distance unit's share is absorbed by design), Σ_i R_i = f(x) to ``conservation_rtol``;
    6. **bad input**: the graph refuses NaN and a wrong feature count; the neuralizer refuses
       reference data with NaN or the wrong width, and an unfitted clone of the estimator.

    Parameters
    ----------
    estimator : fitted scikit-learn estimator or Pipeline
    X : array of shape (n, d)
        Data in the estimator's raw input space (a few dozen samples suffice).
    reference : callable, optional
        ``reference(estimator, X) -> Expected``; default: the one registered with the
        neuralizer.
    rtol : float, optional
        Overrides the reference's tolerance.
    conservation_rtol, jitter, seed : float, float, int

    Returns
    -------
    dict
        ``equivalence_error`` (relative), ``conservation_error`` (relative, or None where not
        declared), ``n_samples``.
    """
    import lrp

    from .graph import Graph, GraphInputError
    from .neuralize import neuralize
    from .sklearn.registry import reference_for
    from .sklearn.validation import check_data

    X = check_data(X, name="X")
    report = {"n_samples": len(X)}

    graph = neuralize(estimator, X)
    if not isinstance(graph, Graph):
        _fail("builds", f"the neuralizer returned {type(graph).__name__}, not a neon.Graph")
    graph.lint()
    if graph.source is not estimator:
        _fail("builds", "the graph does not declare the estimator as its source "
                        "(graph.declare(source=estimator))")
    if not isinstance(graph.explained, str) or not graph.explained:
        _fail("builds", "the graph does not say what it explains (graph.declare(explained=...))")
    out = graph(X)
    if out.ndim != 2 or out.shape[0] != len(X):
        _fail("builds", f"output of shape {out.shape} for {len(X)} samples; expected (N, C)")
    if graph.output_labels is not None and len(graph.output_labels) != out.shape[1]:
        _fail("builds", f"{len(graph.output_labels)} output labels for {out.shape[1]} output "
                        "columns")

    reference = reference or reference_for(estimator)
    if reference is None:
        _fail("equivalence", f"no reference is registered for {type(estimator).__name__}: pass "
                             "reference=(estimator, X) -> Expected, or register one with "
                             "register_neuralizer(..., reference=...)")
    expected = reference(estimator, X)
    tol = expected.rtol if rtol is None else rtol
    got = out if expected.output_map is None else expected.output_map(out)
    want = np.asarray(expected.values, dtype=np.float64)
    if got.shape != want.shape:
        _fail("equivalence", f"output of shape {got.shape}, reference {expected.what} of shape "
                             f"{want.shape}")
    if expected.relation == "sign":
        scale = float(np.abs(want[np.isfinite(want)]).max(initial=0.0))
        clear = np.isfinite(want) & (np.abs(want) > tol * scale)
        wrong = int((np.sign(got[clear]) != np.sign(want[clear])).sum())
        if wrong:
            _fail("equivalence", f"{wrong} of {int(clear.sum())} values have the wrong sign "
                                 f"against {expected.what}")
        report["equivalence_error"] = float(wrong)
    else:
        error = _relative_error(got, want)
        if not error <= tol:
            _fail("equivalence", f"relative error {error:.3g} against {expected.what} "
                                 f"(tolerance {tol:g})")
        report["equivalence_error"] = error

    if not np.isfinite(out).all():
        _fail("finite", f"{int((~np.isfinite(out)).sum())} non-finite output value(s)")
    relevance = lrp.explain(graph, X)
    if not np.isfinite(relevance).all():
        _fail("finite", f"{int((~np.isfinite(relevance)).sum())} non-finite relevance value(s)")
    chunked = lrp.explain(graph, X, batch_size=1)
    if not np.allclose(chunked, relevance, rtol=1e-9, atol=1e-12 * np.abs(relevance).max()):
        _fail("batch independence", "relevance depends on the batch it is explained in "
                                    f"(max difference {np.abs(chunked - relevance).max():.3g})")

    report["conservation_error"] = None
    if graph.conserves:
        rng = np.random.default_rng(seed)
        spread = X.std(0)
        spread = np.where(spread > 0, spread, 1.0)
        Xj = X + jitter * spread * rng.standard_normal(X.shape)
        e = lrp.explain(graph, Xj, return_all=True)
        f = e.output.detach().cpu().numpy()
        error = _relative_error(e.relevance.sum(1), f)
        if not error <= conservation_rtol:
            _fail("conservation", f"the graph declares conservation, but Σ_i R_i differs from "
                                  f"the explained output by {error:.3g} of its scale")
        report["conservation_error"] = error

    bad = X[:2].copy()
    bad[0, 0] = np.nan
    for name, value in (("NaN input", bad), ("a wrong feature count", X[:2, :-1])):
        try:
            graph(value)
        except GraphInputError:
            pass
        else:
            _fail("bad input", f"the graph accepted {name}")
        try:
            neuralize(estimator, value)
        except (ValueError, TypeError):
            pass
        else:
            _fail("bad input", f"the neuralizer accepted reference data with {name}")
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    try:
        neuralize(clone(estimator))
    except NotFittedError:
        pass
    else:
        _fail("bad input", "the neuralizer accepted an unfitted estimator")
    return report
