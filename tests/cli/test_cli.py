"""The neon-xai command end to end: saved models of every kind (skops, joblib with and without
--allow-pickle, torch.export), data of every kind (CSV with a header, NPY, NPZ, Parquet),
rules files, and bad files and data — each refused with one line on stderr and exit code 2."""

from __future__ import annotations

import csv
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

import lrp
import neon
from neon_xai.cli import main

skops_io = pytest.importorskip("skops.io")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import joblib
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits, load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    d = tmp_path_factory.mktemp("cli")
    wine = load_wine(as_frame=True)
    X = wine.data.iloc[:60]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        wine.data, wine.target)
    skops_io.dump(pipe, d / "wine.skops")
    kmeans = KMeans(3, n_init=2, random_state=0).fit(wine.data.to_numpy())
    joblib.dump(kmeans, d / "kmeans.joblib")
    odd = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        wine.data, wine.target)
    odd.steps[1][1].note_ = Fraction(1, 3)          # a type outside skops' trusted set
    skops_io.dump(odd, d / "untrusted.skops")
    X.to_csv(d / "wine.csv", index=False)
    X.to_parquet(d / "wine.parquet")
    np.save(d / "wine.npy", X.to_numpy())
    np.savez(d / "wine.npz", X=X.to_numpy(), y=wine.target.to_numpy()[:60])
    np.save(d / "wine12.npy", X.to_numpy()[:, :12])
    X.drop(columns=["ash"]).to_csv(d / "no_ash.csv", index=False)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(64, 10)).eval()
    images = (load_digits().images[:20, None] / 16).astype(np.float32)
    torch.export.save(torch.export.export(cnn, (torch.as_tensor(images[:2]),)), d / "cnn.pt2")
    np.save(d / "digits.npy", images)
    (d / "corrupt.skops").write_bytes(b"not a zip file at all")
    (d / "corrupt.pt2").write_bytes(b"\x00\x01garbage")
    (d / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    (d / "rules.toml").write_text('[[rule]]\nselect = "kind:conv"\nrule = "Gamma"\n'
                                  'params = { gamma = 0.5 }\n\n[[rule]]\nselect = "kind:linear"'
                                  '\nrule = "Epsilon"\nparams = { epsilon = 0.01 }\n')
    (d / "rules.yaml").write_text("- select: kind:conv\n  rule: ZPlus\n")
    (d / "bad_rules.toml").write_text('[[rule]]\nselect = "kind:conv"\nrule = "Gamma"\n'
                                      'params = { gamma = -1 }\n')
    return dict(dir=d, pipe=pipe, kmeans=kmeans, X=X, cnn=cnn, images=images)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, words):
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert words.lower() in err.lower(), err


def test_a_skops_pipeline_on_csv_writes_every_output(files, capsys, tmp_path):
    d = files["dir"]
    code, out, err = run(capsys, "explain", d / "wine.skops", d / "wine.csv", "--out", tmp_path,
                         "--quiet")
    assert code == 0, err
    for name in ("relevance.npy", "relevance.csv", "conservation.csv", "index.html"):
        assert (tmp_path / name).stat().st_size > 0, name
    R = np.load(tmp_path / "relevance.npy")
    X = files["X"].to_numpy()
    # the explained output is scikit-learn's own decision function of the predicted class
    decision = files["pipe"].decision_function(files["X"])
    predicted = decision.argmax(1)
    np.testing.assert_allclose(R.sum(1), decision[np.arange(len(X)), predicted], rtol=1e-8)
    graph = neon.neuralize(files["pipe"], X)
    np.testing.assert_allclose(R, lrp.explain(graph, X), rtol=1e-12)
    with open(tmp_path / "relevance.csv") as f:
        header = next(csv.reader(f))
    assert header[:3] == ["sample", "output", "relevance_sum"]
    assert header[3:] == list(files["X"].columns)
    html = (tmp_path / "index.html").read_text()
    assert "data:image/png;base64," in html and "proline" in html
    assert "explained 60 samples" in out


