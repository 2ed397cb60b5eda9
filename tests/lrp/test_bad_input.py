"""Bad input to lrp.explain: each error names what is wrong."""

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from neon.graph import GraphInputError

F64 = torch.float64


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double().eval()
    x = torch.randn(2, 4, dtype=F64)
    return model, x, neon.from_torch(model, x)


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 2 * 2, 3)).double().eval()
    x = torch.randn(2, 2, 4, 4, dtype=F64)
    return model, x, neon.from_torch(model, x)


# ----------------------------------------------------------------------------- targets

@pytest.mark.parametrize("target,bad", [(3, 3), (-1, -1), (10 ** 6, 10 ** 6),
                                        (np.int64(5), 5)])
def test_int_target_out_of_range(mlp, target, bad):
    _, x, g = mlp
    with pytest.raises(lrp.TargetError,
                       match=rf"target class {bad} is out of range: the output has 3 classes "
                             r"\(0 … 2\)"):
        lrp.explain(g, x, target=target)


@pytest.mark.parametrize("target", [[0, 3], torch.tensor([2, -1]), np.array([7, 0])])
def test_per_sample_target_out_of_range(mlp, target):
    _, x, g = mlp
    with pytest.raises(lrp.TargetError, match="out of range: the output has 3 classes"):
        lrp.explain(g, x, target=target)
    with pytest.raises(lrp.TargetError, match="out of range"):
        lrp.explain(g, x, target=target, batch_size=1)


@pytest.mark.parametrize("target", [[0, 1, 2], [1], torch.tensor([[0, 1]])])
def test_wrong_number_of_per_sample_targets(mlp, target):
    _, x, g = mlp
    with pytest.raises(lrp.TargetError, match=r"give one class per sample: expected shape "
                                              r"\(2,\)"):
        lrp.explain(g, x, target=target)


@pytest.mark.parametrize("target", [[0, 1, 2], [1], torch.ones(3, 3, dtype=F64)])
def test_wrong_number_of_targets_with_batch_size(mlp, target):
    """Chunking must not slice a too-long (or too-short) target silently."""
    _, x, g = mlp
    with pytest.raises(lrp.TargetError, match="one target per sample: the input has 2 samples"):
        lrp.explain(g, x, target=target, batch_size=1)


@pytest.mark.parametrize("mask", [torch.ones(2, 4, dtype=F64), torch.ones(2, dtype=F64),
                                  np.ones((2, 3, 1)), torch.ones(2, 3, 1, dtype=F64)])
def test_mask_of_wrong_shape(mlp, mask):
    _, x, g = mlp
    with pytest.raises(lrp.TargetError, match=r"a target mask must be shaped like the output "
                                              r"\(2, 3\), got"):
        lrp.explain(g, x, target=mask)


def test_mask_with_nan(mlp):
    _, x, g = mlp
    mask = torch.ones(2, 3, dtype=F64)
    mask[1, 2] = float("nan")
    with pytest.raises(lrp.TargetError, match="NaN or infinite"):
        lrp.explain(g, x, target=mask)


def test_callable_target_is_checked_too(mlp):
    _, x, g = mlp
    with pytest.raises(lrp.TargetError, match="target class 9 is out of range"):
        lrp.explain(g, x, target=lambda out: 9)


