# %% [markdown]
# # 06 · Batch normalization
#
# **Interview question:** *How does BatchNorm work, and why does it stabilise training?*
#
# **After this notebook you can**
# - write the BatchNorm transform per feature, $\gamma\,\hat x + \beta$, and say which axes the statistics run over for `BatchNorm1d` and `BatchNorm2d`;
# - say what changes between `model.train()` and `model.eval()`: batch statistics versus running statistics, and which buffers move;
# - state the running-average update exactly: PyTorch's `momentum` convention, the cumulative average of `momentum=None`, and why the running variance is the *unbiased* one while the normalisation uses the *biased* one;
# - build `MyBatchNorm1d` that matches `nn.BatchNorm1d` step for step, gradients included, and fold a BatchNorm into the layer before it for inference;
# - separate what BatchNorm is known to do (wider range of usable learning rates, scale invariance, a smoother loss landscape) from the original internal-covariate-shift story, and name its costs: batch-size dependence, the train/eval gap, the clash with dropout.
#
# **Runs on a CPU in about 15 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import copy
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_split, get_device, init_weights_, seed_everything
from course_utils.explorers import Knob, LossCurveExplorer, Task, run
from course_utils.testing import assert_close, assert_raises, assert_shape, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. The transform
#
# BatchNorm (Ioffe & Szegedy, 2015) normalises **each feature separately, across the examples of the
# mini-batch**. For a batch $x_1, \dots, x_m$ of one feature:
#
# $$
# \mu_B = \frac{1}{m}\sum_{i=1}^m x_i, \qquad
# \sigma_B^2 = \frac{1}{m}\sum_{i=1}^m (x_i - \mu_B)^2, \qquad
# \hat x_i = \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \varepsilon}}, \qquad
# y_i = \gamma\, \hat x_i + \beta .
# $$
#
# - $\hat x$ has mean 0 and variance (almost exactly) 1 over the batch; $\varepsilon$ (`eps`, default
#   $10^{-5}$) keeps the division safe when a feature is constant.
# - $\gamma$ (`weight`, initialised to 1) and $\beta$ (`bias`, initialised to 0) are learned, one pair per
#   feature. They let the network undo the normalisation where that helps: with $\gamma = \sqrt{\sigma^2 + \varepsilon}$
#   and $\beta = \mu$ for the statistics it normalises with, the output is the input again (exactly in eval mode,
#   where those are the fixed running statistics; only approximately in training, where they change with every
#   batch). So the layer keeps its expressive power; what BatchNorm
#   changes is how the network is *parameterised*, and therefore how gradient descent moves.
# - $\sigma_B^2$ divides by $m$: it is the **biased** variance of the batch.
#
# For an input of shape `(N, C)` "one feature" is one column: the statistics are taken over the $N$ rows,
# giving $C$ means and $C$ variances. Checked against `nn.BatchNorm1d` in training mode:

# %%
x = 3.0 + 2.0 * torch.randn(8, 4, device=device)        # N = 8 examples, C = 4 features
bn = nn.BatchNorm1d(4).to(device)                        # a new module is in training mode
print("gamma (weight):", bn.weight.tolist(), " beta (bias):", bn.bias.tolist())

mu = x.mean(dim=0)                                       # (C,)
var = x.var(dim=0, unbiased=False)                       # (C,): the biased variance, divide by N
y_hand = (x - mu) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias
y_torch = bn(x)
torch.testing.assert_close(y_hand, y_torch, rtol=1e-5, atol=1e-5)
print("matches nn.BatchNorm1d in training mode")
print("output mean per feature:", y_torch.mean(dim=0).detach().cpu().numpy().round(6))
print("output std per feature (biased):", y_torch.std(dim=0, unbiased=False).detach().cpu().numpy().round(4))

# %% [markdown]
# ## 2. Training mode, eval mode and the running statistics
#
# At inference there may be a single example, and a prediction must not depend on which other examples
# happen to share its batch. So BatchNorm keeps two **buffers** of shape $(C,)$: `running_mean` (starts at 0)
# and `running_var` (starts at 1). Buffers are state, not parameters: the optimizer never sees them, but they
# are saved in `state_dict()` and moved by `.to(device)`.
#
# - **Training mode** (`model.train()`): normalise with the batch statistics $\mu_B, \sigma_B^2$, and update
#   the buffers on **every** forward pass:
#
#   $$
#   r_\mu \leftarrow (1 - m)\, r_\mu + m\, \mu_B, \qquad
#   r_{\sigma^2} \leftarrow (1 - m)\, r_{\sigma^2} + m\, \frac{n}{n-1}\,\sigma_B^2 ,
#   $$
#
#   with $n$ the number of values per feature in the batch. Two details interviewers like:
#   - PyTorch's `momentum` $m$ (default 0.1) is the weight of the **new** value. It is the opposite of
#     the optimizer convention, where momentum 0.9 is the weight of the *old* velocity. Keras and
#     TensorFlow follow the optimizer convention for BatchNorm too: their default `momentum=0.99` weights the
#     old value, which is PyTorch's `momentum=0.01`.
#   - The running variance stores the **unbiased** batch variance, $\frac{n}{n-1}\sigma_B^2$ (an estimate of
#     the population variance), while the normalisation uses the **biased** $\sigma_B^2$.
# - **Eval mode** (`model.eval()`): normalise with `running_mean` and `running_var`, and change nothing.
#   Each feature then goes through a fixed affine map, the same for every example.
#
# With `momentum=None` the update uses $m = 1/t$ at the $t$-th training batch, which makes the buffers the
# plain **cumulative average** of all the batch statistics seen since the buffers were last reset. The counter $t$ is a third buffer,
# `num_batches_tracked`, which every training-mode forward pass increments (whatever the momentum).
# With `track_running_stats=False` there are no buffers at all, and batch statistics are used in both modes.
#
# Three batches through `nn.BatchNorm1d`, replayed by hand:

# %%
g = torch.Generator().manual_seed(0)
batches = [5.0 + 2.0 * torch.randn(6, 3, generator=g) for _ in range(3)]
for momentum in (0.1, None):
    bn = nn.BatchNorm1d(3, momentum=momentum)
    r_mean, r_var = torch.zeros(3), torch.ones(3)
    for t, xb in enumerate(batches, start=1):
        bn(xb)                                           # training mode: updates the buffers
        m = 1.0 / t if momentum is None else momentum
        r_mean = (1 - m) * r_mean + m * xb.mean(dim=0)
        r_var = (1 - m) * r_var + m * xb.var(dim=0, unbiased=True)   # unbiased: divide by n - 1
    torch.testing.assert_close(bn.running_mean, r_mean)
    torch.testing.assert_close(bn.running_var, r_var)
    print(f"momentum={momentum}: running_mean {bn.running_mean.numpy().round(3)}, "
          f"running_var {bn.running_var.numpy().round(3)}, num_batches_tracked {bn.num_batches_tracked.item()}")

all_means = torch.stack([xb.mean(dim=0) for xb in batches])
print("momentum=None gives the average of the three batch means:", torch.allclose(bn.running_mean, all_means.mean(dim=0)))

