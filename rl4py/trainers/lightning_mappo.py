"""Shared-weight multi-agent PPO (MAPPO / IPPO) as a LightningModule: :mod:`rl4py.trainers.mappo`'s
config, builder and update body, one rollout per training step."""

from __future__ import annotations

import gymnasium as gym
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py.envs.base import EnvBase
from rl4py.envs.multi_agent import MultiAgentEnv
from rl4py.trainers.actor_critic import LossFactory
from rl4py.trainers.lightning_ppo import PPOModule
from rl4py.trainers.mappo import MAPPOConfig, build_mappo, mappo_update
from rl4py.values.base import ValueEstimator

__all__ = ["MAPPOModule"]


class MAPPOModule(PPOModule):
    """MAPPO (``config.critic_input="global"``) or IPPO (``"local"``) trained by the Lightning
    ``Trainer``: :func:`~rl4py.trainers.train_mappo`'s builder and update body, with everything
    :class:`~rl4py.trainers.PPOModule` does (DDP, exact resume of native envs, ``rl4py fit``).

    Args:
        env: a multi-agent env name for :func:`rl4py.envs.make_env`: a native team task
            (``"Rendezvous"``), ``"vmas:<scenario>"`` or ``"pettingzoo:<module>"``
            (``"pettingzoo:mpe2.simple_spread_v3"``).
        config: the hyperparameters (``num_envs`` is per rank).
        env_kwargs: extra constructor arguments of the env (``{n_agents: 3}``).
        actor, critic, loss, value_estimator: components used instead of the built ones.

    Examples:
        >>> import lightning.pytorch as pl
        >>> model = MAPPOModule("Rendezvous", MAPPOConfig(num_envs=4, rollout_length=16, total_frames=128))
        >>> trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False,
        ...                      enable_model_summary=False, max_epochs=-1)
        >>> trainer.fit(model)
        >>> model.env_frames
        128
    """

    config_class = MAPPOConfig
    config: MAPPOConfig

    def __init__(
        self,
        env: str = "Rendezvous",
        config: MAPPOConfig | None = None,
        env_kwargs: dict | None = None,
        actor: nn.Module | None = None,
        critic: nn.Module | None = None,
        loss: LossFactory | None = None,
        value_estimator: ValueEstimator | None = None,
    ) -> None:
        super().__init__(
            env, config, env_kwargs, False, actor=actor, critic=critic, loss=loss, value_estimator=value_estimator
        )

    def build(self, observation_space: gym.Space, action_space: gym.Space, masked: bool) -> None:
        self.set_parts(build_mappo(observation_space, action_space, self.config, masked=masked, **self._given))

    def on_collector_built(self, env: EnvBase) -> None:
        if not isinstance(env, MultiAgentEnv):
            raise TypeError(
                f"MAPPOModule: env {self.env_name!r} is not a multi-agent env (rl4py.envs.MultiAgentEnv); "
                "use PPOModule for single-agent envs"
            )
        self.config.check_minibatches(env.num_envs * env.n_agents, type(self).__name__)
        # a CPU generator (permutations move to the device): its state resumes on any device
        self._shuffle = torch.Generator().manual_seed(self.rank_seed)

    def update(self, rollout: TensorDictBase) -> TensorDictBase:
        return mappo_update(
            self.parts, rollout, self.optimizers(), self.config, self._shuffle, backward=self.backward_pass
        )
