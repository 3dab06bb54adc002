"""The numbers the paper under study prints, as data (RobustBench style: results are data, not
prose), so that book pages put them beside ours without retyping them.

Takahashi et al., *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*. Single training runs on an H100, no error bars; models trained with the
paper's recipe (100 epochs on CIFAR-10). Figures 2-4 are plots without printed values, so only
their qualitative claims can be compared.
"""

# Table 1: DiffViT (depth 1) on CIFAR-10, varying lambda_init: clean accuracy and PGD ASR at eps = 1/255.
#: the paper's models (its controlled pair): the chapters of the paper's artifacts read only their records;
#: models beyond the paper (e.g. "diffv2") have chapters of their own
PAPER_MODELS = ("vit", "diffvit")


def paper_models(df):
    """The rows of ``df`` (a record table with a ``model`` column) of :data:`PAPER_MODELS`."""
    return df[df["model"].isin(PAPER_MODELS)] if "model" in df.columns else df


def paper_plans(plans) -> list:
    """The planned runs (``dalib.run`` plans) whose model is one of :data:`PAPER_MODELS`."""
    return [p for p in plans if p.params.get("model", PAPER_MODELS[0]) in PAPER_MODELS]


TABLE1_LAMBDA_SWEEP = {
    # lambda_init: {"accuracy": ..., "asr_eps1": ...}
    "0.5": {"accuracy": 0.8605, "asr_eps1": 0.4074},
    "0.7": {"accuracy": 0.8697, "asr_eps1": 0.6772},
    "0.8": {"accuracy": 0.8700, "asr_eps1": 0.8498},
    "0.85": {"accuracy": 0.8567, "asr_eps1": 0.7531},
    "0.9": {"accuracy": 0.8524, "asr_eps1": 0.4956},
    "0.95": {"accuracy": 0.8468, "asr_eps1": 0.4164},
}

# Table 3: depth-1 DiffViT (lambda_init 0.8) on CIFAR-10, vanilla (training budget 0) and trained with PGD
# at adv_eps; clean accuracy and PGD ASR by attack eps (all budgets in units of 1/255).
TABLE3_ADV_TRAINING = {
    # adv_eps: {"accuracy": ..., "asr": {attack eps: ASR}}
    0.0: {"accuracy": 0.8700, "asr": {0.25: 0.3310, 0.5: 0.6367, 1.0: 0.8498}},
    0.25: {"accuracy": 0.9518, "asr": {0.25: 0.2537, 0.5: 0.6434, 1.0: 0.8824}},
    0.5: {"accuracy": 0.8931, "asr": {0.25: 0.1787, 0.5: 0.4440, 1.0: 0.7676}},
    1.0: {"accuracy": 0.7384, "asr": {0.25: 0.0982, 0.5: 0.2089, 1.0: 0.4302}},
}
# its first row: the vanilla DiffViT
TABLE3_DIFFVIT_ASR = TABLE3_ADV_TRAINING[0.0]["asr"]
TABLE3_DIFFVIT_ACCURACY = TABLE3_ADV_TRAINING[0.0]["accuracy"]

# Table 2: depth-4 models on Tiny ImageNet; ASR by attack (patch side w in pixels, eps in 1/255).
TABLE2_TINY_IMAGENET = {
    "diffvit": {
        ("patch", 8): 0.6465,
        ("patch", 4): 0.4556,
        ("patch", 2): 0.1834,
        ("pgd_linf", 4.0): 0.6318,
        ("pgd_linf", 2.0): 0.3866,
        ("pgd_linf", 1.0): 0.2822,
        ("pgd_linf", 0.5): 0.2364,
    },
    "vit": {
        ("patch", 8): 0.6139,
        ("patch", 4): 0.4072,
        ("patch", 2): 0.1498,
        ("pgd_linf", 4.0): 0.6490,
        ("pgd_linf", 2.0): 0.3857,
        ("pgd_linf", 1.0): 0.2309,
        ("pgd_linf", 0.5): 0.1866,
    },
}

