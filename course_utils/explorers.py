"""The loss-curve explorer: retrain a tiny model when a knob moves, and watch the curves.

Two layers, kept apart so that tests can drive each one:

- **A pure core.** :func:`run` trains the small model of a :class:`Task` on a small offline
  data set and returns a :class:`History` (train loss at every step, validation loss every
  ``eval_every`` steps). It is deterministic for a given ``seed``, cached by config (an
  in-memory LRU), and a run whose loss goes non-finite stops early with
  ``History.diverged=True``: a result to show, not an exception.
- **The widgets.** :class:`LossCurveExplorer` wires ipywidgets controls (:class:`Knob`) to
  :func:`run` and draws the curves; :class:`AttentionExplorer` shows attention weights that
  a notebook already computed. Both draw into one matplotlib figure, created once, whose
  artists are updated in place; the figure is shown as a PNG inside an ``ipywidgets.Image``.
  Executed headless (nbval, nbgrader, nbconvert), they fall back to that static PNG.

Typical use in a topic notebook::

    from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task

    LossCurveExplorer(
        digits_mlp_task(),
        knobs=[Knob.dropdown("init", ["default", "zeros", "normal_1", "normal_0.01", "xavier", "he"], "he"),
               Knob.int_slider("depth", 1, 10, 6)],
        fixed={"activation": "tanh"},
        extra_panel="init_act_std",
        prompt="Which init keeps the activations alive at depth 10?",
    )
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import random
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import MaxNLocator
from torch import nn

from course_utils.data import digits_split, make_spirals
from course_utils.seed import seed_everything

__all__ = [
    "ACTIVATIONS",
    "INIT_SCHEMES",
    "OPTIMIZERS",
    "SCHEDULES",
    "TRAIN_DEFAULTS",
    "AttentionExplorer",
    "Data",
    "FastDropout",
    "GridPanel",
    "History",
    "Knob",
    "LossCurveExplorer",
    "Task",
    "cache_info",
    "clear_cache",
    "digits_mlp_task",
    "init_weights_",
    "lr_multiplier",
    "make_mlp",
    "run",
    "spirals_task",
    "what_to_try",
]

# ----------------------------------------------------------------------------------------------
# The pure core
# ----------------------------------------------------------------------------------------------

#: Training knobs that :func:`run` itself handles. Every other config key goes to the task.
TRAIN_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    "lr": 1e-2,              # peak learning rate
    "optimizer": "adam",     # one of OPTIMIZERS
    "momentum": 0.0,         # SGD momentum; "momentum"/"nesterov" use 0.9 while it is 0; Adam ignores it
    "batch_size": 64,        # examples per step (capped at the training-set size)
    "steps": 150,            # optimizer steps (150 keeps a retrain well under 0.5 s on a 2-core CPU)
    "weight_decay": 0.0,     # L2 penalty (coupled) for SGD/Adam, decoupled for AdamW
    "schedule": "constant",  # one of SCHEDULES
    "warmup_steps": None,    # linear warm-up steps; None: steps // 10 for "warmup_cosine", else 0
    "clip": None,            # None, or the max global gradient norm (torch.nn.utils.clip_grad_norm_)
    "eval_every": 15,        # validation loss every this many steps (and at step 0 and the end)
    "seed": 0,               # seeds the model init, dropout masks and batch order
})

#: Optimizer names accepted by ``config["optimizer"]``.
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw")
#: Learning-rate schedule names accepted by ``config["schedule"]``.
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine")

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""``(x_train, y_train, x_val, y_val)`` as built by :attr:`Task.build_data`."""


@dataclass(frozen=True)
class Task:
    """What to train: a model builder, a data builder, a loss, and the task's own knobs.

    A topic supplies its own task instead of copying the explorer. Every config key that is not
    a training knob (see :data:`TRAIN_DEFAULTS`) must appear in ``defaults``; that is how
    :func:`run` recognises a typo.

    Attributes:
        name: identifies the task in the run cache; two tasks with different builders need
            different names.
        build_model: ``config -> nn.Module``. Receives the full, read-only config (training knobs
            included), called after the global torch RNG was seeded with ``config["seed"]``.
        build_data: ``data_config -> (x_train, y_train, x_val, y_val)``. Built once per distinct
            data config and cached, so it must not depend on anything else.
        loss_fn: ``(model(x), y) -> scalar tensor``, mean over the batch. Default: cross-entropy
            in nats (``torch.nn.functional.cross_entropy``).
        probe: optional ``(model, config, data) -> {name: [float, ...]}`` for extra series such
            as activation std per layer. Called in eval mode twice: right after the model is built
            (keys get the prefix ``"init_"``) and after training (keys as returned). The results
            land in :attr:`History.extras`.
        defaults: the task's knobs and their default values; may also override training
            defaults (for example ``steps``).
        data_keys: the config keys that ``build_data`` reads; it receives only those. ``None``
            passes it every task knob (and the data cache then keys on all of them).
    """

    name: str
    build_model: Callable[[Mapping[str, Any]], nn.Module]
    build_data: Callable[[Mapping[str, Any]], Data]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy
    probe: Callable[[nn.Module, Mapping[str, Any], Data], Mapping[str, Sequence[float]]] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    data_keys: tuple[str, ...] | None = None

    def valid_keys(self) -> list[str]:
        """Every config key :func:`run` accepts for this task, sorted."""
        return sorted(set(TRAIN_DEFAULTS) | set(self.defaults))

    def resolve(self, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The full config: training defaults, then the task's defaults, then ``config``.

        Raises:
            ValueError: if ``config`` has a key that is neither a training knob nor a task knob;
                the message lists the valid keys.
        """
        config = dict(config or {})
        unknown = sorted(set(config) - set(TRAIN_DEFAULTS) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"unknown config key(s) {unknown} for task {self.name!r}. "
                f"Valid keys: {self.valid_keys()}. Add task knobs to Task.defaults."
            )
        return {**TRAIN_DEFAULTS, **self.defaults, **config}


@dataclass(frozen=True)
class History:
    """The result of one :func:`run`. Losses are per-example means in the task's units (nats
    for cross-entropy).

    Attributes:
        steps: ``(0, 1, ..., n-1)``: the step of each train loss.
        train_loss: loss of the mini-batch at each step, before that step's update.
        val_steps: steps at which the validation loss was measured: 0 (before training), every
            ``eval_every``, and the last step reached. Step ``s`` means "after ``s`` updates".
        val_loss: validation loss (model in eval mode) at each of ``val_steps``.
        diverged: the loss went non-finite; training stopped there (the non-finite value is not
            recorded, so every recorded loss is finite).
        seconds: wall-clock seconds of this call (a cache hit takes about a millisecond).
        from_cache: the result came from the run cache.
        extras: the task probe's series, ``"init_<name>"`` at initialisation and ``"<name>"``
            after training (that one only when the run did not diverge; empty without a probe).
        config: the full config that produced this history.
        task: the task's name.
    """

    steps: tuple[int, ...]
    train_loss: tuple[float, ...]
    val_steps: tuple[int, ...]
    val_loss: tuple[float, ...]
    diverged: bool
    seconds: float
    from_cache: bool
    extras: dict[str, tuple[float, ...]]
    config: dict[str, Any]
    task: str = ""

    @property
    def final_val_loss(self) -> float:
        """The last validation loss, or ``nan`` if none was measured."""
        return self.val_loss[-1] if self.val_loss else math.nan

    @property
    def final_train_loss(self) -> float:
        """The last training loss, or ``nan`` if no step finished."""
        return self.train_loss[-1] if self.train_loss else math.nan


def lr_multiplier(step: int, steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """The factor that multiplies the peak ``lr`` at ``step`` (0-based) of ``steps``.

    A linear warm-up ``(step + 1) / warmup_steps`` runs first when ``warmup_steps > 0``
    (Goyal et al. 2017, "Accurate, Large Minibatch SGD"); the schedule then covers the remaining
    ``steps - warmup_steps`` steps with progress ``u`` in [0, 1):

    - ``"constant"``: 1.
    - ``"step"``: 1, then 0.1 from u = 0.5, then 0.01 from u = 0.75.
    - ``"cosine"`` and ``"warmup_cosine"``: ``0.5·(1 + cos(π·u))`` (Loshchilov & Hutter 2017,
      SGDR; ``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``eta_min=0``).

    Raises:
        ValueError: for an unknown schedule (the message lists :data:`SCHEDULES`).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {list(SCHEDULES)}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    u = (step - warmup_steps) / max(1, steps - warmup_steps)
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return 1.0 if u < 0.5 else (0.1 if u < 0.75 else 0.01)
    return 0.5 * (1.0 + math.cos(math.pi * u))


