# %% [markdown]
# # 04 · Vanishing and exploding gradients
#
# **Interview question:** *What are vanishing and exploding gradients, and how do you fix them?*
#
# **After this notebook you can**
# - write the gradient at a layer's input as a product of Jacobians, and say why singular values below 1 make it vanish and above 1 make it explode;
# - measure the gradient norm of every layer of a network, and read the plot;
# - write global gradient-norm clipping that matches `torch.nn.utils.clip_grad_norm_`, and put it in the right place in a training loop;
# - build a residual block and show that its skip connection keeps gradients alive through a deep stack;
# - name the standard fixes (ReLU, initialisation, normalisation, residual connections, clipping, gated RNNs) and the problem each one addresses.
#
# **Runs on a CPU in about 10 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_split, get_device, plot_curves, plot_per_layer, seed_everything
from course_utils.explorers import Knob, LossCurveExplorer, Task
from course_utils.models import ACTIVATIONS, make_mlp
from course_utils.testing import assert_between, assert_close, assert_python_float, assert_shape, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. Backpropagation is a product of Jacobians
#
# A plain deep network computes $h_\ell = f(z_\ell)$ with $z_\ell = W_\ell h_{\ell-1} + b_\ell$, for
# $\ell = 1, \dots, L$. By the chain rule, the gradient of the loss with respect to an early
# activation is the gradient at the top, pushed back through one Jacobian per layer:
#
# $$
# \frac{\partial \mathcal{L}}{\partial h_{0}}
# = J_1^\top J_2^\top \cdots J_L^\top \, \frac{\partial \mathcal{L}}{\partial h_L},
# \qquad
# J_\ell = \frac{\partial h_\ell}{\partial h_{\ell-1}} = \operatorname{diag}\bigl(f'(z_\ell)\bigr)\, W_\ell .
# $$
#
# The gradient of a weight matrix is built from the same backward signal,
# $\partial\mathcal{L}/\partial W_\ell = \delta_\ell\, h_{\ell-1}^\top$ with
# $\delta_\ell = \partial\mathcal{L}/\partial z_\ell$, so whatever happens to the signal happens to
# the weight gradients too.
#
# How big is a product of $L$ matrices? Each Jacobian stretches a vector by at most its largest
# singular value $s_{\max}(J_\ell)$ and at least its smallest, so
#
# $$
# \prod_{\ell} s_{\min}(J_\ell) \;\le\; \frac{\bigl\lVert \partial\mathcal{L}/\partial h_0 \bigr\rVert}{\bigl\lVert \partial\mathcal{L}/\partial h_L \bigr\rVert} \;\le\; \prod_{\ell} s_{\max}(J_\ell).
# $$
#
# If every singular value is below 1 the gradient **vanishes** geometrically with depth; if they
# are all above 1 it **explodes**. Only a gain that stays near 1, layer after layer, keeps the
# gradient at a usable scale. The cleanest case is a deep *linear* network whose weights are
# $c$ times a random orthogonal matrix: every singular value is exactly $c$.

# %%
def backward_norms(weights, generator):
    """Push a random gradient down a linear stack h_l = W_l h_{l-1}; return ||dL/dh_l|| for l = 0..L."""
    width = weights[0].shape[1]
    h = torch.randn(width, generator=generator, dtype=torch.float64, requires_grad=True)
    hs = [h]
    for W in weights:
        h = W @ h
        h.retain_grad()
        hs.append(h)
    h.backward(torch.randn(width, generator=generator, dtype=torch.float64) / math.sqrt(width))
    return [t.grad.norm().item() for t in hs]


width, depth = 64, 50
g = torch.Generator().manual_seed(0)
orthogonal = [torch.linalg.qr(torch.randn(width, width, generator=g, dtype=torch.float64))[0] for _ in range(depth)]
gaussian = [torch.randn(width, width, generator=g, dtype=torch.float64) / math.sqrt(width) for _ in range(depth)]
curves = {}
for c in (0.9, 1.0, 1.1):
    curves[f"orthogonal x {c}"] = backward_norms([c * Q for Q in orthogonal], g)
    print(f"c = {c}: ||grad at input|| / ||grad at output|| = "
          f"{curves[f'orthogonal x {c}'][0] / curves[f'orthogonal x {c}'][-1]:.3g}   (c^{depth} = {c ** depth:.3g})")
curves["Gaussian, std 1/sqrt(n)"] = backward_norms(gaussian, g)
s = torch.linalg.svdvals(gaussian[0])
print(f"one Gaussian W: singular values from {s.min().item():.3f} to {s.max().item():.3f}")
ax = plot_per_layer(curves, ylabel="||dL/dh_l||", title=f"A {depth}-layer linear network, backward")
ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
plt.show()

# %% [markdown]
# With $c = 0.9$ the gradient at the input is $0.9^{50} \approx 0.005$ times the one at the output;
# with $c = 1.1$ it is $1.1^{50} \approx 117$ times larger. A 10 % error in the per-layer gain
# becomes a factor of 100 over fifty layers. A Gaussian matrix with entries of variance $1/n$ has
# singular values spread from near 0 to about 2, yet its *average* gain on a random vector is
# about 1, so over fifty layers it loses only a small factor, like the $c = 1$ line and unlike the
# others; choosing the weights' variance to make that average gain 1 is the idea behind Xavier
# and He initialisation (topic 05).
#
# A nonlinearity adds its slopes, $\operatorname{diag}(f'(z_\ell))$, to every Jacobian. The
# sigmoid's are at most $1/4$ (topic 03), which pulls every factor below 1 unless the weights are
# large, and large weights saturate the sigmoid, which makes its slopes even smaller.
#
# Recurrent networks have it worst: the *same* $W_{hh}$ is applied at every time step, so over
# $T$ steps the gradient picks up roughly $W_{hh}^{\,T}$, and its eigenvalues are raised to the
# $T$-th power.
#
# ## Exercise 1 · `layer_grad_norms` (graded)
#
# The first diagnostic for any of this is the gradient norm of each layer. Write
# `layer_grad_norms(model)`:
#
# - one Python `float` per `nn.Linear` module in `model`, in the order `model.modules()` visits
#   them (the order they were registered, nested modules included; input side first);
# - each value is the L2 (Frobenius) norm of that layer's **weight** gradient,
#   $\lVert \partial\mathcal{L}/\partial W \rVert = \sqrt{\sum_{ij} (\partial\mathcal{L}/\partial W_{ij})^2}$; biases are left out;
# - a layer whose `weight.grad` is `None` (no backward has reached it yet) gives `0.0`, so the
#   list always has one entry per Linear layer;
# - do not change the gradients.

