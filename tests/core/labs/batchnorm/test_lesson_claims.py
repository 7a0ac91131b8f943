"""Every number lesson 8 quotes, recomputed: each experiment's default run, formatted as the lesson writes it,
must appear in the lesson's text, and each verdict the lesson states must be the run's. About 90 s."""
from __future__ import annotations

from functools import lru_cache

from core.lessons import load_lesson
from core.labs.batchnorm.experiments import request, run_request

TEXT = " ".join(load_lesson("08_batchnorm").sections.values()).replace("\n", " ")
while "  " in TEXT:
    TEXT = TEXT.replace("  ", " ")


@lru_cache(maxsize=None)
def result(key: str) -> dict:
    return run_request(request(key)).to_json()


def says(*phrases: str) -> None:
    for phrase in phrases:
        assert phrase in TEXT, f"the lesson does not say {phrase!r}"


def test_the_shift_at_the_command_line_s_defaults():
    out = result("bn-shift")
    bn2, bn3 = out["summary"][1], out["summary"][2]
    says(f"grows by a factor of {bn2['measured']:.3f} measured against {bn2['predicted']:.3f} from the formula",
         f"grows by {bn2['direct_measured']:.3f} against {bn2['direct_predicted']:.3f}",
         f"stores a variance {bn3['stored_over_test']:.2f} times")


def test_the_cost_and_the_fixes():
    out = result("bn-fixes")
    row = {r["label"]: r for r in out["summary"]}
    says(f"{row['as is']['stored_over_test']:.2f} times its test variance as is and "
         f"{row['gaussian']['stored_over_test']:.2f} with Gaussian noise",
         f"as is reaches {100 * row['as is']['val_acc']:.1f} %, against {100 * row['none']['val_acc']:.1f} % with no "
         "dropout at all")
    for side in ("recomputed", "dropout last", "uout"):
        assert abs(row[side]["stored_over_test"] - 1.0) < 0.05, side  # "each fix takes it to within 5 % of 1"
    assert abs(row["none"]["val_acc"] - row["as is"]["val_acc"]) < 0.01  # "moves by less than a point"
    status = {v["claim"]: v["status"] for v in out["verdicts"]}
    for claim in ("recomputing the statistics", "dropout after the last BatchNorm", "uout"):
        assert status[claim] == "unclear", claim  # "come out unclear at 5 seeds"
    assert status["gaussian of the same variance"] != "holds"  # "does not beat as is"


def test_mc_dropout_with_batchnorm():
    s = result("bn-mc")["summary"]
    pct = lambda name: f"{100 * s[name]['mean']:.1f} %"  # noqa: E731
    says(f"MC accuracy is {pct('mc_mode|mixed|acc')} on mixed batches and {pct('mc_mode|one class|acc')} on one-class",
         f"MC accuracy is {pct('model.train()|mixed|acc')} on mixed batches and falls to "
         f"{pct('model.train()|one class|acc')} on one-class",
         f"gives {pct('model.train()|one class|eval accuracy after')} instead of {pct('eval accuracy before')}")
    assert all(v["status"] == "holds" for v in result("bn-mc")["verdicts"])


def test_learning_rate_and_batch_size():
    out = result("dropout-lr")
    best = {(b["optimizer"], b["p"]): b["geomean_lr"] for b in out["best"]}
    says(f"its geometric mean over seeds is {best['sgd', 0.5]:.3g}, against {best['sgd', 0.0]:.3g} without dropout",
         f"by a factor of about {round(best['adam', 0.5] / best['adam', 0.0]):d} "
         f"({best['adam', 0.5]:.3g} against {best['adam', 0.0]:.2g})")
    verdicts = {v["claim"]: v for v in out["verdicts"]}
    checks = {c["text"].split(":")[0]: c["status"] for c in verdicts["higher lr"]["checks"]}
    assert checks == {"sgd": "does not hold", "sgd+momentum": "unclear", "adam": "holds"}
    assert verdicts["momentum"]["status"] == "unclear" and verdicts["batch"]["status"] == "holds"
