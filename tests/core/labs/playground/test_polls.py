"""The Playground's class predictions are settled from the runs as they stand."""
import pytest

from core.engine.config import RunConfig, TrainConfig
from core.labs.playground.polls import QUESTIONS, settle


def _run(val_loss, train_loss, val_acc, epoch=100, end=100):
    n = len(val_loss)
    return {"epoch": epoch, "config": RunConfig(train=TrainConfig(max_epochs=end)),
            "history": {"epoch": list(range(1, n + 1)), "val_loss": val_loss, "train_loss": train_loss,
                        "val_acc": val_acc, "train_acc": [1.0] * n}}


def test_each_question_is_settled_by_the_numbers_it_names():
    a = _run([0.9, 0.5, 0.40], [0.8, 0.4, 0.30], [0.7, 0.80, 0.850])  # gap 0.10, best at the end
    b = _run([0.9, 0.4, 0.60], [0.8, 0.1, 0.05], [0.7, 0.84, 0.845])  # gap 0.55
    snap = {"runs": [a, b]}
    assert settle("lower_val_loss", snap)[0] == "A"
    assert "0.400" in settle("lower_val_loss", snap)[1] and "0.600" in settle("lower_val_loss", snap)[1]
    assert settle("higher_val_acc", snap)[0] == "About the same"  # 85.0 % against 84.5 %: within a point
    assert settle("bigger_gap", snap)[0] == "B"
    assert settle("a_overfits", snap)[0] == "No"
    assert settle("a_overfits", {"runs": [b]})[0] == "Yes"  # 0.60 ended 50 % above its best, 0.40
    assert settle("lower_val_loss", {"runs": [a, _run([0.405], [0.3], [0.8])]})[0] == "About the same"
    assert all(settle(k, snap)[0] in q.options for k, q in QUESTIONS.items())


def test_it_says_when_the_run_had_not_ended_and_refuses_what_it_cannot_settle():
    early = _run([0.5], [0.4], [0.8], epoch=20, end=300)
    assert settle("a_overfits", {"runs": [early]})[1].endswith("Read at epoch 20 of 300 (the run had not ended).")
    with pytest.raises(ValueError, match="turn on run B"):
        settle("lower_val_loss", {"runs": [early]})
    with pytest.raises(ValueError, match="press Play"):
        settle("a_overfits", {"runs": [_run([], [], [])]})
