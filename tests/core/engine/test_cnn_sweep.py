import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.engine.cnn_sweep import CNNStack
from core.engine.config import CNNConfig, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.spatial import BlockDropout
from core.engine.sweep import Sweep, run_sweep
from core.engine.trainer import Trainer

FINAL = ("train_loss", "val_loss", "train_acc", "val_acc")
CPU = torch.device("cpu")


def member(seed=0, kinds=("none", "none"), p=(0.0, 0.0), n_train=60, epochs=3, model=None, **train) -> RunConfig:
    cnn = replace(model or CNNConfig(), kinds=kinds, p_hidden=p)
    return RunConfig(DataConfig("digits", 0.0, n_train, 100, seed), cnn,
                     TrainConfig(batch_size=16, max_epochs=epochs, device="cpu", **train))


def trained_alone(cfg: RunConfig) -> Trainer:
    trainer = Trainer(cfg)
    while not trainer.finished:
        trainer.step()
    return trainer


def test_without_dropout_each_member_is_exactly_its_single_trainer_run():
    """Same init, data, batch order and update rule: only float rounding may differ (a curve too)."""
    members = [
        member(seed=0),
        member(seed=1, kinds=("element", "channel"), p=(0.0, 0.0)),  # kinds with p = 0 drop nothing
        member(seed=2, kinds=("none", "block"), p=(0.5, 0.0)),  # kind none ignores p
        member(seed=3, n_train=80),  # another group
    ]
    result = run_sweep(Sweep(tuple(members), curve_points=3))
    for cfg, got in zip(members, result.members):
        alone = trained_alone(cfg)
        for key in FINAL:
            assert got[key] == pytest.approx(alone.evaluate()[key], abs=2e-4), (cfg.data.seed, key)
            assert got["curves"][key] == pytest.approx(alone.history.series[key], abs=2e-4), (cfg.data.seed, key)
        assert got["kinds"] == list(cfg.model.kinds) and got["seed"] == cfg.data.seed


def test_upsampling_other_activations_optimizers_and_constraints_match_too():
    """tanh on the digits' blank background gives ties inside the max-pool: they must break as torch's do."""
    model = CNNConfig(channels=(4, 6), activation="tanh", image_size=16)
    members = [member(seed=s, model=model, optimizer="sgd+momentum", lr=0.05, weight_decay=0.01, max_norm=0.5)
               for s in (4, 5)]
    for cfg, got in zip(members, run_sweep(Sweep(tuple(members))).members):
        alone = trained_alone(cfg).evaluate()
        assert [got[k] for k in FINAL] == pytest.approx([alone[k] for k in FINAL], abs=2e-4)


@pytest.mark.parametrize("kind", ["element", "channel", "block"])
def test_with_dropout_members_match_single_trainer_runs_in_distribution(kind):
    """Masks come from another generator, so compare means over seeds, paired by seed."""
    seeds = range(12)
    cfgs = [member(seed=s, kinds=(kind, kind), p=(0.5, 0.5), epochs=8) for s in seeds]
    batched = [m["train_loss"] for m in run_sweep(Sweep(tuple(cfgs))).members]
    alone = [trained_alone(cfg).evaluate()["train_loss"] for cfg in cfgs]
    diff = np.array(batched) - np.array(alone)
    assert abs(diff.mean()) < 3 * diff.std(ddof=1) / math.sqrt(len(diff)) + 1e-3
    # The same comparison tells dropout from no dropout apart, so it is able to fail:
    plain = [m["train_loss"] for m in run_sweep(Sweep(tuple(member(seed=s, epochs=8) for s in seeds))).members]
    gap = np.array(batched) - np.array(plain)
    assert gap.mean() > 3 * gap.std(ddof=1) / math.sqrt(len(gap))


MIXED = [("none", 0.5), ("element", 0.2), ("channel", 0.5), ("block", 0.3), ("element", 0.6)]


def mixed_stack(**model) -> CNNStack:
    """One member per (kind, p) of MIXED at conv layer 0 (the two element members are not side by side)."""
    cnn = CNNConfig(**model)
    return CNNStack([member(seed=k, kinds=(kind, "none"), p=(p, 0.0), model=cnn) for k, (kind, p) in enumerate(MIXED)],
                    CPU)


def ones_maps(stack: CNNStack, batch: int) -> torch.Tensor:
    side = stack.image_size
    return torch.ones(batch, side, side, len(MIXED), stack.channels[0])  # [B, H, W, K, C]


