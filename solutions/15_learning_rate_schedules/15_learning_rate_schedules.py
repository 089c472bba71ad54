# %% [markdown]
# # 15 · Learning-rate schedules
#
# **Interview question:** *Why schedule the learning rate, and what are the common strategies?*
#
# **After this notebook you can**
# - explain why one fixed learning rate trades early speed against late precision, with the SGD "noise ball" formula;
# - use PyTorch's `StepLR`, `CosineAnnealingLR`, `OneCycleLR`, `CyclicLR`, `ReduceLROnPlateau`, `LinearLR`,
#   `SequentialLR` and `LambdaLR`, stepping each at the right moment: `optimizer.step()` first, then `scheduler.step()`;
# - write linear warmup followed by cosine decay as a `LambdaLR` factor, with every off-by-one convention pinned down,
#   and say why large models need the warmup;
# - write Smith's learning-rate range test, which picks a learning rate from a loss curve and puts the model and the
#   optimizer back exactly as it found them;
# - watch schedule, peak learning rate and warmup change the loss curves of a small network.
#
# **Runs on a CPU in about 15 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import copy
import dataclasses
import math
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset

from course_utils import digits_loaders, get_device, make_mlp, seed_everything, train_classifier
from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task, lr_multiplier, run
from course_utils.testing import assert_close, assert_moved, assert_python_float, assert_raises, unmoved_batches

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. Why one learning rate is not enough
#
# Stochastic gradient descent moves the weights by $-\eta\,\tilde g$, where $\tilde g$ is the gradient of one
# mini-batch: the true gradient plus noise. The learning rate $\eta$ pulls two ways.
#
# - **Early**, far from a minimum, a large $\eta$ makes fast progress and a small one crawls.
# - **Late**, near a minimum, the noise in $\tilde g$ keeps kicking the weights around, and the size of those
#   kicks grows with $\eta$. A large $\eta$ therefore stalls in a "noise ball" around the minimum.
#
# The second point has an exact form on a 1-D quadratic $L(\theta) = \tfrac{h}{2}\theta^2$ with gradient noise of
# variance $\sigma^2$: the update is $\theta_{t+1} = (1 - \eta h)\,\theta_t - \eta\,\xi_t$. Taking the variance of both
# sides at the stationary point, $v = (1-\eta h)^2 v + \eta^2\sigma^2$, so
#
# $$
# \operatorname{Var}(\theta_\infty) = \frac{\eta\,\sigma^2}{h\,(2 - \eta h)} \approx \frac{\eta\,\sigma^2}{2h}
# \quad (\eta h \ll 1), \qquad \text{and the iteration diverges once } \eta h > 2 .
# $$
#
# Halve the learning rate and the noise ball's variance halves too. A **schedule** gets both benefits: a large $\eta$
# while there is ground to cover, a small one to settle. Here are 10,000 independent SGD runs on such a quadratic,
# compared with the formula:

# %%
g = torch.Generator().manual_seed(0)
h, sigma = 1.0, 1.0
print(f"{'lr':>6} {'measured Var':>13} {'formula':>9}")
for lr in (0.02, 0.1, 0.5, 1.5):
    theta = torch.zeros(10_000, dtype=torch.float64)
    for _ in range(600):  # long enough to forget the start: (1 - 0.02)^(2·600) ≈ 3e-11
        theta = (1 - lr * h) * theta - lr * sigma * torch.randn(10_000, generator=g, dtype=torch.float64)
    formula = lr * sigma**2 / (h * (2 - lr * h))
    print(f"{lr:6.2f} {theta.var().item():13.4f} {formula:9.4f}")

# %% [markdown]
# The measured variances agree with the formula to within sampling error (the standard error of a variance
# estimated from 10,000 runs is $\sqrt{2/10^4} \approx 1.4\,\%$). Now the same trade-off on a real network: an MLP on
# the 8×8 digits, trained for 300 steps of SGD with momentum 0.9 and batches of 32, through the course's explorer
# core `run` (about 0.3 s per run). Four settings: a small constant learning rate, a large constant one, and the
# large one decayed by a step schedule (×0.1 at half-way, ×0.01 at three quarters) or by a cosine.

# %%
sgd_digits = digits_mlp_task(optimizer="momentum", steps=300, batch_size=32, eval_every=20)
settings = {
    "constant, lr 0.01": {"lr": 0.01},
    "constant, lr 0.1": {"lr": 0.1},
    "step decay from 0.1": {"lr": 0.1, "schedule": "step"},
    "cosine from 0.1": {"lr": 0.1, "schedule": "cosine"},
}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
for name, cfg in settings.items():
    hist = run(cfg, sgd_digits)
    axes[0].plot(hist.val_steps, hist.val_loss, marker="o", ms=3, label=name)
    lrs_used = [cfg["lr"] * lr_multiplier(t, 300, cfg.get("schedule", "constant")) for t in range(300)]
    axes[1].plot(lrs_used, label=name)
    print(f"{name:>20}: final validation loss {hist.final_val_loss:.3f} nats")
axes[0].set(xlabel="step", ylabel="validation cross-entropy (nats)", yscale="log", title="validation loss")
axes[1].set(xlabel="step", ylabel="learning rate", title="the learning rate each run used")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# The small constant rate is slow at first. The large constant rate gets down fast and then bounces at a level it cannot
# get under. Both decays keep the fast start and then settle lower, once the learning rate has come down.
# (With seeds 0 to 4 the large constant rate always ends worst and the cosine always best; the small constant rate
# and the step decay trade places.)
#
# ## 2. The schedulers PyTorch ships
#
# All live in `torch.optim.lr_scheduler`. A scheduler wraps an optimizer and rewrites `group["lr"]` of every
# parameter group each time you call `scheduler.step()`. The current value is `optimizer.param_groups[0]["lr"]`
# (or `scheduler.get_last_lr()`). Defaults below are PyTorch's.
#
# | scheduler | what it does | notes |
# |---|---|---|
# | `StepLR(step_size, gamma=0.1)` | multiply by $\gamma$ every `step_size` calls | the classic baseline (e.g. ÷10 every 30 epochs); `MultiStepLR(milestones)` picks the epochs |
# | `CosineAnnealingLR(T_max, eta_min=0)` | $\eta_\min + \tfrac12(\eta_0-\eta_\min)(1+\cos(\pi t/T_\max))$ | a smooth fall from the peak to the floor over `T_max` calls; past `T_max` it climbs back up (it is periodic) |
# | `OneCycleLR(max_lr, total_steps, pct_start=0.3)` | rises from `max_lr/div_factor` (25) to `max_lr` over the first 30 % of the steps, then anneals (cosine by default) to `max_lr/(div_factor·final_div_factor)` ($10^4$ more) | Smith's "super-convergence" policy; needs the total number of steps up front and raises `ValueError` if stepped past it; also cycles momentum inversely (0.95 → 0.85 → 0.95) |
# | `CyclicLR(base_lr, max_lr, step_size_up=2000)` | triangle waves between `base_lr` and `max_lr` | by default also cycles momentum between 0.9 and 0.8 (Adam's $\beta_1$ in its place), overwriting the optimizer's own: SGD built with `momentum=0` gets momentum. `cycle_momentum=False` turns that off |
# | `ReduceLROnPlateau(mode="min", factor=0.1, patience=10)` | multiply by `factor` when the monitored metric stops improving | call `scheduler.step(val_loss)`; needs no run length (section 4) |
# | `LinearLR(start_factor=1/3, end_factor=1.0, total_iters=5)` | linear ramp of the factor | the usual warmup piece |
# | `SequentialLR(optimizer, [s1, s2], milestones=[w])` | `s1` for the first `w` calls, then `s2` | warmup then decay, from parts |
# | `LambdaLR(lr_lambda)` | $\eta_t = \eta_0\cdot \texttt{lr\_lambda}(t)$ | any schedule you can write as a function (section 5) |
#
# There is no `WarmupThenDecay` class in PyTorch: warmup followed by cosine is either
# `SequentialLR([LinearLR, CosineAnnealingLR])` or a `LambdaLR`.
#
# The loop below records the learning rate that each optimizer step **uses**, for 1,000 steps with a peak of 0.1.
# (The parameter has no gradient, so `optimizer.step()` changes nothing; only the schedule matters here. A real loop
# computes the loss and calls `backward()` first.)