# %% nbgrader={"grade": false, "grade_id": "layer_grad_norms", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer_grad_norms(model: nn.Module) -> list[float]:
    """L2 norm of each nn.Linear's weight gradient, in model.modules() order (0.0 where grad is None)."""
    ### BEGIN SOLUTION
    norms = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            grad = module.weight.grad
            norms.append(0.0 if grad is None else grad.norm().item())
    return norms
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_layer_grad_norms", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A Linear-ReLU-Linear model: one Python float per nn.Linear, input side first, each the L2 norm of
# that layer's weight gradient.
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
model(torch.randn(10, 5)).pow(2).sum().backward()
norms = layer_grad_norms(model)
assert len(norms) == 2, f"expected one norm per nn.Linear (2), got {len(norms)}"
for v in norms:
    assert_python_float(v, what="each entry of layer_grad_norms(model)")
expected = [model[0].weight.grad.norm().item(), model[2].weight.grad.norm().item()]
assert_close(torch.tensor([float(v) for v in norms]), torch.tensor(expected), rtol=1e-5, atol=0,
             what="layer_grad_norms (L2 norm of each Linear's weight gradient, input side first)")
### BEGIN HIDDEN TESTS
# nested modules, non-Linear layers with weights (LayerNorm), a layer with no gradient yet,
# and weight-gradient magnitudes that differ by orders of magnitude so a wrong order shows
class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(6)
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        return self.fc(self.norm(x))


torch.manual_seed(1)
net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), Inner(), nn.Sequential(nn.ReLU(), nn.Linear(6, 2)))
unused = nn.Linear(2, 2)
net.append(unused)  # registered last, never called: its weight.grad stays None
net[:4](torch.randn(20, 3)).pow(2).sum().backward()
with torch.no_grad():
    net[0].weight.grad.mul_(1000.0)
    net[3][1].weight.grad.mul_(0.001)
    for m in net.modules():
        if isinstance(m, nn.Linear) and m.bias is not None and m.bias.grad is not None:
            m.bias.grad.fill_(1e3)  # a norm that includes the bias would be far off
grads_before = [p.grad.clone() if p.grad is not None else None for p in net.parameters()]
linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
expected = [0.0 if m.weight.grad is None else m.weight.grad.norm().item() for m in linears]
got = layer_grad_norms(net)
assert len(got) == 4, f"net has 4 nn.Linear layers (one nested two levels deep, one without a gradient); got {len(got)} values"
for v in got:
    assert_python_float(v, what="each entry of layer_grad_norms (including the 0.0 of a layer without a gradient)")
