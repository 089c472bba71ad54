"""What a student may see of a hidden test: its name and its message, never its code or inputs.

A hidden test's failure message reaches the student's feedback (and the ``reason`` column), so
it must say what was checked and what was expected *in words*. It must not show a value written
in the hidden test that the release does not show: an input (``x=[1.0, -2.0, 3.0, 0.5]``,
``max_norm=1000.0``), or an answer the test compares against (``= 235146``).

Two checks, both against the literals of the hidden regions (split at the ``BEGIN/END HIDDEN
TESTS`` delimiters here, not with the feedback scrubber) minus the numbers the release shows:

- :func:`message_violations` reads the hidden code (no kernel, milliseconds): every message
  expression (``assert ..., msg``, ``what=...``, ``raise AssertionError(...)``) whose text
  holds such a literal, or whose ``{placeholder}`` shows a name the hidden code bound to one;
- :func:`quoted_inputs` checks one real failure message (the self-test's mutants produce them,
  see :func:`autograder.selftest.mutant_check`), after dropping torch's generic "Mismatched
  elements: 12 / 12 (100.0%)" diagnostics.
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
LIBRARIES = {"torch", "np", "numpy", "math", "nn", "F", "random"}  # calls on these build inputs
SUMMARIES = {"len", "type", "isinstance", "callable", "id"}          # f"{len(x)}" does not show x
SUMMARY_ATTRIBUTES = {"dtype", "device", "ndim", "requires_grad", "__name__", "__class__", "is_leaf"}
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:_\d+)*(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)")
_DIAGNOSTICS = re.compile(r"(Mismatched elements: [^\n)]*\)?|Greatest (absolute|relative) difference: [^\n]*?"
                          r"\(up to [^)]*\)|\(\d+(\.\d+)?%\))")


@dataclass
class Violation:
    cell: str        # grade_id of the test cell
    line: int        # line number inside the cell
    message: str     # the message's source
    shows: list[str]  # the hidden literals it shows


def numbers(text: str) -> list[float]:
    """Every number written in ``text``, in order (``-2.0``, ``1e4``, ``100_000``)."""
    return [float(x.replace("_", "")) for x in _NUMBER.findall(text)]


def hidden_regions(nb) -> dict[str, list[tuple[int, str]]]:
    """``{grade_id: [(line number, line), ...]}``: the hidden-region lines of each test cell."""
    regions = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        inside, lines = False, []
        for number, line in enumerate(cell.source.split("\n"), 1):
            if BEGIN in line:
                inside = True
            elif END in line:
                inside = False
            elif inside:
                lines.append((number, line))
        if lines:
            regions[meta["grade_id"]] = lines
    return regions


@dataclass
class HiddenLiterals:
    """The literals of a topic's hidden tests that its release does not show."""

    numbers: set[float]
    sequences: list[list[float]]

    def shown_in(self, text: str) -> list[str]:
        """The hidden literals that ``text`` shows (sequences, then numbers)."""
        found = numbers(text)
        quoted = [str(s) for s in self.sequences if _contains_run(found, s)]
        return quoted + sorted({f"{n:g}" for n in found if n in self.numbers})


def hidden_literals(source_nb, release_nb) -> HiddenLiterals:
    """Numbers, and sequences of two or more numbers, written in the hidden regions of
    ``source_nb`` that ``release_nb`` does not show anywhere (code or prose)."""
    released = "\n".join(cell.source for cell in release_nb.cells)
    shown = numbers(released) + [float(x) / 100 for x in re.findall(r"(\d+(?:\.\d+)?)\s*%", released)]  # "90 %" shows 0.9
    found, sequences = set(), []
    for lines in hidden_regions(source_nb).values():
        tree = _parse(lines)
        if tree is None:
            found.update(numbers("\n".join(line for _, line in lines)))
            continue
        for node in ast.walk(tree):
            value = _number(node)
            if value is not None:
                found.add(value)
            elif isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) >= 2:
                values = [_number(e) for e in node.elts]
                if all(v is not None for v in values) and not _contains_run(shown, values):
                    sequences.append(values)
    return HiddenLiterals({n for n in found if n not in set(shown)}, sequences)


def quoted_inputs(message: str, literals: HiddenLiterals) -> list[str]:
    """The hidden literals a real failure message shows (torch's element counts, percentages and
    greatest differences are generic diagnostics and are not read)."""
    return literals.shown_in(_DIAGNOSTICS.sub(" ", message))


def message_violations(source_nb, release_nb) -> list[Violation]:
    """Every hidden-test message expression that shows a hidden literal (see the module doc)."""
    literals = hidden_literals(source_nb, release_nb)
    out = []
    for grade_id, lines in hidden_regions(source_nb).items():
        tree = _parse(lines)
        if tree is None:
            continue
        bound = _literal_bindings(tree)
        for expr in _messages(tree):
            shows = literals.shown_in(_constant_text(expr))
            for name in sorted(_placeholder_names(expr) & set(bound)):
                shows += [f"{{{name}}} = {s}" for s in bound[name].shown_in_values(literals)]
            if shows:
                line = lines[expr.lineno - 1][0] if expr.lineno - 1 < len(lines) else 0
                out.append(Violation(grade_id, line, ast.unparse(expr), shows))
    order = list(hidden_regions(source_nb))
    return sorted(out, key=lambda v: (order.index(v.cell), v.line))


