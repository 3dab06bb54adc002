"""Peak memory and time of one PGD step on the CLIP/DiffCLIP image encoder, and the batch size
that fits a memory budget.

Used by ``notebooks/benchmarks/clip_memory.md`` (paper Fig. 2b/2d need PGD on ViT-B/16 at 224 px).
Each measurement runs in a fresh Python process, so its peak resident set size (``ru_maxrss``) is
that of one model and one batch alone: the weights, the activations kept for the backward pass
and the allocator's slack. On a GPU the peak is ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import torch
from dalib.attacks.losses import CosineLoss
from dalib.device import resolve_device
from dalib.models.clip import CLIPImageEncoder, create_clip

a = json.loads(sys.argv[1])
torch.set_num_threads(a["num_threads"])
torch.manual_seed(0)
dev = resolve_device(a["device"])
enc = CLIPImageEncoder(create_clip(a["model"], **a["arch"])).eval().to(dev)
for p in enc.parameters():
    p.requires_grad_(False)
S = enc.image_size
loss = CosineLoss(torch.nn.functional.normalize(torch.randn(10, enc.image_projection.shape[1]), dim=-1))
x = torch.rand(a["batch_size"], 3, S, S, device=dev)
y = torch.arange(a["batch_size"], device=dev) % 10
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for i in range(a["warmup"] + a["steps"]):
    xr = x.clone().requires_grad_(True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    (g,) = torch.autograd.grad(loss(enc(xr), y).sum(), xr)  # one PGD step: forward, loss, input gradient
    x = (x + 1e-3 * g.sign()).clamp(0, 1)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    if i >= a["warmup"]:
        times.append(time.perf_counter() - t0)
peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda" else
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print(json.dumps({"peak_bytes": peak, "model_rss_bytes": rss0 * 1024, "step_s": sorted(times)[len(times) // 2],
                  "device": str(dev)}))
"""


def pgd_step_cost(
    model: str,
    batch_size: int,
    *,
    arch: dict | None = None,
    steps: int = 2,
    warmup: int = 1,
    device: str = "cpu",
    num_threads: int = 2,
    timeout_s: float = 1800,
) -> dict:
    """One PGD step (forward, cosine loss, gradient w.r.t. the input) of ``model``'s image
    encoder on ``batch_size`` images, in a fresh process: ``{peak_bytes, model_rss_bytes, step_s
    (median of steps), device}``."""
    args = json.dumps(
        {
            "model": model,
            "batch_size": int(batch_size),
            "arch": dict(arch or {}),
            "steps": int(steps),
            "warmup": int(warmup),
            "device": device,
            "num_threads": int(num_threads),
        }
    )
    r = subprocess.run([sys.executable, "-c", _CHILD, args], capture_output=True, text=True, timeout=timeout_s)
    if r.returncode:
        raise RuntimeError(f"pgd_step_cost({model}, batch {batch_size}) failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fit_batch_size(rows, budget_bytes: float, headroom: float = 0.8) -> int:
    """The largest batch size whose peak memory, extrapolated linearly from measured ``rows``
    (dicts with ``batch_size`` and ``peak_bytes``, at least two sizes), stays under
    ``headroom * budget_bytes``; at least 1."""
    pts = sorted({(int(r["batch_size"]), float(r["peak_bytes"])) for r in rows})
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        raise ValueError("fit_batch_size needs peak memory at two different batch sizes")
    (b0, m0), (b1, m1) = pts[0], pts[-1]
    per_image = max((m1 - m0) / (b1 - b0), 1.0)
    fixed = m0 - per_image * b0
    return max(1, int((headroom * budget_bytes - fixed) // per_image))


_LOAD_CHILD = r"""
import json, sys, time
import torch
from dalib.models.clip import create_clip
from dalib.models.clip_weights import load_state, read_checkpoint

def kb(field):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field))

a = json.loads(sys.argv[1])
torch.set_num_threads(1)
model = create_clip(a["model"], **a["arch"])  # the model's own memory is not part of the reading's cost
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
rss0 = kb("VmRSS:")
t0 = time.perf_counter()
if a["how"] == "dalib":  # weights_only=True, memory-mapped, everything but the state_dict dropped
    load_state(model, read_checkpoint(a["path"]))
else:  # "whole": the whole pickle read into memory (torch.load(weights_only=False), no mmap)
    obj = torch.load(a["path"], map_location="cpu", weights_only=False)
    load_state(model, {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj["state_dict"].items()})
print(json.dumps({"peak_extra_bytes": (kb("VmHWM:") - rss0) * 1024, "load_s": time.perf_counter() - t0}))
"""

LOAD_WAYS = {
    "dalib": "dalib.models.clip_weights.read_checkpoint: weights_only=True, mmap=True, only state_dict kept",
    "whole": "torch.load(weights_only=False) without mmap: the whole pickle (weights, optimiser, scaler) in memory",
}


def checkpoint_load_cost(model: str, path, how: str, *, arch: dict | None = None, timeout_s: float = 1800) -> dict:
    """Peak memory above the process's resident set (with the model already built) and time of
    loading the release-style checkpoint ``path`` into ``model`` one way of :data:`LOAD_WAYS`, in
    a fresh process (Linux: the peak is VmHWM, reset before the load): ``{peak_extra_bytes, load_s}``."""
    if how not in LOAD_WAYS:
        raise ValueError(f"how must be one of {sorted(LOAD_WAYS)}, got {how!r}")
    args = json.dumps({"model": model, "arch": dict(arch or {}), "path": str(path), "how": how})
    r = subprocess.run([sys.executable, "-c", _LOAD_CHILD, args], capture_output=True, text=True, timeout=timeout_s)
    if r.returncode:
        raise RuntimeError(f"checkpoint_load_cost({model}, {how}) failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])
