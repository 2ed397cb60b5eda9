"""Neuralizer for KernelDensity and GaussianMixture (placeholder; filled in by its owner)."""
