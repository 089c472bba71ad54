"""Ready-made explorer tasks: an MLP on the digits, and an MLP on 2-D spirals.

A topic with a model of its own builds its own :class:`~course_utils.explorers.Task` (see
AUTHORING.md, "Adding an explorer to a topic"); these two cover the common case.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.data import digits_split, make_spirals
from course_utils.explorers.core import Data, Task
from course_utils.models import make_mlp

__all__ = ["digits_mlp_task", "spirals_task"]


def _mlp_probe(model: nn.Module, config: Mapping[str, Any], data: Data) -> dict[str, list[float]]:
    """``act_std``: std of each hidden activation on the validation inputs (one per hidden layer);
    ``grad_norm``: L2 norm of each Linear weight's gradient of the training loss (one per Linear)."""
    x_train, y_train, x_val, _ = data
    act_std: list[float] = []
    h = x_val
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if not isinstance(layer, (nn.Linear, nn.Dropout)):
                act_std.append(float(h.std()))
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x_train), y_train).backward()
    grad_norm = [float(m.weight.grad.norm()) if m.weight.grad is not None else 0.0
                 for m in model if isinstance(m, nn.Linear)]
    return {"act_std": act_std, "grad_norm": grad_norm}


def _digits_data(cfg: Mapping[str, Any]) -> Data:
    return tuple(digits_split(val_fraction=cfg["val_fraction"], seed=0, n_train=cfg["n_train"],  # type: ignore[return-value]
                              label_noise=cfg["label_noise"]))


def _digits_model(cfg: Mapping[str, Any]) -> nn.Module:
    return make_mlp(64, 10, width=cfg["width"], depth=cfg["depth"], activation=cfg["activation"],
                    dropout=cfg["dropout"], init=cfg["init"])


def digits_mlp_task(**defaults: Any) -> Task:
    """An MLP on scikit-learn's 8×8 digits (standardized, 10 classes, cross-entropy in nats).

    Task knobs (defaults): ``width`` (64), ``depth`` (2 hidden layers), ``activation``
    ("relu", see :data:`ACTIVATIONS`), ``init`` ("default", see :data:`INIT_SCHEMES`),
    ``dropout`` (0.0), ``n_train`` (None: all 1,438 training images; a small number makes
    overfitting visible), ``label_noise`` (0.0: the fraction of training labels replaced by a
    wrong class, see :func:`course_utils.data.digits_split`), ``val_fraction`` (0.2: 359
    validation images). The split itself is
    fixed (seed 0); ``seed`` changes only the init, dropout masks and batch order.

    Probe (in :attr:`History.extras`): ``act_std`` (one value per hidden layer) and ``grad_norm``
    (one per Linear layer), plus ``init_act_std`` and ``init_grad_norm`` at initialisation.

    Args:
        **defaults: override any default, task knob or training knob (e.g. ``steps=300``).

    Raises:
        ValueError: for a key that is neither a task knob nor a training knob.
    """
    base = {"width": 64, "depth": 2, "activation": "relu", "init": "default", "dropout": 0.0,
            "n_train": None, "label_noise": 0.0, "val_fraction": 0.2}
    task = Task("digits_mlp", _digits_model, _digits_data, probe=_mlp_probe, defaults=base,
                data_keys=("n_train", "label_noise", "val_fraction"))
    task.resolve(defaults)  # validates the keys
    return dataclasses.replace(task, defaults={**base, **defaults})


def _spirals_data(cfg: Mapping[str, Any]) -> Data:
    kw = {"n_per_class": cfg["n_per_class"], "noise": cfg["noise"], "turns": cfg["turns"]}
    x_train, y_train = make_spirals(seed=0, **kw)
    x_val, y_val = make_spirals(seed=1, **kw)  # a fresh noise draw for validation
    return x_train, y_train, x_val, y_val


def _spirals_model(cfg: Mapping[str, Any]) -> nn.Module:
    return make_mlp(2, 3, width=cfg["width"], depth=cfg["depth"], activation=cfg["activation"],
                    dropout=cfg["dropout"], init=cfg["init"])


def spirals_task(**defaults: Any) -> Task:
    """An MLP on three interleaved 2-D spirals (:func:`course_utils.data.make_spirals`).

    Task knobs (defaults): ``width`` (32), ``depth`` (2), ``activation`` ("relu"), ``init``
    ("default"), ``dropout`` (0.0), ``n_per_class`` (200), ``noise`` (0.2), ``turns`` (1.0).
    Training data use seed 0, validation data seed 1. Defaults also set ``steps=200`` and
    ``batch_size=128``. Same probe as :func:`digits_mlp_task`.

    Raises:
        ValueError: for a key that is neither a task knob nor a training knob.
    """
    base = {"width": 32, "depth": 2, "activation": "relu", "init": "default", "dropout": 0.0,
            "n_per_class": 200, "noise": 0.2, "turns": 1.0, "steps": 200, "batch_size": 128}
    task = Task("spirals_mlp", _spirals_model, _spirals_data, probe=_mlp_probe, defaults=base,
                data_keys=("n_per_class", "noise", "turns"))
    task.resolve(defaults)
    return dataclasses.replace(task, defaults={**base, **defaults})