bn.eval()
x_new = torch.randn(2, 3)
before = bn.running_mean.clone()
y_eval = bn(x_new)
torch.testing.assert_close(y_eval, (x_new - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias)
print("eval mode uses the running statistics and leaves them alone:", torch.equal(bn.running_mean, before))

# %% [markdown]
# After 3 batches, `momentum=0.1` has moved the running mean only part of the way from 0 towards the data's
# mean of about 5 (the weight of the starting value is $0.9^3 \approx 0.73$); with `momentum=None` it is
# already there. With $m = 0.1$ the average remembers roughly the last $1/m = 10$ batches; the cumulative
# average treats every batch equally, which suits a *fixed* network (recalibrating the statistics after
# training, as `torch.optim.swa_utils.update_bn` does), not one whose weights are still changing.
#
# The same picture over 60 batches: one feature whose values have mean 5 and variance 4 (each batch holds 16
# of them) goes through `nn.BatchNorm1d(1)` with three settings; the dotted lines are the true mean and
# variance. `momentum=0.01` is Keras's default `0.99`:

# %%
g = torch.Generator().manual_seed(1)
stream = [5.0 + 2.0 * torch.randn(16, 1, generator=g) for _ in range(60)]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(range(1, 61), [xb.mean().item() for xb in stream], ".", color="0.6", label="batch mean")
for momentum, color in ((0.01, "C2"), (0.1, "C0"), (None, "C1")):
    bn = nn.BatchNorm1d(1, momentum=momentum)
    trace_mean, trace_var = [], []
    for xb in stream:
        bn(xb)                                           # training mode: one update per batch
        trace_mean.append(bn.running_mean.item())
        trace_var.append(bn.running_var.item())
    axes[0].plot(range(1, 61), trace_mean, color=color, label=f"momentum={momentum}")
    axes[1].plot(range(1, 61), trace_var, color=color, label=f"momentum={momentum}")
axes[0].axhline(5.0, color="k", lw=0.8, ls=":")
axes[1].axhline(4.0, color="k", lw=0.8, ls=":")
axes[0].set_title("running_mean (starts at 0)")
axes[1].set_title("running_var (starts at 1)")
for ax in axes:
    ax.set_xlabel("training batches seen")
    ax.grid(alpha=0.3)
axes[0].legend(frameon=False, fontsize=8, loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# `momentum=None` takes the first batch's statistics at once, then settles as the average grows; `0.1`
# needs about 20–30 batches and then jitters with the recent batches; `0.01` (the Keras default) has not
# arrived after 60: the initial 0 and 1 still carry a weight of $0.99^{60} \approx 0.55$. After a short
# training run with that setting, eval mode normalises with statistics that are still mostly the initial values.
#
# Two traps follow from "every training-mode forward pass updates the buffers":
#
# - `torch.no_grad()` does **not** stop the update. Evaluating in training mode under `no_grad` still
#   normalises with batch statistics *and* overwrites the running averages.
# - `requires_grad_(False)` freezes $\gamma$ and $\beta$ but **not** the running statistics. To freeze a
#   BatchNorm layer (fine-tuning with small batches, say), put the layer itself in eval mode, and do it again
#   after every `model.train()`, which switches all children back.

# %%
bn = nn.BatchNorm1d(3)
bn.requires_grad_(False)
with torch.no_grad():
    bn(batches[0])
print("after requires_grad_(False) and no_grad, running_mean moved to", bn.running_mean.numpy().round(3))
bn.eval()
bn(batches[1])
print("in eval mode it stays at                                    ", bn.running_mean.numpy().round(3))

# %% [markdown]
# ## 3. Which axes: `BatchNorm1d` versus `BatchNorm2d`
#
# BatchNorm keeps one $(\mu, \sigma^2, \gamma, \beta)$ per **channel**, the axis at position 1, and pools
# every other axis into the statistics:
#
# | module | input | statistics over | values per channel $n$ |
# |---|---|---|---|
# | `nn.BatchNorm1d(C)` | `(N, C)`, features of an MLP | $N$ | $N$ |
# | `nn.BatchNorm1d(C)` | `(N, C, L)`, a sequence or 1-D signal | $N$ and $L$ | $N L$ |
# | `nn.BatchNorm2d(C)` | `(N, C, H, W)`, images after a conv | $N$, $H$ and $W$ | $N H W$ |
#
# For a convolution this is the natural choice: the same filter produced every position of a channel, so
# they share one normalisation. Mind the layout: the channels must sit at position 1, so a sequence stored as
# `(N, L, features)` needs a transpose first. `BatchNorm2d` is `BatchNorm1d` applied to the flattened
# spatial axes:

# %%
x4 = torch.randn(4, 3, 5, 5, device=device)              # (N, C, H, W)
bn2d = nn.BatchNorm2d(3).to(device)
bn1d = nn.BatchNorm1d(3).to(device)
y2d = bn2d(x4)
y1d = bn1d(x4.flatten(2)).view_as(x4)                    # (N, C, H*W) -> BatchNorm1d -> back
torch.testing.assert_close(y2d, y1d)
torch.testing.assert_close(bn2d.running_var, bn1d.running_var)
print("BatchNorm2d(x) == BatchNorm1d(x.flatten(2)), running statistics included")
per_channel = x4.transpose(0, 1).reshape(3, -1)          # (C, N*H*W): every value of a channel
print("running_var == 0.9 + 0.1 * unbiased variance over N*H*W =", 4 * 5 * 5, "values:",
      torch.allclose(bn2d.running_var, 0.9 + 0.1 * per_channel.var(dim=1, unbiased=True)))
print("parameters of BatchNorm2d(3):", sum(p.numel() for p in bn2d.parameters()), "(gamma and beta per channel)")

# %% [markdown]
# ## Exercise 1 · `MyBatchNorm1d` (graded)
#
# Write `MyBatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)`, a
# drop-in replacement for `nn.BatchNorm1d`:
#
# - **Inputs** `(N, C)` or `(N, C, L)` with `C = num_features`; statistics per channel over $N$ (and $L$).
#   The output has the input's shape.
# - **Parameters.** With `affine=True`: `weight` ($\gamma$, ones) and `bias` ($\beta$, zeros), each an
#   `nn.Parameter` of shape `(C,)`. With `affine=False` the module has no parameters and `self.weight` and
#   `self.bias` are `None`.
# - **Buffers.** With `track_running_stats=True`: `running_mean` (zeros, `(C,)`), `running_var` (ones,
#   `(C,)`) and `num_batches_tracked` (a 0-d int64 tensor, 0), registered with `self.register_buffer`, so
#   that `state_dict()` has the same keys as `nn.BatchNorm1d`'s and `.to(...)` moves them. With
#   `track_running_stats=False` there are no buffers (the three attributes are `None`, or absent).
# - **Training mode** (`self.training`): normalise with the batch mean and the **biased** batch variance;
#   then, when tracking, add 1 to `num_batches_tracked` and update the running statistics with the factor
#   $m$ = `momentum`, or $m = 1/$`num_batches_tracked` when `momentum is None`, storing the **unbiased** batch
#   variance in `running_var`. The updates are bookkeeping, not part of the autograd graph (the buffers never
#   require grad). Raise `ValueError` when a channel has only one value ($n = 1$): its unbiased variance
#   would divide by zero (`nn.BatchNorm1d` raises too).
# - **Eval mode:** normalise with the running statistics and update nothing; without running statistics
#   (`track_running_stats=False`), use the batch statistics.
# - The gradient flows through the batch statistics, exactly as in `nn.BatchNorm1d`: do not detach them.
#
# Any correct formula passes (`x.var(..., unbiased=False)`, `torch.var_mean`, $\mathbb{E}[x^2] - \mu^2$, a
# transpose to `(N·L, C)` first, in-place or reassigned buffers). Do not call `F.batch_norm` (or
# `nn.BatchNorm1d`, which calls it): the tests compare you with it, and they make it raise while your
# module runs.

# %% nbgrader={"grade": false, "grade_id": "my_batchnorm", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MyBatchNorm1d(nn.Module):
    """BatchNorm over (N, C) or (N, C, L) inputs, matching ``nn.BatchNorm1d``."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        ### BEGIN SOLUTION
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C) or (N, C, L). Returns a tensor of the same shape."""
        ### BEGIN SOLUTION
        if x.dim() not in (2, 3):
            raise ValueError(f"expected a 2-D or 3-D input, got {x.dim()}-D")
        dims = (0,) if x.dim() == 2 else (0, 2)        # every axis but the channels
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1)  # broadcast a (C,) vector over x
        if self.training or not self.track_running_stats:
            n = x.numel() // x.shape[1]                   # values per channel
            if self.training and n < 2:
                raise ValueError(f"expected more than 1 value per channel when training, got input of shape {tuple(x.shape)}")
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)         # biased: used to normalise
            if self.training and self.track_running_stats:
                self.num_batches_tracked += 1
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                with torch.no_grad():
                    self.running_mean.mul_(1 - m).add_(m * mean)
                    self.running_var.mul_(1 - m).add_(m * var * n / (n - 1))  # unbiased: stored
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            return x_hat * self.weight.view(shape) + self.bias.view(shape)
        return x_hat
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_my_batchnorm_structure", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible part: for MyBatchNorm1d(4), weight and bias are parameters of shape (4,) at 1 and 0; the buffers
# running_mean, running_var and num_batches_tracked start at 0, 1 and 0; state_dict() has nn.BatchNorm1d's
# keys; affine=False leaves no parameters.
m = MyBatchNorm1d(4)
assert isinstance(m, nn.Module), "MyBatchNorm1d must subclass nn.Module"
params = dict(m.named_parameters())
assert set(params) == {"weight", "bias"}, f"expected exactly the parameters weight and bias, got {sorted(params)}"
assert_close(params["weight"].detach(), torch.ones(4), rtol=0, atol=0, what="initial weight (gamma = 1)")
assert_close(params["bias"].detach(), torch.zeros(4), rtol=0, atol=0, what="initial bias (beta = 0)")
buffers = dict(m.named_buffers())
for name in ("running_mean", "running_var", "num_batches_tracked"):
    assert name in buffers, f"{name} must be registered with self.register_buffer (found buffers {sorted(buffers)})"
