# %% [markdown]
# # 05 · Weight initialisation
#
# **Interview question:** *Why does weight initialisation matter, and when do you use Xavier rather than He?*
#
# **After this notebook you can**
# - derive how one layer scales the variance of its input, $\mathrm{Var}(y) = n_\text{in}\,\mathrm{Var}(w)\,\mathrm{Var}(x)$, and pick the weight scale that keeps it at 1;
# - state Xavier ($\mathrm{Var}(w) = 2/(n_\text{in}+n_\text{out})$) and He ($\mathrm{Var}(w) = 2/n_\text{in}$) initialisation and say which activation each one is for;
# - compute `fan_in` and `fan_out` of Linear and convolution weights;
# - write `xavier_uniform_` and `kaiming_normal_` yourself, in place and invisible to autograd;
# - say what PyTorch does by default for `nn.Linear`, and why a deep ReLU stack needs more than that;
# - initialise a whole model with `model.apply(init_fn)`, and check it by printing each layer's activation std;
# - recognise vanishing and exploding activations and gradients in a 20-layer network.
#
# **Runs on a CPU in about 15 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math

import matplotlib.pyplot as plt
import torch
from torch import nn

from course_utils import digits_split, get_device, plot_per_layer, seed_everything
from course_utils.testing import assert_between, assert_close, assert_raises, binomial_tolerance, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. What one layer does to the variance
#
# Write $n_\text{in}$ for `fan_in`, the number of inputs each output unit sums over. A unit of a linear layer computes
#
# $$
# y = \sum_{j=1}^{n_\text{in}} w_j x_j .
# $$
#
# Assume the weights are independent, have mean 0, and are drawn independently of the inputs. Each product then has
# $\mathrm{Var}(w_j x_j) = \mathbb{E}[w_j^2]\,\mathbb{E}[x_j^2] = \mathrm{Var}(w)\,\mathbb{E}[x^2]$, and the products
# are uncorrelated (their covariances contain a factor $\mathbb{E}[w_j] = 0$), so their variances add up:
#
# $$
# \mathrm{Var}(y) = n_\text{in}\,\mathrm{Var}(w)\,\mathbb{E}[x^2]
# \quad\xrightarrow{\;\mathbb{E}[x]=0\;}\quad
# \mathrm{Var}(y) = n_\text{in}\,\mathrm{Var}(w)\,\mathrm{Var}(x).
# $$
#
# So every layer multiplies the variance by $n_\text{in}\mathrm{Var}(w)$, and $L$ layers multiply it by that factor
# $L$ times. A factor of 0.5 leaves $0.5^{20} \approx 10^{-6}$ after 20 layers: the signal *vanishes*. A factor of
# 2 gives $10^{6}$: it *explodes* (or, behind a tanh, saturates at $\pm 1$). The whole game of initialisation is to
# make the factor 1.
#
# The backward pass has the same structure. The gradient reaching input $x_j$ is
# $\partial L/\partial x_j = \sum_i w_{ij}\,\partial L/\partial y_i$, a sum over the $n_\text{out}$ units that $x_j$ feeds, so
#
# $$
# \mathrm{Var}\!\left(\frac{\partial L}{\partial x}\right) = n_\text{out}\,\mathrm{Var}(w)\,\mathrm{Var}\!\left(\frac{\partial L}{\partial y}\right).
# $$
#
# Forward signals want $\mathrm{Var}(w) = 1/n_\text{in}$; gradients want $\mathrm{Var}(w) = 1/n_\text{out}$.
# Check the forward formula on real tensors:

# %%
fan_in, fan_out = 512, 256
x = torch.randn(4096, fan_in, device=device)
for w_std in (0.01, 1 / math.sqrt(fan_in), 0.1):
    w = torch.randn(fan_out, fan_in, device=device) * w_std
    y = x @ w.T
    predicted = fan_in * w_std**2 * x.var().item()
    print(f"std(w) = {w_std:.4f}: predicted Var(y) = {predicted:7.3f}, measured {y.var().item():7.3f}")

# %% [markdown]
# ## 2. `fan_in` and `fan_out` of a weight tensor
#
# Both numbers can be read off the shape of the weight.
#
# - `nn.Linear(in_features, out_features)` stores its weight as **(out_features, in_features)**. Each output sums
#   `in_features` products, so `fan_in = in_features`; each input feeds `out_features` outputs, so `fan_out = out_features`.
# - A convolution stores **(out_channels, in_channels / groups, \*kernel_size)**. One output value sums over every input
#   channel *and* every kernel position; one input value reaches every output channel at every kernel position (away
#   from the borders, with stride 1). So with the *receptive field size* $r = \prod \text{kernel\_size}$
#   (for example $k_h k_w$ in 2-D):
#
# $$
# \texttt{fan\_in} = \text{shape}[1]\cdot r, \qquad \texttt{fan\_out} = \text{shape}[0]\cdot r .
# $$
#
# A `Conv2d(3, 32, kernel_size=3)` therefore has `fan_in` $= 3 \cdot 3 \cdot 3 = 27$, not 3. The rule is the same for
# 1-D, 2-D and 3-D kernels, and a Linear weight is just the case $r = 1$. PyTorch computes these numbers in the private
# helper `torch.nn.init._calculate_fan_in_and_fan_out`; we use it only to check.

# %%
layers = {
    "Linear(64, 10)": nn.Linear(64, 10),
    "Conv1d(3, 16, 5)": nn.Conv1d(3, 16, kernel_size=5),
    "Conv2d(3, 32, 3)": nn.Conv2d(3, 32, kernel_size=3),
    "Conv2d(8, 4, (3, 5))": nn.Conv2d(8, 4, kernel_size=(3, 5)),
    "Conv3d(2, 6, 3)": nn.Conv3d(2, 6, kernel_size=3),
    "Conv2d(32, 32, 3, groups=32)": nn.Conv2d(32, 32, kernel_size=3, groups=32),
}
for name, layer in layers.items():
    shape = tuple(layer.weight.shape)
    fans = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
    print(f"{name:30s} weight {str(shape):18s} (fan_in, fan_out) = {fans}")

