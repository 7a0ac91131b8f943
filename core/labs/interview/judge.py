"""The judge for the interview's code drills: a learner's ``Dropout`` layer, or ``mc_predict`` function, graded
against torch's behaviour. These functions are sandbox tasks (``core.live.sandbox``): the sandbox imports this
module, locks its process, then calls ``judge_dropout(path, emit)`` with the learner's file; nothing here runs
in the app process.

Grading reads the realized mask back from the output (every input is non-zero), so **any** correct way of
drawing the mask passes (``bernoulli``, ``rand() > p``, ``uniform_``, ``F.dropout`` itself): the output must
equal ``x * m / (1 - p)`` for the mask it used, and the masks must have torch's statistics. Each statistical
check allows five standard errors of its own sample, so a correct layer fails one with probability of the
order of 1e-6, at a fixed seed (``seed``) and the same every time.

The report's format is in ``core.labs.interview.grading``. This module also carries the other sandbox tasks,
so that one name serves the page and the CLI: ``judge_mc_predict`` (``judge_mc``) and ``compare_in_network``
(``network``: the learner's layer trained beside torch's).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from core.labs.interview.grading import Z, Emit, Report, Unusable, last_line, load_solution, unusable_report
from core.labs.interview.judge_mc import judge_mc_predict
from core.labs.interview.network import compare_in_network

__all__ = ["compare_in_network", "judge_dropout", "judge_mc_predict"]
P_MAIN = 0.3  # the main drop probability: far from 1/2, so keep and drop swapped is told apart
ROWS, COLS = 256, 200  # 51,200 elements: a drop fraction to about +-0.01 at five standard errors


def _inputs(rows: int = ROWS, cols: int = COLS, *, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Inputs with no zeros (0.5 to 1.5), so a zero in the output can only be a dropped element."""
    g = torch.Generator().manual_seed(10_000 + seed)
    return (torch.rand(rows, cols, generator=g, dtype=dtype) + 0.5)


def _agreement(first: torch.Tensor, second: torch.Tensor, p: float = P_MAIN) -> tuple[float, bool]:
    """How often two keep-masks agree, and whether that is within five standard errors of independent masks'
    p^2 + (1-p)^2 for this many elements."""
    agree = float((first == second).float().mean())
    q = p * p + (1 - p) ** 2
    return agree, abs(agree - q) <= Z * math.sqrt(q * (1 - q) / first.numel())


# -- judge_dropout ----------------------------------------------------------------------------------
def judge_dropout(source_path: str, emit: Emit = None, *, seed: int = 0) -> dict[str, Any]:
    """Grade a ``class Dropout(torch.nn.Module)`` with ``__init__(self, p=0.5)`` and ``forward(self, x)``."""
    try:
        layer = load_solution(source_path, "Dropout")
    except Unusable as exc:
        return unusable_report(str(exc))
    if not (isinstance(layer, type) and issubclass(layer, nn.Module)):
        return unusable_report("Dropout must be a class that subclasses torch.nn.Module "
                         f"(yours is {type(layer).__name__ if not isinstance(layer, type) else 'a class that does not'})")
    report = Report()
    torch.manual_seed(seed)

    def make(p: float, training: bool = True) -> nn.Module:
        module = layer(p)
        return module.train() if training else module.eval()

    try:
        make(P_MAIN)
    except Exception as exc:
        report.add("constructs with p = 0.3", False, f"Dropout(0.3) raised {last_line(exc)}")
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
        agree, independent = _agreement(kept[1:], kept[:-1])
        if agree >= 0.999:
            return (False, "every example in the batch lost the same elements: one mask shared by the batch; draw "
                    "a mask of x's full shape (torch.rand_like(x))", "shared-batch-mask")
        if not independent:
            return (False, f"neighbouring rows' masks agree at {agree:.1%} of elements; independent masks agree at "
                    f"p² + (1 − p)² = {P_MAIN**2 + keep**2:.1%}", "shared-batch-mask")
        return True, f"rows agree at {agree:.1%}, as independent masks do", None

    def elements_independent():
        kept = train_output() != 0
        agree, independent = _agreement(kept[:, 1:], kept[:, :-1])
        if not independent:
            return (False, f"neighbouring elements' masks agree at {agree:.1%}; independent masks agree at "
                    f"{P_MAIN**2 + keep**2:.1%}: each element must be dropped on its own", None)
        return True, f"neighbouring elements agree at {agree:.1%}, as independent masks do", None

    def fresh_each_call():
        module = make(P_MAIN)
        first, second = module(x.clone()) != 0, module(x.clone()) != 0
        agree, independent = _agreement(first, second)
        if agree >= 0.999:
            return (False, "two calls dropped exactly the same elements: the mask is drawn once and reused; draw a "
                    "fresh one inside forward at every call", "mask-reused")
        if not independent:
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
            return (False, f"Dropout(1.0) raised {last_line(exc)}; torch accepts p = 1 and returns zeros",
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
