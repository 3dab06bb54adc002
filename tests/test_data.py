"""Tests of dalib.data: offline archives, error messages, decode cache, whole-tensor helpers.

The network is disabled for every test (sockets refuse at once). Tests of the offline archives use
a session-scoped temp data root into which the unpacked stand-ins of the default data root
(``$DALIB_DATA`` or ``<repo>/data``) and its decode cache are linked. A stand-in not yet unpacked
there is unpacked there first (checksum-checked, exactly what the first ``load_dataset`` call
does): unpacking 60k small files is the slow part, so it is done once per checkout, not per run.
The temp root keeps other content of the default root (e.g. a real ``cifar-10-batches-py/``,
which would take precedence) out of the tests.
"""

import hashlib
import json
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dalib.data as data
from dalib.data import (
    CIFAR10_CLASSES,
    ArchiveChecksumError,
    DatasetNotFoundError,
    TensorImageDataset,
    as_tensors,
    fixed_subset,
    load_dataset,
)

UNPACKED = {  # dataset -> (top-level directory, file proving it is completely unpacked)
    "cifar10": ("cifar10", "cifar10/test/truck"),
    "tiny-imagenet": ("tiny-imagenet-200", "tiny-imagenet-200/val/val_annotations.txt"),
    "coco2014-val": ("coco2014_val_samples", "coco2014_val_samples/multilabel.json"),
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="session")
def archive_root(tmp_path_factory):
    """Data root holding the offline stand-ins (unpacked by dalib, or linked if already there)."""
    root = tmp_path_factory.mktemp("dalib-data")
    default = data.data_root()
    for name, (top, proof) in UNPACKED.items():
        if not (default / proof).exists():
            data.sources._unpack_archive(name, default, [])  # no-op if the archive is absent
        if (default / proof).exists():
            (root / top).symlink_to(default / top, target_is_directory=True)
    if any((root / top).is_symlink() for top, _ in UNPACKED.values()):
        # decode caches are keyed by root-relative paths, sizes and mtimes: valid here too
        (default / ".cache").mkdir(exist_ok=True)
        (root / ".cache").symlink_to(default / ".cache", target_is_directory=True)
    return root


def _load_or_skip(*args, **kwargs):
    try:
        return load_dataset(*args, **kwargs)
    except DatasetNotFoundError as e:
        if any("offline archive" in t and "unpacked" in t for t in e.tried):
            raise
        pytest.skip(f"offline archives not available here: {e}")


def _write_jpeg(path: Path, rng, size=(32, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, quality=90)


def _tiny_cifar10_folder(root: Path, per_class=2, seed=0):
    """A miniature cifar10/test ImageFolder (10 classes x per_class random JPEGs)."""
    rng = np.random.default_rng(seed)
    for cls in CIFAR10_CLASSES:
        for k in range(per_class):
            _write_jpeg(root / "cifar10" / "test" / cls / f"{k:04d}.jpg", rng)
    return root


# --------------------------------------------------------------------------- offline archives


def test_cifar10_test_from_archive_offline(archive_root, monkeypatch):
    monkeypatch.setenv("DALIB_DATA", str(archive_root))
    ds = _load_or_skip("cifar10", "test")
    assert len(ds) == 10_000
    x0, y0 = ds[0]
    assert x0.dtype == torch.float32 and x0.shape == (3, 32, 32) and isinstance(y0, int)
    x, y = as_tensors(ds)
    assert x.shape == (10_000, 3, 32, 32) and x.dtype == torch.float32
    assert 0.0 <= x.min().item() and x.max().item() <= 1.0 and x.std() > 0.1
    assert torch.bincount(y, minlength=10).tolist() == [1000] * 10
    assert tuple(ds.classes) == CIFAR10_CLASSES
    assert "lossy" in ds.fidelity
    # pixels are the JPEG's pixels: compare one image against a plain PIL decode
    f = Path(ds.source) / "truck" / "0000.jpg"
    i = ds.labels.tolist().index(9)
    ref = np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1)
    assert torch.equal(ds.images[i], torch.from_numpy(ref.copy()))


