"""The leaked-context task and the two-tower model of lesson 9 (``core.labs.production``).

**The task.** ``classes`` classes; each row has *legitimate* inputs, ``dims`` numbers drawn around its class's
centre with noise ``noise`` (the user's history: it predicts the label well, not perfectly; the centres are the
same for every seed), and a *context* feature, a one-hot category in ``classes`` slots. The honest context, the
one serving has, names the true class with probability ``honest`` and a uniformly random one otherwise (weakly
informative). In **training**, a fraction ``leak`` of the rows instead carry a context built from the label
(pseudo-context from the positive label): the label's one-hot plus Gaussian noise of sd ``leak_noise`` (0: a
clean copy). The held-out sets: ``val`` drawn as the training rows are (leak included: what an offline check on
augmented data sees) and ``serve`` with the honest context only.

**The model.** A legitimate tower (two ReLU layers of ``hidden`` units) and a context layer (``width`` ReLU units
read from the one-hot) are joined before a linear head. Only the context layer has dropout, of probability
``p``, as ``mode`` says: ``unit`` drops each of its units alone (``nn.Dropout``), ``feature`` drops the whole
layer, every unit of a row together (feature-level masking; survivors scaled by 1/(1-p) in both), ``none``
feeds the head no context at all. The parameters do not depend on ``p`` or ``mode``: one seed gives every side
the same initial weights, data and minibatch order.

**The measures** (eval mode): ``train_acc`` on the training rows, ``val_acc`` on the leaked held-out rows,
``serving_acc`` on the honest ones, ``legit_only_acc`` there with the context layer's output knocked out (set
to 0), ``context_only_acc`` with the legitimate tower's knocked out; ``reliance_legit`` and
``reliance_context``: the drop in leaked held-out accuracy when that tower is knocked out (lesson 4's
knock-out, a tower at a time).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.engine.config import JsonSettings, check_choice, check_number

MODES = ("unit", "feature", "none")
MAX_P = 0.95
CENTRE_SEED = 1234
"""The class centres come from this seed for every run: each seed draws new rows of the same task."""
METRICS = ("train_acc", "val_acc", "serving_acc", "legit_only_acc", "context_only_acc",
           "reliance_legit", "reliance_context")


@dataclass(frozen=True)
class RunSpec(JsonSettings):
    """One run: the task, the model and its training, checked when made (a ConfigError names the value)."""

    p: float = 0.8
    mode: str = "unit"
    seed: int = 0
    n_train: int = 2000
    n_test: int = 2000
    classes: int = 4
    dims: int = 8
    noise: float = 1.0
    honest: float = 0.4
    leak: float = 1.0
    leak_noise: float = 0.0
    hidden: int = 32
    width: int = 8
    steps: int = 500
    lr: float = 0.003
    batch_size: int = 64

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.0, MAX_P)
        check_choice("mode", self.mode, MODES)
        check_number("seed", self.seed, 0, 2**31 - 1, integer=True)
        check_number("n_train", self.n_train, 50, 50_000, integer=True)
        check_number("n_test", self.n_test, 50, 50_000, integer=True)
        check_number("classes", self.classes, 2, 10, integer=True)
        check_number("dims", self.dims, 1, 64, integer=True)
        check_number("noise", self.noise, 0.0, 10.0)
        check_number("honest", self.honest, 0.0, 1.0)
        check_number("leak", self.leak, 0.0, 1.0)
        check_number("leak_noise", self.leak_noise, 0.0, 5.0)
        check_number("hidden", self.hidden, 2, 256, integer=True)
        check_number("width", self.width, 1, 256, integer=True)
        check_number("steps", self.steps, 1, 20_000, integer=True)
        check_number("lr", self.lr, 1e-5, 1.0)
        check_number("batch_size", self.batch_size, 1, self.n_train, integer=True)

    def but(self, **changes: Any) -> RunSpec:
        return replace(self, **changes)

    @property
    def example_work(self) -> int:
        """Multiply-adds of one row through the model."""
        return self.dims * self.hidden + self.hidden ** 2 + self.classes * self.width + \
            (self.hidden + self.width) * self.classes


@dataclass(frozen=True)
class Rows:
    x: torch.Tensor  # [n, dims] legitimate inputs
    context: torch.Tensor  # [n, classes]
    y: torch.Tensor  # [n] labels
    leaked: torch.Tensor  # [n] bool: this row's context was built from its label


@dataclass(frozen=True)
class Task:
    train: Rows
    val: Rows  # drawn as the training rows are, leak included
    serve: Rows  # the honest context, as serving has it


def centres(spec: RunSpec) -> torch.Tensor:
    return torch.randn(spec.classes, spec.dims, generator=torch.Generator().manual_seed(CENTRE_SEED))


def draw(spec: RunSpec, n: int, generator: torch.Generator, leak: float) -> Rows:
    """``n`` rows; a fraction ``leak`` of them (each row independently) carry the leaked context."""
    y = torch.randint(0, spec.classes, (n,), generator=generator)
    x = centres(spec)[y] + spec.noise * torch.randn(n, spec.dims, generator=generator)
    random_class = torch.randint(0, spec.classes, (n,), generator=generator)
    honest = torch.where(torch.rand(n, generator=generator) < spec.honest, y, random_class)
    context = F.one_hot(honest, spec.classes).float()
    leaked = torch.rand(n, generator=generator) < leak
    from_label = F.one_hot(y, spec.classes).float() + spec.leak_noise * torch.randn(n, spec.classes, generator=generator)
    context = torch.where(leaked[:, None], from_label, context)
    return Rows(x, context, y, leaked)


def make_task(spec: RunSpec) -> Task:
    """The seed's rows: the same for every p and mode (the rows do not depend on them)."""
    g = torch.Generator().manual_seed(spec.seed)
    return Task(draw(spec, spec.n_train, g, spec.leak), draw(spec, spec.n_test, g, spec.leak),
                draw(spec, spec.n_test, g, 0.0))


