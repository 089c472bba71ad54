# %% [markdown]
# # 03 · Activation functions
#
# **Interview question:** *What are the common activation functions, and why did ReLU replace sigmoid and tanh?*
#
# **After this notebook you can**
# - write sigmoid, tanh, ReLU, Leaky ReLU, GELU and softmax from elementary tensor operations, give each one's range and derivative, and match PyTorch and autograd;
# - prove that the sigmoid's derivative never exceeds $1/4$, and say what that does to gradients in a deep stack;
# - explain why a naive softmax returns NaN for large inputs and fix it with the max trick;
# - explain *dying ReLU* and show dead units on a real network;
# - place ELU, SiLU/Swish, SwiGLU and GELU's tanh form, use the `nn` modules, and say which activation is the default where.
#
# **Runs on a CPU in about 10 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_split, get_device, make_spirals, plot_curves, plot_per_layer, seed_everything
from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task
from course_utils.models import make_mlp
from course_utils.testing import assert_between, assert_close, assert_shape, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. The usual suspects
#
# Without a nonlinearity between them, stacked linear layers collapse into one linear map
# (topic 01). The activation $f$ is applied elementwise to the pre-activations $z = Wx + b$.
# The common choices:
#
# | name | $f(z)$ | range | $f'(z)$ |
# |---|---|---|---|
# | sigmoid | $\sigma(z) = \dfrac{1}{1 + e^{-z}}$ | $(0, 1)$ | $\sigma(z)\,(1 - \sigma(z))$ |
# | tanh | $\dfrac{e^{z} - e^{-z}}{e^{z} + e^{-z}} = 2\sigma(2z) - 1$ | $(-1, 1)$ | $1 - \tanh^2(z)$ |
# | ReLU | $\max(0, z)$ | $[0, \infty)$ | $1$ if $z > 0$, else $0$ |
# | Leaky ReLU | $z$ if $z > 0$, else $\alpha z$ | $(-\infty, \infty)$ | $1$ if $z > 0$, else $\alpha$ |
# | GELU | $z\,\Phi(z) = \dfrac{z}{2}\Bigl(1 + \operatorname{erf}\dfrac{z}{\sqrt 2}\Bigr)$ | $[-0.170, \infty)$ | $\Phi(z) + z\,\varphi(z)$ |
#
# Here $\Phi$ and $\varphi$ are the standard normal CDF and density, $\varphi(z) = e^{-z^2/2}/\sqrt{2\pi}$,
# and $\alpha$ is Leaky ReLU's `negative_slope` (PyTorch's default is 0.01). GELU (Hendrycks & Gimpel, 2016),
# used in BERT and GPT, weighs each input by the probability that a standard normal falls below it;
# its minimum is $-0.170$ at $z \approx -0.75$.
#
# **Softmax** is the odd one out: it acts on a whole vector, not elementwise, and turns $K$ scores
# (logits) into a probability distribution,
#
# $$
# \operatorname{softmax}(x)_i = \frac{e^{x_i}}{\sum_{j=1}^{K} e^{x_j}}, \qquad
# \frac{\partial\, \operatorname{softmax}(x)_i}{\partial x_j} = s_i\,(\delta_{ij} - s_j),
# $$
#
# with every $s_i \in (0, 1)$ and $\sum_i s_i = 1$. It belongs at the output of a classifier, not between layers.
#
# PyTorch has all of them. Because each activation acts elementwise, the gradient of
# $\sum_i f(x_i)$ with respect to $x_i$ is exactly $f'(x_i)$: one autograd call gives the whole derivative curve.

# %%
xs = torch.linspace(-5, 5, 401, requires_grad=True)
builtins = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu (0.1)": lambda t: F.leaky_relu(t, negative_slope=0.1),
    "gelu": F.gelu,
}
fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(11, 3.6))
for name, f in builtins.items():
    y = f(xs)
    (slope,) = torch.autograd.grad(y.sum(), xs)  # elementwise f, so d(sum f)/dx_i = f'(x_i)
    ax_f.plot(xs.detach(), y.detach(), label=name)
    ax_d.plot(xs.detach(), slope, label=name)
    print(f"{name:17s} values in [{y.min().item():+.3f}, {y.max().item():+.3f}] on [-5, 5],"
          f"  largest slope {slope.max().item():.3f}")
ax_f.set_title("f(z)")
ax_d.set_title("f'(z), from autograd")
for ax in (ax_f, ax_d):
    ax.set_xlabel("z")
    ax.grid(alpha=0.3)
ax_f.legend(frameon=False)
plt.show()

s = torch.softmax(torch.tensor([2.0, 1.0, 0.1]), dim=0)
print("softmax([2, 1, 0.1]) =", s, " sum =", s.sum().item())

# %% [markdown]
# ## 2. The sigmoid's slope is at most 1/4
#
# Write $p = \sigma(z) \in (0, 1)$. Then $\sigma'(z) = p(1-p) = \tfrac14 - (p - \tfrac12)^2 \le \tfrac14$,
# with equality only at $p = \tfrac12$, that is at $z = 0$. Away from 0 it is far smaller:
# $\sigma'(5) \approx 0.0066$. The unit has *saturated*: its output barely moves, and so almost
# no gradient flows back through it.
#
# Backpropagation multiplies one such factor per layer (topic 02, and topic 04 for the full
# Jacobian story). Through $L$ sigmoid layers the slopes alone contribute at most $0.25^{L}$, so
# unless the weights grow to compensate, the gradient reaching the first layers shrinks
# geometrically. tanh is better, since $\tanh'(0) = 1$ and its outputs are centred on 0, but it
# saturates just the same for large $|z|$.

# %%
z = torch.linspace(-10, 10, 20001, dtype=torch.float64, requires_grad=True)
(d_sigmoid,) = torch.autograd.grad(torch.sigmoid(z).sum(), z)
(d_tanh,) = torch.autograd.grad(torch.tanh(z).sum(), z)
print(f"max sigmoid'(z) = {d_sigmoid.max().item():.6f} at z = {z[d_sigmoid.argmax()].item():.3f}")
print(f"max tanh'(z)    = {d_tanh.max().item():.6f} at z = {z[d_tanh.argmax()].item():.3f}")
print(f"sigmoid'(5) = {d_sigmoid[15000].item():.5f},  tanh'(5) = {d_tanh[15000].item():.5f}   (z[15000] = {z[15000].item():.1f})")
for depth in (2, 5, 10, 20):
    print(f"{depth:2d} sigmoid layers: the slopes alone scale the gradient by at most 0.25^{depth} = {0.25 ** depth:.1e}")

