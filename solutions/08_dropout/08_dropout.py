# %% [markdown]
# # 08 · Dropout
#
# **Interview question:** *How does dropout work mathematically, and why does it regularise?*
#
# **After this notebook you can**
# - write dropout from scratch, with the *inverted* $1/(1-p)$ scaling, and say why that scaling keeps the expected activation unchanged;
# - explain why `model.eval()` turns dropout off and why no rescaling is needed at inference;
# - describe dropout as training an ensemble of thinned networks that share weights, and say when
#   the eval-mode network *is* that ensemble's average and when it only approximates it;
# - write dropout's extra variance, $x^2\,p/(1-p)$, and use it to explain dropout as an adaptive L2
#   penalty and the clash between dropout and BatchNorm;
# - see the train/validation gap shrink on a small data set when dropout is switched on.
#
# **Runs on a CPU in about 12 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_loaders, get_device, plot_curves, seed_everything, train_classifier
from course_utils.testing import assert_between, assert_close, assert_raises, assert_shape, binomial_tolerance, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. The mechanism
#
# During training, dropout with rate $p$ zeroes each unit independently with probability $p$.
# Draw a mask $m_i \sim \mathrm{Bernoulli}(1-p)$ (1 means *keep*) and output
#
# $$
# y_i = \frac{m_i \, x_i}{1-p}.
# $$
#
# The division is the *inverted* part. It makes the expected output equal the input:
#
# $$
# \mathbb{E}[y_i] = \frac{\mathbb{E}[m_i]\, x_i}{1-p} = \frac{(1-p)\, x_i}{1-p} = x_i .
# $$
#
# So the next layer sees activations of the same average size in training and at inference,
# where dropout does nothing at all: $y = x$. The original paper (Srivastava et al., 2014) scaled the
# weights by $1-p$ at test time instead; every modern framework uses the inverted form, so inference
# code never has to know dropout existed.
#
# Watch PyTorch do it. With $p = 0.25$ about a quarter of the entries become 0 and the survivors
# become $x / 0.75$:

# %%
x = torch.ones(10_000)
y = F.dropout(x, p=0.25, training=True)
print("fraction zeroed:", (y == 0).float().mean().item())
print("surviving values:", y[y != 0].unique())
print("mean of y (should be close to 1):", y.mean().item())
print("eval mode is the identity:", torch.equal(F.dropout(x, p=0.25, training=False), x))

# %% [markdown]
# The module form, `nn.Dropout`, reads the module's `training` flag. On ten ones with $p = 0.5$
# about five entries become 0 and the survivors become 2. Two passes in training mode draw two
# different masks; in eval mode every pass is the same.

# %%
layer = nn.Dropout(p=0.5)
ones = torch.ones(10)
layer.train()
first, second = layer(ones), layer(ones)
print("train:", first.tolist())
print("train, again:", second.tolist(), "| same mask:", torch.equal(first, second))
layer.eval()
print("eval, twice the same:", torch.equal(layer(ones), layer(ones)), "| equals the input:", torch.equal(layer(ones), ones))

# %% [markdown]
# Two trip-ups. First, $p$ is the probability of **dropping**, not of keeping (some older
# TensorFlow code used `keep_prob`, the opposite convention). Second, the functional form
# `F.dropout(x, p)` defaults to `training=True` and knows nothing about `model.eval()`: inside a
# module's `forward`, write `F.dropout(x, p, training=self.training)`, or it keeps dropping at
# inference.

# %%
class ForgetsTheFlag(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.5)          # training=True by default, whatever the module's mode


print("eval mode, but still dropping:", (ForgetsTheFlag().eval()(ones) == 0).any().item())

