# %% [markdown]
# # 38 · A feedforward network from scratch
#
# **Interview question:** *Write and train a feedforward network in PyTorch without `nn.Sequential`.*
#
# **After this notebook you can**
# - subclass `nn.Module`, call `super().__init__()`, and say what goes wrong without it;
# - explain why layers assigned as attributes are registered (they show up in `parameters()` and the
#   `state_dict`) while layers created inside `forward` are not;
# - initialise the layers explicitly (He for a ReLU layer, Xavier for the output layer);
# - write the training step in the right order, zero_grad → forward → loss → backward → step, and say
#   why each step sits where it does;
# - switch a model between `train()` and `eval()` and tell that apart from `torch.no_grad()`;
# - write the textbook variant with `BatchNorm1d`, a shuffled `DataLoader` and `AdamW`, and say what
#   BatchNorm adds to the `state_dict`.
#
# **Runs on a CPU in about 12 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math
import warnings

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import digits_loaders, digits_split, get_device, make_spirals, plot_curves, seed_everything
from course_utils.explorers import Knob, LossCurveExplorer, Task
from course_utils.testing import assert_between, assert_close, assert_shape, binomial_tolerance

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. A module registers what you assign to it
#
# An `nn.Module` is a container with three registries: its **parameters** (`nn.Parameter` tensors,
# trained by the optimizer), its **buffers** (tensors that are state but not trained, such as
# BatchNorm's running mean), and its **submodules**. You never fill them by hand. `nn.Module`
# overrides attribute assignment, so `self.fc1 = nn.Linear(4, 3)` files the layer under the name
# `fc1`, and from then on everything that walks the registries sees it:
#
# | call | what it walks |
# |---|---|
# | `model.parameters()`, `named_parameters()` | every parameter, recursively, each once (what the optimizer gets) |
# | `model.state_dict()` | parameters and buffers by dotted name, `"fc1.weight"` (what `torch.save` stores) |
# | `model.to(device)`, `.double()` | parameters and buffers |
# | `model.train()`, `model.eval()` | every submodule's `training` flag |
#
# The registries are created by `nn.Module.__init__`. That is why a subclass must call
# `super().__init__()` **before** it assigns its first layer.

# %%
class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()                                  # creates the registries
        self.fc1 = nn.Linear(4, 3)                          # a submodule: registered as "fc1"
        self.scale = nn.Parameter(torch.ones(3))            # a parameter: registered as "scale"
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))  # a buffer: state, not trained
        self.note = torch.zeros(3)                          # a plain tensor: NOT registered

    def forward(self, x):
        self.calls += 1
        return self.fc1(x) * self.scale


tiny = TinyNet()
print("parameters: ", [(name, tuple(p.shape)) for name, p in tiny.named_parameters()])
print("state_dict: ", list(tiny.state_dict()))
print("the plain tensor 'note' is in neither:", "note" not in tiny.state_dict())


class Forgetful(nn.Module):
    def __init__(self):
        self.fc1 = nn.Linear(4, 3)   # no super().__init__() first


try:
    Forgetful()
except AttributeError as err:
    print("without super().__init__():", err)

# %% [markdown]
# ## 2. Layers created inside `forward` are invisible
#
# A layer built inside `forward` is a fresh local variable on every call: new random weights each
# time, never registered, never seen by the optimizer, never saved. The same goes for layers kept in a
# plain Python list (`self.layers = [nn.Linear(...), ...]`): the registry only looks at attributes
# that *are* modules, and a list is not one. (`nn.ModuleList` and `nn.Sequential` exist to fix
# exactly that; in this notebook you will do without them and name each layer yourself.)

# %%
class Amnesiac(nn.Module):
    def forward(self, x):
        layer = nn.Linear(4, 3)      # created on every call
        return layer(x)


amnesiac = Amnesiac()
x = torch.ones(1, 4)
print("registered parameters:", len(list(amnesiac.parameters())))
print("same input, two calls:", [round(v, 3) for v in amnesiac(x)[0].tolist()], [round(v, 3) for v in amnesiac(x)[0].tolist()])
try:
    torch.optim.SGD(amnesiac.parameters(), lr=0.1)
except ValueError as err:
    print("the optimizer:", err)

# %% [markdown]
# ## 3. Initialise explicitly
#
# `nn.Linear` initialises itself with $W_{ij} \sim \mathcal{U}\!\left(\pm 1/\sqrt{n_\text{in}}\right)$,
# a weight variance of $1/(3\, n_\text{in})$. Writing the initialisation yourself makes the choice
# visible and lets it follow the activation (topic 05 derives both rules):
#
# - a layer followed by **ReLU**: He (Kaiming), a weight variance of $2/n_\text{in}$. ReLU zeroes half
#   of its inputs, and the factor 2 makes up for it, so the size of the activations stays the same
#   from layer to layer. `kaiming_normal_(w, nonlinearity="relu")` draws $\mathcal{N}(0,\, 2/n_\text{in})$;
#   `kaiming_uniform_(w, nonlinearity="relu")` draws $\mathcal{U}\!\left(\pm\sqrt{6/n_\text{in}}\right)$, the
#   same variance. Either is He initialisation (both use `mode="fan_in"` by default);
# - the **output** layer, which has no activation after it: Xavier (Glorot) uniform,
#   $W \sim \mathcal{U}\!\left(\pm\sqrt{6/(n_\text{in} + n_\text{out})}\right)$, a variance of
#   $2/(n_\text{in} + n_\text{out})$;
# - biases: zero.
#
# The functions in `torch.nn.init` work in place (their names end in `_`) and do not record anything
# for autograd.

