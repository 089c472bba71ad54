# %% [markdown]
# # 07 · Optimizers
#
# **Interview question:** *SGD, momentum, RMSProp, Adam and AdamW: how does each one update the weights, and when would you choose each?*
#
# **After this notebook you can**
# - write the update rule of SGD, momentum (PyTorch's form, with dampening and Nesterov), RMSProp, Adam and AdamW, and match `torch.optim` step for step;
# - say why Adam needs bias correction, where its $\varepsilon$ goes, and why AdamW takes weight decay out of the gradient;
# - read a 2-D trajectory on an ill-conditioned quadratic: the zig-zag of SGD, what momentum adds, what per-coordinate scaling buys, and what a rotation takes away from it;
# - build an optimizer as a real `torch.optim.Optimizer` subclass: parameter groups, per-parameter state, parameters without a gradient, closures, `state_dict`;
# - pick a starting optimizer and hyperparameters for an image classifier and for a transformer.
#
# **Runs on a CPU in about 10 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import digits_split, get_device, make_mlp, seed_everything
from course_utils.testing import assert_close, assert_raises, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. Gradient descent, and why the learning rate is touchy
#
# Every optimizer here turns the gradient $g_t = \nabla_\theta L(\theta_{t-1})$ of a mini-batch loss into
# a step. Plain **stochastic gradient descent** takes the simplest one, with a single learning rate $\eta$:
#
# $$
# \theta_t = \theta_{t-1} - \eta\, g_t .
# $$
#
# It keeps no state between steps. On a quadratic bowl $L(\theta) = \tfrac12 \theta^\top H \theta$ the
# gradient is $H\theta$, and along an eigenvector of $H$ with curvature $\lambda$ each step multiplies the
# distance to the minimum by $1 - \eta\lambda$. Two consequences:
#
# - it is stable only if $|1 - \eta\lambda| < 1$ for every direction, i.e. $\eta < 2/\lambda_{\max}$;
# - the flattest direction then shrinks by $1 - \eta\lambda_{\min} > 1 - 2/\kappa$ per step, where
#   $\kappa = \lambda_{\max}/\lambda_{\min}$ is the **condition number**: of the order of $\kappa$ steps are needed.
#
# The steep directions cap the learning rate and the flat ones then crawl. That is why SGD is slow on
# ill-conditioned problems and why its learning rate needs careful tuning.
#
# `weight_decay=λ` in `torch.optim.SGD` adds $\lambda\theta$ to the gradient before the step: exactly the
# gradient of an L2 penalty $\tfrac{\lambda}{2}\lVert\theta\rVert^2$ added to the loss. One step by hand:

# %%
g = torch.Generator().manual_seed(0)
X, y = torch.randn(64, 5, generator=g).to(device), torch.randn(64, generator=g).to(device)
w0 = torch.randn(5, generator=g).to(device)


def mse(w):
    return ((X @ w - y) ** 2).mean()


def one_step(opt_class, loss_fn, **kwargs):
    w = w0.clone().requires_grad_(True)
    opt = opt_class([w], **kwargs)
    loss_fn(w).backward()
    opt.step()
    return w.detach(), opt


w_req = w0.clone().requires_grad_(True)
grad0 = torch.autograd.grad(mse(w_req), w_req)[0]
w_sgd, opt = one_step(torch.optim.SGD, mse, lr=0.1)
print("SGD step by hand vs torch.optim.SGD, max |diff|:", (w_sgd - (w0 - 0.1 * grad0)).abs().max().item())
print("state SGD keeps without momentum:", dict(opt.state))

lam = 0.05
w_wd, _ = one_step(torch.optim.SGD, mse, lr=0.1, weight_decay=lam)
w_l2, _ = one_step(torch.optim.SGD, lambda w: mse(w) + lam / 2 * (w ** 2).sum(), lr=0.1)
print("SGD(weight_decay=0.05) vs SGD on loss + 0.025·||w||², max |diff|:", (w_wd - w_l2).abs().max().item())
torch.testing.assert_close(w_wd, w_l2)

# %% [markdown]
# ## 2. Momentum
#
# Momentum keeps a decaying sum of past gradients, the **velocity** (PyTorch calls it the momentum
# buffer $b$), and steps along it. `torch.optim.SGD(momentum=μ, dampening=τ)` does
#
# $$
# b_1 = g_1, \qquad b_t = \mu\, b_{t-1} + (1-\tau)\, g_t \quad (t > 1), \qquad \theta_t = \theta_{t-1} - \eta\, b_t ,
# $$
#
# with $g_t$ already including the weight decay $\lambda\theta_{t-1}$. Note the first step: the buffer
# *starts at the gradient* (not at zero), so dampening only acts from the second step on. The usual
# setting is $\mu = 0.9$, $\tau = 0$.
#
# - **Consistent directions accelerate.** With a constant gradient, $b_t \to g/(1-\mu)$: the step
#   grows to $\eta g/(1-\mu)$, ten times plain SGD's step for $\mu = 0.9$.
# - **Zig-zags cancel.** A gradient that flips sign every step adds up with alternating signs, so the
#   velocity across a narrow valley stays small while the velocity along it builds up.
# - There is still one global learning rate: every parameter gets the same $\eta$.
#
# **Nesterov momentum** (`nesterov=True`, which needs $\mu > 0$ and $\tau = 0$) steps along
# $g_t + \mu\, b_t$ instead of $b_t$: a look-ahead that uses the buffer *after* this step's update.
#
# Many papers write momentum as $v_t = \mu v_{t-1} + \eta g_t$, $\theta_t = \theta_{t-1} - v_t$
# (Sutskever et al., 2013). With a constant $\eta$ the two are the same trajectory ($v_t = \eta b_t$). When the
# learning rate changes, they differ: PyTorch applies the new $\eta$ to the whole buffer at once, the other
# form only to new gradients. The cell checks all of this against `torch.optim.SGD`.

# %%
def sgd_steps(grads, lrs, **kwargs):
    """Feed a fixed sequence of gradients to torch.optim.SGD; return the position after each step."""
    p = torch.zeros_like(grads[0]).requires_grad_(True)
    opt = torch.optim.SGD([p], lr=lrs[0], **kwargs)
    out = []
    for grad, lr in zip(grads, lrs):
        opt.param_groups[0]["lr"] = lr
        p.grad = grad.clone()
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out)


eta, mu, T = 0.1, 0.9, 50
ones = [torch.ones(1, device=device)] * T
pos = sgd_steps(ones, [eta] * T, momentum=mu)
step = -torch.diff(pos.squeeze(1), prepend=torch.zeros(1, device=device))
for t in (1, 2, 3, 10, 50):
    print(f"constant gradient, step {t:2d}: {step[t - 1].item():.4f}   eta(1-mu^t)/(1-mu) = {eta * (1 - mu**t) / (1 - mu):.4f}")
flip = [torch.full((1,), (-1.0) ** t, device=device) for t in range(T)]
zig = sgd_steps(flip, [eta] * T, momentum=mu).squeeze(1)
print(f"gradient flipping sign every step: |steps| settle at {zig.diff().abs()[-5:].mean().item():.4f} "
      f"(plain SGD: {eta}; eta/(1+mu) = {eta / (1 + mu):.4f})")

# Nesterov and dampening by hand, on random gradients, with the learning rate cut after 5 steps
grads = list(torch.randn(10, 3, generator=g).to(device))
lrs = [0.1] * 5 + [0.02] * 5
for kwargs in ({"momentum": 0.9, "nesterov": True}, {"momentum": 0.9, "dampening": 0.5}):
    theta, b, mine = torch.zeros(3, device=device), None, []
    for t, (grad, lr) in enumerate(zip(grads, lrs)):
        b = grad.clone() if b is None else kwargs["momentum"] * b + (1 - kwargs.get("dampening", 0.0)) * grad
        theta = theta - lr * (grad + kwargs["momentum"] * b if kwargs.get("nesterov") else b)
        mine.append(theta)
    diff = (torch.stack(mine) - sgd_steps(grads, lrs, **kwargs)).abs().max().item()
    print(f"by hand vs torch.optim.SGD({kwargs}): max |diff| = {diff:.1e}")

# the v = mu v + eta g form: identical while eta is constant, not after the cut
theta, v, other = torch.zeros(3, device=device), torch.zeros(3, device=device), []
for grad, lr in zip(grads, lrs):
    v = mu * v + lr * grad
    theta = theta - v
    other.append(theta)
gap = (torch.stack(other) - sgd_steps(grads, lrs, momentum=mu)).abs().amax(dim=1)
print("v = mu v + eta g vs PyTorch's form, gap after each step:", [f"{x:.0e}" for x in gap.tolist()])

# %% [markdown]
# ## 3. The picture: an ill-conditioned valley
#
# Take $L(\theta) = \tfrac12\theta^\top H\theta$ in two dimensions with curvatures 1 and 100
# ($\kappa = 100$), start far out along the flat direction, and run 100 steps of four optimizers, each at a
# learning rate that suits it (SGD just below its limit $2/\lambda_{\max} = 0.02$). The left panel has the
# valley aligned with the axes; the middle panel is the *same* valley rotated by 45°.

# %%
def valley(angle):
    c, s = math.cos(angle), math.sin(angle)
    R = torch.tensor([[c, -s], [s, c]], device=device)
    return R @ torch.diag(torch.tensor([1.0, 100.0], device=device)) @ R.T, R


def descend(make_opt, H, start, steps=100):
    theta = start.clone().requires_grad_(True)
    opt = make_opt([theta])
    path = [start.clone()]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * theta @ H @ theta).backward()
        opt.step()
        path.append(theta.detach().clone())
    path = torch.stack(path)
    return path, 0.5 * ((path @ H) * path).sum(dim=1)


