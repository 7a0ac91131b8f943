"""``reproduce alpha-selu``: AlphaDropout keeps a SELU network at mean 0 and variance 1; standard dropout does not.

A SELU network with LeCun-normal weights (N(0, 1 / fan_in)) is self-normalizing (Klambauer et al. 2017):
layer after layer its activations are pulled to mean 0 and variance 1. Standard (inverted) dropout after a
SELU keeps each activation's mean but scales its second moment by ``1 / (1 - p)``, so every layer pushes the
variance up and the fixed point moves; AlphaDropout (``core.engine.variants.AlphaDropout``) sends a dropped
unit to SELU's floor ``alpha' = -lambda * alpha`` and then applies the affine map ``a x + b``
(``alpha_affine``) that brings mean 0, variance 1 back for inputs at mean 0, variance 1.

The network is built here (``SeluStack``), not with ``core.engine.models.MLP``: the MLP allows at most 4
hidden layers and uses PyTorch's default Linear init, while self-normalization needs the LeCun-normal init
and depth to show. ``SeluStack`` draws every Linear's weights from N(0, 1 / fan_in) and its biases as 0
from a ``torch.Generator`` seeded with the seed, so seed s is the same network on every side. Inputs:
``n_examples`` rows of ``inputs`` standardized features, N(0, 1), drawn from the seed too; the network is in
training mode (dropout on), no training (the claim is about the forward pass at initialization).

Sides, paired over seeds (same weights, same inputs): ``none`` (no dropout), ``alpha`` (AlphaDropout p after
every SELU), ``standard`` (standard dropout p after every SELU). Measured, per seed: each layer's output
(after its SELU and dropout, what the next Linear reads) mean and variance, pooled over examples and units;
layer 0 is the input. Default p = 0.1, as the paper recommends for AlphaDropout (0.05 or 0.1).

Claims, fixed before looking:

- at the last layer, |variance - 1| is smaller with AlphaDropout than with standard dropout;
- at the last layer, |mean| is smaller with AlphaDropout than with standard dropout.

Signature: the last layer's mean and variance per side (averaged over seeds) against the theory (0 and 1),
and AlphaDropout's ``a`` and ``b`` at this p. Nothing is trained.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from core.analysis.verdicts import check_larger, combine, mean_se, num
from core.engine.config import check_number
from core.engine.dropout import Dropout
from core.engine.sweep import Progress
from core.engine.variants import AlphaDropout, alpha_affine
from core.labs.variants.common import (Cancelled, Clock, VariantResult, VariantSettings, cancelled_result,
                                       check_seeds, summary_rows)

KEY = "alpha-selu"
TITLE = "AlphaDropout: dropout that keeps a SELU network self-normalizing"
CLAIM = ("In a deep SELU network (LeCun-normal weights, standardized inputs), AlphaDropout after every SELU keeps "
         "the last layer's activations nearer mean 0 and variance 1 than standard dropout at the same p does.")
SIDES = ("none", "alpha", "standard")


@dataclass(frozen=True)
class Settings(VariantSettings):
    p: float = 0.1
    seeds: int = 8
    depth: int = 8
    width: int = 64
    inputs: int = 32
    n_examples: int = 2000

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, 0.9)
        check_seeds(self.seeds)
        check_number("depth", self.depth, 2, 64, integer=True)
        check_number("width", self.width, 8, 1024, integer=True)
        check_number("inputs", self.inputs, 2, 1024, integer=True)
        check_number("n_examples", self.n_examples, 50, 20000, integer=True)


class SeluStack(nn.Module):
    """``inputs -> width`` then ``depth - 1`` more ``width -> width`` Linears, each followed by SELU and
    ``drop`` (``none``: nothing, ``alpha``: AlphaDropout, ``standard``: Dropout). LeCun-normal weights
    N(0, 1 / fan_in), zero biases, drawn from ``torch.Generator().manual_seed(seed)``."""

    def __init__(self, seed: int, *, inputs: int, width: int, depth: int, drop: str, p: float):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.linears = nn.ModuleList()
        fan_in = inputs
        for _ in range(depth):
            layer = nn.utils.skip_init(nn.Linear, fan_in, width)  # no default init: the global RNG untouched
            with torch.no_grad():
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) / math.sqrt(fan_in))
                layer.bias.zero_()
            self.linears.append(layer)
            fan_in = width
        self.drops = nn.ModuleList(_drop(drop, p) for _ in range(depth))
        self.act = nn.SELU()

    def set_generator(self, generator: torch.Generator) -> None:
        for d in self.drops:
            if isinstance(d, Dropout):
                d.generator = generator

    def forward(self, x: torch.Tensor, on_layer: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
        for i, (linear, drop) in enumerate(zip(self.linears, self.drops)):
            x = drop(self.act(linear(x)))
            if on_layer is not None:
                on_layer(i + 1, x)
        return x


def _drop(kind: str, p: float) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "alpha":
        return AlphaDropout(p)
    if kind == "standard":
        return Dropout(p)
    raise ValueError(f"drop must be one of {', '.join(SIDES)}; got {kind!r}")


def inputs_of(s: Settings, seed: int) -> torch.Tensor:
    """Standardized inputs, N(0, 1), from the seed alone (the same on every side)."""
    return torch.randn((s.n_examples, s.inputs), generator=torch.Generator().manual_seed(1_000_003 + seed))


def layer_moments(s: Settings, side: str, seed: int, tick: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """One seed, one side: ``{"mean": [...], "var": [...]}`` for layers 0 (the input) to ``depth``."""
    net = SeluStack(seed, inputs=s.inputs, width=s.width, depth=s.depth, drop=side, p=s.p).train()
    net.set_generator(torch.Generator().manual_seed(2_000_003 + seed))
    x = inputs_of(s, seed)
    means, variances = [float(x.mean())], [float(x.var())]

    def record(_: int, h: torch.Tensor) -> None:
        means.append(float(h.mean()))
        variances.append(float(h.var()))
        if tick is not None:
            tick()

    with torch.no_grad():
        net(x, record)
    return {"mean": means, "var": variances}


def work(settings: Settings | None = None) -> float:
    s = settings or Settings()
    per_example = s.inputs * s.width + (s.depth - 1) * s.width**2
    return len(SIDES) * s.seeds * s.n_examples * per_example


def judge(abs_mean: dict[str, dict[int, float]], var_gap: dict[str, dict[int, float]]) -> tuple[tuple[str, Any], ...]:
    """The two claims from the last layer's ``|mean|`` and ``|var - 1|``, ``{side: {seed: value}}``."""
    return (
        ("alpha keeps the variance at 1", combine([check_larger(
            "at the last layer, |variance - 1| is smaller with AlphaDropout than with standard dropout",
            var_gap["standard"], var_gap["alpha"], num, ("standard", "alpha"))])),
        ("alpha keeps the mean at 0", combine([check_larger(
            "at the last layer, |mean| is smaller with AlphaDropout than with standard dropout",
            abs_mean["standard"], abs_mean["alpha"], num, ("standard", "alpha"))])),
    )


