"""Local Lipschitz estimates (paper eq. 4) of a map ``f: x -> tensor``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 4, eq. (4) and Sec. 5.3 (xi uniform in the l_inf ball of radius 8/255).

    L(x) = sup_{xi != 0} ||f(x + xi) - f(x)||_2 / ||xi||_2

Three estimators, all per sample and per output group (see :mod:`dalib.metrics._groups`):

- :func:`sampling_lipschitz` -- the paper's estimator: ``n`` draws xi ~ U([-eps, eps]^D), the
  max and the mean of the ratio. A lower bound of the sup over the ball.
- :func:`ascent_lipschitz` -- maximises the ratio inside the ball by normalised gradient ascent
  (feasibility kept by radial rescaling, which preserves the direction). A lower bound too,
  usually much tighter.
- :func:`power_lipschitz` -- power iteration on J^T J at x with JVP/VJP products (no full
  Jacobian): ||J(x)||_2, the limit of the ratio as eps -> 0.

Clipping: by default ``x + xi`` is clipped to the image domain ``[0, 1]`` (attacks and the
model only ever see valid images) and the ratio is divided by the norm of the perturbation
*actually applied*, ``xi_eff = clip(x + xi) - x``, so every ratio is an exact difference
quotient of ``f``. Pass ``clip=None`` for inputs without a box (e.g. a layer's own input).

:func:`attention_lipschitz` applies the three to the attention maps of a model (per layer,
map and head) w.r.t. the input image or w.r.t. each layer's own input, as flat record rows.
"""

from __future__ import annotations

import math

import torch

from ._groups import (
    Linearization,
    check_clip,
    check_eps,
    check_group_dims,
    check_input,
    check_positive_int,
    generator,
    group_blocks,
    group_selector,
    split_groups,
    uniform_linf,
)

EPS_PAPER = 8 / 255
ESTIMATORS = ("sampling", "ascent", "power")


def _apply_clip(x, xp, clip):
    if clip is not None:
        xp = xp.clamp(*clip)
    return xp, xp - x


@torch.no_grad()
def sampling_lipschitz(f, x, *, eps=EPS_PAPER, n_samples=64, group_dims=0, clip=(0.0, 1.0), seed=0, batch_size=16):
    """Paper estimator: ratios ``||f(x+xi) - f(x)||_2 / ||xi_eff||_2`` over ``n_samples`` draws
    ``xi ~ U([-eps, eps]^D)`` (``xi_eff`` after clipping, see module doc).

    Returns ``{"max": (B, *K), "mean": (B, *K)}`` (float tensors on x's device). The draws
    come from a local generator seeded with ``seed`` (same x and seed -> same result,
    whatever ``batch_size``, the number of draws evaluated per forward pass).
    """
    x = check_input(x)
    eps, group_dims, clip = check_eps(eps), check_group_dims(group_dims), check_clip(clip)
    n_samples, batch_size = check_positive_int("n_samples", n_samples), check_positive_int("batch_size", batch_size)
    B = x.shape[0]
    fx, K = split_groups(f(x), B, group_dims)  # (B, G, R)
    gen = generator(seed, x.device)
    best = torch.full(fx.shape[:2], -math.inf, dtype=fx.dtype, device=fx.device)
    total = torch.zeros_like(best)
    count = torch.zeros_like(best)
    for start in range(0, n_samples, batch_size):
        s = min(batch_size, n_samples - start)
        xi = uniform_linf((s, *x.shape), eps, gen, x)
        xp, xi_eff = _apply_clip(x, x.unsqueeze(0) + xi, clip)
        nxi = xi_eff.flatten(2).norm(dim=-1)  # (s, B)
        out = f(xp.reshape(s * B, *x.shape[1:])).reshape(s, B, fx.shape[1], -1)
        ratio = (out - fx).norm(dim=-1) / nxi.unsqueeze(-1)  # (s, B, G)
        ok = (nxi > 0).unsqueeze(-1).expand_as(ratio)
        best = torch.maximum(best, torch.where(ok, ratio, -math.inf).amax(dim=0))
        total += torch.where(ok, ratio, 0.0).sum(dim=0)
        count += ok.sum(dim=0)
    mean = total / count  # nan only if every draw was fully clipped away
    best = torch.where(count > 0, best, math.nan)
    return {"max": best.reshape(B, *K), "mean": mean.reshape(B, *K)}


def _ball_rescale(xi, eps):
    """Radial rescale of each (group, sample) direction into the l_inf ball (keeps direction)."""
    m = xi.flatten(2).abs().amax(dim=-1).clamp_min(torch.finfo(xi.dtype).tiny)
    scale = (eps / m).clamp(max=1.0)
    return xi * scale.reshape(*scale.shape, *([1] * (xi.dim() - 2)))


