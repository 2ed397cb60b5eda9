"""SpRAy (lrp.spray) and its plots (lrp.plot.spray).

References used here share no code with the module: preprocessing written out by hand
(numpy block sums, explicit overlap weights, torch's adaptive average pooling), the kNN graph
from scikit-learn's ``kneighbors_graph``, the normalized Laplacian built densely by hand and
its spectrum from ``numpy.linalg.eigh``, cluster recovery scored by scikit-learn's adjusted
Rand index against planted groups, and scikit-learn's own estimator checks.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors, kneighbors_graph

import lrp.spray as spray_module
from lrp.plot import spray_clusters, spray_eigenvalues, spray_embedding
from lrp.spray import SpRAy, SpRAyWarning, eigengap, knn_indices, pool_matrix

matplotlib.use("Agg")
torch.set_num_threads(1)


def planted(sizes, size=12, noise=0.05, seed=0):
    """Maps with a Gaussian blob in one corner per group, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    corners = [(2, 2), (2, size - 3), (size - 3, 2), (size - 3, size - 3)]
    maps, labels = [], []
    for group, (n, (cy, cx)) in enumerate(zip(sizes, corners)):
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 3.0)
        maps.append(blob + noise * rng.normal(size=(n, size, size)))
        labels += [group] * n
    return np.concatenate(maps), np.array(labels)


def quiet_fit(est, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpRAyWarning)
        return est.fit(data)


def reference_laplacian(x, k):
    """Dense L = I − D^{-1/2} A D^{-1/2}, A = (C + Cᵀ)/2 from scikit-learn's kNN graph."""
    c = kneighbors_graph(x, k, mode="connectivity", include_self=False)
    a = ((c + c.T) / 2).toarray()
    d = a.sum(1)
    return a, np.eye(len(x)) - a / np.sqrt(np.outer(d, d))


@pytest.fixture(scope="module")
def connected():
    """Four planted groups of decreasing size, noisy enough that the graph is connected."""
    maps, labels = planted([50, 40, 30, 20], noise=0.3)
    return maps, labels, SpRAy(random_state=0).fit(maps)


# ------------------------------------------------------------------------------ preprocessing

def test_preprocess_sums_channels_pools_blocks_and_normalizes_mass():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 3, 6, 6))
    got = SpRAy(pool=3).preprocess(r)
    summed = r.sum(1)
    blocks = summed.reshape(5, 3, 2, 3, 2).sum((2, 4))          # 2 × 2 blocks by hand
    want = blocks.reshape(5, -1) / np.abs(blocks).reshape(5, -1).sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(np.abs(got).sum(1), 1.0, rtol=1e-12)


def test_pool_of_3_to_2_splits_border_pixels_by_overlap():
    r = np.arange(1.0, 10.0).reshape(1, 3, 3)    # [[1,2,3],[4,5,6],[7,8,9]]
    got = SpRAy(pool=2, normalize=None).preprocess(r).reshape(2, 2)
    # each output cell covers 1.5 × 1.5 pixels: the middle row/column is shared half-half
    w = np.array([[1, .5, 0], [0, .5, 1]])
    want = np.array([[(w[i][:, None] * w[j][None, :] * r[0]).sum() for j in range(2)]
                     for i in range(2)])
    assert want[0, 0] == 1 + .5 * 2 + .5 * 4 + .25 * 5
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(pool_matrix(3, 2), w)


def test_pool_rectangular_equals_torch_adaptive_average_pool_times_block_area():
    r = torch.randn(4, 1, 8, 12, dtype=torch.float64)
    got = SpRAy(pool=(4, 3), normalize=None).preprocess(r)
    want = F.adaptive_avg_pool2d(r, (4, 3)) * (2 * 4)
    np.testing.assert_allclose(got, want.reshape(4, -1).numpy(), rtol=1e-12)


def test_pool_keeps_the_sum_when_sizes_do_not_divide():
    r = np.random.default_rng(1).normal(size=(6, 28, 28))
    got = SpRAy(pool=10, normalize=None).preprocess(r)
    assert got.shape == (6, 100)
    np.testing.assert_allclose(got.sum(1), r.sum((1, 2)), rtol=1e-10)


