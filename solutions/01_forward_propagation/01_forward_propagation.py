# %% [markdown]
# # 01 · Forward propagation
#
# **Interview question:** *What does a neural network compute, and how does the forward pass work mathematically?*
#
# **After this notebook you can**
# - write one layer, $h = \sigma(Wx + b)$, and a whole multilayer perceptron (MLP) with plain tensor algebra, and match `nn.Linear` and `nn.Sequential` to float precision;
# - explain why PyTorch stores a weight as (out, in) and computes $X W^\top + b$ for a batch;
# - show that stacked layers without an activation collapse into a single linear map;
# - count the parameters of a network by hand and in code (a `Linear(768, 10)` has 7,690);
# - say what autograd records while the forward pass runs;
# - explain why depth can be exponentially more efficient than width, by counting the linear pieces of a ReLU network;
# - write a model as an `nn.Module` subclass and call it the right way.
#
# **Runs on a CPU in about 12 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import operator

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_split, get_device, make_spirals, seed_everything
from course_utils.explorers import GridPanel, Knob, LossCurveExplorer, run, spirals_task
from course_utils.testing import assert_close, assert_shape, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. One layer
#
# A fully connected layer maps an input vector $x \in \mathbb{R}^{n_\text{in}}$ to
# $n_\text{out}$ numbers. Each output unit $j$ takes a weighted sum of all inputs, adds its own
# offset, and passes the result through a fixed nonlinearity $\sigma$:
#
# $$
# z_j = \sum_{i=1}^{n_\text{in}} W_{ji}\, x_i + b_j, \qquad h_j = \sigma(z_j),
# \qquad\text{in matrix form}\qquad z = W x + b,\quad h = \sigma(z),
# $$
#
# with $W \in \mathbb{R}^{n_\text{out} \times n_\text{in}}$ and $b \in \mathbb{R}^{n_\text{out}}$.
# Row $j$ of $W$ holds the weights of unit $j$. The $z$ values are called *pre-activations*.
#
# In practice we push a whole **batch** of $N$ inputs through at once. Stack them as the rows of
# $X \in \mathbb{R}^{N \times n_\text{in}}$; then row $n$ of the result must be $W x_n + b$. Transposing
# turns the column $W x_n$ into the row $x_n^\top W^\top$, so the whole batch is one matrix product:
#
# $$
# Z = X W^\top + b \in \mathbb{R}^{N \times n_\text{out}},
# $$
#
# where $b$ is added to every row (broadcasting). This is exactly what `nn.Linear(in_features, out_features)`
# does: its `weight` has shape **(out, in)**, the same $W$ as in the maths, and its forward is
# `x @ weight.T + bias`. The transpose costs nothing: `.T` returns a view with swapped strides,
# and the matrix-multiply routine reads it directly.

# %%
layer = nn.Linear(3, 2).to(device)  # in_features=3, out_features=2
print("weight shape (out, in):", tuple(layer.weight.shape), "  bias shape:", tuple(layer.bias.shape))

X = torch.randn(4, 3, device=device)  # a batch of N=4 inputs, one per row
Z_manual = X @ layer.weight.T + layer.bias
print("output shape:", tuple(layer(X).shape))
print("X W^T + b matches nn.Linear:", torch.allclose(Z_manual, layer(X), atol=1e-6))
# one input at a time, the textbook way: W x + b
print("W x_0 + b equals row 0:", torch.allclose(layer.weight @ X[0] + layer.bias, Z_manual[0], atol=1e-6))
print("nn.Linear also accepts a single vector of shape (in,):", tuple(layer(X[0]).shape))

# %% [markdown]
# ## Exercise 1 · `linear_forward` (graded)
#
# Write `linear_forward(x, W, b)` with plain tensor algebra, so that it gives what `nn.Linear`
# gives when it carries the same `W` and `b`:
#
# - `W` has shape `(out, in)`, PyTorch's layout; `b` has shape `(out,)`, or is `None` for a layer
#   without a bias (like `nn.Linear(in, out, bias=False)`);
# - `x` has shape `(..., in)`: a single vector `(in,)`, a batch `(N, in)`, or more leading
#   dimensions such as `(B, T, in)`. The result has shape `(..., out)`, exactly like `nn.Linear`;
# - keep the dtype of the inputs and stay on autograd's graph (no `.detach()`, no `.item()`), so
#   gradients reach `x`, `W` and `b`.
#
# The `@` operator (`torch.matmul`) already treats the leading dimensions as batch dimensions;
# `torch.einsum` works too. Do not call `F.linear` or `nn.Linear` (the tests switch `F.linear`, which
# `nn.Linear` calls, off while your function runs): the point is to see that a layer is one matrix
# product and one addition.

# %% nbgrader={"grade": false, "grade_id": "linear_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def linear_forward(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Affine map x W^T + b over the last dimension of ``x``; W is (out, in), b is (out,) or None."""
    ### BEGIN SOLUTION
    out = x @ W.T
    if b is not None:
        out = out + b
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_linear_forward_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A (4, 5) batch, computed with F.linear switched off: the shape (4, 3) and the same numbers as nn.Linear
# carrying the same W and b.
def without_F_linear(fn, *args):
    """fn(*args) with F.linear, which nn.Linear calls, switched off while it runs."""
    with forbidden(F.linear, what=fn.__name__):
        return fn(*args)


g = torch.Generator().manual_seed(0)
ref = nn.Linear(5, 3)  # not square on purpose: W (3, 5) and its transpose cannot be confused
with torch.no_grad():
    ref.weight.copy_(torch.randn(3, 5, generator=g))
    ref.bias.copy_(torch.randn(3, generator=g))
