"""Prove that the graders discriminate.

Three checks per topic:

1. **Solution → full marks**, through real ``nbgrader autograde`` (:func:`autograde_check`).
2. **Untouched release → 0** on the autograded cells, through real ``nbgrader autograde``.
3. **Every mutant loses points** (:func:`mutant_check`). This takes a faster, equivalent path:
   one kernel per notebook runs the solution notebook once (and then moves one control of each
   loss-curve explorer the notebook built, which must retrain with the new setting: the headless
   explorer test every topic gets); then, for each mutant, it runs the
   mutated solution cell followed by every graded test cell (hidden tests included), scores
   them the way nbgrader does (an error or any stderr output not matched by the ignore
   pattern scores 0), and restores the original cell before the next mutant.
"""
from __future__ import annotations

import contextlib
import copy
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.build import solution_path
from autograder.config import CELL_TIMEOUT_S, KERNEL_ENV, STDERR_IGNORE_PATTERN
from autograder.mutants import Mutant, load_mutants
from autograder.nbcourse import ScratchCourse


@dataclass
class MutantResult:
    topic: str
    exercise: str      # grade_id of the mutated solution cell
    mutant: str
    points: float      # points the mutant scored
    max_points: float
    failed_cells: list[str]
    error: str | None = None  # set when the mutant itself is broken (does not even run)
    kind: str = "mutant"      # or "alternative": a correct answer that must keep full marks

    @property
    def caught(self) -> bool:
        return self.error is None and self.points < self.max_points

    @property
    def ok(self) -> bool:
        """A mutant must be caught; an alternative correct answer must keep full marks."""
        if self.kind == "alternative":
            return self.error is None and self.points == self.max_points
        return self.caught


@dataclass
class AutogradeResult:
    topic: str
    solution_points: float
    release_points: float
    max_points: float

    @property
    def ok(self) -> bool:
        return self.solution_points == self.max_points and self.release_points == 0 and self.max_points > 0


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def test_cells(nb) -> list[tuple[int, object]]:
    """(index, cell) of every autograded test cell: code cells with ``grade: true``."""
    return [(i, c) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]


def cell_points(cell) -> float:
    """Points nbgrader would give this executed test cell (see nbgrader.utils.determine_grade)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return 0.0
        if out.get("output_type") == "stream" and out.get("name") == "stderr" \
                and not re.search(STDERR_IGNORE_PATTERN, out.get("text", "")):
            return 0.0
    return float(nbgrader_meta(cell).get("points", 0))


def _error_text(cell) -> str:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {out.get('evalue')}"
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "stderr: " + out.get("text", "")[:200]
    return ""


@contextlib.contextmanager
def _started_kernel(client: NotebookClient, attempts: int = 3):
    """``client.setup_kernel()``, retried when the kernel dies before it answers.

    Two test workers starting kernels at the same moment occasionally race for a port and the
    new kernel exits at once ("Kernel died before replying to kernel_info"). That is a start-up
    accident, not a grading result, so it is retried; any other error propagates.
    """
    for attempt in range(1, attempts + 1):
        # One BLAS/OpenMP thread, as the tests and the grader run kernels: under load, extra
        # threads spin against each other and a mutant run takes several times longer.
        manager = client.setup_kernel(env={**os.environ, **KERNEL_ENV})
        try:
            manager.__enter__()
        except RuntimeError as exc:
            if "Kernel died" not in str(exc) or attempt == attempts:
                raise
            time.sleep(1.0)
            continue
        try:
            yield
        except BaseException as exc:
            if not manager.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            manager.__exit__(None, None, None)
        return


# Run in the solution's kernel after the whole notebook: move one control of every loss-curve
# explorer the notebook built, and check that it retrained with the new setting and redrew.
_EXPLORER_CHECK = """
from course_utils.explorers import LossCurveExplorer as _LCE
_problems = []
for _e in _LCE.instances():
    for _knob in _e.knobs[:1]:
        _control = _e.controls[_knob.name]
        _before, _old = _e.history, _knob.to_config(_control.value)
        if hasattr(_control, "options"):
            _values = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in _control.options]
        elif isinstance(_control.value, bool):
            _values = [not _control.value]
        else:
            _base = getattr(_control, "base", None)
            _values = [_base ** v if _base else v for v in (_control.max, _control.min)]
        _values = [v for v in _values if _knob.to_config(v) != _old]
        if not _values:
            continue
        _control.value = _values[0]
        _new = _knob.to_config(_control.value)
        if _e.last_error is not None:
            _problems.append(f"{_e.task.name}: moving {_knob.name} raised {_e.last_error!r}")
        elif _e.history is _before or _e.history.config[_knob.name] != _new:
            _problems.append(f"{_e.task.name}: moving {_knob.name} to {_new!r} did not retrain with it")
        elif f"{_knob.name}=" not in _e.status.value:
            _problems.append(f"{_e.task.name}: the status line does not name {_knob.name}")
