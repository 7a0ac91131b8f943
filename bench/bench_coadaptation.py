"""What the co-adaptation statistics cost next to training: steps/s with and without the recorder.

Three trainers on the same config run side by side: a plain ``core.engine.trainer.Trainer``
(which already evaluates loss and accuracy at every epoch's end, as the Playground
does), and the same with a ``CoadaptationRecorder`` measuring knock-out damage,
correlation and sparsity of the first hidden layer on the validation set every 5 epochs
and every epoch. The recorder's thinning is switched off (``max_points`` huge) so that
``every`` stays put however long the windows run.

Two workloads: the Playground default (moons, 40 points, batch 16, so an epoch is only
3 steps and one measurement weighs a lot against it; 400 validation points; 2 -> 128 ->
128 -> 2) and the 8x8 digits (500 images, batch 32, 16 steps an epoch; 64 -> 128 -> 128
-> 10). The cost of one ``measure`` call on each layer is printed too.

Then the page itself: lesson 4's live runner (its default pair, 16 units, dropout on and
off, unpaced) with the statistics measured on the clock (every ``STATS_INTERVAL``), with
and without a unit knocked out, against the same runner with no statistics: epochs per
second of the pair, which is what a learner watching the page gets.

Each side runs for a fixed wall-time window after a warm-up, interleaved round by round
in one process with one torch thread (as the app runs); the median steps/s per side is
reported, and its ratio to the plain trainer. Nothing asserts on absolute time.

    python bench/bench_coadaptation.py [--seconds 2] [--rounds 3]
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

from bench_trainer import timed  # noqa: E402
from core.analysis.coadaptation import CoadaptationRecorder, measure  # noqa: E402
from core.engine.config import RunConfig, TrainConfig  # noqa: E402
from core.engine.trainer import Trainer  # noqa: E402
from core.live.pair import LiveRunner  # noqa: E402
from core.ui.labs.coadaptation import DEFAULTS  # noqa: E402

NO_THINNING = 10**9


def measure_ms(trainer: Trainer, layer: int, repeats: int = 20) -> float:
    """Milliseconds of one ``measure`` call (knock-out, correlation, sparsity) on the validation set."""
    measure(trainer.model, trainer.X_val, trainer.y_val, layer)
    start = time.perf_counter()
    for _ in range(repeats):
        measure(trainer.model, trainer.X_val, trainer.y_val, layer)
    return (time.perf_counter() - start) / repeats * 1e3


def bench(name: str, cfg: RunConfig, args) -> list[tuple]:
    sides = {
        "no recorder": Trainer(cfg),
        "recorder every 5 epochs": Trainer(cfg, callbacks=(CoadaptationRecorder(every=5, max_points=NO_THINNING),)),
        "recorder every epoch": Trainer(cfg, callbacks=(CoadaptationRecorder(every=1, max_points=NO_THINNING),)),
    }
    for trainer in sides.values():
        timed(trainer.step, args.warmup, 1, torch.device("cpu"))
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side, trainer in sides.items():
            rates[side].append(timed(trainer.step, args.seconds, 1, torch.device("cpu")))
    base = statistics.median(rates["no recorder"])
    plain = sides["no recorder"]
    costs = [measure_ms(plain, layer) for layer in range(len(cfg.model.num_hiddens))]
    steps_per_epoch = -(-cfg.data.n_train // cfg.train.batch_size)
    rows = []
    for side, r in rates.items():
        rate = statistics.median(r)
        rows.append((f"{name}, {side}", rate, rate / base, max(r) / min(r) - 1))
    return rows, costs, steps_per_epoch


def live_epochs_per_second(runner: LiveRunner, seconds: float) -> float:
    """Epochs per second the runner trains while playing, over a window of ``seconds``."""
    start_epoch = runner.snapshot()["runs"][0]["epoch"]
    runner.send("play")
    time.sleep(seconds)
    runner.send("pause")
    snap = runner.wait_for(lambda s: s["state"] == "paused", 2)
    return (snap["runs"][0]["epoch"] - start_epoch) / seconds


def bench_live(args) -> list[tuple]:
    """Lesson 4's live pair, unpaced, with and without its statistics (and a knocked-out unit)."""
    d = DEFAULTS
    base = RunConfig()
    cfg = replace(base, data=replace(base.data, dataset=d["dataset"], noise=d["noise"], n_train=d["n_train"]),
                  model=replace(base.model, num_hiddens=(d["width"],), p_hidden=(d["p"],)),
                  train=replace(base.train, device="cpu", max_epochs=10**5))
    without = replace(cfg, model=cfg.model.with_p(0.0, (0.0,)))
    sides = {
        "no statistics": LiveRunner(cfg, without, epochs_per_second=None),
        "statistics on the clock": LiveRunner(cfg, without, epochs_per_second=None, coadaptation_layer=0),
        "statistics + a unit knocked out": LiveRunner(cfg, without, epochs_per_second=None, coadaptation_layer=0),
    }
    sides["statistics + a unit knocked out"].send("knockout", layer=0, units=[0])
    try:
        for runner in sides.values():
            live_epochs_per_second(runner, args.warmup)
        rates: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, runner in sides.items():
                rates[side].append(live_epochs_per_second(runner, args.seconds))
    finally:
        for runner in sides.values():
            runner.close()
    base_rate = statistics.median(rates["no statistics"])
    return [(f"lesson 4 live pair, {side}", statistics.median(r), statistics.median(r) / base_rate,
             max(r) / min(r) - 1) for side, r in rates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timed window per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per side first")
    args = parser.parse_args()

    torch.set_num_threads(1)  # as core/engine/runtime.configure does for the app
    default = RunConfig(train=TrainConfig(device="cpu"))
    digits = replace(
        default,
        data=replace(default.data, dataset="digits", noise=0.0, n_train=500, n_val=400),
        train=replace(default.train, batch_size=32),
    )
    workloads = (
        (f"default (moons n={default.data.n_train}, batch {default.train.batch_size})", default),
        (f"digits (n={digits.data.n_train}, batch {digits.train.batch_size})", digits),
    )

    print(f"torch {torch.__version__}, cpu, os.cpu_count() {os.cpu_count()}, 1 torch thread")
    print(f"window {args.seconds:g} s x {args.rounds} rounds per side, interleaved; median steps/s")
    print("every side evaluates train+val loss/acc at each epoch end; the recorder measures hidden layer 0")
    print(f"load average before: {os.getloadavg()[0]:.2f}\n")
    results = [(name, cfg, *bench(name, cfg, args)) for name, cfg in workloads]
    width = max(len(row[0]) for _, _, rows, _, _ in results for row in rows)
    print(f"{'workload':<{width}}  {'steps/s':>8}  {'vs none':>7}  {'spread':>6}")
    for _, _, rows, _, _ in results:
        for label, rate, ratio, spread in rows:
            print(f"{label:<{width}}  {rate:>8.0f}  {ratio:>6.2f}x  {spread:>6.0%}")
    print("\none measure() call (knock-out of every unit + correlation + sparsity, on the validation set):")
    for name, cfg, _, costs, steps_per_epoch in results:
        per_layer = ", ".join(f"layer {i}: {ms:.1f} ms" for i, ms in enumerate(costs))
        print(f"  {name}: {per_layer}  ({steps_per_epoch} training steps an epoch, {cfg.data.n_val} val points)")
    live = bench_live(args)
    width = max(len(row[0]) for row in live)
    print(f"\n{'the page (A and B in lockstep, unpaced)':<{width}}  {'epochs/s':>8}  {'vs none':>7}  {'spread':>6}")
    for label, rate, ratio, spread in live:
        print(f"{label:<{width}}  {rate:>8.1f}  {ratio:>6.2f}x  {spread:>6.0%}")
    print(f"\nspread: max/min - 1 over rounds; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
