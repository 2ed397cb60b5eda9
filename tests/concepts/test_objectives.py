"""concepts.objectives against values computed by hand from the torch modules' own weights
(and from scikit-learn's k-means attributes): units, channels, directions (plain and
cosine-weighted), outputs for a target, and the linear algebra of objectives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import concepts
import neon
from concepts import channel, direction, output, unit

torch.set_num_threads(1)
F64 = torch.float64


def _tiny():
    """x (3,) → Linear(3, 4) → ReLU → Linear(4, 2), with fixed weights."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    return net, neon.neuralize(net, torch.randn(1, 3, dtype=F64))


def _conv():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 5 * 5, 4)).double()
    return net, neon.neuralize(net, torch.randn(1, 2, 5, 5, dtype=F64))


NET, G = _tiny()
CNET, C = _conv()
X = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
XC = torch.randn(3, 2, 5, 5, dtype=F64, generator=torch.Generator().manual_seed(3))


def _hidden(x):
    return NET[0](x)


def test_unit_is_one_element_by_flat_or_tuple_index():
    a = _hidden(X).detach()
    assert torch.allclose(unit("0", 2)(G, X), a[:, 2])
    assert torch.allclose(unit("0", -1)(G, X), a[:, 3])
    conv = CNET[0](XC).detach()                    # (3, 3, 5, 5)
    assert torch.allclose(unit("0", (1, 2, 3))(C, XC), conv[:, 1, 2, 3])
    assert torch.allclose(unit("0", 1 * 25 + 2 * 5 + 3)(C, XC), conv[:, 1, 2, 3])


def test_channel_is_the_mean_over_positions():
    conv = CNET[0](XC).detach()
    assert torch.allclose(channel("0", 2)(C, XC), conv[:, 2].mean((1, 2)))
    # a node without positions: the unit
    assert torch.allclose(channel("0", 1)(G, X), _hidden(X).detach()[:, 1])


def test_direction_plain_and_cosine_by_hand():
    conv = CNET[0](XC).detach()                    # (N, 3, 5, 5)
    v = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    per_pos = torch.einsum("nchw,c->nhw", conv, v)
    assert torch.allclose(direction("0", v)(C, XC), per_pos.mean((1, 2)))
    cos = per_pos / (conv.norm(dim=1) * v.norm())
    want = (per_pos * cos.clamp_min(0.1) ** 2).mean((1, 2))
    assert torch.allclose(direction("0", v, cosine_power=2)(C, XC), want)
    # a vector of the flattened size: one dot product (a CAV's direction)
    u = torch.randn(75, dtype=F64, generator=torch.Generator().manual_seed(4))
    flat = conv.reshape(3, -1)
    assert torch.allclose(direction("0", u)(C, XC), flat @ u)
    c = flat @ u / (flat.norm(dim=1) * u.norm())
    assert torch.allclose(direction("0", u, cosine_power=1)(C, XC),
                          (flat @ u) * c.clamp_min(0.1))


def test_direction_takes_a_cav_and_its_node():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 4)) + 2, rng.normal(size=(20, 4))
    cav = concepts.CAV.from_activations(a, b, node="0", learner="mean_difference",
                                        held_out=0)
    h = _hidden(X).detach()
    assert torch.allclose(direction(None, cav)(G, X), h @ cav.direction.to(F64))
    assert "CAV" in repr(direction(None, cav))
    with pytest.raises(ValueError, match="fitted at node"):
        direction("2", cav).nodes(G)


def test_output_reads_targets_as_lrp_explain():
    logits = NET(X).detach()
    assert torch.allclose(output(target=1)(G, X), logits[:, 1])
    with pytest.raises(ValueError, match="name the class"):
        output()(G, X)
    # one target per sample
    t = np.array([0, 1, 1, 0, 0, 1])
    assert torch.allclose(output(target=t)(G, X), logits[np.arange(6), t])


def test_output_of_a_kmeans_is_the_cluster_logit():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    data = rng.normal(size=(60, 2))
    km = KMeans(3, n_init=2, random_state=0).fit(data)
    g = neon.neuralize(km, data)
    x = rng.normal(size=(5, 2))
    d = ((x[:, None, :] - km.cluster_centers_[None]) ** 2).sum(2)
    for c in range(3):
        want = np.delete(d, c, axis=1).min(1) - d[:, c]
        got = output(target=c)(g, torch.as_tensor(x)).numpy()
        assert np.allclose(got, want, rtol=1e-10, atol=1e-12)


def test_algebra_evaluates_to_the_same_combination():
    h = _hidden(X).detach()
    logits = NET(X).detach()
    a, b, c = unit("0", 0), unit("0", 3), output(target=0)
    combo = a + 2 * b - c
    want = h[:, 0] + 2 * h[:, 3] - logits[:, 0]
    assert torch.allclose(combo(G, X), want)
    assert torch.allclose((-a)(G, X), -h[:, 0])
    assert torch.allclose((a / 4)(G, X), h[:, 0] / 4)
    assert torch.allclose((a * 3.0 - b * 0.5)(G, X), 3 * h[:, 0] - 0.5 * h[:, 3])
    assert torch.allclose(sum([a, b, c])(G, X), h[:, 0] + h[:, 3] + logits[:, 0])
    assert torch.allclose((np.float64(2.0) * a)(G, X), 2 * h[:, 0])
    assert set(combo.nodes(G)) == {"0", "2"}
    assert repr(combo) == "unit('0', 0) + 2 * unit('0', 3) - output(target=0)"
    assert repr(-a) == "-unit('0', 0)"


def test_gradient_flows_to_the_input():
    x = X.clone().requires_grad_(True)
    unit("2", 1)(G, x).sum().backward()
    w1, w2 = NET[0].weight.detach(), NET[2].weight.detach()
    active = (NET[0](X) > 0).double().detach()
    want = (active * w2[1]) @ w1                  # ∂ z2_1 / ∂ x through the ReLU
    assert torch.allclose(x.grad, want)


def test_linear_flags():
    assert (unit("0", 0) + 2 * channel("0", 1)).is_linear(G)
    assert not direction("0", torch.ones(4), cosine_power=1).is_linear(G)
    assert output(target=0).is_linear(G)


def test_refusals():
    with pytest.raises(KeyError, match="close names"):
        unit("00", 0).nodes(G)
    with pytest.raises(IndexError, match="out of range"):
        unit("0", 4)(G, X)
    with pytest.raises(IndexError, match="entries"):
        unit("0", (1, 2))(G, X)
    with pytest.raises(IndexError, match="3 channels"):
        channel("0", 3)(C, XC)
    with pytest.raises(ValueError, match="per channel"):
        direction("0", torch.ones(5))(G, X)
    with pytest.raises(ValueError, match="zero vector"):
        direction("0", torch.zeros(4))
    with pytest.raises(TypeError, match="real number"):
        unit("0", 0) * "2"
    with pytest.raises(TypeError, match="another objective"):
        unit("0", 0) + 1.5
    with pytest.raises(TypeError, match="int"):
        unit("0", 1.5)