class TwoTower(nn.Module):
    """The legitimate tower and the context layer, joined before the head (module docstring).

    ``forward(x, context)`` is what serving calls; ``knock`` ("legit" or "context") zeroes that tower's output.
    Written so that ``torch.jit.script`` exports it as it is, modes included."""

    def __init__(self, dims: int, classes: int, hidden: int, width: int, p: float, mode: str):
        super().__init__()
        self.legit = nn.Sequential(nn.Linear(dims, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.context = nn.Sequential(nn.Linear(classes, width), nn.ReLU())
        self.head = nn.Linear(hidden + width, classes)
        self.p = float(p)
        self.mode = mode

    def forward(self, x: torch.Tensor, context: torch.Tensor, knock: str = "") -> torch.Tensor:
        a = self.legit(x)
        b = self.context(context)
        if self.mode == "none" or knock == "context":
            b = torch.zeros_like(b)
        elif self.training and self.p > 0.0:
            if self.mode == "unit":
                b = F.dropout(b, self.p, True)
            else:  # feature: one keep-or-drop per row, for the whole layer
                keep = (torch.rand(b.shape[0], 1, device=b.device) >= self.p).to(b.dtype)
                b = b * keep / (1.0 - self.p)
        if knock == "legit":
            a = torch.zeros_like(a)
        return self.head(torch.cat([a, b], 1))


def build(spec: RunSpec) -> TwoTower:
    """The model of ``spec``, its initial weights from the seed alone."""
    torch.manual_seed(spec.seed)
    return TwoTower(spec.dims, spec.classes, spec.hidden, spec.width, spec.p, spec.mode)


class LeakTrainer:
    """Trains one ``TwoTower`` on its task with Adam, one minibatch per ``step()``; the batch order depends on the
    seed alone, the masks on torch's global generator, which ``build`` seeds: a run alone, or runs stepped in
    turn, repeat exactly. ``measure()`` gives the module docstring's numbers."""

    def __init__(self, spec: RunSpec, task: Task | None = None):
        self.spec = spec
        self.task = task if task is not None else make_task(spec)
        self.model = build(spec)
        self._opt = torch.optim.Adam(self.model.parameters(), lr=spec.lr)
        self._batches = torch.Generator().manual_seed(spec.seed + 1)
        self.step_count = 0
        self.last_loss = math.nan
        self.diverged: str | None = None

    @property
    def n_train(self) -> int:
        return self.spec.n_train

    def set_p(self, p: float) -> None:
        check_number("p", p, 0.0, MAX_P)
        self.model.p = float(p)
        self.spec = self.spec.but(p=float(p))

    def step(self) -> float:
        t = self.task.train
        i = torch.randint(0, self.spec.n_train, (self.spec.batch_size,), generator=self._batches)
        self.model.train()
        loss = F.cross_entropy(self.model(t.x[i], t.context[i]), t.y[i])
        self._opt.zero_grad()
        loss.backward()
        self._opt.step()
        self.step_count += 1
        self.last_loss = float(loss.detach())
        if not math.isfinite(self.last_loss):
            self.diverged = f"the loss became {self.last_loss} at step {self.step_count}"
        return self.last_loss

    def run(self, steps: int | None = None, tick: Any = None) -> LeakTrainer:
        for _ in range(self.spec.steps if steps is None else steps):
            self.step()
            if tick is not None:
                tick()
        return self

    @torch.no_grad()
    def measure(self) -> dict[str, float]:
        return measure(self.model, self.task)


def accuracy(model: nn.Module, rows: Rows, knock: str = "") -> float:
    return float((model(rows.x, rows.context, knock).argmax(1) == rows.y).double().mean())


@torch.no_grad()
def measure(model: TwoTower, task: Task) -> dict[str, float]:
    was = model.training
    model.eval()
    val = accuracy(model, task.val)
    out = {"train_acc": accuracy(model, task.train), "val_acc": val, "serving_acc": accuracy(model, task.serve),
           "legit_only_acc": accuracy(model, task.serve, "context"),
           "context_only_acc": accuracy(model, task.serve, "legit"),
           "reliance_legit": val - accuracy(model, task.val, "legit"),
           "reliance_context": val - accuracy(model, task.val, "context")}
    model.train(was)
    return out