def test_tiny_imagenet_val_from_archive(archive_root):
    ds = _load_or_skip("tiny-imagenet", "val", root=archive_root)
    assert len(ds) == 10_000 and len(ds.classes) == 200
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    assert torch.bincount(ds.labels, minlength=200).tolist() == [50] * 200
    first = (archive_root / "tiny-imagenet-200/val/val_annotations.txt").read_text().split()
    assert ds.classes[y] == first[1]  # val_0.JPEG's wnid
    assert len(ds.class_names) == 200


def test_tiny_imagenet_train_missing_is_clear(archive_root):
    with pytest.raises(DatasetNotFoundError, match="val split only"):
        load_dataset("tiny-imagenet", "train", root=archive_root)


def test_coco_multilabel_from_archive(archive_root):
    ds = _load_or_skip("coco2014-val", "val", root=archive_root)
    assert len(ds) == 164 and ds.multilabel
    assert len(ds.classes) == 80 and ds.classes[0] == "person" and len(ds.category_ids) == 80
    x, y = ds[0]
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert y.shape == (80,) and y.dtype == torch.float32 and set(y.unique().tolist()) <= {0.0, 1.0}
    assert (ds.labels.sum(0) >= 1).all()  # every category present in the sample
    meta = json.loads((archive_root / "coco2014_val_samples/multilabel.json").read_text())
    fname = sorted(meta["labels"])[0]
    want = sorted(ds.classes[ds.category_ids.index(c)] for c in set(meta["labels"][fname]))
    assert sorted(ds.classes[j] for j in torch.nonzero(y).flatten().tolist()) == want
    xs, ys = as_tensors(ds, n=8)
    assert xs.shape == (8, 3, 224, 224) and ys.shape == (8, 80)


def _fake_archive(shared: Path, name: str, build) -> Path:
    """Write a .tar.gz made by ``build(tmpdir)`` plus a README listing its sha256."""
    src = shared / "src"
    build(src)
    archive = shared / data.ARCHIVES[name][0]
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src / data.ARCHIVES[name][1], arcname=data.ARCHIVES[name][1])
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (shared / "README.md").write_text(f"sha256:\n```\n{digest}  {archive.name}\n```\n")
    return archive


def test_archive_unpacked_once_and_checksum_checked(tmp_path, monkeypatch):
    shared, root = tmp_path / "shared", tmp_path / "root"
    _fake_archive(shared, "cifar10", _tiny_cifar10_folder)
    monkeypatch.setenv("DALIB_SHARED_DATA", str(shared))
    ds = load_dataset("cifar10", "test", root=root)
    assert len(ds) == 20 and (root / "cifar10/test/truck/0001.jpg").is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".unpack")]  # temp dir removed

    def no_tar(*a, **k):
        raise AssertionError("archive extracted twice")

    monkeypatch.setattr(tarfile, "open", no_tar)
    data.clear_memory_cache()
    assert len(load_dataset("cifar10", "test", root=root)) == 20


def test_corrupt_archive_raises_before_extracting(tmp_path, monkeypatch):
    shared, root = tmp_path / "shared", tmp_path / "root"
    archive = _fake_archive(shared, "cifar10", _tiny_cifar10_folder)
    archive.write_bytes(archive.read_bytes()[:-100] + b"\0" * 100)  # damaged copy
    monkeypatch.setenv("DALIB_SHARED_DATA", str(shared))
    with pytest.raises(ArchiveChecksumError, match="sha256") as err:
        load_dataset("cifar10", "test", root=root)
    assert archive.name in str(err.value) and "DALIB_SHARED_DATA" in str(err.value)
    assert not (root / "cifar10").exists()


# --------------------------------------------------------------------------- not found / bad input


