"""Reference-based and contrastive methods: DeepLIFT's Rescale rule on any graph, its
DeepSHAP average over a background set, and competitive gradient × input.

DeepLIFT (Shrikumar et al., ICML 2017) explains the difference of the score from its value
at a reference input x̄, s(x) − s(x̄), by multipliers m = ∂ᵈs/∂ᵈx that carry
differences instead of infinitesimal changes: the graph is run at x and at x̄, and a reverse
walk composes each node's multipliers (the chain rule of multipliers, Shrikumar et al.,
section 3.3). Attributions are R_i = m_i (x_i − x̄_i). Ancona et al. (ICLR 2018) showed that
DeepLIFT with the Rescale rule is the gradient of a modified backward pass, which is how it
runs here: one forward pass over the (x, x̄) pairs, one walk.

The multipliers per op category (every rule but max pooling's "gradient" variant keeps
Δ(output) = Σ m Δ(input) exactly, so Σ_i R_i = s(x) − s(x̄) holds on such graphs):

* linear ops (:class:`~neon.ops.Affine`, ``ElementwiseAffine``/``BatchNorm``,
  :class:`~neon.ops.Summation`, :class:`~neon.ops.Routing`): the transposed map, m_in = Jᵀ m;
* elementwise nonlinearities y = g(z) (ReLU, tanh, sigmoid, GELU, …): Rescale,
  m_in = m (y − ȳ)/(z − z̄) where |z − z̄| > 10⁻¹⁰, else m g'(z) (the gradient at x: the
  limit, Ancona et al.; captum's ``eps``);
* max pooling: ``maxpool="gradient"`` (default) passes m to the window's maximum at x, the
  gradient at x, as the DeepLIFT paper and its reference code do; Σ R then differs from
  s(x) − s(x̄) wherever the maxima of x and x̄ sit at different positions (the gap is
  reported). ``maxpool="conserving"`` is captum's rule: the change Δy = [max(y, ȳ) − ȳ] +
  [y − max(y, ȳ)] is routed to the maximum at x (its non-negative part) and to the maximum
  at x̄ (its non-positive part), and m_in = routed / Δx (the gradient where |Δx| ≤ 10⁻¹⁰),
  which keeps Σ R = Δs;
* products y = a ∘ b (Mul, MatMul, Einsum): the Shapley split of
  Δy = ā ∘ Δb + Δa ∘ b̄ + Δa ∘ Δb, the cross term halved, i.e. Δa ∘ (b + b̄)/2 +
  (a + ā)/2 ∘ Δb: each factor's multiplier is its transposed map at the other factor's
  midpoint (exact for a bilinear map);
* normalizations y = γ ⊙ c r + β with c = x − μ(x) and r = (v + ε)^(−½), v = mean(c²) per
  group (LayerNorm, GroupNorm; L2Normalize: c = x, r = 1/max(‖x‖, ε)): the chain of the
  elementary steps, each exact — the centring is linear, Δv = ⟨2 c_mid / L, Δc⟩ exactly
  (v is quadratic; c_mid = (c + c̄)/2), Δr = m_r Δv with the secant
  m_r = −1/(√a √ā (√a + √ā)), a = v + ε, and Δ(c r) = Δc r_mid + c_mid Δr (the Shapley
  split of the product);
* softmax inside the graph (attention weights): the chain exp → sum → 1/s → product, each
  exact (exp by its secant (e − ē)/(z − z̄), 1/s by −1/(s s̄), the product by its Shapley
  split); log-softmax likewise (log s by its secant);
* :class:`~neon.ops.ReferencedMLP` (scikit-learn MLPs): its layers, with Rescale at every
  activation and the transposed weights between.

Any other op (the neuralized distance models' pools and kernels) is refused with the node's
name: :func:`lrp.integrated_gradients` explains from a baseline on any graph.

DeepSHAP (Lundberg & Lee, NeurIPS 2017) averages DeepLIFT over a background set
{x̄_b}: R_i = (1/B) Σ_b m_i(x, x̄_b) (x_i − x̄_{b,i}), so Σ R = s(x) − mean_b s(x̄_b). The
N × B (sample, reference) pairs are the rows of one batch (sample-major, as captum's
``DeepLiftShap``), cut into chunks of ``batch_size`` pairs.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

from neon.graph import GraphInputError
from neon.ops import (
    Affine,
    Elementwise,
    ElementwiseAffine,
    GroupNorm,
    L2Normalize,
    LayerNorm,
    LogSoftmax,
    MaxPool,
    Product,
    ReferencedMLP,
    ReLU,
    Routing,
    Softmax,
    Summation,
)

from ..calls import Attribution, Call, check_batch_size, explained_node
from ..rules.base import RuleError, check_choice, check_flag, vjp
from ..rules.structural import Route
from ..targets import TargetError
from .autograd import per_sample, score_gradient

__all__ = ["deeplift", "competitive_gradient_x_input", "MAXPOOL_RULES", "RESCALE_EPS"]

#: DeepLIFT's two max-pooling conventions (module notes).
MAXPOOL_RULES = ("gradient", "conserving")
#: |z − z̄| at or below which Rescale takes the gradient at x instead of the secant
#: (captum's ``eps``).
RESCALE_EPS = 1e-10

_SUPPORTED = (Softmax, Affine, Elementwise, Routing, Summation, MaxPool, Product, LayerNorm,
              GroupNorm, L2Normalize, ReferencedMLP)


# ------------------------------------------------------------------ multipliers per op

def _linear(op, inputs, m):
    """m_in = Jᵀ m of a linear (or affine) op: the vector-Jacobian product anywhere."""
    grads = vjp(op, inputs, m)
    return [torch.zeros_like(a) if g is None else g for g, a in zip(grads, inputs)]


def _secant(fn, z, zr, y, yr, m, relu=False):
    """m ⊙ (y − ȳ)/(z − z̄) for an elementwise y = fn(z); m ⊙ fn'(z) where |z − z̄| ≤ eps."""
    dz = z - zr
    far = dz.abs() > RESCALE_EPS
    ratio = (y - yr) / torch.where(far, dz, torch.ones_like(dz))
    if bool(far.all()):
        return m * ratio
    near = m * (z > 0).to(m.dtype) if relu else vjp(fn, [z], m)[0]
    return torch.where(far, m * ratio, near)


