# %% [markdown]
# # 31 · A production training loop
#
# **Interview question:** *What goes into a production-quality training loop, and which bug does each part prevent?*
#
# **After this notebook you can**
# - write one training step in the right order: `zero_grad` → forward → loss → `backward` → (unscale → clip) → `step` → `scheduler.step`;
# - say what `zero_grad(set_to_none=True)` and `pin_memory` with `non_blocking=True` buy, and what they do on a CPU;
# - switch between `model.train()` and `model.eval()`, turn autograd off for evaluation, and say what breaks when either is forgotten;
# - log with `.item()` and per-sample averages, so the numbers are right and every batch's graph is freed;
# - write `fit` with a best-only checkpoint and early stopping;
# - use mixed precision safely: fp16 with a `GradScaler` on CUDA, bf16 autocast on the CPU.
#
# **Runs on a CPU in about 10 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import copy
import gc
import math
import os
import tempfile
import weakref

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import digits_loaders, get_device, plot_curves, seed_everything
from course_utils.testing import assert_close, assert_moved, assert_python_float, forbidden, unmoved_batches

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. One step, in order
#
# Training is a loop of mini-batch steps. Step $t$ sees a batch $B_t$ and moves the parameters
# against the gradient of **that batch's** mean loss, with learning rate $\eta_t$:
#
# $$
# g_t = \nabla_\theta \, \frac{1}{|B_t|} \sum_{i \in B_t} \ell\big(f_\theta(x_i), y_i\big) \Big|_{\theta = \theta_t},
# \qquad
# \theta_{t+1} = \theta_t - \eta_t \, \mathrm{clip}(g_t).
# $$
#
# In PyTorch each piece of that formula is one line, and the order matters. The lines fall into
# separate jobs (data, forward, loss, backward, gradient handling, update, metrics; persistence comes
# once per epoch, in section 7), and keeping them apart is what makes a loop easy to check:
#
# | line | why it is there |
# |---|---|
# | `model.train()` | dropout on; BatchNorm normalises with batch statistics and updates its running averages |
# | `x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)` | the data must sit where the weights are (`non_blocking`: below) |
# | `optimizer.zero_grad(set_to_none=True)` | `backward()` **adds** into `.grad`; without this, $g_t$ silently becomes $g_0 + \dots + g_t$ |
# | `loss = loss_fn(model(x), y)` | the forward pass records the graph |
# | `loss.backward()` | fills `.grad` with $g_t$ |
# | `clip_grad_norm_(...)` | optional: bounds $\lVert g_t \rVert$ before it is used |
# | `optimizer.step()` | the update itself |
# | `scheduler.step()` | sets $\eta_{t+1}$; once per optimizer step, after it |
# | `total += loss.item() * len(y)` | logs a Python number, so the graph can be freed |
#
# The accumulation in `backward()` is deliberate (it is how gradient accumulation over several
# micro-batches works), which is exactly why forgetting `zero_grad` raises no error. Watch it happen:

# %%
w = torch.tensor([1.0, -2.0], requires_grad=True)
x = torch.tensor([3.0, 0.5])
for call in (1, 2):
    loss = (w * x).sum()  # d loss / d w = x
    loss.backward()
    print(f"after backward call {call}: w.grad = {w.grad.tolist()}")
assert torch.equal(w.grad, 2 * x), "two backward calls add up: the gradient is counted twice"
w.grad = None  # what optimizer.zero_grad() does (set_to_none=True is the default since PyTorch 2.0)
print("after zeroing:", w.grad)

# %% [markdown]
# **Why `zero_grad(set_to_none=True)`.** It is the default of `optimizer.zero_grad()` and
# `model.zero_grad()` since PyTorch 2.0, so plain `zero_grad()` already does it; writing it out says
# you mean it. Instead of filling every `.grad` with zeros it drops the gradient tensors
# (`p.grad = None`):
#
# - **memory**: the gradients' memory (as large as the model) is free during the next forward
#   pass, when the stored activations take the most room;
# - **time**: no kernel fills the gradients with zeros, and the next `backward()` *writes* each
#   gradient instead of adding it into a tensor of zeros;
# - **behaviour**: a parameter that receives no gradient in a step (an unused head, a branch
#   skipped this step) keeps `grad = None`, and `torch.optim` optimizers **skip** such parameters. With
#   zero-filled gradients they still step: momentum and Adam's moments keep moving the weight, and
#   weight decay still shrinks it. Code that reads `p.grad` must then allow for `None`. The unit is
#   the whole parameter: an embedding table that was used at all gets a full gradient, zero in the
#   rows no token looked up, so momentum and weight decay still move those rows.
#
# The cell below uses a weight `b` in the first of three steps only, with SGD and momentum 0.9.

# %%
for set_to_none in (True, False):
    a, b = nn.Parameter(torch.tensor(1.0)), nn.Parameter(torch.tensor(1.0))
    opt = torch.optim.SGD([a, b], lr=0.1, momentum=0.9)
    for step in range(3):
        opt.zero_grad(set_to_none=set_to_none)
        loss = a * b if step == 0 else a ** 2  # b takes part in step 0 only
        loss.backward()
        opt.step()
    print(f"set_to_none={set_to_none!s:5}: b.grad = {b.grad},  b = {b.item():.4f}")
# step 0 moves b from 1 to 0.9; with zero-filled gradients momentum moves it by 0.09 and 0.081 more
assert abs(b.item() - 0.729) < 1e-6

# %% [markdown]
# **Moving batches: `pin_memory` and `non_blocking`.** On a CUDA machine a host-to-GPU copy can only
# run asynchronously from *page-locked* ("pinned") host memory, which the operating system may not
# swap out. `DataLoader(..., pin_memory=True)` puts every batch there, and then
# `x.to(device, non_blocking=True)` queues the copy on the current CUDA stream and returns at once:
# Python goes on launching the forward pass (and loader workers prepare the next batch) while the copy
# runs. It is safe, because the kernels that use `x` are queued on the same stream, after the copy.
# From ordinary (pageable) memory the same call copies through a pinned staging buffer and is, in
# effect, synchronous. The reverse direction is the one to be careful with: a GPU-to-CPU copy with
# `non_blocking=True` may be read by the CPU before it has arrived, whereas `.item()` and `.cpu()`
# wait for it.
#
# On the CPU both are no-ops: there is no pinned memory to use (with no accelerator, `pin_memory=True`
# only earns a warning, so the cell below asks for it on CUDA alone), and `.to("cpu", non_blocking=True)`
# of a tensor already on the CPU returns that same tensor, without a copy.

# %%
pin = device.type == "cuda"  # pinned memory needs an accelerator
demo_loader = DataLoader(TensorDataset(torch.randn(256, 64), torch.randint(0, 10, (256,))), batch_size=64,
                         pin_memory=pin)
xb, yb = next(iter(demo_loader))
xb_dev, yb_dev = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
if device.type == "cuda":
    print("batch in pinned memory:", xb.is_pinned(), "| copy queued; the matmul below waits for it on the stream")
    print("sum of x @ W on the GPU:", (xb_dev @ torch.ones(64, 10, device=device)).sum().item())  # .item() waits
else:
    print(f"device {device}: pinned: {xb.is_pinned()}; "
          f".to(device, non_blocking=True) returned the same tensor: {xb_dev is xb}")

# %% [markdown]
# Zeroing *before* the forward pass or *after* `step()` both work; what matters is that no
# gradient from batch $t-1$ is still in `.grad` when batch $t$'s `backward()` runs.
#
# ## 2. Train mode, eval mode, and autograd
#
# Two switches are independent and people mix them up:
#
# - `model.train()` / `model.eval()` set the `training` flag on every submodule. Only layers that
#   behave differently read it: dropout (drops in training, identity in eval) and BatchNorm (batch
#   statistics and running-average updates in training, the stored running averages in eval).
# - `torch.no_grad()` (or the stricter `torch.inference_mode()`) stops autograd from recording
#   the graph. That saves the memory the stored activations would take, but it does **not** change
#   what any layer computes.
#
# Evaluation needs both: `model.eval()` at the top of the evaluation function, and the loop under
# `with torch.no_grad():` (or the whole function decorated with `@torch.no_grad()`, which does the
# same). The cell below shows why `no_grad` alone is not enough: a BatchNorm layer
# left in train mode still updates its running mean, even though no gradient exists.

# %%
bn = nn.BatchNorm1d(3)
batch = torch.randn(16, 3, generator=torch.Generator().manual_seed(0)) + 5.0  # mean around 5

with torch.no_grad():
    bn.train()
    bn(batch)
print("running_mean after a no_grad forward in train mode:", bn.running_mean)  # moved 10% of the way to 5
stats_before = bn.running_mean.clone()
with torch.no_grad():
    bn.eval()
    bn(batch)
assert torch.equal(bn.running_mean, stats_before), "in eval mode BatchNorm must not touch its running statistics"
print("running_mean after a forward in eval mode:          ", bn.running_mean)

