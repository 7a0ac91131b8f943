"""The judge for ``mc_predict(model, x, T)``: T stochastic passes with only dropout sampling and BatchNorm
kept in eval (calling ``model.train()`` for MC dropout is the bug it names). A sandbox task, like
``core.labs.interview.judge``; the report's format is in ``core.labs.interview.grading``.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from core.labs.interview.grading import Z, Emit, Report, Unusable, load_solution, unusable_report


class _Counter(nn.Module):
    """Counts the rows that pass through it: T passes over n points are T x n rows, batched or not."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += int(x.shape[0])
        return x


def _mc_model(seed: int) -> nn.Sequential:
    """Linear, BatchNorm, ReLU, Dropout, Linear: the BatchNorm's running statistics set far from any batch's,
    so normalizing with the batch's own statistics (model.train()) moves every prediction."""
    torch.manual_seed(seed)
    model = nn.Sequential(_Counter(), nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(32, 3))
    with torch.no_grad():
        bn = model[2]
        bn.running_mean.copy_(torch.linspace(-1.0, 1.0, 32))
        bn.running_var.copy_(torch.linspace(0.5, 2.0, 32))
        bn.weight.copy_(torch.linspace(0.5, 1.5, 32))
        bn.bias.copy_(torch.linspace(0.2, -0.2, 32))
    return model.eval()