def _exp_secant(z, zr, e, er):
    """(e − ē)/(z − z̄) for e = exp(z − c), ē = exp(z̄ − c); e where |z − z̄| ≤ eps."""
    dz = z - zr
    far = dz.abs() > RESCALE_EPS
    small = dz.abs() < 1
    diff = torch.where(small, er * torch.expm1(torch.where(small, dz, torch.zeros_like(dz))),
                       e - er)
    return torch.where(far, diff / torch.where(far, dz, torch.ones_like(dz)), e)


def _softmax(op, x, xr, m):
    """Softmax and log-softmax as exp → sum → (1/s or log s) → product (module notes)."""
    d = op.dim
    shift = torch.maximum(x.amax(d, keepdim=True), xr.amax(d, keepdim=True))
    e, er = (x - shift).exp(), (xr - shift).exp()
    s, sr = e.sum(d, keepdim=True), er.sum(d, keepdim=True)
    m_exp = _exp_secant(x, xr, e, er)
    if isinstance(op, LogSoftmax):                      # y = x − log s
        ds = s - sr
        far = ds.abs() > RESCALE_EPS
        log_secant = torch.where(far, torch.log1p(ds / sr) / torch.where(
            far, ds, torch.ones_like(ds)), 1 / s)
        return [m - m.sum(d, keepdim=True) * log_secant * m_exp]
    r, rr = 1 / s, 1 / sr                               # y = e · r, r = 1/s
    m_r = (m * (e + er) / 2).sum(d, keepdim=True)
    m_e = m * (r + rr) / 2 - m_r / (s * sr)             # Δ(1/s) = −Δs / (s s̄)
    return [m_e * m_exp]