x = torch.randn(4, 5, generator=g)
out = without_F_linear(linear_forward, x, ref.weight, ref.bias)
assert_shape(out, (4, 3), what="linear_forward of a (4, 5) batch with W of shape (3, 5)")
assert_close(out, ref(x), rtol=1e-5, atol=1e-6, what="linear_forward(x, W, b) vs nn.Linear")
### BEGIN HIDDEN TESTS
def check_linear(x, layer, what):
    """linear_forward(x, layer.weight, layer.bias), F.linear switched off, against the layer itself."""
    got = without_F_linear(linear_forward, x, layer.weight, layer.bias)
    assert_shape(got, (*x.shape[:-1], layer.out_features), what=f"{what} (expected shape (..., out))")
    assert got.dtype == x.dtype, f"{what}: {x.dtype} inputs gave a {got.dtype} output"
    rtol, atol = (1e-12, 1e-12) if x.dtype == torch.float64 else (1e-5, 1e-6)
    assert_close(got, layer(x), rtol=rtol, atol=atol, what=what)


# a single vector (in,) gives (out,); extra leading dimensions, e.g. (batch, time, features); a batch of one
check_linear(torch.randn(5, generator=g), ref, "linear_forward of a single vector")
check_linear(torch.randn(2, 6, 5, generator=g), ref, "linear_forward of a 3-D input")
check_linear(torch.randn(1, 5, generator=g), ref, "linear_forward of a batch of one")
# a square W, where forgetting the transpose gives wrong numbers instead of a shape error
sq = nn.Linear(4, 4)
with torch.no_grad():
    sq.weight.copy_(torch.randn(4, 4, generator=g))
    sq.bias.copy_(torch.randn(4, generator=g))
check_linear(torch.randn(7, 4, generator=g), sq, "linear_forward with a square W (x @ W.T, not x @ W)")
# no bias: b=None, like nn.Linear(..., bias=False)
check_linear(x, nn.Linear(5, 2, bias=False), "linear_forward(x, W, None) vs nn.Linear(..., bias=False)")
# float64 in, float64 out
check_linear(torch.randn(8, 5, dtype=torch.float64, generator=g), nn.Linear(5, 3).double(), "linear_forward in float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_linear_forward_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# A (6, 5) float64 batch, computed with F.linear switched off: the output stays on autograd's graph, and
# the gradients with respect to x, W and b equal those of F.linear.
def without_F_linear(fn, *args):
    """fn(*args) with F.linear, which nn.Linear calls, switched off while it runs."""
    with forbidden(F.linear, what=fn.__name__):
        return fn(*args)


g = torch.Generator().manual_seed(1)
x = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
W = torch.randn(3, 5, dtype=torch.float64, generator=g, requires_grad=True)
b = torch.randn(3, dtype=torch.float64, generator=g, requires_grad=True)
upstream = torch.randn(6, 3, dtype=torch.float64, generator=g)  # a random dL/d(out)
out = without_F_linear(linear_forward, x, W, b)
assert out.requires_grad, "the output must stay on autograd's graph (do not detach)"
grads = torch.autograd.grad((out * upstream).sum(), (x, W, b))
x_ref, W_ref, b_ref = (t.detach().clone().requires_grad_(True) for t in (x, W, b))
grads_ref = torch.autograd.grad((F.linear(x_ref, W_ref, b_ref) * upstream).sum(), (x_ref, W_ref, b_ref))
for name, got, want in zip(("x", "W", "b"), grads, grads_ref):
    assert_close(got, want, rtol=1e-10, atol=1e-12, what=f"gradient with respect to {name}")
### BEGIN HIDDEN TESTS
# a 3-D input, and no bias
x3 = torch.randn(2, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
up3 = torch.randn(2, 4, 3, dtype=torch.float64, generator=g)
for bias in (b, None):
    case = "with a bias" if bias is not None else "without a bias (b=None)"
    inputs = (x3, W) if bias is None else (x3, W, bias)
    got = torch.autograd.grad((without_F_linear(linear_forward, x3, W, bias) * up3).sum(), inputs)
    want = torch.autograd.grad((F.linear(x3, W, bias) * up3).sum(), inputs)
    for name, a, e in zip(("x", "W", "b"), got, want):
        assert_close(a, e, rtol=1e-10, atol=1e-12, what=f"gradient with respect to {name} for a 3-D input, {case}")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. A network is layers composed
#
# An MLP with $L$ layers applies one layer after another, feeding each layer's output to the next:
#
# $$
# h^{(0)} = x, \qquad
# h^{(\ell)} = \sigma\!\left(W^{(\ell)} h^{(\ell-1)} + b^{(\ell)}\right) \ \ (\ell = 1, \dots, L-1), \qquad
# \text{logits} = W^{(L)} h^{(L-1)} + b^{(L)} .
# $$
#
# The **last layer has no activation**. Its outputs, the *logits*, are raw scores: the loss
# (softmax cross-entropy for classification) or the caller turns them into probabilities. A ReLU
# there would clip every negative score to 0, and a sigmoid would squash them, which cripples the
# loss. For the shapes to fit, layer $\ell$'s weight is $(n_\ell, n_{\ell-1})$: its "in" size is
# the previous layer's "out" size.
#
# Here is a small digits classifier, 64 pixels → 32 → 16 → 10 classes, with the shape of the batch
# printed after every module:

# %%
digits = digits_split(seed=0)
batch = digits.x_train[:5].to(device)  # five standardized 8x8 digits, flattened to 64 numbers each

mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10)).to(device)
h = batch
print(f"{'input':<52} {tuple(h.shape)}")
for module in mlp:
    h = module(h)
    print(f"{str(module):<52} {tuple(h.shape)}")
