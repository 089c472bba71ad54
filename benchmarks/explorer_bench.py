#!/usr/bin/env python3
"""Time the loss-curve explorer: uncached retrains per pilot configuration, and a cached revisit.

    .venv/bin/python benchmarks/explorer_bench.py [--repeats 7]
    .venv/bin/python benchmarks/explorer_bench.py --notebooks [TOPIC ...] [--repeats 3]

``--notebooks`` times every explorer of the solution notebooks exactly as they build it: each
notebook runs headless, then every ``LossCurveExplorer`` it created is retrained at the end
positions of all its knobs, combined (``LossCurveExplorer.extreme_configs``). A new topic needs
no entry here to be measured.

For every configuration it prints the median and 95th-percentile wall-clock seconds of
``run(config, task, use_cache=False)`` over ``--repeats`` runs (after one warm-up run that also
builds the data) and the median CPU seconds; it flags a median over ``EXPLORER_RETRAIN_BUDGET_S``
(from ``autograder.config``, the one source of truth) as OVER, and a p95 over it as "p95 over".
It also times, per pilot, one full widget update (retrain + redraw + PNG) and the cached
revisit. Exit code 1 when any median is over the budget.

Timings depend on the machine's load: other jobs on the same cores inflate the wall clock. The
script prints the load average and, when wall time exceeds CPU time by 1.5x, says so; the CPU
column (a run uses one thread) then estimates an idle machine, and ``--clock cpu`` judges by it.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from autograder.config import EXPLORER_RETRAIN_BUDGET_S  # noqa: E402
from course_utils.explorers import (  # noqa: E402
    AttentionExplorer,
    Knob,
    LossCurveExplorer,
    clear_cache,
    digits_mlp_task,
    run,
    spirals_task,
)

# The tasks exactly as the pilot notebooks build their explorers (05, 08, 31), and the Part A
# spirals explorer (01); each config is one slider position, worst cases included.
INIT = digits_mlp_task(optimizer="adam", lr=3e-3)                                  # 05
DROPOUT = digits_mlp_task(n_train=300, label_noise=0.2, optimizer="adam", lr=2e-3,
                          steps=200, eval_every=20)                                # 08
CLIPPING = digits_mlp_task(optimizer="momentum")                                   # 31

# pilot -> (task, [config, ...]); each config is what one slider position asks for.
PILOTS: dict[str, tuple] = {
    "05 init x depth x activation": (INIT, [
        {"init": "default", "depth": 2, "activation": "relu"},
        {"init": "he", "depth": 8, "activation": "relu"},
        {"init": "xavier", "depth": 8, "activation": "tanh"},
        {"init": "normal_0.01", "depth": 8, "activation": "tanh"},
        {"init": "normal_1", "depth": 8, "activation": "relu"},
        {"init": "zeros", "depth": 4, "activation": "relu"},
        {"init": "he", "depth": 16, "activation": "relu"},
        {"init": "xavier", "depth": 16, "activation": "tanh"},
    ]),
    "08 dropout p x width (300 noisy digits)": (DROPOUT, [
        {"dropout": 0.0, "width": 32},
        {"dropout": 0.5, "width": 128},
        {"dropout": 0.0, "width": 256},
        {"dropout": 0.5, "width": 256},
        {"dropout": 0.8, "width": 256},
    ]),
    "31 lr x clip x schedule": (CLIPPING, [
        {"lr": 0.01, "clip": None, "schedule": "constant"},
        {"lr": 0.3, "clip": None, "schedule": "constant"},
        {"lr": 0.3, "clip": 1.0, "schedule": "constant"},
        {"lr": 3.0, "clip": 0.25, "schedule": "cosine"},
        {"lr": 0.3, "clip": 5.0, "schedule": "warmup_cosine"},
        {"lr": 0.1, "clip": None, "schedule": "step"},
    ]),
    "01 spirals width x depth": (spirals_task(steps=200, lr=1e-2), [
        {"width": 8, "depth": 1},
        {"width": 32, "depth": 3},
        {"width": 128, "depth": 5},
    ]),
}


def _describe(cfg: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in cfg.items())


def _time_runs(task, cfg: dict, repeats: int) -> tuple[list[float], list[float], bool]:
    """Wall-clock and CPU seconds of ``repeats`` uncached runs, after one warm-up run."""
    run(cfg, task, use_cache=False)  # warm-up: builds and caches the data, warms the kernels
    wall, cpu, diverged = [], [], False
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        h = run(cfg, task, use_cache=False)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        diverged = h.diverged
    return wall, cpu, diverged


def _widget_update_s(task, cfg: dict, repeats: int) -> float:
    """Median seconds of one uncached explorer update: retrain + redraw + PNG render."""
    name = next(iter(cfg))
    explorer = LossCurveExplorer(task, [Knob.dropdown(name, [cfg[name]])],
                                 fixed={k: v for k, v in cfg.items() if k != name})
    times = []
    for _ in range(repeats):
        clear_cache()
        t0 = time.perf_counter()
        explorer.update()
        times.append(time.perf_counter() - t0)
    if explorer.last_error is not None:
        raise explorer.last_error
    return statistics.median(times)


def _cached_revisit_s(task, cfg: dict) -> float:
    run(cfg, task)
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        h = run(cfg, task)
        times.append(time.perf_counter() - t0)
        assert h.from_cache
    return statistics.median(times)


# Run inside a notebook's kernel after the notebook itself: time every explorer it created.
_SWEEP = """
import json as _json, statistics as _stats, time as _time
from course_utils.explorers import LossCurveExplorer as _LCE, run as _run
_rows = []
for _i, _e in enumerate(_LCE.instances()):
    _names = [k.name for k in _e.knobs]
    for _cfg in _e.extreme_configs():
        _h = _run(_cfg, _e.task, use_cache=False)  # warm-up
        _t = []
        for _ in range(REPEATS):
            _t0 = _time.perf_counter()
            _run(_cfg, _e.task, use_cache=False)
            _t.append(_time.perf_counter() - _t0)
        _rows.append({"explorer": _i, "task": _e.task.name, "setting": {n: repr(_cfg[n]) for n in _names},
                      "median": _stats.median(_t), "max": max(_t), "diverged": _h.diverged})
