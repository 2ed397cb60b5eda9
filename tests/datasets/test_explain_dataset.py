"""lrp.explain_dataset: every kind of data, bounded batches, the store's layout, and a run
killed with SIGKILL resuming to the identical store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon

zarr = pytest.importorskip("zarr")
torch.set_num_threads(1)
F64 = torch.float64
ROOT = Path(__file__).resolve().parents[2]


def _mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    return neon.neuralize(net, torch.randn(1, 5, dtype=F64))


G = _mlp()
X = np.random.default_rng(0).normal(size=(530, 5))
Y = np.random.default_rng(1).integers(0, 3, 530)


def test_in_memory_equals_one_call_for_arrays_tensors_and_frames():
    import pandas as pd

    expected = lrp.explain(G, X)
    r = lrp.explain_dataset(G, X, batch_size=64, progress=False)
    assert isinstance(r.relevance, np.ndarray) and np.array_equal(r.relevance, expected)
    assert np.array_equal(r.output, G(X).max(1))
    assert np.array_equal(r.target, G(X).argmax(1))
    np.testing.assert_allclose(r.relevance_sum, expected.sum(1), rtol=1e-12)
    t = lrp.explain_dataset(G, torch.as_tensor(X), batch_size=100, progress=False)
    assert isinstance(t.relevance, torch.Tensor) and np.array_equal(t.relevance.numpy(),
                                                                     expected)
    frame = pd.DataFrame(X, columns=list("abcde"))
    f = lrp.explain_dataset(G, frame, batch_size=100, progress=False)
    # a frame's values arrive column-major: another summation order, so not bit for bit
    np.testing.assert_allclose(f.relevance, expected, rtol=0, atol=1e-14)


def test_loaders_datasets_and_iterables_with_their_labels():
    ds = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(Y))
    expected = lrp.gradient_x_input(G, X, Y)
    for data in (ds, torch.utils.data.DataLoader(ds, batch_size=50),
                 ((X[i:i + 50], Y[i:i + 50]) for i in range(0, len(X), 50))):
        r = lrp.explain_dataset(G, data, method="gradient_x_input", target="labels",
                                batch_size=50, progress=False)
        np.testing.assert_array_equal(np.asarray(r.target), Y)
        np.testing.assert_allclose(np.asarray(r.relevance), expected, rtol=1e-12)


def test_per_sample_targets_are_sliced_with_the_batches():
    r = lrp.explain_dataset(G, X, target=Y, batch_size=64, progress=False)
    assert np.array_equal(r.relevance, lrp.explain(G, X, Y))


def test_a_seeded_method_gives_the_same_batches_in_any_run():
    a = lrp.explain_dataset(G, X[:120], method="lime", seed=5, samples=50, batch_size=40,
                            progress=False)
    b = lrp.explain_dataset(G, X[:120], method="lime", seed=5, samples=50, batch_size=40,
                            progress=False)
    assert np.array_equal(a.relevance, b.relevance)


def test_memory_is_bounded_by_the_batch():
    sizes = []

    def spy(graph, x, target=None, **options):
        sizes.append(len(x))
        return lrp.explain(graph, x, target)

    lrp.explain_dataset(G, X, method=spy, batch_size=64, progress=False)
    assert max(sizes) == 64 and sum(sizes) == len(X)


def test_the_store_layout_and_a_second_run_skips_every_batch(tmp_path):
    out = tmp_path / "store"
    r = lrp.explain_dataset(G, X, batch_size=64, out=out, progress=False)
    g = zarr.open_group(str(out), mode="r")
    assert g["relevance"].chunks == (64, 5) and g["relevance"].shape == (530, 5)
    assert list(g["done"][:]) == [1] * 9 and g.attrs["complete"] and g.attrs["samples"] == 530
    assert np.array_equal(r.relevance[:], lrp.explain(G, X))
    np.testing.assert_allclose(r.conservation, lrp.explain(G, X).sum(1) / G(X).max(1),
                               rtol=1e-12)
    calls = []

    def spy(graph, x, target=None, **options):
        calls.append(len(x))
        return lrp.explain(graph, x, target)

    # the fingerprint names the method: the spy is another run, refused
    with pytest.raises(lrp.datasets.StoreMismatchError, match="method"):
        lrp.explain_dataset(G, X, method=spy, batch_size=64, out=out, progress=False)
    again = lrp.explain_dataset(G, X, batch_size=64, out=out, progress=False)
    assert np.array_equal(again.relevance[:], r.relevance[:])


@pytest.mark.parametrize("change", ["model", "method", "option", "target", "batch_size"])
def test_resuming_another_run_is_refused(tmp_path, change):
    out = tmp_path / "store"
    lrp.explain_dataset(G, X[:100], batch_size=50, out=out, progress=False)
    other = G.copy()
    with torch.no_grad():
        other[other.nodes[0].name].op.weight[0, 0] += 1
    args = dict(graph=G, data=X[:100], batch_size=50, out=out, progress=False)
    args.update({"model": dict(graph=other), "method": dict(method="gradient"),
                 "option": dict(composite=lrp.EpsilonOnly(epsilon=0.1)),
                 "target": dict(target=1), "batch_size": dict(batch_size=25)}[change])
    graph, data = args.pop("graph"), args.pop("data")
    with pytest.raises(lrp.datasets.StoreMismatchError, match="differ"):
        lrp.explain_dataset(graph, data, **args)


def test_a_killed_run_resumes_to_the_identical_store(tmp_path):
    """A subprocess is SIGKILLed while explaining its 4th batch; then a marked batch is
    corrupted (its checksum no longer matches) and garbage is written where no marker is.
    The resumed run recomputes exactly those and equals an uninterrupted run bit for bit."""
    out, marker = tmp_path / "killed", tmp_path / "marker"
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(ROOT)!r})
        torch.set_num_threads(1)
        import numpy as np, lrp
        from tests.datasets.test_explain_dataset import G, X
        from tests.datasets.killer import KillOnce
        lrp.explain_dataset(G, X, method=KillOnce({str(marker)!r}, 4), batch_size=64,
                            out={str(out)!r}, progress=False)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    g = zarr.open_group(str(out), mode="r+")
    assert list(g["done"][:4]) == [1, 1, 1, 0] and "complete" not in g.attrs
    g["relevance"][70:80] = 123.0                 # a marked batch, torn
    g["relevance"][200:230] = -7.0                # the unmarked batch, half written
    from tests.datasets.killer import KillOnce

    resumed = lrp.explain_dataset(G, X, method=KillOnce(marker, 4), batch_size=64, out=out,
                                  progress=False)
    clean = lrp.explain_dataset(G, X, method=KillOnce(marker, 4), batch_size=64,
                                out=tmp_path / "clean", progress=False)
    for name in ("relevance", "output", "target", "relevance_sum", "checksum", "done"):
        assert np.array_equal(g[name][:], zarr.open_group(str(tmp_path / "clean"))[name][:])
    assert np.array_equal(resumed.relevance[:], clean.relevance[:])


def test_token_ids_and_images_are_stored_per_token_and_per_pixel(tmp_path):
    torch.manual_seed(0)
    text = nn.Sequential(nn.EmbeddingBag(20, 4, mode="sum"), nn.Linear(4, 2)).double()
    ids = torch.randint(0, 20, (30, 6))
    graph = neon.neuralize(text, ids)
    r = lrp.explain_dataset(graph, ids, batch_size=8, out=tmp_path / "t", progress=False)
    assert r.relevance.shape == (30, 6)
    assert np.array_equal(r.relevance[:], lrp.explain(graph, ids).numpy())


@pytest.mark.parametrize("bad,words", [
    (dict(batch_size=0), "positive integer"), (dict(batch_size=None), "positive integer"),
    (dict(progress="yes"), "progress"), (dict(method="nope"), "not a method"),
    (dict(method="gradient", composite=lrp.EpsilonOnly()), "composite"),
    (dict(target="labels"), "has none"), (dict(seed=torch.Generator()), "integer"),
])
def test_bad_arguments_are_refused(bad, words):
    args = dict(batch_size=64, progress=False)
    args.update(bad)
    with pytest.raises((ValueError, TypeError), match=words):
        lrp.explain_dataset(G, X, **args)


def test_inputs_larger_than_memory_are_read_from_a_zarr_array_batch_by_batch(tmp_path):
    source = zarr.create_array(str(tmp_path / "inputs"), shape=X.shape, chunks=(100, 5),
                               dtype="float64")
    source[:] = X
    r = lrp.explain_dataset(G, source, batch_size=64, out=tmp_path / "out", progress=False)
    assert np.array_equal(r.relevance[:], lrp.explain_dataset(G, X, batch_size=64,
                                                              progress=False).relevance)
