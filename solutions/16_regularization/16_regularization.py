# %% [markdown]
# # 16 · Regularisation
#
# **Interview question:** *How does regularisation in deep learning differ from classical ML, and which techniques do you reach for?*
#
# **After this notebook you can**
# - explain why a network that can memorise random labels still generalises, and name what deep learning adds to
#   the classical L1 and L2 penalties;
# - write weight decay as an L2 penalty for SGD, say why Adam needs the decoupled form (`AdamW`), and keep biases and
#   normalisation weights out of the decay;
# - say where dropout goes, and drop whole residual blocks with stochastic depth;
# - build an augmentation pipeline (random crop with padding 4, flip, colour jitter, `Normalize` with the ImageNet
#   statistics) and choose augmentations that keep the label true;
# - write label smoothing, mixup and early stopping that restores the *best* weights, each checked against PyTorch;
# - keep an exponential moving average of the weights with `AveragedModel` and `get_ema_multi_avg_fn`, and say when
#   it helps and when it does not;
# - watch weight decay, dropout and augmentation change the gap between training and validation loss.
#
# **Runs on a CPU in about 15 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import copy
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from scipy.special import betainc
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torchvision.ops import stochastic_depth
from torchvision.transforms import v2

from course_utils import digits_loaders, digits_split, get_device, load_digits_tensors, make_mlp, seed_everything
from course_utils.explorers import Knob, LossCurveExplorer, Task
from course_utils.testing import assert_between, assert_close, assert_raises, assert_shape, binomial_tolerance

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. Deep networks can memorise, and still generalise
#
# Classical machine learning controls overfitting by limiting **capacity**: fewer features, a shallower tree, or a
# penalty on the weights. L2 (ridge) adds $\tfrac{\lambda}{2}\lVert w\rVert_2^2$ to the loss and shrinks every weight;
# L1 (lasso) adds $\lambda\lVert w\rVert_1$ and sets many weights exactly to zero. The bias–variance picture says that
# test error is U-shaped in capacity, so you pick the bottom of the U.
#
# Deep networks break that picture. They usually have far more parameters than training examples, enough to fit
# *anything*. Zhang et al. (2017, *Understanding deep learning requires rethinking generalization*) trained standard
# image networks on CIFAR-10 with the labels replaced by random ones, and the networks still reached zero training
# error. The same thing happens here in under a second: an MLP with 26,000 parameters, 300 digit images, and the same
# 120 full-batch steps of Adam, once with the true labels and once with random ones.

# %%
split = digits_split(n_train=300, seed=0)
x_small, y_small = split.x_train.to(device), split.y_train.to(device)
x_val, y_val = split.x_val.to(device), split.y_val.to(device)
random_labels = torch.randint(0, 10, (300,), generator=torch.Generator().manual_seed(0)).to(device)


