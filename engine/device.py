"""Device choice in one place: `auto` means CUDA when torch sees it, else CPU; the code path is the same."""
from __future__ import annotations

import os

_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str | None = "auto") -> str:
    """Return 'cuda' or 'cpu'. Asking for cuda without one is an error the user should see."""
    from .errors import InputError

    choice = (choice or os.environ.get("SCENELENS_DEVICE") or "auto").lower()
    if choice not in _CHOICES:
        raise InputError(None, f"unknown device {choice!r}; use one of {', '.join(_CHOICES)}")
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError(None, "--device cuda asked for, but torch sees no CUDA device")
    return choice


def describe(device: str) -> str:
    """Short human label for the status bar, e.g. 'CUDA: NVIDIA H100' or 'CPU (1 job thread)' — the threads
    jobs really use (worker_threads), not the GUI thread's torch setting."""
    if device == "cuda":
        import torch

        return f"CUDA: {torch.cuda.get_device_name(0)}"
    n = worker_threads()
    return f"CPU ({n} job thread{'s' if n != 1 else ''})"


def worker_threads() -> int:
    """Threads for torch in a worker: leave one core to the GUI on small machines."""
    n = os.cpu_count() or 1
    return max(1, n - 1)
