"""Load an example script of examples/ as a module (each test file gets its own copy, so
module-level state of one test file never leaks into another)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str, prefix: str):
    """examples/<name>.py imported under the module name ``<prefix>_<name>``."""
    spec = importlib.util.spec_from_file_location(f"{prefix}_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