# %%
layer = nn.Linear(256, 512)
print(f"PyTorch default: weight std {layer.weight.std():.4f}   (1/sqrt(3*256) = {1 / math.sqrt(3 * 256):.4f})")
nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
nn.init.zeros_(layer.bias)
print(f"He normal:       weight std {layer.weight.std():.4f}   (sqrt(2/256)    = {math.sqrt(2 / 256):.4f})")
nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
print(f"He uniform:      weight std {layer.weight.std():.4f}   largest |w| {layer.weight.abs().max():.4f} "
      f"(bound sqrt(6/256) = {math.sqrt(6 / 256):.4f})")

# %% [markdown]
# ## Exercise 1 · `FeedForwardNet` (graded)
#
# Write `FeedForwardNet(in_dim, hidden_dim, out_dim, dropout=0.0)`, a network with one hidden layer:
#
# $$
# \text{logits} = \mathrm{fc2}\big(\mathrm{dropout}(\mathrm{ReLU}(\mathrm{fc1}(x)))\big).
# $$
#
# - Subclass `nn.Module` and call `super().__init__()`.
# - Define the two layers as attributes named **`fc1`** (`nn.Linear(in_dim, hidden_dim)`) and **`fc2`**
#   (`nn.Linear(hidden_dim, out_dim)`), so that the `state_dict` keys are exactly `fc1.weight`,
#   `fc1.bias`, `fc2.weight`, `fc2.bias`. No `nn.Sequential`, `nn.ModuleList` or `nn.ModuleDict`.
# - Dropout with probability `dropout` acts on the hidden activations (after the ReLU, before `fc2`),
#   only in training mode. An `nn.Dropout` attribute or `F.dropout(h, p, training=self.training)` both
#   work. Call `self.fc2(...)` on the dropped-out activations (the tests watch what goes into it).
# - Initialise explicitly, in `__init__`: `fc1.weight` He (mean 0, variance 2 / `in_dim`:
#   `nn.init.kaiming_normal_` or `nn.init.kaiming_uniform_` with `nonlinearity="relu"`), `fc2.weight`
#   Xavier uniform (`nn.init.xavier_uniform_`), both biases zero.
# - `forward(x)` takes `(N, in_dim)` and returns logits `(N, out_dim)`: no activation on the output.

# %% nbgrader={"grade": false, "grade_id": "feedforward_net", "locked": false, "schema_version": 3, "solution": true, "task": false}
class FeedForwardNet(nn.Module):
    """in_dim -> hidden_dim (ReLU, dropout) -> out_dim logits, with layers ``fc1`` and ``fc2``."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, dropout: float = 0.0):
        ### BEGIN SOLUTION
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.kaiming_normal_(self.fc1.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.fc1.bias)
        nn.init.xavier_uniform_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_dim) -> logits (N, out_dim)."""
        ### BEGIN SOLUTION
        h = F.relu(self.fc1(x))
        h = self.dropout(h)
        return self.fc2(h)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_feedforward_structure", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Visible: an nn.Module whose state_dict keys are exactly fc1/fc2 weight and bias, and whose eval-mode
# output has the right shape and equals fc2(relu(fc1(x))) computed from those registered parameters.
model = FeedForwardNet(64, 32, 10, dropout=0.2)
assert isinstance(model, nn.Module), "FeedForwardNet must subclass nn.Module"
keys = set(model.state_dict())
expected_keys = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
assert keys == expected_keys, f"state_dict keys should be {sorted(expected_keys)}, got {sorted(keys)}"
model.eval()
x = torch.randn(5, 64, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    out = model(x)
    by_hand = F.linear(F.relu(F.linear(x, model.fc1.weight, model.fc1.bias)), model.fc2.weight, model.fc2.bias)
assert_shape(out, (5, 10), what="FeedForwardNet(64, 32, 10) output for a batch of 5")
assert_close(out, by_hand, rtol=1e-5, atol=1e-5,
             what="eval-mode output vs fc2(relu(fc1(x))) computed from the registered fc1/fc2 parameters")
### BEGIN HIDDEN TESTS
sd = model.state_dict()
for key, shape in {"fc1.weight": (32, 64), "fc1.bias": (32,), "fc2.weight": (10, 32), "fc2.bias": (10,)}.items():
    assert_shape(sd[key], shape, what=f"state_dict[{key!r}]")
# no containers: each layer is its own attribute
for name, m in model.named_modules():
    assert not isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)), \
        f"do not use nn.Sequential, nn.ModuleList or nn.ModuleDict (found {type(m).__name__} at {name!r})"
