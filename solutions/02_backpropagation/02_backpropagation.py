# %% [markdown]
# # 02 · Backpropagation
#
# **Interview question:** *How does backpropagation compute gradients through many layers, and how
# would you check that a hand-written backward pass is right?*
#
# **After this notebook you can**
# - run the chain rule through a network node by node: each node multiplies the *upstream* gradient by
#   its own *local* gradient and passes the result on;
# - write the backward pass of a two-layer ReLU network with softmax cross-entropy by hand, and pick
#   the transposes from the shapes alone;
# - check any gradient numerically with central differences, and read a relative error;
# - explain why PyTorch *adds* into `.grad`, and what goes wrong when `zero_grad()` is skipped.
#
# **Runs on a CPU in about 10 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_split, get_device, plot_curves, seed_everything
from course_utils.testing import assert_between, assert_close, assert_python_float, assert_shape, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. The chain rule, one node at a time
#
# A network is a chain (more generally a graph) of simple operations that ends in one number, the
# loss $L$. Write $\bar v = \partial L / \partial v$ for the gradient of the loss with respect to any
# intermediate value $v$. If a node computes $y = g(x)$, the chain rule says
#
# $$
# \bar x \;=\; \underbrace{\bar y}_{\text{upstream}} \cdot \underbrace{\frac{\partial y}{\partial x}}_{\text{local}} .
# $$
#
# For tensors the product becomes a sum over the entries of $y$,
# $\bar x_i = \sum_j \bar y_j \, \partial y_j / \partial x_i$ (a *vector–Jacobian product*); section 2 writes
# it out for a linear layer.
#
# That is the whole algorithm. The node does not need to know anything about the rest of the network:
# it receives $\bar y$ from the node after it, multiplies by a derivative it can compute from its own
# input and output, and hands $\bar x$ to the node before it. Backpropagation runs the forward pass
# once, keeps the intermediate values, then visits the nodes in reverse order.
#
# Unrolled over a chain of layers $h_1 = f_1(x; W)$, $h_2 = f_2(h_1)$, …, $L = \ell(h_n)$, the rule is a
# product of per-layer derivatives:
#
# $$
# \frac{\partial L}{\partial W} = \frac{\partial L}{\partial h_n}\,\frac{\partial h_n}{\partial h_{n-1}} \cdots
# \frac{\partial h_2}{\partial h_1}\,\frac{\partial h_1}{\partial W}.
# $$
#
# Backpropagation evaluates it from the left, starting at the loss: each partial product is the gradient
# with respect to one layer's output (a vector shaped like that output), never a full Jacobian matrix.
#
# A small example: $z = w x + b$, $a = \tanh z$, $L = a^2$. Going backwards,
# $\bar a = 2a$, then $\bar z = \bar a\,(1 - a^2)$ (the local gradient of tanh), then
# $\bar w = \bar z\, x$, $\bar x = \bar z\, w$ and $\bar b = \bar z$.

# %%
x = torch.tensor(1.5, requires_grad=True)
w = torch.tensor(-0.8, requires_grad=True)
b = torch.tensor(0.3, requires_grad=True)
z = w * x + b
a = torch.tanh(z)
L = a**2
L.backward()

with torch.no_grad():
    a_bar = 2 * a                  # local gradient of a**2, times upstream dL/dL = 1
    z_bar = a_bar * (1 - a**2)     # local gradient of tanh, times upstream a_bar
    w_bar, x_bar, b_bar = z_bar * x, z_bar * w, z_bar * 1.0
for name, by_hand, auto in (("w", w_bar, w.grad), ("x", x_bar, x.grad), ("b", b_bar, b.grad)):
    print(f"dL/d{name}: by hand {by_hand.item():+.6f}   autograd {auto.item():+.6f}")

# %% [markdown]
# The smallest model there is, one weight and a squared error: $L = (wx - y)^2$. The residual
# $r = wx - y$ is the only intermediate value, so $\bar r = 2r$ and $\bar w = \bar r\, x = 2(wx - y)\,x$.
# With $w = 2$, $x = 3$, $y = 1$: $r = 5$ and $\partial L/\partial w = 2 \cdot 5 \cdot 3 = 30$.

# %%
w = torch.tensor(2.0, requires_grad=True)
L = (w * 3.0 - 1.0) ** 2
L.backward()
print("dL/dw for L = (w*x - y)^2 at w=2, x=3, y=1:", w.grad.item(), "(by hand: 2 * 5 * 3 = 30)")
assert w.grad.item() == 30.0

# %% [markdown]
# A few node types cover most of a network, and each has a pattern worth knowing by heart:
#
# - **add** $y = u + v$: both local gradients are 1, so the upstream gradient is copied to both inputs;
# - **multiply** $y = u v$: each input receives the upstream gradient times the *other* input;
# - **ReLU** $y = \max(0, z)$: the upstream gradient passes where $z > 0$ and is blocked where $z < 0$;
# - **fan-out**: when a value feeds several nodes, its gradient is the **sum** of the gradients coming
#   back from each use. Keep this one in mind: it is the reason PyTorch *adds* into `.grad` (section 7).

# %% [markdown]
# ## 2. Matrices: let the shapes pick the transposes
#
# This course stores weights the way `nn.Linear` does: a layer with `fan_in` inputs and `fan_out`
# outputs has $W$ of shape `(fan_out, fan_in)` and computes, for a batch $X$ of shape `(N, fan_in)`,
#
# $$
# Y = X W^\top + b, \qquad Y_{nj} = \sum_i X_{ni} W_{ji} + b_j .
# $$
#
# Differentiating one entry at a time and summing over every place an entry is used gives
#
# $$
# \bar X = \bar Y\, W \;\; (N \times \text{fan\_in}), \qquad
# \bar W = \bar Y^\top X \;\; (\text{fan\_out} \times \text{fan\_in}), \qquad
# \bar b_j = \sum_n \bar Y_{nj} \;\; (\text{fan\_out}).
# $$
#
# The bias is added to every row of the batch (fan-out again), so its gradient sums over the batch.
# A reliable way to remember the rest: **a gradient has the shape of the thing it is the gradient of**,
# and there is only one way to multiply $\bar Y$ `(N, fan_out)` with $X$ or $W$ to get that shape.
# Many texts store the weight the other way round, $Y = XW + b$ with $W$ of shape `(fan_in, fan_out)`;
# the same rule then gives $\bar W = X^\top \bar Y$, $\bar b = \sum_n \bar Y_n$ and $\bar X = \bar Y W^\top$.
#
# One input and a squared norm make a good warm-up: for $L = \lVert W x \rVert^2$ with $u = Wx$, the
# upstream gradient is $\bar u = 2u$, and a linear map's weight gradient is the outer product of the
# upstream gradient and the input, so $\partial L / \partial W = 2\,(Wx)\,x^\top$.
#
# The check below feeds an arbitrary upstream gradient $G$ into autograd (`grad_outputs=G` computes
# $\bar X, \bar W, \bar b$ for $\bar Y = G$) and compares with the three formulas.

