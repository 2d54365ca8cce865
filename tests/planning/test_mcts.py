"""MCTS (UCT and PUCT) on games with known answers: a one-step bandit, tic-tac-toe, drafts against the exact solver."""

from __future__ import annotations

import random

import pytest
import torch

from rl4py.planning import MCTS, DraftingGame, SearchGame, TicTacToeGame
from rl4py.testing import shift_seed


class Bandit:
    """One move by player 0 among ``len(values)`` arms, then the game ends with return ``values[arm]``.

    With ``num_players=2`` the returns are ``(v, -v)``; state ``None`` is the root, ``arm`` the end.
    """

    def __init__(self, values: list[float], num_players: int = 1, legal: list[int] | None = None) -> None:
        self.values = values
        self.num_players = num_players
        self.num_actions = len(values)
        self.legal = list(range(len(values))) if legal is None else legal

    def current_player(self, state):
        return 0

    def legal_actions(self, state):
        return self.legal

    def apply(self, state, action):
        return action

    def is_terminal(self, state):
        return state is not None

    def returns(self, state):
        v = self.values[state]
        return (v,) if self.num_players == 1 else (v, -v)


class ThreePlayers:
    """Player 0 stops (returns ``(1, 0, 0)``) or passes to player 1, who ends with ``(2, -1, 0)`` or ``(0, 1, 0)``.

    Player 1 prefers the second, so player 0 should stop (1 > 0), though the tree holds a 2 for it.
    """

    num_players = 3
    num_actions = 2

    def current_player(self, state):
        return len(state)

    def legal_actions(self, state):
        return [0, 1]

    def apply(self, state, action):
        return (*state, action)

    def is_terminal(self, state):
        return state == (0,) or len(state) == 2

    def returns(self, state):
        return {(0,): (1.0, 0.0, 0.0), (1, 0): (2.0, -1.0, 0.0), (1, 1): (0.0, 1.0, 0.0)}[state]


def zero_value(prior: list[float]):
    return lambda state: (torch.tensor(prior), 0.0)


def uniform_evaluator(game):
    return lambda state: (torch.full((game.num_actions,), 1.0 / game.num_actions), 0.0)


# ---------------------------------------------------------------- bandits and basics


def test_protocol_is_runtime_checkable():
    assert isinstance(TicTacToeGame(), SearchGame)
    assert isinstance(DraftingGame.random(6, 2), SearchGame)
    assert isinstance(Bandit([0.0, 1.0]), SearchGame)


def test_uct_on_a_bandit_visits_the_arms_in_the_order_of_their_values():
    game = Bandit([0.1, 0.5, 0.9, 0.3])
    result = MCTS(game, simulations=1000, seed=shift_seed(0)).search(None)
    assert result.action == 2
    visits = result.visit_counts.tolist()
    assert visits[2] > 0.7 * 1000
    assert visits[2] > visits[1] > visits[3] > visits[0] > 0  # every arm tried, worse arms less
    assert torch.allclose(result.q_values, torch.tensor([0.1, 0.5, 0.9, 0.3]))  # deterministic returns
    expected_root = sum(v * n for v, n in zip(game.values, visits)) / 1000
    assert result.root_value == pytest.approx(expected_root)


@pytest.mark.parametrize("puct", [False, True])
def test_visit_counts_sum_to_the_simulations(puct: bool):
    game = TicTacToeGame()
    mcts = MCTS(game, simulations=137, evaluator=uniform_evaluator(game) if puct else None, seed=shift_seed(1))
    result = mcts.search(game.initial_state())
    assert int(result.visit_counts.sum()) == 137 == result.root.visits
    assert result.visit_counts.dtype == torch.int64 and result.visit_counts.shape == (9,)
    assert result.visit_counts[result.action] == result.visit_counts.max()


def test_legal_actions_only_are_visited_and_primed():
    game = Bandit([5.0, 1.0, 9.0, 2.0], legal=[1, 3])
    for evaluator in (None, zero_value([0.25] * 4)):
        result = MCTS(game, simulations=50, evaluator=evaluator, seed=shift_seed(2)).search(None)
        assert result.visit_counts[[0, 2]].tolist() == [0, 0]
        assert result.priors[[0, 2]].tolist() == [0.0, 0.0]
        assert result.priors[[1, 3]].sum().item() == pytest.approx(1.0)
        assert result.action == 3


