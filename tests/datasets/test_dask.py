"""lrp.dask.explain: the threaded scheduler and a distributed LocalCluster of two worker
processes reproduce the single-process result, also when a worker is killed mid-run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
import lrp.dask  # noqa: E402
from tests.datasets.killer import KillOnce  # noqa: E402

torch.set_num_threads(1)          # as the workers: the same summation order, bit for bit
F64 = torch.float64


def _tabular():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    return neon.neuralize(net, torch.randn(1, 6, dtype=F64))


def _digits():
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64, 10)).double()
    images = load_digits().images[:, None] / 16.0
    x = np.concatenate([images, images[:203]])          # 2,000 images
    return neon.neuralize(net, torch.as_tensor(x[:1])), x


TAB = _tabular()
ROWS = np.random.default_rng(0).normal(size=(20_000, 6))


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_threads_reproduce_the_single_process_result_bit_for_bit(tmp_path):
    ref = lrp.explain_dataset(TAB, ROWS, batch_size=2_000, progress=False)
    r = lrp.dask.explain(TAB, da.from_array(ROWS, chunks=2_000), scheduler="threads")
    for name in ("relevance", "output", "target", "relevance_sum"):
        assert np.array_equal(np.asarray(getattr(r, name)), getattr(ref, name)), name
    stored = lrp.dask.explain(TAB, da.from_array(ROWS, chunks=(3_000, 6)), out=tmp_path / "s",
                              batch_size=2_000)
    assert stored.relevance.chunks == (2_000, 6)
    assert np.array_equal(stored.relevance[:], ref.relevance)


def test_a_cluster_of_two_workers_reproduces_the_tabular_and_image_results(client, tmp_path):
    ref = lrp.explain_dataset(TAB, ROWS, batch_size=2_500, progress=False)
    r = lrp.dask.explain(TAB, da.from_array(ROWS, chunks=2_500), client=client,
                         out=tmp_path / "tab")
    assert np.array_equal(r.relevance[:], ref.relevance)
    assert np.array_equal(r.target[:], ref.target)
    graph, images = _digits()
    ref = lrp.explain_dataset(graph, images, composite=lrp.EpsilonPlusFlat(), batch_size=250,
                              progress=False)
    r = lrp.dask.explain(graph, da.from_array(images, chunks=(250, 1, 8, 8)),
                         composite=lrp.EpsilonPlusFlat(), client=client)
    assert r.relevance.shape == (2_000, 1, 8, 8)
    np.testing.assert_allclose(r.relevance, ref.relevance, rtol=0, atol=1e-12)


def test_a_worker_killed_mid_run_leaves_a_complete_and_equal_result(client, tmp_path):
    """The method SIGKILLs the first worker that runs it (once; every task holds its own copy
    of the method, so each call is a first call): the nanny starts a new worker, the
    scheduler recomputes the lost blocks, and every row is there once."""
    marker = tmp_path / "killed"
    ref = lrp.explain_dataset(TAB, ROWS, batch_size=1_000, progress=False)
    r = lrp.dask.explain(TAB, da.from_array(ROWS, chunks=1_000), client=client,
                         method=KillOnce(marker, 1), out=tmp_path / "store")
    assert marker.exists()                          # a worker did die
    assert np.array_equal(r.relevance[:], ref.relevance)
    assert np.array_equal(r.output[:], ref.output)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="dask array"):
        lrp.dask.explain(TAB, ROWS)
    with pytest.raises(ValueError, match="one entry per row"):
        lrp.dask.explain(TAB, da.from_array(ROWS, chunks=5_000), target=np.zeros(3))
    with pytest.raises(ValueError, match="retries"):
        lrp.dask.explain(TAB, da.from_array(ROWS, chunks=5_000), retries=-1)
