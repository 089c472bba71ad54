# %% [markdown]
# # 32 · Batch size
#
# **Interview question:** *How does the batch size affect training, mathematically and in practice?*
#
# **After this notebook you can**
# - write a mini-batch gradient as the mean of $B$ per-example gradients, and show that its noise variance falls as
#   $1/B$ (with the finite-data factor $(N-B)/(N-1)$), so its standard deviation falls only as $1/\sqrt{B}$;
# - measure that variance yourself, and read the *gradient noise scale* as the batch size beyond which larger
#   batches stop saving steps;
# - state the linear scaling rule ($\eta \propto B$), say why it needs warmup and where it breaks, and what Adam
#   users do instead;
# - explain the sharp-versus-flat-minima argument about large batches, and how much of it survives a scaled
#   learning rate;
# - write gradient accumulation that reproduces the big-batch gradient exactly, even when the last micro-batch is
#   smaller, and name where accumulation still differs from a real big batch.
#
# **Runs on a CPU in about 15 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import copy
import dataclasses
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import digits_split, get_device, make_mlp, seed_everything
from course_utils.explorers import CurvePanel, Knob, LossCurveExplorer, digits_mlp_task, run
from course_utils.testing import assert_between, assert_close, assert_python_float, assert_raises

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. A mini-batch gradient is a noisy average
#
# Training minimises the mean loss over the $N$ training examples, $L(\theta) = \frac1N \sum_{i=1}^N \ell_i(\theta)$,
# whose gradient is $g = \frac1N \sum_i \nabla \ell_i$. A step of SGD uses a mini-batch $\mathcal B$ of $B$ examples
# instead:
#
# $$
# g_{\mathcal B} = \frac1B \sum_{i \in \mathcal B} \nabla \ell_i(\theta).
# $$
#
# With $\mathcal B$ drawn at random, $g_{\mathcal B}$ is an **unbiased** estimate: $\mathbb E[g_{\mathcal B}] = g$.
# Its noise is measured by the covariance of the per-example gradients,
# $\Sigma = \frac1N \sum_i (\nabla\ell_i - g)(\nabla\ell_i - g)^\top$, and for a batch of $B$ *distinct* examples
# (what a shuffled `DataLoader` gives),
#
# $$
# V(B) = \mathbb E\,\lVert g_{\mathcal B} - g \rVert^2 = \frac{\operatorname{tr}\Sigma}{B}\cdot\frac{N-B}{N-1}.
# $$
#
# The second factor is the finite-population correction: it is about 1 while $B \ll N$, and it makes the noise vanish
# at $B = N$ (full-batch gradient descent). Drawing *with* replacement would give $\operatorname{tr}\Sigma/B$ exactly.
# Either way the variance falls as $1/B$ and the standard deviation only as $1/\sqrt B$.
#
# To see $\Sigma$ we need all $N$ per-example gradients. For a network made of `nn.Linear` layers they come from a
# single backward pass. A layer $z = a W^\top + b$ receives from example $i$ the gradient $\delta_i a_i^\top$ for $W$
# and $\delta_i$ for $b$, where $a_i$ is the layer's input and $\delta_i = \partial \ell_i / \partial z_i$ its output
# gradient. With a *summed* loss, row $i$ of $\partial L / \partial z$ is exactly $\delta_i$, so a forward hook on
# each `nn.Linear` and one `torch.autograd.grad` call give everything. (`torch.func.vmap` over `torch.func.grad`
# does this for most models, BatchNorm in training mode aside, at the price of a slower first call.) The mean of the
# per-example gradients must equal what `loss.backward()` gives for the mean loss of the whole set; that is the
# whole idea of a batch:

# %%
x_train, y_train, x_val, y_val = (t.to(device) for t in digits_split(seed=0))
N = len(x_train)
seed_everything(0)
model = make_mlp(64, 10, width=64, depth=2).to(device)


def per_example_gradients(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N, P): row i is the gradient of example i's cross-entropy, in the order of model.parameters().

    For a Sequential of nn.Linear layers and activations (each example's output depends on that example only)."""
    inputs, outputs = [], []

    def keep(layer, args, z):
        inputs.append(args[0].detach())
        outputs.append(z)

    hooks = [m.register_forward_hook(keep) for m in model if isinstance(m, nn.Linear)]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    deltas = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), outputs)
    parts = []
    for a, d in zip(inputs, deltas):  # weight (out, in), then bias (out,): the order of model.parameters()
        parts += [(d[:, :, None] * a[:, None, :]).reshape(len(x), -1), d]
    return torch.cat(parts, dim=1)


G = per_example_gradients(model, x_train, y_train)
model.zero_grad()
F.cross_entropy(model(x_train), y_train).backward()
autograd_g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
print(f"per-example gradients: {tuple(G.shape)}  (N examples × P parameters)")
print(f"max |mean of per-example gradients - loss.backward() gradient| = {(G.mean(0) - autograd_g).abs().max():.1e}")

g_full = G.mean(0)
trace_sigma = ((G - g_full) ** 2).sum(1).mean().item()
print(f"tr Σ = {trace_sigma:.3f},  |g|² = {g_full.pow(2).sum().item():.4f}")
for B in (1, 32, 1024):
    v = trace_sigma / B * (N - B) / (N - 1)
    print(f"B = {B:4d}: V(B) = {v:.4f}, noise std {math.sqrt(v):.3f}")

# %% [markdown]
# At initialisation the noise of a single example's gradient ($\sqrt{\operatorname{tr}\Sigma} \approx 2.5$) is
# about eight times the size of the true gradient ($|g| \approx 0.3$). Averaging 32 examples cuts the variance by
# about 32, but the standard deviation only by $\sqrt{32} \approx 5.7$.
#
# ## Exercise 1 · measure the gradient noise (graded)
#
# The formula needs every per-example gradient, which is expensive for a large model. Sampling is what you can always
# do. Write `gradient_variance(model, data, batch_size, n, loss_fn=F.cross_entropy, generator=None)`, which estimates
# $V(B) = \mathbb E\lVert g_{\mathcal B} - g\rVert^2$:
#
# - `data` is a pair `(x, y)` of $N$ examples, and `loss_fn(model(x), y)` is the **mean** loss over the rows it gets;
# - compute the full gradient $g$ once, from all $N$ examples in one batch;
# - draw `n` mini-batches, each of `batch_size` **distinct** examples chosen uniformly at random (as a shuffled
#   `DataLoader` would), each draw independent of the others; use `generator` for the random numbers
#   (e.g. `torch.randperm(N, generator=generator)`), so that the same seed gives the same answer;
# - return the mean over the `n` draws of $\lVert g_{\mathcal B} - g\rVert^2$, summed over every entry of every
#   trainable parameter (those with `requires_grad`), as a **Python float**;
# - raise `ValueError` unless $1 \le$ `batch_size` $\le N$ and `n` $\ge 1$;
# - leave the parameters unchanged (what you leave in `.grad` does not matter).
#
# `torch.autograd.grad(loss, params)` returns the gradients without touching `.grad`; `loss.backward()` with a
# `zero_grad()` before each draw works too.