def test_legal_actions_may_be_a_bool_mask():
    class Masked(Bandit):
        def legal_actions(self, state):
            return torch.tensor([False, True, False, True])

    result = MCTS(Masked([5.0, 1.0, 9.0, 2.0]), simulations=20, seed=shift_seed(2)).search(None)
    assert result.visit_counts[[0, 2]].tolist() == [0, 0] and result.action == 3

    class MaskedTicTacToe(TicTacToeGame):  # the rollouts read the mask too
        def legal_actions(self, state):
            return torch.tensor([cell == 0 for cell in state.board])

    game = MaskedTicTacToe()
    result = MCTS(game, simulations=300, seed=shift_seed(2)).search(game.state_from_string("XX. OO. ..."))
    assert result.action == 2


def test_same_seed_same_search_different_seeds_differ():
    game = TicTacToeGame()
    state = game.initial_state()
    first = MCTS(game, simulations=60, seed=shift_seed(3)).search(state)
    again = MCTS(game, simulations=60, seed=shift_seed(3)).search(state)
    assert torch.equal(first.visit_counts, again.visit_counts) and first.root_value == again.root_value
    others = [MCTS(game, simulations=60, seed=shift_seed(3) + k).search(state).visit_counts for k in range(1, 6)]
    assert any(not torch.equal(first.visit_counts, other) for other in others)


def test_the_stream_continues_across_searches():
    game = TicTacToeGame()
    mcts = MCTS(game, simulations=60, seed=shift_seed(4))
    a, b = mcts.search(game.initial_state()), mcts.search(game.initial_state())
    c = MCTS(game, simulations=60, seed=shift_seed(4)).search(game.initial_state())
    assert torch.equal(a.visit_counts, c.visit_counts)
    assert a.root_value != b.root_value  # the second search drew other rollouts


def test_an_unseeded_search_follows_torch_global_seed():
    game = TicTacToeGame()
    torch.manual_seed(shift_seed(5))
    first = MCTS(game, simulations=40).search(game.initial_state())
    torch.manual_seed(shift_seed(5))
    assert torch.equal(first.visit_counts, MCTS(game, simulations=40).search(game.initial_state()).visit_counts)


def test_puct_with_a_uniform_prior_and_zero_value_behaves_like_uct_on_a_bandit():
    game = Bandit([0.1, 0.5, 0.9, 0.3])
    uct = MCTS(game, simulations=400, seed=shift_seed(6)).search(None)
    puct = MCTS(game, simulations=400, evaluator=uniform_evaluator(game), seed=shift_seed(6)).search(None)
    for result in (uct, puct):
        assert result.action == 2
        assert (result.visit_counts > 0).all()  # every arm tried
        assert result.visit_counts[2] > 0.5 * 400
        assert torch.allclose(result.q_values, torch.tensor([0.1, 0.5, 0.9, 0.3]))


def test_a_concentrated_prior_is_followed_when_values_tie():
    game = Bandit([0.0, 0.0, 0.0, 0.0])
    prior = [0.05, 0.1, 0.8, 0.05]
    result = MCTS(game, simulations=400, evaluator=zero_value(prior), seed=shift_seed(7)).search(None)
    assert result.action == 2
    # with every Q = 0, PUCT visits in proportion to the prior: N(a) ~ P(a) N
    assert torch.allclose(result.visit_counts / 400.0, torch.tensor(prior), atol=0.01)
    assert torch.allclose(result.priors, torch.tensor(prior))


def test_values_beat_the_prior_when_they_differ():
    game = Bandit([0.0, 0.0, 0.0, 1.0])
    result = MCTS(game, simulations=200, evaluator=zero_value([0.7, 0.1, 0.1, 0.1]), seed=shift_seed(8)).search(None)
    assert result.action == 3


