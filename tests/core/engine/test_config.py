import pytest

from core.engine.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, from_flat, to_flat


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DataConfig(dataset="swirls"), "dataset must be one of"),
        (lambda: DataConfig(noise=1.5), "noise"),
        (lambda: DataConfig(n_train=5), "n_train"),
        (lambda: DataConfig(n_val=5000), "n_val"),
        (lambda: ModelConfig(num_hiddens=(), p_hidden=()), "number of hidden layers"),
        (lambda: ModelConfig(num_hiddens=(8,) * 5, p_hidden=(0.5,) * 5), "number of hidden layers"),
        (lambda: ModelConfig(num_hiddens=(1,), p_hidden=(0.5,)), "hidden width"),
        (lambda: ModelConfig(num_hiddens=(8, 8), p_hidden=(0.5,)), "one drop probability per hidden layer"),
        (lambda: ModelConfig(p_hidden=(0.5, 1.0)), "p_hidden"),
        (lambda: ModelConfig(p_input=-0.1), "p_input"),
        (lambda: ModelConfig(activation="swish"), "activation"),
        (lambda: TrainConfig(optimizer="rmsprop"), "optimizer"),
        (lambda: TrainConfig(lr=0.0), "lr"),
        (lambda: TrainConfig(batch_size=0), "batch_size"),
        (lambda: TrainConfig(max_epochs=0), "max_epochs"),
        (lambda: TrainConfig(device="tpu"), "device"),
    ],
)
def test_out_of_range_values_raise_a_clear_error(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_round_trip_through_a_flat_dict_of_plain_values():
    cfg = RunConfig(
        DataConfig(dataset="spirals", noise=0.1, n_train=300, n_val=50, seed=7),
        ModelConfig(num_hiddens=(16, 32, 8), activation="tanh", p_input=0.1, p_hidden=(0.2, 0.3, 0.4)),
        TrainConfig(optimizer="sgd+momentum", lr=0.03, weight_decay=1e-4, max_norm=3.0, batch_size=8, max_epochs=12),
    )
    flat = to_flat(cfg)
    assert all(isinstance(v, (str, int, float, bool)) for v in flat.values())
    assert from_flat(flat) == cfg
    # ... and from the strings a URL would carry
    assert from_flat({k: str(v) for k, v in flat.items()}) == cfg


def test_missing_keys_keep_the_defaults():
    assert from_flat({"data.noise": "0.25"}) == RunConfig(data=DataConfig(noise=0.25))


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"data.colour": "red"}, "unknown setting"),
        ({"bogus": 1}, "unknown setting"),
        ({"data.n_train": "many"}, "cannot read"),
        ({"data.n_train": "20.5"}, "cannot read"),
        ({"model.classic": "perhaps"}, "cannot read"),
        ({"model.p_hidden": "0.5,abc"}, "cannot read"),
        ({"model.num_hiddens": "8,8,8"}, "one drop probability per hidden layer"),
        ({"model.p_hidden": "0.5,1.2"}, "p_hidden"),
    ],
)
def test_bad_flat_values_are_reported(flat, message):
    with pytest.raises(ConfigError, match=message):
        from_flat(flat)


def test_with_p_changes_only_the_rates():
    cfg = ModelConfig()
    new = cfg.with_p(p_input=0.2, p_hidden=(0.1, 0.0))
    assert (new.p_input, new.p_hidden) == (0.2, (0.1, 0.0))
    assert new.same_architecture(cfg) and new != cfg
