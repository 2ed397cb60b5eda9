"""Neuralizer for one-class SVM (OneClassSVM) (placeholder; filled in by its owner)."""
