"""Batched matches: random play against the exact tic-tac-toe odds, MCTS against random, seat swapping,
and the players (policy, random, search) against hand-computed references."""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import pytest
import torch
from tensordict import TensorDict
from torch import nn

from rl4py.games import (
    ConnectFour,
    MatchResult,
    TicTacToe,
    play_match,
    policy_player,
    random_player,
    search_player,
)
from rl4py.games.arena import _tictactoe_states
from rl4py.modules import MaskedCategorical, ProbabilisticActor
from rl4py.planning import TicTacToeGame
from rl4py.testing import shift_seed

MODEL = TicTacToeGame()


@cache
def exact_outcomes(state) -> tuple[Fraction, Fraction, Fraction]:
    """The probabilities that X wins, the game is drawn, O wins, under uniformly random play from ``state``."""
    if MODEL.is_terminal(state):
        r = MODEL.returns(state)[0]
        return (Fraction(r == 1), Fraction(r == 0), Fraction(r == -1))
    actions = MODEL.legal_actions(state)
    outcomes = [exact_outcomes(MODEL.apply(state, a)) for a in actions]
    return tuple(sum(o[i] for o in outcomes) / len(actions) for i in range(3))


def first_legal(td: TensorDict) -> torch.Tensor:
    """A deterministic player: the lowest legal action."""
    return td["action_mask"].long().argmax(-1)


def test_random_against_random_matches_the_exact_odds():
    x_wins, draws, o_wins = exact_outcomes(MODEL.initial_state())
    assert (x_wins, draws, o_wins) == (Fraction(737, 1260), Fraction(8, 63), Fraction(121, 420))  # 0.585, 0.127, 0.288
    result = play_match(TicTacToe(num_games=2500), random_player(shift_seed(0)), random_player(shift_seed(1)), 10_000)
    assert result.num_games == 10_000 and sum(result.by_seat[0]) == sum(result.by_seat[1]) == 5_000
    # 5000 games per seat: the standard errors are ~0.007 (wins) and ~0.005 (draws); margins of 4 - 5 of them
    assert result.seat_win_rate(0) == pytest.approx(float(x_wins), abs=0.03)
    assert result.seat_win_rate(1) == pytest.approx(float(o_wins), abs=0.03)
    assert result.draw_rate == pytest.approx(float(draws), abs=0.025)
    assert result.win_rate == pytest.approx((float(x_wins) + float(o_wins)) / 2, abs=0.025)
    assert result.score == pytest.approx(0.5, abs=0.025)


def test_a_match_is_reproducible_from_the_players_seeds():
    def match(seed0: int, seed1: int) -> MatchResult:
        return play_match(TicTacToe(num_games=64), random_player(seed0), random_player(seed1), 200)

    assert match(5, 6) == match(5, 6)
    assert match(5, 6) != match(5, 7)


def test_mcts_with_200_simulations_beats_random():
    # it wins ~94% (99% moving first, 89% second; 2000 games): 400 games put 0.9 over 3 standard errors below
    mcts, rand = search_player(200, seed=shift_seed(0)), random_player(shift_seed(1))
    result = play_match(TicTacToe(num_games=200), mcts, rand, 400)
    assert result.num_games == 400 and result.win_rate >= 0.9, result
    assert result.seat_win_rate(0) >= 0.95 and result.loss_rate <= 0.03, result


