"""The judge: every correct Dropout is accepted whatever random call it uses, every classic mistake is rejected
by its named check and misconception, mc_predict's BatchNorm bug is caught, and the CLI's exit status says which.

The judge functions are called in this process here (they only read a file); the page and the CLI run them in
the sandbox, which one test goes through end to end."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.analysis.answers import ANSWERS
from core.drills import load_bank
from core.labs.interview.judge import compare_in_network, judge_dropout, judge_mc_predict

ROOT = Path(__file__).resolve().parents[4]
BANK = load_bank(ANSWERS)
HEAD = "import torch\nimport torch.nn.functional as F\n\n\nclass Dropout(torch.nn.Module):\n"
INIT = """    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(p)
        self.p = p

"""


def layer(forward: str, init: str = INIT) -> str:
    return HEAD + init + textwrap.indent(textwrap.dedent(forward).strip("\n"), "    ") + "\n"


CORRECT = {
    "the bank's reference": BANK.question("scratch-implement-dropout").answer,
    "bernoulli": layer("""
        def forward(self, x):
            if not self.training:
                return x
            if self.p == 1:
                return torch.zeros_like(x)
            return x * torch.bernoulli(torch.full_like(x, 1 - self.p)) / (1 - self.p)
        """),
    "rand() > p, scale folded into the mask": layer("""
        def forward(self, x):
            if not self.training or self.p == 0:
                return x
            if self.p == 1:
                return x * 0
            return x * ((torch.rand(x.shape, device=x.device) > self.p).to(x.dtype) * (1.0 / (1.0 - self.p)))
        """),
    "uniform_ into an empty tensor": layer("""
        def forward(self, x):
            if self.training and self.p > 0:
                if self.p >= 1:
                    return x.mul(0)
                keep = torch.empty_like(x).uniform_(0, 1).ge(self.p)
                return x.masked_fill(~keep, 0).div(1 - self.p)
            return x
        """),
    "F.dropout itself": layer("""
        def forward(self, x):
            return F.dropout(x, self.p, self.training)
        """),
    "bernoulli_ in place on a fresh tensor": layer("""
        def forward(self, x):
            if not self.training:
                return x
            if self.p == 1.0:
                return x * 0.0
            mask = x.new_empty(x.shape).bernoulli_(1 - self.p)
            return x * mask / (1 - self.p)
        """),
}

GOOD = textwrap.dedent("""
    def forward(self, x):
        if not self.training:
            return x
        if self.p == 1:
            return x * 0.0
        keep = 1 - self.p
        mask = (torch.rand_like(x) < keep).to(x.dtype)
        return x * mask / keep
