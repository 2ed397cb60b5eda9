"""Robustness: does the explanation stay put when the input barely moves?

:func:`max_sensitivity` (Yeh et al.) perturbs every sample with small uniform noise,
explains the copies and reports the largest change of the explanation. The copies of all
samples and draws are rows of one batch, explained by the method in chunks of
``batch_size`` rows (never a loop per draw or per sample).
"""

from __future__ import annotations

import math
import warnings

import torch

from ..calls import Call, check_batch_size, check_seed
from ..rules.base import check_choice, check_flag, check_number
from .inputs import flat, relevance_of, resolve_method
from .scores import Score

__all__ = ["max_sensitivity", "SENSITIVITY_NORMS"]

SENSITIVITY_NORMS = ("fro", "inf")


def _norm(d: torch.Tensor, norm: str) -> torch.Tensor:
    return d.norm(dim=1) if norm == "fro" else d.abs().amax(1)


def _draws(xs, samples: int, radius: float, generator):
    """Per draw s = 0 … S−1, in order: per graph input, δ = radius · (2u − 1) with
    u = torch.rand((N, *shape), generator, dtype=x.dtype) on the generator's device (the
    CPU for an integer seed), moved to x's device."""
    device = generator.device if generator is not None else torch.device("cpu")
    for _ in range(samples):
        yield [(torch.rand(tuple(x.shape), generator=generator, dtype=x.dtype, device=device)
                .mul_(2).sub_(1).mul_(radius).to(x.device)) for x in xs]


def max_sensitivity(graph, method, x, target=None, *, radius=0.02, samples=10, seed=None,
                    norm="fro", normalize=True, batch_size=None) -> Score:
    """Max-sensitivity (Yeh et al.): the largest change of the explanation E under small
    uniform perturbations of the input, estimated by Monte Carlo,

        SENS_max(x) = max_{s = 1 … S} ‖E(x + δ_s) − E(x)‖ / ‖E(x)‖,
        δ_s ~ U(−r, r)^d   (every element of every graph input),

    relative to ‖E(x)‖ with ``normalize=True`` (as ``quantus.MaxSensitivity`` with its
    default norms), absolute without. The class explained at x + δ_s is the one of x
    (``target`` read once at x, then given to the method as a mask), so a copy whose
    prediction flips still explains the same class. Lower is better.

    Parameters
    ----------
    graph : neon.Graph
    method : callable or str
        The explanation method, with the call convention of :mod:`lrp`
        (``method(graph, x, target=None, *, batch_size=None)``: ``lrp.gradient``,
        ``functools.partial(lrp.explain, composite=lrp.EpsilonPlus())``, …), or the name of
        one (``"integrated_gradients"``, ``"explain"``; ``lrp.methods.METHODS``).
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : as in :func:`lrp.explain`, read at x
    radius : float
        r ≥ 0, the half-width of the noise in the input's units (scale it to your data;
        quantus.MaxSensitivity's default is 0.2 with 200 samples). ``radius=0`` measures how
        far a method is from repeating itself (0 for a deterministic one).
    samples : int
        S ≥ 1, perturbations per sample.
    seed : int or torch.Generator, optional
        Makes the noise repeatable; None draws from torch's global generator. Draw order:
        for s = 0 … S−1, for each graph input in order, u = torch.rand((N, *sample_shape),
        generator=g, dtype=x.dtype) on the generator's device (the CPU for an integer
        seed, so a seed gives the same noise on every device), δ = radius · (2u − 1).
    norm : {"fro", "inf"}
        The norm over all elements of a sample (every graph input together): Euclidean
        ("fro", Quantus's default) or the largest absolute value.
    normalize : bool
        Divide by ‖E(x)‖ (default), which makes the score comparable between methods of
        different scales. A sample with E(x) = 0 then scores NaN, with a warning.
    batch_size : int, optional
        Rows (perturbed copies) per call of the method; default all N · S at once. The
        explanation at x is one more call over the N samples (in chunks of ``batch_size``).

    Returns
    -------
    Score
        One value per sample; lower is better.

    Notes
    -----
    The copies are not clipped to the data's range (nor are Quantus's). Row j of the
    batch of copies is draw j // N of sample j % N.

    References
    ----------
    Yeh, Hsieh, Suggala, Inouye, Ravikumar, "On the (in)fidelity and sensitivity of
    explanations", NeurIPS 2019.
    """
    method = resolve_method(method, "method")
    radius = check_number(radius, "radius")
    samples = check_number(samples, "samples", minimum=1, integer=True)
    generator = check_seed(seed)
    check_choice(norm, "norm", SENSITIVITY_NORMS)
    check_flag(normalize, "normalize")
    batch_size = check_batch_size(batch_size)
    call = Call(graph, x, target, batch_size, method="lrp.metrics.max_sensitivity")
    n, xs = call.n, call.xs
    _, masks = call.outputs_and_masks()
    at_x = relevance_of(call, method, masks, "the explanation at x")
    reference = torch.cat([flat(e) for e in at_x], 1)
    total = n * samples
    chunk = batch_size or total
    sensitivity = torch.empty(total, dtype=reference.dtype, device=reference.device)
    draws = _draws(xs, samples, radius, generator)
    current, current_draw = None, -1
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        pieces, rows = [[] for _ in xs], start
        while rows < stop:                      # the draws this chunk spans, in order
            draw, first = divmod(rows, n)
            if draw != current_draw:
                current, current_draw = next(draws), draw
            last = min(n, first + stop - rows)
            for k, (v, d) in enumerate(zip(xs, current)):
                pieces[k].append(v[first:last] + d[first:last])
            rows += last - first
        copies = [torch.cat(p) for p in pieces]
        index = torch.arange(start, stop, device=masks.device) % n
        part = Call(graph, tuple(copies) if len(copies) > 1 else copies[0], None,
                    method="lrp.metrics.max_sensitivity")
        explained = relevance_of(part, method, masks[index], "the explanation at x + δ")
        change = torch.cat([flat(e) for e in explained], 1) - reference[index.to(
            reference.device)]
        sensitivity[start:stop] = _norm(change, norm)
    worst = sensitivity.reshape(samples, n).amax(0)
    if normalize:
        size = _norm(reference, norm)
        zero = size == 0
        if bool(zero.any()):
            rows = torch.nonzero(zero).flatten().tolist()
            warnings.warn(f"{int(zero.sum())} explanations at x are all zero (samples "
                          f"{rows[:5]}): their relative max-sensitivity is NaN; pass "
                          "normalize=False for the absolute change", RuntimeWarning,
                          stacklevel=2)
        worst = worst / torch.where(zero, torch.ones_like(size), size)
        worst[zero] = math.nan
    kind = "relative" if normalize else "absolute"
    return Score("max_sensitivity", worst.double().cpu().numpy(), False,
                 f"{kind} max-sensitivity, max over {samples} draws of U(−{radius:g}, "
                 f"{radius:g}) noise, {norm} norm")
