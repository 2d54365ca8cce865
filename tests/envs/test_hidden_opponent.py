"""rl4py.envs.HiddenOpponent: rewards, scouting, truncation, move frequencies, Bayes accuracy, checkpoints."""

from __future__ import annotations

import pytest
import torch

from rl4py.envs import OPPONENT, OPPONENT_STYLE, HiddenOpponent


def test_commit_pays_one_exactly_for_the_hidden_style_and_terminates() -> None:
    env = HiddenOpponent(num_envs=300, num_styles=3)
    env.reset_tensors(seed=0)
    style = env.style.clone()
    action = torch.arange(300) % 3
    out = env.step_tensors(action)
    torch.testing.assert_close(out.next["reward"].squeeze(-1), (action == style).float())
    assert out.next["terminated"].all() and not out.next["truncated"].any()
    assert torch.equal(out.next[OPPONENT_STYLE], style)
    # every sub-env restarted: a fresh style and one move seen
    assert torch.equal(out.root[OPPONENT].sum(-1), torch.ones(300))


def test_scouting_reveals_one_move_per_step_costs_and_truncates() -> None:
    env = HiddenOpponent(num_envs=4, max_scouts=3, scout_cost=0.05)
    td = env.reset_tensors(seed=1)
    assert torch.equal(td[OPPONENT].sum(-1), torch.ones(4))
    scout = torch.full((4,), env.scout_action)
    for t in range(1, 4):
        out = env.step_tensors(scout)
        torch.testing.assert_close(out.next["reward"], torch.full((4, 1), -0.05))
        assert torch.equal(out.next[OPPONENT].sum(-1), torch.full((4,), 1.0 + t))
        torch.testing.assert_close(out.next["observation"], torch.full((4, 1), t / 3))
        assert bool(out.next["truncated"].all()) == (t == 3) and not out.next["terminated"].any()
    assert torch.equal(out.root["observation"], torch.zeros(4, 1))


def test_moves_show_the_style_with_probability_tell() -> None:
    env = HiddenOpponent(num_envs=64, num_styles=4, tell=0.55, max_scouts=10)
    features, styles = env.scouting_data(200, seed=2)
    assert features.shape == (64 * 200, 4) and styles.shape == (64 * 200,)
    # the roots that saw 10 moves: the fraction of the style's own moves among them is tell
    last = features.sum(-1) == 10
    full = features[last]
    own = full.gather(1, styles[last].unsqueeze(-1)).sum() / full.sum()
    assert float(own) == pytest.approx(0.55, abs=0.02)


def test_bayes_accuracy_against_hand_values() -> None:
    env = HiddenOpponent(num_styles=2, tell=0.8)
    assert env.bayes_accuracy(1) == pytest.approx(0.8)
    # three moves, two styles: the majority is right unless two or more moves lie: 0.8^3 + 3 * 0.8^2 * 0.2
    assert env.bayes_accuracy(3) == pytest.approx(0.896)
    three = HiddenOpponent(num_styles=3, tell=0.7)
    assert three.bayes_accuracy(1) == pytest.approx(0.7)
    assert three.bayes_accuracy(1) <= three.bayes_accuracy(3) <= three.bayes_accuracy(6) < 1


def test_checkpoint_continues_exactly_and_bad_input_is_refused() -> None:
    env = HiddenOpponent(num_envs=8)
    env.reset_tensors(seed=3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        env.step_tensors(torch.randint(0, 4, (8,), generator=gen))
    twin = HiddenOpponent(num_envs=8)
    twin.load_state_dict(env.state_dict())
    for _ in range(6):
        action = torch.randint(0, 4, (8,), generator=gen)
        a, b = env.step_tensors(action), twin.step_tensors(action)
        assert torch.equal(a.next[OPPONENT], b.next[OPPONENT]) and torch.equal(a.next["reward"], b.next["reward"])
    with pytest.raises(ValueError, match="tell must be in"):
        HiddenOpponent(num_styles=3, tell=0.3)
    with pytest.raises(ValueError, match="num_styles must be an int >= 2"):
        HiddenOpponent(num_styles=1)
    with pytest.raises(ValueError, match="max_scouts must be an int >= 1"):
        HiddenOpponent(max_scouts=0)
    with pytest.raises(ValueError, match="expected \\(8,\\)"):
        HiddenOpponent(num_envs=8).load_state_dict({**env.state_dict(), "style": torch.zeros(3, dtype=torch.int64)})
