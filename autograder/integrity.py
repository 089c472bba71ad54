"""Detect student code that tampers with the checks.

Two independent layers; either one flags a submission for the instructor:

**Static** (:func:`scan_notebook`, run by the grader before execution): every code cell the
student wrote or edited is parsed (IPython magics included) and searched for

- rebinding, at notebook level, a name the test cells use that the course imports or that is
  a Python builtin (``assert_close = lambda *a, **k: None``, ``def isinstance(...)``);
- changing attributes of imported modules or objects (``torch.testing.assert_close = ...``,
  ``setattr(torch, "equal", ...)``, ``assert_close.__code__ = ...``), of ``builtins`` or
  ``__builtins__``, or entries of ``sys.modules``;
- ending the process or a test without an error (``sys.exit``, ``os._exit``, ``exit()``,
  ``raise SystemExit``/``KeyboardInterrupt``, ``os.kill``, ``signal.signal``);
- reaching into the test run (frames: ``sys._getframe``, ``inspect.stack``, ``f_locals``;
  ``sys.settrace``; the IPython shell via ``get_ipython()`` and its input history ``In``/``_ih``;
  ``gc.get_referrers``; ``ctypes``; ``exec``/``eval``/``compile``; shell commands);
- importing the grader itself (``autograder``, ``nbgrader``, ``IPython``, ``ipykernel``).

Each :class:`Finding` names the cell (index and grade_id) and the line.

**Runtime** (:func:`take_snapshot` in the sandboxed kernel before student code runs, then
:func:`runtime_report` after every cell): the identity of every function, class and module
that tests rely on (builtins, torch, torch.testing, torch.nn.functional, ``torch.Tensor``,
``torch.nn.Module``, numpy, math, course_utils) and the IPython machinery that runs cells and
reports errors is compared with the snapshot, so a change made through ``exec`` or any other
indirection is still caught, with the cell after which it appeared.

Neither layer can prove the absence of cheating against code that has the whole Python
process to itself; together they make every known trick visible, and the grader never gives
a flagged notebook its marks without an instructor's review.
"""
from __future__ import annotations

import ast
import builtins
import json
import re
import sys
import types
from dataclasses import dataclass

# ----------------------------------------------------------------------------- static scan


def cell_name(index: int, label: str = "") -> str:
    """How reports name a cell: its position counted from 1, as a reader counts, and its grade_id
    when it has one (``cell_name(5, "dropout")`` → ``"cell 6 (dropout)"``)."""
    return f"cell {index + 1}" + (f" ({label})" if label else "")


@dataclass(frozen=True)
class Finding:
    """One suspicious construct in a student's cell.

    ``cell`` is the 0-based index in the submitted notebook (shown counted from 1), ``label``
    its nbgrader grade_id (or ""), ``line`` the 1-based line within the cell (0 when unknown).
    """

    cell: int
    label: str
    line: int
    what: str

    def __str__(self) -> str:
        where = cell_name(self.cell, self.label)
        return f"{where} line {self.line}: {self.what}" if self.line else f"{where}: {self.what}"


