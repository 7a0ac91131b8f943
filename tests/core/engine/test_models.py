import pytest
import torch

from core.engine.config import ACTIVATIONS, ModelConfig
from core.engine.dropout import Dropout
from core.engine.models import ACTIVATIONS as ACTIVATION_MODULES
from core.engine.models import build_mlp, pick_device


def test_mlp_has_input_dropout_and_one_dropout_per_hidden_layer():
    cfg = ModelConfig(num_hiddens=(8, 16, 4), p_input=0.1, p_hidden=(0.2, 0.3, 0.4), activation="gelu")
    model = build_mlp(cfg, seed=0)
    assert [d.p for d in model.dropouts] == [0.1, 0.2, 0.3, 0.4]
    assert [(m.in_features, m.out_features) for m in model.linears] == [(2, 8), (8, 16), (16, 4), (4, 2)]
    assert model(torch.randn(5, 2)).shape == (5, 2)


def test_set_p_changes_every_layer():
    model = build_mlp(ModelConfig(), seed=0)
    model.set_p(0.3, (0.1, 0.0))
    assert [d.p for d in model.dropouts] == [0.3, 0.1, 0.0]
    with pytest.raises(ValueError):
        model.set_p(0.0, (0.1,))


def test_same_seed_same_weights_whatever_the_dropout_rates():
    a = build_mlp(ModelConfig(p_hidden=(0.5, 0.5)), seed=4)
    b = build_mlp(ModelConfig(p_hidden=(0.0, 0.0)), seed=4)
    c = build_mlp(ModelConfig(), seed=5)
    for wa, wb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(wa, wb)
    assert not torch.equal(a.linears[0].weight, c.linears[0].weight)


def test_building_does_not_disturb_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    build_mlp(ModelConfig(), seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            pick_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_model_runs_on_cuda():
    model = build_mlp(ModelConfig(), seed=0, device="cuda")
    assert all(isinstance(d, Dropout) for d in model.dropouts)
    assert model(torch.randn(4, 2, device="cuda")).device.type == "cuda"


def test_every_activation_the_config_allows_builds():
    assert set(ACTIVATIONS) == set(ACTIVATION_MODULES)
    for name in ACTIVATIONS:
        model = build_mlp(ModelConfig(activation=name, batchnorm=True), seed=0)
        assert torch.isfinite(model(torch.randn(4, 2))).all()


def test_every_table_of_activations_names_the_same_ones():
    """The config's names, the modules, the batched sweep's functions and the MC engine's fast path:
    one list, so an activation added in one place and forgotten in another fails here."""
    from core.analysis import thinned  # noqa: PLC0415
    from core.engine import sweep  # noqa: PLC0415

    assert set(sweep._ACTIVATIONS) == set(ACTIVATIONS)
    assert set(thinned._ACTIVATIONS) == {ACTIVATION_MODULES[name] for name in ACTIVATIONS}
    assert set(ACTIVATIONS) <= set(thinned._IN_PLACE)
