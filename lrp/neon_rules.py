"""NEON rules for neuralized distance models (placeholder; filled in by its owner)."""
