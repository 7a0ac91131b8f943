"""Link values are read as the control's type and range, or refused with a sentence that shows the
value as code, never as the app's own words or links; what a page writes in its link reads back."""
import re

import pytest

from core.ui.links import link_text, link_value, number_from_link


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

    hostile = ServerSettings.from_env({"DROPOUT_LAB_REFRESH": "[Session expired](https://evil.example) **now**"})
    monkeypatch.setattr(pool, "settings", lambda: hostile)
    at = open_page()
    said = [w.value for w in at.warning if "Server setting ignored" in w.value]
    assert said and "evil" in said[0]
    assert "](" not in said[0] and "**now**" not in said[0] and "https://" not in said[0]