layer = nn.Linear(3, 2)
print("output records a graph:            ", layer(batch).requires_grad)
with torch.no_grad():
    print("output records a graph in no_grad:  ", layer(batch).requires_grad)

# %% [markdown]
# ## 3. Logging: `.item()` and per-sample averages
#
# Most losses return the **mean** over the batch (`reduction="mean"`, the default of
# `nn.CrossEntropyLoss`; every `loss_fn` in this notebook is mean-reduced). An epoch's loss should
# be the mean over **samples**, so weight each batch mean $\bar\ell_b$ by its size $n_b$:
#
# $$
# \bar\ell_{\text{epoch}} = \frac{\sum_b n_b \, \bar\ell_b}{\sum_b n_b}
# \qquad\text{not}\qquad
# \frac{1}{\#\text{batches}} \sum_b \bar\ell_b .
# $$
#
# The two agree only when every batch has the same size (or the same mean). With
# `drop_last=False`, the last batch is usually smaller, and the plain mean over batches gives it
# too much weight. Accuracy works the same way: count correct predictions, divide by the number of samples.
#
# The second trap is `total += loss`. The loss is a tensor *attached to the autograd graph*;
# adding it to a running total links every batch's graph into one chain that cannot be freed.
# `loss.item()` returns a plain Python float and lets the graph go.

# %%
g = torch.Generator().manual_seed(0)
logits_all = torch.randn(10, 3, generator=g)
targets_all = torch.randint(0, 3, (10,), generator=g)
loader = DataLoader(TensorDataset(logits_all, targets_all), batch_size=4)  # batches of 4, 4, 2

per_sample_total, batch_means = 0.0, []
for logits, targets in loader:
    batch_loss = F.cross_entropy(logits, targets)
    per_sample_total += batch_loss.item() * len(targets)
    batch_means.append(batch_loss.item())
print(f"per-sample mean: {per_sample_total / 10:.4f}")
print(f"mean of batches: {sum(batch_means) / len(batch_means):.4f}   (wrong: the batch of 2 counts as much as a batch of 4)")
print(f"whole data set : {F.cross_entropy(logits_all, targets_all).item():.4f}")
assert abs(per_sample_total / 10 - F.cross_entropy(logits_all, targets_all).item()) < 1e-6

weights = torch.randn(3, 3, requires_grad=True)
running = 0.0
for logits, targets in loader:
    running = running + F.cross_entropy(logits @ weights, targets)  # the mistake
print("running total is a tensor with a graph attached:", type(running).__name__, running.grad_fn)

# %% [markdown]
# ## 4. Gradient clipping by the global norm
#
# A single bad batch can produce a huge gradient and throw the weights far away. Clipping by the
# **global** norm rescales all gradients together, so their direction is kept:
#
# $$
# \lVert g \rVert = \sqrt{\sum_{p} \lVert g_p \rVert_2^2},
# \qquad
# g_p \leftarrow g_p \cdot \min\!\Big(1, \frac{c}{\lVert g \rVert + \epsilon}\Big),
# $$
#
# where the sum runs over every parameter tensor $p$, $c$ is `max_norm` and PyTorch uses
# $\epsilon = 10^{-6}$. `torch.nn.utils.clip_grad_norm_` does this in place and returns the norm
# measured *before* clipping (worth logging: spikes show trouble early). It must run after
# `backward()` (the gradients must exist) and before `step()` (the step must use the clipped ones).

# %%
net = nn.Linear(4, 3)
g = torch.Generator().manual_seed(1)
F.cross_entropy(net(10 * torch.randn(8, 4, generator=g)), torch.randint(0, 3, (8,), generator=g)).backward()

grads = [p.grad.clone() for p in net.parameters()]
total_norm = torch.sqrt(sum((gp ** 2).sum() for gp in grads))
max_norm = 1.0
expected = [gp * min(1.0, max_norm / (total_norm.item() + 1e-6)) for gp in grads]

returned = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
print(f"norm before clipping: {returned.item():.3f}, after: "
      f"{torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters())).item():.3f}")
assert_close(returned, total_norm, rtol=1e-6, atol=0, what="clip_grad_norm_ returns the pre-clip global norm")
for p, e in zip(net.parameters(), expected):
    assert_close(p.grad, e, rtol=1e-6, atol=1e-7, what="clipped gradient (global-norm formula)")

# %% [markdown]
# ## 5. Learning-rate schedules are stepped per optimizer step
#
# Modern schedules are written in optimizer steps. A common one warms up linearly for $T_w$
# steps (large early updates from a random init are risky, and Adam's second-moment estimates
# are still noisy), then decays along a half cosine to 0 at step $T$:
#
# $$
# \eta_t = \eta_{\max} \cdot
# \begin{cases}
# \dfrac{t + 1}{T_w} & t < T_w, \\[2ex]
# \dfrac12\Big(1 + \cos\Big(\pi \, \dfrac{t - T_w}{T - T_w}\Big)\Big) & t \ge T_w .
# \end{cases}
# $$
#
# `torch.optim.lr_scheduler.LambdaLR(optimizer, factor)` multiplies the base learning rate by
# `factor(t)`, where `t` counts the `scheduler.step()` calls so far (`scheduler.last_epoch`, despite
# its name). `OneCycleLR` needs `total_steps = epochs * len(train_loader)`. If such a schedule is
# stepped once per epoch instead of once per batch, it never leaves its warm-up: the run trains
# with a tiny learning rate and looks "stable but slow". Call `scheduler.step()` after
# `optimizer.step()`; PyTorch warns if the order is reversed, because the first value of the
# schedule would be skipped.
#
# Older schedules are written in **epochs**: `StepLR(optimizer, step_size=30, gamma=0.1)` divides
# the rate by 10 every 30 epochs, and `ReduceLROnPlateau` lowers it when the validation loss stalls
# (`scheduler.step(val_loss)`). Those are stepped once per epoch, after validation. The rule is the
# same for both kinds: step a scheduler in the unit its schedule is written in. The `scheduler`
# that `train_one_epoch` takes below is a per-step one.

# %%
def warmup_cosine(warmup_steps: int, total_steps: int):
    """The factor of the formula above, as a function of the step t (for LambdaLR)."""
    def factor(t: int) -> float:
        if t < warmup_steps:
            return (t + 1) / warmup_steps
        return 0.5 * (1.0 + math.cos(math.pi * (t - warmup_steps) / (total_steps - warmup_steps)))
    return factor


opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup_steps=10, total_steps=100))
lrs = []
for t in range(100):
    lrs.append(opt.param_groups[0]["lr"])  # the rate used by step t
    opt.step()
    sched.step()
assert sched.last_epoch == 100, "one scheduler.step() per optimizer step"
assert abs(lrs[9] - 0.1) < 1e-12 and abs(lrs[55] - 0.05) < 1e-12, "peak at the end of warm-up, half-way down the cosine at t = 55"
plot_curves({"learning rate": lrs}, xlabel="optimizer step", ylabel="lr", title="10 warm-up steps, then cosine decay")
plt.show()

# %% [markdown]
# ## 6. Mixed precision
#
# Half-precision matmuls are several times faster on a GPU and halve activation memory. Two
# 16-bit formats exist:
#
# | format | exponent bits | mantissa bits | largest value | smallest positive value | needs loss scaling? |
# |---|---|---|---|---|---|
# | float16 | 5 | 10 | 65,504 | $2^{-24} \approx 6 \times 10^{-8}$ | yes |
# | bfloat16 | 8 (as float32) | 7 | $\approx 3 \times 10^{38}$ | $2^{-133} \approx 9 \times 10^{-41}$ | no |
#
# In float16, small gradients **underflow to zero**. Loss scaling fixes that: multiply the loss by
# a large $S$ before `backward()` (every gradient is then $S$ times larger and stays
# representable), and divide the gradients by $S$ before the update. `torch.amp.GradScaler`
# automates it, and also adapts $S$: if any gradient is `inf`/`nan` it skips that step and halves $S$;
# after a run of good steps (2000 by default) it doubles $S$. With a scaler the step becomes
#
# ```python
# with torch.autocast(device_type="cuda", dtype=torch.float16):
#     loss = loss_fn(model(x), y)        # matmuls in fp16; softmax, losses and sums kept in fp32
# scaler.scale(loss).backward()          # gradients are S times too large
# scaler.unscale_(optimizer)             # now the true gradients: clip these
# torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
# scaler.step(optimizer)                 # skips the step if a gradient is inf/nan
# scaler.update()                        # adjusts S
# ```
#
# Clipping the *scaled* gradients would compare $S \lVert g \rVert$ with `max_norm`: with
# $S = 2^{16}$ nearly every step gets clipped, and once unscaled its norm is `max_norm` / $S$, so
# training all but stops. bfloat16 has float32's exponent range, so it needs no scaler; it is
# what CPU autocast uses.