def test_cifar100_not_found_names_dataset_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("DALIB_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar100", "test")
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "cifar100" in msg and "cifar-100-python" in msg and "DALIB_DATA" in msg
    assert "internet" in msg and "network unreachable" in msg
    assert str(tmp_path) in msg
    assert list(tmp_path.iterdir()) == []  # nothing (no stand-in data) was written


def test_failed_download_is_caught_and_reported(tmp_path, monkeypatch):
    # the host probe says "reachable" but the actual download then fails inside torchvision
    monkeypatch.setattr(data.sources, "_host_reachable", lambda url, timeout=3.0: (True, ""))
    with pytest.raises(DatasetNotFoundError, match="failed") as err:
        load_dataset("cifar100", "train", root=tmp_path)
    assert "cifar100" in str(err.value)


def test_download_disabled(tmp_path, monkeypatch):
    monkeypatch.setenv("DALIB_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="download disabled"):
        load_dataset("cifar100", "test", root=tmp_path)


def test_imagenet_and_coco_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("DALIB_SHARED_DATA", str(tmp_path / "no-archives"))
    monkeypatch.setattr(data.sources, "shared_data_dirs", lambda: [tmp_path / "no-archives"])
    with pytest.raises(DatasetNotFoundError, match="imagenet/val"):
        load_dataset("imagenet-val", "val", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="instances_val2014.json"):
        load_dataset("coco2014-val", "val", root=tmp_path)


@pytest.mark.parametrize(
    "name, split, match",
    [
        ("cifar1000", "test", "valid names"),
        ("cifar10", "val", "valid splits"),
        ("coco2014-val", "train", "valid splits"),
    ],
)
def test_unknown_name_or_split(name, split, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(name, split)


def test_bad_image_size():
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("cifar10", "test", image_size=0)


# --------------------------------------------------------------------------- canonical layouts


def test_cifar100_torchvision_layout_is_used_first(tmp_path, monkeypatch):
    import pickle

    import torchvision.datasets.cifar as tv_cifar

    # a miniature cifar-100-python/ in torchvision's format; md5 checks patched out
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 3072), dtype=np.uint8)
    with open(base / "test", "wb") as f:
        pickle.dump({"data": pixels, "fine_labels": [0, 1, 2, 99, 5, 5]}, f)
    with open(base / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"class{k}" for k in range(100)]}, f)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tv_cifar.CIFAR100, "_check_integrity", lambda self: True)
    ds = load_dataset("cifar100", "test", root=tmp_path)
    assert len(ds) == 6 and len(ds.classes) == 100 and ds.targets == [0, 1, 2, 99, 5, 5]
    x, y = ds[3]
    assert x.shape == (3, 32, 32) and y == 99
    want = torch.from_numpy(pixels[3].reshape(3, 32, 32).astype(np.float32) / 255)
    assert torch.equal(x, want)


def test_imagenet_class_folder_layout_lazy(tmp_path):
    rng = np.random.default_rng(0)
    wnids = [f"n{k:08d}" for k in range(1000)]
    for w in wnids[:3]:
        _write_jpeg(tmp_path / "imagenet/val" / w / f"ILSVRC2012_val_{w}.JPEG", rng, (40, 30))
    for w in wnids[3:]:
        (tmp_path / "imagenet/val" / w).mkdir(parents=True)
    ds = load_dataset("imagenet-val", "val", root=tmp_path, cache=False)
    assert len(ds) == 3 and len(ds.classes) == 1000 and ds.wnids == wnids
    x, y = ds[2]
    assert x.shape == (3, 224, 224) and y == 2
    assert not (tmp_path / ".cache").exists()


