"""Neuralizers: scikit-learn estimators as equivalent :class:`neon.Graph` networks.

scikit-learn is imported only when an estimator is neuralized. See docs/neon.md for the
networks and their rules.

Modules: :mod:`.registry` (the leaf registry), :mod:`.validation` (fitted checks, reference
data), :mod:`.preprocessing` (affine pipeline steps), :mod:`.builders` (shared graph
skeletons), and one module per estimator family (:mod:`.kmeans`, :mod:`.svm`, :mod:`.density`,
:mod:`.svc`, :mod:`.linear`, :mod:`.mlp`, :mod:`.pipeline`).
"""

from __future__ import annotations

from .builders import ReferenceDataWarning
from .registry import UnsupportedEstimatorError, register_neuralizer, registered

__all__ = ["neuralize_estimator", "register_neuralizer", "find_neuralizer",
           "supported_estimators", "UnsupportedEstimatorError", "ReferenceDataWarning"]

_BUILTINS = ("density", "kmeans", "linear", "mlp", "pipeline", "svc", "svm")


def _load_builtins() -> None:
    """Import the built-in neuralizer modules so their registrations run (once)."""
    import importlib

    for name in _BUILTINS:
        importlib.import_module(f"{__name__}.{name}")


def find_neuralizer(estimator):
    """The neuralizer registered for ``estimator``'s class (or a base class)."""
    _load_builtins()
    table = registered()
    for cls in type(estimator).__mro__:
        for key in (cls, cls.__name__):
            if key in table:
                return table[key]
    raise UnsupportedEstimatorError(
        f"{type(estimator).__name__} cannot be neuralized: no neuralizer is registered for it. "
        f"Supported: {', '.join(supported_estimators())}. Register one with "
        "@neon.register_neuralizer.")


def supported_estimators() -> list[str]:
    """Names of the estimator types with a registered neuralizer."""
    _load_builtins()
    return sorted({k if isinstance(k, str) else k.__name__ for k in registered()})


def neuralize_estimator(estimator, data=None, **options):
    """Neuralize a fitted scikit-learn estimator or pipeline (see :func:`neon.neuralize`)."""
    return find_neuralizer(estimator)(estimator, data, **options)
