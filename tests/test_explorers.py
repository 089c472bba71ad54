"""Tests of course_utils.explorers: the pure `run` core, then the widgets driven headless.

No test here measures wall time; the retrain budget is checked by benchmarks/explorer_bench.py.
"""
from __future__ import annotations

import dataclasses
import io
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import explorers as ex
from course_utils.explorers import (
    OPTIMIZERS,
    SCHEDULES,
    AttentionExplorer,
    Knob,
    LossCurveExplorer,
    Task,
    cache_info,
    clear_cache,
    digits_mlp_task,
    lr_multiplier,
    spirals_task,
    what_to_try,
)
from course_utils.models import INIT_SCHEMES, FastDropout, init_weights_, make_mlp

DIGITS = digits_mlp_task()


def run(config=None, task=None, **kwargs):
    """:func:`course_utils.explorers.run`; most tests here train the digits MLP."""
    return ex.run(config, task if task is not None else DIGITS, **kwargs)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
QUICK = {"steps": 30, "eval_every": 10}  # a few steps keep every test fast


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


# ----------------------------------------------------------------------------------------------
# run(): determinism, cache, divergence, knobs
# ----------------------------------------------------------------------------------------------

def test_same_config_gives_identical_history():
    cfg = {**QUICK, "depth": 3, "dropout": 0.3, "lr": 3e-3}
    a = run(cfg, use_cache=False)
    b = run(cfg, use_cache=False)
    assert a.train_loss == b.train_loss
    assert a.val_loss == b.val_loss
    assert a.extras == b.extras
    assert not a.from_cache and not b.from_cache


def test_history_shapes_and_val_schedule():
    h = run({**QUICK})
    assert h.steps == tuple(range(30))
    assert len(h.train_loss) == 30
    assert h.val_steps == (0, 10, 20, 30)
    assert h.final_val_loss == h.val_loss[-1]
    assert not h.diverged
    # step 0 validation loss of a fresh 10-class classifier is about ln(10) nats
    assert h.val_loss[0] == pytest.approx(math.log(10), rel=0.2)
    assert h.val_loss[-1] < h.val_loss[0]
    assert h.task == "digits_mlp"
    assert h.config["steps"] == 30 and h.config["optimizer"] == "adam"


def test_second_call_comes_from_cache_with_the_same_curves():
    first = run({**QUICK, "lr": 1e-3})
    again = run({"lr": 1e-3, **QUICK})  # same config, other key order
    assert not first.from_cache
    assert again.from_cache
    assert again.train_loss == first.train_loss and again.val_loss == first.val_loss
    assert cache_info()["run_hits"] == 1


def test_config_equal_to_defaults_hits_the_same_cache_entry():
    run(dict(QUICK))
    assert run({**QUICK, "lr": ex.TRAIN_DEFAULTS["lr"], "depth": 2}).from_cache


def test_use_cache_false_neither_reads_nor_writes():
    run(dict(QUICK), use_cache=False)
    assert cache_info()["runs"] == 0
    run(dict(QUICK))
    assert not run(dict(QUICK), use_cache=False).from_cache


def test_mutating_a_returned_history_does_not_corrupt_the_cache():
    h = run(dict(QUICK))
    h.config["lr"] = 123.0
    h.extras.clear()
    again = run(dict(QUICK))
    assert again.config["lr"] == ex.TRAIN_DEFAULTS["lr"]
    assert "act_std" in again.extras


def test_huge_lr_diverges_early_without_an_exception():
    h = run({"lr": 1e4, "optimizer": "sgd", "steps": 100})
    assert h.diverged
    assert len(h.train_loss) < 100
    assert all(math.isfinite(v) for v in h.train_loss + h.val_loss)
    assert "init_act_std" in h.extras  # the probe at init still ran
    assert run({"lr": 1e4, "optimizer": "sgd", "steps": 100}).diverged  # cached as diverged too


def test_different_configs_give_different_histories():
    base = run(dict(QUICK))
    for change in ({"lr": 1e-3}, {"seed": 1}, {"depth": 3}, {"optimizer": "sgd"}, {"batch_size": 16},
                   {"weight_decay": 0.1}, {"schedule": "cosine"}, {"n_train": 100}, {"init": "xavier"}):
        other = run({**QUICK, **change})
        assert other.train_loss != base.train_loss, change
        assert not other.from_cache


