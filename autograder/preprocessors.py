"""nbgrader preprocessors used when grading a class (configured by :mod:`autograder.grade`).

- :class:`SandboxedExecute` replaces nbgrader's ``Execute`` in ``Autograde.autograde_preprocessors``.
  It runs the notebook in the sandboxed kernel (:mod:`autograder.sandbox`), enforces the
  whole-notebook time limit and the per-cell output cap, runs the runtime integrity check
  (:func:`autograder.integrity.runtime_report`) after every cell, and writes a JSON report
  for the grader.
- :class:`SanitizeFeedback` is nbgrader's ``ClearHiddenTests`` for ``GenerateFeedback``: it
  removes hidden-test regions from every cell and keeps hidden-test source out of every
  output (IPython tracebacks quote the failing line, and student code can print the test
  cells' source), and drops HTML/JavaScript outputs. It also marks written answers that wait
  for a person and puts the totals in ``resources["course"]`` for the feedback template.
- :class:`CourseFeedback` is the same sanitiser configured from a graded-class folder (the
  ``nbgrader_config.py`` that ``python3 course.py grade`` writes there): nbgrader's own
  ``generate_feedback`` and the formgrader's "Generate Feedback" button run it.
"""
from __future__ import annotations

import ast
import html
import json
import os
import signal
import threading
import time
from pathlib import Path
from queue import Empty

from jupyter_client.kernelspec import KernelSpecManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades
from traitlets import Integer, List, Unicode

from autograder.config import GRADE_NOTEBOOK_TIMEOUT_S, GRADE_OUTPUT_LIMIT_BYTES, ROOT
from autograder.integrity import REPORT_EXPRESSION, cell_name
from autograder.sandbox import KERNEL_NAME, SandboxSpec, kernel_env

ABORT_ENAME = "GradingAborted"


def is_test_cell(cell) -> bool:
    """An autograded test cell: a code cell with nbgrader ``grade: true`` and no solution."""
    return cell.get("cell_type") == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def _label(cell, index: int) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or ""


def _msg_size(msg: dict) -> int:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    if msg.get("msg_type") == "error":
        return len(str(content.get("evalue", ""))) + sum(len(t) for t in content.get("traceback", []))
    return sum(len(str(v)) for v in (content.get("data") or {}).values())