print("logits of the first digit:", [round(v, 2) for v in h[0].tolist()])
print("predicted classes (untrained, so arbitrary):", h.argmax(dim=1).tolist(), " true:", digits.y_train[:5].tolist())

# %% [markdown]
# ## Exercise 2 · `mlp_forward` (graded)
#
# Write `mlp_forward(x, params, activation)`:
#
# - `params` is a **list of `(W, b)` pairs, first layer first**, each in the format of
#   `linear_forward` (`W` of shape `(out, in)`, `b` of shape `(out,)`). With one pair the network
#   is a single linear layer;
# - `activation` is any callable that maps a tensor to a tensor of the same shape: `torch.relu`,
#   `torch.tanh`, `F.gelu`, or a module instance such as `nn.ReLU()`. Apply it **between** layers,
#   after every layer except the last one, and never to the input;
# - return the logits, shape `(..., out of the last layer)`, for the same input shapes as
#   `linear_forward`.
#
# It must agree with an `nn.Sequential(Linear, act, Linear, act, ..., Linear)` that holds the same
# weights. Reuse your `linear_forward`: the rule of exercise 1 holds here too, no `F.linear` or
# `nn.Linear` (the tests switch `F.linear` off while your function runs).

# %% nbgrader={"grade": false, "grade_id": "mlp_forward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mlp_forward(x: torch.Tensor, params: list[tuple[torch.Tensor, torch.Tensor]], activation=torch.relu) -> torch.Tensor:
    """Logits of an MLP: ``activation`` between the layers in ``params``, none after the last."""
    ### BEGIN SOLUTION
    h = x
    for i, (W, b) in enumerate(params):
        h = linear_forward(h, W, b)
        if i < len(params) - 1:
            h = activation(h)
    return h
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_mlp_forward_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# One hidden layer (6 -> 8 -> 3, ReLU), computed with F.linear switched off: the shape (10, 3), the same
# logits as nn.Sequential carrying the same weights, and some negative logits (no activation after the last layer).
def without_F_linear(fn, *args):
    """fn(*args) with F.linear, which nn.Linear calls, switched off while it runs."""
    with forbidden(F.linear, what=fn.__name__):
        return fn(*args)


