"""What a record says about where it came from: the git commit (and whether the code differed from
it), package versions, the time and the device."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib import metadata as _metadata
from pathlib import Path

VERSIONED_PACKAGES = ("torch", "torchvision", "timm", "numpy", "pandas", "papermill", "pyautoattack")


def _git(root: Path, *args) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state(root: Path, nb_rel: str) -> tuple[str, bool | None]:
    """(HEAD commit or "unknown", True if ``dalib/`` or the notebook differ from HEAD)."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return "unknown", None
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", "dalib", nb_rel)
    return commit, bool(status)


def versions() -> dict:
    out = {"python_version": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[f"{pkg}_version"] = _metadata.version(pkg)
        except _metadata.PackageNotFoundError:
            out[f"{pkg}_version"] = None
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _runner_device(params: dict) -> str:
    from dalib.device import resolve_device

    try:
        return str(resolve_device(params.get("device", "auto")))
    except (ValueError, TypeError):
        return str(params.get("device"))
