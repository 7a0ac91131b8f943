"""The Playground's class predictions: questions about runs A and B a class answers before the run ends,
and how each is settled from the teacher's own run (its snapshot) when the teacher reveals it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.analysis.early_stopping import best_point

SAME_LOSS = 0.02  # validation losses within 2 % of each other count as "about the same"
SAME_ACC = 0.01  # accuracies within one point


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    options: tuple[str, ...]
    settle: Callable[[list[dict[str, Any]]], tuple[str, str]]  # the runs -> (the option it shows, why)
    needs_b: bool = True


def _last(run: dict[str, Any], name: str) -> float:
    return run["history"][name][-1]


def _lower_loss(runs):
    a, b = _last(runs[0], "val_loss"), _last(runs[1], "val_loss")
    why = f"A's validation loss ended at {a:.3f}, B's at {b:.3f}"
    if abs(a - b) <= SAME_LOSS * max(a, b):
        return "About the same", why + f" (within {SAME_LOSS:.0%} of each other)."
    return ("A" if a < b else "B"), why + "."


def _higher_acc(runs):
    a, b = _last(runs[0], "val_acc"), _last(runs[1], "val_acc")
    why = f"A's validation accuracy ended at {a:.1%}, B's at {b:.1%}"
    if abs(a - b) <= SAME_ACC:
        return "About the same", why + " (within a point)."
    return ("A" if a > b else "B"), why + "."


def _bigger_gap(runs):
    gaps = [_last(r, "val_loss") - _last(r, "train_loss") for r in runs[:2]]
    why = f"The loss gap (validation − training) ended at {gaps[0]:+.3f} for A and {gaps[1]:+.3f} for B."
    return ("A" if gaps[0] > gaps[1] else "B"), why


def _a_overfits(runs):
    h, best = runs[0]["history"], best_point(runs[0]["history"])
    now = h["val_loss"][-1]
    why = (f"A's validation loss was lowest at epoch {best['epoch']:.0f} ({best['val_loss']:.3f}) and ended at "
           f"{now:.3f}")
    return ("Yes" if now > best["val_loss"] * 1.05 else "No"), why + " (Yes means more than 5 % above its best)."


QUESTIONS: dict[str, Question] = {q.key: q for q in (
    Question("lower_val_loss", "When the run ends, whose validation loss will be lower?",
             ("A", "B", "About the same"), _lower_loss),
    Question("higher_val_acc", "When the run ends, whose validation accuracy will be higher?",
             ("A", "B", "About the same"), _higher_acc),
    Question("bigger_gap", "Whose loss gap (validation − training) will be larger at the end?", ("A", "B"),
             _bigger_gap),
    Question("a_overfits", "Will A's validation loss end more than 5 % above its lowest point (will A overfit)?",
             ("Yes", "No"), _a_overfits, needs_b=False),
)}


def settle(key: str, snapshot: dict[str, Any]) -> tuple[str, str]:
    """The option the teacher's run shows for question ``key``, and a sentence saying why, with the epoch
    it was read at; ValueError with a sentence when the run cannot settle it yet."""
    question, runs = QUESTIONS[key], snapshot["runs"]
    if question.needs_b and len(runs) < 2:
        raise ValueError("This question compares A with B: turn on run B and let it train first.")
    if not runs[0]["history"]["epoch"]:
        raise ValueError("The run has not been evaluated yet: press Play and let it train first.")
    option, why = question.settle(runs)
    epoch, end = runs[0]["epoch"], runs[0]["config"].train.max_epochs
    when = "at the end of the run" if epoch >= end else f"at epoch {epoch:.0f} of {end} (the run had not ended)"
    return option, f"{why} Read {when}."
