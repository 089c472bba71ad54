"""Device selection and moving (nested) batches between devices."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["get_device", "move_to"]


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: force a device type (``"cpu"``, ``"cuda"``, ``"mps"``). The environment
            variable ``COURSE_DEVICE`` does the same without editing a notebook.

    Returns:
        A :class:`torch.device`.

    Raises:
        RuntimeError: if the preferred device is not available on this machine.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer is not None:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("COURSE_DEVICE/prefer asks for CUDA, but torch.cuda.is_available() is False.")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("COURSE_DEVICE/prefer asks for MPS, but torch.backends.mps.is_available() is False.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def move_to(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move every tensor inside ``obj`` to ``device`` and keep the container types.

    Works recursively through dicts (and other mappings), lists, tuples, namedtuples and
    dataclass instances. Anything that is not a tensor is returned unchanged.

    Args:
        obj: a tensor or a nested container of tensors.
        device: the target device.
        non_blocking: passed to :meth:`torch.Tensor.to`; only helps for pinned CPU memory → CUDA.

    Returns:
        A new object of the same structure (tensors are not modified in place).
    """
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: move_to(getattr(obj, f.name), device, non_blocking)
                   for f in dataclasses.fields(obj) if f.init}
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, Mapping):
        return type(obj)({k: move_to(v, device, non_blocking) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(move_to(v, device, non_blocking) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(v, device, non_blocking) for v in obj)
    return obj