def sequential_and_params(sizes, act_module, generator, dtype=torch.float32):
    """An nn.Sequential MLP with the given layer sizes, and its (W, b) list."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(n_in, n_out).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(n_out, n_in, generator=generator, dtype=dtype) / n_in ** 0.5)
            lin.bias.copy_(torch.randn(n_out, generator=generator, dtype=dtype))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(act_module)
    model = nn.Sequential(*layers)
    return model, [(m.weight, m.bias) for m in model if isinstance(m, nn.Linear)]


g = torch.Generator().manual_seed(2)
model, params = sequential_and_params([6, 8, 3], nn.ReLU(), g)
x = torch.randn(10, 6, generator=g)
out = without_F_linear(mlp_forward, x, params, torch.relu)
assert_shape(out, (10, 3), what="mlp_forward output for sizes 6 -> 8 -> 3 and a batch of 10")
assert_close(out, model(x), rtol=1e-5, atol=1e-5, what="mlp_forward vs nn.Sequential(Linear, ReLU, Linear)")
assert (out < 0).any(), "the logits should include negative values: is the activation applied after the last layer?"
### BEGIN HIDDEN TESTS
# several depths and activations (functions and module instances)
cases = [
    ([6, 3], torch.tanh, nn.Tanh()),                      # one layer: no activation at all
    ([6, 5, 4, 3], torch.tanh, nn.Tanh()),
    ([7, 9, 4, 8, 5, 2], F.relu, nn.ReLU()),              # five layers, uneven widths
    ([4, 16, 16, 3], nn.GELU(), nn.GELU()),               # a module instance as the activation
    ([5, 6, 3], torch.sigmoid, nn.Sigmoid()),
]
for sizes, act_fn, act_module in cases:
    model, params = sequential_and_params(sizes, act_module, g)
    x = torch.randn(12, sizes[0], generator=g)
    assert_close(without_F_linear(mlp_forward, x, params, act_fn), model(x), rtol=1e-5, atol=1e-5,
                 what=f"mlp_forward with {len(sizes) - 1} layer(s) and activation {type(act_module).__name__} "
                      f"({'a module instance' if isinstance(act_fn, nn.Module) else 'a function'})")
# the default activation is ReLU
model, params = sequential_and_params([6, 10, 10, 4], nn.ReLU(), g)
x = torch.randn(9, 6, generator=g)
assert_close(without_F_linear(mlp_forward, x, params), model(x), rtol=1e-5, atol=1e-5,
             what="mlp_forward with the default activation (ReLU)")
# a single vector and a 3-D input
v = torch.randn(6, generator=g)
out_v = without_F_linear(mlp_forward, v, params, torch.relu)
assert_shape(out_v, (4,), what="mlp_forward of a single vector (expected shape (out,))")
assert_close(out_v, model(v), rtol=1e-5, atol=1e-5, what="mlp_forward of a single vector")
x3 = torch.randn(2, 3, 6, generator=g)
assert_close(without_F_linear(mlp_forward, x3, params, torch.relu), model(x3), rtol=1e-5, atol=1e-5,
             what="mlp_forward of a 3-D input")
# float64
model64, params64 = sequential_and_params([5, 7, 3], nn.Tanh(), g, dtype=torch.float64)
x64 = torch.randn(4, 5, generator=g, dtype=torch.float64)
out64 = without_F_linear(mlp_forward, x64, params64, torch.tanh)
assert out64.dtype == torch.float64, f"float64 inputs should give float64 logits, got {out64.dtype}"
assert_close(out64, model64(x64), rtol=1e-12, atol=1e-12, what="mlp_forward in float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mlp_forward_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Three layers (5 -> 7 -> 6 -> 3, tanh) in float64, computed with F.linear switched off: the logits stay on
# autograd's graph, and the gradients of every weight and bias equal those of the nn.Sequential twin.
def without_F_linear(fn, *args):
    """fn(*args) with F.linear, which nn.Linear calls, switched off while it runs."""
    with forbidden(F.linear, what=fn.__name__):
        return fn(*args)


g = torch.Generator().manual_seed(3)
sizes = [5, 7, 6, 3]
layers = []
for n_in, n_out in zip(sizes[:-1], sizes[1:]):
    layers += [nn.Linear(n_in, n_out).double(), nn.Tanh()]
model = nn.Sequential(*layers[:-1])  # drop the activation after the last Linear
params = [(m.weight, m.bias) for m in model if isinstance(m, nn.Linear)]
x = torch.randn(8, 5, dtype=torch.float64, generator=g)
upstream = torch.randn(8, 3, dtype=torch.float64, generator=g)
out = without_F_linear(mlp_forward, x, params, torch.tanh)
assert out.requires_grad, "the logits must stay on autograd's graph (do not detach)"
flat = [t for pair in params for t in pair]
grads = torch.autograd.grad((out * upstream).sum(), flat)
grads_ref = torch.autograd.grad((model(x) * upstream).sum(), flat)
for i, (got, want) in enumerate(zip(grads, grads_ref)):
    kind = "W" if i % 2 == 0 else "b"
    assert_close(got, want, rtol=1e-10, atol=1e-12, what=f"gradient of layer {i // 2 + 1}'s {kind}")
### BEGIN HIDDEN TESTS
# the input's gradient too, with a module instance as the activation, at another depth
layers = []
for n_in, n_out in zip([4, 6, 6, 5, 2][:-1], [4, 6, 6, 5, 2][1:]):
    layers += [nn.Linear(n_in, n_out).double(), nn.GELU()]
model = nn.Sequential(*layers[:-1])
params = [(m.weight, m.bias) for m in model if isinstance(m, nn.Linear)]
x = torch.randn(7, 4, dtype=torch.float64, generator=g, requires_grad=True)
upstream = torch.randn(7, 2, dtype=torch.float64, generator=g)
flat = [x] + [t for pair in params for t in pair]
grads = torch.autograd.grad((without_F_linear(mlp_forward, x, params, nn.GELU()) * upstream).sum(), flat)
grads_ref = torch.autograd.grad((model(x) * upstream).sum(), flat)
for i, (got, want) in enumerate(zip(grads, grads_ref)):
    name = "the input x" if i == 0 else f"layer {(i - 1) // 2 + 1}'s {'W' if i % 2 == 1 else 'b'}"
    assert_close(got, want, rtol=1e-10, atol=1e-12, what=f"gradient of {name}, with nn.GELU() as the activation")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Without an activation, depth buys nothing
#
# Drop $\sigma$ and compose two layers:
#
# $$
# W_2 (W_1 x + b_1) + b_2 = \underbrace{(W_2 W_1)}_{W'}\, x + \underbrace{(W_2 b_1 + b_2)}_{b'} .
# $$
#
# The result is again one affine map $W' x + b'$. By induction so is a stack of any depth: a
# hundred linear layers compute nothing that a single layer could not (and $W'$ has rank at most the
# narrowest width on the way, so they may compute less). The nonlinearity between layers is what lets
# depth build curved decision boundaries. Check the algebra with two real layers:

# %%
lin1, lin2 = nn.Linear(4, 6).to(device), nn.Linear(6, 3).to(device)
W_merged = lin2.weight @ lin1.weight              # (3, 6) @ (6, 4) -> (3, 4)
b_merged = lin2.weight @ lin1.bias + lin2.bias    # (3,)
x = torch.randn(5, 4, device=device)
two_layers = lin2(lin1(x))
one_layer = x @ W_merged.T + b_merged
print("two stacked linear layers == one linear layer:", torch.allclose(two_layers, one_layer, atol=1e-6))

# %% [markdown]
# The same point on data. Three interleaved spirals cannot be separated by straight lines. Below, an MLP
# with 3 hidden layers of 64 units trains for 200 Adam steps twice: once with no activation ("linear")
# and once with ReLU. The training runs through the course's explorer core (`run`), with a small
# *probe* that records the predicted class on a grid of points, so we can colour the plane by the
# class the network would predict there: its **decision boundary**. (The explorer core always trains on
# the CPU: for models this small, a GPU's launch overhead costs more than it saves.)

# %%
# The plane [-1.25, 1.25]^2 sampled on a 60 x 60 grid; the explorer below shows the same panel live.
x_spiral, y_spiral = make_spirals(seed=0)  # the training points the task uses
boundary_panel = GridPanel("boundary", extent=(-1.25, 1.25, -1.25, 1.25), resolution=60, data=(x_spiral, y_spiral))
# the ready-made spirals task (an MLP on 3 spirals), pinned to 200 Adam steps at lr 1e-2; the panel
# adds its probe, which records the predicted class at every grid point after training
spirals = boundary_panel.attach(spirals_task(steps=200, lr=1e-2))

fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.8))
for ax, act in zip(axes, ("linear", "relu")):
    hist = run({"width": 64, "depth": 3, "activation": act}, spirals)
    boundary_panel.draw(hist, ax, title=f"width 64, depth 3, {act}\nval loss {hist.final_val_loss:.3f}")
    print(f"{act:>6}: final validation loss {hist.final_val_loss:.3f} nats (chance level is ln 3 = 1.099)")
plt.show()

# %% [markdown]
# Four stacked `Linear` layers without an activation still draw straight boundaries, and the loss stays near chance;
# with ReLU the same architecture follows the spirals.
#
# ## 4. Width or depth?
#
# **One hidden layer is enough, in principle.** The *universal approximation theorem* (Cybenko, 1989, for
# sigmoids; Leshno et al., 1993, for every continuous activation that is not a polynomial, ReLU included): for every
# continuous function $f$ on a closed and bounded set $K \subset \mathbb{R}^n$ and every $\varepsilon > 0$,
# some network with a single hidden layer, wide enough, stays within $\varepsilon$ of $f$ everywhere on $K$.
# It says nothing about *how* wide, nor whether training would find those weights.
#
# **Depth can be exponentially cheaper.** A ReLU network computes a continuous, piecewise-linear function.
# Count its linear pieces along a line (a scalar input $x$):
#
# - **one hidden layer of $n$ ReLUs**: unit $j$, $\max(0, w_j x + b_j)$, bends the output at a single
#   point, $x = -b_j/w_j$; a weighted sum of $n$ such units has at most $n$ bends, so **at most $n + 1$ pieces**;
# - **depth multiplies pieces**: the *tent map* $t(x) = 2\,\mathrm{relu}(x) - 4\,\mathrm{relu}(x - \tfrac12)$
#   rises from 0 to 1 on $[0, \tfrac12]$ and falls back on $[\tfrac12, 1]$: two ReLUs fold $[0, 1]$ onto itself.
#   Whatever the next layer computes on the folded copy is repeated in both halves, so $t$ composed $k$ times,
#   $k$ hidden layers of width 2, is a sawtooth with **$2^k$ pieces**.
#
# A single hidden layer needs at least $2^k - 1$ ReLUs for that sawtooth, against $2k$ in $k$ layers.
# Telgarsky (2016) proved the approximate version: for every $k$ there is a function that a ReLU network with
# $\Theta(k^3)$ layers of constant width computes, but that every ReLU network with at most $k$ layers and at most
# $2^k$ units misses by at least $1/64$ in $L^1$ distance on the unit cube. Montúfar et al. (2014) counted
# linear regions for inputs of any dimension $n_0$: one layer of $N$ ReLUs cuts $\mathbb{R}^{n_0}$ into at most
# $\sum_{j=0}^{n_0}\binom{N}{j}$ regions, a polynomial in $N$, while $L$ hidden layers of width $n \ge n_0$ can
# make at least $\lfloor n/n_0 \rfloor^{(L-1)\,n_0} \sum_{j=0}^{n_0}\binom{n}{j}$ regions, exponential in $L$.
#
# Two caveats keep this honest: these are counts for the *best* weights (trained networks use far fewer
# regions than the maximum; Hanin & Rolnick, 2019), and deep plain stacks are harder to train (topics 04 to 06).
# Build the tent network by hand and count its pieces:

# %%
def tent_network(k: int) -> nn.Sequential:
    """k hidden layers of 2 ReLUs computing t(t(...t(x))), t(x) = 2 relu(x) - 4 relu(x - 1/2), on [0, 1]."""
    layers = []
    for i in range(k):
        lin = nn.Linear(1 if i == 0 else 2, 2)
        with torch.no_grad():  # layer i's pre-activations are (u, u - 1/2), u = t applied i times = 2 a - 4 b
            lin.weight.copy_(torch.tensor([[1.0], [1.0]]) if i == 0 else torch.tensor([[2.0, -4.0], [2.0, -4.0]]))
            lin.bias.copy_(torch.tensor([0.0, -0.5]))
        layers += [lin, nn.ReLU()]
    out = nn.Linear(2, 1)
    with torch.no_grad():
        out.weight.copy_(torch.tensor([[2.0, -4.0]]))
        out.bias.zero_()
    return nn.Sequential(*layers, out).double().to(device)


def count_pieces(model: nn.Module, n: int = 2**14) -> int:
    """Linear pieces of a scalar piecewise-linear model on [0, 1]: slope changes on a grid of step 1/n, plus 1.
    Exact when every bend lies on a grid point (all bends here are multiples of 1/1024)."""
    x = torch.linspace(0, 1, n + 1, dtype=torch.float64, device=device)[:, None]
    with torch.no_grad():
        slopes = torch.diff(model(x)[:, 0]) * n
    return int((torch.diff(slopes).abs() > 1e-6).sum().item()) + 1


print(f"{'k':>2} {'layers x width':>15} {'ReLUs':>6} {'pieces':>7} {'ReLUs in one hidden layer, at least':>37}")
for k in (1, 2, 4, 6, 8, 10):
    pieces = count_pieces(tent_network(k))
    print(f"{k:2d} {f'{k} x 2':>15} {2 * k:6d} {pieces:7d} {pieces - 1:37d}")
seed_everything(0)
shallow = nn.Sequential(nn.Linear(1, 20), nn.ReLU(), nn.Linear(20, 1)).double().to(device)
bends = torch.randperm(1023, device=device)[:20].double() / 1024 + 1 / 1024  # 20 distinct points inside (0, 1)
with torch.no_grad():
    shallow[0].bias.copy_(-shallow[0].weight[:, 0] * bends)  # unit j bends at x = -b_j / w_j = bends[j]
print(f"one hidden layer of 20 ReLUs, every bend placed inside [0, 1]: {count_pieces(shallow)} pieces (at most 21)")

fig, axes = plt.subplots(1, 3, figsize=(9, 2.4), sharey=True)
grid = torch.linspace(0, 1, 1025, dtype=torch.float64, device=device)[:, None]
for ax, k in zip(axes, (1, 2, 4)):
    with torch.no_grad():
        ax.plot(grid[:, 0].cpu(), tent_network(k)(grid)[:, 0].cpu())
    ax.set_title(f"{k} layer(s) of 2 ReLUs: {2 ** k} pieces", fontsize=9)
    ax.set_xlabel("x")
plt.show()

# %% [markdown]
# ## 5. Counting parameters
#
# A `Linear(in, out)` holds a weight of $\text{in} \times \text{out}$ entries and a bias of
# $\text{out}$ entries:
#
# $$
# \#\text{params} = n_\text{in}\, n_\text{out} + n_\text{out} = (n_\text{in} + 1)\, n_\text{out} .
# $$
#
# So `Linear(768, 10)`, a classification head on top of a 768-dimensional embedding, has
# $768 \cdot 10 + 10 = 7{,}690$ parameters. An MLP's count is the sum over its layers; activations
# such as ReLU have none. In PyTorch, `model.parameters()` yields every registered `nn.Parameter` once,
# and `p.numel()` is its number of entries.
#
# Two details matter when you count:
# - **Buffers are not parameters.** `BatchNorm1d(16)` has 32 parameters ($\gamma$ and $\beta$) but also
#   keeps running statistics, which live in `model.buffers()` and in the `state_dict`, and are never
#   trained by the optimizer.
# - **Frozen parameters.** Setting `p.requires_grad_(False)` freezes a parameter (common when
#   fine-tuning only a head). It is still a parameter, but it is no longer *trainable*.
#
# **What a layer costs.** `Linear(in, out)` does $n_\text{in} n_\text{out}$ multiply-adds per example, about
# $2\,n_\text{in} n_\text{out}$ FLOPs. The backward pass costs about twice the forward (one matrix product for the
# gradient of the input and one for the gradient of the weight), so a training step is about three forward
# passes. In training, memory usually goes less to the weights than to the activations that the forward pass
# keeps for the backward pass, and those grow with the batch size.
#
# **Variants you will meet.** `nn.Linear(in, out, bias=False)` drops the bias (LLaMA-style transformers do
# it throughout, and a bias right before a BatchNorm layer would be cancelled anyway by its mean subtraction);
# `nn.LazyLinear(out)` reads `in_features` from the first input it sees; and the feed-forward block of
# LLaMA-style models is the gated SwiGLU (topic 03) rather than Linear, activation, Linear.

# %%
head = nn.Linear(768, 10).to(device)
print("weight entries:", head.weight.numel(), " bias entries:", head.bias.numel())
print(f"forward cost for a batch of 32: 2 * 32 * 768 * 10 = {2 * 32 * 768 * 10:,} FLOPs")
print("without a bias:", sum(p.numel() for p in nn.Linear(768, 10, bias=False).parameters()), "parameters")
lazy = nn.LazyLinear(10).to(device)
lazy(torch.randn(32, 768, device=device))  # the first call fixes in_features = 768
print("LazyLinear(10) after one (32, 768) batch: weight", tuple(lazy.weight.shape))
bn = nn.BatchNorm1d(16)
print("BatchNorm1d(16) parameters:", [(name, tuple(p.shape)) for name, p in bn.named_parameters()])
print("BatchNorm1d(16) buffers:   ", [(name, tuple(b.shape)) for name, b in bn.named_buffers()])
print("state_dict keys:           ", list(bn.state_dict()))

# %% [markdown]
# ## Exercise 3 · `count_parameters` (graded)
#
# Write `count_parameters(model, trainable_only=True)`, returning the count as an integer (a Python `int`;
# a NumPy integer passes too, a float such as `7690.0` does not):
#
# - the total number of entries in the model's parameters;
# - with `trainable_only=True` (the default), count only parameters with `requires_grad=True`, i.e.
#   what an optimizer would update; with `trainable_only=False`, count frozen ones too;
# - buffers (BatchNorm's running statistics, for example) are **not** parameters;
# - a parameter shared by two modules (weight tying) is **one** parameter: count it once.

# %% nbgrader={"grade": false, "grade_id": "count_parameters", "locked": false, "schema_version": 3, "solution": true, "task": false}
def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters in ``model`` (only those with requires_grad when ``trainable_only``)."""
    ### BEGIN SOLUTION
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_count_parameters", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# An integer count for nn.Linear(768, 10) and for an MLP 64 -> 32 -> 10.
n = count_parameters(nn.Linear(768, 10))
try:
    n = operator.index(n)  # a Python int (NumPy integers and 0-d integer tensors pass too), never a float
