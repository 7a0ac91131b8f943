"""One run as a standalone PyTorch script, and the engine's own final numbers for the same run.

``pytorch_script(cfg)`` writes a ``.py`` that imports torch and numpy only (no ``core``): it rebuilds the
same 2-D data (the generator's source is copied from ``core.engine.datasets``, not rewritten; uploaded
points are written into the script as the lab scaled them), the same MLP with the same initial weights
(drawn from the seed in the same order), the same dropout masks (one
generator, seeded ``seed + 1``, drawn in the same order), the same batch order (``seed + 2``) and the same
optimizer, trains for ``max_epochs`` and prints the final metrics as JSON (``--json PATH`` writes them too).
On the same device it repeats the engine's run; ``final_metrics(cfg)`` is the engine's side, for
``python -m core train`` and for the test that holds the two together.

What the script covers is the Playground's MLP with standard dropout (inverted or classic), BatchNorm,
max-norm and nuisance inputs on the 2-D sets and on uploaded points. A config it cannot write (the CNN, a
dropout variant, the digits, which ship inside scikit-learn) raises ``ConfigError`` with a sentence.
"""
from __future__ import annotations

import inspect
import json
import math
from typing import Any

from core.engine import datasets
from core.engine.config import PLANE_DATASETS, UPLOAD_LIMIT, UPLOADED, ConfigError, ModelConfig, RunConfig


def exportable(cfg: RunConfig) -> str | None:
    """None when ``pytorch_script`` can write ``cfg``; else the sentence that says why not."""
    if not isinstance(cfg.model, ModelConfig):
        return "The script export covers the MLP; this run is a CNN."
    if cfg.model.variants:
        return (f"The script export covers standard dropout; this run uses "
                f"{'/'.join(cfg.model.layer_variants())}.")
    if cfg.data.dataset not in PLANE_DATASETS + (UPLOADED,):
        return (f"The script export covers the 2-D sets ({', '.join(PLANE_DATASETS)}) and uploaded points, "
                f"not {cfg.data.dataset}.")
    return None


def pytorch_script(cfg: RunConfig, *, title: str = "a Dropout Lab run") -> str:
    """The standalone script for ``cfg`` (see the module's docstring); ConfigError if it cannot be written."""
    problem = exportable(cfg)
    if problem is not None:
        raise ConfigError(problem)
    d, m, t = cfg.data, cfg.model, cfg.train
    data, split_doc, split_lines = _data_section(d)
    settings = {
        "dataset": d.dataset, "noise": d.noise, "n_train": d.n_train, "n_val": d.n_val, "seed": d.seed,
        "nuisance": d.nuisance, "hidden": list(m.num_hiddens), "activation": m.activation, "p_input": m.p_input,
        "p_hidden": list(m.p_hidden), "classic": m.classic, "batchnorm": m.batchnorm, "optimizer": t.optimizer,
        "lr": t.lr, "weight_decay": t.weight_decay, "max_norm": t.max_norm,
        "batch_size": min(t.batch_size, d.n_train), "epochs": t.max_epochs,
    }
    lines = ",\n".join(f"    {k!r}: {v!r}" for k, v in settings.items())
    return _TEMPLATE.format(
        title=title, settings="{\n" + lines + ",\n}", data=data, split_doc=split_doc, split_lines=split_lines,
        nuisance_std=repr(datasets.NUISANCE_STD), activation=_ACTIVATIONS[m.activation],
    )


_GENERATED = """\
# -- the data: two classes in the plane, generated from (n, noise, seed) -------------------------------

{sources}


def generate(n, noise, seed):
    X, y = {generator}(n, noise, np.random.default_rng(seed))
    order = np.random.default_rng(seed + 1).permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.int64)"""
_GENERATED_SPLIT = ("Training and validation sets drawn independently from the same distribution.",
                    'X_train, y_train = generate(s["n_train"], s["noise"], s["seed"])\n'
                    '    X_val, y_val = generate(s["n_val"], s["noise"], s["seed"] + 1_000_003)')

