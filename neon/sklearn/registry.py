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

__all__ = ["register_neuralizer", "registered", "UnsupportedEstimatorError"]

_REGISTRY: dict[object, Callable] = {}


class UnsupportedEstimatorError(TypeError):
    """No neuralizer is registered for an estimator, kernel or pipeline step."""


def register_neuralizer(*keys):
    """Decorator registering ``fn(estimator, data=None, **options) -> Graph`` for ``keys``
    (estimator classes or class names)."""
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
        return fn
    return decorate


def registered() -> dict:
    """The registry as it stands (keys: classes or class names; values: neuralizers)."""
    return dict(_REGISTRY)
