"""An AlphaStar-style league: main agents, main exploiters and league exploiters, matched by PFSP.

The matchmaking follows the pseudo-code published with AlphaStar (Vinyals et al., 2019, "Grandmaster
level in StarCraft II using multi-agent reinforcement learning", ``pseudocode.py``); the exploiters'
reset may branch from the main agent instead (SCC, Wang et al., 2021). The league only decides who
plays whom and keeps the players' weights, snapshots and results: a trainer plays the games and
updates the learners.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from rl4py.multiagent.payoff import PayoffTable
from rl4py.multiagent.pfsp import PFSP, Weighting, _check_weighting
from rl4py.multiagent.pool import SelfPlayPool, Snapshot, freeze

__all__ = ["MAIN_MIXES", "ROLES", "League", "LeaguePlayer", "Opponent"]

Role = Literal["main", "main_exploiter", "league_exploiter"]

#: the league roles
ROLES: tuple[str, ...] = ("main", "main_exploiter", "league_exploiter")

#: the main agents' opponent mixes: the chance of each branch of :meth:`League.next_match`.
#: ``"book"``: 35% self-play, 65% PFSP over every snapshot; ``"alphastar"`` (the paper): 35% self-play,
#: 50% PFSP over every snapshot, 15% verification (past main exploiters it cannot beat, or its own past
#: it forgot how to beat; self-play when there is none); ``"fsp"``: fictitious self-play (Heinrich et al., 2015),
#: every game against a snapshot (with ``weighting="uniform"``, the uniform mixture of the pool: the main
#: agent learns a best response to its own average, whose snapshots' average then converges as
#: fictitious play does)
MAIN_MIXES: dict[str, dict[str, float]] = {
    "book": {"pfsp": 0.65, "verification": 0.0, "self_play": 0.35},
    "alphastar": {"pfsp": 0.5, "verification": 0.15, "self_play": 0.35},
    "fsp": {"pfsp": 1.0, "verification": 0.0, "self_play": 0.0},
}

# AlphaStar's pseudo-code thresholds on p(player beats opponent)
_SELF_PLAY_MIN = 0.3  # a main agent below it against the drawn main agent plays that one's past instead
_EXPLOITER_BEATABLE = 0.1  # a main exploiter below it against the main agent plays the main agent's past
_VERIFY_EXPLOITERS = 0.3  # a main agent below it against some past main exploiter plays those
_VERIFY_FORGETTING = 0.7  # a main agent below it against some of its opponent's past plays those


@dataclass(eq=False)
class LeaguePlayer:
    """A learner of the league: a trainable policy, its optimizer and its step counter.

    The trainer trains ``module`` with ``optimizer`` and advances ``step`` (env steps, games or updates:
    the unit of ``checkpoint_every``); the league may reset the weights in place and replace
    ``optimizer`` in :meth:`League.maybe_snapshot`, so read ``player.optimizer`` after each call.

    Attributes:
        name: the player's id in the payoff table (``"main_0"``, ``"main_exploiter_0"``, ...).
        role: one of :data:`ROLES`.
        module: the policy (trainable).
        optimizer: its optimizer, built by ``make_optimizer(module)``.
        make_optimizer: builds a fresh optimizer after a reset.
        step: the training steps so far.
        snapshot_step: ``step`` at the last snapshot.
        reset_step: ``step`` at the last reset (0 before any).
        resets: how many times the player was reset.
    """

    name: str
    role: str
    module: nn.Module
    optimizer: torch.optim.Optimizer
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    step: int = 0
    snapshot_step: int = 0
    reset_step: int = 0
    resets: int = 0


@dataclass(frozen=True)
class Opponent:
    """The opponent :meth:`League.next_match` picked.

    Attributes:
        name: its id in the payoff table (a player's name, or a snapshot's).
        module: its policy: a live player's trainable module (self-play: run it without gradients,
            its moves are the environment) or a frozen snapshot.
        live: whether it is a league player's current weights rather than a snapshot.
        branch: why it was picked: ``"pfsp"``, ``"self_play"``, ``"verification"`` (a past main exploiter
            or a forgotten past of the opponent), ``"main"`` (a main exploiter's target) or ``"curriculum"``
            (the past of a main agent the player cannot beat yet).
    """

    name: str
    module: nn.Module
    live: bool
    branch: str


def _remove_monotonic_suffix(win_rates: list[float], names: list[str]) -> tuple[list[float], list[str]]:
    """AlphaStar's pseudo-code: drops the newest snapshots while the win rate falls with recency."""
    for i in range(len(win_rates) - 1, 0, -1):
        if win_rates[i - 1] < win_rates[i]:
            return win_rates[: i + 1], names[: i + 1]
    return [], []


class League:
    """AlphaStar's league: who plays whom, snapshots every ``checkpoint_every`` steps, exploiter resets.

    Every player starts from a deep copy of ``module`` with ``make_optimizer(copy)``, and the pool
    starts with a snapshot of each main agent (as AlphaStar's league). Roles and their opponents
    (:meth:`next_match`):

    - **main agent** (``main_mix="book"``): 35% self-play against a main agent (its live weights), 65% PFSP
      over every snapshot (``weighting``). ``"alphastar"``: 50% PFSP over every snapshot; 15% verification,
      PFSP ``"squared"`` over the past main exploiters when it wins less than 30% against one of them, else
      over its opponent's past it wins less than 70% against (AlphaStar's forgetting check), else
      self-play; 35% self-play, or PFSP ``"variance"`` over the opponent's past when it wins less than 30%
      against the opponent now.
    - **main exploiter**: a main agent (drawn uniformly); PFSP ``"variance"`` over that agent's past
      snapshots while it wins less than 10% against it.
    - **league exploiter**: PFSP over every snapshot (``exploiter_weighting``).

    :meth:`maybe_snapshot` adds a snapshot once ``checkpoint_every`` steps have passed. An exploiter
    that beats its targets (win rate above ``reset_win_rate`` against every main agent; for a league
    exploiter, against every snapshot) or has trained ``reset_after`` steps since its last reset is
    then reset -- a league exploiter only with probability ``league_exploiter_reset_prob``, as in
    AlphaStar -- to the initial weights (``exploiter_reset="initial"``) or to a main agent's current
    weights (``"branch"``, SCC's agent branching), with a fresh optimizer either way and its results
    forgotten.

    The trainer's loop::

        player = league.players[i]
        opponent = league.next_match(player)          # an Opponent
        ...play games player.module vs opponent.module, update player.module with player.optimizer...
        league.report(player, opponent, returns)      # player's returns, one per game
        player.step += steps
        league.maybe_snapshot(player)

    Args:
        module: the initial policy (copied, never trained by the league).
        make_optimizer: builds an optimizer for a module, e.g. ``lambda m: torch.optim.Adam(m.parameters())``.
        main_agents, main_exploiters, league_exploiters: how many players of each role (>= 1, >= 0, >= 0).
        main_mix: ``"book"``, ``"alphastar"`` or ``"fsp"``, see :data:`MAIN_MIXES`.
        checkpoint_every: steps between two snapshots of a player (>= 1).
        exploiter_reset: ``"initial"`` or ``"branch"``.
        reset_win_rate: the win rate above which an exploiter counts as done, in ``(0, 1]``.
        reset_after: the step budget after which an exploiter is reset anyway; ``None``: no budget.
        league_exploiter_reset_prob: the chance a done league exploiter is reset, in ``[0, 1]``.
        weighting, power: the main agents' PFSP priority (default ``"hard"`` with power 2, AlphaStar's
            ``"squared"``); see :func:`~rl4py.multiagent.pfsp_weights`.
        exploiter_weighting: the league exploiters' PFSP priority (AlphaStar's ``"linear_capped"``).
        min_prob, unseen: every PFSP draw's probability floor and unseen-opponent rule, see
            :class:`~rl4py.multiagent.PFSP`.
        decay: the payoff table's decay of old games, see :class:`~rl4py.multiagent.PayoffTable`.
        capacity: the most snapshots kept (the oldest are evicted), or ``None`` for all.
        seed: seeds the league's ``torch.Generator`` (every draw).

    Examples:
        >>> league = League(nn.Linear(3, 2), lambda m: torch.optim.SGD(m.parameters(), lr=0.1), checkpoint_every=10)
        >>> [p.name for p in league.players], league.pool.names
        (['main_0', 'main_exploiter_0', 'league_exploiter_0'], ['main_0@0'])
        >>> main = league["main_0"]
        >>> opponent = league.next_match(main)
        >>> league.report(main, opponent, torch.tensor([1.0, -1.0, 1.0]))
        True
        >>> main.step += 10
        >>> league.maybe_snapshot(main).name
        'main_0@10'
    """

    def __init__(
        self,
        module: nn.Module,
        make_optimizer: Callable[[nn.Module], torch.optim.Optimizer],
        *,
        main_agents: int = 1,
        main_exploiters: int = 1,
        league_exploiters: int = 1,
        main_mix: Literal["book", "alphastar"] = "book",
        checkpoint_every: int,
        exploiter_reset: Literal["initial", "branch"] = "initial",
        reset_win_rate: float = 0.7,
        reset_after: int | None = None,
        league_exploiter_reset_prob: float = 0.25,
        weighting: Weighting = "hard",
        power: float | None = None,
        exploiter_weighting: Weighting = "linear_capped",
        min_prob: float = 0.0,
        unseen: Literal["first", "prior"] = "first",
        decay: float = 1.0,
        capacity: int | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"League: module must be an nn.Module, got {type(module).__name__}")
        if not callable(make_optimizer):
            raise TypeError("League: make_optimizer must be a callable module -> torch.optim.Optimizer")
        for name, count, least in (
            ("main_agents", main_agents, 1),
            ("main_exploiters", main_exploiters, 0),
            ("league_exploiters", league_exploiters, 0),
            ("checkpoint_every", checkpoint_every, 1),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < least:
                raise ValueError(f"League: {name} must be an int >= {least}, got {count!r}")
        if main_mix not in MAIN_MIXES:
            raise ValueError(f"League: main_mix must be one of {sorted(MAIN_MIXES)}, got {main_mix!r}")
        if exploiter_reset not in ("initial", "branch"):
            raise ValueError(f"League: exploiter_reset must be 'initial' or 'branch', got {exploiter_reset!r}")
        if not 0.0 < reset_win_rate <= 1.0:
            raise ValueError(f"League: reset_win_rate must be in (0, 1], got {reset_win_rate}")
        if reset_after is not None and (
            isinstance(reset_after, bool) or not isinstance(reset_after, int) or reset_after < 1
        ):
            raise ValueError(f"League: reset_after must be an int >= 1 or None, got {reset_after!r}")
        if not 0.0 <= league_exploiter_reset_prob <= 1.0:
            raise ValueError(
                f"League: league_exploiter_reset_prob must be in [0, 1], got {league_exploiter_reset_prob}"
            )
        _check_weighting(weighting, power, "League")
        _check_weighting(exploiter_weighting, None, "League (exploiter_weighting)")

        self.main_mix = main_mix
        self.checkpoint_every = checkpoint_every
        self.exploiter_reset = exploiter_reset
        self.reset_win_rate = float(reset_win_rate)
        self.reset_after = reset_after
        self.league_exploiter_reset_prob = float(league_exploiter_reset_prob)
        self.generator = torch.Generator().manual_seed(seed)
        self.payoff = PayoffTable(decay=decay)
        self.pool = SelfPlayPool(capacity)
        self._initial = freeze(module)
        self._evicted: set[str] = set()
        pfsp = {"min_prob": min_prob, "unseen": unseen}
        self._pfsp_main = PFSP(self.payoff, weighting, power=power, **pfsp)
        self._pfsp_league = PFSP(self.payoff, exploiter_weighting, **pfsp)
        self._pfsp_variance = PFSP(self.payoff, "variance", **pfsp)
        self._pfsp_squared = PFSP(self.payoff, "squared", **pfsp)

        self._players: dict[str, LeaguePlayer] = {}
        for role, count in (
            ("main", main_agents),
            ("main_exploiter", main_exploiters),
            ("league_exploiter", league_exploiters),
        ):
            for i in range(count):
                trainable = copy.deepcopy(module)
                optimizer = make_optimizer(trainable)
                if not isinstance(optimizer, torch.optim.Optimizer):
                    raise TypeError(
                        f"League: make_optimizer must return a torch.optim.Optimizer, got {type(optimizer).__name__}"
                    )
                player = LeaguePlayer(f"{role}_{i}", role, trainable, optimizer, make_optimizer)
                self._players[player.name] = player
                self.payoff.add_player(player.name)
        for player in self.main_agents:
            self.snapshot(player)

    # ---- players ----------------------------------------------------------------------------------
    @property
    def players(self) -> list[LeaguePlayer]:
        """Every learner: main agents, then main exploiters, then league exploiters."""
        return list(self._players.values())

    def role(self, role: str) -> list[LeaguePlayer]:
        """The players of ``role`` (one of :data:`ROLES`)."""
        if role not in ROLES:
            raise ValueError(f"League.role: role must be one of {ROLES}, got {role!r}")
        return [p for p in self._players.values() if p.role == role]

    @property
    def main_agents(self) -> list[LeaguePlayer]:
        """The main agents."""
        return self.role("main")

    def __getitem__(self, name: str) -> LeaguePlayer:
        return self._player(name, "League")

    def _player(self, player: LeaguePlayer | str, where: str) -> LeaguePlayer:
        name = player.name if isinstance(player, LeaguePlayer) else player
        found = self._players.get(name) if isinstance(name, str) else None
        if found is None or (isinstance(player, LeaguePlayer) and found is not player):
            raise KeyError(f"{where}: {name!r} is not a player of this league; players: {list(self._players)}")
        return found

    # ---- matchmaking ------------------------------------------------------------------------------
    def next_match(self, player: LeaguePlayer | str) -> Opponent:
        """The opponent ``player`` plays next, drawn by its role (see the class docstring)."""
        player = self._player(player, "League.next_match")
        if player.role == "main":
            return self._main_match(player)
        if player.role == "main_exploiter":
            return self._main_exploiter_match(player)
        return self._snapshot_opponent(self._pfsp_league.sample(player.name, self.pool.names, self.generator), "pfsp")

    def _uniform(self) -> float:
        return float(torch.rand((), generator=self.generator, dtype=torch.float64))

    def _choice(self, items: list[Any]) -> Any:
        return items[int(torch.randint(len(items), (1,), generator=self.generator))]

    def _live(self, player: LeaguePlayer, branch: str) -> Opponent:
        return Opponent(player.name, player.module, live=True, branch=branch)

    def _snapshot_opponent(self, name: str, branch: str) -> Opponent:
        return Opponent(name, self.pool[name].module, live=False, branch=branch)

    def _past(self, parents: set[str]) -> list[str]:
        return [s.name for s in self.pool.snapshots if s.parent in parents]

    def _main_match(self, player: LeaguePlayer) -> Opponent:
        mix = MAIN_MIXES[self.main_mix]
        coin = self._uniform()
        if coin < mix["pfsp"]:
            return self._snapshot_opponent(self._pfsp_main.sample(player.name, self.pool.names, self.generator), "pfsp")
        opponent = self._choice(self.main_agents)
        if coin < mix["pfsp"] + mix["verification"]:
            verified = self._verification(player, opponent)
            if verified is not None:
                return verified
        if self.main_mix == "book" or self.payoff.win_rate(player.name, opponent.name) > _SELF_PLAY_MIN:
            return self._live(opponent, "self_play")
        past = self._past({opponent.name})
        if not past:
            return self._live(opponent, "self_play")
        return self._snapshot_opponent(self._pfsp_variance.sample(player.name, past, self.generator), "curriculum")

    def _verification(self, player: LeaguePlayer, opponent: LeaguePlayer) -> Opponent | None:
        exploiters = self._past({p.name for p in self.role("main_exploiter")})
        if exploiters and min(self.payoff.win_rate(player.name, s) for s in exploiters) < _VERIFY_EXPLOITERS:
            return self._snapshot_opponent(
                self._pfsp_squared.sample(player.name, exploiters, self.generator), "verification"
            )
        past = self._past({opponent.name})
        rates, past = _remove_monotonic_suffix([self.payoff.win_rate(player.name, s) for s in past], past)
        if rates and min(rates) < _VERIFY_FORGETTING:
            return self._snapshot_opponent(self._pfsp_squared.sample(player.name, past, self.generator), "verification")
        return None

    def _main_exploiter_match(self, player: LeaguePlayer) -> Opponent:
        target = self._choice(self.main_agents)
        if self.payoff.win_rate(player.name, target.name) > _EXPLOITER_BEATABLE:
            return self._live(target, "main")
        past = self._past({target.name})
        if not past:
            return self._live(target, "main")
        return self._snapshot_opponent(self._pfsp_variance.sample(player.name, past, self.generator), "curriculum")

    # ---- results, snapshots, resets ---------------------------------------------------------------
    def report(
        self,
        player: LeaguePlayer | str,
        opponent: Opponent | LeaguePlayer | Snapshot | str,
        outcome: str | float | torch.Tensor,
    ) -> bool:
        """Records games of ``player`` against ``opponent`` in the payoff table.

        Args:
            player: the learner.
            opponent: what :meth:`next_match` returned, or a player, snapshot or name.
            outcome: ``player``'s side, see :meth:`~rl4py.multiagent.PayoffTable.record`.

        Returns:
            ``True``; ``False`` when ``opponent`` is a snapshot evicted from the pool since it was
            drawn (its games are dropped with it).

        Raises:
            KeyError: an unknown player or opponent.
        """
        player = self._player(player, "League.report")
        name = opponent if isinstance(opponent, str) else getattr(opponent, "name", None)
        if not isinstance(name, str):
            raise TypeError(
                "League.report: opponent must be an Opponent, LeaguePlayer, Snapshot or name, "
                f"got {type(opponent).__name__}"
            )
        if name in self._evicted:
            return False
        if name not in self.payoff:
            raise KeyError(
                f"League.report: unknown opponent {name!r}; players: {list(self._players)}, "
                f"snapshots: {self.pool.names}"
            )
        self.payoff.record(player.name, name, outcome)
        return True

    def snapshot(self, player: LeaguePlayer | str) -> Snapshot:
        """Adds a frozen copy of ``player``'s weights to the pool now, named ``"<name>@<step>"``."""
        player = self._player(player, "League.snapshot")
        before = set(self.pool.names)
        snapshot = self.pool.add(
            player.module, step=player.step, name=f"{player.name}@{player.step}", parent=player.name
        )
        self.payoff.add_player(snapshot.name)
        for gone in before - set(self.pool.names):
            self.payoff.remove_player(gone)
            self._evicted.add(gone)
        player.snapshot_step = player.step
        return snapshot

    def maybe_snapshot(self, player: LeaguePlayer | str) -> Snapshot | None:
        """A snapshot of ``player`` when ``checkpoint_every`` steps passed since its last; may reset an exploiter.

        An exploiter done with its targets (see the class docstring) is reset right after the
        snapshot, so the pool keeps the weights it reached.

        Returns:
            The new snapshot, or ``None`` when none was due.
        """
        player = self._player(player, "League.maybe_snapshot")
        if player.step - player.snapshot_step < self.checkpoint_every:
            return None
        done = player.role != "main" and self._done(player)  # before the snapshot: a new one is unseen
        snapshot = self.snapshot(player)
        if done and (player.role == "main_exploiter" or self._uniform() < self.league_exploiter_reset_prob):
            self.reset_player(player)
        return snapshot

    def _done(self, player: LeaguePlayer) -> bool:
        if self.reset_after is not None and player.step - player.reset_step >= self.reset_after:
            return True
        targets = [p.name for p in self.main_agents] if player.role == "main_exploiter" else self.pool.names
        return min(self.payoff.win_rate(player.name, t) for t in targets) > self.reset_win_rate

    def reset_player(self, player: LeaguePlayer | str, mode: Literal["initial", "branch"] | None = None) -> None:
        """Resets ``player``'s weights in place, gives it a fresh optimizer and forgets its results.

        Args:
            player: the player (usually an exploiter).
            mode: ``"initial"``: the league's initial weights; ``"branch"``: the current weights of a main
                agent (drawn uniformly; SCC's agent branching); ``None``: the league's ``exploiter_reset``.
        """
        player = self._player(player, "League.reset_player")
        mode = self.exploiter_reset if mode is None else mode
        if mode == "initial":
            source = self._initial.state_dict()
        elif mode == "branch":
            source = self._choice(self.main_agents).module.state_dict()
        else:
            raise ValueError(f"League.reset_player: mode must be 'initial', 'branch' or None, got {mode!r}")
        player.module.load_state_dict(source)
        for p in player.module.parameters():
            p.grad = None
        player.optimizer = player.make_optimizer(player.module)
        player.reset_step = player.step
        player.resets += 1
        self.payoff.forget(player.name)

    # ---- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every player's weights, optimizer state and counters, the initial weights, pool, payoff and RNG."""
        return {
            "players": {
                p.name: {
                    "module": p.module.state_dict(),
                    "optimizer": p.optimizer.state_dict(),
                    "step": p.step,
                    "snapshot_step": p.snapshot_step,
                    "reset_step": p.reset_step,
                    "resets": p.resets,
                }
                for p in self._players.values()
            },
            "initial": self._initial.state_dict(),
            "pool": self.pool.state_dict(),
            "payoff": self.payoff.state_dict(),
            "evicted": sorted(self._evicted),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` into a league built with the same arguments.

        Raises:
            KeyError: the state's players are not this league's.
        """
        missing = {"players", "initial", "pool", "payoff", "evicted", "generator"} - set(state)
        if missing:
            raise KeyError(f"League.load_state_dict: the state lacks {sorted(missing)}")
        if set(state["players"]) != set(self._players):
            raise KeyError(
                f"League.load_state_dict: the state holds players {sorted(state['players'])}, this league "
                f"{sorted(self._players)}; build it with the same main_agents / exploiters counts"
            )
        self._initial.load_state_dict(state["initial"])
        for name, saved in state["players"].items():
            player = self._players[name]
            player.module.load_state_dict(saved["module"])
            player.optimizer.load_state_dict(saved["optimizer"])
            player.step, player.snapshot_step = int(saved["step"]), int(saved["snapshot_step"])
            player.reset_step, player.resets = int(saved["reset_step"]), int(saved["resets"])
        self.pool.load_state_dict(state["pool"], lambda: copy.deepcopy(self._initial))
        self.payoff.load_state_dict(state["payoff"])
        self._evicted = set(state["evicted"])
        self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        roles = {role: len(self.role(role)) for role in ROLES}
        return f"League({roles}, main_mix={self.main_mix!r}, snapshots={len(self.pool)})"
