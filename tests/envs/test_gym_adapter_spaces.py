"""GymEnv with Box and MultiDiscrete actions, Dict observations and action masks (info or observation)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from tensordict import TensorDict

from rl4py.collectors import SyncCollector
from rl4py.envs import GymEnv


class ClippingEnv(gym.Env):
    """Box(-1, 1, (2,)) actions, clipped in place (as a careless env might); observation = the clipped action."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.received: list[np.ndarray] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.received.append(np.array(action, copy=True))
        np.clip(action, -1.0, 1.0, out=action)
        return action.astype(np.float32), float(action.sum()), False, False, {}


class EchoMultiDiscreteEnv(gym.Env):
    """MultiDiscrete([3, 2]) actions; observation = the action; ends after 2 steps."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.MultiDiscrete([3, 2])
        self.action_space = spaces.MultiDiscrete([3, 2])
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.int64), {}

    def step(self, action):
        self.t += 1
        return np.asarray(action, np.int64), float(action[0] * 2 + action[1]), self.t == 2, False, {}


def countdown_mask(c: int) -> np.ndarray:
    """Action 0 always allowed, action 1 at odd counts, action 2 at even counts (gymnasium's int8 convention)."""
    return np.array([1, c % 2, (c + 1) % 2], dtype=np.int8)


class MaskedCountdownEnv(gym.Env):
    """Counts down from ``length``; reward = action; masks in ``info`` or in a Dict observation.

    ``mode="info"``: observation ``[count]``, ``info["action_mask"]``. ``mode="observation"``:
    Dict ``{"observation": [count], "action_mask": MultiBinary(3)}``. ``mode="nested"``: Dict
    ``{"count": ..., "action_mask": ...}`` (no ``"observation"`` entry).
    """

    metadata = {"render_modes": []}

    def __init__(self, length: int = 3, mode: str = "info") -> None:
        self.length = length
        self.mode = mode
        count = spaces.Box(0.0, np.inf, (1,), np.float32)
        if mode == "info":
            self.observation_space = count
        else:
            name = "observation" if mode == "observation" else "count"
            self.observation_space = spaces.Dict({name: count, "action_mask": spaces.MultiBinary(3)})
        self.action_space = spaces.Discrete(3)
        self.count = length

    def _out(self):
        obs = np.array([self.count], np.float32)
        if self.mode == "info":
            return obs, {"action_mask": countdown_mask(self.count)}
        name = "observation" if self.mode == "observation" else "count"
        return {name: obs, "action_mask": countdown_mask(self.count)}, {}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.count = self.length
        return self._out()

    def step(self, action):
        assert countdown_mask(self.count)[int(action)], "the adapter let a masked action through"
        self.count -= 1
        obs, info = self._out()
        return obs, float(action), self.count == 0, False, info


class DictObsEnv(gym.Env):
    """Dict observations: ``{"position": Box(2), "steps": Discrete(5)}`` (+ ``extra``); ends after 2 steps."""

    metadata = {"render_modes": []}

    def __init__(self, extra: dict[str, gym.Space] | None = None) -> None:
        self.observation_space = spaces.Dict(
            {"position": spaces.Box(-10.0, 10.0, (2,), np.float64), "steps": spaces.Discrete(5), **(extra or {})}
        )
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def _obs(self) -> dict:
        obs = {"position": np.array([self.t, -self.t], np.float64), "steps": np.int64(self.t)}
        for name, space in self.observation_space.spaces.items():
            if name not in obs:
                obs[name] = np.full(space.shape, self.t, space.dtype)
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, self.t == 2, False, {}


# ------------------------------------------------------------------------------------------- Box


def test_box_actions_reach_the_env_unclipped_and_the_stored_action_is_unchanged() -> None:
    inner = ClippingEnv()
    env = GymEnv(inner)
    assert env.single_action_space == spaces.Box(-1.0, 1.0, (2,), np.float32)
    td = env.reset(seed=0)
    action = torch.tensor([[2.0, -0.5]])
    td["action"] = action.clone()
    td = env.step(td)
    np.testing.assert_array_equal(inner.received[-1], [2.0, -0.5])  # not clipped by the adapter
    assert td["next", "observation"].tolist() == [[1.0, -0.5]]  # clipped by the env
    assert td["next", "reward"].item() == pytest.approx(0.5)
    assert torch.equal(td["action"], action)  # the env's in-place clip did not reach the stored action
    sample = env.rand_action(torch.Generator().manual_seed(0))
    assert sample.shape == (1, 2)
    assert sample.dtype == torch.float32
    assert ((sample >= -1) & (sample <= 1)).all()


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (torch.tensor([[1, 0]]), TypeError, r"'action' has dtype torch.int64, expected a floating dtype"),
        (torch.tensor([[float("nan"), 0.0]]), ValueError, r"'action' holds a non-finite value nan"),
        (torch.tensor([0.0, 0.0]), ValueError, r"'action' has shape \(2,\), expected \(1, 2\)"),
    ],
)
def test_bad_box_actions_raise(action: torch.Tensor, error: type[Exception], match: str) -> None:
    env = GymEnv(ClippingEnv())
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.step_tensors(action)


