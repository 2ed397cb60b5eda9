"""Neuralizer for SVC and NuSVC, binary and multi-class (one-vs-one).

Reference: Bley, Kauffmann et al., "Explaining kernel SVMs with neuralization",
arXiv:2508.03913, 2025 (the two-class and multi-class network), and Kauffmann, Montavon et al.
(neuralization-propagation). Design notes: docs/neon.md, "Two-class and multi-class SVC/NuSVC".

Every one-vs-one duel (a, b), a < b, has decision_ab(x) = Σ_i c_i k(x, u_i) + b_ab, positive
voting for class a (the binary estimator's ``decision_function`` is −decision_01).

* RBF kernel (the NEON network): g_ab = log P_ab − log N_ab with P/N the α-weighted kernel sums
  over the support vectors with positive/negative coefficient plus the intercept as a virtual
  unit; sign(g_ab) = sign(decision_ab) exactly, the magnitude is a log-ratio. Explained by
  default with ``DuelTaylor`` against a reference point (the data mean when data is given).
* linear kernel: g_ab = decision_ab, one exact affine layer.
* polynomial kernel (γ u·x + c₀)^p: g_ab = decision_ab, exact Linear → Power → Linear.

The graph's output is f (N, n_classes) with f_c = min_{j≠c} g_cj ("c beats its strongest
rival"); f_c > 0 ⇔ c wins every duel, so ``argmax f`` is ``predict`` whenever some class wins
all of its duels (always for two classes, where f = [−g, g] with g of the sign of
``decision_function``). When the one-vs-one votes form a cycle (no class wins all duels, a few
points per thousand on digits), ``predict`` counts votes while argmax f picks the class whose
worst duel is least bad; they can differ there.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..graph import Graph
from ..ops import Linear, Power, RBFDuels, RivalMin, RootedLinear, SquaredDistance, check_beta
from .builders import (
    ReferenceDataWarning,
    _outside_neon,
    declare_estimator,
    fold_distance,
    input_width,
)
from .preprocessing import AffinePreprocessing, fold_into_linear
from .registry import Expected, UnsupportedEstimatorError, register_neuralizer
from .validation import as_tensor, check_data, check_fitted

__all__ = ["neuralize_svc", "svc_duels"]

KERNELS = ("rbf", "linear", "poly")


def _dense(a) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64)


def svc_duels(estimator) -> list:
    """The one-vs-one duels of a fitted SVC/NuSVC in a common sign convention.

    Returns
    -------
    list of (a, b, index, coef, intercept)
        Class indices a < b, the support-vector indices of the duel, their coefficients and
        the intercept, with decision_ab(x) = Σ coef·k(x, u_index) + intercept > 0 voting for
        class a. Layout (libsvm): the SVs of class a use ``dual_coef_[b − 1]``, those of class
        b use ``dual_coef_[a]`` (blocks from ``n_support_``); intercepts in the order (0, 1),
        (0, 2), …, (1, 2), …. Two classes: the public coefficients are negated (scikit-learn's
        binary ``decision_function`` > 0 means ``classes_[1]``).

    References
    ----------
    Chang & Lin, "LIBSVM: a library for support vector machines", ACM TIST 2011 (the
    one-vs-one layout); Bley, Kauffmann et al., arXiv:2508.03913, 2025.
    """
    coef = _dense(estimator.dual_coef_)
    intercept = np.asarray(estimator.intercept_, dtype=np.float64)
    n_classes = len(estimator.classes_)
    if n_classes == 2:
        return [(0, 1, np.arange(coef.shape[1]), -coef[0], -float(intercept[0]))]
    start = np.r_[0, np.cumsum(estimator.n_support_)]
    duels, k = [], 0
    for a in range(n_classes):
        for b in range(a + 1, n_classes):
            ia, ib = np.arange(start[a], start[a + 1]), np.arange(start[b], start[b + 1])
            c = np.r_[coef[b - 1, ia], coef[a, ib]]
            duels.append((a, b, np.r_[ia, ib], c, float(intercept[k])))
            k += 1
    return duels


# ----------------------------------------------------------------------------- checks


def _check_estimator(estimator, preprocessing):
    """Refuse what cannot be neuralized; return the graph's input width."""
    check_fitted(estimator, ["support_vectors_", "dual_coef_"])
    kernel = estimator.kernel
    name = type(estimator).__name__
    if callable(kernel) or kernel == "precomputed":
        what = "a callable kernel" if callable(kernel) else "kernel='precomputed'"
        raise UnsupportedEstimatorError(
            f"{name} with {what} cannot be neuralized: the kernel is not a known function of "
            f"x and the support vectors. Supported kernels: {', '.join(KERNELS)}")
    if kernel not in KERNELS:
        raise UnsupportedEstimatorError(
            f"{name}(kernel={kernel!r}) cannot be neuralized: the {kernel} kernel has no exact "
            f"NEON network. Supported kernels: {', '.join(KERNELS)}")
    n_features = int(estimator.n_features_in_)
    if preprocessing is not None:
        if not isinstance(preprocessing, AffinePreprocessing):
            raise TypeError("preprocessing must be a "
                            "neon.sklearn.preprocessing.AffinePreprocessing, "
                            f"got {type(preprocessing).__name__}")
    return input_width(n_features, preprocessing, name)


