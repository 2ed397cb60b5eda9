"""Neuralizer for linear models (placeholder; filled in by its owner)."""
