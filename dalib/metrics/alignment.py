"""Gradient alignment of the two differential-attention branches (paper Lemma 1, Sec. 5.4).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Lemma 1, Theorems 1-2 and Fig. 5. With ``J_i = d vec(A_i) / dx`` the input Jacobians
of the branch maps (per sample; per layer and head, or per whole layer):

    cos(theta) = <J1, J2>_F / (||J1||_F ||J2||_F),      rho = ||J2||_F / ||J1||_F,
    ||J_DA||_F^2 = ||J1||_F^2 + lambda^2 ||J2||_F^2 - 2 lambda ||J1||_F ||J2||_F cos(theta)

(the last line is Lemma 1; it holds exactly for the Frobenius inner product since
``J_DA = J1 - lambda J2``, lambda not depending on the input). All Frobenius quantities come from
the Gram matrix ``G_ij = <J_i, J_j>_F`` of the branch Jacobians, computed

- exactly: full per-sample Jacobians by ``torch.func`` (``vmap(jacrev(.))``) or, as a reference,
  a loop of one backward pass per output coordinate; or, without ever forming J, by forward mode
  over the input basis, ``G_ij = sum_d (J_i e_d) . (J_j e_d)`` (``method="forward"``: D JVPs per
  image instead of one VJP per output, about 6x faster for an attention map of 64 tokens, whose
  outputs outnumber the image's 3,072 inputs by 8 to 1 per map and head);
- by JVP probes: ``<J_i, J_j>_F = E_v[(J_i v) . (J_j v)]`` for ``v ~ N(0, I)`` (or Rademacher),
  unbiased for every entry, averaged over ``k`` probes (never forming J).

gamma compares a DA head with the matched baseline (ViT) layer: ``gamma = ||J1,h||_F / ||J_base||_rms``
where ``||J_base||_rms^2`` is the mean over the baseline layer's heads of ``||J_base,h'||_F^2``
(DiffViT has half as many heads as its ViT twin, so heads are not matched one to one; for
whole-layer rows both sides use the per-head mean). Then ``||J_DA||_F / ||J_base||_rms =
gamma sqrt(1 + lambda^2 rho^2 - 2 lambda rho cos(theta))`` (Theorem 2) holds exactly.
"""

from __future__ import annotations

import math

import torch

from ._groups import (
    check_eps,
    check_group_dims,
    check_input,
    check_positive_int,
    generator,
    jvp,
    split_groups,
    uniform_linf,
)

METHODS = ("exact", "probe")
JACOBIAN_METHODS = ("vmap", "loop")
GRAM_METHODS = JACOBIAN_METHODS + ("forward",)
PROBES = ("gaussian", "rademacher")


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def jacobian(f, x, *, method="vmap", chunk_size=None):
    """Per-sample input Jacobians of ``f`` (tensor or tuple of tensors ``(B, *O)``) at ``x`` ``(B, *D)``.

    ``method="vmap"``: ``torch.func.vmap(torch.func.jacrev(.))`` (vectorised; ``chunk_size`` bounds
    the number of simultaneous VJPs); ``method="loop"``: one ``torch.autograd.grad`` per output
    coordinate (all samples at once, since sample b of the output depends only on sample b of x).
    Returns a tuple of ``(B, *O, *D)`` tensors (a tensor if ``f`` returns one).
    """
    x = check_input(x).detach()
    if method not in JACOBIAN_METHODS:
        raise ValueError(f"method must be one of {JACOBIAN_METHODS}, got {method!r}")
    returns_tuple = []  # whether f returns a tuple, seen on the forward the Jacobian needs anyway
    if method == "vmap":

        def single(xb):
            out = f(xb.unsqueeze(0))
            returns_tuple.append(isinstance(out, (tuple, list)))
            return tuple(o.squeeze(0) for o in _as_tuple(out))

        J = torch.func.vmap(torch.func.jacrev(single, chunk_size=chunk_size))(x)
        J = tuple(j.detach() for j in J)
    else:
        B, D = x.shape[0], tuple(x.shape[1:])
        with torch.enable_grad():
            xr = x.clone().requires_grad_(True)
            out = f(xr)
            returns_tuple.append(isinstance(out, (tuple, list)))
            outs = _as_tuple(out)
            J = []
            for o in outs:
                flat = o.reshape(B, -1)
                rows = [torch.autograd.grad(flat[:, r].sum(), xr, retain_graph=True)[0] for r in range(flat.shape[1])]
                J.append(torch.stack(rows, dim=1).reshape(*o.shape, *D))
        J = tuple(J)
    return J if returns_tuple[0] else J[0]