# Claims of Sec. 5.2 that the depth-1 chapter tests (quoted).
CLAIM_FIG2 = (
    "Figure 2(a) and 2(c) show ASR under adversarial examples and patch attacks, respectively. "
    "Across all cases, DiffViT exhibits higher ASR than ViT, consistent with the Fragile Principle."
)
CLAIM_TABLE1 = (
    "Table 1 shows ASR on CIFAR-10 increases steadily up to lambda_init = 0.8, after which it "
    "declines, suggesting over-subtraction reduces vulnerability."
)

# Claims of Sec. 5.3-5.4 that the mechanism chapter tests (quoted). Fig. 4 and 5 print no values.
CLAIM_FIG4 = (
    "In all settings, DA-equipped models exhibit significantly higher Lipschitz estimates than baselines, "
    "with maxima at layers using larger λ."
)
CLAIM_FIG5 = "For CIFAR-trained ViT/DiffViT, even the simplest single-layer variants show dominant negative alignment."
# Appendix D (quoted).
CLAIM_TABLE2 = (
    "On Tiny ImageNet (Table 2), we observe a consistent pattern: DiffViT shows higher ASR than ViT "
    "across patch sizes and small ℓ_∞ budgets. The gap is most pronounced at ε=1/255."
)
CLAIM_TABLE3 = (
    "The adversarial training with small perturbations successfully reduced ASR without harming "
    "classification accuracy. However, beyond ε = 0.5/255, it drastically drops the clean accuracy."
)
CLAIM_FIG1B = (
    "(b) With adversarial perturbations, the gradients (red arrows) of the two attention branches may "
    "become negatively aligned, amplifying small input changes and leading to conflicting responses."
)


