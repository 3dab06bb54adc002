"""The numbers the paper under study prints, as data (RobustBench style: results are data, not
prose), so that book pages put them beside ours without retyping them.

Takahashi et al., *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*. Single training runs on an H100, no error bars; models trained with the
paper's recipe (100 epochs on CIFAR-10). Figures 2-4 are plots without printed values, so only
their qualitative claims can be compared.
"""

# Table 1: DiffViT (depth 1) on CIFAR-10, varying lambda_init: clean accuracy and PGD ASR at eps = 1/255.
TABLE1_LAMBDA_SWEEP = {
    # lambda_init: {"accuracy": ..., "asr_eps1": ...}
    "0.5": {"accuracy": 0.8605, "asr_eps1": 0.4074},
    "0.7": {"accuracy": 0.8697, "asr_eps1": 0.6772},
    "0.8": {"accuracy": 0.8700, "asr_eps1": 0.8498},
    "0.85": {"accuracy": 0.8567, "asr_eps1": 0.7531},
    "0.9": {"accuracy": 0.8524, "asr_eps1": 0.4956},
    "0.95": {"accuracy": 0.8468, "asr_eps1": 0.4164},
}

# Table 3, first row: vanilla DiffViT (lambda_init 0.8, depth 1) on CIFAR-10; PGD ASR by eps (units of 1/255).
TABLE3_DIFFVIT_ASR = {0.25: 0.3310, 0.5: 0.6367, 1.0: 0.8498}
TABLE3_DIFFVIT_ACCURACY = 0.8700

# Table 2: depth-4 models on Tiny ImageNet; ASR by attack (patch side w in pixels, eps in 1/255).
TABLE2_TINY_IMAGENET = {
    "diffvit": {("patch", 8): 0.6465, ("patch", 4): 0.4556, ("patch", 2): 0.1834, ("pgd_linf", 4.0): 0.6318,
                ("pgd_linf", 2.0): 0.3866, ("pgd_linf", 1.0): 0.2822, ("pgd_linf", 0.5): 0.2364},
    "vit": {("patch", 8): 0.6139, ("patch", 4): 0.4072, ("patch", 2): 0.1498, ("pgd_linf", 4.0): 0.6490,
            ("pgd_linf", 2.0): 0.3857, ("pgd_linf", 1.0): 0.2309, ("pgd_linf", 0.5): 0.1866},
}

# Claims of Sec. 5.2 that the depth-1 chapter tests (quoted).
CLAIM_FIG2 = ("Figure 2(a) and 2(c) show ASR under adversarial examples and patch attacks, respectively. "
              "Across all cases, DiffViT exhibits higher ASR than ViT, consistent with the Fragile Principle.")
CLAIM_TABLE1 = ("Table 1 shows ASR on CIFAR-10 increases steadily up to lambda_init = 0.8, after which it "
                "declines, suggesting over-subtraction reduces vulnerability.")

# Claims of Sec. 5.3-5.4 that the mechanism chapter tests (quoted). Fig. 4 and 5 print no values.
CLAIM_FIG4 = ("In all settings, DA-equipped models exhibit significantly higher Lipschitz estimates than baselines, "
              "with maxima at layers using larger λ.")
CLAIM_FIG5 = ("For CIFAR-trained ViT/DiffViT, even the simplest single-layer variants show dominant negative "
              "alignment.")
CLAIM_FIG1B = ("(b) With adversarial perturbations, the gradients (red arrows) of the two attention branches may "
               "become negatively aligned, amplifying small input changes and leading to conflicting responses.")
