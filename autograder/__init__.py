"""The instructor's layer on top of nbgrader: building the release, mutants, the self-test.

Modules, one job each:

- :mod:`autograder.config`   — paths, budgets and limits: the one place these numbers live.
- :mod:`autograder.build`    — solutions/*.py (jupytext py:percent) → solutions/*.ipynb → notebooks/.
- :mod:`autograder.course`   — run real nbgrader (generate_assignment, autograde) in a scratch course.
- :mod:`autograder.mutants`  — load the known-wrong answers kept in ``autograder/mutants/*.toml``.
- :mod:`autograder.selftest` — prove every solution scores full marks, every release 0, every mutant loses points.
- :mod:`autograder.bench`    — time each solution notebook headless against its budget.
"""
