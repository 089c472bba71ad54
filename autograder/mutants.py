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
cell, so a mutant cannot silently stop applying when the solution is reworded.
"""
from __future__ import annotations

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

    def apply(self, source: str) -> str:
        """Return ``source`` (the solution cell's text) with this mutant's edits applied.

        Raises:
            MutantError: if an edit's ``find`` text is absent or occurs more than once, or the
                result equals the original (a mutant that changes nothing is not a mutant).
        """
        out = source
        for find, replace in self.edits:
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


def mutants_path(topic: str) -> Path:
    return MUTANTS / f"{topic}.toml"


def load_mutants(topic: str) -> list[Mutant]:
    """All mutants of a topic, in file order.

    Raises:
        FileNotFoundError: if the topic has no mutant file.
        MutantError: if an entry lacks a field or two entries share a name.
    """
    path = mutants_path(topic)
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    mutants: list[Mutant] = []
    for i, entry in enumerate(data.get("mutant", [])):
        missing = [k for k in ("name", "cell", "why", "find", "replace") if k not in entry]
        if missing:
            raise MutantError(f"{path}: mutant #{i + 1} lacks {', '.join(missing)}")
        edits = [(entry["find"], entry["replace"])]
        edits += [(e["find"], e["replace"]) for e in entry.get("also", [])]
        mutants.append(Mutant(topic, entry["name"], entry["cell"], entry["why"], tuple(edits)))
    names = [m.name for m in mutants]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise MutantError(f"{path}: duplicate mutant names {sorted(dupes)}")
    return mutants