@pytest.mark.parametrize(("batch", "num_games"), [(10, 10), (6, 10), (64, 20)])
def test_each_player_plays_each_seat_in_half_the_games(batch, num_games):
    # lowest-legal-cell against itself: whoever moves first wins on the diagonal 2-4-6 (X0 O1 X2 O3 X4 O5 X6)
    calls = {"player0": 0, "player1": 0}

    def recording(name):
        def act(td):
            assert bool((td["current_player"] >= 0).all()) and bool(td["action_mask"].any(-1).all())
            calls[name] += td.batch_size[0]
            return first_legal(td)

        return act

    result = play_match(TicTacToe(num_games=batch), recording("player0"), recording("player1"), num_games)
    half = num_games // 2
    assert result == MatchResult(wins=half, draws=0, losses=half, by_seat=((half, 0, 0), (0, 0, half)))
    assert result.seat_win_rate(0) == 1.0 and result.seat_win_rate(1) == 0.0 and result.score == 0.5
    assert calls == {"player0": 7 * num_games // 2, "player1": 7 * num_games // 2}  # 4 + 3 moves per game


def test_seats_swap_in_connect_four_too():
    # always column 0 against always column 1: the first mover stacks four in its column first
    def column(c):
        return lambda td: torch.full((td.batch_size[0],), c, dtype=torch.int64)

    result = play_match(ConnectFour(num_games=4), column(0), column(1), 8)
    assert result.by_seat == ((4, 0, 0), (0, 0, 4))


def test_match_errors():
    game = TicTacToe(num_games=4)
    with pytest.raises(ValueError, match="num_games must be a positive even int .* got 3"):
        play_match(game, first_legal, first_legal, 3)
    with pytest.raises(TypeError, match="player1 must be callable"):
        play_match(game, first_legal, "random", 4)
    with pytest.raises(TypeError, match="game must be a TwoPlayerGame, got TicTacToeGame"):
        play_match(MODEL, first_legal, first_legal, 4)
    with pytest.raises(ValueError, match=r"player1 must return a \[2\] integer tensor .* got \(2, 1\) torch.int64"):
        play_match(game, first_legal, lambda td: first_legal(td).unsqueeze(-1), 4)
    with pytest.raises(ValueError, match=r"player0 must return .* got \(2,\) torch.float32"):
        play_match(game, lambda td: first_legal(td).float(), first_legal, 4)
    with pytest.raises(ValueError, match=r"player0 must return .* under 'action', got NoneType"):
        play_match(game, lambda td: td, first_legal, 4)
    with pytest.raises(ValueError, match="action 0 is illegal in game"):
        play_match(game, first_legal, lambda td: torch.zeros(td.batch_size[0], dtype=torch.int64), 4)
    result = play_match(game, first_legal, first_legal, 4)
    with pytest.raises(ValueError, match="seat must be 0 .* or 1"):
        result.seat_win_rate(2)


def test_random_player_is_uniform_over_legal_actions_and_seeded():
    mask = torch.tensor([[True, False, True, True, False]]).expand(30_000, 5)
    td = TensorDict({"action_mask": mask}, [30_000])
    actions = random_player(shift_seed(3))(td)
    counts = torch.bincount(actions, minlength=5) / 30_000
    assert counts[[1, 4]].tolist() == [0.0, 0.0]
    assert torch.allclose(counts[[0, 2, 3]], torch.full((3,), 1 / 3), atol=0.015)
    assert torch.equal(random_player(7)(td), random_player(7)(td))
    assert not torch.equal(random_player(7)(td), random_player(8)(td))
    with pytest.raises(ValueError, match="a game has no legal action"):
        random_player(0)(TensorDict({"action_mask": torch.zeros(1, 3, dtype=torch.bool)}, [1]))
    with pytest.raises(TypeError, match="generator must be a torch.Generator, an int seed or None"):
        random_player("0")


def masked_actor() -> ProbabilisticActor:
    linear = nn.Linear(27, 9)
    with torch.no_grad():
        linear.weight.normal_(0.0, 1.0)
    return ProbabilisticActor(linear, distribution_class=MaskedCategorical, dist_in_keys={"mask": "action_mask"})


def test_policy_player_greedy_and_sampled_against_the_logits():
    actor = masked_actor()
    game = TicTacToe(num_games=8)
    td = game.reset()
    game.step(torch.arange(8))
    td = game.observe()
    logits = actor.module(td["observation"]).detach()
    masked = logits.masked_fill(~td["action_mask"], float("-inf"))
    greedy = policy_player(actor)(td)
    assert torch.equal(greedy, masked.argmax(-1))
    assert bool(td["action_mask"].gather(1, greedy.unsqueeze(-1)).all())
    # sampled: one position 20000 times, the frequencies are the masked softmax
    one = td[:1].expand(20_000).clone()
    sampled = policy_player(actor, greedy=False, generator=shift_seed(4))(one)
    frequencies = torch.bincount(sampled, minlength=9) / 20_000
    assert torch.allclose(frequencies, masked[0].softmax(-1), atol=0.015)
    assert frequencies[0] == 0.0  # cell 0 is taken in game 0
    again = policy_player(actor, greedy=False, generator=shift_seed(4))(one)
    assert torch.equal(sampled, again)
    assert "action" not in td  # the caller's TensorDict is left alone


def test_an_actor_plays_directly_and_int32_actions_are_taken():
    # an rl4py actor writes "action" into the TensorDict and returns it: play_match reads it there
    actor = masked_actor()
    result = play_match(TicTacToe(num_games=16), actor, lambda td: first_legal(td).int(), 32)
    assert result.num_games == 32 and sum(result.by_seat[0]) == sum(result.by_seat[1]) == 16
    # greedy through policy_player: the same moves every game, so each seat's 16 games end alike
    result = play_match(TicTacToe(num_games=16), policy_player(actor), first_legal, 32)
    assert sorted(max(row) for row in result.by_seat) == [16, 16]


def test_policy_player_errors():
    with pytest.raises(TypeError, match="actor must be an nn.Module"):
        policy_player(lambda td: td)
    with pytest.raises(TypeError, match="sampled actions need an actor with get_dist"):
        policy_player(nn.Linear(27, 9), greedy=False)


def test_tictactoe_states_from_native_boards():
    game = TicTacToe(num_games=3)
    td = game.reset()
    generator = torch.Generator().manual_seed(shift_seed(5))
    for _ in range(5):
        td = game.step(torch.rand(3, 9, generator=generator).masked_fill(~td["action_mask"], -1).argmax(-1))
    td = game.observe()
    live = (~td["terminal"]).nonzero().flatten()
    states = _tictactoe_states(td[live])
    for i, state in zip(live.tolist(), states):
        assert list(state.board) == game.board[i].tolist() and state.player == int(td["current_player"][i])
    with pytest.raises(ValueError, match=r"search_player plays tic-tac-toe: expected \[n, 27\] .* got \[2, 126\]"):
        search_player(10, seed=0)(ConnectFour(num_games=2).reset())


def test_search_player_takes_the_winning_move_in_either_seat():
    game = TicTacToe(num_games=2)
    game.reset()
    for cells in ([0, 0], [3, 3], [1, 1], [4, 4]):
        game.step(torch.tensor(cells))
    td = game.step(torch.tensor([0, 6]), where=torch.tensor([False, True]))
    # game 0: XX. OO. ... with X to move; game 1: XX. OO. X.. with O to move
    assert td["current_player"].tolist() == [0, 1]
    assert search_player(200, seed=shift_seed(6))(td).tolist() == [2, 5]
