"""Many small CNNs trained as one batched model: a sweep over dropout kinds, rates and seeds.

The CNN sibling of ``core.engine.sweep._Stack`` (``run_sweep`` picks it for ``CNNConfig`` members).
Members may differ in the dropout kind and drop probability of each conv layer, in ``p_input``,
``ramp_steps``, seed and (between groups) training-set size; channels, image size, block size,
activation, optimiser, lr, weight decay, max-norm, batch size, epochs and device are shared.

Layout: the K members' feature maps lie side by side along the channel axis, ``[B, K * C, H, W]``,
and each conv layer is one grouped convolution (``groups=K``), so member k's filters read only its
own maps; the Linear head is one ``baddbmm`` over ``[K, B, features]``. Each member keeps what
``core.engine.trainer.Trainer`` gives it: the initial weights of ``build_cnn`` from its seed, its own
split and minibatch order, and (Adam and SGD being element-wise, each member's loss its own mean)
its own optimiser state. Dropout is drawn per member, of its own kind, with the rules of
``core.engine.spatial``: element and channel masks from the member's own p, DropBlock centres at
the member's own ``gamma`` (ramped as ``BlockDropout`` ramps it), the survivors rescaled by
``count / count_kept`` over the member's own maps. The masks come from one shared generator, so
with dropout a member agrees with its Trainer run in distribution, without it to float rounding.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from core.engine.cnn import DIGIT_SIDE, build_cnn
from core.engine.config import RunConfig
from core.engine.datasets import make_split
from core.engine.spatial import block_gamma
from core.engine.sweep import _ACTIVATIONS, _Stack
from core.engine.trainer import OPTIMIZERS

EVAL_CHUNK = 256
"""Examples per forward pass at evaluation: bounds the memory of K members' maps on the whole set."""


class _KindGroup(NamedTuple):
    """The members whose dropout at one conv layer is of one kind (and whose p is above 0).

    Per-member numbers are stored as ``[1, 1, 1, k, C]``, each member's value repeated over its C
    channels: broadcast against ``[B, H, W, k, C]`` maps the innermost dimension then is not 1, which
    makes the element-wise ops several times faster on the CPU."""

    kind: str  # "element", "channel" or "block"
    members: slice | torch.Tensor  # their places in the stack: a slice when they sit side by side
    p: torch.Tensor  # each one's drop probability
    scale: torch.Tensor  # 1 / (1 - p): what the survivors of element and channel dropout are multiplied by
    ramp: torch.Tensor | None  # block only: each one's ramp_steps (None: no ramp at all)

    @property
    def size(self) -> int:
        return self.p.shape[3]


def _kind_groups(cfgs: list[RunConfig], layer: int, device: torch.device) -> list[_KindGroup]:
    channels = cfgs[0].model.channels[layer]
    column = lambda values: torch.tensor(values, dtype=torch.float32, device=device) \
        .view(1, 1, 1, -1, 1).expand(1, 1, 1, len(values), channels).contiguous()  # noqa: E731
    groups = []
    for kind in ("element", "channel", "block"):
        members = [k for k, cfg in enumerate(cfgs) if cfg.model.kinds[layer] == kind and cfg.model.p_hidden[layer] > 0]
        if not members:
            continue
        side_by_side = members == list(range(members[0], members[-1] + 1))
        p = column([cfgs[k].model.p_hidden[layer] for k in members])
        ramps = [cfgs[k].model.ramp_steps for k in members]
        groups.append(_KindGroup(
            kind, slice(members[0], members[-1] + 1) if side_by_side else torch.tensor(members, device=device),
            p, 1.0 / (1.0 - p), column(ramps) if kind == "block" and any(ramps) else None,
        ))
    return groups


