"""The ROAR digits example (examples/roar_digits.py) on its smallest budget: 2 epochs per
retraining, one repeat, two fractions, a data randomization test on 100 digits. What is
asserted: the shapes and the bookkeeping (every method and the random ranking at every
fraction; accuracies are fractions of the 360 test digits), the figure, the printed table,
and two robust claims (the unmodified CNN learned; the permuted-label CNN memorised its
labels and is near chance on the true ones). Which method ranks first is the example's
measurement, not asserted.

Independent check: the unmodified accuracy is recomputed from a DigitsCNN trained here with
the same seed and the module's own forward pass (no lrp code).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from tests.example_modules import load_example  # noqa: E402

BUDGET = {"epochs": 2, "repeats": 1, "fractions": (0.3, 0.7), "n_randomization": 100,
          "randomization_epochs": 60, "n_explained": 16}


@pytest.fixture(scope="module")
def example():
    return load_example("roar_digits", "roar_example")


@pytest.fixture(scope="module")
def run(example, tmp_path_factory):
    return example.main(tmp_path_factory.mktemp("roar_digits"), **BUDGET)


def test_roar_table_holds_every_method_at_every_fraction(run, example):
    r = run["roar"]
    assert r.methods == [*example.methods(), "random"]
    np.testing.assert_array_equal(r.fractions, BUDGET["fractions"])
    np.testing.assert_array_equal(r.removed, [19, 45])            # ⌊0.3·64 + ½⌋, ⌊0.7·64 + ½⌋
    assert r.units == 64 and r.n_train == 1437 and r.n_test == 360
    for name, acc in r.accuracy.items():
        assert acc.shape == (1, 2), name
        counts = acc * r.n_test                                    # whole test digits
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-9, err_msg=name)
        assert ((acc >= 0) & (acc <= 1)).all(), name
    text = r.table()
    assert all(name in text for name in r.methods)


def test_unmodified_accuracy_is_the_cnns_own(run, example):
    X_train, X_test, y_train, y_test = (run[k] for k in ("X_train", "X_test", "y_train",
                                                         "y_test"))
    model = example.trainer(BUDGET["epochs"])(X_train, y_train, run["roar"].seeds[0])
    with torch.no_grad():
        acc = float((model(X_test).argmax(1) == y_test).double().mean())
    assert run["roar"].original[0] == pytest.approx(acc, abs=1e-12)
    assert acc > 0.8                                                # chance: 0.1


def test_data_randomization_memorises_and_reports(run, example):
    assert set(run["randomization"]) == set(example.RANDOMIZED)
    for name, r in run["randomization"].items():
        rho = r.scores["spearman"].values
        assert rho.shape == (BUDGET["n_explained"],) and np.isfinite(rho).all(), name
        assert r.accuracy_permuted >= 0.9, name                     # memorised
        assert r.accuracy_permuted_on_true < 0.4, name              # chance: about 0.1
        assert r.accuracy_true > 0.9, name


def test_figure_is_written(run):
    assert run["path"].name == "roar_digits.png" and run["path"].stat().st_size > 20_000