def test_task_builders_receive_their_knobs():
    seen_model, seen_data = [], []

    def build_data(cfg):
        seen_data.append(dict(cfg))
        g = torch.Generator().manual_seed(cfg["n"])
        x = torch.randn(cfg["n"], 3, generator=g)
        y = (x[:, 0] > 0).long()
        return x, y, x[:20], y[:20]

    def build_model(cfg):
        seen_model.append(dict(cfg))
        return nn.Linear(3, 2) if cfg["kind"] == "linear" else nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))

    task = Task("recording", build_model, build_data, defaults={"kind": "linear", "n": 64}, data_keys=("n",))
    run({"steps": 5, "kind": "mlp", "lr": 0.1}, task)
    assert seen_model[-1]["kind"] == "mlp" and seen_model[-1]["lr"] == 0.1 and seen_model[-1]["n"] == 64
    assert seen_data == [{"n": 64}]  # only its data keys
    run({"steps": 5, "kind": "linear"}, task)
    assert len(seen_data) == 1  # data built once per data config
    run({"steps": 5, "n": 32}, task)
    assert seen_data[-1] == {"n": 32}


def test_builders_get_a_read_only_config():
    def build_model(cfg):
        cfg["lr"] = 1.0  # must not be allowed to change the run
        return nn.Linear(64, 10)

    task = dataclass_replace(digits_mlp_task(), name="read_only", build_model=build_model)
    with pytest.raises(TypeError):
        run(dict(QUICK), task)


def dataclass_replace(task, **changes):
    import dataclasses

    return dataclasses.replace(task, **changes)


def test_unknown_config_key_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown config key.*'lrr'.*Valid keys:.*'lr'"):
        run({"lrr": 0.1})
    with pytest.raises(ValueError, match="Valid keys"):
        digits_mlp_task(widht=3)


@pytest.mark.parametrize(("cfg", "pattern"), [
    ({"optimizer": "adamax"}, r"unknown optimizer 'adamax'.*'sgd'.*'adamw'"),
    ({"schedule": "linear"}, r"unknown schedule 'linear'.*'cosine'"),
    ({"lr": 0.0}, "lr must be a positive"),
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"batch_size": 2.5}, "batch_size must be an integer"),
    ({"clip": 0.0}, "clip must be None"),
    ({"warmup_steps": 10_000}, "warmup_steps"),
    ({"activation": "swish"}, r"unknown activation 'swish'.*'relu'"),
    ({"init": "orthogonal"}, r"unknown init scheme 'orthogonal'.*'he'"),
])
def test_bad_values_raise_value_errors_that_say_what_to_do(cfg, pattern):
    with pytest.raises(ValueError, match=pattern):
        run({**QUICK, **cfg})


def test_unhashable_config_value_is_a_type_error():
    with pytest.raises(TypeError, match="hashable"):
        run({**QUICK, "width": np.array([3])})


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(optimizer):
    h = run({**QUICK, "optimizer": optimizer, "lr": 0.05 if "adam" not in optimizer else 3e-3})
    assert not h.diverged and h.final_val_loss < h.val_loss[0]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_trains(schedule):
    h = run({**QUICK, "schedule": schedule})
    assert not h.diverged and h.final_val_loss < h.val_loss[0]