def test_pendulum_box_torque_is_clipped_by_gymnasium_only() -> None:
    env = GymEnv("Pendulum-v1", num_envs=2)
    ref = [gym.make("Pendulum-v1") for _ in range(2)]
    td = env.reset(seed=0)
    for i, r in enumerate(ref):
        np.testing.assert_array_equal(td["observation"][i].numpy(), r.reset(seed=i)[0])
    action = torch.tensor([[5.0], [-0.5]])
    td["action"] = action.clone()
    td = env.step(td)
    assert torch.equal(td["action"], action)
    for i, (r, torque) in enumerate(zip(ref, ([2.0], [-0.5]))):  # 5.0 acts as the clipped 2.0
        obs, reward, *_ = r.step(np.array(torque, np.float32))
        np.testing.assert_allclose(td["next", "observation"][i].numpy(), obs, rtol=1e-6)
        assert td["next", "reward"][i, 0].item() == pytest.approx(reward, rel=1e-6)


# ---------------------------------------------------------------------------------- MultiDiscrete


def test_multi_discrete_actions() -> None:
    env = GymEnv(EchoMultiDiscreteEnv, num_envs=2)
    assert env.single_action_space == spaces.MultiDiscrete([3, 2])
    assert env.action_space.shape == (2, 2)
    td = env.reset(seed=0)
    assert td["observation"].dtype == torch.int64
    sample = env.rand_action(torch.Generator().manual_seed(0))
    assert sample.shape == (2, 2)
    assert sample.dtype == torch.int64
    assert (sample[:, 0] < 3).all() and (sample[:, 1] < 2).all()
    td["action"] = torch.tensor([[2, 1], [0, 1]])
    td, root = env.step_and_reset(td)
    assert td["next", "observation"].tolist() == [[2, 1], [0, 1]]
    assert td["next", "reward"].squeeze(-1).tolist() == [5.0, 1.0]
    td = root
    td["action"] = torch.tensor([[1, 0], [1, 1]])
    td, root = env.step_and_reset(td)
    assert td["next", "done"].squeeze(-1).tolist() == [True, True]
    assert td["next", "observation"].tolist() == [[1, 0], [1, 1]]  # the true final observation
    assert root["observation"].tolist() == [[0, 0], [0, 0]]
    td = root
    td["action"] = torch.tensor([[1, 2], [0, 0]])
    with pytest.raises(
        ValueError, match=r"GymEnv\(SyncVectorEnv\): 'action' holds 2 at index \[0, 1\], outside the action space"
    ):
        env.step(td)


# ------------------------------------------------------------------------------------------- Dict


def test_dict_observation_without_observation_entry_is_nested() -> None:
    env = GymEnv(DictObsEnv, num_envs=2)
    assert env.observation_keys == (("observation", "position"), ("observation", "steps"))
    assert isinstance(env.single_observation_space, spaces.Dict)
    td = env.reset(seed=0)
    assert td["observation", "position"].dtype == torch.float32
    assert td["observation", "steps"].dtype == torch.int64
    assert td["observation", "steps"].shape == (2,)
    for t in (1, 2):
        td["action"] = torch.zeros(2, dtype=torch.int64)
        td, root = env.step_and_reset(td)
        assert td["next", "observation", "position"].tolist() == [[t, -t]] * 2
        assert td["next", "observation", "steps"].tolist() == [t] * 2
        td = root
    assert td["observation", "steps"].tolist() == [0, 0]  # reset after the final step
    rollout = SyncCollector(env, None, rollout_length=4, seed=0).rollout()
    assert rollout["next", "observation", "steps"][0].tolist() == [1, 2, 1, 2]


