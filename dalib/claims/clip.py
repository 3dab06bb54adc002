"""The CLIP claims (paper Fig. 2b, 2d): DiffCLIP against CLIP zero-shot, paired by image, from the
records of ``notebooks/experiments/clip.md`` (released weights only).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. Claims are computed from records only; the chapter draws them (``dalib.chapters.clip``)
and the scorecard (``dalib.scorecard``) reads them through :data:`dalib.claims.CLAIMS`.
"""

from __future__ import annotations

from ..stats import claim_row, combine

CLIP_CLAIMS = (
    ("fig2b_pgd", "Fig. 2b: DiffCLIP ASR > CLIP ASR under PGD (zero-shot)", "pgd_linf", "ε", 1.0),
    ("fig2d_patch", "Fig. 2d: DiffCLIP ASR > CLIP ASR under patch PGD (zero-shot)", "patch", "w", 28.0),
)


def clip_comparison(df):
    """DiffCLIP against CLIP, paired by image, per dataset, attack and budget
    (:func:`dalib.analysis.image_paired_comparison`), from the ``clip`` notebook's ``asr`` rows of
    released weights (rows of random-weight smoke models are left out)."""
    from ..analysis import image_paired_comparison

    real = df[df["weights"].astype(str) != "random"] if len(df) else df
    return image_paired_comparison(real, a={"model": "clip"}, b={"model": "diffclip"})


def clip_claims(df):
    """Fig. 2b and 2d's claims: DiffCLIP's ASR above CLIP's under PGD and under patch PGD, over
    both datasets' budgets (one row each, ``{id, claim, verdict, detail, short}``)."""
    import pandas as pd

    comp = clip_comparison(df)
    rows = []
    for cid, name, kind, unit, head in CLIP_CLAIMS:
        c = comp[comp["attack_kind"] == kind].sort_values(["dataset", "budget"]) if len(comp) else comp
        detail = "; ".join(
            f"{r.dataset} {unit} = {r.budget:g}: {r.verdict} ({r.diff_mean:+.3f})" for r in c.itertuples()
        )
        h = c[c["budget"] == head] if len(c) else c
        short = (
            "; ".join(
                f"{r.dataset}: Δ ASR at {unit} = {head:g}: {r.diff_mean:+.3f} [{r.diff_low:+.3f}, "
                f"{r.diff_high:+.3f}] over {r.n_images} images"
                for r in h.itertuples()
            )
            or "no records yet"
        )
        rows.append(
            claim_row(cid, name, combine(c["verdict"]) if len(c) else "not yet run", detail or "no records yet", short)
        )
    return pd.DataFrame(rows)


def asr_rows(profile):
    from ..records import RecordNotFoundError, load_rows

    try:
        return load_rows("clip", table="asr", profile=profile)
    except RecordNotFoundError:
        return None


def claims(profile=None) -> dict:
    """The chapter's claims under ``profile``: ``{id: row}`` (random-weight rows give none)."""
    cl = asr_rows(profile)
    if cl is None or not len(cl):  # clip_comparison leaves out random-weight (smoke) rows
        return {}
    return {r["id"]: r for r in clip_claims(cl).to_dict("records") if r["verdict"] != "not yet run"}
