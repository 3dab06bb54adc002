"""Differential Attention V2 (Ye et al., Diff Transformer V2, Microsoft unilm, January 2026).

Beyond the paper under study (*Understanding Sensitivity of Differential Attention through the
Lens of Adversarial Robustness*, which analyses V1, ``diff.py``). V2 changes what the paper's bounds
hang on: lambda is token- and head-wise and bounded, there is no per-head RMSNorm and no
``(1 - lambda_init)`` scale, and the two maps of a head come from two query heads that share one
key/value head (grouped-query attention, GQA).

Per output head ``i`` (of ``H``) and query token ``t``:

    A_DA[i, t, :] = A1[i, t, :] - lambda_i(x_t) A2[i, t, :],   lambda_i(x_t) = sigmoid(w_i . x_t) in (0, 1),
    A1 = softmax(Q_{2i} K_g^T / sqrt(d)),  A2 = softmax(Q_{2i+1} K_g^T / sqrt(d)),
    out_t = W_o concat_i(A_DA[i, t, :] V_g),   g = kv head of query heads 2i and 2i+1.

Head layout in the ViT (``head_divisor = 2``, as DiffViT): ``num_heads`` counts the heads of the
standard model, ``H = num_heads`` output heads of width ``d = embed_dim / num_heads``, ``2H`` query
heads, and ``K = H / 2`` key/value heads (timm hands the layer ``K``). GQA groups ``2H / K = 4``
consecutive query heads on one key/value head, so the query pair ``(2i, 2i+1)`` always shares its
head ``g = 2i // 4``. The layer then has the standard layer's ``4 C^2`` projection weights (queries
``2 C^2``, keys and values ``C^2``, output ``C^2``) plus ``C H`` for lambda: the V2 ViT matches ViT and
DiffViT in parameters (within 1 % at depth 1, width 128). The reference's causal mask and rotary
embedding are language-model parts; the ViT keeps its learned position embedding and full attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import float32_at_least, softmax_maps
from .spec import AttentionKind, register


class DiffV2Attention(nn.Module):
    """``out = W_o concat_i((A1_i - sigmoid(W_lambda x)_i A2_i) V_g(i))`` (see the module docstring);
    timm ``Block``'s ``attn_layer`` signature, with ``num_heads`` = key/value heads ``K``."""

    def __init__(
        self,
        dim: int,
        num_heads: int = 4,
        qkv_bias: bool = False,
        qk_norm: bool = False,
        scale_norm: bool = False,
        proj_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        norm_layer=None,
        **_timm_kwargs,
    ):
        super().__init__()
        if qk_norm or scale_norm or attn_drop or proj_drop:
            raise ValueError("DiffV2Attention: qk_norm, scale_norm and dropout are not part of dalib's V2 layer")
        self.num_kv_heads = num_heads  # K
        self.num_heads = 2 * num_heads  # H output heads (maps per layer)
        if dim % self.num_heads:
            raise ValueError(f"DiffV2Attention: dim {dim} is not divisible by {self.num_heads} output heads")
        self.head_dim = dim // self.num_heads  # d
        self.scale = self.head_dim**-0.5
        self.q_proj = nn.Linear(dim, 2 * self.num_heads * self.head_dim, bias=qkv_bias)  # 2H query heads
        self.kv_proj = nn.Linear(dim, 2 * self.num_kv_heads * self.head_dim, bias=qkv_bias)  # K keys, K values
        self.lambda_proj = nn.Linear(dim, self.num_heads, bias=False)  # lambda logits per token and head
        self.proj = nn.Linear(self.num_heads * self.head_dim, dim, bias=proj_bias)

    @property
    def group(self) -> int:
        """Query heads per key/value head (``2H / K = 4``)."""
        return 2 * self.num_heads // self.num_kv_heads

    def qkv(self, h: torch.Tensor):
        """q ``(B, 2H, N, d)``; k, v ``(B, K, N, d)``."""
        B, N, C = h.shape  # (batch, tokens, channels)
        q = self.q_proj(h).reshape(B, N, 2 * self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv_proj(h).reshape(B, N, 2, self.num_kv_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def lambda_logits(self, h: torch.Tensor) -> torch.Tensor:
        """``W_lambda x`` ``(B, H, N, 1)`` (lambda is its sigmoid)."""
        return self.lambda_proj(h).transpose(1, 2).unsqueeze(-1)

    def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        B, N, C = x.shape
        K, H, d = self.num_kv_heads, self.num_heads, self.head_dim
        # the 2H query heads grouped by their key/value head: (B, K, 2H/K, N, d); keys and values (B, K, 1, N, d)
        # broadcast over each group (no copies: 2x faster in bf16 on CPU than repeat_interleave)
        q = self.q_proj(x).reshape(B, N, K, self.group, d).permute(0, 2, 3, 1, 4)
        k, v = self.kv_proj(x).reshape(B, N, 2, K, 1, d).permute(2, 0, 3, 4, 1, 5).unbind(0)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        o = o.reshape(B, H, 2, N, d)  # query heads (2i, 2i+1) of output head i
        lam = torch.sigmoid(self.lambda_logits(x))  # (B, H, N, 1)
        o = o[:, :, 0] - lam.to(o.dtype) * o[:, :, 1]  # (B, H, N, d)
        return self.proj(o.transpose(1, 2).reshape(B, N, C))


def maps(attn: DiffV2Attention, h: torch.Tensor) -> dict:
    """``{"A1", "A2", "lambda", "A_DA"}``: maps ``(B, H, N, N)`` and lambda(x) ``(B, H, N, 1)``."""
    q, k, _ = attn.qkv(h)
    m = softmax_maps(attn, q, k.repeat_interleave(attn.group, dim=1))  # (B, 2H, N, N)
    A1, A2 = m[:, 0::2], m[:, 1::2]
    lam = torch.sigmoid(float32_at_least(attn.lambda_logits(h)))
    return {"A1": A1, "A2": A2, "lambda": lam, "A_DA": A1 - lam * A2}


def output_from_maps(attn: DiffV2Attention, h: torch.Tensor, maps: dict) -> torch.Tensor:
    """``proj(concat_i(A_DA_i V_g(i)))`` ``(B, N, C)``."""
    B, N, C = h.shape
    _, _, v = attn.qkv(h)
    v = v.repeat_interleave(attn.group // 2, dim=1)  # (B, H, N, d): output head i reads kv head 2i // group
    out = maps["A_DA"].to(v.dtype) @ v
    return attn.proj(out.transpose(1, 2).reshape(B, N, C))


def no_constant_lambda(attn: DiffV2Attention) -> torch.Tensor:
    """V2 has no per-layer lambda: lambda(x) depends on the token (``maps(...)["lambda"]``). NaN, so a
    formula that needs a constant lambda (Lemma 1 as printed) says that it does not apply."""
    return torch.tensor(float("nan"))


DIFFV2 = register(
    AttentionKind(
        name="diffv2",
        module_types=(DiffV2Attention,),
        map_keys=("A1", "A2", "A_DA"),
        maps=maps,
        output_from_maps=output_from_maps,
        lam=no_constant_lambda,
        timm_layer=DiffV2Attention,
        head_divisor=2,
    )
)
