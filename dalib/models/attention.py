"""Attention maps of ViT / DiffViT as differentiable functions of the input.

Implements the maps the paper (Takahashi et al., *Understanding Sensitivity of Differential
Attention through the Lens of Adversarial Robustness*) studies: the standard map
``A = softmax(Q K^T / sqrt(d))`` and, for differential attention (Ye et al., *Differential
Transformer*, ICLR 2025), ``A1``, ``A2`` and ``A_DA = A1 - lambda A2``.

The model's own forward keeps timm's fused SDPA path. Maps are recomputed explicitly from each
attention module's input (captured with forward pre-hooks) and parameters, so they are exact
functions of that input and differentiable w.r.t. the image (``attention_maps``) or w.r.t. the
layer's own input (``layer_inputs`` + ``layer_attention_maps``: the "layer isolation" view).
"""

import torch
from timm.layers import Attention, DiffAttention
from torch import nn

__all__ = ["attention_layers", "attention_maps", "layer_inputs", "layer_attention_maps",
           "layer_output_from_maps", "lambda_of"]


def attention_layers(model: nn.Module) -> list:
    """The attention modules of ``model`` (timm ``Attention`` / ``DiffAttention``), in depth order."""
    layers = [m for m in model.modules() if isinstance(m, (Attention, DiffAttention))]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no timm Attention/DiffAttention module; "
                         "build models with dalib.models.create_model")
    return layers


class _StopForward(Exception):
    """Raised by the last pre-hook to skip the rest of the forward pass."""


def layer_inputs(model: nn.Module, x: torch.Tensor) -> list:
    """Each attention layer's own input ``(B, N, C)`` (after the block's ``norm1``) for images
    ``x`` ``(B, 3, H, W)`` in [0, 1], differentiable w.r.t. ``x`` (the forward stops after the last
    attention layer's input is known)."""
    layers = attention_layers(model)
    inputs = []

    def hook(module, args):
        inputs.append(args[0])
        if module is layers[-1]:
            raise _StopForward

    handles = [m.register_forward_pre_hook(hook) for m in layers]
    try:
        model(x)
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    if len(inputs) != len(layers):
        raise RuntimeError(f"captured {len(inputs)} attention inputs for {len(layers)} layers")
    return inputs


def _float32_at_least(t: torch.Tensor) -> torch.Tensor:
    # softmax / lambda in float32 (reference), or float64 when the layer runs in float64
    return t.to(torch.promote_types(t.dtype, torch.float32))


def lambda_of(attn: DiffAttention) -> torch.Tensor:
    """The learned lambda of a differential layer, a 0-dim tensor:
    ``exp(sum(lambda_q1 * lambda_k1)) - exp(sum(lambda_q2 * lambda_k2)) + lambda_init``
    (float32, or float64 for a float64 layer)."""
    if not isinstance(attn, DiffAttention):
        raise TypeError(f"lambda_of needs a DiffAttention layer, got {type(attn).__name__}")
    if attn.lambda_q1 is None:  # timm's dual_lambda variant (not built by dalib)
        return torch.exp(_float32_at_least(attn.lambda_a)) - torch.exp(_float32_at_least(attn.lambda_b)) \
            + attn.lambda_init
    lam1 = torch.exp(_float32_at_least(torch.sum(attn.lambda_q1 * attn.lambda_k1)))
    lam2 = torch.exp(_float32_at_least(torch.sum(attn.lambda_q2 * attn.lambda_k2)))
    return lam1 - lam2 + attn.lambda_init


def _qkv(attn: nn.Module, h: torch.Tensor):
    """q, k (B, sub-heads, N, d) and v (B, heads, N, d_v) exactly as the module splits them."""
    B, N, C = h.shape  # (batch, tokens, channels)
    if isinstance(attn, DiffAttention):
        q, k, v = attn.qkv(h).chunk(3, dim=2)
        q = q.reshape(B, N, 2 * attn.num_heads, attn.head_dim).transpose(1, 2)  # (B, 2H, N, d)
        k = k.reshape(B, N, 2 * attn.num_heads, attn.head_dim).transpose(1, 2)  # (B, 2H, N, d)
        v = v.reshape(B, N, attn.num_heads, 2 * attn.head_dim).transpose(1, 2)  # (B, H, N, 2d)
    elif isinstance(attn, Attention):
        qkv = attn.qkv(h).reshape(B, N, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, H, N, d)
    else:
        raise TypeError(f"expected a timm Attention or DiffAttention module, got {type(attn).__name__}")
    return attn.q_norm(q), attn.k_norm(k), v


def layer_attention_maps(attn: nn.Module, h: torch.Tensor) -> dict:
    """Attention maps of one layer computed explicitly from its input ``h`` ``(B, N, C)``.

    Standard layer: ``{"A"}`` with ``A = softmax(Q K^T / sqrt(d))`` ``(B, H, N, N)``.
    Differential layer (H differential heads): ``{"A1", "A2", "lambda", "A_DA"}``, ``A1``/``A2``
    from sub-heads ``2i``/``2i+1`` ``(B, H, N, N)``, ``lambda`` 0-dim, ``A_DA = A1 - lambda A2``.
    Softmax runs in float32 (float64 for a float64 layer); no dropout, no mask (ViT).
    """
    if h.dim() != 3:
        raise ValueError(f"h must be (batch, tokens, channels), got shape {tuple(h.shape)}")
    B, N, C = h.shape
    q, k, _ = _qkv(attn, h)
    logits = (q * attn.scale) @ k.transpose(-2, -1)  # (B, sub-heads, N, N)
    maps = _float32_at_least(logits).softmax(dim=-1)
    if not isinstance(attn, DiffAttention):
        return {"A": maps}
    maps = maps.view(B, attn.num_heads, 2, N, N)
    A1, A2 = maps[:, :, 0], maps[:, :, 1]
    lam = lambda_of(attn)
    return {"A1": A1, "A2": A2, "lambda": lam, "A_DA": A1 - lam * A2}


def layer_output_from_maps(attn: nn.Module, h: torch.Tensor, maps: dict) -> torch.Tensor:
    """The layer's output ``(B, N, C)`` computed from explicit maps (``A`` or ``A_DA``) and the values
    of ``h``: ``proj(concat_heads(A V))``, with ``(1 - lambda_init) * RMSNorm(A_DA V)`` per head for
    a differential layer. Equals ``attn(h)`` (the fused path) up to rounding."""
    B, N, C = h.shape
    _, _, v = _qkv(attn, h)
    A = maps["A_DA"] if isinstance(attn, DiffAttention) else maps["A"]
    out = A.to(v.dtype) @ v  # (B, H, N, d_v)
    if isinstance(attn, DiffAttention):
        out = attn.sub_norm(out) * (1 - attn.lambda_init)
    out = out.transpose(1, 2).reshape(B, N, -1)
    return attn.proj(attn.norm(out))


def attention_maps(model: nn.Module, x: torch.Tensor) -> list:
    """One dict of maps per attention layer (depth order) for images ``x`` ``(B, 3, H, W)`` in
    [0, 1]; tensors ``(B, heads, N, N)``, differentiable w.r.t. ``x``. Keys: ``"A"`` (standard) or
    ``"A1", "A2", "lambda", "A_DA"`` (differential)."""
    layers = attention_layers(model)
    return [layer_attention_maps(attn, h) for attn, h in zip(layers, layer_inputs(model, x))]
