"""What ``neon-xai`` reads: saved models, data files and rule files, each refused with a
one-line reason when it cannot be read safely or correctly.

Models
    ``.skops`` — a scikit-learn estimator or Pipeline saved with ``skops.io.dump``; types
    outside skops' trusted set are refused unless listed in ``trust``.
    ``.joblib``, ``.pkl``, ``.pickle`` — only with ``allow_pickle`` (loading a pickle runs
    the code it names: only for files you trust).
    ``.pt2`` — a PyTorch program saved with ``torch.export.save``.
Data
    ``.npy`` (no pickled objects), ``.npz`` (the array ``X``, ``x`` or its only array),
    ``.csv`` (a header row gives feature names), ``.parquet`` (needs pyarrow).
Rules
    A TOML (``.toml``) or YAML (``.yaml``, ``.yml``) file of ``[[rule]]`` entries, each a
    selector and a rule, composed in order as :class:`lrp.Composite` does in code::

        [[rule]]
        select = "first"      # first | last | everything | kind:<k,...> | name:<glob,...>
        rule = "ZBox"
        params = { low = 0.0, high = 1.0 }

        [[rule]]
        select = "kind:conv"
        rule = "Gamma"
        params = { gamma = 0.25 }
"""

from __future__ import annotations

import csv
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["UserError", "LoadedModel", "load_model", "load_data", "load_rules"]

MODEL_SUFFIXES = (".skops", ".joblib", ".pkl", ".pickle", ".pt2")
DATA_SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


class UserError(Exception):
    """A problem with the user's files or arguments: reported in one line, exit code 2."""


@dataclass
class LoadedModel:
    """A loaded model: a scikit-learn estimator, or a torch module (from torch.export)."""

    model: object
    kind: str            # "sklearn" or "torch"
    path: Path
    feature_names: list | None = None


def _exists(path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise UserError(f"{what} {str(path)!r} is a folder, not a file")
    return path


def load_model(path, *, trust=(), allow_pickle: bool = False) -> LoadedModel:
    """The model saved at ``path`` (see the module notes)."""
    path = _exists(path, "model file")
    suffix = path.suffix.lower()
    if suffix == ".skops":
        model = _load_skops(path, trust)
    elif suffix in (".joblib", ".pkl", ".pickle"):
        if not allow_pickle:
            raise UserError(f"{path.name} is a pickle: loading it runs whatever code it names. "
                            "Pass --allow-pickle if you trust its origin, or save the model "
                            "with skops (skops.io.dump(model, 'model.skops'))")
        warnings.warn(f"loading {path.name} with pickle runs the code it contains; only do "
                      "this for files you trust", UserWarning, stacklevel=2)
        model = _load_pickle(path)
    elif suffix == ".pt2":
        return LoadedModel(_load_export(path), "torch", path)
    else:
        raise UserError(f"{path.name}: unknown model format {suffix or '(no suffix)'!r}; "
                        f"give one of {', '.join(MODEL_SUFFIXES)}")
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise UserError(f"{path.name} holds a {type(model).__name__}, not a scikit-learn "
                        "estimator")
    names = getattr(model, "feature_names_in_", None)
    return LoadedModel(model, "sklearn", path, None if names is None else
                       [str(n) for n in names])


def _load_skops(path: Path, trust):
    try:
        import skops.io as sio
    except ImportError:
        raise UserError("reading .skops files needs skops: pip install skops") from None
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as err:   # noqa: BLE001 - any parse failure is a corrupt file
        raise UserError(f"{path.name} is not a readable skops file ({type(err).__name__}: "
                        f"{_first_line(err)})") from None
    refused = [t for t in untrusted if t not in set(trust)]
    if refused:
        raise UserError(f"{path.name} contains types outside skops' trusted set: "
                        f"{', '.join(refused)}; if you trust them, pass --trust "
                        f"{' --trust '.join(refused)}")
    try:
        return sio.load(str(path), trusted=list(untrusted))
    except Exception as err:   # noqa: BLE001
        raise UserError(f"{path.name} could not be loaded: {_first_line(err)}") from None


def _load_pickle(path: Path):
    try:
        import joblib

        return joblib.load(path)
    except Exception as err:   # noqa: BLE001 - corrupt or truncated files
        raise UserError(f"{path.name} is not a readable pickle ({type(err).__name__}: "
                        f"{_first_line(err)})") from None


def _load_export(path: Path):
    import torch

    from .exported import ExportError, module_from_export

    quiet = logging.getLogger("torch.export")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)      # torch logs the traceback of a bad file itself
    try:
        program = torch.export.load(str(path))
    except Exception as err:   # noqa: BLE001
        raise UserError(f"{path.name} is not a readable torch.export program "
                        f"({type(err).__name__}: {_first_line(err)})") from None
    finally:
        quiet.setLevel(level)
    try:
        return module_from_export(program)
    except ExportError as err:
        raise UserError(f"{path.name}: {err}") from None


def _first_line(err) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# ------------------------------------------------------------------------------ data