assert_close(torch.tensor([float(v) for v in got], dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
             rtol=1e-5, atol=1e-12, what="layer_grad_norms of a nested model (L2 norm of weight.grad, in module order, 0.0 for None)")
assert float(got[-1]) == 0.0, "a Linear layer whose weight.grad is None must give 0.0"
for before, p in zip(grads_before, net.parameters()):
    if before is not None:
        assert torch.equal(before, p.grad), "layer_grad_norms changed a gradient"
# a bare Linear counts as its own layer
lin = nn.Linear(4, 4)
lin(torch.randn(3, 4)).sum().backward()
assert_close(torch.tensor([float(v) for v in layer_grad_norms(lin)]), torch.tensor([lin.weight.grad.norm().item()]),
             rtol=1e-5, atol=0, what="layer_grad_norms(nn.Linear) (the model itself is a Linear)")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. What the diagnostic shows
#
# Here is `layer_grad_norms` on an untrained 10-hidden-layer MLP for the digits (PyTorch's default
# initialisation), for three activations and one batch. The loss sits on the right; the gradient
# flows leftwards.

# %%
split = digits_split(seed=0)
xb, yb = split.x_train[:512].to(device), split.y_train[:512].to(device)
per_layer = {}
for act in ("sigmoid", "tanh", "relu"):
    seed_everything(0)
    model = make_mlp(64, 10, width=64, depth=10, activation=act).to(device)
    F.cross_entropy(model(xb), yb).backward()
    per_layer[act] = layer_grad_norms(model)
    print(f"{act:8s} layer 1: {per_layer[act][0]:.1e}   layer 11: {per_layer[act][-1]:.1e}")
plot_per_layer(per_layer, ylabel="||dL/dW||", title="Gradient norm per layer, 10 hidden layers, at init")
plt.show()

# %% [markdown]
# All three vanish here, at different rates. PyTorch's default `nn.Linear` initialisation draws weights
# from $U(\pm 1/\sqrt{n_\text{in}})$, a variance of $1/(3 n_\text{in})$, so even the linear part has a gain
# below 1. The sigmoid's slope of at most $1/4$ makes it far worse, and ReLU, which zeroes about half
# the units, loses more per layer than tanh at this initialisation; He initialisation (topic 05)
# is designed to undo exactly that loss. Reading such a plot is
# the first step of debugging a network that does not learn: a flat loss together with first
# layers whose gradients are orders of magnitude below the last ones means vanishing gradients;
# gradient norms that grow step after step, loss spikes, and finally `nan` mean exploding ones.
#
# ## 3. The fixes, and what each one targets
#
# | fix | what it does to the Jacobian product |
# |---|---|
# | **ReLU-family activations** (topic 03) | slope exactly 1 on active units, instead of $\le 1/4$ |
# | **initialisation** (Xavier, He, orthogonal; topic 05) | sets the weights' scale so each layer's gain is about 1 at the start |
# | **normalisation** (BatchNorm, LayerNorm) | rescales the activations every layer, keeping them out of the saturated range, so the gain cannot drift far |
# | **residual connections** | $h_\ell = h_{\ell-1} + F(h_{\ell-1})$ gives $J_\ell = I + \partial F/\partial h$: an identity path through every layer |
# | **gradient clipping** | caps the *step size* when the gradient explodes; it does nothing for vanishing gradients |
# | **gated RNNs** (LSTM, GRU) | an additive cell state, $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, whose Jacobian $\operatorname{diag}(f_t)$ the network can keep near 1 |
#
# The next two exercises build the last three on that list.
#
# ## Exercise 2 · `clip_grad_norm` (graded)
#
# Clipping by the **global norm** treats all gradients as one long vector $g$. With
# $\lVert g \rVert = \sqrt{\sum_p \lVert g_p \rVert^2}$ over all parameters $p$:
#
# $$
# g \;\leftarrow\; g \cdot \min\!\Bigl(1, \frac{\texttt{max\_norm}}{\lVert g \rVert}\Bigr).
# $$
#
# Every gradient is multiplied by the same factor, so the *direction* of the update is kept and
# only its length is capped. Write `clip_grad_norm(parameters, max_norm)` that behaves like
# `torch.nn.utils.clip_grad_norm_` (with its default L2 norm):
#
# - `parameters` is an iterable of tensors (a list, or a generator such as `model.parameters()`,
#   which can be read only once) or a single tensor;
# - skip parameters whose `.grad` is `None`;
# - compute the total norm over all the gradients **before** clipping, and return it (a 0-d tensor or a float);
# - only if it is above `max_norm`, scale every gradient **in place** by `max_norm / total_norm`
#   (PyTorch divides by `total_norm + 1e-6`; either is fine). Otherwise leave the gradients alone.
#
# Do not call `torch.nn.utils.clip_grad_norm_`, `clip_grads_with_norm_` or `get_total_norm`: the tests
# make them raise while your function runs.

# %% nbgrader={"grade": false, "grade_id": "clip_grad_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def clip_grad_norm(parameters, max_norm: float) -> torch.Tensor:
    """Scale all gradients in place so that their global L2 norm is at most max_norm; return the norm before clipping."""
    ### BEGIN SOLUTION
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    clip_coef = max_norm / (total_norm + 1e-6)
    if clip_coef < 1.0:
        with torch.no_grad():
            for g in grads:
                g.mul_(clip_coef.to(g.dtype))
    return total_norm
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm_basics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Two gradients with norms 3 and 4 (global norm 5): the returned norm, clipping to 1 (both scaled by 1/5),
# max_norm=10 leaving them alone, and no call to torch's clipping functions.
# Tolerances: rtol 1e-5 (the 1e-6 in torch's denominator is far below it).
NO_TORCH_CLIPPING = (torch.nn.utils.clip_grad_norm_, torch.nn.utils.clip_grads_with_norm_, torch.nn.utils.get_total_norm)


def make_params():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(1, 2, requires_grad=True)
    a.grad = torch.tensor([3.0, 0.0])
    b.grad = torch.tensor([[0.0, 4.0]])
    return a, b


a, b = make_params()
with forbidden(*NO_TORCH_CLIPPING, what="clip_grad_norm"):
    total = clip_grad_norm([a, b], 1.0)
assert_close(torch.tensor(float(total)), torch.tensor(5.0), rtol=1e-5, atol=0,
             what="the returned total norm (the norm BEFORE clipping, over all gradients together)")
assert_close(a.grad, torch.tensor([0.6, 0.0]), rtol=1e-5, atol=1e-7, what="first gradient after clipping to 1 (scaled by 1/5)")
assert_close(b.grad, torch.tensor([[0.0, 0.8]]), rtol=1e-5, atol=1e-7, what="second gradient after clipping to 1 (scaled by 1/5)")
a, b = make_params()
with forbidden(*NO_TORCH_CLIPPING, what="clip_grad_norm"):
    total = clip_grad_norm([a, b], 10.0)
assert_close(torch.tensor(float(total)), torch.tensor(5.0), rtol=1e-5, atol=0, what="the total norm when no clipping is needed")
assert torch.equal(a.grad, torch.tensor([3.0, 0.0])) and torch.equal(b.grad, torch.tensor([[0.0, 4.0]])), (
    "with a total norm (5) below max_norm (10) the gradients must stay unchanged")
### BEGIN HIDDEN TESTS
# clipping is global, not per parameter: each norm (3 and 4) is below 4.5 but the total (5) is not
a, b = make_params()
total = clip_grad_norm([a, b], 4.5)
assert_close(torch.tensor(float(total)), torch.tensor(5.0), rtol=1e-5, atol=0, what="total norm when max_norm lies between the larger single norm and the global norm")
assert_close(a.grad, torch.tensor([2.7, 0.0]), rtol=1e-5, atol=1e-7,
             what="first gradient when each gradient's own norm is below max_norm but the global norm is above it "
                  "(every gradient is scaled by the same max_norm / global norm)")
assert_close(b.grad, torch.tensor([[0.0, 3.6]]), rtol=1e-5, atol=1e-7, what="second gradient when only the global norm is above max_norm")
# the L2 norm, not L1 or the max
a, b = make_params()
a.grad = torch.tensor([1.0, -2.0])
b.grad = torch.tensor([[2.0, 0.0]])
total = clip_grad_norm([a, b], 100.0)
assert_close(torch.tensor(float(total)), torch.tensor(3.0), rtol=1e-5, atol=0,
             what="total norm of gradients with entries of both signs (expected the L2 norm: not L1, not the largest entry)")
# exactly at the limit: no change
a, b = make_params()
clip_grad_norm([a, b], 5.0)
assert_close(a.grad, torch.tensor([3.0, 0.0]), rtol=1e-5, atol=0, what="gradient when the norm equals max_norm")
# an integer max_norm works too
a, b = make_params()
clip_grad_norm([a, b], 2)
assert_close(b.grad, torch.tensor([[0.0, 1.6]]), rtol=1e-5, atol=1e-7, what="clipping with max_norm=2 (an int)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_clip_grad_norm_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Against torch.nn.utils.clip_grad_norm_ on a real model, with model.parameters() (a generator);
# your function runs with torch's clipping functions made to raise.
NO_TORCH_CLIPPING = (torch.nn.utils.clip_grad_norm_, torch.nn.utils.clip_grads_with_norm_, torch.nn.utils.get_total_norm)


def model_with_grads(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    g = torch.Generator().manual_seed(seed)
    for p in net.parameters():
        p.grad = torch.randn(p.shape, generator=g)  # total norm about 10
    return net


mine, ref = model_with_grads(0), model_with_grads(0)
with forbidden(*NO_TORCH_CLIPPING, what="clip_grad_norm"):
    total_mine = clip_grad_norm(mine.parameters(), 1.0)
total_ref = torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
assert_close(torch.tensor(float(total_mine)), torch.tensor(float(total_ref)), rtol=1e-5, atol=0,
             what="total norm returned for model.parameters() (expected torch.nn.utils.clip_grad_norm_'s)")
for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
    assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, what=f"clipped gradient of {name} (expected clip_grad_norm_'s)")
### BEGIN HIDDEN TESTS
for seed, max_norm in ((1, 0.1), (2, 3.0), (3, 1e3)):
    mine, ref = model_with_grads(seed), model_with_grads(seed)
    with forbidden(*NO_TORCH_CLIPPING, what="clip_grad_norm"):
        total_mine = clip_grad_norm(list(mine.parameters()), max_norm)
    total_ref = torch.nn.utils.clip_grad_norm_(list(ref.parameters()), max_norm)
    assert_close(torch.tensor(float(total_mine)), torch.tensor(float(total_ref)), rtol=1e-5, atol=0,
                 what="total norm for a list of parameters (expected torch.nn.utils.clip_grad_norm_'s), at several max_norm values")
    for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
        assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, what=f"gradient of {name} for a list of parameters, at several max_norm values")
    new_total = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in mine.parameters()))
    assert_between(new_total, 0, max_norm * (1 + 1e-5), what="global gradient norm after clipping (at most max_norm)")
