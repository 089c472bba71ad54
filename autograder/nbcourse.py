"""Real nbgrader, run in a scratch course directory.

Everything that must be *real* nbgrader (generate_assignment, autograde, the gradebook) goes
through :class:`ScratchCourse`, so the repository never gets a ``gradebook.db``, an
``autograded/`` folder or a half-written release.

A graded class's output folder is an nbgrader course too: :func:`configure_graded_folder` makes
nbgrader's own tools safe there (feedback through the course's sanitiser, an exchange inside
it, ``nbgrader export`` away from the course's ``grades.csv``), and :func:`open_formgrader`
starts the formgrader on it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.config import KERNEL_ENV, ROOT, SOLUTIONS


def subprocess_env() -> dict[str, str]:
    """The environment for nbgrader subprocesses: this venv's bin/ first on PATH (nbgrader
    shells out to ``alembic``) and the repository importable (``nbgrader_config.py`` imports
    :mod:`autograder.config`), plus :data:`autograder.config.KERNEL_ENV` for the kernels."""
    env = {**os.environ, **KERNEL_ENV}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message carries its output."""


@dataclass
class NotebookScore:
    """Scores of one autograded notebook, read from nbgrader's gradebook.

    ``cells`` maps each graded cell's grade_id to ``(score, max_score)``; manually graded
    cells that nobody has graded yet have ``score = None``.
    """

    code_score: float
    max_code_score: float
    cells: dict[str, tuple[float | None, float]] = field(default_factory=dict)


