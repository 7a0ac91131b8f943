"""A CNN sweep of 12 members: one batched model (``core.engine.cnn_sweep``) next to 12 textbook runs.

Both sides train the same 12 CNNs of lesson 6 (8x8 digits -> 3x3 conv, 8 maps -> ReLU -> dropout ->
3x3 conv, 8 maps -> ReLU -> dropout -> 2x2 max-pool -> Linear to 10 classes), one per dropout kind
(none, element, channel, block; p = 0.2 after each conv layer) and seed (3 seeds), on the same
data, for the same number of minibatch steps, and evaluate each model once at the end.
The textbook side is what a tutorial writes: ``TensorDataset`` + ``DataLoader(shuffle=True)``,
``nn.Sequential`` with ``nn.Conv2d`` and ``nn.Dropout``/``nn.Dropout2d`` (DropBlock from
``core.engine.spatial``, since torch has none), default Adam, one model after another, with
torch's default thread count (what a tutorial gets) and again with one thread (the fairer
baseline on a busy 2-core machine). Another row trains the 12 models one after another with our
single-model ``Trainer``.

Sides are interleaved in rounds in one process; the median wall time per side is reported, with
the round-to-round spread (max / min - 1). Nothing asserts on absolute time.

    python bench/bench_cnn_sweep.py [--epochs 20] [--rounds 3] [--batch 32] [--device cuda]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from core.engine.cnn import DIGIT_SIDE  # noqa: E402
from core.engine.config import CNNConfig, DataConfig, RunConfig, TrainConfig  # noqa: E402
from core.engine.datasets import make_split  # noqa: E402
from core.engine.spatial import BlockDropout  # noqa: E402
from core.engine.sweep import Sweep, run_sweep  # noqa: E402
from core.engine.trainer import Trainer  # noqa: E402

KINDS = ("none", "element", "channel", "block")
SEEDS = (0, 1, 2)
P = 0.2


def members(epochs: int, batch: int, device: str) -> list[RunConfig]:
    return [
        RunConfig(DataConfig("digits", 0.0, 500, 400, seed), CNNConfig(kinds=(kind, kind), p_hidden=(P, P)),
                  TrainConfig(batch_size=batch, max_epochs=epochs, device=device))
        for kind in KINDS for seed in SEEDS
    ]


def textbook_dropout(kind: str, cfg: CNNConfig) -> list[nn.Module]:
    if kind == "element":
        return [nn.Dropout(P)]
    if kind == "channel":
        return [nn.Dropout2d(P)]
    if kind == "block":
        return [BlockDropout(P, cfg.block_size)]
    return []


def textbook_model(cfg: CNNConfig) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Unflatten(1, (1, DIGIT_SIDE, DIGIT_SIDE))]
    width_in = 1
    for width, kind in zip(cfg.channels, cfg.kinds):
        layers += [nn.Conv2d(width_in, width, 3, padding=1), nn.ReLU(), *textbook_dropout(kind, cfg)]
        width_in = width
    side = DIGIT_SIDE // 2
    return nn.Sequential(*layers, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(width_in * side * side, 10))


def textbook(cfgs: list[RunConfig], device: torch.device, steps: int) -> None:
    """The tutorial loop, one model after another: DataLoader batches, default Adam, an evaluation at the end."""
    for cfg in cfgs:
        split = make_split(cfg.data)
        X, y = torch.as_tensor(split.X_train, device=device), torch.as_tensor(split.y_train, device=device)
        loader = DataLoader(TensorDataset(X, y), batch_size=cfg.train.batch_size, shuffle=True)
        model = textbook_model(cfg.model).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
        model.train()
        done = 0
        while done < steps:
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss.item()  # the running loss a tutorial logs
                done += 1
                if done == steps:
                    break
        model.eval()
        with torch.no_grad():
            for X_eval, y_eval in ((X, y), (torch.as_tensor(split.X_val, device=device),
                                            torch.as_tensor(split.y_val, device=device))):
                logits = model(X_eval)
                F.cross_entropy(logits, y_eval).item(), (logits.argmax(1) == y_eval).float().mean().item()


def sequential_ours(cfgs: list[RunConfig]) -> None:
    for cfg in cfgs:
        trainer = Trainer(cfg, evaluate=False)
        while not trainer.finished:
            trainer.step()
        trainer.evaluate()


def timed(fn, threads: int, device: torch.device) -> float:
    torch.set_num_threads(threads)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs per model")
    parser.add_argument("--batch", type=int, default=32, help="minibatch size")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    device = torch.device(args.device)
    cfgs = members(args.epochs, args.batch, args.device)
    sweep = Sweep(tuple(cfgs))
    steps = sweep.steps_for(cfgs[0].data.n_train)
    sides = (
        (f"textbook, one model after another ({default_threads} threads)", lambda: textbook(cfgs, device, steps),
         default_threads),
        ("textbook, one model after another (1 thread)", lambda: textbook(cfgs, device, steps), 1),
        ("our Trainer, one model after another", lambda: sequential_ours(cfgs), 1),
        ("our batched CNN sweep (core.engine.cnn_sweep)", lambda: run_sweep(sweep), 1),
    )
    for _, fn, threads in sides:  # warm-up (and make_split's cache)
        timed(fn, threads, device)
    times: dict[str, list[float]] = {name: [] for name, _, _ in sides}
    for _ in range(args.rounds):
        for name, fn, threads in sides:
            times[name].append(timed(fn, threads, device))
    torch.set_num_threads(default_threads)

    dev_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {dev_name}, os.cpu_count() {os.cpu_count()}")
    print(f"{len(cfgs)} CNNs {cfgs[0].model.channels}, kinds {', '.join(KINDS)} x seeds {SEEDS}, p = {P}; "
          f"{steps} steps each, batch {args.batch}, n_train {cfgs[0].data.n_train}; "
          f"median of {args.rounds} interleaved rounds")
    print(f"load average {os.getloadavg()[0]:.2f}\n")
    width = max(len(name) for name, _, _ in sides)
    baselines = [statistics.median(times[name]) for name, _, _ in sides[:2]]
    print(f"{'side':<{width}}  {'seconds':>8}  {'vs textbook':>11}  {'vs textbook 1 thr':>17}  {'spread':>6}")
    for name, _, _ in sides:
        t = statistics.median(times[name])
        spread = max(times[name]) / min(times[name]) - 1
        print(f"{name:<{width}}  {t:>8.3f}  {baselines[0] / t:>10.2f}x  {baselines[1] / t:>16.2f}x  {spread:>6.0%}")


if __name__ == "__main__":
    main()
