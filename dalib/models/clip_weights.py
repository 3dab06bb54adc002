"""Released CLIP/DiffCLIP checkpoints: where they are, how they are read, how they load.

DiffCLIP (Hammoud & Ghanem, TMLR 2025) releases ``checkpoint_best.pt`` per model on the Hugging
Face Hub (``hammh0a/DiffCLIP_ViTB16_CC12M``, ``..._CC3M``): a pickle of a dict whose
``"state_dict"`` holds the weights, possibly with DataParallel's ``module.`` prefix, beside training
state such as an ``argparse.Namespace`` of the run's arguments (holding ``pathlib`` paths).

Where a file is looked for, in order:

1. the ``checkpoint`` path the caller names;
2. ``$DALIB_WEIGHTS/<repo name>/checkpoint_best.pt`` (e.g. ``$DALIB_WEIGHTS/DiffCLIP_ViTB16_CC12M/checkpoint_best.pt``);
3. the Hugging Face Hub (``huggingface_hub.hf_hub_download``), only when ``online=True`` and the
   host answers.

Reading is safe by default: ``torch.load(weights_only=True)`` with exactly the non-tensor classes
the release pickles (``argparse.Namespace``, ``pathlib`` paths) allow-listed. A file that needs
more than that loads only with ``trust_pickle=True`` *and* a path the user named: that runs
arbitrary code from the file, so never pass it for a file you did not make or check.
"""

from __future__ import annotations

import argparse
import os
import pathlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .clip import CLIP, create_clip

WEIGHTS_ENV = "DALIB_WEIGHTS"
FILENAME = "checkpoint_best.pt"


@dataclass(frozen=True)
class Release:
    """One released checkpoint: the Hub repository, the file and the architecture it holds."""

    dirname: str  # folder under $DALIB_WEIGHTS that holds checkpoint_best.pt
    model: str  # dalib.models.clip.ARCHS key ("clip" or "diffclip")
    repo_id: str | None  # Hugging Face Hub repository; None where no public copy is known
    note: str = ""


# name -> release. The CLIP baselines are the paper's "corresponding CLIP models": SLIP's
# CLIP_VITB16 (standard attention) trained with the same recipe, published by the DiffCLIP authors
# beside their models (COLLECTION) as hammh0a/ViTB16_CC12M and hammh0a/ViTB16_CC3M. CC12M is the
# default of the CLIP chapter; CC3M is the option.
COLLECTION = "https://huggingface.co/collections/hammh0a/diffclip-67cd8d3b7c6e6ea1cc26cd93"
RELEASES = {
    "diffclip-cc12m": Release(
        "DiffCLIP_ViTB16_CC12M", "diffclip", "hammh0a/DiffCLIP_ViTB16_CC12M", "DiffCLIP ViT-B/16 trained on CC12M"
    ),
    "diffclip-cc3m": Release(
        "DiffCLIP_ViTB16_CC3M", "diffclip", "hammh0a/DiffCLIP_ViTB16_CC3M", "DiffCLIP ViT-B/16 trained on CC3M"
    ),
    "clip-cc12m": Release(
        "CLIP_ViTB16_CC12M", "clip", "hammh0a/ViTB16_CC12M", "CLIP ViT-B/16 baseline of the same recipe, CC12M"
    ),
    "clip-cc3m": Release(
        "CLIP_ViTB16_CC3M", "clip", "hammh0a/ViTB16_CC3M", "CLIP ViT-B/16 baseline of the same recipe, CC3M"
    ),
}


class WeightsNotFoundError(FileNotFoundError):
    """A released checkpoint is not on this machine (and could not be downloaded)."""


class CheckpointKeyError(KeyError):
    """A checkpoint's keys or shapes do not match the model; the message lists them."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class UnsafeCheckpointError(RuntimeError):
    """The file pickles objects beyond the allow-listed ones; loading it would run its code."""


def get_release(name: str) -> Release:
    if not isinstance(name, str) or name not in RELEASES:
        raise ValueError(f"unknown CLIP release {name!r}; valid names: {sorted(RELEASES)}")
    return RELEASES[name]


def expected_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path | None:
    """Where ``name``'s file is looked for locally (``None`` when no weights directory is set)."""
    root = weights_dir if weights_dir is not None else os.environ.get(WEIGHTS_ENV)
    return Path(root) / get_release(name).dirname / FILENAME if root else None