def test_ambiguous_targets_are_refused_with_what_to_pass(mlp):
    """An integer or boolean array shaped like the output could be a mask or labels: refused
    (a mask must be floating point); booleans and non-integer floats are no class index."""
    _, x, g = mlp
    one_hot = torch.nn.functional.one_hot(torch.tensor([1, 1]), 3)
    with pytest.raises(lrp.TargetError, match=r"mask must be floating point.*mask.float\(\)"):
        lrp.explain(g, x, target=one_hot)
    with pytest.raises(lrp.TargetError, match="boolean mask"):
        lrp.explain(g, x, target=one_hot.bool())
    with pytest.raises(lrp.TargetError, match="zeros|floating point"):
        lrp.explain(g, x, target=torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(lrp.TargetError, match="boolean"):
        lrp.explain(g, x, target=True)
    with pytest.raises(lrp.TargetError, match="floats that are not integers"):
        lrp.explain(g, x, target=1.5)
    with pytest.raises(lrp.TargetError, match="names a label.*declares no output labels"):
        lrp.explain(g, x, target="cat")


def test_good_targets_of_every_form_agree(mlp):
    """The forms the error tests reject have working counterparts: int, per sample, 0-d,
    an integer-valued float, float mask, callable, lrp.Column."""
    _, x, g = mlp
    want = lrp.explain(g, x, target=[1, 1])
    one_hot = torch.nn.functional.one_hot(torch.tensor([1, 1]), 3)
    for target in (1, np.int64(1), torch.tensor(1), np.array(1), torch.tensor([1, 1]),
                   np.array([1, 1]), 1.0, one_hot.double(), lrp.Column(1), lrp.Column([1, 1]),
                   lambda out: torch.ones(len(out), dtype=torch.long)):
        torch.testing.assert_close(lrp.explain(g, x, target=target), want, rtol=0, atol=0)
        torch.testing.assert_close(lrp.explain(g, x, target=target, batch_size=1), want,
                                   rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------ inputs

@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input(mlp, value):
    _, x, g = mlp
    bad = x.clone()
    bad[1, 2] = value
    with pytest.raises(GraphInputError, match="contains 1 NaN or infinite value"):
        lrp.explain(g, bad)
    with pytest.raises(GraphInputError, match="NaN or infinite"):
        lrp.explain(g, bad.numpy())
    with pytest.raises(GraphInputError, match="NaN or infinite"):
        lrp.explain(g, bad, batch_size=1, return_all=True)


def test_wrong_feature_count(mlp):
    _, _, g = mlp
    with pytest.raises(GraphInputError, match=r"expected 4 features, got 5"):
        lrp.explain(g, torch.randn(2, 5, dtype=F64))
    with pytest.raises(GraphInputError, match=r"expected 4 features, got 3"):
        lrp.explain(g, np.zeros((2, 3)))


def test_wrong_channels_rank_and_dtype(cnn):
    _, x, g = cnn
    with pytest.raises(GraphInputError, match=r"expected 2 channels, got 3"):
        lrp.explain(g, torch.randn(2, 3, 4, 4, dtype=F64))
    with pytest.raises(GraphInputError, match=r"rank 3"):
        lrp.explain(g, torch.randn(2, 4, 4, dtype=F64))
    # dtypes: widening is exact and done (numpy and torch alike), narrowing is refused
    torch.testing.assert_close(lrp.explain(g, x.float()), lrp.explain(g, x.float().double()))
    g32 = g.copy().to(torch.float32)
    with pytest.raises(GraphInputError, match=r"dtype torch.float64 but the graph holds "
                                              r"torch.float32.*lose precision"):
        lrp.explain(g32, x)
    with pytest.raises(GraphInputError, match=r"dtype torch.float64 but the graph holds "
                                              r"torch.float32"):
        lrp.explain(g32, x.numpy())
    assert lrp.explain(g, torch.ones(2, 2, 4, 4, dtype=torch.long)).dtype == F64  # ints: numbers
    with pytest.raises(GraphInputError, match="boolean"):
        lrp.explain(g, torch.ones(2, 2, 4, 4, dtype=torch.bool))


def test_spatial_size_the_net_cannot_take(cnn):
    """The conv accepts any size; the Linear after it fixes the size: the error says so."""
    _, _, g = cnn
    with pytest.raises(GraphInputError, match=r"node '3' \(Linear\) failed"):
        lrp.explain(g, torch.randn(2, 2, 5, 5, dtype=F64))


def test_bad_batch_size(mlp):
    _, x, g = mlp
    for bad in (0, -2):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            lrp.explain(g, x, batch_size=bad)


def test_empty_batch_is_refused_with_a_clear_message():
    graph = neon.neuralize(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.ones(1, 3))
    with pytest.raises(ValueError, match="no samples"):
        lrp.explain(graph, torch.ones(0, 3))