def test_coco_canonical_layout(tmp_path):
    rng = np.random.default_rng(0)
    base = tmp_path / "coco2014"
    for iid in (1, 2, 3):
        _write_jpeg(base / "val2014" / f"COCO_val2014_{iid:012d}.jpg", rng, (48, 40))
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 90, "name": "toothbrush"}]
    ann = {
        "images": [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in (1, 2, 3)],
        "annotations": [
            {"image_id": 1, "category_id": 90},
            {"image_id": 1, "category_id": 1},
            {"image_id": 2, "category_id": 3},
        ],
        "categories": cats,
    }
    (base / "annotations").mkdir()
    (base / "annotations/instances_val2014.json").write_text(json.dumps(ann))
    ds = load_dataset("coco2014-val", "val", root=tmp_path, image_size=32)
    assert len(ds) == 2  # image 3 has no annotation
    assert ds.classes == ["person", "car", "toothbrush"]
    assert ds.labels.tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert ds[0][0].shape == (3, 32, 32)


# --------------------------------------------------------------------------- decode cache


def test_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    root = _tiny_cifar10_folder(tmp_path)
    ds = load_dataset("cifar10", "test", root=root)
    assert ds.cache_file.is_file() and ds.cache_file.parent == root / ".cache"
    images = ds.images.clone()

    decode = data.cache._decode_files

    def no_decode(*a, **k):
        raise AssertionError("decoded again despite the cache")

    data.clear_memory_cache()
    monkeypatch.setattr(data.cache, "_decode_files", no_decode)
    again = load_dataset("cifar10", "test", root=root)
    assert again.cache_file == ds.cache_file and torch.equal(again.images, images)

    # a changed folder gets a new cache entry
    monkeypatch.setattr(data.cache, "_decode_files", decode)
    _write_jpeg(root / "cifar10/test/cat/0099.jpg", np.random.default_rng(1))
    changed = load_dataset("cifar10", "test", root=root)
    assert len(changed) == 21 and changed.cache_file != ds.cache_file

    # an unreadable cache file is rebuilt with a warning, never trusted
    data.clear_memory_cache()
    changed.cache_file.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache"):
        rebuilt = load_dataset("cifar10", "test", root=root)
    assert len(rebuilt) == 21
    assert not [p for p in (root / ".cache").iterdir() if p.suffix == ".tmp"]


# --------------------------------------------------------------------------- subsets and tensors


def _synthetic(n_per_class=(5, 3, 7)):
    labels = torch.cat([torch.full((k,), c) for c, k in enumerate(n_per_class)])
    images = torch.randint(0, 256, (len(labels), 3, 4, 4), dtype=torch.uint8)
    return TensorImageDataset(
        images,
        name="synthetic",
        split="test",
        labels=labels,
        classes=[str(c) for c in range(len(n_per_class))],
        source="memory",
    )


def test_fixed_subset_is_fixed_balanced_and_nested():
    ds = _synthetic()
    a, b = fixed_subset(ds, 9, seed=1), fixed_subset(ds, 9, seed=1)
    assert a.indices == b.indices and len(set(a.indices)) == 9
    assert torch.bincount(ds.labels[a.indices]).tolist() == [3, 3, 3]
    assert fixed_subset(ds, 12, seed=1).indices[:9] == a.indices
    assert fixed_subset(ds, 9, seed=2).indices != a.indices
    assert sorted(fixed_subset(ds, 15).indices) == list(range(15))
    with pytest.raises(ValueError, match="exceeds"):
        fixed_subset(ds, 16)
    with pytest.raises(ValueError, match="positive int"):
        fixed_subset(ds, 0)


def test_as_tensors_matches_items():
    ds = _synthetic()
    x, y = as_tensors(ds, n=6, seed=3)
    xu, yu = as_tensors(ds, n=6, seed=3, dtype=torch.uint8)
    sub = fixed_subset(ds, 6, seed=3)
    assert x.dtype == torch.float32 and xu.dtype == torch.uint8 and torch.equal(y, yu)
    for k in range(6):
        xk, yk = sub[k]
        assert torch.equal(x[k], xk) and y[k].item() == yk
    assert torch.equal(xu.float() / 255, x)
    with pytest.raises(ValueError, match="split"):
        as_tensors("cifar10")


