# %% [markdown]
# # 11 · Self-attention
#
# **Interview question:** *What is self-attention, and why did it replace recurrent networks for sequence modelling?*
#
# **After this notebook you can**
# - compute $\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$ by hand, with padding and causal masks, and match `F.scaled_dot_product_attention`;
# - show with numbers why the $1/\sqrt{d_k}$ keeps the softmax out of saturation;
# - build multi-head self-attention from four linear layers and match `nn.MultiheadAttention` exactly;
# - explain the $O(1)$ path length and the parallelism that let attention replace RNNs, and what it pays for them ($O(L^2)$);
# - see that attention alone is blind to order, and that a copy task fails without positional information;
# - use `nn.MultiheadAttention` and `F.scaled_dot_product_attention` (grouped-query attention included), and place
#   attention inside a Pre-LN transformer block.
#
# **Runs on a CPU in about 12 s.** Work top to bottom; every `raise NotImplementedError()` is yours to replace.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import get_device, seed_everything
from course_utils.explorers import AttentionExplorer, Knob, LossCurveExplorer, Task, clear_cache, run
from course_utils.testing import assert_close, assert_raises, assert_shape, forbidden

device = get_device()
seed_everything(0)
print(f"device: {device}")

# %% [markdown]
# ## 1. Queries, keys and values
#
# Take a sequence of $L$ vectors stacked as rows of $X \in \mathbb{R}^{L \times d_\text{model}}$.
# Self-attention rebuilds every row as a weighted average of *all* rows, with weights that depend on
# the content. Three learned linear maps give each position three roles:
#
# $$
# Q = X W_Q, \qquad K = X W_K, \qquad V = X W_V .
# $$
#
# The **query** $q_i$ says what position $i$ is looking for, the **key** $k_j$ says what position
# $j$ offers, and the **value** $v_j$ is what $j$ hands over when it is chosen. Position $i$ scores every
# key, turns the scores into a probability distribution over positions, and averages the values:
#
# $$
# s_{ij} = \frac{q_i \cdot k_j}{\sqrt{d_k}}, \qquad
# a_{ij} = \frac{e^{s_{ij}}}{\sum_{j'} e^{s_{ij'}}}, \qquad
# o_i = \sum_j a_{ij}\, v_j ,
# \qquad\text{i.e.}\qquad
# \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V .
# $$
#
# Shapes: $Q$ is $(L_q, d_k)$, $K$ is $(L_k, d_k)$, $V$ is $(L_k, d_v)$; the weights are $(L_q, L_k)$ and
# the output is $(L_q, d_v)$. The softmax runs over the **key** axis (the last one), so each row of
# weights sums to 1. In *self*-attention $Q$, $K$ and $V$ all come from the same $X$, so $L_q = L_k = L$;
# in cross-attention (topic 29) the queries come from another sequence, which is why the formula allows
# $L_q \ne L_k$ and $d_v \ne d_k$. Any leading axes (batch, heads) simply ride along.
#
# Here is one head computed by hand and checked against PyTorch's fused kernel:

# %%
L, d_model, d_k, d_v = 5, 8, 4, 6
X = torch.randn(L, d_model, device=device)
W_Q = nn.Linear(d_model, d_k, bias=False).to(device)
W_K = nn.Linear(d_model, d_k, bias=False).to(device)
W_V = nn.Linear(d_model, d_v, bias=False).to(device)
with torch.no_grad():
    Q, K, V = W_Q(X), W_K(X), W_V(X)
    scores = Q @ K.T / math.sqrt(d_k)          # (L_q, L_k)
    weights = torch.softmax(scores, dim=-1)    # normalise over keys
    out = weights @ V                          # (L_q, d_v)
print("Q", tuple(Q.shape), " K", tuple(K.shape), " V", tuple(V.shape))
print("weights", tuple(weights.shape), " output", tuple(out.shape))
print("row sums of the weights:", weights.sum(dim=-1).cpu().numpy().round(6))
torch.testing.assert_close(out, F.scaled_dot_product_attention(Q, K, V), rtol=1e-5, atol=1e-6)
print("matches F.scaled_dot_product_attention")

# %% [markdown]
# ## 2. Why divide by $\sqrt{d_k}$
#
# Suppose the components of $q$ and $k$ are independent with mean 0 and variance 1 (roughly what a
# freshly initialised layer on normalised inputs produces). Then
#
# $$
# q \cdot k = \sum_{m=1}^{d_k} q_m k_m, \qquad \mathbb{E}[q\cdot k] = 0, \qquad \mathrm{Var}(q \cdot k) = \sum_{m=1}^{d_k} \mathrm{Var}(q_m k_m) = d_k .
# $$
#
# The raw scores have a standard deviation of $\sqrt{d_k}$: 8 for $d_k = 64$, 32 for $d_k = 1024$. A
# softmax over logits that far apart is nearly one-hot. That hurts twice:
#
# - at initialisation each query already attends to one essentially random key, instead of averaging
#   broadly and learning where to look;
# - the softmax's Jacobian, $\partial a / \partial s = \mathrm{diag}(a) - a a^\top$, tends to zero as $a$
#   approaches a one-hot vector, so almost no gradient reaches the scores, $W_Q$ and $W_K$.
#
# Dividing by $\sqrt{d_k}$ brings the scores back to unit variance for any $d_k$ (Vaswani et al., 2017).
# Measure it: 32 keys, 400 random queries per width. The entropy of a uniform distribution over 32 keys
# is $\ln 32 \approx 3.47$ nats; a one-hot row has entropy 0.

# %%
g = torch.Generator().manual_seed(0)
n_keys, n_queries = 32, 400
widths = [4, 16, 64, 256, 1024]
stats = {"raw": {"max": [], "entropy": [], "jac": []}, "scaled": {"max": [], "entropy": [], "jac": []}}
print(f"{'d_k':>5} {'std of q·k':>11} | {'max weight':>10} {'entropy':>8} {'|Jacobian|':>10} | "
      f"{'max weight':>10} {'entropy':>8} {'|Jacobian|':>10}")
