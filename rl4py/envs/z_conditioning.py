"""z-conditioning: a strategy sampled per episode, shown to the policy, and a pseudo-reward for following it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.seeding import SeededGenerator
from rl4py.envs.wrappers import EnvWrapper, require_one_reward_head

__all__ = ["PSEUDO_REWARD", "Z_STATISTICS", "ZConditioning", "z_pseudo_reward"]

#: the running mean of the strategy statistic over the current episode, ``[B, z_dim]``
Z_STATISTICS = "z_statistics"
#: the step's pseudo-reward ``-coeff * ||statistics - z||_2`` (already added to ``"reward"``), ``[B, 1]``
PSEUDO_REWARD = "pseudo_reward"

#: maps a step's ``"next"`` entries (``"observation"``, ``"reward"``, ...) to its statistic ``[B, z_dim]``
Statistic = Callable[[dict[NestedKey, torch.Tensor]], torch.Tensor]


def z_pseudo_reward(statistics: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The strategy pseudo-reward: the negative L2 distance ``-||statistics - z||_2`` over the last dim.

    Args:
        statistics: observed strategy statistics ``[*B, z_dim]``.
        z: target strategies ``[*B, z_dim]``.

    Returns:
        ``[*B, 1]``: 0 where the behaviour matches the strategy, negative elsewhere.

    Examples:
        >>> z_pseudo_reward(torch.tensor([[0.0, 0.0], [1.0, 0.5]]), torch.tensor([[3.0, 4.0], [1.0, 0.5]]))
        tensor([[-5.],
                [-0.]])
    """
    if statistics.shape != z.shape or statistics.dim() < 1:
        raise ValueError(
            f"z_pseudo_reward: statistics and z must have one shape [*B, z_dim], got {tuple(statistics.shape)} "
            f"and {tuple(z.shape)}"
        )
    return -(statistics - z).norm(dim=-1, keepdim=True)