print("explorer check:", _problems or "ok")
"""


def mutant_check(topic: str, mutants: list[Mutant] | None = None) -> tuple[float, list[MutantResult]]:
    """Run all of a topic's mutants in one kernel.

    Returns:
        ``(baseline_points, results)``; ``baseline_points`` is what the unmutated solution
        scored on the same path (it must equal the maximum, or the comparison means nothing).

    Raises:
        RuntimeError: if the solution itself does not score full marks on this path.
    """
    mutants = load_mutants(topic, include_alternatives=True) if mutants is None else mutants
    path = solution_path(topic)
    nb = nbformat.read(path, as_version=4)
    by_id = {nbgrader_meta(c).get("grade_id"): (i, c) for i, c in enumerate(nb.cells)}
    tests = test_cells(nb)
    max_points = sum(float(nbgrader_meta(c)["points"]) for _, c in tests)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, resources={"metadata": {"path": str(path.parent)}})

    # nbclient writes each executed cell back into the notebook it holds, so keep pristine
    # copies: every run starts from these, and restoring a solution means re-running its copy.
    pristine = [copy.deepcopy(c) for c in nb.cells]

    def run(index: int, source: str | None = None):
        cell = copy.deepcopy(pristine[index])
        if source is not None:
            cell.source = source
        client.execute_cell(cell, index)
        return cell

    def score_tests() -> tuple[float, list[str]]:
        points, failed = 0.0, []
        for i, _ in tests:
            cell = run(i)
            got = cell_points(cell)
            points += got
            if got < float(nbgrader_meta(cell)["points"]):
                failed.append(f"{nbgrader_meta(cell)['grade_id']} ({_error_text(cell)})")
        return points, failed

    results: list[MutantResult] = []
    with _started_kernel(client):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, i)
        check = nbformat.v4.new_code_cell(_EXPLORER_CHECK)
        nb.cells.append(check)
        client.execute_cell(check, len(nb.cells) - 1)
        nb.cells.pop()
        said = "".join(o.get("text", "") for o in check.outputs if o.get("output_type") == "stream")
        if "explorer check: ok" not in said:
            raise RuntimeError(f"{topic}: an explorer did not retrain when a control moved: "
                               f"{said.strip() or _error_text(check)}")
        baseline, failed = score_tests()
        if baseline != max_points:
            raise RuntimeError(f"{topic}: the solution scores {baseline}/{max_points} on the mutant path; failing: {failed}")
        for m in mutants:
            if m.cell not in by_id:
                results.append(MutantResult(topic, m.cell, m.name, max_points, max_points, [],
                                            error=f"no solution cell with grade_id {m.cell!r}", kind=m.kind))
                continue
            index, _ = by_id[m.cell]
            try:
                mutated_source = m.apply(pristine[index].source)
            except ValueError as exc:
                results.append(MutantResult(topic, m.cell, m.name, max_points, max_points, [], error=str(exc), kind=m.kind))
                continue
            defined = run(index, mutated_source)
            if any(o.get("output_type") == "error" for o in defined.get("outputs", [])):
                results.append(MutantResult(topic, m.cell, m.name, max_points, max_points, [],
                                            error=f"the mutated cell itself fails: {_error_text(defined)}", kind=m.kind))
            else:
                points, failed = score_tests()
                results.append(MutantResult(topic, m.cell, m.name, points, max_points, failed, kind=m.kind))
            run(index)  # restore the real solution before the next mutant
    return baseline, results


def autograde_check(topic: str, workdir: Path | None = None) -> AutogradeResult:
    """Real ``nbgrader generate_assignment`` + ``autograde`` of the solution and the untouched release."""
    with tempfile.TemporaryDirectory(prefix=f"selftest-{topic}-", dir=workdir) as tmp:
        course = ScratchCourse(Path(tmp))
        release_nb = course.generate(topic)
        course.submit("solution", topic, solution_path(topic))
        course.submit("untouched_release", topic, release_nb)
        course.autograde(topic)
        sol = course.score(topic, "solution")
        rel = course.score(topic, "untouched_release")
        return AutogradeResult(topic, sol.code_score, rel.code_score, sol.max_code_score)


def format_table(rows: list[MutantResult]) -> str:
    """A plain-text table: topic, exercise, mutant, points, caught.

    Alternatives (correct answers written another way) are listed as ``alt:<name>``; for them
    the last column reads ``full marks`` when they pass, as they must.
    """
    def verdict(r: MutantResult) -> str:
        if r.error:
            return "BROKEN: " + r.error
        if r.kind == "alternative":
            return "full marks" if r.ok else "WRONGLY PENALISED: " + "; ".join(r.failed_cells)
        return "yes" if r.caught else "NO"

    header = ("topic", "exercise", "mutant", "points", "caught")
    body = [(r.topic, r.exercise, ("alt:" if r.kind == "alternative" else "") + r.mutant,
             f"{r.points:g}/{r.max_points:g}", verdict(r)) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    line = lambda cols: "  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def main(topic_list: list[str]) -> int:
    """CLI: run every check for the topics, print the table, return 0 only if all pass."""
    from tqdm import tqdm

    rows: list[MutantResult] = []
    grades: list[AutogradeResult] = []
    for topic in tqdm(topic_list, desc="self-test", unit="topic"):
        grades.append(autograde_check(topic))
        rows.extend(mutant_check(topic)[1])
    print()
    print("Real nbgrader autograde (autograded cells):")
    for g in grades:
        verdict = "ok" if g.ok else "FAIL"
        print(f"  {g.topic:32s} solution {g.solution_points:g}/{g.max_points:g}   "
              f"untouched release {g.release_points:g}/{g.max_points:g}   {verdict}")
    print()
    print(format_table(rows))
    mutants = [r for r in rows if r.kind == "mutant"]
    alternatives = [r for r in rows if r.kind == "alternative"]
    print(f"\n{sum(r.ok for r in mutants)}/{len(mutants)} mutants caught; "
          f"{sum(r.ok for r in alternatives)}/{len(alternatives)} alternative correct answers at full marks")
    return 0 if all(g.ok for g in grades) and all(r.ok for r in rows) else 1
