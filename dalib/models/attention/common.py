"""Pieces the timm attention kinds share: the query/key scaling and softmax in float32."""

import torch


def float32_at_least(t: torch.Tensor) -> torch.Tensor:
    """softmax / lambda in float32 (reference), or float64 when the layer runs in float64."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def softmax_maps(attn, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T * scale)`` ``(B, heads, N, N)`` in float32 at least (no mask, no dropout)."""
    logits = (q * attn.scale) @ k.transpose(-2, -1)
    return float32_at_least(logits).softmax(dim=-1)
