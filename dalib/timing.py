"""Timing a call: wall-clock and process-CPU seconds, and a clock of a run's named stages (the
notebooks' cost tables).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple


class Timed(NamedTuple):
    """What :func:`timed` measured: the call's result, its wall-clock and process-CPU seconds."""

    out: Any
    wall_s: float
    cpu_s: float


def _sync(device) -> None:
    import torch

    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device=None) -> Timed:
    """Call ``fn()`` once; on a CUDA ``device`` its queued work is waited for before and after, so
    that the time is the work's and not the launch's."""
    _sync(device)
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    _sync(device)
    return Timed(out, time.perf_counter() - w, time.process_time() - c)


class StageClock:
    """The wall time of a run's named stages: ``clock(stage, n_images, fn)`` returns ``fn()`` and
    appends ``{"stage", "n_images", "time_s"}`` to ``clock.rows`` (a notebook's ``cost`` table)."""

    def __init__(self):
        self.rows: list[dict] = []

    def __call__(self, stage: str, n_images: int, fn: Callable[[], Any]) -> Any:
        t = timed(fn)
        self.rows.append({"stage": stage, "n_images": n_images, "time_s": t.wall_s})
        return t.out

    @property
    def total_s(self) -> float:
        return sum(r["time_s"] for r in self.rows)