def _normalization(op, x, xr, m):
    """LayerNorm, GroupNorm, L2Normalize as centring → quadratic statistic → r → product."""
    if isinstance(op, LayerNorm):
        shape, centre = x.shape[:x.dim() - len(op.normalized_shape)] + (-1,), True
    elif isinstance(op, GroupNorm):
        shape, centre = (x.shape[0], op.groups, -1), True
    else:
        shape, centre = x.shape, False
    g = m if op.weight is None else m * op.weight.reshape(op.affine_shape(x))
    g, c, cr = g.reshape(shape), x.reshape(shape), xr.reshape(shape)
    if centre:
        c, cr = c - c.mean(-1, keepdim=True), cr - cr.mean(-1, keepdim=True)
    length = c.shape[-1]
    if centre:                                          # v = mean(c²), r = (v + ε)^−½
        scale = 2.0 / length
        a, ar = c.square().mean(-1, keepdim=True) + op.eps, cr.square().mean(-1, keepdim=True) \
            + op.eps
        root, rootr = a.sqrt(), ar.sqrt()
        r, rr = 1 / root, 1 / rootr
        secant = -1 / (root * rootr * (root + rootr))
    else:                                               # q = Σ x², r = 1 / max(√q, ε)
        scale = 2.0
        a, ar = c.square().sum(-1, keepdim=True), cr.square().sum(-1, keepdim=True)
        root, rootr = a.sqrt(), ar.sqrt()
        r, rr = 1 / root.clamp_min(op.eps), 1 / rootr.clamp_min(op.eps)
        both = (root > op.eps) & (rootr > op.eps)
        da = a - ar
        far = da.abs() > RESCALE_EPS
        slope = torch.where(root > op.eps, -0.5 / (a * root).clamp_min(torch.finfo(a.dtype)
                                                                       .tiny), 0 * a)
        ratio = torch.where(far, (r - rr) / torch.where(far, da, torch.ones_like(da)), slope)
        secant = torch.where(both, -1 / (root * rootr * (root + rootr)).clamp_min(
            torch.finfo(a.dtype).tiny), ratio)
    mid = (c + cr) / 2
    m_c = g * ((r + rr) / 2) + (g * mid).sum(-1, keepdim=True) * secant * scale * mid
    if centre:
        m_c = m_c - m_c.mean(-1, keepdim=True)
    return [m_c.reshape(x.shape)]


def _maxpool(op, x, xr, y, yr, m, rule):
    grad = vjp(op, [x], m)[0]
    if rule == "gradient":
        return [grad]
    top = torch.maximum(y, yr)
    routed = vjp(op, [x], m * (top - yr))[0] + vjp(op, [xr], m * (y - top))[0]
    dx = x - xr
    far = dx.abs() > RESCALE_EPS
    return [torch.where(far, routed / torch.where(far, dx, torch.ones_like(dx)), grad)]


def _referenced_mlp(op, x, xr, m):
    steps, a, ar = [], x, xr
    for w, b, g in op.layers():
        z, zr = torch.nn.functional.linear(a, w, b), torch.nn.functional.linear(ar, w, b)
        a, ar = g(z), g(zr)
        steps.append((w, g, z, zr, a, ar))
    for w, g, z, zr, y, yr in reversed(steps):
        m = _secant(g, z, zr, y, yr, m, relu=g is torch.relu) @ w
    return [m]


def _multipliers(op, xs, refs, y, yr, m, maxpool):
    """The multipliers of ``op``'s inputs from those of its output (module notes)."""
    if isinstance(op, Softmax):
        return _softmax(op, xs[0], refs[0], m)
    if isinstance(op, Affine):
        return [op.transpose(m, xs[0].shape)]
    if isinstance(op, ElementwiseAffine):
        return _linear(op, xs, m)
    if isinstance(op, Elementwise):
        return [_secant(op, xs[0], refs[0], y, yr, m, relu=isinstance(op, ReLU))]
    if isinstance(op, Routing):
        return Route()(op, xs, y, m)
    if isinstance(op, Summation):
        return _linear(op, xs, m)
    if isinstance(op, MaxPool):
        return _maxpool(op, xs[0], refs[0], y, yr, m, maxpool)
    if isinstance(op, Product):
        a, b = xs
        return list(op.transposes((a + refs[0]) / 2, (b + refs[1]) / 2, m))
    if isinstance(op, (LayerNorm, GroupNorm, L2Normalize)):
        return _normalization(op, xs[0], refs[0], m)
    return _referenced_mlp(op, xs[0], refs[0], m)