assert_close(buffers["running_mean"], torch.zeros(4), rtol=0, atol=0, what="initial running_mean")
assert_close(buffers["running_var"], torch.ones(4), rtol=0, atol=0, what="initial running_var")
assert int(buffers["num_batches_tracked"]) == 0, "num_batches_tracked must start at 0"
expected_keys = list(nn.BatchNorm1d(4).state_dict())
assert sorted(m.state_dict()) == sorted(expected_keys), \
    f"state_dict keys {sorted(m.state_dict())} differ from nn.BatchNorm1d's {sorted(expected_keys)}"
assert len(list(MyBatchNorm1d(4, affine=False).parameters())) == 0, "affine=False: the module has no parameters"
### BEGIN HIDDEN TESTS
m = MyBatchNorm1d(7, affine=False)
assert getattr(m, "weight", None) is None and getattr(m, "bias", None) is None, \
    "affine=False: weight and bias must be None"
assert sorted(m.state_dict()) == sorted(nn.BatchNorm1d(7, affine=False).state_dict()), \
    "affine=False: state_dict keys must match nn.BatchNorm1d(affine=False) (buffers only)"
m = MyBatchNorm1d(7, track_running_stats=False)
for name in ("running_mean", "running_var", "num_batches_tracked"):
    assert getattr(m, name, None) is None, f"track_running_stats=False: {name} must be None or absent"
assert len(list(m.buffers())) == 0, "track_running_stats=False: the module keeps no buffers"
assert set(dict(m.named_parameters())) == {"weight", "bias"}, "track_running_stats=False still has weight and bias"
assert len(list(MyBatchNorm1d(7, affine=False, track_running_stats=False).state_dict())) == 0, \
    "affine=False and track_running_stats=False: the state_dict is empty"
# shapes for another size, and the constructor arguments are kept
m = MyBatchNorm1d(11, eps=1e-3, momentum=None)
assert_shape(m.weight, (11,), what="weight of MyBatchNorm1d(11)")
assert_shape(m.running_var, (11,), what="running_var of MyBatchNorm1d(11)")
assert_shape(m.num_batches_tracked, (), what="num_batches_tracked (a 0-d tensor)")
assert not m.num_batches_tracked.is_floating_point(), "num_batches_tracked is an integer tensor (int64, as in torch)"
# .to(float64) converts the parameters and the float buffers (they are registered, not plain attributes)
m = MyBatchNorm1d(5).to(torch.float64)
assert m.weight.dtype == torch.float64 and m.running_mean.dtype == torch.float64 and m.running_var.dtype == torch.float64, \
    ".to(torch.float64) must convert weight, running_mean and running_var"
# a state_dict from nn.BatchNorm1d loads into MyBatchNorm1d, and back
ref = nn.BatchNorm1d(5)
with torch.no_grad():
    ref.weight.uniform_(0.5, 2.0)
    ref.running_mean.uniform_(-1, 1)
    ref.running_var.uniform_(0.5, 2.0)
    ref.num_batches_tracked.fill_(17)
m = MyBatchNorm1d(5)
m.load_state_dict(ref.state_dict())
assert_close(m.running_var, ref.running_var, rtol=0, atol=0, what="running_var after load_state_dict from nn.BatchNorm1d")
assert int(m.num_batches_tracked) == 17, "num_batches_tracked after load_state_dict from nn.BatchNorm1d"
ref2 = nn.BatchNorm1d(5)
ref2.load_state_dict(m.state_dict())
assert_close(ref2.weight.detach(), ref.weight.detach(), rtol=0, atol=0, what="weight after loading your state_dict into nn.BatchNorm1d")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_my_batchnorm_train_forward", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Visible part: one training-mode forward pass on an (N, C) and an (N, C, L) input gives nn.BatchNorm1d's
# output (normalised with the biased variance), running_mean, running_var (the unbiased variance) and
# num_batches_tracked; F.batch_norm must not be called.
def _compare_one_step(shape, **kwargs):
    g = torch.Generator().manual_seed(sum(shape))
    x = 2.0 + torch.randn(*shape, generator=g, dtype=torch.float64)
    mine = MyBatchNorm1d(shape[1], **kwargs).to(torch.float64).train()
    ref = nn.BatchNorm1d(shape[1], **kwargs).to(torch.float64).train()
    with forbidden(F.batch_norm, what="MyBatchNorm1d"):
        out = mine(x)
    expected = ref(x)
    assert_shape(out, x.shape, what=f"output for an input of shape {shape}")
    if not torch.allclose(out, expected, rtol=1e-6, atol=1e-9):
        dims = (0,) if x.dim() == 2 else (0, 2)
        n = x.numel() // x.shape[1]
        unbiased_version = (expected - ref.bias.view(1, -1, *[1] * (x.dim() - 2))) * math.sqrt((n - 1) / n)
        hint = (" It matches normalising with the UNBIASED variance: the normalisation divides by n, "
                "only running_var stores the unbiased one." if torch.allclose(out, unbiased_version, rtol=1e-4, atol=1e-6) else "")
        raise AssertionError(f"training-mode output for input shape {shape} differs from nn.BatchNorm1d.{hint}")
    assert_close(mine.running_mean, ref.running_mean, rtol=1e-6, atol=1e-9,
                 what=f"running_mean after one training step, input shape {shape}")
    assert_close(mine.running_var, ref.running_var, rtol=1e-6, atol=1e-9,
                 what=f"running_var after one training step, input shape {shape} (expected 0.9 * 1 + 0.1 * the UNBIASED batch variance)")
    assert int(mine.num_batches_tracked) == 1, f"num_batches_tracked after one training step should be 1, got {int(mine.num_batches_tracked)}"


