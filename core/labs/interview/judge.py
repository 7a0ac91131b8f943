"""The judge for the interview's code drills: a learner's ``Dropout`` layer, or ``mc_predict`` function, graded
against torch's behaviour. These functions are sandbox tasks (``core.live.sandbox``): the sandbox imports this
module, locks its process, then calls ``judge_dropout(path, emit)`` with the learner's file; nothing here runs
in the app process.

Grading reads the realized mask back from the output (every input is non-zero), so **any** correct way of
drawing the mask passes (``bernoulli``, ``rand() > p``, ``uniform_``, ``F.dropout`` itself): the output must
equal ``x * m / (1 - p)`` for the mask it used, and the masks must have torch's statistics. Each statistical
check allows five standard errors of its own sample, so a correct layer fails one with probability of the
order of 1e-6, at a fixed seed (``seed``) and the same every time.

A report is plain data::

    {"status": "accepted" | "rejected" | "unusable", "error": sentence or None,
     "checks": [{"check", "passed", "message"}], "failures": [{"check", "message"}],
     "misconceptions": [keys of lessons/bank/misconceptions.toml, in check order]}

``unusable`` means nothing could be graded (a syntax error, no ``Dropout`` class, an import that failed).
``compare_in_network`` trains the same small MLP twice from one seed, with torch's dropout and with the
learner's, and emits the curves as it goes.
"""
from __future__ import annotations

import math
import traceback
from typing import Any, Callable

import torch
from torch import nn

from core.engine.datasets import generate

Emit = Callable[[dict], None] | None
Z = 5.0  # standard errors a statistical check allows
P_MAIN = 0.3  # the main drop probability: far from 1/2, so keep and drop swapped is told apart
ROWS, COLS = 256, 200  # 51,200 elements: a drop fraction to about +-0.01 at five standard errors


class _Unusable(Exception):
    """Nothing can be graded: the message says why, in one sentence."""


class _Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.misconceptions: list[str] = []

    def add(self, check: str, passed: bool, message: str = "", misconception: str | None = None) -> bool:
        self.checks.append({"check": check, "passed": bool(passed), "message": message})
        if not passed and misconception and misconception not in self.misconceptions:
            self.misconceptions.append(misconception)
        return bool(passed)

    def run(self, check: str, fn: Callable[[], tuple[bool, str, str | None]]) -> bool:
        """One check: ``fn`` returns (passed, message, misconception); an exception from the learner's code fails it."""
        try:
            passed, message, misconception = fn()
        except Exception as exc:  # the learner's code raised: that is this check's failure, not the judge's
            return self.add(check, False, f"your code raised {_last_line(exc)}")
        return self.add(check, passed, message, misconception)

    def result(self) -> dict[str, Any]:
        failures = [{"check": c["check"], "message": c["message"]} for c in self.checks if not c["passed"]]
        return {"status": "rejected" if failures else "accepted", "error": None, "checks": self.checks,
                "failures": failures, "misconceptions": self.misconceptions}


def _unusable(error: str) -> dict[str, Any]:
    return {"status": "unusable", "error": error, "checks": [], "failures": [], "misconceptions": []}


def _last_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _load(path: str, name: str) -> Any:
    """The learner's file run as a module; ``name`` taken from it. Raises _Unusable with a sentence."""
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unusable(f"the file could not be read ({_last_line(exc)})") from None
    try:
        code = compile(source, "solution.py", "exec")
    except SyntaxError as exc:
        raise _Unusable(f"line {exc.lineno}: {exc.msg} (a syntax error, so nothing ran)") from None
    namespace: dict[str, Any] = {"__name__": "solution", "__file__": path}
    try:
        exec(code, namespace)  # noqa: S102 - learner code, inside the locked sandbox process
    except Exception as exc:
        line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                     if f.filename == "solution.py"), None)
        where = f" at line {line}" if line else ""
        raise _Unusable(f"running your file raised {_last_line(exc)}{where}, before anything could be graded") from None
    if name not in namespace:
        raise _Unusable(f"your file defines no {name}")
    return namespace[name]


