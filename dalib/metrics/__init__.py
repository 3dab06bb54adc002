"""Sensitivity metrics of Takahashi et al. (local Lipschitz, gradient alignment, certified radius).

- ``lipschitz``: local Lipschitz estimates (eq. 4): sampling (paper), gradient ascent, power iteration.
- ``alignment``: Frobenius cosine of the branch Jacobians (Lemma 1), exact and JVP-probe estimates.
- ``certified``: certified radius margin / L (Appendix B).
- ``maps``: attention maps as functions of the image or of a layer's own input.
- ``propagation``: how an input perturbation propagates through the blocks (Theorem 4's alpha, L).
"""

from .alignment import (
    alignment_from_gram,
    attention_jacobian_norms,
    gradient_alignment,
    gram_exact,
    gram_probe,
    jacobian,
    negative_alignment_frequency,
)
from .certified import certified_radius, logit_lipschitz, margin
from .lipschitz import EPS_PAPER, ascent_lipschitz, attention_lipschitz, power_lipschitz, sampling_lipschitz
from .maps import eval_mode, image_map_fn, layer_map_fn
from .propagation import (
    block_lipschitz,
    block_states,
    image_block_lipschitz,
    perturbation_propagation,
    propagation_rows,
)

__all__ = [
    "EPS_PAPER",
    "sampling_lipschitz",
    "ascent_lipschitz",
    "power_lipschitz",
    "attention_lipschitz",
    "jacobian",
    "gram_exact",
    "gram_probe",
    "alignment_from_gram",
    "gradient_alignment",
    "attention_jacobian_norms",
    "negative_alignment_frequency",
    "margin",
    "logit_lipschitz",
    "certified_radius",
    "eval_mode",
    "image_map_fn",
    "layer_map_fn",
    "block_states",
    "perturbation_propagation",
    "block_lipschitz",
    "propagation_rows",
]