def _sides(index, coef, intercept):
    keep = coef != 0
    index, coef = index[keep], coef[keep]
    pos, neg = coef > 0, coef < 0
    return index[pos], np.log(coef[pos]), index[neg], np.log(-coef[neg]), intercept


def _pad(rows, fill, dtype):
    width = max(1, max(len(r) for r in rows))
    out = np.full((len(rows), width), fill, dtype=dtype)
    for k, r in enumerate(rows):
        out[k, :len(r)] = r
    return out


# ----------------------------------------------------------------------------- networks


def _rbf_duels_op(gamma, duels, reference=None, geometry=None):
    sides = [_sides(*d[2:]) for d in duels]
    for (a, b, *_), (pi, _, ni, _, b0) in zip(duels, sides):
        if (len(pi) == 0 and b0 <= 0) or (len(ni) == 0 and b0 >= 0):
            raise ValueError(f"the duel of classes {a} and {b} has no support vector (nor "
                             "intercept) on one side: its decision never changes sign")
    return RBFDuels(
        gamma,
        pos_index=torch.as_tensor(_pad([s[0] for s in sides], 0, np.int64)),
        pos_logw=as_tensor(_pad([s[1] for s in sides], -np.inf, np.float64)),
        neg_index=torch.as_tensor(_pad([s[2] for s in sides], 0, np.int64)),
        neg_logw=as_tensor(_pad([s[3] for s in sides], -np.inf, np.float64)),
        virtual_logw=as_tensor([np.log(abs(s[4])) if s[4] != 0 else -np.inf for s in sides]),
        virtual_sign=as_tensor([np.sign(s[4]) for s in sides]),
        counts=[(len(s[0]), len(s[2])) for s in sides],
        reference=None if reference is None else as_tensor(reference), geometry=geometry)


_NO_DATA = ("neon.neuralize(svc) without reference data: the RBF duels are explained against "
            "the mean of the support vectors (DuelTaylor). Give the training data, "
            "neon.neuralize(svc, X_train), to measure relevance against the data mean "
            "(the point a feature is 'removed' to).")


def _rbf_reference(sv, duels, data, preprocessing):
    """(μ in raw features, where it came from): the data mean, else the support vectors'."""
    if data is not None:
        return data.mean(0), "data mean"
    warnings.warn(_NO_DATA, ReferenceDataWarning, stacklevel=_outside_neon())
    used = np.unique(np.concatenate([index[coef != 0] for *_, index, coef, _ in duels]))
    mean = sv[used].mean(0, keepdims=True)
    mean = mean if preprocessing is None else preprocessing.preimage(mean)
    return mean[0], "support-vector mean (no data given)"


def _build_rbf(graph, estimator, sv, duels, preprocessing, data=None):
    distance = fold_distance(sv, preprocessing)
    graph.add_node("distance", SquaredDistance(**distance), ["x"])
    reference, source = _rbf_reference(sv, duels, data, preprocessing)
    op = _rbf_duels_op(estimator._gamma, duels, reference, SquaredDistance(**distance))
    graph.add_node("duels", op, ["distance", "x"])
    graph.meta["reference_source"] = source
    return "duels"


