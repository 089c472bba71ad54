"""Assertions for the notebooks' test cells, with messages that say what was expected.

Every helper raises :class:`AssertionError` with a message that names the quantity, the
expected value and what was found, so a student knows what to fix. The helpers set
``__tracebackhide__``, so pytest leaves their frames out of a traceback. IPython hides such
frames too, except the last one, where the error was raised; importing this module inside IPython
therefore registers a small handler (:func:`_hide_helper_frames`) that drops that last frame as
well. The student sees the test line and the message, not this module's internals.

Besides the assertions, three tools enforce rules that an exercise's text states:

- :func:`forbidden`: "do not call ``F.xxx``" (the listed functions raise while the block runs);
- :func:`assert_python_float`: "return Python floats" (a tensor, even a 0-d one, is rejected);
- :func:`unmoved_batches` with :func:`assert_moved`: "move each batch to ``device``", detected
  even when the tests run on the CPU, where moving changes nothing visible.
"""
from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = [
    "assert_close",
    "assert_shape",
    "assert_raises",
    "assert_between",
    "assert_python_float",
    "assert_moved",
    "binomial_tolerance",
    "forbidden",
    "unmoved_batches",
    "UnmovedTensor",
]

# z-score used for statistical checks: P(|N(0,1)| > 5.3) ≈ 1.2e-7, so a correct answer
# fails such a check less than once in a million runs.
Z_ONE_IN_A_MILLION = 5.3


