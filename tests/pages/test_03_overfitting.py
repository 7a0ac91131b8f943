"""Lesson 3's page, headless: a tiny preset runs to a verdict; cancel; bad links and settings."""

from core.labs.overfitting.experiments import EXPERIMENTS
from core.ui.labs.overfitting import JOB, NS
from tests.pages.conftest import charts, wait_until_done

PAGE = "pages/03_overfitting.py"


def tiny(key: str, **extra) -> dict:
    """Widget values for a run of a second or two."""
    return {f"{NS}{key}.{name}": value for name, value in
            {"seeds": 2, "length": 20, "width": 16, "layers": 1, **extra}.items()}


def problems(at) -> list[str]:
    """Error messages other than a verdict that does not hold (which is shown in red too)."""
    return [e.value for e in at.error if not e.value.startswith("**Verdict")]


def run_to_end(at, timeout: float = 120):
    next(b for b in at.button if b.label.startswith("▶ Run")).click().run()
    job = at.session_state[JOB]
    wait_until_done(job, timeout)
    return at.run()


def test_a_tiny_run_shows_its_figure_and_a_verdict(open_page):
    at = open_page(PAGE, raw_state=tiny("fig9a", rates=[0.0, 0.5, 0.9]))
    assert not at.exception
    assert "U-shaped" in " ".join(m.value for m in at.markdown)
    at = run_to_end(at)
    assert not at.exception and not problems(at)
    verdicts = [e.value for e in (*at.success, *at.warning, *at.error) if "Verdict" in e.value]
    assert len(verdicts) == 1 and "2 seeds" in verdicts[0]
    fig = charts(at)[0]
    assert fig["data"][0]["x"] == [0.0, 0.5, 0.9] and len(fig["data"]) == 2  # validation and training error
    statuses = ("**holds**", "**unclear**", "**does not hold**")
    checks = [m.value for m in at.markdown if m.value.startswith("- ") and any(s in m.value for s in statuses)]
    assert len(checks) == 3 and all("over 2 seeds" in c for c in checks)
    assert any(b.label.startswith("Download") for b in at.get("download_button"))


def test_every_experiment_runs_on_the_page(open_page):
    at = open_page(PAGE, raw_state={**tiny("fig9a", rates=[0.0, 0.5, 0.9])})
    for key, n_charts in (("fig9b", 1), ("fig10", 2), ("hinton", 1), ("table9", 1)):
        for name, value in tiny(key, sizes=[20, 40, 80]).items():
            at.session_state[name] = value
        at.radio(key=NS + "experiment").set_value(key).run()
        at = run_to_end(at)
        assert not at.exception and not problems(at), key
        assert len(charts(at)) == n_charts, key
        assert at.query_params["experiment"] == key


def test_cancel_stops_the_run_and_says_so(open_page):
    at = open_page(PAGE, raw_state=tiny("fig9a", length=5000, width=128, rates=[0.0, 0.5, 0.9]))
    next(b for b in at.button if b.label.startswith("▶ Run")).click().run()
    job = at.session_state[JOB].job  # the run itself, under this session's handle
    assert job.alive
    at.button(key=NS + "cancel.button").click().run()
    assert any("Cancelled" in i.value for i in at.info)
    wait_until_done(job, 30, "the cancelled run did not stop")
    at.run()
    assert not charts(at) and any(b.label.startswith("▶ Run") for b in at.button)


def test_a_link_opens_an_experiment_with_its_settings(open_page):
    at = open_page(PAGE, query={"experiment": "fig10", "seeds": "3", "sizes": "20,80,320"})
    assert at.radio(key=NS + "experiment").value == "fig10"
    assert at.session_state[NS + "fig10.seeds"] == 3 and at.session_state[NS + "fig10.sizes"] == [20, 80, 320]
    assert not at.warning


