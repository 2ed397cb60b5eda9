"""The NEON examples run quickly, save their figures and report conserved relevance."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,figure", [("wine_kmeans", "wine_kmeans_relevance.png"),
                                         ("digits_outlier", "digits_outlier_heatmaps.png")])
def test_example_runs(tmp_path, capsys, name, figure):
    path = load(name).main(tmp_path)
    assert path == tmp_path / figure
    assert path.stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "sum of relevance" in out
    if name == "wine_kmeans":
        assert "(majority class" in out
        gap = float(out.split("max |sum_i R_i - logit| over all 178 samples: ")[1].split()[0])
        assert gap < 1e-10
    else:
        assert "outlier" in out and "100.0% of held-out" in out