except TypeError:
    raise AssertionError(f"count_parameters should return an integer, got {type(n).__name__}") from None
assert n == 7690, f"nn.Linear(768, 10) has 768 * 10 + 10 = 7690 parameters, got {n}"
mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
assert count_parameters(mlp) == 64 * 32 + 32 + 32 * 10 + 10, \
    f"expected {64 * 32 + 32 + 32 * 10 + 10} parameters for 64 -> 32 -> 10, got {count_parameters(mlp)}"
### BEGIN HIDDEN TESTS
assert count_parameters(nn.Linear(5, 3, bias=False)) == 15, "a Linear layer with bias=False has only its weight's entries"
assert count_parameters(nn.ReLU()) == 0, "a module with no parameters has 0"
conv = nn.Conv2d(3, 8, kernel_size=3)  # 8 * 3 * 3 * 3 weights + 8 biases
assert count_parameters(conv) == 224, \
    f"a Conv2d layer: count every entry of its 4-D weight plus its biases; got {count_parameters(conv)}"
# buffers are not parameters: BatchNorm1d(16) has gamma and beta only
bn_net = nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
expected = 10 * 16 + 16 + 2 * 16 + 16 * 2 + 2
assert count_parameters(bn_net) == expected, \
    f"a network with BatchNorm: count its parameters only (the running statistics are buffers), got {count_parameters(bn_net)}"
