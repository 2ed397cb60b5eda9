"""Neuralizer for Pipeline and preprocessing steps (placeholder; filled in by its owner)."""
