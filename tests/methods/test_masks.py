"""Meaningful perturbation and extremal perturbation (lrp.methods.masks).

The models are built by hand so that the evidence is known: the class-0 logit is the mean
of a fixed 3 × 3 patch of channel 0 of a 12 × 12 image (a 3-long segment of a 24-long
signal), through a ReLU; class 1 reads channel 1 only. The best deletion is then exactly
the patch, and its score is computed here with scipy's blur and the torch model. The
helpers are checked against scipy.ndimage.gaussian_filter and Python loops over pixels and
pairs, never against the code under test.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

import neon
from lrp.methods.masks import (
    area_penalty,
    extremal_perturbation,
    gaussian_blur,
    meaningful_perturbation,
    smooth_mask,
    total_variation,
)

torch.set_num_threads(1)
F64, F32 = torch.float64, torch.float32

SIZE, ROWS, COLS = 12, slice(4, 7), slice(6, 9)     # the evidence: x[:, 0, 4:7, 6:9]
LENGTH, SEGMENT = 24, slice(10, 13)                  # 1-d: x[:, 0, 10:13]


def _frozen(net):
    net = net.double().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _patch_net(shape, where, softmax=False):
    """Linear → ReLU → identity: logit 0 = mean of x[0][where], logit 1 = mean of x[1]."""
    lin = nn.Linear(int(np.prod(shape)), 2)
    w = torch.zeros(2, *shape)
    w[(0, 0, *where)] = 1.0 / w[(0, 0, *where)].numel()
    w[1, 1] = 1.0 / w[1, 1].numel()
    lin.weight.data = w.reshape(2, -1)
    lin.bias.data.zero_()
    out = nn.Linear(2, 2)
    out.weight.data = torch.eye(2)
    out.bias.data.zero_()
    layers = [nn.Flatten(), lin, nn.ReLU(), out] + ([nn.Softmax(dim=1)] if softmax else [])
    return _frozen(nn.Sequential(*layers))


def _data(shape, where, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g, dtype=F64) * 0.5
    x[(slice(None), 0, *where)] += 1.0                # the evidence is bright
    return x


@pytest.fixture(scope="module")
def image():
    shape, where = (2, SIZE, SIZE), (ROWS, COLS)
    net = _patch_net(shape, where)
    x = _data(shape, where)
    patch = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    patch[ROWS, COLS] = True
    return net, neon.neuralize(net, x[:1]), x, patch


@pytest.fixture(scope="module")
def signal():
    shape, where = (2, LENGTH), (SEGMENT,)
    net = _patch_net(shape, where)
    x = _data(shape, where)
    segment = torch.zeros(LENGTH, dtype=torch.bool)
    segment[SEGMENT] = True
    return net, neon.neuralize(net, x[:1]), x, segment


def _blurred(x, sigma):
    """scipy's blur of every channel of every sample (edges repeated)."""
    x = np.asarray(x)
    return torch.as_tensor(gaussian_filter(x, (0, 0) + (sigma,) * (x.ndim - 2),
                                           mode="nearest", truncate=4.0))


def _score_with_patch_replaced(net, x, patch, background):
    """The class-0 logit with the evidence replaced by ``background`` (the best deletion)."""
    replaced = torch.where(patch, background, x)
    return net(replaced)[:, 0]


def _mass_on(saliency, region):
    """Fraction of the (non-negative) saliency mass inside ``region``, per sample."""
    s = saliency[:, 0]
    return (s * region).reshape(len(s), -1).sum(1) / s.reshape(len(s), -1).sum(1)


def _top_overlap(saliency, region):
    k = int(region.sum())
    top = saliency[:, 0].reshape(len(saliency), -1).topk(k, dim=1).indices
    return region.reshape(-1)[top].double().mean(1)


# ---------------------------------------------------------------------------- helpers

@pytest.mark.parametrize("shape,sigma", [((2, 3, 9, 11), 0.7), ((2, 3, 9, 11), 2.0),
                                         ((1, 2, 6, 5), 5.0), ((2, 3, 17), 1.3)])
def test_gaussian_blur_matches_scipy(shape, sigma):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    ours = gaussian_blur(x, sigma)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, _blurred(x, sigma), rtol=0, atol=1e-12)


