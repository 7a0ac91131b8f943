"""Dropout on convolutional feature maps: single elements, whole channels, or contiguous blocks.

Each is a ``core.engine.dropout.Dropout`` (``p`` is the DROP probability, the mode helpers
``train_mode``/``eval_mode``/``mc_mode`` apply, ``generator`` makes masks reproducible,
``last_mask`` keeps the boolean keep-mask of the last stochastic pass, full-sized, True = kept):

- ``element``: ``Dropout`` itself, each activation on its own (as ``F.dropout``).
- ``channel``: ``ChannelDropout``, one draw per example and channel, so a whole feature map is kept or
  dropped (as ``F.dropout2d`` on a 4-D ``[N, C, H, W]`` input; Tompson et al. 2015). It refuses
  a 3-D input: ``F.dropout2d`` reads ``[C, H, W]`` as ``[N, C, L]`` and drops whole *rows*.
- ``block``: ``BlockDropout``, DropBlock (Ghiasi et al. 2018): block centres drawn with rate
  ``gamma`` inside the region where a ``block_size`` x ``block_size`` block fits, each one grown into
  its block; ``gamma`` is the paper's, so that about a fraction ``p`` of the map is dropped, and the
  survivors are rescaled by ``count / count_kept`` over the batch, as in the paper (blocks overlap,
  so the fraction actually dropped is a little under ``p``). ``ramp_steps`` > 0 raises the drop
  probability linearly from 0 to ``p`` over that many training passes, the schedule the paper found
  necessary.

All three are inverted: nothing to do at evaluation (``classic`` is for ``element`` only).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.engine.dropout import Dropout

KINDS = ("none", "element", "channel", "block")
"""The dropout kinds a convolutional layer may use; ``none`` is no dropout layer at all (p is ignored)."""


def _check_maps(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(
            f"{name} needs feature maps shaped [N, C, H, W], got {x.dim()}-D input {tuple(x.shape)}. "
            "(F.dropout2d would read a 3-D [C, H, W] map as [N, C, L] and drop whole rows, not maps: add the batch "
            "dimension with x.unsqueeze(0).)"
        )


class ChannelDropout(Dropout):
    """Drop whole feature maps: each (example, channel) pair is kept with probability ``1 - p``."""

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None):
        super().__init__(p, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.mc):
            return x
        _check_maps(x, "channel dropout")
        p = self._p
        if p == 0.0:
            self.last_mask = None
            return x
        keep = torch.rand(x.shape[:2] + (1, 1), generator=self.generator, device=x.device, dtype=x.dtype) >= p
        self.last_mask = keep.expand_as(x)
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - p)))


def block_gamma(p: float, block_size: int, height: int, width: int) -> float:
    """DropBlock's centre rate (Ghiasi et al. 2018, eq. 1, for a H x W map): ``p / block_size^2`` times
    the map's area over the area where a block's top-left corner may fall."""
    valid = (height - block_size + 1) * (width - block_size + 1)
    return min(1.0, p / block_size**2 * (height * width) / valid)


class BlockDropout(Dropout):
    """DropBlock: drop ``block_size`` x ``block_size`` squares of each feature map (see the module doc)."""

    def __init__(self, p: float = 0.5, block_size: int = 3, *, ramp_steps: int = 0,
                 generator: torch.Generator | None = None):
        super().__init__(p, generator=generator)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be a whole number of at least 1, got {block_size!r}")
        if isinstance(ramp_steps, bool) or not isinstance(ramp_steps, int) or ramp_steps < 0:
            raise ValueError(f"ramp_steps must be a whole number of at least 0, got {ramp_steps!r}")
        self.block_size = block_size
        self.ramp_steps = ramp_steps
        self.steps_seen = 0  # training passes so far: the ramp's clock

    @property
    def current_p(self) -> float:
        """The drop probability of the next training pass: ``p``, or less while the ramp climbs."""
        if self.ramp_steps <= 0:
            return self._p
        return self._p * min(1.0, self.steps_seen / self.ramp_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.mc):
            return x
        _check_maps(x, "block dropout")
        p = self.current_p
        if self.training and not self.mc:
            self.steps_seen += 1
        if p == 0.0:
            self.last_mask = None
            return x
        n, c, h, w = x.shape
        size = min(self.block_size, h, w)
        gamma = block_gamma(p, size, h, w)
        centres = torch.rand((n, c, h - size + 1, w - size + 1), generator=self.generator, device=x.device) < gamma
        # A centre at (i, j) drops [i, i + size) x [j, j + size): pad the centres by size - 1 all round, take the max.
        dropped = F.max_pool2d(F.pad(centres.to(x.dtype), (size - 1,) * 4), kernel_size=size, stride=1) \
            if size > 1 else centres.to(x.dtype)
        keep = dropped < 0.5
        self.last_mask = keep
        kept = keep.to(x.dtype)
        scale = kept.numel() / kept.sum().clamp_min(1.0)
        return x * (kept * scale)

    def extra_repr(self) -> str:
        return f"p={self._p}, block_size={self.block_size}" + (f", ramp_steps={self.ramp_steps}" if self.ramp_steps else "")


def make_dropout(kind: str, p: float, *, block_size: int = 3, ramp_steps: int = 0, classic: bool = False) -> Dropout | None:
    """The dropout layer of ``kind`` (one of KINDS); None for ``none``."""
    if kind == "none":
        return None
    if kind == "element":
        return Dropout(p, classic=classic)
    if kind == "channel":
        return ChannelDropout(p)
    if kind == "block":
        return BlockDropout(p, block_size, ramp_steps=ramp_steps)
    raise ValueError(f"dropout kind must be one of {', '.join(KINDS)}; got {kind!r}")
