"""lrp: layer-wise relevance propagation on :class:`neon.Graph`.

``lrp.explain(graph, x, target, composite)`` walks the graph once backwards, applying a rule
per node; rules live in :mod:`lrp.rules`, composites (rule assignment in code) in
:mod:`lrp.composites` and :mod:`lrp.select`.
"""

from . import composites, rules, select  # noqa: F401 (rules registers the defaults)
from .composites import (
                         Composite,
                         EpsilonAlpha2Beta1,
                         EpsilonAlpha2Beta1Flat,
                         EpsilonGammaBox,
                         EpsilonOnly,
                         EpsilonPlus,
                         EpsilonPlusFlat,
)
from .propagate import Explanation, TargetError, explain
from .rules import RuleError

__all__ = ["explain", "Explanation", "TargetError", "RuleError", "Composite", "rules",
           "select", "composites", "EpsilonOnly", "EpsilonPlus", "EpsilonPlusFlat",
           "EpsilonGammaBox", "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat"]
