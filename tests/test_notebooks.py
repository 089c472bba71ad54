"""Static checks of the notebooks: structure, sync with their sources, the release, no outputs."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nbformat
import pytest

from autograder.build import build_solution, dumps, generate_release, release_path, solution_path, source_path
from autograder.config import MIN_ALTERNATIVES_PER_EXERCISE, MIN_MUTANTS_PER_EXERCISE, NOTEBOOKS, SOLUTIONS, topics
from autograder.mutants import load_mutants, mutants_path

TOPICS = topics()
ALL_IPYNB = sorted(SOLUTIONS.glob("*/*.ipynb")) + sorted(NOTEBOOKS.glob("*/*.ipynb"))


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def test_there_are_topics():
    assert TOPICS, "no solutions/<topic>/<topic>.py found"


@pytest.mark.parametrize("path", ALL_IPYNB, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_outputs_committed(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path} has outputs or execution counts in cells {dirty}; run `python3 course.py release`"


def test_every_notebook_has_a_source_and_a_release():
    sol = {p.parent.name for p in SOLUTIONS.glob("*/*.ipynb")}
    rel = {p.parent.name for p in NOTEBOOKS.glob("*/*.ipynb")}
    assert sol == set(TOPICS), f"solution notebooks without a .py source, or the reverse: {sol ^ set(TOPICS)}"
    assert rel == set(TOPICS), f"notebooks/ and solutions/ disagree: {rel ^ set(TOPICS)}"


@pytest.mark.parametrize("topic", TOPICS)
def test_solution_ipynb_is_built_from_its_py_source(topic):
    assert solution_path(topic).read_text() == dumps(build_solution(topic)), (
        f"{solution_path(topic)} is out of date with {source_path(topic).name}: run `python3 course.py release`")


@pytest.mark.parametrize("topic", TOPICS)
def test_release_is_a_fresh_nbgrader_generate(topic):
    with tempfile.TemporaryDirectory() as tmp:
        generate_release([topic], Path(tmp))
        fresh = sorted(p.relative_to(tmp) for p in Path(tmp).rglob("*") if p.is_file())
        committed = sorted(p.relative_to(NOTEBOOKS) for p in (NOTEBOOKS / topic).rglob("*") if p.is_file())
        assert fresh == committed, f"notebooks/{topic} holds {committed}, nbgrader makes {fresh}"
        for rel in fresh:
            assert (Path(tmp) / rel).read_bytes() == (NOTEBOOKS / rel).read_bytes(), (
                f"notebooks/{rel} differs from a fresh `nbgrader generate_assignment`: run `python3 course.py release`")


@pytest.mark.parametrize("topic", TOPICS)
def test_release_holds_no_solution_or_hidden_test(topic):
    text = release_path(topic).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"the release of {topic} still contains {marker!r}"
    assert not list((NOTEBOOKS / topic).glob("*.py")), "the .py solution twin leaked into notebooks/"


@pytest.mark.parametrize("topic", TOPICS)
def test_notebook_anatomy(topic):
    nb = nbformat.read(solution_path(topic), as_version=4)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith(f"# {topic[:2]}"), "first cell: the title"
    assert "Interview question" in cells[0].source, "the title cell states the interview question"
    setup = cells[1].source
    assert cells[1].cell_type == "code" and "course_utils" in setup, "second cell: the setup cell importing course_utils"
    assert "get_device()" in setup and "seed_everything(" in setup, "the setup cell picks the device and seeds"
    ids = [meta(c).get("grade_id") for c in cells if meta(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids: {ids}"
    solutions = [i for i, c in enumerate(cells) if c.cell_type == "code" and meta(c).get("solution")]
    tests = [i for i, c in enumerate(cells) if c.cell_type == "code" and meta(c).get("grade")]
    assert solutions and tests, "a topic has at least one graded exercise"
    for i in solutions:
        assert "### BEGIN SOLUTION" in cells[i].source and "### END SOLUTION" in cells[i].source
        assert any(t > i for t in tests), f"solution cell {meta(cells[i])['grade_id']} has no test cell after it"
    for i in tests:
        c = cells[i]
        assert meta(c).get("locked") and float(meta(c).get("points", 0)) > 0, f"test cell {meta(c)['grade_id']} must be locked and carry points"
        assert "### BEGIN HIDDEN TESTS" in c.source, f"test cell {meta(c)['grade_id']} has no hidden tests"
    manual = [c for c in cells if c.cell_type == "markdown" and meta(c).get("grade") and meta(c).get("solution")]
    assert len(manual) == 2, f"expected two manually graded interview answers, found {len(manual)}"


@pytest.mark.parametrize("topic", TOPICS)
def test_every_graded_exercise_has_enough_mutants(topic):
    assert mutants_path(topic).exists(), f"{mutants_path(topic)} is missing"
    nb = nbformat.read(solution_path(topic), as_version=4)
    solution_ids = {meta(c)["grade_id"]: c.source for c in nb.cells if c.cell_type == "code" and meta(c).get("solution")}
    entries = load_mutants(topic, include_alternatives=True)
    for m in entries:
        assert m.cell in solution_ids, f"{m.kind} {m.name} edits unknown solution cell {m.cell!r}"
        m.apply(solution_ids[m.cell])  # raises if it no longer matches the solution
    for cell_id, source in solution_ids.items():
        n = sum(m.cell == cell_id and m.kind == "mutant" for m in entries)
        assert n >= MIN_MUTANTS_PER_EXERCISE, f"exercise {cell_id!r} has {n} mutants; at least {MIN_MUTANTS_PER_EXERCISE} are required"
        if "def " in source or "class " in source:
            n_alt = sum(m.cell == cell_id and m.kind == "alternative" for m in entries)
            assert n_alt >= MIN_ALTERNATIVES_PER_EXERCISE, (
                f"exercise {cell_id!r} has {n_alt} alternative correct answers; at least "
                f"{MIN_ALTERNATIVES_PER_EXERCISE} are required (see AUTHORING.md)")