# %% [markdown]
# The depthwise convolution (`groups=32`) has `fan_in` $= 1 \cdot 9$: each output channel sees only its own input channel.
#
# ## Exercise 1 · `compute_fans` (graded)
#
# Write `compute_fans(tensor)` returning the tuple `(fan_in, fan_out)` of Python ints:
#
# - a 2-D tensor is a Linear weight of shape (out, in);
# - a tensor with more dimensions is a convolution weight of shape (out, in, \*kernel) with a kernel of any number of dimensions;
# - raise `ValueError` for a tensor with fewer than 2 dimensions (a bias or a scalar has no fans).
#
# Only the shape matters; do not call `torch.nn.init._calculate_fan_in_and_fan_out` (a test switches it off
# while your function runs, and checks that the fans are Python `int`s, not tensors).

# %% nbgrader={"grade": false, "grade_id": "compute_fans", "locked": false, "schema_version": 3, "solution": true, "task": false}
def compute_fans(tensor: torch.Tensor) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a Linear weight (out, in) or a conv weight (out, in, *kernel)."""
    ### BEGIN SOLUTION
    if tensor.dim() < 2:
        raise ValueError(f"fans need a tensor with at least 2 dimensions, got shape {tuple(tensor.shape)}")
    receptive_field = math.prod(tensor.shape[2:])
    fan_in = tensor.shape[1] * receptive_field
    fan_out = tensor.shape[0] * receptive_field
    return fan_in, fan_out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_compute_fans_basics", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# A Linear weight and a 2-D conv weight give the right (fan_in, fan_out) as two Python ints, computed
# without torch.nn.init._calculate_fan_in_and_fan_out; a 1-D tensor raises ValueError.
linear_weight = nn.Linear(5, 3).weight  # shape (3, 5)
with forbidden(torch.nn.init._calculate_fan_in_and_fan_out, what="compute_fans"):
    fans = compute_fans(linear_weight)
    fans_conv = compute_fans(torch.empty(16, 8, 3, 3))
assert tuple(fans) == (5, 3), f"nn.Linear(5, 3).weight has shape (out=3, in=5): expected (fan_in, fan_out) = (5, 3), got {fans}"
assert tuple(fans_conv) == (72, 144), (f"conv weight (out=16, in=8, 3, 3): expected fan_in = 8*3*3 = 72 and "
                                       f"fan_out = 16*3*3 = 144, got {fans_conv}")
for v in (*fans, *fans_conv):
    assert isinstance(v, int) and not isinstance(v, bool), \
        f"compute_fans should return Python ints, got a {type(v).__name__} (use int(...) or math.prod)"
assert_raises(ValueError, compute_fans, torch.empty(5), what="compute_fans of a 1-D tensor (a bias)")
### BEGIN HIDDEN TESTS
# every kind of weight, compared with PyTorch's own helper
shapes = [(7, 2), (2, 7), (1, 1), (10, 4, 5), (3, 6, 1), (16, 8, 3, 5), (4, 6, 5, 3), (8, 2, 3, 4, 5), (6, 1, 1, 1, 1)]
for shape in shapes:
    t = torch.empty(shape)
    got = compute_fans(t)
    expected = torch.nn.init._calculate_fan_in_and_fan_out(t)
    kind = "a Linear weight" if len(shape) == 2 else f"a conv weight with a {len(shape) - 2}-D kernel"
    assert len(got) == 2, f"compute_fans must return the pair (fan_in, fan_out) for {kind}"
    assert all(isinstance(v, int) and not isinstance(v, bool) for v in got), \
        f"compute_fans must return Python ints for {kind}, got {[type(v).__name__ for v in got]}"
    assert tuple(got) == tuple(expected), \
        f"(fan_in, fan_out) of {kind} differ from PyTorch's: fan_in = shape[1] * kernel size, fan_out = shape[0] * kernel size"
# real layers: weights that require grad, and a depthwise conv
for layer in (nn.Conv1d(3, 12, 7), nn.Conv2d(4, 8, (2, 5)), nn.Conv3d(2, 5, 3), nn.Conv2d(6, 6, 3, groups=6), nn.Linear(9, 4)):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
    got = compute_fans(layer.weight)
    assert tuple(got) == tuple(expected), \
        f"(fan_in, fan_out) of the weight of an {type(layer).__name__} layer (a Parameter) differ from PyTorch's"
# no fans below 2 dimensions
assert_raises(ValueError, compute_fans, torch.tensor(3.0), what="compute_fans of a 0-D tensor")
assert_raises(ValueError, compute_fans, nn.Linear(4, 3).bias, what="compute_fans of a Linear bias (1-D)")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Xavier (Glorot) initialisation
#
# Glorot and Bengio (2010) could not satisfy both the forward wish $\mathrm{Var}(w)=1/n_\text{in}$ and the backward
# wish $1/n_\text{out}$ unless the two are equal, so they took the compromise in between:
#
# $$
# \mathrm{Var}(w) = \frac{2}{n_\text{in} + n_\text{out}} .
# $$
#
# The derivation treats the activation as the identity near 0. That fits plain linear layers and tanh, whose slope at 0
# is 1 and whose output is centred on 0; it does not fit ReLU (section 4).
#
# **The uniform version.** A uniform distribution $U(-b, b)$ has variance $b^2/3$. To get a target standard
# deviation $\sigma$, the bound must be $b = \sqrt{3}\,\sigma$, not $\sigma$:
#
# $$
# w \sim U(-b, b), \qquad b = \sqrt{3}\cdot\sqrt{\frac{2}{n_\text{in}+n_\text{out}}} = \sqrt{\frac{6}{n_\text{in}+n_\text{out}}} .
# $$
#
# **The gain.** PyTorch lets you scale the standard deviation (and hence the bound) by a *gain* that compensates for
# what the activation does to the variance. `nn.init.calculate_gain(nonlinearity, param)` returns the recommended one:
#
# | nonlinearity | gain |
# |---|---|
# | `linear`, `conv1d/2d/3d`, `sigmoid` | $1$ |
# | `tanh` | $5/3$ |
# | `relu` | $\sqrt{2}$ |
# | `leaky_relu` with negative slope $a$ | $\sqrt{2/(1+a^2)}$ |
#
# so `xavier_uniform_(w, gain)` draws from $U(-b, b)$ with $b = \text{gain}\cdot\sqrt{6/(n_\text{in}+n_\text{out})}$.
# PyTorch's version on a 300×500 weight:

# %%
w = torch.empty(300, 500)
nn.init.xavier_uniform_(w)
bound = math.sqrt(6 / (500 + 300))
print(f"bound b = {bound:.5f}   max |w| = {w.abs().max().item():.5f}")
print(f"b / sqrt(3) = {bound / math.sqrt(3):.5f}   std(w) = {w.std().item():.5f}")
for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", 0.2)]:
    print(f"calculate_gain({name!r}, {param}) = {nn.init.calculate_gain(name, param):.4f}")

# %% [markdown]
# ## Exercise 2 · `xavier_uniform_` (graded)
#
# Write `xavier_uniform_(tensor, gain=1.0)`:
#
# - fill `tensor` **in place** with samples of $U(-b, b)$, $b = \text{gain}\cdot\sqrt{6/(\texttt{fan\_in}+\texttt{fan\_out})}$,
#   using your `compute_fans` (so conv weights work too);
# - do it under `torch.no_grad()`, so that autograd records nothing: a weight that requires grad must stay a leaf
#   (without `no_grad`, an in-place op on such a tensor raises an error);
# - return the same tensor object you were given.
#
# `tensor.uniform_(low, high)` fills a tensor in place (so does `nn.init.uniform_`). Do not call
# `nn.init.xavier_uniform_`, the point is to write it yourself: a test switches it off while your function runs.

# %% nbgrader={"grade": false, "grade_id": "xavier_uniform", "locked": false, "schema_version": 3, "solution": true, "task": false}
def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Fill ``tensor`` in place from U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)); return ``tensor``."""
    ### BEGIN SOLUTION
    fan_in, fan_out = compute_fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        tensor.uniform_(-bound, bound)
    return tensor
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_xavier_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# On a large tensor, computed without nn.init.xavier_uniform_: the samples fill [-b, b] (none beyond b,
# the largest within 0.01 % of b) and have std b / sqrt(3).
torch.manual_seed(0)  # the function draws from torch's global RNG; seeding makes this cell repeatable
fan_in, fan_out = 2000, 500
with forbidden(nn.init.xavier_uniform_, what="xavier_uniform_"):
    out = xavier_uniform_(torch.empty(fan_out, fan_in))