# parameters are registered: 4 tensors, the right count, and forward does not add or replace any
params_before = [p for p in model.parameters()]
assert len(params_before) == 4, f"expected 4 parameter tensors (fc1/fc2 weight and bias), got {len(params_before)}"
n_expected = 64 * 32 + 32 + 32 * 10 + 10
assert sum(p.numel() for p in params_before) == n_expected, f"expected {n_expected} parameters in all"
g = torch.Generator().manual_seed(1)
x = torch.randn(7, 64, generator=g)
with torch.no_grad():
    got = model(x)
params_after = [p for p in model.parameters()]
assert len(params_after) == 4 and all(a is b for a, b in zip(params_before, params_after)), \
    "calling forward must not create or replace parameters (define the layers in __init__)"
# in eval mode the output is fc2(relu(fc1(x))), computed from the registered parameters
manual = F.linear(F.relu(F.linear(x, model.fc1.weight, model.fc1.bias)), model.fc2.weight, model.fc2.bias)
assert_close(got, manual, rtol=1e-5, atol=1e-5,
             what="eval-mode output vs fc2(relu(fc1(x))) computed from the registered fc1/fc2 parameters")
# the optimizer sees the parameters: one SGD step on model.parameters() changes the output
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.5)
opt.zero_grad()
F.cross_entropy(model(x), torch.arange(7) % 10).backward()
for name, p in model.named_parameters():
    assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"
opt.step()
model.eval()
with torch.no_grad():
    assert not torch.allclose(model(x), got), "an optimizer step on model.parameters() did not change the model's output"
# other sizes, and dropout defaults to 0.0
small = FeedForwardNet(10, 7, 3)
assert_shape(small.eval()(torch.randn(4, 10, generator=g)), (4, 3), what="output of a second, smaller FeedForwardNet")
assert sum(p.numel() for p in small.parameters()) == 10 * 7 + 7 + 7 * 3 + 3, \
    "parameter count of a second, smaller FeedForwardNet (two weight matrices and two biases)"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_feedforward_init", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible: zero biases, fc1.weight with He's std sqrt(2 / in_dim), and fc2.weight inside Xavier's uniform
# bound sqrt(6 / (fan_in + fan_out)) with that distribution's std.
# Tolerances: 5.3 standard errors, so a correct initialisation fails less than once in a million runs.
# For n i.i.d. values with variance s² and kurtosis k = E[(w - mean)^4] / s^4, the sample variance has
# variance about (k - 1) s^4 / n, so the sample std has a relative standard error of about
# sqrt((k - 1) / (4 n)): sqrt(1 / (2 n)) for a normal (k = 3), sqrt(0.2 / n) for a uniform (k = 9/5).
model = FeedForwardNet(256, 512, 128)
assert torch.all(model.fc1.bias == 0) and torch.all(model.fc2.bias == 0), "both biases should be initialised to zero"
w = model.fc1.weight.detach()
se = math.sqrt(1 / (2 * w.numel()))  # a uniform He draw has a smaller standard error, so this covers both
assert_between(w.std().item(), math.sqrt(2 / 256) * (1 - 5.3 * se), math.sqrt(2 / 256) * (1 + 5.3 * se),
               what="std of fc1.weight for FeedForwardNet(256, 512, 128) (He: sqrt(2 / in_dim))")
w = model.fc2.weight.detach()
bound = math.sqrt(6 / (512 + 128))
assert w.abs().max().item() <= bound * (1 + 1e-6), \
    f"fc2.weight should lie inside Xavier's uniform bound sqrt(6 / (512 + 128)) = {bound:.4f}"
se = math.sqrt(0.2 / w.numel())
assert_between(w.std().item(), bound / math.sqrt(3) * (1 - 5.3 * se), bound / math.sqrt(3) * (1 + 5.3 * se),
               what="std of fc2.weight (Xavier uniform: sqrt(2 / (fan_in + fan_out)))")
### BEGIN HIDDEN TESTS
w1 = model.fc1.weight.detach()
std1 = math.sqrt(2 / 256)
assert_between(w1.mean().item(), -5.3 * std1 / math.sqrt(w1.numel()), 5.3 * std1 / math.sqrt(w1.numel()),
               what="mean of fc1.weight (He: mean 0)")
w2 = model.fc2.weight.detach()
assert w2.abs().max().item() >= 0.99 * math.sqrt(6 / (512 + 128)), \
    "fc2.weight should fill its Xavier uniform range (a uniform draw up to the bound)"
# other shapes, so fan_in and fan_out cannot be swapped unnoticed
m2 = FeedForwardNet(1024, 128, 64)
w = m2.fc1.weight.detach()
s = math.sqrt(2 / 1024)
se = math.sqrt(1 / (2 * w.numel()))
assert_between(w.std().item(), s * (1 - 5.3 * se), s * (1 + 5.3 * se),
               what="std of fc1.weight for a wide input (He uses fan_in, the number of inputs)")
w = m2.fc2.weight.detach()
bound = math.sqrt(6 / (128 + 64))
se = math.sqrt(0.2 / w.numel())
assert w.abs().max().item() <= bound * (1 + 1e-6), "fc2.weight for a second shape lies outside Xavier's uniform bound"
assert_between(w.std().item(), bound / math.sqrt(3) * (1 - 5.3 * se), bound / math.sqrt(3) * (1 + 5.3 * se),
               what="std of fc2.weight for a second shape (Xavier uniform: sqrt(2 / (fan_in + fan_out)))")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_feedforward_dropout", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Dropout acts in train mode only, on the hidden activations.
