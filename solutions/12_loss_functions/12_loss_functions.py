# %% [markdown]
# # 12 · Loss functions
#
# **Interview question:** *Which loss functions does PyTorch provide for classification and regression, and how do you choose one?*
#
# **After this notebook you can**
# - derive a loss from what the model outputs and the likelihood you assume for the targets
#   (Gaussian → MSE, Laplace → L1, Bernoulli → BCE, categorical → cross-entropy);
# - use `nn.CrossEntropyLoss` with raw logits `(N, C)` and class indices `(N,)`, with `weight`, `ignore_index` and
#   `label_smoothing`, and write it yourself so that it matches PyTorch exactly, even at logits of $\pm 10^4$;
# - explain why `nn.BCEWithLogitsLoss` beats a sigmoid followed by `nn.BCELoss`, and write it yourself with `pos_weight`;
# - choose per-label BCE for multi-label problems, and MSE, L1 or Huber for regression, and see on real data how
#   each one treats outliers;
# - say what `nn.TripletMarginLoss` (and focal loss) are for.
#
# **Runs on a CPU in about 10 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer, load_diabetes
from torch import nn

from course_utils import get_device, seed_everything
from course_utils.explorers import GridPanel, Knob, LossCurveExplorer, Task, run
from course_utils.testing import assert_close, assert_raises, assert_shape, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. A loss is a negative log-likelihood
#
# A network does not output "the answer"; it outputs the **parameters of a distribution** over the
# answer. Training by maximum likelihood then minimises the mean negative log-likelihood of the
# observed targets,
#
# $$
# \mathcal{L}(\theta) = -\frac{1}{N}\sum_{i=1}^{N} \log p_\theta(y_i \mid x_i).
# $$
#
# So the loss is not a free choice: it follows from two decisions, **what the head outputs** and
# **which distribution you assume for the targets**.
#
# | head output | assumed $p(y \mid x)$ | $-\log p(y \mid x)$, up to an additive constant | PyTorch (up to a positive factor) |
# |---|---|---|---|
# | one real number $\mu$ | Gaussian $\mathcal{N}(\mu, \sigma^2)$, fixed $\sigma$ | $(y-\mu)^2 / 2\sigma^2$ | `nn.MSELoss` |
# | one real number $\mu$ | Laplace$(\mu, b)$, fixed $b$ | $\lvert y-\mu \rvert / b$ | `nn.L1Loss` |
# | one logit $z$ | Bernoulli$(\sigma(z))$ | $-[y\log\sigma(z) + (1-y)\log(1-\sigma(z))]$ | `nn.BCEWithLogitsLoss` |
# | $C$ logits $z$ | Categorical$(\mathrm{softmax}(z))$ | $-\log \mathrm{softmax}(z)_y$ | `nn.CrossEntropyLoss` |
# | $K$ logits | $K$ independent Bernoullis | $\sum_k$ BCE of label $k$ | `nn.BCEWithLogitsLoss` on `(N, K)` |
#
# The assumption shows up in what the trained model predicts: a constant fitted with MSE is the
# **mean** of the targets, with L1 their **median** (section 6). Here are the first four rows checked
# against `torch.distributions`, which knows nothing about losses:

# %%
g = torch.Generator().manual_seed(0)
mu, y = torch.randn(2, 6, generator=g).to(device)
z, t = torch.randn(6, generator=g).to(device), torch.randint(0, 2, (6,), generator=g).float().to(device)
Z, k = torch.randn(6, 4, generator=g).to(device), torch.randint(0, 4, (6,), generator=g).to(device)
D = torch.distributions
rows = {
    "Gaussian(σ=1) NLL vs MSE/2 + ln(2π)/2": (-D.Normal(mu, 1.0).log_prob(y).mean(),
                                              F.mse_loss(mu, y) / 2 + 0.5 * math.log(2 * math.pi)),
    "Laplace(b=1) NLL vs L1 + ln 2        ": (-D.Laplace(mu, 1.0).log_prob(y).mean(), F.l1_loss(mu, y) + math.log(2)),
    "Bernoulli NLL vs BCEWithLogits       ": (-D.Bernoulli(logits=z).log_prob(t).mean(),
                                              F.binary_cross_entropy_with_logits(z, t)),
    "Categorical NLL vs CrossEntropy      ": (-D.Categorical(logits=Z).log_prob(k).mean(), F.cross_entropy(Z, k)),
}
for name, (nll, loss) in rows.items():
    torch.testing.assert_close(nll, loss)
    print(f"{name}: {nll.item():.5f} = {loss.item():.5f}")

# %% [markdown]
# ## 2. Multi-class: `nn.CrossEntropyLoss`
#
# `nn.CrossEntropyLoss` takes **raw logits** of shape `(N, C)` (no softmax!) and **integer class
# indices** of shape `(N,)`, dtype `int64`, values in $[0, C)$. It is `log_softmax` followed by
# `NLLLoss`, which picks out minus the log-probability of the target class:
#
# $$
# \ell_i = -\log \mathrm{softmax}(z_i)_{y_i} = -z_{i, y_i} + \log \sum_{c=1}^{C} e^{z_{i,c}},
# \qquad \text{default } \texttt{reduction="mean"}: \ \frac{1}{N}\sum_i \ell_i \ \text{(without weights or ignored targets)}.
# $$
#
# Three things trip people up:
#
# - **A softmax in the model.** The loss applies its own; a model that already outputs probabilities gets a
#   *double softmax*. Inputs in $[0, 1]$ differ by at most 1, so their softmax is never confident: even a
#   perfect one-hot "prediction" costs $\ln(1 + (C-1)/e)$, not 0, and the loss keeps pushing on it.
# - **Sequences.** The class axis must be axis 1: logits `(N, C, L)` with targets `(N, L)`. A transformer
#   head gives `(N, L, C)`: transpose it, or flatten both to `(N·L, C)` and `(N·L,)`.
# - **Padding.** Targets equal to `ignore_index` (default $-100$) are skipped: they add nothing to the loss
#   and are not counted in the mean.
#
# `CrossEntropyLoss` also accepts **class probabilities** as targets: a float tensor `(N, C)` whose rows sum
# to 1, giving $\ell_i = -\sum_c q_{i,c}\log \mathrm{softmax}(z_i)_c$. **Label smoothing** with
# $\varepsilon$ = `label_smoothing` is exactly that with a softened one-hot target: the mass $\varepsilon$ is
# spread uniformly over **all $C$ classes, the true one included**, so
#
# $$
# q_c = (1-\varepsilon)\,[c = y] + \frac{\varepsilon}{C}:
# \qquad \varepsilon = 0.1,\ C = 10 \ \Rightarrow\ 0.91 \text{ for the true class},\ 0.01 \text{ for each other}.
# $$
#
# (Tables that give $\varepsilon/(C-1)$ to the wrong classes describe a different smoothing from PyTorch's.)

# %%
logits = torch.randn(4, 5, device=device)
targets = torch.tensor([0, 3, 1, 4], device=device)                       # int64 class indices
ce = nn.CrossEntropyLoss()(logits, targets)
two_steps = F.nll_loss(F.log_softmax(logits, dim=1), targets)
by_hand = (-logits[torch.arange(4, device=device), targets] + logits.exp().sum(dim=1).log()).mean()
print(f"CrossEntropyLoss {ce.item():.5f} | log_softmax + NLLLoss {two_steps.item():.5f} | by hand {by_hand.item():.5f}")

one_hot = F.one_hot(targets, 5).float()
print(f"probability targets (one-hot floats) give the same loss: {F.cross_entropy(logits, one_hot).item():.5f}")
eps, C = 0.1, 5
q = (1 - eps) * one_hot + eps / C
torch.testing.assert_close(F.cross_entropy(logits, targets, label_smoothing=eps), F.cross_entropy(logits, q))
print(f"label_smoothing={eps} equals soft targets with {1 - eps + eps / C:.2f} / {eps / C:.2f} (C = {C})")

print(f"double softmax: a perfect one-hot 'probability' input still costs {F.cross_entropy(one_hot, targets).item():.4f}"
      f" nats = ln(1 + (C-1)/e) = {math.log(1 + (C - 1) / math.e):.4f}")

seq_logits = torch.randn(2, 7, 5, device=device)                     # (N, L, C), as a transformer head gives
seq_targets = torch.randint(0, 5, (2, 7), device=device)
seq_targets[1, 4:] = -100                                             # padding: ignored
a = F.cross_entropy(seq_logits.transpose(1, 2), seq_targets)         # (N, C, L) with (N, L)
b = F.cross_entropy(seq_logits.flatten(0, 1), seq_targets.flatten()) # (N·L, C) with (N·L,)
print(f"sequence loss, transposed {a.item():.5f} = flattened {b.item():.5f} (padding ignored in both)")

# %% [markdown]
# ## 3. The log-sum-exp trick
#
# Computing $\log \mathrm{softmax}$ as written fails on large logits. In float32, $e^{x}$ overflows to
# `inf` once $x > 88.7$ (float64: $x > 709.8$), so $e^{10^4}/\sum e^{\dots}$ is $\infty/\infty$ = NaN. The
# cure is to subtract each row's maximum $m_i = \max_c z_{i,c}$, which changes nothing mathematically:
#
# $$
# \log \mathrm{softmax}(z_i)_c = z_{i,c} - m_i - \log \sum_{c'} e^{\,z_{i,c'} - m_i}.
# $$
#
# Now every exponent is $\le 0$ and the largest term of the sum is exactly $e^0 = 1$, so the sum lies in
# $[1, C]$: nothing overflows and the log never sees 0. Two ways to get it wrong anyway:
#
# - **`log(softmax(z))`.** Even a stable softmax *underflows*: $e^{-2\cdot 10^4}$ is exactly 0, and
#   $\log 0 = -\infty$, although the true log-probability, $-2\cdot 10^4$, is a perfectly finite number.
#   The log has to be taken *before* exponentiating, which is what `log_softmax` does.
# - **One shift for the whole batch.** Subtracting the global maximum instead of each row's own fails on
#   rows whose maxima lie far apart: a row whose entries all sit near $-10^4$, shifted by $+10^4$ from
#   another row, underflows to all zeros.