class SandboxedExecute(Execute):
    """nbgrader's ``Execute``, run in the grader's sandboxed kernel with whole-notebook limits.

    Configuration (set per submission by the grader):

    - ``sandbox_spec``: a :class:`autograder.sandbox.SandboxSpec` as JSON;
    - ``kernelspec_dir``: folder with ``kernels/<KERNEL_NAME>/kernel.json``;
    - ``notebook_timeout`` (s), ``output_limit`` (bytes per cell), ``threads`` (BLAS threads);
    - ``report_path``: where the JSON report goes; ``kernel_log``: the kernel's own stdout/stderr.

    On a whole-notebook timeout or a dead kernel every test cell gets an error output
    (``GradingAborted``), so nbgrader scores the notebook 0; the report says why.
    """

    sandbox_spec = Unicode("").tag(config=True)
    kernelspec_dir = Unicode("").tag(config=True)
    notebook_timeout = Integer(GRADE_NOTEBOOK_TIMEOUT_S).tag(config=True)
    output_limit = Integer(GRADE_OUTPUT_LIMIT_BYTES).tag(config=True)
    threads = Integer(1).tag(config=True)
    report_path = Unicode("").tag(config=True)
    kernel_log = Unicode("").tag(config=True)
    integrity_timeout = Integer(30, help="seconds to wait for the kernel's integrity report").tag(config=True)

    # ------------------------------------------------------------------ whole notebook
    def preprocess(self, nb, resources=None, km=None):
        self._report = {"cells": {}, "changed": [], "denied": [], "isolation": [], "aborted": None,
                        "truncated": [], "cell_timeouts": [], "integrity_errors": [], "seconds": None}
        self._deadline_hit = False
        self._current_cell = None
        self._out_bytes: dict[int, int] = {}
        self._stderr_dropped: set[int] = set()
        started = time.monotonic()
        timer = threading.Timer(self.notebook_timeout, self._on_deadline)
        timer.daemon = True
        timer.start()
        try:
            nb, resources = super().preprocess(nb, resources, km)
        except (DeadKernelError, CellTimeoutError, RuntimeError, OSError) as exc:
            nb = self.nb
            index = self._current_cell
            if self._deadline_hit:
                kind, why = "timeout", f"the notebook ran longer than its {self.notebook_timeout} s limit"
            elif isinstance(exc, CellTimeoutError):
                kind, why = "timeout", "a cell ignored the interrupt after reaching the cell time limit"
            elif index is None:
                kind, why = "kernel_start", f"the kernel did not start ({type(exc).__name__}: {exc})"
            else:
                kind, why = "crashed", "the kernel died (the process exited or was killed)"
            label = _label(nb.cells[index], index) if index is not None else None
            self._report["aborted"] = {"kind": kind, "why": why, "cell": index, "label": label,
                                       "exception": f"{type(exc).__name__}: {exc}"[:500]}
            self._abort(nb, index, why if index is None else f"{why} while running {cell_name(index, label)}")
            if index is None:
                resources = resources or {}
        finally:
            timer.cancel()
            self._report["seconds"] = round(time.monotonic() - started, 2)
            self._harden_test_cells(nb)
            self._write_report()
        return nb, resources

    def _on_deadline(self) -> None:
        """Timer thread: the notebook is over its time: kill the kernel's process group."""
        self._deadline_hit = True
        provisioner = getattr(getattr(self, "km", None), "provisioner", None)
        pgid = getattr(provisioner, "pgid", None) or getattr(provisioner, "pid", None)
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _abort(self, nb, index: int | None, why: str) -> None:
        """Give every test cell an error output, so nbgrader scores the notebook 0."""
        error = new_output("error", ename=ABORT_ENAME, evalue=why, traceback=[f"{ABORT_ENAME}: {why}"])
        for i, cell in enumerate(nb.cells):
            if is_test_cell(cell) or (i == index and cell.get("cell_type") == "code"):
                cell.setdefault("outputs", []).append(error)

    @staticmethod
    def _harden_test_cells(nb) -> None:
        """nbgrader gives partial credit for a number shown as a test cell's result, even when an
        error follows it; a failing test cell keeps no result, so it scores 0."""
        for cell in nb.cells:
            if not is_test_cell(cell):
                continue
            outs = cell.get("outputs", [])
            failed = any(o.get("output_type") == "error" or
                         (o.get("output_type") == "stream" and o.get("name") == "stderr") for o in outs)
            if failed:
                cell["outputs"] = [o for o in outs if o.get("output_type") != "execute_result"]

    def _write_report(self) -> None:
        if self.report_path:
            Path(self.report_path).write_text(json.dumps(self._report, indent=1))

    # ------------------------------------------------------------------ the kernel
    def create_kernel_manager(self):
        """A kernel manager that starts :mod:`autograder.sandbox` instead of ipykernel_launcher."""
        ksm = KernelSpecManager(kernel_dirs=[os.path.join(self.kernelspec_dir, "kernels")])
        self.kernel_name = KERNEL_NAME
        self.km = self.kernel_manager_class(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, config=self.config)
        spec = SandboxSpec.from_json(self.sandbox_spec)
        self.km.connection_file = os.path.join(spec.sandbox, ".kernel-connection.json")
        return self.km

    async def async_start_new_kernel(self, **kwargs):
        spec = SandboxSpec.from_json(self.sandbox_spec)
        kwargs["env"] = kernel_env(spec, self.threads, ROOT)
        # Not nbgrader's choice (the autograded folder, which holds the notebook with its hidden
        # tests): the sandbox's own empty working folder.
        kwargs["cwd"] = spec.workdir or spec.sandbox
        if self.kernel_log:
            log = open(self.kernel_log, "ab")  # noqa: SIM115 - handed to the kernel process
            kwargs.setdefault("stdout", log)
            kwargs.setdefault("stderr", log)
        if not any(a.startswith("--HistoryManager.hist_file") for a in self.extra_arguments):
            self.extra_arguments = [*self.extra_arguments, "--HistoryManager.hist_file=:memory:"]
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    # ------------------------------------------------------------------ cells
    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._current_cell = cell_index
        started = time.monotonic()
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if cell.get("cell_type") == "code" and cell.source.strip():
            info = {"seconds": round(time.monotonic() - started, 2), "label": _label(cell, cell_index)}
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                info["error"] = f"{errors[0].get('ename')}: {str(errors[0].get('evalue'))[:300]}"
            self._report["cells"][str(cell_index)] = info
            await self._integrity_check(cell, cell_index)
        return cell

    execute_cell = run_sync(async_execute_cell)

    async def _integrity_check(self, cell, cell_index: int) -> None:
        """Ask the kernel what changed since the snapshot; record new changes against this cell."""
        if self.kc is None:
            return
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"r": REPORT_EXPRESSION})
        deadline = time.monotonic() + self.integrity_timeout
        reply = None
        while reply is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._report["integrity_errors"].append(
                    f"no integrity report after {cell_name(cell_index, _label(cell, cell_index))} (kernel busy)")
                return
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(remaining, 1.0)))
            except Empty:
                if not await ensure_async(self.kc.is_alive()):
                    return
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                reply = msg
        expr = reply.get("content", {}).get("user_expressions", {}).get("r", {})
        label = _label(cell, cell_index)
        if expr.get("status") != "ok":
            what = f"the grader's integrity check failed in the kernel ({expr.get('ename', 'no result')})"
            if what not in [c["what"] for c in self._report["changed"]]:
                self._report["changed"].append({"cell": cell_index, "label": label, "what": what})
            return
        try:
            report = json.loads(ast.literal_eval(expr["data"]["text/plain"]))
        except (KeyError, ValueError, SyntaxError, TypeError):
            self._report["changed"].append({"cell": cell_index, "label": label,
                                            "what": "the grader's integrity report was unreadable"})
            return
        known = {c["what"] for c in self._report["changed"]}
        for what in report.get("changed", []):
            if what not in known:
                self._report["changed"].append({"cell": cell_index, "label": label, "what": what})
        seen = {d["what"] for d in self._report["denied"]}
        for what in report.get("denied", []):
            if what not in seen:
                self._report["denied"].append({"cell": cell_index, "label": label, "what": what})
                seen.add(what)
        if not self._report["isolation"]:
            self._report["isolation"] = report.get("isolation", [])

    async def _async_handle_timeout(self, timeout, cell=None):
        index = self._current_cell
        if index is not None and all(c["cell"] != index for c in self._report["cell_timeouts"]):
            self._report["cell_timeouts"].append({"cell": index, "label": _label(self.nb.cells[index], index)})
        return await super()._async_handle_timeout(timeout, cell)

    # ------------------------------------------------------------------ output cap
    def output(self, outs, msg, display_id, cell_index):
        used = self._out_bytes.get(cell_index, 0) + _msg_size(msg)
        self._out_bytes[cell_index] = used
        msg_type = msg.get("msg_type")
        if msg_type == "error":
            content = msg["content"]
            content["evalue"] = str(content.get("evalue", ""))[:5000]
            content["traceback"] = [t[:5000] for t in content.get("traceback", [])[:200]]
        elif used > self.output_limit:
            if cell_index not in self._report["truncated"]:
                self._report["truncated"].append(cell_index)
                outs.append(new_output("stream", name="stdout",
                                       text=f"\n[output truncated by the grader: more than {self.output_limit} bytes]\n"))
            if msg_type == "stream" and msg["content"].get("name") == "stderr" and cell_index not in self._stderr_dropped:
                self._stderr_dropped.add(cell_index)  # keep the fact that stderr was written (nbgrader scores it 0)
                outs.append(new_output("stream", name="stderr", text="[stderr output truncated by the grader]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        if _msg_size(msg) > self.output_limit:
            return
        super()._update_display_id(display_id, msg)


# ---------------------------------------------------------------------------- feedback

HIDDEN_NOTICE = "[removed by the grader: this output quoted hidden test code]"
_MIN_HIDDEN_LINE = 8  # shorter lines ("else:", "pass") are not secrets


def hidden_test_lines(source_nb, release_nb=None) -> list[str]:
    """Lines inside ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` of ``source_nb``.

    Whitespace-collapsed and at least 8 characters long. Lines that students can already read
    somewhere in ``release_nb`` (``model.eval()`` in the prose, a line the visible tests share)
    are left out: they are not secret, and scrubbing them would mangle ordinary text.
    """
    visible = ""
    if release_nb is not None:
        visible = "\n".join(" ".join(cell.source.split()) for cell in release_nb.cells)
    lines = []
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside:
                norm = " ".join(line.split())
                if len(norm) >= _MIN_HIDDEN_LINE and norm not in visible and norm not in lines:
                    lines.append(norm)
    return lines


class SanitizeFeedback(ClearHiddenTests):
    """``ClearHiddenTests`` for feedback, plus keeping hidden-test source out of outputs.

    - Hidden-test regions (``BEGIN``/``END HIDDEN TESTS``, delimiters included) are removed from
      every cell; an unterminated region is removed to the end of the cell instead of failing
      the feedback. Nothing else of a test cell's source is touched: its visible region is
      shown exactly as the release shows it (nbgrader restores test cells from the source).
    - Test cells show their errors as one ``Name: message`` line (an IPython traceback quotes
      the failing line, which may be a hidden test).
    - Any output, and any line of a cell students write in, that contains one of
      ``hidden_lines`` (also after undoing ``repr`` escapes and HTML entities) is replaced by a
      notice.
    - Only ``text/plain`` and PNG/JPEG images of rich outputs are kept: no HTML, SVG or
      JavaScript from student code reaches the feedback page.
    - ``notice`` (Markdown), when given, becomes the first cell.
    - With a gradebook in ``resources["nbgrader"]`` (nbgrader's ``GenerateFeedback``), written
      answers still waiting for a person get ``metadata.nbgrader.awaiting`` and the totals of
      :func:`autograder.feedback.totals` go to ``resources["course"]`` for the template.
    """

    hidden_lines = List(Unicode(), help="whitespace-collapsed hidden test lines (hidden_test_lines)").tag(config=True)
    notice = Unicode("", help="Markdown shown at the top of the feedback").tag(config=True)
    # nbconvert configures every preprocessor with this; declared (as GetGrades does) so that
    # `nbgrader generate_feedback` does not warn that it is not recognised.
    display_data_priority = List(GetGrades.display_data_priority.default_value).tag(config=True)

    def preprocess(self, nb, resources):
        cells = _gradebook_cells(resources)
        self._awaiting = {c["grade_id"] for c in cells if c["kind"] == "manual" and c["needs_manual_grade"]}
        nb, resources = super().preprocess(nb, resources)
        if cells:
            from autograder.feedback import totals

            resources["course"] = totals(cells)
        if self.notice:
            nb.cells.insert(0, new_markdown_cell(self.notice))
        nb.metadata.pop("widgets", None)
        return nb, resources

    def _remove_hidden_test_region(self, cell) -> bool:
        lines, kept, inside, removed = cell.source.split("\n"), [], False, False
        for line in lines:
            if self.begin_test_delimeter in line:
                inside, removed = True, True
            elif self.end_test_delimeter in line:
                inside = False
            elif not inside:
                kept.append(line)
        cell.source = "\n".join(kept)
        return removed

    def leaks(self, text: str) -> bool:
        """Does ``text`` contain a hidden test line (also inside a repr or HTML)?"""
        if not text or not self.hidden_lines:
            return False
        unescaped = (text.replace("\\n", "\n").replace("\\t", "\t").replace("\\'", "'")
                     .replace('\\"', '"').replace("\\\\", "\\"))
        for variant in {text, unescaped, html.unescape(text), html.unescape(unescaped)}:
            flat = " ".join(variant.split())
            if any(line in flat for line in self.hidden_lines):
                return True
        return False

    def _clean_source(self, cell) -> None:
        lines = cell.source.split("\n")
        if any(self.leaks(line) for line in lines):
            cell.source = "\n".join(("# " if cell.cell_type == "code" else "") + HIDDEN_NOTICE
                                    if self.leaks(line) else line for line in lines)

    def _clean_output(self, out, test_cell: bool):
        kind = out.get("output_type")
        if kind == "stream":
            if self.leaks(out.get("text", "")):
                out["text"] = HIDDEN_NOTICE + "\n"
            return out
        if kind == "error":
            ename, evalue = str(out.get("ename", "")), str(out.get("evalue", ""))[:2000]
            if self.leaks(evalue):
                evalue = HIDDEN_NOTICE
            tb = out.get("traceback", [])
            if test_cell or self.leaks("\n".join(tb)):
                tb = [f"{ename}: {evalue}" if evalue else ename]
            out["evalue"], out["traceback"] = evalue, tb
            return out
        if kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items() if k in ("text/plain", "image/png", "image/jpeg")}
            if not data:
                return None
            if self.leaks(str(data.get("text/plain", ""))):
                data["text/plain"] = HIDDEN_NOTICE
            out["data"] = data
            out["metadata"] = {k: v for k, v in out.get("metadata", {}).items() if k in data}
            return out
        return None

    def preprocess_cell(self, cell, resources, cell_index):
        self._remove_hidden_test_region(cell)
        test = is_test_cell(cell)
        if not test:  # a test cell's source is the release's visible region: never edited
            self._clean_source(cell)
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in (self._clean_output(o, test) for o in cell.get("outputs", [])) if o is not None]
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id and grade_id in getattr(self, "_awaiting", ()):
            cell.metadata.nbgrader["awaiting"] = True
        cell.get("metadata", {}).pop("widgets", None)
        return cell, resources


