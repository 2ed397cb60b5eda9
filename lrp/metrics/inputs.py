"""What every metric reads: the relevance to score, given or computed by a method.

``relevance`` is either precomputed (shaped like ``x``: a tensor, an array or a DataFrame;
a tuple for several graph inputs) or a method with the call convention of :mod:`lrp`
(``method(graph, x, target=None, *, batch_size=None)``: ``lrp.gradient``,
``functools.partial(lrp.explain, composite=lrp.EpsilonPlus())``, …), or the name of one
(``"integrated_gradients"``, ``"explain"``; see ``lrp.methods.METHODS``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..calls import Call

__all__ = ["resolve_method", "relevance_of", "as_maps", "check_finite", "floating", "flat"]


def resolve_method(method, name: str = "method"):
    """A method callable from a callable or a name of ``lrp.methods.METHODS``."""
    from ..methods import METHODS

    if isinstance(method, str):
        if method not in METHODS:
            close = ", ".join(sorted(METHODS))
            raise ValueError(f"{name}={method!r} is not a method of lrp; give one of {close}, "
                             "or a callable method(graph, x, target=None, *, batch_size=None)")
        return METHODS[method]
    if not callable(method):
        raise TypeError(f"{name} must be a method of lrp (a callable such as lrp.gradient, "
                        f"or its name), got {type(method).__name__}")
    return method


def relevance_of(call: Call, relevance, target, name: str = "relevance") -> list[torch.Tensor]:
    """One relevance tensor per graph input, on the graph's device and dtype, shaped like
    ``call.xs``: computed by ``relevance`` when it is a method (with the call's inputs,
    ``target`` and batch size), else validated (shape, finiteness) as given."""
    if callable(relevance) or isinstance(relevance, str):
        method = resolve_method(relevance, name)
        xs = tuple(call.xs) if len(call.xs) > 1 else call.xs[0]
        given = method(call.graph, xs, target, batch_size=call.batch_size)
    else:
        given = relevance
    parts = list(given) if isinstance(given, (tuple, list)) and len(call.xs) > 1 else [given]
    if len(parts) != len(call.xs):
        raise ValueError(f"the graph has {len(call.xs)} inputs: give one {name} per input "
                         f"(a tuple), got {len(parts)}")
    out = []
    for r, x, spec in zip(parts, call.xs, call.graph.input_specs):
        if hasattr(r, "attribution"):          # an lrp.Attribution (return_all=True)
            r = r.attribution
        if hasattr(r, "to_numpy"):
            r = r.to_numpy()
        if not isinstance(r, (torch.Tensor, np.ndarray)):
            raise TypeError(f"{name} for input {spec.name!r} must be a tensor or an array "
                            f"shaped like x, or a method; got {type(r).__name__}")
        t = torch.as_tensor(r).detach().to(device=x.device, dtype=x.dtype)
        if tuple(t.shape) != tuple(x.shape):
            raise ValueError(f"{name} for input {spec.name!r} has shape {tuple(t.shape)}, x "
                             f"has {tuple(x.shape)}: give one relevance per input element "
                             "(batch first)")
        out.append(check_finite(t, f"{name} for input {spec.name!r}"))
    return out


def check_finite(t: torch.Tensor, name: str) -> torch.Tensor:
    """``t`` (batch first) if every value is finite; else a ValueError naming how many values
    and which samples are NaN or infinite."""
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        rows = torch.nonzero(bad.reshape(bad.shape[0], -1).any(1)).flatten().tolist()
        raise ValueError(f"{name} holds {int(bad.sum())} NaN or infinite values (samples "
                         f"{rows[:5]}); a score of such a map means nothing: fix the "
                         "explanation first")
    return t


def floating(t: torch.Tensor) -> torch.Tensor:
    """``t`` in a floating dtype the metrics compute in: integers become float64, half
    precision float32, float32 and float64 stay."""
    if not t.is_floating_point():
        return t.to(torch.float64)
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.to(torch.float32)
    return t


def as_maps(relevance, name: str = "relevance") -> torch.Tensor:
    """``relevance`` as a real floating tensor (N, …), validated: a batch axis, at least one
    sample, finite values. Integers become float64; the device is kept."""
    if hasattr(relevance, "attribution"):          # lrp.Attribution (return_all=True)
        relevance = relevance.attribution
    if hasattr(relevance, "to_numpy"):
        relevance = relevance.to_numpy()
    if isinstance(relevance, (tuple, list)):
        raise TypeError(f"{name} must be one tensor or array, batch first (N, …), got a "
                        f"{type(relevance).__name__}; for a graph of several inputs score the "
                        "relevance of each input on its own")
    if not isinstance(relevance, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a tensor or an array, batch first (N, …), got "
                        f"{type(relevance).__name__}")
    if isinstance(relevance, np.ndarray) and relevance.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype "
                        f"{relevance.dtype}")
    if isinstance(relevance, np.ndarray) and not relevance.flags.writeable:
        relevance = relevance.copy()
    t = torch.as_tensor(relevance).detach()
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    t = floating(t)
    if t.dim() < 2:
        raise ValueError(f"{name} has shape {tuple(t.shape)}: give a batch of maps, batch "
                         "first (N, …); for one map add the batch axis, r[None]")
    if t.shape[0] == 0:
        raise ValueError(f"{name} holds no samples (shape {tuple(t.shape)}); give at least "
                         "one map")
    return check_finite(t, name)


def flat(t: torch.Tensor) -> torch.Tensor:
    """(N, …) → (N, features)."""
    return t.reshape(t.shape[0], -1)
