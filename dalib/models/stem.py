"""Token stems: how an image becomes the transformer's tokens (timm ``VisionTransformer``'s ``embed_layer``).

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*. Its ViTs embed non-overlapping patches (``"patch"``, timm's ``PatchEmbed``,
the faithful line). ``"conv"`` is the convolutional tokenizer of Compact Transformers (Hassani et
al., *Escaping the Big Data Paradigm with Compact Transformers*, 2021), a departure from the paper's
architecture that lets a one-block model learn far faster on 32 x 32 images. Both stems give the
same token grid ``(img_size / patch_size)^2``, so the attention layer, and therefore every
attention map and metric, sees the same number of tokens.

``STEMS`` maps a model config's ``stem`` value to its ``embed_layer`` (``None``: timm's default).
"""

from __future__ import annotations

import math

import torch
from torch import nn

DEFAULT_STEM = "patch"


class ConvStem(nn.Module):
    """Convolutional tokenizer: ``s = log2(patch_size)`` stages of

        h_{i+1} = MaxPool_{3x3, stride 2}(ReLU(Conv_{3x3}(h_i))),  channels 3 -> 32 -> 64 -> ... (32 * 2^i),

    then a 1 x 1 convolution to ``embed_dim``: tokens ``(B, (H / patch_size)^2, embed_dim)``, the grid of
    a patch-``patch_size`` embedding. Takes timm's ``embed_layer`` keyword arguments."""

    def __init__(self, img_size=32, patch_size=4, in_chans=3, embed_dim=128, bias=True, **_timm_kwargs):
        super().__init__()
        stages = int(round(math.log2(patch_size)))
        if patch_size < 2 or 2**stages != patch_size or img_size % patch_size:
            raise ValueError(
                f"stem 'conv' needs a power-of-two patch_size >= 2 that divides img_size (each stage halves the "
                f"grid), got patch_size={patch_size}, img_size={img_size}"
            )
        layers, c_in = [], in_chans
        for i in range(stages):
            c_out = 32 * 2**i
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            ]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(c_in, embed_dim, 1, bias=bias)
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.dynamic_img_pad = False

    def feat_ratio(self, as_scalar=True):
        return self.patch_size[0] if as_scalar else self.patch_size

    def dynamic_feat_size(self, img_size):
        return img_size[0] // self.patch_size[0], img_size[1] // self.patch_size[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) normalised image -> tokens (B, N, embed_dim), N = (H / patch_size)^2
        return self.proj(self.convs(x)).flatten(2).transpose(1, 2)


STEMS = {"patch": None, "conv": ConvStem}  # config value -> timm embed_layer (None: timm's PatchEmbed)


def check_stem(name, stem) -> str:
    if stem not in STEMS:
        raise ValueError(f"{name}: unknown stem {stem!r}; valid stems: {sorted(STEMS)}")
    return stem
