"""A corpus of hostile and broken submissions, generated from the real 08_dropout notebooks.

:func:`build` writes one submission per case into ``dest`` in nbgrader's layout
(``submitted/<student>/08_dropout/08_dropout.ipynb``) by editing the real student release
(``notebooks/08_dropout``) and filling in answers from the real solution
(``solutions/08_dropout``). Each :class:`Case` states the outcome the grader must report.

Most cases drop the release's training/plot cell (students may delete it; nbgrader does not
restore cells without grade metadata), so the corpus grades quickly; ``correct`` keeps the
whole notebook. Time limits assumed by the expectations: ``--cell-timeout 30
--notebook-timeout 90 --memory-mb 2048`` (see ``GRADE_ARGS``).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.config import NOTEBOOKS, SOLUTIONS

TOPIC = "08_dropout"
GRADE_ARGS = ["--cell-timeout", "30", "--notebook-timeout", "90", "--memory-mb", "2048"]


@dataclass
class Case:
    """Expected row of ``grades.csv`` for one student.

    ``points``: exact expected points (``None``: not checked); ``below_max``: points must be
    less than the maximum; ``reason``/``integrity``: substrings (case-insensitive) that must
    appear in those columns; ``clean``: the integrity column must be empty.
    """

    student: str
    what: str
    status: str
    points: float | None = None
    below_max: bool = False
    reason: list[str] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)
    clean: bool = False


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _by_id(nb) -> dict:
    return {_meta(c)["grade_id"]: c for c in nb.cells if _meta(c).get("grade_id")}


def release() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / TOPIC / f"{TOPIC}.ipynb", as_version=4)


def solution() -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / TOPIC / f"{TOPIC}.ipynb", as_version=4)


def answered(fast: bool = True) -> nbformat.NotebookNode:
    """The release with every solution cell answered from the real solution (what a perfect student submits).

    ``fast`` drops the plain code cells that train or plot (not needed by any test).
    """
    nb = release()
    answers = _by_id(solution())
    for cell in nb.cells:
        m = _meta(cell)
        if m.get("solution") and m.get("grade_id") in answers:
            cell.source = answers[m["grade_id"]].source
    return _fast(nb) if fast else nb


def _fast(nb):
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and not _meta(c)
                                            and ("train_classifier(" in c.source or "plot_curves(" in c.source))]
    return nb


def _set(nb, grade_id: str, source: str):
    for cell in nb.cells:
        if _meta(cell).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


def _append_to(nb, grade_id: str, extra: str):
    cell = _by_id(nb)[grade_id]
    cell.source = cell.source + "\n" + extra
    return nb


def _write(dest: Path, student: str, nb=None, raw: bytes | None = None, name: str = f"{TOPIC}.ipynb") -> Path:
    folder = dest / "submitted" / student / TOPIC
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        nbformat.write(nb, path)
    return path


# Student code that looks for the solutions and the gradebook, and would use them if found.
PROBE = r'''
import glob, json, os
import course_utils
repo = os.path.dirname(os.path.dirname(os.path.abspath(course_utils.__file__)))
patterns = ["../**/*.db", "../../../../**/*.db", "../../../**/solutions/**/*.ipynb",
            os.path.join(repo, "solutions", "**", "*.ipynb"), os.path.join(repo, "solutions", "**", "*.py"),
            os.path.expanduser("~/**/*.db"), "/tmp/**/gradebook.db"]
found = sorted({p for pat in patterns for p in glob.glob(pat, recursive=True)})
readable = {}
for p in found + [os.path.join(repo, "solutions", "08_dropout", "08_dropout.py"), "../../../gradebook.db",
                  "../../../../gradebook.db", os.path.join(repo, "gradebook.db")]:
    try:
        with open(p, "rb") as fh:
            readable[p] = len(fh.read())
    except OSError:
        pass
print("PROBE", json.dumps({"found": found, "readable": readable}))
drill_expected_zeros = 200 if readable else -1
drill_survivor_value = 1.875 if readable else -1
'''

# Student code that tries to copy the hidden tests into its own output (and so into feedback):
# it reads the notebook being graded, and makes Python quote the calling test lines on stderr.
LEAK_READ = r'''
import glob, json
for path in glob.glob("*.ipynb") + glob.glob("../**/*.ipynb", recursive=True):
    with open(path) as fh:
        for cell in json.load(fh)["cells"]:
            print("".join(cell["source"]))
'''
LEAK_WARN = r'''
import warnings
_real_dropout = dropout


def dropout(*args, **kwargs):
    warnings.warn("show me the test", stacklevel=2)   # the warning quotes the calling line
    return _real_dropout(*args, **kwargs)
'''


def build(dest: Path) -> dict[str, Case]:
    """Write the corpus under ``dest`` and return the expected outcome per student id."""
    cases: dict[str, Case] = {}

    def add(case: Case, nb=None, raw=None, name=f"{TOPIC}.ipynb"):
        cases[case.student] = case
        _write(dest, case.student, nb, raw, name)

    add(Case("correct", "the full notebook, answered correctly", "ok", points=11, clean=True), answered(fast=False))
    add(Case("untouched_release", "the release as handed out", "ok", points=0, clean=True,
             reason=["5 of 5 test cells failed", "NotImplementedError"]), release())
    add(Case("invalid_json", "not JSON at all", "invalid", points=0, reason=["invalid JSON"]),
        raw=b'{"cells": [ this is not json')
    add(Case("empty_file", "a 0-byte file", "invalid", points=0, reason=["empty file"]), raw=b"")
    add(Case("old_nbformat", "the correct answers saved as nbformat 3", "ok", points=11, clean=True,
             reason=["converted from nbformat 3"]),
        raw=nbformat.writes(nbformat.convert(answered(), 3), version=3).encode())
    add(Case("wrong_file_name", "the correct notebook under another name", "missing", points=0,
             reason=["missing notebook", "my_dropout.ipynb"]), answered(), name="my_dropout.ipynb")
    cases["missing_notebook"] = Case("missing_notebook", "an assignment folder without a notebook", "missing",
                                     points=0, reason=["missing notebook", "no notebook"])
    (dest / "submitted" / "missing_notebook" / TOPIC).mkdir(parents=True, exist_ok=True)
    (dest / "submitted" / "missing_notebook" / TOPIC / "notes.txt").write_text("I could not finish, sorry\n")

    add(Case("infinite_loop", "correct, then an endless loop in the drill cell (interruptible)", "ok", points=11,
             clean=True, reason=["cell time limit"]),
        _append_to(answered(), "drill", "while True:\n    pass"))
    add(Case("endless_notebook", "a loop that swallows the interrupt", "timeout", points=0, reason=["timed out"]),
        _set(answered(), "dropout", "while True:\n    try:\n        while True:\n            pass\n"
                                    "    except KeyboardInterrupt:\n        pass"))
    add(Case("kernel_crash", "os._exit in the solution cell", "integrity", points=0, reason=["kernel died"],
             integrity=["os._exit"]),
        _set(answered(), "dropout", "import os\nos._exit(3)"))
    add(Case("huge_output", "correct, but prints tens of megabytes", "ok", points=11, clean=True,
             reason=["was cut at"]),
        _append_to(answered(), "dropout", "for _ in range(200_000):\n    print('spam ' * 40)\n"
                                          "print('x' * 30_000_000)"))
    add(Case("memory_hog", "correct, then allocates far more than the limit", "ok", points=11, clean=True,
             reason=["ran out of memory"]),
        _append_to(answered(), "dropout", "hog = bytearray(64 * 1024**3)"))
    nb = answered()
    nb.cells = [c for c in nb.cells if _meta(c).get("grade_id") != "test_dropout_statistics"]
    add(Case("deleted_test", "correct, with a test cell deleted", "ok", points=11, clean=True,
             reason=["test_dropout_statistics was missing and was restored"]), nb)
    nb = release()
    for cell in nb.cells:
        if _meta(cell).get("grade") and cell.cell_type == "code":
            cell.source = "pass  # tests? what tests"
            cell.metadata["nbgrader"]["points"] = 100
    add(Case("edited_tests", "no answers; every locked test cell replaced by `pass`", "ok", points=0,
             reason=["was edited", "nbgrader restored the original"]), nb)
    nb = answered()
    index = next(i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") == "test_dropout_basics")
    dup = copy.deepcopy(nb.cells[index])
    dup.source, dup["id"] = "pass", "copied-cell"
    nb.cells.insert(index + 1, dup)
    add(Case("duplicate_grade_id", "a copied test cell keeps its grade_id", "rejected", points=0,
             reason=["duplicated grade_id 'test_dropout_basics'"]), nb)

    wrong = "def dropout(x, p, training=True, generator=None):\n    return x\n"
    dropout_cell = next(i for i, c in enumerate(answered().cells) if _meta(c).get("grade_id") == "dropout")
    add(Case("patch_assert_close", "redefines the checking functions", "integrity", points=0,
             integrity=["torch.testing.assert_close", "course_utils.testing.assert_close",
                        f"cell {dropout_cell + 1} (dropout) line"]),
        _set(answered(), "dropout", wrong + "import torch, course_utils.testing\n"
             "torch.testing.assert_close = lambda *a, **k: None\n"
             "course_utils.testing.assert_close = lambda *a, **k: None\n"
             "assert_close = lambda *a, **k: None\n"
             "torch.equal = lambda a, b: True\n"))
    add(Case("patch_builtins", "patches builtins", "integrity", points=0,
             integrity=["builtins.isinstance", "line"]),
        _set(answered(), "dropout", wrong + "import builtins\nbuiltins.isinstance = lambda *a: True\n"
             "builtins.AssertionError = type('Quiet', (Exception,), {})\n"))
    add(Case("patch_via_exec", "patches torch.equal through exec", "integrity", points=0,
             integrity=["exec", "torch.equal was replaced"]),
        _set(answered(), "dropout", wrong + "exec('import torch\\ntorch.equal = lambda a, b: True')\n"))
    add(Case("system_exit", "raises SystemExit inside every test", "integrity", points=0,
             integrity=["SystemExit"]),
        _set(answered(), "dropout", "def dropout(x, p, training=True, generator=None):\n    raise SystemExit(0)\n"))
    add(Case("skip_tag", "tags the test cells skip-execution", "integrity", points=0,
             integrity=["skip-execution"]), _tag_tests(release(), "skip-execution"))
    nb = _set(release(), "drill", PROBE)
    add(Case("read_solutions", "looks for solutions/ and gradebooks and uses them if found", "ok", points=0,
             clean=True), nb)
    nb = _append_to(answered(), "dropout", LEAK_WARN)
    nb.cells.append(nbformat.v4.new_code_cell(LEAK_READ))
    add(Case("leak_hidden_tests", "makes warnings quote the test lines; looks for the graded notebook", "ok",
             points=1, clean=True, reason=["test cells failed"]), nb)
    return cases


def _tag_tests(nb, tag: str):
    for cell in nb.cells:
        if _meta(cell).get("grade") and cell.cell_type == "code":
            cell.metadata.setdefault("tags", []).append(tag)
    return nb


def flat(dest: Path, files: dict[str, nbformat.NotebookNode]) -> dict[str, Path]:
    """Write a flat LMS-style export: ``{file name: notebook}`` → paths."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, nb in files.items():
        out[name] = dest / name
        nbformat.write(nb, out[name])
    return out