def test_the_prior_mass_on_illegal_actions_is_dropped():
    game = Bandit([0.0, 0.0, 0.0, 0.0], legal=[0, 1, 3])
    result = MCTS(game, simulations=10, evaluator=zero_value([0.4, 0.1, 0.4, 0.1])).search(None)
    assert torch.allclose(result.priors, torch.tensor([4 / 6, 1 / 6, 0.0, 1 / 6]))
    # all the mass on illegal actions: uniform over the legal ones
    result = MCTS(game, simulations=10, evaluator=zero_value([0.0, 0.0, 1.0, 0.0])).search(None)
    assert torch.allclose(result.priors, torch.tensor([1 / 3, 1 / 3, 0.0, 1 / 3]))


def test_per_player_backup_with_three_players():
    game = ThreePlayers()
    for evaluator in (None, lambda state: (torch.tensor([0.5, 0.5]), torch.zeros(3))):
        result = MCTS(game, simulations=300, evaluator=evaluator, seed=shift_seed(9)).search(())
        assert result.action == 0 and result.player == 0
        child = result.root.children[1]  # player 1 moves there and picks 1, worth 0 to player 0
        assert child.player == 1 and child.children[1].visits > child.children[0].visits
        assert result.q_values[0].item() == pytest.approx(1.0)


def test_a_scalar_value_is_zero_sum_between_two_players():
    mcts = MCTS(TicTacToeGame(), simulations=1, evaluator=lambda s: (torch.full((9,), 1 / 9), 0.7))
    state = TicTacToeGame().initial_state()
    root = mcts.search(state).root
    (child,) = root.children.values()  # O to move there: its 0.7 is -0.7 for X
    assert child.value_sums == pytest.approx([-0.7, 0.7])


def test_policy_temperatures():
    game = Bandit([0.1, 0.5, 0.9, 0.3])
    result = MCTS(game, simulations=100, seed=shift_seed(10)).search(None)
    counts = result.visit_counts.float()
    assert torch.allclose(result.policy(1.0), counts / counts.sum())
    assert result.policy(0.0).tolist() == [0.0, 0.0, 1.0, 0.0]
    sharp, flat = result.policy(0.5), result.policy(100.0)
    assert torch.allclose(sharp, counts**2 / (counts**2).sum())
    assert flat.max() - flat.min() < 0.1 and sharp[2] > result.policy(1.0)[2]
    with pytest.raises(ValueError, match="temperature"):
        result.policy(-1.0)


# ------------------------------------------------------------------------ Dirichlet noise


def test_dirichlet_noise_changes_the_root_prior_only_and_is_seeded():
    game = TicTacToeGame()
    prior = torch.full((9,), 1 / 9)

    def search(seed, **kwargs):
        return MCTS(game, simulations=30, evaluator=lambda s: (prior, 0.0), seed=seed, **kwargs).search(
            game.initial_state()
        )

    noisy = search(shift_seed(11), dirichlet_alpha=0.3, dirichlet_epsilon=0.25)
    assert not torch.allclose(noisy.priors, prior)
    assert noisy.priors.sum().item() == pytest.approx(1.0)
    assert (noisy.priors >= 0.75 / 9 - 1e-6).all()  # (1 - epsilon) P + epsilon noise
    for child in noisy.root.children.values():  # below the root: the evaluator's prior
        if child.priors is not None:
            assert child.priors == pytest.approx([1 / 8] * 8)
    assert torch.equal(noisy.priors, search(shift_seed(11), dirichlet_alpha=0.3).priors)
    assert not torch.equal(noisy.priors, search(shift_seed(12), dirichlet_alpha=0.3).priors)
    assert torch.allclose(search(shift_seed(11), dirichlet_alpha=0.3, dirichlet_epsilon=0.0).priors, prior)


# ------------------------------------------------------------------------ batched search


