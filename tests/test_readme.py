"""The README's code blocks run as written, in order, in one namespace."""

import re
from pathlib import Path

import numpy as np
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_code_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # what the comments in the quickstart promise
    assert namespace["R"].shape == (4, 3, 224, 224)
    assert torch.isfinite(namespace["R"]).all()
    explained = namespace["res"]
    assert isinstance(explained.relevance, torch.Tensor)
    assert explained.relevance.shape == (4, 3, 224, 224)
    logits = namespace["clusters"](namespace["X"][:5])
    np.testing.assert_allclose(namespace["Rk"].sum(1), logits.max(1), rtol=1e-9)