# %%
z = torch.tensor([[1e4, 0.0, -1e4],
                  [-1e4, -1e4 + 1.0, -1e4 + 3.0]], device=device)     # float32; the row maxima are 2e4 apart
naive = torch.log(torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True))
log_of_softmax = torch.log(torch.softmax(z, dim=1))
m_global = z.max()
global_shift = z - m_global - torch.log(torch.exp(z - m_global).sum(dim=1, keepdim=True))
m = z.max(dim=1, keepdim=True).values
stable = z - m - torch.log(torch.exp(z - m).sum(dim=1, keepdim=True))
for name, value in (("naive", naive), ("log(softmax)", log_of_softmax), ("global max", global_shift),
                    ("per-row max", stable)):
    print(f"{name:>13}: {value.cpu().numpy().round(3).tolist()}")
torch.testing.assert_close(stable, F.log_softmax(z, dim=1))
print("the per-row shift matches F.log_softmax")

# %% [markdown]
# ## 4. Class weights, and what "mean" means
#
# On imbalanced data, `CrossEntropyLoss(weight=w)` takes a weight per class, a tensor of shape `(C,)`.
# Each sample's loss is multiplied by the weight of **its target class**, and `reduction="mean"` divides
# by the **sum of those weights**, not by $N$:
#
# $$
# \ell_i = -w_{y_i} \log p_{i, y_i}, \qquad
# \texttt{"sum"}: \sum_i \ell_i, \qquad
# \texttt{"mean"}: \frac{\sum_i \ell_i}{\sum_i w_{y_i}} .
# $$
#
# So "mean" is a weighted average. A rare class with weight 10 counts as if each of its examples appeared
# 10 times, and multiplying every weight by the same constant changes nothing under "mean" (only under
# "sum" and "none"). A common choice is $w_c \propto 1/n_c$, the inverse class frequency. Rows whose target
# is `ignore_index` leave both sums.

# %%
g = torch.Generator().manual_seed(1)
logits = torch.randn(8, 3, generator=g).to(device)
targets = torch.tensor([0, 0, 0, 0, 0, 0, 1, 2], device=device)       # classes 1 and 2 are rare
w = torch.tensor([1.0, 10.0, 10.0], device=device)
per_sample = F.cross_entropy(logits, targets, weight=w, reduction="none")
plain = F.cross_entropy(logits, targets, reduction="none")
print("per-sample ratio weighted/plain:", (per_sample / plain).cpu().numpy().round(3).tolist())
print(f"mean: torch {F.cross_entropy(logits, targets, weight=w).item():.5f} | sum / sum of target weights "
      f"{(per_sample.sum() / w[targets].sum()).item():.5f} | sum / N (not what torch does) "
      f"{(per_sample.sum() / len(targets)).item():.5f}")
print(f"weights scaled by 7: mean {F.cross_entropy(logits, targets, weight=7 * w).item():.5f} (unchanged), "
      f"sum {F.cross_entropy(logits, targets, weight=7 * w, reduction='sum').item():.3f} "
      f"vs {per_sample.sum().item():.3f}")

# %% [markdown]
# ## Exercise 1 · `cross_entropy` (graded)
#
# Write `cross_entropy(logits, targets, label_smoothing=0.0, weight=None, ignore_index=-100, reduction="mean")`
# that matches `F.cross_entropy` with the same keyword arguments. (The syllabus suggested
# `cross_entropy(logits, targets, label_smoothing, weight)`; `ignore_index` and `reduction` are added so
# that every option is tested against PyTorch. The tests pass everything after `targets` by keyword.)
#
# - `logits`: float32 or float64, shape `(N, C)`. `targets`: int64, shape `(N,)`, each value in $[0, C)$ or
#   equal to `ignore_index`. (PyTorch also accepts `(N, C, d1, ...)` and probability targets; you need not.)
# - With $\log p_{i,c}$ the log-softmax of row $i$, $\varepsilon$ = `label_smoothing` and $w$ = `weight`
#   (all ones when `None`), the loss of row $i$ is
#
# $$
# \ell_i = -(1-\varepsilon)\, w_{y_i} \log p_{i, y_i} \;-\; \frac{\varepsilon}{C} \sum_{c=1}^{C} w_c \log p_{i,c} .
# $$
#
#   The smoothing term spreads $\varepsilon$ over **all $C$** classes, and each class in it carries **its own**
#   weight $w_c$. Rows whose target equals `ignore_index` have $\ell_i = 0$ and count nowhere.
# - `reduction="none"` returns the `(N,)` tensor of $\ell_i$; `"sum"` returns $\sum_i \ell_i$; `"mean"` returns
#   $\sum_i \ell_i \,/\, \sum_{i \text{ not ignored}} w_{y_i}$ (without `weight`: the number of rows not
#   ignored). Any other value raises `ValueError`. A batch in which every target is ignored is not tested
#   (PyTorch returns NaN for its mean).
# - **Stable for any finite logits.** The tests use float32 logits of $\pm 10^4$ in rows whose maxima lie
#   $2 \cdot 10^4$ apart: no NaN, no inf, and the gradients must match PyTorch's there too.
# - Keep the dtype of `logits`, keep the result differentiable, and do not modify `logits` or `targets` in place.
# - **Do not call** `F.cross_entropy`, `F.nll_loss`, `F.log_softmax` (nor `torch.log_softmax`,
#   `Tensor.log_softmax`) or `torch.logsumexp` (nor `Tensor.logsumexp`), nor `nn.CrossEntropyLoss`: compute the
#   log-softmax yourself. `torch.exp`, `torch.log`, `max`/`amax`, `gather`, indexing and `F.one_hot` are fine,
#   and so are loops.

