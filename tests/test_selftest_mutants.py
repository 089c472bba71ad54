"""The self-test, part 2: every mutant loses points and every alternative keeps full marks.

Each topic's mutants run against the notebook's real test cells, hidden tests included, in one
kernel per notebook (see autograder.selftest.mutant_check). Part 1, the real nbgrader
autograde, is in test_selftest.py; the two files run on different xdist workers.
The table is printed at the end of the pytest run (see conftest.py).
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from autograder.config import topics
from autograder.selftest import mutant_check

TOPICS = topics()


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