def assert_close(actual: Any, expected: Any, *, what: str, rtol: float | None = None, atol: float | None = None) -> None:
    """:func:`torch.testing.assert_close` with a message that starts with ``what``.

    ``rtol``/``atol`` default to torch's dtype-based tolerances when both are ``None``.
    """
    __tracebackhide__ = True
    if not isinstance(actual, torch.Tensor) and isinstance(expected, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(actual).__name__}")
    try:
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)
    except AssertionError as exc:
        raise AssertionError(f"{what}: values differ from the reference.\n{exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise AssertionError(f"{what}: cannot compare with the reference ({exc})") from None


def assert_shape(t: Any, shape: Sequence[int], *, what: str) -> None:
    """Check that ``t`` is a tensor of exactly ``shape``."""
    __tracebackhide__ = True
    if not isinstance(t, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor of shape {tuple(shape)}, got {type(t).__name__}")
    if tuple(t.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(t.shape)}")


def assert_raises(exc_type: type[BaseException], fn: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> None:
    """Check that ``fn(*args, **kwargs)`` raises ``exc_type``."""
    __tracebackhide__ = True
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    except Exception as exc:  # noqa: BLE001 - report what happened instead
        raise AssertionError(f"{what}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}") from None
    raise AssertionError(f"{what}: expected {exc_type.__name__}, but nothing was raised")


def assert_between(value: float, low: float, high: float, *, what: str) -> None:
    """Check ``low <= value <= high`` (a NaN always fails)."""
    __tracebackhide__ = True
    value = float(value)
    if not (low <= value <= high):
        raise AssertionError(f"{what}: expected a value in [{low:.6g}, {high:.6g}], got {value:.6g}")


def binomial_tolerance(n: int, p: float, z: float = Z_ONE_IN_A_MILLION) -> float:
    """Half-width of the interval that holds the observed fraction of ``n`` Bernoulli(``p``) draws.

    Returns ``z * sqrt(p (1 - p) / n)`` (normal approximation to the binomial). With the
    default ``z`` a correct implementation falls outside it less than once in a million runs.

    Raises:
        ValueError: if ``n < 1`` or ``p`` is not in [0, 1].
    """
    if n < 1 or not 0.0 <= p <= 1.0:
        raise ValueError(f"need n >= 1 and 0 <= p <= 1, got n={n}, p={p}")
    return z * math.sqrt(p * (1.0 - p) / n)



def assert_python_float(value: Any, *, what: str) -> None:
    """Check that ``value`` is a Python ``float`` (exactly: not a tensor, not a NumPy scalar).

    A 0-d tensor prints like a number but may still hold an autograd graph, and summing such
    tensors over an epoch keeps every batch's graph alive; ``tensor.item()`` gives the float.
    """
    __tracebackhide__ = True
    if type(value) is not float:
        hint = " (call .item() on a 0-d tensor)" if isinstance(value, torch.Tensor) else ""
        raise AssertionError(f"{what}: expected a Python float, got {type(value).__name__}{hint}")


# ----------------------------------------------------------------------------------------------
# "Do not call F.xxx": forbidden functions raise while the student's code runs
# ----------------------------------------------------------------------------------------------

_NAMESPACES = (("torch.nn.functional", "torch.nn.functional"), ("torch", "torch"), ("torch.Tensor", "torch.Tensor"),
               ("torch.special", "torch.special"), ("torch.nn.utils", "torch.nn.utils"), ("torch.nn.init", "torch.nn.init"),
               ("torch.linalg", "torch.linalg"))


def _readable_name(func: Any) -> str:
    """``torch.nn.functional.linear`` rather than ``<built-in function linear>``."""
    import importlib

    for module_name, shown in _NAMESPACES:
        try:
            namespace = importlib.import_module(module_name) if module_name != "torch.Tensor" else torch.Tensor
        except ImportError:  # pragma: no cover
            continue
        for attr in dir(namespace):
            if getattr(namespace, attr, None) is func:
                return f"{shown}.{attr}"
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))


def _aliases(func: Any) -> list[Any]:
    """``func`` and its same-named twins: ``torch.sigmoid`` also forbids ``Tensor.sigmoid`` and
    ``F.sigmoid``; ``F.softmax`` also forbids ``torch.softmax`` and ``Tensor.softmax``."""
    import torch.nn.functional as F

    name = getattr(func, "__name__", None)
    twins = [func]
    if name:
        for namespace in (torch, torch.Tensor, F, torch.special):
            twin = getattr(namespace, name, None)
            if twin is not None and callable(twin) and twin not in twins:
                twins.append(twin)
    return twins


class _ForbidMode(TorchFunctionMode):
    """Raises as soon as a forbidden torch function (or Tensor method) is dispatched."""

    def __init__(self, funcs: dict[Any, str], calls: list[str], what: str) -> None:
        super().__init__()
        self.funcs, self.calls, self.what = funcs, calls, what

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = self.funcs.get(func)
        if name is not None:
            self.calls.append(name)
            raise AssertionError(f"{self.what}: this exercise asks you to write it yourself, "
                                 f"but your code called {name}")
        return func(*args, **(kwargs or {}))


@contextmanager
def forbidden(*funcs: Callable[..., Any], what: str) -> Iterator[list[str]]:
    """Make the listed functions fail while the ``with`` block runs the student's code.

    Each function also forbids its same-named twins in ``torch``, ``torch.Tensor``,
    ``torch.nn.functional`` and ``torch.special`` (``torch.sigmoid`` covers ``x.sigmoid()`` and
    ``F.sigmoid``). Torch functions and Tensor methods (``torch.nn.functional.linear``,
    ``torch.sigmoid``, ``torch.Tensor.softmax``, ...) are caught by a
    :class:`torch.overrides.TorchFunctionMode`,
    however they are reached: an alias, ``from torch.nn.functional import linear``, or a module
    such as ``nn.Linear`` that calls them. They raise :class:`AssertionError` at the call. Plain
    Python functions (``torch.nn.utils.clip_grad_norm_``) are recognised by their code object
    through :func:`sys.setprofile`, and reported when the block ends. Either way the block
    raises, even if the student's code catches the first error.

    Args:
        *funcs: the forbidden callables (as imported objects, not names).
        what: names the exercise in the message, e.g. ``"linear_forward"``.

    Yields:
        The list of forbidden calls seen so far (readable names), for tests of this helper.

    Raises:
        AssertionError: naming the first forbidden function that was called.
    """
    __tracebackhide__ = True
    import inspect

    torch_funcs: dict[Any, str] = {}
    codes: dict[Any, str] = {}
    for f in funcs:
        inner = inspect.unwrap(f)
        code = getattr(inner, "__code__", None)
        if code is not None:
            codes[code] = _readable_name(f)
        for alias in _aliases(f):
            torch_funcs.setdefault(alias, _readable_name(alias))
    calls: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            calls.append(codes[frame.f_code])

    previous = sys.getprofile(), threading.getprofile() if hasattr(threading, "getprofile") else None
    if codes:
        sys.setprofile(profile)
        threading.setprofile(profile)
    try:
        with _ForbidMode(torch_funcs, calls, what):
            yield calls
    finally:
        if codes:
            sys.setprofile(previous[0])
            threading.setprofile(previous[1])
    if calls:
        raise AssertionError(f"{what}: this exercise asks you to write it yourself, but your code called "
                             f"{calls[0]}")


# ----------------------------------------------------------------------------------------------
# "Move each batch to device": detectable on the CPU
# ----------------------------------------------------------------------------------------------

def _is_device_move(func: Any, args: tuple, kwargs: dict) -> bool:
    if func is torch.Tensor.to:
        try:
            device = torch._C._nn._parse_to(*args[1:], **kwargs)[0]
        except Exception:  # noqa: BLE001 - not a call we understand: not a move
            return False
        return device is not None
    return func is torch.Tensor.cuda or func is getattr(torch.Tensor, "mps", None)


class UnmovedTensor(torch.Tensor):
    """A tensor that stands for data still where the DataLoader put it.

    It behaves as the plain tensor it wraps, and results computed from it stay marked. A device
    move (``.to(device)``, ``.to(device=...)``, ``.to(other_tensor)``, ``.cuda()``) returns an
    ordinary tensor; ``.to(dtype)`` alone is not a move. So a test running on the CPU,
    where ``x.to("cpu")`` changes nothing, can still tell whether a batch was moved: see
    :func:`unmoved_batches` and :func:`assert_moved`.
    """

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = super().__torch_function__(func, types, args, kwargs)
        if _is_device_move(func, args, kwargs):
            return _unmark(out)
        return out


def _unmark(obj: Any) -> Any:
    if isinstance(obj, UnmovedTensor):
        return obj.as_subclass(torch.Tensor)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unmark(o) for o in obj)
    return obj


