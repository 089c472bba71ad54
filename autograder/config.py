"""Paths, budgets and limits. Every other module (and ``nbgrader_config.py``) reads them from here."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"     # nbgrader source: solutions/<topic>/<topic>.{py,ipynb}
NOTEBOOKS = ROOT / "notebooks"     # nbgrader release, committed
MUTANTS = ROOT / "autograder" / "mutants"

# Budgets (seconds, on the 2-core CI CPU). Checked by `python3 course.py bench`, not by timed tests.
NOTEBOOK_BUDGET_S = 30.0
NOTEBOOK_TARGET_S = 15.0
COURSE_BUDGET_S = 600.0
EXPLORER_RETRAIN_BUDGET_S = 0.5

# nbgrader execution limits: one cell may train a small model; a whole notebook must not hang CI.
CELL_TIMEOUT_S = 120

# Grading a class (`python3 course.py grade`): limits applied to every student notebook.
# The per-cell limit is CELL_TIMEOUT_S above (nbgrader's Execute.timeout).
GRADE_NOTEBOOK_TIMEOUT_S = 300      # wall-clock seconds for one whole notebook; past it: 0 points, "timed out"
GRADE_MEMORY_LIMIT_MB = 4096        # RLIMIT_DATA of the student's kernel (heap + anonymous mmaps)
GRADE_OUTPUT_LIMIT_BYTES = 1_000_000  # output bytes kept per cell (stdout, stderr, displays); the rest is dropped
GRADE_OUTPUT_MAX_LINES = 1000       # nbgrader LimitOutput.max_lines: stream lines kept per cell
GRADE_OUTPUT_MAX_TRACEBACK = 100    # nbgrader LimitOutput.max_traceback: traceback lines kept per error
GRADE_FILE_SIZE_LIMIT_MB = 256      # RLIMIT_FSIZE: largest file student code may write
GRADE_ZIP_MAX_BYTES = 2 * 1024**3   # a submissions .zip may expand to at most this many bytes
GRADE_NOTEBOOK_MAX_BYTES = 50 * 1024**2  # a submitted notebook larger than this is not graded

# stderr lines that are harmless and must not zero a graded cell (nbgrader zeroes any test cell
# that writes to stderr). Kept narrow on purpose: Python warnings raised from inside the installed
# libraries (torch, numpy, scikit-learn, matplotlib), and torch's own C++ warnings ("Triggered
# internally at ..."), e.g. `float(loss)` on a tensor that requires grad. Never a traceback.
STDERR_IGNORE_PATTERN = (
    r"site-packages/(torch|numpy|sklearn|matplotlib)/\S+:\d+: \w*Warning: "
    r"|\w*Warning: .*\n?.*\(Triggered internally at .*torch/csrc/"
)

# Environment for every kernel the tooling starts (nbval, nbgrader, the benchmark). The course's
# models are tiny: intra-op threads buy nothing, and two kernels side by side with two torch
# threads each oversubscribe a 2-core machine badly (a 300-step loop: 0.5 s with 1 thread,
# 125 s with 2 under load). Students' own JupyterLab keeps torch's default.
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

MIN_MUTANTS_PER_EXERCISE = 3
MIN_ALTERNATIVES_PER_EXERCISE = 1  # for exercises that define a function or class (not drills)


def topics() -> list[str]:
    """Topic slugs that have a solution notebook source, sorted (``["05_weight_initialization", ...]``)."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.py") if p.stem == p.parent.name)
