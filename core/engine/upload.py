"""A learner's own 2-D points, from a small CSV file: read, checked and turned into a ``DataConfig``.

The file has a header row naming the columns ``x``, ``y`` (or ``x1``, ``x2``) and ``label``, and
optionally ``split`` with the values ``train`` and ``val``; other columns are ignored. ``parse(data)``
reads it with the standard ``csv`` module (nothing is evaluated or unpickled) and either returns an
``Upload`` or raises ``UploadError`` with ONE sentence that says what to fix ("Row 17: 'abc' in column x
is not a number."). Rows are numbered as a spreadsheet numbers them: the header is row 1.

The models here tell two classes apart, so the label column holds exactly two values: the smaller one
(numerically when both are numbers) is class 0, the other class 1, and each must have at least
``MIN_CLASS_POINTS`` points and ``MIN_CLASS_SHARE`` of them. Each axis is shifted and scaled into
[-UPLOAD_LIMIT, UPLOAD_LIMIT] (the square the built-in sets fill), so the decision maps cover any range.
Without a split column, ``Upload.data_config(seed)`` holds a quarter of each class out for validation
(at least 20 points), drawn from the seed: the same seed gives the same split.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from core.engine.config import N_POINTS, UPLOAD_LIMIT, UPLOADED, DataConfig, Point

MAX_BYTES = 200_000
MIN_POINTS, MAX_POINTS = N_POINTS  # of the training and of the validation points, each
MIN_CLASS_POINTS = 5
MIN_CLASS_SHARE = 0.10
VAL_SHARE = 0.25  # held out for validation when the file has no split column
MAX_ABS = 1e9  # larger coordinates are refused (their range could overflow)
COORDINATES = (("x", "y"), ("x1", "x2"))
SPLITS = ("train", "val")
FORMAT = "x, y (or x1, x2) and label, and optionally split (train or val)"


class UploadError(ValueError):
    """The file cannot be used; the message is one sentence that says what to fix."""


@dataclass(frozen=True)
class Upload:
    """A parsed file: its points in file order, scaled into the plane's square, with their class."""

    name: str
    points: tuple[Point, ...]
    is_val: tuple[bool, ...] | None  # per point, from the split column; None: no split column
    labels: tuple[str, str]  # the file's label of class 0 and of class 1
    columns: tuple[str, str]  # the coordinate columns, as the header names them
    ranges: tuple[tuple[float, float], tuple[float, float]]  # each axis' (min, max) in the file
    ignored: tuple[str, ...] = ()  # other columns of the header

    def split(self, seed: int) -> tuple[tuple[Point, ...], tuple[Point, ...]]:
        """The training and validation points: the file's split, or one drawn from ``seed`` (per class)."""
        if self.is_val is not None:
            return (tuple(p for p, v in zip(self.points, self.is_val) if not v),
                    tuple(p for p, v in zip(self.points, self.is_val) if v))
        n = len(self.points)
        n_val = min(max(MIN_POINTS, round(VAL_SHARE * n)), MAX_POINTS)
        n_val = max(n_val, n - MAX_POINTS)
        classes = np.array([c for _, _, c in self.points])
        n_val_0 = round(n_val * np.mean(classes == 0))
        rng = np.random.default_rng([seed, 11])
        held = set()
        for c, k in ((0, n_val_0), (1, n_val - n_val_0)):
            held.update(rng.permutation(np.flatnonzero(classes == c))[:k].tolist())
        return (tuple(p for i, p in enumerate(self.points) if i not in held),
                tuple(p for i, p in enumerate(self.points) if i in held))

    def data_config(self, seed: int = 0, nuisance: int = 0) -> DataConfig:
        train, val = self.split(seed)
        return DataConfig(dataset=UPLOADED, noise=0.0, n_train=len(train), n_val=len(val), seed=seed,
                          nuisance=nuisance, train_points=train, val_points=val)