# %%
tiny = torch.tensor(1e-8)
print("1e-8 stored in float16:                 ", tiny.half().item(), "(underflow)")
print("scaled by 2**16, stored, then unscaled:  ", ((tiny * 2**16).half().float() / 2**16).item())
print("1e-8 stored in bfloat16:                ", tiny.bfloat16().item())

layer = nn.Linear(64, 10)
xb = torch.randn(32, 64, generator=torch.Generator().manual_seed(0))
with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    out_bf16 = layer(xb)
print("CPU autocast output dtype:", out_bf16.dtype,
      f"| max |difference| to float32: {(out_bf16.float() - layer(xb)).abs().max().item():.3f}")

if device.type == "cuda":
    model_gpu = nn.Linear(64, 10).to(device)
    opt_gpu = torch.optim.SGD(model_gpu.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cuda")
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        logits = model_gpu(xb.to(device))
        loss = F.cross_entropy(logits, torch.zeros(32, dtype=torch.long, device=device))
    scaler.scale(loss).backward()
    scaler.unscale_(opt_gpu)
    torch.nn.utils.clip_grad_norm_(model_gpu.parameters(), 1.0)
    scaler.step(opt_gpu)
    scaler.update()
    print(f"CUDA step: logits {logits.dtype}, loss {loss.dtype}, loss scale now {scaler.get_scale():g}")
else:
    print("No CUDA device here, so the float16 + GradScaler step is skipped (bfloat16 above needs no scaler).")

# %% [markdown]
# ## Exercise 1 · `train_one_epoch` (graded)
#
# Write `train_one_epoch(model, loader, optimizer, loss_fn, device, *, max_grad_norm=None, scaler=None, scheduler=None)`.
# The loader yields `(x, y)` batches; `loss_fn(logits, y)` returns the batch **mean**.
#
# - Put the model in train mode first (it may arrive in eval mode, for example straight from `evaluate`).
# - For every batch: move `x` and `y` to `device` (`.to(device)`, with `non_blocking=True` if you like; the
#   tests detect a batch that reaches the model or the loss unmoved, even on the CPU); zero the gradients;
#   forward; loss; backward;
#   clip when `max_grad_norm` is not `None` (`torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)`);
#   `optimizer.step()`; then `scheduler.step()` if a scheduler was given, **once per optimizer step**.
# - `scaler` (a `torch.amp.GradScaler`): when given, use it as in section 6 — `scaler.scale(loss).backward()`,
#   `scaler.unscale_(optimizer)` before clipping, `scaler.step(optimizer)`, `scaler.update()`. Run the forward
#   pass under `torch.autocast(device.type, dtype=torch.float16)` when the scaler is enabled and the device is
#   CUDA. (The tests run on the CPU with a real, enabled `GradScaler("cpu")`.)
# - Return `{"loss": ..., "accuracy": ...}` as Python `float`s (not tensors: `.item()`): the **per-sample**
#   averages over the epoch of the loss and of `logits.argmax(dim=-1) == y`, as measured on each batch during
#   its forward pass.
#
# Any correct order of the small choices passes: `zero_grad` before the forward or after the step,
# `set_to_none` or not, `len(y)` or `y.size(0)`.

# %% nbgrader={"grade": false, "grade_id": "train_one_epoch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn, device: torch.device, *,
                    max_grad_norm: float | None = None, scaler: torch.amp.GradScaler | None = None,
                    scheduler=None) -> dict:
    """One pass over ``loader`` with one optimizer step per batch.

    Returns ``{"loss": float, "accuracy": float}``, per-sample averages over the epoch.
    """
    ### BEGIN SOLUTION
    model.train()
    device = torch.device(device)
    use_fp16 = scaler is not None and scaler.is_enabled() and device.type == "cuda"
    total_loss, total_correct, n_seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_fp16):
            logits = model(x)
            loss = loss_fn(logits, y)
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        if max_grad_norm is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        batch_size = y.shape[0]
        total_loss += loss.item() * batch_size
        total_correct += (logits.argmax(dim=-1) == y).sum().item()
        n_seen += batch_size
    return {"loss": total_loss / n_seen, "accuracy": total_correct / n_seen}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_train_one_epoch_logging", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible: the result holds Python floats, the epoch loss is the per-sample mean over a ragged last
# batch, and every batch is moved to `device` before the model and the loss see it (the loader marks
# its batches; the model and the loss below fail on a batch that never went through .to(device)).
# Ten samples in batches of 4, 4 and 2. The model is the identity map, so each row of x is its own
# logits; with lr = 0 the weights never move, and the epoch loss must equal the loss of all ten rows
# at once (1.120). The mean of the three batch means would be 1.153.
class CheckedLinear(nn.Linear):
    """nn.Linear that fails when its input is a batch that was never moved to `device`."""

    def forward(self, h):
        assert_moved(h, what="train_one_epoch: the input x")
        return super().forward(h)


def checked_ce(logits, targets):
    """F.cross_entropy that fails when the targets were never moved to `device`."""
    assert_moved(targets, what="train_one_epoch: the targets y")
    return F.cross_entropy(logits, targets)


x = torch.tensor([[4.0, 0.0]] * 4 + [[2.0, 0.0]] * 4 + [[0.0, 1.0]] * 2)
y = torch.tensor([0] * 4 + [1] * 4 + [0] * 2)
model = CheckedLinear(2, 2, bias=False)
with torch.no_grad():
    model.weight.copy_(torch.eye(2))
loader = unmoved_batches(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False))
stats = train_one_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.0), checked_ce, torch.device("cpu"))
assert isinstance(stats, dict) and {"loss", "accuracy"} <= set(stats), \
    f"train_one_epoch must return a dict with keys 'loss' and 'accuracy', got {stats!r}"
for key in ("loss", "accuracy"):
    assert_python_float(stats[key], what=f"train_one_epoch(...)[{key!r}]")
assert_close(stats["loss"], F.cross_entropy(x, y).item(), rtol=1e-5, atol=1e-6,
             what="epoch loss (per-sample mean of 10 samples in batches of 4, 4 and 2)")
### BEGIN HIDDEN TESTS
# 4 of the 10 samples are classified correctly (a mean of the batch accuracies would give 1/3)
assert_close(stats["accuracy"], 0.4, rtol=0, atol=1e-6, what="epoch accuracy (correct samples over all samples)")

# The graph of each batch must die once the batch is done. A spy loss adds 0 * marker, where marker
# is a fresh leaf tensor that stays alive exactly as long as that batch's graph does.
markers, stale_counts = [], []


def spy_loss(logits, targets):
    assert_moved(targets, what="train_one_epoch: the targets y")
    gc.collect()
    stale_counts.append(sum(ref() is not None for ref in markers[:-1]))  # graphs older than the previous batch
    marker = torch.zeros((), requires_grad=True)
    markers.append(weakref.ref(marker))
    return F.cross_entropy(logits, targets) + 0.0 * marker


g = torch.Generator().manual_seed(0)
xs, ys = torch.randn(16, 5, generator=g), torch.randint(0, 3, (16,), generator=g)
net = CheckedLinear(5, 3)
out = train_one_epoch(net, unmoved_batches(DataLoader(TensorDataset(xs, ys), batch_size=4)),
                      torch.optim.SGD(net.parameters(), lr=0.1), spy_loss, torch.device("cpu"))
assert len(markers) >= 4, f"expected one loss_fn call per batch, got {len(markers)} calls"
assert max(stale_counts) == 0, \
    "the graphs of earlier batches were still alive during the epoch: accumulate loss.item(), not the loss tensor"
gc.collect()
assert all(ref() is None for ref in markers), \
    "the returned values still hold an autograd graph: return Python floats (loss.item())"
for key in ("loss", "accuracy"):
    assert_python_float(out[key], what=f"train_one_epoch(...)[{key!r}]")