print(f"{'':>5} {'':>11} | {'without 1/sqrt(d_k)':^30} | {'with 1/sqrt(d_k)':^30}")
for d in widths:
    q = torch.randn(n_queries, 1, d, generator=g)
    k = torch.randn(n_queries, n_keys, d, generator=g)
    s = (q @ k.transpose(-2, -1)).squeeze(1)                  # (n_queries, n_keys)
    row = []
    for name, logits in (("raw", s), ("scaled", s / math.sqrt(d))):
        a = torch.softmax(logits, dim=-1)
        entropy = -(a * torch.log(a.clamp_min(1e-30))).sum(-1).mean().item()
        jac = (torch.diag_embed(a) - a[:, :, None] * a[:, None, :]).norm(dim=(-2, -1)).mean().item()
        stats[name]["max"].append(a.max(-1).values.mean().item())
        stats[name]["entropy"].append(entropy)
        stats[name]["jac"].append(jac)
        row += [stats[name]["max"][-1], entropy, jac]
    print(f"{d:5d} {s.std().item():11.2f} | {row[0]:10.3f} {row[1]:8.2f} {row[2]:10.3f} | "
          f"{row[3]:10.3f} {row[4]:8.2f} {row[5]:10.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
for name, style in (("raw", "o-"), ("scaled", "s-")):
    label = "q·k" if name == "raw" else "q·k / √d_k"
    axes[0].plot(widths, stats[name]["entropy"], style, label=label)
    axes[1].plot(widths, stats[name]["jac"], style, label=label)
axes[0].axhline(math.log(n_keys), color="0.6", ls="--", lw=1, label="uniform (ln 32)")
axes[0].set_ylabel("mean entropy of a row (nats)")
axes[1].set_ylabel("mean norm of the softmax Jacobian")
for ax in axes:
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d_k")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
fig.suptitle("Without the scale, wider heads give peakier softmax rows and smaller gradients")
plt.show()

# %% [markdown]
# Unscaled, the average largest weight climbs from about 0.35 to 0.95 as $d_k$ grows, and the Jacobian
# shrinks more than fourfold; scaled, both stay put at every width. Why $\sqrt{d_k}$ and not
# $d_k$? Dividing by $d_k$ over-corrects: the scores would have standard deviation $1/\sqrt{d_k}$, every
# row would be close to uniform, and the layer would have to grow its weights just to express a
# preference. `F.scaled_dot_product_attention` uses `scale = 1 / sqrt(q.size(-1))` by default.
#
# ## 3. Masks: who may look at whom
#
# A **boolean mask** with the same broadcasting rules as the scores says which query–key pairs are
# allowed. In this course, as in `F.scaled_dot_product_attention`, **`True` means "may attend"**.
# Blocked scores are set to $-\infty$ *before* the softmax; $e^{-\infty} = 0$, so the remaining weights
# renormalise by themselves. (Zeroing weights *after* the softmax is a classic bug: the rows then sum
# to less than 1.)
#
# - **Padding mask.** Sequences of different lengths are padded to a common $L$; padded keys must get no
#   weight. With lengths $\ell_b$ the mask is `arange(L) < lengths[:, None]`, shaped `(B, 1, 1, L_k)`
#   so that it broadcasts over heads and queries.
# - **Causal mask.** In a decoder, position $i$ predicts token $i+1$ and must not see later positions:
#   the lower-triangular `tril(ones(L, L))`, shaped `(L_q, L_k)`.
#
# **Watch the polarity.** `nn.MultiheadAttention`'s boolean `attn_mask` and `key_padding_mask` use the
# opposite convention: `True` means *blocked*. Convert with `~mask` when you switch APIs.
#
# A row that is masked everywhere has nothing to attend to: its softmax is $0/0$. `torch.softmax` returns
# NaN there, while `F.scaled_dot_product_attention` returns zeros. Real models avoid such rows (a causal
# row always sees itself; outputs at padded *queries* are thrown away), and this notebook does not grade
# any particular behaviour for them.

# %%
B, L, d = 2, 5, 4
q, k, v = (torch.randn(B, 1, L, d, device=device) for _ in range(3))  # 1 head
causal = torch.tril(torch.ones(L, L, dtype=torch.bool, device=device))
lengths = torch.tensor([5, 3], device=device)
padding = (torch.arange(L, device=device) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, L_k)
print("causal mask (True = may attend):\n", causal.int().cpu())
print("padding mask of sequence 1 (length 3):", padding[1, 0, 0].int().cpu().tolist())

scores = q @ k.transpose(-2, -1) / math.sqrt(d)
w_causal = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
print("causal weights of sequence 0:\n", w_causal[0, 0].cpu().numpy().round(2))
torch.testing.assert_close(w_causal @ v, F.scaled_dot_product_attention(q, k, v, is_causal=True))
torch.testing.assert_close(w_causal @ v, F.scaled_dot_product_attention(q, k, v, attn_mask=causal))
w_pad = torch.softmax(scores.masked_fill(~padding, float("-inf")), dim=-1)
print("padded keys of sequence 1 get weight", w_pad[1, 0, :, 3:].abs().max().item())
torch.testing.assert_close(w_pad @ v, F.scaled_dot_product_attention(q, k, v, attn_mask=padding))
print("both masks match F.scaled_dot_product_attention")

# %% [markdown]
# ## Exercise 1 · `scaled_dot_product_attention` (graded)
#
# Write `scaled_dot_product_attention(q, k, v, mask=None)` that returns `(output, weights)`:
#
# - `q` has shape `(..., L_q, d_k)`, `k` has shape `(..., L_k, d_k)`, `v` has shape `(..., L_k, d_v)`;
#   the leading axes (batch, heads, ...) match. Allow $L_q \ne L_k$ and $d_v \ne d_k$.
# - `weights` is $\mathrm{softmax}(qk^\top/\sqrt{d_k})$ over the key axis, shape `(..., L_q, L_k)`;
#   `output` is `weights @ v`, shape `(..., L_q, d_v)`.
# - `mask` is `None` or a boolean tensor broadcastable to `(..., L_q, L_k)`; **`True` means the key may
#   be attended**. Masked weights must be exactly 0 and every row must still sum to 1. Rows that are
#   fully masked are not tested.
# - Do not modify the inputs in place; keep the dtype; the result must be differentiable in `q`, `k` and `v`.
# - Stay finite and exact when the scores are huge: in one batch, one query's scores may all lie near
#   $+10^4$ and another's near $-10^4$. A softmax must therefore be shifted by **each row's own** maximum
#   (`torch.softmax` does this for you); masked keys must still get exactly 0 there.
#
# Any correct formulation passes: `@` or `einsum`, scaling `q` before the product or the scores after,
# `masked_fill` or `torch.where` with `-inf` or `torch.finfo(dtype).min`, `torch.softmax` or a softmax you
# write yourself. Do not call `F.scaled_dot_product_attention`: the tests compare you with it, and switch it
# off while your function runs.

# %% nbgrader={"grade": false, "grade_id": "sdpa", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q kᵀ / sqrt(d_k)) v. Returns (output (..., L_q, d_v), weights (..., L_q, L_k))."""
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_sdpa_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# No mask: the shapes, rows that sum to 1, and the output of F.scaled_dot_product_attention, which is
# switched off while your function runs.
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(5, 8, generator=g) for _ in range(3))
with forbidden(F.scaled_dot_product_attention, what="scaled_dot_product_attention"):
    out, weights = scaled_dot_product_attention(q, k, v)
assert_shape(out, (5, 8), what="output for q, k, v of shape (5, 8)")
assert_shape(weights, (5, 5), what="weights for q, k, v of shape (5, 8) (expected (L_q, L_k))")
assert_close(weights.sum(dim=-1), torch.ones(5), rtol=0, atol=1e-5,
             what="row sums of the weights (softmax over the key axis, the last one)")
assert_close(out, F.scaled_dot_product_attention(q, k, v), rtol=1e-4, atol=1e-5,
             what="output vs F.scaled_dot_product_attention")
### BEGIN HIDDEN TESTS
def _reference_weights(q, k, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1)


# float64 with batch and head axes; entries with std 2 so every wrong scale is far off.
# The float64 tolerances (rtol 1e-6) leave room for a scale computed in float32, e.g.
# torch.sqrt(torch.tensor(d_k)); every wrong answer is off by far more.
q, k, v = (2 * torch.randn(2, 3, 5, 8, generator=g, dtype=torch.float64) for _ in range(3))
inputs_before = [t.clone() for t in (q, k, v)]
out, weights = scaled_dot_product_attention(q, k, v)
assert all(torch.equal(a, b) for a, b in zip((q, k, v), inputs_before)), "the inputs q, k, v were modified in place"
assert_shape(out, (2, 3, 5, 8), what="output for inputs with batch and head axes (expected (..., L_q, d_v))")
assert_shape(weights, (2, 3, 5, 5), what="weights for inputs with batch and head axes (expected (..., L_q, L_k))")
assert out.dtype == torch.float64 and weights.dtype == torch.float64, f"float64 inputs gave {out.dtype}, {weights.dtype}"
assert_close(out, F.scaled_dot_product_attention(q, k, v), rtol=1e-6, atol=1e-8,
             what="output vs F.scaled_dot_product_attention with batch and head axes, float64")
assert_close(weights, _reference_weights(q, k), rtol=1e-6, atol=1e-9,
             what="weights (expected softmax(q kᵀ / sqrt(d_k)) over the key axis)")