optimizers = {
    "SGD, lr 0.019": lambda p: torch.optim.SGD(p, lr=0.019),
    "momentum 0.9, lr 0.01": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
    "RMSprop, lr 0.1": lambda p: torch.optim.RMSprop(p, lr=0.1),
    "Adam, lr 0.3": lambda p: torch.optim.Adam(p, lr=0.3),
}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
gx, gy = torch.meshgrid(torch.linspace(-4.4, 1.0, 200), torch.linspace(-0.75, 0.75, 200), indexing="xy")
final = {}
for col, (angle, title) in enumerate(((0.0, "valley aligned with the axes"),
                                      (math.pi / 4, "valley rotated 45° (drawn in its own axes)"))):
    H, R = valley(angle)
    start = R @ torch.tensor([-4.0, 0.4], device=device)
    ax = axes[col]
    ax.contour(gx, gy, 0.5 * (gx**2 + 100 * gy**2), levels=[0.1, 0.5, 2, 5, 10], colors="0.75", linewidths=0.8)
    for i, (name, make_opt) in enumerate(optimizers.items()):
        path, losses = descend(make_opt, H, start)
        below = (losses < 1e-2).nonzero()
        final.setdefault(name, []).append(below[0].item() if len(below) else None)
        ax.plot(*(path @ R).cpu().T, marker=".", ms=2.5, lw=0.9, color=f"C{i}", label=name)  # back to valley axes
        axes[2].plot(losses.cpu(), color=f"C{i}", ls="-" if col == 0 else "--", label=name if col == 0 else None)
    ax.plot(0, 0, "k*", ms=9)
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-4.4, 1.0)
    ax.set_ylim(-1.1, 0.75)
    ax.set_xlabel("along the valley (curvature 1)")
    ax.set_ylabel("across (curvature 100)")
axes[2].legend(fontsize=8, frameon=False, loc="lower left")
axes[2].set_yscale("log")
axes[2].set_xlabel("step")
axes[2].set_ylabel("loss (solid: aligned, dashed: rotated)")
axes[2].set_ylim(1e-8, 100)
axes[2].grid(alpha=0.3)
plt.show()
print(f"{'steps to reach loss 0.01':26s}{'aligned':>9s}{'rotated':>9s}")
for name, (aligned, rotated) in final.items():
    print(f"{name:26s}{str(aligned or '> 100'):>9s}{str(rotated or '> 100'):>9s}")
H, _ = valley(0.0)
_, losses = descend(lambda p: torch.optim.SGD(p, lr=0.021), H, torch.tensor([-4.0, 0.4], device=device))
print(f"SGD at lr 0.021, just above 2/lambda_max = 0.02: loss {losses[-1].item():.1e} after 100 steps (it diverges)")

# %% [markdown]
# Read the picture (the middle panel turns each path back into the valley's own axes, so the two are comparable):
#
# - **SGD** bounces across the steep direction (each step multiplies that coordinate by $1 - 0.019 \cdot 100 = -0.9$)
#   while it creeps along the flat one (factor $0.981$ per step): after 100 steps it is still far from the minimum.
# - **Momentum** with a *smaller* learning rate gets much further: the velocity along the valley floor
#   builds up while the flips across it partly cancel. It overshoots the minimum and swings back, the typical
#   momentum signature.
# - **RMSprop and Adam** divide each coordinate by its own gradient size, so both coordinates move at a
#   similar speed. On the aligned valley RMSprop reaches a loss of 0.01 in 18 steps and Adam in 39, against 56
#   for momentum. (RMSprop's first step is $\eta/\sqrt{1-\alpha} = 10\eta = 1$ in each coordinate, see section 4:
#   the big first jump.)
# - **Rotate the valley** and SGD and momentum do exactly the same thing: their updates do not depend on
#   the axes, and their paths and losses are the same in both panels, up to rounding. The per-coordinate methods lose their
#   edge (RMSprop does not reach 0.01 within 100 steps, Adam needs 68): their scaling is per coordinate, and the
#   valley's directions are no longer the coordinate axes. Real loss surfaces are neither perfectly aligned nor
#   perfectly rotated; per-coordinate scaling pays off where gradient scales differ *between parameters*
#   (embeddings, biases, layers of different size), which is common in deep networks.

# ## 4. RMSProp: a step size per parameter
#
# RMSProp (Hinton's 2012 lecture notes) keeps a running average of the *squared* gradient for every
# parameter and divides by its root:
#
# $$
# s_t = \alpha\, s_{t-1} + (1-\alpha)\, g_t^2, \qquad
# \theta_t = \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{s_t} + \varepsilon} ,
# $$
#
# elementwise, with $s_0 = 0$. PyTorch's defaults are `lr=1e-2`, `alpha=0.99`, `eps=1e-8`, and $\varepsilon$ is
# added *outside* the square root. Each parameter's step is now about $\eta \cdot g/\mathrm{RMS}(g)$: a
# parameter with tiny gradients gets the same step size as one with huge gradients, so one learning
# rate suits layers whose gradients differ by orders of magnitude. It was popular for recurrent
# networks (and DeepMind's DQN used it in reinforcement learning) before Adam. The classic form has no momentum;
# `torch.optim.RMSprop(momentum=μ)` adds a buffer on the normalised step, $b_t = \mu b_{t-1} + g_t/(\sqrt{s_t}+\varepsilon)$,
# $\theta_t = \theta_{t-1} - \eta b_t$, and `centered=True` divides by an estimate of the gradient's standard deviation instead.
#
# There is no bias correction, so the first step is large: $s_1 = (1-\alpha)g_1^2$ gives a step of
# $\eta/\sqrt{1-\alpha} = 10\eta$ per coordinate, whatever the size of $g_1$ (as long as $|g_1| \gg \varepsilon$).

# %%
p = torch.zeros(3, device=device, requires_grad=True)
opt = torch.optim.RMSprop([p], lr=0.01)
p.grad = torch.tensor([1e-3, 1.0, 1e3], device=device)
opt.step()
print("gradient              :", p.grad.tolist())
print("first RMSprop step    :", (-p.detach()).tolist(), " (lr / sqrt(1 - alpha) = 0.1)")
print("SGD would have stepped:", (0.01 * p.grad).tolist())

# five steps by hand vs torch.optim.RMSprop
grads = list(torch.randn(5, 4, generator=g).to(device) * torch.tensor([1e-2, 1.0, 1e2, 1.0], device=device))
theta, s, lr, alpha, eps = torch.zeros(4, device=device), torch.zeros(4, device=device), 0.01, 0.99, 1e-8
p = torch.zeros(4, device=device, requires_grad=True)
opt = torch.optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps)
for grad in grads:
    s = alpha * s + (1 - alpha) * grad**2
    theta = theta - lr * grad / (s.sqrt() + eps)
    p.grad = grad.clone()
    opt.step()
print("5 RMSprop steps by hand vs torch.optim.RMSprop, max |diff|:", (theta - p.detach()).abs().max().item())

# %% [markdown]
# ## 5. Adam: momentum + RMSProp + bias correction
#
# Adam (Kingma & Ba, 2015) keeps both running averages, the first moment $m$ (momentum) and the
# second moment $v$ (RMSProp), and corrects both for starting at zero:
#
# $$
# m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
# v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
# \hat m_t = \frac{m_t}{1-\beta_1^t}, \qquad
# \hat v_t = \frac{v_t}{1-\beta_2^t}, \qquad
# \theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon} .
# $$
#
# PyTorch's defaults: `lr=1e-3`, `betas=(0.9, 0.999)`, `eps=1e-8`, with $\varepsilon$ outside the square root
# of $\hat v_t$. Here $t$ counts the steps *this parameter* has taken. (Some libraries, Keras for one, use the
# paper's rearranged form, which adds $\varepsilon$ to the uncorrected $\sqrt{v_t}$; it differs from PyTorch only through $\varepsilon$.)
#
# **Why the correction.** With $m_0 = v_0 = 0$ and a constant gradient $g$, $m_t = (1-\beta_1^t)g$ and
# $v_t = (1-\beta_2^t)g^2$: both start far too small. Dividing by $1-\beta^t$ gives back exactly $g$ and
# $g^2$, so every step is $\eta\,g/(|g|+\varepsilon) \approx \eta$ in size. Without it the step is
# $\eta(1-\beta_1^t)/\sqrt{1-\beta_2^t}$: $3.2\eta$ at the first step, up to $6.6\eta$ around step 12, and because
# $\beta_2 = 0.999$ remembers about 1,000 steps, still $1.26\eta$ after 1,000 steps. The uncorrected $v$ is too small for
# a long time, and too-large early steps are exactly where training is most fragile.
#
# **Costs.** Two extra tensors the size of the model (`exp_avg`, `exp_avg_sq`), plus one step counter per
# parameter tensor: in fp32 that is 8 extra bytes per weight. Adam is the robust default (a learning rate near
# $10^{-3}$ works across many architectures); on image classification, well-tuned SGD with momentum often reaches
# a slightly better test accuracy (Wilson et al., 2017).

# %%
b1, b2 = 0.9, 0.999
print(" step t   uncorrected step / corrected step (constant gradient)")
for t in (1, 12, 100, 1000, 10000):
    print(f"{t:7d}   {(1 - b1**t) / math.sqrt(1 - b2**t):.3f}")

# five steps by hand vs torch.optim.Adam
grads = list(torch.randn(5, 4, generator=g).to(device) * torch.tensor([1e-3, 1.0, 1e2, 1.0], device=device))
lr, eps = 1e-3, 1e-8
theta, m, v = torch.zeros(4, device=device), torch.zeros(4, device=device), torch.zeros(4, device=device)
p = torch.zeros(4, device=device, requires_grad=True)
opt = torch.optim.Adam([p], lr=lr)
for t, grad in enumerate(grads, start=1):
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
    theta = theta - lr * m_hat / (v_hat.sqrt() + eps)
    p.grad = grad.clone()
    opt.step()
    if t == 1:
        print("gradient:", [f"{x:.2g}" for x in grad.tolist()])
        print("first Adam step:", [f"{x:.6f}" for x in (-theta).tolist()], " = lr · sign(g) for any |g| >> eps")
