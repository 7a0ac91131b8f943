"""Link values are read as the control's type and range, or refused with a sentence that shows the
value as code, never as the app's own words or links; what a page writes in its link reads back."""
import os
import re

import pytest

from core.ui.links import link_text, link_value, number_from_link, shown


@pytest.mark.parametrize("raw, default, expected", [("3", 1, 3), ("3.0", 1, 3), ("0.25", 0.5, 0.25), ("1e1", 1, 10)])
def test_good_values_are_read_as_the_default_type(raw, default, expected):
    value = number_from_link(raw, default, 0, 10)
    assert value == expected and type(value) is type(default)


@pytest.mark.parametrize("raw, default, message", [
    ("2.5", 1, "whole number"), ("inf", 1, "whole number"), ("nan", 1, "whole number"),
    ("nan", 0.5, r"must be in \[0, 10\]"), ("11", 1, r"must be in \[0, 10\]"), ("-0.1", 0.5, "must be in"),
    ("abc", 1, "must be a number"), ("", 0.5, "must be a number"),
])
def test_bad_values_say_what_is_wrong(raw, default, message):
    with pytest.raises(ValueError, match=message):
        number_from_link(raw, default, 0, 10)


@pytest.mark.parametrize("value, default, choices", [
    (2**31 - 1, 0, ()), (0.0003, 0.5, ()), (0.35, 0.5, ()), ([0.0, 0.1, 0.55], [0.0], (0.0, 0.1, 0.55)),
    ([20, 1280], [20], (20, 1280)), ("moons", "xor", ("moons", "xor")),
])
def test_a_written_link_reads_back_unchanged(value, default, choices):
    read = link_value(link_text(value), default, lo=0, hi=2**31, choices=choices)
    assert read == value and type(read) is type(value)


HOSTILE = "[Session expired: sign in](https://evil.example/login) ![x](https://evil.example/x.png) <a href='https://evil.example'>x</a> **bold** `tick` :red[red] $x$"


def outside_code(text: str) -> str:
    """``text`` without its inline code spans: what Markdown would render as Markdown."""
    return re.sub(r"`[^`]*`", "", text)


@pytest.mark.parametrize("page, names", [
    ("pages/02_playground.py", ["preset"]),
    ("pages/03_overfitting.py", ["experiment"]),
    ("pages/03_overfitting.py", ["experiment=fig9a", "seeds", "rates", "dataset", "p"]),
    ("pages/04_coadaptation.py", ["p", "dataset", "width", "activation", "seed", "speed", "layer"]),
])
def test_a_hostile_link_puts_no_words_or_links_in_the_app_s_mouth(open_page, page, names):
    query = dict(name.split("=", 1) if "=" in name else (name, HOSTILE) for name in names)
    at = open_page(page, query=query)
    assert not at.exception
    said = [w.value for w in at.warning] + [e.value for e in at.error] + [i.value for i in at.info]
    assert any("`[Session expired" in text for text in said), said  # the value is shown, as code
    for text in said:
        rendered = outside_code(text)
        assert "evil" not in rendered and "](" not in rendered and "<a" not in rendered, text
        assert "**bold**" not in rendered and ":red[" not in rendered, text


def test_a_hostile_server_setting_is_shown_as_text(open_page, monkeypatch):
    from core.live import pool
    from core.live.settings import ServerSettings

    hostile = ServerSettings.from_env({**os.environ,  # the suite's own settings kept (runs in threads)
                                       "DROPOUT_LAB_REFRESH": "[Session expired](https://evil.example) **now**"})
    monkeypatch.setattr(pool, "settings", lambda: hostile)
    at = open_page()
    said = [w.value for w in at.warning if "Server setting ignored" in w.value]
    assert said and "evil" in said[0]
    assert "](" not in said[0] and "**now**" not in said[0] and "https://" not in said[0]


# -- every lab is a link: set the controls, read the link, open it fresh, the same state and the same run ------

