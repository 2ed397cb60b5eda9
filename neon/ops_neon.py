"""Neuralization ops: distances, pair units, min/max and log-sum-exp pools (placeholder)."""