# The loss goes down on the digits (Adam, 3 epochs): a smoke test of the whole step.
train_loader, _ = digits_loaders(batch_size=64, seed=0)
with torch.random.fork_rng(devices=[]):
    torch.manual_seed(0)
    mlp = nn.Sequential(CheckedLinear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.Adam(mlp.parameters(), lr=1e-2)
epochs = [train_one_epoch(mlp, unmoved_batches(train_loader), opt, checked_ce, torch.device("cpu")) for _ in range(3)]
assert epochs[-1]["loss"] < 0.5 * epochs[0]["loss"], \
    f"the training loss on the digits should fall by half in 3 epochs, got {[round(e['loss'], 3) for e in epochs]}"
assert epochs[-1]["accuracy"] > 0.9, f"training accuracy after 3 epochs should exceed 0.9, got {epochs[-1]['accuracy']:.3f}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_train_one_epoch_step", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Visible: one SGD step per batch with fresh gradients, in train mode; and, on one batch whose gradient
# norm is far above max_grad_norm = 0.5, clipping by the global norm of all gradients (the batches
# must be moved to `device`, as in the cell above).
# The reference is plain SGD written out by hand: p <- p - lr * scale * grad, batch by batch.
class CheckedLinear(nn.Linear):
    """nn.Linear that fails when its input is a batch that was never moved to `device`."""

    def forward(self, h):
        assert_moved(h, what="train_one_epoch: the input x")
        return super().forward(h)


def checked_ce(logits, targets):
    """F.cross_entropy that fails when the targets were never moved to `device`."""
    assert_moved(targets, what="train_one_epoch: the targets y")
    return F.cross_entropy(logits, targets)


class ModeProbe(nn.Module):
    """Passes its input through and records self.training at every call."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, h):
        self.seen.append(self.training)
        return h


def sgd_reference(model, loader, lr, max_norm=None):
    """A copy of `model` after one epoch of hand-written SGD, and the pre-clip gradient norms."""
    model, norms = copy.deepcopy(model), []
    for xb, yb in loader:
        params = list(model.parameters())
        grads = torch.autograd.grad(F.cross_entropy(model(xb), yb), params)
        norm = torch.sqrt(sum((gr ** 2).sum() for gr in grads)).item()
        norms.append(norm)
        scale = 1.0 if max_norm is None else min(1.0, max_norm / (norm + 1e-6))  # PyTorch's formula
        with torch.no_grad():
            for p, gr in zip(params, grads):
                p -= lr * scale * gr
    return model, norms


g = torch.Generator().manual_seed(1)
x, y = torch.randn(12, 5, generator=g), torch.randint(0, 3, (12,), generator=g)
loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False)
model = nn.Sequential(CheckedLinear(5, 3), ModeProbe())
reference, _ = sgd_reference(model, loader, lr=0.5)
model.eval()  # train_one_epoch must switch to train mode itself
train_one_epoch(model, unmoved_batches(loader), torch.optim.SGD(model.parameters(), lr=0.5), checked_ce,
                torch.device("cpu"))
assert model[1].seen and all(model[1].seen), \
    "the forward passes ran in eval mode: train_one_epoch must call model.train() first"
for p, r in zip(model.parameters(), reference.parameters()):
    assert_close(p, r, rtol=1e-5, atol=1e-6,
                 what="weights after 3 SGD steps (one per batch, gradients zeroed between steps)")

# clipping, visible: one batch of 4 with big inputs and weights, so its gradient norm exceeds 1
x1, y1 = 4.0 * torch.randn(4, 5, generator=g), torch.randint(0, 3, (4,), generator=g)
one_batch = DataLoader(TensorDataset(x1, y1), batch_size=4)
base1 = CheckedLinear(5, 3)
with torch.no_grad():
    base1.weight.copy_(3.0 * torch.randn(3, 5, generator=g))
clipped_ref, norms = sgd_reference(base1, one_batch, lr=0.5, max_norm=0.5)
assert norms[0] > 1.0, "test fixture: the gradient norm should exceed max_grad_norm"
model = copy.deepcopy(base1)
train_one_epoch(model, unmoved_batches(one_batch), torch.optim.SGD(model.parameters(), lr=0.5), checked_ce,
                torch.device("cpu"), max_grad_norm=0.5)
for p, r in zip(model.parameters(), clipped_ref.parameters()):
    assert_close(p, r, rtol=1e-5, atol=1e-6,
                 what=f"weights after one step with max_grad_norm=0.5 (the gradient norm was {norms[0]:.1f}: scale "
                      f"all gradients together so that their global norm is 0.5, after backward and before step)")
### BEGIN HIDDEN TESTS
# Clipping over several batches. Big inputs and weights make every batch's gradient norm exceed max_norm.
g = torch.Generator().manual_seed(2)
xc, yc = 4.0 * torch.randn(12, 5, generator=g), torch.randint(0, 3, (12,), generator=g)
loader_c = DataLoader(TensorDataset(xc, yc), batch_size=4, shuffle=False)
base = CheckedLinear(5, 3)
with torch.no_grad():
    base.weight.copy_(3.0 * torch.randn(3, 5, generator=g))
    base.bias.copy_(torch.randn(3, generator=g))
clipped_ref, norms = sgd_reference(base, loader_c, lr=0.5, max_norm=0.5)
assert min(norms) > 1.0, "test fixture: every gradient norm should exceed max_norm"
model = copy.deepcopy(base)
train_one_epoch(model, unmoved_batches(loader_c), torch.optim.SGD(model.parameters(), lr=0.5), checked_ce,
                torch.device("cpu"), max_grad_norm=0.5)
for p, r in zip(model.parameters(), clipped_ref.parameters()):
    assert_close(p, r, rtol=1e-5, atol=1e-6,
                 what="weights after an epoch with clipping active (clip the global norm after backward, before step)")
# max_grad_norm=None means no clipping at all
plain_ref, _ = sgd_reference(base, loader_c, lr=0.5)
model = copy.deepcopy(base)
train_one_epoch(model, unmoved_batches(loader_c), torch.optim.SGD(model.parameters(), lr=0.5), checked_ce,
                torch.device("cpu"))
for p, r in zip(model.parameters(), plain_ref.parameters()):
    assert_close(p, r, rtol=1e-5, atol=1e-6, what="weights with max_grad_norm=None (no clipping at all)")
# a threshold above every norm changes nothing
model = copy.deepcopy(base)
train_one_epoch(model, unmoved_batches(loader_c), torch.optim.SGD(model.parameters(), lr=0.5), checked_ce,
                torch.device("cpu"), max_grad_norm=1e6)
for p, r in zip(model.parameters(), plain_ref.parameters()):
    assert_close(p, r, rtol=1e-5, atol=1e-6,
                 what="weights with a max_grad_norm above every gradient norm (clipping must change nothing)")
# gradients still do not leak with momentum: compare with torch's own SGD driven batch by batch
model = copy.deepcopy(base)
manual = copy.deepcopy(base)
opt_manual = torch.optim.SGD(manual.parameters(), lr=0.05, momentum=0.9)
for xb, yb in loader_c:
    opt_manual.zero_grad()
    F.cross_entropy(manual(xb), yb).backward()
    opt_manual.step()
train_one_epoch(model, unmoved_batches(loader_c), torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                checked_ce, torch.device("cpu"))
for p, r in zip(model.parameters(), manual.parameters()):
    assert_close(p, r, rtol=1e-5, atol=1e-6, what="weights after an epoch of SGD with momentum")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_train_one_epoch_scheduler_scaler", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible: the scheduler is stepped once per optimizer step; and with a real, enabled GradScaler (no
# clipping), scaler.step and scaler.update run once per batch and the weights match plain SGD.
# The scale 2**12 is exact in float32, so a correct loop matches plain SGD; calling optimizer.step()
# instead of scaler.step(optimizer) applies gradients 4096 times too large. (The batches must be
# moved to `device`, as above.)
class CheckedLinear(nn.Linear):
    """nn.Linear that fails when its input is a batch that was never moved to `device`."""

    def forward(self, h):
        assert_moved(h, what="train_one_epoch: the input x")
        return super().forward(h)


def checked_ce(logits, targets):
    """F.cross_entropy that fails when the targets were never moved to `device`."""
    assert_moved(targets, what="train_one_epoch: the targets y")
    return F.cross_entropy(logits, targets)


def sgd_reference(model, loader, lr, max_norm=None, factor=lambda t: 1.0):
    """A copy of `model` after one epoch of hand-written SGD; step t uses lr * factor(t)."""
    model = copy.deepcopy(model)
    for t, (xb, yb) in enumerate(loader):
        params = list(model.parameters())
        grads = torch.autograd.grad(F.cross_entropy(model(xb), yb), params)
        norm = torch.sqrt(sum((gr ** 2).sum() for gr in grads)).item()
        scale = 1.0 if max_norm is None else min(1.0, max_norm / (norm + 1e-6))
        with torch.no_grad():
            for p, gr in zip(params, grads):
                p -= lr * factor(t) * scale * gr
    return model


class CountingScaler(torch.amp.GradScaler):
    def __init__(self):
        super().__init__("cpu", init_scale=2.0 ** 12)
        self.calls = []

    def step(self, optimizer, *args, **kwargs):
        self.calls.append("step")
        return super().step(optimizer, *args, **kwargs)

    def update(self, new_scale=None):
        self.calls.append("update")
        return super().update(new_scale)


g = torch.Generator().manual_seed(3)
x, y = torch.randn(10, 5, generator=g), torch.randint(0, 3, (10,), generator=g)
loader = DataLoader(TensorDataset(x, y), batch_size=3, shuffle=False)  # 4 batches: 3, 3, 3, 1
model = CheckedLinear(5, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + t))
train_one_epoch(model, unmoved_batches(loader), opt, checked_ce, torch.device("cpu"), scheduler=sched)
assert sched.last_epoch == 4, \
    f"after one epoch of 4 batches the scheduler should have been stepped 4 times, got {sched.last_epoch}"

base = CheckedLinear(5, 3)
reference = sgd_reference(base, loader, lr=0.5)
model = copy.deepcopy(base)
scaler = CountingScaler()
train_one_epoch(model, unmoved_batches(loader), torch.optim.SGD(model.parameters(), lr=0.5), checked_ce,
                torch.device("cpu"), scaler=scaler)
assert scaler.calls.count("step") == 4 and scaler.calls.count("update") == 4, \
    f"with a scaler, call scaler.step(optimizer) and scaler.update() once per batch (4 batches); calls were {scaler.calls}"
# atol 1e-3 also accepts a loop that autocasts to float16 on the CPU
for p, r in zip(model.parameters(), reference.parameters()):
    assert_close(p, r, rtol=1e-3, atol=1e-3,
                 what="weights after an epoch with an enabled GradScaler (scaler.scale(loss).backward(), "
                      "scaler.step(optimizer), scaler.update()): expected those of plain SGD")
### BEGIN HIDDEN TESTS
# step t must use lr * factor(t): the scheduler is stepped after each optimizer step, not before
base = CheckedLinear(5, 3)
reference = sgd_reference(base, loader, lr=0.5, factor=lambda t: 1.0 / (1 + t))
model = copy.deepcopy(base)
opt = torch.optim.SGD(model.parameters(), lr=0.5)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + t))
train_one_epoch(model, unmoved_batches(loader), opt, checked_ce, torch.device("cpu"), scheduler=sched)
for p, r in zip(model.parameters(), reference.parameters()):
    assert_close(p, r, rtol=1e-5, atol=1e-6,
                 what="weights with a decaying LambdaLR schedule (step t must use the rate of step t: "
                      "call scheduler.step() after optimizer.step())")
train_one_epoch(model, unmoved_batches(loader), opt, checked_ce, torch.device("cpu"), scheduler=sched)
assert sched.last_epoch == 8, f"after two epochs of 4 batches: 8 scheduler steps, got {sched.last_epoch}"

# A GradScaler with clipping. Forgetting unscale_ clips the scaled gradients (the update shrinks 4096-fold).
g = torch.Generator().manual_seed(4)
xc, yc = 4.0 * torch.randn(12, 5, generator=g), torch.randint(0, 3, (12,), generator=g)
loader_c = DataLoader(TensorDataset(xc, yc), batch_size=4, shuffle=False)
base = CheckedLinear(5, 3)
with torch.no_grad():
    base.weight.copy_(3.0 * torch.randn(3, 5, generator=g))
for max_norm in (0.5, None):
    reference = sgd_reference(base, loader_c, lr=0.5, max_norm=max_norm)
    model = copy.deepcopy(base)
    scaler = CountingScaler()
    train_one_epoch(model, unmoved_batches(loader_c), torch.optim.SGD(model.parameters(), lr=0.5), checked_ce,
                    torch.device("cpu"), max_grad_norm=max_norm, scaler=scaler)
    assert scaler.calls.count("step") == 3 and scaler.calls.count("update") == 3, \
        f"with a scaler, call scaler.step(optimizer) and scaler.update() once per batch; calls were {scaler.calls}"
    for p, r in zip(model.parameters(), reference.parameters()):
        assert_close(p, r, rtol=1e-3, atol=1e-3,
                     what="weights with an enabled GradScaler and clipping "
                          + ("on (call scaler.unscale_(optimizer) before clipping)" if max_norm else "off"))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · `evaluate` (graded)
#
# Write `evaluate(model, loader, loss_fn, device)`. It returns the same `{"loss", "accuracy"}`
# per-sample averages as `train_one_epoch`, as Python floats, and:
#
# - moves each batch to `device`, as `train_one_epoch` does;
# - runs the model in eval mode (`model.eval()`);
# - records no graph: wrap the loop in `torch.no_grad()` or `torch.inference_mode()`;
# - never calls `backward()` or changes a weight.
#
# It may leave the model in eval mode: `train_one_epoch` switches it back.

# %% nbgrader={"grade": false, "grade_id": "evaluate", "locked": false, "schema_version": 3, "solution": true, "task": false}
def evaluate(model: nn.Module, loader, loss_fn, device: torch.device) -> dict:
    """Per-sample mean loss and accuracy over ``loader``, in eval mode, without autograd."""
    ### BEGIN SOLUTION
    model.eval()
    device = torch.device(device)
    total_loss, total_correct, n_seen = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            batch_size = y.shape[0]
            total_loss += loss_fn(logits, y).item() * batch_size
            total_correct += (logits.argmax(dim=-1) == y).sum().item()
            n_seen += batch_size
    return {"loss": total_loss / n_seen, "accuracy": total_correct / n_seen}
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_evaluate", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# Visible: eval mode, no graph, no gradients and no backward() call (it is made to raise), Python floats,
# the per-sample loss over batches of 4, 4 and 2, and every batch moved to `device` (the loader marks
# its batches; the model and the loss below fail on a batch that never went through .to(device)).
class CheckedLinear(nn.Linear):
    """nn.Linear that fails when its input is a batch that was never moved to `device`."""

    def forward(self, h):
        assert_moved(h, what="evaluate: the input x")
        return super().forward(h)


def checked_ce(logits, targets):
    """F.cross_entropy that fails when the targets were never moved to `device`."""
    assert_moved(targets, what="evaluate: the targets y")
    return F.cross_entropy(logits, targets)


class Probe(nn.Module):
    """Passes its input through and records (self.training, grad enabled) at every call."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, h):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return h


def run_evaluate(model, loader, loss_fn=checked_ce):
    with forbidden(torch.Tensor.backward, torch.autograd.backward, what="evaluate (it must never call backward())"):
        return evaluate(model, unmoved_batches(loader), loss_fn, torch.device("cpu"))


g = torch.Generator().manual_seed(5)
x, y = torch.randn(10, 5, generator=g), torch.randint(0, 3, (10,), generator=g)
model = nn.Sequential(CheckedLinear(5, 3), Probe())
model.train()  # evaluate must switch to eval mode itself
stats = run_evaluate(model, DataLoader(TensorDataset(x, y), batch_size=4))
assert isinstance(stats, dict) and {"loss", "accuracy"} <= set(stats), \
    f"evaluate must return a dict with keys 'loss' and 'accuracy', got {stats!r}"
for key in ("loss", "accuracy"):
    assert_python_float(stats[key], what=f"evaluate(...)[{key!r}]")
seen = model[1].seen
assert seen and not any(training for training, _ in seen), "evaluate must run the model in eval mode (model.eval())"
assert not any(grad for _, grad in seen), \
    "evaluate recorded an autograd graph: run the loop under torch.no_grad() (or torch.inference_mode())"
assert all(p.grad is None for p in model.parameters()), "evaluate must not compute gradients"
with torch.no_grad():
    expected_logits = model[0](x)
assert_close(stats["loss"], F.cross_entropy(expected_logits, y).item(), rtol=1e-5, atol=1e-6,
             what="evaluate loss (per-sample mean over 10 samples in batches of 4, 4, 2)")
### BEGIN HIDDEN TESTS
assert_close(stats["accuracy"], (expected_logits.argmax(-1) == y).float().mean().item(), rtol=0, atol=1e-6,
             what="evaluate accuracy (correct samples over all samples)")

# the ragged identity example: per-sample loss and accuracy differ from the means of the batch means
xi = torch.tensor([[4.0, 0.0]] * 4 + [[2.0, 0.0]] * 4 + [[0.0, 1.0]] * 2)
yi = torch.tensor([0] * 4 + [1] * 4 + [0] * 2)
identity = CheckedLinear(2, 2, bias=False)
with torch.no_grad():
    identity.weight.copy_(torch.eye(2))
si = run_evaluate(identity, DataLoader(TensorDataset(xi, yi), batch_size=4))
assert_close(si["loss"], F.cross_entropy(xi, yi).item(), rtol=1e-5, atol=1e-6,
             what="evaluate loss with a smaller last batch (per-sample mean, not the mean of batch means)")
assert_close(si["accuracy"], 0.4, rtol=0, atol=1e-6,
             what="evaluate accuracy with a smaller last batch (correct samples over all samples)")

# dropout off and BatchNorm's running statistics used and left untouched; nothing changes
g = torch.Generator().manual_seed(6)
xb, yb = torch.randn(10, 5, generator=g), torch.randint(0, 3, (10,), generator=g)
net = nn.Sequential(CheckedLinear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
with torch.no_grad():
    net[1].running_mean.normal_(generator=g)
net.train()
state = copy.deepcopy(net.state_dict())
ref = copy.deepcopy(net).eval()
with torch.no_grad():
    ref_logits = ref(xb)
r1 = run_evaluate(net, DataLoader(TensorDataset(xb, yb), batch_size=4))
r2 = run_evaluate(net, DataLoader(TensorDataset(xb, yb), batch_size=4))
for k, v in state.items():
    assert torch.equal(net.state_dict()[k], v), f"evaluate changed {k!r}: it must leave weights and BatchNorm statistics alone"
assert_close(r1["loss"], F.cross_entropy(ref_logits, yb).item(), rtol=1e-5, atol=1e-6,
             what="evaluate loss of a model with dropout and BatchNorm (eval mode)")
assert r1 == r2, f"evaluate must be deterministic (dropout off): got {r1} then {r2}"
assert all(p.grad is None for p in net.parameters()), "evaluate must not compute gradients"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Keep the best, stop when it stops improving
#
# Validation loss usually falls, flattens, and then rises again as the model starts fitting
# noise. Two habits follow:
#
# - **Checkpoint the best.** After epoch $e$ with validation loss $v_e$, save the weights only
#   when $v_e < \min_{k<e} v_k$ (a strict improvement). The file then always holds the best model
#   so far, whatever happens later (a crash, a divergence, overfitting). Selecting on the validation
#   accuracy instead (save when it strictly rises) is just as common when accuracy is what you ship;
#   either way, log both splits every epoch, so the curves show when the two part.
# - **Early stopping with patience $P$.** Count the epochs since the last improvement; stop
#   as soon as that count reaches $P$. If the best epoch is $e^*$ and nothing beats it, training
#   ends after epoch $e^* + P$: exactly $P$ epochs without improvement were tried.
#
# Save `model.state_dict()` (a dict of tensors), not the model object: it loads with
# `torch.load(path, weights_only=True)`, which refuses to run arbitrary pickled code, and it
# survives refactoring the model class. One trap: `state_dict()` returns **references** to the
# live parameters, not copies. Keeping it in a variable as "the best weights" silently tracks the
# current weights. `torch.save` writes the bytes at the moment it is called, so saving at once is
# safe; for an in-memory copy use `copy.deepcopy`.

# %%
layer = nn.Linear(2, 1)
kept = layer.state_dict()                # references to the live tensors
copied = copy.deepcopy(layer.state_dict())
with torch.no_grad():
    layer.weight.add_(1.0)                # "one more epoch of training"
print("kept reference follows the live weights:", torch.equal(kept["weight"], layer.weight))
print("deep copy still holds the old weights:  ", not torch.equal(copied["weight"], layer.weight))

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "best.pt")
    torch.save(layer.state_dict(), path)
    restored = nn.Linear(2, 1)
    restored.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(restored.weight, layer.weight)
    print("saved and restored with weights_only=True:", sorted(torch.load(path, weights_only=True)))

# %% [markdown]
# A checkpoint meant for *resuming* a run holds more: the optimizer's state (Adam's moment
# estimates), the scheduler's and the scaler's `state_dict()`, the epoch, and the RNG states.
# Here we only keep the best weights, the file you would deploy.
#
# ## Exercise 3 · `fit` (graded)
#
# Write `fit(model, train_loader, val_loader, optimizer, loss_fn, device, epochs, *, checkpoint_path=None, patience=None)`:
#
# - each epoch: your `train_one_epoch` (no clipping, scaler or scheduler: `fit` does not take them), then your `evaluate`
#   on `val_loader`;
# - append `{"train_loss", "train_accuracy", "val_loss", "val_accuracy"}` (Python floats, as your two functions
#   return them) to the history, one dict per epoch that ran, and return the list (extra keys are fine);
# - with `checkpoint_path`, save `model.state_dict()` to it with `torch.save` whenever `val_loss` is strictly
#   lower than every earlier epoch's (the first epoch always counts as an improvement). The file must hold
#   exactly the state dict, so `model.load_state_dict(torch.load(checkpoint_path, weights_only=True))` works;
# - with `patience`, stop after `patience` consecutive epochs without improvement; `None` runs all `epochs`.
#
# Whether the model ends with the last or the best weights is up to you; the tests read the file. So is
# anything else you log: evaluating the training set as well, say, changes nothing the tests look at.

# %% nbgrader={"grade": false, "grade_id": "fit", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit(model: nn.Module, train_loader, val_loader, optimizer: torch.optim.Optimizer, loss_fn, device: torch.device,
        epochs: int, *, checkpoint_path: str | None = None, patience: int | None = None) -> list[dict]:
    """Train for up to ``epochs`` epochs; keep the best weights on disk; stop early on a plateau."""
    ### BEGIN SOLUTION
    history = []
    best_val_loss, epochs_without_improvement = math.inf, 0
    for epoch in range(epochs):
        train_stats = train_one_epoch(model, train_loader, optimizer, loss_fn, device)
        val_stats = evaluate(model, val_loader, loss_fn, device)
        history.append({"train_loss": train_stats["loss"], "train_accuracy": train_stats["accuracy"],
                        "val_loss": val_stats["loss"], "val_accuracy": val_stats["accuracy"]})
        if val_stats["loss"] < best_val_loss:
            best_val_loss, epochs_without_improvement = val_stats["loss"], 0
            if checkpoint_path is not None:
                torch.save(model.state_dict(), checkpoint_path)
        else:
            epochs_without_improvement += 1
            if patience is not None and epochs_without_improvement >= patience:
                break
    return history
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_fit_history", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible: one dict per epoch, the right numbers under the right keys, every value a Python float, and
# every batch moved to `device` (the loaders mark their batches; the model and the loss below fail on
# a batch that never went through .to(device)).
# The identity model with lr = 0 never changes, so every epoch's numbers are known exactly.
class CheckedLinear(nn.Linear):
    """nn.Linear that fails when its input is a batch that was never moved to `device`."""

    def forward(self, h):
        assert_moved(h, what="fit: the input x")
        return super().forward(h)


