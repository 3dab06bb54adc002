"""Datasets of the paper: CIFAR-10/100 (Krizhevsky, 2009), Tiny ImageNet (Le & Yang, 2015),
MSCOCO 2014 val (Lin et al., 2014; multi-label over 80 categories) and ImageNet-1k val
(Deng et al., 2009).

Every dataset is a ``torch.utils.data.Dataset`` of ``(image, label)`` with ``image`` a float32
tensor ``(C, H, W)`` in [0, 1] (normalisation lives inside the models) and ``label`` an ``int``
(single-label) or a multi-hot float32 tensor ``(K,)`` (``coco2014-val``, K = 80).

API
---
``load_dataset(name, split, root=None, download=None, image_size=None, transform=None, cache=None)``
    ``name`` a key of ``DATASETS``; ``split`` one of ``SPLITS[name]``. Unknown name or split ->
    ``ValueError`` listing the valid ones. A dataset that cannot be found anywhere ->
    ``DatasetNotFoundError`` (a ``FileNotFoundError``) naming the dataset, every place tried and
    how to provide it.
``as_tensors(dataset_or_name, split=None, n=None, seed=0, dtype=torch.float32, **load_kwargs)``
    ``-> (x, y)``: the whole dataset (or its fixed ``n``-image subset, see ``fixed_subset``) as
    one tensor ``x`` ``(N, C, H, W)`` (float32 in [0, 1], or the raw uint8 with
    ``dtype=torch.uint8``) and labels ``y`` (int64 ``(N,)`` or float32 multi-hot ``(N, K)``).
    For cached datasets this is a single indexing op, e.g.
    ``x, y = as_tensors("cifar10", "test", n=1000)`` gives the same 1000 test images every time.
``fixed_subset(dataset, n, seed=0)``
    A ``torch.utils.data.Subset`` with the same ``n`` images every time: class-balanced
    (round-robin over classes, each class shuffled by ``seed``) for single-label data, a seeded
    permutation for multi-label data. ``fixed_subset(ds, m)`` is a prefix of ``fixed_subset(ds, n)``
    for ``m <= n``.

``python -m dalib.data [NAME ...] [--root DIR] [--offline]``
    Finds (unpacks, decodes, caches) every split and prints its source, or why it is missing.

Image sizes: CIFAR 32, Tiny ImageNet 64 (native); COCO and ImageNet 224 (shorter side resized
bicubically to 224, then centre-cropped: CLIP's preprocessing without its normalisation);
``image_size=`` overrides. ``coco2014-val`` from ``instances_val2014.json`` keeps the images with
at least one annotation (the usual multi-label protocol); labels are ordered by category id.

Datasets carry ``name``, ``split``, ``classes`` (class names; category names for COCO),
``labels`` (tensor), ``targets`` (list, single-label only), ``multilabel``, ``source`` (where the
images came from) and ``fidelity`` (a note when the source is a lossy stand-in).

Sources, in order (first found wins)
------------------------------------
Data root: ``root`` argument, else ``$DALIB_DATA``, else ``<repo>/data``.

1. The canonical layout already in the data root: ``cifar-10-batches-py/`` /
   ``cifar-100-python/`` (torchvision), ``tiny-imagenet-200/`` (official layout),
   ``coco2014/{val2014/, annotations/instances_val2014.json}``, ImageNet val as class folders
   ``imagenet/val/<wnid>/*.JPEG`` (ILSVRC2012 layout) or torchvision's ``ImageNet`` layout
   (``imagenet/`` holding ``ILSVRC2012_img_val.tar`` and ``ILSVRC2012_devkit_t12.tar.gz``).
2. An ImageFolder copy ``<root>/cifar10/{train,test}/<class>/*.jpg`` (``cifar100`` alike) or
   an already unpacked offline stand-in (``tiny-imagenet-200/val``, ``coco2014_val_samples/``).
3. Download of the canonical files (CIFAR via torchvision ``download=True``, Tiny ImageNet from
   cs231n) when ``download`` is true (default; ``$DALIB_OFFLINE=1`` disables it). Offline, the
   host is probed with a 3 s timeout and the attempt fails fast and cleanly.
4. The offline archives (``cifar10-jpeg.tar.gz``, ``tiny-imagenet-200-val.tar.gz``,
   ``coco2014-val-sample.tar.gz``) in ``$DALIB_SHARED_DATA``, ``<repo>/../shared/data`` or
   ``/work/shared/data``: their sha256 (from the README next to them) is checked, then they are
   unpacked once into the data root (into a temp dir, then renamed into place).

Decoding cache
--------------
JPEG folders are decoded once to a uint8 tensor file
``<root>/.cache/<name>-<split>-<size>-<hash>.pt`` (written atomically; the hash covers the file
list, sizes and mtimes, so a changed folder is re-decoded) and then served from memory
(memory-mapped). Datasets whose decoded size exceeds ``$DALIB_CACHE_MAX_GB`` (default 3 GB,
e.g. full ImageNet val at 224 px) are decoded lazily per item instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import warnings
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from .atomic import atomic_torch_save

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_FORMAT = 1  # bump when the decoded layout changes

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

# Offline stand-in archives: dataset -> (file name, top-level directory it unpacks to).
ARCHIVES = {
    "cifar10": ("cifar10-jpeg.tar.gz", "cifar10"),
    "tiny-imagenet": ("tiny-imagenet-200-val.tar.gz", "tiny-imagenet-200"),
    "coco2014-val": ("coco2014-val-sample.tar.gz", "coco2014_val_samples"),
}
# Fallback checksums, used only when no README next to the archive lists one.
KNOWN_SHA256 = {
    "cifar10-jpeg.tar.gz": "cc373ad74b577c9277235ce562c677c94d13befebbb8922d754aad16eba42016",
    "tiny-imagenet-200-val.tar.gz": "df14e002a5970a445c0efab55144ef8afdb5379862e91c5072be2f1a2f04faea",
    "coco2014-val-sample.tar.gz": "cf5bfc1ec227a8c454942afd9ecb43310029a6357dda049a2951b4f3a4ab84a8",
}
FIDELITY = {
    "cifar10": "offline stand-in: lossy JPEG re-encode of CIFAR-10 (about quality 75, 4:2:0; "
               "mean abs. difference 5.7/255 per channel vs. the original pixels)",
    "tiny-imagenet": "",
    "coco2014-val": "offline stand-in: 164-image sample of MSCOCO val2014 (original JPEGs and "
                    "annotations), not the full 40k-image split",
}
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
PROBE_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 60.0
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in none of the places dalib looks; the message lists them and the fix."""

    def __init__(self, name: str, split: str, tried: list[str], how: str):
        self.name, self.split, self.tried, self.how = name, split, list(tried), how
        lines = [f"dataset {name!r} (split {split!r}) not found. Tried:"]
        lines += [f"  - {t}" for t in tried]
        lines.append(f"How to provide it: {how}")
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return (type(self), (self.name, self.split, self.tried, self.how))


