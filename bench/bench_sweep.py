"""A sweep of 10 dropout rates: one batched model (``core.engine.sweep``) next to 10 textbook runs.

Both sides train the same 10 MLPs (2 -> 128 -> 128 -> 2, ReLU, p = 0, 0.1, ..., 0.9 after
each hidden layer) on the same data, for the same number of minibatch steps, and evaluate
each model once at the end. The baseline is the textbook loop of ``bench_trainer.py``
(``DataLoader``, ``nn.Sequential`` + ``nn.Dropout``, default Adam, torch's default threads),
run for one model after another, with torch's default thread count (what a tutorial gets)
and again with one thread (the fairer baseline on a busy 2-core machine, where two OpenMP
threads can collapse). For context, another row trains the 10 models one after another
with our single-model ``Trainer``.

Sides are interleaved A/B/A/B in one process; the median wall time per side is reported.
Nothing asserts on absolute time.

    python bench/bench_sweep.py [--epochs 300] [--rounds 3] [--device cuda]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from bench_trainer import Textbook  # noqa: E402
from core.engine.config import RunConfig, TrainConfig  # noqa: E402
from core.engine.sweep import Sweep, run_sweep  # noqa: E402
from core.engine.trainer import Trainer  # noqa: E402

RATES = tuple(round(0.1 * i, 1) for i in range(10))


def members(epochs: int, device: str) -> list[RunConfig]:
    base = RunConfig(train=TrainConfig(max_epochs=epochs, device=device))
    return [replace(base, model=base.model.with_p(p_hidden=(p, p))) for p in RATES]


def textbook(cfgs: list[RunConfig], device: torch.device) -> None:
    for cfg in cfgs:
        book = Textbook(cfg, device, evaluate=False)
        steps = -(-cfg.data.n_train // cfg.train.batch_size) * cfg.train.max_epochs
        for _ in range(steps):
            book.step()
        book.evaluate()


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
    parser.add_argument("--epochs", type=int, default=300, help="epochs per model (3 steps each; 300 = the Playground default)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    device = torch.device(args.device)
    cfgs = members(args.epochs, args.device)
    sweep = Sweep(tuple(cfgs))
    steps = sweep.total_steps()
    sides = (
        (f"textbook, one model after another ({default_threads} threads)", lambda: textbook(cfgs, device),
         default_threads),
        ("textbook, one model after another (1 thread)", lambda: textbook(cfgs, device), 1),
        ("our Trainer, one model after another", lambda: sequential_ours(cfgs), 1),
        ("our batched sweep (core.engine.sweep)", lambda: run_sweep(sweep), 1),
    )
    for _, fn, threads in sides:  # warm-up
        timed(fn, threads, device)
    times: dict[str, list[float]] = {name: [] for name, _, _ in sides}
    for _ in range(args.rounds):
        for name, fn, threads in sides:
            times[name].append(timed(fn, threads, device))
    torch.set_num_threads(default_threads)

    dev_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {dev_name}, os.cpu_count() {os.cpu_count()}")
    print(f"10 models, p = {', '.join(f'{p:g}' for p in RATES)}; {steps} steps each, batch "
          f"{cfgs[0].train.batch_size}, n_train {cfgs[0].data.n_train}; median of {args.rounds} interleaved rounds")
    print(f"load average {os.getloadavg()[0]:.2f}\n")
    baseline = statistics.median(times[sides[0][0]])
    width = max(len(name) for name, _, _ in sides)
    print(f"{'side':<{width}}  {'seconds':>8}  {'speed-up vs textbook':>20}  {'spread':>6}")
    for name, _, _ in sides:
        t = statistics.median(times[name])
        spread = max(times[name]) / min(times[name]) - 1
        print(f"{name:<{width}}  {t:>8.3f}  {baseline / t:>19.2f}x  {spread:>6.0%}")


if __name__ == "__main__":
    main()
