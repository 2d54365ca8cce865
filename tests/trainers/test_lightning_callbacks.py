"""EvaluationCallback: periodic evaluation on separate envs that leaves training untouched."""

from __future__ import annotations

import warnings

import pytest
import torch
from lightning_helpers import quiet_trainer

from rl4py.trainers import DQNConfig, DQNModule, EvaluationCallback, PPOConfig, PPOModule

warnings.filterwarnings("ignore", ".*does not have many workers.*")

SMALL = PPOConfig(num_envs=8, rollout_length=16, epochs=2, num_minibatches=2, lr=1e-3, anneal_lr=False)


def test_evaluates_every_n_steps_and_logs_the_returns():
    evaluation = EvaluationCallback(every_n_steps=8, num_envs=4, max_steps=500)
    trainer = quiet_trainer(24, callbacks=[evaluation])
    trainer.fit(PPOModule(config=SMALL))
    assert [step for step, _ in evaluation.history] == [8, 16, 24]  # one rollout = 4 optimizer steps
    assert all(value >= 1.0 for _, value in evaluation.history)  # CartPole pays 1 per step
    assert trainer.callback_metrics["eval/mean_return"].item() == pytest.approx(evaluation.history[-1][1])
    assert trainer.callback_metrics["eval/min_return"] <= trainer.callback_metrics["eval/max_return"]


def test_training_is_identical_with_and_without_evaluation():
    plain = PPOModule(config=SMALL)
    quiet_trainer(16).fit(plain)
    evaluated = PPOModule(config=SMALL)
    # sampled actions draw random numbers: they must come from a forked RNG, not the training one
    quiet_trainer(16, callbacks=[EvaluationCallback(every_n_steps=4, num_envs=2, deterministic=False)]).fit(evaluated)
    for (name, a), b in zip(plain.state_dict().items(), evaluated.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs: the evaluation changed training"


def test_evaluates_a_dqn_module_and_rejects_bad_settings():
    evaluation = EvaluationCallback(every_n_steps=2, num_envs=2, max_steps=500)
    module = DQNModule(
        config=DQNConfig(num_envs=4, buffer_size=500, batch_size=16, learning_starts=16, train_frequency=4)
    )
    quiet_trainer(4, callbacks=[evaluation]).fit(module)
    assert len(evaluation.history) == 2
    with pytest.raises(ValueError, match="every_n_steps, num_envs and max_steps must be >= 1"):
        EvaluationCallback(every_n_steps=0)


def test_normalized_modules_are_evaluated_with_their_frozen_statistics(monkeypatch):
    from rl4py.envs.wrappers import ObservationNorm, find_wrapper
    from rl4py.trainers import lightning_callbacks

    seen = []
    original = lightning_callbacks.evaluate_policy

    def spy(env, policy, **kwargs):
        norm = find_wrapper(env, ObservationNorm)
        seen.append((norm.mean.clone(), norm.count.clone(), norm.frozen))
        return original(env, policy, **kwargs)

    monkeypatch.setattr(lightning_callbacks, "evaluate_policy", spy)
    model = PPOModule(config=SMALL, normalize_observations=True)
    quiet_trainer(4, callbacks=[EvaluationCallback(every_n_steps=4, num_envs=2, max_steps=500)]).fit(model)
    train_norm = find_wrapper(model.collector.env, ObservationNorm)
    ((mean, count, frozen),) = seen
    assert frozen and torch.equal(mean, train_norm.mean) and torch.equal(count, train_norm.count)