assert_close(weights.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64), rtol=0, atol=1e-12, what="row sums of the weights")
assert (weights >= 0).all(), "attention weights must be non-negative"
assert_close(out, weights @ v, rtol=1e-6, atol=1e-8, what="output (expected weights @ v)")
# L_q != L_k and d_v != d_k: the scale is sqrt(d_k) = sqrt(q.shape[-1]), not d_v or a length
q = 2 * torch.randn(2, 4, 6, generator=g, dtype=torch.float64)
k = 2 * torch.randn(2, 7, 6, generator=g, dtype=torch.float64)
v = torch.randn(2, 7, 3, generator=g, dtype=torch.float64)
out, weights = scaled_dot_product_attention(q, k, v)
assert_shape(out, (2, 4, 3), what="output with L_q != L_k and d_v != d_k (expected (..., L_q, d_v))")
assert_shape(weights, (2, 4, 7), what="weights with L_q != L_k (expected (..., L_q, L_k))")
assert_close(out, F.scaled_dot_product_attention(q, k, v), rtol=1e-6, atol=1e-8,
             what="output vs F.scaled_dot_product_attention with L_q != L_k and d_v != d_k")
assert_close(weights, _reference_weights(q, k), rtol=1e-6, atol=1e-9, what="weights with L_q != L_k, d_v != d_k")
# float32 with a larger head
q, k, v = (torch.randn(3, 6, 32, generator=g) for _ in range(3))
out, _ = scaled_dot_product_attention(q, k, v)
assert out.dtype == torch.float32, f"float32 inputs gave {out.dtype}"
assert_close(out, F.scaled_dot_product_attention(q, k, v), rtol=1e-4, atol=1e-5, what="output for a wider head, float32")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_sdpa_masks", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A causal mask: no weight above the diagonal, rows still sum to 1, same output as PyTorch.
g = torch.Generator().manual_seed(1)
q, k, v = (torch.randn(5, 8, generator=g) for _ in range(3))
causal = torch.tril(torch.ones(5, 5, dtype=torch.bool))  # True = may attend
with forbidden(F.scaled_dot_product_attention, what="scaled_dot_product_attention"):
    out, weights = scaled_dot_product_attention(q, k, v, mask=causal)
assert weights[~causal].abs().max().item() <= 1e-12, "masked weights (mask False, above the diagonal) must be 0"
assert_close(weights.sum(dim=-1), torch.ones(5), rtol=0, atol=1e-5,
             what="row sums with a causal mask (mask before the softmax, so the rest renormalises)")
assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=causal), rtol=1e-4, atol=1e-5,
             what="output with a causal mask vs F.scaled_dot_product_attention(attn_mask=mask)")
### BEGIN HIDDEN TESTS
def _reference_weights(q, k, mask=None):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1)


def _check(q, k, v, mask, what):
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    full = mask.expand(weights.shape)
    assert_shape(weights, full.shape, what=f"weights, {what}")
    assert weights[~full].abs().max().item() <= 1e-12, f"{what}: masked weights (mask False) must be exactly 0"
    assert_close(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=q.dtype), rtol=0, atol=1e-12,
                 what=f"row sums, {what}")
    assert_close(weights, _reference_weights(q, k, mask), rtol=1e-6, atol=1e-9, what=f"weights, {what}")
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-6, atol=1e-8,
                 what=f"output vs F.scaled_dot_product_attention, {what}")
    return out


B, H, L, d = 2, 3, 5, 8
q, k, v = (2 * torch.randn(B, H, L, d, generator=g, dtype=torch.float64) for _ in range(3))
# a causal (L, L) mask broadcast over batch and heads; also equals is_causal=True
causal = torch.tril(torch.ones(L, L, dtype=torch.bool))
out = _check(q, k, v, causal, "causal mask of shape (L, L) broadcast over batch and heads")
assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-6, atol=1e-8,
             what="causal output vs is_causal=True")
# a padding mask (B, 1, 1, L_k): sequence 1 has only 2 real keys
padding = (torch.arange(L) < torch.tensor([5, 2])[:, None])[:, None, None, :]
out = _check(q, k, v, padding, "padding mask of shape (B, 1, 1, L_k)")
# padded keys and values cannot influence the output, whatever they hold
k2, v2 = k.clone(), v.clone()
k2[1, :, 2:] = 50 * torch.randn(H, L - 2, d, generator=g, dtype=torch.float64)
v2[1, :, 2:] = 1e3
out2, _ = scaled_dot_product_attention(q, k2, v2, mask=padding)
assert_close(out2, out, rtol=1e-6, atol=1e-8, what="output after changing only padded keys/values (should not change)")
# a per-example mask (B, 1, L_q, L_k) with L_q != L_k; the first key is always allowed so no row is empty
q = 2 * torch.randn(B, H, 4, d, generator=g, dtype=torch.float64)
k = 2 * torch.randn(B, H, 6, d, generator=g, dtype=torch.float64)
v = torch.randn(B, H, 6, 3, generator=g, dtype=torch.float64)
rand_mask = torch.rand(B, 1, 4, 6, generator=g) < 0.5
rand_mask[..., 0] = True
_check(q, k, v, rand_mask, "random mask of shape (B, 1, L_q, L_k) with L_q != L_k")
# a non-square (L_q, L_k) mask broadcast over batch and heads
rect = torch.rand(4, 6, generator=g) < 0.6
rect[:, 3] = True
_check(q, k, v, rect, "mask of shape (L_q, L_k) with L_q != L_k")
# an all-True mask changes nothing
out_none, w_none = scaled_dot_product_attention(q, k, v)
out_all, w_all = scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 6, dtype=torch.bool))
assert_close(out_all, out_none, rtol=1e-10, atol=1e-10, what="output with an all-True mask (should equal mask=None)")
# exactly one allowed key per row: weight 1 there, so the output is that value row
one = torch.zeros(4, 6, dtype=torch.bool)
one[torch.arange(4), torch.tensor([5, 0, 2, 2])] = True
out, weights = scaled_dot_product_attention(q, k, v, mask=one)
assert_close(weights, one.to(torch.float64).expand(B, H, 4, 6), rtol=0, atol=1e-12,
             what="weights when exactly one key per row is allowed (expected 1 there, 0 elsewhere)")
assert_close(out, v[:, :, [5, 0, 2, 2]], rtol=1e-10, atol=1e-10, what="output when one key per row is allowed")
# float32 padding mask
q32, k32, v32 = (torch.randn(2, 4, 6, 8, generator=g) for _ in range(3))
pad32 = (torch.arange(6) < torch.tensor([6, 1])[:, None])[:, None, None, :]
out32, w32 = scaled_dot_product_attention(q32, k32, v32, mask=pad32)
assert w32[~pad32.expand(w32.shape)].abs().max().item() <= 1e-12, "float32: masked weights must be 0"
assert_close(out32, F.scaled_dot_product_attention(q32, k32, v32, attn_mask=pad32), rtol=1e-4, atol=1e-5,
             what="float32 output with a padding mask")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_sdpa_large_scores", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Huge scores: query 0 scores every key near +1e4 and query 1 near -1e4. The weights must be finite and
# equal softmax(q kᵀ / sqrt(d_k)) row by row (shift each row by its own max), with a mask and without.
g = torch.Generator().manual_seed(8)
shared = torch.ones(4, dtype=torch.float64)                   # a direction that every key shares
k = shared + 1e-4 * torch.randn(6, 4, generator=g, dtype=torch.float64)
v = torch.randn(6, 3, generator=g, dtype=torch.float64)
q = torch.stack([5e3 * shared, -5e3 * shared]) + 1e-3 * torch.randn(2, 4, generator=g, dtype=torch.float64)
expected = torch.softmax(q @ k.T / 2.0, dim=-1)               # sqrt(d_k) = 2; rows near +1e4 and -1e4
out, weights = scaled_dot_product_attention(q, k, v)
assert torch.isfinite(weights).all() and torch.isfinite(out).all(), \
    "weights or output are not finite for scores near +1e4 and -1e4: shift each row by its own maximum"
