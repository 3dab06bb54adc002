"""Evaluation mode for attacks and metrics: one context manager, restored on exit.

Attacks and sensitivity metrics must run the model in eval mode (dropout off) and give the caller
back exactly the modes it had. Metrics that need forward-mode AD, double backward or ``vmap`` also
switch timm's attention layers to their explicit path: mathematically the same function as the
fused scaled-dot-product kernel, which supports none of those.
"""

from __future__ import annotations

import contextlib

from torch import nn


@contextlib.contextmanager
def explicit_attention(model: nn.Module, enabled: bool = True):
    """With ``enabled``, set ``fused_attn = False`` on every module of ``model`` that has it (timm's
    attention then computes its softmax explicitly); on exit, also on exceptions, restore each
    module's own previous value."""
    fused = [(m, m.fused_attn) for m in model.modules() if hasattr(m, "fused_attn")] if enabled else []
    for m, _ in fused:
        m.fused_attn = False
    try:
        yield model
    finally:
        for m, flag in fused:
            m.fused_attn = flag


@contextlib.contextmanager
def eval_mode(model: nn.Module, explicit_attention: bool = False):
    """Put ``model`` (all sub-modules) in eval mode and, with ``explicit_attention``, switch timm's
    attention to its explicit path (:func:`explicit_attention`). On exit, also on exceptions, restore
    each sub-module's own previous ``training`` flag and ``fused_attn`` value."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with _explicit(model, explicit_attention):
            yield model
    finally:
        for m, training in modes:
            m.training = training


_explicit = explicit_attention  # eval_mode's parameter of the same name shadows the function
