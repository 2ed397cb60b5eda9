"""Neuralizers for linear classifiers and regressors: one linear op from ``coef_``.

Classifiers (LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, Perceptron, …)
compute the decision function f(x) = W x + b. The graph's output is

* binary: two columns [−f, f] (for ``classes_[0]``, ``classes_[1]``), so the argmax is
  ``predict`` (f > 0 ⇒ ``classes_[1]``) and the default target, the predicted class, explains
  that class's evidence |f|; ``predict_proba`` of LogisticRegression is σ(out[:, 1]);
* multi-class: the C columns of ``decision_function`` (LogisticRegression: the multinomial
  logits, ``predict_proba`` = softmax).

Regressors (LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, …) give (N, n_targets)
predictions; by default every target is explained (their sum; ``target=k`` picks one).

Reference points (docs/neon.md, "Already-neural and linear"). Given reference data,
``neon.neuralize(model, X_train)``, the op is a :class:`~neon.ops.RootedLinear`: each output
unit f_c(u) = w_c·u + b_c gets a root m_c with f_c(m_c) = 0 chosen from the data mean μ (u:
the features the op reads, see :func:`~neon.sklearn.builders.add_first_linear`), and its
default rule (:class:`lrp.rules.RootRule`) gives R_i = w_ci (u_i − m_ci), so Σ_i R_i = f_c(u)
exactly (``graph.conserves``):

* classifiers (``root="nearest"``): m_c = μ − f_c(μ) w_c/‖w_c‖², the point of the decision
  hyperplane f_c = 0 nearest to μ; R_i is feature i's contribution to f_c measured from
  that boundary point, R_i = w_ci (u_i − μ_i) + f_c(μ) w_ci²/‖w_c‖². The two columns
  [−f, f] of a binary model share it;
* regressors (``root="equal"``): m_ci = μ_i − f_c(μ)/(d w_ci) on the d features with
  w_ci ≠ 0 (m_ci = μ_i elsewhere), the root reached by shifting every feature's contribution
  equally, so R_i = w_ci (u_i − μ_i) + f_c(μ)/d: feature i's
  contribution to the prediction relative to the data mean, plus an equal share of the
  prediction at the mean (f = 0 is no boundary for a regressor; the nearest root there
  ranks features by w_i², not by what they do at x).

``root="origin"``, or no reference data (then with a one-time
:class:`~neon.sklearn.builders.ReferenceDataWarning`), gives the plain ``Linear`` with LRP-ε:
R_i = u_i w_ci f_c/(f_c + ε), relevance against u = 0. Reference: Montavon et al.,
"Explaining nonlinear classification decisions with deep Taylor decomposition", Pattern
Recognition 65, 2017; Bach et al., "On pixel-wise explanations for non-linear classifier
decisions by layer-wise relevance propagation", PLoS ONE 2015.
"""

from __future__ import annotations

import numpy as np

from .builders import (
    add_first_linear,
    all_outputs,
    finish_graph,
    resolve_root,
    start_graph,
)
from .registry import Expected, register_neuralizer
from .validation import check_fitted

__all__ = ["neuralize_linear_classifier", "neuralize_linear_regressor", "CLASSIFIERS",
           "REGRESSORS"]

CLASSIFIERS = ("LogisticRegression", "LogisticRegressionCV", "LinearSVC", "RidgeClassifier",
               "RidgeClassifierCV", "SGDClassifier", "Perceptron")
REGRESSORS = ("LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet",
              "ElasticNetCV", "BayesianRidge", "ARDRegression", "HuberRegressor", "SGDRegressor",
              "LinearSVR")


# ----------------------------------------------------------------------------- parameters

def _parameters(estimator):
    """(W, b) as float64 arrays of shapes (k, d) and (k,), checked finite."""
    weight = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    bias = np.broadcast_to(np.asarray(estimator.intercept_, dtype=np.float64),
                           (weight.shape[0],)).copy()
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise ValueError(f"{type(estimator).__name__} has non-finite coefficients "
                         "(did the fit diverge?); it cannot be neuralized")
    return weight, bias


