"""The vision-transformer digits example (examples/vit_digits.py) runs on a small training
budget, writes its figures, explains the module's own logit with finite relevance, and its
faithfulness table holds the four compared methods with finite scores under both baselines.

Which method ranks first is not asserted: it is the example's measurement, not a claim.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import neon  # noqa: E402

torch.set_num_threads(1)

from tests.example_modules import load_example  # noqa: E402

EPOCHS = 8          # ~3 s of training, ~85 % test accuracy (20 in the example: ~98 %)


@pytest.fixture(scope="module")
def example():
    return load_example("vit_digits", "vit_example")


@pytest.fixture(scope="module")
def run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("vit_digits")
    return example.main(out, epochs=EPOCHS, n_faithfulness=40, n_show=4)


def test_figures_are_written_and_the_model_learned(run):
    assert run["path"].name == "vit_digits.png" and run["path"].stat().st_size > 10_000
    assert run["removal_path"].stat().st_size > 10_000
    assert run["accuracy"] > 0.6                       # chance: 0.1
    assert run["output_error"] <= 1e-5


def test_relevance_is_finite_and_explains_the_modules_logit(run):
    import lrp

    graph, model, x, target = run["graph"], run["model"], run["x"], run["target"]
    assert set(run["maps"]) >= {"AttnLRP", "CP-LRP", "gradient × input",
                                "integrated gradients", "gradient"}
    for name, maps in run["maps"].items():
        assert maps.shape == x.shape and torch.isfinite(maps).all(), name
        assert maps.abs().max() > 0, name
    with torch.no_grad():
        f = model(x).gather(1, target[:, None])[:, 0]
    np.testing.assert_allclose(run["f"], f.numpy(), rtol=1e-6)
    for composite in (lrp.AttnLRP(), lrp.CPLRP()):
        result = lrp.explain(graph, x, target, composite, return_all=True)
        torch.testing.assert_close(result.output, f, rtol=1e-5, atol=1e-5)
    # AttnLRP and CP-LRP are different rules, not gradient × input under another name
    assert not torch.allclose(run["maps"]["AttnLRP"], run["maps"]["CP-LRP"], atol=1e-4)
    assert not torch.allclose(run["maps"]["AttnLRP"], run["maps"]["gradient × input"],
                              atol=1e-4)


def test_gradient_x_input_matches_autograd_on_the_module(run):
    model, x, target = run["model"], run["x"], run["target"]
    leaf = x.clone().requires_grad_(True)
    model(leaf).gather(1, target[:, None]).sum().backward()
    torch.testing.assert_close(run["maps"]["gradient"], leaf.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(run["maps"]["gradient × input"], leaf.grad * x, rtol=1e-4,
                               atol=1e-6)


def test_faithfulness_table_has_the_four_methods_with_finite_aucs(run, example):
    rows = {row["method"]: row for row in run["rows"]}
    assert set(example.COMPARED) <= set(rows)
    assert set(run["results"]) == {"zero", "training mean"}
    for name in example.COMPARED:
        for baseline in ("zero", "training mean"):
            cell = rows[name][baseline]
            assert all(np.isfinite(cell[k]) for k in ("morf", "lerf", "gap")), (name, baseline)
            r = run["results"][baseline][name]
            assert r.n == 40 and r.steps == example.STEPS
            assert cell["gap"] == pytest.approx(cell["lerf"] - cell["morf"], abs=1e-9)
    text = example.format_table(run["rows"])
    assert all(f"| {name} |" in text for name in example.COMPARED)


def test_a_learned_class_token_imports_as_a_constant(example):
    model = example.build_vit(seed=3).eval()
    with torch.no_grad():
        model.class_token.normal_()
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    graph = neon.from_torch(model, x)
    torch.testing.assert_close(graph["class_token"].op.value, model.class_token[0].detach())
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=1e-5, atol=1e-6)