bound = math.sqrt(6 / (fan_in + fan_out))
n = out.numel()
biggest = out.abs().max().item()
assert biggest <= bound * (1 + 1e-6), f"max |w| = {biggest:.6f} exceeds the Xavier bound sqrt(6 / (fan_in + fan_out)) = {bound:.6f}"
# for a correct uniform draw, P(max |w| < b (1 - 1e-4)) = (1 - 1e-4)^n < e^-100
assert biggest >= bound * (1 - 1e-4), (f"max |w| = {biggest:.6f}, but a million samples of U(-b, b) with b = {bound:.6f} "
                                       f"reach within 0.01 % of b (a max near b / sqrt(3) = {bound / math.sqrt(3):.6f} "
                                       f"means the std was used as the bound)")
std = out.double().std().item()
# relative standard error of a uniform sample's std is sqrt(0.2 / n); allow 5.3 of them
tol = 5.3 * math.sqrt(0.2 / n)
assert_between(std / (bound / math.sqrt(3)), 1 - tol, 1 + tol, what="std(w) / (b / sqrt(3)) for xavier_uniform_ (gain 1)")
### BEGIN HIDDEN TESTS
# mean 0 (standard error std / sqrt(n); 5.3 of them)
mean = out.double().mean().item()
assert abs(mean) <= 5.3 * (bound / math.sqrt(3)) / math.sqrt(n), f"xavier_uniform_ samples should have mean 0, got {mean:.3g}"
# uniform, not some other bounded shape: half the mass lies in |w| < b / 2
frac = (out.abs() < bound / 2).double().mean().item()
tol = binomial_tolerance(n, 0.5)
assert_between(frac, 0.5 - tol, 0.5 + tol, what="fraction of |w| < b/2 (uniform on [-b, b] puts half the mass there)")
# the gain scales the bound: tanh's 5/3 on another shape
torch.manual_seed(1)
gain = 5 / 3
w = xavier_uniform_(torch.empty(1200, 800), gain=gain)
b = gain * math.sqrt(6 / 2000)
m = w.abs().max().item()
assert b * (1 - 1e-4) <= m <= b * (1 + 1e-6), \
    "with gain 5/3 the largest |w| of a big tensor should come close to, and not exceed, gain * sqrt(6 / (fan_in + fan_out))"
std = w.double().std().item()
tol = 5.3 * math.sqrt(0.2 / w.numel())
assert_between(std / (b / math.sqrt(3)), 1 - tol, 1 + tol, what="std(w) / (gain * sqrt(2 / (fan_in + fan_out))) with gain 5/3")
# a conv weight uses the conv fans, and the gain positionally; float64 stays float64
torch.manual_seed(2)
w = xavier_uniform_(torch.empty(128, 64, 3, 3, dtype=torch.float64), math.sqrt(2.0))
b = math.sqrt(2.0) * math.sqrt(6 / (64 * 9 + 128 * 9))
m = w.abs().max().item()
# n = 73,728: P(max |w| < b (1 - 5e-4)) < e^-36
assert b * (1 - 5e-4) <= m <= b * (1 + 1e-9), ("a 2-D conv weight with gain sqrt(2) (positional): the largest |w| should come "
                                               "close to, and not exceed, gain * sqrt(6 / (fan_in + fan_out)) with the conv fans")
assert w.dtype == torch.float64, f"a float64 tensor must stay float64, got {w.dtype}"
# a small tensor: everything inside the bound
w = xavier_uniform_(torch.empty(3, 4))
assert w.abs().max().item() <= math.sqrt(6 / 7) * (1 + 1e-6), "a small weight must lie within its bound sqrt(6 / (fan_in + fan_out))"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_xavier_in_place", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# In place, same object returned, nothing recorded by autograd.
w = torch.empty(300, 200, requires_grad=True)
ptr = w.data_ptr()
out = xavier_uniform_(w)
assert out is w, "xavier_uniform_ must fill the tensor in place and return that same tensor, not a new one"
assert w.data_ptr() == ptr, "xavier_uniform_ must write into the tensor's own storage"
assert w.is_leaf and w.grad_fn is None, "autograd recorded the initialisation: run it under torch.no_grad()"
assert w.requires_grad, "the weight must still require grad afterwards"
### BEGIN HIDDEN TESTS
b = math.sqrt(6 / 500)
assert w.detach().abs().max().item() <= b * (1 + 1e-6), "the tensor passed in must hold the samples (all within the Xavier bound)"
tol = 5.3 * math.sqrt(0.2 / w.numel())
assert_between(w.detach().double().std().item() / (b / math.sqrt(3)), 1 - tol, 1 + tol,
               what="std of the tensor passed in, divided by b / sqrt(3)")