print("5 Adam steps by hand vs torch.optim.Adam, max |diff|:", (theta - p.detach()).abs().max().item())

model = make_mlp(64, 10, width=128, depth=2).to(device)
opt = torch.optim.Adam(model.parameters())
F.cross_entropy(model(torch.randn(8, 64, device=device)), torch.zeros(8, dtype=torch.long, device=device)).backward()
opt.step()
n_params = sum(p.numel() for p in model.parameters())
state_bytes = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))
print(f"state keys of one parameter: {sorted(opt.state[model[0].weight].keys())}")
print(f"{n_params:,} parameters ({4 * n_params:,} bytes); Adam state {state_bytes:,} bytes "
      f"= {state_bytes / (4 * n_params):.3f} × the weights")

# %% [markdown]
# ## 6. AdamW: decay the weights, not the gradient
#
# `torch.optim.Adam(weight_decay=λ)` does what SGD does: it adds $\lambda\theta$ to the gradient. In Adam
# that term then goes through $m$ and $v$ and gets divided by $\sqrt{\hat v}$. A weight whose gradients
# are large gets a proportionally weaker decay; a weight with tiny gradients is pulled to zero at close to the
# full step size $\eta$ per step. The decay a weight receives depends on its gradient history, which is not what
# an L2 penalty is meant to do.
#
# **AdamW** (Loshchilov & Hutter, 2019) *decouples* the decay: it shrinks the weights directly and runs
# Adam on the raw gradient,
#
# $$
# \theta_t = \theta_{t-1} - \eta\lambda\,\theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon},
# $$
#
# so every weight shrinks by the same factor $1 - \eta\lambda$ per step, and the $1/\sqrt{\hat v}$ rescaling
# cannot weaken it. PyTorch does this as `param.mul_(1 - lr * weight_decay)` before the Adam update;
# `torch.optim.AdamW` is `torch.optim.Adam(decoupled_weight_decay=True)`, with a default
# `weight_decay=1e-2` (Adam's default is 0). Because PyTorch multiplies by the current `lr`, a learning-rate
# schedule scales the decay too. AdamW is the standard for transformers and LLMs, pre-training and
# fine-tuning (`weight_decay` 0.01 to 0.1).
#
# The cell gives four groups of 10,000 weights, all starting at 1, whose gradients are pure noise (mean 0) of
# four different sizes, and the same $\lambda = 0.1$. The noise only makes each weight wander, so the *mean* weight
# shows the decay alone. After 500 steps of $\eta = 0.01$, decoupled decay leaves every group's mean at
# $(1-\eta\lambda)^{500} \approx 0.61$; Adam's L2 version decays each group differently.

# %%
sizes = torch.tensor([[0.01], [0.1], [1.0], [10.0]], device=device)   # one row of 10,000 weights per size
noise = torch.randn(500, 4, 10_000, generator=g).to(device) * sizes


def decay_run(opt_class, **kwargs):
    p = torch.ones(4, 10_000, device=device, requires_grad=True)
    opt = opt_class([p], lr=0.01, weight_decay=0.1, **kwargs)
    for grad in noise:
        p.grad = grad.clone()
        opt.step()
    return p.detach()


print(f"gradient noise size           {[f'{x:6.2f}' for x in sizes.flatten().tolist()]}")
print(f"mean weight, Adam(wd=0.1)     {[f'{x:6.3f}' for x in decay_run(torch.optim.Adam).mean(1).tolist()]}")
print(f"mean weight, AdamW(wd=0.1)    {[f'{x:6.3f}' for x in decay_run(torch.optim.AdamW).mean(1).tolist()]}"
      f"   (1 - lr·wd)^500 = {(1 - 0.01 * 0.1) ** 500:.3f}")
torch.testing.assert_close(decay_run(torch.optim.Adam, decoupled_weight_decay=True), decay_run(torch.optim.AdamW))
print("Adam(decoupled_weight_decay=True) gives the same weights as AdamW")

# %% [markdown]
# With L2 in Adam the weights with small gradients collapse to zero (their gradient is mostly $\lambda\theta$, which
# Adam normalises to a full step of about $\eta$), the group whose gradients have size 1 happens to match AdamW, and
# the noisiest group is barely decayed ($\lambda\theta$ is divided by $\sqrt{\hat v} \approx 10$). AdamW decays all four
# groups alike, at the rate it promises.

# %% [markdown]
# ## 7. Writing an optimizer: the `torch.optim.Optimizer` contract
#
# Every PyTorch optimizer subclasses `torch.optim.Optimizer`, and so will yours. What the base class
# gives you:
#
# - `super().__init__(params, defaults)` accepts an iterable of tensors *or* of dicts (**parameter
#   groups**), and builds `self.param_groups`: a list of dicts, each with its `"params"` and its own
#   hyperparameters; `defaults` fills in whatever a group does not set.
# - `self.state`: a dict from each parameter to a dict of its buffers. Whatever you keep there is saved by
#   `optimizer.state_dict()` and restored by `load_state_dict()` (checkpoints), and only there.
# - `zero_grad()` (it sets every `.grad` to `None`), hooks, and `add_param_group`.
#
# What `step(closure=None)` must do:
#
# - read the hyperparameters from each group, **at every step** (a learning-rate scheduler changes
#   `group["lr"]` between steps);
# - **skip every parameter whose `.grad` is `None`**, entirely: no update, no weight decay, no state. A
#   frozen or unused parameter keeps its value, and its step count (Adam) starts when it first gets a gradient;
# - change the parameters in place without recording a graph: decorate `step` with `@torch.no_grad()`;
# - if a `closure` is given (a function that recomputes the loss and calls `backward()`, used by L-BFGS),
#   call it with gradients switched back on (`with torch.enable_grad():`) before updating, and return its loss.
#
# Here is plain SGD written that way, checked against `torch.optim.SGD` on a model with two parameter groups:

# %%
class PlainSGD(torch.optim.Optimizer):
    """θ ← θ − lr·g, nothing else."""

    def __init__(self, params, lr: float = 1e-3):
        if lr < 0:
            raise ValueError(f"invalid learning rate {lr}")
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
        return loss


def fit_tiny(opt_factory, steps=20):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).to(device)
    groups = [{"params": [net[0].weight, net[2].weight]}, {"params": [net[0].bias, net[2].bias], "lr": 0.01}]
    opt = opt_factory(groups)
    x, t = torch.randn(32, 4, device=device), torch.randn(32, 1, device=device)
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(net(x), t).backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


diff = (fit_tiny(lambda gr: PlainSGD(gr, lr=0.1)) - fit_tiny(lambda gr: torch.optim.SGD(gr, lr=0.1))).abs().max()
print("PlainSGD vs torch.optim.SGD, two groups, 20 steps: max |diff| =", diff.item())

# %% [markdown]
# ## Exercise 1 · `SGDMomentum` (graded)
#
# Write `SGDMomentum(params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)`, a
# `torch.optim.Optimizer` subclass that follows `torch.optim.SGD` exactly (section 2). For each
# parameter with a gradient, in each group, with that group's hyperparameters:
#
# 1. $g \leftarrow$ `p.grad` $+\ \lambda\,$`p` (weight decay, when $\lambda \ne 0$);
# 2. when $\mu \ne 0$: the momentum buffer is a *copy* of $g$ on the parameter's first step, and
#    $b \leftarrow \mu b + (1-\tau) g$ afterwards; then $g \leftarrow g + \mu b$ with Nesterov, $g \leftarrow b$ without;
# 3. `p` $\leftarrow$ `p` $- \eta\, g$.
#
# And the contract of section 7: hyperparameters read from the group at every step; parameters whose
# `.grad` is `None` skipped entirely; buffers kept in `self.state[p]`; `step(closure)` calls the closure
# with gradients enabled and returns its loss (`None` without a closure). In `__init__`, raise
# `ValueError` for a negative `lr`, `momentum` or `weight_decay`, and for `nesterov=True` unless
# `momentum > 0` and `dampening == 0` (as PyTorch does).
#
# Loops, `torch._foreach_*` calls, any names for your state keys: all fine. Do not use `torch.optim.SGD`
# or its update functions (`torch.optim._functional.sgd`): the tests make them fail while your optimizer runs.

# %% nbgrader={"grade": false, "grade_id": "sgd_momentum", "locked": false, "schema_version": 3, "solution": true, "task": false}
class SGDMomentum(torch.optim.Optimizer):
    """SGD with optional momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        ### BEGIN SOLUTION
        if lr < 0.0:
            raise ValueError(f"invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"invalid momentum: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay: {weight_decay}")
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(params, defaults)
        ### END SOLUTION

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns the closure's loss, or None."""
        ### BEGIN SOLUTION
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                if mu != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = grad.clone()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(mu).add_(grad, alpha=1 - tau)
                    grad = grad.add(buf, alpha=mu) if nesterov else buf
                p.add_(grad, alpha=-lr)
        return loss
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sgd_momentum_trajectory", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# SGDMomentum is a torch.optim.Optimizer and follows torch.optim.SGD for 10 steps on a small float64
# model (one parameter group): with momentum=0.9, then with Nesterov. torch.optim's own SGD code is blocked.
import contextlib

import torch.optim.sgd as _torch_sgd

BLOCKED = (_torch_sgd._single_tensor_sgd, _torch_sgd._multi_tensor_sgd, _torch_sgd._fused_sgd, torch._fused_sgd_)


