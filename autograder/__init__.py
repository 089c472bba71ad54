"""The instructor's layer on top of nbgrader: building the release, mutants, the self-test.

Modules, one job each:

- :mod:`autograder.config`   — paths, budgets and limits: the one place these numbers live.
- :mod:`autograder.build`    — solutions/*.py (jupytext py:percent) → solutions/*.ipynb → notebooks/.
- :mod:`autograder.mutants`  — load the known-wrong answers kept in ``autograder/mutants/*.toml``.
- :mod:`autograder.selftest` — prove every solution scores full marks, every release 0, every mutant loses points.
- :mod:`autograder.bench`    — time each solution notebook headless against its budget.
- :mod:`autograder.grade`    — ``python3 course.py grade``: grade a class in parallel, write grades.csv and feedback.
- :mod:`autograder.finalize` — ``python3 course.py finalize``: merge the formgrader's manual grades into grades.csv and the feedback.
- :mod:`autograder.feedback` — what a student gets back: scores from the gradebook, the notice, the feedback page's template.
- :mod:`autograder.hidden_messages` — the rule that a hidden test's message never shows its inputs or expected values.
- :mod:`autograder.submissions` — find submissions in the nbgrader or flat LMS layout, or a zip of either.
- :mod:`autograder.sandbox`  — the student's kernel process: limits and a private root file system.
- :mod:`autograder.integrity` — detect tampering with the checks (static scan and runtime snapshot).
- :mod:`autograder.preprocessors` — nbgrader preprocessors for sandboxed execution and leak-free feedback.
- :mod:`autograder.nbcourse` — real nbgrader in a scratch course directory.
"""
