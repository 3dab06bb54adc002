"""Parameter resolution: ``parameters``-cell defaults <- front-matter profile <- sweep point <-
``-p`` overrides, each checked against the default's type."""

from __future__ import annotations

import ast
import json

from dalib.notebooks import RunError

from .notebook import _NO_LITERAL, LiteralRefused, Notebook, literal_value


def _parse_value(raw: str):
    """A literal (or arithmetic on numbers), else the text itself (``model=vit``); a value that
    parses but is refused (too large, not finite) is a :class:`RunError` naming it."""
    text = raw.strip()
    if len(text) > 10_000:
        raise RunError(f"value of {len(text)} characters refused (at most 10000): {text[:60]}...")
    try:
        return literal_value(ast.parse(text, mode="eval").body)
    except LiteralRefused as e:
        raise RunError(f"value {text!r} refused: {e}; give a plain number, string or list") from None
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return raw


def _coerce(name: str, value, default, source: str):
    """Check ``value`` against the default's type (int accepted for float, list for tuple)."""
    if default is _NO_LITERAL or default is None or value is None:
        return value
    dt, vt = type(default), type(value)
    if dt is bool or vt is bool:
        if dt is vt:
            return value
    elif dt is float and vt is int:
        return float(value)
    elif dt is tuple and vt is list:
        return tuple(value)
    elif dt is list and vt is tuple:
        return list(value)
    elif isinstance(value, dt):
        return value
    raise RunError(
        f"parameter {name!r} ({source}) must be {dt.__name__} like its default {default!r}, got {vt.__name__} {value!r}"
    )


def _unknown(names, nb: Notebook, source: str) -> RunError:
    valid = ", ".join(
        f"{p.name} ({p.type_name}, default {p.default!r})" if p.default is not _NO_LITERAL else f"{p.name} (expression)"
        for p in nb.params.values()
    )
    return RunError(
        f"unknown parameter(s) {', '.join(repr(n) for n in names)} ({source}) for {nb.rel}; "
        f"valid parameters: {valid or 'none (the notebook has no cell tagged `parameters`)'}"
    )


def parse_overrides(pairs: list[str]) -> dict:
    """``["eps=2/255", "model=vit"]`` -> ``{"eps": "2/255", "model": "vit"}``; values are parsed
    later against the defaults (a literal or arithmetic on numbers, else a string)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise RunError(f"-p expects name=value, got {pair!r}")
        name, raw = pair.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise RunError(f"-p {pair!r}: {name!r} is not a parameter name")
        out[name] = raw
    return out


def resolve_parameters(
    nb: Notebook, profile: str, overrides: dict[str, str] | None = None, sweep: dict | None = None
) -> tuple[dict, dict]:
    """(resolved parameters, validated -p overrides): defaults <- profile <- sweep point <- overrides."""
    overrides = overrides or {}
    prof = dict(nb.profiles.get(profile, {}))
    bad = [n for n in prof if n not in nb.params]
    if bad:
        raise _unknown(bad, nb, f"front matter dalib.profiles.{profile}")
    bad = [n for grids in nb.sweeps.values() for grid in grids for n in grid if n not in nb.params]
    if bad:
        raise _unknown(sorted(set(bad)), nb, "front matter dalib.sweep")
    for n, v in (sweep or {}).items():
        prof[n] = v
    bad = [n for n in overrides if n not in nb.params]
    if bad:
        raise _unknown(bad, nb, "-p")
    params = {n: p.default for n, p in nb.params.items() if p.default is not _NO_LITERAL}
    for n, v in prof.items():
        where = f"sweep ({profile})" if sweep and n in sweep else f"profile {profile}"
        default = nb.params[n].default
        if isinstance(v, str) and default is not _NO_LITERAL and not isinstance(default, str):
            v = _parse_value(v)  # YAML reads 1e-3 (no dot) and 8/255 as strings
        params[n] = _coerce(n, v, default, where)
    given = {}
    for n, raw in overrides.items():
        default = nb.params[n].default
        value = raw if isinstance(default, str) and not _is_quoted(raw) else _parse_value(raw)
        given[n] = params[n] = _coerce(n, value, default, "-p")
    # JSON-compatible (tuples become lists) so the key and the record agree
    return json.loads(json.dumps(params)), json.loads(json.dumps(given))


def _is_quoted(raw: str) -> bool:
    raw = raw.strip()
    return len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