model = FeedForwardNet(20, 2000, 5, dropout=0.5)
x = torch.randn(4, 20, generator=torch.Generator().manual_seed(2))
model.eval()
assert torch.equal(model(x), model(x)), "in eval mode the output must be deterministic (dropout off)"
model.train()
assert not torch.equal(model(x), model(x)), "in train mode with dropout=0.5 two forward passes should differ"
### BEGIN HIDDEN TESTS
# dropout=0: train and eval give the same output
m0 = FeedForwardNet(20, 50, 5, dropout=0.0)
assert_close(m0.train()(x), m0.eval()(x), rtol=1e-6, atol=1e-6, what="dropout=0: train-mode vs eval-mode output")
# watch what enters fc2: a fraction p of the positive hidden units is zeroed, the rest scaled by 1/(1-p)
for rate, p in (("a low", 0.2), ("a high", 0.7)):
    m = FeedForwardNet(20, 2000, 5, dropout=p)
    seen = []
    handle = m.fc2.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    try:
        with torch.no_grad():
            m.eval()(x)
            m.train()(x)
    finally:
        handle.remove()
    assert len(seen) == 2, "forward should call self.fc2(...) on the hidden activations exactly once"
    h_eval, h_train = seen
    alive = h_eval > 0
    n_alive = int(alive.sum())
    frac = (h_train[alive] == 0).float().mean().item()
    tol = binomial_tolerance(n_alive, p)  # a correct answer falls outside this less than once in a million runs
    assert_between(frac, p - tol, p + tol, what=f"fraction of active hidden units dropped at {rate} dropout rate")
    kept = alive & (h_train != 0)
    assert_close(h_train[kept], h_eval[kept] / (1 - p), rtol=1e-5, atol=1e-6,
                 what=f"surviving hidden units at {rate} dropout rate (expected h / (1 - p))")
    assert torch.equal(h_train[~alive], torch.zeros_like(h_train[~alive])), \
        "hidden units that ReLU zeroed must stay zero: dropout goes after the ReLU"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The training step, in order
#
# Every iteration of a training loop does the same five things:
#
# ```python
# optimizer.zero_grad()               # 1. forget the previous batch's gradients
# logits = model(xb)                  # 2. forward: builds the graph
# loss = F.cross_entropy(logits, yb)  # 3. a scalar loss
# loss.backward()                     # 4. fills p.grad for every parameter
# optimizer.step()                    # 5. updates every parameter from its p.grad
# ```
#
# The order is forced by what each call reads. `step()` reads `p.grad`, so it must come after
# `backward()`. `backward()` **adds** into `p.grad` instead of overwriting it (that makes gradient
# accumulation over several small batches possible), so the gradients of the previous batch must be
# cleared first; calling `zero_grad()` at the end of each iteration works as well. Forget it and
# every update uses the sum of all the gradients so far:

# %%
w = torch.tensor([1.0, 2.0], requires_grad=True)
for i in range(3):
    loss = (w ** 2).sum()        # d loss / d w = 2 w = [2, 4] every time
    loss.backward()
    print(f"after backward #{i + 1}: w.grad = {w.grad.tolist()}")

# %% [markdown]
# ## 5. `train()` and `eval()`, and how they differ from `torch.no_grad()`
#
# `model.train()` and `model.eval()` set the `training` flag of the model and of every submodule.
# Only layers that behave differently in the two phases read it: dropout (on in training, off in
# evaluation) and batch normalisation (batch statistics in training, running statistics in evaluation).
# The flag has nothing to do with gradients. `torch.no_grad()` is the other switch: it stops autograd
# from recording the graph, which saves memory and time, and it leaves dropout alone. Validation needs
# **both**.

# %%
net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
xv = torch.ones(1, 3)
net.eval()
print("eval():           dropout child training =", net[1].training, "| output requires grad:", net(xv).requires_grad)
with torch.no_grad():
    net.train()
    print("no_grad + train(): dropout child training =", net[1].training, "| output requires grad:", net(xv).requires_grad)

# %% [markdown]
# ## Exercise 2 · `train_model` (graded)
#
# Write `train_model(model, train_loader, val_loader, *, epochs=5, lr=1e-2, device="cpu")`. It
# returns a **list with one dict per epoch**, `{"train_loss", "val_loss", "val_accuracy"}` (Python
# floats), and leaves the model in eval mode:
#
# - move the model to `device` and create `torch.optim.Adam(model.parameters(), lr=lr)`;
#   the loss is cross-entropy, `F.cross_entropy(logits, y)` (a mean over the batch);
# - each epoch, first `model.train()`; then for every batch: move `x` and `y` to `device`
#   (`xb.to(device)`; the tests hand you batches that notice whether they were moved, even on the CPU),
#   then zero_grad → forward → loss → backward → step;
# - `train_loss` is the average loss **per example** over the epoch: weight each batch's mean loss by
#   its size, then divide by the number of examples (the last batch may be smaller). Accumulate
#   `loss.item()`, a plain number: summing the loss tensors would keep every batch's graph alive;
# - then `model.eval()` and, under `torch.no_grad()`, run the whole `val_loader` (its batches moved to
#   `device` too): `val_loss` is the per-example mean cross-entropy and `val_accuracy` the fraction of
#   examples whose arg-max logit is the label;
# - every value in the history is a Python `float` (`.item()`, `float(...)`, or `int / int`), not a tensor.
#
# Do not call `course_utils.train_classifier`: it is the course's own loop, for later notebooks, and the
# tests make it fail while your function runs.