def test_bad_links_are_explained_not_fatal(open_page):
    at = open_page(PAGE, query={"experiment": "fig99"})
    assert not at.exception and "fig99" in at.warning[0].value
    at = open_page(PAGE, query={"experiment": "fig9a", "seeds": "many", "rates": "0,0.55"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "`seeds`=`many`" in warnings and "`rates`=`0,0.55`" in warnings
    assert at.session_state[NS + "fig9a.seeds"] == EXPERIMENTS["fig9a"].defaults.seeds
    at = open_page(PAGE, query={"experiment": "hinton", "seeds": "inf", "width": "2.5", "noise": "nan"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "`seeds`=`inf`" in warnings and "`width`=`2.5`" in warnings and "`noise`=`nan`" in warnings


def test_settings_that_cannot_be_judged_are_refused_before_training(open_page):
    at = open_page(PAGE, raw_state=tiny("fig9a", rates=[0.0, 0.5]))
    assert "at least three dropout rates" in at.error[0].value
    assert not any(b.label.startswith("▶ Run") for b in at.button)


def test_a_result_for_settings_changed_mid_run_is_explained(open_page):
    at = open_page(PAGE, query={"experiment": "hinton"}, raw_state=tiny("hinton", length=200))
    next(b for b in at.button if b.label.startswith("▶ Run")).click().run()
    job = at.session_state[JOB]
    at.session_state[NS + "hinton.seeds"] = 3  # changed while it trains
    wait_until_done(job)
    at.run()
    assert any("settings were changed while it ran" in i.value for i in at.info)
    assert any(b.label.startswith("▶ Run: 6 networks") for b in at.button)  # 3 seeds x 2


def test_a_finished_result_is_shared_with_the_next_visitor(open_page):
    first = run_to_end(open_page(PAGE, raw_state=tiny("fig9a", rates=[0.0, 0.5, 0.9])))
    assert charts(first)
    second = open_page(PAGE, raw_state=tiny("fig9a", rates=[0.0, 0.5, 0.9]))  # another session, same settings
    assert charts(second) and not any(b.label.startswith("▶ Run") for b in second.button)


def test_a_run_over_the_servers_budget_is_refused_with_a_sentence(open_page):
    """10 seeds x 7 rates of three 256-unit layers for 5000 epochs: hours of one core. Run says why
    not and what to change, and nothing trains."""
    at = open_page(PAGE, raw_state=tiny("fig9a", seeds=10, width=256, layers=3, length=5000))
    assert not at.exception and not problems(at)
    next(b for b in at.button if b.label.startswith("▶ Run")).click().run()
    assert not at.exception and JOB not in at.session_state
    said = " ".join(i.value for i in at.info)
    assert "Not started: this run would take about" in said and "times what this server allows one run" in said
    assert "fewer seeds" in said


def test_a_run_past_the_job_cap_waits_in_line_with_its_place_shown(open_page, monkeypatch):
    """The server runs at most DROPOUT_LAB_MAX_JOBS background runs at once: with the one place taken,
    Run queues (and says so), and the run starts by itself once the place frees up."""
    from core.live import pool  # noqa: PLC0415
    from core.live.admission import Admission  # noqa: PLC0415

    admission = Admission(1)
    monkeypatch.setattr(pool, "_job_admission", admission)
    assert admission.request("a classmate's sweep", lambda position: None) == 0
    at = open_page(PAGE, raw_state=tiny("fig9a", rates=[0.0, 0.5, 0.9]))
    next(b for b in at.button if b.label.startswith("▶ Run")).click().run()
    job = at.session_state[JOB]
    assert job.snapshot()["state"] == "queued" and job.snapshot()["position"] == 1
    assert any("queued (it is next)" in p.proto.text for p in at.get("progress")), "the page says it waits"
    admission.release("a classmate's sweep")
    wait_until_done(job)
    at.run()
    verdicts = [e.value for e in (*at.success, *at.warning, *at.error) if "Verdict" in e.value]
    assert len(verdicts) == 1 and admission.counts() == (0, 0)


def test_the_hinton_run_compares_dropout_with_early_stopping(open_page):
    at = open_page(PAGE, raw_state=tiny("hinton"))
    at.radio(key=NS + "experiment").set_value("hinton").run()
    at = run_to_end(at)
    assert not at.exception and not problems(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Early stopping, the rival" in text and "stopped at its best epoch" in text
    stars = [t for t in charts(at)[0]["data"] if t.get("mode") == "markers"]
    assert [t["name"] for t in stars] == ["no dropout: best epoch", "dropout: best epoch"]


REGIME_TINY = {f"{NS}regime.{name}": value for name, value in {"seeds": 2, "steps": 100}.items()}


def test_the_regime_map_runs_to_two_heatmaps_with_a_mark_on_every_cell(open_page, monkeypatch):
    from dataclasses import replace

    from core.labs.overfitting import regime
    from core.ui.labs import overfitting

    small = replace(regime.RegimeSettings(), sizes=(20, 40), noises=(0.2, 0.8), widths=(8, 16), width=16,
                    n_val=100)
    monkeypatch.setattr(overfitting, "RegimeSettings", lambda: small)  # the page's grid, made small
    at = open_page(PAGE, query={"experiment": "regime", "dataset": "moons", "nuisance": "5", "p": "0.3"})
    assert not at.exception and at.radio(key=NS + "experiment").value == "regime"
    assert at.session_state[NS + "regime.nuisance"] == 5 and at.session_state[NS + "regime.p"] == 0.3
    for name, value in REGIME_TINY.items():
        at.session_state[name] = value
    at.run()
    assert "When does dropout help?" in [h.value for h in at.subheader]
    next(b for b in at.button if b.label.startswith("▶ Run")).click().run()
    wait_until_done(at.session_state[NS + "regime.job"], 120)
    at.run()
    assert not at.exception and not problems(at)
    maps = [c for c in charts(at) if c["data"][0]["type"] == "heatmap"]
    assert len(maps) == 2
    for fig in maps:
        cells = [t for row in fig["data"][0]["text"] for t in row]
        assert cells and all(t.endswith(("✓", "✗", "·")) for t in cells)
    assert "p = 0.3" in maps[0]["layout"]["title"]["text"]
    assert at.query_params["experiment"] == "regime" and at.query_params["nuisance"] == "5"
    caption = " ".join(c.value for c in at.caption)
    assert "cells hold" in caption


def test_a_bad_regime_link_is_explained_and_the_default_used(open_page):
    at = open_page(PAGE, query={"experiment": "regime", "p": "0.55", "nuisance": "500"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "nuisance" in warnings and "p" in warnings
    assert at.session_state[NS + "regime.p"] == 0.5 and at.session_state[NS + "regime.nuisance"] == 0