def _gradebook_cells(resources) -> list[dict]:
    """The submission's graded cells from the gradebook nbgrader names in ``resources`` ([] without one)."""
    info = (resources or {}).get("nbgrader") or {}
    if not all(info.get(k) for k in ("db_url", "assignment", "student")):
        return []
    from nbgrader.api import Gradebook

    from autograder.feedback import cell_grades

    with Gradebook(info["db_url"]) as gb:
        cells = cell_grades(gb, info["assignment"], info["student"])
    return [c for c in cells if c["notebook"] == info.get("notebook", c["notebook"])]


class CourseFeedback(SanitizeFeedback):
    """:class:`SanitizeFeedback` that configures itself from a graded-class folder.

    ``course_dir`` is the folder ``python3 course.py grade`` wrote (its ``nbgrader_config.py``
    sets it). For each submission it takes the hidden-test lines from the folder's copy of the
    source (``solutions/<a>/<a>.ipynb``, against ``notebooks/<a>/<a>.ipynb``) and from the
    autograded notebook itself, and the notice from the grader's record
    (``grader/results/<student>/<a>.json``). Without the source it raises, and nbgrader then
    writes no feedback for that submission: it never falls back to showing hidden tests.
    """

    course_dir = Unicode("", help="the graded-class folder (the --out of python3 course.py grade)").tag(config=True)

    def preprocess(self, nb, resources):
        import nbformat

        from autograder.feedback import notice

        info = resources["nbgrader"]
        folder, assignment = Path(self.course_dir or "."), info["assignment"]
        source = folder / "solutions" / assignment / f"{assignment}.ipynb"
        release = folder / "notebooks" / assignment / f"{assignment}.ipynb"
        if not source.is_file() or not release.is_file():
            raise RuntimeError(f"cannot keep hidden tests out of the feedback: {source} or {release} is missing; "
                               "run python3 course.py grade again to restore them")
        release_nb = nbformat.read(release, as_version=4)
        lines = hidden_test_lines(nbformat.read(source, as_version=4), release_nb)
        self.hidden_lines = lines + [x for x in hidden_test_lines(nb, release_nb) if x not in lines]
        record = folder / "grader" / "results" / info["student"] / f"{assignment}.json"
        self.notice = notice(json.loads(record.read_text())) if record.is_file() else ""
        return super().preprocess(nb, resources)
