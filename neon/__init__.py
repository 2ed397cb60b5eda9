"""neon: one graph IR for neural and neuralized models.

``neon.neuralize(model, ...)`` turns a PyTorch module (or, with :mod:`neon.sklearn`, a fitted
scikit-learn estimator) into a :class:`neon.Graph` of exact torch ops, which every method of
:mod:`lrp` and :mod:`concepts` works on. Text models read token ids; :mod:`neon.tokens` is
their view from the embedding vectors.
"""

from . import ops, tokens
from .graph import Graph, GraphInputError, GraphLintError, InputSpec, Node
from .neuralize import neuralize
from .rewrites import canonicalize
from .sklearn.registry import register_neuralizer
from .torch_import import TraceError, UnsupportedOpError, from_torch, register_converter

__all__ = ["tokens", "Graph", "Node", "InputSpec", "GraphInputError", "GraphLintError", "ops",
           "neuralize", "from_torch", "canonicalize", "UnsupportedOpError", "TraceError",
           "register_neuralizer", "register_converter"]
__version__ = "0.1.0"