def fit_full_batch(labels: torch.Tensor, steps: int = 120) -> nn.Module:
    seed_everything(0)
    net = make_mlp(64, 10, width=128, depth=2).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.cross_entropy(net(x_small), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


for name, labels in (("true labels", y_small), ("random labels", random_labels)):
    net = fit_full_batch(labels)
    with torch.inference_mode():
        train_acc = (net(x_small).argmax(1) == labels).float().mean().item()
        val_acc = (net(x_val).argmax(1) == y_val).float().mean().item()
    print(f"{name:>13}: train accuracy {train_acc:.3f}, validation accuracy {val_acc:.3f}")
print("parameters:", sum(p.numel() for p in net.parameters()))

# %% [markdown]
# Same network, same optimizer, same number of steps: it memorises noise perfectly, and on real labels it
# generalises well. So capacity alone does not explain generalisation, and "make the network smaller" is rarely
# the first fix in deep learning. (Past the point where a model can just interpolate its training data, test error
# can even fall again as the model grows: *double descent*, Belkin et al. 2019, Nakkiran et al. 2019.)
#
# Deep learning keeps the classical penalties and adds tools that act on the data, the targets and the training
# procedure, usually **several at once**:
#
# | acts on | tool | section |
# |---|---|---|
# | the weights | weight decay (L2), `AdamW` | 2 |
# | the activations and the architecture | dropout, stochastic depth | 3 |
# | the inputs | augmentation: crops, flips, colour jitter, RandAugment; batch-level mixup and CutMix | 4, 6 |
# | the targets | label smoothing, mixup's soft labels | 5, 6 |
# | the training run | early stopping, an average of the weights (EMA, SWA) | 7, 8 |
# | implicitly | the noise of small-batch SGD, BatchNorm's batch statistics | topics 06, 32 |
#
# A modern recipe stacks them. DeiT (Touvron et al. 2021), which trains a vision transformer on ImageNet alone,
# uses AdamW with weight decay 0.05, RandAugment, mixup and CutMix, random erasing, label smoothing 0.1 and
# stochastic depth 0.1, and no dropout.
#
# ## 2. Weight decay, and why Adam needs `AdamW`
#
# Add $\tfrac{\lambda}{2}\lVert w\rVert^2$ to the loss $L$. Its gradient is $\lambda w$, so one SGD step with learning rate
# $\eta$ becomes
#
# $$
# w \leftarrow w - \eta\,(\nabla L + \lambda w) = (1 - \eta\lambda)\,w - \eta\,\nabla L .
# $$
#
# Every step first shrinks the weights by the factor $1-\eta\lambda$, hence the name **weight decay**. In PyTorch,
# `torch.optim.SGD(..., weight_decay=λ)` adds $\lambda w$ to each gradient, which is exactly this L2 penalty (note the
# $\tfrac12$: `weight_decay=λ` is the penalty $\tfrac{\lambda}{2}\lVert w\rVert^2$).
#
# Adam is different. With `Adam(..., weight_decay=λ)` the term $\lambda w$ is added to the gradient *before* the
# moment estimates, so it ends up divided by $\sqrt{\hat v}$ like the rest of the gradient. A weight whose gradients
# are large has a large $\hat v$ and is barely decayed; a weight with tiny gradients is decayed hard. Loshchilov &
# Hutter (2019, *Decoupled weight decay regularization*) separated the two. **AdamW** computes the Adam step from
# $\nabla L$ alone and shrinks the weights on the side:
#
# $$
# w \leftarrow w - \eta\lambda\,w - \eta\,\frac{\hat m}{\sqrt{\hat v} + \epsilon}, \qquad \hat m, \hat v \text{ from } \nabla L \text{ only}.
# $$
#
# PyTorch's `AdamW` multiplies the weights by $1 - \eta\lambda$ and then takes the Adam step, so the decay follows the
# learning-rate schedule. Defaults differ: `Adam` has `weight_decay=0`, `AdamW` has `weight_decay=0.01`. Each claim
# checked on a small float64 model:

# %%
g = torch.Generator().manual_seed(0)
x_toy = torch.randn(32, 5, generator=g, dtype=torch.float64)
y_toy = torch.randint(0, 3, (32,), generator=g)
lam, lr = 0.1, 0.05


def toy_run(make_optimizer, l2: float = 0.0, steps: int = 3) -> torch.Tensor:
    """Train a fresh copy of the same linear model for `steps` steps; return its weights, flattened."""
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double()
    opt = make_optimizer(model.parameters())
    for _ in range(steps):
        loss = F.cross_entropy(model(x_toy), y_toy) + l2 / 2 * sum((p ** 2).sum() for p in model.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


print("SGD(weight_decay) vs an L2 term in the loss:         ",
      f"{gap(toy_run(lambda p: torch.optim.SGD(p, lr, momentum=0.9, weight_decay=lam)), toy_run(lambda p: torch.optim.SGD(p, lr, momentum=0.9), l2=lam)):.1e}")
print("Adam(weight_decay) vs an L2 term in the loss:        ",
      f"{gap(toy_run(lambda p: torch.optim.Adam(p, lr, weight_decay=lam)), toy_run(lambda p: torch.optim.Adam(p, lr), l2=lam)):.1e}")
torch.manual_seed(0)
w0 = torch.cat([p.detach().flatten() for p in nn.Linear(5, 3).double().parameters()])
adamw_1 = toy_run(lambda p: torch.optim.AdamW(p, lr, weight_decay=lam), steps=1)
adam_1 = toy_run(lambda p: torch.optim.Adam(p, lr), steps=1)
print("one AdamW step vs Adam step - lr·λ·w (decoupled):     ", f"{gap(adamw_1, adam_1 - lr * lam * w0):.1e}")
print("Adam(weight_decay) vs AdamW after 3 steps (not equal):",
      f"{gap(toy_run(lambda p: torch.optim.Adam(p, lr, weight_decay=lam)), toy_run(lambda p: torch.optim.AdamW(p, lr, weight_decay=lam))):.1e}")

# %% [markdown]
# For SGD, with or without momentum, `weight_decay` *is* the L2 penalty. (With momentum, $\lambda w$ passes through the
# momentum buffer, so the shrinking is no longer the plain factor $1-\eta\lambda$ per step.) For Adam it is the L2
# penalty too, and that is the problem: the penalty passes through the adaptive scaling. AdamW is the one that decays;
# recent PyTorch versions also accept `Adam(..., decoupled_weight_decay=True)`, which is the same as `AdamW`.
#
# **What not to decay.** Biases and the gains and shifts of normalisation layers are few, and shrinking them towards
# zero does not make the function simpler; a LayerNorm gain pulled to 0 just switches its layer off. The usual
# practice (BERT, GPT-style training, timm's `param_groups_weight_decay`) puts every parameter with fewer than two
# dimensions in a group with `weight_decay=0`:

# %%
def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: matrices (and conv kernels) decayed, biases and normalisation weights not."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


block = nn.Sequential(nn.Linear(64, 128), nn.LayerNorm(128), nn.GELU(), nn.Linear(128, 10))
opt = torch.optim.AdamW(decay_groups(block, 0.05), lr=1e-3)
for group in opt.param_groups:
    print(f"weight_decay={group['weight_decay']}: {len(group['params'])} tensors, "
          f"{sum(p.numel() for p in group['params']):,} numbers, shapes {[tuple(p.shape) for p in group['params']]}")

# %% [markdown]
# Two more facts an interviewer may probe. **L1** ($\lambda\lVert w\rVert_1$, gradient $\lambda\,\mathrm{sign}(w)$)
# gives exact zeros only with a proximal step (soft-thresholding); plain SGD just jitters around zero, so L1 on
# network weights is rare, and pruning is done separately. And with **BatchNorm** after a layer, the output does not
# depend on the scale of that layer's weights, so weight decay there does not restrict the function at all; it keeps
# the weights small, which raises the *effective* learning rate (van Laarhoven 2017).
#
# ## 3. Dropout, and dropping whole blocks: stochastic depth
#
# Dropout (topic 08) zeroes units at random in training and rescales the survivors by $1/(1-p)$. It earns its keep
# in **fully connected** layers, $p$ = 0.2–0.5 in an MLP or before a classifier head. Transformers use less,
# $p = 0.1$ on the attention weights and on each sublayer's output (large language models often none); convolutional
# networks with BatchNorm rarely use it between convolutions.
#
# Very deep residual networks and vision transformers use **stochastic depth** instead (Huang et al. 2016; *DropPath*
# in timm). A residual block computes $y = x + f(x)$. Huang et al. dropped the branch $f$ for a whole mini-batch at
# a time and scaled it by $1-p$ at test time. The form used today (timm, torchvision) drops $f$ for a random subset
# of the samples and rescales it for the others in training, so eval mode needs no change:
#
# $$
# y = x + \frac{m}{1-p}\, f(x), \qquad m \sim \mathrm{Bernoulli}(1-p) \text{ per sample}; \qquad y = x + f(x) \text{ in eval mode.}
# $$
#
# A dropped block is the identity, so each sample trains a shallower network, and the expected depth falls. Huang
# et al. let the drop rate grow linearly with depth, from nearly 0 for the first block to 0.5 for the last; ViT and Swin recipes
# use rates of 0.1 to 0.5, larger for deeper models. `torchvision.ops.stochastic_depth(branch, p, mode, training)`
# does the masking: `mode="row"` draws one mask per sample, `mode="batch"` one for the whole batch.

# %%
p = 0.2
branch = torch.randn(10_000, 16) + 3.0                        # f(x) for 10,000 samples, no zeros in it
out = stochastic_depth(branch, p=p, mode="row", training=True)
dropped = (out == 0).all(dim=1)
print(f"fraction of samples whose branch was dropped: {dropped.float().mean():.3f}   (p = {p})")
print("kept rows equal f(x) / (1 - p):", torch.allclose(out[~dropped], branch[~dropped] / (1 - p)))
print("eval mode is the identity on the branch:", torch.equal(stochastic_depth(branch, p, "row", training=False), branch))
mine = branch * (torch.rand(10_000, 1) >= p) / (1 - p)       # the same rule, written out: one mask per row
print(f"mean of the branch, torchvision {out.mean():.3f}, written out {mine.mean():.3f}, unmasked {branch.mean():.3f}")

# %% [markdown]
# ## 4. Data augmentation
#
# Augmentation trains on transformed copies of the inputs whose **label stays true**: a cat shifted by four pixels or
# mirrored left to right is still a cat. The network sees many variants of each image, which enlarges the effective
# data set, and it learns the invariances you chose. The choice is a claim about the task: a horizontal flip is right
# for photos of animals and wrong for digits or text (a mirrored 2 is not a 2), a vertical flip is right for
# satellite images and wrong for street scenes.
#
# The standard recipes, in `torchvision.transforms.v2`:
#
# - **CIFAR-10:** `RandomCrop(32, padding=4)` (pad by 4 pixels, cut a random 32×32 window: shifts of up to ±4 pixels)
#   and `RandomHorizontalFlip()`.
# - **ImageNet:** `RandomResizedCrop(224)` and `RandomHorizontalFlip()`, often `ColorJitter` (brightness, contrast,
#   saturation) or an automatic policy that picks random operations for each image: `RandAugment` (two operations at
#   a fixed strength by default) or `TrivialAugmentWide` (one operation at a random strength).
# - Then convert to floats in $[0, 1]$ and **normalise**, `Normalize(mean=[0.485, 0.456, 0.406],
#   std=[0.229, 0.224, 0.225])`: the per-channel mean and standard deviation of the ImageNet training images, which
#   almost every torchvision model pretrained on ImageNet expects (`weights.transforms()` tells you for sure).
#   Normalising is not augmentation: it is deterministic and applied at validation and test time too, where the
#   random transforms are not (on ImageNet a test image gets only a fixed resize and centre crop).

# %%
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
train_transform = v2.Compose([
    v2.RandomCrop(32, padding=4),
    v2.RandomHorizontalFlip(),
    v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
    v2.ToDtype(torch.float32, scale=True),                  # uint8 0..255 -> float 0..1
    v2.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
])
eval_transform = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)])
image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
print("train transform:", train_transform(image).shape, train_transform(image).dtype,
      "| two calls differ:", not torch.equal(train_transform(image), train_transform(image)))