def _check_training_knobs(cfg: Mapping[str, Any]) -> None:
    """Raise ValueError with a fix-it message for an out-of-range training knob."""
    if cfg["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {cfg['optimizer']!r}; choose one of {list(OPTIMIZERS)}")
    if cfg["schedule"] not in SCHEDULES:
        raise ValueError(f"unknown schedule {cfg['schedule']!r}; choose one of {list(SCHEDULES)}")
    if not (isinstance(cfg["lr"], (int, float)) and cfg["lr"] > 0):
        raise ValueError(f"lr must be a positive number, got {cfg['lr']!r}")
    for key in ("steps", "batch_size", "eval_every"):
        if not (isinstance(cfg[key], (int, np.integer)) and cfg[key] >= 1):
            raise ValueError(f"{key} must be an integer >= 1, got {cfg[key]!r}")
    if not (isinstance(cfg["seed"], (int, np.integer)) and cfg["seed"] >= 0):
        raise ValueError(f"seed must be a non-negative integer, got {cfg['seed']!r}")
    if cfg["momentum"] < 0 or cfg["weight_decay"] < 0:
        raise ValueError("momentum and weight_decay must be >= 0, got "
                         f"momentum={cfg['momentum']!r}, weight_decay={cfg['weight_decay']!r}")
    if cfg["clip"] is not None and not cfg["clip"] > 0:
        raise ValueError(f"clip must be None (no clipping) or a max gradient norm > 0, got {cfg['clip']!r}")
    if cfg["warmup_steps"] is not None and not (isinstance(cfg["warmup_steps"], (int, np.integer))
                                                 and 0 <= cfg["warmup_steps"] <= cfg["steps"]):
        raise ValueError(f"warmup_steps must be None or an integer in [0, steps], got {cfg['warmup_steps']!r}")


def _freeze(value: Any) -> Any:
    """A hashable, canonical form of a config value (mappings sorted, sequences as tuples)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"config values must be hashable (numbers, strings, tuples, ...); "
                        f"got {type(value).__name__}") from None
    return value


class _LRU:
    """A tiny least-recently-used cache (``OrderedDict`` based)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Any) -> Any | None:
        if key in self._data:
            self._data.move_to_end(key)
            self.hits += 1
            return self._data[key]
        self.misses += 1
        return None

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()
        self.hits = self.misses = 0


_RUN_CACHE = _LRU(maxsize=512)   # (task identity, frozen config) -> History
_DATA_CACHE = _LRU(maxsize=16)   # (task name, build_data, frozen data config) -> Data


def _task_identity(task: Task) -> tuple:
    """What makes two tasks train the same thing: the name *and* the builder functions.

    A student who fixes a class and re-runs the cell that defines the task gets new function
    objects, hence a new key, so a stale cached result is never shown for the new code. The
    key holds the functions themselves, so their ids cannot be reused while it is cached.
    """
    return (task.name, task.build_model, task.build_data, task.loss_fn, task.probe)


def clear_cache() -> None:
    """Empty the run cache and the data cache (the next :func:`run` of every config retrains)."""
    _RUN_CACHE.clear()
    _DATA_CACHE.clear()


def cache_info() -> dict[str, int]:
    """Sizes and hit counts of the caches: ``{"runs", "run_hits", "run_misses", "datasets"}``."""
    return {"runs": len(_RUN_CACHE._data), "run_hits": _RUN_CACHE.hits,
            "run_misses": _RUN_CACHE.misses, "datasets": len(_DATA_CACHE._data)}


