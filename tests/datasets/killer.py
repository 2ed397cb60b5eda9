"""A method that kills the process that runs it on a chosen batch, once (a marker file says
it did): the death of a worker or of the whole run, made deterministic for the tests."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lrp


class KillOnce:
    """``lrp.explain`` that SIGKILLs its process on the ``at``-th call while ``marker`` does
    not exist (and creates it first), else explains."""

    def __init__(self, marker, at: int):
        self.marker, self.at = str(marker), at
        self.calls = 0

    def __call__(self, graph, x, target=None, **options):
        self.calls += 1
        if self.calls == self.at and not Path(self.marker).exists():
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return lrp.explain(graph, x, target, **options)

    def __repr__(self):          # the run's fingerprint must not depend on the marker
        return "KillOnce"
