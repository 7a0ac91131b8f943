"""Link values are read as the control's type and range, or refused with a sentence."""
import pytest

from core.ui.links import number_from_link


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
