"""Imports every built-in neuralizer module so their registrations run.

One line per module; each module registers its estimators with ``@register_neuralizer``.
"""