# %% nbgrader={"grade": false, "grade_id": "train_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_model(model: nn.Module, train_loader, val_loader, *, epochs: int = 5, lr: float = 1e-2,
                device: torch.device | str = "cpu") -> list[dict[str, float]]:
    """Adam + cross-entropy for ``epochs`` epochs; one {"train_loss", "val_loss", "val_accuracy"} per epoch."""
    ### BEGIN SOLUTION
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        model.train()
        total, n = 0.0, 0
        for xb, yb in train_loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
            n += len(xb)
        model.eval()
        val_total, correct, n_val = 0.0, 0, 0
        with torch.no_grad():
            for xb, yb in val_loader:
                xb, yb = xb.to(device), yb.to(device)
                logits = model(xb)
                val_total += F.cross_entropy(logits, yb, reduction="sum").item()
                correct += (logits.argmax(dim=1) == yb).sum().item()
                n_val += len(xb)
        history.append({"train_loss": total / n, "val_loss": val_total / n_val, "val_accuracy": correct / n_val})
    return history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_train_model_learns", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Visible: train_model trains an MLP on the digits and returns one dict per epoch whose values are Python
# floats, with a falling training loss. The loaders hand out batches that notice whether they were moved:
# the first layer and the loss below fail on a batch that never went through .to(device), and
# course_utils.train_classifier fails while train_model runs.
from torch.overrides import TorchFunctionMode

from course_utils import train_classifier
from course_utils.testing import assert_moved, assert_python_float, forbidden, unmoved_batches


class CheckedLinear(nn.Linear):
    """nn.Linear that fails when its input is a batch that was never moved to `device`."""

    def forward(self, h):
        assert_moved(h, what="train_model: the input x")
        return super().forward(h)


class TargetsMoved(TorchFunctionMode):
    """Makes F.cross_entropy (and nn.CrossEntropyLoss) fail on targets that were never moved to `device`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (F.cross_entropy, F.nll_loss):
            assert_moved(args[1] if len(args) > 1 else kwargs.get("target"), what="train_model: the targets y")
        return func(*args, **kwargs)


def run_train_model(model, train_loader, val_loader, **kwargs):
    """Your train_model on marked loaders, with train_classifier switched off."""
    with warnings.catch_warnings():  # a harmless warning from your code must not cost points
        warnings.simplefilter("ignore")
        with forbidden(train_classifier, what="train_model"), TargetsMoved():
            return train_model(model, unmoved_batches(train_loader), unmoved_batches(val_loader), **kwargs)


torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64, seed=0)
reference = nn.Sequential(CheckedLinear(64, 64), nn.ReLU(), nn.Linear(64, 10))
history = run_train_model(reference, train_loader, val_loader, epochs=5, lr=1e-2, device="cpu")
assert isinstance(history, list) and len(history) == 5, f"expected a list of 5 dicts (one per epoch), got {history!r}"
for epoch in history:
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert key in epoch, f"each epoch's dict needs the key {key!r}; got {sorted(epoch)}"
        assert_python_float(epoch[key], what=f"history entry {key!r}")
assert history[-1]["train_loss"] < history[0]["train_loss"], "the training loss should go down over the epochs"
### BEGIN HIDDEN TESTS
assert not reference.training, "train_model should leave the model in eval mode"
# the test measures the validation set itself (the model does not change after the last validation)
with torch.no_grad():
    xs, ys = zip(*val_loader)
    logits = reference(torch.cat(xs))
    y_val = torch.cat(ys)
acc = (logits.argmax(dim=1) == y_val).float().mean().item()
assert acc >= 0.90, f"a 64-64-10 MLP trained for 5 epochs with Adam(lr=1e-2) should reach >= 90% validation accuracy, got {acc:.3f}"
assert_close(history[-1]["val_accuracy"], acc, rtol=0, atol=1e-6,
             what="history[-1]['val_accuracy'] (fraction correct on val_loader)")
assert_close(history[-1]["val_loss"], F.cross_entropy(logits, y_val).item(), rtol=1e-5, atol=1e-6,
             what="history[-1]['val_loss'] (mean cross-entropy per validation example)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_train_model_mechanics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The mechanics, checked with a spy model and lr=0 (so the weights stay put and every number is predictable).
# Visible: training batches run in train mode with autograd on, validation batches under torch.no_grad(),
# and every batch is moved to `device` first (the spy and the loss fail on a batch that never went
# through .to(device)). The hidden tests also check eval mode in validation, zero_grad and the numbers.
from torch.overrides import TorchFunctionMode

from course_utils.testing import assert_moved, assert_python_float, unmoved_batches


class TargetsMoved(TorchFunctionMode):
    """Makes F.cross_entropy (and nn.CrossEntropyLoss) fail on targets that were never moved to `device`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (F.cross_entropy, F.nll_loss):
            assert_moved(args[1] if len(args) > 1 else kwargs.get("target"), what="train_model: the targets y")
        return func(*args, **kwargs)