def trajectory(make_opt, groups=None, steps=10, late_from=None, halve_lr_at=None, scale=1.0, block=False):
    """Parameters after every step, (steps, n): a float64 two-layer net fitted to fixed random targets.
    groups: None (one group), or the hyperparameters of three groups: the weights, the biases, and a matrix E
    that joins the loss only from step `late_from` on (its .grad is None before)."""
    g = torch.Generator().manual_seed(0)
    X, Y, Z = (torch.randn(32, n, generator=g, dtype=torch.float64) for n in (5, 3, 4))
    A, b, C, d, E = ps = [(0.5 * torch.randn(s, generator=g, dtype=torch.float64)).requires_grad_()
                          for s in ((5, 8), (8,), (8, 3), (3,), (4, 3))]
    opt = make_opt(ps if groups is None else [dict(params=[A, C], **groups[0]), dict(params=[b, d], **groups[1]),
                                              dict(params=[E], **groups[2])])
    out = []
    with forbidden(*BLOCKED, what="SGDMomentum") if block else contextlib.nullcontext():
        for t in range(steps):
            if t == halve_lr_at:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
            opt.zero_grad()
            pred = torch.tanh(X @ A + b) @ C + d
            if late_from is None or t >= late_from:
                pred = pred + Z @ E
            (scale * ((pred - Y) ** 2).mean()).backward()
            opt.step()
            out.append(torch.cat([p.detach().flatten() for p in ps]))
    return torch.stack(out)


def same_path(mine, ref, what):
    # Float64 throughout: two correct implementations differ by rounding (about 1e-16 per operation),
    # which 25 small steps cannot grow anywhere near 1e-5; every wrong rule is off by far more.
    for t in range(len(ref)):
        if not torch.allclose(mine[t], ref[t], rtol=1e-5, atol=1e-5):
            raise AssertionError(f"{what}: the parameters first differ from torch.optim's after step {t + 1} "
                                 f"(largest difference {(mine[t] - ref[t]).abs().max().item():.3g})")


opt = SGDMomentum([torch.zeros(2, requires_grad=True)], lr=0.1)
assert isinstance(opt, torch.optim.Optimizer), "SGDMomentum must subclass torch.optim.Optimizer"
for kw in ({"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}):
    same_path(trajectory(lambda ps: SGDMomentum(ps, lr=0.05, **kw), block=True),
              trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, **kw)), f"SGDMomentum(lr=0.05, {kw})")
### BEGIN HIDDEN TESTS
# three groups with their own lr, momentum, dampening and weight decay; E gets no gradient for 10 steps;
# the learning rates are halved after 12 of the 25 steps, as a scheduler would
cases = [
    ({"momentum": 0.9}, [{"lr": 0.1, "weight_decay": 0.01}, {"lr": 0.02, "momentum": 0.5}, {"weight_decay": 0.05}],
     "momentum, three groups with their own lr, momentum and weight decay"),
    ({"momentum": 0.8, "dampening": 0.3}, [{"lr": 0.1}, {"dampening": 0.0}, {"lr": 0.2, "weight_decay": 0.05}],
     "momentum with dampening (the first step's buffer is the undampened gradient)"),
    ({"momentum": 0.9, "nesterov": True}, [{"lr": 0.08, "weight_decay": 0.02}, {"momentum": 0.6}, {"weight_decay": 0.05}],
     "Nesterov, three groups"),
    ({}, [{"lr": 0.1, "weight_decay": 0.01}, {"lr": 0.3}, {"weight_decay": 0.05}], "no momentum (plain SGD), three groups"),
]
for kw, groups, what in cases:
    same_path(trajectory(lambda ps: SGDMomentum(ps, lr=0.05, **kw), groups, 25, late_from=10, halve_lr_at=12, block=True),
              trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, **kw), groups, 25, late_from=10, halve_lr_at=12),
              f"{what}, learning rates halved after step 12")
# defaults: only lr given
same_path(trajectory(lambda ps: SGDMomentum(ps, lr=0.1), steps=5), trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1), steps=5),
          "SGDMomentum with only lr given (every other argument at its default)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_sgd_momentum_contract", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The Optimizer contract: a parameter whose .grad is None keeps its value (even with weight decay), and
# step(closure) returns the closure's loss and updates as torch.optim.SGD does. ValueError for nesterov=True
# without momentum. torch.optim's own SGD code is blocked.
import contextlib

import torch.optim.sgd as _torch_sgd

BLOCKED = (_torch_sgd._single_tensor_sgd, _torch_sgd._multi_tensor_sgd, _torch_sgd._fused_sgd, torch._fused_sgd_)
g = torch.Generator().manual_seed(1)
w = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
unused = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
unused_before = unused.detach().clone()
opt = SGDMomentum([w, unused], lr=0.1, momentum=0.9, weight_decay=0.1)
with forbidden(*BLOCKED, what="SGDMomentum"):
    for _ in range(3):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
assert torch.equal(unused.detach(), unused_before), "a parameter whose .grad is None must not change (skip it entirely)"
x0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
for cls in (SGDMomentum, torch.optim.SGD):
    p = x0.clone().requires_grad_(True)
    opt = cls([p], lr=0.1, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    with forbidden(*BLOCKED, what="SGDMomentum") if cls is SGDMomentum else contextlib.nullcontext():
        returned = opt.step(closure)
    if cls is SGDMomentum:
        mine = p.detach().clone()
        value = returned.detach().item() if torch.is_tensor(returned) else returned
        assert value == 5.0, f"step(closure) must return the closure's loss (5.0 here), got {value!r}"
    else:
        # one float64 step: a correct answer matches torch's to rounding (even float32 state stays within 1e-7)
        assert_close(mine, p.detach(), rtol=0, atol=1e-6, what="the parameters after step(closure)")
assert_raises(ValueError, SGDMomentum, [torch.zeros(1, requires_grad=True)], lr=0.1, nesterov=True,
              what="SGDMomentum(nesterov=True) with momentum=0")
### BEGIN HIDDEN TESTS
def trajectory(make_opt, groups=None, steps=10, late_from=None, start=0, state=None, block=True):
    """(parameters after each step, optimizer); a float64 net; E joins the loss from step late_from on."""
    g = torch.Generator().manual_seed(0)
    X, Y, Z = (torch.randn(32, n, generator=g, dtype=torch.float64) for n in (5, 3, 4))
    ps = [(0.5 * torch.randn(s, generator=g, dtype=torch.float64)) for s in ((5, 8), (8,), (8, 3), (3,), (4, 3))]
    if state is not None:                                   # resume from saved parameters
        ps = [t.clone() for t in state[0]]
    A, b, C, d, E = ps = [t.requires_grad_() for t in ps]
    opt = make_opt([dict(params=[A, C], **groups[0]), dict(params=[b, d], **groups[1]), dict(params=[E], **groups[2])])
    if state is not None:
        opt.load_state_dict(state[1])
    out = []
    with forbidden(*BLOCKED, what="SGDMomentum") if block else contextlib.nullcontext():
        for t in range(start, start + steps):
            opt.zero_grad()
            pred = torch.tanh(X @ A + b) @ C + d
            if late_from is None or t >= late_from:
                pred = pred + Z @ E
            ((pred - Y) ** 2).mean().backward()
            opt.step()
            out.append(torch.cat([p.detach().flatten() for p in ps]))
    return torch.stack(out), opt, ps


groups = [{"lr": 0.1, "weight_decay": 0.01}, {"momentum": 0.5}, {"weight_decay": 0.05, "dampening": 0.2}]
# a parameter that gets its first gradient at step 6: its buffer starts at that gradient, as in torch
mine, _, _ = trajectory(lambda ps: SGDMomentum(ps, lr=0.05, momentum=0.9), groups, 12, late_from=6)
ref, _, _ = trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), groups, 12, late_from=6, block=False)
assert torch.allclose(mine, ref, rtol=1e-5, atol=1e-5), \
    ("a parameter that has no gradient for its first steps must be left alone (no decay, no buffer) until its "
     "first gradient arrives; its trajectory then differs from torch.optim.SGD's")
# the state lives in self.state: a checkpoint taken after 6 steps resumes exactly
full, _, _ = trajectory(lambda ps: SGDMomentum(ps, lr=0.05, momentum=0.9), groups, 12)
_, opt, ps = trajectory(lambda ps: SGDMomentum(ps, lr=0.05, momentum=0.9), groups, 6)
saved = ([p.detach().clone() for p in ps], opt.state_dict())
resumed, _, _ = trajectory(lambda ps: SGDMomentum(ps, lr=0.05, momentum=0.9), groups, 6, start=6, state=saved)
assert torch.allclose(resumed, full[6:], rtol=1e-5, atol=1e-5), \
    ("after load_state_dict, training must continue as it would have without the interruption: keep the momentum "
     "buffers in self.state[p]")
# closure: the returned loss, and no closure returns None
p = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
opt = SGDMomentum([p], lr=0.1)
(p ** 2).sum().backward()
assert opt.step() is None, "step() without a closure should return None"
# ValueErrors, as torch.optim.SGD
params = [torch.zeros(1, requires_grad=True)]
assert_raises(ValueError, SGDMomentum, params, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True,
              what="SGDMomentum(nesterov=True) with dampening=0.1")
assert_raises(ValueError, SGDMomentum, params, lr=-0.1, what="SGDMomentum with a negative lr")
assert_raises(ValueError, SGDMomentum, params, lr=0.1, momentum=-0.5, what="SGDMomentum with a negative momentum")
assert_raises(ValueError, SGDMomentum, params, lr=0.1, weight_decay=-1e-4, what="SGDMomentum with a negative weight_decay")
SGDMomentum(params, lr=0.1, momentum=0.9, nesterov=True)  # valid: must not raise
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 · `RMSProp` (graded)
#
# Write `RMSProp(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0)` that follows
# `torch.optim.RMSprop` (its `centered=False` form; section 4). For each parameter with a gradient:
#
# 1. $g \leftarrow$ `p.grad` $+\ \lambda\,$`p` (weight decay, when $\lambda \ne 0$);
# 2. $s \leftarrow \alpha s + (1-\alpha) g^2$, with $s$ starting at zeros (no bias correction);
# 3. $d = \sqrt{s} + \varepsilon$ ($\varepsilon$ *outside* the root);
# 4. without momentum: `p` $\leftarrow$ `p` $- \eta\, g/d$. With $\mu > 0$: $b \leftarrow \mu b + g/d$ (starting at zeros),
#    `p` $\leftarrow$ `p` $- \eta\, b$.
#
# The same contract as Exercise 1 (hyperparameters from the group at every step, `.grad is None` skipped,
# state in `self.state[p]`, the closure). Raise `ValueError` for a negative `lr`, `alpha`, `eps`,
# `weight_decay` or `momentum`. Do not use `torch.optim.RMSprop` or its update functions.

