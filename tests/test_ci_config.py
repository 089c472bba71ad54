"""The test run is configured the way the grader runs notebooks."""
from __future__ import annotations

from autograder.config import CELL_TIMEOUT_S


def test_nbval_uses_the_graders_cell_timeout(pytestconfig):
    # nbval's own default is 2,000 s per cell; a cell that times out in grading must fail here too
    assert float(pytestconfig.option.nbval_cell_timeout) == CELL_TIMEOUT_S
