"""Shared pytest wiring.

- Every kernel gets autograder.config.KERNEL_ENV (one BLAS/OpenMP thread).
- nbval's per-cell timeout is the grader's (autograder.config.CELL_TIMEOUT_S), not nbval's
  default of 2,000 s: a cell that would time out when graded fails in CI too.
- The self-test's mutant rows travel from the workers in ``user_properties`` and are printed as
  one table at the end of the run.
"""
from __future__ import annotations

import json
import os

import pytest

from autograder.config import CELL_TIMEOUT_S, KERNEL_ENV

# Kernels started by nbval and by nbgrader inherit this process's environment: one BLAS/OpenMP
# thread each, so parallel workers do not oversubscribe the cores (see autograder.config).
for _key, _value in KERNEL_ENV.items():
    os.environ.setdefault(_key, _value)



def pytest_configure(config):
    if getattr(config.option, "nbval_cell_timeout", None) == 2000:  # nbval's default: not set on the command line
        config.option.nbval_cell_timeout = CELL_TIMEOUT_S


_SELFTEST_ROWS: list[dict] = []
_AUTOGRADE_ROWS: list[dict] = []


def pytest_runtest_logreport(report):
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == "selftest_rows":
            _SELFTEST_ROWS.extend(json.loads(value))
        elif key == "autograde_row":
            _AUTOGRADE_ROWS.append(json.loads(value))


def pytest_terminal_summary(terminalreporter):
    if not (_SELFTEST_ROWS or _AUTOGRADE_ROWS):
        return
    from autograder.selftest import MutantResult, format_table

    tr = terminalreporter
    if _AUTOGRADE_ROWS:
        tr.section("self-test: real nbgrader autograde (autograded cells)")
        for r in sorted(_AUTOGRADE_ROWS, key=lambda r: r["topic"]):
            tr.write_line(f"{r['topic']:34s} solution {r['solution_points']:g}/{r['max_points']:g}   "
                          f"untouched release {r['release_points']:g}/{r['max_points']:g}")
    if _SELFTEST_ROWS:
        rows = [MutantResult(**r) for r in sorted(_SELFTEST_ROWS, key=lambda r: r["topic"])]
        tr.section("self-test: mutants (each must lose points)")
        for line in format_table(rows).splitlines():
            tr.write_line(line)
        mutants = [r for r in rows if r.kind == "mutant"]
        alternatives = [r for r in rows if r.kind == "alternative"]
        tr.write_line(f"{sum(r.ok for r in mutants)}/{len(mutants)} mutants caught; "
                      f"{sum(r.ok for r in alternatives)}/{len(alternatives)} alternative correct answers at full marks")