assert_close(weights, expected, rtol=1e-6, atol=1e-9, what="weights for scores near +1e4 (row 0) and -1e4 (row 1)")
assert_close(out, expected @ v, rtol=1e-6, atol=1e-9, what="output for scores near +1e4 and -1e4")
mask = torch.tensor([[True, False, True, True, False, True], [False, True, True, False, True, True]])
out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
assert torch.isfinite(weights).all(), "weights are not finite for huge scores with a mask"
assert weights[~mask].abs().max().item() == 0.0, "masked weights must be exactly 0, even when the real scores are near -1e4"
assert_close(weights, torch.softmax((q @ k.T / 2.0).masked_fill(~mask, float("-inf")), dim=-1), rtol=1e-6, atol=1e-9,
             what="weights for huge scores with a mask")
### BEGIN HIDDEN TESTS
# with batch and head axes, the two kinds of rows mixed, and padding masks
B, H, L = 2, 3, 5
shared = torch.randn(8, generator=g, dtype=torch.float64)
shared = shared / shared.norm()
k = 4e2 * shared + 0.05 * torch.randn(B, H, L, 8, generator=g, dtype=torch.float64)  # |k| about 400
v = torch.randn(B, H, L, 2, generator=g, dtype=torch.float64)
sign = torch.where(torch.rand(B, H, L, 1, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
sign[0, 0, 0], sign[0, 0, 1] = 1.0, -1.0                     # at least one row of each kind
q = sign * 70.0 * shared + 0.05 * torch.randn(B, H, L, 8, generator=g, dtype=torch.float64)
s = q @ k.transpose(-2, -1) / math.sqrt(8)                   # about +-1e4, spread of a few units per row
padding = (torch.arange(L) < torch.tensor([5, 3])[:, None])[:, None, None, :]
for case, mask in (("without a mask", None), ("with a padding mask", padding),
                   ("with a causal mask", torch.tril(torch.ones(L, L, dtype=torch.bool)))):
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.isfinite(weights).all() and torch.isfinite(out).all(), \
        f"huge scores (rows near +1e4 and near -1e4), {case}: the result is not finite"
    ref_scores = s if mask is None else s.masked_fill(~mask, float("-inf"))
    assert_close(weights, torch.softmax(ref_scores, dim=-1), rtol=1e-6, atol=1e-9,
                 what=f"weights for huge scores (rows near +1e4 and near -1e4), {case}")
    if mask is not None:
        assert weights[~mask.expand(weights.shape)].abs().max().item() == 0.0, \
            f"huge scores, {case}: masked weights must be exactly 0"
# float32: finite, masked weights exactly 0, rows that sum to 1
q32, k32, v32 = q.float(), k.float(), v.float()
out32, w32 = scaled_dot_product_attention(q32, k32, v32, mask=padding)
assert torch.isfinite(w32).all() and torch.isfinite(out32).all(), "float32, huge scores with a padding mask: not finite"
assert w32[~padding.expand(w32.shape)].abs().max().item() == 0.0, "float32, huge scores: masked weights must be exactly 0"
assert_close(w32.sum(-1), torch.ones(B, H, L), rtol=0, atol=1e-5, what="float32, huge scores: row sums of the weights")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_sdpa_gradients", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Gradients reach q, k and v; permuting the keys and values together changes nothing.
g = torch.Generator().manual_seed(2)
q, k, v = (torch.randn(2, 4, 6, generator=g, dtype=torch.float64).requires_grad_(True) for _ in range(3))
out, weights = scaled_dot_product_attention(q, k, v)
out.sum().backward()
for name, t in (("q", q), ("k", k), ("v", v)):
    assert t.grad is not None and t.grad.abs().sum() > 0, f"no gradient reached {name}; do not detach anything"
with torch.no_grad():
    perm = torch.tensor([2, 0, 3, 1])  # a new order of the 4 keys, applied to the values as well
    out_perm, _ = scaled_dot_product_attention(q, k[:, perm], v[:, perm])
assert_close(out_perm, out.detach(), rtol=1e-8, atol=1e-10,
             what="output after permuting keys and values together (expected: unchanged)")
### BEGIN HIDDEN TESTS
# the gradients equal PyTorch's, with and without a causal mask
for mask in (None, torch.tril(torch.ones(6, 6, dtype=torch.bool))):
    q, k, v = (torch.randn(2, 3, 6, 5, generator=g, dtype=torch.float64) for _ in range(3))
    r = torch.randn(2, 3, 6, 5, generator=g, dtype=torch.float64)
    mine = [t.clone().requires_grad_(True) for t in (q, k, v)]
    ref = [t.clone().requires_grad_(True) for t in (q, k, v)]
    (scaled_dot_product_attention(*mine, mask=mask)[0] * r).sum().backward()
    (F.scaled_dot_product_attention(*ref, attn_mask=mask) * r).sum().backward()
    for name, a, b in zip("qkv", mine, ref):
        case = "with a causal mask" if mask is not None else "without a mask"
        assert a.grad is not None, f"no gradient reached {name} ({case})"
        assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-8,
                     what=f"gradient w.r.t. {name} vs F.scaled_dot_product_attention ({case})")
# the weights are differentiable too (a loss on the weights sends gradient to q and k)
q, k = (torch.randn(4, 6, generator=g, dtype=torch.float64).requires_grad_(True) for _ in range(2))
v = torch.randn(4, 3, generator=g, dtype=torch.float64)
_, w = scaled_dot_product_attention(q, k, v)
(w * torch.arange(16, dtype=torch.float64).view(4, 4)).sum().backward()
assert q.grad is not None and q.grad.abs().sum() > 0, "the weights must stay connected to q (do not detach them)"
# permuting keys and values together leaves the output unchanged; permuting queries permutes the output
q, k, v = (torch.randn(2, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
out, w = scaled_dot_product_attention(q, k, v)
perm = torch.tensor([3, 0, 4, 1, 2])
out_kv, w_kv = scaled_dot_product_attention(q, k[:, perm], v[:, perm])
assert_close(out_kv, out, rtol=1e-8, atol=1e-10, what="output after permuting keys and values together (should not change)")
assert_close(w_kv, w[..., perm], rtol=1e-8, atol=1e-10, what="weights after permuting the keys (columns permute)")
out_q, _ = scaled_dot_product_attention(q[:, perm], k, v)
assert_close(out_q, out[:, perm], rtol=1e-8, atol=1e-10, what="output after permuting the queries (rows permute)")
# inputs that require grad are not modified in place (autograd would refuse) and stay leaves
q, k, v = (torch.randn(3, 4, generator=g).requires_grad_(True) for _ in range(3))
before = [t.detach().clone() for t in (q, k, v)]
scaled_dot_product_attention(q, k, v)
assert all(torch.equal(t.detach(), b) for t, b in zip((q, k, v), before)), "q, k or v was modified in place"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Multi-head attention
#
# One attention gives each position *one* weighted average: one question asked of the sequence. A token
# often needs several at once (its subject, the previous word, the matching bracket). **Multi-head
# attention** runs $h$ attentions side by side, each in its own $d_\text{head} = d_\text{model}/h$
# dimensional subspace, and mixes their results with one output projection:
#
# $$
# \mathrm{head}_i = \mathrm{Attention}(X W_Q^{(i)}, X W_K^{(i)}, X W_V^{(i)}), \qquad
# \mathrm{MultiHead}(X) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W_O .
# $$
#
# In code, one `nn.Linear(d_model, d_model)` computes the queries of all heads at once; its output is then
# cut into heads along the feature axis:
#
# `(B, L, d_model)` → `view(B, L, h, d_head)` → `transpose(1, 2)` → `(B, h, L, d_head)`.
#
# Now the heads are just another batch axis, so `scaled_dot_product_attention` handles them all in one call
# (with $\sqrt{d_\text{head}}$ as the scale, because each head's dot products have $d_\text{head}$ terms).
# Afterwards, `transpose(1, 2)` back and `reshape(B, L, d_model)` glue the heads together before `out_proj`.
#
# Parameter count: four $d_\text{model} \times d_\text{model}$ weight matrices and four biases,
# $4(d_\text{model}^2 + d_\text{model})$, **whatever $h$ is**: more heads means narrower heads, not more
# weights, and the total compute stays the same.
#
# The split has one classic trap. `view(B, h, L, d_head)` gives the right *shape* but the wrong *content*:
# it slices the flat memory of one sequence, so a "position" of a head ends up holding features of a
# different position. Label every entry with $10 \times \text{position} + \text{feature}$ and look:

# %%
B, L, d_model, n_heads = 1, 3, 4, 2
d_head = d_model // n_heads
x = (10 * torch.arange(L)[:, None] + torch.arange(d_model)).expand(B, L, d_model)  # tens digit = position
right = x.view(B, L, n_heads, d_head).transpose(1, 2)
wrong = x.view(B, n_heads, L, d_head)
print("x[0] (rows = positions):\n", x[0])
print("correct split, head 0 (rows = positions 0, 1, 2; features 0-1):\n", right[0, 0])
print("view(B, h, L, d_head), head 0 -- row 1 holds features 2-3 of position 0:\n", wrong[0, 0])
merged = right.transpose(1, 2).reshape(B, L, d_model)
print("transpose back + reshape restores x:", torch.equal(merged, x))

# %% [markdown]
# ## Exercise 2 · `MultiHeadSelfAttention` (graded)
#
# Write the module `MultiHeadSelfAttention(d_model, n_heads)`:
#
# - raise `ValueError` when `d_model % n_heads != 0`;
# - keep exactly four projections, as attributes with these names, each an `nn.Linear(d_model, d_model)`
#   **with bias**: `q_proj`, `k_proj`, `v_proj` and `out_proj`. The hidden tests copy the weights of
#   `nn.MultiheadAttention(d_model, n_heads, batch_first=True)` into them (its `in_proj_weight` stacks the
#   query, key and value weights in that order) and compare the outputs;
# - `forward(x, mask=None)` takes `x` of shape `(B, L, d_model)` and returns the output tensor, shape
#   `(B, L, d_model)`: project, split into heads, attend, merge the heads, then apply `out_proj`. Your
#   `scaled_dot_product_attention` attends all heads in one call; now that you have written it,
#   `F.scaled_dot_product_attention` (or attention written inline) is fine here too;
# - `mask` is `None` or a boolean tensor with **`True` = may attend**, broadcastable to the per-head scores
#   `(B, n_heads, L, L)`: hand it to your attention function unchanged. A causal mask `(L, L)` and a
#   padding mask `(B, 1, 1, L)` must both work;
# - no dropout. You may keep the last attention weights on `self` if you like; nothing tests that.

# %% nbgrader={"grade": false, "grade_id": "mhsa", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with projections q_proj, k_proj, v_proj, out_proj (all d_model → d_model)."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        ### BEGIN SOLUTION
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        ### END SOLUTION

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, L, d_model); mask: bool, True = may attend, broadcastable to (B, n_heads, L, L)."""
        ### BEGIN SOLUTION
        B, L, _ = x.shape
        q = self.q_proj(x).view(B, L, self.n_heads, self.d_head).transpose(1, 2)  # (B, h, L, d_head)
        k = self.k_proj(x).view(B, L, self.n_heads, self.d_head).transpose(1, 2)
        v = self.v_proj(x).view(B, L, self.n_heads, self.d_head).transpose(1, 2)
        out, self.last_weights = scaled_dot_product_attention(q, k, v, mask)
        out = out.transpose(1, 2).reshape(B, L, self.d_model)                     # merge the heads
        return self.out_proj(out)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_mhsa_structure", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The four projections, the output shape, and the ValueError.
mha = MultiHeadSelfAttention(16, 4)
assert isinstance(mha, nn.Module), "MultiHeadSelfAttention must subclass nn.Module"
for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
    lin = getattr(mha, name, None)
    assert isinstance(lin, nn.Linear), f"expected an attribute {name} that is an nn.Linear, got {type(lin).__name__}"
    assert (lin.in_features, lin.out_features) == (16, 16), f"{name} should map d_model=16 to 16 features"
    assert lin.bias is not None, f"{name} needs a bias (nn.Linear's default bias=True)"
x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(3))
assert_shape(mha(x), (2, 5, 16), what="MultiHeadSelfAttention(16, 4) on x of shape (2, 5, 16)")
try:
    MultiHeadSelfAttention(10, 3)(torch.randn(1, 2, 10))
except ValueError:
    pass
else:
    raise AssertionError("MultiHeadSelfAttention(d_model=10, n_heads=3) must raise ValueError (10 % 3 != 0)")
### BEGIN HIDDEN TESTS
try:
    MultiHeadSelfAttention(12, 5)(torch.randn(1, 2, 12))
except ValueError:
    pass
else:
    raise AssertionError("a second d_model that n_heads does not divide must raise ValueError too")
m = MultiHeadSelfAttention(24, 6)
n_params = sum(p.numel() for p in m.parameters())
assert n_params == 4 * (24 * 24 + 24), \
    "parameter count for a second width: expected 4 * (d_model² + d_model), four weight matrices and four biases"
g = torch.Generator().manual_seed(4)
for d_model, n_heads, L in ((8, 1, 4), (8, 8, 4), (12, 3, 1), (12, 4, 7)):
    m = MultiHeadSelfAttention(d_model, n_heads)
    x = torch.randn(3, L, d_model, generator=g)
    y = m(x)
    assert_shape(y, (3, L, d_model), what=f"output shape (expected (B, L, d_model)) with {n_heads} head(s)")
    assert y.dtype == torch.float32, f"output dtype {y.dtype}, expected float32"
    y_masked = m(x, mask=torch.tril(torch.ones(L, L, dtype=torch.bool)))
    assert_shape(y_masked, (3, L, d_model), what=f"output shape with a causal (L, L) mask and {n_heads} head(s)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mhsa_matches_torch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# With nn.MultiheadAttention's weights copied in, the outputs agree.
def copy_from_torch(mine: nn.Module, ref: nn.MultiheadAttention) -> None:
    """in_proj_weight (3·d_model, d_model) holds the q, k, v weights in that order."""
    d = ref.embed_dim
    with torch.no_grad():
        for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
            getattr(mine, name).weight.copy_(ref.in_proj_weight[i * d:(i + 1) * d])
            getattr(mine, name).bias.copy_(ref.in_proj_bias[i * d:(i + 1) * d])
        mine.out_proj.weight.copy_(ref.out_proj.weight)
        mine.out_proj.bias.copy_(ref.out_proj.bias)


torch.manual_seed(5)
ref = nn.MultiheadAttention(16, 4, batch_first=True).eval()
mine = MultiHeadSelfAttention(16, 4).eval()
copy_from_torch(mine, ref)
x = torch.randn(2, 5, 16)
with torch.no_grad():
    expected = ref(x, x, x, need_weights=False)[0]
    got = mine(x)
assert_close(got, expected, rtol=1e-4, atol=1e-5, what="output vs nn.MultiheadAttention(16, 4) with the same weights")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(6)
for d_model, n_heads, B, L in ((16, 4, 2, 5), (24, 3, 3, 7), (8, 8, 2, 6), (12, 1, 2, 4), (32, 4, 1, 9)):
    torch.manual_seed(d_model * 100 + n_heads)
    ref = nn.MultiheadAttention(d_model, n_heads, batch_first=True, dtype=torch.float64).eval()
    with torch.no_grad():  # non-zero biases, so a missing or misplaced bias shows
        ref.in_proj_bias.normal_(0.0, 0.5, generator=g)
        ref.out_proj.bias.normal_(0.0, 0.5, generator=g)
    mine = MultiHeadSelfAttention(d_model, n_heads).double().eval()
    copy_from_torch(mine, ref)
    x = torch.randn(B, L, d_model, generator=g, dtype=torch.float64)
    causal = torch.tril(torch.ones(L, L, dtype=torch.bool))
    lengths = torch.randint(1, L + 1, (B,), generator=g)
    lengths[0] = L
    keep = torch.arange(L) < lengths[:, None]              # (B, L), True = real token
    with torch.no_grad():
        cases = {
            "no mask": (mine(x), ref(x, x, x, need_weights=False)[0]),
            "causal (L, L) mask": (mine(x, mask=causal),
                                   ref(x, x, x, attn_mask=~causal, need_weights=False)[0]),
            "padding (B, 1, 1, L) mask": (mine(x, mask=keep[:, None, None, :]),
                                          ref(x, x, x, key_padding_mask=~keep, need_weights=False)[0]),
            "causal and padding as one (B, 1, L, L) mask": (
                mine(x, mask=causal & keep[:, None, None, :]),
                ref(x, x, x, attn_mask=~causal, key_padding_mask=~keep, need_weights=False)[0]),
        }
    for case, (got, expected) in cases.items():
        assert_shape(got, (B, L, d_model), what=f"output, {case}, with {n_heads} head(s)")
        assert_close(got, expected, rtol=1e-6, atol=1e-8,
                     what=f"output vs nn.MultiheadAttention with {n_heads} head(s), {case} "
                          f"(nn.MultiheadAttention's boolean masks use True = blocked, so it gets ~mask)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mhsa_properties", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Without a mask, permuting the positions permutes the output (permutation equivariance).
g = torch.Generator().manual_seed(7)
torch.manual_seed(7)
mha = MultiHeadSelfAttention(12, 3).double()
x = torch.randn(2, 6, 12, generator=g, dtype=torch.float64)
perm = torch.tensor([4, 1, 5, 0, 3, 2])
with torch.no_grad():
    assert_close(mha(x[:, perm]), mha(x)[:, perm], rtol=1e-6, atol=1e-8,
                 what="mha(x[:, perm]) vs mha(x)[:, perm] (self-attention is permutation-equivariant)")
### BEGIN HIDDEN TESTS
mha = MultiHeadSelfAttention(16, 4).double()
x = torch.randn(3, 7, 16, generator=g, dtype=torch.float64)
for order, perm in (("a random order", torch.randperm(7, generator=g)), ("the reversed order", torch.arange(6, -1, -1))):
    with torch.no_grad():
        assert_close(mha(x[:, perm]), mha(x)[:, perm], rtol=1e-6, atol=1e-8,
                     what=f"permutation equivariance, positions in {order}")
# gradients reach the input and all four projections
xg = x.clone().requires_grad_(True)
x_before = x.clone()
(mha(xg) * torch.randn(3, 7, 16, generator=g, dtype=torch.float64)).sum().backward()
assert torch.equal(xg.detach(), x_before), "forward modified its input x in place"
assert xg.grad is not None and xg.grad.abs().sum() > 0, "no gradient reached the input x"
for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
    lin = getattr(mha, name)
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0, f"no gradient reached {name}.weight"
    assert lin.bias.grad is not None, f"no gradient reached {name}.bias"
# with a causal mask, changing later positions leaves earlier outputs alone, and does change the later ones
causal = torch.tril(torch.ones(7, 7, dtype=torch.bool))
x2 = x.clone()
x2[:, 4:] = torch.randn(3, 3, 16, generator=g, dtype=torch.float64)
with torch.no_grad():
    y, y2 = mha(x, mask=causal), mha(x2, mask=causal)
assert_close(y2[:, :4], y[:, :4], rtol=1e-8, atol=1e-10,
             what="causal mask: outputs at earlier positions after changing only later ones (must not change)")
assert (y2[:, 4:] - y[:, 4:]).abs().max() > 1e-3, "causal mask: the outputs at the changed positions should change"
# with a padding mask, real positions ignore what the padded positions hold
keep = torch.tensor([[True] * 7, [True] * 3 + [False] * 4, [True] * 5 + [False] * 2])
x3 = x.clone()
x3[1, 3:] = 100.0
x3[2, 5:] = -100.0
with torch.no_grad():
    y, y3 = mha(x, mask=keep[:, None, None, :]), mha(x3, mask=keep[:, None, None, :])
for b, n in ((0, 7), (1, 3), (2, 5)):
    assert_close(y3[b, :n], y[b, :n], rtol=1e-8, atol=1e-10,
                 what="padding mask: outputs of the real tokens after changing only the padded positions")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Why attention replaced RNNs
#
# An RNN reads a sequence one step at a time, $h_t = \tanh(W h_{t-1} + U x_t)$. Two consequences:
#
# - **Path length $O(L)$.** Information from $x_1$ reaches position $L$ only through $L-1$ applications of
#   the recurrence, and the gradient on the way back is a product of $L-1$ Jacobians. It shrinks (or
#   explodes) geometrically with the distance; LSTMs and GRUs slow this down but do not remove it.
#   In self-attention, output $L$ reads $x_1$ directly: **path length $O(1)$** for any pair of positions.
# - **Sequential computation.** $h_t$ cannot start before $h_{t-1}$ is done, so a layer needs $L$
#   dependent steps however many cores there are. Attention computes all $L$ outputs with a few large
#   matrix products, which is exactly what GPUs are built for. During training, where the whole target
#   sequence is known (with a causal mask hiding the future), every position is processed at once.
#
# | one layer on a known sequence of length $L$, width $d$ | RNN | self-attention |
# |---|---|---|
# | dependent (sequential) steps | $O(L)$ | $O(1)$ |
# | longest path between two positions | $O(L)$ | $O(1)$ |
# | compute | $O(L\,d^2)$ | $O(L^2 d)$ (plus $O(L\,d^2)$ for the projections) |
# | memory, training (kept for the backward pass) | $O(L\,d)$: every $h_t$, for backpropagation through time | $O(L\,d)$ activations plus $O(L^2)$ weights per head; $O(L\,d)$ in all with a fused kernel |
# | memory, inference on the whole sequence | $O(d)$: only the current state | $O(L^2)$ per head materialised; $O(L\,d)$ with a fused kernel (FlashAttention) |
# | memory, generating token by token | $O(d)$ state | $O(L\,d)$ key/value cache |
#
# So the RNN's famous $O(d)$ memory holds only at inference: training must keep all $L$ hidden states,
# because the backward pass through time needs each of them. Attention's price is the $L \times L$ score
# matrix: quadratic time in the sequence length, and quadratic memory unless a fused kernel such as
# FlashAttention computes the softmax tile by tile without storing the matrix (it still does $O(L^2 d)$
# work, and recomputes the tiles in the backward pass). That is the reason for FlashAttention, sliding
# windows and linear-attention variants. At generation time attention keeps a key/value cache that grows
# with the sequence, where an RNN keeps a fixed-size state. (Generation is sequential for both: the
# $O(1)$ row above is about processing a known sequence, as in training or when reading a prompt.)
#
# The path-length argument in numbers: the size of $\partial y_L / \partial x_1$, the gradient of the last
# output with respect to the first input, for an untrained `nn.RNN` and for your attention layer.

# %%
torch.manual_seed(0)
width = 32
print(f"{'L':>5} {'RNN':>12} {'attention':>12}    (norm of d y_L / d x_1)")
for L in (8, 32, 128):
    rnn = nn.RNN(width, width, batch_first=True).to(device)
    attention = MultiHeadSelfAttention(width, 4).to(device)
    x = torch.randn(1, L, width, device=device, requires_grad=True)
    y_rnn, _ = rnn(x)
    (grad_rnn,) = torch.autograd.grad(y_rnn[0, -1].sum(), x)
    (grad_att,) = torch.autograd.grad(attention(x)[0, -1].sum(), x)
    print(f"{L:5d} {grad_rnn[0, 0].norm().item():12.2e} {grad_att[0, 0].norm().item():12.2e}")

# %% [markdown]
# The RNN's gradient collapses geometrically (by $L = 128$ it underflows to 0 in float32); attention's falls
# only like $1/L$, because an untrained layer spreads its weight evenly over $L$ keys. Once trained, a
# head can put nearly all of its weight on the one position that matters, at any distance.
#
# ## 6. Attention is blind to order
#
# Nothing in $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$ refers to *where* a token sits: shuffle the rows of
# $X$ and the rows of the output are shuffled the same way. For any permutation matrix $P$,
#
# $$
# \mathrm{MultiHead}(PX) = P\, \mathrm{MultiHead}(X) \qquad \text{(permutation equivariance)}.
# $$

# %%
torch.manual_seed(0)
attention = MultiHeadSelfAttention(16, 4).to(device)
x = torch.randn(1, 6, 16, device=device)
perm = torch.randperm(6, device=device)
with torch.no_grad():
    print("attention(x[perm]) == attention(x)[perm]:",
          torch.allclose(attention(x[:, perm]), attention(x)[:, perm], atol=1e-6))

# %% [markdown]
# Good for sets, fatal for language: "dog bites man" and "man bites dog" would get the same outputs, just
# reordered. Transformers therefore add **positional information** to the inputs: learned position
# embeddings (used below), sinusoidal encodings or rotary embeddings (topic 27).
#
# To see it, train a tiny model on a **copy task**. Plain copying (output $i$ = input $i$) is too easy:
# the residual connection already hands each position its own token. So we copy in **reverse order**:
# the output at position $i$ must be the input token at position $L-1-i$. To fetch it, position $i$ has
# to know where it is and where its partner is, which only positional information can tell it.
#
# The model: a token embedding, optionally plus a learned position embedding, then *your*
# `MultiHeadSelfAttention` with a residual connection, then a linear read-out to the 10 digit classes.
# One attention layer, no MLP, $d_\text{model} = 16$, random digit sequences of length 12.
#
# ## Explorer
#
# Each run below trains that model for 100 Adam steps on the CPU (about a second) through the course's
# explorer core, `run(config, task)`; `positional` switches the position embedding on and off.

# %%
VOCAB_SIZE, SEQ_LEN, D_MODEL = 10, 12, 16


def reversal_data(cfg) -> tuple[torch.Tensor, ...]:
    """Random digit sequences, int64 (N, SEQ_LEN), and their reversals: 2,000 for training, 500 for validation."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, VOCAB_SIZE, (2500, SEQ_LEN), generator=g)
    y = x.flip(-1)
    return x[:2000], y[:2000], x[2000:], y[2000:]


class Reverser(nn.Module):
    """Embeddings (+ learned positions) → your attention, with a residual → linear read-out."""

    def __init__(self, n_heads: int, positional: bool):
        super().__init__()
        self.tok = nn.Embedding(VOCAB_SIZE, D_MODEL)
        self.pos = nn.Embedding(SEQ_LEN, D_MODEL) if positional else None
        self.attn = MultiHeadSelfAttention(D_MODEL, n_heads)
        self.readout = nn.Linear(D_MODEL, VOCAB_SIZE)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.tok(tokens)                                  # (B, L, D_MODEL)
        return h + self.pos.weight if self.pos is not None else h

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, L) int64 -> logits (B, L, VOCAB_SIZE)
        h = self.embed(tokens)
        return self.readout(h + self.attn(h))


def attention_maps(model: Reverser, tokens: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The per-head weights (B, n_heads, L, L) of model.attn, via its projections and your attention function."""
    h = model.embed(tokens)
    B, L, _ = h.shape
    split = lambda t: t.view(B, L, n_heads, -1).transpose(1, 2)  # noqa: E731
    with torch.no_grad():
        _, w = scaled_dot_product_attention(split(model.attn.q_proj(h)), split(model.attn.k_proj(h)),
                                            split(model.attn.v_proj(h)))
    return w


reversal_task = Task(
    name="reverse_copy_attention",
    build_model=lambda cfg: Reverser(cfg["n_heads"], cfg["positional"]),
    build_data=reversal_data,
    loss_fn=lambda logits, y: F.cross_entropy(logits.flatten(0, 1), y.flatten()),
    probe=lambda model, cfg, data: {"attn": attention_maps(model, data[2][:1], cfg["n_heads"]).flatten().tolist()},
    defaults={"positional": True, "n_heads": 4, "steps": 100, "lr": 2e-2, "batch_size": 32, "eval_every": 10},
    data_keys=(),
)
clear_cache()  # forget runs made with an earlier version of your module

histories = {pos: run({"positional": pos}, reversal_task) for pos in (True, False)}
fig, ax = plt.subplots(figsize=(6, 3.4))
for pos, h in histories.items():
    ax.plot(h.val_steps, h.val_loss, marker="o", ms=3, label=f"positional={pos}")
    print(f"positional={pos}: final validation loss {h.final_val_loss:.4f} nats ({h.seconds:.1f} s)")
ax.axhline(math.log(VOCAB_SIZE), color="0.6", ls="--", lw=1, label="guessing (ln 10)")
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("validation cross-entropy (nats)")
ax.set_title("Reverse-copy: attention needs to know positions")
ax.grid(alpha=0.3)
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# With positions, the loss sits on a plateau for a few dozen steps and then drops to almost zero: the
# heads have found the mirrored position. Without them it stalls near 2 nats: every position sees the same
# unordered bag of tokens plus its own, so the best it can do is guess from the bag. (That is still a
# little below $\ln 10$, because the answer is one of the other 11 tokens in the bag.)
#
# Now the interactive version: toggle `positional`, change `n_heads` (the width of each head shrinks as
# $16/h$), and compare with the faded earlier runs.

# %%
LossCurveExplorer(
    reversal_task,
    knobs=[Knob.toggle("positional", value=True), Knob.dropdown("n_heads", [1, 2, 4, 8], 4)],
    logy=True,
    prompt="Switch positional off: where will the loss stall? Then try n_heads=1 and 8.",
)

# %% [markdown]
# And what did the heads learn? Below are the attention weights of the trained model on one validation
# sequence. Columns are keys (the input digits), rows are queries, labelled with the digit each position
# must output. A perfect reverse-copy puts each row's weight on the anti-diagonal, where the key holds
# the wanted digit. Move the head slider.

# %%
x_val = reversal_data({})[2][0]
AttentionExplorer(
    lambda positional: torch.tensor(run({"positional": positional}, reversal_task).extras["attn"]).view(4, SEQ_LEN, SEQ_LEN),
    tokens=[str(t) for t in x_val.tolist()],
    query_tokens=[f"→{t}" for t in x_val.flip(-1).tolist()],
    knobs=[Knob.toggle("positional", value=True)],
    title="reverse-copy, 4 heads",
)

# %% [markdown]
# **What to try. Predict, then move the slider.**
# - Step through the four heads. Does each head cover the whole anti-diagonal, or do the heads share the
#   rows between them? (The output projection adds the heads up, so sharing is enough.)
# - Switch `positional` off in the heatmap. Without positions, what must be true of two keys that hold
#   the same digit? Of two rows whose positions hold the same digit (row $i$'s own digit is the key label
#   of column $i$)? Check both in the heatmap.
# - In the loss explorer, set `n_heads=8` (two dimensions per head) and `n_heads=1` (one 16-dimensional
#   head). Which learns faster, and why might a very narrow head struggle to point at one of 12 positions?

# %% [markdown]
# ## 7. PyTorch's attention, and the block around it
#
# **`nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, ..., batch_first=False)`** is the module you
# just wrote, plus dropout on the attention weights (in training mode only). It keeps the three input
# projections fused in one `in_proj_weight` of shape $(3d_\text{model}, d_\text{model})$, takes
# `(query, key, value)` so that the same module serves cross-attention, and is **sequence-first unless
# `batch_first=True`**. For self-attention pass the same tensor three times. It returns the weights
# **averaged over the heads** unless `average_attn_weights=False`; `need_weights=False` skips them and
# lets it use a fused kernel.
#
# **A fused QKV projection** is one `nn.Linear(d_model, 3 * d_model)` whose output is cut in three with
# `.chunk(3, dim=-1)`: the same parameters as three separate layers, one matrix product instead of three.
#
# **`F.scaled_dot_product_attention(q, k, v, attn_mask=None, ..., is_causal=False)`** computes the output
# of exercise 1 (not the weights; `True` = may attend, as here). On a GPU it dispatches to a fused
# kernel, such as FlashAttention or the memory-efficient one, when the inputs allow it, and falls back
# to the plain computation otherwise;
# `is_causal=True` applies the causal mask without your having to build one. With `enable_gqa=True` it also does
# **grouped-query attention (GQA)**: $H$ query heads share $H_{kv} < H$ key/value heads, each key/value
# head serving $H/H_{kv}$ consecutive query heads; $H_{kv} = 1$ is **multi-query attention (MQA)**. The
# key/value cache of generation shrinks by the factor $H/H_{kv}$.
#
# **Encoder or decoder.** An *encoder* (BERT) lets every token attend to every other (no mask besides
# padding), is trained to fill in masked tokens, and reads a text in one pass. A *decoder* (GPT) uses the
# causal mask `torch.tril(torch.ones(T, T))`, is trained to predict the next token at every position at
# once, and generates one token at a time.
#
# **The transformer block.** Attention is one half of a block; a position-wise MLP (the feed-forward
# network, width $4d_\text{model}$ in the original) is the other, each wrapped in a residual connection
# and a LayerNorm. Since GPT-2, most models use the **Pre-LN** order, $x \leftarrow x + \mathrm{Attn}(\mathrm{LN}(x))$,
# then $x \leftarrow x + \mathrm{FFN}(\mathrm{LN}(x))$, which keeps the residual path free of normalisation;
# the original Transformer and BERT use **Post-LN**, $x \leftarrow \mathrm{LN}(x + \mathrm{Attn}(x))$, which
# trains less stably at depth and typically needs learning-rate warm-up.

# %%
mha = nn.MultiheadAttention(512, 8, dropout=0.1, batch_first=True).to(device).eval()  # eval: no dropout
x = torch.randn(4, 20, 512, device=device)
with torch.no_grad():
    out, w = mha(x, x, x)                                  # self-attention: query = key = value = x
    _, w_heads = mha(x, x, x, average_attn_weights=False)
print("output", tuple(out.shape), "  weights, averaged over the heads", tuple(w.shape),
      "  per head", tuple(w_heads.shape), "  d_head =", 512 // 8)
print("in_proj_weight (q, k, v fused):", tuple(mha.in_proj_weight.shape),
      "  parameters:", sum(p.numel() for p in mha.parameters()), "= 4 * (512² + 512)")

# grouped-query attention: 8 query heads share 2 key/value heads (each serves 4 consecutive query heads)
q = torch.randn(2, 8, 20, 64, device=device)
k, v = (torch.randn(2, 2, 20, 64, device=device) for _ in range(2))
gqa = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
by_hand = F.scaled_dot_product_attention(q, k.repeat_interleave(4, dim=1), v.repeat_interleave(4, dim=1), is_causal=True)
print("GQA == each key/value head repeated for its 4 query heads:", torch.allclose(gqa, by_hand, atol=1e-5))


class PreLNBlock(nn.Module):
    """One Pre-LN transformer block: x + Attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads)  # yours
        self.ffn = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask)
        return x + self.ffn(self.ln2(x))


