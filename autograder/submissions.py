"""Find the submissions in a folder or .zip, in either layout, and read them safely.

Two layouts are recognised (both may be mixed in one folder):

**nbgrader**: ``SUBMISSIONS/[submitted/]<student>/<assignment>/<assignment>.ipynb``, with
nbgrader's optional ``timestamp.txt`` next to the notebook. A student folder may also hold the
notebook directly (``<student>/<assignment>.ipynb``).

**Flat export** (what learning-management systems produce): ``SUBMISSIONS/<name>.ipynb``. The
file name must contain exactly one assignment id (a topic slug such as ``08_dropout``) as a
whole token, that is, not glued to further letters or digits. The student id is the rest of
the name with the separators ``_ - . space`` at its ends removed and runs of them inside
collapsed to one ``_``: ``alice_08_dropout.ipynb``, ``08_dropout-alice.ipynb`` and
``alice 08_dropout.ipynb`` all belong to student ``alice``; Canvas' ``alice_12345_678_08_dropout.ipynb``
to ``alice_12345_678``. A file that names no known assignment, several, or no student is
reported (status ``unmatched``) and not graded.

A ``.zip`` of either layout is unpacked into a private temporary folder first (members that
would land outside it, links, and archives larger than ``GRADE_ZIP_MAX_BYTES`` are refused).
Nothing is ever written into the submissions folder or the archive.

Student ids become folder names and gradebook keys, so they are restricted to letters, digits
and ``. _ - @`` (anything else becomes ``_``).
"""
from __future__ import annotations

import hashlib
import json
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.config import GRADE_NOTEBOOK_MAX_BYTES, GRADE_ZIP_MAX_BYTES

_IGNORED_NAMES = {"__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db", "desktop.ini"}
_SEPARATORS = "_-. "


class SubmissionsError(RuntimeError):
    """The submissions cannot be read at all (missing path, broken zip); the message says what to do."""


@dataclass
class Submission:
    """One (student, assignment) pair found in the submissions.

    Attributes:
        student: sanitised student id ("" when unknown: status ``unmatched``).
        assignment: assignment id ("" when unknown).
        notebook: the submitted file to grade (read-only input), or ``None`` when missing.
        where: the path shown in reports, relative to the submissions root.
        timestamp: text of nbgrader's ``timestamp.txt``, when present.
        status: ``None`` when the notebook can be graded; else ``missing``, ``unmatched`` or
            ``duplicate`` and ``reason`` says why and what to do.
        ignored: other files in the submission folder, which are not graded.
    """

    student: str
    assignment: str
    notebook: Path | None
    where: str
    timestamp: str | None = None
    status: str | None = None
    reason: str = ""
    ignored: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.student, self.assignment)


def sanitize_id(raw: str) -> str:
    """A student id safe as a folder name and gradebook key (``"Ann Lee"`` → ``"Ann_Lee"``)."""
    clean = re.sub(r"[^A-Za-z0-9._@-]+", "_", raw.strip()).strip("._-")[:100]
    return clean


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------ zip

