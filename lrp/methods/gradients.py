"""The gradient family: gradient (saliency), gradient × input, integrated gradients and
SmoothGrad (which wraps any method).

All follow the one call convention, ``method(graph, x, target=None, *, batch_size=None,
**options)``, with ``target`` read as in :func:`lrp.explain` and the result shaped and typed
like ``x``. Each is one batched forward and backward pass per chunk (paths and noise draws
are rows of one batch, never a Python loop per step or per sample).
"""

from __future__ import annotations

import numpy as np
import torch

from ..calls import Attribution, Call, check_batch_size, check_seed
from ..rules.base import check_callable, check_choice, check_flag, check_number
from .autograd import per_sample, score_gradient

__all__ = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad",
           "path_points", "IG_METHODS", "SMOOTHGRAD_VARIANTS"]

IG_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
              "gausslegendre")
SMOOTHGRAD_VARIANTS = ("mean", "squared", "variance")


def _result(call, results, score, return_all, **info):
    attribution = call.finish(results)
    return Attribution(attribution, score, info) if return_all else attribution


def _gradients(call):
    """(∂s/∂x per input, score) over all chunks."""
    pieces = [score_gradient(call.graph, part, target=t) for _, _, part, t in call.chunks()]
    grads = [torch.cat([p[0][i] for p in pieces]) for i in range(len(call.xs))]
    return grads, torch.cat([p[3] for p in pieces])


def _require_channels(call, option):
    for x, spec in zip(call.xs, call.graph.input_specs):
        if x.dim() < 3:
            raise ValueError(f"{option} reduces over the channel axis of image-like input "
                             f"(N, C, ...); the input {spec.name!r} has shape "
                             f"{tuple(x.shape)} (tabular): leave {option}=False")


def gradient(graph, x, target=None, *, batch_size=None, abs=False, square=False,
             reduce_channels=False, return_all=False):
    """The gradient of the explained output with respect to the input (saliency).

    g = ∂s/∂x with s = Σ_c mask_c f_c(x). It answers "which small change of x changes the
    score most", a question about the function's local slope, not about what in x the score
    is made of (which is what relevance answers).

    Parameters
    ----------
    graph : neon.Graph
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : as in :func:`lrp.explain`
    batch_size : int, optional
        Samples per forward/backward pass.
    abs : bool
        Return |g| (captum's ``Saliency(abs=True)``).
    square : bool
        Return g².
    reduce_channels : bool
        Simonyan et al.'s map: max_c |g_c| over the channel axis (axis 1), kept as an axis
        of length 1, so the result has shape (N, 1, ...); image-like input only. With
        ``square=True``: max_c g_c².
    return_all : bool
        Return an :class:`lrp.calls.Attribution` (with the score per sample).

    References
    ----------
    Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks: visualising image
    classification models and saliency maps", ICLR workshop 2014.
    """
    for value, name in ((abs, "abs"), (square, "square"), (reduce_channels, "reduce_channels"),
                        (return_all, "return_all")):
        check_flag(value, name)
    if abs and square:
        raise ValueError("give abs=True or square=True, not both (|g| or g²)")
    call = Call(graph, x, target, batch_size, method="lrp.gradient")
    if reduce_channels:
        _require_channels(call, "reduce_channels")
    grads, score = _gradients(call)
    if square:
        grads = [g.square() for g in grads]
    elif abs or reduce_channels:
        grads = [g.abs() for g in grads]
    if reduce_channels:
        grads = [g.amax(1, keepdim=True) for g in grads]
    return _result(call, grads, score, return_all)


def gradient_x_input(graph, x, target=None, *, batch_size=None, return_all=False):
    """Gradient × input, R = x ⊙ ∂s/∂x.

    For a linear model with zero bias the attributions sum to the score; in general they do
    not (the gap is the bias and the curvature). Parameters as in :func:`gradient`.

    References
    ----------
    Shrikumar et al., "Not just a black box: learning important features through
    propagating activation differences", arXiv:1605.01713, 2016.
    """
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, batch_size, method="lrp.gradient_x_input")
    grads, score = _gradients(call)
    return _result(call, [g * x for g, x in zip(grads, call.xs)], score, return_all)


# ----------------------------------------------------------------- integrated gradients