# ----------------------------------------------------------------------------- reading the hidden code

def _parse(lines: list[tuple[int, str]]):
    code = textwrap.dedent("\n".join(line for _, line in lines))
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _number(node) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _contains_run(values: list[float], run: list[float]) -> bool:
    return any(values[i:i + len(run)] == run for i in range(len(values) - len(run) + 1))


def _messages(tree) -> list[ast.expr]:
    """Message expressions: ``assert c, msg``; ``what=...``; the arguments of ``raise E(...)``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert) and node.msg is not None:
            found.append(node.msg)
        elif isinstance(node, ast.Call):
            found += [k.value for k in node.keywords if k.arg == "what"]
        elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            found += list(node.exc.args)
    return found


def _constant_text(expr) -> str:
    """The literal text of a message: its string constants and f-string constant parts."""
    return " ".join(n.value for n in ast.walk(expr) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _placeholder_names(expr) -> set[str]:
    """Names whose value the ``{...}`` of an f-string message shows (``{x}``, ``{x.tolist()}``,
    ``{x[0]}``; not ``{len(x)}``, ``{type(x).__name__}`` or ``{x.dtype}``)."""
    names = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.FormattedValue):
            names |= _shown_names(node.value)
    return names


def _shown_names(node) -> set[str]:
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SUMMARIES:
        return set()
    if isinstance(node, ast.Attribute) and node.attr in SUMMARY_ATTRIBUTES:
        return set()
    names = set()
    for child in ast.iter_child_nodes(node):
        names |= _shown_names(child)
    return names


@dataclass
class _Bound:
    """The literal values a name was bound to in the hidden code."""

    values: list[float]
    sequences: list[list[float]]

    def shown_in_values(self, literals: HiddenLiterals) -> list[str]:
        hidden_seq = [str(s) for s in self.sequences if s in literals.sequences]
        return hidden_seq + sorted({f"{v:g}" for v in self.values if v in literals.numbers})


def _literal_bindings(tree) -> dict[str, _Bound]:
    """Names the hidden code binds to inputs built from literals only: ``p = 0.3``,
    ``base = torch.tensor([1.0, -2.0])``, ``for p in (0.05, 0.5)``, and names built from those."""
    bound: dict[str, _Bound] = {}
    for node in ast.walk(tree):
        found: dict[str, _Bound] = {}
        if isinstance(node, ast.Assign) and _is_literal(node.value, bound):
            for target in node.targets:
                _bind(target, node.value, bound, found)
        elif isinstance(node, (ast.For, ast.comprehension)) and _is_literal(node.iter, bound):
            if isinstance(node.iter, (ast.List, ast.Tuple, ast.Set)):
                for element in node.iter.elts:     # a loop variable shows one element at a time
                    _bind(node.target, element, bound, found)
            else:
                _bind(node.target, node.iter, bound, found)
        bound.update(found)
    return bound


def _bind(target, value, bound: dict, into: dict) -> None:
    """Bind the names of ``target`` to the literals of ``value`` (position by position when both
    are tuples); values bound to one name several times (loop elements) accumulate in ``into``."""
    if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(target.elts) == len(value.elts):
        for t, v in zip(target.elts, value.elts):
            _bind(t, v, bound, into)
        return
    values = _values(value, bound)
    for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)):
        old = into.get(name)
        into[name] = values if old is None else _Bound(old.values + values.values, old.sequences + values.sequences)


def _is_literal(node, bound: dict) -> bool:
    """An expression built only from literals, library calls (torch.*, math.*) and bound names."""
    if _number(node) is not None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in bound or node.id in LIBRARIES
    if isinstance(node, ast.Attribute):
        return _is_literal(node.value, bound)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_literal(e, bound) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _is_literal(node.left, bound) and _is_literal(node.right, bound)
    if isinstance(node, ast.UnaryOp):
        return _is_literal(node.operand, bound)
    if isinstance(node, ast.Call):
        return (_is_literal(node.func, bound) and all(_is_literal(a, bound) for a in node.args)
                and all(_is_literal(k.value, bound) for k in node.keywords))
    return False


def _values(node, bound: dict) -> _Bound:
    values, sequences = [], []
    for sub in ast.walk(node):
        value = _number(sub)
        if value is not None:
            values.append(value)
        elif isinstance(sub, (ast.List, ast.Tuple)) and len(sub.elts) >= 2:
            seq = [_number(e) for e in sub.elts]
            if all(v is not None for v in seq):
                sequences.append(seq)
        elif isinstance(sub, ast.Name) and sub.id in bound:
            values += bound[sub.id].values
            sequences += bound[sub.id].sequences
    return _Bound(values, sequences)
