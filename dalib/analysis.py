"""Analysis of attack records across models and training seeds: the computations behind the
results chapters (book pages only call these and plot).

Input is the DataFrame of ``dalib.records.load_rows("asr", table="asr")``: one row per (trained
model, attack, budget) with the summary and the per-image flags packed as hex
(``changed_flags``, ``clean_correct_flags``, ``adv_correct_flags``; n in ``n``).

- :func:`recipe_check` marks rows whose model was trained with a recipe that is no longer the
  current one of ``notebooks/experiments/train.md`` (the config hash differs), so that an edited
  training recipe never silently mixes with old results.
- :func:`seed_summary`: mean and Student-t 95% CI over training seeds, per group.
- :func:`paired_comparison`: model B against model A on the same images, per attack and budget:
  per seed, McNemar's exact test and the difference of rates; over seeds, the mean difference with
  its t CI and the verdict of :func:`dalib.stats.verdict` (claim: B > A).
"""

from __future__ import annotations

import numpy as np

from .records import unpack_flags
from .stats import (
    PRACTICAL_MARGIN,
    SATURATION,
    crossed_effect,
    holm,
    image_effect,
    mcnemar,
    mcnemar_pooled,
    mean_ci,
    seed_effect,
    t_test_p,
    verdict,
    verdict_v1,
)

__all__ = [
    "attack_note",
    "fmt_rate",
    "fmt_diff",
    "recipe_check",
    "select",
    "seed_summary",
    "paired_comparison",
    "seed_difference",
    "flags_of",
    "l2_values",
    "cw_asr_curve",
    "l2_for_full_asr",
    "l2_comparison",
]

MODEL_KEYS = ("model", "depth", "lambda_init")


def fmt_rate(m, lo, hi, digits=3) -> str:
    """'mean [low, high]' for a rate; the interval is clipped to [0, 1] (where a rate lives)."""
    if not np.isfinite(lo):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{max(lo, 0):.{digits}f}, {min(hi, 1):.{digits}f}]"


def fmt_diff(m, lo, hi, digits=3) -> str:
    """'+mean [+low, +high]' for a difference of rates."""
    return f"{m:+.{digits}f}" if not np.isfinite(lo) else f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def attack_note(rows) -> str:
    """The attack of ``rows`` (one attack kind) as the records ran it, for a caption: its ``repr``
    without the budget (``eps`` and the step ``alpha``, which follow it), and for AutoAttack the
    version of the official package (records made before it was recorded say so)."""
    import re

    reprs = sorted({re.sub(r"\b(eps|alpha)=[^,]*, ", "", a) for a in rows["attack"]})  # one per attack
    note = f"Attack: {'; '.join(f'`{r}`' for r in reprs)}"
    if rows["attack_kind"].iloc[0] == "autoattack":
        col = rows.get("pyautoattack_version")
        vers = sorted(set(col.dropna())) if col is not None else []
        note += (
            f", the official code (`pyautoattack` {', '.join(vers)})"
            if vers
            else ", the official code (`pyautoattack`; these records predate its version being recorded)"
        )
    return note + "."


def recipe_check(df):
    """``df`` with a bool column ``recipe_current``: True if the row's ``config_hash`` equals the
    hash of the configuration that the current ``train`` notebook recipe (profile
    ``param.train_profile``) gives for the row's model, depth, lambda_init, seed and dataset, with
    the row's further recipe parameters (``param.recipe``, a dict) where the notebook has them."""
    import json

    from .train import config_from_parameters, config_hash, recipe_of

    cache = {}

    def expected(r):
        extra = r.get("param.recipe")
        extra = extra if isinstance(extra, dict) else {}
        k = (
            r["param.train_profile"],
            r["model"],
            int(r["depth"]),
            str(r["lambda_init"]),
            int(r["seed"]),
            r["param.dataset"],
            json.dumps(extra, sort_keys=True),
        )
        if k not in cache:
            params = recipe_of(
                dict(
                    train_profile=k[0], model=k[1], depth=k[2], lambda_init=k[3], seed=k[4], dataset=k[5], recipe=extra
                )
            )
            cache[k] = config_hash(config_from_parameters(params))
        return cache[k]

    out = df.copy()
    out["recipe_current"] = [r["config_hash"] == expected(r) for _, r in out.iterrows()]
    return out


