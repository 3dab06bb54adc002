"""``AttentionKind``: what one kind of attention layer owns, so that models, maps and the
sensitivity metrics dispatch through one spec instead of recognising layers by name.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness* (Takahashi et al.), Sec. 3: the standard map ``A = softmax(Q K^T / sqrt(d))`` and the
differential maps ``A1``, ``A2``, ``A_DA = A1 - lambda A2`` (Ye et al., *Differential Transformer*).

A kind is one file that defines its spec and calls :func:`register`; ``ATTENTION_KINDS`` maps its name to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class AttentionKind:
    """One kind of attention layer: how it is found in a model, its explicit maps and output.

    ``maps(attn, h) -> dict`` gives the layer's maps from its own input ``h`` ``(B, N, C)``:
    ``map_keys`` (each ``(B, heads, N, N)``), plus ``"lambda"`` for a differential kind: 0-dim, or
    ``(B, heads, N, 1)`` where lambda depends on the token (V2, ``lambda(x) = sigmoid(W x)``).
    ``output_from_maps(attn, h, maps) -> (B, N, C)`` recomputes the layer's output from them.
    ``lam(attn)`` is the learned lambda of a differential layer (``None``: not differential; NaN where
    lambda depends on the input, so that a formula for a constant lambda reads "does not apply").
    """

    name: str  # registry key, e.g. "standard", "diff"
    module_types: tuple  # the nn.Module classes of this kind (exact type matches first)
    map_keys: tuple  # the maps the metrics read, e.g. ("A",) or ("A1", "A2", "A_DA")
    maps: Callable  # (attn, h) -> {key: (B, heads, N, N), ["lambda": 0-dim]}
    output_from_maps: Callable  # (attn, h, maps) -> (B, N, C)
    lam: Callable | None = None  # (attn) -> 0-dim lambda tensor; None for a non-differential kind
    timm_layer: str | type | None = None  # timm VisionTransformer's attn_layer for this kind
    head_divisor: int = 1  # heads of this kind per head of the standard model (DA: 2)

    def __post_init__(self):
        if self.lam is not None and tuple(self.map_keys) != ("A1", "A2", "A_DA"):
            raise ValueError(
                f"attention kind {self.name!r}: a differential kind's maps are ('A1', 'A2', 'A_DA'), "
                f"got {self.map_keys}"
            )
        if not self.module_types or not all(isinstance(t, type) for t in self.module_types):
            raise ValueError(f"attention kind {self.name!r}: module_types must be a non-empty tuple of classes")

    @property
    def differential(self) -> bool:
        """True for a kind with two branches and a lambda (``A_DA = A1 - lambda A2``)."""
        return self.lam is not None


ATTENTION_KINDS: dict[str, AttentionKind] = {}


def register(kind: AttentionKind) -> AttentionKind:
    """Add ``kind`` to ``ATTENTION_KINDS`` (a kind's file calls this once, at import)."""
    if kind.name in ATTENTION_KINDS and ATTENTION_KINDS[kind.name] is not kind:
        raise ValueError(f"attention kind {kind.name!r} is registered twice")
    ATTENTION_KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> AttentionKind:
    """The kind registered as ``name``, or ``ValueError`` listing the registered ones."""
    if not isinstance(name, str) or name not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention kind {name!r}; valid kinds: {sorted(ATTENTION_KINDS)}")
    return ATTENTION_KINDS[name]


def kind_of(module: nn.Module) -> AttentionKind | None:
    """The kind of ``module``: an exact type match first (so a subclass registered as its own kind
    wins over its parent's), then ``isinstance``; ``None`` if the module is no attention layer."""
    for k in ATTENTION_KINDS.values():
        if type(module) in k.module_types:
            return k
    for k in ATTENTION_KINDS.values():
        if isinstance(module, k.module_types):
            return k
    return None
