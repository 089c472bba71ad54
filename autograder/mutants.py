"""Known-wrong answers ("mutants") for the graded exercises.

Each topic keeps its mutants in ``autograder/mutants/<topic>.toml``::

    [[mutant]]
    name = "no_scaling"            # short id, unique within the topic
    cell = "dropout"               # grade_id of the solution cell it edits
    why = "forgets the 1/(1-p) scale"
    find = "return x * mask / keep_prob"
    replace = "return x * mask"
    [[mutant.also]]                # optional further edits of the same cell
    find = "..."
    replace = "..."

An edit is a plain text substitution whose ``find`` must occur exactly once in the solution
cell, so a mutant cannot silently stop applying when the solution is reworded. Instead of
``find``/``replace`` an entry may give ``body``: the whole text between ``### BEGIN SOLUTION``
and ``### END SOLUTION`` is replaced by it (indent it as the solution is indented).

The same file lists **alternative correct answers** as ``[[alternative]]`` entries (same
fields). They are the other ways a good student writes the exercise (``torch.bernoulli``
instead of ``rand() < keep``, einsum instead of matmul); the self-test proves that each of them
keeps full marks, so the hidden tests cannot quietly become too strict.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from autograder.config import MUTANTS


class MutantError(ValueError):
    """A mutant file is malformed or no longer matches its solution cell."""


@dataclass(frozen=True)
class Mutant:
    topic: str
    name: str
    cell: str
    why: str
    edits: tuple[tuple[str, str], ...]
    kind: str = "mutant"  # or "alternative": a correct answer that must keep full marks

    def apply(self, source: str) -> str:
        """Return ``source`` (the solution cell's text) with this mutant's edits applied.

        Raises:
            MutantError: if an edit's ``find`` text is absent or occurs more than once, or the
                result equals the original (a mutant that changes nothing is not a mutant).
        """
        out = source
        for find, replace in self.edits:
            if find is BODY:
                out = _replace_body(out, replace, self)
                continue
            count = out.count(find)
            if count != 1:
                raise MutantError(
                    f"{self.topic}/{self.name}: `find` occurs {count} times in cell {self.cell!r} "
                    f"(it must occur exactly once). Update autograder/mutants/{self.topic}.toml.\n"
                    f"find = {find!r}"
                )
            out = out.replace(find, replace)
        if out == source:
            raise MutantError(f"{self.topic}/{self.name}: the edits leave cell {self.cell!r} unchanged")
        return out


BODY = object()  # marker: the edit replaces the whole solution region
_REGION = re.compile(r"(### BEGIN SOLUTION[^\n]*\n)(.*?)(^[ \t]*### END SOLUTION)", re.S | re.M)


def _replace_body(source: str, body: str, m: Mutant) -> str:
    match = _REGION.search(source)
    if not match:
        raise MutantError(f"{m.topic}/{m.name}: cell {m.cell!r} has no ### BEGIN/END SOLUTION region")
    body = body if body.endswith("\n") else body + "\n"
    return source[:match.start(2)] + body + source[match.end(2):]


def mutants_path(topic: str) -> Path:
    return MUTANTS / f"{topic}.toml"


def _entries(path: Path, data: dict, table: str, kind: str, topic: str) -> list[Mutant]:
    out: list[Mutant] = []
    for i, entry in enumerate(data.get(table, [])):
        has_body = "body" in entry
        required = ("name", "cell", "why") + (() if has_body else ("find", "replace"))
        missing = [k for k in required if k not in entry]
        if missing:
            raise MutantError(f"{path}: [[{table}]] #{i + 1} lacks {', '.join(missing)}")
        edits = [(BODY, entry["body"])] if has_body else [(entry["find"], entry["replace"])]
        edits += [(e["find"], e["replace"]) for e in entry.get("also", [])]
        out.append(Mutant(topic, entry["name"], entry["cell"], entry["why"], tuple(edits), kind))
    return out


def load_mutants(topic: str, include_alternatives: bool = False) -> list[Mutant]:
    """The topic's mutants in file order, followed by its alternatives when asked.

    Raises:
        FileNotFoundError: if the topic has no mutant file.
        MutantError: if an entry lacks a field or two entries share a name.
    """
    path = mutants_path(topic)
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    entries = _entries(path, data, "mutant", "mutant", topic)
    if include_alternatives:
        entries += _entries(path, data, "alternative", "alternative", topic)
    names = [m.name for m in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise MutantError(f"{path}: duplicate names {sorted(dupes)}")
    return entries
