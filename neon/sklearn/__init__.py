"""Neuralizers: scikit-learn estimators as equivalent :class:`neon.Graph` networks.

scikit-learn is imported only when an estimator is neuralized. See NEON.md (design notes)
for the networks and their rules.
"""

from __future__ import annotations

from .registry import (
    UnsupportedEstimatorError,
    find_neuralizer,
    register_neuralizer,
    supported_estimators,
)

__all__ = ["neuralize_estimator", "register_neuralizer", "supported_estimators",
           "UnsupportedEstimatorError"]


def neuralize_estimator(estimator, data=None, **options):
    """Neuralize a fitted scikit-learn estimator or pipeline (see :func:`neon.neuralize`)."""
    return find_neuralizer(estimator)(estimator, data, **options)