# a generator is consumed once: clipping must still happen
mine, ref = model_with_grads(4), model_with_grads(4)
clip_grad_norm((p for p in mine.parameters()), 0.5)
torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
    assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, what=f"gradient of {name} clipped through a generator expression")
# parameters without a gradient are skipped (and keep grad None)
mine, ref = model_with_grads(5), model_with_grads(5)
frozen = torch.zeros(3, requires_grad=True)
total_mine = clip_grad_norm([frozen, *mine.parameters()], 1.0)
total_ref = torch.nn.utils.clip_grad_norm_([*ref.parameters()], 1.0)
assert frozen.grad is None, "a parameter whose .grad is None must be skipped (its grad stays None)"
assert_close(torch.tensor(float(total_mine)), torch.tensor(float(total_ref)), rtol=1e-5, atol=0,
             what="total norm when one parameter has no gradient")
for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
    assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, what=f"gradient of {name} when another parameter has no gradient")
# a single tensor, as torch accepts
w = torch.zeros(2, 2, requires_grad=True)
w.grad = torch.full((2, 2), 3.0)  # norm 6
total = clip_grad_norm(w, 3.0)
assert_close(torch.tensor(float(total)), torch.tensor(6.0), rtol=1e-5, atol=0, what="total norm of a single tensor")
assert_close(w.grad, torch.full((2, 2), 1.5), rtol=1e-5, atol=1e-7, what="a single tensor's gradient clipped to norm 3")
# float64 gradients stay float64, and the clip is exact to float64 precision (up to torch's 1e-6)
p64 = torch.zeros(4, dtype=torch.float64, requires_grad=True)
p64.grad = torch.tensor([3.0, 4.0, 0.0, 0.0], dtype=torch.float64) * 10
clip_grad_norm([p64], 5.0)
assert p64.grad.dtype == torch.float64, f"clipping changed a float64 gradient to {p64.grad.dtype}"
assert_close(p64.grad, torch.tensor([3.0, 4.0, 0.0, 0.0], dtype=torch.float64), rtol=1e-6, atol=0,
             what="a float64 gradient clipped to norm 5 (every entry scaled by max_norm / total norm)")
### END HIDDEN TESTS

# %% [markdown]
# ### Where clipping goes in the loop
#
# After `loss.backward()` has filled the `.grad` fields, and before `optimizer.step()` reads them:
#
# ```python
# optimizer.zero_grad()
# loss = loss_fn(model(x), y)
# loss.backward()
# total_norm = clip_grad_norm(model.parameters(), max_norm=1.0)   # log it: it is a health signal
# optimizer.step()
# ```
#
# (With mixed precision and a `GradScaler`, call `scaler.unscale_(optimizer)` first, so that the
# threshold applies to the true gradients.) Below, a 12-block residual MLP trains on the digits with
# plain SGD at a learning rate of 0.5, once without and once with clipping at 1. The returned
# norm is recorded at every step.

# %%
class DemoResidualBlock(nn.Module):
    """x + W2 relu(W1 x): the block you are about to write, kept separate so this demo runs now."""

    def __init__(self, dim):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


