from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import set_interaction_type
from torch import nn

from rl4py import MLP, Categorical, ProbabilisticActor, make_discrete_actor_critic, orthogonal_init_
from rl4py.modules import Tanh, fast_tanh


@pytest.mark.parametrize("shape, gain", [((64, 4), math.sqrt(2)), ((2, 64), 0.01), ((64, 64), 1.0)])
def test_orthogonal_init_gives_scaled_orthogonal_rows_or_columns(shape, gain):
    layer = orthogonal_init_(nn.Linear(shape[1], shape[0]), gain=gain, bias=0.0)
    w = layer.weight.detach().double()
    small = min(shape)
    gram = w @ w.T if shape[0] <= shape[1] else w.T @ w
    torch.testing.assert_close(gram, gain**2 * torch.eye(small, dtype=torch.float64), atol=1e-5, rtol=1e-5)
    assert torch.count_nonzero(layer.bias) == 0


def test_orthogonal_init_rejects_layers_without_weight_matrix():
    with pytest.raises(ValueError, match="no weight matrix"):
        orthogonal_init_(nn.Tanh())


def test_mlp_structure_and_init():
    mlp = MLP(4, 3, num_cells=(8, 16), activation=nn.ReLU, norm=nn.LayerNorm, output_gain=0.5)
    kinds = [type(m) for m in mlp]
    assert kinds == [nn.Linear, nn.LayerNorm, nn.ReLU, nn.Linear, nn.LayerNorm, nn.ReLU, nn.Linear]
    head = mlp[-1].weight.detach()
    torch.testing.assert_close(head @ head.T, 0.25 * torch.eye(3), atol=1e-5, rtol=1e-5)
    assert mlp(torch.zeros(2, 5, 4)).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="num_cells"):
        MLP(4, 2, num_cells=(0,))


def test_categorical_matches_torch_distributions():
    logits = torch.randn(10, 5) * 3
    ours, ref = Categorical(logits), torch.distributions.Categorical(logits=logits)
    actions = torch.randint(0, 5, (10,))
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    torch.testing.assert_close(ours.probs, ref.probs)
    assert torch.equal(ours.mode, ref.mode)


def test_categorical_sampling_frequencies_match_probabilities():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    dist = Categorical(probs.log().expand(200_000, 4), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(dist.sample(), minlength=4).float() / 200_000
    torch.testing.assert_close(freq, probs, atol=4e-3, rtol=0)
    assert dist.sample((3,)).shape == (3, 200_000)


def test_actor_writes_action_log_prob_and_logits():
    actor = ProbabilisticActor(nn.Linear(4, 3))
    td = actor(TensorDict({"observation": torch.randn(6, 4)}, batch_size=[6]))
    assert td["action"].shape == (6,) and td["action"].dtype == torch.int64
    expected = torch.log_softmax(td["logits"], -1).gather(-1, td["action"].unsqueeze(-1))
    torch.testing.assert_close(td["action_log_prob"], expected)


def test_actor_deterministic_mode_takes_argmax():
    actor = ProbabilisticActor(nn.Linear(4, 3))
    obs = torch.randn(50, 4)
    with set_interaction_type("deterministic"):
        td = actor(TensorDict({"observation": obs}, batch_size=[50]))
    assert torch.equal(td["action"], actor.module(obs).argmax(-1))


def test_actor_get_dist_writes_nothing_and_keeps_gradient():
    actor = ProbabilisticActor(nn.Linear(4, 2))
    td = TensorDict({"observation": torch.randn(3, 4)}, batch_size=[3])
    dist = actor.get_dist(td)
    assert set(td.keys()) == {"observation"}
    dist.log_prob(torch.zeros(3, dtype=torch.long)).sum().backward()
    assert actor.module.weight.grad is not None


def test_actor_module_output_count_is_checked():
    class Two(nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(ValueError, match="returned 2 tensors"):
        ProbabilisticActor(Two()).get_dist(TensorDict({"observation": torch.zeros(2, 2)}, [2]))


def test_discrete_actor_critic_is_cleanrl_architecture():
    actor, critic = make_discrete_actor_critic(4, 2)
    a_layers = [m for m in actor.module if isinstance(m, nn.Linear)]
    c_layers = [m for m in critic.module if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in a_layers] == [(4, 64), (64, 64), (64, 2)]
    assert [(m.in_features, m.out_features) for m in c_layers] == [(4, 64), (64, 64), (64, 1)]
    assert all(isinstance(m, Tanh) for m in actor.module if not isinstance(m, nn.Linear))
    head = a_layers[-1].weight.detach()
    torch.testing.assert_close(head @ head.T, 1e-4 * torch.eye(2), atol=1e-7, rtol=1e-4)
    assert not set(map(id, actor.parameters())) & set(map(id, critic.parameters()))


@pytest.mark.parametrize("shape", [(8, 64), (1024, 64), (3, 50, 70)])
def test_fast_tanh_matches_torch_tanh_values_and_gradients(shape):
    x = (torch.randn(shape) * 4).requires_grad_()
    y_ref = torch.tanh(x)
    (g_ref,) = torch.autograd.grad(y_ref.sum(), x)
    y = fast_tanh(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(y, y_ref, atol=3e-7, rtol=0)
    torch.testing.assert_close(g, g_ref, atol=6e-7, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(fast_tanh(x), y_ref, atol=3e-7, rtol=0)
    # saturates exactly like tanh
    big = torch.tensor([-50.0, 50.0]).repeat(8192)
    assert torch.equal(fast_tanh(big), torch.tanh(big))
