"""The instructor's whole loop on a small class of 08_dropout, without a browser.

One module-scoped run (``loop``) does what an instructor does, in order, and keeps a snapshot
after each step; the tests check the snapshots:

1. ``python3 course.py grade`` a class of three (a correct notebook, one that tries to leak the
   hidden tests, an invalid file);
2. grade written answers through nbgrader's ``Gradebook`` API, as the formgrader's handlers do
   (a manual score, ``needs_manual_grade`` cleared, a comment);
3. ``python3 course.py finalize``;
4. ``nbgrader generate_feedback``, ``nbgrader export`` and ``nbgrader autograde`` run in the
   output folder, as an instructor would type them there;
5. ``grade --force`` again.

Run time: two grading runs of two notebooks, plus nbgrader's commands (about 1.5 minutes of CPU).
"""
from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import grading_corpus as corpus
from autograder.__main__ import main as cli

TOPIC = corpus.TOPIC
COURSE_ID = "dl-interview-course"
MANUAL = {  # what the "formgrader" enters: (student, grade_id) -> (score, comment)
    ("alice", "interview_q1"): (2.0, "Right: **E[m x] = (1 - p) x**, so nothing changes at test time."),
    ("alice", "interview_q2"): (1.5, "Good; also mention evaluating the training set in eval mode."),
    ("carol", "interview_q1"): (0.0, "Please answer the question that was asked."),
}
pytestmark = pytest.mark.slow


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def _pages(out: Path) -> dict[str, str]:
    return {p.parts[-3]: p.read_text() for p in sorted((out / "feedback").glob(f"*/{TOPIC}/{TOPIC}.html"))}


def _grades(out: Path) -> dict[tuple[str, str], tuple]:
    """(student, grade_id) -> (manual_score, needs_manual_grade, comment) of every written answer."""
    from nbgrader.api import Gradebook

    state = {}
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        for student in ("alice", "carol"):
            for gid in ("interview_q1", "interview_q2"):
                grade = gb.find_grade(gid, TOPIC, TOPIC, student)
                comment = gb.find_comment(gid, TOPIC, TOPIC, student)
                state[(student, gid)] = (grade.manual_score, grade.needs_manual_grade, comment.manual_comment)
    return state


def _grade_like_the_formgrader(out: Path) -> None:
    """What nbgrader's formgrader API handlers do when a grader types a score and a comment."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        for (student, gid), (score, text) in MANUAL.items():
            grade = gb.find_grade(gid, TOPIC, TOPIC, student)
            grade.manual_score = score
            grade.needs_manual_grade = False  # GradeHandler.put: a score was given
            comment = gb.find_comment(gid, TOPIC, TOPIC, student)
            comment.manual_comment = text
        gb.db.commit()


def _nbgrader(out: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` typed in the output folder (its nbgrader_config.py is read from there)."""
    from autograder.nbcourse import subprocess_env

    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=out, capture_output=True, text=True,
                          env=subprocess_env(), timeout=600)


def _grade(submissions: Path, out: Path, *extra: str) -> None:
    assert cli(["grade", str(submissions), "--out", str(out), "--jobs", "2", "--no-progress",
                *corpus.GRADE_ARGS, *extra]) == 0


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    submissions, out = root / "class", root / "graded"
    corpus._write(submissions, "alice", corpus.answered())
    corpus._write(submissions, "carol", corpus.leaking_student())
    corpus._write(submissions, "dave", raw=b'{"cells": [ not json')
    snap = {"out": out}

    _grade(submissions, out)
    snap["graded"] = {"rows": _rows(out), "pages": _pages(out)}

    _grade_like_the_formgrader(out)
    from autograder.finalize import finalize

    rows, failed = finalize(out, echo=lambda *a: None)
    snap["finalized"] = {"rows": _rows(out), "pages": _pages(out), "failed": failed, "grades": _grades(out)}

    csv_digest = hashlib.sha256((out / "grades.csv").read_bytes()).hexdigest()
    shutil.rmtree(out / "feedback" / "alice")
    nbgrader_feedback = _nbgrader(out, "generate_feedback", TOPIC, "--force")
    exported = _nbgrader(out, "export")
    autograded = sorted(str(p.relative_to(out)) for p in (out / "autograded").rglob("*.ipynb"))
    autograde = _nbgrader(out, "autograde", TOPIC, "--force")
    snap["nbgrader"] = {"feedback": nbgrader_feedback, "pages": _pages(out), "export": exported,
                        "csv_unchanged": hashlib.sha256((out / "grades.csv").read_bytes()).hexdigest() == csv_digest,
                        "autograde": autograde, "autograded_before": autograded,
                        "autograded_after": sorted(str(p.relative_to(out)) for p in (out / "autograded").rglob("*.ipynb"))}
    finalize(out, echo=lambda *a: None)  # back to the course's feedback before the regrade

    _grade(submissions, out, "--force")
    snap["forced"] = {"rows": _rows(out), "pages": _pages(out), "grades": _grades(out)}
    return snap