def test_lr_multiplier_schedules():
    assert lr_multiplier(7, 100) == 1.0
    assert [lr_multiplier(s, 100, "step") for s in (0, 49, 50, 74, 75, 99)] == [1, 1, 0.1, 0.1, 0.01, 0.01]
    assert lr_multiplier(0, 100, "cosine") == 1.0
    assert lr_multiplier(50, 100, "cosine") == pytest.approx(0.5)
    assert lr_multiplier(99, 100, "cosine") < 0.01
    warm = [lr_multiplier(s, 100, "warmup_cosine", warmup_steps=10) for s in range(12)]
    assert warm[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert warm[10] == 1.0 and warm[11] < 1.0
    with pytest.raises(ValueError, match="choose one of"):
        lr_multiplier(0, 10, "exp")


def test_clip_calls_clip_grad_norm_and_changes_a_fast_run(monkeypatch):
    calls = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        calls.append(max_norm)
        return real(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    free = run({**QUICK, "optimizer": "sgd", "lr": 0.5})
    assert calls == []
    clipped = run({**QUICK, "optimizer": "sgd", "lr": 0.5, "clip": 0.1})
    assert calls == [0.1] * 30
    assert clipped.train_loss != free.train_loss


def test_run_restores_rng_states_and_thread_count():
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(7)
    before = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy(), torch.get_num_threads()
    run({**QUICK, "dropout": 0.5}, use_cache=False)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert random.getstate() == before[1]
    assert np.array_equal(np.random.get_state()[1], before[2])
    assert torch.get_num_threads() == before[3]


def test_digits_probe_reports_per_layer_series():
    h = run({**QUICK, "depth": 4})
    assert len(h.extras["init_act_std"]) == 4 and len(h.extras["act_std"]) == 4
    assert len(h.extras["init_grad_norm"]) == 5 and len(h.extras["grad_norm"]) == 5
    small = run({**QUICK, "depth": 6, "init": "normal_0.01", "activation": "tanh"})
    assert small.extras["init_act_std"][-1] < 1e-4 < small.extras["init_act_std"][0]  # vanishing activations
    zeros = run({**QUICK, "init": "zeros"})
    assert zeros.extras["init_act_std"] == (0.0, 0.0)


def test_spirals_task_trains():
    h = run({"steps": 60, "eval_every": 20}, spirals_task())
    assert h.task == "spirals_mlp" and h.val_steps == (0, 20, 40, 60)
    assert h.final_val_loss < h.val_loss[0]


# ----------------------------------------------------------------------------------------------
# Model pieces
# ----------------------------------------------------------------------------------------------

def test_make_mlp_structure():
    m = make_mlp(64, 10, width=32, depth=3, activation="tanh", dropout=0.2)
    assert [type(x).__name__ for x in m] == ["Linear", "Tanh", "FastDropout"] * 3 + ["Linear"]
    assert m(torch.zeros(5, 64)).shape == (5, 10)
    assert not any(isinstance(x, nn.Dropout) for x in make_mlp(64, 10, depth=2))
    with pytest.raises(ValueError, match="dropout must be in"):
        make_mlp(64, 10, dropout=1.0)


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_init_schemes_have_the_documented_std(scheme):
    torch.manual_seed(0)
    layer = nn.Linear(400, 300)
    init_weights_(nn.Sequential(layer), scheme)
    std = layer.weight.std().item()
    expected = {"default": 1 / math.sqrt(3 * 400), "zeros": 0.0, "normal_1": 1.0, "normal_0.01": 0.01,
                "xavier": math.sqrt(2 / 700), "he": math.sqrt(2 / 400)}[scheme]
    assert std == pytest.approx(expected, rel=0.05, abs=1e-9)
    if scheme != "default":
        assert torch.all(layer.bias == 0)


def test_fast_dropout_is_inverted_dropout():
    torch.manual_seed(0)
    drop = FastDropout(0.3)
    x = torch.ones(200, 500)
    y = drop(x)
    zero_frac = (y == 0).float().mean().item()
    assert zero_frac == pytest.approx(0.3, abs=0.01)
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.7))
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)
    drop.eval()
    assert torch.equal(drop(x), x)


# ----------------------------------------------------------------------------------------------
# LossCurveExplorer, headless
# ----------------------------------------------------------------------------------------------

def _explorer(**kwargs):
    knobs = [Knob.log_slider("lr", 1e-4, 1.0, 1e-2), Knob.int_slider("depth", 1, 6, 2),
             Knob.dropdown("optimizer", ["adam", "sgd", "bogus"], "adam")]
    return LossCurveExplorer(digits_mlp_task(), knobs, fixed=QUICK, **kwargs)


def test_explorer_draws_the_first_run():
    e = _explorer()
    assert e.history is not None and not e.history.from_cache
    assert list(e.train_line.get_ydata()) == list(e.history.train_loss)
    assert list(e.val_line.get_xdata()) == list(e.history.val_steps)
    assert e.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "final val loss" in e.status.value and "trained in" in e.status.value
    assert "cache" not in e.status.value


