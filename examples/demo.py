"""`make demo`: run every example on bundled data and save its figures to examples/out/.

Each example module has ``main(out_dir)`` and runs in seconds; an example whose full run
takes longer gets a smaller budget here (``OPTIONS``; run the script itself for the full one).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = [
    "digits_cnn",        # train a small CNN on digits, import it, print its graph
    "lrp_digits",        # explain it with composites built in code; heatmaps
    "wine_kmeans",       # which features put a wine in its k-means cluster (NEON)
    "digits_outlier",    # why a digit is an outlier for a one-class SVM (NEON)
    "digits_svc",        # an RBF SVC on digits explained pixel by pixel (NEON)
    "methods_digits",    # LRP beside gradients, walks, Grad-CAM, occlusion, RISE, LIME
    "methods_wine",      # a wine's k-means cluster: NEON, grad × input, occlusion, LIME
    "concepts_digits",   # TCAV of digit classes at both conv blocks; conv channels maximized
    "concepts_wine",     # TCAV of feature-group concepts per k-means cluster; prototypes
    "clever_hans",       # a planted shortcut found by SpRAy over one class's LRP maps
    "removal_digits",    # pixel flipping ranks the methods; the baseline changes the ranking
    "removal_neon",      # feature removal on neuralized models: NEON vs gradients, LIME, shap
    "sanity_checks",     # Adebayo's randomization checks: guided backprop barely reacts
    "conservation",      # δ = |ΣR − f| / |f|: exact where the math promises, else absorbed
    "localization",      # pointing game with a target digit and a distractor on one canvas
    "vit_digits",        # a vision transformer: AttnLRP, CP-LRP, gradients; pixel flipping
    "text_sentiment",    # a text CNN and an LSTM explained token by token (LRP, gradients)
    "roar_digits",       # remove and retrain, and the data-randomization check, on the CNN
]
#: Keyword arguments of an example's ``main`` in the demo (a smaller budget than its own run).
OPTIONS = {
    "vit_digits": {"epochs": 10, "n_show": 4, "n_faithfulness": 50},   # ~6 s instead of ~15 s
    "roar_digits": {"epochs": 3, "repeats": 1, "n_randomization": 200,
                    "randomization_epochs": 60, "n_explained": 32},
    "text_sentiment": {"n_test": 100},                                 # ~7 s instead of ~10 s
}


def main(out_dir: Path = HERE / "out") -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    for name in EXAMPLES:
        print(f"\n=== examples/{name}.py " + "=" * max(0, 60 - len(name)))
        start = time.perf_counter()
        importlib.import_module(name).main(out_dir, **OPTIONS.get(name, {}))
        print(f"--- {name} done in {time.perf_counter() - start:.1f} s")
    print(f"\nFigures saved under {out_dir}")


if __name__ == "__main__":
    main()
