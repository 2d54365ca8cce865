"""A batched multi-hero lane task: a team of heroes of different types pushes an enemy tower.

The task of :func:`rl4py.trainers.train_cspl` (JueWu's Curriculum Self-Play Learning): every team
composition plays differently, one network serves them all by reading the composition.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator

__all__ = ["HERO_TYPES", "HeroLane", "HeroType", "hero_compositions"]

#: the verbs a hero's action index maps to (:attr:`HeroType.controls`)
FORWARD, BACK, ATTACK, ABILITY = 0, 1, 2, 3
#: how :class:`HeroLane` gives sub-envs their compositions
ASSIGNMENTS = ("random", "cycle")


@dataclass(frozen=True)
class HeroType:
    """One hero type of :class:`HeroLane`.

    Attributes:
        name: for messages and reports.
        speed: cells moved by the forward and back verbs.
        reach: attacks hit the tower from at most this many cells away.
        power: damage of one attack that hits.
        ability_move: cells the ability moves the hero forward (a charge).
        rally: damage the ability adds to each attack a teammate lands in the same step.
        controls: the verb of each of the 4 action indices, a permutation of
            ``(FORWARD, BACK, ATTACK, ABILITY) = (0, 1, 2, 3)``: every type binds its skills to
            other buttons, so the same action index does different things on different heroes.
    """

    name: str
    speed: int
    reach: int
    power: int
    ability_move: int
    rally: int
    controls: tuple[int, int, int, int]


#: the default hero pool (the first ``num_hero_types`` are used)
HERO_TYPES: tuple[HeroType, ...] = (
    HeroType("warrior", speed=1, reach=1, power=2, ability_move=2, rally=0, controls=(0, 1, 2, 3)),
    HeroType("archer", speed=1, reach=4, power=1, ability_move=0, rally=1, controls=(2, 0, 3, 1)),
    HeroType("support", speed=1, reach=2, power=0, ability_move=0, rally=2, controls=(3, 2, 1, 0)),
    HeroType("scout", speed=2, reach=1, power=1, ability_move=3, rally=0, controls=(1, 3, 0, 2)),
    HeroType("mage", speed=1, reach=3, power=2, ability_move=0, rally=1, controls=(1, 2, 0, 3)),
    HeroType("tank", speed=1, reach=1, power=1, ability_move=1, rally=1, controls=(3, 0, 2, 1)),
)


def hero_compositions(num_hero_types: int, team_size: int) -> list[tuple[int, ...]]:
    """Every team of ``team_size`` distinct hero types out of ``num_hero_types``, as sorted id tuples
    (``C(num_hero_types, team_size)`` of them, in lexicographic order).

    Examples:
        >>> hero_compositions(3, 2)
        [(0, 1), (0, 2), (1, 2)]
    """
    if not 1 <= team_size <= num_hero_types:
        raise ValueError(
            f"hero_compositions: team_size must be in [1, num_hero_types={num_hero_types}], got {team_size}"
        )
    return list(itertools.combinations(range(num_hero_types), team_size))


class HeroLane(EnvBase):
    """A team of ``team_size`` heroes on a lane of ``lane_length`` cells deals damage to a tower.

    Each hero starts at cell 0; the tower stands at cell ``lane_length``. Each step every hero
    picks one of 4 action indices, which its type's :attr:`HeroType.controls` maps to a verb:

    1. *move*: forward ``+speed``, back ``-speed``, ability ``+ability_move`` (positions clipped
       to ``[0, lane_length]``);
    2. *damage*: a hero whose verb is attack and whose distance to the tower
       ``lane_length - x`` is at most its ``reach`` deals ``power`` plus the ``rally`` of every
       teammate using its ability this step.

    The reward is ``reward_scale`` times the team's damage this step; episodes are truncated
    after ``episode_length`` steps (never terminated). Hero types differ in speed, reach, power,
    ability and button layout, so a team's best play depends on its composition (a support deals
    no damage but rallies; a warrior must charge to reach the tower).

    - **Observation** ``[B, team_size * (num_hero_types + 1) + 1]`` float32: per slot the hero
      type's one-hot and its position ``x / lane_length``, then the fraction of the episode left.
    - **Action** ``[B, team_size]`` int64 in ``[0, 4)``: slot ``j``'s action index (``MultiDiscrete``).
    - **Compositions**: ``compositions`` is the pool (default :func:`hero_compositions`: every
      sorted team of distinct types); with ``assign="random"`` each episode of each sub-env draws
      one uniformly from the pool (seeded by :meth:`reset`'s seed, in :meth:`state_dict`); with
      ``assign="cycle"`` sub-env ``i`` always plays ``compositions[i % len(compositions)]``. A
      pool of one composition fixes it. :attr:`composition` ``[B, team_size]`` is the current one.

    Args:
        num_envs: number of sub-envs B.
        num_hero_types: the pool's first ``num_hero_types`` entries of ``hero_types`` are used.
        team_size: heroes per team ``k``.
        compositions: the teams to play, each ``team_size`` ids in ``[0, num_hero_types)``.
        assign: ``"random"`` or ``"cycle"`` (see above).
        lane_length: the tower's distance from the start.
        episode_length: steps per episode.
        reward_scale: reward per point of damage.
        hero_types: the hero pool (default :data:`HERO_TYPES`).
        device: device of the state and of every returned tensor.
        validate: check actions and outputs (see :class:`EnvBase`).

    Examples:
        >>> env = HeroLane(num_envs=4, compositions=[(0, 2)])
        >>> td = env.reset(seed=0)
        >>> td["observation"].shape
        torch.Size([4, 11])
        >>> td["action"] = env.rand_action()  # [4, 2]
        >>> env.step(td)["next", "reward"].shape
        torch.Size([4, 1])
    """

    trusted_entries = True

    def __init__(
        self,
        num_envs: int = 1,
        num_hero_types: int = 4,
        team_size: int = 2,
        compositions: Sequence[Sequence[int]] | None = None,
        assign: str = "random",
        lane_length: int = 6,
        episode_length: int = 12,
        reward_scale: float = 0.1,
        hero_types: Sequence[HeroType] = HERO_TYPES,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        name = type(self).__name__
        hero_types = tuple(hero_types)
        if not isinstance(num_hero_types, int) or not 1 <= num_hero_types <= len(hero_types):
            raise ValueError(f"{name}: num_hero_types must be an int in [1, {len(hero_types)}], got {num_hero_types!r}")
        if not isinstance(team_size, int) or not 1 <= team_size <= num_hero_types:
            raise ValueError(
                f"{name}: team_size must be an int in [1, num_hero_types={num_hero_types}], got {team_size!r}"
            )
        for hero in hero_types:
            if sorted(hero.controls) != [FORWARD, BACK, ATTACK, ABILITY]:
                raise ValueError(f"{name}: hero {hero.name!r} controls must be a permutation of (0, 1, 2, 3)")
        if assign not in ASSIGNMENTS:
            raise ValueError(f"{name}: assign must be one of {ASSIGNMENTS}, got {assign!r}")
        for field, value in (("lane_length", lane_length), ("episode_length", episode_length)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {field} must be an int >= 1, got {value!r}")
        if not reward_scale > 0 or reward_scale == float("inf"):
            raise ValueError(f"{name}: reward_scale must be a finite number > 0, got {reward_scale!r}")
        pool = hero_compositions(num_hero_types, team_size) if compositions is None else list(compositions)
        if not pool:
            raise ValueError(f"{name}: compositions is empty; give at least one team of {team_size} hero ids")
        for team in pool:
            team = tuple(team)
            if len(team) != team_size or not all(isinstance(t, int) and 0 <= t < num_hero_types for t in team):
                raise ValueError(
                    f"{name}: each composition must be {team_size} hero ids in [0, {num_hero_types}), got {team!r}"
                )
        size = team_size * (num_hero_types + 1) + 1
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(0.0, 1.0, (size,), np.float32),
            single_action_space=gym.spaces.MultiDiscrete([4] * team_size),
            device=device,
            validate=validate,
        )
        self.check_outputs = False  # one-hots, fractions and integer damage are finite
        self.num_hero_types = num_hero_types
        self.team_size = team_size
        self.hero_types = hero_types[:num_hero_types]
        self.compositions = [tuple(team) for team in pool]
        self.assign = assign
        self.lane_length = lane_length
        self.episode_length = episode_length
        self.reward_scale = float(reward_scale)
        dev = self.device
        self._pool = torch.tensor(self.compositions, dtype=torch.int64, device=dev)  # [C, k]
        table = [[h.speed, h.reach, h.power, h.ability_move, h.rally] for h in self.hero_types]
        self._stats = torch.tensor(table, dtype=torch.int64, device=dev)  # [H, 5]
        self._controls = torch.tensor([h.controls for h in self.hero_types], dtype=torch.int64, device=dev)  # [H, 4]
        self._rng = SeededGenerator(dev)
        #: ``[B, team_size]`` int64: the hero type of each slot
        self.composition = self._pool[torch.arange(num_envs, device=dev) % len(pool)].clone()
        #: ``[B, team_size]`` int64: each hero's cell
        self.position = torch.zeros(num_envs, team_size, dtype=torch.int64, device=dev)
        self.elapsed_steps = torch.zeros(num_envs, dtype=torch.int64, device=dev)

    # ---------------------------------------------------------------- dynamics
    def _draw_compositions(self) -> torch.Tensor:
        """Compositions ``[B, k]`` for new episodes: drawn from the pool, or each sub-env's own."""
        if self.assign == "cycle":
            return self._pool[torch.arange(self.num_envs, device=self.device) % len(self._pool)]
        index = torch.randint(len(self._pool), (self.num_envs,), generator=self._rng.generator, device=self.device)
        return self._pool[index]

    def _observe(self, composition: torch.Tensor, position: torch.Tensor, elapsed: torch.Tensor) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(composition, self.num_hero_types).to(torch.float32)  # [B, k, H]
        where = (position.to(torch.float32) / self.lane_length).unsqueeze(-1)  # [B, k, 1]
        left = (1.0 - elapsed.to(torch.float32) / self.episode_length).unsqueeze(-1)  # [B, 1]
        return torch.cat((torch.cat((one_hot, where), -1).flatten(1), left), -1)

    def observed_composition(self, observation: torch.Tensor) -> torch.Tensor:
        """The composition an observation shows (its slots' one-hots): ``[*B, obs] -> [*B, k]`` int64.

        Raises:
            ValueError: ``observation``'s last dim is not this env's observation size.
        """
        size = self.single_observation_space.shape[0]
        if observation.dim() < 1 or observation.shape[-1] != size:
            raise ValueError(
                f"{self.name}: observed_composition needs observations [*B, {size}], got {tuple(observation.shape)}"
            )
        slots = observation[..., : size - 1].unflatten(-1, (self.team_size, self.num_hero_types + 1))
        return slots[..., : self.num_hero_types].argmax(-1)

    def dynamics(
        self, composition: torch.Tensor, position: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the lane: moves, then damage.

        Args:
            composition: ``[B, k]`` hero type ids.
            position: ``[B, k]`` cells.
            action: ``[B, k]`` action indices in ``[0, 4)``.

        Returns:
            ``(next_position [B, k], damage [B, k])``: the cells after the moves and the damage each
            hero dealt (integers).
        """
        verb = self._controls[composition, action]  # [B, k]
        speed, reach, power, ability_move, rally = self._stats[composition].unbind(-1)  # each [B, k]
        zero = torch.zeros_like(position)
        move = torch.where(verb == FORWARD, speed, zero) - torch.where(verb == BACK, speed, zero)
        move = move + torch.where(verb == ABILITY, ability_move, zero)
        next_position = (position + move).clamp(0, self.lane_length)
        rally_given = torch.where(verb == ABILITY, rally, zero).sum(-1, keepdim=True)  # [B, 1]
        hits = (verb == ATTACK) & (self.lane_length - next_position <= reach)
        damage = torch.where(hits, power + rally_given, zero)
        return next_position, damage

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        self.composition = self._draw_compositions()
        self.position = torch.zeros_like(self.position)
        self.elapsed_steps = torch.zeros_like(self.elapsed_steps)
        return {keys.OBSERVATION: self._observe(self.composition, self.position, self.elapsed_steps)}

    def _step(self, action: torch.Tensor) -> EnvStep:
        next_position, damage = self.dynamics(self.composition, self.position, action)
        reward = damage.sum(-1, keepdim=True).to(torch.float32) * self.reward_scale
        elapsed = self.elapsed_steps + 1
        truncated = (elapsed >= self.episode_length).unsqueeze(-1)  # [B, 1]
        next_obs = self._observe(self.composition, next_position, elapsed)
        ended = truncated.squeeze(-1)
        fresh = self._draw_compositions()
        self.composition = torch.where(truncated, fresh, self.composition)
        self.position = next_position.masked_fill(truncated, 0)
        self.elapsed_steps = elapsed.masked_fill(ended, 0)
        return EnvStep(
            next={
                keys.OBSERVATION: next_obs,
                keys.REWARD: reward,
                keys.TERMINATED: torch.zeros_like(truncated),
                keys.TRUNCATED: truncated,
                keys.DONE: truncated.clone(),
            },
            root={keys.OBSERVATION: self._observe(self.composition, self.position, self.elapsed_steps)},
        )

    # ------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        return {
            "composition": self.composition.clone(),
            "position": self.position.clone(),
            "elapsed_steps": self.elapsed_steps.clone(),
            "rng": self._rng.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.composition = state["composition"].to(self.device).clone()
        self.position = state["position"].to(self.device).clone()
        self.elapsed_steps = state["elapsed_steps"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])
