# %% [markdown]
# # 28 · Hyperparameter tuning
#
# **Interview question:** *Which hyperparameters matter most, and in what order would you search them?*
#
# **After this notebook you can**
# - rank the usual hyperparameters by impact and tune them in that order, learning rate first;
# - say why a scale parameter such as the learning rate is sampled log-uniformly, and write the sampler;
# - explain why random search beats grid search when only a few hyperparameters matter (Bergstra & Bengio, 2012),
#   and write random search yourself;
# - run a real Optuna study: `suggest_float(..., log=True)`, `suggest_int`, `suggest_categorical`, the TPE sampler,
#   a `MedianPruner` fed by `trial.report` and `trial.should_prune`, and `get_param_importances`;
# - watch a grid and a random search of the same budget look for a good learning rate.
#
# **Runs on a CPU in about 15 s** (about 30 s on a busy 2-core machine). Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import dataclasses
import math
import random

import matplotlib.pyplot as plt
import numpy as np
import optuna
import torch
import torch.nn.functional as F

from course_utils import digits_split, get_device, make_mlp, seed_everything
from course_utils.explorers import GridPanel, Knob, LossCurveExplorer, digits_mlp_task, run
from course_utils.testing import assert_between, assert_python_float, assert_raises, binomial_tolerance

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. Not every knob matters equally
#
# A network has dozens of hyperparameters, and their effects are very uneven. Tune them in order of impact: tuning
# dropout is wasted effort while the learning rate is off by a factor of 30, because the learning rate's error
# swamps everything else. A common order, with the ranges people search:
#
# | priority | hyperparameter | typical search |
# |---|---|---|
# | 1 | **learning rate** | log-uniform on $[10^{-5}, 10^{-1}]$ |
# | 1 | batch size | 32 to 512, in powers of 2; it interacts with the learning rate, so retune them together |
# | 2 | architecture: depth, width | start from a proven baseline for the data type, then scale |
# | 2 | optimizer | Adam or AdamW first; SGD with momentum 0.9 once the pipeline works |
# | 3 | weight decay | log-uniform on $[10^{-5}, 10^{-1}]$ |
# | 3 | schedule and warmup | cosine decay with 5–10 % of the steps as warmup |
# | 4 | dropout | 0, 0.1, 0.2, 0.5 |
# | 4 | BatchNorm `eps`, `momentum` | the defaults are fine |
#
# Here is the gap on a real network: an MLP on the 8×8 digits (2 hidden layers of 64, Adam, 100 steps with
# batches of 64), through the course's explorer core `run`. First 11 learning rates from $10^{-5}$ to 1 with no
# dropout, then three dropout rates at learning rate $10^{-2}$.

# %%
base_task = digits_mlp_task(optimizer="adam", steps=100, batch_size=64, eval_every=10)
sweep_log_lrs = np.linspace(-5, 0, 11)  # log10 of the learning rates
sweep_lr_loss = np.array([run({"lr": float(10**e)}, base_task).final_val_loss for e in sweep_log_lrs])
sweep_dropouts = np.array([0.0, 0.25, 0.5])
sweep_dropout_loss = np.array([run({"lr": 1e-2, "dropout": float(p)}, base_task).final_val_loss for p in sweep_dropouts])

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True, layout="constrained")
axes[0].plot(10**sweep_log_lrs, sweep_lr_loss, marker="o")
axes[0].set(xscale="log", yscale="log", xlabel="learning rate (dropout 0)", ylabel="final validation loss (nats)",
            title=f"learning rate: a factor of {sweep_lr_loss.max() / sweep_lr_loss.min():.0f} in the loss")
axes[1].plot(sweep_dropouts, sweep_dropout_loss, marker="o", color="C1")
axes[1].set(xlabel="dropout rate (learning rate 1e-2)",
            title=f"dropout: {sweep_dropout_loss.max() - sweep_dropout_loss.min():.3f} nats between best and worst")
for ax in axes:
    ax.grid(alpha=0.3)
plt.show()
print("learning rate: loss from", f"{sweep_lr_loss.min():.3f} to {sweep_lr_loss.max():.3f} nats")
print("dropout:       loss from", f"{sweep_dropout_loss.min():.3f} to {sweep_dropout_loss.max():.3f} nats")

# %% [markdown]
# The learning rate moves the validation loss by more than an order of magnitude: too small and 100 steps get
# nowhere, too large and the loss blows up. Dropout moves it by a few hundredths of a nat. (On a larger model
# trained to convergence dropout matters more, but usually still less than a learning rate that is off by 10×.) Two more lessons hide in the left panel: the good region is about a decade wide, and it is only
# visible because the axis is logarithmic.
#
# ## 2. Sample scale parameters log-uniformly
#
# The learning rate acts multiplicatively: going from $10^{-4}$ to $10^{-3}$ changes training about as much as
# going from $10^{-3}$ to $10^{-2}$. So each *decade* deserves the same number of trials. Sampling $\eta$
# uniformly on $[10^{-5}, 10^{-1}]$ does the opposite: 90 % of the draws land in the top decade
# $[10^{-2}, 10^{-1}]$, and the decade $[10^{-5}, 10^{-4}]$ gets 0.09 %.
#
# **Log-uniform** sampling draws the logarithm uniformly:
#
# $$
# u \sim \mathcal U(0, 1), \qquad \eta = \exp\!\big(\ln a + u\,(\ln b - \ln a)\big) = a\,(b/a)^{u},
# $$
#
# so $P(\eta \le x) = \dfrac{\ln x - \ln a}{\ln b - \ln a}$ and every decade inside $[a, b]$ gets the same
# probability. The base of the logarithm does not matter. The same rule applies to weight decay, Adam's $\epsilon$
# and any other knob whose useful values span orders of magnitude. Width is often searched on a log scale too
# (16, 32, 64, 128). Dropout and momentum live on a bounded interval and are searched linearly (momentum
# sometimes as $1 - \beta$ on a log scale). SciPy ships this distribution as `scipy.stats.loguniform`, Optuna as
# `suggest_float(name, low, high, log=True)`, and in PyTorch it is a uniform distribution pushed through
# $\exp$: `TransformedDistribution(Uniform(ln a, ln b), [ExpTransform()])`. Fractions per decade, from 40,000 draws of
# each:

