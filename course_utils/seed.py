"""Repeatable runs."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything"]


def seed_everything(seed: int = 0, deterministic: bool = False) -> torch.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device).

    Args:
        seed: a non-negative integer.
        deterministic: also call ``torch.use_deterministic_algorithms(True)`` (slower on GPU;
            see https://pytorch.org/docs/stable/notes/randomness.html).

    Returns:
        A fresh CPU :class:`torch.Generator` seeded with ``seed``, for code that wants explicit
        randomness (tests do).

    Raises:
        ValueError: if ``seed`` is negative.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)
