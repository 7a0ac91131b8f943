"""The numbers behind the question bank's numeric answers (``lessons/bank``), computed by the engine's own
dropout modules and the analysis code, so that a question's answer cannot disagree with what the labs train
with. Every function takes plain numbers (the bank's ``answer.args``) and returns one number; ``ANSWERS``
names them for the loader (``core.drills.load_bank``).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from core.analysis.mc import entropy, mutual_information
from core.engine.dropout import Dropout
from core.engine.spatial import BlockDropout, block_gamma

# -- one unit through the engine's Dropout ---------------------------------------------------------


def _one(x: float, p: float, *, classic: bool, training: bool) -> float:
    """Push one value through our Dropout with a mask that keeps it (computed, not retyped)."""
    layer = Dropout(p, classic=classic)
    layer.train(training)
    if not training:
        return layer(torch.tensor([x], dtype=torch.float64)).item()
    # A survivor: draw until the unit is kept (p < 1, so this ends), exactly as training would.
    layer.generator = torch.Generator().manual_seed(0)
    while True:
        out = layer(torch.tensor([x], dtype=torch.float64))
        if layer.last_mask is None or bool(layer.last_mask[0]):
            return out.item()


def keep_from_drop(p: float) -> float:
    """PyTorch's p (drop probability) -> the 2014 paper's p / TF1's keep_prob (retain probability)."""
    return round(1.0 - p, 10)


def drop_from_keep(keep: float) -> float:
    """The 2014 paper's p / TF1's keep_prob (retain probability) -> PyTorch's p (drop probability)."""
    return round(1.0 - keep, 10)


def inverted_train_output(x: float, p: float) -> float:
    """What a SURVIVING unit outputs during training with inverted dropout: x / (1 - p)."""
    return float(_one(x, p, classic=False, training=True))


def inverted_eval_output(x: float, p: float) -> float:
    """What a unit outputs at evaluation with inverted dropout: x, whatever p."""
    return float(_one(x, p, classic=False, training=False))


def classic_eval_output(x: float, p: float) -> float:
    """What a unit outputs at evaluation with classic dropout: x * (1 - p)."""
    return float(_one(x, p, classic=True, training=False))


def classic_train_output(x: float, p: float) -> float:
    """What a SURVIVING unit outputs during training with classic dropout: x, unscaled."""
    return float(_one(x, p, classic=True, training=True))


def survivor_gradient(g: float, p: float) -> float:
    """The gradient that reaches a kept unit's input through inverted dropout, given ``g`` at its output."""
    layer = Dropout(p)
    layer.generator = torch.Generator().manual_seed(0)
    while True:
        x = torch.ones(1, dtype=torch.float64, requires_grad=True)
        layer(x).backward(torch.tensor([g], dtype=torch.float64))
        if bool(layer.last_mask[0]):
            return float(x.grad.item())


def expected_dropped(n_units: int, p: float) -> float:
    """Expected number of units dropped in a layer of ``n_units``: n * p."""
    return n_units * p


def expected_kept(n_units: int, p: float) -> float:
    """Expected number of units that survive in a layer of ``n_units``: n * (1 - p)."""
    return n_units * (1 - p)


def measured_drop_fraction(p: float, n: int = 100_000, seed: int = 0) -> float:
    """The fraction of ``n`` units the engine's Dropout zeroes, measured (binomial spread sqrt(p(1-p)/n))."""
    layer = Dropout(p)
    layer.generator = torch.Generator().manual_seed(seed)
    layer(torch.ones(n))
    return round(1.0 - layer.last_mask.float().mean().item(), 3)


def output_variance(x: float, p: float) -> float:
    """The variance of inverted dropout's output for a constant input x: x^2 p / (1 - p), measured on
    the engine's layer as E[out^2] - E[out]^2 over its two outcomes (0 with probability p, x/(1-p) else)."""
    kept = inverted_train_output(x, p)
    mean = (1 - p) * kept
    return (1 - p) * kept ** 2 - mean ** 2


def thinned_networks(n_units: int) -> float:
    """How many different thinned networks dropout on ``n_units`` droppable units samples from: 2^n."""
    return float(2 ** n_units)


def log10_thinned_networks(n_units: int) -> float:
    """log10 of 2^n, the number of thinned networks (readable for realistic n)."""
    return round(n_units * math.log10(2), 2)


def width_for_dropout(n_units: int, p: float) -> float:
    """The paper's rule of thumb: a layer that wants n units without dropout gets n / (1 - p) with it."""
    return n_units / (1 - p)


# -- variants ----------------------------------------------------------------------------------------


def gaussian_std(p: float) -> float:
    """The standard deviation of Gaussian dropout's multiplicative noise that matches Bernoulli dropout of p:
    sqrt(p / (1 - p)), the spread of mask / (1 - p)."""
    return math.sqrt(output_variance(1.0, p))


def dropconnect_dropped(n_in: int, n_out: int, p: float) -> float:
    """Expected weights DropConnect zeroes in one ``n_in`` x ``n_out`` layer at one step."""
    return n_in * n_out * p


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def alpha_dropout_a(p: float) -> float:
    """Alpha dropout's affine factor a (Klambauer et al. 2017), read off torch's own F.alpha_dropout:
    dropped units are set to alpha' = -scale * alpha and the result is a * x + b."""
    x = torch.full((20_000,), 2.0, dtype=torch.float64)
    torch.manual_seed(0)
    out = F.alpha_dropout(x, p, training=True)
    values = torch.unique(out)
    low, high = values.min().item(), values.max().item()  # dropped -> a*alpha'+b, kept -> a*2+b
    return round((high - low) / (2.0 + _SELU_SCALE * _SELU_ALPHA), 4)