def test_each_member_drops_its_own_kind_at_its_own_rate():
    stack = mixed_stack()
    out = stack._dropout(ones_maps(stack, 400), 0)
    for k, (kind, p) in enumerate(MIXED):
        maps = out[:, :, :, k]  # [B, H, W, C]
        dropped = maps == 0
        if kind == "none":
            assert torch.equal(maps, torch.ones_like(maps))
            continue
        if kind == "channel":  # a whole map is kept or dropped: constant over H and W
            assert torch.equal(dropped, dropped[:, :1, :1].expand_as(dropped))
            n = dropped[:, 0, 0].numel()
        else:
            n = dropped.numel()
        if kind == "block":
            continue  # its rate: the next test
        assert dropped.float().mean().item() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n))
        kept = maps[~dropped]
        assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))  # inverted: survivors scaled


def test_block_members_drop_squares_at_block_dropouts_rate_and_rescale_their_own_maps():
    stack = mixed_stack(block_size=3)
    k = 3
    p = MIXED[k][1]
    ours, theirs = [], []
    single = BlockDropout(p, 3)
    for _ in range(20):
        maps = stack._dropout(ones_maps(stack, 50), 0)[:, :, :, k].permute(0, 3, 1, 2)  # [B, C, H, W]
        dropped = maps == 0
        # Every dropped pixel lies in a dropped 3x3 square: opening the dropped set (erode, then dilate) keeps it whole.
        eroded = -torch.nn.functional.max_pool2d(-dropped.float(), 3, stride=1)
        opened = torch.nn.functional.max_pool2d(torch.nn.functional.pad(eroded, (2,) * 4), 3, stride=1)
        assert torch.equal(opened.bool(), dropped)
        kept = maps[~dropped]
        assert torch.allclose(kept, torch.full_like(kept, maps.numel() / kept.numel()))  # count / count_kept, per member
        ours.append(dropped.float().mean().item())
        theirs.append((single(torch.ones_like(maps)) == 0).float().mean().item())
    se = math.sqrt(np.var(ours, ddof=1) / len(ours) + np.var(theirs, ddof=1) / len(theirs))
    assert np.mean(ours) == pytest.approx(np.mean(theirs), abs=4 * se)
    assert 0.5 * p < np.mean(ours) < p  # overlapping blocks: a little under p


def test_block_dropout_ramps_up_as_the_module_does():
    stack = CNNStack([member(kinds=("block", "block"), p=(0.4, 0.4), model=CNNConfig(ramp_steps=4))], CPU)
    maps = torch.ones(200, 8, 8, 1, 8)
    rates = []
    for passes in (0, 2, 4, 40):
        stack.passes = passes
        rates.append((stack._dropout(maps, 0) == 0).float().mean().item())
    assert rates[0] == 0.0 and 0 < rates[1] < rates[2]
    assert rates[2] == pytest.approx(rates[3], abs=0.03)  # full rate from ramp_steps on
    stack.step()
    assert stack.passes == 41  # one training pass per step


def test_input_dropout_is_per_member():
    rates = (0.0, 0.5, 0.2)
    cfgs = [replace(member(seed=k), model=replace(member().model, p_input=p)) for k, p in enumerate(rates)]
    out = CNNStack(cfgs, CPU)._drop_pixels(torch.ones(300, 8, 8, len(rates)))
    for k, p in enumerate(rates):
        dropped = out[..., k] == 0
        assert dropped.float().mean().item() == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / dropped.numel()))
        assert torch.allclose(out[..., k][~dropped], torch.tensor(1 / (1 - p)))
    assert [m["p_input"] for m in run_sweep(Sweep(tuple(cfgs))).members] == list(rates)


def test_mlp_and_cnn_members_do_not_mix_and_cnn_members_share_the_shape():
    mlp = RunConfig(DataConfig("digits", 0.0, 60, 100, 0), ModelConfig(num_hiddens=(8,), p_hidden=(0.0,)),
                    TrainConfig(batch_size=16, max_epochs=3, device="cpu"))
    with pytest.raises(ConfigError, match="all be MLPs or all be CNNs"):
        Sweep((member(), mlp))
    with pytest.raises(ConfigError, match="share model.channels"):
        Sweep((member(), member(model=CNNConfig(channels=(4, 8)))))
    with pytest.raises(ConfigError, match="share train.max_norm"):
        Sweep((member(), member(max_norm=1.0)))
    sweep = Sweep((member(kinds=("element", "block"), p=(0.3, 0.2)), member(seed=1, kinds=("channel", "none"))))
    assert sweep.work() > 0


def test_a_diverged_cnn_member_is_flagged_and_the_others_are_untouched():
    stack = CNNStack([member(), member(seed=1)], CPU)
    stack.step()
    with torch.no_grad():
        stack.weights[-1][1].fill_(float("inf"))  # member 1's head blows up
    stack.step()
    ok, exploded = stack.evaluate()
    assert all(math.isfinite(v) for v in ok.values())
    assert all(math.isnan(v) for v in exploded.values())