def find_checkpoint(
    name: str,
    checkpoint: str | os.PathLike | None = None,
    *,
    weights_dir: str | os.PathLike | None = None,
    online: bool = False,
) -> Path:
    """The local path of release ``name``'s checkpoint, or :class:`WeightsNotFoundError` naming the
    file, where to put it and the online alternative. Nothing heavy runs before this answers."""
    rel = get_release(name)
    if checkpoint is not None:
        p = Path(checkpoint)
        if not p.is_file():
            raise WeightsNotFoundError(f"checkpoint {str(p)!r} (for {name}) does not exist or is not a file")
        return p
    local = expected_path(name, weights_dir)
    if local is not None and local.is_file():
        return local
    if online and rel.repo_id is not None:
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(repo_id=rel.repo_id, filename=FILENAME))
        except Exception as e:  # noqa: BLE001  (offline, unknown repo, auth): reported below
            hub_error = f" The Hub download failed: {type(e).__name__}: {e}."
    else:
        hub_error = ""
    where = (
        f"{local}"
        if local is not None
        else f"$DALIB_WEIGHTS/{rel.dirname}/{FILENAME} (set DALIB_WEIGHTS to a directory first)"
    )
    if rel.repo_id is None:
        how = (
            f"Its Hub repository is not recorded here: download {FILENAME} of the CLIP ViT-B/16 CC12M baseline from "
            f"the authors' collection {COLLECTION} into {where}, or pass checkpoint=<path>."
        )
    else:
        how = (
            f"Either download https://huggingface.co/{rel.repo_id}/resolve/main/{FILENAME} into {where}, pass "
            f"checkpoint=<path>, or allow the download with online=True (needs internet and huggingface_hub)."
        )
    raise WeightsNotFoundError(f"no weights for {name} ({rel.note}): {FILENAME} is not at {where}.{hub_error} {how}")


