"""Each ```python block of the README runs on its own, in a fresh interpreter, as written.

A reader copies one block, not the whole page: every block must bring its own imports and
data. Each runs in a subprocess (``MPLBACKEND=Agg``, one thread, outside the repository),
with a few assert lines appended that check what its comments promise, and with the
composite warnings about entries that match nothing turned into errors (the README's
composites must be valid as written).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)

# What the comments of each block promise, keyed by a line that identifies the block.
CHECKS = {
    "R_cp = lrp.explain(graph, x, composite=lrp.CPLRP())": """
for R in (R_attn, R_cp):
    assert tuple(R.shape) == (2, 3, 224, 224) and bool(torch.isfinite(R).all())
assert "UniformSplit" in lrp.AttnLRP().describe(graph)
assert not torch.allclose(R_attn, R_cp)
""",
    "again = lrp.explain_dataset(graph, X, batch_size=5_000, out=\"kmeans.zarr\"": """
assert stored.relevance.shape == (50_000, 8)
np.testing.assert_allclose(stored.conservation, 1.0, rtol=1e-9)
assert np.array_equal(again.relevance[:], stored.relevance[:])
assert np.array_equal(stored.relevance[:1000], lrp.explain(graph, X[:1000]))
""",
    "R_dims = lrp.explain(view, vectors, target=1)": """
assert tuple(R.shape) == (4, 12) and tuple(G.shape) == (4, 12)
assert bool((R[:, 10:] == 0).all()) and bool((G[:, 10:] == 0).all())
assert tuple(R_dims.shape) == (4, 12, 16)
assert torch.allclose(R, R_dims.sum(-1).masked_fill(ids == 0, 0))
assert torch.allclose(graph(ids), model(ids), atol=1e-5)
""",
    "R = lrp.explain(graph, x, composite=lrp.EpsilonGammaBox(low=0.0, high=1.0))": """
assert tuple(R.shape) == (2, 3, 224, 224), R.shape
assert isinstance(R, torch.Tensor) and bool(torch.isfinite(R).all())
logit = graph(x).max(1).values
total = R.sum((1, 2, 3))
assert bool(((total - logit).abs() <= 0.1 * logit.abs()).all()), (total, logit)
""",
    "Rk = lrp.explain(clusters, X[:5])": """
import numpy as np
assert isinstance(Rk, np.ndarray) and Rk.shape == (5, X.shape[1])
np.testing.assert_allclose(Rk.sum(1), clusters(X[:5]).max(1), rtol=1e-9)
R0 = lrp.explain(clusters, X[:5], target=0)
np.testing.assert_allclose(R0.sum(1), clusters(X[:5])[:, 0], rtol=1e-9, atol=1e-12)
""",
    "R = lrp.explain(graph, X.iloc[:5], target=model.predict(X.iloc[:5]))": """
import numpy as np, pandas as pd
assert isinstance(R, pd.DataFrame) and list(R.columns) == list(X.columns)
chosen = np.searchsorted(model.classes_, model.predict(X.iloc[:5]))   # labels -> columns
by_column = lrp.explain(graph, X.iloc[:5].to_numpy(), target=lrp.Column(chosen),
                        return_all=True)
np.testing.assert_allclose(R.to_numpy(), by_column.relevance, rtol=1e-12)
decision = model.decision_function(X.iloc[:5])[np.arange(5), chosen]
np.testing.assert_allclose(by_column.output.numpy(), decision, rtol=1e-9)
""",
    "print(composite.describe(graph))": """
text = composite.describe(graph)
assert "problem" not in text and "unmatched" not in text, text
assert len(text.splitlines()) == len(graph.nodes) + 2, text
assert isinstance(res.relevance, torch.Tensor) and tuple(res.relevance.shape) == (2, 3, 224, 224)
assert bool(torch.isfinite(res.relevance).all()) and bool(torch.isfinite(R).all())
assert tuple(R.shape) == (2, 3, 224, 224)
assert "problem" not in tweaked.describe(graph)
""",
    'lrp.grad_cam(graph, x, target, node="layer4")': """
for name, m in maps.items():
    assert isinstance(m, torch.Tensor) and bool(torch.isfinite(m).all()), name
    expected = (2, 1, 224, 224) if name == "Grad-CAM" else (2, 3, 224, 224)
    assert tuple(m.shape) == expected, (name, m.shape)
assert float(ig.info["relative_gap"].max()) < 0.5, ig.info
""",
    "lrp.occlusion(graph, wine, target=cluster, window=1, baseline=mean)": """
import numpy as np, pandas as pd
for frame in (neon_R, occluded, lime):
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(X.columns)
logits = graph(wine.to_numpy())
np.testing.assert_allclose(neon_R.sum(1), logits[np.arange(3), cluster], rtol=1e-9)
for j in range(X.shape[1]):     # occlusion with window 1: the drop when feature j is the mean
    moved = wine.to_numpy().copy()
    moved[:, j] = mean[j]
    drop = logits[np.arange(3), cluster] - graph(moved)[np.arange(3), cluster]
    np.testing.assert_allclose(occluded.iloc[:, j], drop, rtol=1e-9, atol=1e-9)
""",
    'concepts.tcav(graph, X[cluster == 0], {"phenolic": phenolic}': """
row = result.table()[0]
assert row["concept"] == "phenolic" and row["target"] == 0, row
assert 0.0 <= row["p_adjusted"] <= 1.0 and 0.0 <= row["score_mean"] <= 1.0, row
best = proto.best(1)
best = np.asarray(best).reshape(-1, X.shape[1])
assert bool(((best >= X.min(0) - 1e-9) & (best <= X.max(0) + 1e-9)).all()), best
logit = graph(best)[:, 0]
assert float(logit.max()) >= float(graph(X)[:, 0].max()) - 1e-6, (logit, graph(X)[:, 0].max())
""",
    "spray = SpRAy(n_neighbors=5, random_state=0).fit(R)": """
neon_auc, random_auc = flips["NEON"].auc["morf"], flips["random"].auc["morf"]
assert not neon_auc.higher_is_better and neon_auc.mean() < random_auc.mean() - 0.3
assert flips["NEON"].gap.higher_is_better and flips["NEON"].gap.mean() > 1.0
assert flips["NEON"].curves["morf"].shape == (len(X), flips["NEON"].steps + 1)
check = conservation(graph, X, lrp.explain, cluster)
assert check.delta.quantile(0.95) < 1e-9, check.summary()
assert len(spray.labels_) == int((cluster == 0).sum()) and spray.eigengap_ >= 1
assert len(fig.axes[0].get_lines()) == 6          # three methods, MoRF and LeRF each
""",
}


def _key(block: str) -> str | None:
    keys = [k for k in CHECKS if k in block]
    assert len(keys) <= 1, keys
    return keys[0] if keys else None


def test_every_check_has_its_block():
    assert len(BLOCKS) >= 3
    found = [_key(b) for b in BLOCKS]
    missing = [k for k in CHECKS if k not in found]
    assert not missing, f"README blocks changed: no block contains {missing}"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_alone(index, tmp_path):
    block = BLOCKS[index]
    key = _key(block)
    code = block + ("\n" + CHECKS[key] if key else "")
    root = str(README.parent)
    path = os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=path)
    # warnings.filterwarnings("error", message="composite entry") for the whole run
    result = subprocess.run([sys.executable, "-W", "error:composite entry", "-c", code],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"README block {index} failed when run alone:\n{block}\n"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}")
