"""Networks producing the parameters of a diagonal Gaussian policy."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["GaussianParams"]


class GaussianParams(nn.Module):
    """Wraps a network into ``obs -> (loc, log_std)`` for :class:`~rl4py.modules.distributions.DiagGaussian`.

    Two modes, as in the seed book:

    - ``"separate"`` (CleanRL's default): the network outputs the means ``[*B, d]``; the log
      standard deviation is a state-independent parameter ``[d]`` initialised to
      ``init_log_std``.
    - ``"output"``: the network outputs ``[*B, 2d]``, the means then the log standard
      deviations, offset by ``init_log_std`` (so a small-gain output layer starts there too).

    The log-std is clamped to ``[-5, 2]`` by the distribution, not here.

    Args:
        network: maps observations to ``[*B, d]`` (separate) or ``[*B, 2d]`` (output).
        action_dim: ``d``.
        log_std_mode: ``"separate"`` or ``"output"``.
        init_log_std: initial value of the separate log-std parameter; in ``"output"`` mode, a
            constant added to the network's log-std outputs.

    Examples:
        >>> params = GaussianParams(nn.Linear(3, 1), action_dim=1)
        >>> loc, log_std = params(torch.zeros(5, 3))
        >>> loc.shape, log_std.shape
        (torch.Size([5, 1]), torch.Size([5, 1]))
    """

    def __init__(
        self,
        network: nn.Module,
        action_dim: int,
        log_std_mode: Literal["separate", "output"] = "separate",
        init_log_std: float = 0.0,
    ) -> None:
        super().__init__()
        if log_std_mode not in ("separate", "output"):
            raise ValueError(f"GaussianParams: log_std_mode must be 'separate' or 'output', got {log_std_mode!r}")
        if action_dim < 1:
            raise ValueError(f"GaussianParams: action_dim must be >= 1, got {action_dim}")
        self.network = network
        self.action_dim = action_dim
        self.log_std_mode = log_std_mode
        self.init_log_std = float(init_log_std)
        if log_std_mode == "separate":
            self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.network(obs)
        expected = self.action_dim if self.log_std_mode == "separate" else 2 * self.action_dim
        if out.shape[-1] != expected:
            raise ValueError(
                f"GaussianParams: the network returned {out.shape[-1]} outputs, expected {expected} "
                f"(action_dim={self.action_dim}, log_std_mode={self.log_std_mode!r})"
            )
        if self.log_std_mode == "output":
            loc, log_std = out.split(self.action_dim, dim=-1)
            return loc, log_std + self.init_log_std if self.init_log_std else log_std
        return out, self.log_std.expand_as(out)