def path_points(method: str, steps: int):
    """Quadrature nodes α_k ∈ [0, 1] and weights w_k for ∫₀¹ h(α) dα ≈ Σ_k w_k h(α_k).

    ``riemann_left``: α_k = k/n (k = 0 … n−1), ``riemann_right``: α_k = k/n (k = 1 … n),
    ``riemann_middle``: α_k = (k + ½)/n, each with w_k = 1/n; ``riemann_trapezoid``: n
    equally spaced nodes from 0 to 1 with the trapezoid weights (half weight at the ends);
    ``gausslegendre``: Gauss–Legendre nodes and weights mapped from [−1, 1] to [0, 1]. The
    names are captum's.

    Returns
    -------
    alphas, weights : ndarray of float64, shape (steps,)
    """
    check_choice(method, "method", IG_METHODS)
    n = check_number(steps, "steps", minimum=2 if method == "riemann_trapezoid" else 1,
                     integer=True)
    k = np.arange(n, dtype=np.float64)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_trapezoid":
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] /= 2
        return k / (n - 1), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (k + offset) / n, np.full(n, 1.0 / n)


def integrated_gradients(graph, x, target=None, *, baseline=0.0, steps=50,
                         method="gausslegendre", batch_size=None, return_all=False):
    """Integrated gradients along the straight path from a baseline x' to x:

        IG_i(x) = (x_i − x'_i) ∫₀¹ ∂s/∂x_i (x' + α (x − x')) dα,

    approximated by the quadrature of :func:`path_points`. The explained class is fixed at
    x (``target=None``: the class predicted for x, at every point of the path).
    Completeness, Σ_i IG_i = s(x) − s(x'), holds for the integral; the quadrature's gap is
    returned with ``return_all`` and falls as ``steps`` grows.

    Parameters
    ----------
    baseline : number, tensor, array, or callable ``x -> baseline``
        x'; a tensor may be shaped like x or like one sample. A tuple, one per input, for
        several graph inputs. Default 0.
    steps : int
        Quadrature nodes (captum's ``n_steps``); default 50.
    method : str
        One of ``riemann_left``, ``riemann_right``, ``riemann_middle``,
        ``riemann_trapezoid``, ``gausslegendre`` (default), as in captum.
    batch_size : int, optional
        Path points per forward/backward pass (captum's ``internal_batch_size``): the
        steps × N points are one batch unless this cuts them into chunks.
    return_all : bool
        Return an :class:`lrp.calls.Attribution` whose ``info`` holds ``gap`` (Σ IG −
        (s(x) − s(x')), per sample), ``baseline_output`` s(x') and ``relative_gap``
        (|gap| / |s(x) − s(x')|).

    References
    ----------
    Sundararajan, Taly & Yan, "Axiomatic attribution for deep networks", ICML 2017.
    """
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, None, method="lrp.integrated_gradients")
    rows_per_pass = check_batch_size(batch_size)
    alphas, weights = path_points(method, steps)
    xs = call.xs
    bases = call.baselines(baseline)
    n, dtype, device = call.n, xs[0].dtype, xs[0].device
    out, mask = call.outputs_and_masks()
    score = per_sample(out * mask)
    base_out = torch.cat([call.output_at([b[start:stop] for b in bases])
                          for start, stop, _, _ in call.chunks()])
    base_score = per_sample(base_out * mask)
    alphas = torch.as_tensor(alphas, dtype=dtype, device=device)
    weights = torch.as_tensor(weights, dtype=dtype, device=device)
    deltas = [x - b for x, b in zip(xs, bases)]
    sums = [torch.zeros_like(x) for x in xs]
    total = len(alphas) * n                  # rows r = k·N + i: step-major, as captum
    chunk = rows_per_pass or total
    for first in range(0, total, chunk):
        rows = torch.arange(first, min(first + chunk, total), device=device)
        sample, step = rows % n, rows // n
        points = []
        for b, d in zip(bases, deltas):
            a = alphas[step].reshape(-1, *([1] * (d.dim() - 1)))
            points.append(b[sample] + a * d[sample])
        grads = score_gradient(call.graph, points, mask=mask[sample])[0]
        for acc, g in zip(sums, grads):
            acc.index_add_(0, sample, g * weights[step].reshape(-1, *([1] * (g.dim() - 1))))
    attributions = [d * s for d, s in zip(deltas, sums)]
    if not return_all:
        return call.finish(attributions)
    change = score - base_score
    gap = sum(per_sample(a) for a in attributions) - change
    relative = gap.abs() / change.abs().clamp_min(torch.finfo(dtype).tiny)
    return _result(call, attributions, score, True, gap=gap, baseline_output=base_score,
                   relative_gap=relative)


# ---------------------------------------------------------------------------- SmoothGrad