# %% nbgrader={"grade": false, "grade_id": "rmsprop", "locked": false, "schema_version": 3, "solution": true, "task": false}
class RMSProp(torch.optim.Optimizer):
    """RMSProp with optional momentum and L2 weight decay, as torch.optim.RMSprop(centered=False)."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0):
        ### BEGIN SOLUTION
        for name, value in (("lr", lr), ("alpha", alpha), ("eps", eps), ("weight_decay", weight_decay),
                            ("momentum", momentum)):
            if value < 0.0:
                raise ValueError(f"invalid {name}: {value}")
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum}
        super().__init__(params, defaults)
        ### END SOLUTION

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns the closure's loss, or None."""
        ### BEGIN SOLUTION
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            wd, mu = group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                state = self.state[p]
                if "square_avg" not in state:
                    state["square_avg"] = torch.zeros_like(p)
                square_avg = state["square_avg"]
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                denom = square_avg.sqrt().add_(eps)
                if mu > 0:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    buf = state["momentum_buffer"]
                    buf.mul_(mu).addcdiv_(grad, denom)
                    p.add_(buf, alpha=-lr)
                else:
                    p.addcdiv_(grad, denom, value=-lr)
        return loss
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_rmsprop_trajectory", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# RMSProp is a torch.optim.Optimizer and follows torch.optim.RMSprop for 10 steps on a small float64
# model (one parameter group): with the defaults, then with momentum=0.9. torch.optim's RMSprop code is blocked.
import contextlib

import torch.optim.rmsprop as _torch_rmsprop

BLOCKED = (_torch_rmsprop._single_tensor_rmsprop, _torch_rmsprop._multi_tensor_rmsprop)


def trajectory(make_opt, groups=None, steps=10, late_from=None, halve_lr_at=None, scale=1.0, block=False):
    """Parameters after every step, (steps, n): a float64 two-layer net fitted to fixed random targets.
    groups: None (one group), or the hyperparameters of three groups: the weights, the biases, and a matrix E
    that joins the loss only from step `late_from` on (its .grad is None before)."""
    g = torch.Generator().manual_seed(0)
    X, Y, Z = (torch.randn(32, n, generator=g, dtype=torch.float64) for n in (5, 3, 4))
    A, b, C, d, E = ps = [(0.5 * torch.randn(s, generator=g, dtype=torch.float64)).requires_grad_()
                          for s in ((5, 8), (8,), (8, 3), (3,), (4, 3))]
    opt = make_opt(ps if groups is None else [dict(params=[A, C], **groups[0]), dict(params=[b, d], **groups[1]),
                                              dict(params=[E], **groups[2])])
    out = []
    with forbidden(*BLOCKED, what="RMSProp") if block else contextlib.nullcontext():
        for t in range(steps):
            if t == halve_lr_at:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
            opt.zero_grad()
            pred = torch.tanh(X @ A + b) @ C + d
            if late_from is None or t >= late_from:
                pred = pred + Z @ E
            (scale * ((pred - Y) ** 2).mean()).backward()
            opt.step()
            out.append(torch.cat([p.detach().flatten() for p in ps]))
    return torch.stack(out)


def same_path(mine, ref, what):
    # Float64 throughout: two correct implementations differ by rounding (about 1e-16 per operation),
    # which 25 small steps cannot grow anywhere near 1e-5; every wrong rule is off by far more.
    for t in range(len(ref)):
        if not torch.allclose(mine[t], ref[t], rtol=1e-5, atol=1e-5):
            raise AssertionError(f"{what}: the parameters first differ from torch.optim's after step {t + 1} "
                                 f"(largest difference {(mine[t] - ref[t]).abs().max().item():.3g})")


opt = RMSProp([torch.zeros(2, requires_grad=True)])
assert isinstance(opt, torch.optim.Optimizer), "RMSProp must subclass torch.optim.Optimizer"
for kw in ({}, {"momentum": 0.9}):
    same_path(trajectory(lambda ps: RMSProp(ps, lr=0.01, **kw), block=True),
              trajectory(lambda ps: torch.optim.RMSprop(ps, lr=0.01, **kw)), f"RMSProp(lr=0.01, {kw})")
### BEGIN HIDDEN TESTS
cases = [
    ({}, [{"lr": 0.02, "weight_decay": 0.01}, {"alpha": 0.9}, {"lr": 0.005, "weight_decay": 0.05}],
     "three groups with their own lr, alpha and weight decay"),
    ({"momentum": 0.8}, [{"lr": 0.005}, {"momentum": 0.0, "alpha": 0.95}, {"weight_decay": 0.05}],
     "momentum, three groups with their own momentum and alpha"),
    ({"eps": 1e-3}, [{"lr": 0.02}, {"eps": 1e-2}, {"weight_decay": 0.05}], "a large eps (it must sit outside the square root)"),
]
for kw, groups, what in cases:
    same_path(trajectory(lambda ps: RMSProp(ps, lr=0.01, **kw), groups, 25, late_from=10, halve_lr_at=12, block=True),
              trajectory(lambda ps: torch.optim.RMSprop(ps, lr=0.01, **kw), groups, 25, late_from=10, halve_lr_at=12),
              f"{what}, learning rates halved after step 12")
# tiny gradients (the loss scaled by 1e-6): the default eps is now comparable to sqrt(s)
same_path(trajectory(lambda ps: RMSProp(ps, lr=0.01), steps=15, scale=1e-6, block=True),
          trajectory(lambda ps: torch.optim.RMSprop(ps, lr=0.01), steps=15, scale=1e-6),
          "tiny gradients, where eps matters (eps goes outside the square root)")
# defaults
same_path(trajectory(lambda ps: RMSProp(ps), steps=5), trajectory(lambda ps: torch.optim.RMSprop(ps), steps=5),
          "RMSProp(params) with every argument left at its default")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_rmsprop_contract", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The Optimizer contract: a parameter whose .grad is None keeps its value (even with weight decay), and
# step(closure) returns the closure's loss and updates as torch.optim.RMSprop does. ValueError for a negative lr.
# torch.optim's own RMSprop code is blocked.
import contextlib

import torch.optim.rmsprop as _torch_rmsprop

BLOCKED = (_torch_rmsprop._single_tensor_rmsprop, _torch_rmsprop._multi_tensor_rmsprop)
g = torch.Generator().manual_seed(1)
w = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
unused = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
unused_before = unused.detach().clone()
opt = RMSProp([w, unused], lr=0.01, weight_decay=0.1)
with forbidden(*BLOCKED, what="RMSProp"):
    for _ in range(3):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
assert torch.equal(unused.detach(), unused_before), "a parameter whose .grad is None must not change (skip it entirely)"
x0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
for cls in (RMSProp, torch.optim.RMSprop):
    p = x0.clone().requires_grad_(True)
    opt = cls([p], lr=0.01)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    with forbidden(*BLOCKED, what="RMSProp") if cls is RMSProp else contextlib.nullcontext():
        returned = opt.step(closure)
    if cls is RMSProp:
        mine = p.detach().clone()
        value = returned.detach().item() if torch.is_tensor(returned) else returned
        assert value == 5.0, f"step(closure) must return the closure's loss (5.0 here), got {value!r}"
    else:
        # one float64 step: a correct answer matches torch's to rounding (even float32 state stays within 1e-7)
        assert_close(mine, p.detach(), rtol=0, atol=1e-6, what="the parameters after step(closure)")
assert_raises(ValueError, RMSProp, [torch.zeros(1, requires_grad=True)], lr=-0.01, what="RMSProp with lr=-0.01")
### BEGIN HIDDEN TESTS
def trajectory(make_opt, groups=None, steps=10, late_from=None, start=0, state=None, block=True):
    """(parameters after each step, optimizer); a float64 net; E joins the loss from step late_from on."""
    g = torch.Generator().manual_seed(0)
    X, Y, Z = (torch.randn(32, n, generator=g, dtype=torch.float64) for n in (5, 3, 4))
    ps = [(0.5 * torch.randn(s, generator=g, dtype=torch.float64)) for s in ((5, 8), (8,), (8, 3), (3,), (4, 3))]
    if state is not None:                                   # resume from saved parameters
        ps = [t.clone() for t in state[0]]
    A, b, C, d, E = ps = [t.requires_grad_() for t in ps]
    opt = make_opt([dict(params=[A, C], **groups[0]), dict(params=[b, d], **groups[1]), dict(params=[E], **groups[2])])
    if state is not None:
        opt.load_state_dict(state[1])
    out = []
    with forbidden(*BLOCKED, what="RMSProp") if block else contextlib.nullcontext():
        for t in range(start, start + steps):
            opt.zero_grad()
            pred = torch.tanh(X @ A + b) @ C + d
            if late_from is None or t >= late_from:
                pred = pred + Z @ E
            ((pred - Y) ** 2).mean().backward()
            opt.step()
            out.append(torch.cat([p.detach().flatten() for p in ps]))
    return torch.stack(out), opt, ps


groups = [{"lr": 0.02, "weight_decay": 0.01}, {"alpha": 0.9}, {"weight_decay": 0.05}]
mine, _, _ = trajectory(lambda ps: RMSProp(ps, lr=0.01, momentum=0.5), groups, 12, late_from=6)
ref, _, _ = trajectory(lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5), groups, 12, late_from=6, block=False)
assert torch.allclose(mine, ref, rtol=1e-5, atol=1e-5), \
    ("a parameter that has no gradient for its first steps must be left alone (no decay, no state) until its "
     "first gradient arrives; its trajectory then differs from torch.optim.RMSprop's")
