"""lrp: layer-wise relevance propagation on :class:`neon.Graph`.

``lrp.explain(graph, x, target, composite)`` walks the graph once backwards, applying a rule
per node; rules live in :mod:`lrp.rules`, composites (rule assignment in code) in
:mod:`lrp.composites` and :mod:`lrp.select`.
"""

from . import composites, plot, rules, select, targets  # noqa: F401 (rules: the defaults)
from .composites import (
                         PRESETS,
                         Composite,
                         EpsilonAlpha2Beta1,
                         EpsilonAlpha2Beta1Flat,
                         EpsilonGammaBox,
                         EpsilonOnly,
                         EpsilonPlus,
                         EpsilonPlusFlat,
                         UnmatchedSelectorWarning,
                         resolve,
)
from .propagate import Explanation, explain
from .rules import RuleError
from .targets import Column, TargetError

__all__ = ["explain", "Explanation", "TargetError", "Column", "RuleError", "Composite", "rules",
           "targets", "plot", "resolve", "PRESETS", "UnmatchedSelectorWarning",
           "select", "composites", "EpsilonOnly", "EpsilonPlus", "EpsilonPlusFlat",
           "EpsilonGammaBox", "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat"]
