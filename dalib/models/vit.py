"""ViT and DiffViT image classifiers built on timm's ``VisionTransformer``.

References: Dosovitskiy et al., *An Image is Worth 16x16 Words* (ViT, ICLR 2021); Ye et al.,
*Differential Transformer* (ICLR 2025) for the differential attention layer (timm's
``DiffAttention``, ``attn_layer="diff"``); Hammoud & Ghanem, *DiffCLIP* (TMLR 2025) for the
head-count convention and the constant ``lambda_init``.

Head convention: ``num_heads`` is the head count of the *standard* model. DiffViT uses
``num_heads // 2`` differential heads, each with two query/key sub-heads of dimension
``d = embed_dim // num_heads`` and a value head of dimension ``2 d``. Both variants therefore have
the same q/k/v/proj parameter shapes; DiffViT adds per layer the four lambda vectors
(``4 d`` parameters) and the affine sub-norm (``2 d`` parameters).
"""

import math

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from .attention import get_kind
from .stem import DEFAULT_STEM, STEMS


def schedule_lambda_init(layer_index: int) -> float:
    """Diff Transformer depth schedule ``lambda_init(l) = 0.8 - 0.6 exp(-0.3 l)``, ``l`` 0-based."""
    return 0.8 - 0.6 * math.exp(-0.3 * layer_index)


class ViTClassifier(nn.Module):
    """Image classifier: ``logits = ViT((x - mean) / std)`` for images ``x`` in [0, 1].

    ``attn`` selects the attention layer, a kind of ``dalib.models.attention.ATTENTION_KINDS``: ``"standard"`` (softmax attention
    ``A = softmax(Q K^T / sqrt(d))``) or ``"diff"`` (differential attention
    ``A_DA = softmax(Q1 K1^T / sqrt(d)) - lambda softmax(Q2 K2^T / sqrt(d))`` with
    ``lambda = exp(lambda_q1 . lambda_k1) - exp(lambda_q2 . lambda_k2) + lambda_init`` and output
    ``(1 - lambda_init) * RMSNorm(A_DA V)`` per head).
    ``config`` (a JSON-serialisable dict) records everything needed to rebuild the model.
    """

    def __init__(
        self,
        *,
        attn,
        depth,
        lambda_init,
        num_classes,
        img_size,
        patch_size,
        embed_dim,
        num_heads,
        mlp_ratio,
        qkv_bias,
        global_pool,
        mean,
        std,
        stem=DEFAULT_STEM,
        config=None,
    ):
        super().__init__()
        kind = get_kind(attn)  # dalib.models.attention: the layer class, head layout and lambda
        self.vit = VisionTransformer(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=len(mean),
            num_classes=num_classes,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads // kind.head_divisor,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            global_pool=global_pool,
            attn_layer=kind.timm_layer,
            **({"embed_layer": STEMS[stem]} if STEMS[stem] is not None else {}),
        )
        if kind.differential and hasattr(self.vit.blocks[0].attn, "lambda_init"):  # V1's constant lambda_init
            for i, block in enumerate(self.vit.blocks):
                block.attn.lambda_init = schedule_lambda_init(i) if lambda_init == "schedule" else float(lambda_init)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.config = dict(config or {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) in [0, 1] -> logits (B, num_classes)
        return self.vit((x - self.mean) / self.std)

    def extra_repr(self) -> str:
        return f"config={self.config}"