block = PreLNBlock(64, 8).to(device)
tokens = torch.randn(2, 10, 64, device=device)
causal = torch.tril(torch.ones(10, 10, dtype=torch.bool, device=device))
print("a decoder block keeps the shape:", tuple(block(tokens, causal).shape),
      f"  parameters: {sum(p.numel() for p in block.parameters()):,}")

# %% [markdown]
# ## Drills (graded)
#
# 1. `drill_n_params`: the number of parameters of `MultiHeadSelfAttention(d_model=64, n_heads=8)`.
# 2. `drill_weights_shape`: the shape (a tuple) of the attention weights inside that module for an input
#    of shape `(2, 10, 64)`.
# 3. `drill_score_std`: the standard deviation of an *unscaled* score $q \cdot k$ when $q$ and $k$ have
#    $d_k = 64$ independent components with mean 0 and variance 1.
# 4. `drill_fused_params`: the number of parameters of a fused QKV projection `nn.Linear(256, 768, bias=False)`
#    plus an output projection `nn.Linear(256, 256, bias=False)`.

# %% nbgrader={"grade": false, "grade_id": "drill", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
drill_n_params = 4 * (64 * 64 + 64)
drill_weights_shape = (2, 8, 10, 10)
drill_score_std = 8.0
drill_fused_params = 262_144
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_drill", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# Each answer has the right type (a number, or a tuple for the shape); hidden tests check the values.
assert isinstance(drill_n_params, (int, float)), "drill_n_params should be a number"
assert isinstance(drill_weights_shape, (tuple, list, torch.Size)), "drill_weights_shape should be a tuple of ints"
assert isinstance(drill_score_std, (int, float)), "drill_score_std should be a number"
assert isinstance(drill_fused_params, (int, float)), "drill_fused_params should be a number"
### BEGIN HIDDEN TESTS
assert abs(drill_n_params - 16640) < 1e-6, \
    "drill_n_params is not right: four d_model × d_model weight matrices plus four biases, whatever n_heads is"