# %%
dist = torch.distributions
torch.manual_seed(0)
uniform_draws = dist.Uniform(1e-5, 1e-1).sample((40_000,))
loguniform_draws = dist.TransformedDistribution(dist.Uniform(math.log(1e-5), math.log(1e-1)),
                                                [dist.transforms.ExpTransform()]).sample((40_000,))
decades = [(10.0**k, 10.0 ** (k + 1)) for k in range(-5, -1)]
print(f"{'decade':>16} {'uniform':>9} {'log-uniform':>12}")
for lo, hi in decades:
    in_u = ((uniform_draws >= lo) & (uniform_draws < hi)).float().mean()
    in_l = ((loguniform_draws >= lo) & (loguniform_draws < hi)).float().mean()
    print(f"[{lo:.0e}, {hi:.0e}) {in_u:9.4f} {in_l:12.4f}")

# %% [markdown]
# ## Exercise 1 · `log_uniform` (graded)
#
# Write `log_uniform(low, high, n, generator)`: `n` independent draws from the log-uniform distribution on
# $[\text{low}, \text{high}]$, as a float64 tensor of shape `(n,)`.
#
# - Take every random number from `generator` (a `torch.Generator`), so that the same generator state gives the same
#   draws whatever the global random state is, and a second call with the same generator continues its stream. `torch.rand(n, generator=generator, dtype=torch.float64)` gives
#   $u$.
# - Every value lies in $[\text{low}, \text{high}]$.
# - Raise `ValueError` unless $0 < \text{low} < \text{high}$ (a logarithm needs positive bounds).

