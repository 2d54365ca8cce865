"""Random network distillation (Burda et al., 2018): the bonus is a trained predictor's error at
matching a fixed random network."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.envs.base import NestedKey
from rl4py.envs.wrappers import merge_moments
from rl4py.modules.mlp import MLP

__all__ = ["RND"]


class RND(nn.Module):
    """Random network distillation: ``bonus(s') = mean((f(s') - f_target(s'))^2) / std``.

    ``f_target`` is a randomly initialized MLP that is never trained; the predictor ``f`` is trained
    (its own Adam) to match it on the states seen, so its error stays high on states unlike those seen
    (Burda et al., 2018, "Exploration by random network distillation"). The error is divided by the
    running standard deviation of the errors seen in :meth:`update` (Chan et al.'s merge of batch
    moments; 1 before the first update), so ``coeff`` does not depend on the error's scale.

    :meth:`update` first merges the errors of the batch into the running moments, then takes ``epochs``
    gradient steps on the batch's mean squared error; it runs after the bonus is read
    (``update_first = False``). The networks, the optimizer and the moments are all in ``state_dict``
    (the optimizer through ``get_extra_state``), so a resumed run continues exactly.

    Args:
        observation_dim: size of the flat observation ``D``.
        embedding_dim: output size of both networks.
        num_cells: hidden sizes of both networks.
        lr: the predictor's Adam learning rate.
        epochs: gradient steps per :meth:`update`.
        seed: seed of both networks' initialization.
        key: the observation entry read under ``"next"``.

    Examples:
        >>> from tensordict import TensorDict
        >>> rnd = RND(4, seed=0)
        >>> td = TensorDict({"next": {"observation": torch.randn(32, 4)}}, [32])
        >>> before = rnd.prediction_error(td).mean()
        >>> for _ in range(50):
        ...     _ = rnd.update(td)
        >>> bool(rnd.prediction_error(td).mean() < 0.5 * before)   # seen states stop paying
        True
    """

    update_first = False

    def __init__(
        self,
        observation_dim: int,
        embedding_dim: int = 64,
        num_cells: Sequence[int] = (64, 64),
        lr: float = 1e-3,
        epochs: int = 1,
        seed: int = 0,
        key: NestedKey = keys.OBSERVATION,
    ) -> None:
        super().__init__()
        if observation_dim < 1 or embedding_dim < 1:
            raise ValueError(
                f"RND: observation_dim and embedding_dim must be >= 1, got {observation_dim} and {embedding_dim}"
            )
        if not lr > 0:
            raise ValueError(f"RND: lr must be > 0, got {lr}")
        if epochs < 1:
            raise ValueError(f"RND: epochs must be >= 1, got {epochs}")
        self.observation_dim = int(observation_dim)
        self.key = keys.next_key(key)
        self.epochs = int(epochs)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.target = MLP(observation_dim, embedding_dim, tuple(num_cells), activation=nn.ReLU)
            self.predictor = MLP(observation_dim, embedding_dim, tuple(num_cells), activation=nn.ReLU)
        self.target.requires_grad_(False)
        self.register_buffer("error_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("error_var", torch.ones((), dtype=torch.float64))
        self.register_buffer("error_count", torch.zeros((), dtype=torch.float64))
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=lr)

    def _observation(self, td: TensorDictBase) -> torch.Tensor:
        obs = td.get(self.key)
        if obs.dim() < 1 or obs.shape[-1] != self.observation_dim:
            raise ValueError(f"RND: {self.key!r} must be [*B, {self.observation_dim}], got {tuple(obs.shape)}")
        return obs.to(torch.float32)

    def prediction_error(self, td: TensorDictBase) -> torch.Tensor:
        """The predictor's squared error averaged over the embedding, ``[*B]`` (differentiable)."""
        obs = self._observation(td)
        return (self.predictor(obs) - self.target(obs)).square().mean(-1)

    @property
    def error_std(self) -> torch.Tensor:
        """The running standard deviation of the errors (1 before any update)."""
        return self.error_var.sqrt().clamp(min=1e-8) if self.error_count > 0 else torch.ones_like(self.error_var)

    def forward(self, td: TensorDictBase) -> torch.Tensor:
        """The normalized bonus ``[*B, 1]`` float32."""
        with torch.no_grad():
            return (self.prediction_error(td) / self.error_std).to(torch.float32).unsqueeze(-1)

    def update(self, td: TensorDictBase) -> dict[str, float]:
        """Merges the batch's errors into the running moments, then ``epochs`` Adam steps; returns
        ``{"rnd_loss": ...}`` (the last step's mean error)."""
        with torch.no_grad():
            errors = self.prediction_error(td).reshape(-1).to(torch.float64)
        self.error_mean, self.error_var, self.error_count = merge_moments(
            self.error_mean, self.error_var, self.error_count, errors.mean(), errors.var(unbiased=False), errors.numel()
        )
        loss = errors.new_zeros(())
        with torch.enable_grad():
            for _ in range(self.epochs):
                loss = self.prediction_error(td).mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
        return {"rnd_loss": float(loss.detach())}

    def get_extra_state(self) -> dict:
        # a copy: Adam's load_state_dict keeps same-device tensors, so a loaded twin would share its moments
        return {"optimizer": copy.deepcopy(self.optimizer.state_dict())}

    def set_extra_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