class CNNStack(_Stack):
    """The members of one group as one batched CNN, with their data and optimiser (``_Stack``'s
    minibatch step and evaluation, this class's forward pass and masks)."""

    def __init__(self, cfgs: list[RunConfig], device: torch.device):
        self.device = device
        model, train = cfgs[0].model, cfgs[0].train
        self.act = _ACTIVATIONS[model.activation]
        self.image_size, self.channels, self.block_size = model.image_size, model.channels, model.block_size
        splits = [make_split(cfg.data) for cfg in cfgs]
        nets = [build_cnn(cfg.model, seed=cfg.data.seed, num_inputs=splits[0].num_inputs,
                          num_classes=splits[0].num_classes) for cfg in cfgs]  # the Trainer's exact initial weights
        leaf = lambda t: t.detach().to(device).contiguous().requires_grad_()  # noqa: E731
        # Member k's filters of a layer are rows [k * C, (k + 1) * C) of one grouped convolution's weight.
        self.weights = [leaf(torch.cat([net.convs[i].weight for net in nets])) for i in range(len(self.channels))]
        self.biases = [leaf(torch.cat([net.convs[i].bias for net in nets])) for i in range(len(self.channels))]
        # The head reads each member's pooled maps in channels-last order (row, column, channel), see forward:
        heads = [net.out.weight.view(-1, self.channels[-1], model.image_size // 2, model.image_size // 2) for net in nets]
        self.weights.append(leaf(torch.stack([w.permute(2, 3, 1, 0).reshape(-1, w.shape[0]) for w in heads])))
        self.biases.append(leaf(torch.stack([net.out.bias[None] for net in nets])))  # [K, 1, classes]
        p_input = torch.tensor([cfg.model.p_input for cfg in cfgs], device=device)  # [K]: the pixels' last dim
        self.p_input = p_input if bool((p_input > 0).any()) else None
        self.kind_groups = [_kind_groups(cfgs, layer, device) for layer in range(len(self.channels))]
        self.passes = 0  # training forward passes so far: DropBlock's ramp clock
        self._mask_buffers: dict[tuple[int, ...], torch.Tensor] = {}
        self.weight_decay = None  # shared: the optimiser applies it, as the Trainer's does
        self.max_norm = train.max_norm if train.max_norm > 0 else None
        self._load(cfgs, splits)
        self.optimizer = OPTIMIZERS[train.optimizer](self.weights + self.biases, lr=train.lr,
                                                     weight_decay=train.weight_decay)

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """Logits ``[K, B, classes]`` for pixel rows ``[K, B, 64]``; ``train`` draws masks, else dropout is off.

        The maps are channels-last (``[B, H, W, K * C]`` in memory): there the grouped convolutions and
        the max-pool run several times faster on the CPU than in the default layout, and each member's
        maps are a plain view ``[B, H, W, K, C]`` for its masks."""
        K, B = x.shape[:2]
        if not train and B > EVAL_CHUNK:
            return torch.cat([self.forward(part, False) for part in x.split(EVAL_CHUNK, dim=1)], dim=1)
        h = x.permute(1, 2, 0).reshape(B, DIGIT_SIDE, DIGIT_SIDE, K)
        if train and self.p_input is not None:
            h = self._drop_pixels(h)
        h = h.permute(0, 3, 1, 2)  # [B, K, 8, 8], channels-last
        side = self.image_size
        if side != DIGIT_SIDE:
            h = F.interpolate(h, size=(side, side), mode="bilinear", align_corners=False)
        h = h.contiguous(memory_format=torch.channels_last)
        for layer, (w, b) in enumerate(zip(self.weights[:-1], self.biases[:-1])):
            h = self.act(F.conv2d(h, w, b, padding=1, groups=K))
            if train and self.kind_groups[layer]:
                maps = h.permute(0, 2, 3, 1).reshape(B, side, side, K, -1)
                h = self._dropout(maps, layer).view(B, side, side, -1).permute(0, 3, 1, 2)
        if train:
            self.passes += 1
        # Read in its own (channels-last) order, the pooled maps' gradient stays channels-last too.
        pooled = F.max_pool2d(h, 2).permute(0, 2, 3, 1).reshape(B, (side // 2) ** 2, K, -1)
        features = pooled.permute(2, 0, 1, 3).reshape(K, B, -1)  # [K, B, (row, column, channel)]
        return torch.baddbmm(self.biases[-1], features, self.weights[-1])

    def _drop_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Input dropout of ``pixels`` ``[B, 8, 8, K]``: element-wise, at each member's own ``p_input``."""
        return pixels * self._rand(pixels.shape).ge_(self.p_input).div_(1.0 - self.p_input)

    def _rand(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(shape, generator=self.masks, device=self.device)

    def _dropout(self, maps: torch.Tensor, layer: int) -> torch.Tensor:
        """``maps`` ``[B, H, W, K, C]`` times each member's mask of its own kind (already scaled).

        The masks are drawn into one buffer per layer and shape that lives from step to step (no
        gradient flows into it, and a step's backward pass is done before the next forward pass
        redraws it): with K members side by side a fresh mask each step would cost page faults."""
        key = (layer, *maps.shape)
        mask = self._mask_buffers.get(key)
        if mask is None:
            mask = self._mask_buffers[key] = maps.new_empty(maps.shape)
        groups = self.kind_groups[layer]
        if sum(group.size for group in groups) < maps.shape[3]:
            mask.fill_(1.0)  # the members without dropout at this layer
        for group in groups:
            if isinstance(group.members, slice):
                self._draw(group, mask[:, :, :, group.members])
            else:
                B, H, W, _, C = maps.shape
                mask[:, :, :, group.members] = self._draw(group, maps.new_empty((B, H, W, group.size, C)))
        return maps * mask

    def _draw(self, group: _KindGroup, out: torch.Tensor) -> torch.Tensor:
        """Fill ``out`` ``[B, H, W, k, C]`` with the group's k members' scaled keep-masks; return it."""
        if group.kind == "element":
            return out.uniform_(generator=self.masks).ge_(group.p).mul_(group.scale)
        if group.kind == "channel":
            B, _, _, k, C = out.shape
            return out.copy_(self._rand((B, 1, 1, k, C)).ge_(group.p).mul_(group.scale))
        return self._block_mask(group, out)

    def _block_mask(self, group: _KindGroup, out: torch.Tensor) -> torch.Tensor:
        """DropBlock as ``BlockDropout`` draws it, per member: centres at rate gamma in the region where a
        block fits, each grown into its block, the survivors scaled by count / count_kept of that member."""
        B, H, W, k, C = out.shape
        size = min(self.block_size, H, W)
        p = group.p
        if group.ramp is not None:  # BlockDropout.current_p: p * min(1, passes / ramp_steps), or p without a ramp
            p = p * torch.where(group.ramp > 0, (self.passes / group.ramp.clamp_min(1)).clamp(max=1.0), 1.0)
        gamma = p * block_gamma(1.0, size, H, W)  # the paper's gamma is linear in p, and at p = 1 at most 1
        rows, cols = H - size + 1, W - size + 1
        centres = self._rand((B, rows, cols, k, C)) < gamma
        # A centre at (i, j) drops [i, i + size) x [j, j + size): grow the centres along W, then along H.
        wide = centres.new_zeros((B, rows, W, k, C))
        for j in range(size):
            wide[:, :, j : j + cols] |= centres
        dropped = centres.new_zeros((B, H, W, k, C))
        for i in range(size):
            dropped[:, i : i + rows] |= wide
        out.copy_(dropped.logical_not_())
        per_channel = out.sum((0, 1, 2), keepdim=True)  # [1, 1, 1, k, C]
        kept = per_channel.sum(4, keepdim=True).expand_as(per_channel)  # each member's count_kept, per channel
        return out.mul_(kept.clamp_min(1.0).reciprocal().mul_(B * H * W * C))

    @torch.no_grad()
    def _apply_max_norm(self) -> None:
        """The Trainer's torch.renorm, per member: each filter's norm, each output unit's incoming weights."""
        c = self.max_norm
        for w in self.weights[:-1]:
            w.copy_(torch.renorm(w, 2, 0, c))
        head = self.weights[-1]
        norms = head.norm(dim=1, keepdim=True)
        head.mul_(torch.where(norms > c, c / (norms + 1e-7), 1.0))
