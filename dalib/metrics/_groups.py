"""Shared plumbing of the sensitivity estimators: grouped outputs, per-group input copies,
forward-mode products and seeded generators.

Conventions used by every estimator in :mod:`dalib.metrics`:

- ``f`` maps a batch ``x`` of shape ``(B, *D)`` to a tensor ``(B, *K, *R)``; sample ``b`` of
  the output depends only on sample ``b`` of the input (true for models in eval mode).
- ``group_dims = len(K)`` leading output dimensions after the batch are *groups* (e.g. layer,
  map, head): every quantity is reported per sample and per group, the l2 norm running over the
  remaining dimensions ``R``.
- Estimators that need a separate input direction per group (gradient ascent, power iteration)
  evaluate ``f`` on ``G`` copies of the batch, copy ``g`` being read only at group ``g``.
"""

from __future__ import annotations

import math

import torch


def check_group_dims(group_dims) -> int:
    if not isinstance(group_dims, int) or isinstance(group_dims, bool) or group_dims < 0:
        raise ValueError(f"group_dims must be a non-negative int (output dims kept apart), got {group_dims!r}")
    return group_dims


def check_eps(eps) -> float:
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not (0 < float(eps) <= 1):
        raise ValueError(f"eps must be a float in (0, 1] (l_inf radius, e.g. 8/255), got {eps!r}")
    return float(eps)


def check_positive_int(name, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_clip(clip):
    if clip is None:
        return None
    if not (isinstance(clip, (tuple, list)) and len(clip) == 2 and float(clip[0]) < float(clip[1])):
        raise ValueError(f"clip must be None or a (low, high) pair with low < high, got {clip!r}")
    return float(clip[0]), float(clip[1])


def check_input(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, ...), got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must have a batch dimension and at least one more, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating tensor, got dtype {x.dtype}")
    return x


def generator(seed, device) -> torch.Generator:
    """A local generator on ``device`` (never touches the global RNG state)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def uniform_linf(shape, eps: float, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """``shape`` draws from U([-eps, eps]) (the l_inf ball), on ``like``'s device and dtype, from ``gen``."""
    return (torch.rand(shape, generator=gen, device=like.device, dtype=like.dtype) * 2 - 1) * eps


def split_groups(out: torch.Tensor, batch: int, group_dims: int):
    """``(B, *K, *R) -> ((B, G, R_flat), K)``."""
    if out.dim() < 1 + group_dims or out.shape[0] != batch:
        raise ValueError(
            f"f returned shape {tuple(out.shape)}: expected (B={batch}, *K, ...) with {group_dims} group dims"
        )
    K = tuple(out.shape[1 : 1 + group_dims])
    return out.reshape(batch, math.prod(K), -1), K


def group_selector(f, group_dims: int, groups: torch.Tensor):
    """Return ``fg(xg)``: ``xg`` is ``(g, B, *D)`` (one input copy per selected group),
    output ``(g, B, R)``: copy ``i`` of ``f`` read at group ``groups[i]``."""
    rows = torch.arange(len(groups), device=groups.device)

    def fg(xg):
        g, B = xg.shape[:2]
        out = f(xg.reshape(g * B, *xg.shape[2:]))
        out = out.reshape(g, B, math.prod(out.shape[1 : 1 + group_dims]), -1)
        return out[rows, :, groups]  # (g, B, R)

    return fg


def group_blocks(G: int, group_chunk):
    """Yield LongTensor index blocks of at most ``group_chunk`` groups (all at once if None)."""
    step = G if group_chunk is None else check_positive_int("group_chunk", group_chunk)
    for start in range(0, G, step):
        yield torch.arange(start, min(G, start + step))


def jvp(fn, x, v):
    """Forward-mode product ``(fn(x), J v)``; ``fn`` may return a tensor or a tuple of tensors.
    Uses ``torch.func.jvp``; falls back to the double-backward trick for ops without
    forward-mode support."""
    try:
        return torch.func.jvp(fn, (x,), (v,))
    except (NotImplementedError, RuntimeError) as err:  # pragma: no cover - depends on op coverage
        if "forward" not in str(err).lower() and "jvp" not in str(err).lower():
            raise
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        out = fn(xr)
        outs = out if isinstance(out, tuple) else (out,)
        us = [torch.zeros_like(o, requires_grad=True) for o in outs]
        (g,) = torch.autograd.grad(outs, xr, grad_outputs=us, create_graph=True)
        jv = torch.autograd.grad(g, us, grad_outputs=v, allow_unused=True)
        jv = tuple(torch.zeros_like(o) if t is None else t.detach() for o, t in zip(outs, jv))
    outs = tuple(o.detach() for o in outs)
    return (outs, jv) if isinstance(out, tuple) else (outs[0], jv[0])


class Linearization:
    """``J v`` and ``J^T u`` of ``fn`` at ``x`` from one retained autograd graph (no forward
    recomputation): ``J^T u`` by backward; ``J v`` by the double-backward trick
    ``J v = d/du <J^T u, v>`` (exact, since ``J^T u`` is linear in ``u``). Much faster than
    ``torch.func.vjp``'s reusable closure for repeated products (power iteration)."""

    def __init__(self, fn, x):
        self.x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            self.out = fn(self.x)
            self.u = torch.zeros_like(self.out, requires_grad=True)
            (self.jtu,) = torch.autograd.grad(self.out, self.x, grad_outputs=self.u, create_graph=True)

    def jvp(self, v):
        (jv,) = torch.autograd.grad(self.jtu, self.u, grad_outputs=v, retain_graph=True)
        return jv.detach()

    def vjp(self, u):
        (w,) = torch.autograd.grad(self.out, self.x, grad_outputs=u, retain_graph=True)
        return w.detach()
