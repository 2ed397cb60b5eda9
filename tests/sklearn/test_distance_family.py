"""One distance layer for the whole NEON family: k-means, one-class SVM and SVC whose centres
coincide, behind the same StandardScaler + PCA(3), get the same distance op and the same
per-feature split; and the preimage policy for centres under preprocessing, checked against
scikit-learn's own ``inverse_transform``."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import neon
from lrp import rules


@functools.cache
def wine():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    return X.astype(np.float64), y


@functools.cache
def family():
    """Fitted scaler + PCA(3), and three pipelines sharing them whose centres coincide."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, OneClassSVM

    X, y = wine()
    scaler = StandardScaler().fit(X)
    pca = PCA(3).fit(scaler.transform(X))
    Z = pca.transform(scaler.transform(X))

    def pipe(final):
        return Pipeline([("scale", scaler), ("pca", pca), ("model", final)])

    def kmeans_at(points):
        """A k-means whose centroids are exactly ``points`` (one cluster per point)."""
        km = KMeans(len(points), init=points, n_init=1, max_iter=1).fit(points)
        km.cluster_centers_ = points.copy()
        return km

    ocsvm = OneClassSVM(gamma=0.3, nu=0.1).fit(Z)
    svc = SVC(gamma=0.3).fit(Z, y)
    return dict(X=X, Z=Z, prefix=pipe("passthrough")[:-1], ocsvm=pipe(ocsvm),
                kmeans=pipe(kmeans_at(ocsvm.support_vectors_)), svc=pipe(svc),
                kmeans_svc=pipe(kmeans_at(svc.support_vectors_)))


def distance_op(pipeline):
    """The distance layer, as every distance model builds it (k-means with its published
    midpoint network: with data its default splits relative to the data mean instead)."""
    kmeans = type(pipeline[-1]).__name__ == "KMeans"
    graph = neon.neuralize(pipeline, wine()[0], **({"root": "midpoint"} if kmeans else {}))
    node = next(n for n in graph.nodes if isinstance(n.op, neon.ops.SquaredDistance))
    return node.op


def raw_centres(op) -> np.ndarray:
    v = op.centers if op.origin is None else op.centers + op.origin
    return v.numpy()


