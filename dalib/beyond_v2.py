"""Beyond the paper: Differential Attention V2 layers measured against the extended Lemma 1.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*; its Lemma 1 assumes a constant lambda. :mod:`dalib.theory_v2` extends it to
V2's ``lambda_t(x) = sigmoid(w . x_t)``. Here the quantities of that extension are measured exactly
on a V2 model: per image, head and query row, the Jacobians of the rows of ``A1``, ``A2`` and of
``lambda_t`` with respect to the image (float64, ``torch.func.jacrev``).
"""

from __future__ import annotations

import torch

from .models import create_model, zoo
from .models.attention import attention_maps
from .theory_v2 import row_quantities

#: the V2 model the theory page measures when the zoo has it: the cpu chapter's seed 0
TRAINED = {"model": "diffv2", "depth": 1, "seed": 0, "train_profile": "cpu"}


def trained_or_seeded_v2():
    """``(model, source)``: the trained V2 of :data:`TRAINED` from the committed zoo (float64), or,
    where the zoo lacks it, a seeded random one-block V2 (and ``source`` says which). Never trains."""
    from .train import config_from_parameters, recipe_of, run_name, train_from_parameters

    recipe = recipe_of(TRAINED)
    name = run_name(config_from_parameters(recipe))
    if zoo.has_entry(name):
        res = train_from_parameters(recipe, progress=False)
        acc = res.test_accuracy
        return res.model.double().eval(), f"trained V2 from the zoo: {name} (clean accuracy {acc:.3f})"
    torch.manual_seed(0)
    model = create_model("diffv2", depth=1, img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)
    return model.double().eval(), f"seeded random V2 (zoo entry {name} not present): width 16, 4 tokens + class token"


def exact_rows(model, x, rows=(0, 1)) -> list:
    """The extended Lemma 1's quantities (:func:`dalib.theory_v2.row_quantities`) of the first
    attention layer of ``model``, per image of ``x`` ``(B, 3, H, W)``, head and query row in ``rows``."""
    model = model.double().eval()
    rows = list(rows)

    def branch_rows(xb):  # one image (3, H, W) -> a1, a2 rows (H, R, N), lambda (H, R)
        m = attention_maps(model, xb[None])[0]
        return m["A1"][0][:, rows], m["A2"][0][:, rows], m["lambda"][0][:, rows, 0]

    out = []
    for b in range(len(x)):
        xb = x[b].double()
        with torch.no_grad():
            a1, a2, lam = branch_rows(xb)
        J1, J2, G = torch.func.jacrev(branch_rows)(xb)  # (H, R, N, 3, H, W) twice, (H, R, 3, H, W)
        heads, R, N = a1.shape
        J1, J2, G = J1.reshape(heads, R, N, -1), J2.reshape(heads, R, N, -1), G.reshape(heads, R, -1)
        for h in range(heads):
            for i, t in enumerate(rows):
                q = row_quantities(
                    J1[h, i].detach().numpy(),
                    J2[h, i].detach().numpy(),
                    G[h, i].detach().numpy(),
                    float(lam[h, i]),
                    a2[h, i].numpy(),
                )
                out.append({"image": b, "head": h, "row": t, **q})
    return out


QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


@torch.no_grad()
def lambda_rows(model, x, batch_size: int = 250) -> list:
    """The learned lambda of every layer and head of a differential ``model`` at images ``x``: for V2,
    its distribution over the images and tokens (``mean``, ``std``, the :data:`QUANTILES`, the share
    above 0.5, and ``mean_by_token``, the mean per token position as JSON text); for a constant-lambda
    kind (DiffViT), the one value per layer (``head`` -1, every statistic that value)."""
    import json

    from .metrics.maps import layer_lambdas

    consts = layer_lambdas(model)
    if consts and consts[0] is not None and consts[0] == consts[0]:  # a constant lambda per layer
        return [
            {"layer": layer, "head": -1, "kind": "scalar", "mean": v, "std": 0.0, **{f"q{q:g}": v for q in QUANTILES}}
            for layer, v in enumerate(consts)
        ]
    per_layer = None
    for i in range(0, len(x), batch_size):
        maps = attention_maps(model.eval(), x[i : i + batch_size])
        lam = [m["lambda"][..., 0].float() for m in maps]  # per layer (B, H, N)
        per_layer = lam if per_layer is None else [torch.cat([a, b]) for a, b in zip(per_layer, lam)]
    out = []
    for layer, lam in enumerate(per_layer):
        for h in range(lam.shape[1]):
            v = lam[:, h]  # (images, tokens)
            flat = v.reshape(-1)
            qs = torch.quantile(flat.double(), torch.tensor(QUANTILES, dtype=torch.float64))
            out.append(
                {
                    "layer": layer,
                    "head": h,
                    "kind": "token",
                    "mean": float(flat.mean()),
                    "std": float(flat.std()),
                    **{f"q{q:g}": float(val) for q, val in zip(QUANTILES, qs)},
                    "above_half": float((flat > 0.5).double().mean()),
                    "mean_by_token": json.dumps([round(float(t), 5) for t in v.mean(0)]),
                }
            )
    return out
