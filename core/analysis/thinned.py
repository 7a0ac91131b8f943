"""A dropout MLP read frozen, and its sampled thinned networks: the fast path of ``core.analysis.mc``.

**Why it is fast.** Everything before the first dropout with p > 0 is deterministic and is
computed once per input set (with ``p_input = 0``: the first Linear and its activation).
Each pass then runs a *thinned* network: the rows and columns of dropped units are left out
of the weights (survivors' scale ``1/keep`` folded in; classic dropout: no scale), so a pass
at p = 0.5 does about a quarter of the hidden-to-hidden multiply-adds, in float32. Points go
in chunks of a few thousand that stay in cache while all T passes and the per-point
statistics run over them. BatchNorm (evaluating) is folded into its Linear. ``MCMapCache``
keeps the last map: a redraw with nothing changed returns the same object, a larger T runs
only the new passes.

**Models and threads.** Everything reads a ``FrozenMLP`` (``freeze``): a copy of the weights
(BatchNorm folded), drop probabilities, classic flags and activations, taken without
touching any mode, generator or mask of the model. Nothing here changes a model except
``mc_predict_reference``, which restores every mode, generator and mask it touched. A model
that another thread trains must be frozen in that thread between two steps; the frozen copy
may then be used anywhere. Forward hooks (a knock-out) are not applied.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.engine.models import HiddenLayer
from core.engine.variants import uses_variants

CHUNK_ELEMENTS = 1 << 19
"""Values (512 K floats, 2 MB: one core's L2 here) in a chunk of points' activations or logits. On the
default model (128 units) that is 4,096 points. Measured on a 200x200 map, T = 50, 1 thread: chunks of
1,024-8,192 points 0.25-0.26 s; each pass over the whole map at once (10 MB per activation) 0.41 s; all
passes stacked into batched matmuls padded to the largest kept count 0.39-0.46 s."""

_ACTIVATIONS: dict[type, Callable[[nn.Module], str]] = {
    nn.ReLU: lambda m: "relu",
    nn.Tanh: lambda m: "tanh",
    nn.Sigmoid: lambda m: "sigmoid",
    nn.SELU: lambda m: "selu",
    nn.GELU: lambda m: "gelu" if m.approximate == "none" else "gelu_tanh",
}
_IN_PLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "sigmoid": torch.sigmoid_,
    "selu": lambda z: F.selu(z, inplace=True),
    "gelu": F.gelu,
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
}


# -- the network, frozen ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FrozenMLP:
    """What the MC engine reads from an MLP, copied: Linear i takes dropout i's output.

    ``linears[i] = (weight [out, in], bias [out])`` (BatchNorm folded in), input side first, the
    output layer last; ``activations[i]`` follows hidden Linear i. ``p[i]`` and ``classic[i]`` are
    dropout i's: the input dropout first, then one per hidden layer. ``fingerprint`` is a hash of
    all of it: equal fingerprints, equal predictions.
    """

    linears: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    activations: tuple[str, ...]
    p: tuple[float, ...]
    classic: tuple[bool, ...]
    fingerprint: str

    @property
    def widths(self) -> tuple[int, ...]:
        """The width each dropout sees: inputs, then each hidden layer."""
        return tuple(w.shape[1] for w, _ in self.linears)

    @property
    def num_classes(self) -> int:
        return int(self.linears[-1][0].shape[0])

    @property
    def device(self) -> torch.device:
        return self.linears[0][0].device

    def __reduce__(self) -> tuple:
        """It crosses processes as plain numpy arrays (on the CPU), made tensors again where it lands."""
        arrays = tuple((w.detach().cpu().numpy(), b.detach().cpu().numpy()) for w, b in self.linears)
        return _frozen_from_arrays, (arrays, self.activations, self.p, self.classic, self.fingerprint)


def _frozen_from_arrays(arrays: tuple[tuple[np.ndarray, np.ndarray], ...], activations: tuple[str, ...],
                        p: tuple[float, ...], classic: tuple[bool, ...], fingerprint: str) -> FrozenMLP:
    linears = tuple((torch.from_numpy(np.array(w)), torch.from_numpy(np.array(b))) for w, b in arrays)
    return FrozenMLP(linears, activations, p, classic, fingerprint)


def _hidden_layers(model: nn.Module) -> list[HiddenLayer]:
    """The MLP's hidden layers, refusing an activation the thinned passes cannot run."""
    layers = model.hidden_layers()
    for layer in layers:
        if type(layer.activation) not in _ACTIVATIONS:
            raise ValueError(f"the MC engine runs the activations {', '.join(t.__name__ for t in _ACTIVATIONS)}, "
                             f"not {type(layer.activation).__name__}")
    return layers


def dropout_settings(model: nn.Module) -> tuple[tuple[float, ...], tuple[bool, ...], tuple[str, ...]]:
    layers = _hidden_layers(model)
    drops = [model.input_dropout] + [layer.dropout for layer in layers]
    acts = tuple(_ACTIVATIONS[type(layer.activation)](layer.activation) for layer in layers)
    return tuple(d.p for d in drops), tuple(bool(d.classic) for d in drops), acts


def _linear(linear: nn.Linear, bn: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    weight = linear.weight.detach().to(torch.float32, copy=True)
    bias = torch.zeros(weight.shape[0], device=weight.device) if linear.bias is None else linear.bias.detach()
    bias = bias.to(torch.float32, copy=True)
    if bn is not None:  # evaluating BatchNorm is a per-unit affine map: fold it into the Linear
        if bn.running_mean is None:
            raise ValueError("BatchNorm without running statistics depends on the batch: no MC map")
        scale = torch.rsqrt(bn.running_var.detach().float() + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.detach().float()
        shift = -bn.running_mean.detach().float() * scale
        if bn.bias is not None:
            shift = shift + bn.bias.detach().float()
        weight, bias = weight * scale[:, None], bias * scale + shift
    return weight.contiguous(), bias.contiguous()


@torch.no_grad()
def freeze(model: nn.Module | FrozenMLP) -> FrozenMLP:
    """Copy what MC inference needs from ``model`` (an MLP of ``core.engine.models``); touches no mode."""
    if isinstance(model, FrozenMLP):
        return model
    if uses_variants(model):
        raise ValueError("the thinned passes run standard dropout only; this model has another dropout variant "
                         "(mc_predict falls back to the model's own passes for it)")
    p, classic, acts = dropout_settings(model)
    linears = [_linear(layer.linear, layer.batchnorm) for layer in _hidden_layers(model)]
    linears.append(_linear(model.out, None))
    digest = hashlib.blake2b(repr((p, classic, acts)).encode(), digest_size=16)
    for weight, bias in linears:
        for tensor in (weight, bias):
            digest.update(repr(tuple(tensor.shape)).encode())
            digest.update(memoryview(tensor.cpu().numpy()))
    return FrozenMLP(tuple(linears), acts, p, classic, digest.hexdigest())


# -- passes ---------------------------------------------------------------------------------------
def first_stochastic(net: FrozenMLP) -> int | None:
    return next((i for i, p in enumerate(net.p) if p > 0), None)


def as_points(X: Any, net: FrozenMLP) -> torch.Tensor:
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X)
    X = X.to(device=net.device, dtype=torch.float32)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] != net.widths[0]:
        raise ValueError(f"inputs must be [N >= 1, {net.widths[0]}], got shape {tuple(X.shape)}")
    return X


def run_linears(net: FrozenMLP, first: int, last: int, G: torch.Tensor, scale_eval: bool = False) -> torch.Tensor:
    """Linears ``first..last-1`` (activations after hidden ones) on features-major ``G`` [width, n].
    ``scale_eval``: multiply each input by dropout's evaluation factor (classic: keep)."""
    for i in range(first, last):
        weight, bias = net.linears[i]
        if scale_eval and net.classic[i] and net.p[i] > 0:
            weight = weight * (1.0 - net.p[i])
        G = torch.addmm(bias[:, None], weight, G)
        if i < len(net.activations):
            G = _IN_PLACE[net.activations[i]](G)
    return G


def keep_scale(net: FrozenMLP, i: int) -> float:
    """What dropout i multiplies its survivors by while sampling: 1/keep (inverted) or 1 (classic)."""
    return 1.0 if net.classic[i] else 1.0 / (1.0 - net.p[i])


def thinned_pass(net: FrozenMLP, first: int, seed: int, t: int) -> tuple[torch.Tensor, list]:
    """Pass t's sampled network from dropout ``first`` on: the kept units of dropout ``first``
    and, per Linear, (weight, bias column, activation) with dropped rows and columns left out.
    Dropout i keeps unit k when a uniform draw is >= p[i]; the draws come from (seed, t) only."""
    rng = np.random.default_rng([seed, t])
    keep: list[torch.Tensor | None] = []
    for i in range(first, len(net.p)):
        draws = rng.random(net.widths[i]) if net.p[i] > 0 else None
        keep.append(None if draws is None else torch.from_numpy(np.flatnonzero(draws >= net.p[i])).to(net.device))
    layers = []
    for i in range(first, len(net.linears)):
        weight, bias = net.linears[i]
        rows = keep[i + 1 - first] if i + 1 < len(net.linears) else None
        if rows is not None:
            weight, bias = weight.index_select(0, rows), bias.index_select(0, rows)
        if keep[i - first] is not None:
            weight = weight.index_select(1, keep[i - first]) * keep_scale(net, i)
        act = _IN_PLACE[net.activations[i]] if i < len(net.activations) else None
        layers.append((weight, bias[:, None], act))
    return keep[0], layers


def chunk_size(net: FrozenMLP, passes: int) -> int:
    return max(64, CHUNK_ELEMENTS // max(max(net.widths), passes * net.num_classes))


def pass_logits(net: FrozenMLP, first: int, H: torch.Tensor, passes: list) -> Iterator[tuple[int, int, torch.Tensor]]:
    """For each chunk of points: ``(start, stop, logits [len(passes), C, stop - start])``."""
    n = H.shape[1]
    step = chunk_size(net, len(passes))
    for start in range(0, n, step):
        stop = min(n, start + step)
        chunk = H[:, start:stop]
        Z = torch.empty(len(passes), net.num_classes, stop - start, device=H.device)
        for t, (keep, layers) in enumerate(passes):
            G = chunk.index_select(0, keep) if keep is not None else chunk
            for weight, bias, act in layers[:-1]:
                G = act(torch.addmm(bias, weight, G))
            weight, bias, _ = layers[-1]
            torch.addmm(bias, weight, G, out=Z[t])
        yield start, stop, Z
