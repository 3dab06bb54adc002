"""``DatasetSpec``: what the code needs to know about one dataset of the paper (CIFAR-10/100,
Krizhevsky 2009; Tiny ImageNet, Le & Yang 2015; MSCOCO 2014 val, Lin et al. 2014; ImageNet-1k val,
Deng et al. 2009) without loading it.

Training, the experiment notebooks and the CLIP zero-shot code ask the spec for the split to train
on, the split to evaluate on, the image size, the class count and the normalisation, so a notebook
that names a dataset works for any registered one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its splits and the defaults of the models trained or evaluated on it.

    ``loader(split, root, download, image_size=None, transform=None, cache=None) -> ImageDataset``
    finds and decodes a split (``root`` a resolved ``Path``). ``train_split`` is None for an
    evaluation-only dataset. Images enter the models in [0, 1]; the model normalises them with
    ``(x - mean) / std`` per channel, so ``mean``/``std`` are the defaults of a model trained here.
    """

    name: str  # registry key, e.g. "cifar10"
    loader: Callable  # finds, decodes and caches one split (see above)
    splits: tuple[str, ...]  # every split the loader accepts
    eval_split: str  # the split attacked and scored ("test" on CIFAR)
    train_split: str | None  # the split models train on; None: evaluation only
    image_size: int  # native side in pixels (H = W)
    num_classes: int  # K: classes (single-label) or categories (multi-label)
    mean: tuple[float, float, float]  # per-channel normalisation mean (inside the model)
    std: tuple[float, float, float]  # per-channel normalisation std (inside the model)
    multilabel: bool = False  # labels are multi-hot (N, K) instead of class indices (N,)
    classes: tuple[str, ...] | None = None  # class names, when fixed (else from the loaded split)
    note: str = ""  # what this dataset is, when it is a stand-in or a re-split
    stand_in: str = ""  # the fidelity of its offline stand-in archive, where it has one (the records carry it)
    sizes: dict = field(default_factory=dict)  # split -> number of images (canonical layout)

    def __post_init__(self):
        if self.eval_split not in self.splits or (self.train_split is not None and self.train_split not in self.splits):
            raise ValueError(
                f"dataset spec {self.name!r}: eval_split {self.eval_split!r} and "
                f"train_split {self.train_split!r} must be among its splits {self.splits}"
            )

    def check_split(self, split: str) -> str:
        """``split`` if this dataset has it, else ``ValueError`` naming the valid ones."""
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r} for dataset {self.name!r}; valid splits: {list(self.splits)}")
        return split

    def check_trainable(self) -> str:
        """The training split, or ``ValueError`` for an evaluation-only dataset."""
        if self.train_split is None:
            raise ValueError(
                f"dataset {self.name!r} is evaluation-only (splits {list(self.splits)}); models cannot be trained on it"
            )
        return self.train_split
