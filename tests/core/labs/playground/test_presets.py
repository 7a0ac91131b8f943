import pytest

from core.engine.trainer import Trainer
from core.labs.playground.presets import PRESETS, preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates_and_trains_a_few_steps(name):
    trainer = Trainer(preset(name))
    results = [trainer.step() for _ in range(3)]
    assert trainer.step_count == 3
    if name != "diverging":
        assert all(r["loss"] > 0 for r in results) and not trainer.diverged


def test_unknown_preset_is_named_in_the_error():
    with pytest.raises(KeyError, match="unknown preset 'nope'"):
        preset("nope")


def test_too_much_dropout_underfits():
    """The lesson says p = 0.9 keeps even the training accuracy below the run without dropout."""
    from dataclasses import replace  # noqa: PLC0415

    cfg = preset("too-much-dropout")
    cfg = replace(cfg, train=replace(cfg.train, max_epochs=80))
    accs = {}
    for p in (0.9, 0.0):
        trainer = Trainer(replace(cfg, model=cfg.model.with_p(p_hidden=(p, p))))
        while not trainer.finished:
            trainer.step()
        accs[p] = trainer.history.series["train_acc"][-1]
    assert accs[0.9] < accs[0.0] - 0.03
