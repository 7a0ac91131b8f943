"""The interview bank's live experiments: a predict question names one, the learner commits to an option,
then the page runs it as a background job and shows what it measured and whether the claim held.

Each trains one or two small networks with the engine's ``Trainer`` on two-moons data (CPU, about a
second), probes them with the engine's modes or the MC analysis, and returns one ``Observation`` (plain,
picklable data). The request's seed fixes the data, the initial weights, the minibatch order and every
mask. ``p`` is the DROP probability (PyTorch's; the 2014 paper's p is the retain probability, 1 - p).
The settings make each claim hold clearly on every seed the tests try; each ``generalizes`` sentence
says where it was measured and where it may not carry over.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn

from core.analysis.answers import variance_shift
from core.analysis.mc import mc_predict
from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.datasets import Split, generate, make_split
from core.engine.dropout import Dropout, eval_mode, mc_mode, train_mode
from core.engine.sweep import Progress, network_work
from core.engine.trainer import Trainer, step_until

MAX_SEED = 1_000_000
CALLS = 20  # forward passes per mode (train-mode-varies, mc-train-mode-batch)
MC_PASSES = 50  # T for mc-wider-far
FAR_RADIUS = 3.0  # the moons lie within about 1.5 of the origin


@dataclass(frozen=True)
class ExperimentRequest:
    """Which experiment to run (a name of ``EXPERIMENTS``) and its seed."""

    name: str
    seed: int = 0


@dataclass(frozen=True)
class Observation:
    """One run: the ``claim`` (a predict question's right option), whether this run showed it, the numbers in
    a sentence or two, 2-4 labelled numbers for a bar chart (``unit`` titles its axis), and how far the result
    carries. A cancelled run says so (``cancelled``: the job machinery reads it) and shows nothing."""

    name: str
    claim: str
    holds: bool
    measured: str
    bars: dict[str, float]
    unit: str
    generalizes: str
    cancelled: bool = False


class _Cancelled(Exception):
    """The job was cancelled between two training steps."""


class _Run:
    """One experiment's training: every step reported as part of the whole (a ``Progress``), stopped
    when ``cancelled()`` says so."""

    def __init__(self, total_steps: int, progress: Callable[[Progress], None] | None,
                 cancelled: Callable[[], bool] | None):
        self.total, self.done = total_steps, 0
        self._progress, self._cancelled = progress, cancelled
        self._start = time.perf_counter()

    def train(self, setting: Setting, seed: int, p: float, *, classic: bool = False) -> Trainer:
        """``setting`` trained at drop probability ``p``, to its last epoch (``_Cancelled`` if told to stop)."""
        trainer = Trainer(setting.config(seed, p, classic=classic), setting.split(seed), evaluate=False)
        steps, done = setting.steps(), self.done
        report = None if self._progress is None else lambda f: self._progress(
            Progress(done + round(f * steps), self.total, time.perf_counter() - self._start))
        _, stopped = step_until(trainer.step, steps, progress=report, cancelled=self._cancelled)
        if stopped:
            raise _Cancelled
        self.done += steps
        return trainer


# -- settings --------------------------------------------------------------------------------------
class Setting(NamedTuple):
    """One network and its training: moons with ``noise``, ``widths`` hidden units, Adam."""

    widths: tuple[int, ...] = (32, 32)
    noise: float = 0.3
    n_train: int = 200
    n_val: int = 1000
    epochs: int = 60
    lr: float = 0.01
    batch: int = 32
    batchnorm: bool = False

    def config(self, seed: int, p: float, *, classic: bool = False) -> RunConfig:
        """The run at drop probability ``p`` in every hidden layer; the seed fixes data, weights and masks."""
        return RunConfig(
            DataConfig("moons", self.noise, min(self.n_train, 2000), self.n_val, seed),
            ModelConfig(self.widths, p_hidden=(p,) * len(self.widths), classic=classic, batchnorm=self.batchnorm),
            TrainConfig(lr=self.lr, batch_size=self.batch, max_epochs=self.epochs, device="cpu"),
        )

    def split(self, seed: int) -> Split | None:
        """None (the trainer draws its own) unless there are more points than a ``DataConfig`` takes."""
        if self.n_train <= 2000:
            return None
        X, y = generate("moons", self.n_train, self.noise, seed)
        val = make_split(self.config(seed, 0.0).data)  # the validation set, drawn as the trainer draws it
        return Split(X, y, val.X_val, val.y_val)

    def steps(self) -> int:
        return math.ceil(self.n_train / self.batch) * self.epochs


VARIES = Setting(epochs=30)
SMALL = Setting(widths=(256, 256), noise=0.5, n_train=80, epochs=100, lr=0.003, batch=16)
TOO_MUCH = Setting(epochs=60)
BN_SHIFT = Setting(widths=(64,), n_train=256, epochs=40)
MC_FAR = Setting(widths=(64, 64), noise=0.2, n_val=200)
NO_SCALE = Setting(epochs=30, n_val=200)
MC_BATCH = Setting(epochs=40, n_val=400, batchnorm=True)
BIG = Setting(widths=(16, 16), noise=0.5, n_train=5000, epochs=10, batch=64)


def _f(x: float) -> str:
    return f"{x:.3g}"


def _prob1(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    return torch.softmax(model(X), 1)[:, 1]


def _boundary_point(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """The input of ``X`` whose prediction (dropout off) is nearest 0.5: where dropout's noise shows most."""
    with torch.no_grad():
        eval_mode(model)
        i = int((_prob1(model, X) - 0.5).abs().argmin())
        train_mode(model)
    return X[i : i + 1]


# -- the experiments -------------------------------------------------------------------------------
def train_mode_varies(seed: int, run: _Run) -> dict[str, Any]:
    trainer = run.train(VARIES, seed, 0.5)
    model, x = trainer.model, _boundary_point(trainer.model, trainer.X_val)
    with torch.no_grad():
        model.set_generator(torch.Generator().manual_seed(seed))
        train_mode(model)
        train = [float(_prob1(model, x)) for _ in range(CALLS)]
        eval_mode(model)
        evals = [float(_prob1(model, x)) for _ in range(CALLS)]
    spread_train, spread_eval = max(train) - min(train), max(evals) - min(evals)
    same = "all gave" if len(set(evals)) == 1 else f"gave {len(set(evals))} different values around"
    return dict(
        holds=len(set(train)) > 1 and spread_train > 0.01 and len(set(evals)) == 1,
        measured=(f"In train mode one input got {len(set(train))} different values of P(class 1) in {CALLS} calls, "
                  f"from {min(train):.3f} to {max(train):.3f}; in eval mode the {CALLS} calls {same} {evals[0]:.4f}."),
        bars={"spread in train mode": spread_train, "spread in eval mode": spread_eval},
        unit=f"max - min of P(class 1) over {CALLS} calls",
        generalizes=("Any network with dropout varies so in train mode at any p > 0 (here a 2 x 32 MLP on moons, "
                     "p = 0.5); eval mode repeats exactly only if nothing else in the model draws random numbers."),
    )


def _pair(setting: Setting, seed: int, run: _Run, ps: tuple[float, float]) -> list[dict[str, float]]:
    """Train the same data and initial weights at the two drop probabilities; their final metrics."""
    return [run.train(setting, seed, p).evaluate() for p in ps]


def _losses(drop: dict[str, float], plain: dict[str, float]) -> dict[str, Any]:
    """The numbers of a p = 0.5 vs p = 0 comparison: final losses, dropout off."""
    return dict(
        measured=(f"Validation loss {_f(drop['val_loss'])} with p = 0.5 against {_f(plain['val_loss'])} with p = 0; "
                  f"training loss {_f(drop['train_loss'])} against {_f(plain['train_loss'])}."),
        bars={"val loss, p = 0.5": drop["val_loss"], "val loss, p = 0": plain["val_loss"],
              "train loss, p = 0.5": drop["train_loss"], "train loss, p = 0": plain["train_loss"]},
        unit="cross-entropy (nats), dropout off",
    )


def small_data_helps(seed: int, run: _Run) -> dict[str, Any]:
    drop, plain = _pair(SMALL, seed, run, (0.5, 0.0))
    return dict(
        holds=plain["val_loss"] > drop["val_loss"] and drop["train_loss"] > plain["train_loss"], **_losses(drop, plain),
        generalizes=(f"Measured on {SMALL.n_train} noisy moons points, a 2 x 256 MLP, {SMALL.epochs} epochs; with more "
                     "data or a smaller network there is less overfitting to prevent: the gain can become a cost."),
    )


def too_much_dropout_underfits(seed: int, run: _Run) -> dict[str, Any]:
    high, mid = _pair(TOO_MUCH, seed, run, (0.9, 0.3))
    return dict(
        holds=high["train_acc"] < mid["train_acc"],
        measured=(f"Training accuracy {high['train_acc']:.1%} with p = 0.9 against {mid['train_acc']:.1%} with "
                  f"p = 0.3 (validation: {high['val_acc']:.1%} against {mid['val_acc']:.1%})."),
        bars={"train accuracy, p = 0.9": high["train_acc"], "train accuracy, p = 0.3": mid["train_acc"],
              "val accuracy, p = 0.9": high["val_acc"], "val accuracy, p = 0.3": mid["val_acc"]},
        unit="accuracy, dropout off",
        generalizes=("Measured on a 2 x 32 MLP, where p = 0.9 leaves about 3 units of a layer per step; a much "
                     "wider network or longer training tolerates more, so the p where underfitting starts varies."),
    )


def bn_variance_shift(seed: int, run: _Run) -> dict[str, Any]:
    """BatchNorm's running statistics come from train-mode forward passes alone (no gradient), so they are
    gathered as training gathers them: Dropout(0.5) then BatchNorm1d over a trained net's hidden features."""
    p = 0.5
    trainer = run.train(BN_SHIFT, seed, p)
    layer = trainer.model.hidden_layers()[0]
    with torch.no_grad():
        h = layer.activation(layer.linear(trainer.X))  # [n, 64], what the dropout receives
        drop = Dropout(p, generator=torch.Generator().manual_seed(seed))
        bn = nn.BatchNorm1d(h.shape[1], momentum=None)  # both train; momentum None: the average over batches
        order = torch.Generator().manual_seed(seed + 1)
        for _ in range(20):
            for batch in torch.randperm(len(h), generator=order).split(BN_SHIFT.batch):
                bn(drop(h[batch]))
        eval_var = drop.eval()(h).var(0).double().numpy()  # at eval the dropout is the identity
        running, mean = bn.running_var.double().numpy(), h.mean(0).double().numpy()
    live = eval_var > 1e-8  # a unit that never fires has no variance to shift
    ratio = running[live] / eval_var[live]
    formula = np.array([variance_shift(m, v, p) for m, v in zip(mean[live], eval_var[live])])
    med, med_formula = float(np.median(ratio)), float(np.median(formula))
    return dict(
        holds=bool((ratio > 1).mean() >= 0.9) and abs(med / med_formula - 1) < 0.15,
        measured=(f"Over the {int(live.sum())} units that fire, the running variance was {_f(med)} times the "
                  f"variance BatchNorm's input has at eval (median; larger for {(ratio > 1).mean():.0%} of them); "
                  f"the variance_shift formula gives {_f(med_formula)} for those units' mean and variance."),
        bars={"running variance (train mode)": float(running[live].mean()),
              "input variance at eval": float(eval_var[live].mean()),
              "running variance the formula predicts": float((eval_var[live] * formula).mean())},
        unit="variance of BatchNorm's input, mean over units",
        generalizes=("The formula holds unit by unit when dropout feeds BatchNorm directly (here p = 0.5, 64 ReLU "
                     "features of a net trained on moons); with a Linear layer between them the variance is still "
                     "larger in training, by an amount the formula does not give; the shift vanishes as p -> 0."),
    )


def mc_wider_far(seed: int, run: _Run) -> dict[str, Any]:
    trainer = run.train(MC_FAR, seed, 0.3)
    far = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 64, endpoint=False)]) * FAR_RADIUS
    on = mc_predict(trainer.model, trainer.split.X_train, MC_PASSES, seed=seed)
    off = mc_predict(trainer.model, far, MC_PASSES, seed=seed)
    s_on, s_far = float(on.std[:, 1].mean()), float(off.std[:, 1].mean())
    return dict(
        holds=s_far > s_on,
        measured=(f"Over T = {MC_PASSES} passes the standard deviation of P(class 1) averaged {_f(s_on)} on the "
                  f"{MC_FAR.n_train} training points and {_f(s_far)} on 64 points of a circle of radius "
                  f"{FAR_RADIUS:g} ({_f(s_far / s_on)} times as large); mutual information "
                  f"{_f(float(on.mutual_info.mean()))} against {_f(float(off.mutual_info.mean()))} nats."),
        bars={"MC std, training points": s_on, f"MC std, circle of radius {FAR_RADIUS:g}": s_far},
        unit=f"std of P(class 1) over {MC_PASSES} passes, mean over points",
        generalizes=("Measured on average over a circle around moons (a 2 x 64 ReLU MLP, p = 0.3); the spread need "
                     "not grow in every direction, and MC dropout can still be confidently wrong far from the data."),
    )