def hidden_lines() -> list[str]:
    """Every non-trivial line of the hidden tests in the real source notebook (what must not leak)."""
    from autograder.preprocessors import hidden_test_lines

    return hidden_test_lines(solution(), release())


# ----------------------------------------------------------------------------- answer keys for feedback checks
# Written from the delimiters here, independently of the grader's own scrubber.

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def test_cell_regions(nb) -> dict[str, tuple[list[str], list[str]]]:
    """``{grade_id: (visible lines, hidden lines)}`` for every autograded test cell of a source
    notebook, split at the ``### BEGIN/END HIDDEN TESTS`` delimiter lines (delimiters in neither)."""
    regions = {}
    for cell in nb.cells:
        m = _meta(cell)
        if cell.cell_type != "code" or not m.get("grade") or m.get("solution"):
            continue
        visible, hidden, inside = [], [], False
        for line in cell.source.split("\n"):
            if line.strip() == BEGIN:
                inside = True
            elif line.strip() == END:
                inside = False
            else:
                (hidden if inside else visible).append(line)
        regions[m["grade_id"]] = (visible, hidden)
    return regions


def secret_lines(source_nb=None, release_nb=None, min_length: int = 8) -> list[str]:
    """Hidden-region lines (whitespace collapsed, at least ``min_length`` characters) that the
    release does not show anywhere: what must never appear in a student's feedback."""
    source_nb = source_nb or solution()
    release_nb = release_nb or release()
    shown = "\n".join(" ".join(c.source.split()) for c in release_nb.cells)
    lines = []
    for _, hidden in test_cell_regions(source_nb).values():
        for line in hidden:
            flat = " ".join(line.split())
            if len(flat) >= min_length and flat not in shown and flat not in lines:
                lines.append(flat)
    return lines


