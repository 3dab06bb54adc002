"""DiffCLIP's differential attention (Hammoud & Ghanem, *DiffCLIP: Differential Attention Meets
CLIP*, TMLR 2025; after Ye et al., *Differential Transformer*, ICLR 2025).

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness* (Takahashi et al.), Sec. 3 and its CLIP/DiffCLIP experiments (Fig. 2b, 2d,
4, 5). This is the layer of every attention block of both DiffCLIP towers, in the release's
parameter layout (separate ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``, a ``diff_norm`` and
the four lambda vectors), so the released ``state_dict`` loads into it key for key. It differs
from timm's ``DiffAttention`` (the ``diff`` kind, fused ``qkv``) only in that layout and in taking
an optional additive mask (the causal text mask).
"""

import torch
from torch import nn

from .common import float32_at_least
from .spec import AttentionKind, register


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last dimension, computed in float32."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = float32_at_least(x)
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class DiffCLIPAttention(nn.Module):
    """Differential attention with DiffCLIP's parameter layout.

    ``num_heads`` is the head count of the standard model (12 in ViT-B/16, 8 in the text tower);
    the layer has ``H = num_heads // 2`` differential heads, query/key sub-heads of dimension
    ``d = dim // num_heads`` and value heads of dimension ``2 d``. Per differential head ``i``:

        A1 = softmax(Q_{2i} K_{2i}^T / sqrt(d) + M),  A2 = softmax(Q_{2i+1} K_{2i+1}^T / sqrt(d) + M)
        A_DA = A1 - lambda A2,   lambda = exp(lambda_q1 . lambda_k1) - exp(lambda_q2 . lambda_k2) + lambda_init
        O_i = (1 - lambda_init) RMSNorm(A_DA V_i)

    and the output is ``out_proj(concat_i O_i)``. ``lambda_init`` is a constant (0.8 in every layer
    of DiffCLIP); ``M`` an optional additive mask ``(N, N)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        lambda_init: float = 0.8,
        qk_norm: bool = False,
        **_timm_kwargs,
    ):
        super().__init__()
        if num_heads % 2 or dim % num_heads:
            raise ValueError(f"DiffCLIPAttention: num_heads={num_heads} must be even and divide dim={dim}")
        if qk_norm:
            raise ValueError("DiffCLIPAttention has no q/k norm (DiffCLIP uses none); pass qk_norm=False")
        self.num_heads = num_heads // 2  # H: differential heads
        self.head_dim = dim // num_heads  # d: query/key sub-head width
        self.scale = self.head_dim**-0.5
        self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.k_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.out_proj = nn.Linear(dim, dim)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)
        self.diff_norm = RMSNorm(2 * self.head_dim, eps=1e-5)
        for name in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"):
            setattr(self, name, nn.Parameter(torch.randn(self.head_dim) * 0.1))
        self.lambda_init = float(lambda_init)

    def qkv(self, h: torch.Tensor):
        """q, k ``(B, 2H, N, d)`` and v ``(B, H, N, 2d)`` for an input ``h`` ``(B, N, C)``."""
        B, N, C = h.shape
        q = self.q_proj(h).view(B, N, 2 * self.num_heads, self.head_dim).transpose(1, 2)  # (B, 2H, N, d)
        k = self.k_proj(h).view(B, N, 2 * self.num_heads, self.head_dim).transpose(1, 2)  # (B, 2H, N, d)
        v = self.v_proj(h).view(B, N, self.num_heads, 2 * self.head_dim).transpose(1, 2)  # (B, H, N, 2d)
        return q, k, v

    def lam(self) -> torch.Tensor:
        """The learned lambda, a 0-dim float32 tensor (float64 for a float64 layer)."""
        lam1 = torch.exp(float32_at_least(torch.sum(self.lambda_q1 * self.lambda_k1)))
        lam2 = torch.exp(float32_at_least(torch.sum(self.lambda_q2 * self.lambda_k2)))
        return lam1 - lam2 + self.lambda_init

    def maps(self, h: torch.Tensor, attn_mask: torch.Tensor | None = None) -> dict:
        """``{"A1", "A2", "lambda", "A_DA"}``, maps ``(B, H, N, N)`` in float32 at least."""
        B, N, _ = h.shape
        q, k, _ = self.qkv(h)
        logits = float32_at_least((q * self.scale) @ k.transpose(-2, -1))  # (B, 2H, N, N)
        if attn_mask is not None:
            logits = logits + attn_mask.to(logits.dtype)
        m = logits.softmax(dim=-1).view(B, self.num_heads, 2, N, N)
        A1, A2, lam = m[:, :, 0], m[:, :, 1], self.lam()
        return {"A1": A1, "A2": A2, "lambda": lam, "A_DA": A1 - lam * A2}

    def output_from_maps(self, h: torch.Tensor, maps: dict) -> torch.Tensor:
        """``out_proj(concat_heads((1 - lambda_init) RMSNorm(A_DA V)))`` ``(B, N, C)``."""
        B, N, C = h.shape
        _, _, v = self.qkv(h)
        out = self.diff_norm(self.attn_drop(maps["A_DA"]).to(v.dtype) @ v) * (1 - self.lambda_init)
        return self.proj_drop(self.out_proj(out.transpose(1, 2).reshape(B, N, C)))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        # x: (B, N, C) -> (B, N, C); attn_mask: None or additive (N, N) (timm passes None)
        if is_causal:
            raise ValueError("DiffCLIPAttention takes a causal mask as attn_mask, not is_causal=True")
        return self.output_from_maps(x, self.maps(x, attn_mask))

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, head_dim={self.head_dim}, lambda_init={self.lambda_init}"


DIFFCLIP = register(
    AttentionKind(
        name="diffclip",
        module_types=(DiffCLIPAttention,),
        map_keys=("A1", "A2", "A_DA"),
        maps=lambda attn, h: attn.maps(h),
        output_from_maps=lambda attn, h, m: attn.output_from_maps(h, m),
        lam=lambda attn: attn.lam(),
        timm_layer=DiffCLIPAttention,
        head_divisor=1,
    )
)