def test_gaussian_blur_truncate_matches_scipy():
    x = torch.randn(2, 1, 10, 10, generator=torch.Generator().manual_seed(4), dtype=F64)
    ref = gaussian_filter(x.numpy(), (0, 0, 1.5, 1.5), mode="nearest", truncate=2.0)
    torch.testing.assert_close(gaussian_blur(x, 1.5, truncate=2.0), torch.as_tensor(ref),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape,beta", [((2, 5, 7), 3.0), ((3, 6), 1.0), ((2, 1, 4), 2.0)])
def test_total_variation_by_hand(shape, beta):
    m = torch.rand(*shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    a = m.numpy()
    expected = []
    for s in a:
        total = 0.0
        for axis in range(s.ndim):
            pairs = []
            for idx in itertools.product(*[range(d) for d in s.shape]):
                nxt = list(idx)
                nxt[axis] += 1
                if nxt[axis] < s.shape[axis]:
                    pairs.append(abs(s[tuple(nxt)] - s[idx]) ** beta)
            total += np.mean(pairs) if pairs else 0.0
        expected.append(total)
    torch.testing.assert_close(total_variation(m, beta), torch.tensor(expected, dtype=F64),
                               rtol=1e-12, atol=1e-14)


def _smooth_loop(p, spatial, step, sigma, smoothing):
    """m(u) = max_v k(u − c_v) p(v) (or the k-weighted mean) by a loop over u and v, with
    the 2-d distance |u − c_v| (not the separated form the code uses)."""
    p = p.numpy()
    out = np.zeros((p.shape[0], *spatial))
    grid = p.shape[1:]
    for b in range(p.shape[0]):
        for u in itertools.product(*[range(d) for d in spatial]):
            vals, ks = [], []
            for v in itertools.product(*[range(g) for g in grid]):
                centre = np.array(v) * step + (step - 1) / 2
                k = np.exp(-np.sum((np.array(u) - centre) ** 2) / (2 * sigma ** 2))
                vals.append(k * p[(b, *v)])
                ks.append(k)
            out[(b, *u)] = max(vals) if smoothing == "max" else sum(vals) / sum(ks)
    return torch.as_tensor(out)


@pytest.mark.parametrize("smoothing", ["max", "gaussian"])
@pytest.mark.parametrize("spatial,step,sigma", [((7, 9), 3, 2.5), ((5, 4), 1, 0.8),
                                                ((11,), 2, 1.7)])
def test_smooth_mask_against_a_loop(smoothing, spatial, step, sigma):
    grid = tuple(-(-d // step) for d in spatial)
    p = torch.rand(2, *grid, generator=torch.Generator().manual_seed(6), dtype=F64)
    ours = smooth_mask(p, spatial, step, sigma, smoothing)
    torch.testing.assert_close(ours, _smooth_loop(p, spatial, step, sigma, smoothing),
                               rtol=1e-12, atol=1e-14)
    assert float(ours.min()) >= 0 and float(ours.max()) <= 1


def test_area_penalty_against_numpy():
    masks = torch.rand(2, 3, 5, 4, generator=torch.Generator().manual_seed(7), dtype=F64)
    areas = (0.1, 0.25, 0.6)
    expected = np.zeros((2, 3))
    for i, k in itertools.product(range(2), range(3)):
        values = np.sort(masks[i, k].numpy().ravel())
        ref = np.zeros(20)
        ref[int(20 * (1 - areas[k])):] = 1          # a fraction a of ones, at the top
        expected[i, k] = np.mean((values - ref) ** 2)
    torch.testing.assert_close(area_penalty(masks, areas), torch.as_tensor(expected),
                               rtol=1e-12, atol=1e-14)
    binary = torch.zeros(1, 1, 5, 4, dtype=F64)
    binary[0, 0, 1:3, 1:3] = 1                      # area 4/20 = 0.2
    assert float(area_penalty(binary, (0.2,))) == 0.0
    assert float(area_penalty(binary, (0.4,))) == pytest.approx(4 / 20)


# ---------------------------------------------------------------------------- meaningful

MP = dict(mask_size=SIZE, area=1.0, steps=200)
# λ₁ = 1 rather than the default 0.05: this toy's logits are about 1, and with a small λ₁
# the TV term spreads the deletion into a ring of half-deleted pixels around the patch.


@pytest.mark.parametrize("perturbation,options", [("blur", {"blur_sigma": 2.0}),
                                                  ("constant", {}),
                                                  ("constant", {"value": "mean"}),
                                                  ("noise", {"noise_sigma": 0.3, "seed": 1})])
def test_meaningful_perturbation_deletes_the_evidence(image, perturbation, options):
    net, graph, x, patch = image
    r = meaningful_perturbation(graph, x, 0, perturbation=perturbation, return_all=True,
                                **MP, **options)
    assert r.attribution.shape == x.shape and r.attribution.dtype == x.dtype
    assert (_mass_on(r.attribution, patch) >= 0.8).all()
    assert (_top_overlap(r.attribution, patch) >= 8 / 9).all()
    # the saliency is the same on every channel
    torch.testing.assert_close(r.attribution[:, 0], r.attribution[:, 1], rtol=0, atol=0)
    torch.testing.assert_close(r.output, net(x)[:, 0], rtol=1e-12, atol=1e-12)
    if perturbation == "blur":
        background = _blurred(x, 2.0)
    elif "value" in options:
        background = x.mean((2, 3), keepdim=True).expand(x.shape)
    else:
        background = torch.zeros_like(x)
    if perturbation != "noise":
        best = _score_with_patch_replaced(net, x, patch, background)
        assert (r.info["deletion_score"] <= best + 0.02).all()
        assert (r.info["deletion_score"] < 0.6 * r.output).all()
    else:
        assert (r.info["deletion_score"] < 0.2 * r.output).all()
    assert r.info["mask"].shape == (2, SIZE, SIZE)
    torch.testing.assert_close(r.info["area"], (1 - r.info["mask"]).mean((1, 2)))
    assert ((r.info["area"] - patch.double().mean()).abs() < 0.03).all()


def test_meaningful_perturbation_default_mask_size_and_defaults_run(image):
    _, graph, x, patch = image
    r = meaningful_perturbation(graph, x, 0, perturbation="blur", blur_sigma=2.0, steps=50,
                                return_all=True)
    sal = r.attribution
    assert sal.shape == x.shape and float(sal.min()) >= 0 and float(sal.max()) <= 1
    # a coarse 3 × 3 mask still puts the most saliency on the patch's side of the image
    assert (_mass_on(sal, patch) > patch.double().mean()).all()


def test_meaningful_perturbation_reads_the_logits_of_a_softmax_graph(image):
    _, graph, x, _ = image
    soft = _patch_net((2, SIZE, SIZE), (ROWS, COLS), softmax=True)
    soft_graph = neon.neuralize(soft, x[:1])
    a = meaningful_perturbation(graph, x, 0, perturbation="constant", **MP)
    b = meaningful_perturbation(soft_graph, x, 0, perturbation="constant", **MP)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_meaningful_perturbation_batched_equals_alone(image):
    _, graph, x, _ = image
    kw = dict(perturbation="noise", noise_sigma=0.3, jitter=1, **MP)
    both = meaningful_perturbation(graph, x, 0, seed=2, **kw)
    alone = torch.cat([meaningful_perturbation(graph, x[i:i + 1], 0, seed=2, **kw)
                       for i in range(2)])
    chunked = meaningful_perturbation(graph, x, 0, seed=2, batch_size=1, **kw)
    torch.testing.assert_close(both, alone, rtol=0, atol=1e-10)
    torch.testing.assert_close(both, chunked, rtol=0, atol=1e-10)


def test_meaningful_perturbation_is_repeatable_with_a_seed(image):
    _, graph, x, _ = image
    kw = dict(perturbation="noise", noise_sigma=0.3, jitter=1, mask_size=SIZE, steps=40)
    a = meaningful_perturbation(graph, x, 0, seed=5, **kw)
    b = meaningful_perturbation(graph, x, 0, seed=5, **kw)
    c = meaningful_perturbation(graph, x, 0, seed=torch.Generator().manual_seed(5), **kw)
    d = meaningful_perturbation(graph, x, 0, seed=6, **kw)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, d)


def test_meaningful_perturbation_numpy_float32_and_signals(image, signal):
    net, graph, x, patch = image
    out = meaningful_perturbation(graph, x.numpy(), 0, perturbation="constant", **MP)
    assert isinstance(out, np.ndarray) and out.shape == x.shape and out.dtype == np.float64
    ref = meaningful_perturbation(graph, x, 0, perturbation="constant", **MP)
    np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-12)
    graph32 = neon.neuralize(copy.deepcopy(net).float(), x[:1].float())
    r32 = meaningful_perturbation(graph32, x.float(), 0, perturbation="constant", **MP)
    assert r32.dtype == F32
    assert (_mass_on(r32.double(), patch) >= 0.8).all()
    snet, sgraph, sx, segment = signal
    r = meaningful_perturbation(sgraph, sx, 0, perturbation="blur", blur_sigma=2.0,
                                mask_size=LENGTH, area=1.0, steps=200, return_all=True)
    assert r.attribution.shape == sx.shape
    assert (_mass_on(r.attribution, segment) >= 0.8).all()
    best = _score_with_patch_replaced(snet, sx, segment, _blurred(sx, 2.0))
    assert (r.info["deletion_score"] <= best + 0.02).all()


# ---------------------------------------------------------------------------- extremal

EP = dict(perturbation="blur", blur_sigma=2.0, smooth_sigma=0.6, steps=200)
AREAS = (0.0625, 0.1, 0.2)                           # the patch is 9/144 = 0.0625


@pytest.mark.parametrize("variant", ["preserve", "delete"])
def test_extremal_perturbation_finds_the_evidence_at_each_area(image, variant):
    net, graph, x, patch = image
    r = extremal_perturbation(graph, x, 0, areas=AREAS, variant=variant, return_all=True,
                              **EP)
    masks = r.info["masks"]
    assert masks.shape == (2, 3, SIZE, SIZE)
    # the mask's area is the one asked for (the smooth fall-off adds a little)
    torch.testing.assert_close(r.info["area"], masks.mean((2, 3)))
    assert ((r.info["area"] - torch.tensor(AREAS, dtype=F64)).abs() < 0.05).all()
    torch.testing.assert_close(r.info["areas"], torch.tensor(AREAS, dtype=F64))
    # the kept (preserve) or deleted (delete) region contains the patch at every area
    assert (masks[:, :, patch] > 0.5).all()
    assert (_top_overlap(masks[:, :1], patch) == 1).all()
    score = net(x)[:, 0]
    if variant == "preserve":
        assert (r.info["perturbed_score"] >= 0.95 * score.unsqueeze(1)).all()
    else:
        best = _score_with_patch_replaced(net, x, patch, _blurred(x, 2.0))
        assert (r.info["perturbed_score"] <= best.unsqueeze(1) + 0.05).all()
    # the attribution: the masks summed over the areas, on every channel
    torch.testing.assert_close(r.attribution, masks.sum(1, keepdim=True).expand(x.shape),
                               rtol=0, atol=0)


def test_extremal_perturbation_gaussian_smoothing_and_coarse_step(image):
    _, graph, x, patch = image
    for kw in (dict(smoothing="gaussian"), dict(step=2, smooth_sigma=1.0)):
        r = extremal_perturbation(graph, x, 0, areas=(0.2,), return_all=True,
                                  **{**EP, **kw})
        assert ((r.info["area"] - 0.2).abs() < 0.05).all()
        assert (r.info["masks"][:, 0][:, patch] > 0.5).all()


def test_extremal_perturbation_batched_equals_alone_and_seeded(image):
    _, graph, x, _ = image
    kw = dict(EP, areas=(0.1, 0.2), steps=60, perturbation="noise", blur_sigma=None,
              noise_sigma=0.3, jitter=1)
    both = extremal_perturbation(graph, x, 0, seed=3, **kw)
    alone = torch.cat([extremal_perturbation(graph, x[i:i + 1], 0, seed=3, **kw)
                       for i in range(2)])
    chunked = extremal_perturbation(graph, x, 0, seed=3, batch_size=1, **kw)
    torch.testing.assert_close(both, alone, rtol=0, atol=1e-10)
    torch.testing.assert_close(both, chunked, rtol=0, atol=1e-10)
    assert torch.equal(both, extremal_perturbation(graph, x, 0, seed=3, **kw))
    assert not torch.equal(both, extremal_perturbation(graph, x, 0, seed=4, **kw))


def test_extremal_perturbation_numpy_float32_and_signals(image, signal):
    net, graph, x, patch = image
    out = extremal_perturbation(graph, x.numpy(), 0, areas=0.1, **EP)
    assert isinstance(out, np.ndarray) and out.shape == x.shape
    graph32 = neon.neuralize(copy.deepcopy(net).float(), x[:1].float())
    r32 = extremal_perturbation(graph32, x.float(), 0, areas=0.1, return_all=True, **EP)
    assert r32.attribution.dtype == F32 and r32.info["masks"].dtype == F32
    assert (r32.info["masks"][:, 0][:, patch] > 0.5).all()
    snet, sgraph, sx, segment = signal
    r = extremal_perturbation(sgraph, sx, 0, areas=(0.125, 0.25), return_all=True, **EP)
    assert r.info["masks"].shape == (2, 2, LENGTH)
    assert (r.info["masks"][:, :, segment] > 0.5).all()
    assert ((r.info["area"] - torch.tensor([0.125, 0.25], dtype=F64)).abs() < 0.06).all()
    assert (r.info["perturbed_score"] >= 0.95 * snet(sx)[:, :1]).all()