def _method_named(method):
    if method is None:
        return gradient
    if isinstance(method, str):
        from . import METHODS

        if method not in METHODS or method == "smoothgrad":
            names = ", ".join(repr(m) for m in METHODS if m != "smoothgrad")
            raise ValueError(f"smoothgrad cannot wrap {method!r}; name one of {names}, or "
                             "pass the function itself (lrp.explain for LRP)")
        return METHODS[method]
    return check_callable(method, "method")


def smoothgrad(graph, x, target=None, *, method=None, samples=25, sigma=0.15, variant="mean",
               seed=None, batch_size=None, return_all=False, **options):
    """SmoothGrad: an explanation averaged over noisy copies of the input,

        mean:     (1/S) Σ_s E(x + ε_s),       ε_s ~ N(0, σ²),  σ = sigma · (max x − min x),
        squared:  (1/S) Σ_s E(x + ε_s)²,
        variance: (1/S) Σ_s E(x + ε_s)² − ((1/S) Σ_s E(x + ε_s))²   (VarGrad),

    where E is any explanation method with the one call convention: the gradient by default,
    or ``lrp.explain`` (SmoothGrad over LRP, with ``composite=`` among ``options``),
    ``lrp.integrated_gradients`` and the rest. The explained class is fixed at x.

    Parameters
    ----------
    method : callable or str, optional
        The wrapped method (``lrp.gradient`` when None), or its name (``"gradient"``,
        ``"integrated_gradients"``, ``"explain"``, …).
    samples : int
        Noisy copies S per sample (default 25).
    sigma : float
        Noise level relative to each sample's value range (Smilkov et al. suggest 0.1–0.2).
    variant : {"mean", "squared", "variance"}
        captum's ``smoothgrad``, ``smoothgrad_sq`` and ``vargrad``.
    seed : int or torch.Generator, optional
        Makes the noise repeatable; None draws from torch's global generator. Noise is drawn
        in one call of shape (N·S, ...), sample-major (each sample's S copies adjacent), the
        order captum's NoiseTunnel uses, so the same seed gives the same draws.
    batch_size : int, optional
        Noisy copies per call of the wrapped method.
    **options
        Passed to the wrapped method (``composite=``, ``steps=``, ``abs=``, …).

    References
    ----------
    Smilkov et al., "SmoothGrad: removing noise by adding noise", arXiv:1706.03825, 2017;
    Adebayo et al., "Local explanation methods for deep neural networks lack sensitivity to
    parameter values" (VarGrad), ICLR workshop 2018.
    """
    check_flag(return_all, "return_all")
    inner = _method_named(method)
    samples = check_number(samples, "samples", minimum=1, integer=True)
    sigma = check_number(sigma, "sigma")
    check_choice(variant, "variant", SMOOTHGRAD_VARIANTS)
    call = Call(graph, x, target, None, method="lrp.smoothgrad")
    per_call = check_batch_size(batch_size)
    xs = call.xs
    generator = check_seed(seed, device=xs[0].device)
    out, mask = call.outputs_and_masks()
    noisy = []
    for v in xs:
        flat = v.reshape(v.shape[0], -1)
        spread = (flat.amax(1) - flat.amin(1)) * sigma
        std = spread.repeat_interleave(samples).reshape(-1, *([1] * (v.dim() - 1)))
        std = std.expand(v.shape[0] * samples, *v.shape[1:]).contiguous()
        noise = torch.normal(0.0, std, generator=generator) if generator is not None \
            else torch.normal(0.0, std)
        noisy.append(v.repeat_interleave(samples, dim=0) + noise)
    rows = call.n * samples
    chunk = per_call or rows
    sums = [torch.zeros_like(v) for v in xs]
    squares = [torch.zeros_like(v) for v in xs] if variant != "mean" else None
    for first in range(0, rows, chunk):
        idx = torch.arange(first, min(first + chunk, rows), device=xs[0].device)
        part = [v[idx] for v in noisy]
        result = inner(call.graph, tuple(part) if len(part) > 1 else part[0], mask[idx // samples],
                       **options)
        result = list(result) if isinstance(result, tuple) else [result]
        owner = idx // samples
        for i, r in enumerate(result):
            r = torch.as_tensor(r, device=xs[0].device).to(xs[i].dtype)
            sums[i].index_add_(0, owner, r)
            if squares is not None:
                squares[i].index_add_(0, owner, r * r)
    if variant == "mean":
        results = [s / samples for s in sums]
    elif variant == "squared":
        results = [q / samples for q in squares]
    else:
        # E[a²] − E[a]² ≥ 0; rounding can leave −1e-18 where the draws agree
        results = [(q / samples - (s / samples) ** 2).clamp_min(0) for s, q in zip(sums, squares)]
    return _result(call, results, per_sample(out * mask), return_all)