def run(settings: Settings | None = None, progress: Callable[[Progress], None] | None = None,
        cancelled: Callable[[], bool] | None = None) -> VariantResult:
    s = settings or Settings()
    clock = Clock(len(SIDES) * s.seeds * s.depth, progress, cancelled)
    moments: dict[str, dict[int, dict[str, list[float]]]] = {side: {} for side in SIDES}
    try:
        for seed in range(s.seeds):
            for side in SIDES:
                moments[side][seed] = layer_moments(s, side, seed, clock.tick)
    except Cancelled:
        return cancelled_result(KEY, TITLE, CLAIM, s, clock)
    last = {side: {"mean": {seed: m["mean"][-1] for seed, m in moments[side].items()},
                   "var": {seed: m["var"][-1] for seed, m in moments[side].items()}} for side in SIDES}
    abs_mean = {side: {seed: abs(v) for seed, v in last[side]["mean"].items()} for side in SIDES}
    var_gap = {side: {seed: abs(v - 1.0) for seed, v in last[side]["var"].items()} for side in SIDES}
    verdicts = judge(abs_mean, var_gap)
    rows = summary_rows({side: {"last_mean": last[side]["mean"], "last_var": last[side]["var"],
                                "last_abs_mean": abs_mean[side], "last_var_gap": var_gap[side]} for side in SIDES})
    layers = [float(i) for i in range(s.depth + 1)]
    series: dict[str, Any] = {}
    for side in SIDES:
        series[side] = {"layer": layers, **{key: [mean_se(m[key][i] for m in moments[side].values())[0]
                                                  for i in range(s.depth + 1)] for key in ("mean", "var")}}
    a, b = alpha_affine(s.p)
    signature: dict[str, float] = {"theory_mean": 0.0, "theory_var": 1.0, "alpha_a": a, "alpha_b": b}
    for side in SIDES:
        signature[f"{side}_last_mean"] = series[side]["mean"][-1]
        signature[f"{side}_last_var"] = series[side]["var"][-1]
    return VariantResult(KEY, TITLE, CLAIM, s, rows, verdicts, series=series, signature=signature,
                         elapsed=clock.elapsed)
