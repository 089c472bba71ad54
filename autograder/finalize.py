"""Finalise a graded class: ``python3 course.py finalize OUT``.

Run it after ``python3 course.py grade`` and after grading the written answers in the formgrader
opened on ``OUT``. It

1. regenerates each student's feedback (``OUT/feedback/<student>/<assignment>/<assignment>.html``)
   with nbgrader's own ``GenerateFeedback``, configured by ``OUT/nbgrader_config.py``: the
   manual scores and the grader's comments from the gradebook, the course's sanitiser
   (:class:`autograder.preprocessors.CourseFeedback`: hidden tests removed exactly as in the
   autograde feedback), one total, "awaiting grading" where a written answer still waits;
2. rewrites ``OUT/grades.csv`` with ``total``, ``points`` (autograded), ``manual`` and
   ``manual_pending`` from the gradebook;
3. prints the summary table.

It runs no student code and can be repeated at any time (after more grading, or after
``grade --force``). ``nbgrader generate_feedback`` run in ``OUT`` (or the formgrader's "Generate
Feedback" button) writes the same feedback files; only ``finalize`` also updates ``grades.csv``.
"""
from __future__ import annotations

import fcntl
import sys
import warnings
from pathlib import Path

from autograder.grade import (UNGRADED, AssignmentInfo, GradeError, _mirror_for_formgrader, _write_csv, load_records,
                              print_table)


def finalize(out: Path, echo=print) -> tuple[list[dict], dict[tuple[str, str], str]]:
    """Merge the gradebook's manual grades into OUT's feedback and grades.csv; see the module doc.

    Returns ``(rows, failed)``: the rows written to ``grades.csv``, and the submissions whose
    feedback could not be written (``{(assignment, student): why}``).

    Raises:
        GradeError: if ``out`` is not a folder written by ``python3 course.py grade``, or a
            grading run is using it.
    """
    out = Path(out).resolve()
    if not (out / "gradebook.db").is_file() or not (out / "grader").is_dir():
        raise GradeError(f"{out} is not a graded class: run python3 course.py grade SUBMISSIONS --out {out} first")
    warnings.filterwarnings("ignore", module="nbgrader")
    with open(out / ".grader.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise GradeError(f"a grading run is using {out}; wait for it to finish") from exc
        from autograder.nbcourse import configure_graded_folder

        configure_graded_folder(out)  # a folder graded by an older version gets the current settings
        records = load_records(out)
        _mirror_for_formgrader(out, records)
        pairs = sorted({(r["assignment"], r["student"]) for r in records.values() if _has_notebook(out, r)})
        echo(f"regenerating the feedback of {len(pairs)} submission(s) with the gradebook's manual grades ...")
        failed = regenerate_feedback(out, pairs)
        infos = _assignment_infos(out, records)
        rows = _write_csv(out, infos, {})
    print_table(rows, echo)
    _report(rows, failed, out, echo)
    return rows, failed


def _has_notebook(out: Path, rec: dict) -> bool:
    """Has this submission an autograded notebook (the others got a short status page instead)?"""
    if rec["status"] in UNGRADED or rec["status"] == "error" or not rec.get("assignment"):
        return False
    return (out / "autograded" / rec["student"] / rec["assignment"] / f"{rec['assignment']}.ipynb").is_file()


def _assignment_infos(out: Path, records: dict) -> dict[str, AssignmentInfo]:
    names = sorted({r["assignment"] for r in records.values() if r.get("assignment")})
    return {name: AssignmentInfo.load(out, name) for name in names
            if (out / "solutions" / name / f"{name}.ipynb").is_file()}


def regenerate_feedback(out: Path, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Run nbgrader's ``GenerateFeedback`` in OUT (its ``nbgrader_config.py``) for each
    ``(assignment, student)``. Returns the failures: ``{(assignment, student): why}``.

    A failed submission keeps no feedback file (nbgrader removes it): a failure never leaves a
    page that might show hidden tests.
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config.loader import PyFileConfigLoader

    failed = {}
    for assignment, student in pairs:
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(out)).load_config()
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id, coursedir.student_id = assignment, student
        app = GenerateFeedback(coursedir=coursedir, config=cfg)
        app.force = True
        result = capture_log(app)
        page = out / "feedback" / student / assignment / f"{assignment}.html"
        if not result["success"] or not page.is_file():
            lines = [ln for ln in (result.get("log", "") + result.get("error", "")).splitlines() if ln.strip()]
            failed[(assignment, student)] = lines[-1][:300] if lines else "nbgrader wrote no feedback"
    return failed


def _report(rows: list[dict], failed: dict, out: Path, echo) -> None:
    pending = [r for r in rows if _number(r.get("manual_pending")) > 0]
    echo("")
    echo(f"Wrote {out / 'grades.csv'} (total = autograded points + manual) and the feedback in {out / 'feedback'}/.")
    if pending:
        who = ", ".join(f"{r['student']}/{r['assignment']}" for r in pending[:10]) + (" ..." if len(pending) > 10 else "")
        echo(f"{len(pending)} submission(s) still have written answers awaiting grading (manual_pending): {who}. "
             "Their feedback says 'awaiting grading'; grade them in the formgrader and finalize again.")
    else:
        echo("Every written answer is graded: hand back feedback/<student>/<assignment>/<assignment>.html.")
    for (assignment, student), why in sorted(failed.items()):
        echo(f"ERROR: no feedback for {student}/{assignment}: {why}")


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


# =============================================================================== CLI

def add_arguments(parser) -> None:
    """The ``finalize`` subcommand's arguments (used by ``python -m autograder``)."""
    parser.add_argument("out", type=Path, help="the folder python3 course.py grade wrote (its --out)")


def run_from_args(args) -> int:
    """Run the ``finalize`` command; 0 when every submission's feedback was written."""
    try:
        _, failed = finalize(args.out)
    except GradeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0