def _check_supported(graph, start):
    needed = nx.ancestors(graph.structure, start) | {start}
    for node in graph.nodes:
        if node.name in needed and not isinstance(node.op, _SUPPORTED):
            raise RuleError(
                f"lrp.deeplift has no multiplier rule for node {node.name!r} ({node.kind!r}, "
                f"{type(node.op).__name__}): it handles linear, elementwise, max-pooling, "
                "product, LayerNorm/GroupNorm/L2Normalize, softmax and ReferencedMLP ops. "
                "lrp.integrated_gradients explains from a baseline on any graph")


def _walk(graph, start, xv, rv, mask, maxpool):
    """Multipliers of the graph inputs for the start multipliers ``mask`` (one reverse
    walk; a node read by several consumers sums what they send)."""
    mult = {start: mask}
    for node in reversed(graph.nodes):
        m = mult.pop(node.name, None)
        if m is None:
            continue
        sent = _multipliers(node.op, [xv[i] for i in node.inputs], [rv[i] for i in node.inputs],
                            xv[node.name], rv[node.name], m, maxpool)
        for name, s in zip(node.inputs, sent):
            mult[name] = s if name not in mult else mult[name] + s
    return [mult[name] if name in mult else torch.zeros_like(xv[name])
            for name in graph.input_names]


# --------------------------------------------------------------------------- references

def _background(graph, call, background, baseline):
    """The background set, one (B, *sample) tensor per graph input of ``call``."""
    if not (isinstance(baseline, (int, float)) and not isinstance(baseline, bool)
            and baseline == 0):
        raise ValueError("give baseline= or background=, not both: background= is a set of "
                         "reference inputs (DeepSHAP averages over them), baseline= one "
                         "reference per sample")
    multi = len(graph.input_specs) > 1
    if multi and not (isinstance(background, (tuple, list)) and
                      len(background) == len(graph.input_specs)):
        raise ValueError(f"the graph has {len(graph.input_specs)} inputs: give background as "
                         "a tuple with one (B, ...) batch per input")
    parts = list(background) if multi else [background]
    for part in parts:
        if not isinstance(part, (torch.Tensor, np.ndarray)) and not hasattr(part, "to_numpy"):
            raise TypeError(f"background must be a tensor or an array of reference inputs, "
                            f"shape (B, *sample), got {type(part).__name__}")
    try:
        refs = graph.check_inputs(*parts)
    except GraphInputError as err:
        raise GraphInputError(f"background (the reference inputs, shape (B, *sample)): "
                              f"{err}") from None
    tokens = getattr(call, "tokens", None)
    if tokens is not None:                  # token ids: explained at their embeddings
        refs = tokens.inputs(refs)
    sizes = {r.shape[0] for r in refs}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"background must hold the same number B ≥ 1 of references for "
                         f"every input, got {sorted(sizes)}")
    for r, x, spec in zip(refs, call.xs, call.graph.input_specs):
        if r.shape[1:] != x.shape[1:]:
            raise ValueError(f"background for input {spec.name!r} has samples of shape "
                             f"{tuple(r.shape[1:])}, x {tuple(x.shape[1:])}: give references "
                             "shaped like one sample of x")
    return refs


