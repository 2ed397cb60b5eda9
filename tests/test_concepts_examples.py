"""The concept examples run, save their figures, and their numbers hold up against what the
test computes directly from the graphs and from scikit-learn: TCAV tables with one row per
hypothesis and probabilities for p-values, the planted facts of each data set, prototypes
inside the box that beat every real input, and random-vs-random checks that stay
insignificant where the example says so.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import concepts  # noqa: E402

torch.set_num_threads(1)

from tests.example_modules import load_example  # noqa: E402


def load(name):
    return load_example(name, "concepts_examples")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    module = load("concepts_digits")
    return module, module.main(tmp_path_factory.mktemp("concepts_digits"))


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    module = load("concepts_wine")
    return module, module.main(tmp_path_factory.mktemp("concepts_wine"))


def rows(result):
    return {(r["concept"], r["node"]): r for r in result.rows}


def check_p_values(table):
    p, q = np.asarray(table["p_value"], float), np.asarray(table["p_adjusted"], float)
    assert ((p >= 0) & (p <= 1)).all() and ((q >= 0) & (q <= 1)).all()
    assert (q >= p - 1e-12).all()                              # Holm never lowers a p-value
    assert (np.asarray(table["significant"]) == (q <= 0.05)).all()


# ----------------------------------------------------------------------------- digits


def test_digits_figures_exist(digits):
    _, out = digits
    for key in ("tcav_path", "channels_path"):
        assert out[key].exists() and out[key].stat().st_size > 20_000, key


def test_digits_tcav_tables_have_every_hypothesis(digits):
    module, out = digits
    assert list(out["tcav"]) == list(module.CLASSES)
    for k, result in out["tcav"].items():
        table = result.to_frame()
        assert len(table) == len(out["sets"]) * len(module.NODES)
        assert set(zip(table["concept"], table["node"])) == {
            (c, n) for c in out["sets"] for n in module.NODES}
        assert (table["target"] == k).all() and (table["runs"] == module.RUNS).all()
        check_p_values(table)
        assert ((table["score_mean"] >= 0) & (table["score_mean"] <= 1)).all()


def test_digits_ink_at_the_top_drives_the_seven_and_not_the_zero(digits):
    """A 7 is its top bar: moving the conv activations toward digits with ink in the top
    rows raises the class-7 logit for (nearly) every 7 and lowers the class-0 logit."""
    _, out = digits
    seven, zero = rows(out["tcav"][7]), rows(out["tcav"][0])
    for node in ("features.1", "features.4"):
        r = seven[("ink at the top", node)]
        assert r["significant"] and r["score_mean"] >= 0.95 and r["near_chance_cavs"] == 0
        r = zero[("ink at the top", node)]
        assert r["significant"] and r["score_mean"] <= 0.1


def test_digits_concept_sets_are_what_they_say(digits):
    _, out = digits
    sets = out["sets"]
    for name, x in sets.items():
        assert x.shape == (50, 1, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 1, name
    top = sets["ink at the top"][:, 0, :2].sum((1, 2))
    assert float(top.min()) > float(sets["random digits (control)"][:, 0, :2].sum((1, 2))
                                    .mean())
    assert bool((sets["stripes"][:, 0, ::2] >= 0.5).all())        # every other row lit


def test_digits_channel_prototypes_beat_every_test_digit_inside_the_box(digits):
    module, out = digits
    graph, X_test = out["graph"], out["X_test"]
    acts = concepts.activations(graph, X_test, "features.4").mean((2, 3))
    assert torch.allclose(out["channel_activations"], acts)
    for c, r in zip(module.CHANNELS, out["prototypes"]):
        x = r.inputs
        assert x.shape == (1, 1, 8, 8)
        assert float(x.min()) >= 0 and float(x.max()) <= 1
        j = concepts.activations(graph, x, "features.4").mean((2, 3))[0, c]
        assert float(j) == pytest.approx(float(r.objective[0]), rel=1e-5, abs=1e-6)
        assert float(j) > float(acts[:, c].max()), c


# ------------------------------------------------------------------------------- wine


def test_wine_figures_exist(wine):
    _, out = wine
    for key in ("tcav_path", "prototypes_path"):
        assert out[key].exists() and out[key].stat().st_size > 20_000, key


def test_wine_tcav_table_has_the_concepts_times_clusters_rows(wine):
    module, out = wine
    table = out["table"]
    names = list(module.GROUPS) + [module.CONTROL]
    assert len(table) == len(names) * 3
    assert set(zip(table["concept"], table["target"])) == {(c, k) for c in names
                                                           for k in range(3)}
    assert (table["node"] == "x").all() and (table["learner"] == "mean_difference").all()
    check_p_values(table)
    for k, result in out["tcav"].items():          # each cluster's inputs are its members
        assert result.settings["inputs"] == int((out["cluster"] == k).sum())
        assert result.targets[0]["share"] == 1.0


def test_wine_concepts_are_significant_and_the_random_check_is_not(wine):
    module, out = wine
    table = out["table"]
    assert table["significant"].any()
    control = table[table["concept"] == module.CONTROL]
    assert not control["significant"].any()
    assert (control["p_adjusted"] > 0.2).all()


def test_wine_phenolic_concept_raises_the_logit_of_the_most_phenolic_cluster(wine):
    """The cluster whose centroid has the most flavanoids (the Barolos) gains from more
    phenols in every run and every member wine: its logit's gradient points that way."""
    module, out = wine
    pipe, names = out["pipe"], out["names"]
    centers = pipe[-1].cluster_centers_
    k = int(np.argmax(centers[:, names.index("flavanoids")]))
    r = rows(out["tcav"][k])[("phenolic", "x")]
    assert r["significant"] and r["score_mean"] > r["null_mean"] and r["score_mean"] >= 0.9
    # the directional derivative along the concept's shift, computed here from sklearn:
    # f_k = d_j − d_k with j the nearest other centroid, in standardized units
    X = out["X"]
    Z = pipe[0].transform(pd.DataFrame(X, columns=names))
    members = Z[out["cluster"] == k]
    d = ((members[:, None] - centers[None]) ** 2).sum(2)
    d[:, k] = np.inf
    nearest = d.argmin(1)
    shift = np.zeros(len(names))
    for f in module.GROUPS["phenolic"]:
        shift[names.index(f)] = 1.0
    slope = 2 * (centers[k] - centers[nearest]) @ shift
    assert (slope > 0).mean() >= 0.9