def test_knob_widgets_are_ipywidgets_without_continuous_update():
    e = _explorer()
    for name in ("lr", "depth"):
        assert e.controls[name].continuous_update is False
    assert type(e.controls["lr"]).__name__ == "FloatLogSlider"
    assert type(e.controls["optimizer"]).__name__ == "Dropdown"


def test_setting_a_control_retrains_and_updates_lines_in_place():
    e = _explorer()
    train_line, val_line, n_lines = e.train_line, e.val_line, len(e.ax.lines)
    old_y, old_png = list(e.train_line.get_ydata()), e.image.value
    e.controls["depth"].value = 4
    assert e.history.config["depth"] == 4
    assert e.train_line is train_line and e.val_line is val_line and len(e.ax.lines) == n_lines
    assert list(e.train_line.get_ydata()) == list(e.history.train_loss)
    assert list(e.val_line.get_ydata()) == list(e.history.val_loss)
    assert list(e.train_line.get_ydata()) != list(old_y)
    assert e.image.value != old_png
    assert "depth=4" in e.status.value


def test_earlier_runs_stay_faded_up_to_n_faded():
    e = _explorer(n_faded=2)

    def shown():
        return sum(len(t.get_ydata()) > 0 for t, _ in e.faded_lines)

    assert shown() == 0
    first = list(e.train_line.get_ydata())
    e.controls["depth"].value = 3
    assert shown() == 1
    assert list(e.faded_lines[0][0].get_ydata()) == first
    e.controls["depth"].value = 4
    e.controls["depth"].value = 5
    assert shown() == 2 and len(e.faded_lines) == 2
    assert [h.config["depth"] for h in e.faded_histories] == [4, 3]
    assert e.faded_lines[0][0].get_alpha() > e.faded_lines[1][0].get_alpha()


def test_revisit_comes_from_cache_and_says_so():
    e = _explorer()
    e.controls["lr"].value = 1e-3
    e.controls["lr"].value = 1e-2
    assert e.history.from_cache
    assert "cache" in e.status.value


def test_callback_error_is_shown_in_the_widget_not_swallowed():
    e = _explorer()
    good_y = list(e.train_line.get_ydata())
    e.controls["optimizer"].value = "bogus"
    assert isinstance(e.last_error, ValueError)
    assert "ValueError" in e.status.value and "bogus" in e.status.value and "color:#c00000" in e.status.value
    assert "Traceback" in e.error_box.value and "_check_training_knobs" in e.error_box.value
    assert list(e.train_line.get_ydata()) == good_y  # the last good plot stays
    e.controls["optimizer"].value = "sgd"
    assert e.last_error is None and e.error_box.value == "" and "final val loss" in e.status.value


def test_diverged_run_is_shown_as_a_result():
    e = LossCurveExplorer(digits_mlp_task(), [Knob.log_slider("lr", 1e-3, 1e5, 1e-2)],
                          fixed={**QUICK, "optimizer": "sgd"})
    e.controls["lr"].value = 1e5
    assert e.last_error is None and e.history.diverged
    assert "diverged" in e.status.value and "diverged" in e.note.get_text()


def test_extra_panel_shows_the_probe_series():
    e = _explorer(extra_panel="init_act_std")
    assert list(e.extra_line.get_ydata()) == list(e.history.extras["init_act_std"])
    e.controls["depth"].value = 5
    assert len(e.extra_line.get_xdata()) == 5
    assert len(e.faded_extra_lines[0].get_ydata()) == 2


def test_curve_panel_plots_a_curve_computed_from_each_run():
    from course_utils.explorers import CurvePanel

    def val_by_examples(h):
        return [s * 64 for s in h.val_steps if s > 0], [v for s, v in zip(h.val_steps, h.val_loss) if s > 0]

    panel = CurvePanel(val_by_examples, xlabel="examples seen", ylabel="val loss", title="t", logx=True)
    e = _explorer(extra_panel=panel)
    assert e.last_error is None
    xs, ys = val_by_examples(e.history)
    assert list(e.extra_line.get_xdata()) == xs and list(e.extra_line.get_ydata()) == ys
    assert e.ax_extra.get_xscale() == "log" and e.ax_extra.get_yscale() == "log"
    assert e.ax_extra.get_xlabel() == "examples seen" and e.ax_extra.get_title() == "t"
    lo, hi = e.ax_extra.get_xlim()
    assert lo < min(xs) and hi > max(xs), "the x range follows the data, not a layer count"
    e.controls["depth"].value = 3
    assert list(e.faded_extra_lines[0].get_ydata()) == ys, "the previous run stays behind, faded"
    broken = CurvePanel(lambda h: ([1.0, 2.0], [1.0]), xlabel="x", ylabel="y")
    e = _explorer(extra_panel=broken)
    assert isinstance(e.last_error, ValueError) and "same length" in str(e.last_error)