def deeplift(graph, x, target=None, *, baseline=0.0, background=None, maxpool="gradient",
             batch_size=None, return_all=False):
    """DeepLIFT with the Rescale rule, or DeepSHAP with a background set.

    R_i = m_i (x_i − x̄_i), with the multipliers m = ∂ᵈs/∂ᵈx of the explained score
    s = Σ_c mask_c f_c composed node by node in one reverse walk from m = mask at the
    explained output (the rules per op are in the module notes). On graphs of linear,
    elementwise, average-pooling, product, normalization and softmax ops (and max pooling
    with ``maxpool="conserving"``) the summation-to-delta property holds exactly:

        Σ_i R_i = s(x) − s(x̄).

    With ``background`` = {x̄_1, …, x̄_B}, the DeepSHAP average
    R_i = (1/B) Σ_b m_i(x, x̄_b) (x_i − x̄_{b,i}), so Σ_i R_i = s(x) − (1/B) Σ_b s(x̄_b).
    The explained class is fixed at x (``target=None``: the class predicted for x).

    Parameters
    ----------
    graph : neon.Graph
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : as in :func:`lrp.explain` (labels, columns, masks, :class:`lrp.targets.Versus`)
    baseline : number, tensor, array, or callable ``x -> baseline``
        The reference x̄, as for :func:`lrp.integrated_gradients` (shaped like x or like one
        sample; a tuple for several graph inputs). Default 0.
    background : tensor or array of shape (B, *sample), optional
        Reference inputs (a tuple of them for several graph inputs) to average over
        (DeepSHAP); B = 1 is DeepLIFT from that reference. Replaces ``baseline``.
    maxpool : {"gradient", "conserving"}
        Max pooling's rule: the gradient at x (the DeepLIFT paper's; default) or captum's
        conserving split (module notes).
    batch_size : int, optional
        (sample, reference) pairs per forward pass and walk; default all N × B at once.
    return_all : bool
        Return an :class:`lrp.calls.Attribution` whose ``info`` holds ``baseline_output``
        (s(x̄), the background mean for DeepSHAP), ``gap`` (Σ R − (s(x) − s(x̄)) per sample)
        and ``relative_gap`` (|gap| / |s(x) − s(x̄)|).

    Returns
    -------
    tensor, ndarray, DataFrame or Attribution
        The attribution, shaped and typed like ``x``, or an :class:`lrp.calls.Attribution`.

    References
    ----------
    Shrikumar, Greenside & Kundaje, "Learning important features through propagating
    activation differences", ICML 2017; Ancona, Ceolini, Öztireli & Gross, "Towards better
    understanding of gradient-based attribution methods for deep neural networks", ICLR 2018;
    Lundberg & Lee, "A unified approach to interpreting model predictions", NeurIPS 2017.
    """
    check_flag(return_all, "return_all")
    check_choice(maxpool, "maxpool", MAXPOOL_RULES)
    pairs_per_pass = check_batch_size(batch_size)
    call = Call(graph, x, target, batch_size, method="lrp.deeplift")
    g, xs = call.graph, call.xs
    start = explained_node(g)
    _check_supported(g, start)
    if background is None:
        refs, count = call.baselines(baseline), 1
    else:
        refs = _background(graph, call, background, baseline)
        count = refs[0].shape[0]
    out, mask = call.outputs_and_masks()
    n, device = call.n, xs[0].device
    sums = [torch.zeros_like(v) for v in xs]
    base_score = torch.zeros(n, dtype=out.dtype, device=device)
    total = n * count                          # rows r = i·B + b: sample-major, as captum
    chunk = pairs_per_pass or total
    for first in range(0, total, chunk):
        rows = torch.arange(first, min(first + chunk, total), device=device)
        sample = rows // count
        here = [v[sample] for v in xs]
        there = [r[sample] for r in refs] if background is None else \
            [r[rows % count] for r in refs]
        p = len(rows)
        with torch.no_grad():
            values = g.activations(*[torch.cat([a, b]) for a, b in zip(here, there)],
                                   validated=True)
            xv = {k: v[:p] for k, v in values.items()}
            rv = {k: v[p:] for k, v in values.items()}
            del values
            rows_mask = mask[sample].to(xv[start].dtype)
            base_score.index_add_(0, sample, per_sample(rv[start] * rows_mask))
            mults = _walk(g, start, xv, rv, rows_mask, maxpool)
            for acc, mult, a, b in zip(sums, mults, here, there):
                acc.index_add_(0, sample, mult * (a - b))
    attributions = [s / count for s in sums] if count > 1 else sums
    base_score = base_score / count
    score = per_sample(out * mask)
    result = call.finish(attributions)
    if not return_all:
        return result
    change = score - base_score
    gap = sum(per_sample(a) for a in attributions) - change
    relative = gap.abs() / change.abs().clamp_min(torch.finfo(change.dtype).tiny)
    return Attribution(result, score, dict(baseline_output=base_score, gap=gap,
                                           relative_gap=relative))