# %% nbgrader={"grade": false, "grade_id": "cross_entropy", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0,
                  weight: torch.Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logits (N, C) against class indices (N,), exactly as F.cross_entropy computes it."""
    ### BEGIN SOLUTION
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n_classes = logits.shape[1]
    m = logits.max(dim=1, keepdim=True).values
    log_probs = logits - m - torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))
    keep = targets != ignore_index
    safe_targets = torch.where(keep, targets, torch.zeros_like(targets))  # any valid index; masked below
    w = torch.ones(n_classes, dtype=logits.dtype, device=logits.device) if weight is None else weight
    w_target = w[safe_targets] * keep
    nll = -log_probs.gather(1, safe_targets[:, None]).squeeze(1) * w_target
    smooth = -(log_probs * w).sum(dim=1) * keep
    loss = (1 - label_smoothing) * nll + label_smoothing / n_classes * smooth
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w_target.sum()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cross_entropy_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The reductions "mean" (the default), "sum" and "none" match F.cross_entropy, "none" has shape (N,),
# and none of the forbidden functions is called.
def run_ce(*args, **kwargs):
    with forbidden(F.cross_entropy, F.nll_loss, F.log_softmax, torch.logsumexp, what="cross_entropy"):
        return cross_entropy(*args, **kwargs)


g = torch.Generator().manual_seed(0)
logits = 3 * torch.randn(6, 4, generator=g)
targets = torch.tensor([0, 3, 1, 1, 2, 0])
for reduction in ("mean", "sum", "none"):
    assert_close(run_ce(logits, targets, reduction=reduction), F.cross_entropy(logits, targets, reduction=reduction),
                 rtol=1e-5, atol=1e-6, what=f"cross_entropy(reduction={reduction!r}) vs F.cross_entropy")
assert_close(run_ce(logits, targets), F.cross_entropy(logits, targets), rtol=1e-5, atol=1e-6,
             what="cross_entropy with the default reduction (expected 'mean')")
assert_shape(run_ce(logits, targets, reduction="none"), (6,), what="cross_entropy(reduction='none')")
### BEGIN HIDDEN TESTS
for n, c in ((1, 2), (5, 2), (9, 7), (3, 50)):
    for dtype, tol in ((torch.float32, dict(rtol=1e-5, atol=1e-5)), (torch.float64, dict(rtol=1e-10, atol=1e-12))):
        x = 4 * torch.randn(n, c, generator=g, dtype=dtype)
        y = torch.randint(0, c, (n,), generator=g)
        for reduction in ("mean", "sum", "none"):
            got = run_ce(x, y, reduction=reduction)
            assert isinstance(got, torch.Tensor) and got.dtype == dtype, \
                f"{dtype} logits: expected a {dtype} tensor, got {getattr(got, 'dtype', type(got).__name__)}"
            assert_shape(got, (n,) if reduction == "none" else (), what=f"result for N={n}, C={c}, reduction={reduction!r}")
            assert_close(got, F.cross_entropy(x, y, reduction=reduction), **tol,
                         what=f"cross_entropy for N={n}, C={c}, {dtype}, reduction={reduction!r}")
assert_raises(ValueError, run_ce, logits, targets, reduction="avg", what="cross_entropy(reduction='avg')")
# the inputs are left alone, whatever the options
x = 3 * torch.randn(7, 5, generator=g)
y = torch.tensor([0, 4, -100, 2, 2, 1, 3])
x_before, y_before = x.clone(), y.clone()
run_ce(x, y, label_smoothing=0.2, weight=torch.rand(5, generator=g) + 0.5, reduction="mean")
assert torch.equal(x, x_before) and torch.equal(y, y_before), "cross_entropy modified logits or targets in place"
# gradients equal PyTorch's (float64, with every option on)
w = torch.rand(5, generator=g, dtype=torch.float64) + 0.5
x = 3 * torch.randn(7, 5, generator=g, dtype=torch.float64)
for reduction in ("mean", "sum", "none"):
    mine, ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    r = torch.randn(7, generator=g, dtype=torch.float64)
    opts = dict(weight=w, label_smoothing=0.2, reduction=reduction)
    out = run_ce(mine, y, **opts)
    (out * r if reduction == "none" else out).sum().backward()
    ref_out = F.cross_entropy(ref, y, **opts)
    (ref_out * r if reduction == "none" else ref_out).sum().backward()
    assert mine.grad is not None, "no gradient reached the logits: keep the result differentiable (no .detach(), no .item())"
    assert_close(mine.grad, ref.grad, rtol=1e-8, atol=1e-10,
                 what=f"gradient w.r.t. the logits vs F.cross_entropy (weight, label_smoothing, ignore_index, reduction={reduction!r})")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cross_entropy_options", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# weight, label_smoothing and ignore_index, each on its own, match F.cross_entropy with reduction="mean".
def run_ce(*args, **kwargs):
    with forbidden(F.cross_entropy, F.nll_loss, F.log_softmax, torch.logsumexp, what="cross_entropy"):
        return cross_entropy(*args, **kwargs)


g = torch.Generator().manual_seed(1)
logits = 3 * torch.randn(8, 5, generator=g)
targets = torch.tensor([0, 1, 4, 1, 2, 3, 1, 0])
padded = torch.tensor([0, -100, 4, 1, -100, 3, 1, 0])
weight = torch.tensor([1.0, 10.0, 2.0, 0.5, 3.0])
cases = {
    "weight": (targets, dict(weight=weight)),
    "label_smoothing=0.1": (targets, dict(label_smoothing=0.1)),
    "targets with ignore_index=-100 (the default)": (padded, dict()),
}
for name, (y, opts) in cases.items():
    assert_close(run_ce(logits, y, **opts), F.cross_entropy(logits, y, **opts), rtol=1e-5, atol=1e-6,
                 what=f"cross_entropy with {name}, reduction='mean'")
### BEGIN HIDDEN TESTS
def _check(x, y, what, tol, **opts):
    for reduction in ("mean", "sum", "none"):
        got = run_ce(x, y, reduction=reduction, **opts)
        assert_close(got, F.cross_entropy(x, y, reduction=reduction, **opts), **tol,
                     what=f"cross_entropy with {what}, reduction={reduction!r}")


tol64 = dict(rtol=1e-10, atol=1e-12)
x = 3 * torch.randn(12, 6, generator=g, dtype=torch.float64)
y = torch.randint(0, 6, (12,), generator=g)
y_pad = y.clone()
y_pad[[1, 5, 6]] = -100
w = torch.rand(6, generator=g, dtype=torch.float64) * 5 + 0.1
for eps in (0.0, 0.1, 0.3, 1.0):
    _check(x, y, f"label_smoothing={eps}", tol64, label_smoothing=eps)
    _check(x, y, f"label_smoothing={eps} and weight", tol64, label_smoothing=eps, weight=w)
    _check(x, y_pad, f"label_smoothing={eps} and ignored targets", tol64, label_smoothing=eps)
    _check(x, y_pad, f"label_smoothing={eps}, weight and ignored targets", tol64, label_smoothing=eps, weight=w)
# ignore_index may be a real class index: those rows are skipped, other classes still count
y_real = torch.tensor([2, 0, 2, 5, 1, 2, 3, 4, 2, 0, 1, 5])
_check(x, y_real, "ignore_index=2", tol64, ignore_index=2)
_check(x, y_real, "ignore_index=2, weight and label_smoothing=0.2", tol64, ignore_index=2, weight=w, label_smoothing=0.2)
# ignored rows give exactly 0 under reduction='none', whatever their logits
x_odd = x.clone()
x_odd[[1, 5, 6]] = 50.0 * torch.randn(3, 6, generator=g, dtype=torch.float64)
per_row = run_ce(x_odd, y_pad, weight=w, label_smoothing=0.3, reduction="none")
assert torch.all(per_row[[1, 5, 6]] == 0), "rows whose target is ignore_index must have loss exactly 0 (smoothing term included)"
# 'mean' is a weighted average: scaling every weight by the same factor changes nothing
assert_close(run_ce(x, y_pad, weight=7 * w, label_smoothing=0.2), run_ce(x, y_pad, weight=w, label_smoothing=0.2),
             rtol=1e-10, atol=1e-12, what="'mean' with all weights multiplied by 7 (must not change)")
# float32, weight given as float32
x32, w32 = x.float(), w.float()
_check(x32, y_pad, "float32 logits, weight, label_smoothing=0.1 and ignored targets", dict(rtol=1e-5, atol=1e-5),
       weight=w32, label_smoothing=0.1)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cross_entropy_stability", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Float32 logits of ±1e4, in rows whose maxima lie 2e4 apart: the result is finite and matches
# F.cross_entropy for reduction="mean" and "sum".
def run_ce(*args, **kwargs):
    with forbidden(F.cross_entropy, F.nll_loss, F.log_softmax, torch.logsumexp, what="cross_entropy"):
        return cross_entropy(*args, **kwargs)


# Tolerances: near |z| = 1e4 one float32 ulp is 2**-10 ≈ 1e-3, and a correct log-sum-exp formed at that
# magnitude may carry a few ulps of rounding; atol = 1e-2 allows ten. Every wrong answer is off by inf or NaN.
logits = torch.tensor([[1e4, 0.0, -1e4],
                       [-1e4, -1e4 + 1.0, -1e4 + 3.0],
                       [0.0, 1e4, 1e4]])
targets = torch.tensor([2, 0, 1])
for reduction in ("mean", "sum"):
    got = run_ce(logits, targets, reduction=reduction)
    assert torch.isfinite(got).all(), f"reduction={reduction!r} gave {got} at logits of ±1e4 (no NaN or inf allowed)"
    assert_close(got, F.cross_entropy(logits, targets, reduction=reduction), rtol=1e-5, atol=1e-2,
                 what=f"cross_entropy at logits of ±1e4, reduction={reduction!r}")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(2)
# a batch of extreme rows: each row has its own offset of up to ±1e4 and a spread of up to 1e4
offsets = torch.tensor([1e4, -1e4, 0.0, 5e3, -5e3, 1e4, -1e4, 2e3])[:, None]
spread = torch.tensor([1e4, 1e4, 1e4, 1.0, 3.0, 0.0, 2e4, 1e3])[:, None]
x = offsets + spread * torch.rand(8, 6, generator=g).round(decimals=3)
x[5, 2] += 1.0
y = torch.tensor([0, 5, 3, 2, 1, 2, -100, 4])
w = torch.tensor([1.0, 3.0, 0.5, 2.0, 1.5, 4.0])
ref_tol = dict(rtol=1e-5, atol=1e-2)
for opts_name, opts in (("no options", {}), ("weight", dict(weight=w)), ("label_smoothing=0.1", dict(label_smoothing=0.1)),
                        ("weight and label_smoothing=0.25", dict(weight=w, label_smoothing=0.25))):
    for reduction in ("mean", "sum", "none"):
        got = run_ce(x, y, reduction=reduction, **opts)
        assert torch.isfinite(got).all(), f"extreme logits with {opts_name}, reduction={reduction!r}: result is not finite"
        assert_close(got, F.cross_entropy(x, y, reduction=reduction, **opts), **ref_tol,
                     what=f"extreme float32 logits with {opts_name}, reduction={reduction!r}")
# the gradients at extreme logits are finite and equal PyTorch's (softmax - smoothed one-hot, scaled)
for opts_name, opts in (("no options", {}), ("weight and label_smoothing=0.25", dict(weight=w, label_smoothing=0.25))):
    for reduction in ("mean", "sum"):
        mine, ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        run_ce(mine, y, reduction=reduction, **opts).backward()
        F.cross_entropy(ref, y, reduction=reduction, **opts).backward()
        assert mine.grad is not None and torch.isfinite(mine.grad).all(), \
            f"gradient at extreme logits ({opts_name}, reduction={reduction!r}) is missing or not finite"
        # the gradient entries are probabilities (times weights ≤ 4) computed from exponents that carry
        # the ≈1e-3 rounding above, so their error is ≈ 4e-3 at most; allow 1e-2
        assert_close(mine.grad, ref.grad, rtol=0, atol=1e-2,
                     what=f"gradient at extreme logits ({opts_name}, reduction={reduction!r})")
# float64 at ±1e4 as well (exp(1e4) overflows float64 too)
x64 = torch.tensor([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4 + 2.0, -1e4 - 5.0, -1e4]], dtype=torch.float64)
y64 = torch.tensor([1, 3])
for reduction in ("mean", "sum", "none"):
    got = run_ce(x64, y64, reduction=reduction, label_smoothing=0.1)
    assert torch.isfinite(got).all(), f"float64 logits of ±1e4, reduction={reduction!r}: result is not finite"
    assert_close(got, F.cross_entropy(x64, y64, reduction=reduction, label_smoothing=0.1), rtol=1e-9, atol=1e-8,
                 what=f"float64 logits of ±1e4 with label_smoothing=0.1, reduction={reduction!r}")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Binary and multi-label: `nn.BCEWithLogitsLoss`
#
# A binary classifier has **one logit** $z$ per example, $P(y = 1) = \sigma(z) = 1/(1+e^{-z})$, and a
# **float** target $y \in [0, 1]$ of the same shape (soft targets are allowed). Its loss is the Bernoulli
# negative log-likelihood. Use $\log\sigma(z) = -\log(1+e^{-z})$ and $\log(1-\sigma(z)) = \log\sigma(-z) = \log\sigma(z) - z$:
#
# $$
# \ell = -\big[\,y\log\sigma(z) + (1-y)\log(1-\sigma(z))\,\big] = \max(z, 0) - z\,y + \log\!\big(1 + e^{-|z|}\big).
# $$
#
# The right-hand form never exponentiates a positive number, so it is finite for every finite $z$.
# `nn.BCEWithLogitsLoss` computes the loss this way, in log space, with the sigmoid folded in.
#
# **Why not `torch.sigmoid` followed by `nn.BCELoss`?** In float32, $\sigma(z)$ rounds to exactly 1 once
# $z \gtrsim 16.6$, and (on the CPU) to exactly 0 a little below $z = -88$. Then $\log \sigma(z)$ or $\log(1-\sigma(z))$
# is $\log 0 = -\infty$. `nn.BCELoss` hides this by clamping every log at $-100$: the loss of a saturated,
# wrong example is reported as exactly 100 whatever its true value, about $|z|$ (20 or 200 below), and the
# gradient through the saturated sigmoid is **exactly 0**, so that example stops teaching the model
# anything. With the fused loss the gradient is $\sigma(z) - y$, a full $\pm 1$ for a confident mistake.

# %%
zs = torch.tensor([-200.0, -20.0, 0.0, 20.0, 200.0], device=device, requires_grad=True)
ys = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0], device=device)   # the extreme logits are confidently wrong
for name, fn in (("sigmoid + BCELoss", lambda z: nn.BCELoss(reduction="none")(torch.sigmoid(z), ys)),
                 ("BCEWithLogitsLoss", lambda z: nn.BCEWithLogitsLoss(reduction="none")(z, ys))):
    loss = fn(zs)
    (grad,) = torch.autograd.grad(loss.sum(), zs)
    print(f"{name:>17}: loss {loss.detach().cpu().numpy().round(4).tolist()}  gradient {grad.cpu().numpy().round(4).tolist()}")
print("sigmoid(17) == 1 in float32:", torch.sigmoid(torch.tensor(17.0)).item() == 1.0,
      "| log(sigmoid(-200)) =", torch.log(torch.sigmoid(torch.tensor(-200.0))).item())

# %% [markdown]
# This is not an exotic corner. Feed the **unstandardised** breast-cancer features (cell areas up to about
# 4,000) to a freshly initialised `nn.Linear(30, 1)` and count, for ten seeds, how many of the 569 examples
# start with a sigmoid of exactly 0 or 1. Then train one such model for 100 Adam steps with each loss.

# %%
cancer = load_breast_cancer()
x_cancer = torch.tensor(cancer.data, dtype=torch.float32, device=device)        # (569, 30), raw units
y_cancer = torch.tensor(1 - cancer.target, dtype=torch.float32, device=device)  # 1 = malignant
saturated = []
for seed in range(10):
    torch.manual_seed(seed)
    p_init = torch.sigmoid(nn.Linear(30, 1).to(device)(x_cancer).squeeze(1)).detach()
    saturated.append(int(((p_init == 0) | (p_init == 1)).sum().item()))
print("examples with sigmoid exactly 0 or 1 at initialisation, seeds 0-9:", saturated)

seed = saturated.index(len(y_cancer))   # the first seed that saturates every example
for name, loss_fn in (("sigmoid + BCELoss", lambda z: F.binary_cross_entropy(torch.sigmoid(z), y_cancer)),
                      ("BCEWithLogitsLoss", lambda z: F.binary_cross_entropy_with_logits(z, y_cancer))):
    torch.manual_seed(seed)
    clf = nn.Linear(30, 1).to(device)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-2)
    for step in range(101):
        loss = loss_fn(clf(x_cancer).squeeze(1))
        opt.zero_grad()
        loss.backward()
        if step == 0:
            grad_norm = torch.cat([p.grad.flatten() for p in clf.parameters()]).norm().item()
            start = loss.item()
        opt.step()
    with torch.no_grad():
        acc = ((clf(x_cancer).squeeze(1) > 0).float() == y_cancer).float().mean().item()
    print(f"seed {seed}, {name:>17}: first gradient norm {grad_norm:8.2f}, loss {start:6.2f} -> {loss.item():6.3f}, "
          f"accuracy after 100 steps {acc:.3f}")

# %% [markdown]
# Half of the seeds saturate every example. With a sigmoid followed by `BCELoss`, each of the 357 benign
# examples (target 0, $\sigma = 1$) is reported at the clamped 100, the rest at 0, and **every gradient is exactly
# zero**: Adam never moves, and the model stays at the accuracy of "always malignant". The fused loss sees the
# true logits and trains normally.
#
# (Standardising the inputs is the first fix, of course; the fused loss is what keeps the rare extreme logit
# from going silent or turning into NaN later in training.)
#
# The opposite mistake, feeding **raw logits** to `nn.BCELoss`, is not saved by anything: `BCELoss` expects
# probabilities. On the CPU it raises as soon as an input lies outside $[0, 1]$ (on a GPU it trips a
# device-side assertion instead), and logits that happen to fall inside $[0, 1]$ pass silently with a
# meaningless loss.

# %%
try:
    nn.BCELoss()(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]))   # CPU tensors on purpose
except RuntimeError as err:
    print("BCELoss on raw logits:", err)

# %% [markdown]
# **Weights.** `BCEWithLogitsLoss` has two:
#
# - `pos_weight` multiplies the **positive** term only: $\ell = -\big[p_w\, y \log\sigma(z) + (1-y)\log(1-\sigma(z))\big]$.
#   It broadcasts against the logits from the right, so for $K$ labels it has shape `(K,)`, one weight per label.
#   A common choice is $p_w = n_\text{neg}/n_\text{pos}$, which gives the positives the same total weight as the
#   negatives. A $p_w > 1$ trades precision for recall.
# - `weight` multiplies each element's loss (any shape that broadcasts to the logits).
#
# With `reduction="mean"` the result is the **plain mean over all elements**: unlike `CrossEntropyLoss`, it is
# *not* divided by the sum of the weights.

# %%
n_pos = int(y_cancer.sum().item())
n_neg = len(y_cancer) - n_pos
print(f"breast_cancer: {n_pos} malignant, {n_neg} benign -> pos_weight = n_neg / n_pos = {n_neg / n_pos:.3f}")
g = torch.Generator().manual_seed(2)
z, t = torch.randn(6, 3, generator=g).to(device), torch.rand(6, 3, generator=g).to(device)   # soft targets
pw = torch.tensor([n_neg / n_pos, 1.0, 4.0], device=device)                                 # one per label
w = torch.rand(6, 1, generator=g).to(device)                                                  # one per example
log_sig, log_one_minus = F.logsigmoid(z), F.logsigmoid(-z)
torch.testing.assert_close(F.binary_cross_entropy_with_logits(z, t, pos_weight=pw, reduction="none"),
                           -(pw * t * log_sig + (1 - t) * log_one_minus))
plain = F.binary_cross_entropy_with_logits(z, t, reduction="none")
torch.testing.assert_close(F.binary_cross_entropy_with_logits(z, t, weight=w), (w * plain).mean())
print("pos_weight weighs the positive term only; with weight, 'mean' is the plain mean of weight × loss")

# %% [markdown]
# **Multi-label.** When an example can carry several labels at once (a photo that is both "dog" and
# "beach"), the labels are **not mutually exclusive**: use $K$ logits and `BCEWithLogitsLoss` on a multi-hot
# float target `(N, K)`, one independent Bernoulli per label. Softmax + cross-entropy would make the labels
# compete for one unit of probability mass: with two true labels the best it can give each is 0.5, and the
# loss can never fall below $\ln 2$.

# %%
tags = torch.tensor([[1.0, 1.0, 0.0]], device=device)        # both "dog" and "beach", not "snow"
confident = torch.tensor([[8.0, 8.0, -8.0]], device=device)  # right about every tag
print(f"per-label BCE: {F.binary_cross_entropy_with_logits(confident, tags).item():.5f}, "
      f"sigmoid probabilities {torch.sigmoid(confident).cpu().numpy().round(4).tolist()}")
print(f"softmax + CE on the normalised target: {F.cross_entropy(confident, tags / tags.sum()).item():.5f} "
      f"(floor ln 2 = {math.log(2):.5f}), softmax {torch.softmax(confident, 1).cpu().numpy().round(4).tolist()}")

# %% [markdown]
# ## Exercise 2 · `bce_with_logits` (graded)
#
# Write `bce_with_logits(logits, targets, weight=None, pos_weight=None, reduction="mean")` that matches
# `F.binary_cross_entropy_with_logits` with the same keyword arguments (the tests pass them by keyword):
#
# - `logits` and `targets` are float tensors of the same shape (`(N,)`, `(N, K)`, ...), targets in $[0, 1]$
#   (soft targets included);
# - the loss of each element is $\ell = -w\,\big[p_w\, y\log\sigma(z) + (1-y)\log(1-\sigma(z))\big]$, where
#   $w$ = `weight` and $p_w$ = `pos_weight` are broadcast against the logits (1 when `None`);
# - `reduction="none"` returns the elementwise losses (same shape as `logits`), `"sum"` their sum, `"mean"`
#   their plain mean over all elements; any other value raises `ValueError`;
# - **stable for any finite logits**: the tests use float32 logits of $\pm 10^4$, where values and gradients
#   must be finite and match PyTorch's. (The gradient checks avoid logits of exactly 0, where $|z|$ and
#   $\max(z, 0)$ have a kink and autograd picks a one-sided derivative.)
# - Keep the dtype, keep the result differentiable, and do not modify the inputs in place.
# - **Do not call** `F.binary_cross_entropy_with_logits`, `F.binary_cross_entropy`, `F.logsigmoid`,
#   `F.softplus`, `torch.logaddexp`, `F.log_softmax` or `torch.logsumexp`, nor the `nn` modules that wrap them:
#   write the stable $\log\sigma$ yourself. `torch.exp`, `torch.log1p`, `abs`, `clamp`, `relu` and
#   `torch.where` are fine.

# %% nbgrader={"grade": false, "grade_id": "bce_with_logits", "locked": false, "schema_version": 3, "solution": true, "task": false}
def bce_with_logits(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None,
                    pos_weight: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy on raw logits, exactly as F.binary_cross_entropy_with_logits computes it."""
    ### BEGIN SOLUTION
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    log_sig = torch.clamp(logits, max=0) - torch.log1p(torch.exp(-logits.abs()))   # log σ(z), finite for all z
    log_one_minus_sig = log_sig - logits                                           # log(1 - σ(z)) = log σ(-z)
    pos = targets if pos_weight is None else pos_weight * targets
    loss = -(pos * log_sig + (1 - targets) * log_one_minus_sig)
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_bce_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The reductions "mean" (the default), "sum" and "none" match F.binary_cross_entropy_with_logits on a
# multi-label batch of shape (N, K), and none of the forbidden functions is called.
def run_bce(*args, **kwargs):
    with forbidden(F.binary_cross_entropy_with_logits, F.binary_cross_entropy, F.logsigmoid, F.softplus,
                   torch.logaddexp, F.log_softmax, torch.logsumexp, what="bce_with_logits"):
        return bce_with_logits(*args, **kwargs)


