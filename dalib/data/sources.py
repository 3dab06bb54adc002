"""Where dalib's datasets come from: the data root, the offline stand-in archives (sha256 checked,
unpacked once), and downloads of the canonical files that fail fast when offline.

Data root: ``root`` argument, else ``$DALIB_DATA``, else ``<repo>/data``. Offline archives are
searched in ``$DALIB_SHARED_DATA``, ``<repo>/../shared/data`` and ``/work/shared/data``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger("dalib.data")

REPO_ROOT = Path(__file__).resolve().parents[2]

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
# the stand-ins' mean absolute difference from the original pixels, per channel, in units of 1/255
# (the shared data README's measurement; quoted wherever a page states the stand-in's fidelity)
MEAN_ABS_DIFF_255 = {"cifar10": 5.7}
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
PROBE_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 60.0


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
            if (
                not (m.isfile() or m.isdir())
                or Path(m.name).is_absolute()
                or ".." in parts
                or not parts
                or parts[0] != top
            ):
                raise ArchiveChecksumError(
                    f"offline archive {archive} has an unexpected member {m.name!r}; refusing to extract it"
                )
    tar = shutil.which("tar")
    if tar:
        proc = subprocess.run(
            [tar, "-xzf", str(archive), "-C", str(dest), "--no-same-owner", "--no-same-permissions"],
            capture_output=True,
            text=True,
        )
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
                f"directory with intact archives, or provide the data under {root}."
            )
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
