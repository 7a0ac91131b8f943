"""A click Streamlit delivers to several reruns counts once; a clickable chart keeps its figure while
the runs train until what a click aims at changed (core.ui.clicks)."""
from types import SimpleNamespace

import plotly.graph_objects as go
import pytest

from core.ui import clicks


@pytest.fixture
def state(monkeypatch):
    """A session state and a chart recorder in place of Streamlit's."""
    session, drawn = {}, []
    monkeypatch.setattr(clicks.st, "session_state", session)
    monkeypatch.setattr(clicks.st, "plotly_chart", lambda figure, **kwargs: drawn.append((figure, kwargs)))
    return session, drawn


def test_each_click_counts_once_and_moves_the_generation_on(state):
    c = clicks.Clicks("lab.")
    assert c.generation == 0
    assert c.first(0) and c.generation == 1
    assert not c.first(0)  # the same click, delivered to a second rerun
    assert c.first(1) and c.generation == 2


def test_a_click_that_picked_points_acts_once_and_an_empty_one_not_at_all(state):
    session, drawn = state
    c, picked = clicks.Clicks("lab."), []
    c.chart(lambda: go.Figure(go.Scatter(x=[1], y=[2])), "plot", playing=False, on_points=picked.append)
    on_select = drawn[-1][1]["on_select"]
    assert drawn[-1][1]["key"] == "lab.plot.0.chart"
    session["lab.plot.0.chart"] = SimpleNamespace(selection=SimpleNamespace(points=[]))
    on_select()
    assert picked == [] and c.generation == 0  # a click beside every point
    session["lab.plot.0.chart"] = SimpleNamespace(selection=SimpleNamespace(points=[{"x": 1, "y": 2}]))
    on_select()
    on_select()  # delivered twice
    assert picked == [[{"x": 1, "y": 2}]] and c.generation == 1


def test_while_playing_the_figure_is_kept_until_a_dot_moves(state, monkeypatch):
    session, drawn = state
    now = [100.0]
    monkeypatch.setattr(clicks.time, "monotonic", lambda: now[0])
    c, y = clicks.Clicks("lab."), [2.0]

    def build():
        return go.Figure(go.Scatter(x=[1], y=[y[0]], hovertext=[f"at {now[0]}"]))

    c.chart(build, "net", playing=True, on_points=print)
    first = drawn[-1][0]
    y[0] = 3.0
    now[0] += clicks.REFRESH / 2
    c.chart(build, "net", playing=True, on_points=print)
    assert drawn[-1][0] is first  # too soon: the learner may be aiming
    y[0] = 2.0
    now[0] += clicks.REFRESH
    c.chart(build, "net", playing=True, on_points=print)
    assert drawn[-1][0] is first  # only the hover text changed
    y[0] = 3.0
    now[0] += clicks.REFRESH
    c.chart(build, "net", playing=True, on_points=print)
    assert drawn[-1][0] is not first and list(drawn[-1][0].data[0].y) == [3.0]
    c.chart(build, "net", playing=False, on_points=print)
    assert drawn[-1][0] is not drawn[-2][0]  # stopped: always the latest
