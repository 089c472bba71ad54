"""Assertions for the notebooks' test cells, with messages that say what was expected.

Every helper raises :class:`AssertionError` with a message that names the quantity, the
expected value and what was found, so a student knows what to fix.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = [
    "assert_close",
    "assert_shape",
    "assert_raises",
    "assert_between",
    "binomial_tolerance",
]

# z-score used for statistical checks: P(|N(0,1)| > 5.3) ≈ 1.2e-7, so a correct answer
# fails such a check less than once in a million runs.
Z_ONE_IN_A_MILLION = 5.3


def assert_close(actual: Any, expected: Any, *, what: str, rtol: float | None = None, atol: float | None = None) -> None:
    """:func:`torch.testing.assert_close` with a message that starts with ``what``.

    ``rtol``/``atol`` default to torch's dtype-based tolerances when both are ``None``.
    """
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
    if not isinstance(t, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor of shape {tuple(shape)}, got {type(t).__name__}")
    if tuple(t.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(t.shape)}")


def assert_raises(exc_type: type[BaseException], fn: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> None:
    """Check that ``fn(*args, **kwargs)`` raises ``exc_type``."""
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    except Exception as exc:  # noqa: BLE001 - report what happened instead
        raise AssertionError(f"{what}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}") from None
    raise AssertionError(f"{what}: expected {exc_type.__name__}, but nothing was raised")


def assert_between(value: float, low: float, high: float, *, what: str) -> None:
    """Check ``low <= value <= high`` (a NaN always fails)."""
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