""")

WRONG = {  # name: (source, the check that must fail, the misconception it must name or None)
    "keep and drop swapped": (layer(GOOD.replace("< keep", "< self.p").replace("/ keep", "/ self.p")),
                              "drop fraction is p", "keep-drop-swap"),
    "no scaling": (layer(GOOD.replace("x * mask / keep", "x * mask")), "survivors scaled by 1 / (1 - p)",
                   "no-scaling"),
    "classic scaling at eval": (layer(GOOD.replace("return x\n", "return x * (1 - self.p)\n", 1)),
                                "eval is the identity", "classic-at-eval"),
    "scaled by p": (layer(GOOD.replace("x * mask / keep", "x * mask / self.p")), "survivors scaled by 1 / (1 - p)",
                    "scale-by-p"),
    "one mask for the batch": (layer(GOOD.replace("torch.rand_like(x)", "torch.rand(x.shape[1:])")),
                               "independent across batch rows", "shared-batch-mask"),
    "a mask drawn once and reused": (layer("""
        def forward(self, x):
            if not self.training:
                return x
            if getattr(self, "mask", None) is None or self.mask.shape != x.shape:
                self.mask = (torch.rand_like(x) >= self.p).to(x.dtype)
            return x * self.mask / (1 - self.p)
        """), "a fresh mask at each call", "mask-reused"),
    "left on in eval": (layer(GOOD.replace("    if not self.training:\n        return x\n", "")),
                        "eval is the identity", "left-on-in-eval"),
    "in place": (layer(GOOD.replace("return x * mask / keep", "return x.mul_(mask).div_(keep)")),
                 "input not modified", "in-place"),
    "detached from the graph": (layer(GOOD.replace("return x * mask / keep", "return x.detach() * mask / keep")),
                                "gradient through the same mask", "backward-mask"),
    "p = 1 divides by zero": (layer(GOOD.replace("if self.p == 1:\n        return x * 0.0\n", "")),
                              "p = 1 gives zeros", None),
    "whole rows dropped together": (layer(GOOD.replace("torch.rand_like(x)", "torch.rand(x.shape[0], *[1] * (x.dim() - 1))")),
                                    "independent across elements", None),
    "a mask of float32 only": (layer(GOOD.replace("return x * mask / keep", "return (x * mask / keep).float()")),
                               "shape, dtype and device kept", None),
    "p never checked": (layer(GOOD, init="    def __init__(self, p=0.5):\n        super().__init__()\n"
                                         "        self.p = p\n\n"), "p outside [0, 1] refused", None),
}


def judge(tmp_path: Path, source: str, fn=judge_dropout) -> dict:
    path = tmp_path / "solution.py"
    path.write_text(source, encoding="utf-8")
    report = fn(str(path))
    json.dumps(report, allow_nan=False)  # it must travel back from the sandbox as strict JSON
    return report


@pytest.mark.parametrize("name", CORRECT)
def test_every_correct_layer_is_accepted_whatever_random_call_it_uses(tmp_path, name):
    report = judge(tmp_path, CORRECT[name])
    assert report["status"] == "accepted", report["failures"]
    assert len(report["checks"]) == 13 and report["misconceptions"] == []


@pytest.mark.parametrize("seed", range(5))
def test_the_statistical_checks_pass_a_correct_layer_at_other_seeds_too(tmp_path, seed):
    path = tmp_path / "solution.py"
    path.write_text(CORRECT["bernoulli"], encoding="utf-8")
    assert judge_dropout(str(path), seed=seed)["status"] == "accepted"


@pytest.mark.parametrize("name", WRONG)
def test_every_classic_mistake_is_rejected_by_its_named_check(tmp_path, name):
    source, check, misconception = WRONG[name]
    assert source != layer(GOOD), "the mutation must have changed the code"
    report = judge(tmp_path, source)
    assert report["status"] == "rejected"
    failed = {f["check"]: f["message"] for f in report["failures"]}
    assert check in failed, failed
    assert failed[check].strip(), "every failure says what went wrong"
    if misconception is not None:
        assert misconception in report["misconceptions"], report["misconceptions"]
        assert misconception in BANK.misconceptions


def test_the_no_scaling_failure_names_the_fix_in_its_message_and_its_misconception(tmp_path):
    report = judge(tmp_path, WRONG["no scaling"][0])
    failed = {f["check"]: f["message"] for f in report["failures"]}
    assert "inverted dropout divides the survivors by 1 - p" in failed["survivors scaled by 1 / (1 - p)"]
    assert report["misconceptions"][0] == "no-scaling"  # the page prints its sentence under the failures
    assert "inverted dropout divides the survivors" in BANK.misconceptions["no-scaling"]


@pytest.mark.parametrize(("source", "says"), [
    ("import torch\nclass Dropout(torch.nn.Module)\n    pass\n", "line 2"),
    ("import torch\n\ndef dropout(x, p):\n    return x\n", "defines no Dropout"),
    ("Dropout = 3\n", "subclasses torch.nn.Module"),
    ("import torch\nraise RuntimeError('boom')\n", "RuntimeError: boom at line 2"),
])
def test_code_that_cannot_be_graded_is_unusable_with_a_sentence(tmp_path, source, says):
    report = judge(tmp_path, source)
    assert report["status"] == "unusable" and says in report["error"], report["error"]


def test_a_layer_whose_forward_raises_fails_its_checks_with_the_error(tmp_path):
    report = judge(tmp_path, layer("def forward(self, x):\n    raise NotImplementedError\n"))
    assert report["status"] == "rejected"
    assert any("NotImplementedError" in f["message"] for f in report["failures"])


def test_the_judge_takes_well_under_a_second(tmp_path):
    judge(tmp_path, CORRECT["bernoulli"])  # warm up torch's kernels
    start = time.perf_counter()
    judge(tmp_path, CORRECT["bernoulli"])
    assert time.perf_counter() - start < 5.0  # about 0.1 s here; generous for a busy machine


# -- mc_predict ---------------------------------------------------------------------------------
MC_GOOD = BANK.question("mc-implement-predict").answer
MC_BATCHED = """
import torch


def mc_predict(model, x, T=100):
    was = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd):
            m.train()
    with torch.no_grad():
        out = model(x.repeat(T, 1)).reshape(T, x.shape[0], -1)
    for m, t in was.items():
        m.train(t)
    return out.mean(0), out.std(0, unbiased=False)
