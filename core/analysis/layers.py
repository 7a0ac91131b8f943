"""An MLP run layer by layer with dropout off: the hidden layers' modules, their activations, one layer
checked by index. The measurements of ``core.analysis.coadaptation`` read a model through these."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from core.engine.dropout import dropout_modules, eval_mode


def layer_modules(model: nn.Module) -> list[list[nn.Module]]:
    """The hidden layers' modules: (Linear, (BatchNorm1d), activation, Dropout) each."""
    return [list(layer.modules) for layer in model.hidden_layers()]


def run_modules(modules: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for module in modules:
        x = module(x)
    return x


def check_layer(model: nn.Module, layer: int) -> int:
    count = len(layer_modules(model))
    if not 0 <= layer < count:
        raise ValueError(f"layer must be in 0..{count - 1} (the model has {count} hidden layers), got {layer}")
    return count


@contextmanager
def dropout_off(model: nn.Module) -> Iterator[None]:
    """``eval_mode`` and no gradients inside; every module's previous mode (and MC flag) after."""
    training = [(m, m.training) for m in model.modules()]
    mc = [(d, d.mc) for d in dropout_modules(model)]
    eval_mode(model)
    try:
        with torch.no_grad():
            yield
    finally:
        for m, flag in training:
            m.training = flag
        for d, flag in mc:
            d.mc = flag


def activations_off(model: nn.Module, X: torch.Tensor) -> list[torch.Tensor]:
    """Post-activation outputs of every hidden layer; the caller has switched dropout off."""
    x = model.input_dropout(X)
    outputs = []
    for layer in layer_modules(model):
        h = run_modules(layer[:-1], x)
        outputs.append(h)
        x = layer[-1](h)
    return outputs


def hidden_activations(model: nn.Module, X: torch.Tensor) -> list[torch.Tensor]:
    """One forward pass with dropout off: each hidden layer's activations, ``[N, width]`` each."""
    with dropout_off(model):
        return activations_off(model, X)
