"""Where tensors live: pick a device and say in words which one it is.

"auto" prefers CUDA, then Apple's MPS, then the CPU. Asking explicitly for "cuda" or
"mps" on a machine without one is an error (DeviceUnavailableError, a ValueError)
rather than a silent fallback: a user who asked for a GPU should know they did not
get one. Code that must run anywhere (e.g. loading a saved model) passes "auto" or "cpu".
"""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailableError(ValueError):
    """The requested accelerator is not present on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """The device names usable here, best first (always ends with "cpu")."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    return names + ["cpu"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn "auto" | "cpu" | "cuda" | "cuda:1" | "mps" into a torch.device that exists here."""
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise DeviceUnavailableError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {name!r}")
    key = name.strip().lower()
    if key == "auto":
        return torch.device(available_devices()[0])
    kind = key.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise DeviceUnavailableError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {name!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            "device 'cuda' was requested but no CUDA GPU is available here; choose 'auto' or 'cpu'"
        )
    if kind == "mps" and not _mps_available():
        raise DeviceUnavailableError(
            "device 'mps' was requested but Apple MPS is not available here; choose 'auto' or 'cpu'"
        )
    try:
        device = torch.device(key)
    except RuntimeError as exc:
        raise DeviceUnavailableError(f"device {name!r} is not valid: {exc}") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
    return device


def describe_device(device: str | torch.device) -> str:
    """A short human description, e.g. "CPU (2 threads)" or "GPU: NVIDIA H100 80GB HBM3"."""
    device = resolve_device(device)
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