def checked_ce(logits, targets):
    """F.cross_entropy that fails when the targets were never moved to `device`."""
    assert_moved(targets, what="fit: the targets y")
    return F.cross_entropy(logits, targets)


x_train = torch.tensor([[4.0, 0.0]] * 4 + [[2.0, 0.0]] * 4 + [[0.0, 1.0]] * 2)
y_train = torch.tensor([0] * 4 + [1] * 4 + [0] * 2)
x_val = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 3.0]] * 2)
y_val = torch.tensor([0, 0, 0, 0, 1])
model = CheckedLinear(2, 2, bias=False)
with torch.no_grad():
    model.weight.copy_(torch.eye(2))
train_loader = unmoved_batches(DataLoader(TensorDataset(x_train, y_train), batch_size=4))
val_loader = unmoved_batches(DataLoader(TensorDataset(x_val, y_val), batch_size=2))
history = fit(model, train_loader, val_loader, torch.optim.SGD(model.parameters(), lr=0.0), checked_ce,
              torch.device("cpu"), 3)
assert isinstance(history, list) and len(history) == 3, \
    f"fit(..., epochs=3) must return a list of 3 dicts, got {type(history).__name__} of length {len(history)}"
keys = {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}
for h in history:
    assert isinstance(h, dict) and keys <= set(h), f"every history entry needs the keys {sorted(keys)}, got {h!r}"
    for k in sorted(keys):
        assert_python_float(h[k], what=f"history entry {k!r}")
