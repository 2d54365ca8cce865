"""Action masks of discrete and multi-discrete action spaces: sizes and the masked-action check.

An action mask is a bool tensor ``[B, mask_size]`` stored under ``"action_mask"``, true where
the action is allowed. For ``Discrete(n)`` the mask has ``n`` entries; for ``MultiDiscrete(nvec)``
it is the concatenation of one mask per head (``sum(nvec)`` entries, head ``h`` at
``[offset_h, offset_h + nvec[h])``), the layout :class:`rl4py.modules.MultiCategorical` reads.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys

__all__ = ["check_masked_action", "has_action_mask", "mask_size", "random_allowed_action"]


def mask_size(space: gym.Space) -> int:
    """Number of entries of one sub-env's action mask for ``space``.

    Args:
        space: a ``Discrete`` or 1-D ``MultiDiscrete`` action space.

    Returns:
        ``n`` for ``Discrete(n)``, ``sum(nvec)`` for ``MultiDiscrete(nvec)``.

    Raises:
        TypeError: ``space`` is of another kind (masks apply to discrete choices only).
    """
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        return int(space.nvec.sum())
    raise TypeError(f"action masks need a Discrete or 1-D MultiDiscrete action space, got {space}")


def check_masked_action(env_name: str, action: torch.Tensor, mask: torch.Tensor, space: gym.Space) -> None:
    """Raises ``ValueError`` if ``action`` picks a choice that ``mask`` forbids.

    ``action`` must already fit ``space`` (shape, dtype, range: :meth:`EnvBase.check_action`).

    Args:
        env_name: the env named in the message.
        action: ``[B]`` for ``Discrete``, ``[B, H]`` for ``MultiDiscrete`` (int).
        mask: ``[B, mask_size(space)]`` bool, true = allowed.
        space: one sub-env's action space.

    Raises:
        ValueError: naming the env, the action, its index and the mask row (or head) that forbids it.
    """
    if isinstance(space, gym.spaces.Discrete):
        index = (action - int(space.start)).long().unsqueeze(-1)
        allowed = mask.gather(-1, index).squeeze(-1)
        if bool(allowed.all()):
            return
        row = int((~allowed).nonzero()[0, 0])
        raise ValueError(
            f"{env_name}: 'action' holds {int(action[row])} at index [{row}], which 'action_mask' forbids "
            f"(expected an allowed action; 'action_mask'[{row}] = {mask[row].tolist()}, true = allowed)"
        )
    nvec = [int(n) for n in space.nvec]
    offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(nvec)[:-1]]), device=action.device)
    start = torch.as_tensor(np.asarray(space.start), device=action.device)
    allowed = mask.gather(-1, (action - start + offsets).long())
    if bool(allowed.all()):
        return
    row, head = ((~allowed).nonzero()[0]).tolist()
    lo = int(offsets[head])
    raise ValueError(
        f"{env_name}: 'action' holds {int(action[row, head])} at index [{row}, {head}], which 'action_mask' "
        f"forbids (expected an allowed choice of head {head}; 'action_mask'[{row}, {lo}:{lo + nvec[head]}] = "
        f"{mask[row, lo : lo + nvec[head]].tolist()}, true = allowed)"
    )


def random_allowed_action(
    mask: torch.Tensor, space: gym.Space, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Samples an action uniformly among the allowed choices of each row (and of each head).

    Args:
        mask: ``[B, mask_size(space)]`` bool, true = allowed; every row (head) needs one allowed choice.
        space: one sub-env's ``Discrete`` or ``MultiDiscrete`` action space.
        generator: optional ``torch.Generator`` on ``mask``'s device.

    Returns:
        ``[B]`` int64 for ``Discrete``, ``[B, H]`` int64 for ``MultiDiscrete``, offset by the space's ``start``.
    """
    scores = torch.rand(mask.shape, generator=generator, device=mask.device).masked_fill_(~mask, -1.0)
    if isinstance(space, gym.spaces.Discrete):
        return scores.argmax(-1) + int(space.start)
    nvec = [int(n) for n in space.nvec]
    choice = torch.stack([chunk.argmax(-1) for chunk in scores.split(nvec, dim=-1)], dim=-1)
    return choice + torch.as_tensor(np.asarray(space.start), device=mask.device)


def has_action_mask(env: Any) -> bool:
    """Whether ``env``'s observations carry an ``"action_mask"`` entry.

    An env whose mask source is still undecided (:class:`~rl4py.envs.GymEnv` with
    ``mask_from="auto"`` and masks, if any, in ``info``) is reset once to decide; a later seeded
    reset (the collector's) restarts it, so the probe leaves no trace in a seeded run.
    """
    if getattr(env, "mask_from", None) == "auto":
        inner = env
        while hasattr(inner, "env") and not hasattr(type(inner), "mask_from"):
            inner = inner.env  # reset the env itself: wrappers' statistics do not see the probe
        inner.reset()
    return keys.ACTION_MASK in env.observation_keys