def unpack_zip(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` into ``dest`` safely and return ``dest``.

    Raises:
        SubmissionsError: if the file is not a zip, or would expand beyond
            ``GRADE_ZIP_MAX_BYTES`` or 20,000 files.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionsError(f"{archive} is not a readable .zip file ({exc}); export the submissions again") from exc
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    with zf:
        members = zf.infolist()
        if len(members) > 20_000:
            raise SubmissionsError(f"{archive} has {len(members)} entries; at most 20,000 are accepted")
        for info in members:
            parts = [p for p in re.split(r"[\\/]+", info.filename) if p not in ("", ".")]
            if not parts or ".." in parts or any(p in _IGNORED_NAMES for p in parts) or info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                continue  # links could point anywhere
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while block := src.read(1 << 20):
                    total += len(block)
                    if total > GRADE_ZIP_MAX_BYTES:
                        raise SubmissionsError(f"{archive} expands to more than {GRADE_ZIP_MAX_BYTES} bytes; "
                                               "split it or raise GRADE_ZIP_MAX_BYTES in autograder/config.py")
                    out.write(block)
    return dest


# ------------------------------------------------------------------------------ discovery

def _visible(path: Path) -> bool:
    return path.name not in _IGNORED_NAMES and not path.name.startswith(".")


def _is_student_folder(folder: Path, assignments: list[str]) -> bool:
    """Does ``folder`` hold an assignment folder or an ``<assignment>.ipynb`` (nbgrader layout)?"""
    return any((c.is_dir() and c.name in assignments) or (c.suffix == ".ipynb" and c.stem in assignments)
               for c in folder.iterdir() if _visible(c))


def _find_root(root: Path, assignments: list[str]) -> Path:
    """Descend through wrapper folders (``export/``, ``class/``) and into ``submitted/``."""
    for _ in range(5):
        if (root / "submitted").is_dir():
            return root / "submitted"
        entries = [p for p in root.iterdir() if _visible(p)]
        if len(entries) == 1 and entries[0].is_dir() and not _is_student_folder(entries[0], assignments):
            root = entries[0]
            continue
        break
    return root


def match_flat_name(stem: str, assignments: list[str]) -> tuple[str, str] | str:
    """Split a flat-export file name into ``(student, assignment)``, or return why it cannot be.

    >>> match_flat_name("alice_08_dropout", ["08_dropout"])
    ('alice', '08_dropout')
    """
    found = []
    for assignment in assignments:
        for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(assignment)}(?![A-Za-z0-9])", stem):
            found.append((m.start(), m.end(), assignment))
    names = sorted({a for _, _, a in found})
    if not names:
        return (f"the file name names no known assignment (known: {', '.join(assignments) or 'none'}); "
                "name it <student>_<assignment>.ipynb, e.g. alice_08_dropout.ipynb")
    if len(names) > 1:
        return f"the file name names several assignments ({', '.join(names)}); keep one"
    start, end, assignment = found[0]
    rest = stem[:start] + "_" + stem[end:]
    student = sanitize_id(re.sub(rf"[{re.escape(_SEPARATORS)}]+", "_", rest).strip(_SEPARATORS))
    if not student:
        return "the file name has no student id; name it <student>_<assignment>.ipynb"
    return student, assignment


def discover(path: Path, assignments: list[str]) -> list[Submission]:
    """All submissions under ``path`` (a folder in either layout; unpack zips first).

    Args:
        path: the submissions folder (or a course folder containing ``submitted/``).
        assignments: the known assignment ids (``autograder.config.topics()``).

    Returns:
        One :class:`Submission` per (student, assignment) found, plus one per unreadable
        entry (``status`` set), sorted by student then assignment.

    Raises:
        SubmissionsError: if ``path`` is not a folder.
    """
    if not path.is_dir():
        raise SubmissionsError(f"{path} is not a folder or a .zip of submissions")
    root = _find_root(path, assignments)
    subs: list[Submission] = []

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(path))
        except ValueError:
            return str(p)

    for entry in sorted(root.iterdir()):
        if not _visible(entry):
            continue
        if entry.is_file():
            if entry.suffix != ".ipynb":
                continue
            matched = match_flat_name(entry.stem, assignments)
            if isinstance(matched, str):
                subs.append(Submission(sanitize_id(entry.stem) or entry.name, "", entry, rel(entry),
                                       status="unmatched", reason=f"{entry.name}: {matched}"))
            else:
                subs.append(Submission(matched[0], matched[1], entry, rel(entry)))
        elif entry.is_dir():
            subs.extend(_student_folder(entry, assignments, rel))
    return _flag_duplicates(subs)


def _student_folder(folder: Path, assignments: list[str], rel) -> list[Submission]:
    student = sanitize_id(folder.name)
    if not student:
        return [Submission(folder.name, "", None, rel(folder), status="unmatched",
                           reason=f"folder {rel(folder)}: not a usable student id")]
    out = []
    for entry in sorted(folder.iterdir()):
        if not _visible(entry):
            continue
        if entry.is_dir():
            if entry.name not in assignments:
                out.append(Submission(student, entry.name, None, rel(entry), status="unmatched",
                                      reason=f"folder {rel(entry)} is not a known assignment "
                                             f"(known: {', '.join(assignments) or 'none'})"))
                continue
            out.append(_assignment_folder(student, entry, rel))
        elif entry.suffix == ".ipynb":
            if entry.stem in assignments:
                out.append(Submission(student, entry.stem, entry, rel(entry)))
            else:
                out.append(Submission(student, "", entry, rel(entry), status="unmatched",
                                      reason=f"{rel(entry)}: expected <student>/<assignment>/<assignment>.ipynb "
                                             f"with a known assignment ({', '.join(assignments) or 'none'})"))
    return out


def _assignment_folder(student: str, folder: Path, rel) -> Submission:
    assignment = folder.name
    notebook = folder / f"{assignment}.ipynb"
    timestamp = folder / "timestamp.txt"
    others = sorted(p.name for p in folder.iterdir() if _visible(p) and p != notebook and p != timestamp)
    ts = timestamp.read_text(errors="replace").strip()[:100] if timestamp.is_file() else None
    if notebook.is_file():
        return Submission(student, assignment, notebook, rel(notebook), timestamp=ts, ignored=others)
    found = [n for n in others if n.endswith(".ipynb")]
    hint = (f"found {', '.join(found)} instead (wrong file name? rename it to {assignment}.ipynb and grade again)"
            if found else "the folder holds no notebook")
    return Submission(student, assignment, None, rel(folder), timestamp=ts, status="missing",
                      reason=f"missing notebook {assignment}.ipynb in {rel(folder)}: {hint}")


def _flag_duplicates(subs: list[Submission]) -> list[Submission]:
    by_key: dict[tuple[str, str], list[Submission]] = {}
    for s in subs:
        if s.status is None:
            by_key.setdefault(s.key, []).append(s)
    for key, group in by_key.items():
        if len(group) > 1:
            where = ", ".join(s.where for s in group)
            for s in group:
                s.status = "duplicate"
                s.reason = (f"{len(group)} submissions of {key[1]} for student {key[0]} ({where}); "
                            "keep exactly one and grade again")
    return sorted(subs, key=lambda s: (s.student, s.assignment, s.where))


# ------------------------------------------------------------------------------ reading

@dataclass
class LoadedNotebook:
    """The outcome of :func:`load_notebook`: ``nb`` (nbformat v4) or ``problem``, and notes."""

    nb: nbformat.NotebookNode | None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)
    converted: bool = False


def load_notebook(data: bytes) -> LoadedNotebook:
    """Parse a submitted file without trusting it.

    Old formats (nbformat 1-3) are converted to 4 in memory (the file is not touched);
    small schema problems are repaired by ``nbformat.validator.normalize``. Anything else is
    a ``problem`` (a sentence for the CSV), and the notebook is scored 0.
    """
    if not data.strip():
        return LoadedNotebook(None, f"empty file ({len(data)} bytes): nothing to grade")
    if len(data) > GRADE_NOTEBOOK_MAX_BYTES:
        return LoadedNotebook(None, f"the file is {len(data)} bytes, over the {GRADE_NOTEBOOK_MAX_BYTES}-byte limit "
                                    "(clear the outputs and submit again)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return LoadedNotebook(None, f"not a notebook: the file is not UTF-8 text ({exc.reason} at byte {exc.start})")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return LoadedNotebook(None, f"not a notebook: invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
    except RecursionError:
        return LoadedNotebook(None, "not a notebook: JSON nested too deeply")
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        return LoadedNotebook(None, "not a notebook: valid JSON, but without notebook cells")
    major = raw.get("nbformat")
    if not isinstance(major, int):
        return LoadedNotebook(None, "not a notebook: no nbformat version number")
    if major > 4:
        return LoadedNotebook(None, f"nbformat {major} is newer than this grader understands (4)")
    notes = []
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types for broken files
        return LoadedNotebook(None, f"not a readable notebook (nbformat {major}): {type(exc).__name__}: {exc}"[:300])
    if major < 4:
        notes.append(f"converted from nbformat {major}.{raw.get('nbformat_minor', 0)} to 4 (the submitted file is unchanged)")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        try:
            from nbformat.validator import normalize

            _, repaired = normalize(nb, repair_duplicate_cell_ids=True, strip_invalid_metadata=True)
            nb = nbformat.from_dict(repaired)
            nbformat.validate(nb)
            notes.append("small nbformat schema errors were repaired")
        except Exception as exc:  # noqa: BLE001
            msg = getattr(exc, "message", str(exc)).splitlines()[0][:200]
            return LoadedNotebook(None, f"not a valid notebook (nbformat schema): {msg}")
    return LoadedNotebook(nb, None, notes, converted=major < 4)