# ----------------------------------------------------------------------------- 1. grade

def test_grading_writes_a_folder_the_formgrader_lists_completely(loop):
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    out = loop["out"]
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(out)).load_config()
    api = NbGraderAPI(CourseDirectory(config=cfg), config=cfg)
    assert not api.exchange_missing, "the formgrader would show the exchange banner"
    assert api.get_assignment(TOPIC)["num_submissions"] == 3
    listed = {s["student"]: s for s in api.get_submissions(TOPIC)}
    assert set(listed) == {"alice", "carol", "dave"}
    assert all(s["autograded"] for s in listed.values()), listed
    assert not list((out / "submitted").rglob("*.ipynb")), "student notebooks in submitted/ would let nbgrader run them"


def test_first_feedback_says_awaiting_grading_and_shows_one_total(loop):
    rows, pages = loop["graded"]["rows"], loop["graded"]["pages"]
    alice = rows["alice"]
    assert (alice["status"], alice["points"], alice["manual"], alice["manual_pending"], alice["total"]) == \
        ("ok", "11", "0", "4", "11"), alice
    assert rows["dave"]["status"] == "invalid" and rows["dave"]["manual_pending"] == "0"
    text = corpus.visible_text(pages["alice"])
    assert "total so far 11.0 / 15.0 points" in text
    assert text.count("awaiting grading") == 1 + 2 * 2  # the header; each written answer in the list and its cell
    assert "Autograded:" not in text and "0.0 / 2.0" not in text


# ----------------------------------------------------------------------------- 3. finalize

def test_finalize_merges_manual_grades_into_the_grades_file(loop):
    rows = loop["finalized"]["rows"]
    assert loop["finalized"]["failed"] == {}
    alice, carol = rows["alice"], rows["carol"]
    assert (alice["points"], alice["manual"], alice["manual_max"], alice["manual_pending"], alice["total"],
            alice["total_max"]) == ("11", "3.5", "4", "0", "14.5", "15"), alice
    assert alice[f"{TOPIC}:interview_q1"] == "2" and alice[f"{TOPIC}:interview_q2"] == "1.5"
    assert (carol["manual"], carol["manual_pending"]) == ("0", "2"), carol
    assert float(carol["total"]) == float(carol["points"])
    assert carol[f"{TOPIC}:interview_q1"] == "0" and carol[f"{TOPIC}:interview_q2"] == ""


def test_final_feedback_shows_manual_scores_and_comments(loop):
    pages = loop["finalized"]["pages"]
    alice, carol = corpus.visible_text(pages["alice"]), corpus.visible_text(pages["carol"])
    assert "total 14.5 / 15.0 points" in alice and "awaiting grading" not in alice
    assert "written answers 3.5 / 4.0" in alice
    assert "nothing changes at test time" in alice and "<strong>E[m x] = (1 - p) x</strong>" in pages["alice"]
    assert "Please answer the question that was asked." in carol
    assert carol.count("awaiting grading") == 1 + 2 * 1
    assert "total so far" in carol


def test_no_feedback_ever_shows_a_hidden_test(loop):
    lines = corpus.secret_lines()
    assert len(lines) > 20
    for stage in ("graded", "finalized", "nbgrader", "forced"):
        for student, page in loop[stage]["pages"].items():
            assert not corpus.leaked(page, lines), f"{stage}: {student}'s feedback shows {corpus.leaked(page, lines)[:3]}"


