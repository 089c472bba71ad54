"""Grade a class: ``python3 course.py grade SUBMISSIONS [--out DIR] [--jobs N] [--force]``.

What one run does:

1. **Find** the submissions (:mod:`autograder.submissions`): nbgrader's
   ``submitted/<student>/<assignment>/<assignment>.ipynb`` layout, a flat LMS export
   (``alice_08_dropout.ipynb``), or a ``.zip`` of either. The inputs are only read.
2. **Generate** the assignments they need from ``solutions/`` with real
   ``nbgrader generate_assignment`` into ``OUT`` (an nbgrader course folder with
   ``gradebook.db``), once per change of the solution notebook.
3. **Autograde** every submission with real nbgrader, ``--jobs`` at a time. Each submission
   gets its own sandbox folder and its own copy of the gradebook (SQLite allows one writer),
   runs in the sandboxed kernel (:mod:`autograder.sandbox`: time, memory and output limits;
   ``solutions/``, gradebooks and other students' work out of reach) and is checked for
   tampering (:mod:`autograder.integrity`). Only the main process writes ``OUT/gradebook.db``.
4. **Report**: ``OUT/grades.csv`` (one row per student and assignment: status, reason,
   integrity findings, and the scores as the gradebook holds them: each graded cell, the
   autograded ``points``, the written answers' ``manual`` and ``manual_pending``, the ``total``),
   per-student feedback HTML in ``OUT/feedback/<student>/<assignment>/`` (hidden tests removed),
   the autograded notebooks (instructor only: they contain the hidden tests) and a summary
   table on stdout. ``OUT`` is also made ready for nbgrader's own tools
   (:func:`autograder.nbcourse.configure_graded_folder`, :func:`_mirror_for_formgrader`): the
   formgrader lists every submission, and its "Generate Feedback" runs the course's sanitiser.

Re-running skips a submission whose file, solution notebook and grader version are unchanged
since it was graded, unless ``--force`` is given; a regrade keeps what a person graded in the
formgrader (:func:`_merge`) and regenerates those students' feedback with it. After grading
the written answers, :mod:`autograder.finalize` merges them into the feedback and grades.csv.
Statuses (CSV column ``status``):

=============  ==============================================================================
``ok``         graded normally (the reason lists failed test cells and notes)
``integrity``  tampering found: score held at 0 for instructor review; ``raw_points`` keeps
               what the autograder gave, the ``integrity`` column names cell and line
``timeout``    the notebook ran past ``--notebook-timeout``: 0 points
``crashed``    the student's kernel died (``os._exit``, a segfault, killed): 0 points
``rejected``   nbgrader refused the notebook (e.g. a duplicated grade_id): 0 points
``invalid``    not a readable notebook (empty, invalid JSON, wrong schema): 0 points
``missing``    the assignment folder has no ``<assignment>.ipynb``: 0 points
``duplicate``  two files for the same student and assignment: not graded
``unmatched``  a file or folder that names no known assignment or student: not graded
``error``      the grader itself failed (a bug); re-running retries it
=============  ==============================================================================
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import functools
import html
import json
import logging
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder.config import (CELL_TIMEOUT_S, GRADE_FILE_SIZE_LIMIT_MB, GRADE_MEMORY_LIMIT_MB,
                               GRADE_NOTEBOOK_TIMEOUT_S, GRADE_OUTPUT_LIMIT_BYTES, GRADE_OUTPUT_MAX_LINES,
                               GRADE_OUTPUT_MAX_TRACEBACK, ROOT, SOLUTIONS, topics)
from autograder.feedback import cell_grades, notice, totals
from autograder.integrity import cell_name
from autograder.submissions import Submission, SubmissionsError, discover, load_notebook, sha256_file, unpack_zip

GRADER_VERSION = 1
UNGRADED = ("duplicate", "unmatched")       # rows without gradebook entries
ZERO_STATUSES = ("timeout", "crashed", "rejected", "invalid", "missing", "integrity")
_FIXED_COLUMNS = ["student", "assignment", "status", "total", "total_max", "points", "max_points", "manual",
                  "manual_max", "manual_pending", "raw_points", "reason", "integrity", "submission", "sha256"]


class GradeError(RuntimeError):
    """The run cannot start (bad paths, output folder in use); the message says what to do."""


@dataclass
class GradeSettings:
    """Options of one grading run (the CLI flags; defaults from :mod:`autograder.config`).

    ``out``: output folder; ``jobs``: parallel notebooks; ``force``: regrade everything;
    ``cell_timeout``/``notebook_timeout``: seconds; ``memory_mb``: kernel memory limit (MiB);
    ``output_limit``: output bytes kept per cell; ``namespaces``: use Linux namespaces when
    available (the audit hook is always on).
    """

    out: Path
    jobs: int = 0
    force: bool = False
    cell_timeout: int = CELL_TIMEOUT_S
    notebook_timeout: int = GRADE_NOTEBOOK_TIMEOUT_S
    memory_mb: int = GRADE_MEMORY_LIMIT_MB
    output_limit: int = GRADE_OUTPUT_LIMIT_BYTES
    namespaces: bool = True

    def __post_init__(self):
        self.out = Path(self.out).resolve()
        self.jobs = self.jobs or os.cpu_count() or 1


@dataclass
class AssignmentInfo:
    """What the grader needs to know about one assignment (from the generated course in OUT)."""

    name: str
    source: Path                  # OUT/solutions/<a>/<a>.ipynb (hidden tests inside)
    release: Path                 # OUT/notebooks/<a>/<a>.ipynb
    source_sha256: str
    tests: list[tuple[str, float]] = field(default_factory=list)    # autograded test cells, in order
    manual: list[tuple[str, float]] = field(default_factory=list)   # manually graded cells

    @property
    def max_points(self) -> float:
        return sum(p for _, p in self.tests)

    @classmethod
    def load(cls, out: Path, name: str) -> "AssignmentInfo":
        source = out / "solutions" / name / f"{name}.ipynb"
        current = SOLUTIONS / name / f"{name}.ipynb"
        info = cls(name, source, out / "notebooks" / name / f"{name}.ipynb", sha256_file(current) if current.is_file() else "")
        for cell in nbformat.read(source, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not meta.get("grade"):
                continue
            entry = (meta["grade_id"], float(meta.get("points", 0)))
            (info.tests if cell.cell_type == "code" and not meta.get("solution") else info.manual).append(entry)
        return info


# =============================================================================== main process

def grade(submissions: Path, settings: GradeSettings, progress: bool = True, echo=print) -> list[dict]:
    """Grade every submission under ``submissions`` (a folder or a .zip); see the module doc.

    Returns the rows written to ``grades.csv`` (dicts keyed by column name).

    Raises:
        GradeError: if the paths are unusable or another run holds the output folder.
        SubmissionsError: if the submissions cannot be read at all.
    """
    submissions = Path(submissions).resolve()
    out = settings.out
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy autoflush notices from nbgrader's API
    if not submissions.exists():
        raise GradeError(f"{submissions} does not exist; pass a folder of submissions or a .zip")
    if out == submissions or submissions in out.parents or out in submissions.parents:
        raise GradeError(f"--out {out} must be outside the submissions ({submissions}); the inputs are never written to")
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / ".grader.lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise GradeError(f"another grading run is using {out}; wait for it or choose another --out") from exc
    run_tmp = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        return _grade(submissions, settings, run_tmp, progress, echo)
    finally:
        shutil.rmtree(run_tmp, ignore_errors=True)
        lock.close()


def _grade(submissions: Path, settings: GradeSettings, run_tmp: Path, progress: bool, echo) -> list[dict]:
    out = settings.out
    private, sandboxes = run_tmp / "private", run_tmp / "sandboxes"
    private.mkdir()
    sandboxes.mkdir()
    started = time.monotonic()
    root = unpack_zip(submissions, private / "unzipped") if submissions.is_file() else submissions
    found = discover(root, topics())
    if not found:
        raise SubmissionsError(f"no submissions found in {submissions}: expected submitted/<student>/<assignment>/"
                               "<assignment>.ipynb or files named like alice_08_dropout.ipynb")
    needed = sorted({s.assignment for s in found if s.status not in UNGRADED and s.assignment})
    missing = [name for name in needed if not (SOLUTIONS / name / f"{name}.ipynb").exists()]
    if missing:
        raise GradeError(f"no solution notebook for {', '.join(missing)} in {SOLUTIONS}; "
                         "build it with `python3 course.py release` and grade again")
    digests = {name: sha256_file(SOLUTIONS / name / f"{name}.ipynb") for name in needed}

    records: dict[tuple[str, str], dict] = {}
    tasks, problems, skipped, refresh = [], [], 0, []
    for sub in found:
        if sub.status is not None:
            problems.append(sub)
            continue
        digest = sha256_file(sub.notebook)
        previous = _load_record(out, sub.student, sub.assignment)
        if not settings.force and previous and previous.get("sha256") == digest \
                and previous.get("source_sha256") == digests[sub.assignment] \
                and previous.get("version") == GRADER_VERSION and previous.get("status") != "error":
            records[sub.key] = previous
            skipped += 1
            continue
        tasks.append({"student": sub.student, "assignment": sub.assignment, "notebook": str(sub.notebook),
                      "where": sub.where, "timestamp": sub.timestamp, "ignored": sub.ignored, "sha256": digest})

    jobs = max(1, min(settings.jobs, len(tasks)))
    template, mpl_cache = private / "template.db", private / "mplconfig"
    worker_setup = {
        "out": str(out), "private": str(private), "sandboxes": str(sandboxes), "template": str(template),
        "mpl_cache": str(mpl_cache), "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "threads": max(1, (os.cpu_count() or 1) // jobs),
        "hide": [str(SOLUTIONS), str(ROOT / ".git"), str(ROOT / "autograder" / "mutants"), str(out),
                 str(submissions), str(private)],
    }
    isolation = set()
    with contextlib.ExitStack() as stack:
        if tasks:
            # Start the workers and matplotlib's font cache while the assignments are generated.
            pool = stack.enter_context(_pool(jobs, worker_setup))
            for _ in range(jobs):
                pool.submit(_warm_up)
            warming = _warm_matplotlib(mpl_cache)
        infos = _prepare_course(out, needed, echo)
        for sub in problems:
            records[(sub.student, sub.assignment or sub.where)] = _problem_record(sub, infos.get(sub.assignment))
        if tasks:
            from nbgrader.api import Gradebook

            _template_gradebook(out, template)
            warming.wait()
            gb = stack.enter_context(Gradebook(f"sqlite:///{out / 'gradebook.db'}", _course_id()))
            futures = {pool.submit(_grade_one, t): t for t in tasks}
            order = list(futures)
            bar = _progress(len(tasks), progress)
            bar.set_postfix_str(_in_flight(order, futures, jobs))
            for future in as_completed(futures):
                task = futures[future]
                try:
                    rec = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died: report, keep going
                    rec = _error_record(task, infos[task["assignment"]], f"the grading worker failed ({type(exc).__name__}: {exc})")
                rec["source_sha256"] = infos[rec["assignment"]].source_sha256
                _merge_into_gradebook(gb, rec, _read_record(out, rec["student"], rec["assignment"]))
                _save_record(out, rec)
                records[(rec["student"], rec["assignment"])] = rec
                isolation.update(rec.get("isolation", [])[:1])
                if _has_manual_work(gb, rec["assignment"], rec["student"]):
                    refresh.append((rec["assignment"], rec["student"]))
                bar.set_postfix_str(_in_flight(order, futures, jobs), refresh=False)
                bar.update(1)
            bar.close()
    for key, rec in records.items():
        if rec["status"] in ("missing", "invalid") and rec.get("assignment") in infos:
            _merge_zero_submission(out, rec)
    _mirror_for_formgrader(out, records)
    _save_problems(out, records)
    if refresh:
        from autograder.finalize import regenerate_feedback

        echo(f"regenerating the feedback of {len(refresh)} regraded submission(s) that a person had graded ...")
        for (assignment, student), why in regenerate_feedback(out, refresh).items():
            echo(f"WARNING: the feedback of {student}/{assignment} could not be regenerated: {why}")
    rows = _write_csv(out, infos, records)
    _print_summary(rows, skipped, len(tasks), time.monotonic() - started, out, isolation, echo)
    return rows


def _in_flight(order: list, futures: dict, jobs: int) -> str:
    """The submissions being graded now: the pool runs tasks in the order they were submitted."""
    running = [futures[f] for f in order if not f.done()][:jobs]
    if not running:
        return ""
    return "grading " + ", ".join(f"{t['student']}/{t['assignment']}" for t in running)


def _mirror_for_formgrader(out: Path, records: dict) -> None:
    """``submitted/<student>/<a>/`` and ``autograded/<student>/<a>/`` for every submission in the
    gradebook, so the formgrader lists and counts them all.

    The submitted folder holds only nbgrader's ``timestamp.txt`` (when the submission had one),
    never the notebook: nbgrader's own autograde, started from the formgrader in OUT, then finds
    nothing to run, and student code runs only in the course's sandbox.
    """
    for rec in records.values():
        if rec["status"] in UNGRADED or rec["status"] == "error" or not rec.get("assignment"):
            continue
        submitted = out / "submitted" / rec["student"] / rec["assignment"]
        submitted.mkdir(parents=True, exist_ok=True)
        stamp = submitted / "timestamp.txt"
        if rec.get("timestamp"):
            stamp.write_text(rec["timestamp"])
        elif stamp.exists():
            stamp.unlink()
        (out / "autograded" / rec["student"] / rec["assignment"]).mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def _pool(jobs: int, setup: dict):
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(setup,))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


@functools.lru_cache(maxsize=1)
def _course_id() -> str:
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    return cfg.CourseDirectory.get("course_id", "default_course")


def _prepare_course(out: Path, needed: list[str], echo) -> dict[str, AssignmentInfo]:
    """Generate each needed assignment into OUT (an nbgrader course) when its solution changed,
    and (re)write OUT's nbgrader_config.py (:func:`autograder.nbcourse.configure_graded_folder`)."""
    from autograder.nbcourse import NbgraderError, ScratchCourse, configure_graded_folder

    state_path = out / "grader" / "assignments.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    course = ScratchCourse(out)
    try:
        for name in needed:
            digest = sha256_file(SOLUTIONS / name / f"{name}.ipynb")
            if state.get(name) != digest or not (out / "notebooks" / name / f"{name}.ipynb").exists():
                echo(f"generating assignment {name} (nbgrader generate_assignment) ...")
                try:
                    course.generate_in_process(name)
                except NbgraderError as exc:
                    raise GradeError(f"could not generate assignment {name} from {SOLUTIONS / name}: {exc}\n"
                                     "Fix the solution notebook (python3 course.py release) and grade again.") from exc
                state[name] = digest
    finally:
        # ScratchCourse put the course's plain nbgrader_config.py in OUT; put back the one that
        # keeps nbgrader's own feedback safe, whatever happened.
        configure_graded_folder(out)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
    return {name: AssignmentInfo.load(out, name) for name in needed}


