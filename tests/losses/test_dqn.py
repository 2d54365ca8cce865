from __future__ import annotations

import copy

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torch import nn

from rl4py.losses import functional as F
from rl4py.losses.common import total_loss
from rl4py.losses.dqn import DQNLoss
from rl4py.modules.qvalue import QValueActor


class TableQ(nn.Module):
    """Q(s, .) = table[s]: the observation is a state index, so every Q-value is set by hand."""

    def __init__(self, table: list[list[float]]) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.table[obs.squeeze(-1)]


def _networks(online: list[list[float]], target: list[list[float]]) -> tuple[QValueActor, QValueActor]:
    return QValueActor(TableQ(online)), QValueActor(TableQ(target))


# states 0..3; online and target disagree on the best action in state 2 and 3
ONLINE = [[1.0, 2.0], [0.5, -1.0], [3.0, 1.0], [0.0, 4.0]]
TARGET = [[0.0, 1.0], [2.0, 0.0], [1.5, 2.5], [5.0, -2.0]]


def _batch() -> TensorDict:
    return TensorDict(
        {
            "observation": torch.tensor([[0], [1], [0], [1]]),
            "action": torch.tensor([1, 0, 0, 1]),
            "next": {
                "observation": torch.tensor([[1], [2], [3], [2]]),
                "reward": torch.tensor([[1.0], [0.5], [-1.0], [2.0]]),
                "terminated": torch.tensor([[False], [False], [False], [True]]),
                "truncated": torch.tensor([[False], [True], [False], [False]]),
                "done": torch.tensor([[False], [True], [False], [True]]),
            },
        },
        batch_size=[4],
    )


def _hand_targets(gamma: float, double: bool) -> torch.Tensor:
    # Q(s, a) from ONLINE: s=[0,1,0,1], a=[1,0,0,1] -> [2.0, 0.5, 1.0, -1.0]
    # next states [1, 2, 3, 2]; terminated only for the last sample
    if double:  # argmax online at s' = [0 (0.5>-1), 0 (3>1), 1 (4>0), 0] -> target values [2.0, 1.5, -2.0, 1.5]
        boot = [2.0, 1.5, -2.0, 1.5]
    else:  # max target at s' = [2.0, 2.5, 5.0, 2.5]
        boot = [2.0, 2.5, 5.0, 2.5]
    rewards = [1.0, 0.5, -1.0, 2.0]
    not_term = [1.0, 1.0, 1.0, 0.0]
    return torch.tensor([[r + gamma * n * b] for r, n, b in zip(rewards, not_term, boot)])


Q_TAKEN = torch.tensor([[2.0], [0.5], [1.0], [-1.0]])


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("loss_function", ["l2", "huber"])
def test_loss_matches_hand_computation(loss_function, double):
    gamma = 0.9
    loss = DQNLoss(*_networks(ONLINE, TARGET), gamma=gamma, loss_function=loss_function, double_dqn=double)
    out = loss(_batch())
    y = _hand_targets(gamma, double)
    diff = Q_TAKEN - y
    if loss_function == "l2":
        expected = diff.square().mean()
    else:
        expected = torch.where(diff.abs() <= 1.0, 0.5 * diff.square(), diff.abs() - 0.5).mean()
    torch.testing.assert_close(out["loss_qvalue"], expected)
    torch.testing.assert_close(out["q_value"], Q_TAKEN.mean())
    torch.testing.assert_close(out["target_value"], y.mean())
    torch.testing.assert_close(out["td_error"], diff.abs().mean())
    assert set(out.keys()) == {"loss_qvalue", "q_value", "target_value", "td_error"}


def test_huber_delta_changes_the_quadratic_region():
    online, target = _networks(ONLINE, TARGET)
    out = DQNLoss(online, target, gamma=0.9, loss_function="huber", delta=2.4)(_batch())
    diff = Q_TAKEN - _hand_targets(0.9, False)  # [-0.8, -2.25, -2.5, -3.0]: both Huber regions
    expected = torch.where(diff.abs() <= 2.4, 0.5 * diff.square(), 2.4 * (diff.abs() - 1.2)).mean()
    torch.testing.assert_close(out["loss_qvalue"], expected)


