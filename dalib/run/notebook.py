"""A runnable notebook: its jupytext front matter (``dalib: kind, profiles, sweep, validator,
resources, skip``) and its ``parameters`` cell (``name = literal  # comment``), parsed and checked
before any kernel starts."""

from __future__ import annotations

import ast
import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from dalib.notebooks import NOTEBOOK_KINDS, PROFILES, RunError

_NO_LITERAL = object()


@dataclass
class Param:
    name: str
    default: object  # a Python literal, or _NO_LITERAL if the cell assigns an expression
    comment: str = ""

    @property
    def type_name(self) -> str:
        return "expression" if self.default is _NO_LITERAL else type(self.default).__name__


@dataclass
class Notebook:
    path: Path  # absolute
    rel: str  # relative to the project root, posix
    stem: str
    text: str
    kind: str | None
    profiles: dict
    params: dict[str, Param] = field(default_factory=dict)
    sweeps: dict = field(default_factory=dict)  # profile -> [{param: [values]}, ...] (union of cartesian products)
    validator: str | None = None  # "module.function" checking resolved parameter values (front matter)
    resources: dict = field(default_factory=dict)  # profile -> {num_cpus, num_gpus} per run (Ray backend)
    skip: dict = field(default_factory=dict)  # profile -> why the notebook has no runs under it (front matter)


@functools.lru_cache(maxsize=256)
def _parse_yaml(block: str):
    """The parsed front matter block, or the YAML error's text. Cached by text: the claims read
    the ``train`` notebook's recipe for every record row, and parsing it is most of that time."""
    import yaml

    try:
        return yaml.safe_load(block) or {}, None
    except yaml.YAMLError as e:
        return None, str(e)


def _front_matter(text: str, rel: str) -> dict:
    m = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.S)
    if not m:
        raise RunError(f"{rel}: no YAML front matter; a dalib notebook starts with jupytext MyST front matter")
    fm, err = _parse_yaml(m.group(1))
    if err is not None:
        raise RunError(f"{rel}: front matter is not valid YAML: {err}")
    fm = copy.deepcopy(fm)  # the caller's own copy: the cached one is never handed out
    if fm.get("jupytext", {}).get("text_representation", {}).get("format_name") != "myst":
        raise RunError(f"{rel}: front matter lacks jupytext.text_representation.format_name: myst")
    return fm


