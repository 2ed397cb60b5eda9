"""examples/digits_cnn.py: the CNN trains to >= 90% and its graph reproduces it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import neon
from tests.neon.nets import leaf_modules, record, rel_err

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_cnn.py"


@pytest.fixture(scope="module")
def digits_cnn():
    spec = importlib.util.spec_from_file_location("digits_cnn_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(digits_cnn):
    return digits_cnn.train_digits_cnn(seed=0)


def test_trains_to_ninety_percent(trained):
    model, X_test, y_test = trained
    assert not model.training
    assert X_test.dtype == torch.float32 and X_test.shape[1:] == (1, 8, 8)
    assert 0.0 <= float(X_test.min()) and float(X_test.max()) <= 1.0
    assert y_test.shape == (len(X_test),) and set(y_test.tolist()) == set(range(10))
    with torch.no_grad():
        acc = float((model(X_test).argmax(1) == y_test).float().mean())
    assert acc >= 0.9


def test_graph_reproduces_trained_model(trained):
    model, X_test, _ = trained
    graph = neon.neuralize(model, X_test[:1])
    with torch.no_grad():
        assert rel_err(graph(X_test), model(X_test)) <= 1e-5
        _, outputs, _ = record(model, X_test[:50])
    assert graph["features.3"].kind == "conv"  # the trained BatchNorm was folded
    names = [n for n in leaf_modules(model) if n != "features.2"]  # conv2's own output is gone
    _, acts = graph.forward(X_test[:50], keep=names)
    for name in names:
        assert rel_err(acts[name], outputs[name][0]) <= 1e-5, name
    raw = neon.neuralize(model, X_test[:1], canonicalize=False)
    assert rel_err(raw(X_test), graph(X_test)) <= 1e-5


def test_training_is_deterministic(digits_cnn):
    a, _, _ = digits_cnn.train_digits_cnn(seed=3, epochs=1)
    b, _, _ = digits_cnn.train_digits_cnn(seed=3, epochs=1)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


def test_main_prints_accuracy_summary_and_difference(digits_cnn, trained, tmp_path,
                                                     monkeypatch, capsys):
    monkeypatch.setattr(digits_cnn, "train_digits_cnn", lambda seed=0: trained)
    digits_cnn.main(tmp_path)
    text = capsys.readouterr().out
    assert "test accuracy" in text
    assert "features.0" in text and "classifier.3" in text and "Conv" in text
    assert "max |graph(x) - model(x)|" in text
    assert (tmp_path / "digits_cnn_graph.png").stat().st_size > 0