expected = {"train_loss": F.cross_entropy(x_train, y_train).item(), "train_accuracy": 0.4,
            "val_loss": F.cross_entropy(x_val, y_val).item(), "val_accuracy": 0.8}
for k, v in expected.items():
    assert_close(history[-1][k], v, rtol=1e-5, atol=1e-6, what=f"history[-1][{k!r}]")
### BEGIN HIDDEN TESTS
for h in history:
    for k, v in expected.items():
        assert_close(h[k], v, rtol=1e-5, atol=1e-6, what=f"history entry {k!r} (the model never changes: the same every epoch)")


# Modes across epochs: every training forward in train mode with autograd on, every validation
# forward in eval mode with autograd off, in every epoch (evaluate leaves the model in eval mode,
# so train_one_epoch must switch it back).
class Probe(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, h):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return h


probe_model = nn.Sequential(CheckedLinear(2, 2), Probe())
fit(probe_model, train_loader, val_loader, torch.optim.SGD(probe_model.parameters(), lr=0.1), checked_ce,
    torch.device("cpu"), 3)
seen = probe_model[1].seen
training_calls = [mode for mode, grad in seen if grad]
assert len(training_calls) == 3 * 3, \
    f"expected one training forward pass with autograd per training batch and epoch, got {len(training_calls)}"
assert all(training_calls), "a training epoch after the first ran in eval mode: the model must be back in train mode for training"
assert not any(mode for mode, grad in seen if not grad), "validation must run in eval mode"

# On the digits: 4 epochs of Adam learn, and patience=None runs every epoch.
train_digits, val_digits = digits_loaders(batch_size=64, seed=0)
with torch.random.fork_rng(devices=[]):
    torch.manual_seed(0)
    mlp = nn.Sequential(CheckedLinear(64, 64), nn.ReLU(), nn.Linear(64, 10))