def gram_exact(f, x, *, group_dims=0, method="vmap", chunk_size=None):
    """Exact Gram matrix ``<J_i, J_j>_F`` of the branches of ``f`` (a tuple of k tensors
    ``(B, *K, *R)``) per sample and group: ``(B, *K, k, k)``.

    ``method``: ``"vmap"`` or ``"loop"`` form the Jacobians (:func:`jacobian`); ``"forward"``
    sums ``(J_i e_d) . (J_j e_d)`` over the input basis ``e_d`` in blocks of ``chunk_size``
    (default 256) JVPs, never holding more than one block of tangents."""
    x = check_input(x)
    group_dims = check_group_dims(group_dims)
    if method not in GRAM_METHODS:
        raise ValueError(f"method must be one of {GRAM_METHODS}, got {method!r}")
    if method == "forward":
        return _gram_forward(
            f, x, group_dims, 256 if chunk_size is None else check_positive_int("chunk_size", chunk_size)
        )
    J = _as_tuple(jacobian(f, x, method=method, chunk_size=chunk_size))
    B = x.shape[0]
    D = math.prod(x.shape[1:])
    flat, K = zip(*[split_groups(j.reshape(B, *j.shape[1 : j.dim() - x.dim() + 1], D), B, group_dims) for j in J])
    S = torch.stack(flat, dim=2)  # (B, G, k, R*D)
    gram = torch.einsum("bgir,bgjr->bgij", S, S)
    return gram.reshape(B, *K[0], len(J), len(J))


def _gram_forward(f, x, group_dims, chunk):
    """Exact Gram by forward mode over the input basis, one sample at a time (``(B, *K, k, k)``)."""
    x = x.detach()
    D = math.prod(x.shape[1:])
    grams = []
    for b in range(x.shape[0]):
        gram, K = None, None
        for start in range(0, D, chunk):
            s = min(chunk, D - start)
            v = torch.zeros(s, D, dtype=x.dtype, device=x.device)
            v[torch.arange(s), torch.arange(start, start + s)] = 1.0  # basis vectors e_start .. e_start+s-1
            xr = x[b : b + 1].expand(s, *x.shape[1:]).contiguous()
            _, tangents = jvp(lambda z: _as_tuple(f(z)), xr, v.reshape(s, *x.shape[1:]))
            flat, Ks = zip(*[split_groups(t, s, group_dims) for t in tangents])
            T = torch.stack(flat, dim=2)  # (s, G, k, R): column d of every J_i
            part = torch.einsum("sgir,sgjr->gij", T, T).detach()
            gram, K = (part if gram is None else gram + part), Ks[0]
        grams.append(gram)
    gram = torch.stack(grams)  # (B, G, k, k)
    return gram.reshape(x.shape[0], *K, gram.shape[-1], gram.shape[-1])


def gram_probe(f, x, *, n_probes=64, group_dims=0, seed=0, probe="gaussian", batch_size=16):
    """Unbiased JVP-probe estimate of the Gram matrix ``<J_i, J_j>_F`` ``(B, *K, k, k)``:
    ``mean_v (J_i v) . (J_j v)`` over ``n_probes`` probes ``v ~ N(0, I)`` (``probe="gaussian"``) or
    Rademacher signs, drawn from a local generator seeded with ``seed`` (deterministic, whatever
    ``batch_size`` = probes per forward pass)."""
    x = check_input(x).detach()
    group_dims = check_group_dims(group_dims)
    n_probes, batch_size = check_positive_int("n_probes", n_probes), check_positive_int("batch_size", batch_size)
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {PROBES}, got {probe!r}")
    B = x.shape[0]
    gen = generator(seed, x.device)
    gram = None
    for start in range(0, n_probes, batch_size):
        s = min(batch_size, n_probes - start)
        if probe == "gaussian":
            v = torch.randn((s, *x.shape), generator=gen, device=x.device, dtype=x.dtype)
        else:
            v = torch.randint(0, 2, (s, *x.shape), generator=gen, device=x.device).to(x.dtype) * 2 - 1
        xr = x.unsqueeze(0).expand(s, *x.shape).reshape(s * B, *x.shape[1:]).contiguous()
        _, tangents = jvp(lambda z: _as_tuple(f(z)), xr, v.reshape(s * B, *x.shape[1:]))
        flat, K = zip(*[split_groups(t.reshape(s * B, *t.shape[1:]), s * B, group_dims) for t in tangents])
        T = torch.stack(flat, dim=2).reshape(s, B, flat[0].shape[1], len(flat), -1)  # (s, B, G, k, R)
        part = torch.einsum("sbgir,sbgjr->bgij", T, T).detach()
        gram = part if gram is None else gram + part
    gram = gram / n_probes
    return gram.reshape(B, *K[0], gram.shape[-1], gram.shape[-1])


