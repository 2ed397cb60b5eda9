"""Neuralizers for MLPClassifier and MLPRegressor: ``Linear`` + activation per layer.

Layer l computes a_l = g(a_{l−1} W_l + b_l) with W_l = ``coefs_[l]`` (in, out),
b_l = ``intercepts_[l]`` and g = ``activation`` (relu, tanh, logistic, identity) for hidden
layers. The graph ends at the last pre-activation z (the output activation is left out, as
LRP explains logits):

* MLPClassifier, binary (``out_activation_`` logistic, one unit): z is folded into two columns
  [−z, z] of the last ``Linear``, so argmax = ``predict`` and ``predict_proba`` = σ(out[:, 1]);
* multi-class (softmax): the C logits, ``predict_proba`` = softmax(out);
* multi-label (logistic, L units): the L logits, label k predicted where out[:, k] > 0;
* MLPRegressor (identity): the (N, n_outputs) prediction; by default every output is explained;
  with ``loss="poisson"`` (``out_activation_`` exp) the log of the prediction.

Every hidden activation gets the Pass rule and every later ``Linear`` ε by default, so
standard LRP composites (EpsilonPlusFlat, …) apply (they select ``dense1`` as a linear layer
too and then replace its rule).

The first layer and reference data. Given ``neon.neuralize(model, X_train)``, ``dense1`` is a
:class:`~neon.ops.RootedLinear`: hidden unit k, z_k(u) = w_k·u + b_k on the features u it
reads, gets the root m_k = μ − z_k(μ)/(d_k w_k) (elementwise on its d_k nonzero weights;
``root="equal"``, :func:`~neon.sklearn.builders.linear_roots`) from the data mean μ, and
:class:`lrp.rules.RootRule` hands the relevance R_k arriving at z_k on as
R_i = Σ_k [w_ki (u_i − μ_i) + z_k(μ)/d_k] R_k / z_k: relevance relative to the data, with the
first layer conserving exactly (Σ_i R_i = Σ_k R_k; the later ε layers still absorb the
biases' shares, so the graph does not declare ``conserves``). Measured with the removal test
on raw wine and breast-cancer features this ties gradient × (x − μ) and is far ahead of
gradient × input, of the origin-relative ε rule (``root="origin"``, also what you get without
data, with a one-time :class:`~neon.sklearn.builders.ReferenceDataWarning`), of
``root="nearest"`` (m_k = μ − z_k(μ) w_k/‖w_k‖², which ranks raw features by w_ki²) and of
z^B with the data's box (docs/neon.md, "Already-neural and linear").

``root="deeplift"`` (the default of an MLPRegressor given data): the dense layers and their
activations are one :class:`~neon.ops.ReferencedMLP` node ``mlp`` that holds its input at
the data mean μ, and DeepLIFT's RevealCancel rule (:mod:`lrp.rules.reference`) explains the
prediction's difference from the mean's, f(x) − f(μ), exactly (Σ_i R_i = f(x) − f(μ); f(μ)
is absorbed). Every unit's positive and negative changes are carried forward separately, so
inputs that cancel before a ReLU are not both dropped (benchmarks/RESULTS.md, faithfulness).

References: Shrikumar et al., "Learning important features through propagating activation
differences", ICML 2017; Montavon et al., "Layer-wise relevance propagation: an overview", in
Explainable AI, LNCS 11700, Springer 2019; Montavon et al., "Explaining nonlinear
classification decisions with deep Taylor decomposition", Pattern Recognition 65, 2017.
"""

from __future__ import annotations

import numpy as np

from .builders import (
    ROOTS,
    add_first_linear,
    all_outputs,
    finish_graph,
    reference_mlp,
    resolve_root,
    start_graph,
)
from .registry import Expected, UnsupportedEstimatorError, register_neuralizer
from .validation import as_tensor, check_fitted

__all__ = ["neuralize_mlp"]

_ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


