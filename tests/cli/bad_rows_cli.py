"""Bad-input rows of the neon-xai command's readers (neon_xai.loading), for
tests/test_bad_input_table.py; the command itself is tested end to end in
tests/cli/test_cli.py (one line on stderr, exit code 2)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from neon_xai.loading import UserError, load_data, load_model, load_rules

_DIR = Path(tempfile.mkdtemp(prefix="neon-xai-rows-"))
(_DIR / "model.xyz").write_text("x")
(_DIR / "data.txt").write_text("1,2")
(_DIR / "ragged.csv").write_text("a,b\n1,2\n3\n")
(_DIR / "words.csv").write_text("a,b\n1,x\n")
(_DIR / "rules.toml").write_text('[[rule]]\nselect = "kind:conv"\nrule = "Magic"\n')
(_DIR / "selector.toml").write_text('[[rule]]\nselect = "sideways"\nrule = "Epsilon"\n')
(_DIR / "syntax.toml").write_text("[[rule]\n")
(_DIR / "m.pkl").write_bytes(b"x")

ROWS = [
    ("neon_xai.loading.load_model", "missing file",
     lambda: load_model(_DIR / "none.skops"), UserError, "does not exist"),
    ("neon_xai.loading.load_model", "unknown suffix",
     lambda: load_model(_DIR / "model.xyz"), UserError, "unknown model format"),
    ("neon_xai.loading.load_model", "pickle without permission",
     lambda: load_model(_DIR / "m.pkl"), UserError, "--allow-pickle"),
    ("neon_xai.loading.load_model", "a folder", lambda: load_model(_DIR), UserError, "folder"),
    ("neon_xai.loading.load_data", "unknown suffix",
     lambda: load_data(_DIR / "data.txt"), UserError, "unknown data format"),
    ("neon_xai.loading.load_data", "ragged csv",
     lambda: load_data(_DIR / "ragged.csv"), UserError, "line 3"),
    ("neon_xai.loading.load_data", "non-numeric csv",
     lambda: load_data(_DIR / "words.csv"), UserError, "non-numeric"),
    ("neon_xai.loading.load_data", "missing column",
     lambda: load_data(_DIR / "ragged.csv", feature_names=["a", "c"]), UserError, "line 3"),
    ("neon_xai.loading.load_rules", "unknown rule",
     lambda: load_rules(_DIR / "rules.toml"), UserError, "unknown rule 'Magic'"),
    ("neon_xai.loading.load_rules", "unknown selector",
     lambda: load_rules(_DIR / "selector.toml"), UserError, "unknown selector"),
    ("neon_xai.loading.load_rules", "invalid TOML",
     lambda: load_rules(_DIR / "syntax.toml"), UserError, "not valid TOML"),
]
