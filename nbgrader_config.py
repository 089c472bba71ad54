# nbgrader configuration for this course. Numbers come from autograder/config.py (one source of truth).
from autograder.config import CELL_TIMEOUT_S, STDERR_IGNORE_PATTERN

c = get_config()  # noqa: F821 - provided by nbgrader/traitlets

c.CourseDirectory.course_id = "dl-interview-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Training cells need more than nbgrader's default 30 s per cell on a slow laptop.
c.Execute.timeout = CELL_TIMEOUT_S
c.Execute.interrupt_on_timeout = True

# A graded cell that writes to stderr scores zero; drop known-harmless warnings first.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = STDERR_IGNORE_PATTERN

# Students edit the notebooks from a fresh state: no outputs in the release.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# solutions/<topic>/<topic>.py is the reviewable text twin of the notebook (jupytext py:percent).
# It holds the full solution, so it must never be copied into the student release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", "jupytext.toml"]

# Do not save ipywidgets state into graded notebooks: HTML feedback would then try to render
# live widgets from a CDN (blank offline); without it, explorers fall back to their static PNG.
c.Execute.store_widget_state = False