# %%
g = torch.Generator().manual_seed(0)
X = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)   # N=5, fan_in=3
W = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)   # fan_out=4
bias = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
Y = X @ W.T + bias
G = torch.randn(5, 4, generator=g, dtype=torch.float64)                        # plays dL/dY
X_auto, W_auto, b_auto = torch.autograd.grad(Y, [X, W, bias], grad_outputs=G)

torch.testing.assert_close(G @ W.detach(), X_auto)
torch.testing.assert_close(G.T @ X.detach(), W_auto)
torch.testing.assert_close(G.sum(dim=0), b_auto)
print("shapes: dX", tuple(X_auto.shape), " dW", tuple(W_auto.shape), " db", tuple(b_auto.shape))
print("all three formulas match autograd")

x1 = torch.randn(3, generator=g, dtype=torch.float64)
(W_norm,) = torch.autograd.grad(((W @ x1) ** 2).sum(), [W])
torch.testing.assert_close(W_norm, 2 * torch.outer(W.detach() @ x1, x1))
print("d||Wx||^2 / dW = 2 (Wx) x^T:", tuple(W_norm.shape))

# %% [markdown]
# ## 3. Softmax cross-entropy: the gradient is $p - \mathrm{onehot}(y)$
#
# For logits $z_n \in \mathbb{R}^C$ and a label $y_n$, softmax gives $p_{nk} = e^{z_{nk}} / \sum_j e^{z_{nj}}$
# and the loss is the batch mean $L = -\frac{1}{N} \sum_n \log p_{n, y_n}$. Since
# $\log p_{n,y_n} = z_{n,y_n} - \log \sum_j e^{z_{nj}}$,
#
# $$
# \frac{\partial L}{\partial z_{nk}} = \frac{1}{N}\left(p_{nk} - \mathbb{1}[k = y_n]\right),
# \qquad \text{i.e.}\qquad \bar Z = \frac{1}{N}\,\bigl(\mathrm{softmax}(Z) - \mathrm{onehot}(y)\bigr).
# $$
#
# Two things to notice. The $1/N$ comes from the *mean* over the batch (`reduction="mean"`, PyTorch's
# default): forget it and the gradient grows with the batch size. And each row of $\bar Z$ sums to zero,
# because the probabilities sum to one: raising every logit of a row by the same amount changes nothing.
# Frameworks fuse softmax, log and loss into one operation (`F.cross_entropy` takes raw logits): the
# forward pass is computed stably with the log-sum-exp trick, and the backward pass is just this formula.

# %%
logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=torch.float64, requires_grad=True)
labels = torch.tensor([0, 1])
F.cross_entropy(logits, labels).backward()
print("softmax(z):\n", logits.softmax(dim=1).detach())
print("autograd dL/dz:\n", logits.grad)
print("row sums of the gradient:", logits.grad.sum(dim=1))

# %% [markdown]
# ## 4. The network of this notebook
#
# A two-layer MLP on the digits (64 pixels in, 10 classes out), with the `nn.Linear` convention of
# section 2:
#
# $$
# z_1 = x W_1^\top + b_1, \quad h_1 = \mathrm{ReLU}(z_1), \quad \text{logits} = h_1 W_2^\top + b_2,
# $$
#
# with $x$ `(N, d_in)`, $W_1$ `(hidden, d_in)`, $b_1$ `(hidden,)`, $W_2$ `(n_classes, hidden)`,
# $b_2$ `(n_classes,)`. The forward pass is written for you. It returns the logits and a `cache`, a dict
# holding what the backward pass needs: the input `"x"`, the parameters `"W1"`, `"b1"`, `"W2"`, `"b2"`,
# the pre-activation `"z1"` and the activation `"h1"`.

# %%
def mlp_forward(x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor):
    """Forward pass of the two-layer ReLU MLP. Returns ``(logits (N, n_classes), cache)``."""
    z1 = x @ W1.T + b1
    h1 = torch.relu(z1)
    logits = h1 @ W2.T + b2
    cache = {"x": x, "W1": W1, "b1": b1, "z1": z1, "h1": h1, "W2": W2, "b2": b2}
    return logits, cache


def init_mlp(d_in: int, hidden: int, n_classes: int, generator: torch.Generator, dtype=torch.float32):
    """He-initialised weights and zero biases, in the (fan_out, fan_in) convention."""
    W1 = torch.randn(hidden, d_in, generator=generator, dtype=dtype) * math.sqrt(2 / d_in)
    W2 = torch.randn(n_classes, hidden, generator=generator, dtype=dtype) * math.sqrt(1 / hidden)
    return W1, torch.zeros(hidden, dtype=dtype), W2, torch.zeros(n_classes, dtype=dtype)


digits = digits_split(seed=0)
params = init_mlp(64, 32, 10, torch.Generator().manual_seed(0))
logits, cache = mlp_forward(digits.x_train[:8], *params)
print("logits:", tuple(logits.shape), {k: tuple(v.shape) for k, v in cache.items()})

# %% [markdown]
# Running the chain rule backwards through it, with $\bar{\text{logits}}$ given:
#
# $$
# \bar W_2 = \bar{\text{logits}}^\top h_1, \quad \bar b_2 = \textstyle\sum_n \bar{\text{logits}}_n, \quad
# \bar h_1 = \bar{\text{logits}}\, W_2, \quad
# \bar z_1 = \bar h_1 \odot \mathbb{1}[z_1 > 0], \quad
# \bar W_1 = \bar z_1^\top x, \quad \bar b_1 = \textstyle\sum_n \bar z_{1,n}.
# $$
#
# Each step is one of the patterns above: a linear layer (section 2), then ReLU's mask, then a linear
# layer again. (For ReLU the mask could equally be read from the output, since $h_1 > 0$ exactly when
# $z_1 > 0$; but $h_1 \ge 0$ holds everywhere, so that comparison would let every gradient through.)
#
# ## Exercise 1 · `softmax_cross_entropy_backward` (graded)
#
# Write `softmax_cross_entropy_backward(logits, y)`, the gradient of
# `F.cross_entropy(logits, y)` (mean over the batch) with respect to `logits`:
#
# - `logits` is a float tensor `(N, C)`, `y` an int64 tensor `(N,)` of class indices;
# - return a tensor `(N, C)` of the same dtype;
# - **no autograd**: do not call `.backward()` or `torch.autograd.grad` (the tests make both raise
#   while your function runs);
# - it must stay finite and correct for large logits (entries of $\pm 10^4$, in rows whose maxima lie
#   far apart): `torch.softmax` is stable; a hand-written `exp(z) / exp(z).sum()` becomes stable once you
#   subtract **each row's own** maximum first (one maximum for the whole batch leaves some rows with
#   nothing but underflowed zeros, and $0/0$);
# - do not modify `logits` in place.

