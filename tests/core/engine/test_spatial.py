"""Element, channel and block dropout on feature maps, each checked against a reference.

Tolerances are binomial: a fraction estimated from n independent draws has standard deviation
sqrt(p (1 - p) / n); every check allows five of them (seeded, so a pass is repeatable)."""
import math

import pytest
import torch
import torch.nn.functional as F

from core.engine.dropout import Dropout, eval_mode, mc_mode, train_mode
from core.engine.spatial import BlockDropout, ChannelDropout, block_gamma, make_dropout


def tolerance(p: float, n: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / n)


def maps(n=400, c=8, h=8, w=8):
    return torch.ones(n, c, h, w)


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_element_dropout_matches_f_dropout_statistics(p):
    x = maps()
    ours = Dropout(p, generator=generator())(x)
    torch.manual_seed(0)
    reference = F.dropout(x, p, training=True)
    n = x.numel()
    for out in (ours, reference):
        assert abs((out == 0).float().mean().item() - p) < tolerance(p, n)
        assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / (1 - p)))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_channel_dropout_matches_f_dropout2d(p):
    x = maps()
    ours = ChannelDropout(p, generator=generator())(x)
    torch.manual_seed(0)
    reference = F.dropout2d(x, p, training=True)
    for out in (ours, reference):
        per_map = out.flatten(2)
        assert torch.all(per_map.amax(2) == per_map.amin(2)), "each map is kept or dropped whole"
        dropped = (per_map[..., 0] == 0).float().mean().item()
        assert abs(dropped - p) < tolerance(p, per_map.shape[0] * per_map.shape[1])
        assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / (1 - p)))


def test_dropout2d_on_a_3d_map_drops_rows_and_ours_refuses_it():
    """The pitfall the lesson names: F.dropout2d reads [C, H, W] as [N, C, L] and drops whole rows."""
    x = torch.ones(4, 8, 8)  # one image's 4 maps, without the batch dimension
    torch.manual_seed(1)
    with pytest.warns(UserWarning):
        out = F.dropout2d(x, 0.5, training=True)
    rows_whole = torch.all(out.amax(2) == out.amin(2))
    maps_whole = torch.all(out.flatten(1).amax(1) == out.flatten(1).amin(1))
    assert rows_whole and not maps_whole
    with pytest.raises(ValueError, match="rows"):
        ChannelDropout(0.5)(x)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        BlockDropout(0.5, 3)(x)


def test_block_gamma_is_the_papers():
    # gamma = (1 - keep) / block^2 * feat^2 / (feat - block + 1)^2, for a square map (Ghiasi et al., eq. 1)
    assert block_gamma(0.1, 3, 8, 8) == pytest.approx(0.1 / 9 * 64 / 36)
    assert block_gamma(0.3, 1, 8, 8) == pytest.approx(0.3)
    assert block_gamma(0.3, 8, 8, 8) == pytest.approx(0.3)


@pytest.mark.parametrize("p", [0.15, 0.4])
def test_block_size_one_is_element_dropout_in_distribution(p):
    x = maps()
    out = BlockDropout(p, 1, generator=generator())(x)
    dropped = (out == 0).float()
    n = x.numel()
    assert abs(dropped.mean().item() - p) < tolerance(p, n)
    # independent neighbours: P(both dropped) = p^2, as for element dropout
    both = (dropped[..., :, 1:] * dropped[..., :, :-1]).mean().item()
    assert abs(both - p * p) < tolerance(p * p, n)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_a_block_covering_the_map_is_channel_dropout_in_distribution(p):
    x = maps()
    module = BlockDropout(p, 8, generator=generator())
    out = module(x)
    per_map = out.flatten(2)
    assert torch.all(per_map.amax(2) == per_map.amin(2))
    dropped = (per_map[..., 0] == 0).float().mean().item()
    assert abs(dropped - p) < tolerance(p, per_map.shape[0] * per_map.shape[1])


def test_a_block_is_a_square_of_block_size():
    module = BlockDropout(0.02, 3, generator=generator(3))
    x = torch.ones(2000, 1, 12, 12)
    module(x)
    keep = module.last_mask
    singles = [m for m in keep[:, 0] if (~m).sum() == 9]  # maps where exactly one block fell
    assert singles, "some maps should hold exactly one block"
    for m in singles[:20]:
        rows, cols = torch.nonzero(~m, as_tuple=True)
        assert rows.max() - rows.min() == 2 and cols.max() - cols.min() == 2


def test_block_dropout_drops_about_p_and_keeps_the_sum():
    p, x = 0.3, maps(n=1000)
    module = BlockDropout(p, 3, generator=generator())
    out = module(x)
    dropped = 1 - module.last_mask.float().mean().item()
    # overlapping blocks drop a little less than p; the paper's gamma aims at p
    assert p - 0.08 < dropped < p + tolerance(p, x.numel())
    assert out.sum().item() == pytest.approx(x.sum().item(), rel=1e-5), "rescaled by count / count_kept"


def test_ramp_raises_p_linearly_in_training_only():
    module = BlockDropout(0.4, 3, ramp_steps=10, generator=generator())
    assert module.current_p == 0.0
    x = maps(n=4)
    for _ in range(5):
        module(x)
    assert module.current_p == pytest.approx(0.2)
    mc_mode(module)
    module(x)
    assert module.steps_seen == 5, "a Monte-Carlo pass is not a training step"
    train_mode(module)
    for _ in range(20):
        module(x)
    assert module.current_p == pytest.approx(0.4)


@pytest.mark.parametrize("kind", ["element", "channel", "block"])
def test_every_kind_is_the_identity_at_evaluation_and_samples_in_mc_mode(kind):
    module = make_dropout(kind, 0.5)
    x = torch.randn(3, 4, 8, 8)
    eval_mode(module)
    assert torch.equal(module(x), x)
    mc_mode(module)
    assert not torch.equal(module(x), x)
    assert module.last_mask.shape == x.shape


def test_make_dropout_knows_its_kinds():
    assert make_dropout("none", 0.5) is None
    with pytest.raises(ValueError, match="element"):
        make_dropout("pixel", 0.5)
    with pytest.raises(ValueError, match="block_size"):
        BlockDropout(0.5, 0)
    with pytest.raises(ValueError, match="drop probability"):
        ChannelDropout(1.0)
