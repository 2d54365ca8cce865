"""OpenSpiel's games as a batched :class:`~rl4py.games.TwoPlayerGame`, and the exact evaluation of a
policy there (exploitability through OpenSpiel's own best responses).

Needs the ``games`` extra (``pip install "rl4py[games]"``: ``open-spiel``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from tensordict import TensorDict

from rl4py.games.base import TwoPlayerGame

__all__ = ["OpenSpielGame", "expected_payoff", "exploitability", "tabular_policy"]


def _pyspiel() -> Any:
    try:
        return importlib.import_module("pyspiel")
    except ImportError as error:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            "OpenSpiel games need the open-spiel package: pip install 'rl4py[games]' (or pip install open-spiel)"
        ) from error


def _load(game: str | Any) -> Any:
    pyspiel = _pyspiel()
    if isinstance(game, str):
        try:
            return pyspiel.load_game(game)
        except pyspiel.SpielError as error:
            raise ValueError(f"OpenSpiel has no game {game!r}: {error}") from error
    if not isinstance(game, pyspiel.Game):
        raise TypeError(f"game must be an OpenSpiel game name or a pyspiel.Game, got {type(game).__name__}")
    return game


class OpenSpielGame(TwoPlayerGame):
    """Any two-player, zero-sum, turn-based OpenSpiel game (Kuhn and Leduc poker, tic-tac-toe,
    Connect Four, ...), ``num_games`` of them stepped together.

    The observation is the player's information-state tensor where the game provides one (the
    poker games: private card and betting so far), else its observation tensor (the board games).
    Chance events (the deal) are drawn from the game's seeded generator. Each game is a pyspiel
    state stepped in a Python loop: for speed on a board game use a native one
    (:class:`~rl4py.games.TicTacToe`).

    Args:
        game: an OpenSpiel game name (``"kuhn_poker"``, ``"leduc_poker"``, ``"tic_tac_toe"``, with
            parameters as in ``"connect_four(rows=5)"``) or a loaded ``pyspiel.Game``.
        num_games: ``B``.
        device: the device of the returned tensors.
        validate: check actions at every step.

    Attributes:
        game: the ``pyspiel.Game``.

    Examples:
        >>> games = OpenSpielGame("kuhn_poker", num_games=4)
        >>> td = games.reset(seed=0)
        >>> td["observation"].shape, td["action_mask"].shape
        (torch.Size([4, 11]), torch.Size([4, 2]))
    """

    def __init__(
        self, game: str | Any, num_games: int = 1, device: torch.device | str = "cpu", validate: bool = True
    ) -> None:
        pyspiel = _pyspiel()
        self.game = _load(game)
        kind = self.game.get_type()
        if self.game.num_players() != 2:
            raise ValueError(f"OpenSpielGame: {self.game} has {self.game.num_players()} players; expected 2")
        if kind.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
            raise ValueError(f"OpenSpielGame: {self.game} is not turn-based (dynamics {kind.dynamics})")
        if kind.utility not in (pyspiel.GameType.Utility.ZERO_SUM, pyspiel.GameType.Utility.CONSTANT_SUM):
            raise ValueError(f"OpenSpielGame: {self.game} is not zero-sum (utility {kind.utility})")
        self._information = bool(kind.provides_information_state_tensor)
        if self._information:
            shape = tuple(self.game.information_state_tensor_shape())
        elif kind.provides_observation_tensor:
            shape = (int(torch.tensor(self.game.observation_tensor_shape()).prod()),)
        else:
            raise ValueError(f"OpenSpielGame: {self.game} provides neither information-state nor observation tensors")
        super().__init__(
            num_games=num_games,
            num_actions=self.game.num_distinct_actions(),
            observation_shape=shape,
            device=device,
            validate=validate,
        )
        self._states: list[Any] = [None] * num_games
        # per game, cached after every change: [player to move, legal mask, returns, both players' views]
        self._player = torch.full((num_games,), -1, dtype=torch.int64)
        self._mask = torch.zeros(num_games, self.num_actions, dtype=torch.bool)
        self._returns = torch.zeros(num_games, 2)
        self._views = torch.zeros(num_games, 2, *shape)

    @property
    def name(self) -> str:
        return f"OpenSpielGame({self.game})"

    def _chance(self, state: Any) -> None:
        """Plays chance nodes (the deal) with outcomes drawn from ``self.rng``."""
        while state.is_chance_node():
            outcomes = state.chance_outcomes()
            u = float(torch.rand((), generator=self.rng.generator, dtype=torch.float64))
            total, chosen = 0.0, outcomes[-1][0]  # the last outcome where rounding leaves u above the sum
            for action, probability in outcomes:
                total += probability
                if u < total:
                    chosen = action
                    break
            state.apply_action(chosen)

    def _view(self, state: Any, player: int) -> list[float]:
        return state.information_state_tensor(player) if self._information else state.observation_tensor(player)

    def _cache(self, i: int) -> None:
        state = self._states[i]
        if state.is_terminal():
            self._player[i] = -1
            self._mask[i] = False
            self._returns[i] = torch.tensor(state.returns(), dtype=torch.float32)
        else:
            self._player[i] = state.current_player()
            mask = self._mask[i]
            mask.zero_()
            mask[state.legal_actions()] = True
            self._returns[i] = 0.0
        self._views[i, 0] = torch.tensor(self._view(state, 0))
        self._views[i, 1] = torch.tensor(self._view(state, 1))

    def _reset_games(self, where: torch.Tensor) -> None:
        for i in where.cpu().nonzero().flatten().tolist():
            state = self.game.new_initial_state()
            self._chance(state)
            self._states[i] = state
            self._cache(i)

    def _apply(self, action: torch.Tensor, where: torch.Tensor) -> None:
        actions = action.cpu().tolist()
        for i in where.cpu().nonzero().flatten().tolist():
            state = self._states[i]
            state.apply_action(actions[i])
            self._chance(state)
            self._cache(i)

    def current_player(self) -> torch.Tensor:
        return self._player.to(self.device)

    def legal_mask(self) -> torch.Tensor:
        return self._mask.to(self.device)

    def returns(self) -> torch.Tensor:
        return self._returns.to(self.device)

    def observation(self, player: torch.Tensor) -> torch.Tensor:
        index = player.cpu().view(-1, 1, *([1] * len(self.observation_shape))).expand(-1, 1, *self.observation_shape)
        return self._views.gather(1, index).squeeze(1).to(self.device)

    def state_dict(self) -> dict:
        """The RNG and each game's action history (chance outcomes included)."""
        return {
            **super().state_dict(),
            "histories": [list(s.history()) if s is not None else None for s in self._states],
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        histories = state["histories"]
        if len(histories) != self.num_games:
            raise ValueError(f"{self.name}: the state holds {len(histories)} games, this one {self.num_games}")
        for i, history in enumerate(histories):
            if history is None:
                self._states[i] = None
                continue
            game_state = self.game.new_initial_state()
            for action in history:
                game_state.apply_action(action)
            self._states[i] = game_state
            self._cache(i)


def tabular_policy(game: str | Any, policy: Callable[[TensorDict], torch.Tensor], batch_size: int = 4096) -> Any:
    """The OpenSpiel ``TabularPolicy`` of a neural policy: its action probabilities at every information
    state of ``game`` (each player's), evaluated in batches.

    Args:
        game: an OpenSpiel game name or ``pyspiel.Game`` (one with information-state tensors).
        policy: maps a TensorDict with ``"observation"`` ``[N, *obs]`` (the information-state tensors)
            and ``"action_mask"`` ``[N, A]`` bool to action probabilities ``[N, A]`` (0 where illegal).
        batch_size: information states per call.

    Returns:
        An ``open_spiel.python.policy.TabularPolicy``.

    Raises:
        ValueError: the probabilities have the wrong shape, are negative, do not sum to 1 over the
            legal actions, or put mass on an illegal action.
    """
    from open_spiel.python.policy import TabularPolicy

    game = _load(game)
    if not game.get_type().provides_information_state_tensor:
        raise ValueError(f"tabular_policy: {game} provides no information-state tensors")
    table = TabularPolicy(game)
    views = torch.tensor([s.information_state_tensor() for s in table.states], dtype=torch.float32)
    masks = torch.as_tensor(table.legal_actions_mask, dtype=torch.bool)
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(views), batch_size):
            chunk = slice(start, start + batch_size)
            td = TensorDict({"observation": views[chunk], "action_mask": masks[chunk]}, batch_size=[len(views[chunk])])
            probabilities.append(policy(td).detach().to("cpu", torch.float64))
    probs = torch.cat(probabilities)
    if probs.shape != masks.shape:
        raise ValueError(f"tabular_policy: the policy returned {tuple(probs.shape)}; expected {tuple(masks.shape)}")
    if bool((probs < 0).any()) or bool((probs.masked_select(~masks) > 1e-6).any()):
        raise ValueError("tabular_policy: the probabilities must be >= 0 and 0 on illegal actions")
    total = probs.sum(-1)
    if not torch.allclose(total, torch.ones_like(total), atol=1e-4):
        raise ValueError(f"tabular_policy: the probabilities must sum to 1, got sums in [{total.min()}, {total.max()}]")
    table.action_probability_array[:] = (probs / total.unsqueeze(-1)).numpy()
    return table