def _mark(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.as_subclass(UnmovedTensor)
    if isinstance(obj, dict):
        return {k: _mark(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_mark(o) for o in obj) if not hasattr(obj, "_fields") else type(obj)(*(_mark(o) for o in obj))
    return obj


def unmoved_batches(loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
    """A copy of ``loader`` whose batches are :class:`UnmovedTensor` s until code moves them.

    The copy has the same dataset, batch size, sampler and order; only its ``collate_fn`` marks
    every tensor of each batch (inside tuples, lists and dicts).
    """
    from torch.utils.data import DataLoader
    from torch.utils.data.dataloader import default_collate

    collate = loader.collate_fn or default_collate
    return DataLoader(loader.dataset, batch_sampler=loader.batch_sampler, num_workers=0,
                      collate_fn=lambda batch: _mark(collate(batch)))


def assert_moved(t: Any, *, what: str) -> None:
    """Check that ``t`` went through a device move (it is not an :class:`UnmovedTensor`)."""
    __tracebackhide__ = True
    if isinstance(t, UnmovedTensor):
        raise AssertionError(f"{what}: the batch reached the model without being moved to `device`; "
                             f"move x and y with .to(device) before using them")


# ----------------------------------------------------------------------------------------------
# Tracebacks in notebooks: the failing test line, not this module's frames
# ----------------------------------------------------------------------------------------------

def _hide_helper_frames(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> None:
    """IPython custom-exception handler for AssertionError: cut the helpers' frames off the end.

    IPython skips frames that set ``__tracebackhide__`` except the last one, which for a failed
    check is always the helper that raised. This cuts the traceback after the last frame that is
    not hidden (``tb_next`` is writable), then shows it the usual way, so the error still reaches
    nbgrader and nbval as an ordinary error output.
    """
    entries = []
    node = tb
    while node is not None:
        entries.append(node)
        node = node.tb_next
    visible = [i for i, e in enumerate(entries) if not e.tb_frame.f_locals.get("__tracebackhide__", False)]
    if visible and visible[-1] < len(entries) - 1:
        entries[visible[-1]].tb_next = None
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def _install_ipython_hook() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is always there in a notebook
        return
    shell = get_ipython()
    if shell is not None and not shell.custom_exceptions:  # never replace someone else's handler
        shell.set_custom_exc((AssertionError,), _hide_helper_frames)


_install_ipython_hook()