assert count_parameters(bn_net, trainable_only=False) == expected, "buffers are not parameters with trainable_only=False either"


class Tied(nn.Module):
    """An embedding and an output layer that share one weight (weight tying, as in language models)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.out = nn.Linear(16, 100)
        self.out.weight = self.embed.weight  # one tensor, registered in two modules


tied = Tied()
assert count_parameters(tied) == 100 * 16 + 100, \
    f"a weight shared by two modules (weight tying) counts once, got {count_parameters(tied)}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_count_parameters_trainable", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Frozen parameters: trainable_only=True (the default) skips them, trainable_only=False counts them.
model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 4))
model[0].requires_grad_(False)  # freeze the first layer (weight and bias)
assert count_parameters(model) == 8 * 4 + 4, \
    f"with the first layer frozen, 36 parameters are trainable; got {count_parameters(model)}"
total = 20 * 8 + 8 + 8 * 4 + 4
assert count_parameters(model, trainable_only=False) == total, \
    f"trainable_only=False counts frozen parameters too: expected {total}, got {count_parameters(model, trainable_only=False)}"
### BEGIN HIDDEN TESTS
assert count_parameters(model, False) == total, "trainable_only is the second positional argument"
# freezing only a bias
m2 = nn.Linear(6, 5)
m2.bias.requires_grad_(False)
assert count_parameters(m2) == 30, f"a layer whose bias alone is frozen: only its weight is trainable, got {count_parameters(m2)}"
assert count_parameters(m2, trainable_only=False) == 35, "a layer whose bias alone is frozen: with trainable_only=False the bias counts too"
# everything frozen
frozen = nn.Linear(3, 3).requires_grad_(False)
assert count_parameters(frozen) == 0, "a fully frozen model has 0 trainable parameters"
assert count_parameters(frozen, trainable_only=False) == 12, "a fully frozen model still has all its parameters with trainable_only=False"
### END HIDDEN TESTS

# %% [markdown]
# ## 6. The forward pass records a graph
#
# While the forward pass computes numbers, autograd writes down *how* it computed them. Every
# operation on a tensor that requires gradients (parameters do) creates a node, stored in the
# result's `grad_fn`, which points back to the nodes of its inputs. The finished graph runs from the
# loss back to the parameters; `loss.backward()` walks it in reverse and applies the chain rule at
# each node (topic 02).
#
# Under `torch.no_grad()` (or `torch.inference_mode()`) nothing is recorded: that is how inference
# saves the memory of all the intermediate activations the backward pass would need.

# %%
small = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).to(device)
loss = F.cross_entropy(small(torch.randn(5, 4, device=device)), torch.tensor([0, 1, 1, 0, 1], device=device))

names = {id(p): name for name, p in small.named_parameters()}


def show(node, indent=0):
    """Print the graph below ``node``, one node per line, inputs indented under their user."""
    label = type(node).__name__
    if hasattr(node, "variable"):  # an AccumulateGrad node: a leaf tensor that collects a gradient
        label += f"  (-> {names[id(node.variable)]}.grad)"
    print("  " * indent + label)
    for parent, _ in node.next_functions:
        if parent is not None:  # None: an input that needs no gradient, such as the data
            show(parent, indent + 1)


show(loss.grad_fn)

with torch.no_grad():
    print("under no_grad, grad_fn is", small(torch.randn(5, 4, device=device)).grad_fn)

# %% [markdown]
# Read from the top down, this is the forward pass in reverse: cross-entropy is a negative
# log-likelihood (`NllLossBackward0`) of a log-softmax; below it the second `Linear`
# (`AddmmBackward0`, a fused "add + matrix multiply", i.e. $b + h W^\top$, whose weight enters through
# a transpose, `TBackward0`), then the ReLU, then the first `Linear`. The leaves are `AccumulateGrad`
# nodes, one per parameter: that is where `backward()` deposits each gradient. The input batch has no
# node because it does not require a gradient.

# %% [markdown]
# ## 7. Your own `nn.Module`
#
# `nn.Sequential` covers a plain chain of layers. Anything else (a skip connection, two inputs, a loop) is
# written as a subclass of `nn.Module`: call `super().__init__()`, create the layers in `__init__`
# (assigning a module to an attribute registers its parameters), and write the computation in `forward`.
#
# Then run it as `model(x)`, **not** `model.forward(x)`. `nn.Module.__call__` runs the hooks registered on
# the module (forward pre-hooks and forward hooks, which profilers, feature extractors and libraries rely on)
# around `forward`; calling `forward` directly silently skips them. A 10 → 64 → 1 network on a batch of 32:

# %%
class TwoLayerNet(nn.Module):
    """x -> h = ReLU(x W1^T + b1) -> h W2^T + b2."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)   # registered as a submodule: its parameters are the model's
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


