"""A score that says which way is better.

Every metric of :mod:`lrp.metrics` returns its numbers as :class:`Score` objects: the values
per sample (or per class, per stage), the direction of "better", and what was measured, so a
table of scores can never be read upside down (AUC vs AOC, error vs accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Score"]


@dataclass(frozen=True, eq=False)
class Score:
    """Values of one evaluation score, with the direction in which they improve.

    Attributes
    ----------
    name : str
        Short name (``"auc"``, ``"pointing_accuracy"``).
    values : ndarray of float64
        One value per sample (or per class / stage, as the metric documents); NaN where a
        value is undefined, never silently dropped.
    higher_is_better : bool
        ``True``: larger values mean a better explanation; ``False``: smaller.
    description : str
        What was measured, with the settings that change it (baseline, order, tolerance).
    """

    name: str
    values: np.ndarray
    higher_is_better: bool
    description: str = ""

    def __post_init__(self):
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim == 0:
            values = values.reshape(1)
        object.__setattr__(self, "values", values)
        if not isinstance(self.higher_is_better, bool):
            raise TypeError("higher_is_better must be True or False")

    @property
    def better(self) -> str:
        """``"higher"`` or ``"lower"``."""
        return "higher" if self.higher_is_better else "lower"

    def mean(self) -> float:
        """Mean over the defined values (NaN if none is defined)."""
        finite = self.values[~np.isnan(self.values)]
        return float(finite.mean()) if finite.size else float("nan")

    def median(self) -> float:
        finite = self.values[~np.isnan(self.values)]
        return float(np.median(finite)) if finite.size else float("nan")

    def quantile(self, q: float) -> float:
        finite = self.values[~np.isnan(self.values)]
        return float(np.quantile(finite, q)) if finite.size else float("nan")

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self) -> int:
        return len(self.values)

    def __float__(self) -> float:
        if self.values.size != 1:
            raise TypeError(f"score {self.name!r} holds {self.values.size} values; take "
                            ".mean() or .median()")
        return float(self.values[0])

    def __repr__(self) -> str:
        n = self.values.size
        undefined = int(np.isnan(self.values).sum())
        extra = f", {undefined} undefined" if undefined else ""
        value = f"{self.mean():.4g}" if n == 1 else f"mean {self.mean():.4g} over {n}{extra}"
        return f"Score({self.name}: {value}; {self.better} is better)"
