"""The mechanism chapter's measurements: local Lipschitz constants and branch-gradient alignment of
trained models, per image, layer and head, as record rows.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 5.3 (Fig. 4: local Lipschitz estimates of the attention maps, xi uniform in the
l_inf ball of radius 8/255), Sec. 5.4 (Fig. 5: frequency of cos(grad A1, grad A2) < 0) and Fig. 1(b)
(clean against adversarial inputs). The estimators are those of :mod:`dalib.metrics`; this module
runs them one image at a time, so that every random draw (sampling directions, ascent starts,
power-iteration vectors, JVP probes) comes from a stream keyed by (``seed``, image index) and no
value depends on how images are batched, and it packs the per-image values of each (layer, map,
head, quantity) into one record row (``values``: comma-separated, in image order), which keeps a
record of 500 images x 3 points small.

Rows of :func:`lipschitz_rows` and :func:`jacobian_rows` are flat (one per image, layer, head);
:func:`pack_rows` turns them into packed rows and :func:`unpack_rows` back into a long table.
"""

from __future__ import annotations

import numpy as np
import torch

from dalib.attacks.attack import stream_seed

#: Frobenius quantities of one differential head (``norm_A1 = ||J1||_F`` etc.) and of a standard head.
DA_QUANTITIES = ("norm_A1", "norm_A2", "norm_A_DA", "norm_JDA_lemma", "cos", "rho")
BASE_QUANTITIES = ("norm_A",)
LIPSCHITZ_QUANTITIES = ("L_sampling_mean", "L_sampling_max", "L_ascent", "L_power")


def pack_values(values) -> str:
    """Comma-separated ``%.7g`` text of a 1-d sequence of floats (``nan``/``inf`` kept)."""
    return ",".join(f"{float(v):.7g}" for v in values)


def unpack_values(text) -> np.ndarray:
    """Inverse of :func:`pack_values` (float64 array; empty text gives an empty array)."""
    text = str(text)
    return np.array(text.split(","), dtype=str).astype(float) if text else np.zeros(0)


def _check_index(x, index):
    if index is None:
        return list(range(x.shape[0]))
    index = [int(i) for i in index]
    if len(index) != x.shape[0]:
        raise ValueError(f"index has {len(index)} entries for {x.shape[0]} images")
    return index


def lipschitz_rows(
    model, x, index=None, *, n_worst=0, eps=8 / 255, n_samples=64, ascent_steps=30, power_iter=100, seed=0, wrt="image"
):
    """Local Lipschitz estimates of every attention map of ``model`` at each image of ``x``
    ``(B, 3, H, W)``, per layer and head: the paper's sampling estimator (max and mean of the
    difference quotient over ``n_samples`` draws in the l_inf ball of radius ``eps``) for every
    image, and the worst-case estimators (projected gradient ascent in the same ball, and power
    iteration for ``||J(x)||_2``) for the first ``n_worst`` images. ``index``: the images' global
    indices (keys of their random streams and the ``sample`` column). Flat rows
    ``{sample, layer, map, head, L_sampling_mean, L_sampling_max[, L_ascent, L_power]}``."""
    from dalib.metrics import attention_lipschitz

    rows = []
    for i, idx in enumerate(_check_index(x, index)):
        est = ("sampling", "ascent", "power") if i < n_worst else ("sampling",)
        rows += attention_lipschitz(
            model,
            x[i : i + 1],
            wrt=wrt,
            estimators=est,
            eps=eps,
            n_samples=n_samples,
            ascent_steps=ascent_steps,
            power_iter=power_iter,
            seed=stream_seed(seed, idx),
            sample_offset=idx,
        )
    return rows


