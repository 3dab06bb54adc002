"""Shared tiny seeded models and an easy seeded task for the attack tests (no tests here)."""

import torch
from torch import nn

N_CLASSES = 4
SHAPE = (3, 8, 8)  # (channels, height, width)


class TinyNet(nn.Module):
    """A small MLP on [0, 1] images with normalisation inside and dropout (so train/eval differ)."""

    def __init__(self, n_classes=N_CLASSES, shape=SHAPE, hidden=64, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("mean", torch.full((shape[0], 1, 1), 0.5))
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(int(torch.tensor(shape).prod()), hidden),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(hidden, n_classes),
        )
        with torch.no_grad():
            for p in self.parameters():
                if p.dim() > 1:
                    p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)

    def forward(self, x):
        return self.net((x - self.mean) / 0.25)


def easy_task(n, seed=0, n_classes=N_CLASSES, shape=SHAPE, noise=0.2):
    """Images ``clamp(mu_y + noise * N(0, 1), 0, 1)`` around seeded class prototypes ``mu_y``."""
    g = torch.Generator().manual_seed(1234)
    protos = 0.45 + 0.1 * torch.rand((n_classes, *shape), generator=g)
    g.manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = (protos[y] + noise * torch.randn((n, *shape), generator=g)).clamp(0, 1)
    return x, y


def trained_net(steps=300, seed=0):
    """TinyNet trained on the easy task (about a second on CPU); returned in eval mode."""
    model = TinyNet(seed=seed)
    x, y = easy_task(2048, seed=seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (128,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model


def one_thread():
    """Generator for an autouse fixture: the tiny models here run fastest on one thread (two
    OpenMP threads spin-wait on a busy shared machine); restores the previous setting."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
