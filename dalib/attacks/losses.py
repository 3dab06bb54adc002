"""Attack objectives: per-sample losses that an attack MAXIMISES.

A loss is any callable ``loss(output, y) -> (B,)`` tensor (one value per sample, larger = more
adversarial). A loss may also define ``predict(output) -> (B,)`` class predictions; attacks and
:mod:`dalib.attacks.evaluate` use it to decide success (prediction != label). Without it the
prediction is ``output.argmax(-1)``.

- :class:`CrossEntropyLoss`: untargeted cross-entropy of the logits (ViT / DiffViT; paper
  Appendix C.2.1: "minimises the (negative) cross-entropy").
- :class:`CosineLoss` / :func:`cosine_loss`: the CLIP objective of the paper (Appendix C.2.1),
  ``min_delta cos(phi_visual(x + delta), phi_text(t_y))``, i.e. maximise
  ``-cos(phi_visual(x + delta), phi_text(t_y))``; ``predict`` is zero-shot classification
  (argmax of the cosine over all class prompts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class CrossEntropyLoss:
    """``L(z, y) = -log softmax(z)_y`` per sample (untargeted: the attack maximises it)."""

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, reduction="none")

    @staticmethod
    def predict(logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1)

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"

    def __eq__(self, other) -> bool:
        return isinstance(other, CrossEntropyLoss)

    __hash__ = object.__hash__


class CosineLoss:
    """``L(e, y) = -cos(e, T_y)`` with ``e`` the image embedding (B, D) (the model's output) and
    ``T`` the class-prompt text embeddings (num_classes, D), e.g. of "a photo of a <class>".

    Maximising ``L`` minimises the cosine similarity between the perturbed image and its own class
    prompt (paper Appendix C.2.1). ``predict`` gives CLIP's zero-shot prediction
    ``argmax_c cos(e, T_c)``.
    """

    def __init__(self, text_embeddings: torch.Tensor):
        if not isinstance(text_embeddings, torch.Tensor) or text_embeddings.dim() != 2:
            raise ValueError(
                "CosineLoss: text_embeddings must be a (num_classes, D) tensor, got "
                f"{getattr(text_embeddings, 'shape', type(text_embeddings).__name__)}"
            )
        self.text_embeddings = F.normalize(text_embeddings.detach().float(), dim=-1)

    def _text(self, like: torch.Tensor) -> torch.Tensor:
        return self.text_embeddings.to(device=like.device, dtype=like.dtype)

    def __call__(self, embeddings: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = self._text(embeddings)[y]  # (B, D)
        return -F.cosine_similarity(embeddings, t, dim=-1)

    def predict(self, embeddings: torch.Tensor) -> torch.Tensor:
        return (F.normalize(embeddings, dim=-1) @ self._text(embeddings).T).argmax(-1)

    def __repr__(self) -> str:
        C, D = self.text_embeddings.shape
        return f"CosineLoss(text_embeddings=<{C}x{D}>)"


def cosine_loss(text_embeddings: torch.Tensor) -> CosineLoss:
    """The CLIP attack objective: ``PGD(clip_visual, loss=cosine_loss(T))``; see :class:`CosineLoss`."""
    return CosineLoss(text_embeddings)


def predict_fn(loss):
    """The prediction rule that goes with ``loss``: its ``predict`` method, else argmax."""
    p = getattr(loss, "predict", None)
    return p if callable(p) else (lambda out: out.argmax(-1))
