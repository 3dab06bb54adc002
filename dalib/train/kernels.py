"""Training kernels: which implementation of the same mathematics a training step runs.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness* (its models train for 100 epochs; on a 2-core CPU that is the campaign's
whole cost). The attention of one training step is

    A = softmax(Q K^T / sqrt(d)),  out = A V          (per head; DA: A1 - lambda A2)

whether timm's layers call the fused scaled-dot-product kernel (``fused_attn = True``) or compute
``A`` explicitly. On CPU the fused kernel's backward is the slowest op of a depth-1 training step at
CIFAR-10 sizes (64 tokens, head width 32: 38 % of the step, measured with ``torch.profiler``), and a
convolutional stem runs its convolutions and max-pools faster on ``channels_last`` images. So:

- ``"explicit"``: explicit attention and ``channels_last`` input images (CPU's ``"auto"``);
- ``"fused"``: timm's default layers and contiguous images (every other device's ``"auto"``, and
  every checkpoint written before this option existed).

Neither is hashed into a run's name (the recipe's mathematics is the same; floats round
differently). A run records the kernels it trained with, and a resumed run keeps them, so resuming
stays bit-identical. The train-step benchmark (``notebooks/benchmarks/train_step.md``) measures both,
and the equivalence of their learning curves.
"""

from __future__ import annotations

import torch

KERNELS = ("auto", "explicit", "fused")
LEGACY = "fused"  # what a checkpoint without a recorded choice was trained with


def check_kernels(kernels) -> None:
    if kernels not in KERNELS:
        raise ValueError(f"unknown training kernels {kernels!r}; valid: {list(KERNELS)} ('auto': explicit on CPU)")


def resolve_kernels(kernels: str, device) -> str:
    """``"explicit"`` or ``"fused"``: ``kernels``, with ``"auto"`` resolved for ``device``."""
    check_kernels(kernels)
    if kernels != "auto":
        return kernels
    return "explicit" if torch.device(device).type == "cpu" else "fused"


def training_kernels(net: torch.nn.Module, kernels: str):
    """A context within which ``net``'s attention layers run ``kernels`` (``"explicit"``:
    :func:`dalib.models.modes.explicit_attention`, each layer's own flag restored on exit, also on
    exceptions)."""
    from ..models.modes import explicit_attention

    if kernels not in ("explicit", "fused"):
        raise ValueError(f"training_kernels needs resolved kernels ('explicit' or 'fused'), got {kernels!r}")
    return explicit_attention(net, enabled=kernels == "explicit")


def as_input(x: torch.Tensor, kernels: str) -> torch.Tensor:
    """Images ``(B, C, H, W)`` in the memory format of ``kernels`` (same values)."""
    return x.contiguous(memory_format=torch.channels_last) if kernels == "explicit" else x