class Spy(nn.Module):
    """A linear classifier that records, at each call, which data it saw, its mode, and whether autograd was on."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 3)
        self.calls = []

    def forward(self, x):
        assert_moved(x, what="train_model: the input x")
        source = "val" if bool(x[0, -1] > 0.5) else "train"  # the last feature marks the data set
        self.calls.append((source, self.training, torch.is_grad_enabled()))
        return self.lin(x)


g = torch.Generator().manual_seed(3)
x_tr = torch.randn(50, 5, generator=g)
x_tr[:, -1] = 0.0
y_tr = torch.randint(0, 3, (50,), generator=g)
x_va = torch.randn(20, 5, generator=g)
x_va[:, -1] = 1.0
y_va = torch.randint(0, 3, (20,), generator=g)
spy_train = DataLoader(TensorDataset(x_tr, y_tr), batch_size=16, shuffle=False)  # batches of 16, 16, 16, 2
spy_val = DataLoader(TensorDataset(x_va, y_va), batch_size=8, shuffle=False)
spy = Spy().eval()  # handed over in eval mode: train_model must switch it to train mode itself
with warnings.catch_warnings():  # a harmless warning from your code must not cost points
    warnings.simplefilter("ignore")
    with TargetsMoved():
        hist = train_model(spy, unmoved_batches(spy_train), unmoved_batches(spy_val), epochs=2, lr=0.0, device="cpu")
assert len(hist) == 2, f"epochs=2 should give 2 entries, got {len(hist)}"
graded = [c for c in spy.calls if c[2]]  # forward passes with autograd on
assert graded and all(src == "train" for src, _, _ in graded), \
    "validation forward passes must run under torch.no_grad() (found one with autograd on)"
assert all(training for _, training, _ in graded), "training batches must run in train mode: call model.train() every epoch"
### BEGIN HIDDEN TESTS
assert len(graded) == 2 * 4, f"2 epochs of 4 training batches should give 8 forward passes with autograd on, got {len(graded)}"
val_calls = [c for c in spy.calls if c[0] == "val"]
assert len(val_calls) >= 2 * 3, "the whole val_loader (3 batches) should be evaluated every epoch"
assert all(not training for _, training, _ in val_calls), "validation must run in eval mode: call model.eval()"
assert not spy.training, "train_model should leave the model in eval mode"
# the numbers: with lr=0 the model never changes, so every epoch measures the same fixed model
with torch.no_grad():
    full_train_loss = F.cross_entropy(spy.lin(x_tr), y_tr).item()
    val_logits = spy.lin(x_va)

for epoch in hist:
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert_python_float(epoch[key], what=f"history entry {key!r}")
    assert_close(epoch["train_loss"], full_train_loss, rtol=1e-5, atol=1e-6,
                 what="train_loss (per-example mean over the epoch: weight each batch's loss by its size)")
    assert_close(epoch["val_loss"], F.cross_entropy(val_logits, y_va).item(), rtol=1e-5, atol=1e-6,
                 what="val_loss (per-example mean over the validation set)")
    assert_close(epoch["val_accuracy"], (val_logits.argmax(1) == y_va).float().mean().item(), rtol=0, atol=1e-6,
                 what="val_accuracy")
# zero_grad: what is left in .grad is the last batch's gradient (or nothing, if cleared after step)
last_x, last_y = x_tr[48:], y_tr[48:]
ref_lin = nn.Linear(5, 3)
ref_lin.load_state_dict(spy.lin.state_dict())
F.cross_entropy(ref_lin(last_x), last_y).backward()
for name in ("weight", "bias"):
    got = getattr(spy.lin, name).grad
    want = getattr(ref_lin, name).grad
    if got is not None and got.abs().sum() > 0:
        assert_close(got, want, rtol=1e-5, atol=1e-7,
                     what=f"lin.{name}.grad after training (expected the last batch's gradient alone: "
                          "call optimizer.zero_grad() before each backward)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_feedforward_trains", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Your network, trained by your loop, on the digits: the reported validation accuracy is at least 0.90.
# (The hidden test measures it again on the validation set.)
train_loader, val_loader = digits_loaders(batch_size=64, seed=0)
model = FeedForwardNet(64, 128, 10, dropout=0.1)
with warnings.catch_warnings():  # a harmless warning from your code must not cost points
    warnings.simplefilter("ignore")
    history = train_model(model, train_loader, val_loader, epochs=5, lr=1e-2, device="cpu")
reported = float(history[-1]["val_accuracy"])
print(f"validation accuracy after 5 epochs: {reported:.3f}")
assert reported >= 0.90, f"FeedForwardNet(64, 128, 10) trained by train_model should reach 0.90 validation accuracy, got {reported:.3f}"
### BEGIN HIDDEN TESTS
model.eval()
with torch.no_grad():
    xs, ys = zip(*val_loader)
    acc = (model(torch.cat(xs)).argmax(dim=1) == torch.cat(ys)).float().mean().item()
# a correct answer reaches about 0.96-0.97 for any seed; 0.90 leaves a wide margin
assert acc >= 0.90, f"FeedForwardNet(64, 128, 10) trained with train_model should reach >= 0.90 validation accuracy, got {acc:.3f}"
### END HIDDEN TESTS

# %% [markdown]
# Your two pieces together, on whatever device this machine has, for a few more epochs. The curves are
# per epoch. The training loss is averaged over the epoch while the weights were still changing, and
# measured with dropout on, so it is not directly comparable to the validation loss.

# %%
seed_everything(0)
train_loader, val_loader = digits_loaders(batch_size=64, seed=0)
model = FeedForwardNet(64, 128, 10, dropout=0.2)
history = train_model(model, train_loader, val_loader, epochs=10, lr=1e-2, device=device)
print(f"final: train loss {history[-1]['train_loss']:.3f}, val loss {history[-1]['val_loss']:.3f}, "
      f"val accuracy {history[-1]['val_accuracy']:.3f}")
plot_curves({"train": [h["train_loss"] for h in history], "validation": [h["val_loss"] for h in history]},
            xlabel="epoch", ylabel="cross-entropy (nats)", title="FeedForwardNet on the digits", logy=True);

# %% [markdown]
# ## 6. The textbook recipe: BatchNorm, a shuffled `DataLoader`, AdamW
#
# The version of this network you will most often be asked to write adds a `BatchNorm1d` between
# `fc1` and the ReLU: fc1 → BatchNorm1d → ReLU → Dropout → fc2, returning logits. Four details:
#
# - **BatchNorm registers buffers** (`running_mean`, `running_var`, `num_batches_tracked`): they are
#   in the `state_dict` and move with `.to(device)`, but they are not parameters, so the optimizer
#   never sees them. Like dropout, BatchNorm reads the `training` flag, so the mode switches matter
#   twice. (`fc1`'s bias is now redundant: BatchNorm subtracts the mean, bias included, and its own
#   shift takes over; `bias=False` is common.)
# - **Data.** Tensors in memory become a `TensorDataset(x, y)`, and `DataLoader(dataset, batch_size=64,
#   shuffle=True)` draws a new order every epoch; a `torch.Generator` passed as `generator=` makes that
#   order repeatable.
# - **Two classes, two logits.** `nn.CrossEntropyLoss` on 2 logits is binary logistic regression on
#   their difference: the softmax of $(z_0, z_1)$ gives class 1 the probability $\sigma(z_1 - z_0)$.
# - **Optimizer.** `torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)`: Adam with the
#   weight decay applied to the weights directly instead of added to the gradient (topic 07). Build it
#   **after** `model.to(device)`: it keeps references to the parameter tensors. `Module.to` happens to
#   move them in place, so the other order usually works, but anything that replaces a parameter
#   leaves the optimizer updating a tensor the model no longer uses.
#
# The loop is the training half of your `train_model`, with AdamW, an `nn.CrossEntropyLoss` module and
# one more line, `clip_grad_norm_` between `backward()` and `step()` (topic 31); the data are two
# interleaved spirals, and the validation accuracy is measured every 10 epochs.

# %%
class FeedForwardBN(nn.Module):
    """fc1 -> BatchNorm1d -> ReLU -> Dropout -> fc2, returning logits."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, dropout: float = 0.1):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.bn = nn.BatchNorm1d(hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc1.bias)
        nn.init.xavier_uniform_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.bn(self.fc1(x)))))


