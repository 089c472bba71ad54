# %% [markdown]
# # 24 · Diagnosing loss curves
#
# **Interview question:** *Your network does not train. How do you find out why, starting from its loss curves?*
#
# **After this notebook you can**
# - check the loss before the first step against its expected value, $\ln K$ for $K$ classes, and say what a
#   different value means;
# - read the six signatures of a training run (diverging, oscillating, flat, overfitting, underfitting, healthy),
#   name their usual causes and the first fix for each, and write a `diagnose` function that recognises them on
#   curves it has never seen;
# - instrument a training loop: `torch.isfinite(loss)`, the total gradient norm, the update-to-weight ratio,
#   and forward hooks that count dead ReLU units;
# - run the overfit-one-batch sanity check and read its result;
# - find the first layer that produces a NaN or an inf with forward hooks, and the backward operation that produces
#   a NaN with `torch.autograd.set_detect_anomaly`;
# - move learning rate, capacity, regularisation and label noise and watch the diagnosis change, live.
#
# **Runs on a CPU in about 15 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import copy
import html
import math
import statistics
import warnings
from collections import OrderedDict

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_split, get_device, seed_everything
from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task, run
from course_utils.testing import UnmovedTensor, assert_close, assert_moved, assert_python_float

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. Before the first step: the loss should be $\ln K$
#
# A network that has learned nothing should not prefer any class. If it outputs the uniform distribution over
# $K$ classes, its cross-entropy on every example is
#
# $$
# \ell = -\log \frac{1}{K} = \ln K : \qquad \ln 10 \approx 2.303, \quad \ln 4 \approx 1.386, \quad \ln 2 \approx 0.693 .
# $$
#
# A freshly initialised network is close to that: PyTorch's default initialisation gives logits that are small
# and nearly equal, so the softmax is nearly uniform. (This holds whatever the class frequencies are: with uniform
# outputs every example costs $\ln K$.) So **print the loss before the first step** and compare:
#
# - **much larger than $\ln K$**: the logits start large, so the network is confidently wrong from the start. The
#   usual causes are an initialisation that is too wide, or inputs that were not normalised. The first steps then
#   go into shrinking the logits, not into learning.
# - **much smaller than $\ln K$**: the network already "knows" the answer. Suspect the labels leaking into the
#   inputs, a loss that does not average over the batch as you think, or the wrong $K$.
#
# Here is an MLP on the 8×8 digits ($K = 10$), first with PyTorch's default initialisation and then with
# $\mathcal{N}(0, 1)$ weights:

# %%
x_train, y_train, x_val, y_val = (t.to(device) for t in digits_split(seed=0, n_train=300))


def digits_mlp(width: int = 64) -> nn.Module:
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))


torch.manual_seed(0)
model = digits_mlp().to(device)
with torch.no_grad():
    print(f"default init:  loss before training {F.cross_entropy(model(x_train), y_train).item():.3f}"
          f"   (ln 10 = {math.log(10):.3f})")
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 1.0)
    logits = model(x_train)
    print(f"N(0, 1) init:  loss before training {F.cross_entropy(logits, y_train).item():.3f}"
          f"   (logit std {logits.std().item():.1f}: confidently wrong)")

# %% [markdown]
# You can also make the start *exactly* right. With the last layer's weights set to 0, every logit equals the
# last bias $b$, and the initial loss is the cross-entropy between the class frequencies $\pi$ and
# $\mathrm{softmax}(b)$. With $b = 0$ that is $\ln K$. With $b_c = \ln \pi_c$ the network starts out predicting
# the class frequencies, and the loss is their entropy $H(\pi) = -\sum_c \pi_c \ln \pi_c \le \ln K$. On
# imbalanced data this spares the first steps of learning the class frequencies, a step of Karpathy's
# "init well" advice. Here are four digit classes of the full training split, kept in a 120 : 40 : 20 : 10
# imbalance:

# %%
x_all, y_all = digits_split(seed=0)[:2]
keep = torch.cat([torch.nonzero(y_all == c).flatten()[:n] for c, n in zip(range(4), (120, 40, 20, 10))])
x4, y4 = x_all[keep].to(device), y_all[keep].to(device)
print(f"class counts: {torch.bincount(y4, minlength=4).tolist()}")
prior = torch.bincount(y4, minlength=4).float() / len(y4)
head = nn.Linear(64, 4).to(device)
with torch.no_grad():
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    print(f"zero head:          loss {F.cross_entropy(head(x4), y4).item():.4f}   ln 4 = {math.log(4):.4f}")
    head.bias.copy_(prior.log())
    entropy = -(prior * prior.log()).sum().item()
    print(f"bias = log prior:   loss {F.cross_entropy(head(x4), y4).item():.4f}   H(prior) = {entropy:.4f}")

# %% [markdown]
# ## 2. Six signatures
#
# Most failed runs look like one of a few pictures. Below, the same small network (a tanh MLP of width 64 on
# 300 training digits, Adam, 150 steps) is trained six times, with one or two settings changed each time. Each point
# stands for 10 optimizer steps: the training value is the mean of those 10 mini-batch losses (as an epoch's
# mean would be), and the validation value is measured after them. The first point is the loss before training.
# `epoch_curves` turns a run of the explorer's `run` into these two lists (and appends a NaN to both when the
# run went non-finite and stopped).

# %%
curve_task = digits_mlp_task(n_train=300, activation="tanh", optimizer="adam", lr=1e-2, steps=150, eval_every=10)


def epoch_curves(history) -> tuple[list[float], list[float]]:
    """(train, val) per evaluation interval of a History: the mean mini-batch loss and the validation loss after it."""
    if not history.train_loss or not history.val_loss:
        return [math.nan], [math.nan]
    train, val = [history.train_loss[0]], [history.val_loss[0]]
    for (a, b), v in zip(zip(history.val_steps, history.val_steps[1:]), history.val_loss[1:]):
        window = history.train_loss[a:b]
        train.append(sum(window) / len(window))
        val.append(v)
    if history.diverged:
        train.append(math.nan)
        val.append(math.nan)
    return train, val


SIGNATURES = {  # what each run should show: the settings changed
    "healthy": {},
    "not_learning": {"activation": "relu", "lr": 0.3},
    "underfitting": {"weight_decay": 0.1},
    "overfitting": {"width": 128, "label_noise": 0.4},
    "oscillating": {"width": 128, "lr": 0.3},
    "diverging": {"width": 128, "lr": 3.0},
}
signature_runs = {name: run(change, curve_task) for name, change in SIGNATURES.items()}
fig, axes = plt.subplots(2, 3, figsize=(11, 5.6), layout="constrained")
for ax, (name, history) in zip(axes.flat, signature_runs.items()):
    train, val = epoch_curves(history)
    ax.plot(train, label="train (mean of 10 steps)")
    ax.plot(val, marker=".", label="validation")
    ax.axhline(math.log(10), color="0.6", ls=":", lw=1, label="ln 10")
    scale = " (log scale)" if name == "diverging" else ""
    ax.set_title(f"{name}: {', '.join(f'{k}={v}' for k, v in SIGNATURES[name].items()) or 'lr=0.01'}{scale}", fontsize=9)
    if name == "diverging":
        ax.set_yscale("log")                     # the loss climbs by orders of magnitude
    else:
        ax.set_ylim(0, 1.15 * max(max(train), max(val), math.log(10)))
    ax.grid(alpha=0.3)
axes[0, 0].legend(fontsize=7, frameon=False)
for ax in axes[1]:
    ax.set_xlabel("evaluation (10 steps each)")
plt.show()
act_std = signature_runs["not_learning"].extras["act_std"]
print("not_learning run, std of each hidden layer's output after training:", [round(v, 3) for v in act_std])