# %% [markdown]
# ## Exercise 1 · the activations (graded)
#
# Write `sigmoid`, `tanh`, `relu`, `leaky_relu` and `gelu` (the exact, erf form). Each takes a
# float tensor of any shape and returns a **new** tensor of the same shape and dtype; never modify `x` in place.
#
# **Use elementary tensor operations only**: arithmetic, `torch.exp`, `torch.expm1`, `torch.log`,
# `torch.log1p`, `torch.logaddexp`, `torch.erf` (or `torch.special.ndtr`, the normal CDF), `torch.abs`,
# `torch.sign`, `torch.where`, `torch.clamp`, `torch.maximum`, `torch.minimum`, comparisons, `.to(dtype)`,
# and so on. **PyTorch's activation functions are off limits**, in every form: `torch.sigmoid`,
# `torch.tanh`, `torch.relu`, `torch.special.expit`, every non-linear activation of
# `torch.nn.functional` (`F.relu`, `F.leaky_relu`, `F.gelu`, `F.elu`, `F.silu`, `F.softplus`,
# `F.logsigmoid`, `F.hardtanh`, `F.threshold`, `F.softmax`, ...), the modules that call them (`nn.ReLU()`,
# ...), and the tensor methods (`x.sigmoid()`, `x.relu_()`, ...). A test runs your functions with all of
# them switched off.
#
# The traps are numerical. The answers must stay **finite and correct for $|x|$ up to $10^4$**:
# in float32 `torch.exp(89.0)` is already `inf`, and `inf / inf` is NaN. So
#
# - for `sigmoid`, the forms $1/(1+e^{-x})$ and $e^{x}/(1+e^{x})$ are equal on paper but not in
#   float32. Pick one that cannot produce `inf / inf`, or use $e^{-|x|}$, which never overflows, with
#   one formula for $x \ge 0$ and another for $x < 0$;
# - the textbook `tanh` formula overflows in both numerator and denominator. Rewrite it in terms of
#   $e^{-2|x|}$ (and the sign of $x$), or in terms of your stable `sigmoid`;
# - `gelu` is $\tfrac{x}{2}\bigl(1 + \operatorname{erf}(x/\sqrt2)\bigr)$, the exact form that
#   `F.gelu` uses by default, **not** the tanh approximation.

# %% nbgrader={"grade": false, "grade_id": "activations", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Logistic sigmoid 1 / (1 + exp(-x)), finite for any finite x."""
    ### BEGIN SOLUTION
    e = torch.exp(-x.abs())  # in (0, 1]: never overflows
    return torch.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    ### END SOLUTION


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent, finite for any finite x."""
    ### BEGIN SOLUTION
    e = torch.exp(-2.0 * x.abs())
    return torch.sign(x) * (-torch.expm1(-2.0 * x.abs())) / (1.0 + e)
    ### END SOLUTION


def relu(x: torch.Tensor) -> torch.Tensor:
    """max(0, x), elementwise."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, torch.zeros_like(x))
    ### END SOLUTION


