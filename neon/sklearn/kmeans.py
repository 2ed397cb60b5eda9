"""Neuralizer for k-means (KMeans, MiniBatchKMeans) (placeholder; filled in by its owner)."""
