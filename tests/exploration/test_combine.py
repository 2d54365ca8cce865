"""IntrinsicRewardWrapper and IntrinsicRewardStage: reward = extrinsic + coeff * intrinsic; extrinsic returns."""

from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl4py.collectors import SyncCollector, finished_episodes
from rl4py.envs import EXTRINSIC_REWARD, DeepSea, EpisodeStats, find_wrapper
from rl4py.exploration import INTRINSIC_REWARD, RND, CountReward, IntrinsicRewardStage, IntrinsicRewardWrapper
from rl4py.trainers import PPOConfig, build_ppo, train_ppo
from rl4py.trainers.actor_critic import build_for_env
from rl4py.values import GAE


def test_wrapper_adds_the_scaled_bonus_and_reports_extrinsic_returns() -> None:
    plain = DeepSea(num_envs=4, size=5, randomize_actions=False)
    env = IntrinsicRewardWrapper(
        DeepSea(num_envs=4, size=5, randomize_actions=False), CountReward(25, resolution=1.0), 0.3
    )
    assert find_wrapper(env, EpisodeStats) is env.env  # the episode statistics sit inside the bonus
    plain.reset_tensors(seed=0)
    env.reset_tensors(seed=0)
    counts: dict[int, int] = {}
    for _ in range(15):
        action = torch.tensor([1, 0, 1, 0])
        want, out = plain.step_tensors(action), env.step_tensors(action)
        cells = want.next["observation"].argmax(-1).tolist()
        for c in cells:
            counts[c] = counts.get(c, 0) + 1
        bonus = torch.tensor([[1 / math.sqrt(counts[c])] for c in cells])
        torch.testing.assert_close(out.next[INTRINSIC_REWARD], bonus)
        torch.testing.assert_close(out.next[EXTRINSIC_REWARD], want.next["reward"])
        torch.testing.assert_close(out.next["reward"], want.next["reward"] + 0.3 * bonus)
        if bool(want.next["done"].any()):
            torch.testing.assert_close(out.next["episode_return"][:, 0], torch.tensor([0.99, 0.0, 0.99, 0.0]))


def test_wrapper_checkpoint_continues_exactly() -> None:
    def make() -> IntrinsicRewardWrapper:
        return IntrinsicRewardWrapper(DeepSea(num_envs=3, size=6), CountReward(36, hash_bits=12, seed=1), 0.1)

    env = make()
    env.reset_tensors(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(7):
        env.step_tensors(torch.randint(0, 2, (3,), generator=gen))
    state = env.state_dict()
    actions = [torch.randint(0, 2, (3,), generator=gen) for _ in range(10)]
    rewards = [env.step_tensors(a).next["reward"] for a in actions]  # the saved state must not move with these
    twin = make()
    twin.load_state_dict(state)
    for action, reward in zip(actions, rewards):
        assert torch.equal(twin.step_tensors(action).next["reward"], reward)


def test_stage_writes_the_bonus_into_a_rollout_and_learns() -> None:
    env = DeepSea(num_envs=4, size=5)
    rollout = next(iter(SyncCollector(env, None, rollout_length=10, total_frames=40, seed=0, return_same_td=True)))
    extrinsic = rollout["next", "reward"].clone()
    counts = CountReward(25, resolution=1.0)
    stage = IntrinsicRewardStage(counts, coeff=0.5)
    stage(rollout)
    n = counts.counts(rollout)  # counted before the bonus was read: this rollout's visits
    bonus = n.float().rsqrt().unsqueeze(-1)
    torch.testing.assert_close(rollout["next", INTRINSIC_REWARD], bonus)
    torch.testing.assert_close(rollout["next", EXTRINSIC_REWARD], extrinsic)
    torch.testing.assert_close(rollout["next", "reward"], extrinsic + 0.5 * bonus)
    assert int(counts.table.counts.sum()) == 40
    returns, _ = finished_episodes(rollout)  # the collector's episode returns stay the task's
    assert float(returns.max()) <= 0.0
    frozen = IntrinsicRewardStage(counts, coeff=0.5, learn=False)
    frozen(next(iter(SyncCollector(env, None, rollout_length=10, total_frames=40, seed=1))))
    assert int(counts.table.counts.sum()) == 40


def test_stage_trains_rnd_on_inference_tensors_of_the_collector() -> None:
    env = DeepSea(num_envs=4, size=5)
    rnd = RND(25, seed=0)
    stage = IntrinsicRewardStage(rnd, coeff=1.0)
    rollouts = SyncCollector(env, None, rollout_length=10, total_frames=400, seed=0, return_same_td=True)
    for rollout in rollouts:
        stage(rollout)
    assert stage.last_stats["rnd_loss"] < 0.05 and rnd.error_count.item() == 400
    assert "intrinsic.predictor.0.weight" in stage.state_dict() and "intrinsic._extra_state" in stage.state_dict()


def test_train_ppo_runs_stages_before_the_value_estimator() -> None:
    env = DeepSea(num_envs=4, size=5)
    parts = build_for_env(build_ppo, env, PPOConfig(num_envs=4, rollout_length=16))
    stage = IntrinsicRewardStage(CountReward(25, resolution=1.0), coeff=0.1)
    parts.estimators.insert(0, stage)
    assert isinstance(parts.value_estimator, GAE)
    seen: list[TensorDictBase] = []

    class Spy(nn.Module):
        def forward(self, rollout: TensorDictBase) -> TensorDictBase:
            seen.append(rollout.get(("next", INTRINSIC_REWARD)).clone())
            return rollout

    result = train_ppo(env, PPOConfig(num_envs=4, rollout_length=16, total_frames=128), stages=[stage, Spy()])
    assert result.frames == 128 and len(seen) == 2 and float(seen[0].min()) > 0


def test_bad_rewards_are_refused() -> None:
    with pytest.raises(TypeError, match="IntrinsicReward protocol"):
        IntrinsicRewardWrapper(DeepSea(size=3), object(), 0.1)
    with pytest.raises(ValueError, match="coeff must be >= 0"):
        IntrinsicRewardStage(CountReward(9, resolution=1.0), coeff=-1.0)

    class Flat(nn.Module):
        update_first = True

        def forward(self, td: TensorDictBase) -> torch.Tensor:
            return torch.zeros(td.batch_size)  # [*B], not [*B, 1]

        def update(self, td: TensorDictBase) -> dict:
            return {}

    stage = IntrinsicRewardStage(Flat(), coeff=1.0)
    td = TensorDict({"next": {"reward": torch.zeros(2, 3, 1)}}, [2, 3])
    with pytest.raises(ValueError, match=r"expected a float tensor \(2, 3, 1\)"):
        stage(td)


def test_a_lightning_module_registers_and_runs_a_stage_before_its_value_estimator() -> None:
    import lightning.pytorch as pl

    from rl4py.trainers import PPOModule

    class CountedPPO(PPOModule):
        def build(self, observation_space, action_space, masked: bool) -> None:
            parts = build_ppo(observation_space, action_space, self.config, masked=masked)
            parts.estimators.insert(0, IntrinsicRewardStage(CountReward(25, resolution=1.0), coeff=0.1))
            self.set_parts(parts)

    model = CountedPPO("DeepSea", PPOConfig(num_envs=4, rollout_length=16, total_frames=128), env_kwargs={"size": 5})
    trainer = pl.Trainer(
        logger=False, enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False, max_epochs=-1
    )
    trainer.fit(model)
    assert isinstance(model.value_estimator, GAE)
    counts = model.state_dict()["estimator_stages.0.intrinsic.table.counts"]  # checkpointed with the module
    assert int(counts.sum()) == 128