def test_annotate_is_called_after_every_redraw_with_the_run_shown():
    seen = []

    class Marked(LossCurveExplorer):
        def annotate(self, history):
            seen.append(history.config["depth"])
            if not hasattr(self, "mark"):
                self.mark = self.ax.axvline(0, color="k")
            self.mark.set_xdata([len(history.train_loss) / 2] * 2)

    e = Marked(digits_mlp_task(), [Knob.int_slider("depth", 1, 6, 2)], fixed=QUICK)
    e.controls["depth"].value = 3
    assert seen == [2, 3] and e.last_error is None
    assert e.mark.get_xdata()[0] == len(e.history.train_loss) / 2


def test_unknown_extra_panel_is_reported_with_the_available_keys():
    e = _explorer(extra_panel="act_mean")
    assert isinstance(e.last_error, KeyError) and "init_act_std" in e.status.value


def test_explorer_rejects_unknown_knob_names():
    with pytest.raises(ValueError, match="Valid keys"):
        LossCurveExplorer(digits_mlp_task(), [Knob.slider("dropout_p", 0.0, 0.9, 0.0)])
    with pytest.raises(ValueError, match="share a name"):
        LossCurveExplorer(digits_mlp_task(), [Knob.int_slider("depth", 1, 3, 1), Knob.int_slider("depth", 1, 3, 2)])


def test_toggle_and_dropdown_mappings_reach_the_config():
    e = LossCurveExplorer(digits_mlp_task(), [Knob.toggle("clip", False, on=1.0, off=None),
                                              Knob.dropdown("schedule", {"flat": "constant", "cos": "cosine"})],
                          fixed=QUICK)
    assert e.config()["clip"] is None and e.config()["schedule"] == "constant"
    e.controls["clip"].value = True
    e.controls["schedule"].value = "cosine"
    assert e.history.config["clip"] == 1.0 and e.history.config["schedule"] == "cosine"


def test_float_slider_values_are_canonical_for_the_cache():
    e = LossCurveExplorer(digits_mlp_task(), [Knob.slider("dropout", 0.0, 0.9, 0.0, step=0.1)], fixed=QUICK)
    e.controls["dropout"].value = 0.1 + 0.2  # 0.30000000000000004
    assert e.history.config["dropout"] == 0.3


def test_mimebundle_has_the_widget_view_a_png_and_text():
    e = _explorer(prompt="Which lr diverges?")
    bundle = e._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle[WIDGET_VIEW]["model_id"] == e.widget.model_id
    import base64

    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert "digits_mlp" in bundle["text/plain"] and "Which lr diverges?" in bundle["text/plain"]
    assert "Predict, then move the slider." in e.widget.children[0].value


