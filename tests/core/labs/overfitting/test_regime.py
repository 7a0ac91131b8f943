"""The regime map: its grid, its verdicts recomputed seed by seed from the members it returns,
and the numbers lesson 3 quotes ("When does dropout help?" and "What to notice")."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from core.__main__ import main
from core.engine.config import ConfigError
from core.labs.overfitting import regime_figures
from core.labs.overfitting.regime import MAX_CELLS, RegimeSettings, run_regime

TINY = RegimeSettings(sizes=(20, 40), noises=(0.2, 0.8), widths=(8, 16), noise=0.8, width=16, seeds=3, steps=60,
                      n_val=200)


def test_the_two_grids_share_their_common_cell_and_train_both_sides_per_seed():
    cells = TINY.cells()
    # size x noise at width 16: 4 cells; size x width at noise 0.8: 4 cells, two of them the same as above
    assert len(cells) == 6 and len(set(cells)) == 6
    assert {(20, 0.8, 16), (40, 0.8, 16)} <= set(cells)
    members = TINY.sweep().members
    assert len(members) == 6 * 2 * 3
    assert {m.model.p_hidden for m in members} == {(0.0, 0.0), (0.5, 0.5)}


@pytest.mark.parametrize("change, message", [
    ({"seeds": 1}, "seeds"), ({"p": 0.0}, "p must be"), ({"nuisance": 51}, "nuisance"),
    ({"sizes": (20,)}, "at least two sizes"), ({"widths": (300, 8)}, "hidden width"),
    ({"dataset": "digits", "nuisance": 3}, "2-D sets only"), ({"dataset": "digits", "sizes": (20, 1700)}, "1797"),
    ({"sizes": tuple(range(20, 500, 20))}, f"at most {MAX_CELLS} cells"),
])
def test_bad_settings_are_refused_with_a_sentence(change, message):
    with pytest.raises(ConfigError, match=message):
        replace(TINY, **change)


def test_settings_round_trip_and_unknown_ones_are_refused():
    assert RegimeSettings.from_json(TINY.to_json()) == TINY
    with pytest.raises(ConfigError, match="unknown"):
        RegimeSettings.from_json({**TINY.to_json(), "colour": 1})


def _recompute(cell, members, p):
    """The cell's paired verdict from the raw members, by hand: mean and se of the per-seed gain,
    Student's t from scipy (not the library's table)."""
    def err(q):
        return {m["seed"]: 1 - m["val_acc"] for m in members
                if (m["n_train"], m["noise"], m["num_hiddens"][0]) == (cell["n_train"], cell["noise"], cell["width"])
                and math.isclose(m["p"], q)}
    off, on = err(0.0), err(p)
    assert set(off) == set(on)
    d = np.array([off[s] - on[s] for s in sorted(off)])
    se = d.std(ddof=1) / math.sqrt(len(d))
    t = stats.t.ppf(0.975, len(d) - 1)
    status = "holds" if d.mean() > t * se else "does not hold" if d.mean() < -t * se else "unclear"
    return d.mean(), se, status


def test_every_cells_verdict_agrees_with_a_seed_by_seed_recomputation_from_the_json(tmp_path):
    out = tmp_path / "regime.json"
    code = main(["reproduce", "regime", "--sizes", "20,40", "--noises", "0.2,0.8", "--widths", "8,16",
                 "--noise", "0.8", "--hidden", "16,16", "--seeds", "4", "--steps", "80", "--n-val", "200",
                 "--quiet", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["experiment"] == "regime" and len(data["cells"]) == 6 and len(data["members"]) == 6 * 2 * 4
    statuses = set()
    for cell in data["cells"]:
        mean, se, status = _recompute(cell, data["members"], data["config"]["p"])
        assert cell["gain"] == pytest.approx(mean, abs=1e-9) and cell["gain_se"] == pytest.approx(se, abs=1e-9)
        assert cell["status"] == status, cell
        statuses.add(status)
    assert sum(data["counts"].values()) == 6


def test_a_cancelled_map_keeps_nothing():
    result = run_regime(TINY, cancelled=lambda: True)
    assert result.cancelled and result.cells == []


def test_the_figures_mark_every_cell_with_its_verdict():
    result = run_regime(TINY)
    noise, width = regime_figures.figures(result)
    for fig, axis in ((noise, "noise"), (width, "width")):
        grid = result.grid(axis)
        text = fig.data[0].text
        for row_text, row in zip(text, grid["cells"]):
            for t, c in zip(row_text, row):
                assert t == f"{100 * c['gain']:+.1f} {regime_figures.mark(c['status'])}"
        assert fig.data[0].zmid == 0 and fig.data[0].zmax == -fig.data[0].zmin  # one symmetric scale for both
    assert noise.data[0].zmax == width.data[0].zmax


def test_the_cli_refuses_what_is_not_a_setting_of_the_map(capsys):
    assert main(["reproduce", "regime", "--epochs", "3"]) == 2
    assert "--epochs is not a setting of regime" in capsys.readouterr().err
    assert main(["reproduce", "regime", "--hidden", "8,16"]) == 2
    assert "equal widths" in capsys.readouterr().err
    assert main(["reproduce", "fig9a", "--nuisance", "3"]) == 2
    assert "not a setting of fig9a" in capsys.readouterr().err


# -- what lesson 3 quotes ----------------------------------------------------------------------
def _cells(result):
    return {(c["n_train"], c["noise"], c["width"]): c for c in result.cells}


def test_lesson_3_circles_at_the_defaults_dropout_helps_in_a_narrow_corner():
    result = run_regime(RegimeSettings())
    cells = _cells(result)
    assert result.counts() == {"holds": 5, "does not hold": 9, "unclear": 16}
    holds = {k for k, c in cells.items() if c["status"] == "holds"}
    assert holds == {(40, 0.8, 128), (80, 0.8, 128), (160, 0.8, 128), (320, 0.8, 128), (80, 0.6, 128)}
    assert cells[(80, 0.8, 128)]["gain"] == pytest.approx(0.027, abs=0.003)
    assert max(c["gain"] for c in cells.values()) == cells[(80, 0.8, 128)]["gain"]
    assert (cells[(20, 0.2, 128)]["gain"], cells[(20, 0.2, 128)]["status"]) == (pytest.approx(-0.018, abs=0.003),
                                                                                "does not hold")
    narrow = [cells[(n, 0.6, 8)] for n in RegimeSettings().sizes]
    assert all(c["status"] == "does not hold" for c in narrow)
    assert (min(c["gain"] for c in narrow), max(c["gain"] for c in narrow)) == (pytest.approx(-0.068, abs=0.003),
                                                                                pytest.approx(-0.044, abs=0.003))


def test_lesson_3_on_spirals_no_cell_holds():
    result = run_regime(replace(RegimeSettings(), dataset="spirals"))
    gains = [c["gain"] for c in result.cells]
    assert result.counts()["holds"] == 0 and result.counts()["does not hold"] == 22
    assert (max(gains), min(gains)) == (pytest.approx(-0.006, abs=0.003), pytest.approx(-0.113, abs=0.005))


def test_lesson_3_with_20_nuisance_inputs_dropout_helps_widely():
    result = run_regime(replace(RegimeSettings(), nuisance=20))
    best = max(result.cells, key=lambda c: c["gain"])
    assert result.counts()["holds"] == 15
    assert (best["n_train"], best["noise"], best["width"]) == (160, 0.2, 128)
    assert best["gain"] == pytest.approx(0.126, abs=0.005)


def test_lesson_3_input_and_hidden_dropout_do_different_work_on_nuisance_inputs(tmp_path):
    """The nuisance cell (circles, noise 0.2, 160 points, 20 nuisance inputs): validation error 33.5 %
    without dropout, 20.9 % with hidden p = 0.5, 23.6 % with input p = 0.2, 14.1 % with both (8 seeds),
    from the two command lines the lesson quotes (masks come from a stream each sweep shares, so the
    same members in another sweep would agree only in distribution)."""
    wanted = {(0.0, 0.0): 0.335, (0.0, 0.5): 0.209, (0.2, 0.0): 0.236, (0.2, 0.5): 0.141}
    for p_input in (0.0, 0.2):
        out = tmp_path / f"nuisance-{p_input}.json"
        assert main(["sweep", "--dataset", "circles", "--noise", "0.2", "--n-train", "160", "--rates", "0,0.5",
                     "--p-input", str(p_input), "--nuisance", "20", "--seeds", "8", "--steps", "1000",
                     "--n-val", "1000", "--quiet", "--json", str(out)]) == 0
        members = json.loads(out.read_text())["members"]
        for p in (0.0, 0.5):
            errors = [1 - m["val_acc"] for m in members if m["p"] == p]
            assert len(errors) == 8 and np.mean(errors) == pytest.approx(wanted[(p_input, p)], abs=0.004)