_compare_one_step((8, 3))
_compare_one_step((4, 3, 5))
### BEGIN HIDDEN TESTS
# tolerances: float64 throughout; rtol 1e-6 leaves room for a constant computed in float32 (relative
# rounding 6e-8), while the wrong formulas these cases target (unbiased normalisation, eps outside the root,
# the wrong Bessel factor or momentum) are off by more than 1e-3 somewhere.
def _batch(shape, seed, spread=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    if spread:  # channels with very different scales and offsets: channel 0 tiny, so eps matters
        c = shape[1]
        scale = torch.logspace(-2, 1, c, dtype=torch.float64).view(1, c, *[1] * (len(shape) - 2))
        shift = torch.linspace(-3, 3, c, dtype=torch.float64).view(1, c, *[1] * (len(shape) - 2))
        x = x * scale + shift
    return x


def _check_steps(shape, n_steps, what, **kwargs):
    mine = MyBatchNorm1d(shape[1], **kwargs).to(torch.float64).train()
    ref = nn.BatchNorm1d(shape[1], **kwargs).to(torch.float64).train()
    for step in range(1, n_steps + 1):
        x = _batch(shape, 100 * step + len(shape))
        with forbidden(F.batch_norm, what="MyBatchNorm1d"):
            out = mine(x)
        assert_close(out, ref(x), rtol=1e-6, atol=1e-9, what=f"training-mode output at step {step}, {what}")
        if ref.running_mean is None:
            continue
        assert_close(mine.running_mean, ref.running_mean, rtol=1e-6, atol=1e-9, what=f"running_mean after step {step}, {what}")
        assert_close(mine.running_var, ref.running_var, rtol=1e-6, atol=1e-9,
                     what=f"running_var after step {step}, {what} (it stores the unbiased batch variance)")
        assert int(mine.num_batches_tracked) == step, \
            f"num_batches_tracked after {step} training steps should be {step}, {what}"
    return mine, ref


_check_steps((6, 5), 4, "(N, C) input, default momentum 0.1")
_check_steps((3, 5, 4), 4, "(N, C, L) input, default momentum 0.1: n = N*L values per channel")
_check_steps((6, 5), 4, "(N, C) input, momentum=None (cumulative average)", momentum=None)
_check_steps((3, 5, 4), 4, "(N, C, L) input, momentum=None (cumulative average)", momentum=None)
_check_steps((5, 4), 3, "(N, C) input, a large momentum", momentum=0.7)
_check_steps((2, 4, 3), 3, "(N, C, L) input, a large eps", eps=0.5)
_check_steps((6, 5), 3, "(N, C) input, affine=False", affine=False)
mine, _ = _check_steps((5, 6), 2, "(N, C) input, track_running_stats=False", track_running_stats=False)
assert getattr(mine, "running_mean", None) is None, "track_running_stats=False: no running_mean may appear after training"
# tiny batches: two examples (N, C), and one example with L = 2 (N, C, L): n = 2 values per channel
_check_steps((2, 3), 2, "(N, C) input, two examples")
_check_steps((1, 3, 2), 2, "(N, C, L) input, one example with two positions")
# float32, the default dtype (every output entry is O(1))
g = torch.Generator().manual_seed(7)
x32 = 1.0 + torch.randn(16, 6, 5, generator=g)
mine32, ref32 = MyBatchNorm1d(6), nn.BatchNorm1d(6)
with forbidden(F.batch_norm, what="MyBatchNorm1d"):
    out32 = mine32(x32)
assert out32.dtype == torch.float32, f"float32 input gave {out32.dtype}"
assert_close(out32, ref32(x32), rtol=1e-4, atol=1e-5, what="float32 training-mode output, (N, C, L) input")
assert_close(mine32.running_var, ref32.running_var, rtol=1e-4, atol=1e-6, what="float32 running_var")
# one value per channel in training mode is an error
for shape, kind in (((1, 4), "(N, C)"), ((1, 4, 1), "(N, C, L)")):
    assert_raises(ValueError, MyBatchNorm1d(4).train(), torch.randn(*shape),
                  what=f"training-mode forward with one value per channel, {kind} input")
# the running buffers never join the autograd graph
m = MyBatchNorm1d(3).train()
xg = torch.randn(5, 3, requires_grad=True)
m(xg)
m(xg * 2)
for name in ("running_mean", "running_var"):
    buf = getattr(m, name)
    assert not buf.requires_grad and buf.grad_fn is None, \
        f"{name} is part of the autograd graph after a training step: update it under torch.no_grad() or with detached statistics"
# the input is not modified in place
x = torch.randn(4, 3, dtype=torch.float64)
x_before = x.clone()
MyBatchNorm1d(3).to(torch.float64)(x)
assert torch.equal(x, x_before), "the forward pass modified its input in place"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_my_batchnorm_eval", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible part: after three training steps on (N, C) inputs, with momentum 0.1 and with momentum=None (the
# cumulative average), the running statistics equal nn.BatchNorm1d's; then eval mode gives nn.BatchNorm1d's
# output (normalised with the running statistics) and leaves running_mean, running_var and num_batches_tracked
# unchanged.
for momentum in (0.1, None):
    g = torch.Generator().manual_seed(3)
    mine = MyBatchNorm1d(4, momentum=momentum).to(torch.float64)
    ref = nn.BatchNorm1d(4, momentum=momentum).to(torch.float64)
    for _ in range(3):
        xb = 1.0 + 2.0 * torch.randn(10, 4, generator=g, dtype=torch.float64)
        with forbidden(F.batch_norm, what="MyBatchNorm1d"):
            mine(xb)
        ref(xb)
    for name in ("running_mean", "running_var"):
        assert_close(getattr(mine, name), getattr(ref, name), rtol=1e-6, atol=1e-9,
                     what=f"{name} after 3 training steps with momentum={momentum}")
    mine.eval()
    ref.eval()
    state_before = {k: v.clone() for k, v in mine.state_dict().items()}
    x_eval = torch.randn(5, 4, generator=g, dtype=torch.float64)
    with forbidden(F.batch_norm, what="MyBatchNorm1d"):
        out = mine(x_eval)
    assert_close(out, ref(x_eval), rtol=1e-6, atol=1e-9,
                 what=f"eval-mode output after 3 training steps with momentum={momentum} "
                      "(expected normalisation with running_mean and running_var)")
    for k, v in mine.state_dict().items():
        assert torch.equal(v, state_before[k]), f"eval mode changed {k}; nothing may be updated in eval mode"
### BEGIN HIDDEN TESTS
def _batch(shape, seed):
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    scale = torch.logspace(-2, 1, c, dtype=torch.float64).view(1, c, *[1] * (len(shape) - 2))
    return 1.5 + scale * torch.randn(*shape, generator=g, dtype=torch.float64)


def _train_then_eval(shape, what, n_steps=3, **kwargs):
    mine = MyBatchNorm1d(shape[1], **kwargs).to(torch.float64)
    ref = nn.BatchNorm1d(shape[1], **kwargs).to(torch.float64)
    with torch.no_grad():  # non-trivial gamma and beta
        for mod in (mine, ref):
            if mod.weight is not None:
                mod.weight.copy_(torch.linspace(0.5, 2.0, shape[1], dtype=torch.float64))
                mod.bias.copy_(torch.linspace(-1.0, 1.0, shape[1], dtype=torch.float64))
    for step in range(n_steps):
        xb = _batch(shape, 10 * step + 1)
        with forbidden(F.batch_norm, what="MyBatchNorm1d"):
            mine(xb)
        ref(xb)
    mine.eval()
    ref.eval()
    for trial in range(2):  # two eval passes: the second must see the same (untouched) statistics
        xe = _batch((1,) + tuple(shape[1:]), 99 + trial)  # a single example is fine in eval mode
        with forbidden(F.batch_norm, what="MyBatchNorm1d"):
            out = mine(xe)
        assert_close(out, ref(xe), rtol=1e-6, atol=1e-9, what=f"eval-mode output (eval pass {trial + 1}), {what}")
    if ref.running_mean is not None:
        assert_close(mine.running_mean, ref.running_mean, rtol=1e-6, atol=1e-9, what=f"running_mean after eval passes, {what}")
        assert_close(mine.running_var, ref.running_var, rtol=1e-6, atol=1e-9, what=f"running_var after eval passes, {what}")
        assert int(mine.num_batches_tracked) == n_steps, f"num_batches_tracked must not change in eval mode, {what}"
    # back to training mode: batch statistics again, and the updates resume
    mine.train()
    ref.train()
    xb = _batch(shape, 77)
    with forbidden(F.batch_norm, what="MyBatchNorm1d"):
        out = mine(xb)
    assert_close(out, ref(xb), rtol=1e-6, atol=1e-9, what=f"training-mode output after switching back from eval, {what}")
    if ref.running_mean is not None:
        assert_close(mine.running_var, ref.running_var, rtol=1e-6, atol=1e-9,
                     what=f"running_var after switching back to training mode, {what}")


_train_then_eval((8, 5), "(N, C) input, momentum 0.1")
_train_then_eval((3, 5, 6), "(N, C, L) input, momentum 0.1")
_train_then_eval((8, 5), "(N, C) input, momentum=None", momentum=None)
_train_then_eval((3, 5, 6), "(N, C, L) input, momentum=None", n_steps=4, momentum=None)
_train_then_eval((4, 3, 2), "(N, C, L) input, a large eps", eps=0.3)
_train_then_eval((8, 5), "(N, C) input, affine=False", affine=False)
# without running statistics, eval mode normalises with the batch statistics
g = torch.Generator().manual_seed(5)
mine = MyBatchNorm1d(4, track_running_stats=False).to(torch.float64).eval()
ref = nn.BatchNorm1d(4, track_running_stats=False).to(torch.float64).eval()
for shape, kind in (((6, 4), "(N, C)"), ((2, 4, 3), "(N, C, L)")):
    xe = 3.0 + torch.randn(*shape, generator=g, dtype=torch.float64)
    with forbidden(F.batch_norm, what="MyBatchNorm1d"):
        out = mine(xe)
    assert_close(out, ref(xe), rtol=1e-6, atol=1e-9,
                 what=f"eval mode with track_running_stats=False (expected batch statistics), {kind} input")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_my_batchnorm_gradients", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible part: in training mode on an (N, C) input, the gradients with respect to the input, weight and bias
# equal autograd's through nn.BatchNorm1d (so the gradient flows through the batch mean and variance).
g = torch.Generator().manual_seed(11)
x = 1.0 + torch.randn(6, 3, generator=g, dtype=torch.float64)
r = torch.randn(6, 3, generator=g, dtype=torch.float64)   # a random upstream gradient
mine = MyBatchNorm1d(3).to(torch.float64)
ref = nn.BatchNorm1d(3).to(torch.float64)
x_mine, x_ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
with forbidden(F.batch_norm, what="MyBatchNorm1d"):
    out = mine(x_mine)
(out * r).sum().backward()
(ref(x_ref) * r).sum().backward()
assert x_mine.grad is not None, "no gradient reached the input; do not detach it"
assert_close(x_mine.grad, x_ref.grad, rtol=1e-6, atol=1e-9,
             what="gradient w.r.t. the input (it must flow through the batch mean and variance)")
assert_close(mine.weight.grad, ref.weight.grad, rtol=1e-6, atol=1e-9, what="gradient w.r.t. weight (gamma)")
assert_close(mine.bias.grad, ref.bias.grad, rtol=1e-6, atol=1e-9, what="gradient w.r.t. bias (beta)")
### BEGIN HIDDEN TESTS
def _grads(shape, train, seed, label, **kwargs):
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    scale = torch.logspace(-1, 1, c, dtype=torch.float64).view(1, c, *[1] * (len(shape) - 2))
    x = 2.0 + scale * torch.randn(*shape, generator=g, dtype=torch.float64)
    r = torch.randn(*shape, generator=g, dtype=torch.float64)
    mine = MyBatchNorm1d(c, **kwargs).to(torch.float64)
    ref = nn.BatchNorm1d(c, **kwargs).to(torch.float64)
    with torch.no_grad():  # identical non-trivial gamma, beta and running statistics
        for mod in (mine, ref):
            if mod.weight is not None:
                mod.weight.copy_(torch.linspace(0.5, 1.5, c, dtype=torch.float64))
                mod.bias.copy_(torch.linspace(-0.5, 0.5, c, dtype=torch.float64))
            if getattr(mod, "running_mean", None) is not None:
                mod.running_mean.copy_(torch.linspace(1.0, 3.0, c, dtype=torch.float64))
                mod.running_var.copy_(torch.linspace(0.2, 2.0, c, dtype=torch.float64))
    mine.train(train)
    ref.train(train)
    xm, xr = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with forbidden(F.batch_norm, what="MyBatchNorm1d"):
        out = mine(xm)
    (out * r).sum().backward()
    (ref(xr) * r).sum().backward()
    mode = "training" if train else "eval"
    what = f"{mode} mode, {label}"
    assert xm.grad is not None, f"no gradient reached the input, {what}"
    assert_close(xm.grad, xr.grad, rtol=1e-6, atol=1e-9, what=f"gradient w.r.t. the input, {what}")
    if ref.weight is not None:
        assert_close(mine.weight.grad, ref.weight.grad, rtol=1e-6, atol=1e-9, what=f"gradient w.r.t. weight, {what}")
        assert_close(mine.bias.grad, ref.bias.grad, rtol=1e-6, atol=1e-9, what=f"gradient w.r.t. bias, {what}")


_grads((3, 4, 5), True, 1, "(N, C, L) input")
_grads((6, 4), True, 2, "(N, C) input, affine=False", affine=False)
_grads((2, 4, 3), True, 3, "(N, C, L) input, affine=False, momentum=None", affine=False, momentum=None)
_grads((6, 4), False, 4, "(N, C) input")                         # eval: a fixed affine map per channel
_grads((2, 4, 3), False, 5, "(N, C, L) input")
_grads((6, 4), False, 6, "(N, C) input, track_running_stats=False",  # eval without buffers: batch statistics
       track_running_stats=False)
# the gradient w.r.t. the input of a training-mode BatchNorm sums to zero over the batch for every channel
# (the output is invariant to shifting a channel)
g = torch.Generator().manual_seed(8)
x = torch.randn(7, 3, generator=g, dtype=torch.float64).requires_grad_(True)
with forbidden(F.batch_norm, what="MyBatchNorm1d"):
    y = MyBatchNorm1d(3, affine=False).to(torch.float64)(x)
(y * torch.randn(7, 3, generator=g, dtype=torch.float64)).sum().backward()
assert_close(x.grad.sum(dim=0), torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-9,
             what="sum over the batch of the input gradient (training mode; must vanish)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_my_batchnorm_training_run", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Visible part: a small model Linear -> MyBatchNorm1d -> Tanh -> Linear, trained side by side with the same
# model built on nn.BatchNorm1d for 5 SGD steps on (N, C) inputs, gives the same loss at every step, the same
# weight, bias, running_mean, running_var and num_batches_tracked after every step, and the same eval outputs.
def _side_by_side(n_steps=5):
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3)).to(torch.float64)
    mine = nn.Sequential(nn.Linear(6, 5), MyBatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3)).to(torch.float64)
    mine[0].load_state_dict(ref[0].state_dict())
    mine[3].load_state_dict(ref[3].state_dict())
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.5)
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.5)
    g = torch.Generator().manual_seed(1)
    for step in range(1, n_steps + 1):
        x = 2.0 + torch.randn(8, 6, generator=g, dtype=torch.float64)
        y = torch.randint(0, 3, (8,), generator=g)
        with forbidden(F.batch_norm, what="MyBatchNorm1d"):
            loss_mine = F.cross_entropy(mine(x), y)
        loss_ref = F.cross_entropy(ref(x), y)
        assert_close(loss_mine, loss_ref, rtol=1e-6, atol=1e-9, what=f"loss at step {step}")
        for opt, loss in ((opt_mine, loss_mine), (opt_ref, loss_ref)):
            opt.zero_grad()
            loss.backward()
            opt.step()
        for name in ("weight", "bias", "running_mean", "running_var"):
            assert_close(getattr(mine[1], name).detach(), getattr(ref[1], name).detach(), rtol=1e-6, atol=1e-9,
                         what=f"BatchNorm {name} after step {step}")
        assert int(mine[1].num_batches_tracked) == step, f"num_batches_tracked after step {step} should be {step}"
    mine.eval()
    ref.eval()
    x = 2.0 + torch.randn(4, 6, generator=g, dtype=torch.float64)
    with torch.no_grad(), forbidden(F.batch_norm, what="MyBatchNorm1d"):
        out = mine(x)
    assert_close(out, ref(x).detach(), rtol=1e-6, atol=1e-9, what="eval-mode outputs of the trained model")