# an nn.Parameter inside a layer: same Parameter, still trainable
layer = nn.Linear(200, 100)
param = layer.weight
out = xavier_uniform_(layer.weight)
assert out is param and isinstance(out, nn.Parameter), "xavier_uniform_ must return the very Parameter it was given"
assert layer.weight.is_leaf and layer.weight.grad_fn is None, "the Parameter must stay a leaf"
assert layer.weight.abs().max().item() <= math.sqrt(6 / 300) * (1 + 1e-6), "the layer's weight was not re-initialised in place"
layer(torch.randn(4, 200)).sum().backward()
assert layer.weight.grad is not None, "after initialisation the layer's weight must still receive gradients"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. He (Kaiming) initialisation
#
# ReLU breaks Xavier's assumption. For a pre-activation $z$ that is symmetric around 0, $\mathrm{ReLU}(z)^2$ equals $z^2$
# on half of the distribution and 0 on the other half, so
#
# $$
# \mathbb{E}\big[\mathrm{ReLU}(z)^2\big] = \tfrac12\,\mathrm{Var}(z).
# $$
#
# The ReLU outputs are the next layer's inputs, and they do not have mean 0, so we use the general form of section 1,
# $\mathrm{Var}(y) = n_\text{in}\mathrm{Var}(w)\,\mathbb{E}[x^2]$. For the pre-activations of consecutive layers:
#
# $$
# \mathrm{Var}(z_{l+1}) = n_\text{in}\,\mathrm{Var}(w)\cdot\tfrac12\,\mathrm{Var}(z_l)
# \quad\Longrightarrow\quad
# \mathrm{Var}(w) = \frac{2}{n_\text{in}}
# $$
#
# keeps them steady (He et al., 2015). Written as a standard deviation, $\sigma = \text{gain}/\sqrt{\text{fan}}$ with the
# ReLU gain $\sqrt 2$. A leaky ReLU with negative slope $a$ keeps $a^2$ of the negative half's second moment, which gives
# $\mathbb{E}[f(z)^2] = \tfrac{1+a^2}{2}\mathrm{Var}(z)$ and the gain $\sqrt{2/(1+a^2)}$ of the table above.
#
# **`mode`.** `mode="fan_in"` (the default) keeps the forward activations steady; `mode="fan_out"` uses
# $n_\text{out}$ and keeps the backward gradients steady instead. He et al. showed that either one is enough: with
# `fan_in`, the gradient variance changes across the whole network by the product of $n_\text{out}/n_\text{in}$ over
# the layers, which telescopes to (last width)/(first width), however deep the network is.
#
# Check the halving and PyTorch's `kaiming_normal_`:

# %%
z = torch.randn(1_000_000)
print(f"Var(z) = {z.var().item():.4f}   E[relu(z)^2] = {z.relu().pow(2).mean().item():.4f}   (expected half)")
w = torch.empty(256, 1024)
nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
print(f"kaiming_normal_, fan_in:  std(w) = {w.std().item():.5f}   sqrt(2 / 1024) = {math.sqrt(2 / 1024):.5f}")
nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
print(f"kaiming_normal_, fan_out: std(w) = {w.std().item():.5f}   sqrt(2 / 256)  = {math.sqrt(2 / 256):.5f}")

# %% [markdown]
# ## Exercise 3 · `kaiming_normal_` (graded)
#
# Write `kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="relu")`:
#
# - fill `tensor` **in place** with samples of $N(0, \sigma^2)$, $\sigma = \text{gain}/\sqrt{\text{fan}}$;
# - `fan` is `fan_in` when `mode="fan_in"` and `fan_out` when `mode="fan_out"` (use your `compute_fans`);
# - `gain` follows `nn.init.calculate_gain`'s conventions (see the table in section 3): `a` is the negative slope
#   and matters only for `"leaky_relu"`. You may call `nn.init.calculate_gain(nonlinearity, a)` or write the formula;
#   either way `"linear"`, `"tanh"`, `"relu"` and `"leaky_relu"` must work;
# - under `torch.no_grad()`, returning the same tensor, exactly as in exercise 2.
#
# `tensor.normal_(mean, std)` fills a tensor in place (so does `nn.init.normal_`). Do not call
# `nn.init.kaiming_normal_`: a test switches it off while your function runs.