def exploitability(
    game: str | Any,
    policies: Callable[[TensorDict], torch.Tensor] | Sequence[Callable[[TensorDict], torch.Tensor]],
    weights: Sequence[float] | None = None,
) -> float:
    """The exploitability of a policy, or of a mixture of policies, computed by OpenSpiel
    (``open_spiel.python.algorithms.exploitability``: the mean over players of a best response's gain,
    ``NashConv / 2``; 0 at a Nash equilibrium).

    A mixture (several ``policies``, e.g. a league's snapshots) is the mixed strategy that picks one
    of them per game with probability ``weights`` (uniform by default), turned into one behaviour
    policy by OpenSpiel's ``PolicyAggregator`` (each policy weighted by its reach probability).

    Args:
        game: an OpenSpiel game name or ``pyspiel.Game``.
        policies: one probability function, or several (see :func:`tabular_policy`).
        weights: each policy's probability in the mixture; uniform when ``None``.

    Returns:
        The exploitability (Kuhn poker: 0.458 for uniform random play; Leduc: 2.37).
    """
    from open_spiel.python.algorithms import exploitability as reference

    game = _load(game)
    if callable(policies):
        return float(reference.exploitability(game, tabular_policy(game, policies)))
    policies = list(policies)
    if not policies:
        raise ValueError("exploitability: policies is empty; expected one policy or more")
    if weights is None:
        weights = [1.0 / len(policies)] * len(policies)
    if len(weights) != len(policies) or any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(
            f"exploitability: weights must be {len(policies)} non-negative numbers summing to 1, got {list(weights)}"
        )
    if len(policies) == 1:
        return float(reference.exploitability(game, tabular_policy(game, policies[0])))
    from open_spiel.python.algorithms.policy_aggregator import PolicyAggregator

    tables = [tabular_policy(game, p) for p in policies]
    players = list(range(game.num_players()))
    mixture = PolicyAggregator(game).aggregate(players, [tables for _ in players], [list(weights) for _ in players])
    return float(reference.exploitability(game, mixture))


def expected_payoff(game: str | Any, policy: Any, opponent: Any) -> float:
    """The exact expected return of ``policy`` against ``opponent``, averaged over the two seats
    (OpenSpiel's ``expected_game_score.policy_value`` over the whole game tree).

    Args:
        game: an OpenSpiel game name or ``pyspiel.Game`` (two players, zero-sum).
        policy, opponent: OpenSpiel policies (:func:`tabular_policy` of a network).

    Returns:
        ``(v(policy as player 0) + v(policy as player 1)) / 2``; ``-expected_payoff(game, opponent, policy)``.
    """
    from open_spiel.python.algorithms.expected_game_score import policy_value

    game = _load(game)
    first = policy_value(game.new_initial_state(), [policy, opponent])[0]
    second = policy_value(game.new_initial_state(), [opponent, policy])[1]
    return float((first + second) / 2)
