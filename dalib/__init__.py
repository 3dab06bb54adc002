"""dalib: a reference implementation of *Understanding Sensitivity of Differential Attention
through the Lens of Adversarial Robustness* (Takahashi, Yamabe, Waseda, Sasaki).

Subpackages: ``models`` (ViT / DiffViT), ``attacks`` (PGD, PatchPGD, CW, AutoAttack),
``metrics`` (ASR, local Lipschitz, gradient alignment), plus ``data``, ``train``, ``theory``
and the papermill experiment runner ``dalib.run``.
"""

__version__ = "0.1.0"

import warnings as _warnings

# timm imports huggingface_hub, which imports tqdm.auto; in a headless Jupyter kernel (book pages,
# papermill runs) that warns "IProgress not found" on stderr. Progress bars fall back to text, so
# the warning says nothing to a reader of the book: silence exactly that message.
_warnings.filterwarnings("ignore", message="IProgress not found")