# %%
def lr_trace(make_scheduler, n_steps: int, base_lr: float = 0.1) -> tuple[list[float], list[float]]:
    """The lr and momentum used by each of n_steps optimizer steps, the scheduler stepped after each one."""
    param = nn.Parameter(torch.zeros(1, device=device))
    optimizer = torch.optim.SGD([param], lr=base_lr, momentum=0.9)
    scheduler = make_scheduler(optimizer)
    lrs, momenta = [], []
    for _ in range(n_steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        momenta.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return lrs, momenta


def wsd(step: int) -> float:
    """Warmup-stable-decay: 50 warmup steps, constant until step 800, then linear decay towards 0 at step 1000."""
    return min((step + 1) / 50, 1.0, (1000 - step) / 200)


N = 1000
traces = {
    "StepLR(step_size=300)": lr_trace(lambda o: lr_scheduler.StepLR(o, step_size=300, gamma=0.1), N),
    "CosineAnnealingLR(T_max=1000, eta_min=1e-3)": lr_trace(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=N, eta_min=1e-3), N),
    "OneCycleLR(max_lr=0.1, total_steps=1000)": lr_trace(
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=N), N),
    "CyclicLR(1e-3, 0.1, step_size_up=200)": lr_trace(
        lambda o: lr_scheduler.CyclicLR(o, base_lr=1e-3, max_lr=0.1, step_size_up=200), N),
    "SequentialLR(LinearLR → Cosine), warmup 100": lr_trace(lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=100),
            lr_scheduler.CosineAnnealingLR(o, T_max=N - 100, eta_min=1e-3)], milestones=[100]), N),
    "LambdaLR: warmup-stable-decay": lr_trace(lambda o: lr_scheduler.LambdaLR(o, wsd), N),
}
fig, axes = plt.subplots(2, 3, figsize=(11, 5), sharex=True, layout="constrained")
for ax, (name, (lrs_used, _)) in zip(axes.flat, traces.items()):
    ax.plot(lrs_used)
    ax.set_title(name, fontsize=9)
    ax.grid(alpha=0.3)
for ax in axes[1]:
    ax.set_xlabel("optimizer step")
for ax in axes[:, 0]:
    ax.set_ylabel("learning rate")
plt.show()

one_cycle_lr, one_cycle_momentum = traces["OneCycleLR(max_lr=0.1, total_steps=1000)"]
peak = max(range(N), key=one_cycle_lr.__getitem__)
print(f"OneCycleLR: starts at {one_cycle_lr[0]:.4g} (= 0.1 / 25), peaks at step {peak} with {one_cycle_lr[peak]:.4g}, "
      f"ends at {one_cycle_lr[-1]:.3g} (= 0.1 / 25 / 1e4)")
print(f"            momentum {one_cycle_momentum[0]:.2f} → {one_cycle_momentum[peak]:.2f} at the peak → "
      f"{one_cycle_momentum[-1]:.2f}")
assert math.isclose(one_cycle_lr[0], 0.1 / 25) and peak == 299 and math.isclose(one_cycle_lr[-1], 0.1 / 25 / 1e4)
step_lr = traces["StepLR(step_size=300)"][0]
print(f"StepLR: steps 299 and 300 use {step_lr[299]:.3g} and {step_lr[300]:.3g}")

# %% [markdown]
# Two things to notice. `OneCycleLR` with `pct_start=0.3` rises for 300 of the 1,000 steps and peaks at step 299
# (0-based); its momentum moves the other way, low while the learning rate is high. And the warmup-stable-decay (WSD)
# schedule at the bottom right holds the peak for most of the run and decays only at the end. Recent LLM pretraining
# runs use it because the stable phase can be extended, and a short decay branched off at any point gives a finished
# checkpoint. A cosine schedule has to know its length from the start.
#
# ## 3. When to call `scheduler.step()`
#
# Since PyTorch 1.1 the order within one iteration is fixed: **`optimizer.step()` first, then `scheduler.step()`**.
# Creating the scheduler already applies the value for step 0. Each `scheduler.step()` then moves on to the value
# that the *next* `optimizer.step()` will use. Reverse the order and the first value of the schedule is never used.
# PyTorch warns about it:

# %%
def lrs_used(order: str, n_steps: int = 4) -> tuple[list[float], list[str]]:
    param = nn.Parameter(torch.zeros(1, device=device))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    used = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(n_steps):
            if order == "scheduler first":
                scheduler.step()
            used.append(optimizer.param_groups[0]["lr"])  # the lr this optimizer.step() uses
            optimizer.step()
            if order == "optimizer first":
                scheduler.step()
    assert scheduler.get_last_lr()[0] == optimizer.param_groups[0]["lr"]
    return used, [str(w.message).split(". ")[0] for w in caught]


for order in ("optimizer first", "scheduler first"):
    used, caught = lrs_used(order)
    print(f"{order:>16}: lrs used {used}  warnings: {caught}")

# %% [markdown]
# **Per epoch or per step?** A scheduler counts calls, not epochs. `StepLR(step_size=30)` means "every 30 epochs"
# only if `scheduler.step()` runs once per epoch, after the inner loop. Call it per batch and, with 23 batches per
# epoch, the first cut comes during epoch 2. Schedules written in optimizer steps (`OneCycleLR`, warmup, `LambdaLR`
# over `total_steps`) are stepped once per optimizer step, inside the batch loop.
#
# ## 4. `ReduceLROnPlateau`: react to the validation loss
#
# This one needs no schedule in advance: it watches a metric. Call `scheduler.step(val_loss)` once per epoch, after
# validation. In `mode="min"` an epoch counts as an improvement when its value beats the best so far by more than
# `threshold` (default: relative, $10^{-4}$). After more than `patience` epochs in a row without improvement, the
# learning rate is multiplied by `factor`, floored at `min_lr`. Then the count restarts (after `cooldown` epochs,
# default 0). It suits runs of unknown length and fine-tuning. It cannot be combined inside `SequentialLR`, because
# its `step` needs the metric. With `patience=2` and `factor=0.5`, on a made-up validation curve:

