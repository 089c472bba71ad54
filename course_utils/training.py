"""A plain reference training loop for classifiers.

Notebooks use it for demonstrations *after* the student has written their own loop
(topic 31 builds the production version with clipping, schedulers and checkpoints).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

__all__ = ["accuracy", "train_classifier"]


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the target.

    Args:
        logits: float tensor (N, C).
        targets: int64 tensor (N,).

    Returns:
        A Python float in [0, 1].

    Raises:
        ValueError: if the batch sizes differ.
    """
    if logits.shape[0] != targets.shape[0]:
        raise ValueError(f"logits has {logits.shape[0]} rows but targets has {targets.shape[0]}")
    return (logits.argmax(dim=-1) == targets).float().mean().item()


def train_classifier(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    device: torch.device | str = "cpu",
    optimizer_factory: Callable[..., torch.optim.Optimizer] = torch.optim.Adam,
) -> list[dict[str, float]]:
    """Train with cross-entropy and return one dict per epoch.

    Each dict has ``train_loss`` (per-sample mean over the epoch), ``val_loss`` and
    ``val_accuracy``. Losses are in nats. The model is left in eval mode.
    """
    model.to(device)
    opt = optimizer_factory(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for _ in range(epochs):
        model.train()
        total, n = 0.0, 0
        for xb, yb in train_loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
            n += len(xb)
        model.eval()
        vl, va, vn = 0.0, 0.0, 0
        with torch.no_grad():
            for xb, yb in val_loader:
                xb, yb = xb.to(device), yb.to(device)
                logits = model(xb)
                vl += loss_fn(logits, yb).item() * len(xb)
                va += accuracy(logits, yb) * len(xb)
                vn += len(xb)
        history.append({"train_loss": total / n, "val_loss": vl / vn, "val_accuracy": va / vn})
    return history