# ---------------------------------------------------------------- competitive gradients

def competitive_gradient_x_input(graph, x, target=None, *, batch_size=None, return_all=False):
    """Competitive gradient × input (Gupta & Arora, 2019).

    With G_c = x ⊙ ∂f_c/∂x the gradient × input of every class c, the attribution of
    feature i to the explained class t keeps G_{t,i} only where t wins the competition
    for that feature,

        R_i = G_{t,i}   if G_{t,i} > 0 and G_{t,i} = max_c G_{c,i},
                        or G_{t,i} < 0 and G_{t,i} = min_c G_{c,i},
        R_i = 0         otherwise

    (a tie keeps the feature for every tied class). The classes are the explained output's
    columns (the logits before an output softmax).

    Parameters
    ----------
    graph : neon.Graph
        Its explained output must be (N, C) with C ≥ 2 classes.
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : one class per sample, as in :func:`lrp.explain` (labels, columns; default the
        predicted class). Float masks are refused: the competition is between classes.
    batch_size : int, optional
        (sample, class) rows per forward/backward pass; default all N × C at once (the
        gradients of every class are rows of one batch, one backward pass).
    return_all : bool
        Return an :class:`lrp.calls.Attribution` whose ``info`` holds ``kept``, the fraction
        of features the explained class wins, per sample.

    References
    ----------
    Gupta & Arora, "A simple saliency method that passes the sanity checks",
    arXiv:1910.07387, 2019.
    """
    check_flag(return_all, "return_all")
    rows_per_pass = check_batch_size(batch_size)
    call = Call(graph, x, target, batch_size, method="lrp.competitive_gradient_x_input")
    out, mask = call.outputs_and_masks()
    if out.dim() != 2 or out.shape[1] < 2:
        raise ValueError(f"competitive gradients let classes compete: the explained output "
                         f"must be (N, C) with C ≥ 2, got {tuple(out.shape)}; for one output "
                         "use lrp.gradient_x_input")
    one_hot = bool(((mask == 0) | (mask == 1)).all() & (mask.sum(1) == 1).all())
    if not one_hot:
        raise TargetError("competitive gradients explain one class per sample: give a class "
                          "(a label, a column index, one per sample), not a mask or "
                          "lrp.targets.Versus")
    n, classes = out.shape
    xs, device = call.xs, call.xs[0].device
    explained = mask.argmax(1)
    eye = torch.eye(classes, dtype=out.dtype, device=device)
    best = [torch.full_like(v, -torch.inf) for v in xs]
    worst = [torch.full_like(v, torch.inf) for v in xs]
    own = [torch.zeros_like(v) for v in xs]
    total = n * classes                       # rows r = i·C + c
    chunk = rows_per_pass or total
    for first in range(0, total, chunk):
        rows = torch.arange(first, min(first + chunk, total), device=device)
        sample, cls = rows // classes, rows % classes
        here = [v[sample] for v in xs]
        grads = score_gradient(call.graph, here, mask=eye[cls])[0]
        mine = cls == explained[sample]
        for i, (grad, point) in enumerate(zip(grads, here)):
            gi = grad * point
            best[i].index_reduce_(0, sample, gi, "amax")
            worst[i].index_reduce_(0, sample, gi, "amin")
            own[i].index_copy_(0, sample[mine], gi[mine])
    results = [torch.where(((o > 0) & (o >= b)) | ((o < 0) & (o <= w)), o, torch.zeros_like(o))
               for o, b, w in zip(own, best, worst)]
    attribution = call.finish(results)
    if not return_all:
        return attribution
    kept = sum(per_sample((r != 0).to(out.dtype)) for r in results) / sum(
        r[0].numel() for r in results)
    return Attribution(attribution, per_sample(out * mask), dict(kept=kept))