def _conserves(root, weight) -> bool:
    """Rooted units conserve exactly; a unit with w = 0 (a constant) has no root."""
    return root != "origin" and bool((np.abs(weight).sum(1) > 0).all())


def _finish(graph, estimator, preprocessing, out, data, root, weight, **declarations):
    """Declare the graph; with reference data also ``meta`` ``reference_mean`` (μ, raw
    features) and ``reference_output`` (the graph's output at μ, f(μ))."""
    graph = finish_graph(graph, estimator, preprocessing, out, root=root,
                         conserves=_conserves(root, weight), **declarations)
    if data is not None and root != "origin":
        mean = data.mean(0)
        graph.meta.update(reference_mean=mean, reference_output=graph(mean[None, :])[0])
    return graph


# ----------------------------------------------------------------------------- classifiers

def _is_logistic(estimator) -> bool:
    """Whether ``predict_proba`` is the logistic function of the decision (binary case)."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    return isinstance(estimator, LogisticRegression) or (
        isinstance(estimator, SGDClassifier) and estimator.loss == "log_loss")


def linear_classifier_reference(estimator, X) -> Expected:
    """``decision_function``: two columns [−f, f] for two classes, else one per class."""
    f = np.asarray(estimator.decision_function(X), dtype=np.float64)
    return Expected(np.stack([-f, f], 1) if f.ndim == 1 else f, rtol=1e-9,
                    what="decision_function(X)")


def linear_regressor_reference(estimator, X) -> Expected:
    """``predict`` as (N, n_targets)."""
    y = np.asarray(estimator.predict(X), dtype=np.float64)
    return Expected(y.reshape(len(X), -1), rtol=1e-9, what="predict(X)")


@register_neuralizer(*CLASSIFIERS, reference=linear_classifier_reference)
def neuralize_linear_classifier(estimator, data=None, *, preprocessing=None,
                                fold_preprocessing: bool = False, root=None):
    """Neuralize a fitted linear classifier as one ``Linear`` op.

    Parameters
    ----------
    estimator : LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, Perceptron
        Fitted; ``coef_`` (C, d) or (1, d)/(d,) for two classes, ``intercept_``.
    data : array-like of shape (n, d), optional
        Reference data in raw-feature space (the training data): its mean μ places the roots.
        Without it, the old origin-relative relevance and a one-time
        :class:`~neon.sklearn.builders.ReferenceDataWarning`.
    preprocessing : AffinePreprocessing, optional
        Pipeline preprocessing x' = A x + c (given by the Pipeline neuralizer); its per-feature
        steps become nodes before the ``linear`` node (see :mod:`neon.sklearn.preprocessing`);
        with reference data a dense step (PCA) and those after it are folded into it.
    fold_preprocessing : bool
        Fold all the preprocessing into the ``linear`` node (W A, W c + b) instead: roots (or
        LRP-ε's x = 0) in raw features.
    root : {None, "nearest", "equal", "origin"}
        ``None``: ``"nearest"`` with ``data``, ``"origin"`` without. ``"nearest"``: m_c on
        f_c = 0 nearest to μ; ``"equal"``: the root that shifts every feature's contribution
        equally (see :func:`~neon.sklearn.builders.linear_roots`); ``"origin"``: a plain
        ``Linear`` (LRP-ε, relevance against x' = 0), no warning.

    Returns
    -------
    Graph
        Output ``linear``: binary, (N, 2) = [−f, f] with f = ``decision_function``;
        multi-class, (N, C) = ``decision_function``. ``argmax`` gives ``predict``. Rooted:
        ``conserves`` and ``meta`` ``root``, ``reference_mean``, ``reference_output``.

    Notes
    -----
    f(x) = W x' + b. Rooted (default with data): R_i = w_ci (x'_i − m_ci) for the explained
    class c (binary: w_c = ±w, one shared root), Σ_i R_i = f_c(x); with ``"nearest"``,
    R_i = w_ci (x'_i − μ_i) + f_c(μ) w_ci²/‖w_c‖², feature i's contribution to f_c measured
    from the point of the decision boundary nearest to the data mean. ``"origin"``:
    R_i = x'_i w_ci f_c / (f_c + ε). References: Montavon et al., Pattern Recognition 2017;
    Bach et al., PLoS ONE 2015.
    """
    from sklearn.linear_model import LogisticRegression

    check_fitted(estimator, "coef_")
    weight, bias = _parameters(estimator)
    classes = list(estimator.classes_)
    if len(classes) == 2 and weight.shape[0] == 1:
        weight, bias = np.concatenate([-weight, weight]), np.concatenate([-bias, bias])
        explained = ("decision_function f = w·x + b as two columns [−f, f] (classes_[0], "
                     "classes_[1]); default: the predicted class, i.e. its evidence |f|")
        link = "logistic of column 1" if _is_logistic(estimator) else None
    elif weight.shape[0] == len(classes):
        explained = ("decision_function, one column per class; default: the predicted "
                     "class's score")
        link = "softmax" if isinstance(estimator, LogisticRegression) else None
    else:
        raise ValueError(f"{type(estimator).__name__} has coef_ of shape "
                         f"{np.shape(estimator.coef_)} for {len(classes)} classes; only "
                         "binary and multi-class (not multi-label/multi-output) are supported")
    graph, source, data = start_graph(estimator, data, preprocessing, weight.shape[1])
    root = resolve_root(root, data, estimator, "nearest")
    out = add_first_linear(graph, source, "linear", weight, bias, preprocessing,
                           fold_preprocessing, data=None if root == "origin" else data,
                           root=root, role="decision_function")
    return _finish(graph, estimator, preprocessing, out, data, root, weight,
                   task="classification", explained=explained, output_labels=classes, link=link)


# ----------------------------------------------------------------------------- regressors

@register_neuralizer(*REGRESSORS, reference=linear_regressor_reference)
def neuralize_linear_regressor(estimator, data=None, *, preprocessing=None,
                               fold_preprocessing: bool = False, root=None):
    """Neuralize a fitted linear regressor as one ``Linear`` op.

    Parameters
    ----------
    estimator : LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, LinearSVR, …
        Fitted; ``coef_`` (d,) or (n_targets, d), ``intercept_``.
    data : array-like of shape (n, d), optional
        Reference data in raw-feature space (the training data), as for
        :func:`neuralize_linear_classifier`.
    preprocessing : AffinePreprocessing, optional
        Pipeline preprocessing x' = A x + c (see :func:`neuralize_linear_classifier`).
    fold_preprocessing : bool
        Fold the preprocessing into the ``linear`` node.
    root : {None, "equal", "nearest", "origin"}
        ``None``: ``"equal"`` with ``data``, ``"origin"`` without (see
        :func:`neuralize_linear_classifier`).

    Returns
    -------
    Graph
        Output ``linear`` of shape (N, n_targets) (n_targets = 1 for a 1-d ``y``):
        ``predict`` = y(x) = W x' + b. Default target: every output (their sum); pass
        ``target=k`` to :func:`lrp.explain` for target k. Rooted: ``conserves`` and ``meta``
        ``root``, ``reference_mean``, ``reference_output`` (the prediction at μ).

    Notes
    -----
    Rooted with ``"equal"`` (default with data): R_i = w_ti (x'_i − μ_i) + y_t(μ)/d_t for
    target t, d_t its nonzero weights: feature i's contribution relative to the data mean
    plus an equal share of the mean's prediction; Σ_i R_i = y_t(x) exactly, and the ranking
    of features is that of occlusion with the mean (measured: docs/neon.md). ``"origin"``:
    R_i = x'_i w_i y / (y + ε), the intercept keeps b·y/(y + ε). References: Montavon et
    al., Pattern Recognition 2017; Bach et al., PLoS ONE 2015.
    """
    check_fitted(estimator, "coef_")
    weight, bias = _parameters(estimator)
    graph, source, data = start_graph(estimator, data, preprocessing, weight.shape[1])
    root = resolve_root(root, data, estimator, "equal")
    out = add_first_linear(graph, source, "linear", weight, bias, preprocessing,
                           fold_preprocessing, data=None if root == "origin" else data, root=root,
                           role="prediction")
    return _finish(graph, estimator, preprocessing, out, data, root, weight, task="regression",
                   explained="the prediction, one column per target; default: all targets",
                   default_target=all_outputs, link=None)