def select(df, **where):
    """Rows of ``df`` whose columns equal the given values (``lambda_init`` compared as text)."""
    mask = np.ones(len(df), dtype=bool)
    for col, val in where.items():
        mask &= (df[col].astype(str) == str(val)).to_numpy() if col == "lambda_init" else (df[col] == val).to_numpy()
    return df[mask]


def flags_of(row, flag: str = "changed"):
    """The per-image bool array ``flag`` of one record row."""
    return unpack_flags(row[f"{flag}_flags"], int(row["n"]))


def seed_summary(df, by, value: str = "asr"):
    """Per group of ``by`` columns: mean of ``value`` over the rows (one per training seed), its
    Student-t 95% CI, the number of seeds and the per-seed values (text, seed order)."""
    import pandas as pd

    out = []
    for key, g in df.groupby(list(by), sort=True):
        g = g.sort_values("seed")
        s = mean_ci(g[value].astype(float))
        key = key if isinstance(key, tuple) else (key,)
        out.append(
            {
                **dict(zip(by, key)),
                "mean": s["mean"],
                "ci_low": s["low"],
                "ci_high": s["high"],
                "n_seeds": s["n"],
                "per_seed": ", ".join(f"{v:.4f}" for v in g[value]),
            }
        )
    return pd.DataFrame(out, columns=[*by, "mean", "ci_low", "ci_high", "n_seeds", "per_seed"])


