"""'Your own data': the uploader a lab puts among its data controls, shared by the Playground, lesson 4 and
lesson 5's classifier.

``uploaded(ns)`` draws the uploader (with an example file to download) and returns the ``Upload`` in use, or
None for the built-in sets. The file is read here, in the app process (``core.engine.upload.parse``: a
small CSV, checked, never evaluated); the training runs in a worker on the ``DataConfig`` that
``data_config`` makes from it, with the points inside. A file that cannot be used is refused with one
sentence (``st.error``) and changes nothing: the data in use and every control stay as they were.
Only **Built-in sets** goes back to the built-in sets: a browser replacing one file by another removes the
first for a moment, and that must not drop the data in use.

State under ``ns``: ``upload.in_use`` (the ``Upload``, or None; a test can set it directly, since AppTest
cannot drive ``st.file_uploader``), ``upload.error`` (the last refusal), ``upload.seen`` (the file last read);
a test "uploads" a file by putting its ``(name, bytes)`` under ``upload.pending``.
"""
from __future__ import annotations

import streamlit as st

from core.engine.config import UPLOAD_LIMIT, DataConfig
from core.engine.upload import FORMAT, MAX_BYTES, MAX_POINTS, MIN_POINTS, Upload, UploadError, example_csv, parse, \
    too_big

IN_USE, ERROR, SEEN, ROUND = "upload.in_use", "upload.error", "upload.seen", "upload.round"
PENDING = "upload.pending"  # (name, bytes) of a file to read as if it had been uploaded: how a page test uploads
HELP = (f"A CSV file whose first row names the columns {FORMAT}; other columns are ignored. At most "
        f"{MAX_BYTES // 1000} kB, two labels (the network tells two classes apart), {MIN_POINTS} to "
        f"{MAX_POINTS} points to train on and as many to validate on. Without a split column a quarter of each "
        f"label is held out for validation, drawn from the seed. Each axis is scaled into ±{UPLOAD_LIMIT:g} to fit "
        "the map. The file stays in this browser session: a link does not carry it.")
COLORS = ("orange", "blue")  # core.viz.CLASS_COLORS: class 0, class 1


def uploaded(ns: str, *, label: str = "Your own data (CSV)") -> Upload | None:
    """The uploader, its example file and what it says; the ``Upload`` in use, or None (the built-in sets)."""
    ss = st.session_state
    file_key = f"{ns}data_file.{ss.get(ns + ROUND, 0)}"  # a new key empties the uploader
    file = st.file_uploader(label, type=["csv", "txt"], key=file_key + ".upload", help=HELP,
                            max_upload_size=1)  # MB; anything over MAX_BYTES is refused unread

    if (pending := ss.pop(ns + PENDING, None)) is not None:  # a test's file, read as an uploaded one
        read(ns, pending[1], pending[0], len(pending[1]))
    elif file is not None and ss.get(ns + SEEN) != file.file_id:
        ss[ns + SEEN] = file.file_id
        read(ns, file.getvalue() if file.size <= MAX_BYTES else None, file.name, file.size)
    # no file (removed, or for a moment while the browser replaces it) changes nothing: "Built-in sets" does
    if ss.get(ns + ERROR):
        st.error(ss[ns + ERROR], icon="🚫")
    upload: Upload | None = ss.get(ns + IN_USE)
    if upload is not None:
        st.caption(describe(upload))
        st.caption("🔗 The page's link holds these settings but not your file: whoever opens it gets the "
                   "built-in data until they upload the file too. **Built-in sets** stops using it.")
    c1, c2 = st.columns(2)
    c1.download_button("⬇ Example", data=example_csv(), file_name="dropout-lab-example.csv", mime="text/csv",
                       key=ns + "upload.example", on_click="ignore", use_container_width=True,
                       help=f"A file in the format the uploader reads: columns {FORMAT}.")
    if upload is not None:
        c2.button("Built-in sets", key=ns + "upload.back.button", on_click=back, args=(ns,),
                  use_container_width=True, help="Stop using your file and go back to the built-in datasets.")
    return upload


def read(ns: str, data: bytes | None, name: str, size: int | None = None) -> None:
    """Read a file's bytes (None: too big to read) into the data in use, or keep that and say why not."""
    ss = st.session_state
    try:
        if data is None:
            raise UploadError(too_big(size or 0))
        ss[ns + IN_USE], ss[ns + ERROR] = parse(data, name), None
    except UploadError as exc:
        ss[ns + ERROR] = str(exc)  # the data in use stays as it was


def forget(ns: str) -> None:
    ss = st.session_state
    ss[ns + IN_USE], ss[ns + ERROR], ss[ns + SEEN] = None, None, None


def back(ns: str) -> None:
    """Button callback: the built-in sets again, and an empty uploader."""
    forget(ns)
    st.session_state[ns + ROUND] = st.session_state.get(ns + ROUND, 0) + 1


def describe(upload: Upload) -> str:
    """What the lab trains on, in a sentence or two: the points, the split, which label is which colour."""
    n_val = sum(upload.is_val) if upload.is_val is not None else None
    split = (f"{len(upload.points) - n_val} to train on and {n_val} to validate on, from its split column"
             if n_val is not None else "a quarter of each label held out for validation, drawn from the seed")
    (x0, x1), (y0, y1) = upload.ranges
    ignored = f" Ignored column(s): {', '.join(upload.ignored)}." if upload.ignored else ""
    return (f"**In use: {upload.name}**, {len(upload.points)} points ({split}). Label '{upload.labels[0]}' is "
            f"class 0 ({COLORS[0]}), '{upload.labels[1]}' class 1 ({COLORS[1]}). The map shows each axis "
            f"scaled into ±{UPLOAD_LIMIT:g}: {upload.columns[0]} {x0:g}…{x1:g}, {upload.columns[1]} {y0:g}…{y1:g}."
            + ignored)


def data_config(upload: Upload | None, built_in: DataConfig) -> DataConfig:
    """The data a lab trains on: the upload's points (with ``built_in``'s seed and nuisance inputs), or
    ``built_in`` itself when there is no upload."""
    if upload is None:
        return built_in
    return upload.data_config(seed=built_in.seed, nuisance=built_in.nuisance)


NOT_USED = "Not used while your file is in use."
"""The help of a built-in data control the upload replaces (it is disabled meanwhile)."""
