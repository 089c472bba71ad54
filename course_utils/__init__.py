"""Helpers shared by every notebook of the course.

One job per module:

- :mod:`course_utils.device`   — pick cuda / mps / cpu, move nested batches.
- :mod:`course_utils.seed`     — make runs repeatable.
- :mod:`course_utils.data`     — offline data sets (digits, spirals) as tensors and loaders.
- :mod:`course_utils.plotting` — the few plots every topic draws.
- :mod:`course_utils.training` — a plain reference training loop, used *after* a student wrote theirs.
- :mod:`course_utils.testing`  — assertions with clear messages, for the notebooks' test cells.
- :mod:`course_utils.models`   — small model builders: ``make_mlp``, ``init_weights_``, ``FastDropout``.
- :mod:`course_utils.explorers` — the loss-curve explorer (retrain on a slider move) and the attention explorer.
"""
from course_utils.data import (
    digits_loaders,
    digits_split,
    load_digits_tensors,
    make_spirals,
)
from course_utils.device import get_device, move_to
from course_utils.explorers import AttentionExplorer, Knob, LossCurveExplorer, Task, digits_mlp_task, what_to_try
from course_utils.models import ACTIVATIONS, INIT_SCHEMES, FastDropout, init_weights_, make_mlp
from course_utils.plotting import plot_curves, plot_per_layer
from course_utils.seed import seed_everything
from course_utils.training import accuracy, train_classifier

__all__ = [
    "ACTIVATIONS",
    "INIT_SCHEMES",
    "AttentionExplorer",
    "FastDropout",
    "Knob",
    "LossCurveExplorer",
    "Task",
    "digits_mlp_task",
    "what_to_try",
    "accuracy",
    "digits_loaders",
    "digits_split",
    "get_device",
    "init_weights_",
    "load_digits_tensors",
    "make_mlp",
    "make_spirals",
    "move_to",
    "plot_curves",
    "plot_per_layer",
    "seed_everything",
    "train_classifier",
]
