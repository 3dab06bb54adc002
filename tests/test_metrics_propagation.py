"""Perturbation propagation through the blocks (dalib.metrics.propagation) on tiny seeded models."""

import pytest
import torch

from dalib.metrics.propagation import block_lipschitz, block_states, perturbation_propagation, propagation_rows
from dalib.models import create_model

TINY = dict(depth=2, img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)


@pytest.fixture(scope="module", params=["vit", "diffvit"])
def setup(request):
    torch.manual_seed(0)
    net = create_model(request.param, **TINY).double().eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 8, 8, generator=g, dtype=torch.float64)
    return net, x


def test_states_are_the_blocks_inputs_and_outputs(setup):
    net, x = setup
    hs = block_states(net, x)
    assert len(hs) == TINY["depth"] + 1 and all(h.shape == (3, 5, 16) for h in hs)
    for d, block in enumerate(net.vit.blocks):  # h^(d) = block_d(h^(d-1))
        torch.testing.assert_close(block(hs[d]), hs[d + 1])
    # the classifier's own forward goes through the same states
    torch.testing.assert_close(net.vit.forward_head(net.vit.norm(hs[-1])), net(x))


def test_first_delta_is_the_linear_embedding_of_xi(setup):
    net, x = setup
    xi = 1e-3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    prop = perturbation_propagation(net, x, xi)
    emb = net.vit.patch_embed.proj  # patch embedding is linear; position embedding and class token cancel
    want = torch.nn.functional.conv2d(xi / net.std, emb.weight, stride=emb.stride).flatten(1).norm(dim=1)
    torch.testing.assert_close(prop["delta"][:, 0], want)
    torch.testing.assert_close(prop["gain"], prop["delta"][:, 1:] / prop["delta"][:, :-1])
    zero = perturbation_propagation(net, x, torch.zeros_like(x))
    assert (zero["delta"] == 0).all() and torch.isnan(zero["gain"]).all()
    with pytest.raises(ValueError, match="shape of x"):
        perturbation_propagation(net, x, xi[:1])


def test_block_lipschitz_is_the_spectral_norm_of_the_block_jacobian(setup):
    net, x = setup
    L = block_lipschitz(net, x[:1], n_iter=300, tol=1e-12)
    hs = [h.detach() for h in block_states(net, x[:1])]
    for d, block in enumerate(net.vit.blocks):
        J = torch.autograd.functional.jacobian(lambda h: block(h.unsqueeze(0))[0], hs[d][0])  # (N, C, N, C)
        sigma = float(torch.linalg.matrix_norm(J.reshape(5 * 16, 5 * 16), ord=2))
        # power iteration approaches the top singular value from below
        assert sigma * (1 - 1e-4) <= float(L[0, d]) <= sigma * (1 + 1e-9)


def test_alpha_is_at_most_one_to_first_order_and_rows_are_per_image(setup):
    net, x = setup
    xi = 1e-6 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    rows = propagation_rows(net, x, xi, kind="random", n_iter=200, image_offset=10, name="m")
    assert len(rows) == 3 * TINY["depth"] and {r["image"] for r in rows} == {10, 11, 12}
    assert all(0 < r["alpha"] <= 1 + 1e-5 and r["name"] == "m" and r["perturbation"] == "random" for r in rows)
    # one image alone gives the same rows as in the batch (blocks act per image). Up to rounding:
    # a CPU kernel sums in another order for a batch of 3 than for 1 (AVX2 differs from AVX-512 and
    # AMX in the 12th-14th digit in float64), so floats match to 1e-9 relative, the rest exactly
    one = propagation_rows(net, x[1:2], xi[1:2], kind="random", n_iter=200, image_offset=11, name="m")
    batch = [r for r in rows if r["image"] == 11]
    assert len(one) == len(batch)
    for a, b in zip(one, batch):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float):
                assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-15), k
            else:
                assert a[k] == b[k], k


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n_images=0), "n_images must be a positive int"),
        (dict(n_lip=10), r"n_lip must be an int in \[0, n_images=6\]"),
        (dict(lip_worst=4, n_lip=2), "lip_worst=4 exceeds n_lip=2"),
        (dict(random_eps=[0]), "random_eps must be a list of budgets"),
        (dict(random_eps=[], pgd_eps=[]), "both empty"),
        (dict(dataset="tiny-imagenet-valsplit", recipe={"num_classes": 200}, n_images=3000), "exceeds the 2000 images"),
        (dict(recipe={"patch_size": 5}), "not divisible by patch_size 5"),
    ],
)
def test_propagation_notebook_validator(kw, match):
    from dalib.run import notebook_parameters
    from dalib.validators import check_propagation

    with pytest.raises(ValueError, match=match):
        check_propagation({**notebook_parameters("propagation", "smoke"), **kw})