@pytest.mark.parametrize("data", ["wine.npy", "wine.npz", "wine.parquet"])
def test_other_data_formats_give_the_same_relevance(files, capsys, tmp_path, data):
    d = files["dir"]
    code, _, err = run(capsys, "explain", d / "wine.skops", d / data, "--out", tmp_path,
                       "--quiet", "--target", "1", "--method", "gradient_x_input")
    assert code == 0, err
    graph = neon.neuralize(files["pipe"], files["X"].to_numpy())
    expected = lrp.gradient_x_input(graph, files["X"].to_numpy(), 1)
    np.testing.assert_allclose(np.load(tmp_path / "relevance.npy"), expected, rtol=1e-12)


def test_joblib_needs_allow_pickle_and_warns(files, capsys, tmp_path):
    d = files["dir"]
    refused(capsys, "explain", d / "kmeans.joblib", d / "wine.npy", "--out", tmp_path,
            words="--allow-pickle")
    code, _, err = run(capsys, "explain", d / "kmeans.joblib", d / "wine.npy", "--out",
                       tmp_path, "--quiet", "--allow-pickle")
    assert code == 0 and "runs the code" in err
    R = np.load(tmp_path / "relevance.npy")
    graph = neon.neuralize(files["kmeans"], files["X"].to_numpy())
    np.testing.assert_allclose(R.sum(1), graph(files["X"].to_numpy()).max(1), rtol=1e-9)


def test_a_torch_export_program_on_images_with_a_preset_and_a_rules_file(files, capsys,
                                                                         tmp_path):
    d = files["dir"]
    images = files["images"]
    graph = neon.neuralize(files["cnn"], torch.as_tensor(images[:1]))
    for extra, composite in ((["--composite", "EpsilonPlusFlat"], lrp.EpsilonPlusFlat()),
                             (["--rules", d / "rules.toml"], None)):
        code, _, err = run(capsys, "explain", d / "cnn.pt2", d / "digits.npy", "--out",
                           tmp_path, "--quiet", *extra)
        assert code == 0, err
        R = np.load(tmp_path / "relevance.npy")
        assert R.shape == images.shape
        if composite is not None:
            expected = lrp.explain(graph, torch.as_tensor(images), composite=composite)
            np.testing.assert_allclose(R, expected.numpy(), rtol=1e-4, atol=1e-6)
        assert (tmp_path / "heatmaps.png").exists()
    code, out, _ = run(capsys, "describe", d / "cnn.pt2", "--rules", d / "rules.toml")
    assert code == 0 and "Gamma(gamma=0.5" in out and "Epsilon(epsilon=0.01" in out
    code, out, _ = run(capsys, "describe", d / "cnn.pt2", "--rules", d / "rules.yaml")
    assert code == 0 and "ZPlus" in out


def test_describe_prints_the_graph_and_the_default_rules(files, capsys):
    code, out, _ = run(capsys, "describe", files["dir"] / "wine.skops")
    assert code == 0 and "standardscaler" in out and "Rules (the default rules)" in out


@pytest.mark.parametrize("case,words", [
    ("missing model", "does not exist"), ("missing data", "does not exist"),
    ("corrupt skops", "not a readable skops"), ("corrupt pt2", "not a readable torch.export"),
    ("corrupt npy", "not a readable .npy"), ("wrong feature count", "fitted with 13"),
    ("missing column", "lacks the column(s) ash"), ("untrusted type", "--trust"),
    ("unknown class", "not a class"), ("unknown method", "unknown method"),
    ("unknown composite", "unknown composite"), ("bad rule parameter", "gamma"),
    ("unknown format", "unknown model format"), ("composite with gradient", "--method lrp"),
])
def test_bad_files_and_arguments_end_in_one_line_and_exit_code_2(files, capsys, tmp_path,
                                                                 case, words):
    d = files["dir"]
    skops, csv_, out = d / "wine.skops", d / "wine.csv", ["--out", tmp_path, "--quiet"]
    argv = {
        "missing model": [d / "nope.skops", csv_], "missing data": [skops, d / "nope.csv"],
        "corrupt skops": [d / "corrupt.skops", csv_], "corrupt pt2": [d / "corrupt.pt2",
                                                                      d / "digits.npy"],
        "corrupt npy": [skops, d / "corrupt.npy"], "wrong feature count": [skops,
                                                                           d / "wine12.npy"],
        "missing column": [skops, d / "no_ash.csv"], "untrusted type": [d / "untrusted.skops",
                                                                         csv_],
        "unknown class": [skops, csv_, "--target", "7"],
        "unknown method": [skops, csv_, "--method", "magic"],
        "unknown composite": [skops, csv_, "--composite", "Nope"],
        "bad rule parameter": [d / "cnn.pt2", d / "digits.npy", "--rules",
                               d / "bad_rules.toml"],
        "unknown format": [d / "wine.csv", csv_],
        "composite with gradient": [skops, csv_, "--method", "gradient", "--composite",
                                    "EpsilonPlusFlat"],
    }[case]
    refused(capsys, "explain", *argv, *out, words=words)


