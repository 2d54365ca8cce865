"""Reward shaping wrappers: a potential-based shaping term and a count-based exploration bonus.

Both add to ``("next", "reward")`` and keep the env's own reward under ``("next", "extrinsic_reward")``,
so a run can report the return of the task next to the return it optimised.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.wrappers import EnvWrapper, require_one_reward_head

__all__ = ["EXTRINSIC_REWARD", "CountBonus", "PotentialShaping"]

#: where the shaping wrappers keep the env's own reward, ``[B, 1]``, under ``"next"``
EXTRINSIC_REWARD = "extrinsic_reward"


def _keep_extrinsic(out: EnvStep) -> torch.Tensor:
    """The env's own reward of ``out``, stored once under ``("next", "extrinsic_reward")`` (the innermost
    shaping wrapper stores it; outer ones leave it)."""
    if EXTRINSIC_REWARD not in out.next:
        out.next[EXTRINSIC_REWARD] = out.next[keys.REWARD]
    return out.next[keys.REWARD]


class PotentialShaping(EnvWrapper):
    """Potential-based reward shaping (Ng, Harada & Russell, 1999): adds ``gamma * phi(s') - phi(s)``.

    The shaped and the original task have the same optimal policies. ``phi(s')`` is taken as 0 when
    the episode terminates (not when it is truncated, where the state goes on), so the shaping terms
    of an episode telescope to ``-phi(s_0)`` plus a bounded tail.

    Args:
        env: the wrapped env (flat ``"observation"``).
        potential: ``phi``, maps observations ``[B, *obs_shape]`` to potentials ``[B]``.
        gamma: the discount of the learner (use the trainer's ``gamma``).

    Examples:
        >>> from rl4py.envs import MountainCar
        >>> energy = lambda obs: 100 * obs[:, 1].abs()   # a faster car has more potential
        >>> env = PotentialShaping(MountainCar(num_envs=2), energy, gamma=0.99)
        >>> _ = env.reset_tensors(seed=0)
        >>> out = env.step_tensors(torch.tensor([2, 2]))
        >>> sorted(k for k in out.next if isinstance(k, str))
        ['done', 'extrinsic_reward', 'observation', 'reward', 'terminated', 'truncated']
    """

    def __init__(self, env: EnvBase, potential: Callable[[torch.Tensor], torch.Tensor], gamma: float) -> None:
        if not callable(potential):
            raise TypeError(f"PotentialShaping: potential must be callable, got {type(potential).__name__}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"PotentialShaping: gamma must be in [0, 1], got {gamma}")
        require_one_reward_head(env, "PotentialShaping")
        super().__init__(env)
        self.potential = potential
        self.gamma = float(gamma)
        self._phi: torch.Tensor | None = None  # phi of the current root observation, [B, 1]

    def _potential(self, observation: torch.Tensor) -> torch.Tensor:
        phi = self.potential(observation)
        if phi.shape != (self.num_envs,):
            raise ValueError(
                f"PotentialShaping: potential returned shape {tuple(phi.shape)}; expected ({self.num_envs},), "
                f"one value per sub-env"
            )
        return phi.to(torch.float32).unsqueeze(-1)

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        obs = self.env.reset_tensors(seed)
        self._phi = self._potential(obs[keys.OBSERVATION])
        return obs

    def _step(self, action: torch.Tensor) -> EnvStep:
        if self._phi is None:
            raise RuntimeError("PotentialShaping: step before reset")
        out = self.env.step_tensors(action)
        reward = _keep_extrinsic(out)
        phi_next = self._potential(out.next[keys.OBSERVATION]).masked_fill(out.next[keys.TERMINATED], 0.0)
        out.next[keys.REWARD] = reward + self.gamma * phi_next - self._phi
        # the next step starts from the root: the reset observation where an episode ended
        self._phi = self._potential(out.root[keys.OBSERVATION])
        return out

    def state_dict(self) -> dict:
        return {"env": self.env.state_dict(), "phi": None if self._phi is None else self._phi.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        self._phi = None if state["phi"] is None else state["phi"].to(self.device).clone()


class CountBonus(EnvWrapper):
    """Count-based exploration bonus: adds ``coeff / sqrt(N(cell(s')))`` to the reward.

    ``cell(s)`` discretizes the observation on a grid of ``resolution`` (``floor(s / resolution)``)
    and ``N`` counts how often each cell was reached, summed over all sub-envs. Counts live in a
    hash table of ``table_size`` slots (the cells are hashed, as in Tang et al., 2017, "#Exploration"),
    so memory stays fixed; distinct cells that share a slot share a count.

    Args:
        env: the wrapped env (flat ``"observation"``).
        resolution: the grid's cell width, a float or one per observation dimension.
        coeff: the bonus scale (0.01 to 0.1 against rewards of order 1).
        table_size: slots of the count table.

    Examples:
        >>> from rl4py.envs import MountainCar
        >>> env = CountBonus(MountainCar(num_envs=2), resolution=10.0, coeff=1.0)   # one big cell
        >>> _ = env.reset_tensors(seed=0)
        >>> out = env.step_tensors(torch.tensor([1, 1]))
        >>> out.next["reward"] - out.next["extrinsic_reward"]   # both cars reached it: N = 2
        tensor([[0.7071],
                [0.7071]])
    """

    def __init__(
        self, env: EnvBase, resolution: float | list[float], coeff: float = 0.01, table_size: int = 1 << 20
    ) -> None:
        require_one_reward_head(env, "CountBonus")
        super().__init__(env)
        shape = env.single_observation_space.shape
        if shape is None or len(shape) != 1:
            raise ValueError(f"CountBonus: needs a flat observation, got shape {shape}")
        resolution_t = torch.as_tensor(resolution, dtype=torch.float64, device=self.device).reshape(-1)
        if resolution_t.numel() not in (1, shape[0]):
            raise ValueError(
                f"CountBonus: resolution has {resolution_t.numel()} values; expected 1 or {shape[0]} (one per "
                "observation dimension)"
            )
        resolution_t = resolution_t.expand(shape[0]).clone()
        if not bool((resolution_t > 0).all()):
            raise ValueError(f"CountBonus: resolution must be > 0, got {resolution}")
        if coeff < 0:
            raise ValueError(f"CountBonus: coeff must be >= 0, got {coeff}")
        if table_size < 1:
            raise ValueError(f"CountBonus: table_size must be >= 1, got {table_size}")
        self.resolution = resolution_t
        self.coeff = float(coeff)
        self.counts = torch.zeros(table_size, dtype=torch.int64, device=self.device)
        # odd 61-bit multipliers, one per dimension: a multiplicative hash of the integer cell
        gen = torch.Generator().manual_seed(0x5EED)
        self._multipliers = (torch.randint(1 << 60, (shape[0],), generator=gen) * 2 + 1).to(self.device)

    def cells(self, observation: torch.Tensor) -> torch.Tensor:
        """The count-table slots of ``observation`` ``[B, D]``: ``[B]`` int64."""
        cell = torch.floor(observation.to(torch.float64) / self.resolution).to(torch.int64)
        return (cell * self._multipliers).sum(-1).remainder(self.counts.numel())

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        reward = _keep_extrinsic(out)
        slots = self.cells(out.next[keys.OBSERVATION])
        # counted before the bonus is read, so the first visit gives coeff / sqrt(1)
        self.counts.index_put_((slots,), torch.ones_like(slots), accumulate=True)
        bonus = self.coeff / self.counts[slots].to(torch.float32).sqrt()
        out.next[keys.REWARD] = reward + bonus.unsqueeze(-1)
        return out

    def state_dict(self) -> dict:
        return {"env": self.env.state_dict(), "counts": self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        self.counts = state["counts"].to(self.device).clone()
