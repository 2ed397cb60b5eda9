"""The text example (examples/text_sentiment.py) trains a text CNN and an LSTM on its
generated corpus, explains them token by token and writes one figure per model.

Asserted: the models learn, the unrolled LSTM reproduces the module, and every method's
evidence recall is a fraction; LRP and gradient × input find the planted sentiment words far
above chance on the text CNN (the ranking of the methods is the example's measurement).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

from tests.example_modules import load_example  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    example = load_example("text_sentiment", "text_example")
    out = tmp_path_factory.mktemp("text")
    return example.main(out, n_train=1000, steps=120, n_test=60), out


def test_figures_are_written(run):
    _, out = run
    for name in ("cnn", "lstm"):
        assert (out / f"text_sentiment_{name}.png").stat().st_size > 10_000


def test_the_planted_evidence_is_found(run):
    table, _ = run
    for model in ("text CNN", "LSTM"):
        scores = table[model]
        assert all(0 <= v <= 1 for k, v in scores.items() if k != "conservation")
        assert scores["LRP"] > 2 * scores["random"]
    assert table["text CNN"]["LRP"] > 0.8 and table["text CNN"]["gradient × input"] > 0.8