# %% nbgrader={"grade": false, "grade_id": "gradient_variance", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_variance(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch_size: int, n: int,
                      loss_fn=F.cross_entropy, generator: torch.Generator | None = None) -> float:
    """Estimate E|g_B - g|^2 from n random mini-batches of batch_size distinct examples (g: the full gradient)."""
    ### BEGIN SOLUTION
    x, y = data
    n_examples = len(x)
    if not 1 <= batch_size <= n_examples:
        raise ValueError(f"batch_size must be between 1 and the number of examples ({n_examples}), got {batch_size}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    params = [p for p in model.parameters() if p.requires_grad]

    def flat_gradient(xb, yb):
        grads = torch.autograd.grad(loss_fn(model(xb), yb), params)
        return torch.cat([g.reshape(-1) for g in grads])

    full = flat_gradient(x, y)
    total = 0.0
    for _ in range(n):
        idx = torch.randperm(n_examples, generator=generator)[:batch_size]
        total += (flat_gradient(x[idx], y[idx]) - full).pow(2).sum().item()
    return total / n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gradient_variance_basics", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# A Python float; zero when every batch is the whole data set; ValueError for an impossible batch size or n;
# the same generator seed gives the same estimate; the parameters are left unchanged.
torch.manual_seed(0)
_net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
_x = torch.randn(30, 4, dtype=torch.float64)
_y = torch.randint(0, 3, (30,))
_before = copy.deepcopy(_net.state_dict())
_v = gradient_variance(_net, (_x, _y), 10, 20, generator=torch.Generator().manual_seed(1))
assert_python_float(_v, what="gradient_variance(...)")
assert _v > 0, "a batch of 10 out of 30 examples has a noisy gradient: the estimate should be positive"
assert all(torch.equal(_before[k], v) for k, v in _net.state_dict().items()), "gradient_variance changed the parameters"
assert_between(gradient_variance(_net, (_x, _y), 30, 5), 0.0, 1e-20,
               what="the estimate when every batch is the whole data set (the batch gradient is then the full gradient)")
assert _v == gradient_variance(_net, (_x, _y), 10, 20, generator=torch.Generator().manual_seed(1)), \
    "the same generator seed must give the same estimate: draw the batches with `generator`"
assert_raises(ValueError, gradient_variance, _net, (_x, _y), 0, 5, what="batch_size=0")
assert_raises(ValueError, gradient_variance, _net, (_x, _y), 31, 5, what="batch_size larger than the data set")
assert_raises(ValueError, gradient_variance, _net, (_x, _y), 5, 0, what="n=0")
### BEGIN HIDDEN TESTS
assert gradient_variance(_net, (_x, _y), 10, 20, generator=torch.Generator().manual_seed(2)) != _v, \
    "two different generator seeds gave exactly the same estimate: each draw should pick a fresh random batch"
assert_raises(ValueError, gradient_variance, _net, (_x, _y), -1, 5, what="a negative batch_size")
# frozen parameters are not part of the gradient: freezing all but the last bias leaves only that bias's noise
_frozen = copy.deepcopy(_net)
for _p in list(_frozen.parameters())[:-1]:
    _p.requires_grad_(False)
_per = torch.stack([torch.autograd.grad(F.cross_entropy(_frozen(_x[_i:_i + 1]), _y[_i:_i + 1]), [_frozen[2].bias])[0]
                    for _i in range(30)])
_dist = ((_per - _per.mean(0)) ** 2).sum(1)  # |g_i - g|² of each example: a batch of one draws one of them
_n = 400
_vf = gradient_variance(_frozen, (_x, _y), 1, _n, generator=torch.Generator().manual_seed(3))
_tol = 1.15 * 5.3 * _dist.std(unbiased=False).item() / math.sqrt(_n)  # 5.3 standard errors, with a margin for skew
assert_between(_vf, _dist.mean().item() - _tol, _dist.mean().item() + _tol,
               what="the estimate for a model whose only trainable parameter is the last bias "
                    "(only parameters with requires_grad count)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_gradient_variance_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The estimate agrees with tr(Σ)/B · (N - B)/(N - 1), computed from every per-example gradient, within 5.3 standard
# errors (a correct answer fails less than once in a million runs).


def _per_example(net, x, y, loss_fn):
    params = [p for p in net.parameters() if p.requires_grad]
    rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss_fn(net(x[i:i + 1]), y[i:i + 1]), params)])
            for i in range(len(x))]
    return torch.stack(rows)


def _expected_and_spread(G, B, draws=20_000, seed=0):
    """tr(Σ)/B·(N-B)/(N-1), and the standard deviation of |g_B - g|² for one random batch (by simulation)."""
    n_ex = len(G)
    g = G.mean(0)
    expected = ((G - g) ** 2).sum(1).mean().item() / B * (n_ex - B) / (n_ex - 1)
    idx = torch.rand(draws, n_ex, generator=torch.Generator().manual_seed(seed)).argsort(dim=1)[:, :B]
    select = torch.zeros(draws, n_ex, dtype=G.dtype).scatter_(1, idx, 1.0 / B)
    return expected, ((select @ G - g) ** 2).sum(1).std().item()


def _check_estimate(net, x, y, B, n, loss_fn, seed, what):
    expected, spread = _expected_and_spread(_per_example(net, x, y, loss_fn), B)
    got = gradient_variance(net, (x, y), B, n, loss_fn=loss_fn, generator=torch.Generator().manual_seed(seed))
    # the mean of n draws has standard error spread / sqrt(n); 5.3 of them, times 1.15 for the skew of a sum of
    # squared distances and the simulation's own error in `spread`
    tol = 1.15 * 5.3 * spread / math.sqrt(n)
    assert_between(got, expected - tol, expected + tol, what=what)


torch.manual_seed(0)
_net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
with torch.no_grad():
    _net[2].bias.copy_(torch.tensor([2.0, 0.0, -1.0], dtype=torch.float64))  # far from the optimum: a clear mean gradient
_x = torch.randn(40, 4, dtype=torch.float64)
_y = torch.randint(0, 3, (40,))
_check_estimate(_net, _x, _y, 8, 800, F.cross_entropy, seed=4,
                what="gradient_variance with batches of 8 out of 40 (expected tr Σ / B · (N - B) / (N - 1))")