def parse(data: bytes, name: str = "upload.csv") -> Upload:
    """``data``, a CSV file's bytes, as an ``Upload``; ``UploadError`` with one sentence if it cannot be used."""
    if len(data) > MAX_BYTES:
        raise UploadError(too_big(len(data)))
    if b"\x00" in data:
        raise UploadError("The file is not text (it looks binary): save it as CSV and upload that.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("The file is not UTF-8 text: save it as CSV (UTF-8) and upload it again.") from None
    first = text.lstrip().split("\n", 1)[0]
    delimiter = next((d for d in ",;\t" if d in first), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise UploadError(f"The file is empty: its first row must name the columns {FORMAT}.")
        columns, ignored = _columns(header)
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise UploadError(f"Row {reader.line_num} is not valid CSV ({exc}): check its quotes.") from None
    coords, labels, splits = _read_rows(rows, header, columns)
    return _checked(name, coords, labels, splits, tuple(header[i].strip() for i in columns[:2]), ignored)


def too_big(size: int) -> str:
    return (f"The file is {size / 1000:.0f} kB, more than the {MAX_BYTES // 1000} kB allowed: "
            f"upload a sample of at most {2 * MAX_POINTS} points.")


def _columns(header: list[str]) -> tuple[tuple[int, int, int, int | None], tuple[str, ...]]:
    """Where x, y, label and split are in the header (split: None when absent), and the other columns."""
    names = [cell.strip().lower() for cell in header]
    for name in names:
        if name and names.count(name) > 1:
            raise UploadError(f"The first row names the column {name} twice: give each column one name.")
    pair = next((p for p in COORDINATES if set(p) <= set(names)), None)
    if pair is None or "label" not in names:
        shown = ", ".join(cell.strip() for cell in header if cell.strip()) or "nothing"
        raise UploadError(f"The first row names {_clip(shown, 80)}, but it must name the columns {FORMAT}.")
    split = names.index("split") if "split" in names else None
    used = [names.index(pair[0]), names.index(pair[1]), names.index("label")]
    ignored = tuple(header[i].strip() for i, n in enumerate(names) if n and i not in used and i != split)
    return (used[0], used[1], used[2], split), ignored


def _read_rows(rows: list[tuple[int, list[str]]], header: list[str], columns: tuple[int, int, int, int | None]):
    ix, iy, il, isplit = columns
    names = (header[ix].strip(), header[iy].strip())
    coords, labels, splits = [], [], []
    for line, row in rows:
        if len(row) > len(header) and any(cell.strip() for cell in row[len(header):]):
            raise UploadError(f"Row {line} has {len(row)} values but the first row names {len(header)} columns.")
        if len(row) < len(header):
            raise UploadError(f"Row {line} has {len(row)} values but the first row names {len(header)} columns.")
        coords.append(tuple(_number(row[i], name, line) for i, name in zip((ix, iy), names)))
        label = row[il].strip()
        if not label:
            raise UploadError(f"Row {line}: the label is empty; give every point a label, or delete the row.")
        labels.append(label)
        if isplit is not None:
            value = row[isplit].strip().lower()
            if value not in SPLITS:
                shown = f"'{_clip(row[isplit].strip(), 20)}'" if value else "An empty cell"
                raise UploadError(f"Row {line}: {shown} in column split is neither train nor val.")
            splits.append(value == "val")
    return coords, labels, splits if isplit is not None else None


def _number(cell: str, column: str, line: int) -> float:
    text = cell.strip()
    if not text:
        raise UploadError(f"Row {line}: column {column} is empty; fill in a number, or delete the row.")
    try:
        value = float(text)
    except ValueError:
        raise UploadError(f"Row {line}: '{_clip(text, 20)}' in column {column} is not a number.") from None
    if math.isnan(value):
        raise UploadError(f"Row {line}: column {column} is NaN (not a number); fill in a number, or delete the row.")
    if math.isinf(value):
        raise UploadError(f"Row {line}: column {column} is infinite ('{_clip(text, 20)}'); fill in a finite number, "
                          "or delete the row.")
    if abs(value) > MAX_ABS:
        raise UploadError(f"Row {line}: {text} in column {column} is too large; keep coordinates within ±{MAX_ABS:g}.")
    return value


def _checked(name: str, coords: list[tuple[float, float]], labels: list[str], splits: list[bool] | None,
             columns: tuple[str, str], ignored: tuple[str, ...]) -> Upload:
    n = len(coords)
    if splits is None and not 2 * MIN_POINTS <= n <= 2 * MAX_POINTS:
        raise UploadError(f"The file has {n} point{'s' * (n != 1)}; it needs between {2 * MIN_POINTS} and "
                          f"{2 * MAX_POINTS} ({MIN_POINTS} to {MAX_POINTS} to train on, as many to validate on).")
    if splits is not None:
        for part, count in (("train", n - sum(splits)), ("val", sum(splits))):
            if not MIN_POINTS <= count <= MAX_POINTS:
                raise UploadError(f"The split column marks {count} row{'s' * (count != 1)} {part}; it needs "
                                  f"between {MIN_POINTS} and {MAX_POINTS}.")
    values = _ordered(set(labels))
    if len(values) == 1:
        raise UploadError(f"Every point has the label '{_clip(values[0], 20)}': the label column needs exactly two "
                          "different values, one per class.")
    if len(values) > 2:
        shown = ", ".join(f"'{_clip(v, 12)}'" for v in values[:4]) + (", ..." if len(values) > 4 else "")
        raise UploadError(f"The label column has {len(values)} different values ({shown}); the models here tell two "
                          "classes apart, so keep exactly two.")
    counts = [labels.count(v) for v in values]
    small = int(np.argmin(counts))
    if counts[small] < MIN_CLASS_POINTS or counts[small] < MIN_CLASS_SHARE * n:
        raise UploadError(f"The label '{_clip(values[small], 20)}' has only {counts[small]} of the {n} points "
                          f"({counts[small] / n:.0%}); each label needs at least {MIN_CLASS_POINTS} points and "
                          f"{MIN_CLASS_SHARE:.0%} of them.")
    classes = [values.index(v) for v in labels]
    if splits is not None and len({c for c, v in zip(classes, splits) if not v}) < 2:
        raise UploadError(f"Every row marked train has the label '{_clip(labels[splits.index(False)], 20)}'; mark "
                          "some points of both labels train.")
    X = np.array(coords, dtype=np.float64)
    lo, hi = X.min(0), X.max(0)
    half = np.where(hi > lo, (hi - lo) / 2, 1.0)
    scaled = np.clip(np.round((X - (lo + hi) / 2) / half * UPLOAD_LIMIT, 6), -UPLOAD_LIMIT, UPLOAD_LIMIT)
    points = tuple((float(x) + 0.0, float(y) + 0.0, c) for (x, y), c in zip(scaled, classes))  # + 0.0: no -0.0
    return Upload(name=name, points=points, is_val=None if splits is None else tuple(splits),
                  labels=(values[0], values[1]), columns=columns,
                  ranges=((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))), ignored=ignored)


def _ordered(values: set[str]) -> list[str]:
    """The labels in class order: by number when every one is a number, else alphabetically."""
    try:
        return sorted(values, key=lambda v: (float(v), v))
    except ValueError:
        return sorted(values)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def example_csv(n: int = 120, seed: int = 0) -> str:
    """A file in the upload's format: a ring of one label around the other, in metres, with a split column."""
    rng = np.random.default_rng(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["x", "y", "label", "split"])
    for i in range(n):
        outer = i % 2 == 1
        r = rng.uniform(6.0, 9.0) if outer else rng.uniform(0.0, 4.0)
        t = rng.uniform(0, 2 * np.pi)
        writer.writerow([f"{50 + r * np.cos(t):.2f}", f"{20 + r * np.sin(t):.2f}", "outside" if outer else "inside",
                         "val" if i >= 0.75 * n else "train"])
    return out.getvalue()
