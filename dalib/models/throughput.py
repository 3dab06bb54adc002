"""Throughput of a classifier: training steps and inference batches per second, in images/s.

Used by ``notebooks/benchmarks/models.md`` to compare ViT and DiffViT side by side (interleaved
repeats in one process, so machine load affects both alike; report medians and ratios).
"""

import time

import torch
import torch.nn.functional as F

from ..device import resolve_device

MODES = ("train", "infer")


def measure_throughput(
    model,
    mode: str,
    batch_size: int = 128,
    steps: int = 5,
    warmup: int = 1,
    bf16: bool = False,
    img_size: int = 32,
    num_classes: int = 10,
    device="cpu",
    seed: int = 0,
) -> dict:
    """Throughput of ``steps`` timed iterations after ``warmup`` untimed ones:
    ``{"img_per_s": images per wall-clock second, "img_per_cpu_s": images per second of process
    CPU time (all threads; less sensitive to other processes on a shared machine)}``.

    ``mode="train"``: forward + cross-entropy + backward + Adam step (a copy of the weights is
    not made: the model is updated). ``mode="infer"``: forward under ``no_grad`` in eval mode.
    ``bf16`` autocasts to bfloat16 (training only in dalib; allowed here for both).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {list(MODES)}")
    if steps < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(f"need steps >= 1, warmup >= 0, batch_size >= 1; got {steps}, {warmup}, {batch_size}")
    dev = resolve_device(device)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, 3, img_size, img_size, generator=g).to(dev)
    y = torch.randint(0, num_classes, (batch_size,), generator=g).to(dev)
    model = model.to(dev)
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bf16)
    if mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=5e-4)

        def step():
            with autocast:
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    else:
        model.eval()

        @torch.no_grad()
        def step():
            with autocast:
                model(x)

    for _ in range(warmup):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"img_per_s": steps * batch_size / wall, "img_per_cpu_s": steps * batch_size / max(cpu, 1e-9)}
