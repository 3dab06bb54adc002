"""Differential attention (timm ``DiffAttention``; Ye et al., *Differential Transformer*, ICLR 2025).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 3. Per differential head, two softmax maps from sub-heads ``2i`` and ``2i+1``:

    A_DA = A1 - lambda A2,  lambda = exp(lambda_q1 . lambda_k1) - exp(lambda_q2 . lambda_k2) + lambda_init

and the output ``(1 - lambda_init) * RMSNorm(A_DA V)`` per head (value heads of width ``2d``).
"""

import torch
from timm.layers import DiffAttention

from .common import float32_at_least, softmax_maps
from .spec import AttentionKind, register


def lambda_of(attn) -> torch.Tensor:
    """The learned lambda of a differential layer, a 0-dim tensor:
    ``exp(sum(lambda_q1 * lambda_k1)) - exp(sum(lambda_q2 * lambda_k2)) + lambda_init``
    (float32, or float64 for a float64 layer)."""
    if not isinstance(attn, DiffAttention):
        raise TypeError(f"lambda_of needs a DiffAttention layer, got {type(attn).__name__}")
    if attn.lambda_q1 is None:  # timm's dual_lambda variant (not built by dalib)
        return (
            torch.exp(float32_at_least(attn.lambda_a)) - torch.exp(float32_at_least(attn.lambda_b)) + attn.lambda_init
        )
    lam1 = torch.exp(float32_at_least(torch.sum(attn.lambda_q1 * attn.lambda_k1)))
    lam2 = torch.exp(float32_at_least(torch.sum(attn.lambda_q2 * attn.lambda_k2)))
    return lam1 - lam2 + attn.lambda_init


def qkv(attn, h: torch.Tensor):
    """q, k ``(B, 2H, N, d)`` and v ``(B, H, N, 2d)`` exactly as the module splits them."""
    B, N, C = h.shape  # (batch, tokens, channels)
    q, k, v = attn.qkv(h).chunk(3, dim=2)
    q = q.reshape(B, N, 2 * attn.num_heads, attn.head_dim).transpose(1, 2)  # (B, 2H, N, d)
    k = k.reshape(B, N, 2 * attn.num_heads, attn.head_dim).transpose(1, 2)  # (B, 2H, N, d)
    v = v.reshape(B, N, attn.num_heads, 2 * attn.head_dim).transpose(1, 2)  # (B, H, N, 2d)
    return attn.q_norm(q), attn.k_norm(k), v


def maps(attn, h: torch.Tensor) -> dict:
    """``{"A1", "A2", "lambda", "A_DA"}``: ``A1``/``A2`` ``(B, H, N, N)`` from sub-heads ``2i``/``2i+1``."""
    B, N, C = h.shape
    q, k, _ = qkv(attn, h)
    m = softmax_maps(attn, q, k).view(B, attn.num_heads, 2, N, N)
    A1, A2 = m[:, :, 0], m[:, :, 1]
    lam = lambda_of(attn)
    return {"A1": A1, "A2": A2, "lambda": lam, "A_DA": A1 - lam * A2}


def output_from_maps(attn, h: torch.Tensor, maps: dict) -> torch.Tensor:
    """``proj(norm(concat_heads((1 - lambda_init) RMSNorm(A_DA V))))`` ``(B, N, C)``."""
    B, N, C = h.shape
    _, _, v = qkv(attn, h)
    out = attn.sub_norm(maps["A_DA"].to(v.dtype) @ v) * (1 - attn.lambda_init)
    return attn.proj(attn.norm(out.transpose(1, 2).reshape(B, N, -1)))


DIFF = register(
    AttentionKind(
        name="diff",
        module_types=(DiffAttention,),
        map_keys=("A1", "A2", "A_DA"),
        maps=maps,
        output_from_maps=output_from_maps,
        lam=lambda_of,
        timm_layer="diff",
        head_divisor=2,
    )
)
