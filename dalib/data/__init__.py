"""Datasets of the paper: CIFAR-10/100 (Krizhevsky, 2009), Tiny ImageNet (Le & Yang, 2015),
MSCOCO 2014 val (Lin et al., 2014; multi-label over 80 categories) and ImageNet-1k val
(Deng et al., 2009).

Every dataset is a ``torch.utils.data.Dataset`` of ``(image, label)`` with ``image`` a float32
tensor ``(C, H, W)`` in [0, 1] (normalisation lives inside the models) and ``label`` an ``int``
(single-label) or a multi-hot float32 tensor ``(K,)`` (``coco2014-val``, K = 80).

One :class:`DatasetSpec` per dataset (``DATASETS[name]``, ``get_spec(name)``) declares its splits,
the split models train on and the one they are evaluated on, the image size, the class count and
names, and the normalisation. Each dataset is one file that registers its spec and loader:

=========================  ================  ==========  ======  =======  =============
name                       splits            train/eval  size    classes  file
=========================  ================  ==========  ======  =======  =============
``cifar10``                train, test       train/test  32      10       ``cifar.py``
``cifar100``               train, test       train/test  32      100      ``cifar.py``
``tiny-imagenet``          train, val        train/val   64      200      ``tiny_imagenet.py``
``tiny-imagenet-valsplit`` train, test       train/test  64      200      ``tiny_imagenet.py``
``coco2014-val``           val               -/val       224     80       ``coco.py``
``imagenet-val``           val               -/val       224     1000     ``imagenet.py``
=========================  ================  ==========  ======  =======  =============

The rest of the package: ``spec.py`` (the spec), ``registry.py`` (``DATASETS``, ``load_dataset``,
``as_tensors``), ``sources.py`` (data root, offline archives and their checksums, downloads),
``cache.py`` (decoding and the decode cache), ``datasets.py`` (dataset classes, ``fixed_subset``),
``cli.py`` (``python -m dalib.data``).

API
---
``load_dataset(name, split, root=None, download=None, image_size=None, transform=None, cache=None)``
    ``name`` a key of ``DATASETS``; ``split`` one of its spec's ``splits``. Unknown name or split
    -> ``ValueError`` listing the valid ones. A dataset that cannot be found anywhere ->
    ``DatasetNotFoundError`` (a ``FileNotFoundError``) naming the dataset, every place tried and
    how to provide it.
``as_tensors(dataset_or_name, split=None, n=None, seed=0, dtype=torch.float32, **load_kwargs)``
    ``-> (x, y)``: the whole dataset (or its fixed ``n``-image subset, see ``fixed_subset``) as
    one tensor ``x`` ``(N, C, H, W)`` (float32 in [0, 1], or the raw uint8 with
    ``dtype=torch.uint8``) and labels ``y`` (int64 ``(N,)`` or float32 multi-hot ``(N, K)``),
    e.g. ``x, y = as_tensors("cifar10", "test", n=1000)`` gives the same 1000 test images every time.
``fixed_subset(dataset, n, seed=0)``
    A ``torch.utils.data.Subset`` with the same ``n`` images every time: class-balanced
    (round-robin over classes, each class shuffled by ``seed``) for single-label data, a seeded
    permutation for multi-label data. ``fixed_subset(ds, m)`` is a prefix of ``fixed_subset(ds, n)``
    for ``m <= n``.

``python -m dalib.data [NAME ...] [--root DIR] [--offline]``
    Finds (unpacks, decodes, caches) every split and prints its source, or why it is missing.

Image sizes: CIFAR 32, Tiny ImageNet 64 (native); COCO and ImageNet 224, by SLIP's evaluation
transform (torchvision ``Resize(224)``, bilinear, then ``CenterCrop(224)``; ``resize="squash"``: the
DiffCLIP demo's resize to 224 x 224); ``image_size=`` overrides. Datasets carry ``name``, ``split``, ``classes``, ``labels`` (tensor),
``targets`` (list, single-label only), ``multilabel``, ``source`` (where the images came from)
and ``fidelity`` (a note when the source is a lossy stand-in or a re-split).

Sources, in order (first found wins)
------------------------------------
Data root: ``root`` argument, else ``$DALIB_DATA``, else ``<repo>/data``.

1. The canonical layout already in the data root: ``cifar-10-batches-py/`` /
   ``cifar-100-python/`` (torchvision), ``tiny-imagenet-200/`` (official layout),
   ``coco2014/{val2014/, annotations/instances_val2014.json}``, ImageNet val as class folders
   ``imagenet/val/<wnid>/*.JPEG`` (ILSVRC2012 layout) or torchvision's ``ImageNet`` layout.
2. An ImageFolder copy ``<root>/cifar10/{train,test}/<class>/*.jpg`` (``cifar100`` alike) or
   an already unpacked offline stand-in (``tiny-imagenet-200/val``, ``coco2014_val_samples/``).
3. Download of the canonical files (CIFAR via torchvision, Tiny ImageNet from cs231n) when
   ``download`` is true (default; ``$DALIB_OFFLINE=1`` disables it). Offline, the host is probed
   with a 3 s timeout and the attempt fails fast and cleanly.
4. The offline archives (``cifar10-jpeg.tar.gz``, ``tiny-imagenet-200-val.tar.gz``,
   ``coco2014-val-sample.tar.gz``) in ``$DALIB_SHARED_DATA``, ``<repo>/../shared/data`` or
   ``/work/shared/data``: their sha256 (from the README next to them) is checked, then they are
   unpacked once into the data root (into a temp dir, then renamed into place).
"""

from .cache import CACHE_FORMAT, cache_path, clear_memory_cache

# each dataset file registers its spec (import order = DATASETS order)
from .cifar import CIFAR10_CLASSES, load_cifar10, load_cifar100  # noqa: E402
from .cli import main  # noqa: E402
from .coco import load_coco2014_val  # noqa: E402
from .datasets import FileImageDataset, ImageDataset, TensorImageDataset, fixed_subset
from .imagenet import load_imagenet_val  # noqa: E402
from .registry import DATASETS, SPLITS, as_tensors, get_spec, load_dataset, register
from .sources import (
    ARCHIVES,
    KNOWN_SHA256,
    ArchiveChecksumError,
    DatasetNotFoundError,
    data_root,
    shared_data_dirs,
)
from .spec import DatasetSpec
from .tiny_imagenet import load_tiny_imagenet, load_tiny_imagenet_valsplit  # noqa: E402


def _register_dataset_files() -> None:
    """Import every other module of this package, so that a new dataset is its one file (which
    registers its spec at import): no import line here is needed for it."""
    import importlib
    import pkgutil

    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_"):  # not __main__ (the command line)
            importlib.import_module(f"{__name__}.{m.name}")


_register_dataset_files()

__all__ = [
    "DatasetSpec",
    "DATASETS",
    "SPLITS",
    "get_spec",
    "register",
    "load_dataset",
    "as_tensors",
    "fixed_subset",
    "ImageDataset",
    "TensorImageDataset",
    "FileImageDataset",
    "DatasetNotFoundError",
    "ArchiveChecksumError",
    "data_root",
    "shared_data_dirs",
    "clear_memory_cache",
    "cache_path",
    "CACHE_FORMAT",
    "ARCHIVES",
    "KNOWN_SHA256",
    "CIFAR10_CLASSES",
    "load_cifar10",
    "load_cifar100",
    "load_tiny_imagenet",
    "load_tiny_imagenet_valsplit",
    "load_coco2014_val",
    "load_imagenet_val",
    "main",
]