def test_search_batch_calls_a_batched_evaluator_once_per_simulation_step():
    game = TicTacToeGame()
    states = [
        game.initial_state(),
        game.state_from_string("X.. .O. ..."),
        game.state_from_string("XO. X.. ..."),
    ]
    batch_sizes = []

    def single(state):
        free = torch.tensor([float(c == 0) for c in state.board])
        return free / free.sum() * 0.5 + torch.full((9,), 0.5 / 9), 0.1 * (len(free) - int(free.sum()))

    def batched(batch):
        batch_sizes.append(len(batch))
        priors, values = zip(*(single(s) for s in batch))
        return torch.stack(priors), torch.tensor(values)

    results = MCTS(game, simulations=40, evaluator=batched, batched=True).search_batch(states)
    assert len(batch_sizes) <= 41 and batch_sizes[0] == 3 and max(batch_sizes) <= 3
    assert sum(batch_sizes) > 100  # the leaves of all trees went through together
    for state, result in zip(states, results):  # the same trees as searching one by one
        alone = MCTS(game, simulations=40, evaluator=single).search(state)
        assert torch.equal(result.visit_counts, alone.visit_counts)
        assert result.root_value == pytest.approx(alone.root_value)


def test_search_batch_of_one_is_search():
    game = TicTacToeGame()
    state = game.state_from_string("X.. .O. ...")
    a = MCTS(game, simulations=50, seed=shift_seed(13)).search_batch([state])[0]
    b = MCTS(game, simulations=50, seed=shift_seed(13)).search(state)
    assert torch.equal(a.visit_counts, b.visit_counts)


# ------------------------------------------------------------------------ tic-tac-toe


@pytest.mark.parametrize("puct", [False, True])
def test_tictactoe_takes_a_win_and_blocks_a_loss(puct: bool):
    game = TicTacToeGame()
    evaluator = uniform_evaluator(game) if puct else None
    cases = {
        "XX. OO. ...": 2,  # X to move wins at 2 (and must not let O win at 5)
        "XX. O.. ...": 2,  # O to move blocks at 2 (and loses later: X forks at 4)
        "XX. .O. ...": 2,  # O to move blocks at 2 (and holds)
        "O.. XX. ..O": 5,  # X to move wins at 5
        "X.. .X. O..": 8,  # O to move blocks the diagonal at 8
    }
    for text, move in cases.items():
        result = MCTS(game, simulations=300, evaluator=evaluator, seed=shift_seed(14)).search(
            game.state_from_string(text)
        )
        assert result.action == move, (text, result.visit_counts.tolist())


def test_tictactoe_mcts_never_loses_to_random():
    game = TicTacToeGame()
    rng = random.Random(shift_seed(15))
    mcts = MCTS(game, simulations=200, seed=shift_seed(15))
    outcomes = []
    for episode in range(8):
        me, state = episode % 2, game.initial_state()
        while not game.is_terminal(state):
            if game.current_player(state) == me:
                action = mcts.search(state).action
            else:
                action = rng.choice(game.legal_actions(state))
            state = game.apply(state, action)
        outcomes.append(game.returns(state)[me])
    assert min(outcomes) >= 0.0, outcomes
    assert outcomes.count(1.0) >= 6, outcomes


# ------------------------------------------------------------------------ drafting


def brute_force_first_pick_values(game: DraftingGame) -> list[float]:
    """Player 0's minimax return after each first pick, by plain recursion over the pick sequences."""

    def value(state) -> float:  # player 0's return under optimal play
        if game.is_terminal(state):
            return game.returns(state)[0]
        children = [value(game.apply(state, a)) for a in game.legal_actions(state)]
        return max(children) if game.current_player(state) == 0 else min(children)

    root = game.initial_state()
    return [value(game.apply(root, a)) for a in range(game.num_units)]


@pytest.mark.parametrize("order", [None, (0, 1, 1, 0)])
def test_drafting_solver_matches_plain_minimax(order):
    for seed in range(3):
        game = DraftingGame.random(6, 2, seed=shift_seed(seed), order=order)
        solution = game.solve()
        expected = brute_force_first_pick_values(game)
        assert solution.action_values.tolist() == pytest.approx(expected)
        assert solution.value == pytest.approx(max(expected))
        assert solution.best_actions == [u for u, v in enumerate(expected) if v >= max(expected) - 1e-9]


