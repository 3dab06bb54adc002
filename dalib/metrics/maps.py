"""Attention maps as tensor-valued functions of an input, for the sensitivity metrics.

Wraps ``dalib.models.attention_maps`` / ``layer_attention_maps`` (the maps of Takahashi et al.,
Sec. 3: ``A`` for standard attention; ``A1``, ``A2``, ``A_DA = A1 - lambda A2`` for
differential attention) into functions ``f(input) -> (B, L, M, H, N, N)`` (layers, maps, heads,
queries, keys) that the estimators of :mod:`dalib.metrics.lipschitz` and
:mod:`dalib.metrics.alignment` consume. Two views:

- ``wrt="image"``: the maps of every layer as functions of the image ``x`` ``(B, 3, H, W)``.
- ``wrt="layer"``: the maps of layer ``l`` as a function of that layer's own input
  ``h_l`` ``(B, N, C)`` (after ``norm1``) -- the "layer isolation" view of the theory.
"""

from __future__ import annotations

import torch

WRT = ("image", "layer")
DIFF_KEYS = ("A1", "A2", "A_DA")
STANDARD_KEYS = ("A",)


def check_wrt(wrt) -> str:
    if wrt not in WRT:
        raise ValueError(f"wrt must be one of {WRT} (input image, or each layer's own input), got {wrt!r}")
    return wrt


def model_kind(model) -> str:
    """The name of the model's attention kind (``dalib.models.attention.ATTENTION_KINDS``), e.g. ``"diff"``."""
    from dalib.models import model_kind as _kind

    return _kind(model).name


def is_differential(model) -> bool:
    """True if the model's attention kind has two branches and a lambda (``A_DA = A1 - lambda A2``)."""
    from dalib.models import model_kind as _kind

    return _kind(model).differential


def available_keys(model) -> tuple:
    from dalib.models import model_kind as _kind

    return _kind(model).map_keys


def check_keys(model, keys) -> tuple:
    valid = available_keys(model)
    if keys is None:
        return valid
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    bad = [k for k in keys if k not in valid]
    if bad or not keys:
        raise ValueError(f"map keys {bad or keys} not available for this model; valid: {valid}")
    return keys


def _stack(maps_per_layer, keys):
    # list over layers of dicts -> (B, L, M, H, N, N)
    return torch.stack([torch.stack([m[k] for k in keys], dim=1) for m in maps_per_layer], dim=1)


def image_map_fn(model, keys=None):
    """``f(x) -> (B, L, M, H, N, N)``: maps ``keys`` of every layer as functions of the image."""
    from dalib.models import attention_maps

    keys = check_keys(model, keys)

    def f(x):
        return _stack(attention_maps(model, x), keys)

    return f


def layer_map_fn(model, layer: int, keys=None):
    """``f(h) -> (B, 1, M, H, N, N)``: maps ``keys`` of layer ``layer`` as functions of its input."""
    from dalib.models import attention_layers, layer_attention_maps

    keys = check_keys(model, keys)
    layers = attention_layers(model)
    if not isinstance(layer, int) or not 0 <= layer < len(layers):
        raise ValueError(f"layer must be an int in [0, {len(layers)}), got {layer!r}")
    attn = layers[layer]

    def f(h):
        return _stack([layer_attention_maps(attn, h)], keys)

    return f


def layer_lambdas(model) -> list:
    """Learned lambda per layer (floats; ``None`` for a non-differential kind)."""
    from dalib.models import attention_layers, kind_of

    return [float(kind_of(m).lam(m).detach()) if kind_of(m).differential else None for m in attention_layers(model)]


def views(model, x, wrt, keys=None):
    """Yield ``(layer_offset, f, input)`` for the chosen view: one item for ``wrt="image"``
    (all layers at once), one per layer for ``wrt="layer"`` (inputs detached)."""
    from dalib.models import attention_layers, layer_inputs

    check_wrt(wrt)
    if wrt == "image":
        yield 0, image_map_fn(model, keys), x
        return
    with torch.no_grad():
        hs = [h.detach() for h in layer_inputs(model, x)]
    for layer in range(len(attention_layers(model))):
        yield layer, layer_map_fn(model, layer, keys), hs[layer]


def eval_mode(model):
    """Context manager for metric computations: the model in eval mode (dropout off) and every
    attention layer on timm's explicit (non-fused) path, which is mathematically the same
    function but supports forward-mode AD, double backward and ``vmap`` (the fused SDPA kernel
    does not). Modes and flags are restored on exit (``dalib.models.modes.eval_mode``)."""
    from dalib.models.modes import eval_mode as _eval_mode

    return _eval_mode(model, explicit_attention=True)