def test_reference_data_is_the_training_data_given(files, capsys, tmp_path):
    """--reference: a one-class SVM explained against the training mean, whatever rows the
    data file holds; without it, a one-row file is no reference (the published rule)."""
    from sklearn.svm import OneClassSVM

    d = files["dir"]
    train = files["X"].to_numpy()
    svm = OneClassSVM(gamma="scale", nu=0.1).fit(train)
    skops_io.dump(svm, tmp_path / "svm.skops")
    np.save(tmp_path / "train.npy", train)
    np.save(tmp_path / "one.npy", train[:1] * 1.5)
    code, out, err = run(capsys, "explain", tmp_path / "svm.skops", tmp_path / "one.npy",
                         "--reference", tmp_path / "train.npy", "--out", tmp_path / "a",
                         "--quiet")
    assert code == 0, err
    expected = lrp.explain(neon.neuralize(svm, train), train[:1] * 1.5)
    np.testing.assert_allclose(np.load(tmp_path / "a" / "relevance.npy"), expected,
                               rtol=1e-12)
    assert "reference data: train.npy (60 rows)" in out
    code, out, err = run(capsys, "explain", tmp_path / "svm.skops", tmp_path / "one.npy",
                         "--out", tmp_path / "b", "--quiet")
    assert code == 0, err
    expected = lrp.explain(neon.neuralize(svm), train[:1] * 1.5)
    np.testing.assert_allclose(np.load(tmp_path / "b" / "relevance.npy"), expected,
                               rtol=1e-12)
    assert "no reference data (one.npy itself has one row" in out
    refused(capsys, "explain", d / "cnn.pt2", d / "digits.npy", "--reference",
            d / "digits.npy", "--out", tmp_path / "c", "--quiet", words="--reference is for "
            "scikit-learn models")
    refused(capsys, "explain", tmp_path / "svm.skops", tmp_path / "one.npy", "--reference",
            d / "wine12.npy", "--out", tmp_path / "d", "--quiet", words="12")


def test_a_trusted_type_is_loaded_when_listed(files, capsys, tmp_path):
    code, _, err = run(capsys, "explain", files["dir"] / "untrusted.skops",
                       files["dir"] / "wine.csv", "--out", tmp_path, "--quiet", "--trust",
                       "fractions.Fraction")
    assert code == 0, err


@pytest.mark.parametrize("command", [[], ["demo"], ["explain"], ["describe"]])
def test_every_command_has_help(command):
    result = subprocess.run([sys.executable, "-m", "neon_xai.cli", *command, "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: neon-xai" in result.stdout


def test_demo_runs_the_examples_and_writes_one_report(capsys, tmp_path, monkeypatch):
    """The demo with its example list cut to one quick example (make demo runs them all)."""
    import types

    fake = types.ModuleType("demo")
    fake.EXAMPLES, fake.OPTIONS = ["wine_kmeans"], {}
    monkeypatch.setitem(sys.modules, "demo", fake)
    code, out, err = run(capsys, "demo", "--out", tmp_path)
    assert code == 0, err
    html = (tmp_path / "index.html").read_text()
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and html.count("data:image/png;base64,") >= len(pngs)
    assert "wine_kmeans" in out and "report:" in out


def test_the_report_of_explain_opens_in_chromium_with_its_figures(files, capsys, tmp_path):
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (tests/test_report_browser.py installs it)")
    code, _, err = run(capsys, "explain", files["dir"] / "wine.skops", files["dir"] / "wine.csv",
                       "--out", tmp_path, "--quiet")
    assert code == 0, err
    page = tmp_path / "index.html"
    dom = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'data-ready="1"' in dom, dom[:500]
    images = int(dom.split('data-images="')[1].split('"')[0])
    assert images >= 3 and f'data-images-ok="{images}"' in dom
    assert 'data-errors="0"' in dom
