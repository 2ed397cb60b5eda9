"""The Pipeline neuralizer: affine preprocessing steps, then the final estimator's network.

``Pipeline([(n_1, step_1), …, (n_k, step_k), (name, estimator)])`` neuralizes as

1. each preprocessing step → an affine map x' = A x + c
   (:func:`neon.sklearn.preprocessing.step_preprocessing`: StandardScaler, MinMaxScaler without
   clipping, MaxAbsScaler, RobustScaler, PCA; 'passthrough'/None is the identity; nested
   Pipelines are flattened); consecutive maps are composed with
   :meth:`AffinePreprocessing.then` into one
   :class:`~neon.sklearn.preprocessing.AffinePreprocessing` that keeps its parts;
2. the final estimator's registered neuralizer, called with ``preprocessing=`` that map, so
   the graph reads the user's raw features and relevance lands on them.

``data`` is passed on unchanged, in raw-feature space (the graph's input space); a neuralizer
that needs it in its own space applies ``preprocessing.transform(data)``. Linear models and
MLPs root their first layer from its mean (``neon.neuralize(pipeline, X_train)``; the
``root=`` option passes through, see :mod:`neon.sklearn.linear`).
Reference: Kauffmann et al., "From clustering to cluster explanations via neural networks",
IEEE TNNLS 2022 (neuralizing preprocessing with the model).
"""

from __future__ import annotations

from .preprocessing import chain_preprocessing, step_preprocessing, supported_steps
from .registry import UnsupportedEstimatorError, reference_for, register_neuralizer
from .validation import check_data, check_fitted

__all__ = ["neuralize_pipeline"]


def _is_passthrough(step) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _flatten(steps, prefix=""):
    """(name, step) pairs with nested Pipelines expanded (names joined by '.')."""
    from sklearn.pipeline import Pipeline

    flat = []
    for name, step in steps:
        if isinstance(step, Pipeline):
            flat.extend(_flatten(step.steps, f"{prefix}{name}."))
        else:
            flat.append((f"{prefix}{name}", step))
    return flat


def _check_step_fitted(name, step):
    from sklearn.exceptions import NotFittedError

    try:
        check_fitted(step)
    except NotFittedError as err:
        raise NotFittedError(f"pipeline step {name!r}: {err}") from err


def _step_part(name, step):
    """The step's affine map (None for 'passthrough'); unsupported before unfitted."""
    if _is_passthrough(step):
        return None
    if type(step).__name__ not in supported_steps():
        step_preprocessing(name, step)  # raises, naming the step and what is supported
    _check_step_fitted(name, step)
    return step_preprocessing(name, step)


def _final_neuralizer(name, estimator):
    from . import find_neuralizer

    try:
        return find_neuralizer(estimator)
    except UnsupportedEstimatorError as err:
        raise UnsupportedEstimatorError(
            f"the final step {name!r} of the pipeline: {err}") from None


def pipeline_reference(pipeline, X):
    """The final step's reference on the preprocessed data ``pipeline[:-1].transform(X)``."""
    final = pipeline.steps[-1][1]
    reference = reference_for(final)
    if reference is None:
        raise UnsupportedEstimatorError(f"the final step {type(final).__name__} has no "
                                        "registered reference")
    return reference(final, pipeline[:-1].transform(X))


@register_neuralizer("Pipeline", reference=pipeline_reference)
def neuralize_pipeline(pipeline, data=None, *, preprocessing=None, **options):
    """Neuralize a fitted Pipeline of affine preprocessing steps and a final estimator.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted. Preprocessing steps: StandardScaler (any ``with_mean``/``with_std``),
        MinMaxScaler (``clip=False``), MaxAbsScaler, RobustScaler (any
        ``with_centering``/``with_scaling``), PCA (``whiten`` too), 'passthrough'.
        Final step: any estimator with a registered neuralizer.
    data : array-like of shape (n, d_raw), optional
        Reference data in raw-feature space, passed on to the final neuralizer (linear models
        and MLPs place their roots from its mean; without it they warn once).
    preprocessing : AffinePreprocessing, optional
        Preprocessing that comes before this pipeline (when it is nested in another).
    **options
        Passed on to the final estimator's neuralizer (e.g. ``fold_preprocessing=True`` or
        ``root="origin"`` for linear models and MLPs).

    Returns
    -------
    Graph
        The final estimator's network reading raw features. Declares ``source`` = the
        pipeline (its outputs are what the graph reproduces) and ``feature_names`` from its
        ``feature_names_in_``; ``meta["pipeline"]`` is the pipeline, ``meta["final_step"]`` the
        final step's name, ``meta["preprocessing_steps"]`` the names of the preprocessing
        steps, ``meta["preprocessing"]`` their composed :class:`AffinePreprocessing`.

    Raises
    ------
    UnsupportedEstimatorError
        A step that is not affine (PolynomialFeatures, FunctionTransformer,
        MinMaxScaler(clip=True), …) or a final estimator without neuralizer; the message names
        the step.

    Notes
    -----
    x' = A_k(… A_1 x + c_1 …) + c_k = A x + c, with A = A_k ⋯ A_1. Each step's reference point
    is described in :mod:`neon.sklearn.preprocessing`.
    """
    check_fitted(pipeline)
    steps = _flatten(pipeline.steps)
    final_name, final = steps[-1]
    if _is_passthrough(final):
        raise UnsupportedEstimatorError(
            f"the final step {final_name!r} of the pipeline is 'passthrough': there is no "
            "estimator to neuralize")
    parts = list(preprocessing.pieces() if preprocessing is not None else [])
    parts += [p for p in (_step_part(n, s) for n, s in steps[:-1]) if p is not None]
    if data is not None:
        d_in = parts[0].n_features_in if parts else getattr(pipeline, "n_features_in_", None)
        data = check_data(data, d_in, name="data")
    neuralizer = _final_neuralizer(final_name, final)
    total = chain_preprocessing(parts)
    graph = neuralizer(final, data, preprocessing=total, **options)
    graph.meta.update(pipeline=pipeline, final_step=final_name,
                      preprocessing_steps=tuple(n for p in parts for n in p.steps))
    graph.meta.setdefault("preprocessing", total)
    names = getattr(pipeline, "feature_names_in_", None)
    graph.declare(source=pipeline)
    if names is not None:
        graph.declare(feature_names=names)
    return graph