def leaky_relu(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, negative_slope * x)
    ### END SOLUTION


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU: x * Phi(x) = x / 2 * (1 + erf(x / sqrt(2)))."""
    ### BEGIN SOLUTION
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_activations_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# On a float32 grid over [-6, 6]: each activation keeps the shape, matches PyTorch's own function
# (rtol 1e-5, atol 1e-6; leaky_relu with slope 0.1), and leaves x unmodified.
x = torch.linspace(-6, 6, 1201)
x_before = x.clone()
for name, mine, ref in [("sigmoid", sigmoid, torch.sigmoid), ("tanh", tanh, torch.tanh),
                        ("relu", relu, torch.relu), ("gelu (exact, erf form)", gelu, F.gelu)]:
    out = mine(x)
    assert_shape(out, x.shape, what=f"{name}(x) shape")
    assert_close(out, ref(x), rtol=1e-5, atol=1e-6, what=f"{name}(x) on [-6, 6] (expected PyTorch's values)")
assert_close(leaky_relu(x, 0.1), F.leaky_relu(x, 0.1), rtol=1e-5, atol=1e-6, what="leaky_relu(x, 0.1)")
assert torch.equal(x, x_before), "an activation modified its input x in place; return a new tensor instead"
### BEGIN HIDDEN TESTS
# the default negative_slope is PyTorch's 0.01, and other slopes are honoured
assert_close(leaky_relu(x), F.leaky_relu(x), rtol=1e-5, atol=1e-7, what="leaky_relu(x) with the default slope 0.01")
for slope in (0.0, 0.2, 0.5):
    assert_close(leaky_relu(x, negative_slope=slope), F.leaky_relu(x, slope), rtol=1e-5, atol=1e-7,
                 what="leaky_relu(x, negative_slope=...) with other slopes, 0 included (keyword argument)")
assert torch.equal(x, x_before), "an activation modified its input x in place"
# float64 keeps its dtype and precision; a 3-D shape is kept
g = torch.Generator().manual_seed(0)
x64 = torch.randn(4, 5, 6, generator=g, dtype=torch.float64) * 4
x64_before = x64.clone()
for name, mine, ref in [("sigmoid", sigmoid, torch.sigmoid), ("tanh", tanh, torch.tanh), ("relu", relu, torch.relu),
                        ("leaky_relu", lambda t: leaky_relu(t, 0.05), lambda t: F.leaky_relu(t, 0.05)),
                        ("gelu", gelu, F.gelu)]:
    out = mine(x64)
    assert_shape(out, (4, 5, 6), what=f"{name} on a 3-D tensor (expected the input's shape)")
    assert out.dtype == torch.float64, f"{name} turned a float64 input into {out.dtype}; keep the dtype of x"
    assert_close(out, ref(x64), rtol=1e-6, atol=1e-8, what=f"{name} in float64")
    assert torch.equal(x64, x64_before), f"{name} modified its float64 input in place"
# near zero, where cancellation can hurt: tanh(x) ~ x, gelu(x) ~ x/2
tiny = torch.tensor([-1e-3, -1e-5, 0.0, 1e-5, 1e-3], dtype=torch.float64)
assert_close(tanh(tiny), torch.tanh(tiny), rtol=1e-6, atol=1e-10, what="tanh near 0")
assert_close(gelu(tiny), F.gelu(tiny), rtol=1e-6, atol=1e-10, what="gelu near 0")
assert_close(sigmoid(tiny), torch.sigmoid(tiny), rtol=1e-10, atol=1e-12, what="sigmoid near 0")
# ranges: sigmoid in [0, 1], tanh in [-1, 1], relu >= 0, gelu >= -0.17
wide = torch.linspace(-30, 30, 6001)
assert_between(sigmoid(wide).min(), 0.0, 1.0, what="min of sigmoid")
assert_between(sigmoid(wide).max(), 0.0, 1.0, what="max of sigmoid")
assert_between(tanh(wide).abs().max(), 0.0, 1.0, what="max |tanh|")
assert_between(relu(wide).min(), 0.0, 0.0, what="min of relu")
assert_between(gelu(wide).min(), -0.1701, -0.1699, what="min of gelu (about -0.170)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_activations_large_inputs", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# sigmoid and tanh at |x| up to 1e4: finite, and equal to their limits (0 or 1; -1 or 1).
big = torch.tensor([-1e4, -1e3, -100.0, 100.0, 1e3, 1e4])
s = sigmoid(big)
assert torch.isfinite(s).all(), f"sigmoid gave {s.tolist()} at {big.tolist()}: exp overflowed (inf / inf = NaN)"
assert_close(s, torch.sigmoid(big), rtol=1e-5, atol=1e-6, what="sigmoid at large |x| (expected 0 or 1)")
t = tanh(big)
assert torch.isfinite(t).all(), f"tanh gave {t.tolist()} at {big.tolist()}: exp overflowed"
assert_close(t, torch.tanh(big), rtol=1e-5, atol=1e-6, what="tanh at large |x| (expected -1 or 1)")
### BEGIN HIDDEN TESTS
grid = torch.tensor([-1e4, -5e3, -1e3, -200.0, -100.0, -88.8, -88.0, -50.0, -20.0, -10.0,
                     10.0, 20.0, 50.0, 88.0, 88.8, 100.0, 200.0, 1e3, 5e3, 1e4])
for dtype in (torch.float32, torch.float64):
    xg = grid.to(dtype)
    for name, mine, ref in [("sigmoid", sigmoid, torch.sigmoid), ("tanh", tanh, torch.tanh), ("relu", relu, torch.relu),
                            ("leaky_relu", lambda t: leaky_relu(t, 0.1), lambda t: F.leaky_relu(t, 0.1)),
                            ("gelu", gelu, F.gelu)]:
        out = mine(xg)
        assert torch.isfinite(out).all(), f"{name} is not finite for some inputs with 10 <= |x| <= 1e4 ({dtype})"
        assert_close(out, ref(xg), rtol=1e-5, atol=1e-6, what=f"{name} at large |x| ({dtype})")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · the derivatives (graded)
#
# Write the derivative of each activation, $f'(x)$, elementwise, with the same rules as
# Exercise 1 (elementary operations, same shape and dtype as `x`, finite for $|x| \le 10^4$). You may
# call your functions from Exercise 1. The tests compare with `torch.autograd.grad` of PyTorch's
# own functions.
#
# **The kink at 0.** ReLU and Leaky ReLU have no derivative at exactly $x = 0$; any value between
# the left and right slopes is a valid *subgradient*. This course uses **autograd's convention**,
# which takes the left slope: `relu_grad(0) = 0` and `leaky_relu_grad(0) = negative_slope`
# (that is, $1$ only where $x > 0$). In float arithmetic exactly-zero pre-activations do happen
# (a padded input, a zero-initialised layer), so the choice is real, and your functions must agree with autograd.

# %% nbgrader={"grade": false, "grade_id": "activation_grads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def sigmoid_grad(x: torch.Tensor) -> torch.Tensor:
    """d sigmoid(x) / dx, elementwise."""
    ### BEGIN SOLUTION
    s = sigmoid(x)
    return s * (1.0 - s)
    ### END SOLUTION


def tanh_grad(x: torch.Tensor) -> torch.Tensor:
    """d tanh(x) / dx, elementwise."""
    ### BEGIN SOLUTION
    return 1.0 - tanh(x) ** 2
    ### END SOLUTION


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """d relu(x) / dx: 1 where x > 0, else 0 (0 at x = 0, like autograd)."""
    ### BEGIN SOLUTION
    return (x > 0).to(x.dtype)
    ### END SOLUTION


def leaky_relu_grad(x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """d leaky_relu(x) / dx: 1 where x > 0, else negative_slope (also at x = 0, like autograd)."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))
    ### END SOLUTION


def gelu_grad(x: torch.Tensor) -> torch.Tensor:
    """d gelu(x) / dx = Phi(x) + x * phi(x) for the exact GELU."""
    ### BEGIN SOLUTION
    cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_activation_grads_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# On a float32 grid over [-6, 6]: each derivative keeps the shape and matches autograd's slope of
# PyTorch's function (rtol 1e-5, atol 1e-6); a float64 input gives a float64 result.
def autograd_slope(f, x):
    x = x.detach().clone().requires_grad_(True)
    (slope,) = torch.autograd.grad(f(x).sum(), x)  # elementwise f: d(sum f)/dx_i = f'(x_i)
    return slope


x = torch.linspace(-6, 6, 1201)
for name, mine, ref in [("sigmoid_grad", sigmoid_grad, torch.sigmoid), ("tanh_grad", tanh_grad, torch.tanh),
                        ("relu_grad", relu_grad, torch.relu), ("gelu_grad", gelu_grad, F.gelu),
                        ("leaky_relu_grad(x, 0.1)", lambda t: leaky_relu_grad(t, 0.1), lambda t: F.leaky_relu(t, 0.1))]:
    out = mine(x)
    assert_shape(out, x.shape, what=f"{name} shape")
    assert_close(out, autograd_slope(ref, x), rtol=1e-5, atol=1e-6, what=f"{name} on [-6, 6] (expected autograd's slope)")
x64 = torch.linspace(-3, 3, 61, dtype=torch.float64)
for name, mine in [("sigmoid_grad", sigmoid_grad), ("tanh_grad", tanh_grad), ("relu_grad", relu_grad),
                   ("leaky_relu_grad", leaky_relu_grad), ("gelu_grad", gelu_grad)]:
    assert mine(x64).dtype == torch.float64, f"{name} turned a float64 input into {mine(x64).dtype}; use .to(x.dtype)"
### BEGIN HIDDEN TESTS
# float64, random 2-D input, tighter tolerances; other slopes for leaky_relu_grad
g = torch.Generator().manual_seed(1)
x2 = torch.randn(7, 9, generator=g, dtype=torch.float64) * 3
x2_before = x2.clone()
for name, mine, ref in [("sigmoid_grad", sigmoid_grad, torch.sigmoid), ("tanh_grad", tanh_grad, torch.tanh),
                        ("relu_grad", relu_grad, torch.relu), ("gelu_grad", gelu_grad, F.gelu),
                        ("leaky_relu_grad (default slope 0.01)", leaky_relu_grad, F.leaky_relu),
                        ("leaky_relu_grad(x, 0.3)", lambda t: leaky_relu_grad(t, 0.3), lambda t: F.leaky_relu(t, 0.3)),
                        ("leaky_relu_grad(x, negative_slope=0.0)", lambda t: leaky_relu_grad(t, negative_slope=0.0),
                         torch.relu)]:
    out = mine(x2)
    assert_shape(out, (7, 9), what=f"{name} on a 2-D tensor (expected the input's shape)")
    assert out.dtype == torch.float64, f"{name} turned a float64 input into {out.dtype}"
    assert_close(out, autograd_slope(ref, x2), rtol=1e-7, atol=1e-9, what=f"{name} in float64")
    assert torch.equal(x2, x2_before), f"{name} modified its input in place"