def _activation_op(name: str, estimator):
    from .. import ops

    table = {"relu": ops.ReLU, "tanh": ops.Tanh, "logistic": ops.Sigmoid}
    if name == "identity":
        return None
    if name not in table:
        raise UnsupportedEstimatorError(
            f"{type(estimator).__name__}(activation={name!r}) cannot be neuralized; supported "
            f"activations: {', '.join(_ACTIVATIONS)}")
    return table[name]()


def _layers(estimator):
    """[(W (out, in), b (out,))] as float64, checked finite."""
    layers = [(np.asarray(w, dtype=np.float64).T, np.asarray(b, dtype=np.float64))
              for w, b in zip(estimator.coefs_, estimator.intercepts_)]
    if not all(np.isfinite(w).all() and np.isfinite(b).all() for w, b in layers):
        raise ValueError(f"{type(estimator).__name__} has non-finite weights (did the fit "
                         "diverge?); it cannot be neuralized")
    return layers


def _output(estimator, weight, bias):
    """The last layer's (W, b) and the output's meta (binary logistic → [−z, z])."""
    kind = estimator.out_activation_
    if kind == "identity":
        return weight, bias, dict(task="regression", default_target=all_outputs, link=None,
                                  explained="the prediction, one column per output; default: "
                                  "all outputs")
    if kind == "exp":
        return weight, bias, dict(task="regression", default_target=all_outputs, link="exp",
                                  explained="the log of the prediction (Poisson loss: "
                                  "predict = exp(out)), one column per output; default: all "
                                  "outputs")
    classes = list(getattr(estimator, "classes_", []))
    if kind == "softmax":
        return weight, bias, dict(task="classification", link="softmax", output_labels=classes,
                                  explained="the logits before the softmax; default: the "
                                  "predicted class's logit")
    if kind == "logistic" and weight.shape[0] == 1 and len(classes) == 2:
        return (np.concatenate([-weight, weight]), np.concatenate([-bias, bias]),
                dict(task="classification", link="logistic of column 1", output_labels=classes,
                     explained="the logit z before the logistic output as two columns "
                     "[−z, z] (classes_[0], classes_[1]); default: the predicted class, i.e. "
                     "|z|"))
    if kind == "logistic":
        return weight, bias, dict(task="multilabel", link="logistic", output_labels=classes,
                                  explained="one logit per label (label k predicted where "
                                  "logit k > 0); default: the largest logit")
    raise UnsupportedEstimatorError(f"{type(estimator).__name__} has output activation "
                                    f"{kind!r}; supported: identity, exp, logistic, softmax")


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def mlp_reference(estimator, X) -> Expected:
    """``predict_proba`` (through the output's link) for classifiers, ``predict`` for
    regressors (``exp`` of the output for the Poisson loss)."""
    kind = estimator.out_activation_
    if kind in ("identity", "exp"):
        y = np.asarray(estimator.predict(X), dtype=np.float64).reshape(len(X), -1)
        return Expected(y, rtol=1e-9, what="predict(X)",
                        output_map=np.exp if kind == "exp" else None)
    p = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    if kind == "softmax":
        return Expected(p, rtol=1e-9, what="predict_proba(X)", output_map=_softmax)
    if p.shape[1] == 2 and len(estimator.classes_) == 2 and estimator.n_outputs_ == 1:
        def binary(z):   # the graph's [−z, z]: predict_proba = [1 − σ(z), σ(z)]
            s = _sigmoid(z[:, 1])
            return np.stack([1 - s, s], 1)
        return Expected(p, rtol=1e-9, what="predict_proba(X)", output_map=binary)
    return Expected(p, rtol=1e-9, what="predict_proba(X)", output_map=_sigmoid)