g = torch.Generator().manual_seed(3)
logits = 3 * torch.randn(5, 4, generator=g)
targets = (torch.rand(5, 4, generator=g) < 0.4).float()
for reduction in ("mean", "sum", "none"):
    assert_close(run_bce(logits, targets, reduction=reduction),
                 F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction), rtol=1e-5, atol=1e-6,
                 what=f"bce_with_logits(reduction={reduction!r}) vs F.binary_cross_entropy_with_logits")
assert_close(run_bce(logits, targets), F.binary_cross_entropy_with_logits(logits, targets), rtol=1e-5, atol=1e-6,
             what="bce_with_logits with the default reduction (expected 'mean')")
assert_shape(run_bce(logits, targets, reduction="none"), (5, 4), what="bce_with_logits(reduction='none')")
### BEGIN HIDDEN TESTS
tol = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}
for shape in ((7,), (3, 5), (2, 3, 4)):
    for dtype in (torch.float32, torch.float64):
        x = 5 * torch.randn(shape, generator=g, dtype=dtype)
        y = torch.rand(shape, generator=g, dtype=dtype)             # soft targets
        for reduction in ("mean", "sum", "none"):
            got = run_bce(x, y, reduction=reduction)
            assert isinstance(got, torch.Tensor) and got.dtype == dtype, \
                f"{dtype} logits: expected a {dtype} tensor, got {getattr(got, 'dtype', type(got).__name__)}"
            assert_shape(got, shape if reduction == "none" else (), what=f"result for shape {shape}, reduction={reduction!r}")
            assert_close(got, F.binary_cross_entropy_with_logits(x, y, reduction=reduction), **tol[dtype],
                         what=f"bce_with_logits with soft targets, shape {shape}, {dtype}, reduction={reduction!r}")
