"""Standard softmax attention (timm ``Attention``): ``A = softmax(Q K^T / sqrt(d))`` per head.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 3 (the baseline the differential layer is compared with).
"""

import torch
from timm.layers import Attention

from .common import softmax_maps
from .spec import AttentionKind, register


def qkv(attn, h: torch.Tensor):
    """q, k, v ``(B, H, N, d)`` exactly as the module splits them (q/k after their norms)."""
    B, N, C = h.shape  # (batch, tokens, channels)
    q, k, v = attn.qkv(h).reshape(B, N, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    return attn.q_norm(q), attn.k_norm(k), v


def maps(attn, h: torch.Tensor) -> dict:
    """``{"A": (B, H, N, N)}``."""
    q, k, _ = qkv(attn, h)
    return {"A": softmax_maps(attn, q, k)}


def output_from_maps(attn, h: torch.Tensor, maps: dict) -> torch.Tensor:
    """``proj(norm(concat_heads(A V)))`` ``(B, N, C)``."""
    B, N, C = h.shape
    _, _, v = qkv(attn, h)
    out = (maps["A"].to(v.dtype) @ v).transpose(1, 2).reshape(B, N, -1)
    return attn.proj(attn.norm(out))


STANDARD = register(
    AttentionKind(
        name="standard",
        module_types=(Attention,),
        map_keys=("A",),
        maps=maps,
        output_from_maps=output_from_maps,
        timm_layer="attn",
        head_divisor=1,
    )
)