def _linear_root(w, b, ref):
    """The projection of ``ref`` onto the hyperplane w·m + b = 0."""
    norm = float(w @ w)
    if norm == 0:
        return ref
    return ref - (w @ ref + b) / norm * w


def _build_linear(graph, estimator, sv, duels, preprocessing, data=None):
    weights, biases, roots = [], [], []
    for *_, index, coef, b in duels:
        keep = coef != 0
        w = coef[keep] @ sv[index[keep]]
        ref = sv[index[keep]].mean(0) if keep.any() else np.zeros(sv.shape[1])
        weights.append(w)
        biases.append(b)
        roots.append(_linear_root(w, b, ref))
    w, b = fold_into_linear(np.array(weights), np.array(biases), preprocessing)
    root = np.array(roots) if preprocessing is None else preprocessing.preimage(np.array(roots))
    graph.add_node("duels", RootedLinear(as_tensor(w), as_tensor(b), as_tensor(root)), ["x"])
    return "duels"


def _build_poly(graph, estimator, sv, duels, preprocessing, data=None):
    gamma, coef0, degree = float(estimator._gamma), float(estimator.coef0), estimator.degree
    w1, b1 = fold_into_linear(gamma * sv, np.full(len(sv), coef0), preprocessing)
    graph.add_node("kernel", Linear(as_tensor(w1), as_tensor(b1)), ["x"])
    graph.add_node("power", Power(int(degree)), ["kernel"])
    w2 = np.zeros((len(duels), len(sv)))
    for k, (*_, index, coef, _) in enumerate(duels):
        w2[k, index] = coef
    b2 = np.array([d[4] for d in duels])
    graph.add_node("duels", Linear(as_tensor(w2), as_tensor(b2)), ["power"])
    return "duels"


_BUILDERS = {"rbf": _build_rbf, "linear": _build_linear, "poly": _build_poly}

_MEANING = {
    "rbf": "log-ratio g_ab = log P_ab(x) − log N_ab(x) of the α-weighted RBF kernel sums "
           "(same sign as the duel's decision value)",
    "linear": "the duel's decision value (exact)",
    "poly": "the duel's decision value (exact)",
}


def _default_beta(graph, data):
    if data is None:
        return 1.0
    out = graph.forward(data)
    scale = float(np.mean(np.abs(out.max(1))))
    return 1.0 / scale if np.isfinite(scale) and scale > 0 else 1.0


def svc_reference(estimator, X) -> Expected:
    """f_c = min_{j≠c} decision_cj from the one-vs-one ``decision_function``: equal for the
    linear and polynomial kernels, the same sign for RBF (whose duels are log-ratios)."""
    import copy

    ovo = copy.copy(estimator)
    ovo.decision_function_shape = "ovo"
    dec = np.asarray(ovo.decision_function(X), dtype=np.float64).reshape(len(X), -1)
    k = len(estimator.classes_)
    if k == 2:
        dec = -dec       # binary decision_function > 0 means classes_[1]: duel (0, 1) is −dec
    g = np.full((len(X), k, k), np.inf)
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    for column, (a, b) in enumerate(pairs):
        g[:, a, b], g[:, b, a] = dec[:, column], -dec[:, column]
    f = g.min(2)
    if estimator.kernel == "rbf":
        return Expected(f, relation="sign", rtol=1e-9, what="decision_function (ovo)")
    return Expected(f, rtol=1e-8, what="decision_function (ovo)")


