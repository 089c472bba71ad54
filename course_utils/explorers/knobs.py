"""Knobs: the controls of an explorer, each a config key plus a factory for its ipywidgets control."""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Knob"]


def _widgets():
    import ipywidgets  # imported lazily: the core must not need a widget stack

    return ipywidgets


@dataclass(frozen=True)
class Knob:
    """One control of an explorer: a config key and a factory for its ipywidgets control.

    Build knobs with the class methods (:meth:`log_slider`, :meth:`slider`, :meth:`int_slider`,
    :meth:`dropdown`, :meth:`toggle`); each explorer makes its own widget from the factory, so a
    list of knobs can be reused. Sliders use ``continuous_update=False``: the model retrains when
    the slider is released, not while it moves.

    Attributes:
        name: the config key the control sets.
        make_widget: ``() -> ipywidgets.ValueWidget``.
        to_config: maps the widget's ``.value`` to the config value (identity by default).
    """

    name: str
    make_widget: Callable[[], Any]
    to_config: Callable[[Any], Any] = lambda v: v

    def end_positions(self, control: Any) -> list[Any]:
        """The config values at the ends of ``control``'s range (this knob's widget).

        Both ends of a slider, every option of a drop-down or selection slider, both states of a
        toggle; any other control gives its current value. Benchmarks use these to time a retrain
        at every extreme setting of an explorer.
        """
        if hasattr(control, "options"):
            options = list(control.options)
            values = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in options]
            return [self.to_config(v) for v in values]
        if hasattr(control, "min") and hasattr(control, "max"):
            base = getattr(control, "base", None)
            ends = (base ** control.min, base ** control.max) if base is not None else (control.min, control.max)
            return [self.to_config(v) for v in ends]
        if isinstance(control.value, bool):
            return [self.to_config(False), self.to_config(True)]
        return [self.to_config(control.value)]

    @staticmethod
    def _style(description: str | None, name: str) -> dict[str, Any]:
        return {"description": description or name, "style": {"description_width": "initial"}}

    @classmethod
    def log_slider(cls, name: str, low: float, high: float, value: float, description: str | None = None,
                   steps_per_decade: int = 4) -> Knob:
        """A slider on a log10 scale from ``low`` to ``high`` (e.g. ``lr`` from 1e-4 to 1).

        The value moves in steps of ``10 ** (1 / steps_per_decade)``.

        Raises:
            ValueError: unless ``0 < low <= value <= high``.
        """
        if not 0 < low <= value <= high:
            raise ValueError(f"log_slider {name!r}: need 0 < low <= value <= high, got {low}, {value}, {high}")
        w = _widgets()
        return cls(name, lambda: w.FloatLogSlider(
            value=value, base=10, min=math.log10(low), max=math.log10(high), step=1 / steps_per_decade,
            readout_format=".2g", continuous_update=False, **cls._style(description, name)),
            to_config=lambda v: float(f"{v:.4g}"))  # canonical: the same slider position, the same cache key

    @classmethod
    def slider(cls, name: str, low: float, high: float, value: float, step: float | None = None,
               description: str | None = None) -> Knob:
        """A float slider (e.g. ``dropout`` from 0 to 0.9 in steps of 0.1); ``step`` defaults to (high-low)/20.

        Raises:
            ValueError: unless ``low <= value <= high``.
        """
        if not low <= value <= high:
            raise ValueError(f"slider {name!r}: need low <= value <= high, got {low}, {value}, {high}")
        w = _widgets()
        step = step if step is not None else (high - low) / 20
        decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 3
        return cls(name, lambda: w.FloatSlider(
            value=value, min=low, max=high, step=step, readout_format=f".{decimals}f",
            continuous_update=False, **cls._style(description, name)),
            to_config=lambda v: round(float(v), decimals + 3))

    @classmethod
    def int_slider(cls, name: str, low: int, high: int, value: int, step: int = 1,
                   description: str | None = None) -> Knob:
        """An integer slider (e.g. ``depth`` from 1 to 10).

        Raises:
            ValueError: unless ``low <= value <= high``.
        """
        if not low <= value <= high:
            raise ValueError(f"int_slider {name!r}: need low <= value <= high, got {low}, {value}, {high}")
        w = _widgets()
        return cls(name, lambda: w.IntSlider(value=value, min=low, max=high, step=step, continuous_update=False,
                                             **cls._style(description, name)))

    @classmethod
    def dropdown(cls, name: str, options: Sequence[Any] | Mapping[str, Any], value: Any = None,
                 description: str | None = None) -> Knob:
        """A drop-down menu. ``options`` is a list of values, or ``{label: value}`` (e.g.
        ``{"off": None, "1.0": 1.0}`` for ``clip``). ``value`` defaults to the first option.

        Raises:
            ValueError: if ``value`` is not one of the options.
        """
        pairs = list(options.items()) if isinstance(options, Mapping) else [(str(o), o) for o in options]
        values = [v for _, v in pairs]
        if not pairs:
            raise ValueError(f"dropdown {name!r}: needs at least one option")
        value = values[0] if value is None and None not in values else value
        if value not in values:
            raise ValueError(f"dropdown {name!r}: value {value!r} is not one of {values}")
        w = _widgets()
        return cls(name, lambda: w.Dropdown(options=pairs, value=value, **cls._style(description, name)))

    @classmethod
    def toggle(cls, name: str, value: bool = False, on: Any = True, off: Any = False,
               description: str | None = None) -> Knob:
        """An on/off button; the config gets ``on`` or ``off`` (e.g. ``Knob.toggle("clip", on=1.0, off=None)``)."""
        w = _widgets()
        return cls(name, lambda: w.ToggleButton(value=bool(value), **cls._style(description, name)),
                   to_config=lambda v: on if v else off)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
