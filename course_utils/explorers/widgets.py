"""The loss-curve explorer widget, its grid panel, and the figure machinery the widgets share.

Each widget draws into one matplotlib figure, created once, whose artists are updated in place;
the figure is shown as a PNG inside an ``ipywidgets.Image``. Executed headless (nbval, nbgrader,
nbconvert), a widget falls back to that static PNG.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import itertools
import math
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import MaxNLocator
from torch import nn

from course_utils.explorers.core import Data, History, Task, run
from course_utils.explorers.knobs import Knob, _fmt, _widgets

__all__ = ["DISPLAY_WIDTH_PX", "CurvePanel", "GridPanel", "LossCurveExplorer", "what_to_try"]

#: Width in CSS pixels at which the loss-curve explorer's picture is rendered *and* shown. It is
#: about the width of a JupyterLab output area; the picture is drawn at exactly this many pixels
#: and shown 1:1 (narrower windows scale it down), so it is never blown up and blurred.
DISPLAY_WIDTH_PX = 960


class _FigureWidget:
    """Shared machinery: one Agg figure shown as a PNG in an ``ipywidgets.Image``, a status
    line, an error box, and a mimebundle that degrades to the static PNG.

    The PNG has ``figsize[0] * dpi`` pixels across and the image is shown at that width in CSS
    pixels (``max-width: 100%`` shrinks it in a narrow window), so what is drawn is what is shown.
    """

    def __init__(self, figsize: tuple[float, float], dpi: float) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        w = _widgets()
        self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)  # an Agg canvas of its own: no pyplot, no backend switching
        self.dpi = dpi
        self.width_px = round(figsize[0] * dpi)
        self.image = w.Image(format="png", layout=w.Layout(width=f"{self.width_px}px", max_width="100%", height="auto"))
        self.status = w.HTML(value="")
        self.error_box = w.HTML(value="")
        self.last_error: BaseException | None = None
        self._png = b""

    def _render(self) -> None:
        """Re-render the figure (its artists were updated in place) into the Image widget."""
        buf = io.BytesIO()
        self.fig.canvas.print_png(buf)  # one Agg draw + PNG encode; no savefig bbox pass
        if isinstance(self.fig.get_layout_engine(), ConstrainedLayoutEngine):
            self.fig.set_layout_engine("none")  # keep the first (constrained) layout: half the draw time
        self._png = buf.getvalue()
        self.image.value = self._png

    @property
    def png(self) -> bytes:
        """The PNG bytes currently shown."""
        return self._png

    def _show_error(self, exc: BaseException) -> None:
        """Put an exception into the widget: a red status line and the traceback, not swallowed."""
        self.last_error = exc
        self.status.value = (f'<span style="color:#c00000"><b>Error: {html.escape(type(exc).__name__)}:</b> '
                             f'{html.escape(str(exc))}</span>')
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.error_box.value = (f'<details open><summary style="color:#c00000">Traceback</summary>'
                                f'<pre style="font-size:11px;line-height:1.25">{html.escape(tb)}</pre></details>')

    def _clear_error(self) -> None:
        self.last_error = None
        self.error_box.value = ""

    def _text(self) -> str:
        return f"{type(self).__name__}()"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, Any]:
        """The live widget for frontends with widget support, a static PNG for everything else.

        JupyterLab and Notebook 7 render ``application/vnd.jupyter.widget-view+json``; nbval,
        nbconvert to notebook and nbgrader keep ``image/png`` and ``text/plain`` beside it.
        (For HTML export, put ``image/png`` before the widget-view type in nbconvert's
        ``display_data_priority`` to see the picture offline.)
        """
        widget_repr = getattr(self.widget, "_repr_mimebundle_", None)  # None once the widget is closed
        bundle = dict(widget_repr(**kwargs) or {}) if callable(widget_repr) else {}
        bundle["image/png"] = base64.b64encode(self._png).decode("ascii")
        bundle["text/plain"] = self._text()
        return bundle

    def show(self) -> None:
        """Display the explorer (same as leaving it as the last expression of a cell)."""
        from IPython.display import display

        display(self)


def predicted_class(model: nn.Module, points: torch.Tensor) -> torch.Tensor:
    """The class a classifier predicts at each point: ``model(points).argmax(dim=1)``, int64 (P,)."""
    return model(points).argmax(dim=1)


@dataclass(frozen=True)
class _ProbeChain:
    """Two task probes run one after the other; their results are merged (the second wins a clash).

    A frozen dataclass rather than a closure, so that equal chains are equal keys of the run cache.
    """

    first: Callable[..., Mapping[str, Sequence[float]]]
    second: Callable[..., Mapping[str, Sequence[float]]]

    def __call__(self, model: nn.Module, config: Mapping[str, Any], data: Data) -> dict[str, Sequence[float]]:
        return {**self.first(model, config, data), **self.second(model, config, data)}

    def __contains__(self, probe: Any) -> bool:
        return any(p == probe or (isinstance(p, _ProbeChain) and probe in p) for p in (self.first, self.second))


@dataclass(frozen=True)
class GridPanel:
    """A right-hand panel for :class:`LossCurveExplorer` that shows a model's output on a 2-D grid.

    Typical use: the class a classifier predicts at every point of the plane, i.e. its decision
    boundary on a 2-D task such as the spirals. The panel carries its own probe (:meth:`probe`):
    it evaluates ``values(model, points())`` and stores the ``resolution**2`` results under
    ``key`` in :attr:`History.extras`. :class:`LossCurveExplorer` adds that probe to its task
    (:meth:`attach`) and shows the grid as an image that is created once and updated in place,
    with the training points drawn on top. :meth:`draw` draws the same picture on any
    matplotlib axes, for a static figure. Values are class indices 0–8 (one pastel colour each;
    the points use the matching strong colour).

    Args:
        key: the extras key the probe fills.
        extent: ``(x_min, x_max, y_min, y_max)`` of the plane shown.
        resolution: grid points per side.
        data: optional ``(x, y)``: points float (N, 2) and int labels (N,) drawn on top.
        title: the panel's title.
        values: ``(model, points float32 (P, 2)) -> (P,)`` values at the grid points, run under
            ``torch.no_grad()`` in eval mode; default :func:`predicted_class`.

    Raises:
        ValueError: if ``resolution < 2``.
    """

    key: str = "boundary"
    extent: tuple[float, float, float, float] = (-1.25, 1.25, -1.25, 1.25)
    resolution: int = 60
    data: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, compare=False)
    title: str = "predicted class after training"
    values: Callable[[nn.Module, torch.Tensor], torch.Tensor] = predicted_class

    def __post_init__(self) -> None:
        if self.resolution < 2:
            raise ValueError(f"need resolution >= 2, got {self.resolution}")

    def points(self) -> torch.Tensor:
        """The grid, float32 of shape (resolution**2, 2), row by row (y outer, x inner)."""
        x0, x1, y0, y1 = self.extent
        gy, gx = torch.meshgrid(torch.linspace(y0, y1, self.resolution), torch.linspace(x0, x1, self.resolution),
                                indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)

    def probe(self, model: nn.Module, config: Mapping[str, Any], data: Data) -> dict[str, list[float]]:
        """A :attr:`Task.probe`: ``{key: values at every grid point}`` (``resolution**2`` floats)."""
        with torch.no_grad():
            return {self.key: self.values(model, self.points()).reshape(-1).tolist()}

    def attach(self, task: Task) -> Task:
        """``task`` with this panel's probe added after its own (unchanged if already there)."""
        if task.probe is None:
            return dataclasses.replace(task, probe=self.probe)
        if task.probe == self.probe or (isinstance(task.probe, _ProbeChain) and self.probe in task.probe):
            return task
        return dataclasses.replace(task, probe=_ProbeChain(task.probe, self.probe))

    def image(self, history: History) -> np.ndarray | None:
        """The (resolution, resolution) array of this run's values, or None if the probe did not run."""
        values = history.extras.get(self.key)
        if values is None:
            return None
        if len(values) != self.resolution ** 2:
            raise ValueError(f"GridPanel {self.key!r}: the probe stored {len(values)} values, "
                             f"expected resolution**2 = {self.resolution ** 2}")
        return np.asarray(values, dtype=float).reshape(self.resolution, self.resolution)

    def draw(self, history: History, ax: Any, title: str | None = None) -> Any:
        """Draw this run's grid and the data points on matplotlib axes ``ax``; return ``ax``.

        Raises:
            ValueError: if the run has no values under ``key`` (the task lacked this panel's probe;
                use :meth:`attach`).
        """
        image = self.image(history)
        if image is None:
            raise ValueError(f"this run has no {self.key!r} values: train a task with the panel's probe "
                             f"(GridPanel.attach(task))")
        ax.imshow(image, origin="lower", extent=self.extent, cmap="Pastel1", vmin=0, vmax=8,
                  interpolation="nearest", aspect="auto")
        if self.data is not None:
            px, py = self.data
            ax.scatter(px[:, 0], px[:, 1], c=py, cmap="Set1", vmin=0, vmax=8, s=5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(self.title if title is None else title, fontsize=9)
        return ax


_RECENT_EXPLORERS: deque = deque(maxlen=32)  # for benchmarks: the explorers a notebook created


@dataclass(frozen=True)
class CurvePanel:
    """A right-hand panel for :class:`LossCurveExplorer` that plots a curve computed from each run.

    Use it when the panel a topic needs is not a per-layer series of the probe: for example the
    validation loss against training examples seen (topic 32), computed from the run's
    :class:`History` and its config. The current run is drawn in colour, the faded runs in grey.

    Args:
        curve: ``history -> (xs, ys)``, two equal-length sequences of floats; called once per
            run shown at every redraw, so keep it cheap (no training in it). Non-finite ``ys``
            and, on a log axis, values ``<= 0`` are left off the axis limits.
        xlabel, ylabel: the panel's axis labels.
        title: the panel's title (optional).
        logx, logy: log-scaled axes (default: linear x, log y).

    Raises:
        ValueError: (when drawn) if ``curve`` returns sequences of different lengths.
    """

    curve: Callable[[History], tuple[Sequence[float], Sequence[float]]]
    xlabel: str
    ylabel: str
    title: str | None = None
    logx: bool = False
    logy: bool = True

    def points(self, history: History) -> tuple[list[float], list[float]]:
        """``curve(history)`` as two lists of floats, checked for equal length."""
        xs, ys = self.curve(history)
        xs, ys = [float(x) for x in xs], [float(y) for y in ys]
        if len(xs) != len(ys):
            raise ValueError(f"CurvePanel.curve returned {len(xs)} x values but {len(ys)} y values; "
                             "return two sequences of the same length")
        return xs, ys


class LossCurveExplorer(_FigureWidget):
    """Retrain ``task`` whenever a control moves, and plot its train and validation loss.

    Left panel: train loss per step (solid) and validation loss (dots); the previous
    ``n_faded`` runs stay behind, faded. Optional right panel: one of the probe's per-layer
    series from :attr:`History.extras` (e.g. ``"init_act_std"``), also with faded runs. Below:
    a status line (setting, final validation loss, seconds, diverged?, from cache?) and, after a
    failure, the error and its traceback.

    Args:
        task: what to train (for example :func:`course_utils.explorers.digits_mlp_task`).
        knobs: the controls, one per config key (see :class:`Knob`).
        fixed: config values held fixed (merged under the knob values).
        n_faded: how many earlier runs stay on the plot.
        extra_panel: a key of :attr:`History.extras` to plot per layer, a :class:`GridPanel`
            (an image over a 2-D plane, e.g. a decision boundary), a :class:`CurvePanel` (any
            curve computed from the run's History), or ``None``.
        prompt: a short "predict first" question shown above the plot.
        logy: log-scaled loss axis.
        extra_logy: log-scaled extra panel (default True: per-layer statistics change geometrically);
            a :class:`CurvePanel` brings its own ``logx``/``logy`` instead.
        dpi: pixels per inch of the figure (6×3.4 inches, 10×3.4 with a right-hand panel);
            default: whatever makes it :data:`DISPLAY_WIDTH_PX` wide, the width it is shown at.

    Attributes:
        fig, ax, ax_extra: the matplotlib figure and axes (``ax_extra`` is None without a panel).
        train_line, val_line: the current run's Line2D objects (updated in place).
        faded_lines: ``n_faded`` (train, val) Line2D pairs, most recent first; unused ones are empty.
        extra_line, faded_extra_lines: the same for the extra panel.
        controls: config key → ipywidgets control.
        history: the current :class:`History`; ``faded_histories`` the earlier ones shown.
        status, error_box, image, widget: the ipywidgets parts (``widget`` is the whole VBox).
        last_error: the exception of the last failed update, or None.

    Raises:
        ValueError: if a knob or fixed key is not a valid config key of the task (the message
            lists the valid keys), or if two knobs share a name.
    """

    def __init__(self, task: Task, knobs: Sequence[Knob] = (), fixed: Mapping[str, Any] | None = None,
                 *, n_faded: int = 3, extra_panel: str | GridPanel | CurvePanel | None = None, prompt: str | None = None,
                 logy: bool = False, extra_logy: bool = True, dpi: float | None = None) -> None:
        self.task = extra_panel.attach(task) if isinstance(extra_panel, GridPanel) else task
        self.knobs = list(knobs)
        self.fixed = dict(fixed or {})
        names = [k.name for k in self.knobs]
        if len(set(names)) != len(names):
            raise ValueError(f"two knobs share a name: {names}")
        self.task.resolve({**self.fixed, **{n: None for n in names}})  # unknown keys -> ValueError
        if n_faded < 0:
            raise ValueError(f"n_faded must be >= 0, got {n_faded}")
        self.n_faded = n_faded
        self.extra_panel = extra_panel
        self.prompt = prompt
        width_in = 10.0 if extra_panel else 6.0
        super().__init__(figsize=(width_in, 3.4), dpi=dpi if dpi is not None else DISPLAY_WIDTH_PX / width_in)

        w = _widgets()
        if extra_panel:
            self.ax, self.ax_extra = self.fig.subplots(1, 2, width_ratios=[3, 2])
        else:
            self.ax, self.ax_extra = self.fig.add_subplot(1, 1, 1), None
        self.faded_lines = []
        self.faded_extra_lines = []
        for i in range(n_faded):
            alpha = 0.45 * (1 - i / max(1, n_faded)) + 0.1
            self.faded_lines.append((self.ax.plot([], [], color="0.45", lw=1, alpha=alpha)[0],
                                     self.ax.plot([], [], color="0.45", ls="none", marker=".", alpha=alpha)[0]))
            if self.ax_extra is not None and not isinstance(extra_panel, GridPanel):
                self.faded_extra_lines.append(self.ax_extra.plot([], [], color="0.45", marker=".", alpha=alpha)[0])
        (self.train_line,) = self.ax.plot([], [], color="C0", lw=1.2, label="train (this run)")
        (self.val_line,) = self.ax.plot([], [], color="C1", ls="-", marker="o", ms=4, label="validation (this run)")
        handles = [self.train_line, self.val_line] + ([self.faded_lines[0][0]] if n_faded else [])
        self.ax.legend(handles, [h.get_label() for h in handles[:2]] + (["earlier runs"] if n_faded else []),
                       frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3,
                       borderaxespad=0.2)  # above the axes: never hides a curve
        self.ax.set_xlabel("step")
        self.ax.set_ylabel("loss")
        if logy:
            self.ax.set_yscale("log")
        self.ax.grid(alpha=0.3)
        self.note = self.ax.text(0.02, 0.04, "", transform=self.ax.transAxes, color="#c00000", fontsize=9)
        self.extra_line = None
        self.grid_image = None
        if isinstance(extra_panel, GridPanel):
            n = extra_panel.resolution
            self.grid_image = self.ax_extra.imshow(
                np.full((n, n), np.nan), origin="lower", extent=extra_panel.extent, cmap="Pastel1",
                vmin=0, vmax=8, interpolation="nearest", aspect="auto")
            if extra_panel.data is not None:
                px, py = extra_panel.data
                self.ax_extra.scatter(px[:, 0], px[:, 1], c=py, cmap="Set1", vmin=0, vmax=8, s=5)
            self.ax_extra.set_title(extra_panel.title, fontsize=9)
            self.ax_extra.set_xticks([])
            self.ax_extra.set_yticks([])
        elif self.ax_extra is not None:
            (self.extra_line,) = self.ax_extra.plot([], [], color="C2", marker="o", label="this run")
            if isinstance(extra_panel, CurvePanel):
                self.ax_extra.set(xlabel=extra_panel.xlabel, ylabel=extra_panel.ylabel)
                if extra_panel.title:
                    self.ax_extra.set_title(extra_panel.title, fontsize=9)
                if extra_panel.logx:
                    self.ax_extra.set_xscale("log")
                extra_logy = extra_panel.logy
            else:
                self.ax_extra.set_xlabel("layer")
                self.ax_extra.set_ylabel(extra_panel)
                self.ax_extra.xaxis.set_major_locator(MaxNLocator(integer=True))
            self.extra_note = self.ax_extra.text(0.02, 0.04, "", transform=self.ax_extra.transAxes,
                                                 color="C2", fontsize=9)
            if extra_logy:
                self.ax_extra.set_yscale("log")
            self.ax_extra.grid(alpha=0.3)
        self.logy, self.extra_logy = logy, extra_logy

        self.controls = {k.name: k.make_widget() for k in self.knobs}
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.history: History | None = None
        self.faded_histories: list[History] = []
        parts = []
        if prompt:
            parts.append(w.HTML(f"<b>Predict, then move the slider.</b> {html.escape(prompt)}"))
        parts += [w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap")),
                  self.image, self.status, self.error_box]
        self.widget = w.VBox(parts)
        _RECENT_EXPLORERS.append(self)
        self.update()

    @staticmethod
    def instances() -> list[LossCurveExplorer]:
        """The explorers created in this process, oldest first (the last 32 are kept)."""
        return list(_RECENT_EXPLORERS)

    def extreme_configs(self, limit: int = 64) -> list[dict[str, Any]]:
        """Configs at the ends of every knob's range (:meth:`Knob.end_positions`), combined.

        Every combination of end positions while there are at most ``limit``; beyond that, each
        knob's ends with the other knobs at their current values, plus the combination of every
        knob's last end (the largest model, as a rule). Benchmarks time a retrain at each.
        """
        ends = [[(k.name, v) for v in k.end_positions(self.controls[k.name])] for k in self.knobs]
        base = self.config()
        if math.prod(len(e) for e in ends) <= limit:
            combos = [dict(c) for c in itertools.product(*ends)]
        else:
            combos = [dict([pair]) for e in ends for pair in e] + [dict(e[-1] for e in ends)]
        out: list[dict[str, Any]] = []
        for change in combos:
            cfg = {**base, **change}
            if cfg not in out:
                out.append(cfg)
        return out

    # -- state --------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The config of the controls' current values over ``fixed``."""
        cfg = dict(self.fixed)
        for knob in self.knobs:
            cfg[knob.name] = knob.to_config(self.controls[knob.name].value)
        return cfg

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> History | None:
        """Run the current config, redraw, and update the status. Errors go into the widget.

        Returns:
            The new :class:`History`, or None if the run failed (see :attr:`last_error`).
        """
        self.status.value = "<i>training…</i>"
        try:
            history = run(self.config(), self.task)
            self._push(history)
            self._draw()
            self._render()
        except Exception as exc:  # noqa: BLE001 — shown in the widget, kept in last_error
            self._show_error(exc)
            return None
        self._clear_error()
        self.status.value = self._status_html()
        return history

    def _push(self, history: History) -> None:
        previous = self.history
        if previous is not None and previous.config != history.config and self.n_faded:
            self.faded_histories = ([previous] + [h for h in self.faded_histories if h.config != history.config])
            self.faded_histories = self.faded_histories[: self.n_faded]
        else:
            self.faded_histories = [h for h in self.faded_histories if h.config != history.config]
        self.history = history

    # -- drawing ------------------------------------------------------------------------------
    def _extra(self, history: History) -> tuple[list[int], list[float]]:
        if self.extra_panel is None:
            return [], []
        if isinstance(self.extra_panel, CurvePanel):
            return self.extra_panel.points(history)
        if self.extra_panel not in history.extras:
            if history.diverged:
                return [], []  # the after-training probe is skipped for a diverged run
            raise KeyError(f"extra_panel {self.extra_panel!r} is not in this run's extras; "
                           f"available: {sorted(history.extras)}")
        ys = list(history.extras[self.extra_panel])
        return list(range(1, len(ys) + 1)), ys

    def _draw(self) -> None:
        h = self.history
        assert h is not None
        self.train_line.set_data(h.steps, h.train_loss)
        self.val_line.set_data(h.val_steps, h.val_loss)
        for i, (tl, vl) in enumerate(self.faded_lines):
            old = self.faded_histories[i] if i < len(self.faded_histories) else None
            tl.set_data(old.steps if old else [], old.train_loss if old else [])
            vl.set_data(old.val_steps if old else [], old.val_loss if old else [])
        shown = [h, *self.faded_histories]
        xmax = max([1] + [x[-1] for s in shown for x in (s.steps, s.val_steps) if x])
        self.ax.set_xlim(0, xmax)
        ys = [y for s in shown for y in (*s.train_loss, *s.val_loss) if math.isfinite(y)]
        first = [y for s in shown for y in (s.train_loss[:3] + s.val_loss[:1]) if math.isfinite(y)]
        if ys:
            top = min(max(ys), 2.0 * max(first)) * 1.05 if first else max(ys) * 1.05
            if self.logy:
                pos = [y for y in ys if y > 0] or [1e-3]
                self.ax.set_ylim(min(pos) * 0.8, max(top, min(pos) * 10))
            else:
                self.ax.set_ylim(0, top if top > 0 else 1.0)
        self.note.set_text(f"diverged at step {len(h.train_loss)}" if h.diverged else "")
        if self.grid_image is not None:
            img = self.extra_panel.image(h)  # type: ignore[union-attr]
            n = self.extra_panel.resolution  # type: ignore[union-attr]
            self.grid_image.set_data(img if img is not None else np.full((n, n), np.nan))
        if self.ax_extra is not None and self.extra_line is not None:
            xs, ys_e = self._extra(h)
            self.extra_line.set_data(xs, ys_e)
            hidden = self.extra_logy and any(not y > 0 for y in ys_e)
            self.extra_note.set_text("this run: values <= 0 are not shown on a log axis" if hidden else "")
            all_e = list(ys_e)
            for i, line in enumerate(self.faded_extra_lines):
                old = self.faded_histories[i] if i < len(self.faded_histories) else None
                oxs, oys = self._extra(old) if old else ([], [])
                line.set_data(oxs, oys)
                all_e += oys
            finite = [y for y in all_e if math.isfinite(y) and (y > 0 or not self.extra_logy)]
            if isinstance(self.extra_panel, CurvePanel):
                all_x = [x for line in (self.extra_line, *self.faded_extra_lines) for x in line.get_xdata()]
                all_x = [x for x in all_x if math.isfinite(x) and (x > 0 or not self.extra_panel.logx)]
                if all_x and self.extra_panel.logx:
                    self.ax_extra.set_xlim(min(all_x) / 1.5, max(all_x) * 1.5)
                elif all_x:
                    pad = 0.03 * (max(all_x) - min(all_x)) or 1.0
                    self.ax_extra.set_xlim(min(all_x) - pad, max(all_x) + pad)
            else:
                n_layers = max([len(xs)] + [len(line.get_xdata()) for line in self.faded_extra_lines])
                self.ax_extra.set_xlim(0.5, max(1, n_layers) + 0.5)
            if finite:
                lo, hi = min(finite), max(finite)
                if self.extra_logy:
                    self.ax_extra.set_ylim(lo / 2, hi * 2)
                else:
                    pad = 0.05 * (hi - lo) or 0.1 * abs(hi) or 1.0
                    self.ax_extra.set_ylim(lo - pad, hi + pad)
        self.annotate(h)

    def annotate(self, history: History) -> None:
        """Draw extra artists for the run shown; called at the end of every redraw.

        The default draws nothing. Override it in a subclass to mark something on the panels
        (``self.ax``, ``self.ax_extra``), for example the trials of a search on a
        :class:`GridPanel` (topic 28). Create artists once and update them in place here, as the
        explorer does with its own lines, so that a retrain stays cheap.

        Args:
            history: the run now shown (also :attr:`history`).
        """

    def _setting(self) -> str:
        """The knobs' values of the run shown (read from its History, not from the controls)."""
        cfg = self.history.config if self.history is not None else self.config()
        return ", ".join(f"{k.name}={_fmt(cfg[k.name])}" for k in self.knobs) or "defaults"

    def _status_html(self) -> str:
        h = self.history
        assert h is not None
        parts = [f"<b>{html.escape(self._setting())}</b>",
                 f"final val loss <b>{h.final_val_loss:.4g}</b>"]
        if h.from_cache:
            parts.append(f"from cache ({h.seconds * 1e3:.1f} ms)")
        else:
            parts.append(f"trained in {h.seconds:.2f} s")
        if h.diverged:
            parts.append(f'<span style="color:#c00000"><b>diverged</b> at step {len(h.train_loss)}</span>')
        return " · ".join(parts)

    def _text(self) -> str:
        h = self.history
        if h is None:
            return f"LossCurveExplorer(task={self.task.name!r})"
        text = (f"LossCurveExplorer(task={self.task.name!r}): {self._setting()}; "
                f"final val loss {h.final_val_loss:.4g}{'; diverged' if h.diverged else ''}")
        return text + (f"\nPredict, then move the slider. {self.prompt}" if self.prompt else "")




def what_to_try(text: str) -> None:
    """Display a short "Predict, then move the slider" prompt as Markdown (under an explorer)."""
    from IPython.display import Markdown, display

    display(Markdown(f"**Predict, then move the slider.** {text}"))