@contextmanager
def _quiet_cpu_run(seed: int) -> Iterator[torch.Generator]:
    """Seed everything, use one CPU thread; afterwards restore the caller's RNG states and threads.

    Tiny models train faster on one thread (no fork/join overhead per op), and a notebook's own
    random streams must not depend on whether an explorer ran.
    """
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield seed_everything(seed)
    finally:
        torch.set_num_threads(threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _make_optimizer(params: list[nn.Parameter], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Build the optimizer named by ``cfg["optimizer"]`` (fused CPU kernels when available)."""
    name, lr, wd, mom = cfg["optimizer"], float(cfg["lr"]), float(cfg["weight_decay"]), float(cfg["momentum"])
    if name in ("sgd", "momentum", "nesterov"):
        if name != "sgd" and mom == 0.0:
            mom = 0.9  # "momentum"/"nesterov" mean *some* momentum; 0.9 is the usual value
        cls, kwargs = torch.optim.SGD, {"momentum": mom, "nesterov": name == "nesterov"}
    elif name == "adam":
        cls, kwargs = torch.optim.Adam, {}
    else:
        cls, kwargs = torch.optim.AdamW, {}
    try:  # fused kernels are ~4x faster per step for tiny models and deterministic on the CPU
        return cls(params, lr=lr, weight_decay=wd, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=lr, weight_decay=wd, **kwargs)


def _get_data(task: Task, cfg: Mapping[str, Any]) -> Data:
    """The task's tensors for this config, built once per data config."""
    keys = task.data_keys if task.data_keys is not None else sorted(task.defaults)
    data_cfg = MappingProxyType({k: cfg[k] for k in keys})
    cache_key = (task.name, task.build_data, _freeze(dict(data_cfg)))
    data = _DATA_CACHE.get(cache_key)
    if data is None:
        data = tuple(task.build_data(data_cfg))
        if len(data) != 4:
            raise ValueError(f"task {task.name!r}: build_data must return (x_train, y_train, x_val, y_val), "
                             f"got {len(data)} items")
        _DATA_CACHE.put(cache_key, data)
    return data  # type: ignore[return-value]


@torch.no_grad()
def _mean_loss(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    loss = float(loss_fn(model(x), y))
    model.train()
    return loss


def _probe(task: Task, model: nn.Module, cfg: Mapping[str, Any], data: Data, prefix: str) -> dict[str, tuple[float, ...]]:
    if task.probe is None:
        return {}
    model.eval()
    try:
        out = task.probe(model, cfg, data)
    finally:
        model.zero_grad(set_to_none=True)
        model.train()
    return {f"{prefix}{k}": tuple(float(v) for v in vals) for k, vals in out.items()}


def run(config: Mapping[str, Any] | None = None, task: Task | None = None, *, use_cache: bool = True) -> History:
    """Train ``task``'s model with ``config`` on the CPU and return its loss curves.

    The config is the task's defaults updated with ``config``; training knobs are listed in
    :data:`TRAIN_DEFAULTS`, everything else goes to the task's builders. Mini-batches are drawn
    without replacement, reshuffled every epoch by a generator seeded with ``seed`` (an epoch's
    last incomplete batch is skipped, so every step sees ``batch_size`` examples). The
    learning rate at step ``t`` is ``lr · lr_multiplier(t, ...)``; with ``clip`` set, the global
    gradient norm is clipped by :func:`torch.nn.utils.clip_grad_norm_` before each update.

    Deterministic: the same task and config give identical losses. Cached: a repeated config
    returns the stored result at once, with ``from_cache=True``. The caller's RNG states and
    ``torch.get_num_threads()`` are restored afterwards.

    Args:
        config: knob values (missing keys take the defaults). Values must be hashable.
        task: what to train; default :func:`digits_mlp_task`.
        use_cache: look up and store the result in the run cache (benchmarks pass ``False``).

    Returns:
        A :class:`History`. A run whose loss goes non-finite stops at that step with
        ``diverged=True`` (no exception).

    Raises:
        ValueError: for an unknown config key, optimizer or schedule, or an out-of-range knob
            (the message lists the valid choices).
        TypeError: for an unhashable config value.
    """
    start = time.perf_counter()
    task = task if task is not None else digits_mlp_task()
    cfg = task.resolve(config)
    _check_training_knobs(cfg)
    key = (_task_identity(task), _freeze(cfg))
    if use_cache:
        hit = _RUN_CACHE.get(key)
        if hit is not None:
            return dataclasses.replace(hit, from_cache=True, seconds=time.perf_counter() - start,
                                       extras=dict(hit.extras), config=dict(hit.config))

    frozen_cfg = MappingProxyType(dict(cfg))
    steps = int(cfg["steps"])
    warmup = cfg["warmup_steps"]
    if warmup is None:
        warmup = steps // 10 if cfg["schedule"] == "warmup_cosine" else 0
    data = _get_data(task, cfg)
    x_train, y_train, x_val, y_val = data
    n = len(x_train)
    batch_size = min(int(cfg["batch_size"]), n)

    train_loss: list[float] = []
    val_steps: list[int] = []
    val_loss: list[float] = []
    diverged = False
    with _quiet_cpu_run(int(cfg["seed"])) as gen:
        model = task.build_model(frozen_cfg)
        model.train()
        extras = _probe(task, model, frozen_cfg, data, prefix="init_")
        params = [p for p in model.parameters() if p.requires_grad]
        opt = _make_optimizer(params, cfg)
        lr = float(cfg["lr"])
        perm, pos = torch.randperm(n, generator=gen), 0

        v = _mean_loss(model, task.loss_fn, x_val, y_val)
        diverged = not math.isfinite(v)
        if not diverged:
            val_steps.append(0)
            val_loss.append(v)
        step = 0
        while step < steps and not diverged:
            if pos + batch_size > n:
                perm, pos = torch.randperm(n, generator=gen), 0
            idx = perm[pos:pos + batch_size]
            pos += batch_size
            for group in opt.param_groups:
                group["lr"] = lr * lr_multiplier(step, steps, cfg["schedule"], warmup)
            loss = task.loss_fn(model(x_train[idx]), y_train[idx])
            value = loss.item()
            if not math.isfinite(value):
                diverged = True
                break
            train_loss.append(value)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["clip"] is not None:
                torch.nn.utils.clip_grad_norm_(params, float(cfg["clip"]))
            opt.step()
            step += 1
            if step % int(cfg["eval_every"]) == 0 or step == steps:
                v = _mean_loss(model, task.loss_fn, x_val, y_val)
                if not math.isfinite(v):
                    diverged = True
                    break
                val_steps.append(step)
                val_loss.append(v)
        if not diverged:
            extras.update(_probe(task, model, frozen_cfg, data, prefix=""))

    history = History(
        steps=tuple(range(len(train_loss))), train_loss=tuple(train_loss),
        val_steps=tuple(val_steps), val_loss=tuple(val_loss), diverged=diverged,
        seconds=time.perf_counter() - start, from_cache=False, extras=extras, config=dict(cfg), task=task.name,
    )
    if use_cache:
        _RUN_CACHE.put(key, history)
        return dataclasses.replace(history, extras=dict(extras), config=dict(cfg))
    return history


# ----------------------------------------------------------------------------------------------
# Ready-made tasks
# ----------------------------------------------------------------------------------------------

#: Activation names for :func:`make_mlp`.
ACTIVATIONS: Mapping[str, Callable[[], nn.Module]] = MappingProxyType({
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU, "linear": nn.Identity,
})
#: Weight-initialisation schemes for :func:`init_weights_`.
INIT_SCHEMES = ("default", "zeros", "normal_1", "normal_0.01", "xavier", "he")


def init_weights_(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise every ``nn.Linear`` of ``model`` in place and return the model.

    Schemes (biases become 0 except for ``"default"``):

    - ``"default"``: PyTorch's own, ``U(±1/√fan_in)`` (``nn.Linear.reset_parameters``).
    - ``"zeros"``: all weights 0; every hidden unit stays identical (symmetry is never broken).
    - ``"normal_1"``: ``N(0, 1)``; activations grow about ``√fan_in`` per layer.
    - ``"normal_0.01"``: ``N(0, 0.01²)``; activations shrink towards 0 layer after layer.
    - ``"xavier"``: ``N(0, 2/(fan_in + fan_out))`` (Glorot & Bengio 2010; ``nn.init.xavier_normal_``).
    - ``"he"``: ``N(0, 2/fan_in)`` (He et al. 2015; ``nn.init.kaiming_normal_``, ReLU gain).

    Raises:
        ValueError: for an unknown scheme (the message lists :data:`INIT_SCHEMES`).
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of {list(INIT_SCHEMES)}")
    if scheme == "default":
        return model
    for m in model.modules():
        if isinstance(m, nn.Linear):
            if scheme == "zeros":
                nn.init.zeros_(m.weight)
            elif scheme == "normal_1":
                nn.init.normal_(m.weight, 0.0, 1.0)
            elif scheme == "normal_0.01":
                nn.init.normal_(m.weight, 0.0, 0.01)
            elif scheme == "xavier":
                nn.init.xavier_normal_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class FastDropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with the mask drawn by ``torch.rand_like(x) >= p``.

    Same inverted dropout as ``nn.Dropout`` (Srivastava et al. 2014): in training mode each
    element is zeroed with probability ``p`` and the survivors are scaled by ``1/(1-p)``; in
    eval mode it is the identity. Only the random-number path differs: on the CPU,
    ``rand_like`` is about 3× faster than the ``bernoulli_`` that ``F.dropout`` uses for small
    tensors, which matters when an explorer retrains on every slider move.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * (torch.rand_like(x) >= self.p) / (1.0 - self.p)


def make_mlp(in_features: int, n_classes: int, width: int = 64, depth: int = 2, activation: str = "relu",
             dropout: float = 0.0, init: str = "default") -> nn.Sequential:
    """``depth`` hidden blocks of ``Linear(width) → activation → Dropout(p)``, then ``Linear(n_classes)``.

    Input float32 (N, in_features); output logits (N, n_classes). Dropout modules
    (:class:`FastDropout`) are left out when ``dropout == 0``.

    Raises:
        ValueError: for ``depth < 1``, ``width < 1``, ``dropout`` outside [0, 1), or an unknown
            activation or init scheme (the message lists the valid ones).
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {list(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    d = in_features
    for _ in range(depth):
        layers += [nn.Linear(d, width), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(FastDropout(dropout))
        d = width
    layers.append(nn.Linear(d, n_classes))
    return init_weights_(nn.Sequential(*layers), init)


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


# ----------------------------------------------------------------------------------------------
# Widgets
# ----------------------------------------------------------------------------------------------

def _widgets():
    import ipywidgets  # imported lazily: the core must not need a widget stack

    return ipywidgets


@dataclass(frozen=True)
class Knob:
    """One control of an explorer: a config key and a factory for its ipywidgets control.

    Build knobs with the class methods (:meth:`log_slider`, :meth:`slider`, :meth:`int_slider`,
    :meth:`dropdown`, :meth:`toggle`); each explorer makes its own widget from the factory, so a
    list of knobs can be reused. Sliders use ``continuous_update=False``: the model retrains when
    the slider is released, not while it moves.

    Attributes:
        name: the config key the control sets.
        make_widget: ``() -> ipywidgets.ValueWidget``.
        to_config: maps the widget's ``.value`` to the config value (identity by default).
    """

    name: str
    make_widget: Callable[[], Any]
    to_config: Callable[[Any], Any] = lambda v: v

    @staticmethod
    def _style(description: str | None, name: str) -> dict[str, Any]:
        return {"description": description or name, "style": {"description_width": "initial"}}

    @classmethod
    def log_slider(cls, name: str, low: float, high: float, value: float, description: str | None = None,
                   steps_per_decade: int = 4) -> Knob:
        """A slider on a log10 scale from ``low`` to ``high`` (e.g. ``lr`` from 1e-4 to 1).

        The value moves in steps of ``10 ** (1 / steps_per_decade)``.

        Raises:
            ValueError: unless ``0 < low <= value <= high``.
        """
        if not 0 < low <= value <= high:
            raise ValueError(f"log_slider {name!r}: need 0 < low <= value <= high, got {low}, {value}, {high}")
        w = _widgets()
        return cls(name, lambda: w.FloatLogSlider(
            value=value, base=10, min=math.log10(low), max=math.log10(high), step=1 / steps_per_decade,
            readout_format=".2g", continuous_update=False, **cls._style(description, name)),
            to_config=lambda v: float(f"{v:.4g}"))  # canonical: the same slider position, the same cache key

    @classmethod
    def slider(cls, name: str, low: float, high: float, value: float, step: float | None = None,
               description: str | None = None) -> Knob:
        """A float slider (e.g. ``dropout`` from 0 to 0.9 in steps of 0.1); ``step`` defaults to (high-low)/20.

        Raises:
            ValueError: unless ``low <= value <= high``.
        """
        if not low <= value <= high:
            raise ValueError(f"slider {name!r}: need low <= value <= high, got {low}, {value}, {high}")
        w = _widgets()
        step = step if step is not None else (high - low) / 20
        decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 3
        return cls(name, lambda: w.FloatSlider(
            value=value, min=low, max=high, step=step, readout_format=f".{decimals}f",
            continuous_update=False, **cls._style(description, name)),
            to_config=lambda v: round(float(v), decimals + 3))

    @classmethod
    def int_slider(cls, name: str, low: int, high: int, value: int, step: int = 1,
                   description: str | None = None) -> Knob:
        """An integer slider (e.g. ``depth`` from 1 to 10).

        Raises:
            ValueError: unless ``low <= value <= high``.
        """
        if not low <= value <= high:
            raise ValueError(f"int_slider {name!r}: need low <= value <= high, got {low}, {value}, {high}")
        w = _widgets()
        return cls(name, lambda: w.IntSlider(value=value, min=low, max=high, step=step, continuous_update=False,
                                             **cls._style(description, name)))

    @classmethod
    def dropdown(cls, name: str, options: Sequence[Any] | Mapping[str, Any], value: Any = None,
                 description: str | None = None) -> Knob:
        """A drop-down menu. ``options`` is a list of values, or ``{label: value}`` (e.g.
        ``{"off": None, "1.0": 1.0}`` for ``clip``). ``value`` defaults to the first option.

        Raises:
            ValueError: if ``value`` is not one of the options.
        """
        pairs = list(options.items()) if isinstance(options, Mapping) else [(str(o), o) for o in options]
        values = [v for _, v in pairs]
        if not pairs:
            raise ValueError(f"dropdown {name!r}: needs at least one option")
        value = values[0] if value is None and None not in values else value
        if value not in values:
            raise ValueError(f"dropdown {name!r}: value {value!r} is not one of {values}")
        w = _widgets()
        return cls(name, lambda: w.Dropdown(options=pairs, value=value, **cls._style(description, name)))

    @classmethod
    def toggle(cls, name: str, value: bool = False, on: Any = True, off: Any = False,
               description: str | None = None) -> Knob:
        """An on/off button; the config gets ``on`` or ``off`` (e.g. ``Knob.toggle("clip", on=1.0, off=None)``)."""
        w = _widgets()
        return cls(name, lambda: w.ToggleButton(value=bool(value), **cls._style(description, name)),
                   to_config=lambda v: on if v else off)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class _FigureWidget:
    """Shared machinery: one Agg figure shown as a PNG in an ``ipywidgets.Image``, a status
    line, an error box, and a mimebundle that degrades to the static PNG."""

    def __init__(self, figsize: tuple[float, float], dpi: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        w = _widgets()
        self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)  # an Agg canvas of its own: no pyplot, no backend switching
        self.dpi = dpi
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%", height="auto"))
        self.status = w.HTML(value="")
        self.error_box = w.HTML(value="")
        self.last_error: BaseException | None = None
        self._png = b""

    def _render(self) -> None:
        """Re-render the figure (its artists were updated in place) into the Image widget."""
        buf = io.BytesIO()
        self.fig.canvas.print_png(buf)  # one Agg draw + PNG encode; no savefig bbox pass
        if isinstance(self.fig.get_layout_engine(), ConstrainedLayoutEngine):
            self.fig.set_layout_engine("none")  # keep the first (constrained) layout: half the draw time
        self._png = buf.getvalue()
        self.image.value = self._png

    @property
    def png(self) -> bytes:
        """The PNG bytes currently shown."""
        return self._png

    def _show_error(self, exc: BaseException) -> None:
        """Put an exception into the widget: a red status line and the traceback, not swallowed."""
        self.last_error = exc
        self.status.value = (f'<span style="color:#c00000"><b>Error: {html.escape(type(exc).__name__)}:</b> '
                             f'{html.escape(str(exc))}</span>')
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.error_box.value = (f'<details open><summary style="color:#c00000">Traceback</summary>'
                                f'<pre style="font-size:11px;line-height:1.25">{html.escape(tb)}</pre></details>')

    def _clear_error(self) -> None:
        self.last_error = None
        self.error_box.value = ""

    def _text(self) -> str:
        return f"{type(self).__name__}()"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        """The live widget for frontends with widget support, a static PNG for everything else.

        JupyterLab and Notebook 7 render ``application/vnd.jupyter.widget-view+json``; nbval,
        nbconvert to notebook and nbgrader keep ``image/png`` and ``text/plain`` beside it.
        (For HTML export, put ``image/png`` before the widget-view type in nbconvert's
        ``display_data_priority`` to see the picture offline.)
        """
        widget_repr = getattr(self.widget, "_repr_mimebundle_", None)  # None once the widget is closed
        bundle = dict(widget_repr(**kwargs) or {}) if callable(widget_repr) else {}
        bundle["image/png"] = base64.b64encode(self._png).decode("ascii")
        bundle["text/plain"] = self._text()
        return bundle

    def show(self) -> None:
        """Display the explorer (same as leaving it as the last expression of a cell)."""
        from IPython.display import display

        display(self)


@dataclass(frozen=True)
class GridPanel:
    """A right-hand panel for :class:`LossCurveExplorer` that shows a probe's values on a 2-D grid.

    Typical use: the class a classifier predicts at every point of the plane, i.e. its decision
    boundary on a 2-D task such as the spirals. The task's probe evaluates the model on
    :meth:`points` and stores the ``resolution**2`` results under ``key`` in
    :attr:`History.extras`; the explorer shows them as an image that is created once and
    updated in place, with the training points drawn on top. Values are class indices 0–8
    (one pastel colour each; the points use the matching strong colour).

    Args:
        key: the extras key the probe fills.
        extent: ``(x_min, x_max, y_min, y_max)`` of the plane shown.
        resolution: grid points per side.
        data: optional ``(x, y)``: points float (N, 2) and int labels (N,) drawn on top.
        title: the panel's title.

    Raises:
        ValueError: if ``resolution < 2``.
    """

    key: str
    extent: tuple[float, float, float, float] = (-1.25, 1.25, -1.25, 1.25)
    resolution: int = 60
    data: tuple[torch.Tensor, torch.Tensor] | None = None
    title: str = "predicted class after training"

    def __post_init__(self) -> None:
        if self.resolution < 2:
            raise ValueError(f"need resolution >= 2, got {self.resolution}")

    def points(self) -> torch.Tensor:
        """The grid, float32 of shape (resolution**2, 2), row by row (y outer, x inner)."""
        x0, x1, y0, y1 = self.extent
        gy, gx = torch.meshgrid(torch.linspace(y0, y1, self.resolution), torch.linspace(x0, x1, self.resolution),
                                indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)

    def image(self, history: History) -> np.ndarray | None:
        """The (resolution, resolution) array of this run's values, or None if the probe did not run."""
        values = history.extras.get(self.key)
        if values is None:
            return None
        if len(values) != self.resolution ** 2:
            raise ValueError(f"GridPanel {self.key!r}: the probe stored {len(values)} values, "
                             f"expected resolution**2 = {self.resolution ** 2}")
        return np.asarray(values, dtype=float).reshape(self.resolution, self.resolution)


class LossCurveExplorer(_FigureWidget):
    """Retrain ``task`` whenever a control moves, and plot its train and validation loss.

    Left panel: train loss per step (solid) and validation loss (dots); the previous
    ``n_faded`` runs stay behind, faded. Optional right panel: one of the probe's per-layer
    series from :attr:`History.extras` (e.g. ``"init_act_std"``), also with faded runs. Below:
    a status line (setting, final validation loss, seconds, diverged?, from cache?) and, after a
    failure, the error and its traceback.

    Args:
        task: what to train (default :func:`digits_mlp_task`).
        knobs: the controls, one per config key (see :class:`Knob`).
        fixed: config values held fixed (merged under the knob values).
        n_faded: how many earlier runs stay on the plot.
        extra_panel: a key of :attr:`History.extras` to plot per layer, a :class:`GridPanel`
            (an image over a 2-D plane, e.g. a decision boundary), or ``None``.
        prompt: a short "predict first" question shown above the plot.
        logy: log-scaled loss axis.
        extra_logy: log-scaled extra panel (default True: per-layer statistics change geometrically).
        dpi: resolution of the PNG (pixels per inch of a 6×3.4-inch panel).

    Attributes:
        fig, ax, ax_extra: the matplotlib figure and axes (``ax_extra`` is None without a panel).
        train_line, val_line: the current run's Line2D objects (updated in place).
        faded_lines: ``n_faded`` (train, val) Line2D pairs, most recent first; unused ones are empty.
        extra_line, faded_extra_lines: the same for the extra panel.
        controls: config key → ipywidgets control.
        history: the current :class:`History`; ``faded_histories`` the earlier ones shown.
        status, error_box, image, widget: the ipywidgets parts (``widget`` is the whole VBox).
        last_error: the exception of the last failed update, or None.

    Raises:
        ValueError: if a knob or fixed key is not a valid config key of the task (the message
            lists the valid keys), or if two knobs share a name.
    """

    def __init__(self, task: Task | None = None, knobs: Sequence[Knob] = (), fixed: Mapping[str, Any] | None = None,
                 *, n_faded: int = 3, extra_panel: str | GridPanel | None = None, prompt: str | None = None,
                 logy: bool = False, extra_logy: bool = True, dpi: int = 80) -> None:
        self.task = task if task is not None else digits_mlp_task()
        self.knobs = list(knobs)
        self.fixed = dict(fixed or {})
        names = [k.name for k in self.knobs]
        if len(set(names)) != len(names):
            raise ValueError(f"two knobs share a name: {names}")
        self.task.resolve({**self.fixed, **{n: None for n in names}})  # unknown keys -> ValueError
        if n_faded < 0:
            raise ValueError(f"n_faded must be >= 0, got {n_faded}")
        self.n_faded = n_faded
        self.extra_panel = extra_panel
        self.prompt = prompt
        super().__init__(figsize=(10.0 if extra_panel else 6.0, 3.4), dpi=dpi)

        w = _widgets()
        if extra_panel:
            self.ax, self.ax_extra = self.fig.subplots(1, 2, width_ratios=[3, 2])
        else:
            self.ax, self.ax_extra = self.fig.add_subplot(1, 1, 1), None
        self.faded_lines = []
        self.faded_extra_lines = []
        for i in range(n_faded):
            alpha = 0.45 * (1 - i / max(1, n_faded)) + 0.1
            self.faded_lines.append((self.ax.plot([], [], color="0.45", lw=1, alpha=alpha)[0],
                                     self.ax.plot([], [], color="0.45", ls="none", marker=".", alpha=alpha)[0]))
            if self.ax_extra is not None and not isinstance(extra_panel, GridPanel):
                self.faded_extra_lines.append(self.ax_extra.plot([], [], color="0.45", marker=".", alpha=alpha)[0])
        (self.train_line,) = self.ax.plot([], [], color="C0", lw=1.2, label="train (this run)")
        (self.val_line,) = self.ax.plot([], [], color="C1", ls="-", marker="o", ms=4, label="validation (this run)")
        handles = [self.train_line, self.val_line] + ([self.faded_lines[0][0]] if n_faded else [])
        self.ax.legend(handles, [h.get_label() for h in handles[:2]] + (["earlier runs"] if n_faded else []),
                       frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3,
                       borderaxespad=0.2)  # above the axes: never hides a curve
        self.ax.set_xlabel("step")
        self.ax.set_ylabel("loss")
        if logy:
            self.ax.set_yscale("log")
        self.ax.grid(alpha=0.3)
        self.note = self.ax.text(0.02, 0.04, "", transform=self.ax.transAxes, color="#c00000", fontsize=9)
        self.extra_line = None
        self.grid_image = None
        if isinstance(extra_panel, GridPanel):
            n = extra_panel.resolution
            self.grid_image = self.ax_extra.imshow(
                np.full((n, n), np.nan), origin="lower", extent=extra_panel.extent, cmap="Pastel1",
                vmin=0, vmax=8, interpolation="nearest", aspect="auto")
            if extra_panel.data is not None:
                px, py = extra_panel.data
                self.ax_extra.scatter(px[:, 0], px[:, 1], c=py, cmap="Set1", vmin=0, vmax=8, s=5)
            self.ax_extra.set_title(extra_panel.title, fontsize=9)
            self.ax_extra.set_xticks([])
            self.ax_extra.set_yticks([])
        elif self.ax_extra is not None:
            (self.extra_line,) = self.ax_extra.plot([], [], color="C2", marker="o", label="this run")
            self.ax_extra.set_xlabel("layer")
            self.ax_extra.set_ylabel(extra_panel)
            self.ax_extra.xaxis.set_major_locator(MaxNLocator(integer=True))
            self.extra_note = self.ax_extra.text(0.02, 0.04, "", transform=self.ax_extra.transAxes,
                                                 color="C2", fontsize=9)
            if extra_logy:
                self.ax_extra.set_yscale("log")
            self.ax_extra.grid(alpha=0.3)
        self.logy, self.extra_logy = logy, extra_logy

        self.controls = {k.name: k.make_widget() for k in self.knobs}
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.history: History | None = None
        self.faded_histories: list[History] = []
        parts = []
        if prompt:
            parts.append(w.HTML(f"<b>Predict, then move the slider.</b> {html.escape(prompt)}"))
        parts += [w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap")),
                  self.image, self.status, self.error_box]
        self.widget = w.VBox(parts)
        self.update()

    # -- state --------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The config of the controls' current values over ``fixed``."""
        cfg = dict(self.fixed)
        for knob in self.knobs:
            cfg[knob.name] = knob.to_config(self.controls[knob.name].value)
        return cfg

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> History | None:
        """Run the current config, redraw, and update the status. Errors go into the widget.

        Returns:
            The new :class:`History`, or None if the run failed (see :attr:`last_error`).
        """
        self.status.value = "<i>training…</i>"
        try:
            history = run(self.config(), self.task)
            self._push(history)
            self._draw()
            self._render()
        except Exception as exc:  # noqa: BLE001 — shown in the widget, kept in last_error
            self._show_error(exc)
            return None
        self._clear_error()
        self.status.value = self._status_html()
        return history

    def _push(self, history: History) -> None:
        previous = self.history
        if previous is not None and previous.config != history.config and self.n_faded:
            self.faded_histories = ([previous] + [h for h in self.faded_histories if h.config != history.config])
            self.faded_histories = self.faded_histories[: self.n_faded]
        else:
            self.faded_histories = [h for h in self.faded_histories if h.config != history.config]
        self.history = history

    # -- drawing ------------------------------------------------------------------------------
    def _extra(self, history: History) -> tuple[list[int], list[float]]:
        if self.extra_panel is None:
            return [], []
        if self.extra_panel not in history.extras:
            if history.diverged:
                return [], []  # the after-training probe is skipped for a diverged run
            raise KeyError(f"extra_panel {self.extra_panel!r} is not in this run's extras; "
                           f"available: {sorted(history.extras)}")
        ys = list(history.extras[self.extra_panel])
        return list(range(1, len(ys) + 1)), ys

    def _draw(self) -> None:
        h = self.history
        assert h is not None
        self.train_line.set_data(h.steps, h.train_loss)
        self.val_line.set_data(h.val_steps, h.val_loss)
        for i, (tl, vl) in enumerate(self.faded_lines):
            old = self.faded_histories[i] if i < len(self.faded_histories) else None
            tl.set_data(old.steps if old else [], old.train_loss if old else [])
            vl.set_data(old.val_steps if old else [], old.val_loss if old else [])
        shown = [h, *self.faded_histories]
        xmax = max([1] + [x[-1] for s in shown for x in (s.steps, s.val_steps) if x])
        self.ax.set_xlim(0, xmax)
        ys = [y for s in shown for y in (*s.train_loss, *s.val_loss) if math.isfinite(y)]
        first = [y for s in shown for y in (s.train_loss[:3] + s.val_loss[:1]) if math.isfinite(y)]
        if ys:
            top = min(max(ys), 2.0 * max(first)) * 1.05 if first else max(ys) * 1.05
            if self.logy:
                pos = [y for y in ys if y > 0] or [1e-3]
                self.ax.set_ylim(min(pos) * 0.8, max(top, min(pos) * 10))
            else:
                self.ax.set_ylim(0, top if top > 0 else 1.0)
        self.note.set_text(f"diverged at step {len(h.train_loss)}" if h.diverged else "")
        if self.grid_image is not None:
            img = self.extra_panel.image(h)  # type: ignore[union-attr]
            n = self.extra_panel.resolution  # type: ignore[union-attr]
            self.grid_image.set_data(img if img is not None else np.full((n, n), np.nan))
        if self.ax_extra is not None and self.extra_line is not None:
            xs, ys_e = self._extra(h)
            self.extra_line.set_data(xs, ys_e)
            hidden = self.extra_logy and any(not y > 0 for y in ys_e)
            self.extra_note.set_text("this run: values <= 0 are not shown on a log axis" if hidden else "")
            all_e = list(ys_e)
            for i, line in enumerate(self.faded_extra_lines):
                old = self.faded_histories[i] if i < len(self.faded_histories) else None
                oxs, oys = self._extra(old) if old else ([], [])
                line.set_data(oxs, oys)
                all_e += oys
            finite = [y for y in all_e if math.isfinite(y) and (y > 0 or not self.extra_logy)]
            n_layers = max([len(xs)] + [len(line.get_xdata()) for line in self.faded_extra_lines])
            self.ax_extra.set_xlim(0.5, max(1, n_layers) + 0.5)
            if finite:
                lo, hi = min(finite), max(finite)
                if self.extra_logy:
                    self.ax_extra.set_ylim(lo / 2, hi * 2)
                else:
                    pad = 0.05 * (hi - lo) or 0.1 * abs(hi) or 1.0
                    self.ax_extra.set_ylim(lo - pad, hi + pad)

    def _setting(self) -> str:
        cfg = self.config()
        return ", ".join(f"{k.name}={_fmt(cfg[k.name])}" for k in self.knobs) or "defaults"

    def _status_html(self) -> str:
        h = self.history
        assert h is not None
        parts = [f"<b>{html.escape(self._setting())}</b>",
                 f"final val loss <b>{h.final_val_loss:.4g}</b>"]
        if h.from_cache:
            parts.append(f"from cache ({h.seconds * 1e3:.1f} ms)")
        else:
            parts.append(f"trained in {h.seconds:.2f} s")
        if h.diverged:
            parts.append(f'<span style="color:#c00000"><b>diverged</b> at step {len(h.train_loss)}</span>')
        return " · ".join(parts)

    def _text(self) -> str:
        h = self.history
        if h is None:
            return f"LossCurveExplorer(task={self.task.name!r})"
        text = (f"LossCurveExplorer(task={self.task.name!r}): {self._setting()}; "
                f"final val loss {h.final_val_loss:.4g}{'; diverged' if h.diverged else ''}")
        return text + (f"\nPredict, then move the slider. {self.prompt}" if self.prompt else "")


class AttentionExplorer(_FigureWidget):
    """An interactive heatmap of attention weights, with a head slider (and a layer slider).

    Rows are queries, columns keys; entry ``[i, j]`` is how much query ``i`` attends to key ``j``
    (each row of a softmax attention sums to 1). The status line shows the row-sum range and the
    largest weight, which makes a softmax over the wrong axis easy to spot.

    Args:
        weights: float tensor or array of shape (n_heads, L_q, L_k) or (n_layers, n_heads, L_q, L_k),
            already computed by the notebook; or a callable ``(**knob_values) -> such a tensor``
            that is re-evaluated (and cached) when one of ``knobs`` moves (e.g. a temperature).
        tokens: the L_k key tokens (column labels).
        query_tokens: the L_q query tokens (row labels); default ``tokens`` (self-attention).
        knobs: controls whose values are passed to a callable ``weights``.
        vmax: top of the colour scale (default 1.0, the largest possible softmax weight).
        dpi: resolution of the PNG.

    Attributes:
        fig, ax, heatmap (an AxesImage updated in place with ``set_data``), controls
        (``"head"``, ``"layer"`` if 4-D, then the knobs), current (the shown (L_q, L_k) array),
        status, error_box, image, widget, last_error.

    Raises:
        ValueError: if the weights are not 3-D or 4-D, or their last two sizes do not match the
            number of query and key tokens; if ``knobs`` are given with a tensor.
    """

    def __init__(self, weights: Any, tokens: Sequence[str], *, query_tokens: Sequence[str] | None = None,
                 knobs: Sequence[Knob] = (), vmax: float = 1.0, title: str = "attention weights",
                 dpi: int = 80) -> None:
        self.tokens = [str(t) for t in tokens]
        self.query_tokens = [str(t) for t in (query_tokens if query_tokens is not None else tokens)]
        self.knobs = list(knobs)
        if self.knobs and not callable(weights):
            raise ValueError("knobs need a callable `weights(**knob_values)`; a fixed tensor has nothing to recompute")
        self._source = weights
        self._cache: dict[Any, np.ndarray] = {}
        self.title = title
        w = _widgets()
        self.knob_controls = {k.name: k.make_widget() for k in self.knobs}
        array = self._weights()
        side = max(3.0, 0.45 * max(len(self.tokens), len(self.query_tokens)) + 1.5)
        super().__init__(figsize=(side + 1.0, side), dpi=dpi)
        self.ax = self.fig.add_subplot(1, 1, 1)
        self.heatmap = self.ax.imshow(np.zeros((len(self.query_tokens), len(self.tokens))), cmap="viridis",
                                      vmin=0.0, vmax=vmax, aspect="equal")
        self.fig.colorbar(self.heatmap, ax=self.ax, shrink=0.8)
        self.ax.set_xticks(range(len(self.tokens)), self.tokens, rotation=60, ha="right", fontsize=9)
        self.ax.set_yticks(range(len(self.query_tokens)), self.query_tokens, fontsize=9)
        self.ax.set_xlabel("key")
        self.ax.set_ylabel("query")
        self.controls: dict[str, Any] = {}
        if array.ndim == 4:
            self.controls["layer"] = w.IntSlider(value=0, min=0, max=array.shape[0] - 1, description="layer",
                                                 continuous_update=False)
        self.controls["head"] = w.IntSlider(value=0, min=0, max=array.shape[-3] - 1, description="head",
                                            continuous_update=False)
        self.controls.update(self.knob_controls)
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.current = np.zeros(0)
        self.widget = w.VBox([w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap")),
                              self.image, self.status, self.error_box])
        self.update()

    def _weights(self) -> np.ndarray:
        values = {k.name: k.to_config(c.value) for k, c in zip(self.knobs, self.knob_controls.values())}
        key = _freeze(values)
        if key not in self._cache:
            raw = self._source(**values) if callable(self._source) else self._source
            array = (raw.detach().cpu().double().numpy() if isinstance(raw, torch.Tensor)
                     else np.asarray(raw, dtype=np.float64))
            if array.ndim not in (3, 4):
                raise ValueError(f"attention weights must have shape (n_heads, L_q, L_k) or "
                                 f"(n_layers, n_heads, L_q, L_k); got {tuple(array.shape)}")
            if array.shape[-2:] != (len(self.query_tokens), len(self.tokens)):
                raise ValueError(f"attention weights end in {tuple(array.shape[-2:])} but there are "
                                 f"{len(self.query_tokens)} query tokens and {len(self.tokens)} key tokens")
            self._cache[key] = array
        return self._cache[key]

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> np.ndarray | None:
        """Show the selected layer/head. Returns the (L_q, L_k) array, or None after an error."""
        try:
            array = self._weights()
            head = self.controls["head"].value
            layer = self.controls["layer"].value if "layer" in self.controls else None
            if head >= array.shape[-3] or (layer is not None and layer >= array.shape[0]):
                raise ValueError(f"layer/head out of range for weights of shape {array.shape}")
            a = array[layer, head] if layer is not None else array[head]
            self.current = a
            self.heatmap.set_data(a)
            where = "" if layer is None else f"layer {layer}, "
            self.ax.set_title(f"{self.title}: {where}head {head}", fontsize=10)
            self._render()
        except Exception as exc:  # noqa: BLE001 — shown in the widget, kept in last_error
            self._show_error(exc)
            return None
        self._clear_error()
        rows = a.sum(axis=1)
        i, j = np.unravel_index(int(np.argmax(a)), a.shape)
        self.status.value = (f"<b>{where}head {head}</b> · row sums in [{rows.min():.3f}, {rows.max():.3f}] · "
                             f"largest weight {a[i, j]:.3f}: query {i} “{html.escape(self.query_tokens[i])}” → "
                             f"key {j} “{html.escape(self.tokens[j])}”")
        return a

    def _text(self) -> str:
        return f"AttentionExplorer({len(self.query_tokens)}×{len(self.tokens)} tokens)"


def what_to_try(text: str) -> None:
    """Display a short "Predict, then move the slider" prompt as Markdown (under an explorer)."""
    from IPython.display import Markdown, display

    display(Markdown(f"**Predict, then move the slider.** {text}"))
