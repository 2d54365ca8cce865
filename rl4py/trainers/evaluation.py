"""Policy evaluation on a batched env."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import InteractionType, set_interaction_type

from rl4py import keys
from rl4py.collectors.recurrent_state import RecurrentState, is_recurrent
from rl4py.envs.base import EnvBase

__all__ = ["evaluate_policy"]


@torch.no_grad()
def evaluate_policy(
    env: EnvBase,
    policy: torch.nn.Module,
    max_steps: int = 1000,
    deterministic: bool = True,
    seed: int | None = None,
    reward_key: str = keys.REWARD,
) -> torch.Tensor:
    """Runs one episode in every sub-env of ``env`` and returns the episode returns ``[B]``.

    The env is reset first; each sub-env's first episode counts (its later ones are ignored).
    A recurrent policy (one with ``initial_state``, see :class:`~rl4py.collectors.SyncCollector`)
    starts from its initial state and is fed ``"is_init"`` and its state at every step.

    Args:
        env: the batched env (it is reset and stepped).
        policy: TensorDict module writing ``"action"`` (and, if recurrent, its next state).
        max_steps: stop after this many steps even if some episodes are unfinished.
        deterministic: take the policy's mode (``InteractionType.DETERMINISTIC``) instead of sampling.
        seed: seed of the env reset.
        reward_key: the ``"next"`` entry summed into the return (``"extrinsic_reward"`` gives the task's
            return under a reward-shaping wrapper, :mod:`rl4py.envs.reward_shaping`); an env with
            several reward heads (``[B, K]``) counts their sum, as its ``"episode_return"`` does.

    Returns:
        Returns of the first episode of each sub-env, ``[B]`` float32.

    Raises:
        RuntimeError: some episode did not end within ``max_steps``.
        KeyError: the env's steps have no ``("next", reward_key)``.
    """
    root: TensorDictBase = env.reset(seed=seed)
    total = torch.zeros(env.num_envs, device=env.device)
    running = torch.ones(env.num_envs, dtype=torch.bool, device=env.device)
    carried = RecurrentState(policy, env.num_envs, env.device, "evaluate_policy") if is_recurrent(policy) else None
    mode = InteractionType.DETERMINISTIC if deterministic else InteractionType.RANDOM
    with set_interaction_type(mode):
        for _ in range(max_steps):
            td = policy(root if carried is None else carried.feed(root))
            out = env.step_tensors(td.get(keys.ACTION))
            done = out.next[keys.DONE]
            if carried is not None:
                carried.advance(td, done)
            if reward_key not in out.next:
                raise KeyError(
                    f"evaluate_policy: the env's steps have no ('next', {reward_key!r}); they have {list(out.next)}"
                )
            total += out.next[reward_key].sum(-1) * running  # [B, K] reward heads: their sum
            running &= ~done.squeeze(-1)
            if not bool(running.any()):
                return total
            root = TensorDict(dict(out.root), batch_size=env.batch_size, device=env.device)
    raise RuntimeError(
        f"evaluate_policy: {int(running.sum())} of {env.num_envs} episodes did not end within max_steps={max_steps}"
    )