# %%
param = nn.Parameter(torch.zeros(1, device=device))
optimizer = torch.optim.SGD([param], lr=0.1)
plateau = lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)
val_curve = [1.00, 0.80, 0.70, 0.70, 0.71, 0.69, 0.70, 0.70, 0.70, 0.60, 0.61, 0.62, 0.63, 0.64]
print(f"{'epoch':>5} {'val loss':>8} {'epochs w/o improvement':>23} {'lr for the next epoch':>22}")
for epoch, val_loss in enumerate(val_curve):
    # ... train one epoch, then validate ...
    plateau.step(val_loss)
    print(f"{epoch:5d} {val_loss:8.2f} {plateau.num_bad_epochs:23d} {optimizer.param_groups[0]['lr']:22.4g}")

# %% [markdown]
# Epochs 3 and 4 do not improve on 0.70, and epoch 5 (0.69) does, so the count resets. Epochs 6, 7 and 8 are three
# bad epochs in a row, one more than `patience=2`, and the cut to 0.05 comes at epoch 8. The same happens after 0.60.
#
# ## 5. Warmup, then cosine
#
# Large transformers are almost always trained with a **linear warmup** (the learning rate climbs from about 0 to
# its peak over the first few hundred or thousand steps) followed by a **cosine decay** to a floor, often 10 % of
# the peak. Why the warmup?
#
# - At initialisation the loss surface is steep and the layers' statistics are far from where they will settle. A
#   full-size step there can throw the weights into a region the run never recovers from: a loss spike, or NaN.
#   Post-LN transformers are the classic case: without warmup they often do not train at all.
# - Adam makes it worse in the first steps. Its update is $\eta\,\hat m_t / (\sqrt{\hat v_t}+\epsilon)$, and at
#   $t = 1$ the bias corrections give $\hat m_1 = g$, $\hat v_1 = g^2$, so every coordinate moves by $\eta$ times its
#   gradient's sign, whatever the gradient's size. The second-moment estimate rests on a handful of gradients, so
#   these early steps are large and noisy (Liu et al., 2020, the RAdam paper). Warmup keeps them small until the
#   estimates settle.

# %%
w = nn.Parameter(torch.zeros(6, device=device))
adam = torch.optim.Adam([w], lr=0.01)
w.grad = torch.tensor([1e-4, 1e-2, 1.0, 100.0, -3.0, -1e3], device=device)
adam.step()
print("gradient:            ", w.grad.tolist())
print("first Adam step / lr:", [round(v, 4) for v in (w.detach() / 0.01).tolist()])

# %% [markdown]
# A gradient of $10^{-4}$ and one of $-10^3$ produce steps of the same size, $\eta$ (the smallest is a hair under,
# because of $\epsilon = 10^{-8}$).
#
# ## Exercise 1 · `warmup_cosine` (graded)
#
# Write `warmup_cosine(step, warmup_steps, total_steps, min_ratio=0.0)`: the factor that `LambdaLR` multiplies the
# base learning rate by. With $w$ = `warmup_steps`, $T$ = `total_steps`, $r$ = `min_ratio`:
#
# $$
# f(s) = \begin{cases}
# \dfrac{s}{w} & 0 \le s < w \quad\text{(linear warmup)}\\[2mm]
# r + (1 - r)\,\dfrac{1 + \cos(\pi p)}{2}, \quad p = \min\!\left(1, \dfrac{s - w}{T - w}\right) & s \ge w \quad\text{(cosine decay)}
# \end{cases}
# $$
#
# The conventions, spelled out:
#
# - `step` is what `LambdaLR` passes: the number of `scheduler.step()` calls so far, which is the 0-based index of the
#   optimizer step about to run. Step 0 is the first update.
# - **Step 0 has factor 0** when $w > 0$, so the first update uses learning rate 0. This is the convention of Hugging
#   Face's `get_cosine_schedule_with_warmup`. Some code, like this course's explorer, ramps $(s+1)/w$ instead so that
#   no step is wasted. The two differ by one step.
# - **The factor is exactly 1 at step $s = w$**, the $(w+1)$-th update, and falls from there.
# - **At step $T$ the factor is exactly $r$, and it stays $r$ for every $s > T$.** `CosineAnnealingLR` would climb
#   back up instead.
# - The floor is *scaled in*, $r + (1-r)\cdot\text{cosine}$, not clamped as $\max(r, \text{cosine})$: halfway
#   through the decay the factor is $(1 + r)/2$.
# - $w = 0$ means no warmup: $f(0) = 1$.
# - Raise `ValueError` unless $0 \le w < T$ and $0 \le r \le 1$.
# - Return a Python `float` (a tensor is rejected). `math.cos` does the job.
#
# Then `LambdaLR(optimizer, lambda s: warmup_cosine(s, w, T, r))` gives the schedule.

# %% nbgrader={"grade": false, "grade_id": "warmup_cosine", "locked": false, "schema_version": 3, "solution": true, "task": false}
def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """LambdaLR factor: linear warmup 0 → 1 over warmup_steps, then cosine 1 → min_ratio at total_steps, then flat."""
    ### BEGIN SOLUTION
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps} and {total_steps}")
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio must be in [0, 1], got {min_ratio}")
    if step < warmup_steps:
        return step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_warmup_cosine_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Key values for warmup_steps=10, total_steps=110, min_ratio=0.2: 0 at step 0, 0.5 at step 5, exactly 1 at step 10,
# 0.6 halfway through the decay (step 60), 0.2 at step 110 and after; Python floats; ValueError when warmup_steps >= total_steps.
expected = {0: 0.0, 5: 0.5, 10: 1.0, 60: 0.6, 110: 0.2, 111: 0.2, 500: 0.2}
for step, value in expected.items():
    got = warmup_cosine(step, 10, 110, 0.2)
    assert_python_float(got, what=f"warmup_cosine({step}, 10, 110, 0.2)")
    assert abs(got - value) <= 1e-12, f"warmup_cosine({step}, 10, 110, 0.2) should be {value}, got {got}"
assert_raises(ValueError, warmup_cosine, 0, 110, 110, 0.2, what="warmup_cosine(0, warmup_steps=110, total_steps=110, 0.2)")
### BEGIN HIDDEN TESTS
def _reference_factor(s, w, T, r):
    if s < w:
        return s / w
    p = min(1.0, (s - w) / (T - w))
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p))


def _phase(s, w, T):
    """Where step s falls in the schedule, in words."""
    if s < w:
        return "during the warmup (the factor is step / warmup_steps)"
    if s == w:
        return "at step == warmup_steps (the factor is exactly 1)"
    if s < T:
        return "during the cosine decay (min_ratio + (1 - min_ratio)(1 + cos(pi p)) / 2)"
    if s == T:
        return "at step == total_steps (the factor is exactly min_ratio)"
    return "past total_steps (the factor stays at min_ratio)"


for case, (w, T, r) in {"no warmup": (0, 50, 0.1), "a one-step warmup and no floor": (1, 7, 0.0),
                        "a one-step decay": (5, 6, 0.5), "a long decay to zero": (3, 1000, 0.0),
                        "min_ratio = 1 (no decay at all)": (7, 20, 1.0), "a short schedule with a floor": (4, 13, 0.3),
                        "warmup 100, total 1000, floor 0.1": (100, 1000, 0.1)}.items():
    for s in range(T + 40):
        got = warmup_cosine(s, w, T, r)
        assert_python_float(got, what=f"warmup_cosine for a schedule with {case}")
        assert abs(got - _reference_factor(s, w, T, r)) <= 1e-12, (
            f"warmup_cosine for a schedule with {case}: wrong {_phase(s, w, T)}")
