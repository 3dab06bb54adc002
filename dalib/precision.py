"""Training precision: ``"auto"`` trains in bfloat16 only where bf16 matrix products are faster.

CPUs differ: with AVX512-BF16 or AMX, bf16 autocast trains 1.3-2.7x faster than float32; on an
AMD EPYC with AVX2 and no native bf16, a 512x512 bf16 matmul ran 45x slower than float32 and a
training step took 7.5 s instead of 0.4 s. So the precision is not a constant of a recipe but a
property of the device. ``resolve_precision("auto", device)`` decides once per process and device:

- CUDA: bf16 when ``torch.cuda.is_bf16_supported()``;
- anything else (CPU, MPS): a short probe times a 512x512 matmul in float32 and in bfloat16
  (best of 5 after a warm-up) and picks bf16 only if it is at least ``BF16_MIN_SPEEDUP`` times
  faster. The probe takes under a second, even where bf16 is emulated.

Attacks and sensitivity metrics always run in float32; only training autocasts.
"""

from __future__ import annotations

import functools
import time

import torch

PRECISIONS = ("auto", "fp32", "bf16")
BF16_MIN_SPEEDUP = 1.2  # bf16 must beat fp32 by this factor on the probe to be chosen
PROBE_SIZE = 512


def check_precision(precision) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a ``ValueError`` naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {list(PRECISIONS)} ('auto': bf16 only where this "
            f"device multiplies bf16 faster than fp32), got {precision!r}"
        )
    return precision


def _best_time(fn, repeats: int = 5) -> float:
    fn()  # warm-up (allocations, kernel selection)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bf16_matmul_speedup(device: torch.device, n: int = PROBE_SIZE) -> float:
    """``t_fp32 / t_bf16`` of an ``n x n`` matmul on ``device`` (> 1: bf16 is faster)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device)
    b = torch.randn(n, n, generator=g).to(device)
    a16, b16 = a.bfloat16(), b.bfloat16()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run(x, y):
        return lambda: (x @ y, sync())

    return _best_time(run(a, b)) / _best_time(run(a16, b16))


@functools.lru_cache(maxsize=None)
def _auto(device_str: str) -> str:
    device = torch.device(device_str)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if bf16_matmul_speedup(device) >= BF16_MIN_SPEEDUP else "fp32"


def resolve_precision(precision: str, device) -> str:
    """``"fp32"`` or ``"bf16"``: ``precision`` itself, or for ``"auto"`` the faster one on
    ``device`` (decided once per process and device; see the module docstring)."""
    check_precision(precision)
    if precision != "auto":
        return precision
    return _auto(str(torch.device(device)))
