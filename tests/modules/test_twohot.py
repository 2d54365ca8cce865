"""rl4py.modules.twohot: symlog/symexp and the two-hot encoding (DreamerV3)."""

from __future__ import annotations

import math

import pytest
import torch

from rl4py.modules.twohot import TwoHot, symexp, symlog


def test_symlog_values_and_round_trip() -> None:
    x = torch.tensor([-1000.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1000.0], dtype=torch.float64)
    assert symlog(x).tolist() == pytest.approx([-math.log(1001), -math.log(2), -math.log(1.5), 0, math.log(1.5),
                                                math.log(2), math.log(1001)])  # fmt: skip
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-12)
    assert torch.equal(symlog(-x), -symlog(x))


def test_bins_are_linspace_and_symmetric() -> None:
    twohot = TwoHot()
    assert twohot.bins.shape == (255,)
    assert torch.allclose(twohot.bins, torch.linspace(-20, 20, 255), atol=1e-5)
    assert torch.equal(twohot.bins, -twohot.bins.flip(0))
    assert twohot.bins[127] == 0.0


def test_one_lands_on_bins_131_and_132() -> None:
    # hand computation: symlog(1) = ln 2 = 0.693147; bin width 40/254 = 0.157480;
    # (ln 2 + 20) / (40/254) = 131.40148 -> bins 131 (0.629921) and 132 (0.787402),
    # weights 1 - 0.40148 = 0.59852 and 0.40148 (the seed book's 0.5985 / 0.4015)
    position = (math.log(2.0) + 20.0) / (40.0 / 254.0)
    assert position == pytest.approx(131.401485, abs=1e-6)
    target = TwoHot().encode(torch.tensor([1.0], dtype=torch.float64))
    assert target[0].nonzero().flatten().tolist() == [131, 132]
    assert target[0, 131].item() == pytest.approx(132 - position, abs=1e-6)
    assert target[0, 132].item() == pytest.approx(position - 131, abs=1e-6)
    assert target[0, 131].item() == pytest.approx(0.5985, abs=5e-5)
    assert target[0, 132].item() == pytest.approx(0.4015, abs=5e-5)


def test_encode_decode_round_trip() -> None:
    twohot = TwoHot()
    x = torch.cat([torch.linspace(-5000, 5000, 1001), torch.randn(1000) * 3, torch.tensor([0.0, 1e-4, -1e-4])])
    target = twohot.encode(x)
    assert torch.allclose(target.sum(-1), torch.ones_like(x))
    assert ((target > 0).sum(-1) <= 2).all()
    # the expected bin of the target is symlog(x) exactly, so decoding log(target) as logits gives x back
    assert torch.allclose(target @ twohot.bins, symlog(x), atol=1e-5)
    assert torch.allclose(twohot.decode(target.log()), x, rtol=1e-4, atol=1e-4)


def test_edge_bins() -> None:
    twohot = TwoHot()
    big = torch.tensor([1e12, -1e12, symexp(torch.tensor(20.0)).item(), -symexp(torch.tensor(20.0)).item()])
    target = twohot.encode(big)
    assert target[0, -1] == 1.0 and target[0, :-1].sum() == 0.0
    assert target[1, 0] == 1.0 and target[1, 1:].sum() == 0.0
    assert target[2, -1] == pytest.approx(1.0, abs=1e-4)
    assert target[3, 0] == pytest.approx(1.0, abs=1e-4)
    # a value beyond the range decodes to the edge: symexp(20)
    assert twohot.decode(target[:1].log()).item() == pytest.approx(math.expm1(20.0), rel=1e-4)
    # a value on an inner bin puts all its weight there
    on_bin = twohot.encode(symexp(twohot.bins[[5, 127, 200]].double()))
    assert on_bin[torch.arange(3), [5, 127, 200]].tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)


def test_uniform_logits_decode_to_exact_zero() -> None:
    assert torch.equal(TwoHot().decode(torch.zeros(4, 255)), torch.zeros(4))
    assert torch.equal(TwoHot(16, -3, 3).decode(torch.full((2, 16), 0.7)), torch.zeros(2))


def test_asymmetric_bins() -> None:
    twohot = TwoHot(5, 0.0, 4.0)
    assert twohot.bins.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    target = twohot.encode(symexp(torch.tensor([2.25])))
    assert target[0].tolist() == pytest.approx([0.0, 0.0, 0.75, 0.25, 0.0])
    assert twohot.decode(target.log()).item() == pytest.approx(symexp(torch.tensor(2.25)).item(), rel=1e-5)


def test_loss_is_cross_entropy_against_the_encoding() -> None:
    twohot = TwoHot()
    logits = torch.randn(6, 255, requires_grad=True)
    target = torch.randn(6) * 10
    loss = twohot.loss(logits, target)
    expected = -(twohot.encode(target) * logits.log_softmax(-1)).sum(-1)
    assert torch.allclose(loss, expected)
    loss.sum().backward()
    # d CE / d logits = softmax - target
    assert torch.allclose(logits.grad, logits.softmax(-1).detach() - twohot.encode(target), atol=1e-6)


def test_loss_trains_a_head_to_the_value() -> None:
    twohot = TwoHot()
    logits = torch.zeros(1, 255, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        twohot.loss(logits, torch.tensor([42.0])).sum().backward()
        opt.step()
    assert twohot.decode(logits).item() == pytest.approx(42.0, rel=0.02)


def test_bad_input() -> None:
    twohot = TwoHot()
    with pytest.raises(ValueError, match="num_bins"):
        TwoHot(1)
    with pytest.raises(ValueError, match="high must be > low"):
        TwoHot(10, 1.0, -1.0)
    with pytest.raises(ValueError, match=r"\[\*B, 255\]"):
        twohot.decode(torch.zeros(3, 254))
    with pytest.raises(ValueError, match="target must have shape"):
        twohot.loss(torch.zeros(3, 255), torch.zeros(3, 1))
    with pytest.raises(TypeError, match="floating point"):
        twohot.encode(torch.tensor([1, 2]))
