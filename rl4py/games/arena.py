"""Batched matches between two players of a :class:`~rl4py.games.TwoPlayerGame`, and the players.

A *player* is any callable that takes the :meth:`~rl4py.games.TwoPlayerGame.observe` TensorDict of
the ``n`` games where it is to move (``"observation"``, ``"action_mask"``, ``"current_player"`` ...,
batch ``[n]``) and returns their actions, ``[n]`` integers, or writes them under ``"action"`` and
returns the TensorDict (an rl4py actor does; it then samples from torch's global RNG). Three
ready-made ones:

* :func:`policy_player`: an rl4py actor (greedy or sampled),
* :func:`random_player`: uniform over the legal actions,
* :func:`search_player`: :class:`~rl4py.planning.MCTS` (UCT) in tic-tac-toe.

:func:`play_match` plays them against each other, each in each seat for half the games.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import InteractionType, set_interaction_type
from torch import nn

from rl4py import keys
from rl4py.games.base import CURRENT_PLAYER, RETURNS, TERMINAL, TwoPlayerGame
from rl4py.games.versus import player_actions
from rl4py.planning import MCTS, TicTacToeGame, TicTacToeState

__all__ = ["MatchResult", "play_match", "policy_player", "random_player", "search_player"]

#: ``player(td) -> actions``: the observe() TensorDict of the ``n`` games where it moves -> ``[n]`` int64
#: (or the TensorDict with them under ``"action"``)
Player = Callable[[TensorDict], Union[torch.Tensor, TensorDictBase]]


@dataclass(frozen=True)
class MatchResult:
    """The outcome of a match, from ``player0``'s point of view.

    Attributes:
        wins, draws, losses: ``player0``'s games won, drawn and lost.
        by_seat: ``player0``'s ``(wins, draws, losses)`` when it moved first (seat 0) and when it moved
            second (seat 1).
    """

    wins: int
    draws: int
    losses: int
    by_seat: tuple[tuple[int, int, int], tuple[int, int, int]]

    @property
    def num_games(self) -> int:
        """The games played."""
        return self.wins + self.draws + self.losses

    @property
    def win_rate(self) -> float:
        """``player0``'s fraction of games won."""
        return self.wins / self.num_games

    @property
    def draw_rate(self) -> float:
        """The fraction of games drawn."""
        return self.draws / self.num_games

    @property
    def loss_rate(self) -> float:
        """``player0``'s fraction of games lost."""
        return self.losses / self.num_games

    @property
    def score(self) -> float:
        """``player0``'s score, wins plus half the draws, over the games: in ``[0, 1]``."""
        return (self.wins + 0.5 * self.draws) / self.num_games

    def seat_win_rate(self, seat: int) -> float:
        """``player0``'s win rate in the games where it sat in ``seat`` (0: moved first, 1: second)."""
        if seat not in (0, 1):
            raise ValueError(f"seat must be 0 (moved first) or 1 (moved second), got {seat!r}")
        wins, draws, losses = self.by_seat[seat]
        return wins / (wins + draws + losses)