@register_neuralizer("MLPClassifier", "MLPRegressor", reference=mlp_reference)
def neuralize_mlp(estimator, data=None, *, preprocessing=None, fold_preprocessing: bool = False,
                  root=None):
    """Neuralize a fitted MLPClassifier or MLPRegressor.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Fitted (``coefs_``, ``intercepts_``, ``activation``, ``out_activation_``).
    data : array-like of shape (n, d), optional
        Reference data in raw-feature space (the training data): its mean roots ``dense1``.
        Without it, LRP-ε from x' = 0 and a one-time
        :class:`~neon.sklearn.builders.ReferenceDataWarning`.
    preprocessing : AffinePreprocessing, optional
        Pipeline preprocessing x' = A x + c; its per-feature steps become nodes before
        ``dense1`` (see :mod:`neon.sklearn.preprocessing`); with reference data a dense step
        (PCA) and those after it are folded into ``dense1``.
    fold_preprocessing : bool
        Fold all the preprocessing into ``dense1`` instead.
    root : {None, "deeplift", "equal", "nearest", "origin"}
        ``None``: with ``data``, ``"deeplift"`` for a regressor and ``"equal"`` for a
        classifier; ``"origin"`` without data. See the module notes.

    Returns
    -------
    Graph
        Nodes ``dense1``, ``<activation>1``, …, ``dense{L}`` (the output pre-activation);
        with ``root="deeplift"`` one node ``mlp`` instead.
        Output: see the module notes; argmax gives ``predict`` for single-label classifiers.

    Notes
    -----
    a_0 = x', a_l = g(W_l a_{l−1} + b_l) for l < L, z = W_L a_{L−1} + b_L. With LRP-0 and zero
    biases on a ReLU network the relevance equals gradient × input. Rooted ``dense1``
    (default with data): R_i = Σ_k w_ki (x'_i − m_ki) / z_k · R_k, with the roots of the module
    notes; for one ReLU hidden layer (output weights v) and ε → 0 this is gradient × (x − μ)
    plus, for every active unit k, an equal share v_k z_k(μ)/d_k on each of its d_k features.
    ``meta`` ``root`` says which roots were used.
    References: Montavon et al., Explainable AI, LNCS 11700, 2019; Montavon et al., Pattern
    Recognition 2017.
    """
    from ..ops import Linear

    check_fitted(estimator, "coefs_")
    layers = _layers(estimator)
    last_w, last_b, meta = _output(estimator, *layers[-1])
    layers[-1] = (last_w, last_b)
    act = estimator.activation
    _activation_op(act, estimator)              # refuse an unsupported activation first
    graph, source, data = start_graph(estimator, data, preprocessing, layers[0][0].shape[1])
    deeplift = _wants_deeplift(root, data, estimator)
    root = "origin" if deeplift else resolve_root(root, data, estimator, "equal")
    for i, (weight, bias) in enumerate(layers, start=1):
        name = f"dense{i}"
        if i == 1:
            source = add_first_linear(graph, source, name, weight, bias, preprocessing,
                                      fold_preprocessing,
                                      data=None if root == "origin" else data, root=root,
                                      role="layer")
        else:
            source = graph.add_node(name, Linear(as_tensor(weight), as_tensor(bias)), [source],
                                    role="layer")
        op = _activation_op(act, estimator) if i < len(layers) else None
        if op is not None:
            source = graph.add_node(f"{act}{i}", op, [source], role="activation")
    if deeplift:
        graph.set_output(source)
        graph, root, source = reference_mlp(graph, data.mean(0)), "deeplift", "mlp"
    return finish_graph(graph, estimator, preprocessing, source, root=root, **meta)


def _wants_deeplift(root, data, estimator) -> bool:
    """Whether the network is explained relative to the data mean by DeepLIFT's rules: asked
    for (``root="deeplift"``, which needs data), or the default of a regressor given data."""
    if root is not None and not (isinstance(root, str) and root in ROOTS + ("deeplift",)):
        raise ValueError(
            f"root must be None, 'deeplift', 'equal', 'nearest' or 'origin', got {root!r}: "
            "'deeplift' explains every layer relative to the network at the data mean "
            "(DeepLIFT's RevealCancel), the others root the first layer only (see "
            "neon.sklearn.mlp)")
    if isinstance(root, str) and root == "deeplift":
        if data is None:
            raise ValueError("root='deeplift' needs reference data: neon.neuralize(model, "
                             f"X_train) with X_train in the {type(estimator).__name__}'s raw "
                             "input space")
        return True
    return root is None and data is not None and not hasattr(estimator, "classes_")