assert abs(warmup_cosine(0, 0, 10) - 1.0) <= 1e-12, "with warmup_steps=0 there is no warmup: the factor at step 0 is 1"
assert abs(warmup_cosine(10, 0, 10)) <= 1e-12, "min_ratio defaults to 0: the factor at total_steps is 0"
for args, why in (((0, -1, 10, 0.1), "warmup_steps < 0"), ((0, 10, 10, 0.1), "warmup_steps == total_steps"),
                  ((0, 11, 10, 0.1), "warmup_steps > total_steps"), ((0, 2, 10, -0.1), "min_ratio < 0"),
                  ((0, 2, 10, 1.5), "min_ratio > 1")):
    assert_raises(ValueError, warmup_cosine, *args, what=f"warmup_cosine with {why}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_warmup_cosine_lambdalr", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# A real LambdaLR driven over a full schedule (warmup 5, total 25, floor 0.1, base lr 0.5, 35 steps): the lr that
# each optimizer.step() uses equals 0.5 × the factor of its 0-based step.
def lrs_seen(make_optimizer, lam, n_steps):
    param = nn.Parameter(torch.zeros(2))
    optimizer = make_optimizer([param])
    scheduler = lr_scheduler.LambdaLR(optimizer, lam)
    seen = []
    for _ in range(n_steps):
        seen.append([group["lr"] for group in optimizer.param_groups])
        param.grad = torch.ones_like(param)
        optimizer.step()
        scheduler.step()
    return seen


seen = lrs_seen(lambda p: torch.optim.SGD(p, lr=0.5), lambda s: warmup_cosine(s, 5, 25, 0.1), 35)
for s, (lr,) in enumerate(seen):
    f = s / 5 if s < 5 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (s - 5) / 20)))
    assert abs(lr - 0.5 * f) <= 1e-12, f"LambdaLR with your warmup_cosine: step {s} used lr {lr}, expected {0.5 * f}"
### BEGIN HIDDEN TESTS
def _reference_factor(s, w, T, r):
    if s < w:
        return s / w
    p = min(1.0, (s - w) / (T - w))
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * p))


def _phase(s, w, T):
    """Where step s falls in the schedule, in words."""
    if s < w:
        return "during the warmup"
    if s == w:
        return "at step == warmup_steps"
    if s < T:
        return "during the cosine decay"
    if s == T:
        return "at step == total_steps"
    return "past total_steps"


# two parameter groups with different base lrs, under AdamW, over a long schedule and past its end
w, T, r = 20, 200, 0.05
seen = lrs_seen(lambda p: torch.optim.AdamW([{"params": p, "lr": 0.1}, {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.03}]),
                lambda s: warmup_cosine(s, w, T, r), T + 30)
for s, lrs in enumerate(seen):
    for group, (base, lr) in enumerate(zip((0.1, 0.03), lrs)):
        assert abs(lr - base * _reference_factor(s, w, T, r)) <= 1e-12, (
            f"LambdaLR(warmup_cosine) under AdamW with two parameter groups, run past total_steps: the lr of group {group} "
            f"is not its base lr times the factor {_phase(s, w, T)}")
# the same schedule as PyTorch's own pieces, up to total_steps: LinearLR cannot start at exactly 0, so start at 1e-9
param = nn.Parameter(torch.zeros(1))
opt = torch.optim.SGD([param], lr=0.1)
native = lr_scheduler.SequentialLR(opt, [lr_scheduler.LinearLR(opt, start_factor=1e-9, total_iters=w),
                                         lr_scheduler.CosineAnnealingLR(opt, T_max=T - w, eta_min=0.1 * r)], milestones=[w])
for s in range(T + 1):
    assert abs(opt.param_groups[0]["lr"] - 0.1 * warmup_cosine(s, w, T, r)) <= 1e-9, (
        f"warmup_cosine disagrees with SequentialLR([LinearLR, CosineAnnealingLR]) {_phase(s, w, T)}")
    opt.step()
    native.step()
### END HIDDEN TESTS

# %% [markdown]
# PyTorch can build the same schedule from its own parts: `LinearLR` for the warmup, `CosineAnnealingLR` with
# `eta_min = min_ratio × base_lr` for the decay, joined by `SequentialLR` at the milestone $w$. `LinearLR` insists on
# `start_factor > 0`, so it cannot start at exactly 0. With a start factor of $10^{-9}$ the two agree to within
# $10^{-9}$ of the base learning rate, up to `total_steps`. Beyond it, `CosineAnnealingLR` turns round and climbs
# again, while your function holds the floor:

# %%
w, T, r, base_lr = 100, 1000, 0.1, 0.1
mine, _ = lr_trace(lambda o: lr_scheduler.LambdaLR(o, lambda s: warmup_cosine(s, w, T, r)), 1300, base_lr)
native, _ = lr_trace(lambda o: lr_scheduler.SequentialLR(
    o, [lr_scheduler.LinearLR(o, start_factor=1e-9, total_iters=w),
        lr_scheduler.CosineAnnealingLR(o, T_max=T - w, eta_min=r * base_lr)], milestones=[w]), 1300, base_lr)