### BEGIN HIDDEN TESTS
# a batch of more than half the data: drawing with replacement, or not centring on the full gradient, shows here
_check_estimate(_net, _x, _y, 25, 800, F.cross_entropy, seed=5,
                what="the estimate for batches of more than half the data set (are the examples of a batch distinct?)")
# another model, a regression loss, float32
torch.manual_seed(7)
_reg = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
_xr = torch.randn(36, 3)
_yr = torch.randn(36, 2) + 2.0
_check_estimate(_reg, _xr, _yr, 12, 800, F.mse_loss, seed=8,
                what="the estimate for a float32 regression network with F.mse_loss as loss_fn")
# many calls with n = 2 each: their mean must still be V(B) (centring on the two draws' own mean, divided by n, is biased low)
_expected, _ = _expected_and_spread(_per_example(_net, _x, _y, F.cross_entropy), 10)
_gen = torch.Generator().manual_seed(9)
_vals = torch.tensor([gradient_variance(_net, (_x, _y), 10, 2, generator=_gen) for _ in range(200)], dtype=torch.float64)
_tol = 1.15 * 5.3 * _vals.std().item() / math.sqrt(len(_vals))  # 5.3 standard errors of their mean, margin for skew
assert_between(_vals.mean().item(), _expected - _tol, _expected + _tol,
               what="the average of many estimates made with only two batches each (each one should be unbiased)")
### END HIDDEN TESTS

# %% [markdown]
# Now measure $V(B)$ on the digits network for batch sizes from 1 to 1,024 with your function (30 batches each), and
# compare it with the formula:

# %%
batch_sizes = [2**k for k in range(11)]
gen = torch.Generator().manual_seed(0)
measured = [gradient_variance(model, (x_train, y_train), B, 30, generator=gen) for B in batch_sizes]
formula = [trace_sigma / B * (N - B) / (N - 1) for B in batch_sizes]

fig, ax = plt.subplots(figsize=(5.5, 3.4), layout="constrained")
ax.loglog(batch_sizes, formula, "k-", lw=1, label=r"tr$\Sigma$/B · (N−B)/(N−1)")
ax.loglog(batch_sizes, [trace_sigma / B for B in batch_sizes], "k:", lw=1, label=r"tr$\Sigma$/B (no correction)")
ax.loglog(batch_sizes, measured, "o", color="C1", label="your gradient_variance (30 batches)")
ax.axhline(g_full.pow(2).sum().item(), color="C2", ls="--", lw=1, label="|g|², the signal")
ax.set(xlabel="batch size B", ylabel=r"E|g$_B$ − g|²", title="Gradient noise falls as 1/B")
ax.grid(alpha=0.3, which="both")
ax.legend(frameon=False, fontsize=8)
plt.show()
for B, m, f in zip(batch_sizes, measured, formula):
    if B in (1, 32, 1024):
        print(f"B = {B:4d}: measured {m:.4f}   formula {f:.4f}")

# %% [markdown]
# A slope of $-1$ on log-log axes: each doubling of the batch halves the variance. At $B = 1{,}024$, out of $1{,}438$
# examples, the points fall below the plain $1/B$ line: the batch is most of the data set, and the correction factor
# is $414/1437 \approx 0.29$.
#
# ## 2. Diminishing returns: the gradient noise scale
#
# The dashed line is the squared size of the *signal*, $|g|^2$. Where the noise $\operatorname{tr}\Sigma/B$ drops
# below it, a bigger batch no longer buys a much better direction. The crossing point,
#
# $$
# B_{\text{noise}} = \frac{\operatorname{tr}\Sigma}{|g|^2},
# $$
#
# is the *simple gradient noise scale* of McCandlish et al. (2018). Their model predicts that reaching a given loss
# takes $S = S_{\min}(1 + B_{\text{crit}}/B)$ optimizer steps and $E = E_{\min}(1 + B/B_{\text{crit}})$ examples, and
# the *critical batch size* $B_{\text{crit}}$ is roughly $B_{\text{noise}}$ (they use it as a cheap estimate):
#
# - $B \ll B_{\text{crit}}$: doubling $B$ nearly halves the number of steps, for the same number of examples. On
#   parallel hardware that is almost free speed.
# - $B \gg B_{\text{crit}}$: the steps barely fall, while each step costs twice the compute. Doubling $B$ halves
#   the variance but divides the noise's standard deviation only by $\sqrt2 \approx 1.41$, and the noise was no
#   longer what limited progress anyway.
#
# The noise scale is not a constant. As the loss falls, the true gradient shrinks faster than the per-example noise,
# so $B_{\text{noise}}$ grows during training: larger batches become useful later in a run. Measured on the digits
# network, before and after 300 steps of SGD:

# %%
def noise_scale(model: nn.Module) -> float:
    G = per_example_gradients(model, x_train, y_train)
    g = G.mean(0)
    return (((G - g) ** 2).sum(1).mean() / g.pow(2).sum()).item()