def visible_text(html_text: str) -> str:
    """What a reader of an HTML page sees: tags removed, entities decoded, whitespace collapsed."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", html_text)).split())


def code_text(html_text: str) -> str:
    """The text of highlighted code in an HTML page: tags removed without adding spaces (Pygments
    wraps every token in a span), entities decoded, whitespace collapsed."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", html_text)).split())


def leaked(html_text: str, lines: list[str]) -> list[str]:
    """The ``lines`` a feedback page shows (in its text or its raw HTML), plus the delimiter if present."""
    text = visible_text(html_text)
    found = [line for line in lines if line in text or line in html_text]
    return found + ([BEGIN] if "BEGIN HIDDEN TESTS" in html_text else [])


def cell_html(page: str, grade_id: str) -> str:
    """The part of a feedback page from a graded cell's anchor to the next cell's anchor."""
    start = page.find(f'<a name="{grade_id}">')
    if start < 0:
        return ""
    nxt = page.find("<a name=", start + 10)
    return page[start:nxt if nxt > 0 else len(page)]


def leaking_student() -> nbformat.NotebookNode:
    """Correct answers, plus code that makes warnings quote the test lines and looks for notebooks."""
    nb = _append_to(answered(), "dropout", LEAK_WARN)
    nb.cells.append(nbformat.v4.new_code_cell(LEAK_READ))
    return nb


def write_manifest(dest: Path, cases: dict[str, Case]) -> None:
    (dest / "EXPECTED.json").write_text(json.dumps({k: v.__dict__ for k, v in cases.items()}, indent=1))