# The paper's artifacts: one entry each, with the claim (quoted or summarised from the caption), our
# producer notebook and book page, and what the scorecard (dalib.scorecard) derives the status from:
# the claims of dalib.claims.CLAIMS whose artifact it is, "theorem" (dalib.theory.PRINTED_STATUS), "blocked"
# (why it cannot run here) or "pending" (no producer yet).
_D1 = dict(producer="notebooks/experiments/asr.md", page="book/results_depth1.md")
_MECH = dict(producer="notebooks/experiments/mechanism.md", page="book/results_mechanism.md")
_DEPTH = dict(producer="notebooks/experiments/asr_suite.md", page="book/results_depth.md")
_TABLES = dict(producer="notebooks/experiments/asr_suite.md", page="book/results_tables.md")
_THEORY = dict(producer="notebooks/theory/fragile_principle.md", page="notebooks/theory/fragile_principle.md")
_NO_CLIP = (
    "needs the pretrained CLIP and DiffCLIP ViT-B/16 weights, which cannot be downloaded here "
    "(the pipeline runs on random-weight models in the smoke profile)"
)
_CLIP = dict(producer="notebooks/experiments/clip.md", page="book/results_clip.md", blocked=_NO_CLIP)
ARTIFACTS = [
    dict(
        id="Fig. 2a",
        claim=CLAIM_FIG2,
        paper="DiffViT ASR above ViT's at every PGD budget (depth 1, CIFAR-10)",
        **_D1,
    ),
    dict(
        id="Fig. 2b",
        claim="DiffCLIP is more vulnerable than CLIP under PGD (COCO, ImageNet zero-shot)",
        paper="plot, no values",
        **_CLIP,
    ),
    dict(
        id="Fig. 2c",
        claim=CLAIM_FIG2,
        paper="DiffViT ASR above ViT's for every patch size",
        **_D1,
    ),
    dict(
        id="Fig. 2d",
        claim="DiffCLIP is more vulnerable than CLIP under patch attacks",
        paper="plot, no values",
        **_CLIP,
    ),
    dict(
        id="Table 1",
        claim=CLAIM_TABLE1,
        paper="ASR at 1/255: " + ", ".join(f"{k}: {v['asr_eps1']:.2f}" for k, v in TABLE1_LAMBDA_SWEEP.items()),
        **_D1,
    ),
    dict(
        id="Fig. 3a",
        claim="PGD: DA fragile at depth 1-2; at 1/255 DiffViT's ASR drops with depth below ViT's",
        paper="plot, no values",
        **_DEPTH,
    ),
    dict(
        id="Fig. 3b",
        claim="AutoAttack: the same depth trend",
        paper="plot, no values",
        **_DEPTH,
    ),
    dict(
        id="Fig. 3c",
        claim="CW-L2: deeper models need larger perturbations to reach 100 % ASR",
        paper="plot, no values",
        **_DEPTH,
    ),
    dict(
        id="Fig. 3d",
        claim="Mean local Lipschitz estimates over layers rise with depth",
        paper="plot, no values",
        **{**_DEPTH, "producer": "notebooks/experiments/propagation.md"},
    ),
    dict(
        id="Fig. 3d (DA vs standard)",
        claim="At every depth, DA's attention maps have the higher local Lipschitz "
        "estimate (the Fragile Principle, as in Fig. 4)",
        paper="plot, no values",
        **{**_DEPTH, "producer": "notebooks/experiments/propagation.md"},
    ),
    dict(
        id="Fig. 1",
        claim=CLAIM_FIG1B,
        paper="illustration, no values",
        shown="attention maps A1, A2 and A_DA of clean and PGD images from the zoo models, drawn on the Mechanism "
        "page (Figure M5); an illustration: its claim (b) is tested by the clean-against-PGD alignment section there",
        **_MECH,
    ),
    dict(id="Fig. 4", claim=CLAIM_FIG4, paper="plot, no values", claims=["fig4_lipschitz"], **_MECH),
    dict(id="Fig. 5", claim=CLAIM_FIG5, paper="plot, no values", claims=["fig5_alignment"], **_MECH),
    dict(
        id="Fig. 5 (amplification)",
        claim="The negative alignment of the branch gradients amplifies DA's sensitivity (Theorem 1's cross term)",
        paper="no values",
        **_MECH,
    ),
    dict(
        id="Table 2",
        claim=CLAIM_TABLE2,
        paper=f"PGD 1/255: DiffViT {TABLE2_TINY_IMAGENET['diffvit'][('pgd_linf', 1.0)]:.2f}, "
        f"ViT {TABLE2_TINY_IMAGENET['vit'][('pgd_linf', 1.0)]:.2f}",
        **_TABLES,
    ),
    dict(
        id="Table 3",
        claim=CLAIM_TABLE3,
        paper="ASR at the training budget: "
        + ", ".join(
            f"{e:g}: {TABLE3_ADV_TRAINING[0.0]['asr'][e]:.2f} → {TABLE3_ADV_TRAINING[e]['asr'][e]:.2f}"
            for e in (0.25, 0.5, 1.0)
        ),
        **_TABLES,
    ),
    dict(
        id="Table 3 (accuracy)",
        claim=CLAIM_TABLE3,
        paper="clean accuracy: "
        + ", ".join(f"{e:g}: {TABLE3_ADV_TRAINING[e]['accuracy']:.2f}" for e in (0.0, 0.25, 0.5, 1.0)),
        **_TABLES,
    ),
    dict(
        id="Fig. 6",
        claim="PGD with 3 random restarts gives the same picture as PGD (Appendix D.3)",
        paper="plot, no values",
        **_D1,
    ),
    *[
        dict(id=t, claim=f"{t} of Sec. 4 / Appendix B", paper="as printed", theorem=t, **_THEORY)
        for t in ("Lemma 1", "Theorem 1", "Theorem 2", "Theorem 3", "Lemma 2", "Theorem 4", "Corollary 1", "Theorem 5")
    ],
]
