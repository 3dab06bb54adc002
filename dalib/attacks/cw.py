"""Carlini-Wagner L2 attack (Carlini & Wagner, IEEE S&P 2017, "Towards Evaluating the Robustness
of Neural Networks"), untargeted, with the binary search over the constant c and the defaults of
the implementation the paper cites (kkew3/pytorch-cw2, Appendix C.2.3): c from 1e-3 (x10 until
success, then bisection), 5 search steps x 1000 Adam steps (lr 1e-2), kappa = 0, early abort
every max_steps/10 steps, box constraint by the tanh change of variables.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .attack import Attack, check_bool, check_int, check_real, check_seed, check_unknown


class CWResult(NamedTuple):
    x_adv: torch.Tensor  # (B, C, H, W): minimum-norm successful example, x itself where failed
    l2: torch.Tensor  # (B,) ||x_adv - x||_2 of successful samples, +inf where failed
    success: torch.Tensor  # (B,) bool: a successful example was found
    c: torch.Tensor  # (B,) the constant c at which the returned example was found (nan: none)


class CW(Attack):
    r"""Untargeted CW-L2: for each search step, with ``x' = (tanh(w) + 1) / 2``,

    .. math::
        \min_w \ \|x' - x\|_2^2 + c \cdot \max\big(0,\ Z(x')_y - \max_{i \ne y} Z(x')_i + \kappa\big)

    by Adam from ``w = atanh(2x - 1)`` (zero perturbation); every iterate whose prediction
    (logits with ``+kappa`` on the label) differs from ``y`` and has a smaller norm than the best so
    far is kept. Between search steps, per sample: success -> ``upper = min(upper, c)``; failure ->
    ``lower = max(lower, c)``; then ``c = (lower + upper) / 2`` once an upper bound below
    ``0.1 * c_max`` exists, else ``c = 10 c``. With ``search_steps >= 10`` the last step uses
    ``c = upper`` (as kkew3). Like Carlini's original code (and unlike kkew3, which warm-starts),
    ``w`` and the Adam state restart from zero perturbation at every search step.

    Early abort, per sample: every ``max(1, max_steps // 10)`` steps, a sample whose loss did not
    decrease by a relative 1e-4 since the last check stops for the rest of the search step (its
    ``w`` is frozen and it leaves the forward pass); the step ends when no sample is left. Carlini's
    and kkew3's code apply the same rule to the loss summed over the batch, which makes a sample's
    result depend on its batch; per sample, it does not (up to float rounding).

    ``run(x, y) -> CWResult(x_adv, l2, success, c)``; ``attack(x, y)`` returns ``x_adv`` only.
    Failing samples are returned unchanged with ``l2 = inf`` and ``success = False``. A sample
    already misclassified succeeds at once with (near) zero norm: to measure the change of the
    clean prediction (the paper's ASR), attack with ``y = clean prediction``
    (``evaluate_attack(..., attack_labels="clean_pred")``). Deterministic; ``seed`` is recorded
    for the uniform contract.
    """

    def __init__(
        self,
        model,
        *,
        c_init=1e-3,
        c_max=1e10,
        search_steps=5,
        max_steps=1000,
        lr=1e-2,
        kappa=0.0,
        abort_early=True,
        seed=0,
        **unknown,
    ):
        super().__init__(model)
        n = type(self).__name__
        check_unknown(
            n, unknown, ["c_init", "c_max", "search_steps", "max_steps", "lr", "kappa", "abort_early", "seed"]
        )
        c_init = check_real(n, "c_init", c_init, 0.0, None)
        c_max = check_real(n, "c_max", c_max, 0.0, None)
        if c_init >= c_max:
            raise ValueError(f"CW: c_init={c_init} must be smaller than c_max={c_max}")
        self._hparams = {
            "c_init": c_init,
            "c_max": c_max,
            "search_steps": check_int(n, "search_steps", search_steps, 1),
            "max_steps": check_int(n, "max_steps", max_steps, 1),
            "lr": check_real(n, "lr", lr, 0.0, None),
            "kappa": check_real(n, "kappa", kappa, 0.0, None, low_open=False),
            "abort_early": check_bool(n, "abort_early", abort_early),
            "seed": check_seed(n, seed),
        }

    def run(self, x: torch.Tensor, y: torch.Tensor, index=None) -> CWResult:
        """Minimum-norm adversarial examples with their L2 norms and success flags."""
        return self._call(x, y, index)

    def _empty(self, x, y):
        z = torch.zeros(0, device=x.device)
        return CWResult(x.clone(), z, z.bool(), z)

    def _attack(self, x, y, index) -> CWResult:
        h = self._hparams
        B = x.shape[0]
        dev = x.device
        kappa, c_max = h["kappa"], h["c_max"]
        x_tanh = torch.atanh((2 * x - 1) * (1 - 1e-6))  # tanh space (kkew3's atanh with eps = 1e-6)
        x0 = (torch.tanh(x_tanh) + 1) / 2  # x as represented in tanh space (differs by < 1e-6)

        lower = torch.zeros(B, device=dev, dtype=torch.float64)
        upper = torch.full((B,), c_max, device=dev, dtype=torch.float64)
        c = torch.full((B,), h["c_init"], device=dev, dtype=torch.float64)
        o_l2sq = torch.full((B,), float("inf"), device=dev)
        o_adv = x.clone()
        o_c = torch.full((B,), float("nan"), device=dev, dtype=torch.float64)
        abort_every = max(1, h["max_steps"] // 10)
        kappa_col = torch.full((B, 1), kappa, device=dev, dtype=x.dtype)  # +kappa on the label's logit
        repeat = h["search_steps"] >= 10

        for s in range(h["search_steps"]):
            if repeat and s == h["search_steps"] - 1:
                c = upper.clone()
            c_f = c.to(x.dtype)
            w = torch.zeros_like(x, requires_grad=True)  # perturbation in tanh space
            opt = torch.optim.Adam([w], lr=h["lr"])
            best_l2sq = torch.full((B,), float("inf"), device=dev)
            prev = torch.full((B,), float("inf"), device=dev)
            active = torch.ones(B, dtype=torch.bool, device=dev)
            for it in range(h["max_steps"]):
                act = active.nonzero().squeeze(1)  # samples still optimising
                if act.numel() == 0:
                    break
                x_all = (torch.tanh(x_tanh + w) + 1) / 2
                x_adv = x_all[act]
                ya = y[act]
                logits = self.model(x_adv)  # (A, num_classes)
                l2sq = (x_adv - x0[act]).pow(2).flatten(1).sum(1)
                real = logits.gather(1, ya[:, None]).squeeze(1)
                other = logits.scatter(1, ya[:, None], float("-inf")).amax(1)
                f = (real - other + kappa).clamp(min=0)
                loss_i = l2sq + c_f[act] * f  # (A,)
                (w.grad,) = torch.autograd.grad(loss_i.sum(), w)  # zero on the frozen rows
                w_before = w.detach().clone()
                opt.step()
                with torch.no_grad():
                    w.copy_(torch.where(active.view(-1, *[1] * (x.dim() - 1)), w, w_before))
                    comp = logits.detach().scatter_add(1, ya[:, None], kappa_col[act].to(logits.dtype))
                    succ = torch.zeros(B, dtype=torch.bool, device=dev)
                    succ[act] = comp.argmax(1) != ya
                    l2d = torch.full((B,), float("inf"), device=dev)
                    l2d[act] = l2sq.detach()
                    best_l2sq = torch.where(succ & (l2d < best_l2sq), l2d, best_l2sq)
                    better = succ & (l2d < o_l2sq)
                    o_l2sq = torch.where(better, l2d, o_l2sq)
                    adv_full = o_adv.clone()
                    adv_full[act] = x_adv.detach()
                    o_adv = torch.where(better.view(-1, *[1] * (x.dim() - 1)), adv_full, o_adv)
                    o_c = torch.where(better, c, o_c)
                    if h["abort_early"] and it % abort_every == 0:
                        lv = torch.full((B,), float("inf"), device=dev)
                        lv[act] = loss_i.detach()
                        active &= ~(lv > prev * (1 - 1e-4))
                        prev = torch.where(active, lv, prev)
            found = torch.isfinite(best_l2sq)
            upper = torch.where(found, torch.minimum(upper, c), upper)
            lower = torch.where(found, lower, torch.maximum(lower, c))
            bisect = upper < 0.1 * c_max
            c = torch.where(bisect, (lower + upper) / 2, torch.where(found, c, c * 10))

        success = torch.isfinite(o_l2sq)
        x_adv = torch.where(success.view(-1, *[1] * (x.dim() - 1)), o_adv.clamp(0, 1), x)
        l2 = torch.where(success, (x_adv - x).flatten(1).norm(dim=1), torch.full_like(o_l2sq, float("inf")))
        return CWResult(x_adv, l2, success, o_c.to(x.dtype))
