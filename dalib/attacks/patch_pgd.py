"""Adversarial patch by PGD: the perturbation is confined to a w x w square at a random location
of each image, eps = 1 inside the square (paper, Sec. 5.1 and Appendix C.2.1; patch attacks on
ViTs after Fu et al., ICLR 2022, "Patch-Fool").
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .attack import check_int, check_unknown, config_int
from .pgd import PGD


class PatchResult(NamedTuple):
    x_adv: torch.Tensor  # (B, C, H, W) adversarial images
    top: torch.Tensor  # (B,) row of each patch's upper-left corner
    left: torch.Tensor  # (B,) column of each patch's upper-left corner
    mask: torch.Tensor  # (B, 1, H, W) bool, True inside the patch


class PatchPGD(PGD):
    r"""PGD restricted to a square patch ``M`` (w x w, one seeded uniform location per image):

    .. math::
        x^{t+1} = \Pi_{[0,1]}\big(\Pi_{\|\delta\|_\infty \le \epsilon,\ \delta \odot (1-M) = 0}
                  (x^{t} + \alpha\, M \odot \mathrm{sign}\,\nabla_{x^t} L(f(x^t), y))\big)

    Pixels outside the patch are never changed. Hyper-parameters are those of :class:`PGD` plus
    ``w`` (patch side in pixels, >= 1, must fit the image); the defaults differ: ``eps = 1.0``
    (the paper's patch setting: any value inside the patch) and ``alpha = 2.5 * eps / steps``.
    The top-left corner is drawn uniformly from ``[0, H - w] x [0, W - w]`` per image from its
    own random stream (keyed by ``(seed, index)``, before the random starts, so a location does
    not depend on the batch); restarts reuse the same locations.
    ``run(x, y)`` returns a :class:`PatchResult` with the locations; ``attack(x, y)`` only x_adv.
    """

    def __init__(
        self,
        model,
        *,
        w=8,
        eps=1.0,
        alpha=None,
        steps=10,
        random_start=True,
        n_restarts=1,
        loss=None,
        seed=0,
        **unknown,
    ):
        check_unknown(
            type(self).__name__, unknown, ["w", "eps", "alpha", "steps", "random_start", "n_restarts", "loss", "seed"]
        )
        super().__init__(
            model,
            eps=eps,
            alpha=alpha,
            steps=steps,
            random_start=random_start,
            n_restarts=n_restarts,
            loss=loss,
            seed=seed,
        )
        w = check_int(type(self).__name__, "w", w, 1)
        img_size = config_int(model, "img_size")
        if img_size is not None and w > img_size:
            raise ValueError(
                f"PatchPGD: patch side w={w} does not fit the model's {img_size}x{img_size} images; use w <= {img_size}"
            )
        self._hparams = {"w": w, **self._hparams}

    def _check_inputs(self, x, y):
        super()._check_inputs(x, y)
        w = self._hparams["w"]
        if x.dim() != 4 or w > x.shape[-2] or w > x.shape[-1]:
            raise ValueError(
                f"PatchPGD: patch side w={w} does not fit images of shape {tuple(x.shape)} "
                f"(expected (B, C, H, W) with H, W >= w)"
            )

    def locations(self, x: torch.Tensor, streams):
        """Top-left corners ``(top, left)``, each (B,), uniform over all positions that fit, one
        per sample from its stream (:class:`dalib.attacks.attack.SampleStreams`)."""
        _, _, H, W = x.shape  # (batch, channels, height, width)
        w = self._hparams["w"]
        return streams.randint(H - w + 1), streams.randint(W - w + 1)

    def patch_mask(self, x: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) bool mask, True inside each image's w x w square."""
        B, _, H, W = x.shape
        w = self._hparams["w"]
        rows = torch.arange(H, device=x.device)
        cols = torch.arange(W, device=x.device)
        in_r = (rows >= top[:, None]) & (rows < top[:, None] + w)  # (B, H)
        in_c = (cols >= left[:, None]) & (cols < left[:, None] + w)  # (B, W)
        return (in_r[:, :, None] & in_c[:, None, :])[:, None]  # (B, 1, H, W)

    def _attack(self, x, y, index):
        streams = self._streams(index, x.device)
        top, left = self.locations(x, streams)
        mask = self.patch_mask(x, top, left)
        x_adv = self._restarts(x, y, streams, mask)
        return PatchResult(x_adv, top, left, mask)

    def _empty(self, x, y):
        e = torch.zeros(0, dtype=torch.long, device=x.device)
        return PatchResult(x.clone(), e, e, torch.zeros(0, 1, *x.shape[-2:], dtype=torch.bool, device=x.device))

    def run(self, x: torch.Tensor, y: torch.Tensor, index=None) -> PatchResult:
        """Like ``attack(x, y, index)`` but also returns the patch locations and masks."""
        return self._call(x, y, index)
