"""Benchmark: grading a class in parallel vs plain serial ``nbgrader autograde``.

    python benchmarks/grade_bench.py [--n 20] [--jobs CORES] [--topic 08_dropout] [--repeat 1] [--keep]

Builds ``--n`` submissions of one topic (student01, student02, ...; odd ones submit the
answered solution, even ones the untouched release), then grades the same files twice:

1. **baseline**: one ``nbgrader autograde TOPIC`` call in a fresh nbgrader course (the assignment
   is generated beforehand and not timed): nbgrader's serial loop, one notebook after another;
2. **course grader**: ``python -m autograder grade SUBMISSIONS --jobs N`` (what
   ``python3 course.py grade`` runs), timed end to end: generating the assignment, sandboxed
   autograding, feedback HTML, the merged gradebook and grades.csv.

It prints both wall times and the speed-up, and checks that both gave every student the same
autograded points. The target on a 2-core machine is a speed-up of at least 1.7; with more cores
``--jobs`` grows and so does the speed-up. Other heavy processes on the machine make the numbers
noisy: the load average before and after is printed, and ``--repeat 2`` keeps the fastest of
alternating runs.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from autograder.config import NOTEBOOKS, SOLUTIONS  # noqa: E402
from autograder.nbcourse import ScratchCourse, subprocess_env  # noqa: E402


def answered(topic: str) -> nbformat.NotebookNode:
    """The student release with every solution cell filled in from the solution notebook."""
    release = nbformat.read(NOTEBOOKS / topic / f"{topic}.ipynb", as_version=4)
    solution = nbformat.read(SOLUTIONS / topic / f"{topic}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in release.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell.source = answers[meta["grade_id"]]
    return release


def build(dest: Path, topic: str, n: int) -> list[str]:
    """Write n submissions in nbgrader's layout under dest/submitted; return the student ids."""
    good = nbformat.writes(answered(topic))
    release = (NOTEBOOKS / topic / f"{topic}.ipynb").read_text()
    students = [f"student{i:02d}" for i in range(1, n + 1)]
    for i, student in enumerate(students):
        folder = dest / "submitted" / student / topic
        folder.mkdir(parents=True)
        (folder / f"{topic}.ipynb").write_text(good if i % 2 == 0 else release)
    return students


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="number of submissions (default 20)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel jobs (default: cores)")
    parser.add_argument("--topic", default="08_dropout")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each grader this many times, alternating, and keep the fastest (less noise)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="grade-bench-"))
    try:
        students = build(tmp / "class", args.topic, args.n)
        load_before = os.getloadavg()

        baselines, ours_times = [], []
        for attempt in range(max(1, args.repeat)):
            shutil.rmtree(tmp / "baseline", ignore_errors=True)
            shutil.rmtree(tmp / "graded", ignore_errors=True)
            course = ScratchCourse(tmp / "baseline")
            course.generate(args.topic)
            shutil.copytree(tmp / "class" / "submitted", tmp / "baseline" / "submitted")
            print(f"baseline: nbgrader autograde {args.topic} over {args.n} submissions, serially ...", flush=True)
            t0 = time.perf_counter()
            course.nbgrader("autograde", args.topic)
            baselines.append(time.perf_counter() - t0)
            print(f"  {baselines[-1]:.1f} s", flush=True)

            print(f"course grader: python -m autograder grade --jobs {args.jobs} ...", flush=True)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp / "class"), "--out",
                                   str(tmp / "graded"), "--jobs", str(args.jobs), "--no-progress"],
                                  cwd=ROOT, env=subprocess_env(), capture_output=True, text=True)
            ours_times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
                return 1
            print(f"  {ours_times[-1]:.1f} s", flush=True)
        baseline, ours = min(baselines), min(ours_times)
        load_after = os.getloadavg()

        with open(tmp / "graded" / "grades.csv", newline="") as fh:
            rows = {r["student"]: r for r in csv.DictReader(fh)}
        mismatches = []
        for student in students:
            theirs = course.score(args.topic, student).code_score
            mine = float(rows[student]["raw_points"] if rows[student]["status"] == "integrity" else rows[student]["points"])
            if theirs != mine:
                mismatches.append(f"{student}: nbgrader {theirs:g}, course grader {mine:g} ({rows[student]['reason']})")

        print()
        print(f"submissions          {args.n} ({args.topic}: half answered, half the untouched release)")
        print(f"cores / jobs         {os.cpu_count()} / {args.jobs}")
        runs = f", fastest of {len(baselines)}" if len(baselines) > 1 else ""
        print(f"nbgrader autograde   {baseline:8.1f} s  (serial, assignment already generated{runs})")
        print(f"course.py grade      {ours:8.1f} s  (parallel, including generate, sandbox, feedback, CSV{runs})")
        print(f"speed-up             {baseline / ours:8.2f}x  (target >= 1.7x on 2 cores)")
        print(f"load average         {load_before[0]:.1f} before, {load_after[0]:.1f} after "
              "(other busy processes make the timings noisy)")
        if mismatches:
            print("POINTS DIFFER:\n  " + "\n  ".join(mismatches))
            return 1
        print("both graders gave every student the same autograded points")
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