# %% [markdown]
# ## Exercise 1 · `dropout` (graded)
#
# Write `dropout(x, p, training=True, generator=None)`:
#
# - zero each element independently with probability `p` and scale the survivors by $1/(1-p)$;
# - when `training` is `False`, return `x` unchanged;
# - **never modify `x` in place** (the caller may still need it, and autograd would complain);
# - raise `ValueError` when `p` is outside $[0, 1]$;
# - `p = 1` must return zeros, not NaN (careful with $0/0$);
# - draw random numbers with `generator` when one is given (pass it to `torch.rand` or `torch.bernoulli`), so results are repeatable;
# - keep the dtype, shape and device of `x`.
#
# Any correct approach passes: `torch.rand(...) < keep`, `torch.bernoulli`, or `torch.empty(...).bernoulli_` are all fine.
# Do not call `F.dropout` (nor its relatives `torch.dropout`, `F.dropout1d`/`2d`/`3d`, `F.alpha_dropout`)
# or `nn.Dropout`: the point is to write it yourself. The tests make those functions raise while your code runs.

# %% nbgrader={"grade": false, "grade_id": "dropout", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dropout(x: torch.Tensor, p: float, training: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout. Returns a new tensor shaped like ``x``; ``x`` is never modified."""
    ### BEGIN SOLUTION
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    keep_prob = 1.0 - p
    mask = torch.rand(x.shape, generator=generator, device=x.device) < keep_prob
    return x * mask / keep_prob
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dropout_basics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Shape and dtype, eval mode, the scale of the survivors, the input left untouched,
# and no call to F.dropout or nn.Dropout.
NO_BUILT_IN_DROPOUT = (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
                       torch.native_dropout)
x = torch.rand(1000, 50) + 0.5  # no zeros in the input, so every zero in the output was dropped
x_before = x.clone()
with forbidden(*NO_BUILT_IN_DROPOUT, what="dropout"):
    out = dropout(x, 0.4, training=True, generator=torch.Generator().manual_seed(1))
assert_shape(out, x.shape, what="dropout(x) shape")
assert out.dtype == x.dtype, f"dtype changed from {x.dtype} to {out.dtype}"
assert torch.equal(x, x_before), "dropout modified its input x in place; return a new tensor instead"
kept = out != 0
assert_close(out[kept], x[kept] / 0.6, rtol=1e-6, atol=0, what="survivors (expected x / (1 - p))")
assert torch.equal(dropout(x, 0.4, training=False), x), "in eval mode (training=False) dropout must return x unchanged"
### BEGIN HIDDEN TESTS
# eval mode returns x exactly, for every p, including p = 1
for p in (0.0, 0.3, 1.0):
    assert torch.equal(dropout(x, p, training=False), x), f"training=False with p={p} must return x unchanged"
# no in-place change in training mode either, for another dtype and a 3-D shape
x64 = torch.rand(8, 16, 32, dtype=torch.float64) + 0.5
x64_before = x64.clone()
with forbidden(*NO_BUILT_IN_DROPOUT, what="dropout"):
    out64 = dropout(x64, 0.25, generator=torch.Generator().manual_seed(2))
assert torch.equal(x64, x64_before), "dropout modified a float64 input in place"
assert_shape(out64, (8, 16, 32), what="dropout on a 3-D tensor")
assert out64.dtype == torch.float64, f"float64 input gave {out64.dtype}"
k64 = out64 != 0
assert_close(out64[k64], x64[k64] / 0.75, rtol=1e-12, atol=0, what="float64 survivors (x / (1 - p))")
# default training=True really drops
assert (dropout(x, 0.5) == 0).any(), "training defaults to True: dropout(x, 0.5) should zero some entries"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_dropout_statistics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The fraction dropped is p, and the output is unbiased: the mean of dropout(ones) is 1.
n = 200_000
for p in (0.2, 0.7):
    out = dropout(torch.ones(n), p, generator=torch.Generator().manual_seed(3))
    frac = (out == 0).float().mean().item()
    tol = binomial_tolerance(n, p)  # a correct answer falls outside this less than once in a million runs
    assert_between(frac, p - tol, p + tol, what=f"fraction of zeros with p={p}")
    # each output is 0 or 1/(1-p): mean 1, variance p/(1-p); the mean of n has std sqrt(p/(1-p)/n); allow 5.3 of them
    tol_mean = 5.3 * math.sqrt(p / (1 - p) / n)
    assert_between(out.mean().item(), 1 - tol_mean, 1 + tol_mean,
                   what=f"mean of dropout(ones, p={p}) (expected 1: the survivors' 1/(1-p) makes up for the zeros)")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(4)
