"""'Your own data' in the three labs that take it, headless. AppTest cannot drive ``st.file_uploader``, so a
test "uploads" a file the way ``core.ui.upload`` reads one: its ``(name, bytes)`` under ``NS + upload.pending``.
A real upload in a browser: tests/e2e/test_upload_browser.py."""
from core.engine.upload import example_csv
from core.ui import upload
from core.ui.labs import coadaptation, uncertainty
from core.ui.labs.playground import NS, REASON, RUNNER
from tests.pages.conftest import PLAYGROUND

GOOD = ("ring.csv", example_csv().encode())
BAD = ("bad.csv", b"x,y,label\n1,2,a\n3,abc,b\n" + b"1,2,a\n" * 60)
BAD_SAYS = "Row 3: 'abc' in column y is not a number."


def _data(at, runner: str = RUNNER):
    return at.session_state[runner].snapshot()["runs"][0]["config"].data


def _captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_the_playground_trains_on_an_uploaded_file_and_keeps_it_through_a_bad_one(open_page):
    at = open_page(PLAYGROUND, preset="tiny", raw_state={NS + upload.PENDING: GOOD})
    assert not at.exception and not at.error
    data = _data(at)
    assert (data.dataset, data.n_train, data.n_val) == ("uploaded", 90, 30)  # the file's own split column
    assert {b.n_train for b in (r["config"].data for r in at.session_state[RUNNER].snapshot()["runs"])} == {90}
    captions = _captions(at)
    assert "In use: ring.csv" in captions and "'inside' is class 0 (orange)" in captions
    assert "holds these settings but not your file" in captions
    assert at.selectbox(key=NS + "dataset").disabled
    assert at.slider(key=NS + "n_train").disabled and at.slider(key=NS + "noise").disabled
    assert not at.slider(key=NS + "nuisance").disabled
    runner = at.session_state[RUNNER]

    at.session_state[NS + upload.PENDING] = BAD
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [BAD_SAYS]
    assert at.session_state[RUNNER] is runner and _data(at) == data  # the run and its data stay
    assert "In use: ring.csv" in _captions(at)
    assert at.selectbox(key=NS + "dataset").value == "moons" and at.slider(key=NS + "p_hidden_0") is not None

    at.button(key=NS + "upload.back.button").click().run()  # back to the built-in sets
    assert not at.exception and not at.error
    assert _data(at).dataset == "moons" and not at.selectbox(key=NS + "dataset").disabled
    assert at.session_state[REASON].startswith("New run: dataset uploaded → moons")
    assert "uploaded file removed" in at.session_state[REASON]


def test_a_bad_first_file_leaves_the_built_in_data_and_every_control(open_page):
    at = open_page(PLAYGROUND, preset="tiny", raw_state={NS + upload.PENDING: BAD})
    assert not at.exception
    assert [e.value for e in at.error] == [BAD_SAYS]
    assert _data(at).dataset == "moons"
    assert not at.selectbox(key=NS + "dataset").disabled and not at.slider(key=NS + "n_train").disabled
    assert "In use:" not in _captions(at)


def test_a_new_file_with_the_same_counts_starts_a_new_run(open_page):
    at = open_page(PLAYGROUND, preset="tiny", raw_state={NS + upload.PENDING: GOOD})
    first = _data(at)
    at.session_state[NS + upload.PENDING] = ("other.csv", example_csv(seed=1).encode())
    at.run()
    assert not at.exception and not at.error
    second = _data(at)
    assert (second.n_train, second.n_val) == (first.n_train, first.n_val) and second.upload != first.upload
    assert at.session_state[REASON] == f"New run: uploaded file {first.upload} → {second.upload}."


def test_the_coadaptation_lab_trains_both_runs_on_the_file(open_page):
    at = open_page("pages/04_coadaptation.py", raw_state={coadaptation.NS + upload.PENDING: GOOD})
    assert not at.exception and not at.error
    runs = at.session_state[coadaptation.RUNNER].snapshot()["runs"]
    assert [r["config"].data.dataset for r in runs] == ["uploaded", "uploaded"]
    assert runs[0]["config"].data == runs[1]["config"].data
    assert at.selectbox(key=coadaptation.NS + "dataset").disabled


def test_the_uncertainty_classifier_trains_on_the_file(open_page):
    at = open_page("pages/05_uncertainty.py", raw_state={uncertainty.CLS + upload.PENDING: GOOD,
                                                         uncertainty.CLS + "T": 5})
    assert not at.exception and not at.error
    data = _data(at, uncertainty.CLS_RUNNER)
    assert (data.dataset, data.n_train) == ("uploaded", 90)
    assert at.selectbox(key=uncertainty.CLS + "dataset").disabled
