"""The one call convention of every explanation method.

``method(graph, x, target=None, *, batch_size=None, **options)``: the graph checked, ``x``
split per graph input and validated (:meth:`neon.Graph.check_inputs`), the target read as in
:mod:`lrp.targets`, the batch cut into chunks, and the result returned shaped and typed like
``x`` (tensors in, tensors out; numpy, lists or DataFrames in, numpy or a DataFrame out).
:class:`Call` holds that bookkeeping, so :func:`lrp.explain`, the gradient methods, the CAM
family and the perturbation methods read their arguments the same way.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch

from neon.graph import Graph
from neon.ops import Softmax
from neon.tokens import has_tokens, token_view

from .rules.base import check_number
from .targets import Column, TargetError, resolve_target, select_target

__all__ = ["Call", "Attribution", "explained_node", "target_mask", "check_graph",
           "check_batch_size", "check_seed"]


@dataclass
class Attribution:
    """A method's result with what it measured on the way (``return_all=True``).

    Attributes
    ----------
    attribution : tensor, ndarray or DataFrame
        Shaped and typed like ``x`` (a tuple for several graph inputs).
    output : tensor
        The explained score per sample, Σ_c mask_c f_c(x), shape (N,).
    info : dict
        Method-specific measurements, e.g. ``gap`` (integrated gradients' completeness gap)
        or ``r2`` (LIME's fit), each a tensor with one value per sample.
    """

    attribution: object
    output: torch.Tensor
    info: dict = field(default_factory=dict)


def check_graph(graph, method: str = "lrp.explain") -> None:
    """Refuse anything but a :class:`neon.Graph`, saying how to get one."""
    if isinstance(graph, Graph):
        return
    kind = type(graph).__name__
    if isinstance(graph, torch.nn.Module):
        raise TypeError(f"{method} takes a neon.Graph, got the torch module {kind}: import it "
                        "first, graph = neon.neuralize(model, example_input), and explain the "
                        "graph (reuse it across calls)")
    if hasattr(graph, "fit") and hasattr(graph, "get_params"):
        raise TypeError(f"{method} takes a neon.Graph, got the scikit-learn estimator {kind}: "
                        "neuralize it first, graph = neon.neuralize(model, X), and explain the "
                        "graph")
    raise TypeError(f"{method} takes a neon.Graph (from neon.neuralize), got {kind}")


def check_batch_size(batch_size, name: str = "batch_size"):
    """``None`` or a positive int (bools, floats and strings refused)."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"{name} must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def check_seed(seed, name: str = "seed", device=None):
    """The generator a method's random draws use: ``None`` (torch's global generator), a
    ``torch.Generator`` as given, or a new one seeded with a non-negative integer ``seed``
    (on ``device``, default the CPU, so a seed gives the same draws on every device for
    methods that draw on the CPU). Booleans, floats and strings are refused."""
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be None, a non-negative integer or a torch.Generator, "
                        f"got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed}")
    return torch.Generator(device=device or "cpu").manual_seed(int(seed))


def explained_node(graph) -> str:
    """The node whose value is explained: the output, or the logits before an output softmax."""
    node = graph[graph.output]
    if isinstance(node.op, Softmax):      # LogSoftmax too
        return node.inputs[0]
    return graph.output


def target_mask(graph, out: torch.Tensor, target) -> torch.Tensor:
    """The mask (shaped like the explained output ``out``) that ``target`` selects.

    A callable target is called on ``out`` and its result read like a target given directly;
    ``None`` means what the graph declares (``graph.default_target``) or the predicted class.
    Refuses a float target that equals the output itself (it would explain f²).
    """
    out = out.detach()
    if callable(target) and not isinstance(target, (torch.Tensor, np.ndarray, Column)):
        target = target(out)          # read like a target given directly (labels, …)
    target = resolve_target(graph, target, out.shape[0], tuple(out.shape))
    if isinstance(target, torch.Tensor) and target.is_floating_point() and \
            target.shape == out.shape and _is_the_prediction(target, out):
        raise TargetError(
            "the target equals the graph's own output: a float target is a mask "
            "(R starts at f ⊙ mask), so this would explain f². For a regressor, "
            "target=None explains every output and lrp.Column(k) one of them")
    default = graph.default_target
    return select_target(out, default if target is None and default is not None else target)


def _is_the_prediction(mask, out) -> bool:
    """Whether a float mask is the output itself (``target=model.predict(X)`` on a
    regressor), not a 0/1 or weighting mask."""
    binary = bool(((mask == 0) | (mask == 1)).all())
    return not binary and bool(torch.allclose(mask.to(out.dtype), out, rtol=1e-6, atol=1e-9))


def _split_inputs(graph, x):
    """(list of inputs, whether the user gave a tuple of per-input arrays)."""
    n_inputs = len(graph.input_specs)
    if isinstance(x, (tuple, list)):
        per_input = n_inputs > 1 or (
            len(x) == 1 and isinstance(x[0], (torch.Tensor, np.ndarray))
            and x[0].ndim == len(graph.input_specs[0].shape) + 1)
        if per_input:
            return list(x), True
    return [x], False


def _slice_target(target, n, start, stop):
    """The part of a per-sample target that belongs to samples start … stop."""
    if isinstance(target, Column):
        if target.index.ndim == 0:
            return target
        if len(target.index) != n:
            raise TargetError(f"give one target per sample: the input has {n} samples, "
                              f"the lrp.Column {len(target.index)}")
        return Column(target.index[start:stop])
    if isinstance(target, (torch.Tensor, np.ndarray, list, tuple)) or hasattr(target, "iloc"):
        if getattr(target, "ndim", 1) == 0:
            return target
        if len(target) != n:
            raise TargetError(f"give one target per sample: the input has {n} samples, "
                              f"the target {len(target)}")
        if hasattr(target, "iloc"):
            return target.iloc[start:stop]
        return target[start:stop]
    return target


def _align_target(target, frame):
    """A pandas Series target follows its index: aligned to a DataFrame input's rows."""
    if not (hasattr(target, "index") and hasattr(target, "to_numpy")) or \
            hasattr(target, "columns"):
        return target
    if frame is None or target.index.equals(frame.index):
        return target.to_numpy()
    if len(target) == len(frame) and set(target.index) == set(frame.index):
        return target.reindex(frame.index).to_numpy()
    raise TargetError("the target Series' index does not match the input DataFrame's rows; "
                      "align them (target.loc[X.index]) or pass target.to_numpy()")


class Call:
    """One call of an explanation method: validated inputs, target, chunks, output form.

    Parameters
    ----------
    graph : neon.Graph
    x : tensor, ndarray, DataFrame or list of rows; a tuple of them for several graph inputs
    target : as in :func:`lrp.explain`
    batch_size : int, optional
        Samples per chunk (:meth:`chunks`).
    method : str
        The public name, for error messages (``"lrp.gradient"``).
    as_frame : bool, optional
        Return a DataFrame (columns: the graph's feature names); default only for DataFrame
        input.

    Attributes
    ----------
    xs : list of tensor
        The validated inputs, one per graph input.
    n : int
        The number of samples.
    """

    def __init__(self, graph, x, target=None, batch_size=None, *, method: str,
                 as_frame: bool | None = None):
        check_graph(graph, method)
        if as_frame is not None and not isinstance(as_frame, bool):
            raise TypeError(f"as_frame must be None, True or False, got {as_frame!r}")
        self.graph, self.method, self.as_frame = graph, method, as_frame
        xs, self.multi = _split_inputs(graph, x)
        self.frame = xs[0] if not self.multi and hasattr(xs[0], "columns") else None
        self.target = _align_target(target, self.frame)
        self.to_numpy = any(not isinstance(v, torch.Tensor) for v in xs)
        self.xs = graph.check_inputs(*xs)
        self.tokens = self.ids = None
        if has_tokens(graph):   # explained at the embedding vectors (neon.tokens)
            self.tokens, self.ids = token_view(graph), self.xs
            self.graph, self.xs = self.tokens.graph, self.tokens.inputs(self.xs)
        self.n = self.xs[0].shape[0]
        if self.n == 0:
            raise ValueError(f"x holds no samples (shape {tuple(self.xs[0].shape)}); give at "
                             "least one")
        self.batch_size = check_batch_size(batch_size)

    def chunks(self, size: int | None = None):
        """``(start, stop, inputs, target)`` per chunk of ``size`` samples (default
        ``batch_size``, else the whole batch)."""
        chunk = size or self.batch_size or self.n
        for start in range(0, self.n, chunk):
            stop = min(start + chunk, self.n)
            target = _slice_target(self.target, self.n, start, stop) if chunk < self.n \
                else self.target
            yield start, stop, [v[start:stop] for v in self.xs], target

    def outputs_and_masks(self):
        """(explained output, target mask) of every sample at x, one no-grad forward pass per
        chunk: methods that evaluate the graph away from x fix the explained output at x."""
        outs, masks = [], []
        for _, _, part, t in self.chunks():
            out = self.output_at(part)
            outs.append(out)
            masks.append(target_mask(self.graph, out, t))
        return torch.cat(outs), torch.cat(masks)

    def baselines(self, baseline) -> list:
        """One baseline tensor per graph input, broadcast to the input's shape.

        ``baseline``: a number, a tensor or array shaped like x or like one sample, a
        callable ``*xs -> baseline``, or (several graph inputs) a tuple of these. Refused:
        booleans, None, strings, non-finite values, shapes that do not broadcast.
        """
        given = baseline(*self.xs) if callable(baseline) and not isinstance(
            baseline, (torch.Tensor, np.ndarray)) else baseline
        if len(self.xs) > 1:
            if not isinstance(given, (tuple, list)) or len(given) != len(self.xs):
                if isinstance(given, numbers.Real) and not isinstance(given, bool):
                    given = [given] * len(self.xs)
                else:
                    raise ValueError(f"the graph has {len(self.xs)} inputs: give one baseline "
                                     "per input (a tuple), or one number for all")
        else:
            given = [given]
        out = []
        for b, x, spec in zip(given, self.xs, self.graph.input_specs):
            where = f"baseline for input {spec.name!r}"
            if isinstance(b, bool) or b is None:
                raise TypeError(f"{where} must be a number, a tensor or an array, got {b!r}")
            if isinstance(b, numbers.Real):
                check_number(b, where, minimum=-math.inf)
                out.append(torch.full_like(x, float(b)))
                continue
            if hasattr(b, "to_numpy"):
                b = b.to_numpy()
            if not isinstance(b, (torch.Tensor, np.ndarray)):
                raise TypeError(f"{where} must be a number, a tensor, an array or a callable "
                                f"x -> baseline, got {type(b).__name__}")
            t = torch.as_tensor(np.array(b) if isinstance(b, np.ndarray) else b)
            if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
                raise TypeError(f"{where} has dtype {t.dtype}; give real numbers")
            t = t.to(device=x.device, dtype=x.dtype)
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"{where} contains NaN or infinite values")
            try:
                t = torch.broadcast_to(t, x.shape)
            except RuntimeError:
                raise ValueError(f"{where} has shape {tuple(t.shape)}, which does not broadcast "
                                 f"to the input's shape {tuple(x.shape)} (give one sample's shape "
                                 f"{tuple(x.shape[1:])}, or the input's)") from None
            out.append(t)
        return out

    def output_at(self, xs) -> torch.Tensor:
        """The explained output (logits before an output softmax) at validated inputs."""
        node = explained_node(self.graph)
        with torch.no_grad():
            return self.graph.activations(*xs, validated=True, keep=[node])[node]

    def finish(self, results):
        """``results`` (one tensor per graph input, batch first) shaped and typed like ``x``."""
        if self.tokens is not None:   # one value per token, none to padding
            results = self.tokens.collapse(results, self.ids)
        results = [r.contiguous() if isinstance(r, torch.Tensor) else r for r in results]
        if self.to_numpy or self.as_frame:
            results = [r.detach().cpu().numpy() for r in results]
        if self.as_frame or (self.as_frame is None and self.frame is not None):
            results[0] = self._as_frame(results[0])
        return tuple(results) if self.multi else results[0]

    def _as_frame(self, values):
        import pandas as pd

        if values.ndim != 2:
            raise ValueError("as_frame=True needs tabular (N, features) input")
        columns = self.frame.columns if self.frame is not None else (
            self.graph.feature_names or [f"x{i}" for i in range(values.shape[1])])
        index = self.frame.index if self.frame is not None else None
        return pd.DataFrame(values, columns=columns, index=index)
