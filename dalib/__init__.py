"""dalib: a reference implementation of *Understanding Sensitivity of Differential Attention
through the Lens of Adversarial Robustness* (Takahashi, Yamabe, Waseda, Sasaki).

Subpackages: ``models`` (ViT / DiffViT), ``attacks`` (PGD, PatchPGD, CW, AutoAttack),
``metrics`` (ASR, local Lipschitz, gradient alignment), plus ``data``, ``train``, ``theory``
and the papermill experiment runner ``dalib.run``.
"""

__version__ = "0.1.0"