"""
MC_WRONG = {
    "model.train()": (MC_GOOD.replace("model.eval()  #", "model.train()  #"), "BatchNorm's statistics untouched",
                      "mc-train-mode"),
    "dropout never switched on": (MC_GOOD.replace("module.train()  #", "pass  #"), "dropout samples", None),
    "the variance, not the std": (MC_GOOD.replace("passes.std(dim=0)", "passes.var(dim=0)"), "std matches MC dropout",
                                  None),
    "the mode not restored": (MC_GOOD.replace("module.train(training)", "pass"), "the model's mode restored",
                              "left-on-in-eval"),
    "gradients kept": (MC_GOOD.replace("with torch.no_grad():", "if True:"), "no gradients tracked", None),
    "one pass too few": (MC_GOOD.replace("range(T)", "range(T - 1)"), "T passes", None),
}


@pytest.mark.parametrize("source", [MC_GOOD, MC_BATCHED], ids=["reference", "batched"])
def test_a_correct_mc_predict_is_accepted(tmp_path, source):
    report = judge(tmp_path, source, judge_mc_predict)
    assert report["status"] == "accepted", report["failures"]


@pytest.mark.parametrize("name", MC_WRONG)
def test_each_mc_predict_mistake_is_named(tmp_path, name):
    source, check, misconception = MC_WRONG[name]
    assert source != MC_GOOD
    report = judge(tmp_path, source, judge_mc_predict)
    assert report["status"] == "rejected" and check in {f["check"] for f in report["failures"]}, report["failures"]
    if misconception:
        assert misconception in report["misconceptions"]


def test_model_train_for_mc_dropout_is_caught_even_when_the_statistics_are_put_back(tmp_path):
    sneaky = MC_GOOD.replace("model.eval()  #", "state = {k: v.clone() for k, v in model.state_dict().items()}\n"
                             "    model.train()  #").replace("    return passes", "    model.load_state_dict(state)\n"
                                                               "    return passes")
    report = judge(tmp_path, sneaky, judge_mc_predict)
    assert "a point's prediction ignores its batch" in {f["check"] for f in report["failures"]}
    assert "mc-train-mode" in report["misconceptions"]


def test_mc_predict_returning_the_wrong_thing_stops_at_the_first_check(tmp_path):
    report = judge(tmp_path, "def mc_predict(model, x, T):\n    return model(x)\n", judge_mc_predict)
    assert report["status"] == "rejected" and len(report["checks"]) == 1
    assert "(mean, std)" in report["failures"][0]["message"]


# -- the layer in a real network -----------------------------------------------------------------
def test_a_correct_layer_trains_like_torchs_and_an_unscaled_one_is_reported(tmp_path):
    events = []
    path = tmp_path / "solution.py"
    path.write_text(CORRECT["bernoulli"], encoding="utf-8")
    good = compare_in_network(str(path), events.append, steps=200)
    assert good["status"] == "done" and "Yours is within that scale" in good["summary"], good["summary"]
    assert [e["step"] for e in events] == good["curves"]["step"] and events[-1]["step"] == 200
    assert set(events[-1]) == {"step", "ours", "yours"}
    json.dumps(good, allow_nan=False)
    path.write_text(layer("def forward(self, x):\n    raise ValueError('no')\n"), encoding="utf-8")
    broken = compare_in_network(str(path), steps=20)
    assert broken["status"] == "error" and "ValueError: no" in broken["error"]


def test_the_lesson_quotes_how_often_the_network_tells_a_bug_apart(tmp_path):
    """Lesson 10: over seeds 0 to 3, correct layers always within mask randomness's scale, a reused mask always
    outside, no scaling outside on two seeds and inside on two."""
    within = {}
    for name, source in (("correct", CORRECT["bernoulli"]), ("reused", WRONG["a mask drawn once and reused"][0]),
                         ("unscaled", WRONG["no scaling"][0])):
        path = tmp_path / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        within[name] = ["Yours is within that scale" in compare_in_network(str(path), seed=s)["summary"]
                        for s in range(4)]
    assert within["correct"] == [True] * 4 and within["reused"] == [False] * 4, within
    assert sorted(within["unscaled"]) == [False, False, True, True], within
    lesson = " ".join((ROOT / "lessons" / "10_interview.md").read_text(encoding="utf-8").split())
    assert ("correct layers always landed within that scale, a mask drawn once and reused always landed outside it, "
            "and a layer with *no scaling* landed outside on two seeds and inside on the other two") in lesson


# -- through the sandbox: the CLI ------------------------------------------------------------------
def test_the_cli_judges_in_the_sandbox_with_exit_status_and_json(tmp_path):
    good, bad, broken = (tmp_path / n for n in ("good.py", "bad.py", "broken.py"))
    good.write_text(CORRECT["the bank's reference"])
    bad.write_text(WRONG["no scaling"][0])
    broken.write_text("class Dropout(:\n")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "core", "judge", *map(str, args)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    ok = cli("dropout", good, "--json", tmp_path / "good.json")
    assert ok.returncode == 0 and "accepted (13 of 13 checks passed)" in ok.stdout, ok.stdout + ok.stderr
    assert json.loads((tmp_path / "good.json").read_text())["status"] == "accepted"
    no = cli("dropout", bad, "--json", tmp_path / "bad.json")
    assert no.returncode == 1 and "[survivors scaled by 1 / (1 - p)]" in no.stdout
    failures = json.loads((tmp_path / "bad.json").read_text())["failures"]
    assert any(f["check"] == "survivors scaled by 1 / (1 - p)" and "divides the survivors" in f["message"]
               for f in failures)
    unusable = cli("dropout", broken)
    assert unusable.returncode == 2 and unusable.stderr.startswith("error: line 1")
    missing = cli("mc_predict", tmp_path / "nowhere.py")
    assert missing.returncode == 2 and "no file" in missing.stderr
