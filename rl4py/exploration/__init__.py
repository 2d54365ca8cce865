"""Exploration: intrinsic rewards (counts, RND, opponent-entropy reduction), how to add them to the task's
reward (an env wrapper or a rollout stage) and an opponent model whose embedding conditions a policy."""

from rl4py.exploration.base import INTRINSIC_REWARD, IntrinsicReward, IntrinsicRewardStage, IntrinsicRewardWrapper
from rl4py.exploration.count import CountReward
from rl4py.exploration.opponent import EntropyReduction, OpponentContext, OpponentModel
from rl4py.exploration.rnd import RND

__all__ = [
    "INTRINSIC_REWARD",
    "RND",
    "CountReward",
    "EntropyReduction",
    "IntrinsicReward",
    "IntrinsicRewardStage",
    "IntrinsicRewardWrapper",
    "OpponentContext",
    "OpponentModel",
]