for p in (0.05, 0.5, 0.9):
    out = dropout(torch.ones(n), p, generator=g)
    frac = (out == 0).float().mean().item()
    tol = binomial_tolerance(n, p)
    assert_between(frac, p - tol, p + tol, what=f"fraction of zeros with p={p}")
# unbiased per element, for inputs of both signs: average many draws of the same small vector
base = torch.tensor([1.0, -2.0, 3.0, 0.5])
reps = 100_000
p = 0.3
draws = dropout(base.expand(reps, 4), p, generator=torch.Generator().manual_seed(5))
mean = draws.mean(dim=0)
# std of the mean of one element is |x| sqrt(p / (1 - p) / reps); allow 5.3 of them (≈1e-7 failure rate)
tol = 5.3 * base.abs() * (p / (1 - p) / reps) ** 0.5
assert (mean - base).abs().le(tol).all(), (
    "averaged over many draws, dropout(x) should equal x element by element, for positive and negative "
    "entries alike (E[dropout(x)] = x); yours is biased")
# the variance per element is x^2 p / (1 - p): a mask that is not Bernoulli(1 - p) per element shows here
var = draws.var(dim=0)
expected_var = base ** 2 * p / (1 - p)
# the sample variance of reps draws has relative std sqrt((kurtosis - 1) / reps) ≈ 0.003 (a scaled Bernoulli(0.7) has
# kurtosis 1.76), so rtol = 0.05 is over 15 standard errors
assert_close(var, expected_var, rtol=0.05, atol=0, what="variance of dropout(x) per element (expected x^2 p / (1 - p))")
# the same generator seed gives the same mask, whatever the global RNG does
torch.manual_seed(123)
a = dropout(torch.ones(1000), 0.5, generator=torch.Generator().manual_seed(7))
torch.manual_seed(456)
b = dropout(torch.ones(1000), 0.5, generator=torch.Generator().manual_seed(7))
assert torch.equal(a, b), "dropout must draw its randomness from `generator` when one is given"
c = dropout(torch.ones(1000), 0.5, generator=torch.Generator().manual_seed(8))
assert not torch.equal(a, c), "different generator seeds should give different masks"
# without a generator, the global RNG is used (so torch.manual_seed makes it repeatable)
torch.manual_seed(9)
d1 = dropout(torch.ones(1000), 0.5)
torch.manual_seed(9)
d2 = dropout(torch.ones(1000), 0.5)
assert torch.equal(d1, d2), "with generator=None, dropout should use torch's global RNG"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_dropout_edges_and_grad", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The edge cases p = 0 and p = 1, invalid p, and the gradient: d out / d x is the mask / (1 - p).
x = torch.randn(100, 20)
assert torch.equal(dropout(x, 0.0), x), "p=0 must keep every element unchanged"
z = dropout(x, 1.0)
assert not torch.isnan(z).any(), "p=1 produced NaN: handle p=1 before dividing by 1 - p"
assert torch.equal(z, torch.zeros_like(x)), "p=1 must return all zeros"
assert_raises(ValueError, dropout, x, 1.5, what="dropout(x, p=1.5)")
xv = (torch.rand(100, 20) + 0.5).requires_grad_(True)  # no zeros, so out != 0 marks the kept entries
outv = dropout(xv, 0.5, generator=torch.Generator().manual_seed(11))
assert outv.requires_grad, "the output must stay connected to x's graph (do not detach)"
outv.sum().backward()
assert_close(xv.grad, (outv.detach() != 0).float() / 0.5, rtol=1e-6, atol=0,
             what="x.grad after dropout(x, 0.5).sum().backward() (expected 2 where kept, 0 where dropped)")