def load_data(path, *, feature_names=None):
    """(X, feature names or None, y or None) from a data file; with ``feature_names`` (the
    model's), a file with a header must hold those columns (extra ones are refused, order
    is taken from the model)."""
    path = _exists(path, "data file")
    suffix = path.suffix.lower()
    y = None
    if suffix == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise UserError(f"{path.name} is not a readable .npy file of numbers "
                            f"({_first_line(err)}; object arrays are refused)") from None
        except Exception as err:   # noqa: BLE001
            raise UserError(f"{path.name} is not a readable .npy file ({_first_line(err)})") \
                from None
        names = None
    elif suffix == ".npz":
        try:
            archive = np.load(path, allow_pickle=False)
        except Exception as err:   # noqa: BLE001
            raise UserError(f"{path.name} is not a readable .npz file ({_first_line(err)})") \
                from None
        keys = list(archive.keys())
        key = next((k for k in ("X", "x") if k in keys), keys[0] if len(keys) == 1 else None)
        if key is None:
            raise UserError(f"{path.name} holds {', '.join(keys)}: name the samples X")
        X = archive[key]
        y = archive["y"] if "y" in keys else None
        names = None
    elif suffix == ".csv":
        X, names = _read_csv(path)
    elif suffix == ".parquet":
        X, names = _read_parquet(path)
    else:
        raise UserError(f"{path.name}: unknown data format {suffix or '(no suffix)'!r}; give "
                        f"one of {', '.join(DATA_SUFFIXES)}")
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise UserError(f"{path.name} holds non-numeric values (dtype {X.dtype}); encode "
                        "them as numbers first")
    if X.ndim < 2:
        raise UserError(f"{path.name}: expected samples along the first axis (2-d or more), "
                        f"got shape {X.shape}")
    if names is not None and feature_names is not None:
        missing = [n for n in feature_names if n not in names]
        if missing:
            raise UserError(f"{path.name} lacks the column(s) {', '.join(missing[:5])} that "
                            "the model was fitted on")
        extra = [n for n in names if n not in feature_names]
        if extra:
            raise UserError(f"{path.name} has column(s) {', '.join(extra[:5])} that the model "
                            "was not fitted on; drop them")
        X = X[:, [names.index(n) for n in feature_names]]
        names = list(feature_names)
    return X, names, y


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path):
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if not rows:
        raise UserError(f"{path.name} is empty")
    header = None
    if not all(_is_number(c) for c in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    width = len(header) if header else len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise UserError(f"{path.name}, line {i + (2 if header else 1)}: {len(r)} values, "
                            f"expected {width}")
    try:
        X = np.array([[float(c) for c in r] for r in rows], dtype=np.float64)
    except ValueError as err:
        raise UserError(f"{path.name} holds a non-numeric value ({_first_line(err)}); encode "
                        "categories as numbers first") from None
    if len(X) == 0:
        raise UserError(f"{path.name} has a header but no rows")
    return X, header


def _read_parquet(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("reading .parquet files needs pyarrow: pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except Exception as err:   # noqa: BLE001
        raise UserError(f"{path.name} is not a readable parquet file ({_first_line(err)})") \
            from None
    names = [str(n) for n in table.column_names]
    try:
        X = np.column_stack([np.asarray(table.column(n).to_numpy(), dtype=np.float64)
                             for n in table.column_names])
    except (ValueError, TypeError) as err:
        raise UserError(f"{path.name} holds non-numeric columns ({_first_line(err)})") \
            from None
    return X, names


# ------------------------------------------------------------------------------ rules

def load_rules(path):
    """An :class:`lrp.Composite` from a TOML or YAML rules file (see the module notes)."""
    import lrp

    path = _exists(path, "rules file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            spec = tomllib.loads(path.read_text())
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise UserError("reading YAML rules needs pyyaml; use a .toml file") from None
            spec = yaml.safe_load(path.read_text())
        else:
            raise UserError(f"{path.name}: rules are a .toml or .yaml file")
    except UserError:
        raise
    except Exception as err:   # noqa: BLE001 - syntax errors of either format
        raise UserError(f"{path.name} is not valid {suffix[1:].upper()}: {_first_line(err)}") \
            from None
    entries = spec.get("rule") if isinstance(spec, dict) else spec
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path.name}: expected a list of rules ([[rule]] entries with "
                        "select and rule)")
    pairs = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or "select" not in entry or "rule" not in entry:
            raise UserError(f"{path.name}, rule {i}: give select and rule (and params)")
        unknown = set(entry) - {"select", "rule", "params"}
        if unknown:
            raise UserError(f"{path.name}, rule {i}: unknown key(s) {', '.join(sorted(unknown))}")
        selector = _selector(entry["select"], f"{path.name}, rule {i}")
        rule_cls = getattr(lrp.rules, str(entry["rule"]), None)
        if not (isinstance(rule_cls, type) and issubclass(rule_cls, lrp.rules.Rule)):
            known = sorted(n for n in lrp.rules.__all__ if isinstance(getattr(lrp.rules, n),
                                                                       type)
                           and issubclass(getattr(lrp.rules, n), lrp.rules.Rule)
                           and n not in ("Rule", "RuleError"))
            raise UserError(f"{path.name}, rule {i}: unknown rule {entry['rule']!r}; known: "
                            f"{', '.join(known)}")
        params = entry.get("params", {}) or {}
        if not isinstance(params, dict):
            raise UserError(f"{path.name}, rule {i}: params must be a table of name = value")
        try:
            rule = rule_cls(**params)
        except (TypeError, ValueError) as err:
            raise UserError(f"{path.name}, rule {i} ({entry['rule']}): {_first_line(err)}") \
                from None
        pairs.append((selector, rule))
    return lrp.Composite(pairs)


def _selector(text, where: str):
    from lrp import select

    if not isinstance(text, str):
        raise UserError(f"{where}: select must be a string such as 'kind:conv'")
    head, _, rest = text.partition(":")
    values = [v.strip() for v in rest.split(",") if v.strip()]
    try:
        if head == "everything" and not rest:
            return select.everything()
        if head in ("first", "last"):
            return getattr(select, head)(*values)
        if head == "kind" and values:
            return select.kind(*values)
        if head == "name" and values:
            return select.name(*values)
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{where}: {_first_line(err)}") from None
    raise UserError(f"{where}: unknown selector {text!r}; use first, last, everything, "
                    "kind:<kind,...> or name:<glob,...>")