def play_match(
    game: TwoPlayerGame, player0: Player, player1: Player, num_games: int, seed: int | None = None
) -> MatchResult:
    """Plays ``num_games`` games of ``game`` between ``player0`` and ``player1``, batched.

    The games run ``game.num_games`` at a time (the last round fills part of the batch); ``player0``
    takes seat 0 (moves first) in even-numbered games and seat 1 in odd ones, so each player plays
    each seat in half the games. Each step calls each player once, on the games where it is to move,
    under ``torch.no_grad()``. ``game`` is reset (its state is lost).

    Args:
        game: the games to play in (any :class:`~rl4py.games.TwoPlayerGame`).
        player0, player1: the players (see the module docstring).
        num_games: the games to play, a positive even number.
        seed: seeds ``game``'s chance events (the players carry their own seeds).

    Returns:
        The :class:`MatchResult` from ``player0``'s point of view.

    Examples:
        >>> from rl4py.games import TicTacToe
        >>> result = play_match(TicTacToe(num_games=100), random_player(0), random_player(1), num_games=200)
        >>> result.num_games, result.by_seat[0][0] > result.by_seat[1][0]  # moving first helps
        (200, True)
    """
    if not isinstance(game, TwoPlayerGame):
        raise TypeError(f"play_match: game must be a TwoPlayerGame, got {type(game).__name__}")
    for name, player in (("player0", player0), ("player1", player1)):
        if not callable(player):
            raise TypeError(f"play_match: {name} must be callable (observe() TensorDict -> actions), got {player!r}")
    if isinstance(num_games, bool) or not isinstance(num_games, int) or num_games < 2 or num_games % 2:
        raise ValueError(
            "play_match: num_games must be a positive even int (each player plays each seat in half the games), "
            f"got {num_games!r}"
        )
    batch, device = game.num_games, game.device
    slots = torch.arange(batch, device=device)
    counts = torch.zeros(2, 3, dtype=torch.int64)  # [player0's seat, (wins, draws, losses)]
    game.reset(seed)
    for start in range(0, num_games, batch):
        if start:
            game.reset()
        active = slots < num_games - start
        seat0 = (slots + start) % 2  # player0's seat in each slot
        while True:
            td = game.observe()
            running = active & ~td[TERMINAL]
            if not bool(running.any()):
                break
            player0_moves = td[CURRENT_PLAYER] == seat0
            action = torch.zeros(batch, dtype=torch.int64, device=device)
            for name, player, turn in (("player0", player0, player0_moves), ("player1", player1, ~player0_moves)):
                index = (running & turn).nonzero().squeeze(-1)
                if index.numel():
                    action[index] = player_actions(player, td[index], f"play_match: {name}").to(device)
            game.step(action, where=running)
        outcome = td[RETURNS].gather(1, seat0.unsqueeze(-1)).squeeze(-1).sign().long()  # player0's: 1, 0, -1
        column = 1 - outcome  # 0 win, 1 draw, 2 loss
        for seat in (0, 1):
            here = active & (seat0 == seat)
            counts[seat] += torch.bincount(column[here], minlength=3).cpu()
    total = counts.sum(0).tolist()
    by_seat = tuple(tuple(row) for row in counts.tolist())
    return MatchResult(wins=total[0], draws=total[1], losses=total[2], by_seat=by_seat)


def _generator(generator: torch.Generator | int | None) -> torch.Generator:
    """``generator`` itself, a CPU generator seeded with the int, or one seeded from torch's global RNG."""
    if isinstance(generator, torch.Generator):
        return generator
    if generator is not None and (isinstance(generator, bool) or not isinstance(generator, int)):
        raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {generator!r}")
    seed = int(torch.randint(0, 2**62, (1,)).item()) if generator is None else generator
    return torch.Generator().manual_seed(seed)


def random_player(generator: torch.Generator | int | None = None) -> Player:
    """A player that picks uniformly among the legal actions (``"action_mask"``).

    Args:
        generator: its random stream: a ``torch.Generator`` (on any device), an int seed, or ``None``
            (a seed drawn from torch's global RNG).

    Examples:
        >>> td = TensorDict({"action_mask": torch.tensor([[False, True, True], [True, False, False]])}, [2])
        >>> random_player(0)(td)[1].item()
        0
    """
    g = _generator(generator)

    def act(td: TensorDict) -> torch.Tensor:
        mask = td[keys.ACTION_MASK]
        if not bool(mask.any(-1).all()):
            raise ValueError("random_player: a game has no legal action (is it over?); pass only running games")
        noise = torch.rand(mask.shape, generator=g, device=g.device).to(mask.device)
        return noise.masked_fill(~mask, -1.0).argmax(-1)

    return act