def train_digits(max_norm, steps=100, lr=0.5):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(64, 32), *[DemoResidualBlock(32) for _ in range(12)],
                          nn.ReLU(), nn.Linear(32, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    batches = torch.Generator().manual_seed(0)
    losses, norms = [], []
    for _ in range(steps):
        idx = torch.randint(0, len(split.x_train), (64,), generator=batches)
        opt.zero_grad()
        loss = F.cross_entropy(model(split.x_train[idx].to(device)), split.y_train[idx].to(device))
        loss.backward()
        norm = clip_grad_norm(model.parameters(), max_norm)  # max_norm=inf: measure only
        opt.step()
        losses.append(loss.item())
        norms.append(float(norm))
    return losses, norms


fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(11, 3.4))
for label, max_norm in (("no clipping", math.inf), ("clip at 1.0", 1.0)):
    losses, norms = train_digits(max_norm)
    finite = [v for v in losses if math.isfinite(v)]
    largest = max(v for v in norms if math.isfinite(v))
    print(f"{label:12s}: largest finite gradient norm {largest:.2g}, last loss {losses[-1]:.3g}, "
          f"{len(finite)} of {len(losses)} losses finite")
    ax_loss.plot(losses, label=label)
    ax_norm.plot(norms, label=label)
ax_loss.set(xlabel="step", ylabel="training loss", yscale="log", title="loss")
ax_norm.set(xlabel="step", ylabel="global gradient norm (before clipping)", yscale="log", title="gradient norm")
for ax in (ax_loss, ax_norm):
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Without clipping, large gradients feed on each other: a big step lands where the next gradient
# is bigger still, the norm climbs, and within a few steps the loss turns into `inf` and then
# `nan` (matplotlib leaves those out, so the curves simply stop). With clipping, the same spikes are
# capped at norm 1 and training carries on. Clipping chooses the *length* of the worst steps;
# it cannot create a gradient that has vanished.
#
# Clipping matters most for recurrent networks, where the same $W_{hh}$ multiplies the gradient at
# every time step, so a gradient can grow geometrically over a long sequence
# (Pascanu et al., 2013): a 3-layer LSTM language model such as AWD-LSTM clips the global norm at
# 0.25. In transformer training, `max_norm=1.0` is the common default.
#
# ### The library's tools
#
# In your own code, use PyTorch's versions. `clip_grad_norm_` returns the norm *before* clipping
# (log it: a norm that climbs for many steps warns of a blow-up before the loss does), and
# `error_if_nonfinite=True` turns an `inf` or `nan` gradient into an error instead of a silent
# multiplication of every gradient by `nan` or 0. `clip_grad_value_` clamps each entry to
# $[-c, c]$ on its own, which can change the update's direction. To find the operation that first
# produced a `nan` in the backward pass, run it under `torch.autograd.detect_anomaly()` (slow:
# only while debugging).

# %%
net = nn.Linear(3, 2)
net(torch.randn(8, 3)).pow(2).sum().backward()
with torch.no_grad():
    for p in net.parameters():
        p.grad.mul_(100.0)                                  # an exploding step
before = [p.grad.clone() for p in net.parameters()]
total = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
after = math.sqrt(sum(p.grad.pow(2).sum().item() for p in net.parameters()))
print(f"clip_grad_norm_: returned {total:.1f} (the norm before), the norm is now {after:.3f}")
for p, g in zip(net.parameters(), before):
    p.grad.copy_(g)
torch.nn.utils.clip_grad_value_(net.parameters(), clip_value=0.1)
cos = torch.nn.functional.cosine_similarity(torch.cat([g.flatten() for g in before]),
                                            torch.cat([p.grad.flatten() for p in net.parameters()]), dim=0)
print(f"clip_grad_value_: every entry in [-0.1, 0.1]; cosine with the original direction {cos:.3f} (not 1)")
net.weight.grad[0, 0] = float("nan")
try:
    torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0, error_if_nonfinite=True)
except RuntimeError as err:
    print("error_if_nonfinite=True:", str(err).splitlines()[0][:90], "...")
