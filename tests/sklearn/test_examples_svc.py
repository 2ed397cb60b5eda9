"""The digits SVC example runs quickly, writes its figure and explains every digit."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_svc.py"


def load_example():
    spec = importlib.util.spec_from_file_location("digits_svc_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_svc_example(tmp_path):
    summary = load_example().main(tmp_path, n_show=4)
    assert summary["path"].exists() and summary["path"].stat().st_size > 1000
    assert summary["agree"] > 0.99
    assert np.isfinite(summary["relevance"]).all()
    assert summary["relevance"].shape[1] == 64
    assert summary["seconds"] < 30