def test_double_dqn_target_differs_exactly_where_the_argmaxes_differ():
    reward = torch.zeros(4, 1)
    terminated = torch.zeros(4, 1, dtype=torch.bool)
    next_target = torch.tensor([[2.0, 0.0], [1.5, 2.5], [5.0, -2.0], [0.0, 1.0]])
    next_online = torch.tensor([[0.5, -1.0], [3.0, 1.0], [0.0, 4.0], [0.0, 2.0]])
    plain = F.dqn_target(reward, terminated, next_target, 1.0)
    double = F.dqn_target(reward, terminated, next_target, 1.0, next_online)
    # argmax target: [0, 1, 0, 1]; argmax online: [0, 0, 1, 1] -> rows 1 and 2 differ
    assert torch.equal(plain.squeeze(-1), torch.tensor([2.0, 2.5, 5.0, 1.0]))
    assert torch.equal(double.squeeze(-1), torch.tensor([2.0, 1.5, -2.0, 1.0]))
    assert torch.equal(plain != double, torch.tensor([[False], [True], [True], [False]]))


def test_terminated_cuts_the_bootstrap_and_truncated_does_not():
    gamma = 0.5
    loss = DQNLoss(*_networks(ONLINE, TARGET), gamma=gamma)
    batch = _batch()
    base = loss(batch)["target_value"] * 4  # sum of targets
    # sample 1 is truncated (done, not terminated): it bootstraps from max target Q(s'=2) = 2.5
    assert _hand_targets(gamma, False)[1].item() == 0.5 + gamma * 2.5
    # flipping it to terminated removes exactly gamma * 2.5 from the summed targets
    batch["next", "terminated"][1] = True
    cut = loss(batch)["target_value"] * 4
    torch.testing.assert_close(base - cut, torch.tensor(gamma * 2.5))
    # "done" is not read: clearing it changes nothing
    batch["next", "done"].zero_()
    torch.testing.assert_close(loss(batch)["target_value"] * 4, cut)


@pytest.mark.parametrize("double", [False, True])
def test_gradient_reaches_only_the_online_network(double):
    torch.manual_seed(0)
    online = QValueActor(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 2)))
    loss = DQNLoss(online, double_dqn=double)
    assert all(not p.requires_grad for p in loss.target_network.parameters())
    g = torch.Generator().manual_seed(1)
    td = TensorDict(
        {
            "observation": torch.randn(32, 3, generator=g),
            "action": torch.randint(0, 2, (32,), generator=g),
            "next": {
                "observation": torch.randn(32, 3, generator=g),
                "reward": torch.randn(32, 1, generator=g),
                "terminated": torch.rand(32, 1, generator=g) < 0.2,
            },
        },
        batch_size=[32],
    )
    target_before = copy.deepcopy(loss.target_network.state_dict())
    total_loss(loss(td)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in online.parameters())
    assert all(p.grad is None for p in loss.target_network.parameters())
    trainable = {n for n, p in loss.named_parameters() if p.requires_grad}
    assert trainable == {f"value_network.{n}" for n, _ in online.named_parameters()}
    # the gradient equals the one with the target as a constant computed by hand
    online.zero_grad()
    q = online.network(td["observation"]).gather(-1, td["action"].unsqueeze(-1))
    with torch.no_grad():
        nxt_t = loss.target_network.network(td["next", "observation"])
        if double:
            best = online.network(td["next", "observation"]).argmax(-1, keepdim=True)
            boot = nxt_t.gather(-1, best)
        else:
            boot = nxt_t.max(-1, keepdim=True).values
        y = td["next", "reward"] + 0.99 * (~td["next", "terminated"]).float() * boot
    online.zero_grad()
    total_loss(loss(td)).backward()
    ours = [p.grad.clone() for p in online.parameters()]
    online.zero_grad()
    ((q - y) ** 2).mean().backward()
    for a, b in zip(ours, online.parameters()):
        torch.testing.assert_close(a, b.grad)
    for key, value in loss.target_network.state_dict().items():
        assert torch.equal(value, target_before[key])


def test_works_with_a_plain_tensordict_module_and_time_batch():
    torch.manual_seed(0)
    net = TensorDictModule(nn.Linear(3, 4), in_keys=["observation"], out_keys=["action_value"])
    loss = DQNLoss(net, gamma=0.9)
    td = TensorDict(
        {
            "observation": torch.randn(2, 5, 3),
            "action": torch.randint(0, 4, (2, 5)),
            "next": {
                "observation": torch.randn(2, 5, 3),
                "reward": torch.randn(2, 5, 1),
                "terminated": torch.zeros(2, 5, 1, dtype=torch.bool),
            },
        },
        batch_size=[2, 5],
    )
    out = loss(td)
    q = net.module(td["observation"]).gather(-1, td["action"].unsqueeze(-1))
    y = td["next", "reward"] + 0.9 * loss.target_network.module(td["next", "observation"]).max(-1, keepdim=True).values
    torch.testing.assert_close(out["loss_qvalue"], ((q - y) ** 2).mean())
    assert "action_value" not in td.keys()  # noqa: SIM118 - the loss writes nothing into the batch


