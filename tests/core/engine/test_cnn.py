"""The small CNN: built from its seed, trained by the one Trainer, its maps and masks traced."""
import pytest
import torch

from core.engine.cnn import SmallCNN, build_cnn
from core.engine.config import CNNConfig, ConfigError, DataConfig, RunConfig, TrainConfig, from_flat, to_flat
from core.engine.spatial import BlockDropout, ChannelDropout
from core.engine.trainer import Trainer


def run_config(**model) -> RunConfig:
    return RunConfig(DataConfig(dataset="digits", noise=0.0, n_train=300, n_val=200, seed=3),
                     CNNConfig(**model), TrainConfig(batch_size=50, max_epochs=8, device="cpu"))


def test_equal_seeds_give_equal_weights_whatever_the_dropout():
    a = build_cnn(CNNConfig(kinds=("element", "block")), seed=5)
    b = build_cnn(CNNConfig(kinds=("none", "channel"), p_hidden=(0.0, 0.6)), seed=5)
    c = build_cnn(CNNConfig(), seed=6)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.out.weight, c.out.weight)


def test_the_trainer_trains_a_cnn_and_its_loss_falls():
    trainer = Trainer(run_config())
    while trainer.epoch < 8:
        trainer.step()
    series = trainer.history.series
    assert series["train_loss"][-1] < 0.5 * series["train_loss"][0]
    assert series["val_acc"][-1] > 0.8  # ten classes: chance is 0.1
    assert isinstance(trainer.model, SmallCNN)


def test_upsampled_images_train_too():
    trainer = Trainer(run_config(image_size=16, kinds=("block", "block"), block_size=5))
    first = trainer.evaluate()["train_loss"]
    for _ in range(30):
        trainer.step()
    assert trainer.evaluate()["train_loss"] < first
    traces = trainer.model.trace(trainer.X_val[:2], torch.Generator().manual_seed(0))
    assert [tuple(t.maps.shape) for t in traces] == [(2, 8, 16, 16)] * 2


def test_trace_shows_each_kind_its_own_mask():
    model = build_cnn(CNNConfig(kinds=("channel", "none"), p_hidden=(0.5, 0.5), channels=(16, 4)), seed=0)
    x = torch.rand(6, 64)
    first, second = model.trace(x, torch.Generator().manual_seed(1))
    assert first.mask is not None and second.mask is None
    per_map = first.mask.flatten(2)
    assert torch.all(per_map.all(2) | (~per_map).all(2)), "channel dropout keeps or drops whole maps"
    assert model.training, "a trace leaves the model's mode as it was"
    again = model.trace(x, torch.Generator().manual_seed(1))[0]
    assert torch.equal(again.mask, first.mask), "the same generator seed gives the same masks"


def test_set_p_reaches_every_dropout_layer_and_the_trainer_records_it():
    trainer = Trainer(run_config(kinds=("channel", "block")))
    trainer.set_p(p_input=0.1, p_hidden=(0.2, 0.4))
    model = trainer.model
    assert model.input_dropout.p == 0.1
    assert [type(m) for m in model.conv_dropouts] == [ChannelDropout, BlockDropout]
    assert [m.p for m in model.conv_dropouts] == [0.2, 0.4]
    assert trainer.cfg.model.p_hidden == (0.2, 0.4)
    assert "p 0.3/0.3 → 0.2/0.4" in trainer.history.events[-1]["text"]


def test_max_norm_clips_each_filter():
    cfg = run_config()
    trainer = Trainer(RunConfig(cfg.data, cfg.model, TrainConfig(batch_size=50, max_epochs=2, max_norm=0.5)))
    trainer.step()
    for layer in trainer.model.linears:
        assert layer.weight.flatten(1).norm(dim=1).max() <= 0.5 + 1e-5


@pytest.mark.parametrize("model, data, match", [
    (dict(kinds=("pixel", "none")), {}, "dropout kind"),
    (dict(kinds=("none",)), {}, "one value per conv layer"),
    (dict(image_size=12), {}, "image_size"),
    (dict(block_size=9), {}, "block_size"),
    (dict(channels=(8, 8, 8, 8), kinds=("none",) * 4, p_hidden=(0,) * 4), {}, "conv layers"),
    ({}, dict(dataset="moons"), "digits"),
])
def test_bad_cnn_settings_say_which_value(model, data, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(DataConfig(**{"dataset": "digits", **data}), CNNConfig(**model))


def test_a_cnn_config_travels_as_a_flat_dict():
    cfg = run_config(kinds=("block", "element"), image_size=16, block_size=4)
    flat = to_flat(cfg)
    assert flat["model.kinds"] == "block,element"
    assert from_flat(flat, base=RunConfig(DataConfig(dataset="digits"), CNNConfig())) == cfg
    with pytest.raises(ConfigError, match="unknown setting"):
        from_flat({"model.num_hiddens": "8"}, base=RunConfig(DataConfig(dataset="digits"), CNNConfig()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_cnn_trains_on_cuda():
    cfg = run_config(kinds=("block", "channel"))
    trainer = Trainer(RunConfig(cfg.data, cfg.model, TrainConfig(batch_size=50, max_epochs=2, device="cuda")))
    for _ in range(12):
        trainer.step()
    assert next(trainer.model.parameters()).is_cuda
    assert trainer.evaluate()["train_loss"] < 2.3
