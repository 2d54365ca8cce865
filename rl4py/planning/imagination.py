"""Imagined rollouts in a world model's latent space (Dreamer's actor-critic data) and their lambda-returns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from tensordict import TensorDict
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.rssm import RSSM, RSSMState
from rl4py.modules.twohot import TwoHot
from rl4py.values.functional import td_lambda_return_estimate

__all__ = ["Imagination", "frozen"]


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Turns off ``requires_grad`` of the modules' trainable parameters inside the block, then restores it.

    A graph built inside holds no leaf for those parameters, so no later ``backward`` gives them a
    gradient, while gradients still flow *through* the modules to their inputs (the actor's actions).

    Examples:
        >>> layer = nn.Linear(2, 1)
        >>> x = torch.ones(1, 2, requires_grad=True)
        >>> with frozen(layer):
        ...     y = layer(x).sum()
        >>> y.backward()
        >>> layer.weight.grad is None, x.grad is not None, layer.weight.requires_grad
        (True, True, True)
    """
    params = {id(p): p for m in modules for p in m.parameters() if p.requires_grad}
    for p in params.values():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params.values():
            p.requires_grad_(True)


class Imagination:
    """Rollouts of horizon ``H`` from posterior states with the actor in the loop, and their lambda-returns.

    :meth:`rollout` starts from the states ``s_0`` (any batch shape, flattened to ``N``; detached), and for
    ``t < H`` draws ``a_t ~ pi(. | s_t)`` and ``s_{t+1}`` from the RSSM's prior. :meth:`returns` reads the
    world model's predictions at the imagined states -- reward ``r_{t+1}`` (two-hot), continuation
    probability ``c_t = sigmoid(continue logit)`` -- and the critic's ``V(s_t)``, and writes the
    lambda-returns (:func:`~rl4py.values.functional.td_lambda_return_estimate`, as :class:`~rl4py.values.TDLambda`
    with a continuation key)::

        R_t = r_{t+1} + gamma c_{t+1} ((1 - lambda) V(s_{t+1}) + lambda R_{t+1}),   R_{H-1} bootstraps from V(s_H)
        w_t = c_0 prod_{i=1..t} gamma c_i                                             (the loss weights)

    The world model and the critic are :func:`frozen` throughout: no gradient of an actor-critic loss
    reaches them. With ``reparameterize=False`` (REINFORCE, discrete actions) the rollout runs without
    a graph; with ``True`` (dynamics back-propagation, continuous actions) actions are ``rsample``-d and
    the returns carry the graph through the frozen model into the actor.

    The rollout is a TensorDict ``[N, H]`` in rl4py's layout: ``"features"``, ``"deter"``, ``"stoch"``,
    ``"action"`` at ``s_t``; ``("next", "features")`` at ``s_{t+1}``. :meth:`returns` adds
    ``("next", "reward")``, ``("next", "continue")``, ``"state_value"``, ``("next", "state_value")``,
    ``"value_target"``, ``"advantage"`` and ``"weight"`` (each ``[N, H, 1]``), what
    :class:`~rl4py.losses.DreamerActorLoss` and :class:`~rl4py.losses.DreamerValueLoss` read.

    Args:
        rssm: the world model.
        actor: :class:`~rl4py.modules.ProbabilisticActor` reading ``features_key``; integer actions are
            one-hot encoded for the RSSM, float actions passed as they are.
        critic: features ``[*B, F]`` -> two-hot logits (:class:`~rl4py.losses.DreamerValueLoss`'s ``critic``).
        horizon: ``H`` (DreamerV3: 15).
        gamma: discount (DreamerV3: ``1 - 1/333``).
        lmbda: lambda (DreamerV3: 0.95).
        reparameterize: ``rsample`` the actions and keep the graph (dynamics back-propagation).
        twohot: the critic's bins (default the RSSM's reward bins).
        features_key: the actor's input key.
    """

    def __init__(
        self,
        rssm: RSSM,
        actor: nn.Module,
        critic: nn.Module,
        horizon: int = 15,
        gamma: float = 1.0 - 1.0 / 333.0,
        lmbda: float = 0.95,
        reparameterize: bool = False,
        twohot: TwoHot | None = None,
        features_key: NestedKey = keys.FEATURES,
    ) -> None:
        if int(horizon) < 1:
            raise ValueError(f"Imagination: horizon must be >= 1, got {horizon}")
        if not 0.0 <= gamma <= 1.0 or not 0.0 <= lmbda <= 1.0:
            raise ValueError(f"Imagination: gamma and lmbda must be in [0, 1], got {gamma} and {lmbda}")
        if not hasattr(actor, "get_dist"):
            raise TypeError(f"Imagination: actor must have a get_dist(td) method, got {type(actor).__name__}")
        self.rssm = rssm
        self.actor = actor
        self.critic = critic
        self.horizon = int(horizon)
        self.gamma = float(gamma)
        self.lmbda = float(lmbda)
        self.reparameterize = reparameterize
        self.twohot = rssm.twohot if twohot is None else twohot
        self.features_key = features_key

    def rollout(self, start: RSSMState, generator: torch.Generator | None = None) -> TensorDict:
        """Imagines ``H`` steps from ``start`` (``deter [*B, D]``, ``stoch [*B, G, C]``; detached): ``[N, H]``."""
        rssm = self.rssm
        if start.deter.shape[-1] != rssm.deter_size or start.stoch.shape[-2:] != (rssm.stoch_groups, rssm.classes):
            raise ValueError(
                f"Imagination: start must be deter [*B, {rssm.deter_size}] and stoch [*B, {rssm.stoch_groups}, "
                f"{rssm.classes}], got {tuple(start.deter.shape)} and {tuple(start.stoch.shape)}"
            )
        state = RSSMState(
            start.deter.detach().reshape(-1, rssm.deter_size),
            start.stoch.detach().reshape(-1, rssm.stoch_groups, rssm.classes),
        )
        n = state.deter.shape[0]
        features, deters, stochs, actions = [], [], [], []
        with frozen(rssm), torch.set_grad_enabled(self.reparameterize and torch.is_grad_enabled()):
            for _ in range(self.horizon):
                f = rssm.features(state)
                dist = self.actor.get_dist(TensorDict({self.features_key: f}, batch_size=[n]))
                action = dist.rsample() if self.reparameterize else dist.sample()
                features.append(f)
                deters.append(state.deter)
                stochs.append(state.stoch)
                actions.append(action)
                state = rssm.imagine_step(state, rssm.action_input(action, (n,), "Imagination"), generator)
            features.append(rssm.features(state))
        feats = torch.stack(features, 1)
        return TensorDict(
            {
                self.features_key: feats[:, :-1],
                keys.DETER: torch.stack(deters, 1),
                keys.STOCH: torch.stack(stochs, 1),
                keys.ACTION: torch.stack(actions, 1),
                keys.NEXT: {self.features_key: feats[:, 1:]},
            },
            batch_size=[n, self.horizon],
        )

    def returns(self, td: TensorDict) -> TensorDict:
        """Writes rewards, continuations, values, lambda-returns and weights into a rollout ``td`` ``[N, H]``."""
        feats = torch.cat([td.get(self.features_key)[:, :1], td.get((keys.NEXT, self.features_key))], 1)
        with frozen(self.rssm, self.critic), torch.set_grad_enabled(self.reparameterize and torch.is_grad_enabled()):
            value = self.twohot.decode(self.critic(feats)).unsqueeze(-1)  # [N, H + 1, 1]
            reward = self.rssm.reward(feats[:, 1:]).unsqueeze(-1)  # [N, H, 1]
            cont = torch.sigmoid(self.rssm.continue_logits(feats)).unsqueeze(-1)  # [N, H + 1, 1]
            advantage, value_target = td_lambda_return_estimate(
                self.gamma,
                self.lmbda,
                state_value=value[:, :-1],
                next_state_value=value[:, 1:],
                reward=reward,
                continuation=cont[:, 1:],
            )
            weight = (torch.cumprod(self.gamma * cont, 1) / self.gamma)[:, :-1].detach()
        td.set((keys.NEXT, keys.REWARD), reward)
        td.set((keys.NEXT, keys.CONTINUE), cont[:, 1:])
        td.set(keys.STATE_VALUE, value[:, :-1])
        td.set((keys.NEXT, keys.STATE_VALUE), value[:, 1:])
        td.set(keys.VALUE_TARGET, value_target)
        td.set(keys.ADVANTAGE, advantage)
        td.set(keys.WEIGHT, weight)
        return td

    def __call__(self, start: RSSMState, generator: torch.Generator | None = None) -> TensorDict:
        """:meth:`rollout` then :meth:`returns`."""
        return self.returns(self.rollout(start, generator))