def _matched(df, a: dict, b: dict, on):
    """Per group of ``on`` present in ``b``: ``(key, rows of a, rows of b, seeds present in both)``
    (no seeds for rows without a ``seed`` column: fixed, pretrained models)."""
    A, B = select(df, **a), select(df, **b)
    for key, gb in B.groupby(list(on), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ga = select(A, **dict(zip(on, key)))
        if "seed" in df:
            for who, g in ((a, ga), (b, gb)):
                dup = g[g["seed"].duplicated(keep=False)]
                if len(dup):
                    recs = sorted(set(dup["record"])) if "record" in dup else []
                    raise ValueError(
                        f"{who} at {dict(zip(on, key))}: seed(s) {sorted(set(dup['seed']))} appear in more than "
                        f"one row (records {recs}); a comparison pairs one run per seed. Select the runs first "
                        "(load_rows reads only the sweep's runs unless custom=True)"
                    )
        yield key, ga, gb, sorted(set(ga["seed"]) & set(gb["seed"])) if "seed" in df else []


def _holm_within(rows, family_by, keys=("p_seed", "p_pooled")):
    """Holm-adjust ``keys`` of ``rows`` (dicts) within each family of equal ``family_by`` values;
    adds ``<key>_holm`` and ``family_size``."""
    fams = {}
    for i, r in enumerate(rows):
        fams.setdefault(tuple(r[k] for k in family_by), []).append(i)
    for idx in fams.values():
        for k in keys:
            for i, v in zip(idx, holm([rows[i][k] for i in idx])):
                rows[i][f"{k}_holm"] = v
        for i in idx:
            rows[i]["family_size"] = len(idx)


def paired_comparison(
    df,
    a: dict,
    b: dict,
    on=("attack_kind", "budget"),
    flag: str = "changed",
    margin: float = PRACTICAL_MARGIN,
    alpha: float = 0.05,
    paper_effect=None,
    family_by=None,
):
    """Model ``b`` vs model ``a`` (each a dict of column values, e.g. ``{"model": "vit"}``), per
    group of ``on``, paired by training seed and by image.

    Per seed present for both: McNemar's exact test on the per-image ``flag`` and the difference
    ``rate_b - rate_a``. Over seeds: mean difference with its t 95% CI and the verdict for the claim
    "b has the higher rate" (:func:`dalib.stats.verdict`). Columns: the ``on`` keys, ``a_mean``,
    ``b_mean``, ``diff_mean``, ``diff_low``, ``diff_high``, ``n_seeds``, ``p_per_seed`` (text),
    ``p_pooled`` (:func:`dalib.stats.mcnemar_pooled`),
    ``seeds_b_higher`` / ``seeds_a_higher`` (seeds with McNemar p < ``alpha`` in each direction),
    ``verdict``, ``reason``. Rows of ``a`` and ``b`` must come from the same images (same ``n``).
    ``paper_effect``: the paper's ``rate_b - rate_a``, if it reports one (a number, or a dict from
    the ``on`` key tuple to a number), passed to the verdict.

    One claim over several budgets is one family of tests: the seed-level t-test p-value
    (``p_seed``) and the pooled McNemar p-value of every group are Holm-adjusted within each family
    of equal ``family_by`` columns (default: all of ``on`` but the last, e.g. per attack kind over
    its budgets), giving ``p_seed_holm``, ``p_pooled_holm`` and ``family_size``; the verdict reads
    the adjusted values. A budget where both models' mean rates reach
    :data:`dalib.stats.SATURATION` is *saturated*."""
    import pandas as pd

    family_by = tuple(on[:-1]) if family_by is None else tuple(family_by)
    out = []
    for key, ga, gb, seeds in _matched(df, a, b, on):
        diffs, ps, ra, rb, hi_b, hi_a, tables, dmat = [], [], [], [], 0, 0, [], []
        for s in seeds:
            ((_, row_a),) = select(ga, seed=s).iterrows()
            ((_, row_b),) = select(gb, seed=s).iterrows()
            if int(row_a["n"]) != int(row_b["n"]):
                raise ValueError(
                    f"paired_comparison: seed {s} {key}: {row_a['n']} vs {row_b['n']} images; "
                    "pairs need the same images"
                )
            fa, fb = flags_of(row_a, flag), flags_of(row_b, flag)
            m = mcnemar(fa, fb)
            dmat.append(fb.astype(float) - fa.astype(float))
            tables.append(m)
            diffs.append(m["diff"])
            ps.append(m["p"])
            ra.append(m["rate_a"])
            rb.append(m["rate_b"])
            hi_b += m["p"] < alpha and m["diff"] > 0
            hi_a += m["p"] < alpha and m["diff"] < 0
        s = mean_ci(diffs) if diffs else {"mean": np.nan, "low": np.nan, "high": np.nan, "n": 0}
        pooled = mcnemar_pooled(tables)["p"] if tables else np.nan
        pe = paper_effect.get(key) if isinstance(paper_effect, dict) else paper_effect
        # the primary, two-level test: seeds x images crossed (dalib.stats.crossed_effect)
        e = crossed_effect(np.array(dmat)) if dmat else crossed_effect(np.full((1, 1), np.nan))
        lo, hi = e.ci()
        out.append(
            {
                **dict(zip(on, key)),
                "a_mean": float(np.mean(ra)) if ra else np.nan,
                "b_mean": float(np.mean(rb)) if rb else np.nan,
                "diff_mean": s["mean"],
                "diff_low": lo,
                "diff_high": hi,
                "t_low": s["low"],
                "t_high": s["high"],
                "n_seeds": s["n"],
                "df": e.df,
                "p_two_level": e.p(),
                "p_per_seed": ", ".join(f"{p:.2g}" for p in ps),
                "p_pooled": pooled,
                "p_seed": t_test_p(diffs),
                "seeds_b_higher": int(hi_b),
                "seeds_a_higher": int(hi_a),
                "_paper_effect": pe,
                "_effect": e,
                "s2_seed": e.components.get("s2_seed", np.nan),
                "s2_image": e.components.get("s2_image", np.nan),
                "s2_e": e.components.get("s2_e", np.nan),
                "n_images": e.n_images,
            }
        )
    _holm_within(out, family_by)
    if not out:  # no model pair yet: an empty table with the documented columns
        return pd.DataFrame(
            columns=[
                *on,
                "a_mean",
                "b_mean",
                "diff_mean",
                "diff_low",
                "diff_high",
                "t_low",
                "t_high",
                "n_seeds",
                "df",
                "p_two_level",
                "p_per_seed",
                "p_pooled",
                "p_seed",
                "seeds_b_higher",
                "seeds_a_higher",
                "p_seed_holm",
                "p_pooled_holm",
                "family_size",
                "adj_low",
                "adj_high",
                "saturated",
                "verdict",
                "reason",
                "verdict_v1",
            ]
        )
    for r in out:
        r["saturated"] = min(r["a_mean"], r["b_mean"]) >= SATURATION
    _decide_parts(out, family_by, margin=margin, alpha=alpha)
    return pd.DataFrame(out).drop(columns=["_effect"])


def _decide_parts(rows, family_by, margin: float, alpha: float = 0.05, unit: str = "seeds") -> None:
    """The rules-v2 verdict of each part (row) of a claim over its family's parts (rows of equal
    ``family_by`` values): "reproduced" from the part's 95 % interval (the intersection-union
    test needs no correction), the other words from its interval at level ``1 - alpha / k``
    (Bonferroni over the family's ``k`` non-saturated parts), so that :func:`dalib.stats.combine`
    may read "any part contradicts" as a claim-level verdict. Sets ``verdict``, ``reason``,
    ``adj_low``, ``adj_high``, ``family_size``; ``verdict_v1`` keeps the old rules' word."""
    fams = {}
    for r in rows:
        fams.setdefault(tuple(r[k] for k in family_by), []).append(r)
    for fam in fams.values():
        k = max(1, sum(not r["saturated"] for r in fam))
        for r in fam:
            e, pe = r["_effect"], r.pop("_paper_effect", None)
            r["family_size"] = len(fam)
            r["adj_low"], r["adj_high"] = e.ci(1 - alpha / k)
            rates = (r["a_mean"], r["b_mean"])
            n = r.get("n_seeds", r.get("n_images"))
            what = "the difference"
            v, why = verdict(
                r["diff_low"], r["diff_high"], n, margin=margin, what=what, paper_effect=pe, rates=rates, unit=unit
            )
            if v not in ("reproduced", "reproduced, smaller", "saturated") and k > 1:
                v, why = verdict(
                    r["adj_low"], r["adj_high"], n, margin=margin, what=what, paper_effect=pe, rates=rates, unit=unit
                )
                why = why.replace("95% CI", f"{100 * (1 - alpha / k):.1f}% CI (Bonferroni over {k} parts)")
            r["verdict"], r["reason"] = v, why
            r["verdict_v1"] = verdict_v1(
                r.get("t_low", r["diff_low"]),
                r.get("t_high", r["diff_high"]),
                n,
                p=r.get("p_pooled_holm", r.get("p_holm")),
                alpha=alpha,
                margin=margin,
                paper_effect=pe,
                p_seed=r.get("p_seed_holm"),
                family=r["family_size"],
                rates=rates,
                unit=unit,
            )[0]


def image_paired_comparison(
    df,
    a: dict,
    b: dict,
    on=("dataset", "attack_kind", "budget"),
    flag: str = "changed",
    margin: float = PRACTICAL_MARGIN,
    alpha: float = 0.05,
    n_boot: int = 2000,
    family_by=None,
):
    """Model ``b`` vs model ``a`` when each is one fixed model (pretrained CLIP and DiffCLIP: no
    training seeds), per group of ``on``, paired by image: ``rate_b - rate_a`` with its paired
    bootstrap 95% CI over images (:func:`dalib.stats.paired_bootstrap`), McNemar's exact test, the
    p-values Holm-adjusted within each family of equal ``family_by`` columns (default all of ``on``
    but the last: one attack over its budgets) and the verdict for "b has the higher rate"
    (:func:`dalib.stats.verdict`, with the image count as ``n``). The inference is over images of
    these two models, not over training runs. Columns: the ``on`` keys, ``a_mean``, ``b_mean``,
    ``diff_mean``, ``diff_low``, ``diff_high``, ``n_images``, ``p``, ``p_holm``, ``family_size``,
    ``verdict``, ``reason``."""
    import pandas as pd

    from .stats import paired_bootstrap

    family_by = tuple(on[:-1]) if family_by is None else tuple(family_by)
    out = []
    for key, ga, gb, _ in _matched(df, a, b, on):
        if len(ga) != 1 or len(gb) != 1:
            if len(ga) == 0:
                continue
            raise ValueError(f"image_paired_comparison {key}: expected one row per model, got {len(ga)} and {len(gb)}")
        ra, rb = ga.iloc[0], gb.iloc[0]
        if int(ra["n"]) != int(rb["n"]):
            raise ValueError(
                f"image_paired_comparison {key}: {ra['n']} vs {rb['n']} images; pairs need the same images"
            )
        fa, fb = flags_of(ra, flag), flags_of(rb, flag)
        m, bs = mcnemar(fa, fb), paired_bootstrap(fa, fb, n_boot=n_boot)
        e = image_effect(fb.astype(float) - fa.astype(float))
        lo, hi = e.ci()
        out.append(
            {
                **dict(zip(on, key)),
                "a_mean": m["rate_a"],
                "b_mean": m["rate_b"],
                "diff_mean": m["diff"],
                "diff_low": lo,
                "diff_high": hi,
                "boot_low": bs["low"],
                "boot_high": bs["high"],
                "n_images": int(ra["n"]),
                "p": m["p"],
                "_effect": e,
                "saturated": min(m["rate_a"], m["rate_b"]) >= SATURATION,
            }
        )
    _holm_within(out, family_by, keys=("p",))
    cols = [
        *on,
        "a_mean",
        "b_mean",
        "diff_mean",
        "diff_low",
        "diff_high",
        "boot_low",
        "boot_high",
        "n_images",
        "p",
        "p_holm",
        "family_size",
        "adj_low",
        "adj_high",
        "verdict",
        "reason",
        "verdict_v1",
    ]
    if not out:
        return pd.DataFrame(columns=cols)
    _decide_parts(out, family_by, margin=margin, alpha=alpha, unit="images")
    return pd.DataFrame(out)[cols]


def seed_difference(
    df,
    a: dict,
    b: dict,
    on=("attack_kind", "budget"),
    value: str = "asr_correct",
    margin: float = PRACTICAL_MARGIN,
    family_by=None,
):
    """Like :func:`paired_comparison` but for a summary column ``value`` whose per-image pairing is
    lost (e.g. ``asr_correct``, whose denominator is each model's own set of correctly classified
    images): per seed ``value_b - value_a``, their mean with the t 95% CI over seeds, and the
    verdict for "b is higher" from the seed-level CI alone (Holm-adjusted within each family, as in
    :func:`paired_comparison`). Columns: the ``on`` keys, ``a_mean``, ``b_mean``, ``diff_mean``,
    ``diff_low``, ``diff_high``, ``n_seeds``, ``p_seed``, ``p_seed_holm``, ``family_size``,
    ``verdict``, ``reason``."""
    import pandas as pd

    out = []
    for key, ga, gb, seeds in _matched(df, a, b, on):
        va = [float(select(ga, seed=s_)[value].iloc[0]) for s_ in seeds]
        vb = [float(select(gb, seed=s_)[value].iloc[0]) for s_ in seeds]
        d = np.subtract(vb, va)
        s = mean_ci(d) if seeds else {"mean": np.nan, "low": np.nan, "high": np.nan, "n": 0}
        out.append(
            {
                **dict(zip(on, key)),
                "a_mean": float(np.mean(va)) if va else np.nan,
                "b_mean": float(np.mean(vb)) if vb else np.nan,
                "diff_mean": s["mean"],
                "diff_low": s["low"],
                "diff_high": s["high"],
                "n_seeds": s["n"],
                "p_seed": t_test_p(d),
                "_effect": seed_effect(d),
            }
        )
    fam = tuple(on[:-1]) if family_by is None else tuple(family_by)
    _holm_within(out, fam, keys=("p_seed",))
    if not out:
        return pd.DataFrame(
            columns=[
                *on,
                "a_mean",
                "b_mean",
                "diff_mean",
                "diff_low",
                "diff_high",
                "n_seeds",
                "p_seed",
                "p_seed_holm",
                "family_size",
                "adj_low",
                "adj_high",
                "saturated",
                "verdict",
                "reason",
                "verdict_v1",
            ]
        )
    for r in out:
        r["saturated"] = min(r["a_mean"], r["b_mean"]) >= SATURATION
    _decide_parts(out, fam, margin=margin)
    return pd.DataFrame(out).drop(columns=["_effect"])


# --------------------------------------------------------------------------------------------
# CW-L2: per-image minimal norms -> ASR as a function of the L2 budget


def l2_values(row) -> np.ndarray:
    """The per-image minimal L2 norms of one CW record row (``l2_values``; inf where CW found no
    adversarial example)."""
    return np.array([float(v) for v in str(row["l2_values"]).split(",")], dtype=float)


def cw_asr_curve(rows, budgets) -> np.ndarray:
    """ASR of CW-L2 at each L2 budget, ``mean_i [l2_i <= budget]``, one row per record row:
    shape ``(len(rows), len(budgets))``."""
    b = np.asarray(budgets, dtype=float)
    return np.array([(l2_values(r)[:, None] <= b[None, :]).mean(0) for _, r in rows.iterrows()])


def l2_for_full_asr(row) -> float:
    """The smallest L2 budget at which CW-L2 reaches 100 % ASR on this row's images: the largest
    minimal norm, or inf if CW failed on any image (it never reaches 100 %)."""
    v = l2_values(row)
    return float(v.max()) if v.size else float("nan")


def l2_comparison(df, a: dict, b: dict, alpha: float = 0.05) -> dict:
    """Does model ``b`` need smaller CW-L2 perturbations than model ``a`` on the same images?

    Per training seed, a sign statistic over the images: ``(#[l2_b < l2_a] - #[l2_b > l2_a]) / n``
    (in [-1, 1]; an image CW fails on has norm inf, so two failures tie). Over seeds: its mean with
    the Student-t CI, and a two-sided exact sign test pooled over seeds on the untied images (the
    McNemar form of :func:`dalib.stats.mcnemar_pooled`). Returns ``per_seed`` (list of dicts: seed,
    median_a, median_b, stat), ``mean``, ``low``, ``high``, ``p``, ``verdict``, ``reason``
    (claim: b needs smaller perturbations)."""
    rows_a = select(df, **a)
    rows_b = select(df, **b)
    seeds = sorted(set(rows_a["seed"]) & set(rows_b["seed"]))
    per, tables = [], []
    for s in seeds:
        la, lb = l2_values(select(rows_a, seed=s).iloc[0]), l2_values(select(rows_b, seed=s).iloc[0])
        if la.size != lb.size:
            raise ValueError(f"l2_comparison: seed {s}: {la.size} vs {lb.size} images; pairs need the same images")
        b_less, a_less = int((lb < la).sum()), int((la < lb).sum())
        tables.append({"n_a_only": a_less, "n_b_only": b_less})
        per.append(
            {
                "seed": s,
                "median_a": float(np.median(la)),
                "median_b": float(np.median(lb)),
                "stat": (b_less - a_less) / la.size,
            }
        )
    s = mean_ci([r["stat"] for r in per]) if per else {"mean": np.nan, "low": np.nan, "high": np.nan, "n": 0}
    p = mcnemar_pooled(tables)["p"] if tables else np.nan
    v, why = verdict(s["low"], s["high"], s["n"], margin=0.0, what="the sign statistic P(b smaller) − P(a smaller)")
    return {"per_seed": per, "mean": s["mean"], "low": s["low"], "high": s["high"], "p": p, "verdict": v, "reason": why}


def measured_pair(profile: str = "cpu", attack_kind: str = "pgd_linf", budget: float = 1.0, n_seeds: int = 3):
    """The depth-1 pair's per-image outcomes in the committed ``asr`` records of ``profile`` (ViT
    and DiffViT with λ_init 0.8, current recipe, attacks on the clean prediction) at one attack and
    budget, on the first ``n_seeds`` seeds both models have: ``(flags_a (S, I), flags_b (S, I),
    record ids)``. Raises :class:`dalib.records.RecordNotFoundError` or ``ValueError`` (naming what
    is missing) when the records cannot give them."""
    from .records import load_rows

    df = recipe_check(load_rows("asr", table="asr", profile=profile))
    df = df[
        df["recipe_current"]
        & (df["depth"] == 1)
        & (df["attack_labels"] == "clean_pred")
        & (df["attack_kind"] == attack_kind)
        & (df["budget"].astype(float) == float(budget))
    ]
    a = df[df["model"] == "vit"].sort_values("seed")
    b = df[(df["model"] == "diffvit") & (df["lambda_init"].astype(str) == "0.8")].sort_values("seed")
    seeds = sorted(set(a["seed"]) & set(b["seed"]))[:n_seeds]
    if len(seeds) < min(n_seeds, 2):
        raise ValueError(
            f"the {profile} asr records hold {len(seeds)} paired seed(s) of the depth-1 pair at {attack_kind} "
            f"{budget:g}/255; at least 2 are needed (run `python -m dalib.run asr --profile {profile}`)"
        )
    fa = np.array([flags_of(a[a["seed"] == s].iloc[0]) for s in seeds])
    fb = np.array([flags_of(b[b["seed"] == s].iloc[0]) for s in seeds])
    ids = sorted(set(a[a["seed"].isin(seeds)]["record"]) | set(b[b["seed"].isin(seeds)]["record"]))
    return fa, fb, ids
