"""Plots of concept analyses: TCAV bars with spread and significance (:func:`tcav`), and
prototypes from activation maximization."""

from .tcav import tcav

__all__: list = ["tcav"]

# prototypes of activation maximization
from . import prototypes  # noqa: E402,F401
from .prototypes import feature_view, image, image_grid  # noqa: E402

__all__ += ["image", "image_grid", "feature_view"]

# embeddings of features
from .embedding import embedding  # noqa: E402

__all__ += ["embedding"]
