"""Offline data sets as tensors: scikit-learn's bundled digits, and synthetic spirals.

Nothing here downloads anything; every function runs on a machine with no network.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["DigitsSplit", "load_digits_tensors", "digits_split", "digits_loaders", "make_spirals"]


@lru_cache(maxsize=1)
def _digits_raw() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits  # ships inside scikit-learn: no download

    bunch = load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32)  # (1797, 64), pixel values 0..16
    y = torch.tensor(bunch.target, dtype=torch.int64)  # (1797,), classes 0..9
    return x, y


def load_digits_tensors(scale: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 scikit-learn digits (8×8 grey images of the digits 0–9).

    Args:
        scale: divide the pixel values (0–16) by 16, so they lie in [0, 1].

    Returns:
        ``(x, y)``: ``x`` float32 of shape (1797, 64), ``y`` int64 of shape (1797,).
        Fresh copies: changing them does not change later calls.
    """
    x, y = _digits_raw()
    x = x / 16.0 if scale else x.clone()
    return x, y.clone()


class DigitsSplit(NamedTuple):
    """A standardized train/validation split. ``x_*`` float32 (N, 64); ``y_*`` int64 (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def digits_split(
    val_fraction: float = 0.2,
    seed: int = 0,
    n_train: int | None = None,
    label_noise: float = 0.0,
) -> DigitsSplit:
    """Shuffle the digits, split them, and standardize with the *training* statistics.

    Each pixel becomes ``(x - mean_train) / std_train``; pixels that are constant in the
    training set (the image corners) are only centred. Using the training statistics for the
    validation set too is what keeps validation honest.

    Args:
        val_fraction: share of the 1,797 images held out, in (0, 1).
        seed: seed of the shuffle (a private generator; the global RNG is untouched).
        n_train: keep only the first ``n_train`` training images (to make overfitting easy
            to see). ``None`` keeps them all.
        label_noise: fraction of *training* labels replaced by a different, random class
            (validation labels stay clean). Noisy labels make memorisation visible.

    Returns:
        A :class:`DigitsSplit`.

    Raises:
        ValueError: if ``val_fraction`` or ``label_noise`` is out of range, or ``n_train`` is not positive.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be in [0, 1], got {label_noise}")
    x, y = _digits_raw()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_val = int(round(len(x) * val_fraction))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    if n_train is not None:
        if n_train <= 0:
            raise ValueError(f"n_train must be positive, got {n_train}")
        train_idx = train_idx[:n_train]
    x_train, x_val = x[train_idx], x[val_idx]
    mean = x_train.mean(dim=0)
    std = x_train.std(dim=0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    y_train = y[train_idx].clone()
    if label_noise > 0:
        g = torch.Generator().manual_seed(seed + 1)
        flip = torch.rand(len(y_train), generator=g) < label_noise
        shift = torch.randint(1, 10, (int(flip.sum()),), generator=g)  # never the true class
        y_train[flip] = (y_train[flip] + shift) % 10
    return DigitsSplit((x_train - mean) / std, y_train, (x_val - mean) / std, y[val_idx].clone())


def digits_loaders(
    batch_size: int = 64,
    val_fraction: float = 0.2,
    seed: int = 0,
    n_train: int | None = None,
    label_noise: float = 0.0,
) -> tuple[DataLoader, DataLoader]:
    """Train and validation :class:`~torch.utils.data.DataLoader` objects over :func:`digits_split`.

    The training loader shuffles with its own generator seeded by ``seed``, so the batch
    order is repeatable; the validation loader does not shuffle. ``n_train`` and
    ``label_noise`` are passed to :func:`digits_split`. Batches are
    ``(x float32 (B, 64), y int64 (B,))`` on the CPU: move them with ``.to(device)``.
    """
    split = digits_split(val_fraction=val_fraction, seed=seed, n_train=n_train, label_noise=label_noise)
    train = DataLoader(
        TensorDataset(split.x_train, split.y_train),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    val = DataLoader(TensorDataset(split.x_val, split.y_val), batch_size=512, shuffle=False)
    return train, val


def make_spirals(
    n_per_class: int = 200,
    n_classes: int = 3,
    noise: float = 0.2,
    turns: float = 1.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interleaved 2-D spirals: a classic task that no linear model can solve.

    The ``n_per_class`` points of class ``c`` lie at radii ``r`` evenly spaced from 0.05 to 1
    (``torch.linspace(0.05, 1.0, n_per_class)``) and angles ``θ = 2π·turns·r + 2πc / n_classes``,
    plus Gaussian noise of std ``noise`` (radians) on θ; a point is ``(r cos θ, r sin θ)``.

    Returns:
        ``(x, y)``: ``x`` float32 (n_per_class·n_classes, 2), inside the unit disc;
        ``y`` int64 class labels in ``[0, n_classes)``.

    Raises:
        ValueError: if ``n_per_class < 1`` or ``n_classes < 2``.
    """
    if n_per_class < 1 or n_classes < 2:
        raise ValueError("need n_per_class >= 1 and n_classes >= 2")
    g = torch.Generator().manual_seed(seed)
    r = torch.linspace(0.05, 1.0, n_per_class)
    xs, ys = [], []
    for c in range(n_classes):
        theta = 2 * math.pi * turns * r + 2 * math.pi * c / n_classes
        theta = theta + noise * torch.randn(n_per_class, generator=g)
        xs.append(torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1))
        ys.append(torch.full((n_per_class,), c, dtype=torch.int64))
    return torch.cat(xs), torch.cat(ys)
