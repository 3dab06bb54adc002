"""The claims floor: every claim tested against the paper, computed from records, below the chapters.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. :data:`CLAIMS` (``registry.py``) names each claim once: its artifact, the group module
that computes it (``depth1``, ``mechanism``, ``tables``, ``depth``, ``clip``, ``ladder``) and the model
quality it is measured at. The scorecard iterates it; the chapters draw from the same functions.
Nothing here imports a chapter.
"""

from .registry import CLAIMS, GROUPS, QUALITIES, Claim, Quality, beneath, claims, group_module, headline, register

__all__ = [
    "CLAIMS",
    "GROUPS",
    "QUALITIES",
    "Claim",
    "Quality",
    "beneath",
    "claims",
    "group_module",
    "headline",
    "register",
]