class ZConditioning(EnvWrapper):
    """Samples a strategy ``z`` per episode, shows it to the policy and rewards behaviour that matches it.

    Goal-conditioned RL as in AlphaStar's and JueWu's strategy conditioning: each episode draws
    ``z ~ U[low, high]^z_dim``; every step, ``statistic(next entries)`` ``[B, z_dim]`` measures
    the behaviour (for example, being on the left), its running mean over the episode so far
    ``s_t`` is compared with ``z``, and the reward becomes

    ``reward + coeff * (-||s_t - z||_2)`` (:func:`z_pseudo_reward`)

    The policy reads ``"z"`` ``[B, z_dim]`` (and, with ``observe_statistics``,
    ``"z_statistics"`` ``[B, z_dim]``, ``s`` before the step) next to its observation: see
    :class:`~rl4py.modules.ZConditionedMLP` for concatenation or FiLM. The step's pseudo-reward is
    also written to ``("next", "pseudo_reward")``.

    ``z`` comes from the wrapper's own generator, seeded by ``reset(seed)``; ``z``, the running
    statistics and the generator live in :meth:`state_dict`, so a resumed run draws the same
    strategies. :meth:`fix_z` pins the strategy of every new episode (to evaluate one strategy).

    Args:
        env: a one-head env (``reward_heads == 1``).
        statistic: maps a step's ``"next"`` entries to ``[B, z_dim]`` floats.
        z_dim: the strategy's size.
        coeff: weight of the pseudo-reward (>= 0).
        low, high: bounds of the uniform draw of ``z``.
        observe_statistics: also write ``"z_statistics"``.

    Examples:
        >>> from rl4py.envs import LeftRight, left_side_fraction
        >>> env = ZConditioning(LeftRight(num_envs=2), lambda n: left_side_fraction(n["observation"]), z_dim=1)
        >>> env.fix_z([0.75])                                # every episode's z (else drawn per episode)
        >>> root = env.reset_tensors(0)
        >>> root["z"].tolist(), root["z_statistics"].tolist()
        ([[0.75], [0.75]], [[0.0], [0.0]])
        >>> out = env.step_tensors(torch.tensor([0, 2]))     # one step left, one right
        >>> out.next["z_statistics"].tolist(), out.next["pseudo_reward"].tolist()
        ([[1.0], [0.0]], [[-0.25], [-0.75]])
    """

    def __init__(
        self,
        env: EnvBase,
        statistic: Statistic,
        z_dim: int,
        coeff: float = 1.0,
        low: float = 0.0,
        high: float = 1.0,
        observe_statistics: bool = True,
    ) -> None:
        require_one_reward_head(env, "ZConditioning")
        if not isinstance(z_dim, int) or z_dim < 1:
            raise ValueError(f"ZConditioning: z_dim must be an int >= 1, got {z_dim!r}")
        if not coeff >= 0:
            raise ValueError(f"ZConditioning: coeff must be >= 0, got {coeff}")
        if not low < high:
            raise ValueError(f"ZConditioning: needs low < high, got low={low}, high={high}")
        if not callable(statistic):
            raise TypeError(f"ZConditioning: statistic must be callable, got {type(statistic).__name__}")
        super().__init__(env)
        self.statistic = statistic
        self.z_dim = z_dim
        self.coeff = float(coeff)
        self.low, self.high = float(low), float(high)
        self.observe_statistics = observe_statistics
        self._rng = SeededGenerator(self.device)
        b = self.num_envs
        #: ``[B, z_dim]``: each sub-env's strategy for its current episode
        self.z = torch.zeros(b, z_dim, device=self.device)
        #: ``[B, z_dim]``: sum of the statistic over the current episode; ``[B, 1]``: its steps
        self.stat_sum = torch.zeros(b, z_dim, device=self.device)
        self.steps = torch.zeros(b, 1, device=self.device)
        #: ``[z_dim]`` strategy every new episode takes, or ``None`` to draw one
        self.fixed_z: torch.Tensor | None = None

    @property
    def observation_keys(self) -> tuple[NestedKey, ...]:
        extra = (keys.STRATEGY, Z_STATISTICS) if self.observe_statistics else (keys.STRATEGY,)
        return (*self.env.observation_keys, *extra)

    def fix_z(self, z: Sequence[float] | torch.Tensor | None) -> None:
        """Every episode from the next reset or episode end on takes strategy ``z`` ``[z_dim]``
        (``None``: draw again)."""
        if z is None:
            self.fixed_z = None
            return
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.shape != (self.z_dim,):
            raise ValueError(f"ZConditioning.fix_z: z must have shape ({self.z_dim},), got {tuple(z.shape)}")
        self.fixed_z = z

    def _draw(self) -> torch.Tensor:
        u = torch.rand(self.num_envs, self.z_dim, generator=self._rng.generator, device=self.device)
        z = self.low + (self.high - self.low) * u
        return z if self.fixed_z is None else self.fixed_z.expand_as(z).clone()

    def _entries(self, z: torch.Tensor, mean: torch.Tensor) -> dict[NestedKey, torch.Tensor]:
        out = {keys.STRATEGY: z.clone()}
        if self.observe_statistics:
            out[Z_STATISTICS] = mean.clone()
        return out

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        self._rng.seed(seed)
        obs = self.env.reset_tensors(seed)
        self.z = self._draw()
        self.stat_sum = torch.zeros_like(self.stat_sum)
        self.steps = torch.zeros_like(self.steps)
        return {**obs, **self._entries(self.z, self.stat_sum)}

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        stat = self.statistic(out.next)
        if not isinstance(stat, torch.Tensor) or stat.shape != (self.num_envs, self.z_dim):
            got = tuple(stat.shape) if isinstance(stat, torch.Tensor) else type(stat).__name__
            raise ValueError(
                f"ZConditioning: statistic must return a tensor [num_envs, z_dim] = ({self.num_envs}, {self.z_dim}), "
                f"got {got}"
            )
        stat_sum = self.stat_sum + stat.to(self.stat_sum.dtype)
        steps = self.steps + 1
        mean = stat_sum / steps
        pseudo = self.coeff * z_pseudo_reward(mean, self.z)
        reward = out.next[keys.REWARD]
        out.next[keys.REWARD] = reward + pseudo.to(reward.dtype)
        out.next[PSEUDO_REWARD] = pseudo
        out.next.update(self._entries(self.z, mean))
        done = out.next[keys.DONE]
        self.z = torch.where(done, self._draw(), self.z)
        self.stat_sum = stat_sum.masked_fill(done, 0.0)
        self.steps = steps.masked_fill(done, 0.0)
        out.root.update(self._entries(self.z, self.stat_sum / self.steps.clamp_min(1.0)))
        return out

    def state_dict(self) -> dict:
        return {
            "env": self.env.state_dict(),
            "z": self.z.clone(),
            "stat_sum": self.stat_sum.clone(),
            "steps": self.steps.clone(),
            "fixed_z": None if self.fixed_z is None else self.fixed_z.clone(),
            "rng": self._rng.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.env.load_state_dict(state["env"])
        for name in ("z", "stat_sum", "steps"):
            setattr(self, name, state[name].to(self.device).clone())
        self.fixed_z = None if state["fixed_z"] is None else state["fixed_z"].to(self.device).clone()
        self._rng.load_state_dict(state["rng"])