assert tuple(drill_weights_shape) == (2, 8, 10, 10), \
    "drill_weights_shape is not right: the weights have one (L_q, L_k) matrix per example and per head"
assert abs(drill_score_std - 8.0) < 1e-6, "drill_score_std is not right: Var(q·k) = d_k, and the question asks for the std"
assert abs(drill_fused_params - 262144) < 1e-6, \
    "drill_fused_params is not right: count the weights of both layers (in_features × out_features each), no biases"
### END HIDDEN TESTS

# %% [markdown]
# ## Interview check
#
# Answer each in a few sentences, as you would out loud. These are graded by hand.
#
# **Q1.** A colleague's attention layer trains well with $d_\text{head} = 16$. They widen the heads to
# $d_\text{head} = 512$, and early training stalls; it turns out the $1/\sqrt{d_k}$ was left out. Explain
# the mechanism, and why the fix divides by $\sqrt{d_k}$ rather than by $d_k$.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q1", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# With components of roughly unit variance, a dot product of two $d_k$-dimensional vectors has variance
# $d_k$, so the raw scores spread with standard deviation $\sqrt{d_k}$, about 23 for $d_k = 512$ instead of 4
# for 16. The softmax of such spread-out logits is almost one-hot: each query attends to one arbitrary key,
# and the softmax Jacobian $\mathrm{diag}(a) - aa^\top$ is nearly zero, so hardly any gradient reaches
# $W_Q$ and $W_K$ and the attention pattern cannot be learned. Dividing by $\sqrt{d_k}$ restores unit
# variance for every width, which is exactly the size that keeps the softmax responsive. Dividing by $d_k$
# would shrink the scores to standard deviation $1/\sqrt{d_k}$: nearly uniform attention that has to be
# undone by growing the weights.

# %% [markdown]
# **Q2.** Why did self-attention replace RNNs for most sequence tasks? Give two advantages and one price it
# pays in return.

# %% [markdown] nbgrader={"grade": true, "grade_id": "interview_q2", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# First, path length: any two positions are connected by one attention step, so information and gradients
# travel between distant tokens without passing through $O(L)$ recurrent steps that shrink or blow them
# up. Second, parallelism: an RNN must compute $h_t$ after $h_{t-1}$, while attention computes every
# position of a layer with a few big matrix products, so training on long sequences uses GPUs fully
# (teacher forcing plus a causal mask keeps it autoregressive). The price is the $L \times L$ score matrix:
# time grows quadratically with the sequence length, and so does memory unless a fused kernel such as
# FlashAttention avoids storing the matrix; and generation keeps a key/value cache that grows with the
# sequence instead of an RNN's fixed-size state (whose $O(d)$ memory holds at inference only: training
# an RNN keeps all $L$ states for backpropagation through time). Attention is also blind to order, so
# positional information must be added explicitly.