def policy_player(actor: nn.Module, *, greedy: bool = True, generator: torch.Generator | int | None = None) -> Player:
    """A player that asks an rl4py actor: its most likely legal action (``greedy``) or a sample.

    The actor reads ``"observation"`` (and ``"action_mask"`` if it is masked: make the actor with
    ``make_actor_critic(..., masked=True)`` so it never picks an illegal action). A greedy player works
    with any actor that writes ``"action"`` under the ``DETERMINISTIC`` interaction type; a sampling
    one needs an actor with ``get_dist`` (a :class:`~rl4py.modules.ProbabilisticActor`) whose
    distribution samples from a generator (:class:`~rl4py.modules.Categorical` and its masked form).
    The TensorDict moves to the actor's device and the actions back.

    Args:
        actor: the actor module.
        greedy: take the distribution's mode; else sample from it with ``generator``.
        generator: the sampling stream (a ``torch.Generator``, an int seed or ``None``: drawn from torch's
            global RNG); unused when ``greedy``.
    """
    if not isinstance(actor, nn.Module):
        raise TypeError(f"policy_player: actor must be an nn.Module (an rl4py actor), got {type(actor).__name__}")
    if not greedy and not callable(getattr(actor, "get_dist", None)):
        raise TypeError(
            f"policy_player: sampled actions need an actor with get_dist (a ProbabilisticActor); "
            f"{type(actor).__name__} has none, use greedy=True"
        )
    g = None if greedy else _generator(generator)

    def act(td: TensorDict) -> torch.Tensor:
        parameter = next(actor.parameters(), None)
        inputs = td if parameter is None or parameter.device == td.device else td.to(parameter.device)
        if greedy:
            with set_interaction_type(InteractionType.DETERMINISTIC):
                action = actor(inputs.clone(False))[keys.ACTION]
        else:
            dist = actor.get_dist(inputs)
            if not hasattr(dist, "generator"):
                raise TypeError(
                    f"policy_player: {type(dist).__name__} samples from torch's global RNG only; sampling from a "
                    "generator needs rl4py's Categorical or MaskedCategorical"
                )
            dist.generator = g
            action = dist.sample()
        n = td.batch_size[0]
        if action.numel() != n:
            raise ValueError(f"policy_player: the actor gave actions of shape {tuple(action.shape)} for {n} games")
        return action.reshape(n).to(device=td.device, dtype=torch.int64)

    return act


def _tictactoe_states(td: TensorDict) -> list[TicTacToeState]:
    """The :class:`~rl4py.planning.TicTacToeState` of each game of a :class:`~rl4py.games.TicTacToe` observe()."""
    observation, player = td[keys.OBSERVATION], td[CURRENT_PLAYER]
    if observation.shape[1:] != (27,):
        raise ValueError(
            f"search_player plays tic-tac-toe: expected [n, 27] observations of rl4py.games.TicTacToe, got "
            f"{list(observation.shape)}"
        )
    planes = observation.view(-1, 3, 9).cpu()
    player = player.cpu()
    own, opponent = (player + 1).unsqueeze(-1), (2 - player).unsqueeze(-1)
    boards = (planes[:, 0] * own + planes[:, 1] * opponent).long().tolist()
    return [TicTacToeState(tuple(board), p) for board, p in zip(boards, player.tolist())]


def search_player(simulations: int = 200, *, c: float = 1.0, seed: int | None = None) -> Player:
    """A tic-tac-toe player that runs :class:`~rl4py.planning.MCTS` (UCT, random rollouts) in every game.

    Each native board (:class:`~rl4py.games.TicTacToe`'s observation and ``"current_player"``) becomes a
    :class:`~rl4py.planning.TicTacToeState`; one :meth:`~rl4py.planning.MCTS.search_batch` call
    searches them all, and the player takes each tree's most-visited action.

    Args:
        simulations: simulations per search (MCTS's; 200 is the issue's benchmark opponent).
        c: UCT's exploration constant. 1.0 (rather than MCTS's ``sqrt(2)``): with 200 simulations it
            wins 94.2% of 2000 games against uniform random play (``sqrt(2)``: 93.1%; 99% moving first).
        seed: seeds the searches' rollouts (``None``: drawn from torch's global RNG).
    """
    mcts = MCTS(TicTacToeGame(), simulations, c, seed=seed)

    def act(td: TensorDict) -> torch.Tensor:
        results = mcts.search_batch(_tictactoe_states(td))
        return torch.tensor([r.action for r in results], dtype=torch.int64, device=td.device)

    return act