# the sigmoid's slope never exceeds 1/4, and reaches it at 0
wide = torch.linspace(-20, 20, 4001, dtype=torch.float64)
assert_between(sigmoid_grad(wide).max(), 0.25 - 1e-12, 0.25 + 1e-12, what="max of sigmoid_grad (expected 1/4)")
assert_close(sigmoid_grad(torch.zeros(1, dtype=torch.float64)), torch.full((1,), 0.25, dtype=torch.float64),
             rtol=0, atol=1e-12, what="sigmoid_grad(0)")
assert_close(tanh_grad(torch.zeros(1, dtype=torch.float64)), torch.ones(1, dtype=torch.float64),
             rtol=0, atol=1e-12, what="tanh_grad(0)")
assert_close(gelu_grad(torch.zeros(1, dtype=torch.float64)), torch.full((1,), 0.5, dtype=torch.float64),
             rtol=0, atol=1e-12, what="gelu_grad(0)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_activation_grads_kink_and_large", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The convention at x = 0 (autograd's) for relu_grad and leaky_relu_grad; sigmoid_grad, tanh_grad and
# gelu_grad are finite at x = +-1e4.
def autograd_slope(f, x):
    x = x.detach().clone().requires_grad_(True)
    (slope,) = torch.autograd.grad(f(x).sum(), x)
    return slope


zero = torch.zeros(3)
assert torch.equal(relu_grad(zero), torch.zeros(3)), f"relu_grad(0) must be 0 (autograd's convention), got {relu_grad(zero).tolist()}"
assert_close(leaky_relu_grad(zero, 0.1), torch.full((3,), 0.1), rtol=0, atol=1e-7,
             what="leaky_relu_grad(0, 0.1) (expected negative_slope, autograd's convention)")
big = torch.tensor([-1e4, 1e4])
for name, mine in [("sigmoid_grad", sigmoid_grad), ("tanh_grad", tanh_grad), ("gelu_grad", gelu_grad)]:
    out = mine(big)
    assert torch.isfinite(out).all(), f"{name} at +-1e4 gave {out.tolist()}; expected finite values (0)"
### BEGIN HIDDEN TESTS
edge = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7], dtype=torch.float64)
assert_close(relu_grad(edge), autograd_slope(torch.relu, edge), rtol=0, atol=0, what="relu_grad at and next to 0")
assert_close(leaky_relu_grad(edge, 0.2), autograd_slope(lambda t: F.leaky_relu(t, 0.2), edge), rtol=1e-6, atol=0,
             what="leaky_relu_grad with another slope, at and next to 0")
grid = torch.tensor([-1e4, -5e3, -1e3, -200.0, -100.0, -88.8, -50.0, -20.0, -10.0,
                     10.0, 20.0, 50.0, 88.8, 100.0, 200.0, 1e3, 5e3, 1e4])
for dtype in (torch.float32, torch.float64):
    xg = grid.to(dtype)
    for name, mine, ref in [("sigmoid_grad", sigmoid_grad, torch.sigmoid), ("tanh_grad", tanh_grad, torch.tanh),
                            ("relu_grad", relu_grad, torch.relu), ("gelu_grad", gelu_grad, F.gelu),
                            ("leaky_relu_grad", lambda t: leaky_relu_grad(t, 0.1), lambda t: F.leaky_relu(t, 0.1))]:
        out = mine(xg)
        assert torch.isfinite(out).all(), f"{name} is not finite for some inputs with 10 <= |x| <= 1e4 ({dtype})"
        assert_close(out, autograd_slope(ref, xg), rtol=1e-5, atol=1e-6, what=f"{name} at large |x| ({dtype})")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Softmax, and why it needs the max trick
#
# In float32, $e^{x}$ overflows to `inf` once $x > 88.7$, and underflows to exactly 0 once
# $x < -103$. Logits of a few hundred are not exotic (a confident, badly scaled classifier,
# attention scores before $1/\sqrt{d_k}$), and the naive formula then computes `inf / inf` = NaN,
# or `0 / 0` = NaN when every entry is very negative.
#
# The fix uses a symmetry of softmax: adding the same constant $c$ to every input changes nothing,
#
# $$
# \frac{e^{x_i - c}}{\sum_j e^{x_j - c}} = \frac{e^{-c}\, e^{x_i}}{e^{-c}\sum_j e^{x_j}} = \frac{e^{x_i}}{\sum_j e^{x_j}} .
# $$
#
# Choose $c = \max_j x_j$. Then the largest exponent is $e^0 = 1$, nothing overflows, and the
# denominator is at least 1, so it can never be 0. Entries far below the maximum underflow to
# 0, which is also their correct value to float precision. The same shift gives the stable
# *log-sum-exp*, $\log\sum_j e^{x_j} = c + \log\sum_j e^{x_j - c}$, which is how
# `F.cross_entropy` works on logits directly.

# %%
def naive_softmax(x, dim):
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


logits = torch.tensor([1000.0, 999.0, 0.0])
print("naive softmax of", logits.tolist(), "->", naive_softmax(logits, 0).tolist())
print("torch.softmax            ->", torch.softmax(logits, 0).tolist())
shifted = logits - logits.max()
print("naive softmax after subtracting the max ->", naive_softmax(shifted, 0).tolist())
very_negative = torch.tensor([-1000.0, -1001.0, -1002.0])
print("naive softmax of", very_negative.tolist(), "->", naive_softmax(very_negative, 0).tolist(), "(0 / 0)")
print("torch.softmax            ->", torch.softmax(very_negative, 0).tolist())