hist = fit(mlp, unmoved_batches(train_digits), unmoved_batches(val_digits), torch.optim.Adam(mlp.parameters(), lr=1e-2),
           checked_ce, torch.device("cpu"), 4)
assert len(hist) == 4, f"without patience fit must run every epoch it is asked for; it ran {len(hist)}"
assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"], \
    f"the training loss on the digits should fall by half, got {[round(h['train_loss'], 3) for h in hist]}"
assert hist[-1]["val_accuracy"] > 0.9, f"validation accuracy on the digits should exceed 0.9, got {hist[-1]['val_accuracy']:.3f}"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_fit_checkpoint", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible: the checkpoint is model.state_dict() and holds the weights of the best validation epoch,
# not the last. Every training label is 1, so SGD keeps raising the class-1 logit; 70 % of the
# validation labels are 1, so the validation loss is lowest at a finite logit margin (ln(7/3)) and
# rises once training passes it. (The batches must be moved to `device`, as above.)
class CheckedLinear(nn.Linear):
    """nn.Linear that fails when its input is a batch that was never moved to `device`."""

    def forward(self, h):
        assert_moved(h, what="fit: the input x")
        return super().forward(h)


def checked_ce(logits, targets):
    """F.cross_entropy that fails when the targets were never moved to `device`."""
    assert_moved(targets, what="fit: the targets y")
    return F.cross_entropy(logits, targets)


def u_shaped_problem():
    model = CheckedLinear(1, 2, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    train_loader = DataLoader(TensorDataset(torch.ones(8, 1), torch.ones(8, dtype=torch.long)), batch_size=4)
    val_loader = DataLoader(TensorDataset(torch.ones(10, 1), torch.tensor([1] * 7 + [0] * 3)), batch_size=4)
    return model, train_loader, val_loader


def reference_run(model, train_loader, val_loader, lr, epochs):
    """Hand-written SGD: the weights and the validation loss after each epoch."""
    model, weights, val_losses = copy.deepcopy(model), [], []
    x_val, y_val = (torch.cat(t) for t in zip(*val_loader))
    for _ in range(epochs):
        for xb, yb in train_loader:
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xb), yb), [model.weight])
            with torch.no_grad():
                model.weight -= lr * grad
        weights.append(model.weight.detach().clone())
        with torch.no_grad():
            val_losses.append(F.cross_entropy(model(x_val), y_val).item())
    return weights, val_losses