def test_update_target_copies_the_online_weights():
    online, target = _networks(ONLINE, TARGET)
    loss = DQNLoss(online, target)
    loss.update_target(0.5)
    torch.testing.assert_close(target.network.table, (torch.tensor(ONLINE) + torch.tensor(TARGET)) / 2)
    loss.update_target()
    assert torch.equal(target.network.table, online.network.table)
    assert target.network.table is not online.network.table


@pytest.mark.parametrize(
    "missing",
    [
        "observation",
        "action",
        ("next", "observation"),
        ("next", "reward"),
        ("next", "terminated"),
    ],
)
def test_missing_key_raises_key_error_naming_it(missing):
    loss = DQNLoss(*_networks(ONLINE, TARGET))
    batch = _batch()
    del batch[missing]
    with pytest.raises(KeyError, match=repr(missing).replace("(", r"\(").replace(")", r"\)")):
        loss(batch)


def test_bad_arguments_are_rejected():
    online, target = _networks(ONLINE, TARGET)
    with pytest.raises(ValueError, match="loss_function must be one of"):
        DQNLoss(online, target, loss_function="mse")
    with pytest.raises(ValueError, match="gamma must be in"):
        DQNLoss(online, target, gamma=1.5)
    with pytest.raises(ValueError, match="target_network is value_network"):
        DQNLoss(online, online)
    shared = QValueActor(online.network)
    with pytest.raises(ValueError, match="shares parameters"):
        DQNLoss(online, shared)
    with pytest.raises(TypeError, match="in_keys"):
        DQNLoss(nn.Linear(2, 2))
    loss = DQNLoss(online, target)
    batch = _batch()
    batch["action"] = batch["action"].float()
    with pytest.raises(TypeError, match="integer"):
        loss(batch)
    batch = _batch()
    batch["next", "reward"] = torch.zeros(4)
    with pytest.raises(ValueError, match=r"reward \(4,\)"):
        loss(batch)


def test_next_action_mask_restricts_the_target_argmax():
    # the mask forbids each next state's best target action in samples 0-2; sample 3 is terminal
    mask = torch.tensor([[True, False], [True, False], [True, False], [False, False]])
    for double in (False, True):
        online, target = _networks(ONLINE, TARGET)
        td = _batch()
        td["next", "action_mask"] = mask
        loss = DQNLoss(online, target, gamma=0.9, double_dqn=double, action_mask_key="action_mask")
        out = loss(td)
        # only action 0 is allowed at s' = [1, 2, 3]: target values [2.0, 1.5, 5.0]; sample 3 bootstraps 0
        expected = torch.tensor([[1.0 + 0.9 * 2.0], [0.5 + 0.9 * 1.5], [-1.0 + 0.9 * 5.0], [2.0]])
        assert out["target_value"].item() == pytest.approx(expected.mean().item())
        assert torch.isfinite(out["loss_qvalue"])
    # without the key the mask is not read: the unmasked targets
    online, target = _networks(ONLINE, TARGET)
    td = _batch()
    td["next", "action_mask"] = mask
    unmasked = DQNLoss(online, target, gamma=0.9)(td)["target_value"]
    assert unmasked.item() == pytest.approx(_hand_targets(0.9, double=False).mean().item())


def test_dqn_target_rejects_a_bad_mask_and_zeroes_rows_with_nothing_allowed():
    values = torch.tensor([[1.0, 5.0, 3.0], [2.0, 0.0, 1.0]])
    reward, terminated = torch.zeros(2, 1), torch.tensor([[False], [False]])
    mask = torch.tensor([[True, False, True], [False, False, False]])
    target = F.dqn_target(reward, terminated, values, 1.0, next_action_mask=mask)
    assert target.tolist() == [[3.0], [0.0]]
    with pytest.raises(ValueError, match="next_action_mask must be a bool tensor of shape"):
        F.dqn_target(reward, terminated, values, 1.0, next_action_mask=mask.float())
    with pytest.raises(ValueError, match="next_action_mask"):
        F.dqn_target(reward, terminated, values, 1.0, next_action_mask=mask[:, :2])


def test_missing_next_action_mask_raises_key_error():
    online, target = _networks(ONLINE, TARGET)
    with pytest.raises(KeyError, match="action_mask"):
        DQNLoss(online, target, action_mask_key="action_mask")(_batch())