# %% [markdown]
# ## Exercise 3 · `stable_softmax` (graded)
#
# Write `stable_softmax(x, dim=-1)`: the softmax of `x` along dimension `dim`, for a tensor of any
# number of dimensions and any valid `dim` (negative ones included).
#
# - Subtract the maximum *along `dim`* before exponentiating (`x.amax(dim=dim, keepdim=True)`
#   keeps the reduced axis, so the shapes broadcast back);
# - return a new tensor shaped like `x`, with the same dtype; do not modify `x`;
# - no NaN or inf for entries as large as $\pm 10^4$; entries equal to `-inf` (a masked position) get probability 0;
# - rows whose maxima lie far apart (one row near $+10^4$, another near $-10^4$) must all come out right:
#   that is why the shift is each slice's own maximum along `dim`, not the maximum of the whole tensor;
# - keep it differentiable: autograd must flow through it to `x` (do not detach);
# - elementary operations only, as before: none of PyTorch's activations, so no `torch.softmax`,
#   `F.softmax`, `F.log_softmax` or `F.softmin` (`torch.amax`, `torch.max` and `torch.logsumexp` are fine).

# %% nbgrader={"grade": false, "grade_id": "stable_softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stable_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax of ``x`` along ``dim``, computed without overflow. Returns a new tensor shaped like ``x``."""
    ### BEGIN SOLUTION
    shifted = x - x.amax(dim=dim, keepdim=True)
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_stable_softmax_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A (4, 7) float32 input: the shape, torch.softmax's values along dim=-1 and dim=0 (rtol 1e-5, atol 1e-6),
# rows that sum to 1, and x left unmodified.
g = torch.Generator().manual_seed(0)
x = torch.randn(4, 7, generator=g) * 3
x_before = x.clone()
out = stable_softmax(x, dim=-1)
assert_shape(out, (4, 7), what="stable_softmax(x, dim=-1) shape")
assert_close(out, torch.softmax(x, dim=-1), rtol=1e-5, atol=1e-6, what="stable_softmax(x, dim=-1)")
assert_close(out.sum(dim=-1), torch.ones(4), rtol=0, atol=1e-5, what="row sums of stable_softmax(x, dim=-1) (expected 1)")
assert_close(stable_softmax(x, dim=0), torch.softmax(x, dim=0), rtol=1e-5, atol=1e-6, what="stable_softmax(x, dim=0)")
assert torch.equal(x, x_before), "stable_softmax modified its input x in place"
### BEGIN HIDDEN TESTS
assert_close(stable_softmax(x, dim=1), torch.softmax(x, dim=1), rtol=1e-5, atol=1e-6, what="stable_softmax(x, dim=1)")
assert_close(stable_softmax(x), torch.softmax(x, dim=-1), rtol=1e-5, atol=1e-6, what="stable_softmax(x) (default dim=-1)")
# 3-D input, every dim (positive and negative); square slices would hide a wrong axis, so sizes differ
x3 = torch.randn(2, 3, 5, generator=g, dtype=torch.float64) * 4
x3_before = x3.clone()
for d in (0, 1, 2, -1, -2, -3):
    out3 = stable_softmax(x3, dim=d)
    assert_shape(out3, (2, 3, 5), what=f"stable_softmax on a 3-D tensor, dim={d} (expected the input's shape)")
    assert out3.dtype == torch.float64, f"stable_softmax turned float64 into {out3.dtype}"
    assert_close(out3, torch.softmax(x3, dim=d), rtol=1e-10, atol=1e-12, what=f"stable_softmax of a 3-D tensor, dim={d}, float64")
    assert_close(out3.sum(dim=d), torch.ones_like(x3.sum(dim=d)), rtol=0, atol=1e-12,
                 what=f"sums of stable_softmax of a 3-D tensor along dim {d}")
assert torch.equal(x3, x3_before), "stable_softmax modified a 3-D input in place"
# a square matrix: dim=0 and dim=1 must differ
sq = torch.randn(5, 5, generator=g, dtype=torch.float64)
assert_close(stable_softmax(sq, dim=0), torch.softmax(sq, dim=0), rtol=1e-10, atol=1e-12, what="stable_softmax(square, dim=0)")
assert_close(stable_softmax(sq, dim=1), torch.softmax(sq, dim=1), rtol=1e-10, atol=1e-12, what="stable_softmax(square, dim=1)")
# a 1-D vector
v = torch.tensor([0.5, -1.0, 2.0, 0.0])
assert_close(stable_softmax(v, dim=0), torch.softmax(v, dim=0), rtol=1e-5, atol=1e-6, what="stable_softmax of a 1-D vector")
# gradients flow to x and match torch's
xg = torch.randn(3, 6, generator=g, dtype=torch.float64, requires_grad=True)
w = torch.randn(3, 6, generator=g, dtype=torch.float64)
(mine,) = torch.autograd.grad((stable_softmax(xg, dim=1) * w).sum(), xg)
(ref,) = torch.autograd.grad((torch.softmax(xg, dim=1) * w).sum(), xg)
assert_close(mine, ref, rtol=1e-8, atol=1e-10, what="gradient of sum(w * stable_softmax(x, dim=1)) w.r.t. x")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_stable_softmax_stability", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# |x| = 1e4: no NaN and the right answer, for one vector and for two rows whose maxima lie 2e4 apart
# (each row needs its own shift, such as its maximum; one shift for the whole tensor fails). In float32
# a logit near 1e4 is stored to about 1e-3, so a correct answer that shifts by a value other than an
# exact entry (log-sum-exp, for instance) is off by up to ~1e-3 relative: the row check allows rtol 2e-3.
big = torch.tensor([1e4, 0.0, -1e4])
out = stable_softmax(big, dim=0)
assert torch.isfinite(out).all(), f"stable_softmax({big.tolist()}) gave {out.tolist()}: subtract the max before exp"
assert_close(out, torch.tensor([1.0, 0.0, 0.0]), rtol=0, atol=1e-6, what=f"stable_softmax({big.tolist()})")
rows = torch.tensor([[1e4, 1e4 - 1.0, 1e4 - 3.0], [-1e4 + 0.5, -1e4, -1e4 - 2.0]])
out = stable_softmax(rows, dim=-1)
assert torch.isfinite(out).all(), (f"stable_softmax of rows {rows.tolist()} gave {out.tolist()}: shift each row by its "
                                   "own maximum (x.amax(dim=dim, keepdim=True)), not by the maximum of the whole tensor")
assert_close(out, torch.softmax(rows, dim=-1), rtol=2e-3, atol=1e-6,
             what="stable_softmax of two rows near +1e4 and -1e4 (each row shifted by its own maximum)")
### BEGIN HIDDEN TESTS
# every entry huge and positive, or huge and negative (naive: inf/inf and 0/0); float32 as above: rtol 2e-3
for value in (1e4, -1e4, 500.0, -500.0):
    row = torch.full((2, 6), value)
    out = stable_softmax(row, dim=-1)
    assert torch.isfinite(out).all(), "stable_softmax of rows whose entries are all equal and huge (|x| up to 1e4) is not finite"
    assert_close(out, torch.full((2, 6), 1 / 6), rtol=2e-3, atol=1e-5,
                 what="stable_softmax of rows whose entries are all equal and huge (expected uniform)")