_side_by_side()
### BEGIN HIDDEN TESTS
def _side_by_side_seq(momentum, eps, n_steps, what):
    """Conv1d -> MyBatchNorm1d on (N, C, L) -> Tanh -> Flatten -> Linear, against the nn.BatchNorm1d twin."""
    torch.manual_seed(1)

    def body(bn):
        return nn.Sequential(nn.Conv1d(3, 4, kernel_size=3), bn, nn.Tanh(), nn.Flatten(), nn.Linear(4 * 5, 2))

    ref = body(nn.BatchNorm1d(4, eps=eps, momentum=momentum)).to(torch.float64)
    mine = body(MyBatchNorm1d(4, eps=eps, momentum=momentum)).to(torch.float64)
    for i in (0, 4):
        mine[i].load_state_dict(ref[i].state_dict())
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.3, momentum=0.9)
    opt_mine = torch.optim.SGD(mine.parameters(), lr=0.3, momentum=0.9)
    g = torch.Generator().manual_seed(2)
    for step in range(1, n_steps + 1):
        x = 1.0 + torch.randn(3, 3, 7, generator=g, dtype=torch.float64)   # L = 7 -> 5 after the conv
        y = torch.randint(0, 2, (3,), generator=g)
        with forbidden(F.batch_norm, what="MyBatchNorm1d"):
            loss_mine = F.cross_entropy(mine(x), y)
        loss_ref = F.cross_entropy(ref(x), y)
        assert_close(loss_mine, loss_ref, rtol=1e-6, atol=1e-9, what=f"loss at step {step}, {what}")
        for opt, loss in ((opt_mine, loss_mine), (opt_ref, loss_ref)):
            opt.zero_grad()
            loss.backward()
            opt.step()
        for name in ("weight", "bias", "running_mean", "running_var"):
            assert_close(getattr(mine[1], name).detach(), getattr(ref[1], name).detach(), rtol=1e-6, atol=1e-9,
                         what=f"BatchNorm {name} after step {step}, {what}")
        assert int(mine[1].num_batches_tracked) == step, f"num_batches_tracked after step {step}, {what}"
    mine.eval()
    ref.eval()
    x = 1.0 + torch.randn(2, 3, 7, generator=g, dtype=torch.float64)
    with torch.no_grad(), forbidden(F.batch_norm, what="MyBatchNorm1d"):
        out = mine(x)
    assert_close(out, ref(x), rtol=1e-6, atol=1e-9, what=f"eval-mode outputs of the trained model, {what}")


_side_by_side_seq(0.1, 1e-5, 5, "(N, C, L) model, momentum 0.1")
_side_by_side_seq(None, 1e-5, 5, "(N, C, L) model, momentum=None (cumulative average)")
_side_by_side_seq(0.3, 1e-2, 4, "(N, C, L) model, another momentum and a larger eps")
### END HIDDEN TESTS

# %% [markdown]
# Your module at work as a `BatchNorm2d`: flatten the spatial axes, normalise, reshape back (the same trick as
# in section 3).

# %%
bn_yours = MyBatchNorm1d(3).to(device)
bn_torch = nn.BatchNorm2d(3).to(device)
x4 = 1.0 + torch.randn(4, 3, 5, 5, device=device)
torch.testing.assert_close(bn_yours(x4.flatten(2)).view_as(x4), bn_torch(x4))
torch.testing.assert_close(bn_yours.running_var, bn_torch.running_var)
print("MyBatchNorm1d on (N, C, H*W) matches nn.BatchNorm2d, running statistics included")

