"""concepts: is a model sensitive to a human concept, and what does a unit, a class, a
cluster or a concept look like to it — on any node of a :class:`neon.Graph`, for CNNs and for
neuralized scikit-learn models alike.

=====================  ==========================================================
module                 what
=====================  ==========================================================
:mod:`.nodes`          :func:`activations`, :func:`node_gradients` at any node
                       (node, input or source-module name), :class:`Cache`
:mod:`.cav`            :class:`CAV` (learners: SGD hinge, logistic, linear SVM,
                       mean difference, batched torch logistic), :func:`fit_many`
:mod:`.tcav`           :func:`tcav` with the random-vs-random null, t-tests and
                       Holm/Bonferroni correction
:mod:`.objectives`     objectives for :func:`maximize`: unit, channel, direction,
                       output, and their sums and scalings
:mod:`.maximize`       activation maximization with regularizers,
                       parameterizations, transforms and input constraints
:mod:`.embed`          :func:`embed`: t-SNE (or PCA) of any node's activations
:mod:`.plot`           :func:`plot.tcav`, prototype plots, :func:`plot.embedding`
=====================  ==========================================================
"""

from . import cav, nodes, plot  # noqa: F401
from .cav import CAV, CAVError, fit_many
from .embed import Embedding, embed  # the function shadows the module name
from .nodes import Cache, activations, default_cache, node_gradients
from .tcav import TCAVResult, adjust_p_values, tcav  # the function shadows the module name

__all__ = ["activations", "node_gradients", "Cache", "default_cache", "CAV", "CAVError",
           "fit_many", "cav", "nodes", "plot",
           "tcav", "TCAVResult", "adjust_p_values", "embed", "Embedding"]

# activation maximization
from . import objectives  # noqa: E402,F401
from .constraints import (  # noqa: E402
    DataDistance,
    DensityPrior,
    Integer,
    OneHot,
    UnboundedObjectiveError,
)
from .maximization import MaximizationResult, maximize  # noqa: E402
from .objectives import Objective, channel, direction, output, unit  # noqa: E402
from .parameterizations import FFT  # noqa: E402
from .regularizers import L1, L2, AlphaNorm, Blur, TotalVariation  # noqa: E402
from .transforms import Jitter, Pad, Rotate, Scale  # noqa: E402

__all__ += ["objectives", "maximize", "MaximizationResult", "Objective", "unit", "channel",
            "direction", "output", "L2", "L1", "TotalVariation", "Blur", "AlphaNorm", "FFT",
            "Pad", "Jitter", "Scale", "Rotate", "OneHot", "Integer", "DensityPrior",
            "DataDistance", "UnboundedObjectiveError"]