def alignment_from_gram(gram, lam=None, i=0, j=1, k_da=None):
    """Alignment quantities from a Gram matrix ``(..., k, k)`` of branch Jacobians.

    Returns ``{"norm_J1", "norm_J2", "inner", "cos", "rho"}`` (tensors ``(...)``), and with
    ``lam`` (float or tensor broadcastable to ``(...)``) the Lemma 1 right-hand side
    ``norm_JDA_lemma = sqrt(||J1||^2 + lam^2 ||J2||^2 - 2 lam ||J1|| ||J2|| cos)``; with ``k_da``
    (index of the A_DA branch) also the directly computed ``norm_JDA``.
    """
    n1, n2, inner = gram[..., i, i], gram[..., j, j], gram[..., i, j]
    norm1, norm2 = n1.clamp_min(0).sqrt(), n2.clamp_min(0).sqrt()
    out = {"norm_J1": norm1, "norm_J2": norm2, "inner": inner, "cos": inner / (norm1 * norm2), "rho": norm2 / norm1}
    if lam is not None:
        rhs = n1 + lam**2 * n2 - 2 * lam * norm1 * norm2 * out["cos"]
        out["norm_JDA_lemma"] = rhs.clamp_min(0).sqrt()
    if k_da is not None:
        out["norm_JDA"] = gram[..., k_da, k_da].clamp_min(0).sqrt()
    return out


def _perturbed(x, perturb_eps, seed):
    """``clip(x + xi, 0, 1)``, xi ~ U(l_inf ball of radius perturb_eps) from a local generator."""
    if perturb_eps is None:
        return x
    eps = check_eps(perturb_eps)
    gen = generator(seed, x.device)
    xi = uniform_linf(x.shape, eps, gen, x)
    return (x + xi).clamp(0.0, 1.0)


def _grams(model, x, *, wrt, keys, method, n_probes, per_head, seed, probe, jacobian_method, chunk_size):
    """Per view: (layer offset, Gram (B, L, [H,] k, k)) for the model's maps ``keys``."""
    from .maps import views

    group_dims = 2 if per_head else 1  # (L, H) or (L,)
    for offset, f, inp in views(model, x, wrt, keys):

        def branches(z, f=f):
            return tuple(f(z).unbind(2))  # k tensors (B, L, H, N, N)

        if method == "exact":
            gram = gram_exact(branches, inp, group_dims=group_dims, method=jacobian_method, chunk_size=chunk_size)
        else:
            gram = gram_probe(branches, inp, n_probes=n_probes, group_dims=group_dims, seed=seed, probe=probe)
        yield offset, gram


def attention_jacobian_norms(
    model,
    x,
    *,
    wrt="image",
    method="exact",
    n_probes=64,
    per_head=True,
    seed=0,
    probe="gaussian",
    jacobian_method="vmap",
    chunk_size=None,
    keys=None,
):
    """``||J||_F`` of each attention map (default: ``A`` for ViT, ``A1, A2, A_DA`` for DiffViT) per
    sample, layer and head: a dict ``key -> (B, L[, H])`` tensor."""
    from .maps import check_keys, check_wrt, eval_mode

    check_wrt(wrt)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    keys = check_keys(model, keys)
    parts = []
    with eval_mode(model):
        for _, gram in _grams(
            model,
            check_input(x),
            wrt=wrt,
            keys=keys,
            method=method,
            n_probes=n_probes,
            per_head=per_head,
            seed=seed,
            probe=probe,
            jacobian_method=jacobian_method,
            chunk_size=chunk_size,
        ):
            parts.append(torch.diagonal(gram, dim1=-2, dim2=-1).clamp_min(0).sqrt())
    norms = torch.cat(parts, dim=1)  # (B, L, [H,] k)
    return {k: norms[..., i] for i, k in enumerate(keys)}


