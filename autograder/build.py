"""Build the notebooks from their reviewable sources.

The authoring chain has one direction and one tool per step:

1. ``solutions/<topic>/<topic>.py`` — the source an instructor reviews in a diff. It is a
   jupytext *py:percent* file; nbgrader's cell metadata sits inline in each ``# %%`` header.
2. ``solutions/<topic>/<topic>.ipynb`` — built from (1) by :func:`build_solution`, committed
   without outputs. This is nbgrader's source notebook. ``solutions/jupytext.toml`` pairs
   the two, so an instructor who edits the ``.ipynb`` in JupyterLab saves the ``.py`` too.
3. ``notebooks/<topic>/<topic>.ipynb`` — the student release, produced by real
   ``nbgrader generate_assignment`` (:func:`release`). Never edited by hand.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import jupytext
import nbformat

from autograder.config import NOTEBOOKS, SOLUTIONS, topics
from autograder.nbcourse import ScratchCourse

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class BuildError(RuntimeError):
    """A solution source cannot be turned into a valid notebook; the message says how to fix it."""


def source_path(topic: str) -> Path:
    return SOLUTIONS / topic / f"{topic}.py"


def solution_path(topic: str) -> Path:
    return SOLUTIONS / topic / f"{topic}.ipynb"


def release_path(topic: str) -> Path:
    return NOTEBOOKS / topic / f"{topic}.ipynb"


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs and volatile metadata, and give every cell a stable id.

    Ids are the nbgrader ``grade_id`` where a cell has one, else ``cell-<index>``, so a
    rebuilt notebook is byte-identical to the committed one.
    """
    nb.metadata = nbformat.from_dict({
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    })
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cid = grade_id or f"cell-{i}"
        if cid in seen:
            raise BuildError(f"cell {i}: duplicate id/grade_id {cid!r}; every nbgrader grade_id must be unique")
        seen.add(cid)
        cell["id"] = cid
        for key in ("jupyter", "execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def build_solution(topic: str) -> nbformat.NotebookNode:
    """Read ``solutions/<topic>/<topic>.py`` and return the normalized solution notebook."""
    src = source_path(topic)
    if not src.exists():
        raise BuildError(f"{src} is missing; every topic needs its py:percent source")
    nb = jupytext.read(src, fmt="py:percent")
    nb = normalize(nb)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise BuildError(f"{src}: the built notebook is not valid nbformat: {exc.message}") from exc
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_solution(topic: str) -> Path:
    """Write ``solutions/<topic>/<topic>.ipynb`` from its ``.py`` source.

    Raises:
        BuildError: if the ``.ipynb`` was edited after the ``.py`` and their cells differ —
            the edit would be lost. Save it from JupyterLab (jupytext then writes the ``.py``)
            or run ``jupytext --sync`` on it first.
    """
    dest = solution_path(topic)
    text = dumps(build_solution(topic))
    if dest.exists() and dest.read_text() != text and dest.stat().st_mtime > source_path(topic).stat().st_mtime + 1:
        raise BuildError(
            f"{dest} is newer than {source_path(topic).name} and differs from it. "
            f"Run `jupytext --sync {dest}` to copy your notebook edits into the .py, then release again."
        )
    dest.write_text(text)
    return dest


def generate_release(topic_list: list[str], out_dir: Path) -> None:
    """Run real ``nbgrader generate_assignment`` for each topic into ``out_dir/<topic>/``.

    Works in a scratch course directory, so no gradebook or half-written release is left in
    the repository if anything fails.
    """
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        course = ScratchCourse(Path(tmp))
        built = {topic: course.generate(topic, db=False) for topic in topic_list}
        for topic, nb_path in built.items():
            dest = out_dir / topic
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(nb_path.parent, dest)


def release(topic_list: list[str] | None = None) -> list[Path]:
    """Rebuild the solution notebooks and regenerate ``notebooks/`` for the given topics (default: all)."""
    topic_list = topic_list or topics()
    for topic in topic_list:
        write_solution(topic)
    generate_release(topic_list, NOTEBOOKS)
    return [release_path(t) for t in topic_list]