PLAYGROUND_CHANGES = {"dataset": "xor", "noise": 0.3, "seed": 7, "nuisance": 2, "layers": 2, "width": 12,
                      "activation": "tanh", "p_hidden_1": 0.3, "optimizer": "sgd+momentum", "lr": 0.03,
                      "batch_size": 8, "max_epochs": 12, "b_p_hidden": 0.2, "b_weight_decay": 1e-3, "speed": "max"}


def _finished_runs(at, key):
    snap = at.session_state[key].wait_for(lambda s: s["state"] in ("finished", "diverged", "error"), timeout=120)
    assert snap["state"] == "finished", snap.get("message")
    return [(r["config"], r["history"]["val_loss"]) for r in snap["runs"]]


def test_the_playground_s_link_holds_every_control_and_opens_the_same_run(open_page):
    from core.ui.labs.playground import NS, RUNNER

    at = open_page("pages/02_playground.py", preset="tiny", **PLAYGROUND_CHANGES)
    at.slider(key=NS + "p_input").set_value(0.1).run()  # and one change made the way a learner makes it
    assert not at.exception
    link = dict(at.query_params)
    changed = {**PLAYGROUND_CHANGES, "p_input": 0.1}
    assert link.pop("preset") == "tiny" and set(link) == set(changed), "the preset, then what differs from it"
    at.button(key=NS + "reset.button").click().run()  # p_input changed live; from epoch 0 with it
    at.button(key=NS + "play.button").click().run()
    first = _finished_runs(at, RUNNER)

    fresh = open_page("pages/02_playground.py", query=link | {"preset": "tiny"})
    assert not fresh.exception and not fresh.warning
    assert {name: fresh.session_state[NS + name] for name in changed} == changed
    again = _finished_runs(fresh, RUNNER)
    assert [cfg for cfg, _ in again] == [cfg for cfg, _ in first]
    assert [losses for _, losses in again] == [losses for _, losses in first], "the same run, loss for loss"


@pytest.mark.parametrize("name, raw, says", [
    ("width", "300", "must be in [2, 256]"), ("lr", "0.02", "choose from"), ("dataset", "mnist", "choose from"),
    ("compare", "maybe", "must be true or false"), ("p_hidden_0", "nan", "must be in"), ("seed", "-1", "must be in"),
    ("speed", "fast", "choose from"), ("layers", "2.5", "whole number"),
])
def test_a_bad_playground_link_value_is_refused_with_a_sentence(open_page, name, raw, says):
    from core.ui.labs.playground import NS, widget_values
    from core.labs.playground.presets import preset

    at = open_page("pages/02_playground.py", query={"preset": "tiny", name: raw})
    assert not at.exception
    said = [w.value for w in at.warning]
    assert any(f"`{name}`={shown(raw)}" in w and says in w for w in said), said
    assert at.session_state[NS + name] == widget_values(preset("tiny"))[name]  # the preset's value instead


