"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): 32x32 natural images in 10 and 100 classes, 50,000
train and 10,000 test images each.

Sources, in order: torchvision's layout in the data root (``cifar-10-batches-py/``,
``cifar-100-python/``), an ImageFolder copy ``<root>/cifar10/{train,test}/<class>/*``, a download
by torchvision, and the offline JPEG re-encode ``cifar10-jpeg.tar.gz`` (CIFAR-10 only; lossy, see
the spec's ``stand_in``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .cache import _decode_one_pil
from .datasets import TensorImageDataset, _image_folder, _make
from .registry import get_spec, register
from .sources import ARCHIVES, DatasetNotFoundError, _no_archive, _try_download, _unpack_archive
from .spec import DatasetSpec

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # per-channel mean of the CIFAR-10 train images
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)  # per-channel mean of the CIFAR-100 train images
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

CIFAR_TORCHVISION = {  # name -> (torchvision class, its folder, its download URL)
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": ("CIFAR100", "cifar-100-python", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}


def _cifar(name: str, split: str, root: Path, download, image_size, transform, cache, resize="slip"):
    cls_name, folder, url = CIFAR_TORCHVISION[name]
    size = image_size or 32
    tried: list[str] = []

    def tv_class():  # imported only when needed: importing torchvision takes seconds
        import torchvision

        return getattr(torchvision.datasets, cls_name)

    def from_torchvision():
        ds = tv_class()(str(root), train=(split == "train"), download=False)
        if size != 32:
            from PIL import Image

            images = torch.stack([_decode_one_pil(Image.fromarray(a), size, resize) for a in ds.data])
        else:
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
        return TensorImageDataset(
            images,
            name=name,
            split=split,
            labels=torch.tensor(ds.targets, dtype=torch.int64),
            classes=ds.classes,
            source=root / folder,
            transform=transform,
        )

    def canonical():
        if (root / folder).is_dir():
            try:
                return from_torchvision()
            except (RuntimeError, OSError, ValueError) as e:
                tried.append(f"{root / folder} (unusable: {e})")
        else:
            tried.append(f"{root / folder} (torchvision layout; absent)")
        return None

    def image_folder():
        split_dir = root / name / split
        if not split_dir.is_dir():
            tried.append(f"{split_dir} (ImageFolder layout; absent)")
            return None
        files, labels, classes = _image_folder(split_dir)
        if name == "cifar10" and tuple(classes) != CIFAR10_CLASSES:
            raise ValueError(
                f"{split_dir} has class folders {classes}; expected the 10 CIFAR-10 "
                f"classes {list(CIFAR10_CLASSES)}. Fix or remove that directory."
            )
        fidelity = get_spec(name).stand_in
        return _make(
            name,
            split,
            root,
            files,
            labels,
            size,
            cache,
            native=(size == 32),
            resize=resize,
            classes=classes,
            source=split_dir,
            fidelity=fidelity,
            transform=transform,
        )

    ds = canonical()
    if ds is None:
        ds = image_folder()
    if ds is not None:
        return ds
    if _try_download(lambda: tv_class()(str(root), train=True, download=True), url, download, tried, name):
        ds = canonical()
        if ds is not None:
            return ds
    if name in ARCHIVES:
        if _unpack_archive(name, root, tried) is not None:
            ds = image_folder()
            if ds is not None:
                return ds
    else:
        _no_archive(name, tried)
    raise DatasetNotFoundError(
        name,
        split,
        tried,
        f"set DALIB_DATA (or pass root=) to a directory containing {folder}/ (the python version "
        f"from {url}, as torchvision.datasets.{cls_name} stores it) or {name}/{{train,test}}/"
        f"<class>/*.png, or run once with internet so torchvision can download it.",
    )


def load_cifar10(split, root, download, image_size=None, transform=None, cache=None, resize="slip"):
    return _cifar("cifar10", split, root, download, image_size, transform, cache, resize)


def load_cifar100(split, root, download, image_size=None, transform=None, cache=None, resize="slip"):
    return _cifar("cifar100", split, root, download, image_size, transform, cache, resize)


CIFAR10 = register(
    DatasetSpec(
        name="cifar10",
        loader=load_cifar10,
        splits=("train", "test"),
        eval_split="test",
        train_split="train",
        image_size=32,
        num_classes=10,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        classes=CIFAR10_CLASSES,
        sizes={"train": 50000, "test": 10000},
        stand_in="offline stand-in: lossy JPEG re-encode of CIFAR-10 (about quality 75, 4:2:0; "
        "mean abs. difference 5.7/255 per channel vs. the original pixels)",
    )
)
CIFAR100 = register(
    DatasetSpec(
        name="cifar100",
        loader=load_cifar100,
        splits=("train", "test"),
        eval_split="test",
        train_split="train",
        image_size=32,
        num_classes=100,
        mean=CIFAR100_MEAN,
        std=CIFAR100_STD,
        sizes={"train": 50000, "test": 10000},
    )
)