def _inputs(rows: int = ROWS, cols: int = COLS, *, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Inputs with no zeros (0.5 to 1.5), so a zero in the output can only be a dropped element."""
    g = torch.Generator().manual_seed(10_000 + seed)
    return (torch.rand(rows, cols, generator=g, dtype=dtype) + 0.5)


def _agreement_bounds(p: float, n: int) -> tuple[float, float]:
    """Two independent masks agree at an element with probability p^2 + (1-p)^2; the band for n elements."""
    q = p * p + (1 - p) ** 2
    half = Z * math.sqrt(q * (1 - q) / n)
    return q - half, q + half


# -- judge_dropout ----------------------------------------------------------------------------------
def judge_dropout(source_path: str, emit: Emit = None, *, seed: int = 0) -> dict[str, Any]:
    """Grade a ``class Dropout(torch.nn.Module)`` with ``__init__(self, p=0.5)`` and ``forward(self, x)``."""
    try:
        layer = _load(source_path, "Dropout")
    except _Unusable as exc:
        return _unusable(str(exc))
    if not (isinstance(layer, type) and issubclass(layer, nn.Module)):
        return _unusable("Dropout must be a class that subclasses torch.nn.Module "
                         f"(yours is {type(layer).__name__ if not isinstance(layer, type) else 'a class that does not'})")
    report = _Report()
    torch.manual_seed(seed)

    def make(p: float, training: bool = True) -> nn.Module:
        module = layer(p)
        return module.train() if training else module.eval()

    try:
        make(P_MAIN)
    except Exception as exc:
        report.add("constructs with p = 0.3", False, f"Dropout(0.3) raised {_last_line(exc)}")
        return report.result()
    x = _inputs(seed=seed)
    keep = 1 - P_MAIN

    def train_output(p: float = P_MAIN) -> torch.Tensor:
        out = make(p)(x.clone())
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise TypeError(f"forward returned {type(out).__name__} of shape {getattr(out, 'shape', '?')} for an "
                            f"input of shape {tuple(x.shape)}")
        return out.detach()

    def eval_identity():
        out = make(P_MAIN, training=False)(x.clone())
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            return False, "in eval mode forward did not return a tensor of the input's shape", None
        if torch.equal(out, x):
            return True, "", None
        if torch.allclose(out, x * keep, rtol=1e-5):
            return (False, "in eval mode it multiplies by 1 - p: that is classic dropout's test-time rule, but this "
                    "layer already divides by 1 - p in training, so the network is scaled twice", "classic-at-eval")
        if (out == 0).any() or not torch.equal(out, make(P_MAIN, training=False)(x.clone())):
            return (False, "in eval mode the output still has random zeros: forward must return x unchanged when "
                    "self.training is False (model.eval())", "left-on-in-eval")
        return False, f"in eval mode the output is not the input (largest difference {float((out - x).abs().max()):.3g})", None

    def scaled_survivors():
        out = train_output()
        dropped = out == 0
        if not dropped.any():
            return (False, "in training mode nothing was dropped: with self.training True, each element must be "
                    "zeroed with probability p", "left-on-in-eval")
        kept = ~dropped
        ratio = (out[kept] / x[kept])
        if torch.allclose(out, x * kept / keep, rtol=1e-5, atol=1e-6):
            return True, "", None
        median = float(ratio.median())
        if math.isclose(median, 1.0, rel_tol=1e-4):
            return (False, "the survivors are not scaled: inverted dropout divides the survivors by 1 - p, so "
                    "that the expected output equals the input", "no-scaling")
        if math.isclose(median, 1 / P_MAIN, rel_tol=1e-4) or math.isclose(median, P_MAIN, rel_tol=1e-4):
            return (False, f"the survivors are scaled by p (×{median:.3g} at p = 0.3) where inverted dropout "
                    f"divides them by 1 - p (×{1 / keep:.3g})", "scale-by-p")
        return (False, f"the survivors are not x / (1 - p): at p = 0.3 they are x × {median:.3g} (median), where "
                f"x × {1 / keep:.3g} is expected", None)

    def drop_fraction():
        for p in (P_MAIN, 0.8):
            frac = float((train_output(p) == 0).float().mean())
            half = Z * math.sqrt(p * (1 - p) / x.numel())
            if abs(frac - p) <= half:
                continue
            if abs(frac - (1 - p)) <= half:
                return (False, f"at p = {p} it dropped {frac:.1%} of the elements, about 1 - p: p is the DROP "
                        "probability, as in torch.nn.Dropout", "keep-drop-swap")
            return (False, f"at p = {p} it dropped {frac:.1%} of {x.numel():,} elements; torch drops p = {p:.0%} "
                    f"(± {half:.1%} at five standard errors)", None)
        return True, f"within five standard errors of p at p = 0.3 and p = 0.8 ({x.numel():,} elements each)", None

    def mean_preserved():
        out = train_output()
        se = math.sqrt(float((x**2).sum()) * P_MAIN / keep) / x.numel()  # Var(x m / keep) = x^2 p / (1 - p)
        gap = abs(float(out.mean()) - float(x.mean()))
        if gap <= Z * se:
            return True, f"the mean moved by {gap:.4f} (five standard errors: {Z * se:.4f})", None
        ratio = float(out.mean()) / float(x.mean())
        return (False, f"the mean output is {ratio:.3f} times the mean input; inverted dropout keeps it equal "
                "(divide the survivors by 1 - p)", "no-scaling" if abs(ratio - keep) < 0.05 else None)

    def rows_independent():
        kept = train_output() != 0
        agree = float((kept[1:] == kept[:-1]).float().mean())
        low, high = _agreement_bounds(P_MAIN, kept[1:].numel())
        if agree >= 0.999:
            return (False, "every example in the batch lost the same elements: one mask shared by the batch; draw "
                    "a mask of x's full shape (torch.rand_like(x))", "shared-batch-mask")
        if not low <= agree <= high:
            return (False, f"neighbouring rows' masks agree at {agree:.1%} of elements; independent masks agree at "
                    f"p² + (1 − p)² = {P_MAIN**2 + keep**2:.1%}", "shared-batch-mask")
        return True, f"rows agree at {agree:.1%}, as independent masks do", None

    def elements_independent():
        kept = train_output() != 0
        agree = float((kept[:, 1:] == kept[:, :-1]).float().mean())
        low, high = _agreement_bounds(P_MAIN, kept[:, 1:].numel())
        if not low <= agree <= high:
            return (False, f"neighbouring elements' masks agree at {agree:.1%}; independent masks agree at "
                    f"{P_MAIN**2 + keep**2:.1%}: each element must be dropped on its own", None)
        return True, f"neighbouring elements agree at {agree:.1%}, as independent masks do", None

    def fresh_each_call():
        module = make(P_MAIN)
        first, second = module(x.clone()) != 0, module(x.clone()) != 0
        agree = float((first == second).float().mean())
        low, high = _agreement_bounds(P_MAIN, x.numel())
        if agree >= 0.999:
            return (False, "two calls dropped exactly the same elements: the mask is drawn once and reused; draw a "
                    "fresh one inside forward at every call", "mask-reused")
        if not low <= agree <= high:
            return (False, f"two calls' masks agree at {agree:.1%}; independent draws agree at "
                    f"{P_MAIN**2 + keep**2:.1%}", "mask-reused")
        return True, f"two calls agree at {agree:.1%}, as independent masks do", None

    def p_zero_identity():
        small = _inputs(32, 32, seed=seed)
        out = make(0.0)(small.clone())
        if torch.equal(out, small):
            return True, "", None
        return False, "with p = 0 in training mode the output is not the input: nothing may be dropped or scaled", None

    def p_one_zeros():
        try:
            module = make(1.0)
        except Exception as exc:
            return (False, f"Dropout(1.0) raised {_last_line(exc)}; torch accepts p = 1 and returns zeros",
                    None)
        out = module(x.clone())
        if torch.isnan(out).any() or torch.isinf(out).any():
            return (False, "with p = 1 the output has NaN or inf: dividing by 1 - p = 0; handle p = 1 on its own "
                    "(every element dropped: zeros)", None)
        if not torch.equal(out, torch.zeros_like(x)):
            return False, "with p = 1 every element must be dropped: the output must be all zeros", None
        return True, "", None

    def refuses_bad_p():
        for bad in (-0.1, 1.5):
            try:
                layer(bad)
            except Exception:  # noqa: BLE001 - torch raises ValueError; any error refuses the value
                continue
            return False, f"Dropout({bad}) was accepted; torch raises ValueError for p outside [0, 1]", None
        return True, "", None

    def shape_dtype_device():
        for shape, dtype in (((4, 3, 5, 6), torch.float64), ((1000,), torch.float32), ((8, 16), torch.float64)):
            g = torch.Generator().manual_seed(seed)
            inp = torch.rand(shape, generator=g).to(dtype) + 0.5
            for training in (True, False):
                out = make(P_MAIN, training)(inp.clone())
                if not isinstance(out, torch.Tensor) or out.shape != inp.shape or out.dtype != dtype or \
                        out.device != inp.device:
                    got = (f"{tuple(out.shape)}, {out.dtype}, {out.device}" if isinstance(out, torch.Tensor)
                           else type(out).__name__)
                    return (False, f"a {tuple(shape)} {dtype} input in {'training' if training else 'eval'} mode gave "
                            f"{got}: draw the mask like x (torch.rand_like(x)), of x's shape, dtype and device", None)
        return True, "shapes [4, 3, 5, 6], [1000] and [8, 16]; float64 and float32", None

    def not_in_place():
        inp = x.clone()
        out = make(P_MAIN)(inp)
        if not torch.equal(inp, x) or out is inp:
            return (False, "the input tensor was modified in place (mul_ or x[...] = 0): autograd and the caller may "
                    "still need it; compute a new tensor", "in-place")
        return True, "", None

    def gradient():
        inp = x.clone().requires_grad_(True)
        out = make(P_MAIN)(inp)
        if not out.requires_grad:
            return (False, "no gradient reaches the input: the output was detached from the graph (or computed "
                    "under torch.no_grad)", "backward-mask")
        g = torch.randn_like(x)
        (out * g).sum().backward()  # the same gradient as out.backward(g), which would make torch import sympy
        expected = g * (out.detach() / x)  # the forward pass's own factor m / (1 - p), whatever its scale
        if inp.grad is None or not torch.allclose(inp.grad, expected, rtol=1e-4, atol=1e-6):
            return (False, "the gradient does not pass through the forward pass's own mask and scale "
                    "(g × m / (1 − p) for inverted dropout)", "backward-mask")
        return True, "", None

    for name, fn in (("eval is the identity", eval_identity), ("survivors scaled by 1 / (1 - p)", scaled_survivors),
                     ("drop fraction is p", drop_fraction), ("mean preserved", mean_preserved),
                     ("independent across batch rows", rows_independent),
                     ("independent across elements", elements_independent),
                     ("a fresh mask at each call", fresh_each_call), ("p = 0 is the identity", p_zero_identity),
                     ("p = 1 gives zeros", p_one_zeros), ("p outside [0, 1] refused", refuses_bad_p),
                     ("shape, dtype and device kept", shape_dtype_device), ("input not modified", not_in_place),
                     ("gradient through the same mask", gradient)):
        report.run(name, fn)
        if emit is not None:
            emit({"check": name, "passed": report.checks[-1]["passed"]})
    return report.result()


# -- judge_mc_predict -------------------------------------------------------------------------------
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
        fn = _load(source_path, "mc_predict")
    except _Unusable as exc:
        return _unusable(str(exc))
    if not callable(fn):
        return _unusable("mc_predict must be a function mc_predict(model, x, T)")
    report = _Report()
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
            for k, v in state.items():
                model.state_dict()[k].copy_(v)
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
        for k, v in state.items():
            model.state_dict()[k].copy_(v)
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
            for k, v in state.items():
                model.state_dict()[k].copy_(v)
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


# -- the learner's layer in a real network ----------------------------------------------------------
def _mlp(dropout: Callable[[float], nn.Module], seed: int, p: float = 0.3) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 128), nn.ReLU(), dropout(p), nn.Linear(128, 128), nn.ReLU(), dropout(p),
                         nn.Linear(128, 2))


class _Adam:
    """Adam, written out: torch.optim's first optimizer imports about 800 modules (1.7 s here, more than the
    training), and the locked sandbox could not import them any more."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = [p for p in params]
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.sub_(self.lr * (m / (1 - b1**self.t)) / ((v / (1 - b2**self.t)).sqrt() + self.eps))


