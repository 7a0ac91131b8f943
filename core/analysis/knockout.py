"""Knock-out damage: what switching off one hidden unit at a time costs a trained network.

For each unit of a hidden layer: the increase
of the cross-entropy loss and the drop of accuracy when that unit alone is switched off
(its output set to 0) at evaluation. A network that spreads what it knows over many
units loses little when one goes; a co-adapted one can lose a lot. The network runs
once up to the layer; the next Linear's pre-activation with unit k off is then a rank-1
correction of the intact one, ``z_k = z - g[:, k] W[:, k]``, which is no change at all on
the samples where the unit is already 0; the rest of the network runs once on all the
(sample, unit) pairs that do change, as one batch, not U separate forward passes.

``knocked_out`` switches chosen units off in a model for a while (a learner's clicks). Measured on the
given set with dropout OFF; the model's previous mode is restored afterwards (``core.analysis.layers``).
Everything returned is plain data; nothing here draws or imports Streamlit.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn

from core.analysis.layers import activations_off, check_layer, dropout_off, layer_modules, run_modules
from core.engine.plain import read_only

CHUNK_ELEMENTS = 1 << 17
"""Most values (128 K floats, 512 KB) in one chunk of knocked-out rows. It bounds memory (128 units x
400 samples x 128 next units is 6.5 M values in all) and keeps a chunk in cache: on the default model,
chunks of 64-128 K values took 7-9 ms a call, 1 M values 14 ms, 8 M values 22 ms (the work is gathers
and element-wise passes over memory, not arithmetic)."""


# -- knock-out damage ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Knockout:
    """What switching off each unit of one hidden layer, alone, costs on a set.

    ``loss_increase[k]`` = mean cross-entropy with unit k at 0 minus ``base_loss``;
    ``acc_drop[k]`` = ``base_acc`` minus the accuracy with unit k at 0. Either may be
    negative (a unit that hurt). ``base_*`` are the intact network's numbers.
    """

    layer: int
    loss_increase: np.ndarray  # [units]
    acc_drop: np.ndarray  # [units]
    base_loss: float
    base_acc: float

    @property
    def mean(self) -> float:
        """Mean loss increase over the layer's units."""
        return float(self.loss_increase.mean())

    @property
    def max(self) -> float:
        """Largest loss increase: the unit the network can least do without."""
        return float(self.loss_increase.max())

    @property
    def max_acc_drop(self) -> float:
        return float(self.acc_drop.max())

    @property
    def worst_unit(self) -> int:
        return int(self.loss_increase.argmax())


def _per_sample(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and correctness (1.0 or 0.0) of each row of ``logits`` [rows, classes]."""
    loss = -logits.log_softmax(-1).gather(1, y.unsqueeze(1)).squeeze(1)
    return loss, (logits.argmax(1) == y).to(logits.dtype)


def knockout_from(model: nn.Module, h: torch.Tensor, y: torch.Tensor, layer: int) -> Knockout:
    """Knock-out damage from the layer's activations ``h`` [N, U]; the caller has switched dropout off.

    Unit k at 0 changes the next pre-activation of sample n by ``-g[n, k] W[:, k]``, and nothing
    when ``g[n, k]`` is already 0 (a ReLU unit that is off on that sample). So only the (sample,
    unit) pairs with ``g[n, k] != 0`` are run through the rest of the network, all of them as one
    batch of rows (in chunks of at most ``CHUNK_ELEMENTS`` values); each pair's change of loss and
    correctness is then summed into its unit. For ReLU layers that skips about half the work.
    """
    layers = layer_modules(model)
    g = layers[layer][-1](h)  # what the next Linear sees (classic dropout scales at evaluation)
    if layer + 1 < len(layers):
        nxt, tail = layers[layer + 1][0], layers[layer + 1][1:] + [m for lay in layers[layer + 2 :] for m in lay]
        tail.append(model.out)
    else:
        nxt, tail = model.out, []
    z = nxt(g)  # [N, W'], the intact network's next pre-activation
    base_loss, base_correct = _per_sample(run_modules(tail, z), y)
    n, units = g.shape
    weight_t = nxt.weight.t()  # [U, W']: row k is what unit k adds to z per unit of its output
    rows, cols = torch.nonzero(g, as_tuple=True)
    loss_change = torch.zeros(units, dtype=torch.float64, device=g.device)
    lost_correct = torch.zeros(units, dtype=torch.float64, device=g.device)
    chunk = max(1, CHUNK_ELEMENTS // max(1, z.shape[1]))
    for start in range(0, rows.numel(), chunk):
        r, k = rows[start : start + chunk], cols[start : start + chunk]
        z_k = torch.addcmul(z.index_select(0, r), g[r, k].unsqueeze(1), weight_t.index_select(0, k), value=-1.0)
        # Every module after the Linear acts row by row at evaluation, so all pairs share one batch.
        loss, correct = _per_sample(run_modules(tail, z_k), y[r])
        loss_change.index_add_(0, k, (loss - base_loss[r]).double())
        lost_correct.index_add_(0, k, (base_correct[r] - correct).double())
    return Knockout(
        layer=layer,
        loss_increase=read_only((loss_change / n).cpu().numpy()),
        acc_drop=read_only((lost_correct / n).cpu().numpy()),
        base_loss=float(base_loss.double().mean()),
        base_acc=float(base_correct.double().mean()),
    )


def knockout_damage(model: nn.Module, X: torch.Tensor, y: torch.Tensor, layer: int = 0) -> Knockout:
    """For each unit of hidden layer ``layer``: loss increase and accuracy drop on (X, y) with it at 0."""
    check_layer(model, layer)
    with dropout_off(model):
        h = activations_off(model, X)[layer]
        return knockout_from(model, h, y, layer)


@contextmanager
def knocked_out(model: nn.Module, layer: int, units: int | list[int]) -> Iterator[nn.Module]:
    """Inside the block, the given unit(s) of hidden layer ``layer`` output 0 in every forward
    pass (their activation, before dropout): for drawing a decision map or measuring accuracy
    with a unit switched off. Training is untouched outside the block."""
    check_layer(model, layer)
    off = [units] if isinstance(units, int) else list(units)
    width = layer_modules(model)[layer][0].out_features
    if any(not 0 <= u < width for u in off):
        raise ValueError(f"unit must be in 0..{width - 1} for hidden layer {layer}, got {off}")
    activation = layer_modules(model)[layer][-2]

    def zero(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[..., off] = 0.0
        return output

    handle = activation.register_forward_hook(zero)
    try:
        yield model
    finally:
        handle.remove()
