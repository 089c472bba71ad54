"""The explorer's pure core: train a :class:`Task` with a config and return its :class:`History`.

:func:`run` trains the small model of a task on its small offline data set and returns the
train loss at every step and the validation loss every ``eval_every`` steps. It is
deterministic for a given ``seed``, cached by config (an in-memory LRU), and a run whose loss
goes non-finite stops early with ``History.diverged=True``: a result to show, not an exception.

This module needs torch only: no matplotlib, no widgets, and no default task (the ready-made
tasks live in :mod:`course_utils.explorers.tasks`).
"""
from __future__ import annotations

import dataclasses
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.seed import seed_everything

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "TRAIN_DEFAULTS",
    "Data",
    "History",
    "Task",
    "cache_info",
    "clear_cache",
    "lr_multiplier",
    "run",
]

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


@torch.inference_mode()  # no graph, no version counters: evaluation only (topic 20)
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


def run(config: Mapping[str, Any] | None, task: Task, *, use_cache: bool = True) -> History:
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
        task: what to train (for example :func:`course_utils.explorers.digits_mlp_task`).
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
