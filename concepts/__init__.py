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
:mod:`.plot`           :func:`plot.tcav`, prototype plots
=====================  ==========================================================
"""

from . import cav, nodes, plot  # noqa: F401
from .cav import CAV, CAVError, fit_many
from .nodes import Cache, activations, default_cache, node_gradients

__all__ = ["activations", "node_gradients", "Cache", "default_cache", "CAV", "CAVError",
           "fit_many", "cav", "nodes", "plot"]