def test_dataloader_batches():
    ds = _synthetic()
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 4, 4) and yb.dtype == torch.int64


# --------------------------------------------------------------------------- slow: full train split


@pytest.mark.slow
def test_cifar10_train_from_archive(archive_root):
    ds = _load_or_skip("cifar10", "train", root=archive_root)
    assert len(ds) == 50_000
    assert torch.bincount(ds.labels, minlength=10).tolist() == [5000] * 10
    x, _ = as_tensors(ds, n=1000)
    assert x.shape == (1000, 3, 32, 32) and 0.0 <= x.min() and x.max() <= 1.0


def test_command_line_reports_missing(tmp_path, capsys):
    assert data.main(["cifar100", "--root", str(tmp_path), "--offline"]) == 1
    out = capsys.readouterr().out
    assert "cifar100/train: MISSING" in out and "cifar100/test: MISSING" in out


def test_every_registered_dataset_has_a_consistent_spec():
    from dalib.data import DATASETS, DatasetSpec, get_spec

    assert {"cifar10", "cifar100", "tiny-imagenet", "tiny-imagenet-valsplit", "coco2014-val", "imagenet-val"} <= set(
        DATASETS
    )
    for name, spec in DATASETS.items():
        assert isinstance(spec, DatasetSpec) and spec.name == name and callable(spec.loader)
        assert spec.eval_split in spec.splits and spec.train_split in (None, *spec.splits)
        assert spec.num_classes >= 2 and spec.image_size >= 1 and len(spec.mean) == len(spec.std) == 3
        assert all(s in spec.splits for s in spec.sizes)
        if spec.classes is not None:
            assert len(spec.classes) == spec.num_classes
        assert data.SPLITS[name] == spec.splits and name in data.SPLITS
    assert get_spec("cifar10").classes == CIFAR10_CLASSES
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'; valid names: \[.*'cifar10'"):
        get_spec("svhn")
    with pytest.raises(ValueError, match=r"must be among its splits"):
        DatasetSpec(
            name="x",
            loader=print,
            splits=("val",),
            eval_split="test",
            train_split=None,
            image_size=8,
            num_classes=2,
            mean=(0, 0, 0),
            std=(1, 1, 1),
        )
    with pytest.raises(ValueError, match=r"registered twice"):
        data.register(
            DatasetSpec(
                name="cifar10",
                loader=print,
                splits=("test",),
                eval_split="test",
                train_split=None,
                image_size=8,
                num_classes=2,
                mean=(0, 0, 0),
                std=(1, 1, 1),
            )
        )


def test_tiny_imagenet_valsplit_is_a_fixed_disjoint_40_10_split(archive_root):
    val = _load_or_skip("tiny-imagenet", "val", root=archive_root)
    train = load_dataset("tiny-imagenet-valsplit", "train", root=archive_root)
    test = load_dataset("tiny-imagenet-valsplit", "test", root=archive_root)
    assert (len(train), len(test)) == (8000, 2000) == tuple(data.get_spec(train.name).sizes.values())
    assert torch.bincount(train.labels, minlength=200).eq(40).all()
    assert torch.bincount(test.labels, minlength=200).eq(10).all()
    assert train.classes == test.classes == val.classes and "stand-in" in train.fidelity
    # the two parts partition the val images: every val image is in exactly one of them
    key = lambda im: hash(im.numpy().tobytes())  # noqa: E731
    seen = {key(im) for im in train.images} | {key(im) for im in test.images}
    assert not {key(im) for im in train.images} & {key(im) for im in test.images}
    assert seen == {key(im) for im in val.images}
    # per class, the test part is the last 10 val images in annotation order
    c0 = torch.nonzero(val.labels == 0).flatten()
    assert torch.equal(test.images[test.labels == 0], val.images[c0[40:]])
    again = load_dataset("tiny-imagenet-valsplit", "test", root=archive_root)
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)