def jacobian_rows(model, x, index=None, *, method="probe", n_probes=32, seed=0, wrt="image", chunk_size=256):
    """Frobenius quantities of the input Jacobians of the attention maps of ``model`` at each
    image of ``x``, per layer and head: ``norm_<map>`` for each map (``A`` for standard attention;
    ``A1``, ``A2``, ``A_DA`` for differential attention) and, for DA, ``cos`` = cos(J1, J2),
    ``rho`` = ||J2|| / ||J1||, the learned ``lambda`` and Lemma 1's right-hand side
    ``norm_JDA_lemma`` (equal to ``norm_A_DA`` up to rounding, Theorem 2's identity).

    ``method="exact"``: the Gram matrix of the Jacobians by forward mode over the input basis
    (:func:`dalib.metrics.gram_exact`, ``method="forward"``); ``"probe"``: its unbiased estimate
    from ``n_probes`` Gaussian JVP probes drawn from the image's stream. Flat rows ``{sample,
    layer, head, lambda, norm_*, [cos, rho, norm_JDA_lemma]}``."""
    from dalib.metrics import alignment_from_gram, eval_mode, gram_exact, gram_probe
    from dalib.metrics.maps import available_keys, layer_lambdas, views

    if method not in ("exact", "probe"):
        raise ValueError(f"method must be 'exact' or 'probe', got {method!r}")
    keys = available_keys(model)
    da = "A_DA" in keys
    rows = []
    with eval_mode(model):
        lambdas = layer_lambdas(model)
        for i, idx in enumerate(_check_index(x, index)):
            for offset, f, inp in views(model, x[i : i + 1], wrt, keys):

                def branches(z, f=f):
                    return tuple(f(z).unbind(2))  # k maps, each (1, L, H, N, N)

                if method == "exact":
                    gram = gram_exact(branches, inp, group_dims=2, method="forward", chunk_size=chunk_size)
                else:
                    gram = gram_probe(
                        branches,
                        inp,
                        n_probes=n_probes,
                        group_dims=2,
                        seed=stream_seed(seed, idx),
                        batch_size=min(n_probes, 64),
                    )
                gram = gram[0].double().cpu()  # (L, H, k, k)
                L, H = gram.shape[:2]
                norms = torch.diagonal(gram, dim1=-2, dim2=-1).clamp_min(0).sqrt()  # (L, H, k)
                stats = None
                if da:
                    lam = torch.tensor([lambdas[offset + l] for l in range(L)], dtype=gram.dtype).reshape(L, 1)
                    stats = alignment_from_gram(gram, lam=lam, k_da=2)
                for l in range(L):
                    for h in range(H):
                        row = {"sample": idx, "layer": offset + l, "head": h, "lambda": lambdas[offset + l]}
                        row.update({f"norm_{k}": float(norms[l, h, m]) for m, k in enumerate(keys)})
                        if da:
                            row.update(
                                cos=float(stats["cos"][l, h]),
                                rho=float(stats["rho"][l, h]),
                                norm_JDA_lemma=float(stats["norm_JDA_lemma"][l, h]),
                            )
                        rows.append(row)
    return rows


def pack_rows(rows, by, quantities, **const):
    """Pack flat per-image rows: one row per group of ``by`` columns and per quantity present,
    ``{**const, *by, quantity, n, mean, values}`` with ``values`` the quantity over the group's
    images in ``sample`` order (:func:`pack_values`) and ``samples`` their indices. A quantity
    missing from some rows of a group (e.g. worst-case estimators run on a prefix) is packed over
    the rows that have it."""
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    out = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
        rs = sorted(rs, key=lambda r: r["sample"])
        for q in quantities:
            have = [r for r in rs if r.get(q) is not None]
            if not have:
                continue
            vals = np.array([r[q] for r in have], dtype=float)
            out.append(
                {
                    **const,
                    **dict(zip(by, key)),
                    "quantity": q,
                    "n": len(have),
                    "mean": float(np.nanmean(vals)),
                    "values": pack_values(vals),
                    "samples": pack_values([r["sample"] for r in have]),
                }
            )
    return out


def unpack_rows(df, keep=None):
    """Long table of packed rows: one line per (packed row, image) with the columns ``keep``
    (default: all but ``values``, ``samples``, ``mean``, ``n``), ``sample`` and ``value``."""
    import pandas as pd

    drop = {"values", "samples", "mean", "n"}
    keep = [c for c in df.columns if c not in drop and not c.startswith("param.")] if keep is None else list(keep)
    if not len(df):
        return pd.DataFrame(columns=[*keep, "sample", "value"])
    # vectorised (one array per column, not one frame per packed row): the book's claims unpack
    # about a million values, which the row-by-row version took minutes to assemble
    values = [unpack_values(t) for t in df["values"]]
    samples = [unpack_values(t).astype(int) for t in df["samples"]]
    sizes = np.array([len(v) for v in values])
    out = {"sample": np.concatenate(samples), "value": np.concatenate(values)}
    out.update({c: np.repeat(df[c].to_numpy(), sizes) for c in keep})
    return pd.DataFrame(out)


@torch.no_grad()
def key_attention(model, x):
    """Attention each key token receives, averaged over queries and heads, for every map of every
    layer of ``model`` at images ``x``: ``{map: (B, L, N)}`` (the paper's Fig. 1 shows such maps;
    for A_DA rows sum to 1 - lambda, so values can be negative)."""
    from dalib.metrics import eval_mode
    from dalib.metrics.maps import available_keys, image_map_fn

    keys = available_keys(model)
    with eval_mode(model):
        maps = image_map_fn(model, keys)(x)  # (B, L, M, H, N, N)
    prof = maps.mean(dim=(3, 4))  # (B, L, M, N)
    return {k: prof[:, :, m].float().cpu() for m, k in enumerate(keys)}