# %% [markdown]
# What each picture means, and what to try first:
#
# | signature | what you see | usual causes | first fixes |
# |---|---|---|---|
# | **diverging** | NaN or inf, often within the first steps; or a loss that climbs far above where it started | learning rate too high; exploding gradients; an init that is too wide; $\log 0$ or a division by 0; inf or NaN already in the inputs | lower the learning rate (÷10); clip the gradient norm; warm up; fused losses (`cross_entropy` on logits, `BCEWithLogitsLoss`); an $\epsilon$ in every division and log; scan the inputs with `torch.isfinite` |
# | **oscillating** | the loss jumps up and down instead of settling | learning rate too high; batches that are too small or not shuffled (sorted by class) | lower the learning rate, or decay it with a schedule; a larger batch; shuffle |
# | **flat from the start** (`not_learning`) | the loss sits near its starting value, often at $\ln K$ | learning rate far too low; vanishing gradients (sigmoid or tanh stacks, a bad init); dead ReLUs; a bug that cuts the graph (`.detach()`, `torch.no_grad()`) or a forgotten `optimizer.step()` | raise the learning rate; He init with ReLU; look at activations and gradient norms per layer (section 3); overfit one batch (section 4) |
# | **overfitting** | training loss keeps falling while the validation loss turns back up | too much capacity for too little (or too noisy) data; training too long | more regularisation (weight decay, dropout, augmentation); early stopping; more data; a smaller model |
# | **underfitting** | both curves flatten high, close together | too little capacity; too much regularisation; too few steps | a bigger model; less weight decay or dropout; train longer; a better learning rate |
# | **healthy** | both fall and flatten low, validation a little above training | | |
#
# Two signatures hide inside others. A loss that **stalls early** at a middling value is often a learning rate so
# large that the weights bounce around a valley instead of descending into it (the curve stops improving
# without blowing up): lower it or add a decay schedule. If the learning rate is fine, the model may be too small.
# And a learning rate that is too high does not always diverge. In the `not_learning` run above, the first
# steps of Adam at 0.3 throw the loss up (the spike) and push the ReLU units of the second hidden layer into
# their negative half: every one of them outputs 0 for every validation image (and 63 of the 64 for every
# training image). Those units are **dead**: their output is 0 and so is their gradient. The weights get almost
# no gradient any more (the output layer's input is almost all 0 too); only the output bias still learns, which
# is worth at most the class frequencies, so the loss sits near $\ln 10$ for good. The explorer's probe saw it:
# the standard deviation of each hidden layer's output on the validation set, after training, is printed under the
# figure (0 means a constant output). Section 3 counts dead units one by one.
#
# ## Exercise 1 · `diagnose` (graded)
#
# Write `diagnose(train_losses, val_losses)`, which names the signature of a training run. The two arguments are
# lists of Python floats of the same length $n \ge 10$, one value per epoch: the mean training loss of the epoch
# and the validation loss after it. Some may be NaN or $\pm\infty$. Let $s$ = `train_losses[0]`, the first
# training loss (positive). Define
#
# - the **end** of a curve: the mean of its last $\max(1, \lfloor n/5 \rfloor)$ values;
# - the **swing** of a curve: over its second half (the values from index $\lfloor n/2 \rfloor$ on), the median
#   of $|c_t - c_{t-1}|$ for consecutive values.
#
# Return the first of these six strings whose rule holds:
#
# 1. `"diverging"`: some value of either curve is NaN or infinite, or the end of the training curve is above $2s$;
# 2. `"oscillating"`: the swing of the training curve or of the validation curve is above $0.1\,s$;
# 3. `"not_learning"`: the end of the training curve is above $0.8\,s$;
# 4. `"overfitting"`: the end of the validation curve is above 1.3 times the lowest validation loss;
# 5. `"underfitting"`: the end of the training curve is above $0.25\,s$;
# 6. `"healthy"`: none of the above.
#
# Every threshold is relative to $s$ or to the curve itself. So the same rules work for 2 classes or 1000,
# and for a regression loss in any units. The order matters: an oscillating curve also ends high, and an
# overfitting run may still have a high training loss.
#
# **How it is graded.** The tests make up curves of each kind with a random generator (the visible test shows
# it). The hidden tests then draw new ones, with other seeds, lengths, noise levels, starting losses and curve
# shapes, and every one must be named right. Each test curve is a clear case, far from every threshold. So
# taking the **end** as the last value, or as a median of the last few values, gives the same answers, and so
# does taking the **swing** as a mean instead of a median (or as `torch.median`, which takes the lower of the
# two middle values). A rule that is fitted to the visible curves, or
# that assumes 10 classes, will not pass. Do not modify the lists you are given.