def test_dict_observation_with_observation_entry_puts_the_others_at_the_top_level() -> None:
    env = GymEnv(lambda: DictObsEnv({"observation": spaces.Box(0.0, 9.0, (3,), np.float32)}))
    assert env.observation_keys == ("observation", "position", "steps")  # gymnasium sorts Dict keys
    td = env.reset(seed=0)
    td["action"] = torch.zeros(1, dtype=torch.int64)
    td, root = env.step_and_reset(td)
    assert td["next", "observation"].tolist() == [[1.0, 1.0, 1.0]]
    assert td["next", "position"].tolist() == [[1.0, -1.0]]
    assert root["steps"].tolist() == [1]


def test_dict_observation_entry_with_a_reserved_name_raises() -> None:
    with pytest.raises(ValueError, match=r"the Dict observation entry 'reward' would become the top-level key"):
        GymEnv(lambda: DictObsEnv({"observation": spaces.Box(0, 1, (1,)), "reward": spaces.Box(0, 1, (1,))}))


def test_nested_dict_observation_raises() -> None:
    with pytest.raises(TypeError, match=r"observation entry 'inner' is a Dict space; expected a flat Dict"):
        GymEnv(lambda: DictObsEnv({"inner": spaces.Dict({"a": spaces.Discrete(2)})}))


class SpaceEnv(gym.Env):
    """Any observation and action space; samples its observations (never called for refused spaces)."""

    metadata = {"render_modes": []}

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.closed = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}

    def close(self) -> None:
        self.closed = True


BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)


@pytest.mark.parametrize(
    ("observation_space", "action_space", "match"),
    [
        (spaces.Text(5), spaces.Discrete(2), r"the observation space Text\(.*\) is a Text space, which GymEnv"),
        (spaces.Graph(BOX, spaces.Discrete(3)), spaces.Discrete(2), r"the observation space Graph\(.*\) is a Graph"),
        (spaces.Sequence(BOX), spaces.Discrete(2), r"the observation space Sequence\(.*\) is a Sequence space"),
        (spaces.Tuple((BOX, BOX)), spaces.Discrete(2), r"the observation space Tuple\(.*\) is a Tuple space"),
        (spaces.OneOf((BOX, spaces.Discrete(2))), spaces.Discrete(2), r"observation space OneOf\(.*\) is a OneOf"),
        (spaces.Dict({"a": BOX, "b": spaces.Text(4)}), spaces.Discrete(2), r"observation entry 'b' is a Text space"),
        (BOX, spaces.Text(5), r"the action space Text\(.*\) is a Text space, which GymEnv does not support"),
        (BOX, spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2))), r"the action space Tuple\(.*\) is a Tuple"),
        (BOX, spaces.Dict({"a": spaces.Discrete(2)}), r"the action space Dict\(.*\) is a Dict space"),
    ],
)
def test_unsupported_spaces_are_refused_at_construction(observation_space, action_space, match: str) -> None:
    made: list[SpaceEnv] = []

    def factory() -> SpaceEnv:
        made.append(SpaceEnv(observation_space, action_space))
        return made[-1]

    with pytest.raises(TypeError, match=match) as info:
        GymEnv(factory, num_envs=2)
    message = str(info.value)
    assert message.startswith("GymEnv(")
    supported = "expected Box, Discrete, MultiDiscrete or MultiBinary entries"
    if "observation space" in message:
        supported = "expected Box, Discrete, MultiDiscrete, MultiBinary, or a flat Dict of these"
    elif "action space" in message:
        supported = "expected Discrete, MultiDiscrete, MultiBinary or Box"
    assert supported in message
    assert made and all(env.closed for env in made)  # the vector env built for the check is closed


@pytest.mark.parametrize(
    "observation_space",
    [
        BOX,
        spaces.Discrete(4, start=2),
        spaces.MultiDiscrete([3, 2]),
        spaces.MultiBinary(3),
        spaces.Dict({"a": BOX, "b": spaces.Discrete(3), "c": spaces.MultiBinary(2), "d": spaces.MultiDiscrete([2])}),
    ],
)
def test_supported_observation_spaces_reset_and_step(observation_space: gym.Space) -> None:
    env = GymEnv(lambda: SpaceEnv(observation_space, spaces.Discrete(2)), num_envs=2)
    td = env.reset(seed=0)
    td["action"] = env.rand_action()
    env.step(td)
    assert td["next"].batch_size == (2,)