x = torch.tensor([-1.0, 4.0], requires_grad=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")                         # detect_anomaly warns that it is slow
    try:
        with torch.autograd.detect_anomaly():
            torch.sqrt(x).sum().backward()                  # sqrt(-1) is nan, and so is its gradient
    except RuntimeError as err:
        print("detect_anomaly:", str(err).splitlines()[0])

# %% [markdown]
# ## Exercise 3 · `ResidualBlock` (graded)
#
# Write `ResidualBlock(dim)`, an `nn.Module` whose forward pass is
#
# $$
# \operatorname{block}(x) = x + F(x), \qquad F(x) = W_2\,\operatorname{relu}(W_1 x + b_1) + b_2,
# $$
#
# - $F$ uses two `nn.Linear(dim, dim)` layers (with bias) and a ReLU between them. Create the
#   first Linear before the second: the tests find them as the first and second `nn.Linear` in `block.modules()`;
# - the skip path is the plain identity: nothing is applied after the addition;
# - input and output have shape `(..., dim)`.
#
# Why it helps: the block's Jacobian is $I + \partial F/\partial x$. Through a stack of such blocks
# the backward signal always has the identity path, so it cannot vanish just because the
# $\partial F/\partial x$ terms are small. In code the whole idea is one line,
# `return x + self.net(x)`.
#
# Where the skip path stays clean depends on the architecture:
#
# - ResNet's first version put a ReLU after the addition, $\operatorname{relu}(x + F(x))$; the
#   *pre-activation* ResNet (He et al., 2016) moved it into the branch and keeps the skip path clean.
# - The original Transformer (2017) and BERT are **Post-LN**: $x \leftarrow \operatorname{LayerNorm}(x + F(x))$
#   puts a LayerNorm on the skip path of every block. The gradient has to pass through all of them,
#   and at initialisation the layers near the output get much larger gradients than those near the
#   input, which is why Post-LN needs a learning-rate warm-up to train stably (Xiong et al., 2020).
# - **Pre-LN** transformers (GPT-2 onward, and most large models since) normalise inside the branch,
#   $x \leftarrow x + F(\operatorname{LayerNorm}(x))$, with one final LayerNorm after the last block:
#   the skip path is clean, as in your block, and they can train with little or no warm-up.

# %% nbgrader={"grade": false, "grade_id": "residual_block", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ResidualBlock(nn.Module):
    """x + fc2(relu(fc1(x))), with fc1 and fc2 both nn.Linear(dim, dim)."""

    def __init__(self, dim: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.fc1 = nn.Linear(dim, dim)
        self.fc2 = nn.Linear(dim, dim)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return x + self.fc2(torch.relu(self.fc1(x)))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_residual_block_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Shape, parameters, the output x + fc2(relu(fc1(x))), and the identity when F's last layer is zeroed.
torch.manual_seed(0)
block = ResidualBlock(16)
assert isinstance(block, nn.Module), "ResidualBlock must subclass nn.Module"
linears = [m for m in block.modules() if isinstance(m, nn.Linear)]
assert len(linears) == 2, f"expected exactly two nn.Linear layers in the block, found {len(linears)}"
n_params = sum(p.numel() for p in block.parameters())
assert n_params == 2 * (16 * 16 + 16), f"ResidualBlock(16) should have 2 * (16*16 + 16) = 544 parameters, got {n_params}"
x = torch.randn(8, 16)
out = block(x)
assert_shape(out, (8, 16), what="ResidualBlock(16) on an (8, 16) batch")
with torch.no_grad():
    expected = x + linears[1](torch.relu(linears[0](x)))
assert_close(out, expected, rtol=1e-5, atol=1e-6, what="ResidualBlock(16)(x) (expected x + fc2(relu(fc1(x))))")
with torch.no_grad():
    linears[1].weight.zero_()
    linears[1].bias.zero_()
assert_close(block(x), x, rtol=0, atol=1e-6, what="the block with its second Linear zeroed (F(x) = 0, so expected x itself)")
### BEGIN HIDDEN TESTS
torch.manual_seed(1)
block = ResidualBlock(12)
fc1, fc2 = [m for m in block.modules() if isinstance(m, nn.Linear)]
for lin in (fc1, fc2):
    assert lin.in_features == 12 and lin.out_features == 12, f"both Linear layers should be 12 -> 12, got {lin}"
    assert lin.bias is not None, "both Linear layers should have a bias"
x = torch.randn(5, 12) * 2
expected = x + fc2(torch.relu(fc1(x)))
assert_close(block(x), expected, rtol=1e-5, atol=1e-6, what="ResidualBlock(x) (expected x + fc2(relu(fc1(x))))")
# leading dimensions
x3 = torch.randn(2, 3, 12)
assert_close(block(x3), x3 + fc2(torch.relu(fc1(x3))), rtol=1e-5, atol=1e-6, what="ResidualBlock on a (2, 3, 12) tensor")
# zeroing the first layer leaves x + b2 (the bias of the second layer)
with torch.no_grad():
    fc1.weight.zero_()
    fc1.bias.zero_()
assert_close(block(x), x + fc2.bias, rtol=1e-5, atol=1e-6, what="the block with its first Linear zeroed (expected x + b2)")
# the input is not modified
x_before = x.clone()
block(x)
assert torch.equal(x, x_before), "ResidualBlock modified its input in place"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_residual_block_gradient", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Through 30 blocks, the gradient reaching the input should not vanish; through the same
# stack without skips (Linear-ReLU-Linear, PyTorch's default init) it does, by many orders of magnitude.
def input_grad_norm(stack, dim, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, dim, generator=g, requires_grad=True)
    upstream = torch.randn(16, dim, generator=g)
    (stack(x) * upstream).sum().backward()
    return x.grad.norm().item() / upstream.norm().item()


torch.manual_seed(0)
residual = nn.Sequential(*[ResidualBlock(32) for _ in range(30)])
torch.manual_seed(0)
plain = nn.Sequential(*[nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32)) for _ in range(30)])
r, p = input_grad_norm(residual, 32, 0), input_grad_norm(plain, 32, 0)
assert r > 0.5, f"through 30 residual blocks the input gradient should keep its scale (ratio > 0.5); got {r:.3g}"
assert r > 1e6 * p, f"residual ({r:.3g}) vs plain ({p:.3g}): the skip path should keep far more gradient"
### BEGIN HIDDEN TESTS
for seed in (1, 2):
    torch.manual_seed(seed)
    deep = nn.Sequential(*[ResidualBlock(24) for _ in range(50)])
    ratio = input_grad_norm(deep, 24, seed)
    assert ratio > 0.5, f"through 50 residual blocks (seed {seed}) the input gradient ratio is {ratio:.3g}; expected > 0.5"
    assert math.isfinite(ratio), "the input gradient through residual blocks is not finite"
# the first block's parameters receive a gradient through 10 blocks (the branch is not detached)
torch.manual_seed(3)
stack = nn.Sequential(*[ResidualBlock(8) for _ in range(10)])
stack(torch.randn(4, 8)).sum().backward()
first_grads = [p.grad.norm().item() for p in stack[0].parameters() if p.grad is not None]
assert first_grads and max(first_grads) > 1e-4, (
    "the first block's parameters should get a clear gradient through 10 residual blocks")
### END HIDDEN TESTS

# %% [markdown]
# Your block in a stack of 20, next to the same stack without skips (Linear-ReLU-Linear), at
# initialisation. `layer_grad_norms` reads both.

# %%
x = split.x_train[:256].to(device)
y = split.y_train[:256].to(device)
curves = {}
for label, make_block in (("plain", lambda: nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32))),
                          ("residual", lambda: ResidualBlock(32))):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(64, 32), *[make_block() for _ in range(20)], nn.Linear(32, 10)).to(device)
    F.cross_entropy(model(x), y).backward()
    curves[label] = layer_grad_norms(model)
    print(f"{label:8s}: first Linear {curves[label][0]:.1e}, last Linear {curves[label][-1]:.1e}")
