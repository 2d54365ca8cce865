"""VersusEnv: the learner's side of a two-player game, the opponent's moves inside the step."""

import pytest
import torch

from rl4py.collectors import SyncCollector
from rl4py.games import OpenSpielGame, VersusEnv


def _first_legal(td):
    return td["action_mask"].float().argmax(-1)


def _last_legal(td):
    mask = td["action_mask"].float()
    return mask.shape[-1] - 1 - mask.flip(-1).argmax(-1)


def test_learner_as_second_player_sees_the_opponents_move_and_gets_its_return():
    # tic-tac-toe, learner O (seat 1); the opponent (X) always takes the first free cell
    env = VersusEnv(OpenSpielGame("tic_tac_toe", num_games=1), ("first", _first_legal), learner_seat=1)
    td = env.reset(seed=0)
    assert td["action_mask"][0].tolist() == [False] + [True] * 8  # X took cell 0
    # O plays 4, X 1, O 8, X 2: X has the top row
    rewards = []
    for cell in (4, 8):
        td["action"] = torch.tensor([cell])
        out, td = env.step_and_reset(td)
        rewards.append(out["next", "reward"].item())
        done = out["next", "done"].item()
    assert rewards == [0.0, -1.0] and done
    assert {k: v.tolist() for k, v in env.pop_results().items()} == {"first": [-1.0]}
    assert td["action_mask"][0].tolist() == [False] + [True] * 8  # the next game started, X moved


def test_results_are_kept_per_opponent_and_the_learner_plays_both_seats():
    uniform = lambda td: torch.multinomial(td["action_mask"].float(), 1).squeeze(-1)  # noqa: E731
    env = VersusEnv(OpenSpielGame("kuhn_poker", num_games=32), ("a", uniform))
    env.set_opponents([("a", uniform)] * 16 + [("b", _first_legal)] * 16)
    collector = SyncCollector(env, None, rollout_length=40, seed=1)
    torch.manual_seed(0)
    rollout = collector.rollout()
    results = env.pop_results()
    assert set(results) == {"a", "b"}
    finished = int(rollout["next", "done"].sum())
    assert sum(len(r) for r in results.values()) == finished
    assert env.pop_results() == {}
    seats = set()
    for _ in range(5):
        env.reset()
        seats |= set(env.seat.tolist())
    assert seats == {0, 1}
    # the learner's return is the negative of the opponent's (zero-sum): Kuhn's are in {+-1, +-2}
    everything = torch.cat(list(results.values()))
    assert set(everything.abs().tolist()) <= {1.0, 2.0}


def test_against_a_fixed_opponent_the_rewards_match_the_game_returns():
    # a learner that always calls/bets against an opponent that always passes/folds wins every game
    # it can: in Kuhn, bet after the opponent's pass, or open with a bet the opponent folds to
    env = VersusEnv(OpenSpielGame("kuhn_poker", num_games=64), ("passive", _first_legal))
    td = env.reset(seed=2)
    total, games = 0.0, 0
    for _ in range(10):
        td["action"] = _last_legal(td)
        out, td = env.step_and_reset(td)
        total += float(out["next", "reward"].sum())
        games += int(out["next", "done"].sum())
    assert games > 0 and total == games  # +1 every game: the opponent folds to every bet


def test_opponents_are_swapped_only_between_games_and_state_resumes_exactly():
    env = VersusEnv(OpenSpielGame("kuhn_poker", num_games=8), ("x", _first_legal))
    td = env.reset(seed=0)
    env.set_opponents([("y", _last_legal)])
    assert [env.opponent_name(i) for i in range(8)] == ["x"] * 8  # games in play keep theirs
    td["action"] = _first_legal(td)
    out, td = env.step_and_reset(td)
    done = out["next", "done"].squeeze(-1)
    assert all(env.opponent_name(i) == ("y" if done[i] else "x") for i in range(8))
    saved = env.state_dict()
    restored = VersusEnv(OpenSpielGame("kuhn_poker", num_games=8), ("x", _first_legal))
    with pytest.raises(KeyError, match="not set"):
        restored.load_state_dict(saved)
    restored.register_opponent("y", _last_legal)
    restored.load_state_dict(saved)
    for _ in range(4):
        action = _last_legal(td)
        a, td = env.step_and_reset(td.set("action", action))
        b, _ = restored.step_and_reset(a.exclude("next").clone().set("action", action))
        assert torch.equal(a["next", "reward"], b["next", "reward"])
        assert torch.equal(a["next", "observation"], b["next", "observation"])


def test_bad_input_is_refused():
    game = OpenSpielGame("tic_tac_toe", num_games=2)
    with pytest.raises(TypeError, match="TwoPlayerGame"):
        VersusEnv("tic_tac_toe", ("x", _first_legal))
    with pytest.raises(TypeError, match="name, player"):
        VersusEnv(game, _first_legal)
    with pytest.raises(ValueError, match="learner_seat"):
        VersusEnv(game, ("x", _first_legal), learner_seat=2)
    env = VersusEnv(game, ("x", _first_legal), learner_seat=0)
    with pytest.raises(ValueError, match="expected 1 or 2 opponents"):
        env.set_opponents([("x", _first_legal)] * 3)
    td = env.reset(seed=0)
    td["action"] = torch.tensor([4, 4])
    _, td = env.step_and_reset(td)
    td["action"] = torch.tensor([4, 5])  # cell 4 is taken in game 0
    with pytest.raises(ValueError, match="illegal in game 0"):
        env.step_and_reset(td)
    with pytest.raises(ValueError, match="must return"):
        VersusEnv(OpenSpielGame("tic_tac_toe", num_games=2), ("bad", lambda td: torch.zeros(3)), learner_seat=1).reset()