# %% [markdown]
# ## 4. Why it helps: the story and the evidence
#
# **The original story.** Ioffe & Szegedy named their paper after *internal covariate shift*: while earlier
# layers change, the distribution of a layer's inputs keeps drifting, so the layer chases a moving target;
# fixing the mean and variance of each input was meant to stop the drift. That is the motivation you will
# hear in interviews, and the effects they reported are real: much higher learning rates, less care needed
# with initialisation, and in some cases no need for dropout (they removed it from their BN-Inception).
#
# **What later experiments found.** Santurkar, Tsipras, Ilyas & Madry (2018, *How does batch normalization
# help optimization?*) tested the story directly:
#
# - they added random noise with a changing mean and variance *after* each BatchNorm layer, deliberately
#   creating covariate shift; the network still trained almost as well as with plain BatchNorm, and far
#   better than without it;
# - by their gradient-based measure of internal covariate shift, BatchNorm networks showed no less of it than
#   plain ones, sometimes more;
# - what BatchNorm did change was the loss landscape: along the training trajectory the loss and its
#   gradient changed more slowly (better Lipschitz constants for the loss and the gradient), so the gradient
#   stays predictive over a longer step and larger learning rates are safe. Other normalisations
#   (by $\ell_p$ norms) gave similar gains.
#
# So the precise answer is: BatchNorm stabilises training mainly by making the optimisation problem better
# conditioned; the covariate-shift explanation is the historical motivation, not the established mechanism.
#
# One mechanism you can check in two lines is **scale invariance**. If $h = W x$ feeds a BatchNorm in training
# mode, scaling a row $w_j$ of $W$ by $a > 0$ scales feature $j$ and its batch statistics alike, so the output
# does not change (up to $\varepsilon$). Differentiating $L(a w) = L(w)$ (exact for $\varepsilon = 0$) gives two consequences:
#
# $$
# \nabla L(a w) = \tfrac{1}{a} \nabla L(w), \qquad w \cdot \nabla L(w) = 0 .
# $$
#
# Big weights get small gradients, and each plain SGD step is orthogonal to $w$, so $\lVert w\rVert$ can only grow
# ($\lVert w - \eta g \rVert^2 = \lVert w\rVert^2 + \eta^2 \lVert g \rVert^2$). A too-large learning rate
# inflates $\lVert w \rVert$, which shrinks the effective step $\eta / \lVert w\rVert^2$: the layer
# partly self-corrects instead of diverging. (Weight decay pushes the other way, topic 16.)

# %%
g = torch.Generator().manual_seed(0)
xs = torch.randn(32, 10, generator=g)
target = torch.randn(32, 6, generator=g)
W = torch.randn(6, 10, generator=g)
bn = nn.BatchNorm1d(6, affine=False)


def loss_and_grad(weight):
    weight = weight.clone().requires_grad_(True)
    loss = F.mse_loss(bn(xs @ weight.T), target)
    loss.backward()
    return loss.item(), weight.grad


loss1, grad1 = loss_and_grad(W)
loss10, grad10 = loss_and_grad(10 * W)
print(f"loss with W: {loss1:.6f}   loss with 10 W: {loss10:.6f}")
print("gradient at 10 W divided by the gradient at W:", (grad10.norm() / grad1.norm()).item())
print("largest |w_j . grad_j| over the rows:", (W * grad1).sum(dim=1).abs().max().item())

# %% [markdown]
# Now the practical effect. The same 6-layer ReLU MLP (width 64, He initialisation, so the plain network
# starts well too) is trained on the digits with plain SGD, batch size 32, for 150 steps, with and without a
# BatchNorm after every hidden Linear, at learning rates from 0.01 to 3.16. Each point is the final
# validation loss; a cross (drawn on the chance line) marks a run that diverged: its loss became inf or nan.

# %%
DIGITS = tuple(digits_split(seed=0))   # standardised 8x8 digits: 1,438 train, 359 validation


def bn_mlp(cfg) -> nn.Sequential:
    """`depth` blocks of Linear -> [BatchNorm1d] -> ReLU, then a Linear to 10 logits; He-initialised."""
    layers, width, d = [], cfg["width"], 64
    for _ in range(cfg["depth"]):
        layers.append(nn.Linear(d, width, bias=not cfg["batch_norm"]))  # BN's beta replaces the bias
        if cfg["batch_norm"]:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        d = width
    layers.append(nn.Linear(d, 10))
    return init_weights_(nn.Sequential(*layers), "he")


bn_task = Task(
    name="batchnorm_mlp_06",
    build_model=bn_mlp,
    build_data=lambda cfg: DIGITS,
    defaults={"batch_norm": True, "depth": 6, "width": 64, "optimizer": "sgd", "lr": 0.1,
              "batch_size": 32, "steps": 150, "eval_every": 15},
    data_keys=(),
)

lrs = [0.01, 0.03162, 0.1, 0.3162, 1.0, 3.162]   # points of the explorer's slider: cached for it
fig, ax = plt.subplots(figsize=(6, 3.4))
for batch_norm, color in ((False, "C0"), (True, "C1")):
    finals = []
    for lr in lrs:
        h = run({"batch_norm": batch_norm, "lr": lr}, bn_task)
        finals.append(float("nan") if h.diverged else h.final_val_loss)
        print(f"BN={batch_norm!s:5}  lr={lr:<5}  final val loss "
              f"{'diverged' if h.diverged else f'{h.final_val_loss:.3f}'}")
    ax.plot(lrs, finals, "o-", color=color, label=f"batch_norm={batch_norm}")
    for lr, f in zip(lrs, finals):
        if math.isnan(f):
            ax.plot(lr, math.log(10), "x", color=color, ms=9, mew=2)
ax.axhline(math.log(10), color="0.6", ls="--", lw=1, label="chance (ln 10)")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("learning rate (SGD)")
ax.set_ylabel("final validation loss (nats)")
ax.set_title("BatchNorm widens the range of usable learning rates")
ax.grid(alpha=0.3)
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# Read the plot honestly (it is one seed; other seeds move the points, not the picture). Without BatchNorm
# the network learns *faster* at the smallest rates, is erratic from $\eta = 0.03$ to $0.32$ (the point above
# chance at 0.1 is a loss spike in the last steps; with other seeds the spikes land elsewhere) and diverges
# from $\eta = 1$. With BatchNorm it is slower at small rates, its best results (at 0.1 to 1) beat the plain
# network's best, and no run diverges, even at 3.16, where it trains badly. "BatchNorm lets you train with larger learning rates
# and makes the result less sensitive to the rate" is the accurate claim; "BatchNorm always trains faster"
# is not.
#
# ## 5. The costs: batch dependence and the train/eval gap
#
# In training mode an example's output depends on **the other examples in its batch**, through $\mu_B$ and
# $\sigma_B^2$. Three consequences:
#
# - **Noise.** The batch statistics are estimates: the batch mean has a standard deviation of
#   $\sigma/\sqrt{n}$ for $n$ independent values. This noise acts as a mild regulariser (one reason BatchNorm networks often need less
#   dropout), but at small batch sizes it dominates. With 2 examples every normalised value is
#   $\pm\sqrt{1/(1 + \varepsilon/\sigma_B^2)} \approx \pm 1$, whatever the inputs; with 1 example per channel
#   training fails outright.
# - **Train/eval gap.** Eval mode uses the running averages, which differ from any single batch's
#   statistics, and lag behind weights that are still changing. A network can behave differently in the two
#   modes; if the running statistics are stale (after averaging weights, or a change of data), recompute
#   them with a pass over training data in training mode (`torch.optim.swa_utils.update_bn` does exactly
#   that, with `momentum=None`).
# - **Distributed training.** Each GPU normalises with its own slice of the batch. When that slice is
#   small, `nn.SyncBatchNorm` (convert with `nn.SyncBatchNorm.convert_sync_batchnorm(model)`) computes the
#   statistics over all processes instead; GroupNorm and LayerNorm avoid batch statistics altogether
#   (topic 22).

# %%
bn = nn.BatchNorm1d(1)
print("batch of 2, training mode:", bn(torch.tensor([[3.0], [100.0]])).flatten().tolist())
print("another batch of 2:       ", bn(torch.tensor([[-7.0], [-6.9]])).flatten().tolist())
try:
    bn(torch.tensor([[3.0]]))
except ValueError as err:
    print("batch of 1, training mode: ValueError:", err)
x_a = torch.tensor([[1.0], [2.0], [3.0]])
x_b = torch.tensor([[1.0], [20.0], [30.0]])
print("output for the same first example, different batch partners:",
      round(bn(x_a)[0].item(), 3), "vs", round(bn(x_b)[0].item(), 3))

# %% [markdown]
# **Drill: you forgot `model.eval()`, and the validation accuracy is awful. Why?** Every validation batch is
# normalised with its own statistics (with a batch of 1, a BatchNorm1d layer on `(N, C)` even raises), each
# prediction depends on the rest of the batch, the running averages are overwritten with validation data,
# and any dropout stays on as well. Below, a BatchNorm MLP is trained for 150 steps and then evaluated four
# ways:

# %%
seed_everything(0)
x_train, y_train, x_val, y_val = (t.to(device) for t in DIGITS)
model = bn_mlp({"batch_norm": True, "depth": 3, "width": 64}).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
g = torch.Generator().manual_seed(0)
for step in range(150):
    idx = torch.randint(0, len(x_train), (64,), generator=g).to(device)
    loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()


