"""NEON rules for SVC/NuSVC networks (placeholder; filled in by its owner)."""
