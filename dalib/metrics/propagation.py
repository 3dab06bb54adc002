"""How an input perturbation propagates through the blocks of a ViT or DiffViT: the measured side
of Theorem 4 and Corollary 1 (the depth crossover).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 4 (Theorem 4, eq. 5): with ``Delta^(d)`` the change of the residual stream after
block ``d`` caused by an input perturbation ``xi``, the bound
``||Delta^(D)|| <= prod_d alpha^(d) L^(d) ||xi||`` has per-layer Lipschitz constants ``L^(d)`` and
cancellation factors ``alpha^(d)``. Here, per image and block ``d = 1..D``:

    gain^(d)  = ||Delta^(d)||_F / ||Delta^(d-1)||_F          (the actual amplification)
    L^(d)     = ||J_d(h^(d-1)(x))||_2                         (the block's worst case at x)
    alpha^(d) = gain^(d) / L^(d)                              (the propagation ratio)

``h^(0)`` is the input of the first block (patch embedding, class token and position embedding)
and ``h^(d)`` the output of block ``d``, all ``(B, N, C)``; ``J_d`` is the Jacobian of block ``d``
(attention and MLP with their residual connections) with respect to its own input, and ``L^(d)`` its
spectral norm by power iteration (:func:`dalib.metrics.lipschitz.power_lipschitz`). To first order
in ``xi``, ``alpha^(d) <= 1``; it is small when the perturbation arriving at block ``d`` avoids the
directions that block amplifies most. Whether ``alpha < 1`` is specific to DA, as the paper's
mechanism requires, is an empirical question for both kinds of model.
"""

from __future__ import annotations

import torch

from ..models.modes import eval_mode
from .lipschitz import power_lipschitz

__all__ = ["block_states", "perturbation_propagation", "block_lipschitz", "image_block_lipschitz", "propagation_rows"]


def _vit(model):
    vit = getattr(model, "vit", model)
    if not hasattr(vit, "blocks"):
        raise ValueError(
            f"{type(model).__name__} has no transformer blocks (.vit.blocks); "
            "build models with dalib.models.create_model"
        )
    return vit


def block_states(model, x: torch.Tensor) -> list:
    """``[h^(0), h^(1), ..., h^(D)]``, each ``(B, N, C)``: the input of the first block and the
    output of every block for images ``x`` ``(B, 3, H, W)`` in [0, 1] (differentiable w.r.t. ``x``;
    the classifier head is not evaluated)."""
    vit = _vit(model)
    states = []
    hooks = [vit.blocks[0].register_forward_pre_hook(lambda m, args: states.append(args[0]))]
    hooks += [b.register_forward_hook(lambda m, args, out: states.append(out)) for b in vit.blocks]
    try:
        vit.forward_features((x - model.mean) / model.std) if hasattr(model, "mean") else vit.forward_features(x)
    finally:
        for h in hooks:
            h.remove()
    if len(states) != len(vit.blocks) + 1:
        raise RuntimeError(f"captured {len(states)} block states for {len(vit.blocks)} blocks")
    return states


@torch.no_grad()
def perturbation_propagation(model, x: torch.Tensor, xi: torch.Tensor) -> dict:
    """Norms of the state changes caused by ``xi`` (same shape as ``x``; ``x + xi`` is used as
    given, so clip it first if it must stay an image): ``{"delta": (B, D + 1)`` with
    ``||h^(d)(x + xi) - h^(d)(x)||_F`` for ``d = 0..D``, ``"gain": (B, D)`` the ratio of successive
    deltas (NaN where the previous delta is 0)}."""
    if xi.shape != x.shape:
        raise ValueError(f"xi must have the shape of x {tuple(x.shape)}, got {tuple(xi.shape)}")
    with eval_mode(model):
        clean, pert = block_states(model, x), block_states(model, x + xi)
    delta = torch.stack([(p - c).flatten(1).norm(dim=1) for c, p in zip(clean, pert)], dim=1)  # (B, D+1)
    prev = delta[:, :-1]
    gain = torch.where(
        prev > 0, delta[:, 1:] / prev.clamp_min(torch.finfo(delta.dtype).tiny), torch.full_like(prev, float("nan"))
    )
    return {"delta": delta, "gain": gain}


def block_lipschitz(model, x: torch.Tensor, *, n_iter: int = 100, tol: float = 1e-6, seed: int = 0) -> torch.Tensor:
    """``(B, D)``: ``L^(d) = ||J_d||_2``, the spectral norm of block ``d``'s Jacobian with respect to
    its own input, at the clean states ``h^(d-1)(x)``, by power iteration (explicit attention path,
    eval mode)."""
    vit = _vit(model)
    out = []
    with eval_mode(model, explicit_attention=True):
        with torch.no_grad():
            states = [h.detach() for h in block_states(model, x)]
        for d, block in enumerate(vit.blocks):
            out.append(power_lipschitz(block, states[d], n_iter=n_iter, tol=tol, seed=seed + d))
    return torch.stack(out, dim=1)


def image_block_lipschitz(
    model, x: torch.Tensor, *, n_iter: int = 100, seed: int = 0, image_offset: int = 0
) -> torch.Tensor:
    """:func:`block_lipschitz` ``(B, D)`` with one power iteration per image, its start drawn from a
    stream keyed by (``seed``, image index ``image_offset + b``): no value depends on the batching."""
    return torch.cat(
        [
            block_lipschitz(model, x[b : b + 1], n_iter=n_iter, seed=seed * 1_000_003 + image_offset + b)
            for b in range(x.shape[0])
        ]
    )


def propagation_rows(
    model,
    x: torch.Tensor,
    xi: torch.Tensor,
    *,
    kind: str,
    n_iter: int = 100,
    seed: int = 0,
    image_offset: int = 0,
    L: torch.Tensor | None = None,
    **columns,
) -> list:
    """Flat record rows, one per (image, block): ``image, layer`` (0-based block index),
    ``perturbation`` (``kind``, e.g. ``"random"`` or ``"pgd"``), ``xi_norm``, ``delta_in``,
    ``delta_out``, ``gain``, ``L_block``, ``alpha``, plus ``columns``. ``L``: the images' block
    Lipschitz constants (:func:`image_block_lipschitz`), computed here if not given; each image's
    power iteration starts from a stream keyed by (``seed``, image index), so no row depends on
    the batching."""
    prop = perturbation_propagation(model, x, xi)
    if L is None:  # (B, D); pass it to reuse one computation for several perturbations of the same images
        L = image_block_lipschitz(model, x, n_iter=n_iter, seed=seed, image_offset=image_offset)
    xi_norm = xi.flatten(1).norm(dim=1)
    rows = []
    for b in range(x.shape[0]):
        for d in range(L.shape[1]):
            g, lb = float(prop["gain"][b, d]), float(L[b, d])
            rows.append(
                {
                    **columns,
                    "image": image_offset + b,
                    "layer": d,
                    "perturbation": kind,
                    "xi_norm": float(xi_norm[b]),
                    "delta_in": float(prop["delta"][b, d]),
                    "delta_out": float(prop["delta"][b, d + 1]),
                    "gain": g,
                    "L_block": lb,
                    "alpha": g / lb if lb > 0 else float("nan"),
                }
            )
    return rows
