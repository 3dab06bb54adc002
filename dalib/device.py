"""Device selection: every entry point takes ``device="auto"`` and resolves it here."""

import torch


def resolve_device(device="auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else MPS if available, else CPU; anything else is passed
    to ``torch.device`` (a bad string raises ``ValueError`` naming it)."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string like 'auto', 'cpu' or 'cuda:0', got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use device='auto' or 'cpu'")
    return dev
