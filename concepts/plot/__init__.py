"""Plots of concept analyses: TCAV bars with spread and significance (:func:`tcav`), and
prototypes from activation maximization."""

__all__: list = []
