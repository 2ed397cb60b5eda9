"""Neuralizer for SVC and NuSVC (placeholder; filled in by its owner)."""