def test_preprocess_max_absolute_and_vectors():
    r = np.random.default_rng(2).normal(size=(4, 6))
    got = SpRAy(normalize="max", absolute=True, pool=3).preprocess(r)
    pairs = np.abs(r).reshape(4, 3, 2).sum(2)
    np.testing.assert_allclose(got, pairs / pairs.max(1, keepdims=True), rtol=1e-12)
    assert (got >= 0).all()
    np.testing.assert_allclose(SpRAy(normalize=None).preprocess(r), r)


def test_preprocess_keeps_float32_and_takes_tensors():
    r = np.random.default_rng(3).normal(size=(3, 2, 4, 4)).astype(np.float32)
    a, b = SpRAy(pool=2).preprocess(r), SpRAy(pool=2).preprocess(torch.from_numpy(r))
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ graph

def test_affinity_equals_symmetrized_sklearn_kneighbors_graph():
    rng = np.random.default_rng(4)
    r = rng.normal(size=(90, 2, 8, 8))
    est = SpRAy(n_neighbors=7, n_eigenvalues=6, pool=4, random_state=0).fit(r)
    blocks = r.sum(1).reshape(90, 4, 2, 4, 2).sum((2, 4)).reshape(90, -1)
    x = blocks / np.abs(blocks).sum(1, keepdims=True)
    a, _ = reference_laplacian(x, 7)
    got = est.affinity_
    assert got.format == "csr" and got.nnz <= 2 * 90 * 7
    np.testing.assert_array_equal(got.toarray(), a)
    assert set(np.unique(got.data)) <= {0.5, 1.0}


def test_chunked_knn_equals_sklearn_neighbours(monkeypatch):
    x = np.random.default_rng(5).normal(size=(157, 9))
    monkeypatch.setattr(spray_module, "_CHUNK_BYTES", 157 * 8 * 13)   # 13 rows per chunk
    got = knn_indices(torch.from_numpy(x), 5).numpy()
    want = NearestNeighbors(n_neighbors=5).fit(x).kneighbors(return_distance=False)
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------------ spectrum

@pytest.mark.parametrize("n,k", [(60, 32), (200, 8)], ids=["dense solver", "ARPACK"])
def test_eigenpairs_equal_numpy_eigh_of_the_normalized_laplacian(n, k):
    x = np.random.default_rng(6).normal(size=(n, 5))
    est = SpRAy(n_eigenvalues=k, normalize=None, random_state=0).fit(x)
    _, lap = reference_laplacian(x, 10)
    want = np.linalg.eigh(lap)[0][:k]
    assert est.n_components_ == 1
    np.testing.assert_allclose(est.eigenvalues_, want, atol=1e-10)
    v = est.embedding_
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-10)
    np.testing.assert_allclose(lap @ v, v * want, atol=1e-8)
    np.testing.assert_allclose(est.eigengaps_, np.diff(want), atol=1e-10)


def test_disconnected_graph_warns_and_has_a_multiple_zero_eigenvalue():
    maps, labels = planted([40, 30, 20])
    with pytest.warns(SpRAyWarning, match="3 connected components"):
        est = SpRAy(n_eigenvalues=10, random_state=0).fit(maps)
    x = maps.reshape(90, -1) / np.abs(maps.reshape(90, -1)).sum(1, keepdims=True)
    _, lap = reference_laplacian(x, 10)
    want = np.linalg.eigh(lap)[0][:10]
    np.testing.assert_allclose(est.eigenvalues_, want, atol=1e-10)
    assert est.n_components_ == 3 and est.eigengap_ == 3
    np.testing.assert_allclose(lap @ est.embedding_, est.embedding_ * want, atol=1e-8)
    assert adjusted_rand_score(labels, est.labels_) == 1.0