def ascent_lipschitz(
    f, x, *, eps=EPS_PAPER, steps=30, step_size=0.5, group_dims=0, clip=(0.0, 1.0), seed=0, init=None, group_chunk=None
):
    """Gradient ascent on the difference quotient inside the l_inf ball of radius ``eps``.

    Each (sample, group) has its own xi. Step: ``xi <- xi + step_size * ||xi||_2 * g / ||g||_2``
    (g the gradient of the ratio, so the step is relative to the current radius), then radial
    rescaling into the ball ``xi <- xi * min(1, eps / ||xi||_inf)``. ``step_size`` halves on
    every step that does not improve the ratio of that (sample, group). The best ratio seen is
    returned, so the estimate is a valid lower bound of the sup over the ball and never decreases
    with more steps. ``init``: ``None`` (xi ~ U(ball), seeded) or a tensor ``(B, *K, *D)`` /
    ``(B, *D)`` of starting directions (rescaled into the ball), e.g. the power-iteration vector.

    Returns ``(B, *K)``.
    """
    x = check_input(x)
    eps, group_dims, clip = check_eps(eps), check_group_dims(group_dims), check_clip(clip)
    steps = check_positive_int("steps", steps)
    if not (isinstance(step_size, (int, float)) and step_size > 0):
        raise ValueError(f"step_size must be a positive float, got {step_size!r}")
    B, D = x.shape[0], tuple(x.shape[1:])
    with torch.no_grad():
        fx, K = split_groups(f(x), B, group_dims)
    G = fx.shape[1]
    gen = generator(seed, x.device)
    if init is not None:
        init = torch.as_tensor(init, dtype=x.dtype, device=x.device)
        if tuple(init.shape) == (B, *D):
            init = init.unsqueeze(1).expand(B, G, *D)
        elif tuple(init.shape) == (B, *K, *D):
            init = init.reshape(B, G, *D)
        else:
            raise ValueError(
                f"init must have shape (B, *D)={(B, *D)} or (B, *K, *D)={(B, *K, *D)}, got {tuple(init.shape)}"
            )
        init = init.transpose(0, 1)  # (G, B, *D)
    result = torch.empty(B, G, dtype=fx.dtype, device=fx.device)
    for groups in group_blocks(G, group_chunk):
        groups = groups.to(x.device)
        g = len(groups)
        fg = group_selector(f, group_dims, groups)
        f0 = fx[:, groups].transpose(0, 1)  # (g, B, R)
        xr = x.unsqueeze(0).expand(g, *x.shape)
        if init is None:
            xi = uniform_linf((g, *x.shape), eps, gen, x)
        else:
            xi = init[groups].clone()
        xi = _ball_rescale(xi, eps)
        best = torch.full((g, B), -math.inf, dtype=fx.dtype, device=fx.device)
        lr = torch.full((g, B), float(step_size), dtype=x.dtype, device=x.device)
        bshape = (g, B) + (1,) * len(D)
        for it in range(steps + 1):
            xi = xi.detach().requires_grad_(True)
            with torch.enable_grad():
                xp, xi_eff = _apply_clip(xr, xr + xi, clip)
                nxi = xi_eff.flatten(2).norm(dim=-1)
                ratio = (fg(xp) - f0).norm(dim=-1) / nxi.clamp_min(torch.finfo(x.dtype).tiny)
                ratio = torch.where(nxi > 0, ratio, 0.0)
                grad = torch.autograd.grad(ratio.sum(), xi)[0] if it < steps else None
            r = ratio.detach()
            improved = r > best
            best = torch.maximum(best, r)
            if grad is None:
                break
            lr = torch.where(improved, lr, lr * 0.5)
            with torch.no_grad():
                gn = grad.flatten(2).norm(dim=-1).clamp_min(torch.finfo(x.dtype).tiny)
                radius = xi.flatten(2).norm(dim=-1)
                xi = _ball_rescale(xi + (lr * radius / gn).reshape(bshape) * grad, eps)
        result[:, groups] = best.transpose(0, 1)
    return result.reshape(B, *K).detach()


