"""The numbers behind lesson 6's check-yourself questions, computed by the engine's own dropout modules."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from core.engine.spatial import BlockDropout, block_gamma


def maps_dropped(channels: int, p: float) -> float:
    """Expected feature maps dropped per example by channel dropout of ``p`` on ``channels`` maps."""
    return channels * p


def survivor_scale(p: float) -> float:
    """What inverted dropout multiplies a kept map by: 1 / (1 - p)."""
    return 1.0 / (1.0 - p)


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


QUIZ_FUNCTIONS = {f.__name__: f for f in (maps_dropped, survivor_scale, dropblock_gamma, dropblock_dropped,
                                          dropout2d_draws)}
