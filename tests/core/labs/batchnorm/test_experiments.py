"""Lesson 8's experiments by key: one table for the command line and the page's job, headless JSON."""
import json
import subprocess
import sys

import pytest

from core.engine.config import ConfigError
from core.labs.batchnorm import experiments


def test_every_key_has_defaults_a_cost_and_refuses_an_unknown_setting():
    for key in experiments.KEYS:
        req = experiments.request(key)
        assert experiments.request_work(req) > 0
        with pytest.raises(ConfigError, match="unknown setting"):
            experiments.request(key, {"no_such_setting": 1})
    with pytest.raises(ConfigError, match="must be one of"):
        experiments.request("bn-nothing")


@pytest.mark.parametrize("key,changes,expect", [
    ("dropout-lr", ["steps=20", "seeds=2", "sgd_lrs=[0.1,0.3]", "momentum_lrs=[0.01,0.03]",
                    "adam_lrs=[0.001,0.003]", "batch_sizes=[8,32]"], "best"),
    ("bn-mc", ["seeds=2", "train_steps=60", "passes=3", "width=16"], "model.train()"),
    ("bn-fixes", ["seeds=2", "train_steps=40", "width=16"], "recomputed"),
])
def test_the_command_line_runs_each_headless_and_writes_strict_json(tmp_path, key, changes, expect):
    out = tmp_path / "out.json"
    args = [sys.executable, "-m", "core", "reproduce", key, "--json", str(out)]
    for change in changes:
        args += ["--set", change]
    run = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert expect in run.stdout and "done in" in run.stdout
    data = json.loads(out.read_text())  # strict JSON: no NaN
    assert data["experiment"] == key and data["command"] == "reproduce"
    assert data["verdicts"], "a full run judges its claims"
