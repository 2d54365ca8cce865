"""The policy that acts with a world model: the RSSM filters the observations, the actor reads its features."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.rssm import RSSM, RSSMState

__all__ = ["DreamerPolicy"]


class DreamerPolicy(TensorDictModuleBase):
    """Acts from the RSSM's posterior: ``observation -> encoder -> RSSM.obs_step -> features -> actor``.

    A recurrent policy in the sense of :class:`~rl4py.collectors.SyncCollector` (it has
    :meth:`initial_state`): the state it carries between env steps is the previous posterior
    (``deter`` ``[B, D]``, ``stoch`` ``[B, G, C]``) and the action taken from it (``action`` ``[B, A]``,
    one-hot for discrete actions), under ``("recurrent_state", state_name)``. One step on a
    ``TensorDict[B]``::

        s_t = obs_step(s_{t-1}, a_{t-1}, encoder(o_t))     zero state and action where "is_init"
        a_t ~ actor(features(s_t))

    Where ``"is_init"`` (an episode's first step) the state and the previous action are zeros, so
    the first posterior is :meth:`~rl4py.modules.RSSM.initial_posterior` of ``o_t``: the state the
    world-model loss starts a replayed episode from. Writes ``"features"``, the actor's outputs and
    the next state ``("next", "recurrent_state", state_name, ...)``.

    Args:
        encoder: observations ``[B, ...]`` -> embeddings ``[B, E]``.
        rssm: the world model's RSSM.
        actor: a :class:`~rl4py.modules.ProbabilisticActor` reading ``"features"``.
        observation_key: the observation entry.
        is_init_key: the episode-start flag.
        state_name: the state lives under ``("recurrent_state", state_name)``.
        generator: the posterior samples' random source (default: torch's global RNG).
    """

    def __init__(
        self,
        encoder: nn.Module,
        rssm: RSSM,
        actor: nn.Module,
        *,
        observation_key: NestedKey = keys.OBSERVATION,
        is_init_key: NestedKey = keys.IS_INIT,
        state_name: str = "world_model",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not hasattr(actor, "get_dist"):
            raise TypeError(f"DreamerPolicy: actor must have a get_dist(td) method, got {type(actor).__name__}")
        self.encoder = encoder
        self.rssm = rssm
        self.actor = actor
        self.observation_key = observation_key
        self.is_init_key = is_init_key
        self.generator = generator
        self.state_keys = {name: (keys.RECURRENT_STATE, state_name, name) for name in ("deter", "stoch", "action")}
        self.in_keys = [observation_key, is_init_key, *self.state_keys.values()]
        self.out_keys = [keys.FEATURES, *actor.out_keys, *(keys.next_key(k) for k in self.state_keys.values())]

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> TensorDict:
        """Zeros: ``deter`` ``[B, D]``, ``stoch`` ``[B, G, C]``, ``action`` ``[B, A]`` (a ``TensorDict[B]``)."""
        zero = self.rssm.initial_state(batch_size, device)
        action = zero.deter.new_zeros(batch_size, self.rssm.action_size)
        td = TensorDict({}, batch_size=[batch_size], device=zero.deter.device)
        for name, value in zip(("deter", "stoch", "action"), (zero.deter, zero.stoch, action)):
            td.set(self.state_keys[name], value)
        return td

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        """One step on a ``TensorDict[B]`` (see the class docstring)."""
        if td.batch_dims != 1:
            raise ValueError(f"DreamerPolicy: steps a TensorDict[B], got batch size {tuple(td.batch_size)}")
        missing = [key for key in self.in_keys if td.get(key, None) is None]
        if missing:
            raise KeyError(
                f"DreamerPolicy: the TensorDict lacks {missing}; a collector running a recurrent policy writes the "
                "state and is_init (SyncCollector, evaluate_policy), or start from policy.initial_state(B)"
            )
        b = td.batch_size[0]
        go_on = (~td.get(self.is_init_key).reshape(b, 1).bool()).to(self.rssm.gru.weight_ih.dtype)
        deter = td.get(self.state_keys["deter"]) * go_on
        stoch = td.get(self.state_keys["stoch"]) * go_on.unsqueeze(-1)
        previous_action = td.get(self.state_keys["action"]) * go_on
        embed = self.encoder(td.get(self.observation_key))
        state, _ = self.rssm.obs_step(RSSMState(deter, stoch), previous_action, embed, self.generator)
        td.set(keys.FEATURES, self.rssm.features(state))
        td = self.actor(td)
        td.set(keys.next_key(self.state_keys["deter"]), state.deter)
        td.set(keys.next_key(self.state_keys["stoch"]), state.stoch)
        action = self.rssm.action_input(td.get(keys.ACTION), (b,), "DreamerPolicy")  # one-hot if discrete
        td.set(keys.next_key(self.state_keys["action"]), action)
        return td