# %% nbgrader={"grade": false, "grade_id": "log_uniform", "locked": false, "schema_version": 3, "solution": true, "task": false}
def log_uniform(low: float, high: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws, float64 of shape (n,), whose logarithm is uniform on [log(low), log(high)]."""
    ### BEGIN SOLUTION
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_log_uniform", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# 40,000 draws on [1e-5, 1e-1]: float64 of shape (40000,), every value inside the bounds, about a quarter of them in
# each of the four decades; the same generator seed gives the same draws; ValueError for a bound <= 0.
draws = log_uniform(1e-5, 1e-1, 40_000, torch.Generator().manual_seed(0))
assert isinstance(draws, torch.Tensor) and draws.dtype == torch.float64, "return a float64 tensor"
assert draws.shape == (40_000,), f"expected shape (40000,), got {tuple(draws.shape)}"
assert bool(((draws >= 1e-5 * (1 - 1e-12)) & (draws <= 1e-1 * (1 + 1e-12))).all()), "a draw falls outside [low, high]"
for k in range(-5, -1):
    frac = ((draws >= 10.0**k) & (draws < 10.0 ** (k + 1))).double().mean().item()
    assert abs(frac - 0.25) <= binomial_tolerance(40_000, 0.25), \
        f"the decade [1e{k}, 1e{k + 1}) holds {frac:.3f} of the draws; log-uniform gives each decade 0.25"
again = log_uniform(1e-5, 1e-1, 40_000, torch.Generator().manual_seed(0))
assert torch.equal(draws, again), "the same generator seed must give the same draws"
assert_raises(ValueError, log_uniform, 0.0, 1.0, 5, torch.Generator(), what="log_uniform(0.0, 1.0, ...)")
### BEGIN HIDDEN TESTS
def _gen(seed):
    return torch.Generator().manual_seed(seed)


# bounds that are not powers of ten: log(X) is uniform, so each quarter of [log low, log high] holds a quarter
low, high, n = 2.0, 3.0e4, 40_000
draws = log_uniform(low, high, n, _gen(11))
assert isinstance(draws, torch.Tensor) and draws.dtype == torch.float64 and draws.shape == (n,), \
    "for bounds that are not powers of ten: return a float64 tensor of shape (n,)"
assert bool(((draws >= low * (1 - 1e-12)) & (draws <= high * (1 + 1e-12))).all()), \
    "for bounds that are not powers of ten, a draw falls outside [low, high]"
edges = [math.exp(math.log(low) + q * (math.log(high) - math.log(low))) for q in (0.0, 0.25, 0.5, 0.75, 1.0)]
for a, b in zip(edges, edges[1:]):
    frac = ((draws >= a) & (draws < b)).double().mean().item()
    assert abs(frac - 0.25) <= binomial_tolerance(n, 0.25), \
        "for bounds that are not powers of ten, the logarithm of the draws is not uniform between log(low) and log(high)"
# a narrow range near 1: still log-uniform, and the draws are not all equal
draws = log_uniform(0.5, 0.9, 20_000, _gen(12))
below_geo_mean = (draws < math.sqrt(0.5 * 0.9)).double().mean().item()
assert abs(below_geo_mean - 0.5) <= binomial_tolerance(20_000, 0.5), \
    "on a narrow range, half of the draws must fall below the geometric mean of the bounds"
assert draws.unique().numel() > 19_000, "the draws must be (almost surely) all different"
# only the generator's state decides the draws, and the global RNG is left alone
torch.manual_seed(1)
first = log_uniform(1e-3, 1e3, 50, _gen(13))
torch.manual_seed(2)
state = torch.get_rng_state()
second = log_uniform(1e-3, 1e3, 50, _gen(13))
assert torch.equal(first, second), "the draws must come from the generator passed in, not from the global RNG"
assert torch.equal(state, torch.get_rng_state()), "log_uniform must not use or reseed the global torch RNG"
g = _gen(14)
assert not torch.equal(log_uniform(1e-3, 1e3, 50, g), log_uniform(1e-3, 1e3, 50, g)), \
    "two calls with the same generator must continue its stream (give new draws), not restart it"
# sizes
assert log_uniform(1e-2, 1.0, 1, _gen(15)).shape == (1,), "n=1 gives shape (1,)"
assert log_uniform(1e-2, 1.0, 0, _gen(15)).shape == (0,), "n=0 gives an empty tensor of shape (0,)"
# invalid bounds
for args, why in (((-1.0, 1.0), "a negative low"), ((1.0, 1.0), "low == high"), ((2.0, 1.0), "low > high"),
                  ((0.0, 0.0), "both bounds 0")):
    assert_raises(ValueError, log_uniform, *args, 5, _gen(0), what=f"log_uniform with {why}")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Grid search or random search?
#
# A **grid search** tries every combination of a few values per hyperparameter. A **random search** draws each
# trial's hyperparameters independently from their ranges. With the same budget of 9 trials over two
# hyperparameters, a $3\times3$ grid tests only **3 distinct values of each**; a random search tests 9 of each.
# When one of the two barely matters (as it often does: section 1 showed a case), the grid has spent 6 of its 9
# trials repeating the 3 values of the important one that it already tried. Bergstra and Bengio (2012) made this argument and showed
# that random search finds models as good as a grid's with a fraction of the budget. The picture below uses a
# made-up objective that depends strongly on $x_1$ and only weakly on $x_2$: the projections on the $x_1$ axis are
# what count.

# %%
def toy_objective(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """A made-up loss: a narrow valley in x1 (important), a gentle slope in x2 (unimportant)."""
    return 1.0 - np.exp(-((x1 - 0.37) ** 2) / 0.01) + 0.05 * x2


k = 3
grid = np.array([(a, b) for a in np.linspace(0, 1, k) for b in np.linspace(0, 1, k)])
random_points = np.random.default_rng(1).uniform(0, 1, size=(k * k, 2))
xs = np.linspace(0, 1, 200)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
for ax, (name, pts) in zip(axes, (("3×3 grid", grid), ("9 random trials", random_points))):
    X1, X2 = np.meshgrid(xs, xs)
    ax.contourf(X1, X2, toy_objective(X1, X2), levels=20, cmap="viridis_r", alpha=0.8)
    ax.scatter(pts[:, 0], pts[:, 1], color="white", edgecolor="k", s=50, zorder=3)
    ax.plot(pts[:, 0], np.full(len(pts), -0.04), "k|", ms=12, clip_on=False)  # projections on the x1 axis
    best = pts[np.argmin(toy_objective(pts[:, 0], pts[:, 1]))]
    ax.scatter(*best, marker="*", color="red", s=200, zorder=4)
    ax.set(xlabel="x1 (important)", ylabel="x2 (unimportant)", xlim=(0, 1), ylim=(-0.06, 1),
           title=f"{name}: best loss {toy_objective(*best):.3f}, {len(np.unique(pts[:, 0]))} distinct x1")
plt.show()
grid_best = toy_objective(grid[:, 0], grid[:, 1]).min()
random_bests = np.array([toy_objective(*np.random.default_rng(s).uniform(0, 1, size=(k * k, 2)).T).min()
                         for s in range(1000)])
print(f"9 random trials beat the 3×3 grid ({grid_best:.3f}) with {(random_bests < grid_best).mean():.0%} of 1,000 seeds")

# %% [markdown]
# Beyond that, random search has practical advantages: you can stop it at any time and the trials so far are a
# valid (smaller) random search; you can add trials without redrawing the grid; and a failed trial leaves no hole.
# A grid still makes sense for one or two hyperparameters that you know both matter, or for an ablation table.
#
# A number worth knowing: if a "good" configuration is any in the best 5 % of the search space, each random trial
# lands there with probability 0.05, so 60 trials miss it with probability $0.95^{60} \approx 0.046$. Sixty random
# trials find a top-5 % configuration 95 % of the time, *whatever the number of hyperparameters*.
#
# ## Exercise 2 · `random_search` (graded)
#
# Write `random_search(objective, space, n_trials, seed)`, which **minimises** `objective` by random search.
#
# - `space` maps each hyperparameter's name to one of
#   - `("log", low, high)`: a float, log-uniform on $[\text{low}, \text{high}]$ (your `log_uniform` does it);
#   - `("uniform", low, high)`: a float, uniform on $[\text{low}, \text{high}]$;
#   - `("choice", options)`: one element of the list `options`, each equally likely.
# - Each of the `n_trials` trials draws a fresh dict `params` with one value per name of `space`, every value drawn
#   independently, and calls `objective(params)` once. Floats are Python `float`s; a choice is the option itself.
# - Make the search reproducible: take every random number from a generator seeded with `seed`
#   (`torch.Generator().manual_seed(seed)`, or NumPy's or Python's own seeded generator). The same seed gives the same
#   trials; different seeds give different trials; and the global random states (torch, NumPy, `random`) are left
#   alone, neither used nor reseeded.
# - Return `(best_params, best_value, trials)`: `trials` is the list of `(params, value)` pairs in the order they
#   ran, with `value` as a Python float; the best trial is the first one with the lowest value. A trial whose value is
#   NaN (a run that diverged) never counts as the best; if every value is NaN, return `(None, nan, trials)`.
# - Raise `ValueError` for `n_trials < 1` or an unknown kind.

# %% nbgrader={"grade": false, "grade_id": "random_search", "locked": false, "schema_version": 3, "solution": true, "task": false}
def random_search(objective, space: dict, n_trials: int, seed: int) -> tuple[dict | None, float, list[tuple[dict, float]]]:
    """Minimise objective(params) over n_trials independent random draws from space; return (best_params, best_value, trials)."""
    ### BEGIN SOLUTION
    if n_trials < 1:
        raise ValueError(f"need n_trials >= 1, got {n_trials}")
    for name, spec in space.items():
        if spec[0] not in ("log", "uniform", "choice"):
            raise ValueError(f"{name}: unknown kind {spec[0]!r}; use 'log', 'uniform' or 'choice'")
    generator = torch.Generator().manual_seed(seed)
    trials = []
    best_params, best_value = None, math.nan
    for _ in range(n_trials):
        params = {}
        for name, spec in space.items():
            if spec[0] == "log":
                params[name] = log_uniform(spec[1], spec[2], 1, generator).item()
            elif spec[0] == "uniform":
                u = torch.rand(1, generator=generator, dtype=torch.float64).item()
                params[name] = spec[1] + u * (spec[2] - spec[1])
            else:
                options = spec[1]
                params[name] = options[torch.randint(len(options), (1,), generator=generator).item()]
        value = float(objective(params))
        trials.append((params, value))
        if not math.isnan(value) and (best_params is None or value < best_value):
            best_params, best_value = params, value
    return best_params, best_value, trials
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_random_search_basics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A 20-trial search of a simple bowl: 20 (params, value) trials, each params holding exactly the names of the space
# with values of the right type inside their ranges; objective called once per trial; the best trial is the one with the
# lowest value; the same seed gives the same trials.
space = {"lr": ("log", 1e-5, 1e-1), "dropout": ("uniform", 0.0, 0.5), "optimizer": ("choice", ["adam", "sgd"])}
calls = []


def bowl(params):
    calls.append(dict(params))
    return (math.log10(params["lr"]) + 3) ** 2 + params["dropout"] + (0.5 if params["optimizer"] == "sgd" else 0.0)


best_params, best_value, trials = random_search(bowl, space, 20, seed=0)
assert len(trials) == 20 and len(calls) == 20, f"expected 20 trials and 20 objective calls, got {len(trials)}, {len(calls)}"
for params, value in trials:
    assert set(params) == set(space), f"each params dict holds exactly the names {sorted(space)}, got {sorted(params)}"
    assert type(params["lr"]) is float and 1e-5 <= params["lr"] <= 1e-1, f"lr must be a float in [1e-5, 1e-1]: {params}"
    assert type(params["dropout"]) is float and 0.0 <= params["dropout"] <= 0.5, f"dropout must be a float in [0, 0.5]: {params}"
    assert params["optimizer"] in ("adam", "sgd"), f"optimizer must be one of the options: {params}"
    assert_python_float(value, what="each trial's value")
assert [p for p, _ in trials] == calls, "trials must hold the params of each objective call, in order"
values = [v for _, v in trials]
assert best_value == min(values) and best_params == trials[values.index(min(values))][0], \
    "best_params and best_value must be those of the trial with the lowest value"
assert random_search(bowl, space, 20, seed=0)[2] == trials, "the same seed must give the same trials"
### BEGIN HIDDEN TESTS
def _signature(trials):
    return [tuple(sorted(p.items())) for p, _ in trials]


space = {"a": ("log", 1e-4, 1.0), "b": ("uniform", -1.0, 3.0), "c": ("choice", [1, 2, 3]), "d": ("uniform", 0.0, 1.0)}


def _flat(params):
    return 0.0


# reproducible, seed-dependent, and independent of (and harmless to) the global random states
torch.manual_seed(5)
np.random.seed(5)
random.seed(5)
run_a = random_search(_flat, space, 30, seed=7)[2]
torch.manual_seed(6)
np.random.seed(6)
random.seed(6)
states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
run_b = random_search(_flat, space, 30, seed=7)[2]
assert _signature(run_a) == _signature(run_b), "the same seed must give the same trials, whatever the global random state"
assert torch.equal(states[0], torch.get_rng_state()), "random_search must leave the global torch RNG alone"
assert np.array_equal(states[1], np.random.get_state()[1]), "random_search must leave NumPy's global RNG alone"
assert states[2] == random.getstate(), "random_search must leave Python's global random module alone"
run_c = random_search(_flat, space, 30, seed=8)[2]
assert _signature(run_a) != _signature(run_c), "different seeds must give different trials"
assert len(set(_signature(random_search(_flat, space, 5, seed=s)[2])[0] for s in range(6))) == 6, \
    "different seeds must give different first trials"

# the distributions, from many trials of a flat objective
n = 6000
trials = random_search(_flat, space, n, seed=21)[2]
a = np.array([p["a"] for p, _ in trials])
b = np.array([p["b"] for p, _ in trials])
c = [p["c"] for p, _ in trials]
d = np.array([p["d"] for p, _ in trials])
assert all(type(p["a"]) is float and type(p["b"]) is float for p, _ in trials), "float hyperparameters must be Python floats"
assert a.min() >= 1e-4 * (1 - 1e-12) and a.max() <= 1.0 + 1e-12, "a log hyperparameter left its range"
assert b.min() >= -1.0 and b.max() <= 3.0, "a uniform hyperparameter left its range"
for k in range(-4, 0):
    frac = ((a >= 10.0**k) & (a < 10.0 ** (k + 1))).mean()
    assert abs(frac - 0.25) <= binomial_tolerance(n, 0.25), \
        "a 'log' hyperparameter must be log-uniform: each decade of its range gets the same share of trials"
for lo, hi in ((-1.0, 0.0), (0.0, 1.0), (1.0, 2.0), (2.0, 3.0)):
    frac = ((b >= lo) & (b < hi)).mean()
    assert abs(frac - 0.25) <= binomial_tolerance(n, 0.25), \
        "a 'uniform' hyperparameter must be uniform over its whole range"
for option in (1, 2, 3):
    frac = c.count(option) / n
    assert abs(frac - 1 / 3) <= binomial_tolerance(n, 1 / 3), "every option of a 'choice' must be equally likely"
# independence: the correlation of two independent draws is about N(0, 1/n)
for x, y, what in ((b, d, "two uniform hyperparameters"), (np.log(a), d, "a log and a uniform hyperparameter")):
    corr = np.corrcoef(x, y)[0, 1]
    assert abs(corr) <= 5.3 / math.sqrt(n), f"{what} are correlated: each hyperparameter needs its own random draw"
first_b = np.array([p["b"] for p, _ in random_search(_flat, space, 2000, seed=22)[2]])
assert len(set(first_b.tolist())) > 1990, "consecutive trials must be new draws, not repeats of the same one"
lag = np.corrcoef(first_b[:-1], first_b[1:])[0, 1]
assert abs(lag) <= 5.3 / math.sqrt(2000), "consecutive trials must be independent draws"

# choosing the best: minimise, the first of equal values, NaN never wins
def _value_from_b(params):
    return float(params["b"] > 0.0)  # about a quarter of the trials tie at the lowest value, 0


best_params, best_value, trials = random_search(_value_from_b, space, 40, seed=3)
values = [v for _, v in trials]
first_best = values.index(min(values))
assert best_value == min(values), "best_value must be the lowest value (random_search minimises)"
assert best_params is trials[first_best][0] or best_params == trials[first_best][0], \
    "best_params must be the params of the first trial with the lowest value"
assert_python_float(best_value, what="best_value")
counter = iter(range(10_000))


def _nan_first(params):
    i = next(counter)
    return math.nan if i % 3 == 0 else float(i)


best_params, best_value, trials = random_search(_nan_first, space, 7, seed=4)
assert best_value == 1.0 and best_params == trials[1][0], "a NaN value (a diverged run) must never count as the best"
best_params, best_value, trials = random_search(lambda p: math.nan, space, 4, seed=4)
assert best_params is None and math.isnan(best_value) and len(trials) == 4, \
    "when every value is NaN, return (None, nan, trials)"
best_params, best_value, trials = random_search(lambda p: p["c"] * 1.0, {"c": ("choice", [4])}, 1, seed=0)
assert len(trials) == 1 and best_value == 4.0, "a single trial is its own best"
# errors
assert_raises(ValueError, random_search, _flat, space, 0, 0, what="random_search with n_trials=0")
assert_raises(ValueError, random_search, _flat, {"x": ("normal", 0.0, 1.0)}, 3, 0, what="random_search with an unknown kind")
### END HIDDEN TESTS

# %% [markdown]
# Try it on the digits MLP: 6 random trials over learning rate and dropout, each a real 100-step training run.

# %%
def digits_objective(params: dict) -> float:
    """Final validation loss (nats) of the digits MLP trained with these hyperparameters."""
    return run({"lr": params["lr"], "dropout": params["dropout"]}, base_task).final_val_loss


best_params, best_value, trials = random_search(
    digits_objective, {"lr": ("log", 1e-5, 1.0), "dropout": ("uniform", 0.0, 0.5)}, n_trials=6, seed=0)
for params, value in sorted(trials, key=lambda t: t[1])[:3]:
    print(f"lr {params['lr']:.2e}  dropout {params['dropout']:.2f}  ->  validation loss {value:.3f}")
print(f"best of 6: {best_value:.3f} nats; the learning-rate sweep of section 1 reached {sweep_lr_loss.min():.3f}")

# %% [markdown]
# ## 4. Smarter search: Optuna, TPE and pruning
#
# Random search ignores everything it has learnt so far. **Bayesian optimisation** fits a model of "which
# hyperparameters give good values" to the finished trials and samples where that model looks promising. Optuna's
# default sampler is **TPE** (Tree-structured Parzen Estimator, Bergstra et al., 2011): it splits the finished
# trials into the best fraction and the rest, fits a density $\ell(x)$ to the good ones and $g(x)$ to the others,
# draws candidates from $\ell$ (24 by default) and proposes the one with the largest ratio $\ell(x)/g(x)$. The best
# fraction is 10 % of the trials (rounded up, at most 25), and in Optuna 5 $\ell$ and $g$ are joint densities over all the
# hyperparameters (`multivariate=True` for one objective). Its first `n_startup_trials` (10 by default) are plain
# random search, to have something to fit.
#
# **Pruning** saves budget another way: a bad run usually looks bad early. Each trial reports its
# validation loss after every epoch with `trial.report(value, step)`, and `trial.should_prune()` asks the pruner
# whether to stop. The **`MedianPruner`** stops a trial when even its best value so far is worse than the median of
# the completed trials' values at the same step. It starts judging once `n_startup_trials` trials have completed,
# and only from step `n_warmup_steps` of each trial on.
# Successive halving, Hyperband and ASHA (`SuccessiveHalvingPruner`, `HyperbandPruner`) go further: they start many
# configurations on a small budget and give more to the best fraction, round after round.
#
# An Optuna objective takes a `trial`, asks it for each hyperparameter with `suggest_float` (with `log=True` for a
# scale parameter), `suggest_int` or `suggest_categorical`, trains, and returns the value. `create_study` picks the
# direction (`"minimize"` for a loss, `"maximize"` for an accuracy), and `study.optimize(objective, n_trials=...)`
# runs the loop. Here: 20 trials over the learning rate, the width, the dropout and the optimizer, each at most
# 4 epochs of the digits (88 steps), seeded sampler and seeded runs so that the study is reproducible.

# %%
optuna.logging.set_verbosity(optuna.logging.WARNING)  # no log line per trial
x_train, y_train, x_val, y_val = digits_split(seed=0)


def optuna_objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    width = trial.suggest_int("width", 16, 128, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    optimizer_name = trial.suggest_categorical("optimizer", ["adam", "sgd_momentum"])
    torch.manual_seed(trial.number)
    model = make_mlp(64, 10, width=width, depth=2, dropout=dropout)
    if optimizer_name == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    order = torch.Generator().manual_seed(trial.number)
    for epoch in range(4):
        model.train()
        perm = torch.randperm(len(x_train), generator=order)
        for i in range(0, len(x_train) - 63, 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(x_val), y_val).item()
        if not math.isfinite(val_loss):
            raise optuna.TrialPruned()  # a diverged run: stop it like a pruned one
        trial.report(val_loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return val_loss


threads = torch.get_num_threads()
torch.set_num_threads(1)  # tiny models train faster on one thread
study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0),
                            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1))
study.optimize(optuna_objective, n_trials=20)
torch.set_num_threads(threads)

complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
epochs_run = sum(len(t.intermediate_values) for t in study.trials)
print(f"{len(complete)} trials completed, {len(pruned)} pruned; {epochs_run} of {4 * len(study.trials)} epochs run")
print(f"best validation loss {study.best_value:.3f} with", {k: (round(v, 4) if isinstance(v, float) else v)
                                                          for k, v in study.best_params.items()})

# %% [markdown]
# Which hyperparameters mattered? `optuna.importance.get_param_importances` answers from the finished trials. Its
# default evaluator in Optuna 5 is PED-ANOVA; here we pass **fANOVA** (Hutter et al., 2014), which fits a random
# forest from hyperparameters to value and splits the variance of its predictions into the share each
# hyperparameter explains on its own; the shares are normalised to sum to 1. The forest is random, so pass a seeded
# evaluator for a reproducible answer. Only completed trials count: pruned ones have no final value.

# %%
importances = optuna.importance.get_param_importances(
    study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
for name, share in importances.items():
    print(f"{name:>10}: {share:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
for t in pruned:
    axes[0].plot(list(t.intermediate_values), list(t.intermediate_values.values()), color="0.6", lw=1, marker=".")
for t in complete:
    axes[0].plot(list(t.intermediate_values), list(t.intermediate_values.values()), color="C0", lw=1.2, marker="o", ms=3)
axes[0].plot([], [], color="0.6", label="pruned")
axes[0].plot([], [], color="C0", label="completed")
axes[0].set(yscale="log", xlabel="epoch", ylabel="validation loss (nats)", title="every trial's reported values")
axes[0].legend(frameon=False, fontsize=8)
axes[0].grid(alpha=0.3)
axes[1].barh(list(importances)[::-1], [float(v) for v in importances.values()][::-1], color="C2")
axes[1].set(xlabel="fANOVA importance (sums to 1)", title="hyperparameter importance")
plt.show()

# %% [markdown]
# The learning rate comes out on top, as in section 1. The pruned runs (grey) stopped at the first check where even their
# best value so far sat above the median of the completed trials at that epoch (checks start at the second epoch,
# once 5 trials have completed); the printout above says how much of the 20 × 4 epochs the study ran.
# Read the shares with care: 20 trials are few, they are concentrated where TPE looked, and an importance says how
# much the *value* varied with a hyperparameter **inside the ranges you gave**. A hyperparameter already near its
# best everywhere in its range scores low.
#
# Three habits of people who tune for a living:
#
# - **Coarse to fine.** A first wide search (learning rate over 4–5 decades) finds the region; a second, narrower
#   one refines it. Widen a range whose best values sit at its edge.
# - **Retune what interacts.** Learning rate and batch size move together (for SGD, the linear scaling rule: double the
#   batch, double the learning rate);
#   so do learning rate and weight decay under AdamW. Changing the width changes the best learning rate too, unless
#   the model is parametrised for it: µP (maximal update parametrisation) keeps the best learning rate stable across
#   widths, so it can be tuned on a small model and transferred.
# - **Several seeds for the finalists.** Two configurations a few hundredths apart are often within seed noise.
#   Rerun the top few with 3–5 seeds and compare means before declaring a winner, and keep the test set out of it:
#   choose on validation data only.
#
# ## 5. Explorer: grid or random, same budget
#
# The explorer searches the learning rate ($10^{-5}$ to 1, log scale) and the dropout rate (0 to 0.5) of the digits
# MLP, with a $k \times k$ grid (`np.logspace` by `np.linspace`, ends included) or with $k^2$ random trials. To
# keep it instant, each trial is scored on a table built from the real runs of section 1: the learning-rate sweep
# interpolated in $\log_{10}\eta$, plus the dropout sweep's change from dropout 0. The right panel shows that
# surface (green: within 0.02 nats of its minimum; yellow: within 0.5; grey: worse), the trials (white dots) and the
# best one (red star). The left panel then **really trains** the MLP with the winning learning rate and dropout, so
# the status line's validation loss is the one you would get.

# %%
LOG_LR_RANGE, DROPOUT_RANGE = (-5.0, 0.0), (0.0, 0.5)


def table_loss(log_lr: np.ndarray, dropout: np.ndarray) -> np.ndarray:
    """Validation loss from section 1's real runs: the lr sweep, plus dropout's measured change (additive)."""
    return (np.interp(log_lr, sweep_log_lrs, sweep_lr_loss)
            + np.interp(dropout, sweep_dropouts, sweep_dropout_loss) - sweep_dropout_loss[0])


def search_points(search: str, n_trials: int, seed: int) -> np.ndarray:
    """The (log10 lr, dropout) of each trial: a k x k grid with the ends included, or n_trials random draws."""
    if search == "grid":
        k = math.isqrt(n_trials)
        return np.array([(a, b) for a in np.linspace(*LOG_LR_RANGE, k) for b in np.linspace(*DROPOUT_RANGE, k)])
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n_trials, 2, generator=g, dtype=torch.float64).numpy()
    return np.column_stack([LOG_LR_RANGE[0] + u[:, 0] * (LOG_LR_RANGE[1] - LOG_LR_RANGE[0]),
                            DROPOUT_RANGE[0] + u[:, 1] * (DROPOUT_RANGE[1] - DROPOUT_RANGE[0])])


def best_point(cfg) -> tuple[np.ndarray, np.ndarray]:
    points = search_points(cfg["search"], cfg["n_trials"], cfg["search_seed"])
    return points, points[np.argmin(table_loss(points[:, 0], points[:, 1]))]


def surface_bands(model, points: torch.Tensor) -> torch.Tensor:
    """GridPanel values: 2 (green) within 0.02 nats of the table's minimum, 5 (yellow) within 0.5, 8 (grey) elsewhere."""
    loss = table_loss(points[:, 0].double().numpy(), points[:, 1].double().numpy())
    best = sweep_lr_loss.min() + min(0.0, (sweep_dropout_loss - sweep_dropout_loss[0]).min())
    return torch.from_numpy(np.where(loss <= best + 0.02, 2, np.where(loss <= best + 0.5, 5, 8)))


class SearchExplorer(LossCurveExplorer):
    """A LossCurveExplorer whose lr and dropout are the winners of the search that the knobs describe."""

    def config(self):
        cfg = super().config()
        _, (log_lr, dropout) = best_point(cfg)
        return {**cfg, "lr": float(10**log_lr), "dropout": float(dropout)}

    def extreme_configs(self, limit: int = 64):
        out = []
        for cfg in super().extreme_configs(limit):
            _, (log_lr, dropout) = best_point(cfg)
            out.append({**cfg, "lr": float(10**log_lr), "dropout": float(dropout)})
        return out

    def annotate(self, history):  # mark the trials and the winner on the surface, after each redraw
        points, best = best_point(history.config)
        if not hasattr(self, "trial_dots"):
            self.trial_dots = self.ax_extra.scatter([], [], color="white", edgecolor="k", s=30, zorder=3)
            self.best_star = self.ax_extra.scatter([], [], marker="*", color="red", s=160, zorder=4)
        self.trial_dots.set_offsets(points)
        self.best_star.set_offsets(best[None])
        self.ax_extra.set_title(f"{len(points)} trials, {len(np.unique(points[:, 0]))} distinct lrs; best: "
                                f"lr {10 ** best[0]:.2g}, dropout {best[1]:.2f}", fontsize=9)


search_task = dataclasses.replace(
    base_task, name="digits_grid_vs_random_28",
    defaults={**base_task.defaults, "search": "grid", "n_trials": 9, "search_seed": 0})
surface = GridPanel("surface", extent=(*LOG_LR_RANGE, *DROPOUT_RANGE), resolution=80, values=surface_bands)
explorer = SearchExplorer(
    search_task,
    knobs=[Knob.dropdown("search", ["grid", "random"], "grid"),
           Knob.dropdown("n_trials", [4, 9, 16, 25], 9, description="trials"),
           Knob.int_slider("search_seed", 0, 9, 0, description="random seed")],
    extra_panel=surface,
    logy=True,
    prompt="A 3×3 grid tries 3 learning rates. How many does a 9-trial random search try, and which finds the lower loss?",
)
explorer.ax_extra.set(xlabel="log10 learning rate", ylabel="dropout", xticks=range(-5, 1), yticks=[0, 0.25, 0.5],
                      xlim=(-5.25, 0.25), ylim=(-0.03, 0.53))
explorer.update()  # redraw with the axis labels
explorer

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Grid, 9 trials: the learning rates tried are $10^{-5}$, $10^{-2.5}$ and 1. How many of the 9 trials land in
#    the green band? Now switch to random with the same 9 trials.
# 2. Random, 9 trials: move the seed from 0 to 9. How often does the best trial land in the green band? How often
#    does the 3×3 grid? (It cannot: none of its three learning rates is in the band.)
# 3. Grid with 16 trials ($4\times4$) and 25 ($5\times5$): does adding grid points help? Which learning rates
#    does each grid try? A bigger grid is not always better: 4 points per side include $10^{-3.33}$ and
#    $10^{-1.67}$, 5 per side include $10^{-2.5}$ again.
# 4. Compare the two axes of the picture: the colours change within half a decade of learning rate, but only a
#    little along the whole dropout range. The grid spent two thirds of its trials repeating learning rates.

# %% [markdown]
# ## Drills (graded)
#
# 1. `drill_p_top5`: the probability that at least one of 60 independent random trials lands in the best 5 % of the
#    search space.
# 2. `drill_distinct_grid`, `drill_distinct_random`: a budget of 16 trials over learning rate and dropout. How many
#    distinct learning rates does a $4\times4$ grid try, and how many does a random search of 16 trials try (with
#    probability 1)?
# 3. `drill_decade_log`, `drill_decade_uniform`: 40 trials of the learning rate on $[10^{-5}, 10^{-1}]$. How many of
#    them do you expect in the decade $[10^{-3}, 10^{-2}]$ when sampling log-uniformly, and how many when sampling
#    uniformly?

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_p_top5 = 1 - 0.95**60
drill_distinct_grid = 4
drill_distinct_random = 16
drill_decade_log = 10
drill_decade_uniform = 40 * (1e-2 - 1e-3) / (1e-1 - 1e-5)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Plausibility only (the values themselves are checked by hidden tests): a probability, counts of learning rates
# between 1 and 16, and expected counts between 0 and 40.
for name in ("drill_p_top5", "drill_distinct_grid", "drill_distinct_random", "drill_decade_log", "drill_decade_uniform"):
    assert name in globals(), f"{name} is not defined: fill in the drill cell above and run it"
assert isinstance(drill_p_top5, (int, float)) and 0 <= drill_p_top5 <= 1, "drill_p_top5 is a probability"
for name in ("drill_distinct_grid", "drill_distinct_random"):
    assert isinstance(globals()[name], (int, float)) and 1 <= globals()[name] <= 16, f"{name} is a count between 1 and 16"
for name in ("drill_decade_log", "drill_decade_uniform"):
    assert isinstance(globals()[name], (int, float)) and 0 <= globals()[name] <= 40, f"{name} is a count between 0 and 40"
### BEGIN HIDDEN TESTS
assert abs(drill_p_top5 - (1 - 0.95**60)) < 1e-3, \
    "drill_p_top5: one minus the probability that every one of the trials misses the best 5 %"
assert drill_distinct_grid == 4, "drill_distinct_grid: a square grid repeats each learning rate once per dropout value"
assert drill_distinct_random == 16, "drill_distinct_random: independent continuous draws are all different"
assert abs(drill_decade_log - 10) < 1e-6, "drill_decade_log: log-uniform sampling gives every decade the same share"
assert abs(drill_decade_uniform - 40 * 0.009 / (0.1 - 1e-5)) < 0.01, \
    "drill_decade_uniform: under uniform sampling a decade's share is its length over the length of the range"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** You have a new model and a budget of about 40 training runs to tune it. Learning rate, batch size, weight
# decay, warmup length and dropout are all open. How do you spend the budget?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Start from a proven baseline for this kind of model and data (architecture, AdamW, cosine decay with 5–10 % warmup,
# the batch size that fits), so only a few knobs are open. Tune by impact: the learning rate first, because a wrong
# one swamps everything else. A quick LR range test or a short log-uniform sweep over 4–5 decades (say $10^{-5}$ to
# $10^{-1}$) with short runs finds the region. Then a random search (not a grid) over the learning rate in a
# narrowed log range together with batch size (powers of 2, 32–512, since it interacts with the learning rate) and
# weight decay (log-uniform $10^{-5}$–$10^{-1}$), about 20–25 runs, with early stopping or a median / successive-halving
# pruner so that bad runs stop after a few epochs and the budget goes to promising ones (or Optuna's TPE, which
# also focuses the later trials). Warmup and dropout come last: the defaults (5–10 % warmup; dropout 0–0.1) are
# usually close, so a handful of runs or none. Finally rerun the top 2–3 configurations with 3–5 seeds and pick on
# the mean validation metric; never tune on the test set. Widen any range whose best values sit at its edge.

# %% [markdown]
# **Q2.** A colleague tunes the learning rate and the dropout rate with a $5\times5$ grid. Why is a random search of
# 25 trials likely to do better, and why should the learning rate be drawn log-uniformly rather than uniformly?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The two hyperparameters matter unequally: the validation loss depends strongly on the learning rate and weakly on
# dropout. A $5\times5$ grid tries only 5 distinct learning rates, each 5 times with a different dropout, so 20 of
# the 25 runs mostly re-measure the same learning rates. A random search of 25 trials tries 25 distinct values of
# each hyperparameter, so its projection on the important axis is 5 times denser and much more likely to hit the
# narrow good region (Bergstra & Bengio, 2012). It also does not need the budget fixed in advance, and a failed
# run leaves no hole. Log-uniform: the learning rate acts multiplicatively (a factor of 10 matters about the
# same anywhere in the range), and the good region is often only about a decade wide. Uniform sampling on $[10^{-5}, 10^{-1}]$
# puts 90 % of the trials in the top decade and almost none below $10^{-3}$; log-uniform gives each decade the same
# share. The same holds for weight decay or Adam's epsilon; dropout, on a bounded linear range, is sampled uniformly.
