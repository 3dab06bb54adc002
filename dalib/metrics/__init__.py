"""Sensitivity metrics of Takahashi et al. (local Lipschitz, gradient alignment, certified radius).

- ``lipschitz``: local Lipschitz estimates (eq. 4): sampling (paper), gradient ascent, power iteration.
- ``alignment``: Frobenius cosine of the branch Jacobians (Lemma 1), exact and JVP-probe estimates.
- ``certified``: certified radius margin / L (Appendix B).
- ``maps``: attention maps as functions of the image or of a layer's own input.
"""

from .lipschitz import (EPS_PAPER, ascent_lipschitz, attention_lipschitz, power_lipschitz,
                        sampling_lipschitz)
from .maps import image_map_fn, layer_map_fn

__all__ = ["EPS_PAPER", "sampling_lipschitz", "ascent_lipschitz", "power_lipschitz",
           "attention_lipschitz", "image_map_fn", "layer_map_fn"]