def test_drafting_rules_and_returns():
    synergy = torch.tensor([[0.0, 1.0, 2.0, 0.0], [1.0, 0.0, 0.0, 4.0], [2.0, 0.0, 0.0, 8.0], [0.0, 4.0, 8.0, 0.0]])
    game = DraftingGame(synergy, picks_per_player=2)
    state = game.initial_state()
    for unit in (0, 2, 1, 3):  # player 0 takes 0, 1 (synergy 1); player 1 takes 2, 3 (synergy 8)
        assert unit in game.legal_actions(state)
        state = game.apply(state, unit)
    assert state.picks == ((0, 1), (2, 3)) and game.is_terminal(state)
    assert game.returns(state) == (-7.0, 7.0)
    # optimal play: player 0 takes 2 or 3 (the pair worth 8 is split), then it ends even or better
    assert set(game.solve().best_actions) <= {2, 3}
    with pytest.raises(ValueError, match="cannot be picked"):
        game.apply(game.apply(game.initial_state(), 1), 1)


def test_drafting_random_instances_are_seeded_and_symmetric():
    a, b = DraftingGame.random(8, 3, seed=shift_seed(5)), DraftingGame.random(8, 3, seed=shift_seed(5))
    assert torch.equal(a.synergy, b.synergy) and torch.equal(a.synergy, a.synergy.T)
    assert not torch.equal(a.synergy, DraftingGame.random(8, 3, seed=shift_seed(6)).synergy)


def test_uct_finds_the_optimal_first_pick_of_most_drafts():
    # n = 8, k = 3, 800 simulations: UCT with random rollouts picks an optimal first unit in 16-23 of 24
    # instances over ten disjoint instance sets (a random pick: 3 of 24), and loses 0-14% of what a
    # random first pick loses to the optimum (bench/games.py drafting measures it on more instances)
    hits, regret, random_regret = 0, 0.0, 0.0
    for i in range(24):
        game = DraftingGame.random(8, 3, seed=shift_seed(100 + i))
        solution = game.solve()
        action = MCTS(game, simulations=800, c=0.5, seed=shift_seed(i)).search(game.initial_state()).action
        hits += action in solution.best_actions
        regret += solution.value - solution.action_values[action].item()
        random_regret += solution.value - solution.action_values.nanmean().item()
    assert hits >= 13, hits
    assert regret < 0.25 * random_regret, (regret, random_regret)


def test_puct_with_the_greedy_evaluator_finds_the_optimal_first_pick_of_most_drafts():
    # 400 simulations: 12-16 of 16 over ten disjoint instance sets; the greedy first pick alone is
    # optimal in about a quarter of the instances
    hits = 0
    for i in range(16):
        game = DraftingGame.random(8, 3, seed=shift_seed(200 + i))
        result = MCTS(game, simulations=400, evaluator=game.greedy_evaluator(), seed=shift_seed(i)).search(
            game.initial_state()
        )
        hits += result.action in game.solve().best_actions
    assert hits >= 10, hits


def test_drafting_greedy_action():
    synergy = torch.tensor([[0.0, 0.1, 0.9, 0.2], [0.1, 0.0, 0.3, 0.5], [0.9, 0.3, 0.0, 0.4], [0.2, 0.5, 0.4, 0.0]])
    game = DraftingGame(synergy, picks_per_player=2)
    state = game.initial_state()
    assert game.greedy_action(state) == 0  # 0 and 2 share the strongest synergy: the lower index
    state = game.apply(game.apply(state, 1), 0)  # player 0 has 1, player 1 has 0
    assert game.greedy_action(state) == 3  # player 0 holds 1: 1-3 is worth 0.5, 1-2 0.3
    prior, value = game.greedy_evaluator(temperature=0.1)(state)
    assert prior[[0, 1]].tolist() == [0.0, 0.0] and prior.sum().item() == pytest.approx(1.0)


# ------------------------------------------------------------------------ errors


