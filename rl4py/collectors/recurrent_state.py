"""The state a recurrent policy carries from step to step of a batched env."""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDictBase

from rl4py import keys
from rl4py.envs.base import NestedKey

__all__ = ["RecurrentState", "is_recurrent"]


def is_recurrent(policy: Any) -> bool:
    """Whether ``policy`` carries a state: it has ``initial_state(batch_size, device) -> TensorDict[B]``."""
    return callable(getattr(policy, "initial_state", None))


class RecurrentState:
    """Feeds a recurrent policy its state and ``"is_init"`` each step and takes the next state back.

    The state's entries are those of ``policy.initial_state(num_envs, device)`` (for example
    ``("recurrent_state", "actor", "h")``). :meth:`feed` writes them and ``"is_init"`` ``[B, 1]``
    bool (true at the first step of each episode, the very first included) into the policy's input;
    :meth:`advance` reads the policy's ``("next", *key)`` outputs as the next state, replaced by
    the initial state where the episode ended.

    Args:
        policy: a recurrent policy.
        num_envs: the batch size ``B``.
        device: where the state lives.
        owner: named in error messages.
    """

    def __init__(self, policy: Any, num_envs: int, device: torch.device | str, owner: str = "RecurrentState") -> None:
        initial = policy.initial_state(num_envs, device)
        if tuple(initial.batch_size) != (num_envs,):
            raise ValueError(
                f"{owner}: policy.initial_state returned batch size {tuple(initial.batch_size)}, expected ({num_envs},)"
            )
        self.owner = owner
        self.initial: dict[NestedKey, torch.Tensor] = dict(initial.items(include_nested=True, leaves_only=True))
        # the state tensors are never written in place (each step makes new ones), so no copy
        self.state: dict[NestedKey, torch.Tensor] = dict(self.initial)
        self.is_init = torch.ones(num_envs, 1, dtype=torch.bool, device=device)
        # done masks [B, 1] viewed per state tensor
        self._views = {key: (num_envs, *([1] * (value.dim() - 1))) for key, value in self.initial.items()}
        self._next_keys = {key: keys.next_key(key) for key in self.initial}

    def feed(self, td: TensorDictBase) -> TensorDictBase:
        """Writes ``"is_init"`` and the current state into the policy input ``td``."""
        td.set(keys.IS_INIT, self.is_init)
        for key, value in self.state.items():
            td.set(key, value)
        return td

    def advance(self, td: TensorDictBase, done: torch.Tensor) -> None:
        """Takes the next state from the policy output ``td``; ``done`` ``[B, 1]`` restarts episodes."""
        new_state = {}
        for key, value in self.initial.items():
            written = td.get(self._next_keys[key], None)
            if written is None:
                raise KeyError(
                    f"{self.owner}: the recurrent policy did not write {self._next_keys[key]!r}, the next "
                    f"value of its state entry {key!r} (from initial_state)"
                )
            new_state[key] = torch.where(done.view(self._views[key]), value, written)
        self.state = new_state
        self.is_init = done

    def state_dict(self) -> dict:
        return {"recurrent_state": dict(self.state), "is_init": self.is_init}

    def load_state_dict(self, state: dict, device: torch.device | str | None = None) -> None:
        """Restores :meth:`state_dict` (moved to ``device`` when given)."""
        device = self.is_init.device if device is None else device
        self.state = {key: value.to(device) for key, value in state["recurrent_state"].items()}
        self.is_init = state["is_init"].to(device)