# slices whose maxima lie far apart, along every dim: one slice near +1e4, the others near -1e4 or 0
far = torch.tensor([[[1e4, 1e4 - 2.0, 1e4 - 0.5, 1e4 - 7.0],
                     [-1e4 - 1.0, -1e4, -1e4 - 4.0, -1e4 + 0.25]],
                    [[3.0, -1.0, 0.5, 2.0],
                     [-1e4 + 1.0, -1e4 - 3.0, -1e4, -1e4 - 0.5]]])
far_cols = far.transpose(-1, -2).contiguous()  # the same numbers, so that the far-apart slices run along dim 1
for dtype, rtol, atol in ((torch.float32, 2e-3, 1e-6), (torch.float64, 1e-8, 1e-12)):
    for t, d in ((far, -1), (far, 2), (far_cols, 1), (far_cols, -2)):
        td = t.to(dtype)
        out = stable_softmax(td, dim=d)
        assert torch.isfinite(out).all(), (f"stable_softmax along dim={d} of slices whose maxima lie far apart (near +1e4 "
                                           f"and near -1e4) is not finite ({dtype}): shift each slice by its own maximum")
        assert_close(out, torch.softmax(td, dim=d), rtol=rtol, atol=atol,
                     what=f"stable_softmax along dim={d} of slices whose maxima lie far apart ({dtype})")
# large logits along each dim, float32 and float64
m = torch.tensor([[1e4, -1e4, 0.0, 1e4 - 3.0],
                  [-1e4, 1e4, 1e4 - 1.0, 5.0],
                  [1e4 - 2.0, 3.0, 1e4, -1e4]])
for dtype, rtol, atol in ((torch.float32, 2e-3, 1e-5), (torch.float64, 1e-8, 1e-12)):
    md = m.to(dtype)
    for d in (0, 1, -1):
        out = stable_softmax(md, dim=d)
        assert torch.isfinite(out).all(), f"stable_softmax of logits near 1e4 is not finite along dim={d} ({dtype})"
        assert_close(out, torch.softmax(md, dim=d), rtol=rtol, atol=atol, what=f"stable_softmax of logits near 1e4, dim={d} ({dtype})")
# masked positions (-inf) get probability 0
masked = torch.tensor([[0.0, float("-inf"), 1.0, float("-inf")], [2.0, 0.5, float("-inf"), -1.0]])
out = stable_softmax(masked, dim=-1)
assert torch.isfinite(out).all(), "stable_softmax of rows with some -inf (masked) entries is not finite"
assert_close(out, torch.softmax(masked, dim=-1), rtol=1e-5, atol=1e-7, what="stable_softmax with -inf (masked) entries")
### END HIDDEN TESTS

# %% [markdown]
# One more check for all three exercises: your functions run with every PyTorch activation switched
# off (each one raises when called). It passes as long as you built them yourself.

# %% nbgrader={"grade": true, "grade_id": "test_elementary_ops_only", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The five activations, the five derivatives and stable_softmax, each run once with PyTorch's activations
# switched off: every name below, as torch.xxx, torch.nn.functional.xxx, torch.special.xxx or a tensor
# method x.xxx(), with or without a trailing underscore (the in-place forms), and the modules that call them.
ACTIVATION_NAMES = ("sigmoid tanh relu relu6 leaky_relu rrelu prelu elu selu celu gelu silu mish softplus logsigmoid "
                    "softsign tanhshrink hardshrink softshrink hardtanh threshold hardsigmoid hardswish glu softmax "
                    "log_softmax softmin gumbel_softmax expit")
BUILTIN_ACTIVATIONS = [getattr(ns, name + suffix) for name in ACTIVATION_NAMES.split() for suffix in ("", "_")
                       for ns in (torch, torch.Tensor, F, torch.special) if hasattr(ns, name + suffix)]
probe = torch.linspace(-3, 3, 13)
for fname, call in {
    "sigmoid": lambda: sigmoid(probe), "tanh": lambda: tanh(probe), "relu": lambda: relu(probe),
    "leaky_relu": lambda: leaky_relu(probe, 0.1), "gelu": lambda: gelu(probe),
    "sigmoid_grad": lambda: sigmoid_grad(probe), "tanh_grad": lambda: tanh_grad(probe),
    "relu_grad": lambda: relu_grad(probe), "leaky_relu_grad": lambda: leaky_relu_grad(probe, 0.1),
    "gelu_grad": lambda: gelu_grad(probe), "stable_softmax": lambda: stable_softmax(probe.reshape(13, 1), dim=0),
}.items():
    with forbidden(*BUILTIN_ACTIVATIONS, what=fname):
        call()
### BEGIN HIDDEN TESTS
# the same rule on other inputs: float64, 3-D, huge values, default arguments
g = torch.Generator().manual_seed(5)
x3 = torch.randn(2, 3, 4, generator=g, dtype=torch.float64) * 50
for fname, f in {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu, "gelu": gelu,
                 "sigmoid_grad": sigmoid_grad, "tanh_grad": tanh_grad, "relu_grad": relu_grad,
                 "leaky_relu_grad": leaky_relu_grad, "gelu_grad": gelu_grad, "stable_softmax": stable_softmax}.items():
    for t in (x3, x3.float() * 200):
        with forbidden(*BUILTIN_ACTIVATIONS, what=fname):
            f(t)
with forbidden(*BUILTIN_ACTIVATIONS, what="stable_softmax"):
    stable_softmax(x3, dim=1)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Why ReLU replaced sigmoid and tanh
#
# Take one network shape, eight hidden layers of 64 units on the digits, and change only the
# activation. Below is the norm of each Linear layer's weight gradient at initialisation, for one
# batch (He initialisation for all, to keep the comparison about the activation). The gradient
# starts at the loss, on the right, and flows left towards the input.

# %%
split = digits_split(seed=0)
xb, yb = split.x_train[:512].to(device), split.y_train[:512].to(device)
norms = {}
for act in ("sigmoid", "tanh", "relu", "gelu"):
    seed_everything(0)
    model = make_mlp(64, 10, width=64, depth=8, activation=act, init="he").to(device)
    F.cross_entropy(model(xb), yb).backward()
    norms[act] = [m.weight.grad.norm().item() for m in model if isinstance(m, nn.Linear)]
    print(f"{act:8s} first layer {norms[act][0]:.1e}   last layer {norms[act][-1]:.1e}")
plot_per_layer(norms, ylabel="||dL/dW|| at init", title="Eight hidden layers: the gradient reaching each layer")
plt.show()

