"""A learner's CSV: good files become a DataConfig that trains; every bad file gets ONE sentence that says
what to fix, and nothing else."""
from dataclasses import replace

import numpy as np
import pytest

from core.engine.config import UPLOAD_LIMIT, ConfigError, DataConfig, RunConfig, TrainConfig, from_flat, to_flat
from core.engine.datasets import make_split
from core.engine.trainer import Trainer
from core.engine.upload import MAX_BYTES, UploadError, example_csv, parse


def _csv(n: int = 100, *, labels=("a", "b"), header="x,y,label", split=None, seed=0, scale=1.0) -> str:
    """Two separable blobs; ``split(i)`` gives row i's split value (a split column when given)."""
    rng = np.random.default_rng(seed)
    lines = [header + (",split" if split else "")]
    for i in range(n):
        c = i % 2
        x, y = rng.normal([-1.0, -1.0] if c == 0 else [1.0, 1.0], 0.4) * scale
        lines.append(f"{x:.4f},{y:.4f},{labels[c]}" + (f",{split(i)}" if split else ""))
    return "\n".join(lines) + "\n"


def _refusal(text: str | bytes) -> str:
    with pytest.raises(UploadError) as info:
        parse(text.encode() if isinstance(text, str) else text)
    message = str(info.value)
    assert message.count(". ") == 0 and message.endswith("."), f"not one sentence: {message!r}"
    return message


def test_a_good_file_maps_two_labels_to_classes_and_scales_each_axis():
    upload = parse(_csv(100, labels=("dog", "cat"), scale=1000.0).encode(), "pets.csv")
    assert upload.labels == ("cat", "dog")  # alphabetical: cat is class 0
    assert len(upload.points) == 100 and upload.is_val is None
    X = np.array([p[:2] for p in upload.points])
    assert np.allclose(X.min(0), -UPLOAD_LIMIT) and np.allclose(X.max(0), UPLOAD_LIMIT)
    assert upload.ranges[0][1] > 500  # the file's own range is kept for the caption
    assert {p[2] for p in upload.points} == {0, 1}


def test_numeric_labels_are_ordered_by_number_and_x1_x2_columns_work():
    upload = parse(_csv(60, labels=("10", "9"), header="x1,x2,label").encode())
    assert upload.labels == ("9", "10") and upload.columns == ("x1", "x2")


def test_without_a_split_column_the_seed_draws_a_stratified_split():
    upload = parse(_csv(100).encode())
    data = upload.data_config(seed=3)
    assert (data.n_train, data.n_val) == (75, 25)
    assert upload.data_config(seed=3) == data  # the same seed, the same split: configs compare equal
    assert upload.data_config(seed=4) != data
    assert {p[2] for p in data.val_points} == {0, 1} and {p[2] for p in data.train_points} == {0, 1}
    small = parse(_csv(40).encode()).data_config(seed=0)
    assert (small.n_train, small.n_val) == (20, 20)


def test_a_split_column_is_used_as_it_is_and_other_columns_are_ignored():
    text = _csv(100, split=lambda i: "val" if i >= 70 else "Train").replace("label,split", "label,split,id")
    text = "\n".join(line + (",7" if k else "") for k, line in enumerate(text.splitlines()))
    upload = parse(text.encode())
    assert upload.ignored == ("id",)
    data = upload.data_config(seed=9)
    assert (data.n_train, data.n_val) == (70, 30)
    assert data.train_points == upload.points[:70]


def test_the_example_file_and_semicolons_and_a_bom_are_read():
    assert parse(example_csv().encode()).labels == ("inside", "outside")
    assert len(parse(("\ufeff" + _csv(50).replace(",", ";")).encode()).points) == 50


