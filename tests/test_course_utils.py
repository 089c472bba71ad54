"""Unit tests of course_utils (except the explorer, which has its own file)."""
from __future__ import annotations

import collections
import dataclasses

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from course_utils import (
    accuracy,
    digits_loaders,
    digits_split,
    get_device,
    load_digits_tensors,
    make_spirals,
    move_to,
    plot_curves,
    plot_per_layer,
    seed_everything,
    train_classifier,
)
from course_utils import testing as T


# --- device -------------------------------------------------------------------------------

def test_get_device_is_usable():
    dev = get_device()
    assert isinstance(dev, torch.device)
    torch.ones(2, device=dev)  # the chosen device really works


def test_get_device_respects_env_and_rejects_missing_cuda(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            get_device("cuda")


def test_move_to_keeps_container_types():
    Pair = collections.namedtuple("Pair", "a b")

    @dataclasses.dataclass
    class Batch:
        x: torch.Tensor
        name: str

    obj = {"t": torch.ones(2), "list": [torch.zeros(1), 3], "pair": Pair(torch.ones(1), "s"),
           "batch": Batch(torch.ones(3), "n"), "tuple": (torch.ones(1),)}
    # the "meta" device exists on every machine, so a move_to that moved nothing is caught here
    out = move_to(obj, "meta")
    assert isinstance(out["pair"], Pair) and out["pair"].b == "s"
    assert isinstance(out["batch"], Batch) and out["batch"].name == "n"
    assert isinstance(out["list"], list) and out["list"][1] == 3
    assert isinstance(out["tuple"], tuple)
    leaves = [out["t"], out["list"][0], out["pair"].a, out["batch"].x, out["tuple"][0]]
    assert all(t.device.type == "meta" for t in leaves), [t.device for t in leaves]
    assert [t.shape for t in leaves] == [(2,), (1,), (1,), (3,), (1,)]
    assert obj["t"].device.type == "cpu", "the input is left where it was"


# --- seed ---------------------------------------------------------------------------------

def test_seed_everything_repeats_and_returns_generator():
    g = seed_everything(5)
    a = torch.randn(3)
    seed_everything(5)
    assert torch.equal(a, torch.randn(3))
    assert isinstance(g, torch.Generator)
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=torch.Generator().manual_seed(5)))
    with pytest.raises(ValueError):
        seed_everything(-1)


# --- data ---------------------------------------------------------------------------------

def test_load_digits_tensors_shapes_and_range():
    x, y = load_digits_tensors()
    assert x.shape == (1797, 64) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(y.tolist()) == set(range(10))
    x[0, 0] = 99.0  # a copy: the cache is not corrupted
    assert load_digits_tensors()[0][0, 0] != 99.0


def test_digits_split_is_standardized_with_train_stats_and_repeatable():
    s = digits_split(val_fraction=0.25, seed=1)
    assert len(s.x_train) + len(s.x_val) == 1797
    assert len(s.x_val) == round(1797 * 0.25)
    mean = s.x_train.mean(0)
    torch.testing.assert_close(mean, torch.zeros(64), atol=1e-5, rtol=0)
    varying = s.x_train.std(0) > 0
    torch.testing.assert_close(s.x_train.std(0)[varying], torch.ones(int(varying.sum())), atol=1e-4, rtol=0)
    s2 = digits_split(val_fraction=0.25, seed=1)
    assert torch.equal(s.x_val, s2.x_val) and torch.equal(s.y_train, s2.y_train)
    assert not torch.equal(digits_split(seed=2).y_val[:50], digits_split(seed=3).y_val[:50])


def test_digits_split_subsample_and_label_noise():
    clean = digits_split(n_train=300, seed=0)
    noisy = digits_split(n_train=300, seed=0, label_noise=0.2)
    assert len(noisy.x_train) == 300
    flipped = (clean.y_train != noisy.y_train).float().mean().item()
    assert 0.1 < flipped < 0.3  # 300 draws at p=0.2
    assert torch.equal(clean.y_val, noisy.y_val), "validation labels stay clean"
    for bad in ({"val_fraction": 0.0}, {"label_noise": 1.5}, {"n_train": 0}):
        with pytest.raises(ValueError):
            digits_split(**bad)


def test_digits_loaders_batches_and_repeatable_order():
    train, val = digits_loaders(batch_size=32, seed=0)
    xb, yb = next(iter(train))
    assert xb.shape == (32, 64) and yb.shape == (32,)
    again, _ = digits_loaders(batch_size=32, seed=0)
    assert torch.equal(next(iter(again))[1], yb)
    assert sum(len(b[0]) for b in val) == round(1797 * 0.2)