def test_feedback_shows_the_visible_tests_whole(loop):
    """Each test cell's visible region (split at the delimiters here, and equal to what nbgrader's
    release shows) appears whole in the feedback; `kept = out != 0` once went missing."""
    out = loop["out"]
    source = nbformat.read(out / "solutions" / TOPIC / f"{TOPIC}.ipynb", as_version=4)
    release = {corpus._meta(c).get("grade_id"): c.source
               for c in nbformat.read(out / "notebooks" / TOPIC / f"{TOPIC}.ipynb", as_version=4).cells}
    for stage in ("graded", "finalized", "nbgrader", "forced"):
        page = loop[stage]["pages"]["alice"]
        for gid, (visible, _) in corpus.test_cell_regions(source).items():
            assert "\n".join(visible).strip() == release[gid].strip(), f"{gid}: the answer key disagrees with the release"
            shown = corpus.code_text(corpus.cell_html(page, gid))
            assert " ".join(" ".join(visible).split()) in shown, f"{stage}: {gid} is not shown whole"
    assert "kept = out != 0" in corpus.code_text(corpus.cell_html(page, "test_dropout_basics"))


# ----------------------------------------------------------------------------- 4. nbgrader's own commands

def test_nbgrader_generate_feedback_in_the_folder_runs_the_course_sanitiser(loop):
    run = loop["nbgrader"]["feedback"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "not recognized" not in run.stderr
    pages = loop["nbgrader"]["pages"]
    assert set(pages) == {"alice", "carol", "dave"}
    assert pages["alice"] == loop["finalized"]["pages"]["alice"], "nbgrader's feedback differs from finalize's"


def test_nbgrader_export_does_not_touch_the_course_grades(loop):
    run, out = loop["nbgrader"]["export"], loop["out"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert loop["nbgrader"]["csv_unchanged"], "nbgrader export overwrote grades.csv"
    with open(out / "nbgrader_grades.csv", newline="") as fh:
        exported = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert float(exported["alice"]["score"]) == 14.5
    assert "status" in _rows(out)["alice"], "finalize or grade overwrote nbgrader's export"


def test_nbgrader_autograde_in_the_folder_runs_no_student_code(loop):
    run = loop["nbgrader"]["autograde"]
    assert run.returncode != 0 and "No notebooks were matched" in run.stdout + run.stderr
    assert loop["nbgrader"]["autograded_after"] == loop["nbgrader"]["autograded_before"]


# ----------------------------------------------------------------------------- 5. grade --force

def test_force_regrade_keeps_manual_grades_and_their_state(loop):
    before, after = loop["finalized"]["grades"], loop["forced"]["grades"]
    assert after == before
    assert after[("alice", "interview_q1")][:2] == (2.0, False)
    assert after[("carol", "interview_q2")][:2] == (None, True)
    keep = ("total", "points", "manual", "manual_pending")
    for student in ("alice", "carol", "dave"):
        assert {k: loop["forced"]["rows"][student][k] for k in keep} == \
            {k: loop["finalized"]["rows"][student][k] for k in keep}, student
    alice = corpus.visible_text(loop["forced"]["pages"]["alice"])
    assert "total 14.5 / 15.0 points" in alice and "nothing changes at test time" in alice


def test_force_regrade_flags_a_changed_answer_again():
    """A written answer whose text changed keeps its old score but goes back on the formgrader's list."""
    from autograder.grade import _unchanged_answers

    previous = {"sha256": "a", "answers": {"interview_q1": "x", "interview_q2": "y"}}
    assert _unchanged_answers({"sha256": "a", "answers": {"interview_q1": "x", "interview_q2": "y"}}, previous) == \
        {"interview_q1", "interview_q2"}
    assert _unchanged_answers({"sha256": "b", "answers": {"interview_q1": "x", "interview_q2": "z"}}, previous) == \
        {"interview_q1"}
    assert _unchanged_answers({"sha256": "b", "answers": {"interview_q1": "x"}}, None) == set()
    assert _unchanged_answers({"sha256": "a", "answers": {"interview_q1": "x"}}, {"sha256": "a"}) == {"interview_q1"}


def test_hand_back_folder_holds_only_feedback(loop):
    """feedback/ holds one page per student and nothing from the instructor's side."""
    files = sorted(str(p.relative_to(loop["out"] / "feedback")) for p in (loop["out"] / "feedback").rglob("*")
                   if p.is_file())
    assert files == [f"{s}/{TOPIC}/{TOPIC}.html" for s in ("alice", "carol", "dave")], files
