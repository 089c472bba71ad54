#!/usr/bin/env python3
"""One entry point for the course. Needs nothing but ``python3`` (3.10+).

    python3 course.py lab        # set up .venv if needed, then open JupyterLab on notebooks/
    python3 course.py test       # set up .venv if needed, then run every test (what CI runs)

Other commands, mostly for instructors:

    python3 course.py release    # rebuild solutions/*.ipynb from their .py twins, then notebooks/
    python3 course.py selftest   # autograde solutions, releases and mutants; print the table
    python3 course.py bench      # time every solution notebook headless (budget: 30 s each)
    python3 course.py grade DIR  # grade a folder (or .zip) of student submissions
    python3 course.py formgrader OUT  # grade the written answers in nbgrader's formgrader
    python3 course.py finalize OUT    # merge the manual grades: final grades.csv and feedback

Options for set-up (any command):

    --cpu-torch   install the CPU-only torch wheels (small download; for laptops without CUDA)

The virtual environment lives in ``.venv``. It is rebuilt only when requirements.txt or
pyproject.toml change, so a second run starts at once.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".course-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def say(msg: str) -> None:
    print(f"[course] {msg}", flush=True)


def requirements_digest(cpu_torch: bool) -> str:
    h = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        h.update((ROOT / name).read_bytes())
    h.update(b"cpu" if cpu_torch else b"default")
    h.update(sys.version.encode())
    return h.hexdigest()


def ensure_venv(cpu_torch: bool = False) -> None:
    """Create or reuse .venv and install the pinned requirements plus this project."""
    digest = requirements_digest(cpu_torch)
    if STAMP.exists() and STAMP.read_text().strip() == digest and PY.exists():
        return
    if sys.version_info < (3, 10):
        sys.exit(f"[course] Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    if not PY.exists():
        say(f"creating a virtual environment in {VENV.relative_to(ROOT)}/ ...")
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        except Exception as exc:  # ensurepip missing on some Debian/Ubuntu images
            sys.exit(f"[course] could not create .venv ({exc}).\n"
                     "On Debian/Ubuntu install the venv module first: sudo apt-get install python3-venv")
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check"]
    extra = ["--extra-index-url", CPU_TORCH_INDEX] if cpu_torch else []
    say("installing the pinned requirements (the first time takes a few minutes: torch is large) ...")
    run(pip + ["--upgrade", "pip"])
    run(pip + extra + ["-r", str(ROOT / "requirements.txt")])
    run(pip + ["--no-deps", "-e", str(ROOT)])
    STAMP.write_text(digest + "\n")
    say("environment ready.")


def run(cmd: list[str], **kw) -> None:
    proc = subprocess.run(cmd, cwd=kw.pop("cwd", ROOT), **kw)
    if proc.returncode != 0:
        sys.exit(f"[course] command failed with exit code {proc.returncode}: {' '.join(cmd)}")


def ensure_chromium() -> None:
    """The browser test needs Debian's chromium. Install it when we can (CI runs as root)."""
    if shutil.which("chromium") or Path("/usr/bin/chromium").exists():
        return
    if os.name != "nt" and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing Debian's chromium for the browser test ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "chromium"], env=env)
    else:
        say("chromium is not installed and this user cannot apt-get it; "
            "the browser test will fail. Install it with: sudo apt-get install chromium")


def exec_in_venv(args: list[str]) -> None:
    env = dict(os.environ, VIRTUAL_ENV=str(VENV), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONHOME", None)
    # Keep notebooks quiet and reproducible: no stray threads fighting over 2 cores.
    proc = subprocess.run(args, cwd=ROOT, env=env)
    sys.exit(proc.returncode)


def main(argv: list[str]) -> None:
    cpu_torch = "--cpu-torch" in argv
    argv = [a for a in argv if a != "--cpu-torch"]
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    cmd, rest = argv[0], argv[1:]
    if cmd == "lab":
        ensure_venv(cpu_torch)
        say("starting JupyterLab on notebooks/ — open the URL it prints (Ctrl+C to stop).")
        exec_in_venv([str(BIN / "jupyter"), "lab", "--notebook-dir", str(ROOT / "notebooks"), *rest])
    elif cmd == "test":
        ensure_venv(cpu_torch)
        ensure_chromium()
        exec_in_venv([str(PY), "-m", "pytest", *rest])
    elif cmd in {"release", "selftest", "bench", "grade", "formgrader", "finalize"}:
        ensure_venv(cpu_torch)
        exec_in_venv([str(PY), "-m", "autograder", cmd, *rest])
    else:
        sys.exit(f"[course] unknown command {cmd!r}. Try: python3 course.py lab | test | release | selftest | bench | grade | formgrader | finalize")


if __name__ == "__main__":
    main(sys.argv[1:])
