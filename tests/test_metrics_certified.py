"""Certified radius (dalib.metrics.certified): margin / local Lipschitz of the logits."""

import math

import pytest
import torch
from torch import nn

from dalib.metrics import certified_radius, margin
from dalib.models import create_model


def test_margin():
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    torch.testing.assert_close(margin(logits, torch.tensor([0, 0])), torch.tensor([1.0, -3.0]))


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 4, dtype=torch.float64)

    def forward(self, x):  # (B, 3, 2, 2) -> (B, 4)
        return self.fc(x.flatten(1))


def test_linear_classifier_radius_is_margin_over_spectral_norm():
    torch.manual_seed(0)
    model = _Linear()
    x = torch.rand(3, 3, 2, 2, dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    sigma = torch.linalg.matrix_norm(model.fc.weight, ord=2).item()
    m = margin(model(x), y)
    rows = certified_radius(model, x, y, n_iter=300)
    for b, r in enumerate(rows):
        assert r["L_logits"] == pytest.approx(sigma, rel=1e-6)
        assert r["radius"] == pytest.approx(m[b].item() / sigma, rel=1e-6)
        assert r["radius_clipped"] == max(r["radius"], 0.0)
        assert r["correct"] == (r["margin"] > 0)
    tsuzuku = certified_radius(model, x, y, n_iter=300, factor=math.sqrt(2))
    assert tsuzuku[0]["radius"] == pytest.approx(rows[0]["radius"] / math.sqrt(2), rel=1e-9)
    sampled = certified_radius(model, x, y, estimator="sampling", n_samples=16)
    for r in sampled:  # the sampling estimate of L is a lower bound of the spectral norm
        assert r["L_logits"] <= sigma * (1 + 1e-12)


def test_rows_on_tiny_model_and_errors():
    torch.manual_seed(0)
    model = create_model("diffvit", depth=1, img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)
    x = torch.rand(2, 3, 8, 8)
    rows = certified_radius(model, x, torch.tensor([0, 2]), estimator="ascent", steps=3, sample_offset=10)
    assert [r["sample"] for r in rows] == [10, 11] and all(r["L_logits"] > 0 for r in rows)
    with pytest.raises(ValueError, match="labels"):
        certified_radius(model, x, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="estimator"):
        certified_radius(model, x, torch.tensor([0, 1]), estimator="exact")
    with pytest.raises(ValueError, match="y must"):
        certified_radius(model, x, torch.tensor([0]))