assert_raises(ValueError, run_bce, logits, targets, reduction="avg", what="bce_with_logits(reduction='avg')")
x = 3 * torch.randn(6, 3, generator=g, dtype=torch.float64)
y = torch.rand(6, 3, generator=g, dtype=torch.float64)
x_before, y_before = x.clone(), y.clone()
run_bce(x, y, weight=torch.rand(3, generator=g, dtype=torch.float64), pos_weight=torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64))
assert torch.equal(x, x_before) and torch.equal(y, y_before), "bce_with_logits modified logits or targets in place"
# gradients equal PyTorch's at ordinary logits (none exactly 0)
for reduction in ("mean", "sum"):
    mine, ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    run_bce(mine, y, reduction=reduction).backward()
    F.binary_cross_entropy_with_logits(ref, y, reduction=reduction).backward()
    assert mine.grad is not None, "no gradient reached the logits: keep the result differentiable"
    assert_close(mine.grad, ref.grad, rtol=1e-8, atol=1e-10, what=f"gradient w.r.t. the logits, reduction={reduction!r}")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bce_weights", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# weight (one per example, shape (N, 1)) and pos_weight (one per label, shape (K,)) match PyTorch with
# reduction="mean".
def run_bce(*args, **kwargs):
    with forbidden(F.binary_cross_entropy_with_logits, F.binary_cross_entropy, F.logsigmoid, F.softplus,
                   torch.logaddexp, F.log_softmax, torch.logsumexp, what="bce_with_logits"):
        return bce_with_logits(*args, **kwargs)


g = torch.Generator().manual_seed(4)
logits = 3 * torch.randn(6, 3, generator=g)
targets = (torch.rand(6, 3, generator=g) < 0.5).float()
weight = torch.rand(6, 1, generator=g) * 3
pos_weight = torch.tensor([1.7, 0.5, 5.0])
for name, opts in (("weight", dict(weight=weight)), ("pos_weight", dict(pos_weight=pos_weight))):
    assert_close(run_bce(logits, targets, **opts), F.binary_cross_entropy_with_logits(logits, targets, **opts),
                 rtol=1e-5, atol=1e-6, what=f"bce_with_logits with {name}, reduction='mean'")
### BEGIN HIDDEN TESTS
x = 3 * torch.randn(8, 4, generator=g, dtype=torch.float64)
y_hard = (torch.rand(8, 4, generator=g) < 0.5).double()
y_soft = torch.rand(8, 4, generator=g, dtype=torch.float64)
pw = torch.tensor([0.3, 1.0, 2.5, 9.0], dtype=torch.float64)
weights = {"weight of shape (N, 1)": torch.rand(8, 1, generator=g, dtype=torch.float64) * 2,
           "weight of shape (K,)": torch.rand(4, generator=g, dtype=torch.float64) * 2,
           "weight of shape (N, K)": torch.rand(8, 4, generator=g, dtype=torch.float64) * 2}
for y_name, y in (("hard targets", y_hard), ("soft targets", y_soft)):
    for reduction in ("mean", "sum", "none"):
        assert_close(run_bce(x, y, pos_weight=pw, reduction=reduction),
                     F.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction=reduction), rtol=1e-10, atol=1e-12,
                     what=f"pos_weight with {y_name}, reduction={reduction!r}")
        for w_name, w in weights.items():
            assert_close(run_bce(x, y, weight=w, reduction=reduction),
                         F.binary_cross_entropy_with_logits(x, y, weight=w, reduction=reduction), rtol=1e-10, atol=1e-12,
                         what=f"{w_name} with {y_name}, reduction={reduction!r}")
            assert_close(run_bce(x, y, weight=w, pos_weight=pw, reduction=reduction),
                         F.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction=reduction),
                         rtol=1e-10, atol=1e-12, what=f"{w_name} and pos_weight with {y_name}, reduction={reduction!r}")
# a scalar pos_weight for a 1-D binary problem
x1, y1 = 4 * torch.randn(10, generator=g), (torch.rand(10, generator=g) < 0.3).float()
assert_close(run_bce(x1, y1, pos_weight=torch.tensor(3.0)),
             F.binary_cross_entropy_with_logits(x1, y1, pos_weight=torch.tensor(3.0)), rtol=1e-5, atol=1e-6,
             what="a 1-D binary problem with a scalar pos_weight")
# gradients with both weights
mine, ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
w = weights["weight of shape (N, 1)"]
run_bce(mine, y_soft, weight=w, pos_weight=pw).backward()
F.binary_cross_entropy_with_logits(ref, y_soft, weight=w, pos_weight=pw).backward()
assert mine.grad is not None, "no gradient reached the logits"
assert_close(mine.grad, ref.grad, rtol=1e-8, atol=1e-10, what="gradient with weight and pos_weight (soft targets)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_bce_stability", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Float32 logits of ±1e4 with targets 0 and 1: the result is finite and matches PyTorch for
# reduction="mean" and "sum".
def run_bce(*args, **kwargs):
    with forbidden(F.binary_cross_entropy_with_logits, F.binary_cross_entropy, F.logsigmoid, F.softplus,
                   torch.logaddexp, F.log_softmax, torch.logsumexp, what="bce_with_logits"):
        return bce_with_logits(*args, **kwargs)


logits = torch.tensor([1e4, -1e4, 1e4, -1e4, 0.0, 30.0])
targets = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
for reduction in ("mean", "sum"):
    got = run_bce(logits, targets, reduction=reduction)
    assert torch.isfinite(got).all(), f"reduction={reduction!r} gave {got} at logits of ±1e4 (no NaN or inf allowed)"
    assert_close(got, F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction), rtol=1e-5, atol=1e-5,
                 what=f"bce_with_logits at logits of ±1e4, reduction={reduction!r}")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(5)