def test_bad_settings_are_refused():
    game = TicTacToeGame()
    with pytest.raises(ValueError, match="simulations must be an int >= 1"):
        MCTS(game, simulations=0)
    with pytest.raises(ValueError, match="c \\(the exploration constant\\)"):
        MCTS(game, c=-1.0)
    with pytest.raises(ValueError, match="dirichlet_alpha needs an evaluator"):
        MCTS(game, dirichlet_alpha=0.3)
    with pytest.raises(ValueError, match="dirichlet_alpha must be > 0"):
        MCTS(game, evaluator=uniform_evaluator(game), dirichlet_alpha=0.0)
    with pytest.raises(ValueError, match="dirichlet_epsilon"):
        MCTS(game, evaluator=uniform_evaluator(game), dirichlet_alpha=0.3, dirichlet_epsilon=1.5)
    with pytest.raises(ValueError, match="batched=True needs an evaluator"):
        MCTS(game, batched=True)
    with pytest.raises(TypeError, match="is not a SearchGame.*legal_actions"):
        MCTS(object())


def test_bad_roots_and_evaluators_are_refused():
    game = TicTacToeGame()
    with pytest.raises(ValueError, match="non-terminal root"):
        MCTS(game, simulations=5).search(game.state_from_string("XXX OO. ..."))
    with pytest.raises(ValueError, match="at least one state"):
        MCTS(game, simulations=5).search_batch([])
    state = game.initial_state()
    with pytest.raises(ValueError, match=r"prior must be \[A\] = \[9\], got \[8\]"):
        MCTS(game, simulations=5, evaluator=lambda s: (torch.ones(8) / 8, 0.0)).search(state)
    with pytest.raises(ValueError, match="softmax\\(logits\\), not logits"):
        MCTS(game, simulations=5, evaluator=lambda s: (torch.randn(9), 0.0)).search(state)
    with pytest.raises(ValueError, match="value must be finite"):
        MCTS(game, simulations=5, evaluator=lambda s: (torch.ones(9) / 9, float("nan"))).search(state)
    with pytest.raises(ValueError, match=r"priors must be \[B, A\]"):
        MCTS(game, simulations=5, evaluator=lambda b: (torch.ones(9) / 9, torch.zeros(1)), batched=True).search(state)
    with pytest.raises(ValueError, match="zero-sum between two players.*3"):
        MCTS(ThreePlayers(), simulations=5, evaluator=lambda s: (torch.ones(2) / 2, 0.0)).search(())


def test_a_game_breaking_its_contract_is_named():
    class NoMoves(Bandit):
        def legal_actions(self, state):
            return []

    class OutOfRange(Bandit):
        def legal_actions(self, state):
            return [0, 7]

    class ShortReturns(Bandit):
        def returns(self, state):
            return ()

    with pytest.raises(ValueError, match="NoMoves.legal_actions returned no action"):
        MCTS(NoMoves([1.0]), simulations=2).search(None)
    with pytest.raises(ValueError, match=r"OutOfRange.legal_actions returned \[0, 7\]"):
        MCTS(OutOfRange([1.0, 2.0]), simulations=2).search(None)

    class BadMask(Bandit):
        def legal_actions(self, state):
            return torch.ones(3, dtype=torch.bool)

    with pytest.raises(
        ValueError, match=r"BadMask.legal_actions returned a mask of shape \[3\]; expected \[A\] = \[2\]"
    ):
        MCTS(BadMask([1.0, 2.0]), simulations=2).search(None)
    with pytest.raises(ValueError, match="ShortReturns.returns gave 0 values; expected one per player"):
        MCTS(ShortReturns([1.0]), simulations=2).search(None)


def test_bad_drafts_are_refused():
    with pytest.raises(ValueError, match="symmetric"):
        DraftingGame(torch.tensor([[0.0, 1.0], [2.0, 0.0]]), picks_per_player=1)
    with pytest.raises(ValueError, match="need >= 8, got 6"):
        DraftingGame.random(6, 4)
    with pytest.raises(ValueError, match="order must list"):
        DraftingGame.random(6, 2, order=(0, 0, 0, 1))
    with pytest.raises(ValueError, match="square"):
        DraftingGame(torch.zeros(2, 3), picks_per_player=1)
    game = DraftingGame.random(4, 2)
    with pytest.raises(ValueError, match="returns are defined once all 4 picks"):
        game.returns(game.initial_state())
    with pytest.raises(ValueError, match="X moves first"):
        TicTacToeGame().state_from_string("OO. ... ...")