x, y = make_spirals(n_per_class=300, n_classes=2, noise=0.1, turns=0.75, seed=0)
order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
x, y = x[order], y[order]
x_val, y_val = x[480:].to(device), y[480:].to(device)
loader = DataLoader(TensorDataset(x[:480], y[:480]), batch_size=64, shuffle=True,
                    generator=torch.Generator().manual_seed(0))

model = FeedForwardBN(2, 128, 2).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)  # after .to(device)
loss_fn = nn.CrossEntropyLoss()
print("parameters:", [name for name, _ in model.named_parameters()])
print("state_dict:", list(model.state_dict()))

for epoch in range(30):
    model.train()
    total, n = 0.0, 0
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        total += loss.item() * len(yb)
        n += len(yb)
    if epoch % 10 == 9:
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(dim=1) == y_val).float().mean().item()
        print(f"epoch {epoch + 1:2d}: train loss {total / n:.3f}, validation accuracy {accuracy:.3f}")

# %% [markdown]
# ## Explorer
#
# Hidden width and learning rate. Each move trains *your* `FeedForwardNet` (no dropout) for 150 Adam
# steps on the digits, through the course's explorer core, and redraws the training loss per step and the
# validation loss every 15 steps; earlier runs stay on the plot, faded.

# %%
digits = tuple(digits_split(seed=0))  # (x_train, y_train, x_val, y_val), standardized
feedforward_task = Task(
    # the name carries the class's id: redefine FeedForwardNet and the explorer retrains instead of reusing cached runs
    name=f"feedforward_net_{id(FeedForwardNet):x}",
    build_model=lambda cfg: FeedForwardNet(64, cfg["hidden_dim"], 10, cfg["dropout"]),
    build_data=lambda cfg: digits,
    defaults={"hidden_dim": 64, "dropout": 0.0, "steps": 150, "eval_every": 15},
    data_keys=(),
)
LossCurveExplorer(
    feedforward_task,
    knobs=[
        Knob("hidden_dim", lambda: widgets.SelectionSlider(
            options=[2, 4, 8, 16, 32, 64, 128, 256, 512], value=64, description="hidden_dim",
            continuous_update=False)),
        Knob.log_slider("lr", 1e-4, 1.0, 1e-2, description="learning rate"),
    ],
    logy=True,
    prompt="Where between 1e-4 and 1 does the learning rate stop helping and start hurting?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
# - Learning rate from 1e-4 up to 1 at width 64: which settings crawl, which converge, and which
#   bounce or blow up? Is the best rate the largest one that does not blow up?
# - Width 2 versus width 512 at the same rate: how does the width change the loss floor, and how
#   the speed of the first 20 steps?
# - Do wider networks tolerate a larger learning rate with Adam, or a smaller one?

# %% [markdown]
# ## Drill (graded)
#
# 1. `drill_n_params`: the number of parameters of `FeedForwardNet(64, 128, 10)`.
# 2. `drill_state_dict_entries`: the number of entries in its `state_dict` (a dropout layer has none).
# 3. `drill_optimizer_steps`: how many times `optimizer.step()` runs in `train_model` for 5 epochs over
#    the 1,438 training digits with `batch_size=64` (the last, smaller batch is kept).
# 4. `drill_mlp_params`: the number of parameters of an MLP 20 → 64 → 64 → 3 (three `nn.Linear` layers,
#    with biases).
# 5. `drill_bn_state_dict_entries`: the number of entries in the `state_dict` of section 6's
#    `FeedForwardBN(2, 128, 2)`.

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_n_params = 9_610
drill_state_dict_entries = 4
drill_optimizer_steps = 115
drill_mlp_params = 5_699
drill_bn_state_dict_entries = 9
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible: every answer is a number. The hidden tests check the values.
for name in ("drill_n_params", "drill_state_dict_entries", "drill_optimizer_steps", "drill_mlp_params",
             "drill_bn_state_dict_entries"):
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
### BEGIN HIDDEN TESTS
assert abs(drill_n_params - 9610) < 1e-6, "drill_n_params is not right: count both weight matrices and both biases"
assert abs(drill_state_dict_entries - 4) < 1e-6, \
    "drill_state_dict_entries is not right: one entry per registered parameter or buffer, and dropout has neither"
assert abs(drill_optimizer_steps - 115) < 1e-6, \
    "drill_optimizer_steps is not right: one step per batch, the last, smaller batch included, in every epoch"
assert abs(drill_mlp_params - 5699) < 1e-6, \
    "drill_mlp_params is not right: each layer has in_features * out_features weights plus out_features biases"
assert abs(drill_bn_state_dict_entries - 9) < 1e-6, \
    "drill_bn_state_dict_entries is not right: BatchNorm adds two parameters and three buffers to the two linear layers"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A colleague's model keeps its hidden layers in a plain Python list,
# `self.layers = [nn.Linear(256, 256) for _ in range(4)]`, plus an output layer `self.head`. Training
# runs without an error, but the validation accuracy is poor and the saved checkpoint is tiny. What is
# going on, and how do you fix it? Name two other mistakes with the same symptom.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# `nn.Module` only registers attributes that are themselves modules, parameters or buffers; a Python
# list is none of them, so the four hidden layers are invisible. `model.parameters()` yields only the
# head's weights, so the optimizer never updates the hidden layers (they stay at their random
# initialisation and act as a fixed random feature map), `state_dict()` saves only the head, and
# `model.to("cuda")` would leave the hidden layers on the CPU. The fix is `nn.ModuleList` (or one named
# attribute per layer). The same symptom comes from creating layers inside `forward`, from storing a
# weight as a plain tensor instead of an `nn.Parameter`, and from building the optimizer from a
# different model instance, or before replacing a layer, than the one being trained.

# %% [markdown]
# **Q2.** What is the difference between `model.eval()` and `torch.no_grad()`? Which do you need during
# validation, and what goes wrong if you forget either one?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# `model.eval()` sets every submodule's `training` flag to False, which changes what layers *compute*:
# dropout becomes the identity and BatchNorm uses its running statistics instead of the batch's.
# `torch.no_grad()` changes nothing about the computation; it stops autograd from recording the graph,
# saving the memory of stored activations and some time. Validation needs both. Without `eval()` the
# metrics are noisy and biased (random dropout masks, batch-dependent normalisation, and BatchNorm's
# running statistics get updated with validation data). Without `no_grad()` the numbers are right
# but memory grows with the whole graph, which can run out of memory on large batches. And remember to
# call `model.train()` again before the next training epoch.