_UPLOADED = """\
# -- the data: the points of the uploaded file (fingerprint {upload}), each axis scaled into [-{limit}, {limit}] --
# as the lab scaled them; (x, y, class), class 0 and 1 being the file's two labels in the lab's order

TRAIN_POINTS = {train}

VAL_POINTS = {val}


def points(rows):
    rows = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return rows[:, :2].astype(np.float32), rows[:, 2].astype(np.int64)"""
_UPLOADED_SPLIT = ("The uploaded file's training and validation points.",
                   "(X_train, y_train), (X_val, y_val) = points(TRAIN_POINTS), points(VAL_POINTS)")


def _data_section(d: Any) -> tuple[str, str, str]:
    """The script's data code (the generator's source, or the uploaded points) and its make_split's body."""
    if d.dataset == UPLOADED:
        text = _UPLOADED.format(upload=d.upload, limit=UPLOAD_LIMIT, train=_rows(d.train_points),
                                val=_rows(d.val_points))
        return (text, *_UPLOADED_SPLIT)
    generator = datasets.DATASETS[d.dataset]
    sources = "\n\n".join(inspect.getsource(f).rstrip() for f in (datasets._split, generator))
    return (_GENERATED.format(sources=sources, generator=generator.__name__), *_GENERATED_SPLIT)


def _rows(points: tuple) -> str:
    """Points as a Python list, four to a line."""
    cells = [f"({x!r}, {y!r}, {c})" for x, y, c in points]
    return "[\n" + "".join(f"    {', '.join(cells[i:i + 4])},\n" for i in range(0, len(cells), 4)) + "]"


_ACTIVATIONS = {"relu": "nn.ReLU", "tanh": "nn.Tanh", "gelu": "nn.GELU", "selu": "nn.SELU", "sigmoid": "nn.Sigmoid"}