print("largest difference up to total_steps:", max(abs(a - b) for a, b in zip(mine[:T + 1], native[:T + 1])))
print(f"step 1200: LambdaLR(warmup_cosine) {mine[1200]:.4f}, SequentialLR {native[1200]:.4f}")
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.plot(native, lw=3, alpha=0.4, label="SequentialLR(LinearLR, CosineAnnealingLR)")
ax.plot(mine, label="LambdaLR(warmup_cosine)")
ax.axvline(T, color="0.6", ls="--", lw=1)
ax.set(xlabel="optimizer step", ylabel="learning rate", title="warmup 100, cosine to 10 % at step 1000")
ax.grid(alpha=0.3)
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# ## 6. The learning-rate range test
#
# Which peak learning rate? Smith (2017, *Cyclical Learning Rates for Training Neural Networks*) proposed a cheap
# experiment. Train for a short while with the learning rate rising at every step, and watch the loss. At tiny rates
# nothing happens. Then the loss starts to fall. Past some point the steps are too big and the loss shoots up. A good
# learning rate sits where the loss falls fastest, well before the blow-up. fastai made the recipe standard:
#
# - **An exponential sweep.** Useful rates span many decades, so the rate is multiplied by the same factor at every
#   step. A linear sweep from $10^{-7}$ to 10 would spend 99 of its 100 steps above 0.1.
# - **A smoothed loss.** One mini-batch's loss is noisy, so track an exponential moving average
#   $a_i = \beta a_{i-1} + (1-\beta)\,\ell_i$ with $a_{-1} = 0$, and divide by $1-\beta^{i+1}$ to undo its pull
#   towards the zero it started from (the same bias correction as Adam's). The average spans about $1/(1-\beta)$
#   steps, and it lags behind the learning rate by as much: $\beta = 0.9$ suits a 100-step sweep.
# - **Stop on divergence**, once the smoothed loss exceeds 4 times its lowest value so far.
# - **Undo everything.** The test trains the real model with a real optimizer, which then holds momentum buffers or
#   Adam moments from wild learning rates. Both must be put back afterwards. `state_dict()` returns *references* to
#   the live tensors, so the saved copy has to be a deep copy.
#
# ## Exercise 2 · `lr_range_test` (graded)
#
# Write `lr_range_test(model, loader, loss_fn, optimizer, start_lr=1e-7, end_lr=10.0, num_steps=100, beta=0.9,
# diverge_factor=4.0, device=None)`. It returns `(lrs, losses, suggested_lr)`:
#
# 1. Save deep copies of `model.state_dict()` and `optimizer.state_dict()`.
# 2. For $i = 0, 1, \dots,$ `num_steps` $- 1$:
#    - set the learning rate of **every** parameter group to
#      $\text{lr}_i = \text{start\_lr}\cdot(\text{end\_lr}/\text{start\_lr})^{\,i/(\text{num\_steps}-1)}$ (so the
#      first is `start_lr` and the last `end_lr`);
#    - take the next batch `(x, y)` from `loader`, starting the loader again when it runs out, and **move both to
#      `device`** with `.to(device)` (`device=None` means the device of the model's parameters);
#    - compute `loss = loss_fn(model(x), y)` and the bias-corrected smoothed loss
#      $\bar\ell_i = a_i / (1 - \beta^{i+1})$ with $a_i = \beta a_{i-1} + (1-\beta)\,\text{loss}$, $a_{-1} = 0$;
#    - **stop** if $\bar\ell_i$ is not finite or $\bar\ell_i >$ `diverge_factor` $\times \min(\bar\ell_0, \dots,
#      \bar\ell_{i-1})$. That step is not recorded;
#    - otherwise append $\text{lr}_i$ to `lrs` and $\bar\ell_i$ to `losses`, then zero the gradients, call
#      `backward()` and `optimizer.step()`.
# 3. Load both saved state dicts back, so the model's parameters and buffers and the optimizer's state and
#    learning rates are exactly what they were before the call.
# 4. `suggested_lr` is `lrs[i]` for the $i$ that minimises $\bar\ell_{i+1} - \bar\ell_i$ (the first such $i$ if there
#    is a tie): the learning rate of the update after which the smoothed loss fell the most. Each step multiplies the
#    learning rate by the same factor, so this is the steepest descent of the curve on a log-lr axis. If fewer than
#    two steps were recorded there is no slope. In that case raise `RuntimeError`, after restoring the state.
#
# `lrs` and `losses` are lists of Python floats of the same length, and `suggested_lr` is a Python float. Any loop
# structure passes: `iter`/`next`, `itertools.cycle`, or an `ExponentialLR` scheduler doing the sweep.

# %% nbgrader={"grade": false, "grade_id": "lr_range_test", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lr_range_test(model: nn.Module, loader, loss_fn, optimizer: torch.optim.Optimizer, start_lr: float = 1e-7,
                  end_lr: float = 10.0, num_steps: int = 100, beta: float = 0.9, diverge_factor: float = 4.0,
                  device: torch.device | str | None = None) -> tuple[list[float], list[float], float]:
    """Smith's LR range test. Returns (lrs, smoothed losses, suggested lr); model and optimizer are restored."""
    ### BEGIN SOLUTION
    if device is None:
        device = next(model.parameters()).device
    model_state = copy.deepcopy(model.state_dict())
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    lrs, losses = [], []
    try:
        batches = iter(loader)
        avg, best = 0.0, math.inf
        for i in range(num_steps):
            lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(loader)
                x, y = next(batches)
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            avg = beta * avg + (1 - beta) * loss.item()
            smoothed = avg / (1 - beta ** (i + 1))
            if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
                break
            best = min(best, smoothed)
            lrs.append(lr)
            losses.append(smoothed)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
    if len(losses) < 2:
        raise RuntimeError(f"only {len(losses)} step(s) recorded before the loss diverged: lower start_lr")
    drops = [losses[i + 1] - losses[i] for i in range(len(losses) - 1)]
    steepest = min(range(len(drops)), key=drops.__getitem__)
    return lrs, losses, lrs[steepest]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_range_test_sweep", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The sweep on a small float64 problem: lrs start at start_lr and grow by the constant factor (end/start)^(1/(num_steps-1));
# lrs and losses are lists of Python floats of equal length; losses[0] is the first batch's loss (bias correction);
# a run that never diverges records all num_steps steps and ends at end_lr; a run up to end_lr=1e4 stops early, with every
# recorded loss <= 4 × the lowest; suggested_lr is a Python float taken from lrs.
def make_problem(seed, n=96, batch_size=16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=torch.float64)
    y = (x @ torch.randn(6, 3, generator=g, dtype=torch.float64) + torch.randn(n, 3, generator=g, dtype=torch.float64)).argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)  # fixed order
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    return model, loader


model, loader = make_problem(0)
x0, y0 = next(iter(loader))
with torch.no_grad():
    first_loss = F.cross_entropy(model(x0), y0).item()
lrs, losses, suggested = lr_range_test(model, loader, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
                                       start_lr=1e-4, end_lr=1e-1, num_steps=12)
assert isinstance(lrs, list) and isinstance(losses, list), "lrs and losses must be Python lists"
for value in lrs + losses + [suggested]:
    assert_python_float(value, what="every entry of lrs and losses, and suggested_lr")
assert len(lrs) == len(losses) == 12, f"a sweep from 1e-4 to 1e-1 never diverges here: expected 12 steps, got {len(lrs)} and {len(losses)}"
factor = (1e-1 / 1e-4) ** (1 / 11)
assert_close(torch.tensor(lrs, dtype=torch.float64), 1e-4 * factor ** torch.arange(12, dtype=torch.float64), rtol=1e-9, atol=0,
             what="lrs for start_lr=1e-4, end_lr=1e-1, num_steps=12 (expected start_lr · factor**i)")
assert abs(losses[0] - first_loss) <= 1e-9 * first_loss, (
    f"losses[0] should be the first batch's loss {first_loss:.6f} (a_0 / (1 - beta) undoes the zero start), got {losses[0]}")
assert suggested in lrs, "suggested_lr must be one of the recorded lrs"
model, loader = make_problem(0)
lrs, losses, suggested = lr_range_test(model, loader, F.cross_entropy, torch.optim.SGD(model.parameters(), lr=0.1),
                                       start_lr=1e-3, end_lr=1e4, num_steps=60)
assert len(lrs) == len(losses) < 60, f"a sweep up to lr=1e4 should stop early on divergence, it recorded {len(lrs)} of 60 steps"
assert max(losses) <= 4 * min(losses), "a step whose smoothed loss exceeds 4 × the lowest so far must stop the test, unrecorded"
### BEGIN HIDDEN TESTS
def _reference(model, loader, loss_fn, optimizer, start_lr, end_lr, num_steps, beta=0.9, diverge_factor=4.0):
    """Runs the range test on this model and optimizer (their state is NOT restored)."""
    lrs, losses, avg, best = [], [], 0.0, math.inf
    batches = iter(loader)
    for i in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        loss = loss_fn(model(x), y)
        avg = beta * avg + (1 - beta) * loss.item()
        smoothed = avg / (1 - beta ** (i + 1))
        if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
            break
        best = min(best, smoothed)
        lrs.append(lr)
        losses.append(smoothed)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lrs, losses


def _steepest(lrs, losses):
    drops = [losses[i + 1] - losses[i] for i in range(len(losses) - 1)]
    return lrs[min(range(len(drops)), key=drops.__getitem__)]


