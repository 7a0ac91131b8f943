"""The live runner of lesson 9: A and B in lockstep on one task, their curves, p applied live, bad commands said."""
from __future__ import annotations

import pytest

from core.labs.production.runner import LiveLeak
from core.labs.production.task import LeakTrainer, RunSpec

SPEC = RunSpec(steps=200, n_train=1000, n_test=1000)


@pytest.fixture
def runner():
    made = []

    def make(*specs, **kwargs):
        r = LiveLeak(list(specs), **kwargs)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def test_a_and_b_train_in_lockstep_as_they_would_alone(runner):
    r = runner(SPEC.but(p=0.8), SPEC.but(p=0.0))
    r.send("play")
    snap = r.wait_for(lambda s: s["state"] == "finished", 120)
    assert snap["state"] == "finished" and snap["step"] == 200
    a, b = snap["runs"]
    assert a["curves"]["step"][0] == 0 and a["curves"]["step"][-1] == 200
    alone = LeakTrainer(SPEC.but(p=0.0)).run().measure()
    assert b["last"]["serving_acc"] == alone["serving_acc"]  # stepping in turn changes nothing
    r.send("play")  # a finished run goes on for as many steps again
    assert r.wait_for(lambda s: s["state"] == "finished" and s["step"] == 400, 120)["step"] == 400


def test_p_and_mode_apply_to_the_running_run_and_bad_commands_are_said(runner):
    r = runner(SPEC.but(p=0.8), SPEC.but(p=0.0))
    r.send("set_p", p=0.3, run=0)
    r.send("set_mode", mode="feature", run=0)
    snap = r.wait_for(lambda s: s["runs"][0]["p"] == 0.3 and s["runs"][0]["mode"] == "feature", 5)
    assert snap["runs"][1]["p"] == 0.0
    for command, args, said in (("set_p", {"p": 2.0}, "p must be in"), ("set_p", {"p": "x"}, "p must be a number"),
                                ("set_mode", {"mode": "rows"}, "mode must be one of"),
                                ("set_p", {"p": 0.5, "run": 5}, "run"), ("launch", {}, "unknown command")):
        r.send(command, **args)
        snap = r.wait_for(lambda s: said in (s["message"] or ""), 5)
        assert said in snap["message"] and snap["state"] != "error"
    assert r.snapshot()["runs"][0]["p"] == 0.3


def test_runs_must_share_everything_but_p_and_mode():
    with pytest.raises(ValueError, match="share"):
        LiveLeak([SPEC, SPEC.but(leak=0.5)])
    with pytest.raises(ValueError, match="1 or 2"):
        LiveLeak([SPEC] * 3)
