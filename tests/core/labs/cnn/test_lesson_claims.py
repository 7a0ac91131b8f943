"""Every number and verdict lesson 6's prose quotes, recomputed at the settings the prose names.

The prose says "about 0.65" and "about 0.97": each is checked to the precision it is quoted with.
The verdicts are the experiment's own (paired t-tests over its 8 seeds), at its defaults."""
import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.drills import load_predictions
from core.lessons import load_lesson
from core.labs.cnn.experiments import SpatialSettings, run_spatial
from core.labs.cnn.rebuild import RebuildSettings, measure_rebuild

LESSON = load_lesson("06_cnn")
NOTICE = LESSON.section("What to notice")


def test_the_quoted_rebuild_numbers():
    defaults = RebuildSettings()
    assert (defaults.epochs, defaults.neighbours) == (5, 4), "the prose names 5 epochs and 4 neighbours"
    assert "R² of about 0.65" in NOTICE and "16x16 the same layer reaches about 0.97" in NOTICE
    assert "about 0.65 at 8x8 and about 0.97 at 16x16" in load_predictions("06_cnn")["rebuild"].explanation
    result = measure_rebuild(RebuildSettings(image_size=16))
    r2 = {s.image_size: dict(s.layers)["conv 1"].r2 for s in result.sizes}
    assert r2[8] == pytest.approx(0.65, abs=0.05)
    assert r2[16] == pytest.approx(0.97, abs=0.015)


@pytest.fixture(scope="module")
def default_experiment():
    settings = SpatialSettings()
    assert (settings.p, settings.seeds, settings.epochs, settings.n_train, settings.image_size) == (0.3, 8, 100, 300, 8)
    return run_spatial(settings)


def test_the_quoted_verdicts_at_the_defaults(default_experiment):
    assert "p = 0.3, 8 seeds, 100 epochs, 300 training digits, 8x8" in NOTICE
    verdicts = {name: v.status for name, v in default_experiment.verdicts}
    assert verdicts["element beats none"] == HOLDS
    assert verdicts["channel beats element"] == FAILS
    assert verdicts["block beats element"] == UNCLEAR
    assert "(the verdict *holds*)" in NOTICE and "does **not** beat element" in NOTICE and "*unclear*" in NOTICE


def test_the_quoted_verdicts_on_upsampled_digits():
    """"channel ... clearly worse, at 8x8 and at 16x16"; block vs element "unclear at 8x8 and at 16x16"."""
    verdicts = {name: v.status for name, v in run_spatial(SpatialSettings(image_size=16)).verdicts}
    assert verdicts["channel beats element"] == FAILS
    assert verdicts["block beats element"] == UNCLEAR
    assert "clearly worse, at 8x8 and at 16x16" in NOTICE and "*unclear* at 8x8 and at 16x16" in NOTICE
