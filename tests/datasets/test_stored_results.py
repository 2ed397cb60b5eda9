"""SpRAy and pixel flipping read stored relevance (zarr stores, dask arrays) chunk by chunk
and give what they give on the same relevance in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from lrp.spray import SpRAy

zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")
torch.set_num_threads(1)


def _cnn():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 3)).double()
    return neon.neuralize(net, torch.zeros(1, 1, 8, 8, dtype=torch.float64))


G = _cnn()
X = np.random.default_rng(0).random((300, 1, 8, 8))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    out = tmp_path_factory.mktemp("store") / "relevance"
    return lrp.explain_dataset(G, X, target=0, batch_size=64, out=out, progress=False)


def test_spray_on_a_store_equals_spray_in_memory(stored):
    in_memory = np.asarray(stored.relevance[:])
    a = SpRAy(n_neighbors=8, n_eigenvalues=6, random_state=0).fit(in_memory)
    for source in (stored, stored.relevance, da.from_zarr(stored.relevance)):
        b = SpRAy(n_neighbors=8, n_eigenvalues=6, random_state=0).fit(source)
        assert np.array_equal(a.labels_, b.labels_)
        np.testing.assert_allclose(a.eigenvalues_, b.eigenvalues_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.cluster_relevance_, b.cluster_relevance_, rtol=1e-12)
        assert b.sample_shape_ == (1, 8, 8)


def test_spray_names_the_rows_of_a_bad_chunk(tmp_path):
    bad = zarr.create_array(str(tmp_path / "bad"), shape=(100, 5), chunks=(40, 5),
                            dtype="float64")
    values = np.random.default_rng(0).normal(size=(100, 5))
    values[50] = np.nan
    bad[:] = values
    with pytest.raises(ValueError, match="rows 40–79"):
        SpRAy(n_neighbors=5, n_eigenvalues=4).fit(bad)


@pytest.mark.parametrize("baseline", [0.0, "mean"])
def test_pixel_flipping_on_stored_relevance_equals_it_in_memory(stored, baseline):
    rel = np.asarray(stored.relevance[:])
    data = X if baseline == "mean" else None
    a = lrp.metrics.pixel_flipping(G, X, rel, 0, order="both", baseline=baseline, data=data,
                                   steps=8)
    b = lrp.metrics.pixel_flipping(G, X, stored, 0, order="both", baseline=baseline,
                                   data=data, steps=8)
    c = lrp.metrics.pixel_flipping(G, da.from_array(X, chunks=(100, 1, 8, 8)), rel, 0,
                                   order="both", baseline=baseline, data=data, steps=8)
    for r in (b, c):
        np.testing.assert_allclose(r.curves["morf"], a.curves["morf"], rtol=1e-12)
        np.testing.assert_allclose(r.gap.values, a.gap.values, rtol=1e-10, atol=1e-12)
    assert "chunks" in b.description


def test_pixel_flipping_refuses_a_batch_baseline_for_stored_relevance(stored):
    with pytest.raises(ValueError, match="give data="):
        lrp.metrics.pixel_flipping(G, X, stored, 0, baseline="mean")