def droppath_survival(layer: int, n_layers: int, p_last: float) -> float:
    """Stochastic depth's linear rule: block ``layer`` of ``n_layers`` survives with 1 - (layer/L) p_last."""
    return 1.0 - layer / n_layers * p_last


def concrete_mask(p: float, u: float, temperature: float) -> float:
    """Concrete dropout's relaxed KEEP value for uniform noise ``u``: 1 - sigmoid((log p - log(1-p) +
    log u - log(1-u)) / t)."""
    z = (math.log(p) - math.log1p(-p) + math.log(u) - math.log1p(-u)) / temperature
    return round(1.0 - 1.0 / (1.0 + math.exp(-z)), 4)


def rnn_mask_draws(steps: int, batch: int, hidden: int, variational: int) -> float:
    """Independent keep/drop draws on an RNN's hidden state over a sequence: one mask per sequence
    (variational, Gal & Ghahramani 2016) or a fresh one per time step (naive)."""
    return float(batch * hidden * (1 if variational else steps))


def attention_dropped(heads: int, tokens: int, p: float) -> float:
    """Expected attention weights zeroed per example by attention dropout: heads x tokens x tokens x p."""
    return heads * tokens * tokens * p


# -- BatchNorm's variance shift ---------------------------------------------------------------------


def variance_shift(mean: float, var: float, p: float) -> float:
    """Train-time variance of inverted dropout's output over eval-time variance, for an input of ``mean``
    and ``var``: ((var + mean^2) / (1 - p) - mean^2) / var. BatchNorm after dropout keeps the train
    figure in its running variance and meets the eval one at test (Li et al. 2019)."""
    second = (var + mean ** 2) * output_variance(1.0, p) + (var + mean ** 2)  # E[(x m/(1-p))^2]
    return round((second - mean ** 2) / var, 4)


# -- MC dropout --------------------------------------------------------------------------------------


def mc_tau(length_scale: float, p: float, n_train: int, weight_decay: float) -> float:
    """Gal & Ghahramani's model precision tau = l^2 (1 - p) / (2 N lambda), with p the DROP probability."""
    return length_scale ** 2 * (1 - p) / (2 * n_train * weight_decay)


def mc_entropy(p1: float, p2: float) -> float:
    """Predictive entropy (nats) of two MC passes on a two-class problem, class-1 probabilities p1 and p2."""
    probs = np.array([[[p1, 1 - p1]], [[p2, 1 - p2]]])
    return round(float(entropy(probs.mean(axis=0))[0]), 4)


def mc_mutual_information(p1: float, p2: float) -> float:
    """Mutual information (nats) of the same two passes: entropy of the mean minus the mean entropy."""
    probs = np.array([[[p1, 1 - p1]], [[p2, 1 - p2]]])
    return round(float(mutual_information(probs)[0]), 4)


# -- CNNs (lesson 6) ---------------------------------------------------------------------------------


def maps_dropped(channels: int, p: float) -> float:
    """Expected feature maps dropped per example by channel dropout of ``p`` on ``channels`` maps."""
    return channels * p


def survivor_scale(p: float) -> float:
    """What inverted dropout multiplies a kept unit or map by: 1 / (1 - p), read off the engine's layer."""
    return inverted_train_output(1.0, p)


def dropblock_gamma(p: float, block_size: int, side: int) -> float:
    """DropBlock's centre rate on a ``side`` x ``side`` map."""
    return block_gamma(p, block_size, side, side)


def dropblock_dropped(p: float, block_size: int, side: int, maps: int = 20_000, seed: int = 0) -> float:
    """The fraction of a ``side`` x ``side`` map DropBlock actually drops, measured on ``maps`` maps:
    a little under ``p``, since blocks overlap. (Binomial spread at 20,000 maps of 64 pixels: under 0.002.)"""
    module = BlockDropout(p, block_size, generator=torch.Generator().manual_seed(seed))
    module(torch.ones(maps, 1, side, side))
    return round(1.0 - module.last_mask.float().mean().item(), 3)


def dropout2d_draws(channels: int, height: int, width: int, trials: int = 200, seed: int = 0) -> int:
    """How many independent keep/drop draws ``F.dropout2d`` makes on an unbatched ``[C, H, W]`` tensor,
    found by running it: entries that always agree over ``trials`` calls share one draw."""
    gen = torch.Generator().manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its warning about 3-D input is what the question is about
        state = torch.get_rng_state()
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        runs = torch.stack([F.dropout2d(torch.ones(channels, height, width), 0.5, training=True) != 0
                            for _ in range(trials)])
        torch.set_rng_state(state)
    patterns = runs.reshape(trials, -1).T  # one row of outcomes per entry
    return int(torch.unique(patterns, dim=0).shape[0])


ANSWERS = {f.__name__: f for f in (
    keep_from_drop, drop_from_keep, inverted_train_output, inverted_eval_output, classic_eval_output,
    classic_train_output, survivor_gradient, expected_dropped, expected_kept, measured_drop_fraction,
    output_variance, thinned_networks, log10_thinned_networks, width_for_dropout, gaussian_std,
    dropconnect_dropped, alpha_dropout_a, droppath_survival, concrete_mask, rnn_mask_draws, attention_dropped,
    variance_shift, mc_tau, mc_entropy, mc_mutual_information, maps_dropped, survivor_scale, dropblock_gamma,
    dropblock_dropped, dropout2d_draws,
)}