def test_make_spirals():
    x, y = make_spirals(n_per_class=50, n_classes=3, seed=0)
    assert x.shape == (150, 2) and y.shape == (150,)
    assert torch.bincount(y).tolist() == [50, 50, 50]
    assert torch.equal(x, make_spirals(n_per_class=50, n_classes=3, seed=0)[0])
    # the radii the docstring gives: evenly spaced from 0.05 to 1 within each class (noise moves only the angle)
    radii = x.norm(dim=1)
    for c in range(3):
        torch.testing.assert_close(radii[y == c], torch.linspace(0.05, 1.0, 50), rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        make_spirals(n_classes=1)


# --- plotting -----------------------------------------------------------------------------

def test_plot_helpers_draw_one_line_per_curve():
    ax = plot_curves({"train": [3, 2, 1], "val": [3, 2.5, 2]}, logy=True, title="t")
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert list(ax.lines[1].get_ydata()) == [3, 2.5, 2]
    ax2 = plot_per_layer({"he": [1.0, 0.9, 1.1]})
    assert list(ax2.lines[0].get_xdata()) == [1, 2, 3]


# --- training -----------------------------------------------------------------------------

def test_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        accuracy(logits, torch.tensor([0]))


def test_train_classifier_learns_digits():
    seed_everything(0)
    train, val = digits_loaders(batch_size=64, seed=0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    hist = train_classifier(model, train, val, epochs=3, lr=3e-3)
    assert len(hist) == 3
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["val_accuracy"] > 0.85
    assert not model.training


# --- testing helpers ----------------------------------------------------------------------

def test_assert_close_names_the_quantity():
    T.assert_close(torch.ones(2), torch.ones(2), what="ok")
    with pytest.raises(AssertionError, match="my output"):
        T.assert_close(torch.ones(2), torch.zeros(2), what="my output")
    with pytest.raises(AssertionError, match="expected a torch.Tensor"):
        T.assert_close([1.0], torch.ones(1), what="x")


def test_shape_raises_between_helpers():
    T.assert_shape(torch.ones(2, 3), (2, 3), what="t")
    with pytest.raises(AssertionError, match=r"\(3, 2\)"):
        T.assert_shape(torch.ones(2, 3), (3, 2), what="t")
    T.assert_raises(ValueError, int, "x", what="int('x')")
    with pytest.raises(AssertionError, match="nothing was raised"):
        T.assert_raises(ValueError, int, "1", what="int('1')")
    with pytest.raises(AssertionError, match="got KeyError"):
        T.assert_raises(ValueError, {}.__getitem__, "k", what="lookup")
    T.assert_between(0.5, 0, 1, what="p")
    with pytest.raises(AssertionError):
        T.assert_between(float("nan"), 0, 1, what="p")


def test_binomial_tolerance_matches_formula_and_covers_samples():
    assert T.binomial_tolerance(10_000, 0.5) == pytest.approx(5.3 * 0.005)
    with pytest.raises(ValueError):
        T.binomial_tolerance(0, 0.5)
    g = torch.Generator().manual_seed(0)
    tol = T.binomial_tolerance(100_000, 0.3)
    fracs = [(torch.rand(100_000, generator=g) < 0.3).float().mean().item() for _ in range(20)]
    assert all(abs(f - 0.3) <= tol for f in fracs)



# --- rules an exercise states: forbidden functions, Python floats, moved batches -----------

def test_forbidden_catches_a_function_however_it_is_reached():
    import torch.nn.functional as F
    from torch.nn.functional import linear as aliased

    x, w = torch.randn(3, 4), torch.randn(2, 4)
    for attempt in (lambda: F.linear(x, w), lambda: aliased(x, w), lambda: nn.Linear(4, 2)(x)):
        with pytest.raises(AssertionError, match="called torch.nn.functional.linear"):
            with T.forbidden(F.linear, what="linear_forward"):
                attempt()
    for attempt in (lambda: torch.sigmoid(x), lambda: x.sigmoid(), lambda: F.sigmoid(x)):
        with pytest.raises(AssertionError, match="sigmoid"):
            with T.forbidden(torch.sigmoid, what="sigmoid"):
                attempt()
    with T.forbidden(F.linear, torch.sigmoid, what="ok"):  # everything else still works
        y = 1 / (1 + torch.exp(-(x @ w.T)))
    torch.testing.assert_close(y, torch.sigmoid(F.linear(x, w)))


def test_forbidden_python_function_is_reported_even_when_the_error_is_swallowed():
    p = nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    with pytest.raises(AssertionError, match="clip_grad_norm_"):
        with T.forbidden(torch.nn.utils.clip_grad_norm_, what="clip_grad_norm"):
            from torch.nn.utils import clip_grad_norm_ as imported
            try:
                imported([p], 1.0)
            except Exception:  # noqa: BLE001 - a student's code may swallow errors; the helper still reports
                pass
    with T.forbidden(torch.nn.utils.clip_grad_norm_, what="clip_grad_norm"):
        torch.linalg.vector_norm(p.grad)  # the building blocks stay allowed


def test_assert_python_float_rejects_tensors_and_numpy_scalars():
    import numpy as np

    T.assert_python_float(0.5, what="loss")
    for bad in (torch.tensor(0.5), torch.tensor(0.5, requires_grad=True) * 1, np.float64(0.5), 1):
        with pytest.raises(AssertionError, match="expected a Python float"):
            T.assert_python_float(bad, what="loss")


def test_unmoved_batches_are_detected_until_moved():
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(torch.randn(10, 4), torch.arange(10)), batch_size=4)
    marked = T.unmoved_batches(loader)
    assert [len(y) for _, y in marked] == [4, 4, 2]
    x, y = next(iter(marked))
    torch.testing.assert_close(x.as_subclass(torch.Tensor), next(iter(loader))[0])
    with pytest.raises(AssertionError, match="without being moved"):
        T.assert_moved(nn.Linear(4, 2)(x.float()), what="model input")  # other ops keep the mark
    with pytest.raises(AssertionError):
        T.assert_moved(x.to(torch.float64), what="a dtype change is not a move")
    for moved in (x.to("cpu"), x.to(device=torch.device("cpu"), non_blocking=True), x.to(torch.zeros(1)),
                  move_to((x, y), "cpu")[0]):
        T.assert_moved(moved, what="moved")
        assert type(moved) is torch.Tensor


def test_helper_frames_are_hidden_from_tracebacks():
    import inspect

    for name in ("assert_close", "assert_shape", "assert_raises", "assert_between", "assert_python_float",
                 "assert_moved"):
        source = inspect.getsource(getattr(T, name))
        assert "__tracebackhide__ = True" in source, name