ROUND_TRIPS = {  # page: {session key: a value other than its default}, set as the learner would leave them
    "pages/01_mechanism.py": {"mechanism.p": 0.3, "mechanism.point": "near the boundary (0.0, 0.25)",
                              "mechanism.n_masks": 100, "mechanism.modes": ["eval", "mc"], "mechanism.mask_seed": 4,
                              "mechanism.ensemble.seed": 5, "mechanism.convention_value": 0.6},
    "pages/03_overfitting.py": {"overfitting.experiment": "fig9b", "overfitting.fig9b.seeds": 3,
                                "overfitting.fig9b.noise": 0.3},
    "pages/04_coadaptation.py": {"coadaptation.p": 0.3, "coadaptation.width": 8, "coadaptation.seed": 3},
    "pages/05_uncertainty.py": {"uncertainty.reg.p": 0.3, "uncertainty.reg.activation": "tanh",
                                "uncertainty.reg.seed": 2, "uncertainty.cls.dataset": "circles",
                                "uncertainty.cls.T": 20, "uncertainty.cls.probe_x": -1.0},
    "pages/06_cnn.py": {"cnn.p": 0.2, "cnn.kind_b": "block", "cnn.seed": 2, "cnn.digit": 5, "cnn.spatial.p": 0.3,
                        "cnn.spatial.n_train": 200, "cnn.rebuild.neighbours": 8},
    "pages/07_variants.py": {"variants.p": 0.3, "variants.variant_0": "alpha", "variants.activation": "selu",
                             "variants.experiment": "droppath", "variants.droppath.seeds": 4,
                             "variants.droppath.p": 0.25},
    "pages/08_batchnorm.py": {"batchnorm.shift.p": 0.3, "batchnorm.shift.width": 32, "batchnorm.bn-mc.batch_size": 4},
    "pages/09_production.py": {"production.p_a": 0.5, "production.seed": 3, "production.mode_a": "feature"},
    "pages/10_interview.py": {"interview.drill.topic": "batchnorm", "interview.drill.levels": ["medium", "hard"]},
}
RUNNERS = {"pages/04_coadaptation.py": ("coadaptation.runner",), "pages/06_cnn.py": ("cnn.runner",),
           "pages/05_uncertainty.py": ("uncertainty.reg.runner", "uncertainty.cls.runner"),
           "pages/07_variants.py": ("variants.runner",), "pages/09_production.py": ("production.runner",)}


def _first_numbers(runner) -> list:
    """Each run's settings and its first recorded numbers (the first point: later ones depend on the pace)."""
    def recorded(run) -> int:
        series = run.get("history", run.get("curves", {}))
        return len(series.get("epoch", series.get("step", [])))
    snap = runner.wait_for(lambda s: all(recorded(r) >= 2 for r in s.get("runs", [s])), timeout=120)
    runs = snap.get("runs", [snap])
    assert all(recorded(r) >= 2 for r in runs), "a run recorded fewer than two points within 120 s"
    return [(r.get("config", r.get("p")), {k: v[:1] for k, v in r.get("history", r.get("curves", {})).items()})
            for r in runs]


@pytest.mark.parametrize("page", list(ROUND_TRIPS))
def test_a_page_s_link_reopens_the_same_state_and_run(open_page, page):
    changes = ROUND_TRIPS[page]
    at = open_page(page, raw_state=changes)
    assert not at.exception
    link = dict(at.query_params)
    assert link, "the address bar holds the changed controls"
    first = {key: _first_numbers(at.session_state[key]) for key in RUNNERS.get(page, ())}  # before the fresh
    fresh = open_page(page, query=link)  # page replaces them (the tests' sessions share one lease)
    assert not fresh.exception, fresh.exception
    assert not [w.value for w in fresh.warning if "link" in w.value], "every value of the page's own link is taken"
    assert {key: fresh.session_state[key] for key in changes} == changes
    for key in RUNNERS.get(page, ()):
        assert _first_numbers(fresh.session_state[key]) == first[key], key


def test_an_experiment_s_settings_in_a_link_are_checked_like_every_control(open_page):
    cnn = open_page("pages/06_cnn.py", query={"spatial.p": "5", "rebuild.neighbours": "6", "spatial.seeds": "3"})
    warned = " ".join(w.value for w in cnn.warning)
    assert "spatial.p" in warned and "must be in [0.05, 0.9]" in warned and "choose from 4, 8" in warned
    assert cnn.session_state["cnn.spatial.seeds"] == 3 and cnn.session_state["cnn.spatial.p"] != 5
    variants = open_page("pages/07_variants.py", query={"experiment": "concrete", "concrete.sizes": "x" * 300,
                                                        "concrete.seeds": "nan"})
    warned = " ".join(w.value for w in variants.warning)
    assert "longer than 200 characters" in warned and "must be a whole number" in warned
    typed = open_page("pages/07_variants.py", query={"experiment": "concrete", "concrete.sizes": "10, oops"})
    assert any("do not make a valid run" in e.value for e in typed.error)  # text is read by the run, never evaluated
