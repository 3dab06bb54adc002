"""Attention maps of ViT / DiffViT as differentiable functions of the input, through one spec per
attention kind (``ATTENTION_KINDS``: ``standard.py`` and ``diff.py`` (timm), ``diffv2.py`` (Diff Transformer V2), ``diffclip.py`` (DiffCLIP's
layer), ``mha.py`` (``nn.MultiheadAttention``, the CLIP text tower); adding a kind is one file that registers
an :class:`AttentionKind`).

Implements the maps the paper (Takahashi et al., *Understanding Sensitivity of Differential
Attention through the Lens of Adversarial Robustness*) studies: the standard map
``A = softmax(Q K^T / sqrt(d))`` and, for differential attention (Ye et al., *Differential
Transformer*, ICLR 2025), ``A1``, ``A2`` and ``A_DA = A1 - lambda A2``.

The model's own forward keeps timm's fused SDPA path. Maps are recomputed explicitly from each
attention module's input (captured with forward pre-hooks) and parameters, so they are exact
functions of that input and differentiable w.r.t. the image (``attention_maps``) or w.r.t. the
layer's own input (``layer_inputs`` + ``layer_attention_maps``: the "layer isolation" view).
"""

import torch
from torch import nn

from .diff import DIFF, lambda_of  # noqa: F401  (registers the kind)
from .diffclip import DIFFCLIP, DiffCLIPAttention  # noqa: F401  (registers the kind)
from .diffv2 import DIFFV2, DiffV2Attention  # noqa: F401  (registers the kind)
from .mha import MHA  # noqa: F401  (registers the kind)
from .spec import ATTENTION_KINDS, AttentionKind, get_kind, kind_of, register
from .standard import STANDARD  # noqa: F401  (registers the kind)

__all__ = [
    "ATTENTION_KINDS",
    "AttentionKind",
    "register",
    "get_kind",
    "kind_of",
    "model_kind",
    "attention_layers",
    "attention_maps",
    "layer_inputs",
    "layer_attention_maps",
    "layer_output_from_maps",
    "lambda_of",
    "DiffCLIPAttention",
    "DiffV2Attention",
]


def attention_layers(model: nn.Module) -> list:
    """The attention modules of ``model`` (any registered kind), in depth order."""
    layers = [m for m in model.modules() if kind_of(m) is not None]
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no attention module of a registered kind "
            f"({sorted(ATTENTION_KINDS)}); build models with dalib.models.create_model"
        )
    return layers


def model_kind(model: nn.Module) -> AttentionKind:
    """The one attention kind of ``model``'s layers (``ValueError`` if they mix kinds)."""
    kinds = {kind_of(m).name for m in attention_layers(model)}
    if len(kinds) != 1:
        raise ValueError(f"mixed attention kinds {sorted(kinds)} in one model are not supported")
    return ATTENTION_KINDS[kinds.pop()]


class _StopForward(Exception):
    """Raised by the last pre-hook to skip the rest of the forward pass."""


def layer_inputs(model: nn.Module, x: torch.Tensor) -> list:
    """Each attention layer's own input ``(B, N, C)`` (after the block's ``norm1``) for images
    ``x`` ``(B, 3, H, W)`` in [0, 1], differentiable w.r.t. ``x`` (the forward stops after the last
    attention layer's input is known)."""
    layers = attention_layers(model)
    inputs = []

    def hook(module, args):
        inputs.append(args[0])
        if module is layers[-1]:
            raise _StopForward

    handles = [m.register_forward_pre_hook(hook) for m in layers]
    try:
        model(x)
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    if len(inputs) != len(layers):
        raise RuntimeError(f"captured {len(inputs)} attention inputs for {len(layers)} layers")
    return inputs


def _kind(attn: nn.Module) -> AttentionKind:
    k = kind_of(attn)
    if k is None:
        raise TypeError(
            f"expected an attention layer of a registered kind ({sorted(ATTENTION_KINDS)}), got {type(attn).__name__}"
        )
    return k


def layer_attention_maps(attn: nn.Module, h: torch.Tensor) -> dict:
    """Attention maps of one layer computed explicitly from its input ``h`` ``(B, N, C)``, by its
    kind: ``{"A"}`` (standard) or ``{"A1", "A2", "lambda", "A_DA"}`` (differential), each map
    ``(B, heads, N, N)``. Softmax runs in float32 (float64 for a float64 layer); no dropout, no mask.
    """
    if h.dim() != 3:
        raise ValueError(f"h must be (batch, tokens, channels), got shape {tuple(h.shape)}")
    return _kind(attn).maps(attn, h)


def layer_output_from_maps(attn: nn.Module, h: torch.Tensor, maps: dict) -> torch.Tensor:
    """The layer's output ``(B, N, C)`` computed from explicit maps and the values of ``h``; equals
    ``attn(h)`` (the fused path) up to rounding."""
    return _kind(attn).output_from_maps(attn, h, maps)


def attention_maps(model: nn.Module, x: torch.Tensor) -> list:
    """One dict of maps per attention layer (depth order) for images ``x`` ``(B, 3, H, W)`` in
    [0, 1]; tensors ``(B, heads, N, N)``, differentiable w.r.t. ``x``. Keys: the layer kind's
    ``map_keys`` (and ``"lambda"`` for a differential kind)."""
    layers = attention_layers(model)
    return [layer_attention_maps(attn, h) for attn, h in zip(layers, layer_inputs(model, x))]
