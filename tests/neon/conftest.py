"""Shared set-up for the neon tests: one torch thread, no denormals, matplotlib without a display.

One intra-op thread keeps the many small forward passes here fast and their timing steady
on a loaded machine (OpenMP workers spin-wait when cores are shared); both settings are
restored after each test module.
"""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True, scope="module")
def _single_thread_no_denormals():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