full, _, _ = trajectory(lambda ps: RMSProp(ps, lr=0.01, momentum=0.5), groups, 12)
_, opt, ps = trajectory(lambda ps: RMSProp(ps, lr=0.01, momentum=0.5), groups, 6)
saved = ([p.detach().clone() for p in ps], opt.state_dict())
resumed, _, _ = trajectory(lambda ps: RMSProp(ps, lr=0.01, momentum=0.5), groups, 6, start=6, state=saved)
assert torch.allclose(resumed, full[6:], rtol=1e-5, atol=1e-5), \
    ("after load_state_dict, training must continue as it would have without the interruption: keep the running "
     "averages and buffers in self.state[p]")
p = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
opt = RMSProp([p])
(p ** 2).sum().backward()
assert opt.step() is None, "step() without a closure should return None"
params = [torch.zeros(1, requires_grad=True)]
for name in ("alpha", "eps", "weight_decay", "momentum"):
    assert_raises(ValueError, RMSProp, params, **{name: -0.5}, what=f"RMSProp with a negative {name}")
RMSProp(params, lr=0.0, alpha=0.0, eps=0.0, weight_decay=0.0, momentum=0.0)  # zeros are valid
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 · `Adam` with a `decoupled_weight_decay` flag (graded)
#
# Write `Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False)`
# that follows `torch.optim.Adam` and, with `decoupled_weight_decay=True`, `torch.optim.AdamW` (sections 5
# and 6; PyTorch's own `Adam` has the same flag). For each parameter with a gradient, where $t$ counts *this
# parameter's* steps (1 on its first):
#
# 1. weight decay, when $\lambda \ne 0$: decoupled, `p` $\leftarrow$ `p` $\cdot (1 - \eta\lambda)$; otherwise L2,
#    $g \leftarrow$ `p.grad` $+\ \lambda\,$`p`. Either way it uses the weights *before* this step's update;
# 2. $m \leftarrow \beta_1 m + (1-\beta_1) g$ and $v \leftarrow \beta_2 v + (1-\beta_2) g^2$, both starting at zeros;
# 3. $\hat m = m/(1-\beta_1^t)$, $\hat v = v/(1-\beta_2^t)$;
# 4. `p` $\leftarrow$ `p` $- \eta\, \hat m/(\sqrt{\hat v} + \varepsilon)$ ($\varepsilon$ outside the root).
#
# The same contract as Exercise 1. Raise `ValueError` for a negative `lr`, `eps` or `weight_decay`, and
# unless $0 \le \beta_1 < 1$ and $0 \le \beta_2 < 1$. Do not use `torch.optim.Adam`, `torch.optim.AdamW` or
# their update functions.

# %% nbgrader={"grade": false, "grade_id": "adam", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Adam(torch.optim.Optimizer):
    """Adam with bias correction; L2 weight decay, or AdamW's decoupled decay when decoupled_weight_decay=True."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False):
        ### BEGIN SOLUTION
        if lr < 0.0 or eps < 0.0 or weight_decay < 0.0:
            raise ValueError(f"lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)
        ### END SOLUTION

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns the closure's loss, or None."""
        ### BEGIN SOLUTION
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            wd, decoupled = group["weight_decay"], group["decoupled_weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                if wd != 0:
                    if decoupled:
                        p.mul_(1 - lr * wd)
                    else:
                        grad = grad.add(p, alpha=wd)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat = exp_avg / (1 - beta1 ** t)
                v_hat = exp_avg_sq / (1 - beta2 ** t)
                p.addcdiv_(m_hat, v_hat.sqrt().add_(eps), value=-lr)
        return loss
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_adam_trajectory", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# Adam is a torch.optim.Optimizer and follows torch.optim.Adam for 10 steps on a small float64 model (one
# parameter group), and torch.optim.AdamW with decoupled_weight_decay=True. torch.optim's Adam code is blocked.
import contextlib

import torch.optim.adam as _torch_adam

BLOCKED = (_torch_adam._single_tensor_adam, _torch_adam._multi_tensor_adam, _torch_adam._fused_adam,
           torch._fused_adam_, torch._fused_adamw_)


def trajectory(make_opt, groups=None, steps=10, late_from=None, halve_lr_at=None, scale=1.0, block=False):
    """Parameters after every step, (steps, n): a float64 two-layer net fitted to fixed random targets.
    groups: None (one group), or the hyperparameters of three groups: the weights, the biases, and a matrix E
    that joins the loss only from step `late_from` on (its .grad is None before)."""
    g = torch.Generator().manual_seed(0)
    X, Y, Z = (torch.randn(32, n, generator=g, dtype=torch.float64) for n in (5, 3, 4))
    A, b, C, d, E = ps = [(0.5 * torch.randn(s, generator=g, dtype=torch.float64)).requires_grad_()
                          for s in ((5, 8), (8,), (8, 3), (3,), (4, 3))]
    opt = make_opt(ps if groups is None else [dict(params=[A, C], **groups[0]), dict(params=[b, d], **groups[1]),
                                              dict(params=[E], **groups[2])])
    out = []
    with forbidden(*BLOCKED, what="Adam") if block else contextlib.nullcontext():
        for t in range(steps):
            if t == halve_lr_at:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
            opt.zero_grad()
            pred = torch.tanh(X @ A + b) @ C + d
            if late_from is None or t >= late_from:
                pred = pred + Z @ E
            (scale * ((pred - Y) ** 2).mean()).backward()
            opt.step()
            out.append(torch.cat([p.detach().flatten() for p in ps]))
    return torch.stack(out)


def same_path(mine, ref, what):
    # Float64 throughout. Two correct implementations differ by rounding, and by up to ~7e-6 of a step if
    # the bias corrections are computed in float32 (a float32 step counter, as torch stores it: 1 - 0.999 is
    # then off by 1.3e-5, its square root by 6.5e-6). Adam's steps are about lr (at most 1.3 lr here, lr <= 0.03);
    # measured on every case below, float32 bias corrections and float32 m and v stay within 3.4e-6 of torch,
    # a third of the 1e-5 tolerance. Every wrong rule is off by more.
    for t in range(len(ref)):
        if not torch.allclose(mine[t], ref[t], rtol=1e-5, atol=1e-5):
            raise AssertionError(f"{what}: the parameters first differ from torch.optim's after step {t + 1} "
                                 f"(largest difference {(mine[t] - ref[t]).abs().max().item():.3g})")


opt = Adam([torch.zeros(2, requires_grad=True)])
assert isinstance(opt, torch.optim.Optimizer), "Adam must subclass torch.optim.Optimizer"
same_path(trajectory(lambda ps: Adam(ps, lr=0.01), block=True), trajectory(lambda ps: torch.optim.Adam(ps, lr=0.01)),
          "Adam(lr=0.01)")
same_path(trajectory(lambda ps: Adam(ps, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), block=True),
          trajectory(lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
          "Adam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True) vs torch.optim.AdamW")
### BEGIN HIDDEN TESTS
groups = [{"lr": 0.02, "weight_decay": 0.1}, {"betas": (0.8, 0.99)}, {"lr": 0.03, "weight_decay": 0.05}]
for decoupled, ref_cls in ((False, torch.optim.Adam), (True, torch.optim.AdamW)):
    mode = "decoupled (AdamW)" if decoupled else "L2 (Adam)"
    same_path(trajectory(lambda ps: Adam(ps, lr=0.01, weight_decay=0.0, decoupled_weight_decay=decoupled), groups, 25,
                         late_from=10, halve_lr_at=12, block=True),
              trajectory(lambda ps: ref_cls(ps, lr=0.01, weight_decay=0.0), groups, 25, late_from=10, halve_lr_at=12),
              f"weight decay {mode}: three groups with their own lr, betas and weight decay, learning rates halved "
              f"after step 12")
# weight decay set for every group through the defaults
for decoupled, ref_cls in ((False, torch.optim.Adam), (True, torch.optim.AdamW)):
    same_path(trajectory(lambda ps: Adam(ps, lr=0.02, weight_decay=0.2, decoupled_weight_decay=decoupled), steps=25,
                         block=True),
              trajectory(lambda ps: ref_cls(ps, lr=0.02, weight_decay=0.2), steps=25),
              f"weight decay given once for all parameters ({'decoupled' if decoupled else 'L2'}), one group")
# eps placement: a large eps, and tiny gradients where the default eps is comparable to sqrt(v_hat)
same_path(trajectory(lambda ps: Adam(ps, lr=0.01, eps=1e-3), [{}, {"eps": 1e-2}, {}], 15, block=True),
          trajectory(lambda ps: torch.optim.Adam(ps, lr=0.01, eps=1e-3), [{}, {"eps": 1e-2}, {}], 15),
          "a large eps (it must be added to sqrt(v_hat), outside the root)")
same_path(trajectory(lambda ps: Adam(ps, lr=0.01), steps=15, scale=1e-6, block=True),
          trajectory(lambda ps: torch.optim.Adam(ps, lr=0.01), steps=15, scale=1e-6),
          "tiny gradients, where the default eps matters (eps goes outside the square root)")
# defaults
same_path(trajectory(lambda ps: Adam(ps), steps=5), trajectory(lambda ps: torch.optim.Adam(ps), steps=5),
          "Adam(params) with every argument left at its default")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_adam_contract", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The Optimizer contract: a parameter whose .grad is None keeps its value (even with weight decay, L2 or
# decoupled), and step(closure) returns the closure's loss and updates as torch.optim.Adam does. ValueError for
# beta1 = 1. torch.optim's own Adam code is blocked.
import contextlib

import torch.optim.adam as _torch_adam

BLOCKED = (_torch_adam._single_tensor_adam, _torch_adam._multi_tensor_adam, _torch_adam._fused_adam,
           torch._fused_adam_, torch._fused_adamw_)
g = torch.Generator().manual_seed(1)
for decoupled in (False, True):
    w = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    unused = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    unused_before = unused.detach().clone()
    opt = Adam([w, unused], lr=0.01, weight_decay=0.1, decoupled_weight_decay=decoupled)
    with forbidden(*BLOCKED, what="Adam"):
        for _ in range(3):
            opt.zero_grad()
            (w ** 2).sum().backward()
            opt.step()
    assert torch.equal(unused.detach(), unused_before), \
        f"a parameter whose .grad is None must not change (decoupled_weight_decay={decoupled}): skip it entirely"
x0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
for cls in (Adam, torch.optim.Adam):
    p = x0.clone().requires_grad_(True)
    opt = cls([p], lr=0.01)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    with forbidden(*BLOCKED, what="Adam") if cls is Adam else contextlib.nullcontext():
        returned = opt.step(closure)
    if cls is Adam:
        mine = p.detach().clone()
        value = returned.detach().item() if torch.is_tensor(returned) else returned
        assert value == 5.0, f"step(closure) must return the closure's loss (5.0 here), got {value!r}"
    else:
        # one step of size <= lr; a float32 bias correction may shift it by 7e-6 of that, hence atol 1e-6
        assert_close(mine, p.detach(), rtol=0, atol=1e-6, what="the parameters after step(closure)")
assert_raises(ValueError, Adam, [torch.zeros(1, requires_grad=True)], betas=(1.0, 0.999), what="Adam with betas=(1.0, 0.999)")
### BEGIN HIDDEN TESTS
def trajectory(make_opt, groups=None, steps=10, late_from=None, start=0, state=None, block=True):
    """(parameters after each step, optimizer); a float64 net; E joins the loss from step late_from on."""
    g = torch.Generator().manual_seed(0)
    X, Y, Z = (torch.randn(32, n, generator=g, dtype=torch.float64) for n in (5, 3, 4))
    ps = [(0.5 * torch.randn(s, generator=g, dtype=torch.float64)) for s in ((5, 8), (8,), (8, 3), (3,), (4, 3))]
    if state is not None:                                   # resume from saved parameters
        ps = [t.clone() for t in state[0]]
    A, b, C, d, E = ps = [t.requires_grad_() for t in ps]
    opt = make_opt([dict(params=[A, C], **groups[0]), dict(params=[b, d], **groups[1]), dict(params=[E], **groups[2])])
    if state is not None:
        opt.load_state_dict(state[1])
    out = []
    with forbidden(*BLOCKED, what="Adam") if block else contextlib.nullcontext():
        for t in range(start, start + steps):
            opt.zero_grad()
            pred = torch.tanh(X @ A + b) @ C + d
            if late_from is None or t >= late_from:
                pred = pred + Z @ E
            ((pred - Y) ** 2).mean().backward()
            opt.step()
            out.append(torch.cat([p.detach().flatten() for p in ps]))
    return torch.stack(out), opt, ps


groups = [{"lr": 0.02, "weight_decay": 0.1}, {"betas": (0.8, 0.99)}, {"weight_decay": 0.05}]
for decoupled, ref_cls in ((False, torch.optim.Adam), (True, torch.optim.AdamW)):
    # E gets its first gradient at step 6: its step count t starts at 1 then (bias correction per parameter)
    mine, _, _ = trajectory(lambda ps: Adam(ps, lr=0.01, decoupled_weight_decay=decoupled), groups, 12, late_from=6)
    ref, _, _ = trajectory(lambda ps: ref_cls(ps, lr=0.01, weight_decay=0.0), groups, 12, late_from=6, block=False)
    assert torch.allclose(mine, ref, rtol=1e-5, atol=1e-5), \
        ("a parameter that gets no gradient for its first steps must be left alone (no decay, no state) and its "
         "step count t must start at 1 when its first gradient arrives (count steps per parameter); "
         f"its trajectory differs from torch.optim.{ref_cls.__name__}'s")
    full, _, _ = trajectory(lambda ps: Adam(ps, lr=0.01, decoupled_weight_decay=decoupled), groups, 12)
    _, opt, ps = trajectory(lambda ps: Adam(ps, lr=0.01, decoupled_weight_decay=decoupled), groups, 6)
    saved = ([p.detach().clone() for p in ps], opt.state_dict())
    resumed, _, _ = trajectory(lambda ps: Adam(ps, lr=0.01, decoupled_weight_decay=decoupled), groups, 6, start=6,
                               state=saved)
    assert torch.allclose(resumed, full[6:], rtol=1e-5, atol=1e-5), \
        ("after load_state_dict, training must continue as it would have without the interruption: keep m, v and the "
         "step count in self.state[p]")
p = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
opt = Adam([p])
(p ** 2).sum().backward()
assert opt.step() is None, "step() without a closure should return None"
params = [torch.zeros(1, requires_grad=True)]
for kw, what in (({"lr": -1e-3}, "a negative lr"), ({"eps": -1e-8}, "a negative eps"),
                 ({"weight_decay": -0.01}, "a negative weight_decay"), ({"betas": (0.9, 1.0)}, "beta2 = 1"),
                 ({"betas": (-0.1, 0.999)}, "a negative beta1")):
    assert_raises(ValueError, Adam, params, **kw, what=f"Adam with {what}")
Adam(params, betas=(0.0, 0.0), eps=0.0)  # valid: must not raise
### END HIDDEN TESTS

# %% [markdown]
# ## 8. Your optimizers on the digits
#
# The same MLP on the 8×8 digits, 200 steps of mini-batches of 64, trained with each of your optimizers
# (solid) and with its `torch.optim` twin (dots). The curves should lie on top of each other.

# %%
x_tr, y_tr, x_va, y_va = (t.to(device) for t in digits_split(seed=0))


def train_digits(make_opt, steps=200, batch_size=64):
    seed_everything(0)
    model = make_mlp(64, 10, width=64, depth=2).to(device)
    opt = make_opt(model.parameters())
    order = torch.Generator().manual_seed(0)
    val = []
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x_tr), (batch_size,), generator=order).to(device)
        loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            with torch.inference_mode():
                val.append(F.cross_entropy(model(x_va), y_va).item())
    return val