def _case(what, make_optimizer, start_lr, end_lr, num_steps, seed=1, n=96, batch_size=16, loader=None, **kwargs):
    """Run the student's test and the reference on identical copies; compare everything."""
    model, default_loader = make_problem(seed, n=n, batch_size=batch_size)
    loader = loader or default_loader
    model_ref = copy.deepcopy(model)
    got = lr_range_test(model, loader, F.cross_entropy, make_optimizer(model), start_lr=start_lr, end_lr=end_lr,
                        num_steps=num_steps, **kwargs)
    lrs_ref, losses_ref = _reference(model_ref, loader, F.cross_entropy, make_optimizer(model_ref), start_lr, end_lr,
                                     num_steps, **kwargs)
    lrs, losses, suggested = got
    assert len(lrs) == len(losses), f"{what}: lrs and losses have different lengths ({len(lrs)}, {len(losses)})"
    assert len(lrs) == len(lrs_ref), (f"{what}: recorded {'more' if len(lrs) > len(lrs_ref) else 'fewer'} steps than "
                                      f"expected (stop at the first smoothed loss that is not finite or above "
                                      f"diverge_factor × the lowest so far, and do not record it)")
    assert_close(torch.tensor(lrs, dtype=torch.float64), torch.tensor(lrs_ref, dtype=torch.float64), rtol=1e-9, atol=0,
                 what=f"{what}: lrs")
    assert_close(torch.tensor(losses, dtype=torch.float64), torch.tensor(losses_ref, dtype=torch.float64), rtol=1e-6, atol=0,
                 what=f"{what}: smoothed losses (set the lr before each step, zero the gradients, bias-correct the average)")
    assert_python_float(suggested, what=f"{what}: suggested_lr")
    assert suggested == _steepest(lrs, losses), (f"{what}: suggested_lr should be lrs[i] for the first i with the most "
                                                 f"negative losses[i+1] - losses[i]")
    return lrs_ref, losses_ref


sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)  # noqa: E731
adam = lambda m: torch.optim.Adam(m.parameters(), lr=1e-3)  # noqa: E731
lrs_ref, _ = _case("SGD with momentum, a sweep that diverges", sgd, 1e-4, 1e3, 50)
assert len(lrs_ref) < 50  # this case diverges (a check of the test itself)
_case("Adam, a sweep that diverges", adam, 1e-5, 10.0, 40)
_case("Adam, a sweep that never diverges", adam, 1e-5, 1e-2, 25, seed=2)
_case("a smaller beta than the default", sgd, 1e-4, 1e3, 50, beta=0.5)
_case("a smaller diverge_factor than the default", sgd, 1e-4, 1e3, 50, diverge_factor=1.5)
_case("a loader shorter than the sweep, restarted when it runs out", sgd, 1e-3, 1.0, 20, n=48)
# every parameter group gets the swept lr (the groups start with different lrs)
two_groups = lambda m: torch.optim.SGD([{"params": m[0].parameters(), "lr": 1.0},  # noqa: E731
                                        {"params": m[2].parameters(), "lr": 1e-6}], momentum=0.5)
_case("two parameter groups", two_groups, 1e-3, 10.0, 30)
# a batch whose loss is NaN stops the test before it is recorded
model, loader = make_problem(3)
xs, ys = loader.dataset.tensors
xs = xs.clone()
xs[80] = float("nan")                                  # inside the 6th batch (batch index 5)
nan_loader = DataLoader(TensorDataset(xs, ys), batch_size=16)
lrs, losses, _ = lr_range_test(model, nan_loader, F.cross_entropy, sgd(model), start_lr=1e-4, end_lr=1e-2, num_steps=20)
assert len(lrs) == 5, ("a batch whose loss is NaN must stop the test: every step before it is recorded, "
                       "that step and the ones after it are not")
assert all(math.isfinite(v) for v in losses), "a non-finite smoothed loss must never be recorded"
# fewer than two recorded steps: RuntimeError
xs1 = loader.dataset.tensors[0].clone()
xs1[20] = float("nan")                                 # inside the 2nd batch
model, _ = make_problem(3)
assert_raises(RuntimeError, lr_range_test, model, DataLoader(TensorDataset(xs1, ys), batch_size=16), F.cross_entropy,
              sgd(model), 1e-4, 1e-2, 20, what="lr_range_test when only one step is recorded")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_range_test_restores", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# After the test, the parameters and the optimizer's state (momentum buffers, lr) are exactly what they were before;
# with device="cpu", every batch reaching the model and the loss was moved with .to(device).
def same_state(a, b) -> bool:
    """Deep equality of two state dicts (tensors compared exactly)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_state(u, v) for u, v in zip(a, b))
    return a == b


class MovedOnly(nn.Module):
    """A linear layer that fails when its input was not moved to the device."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 3).double()

    def forward(self, x):
        assert_moved(x, what="the input batch x")
        return self.linear(x)


def moved_loss(logits, y):
    assert_moved(y, what="the targets y")
    return F.cross_entropy(logits, y)


g = torch.Generator().manual_seed(7)
x, y = torch.randn(64, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (64,), generator=g)
loader = DataLoader(TensorDataset(x, y), batch_size=16)
torch.manual_seed(7)
model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
for xb, yb in list(loader)[:2]:                       # give the optimizer some momentum state first
    optimizer.zero_grad()
    F.cross_entropy(model(xb), yb).backward()
    optimizer.step()
model_before = copy.deepcopy(model.state_dict())
optimizer_before = copy.deepcopy(optimizer.state_dict())
lr_range_test(model, loader, F.cross_entropy, optimizer, start_lr=1e-3, end_lr=10.0, num_steps=30)
for name, tensor in model.state_dict().items():
    assert torch.equal(tensor, model_before[name]), f"model.{name} was not restored after the range test"
assert optimizer.param_groups[0]["lr"] == 0.05, f"the optimizer's lr should be back to 0.05, got {optimizer.param_groups[0]['lr']}"
assert same_state(optimizer.state_dict(), optimizer_before), (
    "the optimizer's state (momentum buffers) was not restored: save a deep copy of optimizer.state_dict() and load it back")
torch.manual_seed(8)
moved_model = MovedOnly()
lr_range_test(moved_model, unmoved_batches(loader), moved_loss, torch.optim.SGD(moved_model.parameters(), lr=0.1),
              start_lr=1e-3, end_lr=1.0, num_steps=10, device="cpu")
### BEGIN HIDDEN TESTS
# device=None: batches are still moved (to the device of the model's parameters)
torch.manual_seed(9)
moved_model = MovedOnly()
lr_range_test(moved_model, unmoved_batches(loader), moved_loss, torch.optim.SGD(moved_model.parameters(), lr=0.1),
              start_lr=1e-3, end_lr=1.0, num_steps=10)


def _check_restored(model, optimizer, run, what):
    model_before = copy.deepcopy(model.state_dict())
    params_before = list(model.parameters())
    optimizer_before = copy.deepcopy(optimizer.state_dict())
    run()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, model_before[name]), f"{what}: model.{name} was not restored"
    assert all(p is q for p, q in zip(model.parameters(), params_before)), \
        f"{what}: the model's parameters must stay the same objects (load_state_dict copies into them)"
    assert same_state(optimizer.state_dict(), optimizer_before), f"{what}: the optimizer's state was not restored"


