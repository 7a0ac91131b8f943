"""The pages under a full class, and with a server setting that makes no sense (trainers in threads here)."""
from __future__ import annotations

import re

import pytest

from core.engine.config import RunConfig
from core.live import pool
from core.live.admission import Admission
from core.live.settings import ServerSettings
from tests.pages.conftest import PLAYGROUND


@pytest.fixture
def class_of_one(monkeypatch):
    monkeypatch.setattr(pool, "_local", Admission(cap=1))


def test_a_run_past_the_cap_shows_the_class_is_full_then_trains(class_of_one, open_page):
    # A classmate's run holds the only place (AppTest runs its sessions under one session lease, so the
    # classmate is a runner started directly, as the page would start it).
    classmate = pool.start_runner("live", RunConfig(), None)
    try:
        classmate.send("play")
        assert classmate.wait_for(lambda s: s["state"] == "playing", 5)["state"] == "playing"
        at = open_page(PLAYGROUND)
        runner = at.session_state["playground.runner"]
        assert runner.snapshot()["state"] == "queued"
        notices = [i.value for i in at.info]
        assert any("The class is full" in text and "at most 1 runs" in text for text in notices), notices
        assert "Queued" in at.get("progress")[0].proto.text
        assert at.button(key="playground.play.button").label == "⏸ Pause"  # pausing leaves the queue
        classmate.send("pause")  # a place frees up
        assert runner.wait_for(lambda s: s["state"] == "playing", 5)["state"] == "playing"
        at.run()
        assert not [i for i in at.info if "The class is full" in i.value]
        assert "Training" in at.get("progress")[0].proto.text
    finally:
        classmate.close()


def test_a_setting_that_makes_no_sense_is_named_on_the_page(monkeypatch, open_page):
    monkeypatch.setattr(pool, "_settings", ServerSettings.from_env(
        {"DROPOUT_LAB_TRAINERS": "threads", "DROPOUT_LAB_MAX_TRAINERS": "lots"}))
    at = open_page()
    warnings = [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning]  # as shown: the escapes rendered
    assert any("Server setting ignored" in w and "DROPOUT_LAB_MAX_TRAINERS" in w and "'lots'" in w for w in warnings)
    assert not at.exception


def test_a_full_server_refuses_a_new_run_with_what_to_do_and_starts_it_once_a_place_frees(monkeypatch, open_page):
    from core.live.admission import RunCount
    from core.ui.labs import coadaptation
    from core.ui.labs.playground import RUNNER

    monkeypatch.setattr(pool, "_runs", RunCount(max_runs=1, max_per_owner=None))
    first = open_page("pages/02_playground.py")
    assert first.session_state[RUNNER].alive
    second = open_page("pages/04_coadaptation.py")
    assert not second.exception
    assert any("the server is full" in e.value and "Close the tabs" in e.value for e in second.error)
    assert coadaptation.RUNNER not in second.session_state or second.session_state[coadaptation.RUNNER] is None
    first.session_state[RUNNER].close()
    second.run()
    assert not second.error and second.session_state[coadaptation.RUNNER].alive


def test_every_tab_of_one_browser_has_one_owner_and_another_browser_another():
    from core.ui.session import _token

    def cookie(mask: bytes, token: bytes) -> str:
        return "2|" + mask.hex() + "|" + bytes(m ^ t for m, t in zip(mask, token)).hex() + "|1796360000"

    token = bytes(range(32))
    tab_1, tab_2 = cookie(b"\x01" * 32, token), cookie(b"\x7f" * 32, token)  # masked afresh on each load
    assert tab_1 != tab_2 and _token(tab_1) == _token(tab_2) is not None
    assert _token(cookie(b"\x01" * 32, bytes(range(1, 33)))) != _token(tab_1)
    assert _token(None) is None and _token("garbage") is None and _token("2|zz|zz|1") is None


def test_a_run_that_cannot_get_a_training_process_says_so_and_offers_to_try_again(open_page, monkeypatch):
    from core.ui import live
    real_start, calls = live.start_runner, []

    def start_busy_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no training process is running right now: the server is starting new ones. "
                               "Try again in a few seconds.")
        return real_start(*args, **kwargs)

    monkeypatch.setattr(live, "start_runner", start_busy_once)
    at = open_page(PLAYGROUND)
    assert not at.exception
    assert any("Could not start training: no training process" in e.value for e in at.error), at.error
    at.button(key="playground.try_again.button").click().run()
    assert not at.exception and not at.error
    runner = at.session_state["playground.runner"]
    assert runner.wait_for(lambda s: s["state"] in ("playing", "finished"), 10)["state"] in ("playing", "finished")
