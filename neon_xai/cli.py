"""The ``neon-xai`` command: explain a saved model on a data file, describe its graph, or run
the demo; each writes its figures and one self-contained ``index.html`` report.

::

    neon-xai demo [--out DIR]
    neon-xai explain MODEL DATA [--target T] [--method NAME]
                     [--composite NAME | --rules FILE] [--out DIR] [--batch-size N]
                     [--trust TYPE ...] [--allow-pickle]
    neon-xai describe MODEL [--composite NAME | --rules FILE] [--trust TYPE ...]
                     [--allow-pickle]

Problems with the user's files or arguments (a missing file, a wrong feature count, an
unsupported model, untrusted types) end with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .loading import UserError, load_data, load_model, load_rules

__all__ = ["main", "build_parser"]

EXIT_USER = 2


# ------------------------------------------------------------------------------ shared

def _graph(loaded, X=None):
    """The neon graph of a loaded model (reference data ``X`` for scikit-learn models)."""
    import torch

    import neon

    try:
        if loaded.kind == "torch":
            example = _torch_example(loaded, X)
            return neon.neuralize(loaded.model, example)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # the no-reference-data advice
            return neon.neuralize(loaded.model, X) if X is not None else \
                neon.neuralize(loaded.model)
    except (neon.UnsupportedOpError, neon.TraceError) as err:
        raise UserError(f"{loaded.path.name}: {_line(err)}") from None
    except (TypeError, ValueError, torch.fx.proxy.TraceError) as err:
        raise UserError(f"{loaded.path.name} cannot be explained: {_line(err)}") from None


def _torch_example(loaded, X):
    import torch

    dtype = next((p.dtype for p in loaded.model.parameters()), torch.float32)
    if X is not None:
        return torch.as_tensor(np.asarray(X[:1]), dtype=dtype)
    shape = getattr(loaded.model, "example_shape", None)
    if shape is None:
        raise UserError(f"{loaded.path.name}: give --data, an example input")
    return torch.zeros((1, *shape[1:]), dtype=dtype)


def _line(err) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _composite(args):
    import lrp

    if getattr(args, "rules", None) and getattr(args, "composite", None):
        raise UserError("give --composite or --rules, not both")
    if getattr(args, "rules", None):
        return load_rules(args.rules), f"rules from {Path(args.rules).name}"
    if getattr(args, "composite", None):
        name = args.composite
        if name not in lrp.PRESETS:
            raise UserError(f"unknown composite {name!r}; presets: "
                            f"{', '.join(sorted(lrp.PRESETS))}")
        return lrp.resolve(name), name
    return None, "the default rules"


def _target(value, graph, loaded):
    """The --target value as a label of the model (classes of a scikit-learn classifier) or
    a column index (torch graphs)."""
    if value is None:
        return None
    labels = graph.output_labels
    if labels is not None:
        for label in labels:
            if str(label) == value:
                return label
        raise UserError(f"--target {value!r} is not a class of the model; classes: "
                        f"{', '.join(map(str, list(labels)[:20]))}")
    try:
        column = int(value)
    except ValueError:
        raise UserError(f"--target must be an output column (an integer) for this model, got "
                        f"{value!r}") from None
    return column


# ------------------------------------------------------------------------------ explain

def explain(args) -> int:
    import torch

    import lrp
    from neon.graph import GraphInputError

    from .report import Report

    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size must be a positive integer, got {args.batch_size}")
    loaded = load_model(args.model, trust=args.trust, allow_pickle=args.allow_pickle)
    X, names, _ = load_data(args.data, feature_names=loaded.feature_names)
    reference, reference_text = _reference(args, loaded, X)
    graph = _graph(loaded, X if loaded.kind == "torch" else reference)
    if loaded.kind == "torch":
        X = X.astype(np.float32) if graph.dtype == torch.float32 else X
    try:
        graph.check_inputs(X[:1])
    except GraphInputError as err:
        raise UserError(f"{Path(args.data).name} does not fit the model: {_line(err)}") \
            from None
    methods = ["lrp", *sorted(lrp.methods.METHODS)]
    if args.method not in methods:
        raise UserError(f"unknown method {args.method!r}; give one of {', '.join(methods)}")
    composite, rules_text = _composite(args)
    if composite is not None and args.method != "lrp":
        raise UserError("--composite and --rules choose LRP rules: use them with --method lrp")
    target = _target(args.target, graph, loaded)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = lrp.explain_dataset(graph, X, method=args.method, composite=composite,
                                     target=target, batch_size=args.batch_size or 256,
                                     progress=not args.quiet)
    except (lrp.TargetError, lrp.RuleError, ValueError, TypeError) as err:
        raise UserError(_line(err)) from None
    seconds = time.perf_counter() - start
    relevance = np.asarray(result.relevance)
    np.save(out / "relevance.npy", relevance)
    tabular = relevance.ndim == 2
    names = names or graph.feature_names or (
        [f"x{i}" for i in range(relevance.shape[1])] if tabular else None)
    if tabular:
        _write_csv(out / "relevance.csv", ["sample", "output", "relevance_sum", *names],
                   [[i, result.output[i], result.relevance_sum[i], *row]
                    for i, row in enumerate(relevance)])
    table = None
    if args.method == "lrp":
        first = X[: min(len(X), 256)]
        e = lrp.explain(graph, first, target if np.ndim(target) == 0 else target[:256],
                        composite, return_all=True)
        table = e.table
        _write_csv(out / "conservation.csv", ["node", "rule", "relevance_in", "relevance_out",
                                              "absorbed"],
                   [[r["node"], r["rule"], float(r["relevance_in"].sum()),
                     float(r["relevance_out"].sum()), float(r["absorbed"].sum())]
                    for r in table])
    conservation = result.conservation
    report = Report(f"neon-xai: {loaded.path.name} explained on {Path(args.data).name}",
                    f"{len(X)} samples, method {args.method}"
                    + (f" ({rules_text})" if args.method == "lrp" else "")
                    + (f", {reference_text}" if reference_text else "")
                    + f", {seconds:.1f} s")
    report.add_summary("Model graph", graph.summary())
    report.add_text("Explained output", _output_text(graph, target, result, conservation,
                                                     args.method))
    for caption, fig in _figures(relevance, names, result, tabular):
        if not hasattr(fig, "savefig"):          # plots that return their Axes
            fig = np.ravel(fig)[0].figure
        fig.savefig(out / f"{caption.split(':')[0].replace(' ', '_')}.png", dpi=110,
                    bbox_inches="tight")
        report.add_figure(caption, fig)
    if table is not None:
        report.add_conservation(table)
    if tabular:
        report.add_relevance_table(names, relevance, outputs=np.asarray(result.output))
    path = report.write(out)
    print(f"explained {len(X)} samples of {Path(args.data).name} with {args.method} in "
          f"{seconds:.1f} s; ΣR / f median {np.nanmedian(conservation):.3f}"
          + (f"; {reference_text}" if reference_text else ""))
    print(f"wrote {out / 'relevance.npy'}" + (", relevance.csv" if tabular else "")
          + (", conservation.csv" if table is not None else "") + f" and {path}")
    return 0


def _reference(args, loaded, X):
    """(reference data for a scikit-learn model or None, how it was chosen in words).

    ``--reference FILE`` (the training data) is read like DATA; without it DATA itself is the
    reference, so every sample is explained against the mean of the file. A reference of one
    row is its own mean, which would explain a sample against itself: then the model is
    neuralized without reference data (the published rules).
    """
    if loaded.kind == "torch":
        if args.reference:
            raise UserError("--reference is for scikit-learn models; a torch program is "
                            "explained from its input alone")
        return None, ""
    if args.reference:
        reference, _, _ = load_data(args.reference, feature_names=loaded.feature_names)
        source = Path(args.reference).name
    else:
        reference, source = X, f"{Path(args.data).name} itself"
    if len(reference) < 2:
        return None, (f"no reference data ({source} has one row; give --reference "
                      "TRAINING_DATA to explain against the training mean)")
    return reference, f"reference data: {source} ({len(reference)} rows)"


def _output_text(graph, target, result, conservation, method) -> str:
    labels = graph.output_labels
    what = ("the predicted class" if target is None else f"class {target}") \
        if labels is not None else ("the largest output" if target is None
                                    else f"output column {target}")
    text = (f"For each sample, {what} is explained (f: the model's output for it, before any "
            f"output softmax). Median f: {np.median(np.asarray(result.output)):.4g}.")
    if method == "lrp":
        text += (f" Relevance sums to ΣR / f = {np.nanmedian(conservation):.3f} (median over "
                 "samples); what does not reach the input is absorbed by biases and "
                 "stabilizers (conservation table below).")
    return text


def _figures(relevance, names, result, tabular):
    import lrp

    n = min(len(relevance), 8)
    outputs = np.asarray(result.output)[:n]
    if tabular:
        mean = np.abs(relevance).mean(0)
        yield "mean relevance: mean |R| per feature over all samples", \
            lrp.plot.feature_bars(mean, names, top=min(15, len(names)),
                                  title="mean |R| per feature")
        yield "samples: the first samples' relevance", \
            lrp.plot.feature_bars(relevance[: min(n, 4)], names, top=min(10, len(names)),
                                  outputs=outputs[: min(n, 4)])
        target = np.asarray(result.target)
        classes = [c for c in np.unique(target) if c >= 0][:6]
        if len(classes) > 1:
            means = np.stack([relevance[target == c].mean(0) for c in classes])
            yield "classes: mean relevance per explained class", \
                lrp.plot.feature_bars(means, names, top=min(10, len(names)),
                                      title=[f"output {c} ({int((target == c).sum())} "
                                             "samples)" for c in classes])
    elif relevance.ndim >= 3:
        yield "heatmaps: the first samples' relevance", \
            lrp.plot.heatmap_grid(relevance[:n], outputs=outputs)


def _write_csv(path: Path, header, rows):
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([f"{v:.10g}" if isinstance(v, (float, np.floating)) else v
                             for v in row])


# ------------------------------------------------------------------------------ describe

def describe(args) -> int:
    import lrp

    loaded = load_model(args.model, trust=args.trust, allow_pickle=args.allow_pickle)
    X = None
    if args.data is not None:
        X, _, _ = load_data(args.data, feature_names=loaded.feature_names)
    graph = _graph(loaded, X)
    composite, rules_text = _composite(args)
    print(graph.summary())
    print(f"\nRules ({rules_text}):")
    print(lrp.resolve(composite).describe(graph) if composite is not None else
          lrp.Composite([]).describe(graph))
    return 0


# ------------------------------------------------------------------------------ demo

def demo(args) -> int:
    from .report import Report

    examples = Path(__file__).resolve().parents[1] / "examples"
    if not (examples / "demo.py").exists():
        raise UserError("the demo runs the repository's examples/ folder, which this "
                        "installation does not have; run it from a clone of the repository")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(examples))
    import importlib

    demo_module = importlib.import_module("demo")
    rows = []
    for name in demo_module.EXAMPLES:
        print(f"\n=== examples/{name}.py " + "=" * max(0, 60 - len(name)))
        start = time.perf_counter()
        before = {p.name for p in out.glob("*.png")}
        importlib.import_module(name).main(out, **demo_module.OPTIONS.get(name, {}))
        seconds = time.perf_counter() - start
        made = sorted(p.name for p in out.glob("*.png")
                      if p.name not in before or p.stat().st_mtime >= time.time() - seconds)
        rows.append((name, seconds, made))
        print(f"--- {name} done in {seconds:.1f} s")
    report = Report("neon-xai demo", "every example on bundled data")
    report.add_table("Examples", ["example", "seconds", "figures"],
                     [[n, s, ", ".join(m)] for n, s, m in rows])
    for name, _, made in rows:
        doc = (importlib.import_module(name).__doc__ or "").strip().split("\n\n")[0]
        report.add_text(f"examples/{name}.py", doc)
        for png in made:
            report.add_figure(f"{name}: {png}", out / png)
    path = report.write(out)
    print("\nsummary")
    print(f"{'example':20s}{'seconds':>9s}  figures")
    for name, seconds, made in rows:
        print(f"{name:20s}{seconds:9.1f}  {len(made)}")
    print(f"\nreport: {path}")
    return 0


# ------------------------------------------------------------------------------ parser

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neon-xai", description="Explain neural networks and scikit-learn models with "
        "LRP, NEON and the methods they are compared with.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run the showcase on bundled data and write a report",
                       description="Run every example on bundled data (k-means, one-class "
                       "SVM, SVC, the digits CNN with LRP and gradients, TCAV, prototypes, "
                       "SpRAy, …), save the figures and one index.html report.")
    p.add_argument("--out", default="examples/out", help="output folder (default: "
                   "examples/out)")
    p.set_defaults(run=demo)

    def model_args(p):
        p.add_argument("--trust", action="append", default=[], metavar="TYPE",
                       help="a type to trust when loading a .skops file (repeatable)")
        p.add_argument("--allow-pickle", action="store_true",
                       help="allow .joblib/.pkl files (loading them runs code: only for files "
                       "you trust)")
        rules = p.add_mutually_exclusive_group()
        rules.add_argument("--composite", metavar="NAME",
                           help="an LRP preset (EpsilonPlusFlat, EpsilonGammaBox, …)")
        rules.add_argument("--rules", metavar="FILE",
                           help="a TOML or YAML file of (select, rule) pairs")

    p = sub.add_parser("explain", help="explain a saved model on a data file",
                       description="Explain MODEL (.skops, .joblib/.pkl with --allow-pickle, "
                       "or a torch.export .pt2) on DATA (.npy, .npz, .csv with a header, "
                       ".parquet); write relevance.npy (and .csv), plots, the conservation "
                       "table and index.html.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--target", metavar="T", help="the class (label) or output column to "
                   "explain (default: the predicted one)")
    p.add_argument("--method", default="lrp", metavar="NAME",
                   help="lrp (default) or another method of lrp (gradient_x_input, "
                   "integrated_gradients, occlusion, lime, …)")
    p.add_argument("--out", default="neon-xai-out", metavar="DIR",
                   help="output folder (default: neon-xai-out)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="samples per batch (default 256)")
    p.add_argument("--reference", metavar="FILE",
                   help="reference data of a scikit-learn model, e.g. the training data "
                   "(default: DATA itself): its mean is what linear models, MLPs, SVCs, "
                   "k-means and the density models explain against")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    model_args(p)
    p.set_defaults(run=explain)

    p = sub.add_parser("describe", help="print a model's graph and the rule of every node",
                       description="Print the graph of MODEL and the rule each node gets "
                       "(the default composite, or --composite / --rules).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--data", metavar="DATA", help="reference data (scikit-learn models) or "
                   "an example input (torch programs)")
    model_args(p)
    p.set_defaults(run=describe)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"neon-xai: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    """Run the command; returns the exit code (0, or 2 for a problem with the input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _one_line_warning
            return args.run(args)
    except UserError as err:
        print(f"neon-xai: error: {err}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("neon-xai: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