x = torch.tensor([[1e4, -1e4, 5e3], [-1e4, 1e4, -7e3], [88.0, -89.0, 17.0], [-1e4, -1e4, 1e4]])
y = torch.tensor([[0.0, 1.0, 0.3], [0.0, 1.0, 0.9], [0.0, 1.0, 0.0], [1.0, 0.25, 0.5]])
pw = torch.tensor([2.0, 0.5, 3.0])
w = torch.tensor([[1.0], [2.0], [0.5], [3.0]])
for name, opts in (("no weights", {}), ("pos_weight", dict(pos_weight=pw)), ("weight", dict(weight=w)),
                   ("weight and pos_weight", dict(weight=w, pos_weight=pw))):
    for reduction in ("mean", "sum", "none"):
        got = run_bce(x, y, reduction=reduction, **opts)
        assert torch.isfinite(got).all(), f"extreme logits with {name}, reduction={reduction!r}: result is not finite"
        assert_close(got, F.binary_cross_entropy_with_logits(x, y, reduction=reduction, **opts), rtol=1e-5, atol=1e-4,
                     what=f"extreme float32 logits with {name}, reduction={reduction!r}")
    # gradients: finite and equal to PyTorch's, σ(z)·(...) - y·(...), i.e. about ±1 per element here
    mine, ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    run_bce(mine, y, reduction="sum", **opts).backward()
    F.binary_cross_entropy_with_logits(ref, y, reduction="sum", **opts).backward()
    assert mine.grad is not None and torch.isfinite(mine.grad).all(), \
        f"gradient at extreme logits ({name}) is missing or not finite (NaN): check every branch you compute, even unused ones"
    assert_close(mine.grad, ref.grad, rtol=1e-5, atol=1e-5, what=f"gradient at extreme logits ({name})")
# float64 at ±1e4 too
x64 = torch.tensor([1e4, -1e4, 2e3, -750.0], dtype=torch.float64)
y64 = torch.tensor([0.0, 1.0, 0.5, 0.2], dtype=torch.float64)
for reduction in ("mean", "none"):
    got = run_bce(x64, y64, reduction=reduction)
    assert torch.isfinite(got).all(), f"float64 logits of ±1e4, reduction={reduction!r}: result is not finite"
    assert_close(got, F.binary_cross_entropy_with_logits(x64, y64, reduction=reduction), rtol=1e-10, atol=1e-10,
                 what=f"float64 logits of ±1e4, reduction={reduction!r}")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Regression: MSE, L1 and Huber
#
# With residual $e = \hat y - y$, the three regression losses PyTorch offers differ in how hard a point pulls
# on the fit, that is, in their gradient:
#
# | loss | per element | gradient w.r.t. $\hat y$ | fitted constant | outliers |
# |---|---|---|---|---|
# | `nn.MSELoss` | $e^2$ (no $\tfrac12$) | $2e$ | the mean | pull in proportion to their size |
# | `nn.L1Loss` | $\lvert e \rvert$ | $\mathrm{sign}(e)$ | the median | pull like every other point |
# | `nn.HuberLoss(delta=1.0)` | $\tfrac12 e^2$ if $\lvert e\rvert < \delta$, else $\delta(\lvert e\rvert - \tfrac{\delta}{2})$ | $\mathrm{clip}(e, -\delta, \delta)$ | between the two | pull at most $\delta$ |
#
# MSE is smooth and statistically efficient when the noise really is Gaussian, but a point with residual 10
# contributes 100 times the loss of a point with residual 1 and pulls 10 times harder: a few gross errors can
# drag the whole fit. L1 gives every point the same pull, so it is robust to outlying targets, but its gradient does not shrink
# near the optimum (it needs a decaying learning rate to settle) and it has a kink at 0. Huber is quadratic
# for small residuals and linear beyond $\delta$, with a continuous derivative at $|e| = \delta$. Choose
# $\delta$ on the scale of the residuals you consider normal; it is in the units of the target.
#
# `nn.SmoothL1Loss(beta)` is the same shape rescaled: $\tfrac12 e^2/\beta$ if $|e| < \beta$, else $|e| - \tfrac{\beta}{2}$. So
# `HuberLoss(delta)` $= \delta \cdot$ `SmoothL1Loss(beta=delta)`, and the two coincide at $\delta = \beta = 1$. Their
# linear parts have slope $\delta$ (Huber) and 1 (SmoothL1): with $\delta \ne 1$ the choice changes the size of
# the gradients, hence the effective learning rate.

# %%
e = torch.linspace(-3, 3, 601, device=device, requires_grad=True)
zero = torch.zeros_like(e)
losses = {"MSE": F.mse_loss(e, zero, reduction="none"), "L1": F.l1_loss(e, zero, reduction="none"),
          "Huber, δ=1": F.huber_loss(e, zero, reduction="none", delta=1.0)}
grads = {name: torch.autograd.grad(v.sum(), e, retain_graph=True)[0] for name, v in losses.items()}
e_ = e.detach()
torch.testing.assert_close(grads["MSE"], 2 * e_)
torch.testing.assert_close(grads["L1"], torch.sign(e_))
torch.testing.assert_close(grads["Huber, δ=1"], e_.clamp(-1.0, 1.0))
print("gradients: MSE 2e, L1 sign(e), Huber clip(e, -δ, δ), all as in the table")
pred, target = 3 * torch.randn(1000, device=device), torch.randn(1000, device=device)
for delta in (0.5, 1.0, 2.0):
    torch.testing.assert_close(F.huber_loss(pred, target, delta=delta), delta * F.smooth_l1_loss(pred, target, beta=delta))
print("HuberLoss(delta) = delta * SmoothL1Loss(beta=delta) for delta = 0.5, 1, 2")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
for name, value in losses.items():
    axes[0].plot(e_.cpu(), value.detach().cpu(), label=name)
    axes[1].plot(e_.cpu(), grads[name].cpu(), label=name)
axes[0].set_ylabel("loss")
axes[1].set_ylabel("gradient w.r.t. the prediction")
for ax in axes:
    ax.set_xlabel("residual e = prediction − target")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
fig.suptitle("MSE's pull grows with the residual; L1's and Huber's are bounded")
plt.show()

# %% [markdown]
# The "fitted constant" column, measured: the best constant prediction for the targets $1, 2, 3, 4, 100$ under
# each loss, found on a grid of step 0.001.

# %%
y5 = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0], dtype=torch.float64)
grid = torch.linspace(0, 30, 30001, dtype=torch.float64)[:, None]
for name, fn in (("MSE", F.mse_loss), ("L1", F.l1_loss), ("Huber, δ=1", F.huber_loss)):
    total = fn(grid.expand(-1, 5), y5.expand(len(grid), 5), reduction="none").mean(dim=1)
    print(f"{name:>10}: best constant {grid[total.argmin()].item():.3f}")
print(f"mean {y5.mean().item():.3f}, median {y5.median().item():.3f}")

# %% [markdown]
# ## Exercise 3 · `huber` (graded)
#
# Write `huber(pred, target, delta=1.0, reduction="mean")` that matches `F.huber_loss`:
#
# - `pred` and `target` are float tensors of the same shape; with $e$ = `pred - target`, each element's loss is
#   $\tfrac12 e^2$ if $|e| < \delta$ and $\delta\,(|e| - \tfrac{\delta}{2})$ otherwise;
# - `reduction` is `"mean"`, `"sum"` or `"none"` (elementwise, same shape); any other value raises `ValueError`,
#   and so does `delta <= 0`;
# - keep the dtype, keep the result differentiable, do not modify the inputs in place;
# - **do not call** `F.huber_loss` or `F.smooth_l1_loss` (nor `nn.HuberLoss`, `nn.SmoothL1Loss`).

