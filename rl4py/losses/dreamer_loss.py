"""``DreamerLoss``: one Dreamer update's terms -- world model, imagination, actor and critic -- from one batch."""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.losses.common import LossModule
from rl4py.losses.dreamer import DreamerActorLoss, DreamerValueLoss, DreamerWorldModelLoss
from rl4py.modules.rssm import RSSMState

__all__ = ["DreamerLoss"]


class DreamerLoss(LossModule):
    """DreamerV3's training objective on a batch of replayed sequences ``[B, T]``, as one LossModule.

    ``forward(batch)``:

    1. :class:`~rl4py.losses.DreamerWorldModelLoss` on the batch (KL, reward, continue and the
       representation terms); it writes the posterior states into the batch, detached;
    2. :class:`~rl4py.planning.Imagination` from those ``B * T`` states for ``H`` steps (the world model
       and the critic frozen), with the lambda-returns;
    3. in training mode, :class:`~rl4py.values.PercentileNormalizer` ``update`` on the imagined returns;
    4. :class:`~rl4py.losses.DreamerActorLoss` with the normalizer's scale and
       :class:`~rl4py.losses.DreamerValueLoss`.

    Returns the union of the three losses' outputs: ``loss_dyn``, ``loss_rep``, ``loss_reward``,
    ``loss_continue``, the representation terms, ``loss_objective``, ``loss_entropy``, ``loss_critic`` and
    their diagnostics. Each term's gradient reaches only its own networks (the imagination starts
    from detached states and the world model is frozen in it), so one backward of the sum trains all
    three, as DreamerV3's one optimizer step does; :meth:`after_step` then moves the slow critic.

    Args:
        world_model: the world-model loss (encoder, RSSM, representation loss).
        actor_loss: the actor loss (its actor is the imagination's).
        value_loss: the critic loss (its critic values the imagined states).
        imagination: the rollouts, a :class:`~rl4py.planning.Imagination` built over ``world_model.rssm``,
            ``actor_loss.actor`` and ``value_loss.critic``.
        return_normalizer: the return scale, a :class:`~rl4py.values.PercentileNormalizer` (DreamerV3's
            5th-95th percentile EMA, rate 0.01): a module with ``update(returns)`` and ``scale``.

    The imagination and the normalizer are passed in rather than built here: ``rl4py.losses`` sits
    below ``rl4py.planning`` and ``rl4py.values`` (see the architecture's dependency rule);
    :func:`~rl4py.trainers.build_dreamer` builds all of them.

    Raises:
        ValueError: the imagination does not use the losses' RSSM, actor and critic.
    """

    def __init__(
        self,
        world_model: DreamerWorldModelLoss,
        actor_loss: DreamerActorLoss,
        value_loss: DreamerValueLoss,
        imagination: Any,
        return_normalizer: nn.Module,
    ) -> None:
        super().__init__()
        if imagination.rssm is not world_model.rssm:
            raise ValueError("DreamerLoss: the imagination must run the world model's RSSM")
        if imagination.actor is not actor_loss.actor or imagination.critic is not value_loss.critic:
            raise ValueError("DreamerLoss: the imagination must use actor_loss.actor and value_loss.critic")
        self.world_model = world_model
        self.actor_loss = actor_loss
        self.value_loss = value_loss
        self.imagination = imagination
        if not (callable(getattr(return_normalizer, "update", None)) and hasattr(return_normalizer, "scale")):
            raise TypeError(
                "DreamerLoss: return_normalizer must have update(returns) and scale (a PercentileNormalizer), got "
                f"{type(return_normalizer).__name__}"
            )
        self.return_normalizer = return_normalizer

    def forward(self, batch: TensorDictBase) -> TensorDict:
        """All terms on the sequences ``batch`` ``[B, T]`` (see the class docstring)."""
        out = self.world_model(batch)
        start = RSSMState(batch.get(keys.next_key(keys.DETER)), batch.get(keys.next_key(keys.STOCH)))
        imagined = self.imagination(start, self.world_model.generator)
        if self.training:
            self.return_normalizer.update(imagined.get(keys.VALUE_TARGET))
        for part in (self.actor_loss(imagined, scale=self.return_normalizer.scale), self.value_loss(imagined)):
            clash = set(part.keys()) & set(out.keys())
            if clash:
                raise ValueError(f"DreamerLoss: the actor and critic terms clash with the world model's: {clash}")
            out.update(part)
        return out

    @torch.no_grad()
    def after_step(self) -> None:
        """After each optimizer step: the slow critic moves towards the critic."""
        self.value_loss.update_slow_critic()