# Adam with moments and two param groups, BatchNorm buffers, the model trained hard by a long sweep
torch.manual_seed(10)
bn_model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
adam = torch.optim.Adam([{"params": bn_model[0].parameters(), "lr": 0.01},
                         {"params": list(bn_model[1].parameters()) + list(bn_model[3].parameters()), "lr": 0.002}])
for xb, yb in list(loader)[:3]:
    adam.zero_grad()
    F.cross_entropy(bn_model(xb), yb).backward()
    adam.step()
_check_restored(bn_model, adam, lambda: lr_range_test(bn_model, loader, F.cross_entropy, adam, 1e-4, 100.0, 40),
                "Adam with two param groups and a BatchNorm model")
assert [grp["lr"] for grp in adam.param_groups] == [0.01, 0.002], "both param groups' lrs must be restored"
# a fresh optimizer (no state yet) is left without state
torch.manual_seed(11)
fresh_model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
fresh = torch.optim.SGD(fresh_model.parameters(), lr=0.3, momentum=0.9)
_check_restored(fresh_model, fresh, lambda: lr_range_test(fresh_model, loader, F.cross_entropy, fresh, 1e-3, 1.0, 15),
                "a fresh SGD optimizer")
assert len(fresh.state) == 0, "a fresh optimizer must have no state after the range test"
# restored even when it raises RuntimeError (NaN in the second batch: only one step recorded)
x_nan = x.clone()
x_nan[20] = float("nan")
torch.manual_seed(12)
nan_model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
nan_opt = torch.optim.SGD(nan_model.parameters(), lr=0.05, momentum=0.9)


def _expect_runtime_error():
    try:
        lr_range_test(nan_model, DataLoader(TensorDataset(x_nan, y), batch_size=16), F.cross_entropy, nan_opt, 1e-3, 1.0, 10)
    except RuntimeError:
        return
    raise AssertionError("lr_range_test must raise RuntimeError when fewer than two steps are recorded")


_check_restored(nan_model, nan_opt, _expect_runtime_error, "after raising RuntimeError")
### END HIDDEN TESTS

# %% [markdown]
# Now on the digits: an MLP with SGD and momentum 0.9, batches of 64, a sweep from $10^{-5}$ to 10 in 100 steps.

# %%
train_loader, val_loader = digits_loaders(batch_size=64, seed=0)
seed_everything(0)
model = make_mlp(64, 10, width=64, depth=2).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
before = copy.deepcopy(model.state_dict())
lrs, losses, suggested = lr_range_test(model, train_loader, F.cross_entropy, optimizer, start_lr=1e-5, end_lr=10.0,
                                       num_steps=100)
at_min = lrs[losses.index(min(losses))]
print(f"recorded {len(lrs)} of 100 steps; suggested lr (steepest descent) {suggested:.3g}; "
      f"lr at the lowest loss {at_min:.3g}")
print("model restored:", all(torch.equal(v, before[k]) for k, v in model.state_dict().items()),
      "| optimizer lr restored:", optimizer.param_groups[0]["lr"])

fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.plot(lrs, losses)
ax.axvline(suggested, color="C2", ls="--", label=f"steepest descent: {suggested:.2g}")
ax.axvline(at_min, color="C3", ls=":", label=f"lowest loss: {at_min:.2g}")
ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="smoothed training loss (nats)",
       title="LR range test, digits MLP, SGD + momentum")
ax.grid(alpha=0.3)
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# Does the suggestion work? Smith meant the range test to pick the *peak* of a schedule that then decays, so train
# three fresh copies of the network for 5 epochs with a cosine decay from three peaks: a tenth of the suggestion, the
# suggestion, and the rate at the lowest point of the sweep. This is also a real loop with a per-step scheduler:
# `optimizer.step()`, then `scheduler.step()`, once per batch.

# %%
def train_cosine(peak_lr: float, epochs: int = 5) -> list[float]:
    """Validation loss after each epoch: SGD + momentum, cosine decay from peak_lr to 0 over every batch of the run."""
    seed_everything(0)
    net = make_mlp(64, 10, width=64, depth=2).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=peak_lr, momentum=0.9)
    scheduler = lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(train_loader))
    val_losses = []
    for _ in range(epochs):
        net.train()
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            scheduler.step()  # per batch, after optimizer.step()
        net.eval()
        with torch.inference_mode():
            val_losses.append(sum(F.cross_entropy(net(x.to(device)), y.to(device), reduction="sum").item()
                                  for x, y in val_loader) / len(val_loader.dataset))
    return val_losses


for name, peak_lr in (("suggested / 10", suggested / 10), ("suggested", suggested), ("at the lowest loss", at_min)):
    print(f"{name:>18} (peak {peak_lr:.3g}): validation loss per epoch {[round(v, 3) for v in train_cosine(peak_lr)]}")

# %% [markdown]
# The lowest point of the sweep is already at the edge of instability. The loss there is low only because the
# smaller rates before it did the work, and a run that starts at that rate goes wrong. The steepest-descent rule
# picks a rate two or three times smaller, and it trains best of the three. A tenth of it is safe, but with only 5
# epochs it is too slow. Two caveats. The smoothed curve lags behind the raw losses by about $\beta/(1-\beta) = 9$
# steps, which is a factor of about $1.15^9 \approx 3.5$ in learning rate here, so the steepest point leans high.
# For a *constant* rate, a quarter to a half of the suggestion works better on this network. Other rules are in use
# too, such as a tenth of the rate at the lowest loss (fastai's `minimum` suggestion). Every rule reads a noisy
# curve, and the curve depends on the batch size, the optimizer and the length of the sweep. Treat the answer as a
# starting point to within a factor of 3 or so, not as the best rate.
#
# ## 7. Explorer: schedule × peak learning rate × warmup
#
# An MLP on the digits trained with Adam for 200 steps (batches of 128) through the course's explorer. The knobs are
# the schedule, the peak learning rate and the number of warmup steps. A warmup applies to every schedule, so
# "cosine" with warmup > 0 *is* warmup + cosine. The explorer ramps $(t+1)/w$ (its first step is not zero, unlike
# Exercise 1). The right panel draws the learning rate that each optimizer step used; the left one the training loss
# per step and the validation loss every 20 steps (log scale), with earlier runs faded.

# %%
def lr_curve(model: nn.Module, cfg, data) -> dict[str, list[float]]:
    """Probe: the learning rate of every optimizer step, as the explorer's run() sets it."""
    steps, warmup = cfg["steps"], cfg["warmup_steps"]
    if warmup is None:
        warmup = steps // 10 if cfg["schedule"] == "warmup_cosine" else 0
    return {"lr": [cfg["lr"] * lr_multiplier(t, steps, cfg["schedule"], warmup) for t in range(steps)]}


schedule_task = digits_mlp_task(optimizer="adam", steps=200, batch_size=128, eval_every=20)
schedule_task = dataclasses.replace(schedule_task, name="digits_mlp_lr_schedule", probe=lr_curve)
explorer = LossCurveExplorer(
    schedule_task,
    knobs=[Knob.dropdown("schedule", ["constant", "step", "cosine"], "cosine"),
           Knob.log_slider("lr", 1e-3, 0.3, 0.01, description="peak lr"),
           Knob.int_slider("warmup_steps", 0, 100, 0, step=10, description="warmup steps")],
    extra_panel="init_lr",  # computed when the model is built, so it is there even for a run that diverged
    extra_logy=False,
    logy=True,
    prompt="Adam at peak lr 0.1 with no warmup: what happens in the first 30 steps? Then add 20 warmup steps.",
)
explorer.ax_extra.set(xlabel="optimizer step (1 = the first)", ylabel="learning rate")
for line in (explorer.extra_line, *explorer.faded_extra_lines):
    line.set_marker("")