# Calls that end the kernel or a test without an error, or reach into the test run.
_BAD_CALLS = {
    "sys.exit": "calls sys.exit (ends the test run without an error)",
    "os._exit": "calls os._exit (kills the kernel)",
    "os.abort": "calls os.abort (kills the kernel)",
    "os.kill": "sends a signal with os.kill", "os.killpg": "sends a signal with os.killpg",
    "signal.signal": "installs a signal handler (can swallow the grader's interrupts)",
    "signal.setitimer": "sets a signal timer", "signal.alarm": "sets a signal alarm",
    "signal.pthread_kill": "sends a signal", "signal.raise_signal": "raises a signal",
    "sys.settrace": "installs a trace function (can skip test lines)",
    "sys.setprofile": "installs a profile hook", "threading.settrace": "installs a trace function",
    "sys._getframe": "inspects the caller's frame (the test's variables)",
    "sys.addaudithook": "installs an audit hook",
    "inspect.currentframe": "inspects frames (the test's variables)",
    "inspect.stack": "inspects the call stack (the test's source and variables)",
    "inspect.getouterframes": "inspects the call stack", "inspect.getinnerframes": "inspects the call stack",
    "inspect.trace": "inspects the call stack", "inspect.getframeinfo": "inspects frames",
    "traceback.extract_stack": "inspects the call stack", "traceback.walk_stack": "inspects the call stack",
    "traceback.print_stack": "prints the call stack (the test's source)",
    "traceback.format_stack": "inspects the call stack",
    "gc.get_referrers": "searches the garbage collector for the tests' objects",
    "gc.get_referents": "searches the garbage collector", "gc.get_objects": "searches the garbage collector",
    "atexit.register": "registers an exit handler",
    "importlib.reload": "reloads a module", "importlib.import_module": "imports a module by computed name",
    "importlib.__import__": "imports a module by computed name",
    "os.system": "runs a shell command", "os.popen": "runs a shell command",
    "builtins.exec": "runs generated code (exec)", "builtins.eval": "runs generated code (eval)",
    "builtins.compile": "compiles generated code", "builtins.__import__": "imports a module by computed name",
    "builtins.exit": "calls exit() (ends the test run)", "builtins.quit": "calls quit() (ends the test run)",
    "builtins.setattr": None, "builtins.delattr": None,  # judged by their first argument
    "builtins.globals": None, "builtins.vars": None,
}
_BAD_PREFIXES = {"os.exec": "replaces the kernel with another program", "os.spawn": "starts a program",
                 "os.posix_spawn": "starts a program", "subprocess.": "starts a program",
                 "ctypes.": "calls native code through ctypes", "pty.": "starts a program"}
_BAD_IMPORTS = {"ctypes": "imports ctypes (native code)", "subprocess": "imports subprocess (starts programs)",
                "pty": "imports pty (starts programs)",
                "autograder": "imports the course grader", "nbgrader": "imports nbgrader",
                "IPython": "imports IPython (the machinery that runs the tests)",
                "ipykernel": "imports ipykernel (the machinery that runs the tests)",
                "jupyter_client": "imports jupyter_client", "nbclient": "imports nbclient"}
_EXIT_EXCEPTIONS = {"SystemExit", "KeyboardInterrupt", "GeneratorExit", "BaseException"}
_FRAME_ATTRS = {"f_locals", "f_globals", "f_back", "f_builtins", "f_code", "f_trace", "tb_frame",
                "gi_frame", "cr_frame", "ag_frame", "__globals__", "__closure__", "__subclasses__",
                "__builtins__"}
_WRITE_ONLY_ATTRS = {"__code__", "__defaults__", "__kwdefaults__", "__dict__", "__class__", "__call__"}
_HISTORY_NAMES = {"In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii", "__builtins__", "__builtin__"}
_HISTORY_RE = re.compile(r"^_i?\d+$")
_ALLOWED_MAGICS = {"matplotlib", "time", "timeit", "capture", "precision", "pprint", "who", "whos",
                   "load_ext", "autoreload", "aimport"}
_ALLOWED_ATTR_WRITES = ("torch.backends.", "pandas.options.", "numpy.random.", "matplotlib.rcParams",
                        "matplotlib.pyplot.rcParams")  # configuration, not checks
_HARMLESS_VALUES = (ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.List, ast.Tuple, ast.Dict,
                    ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.JoinedStr)
_MUTATING_METHODS = {"update", "pop", "popitem", "setdefault", "clear", "__setitem__", "__delitem__"}


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _is_test_cell(cell) -> bool:
    m = _meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def _python_source(source: str) -> str:
    """IPython cell text as plain Python (magics become ``get_ipython()`` calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is installed with ipykernel
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - an unparsable cell fails at run time anyway
        return source


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_python_source(source))
    except (SyntaxError, ValueError):
        return None


def _imports(tree: ast.AST) -> dict[str, str]:
    """Names bound by the import statements in ``tree`` → dotted origin."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    out[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    out[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