# %% nbgrader={"grade": false, "grade_id": "huber", "locked": false, "schema_version": 3, "solution": true, "task": false}
def huber(pred: torch.Tensor, target: torch.Tensor, delta: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Huber loss: quadratic for |pred - target| < delta, linear beyond; as F.huber_loss."""
    ### BEGIN SOLUTION
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    abs_err = (pred - target).abs()
    loss = torch.where(abs_err < delta, 0.5 * abs_err ** 2, delta * (abs_err - 0.5 * delta))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_huber", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# delta = 1 (the default) and delta = 2.5 match F.huber_loss for "mean" (the default), "sum" and "none";
# delta = 0 raises ValueError; F.huber_loss and F.smooth_l1_loss are not called.
def run_huber(*args, **kwargs):
    with forbidden(F.huber_loss, F.smooth_l1_loss, what="huber"):
        return huber(*args, **kwargs)


g = torch.Generator().manual_seed(6)
pred, target = 4 * torch.randn(50, generator=g), torch.randn(50, generator=g)   # residuals on both sides of delta
for delta in (1.0, 2.5):
    for reduction in ("mean", "sum", "none"):
        assert_close(run_huber(pred, target, delta=delta, reduction=reduction),
                     F.huber_loss(pred, target, delta=delta, reduction=reduction), rtol=1e-5, atol=1e-6,
                     what=f"huber(delta={delta}, reduction={reduction!r}) vs F.huber_loss")
assert_close(run_huber(pred, target), F.huber_loss(pred, target), rtol=1e-5, atol=1e-6,
             what="huber with the defaults (expected delta=1.0, reduction='mean')")
assert_raises(ValueError, run_huber, pred, target, delta=0.0, what="huber(delta=0)")
### BEGIN HIDDEN TESTS
assert_raises(ValueError, run_huber, pred, target, delta=-1.0, what="huber(delta=-1)")
assert_raises(ValueError, run_huber, pred, target, reduction="avg", what="huber(reduction='avg')")
for shape in ((3, 4), (2, 3, 5)):
    for dtype, tol in ((torch.float32, dict(rtol=1e-5, atol=1e-6)), (torch.float64, dict(rtol=1e-10, atol=1e-12))):
        p, t = 3 * torch.randn(shape, generator=g, dtype=dtype), torch.randn(shape, generator=g, dtype=dtype)
        for delta in (0.1, 0.7, 3.0):
            for reduction in ("mean", "sum", "none"):
                got = run_huber(p, t, delta=delta, reduction=reduction)
                assert isinstance(got, torch.Tensor) and got.dtype == dtype, f"{dtype} inputs: result has the wrong dtype"
                assert_shape(got, shape if reduction == "none" else (), what=f"huber result for a multi-dimensional input, reduction={reduction!r}")
                assert_close(got, F.huber_loss(p, t, delta=delta, reduction=reduction), **tol,
                             what=f"huber on multi-dimensional {dtype} inputs with several deltas, reduction={reduction!r}")
# huge residuals (a gross outlier) stay finite and exact in float32
p, t = torch.tensor([1e4, -1e4, 3e4, 0.5]), torch.tensor([0.0, 0.0, -1e4, 0.0])
for reduction in ("mean", "none"):
    assert_close(run_huber(p, t, delta=2.0, reduction=reduction), F.huber_loss(p, t, delta=2.0, reduction=reduction),
                 rtol=1e-6, atol=1e-6, what=f"huber with residuals up to 4e4, reduction={reduction!r}")
# gradients: clip(e, -delta, delta), scaled by the reduction
p64 = 3 * torch.randn(40, generator=g, dtype=torch.float64)
t64 = torch.randn(40, generator=g, dtype=torch.float64)
for delta in (0.5, 2.0):
    mine, ref = p64.clone().requires_grad_(True), p64.clone().requires_grad_(True)
    run_huber(mine, t64, delta=delta).backward()
    F.huber_loss(ref, t64, delta=delta).backward()
    assert mine.grad is not None, "no gradient reached pred: keep the result differentiable"
    assert_close(mine.grad, ref.grad, rtol=1e-10, atol=1e-12, what="gradient w.r.t. pred for a delta other than 1")
p_before, t_before = p64.clone(), t64.clone()
run_huber(p64, t64, delta=1.5, reduction="none")
assert torch.equal(p64, p_before) and torch.equal(t64, t_before), "huber modified pred or target in place"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Metric learning and hard examples
#
# **Triplet loss.** Some models are trained to produce *embeddings*, vectors whose distances mean something
# (face verification, retrieval). There is no label to predict; instead, an **anchor** $a$ should lie closer
# to a **positive** $p$ (same identity) than to a **negative** $n$, by at least a margin:
#
# $$
# \ell(a, p, n) = \max\big(d(a, p) - d(a, n) + \text{margin},\ 0\big), \qquad d = \text{Euclidean distance}.
# $$
#
# `nn.TripletMarginLoss(margin=1.0, p=2)` computes it (its distance adds `eps=1e-6` to the difference vector,
# hence the small tolerance below). Once embeddings are half-decent, most random triplets are already
# satisfied and contribute 0 loss and 0 gradient, which is why practical training *mines* hard or semi-hard
# negatives.

# %%
g = torch.Generator().manual_seed(7)
anchor = torch.randn(64, 8, generator=g).to(device)
positive = anchor + 0.5 * torch.randn(64, 8, generator=g).to(device)   # a noisy view of the same item
negative = torch.randn(64, 8, generator=g).to(device)                  # another item
by_hand = ((anchor - positive).norm(dim=1) - (anchor - negative).norm(dim=1) + 1.0).clamp_min(0)
torch.testing.assert_close(by_hand.mean(), nn.TripletMarginLoss(margin=1.0)(anchor, positive, negative), rtol=0, atol=1e-5)
print(f"triplet loss {by_hand.mean().item():.4f}; {(by_hand == 0).float().mean().item():.0%} of the triplets already give 0")

# %% [markdown]
# **Focal loss** (Lin et al., 2017) is BCE with easy examples turned down: with $p_t$ the probability given to
# the true class, $\mathrm{FL} = -\alpha_t (1-p_t)^\gamma \log p_t$. At $\gamma = 2$ an example classified with
# $p_t = 0.9$ keeps only 1% of its BCE (before $\alpha_t$). It was made for detectors, where thousands of easy background boxes
# would otherwise drown the few objects. It is not in `torch.nn`; torchvision has `sigmoid_focal_loss`.

# %%
g = torch.Generator().manual_seed(8)
z, t = 3 * torch.randn(10, generator=g), (torch.rand(10, generator=g) < 0.3).float()
p = torch.sigmoid(z)
p_t = t * p + (1 - t) * (1 - p)
alpha_t = 0.25 * t + 0.75 * (1 - t)
focal = alpha_t * (1 - p_t) ** 2 * F.binary_cross_entropy_with_logits(z, t, reduction="none")
try:
    from torchvision.ops import sigmoid_focal_loss
    torch.testing.assert_close(focal, sigmoid_focal_loss(z, t, alpha=0.25, gamma=2.0, reduction="none"))
    print("matches torchvision.ops.sigmoid_focal_loss")
except ImportError:
    print("torchvision is not installed; the formula above is what sigmoid_focal_loss computes")
print(f"mean BCE {F.binary_cross_entropy_with_logits(z, t).item():.4f} -> mean focal loss {focal.mean().item():.4f}")

# %% [markdown]
# ## 8. Explorer: outliers against MSE, L1 and Huber
#
# A real regression: scikit-learn's **diabetes** data, predicting disease progression one year on from
# body-mass index, both standardised (a fitted line is easy to look at). 300 patients train, the other 142
# validate. Then we corrupt a fraction of the **training** targets: they are replaced by $-4$, a gross
# recording error four standard deviations below the mean. The validation targets stay clean, and the
# validation loss is the **MSE on clean data for every loss**, so runs with different losses can be
# compared; the training curve is in each loss's own units.
#
# The model is one `nn.Linear(1, 1)` trained full-batch by Adam. The explorer's `run` hands its loss
# function only `(predictions, targets)`, so the loss choice travels with the data: each training target
# carries the index of the loss and its $\delta$ in two extra columns.

# %%
diabetes = load_diabetes()
bmi = torch.tensor(diabetes.data[:, 2], dtype=torch.float32)
progression = torch.tensor(diabetes.target, dtype=torch.float32)
bmi = (bmi - bmi.mean()) / bmi.std()
progression = (progression - progression.mean()) / progression.std()
split = torch.randperm(len(bmi), generator=torch.Generator().manual_seed(0))
train_idx, val_idx = split[:300], split[300:]
outlier_order = torch.randperm(300, generator=torch.Generator().manual_seed(1))  # who is corrupted first
OUTLIER_VALUE = -4.0
REGRESSION_LOSSES = ("mse", "l1", "huber")


def outlier_data(cfg):
    """x (300, 1) and packed targets (300, 3) = [target, loss index, delta]; validation: clean, loss index of MSE."""
    y = progression[train_idx].clone()
    y[outlier_order[:round(cfg["outlier_frac"] * len(y))]] = OUTLIER_VALUE
    settings = torch.tensor([REGRESSION_LOSSES.index(cfg["loss"]), cfg["delta"]], dtype=torch.float32)
    val_settings = torch.tensor([0.0, cfg["delta"]])
    return (bmi[train_idx, None], torch.cat([y[:, None], settings.expand(len(y), 2)], dim=1),
            bmi[val_idx, None], torch.cat([progression[val_idx, None], val_settings.expand(len(val_idx), 2)], dim=1))


def regression_loss(pred, packed):
    """The loss named in the packed targets' second column (MSE, L1 or Huber with the delta of the third)."""
    target, loss_index, delta = packed[:, 0], int(packed[0, 1]), float(packed[0, 2])
    pred = pred.squeeze(1)
    if loss_index == 0:
        return F.mse_loss(pred, target)
    if loss_index == 1:
        return F.l1_loss(pred, target)
    return F.huber_loss(pred, target, delta=delta)


outlier_task = Task(
    name="diabetes_outliers_12",
    build_model=lambda cfg: nn.Linear(1, 1),
    build_data=outlier_data,
    loss_fn=regression_loss,
    probe=lambda model, cfg, data: {"line": [model.weight.item(), model.bias.item()]},  # slope, intercept
    defaults={"outlier_frac": 0.2, "loss": "mse", "delta": 1.0,
              "steps": 150, "lr": 0.1, "batch_size": 300, "schedule": "cosine", "eval_every": 10},
    data_keys=("outlier_frac", "loss", "delta"),
)

fractions = (0.0, 0.1, 0.3)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True, layout="constrained")
grid_x = torch.linspace(-2.2, 3.8, 2)
print(f"{'outliers':>8} {'loss':>6} {'slope':>6} {'intercept':>9} {'clean val MSE':>13}")
for ax, frac in zip(axes, fractions):
    x_tr, y_tr, _, _ = outlier_data({"outlier_frac": frac, "loss": "mse", "delta": 1.0})
    bad = y_tr[:, 0] == OUTLIER_VALUE
    ax.scatter(x_tr[~bad, 0], y_tr[~bad, 0], s=6, color="0.6", label="training points")
    ax.scatter(x_tr[bad, 0], y_tr[bad, 0], s=6, color="C3", label="corrupted targets")
    for loss_name, color in zip(REGRESSION_LOSSES, ("C0", "C1", "C2")):
        h = run({"outlier_frac": frac, "loss": loss_name}, outlier_task)
        slope, intercept = h.extras["line"]
        ax.plot(grid_x, slope * grid_x + intercept, color=color, lw=2, label=loss_name)
        print(f"{frac:8.0%} {loss_name:>6} {slope:6.3f} {intercept:9.3f} {h.final_val_loss:13.3f}")
    ax.set_title(f"{frac:.0%} of training targets corrupted", fontsize=10)
    ax.set_xlabel("body-mass index (standardised)")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("progression (standardised)")