# %% nbgrader={"grade": false, "grade_id": "diagnose", "locked": false, "schema_version": 3, "solution": true, "task": false}
def diagnose(train_losses: list[float], val_losses: list[float]) -> str:
    """One of "diverging", "oscillating", "not_learning", "overfitting", "underfitting", "healthy"."""
    ### BEGIN SOLUTION
    train = [float(v) for v in train_losses]
    val = [float(v) for v in val_losses]
    if not all(math.isfinite(v) for v in train + val):
        return "diverging"
    start = train[0]
    k = max(1, len(train) // 5)

    def end(curve):
        return sum(curve[-k:]) / k

    def swing(curve):
        tail = curve[len(curve) // 2:]
        return statistics.median([abs(b - a) for a, b in zip(tail, tail[1:])])

    if end(train) > 2 * start:
        return "diverging"
    if max(swing(train), swing(val)) > 0.1 * start:
        return "oscillating"
    if end(train) > 0.8 * start:
        return "not_learning"
    if end(val) > 1.3 * min(val):
        return "overfitting"
    if end(train) > 0.25 * start:
        return "underfitting"
    return "healthy"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_diagnose_rules", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Hand-made curves: a NaN means diverging, a flat curve at ln 10 means not_learning, a clean fall means healthy;
# the answer is one of the six strings, and the lists you are given are left unchanged.
LABELS = {"diverging", "oscillating", "not_learning", "overfitting", "underfitting", "healthy"}
ln10 = math.log(10)
falling = [ln10 * (0.03 + 0.97 * math.exp(-t / 3)) for t in range(20)]
val_falling = [v + 0.1 for v in falling]
train_copy, val_copy = list(falling), list(val_falling)
answer = diagnose(falling, val_falling)
assert answer in LABELS, f"diagnose must return one of {sorted(LABELS)}, got {answer!r}"
assert falling == train_copy and val_falling == val_copy, "diagnose modified the lists it was given"
assert answer == "healthy", f"both curves fall to a few percent of the first loss and stay there: expected 'healthy', got {answer!r}"
with_nan = falling[:12] + [math.nan] * 8
assert diagnose(with_nan, val_falling) == "diverging", "a NaN in the training losses means 'diverging'"
flat = [ln10 * (1 - 0.002 * t) for t in range(20)]
assert diagnose(flat, [v + 0.01 for v in flat]) == "not_learning", \
    "a training loss that stays within a few percent of ln 10 is 'not_learning'"
### BEGIN HIDDEN TESTS
n = 30
base = [0.02 + 0.98 * math.exp(-t / 4) for t in range(n)]
# an infinite validation loss alone is enough
val_inf = [b + 0.1 for b in base]
val_inf[-5:] = [math.inf] * 5
assert diagnose([ln10 * b for b in base], [ln10 * v for v in val_inf]) == "diverging", \
    "an infinite value in the validation losses alone means 'diverging' (check both curves for NaN and inf)"
val_nan = [b + 0.1 for b in base]
val_nan[3] = math.nan
assert diagnose([ln10 * b for b in base], [ln10 * v for v in val_nan]) == "diverging", \
    "a single NaN in the validation losses means 'diverging'"
# a finite blow-up: the loss ends many times above where it started, without any NaN
blow = [b if t < 12 else b * math.exp(0.6 * (t - 12)) for t, b in enumerate(base)]
assert diagnose([ln10 * v for v in blow], [ln10 * (v + 0.1) for v in blow]) == "diverging", \
    "a training loss that ends far above its first value (no NaN) is 'diverging'"
# oscillation around a high level: must win over not_learning (rule 2 comes before rule 3)
osc = [1.0 if t == 0 else (0.95 + 0.3 * (-1) ** t) for t in range(n)]
assert diagnose([ln10 * v for v in osc], [ln10 * (v + 0.05) for v in osc]) == "oscillating", \
    "a loss that jumps up and down around a level near its start is 'oscillating' (rule 2 comes before rule 3)"
# only the validation curve swings
val_osc = [b + 0.3 + (0.25 * (-1) ** t if t >= 3 else 0.0) for t, b in enumerate(base)]
assert diagnose([ln10 * b for b in base], [ln10 * v for v in val_osc]) == "oscillating", \
    "a validation curve that jumps up and down is 'oscillating' even when the training curve is smooth"
# overfitting while the training loss is still above 0.25 s: must win over underfitting (rule 4 before rule 5)
train_mid = [0.35 + 0.65 * math.exp(-t / 4) for t in range(n)]
val_up = [0.5 + 0.5 * math.exp(-t / 3) + max(0, t - 10) * 0.04 for t in range(n)]
assert diagnose([ln10 * v for v in train_mid], [ln10 * v for v in val_up]) == "overfitting", \
    "a validation loss that ends far above its lowest value is 'overfitting', even if the training loss is still high"
underfit = [0.5 + 0.5 * math.exp(-t / 4) for t in range(n)]
assert diagnose([ln10 * v for v in underfit], [ln10 * (v + 0.03) for v in underfit]) == "underfitting", \
    "both curves flattening at about half of the first loss is 'underfitting'"
# the rules are relative: scaling both curves changes nothing
for scale in (1e-3, 1.0, 50.0):
    for train_c, val_c, label in ((base, [b + 0.05 for b in base], "healthy"), (underfit, [v + 0.03 for v in underfit], "underfitting"),
                                  (train_mid, val_up, "overfitting")):
        got = diagnose([scale * v for v in train_c], [scale * v for v in val_c])
        assert got == label, (f"multiplying both curves by a constant (another loss scale) should not change the "
                              f"diagnosis: expected {label!r}, got {got!r}; make every threshold relative to s")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_diagnose_heldout", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Curves made up by a random generator (labelled_curves below: read it, and call it yourself to test your rules):
# 5 of each kind, 40 epochs, 1% noise, starting at ln 10. Every one must be named right. The hidden part of this
# cell draws many more with other seeds, lengths, noise levels, starting losses and shapes.
KINDS = ("diverging", "oscillating", "not_learning", "overfitting", "underfitting", "healthy")


def labelled_curves(kind, n_epochs, noise, generator, start=math.log(10), shape="exp"):
    """A made-up (train, val) pair of Python-float lists showing `kind`, starting near `start`.

    noise: the std of a multiplicative log-normal noise on every value; shape: "exp" or "power" decay. A draw that
    is not a clear case (a statistic too close to a threshold of exercise 1) is thrown away and drawn again.
    """
    g, n = generator, n_epochs
    t = torch.linspace(0, 1, n, dtype=torch.float64)

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand((), generator=g, dtype=torch.float64).item()

    def fall(floor, tau):  # from 1 down towards floor
        f = torch.exp(-t / tau) if shape == "exp" else (1 + t / tau) ** -2.0
        return floor + (1 - floor) * f

    def jumpy(level, amplitude):  # level times (1 + amplitude * uniform(-1, 1)), swinging only after 20% of training
        ramp = (t / 0.2).clamp(max=1.0)
        return level * (1 + ramp * amplitude * (2 * torch.rand(n, generator=g, dtype=torch.float64) - 1))

    def clear(train, val):  # curves divided by train[0]; margins around every threshold of exercise 1
        k = max(1, n // 5) + 1  # every value of the end window passes, also for a window one longer
        finite = bool(torch.isfinite(train).all() and torch.isfinite(val).all())
        if kind == "diverging":
            return not finite or bool((train[-k:] >= 3).all())
        if not finite or not bool((train[-k:] <= 1.5).all()):
            return False
        h = n // 2  # the swing, as a median, lower or upper median, or mean, over a second half starting one early or late
        stats = (statistics.median, statistics.median_low, statistics.median_high, statistics.fmean)
        swings = [[fn((c[a + 1:] - c[a:-1]).abs().tolist()) for fn in stats for a in (h - 1, h, h + 1)]
                  for c in (train, val)]
        if kind == "oscillating":
            return min(swings[0]) >= 0.18 or min(swings[1]) >= 0.18
        if max(swings[0] + swings[1]) > 0.05:
            return False
        if kind == "not_learning":
            return bool((train[-k:] >= 0.88).all())
        if not bool((train[-k:] <= 0.72).all()):
            return False
        if kind == "overfitting":
            return bool((val[-k:] >= 1.5 * val.min()).all())
        if not bool((val[-k:] <= 1.15 * val.min()).all()):
            return False
        if kind == "underfitting":
            return bool((train[-k:] >= 0.32).all())
        return bool((train[-k:] <= 0.19).all())

    for _ in range(200):
        tau = u(0.05, 0.25)
        if kind == "healthy":
            low = u(0.005, 0.12)
            train, val = fall(low, tau), fall(low + u(0.02, 0.15), tau * u(0.8, 1.3))
        elif kind == "underfitting":
            low = u(0.38, 0.65)
            train, val = fall(low, tau), fall(low + u(0.0, 0.05), tau * u(0.8, 1.3))
        elif kind == "not_learning":
            drift = u(0.0, 0.06)
            train = 1 - drift * t
            val = (1 + u(-0.03, 0.03)) * train
        elif kind == "overfitting":
            low = u(0.005, 0.35)
            best, turn = low + u(0.05, 0.35), u(0.15, 0.5)
            train = fall(low, tau)
            val = fall(best, tau * u(0.5, 1.0)) + (t - turn).clamp(min=0) / (1 - turn) * u(0.7, 1.6) * best
        elif kind == "oscillating":
            level, amplitude = fall(u(0.55, 0.8), u(0.03, 0.1)), u(0.55, 0.75)
            val = jumpy(1.05 * level, amplitude)
            train = jumpy(level, amplitude) if u(0, 1) < 0.6 else fall(u(0.3, 0.6), tau)
        elif kind == "diverging":
            variant, low = int(torch.randint(0, 4, (), generator=g)), u(0.05, 0.4)
            train, val = fall(low, tau), fall(low + 0.05, tau)
            if variant == 0:  # NaN within the first epochs
                first = int(torch.randint(1, 3, (), generator=g))
                train[first:], val[first - 1:] = math.nan, math.nan
            else:  # a blow-up from some epoch on
                t0 = int(n * u(0.2, 0.6))
                rate = math.log(u(5, 1e4) / low) / max(1, int(0.8 * n) - t0)
                grow = torch.exp(rate * (torch.arange(n, dtype=torch.float64) - t0).clamp(min=0))
                train, val = train * grow, val * grow * 1.1
                if variant == 2:  # overflow to inf, then NaN
                    cut = int(n * u(0.7, 0.95))
                    train[cut], train[cut + 1:], val[cut:] = math.inf, math.nan, math.nan
                elif variant == 3:  # only the validation loss overflows
                    train = fall(low, tau)
                    val[int(n * u(0.5, 0.95)):] = math.inf
        else:
            raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
        train = train * torch.exp(noise * torch.randn(n, generator=g, dtype=torch.float64))
        val = val * torch.exp(noise * torch.randn(n, generator=g, dtype=torch.float64))
        if clear(train / train[0], val / train[0]):
            return (train * start).tolist(), (val * start).tolist()
    raise RuntimeError(f"could not draw a clear {kind!r} curve")


def check_curves(cases, what):
    """cases: [(kind, (train, val))]. Every curve must get its own kind; report the confusions."""
    wrong = {}
    for kind, (train, val) in cases:
        got = diagnose(list(train), list(val))
        if got != kind:
            wrong.setdefault(kind, set()).add(got)
    assert not wrong, f"{what}: " + "; ".join(f"some {k!r} curves were diagnosed as {sorted(map(repr, v))}"
                                              for k, v in sorted(wrong.items()))


visible = torch.Generator().manual_seed(0)
check_curves([(kind, labelled_curves(kind, 40, 0.01, visible)) for kind in KINDS for _ in range(5)],
             what="curves from labelled_curves(kind, 40, 0.01, torch.Generator().manual_seed(0))")
### BEGIN HIDDEN TESTS
held_out = torch.Generator().manual_seed(20240611)
cases = []
for i in range(240):
    kind = KINDS[i % 6]
    n_epochs = int(torch.randint(12, 101, (), generator=held_out))
    noise = (0.0, 0.003, 0.008, 0.015, 0.02)[i // 6 % 5]
    start = (math.log(2), math.log(10), math.log(100), math.log(1000), 37.5, 0.004)[i // 30 % 6]
    shape = ("exp", "power")[i // 12 % 2]
    cases.append((kind, labelled_curves(kind, n_epochs, noise, held_out, start=start, shape=shape)))
check_curves(cases, what="held-out curves (new seeds, lengths, noise levels, starting losses and decay shapes)")
### END HIDDEN TESTS

# %% [markdown]
# Your `diagnose` on the six real runs of section 2:

# %%
for name, history in signature_runs.items():
    print(f"{name:>13} run -> diagnose says {diagnose(*epoch_curves(history))!r}")

# %% [markdown]
# A rule of thumb is not a diagnosis. The thresholds are conventions of this exercise, not laws. A run on
# labels of which 40% are wrong cannot push its training loss much below the entropy of the label noise
# without memorising the wrong labels: `diagnose` calls such a curve `underfitting`, yet the model may be as good as the data allow. A rule sees two
# curves; you can also look at the data, the gradients and the activations. The next sections do that.
#
# ## 3. Instruments
#
# When a curve looks wrong, measure instead of guessing. Four instruments are cheap enough to leave in every
# training loop:
#
# - **`torch.isfinite(loss)`**: stop (or skip the step) the moment the loss is NaN or inf, and save the batch that
#   did it. A NaN that is allowed to reach `optimizer.step()` poisons every weight it touches. Scan the inputs too:
#   `torch.isfinite(x).all()`.
# - **The total gradient norm** $\lVert g \rVert_2 = \sqrt{\sum_{p} \lVert \nabla_p L \rVert_2^2}$, over all
#   parameters $p$. `torch.nn.utils.get_total_norm` computes it from a list of the gradients, and `clip_grad_norm_` returns it (the norm
#   *before* clipping), so logging it costs nothing when you clip anyway. Spikes often come before divergence.
# - **The update-to-weight ratio** $\lVert \Delta W \rVert / \lVert W \rVert$ per layer, over one step. A rule of
#   thumb from Stanford's CS231n puts a healthy value near $10^{-3}$ (for SGD). Far above, each step rewrites a
#   large part of the layer; far below, the layer hardly moves.
# - **Forward hooks** on the activations: the fraction of ReLU outputs that are 0, and the units that are 0 for
#   every example of a batch (dead).
#
# Here are the first three, logged at every step of the ReLU MLP of section 1, with Adam at three learning rates:

# %%
def train_logged(model, lr, steps=150, batch_size=64, seed=0):
    """Adam on the digits. Returns, per step: the loss, the total gradient norm (before clipping), and
    ||dW|| / ||W|| of every nn.Linear weight over that step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    losses, norms, ratios = [], [], []
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (batch_size,), generator=g).to(device)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        if not torch.isfinite(loss):
            print(f"non-finite loss at step {len(losses)}: stopping")
            break
        opt.zero_grad()
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf).item())  # inf: log, do not clip
        before = [w.detach().clone() for w in weights]
        opt.step()
        ratios.append([((w.detach() - b).norm() / b.norm()).item() for w, b in zip(weights, before)])
        losses.append(loss.item())
    return losses, norms, ratios


torch.manual_seed(0)
probe = digits_mlp().to(device)
F.cross_entropy(probe(x_train), y_train).backward()
grads = [p.grad for p in probe.parameters()]
print(f"total gradient norm: by hand {math.sqrt(sum(g.pow(2).sum().item() for g in grads)):.6f}"
      f" | get_total_norm {torch.nn.utils.get_total_norm(grads).item():.6f}")

logged, logs = {}, {}
for lr in (1e-4, 1e-2, 0.3):
    torch.manual_seed(0)
    logged[lr] = digits_mlp().to(device)
    logs[lr] = train_logged(logged[lr], lr)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), layout="constrained")
for lr, (losses, norms, ratios) in logs.items():
    axes[0].plot(losses, lw=1, label=f"lr={lr:g}")
    axes[1].plot(norms, lw=1, label=f"lr={lr:g}")
    axes[2].plot([r[1] for r in ratios], lw=1, label=f"lr={lr:g}")
axes[0].axhline(math.log(10), color="0.6", ls=":", lw=1, label="ln 10")
axes[2].axhline(1e-3, color="0.6", ls="--", lw=1, label="1e-3")
axes[0].set(ylabel="mini-batch loss", title="loss")
axes[1].set(ylabel="total gradient norm", title="gradient norm")
axes[2].set(ylabel="||dW|| / ||W||", title="update-to-weight ratio, middle layer")
for ax in axes:
    ax.set(xlabel="step", yscale="log")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
plt.show()
for lr, (losses, norms, ratios) in logs.items():
    print(f"lr={lr:<6g} last loss {losses[-1]:.4f} | gradient norm: first {norms[0]:.2f}, max {max(norms):.1f}, "
          f"last {norms[-1]:.4f} | middle-layer ratio: first step {ratios[0][1]:.1e}, last step {ratios[-1][1]:.1e}")

# %% [markdown]
# Read the three runs from left to right:
#
# - $\eta = 10^{-4}$: the ratio sits near $10^{-3}$ all along, and the loss creeps down. Fine, but slow: 150
#   steps are not enough.
# - $\eta = 10^{-2}$: the first step changes each layer by about a tenth of its size. Adam's first step moves
#   every weight by about $\eta$, whatever the size of its gradient, and a default-initialised weight here is
#   about 0.07 in size, so the ratio starts near $14\eta$. Then the loss heads to 0, and the gradient norm and
#   the ratio fall with it: the model has little left to learn.
# - $\eta = 0.3$: the first steps change each layer by several times its own size. The loss and the gradient norm
#   spike, then the loss stops improving at about 2 ($\ln 10 \approx 2.3$), and the ratio decays towards 0:
#   the weights get almost no gradient any more, and what still moves them is Adam's momentum, dying away. The network has stopped learning, even
#   though the gradient norm has not gone to 0.
#
# Which gradient is left? Per-parameter norms on the whole training set (a loop over `named_parameters()`)
# answer at once:

# %%
dead_model = logged[0.3]
dead_model.zero_grad()
F.cross_entropy(dead_model(x_train), y_train).backward()
for name, p in dead_model.named_parameters():
    print(f"lr=0.3 model, gradient norm of {name:>8}: {p.grad.norm().item():.1e}")

# %% [markdown]
# Only the output bias still gets a gradient; the others are at the level of rounding error. A tiny gradient everywhere but at the
# output is the mark of vanishing gradients or dead units. Which is it here? A forward hook is a function that
# PyTorch calls after a module's `forward`, as `hook(module, inputs, output)`. Here one counts, for every ReLU,
# the fraction of its outputs that are 0 on the validation set and the units that are 0 for every validation
# image:

# %%
def relu_report(model, x):
    """{name: (fraction of outputs that are 0, number of dead units, number of units)} for every nn.ReLU."""
    report, handles = {}, []

    def make_hook(name):
        def hook(module, inputs, output):
            zero = output <= 0                      # (N, units)
            report[name] = (zero.float().mean().item(), int(zero.all(dim=0).sum()), output.shape[1])
        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.ReLU):
            handles.append(module.register_forward_hook(make_hook(name)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()                              # always: a forgotten hook runs on every later forward pass
    return report


for lr in (1e-2, 0.3):
    for name, (zero_frac, dead, units) in relu_report(logged[lr], x_val).items():
        print(f"lr={lr:<5} ReLU {name}: {zero_frac:6.1%} of outputs are 0, {dead:2d} of {units} units dead")

# %% [markdown]
# At $\eta = 0.3$ the first Adam steps, about $\eta$ for every weight, push the pre-activations of the second
# ReLU so far negative that most of its units never fire again, on any input, and the few that are left fire
# for only a few images. A dead unit gets no gradient, so its own weights cannot bring it back. The cures are a lower learning
# rate (with warmup), or a LeakyReLU, whose negative side keeps a gradient (GELU's fades away far below 0).
#
# ## 4. Overfit one batch
#
# The most useful sanity check before any long run: take **one** small batch and train on it alone. A model with
# enough parameters can memorise a few dozen examples, so with Adam at $\eta = 10^{-2}$ the loss should fall
# to about 0 within 100 or so steps. If it does not, look for a bug in the model, the loss or the loop before
# you tune anything:
#
# - stuck at $\ln K$: no weight moves. The optimizer holds other parameters than the model's, `optimizer.step()`
#   is never called, or the graph is cut before every weight (a `.item()` or `.detach()` wrapped back into a new
#   tensor; a cut partway leaves the layers after it learning);
# - stuck at a floor above 0: the loss is fed the wrong thing, such as probabilities instead of logits (a double
#   softmax) or labels that do not match the outputs;
# - falling, then jumping back up: the gradients are not zeroed between steps. Noisy and never low: dropout so
#   heavy that nothing can be memorised.
#
# It costs a few seconds, and it separates "my code is wrong" from "my model needs tuning".
#
# ## Exercise 2 · `overfit_one_batch` (graded)
#
# Write `overfit_one_batch(model, batch, steps=100, lr=1e-2, loss_fn=F.cross_entropy)`:
#
# - `batch` is a pair `(x, y)` (a tuple or a list). Move both to the device of the model's parameters
#   (`next(model.parameters()).device`). Do not modify them in place.
# - Put the model in training mode (`model.train()`). The caller may hand it over in eval mode, and BatchNorm
#   and dropout behave differently in the two modes.
# - Build `torch.optim.Adam(model.parameters(), lr=lr)` (its other settings at their defaults), then take `steps`
#   steps on the same batch: zero the gradients, compute `loss_fn(model(x), y)`, backpropagate, step.
# - Return the list of the `steps` losses as **Python floats**, each one measured *before* its step (the first
#   is the loss of the model you were given).
#
# The model is trained in place, and nothing else is required. The tests compare your losses with a reference
# loop on an identical copy of the model, on models with BatchNorm and with a regression loss too.

# %% nbgrader={"grade": false, "grade_id": "overfit_one_batch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def overfit_one_batch(model: nn.Module, batch, steps: int = 100, lr: float = 1e-2, loss_fn=F.cross_entropy) -> list[float]:
    """Train `model` on the single batch (x, y) with Adam; return the loss before each step."""
    ### BEGIN SOLUTION
    param_device = next(model.parameters()).device
    x, y = batch
    x, y = x.to(param_device), y.to(param_device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_overfit_one_batch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A list of `steps` Python floats; the first is the loss of the model as given; the same losses as a reference
# Adam loop on a copy of the model; and a small MLP memorises 16 examples (loss below 0.05 after 100 steps).
def reference_losses(model, x, y, steps, lr, loss_fn):
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        out.append(loss.item())
    return out


torch.manual_seed(0)
net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 4)).double()
xb = torch.randn(16, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
yb = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(2))
twin = copy.deepcopy(net)
with torch.no_grad():
    first = F.cross_entropy(net(xb), yb).item()
with warnings.catch_warnings():  # a harmless warning from your code (e.g. float(loss)) must not cost points
    warnings.simplefilter("ignore")
    losses = overfit_one_batch(net, (xb, yb), steps=100)
assert isinstance(losses, list) and len(losses) == 100, \
    f"expected a list of 100 losses, got {type(losses).__name__} of length {len(losses) if hasattr(losses, '__len__') else '?'}"
for value in losses:
    assert_python_float(value, what="each loss returned by overfit_one_batch")
assert abs(losses[0] - first) <= 1e-9 * first, f"the first loss should be the untrained model's loss {first:.6f} (measured before the first step), got {losses[0]}"
expected = reference_losses(twin, xb, yb, 100, 1e-2, F.cross_entropy)
assert_close(torch.tensor(losses), torch.tensor(expected), rtol=1e-6, atol=1e-9,
             what="losses of overfit_one_batch (Adam, lr=1e-2; zero the gradients, loss, backward, step)")
assert losses[-1] < 0.05, f"an 8-32-4 MLP should memorise 16 examples: last loss {losses[-1]:.4f}, expected below 0.05"
### BEGIN HIDDEN TESTS
def compare(make_model, x, y, what, steps=40, lr=1e-2, loss_fn=F.cross_entropy, as_list=False, eval_first=False):
    torch.manual_seed(3)
    model = make_model()
    if eval_first:
        model.eval()
    twin = copy.deepcopy(model)
    x_before, y_before = x.clone(), y.clone()
    batch = [x, y] if as_list else (x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = overfit_one_batch(model, batch, steps=steps, lr=lr, loss_fn=loss_fn)
    assert torch.equal(x, x_before) and torch.equal(y, y_before), f"{what}: the batch was modified in place"
    assert isinstance(got, list) and len(got) == steps, f"{what}: expected a list of `steps` losses"
    for value in got:
        assert_python_float(value, what=f"{what}: each loss")
    want = reference_losses(twin, x, y, steps, lr, loss_fn)
    assert_close(torch.tensor(got), torch.tensor(want), rtol=1e-6, atol=1e-9, what=f"{what}: losses")
    for p, q in zip(model.parameters(), twin.parameters()):
        assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-9, what=f"{what}: the model's weights after training (train it in place)")
    return got


g = torch.Generator().manual_seed(5)
x6 = torch.randn(24, 6, dtype=torch.float64, generator=g)
y6 = torch.randint(0, 3, (24,), generator=g)
compare(lambda: nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).double(), x6, y6,
        "another learning rate and number of steps", steps=25, lr=3e-3)
compare(lambda: nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)).double(), x6, y6,
        "a model with BatchNorm handed over in eval mode (call model.train())", eval_first=True)
y_reg = torch.randn(24, 2, dtype=torch.float64, generator=g)
compare(lambda: nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2)).double(), x6, y_reg,
        "a regression model with loss_fn=F.mse_loss (use the loss_fn argument)", loss_fn=F.mse_loss)
compare(lambda: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double(), x6, y6,
        "a batch given as a list [x, y]", steps=5, as_list=True)
one = compare(lambda: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double(), x6, y6, "steps=1", steps=1)
assert len(one) == 1, "steps=1 returns one loss"
# the batch is moved to the parameters' device: on the CPU, a marked tensor loses its mark only when moved
seen = {}


class Spy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3).double()

    def forward(self, x):
        seen["x"] = x
        return self.fc(x)


def spy_loss(out, y):
    seen["y"] = y
    return F.cross_entropy(out, y)


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    overfit_one_batch(Spy(), (x6.as_subclass(UnmovedTensor), y6.as_subclass(UnmovedTensor)), steps=2, loss_fn=spy_loss)
assert_moved(seen["x"], what="overfit_one_batch: x (move it with .to(the parameters' device))")
assert_moved(seen["y"], what="overfit_one_batch: y (move it with .to(the parameters' device))")
### END HIDDEN TESTS

# %% [markdown]
# Now use it to catch a bug. Both models below get the same 32 digits. The second ends in `nn.Softmax`, so
# `cross_entropy` applies a second softmax to numbers that are already probabilities. The logits it sees lie in
# $[0, 1]$, and even a perfect one-hot "prediction" costs $\ln(1 + (K-1)/e)$, not 0:

# %%
xb, yb = x_train[:32], y_train[:32]
for name, extra in (("logits (correct)", []), ("softmax in the model (bug)", [nn.Softmax(dim=1)])):
    torch.manual_seed(0)
    model = nn.Sequential(*digits_mlp(), *extra).to(device)
    losses = overfit_one_batch(model, (xb, yb), steps=100)
    print(f"{name:>27}: first {losses[0]:.3f}, after 100 steps {losses[-1]:.4f}")
print(f"{'floor of the double softmax':>27}: ln(1 + 9/e) = {math.log(1 + 9 / math.e):.4f}")

# %% [markdown]
# ## 5. Where does the NaN come from?
#
# A NaN in the loss is the end of a chain: some operation made the first NaN or inf, and everything downstream
# inherited it. The question is where the chain starts, and there are two places to look.
#
# **Forward.** Put a forward hook on every module and record the first one, in the order they run, whose output
# is not finite. `model.named_modules()` gives every module with its qualified name (`"encoder.1.norm"`), the
# model itself first with the name `""`. A hook fires when its module's `forward` returns, so a container fires
# *after* its children, and the first module to fire with a bad output is where the chain starts (unless the input already held a NaN
# or an inf).
#
# ## Exercise 3 · `first_nonfinite_layer` (graded)
#
# Write `first_nonfinite_layer(model, x)`, which runs `model(x)` once and returns the qualified name (as
# `named_modules()` spells it) of the first submodule, **in the order the modules run**, whose output contains a
# NaN or an inf (either counts). If no submodule's output does, return `None`.
#
# - Hook every submodule: every entry of `model.named_modules()` except the model itself (name `""`), nested
#   ones included. The order the modules run in need not be the order they were registered in.
# - A module's output may be a tensor or a tuple or list of tensors, possibly nested, as with `nn.LSTM`'s
#   `(output, (h_n, c_n))`. Check every tensor in it; ignore anything that is not a tensor.
# - **Remove every hook before returning**, also when the forward pass raises an exception (let the exception
#   propagate). A forgotten hook keeps running on every later forward pass.
# - Do not change the model: no `model.eval()` or `model.train()`, no change to its weights.

# %% nbgrader={"grade": false, "grade_id": "first_nonfinite_layer", "locked": false, "schema_version": 3, "solution": true, "task": false}
def first_nonfinite_layer(model: nn.Module, x: torch.Tensor) -> str | None:
    """Name of the first submodule (in execution order) whose output holds a NaN or an inf; None if none does."""
    ### BEGIN SOLUTION
    found = []

    def tensors(obj):
        if isinstance(obj, torch.Tensor):
            yield obj
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                yield from tensors(item)

    def make_hook(name):
        def hook(module, inputs, output):
            if not found and any(not torch.isfinite(t).all() for t in tensors(output)):
                found.append(name)
        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_first_nonfinite_layer", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A weight set to inf in layer "2" of a Sequential: the answer is "2" (every later layer is non-finite too);
# a healthy model gives None; no hook is left behind on any module.
def hooks_left(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


torch.manual_seed(0)
seq = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
x5 = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
assert first_nonfinite_layer(seq, x5) is None, "a model whose outputs are all finite should give None"
assert hooks_left(seq) == 0, "hooks were left on the model: remove every hook before returning"
with torch.no_grad():
    seq[2].weight[0, 0] = math.inf
answer = first_nonfinite_layer(seq, x5)
assert answer == "2", f"layer '2' has an infinite weight, so its output is the first non-finite one: expected '2', got {answer!r}"
assert hooks_left(seq) == 0, "hooks were left on the model: remove every hook before returning"
### BEGIN HIDDEN TESTS
class Exp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


class OutOfOrder(nn.Module):
    """Registers `late` before `early`, but runs `early` first."""

    def __init__(self):
        super().__init__()
        self.late = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
        self.early = nn.Sequential(nn.Linear(4, 4), Exp())

    def forward(self, x):
        return self.late(self.early(x))


# inf only (no NaN): exp of a large number; the Linear after it turns inf into NaN
x4 = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
ooo = OutOfOrder()
with torch.no_grad():
    ooo.early[0].weight.fill_(0.0)
    ooo.early[0].bias.fill_(500.0)
ooo.eval()
assert first_nonfinite_layer(ooo, x4) == "early.1", (
    "an output of +inf counts (check with torch.isfinite, not only isnan); modules are compared in the order they "
    "run, not the order they were registered; nested modules are named with dots")
assert not ooo.training, "first_nonfinite_layer must not change the model's train/eval mode"
assert hooks_left(ooo) == 0, "hooks were left on the model"
ooo.train()
first_nonfinite_layer(ooo, x4)
assert ooo.training, "first_nonfinite_layer must not change the model's train/eval mode"


# nested containers: the innermost module is named, not its parent
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)

    def forward(self, x):
        return torch.relu(self.norm(self.fc(x)))


deep = nn.Sequential(OrderedDict(stem=nn.Linear(6, 6), blocks=nn.Sequential(Block(), Block(), Block()), head=nn.Linear(6, 2)))
with torch.no_grad():
    deep.blocks[1].norm.weight[2] = math.nan
x6 = torch.randn(5, 6, generator=torch.Generator().manual_seed(2))
w_before = [p.detach().clone() for p in deep.parameters()]
answer = first_nonfinite_layer(deep, x6)
assert answer == "blocks.1.norm", ("hook every module of named_modules() (nested ones too) and return the full "
                                   f"dotted name of the first that outputs a NaN; got {answer!r}")
assert all(torch.equal(a.nan_to_num(), b.detach().nan_to_num()) for a, b in zip(w_before, deep.parameters())), \
    "first_nonfinite_layer must not change the model's weights"


# tuple outputs: an LSTM returns (output, (h_n, c_n))
class Last(nn.Module):
    def forward(self, out):
        return out[0][:, -1]


rnn = nn.Sequential(OrderedDict(lstm=nn.LSTM(3, 5, batch_first=True), last=Last(), head=nn.Linear(5, 2)))
with torch.no_grad():
    rnn.lstm.weight_hh_l0[0, 0] = math.nan
seq_x = torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(3))
answer = first_nonfinite_layer(rnn, seq_x)
assert answer == "lstm", ("a module whose output is a tuple (nn.LSTM: (output, (h_n, c_n))) must be checked tensor by "
                          f"tensor; expected the LSTM's name, got {answer!r}")
assert hooks_left(rnn) == 0, "hooks were left on the model"
# a NaN already in the input: the first module to run is named
healthy = nn.Sequential(OrderedDict(a=nn.Linear(4, 4), b=nn.ReLU(), c=nn.Linear(4, 1)))
bad_x = x4.clone()
bad_x[0, 0] = math.nan
assert first_nonfinite_layer(healthy, bad_x) == "a", "with a NaN in the input, the first module to run outputs NaN first"
assert first_nonfinite_layer(healthy, x4) is None, "a healthy model gives None"


# hooks are removed even when the forward pass raises
class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.out = nn.Linear(7, 1)  # wrong input size: raises

    def forward(self, x):
        return self.out(self.fc(x))


broken = Broken()
try:
    first_nonfinite_layer(broken, x4)
    raised = False
except RuntimeError:
    raised = True
assert raised, "an exception raised by the forward pass should propagate"
assert hooks_left(broken) == 0, "hooks must be removed even when the forward pass raises (use try/finally)"
### END HIDDEN TESTS

# %% [markdown]
# A realistic case: a layer that scales each row to unit length, $x / \lVert x \rVert$, placed after a ReLU.
# If every ReLU unit is 0 for some input (dead units again), the row's norm is 0 and $0/0$ = NaN. Here the
# first layer's biases are pushed negative to make that happen:

# %%
class RowNorm(nn.Module):
    """x / ||x|| per row, without an epsilon: the bug."""

    def forward(self, x):
        return x / x.norm(dim=1, keepdim=True)


torch.manual_seed(0)
model = nn.Sequential(OrderedDict(fc1=nn.Linear(64, 16), act=nn.ReLU(), norm=RowNorm(), fc2=nn.Linear(16, 10))).to(device)
with torch.no_grad():
    model.fc1.bias.fill_(-2.5)
    loss = F.cross_entropy(model(x_val), y_val)
print(f"loss: {loss.item()} | first non-finite layer: {first_nonfinite_layer(model, x_val)!r}")
print(f"rows whose every ReLU output is 0: {(model.act(model.fc1(x_val)) == 0).all(dim=1).sum().item()} of {len(x_val)}")


class SafeRowNorm(nn.Module):
    def forward(self, x):
        return F.normalize(x, dim=1)                           # x / max(||x||, 1e-12)


model.norm = SafeRowNorm()
with torch.no_grad():
    print(f"with F.normalize: loss {F.cross_entropy(model(x_val), y_val).item():.4f}, "
          f"first non-finite layer: {first_nonfinite_layer(model, x_val)!r}")

# %% [markdown]
# **Backward.** A forward pass can be perfectly finite while the gradient is NaN. The classic case is a
# `torch.where` that guards a function outside its domain. The forward value is fine, because `where` picks the
# safe branch. The backward pass still runs through the unsafe branch, where it multiplies a zero gradient by
# an infinite or NaN local derivative, and $0 \cdot \infty$ = NaN. Hooks see nothing. Anomaly mode,
# `torch.autograd.set_detect_anomaly(True)`, records a traceback of every forward operation. It then checks the
# output of every backward function and raises at the first that returns a NaN, with a warning that shows the
# forward line that created it. It slows everything down, so turn it on only for debugging: use it as a
# context manager, as here (`with torch.autograd.detect_anomaly():` does the same), or call it with `True`
# and later with `False`.

# %%
x = torch.tensor([-1.0, 0.5, 4.0], device=device, requires_grad=True)
y = torch.where(x > 0, torch.sqrt(x), torch.zeros_like(x))    # sqrt(-1) = NaN, but where() discards it
y.sum().backward()
print(f"forward {y.detach().tolist()} (finite) | gradient {x.grad.tolist()} (NaN at x = -1)")

x.grad = None
with warnings.catch_warnings(record=True) as caught, torch.autograd.set_detect_anomaly(True):
    warnings.simplefilter("always")                            # keep anomaly mode's report out of stderr: print it
    y = torch.where(x > 0, torch.sqrt(x), torch.zeros_like(x))
    try:
        y.sum().backward()
    except RuntimeError as err:
        print("RuntimeError:", err)
for w in caught:
    lines = [line for line in str(w.message).splitlines() if line.strip() and "Triggered internally" not in line]
    print(lines[0], "...", *lines[-2:], sep="\n  ")
print("anomaly mode still on after the block:", torch.is_anomaly_enabled())

safe = torch.where(x > 0, torch.sqrt(torch.where(x > 0, x, torch.ones_like(x))), torch.zeros_like(x))
safe.sum().backward()
print(f"the fix (a safe input inside the unsafe branch): gradient {x.grad.tolist()}")

# %% [markdown]
# ## 6. Explorer: make it fail, on purpose
#
# This is the notebook's centrepiece: the tanh MLP of section 2 on 300 training digits, with four knobs that
# break training in different ways. The **learning rate** (Adam), the **width** of the two hidden layers
# (capacity), the **weight decay** (regularisation: Adam's L2 penalty) and the fraction of training labels
# that are **wrong**. The status line shows *your* `diagnose` of each run, on the curves of `epoch_curves` (one
# point per 10 steps), as it happens.

# %%
class DiagnosingExplorer(LossCurveExplorer):
    """The loss-curve explorer, with diagnose() of the run shown in its status line."""

    def update(self):
        history = super().update()
        if history is not None:
            try:
                verdict = f"diagnosis: <b>{html.escape(str(diagnose(*epoch_curves(history))))}</b>"
            except NotImplementedError:
                verdict = "diagnosis: <i>write diagnose() in exercise 1 first</i>"
            except Exception as exc:  # noqa: BLE001 - a bug in diagnose() must not break the explorer
                verdict = f'<span style="color:#c00000">diagnose() raised {html.escape(type(exc).__name__)}</span>'
            self.status.value += " · " + verdict
        return history


DiagnosingExplorer(
    curve_task,
    knobs=[
        Knob.log_slider("lr", 1e-4, 3.0, 1e-2, description="learning rate"),
        Knob.dropdown("width", [4, 16, 64, 128], 64),
        Knob.dropdown("weight_decay", [0.0, 1e-3, 1e-2, 3e-2, 1e-1], 0.0, description="weight decay"),
        Knob.slider("label_noise", 0.0, 0.5, 0.0, step=0.1, description="label noise"),
    ],
    prompt="Which learning rate first makes the run oscillate, and which makes it diverge?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Sweep the learning rate from $10^{-4}$ to 3 at width 64. Name the diagnosis you expect at each end, and in
#    the middle, before you look. Where does the healthy range end? Why does $10^{-4}$ get the name the table gives a
#    model that is too small?
# 2. Width 128, label noise 0.4: the training loss falls towards 0 as the network memorises the wrong labels too.
#    Which diagnosis? Now raise the weight decay step by step up to $10^{-1}$. Where does the diagnosis flip, and
#    to what? Compare the lowest validation loss at each step: did weight decay make the model better, or only
#    stop it from getting worse?
# 3. Width 4 with no noise, then width 4 with noise 0.4, then width 64 with noise 0.4. `diagnose` names the
#    second one like a network that is too small. Which curve tells you that the labels are to blame?
# 4. Find a setting where the curves look healthy, but `diagnose` disagrees, or the other way round. Which rule
#    of exercise 1 is to blame?

# %% [markdown]
# ## 7. Three more things an interviewer may ask
#
# **Validation loss below the training loss.** This does not mean leakage in most cases. Dropout and data
# augmentation act only in training, so the training loss is measured on a handicapped model and harder
# inputs. And a training loss averaged over an epoch mixes in the early, worse batches, while the validation
# loss is measured at the epoch's end. Check leakage (duplicates across the split) only once these are ruled out.
#
# **Look at a batch, decoded.** Before blaming the model, draw a few inputs *after* the whole preprocessing
# pipeline with their labels: images that are all black after normalisation, labels shifted by one, or a
# transform applied twice show up at once. Here are the first training digits, with their labels:

# %%
fig, axes = plt.subplots(1, 8, figsize=(8, 1.4), layout="constrained")
for ax, image, label in zip(axes, x_train[:8].cpu(), y_train[:8].cpu()):
    ax.imshow(image.view(8, 8), cmap="gray_r")
    ax.set_title(f"label {label.item()}", fontsize=8)
    ax.axis("off")
plt.show()
print(f"inputs: mean {x_train.mean().item():.3f}, std {x_train.std().item():.3f}, all finite: {torch.isfinite(x_train).all().item()}")

# %% [markdown]
# **Out of GPU memory.** Training memory is the weights, the gradients, the optimizer state (Adam keeps two
# numbers per weight) and the activations saved for the backward pass. Only the activations grow with the
# batch. So the first fixes are a smaller batch (with **gradient accumulation** to keep the effective batch,
# topic 32), **mixed precision** with `torch.amp.autocast` (activations in 16 bits), and **activation
# checkpointing** (`torch.utils.checkpoint`: recompute activations in the backward pass instead of storing
# them). On a GPU, `torch.cuda.max_memory_allocated()` measures the peak; on a CPU you can count the same
# components by hand:

# %%
model = digits_mlp(width=256).to(device)
params = sum(p.numel() for p in model.parameters())
batch = 4096
activations = batch * sum(m.out_features for m in model if isinstance(m, nn.Linear)) * 2   # Linear and ReLU outputs: an upper estimate, autograd keeps fewer
print(f"fp32 bytes: weights {4 * params:,}, gradients {4 * params:,}, Adam state {8 * params:,}, "
      f"activations at batch {batch} about {4 * activations:,}")
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
    out = model(torch.randn(batch, 64, device=device))
    F.cross_entropy(out, torch.zeros(batch, dtype=torch.long, device=device)).backward()
    print(f"measured peak on the GPU: {torch.cuda.max_memory_allocated():,} bytes")
else:
    print("no CUDA device: torch.cuda.max_memory_allocated() would measure the peak on a GPU")

# %% [markdown]
# ## Drills (graded)
#
# 1. `drill_initial_loss_10` and `drill_initial_loss_4`: the cross-entropy (in nats) to expect before training:
#    the loss of uniform predictions, with 10 classes and with 4.
# 2. `drill_double_softmax_floor`: the floor of the double-softmax bug of section 4 with 10 classes, the lowest
#    loss it can approach.
# 3. `drill_overfit_one_batch`: you train a working model with Adam ($\eta = 0.01$) for 100 steps on one batch of 16
#    examples. The loss should end (a) near $\ln K$, (b) near 0, (c) near $\ln K / 2$, (d) near the validation loss.
#    Give the letter.
# 4. `drill_nan_first`: the loss fell for 29 steps and is NaN at step 30. The first thing to change: (a) add
#    dropout, (b) divide the learning rate by 10, (c) double the batch size, (d) train for longer. Give the letter.
# 5. `drill_oom_fixes`: the set of letters of the changes that lower training memory on a GPU: (a) a smaller batch
#    with gradient accumulation, (b) `torch.amp.autocast` with a 16-bit dtype, (c) a larger learning rate,
#    (d) activation checkpointing, (e) more `DataLoader` workers.
# 6. `drill_val_below_train`: with dropout 0.5, the training loss is 0.40 and the validation loss 0.30. The most
#    likely reason: (a) the validation set leaks into training, (b) dropout is active only in training,
#    (c) the model underfits, (d) the learning rate is too high. Give the letter.

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_initial_loss_10 = math.log(10)
drill_initial_loss_4 = math.log(4)
drill_double_softmax_floor = math.log(1 + 9 / math.e)
drill_overfit_one_batch = "b"
drill_nan_first = "b"
drill_oom_fixes = {"a", "b", "d"}
drill_val_below_train = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The answers have the right types: three numbers, single letters, and a set of letters.
for name in ("drill_initial_loss_10", "drill_initial_loss_4", "drill_double_softmax_floor"):
    assert isinstance(globals().get(name), (int, float)), f"{name} should be a number"
for name in ("drill_overfit_one_batch", "drill_nan_first", "drill_val_below_train"):
    assert globals().get(name) in ("a", "b", "c", "d"), f"{name} should be one of the letters 'a', 'b', 'c', 'd'"
assert isinstance(drill_oom_fixes, (set, frozenset)) and drill_oom_fixes <= {"a", "b", "c", "d", "e"}, \
    "drill_oom_fixes should be a set of letters from 'a' to 'e'"
### BEGIN HIDDEN TESTS
assert abs(drill_initial_loss_10 - math.log(10)) < 5e-3, "the initial loss with K classes is ln K (natural log): ln 10 ≈ 2.303"
assert abs(drill_initial_loss_4 - math.log(4)) < 5e-3, "the initial loss with K classes is ln K (natural log): ln 4 ≈ 1.386"
assert abs(drill_double_softmax_floor - math.log(1 + 9 / math.e)) < 5e-3, \
    "a perfect one-hot probability vector used as logits costs ln(1 + (K - 1)/e) with K = 10"
assert drill_overfit_one_batch == "b", "a working model memorises one small batch: the loss ends near 0"
assert drill_nan_first == "b", "a loss that was falling and then turns NaN points to a learning rate that is too high"
assert drill_oom_fixes == {"a", "b", "d"}, \
    "smaller batches with accumulation, 16-bit autocast and activation checkpointing lower memory; the others do not"
assert drill_val_below_train == "b", "dropout handicaps the model only in training, so its training loss is higher"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** You fine-tune a transformer with fp16 mixed precision. The loss falls for 2,000 steps, then becomes NaN
# and stays NaN. Walk through how you would find the cause, and what you would try.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# First make it reproducible and local. Log the loss and the total gradient norm every step, check
# `torch.isfinite(loss)` and stop at the first non-finite value, saving that step's batch and a checkpoint from
# just before. Then ask three questions. Is the batch itself bad (`torch.isfinite(x).all()`, an empty sequence,
# every target equal to `ignore_index`, so the mean loss is 0/0)? Does the forward pass make the first NaN?
# Forward hooks on every module name the first layer with a non-finite output: often an attention layer whose
# scores $QK^\top$ overflow fp16 (largest value 65,504), or a layer whose activations do. Or does the backward
# pass make it? `torch.autograd.set_detect_anomaly(True)` names the backward function and the forward line.
# A gradient norm that climbed in the steps before points to instability: lower the learning rate (÷10), clip the gradient norm (e.g. 1.0), lengthen the warmup. An
# overflow points to numerics: keep softmax, normalisation and the loss in fp32 (autocast does this for its
# listed ops), use bf16 instead of fp16 (same exponent range as fp32), use fused losses on logits, add an
# $\epsilon$ to divisions and logs. With fp16 the `GradScaler` skips steps whose gradients overflow and lowers
# the scale; it cannot rescue a forward pass that is already NaN.

# %% [markdown]
# **Q2.** Your training loss falls steadily. The validation loss falls for 5 epochs and then rises, but the
# validation *accuracy* keeps improving for a few more epochs. What is happening, and which checkpoint do you ship?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The model is starting to overfit, and the first thing that suffers is its calibration, not its decisions.
# Cross-entropy punishes confident mistakes without bound. As training continues, the model grows more
# confident everywhere: on the validation examples it still gets wrong, the loss grows fast, while a few more
# borderline examples tip to the right side, so accuracy still rises. The two metrics disagree because they
# measure different things. Which checkpoint to ship depends on what the product uses. If only the argmax
# matters, choose by validation accuracy (or the target metric). If the probabilities are used (thresholds,
# ranking, risk), choose by validation loss, or take the later checkpoint and recalibrate it with temperature
# scaling on held-out data. In both cases keep the best checkpoint (early stopping), and fight the overfitting
# itself: weight decay, dropout, augmentation, label smoothing, more data.
