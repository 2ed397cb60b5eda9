"""Feature removal (pixel flipping): does removing what the map calls relevant hurt the model?

Sort the features of each sample by their relevance, remove them chunk by chunk (replace
them by a baseline), and record the explained output after every step. A faithful map makes
the output fall fast when the most relevant features go first (MoRF) and slowly when the
least relevant go first (LeRF). The explained class is fixed at x, as for the perturbation
methods: s(x') = Σ_c mask_c f_c(x'), with the mask read once at x (``target=None``: the class
predicted for x).

Everything is batched: the N × steps perturbed copies are rows of one big batch, built by
index arithmetic from the rank of every feature (a feature is removed at step k when its rank
is below the k-th chunk boundary), and cut into forward passes of ``batch_size`` rows.

The ranking depends on the baseline: a constant 0 favours methods that give zero relevance
to zero-valued inputs (gradient × input, integrated gradients from 0), the data mean others.
Report every baseline you try, never one.

References
----------
Bach et al., "On pixel-wise explanations for non-linear classifier decisions by layer-wise
relevance propagation", PLoS ONE 10(7), 2015.
Samek et al., "Evaluating the visualization of what a deep neural network has learned",
IEEE TNNLS 28(11), 2017 (MoRF, AOPC).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..calls import Call, check_batch_size, check_seed, explained_node
from ..datasets import is_stored, row_blocks
from ..methods.autograd import fast_layout, per_sample
from ..rules.base import check_choice, check_number
from .inputs import relevance_of
from .scores import Score

__all__ = ["pixel_flipping", "RemovalResult", "random_relevance", "removal_bounds"]

REMOVAL_ORDERS = ("morf", "lerf", "both")
REMOVAL_BASELINES = ("mean", "uniform", "resample")
ORDER_LABELS = {"morf": "MoRF", "lerf": "LeRF"}
# default rows per pass: copies of about this many input elements (CPU: cache-sized passes
# were fastest on the digits CNN, 1,024 rows of 8 × 8 against 12,800 in one pass: 2.4× faster)
_ELEMENTS_PER_PASS = {"cpu": 2 ** 16, "other": 2 ** 22}
_MIN_ROWS = 8
_DEFAULT_STEPS = 20
_TINY = 1e-12                    # |s_0| ≤ _TINY · max |s_0|: no normalized curve
_SHOWN = 8                       # sample indices named in a warning


# ---------------------------------------------------------------------------- result

@dataclass(frozen=True, eq=False)
class RemovalResult:
    """What :func:`pixel_flipping` measured.

    Attributes
    ----------
    order : {"morf", "lerf", "both"}
        The order(s) measured.
    fractions : ndarray, shape (steps + 1,)
        The fraction of features (of patches with ``region``) removed after each step,
        0 … 1: ``removal_bounds(units, steps) / units``.
    curves : dict
        ``"morf"`` and/or ``"lerf"`` → the raw curve s_k, ndarray of shape (N, steps + 1),
        float64; column 0 is s(x).
    auc : dict
        Order → :class:`Score`: area under s_k / s_0 over ``fractions`` (trapezoid), one per
        sample; NaN where s_0 is 0 or tiny. MoRF: lower is better; LeRF: higher.
    aopc : dict
        Order → :class:`Score`: (1 / (steps + 1)) Σ_{k=0}^{steps} (s_0 − s_k), one per sample
        (raw, not normalized). MoRF: higher is better; LeRF: lower.
    gap : Score or None
        ``order="both"``: AUC(LeRF) − AUC(MoRF) per sample, higher is better.
    baseline : str
        What removed features were replaced by (with where a mean or range came from).
    region : tuple of int or None
        The patch shape, or None (single features).
    units : int
        Features (or patches) per sample: what is sorted and removed.
    description : str
        The settings in words.
    """

    order: str
    fractions: np.ndarray
    curves: dict
    auc: dict
    aopc: dict
    gap: Score | None
    baseline: str
    region: tuple | None
    units: int
    description: str = ""

    @property
    def steps(self) -> int:
        return len(self.fractions) - 1

    @property
    def n(self) -> int:
        """The number of samples."""
        return next(iter(self.curves.values())).shape[0]

    @property
    def orders(self) -> tuple:
        """The orders measured, ``("morf",)``, ``("lerf",)`` or ``("morf", "lerf")``."""
        return tuple(self.curves)

    def normalized(self, order: str | None = None) -> np.ndarray:
        """s_k / s_0, shape (N, steps + 1); rows of samples with s_0 = 0 or tiny are NaN."""
        order = self._order(order)
        curve = self.curves[order]
        s0 = curve[:, :1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = curve / s0
        out[_tiny(curve[:, 0])] = np.nan
        return out

    @property
    def scores(self) -> dict:
        """Every score by name: ``auc_morf``, ``aopc_morf``, ``auc_lerf``, ``aopc_lerf``,
        ``gap`` (those measured)."""
        out = {}
        for o in self.curves:
            out[f"auc_{o}"] = self.auc[o]
            out[f"aopc_{o}"] = self.aopc[o]
        if self.gap is not None:
            out["gap"] = self.gap
        return out

    def _order(self, order):
        if order is None:
            if len(self.curves) > 1:
                raise ValueError("this result holds both orders: give order='morf' or 'lerf'")
            return next(iter(self.curves))
        if order not in self.curves:
            raise ValueError(f"order {order!r} was not measured; this result holds "
                             f"{', '.join(map(repr, self.curves))}")
        return order

    def __repr__(self) -> str:
        parts = [f"{k} {v.mean():.4g}" for k, v in self.scores.items()]
        return (f"RemovalResult({self.n} samples, {self.steps} steps, baseline "
                f"{self.baseline}; mean {', '.join(parts)})")


# ---------------------------------------------------------------------------- helpers

def _tiny(s0: np.ndarray) -> np.ndarray:
    """Samples whose explained output is 0 or tiny relative to the batch."""
    top = np.max(np.abs(s0)) if s0.size else 0.0
    return (s0 == 0) | (np.abs(s0) <= _TINY * top)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def removal_bounds(units: int, steps: int) -> np.ndarray:
    """How many features are removed after each step: b_k = ⌈k · units / steps⌉,
    k = 0 … steps (an int64 array of steps + 1 entries from 0 to ``units``).

    Every chunk b_k − b_{k−1} holds ⌊units / steps⌋ or ⌈units / steps⌉ features, so no step
    is empty when steps ≤ units, and all chunks are equal when steps divides units (what
    quantus' ``PixelFlipping(features_in_step=units // steps)`` removes).
    """
    units = check_number(units, "units", minimum=1, integer=True)
    steps = check_number(steps, "steps", minimum=1, integer=True)
    if steps > units:
        raise ValueError(f"steps={steps} exceeds the {units} features of a sample: each step "
                         f"removes at least one; give steps ≤ {units}")
    k = np.arange(steps + 1, dtype=np.int64)
    return (k * units + steps - 1) // steps


def random_relevance(x, seed=None):
    """A random map shaped and typed like ``x``: i.i.d. uniform on [0, 1), seeded.

    Its pixel-flipping scores are the reference every method should beat: a random order
    with the same baseline, ``pixel_flipping(graph, x, random_relevance(x, seed=0), ...)``.
    Continuous values, so there are no ties (the order is a uniformly random permutation).

    Parameters
    ----------
    x : tensor or array (batch first)
    seed : int, torch.Generator or None
        Draws on the CPU (so a seed gives the same map on every device), then moved to x's
        device.

    Returns
    -------
    tensor (same dtype and device as a floating-point x, else float64) or ndarray
    """
    generator = check_seed(seed)
    if isinstance(x, torch.Tensor):
        dtype = x.dtype if x.is_floating_point() else torch.float64
        r = torch.rand(tuple(x.shape), generator=generator, dtype=dtype)
        return r.to(x.device)
    if hasattr(x, "to_numpy"):
        x = x.to_numpy()
    a = np.asarray(x)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"x must be a tensor or a numeric array, got {type(x).__name__} of "
                        f"dtype {a.dtype}")
    dtype = torch.float32 if a.dtype == np.float32 else torch.float64
    return torch.rand(a.shape, generator=generator, dtype=dtype).numpy()


def _units(sample: tuple, region, device):
    """(patch index per spatial position or None, number of units, region as a tuple)."""
    if region is None:
        return None, math.prod(sample), None
    if len(sample) < 2:
        raise ValueError(f"region groups the pixels of image-like samples (C, H, W) or "
                         f"(C, L) into patches; these samples have shape {sample} (tabular "
                         "features): leave region=None")
    spatial = sample[1:]
    if _is_int(region):
        if region < 1:
            raise ValueError(f"region must be a positive integer or a tuple of them, got "
                             f"{region}")
        region = (int(region),) * len(spatial)
    elif isinstance(region, (tuple, list)):
        if len(region) != len(spatial):
            raise ValueError(f"region {tuple(region)} has {len(region)} entries; the samples "
                             f"have {len(spatial)} spatial axes {spatial}: give one entry per "
                             "spatial axis, or one integer")
        if not all(_is_int(r) and r >= 1 for r in region):
            raise ValueError(f"region {tuple(region)}: every entry must be a positive integer")
        region = tuple(int(r) for r in region)
    else:
        raise TypeError(f"region must be None, a positive integer or a tuple of them (one per "
                        f"spatial axis), got {region!r} ({type(region).__name__})")
    if any(r > s for r, s in zip(region, spatial)):
        raise ValueError(f"region {region} is larger than the samples' spatial size "
                         f"{spatial}; give patches that fit")
    ids = torch.zeros((), dtype=torch.long, device=device)
    units = 1
    for d, (s, r) in enumerate(zip(spatial, region)):
        per = -(-s // r)
        axis = torch.arange(s, device=device) // r
        ids = ids * per + axis.reshape(*([1] * d), s, *([1] * (len(spatial) - d - 1)))
        units *= per
    return ids.flatten(), units, region


def _check_data(graph, data, baseline):
    if data is None:
        if isinstance(baseline, str) and baseline == "resample":
            raise ValueError("baseline='resample' takes the removed features' values from "
                             "random rows of data: pass data= (samples shaped like x)")
        return None
    if not (isinstance(baseline, str) and baseline in REMOVAL_BASELINES):
        raise ValueError("data is read only by the baselines 'mean', 'uniform' and "
                         f"'resample'; baseline={_short(baseline)} does not use it: drop "
                         "data, or pick one of those baselines")
    try:
        (rows,) = graph.check_inputs(data)
    except ValueError as err:
        raise type(err)(f"data must be samples shaped like x (batch first): {err}") from None
    if rows.shape[0] == 0:
        raise ValueError("data holds no samples; give at least one row")
    return rows


def _short(value) -> str:
    text = repr(value) if isinstance(value, (numbers.Number, str)) else type(value).__name__
    return text if len(text) < 40 else text[:37] + "..."


def _baseline(call, v, baseline, data, generator, units_map, n_units):
    """(baseline tensor broadcastable to v, description)."""
    n, sample = v.shape[0], tuple(v.shape[1:])
    if isinstance(baseline, str):
        check_choice(baseline, "baseline", REMOVAL_BASELINES)
        source = "data" if data is not None else "the batch x"
        ref = data if data is not None else v
        if data is None and n == 1:
            raise ValueError(f"baseline={baseline!r} without data reads the batch x, which "
                             "holds one sample: the baseline would be the sample itself (its "
                             "mean, or a range of width zero) and removal would change "
                             "nothing; pass data= (e.g. training rows)")
        if baseline == "mean":
            return ref.mean(0).expand_as(v), f"'mean' (per-feature mean of {source})"
        if baseline == "uniform":
            lo, hi = ref.amin(0), ref.amax(0)
            u = torch.rand((n, *sample), generator=generator, dtype=v.dtype).to(v.device)
            return lo + u * (hi - lo), (f"'uniform' (noise in the per-feature [min, max] of "
                                        f"{source})")
        # resample: one random data row per removed unit (feature, or whole patch)
        m = data.shape[0]
        rows = torch.randint(m, (n, n_units), generator=generator).to(v.device)
        flat = data.reshape(m, -1)
        if units_map is None:
            picked = flat[rows, torch.arange(flat.shape[1], device=v.device)]
        else:
            channels = sample[0]
            per_pos = rows[:, units_map]                             # (N, positions)
            positions = units_map.numel()
            element = torch.arange(channels * positions, device=v.device)
            picked = flat[per_pos.repeat(1, channels), element]      # channel-major
        return picked.reshape(n, *sample), ("'resample' (each removed feature from a random "
                                            f"row of data, {m} rows)")
    if callable(baseline) and not isinstance(baseline, (torch.Tensor, np.ndarray)):
        return call.baselines(baseline)[0], "a callable x → baseline"
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        check_number(baseline, "baseline", minimum=-math.inf)
        return call.baselines(float(baseline))[0], f"the constant {float(baseline):g}"
    if isinstance(baseline, (torch.Tensor, np.ndarray)) or hasattr(baseline, "to_numpy"):
        t = call.baselines(baseline)[0]
        return t, "a given tensor"
    raise TypeError(f"baseline must be a number, 'mean', 'uniform', 'resample', a tensor or "
                    f"array shaped like x or like one sample, or a callable; got "
                    f"{_short(baseline)}")


def _ranks(unit_rel: torch.Tensor, order: str) -> torch.Tensor:
    """Rank of every unit (0: removed first), stable: ties go in index order."""
    perm = torch.sort(unit_rel, dim=1, descending=order == "morf", stable=True).indices
    position = torch.arange(unit_rel.shape[1], device=unit_rel.device).expand_as(perm)
    return torch.empty_like(perm).scatter_(1, perm, position)


def _channels_last_graph(graph, v: torch.Tensor):
    """The graph to run the copies through: for CPU batches of one-channel images, a copy
    whose 4-d weights are channels-last. With one input channel the input's layout is
    ambiguous and torch runs the first convolution, and so every later op, channels-first;
    a channels-last weight makes the whole pass channels-last, where max pooling and small
    convolutions run several times faster (1.5× for the whole digits benchmark). Values are
    unchanged, and the user's graph is not touched."""
    if v.dim() != 4 or v.shape[1] != 1 or v.device.type != "cpu" or \
            not any(t.dim() == 4 for t in graph.buffers()):
        return graph
    fast = graph.copy()
    for module in fast.modules():
        for name, t in list(module.named_buffers(recurse=False)):
            if t is not None and t.dim() == 4:
                module._buffers[name] = t.contiguous(memory_format=torch.channels_last)
    return fast


def _curves(call, v, base, ranks, bounds, units_map, mask, rows_per_pass):
    """s_k for k = 1 … steps of every order and sample: (orders, steps, N)."""
    graph = _channels_last_graph(call.graph, v)
    node = explained_node(graph)
    orders, n = ranks.shape[0], ranks.shape[1]
    steps = bounds.shape[0] - 1
    sample = tuple(v.shape[1:])
    total = orders * steps * n
    out = torch.empty(total, dtype=v.dtype, device=v.device)
    chunk = rows_per_pass or _default_rows(v.device, math.prod(sample))
    for first in range(0, total, chunk):
        rows = torch.arange(first, min(first + chunk, total), device=v.device)
        i = rows % n
        k = (rows // n) % steps + 1
        o = rows // (n * steps)
        removed = ranks[o, i] < bounds[k].unsqueeze(1)                  # (R, units)
        if units_map is None:
            where = removed.reshape(len(rows), *sample)
        else:
            where = removed[:, units_map].reshape(len(rows), 1, *sample[1:])
        copy = torch.where(where, base[i], v[i])
        with torch.no_grad():
            s = graph.activations(fast_layout(copy), validated=True, keep=[node])[node]
        out[rows] = per_sample(s * mask[i].to(s.dtype))
    return out.reshape(orders, steps, n)


def _default_rows(device, numel: int) -> int:
    budget = _ELEMENTS_PER_PASS["cpu" if device.type == "cpu" else "other"]
    return max(_MIN_ROWS, budget // max(1, numel))


def _nonfinite(values: torch.Tensor, what: str):
    bad = ~torch.isfinite(values)
    if bool(bad.any()):
        rows = torch.nonzero(bad.reshape(bad.shape[0], -1).any(1)).flatten().tolist()
        raise ValueError(f"the explained output is NaN or infinite {what} for samples "
                         f"{rows[:_SHOWN]}{' …' if len(rows) > _SHOWN else ''}; removal "
                         "curves of such outputs mean nothing: check the graph and the "
                         "baseline (values far outside the data can overflow it)")


def _samples(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask).tolist()
    more = f" … ({len(idx)} in all)" if len(idx) > _SHOWN else ""
    return f"{idx[:_SHOWN]}{more}"


# ---------------------------------------------------------------------------- metric

def _in_chunks(graph, x, relevance, target, *, order, baseline, steps, region, data, seed,
               batch_size) -> RemovalResult:
    """:func:`pixel_flipping` over the chunks of stored relevance (see its notes)."""
    if isinstance(baseline, str) and baseline in ("mean", "uniform") and data is None:
        raise ValueError(f"baseline={baseline!r} of the batch would differ from chunk to chunk "
                         "of the stored relevance: give data= (the training set, or a sample "
                         "of it) or a constant baseline")
    if isinstance(seed, torch.Generator):
        raise TypeError("with stored relevance, seed must be an integer (one seed per chunk "
                        "is derived from it)")
    rel_source = relevance if is_stored(relevance) else None
    chunks = row_blocks(rel_source) if rel_source is not None else row_blocks(x)
    parts = []
    for k, (start, stop, block) in enumerate(chunks):
        rel = block if rel_source is not None else relevance[start:stop]
        xs = x[start:stop]
        if hasattr(xs, "compute"):
            xs = xs.compute()
        xs = np.asarray(xs) if not isinstance(xs, torch.Tensor) else xs
        t = target[start:stop] if target is not None and np.ndim(target) >= 1 else target
        chunk_seed = None if seed is None else int(
            np.random.SeedSequence([int(seed), k]).generate_state(1)[0])
        parts.append(pixel_flipping(graph, xs, rel, t, order=order, baseline=baseline,
                                    steps=steps, region=region, data=data, seed=chunk_seed,
                                    batch_size=batch_size))
    first = parts[0]

    def joined(scores):
        return Score(scores[0].name, np.concatenate([p.values for p in scores]),
                     higher_is_better=scores[0].higher_is_better,
                     description=scores[0].description)

    names = list(first.curves)
    return RemovalResult(
        order=first.order, fractions=first.fractions,
        curves={o: np.concatenate([p.curves[o] for p in parts]) for o in names},
        auc={o: joined([p.auc[o] for p in parts]) for o in names},
        aopc={o: joined([p.aopc[o] for p in parts]) for o in names},
        gap=None if first.gap is None else joined([p.gap for p in parts]),
        baseline=first.baseline, region=first.region, units=first.units,
        description=first.description + f"; read in {len(parts)} chunks")


def pixel_flipping(graph, x, relevance, target=None, *, order="morf", baseline="mean",
                   steps=None, region=None, data=None, seed=None, batch_size=None):
    """Pixel flipping / feature removal: the explained output as the features the map calls
    most (MoRF) or least (LeRF) relevant are removed, chunk by chunk.

    For each sample, the U units (features, or patches with ``region``) are ranked by their
    relevance — MoRF: descending, LeRF: ascending; ties in index order in both (a stable
    sort of the flat C-order index) — and after step k the first b_k of them are replaced by
    the baseline, b_k = ⌈k U / steps⌉ (:func:`removal_bounds`: chunks of ⌊U/steps⌋ or
    ⌈U/steps⌉ units, equal when steps divides U). With x^(k) the sample after step k and
    s(x') = Σ_c mask_c f_c(x') (the class fixed at x), the curve is s_k = s(x^(k)),
    k = 0 … steps, s_0 = s(x), and the scores per sample are

        AUC  = ∫_0^1 s(t) / s_0 dt   (trapezoid over t_k = b_k / U),
        AOPC = (1 / (steps + 1)) Σ_{k=0}^{steps} (s_0 − s_k)           (Samek et al. 2017),
        gap  = AUC_LeRF − AUC_MoRF.

    A faithful map gives a low MoRF AUC (a high MoRF AOPC), a high LeRF AUC and a large
    gap. The AUC divides by s_0: samples whose s_0 is 0 or tiny (|s_0| ≤ 1e-12 · max |s_0|
    over the batch) get NaN and a warning naming them; a negative s_0 (a logit below zero)
    turns the normalized curve upside down, which is warned about too (AOPC, raw, is kept).

    Compare with a random order under the same baseline: ``relevance=random_relevance(x,
    seed=0)`` (or ``torch.rand_like(x)``).

    Parameters
    ----------
    graph : neon.Graph
        A graph with one input (several inputs are refused).
    x : tensor, ndarray, DataFrame or list of rows
    relevance : tensor, ndarray, method or method name
        Precomputed relevance shaped like x, or a method of :mod:`lrp` (``lrp.gradient``,
        ``"integrated_gradients"``, ``functools.partial(lrp.explain, composite=...)``)
        called as ``method(graph, x, target, batch_size=batch_size)``.
    target : as in :func:`lrp.explain`
        Explained class(es), read once at x (default: the class predicted for x).
    order : {"morf", "lerf", "both"}
        Most relevant first, least relevant first, or both (and the gap).
    baseline : number, "mean", "uniform", "resample", tensor, array or callable
        What a removed feature becomes. A number: that constant. ``"mean"``: the per-feature
        mean of ``data``, or of the batch x without data. ``"uniform"``: noise drawn
        uniformly in the per-feature [min, max] of ``data`` (else of x), one draw per sample
        and feature, fixed over the steps. ``"resample"``: the value of the same feature in a
        random row of ``data`` (required), one row per sample and unit, so a removed patch
        comes whole from one row. A tensor/array shaped like one sample or like x (or a
        callable ``x -> baseline``). ``"mean"`` and ``"uniform"`` of the batch need ≥ 2
        samples. The result's ``baseline`` says which was used.
    steps : int, optional
        Removal steps, 1 ≤ steps ≤ U; the curve has steps + 1 points. Default
        min(20, U).
    region : int or tuple of int, optional
        Image-like samples (C, H, W), (C, L), …: relevance summed over channels and over
        non-overlapping patches of this shape (an int: the same on every spatial axis; the
        patches at the far edges may be smaller), and whole patches (all channels) removed.
        Default None: every element (each channel separately) is a unit. Tabular samples
        (F,) take no region.
    data : tensor, ndarray or DataFrame, optional
        Samples shaped like x, for the ``"mean"``, ``"uniform"`` and ``"resample"``
        baselines (refused with the others, which would ignore it).
    seed : int, torch.Generator or None
        For the random baselines (drawn on the CPU, then moved to x's device).
    batch_size : int, optional
        Perturbed copies (rows) per forward pass (also the samples per chunk of a
        relevance method). Default: as many rows as hold 2¹⁶ input elements on the CPU
        (1,024 rows of 8 × 8 digits; passes whose activations fit the caches were fastest)
        and 2²² on other devices, at least 8 rows; all N × steps copies in one pass when
        they are fewer.

    Returns
    -------
    RemovalResult
        Raw curves, the removed fractions, and the scores as :class:`Score` objects.

    Notes
    -----
    Stored relevance (a zarr or dask array, or the :class:`lrp.datasets.DatasetExplanation`
    of :func:`lrp.explain_dataset`; ``x`` may be stored too) is read chunk by chunk, each
    chunk measured as a batch of its own and the results joined. The baseline must then not
    depend on the batch: a constant, an array, or ``"mean"`` / ``"uniform"`` /
    ``"resample"`` of ``data``. Random baselines draw per chunk with a seed derived from
    ``seed`` and the chunk's index.

    Raises
    ------
    ValueError, TypeError
        For an invalid parameter (named in the message); for non-finite outputs.

    References
    ----------
    Bach et al., PLoS ONE 10(7): e0130140, 2015 (pixel flipping).
    Samek et al., IEEE TNNLS 28(11): 2660–2673, 2017 (MoRF, AOPC).
    """
    method = "lrp.metrics.pixel_flipping"
    if is_stored(relevance) or is_stored(x):
        return _in_chunks(graph, x, relevance, target, order=order, baseline=baseline,
                          steps=steps, region=region, data=data, seed=seed,
                          batch_size=batch_size)
    call = Call(graph, x, target, batch_size, method=method)
    rows_per_pass = check_batch_size(batch_size)
    if len(call.xs) != 1:
        raise ValueError(f"{method} takes graphs with one input; this graph takes "
                         f"{len(call.xs)} ({', '.join(graph.input_names)})")
    v = call.xs[0]
    sample = tuple(v.shape[1:])
    if not sample:
        raise ValueError(f"{method} removes features of a sample; this graph's samples are "
                         "scalars (shape ())")
    check_choice(order, "order", REMOVAL_ORDERS)
    if steps is not None:
        steps = check_number(steps, "steps", minimum=1, integer=True)
    units_map, n_units, region = _units(sample, region, v.device)
    if steps is None:
        steps = min(_DEFAULT_STEPS, n_units)
    if steps > n_units:
        what = f"patches ({'×'.join(map(str, region))})" if region else "features"
        raise ValueError(f"steps={steps} exceeds the {n_units} {what} of a sample: each step "
                         f"removes at least one; give steps ≤ {n_units}")
    if isinstance(baseline, bool) or baseline is None:
        raise TypeError(f"baseline must be a number, 'mean', 'uniform', 'resample', a tensor "
                        f"or an array, got {baseline!r}")
    if isinstance(baseline, str):
        check_choice(baseline, "baseline", REMOVAL_BASELINES)
    data = _check_data(graph, data, baseline)
    generator = check_seed(seed)
    base, base_text = _baseline(call, v, baseline, data, generator, units_map, n_units)
    rel = relevance_of(call, relevance, target)[0]

    out, mask = call.outputs_and_masks()
    s0 = per_sample(out * mask.to(out.dtype))
    _nonfinite(s0, "at x")
    if units_map is None:
        unit_rel = rel.reshape(call.n, -1)
    else:
        per_pos = rel.sum(1).reshape(call.n, -1)
        unit_rel = torch.zeros(call.n, n_units, dtype=rel.dtype, device=rel.device)
        unit_rel.index_add_(1, units_map, per_pos)
    names = ["morf", "lerf"] if order == "both" else [order]
    ranks = torch.stack([_ranks(unit_rel, o) for o in names])
    bounds_np = removal_bounds(n_units, steps)
    bounds = torch.as_tensor(bounds_np, device=v.device)
    later = _curves(call, v, base, ranks, bounds, units_map, mask, rows_per_pass)
    _nonfinite(later.permute(2, 0, 1), "after removal")

    s0_np = s0.detach().cpu().numpy().astype(np.float64)
    later_np = later.detach().cpu().numpy().astype(np.float64)
    fractions = bounds_np.astype(np.float64) / n_units
    tiny = _tiny(s0_np)
    if tiny.any():
        warnings.warn(f"{method}: the explained output s(x) is 0 or tiny (|s_0| ≤ "
                      f"{_TINY:g} · max |s_0|) for samples {_samples(tiny)}; their normalized "
                      "curves s_k / s_0 and AUC are NaN (AOPC, not normalized, is kept)",
                      RuntimeWarning, stacklevel=2)
    negative = (s0_np < 0) & ~tiny
    if negative.any():
        warnings.warn(f"{method}: the explained output s(x) is negative for samples "
                      f"{_samples(negative)}; their normalized curve s_k / s_0 is upside down "
                      "(a falling output reads as a rising curve), so their AUC does not "
                      "read like the others': compare AOPC or the raw curves",
                      RuntimeWarning, stacklevel=2)

    what = (f"patches of {'×'.join(map(str, region))} (all channels)" if region
            else "features")
    settings = (f"{steps} steps over {n_units} {what}, baseline {base_text}, class fixed "
                "at x")
    curves, auc, aopc = {}, {}, {}
    for j, o in enumerate(names):
        curve = np.concatenate([s0_np[:, None], later_np[j].T], axis=1)
        curves[o] = curve
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = curve / curve[:, :1]
        norm[tiny] = np.nan
        area = np.trapezoid(norm, fractions, axis=1)
        label = ORDER_LABELS[o]
        auc[o] = Score("auc", area, higher_is_better=o == "lerf",
                       description=f"{label} AUC of s_k / s_0 over the removed fraction "
                                   f"(trapezoid); {settings}")
        aopc[o] = Score("aopc", s0_np - curve.mean(axis=1), higher_is_better=o == "morf",
                        description=f"{label} AOPC, mean over k = 0 … {steps} of s_0 − s_k "
                                    f"(raw outputs); {settings}")
    gap = None
    if order == "both":
        gap = Score("gap", auc["lerf"].values - auc["morf"].values, higher_is_better=True,
                    description=f"AUC(LeRF) − AUC(MoRF); {settings}")
    return RemovalResult(order=order, fractions=fractions, curves=curves, auc=auc, aopc=aopc,
                         gap=gap, baseline=base_text, region=region, units=n_units,
                         description=f"pixel flipping ({order}): {settings}")
