"""The removal experiment on neuralized scikit-learn models (examples/removal_neon.py), in
its quick version: the claims that hold robustly, an independent recomputation of one
curve, and the figure.

What is asserted, all under feature removal most relevant first (MoRF AUC, lower is better):

* every number is finite, every curve starts at f/f(x) = 1, every time is positive;
* on k-means and the one-class SVM, NEON, occlusion, LIME (and shap) beat a random ordering
  under the mean baseline, and on the one-class SVM so do gradient and gradient × input (on
  k-means those two do not: measured, see the example's docstring);
* on k-means and the one-class SVM NEON is within 25 % of the random-to-best range of the
  best method, under both baselines;
* the known weak spots stay visible: on the RBF SVC and the raw-feature logistic regression
  occlusion beats NEON by a wide margin (if NEON improves there, the docstring is stale);
* the example's NEON and random AUCs on k-means equal a numpy recomputation that uses
  scikit-learn's own distances and no code of lrp.metrics.
"""

from __future__ import annotations

import importlib.util

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import lrp  # noqa: E402
import lrp.metrics  # noqa: E402
from tests.example_modules import load_example  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # shap's import

HAS_SHAP = importlib.util.find_spec("shap") is not None
ROBUST = ("wine k-means", "digits one-class SVM")
MARGIN = 0.25      # NEON's AUC within this share of (random − best) of the best method's


@pytest.fixture(scope="module")
def example():
    return load_example("removal_neon", "removal_neon")


@pytest.fixture(scope="module")
def results(example, tmp_path_factory):
    """The quick run, through main (table and figure) when shap is there, else without the
    shap column and with the figure drawn by ``plot``."""
    out = tmp_path_factory.mktemp("removal_neon")
    if HAS_SHAP:
        return example.main(out, quick=True)
    got = example.run(quick=True, shap_nsamples=None)
    example.plot(got, out / "removal_neon.png")
    return {**got, "path": out / "removal_neon.png"}


def methods_of(rows, *, shap=True):
    return [m for m in rows if not m.startswith("_") and (shap or m != "shap")]


def test_numbers_are_finite_and_curves_start_at_one(example, results):
    assert tuple(results) == (*example.MODELS, "path")
    for model in example.MODELS:
        rows = results[model]
        expected = [m for m in example.METHODS if HAS_SHAP or m != "shap"]
        assert methods_of(rows) == expected, model
        info = rows["_info"]
        assert info["n"] == 12 and len(info["index"]) == 12
        assert np.isfinite(info["f_mean"]) and info["f_mean"] > 0
        for method in methods_of(rows):
            row = rows[method]
            for key in ("auc_mean", "auc_resample", "gap_mean", "gap_resample", "seconds"):
                assert np.isfinite(row[key]), (model, method, key)
            assert row["seconds"] > 0
            for baseline in example.BASELINES:
                curve = row[f"curve_{baseline}"]
                assert curve.shape == (info["features"] + 1,)
                assert np.all(np.isfinite(curve))
                assert curve[0] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("model", ROBUST)
def test_methods_beat_random_under_the_mean_baseline(results, model):
    rows = results[model]
    better = ["NEON", "occlusion", "LIME"]
    if model == "digits one-class SVM":
        better += ["gradient", "gradient × input"]
    for method in better:
        assert rows[method]["auc_mean"] < rows["random"]["auc_mean"], (model, method)
        assert rows[method]["gap_mean"] > rows["random"]["gap_mean"], (model, method)


@pytest.mark.parametrize("model", ROBUST)
@pytest.mark.parametrize("baseline", ["mean", "resample"])
def test_neon_is_near_the_best(results, model, baseline):
    rows = results[model]
    key = f"auc_{baseline}"
    aucs = {m: rows[m][key] for m in methods_of(rows) if m != "random"}
    best = min(aucs.values())
    spread = rows["random"][key] - best
    assert spread > 0
    assert aucs["NEON"] <= best + MARGIN * spread, (aucs, rows["random"][key])


@pytest.mark.parametrize("model", ["breast-cancer SVC", "wine logistic regression"])
def test_neon_matches_occlusion_on_the_supervised_models(results, model):
    """The former weak spots (issue 12): with roots from the training data, NEON's removal
    curve on the RBF SVC (DuelTaylor) and on the raw-feature logistic regression is as low
    as occlusion's (it was 0.5 AUC behind)."""
    rows = results[model]
    for baseline in ("mean", "resample"):
        key = f"auc_{baseline}"
        spread = rows["random"][key] - rows["occlusion"][key]
        assert spread > 0, (model, baseline)
        assert rows["NEON"][key] <= rows["occlusion"][key] + 0.1 * spread, (model, baseline)


def test_shap_beats_random_on_kmeans_and_the_one_class_svm(results):
    pytest.importorskip("shap")
    for model in ROBUST:
        rows = results[model]
        assert rows["shap"]["auc_mean"] < rows["random"]["auc_mean"], model
        # shap is close to occlusion on these models (both measure against the data)
        spread = rows["random"]["auc_mean"] - rows["occlusion"]["auc_mean"]
        assert abs(rows["shap"]["auc_mean"] - rows["occlusion"]["auc_mean"]) < 0.2 * spread


def _kmeans_auc_by_numpy(pipe, x, relevance, data, target):
    """MoRF AUC of the assigned cluster's logit under the mean baseline, one feature per
    step: f_c = min_{k≠c} (d_k − d_c), d from scikit-learn's ``transform`` (Euclidean
    distances to the centres in the standardized space), the trapezoid rule over k/d."""
    n, d = x.shape
    order = np.argsort(-relevance, axis=1, kind="stable")
    mean = data.mean(0)
    curve = np.empty((n, d + 1))
    copy = x.copy()
    rows = np.arange(n)

    def logit(z):
        dist = pipe.transform(z) ** 2
        own = dist[rows, target]
        dist[rows, target] = np.inf
        return dist.min(1) - own

    curve[:, 0] = logit(copy)
    for k in range(d):
        j = order[:, k]
        copy[rows, j] = mean[j]
        curve[:, k + 1] = logit(copy)
    ratio = curve / curve[:, :1]
    return np.mean((ratio[:, 1:] + ratio[:, :-1]).sum(1) / (2 * d))


def test_kmeans_auc_matches_a_numpy_recomputation(example, results):
    model = example.build(0)["wine k-means"]
    x = model["pool"][results["wine k-means"]["_info"]["index"]]
    target = model["target"](x)
    pipe = model["estimator"]
    for method, relevance in (("NEON", lrp.explain(model["graph"], x, target)),
                              ("random", lrp.metrics.random_relevance(x, seed=0))):
        expected = _kmeans_auc_by_numpy(pipe, x, np.asarray(relevance), model["data"], target)
        got = results["wine k-means"][method]["auc_mean"]
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), method


def test_figure_is_written(example, results):
    path = results["path"]
    assert path.name == "removal_neon.png"
    assert path.exists() and path.stat().st_size > 30_000
    models = {m: results[m] for m in example.MODELS}
    fig = example.plot(models)
    assert len(fig.axes) == len(example.MODELS) * len(example.BASELINES)
    text = example.table(models)
    assert all(model in text for model in example.MODELS)