def test_kmeans_and_ocsvm_share_the_distance_layer():
    f = family()
    km, oc = distance_op(f["kmeans"]), distance_op(f["ocsvm"])
    sv = f["ocsvm"][-1].support_vectors_
    np.testing.assert_array_equal(f["kmeans"][-1].cluster_centers_, sv)
    assert km.n_units == oc.n_units == len(sv) >= 2
    # the centres, in raw features, are the preimages scikit-learn's inverse gives
    expected = f["prefix"].inverse_transform(sv)
    np.testing.assert_allclose(raw_centres(km), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(raw_centres(oc), raw_centres(km), rtol=1e-12, atol=1e-12)
    # and they measure the same distances: ‖PCA(scaler(x)) − u_k‖², computed by scikit-learn
    X = torch.as_tensor(f["X"][::9])
    d_ref = ((f["prefix"].transform(X.numpy())[:, None, :] - sv[None]) ** 2).sum(2)
    np.testing.assert_allclose(km(X).numpy(), d_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(oc(X).numpy(), d_ref, rtol=1e-9, atol=1e-9)

    # the per-feature split agrees for the same t, and matches the Euler split by hand
    t = torch.as_tensor(np.random.default_rng(0).normal(size=(len(X), len(sv))))
    s_km, s_oc = km.split(X, t), oc.split(X, t)
    torch.testing.assert_close(s_km, s_oc, rtol=1e-10, atol=1e-10)
    M = f["prefix"][1].components_ / f["prefix"][0].scale_       # A = P diag(1/σ)
    M = M.T @ M
    diff = X.numpy()[:, None, :] - expected[None]                # (N, K, d)
    euler = diff * np.einsum("ij,nkj->nki", M, diff)             # c_ki
    np.testing.assert_allclose(s_km.numpy(), np.einsum("nk,nki->ni", t.numpy(), euler),
                               rtol=1e-8, atol=1e-8 * np.abs(euler).max())

    # DistanceSplit with the same relevance gives the same per-feature relevance
    R = torch.as_tensor(np.random.default_rng(1).uniform(0.1, 1.0, size=(len(X), len(sv))))
    (r_km,) = rules.DistanceSplit()(km, [X], km(X), R)
    (r_oc,) = rules.DistanceSplit()(oc, [X], oc(X), R)
    torch.testing.assert_close(r_km, r_oc, rtol=1e-10, atol=1e-10)
    # conserved, except the share of a unit whose centre is the sample itself (absorbed)
    rows = np.arange(0, len(f["X"]), 9)
    own = rows[:, None] == f["ocsvm"][-1].support_[None, :]     # sample n is support vector k
    assert own.any()
    expected_total = (R.numpy() * ~own).sum(1)
    np.testing.assert_allclose(r_km.sum(1).numpy(), expected_total, rtol=1e-9, atol=1e-9)


def test_distance_split_at_a_support_vector():
    """A sample that is a support vector (a near pair, computed directly) splits the same."""
    f = family()
    km, oc = distance_op(f["kmeans"]), distance_op(f["ocsvm"])
    x = torch.as_tensor(f["X"][f["ocsvm"][-1].support_[:3]])
    R = torch.ones(len(x), km.n_units, dtype=torch.float64)
    (r_km,) = rules.DistanceSplit()(km, [x], km(x), R)
    (r_oc,) = rules.DistanceSplit()(oc, [x], oc(x), R)
    assert len(km.near_pairs(km(x))[0]) >= 3
    torch.testing.assert_close(r_km, r_oc, rtol=1e-10, atol=1e-10)


def test_svc_shares_the_distance_layer_too():
    f = family()
    svc, km = distance_op(f["svc"]), distance_op(f["kmeans_svc"])
    sv = f["svc"][-1].support_vectors_
    assert svc.n_units == km.n_units == len(sv)
    np.testing.assert_allclose(raw_centres(svc), f["prefix"].inverse_transform(sv),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(raw_centres(svc), raw_centres(km), rtol=1e-12, atol=1e-12)
    X = torch.as_tensor(f["X"][::11])
    t = torch.as_tensor(np.random.default_rng(2).normal(size=(len(X), len(sv))))
    torch.testing.assert_close(svc.split(X, t), km.split(X, t), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------- the preimage policy

def _pipeline(X, with_scaler):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = ([StandardScaler()] if with_scaler else []) + [PCA(3)]
    return make_pipeline(*steps, KMeans(3, n_init=2, random_state=0)).fit(X)


def _preprocessing(pipeline, X):
    prep = neon.neuralize(pipeline, X).meta["preprocessing"]
    assert prep.matrix is not None and prep.matrix.shape == (3, X.shape[1])
    return prep


def _points(seed=0):
    return np.random.default_rng(seed).normal(scale=2.0, size=(6, 3))


@pytest.mark.parametrize("with_scaler", [False, True], ids=["PCA", "StandardScaler+PCA"])
def test_preimage_is_sklearns_inverse_transform(with_scaler):
    X = wine()[0]
    pipe = _pipeline(X, with_scaler)
    prep = _preprocessing(pipe, X)
    u = _points()
    v = prep.preimage(u)
    np.testing.assert_allclose(v, pipe[:-1].inverse_transform(u), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(pipe[:-1].transform(v), u, rtol=1e-10, atol=1e-10)
    if not with_scaler:
        np.testing.assert_allclose(v, pipe[0].inverse_transform(u), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("with_scaler", [False, True], ids=["PCA", "StandardScaler+PCA"])
def test_preimage_moves_with_the_data_but_least_norm_does_not(with_scaler):
    X = wine()[0]
    shift = np.linspace(-50.0, 80.0, X.shape[1])
    p1, p2 = _preprocessing(_pipeline(X, with_scaler), X), \
        _preprocessing(_pipeline(X + shift, with_scaler), X + shift)
    # the refit maps are the same up to the shift: x ↦ A x + c and x ↦ A x + c − A·shift
    np.testing.assert_allclose(p2.matrix, p1.matrix, rtol=1e-8, atol=1e-10)
    u = _points(1)
    v1, v2 = p1.preimage(u), p2.preimage(u)
    np.testing.assert_allclose(v2 - v1, np.broadcast_to(shift, v1.shape), rtol=1e-8,
                               atol=1e-8)

    def least_norm(p):
        return (np.linalg.pinv(p.dense()) @ (u - p.offset).T).T

    n1, n2 = least_norm(p1), least_norm(p2)
    for p, n in ((p1, n1), (p2, n2)):      # also a preimage ...
        np.testing.assert_allclose(p.transform(n), u, rtol=1e-8, atol=1e-8)
    # ... but it does not move with the data: it keeps to the origin
    assert np.abs((n2 - n1) - shift).max() > 1.0
    assert np.abs(n2 - v2).max() > 1.0