### BEGIN HIDDEN TESTS
assert_raises(ValueError, dropout, x, -0.1, what="dropout with a negative p")
assert_shape(z, x.shape, what="dropout(x, p=1) shape")
# gradient: d out / d x is the mask scaled by 1/(1-p), i.e. exactly the same mask as the forward pass
xg = (torch.rand(500, 40, dtype=torch.float64) + 0.5).requires_grad_(True)
outg = dropout(xg, 0.35, generator=torch.Generator().manual_seed(10))
assert outg.requires_grad, "the output must stay connected to x's graph (do not detach)"
outg.sum().backward()
expected_grad = (outg.detach() != 0).to(torch.float64) / 0.65
assert_close(xg.grad, expected_grad, rtol=1e-12, atol=0, what="gradient of dropout (mask / (1 - p))")
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · a `Dropout` module (graded)
#
# Layers in PyTorch are `nn.Module`s. Every module carries a `self.training` flag that
# `model.train()` and `model.eval()` set recursively on all its children; a layer that behaves
# differently in the two modes simply reads it. Wrap your function:
#
# - `Dropout(p=0.5)` stores `p` (raise `ValueError` for `p` outside $[0, 1]$, as `nn.Dropout` does);
# - `forward(x)` applies your `dropout` in training mode and returns `x` unchanged in eval mode
#   (as in exercise 1, do not call `F.dropout` or `nn.Dropout`);
# - it has no parameters.

