"""Complexity: how concentrated is an explanation?

A map that puts its relevance on a few features is easier to read than one that spreads it
over all of them. :func:`sparseness` is the Gini index of |R| (higher: sparser),
:func:`complexity` the entropy of the share of |R| on each feature (lower: simpler). Both
score every element of each sample's map as given, (N, …) flattened to (N, P): to score a
spatial map of an image, sum its channels first (``R.sum(1)``). Both are invariant to the
scale of the map, so no normalization option changes them.
"""

from __future__ import annotations

import math

import torch

from .inputs import as_maps
from .localization import _rows, _warn
from .scores import Score

__all__ = ["sparseness", "complexity"]


def _magnitudes(relevance, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(|R| as (N, P), the rows that are all zero), with a warning for those."""
    r = as_maps(relevance)
    a = r.reshape(r.shape[0], -1).abs()
    zero = a.sum(1) == 0
    if bool(zero.any()):
        _warn(f"{int(zero.sum())} maps are all zero (samples {_rows(zero)[:5]}): their "
              f"{method} is undefined (NaN)", stacklevel=4)
    return a, zero


def sparseness(relevance) -> Score:
    """Sparseness: the Gini index of |R| per sample (Chalasani et al.; Hurley & Rickard),

        G = Σ_{k=1}^{P} (2k − P − 1) c_(k) / (P Σ_k c_(k)),   c = |R| sorted ascending,

    which equals the mean absolute difference Σ_i Σ_j |c_i − c_j| / (2 P Σ_k c_k). G is 0 for
    a uniform map and 1 − 1/P for a one-hot map (relevance on one of P features); higher is
    sparser.

    Parameters
    ----------
    relevance : tensor or ndarray, (N, …)
        Relevance maps, batch first; every element of a sample is a feature.

    Returns
    -------
    Score
        One value per sample; higher is better (sparser). NaN, with a warning, for an
        all-zero map.

    Notes
    -----
    ``quantus.Sparseness`` computes the same sum after adding 1e-7 to every (max-normalized)
    value, which pulls its scores slightly towards 0 and scores an all-zero map 0 instead of
    NaN.

    References
    ----------
    Chalasani, Chen, Chowdhury, Wu, Jha, "Concise explanations of neural networks using
    adversarial training", ICML 2020; Hurley & Rickard, "Comparing measures of sparsity",
    IEEE Trans. Inf. Theory 55, 2009.
    """
    a, zero = _magnitudes(relevance, "sparseness")
    p = a.shape[1]
    c = torch.sort(a, dim=1).values
    k = torch.arange(1, p + 1, dtype=c.dtype, device=c.device)
    total = c.sum(1)
    gini = ((2 * k - p - 1) * c).sum(1) / (p * torch.where(zero, torch.ones_like(total), total))
    gini[zero] = math.nan
    return Score("sparseness", gini.double().cpu().numpy(), True,
                 "Gini index of |R| over every element of each map (higher: sparser)")


def complexity(relevance) -> Score:
    """Complexity: the entropy of the fractional contribution of each feature (Bhatt et al.),

        H = −Σ_i p_i log p_i,   p_i = |R_i| / Σ_j |R_j|,

    in nats, with 0 log 0 = 0. H is 0 for a one-hot map and log P for a uniform map over P
    features; lower is simpler.

    Parameters
    ----------
    relevance : tensor or ndarray, (N, …)
        Relevance maps, batch first; every element of a sample is a feature.

    Returns
    -------
    Score
        One value per sample; lower is better (simpler). NaN, with a warning, for an
        all-zero map.

    Notes
    -----
    ``quantus.Complexity`` (abs=True) computes the same entropy with log(p + 1e-12) (a
    difference of order 1e-12 · P).

    References
    ----------
    Bhatt, Weller, Moura, "Evaluating and aggregating feature-based model explanations",
    IJCAI 2020.
    """
    a, zero = _magnitudes(relevance, "complexity")
    total = a.sum(1, keepdim=True)
    share = a / torch.where(total == 0, torch.ones_like(total), total)
    entropy = -torch.xlogy(share, share).sum(1)
    entropy[zero] = math.nan
    return Score("complexity", entropy.double().cpu().numpy(), False,
                 "entropy (nats) of |R| / Σ|R| over every element of each map "
                 "(lower: simpler)")

