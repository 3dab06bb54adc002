"""Tiny ImageNet (Le & Yang, 2015): 64x64 images in 200 classes, 100,000 train (500 per class)
and 10,000 val images (50 per class).

Two datasets are registered:

- ``tiny-imagenet``: the canonical ``train``/``val`` splits (official layout ``tiny-imagenet-200/``
  in the data root, or downloaded from cs231n).
- ``tiny-imagenet-valsplit``: a fixed stand-in split of the val images alone, for machines that
  only have the val split (the offline archive ``tiny-imagenet-200-val.tar.gz``). Per class, the
  first 40 val images (in the order of ``val_annotations.txt``) are ``train``, the last 10 are
  ``test``: 8,000 and 2,000 images, the same for every model and seed. Models trained on it see
  12.5 times fewer images than the canonical recipe, so their accuracy is not comparable with
  models trained on the canonical split.

The two are separate names on purpose: a model's configuration names its dataset, so a stand-in
run can never be mistaken for (or loaded as) a canonical one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from .datasets import FileImageDataset, TensorImageDataset, _make
from .registry import register
from .sources import (
    ARCHIVES,
    TINY_IMAGENET_MD5,
    TINY_IMAGENET_URL,
    DatasetNotFoundError,
    _merge_move,
    _no_archive,
    _try_download,
    _unpack_archive,
)
from .spec import DatasetSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the usual ImageNet per-channel statistics
IMAGENET_STD = (0.229, 0.224, 0.225)
VALSPLIT_TRAIN_PER_CLASS = 40  # tiny-imagenet-valsplit: val images per class in "train" ...
VALSPLIT_TEST_PER_CLASS = 10  # ... and in "test" (the remaining ones)
VALSPLIT_NOTE = (
    "offline stand-in split of the Tiny ImageNet val images: per class the first 40 "
    "are train (8,000), the last 10 are test (2,000); the canonical 100,000-image "
    "train split is not used"
)


def _tiny_files(base: Path, split: str, wnids: list[str]):
    idx = {w: i for i, w in enumerate(wnids)}
    files, labels = [], []
    if split == "train":
        for w in wnids:
            d = base / "train" / w / "images"
            names = sorted(os.listdir(d)) if d.is_dir() else []
            files += [d / n for n in names]
            labels += [idx[w]] * len(names)
    else:
        for line in (base / "val" / "val_annotations.txt").read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                files.append(base / "val" / "images" / parts[0])
                labels.append(idx[parts[1]])
    return files, torch.tensor(labels, dtype=torch.int64)


def load_tiny_imagenet(split, root, download, image_size=None, transform=None, cache=None, resize="slip"):
    name, base, size = "tiny-imagenet", root / "tiny-imagenet-200", image_size or 64
    tried: list[str] = []

    def present():
        marker = (base / "train") if split == "train" else (base / "val" / "val_annotations.txt")
        if (base / "wnids.txt").is_file() and marker.exists():
            return True
        tried.append(f"{base}/ official layout with {marker.relative_to(base)} (absent)")
        return False

    def fetch():
        tmp = Path(tempfile.mkdtemp(prefix=".download-tiny-imagenet-", dir=root))
        try:
            from torchvision.datasets.utils import download_and_extract_archive

            download_and_extract_archive(TINY_IMAGENET_URL, str(tmp), md5=TINY_IMAGENET_MD5)
            _merge_move(tmp / "tiny-imagenet-200", base)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    found = present()
    if not found:
        root.mkdir(parents=True, exist_ok=True)
        found = _try_download(fetch, TINY_IMAGENET_URL, download, tried, name) and present()
    if not found and split == "val":
        found = _unpack_archive(name, root, tried) is not None and present()
    elif not found:
        _no_archive(name, tried, f" {split} split: {ARCHIVES[name][0]} has the val split only")
    if not found:
        note = " (the offline archive has the val split only)" if split == "train" else ""
        raise DatasetNotFoundError(
            name,
            split,
            tried,
            f"set DALIB_DATA (or pass root=) to a directory containing tiny-imagenet-200/ in the "
            f"official layout (unzipped {TINY_IMAGENET_URL}){note}, or run once with internet "
            f"so it is downloaded.",
        )
    wnids = sorted((base / "wnids.txt").read_text().split())
    words = {}
    if (base / "words.txt").is_file():
        for line in (base / "words.txt").read_text().splitlines():
            w, _, text = line.partition("\t")
            words[w] = text
    files, labels = _tiny_files(base, split, wnids)
    return _make(
        name,
        split,
        root,
        files,
        labels,
        size,
        cache,
        native=(size == 64),
        resize=resize,
        classes=wnids,
        source=base / split,
        transform=transform,
        extra={"class_names": [words.get(w, w) for w in wnids]},
    )


def load_tiny_imagenet_valsplit(split, root, download, image_size=None, transform=None, cache=None, resize="slip"):
    """The ``train`` (40 per class) or ``test`` (10 per class) part of the Tiny ImageNet val split."""
    val = load_tiny_imagenet("val", root, download, image_size=image_size, cache=cache, resize=resize)
    keep: list[int] = []
    for c in range(len(val.classes)):
        idx = torch.nonzero(val.labels == c).flatten().tolist()  # val_annotations.txt order
        if len(idx) != VALSPLIT_TRAIN_PER_CLASS + VALSPLIT_TEST_PER_CLASS:
            raise DatasetNotFoundError(
                "tiny-imagenet-valsplit",
                split,
                [f"{val.source} (class {val.classes[c]} has {len(idx)} val images, expected 50)"],
                "restore the official tiny-imagenet-200/val layout (50 images per class)",
            )
        keep += idx[:VALSPLIT_TRAIN_PER_CLASS] if split == "train" else idx[VALSPLIT_TRAIN_PER_CLASS:]
    keep_t = torch.tensor(sorted(keep), dtype=torch.long)
    kw = dict(
        name="tiny-imagenet-valsplit",
        split=split,
        labels=val.labels[keep_t],
        classes=val.classes,
        source=f"{val.source} ({split} part)",
        fidelity=VALSPLIT_NOTE,
        transform=transform,
        extra={"class_names": val.class_names},
    )
    if isinstance(val, TensorImageDataset):
        return TensorImageDataset(val.images.index_select(0, keep_t), **kw)
    return FileImageDataset([val.files[i] for i in keep_t.tolist()], image_size=val.image_size, **kw)


TINY_IMAGENET = register(
    DatasetSpec(
        name="tiny-imagenet",
        loader=load_tiny_imagenet,
        splits=("train", "val"),
        eval_split="val",
        train_split="train",
        image_size=64,
        num_classes=200,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        sizes={"train": 100000, "val": 10000},
    )
)
TINY_IMAGENET_VALSPLIT = register(
    DatasetSpec(
        name="tiny-imagenet-valsplit",
        loader=load_tiny_imagenet_valsplit,
        splits=("train", "test"),
        eval_split="test",
        train_split="train",
        image_size=64,
        num_classes=200,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        note=VALSPLIT_NOTE,
        sizes={"train": 8000, "test": 2000},
    )
)