# %% [markdown]
# With sigmoid, the first layer's gradient is about four orders of magnitude smaller than the last one's:
# the $\le 0.25$ slope multiplies in at every layer. Gradient descent then barely moves the first
# layers, which are the ones that must learn the features. ReLU and GELU keep the gradient at a steady
# scale, and so does tanh at this depth, thanks to its slope of 1 near zero; it suffers only once its
# pre-activations grow large enough to saturate it.
#
# That is the main reason ReLU (Nair & Hinton, 2010; Glorot et al., 2011) took over the hidden
# layers of deep networks:
#
# 1. **No saturation on the positive side.** Its slope is exactly 1 wherever the unit is active, so
#    active paths pass gradients back unshrunk; with He initialisation (topic 05) their scale stays steady.
# 2. **It is cheap.** One comparison, no exponential.
# 3. **Sparse activations.** About half the units output exactly 0 for a given input.
#
# Sigmoid and tanh did not disappear: sigmoid turns one logit into a probability, and both serve
# as *gates* in LSTMs and GRUs, where a value in $(0, 1)$ is the point. GELU and its relatives
# (SiLU/Swish) are the smooth ReLUs of today's transformers.
#
# ## 5. Dying ReLU
#
# ReLU pays for its flat negative side. If a unit's pre-activation is negative for **every**
# input, its output is always 0 and so is its slope; its incoming weights then receive exactly zero
# gradient, and nothing will ever change them. The unit is *dead*. A too-large update can push
# many units there at once, typically by making their biases very negative.
#
# Below, the same MLP (2 → 64 → 64 → 3, ReLU) trains on the spirals with plain gradient descent,
# once with a learning rate of 1 and once with 3. We count the hidden units that are inactive on
# all 600 training points.

# %%
x_sp, y_sp = make_spirals(n_per_class=200, seed=0)
x_sp, y_sp = x_sp.to(device), y_sp.to(device)


def dead_fraction(model, x):
    """Fraction of units in each ReLU layer that output 0 for every row of x."""
    fractions, h = [], x
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                fractions.append((h <= 0).all(dim=0).float().mean().item())
    return fractions


runs = {}
for lr in (1.0, 3.0):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses, dead2 = [], []
    for step in range(300):
        if step % 10 == 0:
            dead2.append(dead_fraction(model, x_sp)[1])
        opt.zero_grad()
        loss = F.cross_entropy(model(x_sp), y_sp)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    runs[lr] = (model, losses, dead2)
    acc = (model(x_sp).argmax(dim=1) == y_sp).float().mean().item()
    print(f"lr={lr}: final loss {losses[-1]:.3f}, train accuracy {acc:.2f}, "
          f"dead units per hidden layer {[round(f, 2) for f in dead_fraction(model, x_sp)]}")

fig, (ax_l, ax_d) = plt.subplots(1, 2, figsize=(11, 3.4))
plot_curves({f"lr={lr}": r[1] for lr, r in runs.items()}, ax=ax_l, ylabel="training loss", title="loss")
for lr, r in runs.items():
    ax_d.plot(range(0, 300, 10), r[2], label=f"lr={lr}")
ax_d.set(xlabel="step", ylabel="fraction dead", title="dead units in hidden layer 2")
ax_d.legend(frameon=False)
ax_d.grid(alpha=0.3)
plt.show()

# a dead unit's incoming weights get exactly zero gradient
model = runs[3.0][0]
model.zero_grad()
F.cross_entropy(model(x_sp), y_sp).backward()
with torch.no_grad():
    dead = (model[:4](x_sp) <= 0).all(dim=0)
print(f"{int(dead.sum())} dead units in layer 2; largest |gradient| on their incoming weights:",
      model[2].weight.grad[dead].abs().max().item())

# %% [markdown]
# With the larger step, most units of the second hidden layer die within the first few dozen
# steps, and the network is left with too few units to fit the spirals. A dead unit's own weights
# and bias receive no gradient at all; it can only come back if the layers below it change its
# inputs, and in the first layer, whose inputs are the fixed data, death is permanent. (Some units
# are dead from the start, about one in six per hidden layer here: with only two inputs, some
# first-layer hyperplanes miss the data altogether, and some second-layer units have a negative
# pre-activation for every point.)
#
# Remedies: a smaller learning rate or a warm-up, sensible initialisation, normalisation layers
# that keep pre-activations centred, or an activation whose negative side is not flat. Leaky ReLU
# keeps a slope $\alpha$ there; GELU and ELU curve smoothly. None of them has a region where the gradient is exactly zero.

# %% [markdown]
# ## 6. The rest of the family, and the PyTorch modules
#
# | name | $f(z)$ | range | where you meet it |
# |---|---|---|---|
# | ELU | $z$ if $z > 0$, else $\alpha(e^{z} - 1)$ | $(-\alpha, \infty)$, $\alpha = 1$ by default | a smooth negative side, so no dead units |
# | SiLU (Swish) | $z\,\sigma(z)$ | $[-0.278, \infty)$ | EfficientNet; inside SwiGLU |
# | GELU, tanh form | $\tfrac{z}{2}\bigl(1 + \tanh\bigl(\sqrt{2/\pi}\,(z + 0.044715 z^3)\bigr)\bigr)$ | $\approx[-0.170, \infty)$ | GPT-2's code; `F.gelu(x, approximate="tanh")` |
#
# **SwiGLU** (Shazeer, 2020), the feed-forward block of LLaMA-style transformers, gates one linear
# map with the SiLU of another: $\mathrm{FFN}(x) = W_2\bigl(\mathrm{SiLU}(W_1 x) \odot W_3 x\bigr)$,
# with bias-free layers. The tanh form of GELU was proposed as a faster approximation; `F.gelu`'s default is
# the exact erf form, and the two differ by less than $10^{-3}$.
#
# **The modules.** `nn.ReLU()`, `nn.GELU()`, `nn.Sigmoid()` and most others hold no parameters and no state, so
# one instance can be reused at several places in a model (unlike `nn.Linear`, `nn.BatchNorm1d`, or `nn.PReLU`,
# which learns its negative slope).
# `nn.ReLU(inplace=True)` overwrites its input to save one tensor's memory; that is safe only when nothing
# else needs the original values (autograd raises an error if the backward pass does).
#
# **Which one, by default?** ReLU in the hidden layers of MLPs and CNNs; GELU in transformers (BERT, GPT),
# SwiGLU in LLaMA-style ones; sigmoid for one probability (a binary output, a gate) and tanh for an output
# bounded in $(-1, 1)$; softmax for a distribution over classes. But **never put a softmax in front of
# `nn.CrossEntropyLoss`** (or `F.cross_entropy`): it expects raw logits and applies a stable log-softmax
# itself. A softmax before it is a silent bug: the model still trains, on a squashed loss with smaller gradients.

