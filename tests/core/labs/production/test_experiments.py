"""Lesson 9's experiments by key: one table for the command line and the page's job, headless strict JSON, and one
``error:`` line with exit status 2 for a bad option."""
import json
import subprocess
import sys

import pytest

from core.engine.config import ConfigError
from core.labs.production import experiments


def test_every_key_has_defaults_a_cost_and_refuses_an_unknown_setting():
    for key in experiments.KEYS:
        req = experiments.request(key)
        assert experiments.request_work(req) > 0
        with pytest.raises(ConfigError, match="unknown setting"):
            experiments.request(key, {"no_such_setting": 1})
    with pytest.raises(ConfigError, match="must be one of"):
        experiments.request("leak-nothing")


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "core", "reproduce", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_leak_runs_headless_with_the_shared_options_and_writes_strict_json(tmp_path):
    out = tmp_path / "leak.json"
    run = cli("leak", "--rates", "0,0.8", "--seeds", "2", "--leak", "0.9", "--n-train", "300", "--steps", "30",
              "--set", "leaks=[0.5]", "--json", str(out))
    assert run.returncode == 0, run.stderr
    assert "serving acc" in run.stdout and "done in" in run.stdout
    data = json.loads(out.read_text())
    assert data["experiment"] == "leak" and data["config"]["leak"] == 0.9 and data["config"]["n_train"] == 300
    assert {m["leak"] for m in data["members"]} == {0.9, 0.5} and {m["seed"] for m in data["members"]} == {0, 1}
    for m in data["members"]:
        assert {"p", "seed", "leak", "train_acc", "serving_acc", "legit_only_acc"} <= set(m)


def test_serving_runs_headless(tmp_path):
    out = tmp_path / "serving.json"
    run = cli("serving", "--set", "passes=[1,4]", "--set", "repeats=3", "--set", "steps=20", "--json", str(out))
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["exports"]["eval()"]["passes"] and not data["exports"]["no eval()"]["passes"]


@pytest.mark.parametrize("args,said", [
    (["leak", "--leak", "1.5"], "leak must be in"),
    (["leak", "--rates", "0,abc"], "comma-separated"),
    (["leak", "--seeds", "1"], "seeds"),
    (["leak", "--dataset", "moons"], "unknown setting"),
    (["leak", "--hidden", "16,32"], "one width"),
    (["fig9a", "--leak", "0.5"], "--leak is a setting of leak"),
    (["serving", "--set", "passes=[0]"], "passes"),
])
def test_a_bad_option_gets_one_error_line_and_status_2(args, said):
    run = cli(*args, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and said in lines[0], run.stderr
