# %% [markdown]
# # 08 · Dropout
#
# **Interview question:** *How does dropout work mathematically, and why does it regularise?*
#
# **After this notebook you can**
# - write dropout from scratch, with the *inverted* $1/(1-p)$ scaling, and say why that scaling keeps the expected activation unchanged;
# - explain why `model.eval()` turns dropout off and why no rescaling is needed at inference;
# - describe dropout as training an ensemble of thinned networks that share weights;
# - see the train/validation gap shrink on a small data set when dropout is switched on.
#
# **Runs on a CPU in about 10 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_loaders, get_device, plot_curves, seed_everything, train_classifier
from course_utils.testing import assert_between, assert_close, assert_raises, assert_shape, binomial_tolerance

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
# A common trip-up: $p$ is the probability of **dropping**, not of keeping. (Some older
# TensorFlow code used `keep_prob`, the opposite convention.)
#
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
# Do not call `F.dropout` or `nn.Dropout`: the point is to write it yourself.

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
# Shapes, eval mode, the scale of the survivors, and the input left untouched.
x = torch.rand(1000, 50) + 0.5  # no zeros in the input, so every zero in the output was dropped
x_before = x.clone()
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
# The fraction dropped is p, and the output is unbiased: E[dropout(x)] = x.
n = 200_000
for p in (0.2, 0.7):
    out = dropout(torch.ones(n), p, generator=torch.Generator().manual_seed(3))
    frac = (out == 0).float().mean().item()
    tol = binomial_tolerance(n, p)  # a correct answer falls outside this less than once in a million runs
    assert_between(frac, p - tol, p + tol, what=f"fraction of zeros with p={p}")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(4)
for p in (0.05, 0.5, 0.9):
    out = dropout(torch.ones(n), p, generator=g)
    frac = (out == 0).float().mean().item()
    tol = binomial_tolerance(n, p)
    assert_between(frac, p - tol, p + tol, what=f"fraction of zeros with p={p}")
# unbiased per element: average many draws of the same small vector
base = torch.tensor([1.0, -2.0, 3.0, 0.5])
reps = 100_000
p = 0.3
draws = dropout(base.expand(reps, 4), p, generator=torch.Generator().manual_seed(5))
mean = draws.mean(dim=0)
# std of the mean of one element is |x| sqrt(p / (1 - p) / reps); allow 5.3 of them (≈1e-7 failure rate)
tol = 5.3 * base.abs() * (p / (1 - p) / reps) ** 0.5
assert (mean - base).abs().le(tol).all(), f"E[dropout(x)] should equal x={base.tolist()}, got {mean.tolist()}"
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
# The edge cases p = 0 and p = 1, invalid p, and the gradient.
x = torch.randn(100, 20)
assert torch.equal(dropout(x, 0.0), x), "p=0 must keep every element unchanged"
z = dropout(x, 1.0)
assert not torch.isnan(z).any(), "p=1 produced NaN: handle p=1 before dividing by 1 - p"
assert torch.equal(z, torch.zeros_like(x)), "p=1 must return all zeros"
assert_raises(ValueError, dropout, x, 1.5, what="dropout(x, p=1.5)")
### BEGIN HIDDEN TESTS
assert_raises(ValueError, dropout, x, -0.1, what="dropout(x, p=-0.1)")
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
# - `forward(x)` applies your `dropout` in training mode and returns `x` unchanged in eval mode;
# - it has no parameters.

# %% nbgrader={"grade": false, "grade_id": "dropout_module", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Dropout(nn.Module):
    """Inverted dropout as a layer; follows ``self.training``."""

    ### BEGIN SOLUTION
    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dropout_module", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
layer = Dropout(0.5)
assert isinstance(layer, nn.Module), "Dropout must subclass nn.Module"
x = torch.rand(2000) + 0.5
layer.train()
assert (layer(x) == 0).any(), "in train mode Dropout(0.5) should zero some entries"
layer.eval()
assert torch.equal(layer(x), x), "in eval mode Dropout must return its input unchanged"
### BEGIN HIDDEN TESTS
assert len(list(Dropout(0.3).parameters())) == 0, "Dropout has no learnable parameters"
# model.eval() / model.train() reach the layer inside a container
model = nn.Sequential(nn.Linear(10, 400), Dropout(0.6))
with torch.no_grad():
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
# ## 2. Why it regularises
#
# Each training step samples a different *thinned* network: with $n$ droppable units there are
# $2^n$ of them, all sharing one set of weights. A unit cannot count on any particular partner being
# present, so it has to be useful on its own; features that only work as a fragile conspiracy
# (co-adaptation) get broken up. At test time the full network with inverted scaling approximates
# the average prediction of that huge ensemble.
#
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
# topic 16). It is common in fully connected and attention layers, and rarer in convolutional
# networks that use BatchNorm, where the two interact badly: dropout changes the variance that
# BatchNorm's running statistics learned in training.

# %% [markdown]
# ## 3. Explorer: dropout rate × width
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

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_expected_zeros = 200
drill_survivor_value = 1.875
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert isinstance(drill_expected_zeros, (int, float)), "drill_expected_zeros should be a number"
assert isinstance(drill_survivor_value, (int, float)), "drill_survivor_value should be a number"
### BEGIN HIDDEN TESTS
assert abs(drill_expected_zeros - 200) < 1e-6, f"expected 1000 * 0.2 = 200 zeros, got {drill_expected_zeros}"
assert abs(drill_survivor_value - 1.875) < 1e-6, f"a survivor is x / (1 - p) = 1.5 / 0.8 = 1.875, got {drill_survivor_value}"
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
# Yes, up to a constant factor the network can absorb: both versions make the expected activation
# seen in training match the activation used at inference ($\mathbb{E}[m x] = (1-p)x$ on one side,
# $(1-p)x$ at test time on the other), so the learned function is the same. The inverted form puts all
# the work in training, so the inference graph is the plain network: no extra multiply, nothing to
# forget when exporting, and `p` can change between training runs without touching deployment code.

# %% [markdown]
# **Q2.** On a model with heavy dropout, the training loss printed each epoch is clearly *higher*
# than the validation loss. Is something broken? What would you check?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Not necessarily. The training loss is measured with dropout on, i.e. on randomly thinned networks
# that are weaker than the full network evaluated in eval mode on the validation set. (It is also
# averaged over the epoch while the model was still improving.) To compare like with like, evaluate
# the training set in eval mode. Then check the usual suspects: that `model.eval()` is really called
# before validation, and that the validation set is not easier than or leaking from the training set.
