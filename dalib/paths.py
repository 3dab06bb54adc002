"""Where the project's files are: the project root, the results folder, and the profile that book
pages read. The environment overrides each (``$DALIB_ROOT``, ``$DALIB_PROFILE``); the runner sets
``$DALIB_RUN_DIR`` for a kernel (the staging folder its records go to).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import os
from pathlib import Path

RUN_DIR_ENV = "DALIB_RUN_DIR"  # set by the runner for the kernel: staging directory of this run
PROFILE_ENV = "DALIB_PROFILE"  # profile whose records book pages read (default "cpu")
ROOT_ENV = "DALIB_ROOT"  # project root (default: the checkout holding this package)
DEFAULT_PROFILE = "cpu"


def project_root() -> Path:
    """The project root: ``$DALIB_ROOT`` if set, else the checkout that holds ``dalib/``."""
    env = os.environ.get(ROOT_ENV)
    return Path(env).resolve() if env else Path(__file__).resolve().parents[1]


def results_dir(root: Path | None = None) -> Path:
    """``<root>/results``: one folder per profile, one sub-folder per notebook stem."""
    return Path(root or project_root()) / "results"


def current_profile(profile: str | None = None) -> str:
    """``profile`` if given, else ``$DALIB_PROFILE``, else ``"cpu"``."""
    return profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