def test_what_to_try_displays_markdown(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    what_to_try("Set lr to 1 first.")
    assert isinstance(shown[0], IPython.display.Markdown)
    assert shown[0].data.startswith("**Predict, then move the slider.**") and "lr to 1" in shown[0].data


def test_knob_factories_validate_their_ranges():
    with pytest.raises(ValueError, match="low <= value <= high"):
        Knob.log_slider("lr", 1e-3, 1e-1, 1.0)
    with pytest.raises(ValueError, match="not one of"):
        Knob.dropdown("optimizer", ["adam", "sgd"], "adamw")


# ----------------------------------------------------------------------------------------------
# AttentionExplorer
# ----------------------------------------------------------------------------------------------

TOKENS = ["the", "cat", "sat", "down"]


def _attention(n_layers=None, n_heads=3, temperature=1.0):
    g = torch.Generator().manual_seed(0)
    shape = ((n_layers,) if n_layers else ()) + (n_heads, 4, 4)
    return torch.softmax(torch.randn(shape, generator=g) / temperature, dim=-1)


def test_attention_head_slider_updates_the_heatmap_in_place():
    w = _attention()
    e = AttentionExplorer(w, TOKENS)
    heatmap = e.heatmap
    assert np.allclose(e.heatmap.get_array(), w[0].numpy())
    e.controls["head"].value = 2
    assert e.heatmap is heatmap and np.allclose(e.heatmap.get_array(), w[2].numpy())
    assert "head 2" in e.status.value and "row sums in [1.000, 1.000]" in e.status.value
    assert "layer" not in e.controls
    bundle = e._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "image/png" in bundle


def test_attention_layer_slider_and_callable_knob():
    calls = []

    def weights(temperature):
        calls.append(temperature)
        return _attention(n_layers=2, temperature=temperature)

    e = AttentionExplorer(weights, TOKENS, knobs=[Knob.dropdown("temperature", [1.0, 0.1])])
    e.controls["layer"].value = 1
    e.controls["head"].value = 1
    assert np.allclose(e.current, _attention(n_layers=2)[1, 1].numpy())
    e.controls["temperature"].value = 0.1
    assert np.allclose(e.current, _attention(n_layers=2, temperature=0.1)[1, 1].numpy())
    e.controls["temperature"].value = 1.0
    assert calls == [1.0, 0.1]  # the first value came from the cache


def test_attention_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="4 key tokens"):
        AttentionExplorer(torch.ones(2, 4, 5) / 5, TOKENS)
    with pytest.raises(ValueError, match=r"\(n_heads, L_q, L_k\)"):
        AttentionExplorer(torch.ones(4, 4), TOKENS)


def test_attention_callable_error_is_shown_in_the_widget():
    def weights(n):
        return _attention(n_heads=2) if n == 4 else torch.ones(2, n, n)

    e = AttentionExplorer(weights, TOKENS, knobs=[Knob.dropdown("n", [4, 5])])
    e.controls["n"].value = 5
    assert isinstance(e.last_error, ValueError) and "ValueError" in e.status.value


def test_zero_values_on_the_log_panel_are_explained():
    e = LossCurveExplorer(digits_mlp_task(), [Knob.dropdown("init", ["he", "zeros"])], fixed=QUICK,
                          extra_panel="init_act_std")
    assert e.extra_note.get_text() == ""
    e.controls["init"].value = "zeros"
    assert "not shown on a log axis" in e.extra_note.get_text()


def test_diverged_run_without_an_after_training_probe_is_not_an_error():
    e = LossCurveExplorer(digits_mlp_task(), [Knob.log_slider("lr", 1e-3, 1e5, 1e-2)],
                          fixed={**QUICK, "optimizer": "sgd"}, extra_panel="act_std")
    e.controls["lr"].value = 1e5
    assert e.history.diverged and e.last_error is None
    assert len(e.extra_line.get_ydata()) == 0


def test_mimebundle_still_has_the_png_after_the_widget_is_closed():
    e = _explorer()
    e.widget.close()
    bundle = e._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle and "image/png" in bundle and "text/plain" in bundle


def test_grid_panel_shows_the_probe_grid_and_updates_in_place():
    from course_utils.data import make_spirals
    from course_utils.explorers import GridPanel, Knob, LossCurveExplorer, spirals_task

    x, y = make_spirals(n_per_class=30, seed=0)
    panel = GridPanel("boundary", resolution=8, data=(x, y))
    assert panel.points().shape == (64, 2)

    def probe(model, config, data):
        with torch.no_grad():
            return {"boundary": model(panel.points()).argmax(dim=1).tolist()}

    task = dataclasses.replace(spirals_task(steps=20), name="grid_panel_test", probe=probe)
    explorer = LossCurveExplorer(task, knobs=[Knob.int_slider("width", 2, 64, 2)], extra_panel=panel)
    image = explorer.grid_image
    first = np.array(image.get_array(), copy=True)
    assert first.shape == (8, 8) and np.isfinite(first).all()
    explorer.controls["width"].value = 64
    assert explorer.grid_image is image, "the image artist is reused, not re-created"
    assert explorer.history.config["width"] == 64
    np.testing.assert_array_equal(image.get_array(), panel.image(explorer.history))
    with pytest.raises(ValueError):
        GridPanel("boundary", resolution=1)