def _reference_mc(model: nn.Sequential, x: torch.Tensor, passes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch's way, batched: BatchNorm in eval, only the Dropout sampling. The model's modes are restored."""
    modes = [m.training for m in model.modules()]
    model.eval()
    model[4].train()
    with torch.no_grad():
        out = model(x.repeat(passes, 1)).reshape(passes, *x.shape[:1], -1)
    for module, training in zip(model.modules(), modes):
        module.train(training)
    model[0].rows = 0
    return out.mean(0), out.std(0)


def judge_mc_predict(source_path: str, emit: Emit = None, *, seed: int = 0) -> dict[str, Any]:
    """Grade ``mc_predict(model, x, T)``: the mean and std of T passes with only dropout stochastic."""
    try:
        fn = load_solution(source_path, "mc_predict")
    except Unusable as exc:
        return unusable_report(str(exc))
    if not callable(fn):
        return unusable_report("mc_predict must be a function mc_predict(model, x, T)")
    report = Report()
    passes = 400
    g = torch.Generator().manual_seed(20_000 + seed)
    x = torch.randn(24, 4, generator=g)
    model = _mc_model(seed)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(seed)
    ref_mean, ref_std = _reference_mc(model, x, 20_000)  # 20,000 passes: the truth to a fraction of the tolerance
    calls: dict[str, Any] = {}

    def call(inp: torch.Tensor, T: int = passes) -> tuple[torch.Tensor, torch.Tensor]:
        model[0].rows = 0
        out = fn(model, inp, T)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
            raise TypeError(f"mc_predict returned {type(out).__name__}; it must return (mean, std), two tensors")
        mean, std = out
        if mean.shape != ref_mean.shape or std.shape != ref_std.shape:
            raise TypeError(f"mean and std have shapes {tuple(mean.shape)} and {tuple(std.shape)}; each must have "
                            f"model(x)'s shape {tuple(ref_mean.shape)} (average over the passes, not over the points)")
        calls["tracks_grad"] = calls.get("tracks_grad", False) or mean.requires_grad or std.requires_grad
        return mean.detach(), std.detach()

    def returns_pair():
        inp = x.clone()
        calls["main"] = call(inp)
        calls["rows"] = model[0].rows
        if not torch.equal(inp, x):
            return False, "the input x was modified", "in-place"
        return True, "", None

    def main() -> tuple[torch.Tensor, torch.Tensor]:
        if "main" not in calls:
            calls["main"] = call(x.clone())
            calls["rows"] = model[0].rows
        return calls["main"]

    def batchnorm_untouched():
        main()
        changed = [k for k, v in model.state_dict().items() if not torch.equal(v, state[k])]
        if changed:
            model.load_state_dict(state)
            return (False, f"BatchNorm's {', '.join(c.split('.')[-1] for c in changed)} changed: it ran in training mode "
                    "(model.train()), normalizing with each batch's statistics; keep it in eval and switch on only "
                    "the dropout layers", "mc-train-mode")
        return True, "", None

    def dropout_on():
        _, std = main()
        if float(std.max()) == 0.0:
            return (False, "every pass gave the same output: dropout was not sampling (the whole model was in eval "
                    "mode); switch the dropout layers to training mode for the passes", None)
        return True, "", None

    def no_gradient():
        main()
        if calls["tracks_grad"]:
            return False, "the result tracks gradients: run the passes under torch.no_grad()", None
        return True, "", None

    def mean_matches():
        mean, _ = main()
        tol = Z * ref_std / math.sqrt(passes) + 1e-4
        worst = float(((mean - ref_mean).abs() / tol).max())
        if worst <= 1:
            return True, f"within five standard errors of {passes} passes at every output", None
        return (False, f"the mean is off MC dropout's by up to {worst:.1f} times five standard errors of {passes} "
                "passes: BatchNorm must use its running statistics, and only dropout may be random", None)

    def std_matches():
        _, std = main()
        tol = Z * ref_std / math.sqrt(2 * (passes - 1)) + 0.01 * ref_std + 1e-4  # the sd of a sample std, and n-1 vs n
        worst = float(((std - ref_std).abs() / tol).max())
        if worst <= 1:
            return True, "", None
        ratio = float((std / ref_std.clamp_min(1e-8)).median())
        hint = " (is it the variance? take its square root)" if ratio > 1.2 and float(std.max()) > 0 else ""
        return (False, f"the std is {ratio:.2f} times MC dropout's (median over outputs){hint}: the standard "
                "deviation over the T passes, per point and output", None)

    def uses_t_passes():
        main()
        if calls["rows"] == passes * len(x):
            return True, "", None
        return (False, f"{calls['rows']:,} rows went through the model for T = {passes} passes over {len(x)} points "
                f"({passes * len(x):,} expected)", None)

    def batch_independent():
        main()
        other = torch.cat([x[:4], torch.randn(20, 4, generator=g) * 3 + 2])
        mean, _ = call(other)
        model.load_state_dict(state)
        tol = Z * ref_std[:4] * math.sqrt(2 / passes) + 1e-4
        if bool(((mean[:4] - main()[0][:4]).abs() <= tol).all()):
            return True, "", None
        return (False, "the same four points got different predictions when the rest of their batch changed: "
                "BatchNorm normalized with the batch's statistics (model.train())", "mc-train-mode")

    def mode_restored():
        for start in ("eval", "train"):
            model.train(start == "train")
            before = [m.training for m in model.modules()]
            call(x.clone(), 4)
            after = [m.training for m in model.modules()]
            model.load_state_dict(state)
            if before != after:
                return (False, f"a model in {start} mode came back in another: restore each layer's mode afterwards "
                        "(a model left in train mode predicts at random next time)", "left-on-in-eval")
        model.eval()
        return True, "", None

    for name, check in (("returns (mean, std) of model(x)'s shape", returns_pair),
                        ("BatchNorm's statistics untouched", batchnorm_untouched), ("dropout samples", dropout_on),
                        ("no gradients tracked", no_gradient), ("mean matches MC dropout", mean_matches),
                        ("std matches MC dropout", std_matches), ("T passes", uses_t_passes),
                        ("a point's prediction ignores its batch", batch_independent),
                        ("the model's mode restored", mode_restored)):
        report.run(name, check)
        if emit is not None:
            emit({"check": name, "passed": report.checks[-1]["passed"]})
        if name.startswith("returns") and not report.checks[-1]["passed"]:
            break  # nothing else can be read from a result of the wrong kind
    return report.result()
