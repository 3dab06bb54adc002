"""The dataset classes: ``(image float32 (C, H, W) in [0, 1], label)`` pairs, all decoded in
memory (``TensorImageDataset``) or from files on access (``FileImageDataset``), and the fixed,
class-balanced subsets every experiment draws its images from (``fixed_subset``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from .cache import DEFAULT_RESIZE, _cache_max_bytes, _cached_images, _decode_one
from .sources import DatasetNotFoundError

_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class ImageDataset(Dataset):
    """Images with labels. Subclasses provide ``_uint8(i)`` -> uint8 ``(C, H, W)``."""

    def __init__(
        self, *, name, split, labels, classes, source, fidelity="", transform=None, image_size=None, extra=None
    ):
        self.name, self.split = name, split
        self.labels = labels  # int64 (N,) or float32 multi-hot (N, K)
        self.classes = list(classes)
        self.multilabel = labels.dim() == 2
        self.source, self.fidelity = str(source), fidelity
        self.transform = transform
        self.image_size = image_size
        for k, v in (extra or {}).items():
            setattr(self, k, v)

    @property
    def targets(self) -> list:
        if self.multilabel:
            raise AttributeError("multi-label dataset: use .labels (multi-hot, (N, K))")
        return self.labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = self._uint8(i).float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        y = self.labels[i].clone() if self.multilabel else int(self.labels[i])
        return x, y

    def __repr__(self) -> str:
        shape = (3, self.image_size, self.image_size)
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"image_shape={shape}, classes={len(self.classes)}, multilabel={self.multilabel}, "
            f"source={self.source!r})"
        )


class TensorImageDataset(ImageDataset):
    """All images decoded in memory: ``images`` uint8 ``(N, C, H, W)``."""

    def __init__(self, images: torch.Tensor, **kw):
        super().__init__(**kw)
        if len(images) != len(self.labels):
            raise ValueError(f"{len(images)} images but {len(self.labels)} labels")
        self.images = images
        self.image_size = images.shape[-1]

    def _uint8(self, i):
        return self.images[i]


class FileImageDataset(ImageDataset):
    """Images decoded from their files on access (for datasets too big to cache)."""

    def __init__(self, files: list, resize: str = DEFAULT_RESIZE, **kw):
        super().__init__(**kw)
        self.files = list(files)
        self.resize = resize

    def _uint8(self, i):
        return _decode_one(self.files[i], self.image_size, self.resize)


def _make(
    name, split, root, files, labels, size, cache, native: bool = False, resize: str = DEFAULT_RESIZE, **kw
) -> ImageDataset:
    """A dataset over ``files``: decoded once and cached if it fits, else decoded lazily."""
    if not files:
        raise DatasetNotFoundError(
            name,
            split,
            [f"{kw.get('source')} (no image files)"],
            "the directory exists but holds no images; re-create it",
        )
    nbytes = len(files) * 3 * size * size
    if cache is None:
        cache = nbytes <= _cache_max_bytes()
    if cache:
        images, path = _cached_images(root, name, split, size, files, native=native, resize=resize)
        kw["extra"] = {**kw.get("extra", {}), "cache_file": path}
        return TensorImageDataset(images, name=name, split=split, labels=labels, image_size=size, **kw)
    return FileImageDataset(files, resize=resize, name=name, split=split, labels=labels, image_size=size, **kw)


def _image_folder(split_dir: Path):
    """``split_dir/<class>/*.jpg`` -> (files, labels, classes); classes sorted (ImageFolder)."""
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    files, labels = [], []
    for c, cls in enumerate(classes):
        names = sorted(
            e.name for e in os.scandir(split_dir / cls) if e.is_file() and e.name.lower().endswith(_IMAGE_EXTS)
        )
        d = os.path.join(split_dir, cls)
        files += [os.path.join(d, n) for n in names]  # str: 10x cheaper than Path for 50k files
        labels += [c] * len(names)
    return files, torch.tensor(labels, dtype=torch.int64), classes


# --------------------------------------------------------------------------- loaders


def fixed_subset(dataset, n: int, seed: int = 0) -> Subset:
    """The same ``n`` items of ``dataset`` every time (class-balanced round-robin for
    single-label data with known labels, a seeded permutation otherwise)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if n > len(dataset):
        raise ValueError(f"n={n} exceeds the {len(dataset)} items of the dataset")
    g = torch.Generator().manual_seed(seed)
    labels = _labels_of(dataset)
    if labels is None or labels.dim() != 1:
        order = torch.randperm(len(dataset), generator=g)[:n].tolist()
        return Subset(dataset, order)
    per_class = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        per_class.append(idx[torch.randperm(len(idx), generator=g)].tolist())
    order: list[int] = []
    depth = 0
    while len(order) < n:
        for idx in per_class:
            if depth < len(idx):
                order.append(idx[depth])
        depth += 1
    return Subset(dataset, order[:n])


def _unwrap(dataset):
    """``Subset`` chain -> (base dataset, index list or None for all)."""
    idx = None
    while isinstance(dataset, Subset):
        sub = list(dataset.indices)
        idx = sub if idx is None else [sub[i] for i in idx]
        dataset = dataset.dataset
    return dataset, idx


def _labels_of(dataset):
    base, idx = _unwrap(dataset)
    labels = getattr(base, "labels", None)
    if labels is None and hasattr(base, "targets"):
        labels = torch.as_tensor(base.targets)
    if labels is None:
        return None
    return labels if idx is None else labels[idx]