def forgot_scaling_inflates(seed: int, run: _Run) -> dict[str, Any]:
    p = 0.5
    trainer = run.train(NO_SCALE, seed, p, classic=True)  # masks without dividing by 1 - p
    model, X = trainer.model, trainer.X
    first = model.hidden[:3]  # hidden layer 1: its Linear, activation and dropout (the input has none)
    with torch.no_grad():
        model.set_generator(torch.Generator().manual_seed(seed))
        train_mode(model)
        train = float(torch.stack([first(X) for _ in range(CALLS)]).mean())
        eval_mode(model)
        correct = float(first(X).mean())  # classic dropout's evaluation: times (1 - p)
        for d in model.dropouts:
            d.classic = False  # the bug: nothing scales at evaluation
        buggy = float(first(X).mean())
    ratio = buggy / train
    return dict(
        holds=ratio > 1 and abs(ratio * (1 - p) - 1) < 0.1,
        measured=(f"After hidden layer 1's dropout the mean activation was {_f(train)} in training and {_f(buggy)} "
                  f"at evaluation without the (1 - p) factor: {ratio:.2f} times as large, against 1 / (1 - p) = "
                  f"{_f(1 / (1 - p))} (with the factor: {_f(correct)})."),
        bars={"training (masked, not divided)": train, "eval, no (1 - p) factor": buggy, "eval, x (1 - p)": correct},
        unit="mean activation after hidden layer 1's dropout",
        generalizes=("Exact in expectation at the first dropout layer (here p = 0.5, a 2 x 32 MLP); each later layer "
                     "inflates again, roughly compounding, so a deeper network's outputs drift further."),
    )