print("@@SWEEP@@" + _json.dumps(_rows))
"""


def sweep_notebook(topic: str, repeats: int) -> list[dict]:
    """Run a solution notebook headless, then time every explorer it created (see ``_SWEEP``)."""
    import json
    import subprocess

    import nbformat
    from nbclient import NotebookClient

    from autograder.build import solution_path
    from autograder.config import CELL_TIMEOUT_S, KERNEL_ENV

    os.environ.update(KERNEL_ENV)
    path = solution_path(topic)
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_SWEEP.replace("REPEATS", str(repeats))))
    NotebookClient(nb, timeout=CELL_TIMEOUT_S * 10, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(stderr=subprocess.DEVNULL)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    return json.loads(text.split("@@SWEEP@@", 1)[1])


def notebooks_main(topic_list: list[str], repeats: int) -> int:
    from autograder.config import topics

    budget = EXPLORER_RETRAIN_BUDGET_S
    topic_list = topic_list or topics()
    print(f"explorer retrains as the solution notebooks build them: budget {budget:.2f} s "
          f"(median of {repeats} uncached runs at every end position of every knob)")
    over = []
    for topic in topic_list:
        rows = sweep_notebook(topic, repeats)
        if not rows:
            print(f"\n== {topic}: no LossCurveExplorer ==")
            continue
        worst = max(rows, key=lambda r: r["median"])
        print(f"\n== {topic}: {len(rows)} settings, worst median {worst['median']:.3f} s ==")
        for r in sorted(rows, key=lambda r: -r["median"])[:5]:
            setting = " ".join(f"{k}={v}" for k, v in r["setting"].items())
            flag = "OVER" if r["median"] > budget else "ok"
            flag += " (diverged)" if r["diverged"] else ""
            print(f"  explorer {r['explorer']} ({r['task']}): {setting:<52} median {r['median']:.3f} s  "
                  f"max {r['max']:.3f} s  {flag}")
            if r["median"] > budget:
                over.append(f"{topic} {setting}")
    print()
    print("OVER BUDGET: " + "; ".join(over) if over else f"every median within the {budget:.2f} s budget")
    return 1 if over else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="uncached runs per configuration (default 7, at least 5; with --notebooks default 3)")
    parser.add_argument("--notebooks", nargs="*", metavar="TOPIC", default=None,
                        help="time every explorer of these solution notebooks (default: all) at every end position")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="which median is compared with the budget (cpu: for a machine busy with other jobs)")
    args = parser.parse_args(argv)
    if args.notebooks is not None:
        return notebooks_main(args.notebooks, max(1, args.repeats or 3))
    repeats = max(5, args.repeats or 7)
    budget = EXPLORER_RETRAIN_BUDGET_S
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"explorer retrain benchmark: budget {budget:.2f} s ({args.clock}-clock median), "
          f"{repeats} uncached runs per config")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    over, p95_over, ratios = [], [], []
    for pilot, (task, configs) in PILOTS.items():
        base = {k: v for k, v in task.defaults.items() if k in ("steps", "batch_size", "n_train", "lr", "optimizer")}
        print(f"\n== {pilot} (task {task.name}; {_describe(base)}) ==")
        print(f"  {'configuration':<44} {'median s':>9} {'p95 s':>7} {'cpu med s':>10}  flag")
        for cfg in configs:
            wall, cpu, diverged = _time_runs(task, cfg, repeats)
            med, p95 = statistics.median(wall), float(np.percentile(wall, 95))
            cpu_med = statistics.median(cpu)
            ratios.append(med / max(cpu_med, 1e-9))
            judged = med if args.clock == "wall" else cpu_med
            judged_p95 = p95 if args.clock == "wall" else float(np.percentile(cpu, 95))
            flag = "OVER" if judged > budget else ("p95 over" if judged_p95 > budget else "ok")
            flag += " (diverged)" if diverged else ""
            if judged > budget:
                over.append(f"{pilot}: {_describe(cfg)}")
            elif judged_p95 > budget:
                p95_over.append(f"{pilot}: {_describe(cfg)}")
            print(f"  {_describe(cfg):<44} {med:>9.3f} {p95:>7.3f} {cpu_med:>10.3f}  {flag}")
        widget_s = _widget_update_s(task, configs[-1], repeats=3)
        cached_s = _cached_revisit_s(task, configs[-1])
        print(f"  widget update (retrain + redraw + PNG) for the last config: median {widget_s:.3f} s")
        print(f"  cached revisit: median {cached_s * 1e3:.3f} ms")

    weights = torch.softmax(torch.randn(2, 4, 12, 12), dim=-1)
    att = AttentionExplorer(weights, [f"t{i}" for i in range(12)])
    times = []
    for head in (1, 2, 3, 0, 1):
        t0 = time.perf_counter()
        att.controls["head"].value = head
        times.append(time.perf_counter() - t0)
    print(f"\n== attention explorer (no retraining) ==\n  head switch (redraw + PNG): median {statistics.median(times):.3f} s")

    print()
    contention = statistics.median(ratios)
    if contention > 1.5:
        print(f"NOTE: wall time was {contention:.1f}x the CPU time: the cores are busy with other jobs, so wall "
              f"times are inflated; the cpu column estimates an idle machine (or re-run with --clock cpu).")
    if over:
        print(f"OVER BUDGET ({budget:.2f} s {args.clock} median): " + "; ".join(over))
    if p95_over:
        print("p95 over budget (median within): " + "; ".join(p95_over))
    if not over:
        print(f"all {args.clock}-clock medians within the {budget:.2f} s budget")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
