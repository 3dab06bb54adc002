"""CLIP and DiffCLIP ViT-B/16 in the SLIP layout of the DiffCLIP release, and their zero-shot
image classifier.

References: Radford et al., *CLIP* (ICML 2021); Mu et al., *SLIP* (ECCV 2022), whose CLIP class
(a timm ``VisionTransformer`` vision tower and OpenAI's text transformer) the DiffCLIP release
keeps; Hammoud & Ghanem, *DiffCLIP: Differential Attention Meets CLIP* (TMLR 2025). Paper under
study: Takahashi et al., *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*, Fig. 2b, 2d and the CLIP rows of Fig. 4 and 5.

The two models differ by one registry key: ``ARCHS[name]["attn"]``, the attention kind of every
layer of both towers (``standard``/``mha`` for CLIP, ``diffclip`` for DiffCLIP). The module names
reproduce the released ``state_dict`` keys (``visual.blocks.N.attn.q_proj``,
``transformer.resblocks.N.ln_1``, ``image_projection``, ...), so a release checkpoint loads key for
key (:mod:`dalib.models.clip_weights`). Small widths (tests, the ``smoke`` profile) keep the
layout and change only the shapes.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections import OrderedDict

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from .attention import get_kind

# Preprocessing of the DiffCLIP release's zero-shot demo: resize to 224 x 224 (no crop), ImageNet
# mean/std (not OpenAI CLIP's statistics).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PROMPT = "a photo of a {}"

# ViT-B/16 CLIP of the DiffCLIP release (DiffCLIP_VITB16): every key with its value.
VIT_B16 = {
    "embed_dim": 512,  # joint image-text embedding width
    "image_size": 224,  # input height = width (pixels)
    "patch_size": 16,  # patch side (pixels)
    "vision_width": 768,  # vision token width
    "vision_layers": 12,  # vision blocks
    "vision_heads": 12,  # vision heads of the standard model (DiffCLIP: 6 differential heads)
    "context_length": 77,  # text tokens
    "vocab_size": 49408,  # BPE vocabulary (OpenAI CLIP's, shipped with open_clip)
    "text_width": 512,  # text token width
    "text_heads": 8,  # text heads of the standard model (DiffCLIP: 4 differential heads)
    "text_layers": 12,  # text blocks
    "lambda_init": 0.8,  # DiffCLIP: constant lambda_init of every layer (ignored by CLIP)
}

# name -> what differs between the two models: the attention kinds of the two towers, and the eps
# of the vision tower's LayerNorms (every block's norm1/norm2 and the final norm). SLIP's CLIP_VITB16
# is timm's vit_base_patch16_224, whose LayerNorm has eps 1e-6; the DiffCLIP release builds its
# DifferentialVisionTransformer with norm_layer = nn.LayerNorm, torch's default eps 1e-5. With
# timm's 1e-6 in DiffCLIP, image embeddings on the release's own weights differ by about 2e-3
# (relative); with 1e-5 they agree to float32 rounding. The text towers use nn.LayerNorm (1e-5) in both.
ARCHS = {
    "clip": {"attn": "standard", "text_attn": "mha", "vision_norm_eps": 1e-6},
    "diffclip": {"attn": "diffclip", "text_attn": "diffclip", "vision_norm_eps": 1e-5},
}


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)`` (OpenAI CLIP's text MLP activation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class TextBlock(nn.Module):
    """``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))`` (OpenAI/SLIP ``ResidualAttentionBlock``)."""

    def __init__(self, width: int, heads: int, kind: str, lambda_init: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        if kind == "mha":
            self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        else:
            self.attn = get_kind(kind).timm_layer(width, num_heads=heads, lambda_init=lambda_init)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(4 * width, width))]
            )
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: (B, L, C); mask: additive (L, L)
        h = self.ln_1(x)
        if isinstance(self.attn, nn.MultiheadAttention):
            a = self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        else:
            a = self.attn(h, attn_mask=mask)
        x = x + a
        return x + self.mlp(self.ln_2(x))


class TextTransformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, kind: str, lambda_init: float):
        super().__init__()
        self.resblocks = nn.ModuleList(TextBlock(width, heads, kind, lambda_init) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


def check_config(name: str, **overrides) -> dict:
    """The full config of CLIP model ``name`` (ViT-B/16 with ``overrides``), validated: unknown
    names or keys, non-positive sizes and indivisible widths raise ``ValueError`` naming the fix."""
    if not isinstance(name, str) or name not in ARCHS:
        raise ValueError(f"unknown CLIP model {name!r}; valid names: {sorted(ARCHS)}")
    unknown = sorted(set(overrides) - set(VIT_B16))
    if unknown:
        raise ValueError(f"unknown CLIP config key(s) {unknown}; valid keys: {sorted(VIT_B16)}")
    c = {**VIT_B16, **overrides}
    for k, v in c.items():
        if k == "lambda_init":
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not 0 < v < 1:
                raise ValueError(f"{name}: lambda_init must be a float in (0, 1), got {v!r}")
            c[k] = float(v)
        elif not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: CLIP config {k!r} must be a positive int, got {v!r}")
    if c["image_size"] % c["patch_size"]:
        raise ValueError(f"{name}: image_size {c['image_size']} is not divisible by patch_size {c['patch_size']}")
    for width, heads in (("vision_width", "vision_heads"), ("text_width", "text_heads")):
        if c[width] % c[heads] or c[heads] % 2:
            raise ValueError(
                f"{name}: {heads}={c[heads]} must be even (DiffCLIP halves it) and divide {width}={c[width]}"
            )
    return c


class CLIP(nn.Module):
    """Two towers and a joint embedding (SLIP/DiffCLIP layout):

        phi_visual(x) = ViT(x)[cls] @ image_projection,   phi_text(t) = LN(T(t))[eot] @ text_projection

    and ``logits = exp(logit_scale) cos(phi_visual(x), phi_text(t))``. ``encode_image`` takes
    normalised pixels (``(x - IMAGENET_MEAN) / IMAGENET_STD``); :class:`CLIPImageEncoder` wraps it
    for images in [0, 1]. ``config`` records ``{"model": name, **full_config}``.
    """

    def __init__(self, name: str = "clip", **overrides):
        super().__init__()
        c = check_config(name, **overrides)
        arch = ARCHS[name]
        kind = get_kind(arch["attn"])
        self.visual = VisionTransformer(
            img_size=c["image_size"],
            patch_size=c["patch_size"],
            embed_dim=c["vision_width"],
            depth=c["vision_layers"],
            num_heads=c["vision_heads"] // kind.head_divisor,
            num_classes=0,
            qkv_bias=True,
            attn_layer=kind.timm_layer,
            norm_layer=functools.partial(nn.LayerNorm, eps=arch["vision_norm_eps"]),
        )
        if kind.differential:
            for block in self.visual.blocks:
                block.attn.lambda_init = c["lambda_init"]
        self.transformer = TextTransformer(
            c["text_width"], c["text_layers"], c["text_heads"], arch["text_attn"], c["lambda_init"]
        )
        self.token_embedding = nn.Embedding(c["vocab_size"], c["text_width"])
        self.positional_embedding = nn.Parameter(torch.randn(c["context_length"], c["text_width"]) * 0.01)
        self.ln_final = nn.LayerNorm(c["text_width"])
        self.image_projection = nn.Parameter(torch.randn(c["vision_width"], c["embed_dim"]) * c["vision_width"] ** -0.5)
        self.text_projection = nn.Parameter(torch.randn(c["text_width"], c["embed_dim"]) * c["text_width"] ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer(
            "attn_mask", torch.full((c["context_length"],) * 2, float("-inf")).triu(1), persistent=False
        )  # causal text mask (L, L), not in the state_dict
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        self.config = {"model": name, **c}

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        # pixels: (B, 3, S, S) normalised -> (B, embed_dim)
        return self.visual(pixels) @ self.image_projection

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        # tokens: (B, context_length) int64, end-of-text token = the largest id -> (B, embed_dim)
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.attn_mask))
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> dict:
        return {
            "image_embed": self.encode_image(pixels),
            "text_embed": self.encode_text(tokens),
            "logit_scale": self.logit_scale.exp(),
        }

    def extra_repr(self) -> str:
        return f"config={self.config}"


def create_clip(name: str, **overrides) -> CLIP:
    """Build ``"clip"`` or ``"diffclip"`` (ViT-B/16 unless ``overrides`` change keys of ``VIT_B16``)."""
    return CLIP(name, **overrides)


class CLIPImageEncoder(nn.Module):
    """The attacked function: ``phi_visual((x - mean) / std)`` ``(B, embed_dim)`` for images ``x``
    ``(B, 3, S, S)`` in [0, 1] (``S`` the model's ``image_size``; resize when loading the data).

    Holds only the vision tower and the projection, so attention-map metrics see the vision
    tower's layers alone (the paper's Fig. 4 and 5 CLIP rows).
    """

    def __init__(self, clip: CLIP, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.visual = clip.visual
        self.image_projection = clip.image_projection
        self.image_size = clip.config["image_size"]
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.config = dict(clip.config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"CLIPImageEncoder takes (B, 3, {self.image_size}, {self.image_size}) images in [0, 1], "
                f"got shape {tuple(x.shape)}; load the dataset with image_size={self.image_size}"
            )
        return self.visual((x - self.mean) / self.std) @ self.image_projection


SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


def tokenize(texts, context_length: int = 77) -> torch.Tensor:
    """OpenAI CLIP's BPE tokens ``(len(texts), context_length)`` (open_clip's tokenizer, offline):
    ``[start] + BPE(text) + [end]``, zero-padded.

    Where this and the DiffCLIP release's tokenizer would differ, it refuses instead (a zero-shot
    prompt never needs either case): a text of more than ``context_length - 2`` BPE tokens (the
    release truncates it without an end token, so its argmax pooling reads the start token, while
    open_clip keeps an end token in the last place), and a text that spells a special token."""
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer(context_length=context_length)
    texts = list(texts)
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"tokenize takes strings, got {type(t).__name__} {t!r}")
        special = [s for s in SPECIAL_TOKENS if s in t]
        if special:
            raise ValueError(
                f"prompt {t!r} spells the special token(s) {special}; the release's tokenizer and "
                "open_clip's treat them differently: remove them"
            )
        n = len(tok.encode(t))
        if n > context_length - 2:
            raise ValueError(
                f"prompt {t[:60]!r}... has {n} BPE tokens; at most {context_length - 2} fit between the "
                f"start and end tokens of a {context_length}-token context (the release would drop the "
                "end token): shorten it"
            )
    return tok(texts)


@torch.no_grad()
def class_text_embeddings(clip: CLIP, classnames, template: str = PROMPT, batch_size: int = 64) -> torch.Tensor:
    """L2-normalised text embeddings ``(num_classes, embed_dim)`` of ``template.format(c)``."""
    if "{}" not in template:
        raise ValueError(f"template must contain '{{}}' for the class name, got {template!r}")
    tokens = tokenize([template.format(c) for c in classnames], clip.config["context_length"])
    clip_dev = next(clip.parameters()).device
    out = [clip.encode_text(tokens[i : i + batch_size].to(clip_dev)) for i in range(0, len(tokens), batch_size)]
    return F.normalize(torch.cat(out).float(), dim=-1)
