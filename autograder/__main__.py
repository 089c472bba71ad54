"""Instructor commands: ``python -m autograder {release,selftest,bench} [TOPIC ...]``,
``python -m autograder grade SUBMISSIONS [--out DIR] [--jobs N] [--force]``,
``python -m autograder formgrader OUT`` and ``python -m autograder finalize OUT``.

Usually reached through ``python3 course.py release`` and friends.
"""
from __future__ import annotations

import argparse
import sys

from autograder.config import topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 course.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in [
        ("release", "rebuild solutions/*.ipynb from the .py sources, then notebooks/ with nbgrader"),
        ("selftest", "autograde each solution (full marks) and release (0), and every mutant (must lose points)"),
        ("bench", "time each solution notebook headless against the budget"),
    ]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("topics", nargs="*", help="topic slugs, e.g. 08_dropout (default: all)")
    from autograder.grade import add_arguments as add_grade_arguments

    add_grade_arguments(sub.add_parser(
        "grade", help="grade a folder or .zip of student submissions in parallel: grades.csv, feedback HTML"))
    p = sub.add_parser("formgrader", help="open nbgrader's formgrader on a graded class (grade the written answers)")
    p.add_argument("out", help="the folder python3 course.py grade wrote (its --out)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed to jupyter lab (e.g. --port 8890)")
    from autograder.finalize import add_arguments as add_finalize_arguments

    add_finalize_arguments(sub.add_parser(
        "finalize", help="merge the formgrader's manual grades into grades.csv and regenerate every student's feedback"))
    args = parser.parse_args(argv)
    if args.command == "grade":
        from autograder.grade import run_from_args

        return run_from_args(args)
    if args.command == "finalize":
        from autograder.finalize import run_from_args as finalize_from_args

        return finalize_from_args(args)
    if args.command == "formgrader":
        from autograder.nbcourse import open_formgrader

        return open_formgrader(args.out, args.jupyter_args)
    known = topics()
    unknown = [t for t in args.topics if t not in known]
    if unknown:
        parser.error(f"unknown topic(s) {unknown}; known: {', '.join(known)}")
    chosen = args.topics or known

    if args.command == "release":
        from autograder.build import release

        for path in release(chosen):
            print(f"wrote {path}")
        return 0
    if args.command == "selftest":
        from autograder.selftest import main as selftest_main

        return selftest_main(chosen)
    if args.command == "bench":
        from autograder.bench import main as bench_main

        return bench_main(chosen)
    return 2


if __name__ == "__main__":
    sys.exit(main())