class ArchiveChecksumError(RuntimeError):
    """An offline archive does not match the sha256 listed for it; nothing was extracted."""


# --------------------------------------------------------------------------- roots and archives


def data_root(root=None) -> Path:
    """The data root: ``root`` if given, else ``$DALIB_DATA``, else ``<repo>/data``."""
    if root is None:
        root = os.environ.get("DALIB_DATA") or (REPO_ROOT / "data")
    return Path(root).expanduser().resolve()


def shared_data_dirs() -> list[Path]:
    """Directories searched for the offline archives, in order (existing or not)."""
    dirs = []
    if os.environ.get("DALIB_SHARED_DATA"):
        dirs.append(Path(os.environ["DALIB_SHARED_DATA"]).expanduser())
    dirs += [REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data")]
    out = []
    for d in dirs:
        d = d.resolve()
        if d not in out:
            out.append(d)
    return out


def _listed_sha256(archive: Path) -> tuple[str | None, str]:
    """``(sha256, where it is listed)``: from a README next to ``archive``, else built in."""
    for readme in sorted(archive.parent.glob("README*")):
        try:
            text = readme.read_text(errors="replace")
        except OSError:
            continue
        for m in re.finditer(r"^\s*([0-9a-fA-F]{64})\s+\*?(\S+)\s*$", text, re.M):
            if m.group(2) == archive.name:
                return m.group(1).lower(), str(readme)
    return KNOWN_SHA256.get(archive.name), "dalib.data.KNOWN_SHA256"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _merge_move(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` (one atomic rename); if ``dst`` exists, move only missing entries."""
    if not dst.exists():
        try:
            os.rename(src, dst)
            return
        except OSError:
            if not dst.exists():
                raise  # a real failure, not a concurrent unpack that won the race
    if src.is_dir() and dst.is_dir():
        for child in src.iterdir():
            _merge_move(child, dst / child.name)


def _extract(archive: Path, dest: Path, top: str) -> None:
    """Extract ``archive`` into ``dest``. Members are checked first (plain files and directories
    under ``top/`` only); the system ``tar`` then extracts (about 4x faster than ``tarfile`` for
    60k small files), with ``tarfile``'s safe ``data`` filter as the fallback."""
    with tarfile.open(archive, "r:*") as tf:
        for m in tf:
            parts = Path(m.name).parts
            if (not (m.isfile() or m.isdir()) or Path(m.name).is_absolute() or ".." in parts
                    or not parts or parts[0] != top):
                raise ArchiveChecksumError(f"offline archive {archive} has an unexpected member "
                                           f"{m.name!r}; refusing to extract it")
    tar = shutil.which("tar")
    if tar:
        proc = subprocess.run([tar, "-xzf", str(archive), "-C", str(dest), "--no-same-owner",
                               "--no-same-permissions"], capture_output=True, text=True)
        if proc.returncode == 0:
            return
        log.info("system tar failed (%s); extracting with tarfile", proc.stderr.strip())
        shutil.rmtree(dest / top, ignore_errors=True)
    with tarfile.open(archive, "r:*") as tf:
        tf.extractall(dest, filter="data")


def _unpack_archive(name: str, root: Path, tried: list[str]) -> Path | None:
    """Find the offline archive of ``name``, check its sha256 and unpack it once into ``root``.
    Returns the unpacked top-level directory, or None (with ``tried`` extended) if absent."""
    fname, top = ARCHIVES[name]
    for d in shared_data_dirs():
        archive = d / fname
        if not archive.is_file():
            tried.append(f"offline archive {archive} (absent)")
            continue
        expected, where = _listed_sha256(archive)
        actual = _sha256(archive)
        if expected is None or actual != expected:
            raise ArchiveChecksumError(
                f"offline archive {archive} has sha256 {actual}, but {expected or 'no checksum'} is "
                f"listed for it (in {where}); it is corrupt or was replaced. Nothing was "
                f"extracted. Fix: restore the original archive, or point DALIB_SHARED_DATA to a "
                f"directory with intact archives, or provide the data under {root}.")
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".unpack-{top}-", dir=root))
        try:
            log.info("unpacking %s into %s", archive, root)
            _extract(archive, tmp, top)
            if not (tmp / top).is_dir():
                raise ArchiveChecksumError(f"offline archive {archive} does not contain {top}/")
            _merge_move(tmp / top, root / top)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        tried.append(f"offline archive {archive} (unpacked into {root / top})")
        return root / top
    return None


def _no_archive(name: str, tried: list[str], note: str = "") -> None:
    dirs = ", ".join(str(d) for d in shared_data_dirs())
    tried.append(f"offline archives in {dirs} (none holds {name}{note})")


# --------------------------------------------------------------------------- network


def _download_enabled(download) -> bool:
    if download is None:
        return os.environ.get("DALIB_OFFLINE", "").lower() not in ("1", "true", "yes")
    return bool(download)


def _host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Probe ``url``'s host with a short TCP connect so an offline download fails in seconds."""
    import urllib.request

    u = urlparse(url)
    proxy = urllib.request.getproxies().get(u.scheme)
    if proxy and not urllib.request.proxy_bypass(u.hostname or ""):
        u = urlparse(proxy if "://" in proxy else f"http://{proxy}")  # probe the proxy instead
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        socket.create_connection((u.hostname, port), timeout=timeout).close()
        return True, ""
    except OSError as e:
        return False, f"{type(e).__name__}: {e}"


def _try_download(fn, url: str, download, tried: list[str], what: str) -> bool:
    """Run ``fn()`` (a download) if enabled and the host answers; record the outcome in ``tried``."""
    if not _download_enabled(download):
        tried.append(f"download of {what} from {url} (skipped: download disabled)")
        return False
    ok, why = _host_reachable(url)
    if not ok:
        tried.append(f"download of {what} from {url} (network unreachable: {why})")
        return False
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        fn()
        return True
    except Exception as e:  # noqa: BLE001 - any failure means: try the next source
        tried.append(f"download of {what} from {url} (failed: {type(e).__name__}: {e})")
        return False
    finally:
        socket.setdefaulttimeout(old)


# --------------------------------------------------------------------------- decoding


def _to_size(img, size: int):
    """PIL image -> RGB, shorter side resized to ``size`` (bicubic), centre-cropped to square."""
    from PIL import Image

    img = img.convert("RGB")
    w, h = img.size
    if (w, h) != (size, size):
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        img = img.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return img


def _decode_one_pil(img, size: int) -> torch.Tensor:
    """PIL image -> uint8 ``(3, size, size)``."""
    arr = np.asarray(_to_size(img, size), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _decode_one(path, size: int) -> torch.Tensor:
    """One image file -> uint8 ``(3, size, size)``."""
    from PIL import Image

    with Image.open(path) as im:
        return _decode_one_pil(im, size)


def _batched_jpeg_decode(files: list):
    """torchvision's batched JPEG decoder (same pixels as PIL, about 2x faster); None if
    unavailable or a file is not a decodable JPEG (the caller then falls back to PIL)."""
    if not all(str(f).lower().endswith((".jpg", ".jpeg")) for f in files):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision 0.29 deprecates torchvision.io decoding
            import torchvision.io as tio

            datas = [torch.frombuffer(bytearray(Path(f).read_bytes()), dtype=torch.uint8)
                     for f in files]
            return tio.decode_jpeg(datas, mode=tio.ImageReadMode.RGB)
    except Exception:  # noqa: BLE001 - any problem: decode with PIL instead
        return None


def _decode_files(files: list, size: int, native: bool = True, chunk: int = 4096) -> torch.Tensor:
    """Decode image files to uint8 ``(N, 3, size, size)``. ``native``: the files are expected to
    be ``size`` x ``size`` already (CIFAR, Tiny ImageNet), so the batched JPEG decoder is tried
    first; other files (resizing, non-JPEG, odd colour modes) go through PIL."""
    out = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    for start in range(0, len(files), chunk):
        part = files[start:start + chunk]
        decoded = _batched_jpeg_decode(part) if native else None
        for i, f in enumerate(part):
            img = decoded[i] if decoded is not None else None
            if img is None or tuple(img.shape) != (3, size, size):
                img = _decode_one(f, size)
            out[start + i] = img
    return out


def _cache_max_bytes() -> float:
    return float(os.environ.get("DALIB_CACHE_MAX_GB", "3")) * 1e9


def _fingerprint(root: Path, name: str, split: str, size: int, files: list[Path]) -> str:
    """Hash of the file list (paths relative to the data root, sizes, mtimes) and the size."""
    h = hashlib.sha256(f"{CACHE_FORMAT}|{name}|{split}|{size}|{len(files)}".encode())
    prefix = os.path.join(str(root), "")
    for f in map(str, files):
        st = os.stat(f)
        rel = f[len(prefix):] if f.startswith(prefix) else os.path.relpath(f, root)
        h.update(f"|{rel}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


_MEMO: dict[str, torch.Tensor] = {}  # in-process: cache path -> decoded uint8 images


def clear_memory_cache() -> None:
    """Forget decoded images held in this process (the on-disk cache stays)."""
    _MEMO.clear()


def cache_path(root: Path, name: str, split: str, size: int, files: list[Path]) -> Path:
    """Where the decoded images of this file list are (or will be) cached."""
    return root / ".cache" / f"{name}-{split}-{size}-{_fingerprint(root, name, split, size, files)}.pt"


def _cached_images(root: Path, name: str, split: str, size: int, files: list[Path],
                   native: bool = True):
    """Decoded uint8 images of ``files``: from memory, the on-disk cache, or decoded once now.
    Returns ``(images, cache_file)``."""
    path = cache_path(root, name, split, size, files)
    key = str(path)
    if key in _MEMO:
        return _MEMO[key], path
    images = None
    if path.is_file():
        try:
            obj = torch.load(path, mmap=True, weights_only=True)
            images = obj["images"]
            if images.dtype != torch.uint8 or tuple(images.shape) != (len(files), 3, size, size):
                raise ValueError(f"unexpected cached shape {tuple(images.shape)}")
        except Exception as e:  # noqa: BLE001 - a bad cache is rebuilt, never trusted
            warnings.warn(f"dalib.data: ignoring unreadable cache {path} ({e}); decoding again")
            images = None
    if images is None:
        log.info("decoding %d images of %s/%s (once; cache %s)", len(files), name, split, path)
        images = _decode_files(files, size, native=native)
        try:
            atomic_torch_save({"images": images, "format": CACHE_FORMAT}, path)
        except OSError as e:
            warnings.warn(f"dalib.data: could not write the decode cache {path} ({e}); "
                          f"images are kept in memory only")
    _MEMO[key] = images
    return images, path


# --------------------------------------------------------------------------- dataset classes


class ImageDataset(Dataset):
    """Images with labels. Subclasses provide ``_uint8(i)`` -> uint8 ``(C, H, W)``."""

    def __init__(self, *, name, split, labels, classes, source, fidelity="", transform=None,
                 image_size=None, extra=None):
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
        return (f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image_shape={shape}, classes={len(self.classes)}, multilabel={self.multilabel}, "
                f"source={self.source!r})")


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

    def __init__(self, files: list, **kw):
        super().__init__(**kw)
        self.files = list(files)

    def _uint8(self, i):
        return _decode_one(self.files[i], self.image_size)


def _make(name, split, root, files, labels, size, cache, native: bool = False, **kw) -> ImageDataset:
    """A dataset over ``files``: decoded once and cached if it fits, else decoded lazily."""
    if not files:
        raise DatasetNotFoundError(name, split, [f"{kw.get('source')} (no image files)"],
                                   "the directory exists but holds no images; re-create it")
    nbytes = len(files) * 3 * size * size
    if cache is None:
        cache = nbytes <= _cache_max_bytes()
    if cache:
        images, path = _cached_images(root, name, split, size, files, native=native)
        kw["extra"] = {**kw.get("extra", {}), "cache_file": path}
        return TensorImageDataset(images, name=name, split=split, labels=labels,
                                  image_size=size, **kw)
    return FileImageDataset(files, name=name, split=split, labels=labels, image_size=size, **kw)


def _image_folder(split_dir: Path):
    """``split_dir/<class>/*.jpg`` -> (files, labels, classes); classes sorted (ImageFolder)."""
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    files, labels = [], []
    for c, cls in enumerate(classes):
        names = sorted(e.name for e in os.scandir(split_dir / cls)
                       if e.is_file() and e.name.lower().endswith(_IMAGE_EXTS))
        d = os.path.join(split_dir, cls)
        files += [os.path.join(d, n) for n in names]  # str: 10x cheaper than Path for 50k files
        labels += [c] * len(names)
    return files, torch.tensor(labels, dtype=torch.int64), classes


# --------------------------------------------------------------------------- loaders


CIFAR_TORCHVISION = {  # name -> (torchvision class, its folder, its download URL)
    "cifar10": ("CIFAR10", "cifar-10-batches-py",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": ("CIFAR100", "cifar-100-python",
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}


def _cifar(name: str, split: str, root: Path, download, image_size, transform, cache):
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
            images = torch.stack([_decode_one_pil(Image.fromarray(a), size) for a in ds.data])
        else:
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
        return TensorImageDataset(images, name=name, split=split,
                                  labels=torch.tensor(ds.targets, dtype=torch.int64),
                                  classes=ds.classes, source=root / folder,
                                  transform=transform)

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
            raise ValueError(f"{split_dir} has class folders {classes}; expected the 10 CIFAR-10 "
                             f"classes {list(CIFAR10_CLASSES)}. Fix or remove that directory.")
        fidelity = FIDELITY["cifar10"] if name == "cifar10" else ""
        return _make(name, split, root, files, labels, size, cache, native=(size == 32),
                     classes=classes,
                     source=split_dir, fidelity=fidelity, transform=transform)

    ds = canonical()
    if ds is None:
        ds = image_folder()
    if ds is not None:
        return ds
    if _try_download(lambda: tv_class()(str(root), train=True, download=True), url, download,
                     tried, name):
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
        name, split, tried,
        f"set DALIB_DATA (or pass root=) to a directory containing {folder}/ (the python version "
        f"from {url}, as torchvision.datasets.{cls_name} stores it) or {name}/{{train,test}}/"
        f"<class>/*.png, or run once with internet so torchvision can download it.")


def load_cifar10(split, root, download, image_size=None, transform=None, cache=None):
    return _cifar("cifar10", split, root, download, image_size, transform, cache)


def load_cifar100(split, root, download, image_size=None, transform=None, cache=None):
    return _cifar("cifar100", split, root, download, image_size, transform, cache)


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


def load_tiny_imagenet(split, root, download, image_size=None, transform=None, cache=None):
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
        note = (" (the offline archive has the val split only)" if split == "train" else "")
        raise DatasetNotFoundError(
            name, split, tried,
            f"set DALIB_DATA (or pass root=) to a directory containing tiny-imagenet-200/ in the "
            f"official layout (unzipped {TINY_IMAGENET_URL}){note}, or run once with internet "
            f"so it is downloaded.")
    wnids = sorted((base / "wnids.txt").read_text().split())
    words = {}
    if (base / "words.txt").is_file():
        for line in (base / "words.txt").read_text().splitlines():
            w, _, text = line.partition("\t")
            words[w] = text
    files, labels = _tiny_files(base, split, wnids)
    return _make(name, split, root, files, labels, size, cache, native=(size == 64), classes=wnids,
                 source=base / split, transform=transform,
                 extra={"class_names": [words.get(w, w) for w in wnids]})


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


def load_coco2014_val(split, root, download, image_size=None, transform=None, cache=None):
    name, size = "coco2014-val", image_size or 224
    tried: list[str] = []
    for base in (root / "coco2014", root / "coco", root):
        for ann in (base / "annotations" / "instances_val2014.json",
                    base / "instances_val2014.json"):
            if (base / "val2014").is_dir() and ann.is_file():
                files, labels, cat_ids, names = _coco_labels_from_instances(ann, base / "val2014")
                return _make(name, split, root, files, labels, size, cache, classes=names,
                             source=base / "val2014", transform=transform,
                             extra={"category_ids": cat_ids})
        tried.append(f"{base}/val2014/ + {base}/annotations/instances_val2014.json (absent)")
    sample = root / "coco2014_val_samples"
    if not (sample / "multilabel.json").is_file():
        _unpack_archive(name, root, tried)
    if (sample / "multilabel.json").is_file():
        meta = json.loads((sample / "multilabel.json").read_text())
        cats = sorted((int(c), n) for c, n in meta["categories"])
        fnames = sorted(meta["labels"])
        labels = _multi_hot([c for c, _ in cats], [meta["labels"][fn] for fn in fnames])
        return _make(name, split, root, [sample / "images" / f for f in fnames], labels, size,
                     cache, classes=[n for _, n in cats], source=sample / "images",
                     fidelity=FIDELITY["coco2014-val"], transform=transform,
                     extra={"category_ids": [c for c, _ in cats]})
    tried.append(f"{sample}/multilabel.json (absent)")
    raise DatasetNotFoundError(
        name, split, tried,
        "set DALIB_DATA (or pass root=) to a directory containing coco2014/val2014/*.jpg and "
        "coco2014/annotations/instances_val2014.json (from http://images.cocodataset.org/zips/"
        "val2014.zip and annotations/annotations_trainval2014.zip), or point DALIB_SHARED_DATA "
        "to the directory holding coco2014-val-sample.tar.gz.")


def load_imagenet_val(split, root, download, image_size=None, transform=None, cache=None):
    name, size = "imagenet-val", image_size or 224
    tried: list[str] = []
    tv_root = root / "imagenet"
    if ((tv_root / "ILSVRC2012_img_val.tar").is_file()
            and (tv_root / "ILSVRC2012_devkit_t12.tar.gz").is_file()
            and not (tv_root / "val").is_dir()):
        try:  # torchvision's ImageNet layout: parses the archives into imagenet/val/<wnid>/
            import torchvision
            torchvision.datasets.ImageNet(str(tv_root), split="val")
        except Exception as e:  # noqa: BLE001
            tried.append(f"{tv_root} (torchvision ImageNet archives unusable: {e})")
    for d in (tv_root / "val", root / "ILSVRC2012" / "val", root / "ILSVRC2012_img_val",
              root / "imagenet-val"):
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
        return _make(name, split, root, files, labels, size, cache, classes=names, source=d,
                     transform=transform, extra={"wnids": wnids})
    _no_archive(name, tried)
    raise DatasetNotFoundError(
        name, split, tried,
        "ImageNet cannot be downloaded automatically (registration at image-net.org). Put the "
        "ILSVRC2012 validation images as class folders under <DALIB_DATA>/imagenet/val/<wnid>/, "
        "or ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz into <DALIB_DATA>/imagenet/ "
        "(torchvision.datasets.ImageNet layout).")


DATASETS = {
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "tiny-imagenet": load_tiny_imagenet,
    "coco2014-val": load_coco2014_val,
    "imagenet-val": load_imagenet_val,
}
SPLITS = {
    "cifar10": ("train", "test"),
    "cifar100": ("train", "test"),
    "tiny-imagenet": ("train", "val"),
    "coco2014-val": ("val",),
    "imagenet-val": ("val",),
}


def load_dataset(name: str, split: str, root=None, download=None, image_size=None,
                 transform=None, cache=None) -> ImageDataset:
    """The ``split`` of dataset ``name`` as ``(image float32 (C, H, W) in [0, 1], label)`` pairs.

    ``root``: data root (default ``$DALIB_DATA`` or ``<repo>/data``). ``download``: allow network
    downloads of canonical files (default: yes unless ``$DALIB_OFFLINE=1``). ``image_size``:
    side in pixels (default native: 32 CIFAR, 64 Tiny ImageNet, 224 COCO/ImageNet: shorter side
    resized bicubically then centre-cropped). ``transform``: applied to the float image.
    ``cache``: decode once into memory + disk cache (default: when under ``$DALIB_CACHE_MAX_GB``).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {sorted(DATASETS)}")
    if split not in SPLITS[name]:
        raise ValueError(f"unknown split {split!r} for dataset {name!r}; valid splits: "
                         f"{list(SPLITS[name])}")
    if image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool)
                                   or image_size < 1):
        raise ValueError(f"image_size must be a positive int or None, got {image_size!r}")
    return DATASETS[name](split, data_root(root), download, image_size=image_size,
                          transform=transform, cache=cache)


# --------------------------------------------------------------------------- whole-tensor helpers


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


def as_tensors(dataset_or_name, split=None, n=None, seed: int = 0, dtype=torch.float32,
               **load_kwargs):
    """``(x, y)`` for a whole dataset (or its ``fixed_subset(n, seed)``): ``x`` ``(N, C, H, W)``
    float32 in [0, 1] (``dtype=torch.uint8``: raw 0..255), ``y`` int64 ``(N,)`` or float32
    multi-hot ``(N, K)``. The dataset's ``transform`` is not applied."""
    if isinstance(dataset_or_name, str):
        if split is None:
            raise ValueError(f"as_tensors({dataset_or_name!r}) needs split=, one of "
                             f"{list(SPLITS.get(dataset_or_name, ()))}")
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


# --------------------------------------------------------------------------- command line


def main(argv=None) -> int:
    """``python -m dalib.data [NAME ...]``: find (unpack, decode and cache) each dataset split and
    print where it came from, or why it is missing. Exit status 1 if any split is missing."""
    import argparse
    import time

    p = argparse.ArgumentParser(prog="python -m dalib.data", description=main.__doc__)
    p.add_argument("names", nargs="*", default=sorted(DATASETS), help="dataset names (default: all)")
    p.add_argument("--root", default=None, help="data root (default $DALIB_DATA or <repo>/data)")
    p.add_argument("--offline", action="store_true", help="do not try downloads")
    args = p.parse_args(argv)
    missing = 0
    for name in args.names:
        for split in SPLITS.get(name, ("?",)):
            t = time.perf_counter()
            try:
                ds = load_dataset(name, split, root=args.root,
                                  download=False if args.offline else None)
            except (DatasetNotFoundError, ValueError) as e:
                missing += 1
                print(f"{name}/{split}: MISSING\n  " + str(e).replace("\n", "\n  "))
                continue
            note = f"  [{ds.fidelity}]" if ds.fidelity else ""
            print(f"{name}/{split}: {len(ds)} images {tuple(ds[0][0].shape)} from {ds.source} "
                  f"({time.perf_counter() - t:.1f} s){note}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
