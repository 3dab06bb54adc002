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


def budgets(params: dict, name: str, high: float = 255, unit: str = "units of 1/255",
            nonempty: bool = False, scalar: bool = False) -> list:
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