def _within(ours: dict[str, float], yours: dict[str, float], again: dict[str, float]) -> bool:
    """Yours as close to ours as ours run again with other masks (twice that gap, or 2 points of accuracy and a
    loss ratio of 1.5, whichever is larger)."""
    def log_ratio(a: float, b: float) -> float:
        return abs(math.log(max(a, 1e-3) / max(b, 1e-3))) if math.isfinite(a) and math.isfinite(b) else math.inf

    acc_ok = abs(ours["val_acc"] - yours["val_acc"]) <= max(2 * abs(ours["val_acc"] - again["val_acc"]), 0.02)
    loss_ok = log_ratio(yours["val_loss"], ours["val_loss"]) <= max(2 * log_ratio(again["val_loss"], ours["val_loss"]),
                                                                    math.log(1.5))
    return acc_ok and loss_ok


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def compare_in_network(source_path: str, emit: Emit = None, *, steps: int = 300, seed: int = 0,
                       every: int = 10) -> dict[str, Any]:
    """Train the same MLP (2-128-128-2, p = 0.5, Adam) on 100 noisy two-moons points from one seed: once with
    torch.nn.Dropout ("ours"), once with the learner's Dropout ("yours"); and ours once more with other masks,
    for how far mask randomness alone moves the result."""
    try:
        layer = _load(source_path, "Dropout")
        nets = {"ours": _mlp(nn.Dropout, seed), "yours": _mlp(layer, seed), "again": _mlp(nn.Dropout, seed)}
    except _Unusable as exc:
        return {"status": "error", "error": str(exc)}
    except Exception as exc:
        return {"status": "error", "error": f"building the network with your Dropout raised {_last_line(exc)}"}
    X, y = generate("moons", 600, 0.3, seed)
    Xt, yt, Xv, yv = (torch.from_numpy(a) for a in (X[:100], y[:100], X[100:], y[100:]))
    opts = {k: _Adam(net.parameters(), lr=0.005) for k, net in nets.items()}
    loss_fn = nn.CrossEntropyLoss()
    curves: dict[str, Any] = {"step": [], "ours": {}, "yours": {}}
    finals: dict[str, dict[str, float]] = {}
    broke: str | None = None
    for step in range(1, steps + 1):
        record = step % every == 0 or step == 1
        event: dict[str, Any] = {"step": step}
        for i, (name, net) in enumerate(nets.items()):
            torch.manual_seed(seed * 1000 + step * 3 + (i if name == "again" else 0))
            net.train()
            try:
                loss = loss_fn(net(Xt), yt)
                opts[name].zero_grad()
                loss.backward()
                opts[name].step()
            except Exception as exc:
                if name != "yours":
                    raise
                return {"status": "error", "error": f"training with your Dropout raised {_last_line(exc)} at step {step}"}
            if record or step == steps:
                with torch.no_grad():
                    net.eval()
                    logits = net(Xv)
                    metrics = {"train_loss": float(loss.detach()), "val_loss": float(loss_fn(logits, yv)),
                               "val_acc": float((logits.argmax(1) == yv).float().mean())}
                finals[name] = metrics
                if name != "again":
                    event[name] = {k: _finite(v) for k, v in metrics.items()}
            if name == "yours" and broke is None and not math.isfinite(float(loss.detach())):
                broke = f"your network's training loss stopped being a number at step {step}"
        if record or step == steps:
            curves["step"].append(step)
            for side in ("ours", "yours"):
                for k, v in event[side].items():
                    curves[side].setdefault(k, []).append(v)
            if emit is not None:
                emit(event)
    ours, yours, again = finals["ours"], finals["yours"], finals["again"]
    summary = (f"After {steps} steps: validation accuracy {ours['val_acc']:.1%} with ours and {yours['val_acc']:.1%} with "
               f"yours, validation loss {ours['val_loss']:.3f} and {yours['val_loss']:.3f}. Ours trained again with other "
               f"masks reached {again['val_acc']:.1%} and {again['val_loss']:.3f}: that is how far mask randomness alone "
               "moves these numbers here (one pair of runs, so a rough scale).")
    if broke:
        return_summary = f"{summary} {broke.capitalize()}."
    elif _within(ours, yours, again):
        return_summary = (f"{summary} Yours is within that scale. That fits a correct layer but does not prove one: in a "
                          "network this small several of the judge's failures (no scaling, p read as the keep "
                          "probability, one mask for the whole batch) barely move accuracy, which is how such bugs "
                          "survive in real code. The judge's checks are the test; this is the picture.")
    else:
        return_summary = (f"{summary} Yours is further from ours than mask randomness explains: look at the judge's "
                          "failures, and at which curve parts company.")
    summary = return_summary
    return {"status": "done", "curves": curves, "summary": summary,
            "finals": {side: {k: _finite(v) for k, v in finals[side].items()} for side in ("ours", "yours")}}