def gradient_alignment(
    model,
    x,
    *,
    wrt="image",
    method="exact",
    n_probes=64,
    per_head=True,
    baseline=None,
    perturb_eps=None,
    seed=0,
    sample_offset=0,
    probe="gaussian",
    jacobian_method="vmap",
    chunk_size=None,
):
    """Gradient alignment of the DA branches of ``model`` (a DiffViT) at images ``x`` ``(B, 3, H, W)``.

    ``wrt``: ``"image"`` (Jacobians w.r.t. the image) or ``"layer"`` (w.r.t. each layer's own input).
    ``method``: ``"exact"`` (full Jacobians, small inputs) or ``"probe"`` (``n_probes`` JVP probes).
    ``baseline``: a matched standard-attention model (same depth and tokens) -> ``gamma`` and
    ``ratio_DA_base = ||J_DA|| / ||J_base||_rms`` (see module doc), computed the same way.
    ``perturb_eps``: evaluate at ``clip(x + xi, 0, 1)``, ``xi ~ U(l_inf ball)`` seeded by ``seed``
    (the paper measures "for perturbations bounded by 8/255"); ``None`` evaluates at ``x``.

    Returns flat rows ``{sample, layer, head, wrt, method, n_probes, point, perturb_eps, lambda,
    norm_J1, norm_J2, norm_JDA, norm_JDA_lemma, cos, rho, negative[, norm_Jbase, gamma,
    ratio_DA_base]}``; ``head = -1`` for whole-layer rows; ``n_probes = 0`` for exact.
    """
    from .maps import DIFF_KEYS, check_wrt, eval_mode, is_differential, layer_lambdas

    check_wrt(wrt)
    x = check_input(x)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "probe":
        check_positive_int("n_probes", n_probes)
    if not is_differential(model):
        raise ValueError(
            "gradient_alignment needs a differential-attention model (DiffViT); pass the "
            "standard-attention twin as baseline="
        )
    if baseline is not None and is_differential(baseline):
        raise ValueError("baseline must be a standard-attention model (ViT)")
    x_eval = _perturbed(x, perturb_eps, seed)
    opts = dict(
        wrt=wrt,
        method=method,
        n_probes=n_probes,
        per_head=per_head,
        seed=seed,
        probe=probe,
        jacobian_method=jacobian_method,
        chunk_size=chunk_size,
    )
    with eval_mode(model):
        lambdas = layer_lambdas(model)
        grams = torch.cat([g for _, g in _grams(model, x_eval, keys=DIFF_KEYS, **opts)], dim=1)
    lam = torch.tensor(lambdas, dtype=grams.dtype, device=grams.device)
    lam = lam.reshape(1, -1, *([1] * (grams.dim() - 4)))  # broadcast over (B, L[, H])
    stats = alignment_from_gram(grams, lam=lam, k_da=2)
    if baseline is not None:
        nb = attention_jacobian_norms(baseline, x_eval, **opts)["A"]  # (B, L[, Hb])
        if nb.shape[:2] != grams.shape[:2]:
            raise ValueError(
                f"baseline has {nb.shape[1]} layers for {grams.shape[1]} in the model; pass the "
                "matched ViT (same depth, image and patch size)"
            )
        if per_head:  # one DA head against the baseline layer's per-head rms
            scale, base_rms = 1.0, (nb**2).mean(dim=-1, keepdim=True).sqrt()  # (B, L, 1)
        else:  # whole layers, both sides as per-head rms
            from dalib.models import attention_layers

            scale = 1 / math.sqrt(attention_layers(model)[0].num_heads)
            base_rms = nb / math.sqrt(attention_layers(baseline)[0].num_heads)
        stats["norm_Jbase_rms"] = base_rms.expand_as(stats["norm_J1"])
        stats["gamma"] = stats["norm_J1"] * scale / base_rms
        stats["ratio_DA_base"] = stats["norm_JDA"] * scale / base_rms
    stats = {k: v.cpu() for k, v in stats.items()}  # one device->host copy, not one per cell
    rows = []
    B, L = grams.shape[:2]
    H = grams.shape[2] if per_head else 1
    for b in range(B):
        for l in range(L):
            for h in range(H):
                idx = (b, l, h) if per_head else (b, l)
                row = {
                    "sample": sample_offset + b,
                    "layer": l,
                    "head": h if per_head else -1,
                    "wrt": wrt,
                    "method": method,
                    "n_probes": n_probes if method == "probe" else 0,
                    "point": "x" if perturb_eps is None else "x+xi",
                    "perturb_eps": 0.0 if perturb_eps is None else float(perturb_eps),
                    "lambda": lambdas[l],
                }
                for name, t in stats.items():
                    if name != "inner":
                        row[name] = float(t[idx])
                row["negative"] = bool(row["cos"] < 0)
                rows.append(row)
    return rows


def negative_alignment_frequency(rows, by=("layer", "head")):
    """Frequency of ``cos(theta) < 0`` over rows of :func:`gradient_alignment` (e.g. a dataset),
    grouped by the columns ``by`` (those present): rows ``{*by, n, n_negative, freq_negative}``."""
    rows = list(rows)
    if not rows:
        raise ValueError("no rows: pass the output of gradient_alignment over a dataset")
    by = tuple(k for k in by if k in rows[0])
    counts = {}
    for r in rows:
        if "cos" not in r:
            raise ValueError("rows need a 'cos' column (output of gradient_alignment)")
        key = tuple(r[k] for k in by)
        n, neg = counts.get(key, (0, 0))
        counts[key] = (n + 1, neg + int(r["cos"] < 0))
    return [
        {**dict(zip(by, key)), "n": n, "n_negative": neg, "freq_negative": neg / n}
        for key, (n, neg) in sorted(counts.items())
    ]