def _names_used(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def protected_names(source_nb) -> dict[str, str]:
    """Names the test cells use that come from an import of the course's notebook or builtins.

    Args:
        source_nb: the instructor's source notebook (``solutions/<topic>/<topic>.ipynb``),
            whose test cells include the hidden tests.

    Returns:
        ``{name: origin}``, e.g. ``{"assert_close": "course_utils.testing.assert_close",
        "torch": "torch", "isinstance": "builtins.isinstance"}``.
    """
    used: set[str] = set()
    bound: dict[str, str] = {}
    for cell in source_nb.cells:
        if cell.get("cell_type") != "code":
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        if _is_test_cell(cell):
            used |= _names_used(tree)
        if not _meta(cell).get("solution"):
            bound.update(_imports(tree))
    out = {n: bound[n] for n in used if n in bound}
    out.update({n: f"builtins.{n}" for n in used if n not in bound and hasattr(builtins, n)})
    return out


class _Scanner(ast.NodeVisitor):
    def __init__(self, protected: dict[str, str], aliases: dict[str, str]):
        self.protected = protected
        self.aliases = aliases          # imported names → dotted origin
        self.found: list[tuple[int, str]] = []
        self.depth = 0                  # > 0 inside a function or class body
        self.globals_declared: set[str] = set()

    # -- helpers
    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def dotted(self, node: ast.AST) -> str | None:
        """``torch.testing.assert_close`` for an Attribute/Name chain, aliases resolved."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython":
            parts.append("get_ipython()")
            return ".".join(reversed(parts))
        if not isinstance(node, ast.Name):
            return None
        root = node.id
        if root in self.aliases:
            root = self.aliases[root]
        elif root in ("__builtins__",):
            root = "builtins"
        elif hasattr(builtins, root) and not parts:
            root = f"builtins.{root}"
        parts.append(root)
        return ".".join(reversed(parts))

    def is_external(self, node: ast.AST) -> bool:
        """Does the chain start at an imported module/object or at the builtins?"""
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return isinstance(node, ast.Name) and (node.id in self.aliases or node.id in ("builtins", "__builtins__"))

    def check_binding(self, node: ast.AST, name: str, origin: str | None = None, value: ast.AST | None = None) -> None:
        if self.depth and name not in self.globals_declared:
            return
        if name not in self.protected or origin == self.protected[name]:
            return
        if self.protected[name].startswith("builtins.") and (
                isinstance(value, _HARMLESS_VALUES) or isinstance(node, (ast.For, ast.AsyncFor, ast.With,
                                                                         ast.AsyncWith, ast.ExceptHandler))):
            return  # shadowing a builtin with data cannot fake a passing test (the test would just fail)
        self.flag(node, f"rebinds `{name}`, which the tests use ({self.protected[name]})")

    def check_target(self, target: ast.AST, node: ast.AST, deleting: bool = False, value: ast.AST | None = None) -> None:
        if isinstance(target, ast.Name):
            self.check_binding(node, target.id, value=value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.check_target(elt, node, deleting)
        elif isinstance(target, ast.Starred):
            self.check_target(target.value, node, deleting)
        elif isinstance(target, ast.Attribute):
            name = self.dotted(target) or f"….{target.attr}"
            verb = "deletes" if deleting else "changes"
            if target.attr in _WRITE_ONLY_ATTRS or target.attr in _FRAME_ATTRS:
                self.flag(node, f"{verb} `{name}` (replaces a function's code or an object's type)")
            elif self.is_external(target) and not name.startswith(_ALLOWED_ATTR_WRITES):
                self.flag(node, f"{verb} `{name}` (monkeypatches an imported module or object)")
        elif isinstance(target, ast.Subscript):
            base = self.dotted(target.value) or ""
            if base in ("sys.modules", "builtins", "builtins.__dict__") or \
                    (base.endswith(".__dict__") and self.is_external(target.value)) or \
                    (isinstance(target.value, ast.Call) and self.dotted(target.value.func) in ("builtins.globals", "builtins.vars")):
                self.flag(node, f"{'deletes' if deleting else 'changes'} an entry of `{base or 'globals()'}`")

    # -- statements that bind or store
    def visit_Assign(self, node):
        for t in node.targets:
            self.check_target(t, node, value=node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_target(node.target, node, value=node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self.check_target(t, node, deleting=True)
        self.generic_visit(node)

    def visit_For(self, node):
        self.check_target(node.target, node)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self.check_target(item.optional_vars, node)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_NamedExpr(self, node):
        self.check_target(node.target, node)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        if node.name:
            self.check_binding(node, node.name)
        self.generic_visit(node)

    def visit_Global(self, node):
        self.globals_declared.update(node.names)

    def _visit_scope(self, node):
        self.check_binding(node, node.name)
        for deco in getattr(node, "decorator_list", []):
            self.visit(deco)
        self.depth += 1
        saved = set(self.globals_declared)
        for child in node.body:
            self.visit(child)
        self.globals_declared = saved
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_scope

    def visit_Lambda(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_Import(self, node):
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top in _BAD_IMPORTS:
                self.flag(node, _BAD_IMPORTS[top])
            name = alias.asname or top
            self.check_binding(node, name, alias.name if alias.asname else top)

    def visit_ImportFrom(self, node):
        top = (node.module or "").split(".")[0]
        if top in _BAD_IMPORTS:
            self.flag(node, _BAD_IMPORTS[top])
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, f"`from {node.module} import *` may rebind names the tests use")
                continue
            origin = f"{node.module}.{alias.name}"
            if origin in _BAD_CALLS and _BAD_CALLS[origin]:
                self.flag(node, f"imports {origin}: {_BAD_CALLS[origin]}")
            self.check_binding(node, alias.asname or alias.name, origin)

    def visit_Raise(self, node):
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = exc.id if isinstance(exc, ast.Name) else exc.attr if isinstance(exc, ast.Attribute) else None
        if name in _EXIT_EXCEPTIONS:
            self.flag(node, f"raises {name} (stops a test without an ordinary error)")
        self.generic_visit(node)

    # -- expressions
    def visit_Call(self, node):
        name = self.dotted(node.func)
        if name:
            if name.startswith("get_ipython()"):
                self.check_ipython_call(node, name)
            elif name in _BAD_CALLS:
                what = _BAD_CALLS[name]
                if what:
                    self.flag(node, what)
                elif name in ("builtins.setattr", "builtins.delattr") and node.args and \
                        (self.is_external(node.args[0]) or (self.dotted(node.args[0]) or "").startswith("builtins")
                         or isinstance(node.args[0], (ast.Call, ast.Subscript))):
                    target = self.dotted(node.args[0]) or ast.unparse(node.args[0])[:60]
                    self.flag(node, f"{name.split('.')[1]} on `{target}` (monkeypatches it)")
            else:
                for prefix, what in _BAD_PREFIXES.items():
                    if name.startswith(prefix):
                        self.flag(node, f"{what} ({name})")
                        break
        # globals().update(...), sys.modules.pop(...), vars(builtins).update(...)
        if isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATING_METHODS:
            owner = node.func.value
            owner_name = self.dotted(owner) or ""
            if owner_name in ("sys.modules", "builtins.__dict__") or \
                    (isinstance(owner, ast.Call) and self.dotted(owner.func) in ("builtins.globals", "builtins.vars")):
                self.flag(node, f"changes `{owner_name or 'globals()'}` with .{node.func.attr}()")
        self.generic_visit(node)

    def check_ipython_call(self, node: ast.Call, name: str) -> None:
        method = name.split(".", 1)[1] if "." in name else ""
        if method in ("run_line_magic", "run_cell_magic", "magic") and node.args and \
                isinstance(node.args[0], ast.Constant) and str(node.args[0].value).split()[0] in _ALLOWED_MAGICS:
            return
        if method in ("system", "getoutput") or (method in ("run_cell_magic", "run_line_magic") and node.args
                                                 and isinstance(node.args[0], ast.Constant)
                                                 and node.args[0].value in ("bash", "sh", "script", "system", "sx")):
            self.flag(node, "runs a shell command")
        else:
            self.flag(node, f"uses the IPython shell ({name}) that runs the tests")

    def visit_Attribute(self, node):
        if node.attr == "modules" and self.dotted(node) == "sys.modules":
            self.flag(node, "uses `sys.modules` (can reach and replace the modules the tests use)")
        if node.attr in _FRAME_ATTRS and isinstance(node.ctx, ast.Load):
            self.flag(node, f"reads `.{node.attr}` (reaches into frames or globals of other code)")
        self.generic_visit(node)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and (node.id in _HISTORY_NAMES or _HISTORY_RE.match(node.id)) \
                and node.id not in self.aliases:
            if node.id.startswith("__builtin"):
                self.flag(node, f"uses `{node.id}`")
            else:
                self.flag(node, f"reads the kernel's input/output history `{node.id}` (the test cells' source)")


def scan_source(source: str, protected: dict[str, str], aliases: dict[str, str]) -> list[tuple[int, str]]:
    """Scan one cell's text. Returns ``(line, what)`` pairs, in source order.

    ``protected``: :func:`protected_names`; ``aliases``: names bound by imports anywhere in
    the notebook (``{"F": "torch.nn.functional"}``). Unparsable cells give no findings (they
    cannot run either).
    """
    tree = _parse(source)
    if tree is None:
        return []
    scanner = _Scanner(protected, {**aliases, **_imports(tree)})
    scanner.visit(tree)
    return sorted(set(scanner.found))


def scan_notebook(submitted, source_nb, release_nb=None) -> list[Finding]:
    """Scan every code cell of ``submitted`` that the student wrote or changed.

    Cells whose text equals one of the instructor's non-solution cells (in ``source_nb`` or
    ``release_nb``) are the course's own code and are skipped, and so are locked test cells,
    which nbgrader replaces with the instructor's version before running them.

    Args:
        submitted: the student's notebook (nbformat v4 node).
        source_nb: the instructor's source notebook.
        release_nb: the student release (optional; its cells are trusted too).

    Returns:
        Findings in notebook order; empty for an honest submission.
    """
    trusted = set()
    aliases: dict[str, str] = {}
    for nb in filter(None, (source_nb, release_nb)):
        for cell in nb.cells:
            if cell.get("cell_type") == "code":
                tree = _parse(cell.source)
                if tree is not None and not _meta(cell).get("solution"):
                    aliases.update(_imports(tree))
                if not _meta(cell).get("solution"):
                    trusted.add(cell.source.strip())
    source_ids = {_meta(c).get("grade_id") for c in source_nb.cells if _is_test_cell(c) and _meta(c).get("locked")}
    protected = protected_names(source_nb)
    for cell in submitted.cells:
        if cell.get("cell_type") == "code":
            tree = _parse(cell.source)
            if tree is not None:
                aliases.update(_imports(tree))
    findings = []
    for index, cell in enumerate(submitted.cells):
        if cell.get("cell_type") != "code":
            continue
        meta = _meta(cell)
        if cell.source.strip() in trusted:
            continue
        if _is_test_cell(cell) and meta.get("locked") and meta.get("grade_id") in source_ids:
            continue  # replaced by nbgrader's OverwriteCells before it runs
        label = meta.get("grade_id") or ""
        for line, what in scan_source(cell.source, protected, aliases):
            findings.append(Finding(index, str(label), line, what))
        tags = cell.get("metadata", {}).get("tags", [])
        if any(t in ("skip-execution", "raises-exception") for t in tags):
            findings.append(Finding(index, str(label), 0, f"has the execution tag(s) {tags}"))
    for index, cell in enumerate(submitted.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if _is_test_cell(cell) and "skip-execution" in tags:
            findings.append(Finding(index, str(_meta(cell).get("grade_id")), 0,
                                    "test cell tagged skip-execution (would not run under plain nbgrader)"))
    return findings


# ----------------------------------------------------------------------------- runtime check

_SNAPSHOT: dict | None = None
_FULL_MODULES = ("torch.testing", "course_utils.testing", "numpy.testing")
_CALLABLE_MODULES = ("builtins", "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg",
                     "torch.autograd", "numpy", "math", "random", "course_utils")
_BUILTINS_SKIP = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__", "input",
                  "raw_input", "__builtins__", "__doc__", "__name__", "__spec__", "__loader__", "__package__",
                  "__build_class__", "help", "copyright", "credits", "license", "runfile", "open"}
_SHELL_METHODS = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback", "_showtraceback",
                  "showsyntaxerror", "transform_cell", "transform_ast", "should_run_async", "ex", "ev",
                  "_run_cell", "run_line_magic", "run_cell_magic", "get_exception_only", "user_expressions")
_KERNEL_METHODS = ("do_execute", "execute_request", "send_response", "_publish_status", "dispatch_shell",
                   "process_one")


def _watched_modules() -> list[str]:
    names = [n for n in (*_FULL_MODULES, *_CALLABLE_MODULES) if n in sys.modules]
    names += sorted(n for n in sys.modules if n.startswith("course_utils.") and n not in names)
    return names


def _interesting(value, full: bool) -> bool:
    return full or callable(value) or isinstance(value, (types.ModuleType, type))


def _functions_state(value):
    code = getattr(value, "__code__", None)
    return (code, getattr(value, "__defaults__", None), getattr(value, "__kwdefaults__", None)) if code else None


def take_snapshot(shell=None) -> None:
    """Record what the tests rely on, before any student code runs (kernel side).

    Imports torch, numpy and ``course_utils.testing`` when they are installed (every course
    notebook imports them anyway), then keeps a reference to every function, class and
    module in the watched namespaces and to the IPython machinery of ``shell``.
    """
    global _SNAPSHOT
    for name in ("torch", "torch.testing", "torch.nn.functional", "numpy", "course_utils.testing"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a course without one of these still gets the rest
            pass
    snap: dict = {"modules": {}, "classes": {}, "functions": {}, "sys_modules": {}}
    for modname in _watched_modules():
        module = sys.modules[modname]
        full = modname in _FULL_MODULES or modname.startswith("course_utils.testing")
        entries = {}
        for key, value in list(vars(module).items()):
            if modname == "builtins" and key in _BUILTINS_SKIP:
                continue
            if key.startswith("__") and modname != "builtins":
                continue
            if _interesting(value, full):
                entries[key] = value
                state = _functions_state(value)
                if state and (modname.startswith("course_utils") or modname == "torch.testing"):
                    snap["functions"][f"{modname}.{key}"] = (value, state)
        snap["modules"][modname] = entries
        snap["sys_modules"][modname] = module
    classes = []
    torch = sys.modules.get("torch")
    if torch is not None:
        classes += [("torch.Tensor", torch.Tensor), ("torch.nn.Module", torch.nn.Module)]
    if shell is not None:
        for cls in type(shell).__mro__:
            if cls.__module__.startswith(("IPython", "ipykernel")):
                classes.append((f"{cls.__module__}.{cls.__name__}", cls))
        kernel = getattr(shell, "kernel", None)
        if kernel is not None:
            for cls in type(kernel).__mro__:
                if cls.__module__.startswith("ipykernel"):
                    classes.append((f"{cls.__module__}.{cls.__name__}", cls))
    for label, cls in classes:
        snap["classes"][label] = (cls, dict(vars(cls)))
    if shell is not None:
        kernel = getattr(shell, "kernel", None)
        snap["shell"] = {
            "instance": {
                "IPython shell": {n: vars(shell)[n] for n in _SHELL_METHODS if n in vars(shell)},
                "kernel": {n: vars(kernel)[n] for n in _KERNEL_METHODS if kernel is not None and n in vars(kernel)},
            },
            "shell": shell,
            "kernel": getattr(shell, "kernel", None),
            "displayhook": shell.displayhook,
            "input_transformers_cleanup": list(shell.input_transformers_cleanup),
            "input_transformers_post": list(shell.input_transformers_post),
            "ast_transformers": list(shell.ast_transformers),
            "custom_exceptions": shell.custom_exceptions,
            "meta_path": list(sys.meta_path),
            "path_hooks": list(sys.path_hooks),
        }
    _SNAPSHOT = snap


def _changes() -> list[str]:
    snap = _SNAPSHOT
    if snap is None:
        return ["the grader's integrity snapshot is missing (autograder.integrity was reloaded or removed)"]
    out = []
    for modname, entries in snap["modules"].items():
        module = snap["sys_modules"][modname]
        if sys.modules.get(modname) is not module:
            out.append(f"sys.modules[{modname!r}] was replaced")
        current = vars(module)
        for key, value in entries.items():
            now = current.get(key, _MISSING)
            if now is not value and not _library_wrapper(now, value):
                out.append(f"{'builtins' if modname == 'builtins' else modname}.{key} was "
                           f"{'deleted' if now is _MISSING else 'replaced'}")
    for label, (fn, state) in snap["functions"].items():
        if _functions_state(fn) != state:
            out.append(f"the code or defaults of {label} were replaced")
    for label, (cls, saved) in snap["classes"].items():
        current = vars(cls)
        for key, value in saved.items():
            if current.get(key, _MISSING) is not value:
                out.append(f"{label}.{key} was replaced")
        for key in current.keys() - saved.keys():
            value = current[key]
            # Caches that Python and libraries add (copyreg's __slotnames__, abc's _abc_*) are
            # data; an added method or property (say __bool__) changes what comparisons return.
            if callable(value) or hasattr(value, "__get__"):
                out.append(f"{label}.{key} was added")
    sh = snap.get("shell")
    if sh:
        shell, kernel = sh["shell"], sh["kernel"]
        for owner, label, names in ((shell, "IPython shell", _SHELL_METHODS), (kernel, "kernel", _KERNEL_METHODS)):
            if owner is None:
                continue
            saved = sh["instance"][label]
            for name in names:
                if vars(owner).get(name, _MISSING) is not saved.get(name, _MISSING):
                    out.append(f"the {label}'s {name} was replaced on the instance")
        if shell.displayhook is not sh["displayhook"]:
            out.append("the IPython display hook was replaced")
        for name in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            if list(getattr(shell, name)) != sh[name]:
                out.append(f"IPython {name} were changed (they rewrite the test cells' code)")
        if shell.custom_exceptions != sh["custom_exceptions"]:
            out.append("IPython custom exception handlers were set (set_custom_exc can hide test errors)")
        for event, callbacks in getattr(shell.events, "callbacks", {}).items():
            for cb in callbacks:
                module = getattr(cb, "__module__", None) or getattr(getattr(cb, "__func__", None), "__module__", None)
                if module in (None, "__main__"):
                    out.append(f"an IPython '{event}' event callback was registered by student code")
                    break
        if sys.gettrace() is not None:
            out.append("a trace function is set (sys.settrace)")
        if sys.getprofile() is not None:
            out.append("a profile function is set (sys.setprofile)")
        for name in ("meta_path", "path_hooks"):
            added = [h for h in getattr(sys, name) if h not in sh[name]]
            if added:
                out.append(f"import hooks were added to sys.{name}")
    return out


class _Missing:
    pass


def _library_dirs() -> tuple[str, ...]:
    import sysconfig

    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(p for p in paths if p)


def _library_wrapper(new, old) -> bool:
    """Is ``new`` a library's own wrapper of ``old``? (``torch._dynamo`` wraps ``torch.manual_seed``
    the first time an optimizer steps.) Wrappers written in a notebook cell or by ``exec`` are not."""
    code = getattr(new, "__code__", None)
    if code is None or not code.co_filename.startswith(_library_dirs()):
        return False
    seen = 0
    while hasattr(new, "__wrapped__") and seen < 10:
        new, seen = new.__wrapped__, seen + 1
        if new is old:
            return True
    return False


_MISSING = _Missing()


def runtime_report() -> str:
    """JSON with what changed since :func:`take_snapshot`, the isolation level and what the
    sandbox refused (kernel side; the grader evaluates it after every cell)::

        {"changed": ["torch.testing.assert_close was replaced", ...],
         "denied": ["reading /course/solutions/08_dropout/08_dropout.ipynb", ...],
         "isolation": ["isolation: namespaces", ...]}
    """
    sandbox = sys.modules.get("autograder.sandbox")
    report = {
        "changed": _changes(),
        "denied": list(getattr(sandbox, "DENIED", [])),
        "isolation": list(getattr(sandbox, "ISOLATION", [])),
    }
    return json.dumps(report)


# The expression the grader evaluates in the kernel (``user_expressions``) after each cell.
REPORT_EXPRESSION = "__import__('autograder.integrity', fromlist=['runtime_report']).runtime_report()"
