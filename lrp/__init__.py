"""lrp: layer-wise relevance propagation on :class:`neon.Graph`.

``lrp.explain(graph, x, target, composite)`` walks the graph once backwards, applying a rule
per node; rules live in :mod:`lrp.rules`, composites (rule assignment in code) in
:mod:`lrp.composites` and :mod:`lrp.select`. The methods LRP is compared with (gradient,
integrated gradients, SmoothGrad, guided backprop, Grad-CAM, occlusion, LIME, …) take the
same call and live in :mod:`lrp.methods`. Whether an explanation is right is measured by
:mod:`lrp.metrics` (pixel flipping, conservation, sanity checks, pointing game, …), and the
strategies a model uses across a data set are found by :class:`lrp.spray.SpRAy`.
"""

from . import (  # noqa: F401
                         calls,
                         composites,
                         datasets,
                         methods,
                         metrics,
                         plot,
                         rules,
                         select,
                         spray,
                         targets,  # noqa: F401
)
from .calls import Attribution
from .composites import (
                         CPLRP,
                         PRESETS,
                         AttnLRP,
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
from .datasets import explain_dataset
from .methods import (
                         cam,
                         cam_node,
                         competitive_gradient_x_input,
                         deconvnet,
                         deeplift,
                         excitation_backprop,
                         extremal_perturbation,
                         grad_cam,
                         gradient,
                         gradient_x_input,
                         guided_backprop,
                         guided_grad_cam,
                         integrated_gradients,
                         lime,
                         meaningful_perturbation,
                         occlusion,
                         rise,
                         smoothgrad,
)
from .propagate import Explanation, explain
from .rules import RuleError
from .targets import Column, TargetError, Versus

__all__ = ["explain", "Explanation", "TargetError", "Column", "RuleError", "Composite", "rules",
           "targets", "plot", "resolve", "PRESETS", "UnmatchedSelectorWarning",
           "select", "composites", "EpsilonOnly", "EpsilonPlus", "EpsilonPlusFlat",
           "EpsilonGammaBox", "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat", "CPLRP", "AttnLRP",
           "Attribution", "explain_dataset", "datasets",
           "calls", "methods", "gradient", "gradient_x_input", "integrated_gradients",
           "smoothgrad", "guided_backprop", "deconvnet", "excitation_backprop", "grad_cam",
           "guided_grad_cam", "cam", "cam_node", "occlusion", "rise", "lime", "metrics", "spray",
           "meaningful_perturbation", "extremal_perturbation", "deeplift",
           "competitive_gradient_x_input", "Versus"]
