"""The attention explorer: heatmaps of attention weights, one head (and layer) at a time."""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from course_utils.explorers.core import _freeze
from course_utils.explorers.knobs import Knob, _widgets
from course_utils.explorers.widgets import _FigureWidget

__all__ = ["AttentionExplorer"]


class AttentionExplorer(_FigureWidget):
    """An interactive heatmap of attention weights, with a head slider (and a layer slider).

    Rows are queries, columns keys; entry ``[i, j]`` is how much query ``i`` attends to key ``j``
    (each row of a softmax attention sums to 1). The status line shows the row-sum range and the
    largest weight, which makes a softmax over the wrong axis easy to spot.

    Args:
        weights: float tensor or array of shape (n_heads, L_q, L_k) or (n_layers, n_heads, L_q, L_k),
            already computed by the notebook; or a callable ``(**knob_values) -> such a tensor``
            that is re-evaluated (and cached) when one of ``knobs`` moves (e.g. a temperature).
        tokens: the L_k key tokens (column labels).
        query_tokens: the L_q query tokens (row labels); default ``tokens`` (self-attention).
        knobs: controls whose values are passed to a callable ``weights``.
        vmax: top of the colour scale (default 1.0, the largest possible softmax weight).
        dpi: resolution of the PNG.

    Attributes:
        fig, ax, heatmap (an AxesImage updated in place with ``set_data``), controls
        (``"head"``, ``"layer"`` if 4-D, then the knobs), current (the shown (L_q, L_k) array),
        status, error_box, image, widget, last_error.

    Raises:
        ValueError: if the weights are not 3-D or 4-D, or their last two sizes do not match the
            number of query and key tokens; if ``knobs`` are given with a tensor.
    """

    def __init__(self, weights: Any, tokens: Sequence[str], *, query_tokens: Sequence[str] | None = None,
                 knobs: Sequence[Knob] = (), vmax: float = 1.0, title: str = "attention weights",
                 dpi: int = 80) -> None:
        self.tokens = [str(t) for t in tokens]
        self.query_tokens = [str(t) for t in (query_tokens if query_tokens is not None else tokens)]
        self.knobs = list(knobs)
        if self.knobs and not callable(weights):
            raise ValueError("knobs need a callable `weights(**knob_values)`; a fixed tensor has nothing to recompute")
        self._source = weights
        self._cache: dict[Any, np.ndarray] = {}
        self.title = title
        w = _widgets()
        self.knob_controls = {k.name: k.make_widget() for k in self.knobs}
        array = self._weights()
        side = max(3.0, 0.45 * max(len(self.tokens), len(self.query_tokens)) + 1.5)
        super().__init__(figsize=(side + 1.0, side), dpi=dpi)
        self.ax = self.fig.add_subplot(1, 1, 1)
        self.heatmap = self.ax.imshow(np.zeros((len(self.query_tokens), len(self.tokens))), cmap="viridis",
                                      vmin=0.0, vmax=vmax, aspect="equal")
        self.fig.colorbar(self.heatmap, ax=self.ax, shrink=0.8)
        self.ax.set_xticks(range(len(self.tokens)), self.tokens, rotation=60, ha="right", fontsize=9)
        self.ax.set_yticks(range(len(self.query_tokens)), self.query_tokens, fontsize=9)
        self.ax.set_xlabel("key")
        self.ax.set_ylabel("query")
        self.controls: dict[str, Any] = {}
        if array.ndim == 4:
            self.controls["layer"] = w.IntSlider(value=0, min=0, max=array.shape[0] - 1, description="layer",
                                                 continuous_update=False)
        self.controls["head"] = w.IntSlider(value=0, min=0, max=array.shape[-3] - 1, description="head",
                                            continuous_update=False)
        self.controls.update(self.knob_controls)
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.current = np.zeros(0)
        self.widget = w.VBox([w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap")),
                              self.image, self.status, self.error_box])
        self.update()

    def _weights(self) -> np.ndarray:
        values = {k.name: k.to_config(c.value) for k, c in zip(self.knobs, self.knob_controls.values())}
        key = _freeze(values)
        if key not in self._cache:
            raw = self._source(**values) if callable(self._source) else self._source
            array = (raw.detach().cpu().double().numpy() if isinstance(raw, torch.Tensor)
                     else np.asarray(raw, dtype=np.float64))
            if array.ndim not in (3, 4):
                raise ValueError(f"attention weights must have shape (n_heads, L_q, L_k) or "
                                 f"(n_layers, n_heads, L_q, L_k); got {tuple(array.shape)}")
            if array.shape[-2:] != (len(self.query_tokens), len(self.tokens)):
                raise ValueError(f"attention weights end in {tuple(array.shape[-2:])} but there are "
                                 f"{len(self.query_tokens)} query tokens and {len(self.tokens)} key tokens")
            self._cache[key] = array
        return self._cache[key]

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> np.ndarray | None:
        """Show the selected layer/head. Returns the (L_q, L_k) array, or None after an error."""
        try:
            array = self._weights()
            head = self.controls["head"].value
            layer = self.controls["layer"].value if "layer" in self.controls else None
            if head >= array.shape[-3] or (layer is not None and layer >= array.shape[0]):
                raise ValueError(f"layer/head out of range for weights of shape {array.shape}")
            a = array[layer, head] if layer is not None else array[head]
            self.current = a
            self.heatmap.set_data(a)
            where = "" if layer is None else f"layer {layer}, "
            self.ax.set_title(f"{self.title}: {where}head {head}", fontsize=10)
            self._render()
        except Exception as exc:  # noqa: BLE001 — shown in the widget, kept in last_error
            self._show_error(exc)
            return None
        self._clear_error()
        rows = a.sum(axis=1)
        i, j = np.unravel_index(int(np.argmax(a)), a.shape)
        self.status.value = (f"<b>{where}head {head}</b> · row sums in [{rows.min():.3f}, {rows.max():.3f}] · "
                             f"largest weight {a[i, j]:.3f}: query {i} “{html.escape(self.query_tokens[i])}” → "
                             f"key {j} “{html.escape(self.tokens[j])}”")
        return a

    def _text(self) -> str:
        return f"AttentionExplorer({len(self.query_tokens)}×{len(self.tokens)} tokens)"
