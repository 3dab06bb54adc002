"""The attack contract shared by every attack in ``dalib.attacks``.

``Attack(model, **hparams)(x, y) -> x_adv`` with ``x`` images in [0, 1] (normalisation lives
inside the model). Hyper-parameters are validated at construction, before any compute; the
model runs in eval mode during the attack and every sub-module's previous mode is restored
afterwards (also when the attack raises); parameters' ``requires_grad`` flags and ``.grad``
buffers are never touched; ``repr(attack)`` is the full configuration.

Randomness is per sample. ``attack(x, y, index=...)`` takes the global indices ``(B,)`` of the
samples in the evaluation set (default ``0..B-1``); every random draw for sample ``i`` (random
start, patch location, restarts) comes from its own stream, a generator seeded by
``(seed, index[i])`` (:class:`SampleStreams`). So a sample's adversarial example does not depend
on which other samples share its batch, on the batch size, or on how a run is sharded, up to
float rounding, and the global RNG is never touched.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from dalib.models.modes import eval_mode  # noqa: F401  (re-exported: dalib.attacks.eval_mode)


def model_device(model: nn.Module) -> torch.device | None:
    """Device of the model's first parameter or buffer (``None`` for a parameter-free model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return None


# ------------------------------------------------------------------------------------------
# hyper-parameter validation helpers (raise before any compute, naming the problem and the fix)


def config_int(model, key: str):
    """``model.config[key]`` if the model has a dict ``config`` holding an int there (dalib models
    do), else None: how attacks read ``img_size`` / ``num_classes`` without requiring dalib models."""
    cfg = getattr(model, "config", None)
    v = cfg.get(key) if isinstance(cfg, dict) else None
    return v if isinstance(v, int) else None


def check_unknown(cls_name: str, unknown: dict, valid) -> None:
    if unknown:
        raise TypeError(f"{cls_name}: unknown hyper-parameter(s) {sorted(unknown)}; valid ones: {sorted(valid)}")


def check_real(cls_name: str, name: str, value, low=None, high=None, low_open=True, high_open=False) -> float:
    """``value`` must be a real number in the interval (low, high] (openness configurable)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{cls_name}: {name} must be a real number, got {value!r}")
    value = float(value)
    if value != value:
        raise ValueError(f"{cls_name}: {name} is NaN")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(
            f"{cls_name}: {name}={value!r} is outside {lb}{low}, {high}{hb}"
            + (" (pixel scale: images are in [0, 1], e.g. eps=8/255)" if name in ("eps", "alpha") else "")
        )
    return value


def check_int(cls_name: str, name: str, value, low: int = 1) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{cls_name}: {name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{cls_name}: {name} must be >= {low}, got {value!r}")
    return int(value)


def check_bool(cls_name: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{cls_name}: {name} must be True or False, got {value!r}")
    return value


def check_seed(cls_name: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{cls_name}: seed must be a non-negative int (recorded with the result), got {value!r}")
    return int(value)


_MASK64 = (1 << 64) - 1


def stream_seed(seed: int, index: int) -> int:
    """A 63-bit generator seed for sample ``index`` of an attack seeded ``seed`` (SplitMix64 of
    the pair, so that nearby pairs give unrelated streams)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(index) + 0x632BE59BD9B4E019) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


class SampleStreams:
    """One random stream per sample, keyed by ``(seed, index[i])``.

    Each draw takes the next values of every sample's own CPU generator, so draws in the same
    order (e.g. patch location, then the random start of each restart) give every sample the same
    numbers whatever batch it is in. Results are moved to ``device``."""

    def __init__(self, seed: int, index: torch.Tensor, device):
        self.device = device
        self.gens = [torch.Generator().manual_seed(stream_seed(seed, i)) for i in index.tolist()]

    def rand(self, shape, dtype=torch.float32) -> torch.Tensor:
        """Uniform [0, 1) of shape ``(B, *shape)``: row i from sample i's stream."""
        if not self.gens:
            return torch.empty(0, *shape, dtype=dtype, device=self.device)
        return torch.stack([torch.rand(tuple(shape), generator=g, dtype=dtype) for g in self.gens]).to(self.device)

    def randint(self, high: int) -> torch.Tensor:
        """One integer in ``[0, high)`` per sample, shape ``(B,)``."""
        return torch.tensor(
            [int(torch.randint(0, high, (1,), generator=g)) for g in self.gens], dtype=torch.long, device=self.device
        )


