"""The dataset registry: ``DATASETS`` maps a name to its :class:`~dalib.data.spec.DatasetSpec`;
each dataset's own file (``cifar.py``, ``tiny_imagenet.py``, ...) registers itself with
:func:`register`. ``load_dataset`` and ``as_tensors`` go through the registry, so an unknown
dataset or split fails with one error that lists the valid ones, before anything is loaded.
"""

from __future__ import annotations

import torch

from .datasets import ImageDataset, TensorImageDataset, _unwrap, fixed_subset
from .sources import data_root
from .spec import DatasetSpec

DATASETS: dict[str, DatasetSpec] = {}


class _Splits(dict):
    """``SPLITS[name]``: the split names of a registered dataset (a live view of ``DATASETS``)."""

    def __missing__(self, name):
        return get_spec(name).splits

    def __contains__(self, name):
        return name in DATASETS

    def __iter__(self):
        return iter(DATASETS)

    def __len__(self):
        return len(DATASETS)

    def get(self, name, default=None):
        return DATASETS[name].splits if name in DATASETS else default


SPLITS = _Splits()


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to ``DATASETS`` (a dataset file calls this once, at import)."""
    if spec.name in DATASETS and DATASETS[spec.name] is not spec:
        raise ValueError(f"dataset {spec.name!r} is registered twice")
    DATASETS[spec.name] = spec
    return spec


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``, or ``ValueError`` listing the registered names."""
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {sorted(DATASETS)}")
    return DATASETS[name]


def load_dataset(
    name: str, split: str, root=None, download=None, image_size=None, transform=None, cache=None, resize: str = "slip"
) -> ImageDataset:
    """The ``split`` of dataset ``name`` as ``(image float32 (C, H, W) in [0, 1], label)`` pairs.

    ``root``: data root (default ``$DALIB_DATA`` or ``<repo>/data``). ``download``: allow network
    downloads of canonical files (default: yes unless ``$DALIB_OFFLINE=1``). ``image_size``:
    side in pixels (default native: 32 CIFAR, 64 Tiny ImageNet, 224 COCO/ImageNet). ``resize``: how
    an image of another size becomes ``image_size`` square, a key of :data:`dalib.data.cache.RESIZES`:
    ``"slip"`` (default; SLIP's evaluation transform, torchvision ``Resize(s)`` + ``CenterCrop(s)``)
    or ``"squash"`` (the DiffCLIP demo's PIL resize to ``(s, s)``). ``transform``: applied to the float image.
    ``cache``: decode once into memory + disk cache (default: when under ``$DALIB_CACHE_MAX_GB``).
    """
    spec = get_spec(name)
    spec.check_split(split)
    if image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1):
        raise ValueError(f"image_size must be a positive int or None, got {image_size!r}")
    from .cache import check_resize

    return spec.loader(
        split,
        data_root(root),
        download,
        image_size=image_size,
        transform=transform,
        cache=cache,
        resize=check_resize(resize),
    )


def as_tensors(dataset_or_name, split=None, n=None, seed: int = 0, dtype=torch.float32, **load_kwargs):
    """``(x, y)`` for a whole dataset (or its ``fixed_subset(n, seed)``): ``x`` ``(N, C, H, W)``
    float32 in [0, 1] (``dtype=torch.uint8``: raw 0..255), ``y`` int64 ``(N,)`` or float32
    multi-hot ``(N, K)``. The dataset's ``transform`` is not applied."""
    if isinstance(dataset_or_name, str):
        if split is None:
            raise ValueError(
                f"as_tensors({dataset_or_name!r}) needs split=, one of {list(SPLITS.get(dataset_or_name, ()))}"
            )
        ds = load_dataset(dataset_or_name, split, **load_kwargs)
    else:
        if split is not None or load_kwargs:
            raise ValueError("split/load arguments are only for a dataset name, not a Dataset")
        ds = dataset_or_name
    if dtype not in (torch.float32, torch.uint8):
        raise ValueError(f"dtype must be torch.float32 or torch.uint8, got {dtype}")
    if n is not None:
        ds = fixed_subset(ds, n, seed)
    base, idx = _unwrap(ds)
    if isinstance(base, TensorImageDataset):
        sel = torch.arange(len(base)) if idx is None else torch.as_tensor(idx, dtype=torch.long)
        x = base.images.index_select(0, sel)
        y = base.labels.index_select(0, sel)
    elif isinstance(base, ImageDataset):
        sel = range(len(base)) if idx is None else idx
        x = torch.stack([base._uint8(i) for i in sel])
        y = base.labels[list(sel)]
    else:  # any other (image, label) dataset with float images in [0, 1]
        sel = range(len(base)) if idx is None else idx
        items = [base[i] for i in sel]
        x = torch.stack([torch.as_tensor(a) for a, _ in items])
        y = torch.stack([torch.as_tensor(b) for _, b in items])
        if x.dtype != torch.uint8:
            x = (x.float() * 255).round().clamp_(0, 255).to(torch.uint8)
    if dtype == torch.float32:
        x = x.float().div_(255)
    return x, y
