"""Numbers a lesson quotes, checked against a fresh run within what the run's own noise allows.

A seeded experiment does not give the same digits on every machine: the order of floating-point sums differs
between CPUs and thread counts, a training run drifts from there, and a lesson that quotes 97.4 % can meet a
run that gives 97.5 %. So a test does not look for its own formatting of the new run in the text. It finds the
lesson's sentence, reads the numbers in it, and checks each against the new run within a tolerance: for a mean
over seeds, ``Z_SAME_SEEDS`` standard errors of the difference of two such means (as if the drift had drawn new
seeds), plus half a unit of the last digit the lesson prints; for a single measurement, a tolerance the test
states and justifies.
"""
from __future__ import annotations

import math
import re

NUMBER = r"(-?\d+(?:\.\d+)?)"
Z_SAME_SEEDS = 3.0  # about 1 in 370 for one number that has not moved; the verdict assertions stay exact


def flat(text: str) -> str:
    """One line, single spaces: a sentence wrapped anywhere in the Markdown still matches."""
    return re.sub(r"\s+", " ", text)


def quoted(text: str, template: str) -> list[str]:
    """The numbers, as printed, in the first passage of ``text`` that reads like ``template``, where each
    ``{}`` stands for a number."""
    pattern = NUMBER.join(re.escape(part) for part in template.split("{}"))
    match = re.search(pattern, text)
    assert match, f"the lesson has no passage like {template!r}"
    return list(match.groups())


def mean_tol(se: float) -> float:
    """How far a mean over seeds with standard error ``se`` may sit from the same mean run elsewhere."""
    return Z_SAME_SEEDS * math.sqrt(2.0) * se


def says_near(text: str, template: str, *expected: tuple[float, float]) -> None:
    """Each ``{}`` of ``template`` in ``text`` holds a number within its tolerance of the value: ``expected``
    gives (value, tolerance) pairs in the template's order, in the units the lesson prints."""
    printed = quoted(text, template)
    assert len(printed) == len(expected), f"{template!r} has {len(printed)} numbers, the test gives {len(expected)}"
    for shown, (value, tol) in zip(printed, expected):
        decimals = len(shown.partition(".")[2])
        allowed = tol + 0.5 * 10.0 ** -decimals
        assert abs(float(shown) - value) <= allowed, (
            f"the lesson says {shown} in {template!r}; the run gives {value:.4g}, allowed ± {allowed:.3g}")