net = TwoLayerNet(10, 64, 1).to(device)
print("parameters:", [(name, tuple(p.shape)) for name, p in net.named_parameters()])
seen = []
hook = net.register_forward_hook(lambda module, inputs, output: seen.append(tuple(output.shape)))
x = torch.randn(32, 10, device=device)
print("net(x) shape:", tuple(net(x).shape), "  hook calls so far:", len(seen))
net.forward(x)
print("after net.forward(x), hook calls:", len(seen), " (the hook was skipped)")
hook.remove()

# %% [markdown]
# ## Explorer
#
# Width and depth on the spirals: each move of a slider trains the MLP of section 3 (ReLU,
# 200 Adam steps) and redraws the training and validation loss, with earlier runs faded, and the
# decision boundary of the new network on the right.

# %%
explorer = LossCurveExplorer(
    spirals,
    knobs=[
        Knob("width", lambda: widgets.SelectionSlider(
            options=[2, 4, 8, 16, 32, 64, 128], value=8, description="width",
            continuous_update=False)),
        Knob.int_slider("depth", 1, 5, 1, description="depth (hidden layers)"),
    ],
    extra_panel=boundary_panel,
    prompt="At width 8 and depth 1 the spirals are out of reach. Which helps more: doubling the width, or adding a layer?",
)
explorer

