"""Many small MLPs trained as one batched model: a dropout-rate, data-size or seed sweep.

Each member of a sweep is a full ``RunConfig``. Members may differ in dropout rates,
hidden widths, training-set size, noise, seed, weight decay and max-norm; everything else
(dataset, nuisance inputs, depth, activation, optimiser, lr, batch size, epochs) is shared.
Members with the same training-set size form a *group*: their weights are stacked to
``[K, in, out]``, each layer is one ``baddbmm``, and each member keeps its own data,
minibatch order, dropout masks, weight decay, max-norm and (since Adam and SGD are
element-wise) its own optimiser state. A member narrower than the widest one is padded
with units that are switched off for good, so its function is exactly its own.

Per member the run matches ``core.engine.trainer.Trainer`` on the same config: the same
initial weights (built by ``build_mlp`` from the seed), the same training and validation
sets, the same minibatch order, the same update rule. Only the dropout masks come from
one shared generator instead of one per member, so with dropout the runs agree in
distribution, and without dropout they agree to float rounding (tests check both).

Nothing here draws or sleeps: progress goes to a callback, cancelling is a callable
that the loop polls between steps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.engine.config import ConfigError, RunConfig
from core.engine.datasets import Split, make_split
from core.engine.models import build_mlp, pick_device
from core.engine.plain import strict_json
from core.engine.trainer import DIVERGENCE_LOSS, OPTIMIZERS

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")

# Settings every member of a sweep must share (the rest may differ per member), per architecture.
_COMMON = ("data.dataset", "data.n_val", "data.nuisance", "model.activation",
           "train.optimizer", "train.lr", "train.batch_size", "train.max_epochs", "train.device")
_SHARED = {
    "mlp": _COMMON + ("model.classic", "model.batchnorm"),
    "cnn": _COMMON + ("model.channels", "model.image_size", "model.block_size",
                      "train.weight_decay", "train.max_norm"),
}

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "selu": torch.selu,
    "sigmoid": torch.sigmoid,
}


def network_work(cfg: RunConfig) -> int:
    """Multiply-adds of one example through ``cfg``'s network: the sum of fan-in x fan-out
    (for a CNN: 9 x in x out channels at every pixel of each conv layer, then the Linear head)."""
    if cfg.model.arch == "cnn":
        side, channels = cfg.model.image_size, (1, *cfg.model.channels)
        convs = sum(side * side * 9 * a * b for a, b in zip(channels, channels[1:]))
        return convs + channels[-1] * (side // 2) ** 2 * 10
    inputs, outputs = (64, 10) if cfg.data.dataset == "digits" else (2 + cfg.data.nuisance, 2)
    widths = (inputs, *cfg.model.num_hiddens, outputs)
    return sum(a * b for a, b in zip(widths, widths[1:]))


@dataclass(frozen=True)
class Sweep:
    """What to train: the members, and how long.

    ``steps`` (optional) trains every member for that many minibatch steps instead of
    ``max_epochs`` epochs, so members with different training-set sizes get the same
    number of updates. ``curve_points`` > 0 records about that many evaluations per
    member along the way (the final one is always recorded).
    """

    members: tuple[RunConfig, ...]
    labels: tuple[str, ...] = ()
    steps: int | None = None
    curve_points: int = 0

    def __post_init__(self) -> None:
        if not self.members:
            raise ConfigError("a sweep needs at least one member")
        if self.labels and len(self.labels) != len(self.members):
            raise ConfigError(f"{len(self.labels)} labels for {len(self.members)} members")
        arch = self.members[0].model.arch
        if any(cfg.model.arch != arch for cfg in self.members):
            raise ConfigError("the members of a sweep must all be MLPs or all be CNNs")
        first = self.members[0].to_flat()
        for cfg in self.members[1:]:
            flat = cfg.to_flat()
            for key in _SHARED[arch]:
                if flat[key] != first[key]:
                    raise ConfigError(f"every member of a sweep must share {key}: got {first[key]!r} and {flat[key]!r}")
            if arch == "mlp" and len(cfg.model.num_hiddens) != len(self.members[0].model.num_hiddens):
                raise ConfigError("every member of a sweep must have the same number of hidden layers")
        if arch == "mlp" and self.members[0].model.batchnorm:
            raise ConfigError("sweeps do not support BatchNorm (its batch statistics would mix across members)")
        if self.steps is not None and not 1 <= self.steps <= 1_000_000:
            raise ConfigError(f"steps must be in [1, 1000000], got {self.steps!r}")
        if not 0 <= self.curve_points <= 1000:
            raise ConfigError(f"curve_points must be in [0, 1000], got {self.curve_points!r}")

    def label(self, i: int) -> str:
        return self.labels[i] if self.labels else ""

    def steps_for(self, n_train: int) -> int:
        if self.steps is not None:
            return self.steps
        batch = self.members[0].train.batch_size
        return math.ceil(n_train / batch) * self.members[0].train.max_epochs

    def total_steps(self) -> int:
        """Batched steps over all groups (one per distinct training-set size)."""
        return sum(self.steps_for(n) for n in {cfg.data.n_train for cfg in self.members})

    def work(self) -> float:
        """Estimated multiply-adds of the whole sweep (forward passes of every minibatch; backward
        costs about twice as much again): members x steps x batch x the weights of one network."""
        return sum(self.steps_for(cfg.data.n_train) * cfg.train.batch_size * network_work(cfg)
                   for cfg in self.members)


@dataclass
class Progress:
    steps_done: int
    steps_total: int
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.steps_done / self.steps_total if self.steps_total else 1.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far (None until there is a pace)."""
        if self.steps_done == 0 or self.elapsed <= 0:
            return None
        return self.elapsed / self.steps_done * (self.steps_total - self.steps_done)


