"""The OpenSpiel adapter against pyspiel itself, and exploitability against OpenSpiel's published values."""

import pyspiel
import pytest
import torch
from tensordict import TensorDict

from rl4py.games import OpenSpielGame, exploitability, make_game, tabular_policy


def _uniform(td: TensorDict) -> torch.Tensor:
    mask = td["action_mask"].double()
    return mask / mask.sum(-1, keepdim=True)


def test_kuhn_views_masks_and_returns_match_pyspiel_move_for_move():
    games = OpenSpielGame("kuhn_poker", num_games=16)
    td = games.reset(seed=3)
    generator = torch.Generator().manual_seed(0)
    while not bool(td["terminal"].all()):
        running = ~td["terminal"]
        for i in running.nonzero().flatten().tolist():
            state = games._states[i]
            assert td["current_player"][i] == state.current_player()
            assert td["action_mask"][i].nonzero().flatten().tolist() == state.legal_actions()
            assert td["observation"][i].tolist() == state.information_state_tensor(state.current_player())
        action = torch.multinomial(td["action_mask"].float() + 1e-9 * ~running.unsqueeze(-1), 1, generator=generator)
        td = games.step(action.squeeze(-1), running)
    returns = torch.tensor([games._states[i].returns() for i in range(16)], dtype=torch.float32)
    torch.testing.assert_close(td["returns"], returns)
    assert (td["returns"].sum(-1) == 0).all() and (td["current_player"] == -1).all()
    assert not td["action_mask"].any()


def test_deals_are_seeded_and_cover_every_card_pair():
    first = OpenSpielGame("kuhn_poker", num_games=600)
    again = OpenSpielGame("kuhn_poker", num_games=600)
    a, b = first.reset(seed=7), again.reset(seed=7)
    assert torch.equal(a["observation"], b["observation"])
    deals = {tuple(s.history()[:2]) for s in first._states}
    assert deals == {(i, j) for i in range(3) for j in range(3) if i != j}
    assert not torch.equal(a["observation"], OpenSpielGame("kuhn_poker", num_games=600).reset(seed=8)["observation"])


def test_reset_games_restarts_only_the_selected_games_and_resume_is_exact():
    games = OpenSpielGame("leduc_poker", num_games=6)
    games.reset(seed=0)
    games.step(torch.ones(6, dtype=torch.int64))  # everybody calls
    before = [list(s.history()) for s in games._states]
    where = torch.tensor([True, False, True, False, False, False])
    games.reset_games(where)
    after = [list(s.history()) for s in games._states]
    assert [after[i] == before[i] for i in range(6)] == [False, True, False, True, True, True]
    saved = games.state_dict()
    restored = OpenSpielGame("leduc_poker", num_games=6)
    restored.load_state_dict(saved)
    for _ in range(3):
        action = torch.full((6,), 1, dtype=torch.int64)
        x, y = games.step(action), restored.step(action)
        assert torch.equal(x["observation"], y["observation"]) and torch.equal(x["returns"], y["returns"])
        games.reset_games(x["terminal"])
        restored.reset_games(y["terminal"])


def test_bad_actions_and_games_raise_clear_errors():
    games = OpenSpielGame("tic_tac_toe", num_games=2)
    td = games.reset(seed=0)
    assert td["observation"].shape == (2, 27)  # observation tensor, flattened: no information states
    games.step(torch.tensor([4, 4]))
    with pytest.raises(ValueError, match="action 4 is illegal in game 0"):
        games.step(torch.tensor([4, 0]))
    with pytest.raises(ValueError, match=r"'action' must be a \[2\] int64"):
        games.step(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="'where' must be a"):
        games.reset_games(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="OpenSpiel has no game"):
        OpenSpielGame("no_such_game")
    with pytest.raises(ValueError, match="has 3 players"):
        OpenSpielGame("kuhn_poker(players=3)")
    with pytest.raises(ValueError, match="not turn-based"):
        OpenSpielGame("matrix_rps")


def test_stepping_a_finished_game_is_refused():
    games = OpenSpielGame("kuhn_poker", num_games=1)
    games.reset(seed=0)
    games.step(torch.tensor([1]))
    games.step(torch.tensor([1]))  # bet, call: over
    with pytest.raises(ValueError, match="game 0 is over"):
        games.step(torch.tensor([0]), torch.tensor([True]))


@pytest.mark.parametrize(("game", "expected"), [("kuhn_poker", 0.458333), ("leduc_poker", 2.373611)])
def test_uniform_play_has_openspiels_exploitability(game, expected):
    assert exploitability(game, _uniform) == pytest.approx(expected, abs=1e-5)


def test_exploitability_of_a_known_kuhn_equilibrium_is_zero():
    # Kuhn's family of equilibria at alpha = 1/3 (OpenSpiel's kuhn_poker tests use the same policy)
    game = pyspiel.load_game("kuhn_poker")
    table = tabular_policy(game, _uniform)
    nash = {}
    for state in table.states:
        key = state.information_state_string()
        card, history = int(key[0]), key[1:]
        alpha = 1 / 3
        bet = {  # probability of action 1 (bet / call) at each of the 12 information states
            "": [alpha, 0.0, 3 * alpha][card],
            "p": [1 / 3, 0.0, 1.0][card],
            "b": [0.0, 1 / 3, 1.0][card],
            "pb": [0.0, alpha + 1 / 3, 1.0][card],
        }[history]
        nash[key] = bet

    def policy(td: TensorDict) -> torch.Tensor:
        rows = []
        for view in td["observation"]:
            state = next(s for s in table.states if s.information_state_tensor() == view.tolist())
            p = nash[state.information_state_string()]
            rows.append([1 - p, p])
        return torch.tensor(rows, dtype=torch.float64)

    assert exploitability(game, policy) == pytest.approx(0.0, abs=1e-9)
    # a uniform mixture of the equilibrium and uniform play sits in between
    mixed = exploitability(game, [policy, _uniform])
    assert 0.0 < mixed < 0.458


def test_tabular_policy_refuses_bad_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        tabular_policy("kuhn_poker", lambda td: torch.full(td["action_mask"].shape, 0.3))
    with pytest.raises(ValueError, match="expected"):
        tabular_policy("kuhn_poker", lambda td: torch.ones(td.batch_size[0], 3) / 3)
    with pytest.raises(ValueError, match="information-state"):
        tabular_policy("tic_tac_toe", _uniform)
    with pytest.raises(ValueError, match="weights must be 2"):
        exploitability("kuhn_poker", [_uniform, _uniform], weights=[1.0])


def test_make_game_falls_back_to_openspiel():
    game = make_game("kuhn_poker", num_games=3)
    assert isinstance(game, OpenSpielGame) and game.num_games == 3 and game.num_actions == 2
    with pytest.raises(ValueError, match="native games only"):
        make_game("kuhn_poker", num_games=1, rows=4)


def test_expected_payoff_is_exact_and_antisymmetric():
    from rl4py.games import expected_payoff

    uniform = tabular_policy("kuhn_poker", _uniform)
    always_bet = tabular_policy(
        "kuhn_poker", lambda td: torch.stack([torch.zeros(td.batch_size[0]), torch.ones(td.batch_size[0])], -1)
    )
    assert expected_payoff("kuhn_poker", uniform, uniform) == pytest.approx(0.0, abs=1e-12)
    # always bet / call against uniform play: hand-checked over the 6 deals and both seats
    assert expected_payoff("kuhn_poker", always_bet, uniform) == pytest.approx(0.375, abs=1e-9)
    assert expected_payoff("kuhn_poker", uniform, always_bet) == pytest.approx(-0.375, abs=1e-9)