# %%
z = torch.linspace(-6, 6, 1201, device=device)
print(f"GELU: largest |exact - tanh form| on [-6, 6] = {(F.gelu(z) - F.gelu(z, approximate='tanh')).abs().max().item():.1e}")
silu = F.silu(z)
print(f"SiLU: minimum {silu.min().item():.3f} at z = {z[silu.argmin()].item():.2f};"
      f"  ELU: minimum on [-6, 6] = {F.elu(z).min().item():.4f} (tends to -alpha = -1)")


class SwiGLU(nn.Module):
    """The gated feed-forward block of LLaMA-style models: W2 (SiLU(W1 x) * W3 x), no biases."""

    def __init__(self, d_model: int, d_hidden: int):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_hidden, bias=False)  # the gate
        self.w3 = nn.Linear(d_model, d_hidden, bias=False)  # the value
        self.w2 = nn.Linear(d_hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


print("SwiGLU(64, 172) maps", (8, 64), "to", tuple(SwiGLU(64, 172).to(device)(torch.randn(8, 64, device=device)).shape))

act = nn.ReLU()
print("nn.ReLU() parameters:", list(act.parameters()), "-> one instance can serve every layer")
h = torch.tensor([-1.0, 2.0], device=device)
nn.ReLU(inplace=True)(h)
print("nn.ReLU(inplace=True) overwrote its input:", h.tolist())

logits = torch.tensor([[2.0, 1.0, 0.1]], device=device, requires_grad=True)
target = torch.tensor([0], device=device)
for name, scores in (("logits (right)", logits), ("softmax(logits) (a bug)", logits.softmax(dim=-1))):
    loss = F.cross_entropy(scores, target)
    (grad,) = torch.autograd.grad(loss, logits)
    print(f"cross_entropy on {name:24s} loss {loss.item():.3f}   |d loss / d logits| {grad.norm().item():.3f}")

# %% [markdown]
# ## Explorer
#
# Activation × depth on the digits: each change retrains an MLP (64 hidden units per layer, He
# initialisation, 150 Adam steps). Left: training and validation loss. Right: the gradient norm
# of each Linear layer's weights **at initialisation**, input layer on the left, as in section 4.
# Earlier runs stay on the plot, faded.

# %%
explorer = LossCurveExplorer(
    digits_mlp_task(init="he", lr=3e-3, steps=150),
    knobs=[
        Knob.dropdown("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"], "sigmoid"),
        Knob.int_slider("depth", 1, 12, 8, description="depth (hidden layers)"),
    ],
    extra_panel="init_grad_norm",
    prompt="At depth 8, which activations leave the first layer with almost no gradient, and does its loss curve show it?",
)
explorer

# %% [markdown]
# **What to try: predict, then move the slider.**
# - Sigmoid: step the depth from 1 to 12. How fast (per layer) should the gradient at layer 1
#   fall, by the argument of section 2? Read the slope of the right panel and compare.
# - Keep depth 8 and switch between sigmoid, tanh and relu. Which loss curves stay flat at the
#   start? Is that the same ranking as the gradient panel?
# - GELU and Leaky ReLU at depth 12: do they behave like ReLU, or like tanh?

# %% [markdown]
# ## Drill (graded)
#
# 1. `drill_sigmoid_slope_max`: the largest value of $\sigma'(z)$ over all $z$.
# 2. `drill_tanh_slope_max`: the largest value of $\tanh'(z)$ over all $z$.
# 3. `drill_sigmoid_10_layer_bound`: the largest factor that the sigmoid slopes alone can
#    contribute to a gradient that passes back through 10 sigmoid layers (one unit per layer).

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_sigmoid_slope_max = 0.25
drill_tanh_slope_max = 1.0
drill_sigmoid_10_layer_bound = 0.25 ** 10
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible: each answer is a number. The values are checked by the hidden tests.
for name in ("drill_sigmoid_slope_max", "drill_tanh_slope_max", "drill_sigmoid_10_layer_bound"):
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
### BEGIN HIDDEN TESTS
assert abs(drill_sigmoid_slope_max - 0.25) < 1e-6, \
    "drill_sigmoid_slope_max is not right: write sigma' in terms of sigma, and find where it is largest"
assert abs(drill_tanh_slope_max - 1.0) < 1e-6, \
    "drill_tanh_slope_max is not right: write tanh' in terms of tanh, and find where it is largest"
assert abs(drill_sigmoid_10_layer_bound - 0.25 ** 10) < 1e-3 * 0.25 ** 10, \
    "drill_sigmoid_10_layer_bound is not right: one factor per layer, each at most the sigmoid's largest slope"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** Why did ReLU replace sigmoid and tanh in the hidden layers of deep networks? What does
# ReLU cost in return, and how is that handled?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Backpropagation multiplies the activation's slope into the gradient once per layer. The sigmoid's
# slope is at most 1/4 (and near 0 once the unit saturates), tanh's is at most 1 and also vanishes
# for large inputs, so in a deep stack the gradient reaching the early layers shrinks geometrically
# and they barely learn. ReLU's slope is exactly 1 wherever the unit is active, so active paths pass
# the gradient back unshrunk; it is also cheap and gives sparse activations. The cost is the flat
# negative side: a unit whose pre-activation is negative on every input outputs 0, gets zero
# gradient and never recovers (dying ReLU), which a large learning rate or a bad initialisation can
# cause. The usual remedies are a moderate learning rate or warm-up, He initialisation,
# normalisation, or Leaky ReLU/GELU, whose negative side is not flat. Sigmoid remains the right tool
# for outputs that are probabilities and for gates.

# %% [markdown]
# **Q2.** A colleague's softmax returns NaN for some batches. What is the likely cause, and how
# do you fix it without changing the result?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Overflow or underflow in the exponential: in float32, $e^x$ is `inf` for $x > 88.7$, so large
# logits give `inf / inf`, and a row of very negative logits underflows to `0 / 0`. Softmax does not
# change when the same constant is subtracted from every entry, so subtract the row's maximum along
# the softmax dimension first. The largest exponent is then $e^0 = 1$ and the denominator is at
# least 1: no overflow, no division by zero, and the same probabilities. For a loss, better still,
# skip the explicit softmax and pass the logits to `F.cross_entropy` (or use `log_softmax`), which
# computes the log-sum-exp with the same shift; the log of a softmax that underflowed to 0 would be
# `-inf`. If the logits themselves are huge, also look for the upstream cause (a learning rate that
# is too high, missing scaling such as $1/\sqrt{d_k}$ in attention).
