"""Wall time of an epoch's phases, summed over the epoch, for the log and ``results.json``.

A Cluster Contrast epoch spends its time in four places: feature extraction
over every training frame, the neighbour search, the Jaccard distances with
DBSCAN (or the assignment), and the training steps. :class:`PhaseTimer` adds
up each phase's seconds so the split can be printed after the epoch and kept
per epoch.
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterator


class PhaseTimer:
    """Seconds per named phase, accumulated until :meth:`reset`.

    Examples::

        timer = PhaseTimer()
        with timer.phase('features'):
            feats = extract()
        timer.seconds  # {'features': 1.23}
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def reset(self) -> dict[str, float]:
        """Returns the seconds so far and starts again from zero."""
        seconds, self.seconds = self.seconds, {}
        return seconds