# %% [markdown]
# **What to try: predict, then move the slider.**
# - Width 8: step the depth from 1 to 3. Into how many linear regions can one hidden layer of 8 ReLUs
#   cut the plane (section 4: at most $1 + 8 + \binom{8}{2} = 37$)? Three such layers, with the best
#   weights, can make at least $4^{4} \cdot 37 = 9{,}472$. Which depth bends the boundary around the spirals?
# - Depth 1: raise the width from 2 to 128. How wide must a single hidden layer be to match depth 3
#   at width 8? Compare the parameter counts of the two (use your `count_parameters`).
# - Width 2 at any depth: why does the loss stall? (Every hidden layer squeezes the data through a
#   2-dimensional bottleneck.)

# %% [markdown]
# ## Drill (graded)
#
# Count the parameters (weights and biases, all `nn.Linear` layers with a bias):
# 1. `drill_linear_params`: a classification head `Linear(768, 10)`.
# 2. `drill_mlp_params`: the MLP 784 → 256 → 128 → 10 (ReLU between the layers).
# 3. `drill_collapsed_params`: the same MLP with the ReLUs removed is one affine map from 784 to 10.
#    How many parameters does a single `Linear` layer need to compute exactly that map?
# 4. `drill_small_mlp_params`: the MLP 20 → 64 → 64 → 3.
# 5. `drill_sizes_mlp_params`: an MLP built from the layer sizes `[2, 64, 32, 4]` (three `Linear` layers).
# 6. `drill_layernorm_params`: the MLP 20 → 128 → 64 → 1 with an `nn.LayerNorm(128)` after the first layer
#    (LayerNorm has a scale and a shift per feature).

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_linear_params = 7_690
drill_mlp_params = 235_146
drill_collapsed_params = 7_850
drill_small_mlp_params = 5_699
drill_sizes_mlp_params = 2_404
drill_layernorm_params = 11_265
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Each answer is a number; hidden tests check the values.
for name in ("drill_linear_params", "drill_mlp_params", "drill_collapsed_params", "drill_small_mlp_params",
             "drill_sizes_mlp_params", "drill_layernorm_params"):
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
### BEGIN HIDDEN TESTS
assert abs(drill_linear_params - 7690) < 1e-6, \
    "drill_linear_params is not right: count the weight's in * out entries and the bias's out entries"
assert abs(drill_mlp_params - 235146) < 1e-6, \
    "drill_mlp_params is not right: add (in + 1) * out over the three Linear layers"
assert abs(drill_collapsed_params - 7850) < 1e-6, \
    "drill_collapsed_params is not right: the collapsed map is one Linear(784, 10), bias included"
assert abs(drill_small_mlp_params - 5699) < 1e-6, \
    "drill_small_mlp_params is not right: add (in + 1) * out over the three Linear layers"
assert abs(drill_sizes_mlp_params - 2404) < 1e-6, \
    "drill_sizes_mlp_params is not right: consecutive sizes give the Linear layers; add (in + 1) * out over them"
assert abs(drill_layernorm_params - 11265) < 1e-6, \
    "drill_layernorm_params is not right: the three Linear layers plus LayerNorm's scale and shift (one each per feature)"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** Why does a neural network need a nonlinear activation between its layers? What does a
# 10-layer network with no activations compute?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# A composition of affine maps is affine: $W_2(W_1x + b_1) + b_2 = (W_2W_1)x + (W_2b_1 + b_2)$, so
# ten linear layers compute a single $W'x + b'$, with no more expressive power than one layer
# (logistic regression, for a classifier), and with $W'$'s rank capped by the narrowest layer. Its
# decision boundaries are hyperplanes, so it cannot fit XOR or spirals. The activation between
# layers breaks the collapse: with ReLU the network becomes piecewise linear with many pieces, and
# wide or deep enough MLPs can approximate any continuous function on a closed, bounded region (the
# universal approximation theorem). The last layer is kept linear so that the logits stay raw scores.

# %% [markdown]
# **Q2.** An embedding of size 768 feeds a classification head `nn.Linear(768, 10)`, and you push a
# batch of 32 examples through it. Give the shapes of the input, weight, bias and output, the number of
# parameters, and roughly the number of multiply-adds. Why does PyTorch store the weight as (10, 768)?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Input $X$ is (32, 768), the weight $W$ is (10, 768), the bias is (10,), and the output $XW^\top + b$
# is (32, 10), the bias broadcast over the 32 rows. Parameters: $768 \cdot 10 + 10 = 7{,}690$.
# The matrix product takes $32 \cdot 768 \cdot 10 \approx 246{,}000$ multiply-adds (about 0.5 MFLOP),
# plus 320 additions for the bias. The (out, in) layout matches the maths $z = Wx + b$: row $j$ is
# output unit $j$'s weight vector, so the weight reads as "one row per neuron". Using $W^\top$
# for a row-major batch costs nothing, because the transpose is a view that the matrix-multiply routine
# reads with swapped strides, and the whole layer is a single fused call (`addmm`).