def test_grid_panel_brings_its_own_probe_and_draws_a_static_picture():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.data import make_spirals
    from course_utils.explorers import GridPanel, predicted_class

    x, y = make_spirals(n_per_class=30, seed=0)
    panel = GridPanel("boundary", resolution=6, data=(x, y))
    task = panel.attach(spirals_task(steps=20))
    assert panel.attach(task) is task, "attaching twice adds the probe once"
    h = ex.run({"width": 16}, task)
    model = torch.nn.Linear(2, 3)
    assert panel.probe(model, {}, None)["boundary"] == predicted_class(model, panel.points()).tolist()
    img = panel.image(h)
    assert img.shape == (6, 6) and set(np.unique(img)) <= {0.0, 1.0, 2.0}
    assert "act_std" in h.extras, "the task's own probe still runs beside the panel's"
    fig, ax = plt.subplots()
    assert panel.draw(h, ax, title="t") is ax
    np.testing.assert_array_equal(ax.images[0].get_array(), img)
    assert ax.get_title() == "t"
    plt.close(fig)
    with pytest.raises(ValueError, match="attach"):
        GridPanel("other", resolution=6).draw(h, ax)
    # the explorer attaches the panel itself, so a plain task works too
    explorer = LossCurveExplorer(spirals_task(steps=20), knobs=[Knob.int_slider("width", 2, 8, 2)], extra_panel=panel)
    np.testing.assert_array_equal(explorer.grid_image.get_array(), panel.image(explorer.history))


def test_status_line_reads_the_setting_from_the_history_shown():
    e = _explorer()
    e.controls["depth"].unobserve_all()  # the control moves, but no run happens
    e.controls["depth"].value = 5
    assert "depth=2" in e.status.value and "depth=2" in e._setting()
    assert e.history.config["depth"] == 2


def test_picture_is_rendered_at_the_width_it_is_shown():
    from PIL import Image

    e = _explorer()
    width, _ = Image.open(io.BytesIO(e.png)).size
    assert width == ex.DISPLAY_WIDTH_PX == e.width_px
    assert e.image.layout.width == f"{ex.DISPLAY_WIDTH_PX}px" and e.image.layout.max_width == "100%"
    panel = LossCurveExplorer(digits_mlp_task(), [Knob.int_slider("depth", 1, 3, 1)], fixed=QUICK,
                              extra_panel="act_std")
    assert Image.open(io.BytesIO(panel.png)).size[0] == ex.DISPLAY_WIDTH_PX


def test_validation_loss_is_computed_without_autograd(monkeypatch):
    seen = []
    real = torch.nn.functional.cross_entropy

    def spy(logits, y, *a, **k):
        seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled(), logits.requires_grad))
        return real(logits, y, *a, **k)

    task = dataclass_replace(digits_mlp_task(), name="spy_loss", loss_fn=spy, probe=None)
    ex.run({"steps": 3, "eval_every": 3}, task)
    val_calls = [s for s in seen if s[1]]
    assert len(val_calls) == 2, "validation at step 0 and at the end, under torch.inference_mode()"
    assert all(not grad and not req for grad, _, req in val_calls)


def test_extreme_configs_cover_the_ends_of_every_knob():
    e = LossCurveExplorer(digits_mlp_task(), [Knob.log_slider("lr", 1e-3, 1.0, 1e-2), Knob.dropdown("width", [8, 64]),
                                              Knob.toggle("clip", on=1.0, off=None), Knob.int_slider("depth", 1, 4, 2)],
                          fixed=QUICK)
    assert e in LossCurveExplorer.instances()
    configs = e.extreme_configs()
    assert len(configs) == 16
    assert {(c["lr"], c["width"], c["clip"], c["depth"]) for c in configs} == {
        (lr, w, c, d) for lr in (0.001, 1.0) for w in (8, 64) for c in (None, 1.0) for d in (1, 4)}
    assert all(c["steps"] == QUICK["steps"] for c in configs), "fixed values are kept"
    few = e.extreme_configs(limit=4)  # too many combinations: each knob's ends alone, plus all last ends
    assert {"lr": 1.0, "width": 64, "clip": 1.0, "depth": 4}.items() <= few[-1].items()
    assert len(few) <= 9
