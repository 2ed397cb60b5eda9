"""Imports every built-in neuralizer module so their registrations run."""

from . import density, kmeans, linear, mlp, pipeline, svc, svm  # noqa: F401