trained = copy.deepcopy(model)
opt = torch.optim.SGD(trained.parameters(), lr=0.1)
gen = torch.Generator().manual_seed(0)
for _ in range(300):
    idx = torch.randperm(N, generator=gen)[:32]
    loss = F.cross_entropy(trained(x_train[idx]), y_train[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    losses = [F.cross_entropy(m(x_train), y_train).item() for m in (model, trained)]
print(f"at initialisation: training loss {losses[0]:.2f}, B_noise ≈ {trace_sigma / g_full.pow(2).sum().item():.0f}")
print(f"after 300 steps:   training loss {losses[1]:.2f}, B_noise ≈ {noise_scale(trained):.0f}")

# %% [markdown]
# At initialisation the noise of a batch of about 70 is already as small as the signal (that is where the dashed
# line crossed the noise in the plot above); after 300 steps the noise scale has grown to over a thousand, most of this small
# training set. McCandlish et al. found the same growth on every task they measured, and largest useful batches that
# range from tens of thousands of images for ImageNet to millions of frames for the reinforcement-learning agents that
# play Dota 2.
#
# ## 3. The linear scaling rule, and warmup
#
# Compare $k$ SGD steps of learning rate $\eta$ on $k$ batches of size $B$ with **one** step of learning rate
# $k\eta$ on their union, a batch of $kB$:
#
# $$
# \theta_{t+k} = \theta_t - \eta \sum_{j=0}^{k-1} g_{\mathcal B_j}(\theta_{t+j})
# \qquad\text{versus}\qquad
# \theta_{t+1}' = \theta_t - k\eta \cdot \frac1k \sum_{j=0}^{k-1} g_{\mathcal B_j}(\theta_t).
# $$
#
# They agree when the gradient barely changes over the $k$ small steps, $g(\theta_{t+j}) \approx g(\theta_t)$. Hence
# the **linear scaling rule** (Goyal et al., 2017): *when the batch grows $k$ times, multiply the learning rate by
# $k$.* From $10^{-3}$ at batch 256 it gives $4\times10^{-3}$ at batch 1,024. Another way to see it: over a fixed
# number of examples $E$, SGD takes $E/B$ steps, so its drift is proportional to $E\,\eta/B$ and its accumulated
# noise variance to $E\,\eta^2/B^2$ (each step's noise has variance $\propto \eta^2/B$). Both depend on $\eta/B$
# only, sometimes called the *noise temperature*, and the rule keeps it fixed.
#
# Check the premise with `torch.optim.SGD`: 8 steps on batches of 32 against one step on the 256 examples with 8
# times the learning rate.

# %%
seed_everything(0)
net = make_mlp(64, 10, width=64, depth=2).double().to(device)
xb, yb = x_train[:256].double(), y_train[:256]
for lr in (0.01, 0.3):
    small, big = copy.deepcopy(net), copy.deepcopy(net)
    opt_small, opt_big = torch.optim.SGD(small.parameters(), lr=lr), torch.optim.SGD(big.parameters(), lr=8 * lr)
    for j in range(8):
        opt_small.zero_grad()
        F.cross_entropy(small(xb[32 * j:32 * (j + 1)]), yb[32 * j:32 * (j + 1)]).backward()
        opt_small.step()
    opt_big.zero_grad()
    F.cross_entropy(big(xb), yb).backward()
    opt_big.step()
    start, moved_small, moved_big = (torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in (net, small, big))
    gap = (moved_small - moved_big).norm() / (moved_small - start).norm()
    print(f"lr {lr}: 8 small steps and 1 big step differ by {gap:.1%} of the distance moved")

# %% [markdown]
# With a small learning rate the two updates are nearly the same; with a large one the gradient changes during the
# eight small steps and the approximation weakens. That gives the rule's two limits:
#
# - **Early in training** the network changes fast, so the big early steps are the worst approximation, and they can
#   throw training off for good. Goyal et al. therefore **warm up**: the learning rate ramps linearly from the
#   small-batch value to $k\eta$ over the first epochs (5 epochs in their ImageNet runs). With it they trained a
#   ResNet-50 at batch 8,192 to the accuracy of batch 256.
# - **The stability limit.** Gradient descent on a direction of curvature $h$ diverges once $\eta h > 2$. Scaling
#   $\eta$ with $B$ eventually crosses that line, whatever the warmup. Past the critical batch size (about
#   $B_{\text{noise}}$) the rule stops working anyway: the noise it was trading against is gone.
#
# For **Adam** the update size does not grow with the gradient's scale, and the usual starting point is the
# **square-root rule**, $\eta \propto \sqrt B$ (Malladi et al., 2022, derive it from a stochastic-differential-equation
# model of Adam). For very large batches, **LARS** (SGD) and **LAMB** (Adam) give each layer its own step size,
# proportional to the ratio of the layer's weight norm to the norm of its gradient (LARS) or of its Adam update
# (LAMB); LAMB trained BERT at batch sizes of 32k and more.
#
# On the digits: plain SGD at batch 16 with $\eta = 0.05$, then batches 4, 16 and 64 times larger with $\eta$ scaled
# to match, each run seeing the same 6,144 examples (about 4.3 epochs):

# %%
sgd_digits = digits_mlp_task(optimizer="sgd")
EXAMPLES = 6144
scaled_runs = {}
for B in (16, 64, 256, 1024):
    steps = EXAMPLES // B
    scaled_runs[B] = run({"batch_size": B, "lr": 0.05 * B / 16, "steps": steps, "eval_every": max(1, steps // 16)},
                         sgd_digits)
unscaled_256 = run({"batch_size": 256, "lr": 0.05, "steps": EXAMPLES // 256, "eval_every": 2}, sgd_digits)

fig, (ax_steps, ax_examples) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
for B, hist in scaled_runs.items():
    label = f"B = {B}, lr = {0.05 * B / 16:g}"
    ax_steps.plot(hist.val_steps, hist.val_loss, marker=".", label=label)
    ax_examples.plot([s * B for s in hist.val_steps], hist.val_loss, marker=".", label=label)
ax_examples.plot([s * 256 for s in unscaled_256.val_steps], unscaled_256.val_loss, "k--", lw=1,
                 label="B = 256, lr = 0.05 (not scaled)")
ax_steps.set(xscale="log", xlabel="optimizer steps (log scale)", ylabel="validation loss (nats)",
             title="Per step, big batches are faster...")
ax_examples.set(xlabel="examples seen", title="...per example, scaled runs match, until they don't")
for ax in (ax_steps, ax_examples):
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
plt.show()
for B, hist in scaled_runs.items():
    print(f"B = {B:4d}, lr = {0.05 * B / 16:5.2f}: {EXAMPLES // B:4d} steps, final validation loss {hist.final_val_loss:.3f}")
print(f"B =  256, lr =  0.05 (not scaled): final validation loss {unscaled_256.final_val_loss:.3f}")

# %% [markdown]
# Batches 16, 64 and 256 with scaled learning rates trace almost the same curve against examples seen, and the larger
# batches get there in 4 and 16 times fewer steps. Without scaling, batch 256 takes 16 times fewer steps of the same
# size and is far behind. At batch 1,024 the scaled rate, 3.2, is past what this network tolerates: the loss blows up
# within a few steps. Batch 1,024 is most of the 1,438 training images, and far above the noise scale measured at
# initialisation.
#
# ## 4. Sharp and flat minima: the "large-batch problem"
#
# Keskar et al. (2017) trained networks with small batches (256) and large ones (about 10 % of the data set) to the
# same training loss. The large-batch runs generalised worse, and they ended in **sharper** minima, where the loss
# rises quickly as the weights move. Their explanation:
#
# - The test loss surface is roughly the training surface slightly shifted (the test set is a different sample).
#   At a flat minimum a small shift costs little; at a sharp one it costs a lot.
# - Small-batch noise keeps kicking the weights around. A narrow basin cannot hold them, a wide one can, so small
#   batches tend to settle in flat regions, and the noise acts as a regulariser. With large batches the noise is gone.
#
# A one-dimensional picture of the first point: two minima of the same depth, one narrow and one wide, and the same
# curve shifted by 0.15 standing in for the test loss.

# %%
theta = torch.linspace(-2.0, 2.0, 801)


def two_minima(t: torch.Tensor) -> torch.Tensor:
    """Loss about 0 at t = -1 (sharp, width 0.1) and at t = +1 (flat, width 0.5), rising to almost 1 between them."""
    return 1 - torch.exp(-(t + 1) ** 2 / (2 * 0.1**2)) - torch.exp(-(t - 1) ** 2 / (2 * 0.5**2))


fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.plot(theta, two_minima(theta), label="training loss")
ax.plot(theta, two_minima(theta - 0.15), "--", label="test loss (shifted by 0.15)")
ax.set(xlabel="weight", ylabel="loss", title="The same shift costs a lot at a sharp minimum")
ax.grid(alpha=0.3)
ax.legend(frameon=False, fontsize=8)
plt.show()
for name, t in (("sharp", -1.0), ("flat", 1.0)):
    t = torch.tensor(t)
    print(f"{name} minimum: training loss {two_minima(t):.3f}, test loss {two_minima(t - 0.15):.3f}")

# %% [markdown]
# Treat the argument as a tendency with a plausible mechanism, not a law:
#
# - Much of the gap comes from taking fewer steps in the same number of epochs. Hoffer et al. (2017) closed most of
#   it by scaling the learning rate, training for more steps and computing BatchNorm statistics over small slices of
#   the batch ("train longer, generalize better"). Goyal et al. matched small-batch ImageNet accuracy at batch 8,192
#   with linear scaling and warmup.
# - Sharpness depends on how the weights are parametrised: Dinh et al. (2017) showed that rescaling the layers of a
#   ReLU network can make a minimum as sharp as you like without changing the function it computes.
#
# On the digits, the scaled runs of section 3 with batches 16 to 256 end at the same validation loss, about 0.23.
# The runs that end worse are the unscaled one and the one past the point where scaling breaks: failures of
# optimisation, not a generalisation gap at equal training loss.
#
# ## 5. Gradient accumulation: a big batch in small pieces
#
# When the batch you want does not fit in memory, split it into $K$ **micro-batches**, run forward and backward on
# each in turn, let `.grad` add the gradients up, and step once. The gradient is exact if each micro-batch's mean loss
# is weighted correctly. For a batch of $N$ examples in micro-batches of sizes $n_1, \dots, n_K$ with mean losses
# $L_k$,
#
# $$
# L = \frac1N \sum_{i=1}^N \ell_i = \sum_{k=1}^K \frac{n_k}{N}\, L_k
# \qquad\Longrightarrow\qquad
# \nabla L = \sum_{k=1}^K \nabla\!\left(\frac{n_k}{N} L_k\right),
# $$
#
# and the sum on the right is exactly what $K$ calls of `backward()` accumulate in `.grad`. With equal micro-batches
# $n_k/N = 1/K$, the familiar "divide each loss by $K$". When the last micro-batch is smaller (1,000 examples in
# micro-batches of 64 leave 40 at the end), $1/K$ over-weights it; the factor must be $n_k/N$. In a loop:
#
# ```python
# for k, (x, y) in enumerate(loader):                       # micro-batches of 32
#     loss = F.cross_entropy(model(x), y) / accum_steps     # equal sizes: n_k / N = 1 / K
#     loss.backward()                                       # adds into .grad
#     if (k + 1) % accum_steps == 0:                        # accum_steps = 32: an effective batch of 1,024
#         torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)   # on the whole accumulated gradient
#         optimizer.step()
#         scheduler.step()                                  # once per optimizer step, not per micro-batch
#         optimizer.zero_grad()
# ```
#
# The point is **memory**. The activations kept for the backward pass grow with the batch; the weights, gradients and
# optimizer state do not. A hook on saved tensors (`torch.autograd.graph.saved_tensors_hooks`) counts the bytes
# autograd keeps, on any device (a tensor saved twice, like a ReLU output the next layer also needs, counts once):

# %%
def saved_bytes(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes that autograd saves for the backward pass of one forward on (x, y), each tensor counted once."""
    saved = {}  # data pointer -> bytes: views of one tensor (a weight and its transpose) share a pointer

    def pack(t):
        saved[t.data_ptr()] = max(saved.get(t.data_ptr(), 0), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    return sum(saved.values())


wide = make_mlp(64, 10, width=512, depth=3).to(device)
fixed = saved_bytes(wide, x_train[:1], y_train[:1])  # one row: almost only the weights, which autograd saves too
for rows in (1024, 128):
    saved = saved_bytes(wide, x_train[:rows], y_train[:rows])
    print(f"forward on {rows:4d} rows: autograd saves {saved / 2**20:5.2f} MiB, of which "
          f"{(saved - fixed) / 2**20:5.2f} MiB are activations that grow with the batch")
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
    F.cross_entropy(wide(x_train[:1024]), y_train[:1024]).backward()
    print(f"measured peak on the GPU for 1,024 rows: {torch.cuda.max_memory_allocated() / 2**20:.1f} MiB")

# %% [markdown]
# Eight micro-batches of 128 keep an eighth of the activations alive at any time; the weights' share is the same for
# any batch (and the gradients and optimizer state come on top, also independent of the batch). The cost is time:
# the micro-batches run one after the other, so accumulation is no faster than running them as separate steps.
#
# ## Exercise 2 · exact gradient accumulation (graded)
#
# Write `accumulated_gradients(model, loss_fn, batches)`:
#
# - `batches` is a non-empty **list** of micro-batches `(x, y)`; their sizes `len(x)` may differ (often only the last
#   one is smaller); `loss_fn(model(x), y)` is the **mean** loss over a micro-batch;
# - on return, every trainable parameter's `.grad` holds the gradient of the **mean loss over all the examples of all
#   the micro-batches**: what a single `backward()` on the concatenated batch would give. Whatever was in `.grad`
#   before is discarded;
# - process one micro-batch at a time: its forward and its backward, before the next micro-batch's forward. The model
#   must never see more than one micro-batch at once, nor hold the graphs of two (that is the memory the technique
#   saves). The tests watch for both;
# - return the mean loss over all the examples as a **Python float**; do not change the parameters (no optimizer
#   step here); raise `ValueError` for an empty list.
#
# The tests compare with a real big batch in float64, to round-off precision.

# %% nbgrader={"grade": false, "grade_id": "accumulated_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
def accumulated_gradients(model: nn.Module, loss_fn, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Leave in .grad the gradient of the mean loss over every example of `batches`; return that mean loss."""
    ### BEGIN SOLUTION
    if len(batches) == 0:
        raise ValueError("batches is empty: there is nothing to accumulate")
    total = sum(len(x) for x, _ in batches)
    model.zero_grad(set_to_none=True)
    mean_loss = 0.0
    for x, y in batches:
        loss = loss_fn(model(x), y) * (len(x) / total)
        loss.backward()
        mean_loss += loss.item()
    return mean_loss
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_accumulated_gradients_exact", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Micro-batches of 16, 16, 16 and 5 give the big-batch gradient and mean loss to float64 round-off, stale values in
# .grad are discarded, the model sees one micro-batch at a time, and the result is a Python float.


def _watch(net):
    """Record the rows of every forward pass and the largest number of forward graphs alive at once."""
    log = {"rows": [], "alive": 0, "most_alive": 0}

    def released(grad):
        log["alive"] -= 1

    def hook(module, inputs, output):
        log["rows"].append(len(inputs[0]))
        if output.requires_grad:
            log["alive"] += 1
            log["most_alive"] = max(log["most_alive"], log["alive"])
            output.register_hook(released)

    return log, net.register_forward_hook(hook)


def _big_batch(net, loss_fn, batches):
    ref = copy.deepcopy(net)
    ref.zero_grad(set_to_none=True)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    loss = loss_fn(ref(x), y)
    loss.backward()
    return ref, loss.item()


torch.manual_seed(0)
_net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
_x = torch.randn(53, 5, dtype=torch.float64)
_y = torch.randint(0, 3, (53,))
_batches = [(_x[i:i + 16], _y[i:i + 16]) for i in range(0, 53, 16)]  # sizes 16, 16, 16, 5
_ref, _ref_loss = _big_batch(_net, F.cross_entropy, _batches)
for _p in _net.parameters():
    _p.grad = torch.ones_like(_p)  # stale gradients from an earlier step
_log, _handle = _watch(_net)
try:
    _loss = accumulated_gradients(_net, F.cross_entropy, _batches)
finally:
    _handle.remove()
assert_python_float(_loss, what="accumulated_gradients(...)")
for (_name, _p), _q in zip(_net.named_parameters(), _ref.parameters()):
    assert _p.grad is not None, f"{_name}.grad is None after accumulated_gradients"
    assert_close(_p.grad, _q.grad, rtol=1e-10, atol=1e-12,
                 what=f"{_name}.grad (expected the gradient of the mean loss over all 53 examples, one big batch)")
assert_close(_loss, _ref_loss, rtol=1e-12, atol=1e-12, what="the returned loss (expected the mean over all 53 examples)")
assert max(_log["rows"]) <= 16, \
    "the model saw more rows than a micro-batch holds in one forward pass: run it on one micro-batch at a time"
assert _log["most_alive"] <= 1, \
    "the graphs of two micro-batches were alive at once: call backward on each micro-batch before the next forward"
### BEGIN HIDDEN TESTS
# micro-batches of varied sizes, an MSE loss with 2-D targets, a deeper network
torch.manual_seed(1)
_reg = nn.Sequential(nn.Linear(4, 7), nn.ReLU(), nn.Linear(7, 7), nn.Tanh(), nn.Linear(7, 2)).double()
_xr = torch.randn(22, 4, dtype=torch.float64)
_yr = torch.randn(22, 2, dtype=torch.float64)
_cuts = [0, 7, 10, 21, 22]
_mb = [(_xr[a:b], _yr[a:b]) for a, b in zip(_cuts, _cuts[1:])]
_ref, _ref_loss = _big_batch(_reg, F.mse_loss, _mb)
_log, _handle = _watch(_reg)
try:
    _loss = accumulated_gradients(_reg, F.mse_loss, _mb)
finally:
    _handle.remove()
for _p, _q in zip(_reg.parameters(), _ref.parameters()):
    assert_close(_p.grad, _q.grad, rtol=1e-10, atol=1e-12,
                 what="the accumulated gradient for micro-batches of different sizes, with F.mse_loss")
assert_close(_loss, _ref_loss, rtol=1e-12, atol=1e-12, what="the mean loss for micro-batches of different sizes")
assert max(_log["rows"]) <= max(len(b[0]) for b in _mb), "the model saw more than one micro-batch in a forward pass"
assert _log["most_alive"] <= 1, "two micro-batch graphs were alive at once (backward each one before the next forward)"
# equal sizes, and a single micro-batch
for _k in (3, 1):
    _mb = [(_xr[i * (21 // _k):(i + 1) * (21 // _k)], _yr[i * (21 // _k):(i + 1) * (21 // _k)]) for i in range(_k)]
    _ref, _ref_loss = _big_batch(_reg, F.mse_loss, _mb)
    _loss = accumulated_gradients(_reg, F.mse_loss, _mb)
    for _p, _q in zip(_reg.parameters(), _ref.parameters()):
        assert_close(_p.grad, _q.grad, rtol=1e-10, atol=1e-12,
                     what="the accumulated gradient for micro-batches of equal size (or a single one)")
    assert_close(_loss, _ref_loss, rtol=1e-12, atol=1e-12, what="the mean loss for equal micro-batches")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_accumulated_gradients_details", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The parameters are not changed, an empty list raises ValueError, and float32 works too.


def _big_batch(net, loss_fn, batches):
    ref = copy.deepcopy(net)
    ref.zero_grad(set_to_none=True)
    loss = loss_fn(ref(torch.cat([b[0] for b in batches])), torch.cat([b[1] for b in batches]))
    loss.backward()
    return ref, loss.item()


torch.manual_seed(2)
_net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))
_x = torch.randn(30, 6)
_y = torch.randint(0, 4, (30,))
_before = copy.deepcopy(_net.state_dict())
_batches = [(_x[:12], _y[:12]), (_x[12:24], _y[12:24]), (_x[24:], _y[24:])]
_loss = accumulated_gradients(_net, F.cross_entropy, _batches)
assert all(torch.equal(_before[k], v) for k, v in _net.state_dict().items()), \
    "accumulated_gradients changed the parameters: it should only fill .grad"
_ref, _ref_loss = _big_batch(_net, F.cross_entropy, _batches)
for _p, _q in zip(_net.parameters(), _ref.parameters()):
    assert_close(_p.grad, _q.grad, rtol=1e-5, atol=1e-7, what="the accumulated gradient of a float32 network")
assert_raises(ValueError, accumulated_gradients, _net, F.cross_entropy, [], what="accumulated_gradients with no batches")
### BEGIN HIDDEN TESTS
# a frozen parameter keeps no gradient, the others are exact; a loss with label smoothing
_frozen = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4)).double()
_frozen[0].bias.requires_grad_(False)
_xd, _yd = _x.double(), _y
_mb = [(_xd[:13], _yd[:13]), (_xd[13:26], _yd[13:26]), (_xd[26:], _yd[26:])]
_smooth = lambda out, target: F.cross_entropy(out, target, label_smoothing=0.1)  # noqa: E731
_ref, _ref_loss = _big_batch(_frozen, _smooth, _mb)
for _p in _frozen.parameters():
    if _p.requires_grad:
        _p.grad = torch.full_like(_p, 5.0)  # stale
_loss = accumulated_gradients(_frozen, _smooth, _mb)
assert _frozen[0].bias.grad is None, "a parameter with requires_grad=False should keep no gradient"
for _p, _q in zip(_frozen.parameters(), _ref.parameters()):
    if _p.requires_grad:
        assert_close(_p.grad, _q.grad, rtol=1e-10, atol=1e-12,
                     what="the accumulated gradient with a frozen parameter and label smoothing")
assert_close(_loss, _ref_loss, rtol=1e-12, atol=1e-12, what="the mean loss with label smoothing")
assert_python_float(_loss, what="the returned loss")
### END HIDDEN TESTS

# %% [markdown]
# In a training loop, accumulation must give the same *trajectory* as the big batch, not just the same first
# gradient. Below, one epoch on the digits in float64: big batches of 144 against groups of three micro-batches of 48,
# using your function. The epoch's last group is $48 + 48 + 46$, because $1{,}438 = 9 \cdot 144 + 142$. The second
# accumulated run uses the common shortcut, each micro-batch's loss divided by $K = 3$ whatever its size:

# %%
def one_epoch(accumulate: bool, divide_by_k: bool = False) -> nn.Module:
    seed_everything(0)
    net = make_mlp(64, 10, width=64, depth=2).double().to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    data = TensorDataset(x_train.double(), y_train)
    if not accumulate:
        for x, y in DataLoader(data, batch_size=144):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
        return net
    micro = list(DataLoader(data, batch_size=48))
    for start in range(0, len(micro), 3):
        group = micro[start:start + 3]
        if divide_by_k:
            opt.zero_grad()
            for x, y in group:
                (F.cross_entropy(net(x), y) / 3).backward()
        else:
            accumulated_gradients(net, F.cross_entropy, group)
        opt.step()
    return net


def max_gap(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


big = one_epoch(accumulate=False)
print(f"big batches vs your accumulation:      max |Δweight| = {max_gap(big, one_epoch(True)):.1e}")
print(f"big batches vs 'divide every loss by K': max |Δweight| = {max_gap(big, one_epoch(True, divide_by_k=True)):.1e}")

# %% [markdown]
# Round-off against a visible error. The shortcut is only wrong in the one step with a ragged group, but that is
# enough to make the two runs differ; it happens once every epoch, which weighs most on a small data set with few
# steps per epoch.
#
# **Accumulation reproduces the big batch, noise included.** Its gradient *is* the big-batch gradient, so it gives
# the optimisation behaviour of batch 1,024 (including the large-batch effects of section 4), not the extra noise of
# batch 32. It fixes memory, not generalisation. Where it still differs from a real big batch:
#
# - **BatchNorm** normalises each micro-batch with that micro-batch's statistics, and updates its running averages
#   once per micro-batch. Use GroupNorm or LayerNorm, or accept the difference (topic 06).
# - **Losses whose mean is not per example.** `F.cross_entropy` with `weight=` divides by the sum of the targets'
#   weights, and with `ignore_index` by the number of kept targets; both change from one micro-batch to the next.
#   Use `reduction="sum"` and divide by the total weight (or count) of the whole big batch.
# - **DistributedDataParallel** all-reduces the gradients in every `backward()`. Wrap the first $K-1$ micro-batches in
#   `with model.no_sync():` so that the communication happens once, on the last one.
# - **Logging**: report the weighted sum of the micro-batch losses, which is the big-batch loss, not the last one.
#
# The first point, measured with your function:

# %%
seed_everything(0)
bn_net = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)).double().to(device)
xs, ys = x_train[:96].double(), y_train[:96]
reference = copy.deepcopy(bn_net)
F.cross_entropy(reference(xs), ys).backward()
accumulated_gradients(bn_net, F.cross_entropy, [(xs[:32], ys[:32]), (xs[32:64], ys[32:64]), (xs[64:], ys[64:])])
w, w_ref = bn_net[0].weight.grad, reference[0].weight.grad
print(f"with BatchNorm: relative gap between accumulated and big-batch gradient = {(w - w_ref).norm() / w_ref.norm():.1%}")

# %% [markdown]
# ## 6. Explorer: batch size × learning rate, with linear scaling
#
# Plain SGD on the digits for 150 steps. The left panel shows the loss against optimizer steps (training loss per step,
# validation loss every 10 steps); the right panel the validation loss against the number of training examples seen,
# $\text{steps} \times B$, on a log scale. The learning-rate slider sets the rate **at batch 32**; with *linear
# scaling* on, the run uses $\text{lr} \cdot B/32$ (the status line shows the rate used). The warmup slider ramps the
# rate linearly over the first steps. Earlier runs stay behind, faded.

# %%
BASE_BATCH = 32


def with_linear_scaling(config: dict) -> dict:
    """The config a run uses: with linear_scaling on, lr (meant for batch 32) times batch_size / 32."""
    if config.get("linear_scaling"):
        config = {**config, "lr": float(f"{config['lr'] * config['batch_size'] / BASE_BATCH:.4g}")}
    return config


class BatchSizeExplorer(LossCurveExplorer):
    """The loss-curve explorer with a linear-scaling switch: its config rescales lr by batch_size / 32."""

    def config(self):
        return with_linear_scaling(super().config())

    def extreme_configs(self, limit=64):
        return [with_linear_scaling(c) for c in super().extreme_configs(limit)]


def val_loss_by_examples_seen(history):
    """(examples seen, validation loss) of a run, the start left off the log axis."""
    points = [(s * history.config["batch_size"], v) for s, v in zip(history.val_steps, history.val_loss) if s > 0]
    return [p[0] for p in points], [p[1] for p in points]


batch_task = digits_mlp_task(optimizer="sgd", steps=150, eval_every=10)
batch_task = dataclasses.replace(batch_task, name="digits_mlp_batch_size_32",
                                 defaults={**batch_task.defaults, "linear_scaling": False})
explorer = BatchSizeExplorer(
    batch_task,
    knobs=[Knob.dropdown("batch_size", [8, 16, 32, 64, 128, 256], 32, description="batch size"),
           Knob.log_slider("lr", 1e-3, 1.0, 0.1, description="lr at batch 32"),
           Knob.toggle("linear_scaling", False, description="linear scaling"),
           Knob.int_slider("warmup_steps", 0, 50, 0, step=10, description="warmup steps")],
    extra_panel=CurvePanel(val_loss_by_examples_seen, xlabel="training examples seen (log scale)",
                           ylabel="validation loss", title="against examples seen", logx=True),
    logy=True,
    prompt="At lr 0.1, move the batch size from 32 to 256. Is the validation loss per example seen better or "
           "worse? Then switch linear scaling on.",
)
explorer

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Linear scaling off, lr 0.1. Step the batch size from 8 to 256. Per step (left), do batches above 32 still end
#    lower? Per example seen (right), which curve sits lowest at the same number of examples?
# 2. Turn linear scaling on at batch 128 (lr 0.4 is used), then go back to batch 32. On the right, the two curves
#    nearly coincide where they overlap: the same progress per example, in a quarter of the steps.
# 3. Scaling on, lr 0.3 at batch 32. Step the batch through 64, 128 and 256 (lr 0.6, 1.2, 2.4). Which is the first
#    to fail? Add 50 warmup steps to it: does it train now, or is its rate simply past what this network tolerates?
# 4. Scaling on, lr 0.01: batch 32 barely moves in 150 steps, batch 256 (lr 0.08) gets much further. Compare them
#    on the right, at the same number of examples.

# %% [markdown]
# ## Drills (graded)
#
# 1. `drill_effective_batch`: micro-batches of 64 with 4 accumulation steps give what effective batch size?
# 2. `drill_optimizer_steps`: an epoch of 1,000 micro-batches with 4 accumulation steps: how many times is a
#    per-step scheduler's `scheduler.step()` called in it?
# 3. `drill_linear_lr`: SGD is tuned at $10^{-3}$ for batch 256. What learning rate does the linear scaling rule give
#    at batch 1,024?
# 4. `drill_sqrt_lr`: the same move for Adam with the square-root rule, from $10^{-3}$ at batch 256 to batch 1,024.
# 5. `drill_noise_std_factor`: the batch grows from 64 to 256 (far below the data set's size). By what factor does
#    the standard deviation of the gradient noise change?
# 6. `drill_last_weight`: 1,000 examples are accumulated in micro-batches of 64. By what factor must the *mean* loss
#    of the last micro-batch be multiplied so that the accumulated gradient is the big-batch gradient?

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_effective_batch = 256
drill_optimizer_steps = 250
drill_linear_lr = 4e-3
drill_sqrt_lr = 2e-3
drill_noise_std_factor = 0.5
drill_last_weight = 40 / 1000
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Plausibility only (the values themselves are checked by hidden tests): every answer is a number, the batch and the
# step count are whole numbers, and the factors are positive.
_names = ("drill_effective_batch", "drill_optimizer_steps", "drill_linear_lr", "drill_sqrt_lr",
          "drill_noise_std_factor", "drill_last_weight")
for _name in _names:
    assert _name in globals(), f"{_name} is not defined: fill in the drill cell above and run it"
    _value = globals()[_name]
    assert isinstance(_value, (int, float)) and not isinstance(_value, bool), f"{_name} should be a number"
    assert _value > 0, f"{_name} should be positive"
assert float(drill_effective_batch).is_integer() and float(drill_optimizer_steps).is_integer(), \
    "a batch size and a number of steps are whole numbers"
### BEGIN HIDDEN TESTS
assert abs(drill_effective_batch - 256) < 1e-9, "drill_effective_batch: one optimizer step sees every micro-batch it accumulates"
assert abs(drill_optimizer_steps - 250) < 1e-9, \
    "drill_optimizer_steps: the scheduler steps with the optimizer, once per group of accumulated micro-batches"
assert abs(drill_linear_lr - 4e-3) < 1e-9, "drill_linear_lr: the learning rate grows by the same factor as the batch"
assert abs(drill_sqrt_lr - 2e-3) < 1e-9, "drill_sqrt_lr: the learning rate grows by the square root of the batch factor"
assert abs(drill_noise_std_factor - 0.5) < 1e-9, \
    "drill_noise_std_factor: the variance falls as 1/B, and the standard deviation is its square root"
assert abs(drill_last_weight - 0.04) < 1e-9, \
    "drill_last_weight: the last micro-batch holds what is left after the full ones; its weight is its share of all examples"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A ResNet trains well with SGD (momentum 0.9) at batch 256 and learning rate 0.1 on one GPU. You move to 8
# GPUs with 256 examples each, keep everything else, and the final accuracy drops. What do you change, why does it
# work, and when would it stop working?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The effective batch is now 2,048, eight times larger, so each epoch has eight times fewer steps of the same size:
# the model is simply undertrained per epoch. Apply the linear scaling rule: learning rate $0.1 \times 8 = 0.8$.
# Over $k$ small steps SGD moves by about $\eta$ times the sum of $k$ gradients; one step on the $k$-times larger
# batch moves by $\eta$ times their mean, so the rate must grow $k$ times to cover the same distance per example (it
# keeps the noise temperature $\eta/B$ fixed). Add a gradual warmup, from 0.1 up to 0.8 over the first few epochs
# (Goyal et al. used 5), because early on the weights change fast, the approximation behind the rule fails, and a
# large rate at the start can throw training off for good. Keep the schedule in epochs (or rescale it in steps), and
# use synchronised BatchNorm or accept that BN statistics are still per GPU (256 each, which is fine). It stops
# working past the critical batch size (about the gradient noise scale): the larger batch no longer reduces the
# number of steps needed, and the scaled rate eventually crosses the stability limit $\eta h > 2$ where warmup no
# longer helps. There, LARS-style per-layer rates, longer training, or simply a smaller batch are the options. With
# Adam, start from square-root scaling instead.

# %% [markdown]
# **Q2.** Batch 1,024 does not fit on your GPU, so a colleague runs 8 micro-batches of 128 with gradient accumulation.
# They divide each loss by 8, call `optimizer.zero_grad()` at the start of every micro-batch, and say the small
# micro-batches will add "regularising noise". What is wrong, and what would you watch for?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Calling `zero_grad()` at every micro-batch throws away the first seven gradients: each step then uses only the last
# micro-batch's gradient, divided by 8, which is a batch-128 step at an eighth of the learning rate. `zero_grad()`
# belongs after `optimizer.step()`, once per 8 micro-batches. The claim about noise is also wrong: correct
# accumulation gives exactly the gradient of the mean loss over all 1,024 examples, the same noise as a real batch of
# 1,024, so it fixes memory, not generalisation. Details to get right: divide by 8 only when the micro-batches are
# equal; with a smaller last micro-batch weight each mean loss by $n_k/N$ (or sum the losses and divide by the total
# count). Clip the accumulated gradient once, before the step; call the scheduler once per optimizer step; log the
# weighted sum of the losses. BatchNorm still normalises over 128 examples and updates its running statistics 8 times;
# a loss with class weights or `ignore_index` needs `reduction="sum"` and the big batch's total weight; under DDP use
# `no_sync()` for the first 7 micro-batches. The learning rate should be the one tuned for batch 1,024.