def mc_train_mode_batch(seed: int, run: _Run) -> dict[str, Any]:
    trainer = run.train(MC_BATCH, seed, 0.5)
    model, X, y = trainer.model, trainer.X_val, trainer.y_val
    x = _boundary_point(model, X)
    batches = [torch.cat([x, X[y == k][: MC_BATCH.batch - 1]]) for k in (0, 1)]  # one point, other companions
    saved, generator, change = {k: v.clone() for k, v in model.state_dict().items()}, torch.Generator(), {}
    model.set_generator(generator)

    def point(mode: Callable[[nn.Module], nn.Module], batch: torch.Tensor, t: int) -> float:
        generator.manual_seed(seed * CALLS + t)  # pass t: the same masks in both batches (row 0 draws first)
        return float(_prob1(mode(model), batch)[0])

    with torch.no_grad():
        for label, mode in (("train", train_mode), ("mc", mc_mode)):
            change[label] = float(np.mean([abs(point(mode, batches[0], t) - point(mode, batches[1], t))
                                           for t in range(CALLS)]))
            model.load_state_dict(saved)  # train mode moved BatchNorm's running statistics
    return dict(
        holds=change["train"] > 0.01 and change["mc"] < 1e-6,
        measured=(f"With model.train() one point's P(class 1) moved by {_f(change['train'])} on average when its "
                  f"{MC_BATCH.batch - 1} batch-mates went from class 0 to class 1 (same masks, {CALLS} passes); "
                  f"with only dropout stochastic it moved by {_f(change['mc'])}."),
        bars={"model.train()": change["train"], "only dropout stochastic": change["mc"]},
        unit="change of one point's P(class 1) between two batches",
        generalizes=(f"Measured with BatchNorm in a 2 x 32 MLP, batches of {MC_BATCH.batch}; any layer that uses batch "
                     "statistics in train mode does this, the more so for small or unusual batches."),
    )


