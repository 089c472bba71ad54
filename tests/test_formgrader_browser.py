"""nbgrader's formgrader, opened on a graded class in real JupyterLab, driven through Debian's
Chromium by Playwright (the same set-up as test_browser.py).

The test grades a class of two (a correct 08_dropout notebook and an invalid file) with
``python3 course.py grade``, starts the formgrader the way the README says
(``python -m autograder formgrader OUT``, which starts ``jupyter lab`` in ``OUT``), and checks:

- "Manage Assignments" counts both submissions and shows no exchange warning;
- "Manage Submissions" lists both students;
- a written answer scored on the manual-grading page lands in the gradebook;
- the "Generate Feedback" button writes feedback with that score, through the course's
  sanitiser (no hidden test line) and template ("awaiting grading" for the other answer).

Screenshots go to pytest's ``tmp_path`` and to ``build/screenshots/`` (git-ignored). It never
skips: without /usr/bin/chromium it fails and says how to install it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import grading_corpus as corpus
from autograder.__main__ import main as cli

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_S = 120
SAVE_S = 30
SCREENSHOTS = ROOT / "build" / "screenshots"
TOPIC = corpus.TOPIC
COURSE_ID = "dl-interview-course"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the formgrader exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the formgrader did not answer {url} within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the command, jupyter and its kernels: one process group
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture
def graded(tmp_path):
    """A graded class of two in ``tmp_path/graded``."""
    submissions, out = tmp_path / "class", tmp_path / "graded"
    corpus._write(submissions, "alice", corpus.answered())
    corpus._write(submissions, "dave", raw=b"{ not json")
    assert cli(["grade", str(submissions), "--out", str(out), "--jobs", "2", "--no-progress", *corpus.GRADE_ARGS]) == 0
    return out


@pytest.fixture
def formgrader(graded, tmp_path):
    """The formgrader started on ``graded`` by the course's command; yields (base_url, token, out)."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing at /usr/bin/chromium; the browser test needs it. "
                    "Install it with `apt-get update && apt-get install -y chromium` "
                    "(`python3 course.py test` does this when run as root).")
    home = tmp_path / "home"
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                           "checkForUpdates": False}))
    port, token = _free_port(), uuid.uuid4().hex
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "IPYTHONDIR": str(home / "ipython")}
    log = tmp_path / "formgrader.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autograder", "formgrader", str(graded), "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root", "--ServerApp.port_retries=0"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/status?token={token}", proc, log)
        yield base, token, graded
    finally:
        _stop(proc)


def _submission_notebook_id(out: Path, student: str) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        return gb.find_submission_notebook(TOPIC, TOPIC, student).id


def _manual_state(out: Path, student: str, grade_id: str) -> tuple:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        grade = gb.find_grade(grade_id, TOPIC, TOPIC, student)
        return grade.manual_score, grade.needs_manual_grade


def test_formgrader_lists_the_class_and_saves_a_manual_grade(formgrader, tmp_path):
    from playwright.sync_api import sync_playwright

    base, token, out = formgrader
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            try:
                _drive(page, base, token, out, tmp_path)
            except BaseException:
                _screenshot(page, tmp_path, "FAILED_formgrader")
                raise
        finally:
            browser.close()


def _drive(page, base: str, token: str, out: Path, tmp_path: Path) -> None:
    # Manage Assignments: both submissions counted, no exchange banner.
    page.goto(f"{base}/formgrader/manage_assignments?token={token}", timeout=90_000)
    row = page.locator("tr", has=page.locator("td", has_text=TOPIC)).first
    row.locator("td.num-submissions a").wait_for()
    assert row.locator("td.num-submissions").inner_text().strip() == "2"
    assert page.locator("#warning-exchange").count() == 0, "the formgrader shows the exchange banner"
    _screenshot(page, tmp_path, "formgrader_assignments")

    # Manage Submissions: both students listed.
    page.goto(f"{base}/formgrader/manage_submissions/{TOPIC}")
    page.locator("#main-table td.student-id", has_text="dave").wait_for()
    students = sorted(t.strip() for t in page.locator("#main-table td.student-id").all_inner_texts())
    assert students == ["alice", "dave"]

    # Manual grading: score the first written answer; the formgrader saves it to the gradebook.
    assert _manual_state(out, "alice", "interview_q1") == (None, True)
    page.goto(f"{base}/formgrader/submissions/{_submission_notebook_id(out, 'alice')}/")
    score = page.locator("input.score#interview_q1")
    score.wait_for()
    score.fill("2")
    score.press("Tab")
    deadline = time.monotonic() + SAVE_S
    while _manual_state(out, "alice", "interview_q1") != (2.0, False):
        if time.monotonic() > deadline:
            pytest.fail(f"the manual grade was not saved within {SAVE_S} s: "
                        f"{_manual_state(out, 'alice', 'interview_q1')}")
        page.wait_for_timeout(250)
    _screenshot(page, tmp_path, "formgrader_manual_grade")

    # The formgrader's "Generate Feedback" button: the course's sanitiser and template.
    feedback = out / "feedback" / "alice" / TOPIC / f"{TOPIC}.html"
    feedback.unlink()
    page.goto(f"{base}/formgrader/manage_submissions/{TOPIC}")
    alice = page.locator("#main-table tr", has=page.locator("td.student-id", has_text="alice")).first
    alice.locator("td.generate-feedback a").click()
    page.locator(".modal", has_text="Successfully generated feedback").wait_for(timeout=120_000)
    html_text = feedback.read_text()
    text = corpus.visible_text(html_text)
    assert not corpus.leaked(html_text, corpus.secret_lines()), corpus.leaked(html_text, corpus.secret_lines())[:3]
    assert "total so far 13.0 / 15.0 points" in text, text[:300]
    assert text.count("awaiting grading") == 1 + 2, "the second written answer should be awaiting grading"
    assert "kept = out != 0" in corpus.code_text(corpus.cell_html(html_text, "test_dropout_basics"))


def _screenshot(page, tmp_path: Path, name: str) -> None:
    try:
        shot = tmp_path / f"{name}.png"
        page.screenshot(path=str(shot))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENSHOTS / shot.name)
    except Exception:  # noqa: BLE001 — a screenshot must not hide the test's own result
        pass
