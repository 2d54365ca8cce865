"""Monte Carlo tree search in a :class:`~rl4py.planning.SearchGame`: UCT (random rollouts) and PUCT (an evaluator)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rl4py.planning.game_model import SearchGame, check_game

__all__ = ["MCTS", "SearchNode", "SearchResult"]

#: ``evaluate(state) -> (prior [A], value)``; with ``batched=True``, ``evaluate(states) -> (priors [B, A], values [B])``
Evaluator = Callable[[Any], tuple[Any, Any]]


def _legal_actions(game: SearchGame, state: Any) -> list[int]:
    """``game.legal_actions(state)`` as a list of indices (a bool mask ``[A]`` converted)."""
    legal = game.legal_actions(state)
    if isinstance(legal, torch.Tensor) and legal.dtype == torch.bool:
        if legal.shape != (game.num_actions,):
            raise ValueError(
                f"{type(game).__name__}.legal_actions returned a mask of shape {list(legal.shape)}; "
                f"expected [A] = [{game.num_actions}]"
            )
        return legal.nonzero().flatten().tolist()
    return [int(a) for a in legal]


class SearchNode:
    """One state in a search tree with its statistics.

    Attributes:
        state: the game state (never mutated).
        player: the player to move (``-1`` at a terminal state).
        terminal: whether the game is over here.
        actions: the legal actions here (empty at a terminal state).
        priors: PUCT's prior over ``actions`` (aligned with them; the root's includes any Dirichlet
            noise); ``None`` until the node is evaluated, and always under UCT.
        children: the child reached by each action tried so far.
        visits: the number of simulations whose values were backed up through this node.
        value_sums: ``[P]`` the sum of those values, per player; ``value_sums[p] / visits`` is the
            node's mean value for player ``p``.
    """

    __slots__ = ("state", "player", "terminal", "actions", "priors", "children", "visits", "value_sums", "_untried")

    def __init__(self, game: SearchGame, state: Any) -> None:
        self.state = state
        self.terminal = bool(game.is_terminal(state))
        self.children: dict[int, SearchNode] = {}
        self.visits = 0
        self.value_sums = [0.0] * game.num_players
        self.priors: list[float] | None = None
        if self.terminal:
            self.player = -1
            self.actions: list[int] = []
        else:
            self.player = int(game.current_player(state))
            if not 0 <= self.player < game.num_players:
                raise ValueError(
                    f"{type(game).__name__}.current_player returned {self.player}; expected a player in "
                    f"[0, {game.num_players})"
                )
            self.actions = _legal_actions(game, state)
            if not self.actions:
                raise ValueError(
                    f"{type(game).__name__}.legal_actions returned no action at a non-terminal state {state!r}"
                )
            if min(self.actions) < 0 or max(self.actions) >= game.num_actions:
                raise ValueError(
                    f"{type(game).__name__}.legal_actions returned {self.actions}; expected actions in "
                    f"[0, {game.num_actions})"
                )
        self._untried = list(self.actions)

    def value(self, player: int) -> float:
        """The mean backed-up value for ``player`` (0 before the first visit)."""
        return self.value_sums[player] / self.visits if self.visits else 0.0

    def __repr__(self) -> str:
        return f"SearchNode(player={self.player}, visits={self.visits}, children={len(self.children)})"


@dataclass
class SearchResult:
    """What one search found at its root.

    Attributes:
        visit_counts: ``[A]`` int64, the simulations that went through each root action (0 for illegal
            and untried ones); they sum to the number of simulations.
        action: the most-visited action (ties broken by the higher ``q_values``, then the lower index).
        root_value: the mean value of the simulations for the player to move at the root.
        q_values: ``[A]`` float32, each action's mean value for the player to move at the root (0 where
            ``visit_counts`` is 0).
        priors: ``[A]`` float32, the root's prior (with Dirichlet noise if any; uniform over the legal
            actions under UCT; 0 on illegal actions).
        player: the player to move at the root.
        root: the search tree's root.
    """

    visit_counts: torch.Tensor
    action: int
    root_value: float
    q_values: torch.Tensor
    priors: torch.Tensor
    player: int
    root: SearchNode

    def policy(self, temperature: float = 1.0) -> torch.Tensor:
        """The visit-count policy ``pi(a) ~ N(a)^(1 / temperature)``, ``[A]`` float32 summing to 1.

        ``temperature=0`` puts all the mass on :attr:`action`; 1 gives the visit frequencies; larger
        temperatures flatten it towards uniform over the visited actions.
        """
        if not temperature >= 0 or math.isinf(temperature):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        if temperature == 0:
            out = torch.zeros_like(self.visit_counts, dtype=torch.float32)
            out[self.action] = 1.0
            return out
        counts = self.visit_counts.to(torch.float64)
        logits = torch.where(counts > 0, counts.log() / temperature, torch.full_like(counts, -math.inf))
        return torch.softmax(logits, dim=0).to(torch.float32)


class MCTS:
    """Monte Carlo tree search: UCT with random rollouts, or PUCT (AlphaZero) with an evaluator.

    Each simulation descends from the root, choosing at a node where player ``p`` moves the child
    that maximises (``N`` visits, ``Q`` the child's mean value for ``p``, ``P`` the prior):

    * UCT (``evaluator=None``): ``Q + c sqrt(ln N_parent / N_child)``, after trying every action once
      (in a random order); the new leaf is valued by a uniformly random rollout to the end of the game.
    * PUCT (an ``evaluator``): ``Q + c P sqrt(N_parent) / (1 + N_child)``, an unvisited child counting
      ``Q = 0``; the leaf is expanded with the evaluator's prior and valued by its value. Terminal
      states are valued by the game's :meth:`~rl4py.planning.SearchGame.returns` under both.

    Values are backed up per player, so any number of players works: the evaluator's value is for the
    player to move and counts negated for the other player of a two-player zero-sum game; an
    evaluator for a game of three or more players returns the ``[P]`` values of every player.

    ``evaluator(state) -> (prior, value)``: ``prior`` ``[A]`` probabilities (non-negative; the illegal
    actions' mass is dropped and the rest renormalised; all-zero on the legal ones gives uniform),
    ``value`` a number or ``[P]``. With ``batched=True`` it takes a list of ``B`` states and returns
    ``([B, A], [B] or [B, P])``: :meth:`search_batch` runs its trees in lockstep and calls it once per
    simulation with the leaves of all trees (a neural evaluator sees ``[B, ...]`` inputs).

    Args:
        game: the :class:`~rl4py.planning.SearchGame` to search in.
        simulations: simulations per search (>= 1); the root's visit counts sum to it.
        c: the exploration constant (>= 0); default ``sqrt(2)`` for UCT, 1.25 for PUCT.
        evaluator: ``None`` for UCT, else PUCT's evaluator (see above).
        batched: whether ``evaluator`` takes a list of states.
        dirichlet_alpha: PUCT only: mixes ``Dirichlet(alpha)`` noise into the root's prior over the
            legal actions, ``(1 - epsilon) P + epsilon noise`` (AlphaZero: 0.3 for chess, 0.03 for Go);
            ``None``: no noise.
        dirichlet_epsilon: the noise's weight, in ``[0, 1]``.
        seed: seeds the search's ``random.Random`` (rollouts, UCT's order of first tries, the noise);
            ``None`` draws the seed from torch's global RNG. The stream continues across searches.

    Examples:
        >>> from rl4py.planning import TicTacToeGame
        >>> game = TicTacToeGame()
        >>> state = game.state_from_string("XX. OO. ...")  # X to move: 2 wins
        >>> result = MCTS(game, simulations=200, seed=0).search(state)
        >>> result.action, int(result.visit_counts.sum())
        (2, 200)
    """

    def __init__(
        self,
        game: SearchGame,
        simulations: int = 800,
        c: float | None = None,
        evaluator: Evaluator | None = None,
        *,
        batched: bool = False,
        dirichlet_alpha: float | None = None,
        dirichlet_epsilon: float = 0.25,
        seed: int | None = None,
    ) -> None:
        check_game(game)
        if isinstance(simulations, bool) or not isinstance(simulations, int) or simulations < 1:
            raise ValueError(f"simulations must be an int >= 1, got {simulations!r}")
        if c is None:
            c = math.sqrt(2.0) if evaluator is None else 1.25
        if not (isinstance(c, (int, float)) and math.isfinite(c) and c >= 0):
            raise ValueError(f"c (the exploration constant) must be a finite number >= 0, got {c!r}")
        if evaluator is not None and not callable(evaluator):
            raise TypeError(f"evaluator must be callable (state -> (prior, value)) or None, got {type(evaluator)}")
        if batched and evaluator is None:
            raise ValueError("batched=True needs an evaluator; UCT (evaluator=None) values leaves by rollouts")
        if dirichlet_alpha is not None:
            if evaluator is None:
                raise ValueError("dirichlet_alpha needs an evaluator: the noise is mixed into PUCT's root prior")
            if not dirichlet_alpha > 0:
                raise ValueError(f"dirichlet_alpha must be > 0, got {dirichlet_alpha}")
        if not 0 <= dirichlet_epsilon <= 1:
            raise ValueError(f"dirichlet_epsilon must be in [0, 1], got {dirichlet_epsilon}")
        self.game = game
        self.simulations = simulations
        self.c = float(c)
        self.evaluator = evaluator
        self.batched = batched
        self.dirichlet_alpha = dirichlet_alpha
        self.dirichlet_epsilon = float(dirichlet_epsilon)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.rng = random.Random(seed)

    # ------------------------------------------------------------------ public

    def search(self, state: Any) -> SearchResult:
        """Runs :attr:`simulations` simulations from the non-terminal ``state``."""
        return self.search_batch([state])[0]

    def search_batch(self, states: Sequence[Any]) -> list[SearchResult]:
        """Searches from each of ``B`` non-terminal states, the trees in lockstep.

        Under PUCT each simulation step selects one leaf per tree and evaluates the non-terminal leaves
        of all trees together (one call of a ``batched`` evaluator, ``B`` calls of a plain one); without
        Dirichlet noise PUCT draws no random numbers, so each tree is the one :meth:`search` builds
        alone. UCT's rollouts and the noise draw from the one seeded stream, tree after tree.
        """
        states = list(states)
        if not states:
            raise ValueError("search_batch needs at least one state, got none")
        roots = []
        for i, state in enumerate(states):
            root = SearchNode(self.game, state)
            if root.terminal:
                where = "" if len(states) == 1 else f" (state {i} of {len(states)})"
                raise ValueError(f"search needs a non-terminal root state; the game is over at {state!r}{where}")
            roots.append(root)
        if self.evaluator is not None:
            priors, _ = self._evaluate(roots)
            for root, prior in zip(roots, priors):
                root.priors = self._add_noise(prior) if self.dirichlet_alpha is not None else prior
            for _ in range(self.simulations):
                paths = [self._select_puct(root) for root in roots]
                leaves = [path[-1] for path in paths if not path[-1].terminal]
                values = {}
                if leaves:
                    leaf_priors, leaf_values = self._evaluate(leaves)
                    for leaf, prior, value in zip(leaves, leaf_priors, leaf_values):
                        leaf.priors = prior
                        values[id(leaf)] = value
                for path in paths:
                    leaf = path[-1]
                    self._backup(path, values[id(leaf)] if not leaf.terminal else self._returns(leaf.state))
        else:
            for _ in range(self.simulations):
                for root in roots:
                    path = self._select_uct(root)
                    self._backup(path, self._rollout(path[-1].state))
        return [self._result(root) for root in roots]

    # --------------------------------------------------------------- selection

    def _child(self, node: SearchNode, action: int) -> SearchNode:
        child = node.children.get(action)
        if child is None:
            child = node.children[action] = SearchNode(self.game, self.game.apply(node.state, action))
        return child

    def _select_uct(self, root: SearchNode) -> list[SearchNode]:
        """The path from ``root`` to a new leaf (UCT: expanded by one untried action) or a terminal node."""
        node, path = root, [root]
        while not node.terminal:
            if node._untried:
                untried = node._untried
                i = self.rng.randrange(len(untried))
                untried[i], untried[-1] = untried[-1], untried[i]
                path.append(self._child(node, untried.pop()))
                break
            player, log_n, best, best_score = node.player, math.log(node.visits), None, -math.inf
            for child in node.children.values():
                score = child.value_sums[player] / child.visits + self.c * math.sqrt(log_n / child.visits)
                if score > best_score:
                    best, best_score = child, score
            node = best
            path.append(node)
        return path

    def _select_puct(self, root: SearchNode) -> list[SearchNode]:
        """The path from ``root`` to an unevaluated or terminal node, by PUCT."""
        node, path = root, [root]
        while not node.terminal and node.priors is not None:
            player, children = node.player, node.children
            scale = self.c * math.sqrt(node.visits)
            best_action, best_key = -1, (-math.inf, -math.inf)
            for action, prior in zip(node.actions, node.priors):
                child = children.get(action)
                if child is None or child.visits == 0:
                    key = (scale * prior, prior)
                else:
                    key = (child.value_sums[player] / child.visits + scale * prior / (1 + child.visits), prior)
                if key > best_key:
                    best_action, best_key = action, key
            node = self._child(node, best_action)
            path.append(node)
        return path

    # -------------------------------------------------------------- evaluation

    def _returns(self, state: Any) -> list[float]:
        out = self.game.returns(state)
        values = out.tolist() if isinstance(out, torch.Tensor) else [float(r) for r in out]
        if len(values) != self.game.num_players:
            raise ValueError(
                f"{type(self.game).__name__}.returns gave {len(values)} values; expected one per player "
                f"({self.game.num_players})"
            )
        return values

    def _rollout(self, state: Any) -> list[float]:
        game, rng = self.game, self.rng
        while not game.is_terminal(state):
            actions = game.legal_actions(state)
            if isinstance(actions, torch.Tensor):
                actions = _legal_actions(game, state)
            state = game.apply(state, actions[rng.randrange(len(actions))])
        return self._returns(state)

    def _evaluate(self, nodes: list[SearchNode]) -> tuple[list[list[float]], list[list[float]]]:
        """The evaluator's priors over each node's legal actions and its per-player values."""
        num_actions, num_players = self.game.num_actions, self.game.num_players
        if self.batched:
            priors, values = self.evaluator([node.state for node in nodes])
            priors = torch.as_tensor(priors, dtype=torch.float64)
            values = torch.as_tensor(values, dtype=torch.float64)
            if priors.shape != (len(nodes), num_actions):
                raise ValueError(
                    f"batched evaluator: priors must be [B, A] = {[len(nodes), num_actions]}, got {list(priors.shape)}"
                )
            if values.shape not in ((len(nodes),), (len(nodes), 1), (len(nodes), num_players)):
                raise ValueError(
                    f"batched evaluator: values must be [B] = [{len(nodes)}] (the player to move's) or "
                    f"[B, P] = {[len(nodes), num_players]}, got {list(values.shape)}"
                )
            value_rows = values.reshape(len(nodes), -1)
        else:
            outputs = [self.evaluator(node.state) for node in nodes]
            rows = [torch.as_tensor(prior, dtype=torch.float64) for prior, _ in outputs]
            for row in rows:
                if row.shape != (num_actions,):
                    raise ValueError(f"evaluator: the prior must be [A] = [{num_actions}], got {list(row.shape)}")
            priors = torch.stack(rows)
            value_rows = []
            for _, value in outputs:
                value = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
                if value.numel() not in (1, num_players):
                    raise ValueError(
                        f"evaluator: the value must be a number (the player to move's) or [P] = [{num_players}], "
                        f"got {value.numel()} numbers"
                    )
                value_rows.append(value)
        if not bool(torch.isfinite(priors).all()) or bool((priors < 0).any()):
            raise ValueError(
                "evaluator: the prior must hold probabilities (finite, >= 0); got a minimum of "
                f"{priors.nan_to_num(nan=-math.inf).min().item():.4g}: pass softmax(logits), not logits"
            )
        out_priors, out_values = [], []
        for node, prior, value in zip(nodes, priors, value_rows):
            legal = prior[node.actions]
            total = float(legal.sum())
            out_priors.append((legal / total).tolist() if total > 0 else [1.0 / len(node.actions)] * len(node.actions))
            out_values.append(self._per_player(value, node.player))
        return out_priors, out_values

    def _per_player(self, value: torch.Tensor, player: int) -> list[float]:
        """Every player's value from an evaluator's value (for the player to move, or already ``[P]``)."""
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"evaluator: the value must be finite, got {value.tolist()}")
        num_players = self.game.num_players
        if value.numel() == num_players and num_players != 1:
            return value.reshape(-1).tolist()
        v = float(value.reshape(-1)[0])
        if num_players == 1:
            return [v]
        if num_players == 2:
            return [v, -v] if player == 0 else [-v, v]
        raise ValueError(
            f"evaluator: a single value is read as zero-sum between two players, but the game has {num_players}; "
            f"return the [P] = [{num_players}] values of every player"
        )

    def _add_noise(self, prior: list[float]) -> list[float]:
        noise = [self.rng.gammavariate(self.dirichlet_alpha, 1.0) for _ in prior]
        total = sum(noise)
        if total <= 0:  # every draw underflowed (tiny alpha): the noise is a point mass
            noise, total = [1.0] + [0.0] * (len(prior) - 1), 1.0
        eps = self.dirichlet_epsilon
        return [(1 - eps) * p + eps * n / total for p, n in zip(prior, noise)]

    # ------------------------------------------------------------------ backup

    @staticmethod
    def _backup(path: list[SearchNode], values: list[float]) -> None:
        for node in path:
            node.visits += 1
            sums = node.value_sums
            for p, v in enumerate(values):
                sums[p] += v

    def _result(self, root: SearchNode) -> SearchResult:
        num_actions, player = self.game.num_actions, root.player
        visits = torch.zeros(num_actions, dtype=torch.int64)
        q = torch.zeros(num_actions, dtype=torch.float32)
        priors = torch.zeros(num_actions, dtype=torch.float32)
        root_priors = root.priors if root.priors is not None else [1.0 / len(root.actions)] * len(root.actions)
        priors[root.actions] = torch.tensor(root_priors, dtype=torch.float32)
        best, best_key = -1, None
        for action in root.actions:
            child = root.children.get(action)
            if child is None or child.visits == 0:
                continue
            visits[action] = child.visits
            q[action] = child.value(player)
            key = (child.visits, child.value(player), -action)
            if best_key is None or key > best_key:
                best, best_key = action, key
        return SearchResult(
            visit_counts=visits,
            action=best,
            root_value=root.value(player),
            q_values=q,
            priors=priors,
            player=player,
            root=root,
        )