class Attack:
    """Base class: subclasses set ``self._hparams`` (ordered dict of the full configuration) in
    ``__init__`` and implement ``_attack(x, y, index) -> x_adv`` on tensors already on the model's
    device, called in eval mode; ``index`` (B,) holds the samples' global indices (CPU, int64)
    for :meth:`_streams`."""

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"{type(self).__name__}: model must be a torch.nn.Module taking images in "
                f"[0, 1], got {type(model).__name__}"
            )
        self.model = model
        self._hparams: dict = {}

    # ---- configuration
    @property
    def hparams(self) -> dict:
        """The full configuration (defaults included), a copy."""
        return dict(self._hparams)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._hparams.items())
        return f"{type(self).__name__}({args})"

    # ---- running
    def _streams(self, index: torch.Tensor, device) -> SampleStreams:
        """The per-sample random streams for the samples ``index`` (B,) of one call."""
        return SampleStreams(self._hparams["seed"], index, device)

    def _check_inputs(self, x, y):
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"{name}: x and y must be tensors, got {type(x).__name__}, {type(y).__name__}")
        if not x.is_floating_point() or x.dim() < 2:
            raise ValueError(
                f"{name}: x must be a float tensor (B, ...) of images in [0, 1], "
                f"got dtype {x.dtype}, shape {tuple(x.shape)}"
            )
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{name}: y must have shape (B,) = ({x.shape[0]},), got {tuple(y.shape)}")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(
                f"{name}: x must lie in [0, 1] (got [{x.min().item():.4g}, "
                f"{x.max().item():.4g}]); normalisation belongs inside the model"
            )

    def __call__(self, x: torch.Tensor, y: torch.Tensor, index=None) -> torch.Tensor:
        """Adversarial examples for images ``x`` (B, C, H, W) in [0, 1] and labels ``y`` (B,);
        ``index`` (B,): the samples' global indices, which key their random streams (default
        ``0..B-1``)."""
        out = self._call(x, y, index)
        return out if isinstance(out, torch.Tensor) else out.x_adv

    def _call(self, x, y, index=None):
        self._check_inputs(x, y)
        index = self._check_index(index, x.shape[0])
        out_device = x.device
        dev = model_device(self.model) or x.device
        x = x.detach().to(dev)
        y = y.detach().to(dev)
        if x.shape[0] == 0:
            return self._empty(x, y)
        with eval_mode(self.model):
            out = self._attack(x, y, index)
        return _to(out, out_device)

    def _check_index(self, index, B: int) -> torch.Tensor:
        if index is None:
            return torch.arange(B)
        index = torch.as_tensor(index).detach().cpu()
        if index.shape != (B,) or index.is_floating_point() or index.dtype == torch.bool:
            raise ValueError(
                f"{type(self).__name__}: index must be ({B},) integer sample indices, got "
                f"dtype {index.dtype}, shape {tuple(index.shape)}"
            )
        if B and int(index.min()) < 0:
            raise ValueError(f"{type(self).__name__}: index must be non-negative sample indices")
        return index.long()

    def _empty(self, x, y):
        return x.clone()

    def _attack(self, x, y, index):  # pragma: no cover - abstract
        raise NotImplementedError


def _to(out, device):
    if isinstance(out, torch.Tensor):
        return out.to(device)
    if hasattr(out, "_replace"):  # NamedTuple results: move tensors
        return out._replace(**{k: v.to(device) for k, v in out._asdict().items() if isinstance(v, torch.Tensor)})
    return out
