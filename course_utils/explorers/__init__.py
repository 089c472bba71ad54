"""The explorers: retrain a tiny model when a knob moves, and watch the curves.

One job per module:

- :mod:`~course_utils.explorers.core`: :class:`Task`, :class:`History`, :func:`run` and its
  cache. Pure torch: no matplotlib, no widgets, no default task.
- :mod:`~course_utils.explorers.tasks`: ready-made tasks (:func:`digits_mlp_task`,
  :func:`spirals_task`).
- :mod:`~course_utils.explorers.knobs`: :class:`Knob`, one control per config key.
- :mod:`~course_utils.explorers.widgets`: :class:`LossCurveExplorer` and its right-hand panels
  (:class:`GridPanel`, :class:`CurvePanel`).
- :mod:`~course_utils.explorers.attention`: :class:`AttentionExplorer`.

Notebooks import from here (or from :mod:`course_utils`), never from the submodules' private
names. Typical use in a topic notebook::

    from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task

    LossCurveExplorer(
        digits_mlp_task(),
        knobs=[Knob.dropdown("init", ["default", "zeros", "normal_1", "normal_0.01", "xavier", "he"], "he"),
               Knob.int_slider("depth", 1, 10, 6)],
        fixed={"activation": "tanh"},
        extra_panel="init_act_std",
        prompt="Which init keeps the activations alive at depth 10?",
    )

A topic with a model of its own defines a :class:`Task` (AUTHORING.md, "Adding an explorer to a
topic", shows how).
"""
from course_utils.explorers.attention import AttentionExplorer
from course_utils.explorers.core import (
    OPTIMIZERS,
    SCHEDULES,
    TRAIN_DEFAULTS,
    Data,
    History,
    Task,
    cache_info,
    clear_cache,
    lr_multiplier,
    run,
)
from course_utils.explorers.knobs import Knob
from course_utils.explorers.tasks import digits_mlp_task, spirals_task
from course_utils.explorers.widgets import DISPLAY_WIDTH_PX, CurvePanel, GridPanel, LossCurveExplorer, predicted_class, what_to_try

__all__ = [
    "DISPLAY_WIDTH_PX",
    "OPTIMIZERS",
    "SCHEDULES",
    "TRAIN_DEFAULTS",
    "AttentionExplorer",
    "CurvePanel",
    "Data",
    "GridPanel",
    "History",
    "Knob",
    "LossCurveExplorer",
    "Task",
    "cache_info",
    "clear_cache",
    "digits_mlp_task",
    "lr_multiplier",
    "predicted_class",
    "run",
    "spirals_task",
    "what_to_try",
]