def test_wine_kmeans_prototypes_lie_in_the_box_and_beat_every_wine(wine):
    _, out = wine
    graph, X, pipe, names = out["graph"], out["X"], out["pipe"], out["names"]
    low, high = X.min(0), X.max(0)
    logits = np.asarray(graph(X))
    for c, r in enumerate(out["kmeans_prototypes"]):
        x = r.best(1)
        assert isinstance(x, np.ndarray) and x.shape == (1, 13)
        assert ((x >= low - 1e-9) & (x <= high + 1e-9)).all()
        # the logit from scikit-learn's own distances
        d = pipe.transform(pd.DataFrame(x, columns=names))[0] ** 2
        f = np.delete(d, c).min() - d[c]
        assert f == pytest.approx(float(r.objective[r.order[0]]), rel=1e-6)
        assert f > logits[:, c].max()
        assert int(pipe.predict(pd.DataFrame(x, columns=names))[0]) == c


def test_wine_one_class_svm_prototype_is_an_inlier_where_wines_are(wine):
    _, out = wine
    X, names = out["X"], out["names"]
    r = out["oc_prototype"]
    x = r.best(1)
    assert ((x >= X.min(0) - 1e-9) & (x <= X.max(0) + 1e-9)).all()
    oc_pipe, kde_pipe = out["oc_pipe"], out["kde_pipe"]
    frame = pd.DataFrame(x, columns=names)
    data = pd.DataFrame(X, columns=names)
    assert oc_pipe.score_samples(frame)[0] > oc_pipe.score_samples(data).max()
    assert float(np.asarray(out["oc_graph"](x)).ravel()[0]) == pytest.approx(
        -float(r.objective[r.order[0]]), rel=1e-9)
    log_p = kde_pipe.score_samples(data)
    assert kde_pipe.score_samples(frame)[0] > np.quantile(log_p, 0.9)