def fit_and_load(model, train_loader, val_loader, epochs, **kwargs):
    """Runs fit on marked loaders with a checkpoint file; returns (history, the loaded checkpoint)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "best.pt")
        history = fit(model, unmoved_batches(train_loader), unmoved_batches(val_loader),
                      torch.optim.SGD(model.parameters(), lr=0.25), checked_ce, torch.device("cpu"), epochs,
                      checkpoint_path=path, **kwargs)
        assert os.path.exists(path), "fit(..., checkpoint_path=path) must write a checkpoint to path"
        return history, torch.load(path, weights_only=True)


model, train_loader, val_loader = u_shaped_problem()
ref_weights, ref_val = reference_run(model, train_loader, val_loader, lr=0.25, epochs=5)
best = min(range(5), key=lambda e: ref_val[e])
assert 0 < best < 4, "test fixture: the best epoch should be in the middle"
history, saved = fit_and_load(model, train_loader, val_loader, 5)
assert isinstance(saved, dict) and set(saved) == {"weight"}, \
    f"the checkpoint must be model.state_dict() (keys ['weight']), got {type(saved).__name__}"
assert_close(saved["weight"], ref_weights[best], rtol=1e-5, atol=1e-6,
             what=f"checkpointed weights (expected those of epoch {best}, the lowest validation loss, not the last epoch)")
### BEGIN HIDDEN TESTS
assert len(history) == 5, f"without patience every epoch runs: expected 5, got {len(history)}"
assert_close(torch.tensor([h["val_loss"] for h in history]), torch.tensor(ref_val), rtol=1e-5, atol=1e-6,
             what="val_loss per epoch (per-sample mean over the validation batches)")
fresh = nn.Linear(1, 2, bias=False)
fresh.load_state_dict(saved)

# when the validation loss improves every epoch, the best is the last
model, train_loader, _ = u_shaped_problem()
val_all_ones = DataLoader(TensorDataset(torch.ones(6, 1), torch.ones(6, dtype=torch.long)), batch_size=4)
ref_weights, ref_val = reference_run(model, train_loader, val_all_ones, lr=0.25, epochs=3)
assert ref_val[0] > ref_val[1] > ref_val[2], "test fixture: validation loss should fall every epoch"
_, saved = fit_and_load(model, train_loader, val_all_ones, 3)
assert_close(saved["weight"], ref_weights[2], rtol=1e-5, atol=1e-6,
             what="checkpoint when every epoch improves (expected the last epoch's weights)")

# with patience the run stops early, and the file still holds the best epoch
model, train_loader, val_loader = u_shaped_problem()
ref_weights, ref_val = reference_run(model, train_loader, val_loader, lr=0.25, epochs=8)
best = min(range(8), key=lambda e: ref_val[e])
history, saved = fit_and_load(model, train_loader, val_loader, 8, patience=2)
assert len(history) == best + 3, \
    f"with patience=2 fit must stop two epochs after the best one ({best + 3} epochs); it ran {len(history)}"
assert_close(saved["weight"], ref_weights[best], rtol=1e-5, atol=1e-6,
             what="checkpoint after an early stop (expected the best epoch's weights)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_fit_patience", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Visible: early stopping with patience 3, on a validation loss that follows a script.
# The model's only weight is a clock. A training sample (x = 0) has logits (0, 0 + (clock - clock.detach())):
# its loss is ln 2 whatever the clock says, and d loss / d clock = -1/2, so SGD with lr = 2 raises the
# clock by exactly 1 per optimizer step. A validation sample (x = 1) reads the clock, works out how many
# epochs have been trained, and gets logits (0, margin) whose cross-entropy is script[epoch]. So the
# validation loss depends only on how much training has happened, whatever else fit does.
# (The batches must be moved to `device`, as above.)
def checked_ce(logits, targets):
    """F.cross_entropy that fails when the targets were never moved to `device`."""
    assert_moved(targets, what="fit: the targets y")
    return F.cross_entropy(logits, targets)


class ScriptedClock(nn.Module):
    def __init__(self, script, steps_per_epoch):
        super().__init__()
        self.clock = nn.Parameter(torch.zeros(()))
        self.script, self.steps_per_epoch = script, steps_per_epoch

    def forward(self, x):
        assert_moved(x, what="fit: the input x")
        epoch = round(self.clock.item()) // self.steps_per_epoch - 1  # epochs fully trained, minus one
        loss = self.script[min(max(epoch, 0), len(self.script) - 1)]
        margin = -math.log(math.expm1(loss))  # cross-entropy of logits (0, margin) with target 1 is `loss`
        tick = self.clock - self.clock.detach()  # value 0, gradient 1
        z1 = x[:, 0] * margin + tick
        return torch.stack([torch.zeros_like(z1), z1], dim=1)


def scripted_fit(script, epochs, patience):
    model = ScriptedClock(script, steps_per_epoch=2)
    train = DataLoader(TensorDataset(torch.zeros(4, 1), torch.ones(4, dtype=torch.long)), batch_size=2)
    val = DataLoader(TensorDataset(torch.ones(1, 1), torch.ones(1, dtype=torch.long)))
    return fit(model, unmoved_batches(train), unmoved_batches(val), torch.optim.SGD(model.parameters(), lr=2.0),
               checked_ce, torch.device("cpu"), epochs, patience=patience)


script = [1.0, 0.8, 0.85, 0.6, 0.65, 0.62, 0.61, 0.5, 0.55, 0.56, 0.57, 0.58]
# improvements at epochs 0, 1, 3; epochs 4, 5, 6 do not improve on 0.6, so patience 3 stops after epoch 6
history = scripted_fit(script, epochs=12, patience=3)
assert_close(torch.tensor([h["val_loss"] for h in history]), torch.tensor(script[:len(history)]), rtol=1e-5, atol=1e-6,
             what="val_loss per epoch (the scripted validation set gives exactly these losses)")
assert len(history) == 7, \
    f"best val_loss at epoch 3, patience 3: stop after epoch 6, i.e. 7 epochs; fit ran {len(history)}"
### BEGIN HIDDEN TESTS
n = len(scripted_fit(script, epochs=12, patience=None))
assert n == 12, f"patience=None must run every epoch; fit stopped after {n}"
n = len(scripted_fit(script, epochs=12, patience=20))
assert n == 12, f"a patience longer than the run never triggers, so every epoch runs; fit stopped after {n}"
n = len(scripted_fit(script, epochs=12, patience=1))
assert n == 3, "patience=1 must stop right after the first epoch that does not improve on the best"
n = len(scripted_fit(script, epochs=12, patience=4))
assert n == 12, ("the count of epochs without improvement starts again at every improvement: with patience=4 "
                 "this run reaches 4 only at its last epoch, so every epoch runs")
n = len(scripted_fit([0.5, 0.7, 0.6, 0.9, 0.4], epochs=5, patience=2))
assert n == 3, "when the first epoch is never beaten, patience=2 stops after epoch 2 (3 epochs)"
n = len(scripted_fit(script, epochs=5, patience=3))
assert n == 5, "fit must stop after `epochs` epochs even while patience has not run out"
# an equal val_loss is not an improvement (the same input gives bit-identical losses, so these are exact ties)
n = len(scripted_fit([1.0, 0.8, 0.8, 0.8, 0.7, 0.6], epochs=6, patience=2))
assert n == 4, "an epoch whose val_loss only equals the best so far is not an improvement (use a strict <)"
### END HIDDEN TESTS

# %% [markdown]
# ## 8. The whole loop on the digits
#
# First a run with every step-level feature switched on: AdamW, the warm-up + cosine schedule of
# section 5 stepped per batch, and clipping at norm 1. `fit` does not take a scheduler, so this
# cell writes the epoch loop itself with your `train_one_epoch` and `evaluate`: this is what `fit`
# does, plus the per-step options.

# %%
seed_everything(0)
train_loader, val_loader = digits_loaders(batch_size=64, seed=0)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10)).to(device)
epochs = 12
total_steps = epochs * len(train_loader)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps // 10, total_steps))
loss_fn = nn.CrossEntropyLoss()

run_history = []
for epoch in range(epochs):
    train_stats = train_one_epoch(model, train_loader, optimizer, loss_fn, device, max_grad_norm=1.0, scheduler=scheduler)
    val_stats = evaluate(model, val_loader, loss_fn, device)
    run_history.append({"train_loss": train_stats["loss"], "val_loss": val_stats["loss"], "val_accuracy": val_stats["accuracy"]})
print(f"{scheduler.last_epoch} scheduler steps for {total_steps} optimizer steps; "
      f"final val loss {run_history[-1]['val_loss']:.3f}, val accuracy {run_history[-1]['val_accuracy']:.3f}")
plot_curves({"train": [h["train_loss"] for h in run_history], "validation": [h["val_loss"] for h in run_history]},
            xlabel="epoch", ylabel="cross-entropy (nats)", logy=True, title="AdamW, warm-up + cosine per step, clip 1.0")
plt.show()

# %% [markdown]
# The training loss starts *above* the validation loss: it is averaged over an epoch during which
# the model was still improving, and measured with dropout on.
#
# Now early stopping and the best checkpoint with your `fit`. To make overfitting visible, train a
# wide network on only 300 digits, 20 % of them with a wrong label (as in topic 08): the validation
# loss turns back up once the network starts memorising the wrong labels.

# %%
seed_everything(0)
small_train, small_val = digits_loaders(batch_size=50, n_train=300, label_noise=0.2, seed=0)
wide = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
with tempfile.TemporaryDirectory() as tmp:
    best_path = os.path.join(tmp, "best.pt")
    history = fit(wide, small_train, small_val, torch.optim.Adam(wide.parameters(), lr=3e-3), loss_fn, device,
                  epochs=60, checkpoint_path=best_path, patience=5)
    last_val = evaluate(wide, small_val, loss_fn, device)["loss"]
    wide.load_state_dict(torch.load(best_path, weights_only=True))
    best_val = evaluate(wide, small_val, loss_fn, device)["loss"]

best_epoch = min(range(len(history)), key=lambda e: history[e]["val_loss"])
print(f"stopped after {len(history)} of 60 epochs; best epoch {best_epoch} (val loss {history[best_epoch]['val_loss']:.3f})")
print(f"val loss with the last weights {last_val:.3f}; after loading the checkpoint {best_val:.3f}")
assert abs(best_val - history[best_epoch]["val_loss"]) < 1e-5, "the checkpoint must reproduce the best epoch"
ax = plot_curves({"train": [h["train_loss"] for h in history], "validation": [h["val_loss"] for h in history]},
                 xlabel="epoch", ylabel="cross-entropy (nats)", title="300 noisy digits: stop 5 epochs after the best")
ax.axvline(best_epoch, color="0.5", ls="--", lw=1)
plt.show()

# %% [markdown]
# ## Explorer
#
# The explorer retrains a small MLP on the digits for 200 steps with SGD and momentum 0.9 (the
# course's own loop, with a per-step schedule and global-norm clipping like yours), and redraws the
# loss curves. Three knobs: the peak **learning rate**, the **clipping** threshold, and the
# **schedule** (`warmup_cosine` warms up for the first 10 % of the steps). Earlier runs stay on the
# plot, faded.

# %%
from course_utils.explorers import SCHEDULES, Knob, LossCurveExplorer, digits_mlp_task

LossCurveExplorer(
    digits_mlp_task(),
    knobs=[
        Knob.log_slider("lr", 0.01, 3.0, 0.3, description="peak lr"),
        Knob.dropdown("clip", {"off": None, "5.0": 5.0, "1.0": 1.0, "0.25": 0.25}, None, description="clip norm"),
        Knob.dropdown("schedule", list(SCHEDULES), "constant"),
    ],
    fixed={"optimizer": "momentum"},
    prompt="At lr 0.3 with no clipping and a constant schedule, does it train? Which rescues it: clipping or warm-up?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
# - Start at lr 0.3, constant schedule, no clipping, and look at the first 20 steps. Predict what
#   clip 1.0 will change, then try it. Then switch clipping off again and pick `warmup_cosine`.
# - Raise the lr to 1. Before you try: is clipping alone enough now? Warm-up alone? Both together?
# - At lr 0.03, does clipping change anything? Why not? (Think about the size of the gradient once
#   the loss is small.)
# - At a learning rate that trains well, compare `constant` with `cosine`: where do the curves part,
#   and which ends lower?

# %% [markdown]
# ## Drill (graded)
#
# 1. `drill_epoch_loss`: an epoch has three batches of 4, 4 and 2 samples, whose mean losses are
#    0.5, 1.0 and 3.0. What epoch loss should be logged?
# 2. `drill_scheduler_steps`: 1,438 training digits, `batch_size=64` (the last batch is kept), 5 epochs, a
#    scheduler stepped as in `train_one_epoch`. How many times is `scheduler.step()` called?

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_epoch_loss = 1.2
drill_scheduler_steps = 115
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Visible: drill_epoch_loss is a number and drill_scheduler_steps an integer. The values are checked by the hidden tests.
assert isinstance(drill_epoch_loss, (int, float)), "drill_epoch_loss should be a number"
assert isinstance(drill_scheduler_steps, int), "drill_scheduler_steps should be an integer"
### BEGIN HIDDEN TESTS
assert abs(drill_epoch_loss - 1.2) < 1e-6, \
    "drill_epoch_loss is not right: weight each batch's mean loss by the number of samples in it"
assert drill_scheduler_steps == 115, \
    "drill_scheduler_steps is not right: count the batches of one epoch (the last, smaller one included), then the epochs"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** Training runs fine, but GPU memory climbs with every *validation* batch until the job
# dies. The validation loop is `for x, y in val_loader: val_loss += loss_fn(model(x), y)`. What is
# happening, and what are the two fixes?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Two mistakes compound. Without `torch.no_grad()` every validation forward records an autograd
# graph that keeps its activations for a backward pass that never comes. Adding the loss *tensor*
# to `val_loss` chains each batch's graph onto the running total, so none of them can be freed:
# memory grows with every batch. Fix both: run validation under `torch.no_grad()` (or
# `torch.inference_mode()`), which records no graph at all, and accumulate `loss.item() * len(y)`,
# a Python float. Also call `model.eval()`, and weight by the batch size so a ragged last batch is
# not over-counted.

# %% [markdown]
# **Q2.** Your training log says the best epoch reached 97.8 % validation accuracy. The checkpoint
# you ship scores 95.1 % on the same validation set. Which loop bugs could explain the gap, and how
# would you find out which one it is?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Either the file holds the wrong weights, or one of the two numbers is measured wrongly.
# Wrong weights: the checkpoint is saved every epoch (the last, not the best), or the "best" state
# was kept as `model.state_dict()` without a copy and saved at the end (those tensors track the
# live weights). Wrong numbers: one of the evaluations ran in train mode (dropout active, BatchNorm
# using batch statistics and updating its running averages), the logged accuracy was a mean of
# per-batch accuracies that over-weights a small last batch, or the two evaluations used different
# preprocessing. To find out, load the checkpoint into a fresh model and run the *same* `evaluate`
# in the same process: if it reproduces 95.1 %, the file is wrong (compare it tensor by tensor with
# a deep copy taken at the best epoch); if it gives 97.8 %, the deployment evaluation differs.