def power_lipschitz(f, x, *, n_iter=100, tol=1e-8, group_dims=0, seed=0, group_chunk=None, return_vector=False):
    """Spectral norm ``||J(x)||_2`` of the Jacobian of ``f`` at ``x`` per (sample, group) by power
    iteration on ``J^T J`` (JVP then VJP, never forming J); stops when every relative change of
    the estimate is below ``tol``.

    Returns ``(B, *K)`` (and the top right-singular vectors ``(B, *K, *D)`` if ``return_vector``).
    """
    x = check_input(x)
    group_dims = check_group_dims(group_dims)
    n_iter = check_positive_int("n_iter", n_iter)
    B, D = x.shape[0], tuple(x.shape[1:])
    x = x.detach()
    with torch.no_grad():
        fx, K = split_groups(f(x), B, group_dims)
    G = fx.shape[1]
    gen = generator(seed, x.device)
    sigma_all = torch.empty(B, G, dtype=fx.dtype, device=fx.device)
    vec_all = torch.empty(G, B, *D, dtype=x.dtype, device=x.device) if return_vector else None
    for groups in group_blocks(G, group_chunk):
        groups = groups.to(x.device)
        g = len(groups)
        fg = group_selector(f, group_dims, groups)
        xr = x.unsqueeze(0).expand(g, *x.shape).contiguous()
        lin = Linearization(fg, xr)
        v = torch.randn((g, *x.shape), generator=gen, device=x.device, dtype=x.dtype)
        v = v / v.flatten(2).norm(dim=-1).reshape(g, B, *([1] * len(D)))
        sigma = torch.zeros(g, B, dtype=fx.dtype, device=fx.device)
        for _ in range(n_iter):
            jv = lin.jvp(v)  # (g, B, R)
            new = jv.flatten(2).norm(dim=-1)
            w = lin.vjp(jv)  # J^T J v
            wn = w.flatten(2).norm(dim=-1)
            if bool((wn == 0).all()):
                sigma = new
                break
            v = w / wn.clamp_min(torch.finfo(w.dtype).tiny).reshape(g, B, *([1] * len(D)))
            done = bool(((new - sigma).abs() <= tol * new.abs().clamp_min(torch.finfo(new.dtype).tiny)).all())
            sigma = new
            if done:
                break
        sigma = torch.maximum(sigma, lin.jvp(v).flatten(2).norm(dim=-1))
        del lin
        sigma_all[:, groups] = sigma.transpose(0, 1)
        if return_vector:
            vec_all[groups] = v
    sigma_all = sigma_all.reshape(B, *K)
    if return_vector:
        return sigma_all, vec_all.transpose(0, 1).reshape(B, *K, *D)
    return sigma_all


def attention_lipschitz(
    model,
    x,
    *,
    wrt="image",
    per_head=True,
    keys=None,
    estimators=ESTIMATORS,
    eps=EPS_PAPER,
    n_samples=64,
    ascent_steps=30,
    power_iter=100,
    seed=0,
    sample_offset=0,
    group_chunk=None,
):
    """Local Lipschitz estimates of the attention maps of ``model`` at images ``x`` ``(B, 3, H, W)``.

    ``wrt="image"``: maps of every layer w.r.t. the image (``x + xi`` clipped to [0, 1]);
    ``wrt="layer"``: each layer's maps w.r.t. its own input ``h_l`` (no clipping, same ``eps``).
    ``keys``: maps to measure (default: ``("A",)`` for ViT, ``("A1", "A2", "A_DA")`` for DiffViT).
    ``per_head``: one value per head (``head`` = index) or per whole layer map (``head = -1``).
    ``estimators``: subset of ``("sampling", "ascent", "power")``.

    Returns flat rows ``{sample, layer, map, head, wrt, eps, lambda (None for ViT), L_sampling_max,
    L_sampling_mean, L_ascent, L_power}`` (only the requested estimators' columns);
    ``sample = sample_offset + index in x``.
    """
    from .maps import check_wrt, eval_mode, layer_lambdas

    check_wrt(wrt)
    estimators = (estimators,) if isinstance(estimators, str) else tuple(estimators)
    bad = [e for e in estimators if e not in ESTIMATORS]
    if bad or not estimators:
        raise ValueError(f"unknown estimator(s) {bad or estimators}; valid: {ESTIMATORS}")
    x = check_input(x)
    eps = check_eps(eps)
    from .maps import check_keys, views

    keys = check_keys(model, keys)
    group_dims = 3 if per_head else 2  # (L, M, H) or (L, M)
    clip = (0.0, 1.0) if wrt == "image" else None
    rows = []
    with eval_mode(model):
        lambdas = layer_lambdas(model)
        for offset, f, inp in views(model, x, wrt, keys):
            res = {}
            if "sampling" in estimators:
                s = sampling_lipschitz(
                    f, inp, eps=eps, n_samples=n_samples, group_dims=group_dims, clip=clip, seed=seed
                )
                res["L_sampling_max"], res["L_sampling_mean"] = s["max"], s["mean"]
            if "ascent" in estimators:
                res["L_ascent"] = ascent_lipschitz(
                    f,
                    inp,
                    eps=eps,
                    steps=ascent_steps,
                    group_dims=group_dims,
                    clip=clip,
                    seed=seed,
                    group_chunk=group_chunk,
                )
            if "power" in estimators:
                res["L_power"] = power_lipschitz(
                    f, inp, n_iter=power_iter, group_dims=group_dims, seed=seed, group_chunk=group_chunk
                )
            res = {k: v.cpu() for k, v in res.items()}  # one device->host copy, not one per cell
            first = next(iter(res.values()))  # (B, L, M[, H])
            for idx in torch.cartesian_prod(*[torch.arange(n) for n in first.shape]).reshape(-1, first.dim()).tolist():
                b, l, m = idx[:3]
                row = {
                    "sample": sample_offset + b,
                    "layer": offset + l,
                    "map": keys[m],
                    "head": idx[3] if per_head else -1,
                    "wrt": wrt,
                    "eps": eps,
                    "lambda": lambdas[offset + l],
                }
                for name, t in res.items():
                    row[name] = float(t[tuple(idx)])
                rows.append(row)
    return rows
