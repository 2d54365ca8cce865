"""Multi-head value decomposition end to end: config, N-head critic, MultiHeadGAE stage, per-head loss
diagnostics, the plain loop, Lightning and the CLI."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py import keys
from rl4py.collectors import SyncCollector
from rl4py.envs import CartPole, CoinCorridor, SumRewardHeads
from rl4py.losses import PPOLoss
from rl4py.modules import make_actor_critic, make_discrete_actor_critic
from rl4py.testing import multi_head_gae_reference, shift_seed
from rl4py.trainers import PPOConfig, build_ppo, train_ppo
from rl4py.trainers.actor_critic import build_for_env
from rl4py.trainers.lightning_ppo import PPOModule
from rl4py.values import GAE, MultiHeadGAE

warnings.filterwarnings("ignore", ".*does not have many workers.*")

MULTI = PPOConfig(
    num_envs=8,
    rollout_length=16,
    epochs=2,
    num_minibatches=2,
    lr=1e-3,
    anneal_lr=False,
    estimator="multihead_gae",
    head_weights=(1.0, 0.5),
    head_gammas=(0.5, 0.99),
)


def test_config_checks_the_multi_head_fields():
    with pytest.raises(ValueError, match="estimator='multihead_gae' needs head_weights"):
        PPOConfig(estimator="multihead_gae")
    with pytest.raises(ValueError, match=r"head_weights=\(1.0, 1.0\) would be ignored.*estimator='gae'"):
        PPOConfig(head_weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="head_gammas must have one discount per head"):
        PPOConfig(estimator="multihead_gae", head_weights=(1.0, 1.0), head_gammas=(0.9,))
    with pytest.raises(ValueError, match=r"every entry of head_gammas must be in \[0, 1\]"):
        PPOConfig(estimator="multihead_gae", head_weights=(1.0, 1.0), head_gammas=(0.9, 1.5))
    assert MULTI.value_heads == 2 and PPOConfig().value_heads == 1
    from rl4py.trainers.recurrent_ppo import RecurrentPPOConfig

    with pytest.raises(ValueError, match="the recurrent critic has one value head"):
        RecurrentPPOConfig(estimator="multihead_gae", head_weights=(1.0, 1.0))


def test_critic_builders_write_one_value_per_head():
    env = CoinCorridor(num_envs=3)
    _, critic = make_actor_critic(env.single_observation_space, env.single_action_space, value_heads=2)
    td = env.reset()
    assert critic(td)[keys.STATE_VALUE].shape == (3, 2)
    _, critic = make_discrete_actor_critic(4, 2, value_heads=3)
    assert critic.module(torch.zeros(5, 4)).shape == (5, 3)
    with pytest.raises(ValueError, match="value_heads must be an int >= 1, got 0"):
        make_discrete_actor_critic(4, 2, value_heads=0)


def test_the_config_builds_a_two_head_critic_and_a_multi_head_gae_with_its_settings():
    env = CoinCorridor(num_envs=2)
    parts = build_ppo(env.single_observation_space, env.single_action_space, MULTI)
    estimator = parts.value_estimator
    assert isinstance(estimator, MultiHeadGAE) and estimator.value_network is parts.critic
    assert estimator.weights == (1.0, 0.5) and estimator.gammas == (0.5, 0.99) and estimator.lmbdas == (0.95, 0.95)
    assert parts.critic(env.reset())[keys.STATE_VALUE].shape == (2, 2)
    # a given MultiHeadGAE sets the number of critic heads
    given = MultiHeadGAE(gammas=0.9, lmbdas=0.9, weights=(1.0, 1.0, 1.0))
    parts = build_ppo(env.single_observation_space, env.single_action_space, PPOConfig(), value_estimator=given)
    assert parts.critic(env.reset())[keys.STATE_VALUE].shape == (2, 3)


def test_an_env_and_an_estimator_with_different_heads_are_refused_before_training():
    with pytest.raises(ValueError, match=r"CoinCorridor returns 2 reward head\(s\) but the value estimator GAE.*"):
        build_for_env(build_ppo, CoinCorridor(num_envs=2), PPOConfig())
    with pytest.raises(ValueError, match=r"returns 2 reward head\(s\) .* MultiHeadGAE expects 3"):
        build_for_env(
            build_ppo, CoinCorridor(num_envs=2), MULTI.replace(head_weights=(1.0, 1.0, 1.0), head_gammas=None)
        )
    with pytest.raises(ValueError, match=r"CartPole returns 1 reward head\(s\)"):
        build_for_env(build_ppo, CartPole(num_envs=2), MULTI)
    assert isinstance(build_for_env(build_ppo, SumRewardHeads(CoinCorridor(2)), PPOConfig()).value_estimator, GAE)


def test_the_built_stage_on_a_rollout_equals_gae_per_head_and_a_hand_computed_case():
    env = CoinCorridor(num_envs=4, coin_noise=0.0)
    parts = build_for_env(build_ppo, env, MULTI)
    rollout = next(iter(SyncCollector(env, parts.actor, rollout_length=12, total_frames=48, seed=0)))
    assert rollout["next", "reward"].shape == (4, 12, 2)
    parts.value_estimator(rollout)
    values = parts.critic(rollout.clone())[keys.STATE_VALUE]
    next_values = parts.critic(rollout["next"].clone())[keys.STATE_VALUE]
    advantage, _, target = multi_head_gae_reference(
        (0.5, 0.99),
        (0.95, 0.95),
        (1.0, 0.5),
        values,
        next_values,
        rollout["next", "reward"],
        rollout["next", "done"],
        rollout["next", "terminated"],
    )
    torch.testing.assert_close(rollout[keys.ADVANTAGE], advantage)
    torch.testing.assert_close(rollout[keys.VALUE_TARGET], target)

    # by hand: a zero critic, lambda 1, three steps of one episode that reaches the goal at the third
    with torch.no_grad():
        for p in parts.critic.module[-1].parameters():
            p.zero_()
    reward = torch.tensor([[[0.05, 0.0], [0.0, 0.0], [0.05, 10.0]]])
    done = torch.tensor([[[False], [False], [True]]])
    td = rollout[:1, :3].clone()
    td["next", "reward"], td["next", "done"], td["next", "terminated"] = reward, done, done.clone()
    MultiHeadGAE(gammas=(0.5, 0.99), lmbdas=1.0, weights=(1.0, 0.5), value_network=parts.critic)(td)
    coins = [0.05 + 0.5**2 * 0.05, 0.5 * 0.05, 0.05]  # sum_k 0.5^k r_{t+k}
    goal = [0.99**2 * 10.0, 0.99 * 10.0, 10.0]
    torch.testing.assert_close(td[keys.VALUE_TARGET][0], torch.tensor([coins, goal]).T)
    torch.testing.assert_close(td[keys.ADVANTAGE][0, :, 0], torch.tensor(coins) + 0.5 * torch.tensor(goal))


def test_ppo_loss_sums_per_head_value_losses_and_reports_per_head_diagnostics():
    actor, critic = make_discrete_actor_critic(3, 2, value_heads=2)
    torch.manual_seed(0)
    td = {
        "observation": torch.randn(32, 3),
        "action": torch.randint(0, 2, (32,)),
        "advantage": torch.randn(32, 1),
        "value_target": torch.randn(32, 2) * torch.tensor([1.0, 10.0]),
    }
    from tensordict import TensorDict

    td = TensorDict(td, batch_size=[32])
    with torch.no_grad():
        td["action_log_prob"] = actor.get_dist(td).log_prob(td["action"]).unsqueeze(-1)
    out = PPOLoss(actor, critic, clip_value=False, critic_coeff=0.5)(td)
    value = critic.module(td["observation"]).detach()
    per_head = 0.5 * (value - td["value_target"]).square().mean(0)
    torch.testing.assert_close(out["value_loss_head0"], per_head[0])
    torch.testing.assert_close(out["value_loss_head1"], per_head[1])
    torch.testing.assert_close(out["loss_critic"], 0.5 * per_head.sum())
    for h in range(2):
        target = td["value_target"][:, h]
        expected = 1 - (target - value[:, h]).var() / target.var()
        torch.testing.assert_close(out[f"explained_variance_head{h}"], expected)
    summed = td["value_target"].sum(-1)
    torch.testing.assert_close(out["explained_variance"], 1 - (summed - value.sum(-1)).var() / summed.var())
    # a one-head critic keeps the one-head stats only
    actor1, critic1 = make_discrete_actor_critic(3, 2)
    td1 = td.clone()
    td1["value_target"] = td["value_target"][:, :1]
    assert "value_loss_head0" not in PPOLoss(actor1, critic1, clip_value=False)(td1)


def test_train_ppo_reports_per_head_returns_and_value_losses():
    result = train_ppo(
        CoinCorridor(num_envs=8), MULTI.replace(total_frames=8 * 16 * 4), progress=lambda _: None, progress_every=1
    )
    last = result.history[-1]
    for name in ("mean_return_head0", "mean_return_head1", "value_loss_head0", "explained_variance_head1"):
        assert name in last, sorted(last)
    assert last["mean_return"] == pytest.approx(last["mean_return_head0"] + last["mean_return_head1"], abs=1e-4)
    assert result.critic.module[-1].out_features == 2


def test_lightning_module_logs_per_head_metrics_and_refuses_a_one_head_estimator():
    import lightning.pytorch as pl

    class Record(pl.Callback):
        def __init__(self):
            self.names = set()

        def on_train_batch_end(self, trainer, module, *args):
            self.names |= set(trainer.callback_metrics)

    model = PPOModule("CoinCorridor", config=MULTI)
    record = Record()
    pl.seed_everything(0, verbose=False)
    trainer = quiet_trainer(8 * 4, callbacks=[record], log_every_n_steps=1)
    trainer.fit(model)
    assert isinstance(model.value_estimator, MultiHeadGAE)
    for name in ("losses/value_loss_head1", "losses/explained_variance_head0", "charts/episodic_return_head1"):
        assert name in record.names, sorted(record.names)
    assert isinstance(model.rank_checkpoint_state()["head_returns"], list)  # episodes since the last log
    with pytest.raises(ValueError, match="CoinCorridor returns 2 reward head"):
        quiet_trainer(2).fit(
            PPOModule("CoinCorridor", config=MULTI.replace(estimator="gae", head_weights=None, head_gammas=None))
        )


def test_evaluate_policy_sums_the_reward_heads():
    from tensordict.nn import TensorDictModule

    from rl4py.trainers.evaluation import evaluate_policy

    right = TensorDictModule(lambda obs: torch.ones(obs.shape[0], dtype=torch.int64), ["observation"], ["action"])
    env = CoinCorridor(num_envs=3, length=4, coin_noise=0.0, coin_reward=0.0, goal_reward=10.0)
    torch.testing.assert_close(evaluate_policy(env, right, seed=0), torch.full((3,), 10.0))


@pytest.mark.slow
def test_multi_head_ppo_learns_coin_corridor():
    """Random play mostly wanders (the goal is 10 cells away); walking right earns ~10.25. Two of three seeds."""
    config = MULTI.replace(
        num_envs=16,
        rollout_length=64,
        num_minibatches=4,
        epochs=4,
        total_frames=40_000,
        window=100,
        head_weights=(1.0, 1.0),
        head_gammas=(0.9, 0.99),
    )
    passed, got = 0, []
    for seed in (0, 1, 2):
        result = train_ppo(CoinCorridor(num_envs=16), config.replace(seed=shift_seed(seed)))
        got.append(round(result.mean_return, 2))
        passed += result.mean_return > 9.0
        if passed == 2:
            break
    assert passed >= 2, got


def test_cli_recipe_trains_a_two_head_critic():
    from lightning.pytorch.cli import LightningCLI

    from rl4py.cli import main

    recipe = Path(__file__).parents[2] / "recipes" / "multihead_value.yaml"
    captured = {}
    original = LightningCLI.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        captured["cli"] = self

    LightningCLI.__init__ = spy
    quiet = ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]
    quiet += ["--trainer.enable_checkpointing", "false", "--trainer.default_root_dir", tempfile.mkdtemp()]
    try:
        main(["fit", "--config", str(recipe), *quiet, "--trainer.max_steps", "16"])
    finally:
        LightningCLI.__init__ = original
    model = captured["cli"].model
    assert isinstance(model.value_estimator, MultiHeadGAE)
    assert model.value_estimator.gammas == (0.9, 0.99)
    assert model.critic.module[-1].out_features == 2
    assert model.env_frames == 16 * 64  # one rollout: 16 optimizer steps (4 epochs x 4 minibatches)