@torch.no_grad()
def val_accuracy(net: nn.Module, batch_size: int) -> float:
    n = len(x_val) - len(x_val) % batch_size   # whole batches only
    hits = sum((net(x_val[i:i + batch_size]).argmax(1) == y_val[i:i + batch_size]).sum().item()
               for i in range(0, n, batch_size))
    return hits / n


model.eval()
print(f"eval mode:                         val accuracy {val_accuracy(model, 359):.3f}")
for batch_size in (64, 8, 2):
    forgot = copy.deepcopy(model).train()     # the same weights, eval() forgotten
    print(f"training mode, batches of {batch_size:3d}:     val accuracy {val_accuracy(forgot, batch_size):.3f}")
print("running_mean of the first BatchNorm moved by up to",
      f"{(forgot[1].running_mean - model[1].running_mean).abs().max().item():.3f} (under no_grad!)")

# %% [markdown]
# ## 6. BatchNorm and dropout
#
# Dropout *before* a BatchNorm changes the variance that BatchNorm sees: inverted dropout keeps the mean of a
# unit but, in training, raises its variance from $\sigma^2$ to $\frac{\sigma^2 + \mu^2}{1-p} - \mu^2$. The
# running variance learns the training value; at inference dropout is off, the input variance falls back to
# $\sigma^2$, and the normalised output has a standard deviation below 1. This "variance shift" (Li et al.,
# 2019) is one reason BatchNorm networks often leave dropout out, or apply it only after the last BatchNorm
# layer (just before the classifier). With $\mu = 1$, $\sigma = 1$, $p = 0.5$ the training variance is $2/0.5 - 1 = 3$, so the
# eval-time output std should be $1/\sqrt 3 \approx 0.58$:

# %%
torch.manual_seed(0)
block = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(64, momentum=None))
for _ in range(50):
    block(1.0 + torch.randn(256, 64))           # training mode: learn the running statistics
print("running_var learned in training (expected 3):", round(block[1].running_var.mean().item(), 3))
block.eval()
out = block(1.0 + torch.randn(4096, 64))
print("eval-mode output std (expected 1/sqrt(3) = 0.577):", round(out.std().item(), 3))

# %% [markdown]
# ## 7. Placement, redundant biases, and folding BatchNorm away
#
# **Where it goes.** The original paper put BatchNorm between the linear map and the nonlinearity,
# `Linear → BN → ReLU` (or `Conv → BN → ReLU`), which is still the common layout; putting it after the
# activation also works and some papers prefer it. In residual networks it sits on the residual branch, not on the identity shortcut.
#
# **Why `bias=False`.** BatchNorm subtracts the batch mean of each feature, so a constant bias $b_j$ added just
# before it cancels exactly in training mode (in eval mode the running mean, which tracked it, removes it),
# and $\beta$ plays its role. A `Conv2d(3, 64, 3)` followed by `BatchNorm2d(64)` therefore carries 64 useless parameters
# unless it is built with `bias=False`.
#
# **Folding.** In eval mode BatchNorm is a fixed affine map per feature, so it can be merged into the
# preceding Linear or conv for inference: one layer instead of two, the same outputs. With
# $s = \gamma / \sqrt{r_{\sigma^2} + \varepsilon}$,
#
# $$
# \mathrm{BN}(Wx + b) = s \odot (Wx + b - r_\mu) + \beta = \underbrace{(\mathrm{diag}(s)\, W)}_{W'}\, x
#   + \underbrace{s \odot (b - r_\mu) + \beta}_{b'} ,
# $$
#
# that is, row $j$ of $W$ is scaled by $s_j$. For a conv, the same holds per output channel. PyTorch
# has helpers for it (`torch.nn.utils.fusion.fuse_conv_bn_eval`, and `fuse_linear_bn_eval`, which in PyTorch
# 2.14 fails on a BatchNorm with `affine=False`); it is only valid for the frozen, eval-mode layer.
#
# ## Exercise 2 · `fold_bn_into_linear` (graded)
#
# Write `fold_bn_into_linear(linear, bn)` that returns a **new** `nn.Linear` computing what
# `bn(linear(x))` computes in eval mode:
#
# - `linear` is an `nn.Linear(in_features, out_features)`, with or without a bias; `bn` is an
#   `nn.BatchNorm1d(out_features)` with running statistics, with `affine=True` or `False` (then
#   $\gamma = 1$, $\beta = 0$);
# - the result has the same `in_features`, `out_features`, dtype and device as `linear`, and always a bias;
# - `linear` and `bn` are left unchanged (their parameters and buffers keep their values);
# - do not call `torch.nn.utils.fusion` (the tests compare you with it).

