"""rl4py.envs.EnvBase: with validate=True every entry a native env returns is checked (shape, dtype, device)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl4py.collectors import SyncCollector
from rl4py.envs import EnvBase, EnvStep, EpisodeStats

B = 4


class ConfigurableEnv(EnvBase):
    """A well-formed native env (obs ``[B, 3]``, 3 actions with a mask) whose entries a test can break.

    ``overrides`` maps ``("next" | "root" | "reset", key)`` to the tensor returned instead (``None``
    drops the entry).
    """

    observation_keys = ("observation", "action_mask")

    def __init__(self, overrides: dict | None = None, validate: bool = True, **kwargs) -> None:
        super().__init__(
            num_envs=B,
            single_observation_space=gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
            single_action_space=gym.spaces.Discrete(3),
            validate=validate,
            **kwargs,
        )
        self.overrides = overrides or {}
        self.t = 0

    def _apply(self, where: str, entries: dict) -> dict:
        for (place, key), value in self.overrides.items():
            if place == where:
                if value is None:
                    entries.pop(key, None)
                else:
                    entries[key] = value
        return entries

    def _obs(self) -> dict:
        return {"observation": torch.zeros(B, 3), "action_mask": torch.ones(B, 3, dtype=torch.bool)}

    def _reset(self, seed):
        return self._apply("reset", self._obs())

    def _step(self, action):
        self.t += 1
        done = torch.full((B, 1), self.t % 3 == 0)
        nxt = {
            **self._obs(),
            "reward": torch.ones(B, 1),
            "terminated": done,
            "truncated": torch.zeros(B, 1, dtype=torch.bool),
            "done": done.clone(),
        }
        return EnvStep(next=self._apply("next", nxt), root=self._apply("root", self._obs()))


def test_well_formed_env_passes() -> None:
    env = ConfigurableEnv()
    env.reset(seed=0)
    out = env.step_tensors(torch.zeros(B, dtype=torch.int64))
    assert out.next["reward"].shape == (B, 1)


@pytest.mark.parametrize(
    ("place", "key", "value", "error", "match"),
    [
        ("next", "reward", torch.ones(B), ValueError, r"\('next', 'reward'\) has shape \(4,\), expected \(4, 1\)"),
        ("next", "reward", torch.ones(B, 2), ValueError, r"\('next', 'reward'\) has shape \(4, 2\), expected \(4, 1\)"),
        (
            "next",
            "reward",
            torch.ones(B, 1, dtype=torch.int64),
            TypeError,
            r"'reward'\) has dtype torch.int64, expected a floating",
        ),
        (
            "next",
            "done",
            torch.zeros(B, dtype=torch.bool),
            ValueError,
            r"\('next', 'done'\) has shape \(4,\), expected \(4, 1\)",
        ),
        (
            "next",
            "terminated",
            torch.zeros(B, dtype=torch.bool),
            ValueError,
            r"'terminated'\) has shape \(4,\), expected \(4, 1\)",
        ),
        (
            "next",
            "truncated",
            torch.zeros(B, 1),
            TypeError,
            r"'truncated'\) has dtype torch.float32, expected torch.bool",
        ),
        (
            "next",
            "observation",
            torch.zeros(B, 4),
            ValueError,
            r"\('next', 'observation'\) has shape \(4, 4\), expected \(4, 3\)",
        ),
        (
            "next",
            "observation",
            torch.zeros(B, 3, dtype=torch.int64),
            TypeError,
            r"'observation'\) has dtype torch.int64, expected a floating",
        ),
        (
            "next",
            "action_mask",
            torch.ones(B, 2, dtype=torch.bool),
            ValueError,
            r"'action_mask'\) has shape \(4, 2\), expected \(4, 3\)",
        ),
        (
            "next",
            "action_mask",
            torch.ones(B, 3),
            TypeError,
            r"'action_mask'\) has dtype torch.float32, expected torch.bool",
        ),
        (
            "next",
            "episode_info",
            torch.ones(3),
            ValueError,
            r"'episode_info'\) has shape \(3,\), expected a leading batch dim of size num_envs=4",
        ),
        ("next", "reward", None, KeyError, r"the step entries lack \('next', 'reward'\)"),
        ("next", "done", None, KeyError, r"the step entries lack \('next', 'done'\)"),
        ("next", "observation", None, KeyError, r"the step entries lack \('next', 'observation'\)"),
        (
            "root",
            "observation",
            torch.zeros(B),
            ValueError,
            r"ConfigurableEnv: 'observation' has shape \(4,\), expected \(4, 3\)",
        ),
        ("root", "action_mask", None, KeyError, r"the reset/root entries lack 'action_mask'"),
        ("next", "reward", [1.0] * B, TypeError, r"\('next', 'reward'\) must be a torch.Tensor, got list"),
    ],
)
def test_bad_step_entry_names_env_key_expected_and_received(place, key, value, error, match) -> None:
    env = ConfigurableEnv({(place, key): value})
    env.reset(seed=0)
    with pytest.raises(error, match=match) as info:
        env.step_tensors(torch.zeros(B, dtype=torch.int64))
    assert info.value.args[0].startswith("ConfigurableEnv: ")


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (torch.zeros(B + 1, 3), ValueError, r"ConfigurableEnv: 'observation' has shape \(5, 3\), expected \(4, 3\)"),
        (torch.zeros(B, 3, 1), ValueError, r"'observation' has shape \(4, 3, 1\), expected \(4, 3\)"),
        (None, KeyError, r"the reset/root entries lack 'observation'"),
    ],
)
def test_bad_reset_entry_raises(value, error, match) -> None:
    with pytest.raises(error, match=match):
        ConfigurableEnv({("reset", "observation"): value}).reset(seed=0)


def test_entry_on_another_device_raises() -> None:
    env = ConfigurableEnv({("next", "reward"): torch.ones(B, 1, device="meta")})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"\('next', 'reward'\) is on meta, expected the env's device cpu"):
        env.step_tensors(torch.zeros(B, dtype=torch.int64))


def test_reward_of_shape_b_no_longer_broadcasts_into_the_episode_return() -> None:
    # the reported symptom: EpisodeStats added [B, 1] + [B] and the rollout's episode_return became [4, 8, 4]
    env = ConfigurableEnv({("next", "reward"): torch.ones(B)})
    collector = SyncCollector(EpisodeStats(env), None, rollout_length=8, total_frames=32, seed=0)
    with pytest.raises(ValueError, match=r"ConfigurableEnv: \('next', 'reward'\) has shape \(4,\), expected \(4, 1\)"):
        next(iter(collector))


def test_validate_false_leaves_entries_unchecked() -> None:
    env = ConfigurableEnv({("next", "reward"): torch.ones(B)}, validate=False)
    env.reset(seed=0)
    assert env.step_tensors(torch.zeros(B, dtype=torch.int64)).next["reward"].shape == (B,)


def test_entry_checks_read_metadata_only() -> None:
    # meta tensors have shapes, dtypes and a device but no data: a check that reads values (.item(),
    # bool(), a comparison synced to the host) fails on them, so passing here shows the checks never sync
    env = ConfigurableEnv(device="meta")
    meta = {
        "observation": torch.empty(B, 3, device="meta"),
        "action_mask": torch.empty(B, 3, dtype=torch.bool, device="meta"),
        "reward": torch.empty(B, 1, device="meta"),
        "terminated": torch.empty(B, 1, dtype=torch.bool, device="meta"),
        "truncated": torch.empty(B, 1, dtype=torch.bool, device="meta"),
        "done": torch.empty(B, 1, dtype=torch.bool, device="meta"),
    }
    with pytest.raises(RuntimeError):  # the premise: reading a meta tensor's value fails
        bool(meta["done"].any())
    env.check_entries(meta, tuple(meta), where="next")
    meta["reward"] = torch.empty(B, device="meta")
    with pytest.raises(ValueError, match=r"\('next', 'reward'\) has shape \(4,\), expected \(4, 1\)"):
        env.check_entries(meta, tuple(meta), where="next")


class DictObservationEnv(EnvBase):
    """Dict observation space: entries under ("observation", name), each checked against its own space."""

    observation_keys = (("observation", "position"), ("observation", "cell"))

    def __init__(self, cell: torch.Tensor) -> None:
        super().__init__(
            num_envs=B,
            single_observation_space=gym.spaces.Dict(
                {"position": gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "cell": gym.spaces.Discrete(5)}
            ),
            single_action_space=gym.spaces.Discrete(2),
        )
        self.cell = cell

    def _obs(self) -> dict:
        return {("observation", "position"): torch.zeros(B, 2), ("observation", "cell"): self.cell}

    def _reset(self, seed):
        return self._obs()

    def _step(self, action):
        never = torch.zeros(B, 1, dtype=torch.bool)
        nxt = {**self._obs(), "reward": torch.zeros(B, 1), "terminated": never, "truncated": never, "done": never}
        return EnvStep(next=nxt, root=self._obs())


def test_dict_observation_entries_are_checked_against_their_spaces() -> None:
    env = DictObservationEnv(torch.zeros(B, dtype=torch.int64))
    assert env.reset(seed=0)["observation", "cell"].shape == (B,)
    assert env.step_tensors(torch.zeros(B, dtype=torch.int64)).next["observation", "cell"].shape == (B,)
    with pytest.raises(ValueError, match=r"\('observation', 'cell'\) has shape \(4, 1\), expected \(4,\)"):
        DictObservationEnv(torch.zeros(B, 1, dtype=torch.int64)).reset(seed=0)
    with pytest.raises(TypeError, match=r"\('observation', 'cell'\) has dtype torch.float32, expected an integer"):
        DictObservationEnv(torch.zeros(B)).reset(seed=0)
