"""Training steps/s of our ``core.engine.trainer.Trainer`` next to the textbook PyTorch loop.

Both sides train the same MLP (2 -> 128 -> 128 -> 2, ReLU, dropout p=0.5 after each
hidden layer) on the same data with the same batch size and learning rate. Two kinds of
rows: bare training steps (neither side evaluates), and steps with an evaluation of loss
and accuracy on the whole train and validation sets (dropout off) at the end of every
epoch, as the Playground does for its curves. With 40 points and batch 16 an epoch is
only 3 steps, so there the evaluation is a large share of the work on both sides.

The textbook side is what a tutorial writes: ``TensorDataset`` + ``DataLoader(shuffle=True)``,
``nn.Sequential`` with ``nn.Dropout``, default ``torch.optim.Adam`` and torch's default
thread count. Ours keeps the tensors in memory and slices a ``randperm`` per epoch
(no DataLoader, collate or sampler per batch), uses fused Adam (one kernel per step
instead of a handful of small ops per parameter) and one torch thread (tiny matmuls
lose more to OpenMP hand-offs than they gain; see ``core/engine/runtime.configure``).

Each side runs for a fixed wall-time window after a warm-up, A/B/A/B interleaved in
one process; the median steps/s per side is reported. Nothing asserts on absolute time.

    python bench/bench_trainer.py [--seconds 3] [--rounds 3] [--device cuda]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from core.engine.config import RunConfig, TrainConfig  # noqa: E402
from core.engine.datasets import make_split  # noqa: E402
from core.engine.trainer import Trainer  # noqa: E402


class Textbook:
    """The tutorial loop, one minibatch per ``step()``, evaluating at each epoch's end."""

    def __init__(self, cfg: RunConfig, device: torch.device, evaluate: bool = True):
        self.evaluate_each_epoch = evaluate
        split = make_split(cfg.data)
        t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
        self.X, self.y = t(split.X_train), t(split.y_train)
        self.X_val, self.y_val = t(split.X_val), t(split.y_val)
        self.loader = DataLoader(TensorDataset(self.X, self.y), batch_size=cfg.train.batch_size, shuffle=True)
        layers: list[nn.Module] = []
        width_in = 2
        for width, p in zip(cfg.model.num_hiddens, cfg.model.p_hidden):
            layers += [nn.Linear(width_in, width), nn.ReLU(), nn.Dropout(p)]
            width_in = width
        self.model = nn.Sequential(*layers, nn.Linear(width_in, 2)).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr)
        self.model.train()
        self.batches = iter(self.loader)

    def step(self) -> None:
        try:
            xb, yb = next(self.batches)
        except StopIteration:
            if self.evaluate_each_epoch:
                self.evaluate()
            self.batches = iter(self.loader)
            xb, yb = next(self.batches)
        loss = F.cross_entropy(self.model(xb), yb)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        loss.item()  # the running loss a tutorial logs; ours reads it too

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        out = {}
        for name, X, y in (("train", self.X, self.y), ("val", self.X_val, self.y_val)):
            logits = self.model(X)
            out[f"{name}_loss"] = F.cross_entropy(logits, y).item()
            out[f"{name}_acc"] = (logits.argmax(1) == y).float().mean().item()
        self.model.train()
        return out


def timed(step, seconds: float, threads: int, device: torch.device) -> float:
    """Steps per second of ``step`` over a wall-time window of ``seconds``."""
    torch.set_num_threads(threads)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(8):  # check the clock every few steps; both sides alike
            step()
        n += 8
        if time.perf_counter() >= deadline:
            break
    sync()
    return n / (time.perf_counter() - start)


def bench(name: str, cfg: RunConfig, evaluate: bool, args, default_threads: int, device: torch.device) -> tuple:
    ours, book = Trainer(cfg, evaluate=evaluate), Textbook(cfg, device, evaluate=evaluate)
    sides = (("textbook", book.step, default_threads), ("ours", ours.step, 1))
    for _, step, threads in sides:
        timed(step, args.warmup, threads, device)
    rates: dict[str, list[float]] = {"textbook": [], "ours": []}
    for _ in range(args.rounds):
        for side, step, threads in sides:
            rates[side].append(timed(step, args.seconds, threads, device))
    torch.set_num_threads(default_threads)
    book_rate, ours_rate = statistics.median(rates["textbook"]), statistics.median(rates["ours"])
    spread = max(max(r) / min(r) for r in rates.values()) - 1  # round-to-round noise, worst side
    return name, book_rate, ours_rate, ours_rate / book_rate, spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed window per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds; the median is reported")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds per side first")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    device = torch.device(args.device)
    base = RunConfig(train=TrainConfig(device=args.device))
    big = replace(base, data=replace(base.data, n_train=1000), train=replace(base.train, batch_size=32))
    workloads = [
        (f"{label}, {'+ eval each epoch' if evaluate else 'training steps'}", cfg, evaluate)
        for label, cfg in (
            (f"default (n={base.data.n_train}, batch {base.train.batch_size})", base),
            (f"larger (n={big.data.n_train}, batch {big.train.batch_size})", big),
        )
        for evaluate in (False, True)
    ]

    dev_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {dev_name}, os.cpu_count() {os.cpu_count()}")
    print(f"threads: textbook {default_threads} (torch default), ours 1 (core/engine/runtime.configure)")
    print(f"window {args.seconds:g} s x {args.rounds} rounds per side, interleaved; median steps/s")
    print("'+ eval each epoch': both sides evaluate train+val loss/acc at every epoch end")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other busy processes skew the 2-thread side most)\n")
    rows = [bench(name, cfg, evaluate, args, default_threads, device) for name, cfg, evaluate in workloads]
    width = max(len(r[0]) for r in rows)
    print(f"{'workload':<{width}}  {'textbook steps/s':>16}  {'ours steps/s':>12}  {'ratio':>6}  {'spread':>6}")
    for name, book_rate, ours_rate, ratio, spread in rows:
        print(f"{name:<{width}}  {book_rate:>16.0f}  {ours_rate:>12.0f}  {ratio:>5.2f}x  {spread:>6.0%}")
    print(f"\nspread: max/min - 1 over rounds (worst side); load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