# %% nbgrader={"grade": false, "grade_id": "kaiming_normal", "locked": false, "schema_version": 3, "solution": true, "task": false}
def kaiming_normal_(tensor: torch.Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu") -> torch.Tensor:
    """Fill ``tensor`` in place from N(0, std^2), std = gain / sqrt(fan); return ``tensor``."""
    ### BEGIN SOLUTION
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = compute_fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = nn.init.calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    with torch.no_grad():
        tensor.normal_(0.0, std)
    return tensor
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_kaiming_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The defaults (ReLU, fan_in) on a large tensor, computed without nn.init.kaiming_normal_: std sqrt(2 / fan_in), mean 0.
torch.manual_seed(0)  # the function draws from torch's global RNG; seeding makes this cell repeatable
with forbidden(nn.init.kaiming_normal_, what="kaiming_normal_"):
    out = kaiming_normal_(torch.empty(500, 2000))  # fan_in = 2000, fan_out = 500
n = out.numel()
expected_std = math.sqrt(2 / 2000)
std = out.double().std().item()
# relative standard error of a normal sample's std is 1 / sqrt(2 n); allow 5.3 of them
tol = 5.3 / math.sqrt(2 * n)
assert_between(std / expected_std, 1 - tol, 1 + tol, what="std(w) / sqrt(2 / fan_in) for kaiming_normal_ with the defaults")
mean = out.double().mean().item()
assert abs(mean) <= 5.3 * expected_std / math.sqrt(n), f"kaiming_normal_ samples should have mean 0, got {mean:.3g}"
### BEGIN HIDDEN TESTS
# normal, not uniform: P(|w| > 2 std) = 0.0455 for a Gaussian (a uniform with the same std never gets there)
p_tail = math.erfc(2 / math.sqrt(2))
frac = (out.abs() > 2 * expected_std).double().mean().item()
tol = binomial_tolerance(n, p_tail)
assert_between(frac, p_tail - tol, p_tail + tol, what="fraction of |w| > 2 std (a normal distribution puts 4.55 % there)")
# a conv weight: fan_in = in * k * k
torch.manual_seed(1)
w = kaiming_normal_(torch.empty(128, 64, 3, 3))
expected_std = math.sqrt(2 / (64 * 9))
tol = 5.3 / math.sqrt(2 * w.numel())
assert_between(w.double().std().item() / expected_std, 1 - tol, 1 + tol,
               what="std / sqrt(2 / fan_in) for a 2-D conv weight (fan_in = in_channels * kernel area)")
# a 3-D conv weight in float64
torch.manual_seed(2)
w = kaiming_normal_(torch.empty(32, 16, 3, 3, 3, dtype=torch.float64))
assert w.dtype == torch.float64, f"a float64 tensor must stay float64, got {w.dtype}"
expected_std = math.sqrt(2 / (16 * 27))
tol = 5.3 / math.sqrt(2 * w.numel())
assert_between(w.std().item() / expected_std, 1 - tol, 1 + tol,
               what="std / sqrt(2 / fan_in) for a float64 3-D conv weight (fan_in = in_channels * kernel volume)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_kaiming_mode_and_gain", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# mode="fan_out", leaky ReLU's slope a (a=1 gives gain 1), and tanh's gain 5/3.
# (The function draws from torch's global RNG, so seeding it makes this cell repeatable.)
def std_ratio(w, expected_std):
    return w.double().std().item() / expected_std


torch.manual_seed(3)
w = torch.empty(500, 2000)  # fan_in = 2000, fan_out = 500
tol = 5.3 / math.sqrt(2 * w.numel())  # 5.3 standard errors of a sample std
out = kaiming_normal_(w, mode="fan_out")
assert_between(std_ratio(out, math.sqrt(2 / 500)), 1 - tol, 1 + tol, what="std / sqrt(2 / fan_out) with mode='fan_out'")
out = kaiming_normal_(w, a=1.0, nonlinearity="leaky_relu")  # slope 1 is the identity: gain 1
assert_between(std_ratio(out, 1 / math.sqrt(2000)), 1 - tol, 1 + tol, what="std / (1 / sqrt(fan_in)) for leaky_relu with a=1")
out = kaiming_normal_(w, nonlinearity="tanh")
assert_between(std_ratio(out, (5 / 3) / math.sqrt(2000)), 1 - tol, 1 + tol, what="std / ((5/3) / sqrt(fan_in)) for tanh")
### BEGIN HIDDEN TESTS
for kwargs, gain in [
    ({"a": 0.2, "nonlinearity": "leaky_relu"}, math.sqrt(2 / (1 + 0.2**2))),
    ({"a": math.sqrt(5), "nonlinearity": "leaky_relu"}, math.sqrt(2 / 6)),
    ({"a": 0.0, "nonlinearity": "leaky_relu"}, math.sqrt(2)),
    ({"nonlinearity": "relu"}, math.sqrt(2)),
    ({"nonlinearity": "linear"}, 1.0),
    ({"nonlinearity": "tanh"}, 5 / 3),
    ({"mode": "fan_in", "nonlinearity": "tanh"}, 5 / 3),
]:
    out = kaiming_normal_(w, **kwargs)
    setting = f"nonlinearity={kwargs['nonlinearity']!r}" + (" with a slope a" if "a" in kwargs else "")
    assert_between(std_ratio(out, gain / math.sqrt(2000)), 1 - tol, 1 + tol,
                   what=f"std / (gain / sqrt(fan_in)) for {setting} (gain as in nn.init.calculate_gain)")
for kwargs, gain in [
    ({"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"}, math.sqrt(2 / (1 + 0.2**2))),
    ({"mode": "fan_out", "nonlinearity": "linear"}, 1.0),
]:
    out = kaiming_normal_(w, **kwargs)
    assert_between(std_ratio(out, gain / math.sqrt(500)), 1 - tol, 1 + tol,
                   what=f"std / (gain / sqrt(fan_out)) with mode='fan_out' and nonlinearity={kwargs['nonlinearity']!r}")
# fan_out of a conv weight includes the kernel: (640, 16, 5) has fan_in 16 * 5 = 80 and fan_out 640 * 5 = 3200
torch.manual_seed(4)
c = kaiming_normal_(torch.empty(640, 16, 5), mode="fan_out")
tol_c = 5.3 / math.sqrt(2 * c.numel())
assert_between(std_ratio(c, math.sqrt(2 / 3200)), 1 - tol_c, 1 + tol_c,
               what="std / sqrt(2 / fan_out) for a 1-D conv weight with mode='fan_out' (fan_out includes the kernel size)")
# positional arguments in the documented order
out = kaiming_normal_(w, 0.5, "fan_out", "leaky_relu")
assert_between(std_ratio(out, math.sqrt(2 / 1.25) / math.sqrt(500)), 1 - tol, 1 + tol,
               what="std with a, mode and nonlinearity passed positionally, in the documented order")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_kaiming_in_place", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# In place, same object returned, nothing recorded by autograd.
w = torch.empty(400, 300, requires_grad=True)
ptr = w.data_ptr()
out = kaiming_normal_(w)
assert out is w, "kaiming_normal_ must fill the tensor in place and return that same tensor, not a new one"
assert w.data_ptr() == ptr, "kaiming_normal_ must write into the tensor's own storage"
assert w.is_leaf and w.grad_fn is None, "autograd recorded the initialisation: run it under torch.no_grad()"
assert w.requires_grad, "the weight must still require grad afterwards"
### BEGIN HIDDEN TESTS
tol = 5.3 / math.sqrt(2 * w.numel())
assert_between(w.detach().double().std().item() / math.sqrt(2 / 300), 1 - tol, 1 + tol,
               what="std of the tensor passed in, divided by sqrt(2 / fan_in)")
layer = nn.Conv2d(8, 16, 3)
param = layer.weight
out = kaiming_normal_(layer.weight, mode="fan_out")
assert out is param and isinstance(out, nn.Parameter), "kaiming_normal_ must return the very Parameter it was given"
assert layer.weight.is_leaf and layer.weight.grad_fn is None, "the Parameter must stay a leaf"
layer(torch.randn(2, 8, 6, 6)).sum().backward()
assert layer.weight.grad is not None, "after initialisation the layer's weight must still receive gradients"
# the call also works when grad mode is already off
with torch.no_grad():
    v = torch.empty(50, 40, requires_grad=True)
    assert kaiming_normal_(v) is v, "kaiming_normal_ inside torch.no_grad() must return the same tensor"
assert v.is_leaf and v.grad_fn is None, "kaiming_normal_ inside torch.no_grad(): the tensor must stay a leaf"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. What PyTorch does by default
#
# `nn.Linear` does not use Xavier or He. Its `reset_parameters` calls `kaiming_uniform_(weight, a=math.sqrt(5))`.
# With the leaky-ReLU gain $\sqrt{2/(1+5)} = \sqrt{1/3}$ and the uniform bound $\sqrt3\,\sigma$, that is
#
# $$
# b = \sqrt{3}\cdot\frac{\sqrt{1/3}}{\sqrt{n_\text{in}}} = \frac{1}{\sqrt{n_\text{in}}},
# \qquad w \sim U\!\left(-\tfrac{1}{\sqrt{n_\text{in}}}, \tfrac{1}{\sqrt{n_\text{in}}}\right),
# \qquad \mathrm{Var}(w) = \frac{1}{3\,n_\text{in}} .
# $$
#
# The $\sqrt5$ is not a slope anyone trains with: it is the value that makes `kaiming_uniform_` reproduce the older
# rule $U(\pm 1/\sqrt{n_\text{in}})$. The bias is drawn from the same interval, and convolutions follow the same rule with
# the convolution `fan_in`. The variance is a sixth of He's $2/n_\text{in}$, so behind a ReLU the default shrinks the
# variance by a factor of 6 per layer. That does little harm in a 2- or 3-layer network, but a deep plain stack needs
# an explicit initialisation (or normalisation layers, topic 06). Verify the bound, the std, and the exact recipe:

# %%
fan_in = 1000
torch.manual_seed(0)
layer = nn.Linear(fan_in, 300)
print(f"max |w| = {layer.weight.abs().max().item():.5f}   1/sqrt(fan_in)     = {1 / math.sqrt(fan_in):.5f}")
print(f"std(w)  = {layer.weight.std().item():.5f}   1/sqrt(3 fan_in) = {1 / math.sqrt(3 * fan_in):.5f}")
print(f"max |b| = {layer.bias.abs().max().item():.5f}   (same bound for the bias)")
torch.manual_seed(0)
w = torch.empty(300, fan_in)
nn.init.kaiming_uniform_(w, a=math.sqrt(5))
print("same draw as kaiming_uniform_(w, a=sqrt(5)):", torch.equal(w, layer.weight.detach()))
torch.manual_seed(0)
w = torch.empty(300, fan_in).uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
assert_close(w, layer.weight.detach(), rtol=0, atol=1e-7, what="U(-1/sqrt(fan_in), 1/sqrt(fan_in)) vs nn.Linear's default")
print("and the same as U(-1/sqrt(fan_in), 1/sqrt(fan_in)) up to rounding")

# %% [markdown]
# ## 6. Twenty layers deep
#
# Now watch the recursion of section 1 play out. A stack of 20 square $128 \times 128$ weight matrices (no biases, so only
# the weights matter), each followed by tanh or ReLU, processes a batch of standard-normal inputs. For each layer we
# record the std of its output (top row: forward) and the std of the gradient that reaches that output when the last
# layer receives unit-variance gradients (bottom row: backward). The schemes are all-zeros, $N(0, 1)$, $N(0, 0.01^2)$,
# *your* `xavier_uniform_`, *your* `kaiming_normal_` (ReLU gain), and PyTorch's default from section 5. To save time,
# the six networks run side by side: `weights[s, l]` is layer `l` of scheme `s`, and one batched matrix product
# (`@` on 3-D tensors) pushes all six through a layer at once. The y axes are logarithmic and cut at $10^{\pm 6}$.

# %%
schemes = {
    "zeros": nn.init.zeros_,
    "N(0, 1)": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "N(0, 0.01²)": lambda w: nn.init.normal_(w, 0.0, 0.01),
    "Xavier (yours)": xavier_uniform_,
    "He (yours)": kaiming_normal_,
    "PyTorch default": lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5)),
}
depth, width, batch = 20, 128, 64
seed_everything(0)
weights = torch.empty(len(schemes), depth, width, width)  # weights[s, l]: layer l of scheme s, shape (out, in)
for s, init_fn in enumerate(schemes.values()):
    for l in range(depth):
        init_fn(weights[s, l])
