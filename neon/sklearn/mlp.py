"""Neuralizer for MLPClassifier and MLPRegressor (placeholder; filled in by its owner)."""