plot_per_layer(curves, ylabel="||dL/dW||", title="20 blocks (42 Linear layers) at init")
plt.show()

# %% [markdown]
# The plain stack's first layer gets a gradient about a dozen orders of magnitude smaller than its
# last; the residual stack's layers all get gradients of about the same size. This is what made networks with
# hundreds of layers trainable (He et al., 2015), and every transformer layer wraps both of its
# sublayers (attention and MLP) in a residual connection; whether the skip path stays clean depends
# on where the LayerNorm sits (Pre-LN versus Post-LN, above).
#
# ## 4. Gated RNNs
#
# A vanilla RNN computes $h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)$, so
# $\partial h_T/\partial h_t$ is a product of $T - t$ Jacobians
# $\operatorname{diag}(\tanh'(\cdot))\,W_{hh}$: the problem of section 1, with the same matrix at
# every step. An LSTM adds a cell state updated *additively*,
#
# $$
# c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad \frac{\partial c_t}{\partial c_{t-1}} \approx \operatorname{diag}(f_t)
# $$
#
# (ignoring the small paths through the gates). If the forget gate $f_t$ stays near 1, the cell is
# nearly a residual connection through time. That is not automatic. PyTorch initialises *every*
# weight and bias of `nn.LSTM` (and `nn.RNN`, `nn.GRU`) from $U(-1/\sqrt{H}, 1/\sqrt{H})$, with $H$
# the hidden size (`reset_parameters` in `torch/nn/modules/rnn.py`), and it has two bias vectors,
# `bias_ih` and `bias_hh`, that add up. The forget gate's bias is therefore small and centred on 0, so
# $f_t = \sigma(\cdot) \approx 0.5$ at initialisation, which still vanishes geometrically. A common
# remedy is a positive forget-gate bias (Gers et al., 2000; Jozefowicz et al., 2015). Below,
# $\lVert \partial h_T / \partial x_t \rVert$ over a 60-step sequence, for untrained networks.

# %%
T, hidden = 60, 32
lstm = nn.LSTM(8, hidden)
bound = 1 / math.sqrt(hidden)
print(f"nn.LSTM biases lie in [{lstm.bias_hh_l0.min():.3f}, {lstm.bias_hh_l0.max():.3f}]; "
      f"1/sqrt(H) = {bound:.3f}; mean forget gate at h = 0, x = 0: "
      f"{torch.sigmoid(lstm.bias_ih_l0 + lstm.bias_hh_l0)[hidden:2 * hidden].mean():.2f}")
influence = {}
for label in ("RNN (tanh)", "LSTM", "LSTM, forget bias +3"):
    seed_everything(0)
    rnn = nn.RNN(8, hidden) if label.startswith("RNN") else nn.LSTM(8, hidden)
    if label.endswith("+3"):
        with torch.no_grad():
            rnn.bias_hh_l0[hidden:2 * hidden] += 3.0  # PyTorch orders the LSTM gates (input, forget, cell, output)
    xs = torch.randn(T, 1, 8, requires_grad=True)
    out, _ = rnn(xs)
    out[-1].sum().backward()
    influence[label] = xs.grad.norm(dim=(1, 2)).tolist()
    print(f"{label:22s} ||dh_T/dx_t|| at t = 0: {influence[label][0]:.1e},  at t = T-1: {influence[label][-1]:.1e}")
plot_curves(influence, xlabel="time step t", ylabel="||dh_T / dx_t||", logy=True,
            title="How much the last output depends on each input")
plt.show()

# %% [markdown]
# The RNN's and the default LSTM's sensitivity to the first inputs is more than ten orders of
# magnitude below their sensitivity to the last one: they cannot learn a dependency that spans the sequence. With the
# forget gate opened, the LSTM's gradient barely decays. Training can learn to open or close
# each gate as the data requires; a GRU's update gate plays the same role.

# %% [markdown]
# ## Explorer
#
# A stack of `depth` blocks on the digits, each block $h \mapsto \mathrm{Linear}(\mathrm{act}(h))$,
# with or without the skip connection $h \mapsto h + \mathrm{Linear}(\mathrm{act}(h))$ (a
# one-Linear version of your block, so the activation can change), trained by plain SGD for 150
# steps. Left: training and validation loss. Right: the gradient norm of each Linear layer's
# weights at initialisation, input side on the left. Clipping uses `torch.nn.utils.clip_grad_norm_`
# after every backward.

# %%
class ExplorerBlock(nn.Module):
    def __init__(self, width, activation, residual):
        super().__init__()
        self.act, self.fc, self.residual = ACTIVATIONS[activation](), nn.Linear(width, width), residual

    def forward(self, h):
        out = self.fc(self.act(h))
        return h + out if self.residual else out


def build_stack(cfg):
    blocks = [ExplorerBlock(cfg["width"], cfg["activation"], cfg["residual"]) for _ in range(cfg["depth"])]
    return nn.Sequential(nn.Linear(64, cfg["width"]), *blocks, ACTIVATIONS[cfg["activation"]](), nn.Linear(cfg["width"], 10))


def weight_grad_probe(model, cfg, data):
    x_train, y_train = data[0], data[1]
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x_train), y_train).backward()
    return {"grad_norm": [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]}