# %% nbgrader={"grade": false, "grade_id": "softmax_ce_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax_cross_entropy_backward(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d/d logits of the mean softmax cross-entropy. logits (N, C), y (N,) int64 -> (N, C)."""
    ### BEGIN SOLUTION
    n, n_classes = logits.shape
    probs = torch.softmax(logits, dim=1)
    onehot = F.one_hot(y, num_classes=n_classes).to(logits.dtype)
    return (probs - onehot) / n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_softmax_ce_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Shape and values against autograd of F.cross_entropy (mean over the batch) in float64, with
# .backward() and torch.autograd.grad made to raise while your function runs.
_NO_AUTOGRAD = (torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad)


def _reference_dlogits(logits, y):
    z = logits.detach().clone().requires_grad_(True)
    F.cross_entropy(z, y).backward()
    return z.grad


def _dlogits(logits, y):
    with forbidden(*_NO_AUTOGRAD, what="softmax_cross_entropy_backward (no autograd)"):
        return softmax_cross_entropy_backward(logits, y)


g = torch.Generator().manual_seed(0)
logits = torch.randn(7, 4, generator=g, dtype=torch.float64)
y = torch.randint(0, 4, (7,), generator=g)
dlogits = _dlogits(logits, y)
assert_shape(dlogits, (7, 4), what="softmax_cross_entropy_backward(logits (7, 4), y)")
assert_close(dlogits, _reference_dlogits(logits, y), rtol=1e-10, atol=1e-12,
             what="dlogits (expected (softmax(logits) - onehot(y)) / N)")
### BEGIN HIDDEN TESTS
# several batch sizes and class counts; float64 round-off only, hence the tight tolerances
for n, c in ((1, 10), (32, 3), (64, 10), (3, 17)):
    logits = 3 * torch.randn(n, c, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    before = logits.clone()
    got = _dlogits(logits, y)
    assert_shape(got, (n, c), what="dlogits for other batch sizes and class counts (expected the shape of logits)")
    assert got.dtype == torch.float64, f"float64 logits gave a {got.dtype} gradient"
    assert_close(got, _reference_dlogits(logits, y), rtol=1e-10, atol=1e-12,
                 what="dlogits for other batch sizes and class counts")
    assert torch.equal(logits, before), "softmax_cross_entropy_backward modified logits in place"
    assert_close(got.sum(dim=1), torch.zeros(n, dtype=torch.float64), rtol=0, atol=1e-12,
                 what="row sums of dlogits (expected 0: softmax sums to 1)")
# Logits of +-1e4 in rows whose maxima lie far apart. exp overflows at 710 in float64 (89 in float32),
# so the naive softmax gives inf/inf = NaN; shifting by one maximum for the whole batch leaves every
# shifted entry of the other rows far below -745, where exp underflows to 0 in float64 (-104 in float32),
# i.e. 0/0 = NaN. A shift of each row's own (its maximum, say) works. In float32 a logit near 1e4 is
# stored to about 1e-3, so a correct answer that shifts by log-sum-exp rather than by an exact entry is
# off by up to ~1e-3 relative: rtol 2e-3 there.
for dtype, rtol, atol in ((torch.float64, 1e-10, 1e-12), (torch.float32, 2e-3, 1e-7)):
    big = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 5.0, 4.0], [3e3, 3e3, 3e3], [-1e4, -1e4, -9999.0]], dtype=dtype)
    yb = torch.tensor([1, 2, 0, 2])
    got = _dlogits(big, yb)
    assert torch.isfinite(got).all(), \
        f"dlogits has NaN/inf for very large {dtype} logits whose rows have very different maxima: subtract each row's own maximum"
    assert_close(got, _reference_dlogits(big, yb), rtol=rtol, atol=atol, what=f"dlogits for very large {dtype} logits whose rows have very different maxima")
# float32 in, float32 out
l32 = torch.randn(6, 5, generator=g)
y32 = torch.randint(0, 5, (6,), generator=g)
got32 = _dlogits(l32, y32)
assert got32.dtype == torch.float32, f"float32 logits gave a {got32.dtype} gradient"
assert_close(got32, _reference_dlogits(l32, y32), rtol=1e-5, atol=1e-7, what="float32 dlogits")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · `mlp_backward` (graded)
#
# Write `mlp_backward(cache, dlogits)`: given the `cache` of `mlp_forward` and the upstream gradient
# `dlogits` $= \partial L / \partial\,\text{logits}$ `(N, n_classes)`, return the tuple
# `(dW1, db1, dW2, db2)`, each shaped like its parameter.
#
# - **No autograd**: do not call `.backward()` or `torch.autograd.grad`. The tests call your function under
#   `torch.no_grad()` with tensors that do not require gradients, and make both raise while it runs.
# - `dlogits` already holds the $1/N$ of the mean loss: do not divide by $N$ again.
# - Do not modify `dlogits` or anything in `cache` in place.
# - Matmul, `einsum` or explicit sums are all fine.

# %% nbgrader={"grade": false, "grade_id": "mlp_backward", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mlp_backward(cache: dict, dlogits: torch.Tensor):
    """Manual backward pass of ``mlp_forward``. Returns ``(dW1, db1, dW2, db2)``."""
    ### BEGIN SOLUTION
    x, z1, h1, W2 = cache["x"], cache["z1"], cache["h1"], cache["W2"]
    dW2 = dlogits.T @ h1
    db2 = dlogits.sum(dim=0)
    dh1 = dlogits @ W2
    dz1 = dh1 * (z1 > 0)
    dW1 = dz1.T @ x
    db1 = dz1.sum(dim=0)
    return dW1, db1, dW2, db2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_mlp_backward_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Compared with autograd in float64 (round-off only, hence rtol=1e-10), for an arbitrary upstream gradient.
