"""`make bench`: every benchmark, one after the other, each printing its own markdown table.

LRP on CNNs (bench_lrp.py) and on transformers (bench_transformers.py: ViT-B/16 and Swin-T,
AttnLRP and CP-LRP) run each method in its own process under both allocator settings; the
attribution methods (bench_methods.py) against captum, one process per method; the NEON
benchmarks run with the tuned allocator. Record the figures in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TUNED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}
RUNS = [
    ("bench_lrp.py", [], {}),
    ("bench_transformers.py", [], {}),
    ("bench_recurrent.py", [], {}),
    ("bench_datasets.py", [], {}),
    ("bench_methods.py", [], {}),
    ("bench_tcav.py", [], {}),
    ("bench_metrics.py", [], {}),
    ("bench_spray.py", [], {}),
    ("bench_faithfulness.py", [], {}),
    ("bench_neon.py", [], TUNED),
    ("bench_svc.py", ["--checks"], TUNED),
]


def main() -> int:
    failed = 0
    for script, args, env in RUNS:
        print(f"\n## {script} {' '.join(args)}\n", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script), *args],
                                env=dict(os.environ, **env))
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