weights = weights.to(device)
x = torch.randn(batch, width, device=device, requires_grad=True)  # so that autograd tracks every layer


def layer_stds(activation):
    """Std of every layer's output and of the gradient reaching it, as {scheme: [one value per layer]}."""
    h = x.expand(len(schemes), batch, width)  # the same inputs for every scheme
    outputs = []
    for l in range(depth):
        h = activation(h @ weights[:, l].transpose(1, 2))  # (n_schemes, batch, width)
        h.retain_grad()
        outputs.append(h)
    (h * torch.randn_like(h)).sum().backward()  # unit-variance gradient into the last layer
    act_std = torch.stack(outputs).std(dim=(2, 3))  # (depth, n_schemes)
    grad_std = torch.stack([o.grad for o in outputs]).std(dim=(2, 3))
    return ({name: act_std[:, s].tolist() for s, name in enumerate(schemes)},
            {name: grad_std[:, s].tolist() for s, name in enumerate(schemes)})


fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
for col, (act_name, activation) in enumerate([("tanh", torch.tanh), ("ReLU", torch.relu)]):
    act_std, grad_std = layer_stds(activation)
    zeros = (act_std.pop("zeros"), grad_std.pop("zeros"))  # exactly 0: nothing to draw on a log axis
    print(f"{act_name}, zeros: largest activation std {max(zeros[0])}, "
          f"largest gradient std below the last layer {max(zeros[1][:-1])}")
    print(f"{act_name}: std of the activations at layer {depth} / of the gradients at layer 1")
    for name in act_std:
        print(f"    {name:16s} {act_std[name][-1]:8.1e} / {grad_std[name][0]:8.1e}")
    plot_per_layer(act_std, ax=axes[0, col], ylabel="std of activations", title=f"{act_name}: forward")
    plot_per_layer(grad_std, ax=axes[1, col], ylabel="std of gradients", title=f"{act_name}: backward")