explorer.update()  # redraw with the new labels
explorer

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Constant schedule, no warmup. Raise the peak lr from 0.001 to 0.1. Where does the training loss stop falling,
#    and where does it spike above its starting value of $\ln 10 \approx 2.3$ in the first steps?
# 2. At peak lr 0.1, add 20 and then 50 warmup steps. The early spike goes away. Does the final validation loss
#    improve too? Not reliably: Adam at 0.1 is too fast for this network all the way through, and the final loss jumps
#    up or down from one warmup setting to the next. Warmup cures a bad start, not a peak that is too high. In a large
#    transformer, though, the start is where runs die, and warmup can decide whether the run trains at all.
# 3. At peak lr 0.03 with no warmup, compare constant, step and cosine. Which ends with the smoothest, lowest training
#    curve? Why does the step schedule show a sudden drop at step 100?
# 4. At peak lr 0.001, does the schedule matter? (When the rate is too small already, decaying it only slows you down.)

# %% [markdown]
# ## Drills (graded)
#
# 1. `drill_multipliers`: a list of the 5 multipliers `warmup_cosine(s, warmup_steps=100, total_steps=1000,
#    min_ratio=0.1)` gives at steps $s$ = 0, 50, 100, 550 and 1000.
# 2. `drill_factor_100`: a range test goes from $10^{-7}$ to 10 by multiplying the learning rate by the same factor
#    100 times. What is that factor?
# 3. `drill_factor_sweep`: the factor between consecutive entries of `lrs` in *your* `lr_range_test` with
#    `start_lr=1e-7, end_lr=10, num_steps=100` (when it runs all 100 steps).
# 4. `drill_onecycle_warmup`: `OneCycleLR` runs for 10 epochs × 100 steps per epoch with `pct_start=0.3`. How many of
#    the 1,000 optimizer steps does its rising phase take? (The last of them uses `max_lr`.)

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_multipliers = [0.0, 0.5, 1.0, 0.55, 0.1]
drill_factor_100 = 10 ** (8 / 100)
drill_factor_sweep = 10 ** (8 / 99)
drill_onecycle_warmup = 300
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Plausibility only (the values themselves are checked by hidden tests): five multipliers between 0 and 1,
# factors above 1, and a whole number of steps between 1 and 1,000.
for name in ("drill_multipliers", "drill_factor_100", "drill_factor_sweep", "drill_onecycle_warmup"):
    assert name in globals(), f"{name} is not defined: fill in the drill cell above and run it"
assert len(drill_multipliers) == 5, "drill_multipliers should hold 5 numbers"
assert all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in drill_multipliers), \
    "each multiplier is a number between 0 and 1 (the factor LambdaLR multiplies the base lr by)"
for name in ("drill_factor_100", "drill_factor_sweep"):
    assert isinstance(globals()[name], (int, float)) and globals()[name] > 1, f"{name} should be a number above 1"
assert isinstance(drill_onecycle_warmup, (int, float)) and 1 <= drill_onecycle_warmup <= 1000, \
    "drill_onecycle_warmup is a number of optimizer steps between 1 and 1,000"
### BEGIN HIDDEN TESTS
for s, got, want in zip((0, 50, 100, 550, 1000), drill_multipliers, (0.0, 0.5, 1.0, 0.55, 0.1)):
    assert abs(got - want) < 1e-6, (f"drill_multipliers: the multiplier at step {s} is wrong. Step 0 of the warmup is 0, "
                                    f"and the floor is scaled in, not clamped: min_ratio + (1 - min_ratio)(1 + cos(pi p)) / 2")
assert abs(drill_factor_100 - 10 ** 0.08) < 5e-4, \
    "drill_factor_100: the factor raised to the number of multiplications is end_lr / start_lr"
assert abs(drill_factor_sweep - 10 ** (8 / 99)) < 5e-4, \
    "drill_factor_sweep: num_steps learning rates from start_lr to end_lr inclusive are one multiplication fewer"
assert abs(drill_onecycle_warmup - 300) < 1e-6, \
    "drill_onecycle_warmup: the rising phase is the fraction pct_start of all the optimizer steps of the run"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A colleague trains a transformer with AdamW at a peak learning rate of $3\times10^{-4}$ and no schedule.
# The loss spikes and goes to NaN within the first few hundred steps. At $3\times10^{-5}$ it trains, but far too
# slowly. What would you change, why does it work, and how would you pick the peak learning rate?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Add a linear warmup and a decay: ramp the learning rate from about 0 to $3\times10^{-4}$ over the first few hundred
# to few thousand steps (typically 1–5 % of the run), then cosine-decay it to about 10 % of the peak (or use a
# warmup-stable-decay schedule). Implement it as a `LambdaLR` or as `SequentialLR([LinearLR, CosineAnnealingLR])`,
# and call `scheduler.step()` once per optimizer step, after `optimizer.step()`. Why warmup works: at initialisation
# the loss surface is steep and the activations and normalisation statistics are far from where they settle, and
# Adam's second-moment estimate rests on only a few gradients. Its first update moves every coordinate by about the
# full learning rate, whatever the gradient's size. Full-size steps there can kick the model into a region it never
# recovers from. Small steps let the statistics settle and the model reach a region where the large rate is stable,
# so the run gets the large rate's speed later. The decay then shrinks the gradient-noise "ball" at the end. To pick
# the peak, run an LR range test (exponential sweep, smoothed loss, restore the weights and the optimizer state
# afterwards) and take a rate clearly below the blow-up, near the steepest descent. Gradient clipping (e.g. max norm
# 1.0) is a cheap extra guard against the remaining spikes.

# %% [markdown]
# **Q2.** You trained for 10 epochs with `CosineAnnealingLR(optimizer, T_max=10)`, stepped once per epoch, and the
# validation loss is still falling. You are asked for 5 more epochs. What happens if you just keep calling
# `scheduler.step()`, what would you do instead, and which schedules suit runs whose length is not known in advance?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# `CosineAnnealingLR` is periodic, not clamped. Past `T_max` the learning rate climbs back up from `eta_min` along
# the same cosine. The 5 extra epochs (0-based epochs 10 to 14) use `eta_min` and then 2 %, 10 %, 21 % and 35 % of the
# way back to the peak, and epoch 15 would be back at half of it, $\eta_\min + (\eta_0 - \eta_\min)/2$. Rising rates
# at the end of a run undo the fine settling of the last epochs. Instead, either restart from the checkpoint with a new short
# schedule (a brief warmup to a lower peak, then decay over the 5 epochs), or, if compute allows, retrain with
# `T_max=15`. A `LambdaLR` that holds the floor after the end at least avoids the climb, but it gives no further
# decay. When the length is unknown, use a schedule that does not need it: `ReduceLROnPlateau`
# (`scheduler.step(val_loss)` each epoch; cuts by `factor` after `patience` epochs without improvement), or
# warmup-stable-decay, whose constant phase can be extended at will, with a short decay branched off whenever a
# finished model is needed. `OneCycleLR`, cosine and warmup+cosine all need the total number of steps up front
# (`OneCycleLR` even raises an error if stepped past it).
