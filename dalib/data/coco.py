"""MSCOCO 2014 val (Lin et al., 2014) as a multi-label dataset over its 80 categories (labels
multi-hot, ordered by category id; images with no annotation dropped, the usual protocol), at
224 px (SLIP's evaluation transform, ``dalib.data.cache.RESIZES``; normalisation happens inside
the model). Evaluation only.

Sources: ``coco2014/{val2014/, annotations/instances_val2014.json}`` in the data root, else the
offline 164-image sample ``coco2014-val-sample.tar.gz``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .datasets import _make
from .registry import get_spec, register
from .sources import DatasetNotFoundError, _unpack_archive
from .spec import DatasetSpec

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # CLIP's preprocessing (Radford et al., 2021)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _multi_hot(cat_ids: list, per_row: list) -> torch.Tensor:
    """float32 ``(len(per_row), len(cat_ids))``: row r has 1 in the column of each category id of
    ``per_row[r]`` (columns in the order of ``cat_ids``)."""
    col = {cid: j for j, cid in enumerate(cat_ids)}
    labels = torch.zeros((len(per_row), len(cat_ids)), dtype=torch.float32)
    for r, ids in enumerate(per_row):
        labels[r, sorted(col[c] for c in ids)] = 1.0
    return labels


def _coco_labels_from_instances(ann_file: Path, image_dir: Path):
    """instances_val2014.json -> (files, multi-hot labels, category ids, names); images with no
    annotation are dropped (the usual multi-label protocol)."""
    data = json.loads(ann_file.read_text())
    cats = sorted((c["id"], c["name"]) for c in data["categories"])
    per_image: dict[int, set] = {}
    for a in data["annotations"]:
        per_image.setdefault(a["image_id"], set()).add(a["category_id"])
    images = sorted((im["file_name"], im["id"]) for im in data["images"] if im["id"] in per_image)
    files = [image_dir / fn for fn, _ in images]
    labels = _multi_hot([c for c, _ in cats], [per_image[iid] for _, iid in images])
    return files, labels, [c for c, _ in cats], [n for _, n in cats]


def load_coco2014_val(split, root, download, image_size=None, transform=None, cache=None, resize="slip"):
    name, size = "coco2014-val", image_size or 224
    tried: list[str] = []
    for base in (root / "coco2014", root / "coco", root):
        for ann in (base / "annotations" / "instances_val2014.json", base / "instances_val2014.json"):
            if (base / "val2014").is_dir() and ann.is_file():
                files, labels, cat_ids, names = _coco_labels_from_instances(ann, base / "val2014")
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
                    source=base / "val2014",
                    transform=transform,
                    extra={"category_ids": cat_ids},
                )
        tried.append(f"{base}/val2014/ + {base}/annotations/instances_val2014.json (absent)")
    sample = root / "coco2014_val_samples"
    if not (sample / "multilabel.json").is_file():
        _unpack_archive(name, root, tried)
    if (sample / "multilabel.json").is_file():
        meta = json.loads((sample / "multilabel.json").read_text())
        cats = sorted((int(c), n) for c, n in meta["categories"])
        fnames = sorted(meta["labels"])
        labels = _multi_hot([c for c, _ in cats], [meta["labels"][fn] for fn in fnames])
        return _make(
            name,
            split,
            root,
            [sample / "images" / f for f in fnames],
            labels,
            size,
            cache,
            resize=resize,
            classes=[n for _, n in cats],
            source=sample / "images",
            fidelity=get_spec("coco2014-val").stand_in,
            transform=transform,
            extra={"category_ids": [c for c, _ in cats]},
        )
    tried.append(f"{sample}/multilabel.json (absent)")
    raise DatasetNotFoundError(
        name,
        split,
        tried,
        "set DALIB_DATA (or pass root=) to a directory containing coco2014/val2014/*.jpg and "
        "coco2014/annotations/instances_val2014.json (from http://images.cocodataset.org/zips/"
        "val2014.zip and annotations/annotations_trainval2014.zip), or point DALIB_SHARED_DATA "
        "to the directory holding coco2014-val-sample.tar.gz.",
    )


COCO2014_VAL = register(
    DatasetSpec(
        name="coco2014-val",
        loader=load_coco2014_val,
        splits=("val",),
        eval_split="val",
        train_split=None,
        image_size=224,
        num_classes=80,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        multilabel=True,
        sizes={"val": 40137},
        stand_in="offline stand-in: 164-image sample of MSCOCO val2014 (original JPEGs and annotations), "
        "not the full 40k-image split",
    )
)