for ax in axes.flat:
    ax.set_ylim(1e-6, 1e6)  # N(0, 1) and N(0, 0.01²) run off this range; the printout above has their end points
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.legend(fontsize=7, frameon=False)
fig.tight_layout()
plt.show()

# %% [markdown]
# What the plots show:
#
# - **Zeros.** Every activation and every gradient below the last layer is exactly 0. Even with nonzero biases, all
#   units in a layer would compute the same value and receive the same gradient, so they would stay identical forever.
#   Random weights are what break this symmetry.
# - **$N(0, 1)$.** $n_\text{in}\mathrm{Var}(w) = 128$. Behind ReLU the activations grow about $\sqrt{128/2} = 8$×
#   per layer. Behind tanh they saturate at $\pm1$: the std looks healthy, but the gradients explode going backwards.
# - **$N(0, 0.01^2)$.** $n_\text{in}\mathrm{Var}(w) = 0.0128$: the signal dies within a few layers, and so do the gradients.
# - **Xavier** suits tanh: the std drifts down only slowly, because tanh squashes a little at every layer (the tanh gain
#   $5/3$ is there to offset that). It does not suit ReLU, which halves the variance at every layer: the std falls by
#   about $2^{-20/2} \approx 10^{-3}$ over 20 layers, and the gradients fall the same way going backwards.
# - **He** keeps ReLU activations and gradients flat across all 20 layers. With tanh the activations stay steady too, but
#   the gradients grow slowly going backwards: $\sqrt2$ is the ReLU gain, and PyTorch recommends $5/3$ for tanh.
# - **PyTorch's default** ($\mathrm{Var}(w) = 1/(3n_\text{in})$) vanishes with both activations in a stack this deep.
#
# ## 7. Initialising a whole model: `model.apply`
#
# A model is built from modules that initialise themselves (`nn.Linear` with the default of section 5). To
# use another scheme, write a function that takes **one module**, checks its type, and initialises only
# the modules it knows; then hand it to `model.apply(init_fn)`. `apply` calls the function on every
# submodule, children first and the model itself last, and returns the model, so it chains after the
# constructor. The initialisers work in place under `no_grad`, so an optimizer created earlier (it holds
# the same parameter tensors) sees the new values too; still, the habit is to initialise right after
# building the model.
#
# The diagnostic from section 6 works on any model: record the std of each layer's output during one
# forward pass, here with forward hooks on the ReLUs. A 10-layer ReLU MLP on the digits, with PyTorch's
# default and with He initialisation applied by your `kaiming_normal_`:

# %%
def init_weights(m: nn.Module) -> None:
    """He (yours) for every Linear weight, zeros for its bias; other modules keep their own init."""
    if isinstance(m, nn.Linear):
        kaiming_normal_(m.weight, nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def deep_mlp(depth: int = 10, width: int = 256) -> nn.Sequential:
    layers = [nn.Linear(64, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def relu_stds(model: nn.Module, x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per ReLU, during one forward pass (recorded by forward hooks): the std of its whole output, and the
    std of each unit across the batch, averaged over the units (the part that depends on the input)."""
    overall, across_inputs = [], []

    def record(module, inputs, out):
        overall.append(out.std().item())
        across_inputs.append(out.std(dim=0).mean().item())

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return overall, across_inputs


x_digits = digits_split(seed=0).x_train[:512].to(device)
seed_everything(0)
default_model = deep_mlp().to(device)
he_model = deep_mlp().apply(init_weights).to(device)   # apply returns the model, so it chains
visited = []
nn.Sequential(nn.Linear(2, 2), nn.ReLU()).apply(lambda m: visited.append(type(m).__name__))
print("apply's order on Sequential(Linear, ReLU):", visited)
for name, model in (("PyTorch default", default_model), ("He via model.apply", he_model)):
    overall, across_inputs = relu_stds(model, x_digits)
    print(f"{name}, after each of the 10 ReLUs:")
    print("    std of the output:      ", " ".join(f"{v:7.1e}" for v in overall))
    print("    std across the inputs:  ", " ".join(f"{v:7.1e}" for v in across_inputs))


def gpt2_init(m: nn.Module) -> None:
    """GPT-2's recipe: N(0, 0.02²) for Linear and Embedding weights, zero biases."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, mean=0.0, std=0.02)
    if isinstance(m, nn.Linear) and m.bias is not None:
        nn.init.zeros_(m.bias)


toy_lm = nn.Sequential(nn.Embedding(1000, 128), nn.Linear(128, 128), nn.Linear(128, 1000)).apply(gpt2_init)
print("GPT-2 style: weight stds", [round(p.std().item(), 4) for n, p in toy_lm.named_parameters() if n.endswith("weight")])
rnn = nn.RNN(32, 32)
nn.init.orthogonal_(rnn.weight_hh_l0)
sv = torch.linalg.svdvals(rnn.weight_hh_l0.detach())
print(f"orthogonal_ recurrent weight: singular values in [{sv.min().item():.4f}, {sv.max().item():.4f}]")

# %% [markdown]
# With PyTorch's default, the std first falls by a factor of about $\sqrt6 \approx 2.4$ per layer
# (section 5: $\mathrm{Var}(w) = 1/(3n_\text{in})$, halved again by the ReLU), until it reaches the size of the
# default's random biases ($U(\pm 1/16)$, std $0.036$); from there the overall std stays flat, but it is
# bias noise. The second line shows it: the part of each unit's output that changes from one input to the next
# keeps falling by a factor of about $\sqrt6$ per layer (thousands over ten layers), so the last layers barely see
# the input. With He weights and zero biases the std holds steady, and the part that varies between inputs shrinks
# only slowly, by a factor of about 2 over the ten layers (a deep ReLU stack makes the representations of
# different inputs gradually more alike). Look at both when you debug: a healthy-looking std can hide a dead signal.
#
# Recipes worth knowing by name, all written as `init_fn`s for `apply`:
#
# - **GPT-2** initialises Linear and Embedding weights from $N(0, 0.02^2)$ with zero biases, and divides the
#   std of the projections that write into the residual stream by $\sqrt{2 n_\text{layers}}$ (two residual
#   branches per block), so that the sum of all the branches does not grow with depth.
# - **Residual networks** can set the last BatchNorm's $\gamma$ of each residual block to 0 (Goyal et al., 2017;
#   torchvision's `zero_init_residual=True`): each residual branch then starts at 0, so every block with an
#   identity shortcut starts as the identity.
# - **Recurrent weights** are often orthogonal (`nn.init.orthogonal_`): all singular values are 1, so repeated
#   multiplication by the same matrix neither shrinks nor blows up a vector (topic 10).
#
# ## Explorer
#
# The same experiment, now trained: an MLP of width 64 on the digits, with the scheme, the depth and the activation
# as knobs (the explorer uses the normal versions, `xavier_normal_` and `kaiming_normal_`, with zero biases). The left
# panel shows the training loss per step and the validation loss; the right panel the std of each hidden layer's
# activations at initialisation, on the validation images. Earlier runs stay on the plot, faded.

# %%
from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task

LossCurveExplorer(
    digits_mlp_task(optimizer="adam", lr=3e-3),
    knobs=[
        Knob.dropdown("init", {"zeros": "zeros", "N(0, 1)": "normal_1", "N(0, 0.01²)": "normal_0.01",
                               "Xavier": "xavier", "He": "he", "PyTorch default": "default"}, "he"),
        Knob.int_slider("depth", 1, 16, 8),
        Knob.dropdown("activation", ["relu", "tanh"], "relu"),
    ],
    extra_panel="init_act_std",
    prompt="At depth 16 with ReLU, which schemes leave the loss stuck near ln 10 ≈ 2.30?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. ReLU, depth 16: switch between He, Xavier and the PyTorch default. Predict the slope of each activation-std line
#    (on the log axis) from $n_\text{in}\mathrm{Var}(w)/2$ before you look. Which loss curves start moving at once?
# 2. Zeros at any depth: the loss stays at about $2.30 \approx \ln 10$, what you get by predicting the class frequencies
#    of these nearly balanced digits. Only one parameter tensor of the whole network still gets a nonzero gradient:
#    which one, and why?
# 3. $N(0, 1)$ with ReLU: how does the first loss grow with depth? Now switch to tanh: the loss is finite, but does it fall?
# 4. Depth 2: do the schemes still differ much? Initialisation matters most when the per-layer factor is raised to a high power.

# %% [markdown]
# ## Drill (graded)
#
# A `Conv2d(64, 128, kernel_size=3)` layer (weight shape (128, 64, 3, 3)) is followed by a ReLU.
# 1. `drill_conv_fan_in`: its `fan_in`.
# 2. `drill_he_std`: the standard deviation that He initialisation (`mode="fan_in"`, ReLU) gives its weights.
# 3. `drill_default_bound`: the bound $b$ of PyTorch's default $U(-b, b)$ for the weight of `nn.Linear(400, 100)`.
# 4. `drill_he_std_784`: the He-normal std of the first layer of an MLP on 784 inputs (flattened 28×28 images), ReLU.
# 5. `drill_default_std_256`: the std of the default weights of `nn.Linear(256, 128)`.
#
# Rounded answers are fine (within 1 %).

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_conv_fan_in = 576
drill_he_std = math.sqrt(2 / 576)
drill_default_bound = 1 / math.sqrt(400)
drill_he_std_784 = math.sqrt(2 / 784)
drill_default_std_256 = 1 / math.sqrt(3 * 256)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Each answer is defined and is a number; hidden tests check the values.
for name in ("drill_conv_fan_in", "drill_he_std", "drill_default_bound", "drill_he_std_784", "drill_default_std_256"):
    assert name in globals(), f"define the variable {name}"
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
### BEGIN HIDDEN TESTS
assert abs(drill_conv_fan_in - 576) < 1e-6, "drill_conv_fan_in: a conv's fan_in is in_channels times the kernel area"
assert abs(drill_he_std / math.sqrt(2 / 576) - 1) < 0.01, "drill_he_std: He's std is sqrt(2 / fan_in), with the conv fan_in"
assert abs(drill_default_bound / 0.05 - 1) < 0.01, "drill_default_bound: nn.Linear's default bound is 1 / sqrt(fan_in)"
assert abs(drill_he_std_784 / math.sqrt(2 / 784) - 1) < 0.01, "drill_he_std_784: He's std is sqrt(2 / fan_in), not the variance"
assert abs(drill_default_std_256 / (1 / math.sqrt(768)) - 1) < 0.01, \
    "drill_default_std_256: the default is U(-b, b) with b = 1 / sqrt(fan_in), and a uniform's std is b / sqrt(3)"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A 30-layer plain MLP with ReLU, initialised with Xavier, barely trains: the loss hardly moves from $\ln 10$.
# You print the std of the activations per layer and see it fall from about 0.6 to $10^{-5}$. What is going on, and what
# would you change?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The activations vanish. Each layer multiplies the second moment of the signal by $n_\text{in}\mathrm{Var}(w)$, and ReLU
# zeroes half of it, so the factor per layer is $n_\text{in}\mathrm{Var}(w)/2$. Xavier with square layers gives
# $\mathrm{Var}(w) = 1/n_\text{in}$, i.e. a factor of $1/2$ per layer and $2^{-30}$ in variance after 30 layers; the
# gradients shrink the same way going backwards, so the early layers get almost no signal. The fix is He initialisation,
# $\mathrm{Var}(w) = 2/n_\text{in}$ (`kaiming_normal_(w, nonlinearity="relu")`), with zero biases; then check that the
# per-layer std stays flat. For very deep networks add normalisation (BatchNorm or LayerNorm) and residual connections,
# which make training far less sensitive to the exact initial scale.

# %% [markdown]
# **Q2.** Why not initialise all the weights to zero, or to one shared constant? And why is it fine that biases are
# usually initialised to zero?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Symmetry. If every unit of a layer starts with the same incoming weights, all of them compute the same output and
# receive the same gradient, so every update keeps them identical and the layer behaves like a single unit, however wide.
# With all-zero weights and biases it is worse: the hidden activations of a ReLU or tanh network are 0, so the gradients
# of all weights are 0 and only the output bias learns. Random weights break the symmetry. Once the weights differ, the units
# already compute different things and get different gradients, so zero biases add no symmetry and are a safe
# default.