def _make_cache(n, d_in, hidden, n_classes, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    W1 = torch.randn(hidden, d_in, generator=g, dtype=torch.float64) / d_in**0.5
    b1 = 0.1 * torch.randn(hidden, generator=g, dtype=torch.float64)
    W2 = torch.randn(n_classes, hidden, generator=g, dtype=torch.float64) / hidden**0.5
    b2 = 0.1 * torch.randn(n_classes, generator=g, dtype=torch.float64)
    z1 = x @ W1.T + b1
    h1 = torch.relu(z1)
    cache = {"x": x, "W1": W1, "b1": b1, "z1": z1, "h1": h1, "W2": W2, "b2": b2}
    dlogits = torch.randn(n, n_classes, generator=g, dtype=torch.float64)
    return cache, dlogits


def _autograd_grads(cache, dlogits):
    leaves = [cache[k].clone().requires_grad_(True) for k in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = leaves
    with torch.enable_grad():
        logits = torch.relu(cache["x"] @ W1.T + b1) @ W2.T + b2
        return torch.autograd.grad(logits, leaves, grad_outputs=dlogits)


def _check_mlp_backward(n, d_in, hidden, n_classes, seed, label):
    cache, dlogits = _make_cache(n, d_in, hidden, n_classes, seed)
    with torch.no_grad():
        grads = mlp_backward(cache, dlogits)
    assert len(grads) == 4, f"mlp_backward must return (dW1, db1, dW2, db2), got {len(grads)} values"
    shapes = {"dW1": (hidden, d_in), "db1": (hidden,), "dW2": (n_classes, hidden), "db2": (n_classes,)}
    for (name, shape), got, ref in zip(shapes.items(), grads, _autograd_grads(cache, dlogits)):
        assert_shape(got, shape, what=f"{name} {label} (expected the shape of {name[1:]})")
        assert_close(got, ref, rtol=1e-10, atol=1e-12, what=f"{name} vs autograd {label}")


_check_mlp_backward(n=5, d_in=4, hidden=6, n_classes=3, seed=0, label="(N=5, d_in=4, hidden=6, n_classes=3)")
### BEGIN HIDDEN TESTS
for i, (n, d_in, hidden, n_classes) in enumerate(((9, 7, 5, 3), (32, 64, 16, 10), (2, 3, 40, 4), (64, 8, 12, 5))):
    _check_mlp_backward(n, d_in, hidden, n_classes, seed=10 + i, label="for other layer sizes and batch sizes")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mlp_backward_by_hand", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# A batch of one, with .backward() and torch.autograd.grad made to raise while mlp_backward runs:
# the bias gradients are summed over the batch axis, and cache and dlogits are left untouched.
def _make_cache(n, d_in, hidden, n_classes, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    W1 = torch.randn(hidden, d_in, generator=g, dtype=torch.float64) / d_in**0.5
    b1 = 0.1 * torch.randn(hidden, generator=g, dtype=torch.float64)
    W2 = torch.randn(n_classes, hidden, generator=g, dtype=torch.float64) / hidden**0.5
    b2 = 0.1 * torch.randn(n_classes, generator=g, dtype=torch.float64)
    z1 = x @ W1.T + b1
    return {"x": x, "W1": W1, "b1": b1, "z1": z1, "h1": torch.relu(z1), "W2": W2, "b2": b2}


def _backward_without_autograd(cache, dlogits):
    """mlp_backward under no_grad with autograd made to raise; checks that no input was modified."""
    snapshot = {k: v.clone() for k, v in cache.items()}
    dlogits_before = dlogits.clone()
    with torch.no_grad(), forbidden(torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad,
                                    what="mlp_backward (no autograd: compute the gradients by hand)"):
        grads = mlp_backward(cache, dlogits)
    for k, v in snapshot.items():
        assert torch.equal(cache[k], v), f"mlp_backward modified cache[{k!r}] in place"
    assert torch.equal(dlogits, dlogits_before), "mlp_backward modified dlogits in place"
    return grads


cache = _make_cache(1, 3, 4, 2, seed=1)
dlogits = torch.tensor([[0.7, -0.7]], dtype=torch.float64)
dW1, db1, dW2, db2 = _backward_without_autograd(cache, dlogits)
assert_shape(db1, (4,), what="db1 for a batch of one (sum over the batch axis)")
assert_shape(db2, (2,), what="db2 for a batch of one (sum over the batch axis)")
assert_close(db2, dlogits[0], rtol=1e-12, atol=0, what="db2 for a batch of one (equals dlogits[0])")
### BEGIN HIDDEN TESTS
# end to end with cross-entropy: the reference dlogits comes from autograd, so this tests mlp_backward alone
g = torch.Generator().manual_seed(2)
n, d_in, hidden, n_classes = 12, 6, 9, 4
cache = _make_cache(n, d_in, hidden, n_classes, seed=3)
y = torch.randint(0, n_classes, (n,), generator=g)
leaves = [cache[k].clone().requires_grad_(True) for k in ("W1", "b1", "W2", "b2")]
with torch.enable_grad():
    z = torch.relu(cache["x"] @ leaves[0].T + leaves[1]) @ leaves[2].T + leaves[3]
    z.retain_grad()
    F.cross_entropy(z, y).backward()
dlogits = z.grad.detach().clone()
grads = _backward_without_autograd(cache, dlogits)
for name, got, leaf in zip(("dW1", "db1", "dW2", "db2"), grads, leaves):
    assert_close(got, leaf.grad, rtol=1e-10, atol=1e-12, what=f"{name} for the mean cross-entropy loss")
# units whose pre-activation is negative get exactly zero gradient (ReLU mask)
dead = (cache["z1"] <= 0).all(dim=0)
if dead.any():
    assert (grads[0][dead] == 0).all() and (grads[1][dead] == 0).all(), "a unit that is off for every sample must get zero dW1/db1"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Your backward pass trains a network
#
# Gradients are all that training needs: gradient descent moves every parameter against its gradient,
# $\theta \leftarrow \theta - \eta\, \partial L / \partial \theta$ with learning rate $\eta$ (for a weight matrix,
# $W \leftarrow W - \eta\, \partial L/\partial W$, which needs $\partial L/\partial W$ shaped like $W$). Below,
# *your* two functions drive plain gradient descent on
# the 1,438 training digits (full batch, learning rate 0.5, 100 steps), with no autograd anywhere.
# At the end, autograd computes the same gradients once more, as a check.

# %%
x_train, y_train = digits.x_train.to(device), digits.y_train.to(device)
x_val, y_val = digits.x_val.to(device), digits.y_val.to(device)
W1, b1, W2, b2 = (p.to(device) for p in init_mlp(64, 64, 10, torch.Generator().manual_seed(0)))
lr = 0.5
losses = []
with torch.no_grad():
    for step in range(100):
        logits, cache = mlp_forward(x_train, W1, b1, W2, b2)
        losses.append(F.cross_entropy(logits, y_train).item())
        dW1, db1, dW2, db2 = mlp_backward(cache, softmax_cross_entropy_backward(logits, y_train))
        for p, dp in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            p -= lr * dp
    val_logits, _ = mlp_forward(x_val, W1, b1, W2, b2)
    print(f"train loss {losses[0]:.3f} -> {losses[-1]:.3f};  validation accuracy "
          f"{(val_logits.argmax(dim=1) == y_val).float().mean().item():.3f}")

leaves = [p.clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
F.cross_entropy(mlp_forward(x_train, *leaves)[0], y_train).backward()
logits, cache = mlp_forward(x_train, W1, b1, W2, b2)
mine = mlp_backward(cache, softmax_cross_entropy_backward(logits, y_train))
print("largest difference from autograd:", max((m - p.grad).abs().max().item() for m, p in zip(mine, leaves)))
plot_curves({"manual backprop": losses}, xlabel="step", ylabel="cross-entropy (nats)", logy=True,
            title="Digits MLP trained with a hand-written backward pass");

# %% [markdown]
# ## 6. Checking gradients numerically
#
# When a backward pass is written by hand (a custom layer, a custom `autograd.Function`), the test that
# catches mistakes is a comparison with finite differences. Taylor's theorem gives
#
# $$
# \frac{f(x+\varepsilon) - f(x)}{\varepsilon} = f'(x) + \tfrac{\varepsilon}{2} f''(x) + O(\varepsilon^2),
# \qquad
# \frac{f(x+\varepsilon) - f(x-\varepsilon)}{2\varepsilon} = f'(x) + \tfrac{\varepsilon^2}{6} f'''(x) + O(\varepsilon^4).
# $$
#
# In the *central* difference the even terms cancel, so its truncation error shrinks like $\varepsilon^2$
# instead of $\varepsilon$. A smaller $\varepsilon$ is not always better, though: $f$ is only known to about
# $\delta |f|$, where $\delta$ is the machine precision ($\approx 1.1\times10^{-16}$ in float64,
# $6\times10^{-8}$ in float32), and dividing by $\varepsilon$ magnifies that round-off to about
# $\delta |f| / \varepsilon$. The plot shows both effects for $f = \sin$ at $x = 1$.

# %%
eps_grid = torch.logspace(-12, 0, 49, dtype=torch.float64)
exact = math.cos(1.0)
errors = {}
for label, dtype, central in (("forward, float64", torch.float64, False),
                              ("central, float64", torch.float64, True),
                              ("central, float32", torch.float32, True)):
    x0 = torch.tensor(1.0, dtype=dtype)
    errs = []
    for eps in eps_grid.tolist():
        e = torch.tensor(eps, dtype=dtype)
        if central:
            est = (torch.sin(x0 + e) - torch.sin(x0 - e)) / (2 * e)
        else:
            est = (torch.sin(x0 + e) - torch.sin(x0)) / e
        errs.append(max(abs(est.item() - exact), 1e-17))
    errors[label] = errs

fig, ax = plt.subplots(figsize=(6, 3.5))
for label, errs in errors.items():
    ax.loglog(eps_grid.tolist(), errs, label=label)
ax.set_xlabel("eps")
ax.set_ylabel("|estimate - exact|")
ax.set_title("Finite differences of sin at x = 1")
ax.legend(frameon=False)
ax.grid(alpha=0.3)
for label, errs in errors.items():
    best = min(range(len(errs)), key=errs.__getitem__)
    print(f"{label}: best eps {eps_grid[best].item():.1e}, error {errs[best]:.1e}")

# %% [markdown]
# Right of the minimum the truncation error dominates (slope 1 for forward, 2 for central); left of it,
# round-off. The best step balances the two: for central differences in float64 it lies near
# $\varepsilon \approx 10^{-5}$, with an error below $10^{-12}$. In float32 the curve is ragged, and even
# its best error, near $10^{-6}$, is too coarse to tell a subtle bug from round-off. That is why
# gradient checks run in **float64**.
#
# To compare an analytic gradient $a$ with a numerical one $b$, use the **relative error**
#
# $$
# \mathrm{rel}(a, b) = \frac{\lVert a - b \rVert_2}{\lVert a \rVert_2 + \lVert b \rVert_2},
# $$
#
# with the norm taken over all entries, and defined as 0 when both are zero. It is symmetric and does
# not care about the overall scale of the gradient. In float64, a correct backward pass typically gives
# $10^{-8}$ or less; $10^{-6}$ is a safe pass mark; $10^{-2}$ or more means a bug. One caveat: if a
# ReLU input lies within $\varepsilon$ of 0, the two evaluations land on different sides of the kink and
# that one entry can be off even though the code is right.
#
# ## Exercise 3 · `numerical_gradient` (graded)
#
# Write `numerical_gradient(f, x, eps=1e-6)`:
#
# - `f` maps a tensor shaped like `x` to a scalar (a 0-dim tensor or a Python float);
# - `x` is a floating-point tensor of any shape that does not require gradients;
# - return a tensor shaped like `x` whose every entry is the central difference
#   $\bigl(f(x + \varepsilon e_i) - f(x - \varepsilon e_i)\bigr) / (2\varepsilon)$, one entry $i$ at a time
#   ($e_i$ is the tensor with a 1 at entry $i$ and 0 elsewhere);
# - when the function returns, `x` must hold its original values. You may perturb `x` in place and
#   restore each entry (save the old value and write it back), or perturb a copy.
#
# The tests check the result, not how you get there: extra calls of `f` (say, once at `x` itself) are fine.

# %% nbgrader={"grade": false, "grade_id": "numerical_gradient", "locked": false, "schema_version": 3, "solution": true, "task": false}
def numerical_gradient(f, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central-difference estimate of the gradient of the scalar function ``f`` at ``x``."""
    ### BEGIN SOLUTION
    grad = torch.zeros_like(x)
    flat_x = x.view(-1)
    flat_grad = grad.view(-1)
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + eps
        f_plus = float(f(x))
        flat_x[i] = old - eps
        f_minus = float(f(x))
        flat_x[i] = old
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_numerical_gradient_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Shape, and values against the exact derivative of sum(x**2), in float64.
g = torch.Generator().manual_seed(0)
x = torch.randn(3, 4, generator=g, dtype=torch.float64)
num = numerical_gradient(lambda t: (t**2).sum(), x)
assert_shape(num, (3, 4), what="numerical_gradient of f(x) = sum(x**2) for x of shape (3, 4)")
# central differences are exact for a quadratic up to round-off (about 1e-16 * |f| / eps ~ 1e-9 here)
assert_close(num, 2 * x, rtol=1e-7, atol=1e-7, what="gradient of sum(x**2) (expected 2x)")
### BEGIN HIDDEN TESTS
# A cubic makes the truncation error visible: the central difference of x**3 is exactly 3x^2 + eps^2.
# A forward difference gives 3x^2 + 3x*eps + eps^2 and dividing by eps instead of 2*eps doubles it, so
# with eps = 0.1 and 0.01 the tolerance below (round-off only, < 1e-12) separates them cleanly.
for shape, eps in (((5,), 0.1), ((2, 3), 0.01), ((2, 2, 3), 0.1)):
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    num = numerical_gradient(lambda t: (t**3).sum(), x, eps)
    assert_shape(num, shape, what="numerical_gradient for x of another shape (expected the shape of x)")
    assert_close(num, 3 * x**2 + eps**2, rtol=0, atol=1e-9,
                 what="central difference of a cubic with a large eps (use the eps given, and divide by 2 * eps)")
# a non-linear function mixing the entries, against autograd, with the default eps (error ~1e-9)
A = torch.randn(6, 6, generator=g, dtype=torch.float64)


def f_mixed(t):
    return torch.tanh(t @ A @ t) + (t.sin() * t).sum()


x = torch.randn(6, generator=g, dtype=torch.float64)
xr = x.clone().requires_grad_(True)
f_mixed(xr).backward()
num = numerical_gradient(f_mixed, x)
assert num.dtype == torch.float64, f"float64 input gave a {num.dtype} gradient"
assert_close(num, xr.grad, rtol=1e-6, atol=1e-7,
             what="numerical gradient of a function that mixes all entries of x, against autograd")
# f may return a Python float as well as a 0-dim tensor
num = numerical_gradient(lambda t: float((t**2).sum()), torch.tensor([1.0, -2.0], dtype=torch.float64), 1e-3)
assert_close(num, torch.tensor([2.0, -4.0], dtype=torch.float64), rtol=0, atol=1e-9,
             what="gradient when f returns a Python float")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_numerical_gradient_restores_x", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# x holds its original values afterwards. Restoring by adding and subtracting eps may leave a
# round-off of ~1e-16, so the check allows 1e-12; a perturbation left behind is of size eps.
g = torch.Generator().manual_seed(1)
x = torch.randn(4, 3, generator=g, dtype=torch.float64)
x_before = x.clone()
numerical_gradient(lambda t: (t**3).sum(), x, 1e-3)
assert_close(x, x_before, rtol=0, atol=1e-12, what="x after numerical_gradient (it must be left unchanged)")
### BEGIN HIDDEN TESTS
x = torch.randn(2, 5, generator=g, dtype=torch.float64)
x_before = x.clone()
numerical_gradient(lambda t: (t.exp() * t).sum(), x, 0.05)
assert_close(x, x_before, rtol=0, atol=1e-12, what="x after numerical_gradient on another function (it must be left unchanged)")
# restored after every entry, not only at the end: with a coupled f, an entry left perturbed while the
# next one is differenced changes the result (the value check), and a 3-D x is restored too
x = torch.randn(2, 3, 2, generator=g, dtype=torch.float64)
x_before = x.clone()
num = numerical_gradient(lambda t: t.sum() ** 2, x, 1e-3)
assert_close(x, x_before, rtol=0, atol=1e-12, what="x of three dimensions after numerical_gradient (left unchanged)")
assert_close(num, 2 * x_before.sum() * torch.ones_like(x_before), rtol=0, atol=1e-8,
             what="gradient of a function coupling all entries (every other entry must hold its original value)")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 · a gradient checker (graded)
#
# Two functions:
#
# 1. `relative_error(a, b)`: the relative error defined above, as a Python `float` (not a 0-dim
#    tensor: call `.item()`), `0.0` when both tensors are zero, never NaN.
# 2. `gradient_check(f, params, grads, eps=1e-6)`: `params` is a dict of named tensors, `f(params)`
#    returns a scalar loss, and `grads` is a dict with the same names holding the analytic gradients
#    to be checked (in any order). For each name, estimate the gradient of `f` with respect to that
#    tensor by central differences with step `eps`, keeping the other tensors fixed (your
#    `numerical_gradient` does exactly that), and return a dict `{name: relative error}` whose values
#    are Python floats. The tensors in `params` must hold their original values afterwards.

# %% nbgrader={"grade": false, "grade_id": "relative_error", "locked": false, "schema_version": 3, "solution": true, "task": false}
def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / (||a|| + ||b||) over all entries; 0.0 when both are zero."""
    ### BEGIN SOLUTION
    denom = (a.norm() + b.norm()).item()
    if denom == 0.0:
        return 0.0
    return (a - b).norm().item() / denom
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_relative_error", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# A Python float, its value for one pair of vectors, and 0 for identical tensors.
# rtol=1e-7 leaves room for a tiny floor added to the denominator (a common, harmless guard).
def _rel(a, b):
    value = relative_error(a, b)
    assert_python_float(value, what="relative_error(a, b)")
    return value


a = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
b = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64)
assert_close(_rel(a, b), 4 / 6, rtol=1e-7, atol=0,
             what="relative_error([1, 2, 2], [1, 2, -2]) (expected ||a-b|| / (||a|| + ||b||) = 4/6)")
assert _rel(a, a) == 0.0, "relative_error(a, a) must be 0"
### BEGIN HIDDEN TESTS
zero = torch.zeros(3, dtype=torch.float64)
assert _rel(zero, zero) == 0.0, "relative_error of two zero tensors must be 0.0, not NaN"
v = torch.tensor([3.0, 4.0], dtype=torch.float64)
assert_close(_rel(v, torch.zeros(2, dtype=torch.float64)), 1.0, rtol=1e-7, atol=0,
             what="relative_error when b is zero and a is not (expected 1)")
assert_close(_rel(torch.zeros(2, dtype=torch.float64), v), 1.0, rtol=1e-7, atol=0,
             what="relative_error when a is zero and b is not (expected 1)")
# 2-D tensors: the norm runs over all entries
m1, m2 = torch.ones(2, 3, dtype=torch.float64), 2 * torch.ones(2, 3, dtype=torch.float64)
assert_close(_rel(m1, m2), 1 / 3, rtol=1e-7, atol=0,
             what="relative_error of two matrices (the norms run over all entries)")
# symmetric and scale-free
g = torch.Generator().manual_seed(0)
p, q = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
expected = ((p - q).norm() / (p.norm() + q.norm())).item()
assert_close(_rel(p, q), expected, rtol=1e-7, atol=0, what="relative_error of two random matrices")
assert_close(_rel(q, p), expected, rtol=1e-7, atol=0, what="relative_error(b, a) (it is symmetric)")
assert_close(_rel(1e6 * p, 1e6 * q), expected, rtol=1e-7, atol=0,
             what="relative_error after scaling both tensors by the same factor (it is scale-free)")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "gradient_check", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_check(f, params: dict, grads: dict, eps: float = 1e-6) -> dict:
    """Relative error between ``grads[name]`` and a central-difference estimate, for every name in ``params``."""
    ### BEGIN SOLUTION
    errors = {}
    for name, value in params.items():
        def f_of_one(t, name=name):
            return f({**params, name: t})

        numeric = numerical_gradient(f_of_one, value, eps)
        errors[name] = relative_error(grads[name], numeric)
    return errors
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gradient_check", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# One relative error per parameter name, each a Python float: about 0 for the right gradient of
# f(u, v) = ||u v||^2, and 1 for a sign-flipped one (||g + g|| / (||g|| + ||g||)).
g = torch.Generator().manual_seed(0)
params = {"u": torch.randn(3, 2, generator=g, dtype=torch.float64), "v": torch.randn(2, generator=g, dtype=torch.float64)}


def f_uv(p):
    return ((p["u"] @ p["v"]) ** 2).sum()


r = params["u"] @ params["v"]
good = {"u": 2 * r[:, None] * params["v"][None, :], "v": 2 * params["u"].T @ r}
errors = gradient_check(f_uv, params, good)
assert isinstance(errors, dict) and set(errors) == {"u", "v"}, \
    f"gradient_check should return a dict with one error per parameter name, got {errors!r}"
for name, err in errors.items():
    assert_python_float(err, what=f"gradient_check(...)[{name!r}]")
    assert_between(err, 0.0, 1e-8, what=f"relative error for the correct gradient of {name!r}")
bad = {"u": good["u"], "v": -good["v"]}
errors = gradient_check(f_uv, params, bad)
assert_between(float(errors["v"]), 0.5, 1.0 + 1e-9, what="relative error for a sign-flipped gradient of 'v' (expected 1)")
assert_between(float(errors["u"]), 0.0, 1e-8, what="relative error for the correct gradient of 'u'")
### BEGIN HIDDEN TESTS
# the eps argument is used: for sum(w**3) the central difference is exactly 3w^2 + eps^2
w = torch.randn(5, generator=g, dtype=torch.float64)
exact = 3 * w**2
eps = 0.1
expected = (eps**2 * torch.ones(5, dtype=torch.float64)).norm() / (exact.norm() + (exact + eps**2).norm())
err = gradient_check(lambda p: (p["w"] ** 3).sum(), {"w": w}, {"w": exact}, eps=eps)["w"]
assert_python_float(err, what="an error returned by gradient_check")
assert_close(err, expected.item(), rtol=1e-6, atol=0,
             what="relative error with a large eps (the eps given must be used for the central differences)")
# grads may list the names in another order than params
params_before = {k: v.clone() for k, v in params.items()}
errors = gradient_check(f_uv, params, {"v": good["v"], "u": 3 * good["u"]})
assert_between(float(errors["v"]), 0.0, 1e-8, what="error for a correct gradient when grads lists the names in another order")
assert_between(float(errors["u"]), 0.4, 0.6,
               what="error for a gradient off by a constant factor, when grads lists the names in another order")
for k, v in params_before.items():
    assert_close(params[k], v, rtol=0, atol=1e-12, what=f"params[{k!r}] after gradient_check (must be unchanged)")
# A gradient check of a ReLU MLP with cross-entropy in float64, against autograd: every error < 1e-6.
x = torch.randn(8, 5, generator=g, dtype=torch.float64)
y = torch.randint(0, 3, (8,), generator=g)
mlp = {"W1": torch.randn(6, 5, generator=g, dtype=torch.float64), "b1": torch.randn(6, generator=g, dtype=torch.float64),
       "W2": torch.randn(3, 6, generator=g, dtype=torch.float64), "b2": torch.randn(3, generator=g, dtype=torch.float64)}


def mlp_loss(p):
    return F.cross_entropy(torch.relu(x @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"], y)


leaves = {k: v.clone().requires_grad_(True) for k, v in mlp.items()}
mlp_loss(leaves).backward()
auto = {k: v.grad for k, v in leaves.items()}
with torch.no_grad():
    errors = gradient_check(mlp_loss, mlp, auto)
assert set(errors) == set(mlp), f"expected errors for {sorted(mlp)}, got {sorted(errors)}"
for name, err in errors.items():
    assert_python_float(err, what=f"gradient_check(...)[{name!r}]")
    assert_between(err, 0.0, 1e-6, what=f"relative error of autograd's gradient for {name} (float64 MLP)")
### END HIDDEN TESTS

# %% [markdown]
# Now point the checker at **your** backward pass: a small float64 network (8 digits, 64 → 8 → 10,
# 610 parameters, so 1,220 evaluations of the loss), with the gradients from Exercises 1 and 2.

# %%
g = torch.Generator().manual_seed(1)
x_small = digits.x_train[:8].double()
y_small = digits.y_train[:8]
W1, b1, W2, b2 = init_mlp(64, 8, 10, g, dtype=torch.float64)
check_params = {"W1": W1, "b1": b1 + 0.1 * torch.randn(8, generator=g, dtype=torch.float64), "W2": W2, "b2": b2}


def small_loss(p):
    return F.cross_entropy(mlp_forward(x_small, p["W1"], p["b1"], p["W2"], p["b2"])[0], y_small)


logits, cache = mlp_forward(x_small, *check_params.values())
dW1, db1, dW2, db2 = mlp_backward(cache, softmax_cross_entropy_backward(logits, y_small))
errors = gradient_check(small_loss, check_params, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2})
for name, err in errors.items():
    print(f"{name}: relative error {err:.1e}")
assert max(errors.values()) < 1e-6, "a relative error above 1e-6 in float64 means the backward pass has a bug"

# %% [markdown]
# PyTorch ships this check: `torch.autograd.gradcheck(fn, inputs)` compares the backward pass of `fn`
# (autograd's, or the one of your own `torch.autograd.Function`) with central differences, for inputs in
# float64 that require gradients, and returns `True` or raises. Two more tools from the same family:
# `torch.autograd.grad(loss, [params])` returns the gradients instead of adding them into `.grad`
# (pass `retain_graph=True` to run a second backward through the same graph, which is freed after the
# first by default), and `torch.func` computes **per-sample** gradients, one per row of the batch,
# by vectorising `grad` over the batch with `vmap`. Last, the memory that backpropagation costs (the
# activations kept for the backward pass) can be traded for compute:
# `torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)` keeps only the block's input and runs
# the block's forward a second time during the backward pass; the gradients are the same.

# %%
W_check = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
x_check = torch.randn(5, 4, dtype=torch.float64)
print("gradcheck of x -> tanh(x W^T):", torch.autograd.gradcheck(lambda W: torch.tanh(x_check @ W.T), (W_check,)))


def sample_loss(W, x_row):
    return (torch.tanh(W @ x_row) ** 2).sum()


per_sample = torch.func.vmap(torch.func.grad(sample_loss), in_dims=(None, 0))(W_check.detach(), x_check)  # one dW per row
(batch_grad,) = torch.autograd.grad(sum(sample_loss(W_check, row) for row in x_check), [W_check])
torch.testing.assert_close(per_sample.sum(dim=0), batch_grad)
print("per-sample gradients:", tuple(per_sample.shape), "| their sum is the batch gradient")

block = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 4)).double()
x_in = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
(plain,) = torch.autograd.grad(block(x_in).pow(2).sum(), [x_in])
(recomputed,) = torch.autograd.grad(torch.utils.checkpoint.checkpoint(block, x_in, use_reentrant=False).pow(2).sum(), [x_in])
print("checkpointed block, same input gradient:", torch.equal(plain, recomputed))

# %% [markdown]
# ## 7. Explorer: gradients accumulate, so call `zero_grad`
#
# `loss.backward()` does not *write* the gradient into each parameter's `.grad`; it **adds** to what is
# already there. That is the fan-out rule from section 1 applied across calls: PyTorch cannot know
# whether two backward passes are two uses of the same parameter that must be summed, so it always sums.
# The standard loop therefore clears the gradients every step: `optimizer.zero_grad()` → forward (the graph
# is built) → loss → `loss.backward()` (fills `.grad`) → `optimizer.step()`. Skip the clearing for three
# steps and the third step uses $g_1 + g_2 + g_3$. Each `.grad` has the shape of its parameter: `(64, 10)`
# for the weight of a 10 → 64 layer, stored `(fan_out, fan_in)`.

# %%
w = torch.tensor([1.0, -2.0], requires_grad=True)
for call in range(1, 4):
    (w**2).sum().backward()
    print(f"after backward call {call}: w.grad = {w.grad.tolist()}  (one call gives {(2 * w).tolist()})")
w.grad = None   # what optimizer.zero_grad() does by default (set_to_none=True)

layer = nn.Linear(10, 64)                # 10 inputs -> 64 outputs
layer(torch.randn(8, 10)).sum().backward()
print("nn.Linear(10, 64): weight", tuple(layer.weight.shape), "-> .grad", tuple(layer.weight.grad.shape),
      "| bias", tuple(layer.bias.shape), "-> .grad", tuple(layer.bias.grad.shape))

# %% [markdown]
# What happens in training when the clearing is forgotten? Below, the same MLP trains twice with SGD
# (learning rate 0.2, mini-batches of 64 digits, 100 steps), once with `zero_grad()` and once without.
# Without it, the `.grad` used at step $t$ is $\sum_{s \le t} g_s$, the sum of **every** gradient so far:
# its norm grows step after step, old gradients keep pushing long after they stopped being true, and the
# steps get ever larger.

# %%
def train_sgd(use_zero_grad: bool, steps: int = 100, lr: float = 0.2, batch_size: int = 64):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    batches = torch.Generator().manual_seed(0)
    grad_norms, losses = [], []
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (batch_size,), generator=batches).to(device)
        if use_zero_grad:
            opt.zero_grad()
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        loss.backward()
        grad_norms.append(torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item())
        losses.append(loss.item())
        opt.step()
    return grad_norms, losses


runs = {"with zero_grad": train_sgd(True), "without zero_grad": train_sgd(False)}
fig, (ax_norm, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.5))
plot_curves({k: v[0] for k, v in runs.items()}, ax=ax_norm, ylabel="norm of .grad", logy=True,
            title="The gradient used by each step")
plot_curves({k: v[1] for k, v in runs.items()}, ax=ax_loss, ylabel="training loss (nats)", logy=True,
            title="Mini-batch loss")
for k, (norms, losses) in runs.items():
    print(f"{k:>18}: final .grad norm {norms[-1]:9.2f}   final loss {losses[-1]:10.3f}")

# %% [markdown]
# With `zero_grad` the gradient norm stays between about 0.2 and 1, and the loss falls. Without it, the
# first steps look fine, even fast: a running sum of gradients acts like momentum that never decays. But
# the sum never forgets, its norm keeps growing, and the loss blows up. A model that trains, then suddenly
# diverges for no visible reason, is a classic symptom.
#
# Accumulation is also *useful*, when it is deliberate: to imitate a batch $k$ times larger than fits in
# memory, run $k$ micro-batches, call `backward()` on each loss divided by $k$, and only then call
# `step()` and `zero_grad()`. The sum of the $k$ gradients is then the gradient of the large batch's mean loss.
#
# **What to try: predict, then change the code.** Before running it, guess how the run without
# `zero_grad` reacts to `lr=0.01` in `train_sgd`: does it still diverge, and later or sooner? Then try
# `batch_size=1438`, so that each batch is about the whole training set and successive gradients barely
# differ. Finally, turn the run without `zero_grad` into correct gradient accumulation over 4 micro-batches.

# %% [markdown]
# ## Drill (graded)
#
# 1. `drill_loss_evaluations`: how many evaluations of the loss does a central-difference gradient check
#    of **every** parameter (weights and biases) of a 64 → 32 → 10 MLP need?
# 2. `drill_grad_multiple`: you call `loss.backward()` three times on the same batch with the same
#    weights, without `zero_grad()` in between. `.grad` now holds what multiple of the true gradient?
# 3. `drill_slope_x`: the derivative of $x^3 + 2x$ at $x = 2$.
# 4. `drill_slope_w`: the derivative of $w x^2 + w^3$ with respect to $w$, at $w = 2$, $x = 3$.

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_loss_evaluations = 2 * (64 * 32 + 32 + 32 * 10 + 10)
drill_grad_multiple = 3
drill_slope_x = 3 * 2**2 + 2
drill_slope_w = 3**2 + 3 * 2**2
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible: each answer is a number. The values are checked by the hidden tests.
for _name, _value in (("drill_loss_evaluations", drill_loss_evaluations), ("drill_grad_multiple", drill_grad_multiple),
                      ("drill_slope_x", drill_slope_x), ("drill_slope_w", drill_slope_w)):
    assert isinstance(_value, (int, float)) and not isinstance(_value, bool), f"{_name} should be a number, got {_value!r}"
### BEGIN HIDDEN TESTS
assert abs(drill_loss_evaluations - 4820) < 1e-6, \
    "drill_loss_evaluations is not right: count every weight and bias of both layers, and the evaluations each one needs"
assert abs(drill_grad_multiple - 3) < 1e-6, "drill_grad_multiple is not right: backward adds into .grad on every call"
assert abs(drill_slope_x - 14) < 1e-6, "drill_slope_x is not right: differentiate each term, then put x = 2"
assert abs(drill_slope_w - 21) < 1e-6, "drill_slope_w is not right: differentiate with respect to w (x is a constant), then put in the values"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** Why does PyTorch accumulate gradients in `.grad` instead of overwriting them? Describe the bug
# that forgetting `zero_grad()` causes, and one situation where accumulating on purpose is the right thing.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# A tensor used in several places gets the *sum* of the gradients from each use, and summing into `.grad`
# implements that rule without PyTorch having to know how many backward passes belong together. If
# `zero_grad()` is forgotten, every step uses the sum of all gradients so far: the update grows over
# time, stale gradients keep pushing, and training becomes unstable or diverges. Accumulating on purpose
# is gradient accumulation: to simulate a batch $k$ times larger than memory allows, run $k$
# micro-batches, call `backward()` on each loss scaled by $1/k$, then `step()` and `zero_grad()` once.
# (The same happens when a loss has several terms computed in separate backward calls.)

# %% [markdown]
# **Q2.** Why are networks trained with backpropagation rather than with finite differences? Compare
# the cost of one gradient for a model with $P$ parameters, and say what backpropagation pays in memory.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Central differences need two loss evaluations per parameter, $2P$ forward passes per gradient, which
# is hopeless for millions of parameters, and the result is only accurate to roughly $10^{-10}$ in float64
# (much worse in float32). Backpropagation (reverse-mode differentiation) gets all $P$ partial derivatives
# of the scalar loss, exact up to round-off, in one backward pass that costs a small constant (about two)
# times the forward pass, independent of $P$, because it propagates one vector $\bar v$ backwards instead
# of one direction per parameter. The price is memory: the intermediate activations of the forward pass
# must be kept until the backward pass uses them, so memory grows with depth and batch size (gradient
# checkpointing trades recomputation for that memory). Finite differences remain the tool for *testing*
# a backward pass.