by_hand = (image.float() / 255 - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
print("eval transform is (x / 255 - mean) / std per channel:", torch.allclose(eval_transform(image), by_hand, atol=1e-6))

# %% [markdown]
# The digits here are 8×8 images with pixel values in $[0, 1]$, so the small-data analogue of `RandomCrop(32, padding=4)`
# is a **random shift of at most one pixel**: pad by 1 with zeros (the background) and cut a random 8×8 window. Below it
# is written for a whole batch at once (each image gets its own shift), checked against torchvision's `pad` and `crop`,
# and drawn. Flips are left out on purpose.

# %%
def random_shift(x: torch.Tensor, max_shift: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each 8×8 image of x (N, 64) by up to `max_shift` pixels in each direction, filling with zeros."""
    n = x.shape[0]
    padded = F.pad(x.view(n, 8, 8), (max_shift,) * 4)               # (N, 8 + 2s, 8 + 2s)
    top = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator, device=x.device)
    left = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator, device=x.device)
    rows = (top[:, None] + torch.arange(8, device=x.device))[:, :, None]    # (N, 8, 1)
    cols = (left[:, None] + torch.arange(8, device=x.device))[:, None, :]   # (N, 1, 8)
    return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols].reshape(n, 64)


digits_01, digit_labels = load_digits_tensors()               # pixels / 16, in [0, 1]
batch = digits_01[:6]
shifted = random_shift(batch, generator=torch.Generator().manual_seed(0))
padded = v2.functional.pad(batch.view(6, 1, 8, 8), [1])
matches = [any(torch.equal(shifted[i].view(1, 8, 8), v2.functional.crop(padded[i], top, left, 8, 8))
               for top in range(3) for left in range(3)) for i in range(6)]
print("every shifted image is one of torchvision's 9 crops of the padded image:", all(matches))

fig, axes = plt.subplots(2, 6, figsize=(7, 2.6), layout="constrained")
for i in range(6):
    axes[0, i].imshow(batch[i].view(8, 8), cmap="gray_r")
    axes[1, i].imshow(shifted[i].view(8, 8), cmap="gray_r")
    axes[0, i].set_title(f"label {digit_labels[i].item()}", fontsize=8)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("original", fontsize=8)
axes[1, 0].set_ylabel("shifted", fontsize=8)
plt.show()

# %% [markdown]
# The explorer in section 9 trains with and without this shift. Two batch-level augmentations mix *pairs* of images
# and their labels instead: **mixup** (section 6) blends two whole images, and **CutMix** (Yun et al. 2019) pastes a
# random rectangle of one image into another and mixes the labels in proportion to the area. Both need soft targets,
# which is where the next section starts.
#
# ## 5. Label smoothing
#
# Cross-entropy against a one-hot target keeps falling until the true class gets probability 1, which needs its
# logit infinitely far above the others. The network keeps pushing the logits apart and becomes overconfident.
# **Label smoothing** (Szegedy et al. 2016) trains against a softened target instead. With $C$ classes and smoothing
# $\varepsilon$, PyTorch's convention puts the mass $\varepsilon$ uniformly on **all** $C$ classes:
#
# $$
# q_c = (1-\varepsilon)\,[c = y] + \frac{\varepsilon}{C}
# \qquad\Longrightarrow\qquad
# q_y = 1 - \varepsilon + \frac{\varepsilon}{C}, \quad q_{c \ne y} = \frac{\varepsilon}{C}.
# $$
#
# With 10 classes and $\varepsilon = 0.1$ that is **0.91** for the true class and **0.01** for each other class. Some
# papers spread $\varepsilon$ over the $C-1$ wrong classes only (0.9 and 0.0111); that is a different smoothing from
# `nn.CrossEntropyLoss(label_smoothing=0.1)`, which uses the formula above (topic 12 derives it).
#
# ## Exercise 1 · `smooth_labels` (graded)
#
# Write `smooth_labels(targets, num_classes, eps)`:
#
# - `targets` is an int64 tensor of class indices of any shape `(...)`, values in `[0, num_classes)`;
# - return a **float32** tensor of shape `(..., num_classes)` on the same device, holding $1-\varepsilon+\varepsilon/C$
#   at each target's class and $\varepsilon/C$ everywhere else;
# - raise `ValueError` when `eps` is outside $[0, 1]$;
# - leave `targets` unchanged.
#
# `F.one_hot`, `scatter_` and `torch.where` all work. The result is exactly what `F.cross_entropy(logits, targets,
# label_smoothing=eps)` trains against.

# %% nbgrader={"grade": false, "grade_id": "smooth_labels", "locked": false, "schema_version": 3, "solution": true, "task": false}
def smooth_labels(targets: torch.Tensor, num_classes: int, eps: float) -> torch.Tensor:
    """Label-smoothed one-hot targets, shape targets.shape + (num_classes,), float32."""
    ### BEGIN SOLUTION
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must be in [0, 1], got {eps}")
    one_hot = F.one_hot(targets, num_classes).to(torch.float32)
    return one_hot * (1.0 - eps) + eps / num_classes
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_smooth_labels", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# 10 classes with eps = 0.1: shape (N, 10), float32, 0.91 at the target and 0.01 elsewhere; cross-entropy against
# these targets equals F.cross_entropy(..., label_smoothing=0.1); eps = 1.5 raises ValueError.
targets = torch.tensor([3, 0, 9, 3])
q = smooth_labels(targets, 10, 0.1)
assert_shape(q, (4, 10), what="smooth_labels(4 targets, 10 classes)")
assert q.dtype == torch.float32, f"expected float32 targets, got {q.dtype}"
expected = torch.full((4, 10), 0.01)
expected[torch.arange(4), targets] = 0.91
assert_close(q, expected, rtol=0, atol=1e-6, what="smooth_labels with 10 classes and eps = 0.1 (0.91 and 0.01)")
logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
assert_close(F.cross_entropy(logits, q), F.cross_entropy(logits, targets, label_smoothing=0.1), rtol=1e-5, atol=1e-6,
             what="cross-entropy against smooth_labels vs F.cross_entropy(label_smoothing=0.1)")
assert_raises(ValueError, smooth_labels, targets, 10, 1.5, what="smooth_labels with eps = 1.5")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(1)
for n_classes, eps in ((2, 0.3), (7, 0.25), (13, 0.05)):
    t = torch.randint(0, n_classes, (50,), generator=g)
    t_before = t.clone()
    out = smooth_labels(t, n_classes, eps)
    assert torch.equal(t, t_before), "smooth_labels changed its targets argument"
    assert_shape(out, (50, n_classes), what="smooth_labels shape for another number of classes")
    assert out.dtype == torch.float32, "smooth_labels should return float32 for any number of classes"
    want = torch.full((50, n_classes), eps / n_classes, dtype=torch.float64)
    want[torch.arange(50), t] += 1 - eps
    assert_close(out.double(), want, rtol=0, atol=1e-6,
                 what="smooth_labels for another number of classes and eps (1 - eps + eps/C at the target, eps/C elsewhere)")
    assert_close(out.sum(-1).double(), torch.ones(50, dtype=torch.float64), rtol=0, atol=1e-6,
                 what="each row of smooth_labels sums to 1")
    z = torch.randn(50, n_classes, generator=g, dtype=torch.float64)
    assert_close(F.cross_entropy(z, out.double()), F.cross_entropy(z, t, label_smoothing=eps), rtol=1e-6, atol=1e-7,
                 what="cross-entropy against smooth_labels vs F.cross_entropy with the same label_smoothing")
# the two ends: eps = 0 is the plain one-hot, eps = 1 is uniform
t = torch.randint(0, 6, (20,), generator=g)
assert_close(smooth_labels(t, 6, 0.0), F.one_hot(t, 6).float(), rtol=0, atol=1e-7, what="smooth_labels with eps = 0 (one-hot)")
assert_close(smooth_labels(t, 6, 1.0), torch.full((20, 6), 1 / 6), rtol=0, atol=1e-6, what="smooth_labels with eps = 1 (uniform)")
# targets of any shape: a trailing class dimension is added
t2 = torch.randint(0, 5, (3, 4), generator=g)
out2 = smooth_labels(t2, 5, 0.2)
assert_shape(out2, (3, 4, 5), what="smooth_labels on a 2-D tensor of targets (a class dimension is added at the end)")
want2 = torch.full((3, 4, 5), 0.04)
want2.scatter_(-1, t2.unsqueeze(-1), 0.84)
assert_close(out2, want2, rtol=0, atol=1e-6, what="smooth_labels on a 2-D tensor of targets")
assert_raises(ValueError, smooth_labels, t, 6, -0.1, what="smooth_labels with a negative eps")
assert_close(smooth_labels(torch.tensor([1]), 4, 0.2), torch.tensor([[0.05, 0.85, 0.05, 0.05]]), rtol=0, atol=1e-6,
             what="smooth_labels for a single target")
### END HIDDEN TESTS

# %% [markdown]
# What does smoothing do to the logits? Minimise the smoothed cross-entropy over a free vector of 10 logits. The
# optimum is $\mathrm{softmax}(z) = q$, so the true logit ends exactly $\ln(q_y/q_{c\ne y}) = \ln(0.91/0.01) = \ln 91
# \approx 4.51$ above the others. Without smoothing the gap never stops growing:

# %%
target = torch.tensor([3])
for eps in (0.0, 0.1):
    z = torch.zeros(1, 10, requires_grad=True)
    opt = torch.optim.SGD([z], lr=5.0)
    for step in range(1, 501):
        loss = F.cross_entropy(z, target, label_smoothing=eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in (50, 500):
            others = torch.cat([z[0, :3], z[0, 4:]])
            print(f"eps={eps}: after {step:4d} steps the true logit is {(z[0, 3] - others.mean()).item():5.2f} above the others")
print(f"ln 91 = {math.log(91):.2f}")

# %% [markdown]
# So with label smoothing the best confidence on each training example is $q_y$ = 0.91, not 1. That is why it often improves
# **calibration** on large networks that are overconfident (Müller et al. 2019, *When does label smoothing help?*).
# It lowers the confidence whether the network was overconfident or not, though, so a network that was already
# calibrated comes out *under*confident; temperature scaling after training is the usual fix when calibrated
# probabilities matter. Section 6 measures it on the digits.
#
# ## 6. Mixup
#
# Mixup (Zhang et al. 2018, *mixup: Beyond empirical risk minimization*) trains on convex combinations of pairs of
# examples **and** of their labels. Draw $\lambda \sim \mathrm{Beta}(\alpha, \alpha)$ once per batch and a random
# permutation $\pi$ of the batch, and train on
#
# $$
# \tilde x_i = \lambda x_i + (1-\lambda)\, x_{\pi(i)}, \qquad \tilde y_i = \lambda y_i + (1-\lambda)\, y_{\pi(i)},
# $$
#
# where $y_i$ are one-hot (or smoothed) label vectors. Because $\lambda + (1-\lambda) = 1$, each $\tilde y_i$ still
# sums to 1: the **label mass** is kept. Small $\alpha$ (0.1 to 0.4 for ImageNet) puts most $\lambda$ near 0 or 1,
# mild mixing; $\alpha = 1$ is uniform. It teaches the network to behave linearly between training examples, which
# makes it harder to memorise any single one, noisy labels included.
#
# Many implementations never build $\tilde y$: they compute $\lambda\,\mathrm{CE}(f(\tilde x), y_i) + (1-\lambda)\,
# \mathrm{CE}(f(\tilde x), y_{\pi(i)})$, "mix the two losses with $\lambda$". Cross-entropy is linear in its target, so
# the two are the same number:

# %%
g = torch.Generator().manual_seed(0)
logits = torch.randn(8, 10, generator=g, dtype=torch.float64)
y_a = torch.randint(0, 10, (8,), generator=g)
perm = torch.randperm(8, generator=g)
lam_demo = 0.3
two_losses = lam_demo * F.cross_entropy(logits, y_a) + (1 - lam_demo) * F.cross_entropy(logits, y_a[perm])
soft_target = lam_demo * F.one_hot(y_a, 10).double() + (1 - lam_demo) * F.one_hot(y_a[perm], 10).double()
print(f"two losses mixed with λ: {two_losses:.12f}   one loss on the mixed target: {F.cross_entropy(logits, soft_target):.12f}")

# %% [markdown]
# ## Exercise 2 · `mixup_batch` (graded)
#
# Write `mixup_batch(x, y, alpha, generator=None)` that returns `(x_mixed, y_mixed)`:
#
# - `x` is a float tensor `(N, ...)` (vectors or images), `y` a float tensor `(N, C)` of label distributions
#   (one-hot or smoothed rows, each summing to 1);
# - draw **one** $\lambda \sim \mathrm{Beta}(\alpha, \alpha)$ for the whole batch, and a random permutation $\pi$ of
#   `0..N-1` with `torch.randperm(N, generator=generator)`; the pairing must come from `generator`, so the same
#   generator seed gives the same partners;
# - return $\tilde x = \lambda x + (1-\lambda)\,x[\pi]$ and $\tilde y = \lambda y + (1-\lambda)\,y[\pi]$, with the
#   **same** $\lambda$ and the **same** $\pi$ for both; shapes and dtypes as the inputs;
# - do not modify `x` or `y`; raise `ValueError` when `alpha <= 0`.
#
# For $\lambda$, `torch.distributions.Beta(alpha, alpha).sample()` is fine: it draws from torch's global random
# stream (`torch.distributions` takes no generator), as torchvision's `MixUp` does. A $\lambda$ drawn from `generator`
# (or `numpy.random.beta`, as in the original paper's code) is fine too. Pairing each sample with a fixed neighbour
# (`x.roll(1, 0)` or `x.flip(0)`, as torchvision and timm do on batches that the loader already shuffled) is not
# what is asked here.

# %% nbgrader={"grade": false, "grade_id": "mixup_batch", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mixup_batch(x: torch.Tensor, y: torch.Tensor, alpha: float,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup of a batch: one λ ~ Beta(alpha, alpha), partners from a random permutation. Returns (x_mixed, y_mixed)."""
    ### BEGIN SOLUTION
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    lam = torch.distributions.Beta(float(alpha), float(alpha)).sample().item()
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    x_mixed = lam * x + (1.0 - lam) * x[perm]
    y_mixed = lam * y + (1.0 - lam) * y[perm]
    return x_mixed, y_mixed
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_mixup_structure", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# With x = the rows of an identity matrix, row i of x_mixed shows its own weight at column i and its partner's weight
# at the partner's column. Checked: shapes and dtypes kept, inputs untouched, one weight w for the whole batch with
# 1 - w for the partner, partners forming a permutation, not every sample paired with itself, labels mixed with the
# same weights and partners, and every row of y_mixed summing to 1.
def decode_mix(x_mixed):
    """For x = eye(N): each row's own weight and partner (a row with no partner is its own partner)."""
    n = x_mixed.shape[0]
    rows = x_mixed.reshape(n, n).double()
    own = rows.diagonal().clone()
    off = rows - torch.diag(own)
    partner = torch.where(off.abs().amax(1) > 0, off.abs().argmax(1), torch.arange(n))
    return rows, own, partner


def check_mix(x, y, x_mixed, y_mixed, what):
    n = x.shape[0]
    rows, own, partner = decode_mix(x_mixed)
    assert torch.equal(partner.sort().values, torch.arange(n)), f"{what}: the partners are not a permutation of the batch"
    assert_close(rows.sum(1), torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-6,
                 what=f"{what}: the weights of each row of x_mixed (they must sum to 1)")
    moved = partner != torch.arange(n)
    if moved.any():
        w = own[moved]
        assert (w - w[0]).abs().max() < 1e-6, f"{what}: draw one lambda for the whole batch, not one per sample"
        assert_close(rows[torch.arange(n), partner][moved], 1 - w, rtol=0, atol=1e-6,
                     what=f"{what}: the partner's weight in each mixed row (it must be 1 minus the sample's own weight)")
    want_y = own[:, None] * y.double() + (1 - own[:, None]) * y.double()[partner]
    assert_close(y_mixed.double(), want_y, rtol=0, atol=1e-6,
                 what=f"{what}: y_mixed (the labels must be mixed with the same lambda and the same partners as x)")
    assert_close(y_mixed.double().sum(1), torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-6,
                 what=f"{what}: the label mass of each row of y_mixed (it must sum to 1)")
    return moved


n = 8
x = torch.eye(n, dtype=torch.float64)
y = F.one_hot(torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), 3).float()
x_before, y_before = x.clone(), y.clone()
any_moved = False
for seed in range(5):
    x_mixed, y_mixed = mixup_batch(x, y, 1.0, generator=torch.Generator().manual_seed(seed))
    assert_shape(x_mixed, (n, n), what="x_mixed")
    assert_shape(y_mixed, (n, 3), what="y_mixed")
    assert x_mixed.dtype == torch.float64 and y_mixed.dtype == torch.float32, \
        f"x_mixed and y_mixed should keep the dtypes of x and y, got {x_mixed.dtype} and {y_mixed.dtype}"
    any_moved |= bool(check_mix(x, y, x_mixed, y_mixed, "mixup_batch(alpha = 1)").any())
assert torch.equal(x, x_before) and torch.equal(y, y_before), "mixup_batch modified x or y in place"
assert any_moved, "in five calls no sample was mixed with another one: pair each sample with a random partner"
### BEGIN HIDDEN TESTS
# images (N, 1, 4, 4) with smoothed labels, another alpha, and float32 inputs
n = 16
x_img = torch.eye(n).reshape(n, 1, 4, 4)
y_soft = torch.full((n, 5), 0.1 / 5)
y_soft[torch.arange(n), torch.arange(n) % 5] += 0.9
x_img_before, y_soft_before = x_img.clone(), y_soft.clone()
for seed in range(5):
    xm, ym = mixup_batch(x_img, y_soft, 2.0, generator=torch.Generator().manual_seed(100 + seed))
    assert_shape(xm, (n, 1, 4, 4), what="x_mixed for a batch of images (the shape of x is kept)")
    assert_shape(ym, (n, 5), what="y_mixed for a batch of images")
    assert xm.dtype == torch.float32, "x_mixed should keep the dtype of x"
    check_mix(x_img, y_soft, xm, ym, "mixup_batch on images with smoothed labels")
assert torch.equal(x_img, x_img_before) and torch.equal(y_soft, y_soft_before), "mixup_batch modified its inputs in place"
# identity labels: y_mixed must equal x_mixed exactly when y = x
xe = torch.eye(12, dtype=torch.float64)
for seed in range(3):
    xm, ym = mixup_batch(xe, xe.clone(), 0.5, generator=torch.Generator().manual_seed(200 + seed))
    assert_close(ym, xm, rtol=0, atol=1e-9, what="with y equal to x, y_mixed must equal x_mixed (same lambda, same partners)")
# a batch of one: its only partner is itself
x1 = torch.randn(1, 6, generator=torch.Generator().manual_seed(3))
xm1, ym1 = mixup_batch(x1, torch.ones(1, 4) / 4, 0.4, generator=torch.Generator().manual_seed(4))
assert_close(xm1, x1, rtol=1e-6, atol=1e-6, what="mixup of a batch of one sample returns that sample")
assert_close(ym1, torch.ones(1, 4) / 4, rtol=1e-6, atol=1e-6, what="mixup of a batch of one sample keeps its label")
assert_raises(ValueError, mixup_batch, x, y, 0.0, what="mixup_batch with alpha = 0")
assert_raises(ValueError, mixup_batch, x, y, -1.0, what="mixup_batch with a negative alpha")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mixup_randomness", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# The pairing comes from the generator: the same generator seed gives the same partners under two different
# global seeds.
def partners(x_mixed):
    n = x_mixed.shape[0]
    off = x_mixed.double() - torch.diag(x_mixed.double().diagonal())
    return torch.where(off.abs().amax(1) > 0, off.abs().argmax(1), torch.arange(n))


x = torch.eye(10)
y = torch.eye(10)
torch.manual_seed(1)
first = partners(mixup_batch(x, y, 1.0, generator=torch.Generator().manual_seed(7))[0])
torch.manual_seed(2)
second = partners(mixup_batch(x, y, 1.0, generator=torch.Generator().manual_seed(7))[0])
assert torch.equal(first, second), "the same generator seed should give the same partners (draw the permutation from generator)"
### BEGIN HIDDEN TESTS
# the pairing follows the generator for other seeds too, and different generator seeds pair differently
xg = torch.eye(16)
for seed in (11, 12, 13):
    torch.manual_seed(seed)
    a = partners(mixup_batch(xg, xg, 2.0, generator=torch.Generator().manual_seed(seed))[0])
    torch.manual_seed(seed + 1000)
    b = partners(mixup_batch(xg, xg, 2.0, generator=torch.Generator().manual_seed(seed))[0])
    assert torch.equal(a, b), "the same generator seed should give the same partners, whatever torch's global seed"
pairings = {tuple(partners(mixup_batch(xg, xg, 2.0, generator=torch.Generator().manual_seed(s))[0]).tolist())
            for s in range(20, 26)}
assert len(pairings) == 6, "different generator seeds should give different random pairings (a fixed pairing is not random)"


# lambda ~ Beta(alpha, alpha): the weight of a sample's own image, over many calls. Under either convention
# (lambda on x or on x[perm]) that weight is Beta(alpha, alpha), which is symmetric.
def own_weights(alpha, calls, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xs = torch.eye(8, dtype=torch.float64)
    ws = []
    for _ in range(calls):
        xm = mixup_batch(xs, xs, alpha, generator=gen)[0].double()
        moved = partners(xm) != torch.arange(8)
        if moved.any():
            ws.append(xm.diagonal()[moved][0].item())
    return torch.tensor(ws, dtype=torch.float64)


for alpha, seed, calls in ((0.4, 31, 1500), (2.0, 32, 1000)):
    w = own_weights(alpha, calls, seed)
    assert len(w) > 0.95 * calls, "almost every call should pair some sample with another one"
    for name, lo, hi in (("below 0.1", 0.0, 0.1), ("above 0.9", 0.9, 1.0), ("between 0.3 and 0.7", 0.3, 0.7)):
        p_beta = float(betainc(alpha, alpha, hi) - betainc(alpha, alpha, lo))
        frac = ((w >= lo) & (w <= hi)).double().mean().item() if lo > 0 else (w < hi).double().mean().item()
        tol = binomial_tolerance(len(w), p_beta)  # a correct answer falls outside this less than once in a million runs
        assert_between(frac, p_beta - tol, p_beta + tol,
                       what=f"fraction of mixing weights {name} (lambda must follow Beta(alpha, alpha), one fresh draw per call)")
### END HIDDEN TESTS

# %% [markdown]
# torchvision ships the same transform as `v2.MixUp(alpha=1.0, num_classes=...)`, for batches of images; it pairs each
# sample with its neighbour, `roll(1, 0)`, relying on the loader's shuffle. Its output has the same structure as yours:
# one $\lambda$, a weight $1-\lambda$ for the partner, label rows that sum to 1. `v2.CutMix` pastes a box instead and
# mixes the labels by the box's area:

# %%
imgs = torch.eye(8).reshape(8, 1, 2, 4)                  # 8 "images", each marking its own index
labels8 = torch.arange(8)
tv_x, tv_y = v2.MixUp(alpha=0.4, num_classes=8)(imgs, labels8)
rows = tv_x.reshape(8, 8)
lam_tv = rows.diagonal()[0].item()
print(f"torchvision MixUp: own weight {lam_tv:.3f} on every row: {torch.allclose(rows.diagonal(), torch.full((8,), lam_tv))}; "
      f"partner = previous sample: {torch.allclose(rows, lam_tv * torch.eye(8) + (1 - lam_tv) * torch.eye(8).roll(1, 0))}; "
      f"label rows sum to 1: {torch.allclose(tv_y.sum(1), torch.ones(8))}")
mine_x, mine_y = mixup_batch(imgs, F.one_hot(labels8, 8).float(), 0.4, generator=torch.Generator().manual_seed(0))
print("yours, labels equal images for identity inputs:", torch.allclose(mine_y, mine_x.reshape(8, 8), atol=1e-6))
cut_x, cut_y = v2.CutMix(alpha=1.0, num_classes=8)(torch.rand(8, 3, 32, 32), labels8)
print("torchvision CutMix: label rows sum to 1:", torch.allclose(cut_y.sum(1), torch.ones(8)),
      f"| weight of the own label: {cut_y[0, 0].item():.3f} (1 - area of the pasted box)")

# %% [markdown]
# What a network trained with mixup sees: six digits from section 4, each blended with a random partner, and above
# each image its target, the two labels with the same weights as the two images.

# %%
torch.manual_seed(3)
x_mix, y_mix = mixup_batch(digits_01[:6], F.one_hot(digit_labels[:6], 10).float(), 1.0,
                           generator=torch.Generator().manual_seed(0))
fig, axes = plt.subplots(1, 6, figsize=(7, 1.6), layout="constrained")
for ax, image, target in zip(axes, x_mix, y_mix):
    ax.imshow(image.view(8, 8), cmap="gray_r", vmin=0, vmax=1)
    top = target.topk(2)
    ax.set_title(" + ".join(f"{w:.2f}·{c}" for w, c in zip(top.values.tolist(), top.indices.tolist()) if w > 0),
                 fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("mixup with alpha = 1: target = λ·(own label) + (1 - λ)·(partner's label)", fontsize=8)
plt.show()

# %% [markdown]
# **Smoothing and mixup on a small, noisy data set.** 300 training digits, 20 % of them with a wrong label, an MLP of
# width 128, 300 steps of AdamW. Three runs: plain one-hot targets, label smoothing 0.1 (with *your* `smooth_labels`),
# and mixup with $\alpha = 0.4$ (with *your* `mixup_batch`). Reported on the clean validation set: the loss,
# the accuracy, and the mean confidence (the largest softmax probability). A calibrated model's mean confidence equals
# its accuracy.

# %%
noisy = digits_split(n_train=300, label_noise=0.2, seed=0)
x_noisy, y_noisy = noisy.x_train.to(device), noisy.y_train.to(device)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """Validation loss, accuracy and mean confidence, in eval mode."""
    model.eval()
    with torch.inference_mode():
        logits = model(x)
        probs = logits.softmax(1)
        return (F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item(),
                probs.max(1).values.mean().item())


def train_soft(eps: float, alpha: float | None, seed: int = 0, steps: int = 300) -> nn.Module:
    seed_everything(seed)
    model = make_mlp(64, 10, width=128, depth=2).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x_noisy), (64,), generator=g).to(device)
        xb, qb = x_noisy[idx], smooth_labels(y_noisy[idx], 10, eps)
        if alpha is not None:
            xb, qb = mixup_batch(xb, qb, alpha, generator=g)
        loss = F.cross_entropy(model(xb), qb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


print(f"{'targets':>26} {'val loss':>9} {'val acc':>8} {'confidence':>11}")
for name, eps, alpha in (("one-hot", 0.0, None), ("label smoothing 0.1", 0.1, None), ("mixup, alpha 0.4", 0.0, 0.4)):
    vl, va, conf = evaluate(train_soft(eps, alpha), x_val, y_val)
    print(f"{name:>26} {vl:9.3f} {va:8.3f} {conf:11.3f}")

# %% [markdown]
# The one-hot run is **overconfident**: its mean confidence (about 0.9) is well above its accuracy (about 0.8), the
# memorised wrong labels at work. Label smoothing pulls the confidence down to about 0.7, *below* the accuracy: it
# turns overconfidence into underconfidence, and here it changes the loss and the accuracy very little. Mixup gives
# the lowest validation loss, an accuracy at least as good, and the confidence closest to the accuracy. (Seeds 1 and
# 2 tell the same story: mixup has the lowest loss every time, and smoothing stays within 0.04 nats of one-hot.) On
# ImageNet-sized problems both are standard, and they are often combined.
#
# ## 7. Early stopping
#
# Training loss keeps falling; validation loss falls, bottoms out and, once the network starts memorising, rises.
# **Early stopping** watches the validation loss, stops when it has not improved for `patience` epochs in a row, and,
# the part that is easy to forget, **puts back the weights of the best epoch**. The weights at the moment it stops
# are `patience` epochs past the best, already overfitted.
#
# ## Exercise 3 · `EarlyStopping` (graded)
#
# Write the class `EarlyStopping(patience=5, min_delta=0.0)`:
#
# - attributes `best_loss` (starts at `math.inf`) and `bad_epochs` (starts at 0);
# - `step(val_loss, model) -> bool`, called once per epoch with a Python float:
#   - an epoch **improves** only if `val_loss < best_loss - min_delta` (strictly; a tie is no improvement, and neither
#     is a NaN). Then set `best_loss = val_loss`, reset `bad_epochs` to 0, and save a copy of `model.state_dict()`
#     (parameters **and** buffers, such as BatchNorm's running statistics) that later training cannot change;
#   - otherwise add 1 to `bad_epochs`, and leave `best_loss` and the saved weights as they are (an improvement smaller
#     than `min_delta` does not count);
#   - return `True` when `bad_epochs >= patience` (time to stop), else `False`;
# - `restore_best(model)`: load the saved best weights into `model`; raise `RuntimeError` if no epoch has improved yet.
#
# `state_dict()` returns references to the live tensors, so saving it without copying saves nothing: the "best"
# weights would change with every later step. `copy.deepcopy`, or `{k: v.detach().clone() ...}`, both work.

# %% nbgrader={"grade": false, "grade_id": "early_stopping", "locked": false, "schema_version": 3, "solution": true, "task": false}
class EarlyStopping:
    """Stop after `patience` epochs without improvement of the validation loss; keep and restore the best weights."""

    def __init__(self, patience: int = 5, min_delta: float = 0.0):
        ### BEGIN SOLUTION
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = math.inf
        self.bad_epochs = 0
        self.best_state = None
        ### END SOLUTION

    def step(self, val_loss: float, model: nn.Module) -> bool:
        """Record one epoch's validation loss; return True when training should stop."""
        ### BEGIN SOLUTION
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.bad_epochs = 0
            self.best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
        ### END SOLUTION

    def restore_best(self, model: nn.Module) -> None:
        """Load the weights (and buffers) of the best epoch into `model`."""
        ### BEGIN SOLUTION
        if self.best_state is None:
            raise RuntimeError("no epoch has improved yet: there are no best weights to restore")
        model.load_state_dict(self.best_state)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_early_stopping_rule", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# patience = 2 on the losses 1.0, 0.8, 0.8 (a tie: no improvement), 0.9: step returns False three times, then True;
# best_loss and bad_epochs follow; a later improvement resets bad_epochs.
model = nn.Linear(3, 2)
stopper = EarlyStopping(patience=2)
assert stopper.best_loss == math.inf and stopper.bad_epochs == 0, "start with best_loss = math.inf and bad_epochs = 0"
flags = [stopper.step(loss, model) for loss in (1.0, 0.8, 0.8, 0.9)]
assert flags == [False, False, False, True], f"patience=2 on the losses 1.0, 0.8, 0.8, 0.9: expected step to return False, False, False, True; got {flags}"
assert stopper.best_loss == 0.8 and stopper.bad_epochs == 2, f"expected best_loss 0.8 and bad_epochs 2, got {stopper.best_loss} and {stopper.bad_epochs}"
flag = stopper.step(0.5, model)
assert not flag and stopper.bad_epochs == 0, "an improvement resets bad_epochs to 0 (and step returns False)"
### BEGIN HIDDEN TESTS
def reference_flags(losses, patience, min_delta):
    best, bad, out = math.inf, 0, []
    for v in losses:
        if v < best - min_delta:
            best, bad = v, 0
        else:
            bad += 1
        out.append(bad >= patience)
    return out


cases = [
    ("resets after every improvement", [1.0, 0.9, 0.95, 0.85, 0.87, 0.86, 0.84, 0.9, 0.91, 0.92], 2, 0.0),
    ("patience 1", [0.5, 0.6, 0.4, 0.4, 0.3], 1, 0.0),
    ("a min_delta with small improvements that do not count", [1.0, 0.96, 0.93, 0.91, 0.85, 0.84, 0.83, 0.82], 3, 0.05),
    ("improvements exactly min_delta apart (not strictly better)", [1.0, 0.75, 0.5, 0.25, 0.0], 2, 0.25),
    ("a NaN loss counts as no improvement", [1.0, float("nan"), 0.9, float("nan"), float("nan"), 0.95], 2, 0.0),
    ("a long plateau after a fall", [2.0, 1.5, 1.2, 1.2, 1.2, 1.2, 1.2, 1.1], 4, 0.0),
]
for what, losses, patience, min_delta in cases:
    st = EarlyStopping(patience=patience, min_delta=min_delta)
    got = [st.step(v, model) for v in losses]
    want = reference_flags(losses, patience, min_delta)
    assert got == want, f"EarlyStopping, {what}: step returned the wrong stop signal at some epoch"
finite = [1.0, 0.96, 0.93, 0.91, 0.85, 0.84, 0.83, 0.82]
st = EarlyStopping(patience=10, min_delta=0.05)
for v in finite:
    st.step(v, model)
assert st.best_loss == 0.85, "best_loss should change only on an improvement larger than min_delta"
assert st.bad_epochs == 3, "bad_epochs should count the epochs since the last improvement larger than min_delta"
st = EarlyStopping()
flags5 = [st.step(v, model) for v in (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)]
assert flags5 == [False] * 5 + [True], "the default patience is 5 epochs"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_early_stopping_restore", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# restore_best loads the weights of the best epoch, not the last ones, even though training changed the weights
# in place after that epoch.
model = nn.Linear(3, 2)
stopper = EarlyStopping(patience=3)
for epoch, loss in enumerate((1.0, 0.6, 0.7, 0.8)):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float(epoch))                  # in place, as optimizer.step() does; the weights record the epoch
    stopper.step(loss, model)
stopper.restore_best(model)
assert all(torch.all(p == 1.0) for p in model.parameters()), \
    "after restore_best the model should hold the weights of epoch 1 (the best loss), not those of the last epoch"
### BEGIN HIDDEN TESTS
# buffers too: a BatchNorm's running statistics come back with the weights
net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
st = EarlyStopping(patience=5)
for epoch, loss in enumerate((0.9, 0.4, 0.6, 0.5, 0.45)):
    with torch.no_grad():
        for t in net.state_dict().values():
            t.fill_(epoch)                         # parameters and buffers (running mean, var, batch count)
    st.step(loss, net)
st.restore_best(net)
for name, t in net.state_dict().items():
    assert torch.all(t == 1), f"restore_best should restore {name} of the best epoch too (state_dict holds the buffers)"
# restoring twice, with training in between: the saved copy must not follow the model after a restore
with torch.no_grad():
    for p in net.parameters():
        p.add_(5.0)
st.restore_best(net)
for name, t in net.state_dict().items():
    assert torch.all(t == 1), "a second restore_best after more training should give the best weights again"
# a later, better epoch replaces the saved weights
with torch.no_grad():
    for t in net.state_dict().values():
        t.fill_(7)
st.step(0.1, net)
with torch.no_grad():
    for t in net.state_dict().values():
        t.fill_(8)
st.step(0.2, net)
st.restore_best(net)
assert all(torch.all(t == 7) for t in net.state_dict().values()), "a new best epoch must replace the saved weights"
# the best of a sequence with a min_delta and NaNs
lin = nn.Linear(2, 2)
st = EarlyStopping(patience=10, min_delta=0.05)
for epoch, loss in enumerate((1.0, 0.8, 0.78, float("nan"), 0.74, 0.7)):
    with torch.no_grad():
        for p in lin.parameters():
            p.fill_(float(epoch))
    st.step(loss, lin)
st.restore_best(lin)
assert all(torch.all(p == 4.0) for p in lin.parameters()), \
    "with a min_delta, the saved weights are those of the last epoch that improved by more than min_delta"
# nothing to restore before any improvement
st = EarlyStopping(patience=2)
assert_raises(RuntimeError, st.restore_best, lin, what="restore_best before any epoch was recorded")
st.step(float("nan"), lin)
assert_raises(RuntimeError, st.restore_best, lin, what="restore_best when no epoch has improved (only a NaN loss)")
### END HIDDEN TESTS

# %% [markdown]
# Now with a real run: the noisy 300-digit training set again, batches of 100, Adam at $10^{-3}$, at most 150 epochs,
# and your `EarlyStopping(patience=15)`.

# %%
train_loader, val_loader = digits_loaders(batch_size=100, n_train=300, label_noise=0.2, seed=0)
seed_everything(0)
model = make_mlp(64, 10, width=256, depth=2).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
stopper = EarlyStopping(patience=15)
val_curve = []
for epoch in range(150):
    model.train()
    for xb, yb in train_loader:
        xb, yb = xb.to(device), yb.to(device)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    val_loss, _, _ = evaluate(model, x_val, y_val)
    val_curve.append(val_loss)
    if stopper.step(val_loss, model):
        break
best_epoch = val_curve.index(stopper.best_loss)
print(f"stopped after epoch {epoch} (0-based); best epoch {best_epoch} with validation loss {stopper.best_loss:.3f}")
print(f"validation loss of the last weights: {evaluate(model, x_val, y_val)[0]:.3f}")
stopper.restore_best(model)
print(f"validation loss after restore_best:  {evaluate(model, x_val, y_val)[0]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.plot(val_curve, label="validation loss")
ax.axvline(best_epoch, color="C2", ls="--", label=f"best epoch ({best_epoch}): restored")
ax.axvline(epoch, color="C3", ls=":", label=f"stopped ({epoch})")
ax.set(xlabel="epoch", ylabel="cross-entropy (nats)", title="early stopping with patience 15")
ax.grid(alpha=0.3)
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# The validation loss bottoms out after a few dozen epochs and then creeps up as the network memorises the wrong
# labels; `patience` epochs later the stopper fires. The last weights are already worse than the best ones, and
# `restore_best` brings back the best epoch's loss exactly. Patience trades compute for robustness: too small, and a
# random dip in a noisy validation curve ends the run; 10 to 20 epochs is common. Early stopping is itself a
# regulariser: for a quadratic loss, stopping gradient descent after $t$ steps of size $\eta$ acts roughly like an L2
# penalty with $\lambda \approx 1/(\eta t)$ (Goodfellow, Bengio & Courville, *Deep Learning*, section 7.8).
#
# ## 8. An average of the weights: EMA with `AveragedModel`
#
# SGD's last iterate bounces around a minimum, with a spread that grows with the learning rate (topic 15). An
# **exponential moving average** of the weights smooths that out:
#
# $$
# \theta^{\text{EMA}}_t = \beta\,\theta^{\text{EMA}}_{t-1} + (1-\beta)\,\theta_t ,
# $$
#
# updated after every optimizer step and used only for evaluation and deployment, never for the gradients. It
# averages over roughly the last $1/(1-\beta)$ steps. Long runs use $\beta$ = 0.999 to 0.9999 (0.9999 is common in
# image classification, e.g. timm's `ModelEmaV3` and EfficientNet); the window must be much shorter than the run, or the
# average still remembers the random initialisation. *SWA* (stochastic weight averaging, Izmailov et al. 2018) is
# the same idea with an equal-weight average over the last epochs.
#
# The production way in PyTorch is `torch.optim.swa_utils.AveragedModel` with an EMA `multi_avg_fn`:
#
# ```python
# ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
# for x, y in loader:
#     ...; optimizer.step()
#     ema.update_parameters(model)     # after every optimizer step
# evaluate(ema.module)                 # or ema(x): AveragedModel forwards to its copy of the model
# ```
#
# `AveragedModel` keeps a deep copy of the model. Its first `update_parameters` call copies the current weights; each
# later call applies the formula above (`get_ema_multi_avg_fn` uses `torch._foreach_lerp_`). By default
# (`use_buffers=False`) buffers such as BatchNorm's running statistics are *copied* from the live model rather than
# averaged, and they do not match the averaged weights: pass `use_buffers=True` to average them too, or recompute them
# afterwards with `torch.optim.swa_utils.update_bn(loader, ema)`. Checked against the formula by hand:

# %%
seed_everything(0)
net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
beta = 0.9
ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(beta), use_buffers=True)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
manual = None
for step in range(20):
    loss = net(torch.randn(16, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    ema.update_parameters(net)
    current = [p.detach().clone() for p in net.parameters()]
    manual = current if manual is None else [beta * m + (1 - beta) * c for m, c in zip(manual, current)]
print("AveragedModel equals the EMA by hand:",
      all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ema.module.parameters(), manual)),
      "| updates counted:", ema.n_averaged.item())

# %% [markdown]
# **Does it help?** The full digits training set (1,438 images), an MLP of width 128, 200 steps of Adam with batches
# of 64 at a learning rate of $10^{-2}$, high enough that the weights keep bouncing. The run is only 200 steps long, so
# the decay is $\beta = 0.98$ (a window of about 50 steps). Two schedules: a **constant** learning rate, and a **cosine**
# decay to zero. Two seeds each; the curves are seed 0.

# %%
full = digits_split(seed=0)
x_full, y_full = full.x_train.to(device), full.y_train.to(device)


def train_with_ema(schedule: str, seed: int, steps: int = 200, decay: float = 0.98, eval_every: int = 20):
    seed_everything(seed)
    model = make_mlp(64, 10, width=128, depth=2).to(device)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = CosineAnnealingLR(opt, T_max=steps) if schedule == "cosine" else None
    g = torch.Generator().manual_seed(seed)
    curves = {"model": [], "EMA": []}
    for step in range(1, steps + 1):
        model.train()
        idx = torch.randint(0, len(x_full), (64,), generator=g).to(device)
        loss = F.cross_entropy(model(x_full[idx]), y_full[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        ema.update_parameters(model)
        if step % eval_every == 0:
            curves["model"].append(evaluate(model, x_val, y_val)[0])
            curves["EMA"].append(evaluate(ema.module, x_val, y_val)[0])
    return curves, evaluate(model, x_val, y_val), evaluate(ema.module, x_val, y_val)


fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained", sharey=True)
for ax, schedule in zip(axes, ("constant", "cosine")):
    for seed in range(2):
        curves, last, averaged = train_with_ema(schedule, seed)
        print(f"{schedule:>8} lr, seed {seed}: val loss / acc, last weights {last[0]:.3f} / {last[1]:.3f}, "
              f"EMA {averaged[0]:.3f} / {averaged[1]:.3f}")
        if seed == 0:
            steps_axis = [20 * (i + 1) for i in range(len(curves["model"]))]
            for name, ys in curves.items():
                ax.plot(steps_axis, ys, marker="o", ms=3, label=name)
    ax.set(xlabel="step", title=f"Adam at lr 1e-2, {schedule} schedule", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
axes[0].set_ylabel("validation loss (nats)")
plt.show()

# %% [markdown]
# At a **constant** learning rate the EMA lowers the validation loss in both runs, from about 0.11 to about 0.09
# nats, while the accuracy moves by less than one percentage point, once down and once up (two or three of the 359
# images). Over six seeds (the same code, run outside this notebook) the EMA lowered the loss every time, by 0.015 to
# 0.18 nats: the large gains come from seeds whose last step happened to land on a bad bounce (a loss of 0.17 to
# 0.25), which the average irons out, worth up to two points of accuracy there. With the **cosine** schedule the
# learning rate ends near 0, the last weights have already settled, and over the same six seeds the EMA gains only
# 0.003 to 0.01 nats, with the accuracy within 0.6 points either way. So the average is nearly free and never raised
# the loss here, but much of what it buys is the averaging that a decay to zero does anyway. It earns its place in
# long runs at a constant or slowly decaying rate, in runs whose length is not known in advance, and as a smoother
# model to evaluate and checkpoint during training. With a full decay to zero, expect little.
#
# ## 9. Explorer: weight decay × dropout × augmentation
#
# The noisy 300-digit training set once more (20 % wrong labels), in raw pixels so that the images can be shifted.
# The model is an MLP (two hidden layers of 64) trained for 150 steps of AdamW at $10^{-2}$ with batches of 64.
# Three knobs: AdamW's `weight_decay`, the dropout rate after each hidden layer, and the random shift of section 4,
# on or off. The shift runs as the first layer of the model, active only in training mode, like dropout.
#
# Left: the training loss per step (measured with dropout and shifts active) and the validation loss every 15 steps.
# Right: both losses after training, in eval mode, on the whole training set (with its wrong labels) and on the
# validation set: the **train/validation gap**. A network that memorises the wrong labels has a training loss near 0
# and a large gap.

# %%
def raw_digits(n_train: int = 300, label_noise: float = 0.2):
    """digits_split's images with pixels in [0, 1] instead of standardised, and its (noisy) training labels."""
    x01, _ = load_digits_tensors()
    ref = digits_split(n_train=n_train, label_noise=label_noise, seed=0)
    perm = torch.randperm(len(x01), generator=torch.Generator().manual_seed(0))   # digits_split's shuffle
    val_idx, train_idx = perm[:len(ref.x_val)], perm[len(ref.x_val):][:n_train]
    x_tr, x_va = x01[train_idx], x01[val_idx]
    mean, std = x_tr.mean(0), x_tr.std(0)
    same = torch.allclose((x_tr - mean) / torch.where(std > 1e-6, std, torch.ones_like(std)), ref.x_train, atol=1e-5)
    assert same, "the raw images do not match digits_split's"
    return x_tr, ref.y_train, x_va, ref.y_val


DIGITS_RAW = raw_digits()
PIXEL_MEAN, PIXEL_STD = DIGITS_RAW[0].mean().item(), DIGITS_RAW[0].std().item()


class RandomShift(nn.Module):
    """random_shift in training mode, the identity in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return random_shift(x) if self.training else x


class Standardize(nn.Module):
    """One mean and one std for all pixels, like v2.Normalize on a single channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - PIXEL_MEAN) / PIXEL_STD


def build_model(cfg) -> nn.Module:
    front = [RandomShift()] if cfg["augment"] else []
    return nn.Sequential(*front, Standardize(), make_mlp(64, 10, width=64, depth=2, dropout=cfg["dropout"]))


@torch.no_grad()
def final_losses(model: nn.Module, cfg, data) -> dict[str, list[float]]:
    """Probe (called in eval mode): the loss on the whole training set and on the validation set."""
    x_tr, y_tr, x_va, y_va = data
    return {"losses": [F.cross_entropy(model(x_tr), y_tr).item(), F.cross_entropy(model(x_va), y_va).item()]}


regularisation_task = Task(
    name="regularisation_16",
    build_model=build_model,
    build_data=lambda cfg: DIGITS_RAW,
    probe=final_losses,
    defaults={"dropout": 0.0, "augment": False, "optimizer": "adamw", "lr": 1e-2, "weight_decay": 0.0,
              "steps": 150, "batch_size": 64, "eval_every": 15},
    data_keys=(),
)
explorer = LossCurveExplorer(
    regularisation_task,
    knobs=[Knob.dropdown("weight_decay", [0.0, 0.01, 0.1, 0.3, 1.0], 0.0, description="AdamW weight_decay"),
           Knob.slider("dropout", 0.0, 0.7, 0.0, step=0.1, description="dropout p"),
           Knob.toggle("augment", False, description="random shift")],
    extra_panel="losses",
    extra_logy=False,
    prompt="With everything off, the training loss heads for 0. Which knob narrows the gap on the right the most?",
)
explorer.ax_extra.set(xlabel="", ylabel="loss after training (eval mode)", xticks=[1, 2],
                      xticklabels=["train (noisy labels)", "validation"])
explorer.update()  # redraw with the new labels
explorer

# %% [markdown]
# **What to try: predict, then move the slider.**
#
# 1. Everything off. How low does the training loss on the right go, and how far above it is the validation loss?
#    That gap is the network memorising the 59 wrong labels.
# 2. Dropout 0.5 on its own, then the random shift on its own. Which raises the training loss more, and which lowers
#    the validation loss more?
# 3. Weight decay 0.01 (AdamW's default) changes little in 150 steps: each step multiplies the weights by
#    $1 - \eta\lambda = 0.9999$. How large must it be before the training loss on the right moves? (At 1, the factor
#    is 0.99 per step, $0.99^{150} \approx 0.22$ over the run.)
# 4. Turn everything on at once, with dropout 0.7 and weight decay 1. Is more regularisation always better, or does
#    the validation loss rise again when the network can no longer fit even the correct labels?

# %% [markdown]
# ## Drills (graded)
#
# 1. `drill_true_prob`, `drill_other_prob`: `nn.CrossEntropyLoss(label_smoothing=0.2)` with **5** classes. The target
#    probability of the true class, and of each other class.
# 2. `drill_mixup_target`: targets are smoothed with $\varepsilon = 0.1$ over 10 classes, then mixup with
#    $\lambda = 0.7$ blends an image of a 3 (weight 0.7) with an image of a 5. The mixed target probability of class 3.
# 3. `drill_adamw_factor`: `AdamW(lr=1e-3, weight_decay=0.1)`, 10,000 steps, for a weight whose gradient is always
#    exactly 0 (so Adam's own update is 0). The factor by which the weight has shrunk.
# 4. `drill_ema_decay`: the EMA decay $\beta$ whose window $1/(1-\beta)$ is 2,000 optimizer steps.
# 5. `drill_stop_epoch`, `drill_restored_epoch`: `EarlyStopping(patience=3, min_delta=0.01)` sees the validation losses
#    1.00, 0.80, 0.795, 0.792, 0.70, 0.71, 0.695, 0.702 at epochs 1 to 8. At which epoch does `step` first return
#    `True`, and the weights of which epoch does `restore_best` load?

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_true_prob = 0.84
drill_other_prob = 0.04
drill_mixup_target = 0.7 * 0.91 + 0.3 * 0.01
drill_adamw_factor = (1 - 1e-3 * 0.1) ** 10_000
drill_ema_decay = 1 - 1 / 2000
drill_stop_epoch = 8
drill_restored_epoch = 5
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Plausibility only (the values themselves are checked by hidden tests): every answer is a number, the
# probabilities and the decay factors lie in [0, 1], and the epochs between 1 and 8.
names = ("drill_true_prob", "drill_other_prob", "drill_mixup_target", "drill_adamw_factor", "drill_ema_decay",
         "drill_stop_epoch", "drill_restored_epoch")
for name in names:
    assert name in globals(), f"{name} is not defined: fill in the drill cell above and run it"
    assert isinstance(globals()[name], (int, float)), f"{name} should be a number"
for name in ("drill_true_prob", "drill_other_prob", "drill_mixup_target", "drill_adamw_factor", "drill_ema_decay"):
    assert 0 <= globals()[name] <= 1, f"{name} should lie between 0 and 1"
assert 1 <= drill_restored_epoch <= drill_stop_epoch <= 8, "the epochs are between 1 and 8, the restored one not after the stop"
### BEGIN HIDDEN TESTS
assert abs(drill_true_prob - 0.84) < 1e-6, "drill_true_prob: PyTorch spreads eps over all C classes, so the true class gets 1 - eps + eps/C"
assert abs(drill_other_prob - 0.04) < 1e-6, "drill_other_prob: each class gets eps/C, with C the number of all classes"
assert abs(drill_mixup_target - 0.64) < 1e-6, \
    "drill_mixup_target: mix the two smoothed targets, lambda times the 3's plus (1 - lambda) times the 5's, at class 3"
assert abs(drill_adamw_factor - math.exp(-1.00005)) < 1e-3, \
    "drill_adamw_factor: each AdamW step multiplies the weight by 1 - lr * weight_decay; compound it over every step"
assert abs(drill_ema_decay - 0.9995) < 1e-6, "drill_ema_decay: solve 1 / (1 - beta) = window for beta"
assert drill_stop_epoch == 8, \
    "drill_stop_epoch: count the epochs since the last improvement larger than min_delta; an improvement resets the count"
assert drill_restored_epoch == 5, "drill_restored_epoch: the weights saved at the last improvement larger than min_delta"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** Your model reaches 100 % training accuracy and 60 % validation accuracy. What do you try, in what order,
# and how do you tell whether it worked?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# First rule out a broken setup: a validation set from a different distribution than the training set, leakage,
# preprocessing that differs between the two, or a bug such as evaluating without `model.eval()`. If it really is
# overfitting, the fixes in priority order are: (1) **more data, or augmentation** that keeps the labels true (crops,
# flips, colour jitter, RandAugment; mixup or CutMix), because more and more varied data is the most reliable cure;
# (2) **heavier regularisation**: weight decay with AdamW, dropout in the fully connected layers, label smoothing,
# stochastic depth for deep residual networks, and early stopping on the validation loss with the best weights
# restored; (3) a **smaller or simpler network**, or a pretrained one fine-tuned instead of training from scratch. To
# tell whether it worked, watch the train/validation gap and the validation metric, not the training loss, and plot a
# **learning curve** (validation error against the amount of training data): if it is still falling as data grows,
# more data will help; if training and validation error are both high and close, the problem has turned into
# underfitting.

# %% [markdown]
# **Q2.** Why is `Adam(weight_decay=λ)` not the same as `AdamW(weight_decay=λ)`? For which optimizer are L2
# regularisation and weight decay the same thing, and which would you use for a transformer?

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# `Adam(weight_decay=λ)` adds $\lambda w$ to the gradient, i.e. it is an L2 penalty $\tfrac{\lambda}{2}\lVert w\rVert^2$
# in the loss. That term then goes through Adam's moment estimates and is divided by $\sqrt{\hat v}$ like the rest of
# the gradient, so weights with large gradients are barely decayed and weights with small gradients are decayed
# strongly: the amount of regularisation depends on the gradient history, not on $\lambda$ alone. `AdamW` decouples
# the two (Loshchilov & Hutter): it computes the Adam step from the loss gradient only and separately multiplies the
# weights by $1 - \eta\lambda$. For plain SGD the two are identical, since $w - \eta(\nabla L + \lambda w) = (1-\eta\lambda)w
# - \eta\nabla L$ (with momentum, PyTorch's `SGD(weight_decay)` is still exactly the L2 penalty, but it passes through
# the momentum buffer, so it is no longer a plain decay of the weights). For a transformer use `AdamW`, with a weight decay of about 0.01 to 0.1 (0.01 is PyTorch's
# default, 0.05 to 0.1 is common in recipes), and keep biases and LayerNorm weights out of the decay with a second
# parameter group.
