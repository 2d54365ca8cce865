"""Self-play and league training on two-player games: its defaults table (:class:`SelfPlayConfig`),
its builder (:func:`build_self_play`), its update body (:func:`self_play_update`, one round: every
learner plays one rollout against the opponents the league draws for it, then one PPO update) and
its plain loop (:func:`train_self_play`). :class:`~rl4py.trainers.SelfPlayModule` runs the same
round as a Lightning ``training_step``.

Each learner plays in its own :class:`~rl4py.games.VersusEnv`: the opponents' moves are part of
the env, so the rollout holds the learner's moves only, and the update is the actor-critic one of
:mod:`rl4py.trainers.actor_critic` (PPO's loss; V-trace with ``estimator="vtrace"``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.collectors.sync import SyncCollector
from rl4py.games import VersusEnv, make_game
from rl4py.games.openspiel import OpenSpielGame, exploitability
from rl4py.multiagent.league import League, LeaguePlayer, Opponent
from rl4py.trainers.actor_critic import ActorCriticParts, actor_critic_update, make_networks, make_optimizer
from rl4py.trainers.config import _at_least, check_range
from rl4py.trainers.ppo import PPOConfig, ppo_parts
from rl4py.trainers.psro import PSROPopulation
from rl4py.trainers.tracking import EpisodeTracker, Progress, ProgressReporter, TrainResult

__all__ = [
    "AVERAGE_WEIGHTINGS",
    "OPPONENT_MODES",
    "SelfPlayConfig",
    "SelfPlayLearner",
    "SelfPlayParts",
    "SelfPlayResult",
    "action_probabilities",
    "build_self_play",
    "self_play_exploitability",
    "self_play_update",
    "train_self_play",
]

#: who the learners play: ``"latest"``, naive self-play (one learner against its own live weights);
#: ``"league"``, an AlphaStar-style :class:`~rl4py.multiagent.League` (main agents, exploiters, PFSP);
#: ``"psro"``, PSRO (a fresh best response every ``psro_rounds`` rounds against the meta-Nash mixture
#: of the population of earlier ones; OpenSpiel games with information states)
OPPONENT_MODES: tuple[str, ...] = ("latest", "league", "psro")
#: how an average policy weights its snapshots
AVERAGE_WEIGHTINGS: tuple[str, ...] = ("uniform", "linear")


@dataclass(frozen=True)
class SelfPlayConfig(PPOConfig):
    """Self-play and league training; the PPO fields train every learner (tuned for Kuhn poker).

    ``total_frames`` counts the learners' moves, summed over all learners; a round (one
    ``training_step``) collects ``num_envs * rollout_length`` moves per learner.
    """

    game: str = "kuhn_poker"
    """The game: a native one (:data:`rl4py.games.NATIVE_GAMES`) or any OpenSpiel name."""
    num_envs: int = 128
    """Games each learner plays at once."""
    rollout_length: int = 8
    """Learner moves per game slot per round."""
    total_frames: int = 2_000_000
    lr: float = 1e-3
    anneal_lr: bool = False
    """League players are reset and branched: no single schedule fits them (off by default)."""
    epochs: int = 4
    num_minibatches: int = 4
    entropy_coeff: float = 0.01
    gamma: float = 1.0
    """Undiscounted: the game's return is what counts."""
    lmbda: float = 1.0
    opponents: str = "league"
    """One of :data:`OPPONENT_MODES`."""
    main_agents: int = 1
    """League: main agents (>= 1)."""
    main_exploiters: int = 1
    """League: main exploiters (>= 0)."""
    league_exploiters: int = 1
    """League: league exploiters (>= 0)."""
    main_mix: str = "book"
    """League: the main agents' opponent mix, ``"book"`` (35% self-play, 65% PFSP), ``"alphastar"``
    (35 / 50 / 15 with verification) or ``"fsp"`` (fictitious self-play: PFSP over the pool only);
    see :data:`rl4py.multiagent.MAIN_MIXES`."""
    snapshot_every: int = 10
    """League: rounds between two snapshots of a learner into the pool."""
    exploiter_reset: str = "initial"
    """League: an exploiter done with its targets restarts from the initial weights (``"initial"``) or
    branches from a main agent (``"branch"``, SCC)."""
    reset_after: int | None = None
    """League: rounds after which an exploiter is reset anyway (``None``: only when it beats its targets)."""
    pfsp_weighting: str = "hard"
    """League: the main agents' PFSP priority (see :func:`rl4py.multiagent.pfsp_weights`)."""
    exploiter_weighting: str = "linear_capped"
    """League: the league exploiters' PFSP priority (AlphaStar's ``"linear_capped"``; ``"uniform"``:
    a best response to the pool's uniform mixture, as PSRO's and fictitious play's)."""
    league_exploiter_reset_prob: float = 0.25
    """League: the chance a league exploiter done with its targets (or past ``reset_after``) is reset
    (AlphaStar: 0.25)."""
    pool_capacity: int | None = None
    """League: the most snapshots kept (oldest evicted), ``None`` for all."""
    matches_per_rollout: int = 8
    """League: opponents drawn per learner per round; the game slots are split evenly among them."""
    psro_rounds: int = 30
    """PSRO: rounds a best response trains (from fresh weights) before it joins the population."""
    meta_iterations: int = 3000
    """PSRO: regret-matching steps of the meta-solver (:func:`~rl4py.multiagent.nash_mixture`)."""
    average_last: int | None = None
    """The average policy mixes the main agents' last ``average_last`` snapshots (``None``: all)."""
    average_weighting: str = "uniform"
    """How the average policies weight their snapshots: ``"uniform"``, or ``"linear"`` (the ``i``-th
    snapshot by ``i``: the late, better ones count more, as in linear averaging of CFR+)."""
    eval_every: int = 0
    """Rounds between two exploitability evaluations (OpenSpiel games with information states; 0: never)."""
    target_exploitability: float | None = None
    """Stop once an evaluated exploitability (the main agent's or the average policy's) is at most this."""

    def check(self) -> None:
        super().check()
        name = type(self).__name__
        if self.opponents not in OPPONENT_MODES:
            raise ValueError(f"{name}: opponents must be one of {OPPONENT_MODES}, got {self.opponents!r}")
        for field_name in ("main_agents", "snapshot_every", "matches_per_rollout", "psro_rounds", "meta_iterations"):
            _at_least(self, field_name, 1)
        for field_name in ("main_exploiters", "league_exploiters", "eval_every"):
            _at_least(self, field_name, 0)
        if self.num_envs % self.matches_per_rollout:
            raise ValueError(
                f"{name}: num_envs={self.num_envs} must split evenly among "
                f"matches_per_rollout={self.matches_per_rollout}"
            )
        if self.average_weighting not in AVERAGE_WEIGHTINGS:
            raise ValueError(
                f"{name}: average_weighting must be one of {AVERAGE_WEIGHTINGS}, got {self.average_weighting!r}"
            )
        if self.average_last is not None:
            _at_least(self, "average_last", 1)
        if self.target_exploitability is not None:
            check_range(self, "target_exploitability", 0.0)
            if self.eval_every < 1:
                raise ValueError(f"{name}: target_exploitability needs eval_every >= 1 (rounds between evaluations)")


