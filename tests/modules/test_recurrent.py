"""rl4py.modules.recurrent and recurrent_actor: cores (LSTM, GRU, block GRU), resets, sequences, actors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict
from torch import nn

from rl4py.modules.recurrent import BlockGRU, GRUCore, LSTMCore, RecurrentCore, make_core
from rl4py.modules.recurrent_actor import (
    RecurrentActor,
    RecurrentActorCritic,
    RecurrentValue,
    StoredStateValue,
    make_recurrent_actor_critic,
)

CORES = {
    "lstm": lambda: LSTMCore(3, 8),
    "lstm2": lambda: LSTMCore(3, 8, num_layers=2),
    "gru": lambda: GRUCore(3, 8),
    "gru2": lambda: GRUCore(3, 8, num_layers=2),
    "block_gru": lambda: BlockGRU(3, 8, n_blocks=4),
}


def _random_state(core: RecurrentCore, batch: int) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn_like(s) for s in core.initial_state(batch))


def _steps(core: RecurrentCore, x, state, is_init):
    outputs = []
    for t in range(x.shape[1]):
        y, state = core.step(x[:, t], state, is_init[:, t])
        outputs.append(y)
    return torch.stack(outputs, 1), state


@pytest.mark.parametrize("name", sorted(CORES))
def test_shapes_and_initial_state(name):
    core = CORES[name]()
    state = core.initial_state(5)
    assert len(state) == len(core.state_names)
    assert all(torch.equal(s, torch.zeros_like(s)) for s in state)
    y, new = core.step(torch.randn(5, 3), state)
    assert y.shape == (5, core.output_size)
    assert [s.shape for s in new] == [s.shape for s in state]
    ys, final = core.sequence(torch.randn(5, 7, 3), state)
    assert ys.shape == (5, 7, core.output_size)
    assert [s.shape for s in final] == [s.shape for s in state]


@pytest.mark.parametrize("name", sorted(CORES))
@pytest.mark.parametrize("fused", [None, True, False])
def test_sequence_equals_repeated_step_with_resets(name, fused):
    core = CORES[name]()
    b, t = 4, 12
    x = torch.randn(b, t, 3)
    is_init = torch.zeros(b, t, 1, dtype=torch.bool)
    is_init[0, 0] = is_init[1, 5] = is_init[2, 5] = is_init[3, 9] = is_init[0, 11] = True
    state0 = _random_state(core, b)
    expected, expected_state = _steps(core, x, state0, is_init)
    y, state = core.sequence(x, state0, is_init, fused=fused)
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=1e-5)
    for a, e in zip(state, expected_state):
        torch.testing.assert_close(a, e, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "lstm2", "gru", "gru2"])
def test_fused_and_looped_paths_agree_in_values_and_gradients(name):
    """The torch-kernel path (nn.LSTM / nn.GRU between resets) and the cell loop compute the same."""
    core = CORES[name]()
    b, t = 3, 10
    x = torch.randn(b, t, 3, requires_grad=True)
    state0 = _random_state(core, b)
    for is_init in (None, torch.zeros(b, t, 1, dtype=torch.bool).index_fill_(1, torch.tensor([4]), True)):
        results = []
        for fused in (True, False):
            core.zero_grad()
            x.grad = None
            y, state = core.sequence(x, state0, is_init, fused=fused)
            (y.square().sum() + sum(s.sum() for s in state)).backward()
            results.append((y.detach(), x.grad.clone(), [p.grad.clone() for p in core.parameters()]))
        (y_f, gx_f, gp_f), (y_l, gx_l, gp_l) = results
        torch.testing.assert_close(y_f, y_l, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(gx_f, gx_l, atol=1e-5, rtol=1e-4)
        for a, e in zip(gp_f, gp_l):
            torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(CORES))
def test_is_init_step_equals_a_fresh_start(name):
    core = CORES[name]()
    b = 4
    x = torch.randn(b, 3)
    # after some history the state is far from zero
    _, state = core.sequence(torch.randn(b, 6, 3), _random_state(core, b))
    reset = torch.tensor([[True], [False], [True], [False]])
    y, new = core.step(x, state, reset)
    y_fresh, new_fresh = core.step(x, core.initial_state(b))
    y_cont, new_cont = core.step(x, state)
    rows = reset.squeeze(-1)
    torch.testing.assert_close(y[rows], y_fresh[rows])
    torch.testing.assert_close(y[~rows], y_cont[~rows])
    for s, f, c in zip(new, new_fresh, new_cont):
        torch.testing.assert_close(s[rows], f[rows])
        torch.testing.assert_close(s[~rows], c[~rows])
    assert not torch.allclose(y_fresh, y_cont)  # the reset changed something


@pytest.mark.parametrize("name", sorted(CORES))
def test_reset_inside_a_sequence_starts_a_fresh_sequence(name):
    """After the is_init step the outputs are those of a new sequence from the initial state."""
    core = CORES[name]()
    b, t, k = 2, 9, 4
    x = torch.randn(b, t, 3)
    is_init = torch.zeros(b, t, 1, dtype=torch.bool)
    is_init[:, k] = True
    y, final = core.sequence(x, _random_state(core, b), is_init)
    y_fresh, final_fresh = core.sequence(x[:, k:], core.initial_state(b))
    torch.testing.assert_close(y[:, k:], y_fresh, atol=1e-6, rtol=1e-5)
    for a, e in zip(final, final_fresh):
        torch.testing.assert_close(a, e, atol=1e-6, rtol=1e-5)


def test_lstm_core_matches_torch_lstm_cell_weights():
    core = LSTMCore(3, 8)
    cell = nn.LSTMCell(3, 8)
    with torch.no_grad():
        cell.weight_ih.copy_(core.rnn.weight_ih_l0)
        cell.weight_hh.copy_(core.rnn.weight_hh_l0)
        cell.bias_ih.copy_(core.rnn.bias_ih_l0)
        cell.bias_hh.copy_(core.rnn.bias_hh_l0)
    x, h, c = torch.randn(4, 3), torch.randn(4, 8), torch.randn(4, 8)
    y, (h2, c2) = core.step(x, (h.unsqueeze(1), c.unsqueeze(1)))
    h_ref, c_ref = cell(x, (h, c))
    torch.testing.assert_close(y, h_ref)
    torch.testing.assert_close(c2[:, 0], c_ref)


def test_block_gru_with_one_block_equals_torch_gru_cell_over_a_sequence():
    torch.manual_seed(3)
    cell = nn.GRUCell(5, 12)
    block = BlockGRU(5, 12, n_blocks=1)
    with torch.no_grad():
        block.weight_ih.copy_(cell.weight_ih)
        block.weight_hh[0].copy_(cell.weight_hh)
        block.bias_ih.copy_(cell.bias_ih)
        block.bias_hh.copy_(cell.bias_hh)
    x = torch.randn(6, 20, 5)
    h = torch.randn(6, 12)
    expected = []
    h_ref = h
    for t in range(20):
        h_ref = cell(x[:, t], h_ref)
        expected.append(h_ref)
    expected = torch.stack(expected, 1)
    y, (h_last,) = block.sequence(x, (h,))
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h_last, h_ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(block(x[:, 0], h), cell(x[:, 0], h))


@pytest.mark.parametrize("n_blocks", [1, 2, 4, 8])
def test_block_gru_parameter_count_falls_by_the_block_factor(n_blocks):
    inp, hidden = 16, 64
    block = BlockGRU(inp, hidden, n_blocks)
    cell = nn.GRUCell(inp, hidden)
    assert block.weight_hh.numel() * n_blocks == cell.weight_hh.numel() == 3 * hidden * hidden
    assert block.weight_ih.numel() == cell.weight_ih.numel()
    total = sum(p.numel() for p in block.parameters())
    assert total == 3 * hidden * inp + 3 * hidden * hidden // n_blocks + 6 * hidden
    if n_blocks == 1:
        assert total == sum(p.numel() for p in cell.parameters())


def test_block_gru_blocks_are_independent_through_the_recurrence():
    """Block k of the next state reads only block k of the previous state (and the whole input)."""
    block = BlockGRU(3, 12, n_blocks=3)
    x = torch.randn(2, 3)
    h = torch.randn(2, 12)
    h2 = h.clone()
    h2[:, :4] += 1.0  # perturb block 0 only
    out, out2 = block(x, h), block(x, h2)
    assert not torch.allclose(out[:, :4], out2[:, :4])
    torch.testing.assert_close(out[:, 4:], out2[:, 4:])
    # the input reaches every block
    out3 = block(x + 1.0, h)
    assert not torch.allclose(out[:, 4:], out3[:, 4:])


def test_block_gru_equals_a_gru_cell_with_a_block_diagonal_matrix():
    block = BlockGRU(4, 6, n_blocks=2)
    cell = nn.GRUCell(4, 6)
    k = block.block_size
    dense = torch.zeros(18, 6)
    for g in range(2):
        for gate in range(3):  # rows of gate `gate` for block g: W_hh[g] rows gate*k:(gate+1)*k
            dense[gate * 6 + g * k : gate * 6 + (g + 1) * k, g * k : (g + 1) * k] = block.weight_hh[
                g, gate * k : (gate + 1) * k
            ]
    with torch.no_grad():
        cell.weight_ih.copy_(block.weight_ih)
        cell.weight_hh.copy_(dense)
        cell.bias_ih.copy_(block.bias_ih)
        cell.bias_hh.copy_(block.bias_hh)
    x, h = torch.randn(5, 4), torch.randn(5, 6)
    torch.testing.assert_close(block(x, h), cell(x, h))


def test_make_core_and_argument_errors():
    assert isinstance(make_core("lstm", 2, 4), LSTMCore)
    assert isinstance(make_core("gru", 2, 4, num_layers=2), GRUCore)
    assert make_core("block_gru", 2, 4, n_blocks=2).n_blocks == 2
    with pytest.raises(ValueError, match="kind must be"):
        make_core("rnn", 2, 4)
    with pytest.raises(ValueError, match="not divisible by n_blocks"):
        BlockGRU(2, 10, n_blocks=3)
    with pytest.raises(ValueError, match="hidden_size must be >= 1"):
        LSTMCore(2, 0)
    with pytest.raises(ValueError, match=r"x must be \[B, T, 3\]"):
        LSTMCore(3, 4).sequence(torch.zeros(2, 3), LSTMCore(3, 4).initial_state(2))
    core = GRUCore(3, 4)
    with pytest.raises(ValueError, match=r"is_init must be \[B, T, 1\]"):
        core.sequence(torch.zeros(2, 5, 3), core.initial_state(2), torch.zeros(2, 5, dtype=torch.bool))


# ------------------------------------------------------------------------------ actor and critic


def _actor_critic(core: str = "lstm") -> RecurrentActorCritic:
    torch.manual_seed(0)
    return make_recurrent_actor_critic(
        gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(3), core=core, hidden_size=8, head_cells=(8,)
    )


def _run(policy: RecurrentActorCritic, obs: torch.Tensor, is_init: torch.Tensor) -> TensorDict:
    """Steps ``policy`` over ``obs`` [B, T, 2] as a collector would; returns the stacked [B, T] steps."""
    b, t = obs.shape[:2]
    state = policy.initial_state(b)
    steps = []
    with torch.no_grad():
        for i in range(t):
            td = state.clone()
            td.batch_size = [b]
            td.set("observation", obs[:, i])
            td.set("is_init", is_init[:, i])
            td = policy(td)
            steps.append(td)
            state = td.get("next").select("recurrent_state")
    return torch.stack(steps, 1)


@pytest.mark.parametrize("core", ["lstm", "gru", "block_gru"])
def test_get_dist_on_a_sequence_reruns_the_core_from_the_stored_first_state(core):
    policy = _actor_critic(core)
    b, t = 3, 10
    obs = torch.randn(b, t, 2)
    is_init = torch.zeros(b, t, 1, dtype=torch.bool)
    is_init[:, 0] = True
    is_init[1, 6] = True
    rollout = _run(policy, obs, is_init)
    assert rollout.batch_size == (b, t)
    # the whole sequence from t = 0, and chunks of 5 from their own stored first states
    for td in (rollout, rollout.reshape(-1, 5)):
        log_prob = policy.get_dist(td).log_prob(td["action"]).unsqueeze(-1)
        torch.testing.assert_close(log_prob, td["action_log_prob"], atol=1e-5, rtol=1e-5)
        value = policy.critic(td.select(*policy.critic.in_keys))["state_value"]
        torch.testing.assert_close(value, td["state_value"], atol=1e-5, rtol=1e-5)
    # a flat batch: one step from each stored state
    flat = rollout.reshape(-1)
    log_prob = policy.get_dist(flat).log_prob(flat["action"]).unsqueeze(-1)
    torch.testing.assert_close(log_prob, flat["action_log_prob"], atol=1e-5, rtol=1e-5)


def test_gradient_flows_through_time_within_a_chunk_but_not_across_a_reset():
    policy = _actor_critic("lstm")
    b, t = 2, 6
    obs = torch.randn(b, t, 2)
    is_init = torch.zeros(b, t, 1, dtype=torch.bool)
    is_init[:, 0] = True
    is_init[1, 3] = True  # sub-env 1 starts a new episode at t = 3
    rollout = _run(policy, obs, is_init)
    td = rollout.clone()
    td["observation"] = obs.clone().requires_grad_(True)
    logits_last = policy.get_dist(td).logits[:, -1]
    logits_last.sum().backward()
    grad = td["observation"].grad
    assert grad[0, 0].abs().sum() > 0  # the last step of env 0 depends on its first observation
    assert grad[1, :3].abs().sum() == 0  # env 1's last step is in an episode that began at t = 3
    assert grad[1, 3].abs().sum() > 0


def test_stored_state_value_equals_the_critic_rerun_and_bootstraps_from_the_next_state():
    policy = _actor_critic("gru")
    b, t = 2, 7
    obs = torch.randn(b, t, 2)
    is_init = torch.zeros(b, t, 1, dtype=torch.bool)
    is_init[:, 0] = True
    is_init[0, 4] = True
    rollout = _run(policy, obs, is_init)
    rollout.set(("next", "observation"), torch.randn(b, t, 2))
    # the collector stores the episode-start state at is_init steps
    for key in policy.critic.state_keys:
        rollout.set(key, rollout.get(key).masked_fill(rollout["is_init"].unsqueeze(-1), 0.0))
    value_net = policy.value_network
    assert isinstance(value_net, StoredStateValue)
    with torch.no_grad():
        root = value_net(rollout.select(*value_net.in_keys))["state_value"]
        nxt = value_net(rollout.get("next").select(*value_net.in_keys))["state_value"]
        seq = policy.critic(rollout.select(*policy.critic.in_keys))["state_value"]
    torch.testing.assert_close(root, seq, atol=1e-5, rtol=1e-5)
    # the value of the next observation: one more core step from the state after step t
    critic = policy.critic
    state = tuple(rollout.get(("next", *k)) for k in critic.state_keys)
    with torch.no_grad():
        y, _ = critic.core.step(
            rollout["next", "observation"].reshape(-1, 2), tuple(s.reshape(b * t, *s.shape[2:]) for s in state)
        )
        expected = critic.head(y).reshape(b, t, 1)
    torch.testing.assert_close(nxt, expected)


def test_actor_critic_keys_initial_state_and_step_outputs():
    policy = _actor_critic()
    state = policy.initial_state(4)
    assert set(state.keys(include_nested=True, leaves_only=True)) == {
        ("recurrent_state", "actor", "h"),
        ("recurrent_state", "actor", "c"),
        ("recurrent_state", "critic", "h"),
        ("recurrent_state", "critic", "c"),
    }
    assert state.batch_size == (4,)
    assert state["recurrent_state", "actor", "h"].shape == (4, 1, 8)
    td = state.clone()
    td["observation"] = torch.randn(4, 2)
    td["is_init"] = torch.ones(4, 1, dtype=torch.bool)
    out = policy(td)
    for key in policy.out_keys:
        assert key in out.keys(include_nested=True), key
    assert out["action"].shape == (4,)
    assert out["action_log_prob"].shape == (4, 1)
    assert out["logits"].shape == (4, 3)
    assert out["state_value"].shape == (4, 1)
    assert "is_init" in policy.in_keys and ("recurrent_state", "critic", "c") in policy.in_keys
    with pytest.raises(ValueError, match="forward steps a TensorDict"):
        policy.actor(torch.stack([td, td], 1))
    missing = TensorDict({"observation": torch.zeros(4, 2), "is_init": torch.ones(4, 1, dtype=torch.bool)}, [4])
    with pytest.raises(KeyError, match="recurrent_state"):
        policy(missing)


def test_deterministic_interaction_takes_the_mode():
    from tensordict.nn import InteractionType, set_interaction_type

    policy = _actor_critic()
    td = policy.initial_state(5)
    td["observation"] = torch.randn(5, 2)
    td["is_init"] = torch.ones(5, 1, dtype=torch.bool)
    with set_interaction_type(InteractionType.DETERMINISTIC):
        out = policy(td.clone())
    assert torch.equal(out["action"], out["logits"].argmax(-1))


@pytest.mark.parametrize(
    ("action_space", "dist_keys"),
    [
        (gym.spaces.Discrete(4), ["logits"]),
        (gym.spaces.MultiDiscrete([2, 3]), ["logits"]),
        (gym.spaces.Box(-1, 1, (2,), np.float32), ["loc", "log_std"]),
    ],
)
def test_builder_covers_the_action_spaces(action_space, dist_keys):
    policy = make_recurrent_actor_critic(
        gym.spaces.Box(-1, 1, (3,), np.float32), action_space, core="gru", hidden_size=8, encoder_cells=(16,)
    )
    td = policy.initial_state(2)
    td["observation"] = torch.randn(2, 3)
    td["is_init"] = torch.ones(2, 1, dtype=torch.bool)
    out = policy(td)
    assert policy.actor.dist_keys == dist_keys
    assert out["action"].shape == (2, *action_space.shape)
    assert out["action_log_prob"].shape == (2, 1)


def test_builder_with_a_feed_forward_critic():
    policy = make_recurrent_actor_critic(
        gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2), recurrent_critic=False
    )
    assert not policy.recurrent_critic
    assert policy.value_network is policy.critic
    keys = set(policy.initial_state(2).keys(include_nested=True, leaves_only=True))
    assert keys == {("recurrent_state", "actor", "h"), ("recurrent_state", "actor", "c")}


def test_builder_rejects_bad_spaces():
    with pytest.raises(TypeError, match="flat Box observation"):
        make_recurrent_actor_critic(gym.spaces.Discrete(3), gym.spaces.Discrete(2))
    with pytest.raises(TypeError, match="unsupported action space"):
        make_recurrent_actor_critic(gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.MultiBinary(2))


def test_actor_and_value_classes_take_custom_state_names():
    actor = RecurrentActor(GRUCore(2, 4), nn.Linear(4, 2), state_name="pi")
    value = RecurrentValue(GRUCore(2, 4), nn.Linear(4, 1), state_name="vf")
    assert actor.state_keys == [("recurrent_state", "pi", "h")]
    assert value.state_keys == [("recurrent_state", "vf", "h")]
    assert ("next", "recurrent_state", "pi", "h") in actor.out_keys
    assert ("next", "recurrent_state", "vf", "h") in value.out_keys
