"""Standard softmax attention as ``torch.nn.MultiheadAttention``: the text tower of the CLIP
baseline (SLIP/OpenAI layout, ``attn.in_proj_weight`` and ``attn.out_proj``).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 3: ``A = softmax(Q K^T / sqrt(d) + M)`` per head, ``M`` an optional additive mask.
Maps are for batch-first layers (``batch_first=True``), as dalib builds them.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .common import float32_at_least
from .spec import AttentionKind, register


def qkv(attn: nn.MultiheadAttention, h: torch.Tensor):
    """q, k, v ``(B, H, N, d)`` from the packed input projection."""
    if not attn.batch_first:
        raise ValueError("attention maps need a batch_first=True nn.MultiheadAttention")
    B, N, C = h.shape
    H = attn.num_heads
    q, k, v = F.linear(h, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    return [t.reshape(B, N, H, C // H).transpose(1, 2) for t in (q, k, v)]


def maps(attn: nn.MultiheadAttention, h: torch.Tensor, attn_mask: torch.Tensor | None = None) -> dict:
    """``{"A": (B, H, N, N)}`` in float32 at least."""
    q, k, _ = qkv(attn, h)
    logits = float32_at_least((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1))
    if attn_mask is not None:
        logits = logits + attn_mask.to(logits.dtype)
    return {"A": logits.softmax(dim=-1)}


def output_from_maps(attn: nn.MultiheadAttention, h: torch.Tensor, maps: dict) -> torch.Tensor:
    """``out_proj(concat_heads(A V))`` ``(B, N, C)``."""
    B, N, C = h.shape
    _, _, v = qkv(attn, h)
    return attn.out_proj((maps["A"].to(v.dtype) @ v).transpose(1, 2).reshape(B, N, C))


MHA = register(
    AttentionKind(
        name="mha",
        module_types=(nn.MultiheadAttention,),
        map_keys=("A",),
        maps=maps,
        output_from_maps=output_from_maps,
        head_divisor=1,
    )
)
