"""The self-test, part 1: graders must tell right from wrong.

For every topic, the solution scores full marks and the untouched release scores 0, through
real ``nbgrader generate_assignment`` + ``nbgrader autograde``. Part 2 (every mutant loses
points) is in test_selftest_mutants.py, so the two run on different xdist workers.
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from autograder.config import topics
from autograder.selftest import autograde_check

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