def big_data_dropout_costs(seed: int, run: _Run) -> dict[str, Any]:
    drop, plain = _pair(BIG, seed, run, (0.5, 0.0))
    return dict(
        holds=drop["val_loss"] > plain["val_loss"], **_losses(drop, plain),
        generalizes=(f"Measured with a 2 x 16 MLP on {BIG.n_train} moons points for {BIG.epochs} epochs; a wider "
                     "network, fewer points or much longer training can overfit again, and then dropout can help."),
    )


# -- the table and the job -------------------------------------------------------------------------
class Experiment(NamedTuple):
    """A named experiment: the claim it tests, what runs it, its estimated multiply-adds and steps."""

    claim: str
    run: Callable[[int, _Run], dict[str, Any]]
    work: float
    steps: int


def _entry(claim: str, run: Callable[[int, _Run], dict[str, Any]], setting: Setting, runs: int,
           passes: int = 0, points: int = 0) -> Experiment:
    """Its work: ``runs`` trainings of ``setting`` (the forward passes of their minibatches, as ``Sweep.work``
    counts them), then ``passes`` forward passes over ``points`` inputs."""
    inputs = runs * setting.steps() * setting.batch + passes * points
    return Experiment(claim, run, float(inputs * network_work(setting.config(0, 0.0))), runs * setting.steps())


