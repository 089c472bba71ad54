"""What a student gets back: the notice at the top of the feedback, the scores, the HTML page.

One job each:

- :func:`cell_grades` reads a submission's per-cell grades from nbgrader's gradebook (what the
  formgrader shows and edits);
- :func:`totals` sums them the one way every report uses (CSV, summary table, feedback page):
  autograded tests, written answers graded so far, points still awaiting a person;
- :func:`notice` writes the Markdown cell at the top of the feedback (status and notes; the
  scores are in the page header);
- :func:`exporter_settings` points nbconvert at the course's feedback template
  (``autograder/feedback_templates/feedback``: one total, "awaiting grading" for written answers
  nobody has graded yet, MathJax from a local copy when there is one, else from the CDN).

The template is named ``feedback`` like nbgrader's own, so the formgrader's "Generate Feedback"
button (which always asks for ``feedback``) renders it too.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "feedback_templates"
MATHJAX_CDN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
MATHJAX_CONFIG = "?config=TeX-AMS_CHTML-full,Safe"
MATHJAX_ENV = "COURSE_MATHJAX_URL"   # an instructor's own copy: a URL, or a path to MathJax.js


def _mathjax_candidates() -> list[Path]:
    """Where a stand-alone MathJax 2 (``MathJax.js``) is found when installed: Debian/Ubuntu's
    ``libjs-mathjax``, other distributions' ``mathjax`` packages, and Jupyter's data folders
    (the classic notebook's ``nbextensions/mathjax``). JupyterLab 4 and nbconvert ship none
    (JupyterLab's MathJax 3 is compiled into its own bundles)."""
    from jupyter_core.paths import jupyter_path

    system = [Path("/usr/share/javascript/mathjax"), Path("/usr/share/mathjax"),
              Path("/usr/local/share/javascript/mathjax"), Path("/opt/homebrew/share/mathjax")]
    jupyter = [Path(p) / sub for p in jupyter_path() for sub in ("nbextensions/mathjax", "mathjax")]
    return [folder / "MathJax.js" for folder in system + jupyter]


def mathjax_url(candidates: list[Path] | None = None) -> str:
    """The MathJax the feedback page tries first: ``$COURSE_MATHJAX_URL``, else the first local
    ``MathJax.js`` found (as a ``file://`` URL), else the CDN. The page falls back to the CDN
    when the first one does not load (a student's machine without that local copy)."""
    chosen = os.environ.get(MATHJAX_ENV, "").strip()
    if chosen:
        if "://" in chosen:
            return chosen
        return Path(chosen).resolve().as_uri() + MATHJAX_CONFIG
    for path in _mathjax_candidates() if candidates is None else candidates:
        if path.is_file():
            return path.resolve().as_uri() + MATHJAX_CONFIG
    return MATHJAX_CDN


def exporter_settings(cfg) -> None:
    """nbconvert settings for feedback pages, added to a traitlets ``Config``.

    ``template_name`` is left alone: ``GenerateFeedback`` asks for ``feedback`` (ours, first on
    the path) and the formgrader for ``formgrade`` (nbgrader's, still on the path).
    """
    import nbgrader

    nbgrader_templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    cfg.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
    cfg.HTMLExporter.mathjax_url = mathjax_url()


# ----------------------------------------------------------------------------- scores

def cell_grades(gb, assignment: str, student: str) -> list[dict]:
    """Every graded cell of one submission, as the gradebook holds it (``[]`` when the
    submission is not in the gradebook).

    Each dict: ``notebook``, ``grade_id``, ``score`` (nbgrader's: the manual score when a person
    gave one, else the autograder's), ``max_score``, ``auto_score``, ``manual_score``,
    ``needs_manual_grade``, ``kind`` (``"test"``: an autograded test cell; ``"manual"``: a
    written answer or any other cell a person grades).
    """
    from nbgrader.api import MissingEntry

    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return []
    cells = []
    for nb in submission.notebooks:
        for grade in nb.grades:
            test = grade.cell.cell_type == "code" and not _is_solution(gb, grade, nb.name, assignment)
            cells.append({"notebook": nb.name, "grade_id": grade.name, "score": float(grade.score or 0.0),
                          "max_score": float(grade.max_score or 0.0), "auto_score": grade.auto_score,
                          "manual_score": grade.manual_score, "needs_manual_grade": bool(grade.needs_manual_grade),
                          "kind": "test" if test else "manual"})
    return cells


def _is_solution(gb, grade, notebook: str, assignment: str) -> bool:
    """A graded code cell that students write in (nbgrader "autograded answer" or manual code)."""
    from nbgrader.api import MissingEntry

    try:
        gb.find_solution_cell(grade.name, notebook, assignment)
    except MissingEntry:
        return False
    return True


def totals(cells: list[dict]) -> dict:
    """Sums over :func:`cell_grades`: ``points``/``max_points`` (autograded tests),
    ``manual``/``manual_max`` (written answers graded so far / their maximum), ``manual_pending``
    (points of written answers awaiting a person), ``total``/``total_max``."""
    tests = [c for c in cells if c["kind"] == "test"]
    manual = [c for c in cells if c["kind"] == "manual"]
    graded = [c for c in manual if not c["needs_manual_grade"]]
    out = {"points": sum(c["score"] for c in tests), "max_points": sum(c["max_score"] for c in tests),
           "manual": sum(c["score"] for c in graded), "manual_max": sum(c["max_score"] for c in manual),
           "manual_pending": sum(c["max_score"] for c in manual if c["needs_manual_grade"])}
    out["total"] = out["points"] + out["manual"]
    out["total_max"] = out["max_points"] + out["manual_max"]
    return out


# ----------------------------------------------------------------------------- the notice

def notice(rec: dict) -> str:
    """The Markdown cell at the top of a student's feedback: why the score is what it is.

    The scores themselves are in the page header (one total); this says when the autograded
    score is held or zero, and repeats the grader's notes (failed test cells with their
    messages, limits hit, cells restored).
    """
    lines: list[str] = []
    status = rec.get("status", "ok")
    if rec.get("hold"):
        lines += ["**Your autograded score is held at 0 until the instructor reviews your notebook**: the grader "
                  "found code that may change what the tests check:", ""]
        lines += [f"- {html.escape(x)}" for x in str(rec.get("integrity", "")).split("; ") if x][:10]
        lines.append("")
    elif status != "ok":
        lines += [f"**Status: {html.escape(status)}**: the autograded tests scored 0.", ""]
    if rec.get("reason"):
        lines += [f"Notes from the grader: {html.escape(str(rec['reason']))}", ""]
    return "\n".join(lines).strip()
