"""Small model builders shared by the explorers and the notebooks' demos.

- :func:`make_mlp`: ``depth`` hidden ``Linear → activation → Dropout`` blocks and a linear head.
- :func:`init_weights_`: re-initialise every ``nn.Linear`` of a model by a named scheme, the
  ``model.apply``-free way a knob can pick it (topic 05 teaches ``model.apply(init_fn)``).
- :class:`FastDropout`: ``nn.Dropout`` with a cheaper random path on the CPU.
- :data:`ACTIVATIONS` and :data:`INIT_SCHEMES`: the names the two builders accept.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "INIT_SCHEMES", "FastDropout", "init_weights_", "make_mlp"]

#: Activation names for :func:`make_mlp`.
ACTIVATIONS: Mapping[str, Callable[[], nn.Module]] = MappingProxyType({
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU, "linear": nn.Identity,
})
#: Weight-initialisation schemes for :func:`init_weights_`.
INIT_SCHEMES = ("default", "zeros", "normal_1", "normal_0.01", "xavier", "he")


def init_weights_(model: nn.Module, scheme: str) -> nn.Module:
    """Re-initialise every ``nn.Linear`` of ``model`` in place and return the model.

    Schemes (biases become 0 except for ``"default"``):

    - ``"default"``: PyTorch's own, ``U(±1/√fan_in)`` (``nn.Linear.reset_parameters``).
    - ``"zeros"``: all weights 0; every hidden unit stays identical (symmetry is never broken).
    - ``"normal_1"``: ``N(0, 1)``; activations grow about ``√fan_in`` per layer.
    - ``"normal_0.01"``: ``N(0, 0.01²)``; activations shrink towards 0 layer after layer.
    - ``"xavier"``: ``N(0, 2/(fan_in + fan_out))`` (Glorot & Bengio 2010; ``nn.init.xavier_normal_``).
    - ``"he"``: ``N(0, 2/fan_in)`` (He et al. 2015; ``nn.init.kaiming_normal_``, ReLU gain).

    Raises:
        ValueError: for an unknown scheme (the message lists :data:`INIT_SCHEMES`).
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of {list(INIT_SCHEMES)}")
    if scheme == "default":
        return model
    for m in model.modules():
        if isinstance(m, nn.Linear):
            if scheme == "zeros":
                nn.init.zeros_(m.weight)
            elif scheme == "normal_1":
                nn.init.normal_(m.weight, 0.0, 1.0)
            elif scheme == "normal_0.01":
                nn.init.normal_(m.weight, 0.0, 0.01)
            elif scheme == "xavier":
                nn.init.xavier_normal_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class FastDropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with the mask drawn by ``torch.rand_like(x) >= p``.

    Same inverted dropout as ``nn.Dropout`` (Srivastava et al. 2014): in training mode each
    element is zeroed with probability ``p`` and the survivors are scaled by ``1/(1-p)``; in
    eval mode it is the identity. Only the random-number path differs: on the CPU,
    ``rand_like`` is about 3× faster than the ``bernoulli_`` that ``F.dropout`` uses for small
    tensors, which matters when an explorer retrains on every slider move.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * (torch.rand_like(x) >= self.p) / (1.0 - self.p)


def make_mlp(in_features: int, n_classes: int, width: int = 64, depth: int = 2, activation: str = "relu",
             dropout: float = 0.0, init: str = "default") -> nn.Sequential:
    """``depth`` hidden blocks of ``Linear(width) → activation → Dropout(p)``, then ``Linear(n_classes)``.

    Input float32 (N, in_features); output logits (N, n_classes). Dropout modules
    (:class:`FastDropout`) are left out when ``dropout == 0``.

    Raises:
        ValueError: for ``depth < 1``, ``width < 1``, ``dropout`` outside [0, 1), or an unknown
            activation or init scheme (the message lists the valid ones).
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {list(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    d = in_features
    for _ in range(depth):
        layers += [nn.Linear(d, width), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(FastDropout(dropout))
        d = width
    layers.append(nn.Linear(d, n_classes))
    return init_weights_(nn.Sequential(*layers), init)