# %% nbgrader={"grade": false, "grade_id": "dropout_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Dropout(nn.Module):
    """Inverted dropout as a layer; follows ``self.training``."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        ### BEGIN SOLUTION
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
        self.p = p
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        return dropout(x, self.p, training=self.training)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dropout_module", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# An nn.Module that zeroes some entries in train mode and returns its input unchanged in eval mode,
# without calling F.dropout or nn.Dropout.
NO_BUILT_IN_DROPOUT = (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout,
                       torch.native_dropout)
layer = Dropout(0.5)
assert isinstance(layer, nn.Module), "Dropout must subclass nn.Module"
x = torch.rand(2000) + 0.5
with forbidden(*NO_BUILT_IN_DROPOUT, what="Dropout"):
    layer.train()
    assert (layer(x) == 0).any(), "in train mode Dropout(0.5) should zero some entries"
    layer.eval()
    assert torch.equal(layer(x), x), "in eval mode Dropout must return its input unchanged"
### BEGIN HIDDEN TESTS
assert len(list(Dropout(0.3).parameters())) == 0, "Dropout has no learnable parameters"
# model.eval() / model.train() reach the layer inside a container
model = nn.Sequential(nn.Linear(10, 400), Dropout(0.6))
with torch.no_grad(), forbidden(*NO_BUILT_IN_DROPOUT, what="Dropout"):
    model.eval()
    h = model[0](torch.ones(3, 10))
    assert torch.equal(model(torch.ones(3, 10)), h), "after model.eval() the Dropout inside the model must be off"
    model.train()
    out = model(torch.ones(3, 10))
    kept = out != 0
    frac = 1 - kept.float().mean().item()
    assert_between(frac, 0.6 - binomial_tolerance(1200, 0.6), 0.6 + binomial_tolerance(1200, 0.6),
                   what="fraction zeroed by Dropout(0.6) in train mode")
    assert_close(out[kept], h[kept] / 0.4, rtol=1e-5, atol=1e-6, what="Dropout(0.6) survivors")
# the rate is honoured (not a fixed 0.5)
big = torch.ones(200_000)
l2 = Dropout(0.1).train()
frac = (l2(big) == 0).float().mean().item()
assert_between(frac, 0.1 - binomial_tolerance(200_000, 0.1), 0.1 + binomial_tolerance(200_000, 0.1),
               what="fraction zeroed by Dropout(0.1)")
# invalid p is rejected, at construction or at the latest on the first forward
try:
    Dropout(1.5)(torch.ones(3))
except ValueError:
    pass
else:
    raise AssertionError("Dropout(1.5) must raise ValueError (at construction or in forward)")
# x is not modified in place by the layer
xx = torch.rand(100) + 0.5
xx_before = xx.clone()
Dropout(0.5).train()(xx)
assert torch.equal(xx, xx_before), "the Dropout layer modified its input in place"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Why it regularises: an ensemble of thinned networks
#
# Each training step samples a different *thinned* network: with $n$ droppable units there are
# $2^n$ of them, all sharing one set of weights. A unit cannot count on any particular partner being
# present, so it has to be useful on its own; features that only work as a fragile conspiracy
# (co-adaptation) get broken up.
#
# At test time the full network stands in for the average of that huge ensemble. How good a
# stand-in it is depends on what follows the dropout:
#
# - if only **linear** layers follow, the eval-mode output equals the ensemble's average output
#   *exactly*, since $\mathbb{E}[W (m \odot x)/(1-p)] = W x$;
# - with a **softmax** on top of those linear layers, the eval-mode probabilities are exactly the
#   ensemble's normalised *geometric* mean (each thinned network weighted by the probability of
#   its mask), not its arithmetic mean;
# - with a **nonlinearity** after the dropout (dropout in a hidden layer of a deeper network),
#   it is only an approximation (Srivastava et al., 2014; Baldi & Sadowski, 2013).
#
# Ten droppable hidden units give only $2^{10} = 1024$ thinned networks, few enough to average
# exactly ($p = 0.5$ makes every mask equally likely):

# %%
torch.manual_seed(0)
n_hidden, p = 10, 0.5
fc1, fc2, head = nn.Linear(4, n_hidden), nn.Linear(n_hidden, n_hidden), nn.Linear(n_hidden, 3)
x = torch.randn(1, 4)
masks = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n_hidden)))  # all 1024 masks, shape (1024, 10)
with torch.no_grad():
    h = torch.relu(fc1(x))
    logits_all = head(h * masks / (1 - p))                      # every thinned network, then linear
    probs_all = F.softmax(logits_all, dim=-1)
    geometric = probs_all.log().mean(0).exp()
    print("linear after dropout, max |ensemble mean - eval|:", f"{(logits_all.mean(0) - head(h)).abs().max():.1e}")
    print("softmax: eval-mode probabilities   ", F.softmax(head(h), dim=-1)[0].numpy().round(4))
    print("         normalised geometric mean ", (geometric / geometric.sum()).numpy().round(4))
    print("         arithmetic mean           ", probs_all.mean(0).numpy().round(4))
    deep_all = head(torch.relu(fc2(h * masks / (1 - p))))          # a ReLU layer after the dropout
    print("ReLU after dropout: ensemble mean  ", deep_all.mean(0).numpy().round(3),
          " eval ", head(torch.relu(fc2(h)))[0].numpy().round(3))

# %% [markdown]
# The effect is easiest to see when memorising is easy: **300 training digits, 20 % of them with a
# wrong label**, and a wide MLP. A network big enough to memorise will learn the wrong labels too, and
# that hurts on clean validation data. Below, the same network trains twice, with and without *your*
# `Dropout`. Watch the gap between training and validation loss.

# %%
def wide_mlp(p: float) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), Dropout(p),
        nn.Linear(256, 256), nn.ReLU(), Dropout(p),
        nn.Linear(256, 10),
    )


train_loader, val_loader = digits_loaders(batch_size=100, n_train=300, label_noise=0.2, seed=0)
histories = {}
for p in (0.0, 0.5):
    seed_everything(0)
    histories[p] = train_classifier(wide_mlp(p), train_loader, val_loader, epochs=150, lr=1e-3, device=device)
    last = histories[p][-1]
    print(f"p={p}: train loss {last['train_loss']:.3f}  val loss {last['val_loss']:.3f}  val acc {last['val_accuracy']:.3f}")

ax = None
for p, hist in histories.items():
    ax = plot_curves({f"train, p={p}": [h["train_loss"] for h in hist],
                      f"val, p={p}": [h["val_loss"] for h in hist]},
                     ax=ax, xlabel="epoch", ylabel="cross-entropy (nats)", logy=True,
                     title="300 noisy training digits: dropout narrows the train/val gap")

# %% [markdown]
# Without dropout the training loss heads to zero (the wrong labels are memorised too) while the
# validation loss turns back up. With $p = 0.5$ the training loss stays higher (it is measured *with*
# dropout active, on a handicapped network), and the validation loss and accuracy end clearly better.
#
# Dropout is one regulariser among several (weight decay, data augmentation, early stopping;
# topic 16). The next two sections look at it through its variance: that gives a second reason why
# it regularises, and the reason it clashes with BatchNorm.
#
# ## 3. The extra variance, and dropout as an adaptive L2 penalty
#
# Dropout keeps the mean of each unit and adds variance. With $y_i = m_i x_i/(1-p)$ and
# $m_i^2 = m_i$,
#
# $$
# \mathbb{E}[y_i^2] = \frac{(1-p)\,x_i^2}{(1-p)^2} = \frac{x_i^2}{1-p},
# \qquad
# \operatorname{Var}[y_i] = \frac{x_i^2}{1-p} - x_i^2 = x_i^2\,\frac{p}{1-p} .
# $$
#
# The noise is *multiplicative*: it grows with the size of the activation, and with $p$ ($p = 0.5$
# gives a variance of $x_i^2$, a standard deviation as large as the signal).

# %%
x = torch.tensor([0.5, 1.0, 2.0, -3.0])
p = 0.3
draws = F.dropout(x.expand(200_000, 4), p=p, training=True)
print("measured variance    :", draws.var(dim=0).numpy().round(3))
print("x^2 p / (1 - p)      :", (x ** 2 * p / (1 - p)).numpy().round(3))

# %% [markdown]
# Put that noise into a loss. Take linear regression, $\hat y = w^\top \tilde x$, with dropout on
# the inputs, $\tilde x = m \odot x/(1-p)$. Since $\mathbb{E}[\hat y] = w^\top x$ and the
# inputs are dropped independently, the expected squared error over the masks splits into the
# plain error plus the variance of the prediction:
#
# $$
# \mathbb{E}_m\big[(y - w^\top \tilde x)^2\big]
# = (y - w^\top x)^2 + \frac{p}{1-p} \sum_j w_j^2 x_j^2 .
# $$
#
# Averaged over the data, the second term is an L2 penalty on $w$, but each weight is penalised in
# proportion to $\overline{x_j^2}$, the mean square of its own input: an **adaptive** L2 penalty.
# Weight decay shrinks every weight alike; dropout shrinks most the weights of the features that
# are large and often active, and barely touches those of rare, small features. For linear
# regression the identity above is exact (the minimiser is ridge regression with the penalty
# $\lambda \sum_j \overline{x_j^2} w_j^2$, $\lambda = p/(1-p)$); for logistic regression and
# other generalised linear models it holds to second order, with each $x_j^2$ also weighted by the
# model's output variance at that example, i.e. by the diagonal of the Fisher information
# (Wager, Wang & Liang, 2013). Checked by sampling masks:

# %%
g = torch.Generator().manual_seed(0)
X = torch.randn(200, 5, generator=g, dtype=torch.float64) * torch.tensor([0.1, 0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
y = X @ torch.randn(5, generator=g, dtype=torch.float64)
w = torch.randn(5, generator=g, dtype=torch.float64)
p = 0.5
X_dropped = F.dropout(X.expand(2000, 200, 5), p=p, training=True)       # 2000 masks at once
dropout_loss = ((y - X_dropped @ w) ** 2).mean()
plain_loss = ((y - X @ w) ** 2).mean()
per_weight = p / (1 - p) * (X ** 2).mean(dim=0)                          # the penalty's weight for each w_j
print(f"dropout loss, averaged over masks: {dropout_loss:.2f}")
print(f"plain loss + adaptive L2 penalty:  {plain_loss + (per_weight * w ** 2).sum():.2f}")
print("penalty weight of each w_j (features of std 0.1 ... 4):", per_weight.numpy().round(3))

# %% [markdown]
# ## 4. Why dropout and BatchNorm clash: the variance shift
#
# BatchNorm (topic 06) normalises with the batch's statistics in training and with running
# averages of them at inference. Put it after a dropout layer. In training its running variance
# learns the variance of $y$, which includes dropout's extra $x^2 p/(1-p)$; at inference dropout is
# the identity, the true variance is smaller, and BatchNorm divides by a standard deviation that is
# too large. For inputs of mean 1 and variance 1 with $p = 0.5$, training sees
# $\operatorname{Var}[y] = \mathbb{E}[x^2]/(1-p) - \mathbb{E}[x]^2 = 2/0.5 - 1 = 3$, so at
# inference the normalised outputs have a standard deviation of about $1/\sqrt{3} \approx 0.58$
# instead of 1. Every later layer sees a shifted distribution (Li et al., 2019, call this the
# *variance shift*). The usual fixes: no dropout before a BatchNorm layer (only after the last one,
# just before the classifier), or a small $p$.

# %%
torch.manual_seed(0)
drop_then_bn = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8, momentum=None))  # momentum=None: a plain running average
bn = drop_then_bn[1]
drop_then_bn.train()
with torch.no_grad():
    for _ in range(50):
        drop_then_bn(torch.randn(256, 8) + 1.0)        # inputs of mean 1, variance 1
    print(f"running variance learned in training: {bn.running_var.mean():.2f}   (expected 2 / 0.5 - 1 = 3)")
    drop_then_bn.eval()
    out = drop_then_bn(torch.randn(4096, 8) + 1.0)
print(f"std of BatchNorm's output at inference: {out.std(dim=0).mean():.3f}   (1/sqrt(3) = {1 / math.sqrt(3):.3f}, not 1)")

# %% [markdown]
# ## 5. Where dropout goes, and how much
#
# - **Fully connected layers:** after the activation, $p$ between 0.2 and 0.5 is a good start for a
#   small MLP on tabular data (0.5 was the classic choice for the wide hidden layers of early
#   image classifiers).
# - **Transformers:** $p = 0.1$ is the usual start for an encoder, applied to the attention
#   weights (*attention dropout*) and to each sublayer's output before it is added to the residual
#   stream. Large language models pretrained on far more data than they can memorise often use
#   $p = 0$: with no repeated data there is little overfitting to fight.
# - **Convolutional networks with BatchNorm:** rarely, for the reason of section 4; many deep residual
#   networks use **stochastic depth** (DropPath) instead, which drops whole residual branches at
#   random, so those blocks become the identity.
# - **MC dropout:** keeping dropout on at test time and averaging several stochastic passes gives
#   a cheap estimate of the model's uncertainty (Gal & Ghahramani, 2016).

# %% [markdown]
# ## 6. Explorer: dropout rate × width
#
# The same noisy 300-image training set, now with two knobs: the dropout rate $p$ (applied after
# every hidden layer) and the width of the two hidden layers. Solid lines are the current run
# (training loss per step, validation loss every 20 steps); earlier runs stay behind, faded.
# The gap between the two curves is what dropout is meant to close.

# %%
from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task

LossCurveExplorer(
    digits_mlp_task(n_train=300, label_noise=0.2, optimizer="adam", lr=2e-3, steps=200, eval_every=20),
    knobs=[
        Knob.slider("dropout", 0.0, 0.8, 0.0, step=0.1, description="dropout p"),
        Knob.dropdown("width", [32, 64, 128, 256], 128),
    ],
    prompt="At width 128, where does the validation curve end for p = 0, 0.5 and 0.8?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Width 128: step $p$ from 0 to 0.5. The training curve rises (the network is handicapped while
#    it trains); does the validation curve fall?
# 2. Push $p$ to 0.8. Is there a rate beyond which the validation loss gets worse again? Why would it?
# 3. Width 32 with $p = 0.5$: a narrow network has little to spare. Compare with width 256 at the same $p$:
#    wider layers tolerate (and need) more dropout.

# %% [markdown]
# ## Drill (graded)
#
# A hidden layer has 1,000 units and uses dropout with $p = 0.2$ in training.
# 1. `drill_expected_zeros`: the expected number of units zeroed in one forward pass.
# 2. `drill_survivor_value`: the output of a surviving unit whose input is $1.5$.
# 3. `drill_output_variance`: the variance, over the random mask, of the output of a unit whose input is $2$.
#
# Another layer uses $p = 0.3$.
#
# 4. `drill_survivor_scale`: the factor by which its surviving units are multiplied (a number; rounded to two decimals is enough).

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_expected_zeros = 200
drill_survivor_value = 1.875
drill_output_variance = 1.0
drill_survivor_scale = 1 / 0.7
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Plausibility only (the values themselves are checked by hidden tests): each answer is a number, a count
# of zeros between 0 and 1000, a variance that is not negative, and survivors that are scaled up, not down.
for name in ("drill_expected_zeros", "drill_survivor_value", "drill_output_variance", "drill_survivor_scale"):
    assert name in globals(), f"{name} is not defined: fill in the drill cell above and run it"
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
assert 0 <= drill_expected_zeros <= 1000, "the number of zeroed units lies between 0 and 1000"
assert drill_output_variance >= 0, "a variance is never negative"
assert drill_survivor_value > 1.5 and drill_survivor_scale > 1, \
    "inverted dropout scales the survivors *up*, so that the expected output stays equal to the input"
### BEGIN HIDDEN TESTS
assert abs(drill_expected_zeros - 200) < 1e-6, "drill_expected_zeros: each of the 1,000 units is zeroed with probability p"
assert abs(drill_survivor_value - 1.875) < 1e-6, "drill_survivor_value: a survivor is x / (1 - p)"
assert abs(drill_output_variance - 1.0) < 1e-6, "drill_output_variance: Var[y] = x^2 p / (1 - p)"
assert abs(drill_survivor_scale - 1 / 0.7) < 5e-3, "drill_survivor_scale: survivors are scaled by 1 / (1 - p)"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A colleague implements dropout *without* the $1/(1-p)$ factor in training and instead
# multiplies the activations by $(1-p)$ at inference. Is their model equivalent to one trained with
# inverted dropout? Why do frameworks prefer the inverted form?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Not quite. Both versions match training and inference in expectation, and they can express the same
# functions: the colleague's network with next-layer weights $W$ computes exactly what an inverted-dropout
# network with weights $(1-p)W$ computes, in training and at inference. So they are equivalent only if the
# next layer's weights are rescaled by $1/(1-p)$. Trained from the same initialisation, learning rate and
# weight decay, they differ: the same initial weights are a different starting function, the gradient
# with respect to the colleague's weights is $(1-p)$ times smaller (with SGD, a step $(1-p)^2$ times
# smaller on the function), and weight decay pulls on weights of a different size. Frameworks prefer the
# inverted form because all the work happens in training: the inference graph is the plain network, so
# inference and export code never change, nothing can be forgotten at test time, and `p` can be tuned
# without touching deployment code.

# %% [markdown]
# **Q2.** On a model with heavy dropout, the training loss printed each epoch is clearly *higher*
# than the validation loss. Is something broken? What would you check?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Not necessarily. The training loss is measured with dropout on, i.e. on randomly thinned networks
# that are weaker than the full network evaluated in eval mode on the validation set. (It is also
# averaged over the epoch while the model was still improving.) To compare like with like, evaluate
# the training set in eval mode. Then check the usual suspects: that `model.eval()` is really called
# before validation, and that the validation set is not easier than or leaking from the training set.