pairs = {
    "SGD, lr 0.1": (lambda p: SGDMomentum(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "momentum 0.9, lr 0.05": (lambda p: SGDMomentum(p, lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "RMSProp, lr 1e-3": (lambda p: RMSProp(p, lr=1e-3), lambda p: torch.optim.RMSprop(p, lr=1e-3)),
    "Adam, lr 1e-3": (lambda p: Adam(p, lr=1e-3), lambda p: torch.optim.Adam(p, lr=1e-3)),
}
fig, ax = plt.subplots(figsize=(6.5, 3.6))
steps_axis = list(range(20, 201, 20))
for i, (name, (mine, theirs)) in enumerate(pairs.items()):
    a, b = train_digits(mine), train_digits(theirs)
    ax.plot(steps_axis, a, color=f"C{i}", label=name)
    ax.plot(steps_axis, b, color=f"C{i}", ls="none", marker="o", ms=4)
    print(f"{name:22s} final val loss: yours {a[-1]:.4f}, torch.optim {b[-1]:.4f}")
ax.set_xlabel("step")
ax.set_ylabel("validation cross-entropy (nats)")
ax.set_yscale("log")
ax.grid(alpha=0.3)
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# ## 9. Choosing an optimizer in practice
#
# | setting | a good first choice |
# |---|---|
# | CNN image classification (ResNet-style) | SGD, `lr=0.1` for a batch of 256, `momentum=0.9`, `weight_decay` 1e-4 to 5e-4, with a schedule (step or cosine) |
# | anything new, quick baseline | Adam, `lr=1e-3`, default betas: little tuning needed |
# | transformers, LLMs, fine-tuning | AdamW, `lr` about 3e-4 (pre-training small models; lower for fine-tuning), `weight_decay` 0.01 to 0.1; GPT-style pre-training uses `betas=(0.9, 0.95)` and `weight_decay=0.1` |
# | RNNs, some reinforcement learning | RMSProp (historically), now mostly Adam |
#
# - **SGD + momentum** often wins the final accuracy on image classification once its learning rate
#   and schedule are tuned; **Adam/AdamW** converge fast with little tuning and dominate for transformers.
# - **Warm-up and decay.** Almost every recipe adds a learning-rate schedule
#   (`torch.optim.lr_scheduler.CosineAnnealingLR`, warm-up for Adam on transformers; topic 15).
# - **Which weights to decay.** Biases and normalisation weights (LayerNorm/BatchNorm γ, β) are usually
#   put in a parameter group with `weight_decay=0`: shrinking them towards zero does not regularise anything useful.
# - **Fast kernels.** By default `torch.optim` loops over the parameter tensors on the CPU and uses `foreach`
#   multi-tensor kernels on CUDA (a few kernel launches per group instead of several per tensor); `fused=True`
#   (SGD, Adam, AdamW and Adagrad; CUDA, CPU, MPS) fuses all of the update's arithmetic into one multi-tensor
#   kernel. Same results up to rounding.
# - **Newer optimizers.** *Lion* (Chen et al., 2023) steps by the *sign* of an interpolated momentum, so every
#   coordinate moves by exactly $\pm\eta$ (plus decay) and needs a smaller learning rate than AdamW. *Muon* (2024)
#   orthogonalises the momentum of each 2-D weight matrix (Newton–Schulz iterations) before stepping;
#   `torch.optim.Muon` accepts only 2-D parameters, so biases and norms (and, as its authors advise, the embedding
#   and output layers) stay with AdamW.
#
# A typical AdamW set-up with two groups and a cosine schedule, checked against the closed form
# $\eta_t = \eta_{\min} + \tfrac12(\eta_{\max} - \eta_{\min})\bigl(1 + \cos(\pi t / T)\bigr)$:

# %%
model = make_mlp(64, 10, width=64, depth=2).to(device)
decay = [p for p in model.parameters() if p.ndim >= 2]     # weight matrices
no_decay = [p for p in model.parameters() if p.ndim < 2]   # biases (and norm weights, in models that have them)
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=3e-4, betas=(0.9, 0.95))
T = 100
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=1e-5)
lrs = []
for t in range(T + 1):
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()       # (a real loop computes a loss and calls backward first)
    sched.step()
closed = [1e-5 + 0.5 * (3e-4 - 1e-5) * (1 + math.cos(math.pi * t / T)) for t in range(T + 1)]
print("groups:", [(len(gr["params"]), gr["weight_decay"]) for gr in opt.param_groups])
print("lr at t = 0, 50, 100:", [f"{lrs[t]:.2e}" for t in (0, 50, 100)],
      " max |scheduler - closed form| =", f"{max(abs(a - b) for a, b in zip(lrs, closed)):.1e}")
loop = fit_tiny(lambda gr: torch.optim.AdamW(gr, lr=1e-2, foreach=False))
fused = fit_tiny(lambda gr: torch.optim.AdamW(gr, lr=1e-2, fused=True))
print("AdamW for-loop vs fused=True, 20 steps: max |diff| =", (loop - fused).abs().max().item())
try:
    torch.optim.Muon(model.parameters())
except ValueError as err:
    print("torch.optim.Muon on a model with biases:", str(err).split(" whereas")[0])

# %% [markdown]
# ## 10. Explorer: optimizer × learning rate × momentum
#
# An MLP on the digits (1,438 training images, 150 steps of 64), trained by `torch.optim`. The momentum
# slider sets SGD's $\mu$ (0 is plain SGD); Nesterov needs $\mu > 0$, so at 0 it uses 0.9; Adam and AdamW
# ignore the slider (their $\beta_1$ stays 0.9). Weight decay is L2 for SGD and Adam, decoupled for AdamW.
# Solid lines are the current run (training loss per step, validation loss every 15 steps); earlier runs
# stay behind, faded.

# %%
from course_utils.explorers import Knob, LossCurveExplorer, digits_mlp_task

LossCurveExplorer(
    digits_mlp_task(steps=150),
    knobs=[
        Knob.dropdown("optimizer", {"SGD": "sgd", "SGD, Nesterov": "nesterov", "Adam": "adam", "AdamW": "adamw"}, "sgd"),
        Knob.log_slider("lr", 1e-4, 1.0, 0.1, description="learning rate"),
        Knob.slider("momentum", 0.0, 0.99, 0.0, step=0.01),
        Knob.dropdown("weight_decay", [0.0, 0.01, 0.1], 0.0, description="weight decay"),
    ],
    prompt="SGD at lr 0.1: what does momentum 0.9 do to the curve? And Adam at the same lr 0.1?",
)

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. SGD, lr 0.1, momentum 0 → 0.9. The effective step grows about tenfold: faster, but does it stay stable?
#    Now push the learning rate to 1 with momentum 0.9.
# 2. Switch to Adam and sweep the learning rate from 1e-4 to 1. Where is it best, and how does that compare with
#    SGD's best? Adam's step is about `lr` per weight, SGD's is `lr` times the gradient.
# 3. Adam versus AdamW at lr 1e-2 with weight decay 0.1. The same number, two very different regularisers: which one
#    barely changes the curve, and why (section 6)?
# 4. Plain SGD at lr 1e-3: how many steps would it need?

# %% [markdown]
# ## Drill (graded)
#
# Numbers an interviewer may ask for. Give each as a Python number.
#
# 1. `drill_adamw_weight`: a weight $\theta = 2.0$ whose gradient is 0 takes its first `AdamW` step with
#    `lr=1e-3`, `weight_decay=0.1`. Its new value?
# 2. `drill_adam_l2_weight`: the same weight and gradient, first step of `Adam(lr=1e-3, weight_decay=0.1)` (L2). Its new value?
# 3. `drill_rmsprop_first_step`: the size $|\Delta\theta|$ of the first `RMSprop(lr=0.01, alpha=0.99)` step on a gradient of 3.0.
# 4. `drill_adam_state_gb`: GB (1 GB = $10^9$ bytes) of Adam's `exp_avg` and `exp_avg_sq` for a 7-billion-parameter
#    model kept in fp32.
# 5. Starting points: `drill_sgd_lr` and `drill_sgd_momentum` for a ResNet on ImageNet-style data (batch 256);
#    `drill_adamw_lr`, `drill_adamw_weight_decay` and `drill_adamw_beta2` for GPT-style pre-training of a small model.

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_adamw_weight = 2.0 * (1 - 1e-3 * 0.1)          # decay only: m = v = 0, so the Adam part is 0 / (0 + eps) = 0
drill_adam_l2_weight = 2.0 - 1e-3                      # g = 0.1 · 2 = 0.2, normalised to a full step lr · sign(g)
drill_rmsprop_first_step = 0.01 / math.sqrt(1 - 0.99)  # = 0.1 for any gradient much larger than eps
drill_adam_state_gb = 2 * 7e9 * 4 / 1e9                # two fp32 tensors per parameter: 56 GB
drill_sgd_lr = 0.1
drill_sgd_momentum = 0.9
drill_adamw_lr = 3e-4
drill_adamw_weight_decay = 0.1
drill_adamw_beta2 = 0.95
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
names = ("drill_adamw_weight", "drill_adam_l2_weight", "drill_rmsprop_first_step", "drill_adam_state_gb", "drill_sgd_lr",
         "drill_sgd_momentum", "drill_adamw_lr", "drill_adamw_weight_decay", "drill_adamw_beta2")
for name in names:
    assert isinstance(globals()[name], (int, float)), f"{name} should be a Python number"
### BEGIN HIDDEN TESTS
assert abs(drill_adamw_weight - 1.9998) < 1e-7, \
    f"AdamW first multiplies the weight by (1 - lr·wd), and the Adam part of a zero gradient is 0 (m = v = 0); got {drill_adamw_weight}"
assert abs(drill_adam_l2_weight - 1.999) < 1e-6, \
    f"with L2 the penalty's gradient wd·θ is added to g, and Adam's first step of any nonzero gradient is lr·sign(g); got {drill_adam_l2_weight}"
assert abs(drill_rmsprop_first_step - 0.1) < 1e-6, \
    f"s = 0.01·9, so the step is lr·3/sqrt(0.09) = lr/sqrt(1 - alpha) = 0.1; got {drill_rmsprop_first_step}"
assert abs(drill_adam_state_gb - 56) < 0.5, f"Adam keeps two fp32 tensors (4 bytes a value) the size of the parameters; got {drill_adam_state_gb}"
assert 0.05 <= drill_sgd_lr <= 0.2, f"SGD for a ResNet at batch 256 usually starts at lr 0.1; got {drill_sgd_lr}"
assert abs(drill_sgd_momentum - 0.9) < 1e-9, f"the standard SGD momentum is 0.9; got {drill_sgd_momentum}"
assert 1e-4 <= drill_adamw_lr <= 1e-3, f"AdamW for transformers usually starts around 3e-4 (1e-4 to 1e-3); got {drill_adamw_lr}"
assert 0.01 <= drill_adamw_weight_decay <= 0.1, f"AdamW's weight decay is usually 0.01 to 0.1 (GPT-style: 0.1); got {drill_adamw_weight_decay}"
assert abs(drill_adamw_beta2 - 0.95) < 1e-9, f"GPT-style pre-training uses betas (0.9, 0.95); got beta2 = {drill_adamw_beta2}"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A teammate fine-tunes a transformer with `torch.optim.Adam(params, lr=2e-5, weight_decay=0.01)`.
# You suggest `AdamW` "with the same settings". What actually changes, and is `weight_decay=0.01` still the right number?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# In `Adam`, `weight_decay` adds $\lambda\theta$ to the gradient, so the decay goes through the moment estimates
# and is divided by $\sqrt{\hat v}$: weights with large gradients are barely decayed, weights with tiny gradients
# are pushed towards zero at up to a full step $\eta$ each step. It is not the L2 penalty it looks like.
# `AdamW` decouples it: every step multiplies each weight by $1 - \eta\lambda$ and Adam runs on the raw gradient, so
# all weights shrink at the same rate whatever their gradients. The number does not carry over: with
# $\eta = 2\times10^{-5}$ and $\lambda = 0.01$, AdamW shrinks weights by $2\times10^{-7}$ of their value per step, which is
# very weak, while the L2 version acted unevenly and sometimes strongly. Because PyTorch's decay is $\eta\lambda$, the
# strength is the product: re-tune $\lambda$ (0.01 to 0.1 is the usual range) together with the learning rate, and keep
# biases and LayerNorm weights in a group with `weight_decay=0`.

# %% [markdown]
# **Q2.** A model trains well with Adam at `lr=1e-3`. You switch to SGD with momentum 0.9 at the same `lr=1e-3` and
# the loss barely moves; at `lr=0.1` it trains and ends with a slightly better validation accuracy. Explain both observations.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The two learning rates are in different units. Adam divides by $\sqrt{\hat v}$, so each weight moves by about
# $\eta$ per step whatever the gradient's size; SGD moves by $\eta$ times the gradient (times up to $1/(1-\mu) = 10$
# with momentum), and per-weight gradients in a trained network are typically far below 1, so at $10^{-3}$
# SGD's steps are tiny. SGD's learning rate has to be tuned to the gradient scale and the curvature (stable below
# about $2/\lambda_{\max}$), which is why values like 0.1 are normal for it. The better final accuracy is a common
# empirical finding on image classification: tuned SGD with momentum (and a decaying schedule) often generalises a
# little better than Adam, which converges faster early on. It is not a law: check it with a fair learning-rate
# sweep for both, with the same schedule and number of epochs.
