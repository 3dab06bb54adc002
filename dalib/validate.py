"""Checks shared by the notebooks' validators (front matter ``dalib.validator``).

A validator runs on a notebook's resolved parameters before any kernel starts, and raises
``ValueError`` naming the parameter, its value and the valid range. These helpers word the common
cases once: counts, budgets in units of 1/255, and an image count against the evaluation split of a
registered dataset (:class:`dalib.data.DatasetSpec`).
"""

from __future__ import annotations

import numbers


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def count(params: dict, name: str, low: int = 1, high: int | None = None, high_name: str | None = None) -> int:
    """``params[name]`` is an int in ``[low, high]`` (``high`` None: no upper bound). ``high_name``
    names what bounds it in the message (``n_lip must be an int in [0, n_images=6]``)."""
    v = params[name]
    if _is_int(v) and v >= low and (high is None or v <= high):
        return v
    if high is not None:
        bound = f"{high_name}={high}" if high_name else f"{high}"
        rng = f"an int in [{low}, {bound}]"
    else:
        rng = "a positive int" if low == 1 else f"an int >= {low}"
    raise ValueError(f"{name} must be {rng}, got {v!r}")


def budgets(
    params: dict,
    name: str,
    high: float = 255,
    unit: str = "units of 1/255",
    nonempty: bool = False,
    scalar: bool = False,
) -> list:
    """``params[name]`` is a list of numbers in ``(0, high]`` (``scalar``: one such number is
    accepted too); ``nonempty`` refuses ``[]``. Returns the list."""
    v = params[name]
    vals = [v] if scalar and _is_number(v) else v
    what = "a budget or a list of budgets" if scalar else "a list of budgets"
    if not isinstance(vals, list) or not all(_is_number(b) and 0 < b <= high for b in vals):
        raise ValueError(f"{name} must be {what} in (0, {high:g}] ({unit}), got {v!r}")
    if nonempty and not vals:
        raise ValueError(f"{name} must name at least one budget ({unit}), got []")
    return vals


def number(params: dict, name: str, low: float, high: float, unit: str = "units of 1/255") -> float:
    """``params[name]`` is a number in ``(low, high]``."""
    v = params[name]
    if not (_is_number(v) and low < v <= high):
        raise ValueError(f"{name} must be a number in ({low:g}, {high:g}] ({unit}), got {v!r}")
    return v


def choice(params: dict, name: str, options) -> object:
    """``params[name]`` is one of ``options``."""
    v = params[name]
    if v not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}, got {v!r}")
    return v


def within_split(spec, n: int, name: str) -> None:
    """``n`` images (parameter ``name``) fit in the evaluation split of dataset ``spec``."""
    size = spec.sizes.get(spec.eval_split)
    if _is_int(n) and size and n > size:
        raise ValueError(f"{name}={n} exceeds the {size} images of {spec.name}/{spec.eval_split}")


def finite(value, name: str):
    """Every number in ``value`` (nested lists, tuples and dicts too) is finite: ``lr=1e999`` parses
    as inf and ``float('nan')`` compares false with every bound, so a range check alone lets both
    through."""
    import math

    if isinstance(value, dict):
        for k, v in value.items():
            finite(v, f"{name}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            finite(v, f"{name}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


DEVICE_CHECK_ENV = "DALIB_DEVICE_CHECK"  # "local" (default): the device must exist here; "cluster": Ray checks it


def device(value, name: str = "device") -> str:
    """``value`` names a device that exists on this machine: ``"auto"``, ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` with N below the number of visible CUDA devices, ``"mps"`` where available. Under
    the Ray backend (``$DALIB_DEVICE_CHECK=cluster``) only the form is checked here; the backend
    checks the index against the GPUs a task is given."""
    import os
    import re

    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string like 'auto', 'cpu', 'cuda' or 'cuda:0', got {value!r}")
    m = re.fullmatch(r"(auto|cpu|mps|cuda)(?::(\d+))?", value)
    if not m or (m.group(2) is not None and m.group(1) != "cuda"):
        raise ValueError(f"{name} must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got {value!r}")
    kind, index = m.group(1), m.group(2)
    if kind in ("auto", "cpu") or os.environ.get(DEVICE_CHECK_ENV, "local") == "cluster":
        return value
    import torch

    if kind == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ValueError(f"{name}={value!r}: no MPS device on this machine; use 'auto' or 'cpu'")
        return value
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        raise ValueError(f"{name}={value!r}: CUDA is not available on this machine; use 'auto' or 'cpu'")
    if index is not None and int(index) >= n:
        raise ValueError(f"{name}={value!r}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}")
    return value


def common(params: dict) -> None:
    """The checks every notebook's parameters get before its own validator: no non-finite number
    anywhere, ``num_threads`` (if present) an int >= 1, ``device`` (if present) a device that
    exists (:func:`device`)."""
    for name, v in params.items():
        finite(v, name)
    if "num_threads" in params:
        count(params, "num_threads", low=1)
    if "device" in params:
        device(params["device"])