@dataclass(eq=False)
class SelfPlayLearner:
    """One learner: its PPO parts, its env (the game against its opponents), collector and counters.

    Attributes:
        name: the league player's name (``"main_0"``, ...), or ``"latest"`` in naive self-play.
        parts: PPO's parts around the learner's networks.
        env: the :class:`~rl4py.games.VersusEnv` it plays in.
        collector: collects its rollouts.
        shuffle: shuffles its minibatches.
        tracker: its recent game returns.
        player: its league player (``None`` in naive self-play).
        own_optimizer: its optimizer in naive self-play (a league player holds its own).
    """

    name: str
    parts: ActorCriticParts
    env: VersusEnv
    collector: SyncCollector
    shuffle: torch.Generator
    tracker: EpisodeTracker
    player: LeaguePlayer | None = None
    own_optimizer: torch.optim.Optimizer | None = None

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer of its next update (a league reset replaces the player's)."""
        return self.player.optimizer if self.player is not None else self.own_optimizer


@dataclass(eq=False)
class SelfPlayParts:
    """What :func:`build_self_play` makes: the learners (the first is the main agent) and the league."""

    learners: list[SelfPlayLearner]
    league: League | None
    config: SelfPlayConfig
    rounds: int = 0
    frames: int = 0
    population: PSROPopulation | None = None
    """PSRO's population (``opponents="psro"``)."""
    response_rounds: int = 0
    """PSRO: rounds the current best response has trained."""

    @property
    def main(self) -> SelfPlayLearner:
        """The first main agent (naive self-play: the only learner)."""
        return self.learners[0]

    def average_policy_actors(self, whole_league: bool = False) -> list[nn.Module]:
        """The actors of the snapshots the average policy mixes (the last ``average_last``): the main
        agents' (or, ``whole_league``, every snapshot of the pool); naive self-play: the latest actor."""
        if self.population is not None:
            return self.population.actors()
        if self.league is None:
            return [self.main.parts.actor]
        mains = {p.name for p in self.league.main_agents}
        snapshots = [s for s in self.league.pool.snapshots if whole_league or s.parent in mains]
        if self.config.average_last is not None:
            snapshots = snapshots[-self.config.average_last :]
        return [s.module["actor"] for s in snapshots]

    def state_dict(self) -> dict:
        """Everything a resumed run continues from exactly: the league (weights, optimizers, pool,
        payoff, RNG), each learner's env, collector, shuffle and recent returns, and torch's RNG."""
        return {
            "league": self.league.state_dict() if self.league is not None else None,
            # the one learner of naive self-play and PSRO (a league holds its players' own)
            "learner": (
                {
                    "actor": self.main.parts.actor.state_dict(),
                    "critic": self.main.parts.critic.state_dict(),
                    "optimizer": self.main.own_optimizer.state_dict(),
                }
                if self.league is None
                else None
            ),
            "population": self.population.state_dict() if self.population is not None else None,
            "response_rounds": self.response_rounds,
            "learners": [
                {
                    "opponents": self._opponent_names(learner),
                    "collector": learner.collector.state_dict(),
                    "shuffle": learner.shuffle.get_state(),
                    "recent": (
                        list(learner.tracker.recent),
                        list(learner.tracker.recent_lengths),
                        learner.tracker.episodes,
                    ),
                }
                for learner in self.learners
            ],
            "rounds": self.rounds,
            "frames": self.frames,
            "torch_rng": torch.get_rng_state(),
        }

    @staticmethod
    def _opponent_names(learner: SelfPlayLearner) -> list[str]:
        env = learner.env
        return sorted(
            {env.opponent_name(i) for i in range(env.num_envs)}
            | {env.next_opponent_name(i) for i in range(env.num_envs)}
        )

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict` into parts built from the same config."""
        if (state["league"] is None) != (self.league is None):
            raise ValueError("SelfPlayParts.load_state_dict: the state and these parts differ in config.opponents")
        if len(state["learners"]) != len(self.learners):
            raise ValueError(
                f"SelfPlayParts.load_state_dict: the state holds {len(state['learners'])} learners, these parts "
                f"{len(self.learners)}; build them with the same config"
            )
        if self.league is not None:
            self.league.load_state_dict(state["league"])
        else:
            self.main.parts.actor.load_state_dict(state["learner"]["actor"])
            self.main.parts.critic.load_state_dict(state["learner"]["critic"])
            self.main.own_optimizer.load_state_dict(state["learner"]["optimizer"])
        if self.population is not None:
            self.population.load_state_dict(state["population"])
            self.response_rounds = int(state["response_rounds"])
        for learner, saved in zip(self.learners, state["learners"]):
            for name in saved["opponents"]:
                learner.env.register_opponent(name, self.opponent_player(learner, name))
            learner.collector.load_state_dict(saved["collector"])
            learner.shuffle.set_state(saved["shuffle"])
            recent, lengths, episodes = saved["recent"]
            learner.tracker.recent.clear()
            learner.tracker.recent.extend(recent)
            learner.tracker.recent_lengths.clear()
            learner.tracker.recent_lengths.extend(lengths)
            learner.tracker.episodes = int(episodes)
        self.rounds, self.frames = int(state["rounds"]), int(state["frames"])
        torch.set_rng_state(state["torch_rng"])

    def opponent_player(self, learner: SelfPlayLearner, name: str) -> nn.Module:
        """The actor that plays as opponent ``name``: a league player's live actor, a snapshot's, a PSRO
        member's, or (naive self-play, ``"latest"``) the learner's own."""
        if self.population is not None:
            return self.population.pool[name].module["actor"]
        if self.league is None:
            if name != "latest":
                raise KeyError(f"SelfPlayParts: naive self-play has only the opponent 'latest', got {name!r}")
            return learner.parts.actor
        if name in self.league.pool:
            return self.league.pool[name].module["actor"]
        return self.league[name].module["actor"]


@dataclass
class SelfPlayResult(TrainResult):
    """:class:`~rl4py.trainers.TrainResult` plus the self-play parts (the league, every learner) and the
    last evaluation (``{"main": ..., "average": ...}`` exploitabilities; empty when none ran)."""

    parts: SelfPlayParts | None = None
    evaluation: dict[str, float] = field(default_factory=dict)


def _spaces(config: SelfPlayConfig) -> tuple[gym.Space, gym.Space]:
    probe = make_game(config.game, num_games=1)
    low = np.full(probe.observation_shape, -np.inf, dtype=np.float32)
    return gym.spaces.Box(low, -low, dtype=np.float32), gym.spaces.Discrete(probe.num_actions)


def build_self_play(config: SelfPlayConfig, device: torch.device | str = "cpu") -> SelfPlayParts:
    """The learners, their envs and collectors, and (``opponents="league"``) the league.

    Seeds torch with ``config.seed`` for the networks; learner ``i``'s games are seeded ``seed + 1000 * i``.

    Args:
        config: the hyperparameters.
        device: where the games and networks live.
    """
    torch.manual_seed(config.seed)
    observation_space, action_space = _spaces(config)
    actor, critic = make_networks(observation_space, action_space, config, masked=True)
    template = nn.ModuleDict({"actor": actor, "critic": critic}).to(device)
    league = None
    if config.opponents == "league":
        league = League(
            template,
            lambda module: make_optimizer(module, config),
            main_agents=config.main_agents,
            main_exploiters=config.main_exploiters,
            league_exploiters=config.league_exploiters,
            main_mix=config.main_mix,
            checkpoint_every=config.snapshot_every,
            exploiter_reset=config.exploiter_reset,
            reset_after=config.reset_after,
            weighting=config.pfsp_weighting,
            exploiter_weighting=config.exploiter_weighting,
            league_exploiter_reset_prob=config.league_exploiter_reset_prob,
            capacity=config.pool_capacity,
            seed=config.seed,
        )
        members = [(p.name, p.module, p) for p in league.players]
    elif config.opponents == "psro":
        members = [("best_response", copy.deepcopy(template), None)]
    else:
        members = [("latest", template, None)]
    population = None
    if config.opponents == "psro":
        game = make_game(config.game, num_games=1)
        if not isinstance(game, OpenSpielGame) or not game.game.get_type().provides_information_state_tensor:
            raise ValueError(
                f"build_self_play: opponents='psro' needs an OpenSpiel game with information states (its payoffs "
                f"are computed exactly over the game tree), got {config.game!r}"
            )
        population = PSROPopulation(game.game, template, action_probabilities, config.meta_iterations, config.seed)
    learners = []
    for i, (name, module, player) in enumerate(members):
        parts = ppo_parts(module["actor"], module["critic"], config)
        parts.loss.to(device)
        parts.value_estimator.to(device)
        if player is not None:
            first = _as_player(league.next_match(player))
        elif population is not None:
            first = population.draw(1)[0]
        else:
            first = ("latest", module["actor"])
        env = VersusEnv(make_game(config.game, num_games=config.num_envs, device=device), first)
        seed = config.seed + 1000 * i
        learners.append(
            SelfPlayLearner(
                name=name,
                parts=parts,
                env=env,
                collector=SyncCollector(env, parts.policy, config.rollout_length, seed=seed, return_same_td=True),
                shuffle=torch.Generator().manual_seed(seed),
                tracker=EpisodeTracker(config.window),
                player=player,
                own_optimizer=make_optimizer(parts.loss, config) if player is None else None,
            )
        )
    return SelfPlayParts(learners, league, config, population=population)


def _as_player(opponent: Opponent) -> tuple[str, nn.Module]:
    return opponent.name, opponent.module["actor"]


def self_play_update(
    parts: SelfPlayParts,
    *,
    backward: Callable[[torch.Tensor], None] | None = None,
    learning_rate: float | None = None,
) -> TensorDictBase:
    """One round: each learner draws its opponents (league: ``matches_per_rollout`` PFSP / role draws,
    the game slots split evenly among them), collects a rollout, takes the actor-critic update with its
    optimizer, and reports its finished games to the league, which may snapshot or reset it.

    Args:
        parts: from :func:`build_self_play`.
        backward: the backward pass (a LightningModule's ``manual_backward``).
        learning_rate: sets every learner's learning rate first (``None``: unchanged).

    Returns:
        The main agent's update stats.
    """
    config = parts.config
    league = parts.league
    main_stats = None
    for learner in parts.learners:
        per = config.num_envs // config.matches_per_rollout
        if league is not None:
            draws = [_as_player(league.next_match(learner.player)) for _ in range(config.matches_per_rollout)]
            learner.env.set_opponents([d for d in draws for _ in range(per)])
        elif parts.population is not None:
            learner.env.set_opponents(
                [d for d in parts.population.draw(config.matches_per_rollout) for _ in range(per)]
            )
        rollout = learner.collector.rollout()
        learner.tracker.update(rollout)
        optimizer = learner.optimizer
        if learning_rate is not None:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate
        stats = actor_critic_update(learner.parts, rollout, optimizer, config, learner.shuffle, backward=backward)
        parts.frames += learner.collector.frames_per_rollout
        results = learner.env.pop_results()
        if league is not None:
            for name, returns in results.items():
                league.report(learner.player, name, returns)
            learner.player.step += 1
            league.maybe_snapshot(learner.player)
        if main_stats is None:
            main_stats = stats
    parts.rounds += 1
    if parts.population is not None:
        parts.response_rounds += 1
        if parts.response_rounds == config.psro_rounds:
            _next_response(parts)
    return main_stats


def _next_response(parts: SelfPlayParts) -> None:
    """PSRO: the best response joins the population; the learner restarts from fresh weights (drawn
    from its own seed, not torch's stream) with a fresh optimizer."""
    learner, config = parts.main, parts.config
    module = nn.ModuleDict({"actor": learner.parts.actor, "critic": learner.parts.critic})
    parts.population.add(module, step=parts.rounds)
    observation_space, action_space = _spaces(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 7919 * len(parts.population))
        actor, critic = make_networks(observation_space, action_space, config, masked=True)
    learner.parts.actor.load_state_dict(actor.state_dict())
    learner.parts.critic.load_state_dict(critic.state_dict())
    learner.own_optimizer = make_optimizer(learner.parts.loss, config)
    parts.response_rounds = 0


def action_probabilities(actor: nn.Module) -> Callable[[TensorDictBase], torch.Tensor]:
    """The function ``td -> [N, A]`` action probabilities of a categorical rl4py actor (for
    :func:`rl4py.games.exploitability`)."""

    def probabilities(td: TensorDictBase) -> torch.Tensor:
        return actor.get_dist(td).probs

    return probabilities


def self_play_exploitability(parts: SelfPlayParts) -> dict[str, float]:
    """The exploitability (OpenSpiel's best responses) of the main agent (PSRO: the best response in
    training), of the average policy (the main agents' snapshots mixed uniformly or linearly; PSRO: the
    population's meta-Nash mixture) and of the league average (every snapshot of the pool, or every
    PSRO member, mixed uniformly): ``{"main", "average", "league_average"}``.

    Raises:
        ValueError: the game is not an OpenSpiel game with information-state tensors.
    """
    game = parts.main.env.game
    if not isinstance(game, OpenSpielGame) or not game.game.get_type().provides_information_state_tensor:
        raise ValueError(
            f"self_play_exploitability: {parts.config.game!r} is not an OpenSpiel game with information states "
            "(exploitability is computed over them: e.g. kuhn_poker, leduc_poker)"
        )
    with torch.no_grad():
        main = exploitability(game.game, action_probabilities(parts.main.parts.actor))
        result = {"main": main}
        for name, whole in (("average", False), ("league_average", True)):
            actors = parts.average_policy_actors(whole)
            weights = None
            if parts.population is not None and name == "average":
                weights = parts.population.mixture.tolist()  # the meta-Nash mixture; league_average: uniform
            elif parts.config.average_weighting == "linear":
                total = len(actors) * (len(actors) + 1) / 2
                weights = [(i + 1) / total for i in range(len(actors))]
            result[name] = exploitability(game.game, [action_probabilities(a) for a in actors], weights)
    return result


def train_self_play(
    config: SelfPlayConfig | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    *,
    device: torch.device | str = "cpu",
    max_seconds: float | None = None,
) -> SelfPlayResult:
    """Trains by self-play or in a league (:func:`build_self_play`, then :func:`self_play_update` per
    round) until ``total_frames`` learner moves, ``target_exploitability``, or ``max_seconds``.

    Args:
        config: the hyperparameters (Kuhn poker, a league, if ``None``).
        progress, progress_every: where to report and the period in rounds (see
            :class:`~rl4py.trainers.ProgressReporter`); reports carry ``exploitability`` and
            ``average_exploitability`` when evaluated, and the league's ``snapshots``.
        device: where the games and networks live.
        max_seconds: a wall-time budget (``None``: none).

    Returns:
        A :class:`SelfPlayResult`: modules ``actor`` and ``critic`` (the main agent's), the parts and the
        last evaluation; ``solved`` is whether ``target_exploitability`` was reached.

    Examples:
        >>> result = train_self_play(SelfPlayConfig(total_frames=2048, num_envs=32, matches_per_rollout=4))
        >>> result.frames  # 3 rounds of 3 learners x 32 games x 8 moves
        2304
    """
    config = config or SelfPlayConfig()
    start = time.perf_counter()
    parts = build_self_play(config, device)
    torch.manual_seed(config.seed)  # the sampling
    reporter = ProgressReporter(progress, progress_every, start)
    evaluation: dict[str, float] = {}
    solved = False
    while parts.frames < config.total_frames:
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
        stats = self_play_update(parts)
        extra: dict[str, float] = {"rounds": parts.rounds}
        if parts.league is not None:
            extra["snapshots"] = len(parts.league.pool)
        if config.eval_every and parts.rounds % config.eval_every == 0:
            evaluation = self_play_exploitability(parts)
            extra.update({f"{name}_exploitability": value for name, value in evaluation.items()})
            target = config.target_exploitability
            solved = target is not None and min(evaluation.values()) <= target
        reporter.maybe_report(parts.rounds, parts.frames, parts.main.tracker, stats, **extra)
        if solved:
            break
    reporter.finish()
    main = parts.main
    return SelfPlayResult(
        solved=solved,
        frames=parts.frames,
        seconds=time.perf_counter() - start,
        mean_return=main.tracker.mean_return,
        iterations=parts.rounds,
        updates=parts.rounds * len(parts.learners) * config.epochs * config.num_minibatches,
        modules={"actor": main.parts.actor, "critic": main.parts.critic},
        history=reporter.history,
        parts=parts,
        evaluation=evaluation,
    )
