"""The autograde self-test: graders must tell right from wrong.

For every topic:
- the solution scores full marks and the untouched release scores 0, through real
  ``nbgrader generate_assignment`` + ``nbgrader autograde``;
- every mutant in ``autograder/mutants/<topic>.toml`` loses points when the notebook's real
  test cells (hidden tests included) run against it.
The table of mutants is printed at the end of the pytest run (see conftest.py).
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from autograder.config import topics
from autograder.selftest import autograde_check, mutant_check

TOPICS = topics()


@pytest.mark.slow
@pytest.mark.parametrize("topic", TOPICS)
def test_real_autograde_solution_full_release_zero(topic, record_property):
    result = autograde_check(topic)
    record_property("autograde_row", json.dumps(dataclasses.asdict(result)))
    assert result.max_points > 0, f"{topic} has no autograded points"
    assert result.solution_points == result.max_points, (
        f"{topic}: the solution scored {result.solution_points}/{result.max_points} under nbgrader autograde")
    assert result.release_points == 0, (
        f"{topic}: the untouched release scored {result.release_points} (must be 0): "
        "some test cell passes without the student's code")


@pytest.mark.slow
@pytest.mark.parametrize("topic", TOPICS)
def test_every_mutant_loses_points(topic, record_property):
    baseline, rows = mutant_check(topic)
    record_property("selftest_rows", json.dumps([dataclasses.asdict(r) for r in rows]))
    broken = [f"{r.mutant}: {r.error}" for r in rows if r.error]
    assert not broken, f"{topic}: broken mutants:\n" + "\n".join(broken)
    survivors = [r.mutant for r in rows if r.kind == "mutant" and not r.caught]
    assert not survivors, f"{topic}: these wrong answers still score full marks: {survivors}"
    penalised = [f"{r.mutant}: {r.failed_cells}" for r in rows if r.kind == "alternative" and not r.ok]
    assert not penalised, f"{topic}: these correct alternative answers lose points:\n" + "\n".join(penalised)
