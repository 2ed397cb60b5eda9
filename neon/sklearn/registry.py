"""The registry of scikit-learn neuralizers (importing it does not import scikit-learn).

Supporting a new estimator type is one decorated function::

    @neon.register_neuralizer("KMeans", "MiniBatchKMeans")
    def kmeans(estimator, data=None, **options) -> neon.Graph: ...

Keys are estimator classes or class names; lookup walks the estimator's MRO, so a subclass
finds its parent's neuralizer unless it registers its own.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["register_neuralizer", "find_neuralizer", "supported_estimators",
           "UnsupportedEstimatorError"]

_REGISTRY: dict[object, Callable] = {}
_BUILTINS_LOADED = False


class UnsupportedEstimatorError(TypeError):
    """No neuralizer is registered for an estimator, kernel or pipeline step."""


def register_neuralizer(*keys):
    """Decorator registering ``fn(estimator, data=None, **options) -> Graph`` for ``keys``
    (estimator classes or class names)."""
    if not keys:
        raise TypeError("register_neuralizer needs at least one estimator class or class name")

    def decorate(fn):
        for key in keys:
            _REGISTRY[key] = fn
        return fn
    return decorate


def _load_builtins():
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from . import builtins  # noqa: F401  (registers the built-in neuralizers)


def find_neuralizer(estimator) -> Callable:
    """The neuralizer registered for ``estimator``'s class (or a base class)."""
    _load_builtins()
    for cls in type(estimator).__mro__:
        for key in (cls, cls.__name__):
            if key in _REGISTRY:
                return _REGISTRY[key]
    raise UnsupportedEstimatorError(
        f"{type(estimator).__name__} cannot be neuralized: no neuralizer is registered for it. "
        f"Supported: {', '.join(supported_estimators())}. Register one with "
        "@neon.register_neuralizer.")


def supported_estimators() -> list[str]:
    """Names of the estimator types with a registered neuralizer."""
    _load_builtins()
    return sorted({k if isinstance(k, str) else k.__name__ for k in _REGISTRY})