@dataclass
class SweepResult:
    """Plain data: one dict per member (its flat config, label, final metrics, curves)."""

    members: list[dict[str, Any]]
    elapsed: float
    cancelled: bool = False
    device: str = "cpu"
    note: str = ""  # how it ran, when not as one batched model (core.engine.sweep_reference)

    def to_json(self) -> dict[str, Any]:
        return strict_json({"members": self.members, "elapsed_s": round(self.elapsed, 3),
                            "cancelled": self.cancelled, "device": self.device,
                            **({"note": self.note} if self.note else {})})


class _Stack:
    """The members of one group as one batched MLP, with their data and optimiser."""

    def __init__(self, cfgs: list[RunConfig], device: torch.device):
        self.device = device
        K = len(cfgs)
        first = cfgs[0]
        self.act = _ACTIVATIONS[first.model.activation]
        self.classic = first.model.classic
        depth = len(first.model.num_hiddens)
        widths = [max(cfg.model.num_hiddens[layer] for cfg in cfgs) for layer in range(depth)]
        splits = [make_split(cfg.data) for cfg in cfgs]
        sizes = [splits[0].num_inputs, *widths, splits[0].num_classes]
        self.weights = [torch.zeros(K, a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [torch.zeros(K, 1, b) for b in sizes[1:]]
        active = [torch.zeros(K, 1, w) for w in widths]
        for k, cfg in enumerate(cfgs):
            # The Trainer's exact initial weights:
            model = build_mlp(cfg.model, seed=cfg.data.seed, num_inputs=sizes[0], num_classes=sizes[-1])
            for layer, linear in enumerate(model.linears):
                out_w, in_w = linear.weight.shape
                self.weights[layer][k, :in_w, :out_w] = linear.weight.detach().T
                self.biases[layer][k, 0, :out_w] = linear.bias.detach()
            for layer, w in enumerate(cfg.model.num_hiddens):
                active[layer][k, 0, :w] = 1.0
        # Padding units of narrower members: switched off after the activation (sigmoid(0) is not 0).
        self.active = [None if bool(a.all()) else a.to(device) for a in active]
        self.weights = [w.to(device).requires_grad_() for w in self.weights]
        self.biases = [b.to(device).requires_grad_() for b in self.biases]
        column = lambda values: torch.tensor(values, dtype=torch.float32, device=device).view(K, 1, 1)  # noqa: E731
        self.p = [column([cfg.model.p_input for cfg in cfgs])]
        self.p += [column([cfg.model.p_hidden[layer] for cfg in cfgs]) for layer in range(depth)]
        self.any_p = [bool((p > 0).any()) for p in self.p]
        self.scale = [1.0 / (1.0 - p) for p in self.p]
        self.keep = [1.0 - p for p in self.p]
        wd = [cfg.train.weight_decay for cfg in cfgs]
        self.weight_decay = column(wd) if any(wd) else None
        norms = [cfg.train.max_norm if cfg.train.max_norm > 0 else math.inf for cfg in cfgs]
        self.max_norm = column(norms) if any(math.isfinite(c) for c in norms) else None

        self._load(cfgs, splits)
        self.optimizer = OPTIMIZERS[first.train.optimizer](self.weights + self.biases, lr=first.train.lr, weight_decay=0.0)

    def _load(self, cfgs: list[RunConfig], splits: list[Split]) -> None:
        """Each member's training and validation sets and minibatch order (as the Trainer's), and the mask generator."""
        stack = lambda arrays: torch.as_tensor(np.stack(arrays), device=self.device)  # noqa: E731
        self.X, self.y = stack([s.X_train for s in splits]), stack([s.y_train for s in splits])
        X_val, self.y_val = stack([s.X_val for s in splits]), stack([s.y_val for s in splits])
        self.X_all = torch.cat([self.X, X_val], dim=1)
        self.n = int(self.X.shape[1])
        self.num_classes = splits[0].num_classes
        self.rows = torch.arange(len(cfgs), device=self.device)[:, None]
        self.shufflers = [torch.Generator().manual_seed(cfg.data.seed + 2) for cfg in cfgs]
        self.masks = torch.Generator(device=self.device).manual_seed(cfgs[0].data.seed + 1)
        self.batch_size = cfgs[0].train.batch_size
        self.pos = 0
        self.Xb = self.yb = None

    def _dropout(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        if not self.any_p[layer]:
            return h
        # In place on the fresh uniform draw: the mask (already scaled) costs one allocation.
        mask = torch.rand(h.shape, generator=self.masks, device=h.device).ge_(self.p[layer])
        return h * (mask if self.classic else mask.mul_(self.scale[layer]))

    def forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """Logits ``[K, B, classes]`` for inputs ``[K, B, features]``; ``train`` draws masks, else dropout is off."""
        h = self._dropout(x, 0) if train else self._eval_scale(x, 0)
        for layer, (w, b) in enumerate(zip(self.weights[:-1], self.biases[:-1])):
            h = self.act(torch.baddbmm(b, h, w))
            if self.active[layer] is not None:
                h = h * self.active[layer]
            h = self._dropout(h, layer + 1) if train else self._eval_scale(h, layer + 1)
        return torch.baddbmm(self.biases[-1], h, self.weights[-1])

    def _eval_scale(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        return h * self.keep[layer] if self.classic and self.any_p[layer] else h

    def step(self) -> None:
        if self.pos == 0:  # a new epoch: each member shuffles its own data with its own generator
            order = torch.stack([torch.randperm(self.n, generator=g) for g in self.shufflers]).to(self.device)
            self.Xb, self.yb = self.X[self.rows, order], self.y[self.rows, order]
        end = self.pos + self.batch_size
        xb, yb = self.Xb[:, self.pos : end], self.yb[:, self.pos : end]
        logits = self.forward(xb, train=True)
        K, B = yb.shape
        losses = F.cross_entropy(logits.reshape(K * B, -1), yb.reshape(K * B), reduction="none").view(K, B).mean(1)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # member k's gradient is that of its own mean loss
        if self.weight_decay is not None:  # what torch's weight_decay adds to each gradient, per member
            with torch.no_grad():
                for param in self.weights + self.biases:
                    param.grad.add_(param * self.weight_decay)
        self.optimizer.step()
        if self.max_norm is not None:
            self._apply_max_norm()
        self.pos = end
        if self.pos >= self.n:
            self.pos = 0

    @torch.no_grad()
    def _apply_max_norm(self) -> None:
        # torch.renorm on a [out, in] weight, per member: each unit's incoming weights (a column here).
        for w in self.weights:
            norms = w.norm(dim=1, keepdim=True)
            w.mul_(torch.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0))

    @torch.inference_mode()
    def evaluate(self) -> list[dict[str, float]]:
        logits = self.forward(self.X_all, train=False)
        n = self.n
        K = logits.shape[0]
        ce = lambda lg, y: F.cross_entropy(lg.reshape(-1, self.num_classes), y.reshape(-1), reduction="none").view(K, -1).mean(1)  # noqa: E731
        acc = lambda lg, y: (lg.argmax(2) == y).float().mean(1)  # noqa: E731
        numbers = torch.stack([
            ce(logits[:, :n], self.y), ce(logits[:, n:], self.y_val),
            acc(logits[:, :n], self.y), acc(logits[:, n:], self.y_val),
        ], dim=1)
        diverged = ~torch.isfinite(numbers).all(1) | (numbers[:, 0] > DIVERGENCE_LOSS)
        numbers = numbers.masked_fill(diverged[:, None], math.nan).tolist()  # one device-to-host copy
        return [dict(zip(METRICS, row)) for row in numbers]


def run_sweep(
    sweep: Sweep,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    report_every: float = 0.2,
) -> SweepResult:
    """Train every member; report progress about every ``report_every`` s; stop early when
    ``cancelled()`` turns true (the result then says so and holds no members)."""
    start = time.perf_counter()
    device = pick_device(sweep.members[0].train.device)
    total = sweep.total_steps()
    done = 0
    members: list[dict[str, Any] | None] = [None] * len(sweep.members)
    groups: dict[int, list[int]] = {}
    for i, cfg in enumerate(sweep.members):
        groups.setdefault(cfg.data.n_train, []).append(i)
    last_report = start
    for n_train, indices in groups.items():
        if cancelled is not None and cancelled():
            return SweepResult([], time.perf_counter() - start, cancelled=True, device=str(device))
        stack = _stack_for([sweep.members[i] for i in indices], device)
        steps = sweep.steps_for(n_train)
        steps_per_epoch = math.ceil(n_train / stack.batch_size)
        checkpoints = _checkpoints(steps, sweep.curve_points)
        curves: list[dict[str, list[float]]] = [{"step": [], "epoch": [], **{m: [] for m in METRICS}} for _ in indices]
        for s in range(1, steps + 1):
            stack.step()
            done += 1
            if s in checkpoints or s == steps:
                for curve, metrics in zip(curves, stack.evaluate()):
                    curve["step"].append(s)
                    curve["epoch"].append(round(s / steps_per_epoch, 3))
                    for key in METRICS:
                        curve[key].append(metrics[key])
            now = time.perf_counter()
            if now - last_report >= report_every:
                last_report = now
                if cancelled is not None and cancelled():
                    return SweepResult([], now - start, cancelled=True, device=str(device))
                if progress is not None:
                    progress(Progress(done, total, now - start))
        for i, curve in zip(indices, curves):
            cfg = sweep.members[i]
            final = {key: curve[key][-1] for key in METRICS}
            shape = {"channels": list(cfg.model.channels), "kinds": list(cfg.model.kinds)} \
                if cfg.model.arch == "cnn" else {"num_hiddens": list(cfg.model.num_hiddens)}
            members[i] = {
                "label": sweep.label(i), "p": cfg.model.p_hidden[0], "p_input": cfg.model.p_input,
                "p_hidden": list(cfg.model.p_hidden), **shape, "n_train": n_train, "seed": cfg.data.seed, "weight_decay": cfg.train.weight_decay,
                "max_norm": cfg.train.max_norm, "noise": cfg.data.noise, "nuisance": cfg.data.nuisance, "steps": steps, "diverged": not math.isfinite(final["val_loss"]),
                **final, **({"curves": curve} if sweep.curve_points else {}),
            }
    elapsed = time.perf_counter() - start
    if progress is not None:
        progress(Progress(total, total, elapsed))
    note = REFERENCE_NOTE if any(cfg.model.arch == "mlp" and cfg.model.variants for cfg in sweep.members) else ""
    return SweepResult([m for m in members if m is not None], elapsed, device=str(device), note=note)


REFERENCE_NOTE = ("the batched sweep runs standard dropout only: members with another dropout variant trained "
                  "one by one on the reference modules (core.engine.variants)")


def _stack_for(cfgs: list[RunConfig], device: torch.device) -> Any:
    """One group's batched model: ``_Stack`` for MLPs, ``core.engine.cnn_sweep.CNNStack`` for CNNs."""
    if any(cfg.model.arch == "mlp" and cfg.model.variants for cfg in cfgs):
        from core.engine.sweep_reference import ReferenceStack  # it builds on Trainer, which this module does not need
        return ReferenceStack(cfgs, device)
    if cfgs[0].model.arch == "cnn":
        from core.engine.cnn_sweep import CNNStack  # here, not on top: cnn_sweep builds on this module
        return CNNStack(cfgs, device)
    return _Stack(cfgs, device)


def _checkpoints(steps: int, points: int) -> set[int]:
    if points <= 0:
        return set()
    return {max(1, round(steps * (i + 1) / points)) for i in range(points)}
