"""The Beta-VAE opponent model on HiddenOpponent: (a) its embedding separates the hidden styles, (b) a policy fed
the embedding beats one without it, (c) the scouting reward is positive exactly when the model's entropy drops."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from rl4py.collectors import SyncCollector
from rl4py.envs import OPPONENT, HiddenOpponent
from rl4py.exploration import EntropyReduction, IntrinsicReward, IntrinsicRewardWrapper, OpponentContext, OpponentModel
from rl4py.modules import BetaVAE
from rl4py.testing import shift_seed
from rl4py.trainers import PPOConfig, train_ppo


@pytest.fixture(scope="module")
def fitted() -> tuple[OpponentModel, HiddenOpponent]:
    seed = shift_seed(0)
    torch.manual_seed(seed)
    env = HiddenOpponent(num_envs=64)
    features, styles = env.scouting_data(100, seed=seed)
    model = OpponentModel(BetaVAE(3, latent_dim=3, hidden=(32,), beta=1.0), num_strategies=3)
    model.fit_vae(features, epochs=30, lr=3e-3, seed=seed)
    model.fit_head(features, styles, epochs=30, lr=1e-2, seed=seed)
    return model, env


def test_embedding_separates_the_styles(fitted: tuple[OpponentModel, HiddenOpponent]) -> None:
    model, env = fitted
    assert not any(p.requires_grad for p in model.parameters())  # frozen after fitting
    features, styles = HiddenOpponent(num_envs=64).scouting_data(100, seed=shift_seed(1000))  # held out
    moves = features.sum(-1).round().long()
    with torch.no_grad():
        predicted = model.strategy_logits(features).argmax(-1)
    for n in (1, 3, 6):
        seen = moves == n
        accuracy = float((predicted[seen] == styles[seen]).float().mean())
        # a linear probe on the frozen embedding is within 5 points of the Bayes-optimal accuracy (0.70, 0.82, 0.91)
        assert accuracy >= env.bayes_accuracy(n) - 0.05, (n, accuracy, env.bayes_accuracy(n))
    # clusters: after 6 moves, the embeddings of one style lie closer to their own centroid than to the others'
    embedding = model.embedding(features[moves == 6])
    labels = styles[moves == 6]
    centroids = torch.stack([embedding[labels == k].mean(0) for k in range(3)])
    nearest = torch.cdist(embedding, centroids).argmin(-1)
    assert float((nearest == labels).float().mean()) >= env.bayes_accuracy(6) - 0.08
    # and the prediction gets surer with every move seen
    entropy = [float(model.entropy(features[moves == n]).mean()) for n in range(1, 7)]
    assert all(a > b for a, b in zip(entropy, entropy[1:])), entropy


@pytest.mark.slow
def test_policy_with_the_embedding_scores_higher(fitted: tuple[OpponentModel, HiddenOpponent]) -> None:
    model, _ = fitted
    wins = 0
    for seed in (shift_seed(s) for s in range(3)):
        config = PPOConfig(num_envs=16, rollout_length=32, lr=1e-3, total_frames=30_000, seed=seed, window=200)
        blind = train_ppo(HiddenOpponent(num_envs=16), config).mean_return
        context = train_ppo(OpponentContext(HiddenOpponent(num_envs=16), model), config).mean_return
        # blind play is worth 1/3 at best (commit at once); seeing the style it is worth ~0.75
        wins += context > blind + 0.2
    assert wins >= 2


def test_scouting_reward_is_positive_exactly_when_entropy_drops(fitted: tuple[OpponentModel, HiddenOpponent]) -> None:
    model, _ = fitted
    reward = EntropyReduction(model)
    assert isinstance(reward, IntrinsicReward)
    env = HiddenOpponent(num_envs=32)
    rollout = next(iter(SyncCollector(env, None, rollout_length=40, total_frames=32 * 40, seed=shift_seed(3))))
    h_prev = model.entropy(rollout[OPPONENT])
    h_current = model.entropy(rollout["next", OPPONENT])
    bonus = reward(rollout).squeeze(-1)
    dropped = h_prev > h_current
    assert torch.equal(bonus > 0, dropped)
    torch.testing.assert_close(bonus[dropped], (h_prev - h_current)[dropped])
    assert bool(dropped.any()) and bool((~dropped).any())
    # a commit reveals nothing: never paid; the first step of an episode compares with the reset observation
    commit = rollout["action"] < env.scout_action
    assert float(bonus[commit].abs().max()) == 0.0
    first = torch.cat([torch.ones(32, 1, dtype=torch.bool), rollout["next", "done"].squeeze(-1)[:, :-1]], dim=1)
    torch.testing.assert_close(bonus[first], (h_prev - h_current).clamp(min=0)[first])


def test_scouting_reward_through_the_wrapper_and_context_wiring(fitted: tuple[OpponentModel, HiddenOpponent]) -> None:
    model, _ = fitted
    env = IntrinsicRewardWrapper(OpponentContext(HiddenOpponent(num_envs=8), model), EntropyReduction(model), 0.5)
    td = env.reset_tensors(seed=0)
    assert td["observation"].shape == (8, 1 + 3)
    torch.testing.assert_close(td["observation"][:, 1:], model.embedding(td[OPPONENT]))
    out = env.step_tensors(torch.full((8,), 3))  # scout
    drop = (model.entropy(td[OPPONENT]) - model.entropy(out.next[OPPONENT])).clamp(min=0).unsqueeze(-1)
    torch.testing.assert_close(out.next["intrinsic_reward"], drop)
    torch.testing.assert_close(out.next["reward"], out.next["extrinsic_reward"] + 0.5 * drop)
    with pytest.raises(ValueError, match="returns no 'enemy'"):
        OpponentContext(HiddenOpponent(), model, key="enemy")
    with pytest.raises(TypeError, match="must have entropy"):
        EntropyReduction(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"labels must be integers \[4\]"):
        model.fit_head(torch.zeros(4, 3), torch.zeros(4))
    td = TensorDict({OPPONENT: torch.zeros(2, 3), "next": {OPPONENT: torch.zeros(2, 3)}}, [2])
    assert torch.equal(reward_of(model, td), torch.zeros(2, 1))


def reward_of(model: OpponentModel, td: TensorDict) -> torch.Tensor:
    return EntropyReduction(model)(td)
