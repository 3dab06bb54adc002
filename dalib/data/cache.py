"""Decoding image files to uint8 tensors, once: a disk cache ``<root>/.cache/<name>-<split>-<size>-
<hash>.pt`` (written atomically; the hash covers the file list, sizes and mtimes, so a changed folder
is re-decoded), served from memory afterwards (memory-mapped). Datasets whose decoded size exceeds
``$DALIB_CACHE_MAX_GB`` (default 3 GB) are decoded lazily per item instead (``datasets._make``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_torch_save
from .sources import log

CACHE_FORMAT = 2  # bump when the decoded layout changes (2: resizing follows RESIZES, "slip" by default)

# How an image that is not ``size`` x ``size`` becomes one (``load_dataset(..., resize=...)``):
RESIZES = {
    # SLIP's zero-shot evaluation transform, which the DiffCLIP release evaluates with:
    # torchvision Resize(size) (shorter side to size, longer int(size * long / short), bilinear,
    # antialiased on PIL images) then CenterCrop(size)
    "slip": "shorter side to size (bilinear, torchvision's size rule), then centre crop",
    # the DiffCLIP release's zero-shot demo: PIL resize to (size, size), aspect ratio not kept (bicubic)
    "squash": "both sides to size (bicubic, PIL's default), aspect ratio not kept",
}
DEFAULT_RESIZE = "slip"


def check_resize(resize: str) -> str:
    if resize not in RESIZES:
        raise ValueError(f"unknown resize {resize!r}; valid: " + "; ".join(f"{k!r} ({v})" for k, v in RESIZES.items()))
    return resize


def _to_size(img, size: int, resize: str = DEFAULT_RESIZE):
    """PIL image -> RGB ``size`` x ``size`` by the named rule of :data:`RESIZES`."""
    import torchvision.transforms.functional as TF
    from PIL import Image

    img = img.convert("RGB")
    if img.size == (size, size):
        return img
    if check_resize(resize) == "squash":
        return img.resize((size, size), Image.BICUBIC)
    img = TF.resize(img, size, interpolation=TF.InterpolationMode.BILINEAR)
    return TF.center_crop(img, [size, size])


def _decode_one_pil(img, size: int, resize: str = DEFAULT_RESIZE) -> torch.Tensor:
    """PIL image -> uint8 ``(3, size, size)``."""
    arr = np.asarray(_to_size(img, size, resize), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _decode_one(path, size: int, resize: str = DEFAULT_RESIZE) -> torch.Tensor:
    """One image file -> uint8 ``(3, size, size)``."""
    from PIL import Image

    with Image.open(path) as im:
        return _decode_one_pil(im, size, resize)


def _batched_jpeg_decode(files: list):
    """torchvision's batched JPEG decoder (same pixels as PIL, about 2x faster); None if
    unavailable or a file is not a decodable JPEG (the caller then falls back to PIL)."""
    if not all(str(f).lower().endswith((".jpg", ".jpeg")) for f in files):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision 0.29 deprecates torchvision.io decoding
            import torchvision.io as tio

            datas = [torch.frombuffer(bytearray(Path(f).read_bytes()), dtype=torch.uint8) for f in files]
            return tio.decode_jpeg(datas, mode=tio.ImageReadMode.RGB)
    except Exception:  # noqa: BLE001 - any problem: decode with PIL instead
        return None


def _decode_files(
    files: list, size: int, native: bool = True, chunk: int = 4096, resize: str = DEFAULT_RESIZE
) -> torch.Tensor:
    """Decode image files to uint8 ``(N, 3, size, size)``. ``native``: the files are expected to
    be ``size`` x ``size`` already (CIFAR, Tiny ImageNet), so the batched JPEG decoder is tried
    first; other files (resizing, non-JPEG, odd colour modes) go through PIL."""
    out = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    for start in range(0, len(files), chunk):
        part = files[start : start + chunk]
        decoded = _batched_jpeg_decode(part) if native else None
        for i, f in enumerate(part):
            img = decoded[i] if decoded is not None else None
            if img is None or tuple(img.shape) != (3, size, size):
                img = _decode_one(f, size, resize)
            out[start + i] = img
    return out


def _cache_max_bytes() -> float:
    return float(os.environ.get("DALIB_CACHE_MAX_GB", "3")) * 1e9


def _fingerprint(root: Path, name: str, split: str, size: int, files: list[Path], resize: str = DEFAULT_RESIZE) -> str:
    """Hash of the file list (paths relative to the data root, sizes, mtimes), the size and the resize rule."""
    h = hashlib.sha256(f"{CACHE_FORMAT}|{name}|{split}|{size}|{resize}|{len(files)}".encode())
    prefix = os.path.join(str(root), "")
    for f in map(str, files):
        st = os.stat(f)
        rel = f[len(prefix) :] if f.startswith(prefix) else os.path.relpath(f, root)
        h.update(f"|{rel}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


_MEMO: dict[str, torch.Tensor] = {}  # in-process: cache path -> decoded uint8 images


def clear_memory_cache() -> None:
    """Forget decoded images held in this process (the on-disk cache stays)."""
    _MEMO.clear()


def cache_path(root: Path, name: str, split: str, size: int, files: list[Path], resize: str = DEFAULT_RESIZE) -> Path:
    """Where the decoded images of this file list are (or will be) cached."""
    return root / ".cache" / f"{name}-{split}-{size}-{_fingerprint(root, name, split, size, files, resize)}.pt"


def _cached_images(
    root: Path, name: str, split: str, size: int, files: list[Path], native: bool = True, resize: str = DEFAULT_RESIZE
):
    """Decoded uint8 images of ``files``: from memory, the on-disk cache, or decoded once now.
    Returns ``(images, cache_file)``."""
    path = cache_path(root, name, split, size, files, resize)
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
        images = _decode_files(files, size, native=native, resize=resize)
        try:
            atomic_torch_save({"images": images, "format": CACHE_FORMAT}, path)
        except OSError as e:
            warnings.warn(f"dalib.data: could not write the decode cache {path} ({e}); images are kept in memory only")
    _MEMO[key] = images
    return images, path


# --------------------------------------------------------------------------- dataset classes