axes[0].legend(frameon=False, fontsize=8, loc="upper left")
plt.show()

# %% [markdown]
# Without outliers the three lines nearly coincide. With 10% corrupted targets the MSE line has already been
# dragged down and flattened, and its clean validation error grows, while L1 and Huber barely move; at 30%
# even they give way, but far less than MSE.
#
# The explorer below retrains the line whenever you move a control. Left: the training loss (in the chosen
# loss's units) and the clean validation MSE. Right: the fitted line after training, drawn as the border
# between the two shaded half-planes, over the clean training points (the corrupted ones, at $y = -4$, lie
# below the frame). `δ` only matters for Huber.

# %%
fit_panel = GridPanel(
    key="fit", extent=(-2.2, 3.8, -2.2, 2.8), resolution=80,
    data=(torch.stack([bmi[train_idx], progression[train_idx]], dim=1), torch.full((300,), 8)),
    title="fitted line (border of the shading); corrupted points lie below",
    values=lambda model, points: (points[:, 1] > model(points[:, :1]).squeeze(1)).long(),
)
LossCurveExplorer(
    outlier_task,
    knobs=[Knob.slider("outlier_frac", 0.0, 0.4, 0.2, step=0.05, description="outlier fraction"),
           Knob.dropdown("loss", {"MSE": "mse", "L1": "l1", "Huber": "huber"}, "mse"),
           Knob.dropdown("delta", [0.1, 0.3, 1.0, 3.0, 10.0], 1.0, description="Huber δ")],
    extra_panel=fit_panel,
    prompt="At 20% outliers, which loss gives the lowest clean validation MSE? Where does Huber sit as δ grows?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Loss MSE: move the outlier fraction from 0 to 0.4. Does the line shift, tilt, or both? Why does a
#    corrupted point at a large body-mass index tilt it more than one near the middle?
# 2. The same fractions with L1, then Huber ($\delta = 1$). Which holds the line longest? At 0.4, is anything
#    still robust? What could any loss do if half of the targets were corrupted?
# 3. Huber at 20% outliers: step $\delta$ from 0.1 to 10. Which loss does Huber resemble at each end? (At
#    $\delta = 10$ every residual here is below $\delta$; at $\delta = 0.1$ fewer than one in ten is.)
# 4. Set the outlier fraction to 0. Is there a price for robustness when the data are clean? Compare the
#    final validation MSE of the three losses in the status line.

# %% [markdown]
# ## Drills (graded)
#
# 1. `drill_sigmoid_bce`: the value of `nn.BCELoss()(torch.sigmoid(torch.tensor([-200.0])), torch.tensor([1.0]))`
#    in float32, and `drill_true_bce`: the exact loss for that logit and target (what `BCEWithLogitsLoss` returns).
# 2. `drill_bce_on_logits`: what `nn.BCELoss()(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]))` does on
#    the CPU, as one of the strings `"raises"`, `"returns nan"`, `"returns a finite number"`.
# 3. `drill_smoothed_target`: with `label_smoothing=0.1` and 10 classes, the pair (target probability of the
#    true class, target probability of each other class).
# 4. `drill_heads`: for each task below, the pair (number of output units, name of the `torch.nn` loss class
#    as a string, e.g. `"L1Loss"`), for 10 classes or 10 labels where it applies:
#    `"regression"` (one number per example), `"binary"`, `"multiclass"` (exactly one of 10 classes),
#    `"multilabel"` (any subset of 10 labels).

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_sigmoid_bce = 100.0
drill_true_bce = 200.0
drill_bce_on_logits = "raises"
drill_smoothed_target = (0.91, 0.01)
drill_heads = {
    "regression": (1, "MSELoss"),
    "binary": (1, "BCEWithLogitsLoss"),
    "multiclass": (10, "CrossEntropyLoss"),
    "multilabel": (10, "BCEWithLogitsLoss"),
}
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The answers have the right types: numbers, a string, a pair of numbers, and a dict of four pairs.
assert isinstance(drill_sigmoid_bce, (int, float)) and isinstance(drill_true_bce, (int, float)), \
    "drill_sigmoid_bce and drill_true_bce should be numbers"
assert drill_bce_on_logits in ("raises", "returns nan", "returns a finite number"), \
    "drill_bce_on_logits should be one of 'raises', 'returns nan', 'returns a finite number'"
assert len(drill_smoothed_target) == 2, "drill_smoothed_target should be a pair (true class, each other class)"
assert set(drill_heads) == {"regression", "binary", "multiclass", "multilabel"}, \
    "drill_heads needs the keys 'regression', 'binary', 'multiclass', 'multilabel'"
assert all(len(v) == 2 for v in drill_heads.values()), "each value of drill_heads is a pair (units, loss class name)"
### BEGIN HIDDEN TESTS
assert abs(drill_sigmoid_bce - 100.0) < 1e-6, \
    f"sigmoid(-200) is exactly 0 in float32, and BCELoss clamps log(0) at -100, so it prints 100; got {drill_sigmoid_bce}"
assert abs(drill_true_bce - 200.0) < 1e-3, f"the exact loss is -log σ(-200) = log(1 + e^200) ≈ 200; got {drill_true_bce}"
assert drill_bce_on_logits == "raises", \
    "BCELoss checks that its inputs are probabilities: 2.0 is outside [0, 1], so it raises (RuntimeError on the CPU)"
true_p, other_p = drill_smoothed_target
assert abs(true_p - 0.91) < 1e-6 and abs(other_p - 0.01) < 1e-6, \
    f"PyTorch spreads ε over all C classes: 1 - ε + ε/C = 0.91 and ε/C = 0.01; got {tuple(drill_smoothed_target)}"
units, name = drill_heads["regression"]
assert units == 1 and name in ("MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"), \
    f"regression: one output unit, no activation, and MSELoss, L1Loss, HuberLoss or SmoothL1Loss; got {drill_heads['regression']}"
assert tuple(drill_heads["binary"]) in ((1, "BCEWithLogitsLoss"), (2, "CrossEntropyLoss")), \
    f"binary: one logit with BCEWithLogitsLoss (two logits with CrossEntropyLoss also works); got {drill_heads['binary']}"
assert tuple(drill_heads["multiclass"]) == (10, "CrossEntropyLoss"), \
    f"multi-class: 10 logits with CrossEntropyLoss; got {drill_heads['multiclass']}"
assert tuple(drill_heads["multilabel"]) == (10, "BCEWithLogitsLoss"), \
    f"multi-label: 10 logits, each its own BCEWithLogitsLoss (labels are not exclusive); got {drill_heads['multilabel']}"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** You are building a photo tagger: each photo can carry any subset of 20 tags ("beach", "dog",
# "sunset", ...), and a few tags occur in fewer than 1% of photos. A colleague's prototype puts 20 logits
# through `nn.CrossEntropyLoss` with the multi-hot target divided by its sum. What is wrong with it, what head
# and loss would you use instead, and what would you do about the rare tags?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Cross-entropy assumes exactly one true class: the softmax makes the 20 tags share one unit of probability,
# so a photo with $k$ tags can give each at most $1/k$, the loss can never fall below $\ln k$, and raising one
# tag's score lowers all the others. The tags are not mutually exclusive, so each should be its own
# Bernoulli: keep 20 logits (no activation in the model) and use `nn.BCEWithLogitsLoss` on the multi-hot float
# target of shape `(N, 20)`, the fused version for numerical stability. At inference apply a sigmoid per tag
# and pick a threshold per tag on validation data, instead of an argmax. For the rare tags, raise the weight
# of their positive term with `pos_weight` (shape `(20,)`, e.g. $n_\text{neg}/n_\text{pos}$ per tag, often
# tempered), or use a focal loss; and judge them with per-tag precision/recall or average precision, since
# accuracy is dominated by the easy negatives.

# %% [markdown]
# **Q2.** You train a model to predict delivery times. About 5% of the training labels are corrupted (the
# clock was sometimes never stopped, so those deliveries are logged at 10 hours). With `nn.MSELoss`, the error on
# a clean validation set is poor. What is going on, which loss would you try, and how would you set its
# parameter?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# MSE is the Gaussian negative log-likelihood: it estimates the conditional *mean*, and its gradient $2e$ grows
# with the residual, so the few enormous residuals of the corrupted labels dominate the gradient and pull the
# predictions up for everyone (the mean has no robustness: one point can move it arbitrarily far). A robust
# loss bounds each point's pull. L1 (the conditional median) does, but its gradient does not shrink near the
# optimum and it is non-smooth at 0. `nn.HuberLoss(delta)` is quadratic for residuals below $\delta$ (MSE-like
# on the clean data) and linear above (pull capped at $\delta$), so the corrupted labels lose their leverage.
# Choose $\delta$ in the target's units, around the size of a normal residual (for example from a quantile of the
# residuals of a first fit, or by tuning it on the clean validation set); remember that `HuberLoss(δ)` is
# $\delta$ times `SmoothL1Loss(beta=δ)`, which changes the gradient scale. And fix the data where possible:
# labels that are physically implausible can simply be filtered.
