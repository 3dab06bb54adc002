"""Zero-shot CLIP/DiffCLIP classification and its attack success rate (paper Fig. 2b, 2d).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 5 and Appendix C.2.1: the attack minimises ``cos(phi_visual(x + delta),
phi_text(t_y))`` with ``t_y = "a photo of a <class>"``; a success is a changed prediction.

- The prediction is CLIP's zero-shot top-1 ``argmax_c cos(phi_visual(x), phi_text(t_c))`` over the
  dataset's class prompts (:class:`dalib.attacks.CosineLoss.predict`).
- ``y`` for the attack is that clean top-1 class, for ImageNet (single label) and COCO alike. For
  multi-label COCO the ASR is therefore **the fraction of images whose top-1 zero-shot category
  changes** under the attack (over all images, the paper's denominator). The ground truth enters
  only the clean accuracy: top-1 correct when it is among the image's categories (COCO), equal to
  the label (ImageNet).
- Preprocessing: SLIP's zero-shot evaluation transform, which the DiffCLIP release evaluates with:
  torchvision ``Resize(224)`` (shorter side, bilinear) then ``CenterCrop(224)``
  (``load_dataset(..., resize="slip")``, the default); the release's demo script squashes to
  224 x 224 instead (``resize="squash"``). Normalised inside the model with ImageNet mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attacks.losses import CosineLoss
from .models.clip import ARCHS, PROMPT, VIT_B16, CLIPImageEncoder, class_text_embeddings, create_clip


@dataclass
class ZeroShot:
    """A zero-shot classifier: ``encoder`` ([0, 1] images -> embeddings), ``loss`` (the cosine
    objective over the class prompts; ``loss.predict`` is the zero-shot prediction), its classes."""

    encoder: CLIPImageEncoder
    loss: CosineLoss
    classes: list
    source: str  # where the weights came from

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Zero-shot top-1 ``(B,)`` for images ``x`` ``(B, 3, S, S)`` in [0, 1]."""
        dev = next(self.encoder.parameters()).device
        return torch.cat(
            [self.loss.predict(self.encoder(x[i : i + batch_size].to(dev))).cpu() for i in range(0, len(x), batch_size)]
        )


def class_names(dataset) -> list:
    """The class names the prompts use (``dataset.classes``); ``ValueError`` when they are WordNet
    ids (an ImageNet folder without torchvision's ``meta.bin``), which would make the prompts
    meaningless. ImageNet names are the first synonym of each class in the devkit (e.g. "tench");
    the DiffCLIP release's own evaluation may use a curated list, which can shift accuracy a little."""
    import re

    names = list(getattr(dataset, "classes", None) or [])
    if not names:
        raise ValueError(f"{type(dataset).__name__} has no class names; zero-shot prompts need them")
    if sum(bool(re.fullmatch(r"n\d{8}", str(n))) for n in names) > len(names) // 2:
        raise ValueError(
            "the class names are WordNet ids (e.g. n01440764): put torchvision's meta.bin (made by "
            "torchvision.datasets.ImageNet from ILSVRC2012_devkit_t12.tar.gz) next to imagenet/val/ "
            "so that the prompts name the classes"
        )
    return names


def top1_correct(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bool ``(B,)``: the top-1 class is the label (``y`` int ``(B,)``) or among the labels
    (``y`` multi-hot ``(B, K)``)."""
    if y.dim() == 2:
        return y[torch.arange(len(pred)), pred] > 0
    return pred == y


def zero_shot(clip, classes, source: str, template: str = PROMPT) -> ZeroShot:
    """The zero-shot classifier of a built ``CLIP`` over ``classes`` (prompt ``template``)."""
    clip.eval()
    text = class_text_embeddings(clip, classes, template)  # (num_classes, embed_dim), L2-normalised
    return ZeroShot(CLIPImageEncoder(clip).eval(), CosineLoss(text), list(classes), source)


def load_zero_shot(
    model: str,
    weights: str,
    classes,
    *,
    checkpoint: str = "",
    online: bool = False,
    arch: dict | None = None,
    seed: int = 0,
    scratch_dir=None,
) -> ZeroShot:
    """Build ``model`` with release ``weights`` (``dalib.models.clip_weights.RELEASES``) or, for
    ``weights="random"``, random weights from ``seed`` that go through the release checkpoint format
    and loader once (written to ``scratch_dir``), so the smoke run exercises the real loading path."""
    from .models.clip_weights import RELEASES, load_clip, save_release_checkpoint

    arch = dict(arch or {})
    if weights == "random":
        import tempfile
        from pathlib import Path

        torch.manual_seed(seed)
        ref = create_clip(model, **arch)
        folder = Path(scratch_dir or tempfile.mkdtemp(prefix="dalib-clip-"))
        path = save_release_checkpoint(ref, folder / "checkpoint_best.pt")
        name = next(n for n, r in RELEASES.items() if r.model == model)  # any release of this architecture
        clip = load_clip(name, checkpoint=path, **arch)
        source = f"random weights (seed {seed}), saved and re-loaded in the release format ({path.name})"
    else:
        clip = load_clip(weights, checkpoint=checkpoint or None, online=online, **arch)
        source = f"release {weights} ({checkpoint or 'found via $DALIB_WEIGHTS' + (' or the Hub' if online else '')})"
    return zero_shot(clip, classes, source)


__all__ = ["ZeroShot", "zero_shot", "load_zero_shot", "class_names", "top1_correct", "VIT_B16", "fidelity_table"]


def fidelity_table():
    """What our CLIP and DiffCLIP take from the release, read from the code that builds them (the
    CLIP page's "Fidelity to the release" table): LayerNorm eps per tower, the image transform and
    the tokenizer's limit."""
    import pandas as pd

    from .data.cache import DEFAULT_RESIZE, RESIZES
    from .models.clip import SPECIAL_TOKENS, VIT_B16

    rows = []
    for name, arch in ARCHS.items():
        rows.append(
            {
                "model": name,
                "vision LayerNorm eps": f"{arch['vision_norm_eps']:g}",
                "text LayerNorm eps": "1e-05",
                "image transform": f"{DEFAULT_RESIZE}: {RESIZES[DEFAULT_RESIZE]}",
                "prompt tokens": f"at most {VIT_B16['context_length'] - 2} (refused beyond); "
                f"{' and '.join(SPECIAL_TOKENS)} refused",
            }
        )
    return pd.DataFrame(rows)
