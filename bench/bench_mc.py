"""Seconds per Monte-Carlo uncertainty map: ``core.analysis.mc`` next to the textbook loop.

Both sides run T = 50 stochastic passes of the default Playground MLP (2 -> 128 -> 128 -> 2,
ReLU, p = 0.5 after each hidden layer, p_input = 0) over a 200 x 200 grid, under
``torch.no_grad()``. The textbook loop is ``for t in range(T): probs.append(model(grid).softmax(-1))``
with dropout on: once with our MLP in ``mc_mode`` (what a page would write), once with a plain
``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``/``nn.Dropout`` in train mode holding the same
weights (torch's own dropout kernel). It returns the passes only. Ours returns the passes AND
every summary (mean, std, entropies, mutual information, the weight-scaling prediction).

Rows for ours:
- cold: a new ``MCMapCache`` every time (fingerprint of the weights, hash of the grid, the
  layers before the first dropout, every pass, every summary): the honest figure;
- redraw: the same call again, nothing changed (the cache returns its map);
- T 50 -> 60: a cache holding T = 50 asked for T = 60 (10 new passes and the summaries).

Sides are interleaved A/B/A/B in one process, at 1 torch thread (as the app runs) and at 2;
the median seconds per map are reported with the speed-up against the faster textbook side at
the same thread count. Nothing asserts on time.

    python bench/bench_mc.py [--rounds 5] [--size 200] [--T 50]
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from core.analysis.mc import MCMapCache  # noqa: E402
from core.engine.config import ModelConfig  # noqa: E402
from core.engine.datasets import EXTENT  # noqa: E402
from core.engine.dropout import Dropout, mc_mode  # noqa: E402
from core.engine.models import build_mlp  # noqa: E402


def plain_copy(model: nn.Module) -> nn.Sequential:
    """The same network as a tutorial writes it: nn.Linear, nn.ReLU, nn.Dropout, in train mode."""
    layers = [nn.Dropout(m.p) if isinstance(m, Dropout) else copy.deepcopy(m) for m in model.hidden]
    return nn.Sequential(*layers, copy.deepcopy(model.out)).train()


def textbook(model: nn.Module, grid: torch.Tensor, T: int) -> torch.Tensor:
    with torch.no_grad():
        probs = []
        for _ in range(T):
            probs.append(model(grid).softmax(-1))
        return torch.stack(probs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--size", type=int, default=200, help="grid points per side")
    parser.add_argument("--T", type=int, default=50, help="stochastic passes per map")
    args = parser.parse_args()

    T = args.T
    model = mc_mode(build_mlp(ModelConfig(), seed=0))
    plain = plain_copy(model)
    axis = np.linspace(-EXTENT, EXTENT, args.size, dtype=np.float32)
    grid_np = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    grid = torch.from_numpy(grid_np)
    warm = MCMapCache()
    warm.predict(model, grid_np, T)

    def incremental() -> float:
        cache = MCMapCache()
        cache.predict(model, grid_np, T)  # untimed: the map the page already shows
        start = time.perf_counter()
        cache.predict(model, grid_np, T + 10)
        return time.perf_counter() - start

    def timed(fn):
        def run() -> float:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
        return run

    sides = (
        ("textbook, our MLP in mc_mode", timed(lambda: textbook(model, grid, T))),
        ("textbook, nn.Sequential + nn.Dropout", timed(lambda: textbook(plain, grid, T))),
        ("ours, cold cache (new MCMapCache)", timed(lambda: MCMapCache().predict(model, grid_np, T))),
        ("ours, redraw, nothing changed", timed(lambda: warm.predict(model, grid_np, T))),
        (f"ours, T {T} -> {T + 10} (10 new passes)", incremental),
    )
    default_threads = torch.get_num_threads()
    times = {(name, threads): [] for name, _ in sides for threads in (1, 2)}
    for threads in (1, 2):  # warm-up
        torch.set_num_threads(threads)
        for _, fn in sides:
            fn()
    for _ in range(args.rounds):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name, fn in sides:
                times[name, threads].append(fn())
    torch.set_num_threads(default_threads)

    print(f"torch {torch.__version__}, cpu, os.cpu_count() {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    print(f"default MLP 2-128-128-2, ReLU, p 0.5/0.5; grid {args.size}x{args.size} = {grid.shape[0]} points; "
          f"T = {T}; median of {args.rounds} interleaved rounds")
    width = max(len(name) for name, _ in sides)
    print(f"\n{'side':<{width}}  {'threads':>7}  {'s per map':>10}  {'vs textbook':>11}  {'spread':>6}")
    for threads in (1, 2):
        baseline = min(statistics.median(times[name, threads]) for name, _ in sides[:2])
        for name, _ in sides:
            ts = times[name, threads]
            t = statistics.median(ts)
            spread = max(ts) / min(ts) - 1
            print(f"{name:<{width}}  {threads:>7}  {t:>10.4f}  {baseline / t:>10.1f}x  {spread:>6.0%}")
    print("\n'vs textbook': the faster textbook side's median at the same thread count over this row's; "
          f"spread: max/min - 1 over rounds. Load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