def _numpy_globals() -> list:
    """The numpy objects a training loop's pickle holds beside the weights (``best_acc1`` and
    ``args`` values as numpy scalars): the scalar constructor under its numpy 2 name and under the
    numpy 1 name the release's files were written with, ``numpy.dtype`` and the dtype classes of
    numeric scalars. Data only: none of them runs code of the file's choosing."""
    import numpy as np

    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    out = [scalar, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [
            getattr(dtypes, n)
            for n in dir(dtypes)
            if n.endswith("DType")
            and n.startswith(
                (
                    "Float",
                    "Int",
                    "UInt",
                    "Bool",
                    "Complex",
                    "Half",
                    "Byte",
                    "UByte",
                    "Short",
                    "UShort",
                    "Long",
                    "ULong",
                    "LongLong",
                    "ULongLong",
                    "Double",
                    "LongDouble",
                    "CLongDouble",
                    "CDouble",
                )
            )
        ]
    return out


# every global the release's checkpoint_best.pt may name: argparse/pathlib objects of the run's
# arguments, and numpy scalars (nothing callable beyond these constructors)
_SAFE_GLOBALS = [
    argparse.Namespace,
    pathlib.PosixPath,
    pathlib.WindowsPath,
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    pathlib.Path,
    *_numpy_globals(),
]


def _load(path: Path, weights_only: bool):
    """``torch.load`` memory-mapped where the file is in torch's zip format (tensors are then read
    from disk only when touched: the optimiser and scaler state of a release file never are)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e) and "zip" not in str(e):
            raise
        return torch.load(path, map_location="cpu", weights_only=weights_only)  # legacy (non-zip) format


def read_checkpoint(path: str | os.PathLike, *, trust_pickle: bool = False) -> dict:
    """The tensors of a checkpoint file as a flat ``{key: tensor}`` with any ``module.`` prefix
    removed. Accepts the release layout (``{"state_dict": {...}, "optimizer": {...}, "scaler":
    {...}, "best_acc1": numpy scalar, "args": Namespace, ...}``, as SLIP's ``main.py`` saves it), a
    bare state_dict, or ``{"model": {...}}``. The file is memory-mapped and everything but the
    weights is dropped at once, so peak memory stays near one copy of the weights (a 1.8 GB release
    file holds about 0.6 GB of weights and twice that of Adam state)."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            obj = _load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001
        if not trust_pickle:
            raise UnsafeCheckpointError(
                f"{path} could not be read with torch.load(weights_only=True) ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:300]}). If it is a pickle you made or trust, pass trust_pickle=True "
                f"with this path; that runs code stored in the file."
            ) from e
        obj = _load(path, weights_only=False)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # the rest (optimiser, scaler, args) is freed with the outer dict
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointKeyError(
            f"{path}: expected a state_dict of tensors (top level, or under 'state_dict' "
            f"or 'model'), got {type(obj).__name__}"
        )
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}


def _listing(keys, limit=12):
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state(model: CLIP, state: dict, source: str = "checkpoint") -> CLIP:
    """Load ``state`` into ``model`` strictly: missing keys, unexpected keys and wrong shapes raise
    :class:`CheckpointKeyError` listing each (the usual cause: the other architecture)."""
    own = model.state_dict()
    missing, unexpected = set(own) - set(state), set(state) - set(own)
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_listing(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es): {'; '.join(shapes[:6])}")
        hint = ""
        if any(".q_proj." in k for k in unexpected) and any(".qkv." in k or "in_proj" in k for k in missing):
            hint = " The checkpoint is a DiffCLIP (differential attention); build model 'diffclip'."
        elif any(".q_proj." in k for k in missing) and any(".qkv." in k or "in_proj" in k for k in unexpected):
            hint = " The checkpoint is a standard-attention CLIP; build model 'clip'."
        raise CheckpointKeyError(f"{source} does not match {model.config['model']}: " + "; ".join(parts) + "." + hint)
    model.load_state_dict(state, strict=True)
    return model


def load_clip(
    name: str,
    checkpoint: str | os.PathLike | None = None,
    *,
    weights_dir=None,
    online: bool = False,
    trust_pickle: bool = False,
    **overrides,
) -> CLIP:
    """Release ``name`` (a key of ``RELEASES``) as a :class:`dalib.models.clip.CLIP` in eval mode.

    ``checkpoint`` names a file directly; ``overrides`` change the architecture (only for files
    that are not the ViT-B/16 release, e.g. the small ones the tests write). ``trust_pickle`` is
    honoured only together with ``checkpoint`` (a path the user names)."""
    rel = get_release(name)
    path = find_checkpoint(name, checkpoint, weights_dir=weights_dir, online=online)
    if trust_pickle and checkpoint is None:
        raise ValueError(
            "trust_pickle=True needs checkpoint=<the path you vouch for>; it is never applied to a "
            "file found in $DALIB_WEIGHTS or downloaded"
        )
    state = read_checkpoint(path, trust_pickle=trust_pickle)
    model = create_clip(rel.model, **overrides)
    return load_state(model, state, source=str(path)).eval()


def save_release_checkpoint(
    model: CLIP, path: str | os.PathLike, *, prefix: str = "module.", optimizer_state: bool = True, numpy_1: bool = True
) -> Path:
    """Write ``model`` the way SLIP's ``main.py`` (which the release trains with) saves
    ``checkpoint_best.pt``, for tests and smoke runs: ``{"epoch", "state_dict"`` (keys with
    ``prefix``), ``"optimizer"`` (AdamW state: ``exp_avg`` and ``exp_avg_sq`` per parameter, when
    ``optimizer_state``), ``"scaler"`` (AMP GradScaler state), ``"best_acc1"`` (a numpy float64),
    ``"args"`` (an ``argparse.Namespace`` with numpy and ``pathlib`` values)``}``. ``numpy_1``:
    numpy scalars are pickled under numpy 1's module name, as in files written before numpy 2."""
    import pickle
    import types

    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [v.detach().clone() for v in model.state_dict().values()]
    state = {prefix + k: v for k, v in zip(model.state_dict(), params)}
    ckpt = {
        "epoch": 0,
        "state_dict": state,
        "best_acc1": np.float64(0.0),
        "args": argparse.Namespace(
            model=f"{model.config['model'].upper()}_VITB16",
            output_dir=pathlib.Path(path.parent),
            epochs=40,
            lr=np.float64(5e-4),
            wd=np.float32(0.5),
            batch_size=np.int64(4096),
            betas=(0.9, 0.98),
        ),
        "scaler": {
            "scale": 65536.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 2000,
            "_growth_tracker": 0,
        },
    }
    if optimizer_state:
        ckpt["optimizer"] = {
            "state": {
                i: {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
                for i, p in enumerate(params)
                if p.is_floating_point()
            },
            "param_groups": [
                {
                    "lr": 5e-4,
                    "betas": (0.9, 0.98),
                    "eps": 1e-8,
                    "weight_decay": 0.5,
                    "amsgrad": False,
                    "params": list(range(len(params))),
                }
            ],
        }
    if not numpy_1:
        torch.save(ckpt, path)
        return path
    import numpy.core.multiarray as np1_multiarray  # numpy 2's shim of the numpy 1 module name

    def scalar(dtype, data):  # pickled as numpy.core.multiarray.scalar, numpy 1's name
        raise AssertionError("only pickled, never called")

    scalar.__module__, scalar.__qualname__ = "numpy.core.multiarray", "scalar"

    class Numpy1Pickler(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, np.generic):
                return scalar, (obj.dtype, obj.tobytes())
            return NotImplemented

    had = np1_multiarray.__dict__.get("scalar")
    np1_multiarray.scalar = scalar  # pickle checks that the name leads back to the object
    try:
        torch.save(ckpt, path, pickle_module=types.SimpleNamespace(Pickler=Numpy1Pickler, __name__="pickle"))
    finally:
        if had is None:
            del np1_multiarray.scalar
        else:
            np1_multiarray.scalar = had
    return path