depth_task = Task(
    "04_depth_residual_clip", build_model=build_stack, build_data=lambda cfg: tuple(digits_split(seed=0)),
    probe=weight_grad_probe, data_keys=(),
    defaults={"width": 32, "depth": 20, "activation": "sigmoid", "residual": False,
              "optimizer": "sgd", "lr": 0.1, "steps": 150},
)
explorer = LossCurveExplorer(
    depth_task,
    knobs=[
        Knob.int_slider("depth", 1, 30, 20, description="depth (blocks)"),
        Knob.dropdown("activation", ["sigmoid", "tanh", "relu"], "sigmoid"),
        Knob.toggle("residual", value=False, description="residual"),
        Knob.dropdown("clip", {"off": None, "5": 5.0, "1": 1.0, "0.1": 0.1}, None, description="clip (max_norm)"),
        Knob.log_slider("lr", 0.01, 1.0, 0.1, description="learning rate (SGD)"),
    ],
    extra_panel="init_grad_norm",
    prompt="Sigmoid, depth 20, no skips: the first layer's gradient is tiny. Which single switch fixes it?",
)
explorer

# %% [markdown]
# **What to try: predict, then move the slider.**
# - Sigmoid at depth 20: turn `residual` on. How many orders of magnitude does the first layer's
#   gradient gain, and does the loss curve start to fall?
# - Residual off, depth 10: compare sigmoid, tanh and relu. Which one is least affected, and why
#   is it still not flat? (Section 2: PyTorch's default init.)
# - ReLU, residual on, depth 30: raise the learning rate until the run diverges, then set clipping
#   to 1. Does clipping rescue it? Does clipping change anything at `lr = 0.1`?
# - Can any clipping setting rescue the deep sigmoid stack without skips? Why not?

# %% [markdown]
# ## Drill (graded)
#
# 1. `drill_linear_gain`: a deep *linear* network of 20 layers whose weights are all $0.9\,I$.
#    By what factor is the gradient at the input smaller than the gradient at the output (the
#    ratio of their norms, input over output)?
# 2. `drill_total_norm`: a model has two parameters whose gradients have L2 norms 6 and 8. What is
#    the global gradient norm?
# 3. `drill_clip_factor`: clipping that model with `max_norm=2`: by what factor is every gradient multiplied?
#
# Two more, to answer in words (not graded; open the answer when you have yours):
#
# - A model trains with `lr=1e-2`; the loss falls for 200 steps, then turns into `nan`. What is the
#   likely cause, and what are the fixes?
#   <details><summary>Answer</summary>Most likely an exploding step: the gradient grew large (a
#   sharper region of the loss, or an unusual batch), one update overshot, and the loss blew up to
#   <code>inf</code>, then <code>nan</code>. Log the global gradient norm to confirm (it spikes just
#   before); clip it (<code>max_norm=1.0</code>) and decay the learning rate (for example a cosine
#   schedule), or lower it. If the norm stayed small, look for a <code>log(0)</code> or a division
#   by zero in the loss instead.</details>
# - What `max_norm` would you put in a new training loop by default, especially for an RNN or a
#   transformer?
#   <details><summary>Answer</summary><code>max_norm=1.0</code>, the common default; then look at the
#   logged norms and adjust.</details>

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_linear_gain = 0.9 ** 20
drill_total_norm = 10.0
drill_clip_factor = 0.2
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Plausibility only (the values are checked by hidden tests): each answer is a number, the gain of
# layers with gain 0.9 is below 1, the global norm is at least the larger of the two norms, and
# clipping only ever shrinks.
for name in ("drill_linear_gain", "drill_total_norm", "drill_clip_factor"):
    assert name in globals(), f"{name} is not defined: fill in the drill cell above and run it"
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
assert 0 < drill_linear_gain < 1, "twenty layers that each shrink the gradient give a ratio between 0 and 1"
assert drill_total_norm >= 8, "the global norm is at least the norm of the larger gradient (8)"
assert 0 < drill_clip_factor <= 1, "clipping multiplies the gradients by a factor between 0 and 1"
### BEGIN HIDDEN TESTS
assert abs(drill_linear_gain - 0.9 ** 20) < 1e-3 * 0.9 ** 20, \
    "drill_linear_gain: each of the twenty layers multiplies the gradient's norm by 0.9"
assert abs(drill_total_norm - 10.0) < 1e-6, \
    "drill_total_norm: the global norm is the square root of the sum of the squared norms"
assert abs(drill_clip_factor - 0.2) < 1e-4, "drill_clip_factor: the factor is max_norm divided by the global norm"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** What causes vanishing and exploding gradients in deep networks and in RNNs, and how
# would you tell, from logs, which one you have?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Backpropagation multiplies one Jacobian per layer, $\operatorname{diag}(f'(z_\ell))\,W_\ell$, so the
# gradient reaching early layers is a product of many matrices. If their singular values are
# mostly below 1 (small weights, saturating activations such as sigmoid with slope $\le 1/4$) the
# product shrinks geometrically with depth and the early layers stop learning; if they are above 1
# (large weights or learning rates) it grows geometrically. RNNs are the extreme case because the
# same $W_{hh}$ is applied at every time step, so its eigenvalues are raised to the sequence length.
# To tell them apart, log the gradient norm per layer (and the global norm) during training:
# vanishing shows as early layers with gradients orders of magnitude below the late ones and a
# loss that plateaus early; exploding shows as global norms that spike or keep growing, loss
# spikes, and eventually `inf`/`nan` in the loss or the weights.

# %% [markdown]
# **Q2.** Where does gradient clipping go in a training loop, and why clip the *global* norm
# rather than each parameter's gradient separately? Does clipping help with vanishing gradients?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# After `loss.backward()`, which fills the gradients, and before `optimizer.step()`, which uses
# them (and after `scaler.unscale_` when training with a gradient scaler). Global-norm clipping
# multiplies every gradient by the same factor, so the update keeps its direction and only its
# length is capped; clipping each tensor on its own (or each value) rescales the parts differently
# and changes the direction, which biases the update towards the parameters whose gradients
# happened to be small. Clipping does nothing for vanishing gradients: it only ever shrinks a
# gradient. Those need the structural fixes: ReLU-type activations, good initialisation,
# normalisation, residual connections, or gated recurrent units.