_PARAM_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(:tags:[^\n]*\bparameters\b[^\n]*)\n(.*?)^```", re.S | re.M)


_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Pow: lambda a, b: a**b,
    ast.Mod: lambda a, b: a % b,
}


INT_LIMIT = 2**63  # |int| beyond int64 is no count, seed or budget; bounding each step bounds the work


class LiteralRefused(ValueError):
    """A value that parses as a Python expression but is refused (too large, not finite, ...):
    an error, never the string fallback."""


def _bounded(v, text: str):
    import math

    if isinstance(v, bool):
        return v
    if isinstance(v, int) and abs(v) > INT_LIMIT:
        raise LiteralRefused(f"{text} is larger than 2**63 in magnitude")
    if isinstance(v, float) and not math.isfinite(v):
        raise LiteralRefused(f"{text} is not a finite number ({v!r})")
    if isinstance(v, (list, tuple, set)):
        for x in v:
            _bounded(x, text)
    if isinstance(v, dict):
        for x in v.values():
            _bounded(x, text)
    return v


def literal_value(node):
    """``ast.literal_eval`` plus arithmetic on numbers (``eps = 8 / 255``); ValueError otherwise,
    :class:`LiteralRefused` (a ValueError) for a value refused outright: an int beyond 2**63 in
    magnitude at any step (``10**9**9`` is refused after one small power, not computed), or a
    float that is not finite (``1e999``)."""
    text = ast.unparse(node)
    try:
        return _bounded(ast.literal_eval(node), text)
    except LiteralRefused:
        raise
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = literal_value(node.left), literal_value(node.right)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            if isinstance(node.op, ast.Pow) and abs(b) > 64:
                raise LiteralRefused(f"{text}: exponent {b!r} is above 64")
            try:
                return _bounded(_BINOPS[type(node.op)](a, b), text)
            except (ArithmeticError, ValueError) as e:
                if isinstance(e, LiteralRefused):
                    raise
                raise LiteralRefused(f"{text}: {e}") from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = literal_value(node.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.op, ast.USub) else v
    raise ValueError(f"not a literal: {text}")


def parse_parameters(source: str, rel: str = "<cell>") -> dict[str, Param]:
    """Names, literal defaults and comments of a parameters cell (``name = literal  # comment``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise RunError(f"{rel}: parameters cell is not valid Python: {e}") from None
    lines = source.splitlines()
    params = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            continue
        try:
            default = literal_value(value)
        except ValueError:
            default = _NO_LITERAL
        line = lines[node.end_lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line[value.end_col_offset :] else ""
        params[target] = Param(target, default, comment)
    return params


def load_notebook(path: Path, root: Path) -> Notebook:
    path = path.resolve()
    rel = _rel(path, root)
    text = path.read_text(encoding="utf-8")
    fm = _front_matter(text, rel)
    dalib_fm = fm.get("dalib") or {}
    kind = dalib_fm.get("kind")
    if kind is not None and kind not in NOTEBOOK_KINDS:
        raise RunError(f"{rel}: front matter dalib.kind is {kind!r}; use one of {', '.join(NOTEBOOK_KINDS)}")
    profiles = dalib_fm.get("profiles") or {}
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) or v is None for v in profiles.values()):
        raise RunError(f"{rel}: front matter dalib.profiles must map profile name -> {{param: value}}")
    unknown_profiles = sorted(set(profiles) - set(PROFILES))
    if unknown_profiles:
        raise RunError(
            f"{rel}: unknown profile(s) {unknown_profiles} in front matter; profiles are {', '.join(PROFILES)}"
        )
    m = _PARAM_CELL.search(text)
    params = parse_parameters(m.group(2), rel) if m else {}
    sweeps = _parse_sweep(dalib_fm.get("sweep"), rel)
    validator = dalib_fm.get("validator")
    if validator is not None and not (isinstance(validator, str) and re.fullmatch(r"[\w.]+\.\w+", validator)):
        raise RunError(
            f"{rel}: front matter dalib.validator must name a function as 'package.module.function', got {validator!r}"
        )
    res = dalib_fm.get("resources") or {}
    if not (
        isinstance(res, dict)
        and all(k in PROFILES and isinstance(v, dict) and set(v) <= {"num_cpus", "num_gpus"} for k, v in res.items())
    ):
        raise RunError(
            f"{rel}: front matter dalib.resources must map profile -> {{num_cpus: n, num_gpus: n}}, got {res!r}"
        )
    skip = dalib_fm.get("skip") or {}
    if not (isinstance(skip, dict) and all(k in PROFILES and isinstance(v, str) and v for k, v in skip.items())):
        raise RunError(f"{rel}: front matter dalib.skip must map profile -> the reason it has no runs, got {skip!r}")
    if kind is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", path.stem):
        # the stem names the records' folder (results/<profile>/<stem>/): '...md' would put them in results/
        raise RunError(
            f"{rel}: a runnable notebook's name must be letters, digits, '_' and '-' before '.md' "
            f"(it names its records' folder), got stem {path.stem!r}; rename the file"
        )
    return Notebook(
        path,
        rel,
        path.stem,
        text,
        kind,
        {k: v or {} for k, v in profiles.items()},
        params,
        sweeps,
        validator,
        res,
        skip,
    )


def validate_parameters(nb: Notebook, params: dict) -> None:
    """Run the notebook's front-matter ``validator`` on resolved parameters, before any kernel
    starts: a bad value (``model="vitt"``, ``depth=0``, ``lr=-1``) becomes a :class:`RunError`
    that names the notebook, the parameter, the value and the valid range (the validator's
    message), also under ``--dry-run`` and ``--list``; so does a missing input it checks for
    (``FileNotFoundError``: pretrained weights, a dataset)."""
    import importlib

    from dalib import validate

    try:
        validate.common(params)
    except ValueError as e:
        raise RunError(f"{nb.rel}: bad parameter value: {e}") from None
    if not nb.validator:
        return

    module, _, name = nb.validator.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise RunError(f"{nb.rel}: front matter dalib.validator {nb.validator!r} cannot be imported: {e}") from None
    try:
        fn(dict(params))
    except (ValueError, TypeError, KeyError, RunError) as e:
        raise RunError(f"{nb.rel}: bad parameter value: {e}") from None
    except FileNotFoundError as e:  # weights or a dataset that is not here (the message says where to put it)
        raise RunError(f"{nb.rel}: missing input: {e}") from None


def _parse_sweep(sweep, rel: str) -> dict:
    """Front matter ``dalib.sweep``: ``{param: [values]}`` (or a list of such grids) for every
    profile, or ``{profile: that}`` per profile. Returns ``{profile: [{param: [values]}, ...]}``."""
    if not sweep:
        return {}
    if not isinstance(sweep, (dict, list)):
        raise RunError(f"{rel}: front matter dalib.sweep must map param -> [values] (or profile -> that)")
    if (
        isinstance(sweep, dict)
        and sweep
        and all(k in PROFILES and isinstance(v, (dict, list)) for k, v in sweep.items())
    ):
        per_profile = dict(sweep)
    else:
        per_profile = {p: sweep for p in PROFILES}
    out = {}
    for prof, grids in per_profile.items():
        grids = grids if isinstance(grids, list) else [grids]
        for grid in grids:
            if not isinstance(grid, dict) or not grid:
                raise RunError(
                    f"{rel}: dalib.sweep ({prof}) must be a grid {{param: [values]}} or a list of "
                    f"such grids, got {grid!r}"
                )
            for name, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise RunError(
                        f"{rel}: dalib.sweep {name!r} ({prof}) must be a non-empty list of values, got {values!r}"
                    )
        out[prof] = grids
    return out


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
