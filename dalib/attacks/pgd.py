"""Projected gradient descent under an l_inf budget (Madry et al., ICLR 2018, "Towards Deep
Learning Models Resistant to Adversarial Attacks"), as used by the paper for adversarial
examples (Sec. 5.1, Appendix C.2.1) and, with random restarts, in Appendix D.3.
"""

from __future__ import annotations

import types

import torch

from .attack import Attack, check_bool, check_int, check_real, check_seed, check_unknown
from .losses import CrossEntropyLoss, predict_fn


def _loss_repr(loss):
    if isinstance(loss, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return f"{getattr(loss, '__module__', '?')}.{getattr(loss, '__qualname__', repr(loss))}"
    return loss


class PGD(Attack):
    r"""Untargeted l_inf PGD with random start and restarts.

    .. math::
        x^{0} = \Pi(x + U(-\epsilon, \epsilon)), \qquad
        x^{t+1} = \Pi_{[0,1]}\big(\Pi_{B_\infty(x, \epsilon)}
                  (x^{t} + \alpha\,\mathrm{sign}\,\nabla_{x^t} L(f(x^t), y))\big)

    with ``L`` the per-sample loss to MAXIMISE (default cross-entropy; the CLIP experiments pass
    :func:`dalib.attacks.cosine_loss`). One forward and one backward per step for the whole
    batch; the gradient is that of ``sum_i L_i`` (per-sample signs, no 1/B scaling that could
    underflow); the result of a restart is its last iterate (as in Madry et al. and torchattacks).

    Hyper-parameters:
        eps: l_inf budget in pixel units of [0, 1] images, in (0, 1] (default 8/255).
        alpha: step size in (0, 1]; default ``None`` -> ``2.5 * eps / steps`` (Madry et al.'s
            rule: the steps can cross the ball 2.5 times; equals torchattacks' default 2/255 at
            eps = 8/255, steps = 10). The paper does not state its step size.
        steps: gradient steps per restart, >= 1 (default 10).
        random_start: start from a uniform point of the eps-ball (default True).
        n_restarts: independent random starts, >= 1 (default 1). Each sample keeps its best
            restart: any restart that succeeds (prediction != y) wins over one that does not,
            ties broken by the larger loss (Appendix D.3 uses 3).
        loss: callable ``(output, y) -> (B,)`` to maximise (default :class:`CrossEntropyLoss`);
            its optional ``predict(output)`` method defines success for restarts.
        seed: seed of the per-sample random streams drawing random starts (default 0): sample
            ``i`` draws from a stream keyed by ``(seed, index[i])``, so its result does not
            depend on its batch (``dalib.attacks.attack.SampleStreams``).
    """

    def __init__(
        self, model, *, eps=8 / 255, alpha=None, steps=10, random_start=True, n_restarts=1, loss=None, seed=0, **unknown
    ):
        super().__init__(model)
        name = type(self).__name__
        check_unknown(name, unknown, ["eps", "alpha", "steps", "random_start", "n_restarts", "loss", "seed"])
        eps = check_real(name, "eps", eps, 0.0, 1.0)
        steps = check_int(name, "steps", steps, 1)
        alpha = 2.5 * eps / steps if alpha is None else check_real(name, "alpha", alpha, 0.0, 1.0)
        loss = CrossEntropyLoss() if loss is None else loss
        if not callable(loss):
            raise TypeError(f"{name}: loss must be a callable (output, y) -> per-sample loss (B,), got {loss!r}")
        self._hparams = {
            "eps": eps,
            "alpha": alpha,
            "steps": steps,
            "random_start": check_bool(name, "random_start", random_start),
            "n_restarts": check_int(name, "n_restarts", n_restarts, 1),
            "loss": loss,
            "seed": check_seed(name, seed),
        }
        self.loss = loss

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={(_loss_repr(v) if k == 'loss' else v)!r}" for k, v in self._hparams.items())
        return f"{type(self).__name__}({args})"

    def _attack(self, x, y, index):
        return self._restarts(x, y, self._streams(index, x.device), mask=None)

    def _restarts(self, x, y, streams, mask):
        """Best of ``n_restarts`` runs; ``mask`` (bool, broadcastable to x) confines the
        perturbation (PatchPGD), ``None`` = the whole image."""
        R = self._hparams["n_restarts"]
        if R == 1:
            return self._single(x, y, streams, mask)
        predict = predict_fn(self.loss)
        best = best_loss = best_succ = None
        for _ in range(R):
            x_r = self._single(x, y, streams, mask)
            with torch.no_grad():
                out = self.model(x_r)
                loss_r = self.loss(out, y).float()
                succ_r = predict(out) != y
            if best is None:
                best, best_loss, best_succ = x_r, loss_r, succ_r
                continue
            better = (succ_r & ~best_succ) | ((succ_r == best_succ) & (loss_r > best_loss))
            best = torch.where(better.view(-1, *[1] * (x.dim() - 1)), x_r, best)
            best_loss = torch.where(better, loss_r, best_loss)
            best_succ = best_succ | succ_r
        return best

    def _single(self, x, y, streams, mask):
        """One PGD run from one (random) start; returns the last iterate, detached."""
        h = self._hparams
        eps, alpha = h["eps"], h["alpha"]
        lo = (x - eps).clamp_(min=0.0)  # projection onto B_inf(x, eps) intersected with [0, 1]
        hi = (x + eps).clamp_(max=1.0)
        if mask is not None:  # outside the patch the box collapses to x itself
            lo = torch.where(mask, lo, x)
            hi = torch.where(mask, hi, x)
        if h["random_start"]:
            noise = streams.rand(x.shape[1:], dtype=x.dtype)
            x_adv = torch.minimum(torch.maximum(x + (2 * noise - 1) * eps, lo), hi)
        else:
            x_adv = x.clone()
        for t in range(h["steps"]):
            x_adv.requires_grad_(True)
            loss = self.loss(self.model(x_adv), y)
            if t == 0 and loss.shape != y.shape:
                raise ValueError(
                    f"{type(self).__name__}: loss must return one value per sample, shape "
                    f"{tuple(y.shape)}, got {tuple(loss.shape)} from {self.loss!r}"
                )
            (grad,) = torch.autograd.grad(loss.sum(), x_adv)
            with torch.no_grad():
                x_adv = x_adv.detach().add_(grad.sign_(), alpha=alpha)
                x_adv = torch.minimum(torch.maximum(x_adv, lo), hi)
        return x_adv.detach()