def test_eigengap_by_hand():
    assert eigengap([0, 0, 0, 0.5, 0.55]) == 3
    assert eigengap([0, 0.4, 0.45, 0.5]) == 1        # largest gap after λ₁: one cluster
    assert eigengap([0, 0.125, 0.5, 0.875]) == 2      # equal gaps: the first


# ------------------------------------------------------------------------------ clusters

def test_planted_connected_clusters_are_recovered(connected):
    maps, labels, est = connected
    assert est.n_components_ == 1
    assert est.eigengap_ == 4 and est.n_clusters_ == 4
    assert adjusted_rand_score(labels, est.labels_) == 1.0
    # numbered by size: group g (sizes 50, 40, 30, 20) is cluster g
    np.testing.assert_array_equal(est.labels_, labels)
    np.testing.assert_array_equal(est.cluster_sizes_, [50, 40, 30, 20])


def test_agglomerative_recovers_them_too(connected):
    maps, labels, _ = connected
    est = SpRAy(cluster="agglomerative", random_state=0).fit(maps)
    assert adjusted_rand_score(labels, est.labels_) == 1.0


def test_cluster_means_are_the_means_of_the_preprocessed_and_raw_maps(connected):
    maps, labels, est = connected
    x = maps.reshape(len(maps), -1)
    x = x / np.abs(x).sum(1, keepdims=True)
    for g in range(4):
        np.testing.assert_allclose(est.cluster_means_[g], x[labels == g].mean(0).reshape(12, 12),
                                   rtol=1e-10)
        np.testing.assert_allclose(est.cluster_relevance_[g], maps[labels == g].mean(0),
                                   rtol=1e-10)
    assert est.map_shape_ == (12, 12) and est.sample_shape_ == (12, 12)
    assert est.n_features_in_ == 144


def test_n_clusters_overrides_the_eigengap(connected):
    maps, _, _ = connected
    est = SpRAy(n_clusters=2, random_state=0).fit(maps)
    assert est.n_clusters_ == 2 and est.eigengap_ == 4
    assert np.unique(est.labels_).tolist() == [0, 1]


def test_members_are_sorted_by_distance_to_the_cluster_centre(connected):
    _, _, est = connected
    got = est.members(1, 5)
    f = est.embedding_[:, :4]
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    index = np.flatnonzero(est.labels_ == 1)
    dist = np.linalg.norm(f[index] - f[index].mean(0), axis=1)
    np.testing.assert_array_equal(got, index[np.argsort(dist)][:5])


def test_reproducible_with_random_state_and_same_spectrum_from_another_seed(connected):
    maps, _, est = connected
    again = SpRAy(random_state=0).fit(maps)
    np.testing.assert_array_equal(again.labels_, est.labels_)
    np.testing.assert_array_equal(again.embedding_, est.embedding_)
    other = SpRAy(random_state=7).fit(maps)
    np.testing.assert_allclose(other.eigenvalues_, est.eigenvalues_, atol=1e-10)
    assert adjusted_rand_score(other.labels_, est.labels_) == 1.0


def test_torch_float32_and_four_d_input(connected):
    maps, labels, _ = connected
    t = torch.from_numpy(maps[:, None].repeat(3, 1)).float() / 3      # (N, 3, H, W)
    est = SpRAy(random_state=0).fit(t)
    assert adjusted_rand_score(labels, est.labels_) == 1.0
    assert est.cluster_relevance_.shape == (4, 3, 12, 12)
    assert set(est.timings_) == {"preprocess", "knn", "eigsh", "cluster"}


def test_tsne_shape_and_unfitted_use():
    with pytest.raises(NotFittedError):
        SpRAy().tsne()
    maps, _ = planted([20, 20], noise=0.3)
    est = quiet_fit(SpRAy(n_neighbors=5, n_eigenvalues=6, random_state=0), maps)
    out = est.tsne(perplexity=8, max_iter=250)
    assert out.shape == (40, 2) and out is est.tsne_ and np.isfinite(out).all()


