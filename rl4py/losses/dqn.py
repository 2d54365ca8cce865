"""Deep Q-network loss (Mnih et al., 2015) with the double-DQN target (van Hasselt et al., 2016)."""

from __future__ import annotations

import copy

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.losses import functional as F
from rl4py.losses.common import LossModule
from rl4py.losses.target import polyak_update

__all__ = ["DQNLoss"]

_COLLECTOR = "the env (stored by the collector / replay buffer)"
_LOSS_FUNCTIONS = ("l2", "huber")


class DQNLoss(LossModule):
    """One-step Q-learning loss against a target network.

    Terms::

        loss_qvalue = mean(l(Q(s, a) - y))
        y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_target(s', a'))     (DQN)
        y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_online(s', a'))     (double DQN)

    with ``l(x) = x^2`` (``"l2"``) or the Huber loss with threshold ``delta`` (``"huber"``). The
    target is computed under ``torch.no_grad()``; only ``terminated`` cuts the bootstrap, so a
    step cut by a time limit (``truncated``) bootstraps from ``s'``. Diagnostics (detached):
    ``q_value`` (mean ``Q(s, a)``), ``target_value`` (mean ``y``), ``td_error`` (mean
    ``|Q(s, a) - y|``).

    Reads the network's in-keys (``"observation"``) at the root and under ``"next"``,
    ``"action"`` ``[*B]`` (integer), ``("next", "reward")`` ``[*B, 1]`` and
    ``("next", "terminated")`` ``[*B, 1]``. The networks are TensorDict modules writing
    ``"action_value"`` ``[*B, n_actions]`` (a :class:`rl4py.modules.QValueActor`, or a
    ``TensorDictModule(net, in_keys=["observation"], out_keys=["action_value"])``). With
    ``action_mask_key``, the bool mask under ``"next"`` (true = allowed) restricts the ``argmax``
    at ``s'`` to the actions allowed there.

    The target network is a submodule, so it moves with ``.to()`` and is saved in
    ``state_dict()``; its parameters have ``requires_grad=False``. Optimize
    ``loss.value_network.parameters()`` and update the target with
    :func:`rl4py.losses.target.polyak_update` (``loss.update_target(tau)``).

    Args:
        value_network: the online Q-network.
        target_network: the target Q-network, same architecture, no shared parameters; ``None``
            makes a deep copy of ``value_network``.
        gamma: discount in ``[0, 1]``.
        loss_function: ``"l2"`` (squared error, the rl4burn book's) or ``"huber"`` (SB3's).
        double_dqn: pick the next action with the online network and evaluate it with the target.
        delta: Huber threshold.
        action_mask_key: the action-mask entry, read under ``"next"`` (``None``: no mask).
        action_key, action_value_key, reward_key, terminated_key: key overrides (``reward_key``
            and ``terminated_key`` are read under ``"next"``).

    Examples:
        >>> from torch import nn
        >>> from rl4py.modules.qvalue import QValueActor
        >>> loss = DQNLoss(QValueActor(nn.Linear(4, 2)), loss_function="huber", double_dqn=True)
        >>> sorted(n for n, p in loss.named_parameters() if p.requires_grad)
        ['value_network.network.bias', 'value_network.network.weight']
    """

    def __init__(
        self,
        value_network: TensorDictModuleBase,
        target_network: TensorDictModuleBase | None = None,
        gamma: float = 0.99,
        loss_function: str = "l2",
        double_dqn: bool = False,
        delta: float = 1.0,
        *,
        action_key: NestedKey = keys.ACTION,
        action_value_key: NestedKey = keys.ACTION_VALUE,
        reward_key: str = keys.REWARD,
        terminated_key: str = keys.TERMINATED,
        action_mask_key: NestedKey | None = None,
    ) -> None:
        super().__init__()
        if not hasattr(value_network, "in_keys"):
            raise TypeError(
                f"DQNLoss: value_network must be a TensorDict module with in_keys, got {type(value_network).__name__}"
            )
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"DQNLoss: gamma must be in [0, 1], got {gamma}")
        if loss_function not in _LOSS_FUNCTIONS:
            raise ValueError(f"DQNLoss: loss_function must be one of {_LOSS_FUNCTIONS}, got {loss_function!r}")
        if not delta > 0:
            raise ValueError(f"DQNLoss: delta must be > 0, got {delta}")
        if target_network is None:
            target_network = copy.deepcopy(value_network)
        elif target_network is value_network:
            raise ValueError("DQNLoss: target_network is value_network; pass a copy (or None to make one)")
        online_ids = {id(p) for p in value_network.parameters()}
        shared = [name for name, p in target_network.named_parameters() if id(p) in online_ids]
        if shared:
            raise ValueError(f"DQNLoss: target_network shares parameters {shared} with value_network; pass a copy")
        target_network.requires_grad_(False)
        self.value_network = value_network
        self.target_network = target_network
        self.gamma = float(gamma)
        self.loss_function = loss_function
        self.double_dqn = bool(double_dqn)
        self.delta = float(delta)
        self.action_key = action_key
        self.action_value_key = action_value_key
        self.reward_key = keys.next_key(reward_key)
        self.terminated_key = keys.next_key(terminated_key)
        self.in_keys = list(value_network.in_keys)
        self.next_in_keys = [keys.next_key(key) for key in self.in_keys]
        self.next_action_mask_key = keys.next_key(action_mask_key) if action_mask_key is not None else None

    def _action_value(self, network: TensorDictModuleBase, td: TensorDictBase) -> torch.Tensor:
        # a QValueActor exposes the Q-values without the argmax it would also write
        if callable(getattr(network, "action_value", None)):
            return network.action_value(td)
        return network(td).get(self.action_value_key)

    def _td(self, entries: dict[NestedKey, torch.Tensor], like: TensorDictBase) -> TensorDict:
        out = TensorDict({}, batch_size=like.batch_size, device=like.device)
        for key, value in entries.items():
            out.set(key, value)
        return out

    def update_target(self, tau: float = 1.0) -> None:
        """``polyak_update(self.target_network, self.value_network, tau)``: 1 is a hard copy."""
        polyak_update(self.target_network, self.value_network, tau)

    def forward(self, td: TensorDictBase) -> TensorDict:
        """Computes the loss terms on a batch ``td`` (any batch shape ``[*B]``)."""
        obs = {key: self._require(td, key, _COLLECTOR) for key in self.in_keys}
        next_obs = {key: self._require(td, nkey, _COLLECTOR) for key, nkey in zip(self.in_keys, self.next_in_keys)}
        action = self._require(td, self.action_key, "the collector (the policy's action)")
        reward = self._require(td, self.reward_key, _COLLECTOR)
        terminated = self._require(td, self.terminated_key, _COLLECTOR)
        next_mask = None
        if self.next_action_mask_key is not None:
            next_mask = self._require(td, self.next_action_mask_key, _COLLECTOR)

        root, nxt = self._td(obs, td), self._td(next_obs, td)
        action_value = self._action_value(self.value_network, root)
        q = F.select_action_value(action_value, action)
        with torch.no_grad():
            next_target = self._action_value(self.target_network, nxt)
            next_online = self._action_value(self.value_network, nxt) if self.double_dqn else None
            target = F.dqn_target(reward, terminated, next_target, self.gamma, next_online, next_mask)
        loss = F.td_regression_loss(q, target, self.loss_function, self.delta).mean()
        with torch.no_grad():
            q_mean = q.mean()
            td_error = (q - target).abs().mean()
        return TensorDict(
            {
                "loss_qvalue": loss,
                "q_value": q_mean,
                "target_value": target.mean(),
                "td_error": td_error,
            },
            batch_size=[],
        )
