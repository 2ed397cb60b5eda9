"""lrp.metrics: is an explanation right? Scores that test it, on any graph and any method.

Every metric works on a :class:`neon.Graph` (neural or neuralized) and takes relevance either
precomputed or as a method of :mod:`lrp` (:mod:`.inputs`); every score is a :class:`Score`
that states whether higher is better; every stochastic metric takes a ``seed``; all are
batched over samples and steps.

=====================  ==========================================================
module                 what
=====================  ==========================================================
:mod:`.removal`        :func:`pixel_flipping` (feature removal: MoRF / LeRF, AUC,
                       AOPC, the LeRF − MoRF gap; constant, mean, noise and
                       re-sampled baselines; patches)
:mod:`.conservation`   :func:`conservation` (δ = |ΣR − f| / |f| per sample)
:mod:`.sanity`         :func:`randomization_check` (Adebayo et al.'s cascade),
                       :func:`random_logit_check`, :func:`spearman`, :func:`ssim`
:mod:`.localization`   :func:`pointing_game`, :func:`localization`
:mod:`.complexity`     :func:`sparseness` (Gini), :func:`complexity` (entropy)
:mod:`.robustness`     :func:`max_sensitivity`
:mod:`.retrain`        :func:`roar` (RemOve And Retrain: test accuracy of models
                       retrained without the top-ranked features, against a
                       random ranking), :func:`roar_remove`,
                       :func:`data_randomization_check` (Adebayo et al.'s
                       permuted-label test)
=====================  ==========================================================
"""

# The modules are bound under private names first: conservation, localization and complexity
# are also the names of functions, which shadow their modules once star-imported.
from . import complexity as _complexity
from . import conservation as _conservation
from . import inputs  # noqa: F401
from . import localization as _localization
from . import removal as _removal
from . import retrain as _retrain
from . import robustness as _robustness
from . import sanity as _sanity
from .complexity import *  # noqa: F401,F403
from .conservation import *  # noqa: F401,F403
from .localization import *  # noqa: F401,F403
from .removal import *  # noqa: F401,F403
from .retrain import *  # noqa: F401,F403
from .robustness import *  # noqa: F401,F403
from .sanity import *  # noqa: F401,F403
from .scores import Score

__all__ = ["Score", *_removal.__all__, *_conservation.__all__, *_sanity.__all__,
           *_localization.__all__, *_complexity.__all__, *_robustness.__all__,
           *_retrain.__all__]
