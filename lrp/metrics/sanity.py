"""Sanity checks: does the explanation depend on the model, and on the class explained?

* :func:`randomization_check` — Adebayo et al.'s model-parameter randomization test: the
  layers are re-initialized from the output backwards (cumulatively, or one at a time) and
  the explanation on each randomized copy is compared with the original one. An explanation
  that stays the same while the model it explains is destroyed does not explain the model.
* :func:`random_logit_check` — the explanation of the target class against that of a random
  other class (Sixt et al.'s random-logit test): if the two agree, the method does not
  explain the class.
* :func:`spearman`, :func:`ssim` — the two similarity measures, batched over samples, in
  torch; each agrees with its reference (``scipy.stats.spearmanr``,
  ``skimage.metrics.structural_similarity``) and does not depend on either being installed.

Every similarity is a :class:`~lrp.metrics.Score` with ``higher_is_better=False``: a low
similarity after randomization (or between classes) is what a method that explains the
model (the class) shows, so lower means the check is passed more clearly.

References
----------
Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity checks for saliency maps",
NeurIPS 2018.
Sixt, Granz & Landgraf, "When explanations lie: why many modified BP attributions fail",
ICML 2020.
Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 2004.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from neon.ops import Affine

from ..calls import Call, check_graph, check_seed
from ..rules.base import check_choice, check_flag, check_number
from .conservation import _name
from .inputs import as_maps, flat, relevance_of, resolve_method
from .scores import Score

__all__ = ["randomization_check", "random_logit_check", "spearman", "ssim",
           "RandomizationResult", "RandomLogitResult", "parametrized_nodes",
           "randomized_copies"]

SIMILARITIES = ("spearman", "ssim")


# ---------------------------------------------------------------------------- inputs

def _as_batch(value, name: str) -> torch.Tensor:
    """A real, finite batch (N, …) with at least one feature, as a tensor."""
    if hasattr(value, "to_numpy") and not isinstance(value, (np.ndarray, torch.Tensor)):
        value = value.to_numpy()
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a tensor or an array of maps (batch first); a "
                            "list must be rectangular and numeric") from None
    t = as_maps(value, name)
    if t[0].numel() == 0:
        raise ValueError(f"{name} has shape {tuple(t.shape)}: it holds no samples or no "
                         "features")
    return t


def _pair(a, b):
    a, b = _as_batch(a, "a"), _as_batch(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return a, b.to(a.device)


def _work_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 for the statistics (float32 where the device has no float64)."""
    return torch.float32 if t.device.type == "mps" else torch.float64


# ---------------------------------------------------------------------------- Spearman