@register_neuralizer("SVC", "NuSVC", reference=svc_reference)
def neuralize_svc(estimator, data=None, *, preprocessing=None, beta=None):
    """Neuralize a fitted SVC or NuSVC (kernels 'rbf', 'linear', 'poly').

    Parameters
    ----------
    estimator : sklearn.svm.SVC or sklearn.svm.NuSVC, fitted
    data : array (n, d), optional
        Reference data (raw features), typically the training data. RBF kernel: its mean μ
        is the reference point of the duel rule (:class:`lrp.rules.neon.DuelTaylor`), so a
        feature's relevance is measured against the data mean; without data the mean of the
        support vectors is used (with a warning). With several classes and ``beta=None`` it
        also sets the soft-min stiffness β = 1 / mean_n |max_c f_c(x_n)|.
    preprocessing : AffinePreprocessing, optional
        x' = A x + c applied before the estimator (from a Pipeline); folded into the first op
        so that relevance lands on the raw features.
    beta : float, optional
        Relevance stiffness of the soft-min split over the duels (default 1, or from ``data``;
        ``float('inf')`` gives all relevance to the strongest rival). Stored on the graph.

    Returns
    -------
    Graph
        Input ``x`` (N, d); output ``rivals`` (N, n_classes), f_c = min_{j≠c} g_cj, where g_cj
        is the duel value described in ``graph.meta["duel_value"]``. ``argmax`` is the
        predicted class (see the module notes on one-vs-one vote cycles). RBF nodes:
        ``distance`` → ``duels`` (which also reads ``x``, for its rule) → ``rivals``; linear:
        ``duels`` → ``rivals``; polynomial: ``kernel`` → ``power`` → ``duels`` → ``rivals``.
        ``meta["reference_point"]`` (RBF) is μ and ``meta["reference_source"]`` says where it
        came from.

    Notes
    -----
    RBF: z_i = d_i(x) − γ⁻¹ log α_i, g = LSE_{S⁺}(−γ z) − LSE_{S⁻}(−γ z) with S⁺/S⁻ split by the
    sign of each support vector's coefficient in that duel (never by class label: NuSVC can
    flip them), zero coefficients dropped, and the intercept b a virtual unit with zero distance
    and α = |b|. As a network, g/γ = smin_{j∈S⁻} smax_{i∈S⁺} (z_j − z_i); the pair units are
    never materialized (Bley, Kauffmann et al., arXiv:2508.03913, 2025).

    RBF rules: ``RivalSoftMin`` splits f_c over the duels, then by default
    :class:`lrp.rules.neon.DuelTaylor` expands the duels around a root found from μ (gradient
    at the midpoint (x + μ)/2 times x − root; Σ_i R_i = f_c exactly). The midpoint rule on
    the pair units (``DuelMidpoint``, Bley et al.'s construction, not conservative) stays
    available: ``lrp.explain(graph, x, composite=lrp.rules.DuelMidpoint())``.
    """
    d_in = _check_estimator(estimator, preprocessing)
    if beta is not None:
        beta = check_beta(beta)
    data = None if data is None else check_data(data, d_in, "data")
    kernel = estimator.kernel
    sv = _dense(estimator.support_vectors_)
    duels = svc_duels(estimator)
    graph = Graph()
    graph.add_input("x", (d_in,))
    last = _BUILDERS[kernel](graph, estimator, sv, duels, preprocessing, data)
    pairs = torch.as_tensor([[a, b] for a, b, *_ in duels], dtype=torch.long)
    rivals = RivalMin(pairs, len(estimator.classes_), 1.0 if beta is None else beta)
    graph.add_node("rivals", rivals, [last])
    graph.set_output("rivals")
    if beta is None and len(estimator.classes_) > 2:
        rivals.beta = _default_beta(graph, data)
    return declare_estimator(
        graph, estimator, preprocessing, kernel=kernel, classes=np.array(estimator.classes_),
        duels=[(a, b) for a, b, *_ in duels], beta=rivals.beta,
        gamma=float(getattr(estimator, "_gamma", np.nan)), duel_value=_MEANING[kernel],
        reference="Bley, Kauffmann et al., arXiv:2508.03913 (2025)",
        output_labels=np.array(estimator.classes_),
        reference_point=(graph["duels"].op.reference.numpy().copy() if kernel == "rbf"
                         else None),
        # linear: root points on the hyperplanes; rbf: DuelTaylor's root of the secant plane
        conserves=kernel in ("linear", "rbf"),
        explained=("f_c = min over rivals j of the duel g_cj (g_ba = −g_ab): class c against its "
                   "strongest rival; f_c > 0 iff c wins every one-vs-one duel; two classes: "
                   "[−g, g] with g of the sign of decision_function"))
