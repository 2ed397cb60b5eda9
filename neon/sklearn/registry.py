"""The registry of scikit-learn neuralizers: a leaf module (it imports nothing of the package,
and importing it does not import scikit-learn).

Supporting a new estimator type is one decorated function::

    @neon.register_neuralizer("KMeans", "MiniBatchKMeans")
    def kmeans(estimator, data=None, **options) -> neon.Graph: ...

Keys are estimator classes or class names; lookup (:func:`neon.sklearn.find_neuralizer`)
walks the estimator's MRO, so a subclass finds its parent's neuralizer unless it registers its
own. A neuralizer takes ``(estimator, data=None, *, preprocessing=None, **options)``, validates
``data`` when given, reproduces the estimator's outputs and declares what it explains
(:meth:`neon.Graph.declare`); ``neon.testing.check_neuralizer`` checks all of that.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["register_neuralizer", "registered", "reference_for", "Expected",
           "UnsupportedEstimatorError"]

_REGISTRY: dict[object, Callable] = {}
_REFERENCES: dict[object, Callable] = {}


class Expected:
    """What a neuralized graph's output must be, computed from the estimator's own API.

    Parameters
    ----------
    values : ndarray, shaped like the graph's output
    relation : {"equal", "sign"}
        ``"equal"``: the output equals ``values`` (to ``rtol`` of their scale); ``"sign"``:
        only the signs agree where ``|values|`` is above ``rtol`` of their scale (SVC's RBF
        duels are log-ratios with the sign of the decision values).
    rtol : float
    what : str
        The estimator method the values come from, for messages.
    output_map : callable, optional
        Applied to the graph's output before comparing (e.g. a softmax, when the estimator
        exposes probabilities and the graph computes logits).
    """

    def __init__(self, values, relation: str = "equal", rtol: float = 1e-7, what: str = "",
                 output_map: Callable | None = None):
        if relation not in ("equal", "sign"):
            raise ValueError(f"relation must be 'equal' or 'sign', got {relation!r}")
        self.values, self.relation, self.rtol, self.what = values, relation, rtol, what
        self.output_map = output_map


class UnsupportedEstimatorError(TypeError):
    """No neuralizer is registered for an estimator, kernel or pipeline step."""


def register_neuralizer(*keys, reference: Callable | None = None):
    """Decorator registering ``fn(estimator, data=None, **options) -> Graph`` for ``keys``
    (estimator classes or class names).

    ``reference(estimator, X) -> Expected`` states what the graph's output on ``X`` must be,
    computed from the estimator's own methods (``transform``, ``score_samples``,
    ``decision_function``, …) and sharing no code with the neuralizer;
    :func:`neon.testing.check_neuralizer` compares against it.
    """
    if reference is not None and not callable(reference):
        raise TypeError(f"reference must be callable, got {reference!r}")
    if not keys:
        raise TypeError("register_neuralizer needs at least one estimator class or class name")
    for key in keys:
        if not isinstance(key, (str, type)):
            raise TypeError(f"register_neuralizer keys are estimator classes or class names, "
                            f"got {key!r}")

    def decorate(fn):
        if not callable(fn):
            raise TypeError(f"register_neuralizer decorates a function, got {fn!r}")
        for key in keys:
            _REGISTRY[key] = fn
            if reference is not None:
                _REFERENCES[key] = reference
        return fn
    return decorate


def reference_for(estimator) -> Callable | None:
    """The registered reference of ``estimator``'s class (or a base class), or None."""
    for cls in type(estimator).__mro__:
        for key in (cls, cls.__name__):
            if key in _REFERENCES:
                return _REFERENCES[key]
    return None


def registered() -> dict:
    """The registry as it stands (keys: classes or class names; values: neuralizers)."""
    return dict(_REGISTRY)
