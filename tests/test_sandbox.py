"""The grader's sandbox (autograder.sandbox), tested directly in a child process.

The layout mimics the case that once leaked: a course checked out under /tmp, so the virtual
environment the kernel needs lies under /tmp beside solutions/, a gradebook, another course's
gradebook and another student's sandbox.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

COURSE_ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent('''
    import glob, json, os, sys
    from autograder import sandbox
    from autograder.sandbox import SandboxSpec, isolate, kernel_needs

    layout = json.loads(sys.argv[1])
    spec = SandboxSpec(sandbox=layout["sandbox"], root=layout["root"], hide=layout["hide"],
                       namespaces=layout["namespaces"])
    visible = kernel_needs() + [layout["venv"]]
    cwd = os.getcwd()
    sandbox.ISOLATION.extend(isolate(spec, visible))
    os.chdir(cwd)  # as the kernel launcher does: the private root is entered at /
    sandbox.install_audit_hook(spec, visible)
    import json as _json_again, email.mime.text  # imports still work under the hook

    def attempt(action, *args):
        try:
            return action(*args)
        except OSError:
            return None

    def write(path):
        with open(path, "w") as fh:
            fh.write("x")
        return True

    def read(path):
        with open(path, "rb") as fh:
            return len(fh.read())

    print(json.dumps({
        "notes": list(sandbox.ISOLATION),
        "venv": attempt(lambda: sorted(os.listdir(layout["venv"]))),
        "readable": {p: attempt(read, p) for p in layout["secret_files"]},
        "listable": {p: attempt(os.listdir, p) for p in layout["secret_dirs"]},
        "globbed": sorted(p for pat in ("/tmp/**/*.db", "/tmp/**/solutions/**/*.py", "../**/*.db",
                                        "../../**/answer.txt", os.path.expanduser("~/**/*.db"))
                          for p in glob.glob(pat, recursive=True)),
        "course_root": attempt(lambda: sorted(os.listdir(layout["course_root"]))),
        "sandbox_writable": attempt(write, os.path.join(layout["sandbox"], "answer.txt")),
        "venv_writable": attempt(write, os.path.join(layout["venv"], "planted.py")),
    }))
''')


def make_layout(tmp_path: Path, namespaces: bool) -> dict:
    repo = tmp_path / "course"
    (repo / ".venv" / "lib").mkdir(parents=True)
    (repo / ".venv" / "lib" / "torch.py").write_text("# stands in for the environment\n")
    (repo / "solutions" / "08_dropout").mkdir(parents=True)
    (repo / "solutions" / "08_dropout" / "08_dropout.py").write_text("SECRET = 1\n")
    (repo / "gradebook.db").write_bytes(b"SQLite format 3\0")
    (tmp_path / "other_course").mkdir()
    (tmp_path / "other_course" / "gradebook.db").write_bytes(b"SQLite format 3\0")
    sandboxes = tmp_path / "sandboxes"
    (sandboxes / "alice").mkdir(parents=True)
    (sandboxes / "bob").mkdir()
    (sandboxes / "bob" / "answer.txt").write_text("bob's work\n")
    (sandboxes / "alice.root").mkdir()
    return {
        "sandbox": str(sandboxes / "alice"), "root": str(sandboxes / "alice.root"), "venv": str(repo / ".venv"),
        "hide": [str(repo / "solutions"), str(repo / "gradebook.db"), str(sandboxes)],
        "namespaces": namespaces, "course_root": str(COURSE_ROOT),
        "secret_files": [str(repo / "solutions" / "08_dropout" / "08_dropout.py"), str(repo / "gradebook.db"),
                         str(tmp_path / "other_course" / "gradebook.db"), str(sandboxes / "bob" / "answer.txt"),
                         str(COURSE_ROOT / "solutions" / "08_dropout" / "08_dropout.py")],
        "secret_dirs": [str(repo / "solutions"), str(tmp_path / "other_course"), str(sandboxes / "bob"),
                        str(tmp_path), "/tmp"],
    }


def run_child(layout: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(layout)], capture_output=True, text=True,
                          timeout=120, cwd=layout["sandbox"], env={**os.environ, "HOME": layout["sandbox"]})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_nothing_found(got: dict, layout: dict) -> None:
    assert got["venv"] == ["lib"], "the environment must stay visible to the kernel"
    assert got["readable"] == {p: None for p in layout["secret_files"]}, got["readable"]
    assert got["globbed"] == [], got["globbed"]
    assert got["sandbox_writable"] and not got["venv_writable"], got


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces only")
def test_private_root_hides_everything_but_what_the_kernel_needs(tmp_path: Path):
    layout = make_layout(tmp_path, namespaces=True)
    got = run_child(layout)
    if got["notes"][0].startswith("isolation: audit hook only"):
        pytest.skip(f"no namespaces on this machine: {got['notes']}")
    assert got["notes"][0] == "isolation: private root", got["notes"]
    assert_nothing_found(got, layout)
    # Hidden folders do not exist; their parents hold only what leads to something visible.
    listed = got["listable"]
    assert [listed[d] for d in layout["secret_dirs"][:3]] == [None, None, None], listed
    assert set(listed[str(tmp_path)]) <= {"course", "sandboxes"}, listed
    # Of this checkout, only what the kernel imports: no solutions/, .git, mutants or gradebook.
    assert set(got["course_root"]) <= {"autograder", "course_utils", ".venv"}, got["course_root"]
    assert (Path(layout["sandbox"]) / "answer.txt").read_text() == "x"
    assert not (Path(layout["venv"]) / "planted.py").exists()


def test_audit_hook_alone_lists_and_reads_nothing_outside(tmp_path: Path):
    """Where namespaces are missing (macOS, locked-down containers) the audit hook is the guard."""
    layout = make_layout(tmp_path, namespaces=False)
    got = run_child(layout)
    assert got["notes"][0].startswith("isolation: audit hook only"), got["notes"]
    assert_nothing_found(got, layout)
    assert got["listable"] == {p: None for p in layout["secret_dirs"]}, got["listable"]
    assert got["course_root"] is None, "the checkout's root (with solutions/) must not be listed"
    assert not (Path(layout["venv"]) / "planted.py").exists()
