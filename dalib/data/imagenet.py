"""ImageNet-1k val (Deng et al., 2009): 50,000 images in 1,000 classes, at 224 px (SLIP's
evaluation transform, ``dalib.data.cache.RESIZES``). Evaluation only; it cannot be downloaded automatically.

Sources: class folders ``imagenet/val/<wnid>/*.JPEG`` (ILSVRC2012 layout) or torchvision's
``ImageNet`` archives in ``imagenet/``.
"""

from __future__ import annotations

import re

import torch

from .datasets import _image_folder, _make
from .registry import register
from .sources import DatasetNotFoundError, _no_archive
from .spec import DatasetSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the usual ImageNet per-channel statistics
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_imagenet_val(split, root, download, image_size=None, transform=None, cache=None, resize="slip"):
    name, size = "imagenet-val", image_size or 224
    tried: list[str] = []
    tv_root = root / "imagenet"
    if (
        (tv_root / "ILSVRC2012_img_val.tar").is_file()
        and (tv_root / "ILSVRC2012_devkit_t12.tar.gz").is_file()
        and not (tv_root / "val").is_dir()
    ):
        try:  # torchvision's ImageNet layout: parses the archives into imagenet/val/<wnid>/
            import torchvision

            torchvision.datasets.ImageNet(str(tv_root), split="val")
        except Exception as e:  # noqa: BLE001
            tried.append(f"{tv_root} (torchvision ImageNet archives unusable: {e})")
    for d in (tv_root / "val", root / "ILSVRC2012" / "val", root / "ILSVRC2012_img_val", root / "imagenet-val"):
        if not d.is_dir():
            tried.append(f"{d}/<wnid>/*.JPEG (absent)")
            continue
        files, labels, wnids = _image_folder(d)
        if len(wnids) != 1000 or not all(re.fullmatch(r"n\d{8}", w) for w in wnids):
            tried.append(f"{d} (expected 1000 wnid class folders, found {len(wnids)})")
            continue
        names = wnids
        meta = d.parent / "meta.bin"  # written by torchvision.datasets.ImageNet
        if meta.is_file():
            try:
                wnid_to_classes = torch.load(meta, weights_only=True)[0]
                names = [wnid_to_classes[w][0] for w in wnids]
            except Exception:  # noqa: BLE001 - names are a nicety
                names = wnids
        return _make(
            name,
            split,
            root,
            files,
            labels,
            size,
            cache,
            resize=resize,
            classes=names,
            source=d,
            transform=transform,
            extra={"wnids": wnids},
        )
    _no_archive(name, tried)
    raise DatasetNotFoundError(
        name,
        split,
        tried,
        "ImageNet cannot be downloaded automatically (registration at image-net.org). Put the "
        "ILSVRC2012 validation images as class folders under <DALIB_DATA>/imagenet/val/<wnid>/, "
        "or ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz into <DALIB_DATA>/imagenet/ "
        "(torchvision.datasets.ImageNet layout).",
    )


IMAGENET_VAL = register(
    DatasetSpec(
        name="imagenet-val",
        loader=load_imagenet_val,
        splits=("val",),
        eval_split="val",
        train_split=None,
        image_size=224,
        num_classes=1000,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        sizes={"val": 50000},
    )
)