def test_progress_bars(monkeypatch, capsys):
    maps, _ = planted([30, 30], noise=0.6)
    SpRAy(n_eigenvalues=4, random_state=0).fit(maps)
    assert "SpRAy" not in capsys.readouterr().err               # 60 maps: auto is off
    monkeypatch.setattr(spray_module, "AUTO_PROGRESS", 50)
    SpRAy(n_eigenvalues=4, random_state=0).fit(maps)
    err = capsys.readouterr().err
    assert "SpRAy kNN graph" in err and "SpRAy eigsh" in err
    SpRAy(n_eigenvalues=4, random_state=0, progress=False).fit(maps)
    assert "SpRAy" not in capsys.readouterr().err


# ------------------------------------------------------------------------------ scikit-learn

def test_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(SpRAy(n_neighbors=3, n_eigenvalues=4, random_state=0),
                        expected_failed_checks={
                            "check_estimators_dtypes": "an all-zero integer map has no mass "
                                                       "and is refused by normalize='mass'"})


def test_get_set_params_clone_fit_predict_and_validation_in_fit(connected):
    maps, _, est = connected
    params = est.get_params()
    assert params["n_neighbors"] == 10 and params["random_state"] == 0
    twin = clone(est)
    assert twin.get_params() == params and not hasattr(twin, "labels_")
    twin.set_params(n_clusters=3)
    assert twin.n_clusters == 3
    np.testing.assert_array_equal(clone(est).fit_predict(maps), est.labels_)
    bad = SpRAy(n_neighbors=-1)                    # accepted when built, refused in fit
    with pytest.raises(ValueError, match="n_neighbors"):
        bad.fit(maps)


# ------------------------------------------------------------------------------ plots

def test_spray_eigenvalues_marks_the_gap(connected):
    import matplotlib.pyplot as plt

    *_, est = connected
    fig = spray_eigenvalues(est)
    ax = fig.axes[0]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "eigengap" in texts and "k = 4" in texts
    assert any(np.allclose(line.get_xdata(), 4.5) for line in ax.lines)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), est.eigenvalues_)
    plt.close(fig)


def test_spray_embedding_by_cluster_and_by_planted_labels(connected):
    import matplotlib.pyplot as plt

    maps, labels, est = connected
    est = clone(est).fit(maps)
    fig = spray_embedding(est)
    assert est.tsne_.shape == (140, 2)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["cluster 0 (n = 50)", "cluster 1 (n = 40)", "cluster 2 (n = 30)",
                      "cluster 3 (n = 20)"]
    plt.close(fig)
    fig = spray_embedding(est, color=np.array(["a", "b"])[labels % 2])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "a (n = 80)", "b (n = 60)"]
    plt.close(fig)
    fig = spray_embedding(est, color=np.linspace(0, 1, 140))   # continuous: a colour bar
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="one value per map"):
        spray_embedding(est, color=labels[:3])


def test_spray_clusters_rows_scale_and_members(connected):
    import matplotlib.pyplot as plt

    maps, labels, est = connected
    fig = spray_clusters(est, relevance=maps, members=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 4 * (1 + 3)
    means = [ax for ax in drawn if ax.get_title().startswith("cluster")]
    assert [ax.get_title() for ax in means] == [f"cluster {c}, n = {n}" for c, n in
                                                enumerate([50, 40, 30, 20])]
    m = np.abs(est.cluster_means_).max()
    assert all(np.allclose(ax.images[0].get_clim(), (-m, m)) for ax in means)
    members = [ax for ax in drawn if ax not in means]
    r = max(np.abs(maps[est.members(c, 3)]).max() for c in range(4))
    assert all(np.allclose(ax.images[0].get_clim(), (-r, r)) for ax in members)
    shown = [int(ax.get_title()[1:]) for ax in members]
    assert all(labels[i] == c for i, c in zip(shown, np.repeat(range(4), 3)))
    plt.close(fig)
    fig = spray_clusters(est, relevance=maps, images=maps, members=2)
    assert len([ax for ax in fig.axes if ax.images]) == 4 * (1 + 2 + 2)
    plt.close(fig)
    fig = spray_clusters(est)                                   # means only
    assert len([ax for ax in fig.axes if ax.images]) == 4
    plt.close(fig)