# %% nbgrader={"grade": false, "grade_id": "fold_bn", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fold_bn_into_linear(linear: nn.Linear, bn: nn.BatchNorm1d) -> nn.Linear:
    """A new Linear equal to ``bn(linear(x))`` with ``bn`` in eval mode (running statistics)."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        scale = torch.rsqrt(bn.running_var + bn.eps)
        shift = -bn.running_mean * scale
        if bn.weight is not None:
            scale = scale * bn.weight
            shift = shift * bn.weight + bn.bias
        b = linear.bias if linear.bias is not None else torch.zeros_like(bn.running_mean)
        fused = nn.Linear(linear.in_features, linear.out_features,
                          device=linear.weight.device, dtype=linear.weight.dtype)
        fused.weight.copy_(linear.weight * scale[:, None])
        fused.bias.copy_(b * scale + shift)
    return fused
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_fold_bn", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Visible part: for a Linear(5, 3) with bias and a BatchNorm1d(3) with non-trivial statistics, gamma and beta,
# the folded layer is a new nn.Linear(5, 3) whose output equals bn(linear(x)) in eval mode, and the two inputs
# keep their values.
torch.manual_seed(0)
lin = nn.Linear(5, 3).to(torch.float64).eval()
bn = nn.BatchNorm1d(3).to(torch.float64).eval()
with torch.no_grad():
    bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    bn.running_var.copy_(torch.tensor([0.01, 4.0, 0.5]))
    bn.weight.copy_(torch.tensor([1.5, -0.5, 2.0]))
    bn.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
before = {k: v.clone() for k, v in {**lin.state_dict(), **{"bn." + k: v for k, v in bn.state_dict().items()}}.items()}
with forbidden(torch.nn.utils.fusion.fuse_linear_bn_eval, torch.nn.utils.fusion.fuse_linear_bn_weights,
               what="fold_bn_into_linear"):
    fused = fold_bn_into_linear(lin, bn)
assert isinstance(fused, nn.Linear), f"expected an nn.Linear, got {type(fused).__name__}"
assert (fused.in_features, fused.out_features) == (5, 3), "the folded layer maps 5 features to 3"
assert fused is not lin, "return a new nn.Linear, not the one passed in"
x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
with torch.no_grad():
    assert_close(fused(x), bn(lin(x)), rtol=1e-6, atol=1e-9, what="folded layer vs bn(linear(x)) in eval mode")
after = {**lin.state_dict(), **{"bn." + k: v for k, v in bn.state_dict().items()}}
for k, v in before.items():
    assert torch.equal(after[k], v), f"fold_bn_into_linear changed {k} of its inputs"
### BEGIN HIDDEN TESTS
from torch.nn.utils.fusion import fuse_linear_bn_eval


def _fold_case(in_f, out_f, lin_bias, affine, dtype, seed, what):
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(in_f, out_f, bias=lin_bias).to(dtype).eval()
    bn = nn.BatchNorm1d(out_f, affine=affine, eps=1e-3).to(dtype).eval()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(out_f, in_f, generator=g))
        if lin_bias:
            lin.bias.copy_(torch.randn(out_f, generator=g))
        bn.running_mean.copy_(3 * torch.randn(out_f, generator=g))
        bn.running_var.copy_(torch.rand(out_f, generator=g) * 2 + 1e-3)  # eps = 1e-3 is far above the tolerance: eps matters
        if affine:
            bn.weight.copy_(torch.randn(out_f, generator=g))
            bn.bias.copy_(torch.randn(out_f, generator=g))
    snapshot = copy.deepcopy((lin.state_dict(), bn.state_dict()))
    with forbidden(torch.nn.utils.fusion.fuse_linear_bn_eval, torch.nn.utils.fusion.fuse_linear_bn_weights,
                   what="fold_bn_into_linear"):
        fused = fold_bn_into_linear(lin, bn)
    assert isinstance(fused, nn.Linear), f"{what}: expected an nn.Linear"
    assert (fused.in_features, fused.out_features) == (in_f, out_f), f"{what}: wrong in/out features"
    assert fused.bias is not None, f"{what}: the folded layer needs a bias"
    assert fused.weight.dtype == dtype, f"{what}: the folded weight should be {dtype}, got {fused.weight.dtype}"
    x = torch.randn(9, in_f, generator=g).to(dtype)
    tol = dict(rtol=1e-6, atol=1e-9) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        assert_close(fused(x), bn(lin(x)), **tol, what=f"folded output vs bn(linear(x)), {what}")
        if affine:  # torch's fuse_linear_bn_eval needs gamma and beta (it fails on affine=False)
            reference = fuse_linear_bn_eval(lin, bn)
            assert_close(fused.weight, reference.weight, **tol, what=f"folded weight vs torch's fusion, {what}")
            assert_close(fused.bias, reference.bias, **tol, what=f"folded bias vs torch's fusion, {what}")
    for mod, state in zip((lin, bn), snapshot):
        for k, v in mod.state_dict().items():
            assert torch.equal(v, state[k]), f"{what}: fold_bn_into_linear changed {k} of its inputs"
    # the folded layer does not share storage with the inputs: changing it leaves linear alone
    with torch.no_grad():
        fused.weight.add_(1.0)
    assert torch.equal(lin.weight, snapshot[0]["weight"]), f"{what}: the folded weight shares memory with linear.weight"


_fold_case(4, 6, True, True, torch.float64, 1, "a widening Linear with bias, affine BatchNorm")
_fold_case(6, 2, False, True, torch.float64, 2, "a narrowing Linear without bias")
_fold_case(3, 5, True, False, torch.float64, 3, "BatchNorm with affine=False")
_fold_case(3, 5, False, False, torch.float64, 4, "no linear bias and affine=False")
_fold_case(8, 4, True, True, torch.float32, 5, "float32")
_fold_case(4, 4, True, True, torch.float64, 6, "a square Linear")
### END HIDDEN TESTS

# %% [markdown]
# Folded and unfolded agree on a trained model; the folded one has one layer fewer per block. (Folding is exact
# only in eval mode: in training mode the BatchNorm uses batch statistics, which no fixed layer can reproduce.)

# %%
model.eval()
fused_model = nn.Sequential(fold_bn_into_linear(model[0], model[1]), model[2],
                            fold_bn_into_linear(model[3], model[4]), model[5],
                            fold_bn_into_linear(model[6], model[7]), model[8], model[9])
with torch.no_grad():
    print("largest difference between the logits:", (fused_model(x_val) - model(x_val)).abs().max().item())
print("modules:", len(model), "->", len(fused_model))

# %% [markdown]
# ## 8. Explorer: BatchNorm on/off × learning rate
#
# The 6-layer MLP of section 4 on the digits, trained with plain SGD for 150 steps. Toggle BatchNorm, move
# the learning rate from 0.01 to 3.16, and change the batch size. Solid line: training loss per step;
# dots: validation loss (eval mode) every 15 steps; the earlier runs stay behind, faded. A run that
# diverges stops where its loss became inf or nan.

# %%
LossCurveExplorer(
    bn_task,
    knobs=[
        Knob.toggle("batch_norm", True),
        Knob.log_slider("lr", 0.01, 3.162, 0.3162, description="learning rate"),
        Knob.dropdown("batch_size", [4, 8, 32, 128], 32, description="batch size"),
    ],
    logy=True,
    prompt="At lr = 1, which network diverges? With BatchNorm on, which curve is higher at batch size 8: training or validation?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Batch size 32: find the largest learning rate at which the network *without* BatchNorm still trains.
#    Switch BatchNorm on at that rate, then move the rate up notch by notch.
# 2. At $\eta = 0.01$, which network is ahead after 150 steps? At which learning rate does each one reach
#    its lowest validation loss?
# 3. BatchNorm on, $\eta = 0.32$: compare batch size 8 with batch size 128. At batch size 8, which curve is
#    higher: the training loss (normalised with 8-example batch statistics) or the validation loss (eval
#    mode, running statistics)? Which effect of small batches from section 5 explains it?

# %% [markdown]
# ## Drills (graded)
#
# A fresh `nn.BatchNorm1d(1)` (momentum 0.1, eps negligible, $\gamma = 1$, $\beta = 0$) receives one batch in
# training mode, the four values $2, 4, 6, 8$.
#
# 1. `drill_running_mean`: `running_mean` after this batch.
# 2. `drill_running_var`: `running_var` after this batch.
# 3. `drill_output_of_2`: the layer's output for the value 2 in this forward pass.
# 4. `drill_two_example_output`: in training mode, the absolute value of every output of a batch of exactly two
#    different values (same layer, eps negligible).
# 5. `drill_redundant_params`: how many parameters of `nn.Conv2d(3, 64, kernel_size=3)` are redundant when it is
#    followed by `nn.BatchNorm2d(64)`?

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_running_mean = 0.5
drill_running_var = 0.9 + 0.1 * 20 / 3
drill_output_of_2 = -3 / math.sqrt(5)
drill_two_example_output = 1.0
drill_redundant_params = 64
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
for name in ("drill_running_mean", "drill_running_var", "drill_output_of_2", "drill_two_example_output",
             "drill_redundant_params"):
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
### BEGIN HIDDEN TESTS
assert abs(drill_running_mean - 0.5) < 1e-3, \
    "drill_running_mean: the running mean starts at 0 and moves a fraction momentum of the way to the batch mean"
assert abs(drill_running_var - (0.9 + 0.1 * 20 / 3)) < 1e-3, \
    "drill_running_var: the running variance starts at 1 and moves a fraction momentum of the way to the UNBIASED batch variance"
assert abs(drill_output_of_2 - (-3 / math.sqrt(5))) < 1e-3, \
    "drill_output_of_2: training mode normalises with the batch mean and the BIASED batch variance (divide by n)"
assert abs(drill_two_example_output - 1.0) < 1e-3, \
    "drill_two_example_output: each of two values lies half their difference from the mean, and the biased std is that same half-difference"
assert abs(drill_redundant_params - 64) < 1e-6, \
    "drill_redundant_params: the conv's per-channel biases cancel in BatchNorm's mean subtraction (beta takes their role)"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A colleague's image classifier with BatchNorm reaches 92 % validation accuracy in their notebook.
# Served behind an API that receives one image per request, its predictions look almost random. A second
# colleague fine-tunes the same model on a new data set with 2 images per GPU, and its accuracy degrades
# steadily. Explain both, and what you would change.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The server almost certainly runs the model in training mode (no `model.eval()`). Then every BatchNorm
# normalises each request with the statistics of that single image (for `BatchNorm2d`, over its own $H \times W$
# positions per channel, for `BatchNorm1d` on `(N, C)` it would even raise), which is not the normalisation the
# network was trained with, so the outputs are garbage; it also overwrites the running statistics with every
# request, and leaves any dropout on. Fix: call `model.eval()` before serving (plus `torch.inference_mode()`), so each
# BatchNorm applies its fixed running mean and variance and a prediction no longer depends on the batch.
# Fine-tuning with 2 images per GPU makes the batch statistics extremely noisy estimates, so training sees a
# different normalisation at every step and the running averages drift towards noisy values that do not match
# eval-time behaviour. Options: freeze the BatchNorm layers (keep them in eval mode during fine-tuning, re-applied
# after every `model.train()`, so they use the pretrained running statistics; optionally freeze $\gamma, \beta$),
# use `nn.SyncBatchNorm` so the statistics span all GPUs, or replace BatchNorm with GroupNorm/LayerNorm, which do
# not depend on the batch. (Gradient accumulation does not help here: it enlarges the batch of the gradient, not the
# batch BatchNorm normalises over.)

# %% [markdown]
# **Q2.** "BatchNorm works because it removes internal covariate shift." Do you agree? What does BatchNorm
# demonstrably do to training, and what does it cost?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Only as history. Internal covariate shift was the motivation of Ioffe & Szegedy (2015), but Santurkar et al. (2018)
# showed that networks with noise injected after each BatchNorm, i.e. with deliberate covariate shift, still train
# about as well as with plain BatchNorm, and that BatchNorm does not reliably reduce shift as they measured it. What it
# does is make the optimisation better conditioned: the loss and its gradients change more smoothly along the
# trajectory, so larger learning rates are stable, training depends less on the initialisation, and in training mode
# a BatchNorm's output is invariant to the scale of each weight row just before it (gradients shrink as $1/\lVert w\rVert$ and are orthogonal
# to $w$, which damps too-large steps). Its batch noise also regularises mildly, so BatchNorm networks often need
# less dropout. Costs: the output of an example depends on its batch in training; small batches give noisy
# statistics and a train/eval mismatch; eval mode relies on running averages that can be stale; it needs care in
# distributed training (SyncBatchNorm) and with dropout placed before it (variance shift); and it is awkward for
# sequence models with variable lengths, where LayerNorm is the norm.