def _template_gradebook(out: Path, template: Path) -> Path:
    """A copy of OUT's gradebook with the assignments and no students: each submission's start."""
    from nbgrader.api import Gradebook

    shutil.copy(out / "gradebook.db", template)
    with Gradebook(f"sqlite:///{template}", _course_id()) as gb:
        for student in list(gb.students):
            gb.remove_student(student.id)
    return template


def _warm_matplotlib(cache: Path) -> subprocess.Popen:
    """Start building matplotlib's font cache in ``cache`` (every sandbox gets a copy; else each
    kernel would rebuild it). Returns the running process: ``wait()`` before using the cache."""
    from autograder.nbcourse import subprocess_env

    cache.mkdir(exist_ok=True)
    env = dict(subprocess_env(), MPLCONFIGDIR=str(cache))
    return subprocess.Popen([sys.executable, "-c", "import matplotlib.font_manager"], env=env, cwd=cache,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _record_path(out: Path, student: str, assignment: str) -> Path:
    return out / "grader" / "results" / student / f"{assignment}.json"


def _load_record(out: Path, student: str, assignment: str) -> dict | None:
    path = _record_path(out, student, assignment)
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if (out / rec.get("feedback", "-")).exists() else None


def _read_record(out: Path, student: str, assignment: str) -> dict | None:
    """The saved record of a submission, whether or not its feedback still exists."""
    try:
        return json.loads(_record_path(out, student, assignment).read_text())
    except (OSError, ValueError):
        return None


def _save_problems(out: Path, records: dict) -> None:
    """This run's rows without a saved record (missing, duplicate, unmatched): finalize reports them too."""
    problems = [r for r in records.values() if r["status"] in UNGRADED or r["status"] == "missing"]
    path = out / "grader" / "problems.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(problems, indent=1, sort_keys=True))


def load_records(out: Path) -> dict[tuple[str, str], dict]:
    """Every row OUT reports: the saved records, plus the last grading run's problem rows."""
    records: dict[tuple[str, str], dict] = {}
    try:
        for rec in json.loads((out / "grader" / "problems.json").read_text()):
            records[(rec["student"], rec.get("assignment") or rec["submission"])] = rec
    except (OSError, ValueError):
        pass
    for path in sorted((out / "grader" / "results").glob("*/*.json")):
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        records.setdefault((rec["student"], rec["assignment"]), rec)
    return records


def _save_record(out: Path, rec: dict) -> None:
    path = _record_path(out, rec["student"], rec["assignment"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1, sort_keys=True))


def _base_record(student: str, assignment: str, where: str, info: AssignmentInfo | None) -> dict:
    return {"student": student, "assignment": assignment, "submission": where, "status": "ok",
            "points": 0.0, "max_points": info.max_points if info else 0.0, "raw_points": 0.0,
            "manual_pending": 0.0, "reason": "", "integrity": "", "cells": {}, "sha256": "",
            "source_sha256": info.source_sha256 if info else "", "version": GRADER_VERSION,
            "isolation": [], "feedback": "", "gradebook": [], "hold": False, "timestamp": None}


def _problem_record(sub: Submission, info: AssignmentInfo | None) -> dict:
    rec = _base_record(sub.student, sub.assignment, sub.where, info)
    rec["status"] = sub.status
    points = "; 0 points" if sub.status == "missing" else "; not graded"
    rec["reason"] = sub.reason + points
    if info:
        rec["cells"] = {gid: 0.0 for gid, _ in info.tests}
    return rec


def _error_record(task: dict, info: AssignmentInfo, why: str) -> dict:
    rec = _base_record(task["student"], task["assignment"], task["where"], info)
    rec.update(status="error", reason=f"{why}; re-run to retry", sha256=task["sha256"])
    return rec


def _merge_into_gradebook(gb, rec: dict, previous: dict | None = None) -> None:
    """Write one graded submission into OUT's gradebook (main process only: one SQLite writer).

    ``previous`` is the record of the last grading of the same submission, if any: what a
    person graded since then (see :func:`_merge`) is kept.
    """
    if rec["status"] in UNGRADED or rec["status"] == "error":
        return
    with warnings.catch_warnings():
        # nbgrader's add_submission triggers SQLAlchemy autoflush warnings that are harmless
        warnings.simplefilter("ignore")
        _merge(gb, rec, previous)


def _merge(gb, rec: dict, previous: dict | None = None) -> None:
    """The autograder's scores into the gradebook, keeping a person's work.

    A written answer a person graded keeps its score, and stays off the formgrader's "needs
    manual grade" list while its text is unchanged (nbgrader's own autograde would flag it
    again). An instructor's score on a test cell of the same file is kept too. Manual scores
    and comments are never deleted: an answer whose text changed keeps its old score and is
    flagged for another look.
    """
    student, assignment = rec["student"], rec["assignment"]
    gb.update_or_create_student(student)
    kwargs = {"timestamp": rec["timestamp"]} if rec.get("timestamp") else {}
    try:
        submission = gb.update_or_create_submission(assignment, student, **kwargs)
    except Exception:  # noqa: BLE001 - e.g. an unparsable timestamp.txt
        submission = gb.update_or_create_submission(assignment, student)
    given = {(c["notebook"], c["grade_id"]): c for c in rec.get("gradebook", [])}
    unchanged = _unchanged_answers(rec, previous)
    for nb in submission.notebooks:
        nb.flagged = bool(rec.get("hold"))
        for grade in nb.grades:
            cell = given.get((nb.name, grade.name))
            if cell is None:  # nothing ran (rejected, invalid, missing): every cell scores 0
                grade.auto_score, grade.needs_manual_grade = 0.0, False
                continue
            grade.auto_score = cell["auto_score"]
            if cell["autograded"]:
                grade.needs_manual_grade = cell["needs_manual_grade"]
                grade.manual_score = _test_cell_manual_score(grade.manual_score, rec, previous)
            elif grade.manual_score is None or grade.name not in unchanged:
                grade.needs_manual_grade = cell["needs_manual_grade"]
    gb.db.commit()


def _unchanged_answers(rec: dict, previous: dict | None) -> set[str]:
    """grade_ids of the written answers whose text is what it was when last graded."""
    if not previous:
        return set()
    now, before = rec.get("answers") or {}, previous.get("answers") or {}
    if not before:  # a record from before answers were fingerprinted: the same file means the same answers
        return set(now) if previous.get("sha256") == rec.get("sha256") else set()
    return {gid for gid, digest in now.items() if before.get(gid) == digest}


def _test_cell_manual_score(current: float | None, rec: dict, previous: dict | None) -> float | None:
    """The manual score of an autograded test cell: 0 while held for review, else none; but an
    instructor's own score for the same file is kept (the hold's 0 is told apart by the last record)."""
    ours = bool(previous and previous.get("hold")) and current == 0.0
    if current is not None and not ours and previous and previous.get("sha256") == rec.get("sha256"):
        return current
    return 0.0 if rec.get("hold") else None


def _has_manual_work(gb, assignment: str, student: str) -> bool:
    """Did a person grade or comment on anything in this submission (the formgrader's work)?"""
    from nbgrader.api import MissingEntry

    try:
        submission = gb.find_submission(assignment, student)
    except MissingEntry:
        return False
    for nb in submission.notebooks:
        if any(g.manual_score is not None for g in nb.grades) or any(c.manual_comment for c in nb.comments):
            return True
    return False


def _merge_zero_submission(out: Path, rec: dict) -> None:
    """Missing and invalid notebooks: a submission with 0 on every cell in OUT's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", _course_id()) as gb:
        _merge_into_gradebook(gb, dict(rec, gradebook=[]))


def _write_csv(out: Path, infos: dict[str, AssignmentInfo], records: dict) -> list[dict]:
    """grades.csv: every record found in OUT (earlier runs included) plus this run's problems,
    with the scores as the gradebook holds them now (written answers graded in the formgrader
    included)."""
    all_records = dict(records)
    for key, rec in load_records(out).items():
        all_records.setdefault(key, rec)
    names = sorted({r["assignment"] for r in all_records.values() if r.get("assignment")})
    cell_columns = []
    for name in names:
        info = infos.get(name)
        ids = [gid for gid, _ in info.tests + info.manual] if info else sorted(
            {k for r in all_records.values() if r.get("assignment") == name for k in r["cells"]})
        cell_columns += [f"{name}:{gid}" for gid in ids]
    rows = []
    with _open_gradebook(out) as gb:
        for rec in sorted(all_records.values(), key=lambda r: (r["student"], r.get("assignment") or "", r["submission"])):
            cells = cell_grades(gb, rec["assignment"], rec["student"]) if gb and rec.get("assignment") \
                and rec["status"] not in UNGRADED and rec["status"] != "error" else []
            rows.append(_csv_row(rec, cells, infos.get(rec.get("assignment"))))
    columns = _FIXED_COLUMNS + cell_columns
    tmp = out / "grades.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in row.items()})
    tmp.replace(out / "grades.csv")
    return rows


@contextlib.contextmanager
def _open_gradebook(out: Path):
    """OUT's gradebook, or ``None`` when there is none yet (a run that graded nothing)."""
    if not (out / "gradebook.db").exists():
        yield None
        return
    from nbgrader.api import Gradebook

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(f"sqlite:///{out / 'gradebook.db'}", _course_id()) as gb:
            yield gb


def _csv_row(rec: dict, cells: list[dict], info: AssignmentInfo | None) -> dict:
    """One row of grades.csv: the record's status and notes, the gradebook's scores.

    Without gradebook cells (duplicate, unmatched, error) the record's points stand and nothing
    is manual. A written answer awaiting a person has an empty cell column.
    """
    row = {k: rec.get(k, "") for k in _FIXED_COLUMNS}
    if cells:
        row.update(totals(cells))
        for c in cells:
            pending = c["kind"] == "manual" and c["needs_manual_grade"]
            row[f"{rec['assignment']}:{c['grade_id']}"] = "" if pending else c["score"]
        return row
    manual_max = sum(p for _, p in info.manual) if info else 0.0
    ungraded = rec["status"] in UNGRADED
    row.update(manual=0.0, manual_max=manual_max, manual_pending=0.0, total="" if ungraded else rec["points"],
               total_max=float(rec.get("max_points") or 0.0) + manual_max)
    for gid, score in rec.get("cells", {}).items():
        row[f"{rec['assignment']}:{gid}"] = score
    return row


def _fmt(value):
    if isinstance(value, float):
        return f"{value:g}"
    return value


def _print_summary(rows: list[dict], skipped: int, graded: int, seconds: float, out: Path, isolation: set, echo) -> None:
    print_table(rows, echo)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    echo("")
    echo(f"{len(rows)} rows: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) +
         f". Graded {graded} notebook(s) in {seconds:.0f} s; skipped {skipped} already graded (--force regrades them).")
    echo(f"Wrote {out / 'grades.csv'}, feedback in {out / 'feedback'}/ (for students) and "
         f"{out / 'autograded'}/ (instructor only: contains hidden tests).")
    pending = [r for r in rows if _num(r.get("manual_pending"))]
    if pending:
        echo(f"{len(pending)} submission(s) have written answers awaiting grading (manual_pending): grade them in "
             f"the formgrader (python3 course.py formgrader {out}), then run python3 course.py finalize {out}.")
    weak = sorted(i for i in isolation if i != "isolation: private root")
    if weak:
        echo("WARNING: student code ran with weaker isolation than a private root file system: " + "; ".join(weak) +
             ". The audit hook still blocked reading solutions/ and gradebooks from Python code.")


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def print_table(rows: list[dict], echo, reason_width: int = 90) -> None:
    """The summary table: one line per row of grades.csv; the reason is cut at a word boundary."""
    header = ("student", "assignment", "status", "points", "manual", "manual_pending", "total", "reason")
    body = []
    for r in rows:
        graded = r["status"] not in UNGRADED
        pair = lambda a, b: f"{_fmt(a)}/{_fmt(b)}" if graded else "-"  # noqa: E731
        body.append((r["student"], r["assignment"] or "?", r["status"], pair(r["points"], r["max_points"]),
                     pair(r["manual"], r["manual_max"]) if _num(r.get("manual_max")) else "-",
                     _fmt(r["manual_pending"]) if graded else "-", pair(r["total"], r["total_max"]),
                     shorten(str(r["reason"]), reason_width)))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    line = lambda cols: "  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()  # noqa: E731
    echo(line(header))
    echo(line(["-" * w for w in widths]))
    for row in body:
        echo(line(row))


# =============================================================================== worker process

_W: dict = {}
_ASSIGNMENTS: dict[str, dict] = {}


def _worker_init(setup: dict) -> None:
    """Process-pool initializer: remember the run's paths, quiet nbgrader's loggers, warm imports."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is handled by the main process
    _W.clear()
    _W.update(setup)
    from autograder.nbcourse import subprocess_env

    os.environ["PATH"] = subprocess_env()["PATH"]
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy autoflush notices from nbgrader's API
    warnings.filterwarnings("ignore", module="nbformat")  # old notebooks without cell ids: converted anyway
    log = logging.getLogger("traitlets")
    log.handlers[:] = [logging.NullHandler()]
    log.propagate = False
    log.setLevel(logging.INFO)
    from autograder.sandbox import write_kernelspec

    kernel_dir = Path(setup["private"]) / f"kernelspec-{os.getpid()}"
    write_kernelspec(kernel_dir)
    _W["kernelspec_dir"] = str(kernel_dir)
    # Warm the imports once per worker (nbgrader, nbconvert's HTML exporter, IPython's transformer).
    import nbconvert.exporters  # noqa: F401
    import nbgrader.converters  # noqa: F401
    from IPython.core.inputtransformer2 import TransformerManager  # noqa: F401

    import autograder.preprocessors  # noqa: F401


def _warm_up() -> None:
    """A no-op task: submitting one per worker starts the workers early."""


def _assignment(name: str) -> dict:
    if name not in _ASSIGNMENTS:
        from autograder.integrity import protected_names
        from autograder.preprocessors import hidden_test_lines

        out = Path(_W["out"])
        info = AssignmentInfo.load(out, name)
        source = nbformat.read(info.source, as_version=4)
        release = nbformat.read(info.release, as_version=4)
        _ASSIGNMENTS[name] = {"info": info, "source": source, "release": release,
                              "hidden": hidden_test_lines(source, release), "protected": protected_names(source)}
    return _ASSIGNMENTS[name]


def _grade_one(task: dict) -> dict:
    """Worker: grade one submission in its own sandbox and gradebook copy; return its record."""
    a = _assignment(task["assignment"])
    info: AssignmentInfo = a["info"]
    rec = _base_record(task["student"], task["assignment"], task["where"], info)
    rec.update(sha256=task["sha256"], timestamp=task.get("timestamp"))
    uid = uuid.uuid4().hex[:12]
    sandbox, private = Path(_W["sandboxes"]) / uid, Path(_W["private"]) / uid
    out = Path(_W["out"])
    log_path = out / "grader" / "logs" / task["student"] / f"{task['assignment']}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        _grade_in_sandbox(task, a, rec, sandbox, private, log_path)
    except Exception as exc:  # noqa: BLE001 - a grader bug must not stop the batch
        log_path.write_text(traceback.format_exc())
        rec.update(status="error", points=0.0, reason=f"grader error ({type(exc).__name__}: {exc}); "
                                                       f"see {log_path.relative_to(out)}; re-run to retry")
    finally:
        for folder in (sandbox, sandbox.parent / f"{sandbox.name}.root", private):
            shutil.rmtree(folder, ignore_errors=True)
    rec["seconds"] = round(time.monotonic() - started, 2)
    return rec


def _grade_in_sandbox(task: dict, a: dict, rec: dict, sandbox: Path, private: Path, log_path: Path) -> None:
    from nbgrader.api import Gradebook

    info: AssignmentInfo = a["info"]
    settings = _W["settings"]
    out = Path(_W["out"])
    student, name = task["student"], task["assignment"]
    notes: list[str] = []
    data = Path(task["notebook"]).read_bytes()
    loaded = load_notebook(data)
    notes += loaded.notes
    if task.get("ignored"):
        notes.append(f"other files in the submission folder were not graded: {', '.join(task['ignored'][:5])}")
    rec["cells"] = {gid: 0.0 for gid, _ in info.tests}
    if loaded.problem:
        rec.update(status="invalid", reason=_join([loaded.problem + "; 0 points"] + notes))
        rec["feedback"] = _simple_feedback(out, student, name, rec, info)
        return
    nb = loaded.nb
    structure, rejected_why = _structure(nb, a)
    findings = _scan(nb, a)

    # The sandbox is all that student code sees: an empty working folder (plus any data files
    # shipped with the release), a home and a temp folder. nbgrader's course folder (the
    # submitted copy, the autograded notebook with its hidden tests), the gradebook and the logs
    # stay in the worker's private folder.
    submitted = private / "course" / "submitted" / student / name
    submitted.mkdir(parents=True)
    for sub in ("work", "home", "tmp"):
        (sandbox / sub).mkdir(parents=True)
    shutil.copytree(_W["mpl_cache"], sandbox / "home" / ".config" / "matplotlib")
    for extra in info.release.parent.iterdir():
        if extra.is_file() and extra.suffix != ".ipynb":
            shutil.copy(extra, sandbox / "work" / extra.name)
    notebook_path = submitted / f"{name}.ipynb"
    if loaded.notes:
        nbformat.write(nb, notebook_path)
    else:
        notebook_path.write_bytes(data)
    if task.get("timestamp"):
        from nbgrader.utils import parse_utc

        try:
            parse_utc(task["timestamp"])
            (submitted / "timestamp.txt").write_text(task["timestamp"])
        except Exception:  # noqa: BLE001 - dateutil raises several types
            notes.append(f"timestamp.txt ({task['timestamp'][:40]!r}) is not a date and was ignored")
            rec["timestamp"] = None
    (private / "source" / name).mkdir(parents=True)
    (private / "feedback").mkdir()
    db = private / "gradebook.db"
    shutil.copy(_W["template"], db)

    cfg = _nbgrader_config(sandbox, private, a, settings)
    t_autograde = time.monotonic()
    result = _run_converter("Autograde", cfg, name, student)
    report_file = private / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    if (report.get("aborted") or {}).get("kind") == "kernel_start" and settings["namespaces"]:
        # The namespace sandbox could not start a kernel on this machine (student code cannot
        # cause this: it runs only after the start). Grade with the audit hook alone, and say so.
        first = result.get("log", "") + result.get("error", "")
        cfg = _nbgrader_config(sandbox, private, a, dict(settings, namespaces=False))
        result = _run_converter("Autograde", cfg, name, student)
        result["log"] = first + "\n--- retried without namespaces ---\n" + result.get("log", "")
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        report.setdefault("isolation", []).append("the namespace sandbox did not start a kernel; see the log")
    rec["timings"] = {"autograde": round(time.monotonic() - t_autograde, 2)}
    log_path.write_text(result.get("log", "") + result.get("error", ""))
    rec["isolation"] = report.get("isolation", [])
    autograded = private / "course" / "autograded" / student / name / f"{name}.ipynb"

    if not result["success"] or not autograded.exists():
        why = rejected_why or _nbgrader_failure(result)
        rec.update(status="rejected", reason=_join([f"{why}; 0 points"] + structure + notes))
        rec["integrity"] = "; ".join(str(f) for f in findings)
        rec["feedback"] = _simple_feedback(out, student, name, rec, info)
        return

    gradebook, raw, pending = _scores(f"sqlite:///{db}", name, student, info)
    graded_nb = nbformat.read(autograded, as_version=4)
    rec["gradebook"], rec["raw_points"], rec["manual_pending"] = gradebook, raw, pending
    rec["answers"] = _answer_digests(graded_nb, info)
    rec["cells"] = {c["grade_id"]: c["auto_score"] or 0.0 for c in gradebook if c["autograded"]}
    runtime = [f"after {cell_name(c['cell'], c['label'])}: {c['what']}" for c in report.get("changed", [])]
    integrity = [str(f) for f in findings] + runtime
    rec["integrity"] = "; ".join(integrity)

    aborted = report.get("aborted")
    reasons: list[str] = []
    if aborted and aborted["kind"] == "kernel_start":
        raise RuntimeError(f"the sandboxed kernel did not start: {aborted['exception']} (see the log)")
    status, points = "ok", raw
    if integrity:
        status, points = "integrity", 0.0
        reasons.append(f"score held at 0 pending instructor review: the code may tamper with the checks "
                       f"(see the integrity column); the autograder gave {raw:g}/{info.max_points:g}")
    if aborted:
        where = f" while running {cell_name(aborted['cell'], aborted['label'])}" if aborted.get("cell") is not None else ""
        if aborted["kind"] == "timeout":
            reasons.append(f"timed out: {aborted['why']}{where}; 0 points")
        else:
            reasons.append(f"crashed: the kernel died{where} (the student's code ended the Python process, "
                           "e.g. os._exit, a segfault, or it was killed); 0 points")
        if not integrity:
            status = "timeout" if aborted["kind"] == "timeout" else "crashed"
        points = 0.0
    rec.update(status=status, points=points, hold=bool(integrity))
    if rec["hold"] or aborted:
        rec["cells"] = {gid: 0.0 for gid in rec["cells"]}
    reasons += _test_summary(graded_nb, a, settings)
    reasons += _report_notes(report, settings)
    rec["reason"] = _join(reasons + structure + notes)

    if rec["hold"]:
        with Gradebook(f"sqlite:///{db}", _course_id()) as gb:
            _merge_into_gradebook(gb, rec)  # manual score 0 on every test cell: what feedback shows
    cfg.SanitizeFeedback.notice = notice(rec)
    t_feedback = time.monotonic()
    feedback = _run_converter("GenerateFeedback", cfg, name, student)
    rec["timings"]["feedback"] = round(time.monotonic() - t_feedback, 2)
    rec["timings"]["notebook"] = report.get("seconds")
    html_file = private / "feedback" / student / name / f"{name}.html"
    if feedback["success"] and html_file.exists():
        dest = out / "feedback" / student / name / f"{name}.html"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(html_file, dest)
        rec["feedback"] = str(dest.relative_to(out))
    else:
        with open(log_path, "a") as fh:
            fh.write("\n--- generate_feedback ---\n" + feedback.get("log", "") + feedback.get("error", ""))
        rec["feedback"] = _simple_feedback(out, student, name, rec, info)
    dest = out / "autograded" / student / name
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(autograded, dest / autograded.name)


def _nbgrader_config(sandbox: Path, private: Path, a: dict, settings: dict):
    """The repository's nbgrader_config.py plus this submission's paths, limits and pipeline."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, GetGrades, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.feedback import exporter_settings
    from autograder.preprocessors import SandboxedExecute, SanitizeFeedback
    from autograder.sandbox import SandboxSpec

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    cfg.CourseDirectory.root = str(private / "course")
    cfg.CourseDirectory.source_directory = str(private / "source")
    cfg.CourseDirectory.feedback_directory = str(private / "feedback")
    cfg.CourseDirectory.db_url = f"sqlite:///{private / 'gradebook.db'}"
    cfg.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                             SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    cfg.OverwriteCells.add_missing_cells = True  # a deleted test cell is put back and run, not skipped
    (sandbox.parent / f"{sandbox.name}.root").mkdir(exist_ok=True)
    spec = SandboxSpec(sandbox=str(sandbox), workdir=str(sandbox / "work"), root=str(sandbox.parent / f"{sandbox.name}.root"),
                       hide=[*_W["hide"], str(Path(_W["sandboxes"]))],
                       memory_mb=int(settings["memory_mb"]), cpu_s=int(settings["notebook_timeout"]) * 2 + 60,
                       fsize_mb=GRADE_FILE_SIZE_LIMIT_MB, namespaces=bool(settings["namespaces"]))
    cfg.SandboxedExecute.sandbox_spec = spec.to_json()
    cfg.SandboxedExecute.kernelspec_dir = _W["kernelspec_dir"]
    cfg.SandboxedExecute.timeout = int(settings["cell_timeout"])
    cfg.SandboxedExecute.notebook_timeout = int(settings["notebook_timeout"])
    cfg.SandboxedExecute.output_limit = int(settings["output_limit"])
    cfg.SandboxedExecute.threads = int(_W["threads"])
    cfg.SandboxedExecute.report_path = str(private / "report.json")
    cfg.SandboxedExecute.kernel_log = str(private / "kernel.log")
    cfg.SandboxedExecute.skip_cells_with_tag = f"course-grader-never-skip-{uuid.uuid4().hex}"
    cfg.SandboxedExecute.interrupt_on_timeout = True
    cfg.SandboxedExecute.startup_timeout = 180  # torch imports slowly on a busy machine
    cfg.LimitOutput.max_lines = GRADE_OUTPUT_MAX_LINES
    cfg.LimitOutput.max_traceback = GRADE_OUTPUT_MAX_TRACEBACK
    cfg.GenerateFeedback.preprocessors = [GetGrades, SanitizeFeedback, CSSHTMLHeaderPreprocessor]
    cfg.SanitizeFeedback.hidden_lines = list(a["hidden"])
    exporter_settings(cfg)
    return cfg


def _run_converter(kind: str, cfg, assignment: str, student: str) -> dict:
    """Run nbgrader's Autograde or GenerateFeedback converter in this process (nbgrader's API)."""
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    cls = Autograde if kind == "Autograde" else GenerateFeedback
    app = cls(coursedir=coursedir, config=cfg)
    app.force = True
    if kind == "Autograde":
        app.create_student = True
    return capture_log(app)


def _scores(db_url: str, assignment: str, student: str, info: AssignmentInfo):
    """Per-cell results from a submission's gradebook: (cells, autograded points, pending manual points)."""
    from nbgrader.api import Gradebook

    tests = {gid for gid, _ in info.tests}
    cells, raw, pending = [], 0.0, 0.0
    with Gradebook(db_url, _course_id()) as gb:
        submission = gb.find_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                autograded = grade.name in tests
                cells.append({"notebook": nb.name, "grade_id": grade.name, "autograded": autograded,
                              "auto_score": grade.auto_score, "needs_manual_grade": bool(grade.needs_manual_grade),
                              "max_score": float(grade.max_score)})
                if autograded:
                    raw += float(grade.auto_score or 0.0)
                elif grade.needs_manual_grade:
                    pending += float(grade.max_score)
    order = {gid: i for i, (gid, _) in enumerate(info.tests + info.manual)}
    cells.sort(key=lambda c: order.get(c["grade_id"], 999))
    return cells, raw, pending


def _answer_digests(nb, info: AssignmentInfo) -> dict[str, str]:
    """sha256 of each written answer's text (cells a person grades), by grade_id."""
    import hashlib

    manual = {gid for gid, _ in info.manual}
    digests = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in manual:
            digests[gid] = hashlib.sha256(cell.source.encode()).hexdigest()
    return digests


def _scan(nb, a: dict):
    from autograder.integrity import scan_notebook

    return scan_notebook(nb, a["source"], a["release"])


def _structure(nb, a: dict) -> tuple[list[str], str | None]:
    """What the student changed in the notebook's graded structure, and what nbgrader does about it.

    Returns ``(notes, rejection)``: ``rejection`` explains why nbgrader will refuse the
    notebook (duplicated or unknown grade_id), else ``None``.
    """
    source, release = a["source"], a["release"]
    meta = lambda c: c.get("metadata", {}).get("nbgrader", {}) or {}  # noqa: E731
    src_cells = {meta(c).get("grade_id"): c for c in source.cells if meta(c).get("grade_id")}
    rel_cells = {meta(c).get("grade_id"): c for c in release.cells if meta(c).get("grade_id")}
    positions: dict[str, list[int]] = {}
    for i, cell in enumerate(nb.cells):
        m = meta(cell)
        if m.get("grade_id") and (m.get("grade") or m.get("solution") or m.get("locked")):
            positions.setdefault(m["grade_id"], []).append(i)
    notes, rejection = [], None
    dups = {gid: idx for gid, idx in positions.items() if len(idx) > 1}
    if dups:
        text = ", ".join(f"'{gid}' in cells {', '.join(str(i + 1) for i in idx)}" for gid, idx in dups.items())
        rejection = (f"rejected: duplicated grade_id {text} (a copied cell keeps its nbgrader metadata); "
                     "nbgrader refused to grade the notebook. Delete the copy and resubmit")
    unknown = [f"'{gid}' ({cell_name(idx[0])})" for gid, idx in positions.items() if gid not in src_cells]
    if unknown and not rejection:
        rejection = (f"rejected: cell metadata names grade_id {', '.join(unknown)} that the assignment does not "
                     "have (edited nbgrader metadata); nbgrader refused to grade the notebook")
    for gid, cell in src_cells.items():
        m = meta(cell)
        if gid not in positions:
            if m.get("grade"):
                notes.append(f"{'test' if cell.cell_type == 'code' and not m.get('solution') else 'graded'} cell "
                             f"{gid} was missing and was restored from the source" +
                             (" and run" if cell.cell_type == "code" else ""))
            elif m.get("solution"):
                notes.append(f"solution cell {gid} was missing")
            continue
        if not m.get("locked"):
            continue
        sub_cell = nb.cells[positions[gid][0]]
        sm = meta(sub_cell)
        changed = []
        if sub_cell.source.strip() not in (rel_cells.get(gid, cell).source.strip(), cell.source.strip()):
            changed.append("its code" if cell.cell_type == "code" else "its text")
        if not sm.get("locked"):
            changed.append("its lock")
        if sm.get("points") is not None and float(sm.get("points")) != float(m.get("points", 0) or 0):
            changed.append(f"its points ({sm.get('points')})")
        if sub_cell.cell_type != cell.cell_type:
            changed.append("its cell type")
        if changed:
            notes.append(f"locked cell {gid} was edited ({', '.join(changed)}); nbgrader restored the original")
    return notes, rejection


def _nbgrader_failure(result: dict) -> str:
    text = result.get("log", "") + result.get("error", "")
    if "failed to validate" in text or "old version" in text.lower():
        return "rejected: nbgrader found the notebook's grading metadata corrupted and refused to grade it"
    lines = [ln for ln in text.splitlines() if ln.startswith("[ERROR]") or "Error" in ln]
    last = lines[-1].replace("[ERROR]", "").strip() if lines else "unknown error"
    return f"rejected: nbgrader could not grade the notebook ({last[:200]})"


def _first_error(cell) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return str(out.get("ename", "")), " ".join(str(out.get("evalue", "")).split())
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = re.sub(r"\S+\.py:\d+: ", "", str(out.get("text", "")))  # warnings' file:line prefixes
            return "stderr", " ".join(text.split())
    return None


def _test_summary(graded_nb, a: dict, settings: dict) -> list[str]:
    """Failed test cells (with the error, hidden-test source never quoted), timeouts, memory errors."""
    from autograder.preprocessors import ABORT_ENAME, SanitizeFeedback, is_test_cell

    scrub = SanitizeFeedback(hidden_lines=a["hidden"])
    failed, notes = [], []
    for index, cell in enumerate(graded_nb.cells):
        if cell.get("cell_type") != "code":
            continue
        err = _first_error(cell)
        label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or ""
        where = cell_name(index, label)
        if err and (err[0] == "MemoryError" or "can't allocate memory" in err[1] or "out of memory" in err[1].lower()):
            notes.append(f"{where} ran out of memory (limit {settings['memory_mb']} MB)")
        if is_test_cell(cell) and err and err[0] != ABORT_ENAME:
            message = err[1] if not scrub.leaks(err[1]) else "(message hidden)"
            failed.append(f"{label or where} ({err[0]}{': ' + shorten(message, 100) if message else ''})")
    tests = sum(1 for c in graded_nb.cells if is_test_cell(c))
    if failed:
        notes.insert(0, f"{len(failed)} of {tests} test cells failed: " + ", ".join(failed))
    return notes


def _report_notes(report: dict, settings: dict) -> list[str]:
    notes = []
    timed_out = report.get("cell_timeouts", [])
    if timed_out:
        cells = ", ".join(cell_name(c["cell"], c["label"]) for c in timed_out[:5])
        notes.append(f"{cells} hit the {settings['cell_timeout']} s cell time limit and "
                     f"{'was' if len(timed_out) == 1 else 'were'} interrupted")
    if report.get("truncated"):
        labels = report.get("cells", {})
        cells = ", ".join(cell_name(i, labels.get(str(i), {}).get("label", "")) for i in report["truncated"][:5])
        notes.append(f"the output of {cells} was cut at {settings['output_limit']} bytes")
    denied = report.get("denied", [])
    if denied:
        shown = "; ".join(f"{d['what']} ({cell_name(d['cell'], d['label'])})" for d in denied[:3])
        notes.append(f"the sandbox refused: {shown}" + (f" and {len(denied) - 3} more" if len(denied) > 3 else ""))
    for problem in report.get("integrity_errors", [])[:2]:
        notes.append(problem)
    return notes


def _join(parts: list[str]) -> str:
    return "; ".join(p for p in parts if p)


def shorten(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters at a word boundary, with an ellipsis when cut."""
    text = " ".join(str(text).split())
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    if " " in cut[width // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def _simple_feedback(out: Path, student: str, assignment: str, rec: dict, info: AssignmentInfo) -> str:
    """A short HTML page for a submission without an autograded notebook (invalid, rejected):
    the one total (written answers included: there are none to grade) and the reason."""
    dest = out / "feedback" / student / assignment / f"{assignment}.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    total_max = info.max_points + sum(p for _, p in info.manual)
    dest.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Feedback: "
        f"{html.escape(assignment)}</title></head><body>\n<h1>{html.escape(assignment)}: "
        f"total {rec['points']:g} / {total_max:g} points ({html.escape(rec['status'])})</h1>\n"
        f"<p>{html.escape(rec['reason'])}</p>\n</body></html>\n")
    return str(dest.relative_to(out))


# =============================================================================== CLI

def add_arguments(parser) -> None:
    """The ``grade`` subcommand's arguments (used by ``python -m autograder``)."""
    parser.add_argument("submissions", type=Path,
                        help="folder in nbgrader layout (submitted/<student>/<assignment>/<assignment>.ipynb) "
                             "or a flat export (alice_08_dropout.ipynb), or a .zip of either")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: <SUBMISSIONS>-graded next to the submissions)")
    parser.add_argument("--jobs", "-j", type=int, default=0, help="notebooks graded in parallel (default: CPU cores)")
    parser.add_argument("--force", action="store_true", help="regrade submissions that were already graded")
    parser.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT_S,
                        help=f"seconds one cell may run (default {CELL_TIMEOUT_S})")
    parser.add_argument("--notebook-timeout", type=int, default=GRADE_NOTEBOOK_TIMEOUT_S,
                        help=f"seconds one notebook may run; past it: 0 points (default {GRADE_NOTEBOOK_TIMEOUT_S})")
    parser.add_argument("--memory-mb", type=int, default=GRADE_MEMORY_LIMIT_MB,
                        help=f"memory limit of a student's kernel in MiB (default {GRADE_MEMORY_LIMIT_MB})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_from_args(args) -> int:
    """Run the ``grade`` command; returns the exit status (0: every submission has a row)."""
    submissions = Path(args.submissions).resolve()
    out = args.out or submissions.parent / f"{submissions.stem if submissions.is_file() else submissions.name}-graded"
    if args.jobs < 0 or args.cell_timeout <= 0 or args.notebook_timeout <= 0 or args.memory_mb < 0:
        print("error: --jobs, --cell-timeout, --notebook-timeout and --memory-mb must be positive", file=sys.stderr)
        return 2
    settings = GradeSettings(out=out, jobs=args.jobs, force=args.force, cell_timeout=args.cell_timeout,
                             notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb)
    try:
        grade(submissions, settings, progress=not args.no_progress)
    except (GradeError, SubmissionsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
