"""Lesson 6's rebuild measure on trained networks: the settings' sentences and a small real run."""
import json

import pytest

from core.engine.config import ConfigError
from core.labs.cnn.rebuild import RebuildSettings, measure_rebuild, rebuild_work


def reject(constant: str):
    raise AssertionError(f"{constant} is not valid JSON")


@pytest.mark.parametrize("change, says", [
    ({"image_size": 8}, "image_size (the upsampled size) must be 16 or 24"),
    ({"kind": "pixel"}, "kind must be one of"),
    ({"n_measure": 2}, "n_measure must be in"),
    ({"neighbours": 6}, "neighbours must be 4 or 8"),
])
def test_rebuild_settings_say_what_is_wrong(change, says):
    with pytest.raises(ConfigError) as error:
        RebuildSettings(**change)
    assert says in str(error.value)


def test_upsampled_digits_are_rebuilt_from_their_neighbours_more_than_8x8_ones():
    s = RebuildSettings(epochs=1, n_train=200, n_measure=100, channels=(4, 4))
    fractions = []
    result = measure_rebuild(s, progress=fractions.append)
    data = json.loads(json.dumps(result.to_json()), parse_constant=reject)
    small, large = data["sizes"]
    assert (small["image_size"], large["image_size"]) == (8, 16) and fractions[-1] == 1.0
    assert [layer["layer"] for layer in small["layers"]] == ["pixels", "conv 1", "conv 2"]
    assert large["layers"][0]["r2"] > 0.95 > small["layers"][0]["r2"]  # bilinear upsampling: pixels are rebuilt
    assert large["layers"][0]["corr"] > small["layers"][0]["corr"]
    assert rebuild_work(s) > 0
    assert measure_rebuild(s, cancelled=lambda: True).to_json()["sizes"] == []