def final_metrics(cfg: RunConfig, *, device: str | None = None) -> dict[str, Any]:
    """Train ``cfg`` in the engine to its last epoch (or until it diverges) and return the numbers the
    exported script prints: ``epochs``, ``steps``, the four final metrics and ``diverged`` (None or why)."""
    from dataclasses import replace  # noqa: PLC0415

    from core.engine.trainer import Trainer  # noqa: PLC0415

    if device is not None:
        cfg = replace(cfg, train=replace(cfg.train, device=device))
    trainer = Trainer(cfg, evaluate=False)
    while not trainer.finished and trainer.diverged is None:
        trainer.step()
    metrics = trainer.evaluate()
    return {
        "epochs": trainer.epoch, "steps": trainer.step_count, "device": trainer.device.type,
        **{k: _finite(metrics[k]) for k in ("train_loss", "val_loss", "train_acc", "val_acc")},
        "diverged": trainer.diverged,
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def metrics_json(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, indent=1, allow_nan=False)


_TEMPLATE = '''\
"""{title}, as plain PyTorch: the same data, initial weights, dropout masks and batch order as the
Dropout Lab run it was exported from (on the same device). p is the DROP probability, as in torch.nn.Dropout.
The settings are those at export, used from the first step: a change made while the run trained (p, the
learning rate, weight decay) is not replayed at the step it was made.

    python run.py                   # trains, then prints the final metrics as JSON
    python run.py --json out.json   # and writes them to out.json
    python run.py --device cpu      # cpu, cuda or auto (the default: cuda when there is one)
"""
import argparse
import json
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SETTINGS = {settings}
NUISANCE_STD = {nuisance_std}  # spread of each irrelevant input appended to the two coordinates
DIVERGENCE_LOSS = 100.0  # a minibatch loss above this counts as diverged


{data}


def with_nuisance(X, k, seed):
    if not k:
        return X
    noise = np.random.default_rng([seed, 7]).normal(0.0, NUISANCE_STD, (len(X), k)).astype(np.float32)
    return np.concatenate([X, noise], axis=1)


def make_split(s):
    """{split_doc}"""
    {split_lines}
    X_train = with_nuisance(X_train, s["nuisance"], s["seed"])
    X_val = with_nuisance(X_val, s["nuisance"], s["seed"] + 1_000_003)
    return X_train, y_train, X_val, y_val


# -- the model: [input dropout] -> (Linear, [BatchNorm], activation, dropout) x L -> Linear -----------

class Dropout(nn.Module):
    """Drop each element with probability p. Inverted (the default, PyTorch's): survivors are scaled by
    1/(1-p) while training and the layer is the identity at evaluation. Classic (the 2014 paper's): no
    scaling while training, outputs multiplied by 1-p at evaluation."""

    def __init__(self, p, classic, generator):
        super().__init__()
        self.p, self.classic, self.generator = p, classic, generator

    def forward(self, x):
        if not self.training:
            return x * (1.0 - self.p) if self.classic and self.p > 0 else x
        if self.p == 0.0:
            return x
        mask = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        scale = 1.0 if self.classic else 1.0 / (1.0 - self.p)
        return x * (mask.to(x.dtype) * scale)


def build_model(s, num_inputs, masks):
    torch.manual_seed(s["seed"])  # the initial weights depend on the seed alone
    layers = [Dropout(s["p_input"], s["classic"], masks)]
    width_in = num_inputs
    for width, p in zip(s["hidden"], s["p_hidden"]):
        layers.append(nn.Linear(width_in, width))
        if s["batchnorm"]:
            layers.append(nn.BatchNorm1d(width))
        layers += [{activation}(), Dropout(p, s["classic"], masks)]
        width_in = width
    layers.append(nn.Linear(width_in, 2))
    return nn.Sequential(*layers)


def make_optimizer(s, params):
    if s["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=s["lr"], weight_decay=s["weight_decay"])
    if s["optimizer"] == "sgd+momentum":
        return torch.optim.SGD(params, lr=s["lr"], momentum=0.9, weight_decay=s["weight_decay"])
    return torch.optim.Adam(params, lr=s["lr"], weight_decay=s["weight_decay"], fused=True)


@torch.no_grad()
def evaluate(model, X, y, X_val, y_val):
    """Loss and accuracy on the whole training and validation sets, with dropout off."""
    model.eval()
    logits = model(torch.cat([X, X_val]))
    model.train()
    n = len(X)
    return {{
        "train_loss": F.cross_entropy(logits[:n], y).item(),
        "val_loss": F.cross_entropy(logits[n:], y_val).item(),
        "train_acc": (logits[:n].argmax(1) == y).float().mean().item(),
        "val_acc": (logits[n:].argmax(1) == y_val).float().mean().item(),
    }}


def train(s, device):
    X, y, X_val, y_val = (torch.as_tensor(a, device=device) for a in make_split(s))
    masks = torch.Generator(device=device).manual_seed(s["seed"] + 1)
    model = build_model(s, X.shape[1], masks).to(device)
    model.train()
    optimizer = make_optimizer(s, model.parameters())
    linears = [m for m in model if isinstance(m, nn.Linear)]
    shuffle = torch.Generator().manual_seed(s["seed"] + 2)
    n, steps, diverged = len(X), 0, None
    for epoch in range(1, s["epochs"] + 1):
        order = torch.randperm(n, generator=shuffle).to(device)
        for start in range(0, n, s["batch_size"]):
            batch = order[start:start + s["batch_size"]]
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if s["max_norm"] > 0:  # each unit's incoming weights clipped to this length
                with torch.no_grad():
                    for linear in linears:
                        linear.weight.copy_(torch.renorm(linear.weight, 2, 0, s["max_norm"]))
            steps += 1
            value = loss.item()
            if not math.isfinite(value) or value > DIVERGENCE_LOSS:
                diverged = f"the training loss became {{value:.3g}} at step {{steps}}: the run diverged"
                break
        if diverged:
            break
    metrics = evaluate(model, X, y, X_val, y_val)
    metrics = {{k: v if math.isfinite(v) else None for k, v in metrics.items()}}
    return {{"epochs": epoch if not diverged else epoch - (start + len(batch) < n),
             "steps": steps, "device": device.type, **metrics, "diverged": diverged}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the final metrics to this file")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    result = train(SETTINGS, device)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\\n")


if __name__ == "__main__":
    main()
'''