def _ranks(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``v`` (N, F): the ranks 1 … F with ties given their average rank, and
    whether the row is constant (a single tie group). One sort, no loop."""
    n, f = v.shape
    ordered, order = v.sort(dim=1, stable=True)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] > ordered[:, :-1]   # sorted: "greater" means "new value"
    ends = torch.ones_like(starts)
    ends[:, :-1] = starts[:, 1:]
    pos = torch.arange(f, device=v.device).expand(n, f)
    first = torch.cummax(torch.where(starts, pos, 0), dim=1).values
    last = torch.where(ends, pos, f).flip(1).cummin(dim=1).values.flip(1)
    dtype = _work_dtype(v)
    average = (first + last).to(dtype) / 2 + 1
    ranks = torch.empty_like(average).scatter_(1, order, average)
    constant = starts.sum(1) == 1
    return ranks, constant


def _spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's ρ per row of two (N, F) tensors; NaN where a row is constant."""
    ra, ca = _ranks(a)
    rb, cb = _ranks(b)
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    denom = (ra.square().sum(1) * rb.square().sum(1)).sqrt()
    undefined = ca | cb
    rho = (ra * rb).sum(1) / torch.where(undefined, torch.ones_like(denom), denom)
    return torch.where(undefined, torch.full_like(rho, math.nan), rho.clamp(-1.0, 1.0))


def spearman(a, b) -> np.ndarray:
    """Spearman rank correlation of two batches of maps, one value per sample.

    ρ_n = Pearson correlation of rank(a_n) and rank(b_n), the ranks taken over all features of
    sample n (every axis after the first, flattened), ties given their average rank
    (``scipy.stats.spearmanr``'s convention):

        ρ = Σ_i (r_i − r̄)(s_i − s̄) / sqrt(Σ_i (r_i − r̄)² Σ_i (s_i − s̄)²).

    Computed in torch for the whole batch at once (one sort per map; float64, or float32 on
    devices without it).

    Parameters
    ----------
    a, b : tensor or ndarray, shape (N, …)
        Two batches of maps of the same shape, batch first, finite real values.

    Returns
    -------
    ndarray of float64, shape (N,)
        ρ per sample, in [−1, 1]. NaN where either map of the pair is constant (its ranks
        have no variance, so the correlation is undefined; scipy returns NaN too) — never a
        made-up 0 or 1.

    References
    ----------
    Spearman, "The proof and measurement of association between two things", Am. J. Psychol.
    1904. Used for saliency maps by Adebayo et al., NeurIPS 2018.
    """
    a, b = _pair(a, b)
    return _spearman(flat(a), flat(b)).cpu().numpy().astype(np.float64)


# ---------------------------------------------------------------------------- SSIM

def _check_window(window) -> int:
    window = check_number(window, "window", minimum=3, integer=True)
    if window % 2 == 0:
        raise ValueError(f"window must be an odd integer ≥ 3 (the side of the square "
                         f"averaging window), got {window}")
    return window


def _maps_2d(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.dim() == 4:
        return t.sum(1)
    if t.dim() != 3:
        raise ValueError(f"{name} has shape {tuple(t.shape)}: SSIM compares 2-d maps, give "
                         "(N, H, W) or (N, C, H, W) (channels are summed)")
    return t


def _ssim(a: torch.Tensor, b: torch.Tensor, data_range: torch.Tensor, window: int):
    """SSIM per sample of (N, H, W) maps with a per-sample ``data_range`` (N,); NaN where
    the data range is 0."""
    dtype = _work_dtype(a)
    x, y = a.to(dtype)[:, None], b.to(dtype)[:, None]
    mean = functools.partial(F.avg_pool2d, kernel_size=window, stride=1)   # valid windows
    ux, uy = mean(x), mean(y)
    uxx, uyy, uxy = mean(x * x), mean(y * y), mean(x * y)
    count = window * window
    norm = count / (count - 1)                      # sample covariance, as skimage
    vx, vy, vxy = norm * (uxx - ux * ux), norm * (uyy - uy * uy), norm * (uxy - ux * uy)
    r = data_range.to(dtype).reshape(-1, 1, 1, 1)
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    value = s.mean((1, 2, 3))
    return torch.where(data_range.reshape(-1) > 0, value, torch.full_like(value, math.nan))


def _union_range(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    both = torch.cat([flat(a), flat(b)], 1)
    return both.amax(1) - both.amin(1)


def ssim(a, b, *, data_range=None, window: int = 7) -> np.ndarray:
    """Structural similarity of two batches of 2-d maps, one value per sample.

    Wang et al.'s SSIM with a uniform ``window`` × ``window`` window, averaged over every
    window that lies inside the map (the borders where a window would leave it are cropped),
    with the sample covariance and K1 = 0.01, K2 = 0.03: per window,

        SSIM = (2 μ_a μ_b + C1)(2 σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2)),
        C1 = (K1 L)², C2 = (K2 L)²,

    with L the data range. This is ``skimage.metrics.structural_similarity(a_n, b_n,
    win_size=window, data_range=L)`` with its defaults (uniform window,
    ``use_sample_covariance=True``), computed in torch for the whole batch (float64; float32
    on devices without it), so results do not depend on scikit-image.

    Parameters
    ----------
    a, b : tensor or ndarray, shape (N, H, W) or (N, C, H, W)
        Two batches of maps of the same shape; with a channel axis the channels are summed
        first.
    data_range : positive float, optional
        L. Default: per pair, the range of the pair's values together,
        max(a_n ∪ b_n) − min(a_n ∪ b_n) (what ``quantus.similarity_func.ssim`` passes to
        scikit-image). A pair of identical constant maps then has L = 0 and gets NaN.
    window : odd int ≥ 3
        The window's side (scikit-image's default 7); at most the maps' height and width.

    Returns
    -------
    ndarray of float64, shape (N,)
        SSIM per sample, at most 1 (1 for identical maps); NaN where L = 0.

    References
    ----------
    Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
    structural similarity", IEEE TIP 2004.
    """
    window = _check_window(window)
    a, b = _pair(a, b)
    a, b = _maps_2d(a, "a"), _maps_2d(b, "b")
    if min(a.shape[1:]) < window:
        raise ValueError(f"the maps are {tuple(a.shape[1:])}, smaller than the window "
                         f"({window}): give a smaller odd window, or larger maps")
    if data_range is None:
        r = _union_range(a, b)
    else:
        r = torch.full((a.shape[0],), check_number(data_range, "data_range", strict=True),
                       dtype=_work_dtype(a), device=a.device)
    return _ssim(a, b, r, window).cpu().numpy().astype(np.float64)


# ---------------------------------------------------------------------------- shared

def _check_similarity(similarity, call: Call, window: int = 7) -> tuple:
    image = len(call.xs) == 1 and call.xs[0].dim() == 4
    large = image and min(call.xs[0].shape[2:]) >= window
    if similarity is None:
        return SIMILARITIES if large else ("spearman",)
    names = (similarity,) if isinstance(similarity, str) else similarity
    if not isinstance(names, (tuple, list)) or not names:
        raise TypeError(f"similarity must be 'spearman', 'ssim' or a tuple of them, got "
                        f"{similarity!r}")
    for name in names:
        check_choice(name, "similarity", SIMILARITIES)
    if len(set(names)) != len(names):
        raise ValueError(f"similarity {tuple(names)!r} names a measure twice")
    if "ssim" in names and not image:
        shapes = ", ".join(str(tuple(x.shape)) for x in call.xs)
        raise ValueError(f"similarity 'ssim' compares images: it needs one graph input of "
                         f"shape (N, C, H, W), this call has {shapes}; use "
                         "similarity=('spearman',)")
    if "ssim" in names and not large:
        raise ValueError(f"similarity 'ssim': the images are {tuple(call.xs[0].shape[2:])}, "
                         f"smaller than SSIM's {window}×{window} window; use "
                         "similarity=('spearman',)")
    return tuple(names)


def _check_method(method):
    if isinstance(method, (torch.Tensor, np.ndarray)) or hasattr(method, "attribution") or \
            hasattr(method, "relevance"):
        raise TypeError("method must be a method of lrp (a callable such as lrp.gradient, or "
                        "its name): the check recomputes the explanation, so precomputed "
                        "relevance cannot be used")
    return resolve_method(method)


def _normalized_maps(rs, absolute: bool) -> torch.Tensor:
    """Adebayo et al.'s 2-d maps: channels summed (of |R| when ``absolute``), each map
    divided by its largest absolute value (so in [0, 1], or [−1, 1] without ``absolute``);
    a map that is 0 everywhere stays 0 and its SSIM is NaN (see :func:`_similarities`)."""
    r = rs[0]
    m = r.abs().sum(1) if absolute else r.sum(1)
    scale = m.abs().amax((1, 2), keepdim=True)
    return m / torch.where(scale > 0, scale, torch.ones_like(scale)), scale.reshape(-1) > 0


def _similarities(ref, new, names, absolute, window: int = 7) -> dict:
    """name → (N,) numpy values of the similarity of two explanations (lists of tensors)."""
    out = {}
    if "spearman" in names:
        a = torch.cat([flat(r) for r in ref], 1)
        b = torch.cat([flat(r) for r in new], 1)
        if absolute:
            a, b = a.abs(), b.abs()
        out["spearman"] = _spearman(a, b).cpu().numpy().astype(np.float64)
    if "ssim" in names:
        (a, ok_a), (b, ok_b) = _normalized_maps(ref, absolute), _normalized_maps(new, absolute)
        r = torch.full((a.shape[0],), 1.0 if absolute else 2.0, dtype=_work_dtype(a),
                       device=a.device)
        value = _ssim(a, b, torch.where(ok_a & ok_b, r, torch.zeros_like(r)), window)
        out["ssim"] = value.cpu().numpy().astype(np.float64)
    return out


def _warn_undefined(scores: dict, where: str) -> None:
    for name, values in scores.items():
        bad = int(np.isnan(values).sum())
        if bad:
            warnings.warn(f"{where}: {bad} of {values.size} {name} values are undefined (NaN): "
                          "an explanation was constant (or zero) on those samples; they are "
                          "left out of the means", RuntimeWarning, stacklevel=3)


_DESCRIPTIONS = {
    "spearman": "Spearman rank correlation with the original explanation ({abs})",
    "ssim": "SSIM with the original explanation (channels summed{abs_ssim}, each map scaled "
            "by its max |value|, data range {L}, 7×7 window)",
}


def _describe(name, absolute, what="the original explanation"):
    text = _DESCRIPTIONS[name].replace("the original explanation", what)
    return text.format(abs="of |R|" if absolute else "of R, signed",
                       abs_ssim=" of |R|" if absolute else "",
                       L="1" if absolute else "2")


def _explain(method, graph, call: Call, mask, where: str):
    """The method's relevance on ``graph`` at the call's inputs, for the fixed target mask."""
    xs = tuple(call.xs) if len(call.xs) > 1 else call.xs[0]
    stage = Call(graph, xs, mask, call.batch_size, method=call.method)
    try:
        return relevance_of(stage, method, mask, name="the explanation")
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err


# ---------------------------------------------------------------------------- randomization

def parametrized_nodes(graph) -> list[str]:
    """The nodes :func:`randomization_check` re-initializes, from the output backwards.

    Those whose op holds weights: the affine layers (:class:`neon.ops.Linear`,
    :class:`neon.ops.Conv`, which store ``weight`` and ``bias`` as buffers), in reverse
    topological order. Per-channel scale-and-shift ops (BatchNorm, usually folded into the
    preceding layer by the importer) and the fixed tensors of neuralized models (centroids,
    support vectors, derived caches) are not layers with an initialization distribution and
    are left as they are.
    """
    check_graph(graph, "lrp.metrics.parametrized_nodes")
    return [node.name for node in reversed(graph.nodes) if isinstance(node.op, Affine)]


def _tensors(op):
    return [(key, t) for key, t in (("weight", op.weight), ("bias", op.bias)) if t is not None]


def _draws(graph, names, generator) -> dict:
    """New parameters per node: N(0, σ²) per tensor, σ the tensor's own standard deviation
    (population, over all its entries); drawn in float64 on the CPU, in the order of
    ``names`` and, per node, weight then bias, so a seed gives the same weights anywhere."""
    new = {}
    for name in names:
        tensors = {}
        for key, t in _tensors(graph[name].op):
            sigma = float(t.detach().double().std(correction=0)) if t.numel() > 1 else 0.0
            draw = torch.randn(tuple(t.shape), generator=generator, dtype=torch.float64)
            tensors[key] = (draw * sigma).to(device=t.device, dtype=t.dtype)
        new[name] = tensors
    return new


def _load(graph, name, tensors):
    op = graph[name].op
    with torch.no_grad():
        for key, t in tensors.items():
            getattr(op, key).copy_(t)


def randomized_copies(graph, *, cascade: str = "top_down", seed=None):
    """The randomized graphs of :func:`randomization_check`, one per stage.

    Parameters
    ----------
    graph : neon.Graph
        Left untouched: one copy (``graph.copy()``) is made and re-initialized stage by
        stage.
    cascade : {"top_down", "independent"}
        ``"top_down"``: stage k has the parametrized nodes 1 … k (from the output backwards)
        re-initialized; ``"independent"``: only node k.
    seed : int, torch.Generator or None
        The new weights (see :func:`randomization_check` for their distribution).

    Returns
    -------
    iterator of (str, tuple of str, neon.Graph)
        Per stage: the stage's node, the nodes re-initialized so far, and the randomized
        copy. The same copy is changed in place from one stage to the next (as Quantus'
        ``get_random_layer_generator`` does): ``g.copy()`` keeps a stage.
    """
    check_graph(graph, "lrp.metrics.randomized_copies")
    check_choice(cascade, "cascade", ("top_down", "independent"))
    generator = check_seed(seed)
    stages = parametrized_nodes(graph)
    if not stages:
        raise ValueError("the graph has no parametrized node (no Linear or Conv op) to "
                         "re-initialize: the randomization check needs a layered model")
    new = _draws(graph, stages, generator)
    copy = graph.copy()

    def stages_of():
        for i, stage in enumerate(stages):
            _load(copy, stage, new[stage])
            yield stage, (tuple(stages[:i + 1]) if cascade == "top_down" else (stage,)), copy
            if cascade == "independent":
                _load(copy, stage, dict(_tensors(graph[stage].op)))

    return stages_of()


@dataclass
class RandomizationResult:
    """Result of :func:`randomization_check`.

    Attributes
    ----------
    stages : list of str
        The re-initialized nodes in the order of the stages (from the output backwards).
    randomized : list of tuple of str
        The nodes re-initialized at each stage: all nodes up to that stage for
        ``cascade="top_down"``, that one node for ``"independent"``.
    scores : dict
        Similarity name (``"spearman"``, ``"ssim"``) → one :class:`Score` per stage, each with
        one value per sample, ``higher_is_better=False``.
    original : dict
        Similarity name → the original explanation's similarity with itself per sample (1,
        or NaN where the map is constant): the first point of a randomization curve.
    cascade, method, absolute, seed : as given (``method`` by name)
    target : ndarray
        The explained output mask at x on the original graph, (N, outputs), used at every
        stage.
    """

    stages: list
    randomized: list
    scores: dict
    original: dict
    cascade: str
    method: str
    absolute: bool
    seed: object
    target: np.ndarray = field(repr=False)

    def mean(self, similarity: str = "spearman") -> np.ndarray:
        """Mean similarity per stage (NaN values left out), shape (stages,)."""
        check_choice(similarity, "similarity", tuple(self.scores))
        return np.array([s.mean() for s in self.scores[similarity]])

    def summary(self) -> str:
        names = list(self.scores)
        head = ["stage", *(f"{n} mean" for n in names), *(f"{n} median" for n in names)]
        rows = [head, ["original", *(f"{self.original[n].mean():.4g}" for n in names),
                       *(f"{self.original[n].median():.4g}" for n in names)]]
        for i, stage in enumerate(self.stages):
            rows.append([stage, *(f"{self.scores[n][i].mean():.4g}" for n in names),
                         *(f"{self.scores[n][i].median():.4g}" for n in names)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                          for r in rows)
        kind = "cumulative, from the output backwards" if self.cascade == "top_down" else \
            "one layer at a time"
        n = len(self.original[names[0]])
        return (f"model-parameter randomization of {self.method} ({kind}; {n} samples; "
                f"{'|R|' if self.absolute else 'signed R'}; seed {self.seed}); lower "
                f"similarity means the explanation depends on the randomized layers\n{table}")


def randomization_check(graph, method, x, target=None, *, cascade: str = "top_down",
                        seed=None, similarity=None, absolute: bool = True,
                        batch_size=None) -> RandomizationResult:
    """Model-parameter randomization test (Adebayo et al., 2018).

    The graph is copied (``graph.copy()``; the given graph is never changed) and its
    parametrized nodes (:func:`parametrized_nodes`: every Linear and Conv) are re-initialized
    one stage at a time, from the output backwards. ``cascade="top_down"``: cumulatively
    (stage k has the top k layers random, Adebayo's cascading randomization);
    ``"independent"``: only the stage's layer, every other layer as trained. At every stage
    ``method`` explains the same samples for the same target as on the original graph (the
    target mask is fixed at x on the original graph, so the explained class does not follow
    the randomized prediction), and the explanation is compared with the original one, per
    sample:

    * ``"spearman"``: :func:`spearman` of the flattened maps (all inputs, all channels), of
      |R| when ``absolute`` (Adebayo's "absolute" rank correlation) else of R ("diverging").
    * ``"ssim"`` (images, one input (N, C, H, W)): :func:`ssim` of 2-d maps made as Adebayo
      et al.'s ``abs_grayscale_norm`` / ``diverging_norm`` make them: channels summed
      (Σ_c |R_c| when ``absolute``, else Σ_c R_c), each map divided by its largest absolute
      value, so it lies in [0, 1] (data range L = 1) or [−1, 1] (L = 2); a map that is 0
      everywhere has no scale and gets NaN. 7 × 7 window.

    Re-initialization: every tensor of a stage's node (weight, and bias when it has one) is
    drawn anew from N(0, σ²) with σ the standard deviation of that tensor's original entries
    — a zero-mean draw at the trained layer's scale, standing in for the initialization
    distribution Adebayo et al. re-draw from (the graph does not know how it was
    initialized). A constant tensor (σ = 0, e.g. all-zero biases, or a single bias) becomes
    0. The draws are made once, in stage order, with ``seed``, so both cascades give a node
    the same new weights.

    Reading the scores: a method that explains the model loses its similarity quickly
    (gradient, LRP-ε); one whose map stays similar while the top layers are random is
    insensitive to them (guided backprop in Adebayo et al.'s experiments). So every score has
    ``higher_is_better=False``: lower similarity = the check is passed.

    Parameters
    ----------
    graph : neon.Graph
    method : callable or str
        A method of :mod:`lrp` (``lrp.gradient``, ``functools.partial(lrp.explain,
        composite=lrp.EpsilonOnly())``, …) or its name; called as
        ``method(graph, x, target_mask, batch_size=batch_size)`` on the original graph and
        on every randomized copy.
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : as in :func:`lrp.explain`
        Read once, on the original graph at x.
    cascade : {"top_down", "independent"}
    seed : int, torch.Generator or None
        For the new weights; None uses torch's global generator (not reproducible).
    similarity : "spearman", "ssim", a tuple of them, or None
        None: ``("spearman", "ssim")`` for image input (one input of shape (N, C, H, W),
        H and W at least 7), ``("spearman",)`` otherwise.
    absolute : bool
        Compare |R| (default, as Adebayo et al.'s main figures) or signed R.
    batch_size : int, optional
        Samples per pass of the method (the stages are a loop; the samples are a batch).

    Returns
    -------
    RandomizationResult
        ``stages`` (node names), ``scores[name][k]`` the :class:`Score` of stage k (N
        values), ``original`` the similarity of the original map with itself.

    References
    ----------
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity checks for saliency maps",
    NeurIPS 2018 (Sec. 3, "model parameter randomization test").
    """
    call = Call(graph, x, target, batch_size, method="lrp.metrics.randomization_check")
    method = _check_method(method)
    check_flag(absolute, "absolute")
    names = _check_similarity(similarity, call)
    stages = randomized_copies(graph, cascade=cascade, seed=seed)
    _, mask = call.outputs_and_masks()
    original = _explain(method, graph, call, mask, "the original graph")
    scores = {n: [] for n in names}
    names_of, randomized = [], []
    for stage, nodes, copy in stages:
        names_of.append(stage)
        randomized.append(nodes)
        maps = _explain(method, copy, call, mask, f"stage {stage!r}")
        values = _similarities(original, maps, names, absolute)
        _warn_undefined(values, f"lrp.metrics.randomization_check, stage {stage!r}")
        for n in names:
            scores[n].append(Score(n, values[n], False, _describe(n, absolute) +
                                   f" after re-initializing {', '.join(nodes)}"))
    itself = _similarities(original, original, names, absolute)
    return RandomizationResult(
        stages=names_of, randomized=randomized, scores=scores,
        original={n: Score(n, itself[n], False, _describe(n, absolute) + " (with itself)")
                  for n in names},
        cascade=cascade, method=_name(method), absolute=absolute,
        seed=seed if not isinstance(seed, torch.Generator) else "a torch.Generator",
        target=mask.detach().cpu().numpy())


# ---------------------------------------------------------------------------- random logit

@dataclass
class RandomLogitResult:
    """Result of :func:`random_logit_check`.

    Attributes
    ----------
    target, other : ndarray of int, shape (N,)
        Output column explained per sample, and the random other column compared with it.
    scores : dict
        Similarity name → :class:`Score` (N values, ``higher_is_better=False``).
    method, absolute, seed : as given (``method`` by name)
    """

    target: np.ndarray
    other: np.ndarray
    scores: dict
    method: str
    absolute: bool
    seed: object

    def summary(self) -> str:
        parts = [f"{n}: mean {s.mean():.4g}, median {s.median():.4g}"
                 for n, s in self.scores.items()]
        return (f"random-logit check of {self.method} on {len(self.target)} samples "
                f"({'|R|' if self.absolute else 'signed R'}; seed {self.seed}): similarity of "
                f"the target's explanation with a random other class's — {'; '.join(parts)} "
                "(lower: the explanation depends on the class)")


def _one_class(mask: torch.Tensor) -> torch.Tensor:
    """The single output column a target mask selects per sample (a ValueError otherwise)."""
    if mask.dim() != 2:
        raise ValueError(f"random_logit_check needs an output of shape (N, classes), the graph's "
                         f"explained output has shape {tuple(mask.shape)}")
    if mask.shape[1] < 2:
        raise ValueError("random_logit_check needs at least 2 output classes to draw another "
                         f"class from; the graph's explained output has {mask.shape[1]}")
    selected = (mask.abs() > 0).sum(1)
    column = mask.abs().argmax(1)
    value = mask.gather(1, column[:, None])[:, 0]
    ok = (selected == 1) & torch.isclose(value, torch.ones_like(value))
    if not bool(ok.all()):
        rows = torch.nonzero(~ok).flatten().tolist()
        raise ValueError(f"random_logit_check compares the explanation of one class with that "
                         f"of another: the target must select one class per sample, it selects "
                         f"several outputs or weights them for samples {rows[:5]}")
    return column


def random_logit_check(graph, method, x, target=None, *, seed=None, similarity=None,
                       absolute: bool = True, batch_size=None) -> RandomLogitResult:
    """Random-logit test: the explanation of the target class against a random other class's.

    Per sample n with target class c_n, another class o_n is drawn uniformly from the K − 1
    other output columns (o = u + [u ≥ c], u uniform on {0, …, K − 2}; batched, seeded); the
    method explains o_n on the same x and the two maps are compared with :func:`spearman` (of
    |R| when ``absolute``) and, for images, :func:`ssim` of the normalized channel sums (as in
    :func:`randomization_check`). A method whose map barely changes with the class does not
    explain the class; scores have ``higher_is_better=False``.

    Parameters
    ----------
    graph : neon.Graph
    method : callable or str
        As in :func:`randomization_check`.
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : as in :func:`lrp.explain`
        Must select one class per sample (default: the predicted class).
    seed : int, torch.Generator or None
        For the other classes (drawn on the CPU).
    similarity : "spearman", "ssim", a tuple of them, or None
        As in :func:`randomization_check`.
    absolute : bool
        Compare |R| (default; the same default as :func:`randomization_check`) or signed R.
    batch_size : int, optional

    Returns
    -------
    RandomLogitResult

    References
    ----------
    Sixt, Granz & Landgraf, "When explanations lie: why many modified BP attributions fail",
    ICML 2020; Quantus' ``RandomLogit`` (Hedström et al., JMLR 2023).
    """
    call = Call(graph, x, target, batch_size, method="lrp.metrics.random_logit_check")
    method = _check_method(method)
    generator = check_seed(seed)
    check_flag(absolute, "absolute")
    names = _check_similarity(similarity, call)
    _, mask = call.outputs_and_masks()
    column = _one_class(mask)
    k = mask.shape[1]
    u = torch.randint(0, k - 1, (call.n,), generator=generator).to(column.device)
    other = u + (u >= column).long()
    other_mask = F.one_hot(other, k).to(mask.dtype)
    ref = _explain(method, graph, call, mask, "the target class")
    new = _explain(method, graph, call, other_mask, "the other class")
    values = _similarities(ref, new, names, absolute)
    _warn_undefined(values, "lrp.metrics.random_logit_check")
    scores = {n: Score(n, values[n], False, _describe(
        n, absolute, "the target class's explanation") + " for a random other class")
        for n in names}
    return RandomLogitResult(column.cpu().numpy(), other.cpu().numpy(), scores,
                             _name(method), absolute,
                             seed if not isinstance(seed, torch.Generator) else
                             "a torch.Generator")