@pytest.mark.parametrize("text, says", [
    (_csv(100).replace("label", "class"), "The first row names x, y, class, but it must name the columns x, y"),
    (_csv(100).replace("x,y", "a,b"), "must name the columns x, y (or x1, x2) and label"),
    ("x,x,y,label\n1,2,3,a\n", "names the column x twice"),
    (_csv(100).replace("\n0.", "\nabc", 1).replace("\n-0.", "\nabc", 1), "in column x is not a number."),
    ("x,y,label\n" + "1,2,a\n3,abc,b\n" * 30, "Row 3: 'abc' in column y is not a number."),
    ("x,y,label\n" + "1,2,a\n3,4,b\n" * 10 + "nan,1,a\n" + "5,6,b\n" * 30, "Row 22: column x is NaN"),
    ("x,y,label\n" + "1,2,a\n3,4,b\n" * 10 + "1,inf,a\n" + "5,6,b\n" * 30, "Row 22: column y is infinite"),
    ("x,y,label\n" + "1,2,a\n" + "1,,b\n" * 30, "Row 3: column y is empty"),
    ("x,y,label\n" + "1,2,a\n" + "1e300,2,b\n" * 30, "is too large"),
    ("x,y,label\n" + "1,2,a\n" * 20 + "1,2,b,9\n" * 30, "Row 22 has 4 values but the first row names 3 columns."),
    ("x,y,label\n" + "1,2,a\n" * 20 + "1,2,\n" * 30, "Row 22: the label is empty"),
    (_csv(100, labels=("a", "a")), "Every point has the label 'a': the label column needs exactly two"),
    (_csv(99, labels=("a", "b")) + "1,1,c\n", "The label column has 3 different values ('a', 'b', 'c')"),
    ("x,y,label\n" + "1,2,a\n" * 95 + "3,4,b\n" * 5, "The label 'b' has only 5 of the 100 points (5%)"),
    ("x,y,label\n" + "1,2,a\n" * 40 + "3,4,b\n" * 4, "The label 'b' has only 4 of the 44 points"),
    (_csv(30), "The file has 30 points; it needs between 40 and 4000"),
    (_csv(39, split=lambda i: "val" if i < 10 else "train"), "The split column marks 10 rows val; it needs between 20"),
    (_csv(60, split=lambda i: "test" if i == 5 else "train"),
     "Row 7: 'test' in column split is neither train nor val."),
    (_csv(60, split=lambda i: "val" if i % 2 == 0 or i < 20 else "train").replace(",a,train", ",b,train"),
     "Every row marked train has the label"),
    ("", "The file is empty"),
    ("\n\n", "The file is empty"),
])
def test_each_bad_file_gets_one_sentence_saying_what_to_fix(text, says):
    assert says in _refusal(text)


def test_too_many_points_and_too_big_and_binary_files_are_refused():
    assert "The file has 4010 points; it needs between 40 and 4000" in _refusal("x,y,label\n" + "1,2,a\n3,4,b\n" * 2005)
    big = ("x,y,label\n" + "1.000000000,2.0000000000,a\n" * 8000).encode()
    assert len(big) > MAX_BYTES
    assert "more than the 200 kB allowed" in _refusal(big)
    assert "not text" in _refusal(b"x,y,label\n\x00\x01")
    assert "not UTF-8" in _refusal("x,y,label\n1,2,é\n".encode("latin-1"))


def test_the_uploaded_points_travel_in_the_config_and_a_flat_dict_names_them_only():
    data = parse(_csv(100).encode()).data_config(seed=1, nuisance=2)
    split = make_split(data)
    assert split.X_train.shape == (75, 4) and split.X_val.shape == (25, 4)  # two nuisance inputs appended
    assert np.array_equal(split.X_train[:, :2], np.array([p[:2] for p in data.train_points], dtype=np.float32))
    flat = to_flat(RunConfig(data=data))
    assert flat["data.upload"] == data.upload and len(data.upload) == 12
    assert not any("points" in key for key in flat)
    assert all(isinstance(v, (str, int, float, bool)) for v in flat.values())
    with pytest.raises(ConfigError, match="a link cannot carry uploaded points"):
        from_flat(flat)
    with pytest.raises(ConfigError, match="unknown setting"):
        from_flat({"data.train_points": "1,2,0"})
    with pytest.raises(ConfigError, match="uploaded data only"):
        DataConfig(train_points=data.train_points)
    with pytest.raises(ConfigError, match="within ±1.5"):
        replace(data, train_points=((9.0, 0.0, 0),) + data.train_points[1:])
    with pytest.raises(ConfigError, match="class must be 0 or 1"):
        replace(data, train_points=((0.0, 0.0, 2),) + data.train_points[1:])
    assert replace(data, seed=1) == data  # a fingerprint always fits its points


def test_a_run_on_uploaded_points_trains():
    data = parse(_csv(120, seed=5).encode()).data_config(seed=2)
    trainer = Trainer(RunConfig(data=data, train=TrainConfig(max_epochs=30, device="cpu")))
    first = trainer.evaluate()
    while not trainer.finished:
        trainer.step()
    last = trainer.evaluate()
    assert last["train_loss"] < 0.5 * first["train_loss"]
    assert last["val_acc"] >= 0.9