# ------------------------------------------------------------------------------------------- masks


def expected_masks(length: int, steps: int) -> tuple[list, list, list]:
    """Per step: the next mask (of the true next state), the root mask and done, for one countdown."""
    nxt, root, done = [], [], []
    count = length
    for _ in range(steps):
        count -= 1
        finished = count == 0
        nxt.append(countdown_mask(count).astype(bool).tolist())
        count = length if finished else count
        root.append(countdown_mask(count).astype(bool).tolist())
        done.append(finished)
    return nxt, root, done


def run_countdowns(env: GymEnv, steps: int) -> tuple[list, list, list, TensorDict]:
    td = env.reset(seed=0)
    nxt, root, done = [], [], []
    for _ in range(steps):
        td["action"] = torch.zeros(env.num_envs, dtype=torch.int64)  # always allowed
        td, next_root = env.step_and_reset(td)
        nxt.append(td["next", "action_mask"].tolist())
        root.append(next_root["action_mask"].tolist())
        done.append(td["next", "done"].squeeze(-1).tolist())
        td = next_root
    return nxt, root, done, td


@pytest.mark.parametrize("mode", ["info", "observation"])
@pytest.mark.parametrize("autoreset", [AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_masks_in_reset_next_and_root(mode: str, autoreset: AutoresetMode) -> None:
    lengths = (3, 2)
    vec = SyncVectorEnv([lambda n=n: MaskedCountdownEnv(n, mode) for n in lengths], autoreset_mode=autoreset)
    env = GymEnv(vec)  # mask_from="auto"
    td = env.reset(seed=0)
    assert env.mask_from == mode
    assert env.observation_keys == ("observation", "action_mask")
    assert env.single_observation_space == spaces.Box(0.0, np.inf, (1,), np.float32)
    assert td["action_mask"].dtype == torch.bool
    assert td["action_mask"].tolist() == [countdown_mask(n).astype(bool).tolist() for n in lengths]
    steps = 7
    nxt, root, done, _ = run_countdowns(env, steps)
    for i, length in enumerate(lengths):
        exp_next, exp_root, exp_done = expected_masks(length, steps)
        assert [d[i] for d in done] == exp_done
        # the terminal state's mask in next, the reset state's mask in the root
        assert [m[i] for m in nxt] == exp_next
        assert [m[i] for m in root] == exp_root


def test_masked_action_raises_and_rand_action_respects_the_mask() -> None:
    env = GymEnv(lambda: MaskedCountdownEnv(3, "info"), num_envs=2)
    td = env.reset(seed=0)  # count 3: actions 0 and 1 allowed
    gen = torch.Generator().manual_seed(0)
    drawn = torch.stack([env.rand_action(gen) for _ in range(64)])
    assert set(drawn.flatten().tolist()) == {0, 1}
    td["action"] = torch.tensor([1, 2])
    with pytest.raises(
        ValueError,
        match=r"GymEnv\(SyncVectorEnv\): 'action' holds 2 at index \[1\], which 'action_mask' forbids \(expected an "
        r"allowed action; 'action_mask'\[1\] = \[True, True, False\], true = allowed\)",
    ):
        env.step(td)
    # without validation the action reaches the env (which here asserts on it)
    lenient = GymEnv(lambda: MaskedCountdownEnv(3, "info"), num_envs=1, validate=False)
    lenient.reset(seed=0)
    with pytest.raises(AssertionError, match="the adapter let a masked action through"):
        lenient.step_tensors(torch.tensor([2]))


def test_mask_from_observation_with_nested_dict_keys() -> None:
    env = GymEnv(lambda: MaskedCountdownEnv(2, "nested"), num_envs=1)
    assert env.mask_from == "observation"
    assert env.observation_keys == (("observation", "count"), "action_mask")
    assert env.single_observation_space == spaces.Dict({"count": spaces.Box(0.0, np.inf, (1,), np.float32)})
    td = env.reset(seed=0)
    assert td["observation", "count"].tolist() == [[2.0]]
    assert td["action_mask"].tolist() == [[True, False, True]]


def test_mask_from_none_and_auto_without_masks() -> None:
    env = GymEnv(lambda: MaskedCountdownEnv(3, "info"), mask_from=None)
    td = env.reset(seed=0)
    assert td.get("action_mask", None) is None
    assert env.observation_keys == ("observation",)
    plain = GymEnv("CartPole-v1", num_envs=2)
    assert plain.mask_from == "auto"
    assert plain.reset(seed=0).get("action_mask", None) is None
    assert plain.mask_from is None


class MultiDiscreteMaskEnv(gym.Env):
    """MultiDiscrete([2, 3]) with a per-head tuple mask in ``info`` (gymnasium's sample(mask=...) form)."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.MultiDiscrete([2, 3])

    def _info(self) -> dict:
        return {"action_mask": (np.array([1, 0], np.int8), np.array([0, 1, 1], np.int8))}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), self._info()

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, False, False, self._info()


def test_multi_discrete_tuple_masks_from_info_are_concatenated() -> None:
    env = GymEnv(MultiDiscreteMaskEnv, num_envs=2)
    td = env.reset(seed=0)
    assert td["action_mask"].tolist() == [[True, False, False, True, True]] * 2
    for _ in range(10):
        action = env.rand_action()
        assert action[:, 0].eq(0).all() and action[:, 1].ge(1).all()
    td["action"] = torch.tensor([[0, 2], [0, 0]])
    with pytest.raises(ValueError, match=r"'action' holds 0 at index \[1, 1\], which 'action_mask' forbids"):
        env.step(td)
    td["action"] = torch.tensor([[0, 2], [0, 1]])
    td = env.step(td)
    assert td["next", "action_mask"].tolist() == [[True, False, False, True, True]] * 2


class MissingMaskEnv(MaskedCountdownEnv):
    """Gives ``info["action_mask"]`` at reset only."""

    def step(self, action):
        obs, reward, terminated, truncated, _ = super().step(action)
        return obs, reward, terminated, truncated, {}


def test_mask_errors() -> None:
    env = GymEnv(lambda: MissingMaskEnv(3, "info"), num_envs=2)
    td = env.reset(seed=0)
    td["action"] = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"mask_from='info' but the step .* info of sub-envs \[0, 1\] lacks"):
        env.step(td)
    with pytest.raises(ValueError, match=r"mask_from='info' but the reset info of sub-envs \[0\] lacks 'action_mask'"):
        GymEnv("CartPole-v1", mask_from="info").reset(seed=0)
    with pytest.raises(ValueError, match=r"mask_from='observation' needs a Dict observation space"):
        GymEnv("CartPole-v1", mask_from="observation")
    with pytest.raises(TypeError, match=r"action masks need a Discrete or 1-D MultiDiscrete action space, got Box"):
        GymEnv(ClippingEnv(), mask_from="info")
    with pytest.raises(ValueError, match=r"mask_from must be 'auto', 'info', 'observation' or None, got 'obs'"):
        GymEnv("CartPole-v1", mask_from="obs")


class WrongSizeMaskEnv(MaskedCountdownEnv):
    def _out(self):
        obs, _ = super()._out()
        return obs, {"action_mask": np.ones(2, np.int8)}


def test_mask_of_the_wrong_size_raises() -> None:
    with pytest.raises(ValueError, match=r"info\['action_mask'\] has 2 entries per sub-env, expected 3"):
        GymEnv(lambda: WrongSizeMaskEnv(3, "info")).reset(seed=0)

    class WrongSpace(MaskedCountdownEnv):
        def __init__(self) -> None:
            super().__init__(3, "observation")
            self.observation_space = spaces.Dict(
                {"observation": spaces.Box(0.0, 1.0, (1,)), "action_mask": spaces.MultiBinary(4)}
            )

    with pytest.raises(ValueError, match=r"the 'action_mask' observation entry has shape \(4,\), expected \(3,\)"):
        GymEnv(WrongSpace())


def test_collector_with_info_masks() -> None:
    env = GymEnv(lambda: MaskedCountdownEnv(3, "info"), num_envs=2)

    def policy(td: TensorDict) -> TensorDict:
        td["action"] = env.rand_action()  # uniform over the allowed actions
        return td

    torch.manual_seed(0)
    rollout = SyncCollector(env, policy, rollout_length=6, seed=0).rollout()
    assert rollout["action_mask"].shape == rollout["next", "action_mask"].shape == (2, 6, 3)
    assert rollout["action_mask"].gather(-1, rollout["action"].unsqueeze(-1)).all()
    assert rollout["next", "done"][:, :, 0].tolist() == [[False, False, True] * 2] * 2


def test_info_masks_are_found_before_training_and_seen_through_wrappers() -> None:
    from rl4py.collectors import SyncCollector
    from rl4py.envs import has_action_mask
    from rl4py.modules import make_actor_critic

    env = GymEnv(lambda: MaskedCountdownEnv(3, "info"), num_envs=2)  # mask_from="auto": unknown until a reset
    collector = SyncCollector(env, None, rollout_length=4, seed=0)  # wraps env in EpisodeStats
    assert env.mask_from == "auto" and "action_mask" not in collector.env.observation_keys
    assert has_action_mask(collector.env)  # resets once to decide
    assert collector.env.observation_keys == ("observation", "action_mask")  # the wrapper reads through
    actor, _ = make_actor_critic(env.single_observation_space, env.single_action_space, masked=True)
    rollout = SyncCollector(env, actor, rollout_length=4, seed=0).rollout()  # the env refuses masked actions
    assert rollout["action_mask"].shape == (2, 4, 3)


def test_collector_restored_over_a_gym_env_resets_it_and_warns() -> None:
    from rl4py.collectors import SyncCollector

    collector = SyncCollector(GymEnv("CartPole-v1", num_envs=2), None, rollout_length=8, seed=0)
    collector.rollout()
    state = collector.state_dict()
    fresh = SyncCollector(GymEnv("CartPole-v1", num_envs=2), None, rollout_length=8, seed=0)
    with pytest.warns(UserWarning, match="not an exact continuation"):
        fresh.load_state_dict(state)
    assert fresh.frames == 16
    assert fresh.rollout().batch_size == (2, 8)  # runs (the old code stepped an env that was never reset)


class SwitchesEnv(gym.Env):
    """MultiBinary(3) actions; reward = number of switches on; one step per episode."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.MultiBinary(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        assert action.dtype == np.int8 and set(np.unique(action)) <= {0, 1}
        return np.zeros(1, np.float32), float(action.sum()), True, False, {}


def test_multi_binary_actions_are_checked_sampled_and_stepped() -> None:
    env = GymEnv(SwitchesEnv, num_envs=4)
    env.reset(seed=0)
    action = env.rand_action(torch.Generator().manual_seed(0))
    assert action.shape == (4, 3) and set(action.unique().tolist()) <= {0, 1}
    out = env.step_tensors(action)
    assert out.next["reward"].squeeze(-1).tolist() == action.sum(-1).float().tolist()
    with pytest.raises(ValueError, match="holds 2 at index .* expected 0 or 1"):
        env.step_tensors(torch.full((4, 3), 2))
    with pytest.raises(TypeError, match="expected an integer or bool dtype"):
        env.step_tensors(torch.zeros(4, 3))


def test_restored_collector_over_a_gym_env_keeps_the_wrappers_statistics() -> None:
    from rl4py.collectors import SyncCollector
    from rl4py.envs import ObservationNorm

    collector = SyncCollector(ObservationNorm(GymEnv("CartPole-v1", num_envs=2)), None, rollout_length=8, seed=0)
    collector.rollout()
    state = collector.state_dict()
    saved_count = collector.env.env.count.clone()
    fresh = SyncCollector(ObservationNorm(GymEnv("CartPole-v1", num_envs=2)), None, rollout_length=8, seed=0)
    with pytest.warns(UserWarning, match="not an exact continuation"):
        fresh.load_state_dict(state)
    # the saved statistics, plus the reset batch the restart observed
    assert float(fresh.env.env.count) == float(saved_count) + 2


def test_probing_for_masks_leaves_wrapper_statistics_alone() -> None:
    from rl4py.envs import ObservationNorm, has_action_mask

    env = ObservationNorm(GymEnv(lambda: MaskedCountdownEnv(3, "info"), num_envs=2))
    assert has_action_mask(env)
    assert float(env.count) == 0.0
