"""Time every solution notebook headless, as nbval and nbgrader run it.

Prints one line per notebook and the total, against the budgets in :mod:`autograder.config`.
Each notebook gets a fresh kernel with :data:`autograder.config.KERNEL_ENV` (as the tests and
the grader start them); the time includes kernel start-up, as a student's "Restart and run
all" would.
"""
from __future__ import annotations

import os
import subprocess
import time

import nbformat
from nbclient import NotebookClient

from autograder.build import solution_path
from autograder.config import CELL_TIMEOUT_S, COURSE_BUDGET_S, KERNEL_ENV, NOTEBOOK_BUDGET_S, NOTEBOOK_TARGET_S


def time_notebook(topic: str) -> float:
    """Seconds to execute ``solutions/<topic>/<topic>.ipynb`` top to bottom in a fresh kernel.

    Raises:
        nbclient.exceptions.CellExecutionError: if any cell fails.
    """
    path = solution_path(topic)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(
        stderr=subprocess.DEVNULL)  # the kernel's own start-up chatter; a failing cell still raises
    return time.perf_counter() - start


def main(topic_list: list[str]) -> int:
    os.environ.update(KERNEL_ENV)  # time the notebooks the way the tests and the grader run them
    print(f"{'notebook':34s} {'seconds':>8s}  budget {NOTEBOOK_BUDGET_S:g} s (aim {NOTEBOOK_TARGET_S:g} s)")
    total, over = 0.0, []
    for topic in topic_list:
        seconds = time_notebook(topic)
        total += seconds
        flag = "OVER BUDGET" if seconds > NOTEBOOK_BUDGET_S else ("above aim" if seconds > NOTEBOOK_TARGET_S else "ok")
        if seconds > NOTEBOOK_BUDGET_S:
            over.append(topic)
        print(f"{topic:34s} {seconds:8.1f}  {flag}", flush=True)
    print(f"{'total':34s} {total:8.1f}  course budget {COURSE_BUDGET_S:g} s "
          f"({'ok' if total <= COURSE_BUDGET_S else 'OVER BUDGET'})")
    return 1 if over or total > COURSE_BUDGET_S else 0