class ScratchCourse:
    """An nbgrader course directory under ``root`` that uses this repository's config."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "nbgrader_config.py", self.root / "nbgrader_config.py")
        self.db_url = f"sqlite:///{self.root / 'gradebook.db'}"

    def add_source(self, topic: str) -> None:
        """Copy ``solutions/<topic>/`` (without its .py twin) into the course's source folder."""
        dest = self.root / "solutions" / topic
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(SOLUTIONS / topic, dest,
                        ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints", "__pycache__"))

    def nbgrader(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` in this course directory; raise :class:`NbgraderError` on failure."""
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=self.root,
                              capture_output=True, text=True, env=subprocess_env(), timeout=timeout)
        if proc.returncode != 0:
            raise NbgraderError(f"nbgrader {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def generate(self, topic: str, db: bool = True) -> Path:
        """``nbgrader generate_assignment`` (recording the assignment in the gradebook when
        ``db``); returns the release notebook path."""
        self.add_source(topic)
        self.nbgrader("generate_assignment", topic, "--force", *([] if db else ["--no-db"]))
        return self.root / "notebooks" / topic / f"{topic}.ipynb"

    def generate_in_process(self, topic: str) -> Path:
        """Like :meth:`generate` (recording the assignment in the gradebook), but through nbgrader's
        Python API in this process, which saves starting Python and importing nbgrader again.

        Raises:
            NbgraderError: if nbgrader reports a failure; the message carries its log.
        """
        from nbgrader.converters import GenerateAssignment
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.utils import capture_log
        from traitlets.config.loader import PyFileConfigLoader

        self.add_source(topic)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        coursedir = CourseDirectory(config=config, root=str(self.root))
        coursedir.assignment_id = topic
        app = GenerateAssignment(coursedir=coursedir, config=config)
        app.force = True
        app.create_assignment = True
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = subprocess_env()["PATH"]  # a new gradebook runs the `alembic` command
        try:
            result = capture_log(app)
        finally:
            os.environ["PATH"] = path
        if not result["success"]:
            raise NbgraderError(f"nbgrader generate_assignment {topic} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
        return self.root / "notebooks" / topic / f"{topic}.ipynb"

    def submit(self, student: str, topic: str, notebook: Path) -> Path:
        """Place ``notebook`` as ``submitted/<student>/<topic>/<topic>.ipynb``."""
        dest = self.root / "submitted" / student / topic / f"{topic}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, dest)
        return dest

    def autograde(self, topic: str, student: str | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
        args = ["autograde", topic, "--force"]
        if student:
            args.append(f"--student={student}")
        return self.nbgrader(*args, timeout=timeout)

    def score(self, topic: str, student: str) -> NotebookScore:
        """Read one autograded submission's scores from the gradebook.

        Raises:
            NbgraderError: if the submission was never autograded.
        """
        with Gradebook(self.db_url) as gb:
            try:
                nb = gb.find_submission_notebook(topic, topic, student)
            except MissingEntry as exc:
                raise NbgraderError(f"no autograded submission of {topic} by {student}") from exc
            cells = {g.name: (g.score, g.max_score) for g in nb.grades}
            return NotebookScore(float(nb.code_score), float(nb.max_code_score), cells)


# ----------------------------------------------------------------------------- a graded class's folder

GRADED_FOLDER_CONFIG = '''\
# nbgrader settings for this folder of graded work, written by `python3 course.py grade`
# (again on every run: change the course's own nbgrader_config.py instead).
#
# Grade the written answers in the formgrader opened here (`python3 course.py formgrader DIR`,
# or `jupyter lab` started in this folder), then run `python3 course.py finalize DIR`.
import os

from autograder.config import ROOT
from autograder.feedback import exporter_settings
from autograder.preprocessors import CourseFeedback

c = get_config()  # noqa: F821 - provided by traitlets
load_subconfig(str(ROOT / "nbgrader_config.py"))  # noqa: F821 - the course's ids, folders and limits
here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here

# nbgrader's "Generate Feedback" (the formgrader's button, `nbgrader generate_feedback`) runs the
# course's sanitiser: hidden tests are removed, and the notes and scores match what
# `python3 course.py finalize` writes to feedback/.
c.GenerateFeedback.preprocessors = ["nbgrader.preprocessors.GetGrades", CourseFeedback,
                                    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
c.CourseFeedback.course_dir = here
exporter_settings(c)

# `nbgrader export` writes nbgrader_grades.csv; grades.csv is the course's own report.
c.CsvExportPlugin.to = os.path.join(here, "nbgrader_grades.csv")

# An exchange inside this folder, so the formgrader has one (nothing needs releasing from here).
c.Exchange.root = os.path.join(here, "exchange")
'''


SUBMITTED_README = """\
One folder per graded submission (submitted/<student>/<assignment>/), holding nbgrader's
timestamp.txt when the submission had one, so that the formgrader lists and counts every
submission. The notebooks themselves are not copied here on purpose: nbgrader's own autograde,
run in this folder, then finds nothing to run. Student code runs only in the course's sandbox:
regrade with `python3 course.py grade SUBMISSIONS --out <this folder> --force`.
"""


def configure_graded_folder(out: Path) -> Path:
    """Make ``out`` (the grade command's output) a course folder nbgrader's own tools use safely.

    Writes ``out/nbgrader_config.py`` (:data:`GRADED_FOLDER_CONFIG`), creates the exchange
    folder it names and ``submitted/`` (with a README saying why it holds no notebooks).
    Returns the config file's path.
    """
    (out / "exchange").mkdir(exist_ok=True)
    (out / "submitted").mkdir(exist_ok=True)
    (out / "submitted" / "README.txt").write_text(SUBMITTED_README)
    path = out / "nbgrader_config.py"
    path.write_text(GRADED_FOLDER_CONFIG)
    return path


def open_formgrader(out: Path, jupyter_args: list[str]) -> int:
    """Start JupyterLab in the graded-class folder ``out`` on nbgrader's formgrader page.

    nbgrader reads ``out/nbgrader_config.py`` only when the server starts in ``out``; this
    starts it there (with this venv's ``jupyter``, the repository importable) and opens
    ``/formgrader``. ``jupyter_args`` go to ``jupyter lab`` (``--port 8890``, ``--no-browser``).
    Returns jupyter's exit status.
    """
    out = Path(out).resolve()
    if not (out / "gradebook.db").is_file():
        print(f"error: {out} is not a graded class: run python3 course.py grade SUBMISSIONS --out {out} first",
              file=sys.stderr)
        return 2
    configure_graded_folder(out)
    jupyter = Path(sys.executable).with_name("jupyter")
    cmd = [str(jupyter), "lab", f"--ServerApp.root_dir={out}", "--ServerApp.default_url=/formgrader", *jupyter_args]
    print(f"opening the formgrader on {out} (Ctrl+C to stop) ...", flush=True)
    try:
        return subprocess.run(cmd, cwd=out, env=subprocess_env()).returncode
    except KeyboardInterrupt:
        return 0
