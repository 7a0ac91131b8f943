"""Lesson 7's figures, from plain data: each mask drawn its own way, the captions against their theory, and
an experiment's series and signature tables turned into charts (every figure through plotly's validators)."""
from __future__ import annotations

import numpy as np

from core.labs.variants import figures
from core.labs.variants.common import VariantResult
from core.labs.variants.gaussian import Settings


def title(fig) -> str:
    return fig.layout.title.text


def test_each_mask_is_drawn_the_way_its_variant_draws_it():
    rng = np.random.default_rng(0)
    units = (rng.random(64) > 0.5).tolist()
    weights = (rng.random((64, 32)) > 0.5).tolist()
    noise = (1 + rng.normal(size=64)).tolist()
    assert "units kept" in title(figures.mask_figure(units, "standard", "A"))
    fig = figures.mask_figure(weights, "dropconnect", "A")
    assert "weight mask" in title(fig) and np.asarray(fig.data[0].z).shape == (64, 32)
    assert "multipliers" in title(figures.mask_figure(noise, "gaussian", "A"))
    assert "nothing dropped" in title(figures.mask_figure([], "standard", "A"))


def test_a_masks_caption_compares_it_with_the_theory():
    mask = [True] * 30 + [False] * 34
    text = figures.mask_signature(mask, "standard", 0.5)
    assert text.startswith("30 of 64 units kept at this step: 47%") and "theory 1 - p = 50%" in text
    assert "weights" in figures.mask_signature([[True, False], [True, True]], "dropconnect", 0.5)
    multipliers = figures.mask_signature([0.5, 1.5], "gaussian", 0.5)
    assert "mean 1.00" in multipliers and "variance 0.25" in multipliers and "p/(1-p) = 1.00" in multipliers


def test_series_and_signature_tables_become_charts_one_line_per_side():
    series = {"none": {"epoch": [1, 2, 3], "val_loss": [1.0, 0.8, 0.7]},
              "gaussian": {"epoch": [1, 2, 3], "val_loss": [1.0, 0.7, 0.6]},
              "p trajectory": {"n=20": {"step": [0, 10], "p": [0.1, 0.4]}, "n=2000": {"step": [0, 10], "p": [0.1, 0.2]}},
              "switch_off_epoch": 15}
    signature = {"naive_mask": [[1, 0], [0, 1], [1, 1]], "theory_var": 1.0, "mask": "per example"}
    result = VariantResult("gaussian", "t", "c", Settings(), series=series, signature=signature)
    figs = figures.result_figures(result)
    titles = [title(f) for f in figs]
    assert titles[0].startswith("naive mask: time step x unit")
    branch = VariantResult("droppath", "t", "c", Settings(), signature={"branch_mask": [[1, 0], [1, 1]]})
    assert title(figures.result_figures(branch)[0]) == "branch mask: residual block x example, blue kept, grey dropped"
    assert "val loss by epoch" in titles and "p trajectory · p by step" in titles
    loss = figs[titles.index("val loss by epoch")]
    assert [t.name for t in loss.data] == ["none", "gaussian"]
    assert figures.signature_text(signature) == "theory var 1; mask: per example"


def test_the_summary_table_writes_mean_and_se():
    rows = [{"label": "none", "seeds": 8, "val_loss": 0.70231, "val_loss_se": 0.0671}]
    assert figures.summary_table(rows) == [{"side": "none", "seeds": 8, "val loss": "0.7023 ± 0.067"}]