EXPERIMENTS: dict[str, Experiment] = {
    "train-mode-varies": _entry(
        "Train-mode outputs vary from call to call; eval-mode outputs are identical.",
        train_mode_varies, VARIES, 1, 2 * CALLS + 1, VARIES.n_val),
    "small-data-helps": _entry(
        "Validation loss is lower with dropout (and training loss higher).", small_data_helps, SMALL, 2),
    "too-much-dropout-underfits": _entry(
        "With p = 0.9 the training accuracy is lower: the network underfits.", too_much_dropout_underfits,
        TOO_MUCH, 2),
    "bn-variance-shift": _entry(
        "BatchNorm's running variance is larger than the variance of its input at evaluation, by roughly the "
        "factor the variance-shift formula gives.", bn_variance_shift, BN_SHIFT, 1, 1,
        20 * BN_SHIFT.n_train),
    "mc-wider-far": _entry(
        "The MC dropout spread far from the training data is larger than on the training data.", mc_wider_far,
        MC_FAR, 1, MC_PASSES, MC_FAR.n_train + 64),
    "forgot-scaling-inflates": _entry(
        "Evaluated with dropout off, the activations are larger than in training on average, by about "
        "1 / (1 - p).", forgot_scaling_inflates, NO_SCALE, 1, CALLS + 2, NO_SCALE.n_train),
    "mc-train-mode-batch": _entry(
        "With model.train() one point's prediction changes with the other points in its batch; with BatchNorm "
        "in eval it does not.", mc_train_mode_batch, MC_BATCH, 1, 4 * CALLS, MC_BATCH.batch),
    "big-data-dropout-costs": _entry(
        "Dropout gives a higher validation loss here: the network has too little capacity to overfit, so "
        "dropout only costs.", big_data_dropout_costs, BIG, 2),
}


def _experiment(request: ExperimentRequest) -> Experiment:
    if request.name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {request.name!r}; the known ones are {', '.join(EXPERIMENTS)}")
    seed = request.seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return EXPERIMENTS[request.name]


def experiment_work(request: ExperimentRequest) -> float:
    """Estimated multiply-adds of the experiment (``_entry`` says what is counted), for the job budget."""
    return _experiment(request).work


def run_experiment(request: ExperimentRequest, progress: Callable[[Progress], None] | None = None,
                   cancelled: Callable[[], bool] | None = None) -> Observation:
    """Run the named experiment at the request's seed; its observation (or a cancelled one)."""
    experiment = _experiment(request)
    try:
        found = experiment.run(int(request.seed), _Run(experiment.steps, progress, cancelled))
    except _Cancelled:
        return Observation(request.name, experiment.claim, False, "The run was cancelled before it finished.",
                           {}, "", "", cancelled=True)
    bars = {label: float(value) for label, value in found.pop("bars").items()}
    return Observation(request.name, experiment.claim, bool(found.pop("holds")), bars=bars, **found)
