"""Neuralizers for linear classifiers and regressors: one ``Linear`` op from ``coef_``.

Classifiers (LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, Perceptron, …)
compute the decision function f(x) = W x + b. The graph's output is

* binary: two columns [−f, f] (for ``classes_[0]``, ``classes_[1]``), so the argmax is
  ``predict`` (f > 0 ⇒ ``classes_[1]``) and the default target, the predicted class, explains
  that class's evidence |f|; ``predict_proba`` of LogisticRegression is σ(out[:, 1]);
* multi-class: the C columns of ``decision_function`` (LogisticRegression: the multinomial
  logits, ``predict_proba`` = softmax).

Regressors (LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, …) give (N, n_targets)
predictions; by default every target is explained (their sum; ``target=k`` picks one).

With LRP-0/ε the relevance of feature i is R_i = x'_i w_ci (times f_c/(f_c + ε)), with x' the
estimator's input after any pipeline preprocessing (see :mod:`neon.sklearn.preprocessing`).
Reference: Bach et al., "On pixel-wise explanations for non-linear classifier decisions by
layer-wise relevance propagation", PLoS ONE 2015.
"""

from __future__ import annotations

import numpy as np

from .builders import add_first_linear, all_outputs, finish_graph, start_graph
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
                                fold_preprocessing: bool = False):
    """Neuralize a fitted linear classifier as one ``Linear`` op.

    Parameters
    ----------
    estimator : LogisticRegression, LinearSVC, RidgeClassifier, SGDClassifier, Perceptron
        Fitted; ``coef_`` (C, d) or (1, d)/(d,) for two classes, ``intercept_``.
    data : array-like of shape (n, d), optional
        Only validated (the network needs no reference data).
    preprocessing : AffinePreprocessing, optional
        Pipeline preprocessing x' = A x + c (given by the Pipeline neuralizer); its steps
        become nodes before the ``linear`` node (see :mod:`neon.sklearn.preprocessing`).
    fold_preprocessing : bool
        Fold the preprocessing into the ``linear`` node (W A, W c + b) instead; LRP-ε then
        measures relevance against x = 0 in raw features.

    Returns
    -------
    Graph
        Output ``linear``: binary, (N, 2) = [−f, f] with f = ``decision_function``;
        multi-class, (N, C) = ``decision_function``. ``argmax`` gives ``predict``.

    Notes
    -----
    f(x) = W x' + b. With LRP-ε on the ``linear`` node, R_i = x'_i w_ci f_c / (f_c + ε) for the
    explained class c (for binary, w_c = ±w). Reference: Bach et al., PLoS ONE 2015.
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
    graph, source = start_graph(estimator, data, preprocessing, weight.shape[1])
    out = add_first_linear(graph, source, "linear", weight, bias, preprocessing,
                           fold_preprocessing, role="decision_function")
    return finish_graph(graph, estimator, preprocessing, out, task="classification",
                        explained=explained, output_labels=classes, link=link)


# ----------------------------------------------------------------------------- regressors

@register_neuralizer(*REGRESSORS, reference=linear_regressor_reference)
def neuralize_linear_regressor(estimator, data=None, *, preprocessing=None,
                               fold_preprocessing: bool = False):
    """Neuralize a fitted linear regressor as one ``Linear`` op.

    Parameters
    ----------
    estimator : LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, LinearSVR, …
        Fitted; ``coef_`` (d,) or (n_targets, d), ``intercept_``.
    data : array-like of shape (n, d), optional
        Only validated.
    preprocessing : AffinePreprocessing, optional
        Pipeline preprocessing x' = A x + c (see :func:`neuralize_linear_classifier`).
    fold_preprocessing : bool
        Fold the preprocessing into the ``linear`` node.

    Returns
    -------
    Graph
        Output ``linear`` of shape (N, n_targets) (n_targets = 1 for a 1-d ``y``):
        ``predict`` = y(x) = W x' + b. Default target: every output (their sum); pass
        ``target=k`` to :func:`lrp.explain` for target k.

    Notes
    -----
    With LRP-ε, R_i = x'_i w_i y / (y + ε): the intercept keeps b·y/(y + ε).
    Reference: Bach et al., PLoS ONE 2015.
    """
    check_fitted(estimator, "coef_")
    weight, bias = _parameters(estimator)
    graph, source = start_graph(estimator, data, preprocessing, weight.shape[1])
    out = add_first_linear(graph, source, "linear", weight, bias, preprocessing,
                           fold_preprocessing, role="prediction")
    return finish_graph(graph, estimator, preprocessing, out, task="regression",
                        explained="the prediction, one column per target; default: all targets",
                        default_target=all_outputs, link=None)
