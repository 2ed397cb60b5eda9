"""The LRP digits example runs and its heatmaps explain the predicted logit."""

import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def example():
    sys.path.insert(0, str(EXAMPLES))
    import lrp_digits

    return lrp_digits


def test_example_saves_heatmaps(example, tmp_path, capsys):
    example.main(tmp_path)
    assert (tmp_path / "lrp_digits.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "EpsilonPlusFlat" in out and "entry 1: last" in out


def test_custom_composite_assigns_lrp0_to_the_last_layer(example):
    from digits_cnn import DigitsCNN

    import lrp
    import neon

    torch.manual_seed(0)
    model = DigitsCNN().eval()
    graph = neon.neuralize(model, torch.rand(1, 1, 8, 8))
    assigned = example.composites()["custom"].assign(graph)
    last = graph.nodes[-1].name
    assert isinstance(assigned[last], lrp.rules.Epsilon) and assigned[last].stabilizer == 0.0
    assert isinstance(assigned[graph.nodes[0].name], lrp.rules.Flat)

