"""rl4py: reinforcement learning for PyTorch, composed from small parts that pass TensorDicts.

The stable public API is re-exported here::

    from rl4py import CartPole, SyncCollector, GAE, PPOLoss
"""

from rl4py import keys
from rl4py.collectors import SyncCollector, finished_episodes
from rl4py.data import MemmapStorage, PrioritizedSampler, RandomSampler, ReplayBuffer, TensorStorage
from rl4py.envs import (
    CartPole,
    EnvBase,
    EnvWrapper,
    EpisodeStats,
    GridWorld,
    GymEnv,
    MultiDiscreteTarget,
    ObservationNorm,
    Pendulum,
    RewardClip,
)
from rl4py.export import export_onnx, export_program
from rl4py.loggers import (
    CompositeLogger,
    JSONLinesLogger,
    Logger,
    NoopLogger,
    PrintLogger,
    TensorBoardWriter,
    log_stats,
    record_episode,
    write_gif,
    write_mp4,
)
from rl4py.losses import (
    ActorCriticLoss,
    BCLoss,
    DQNLoss,
    LossModule,
    PolicyDistillationLoss,
    PPOLoss,
    polyak_update,
    total_loss,
)
from rl4py.modules import (
    MLP,
    AutoRegressiveActor,
    Categorical,
    DiagGaussian,
    MaskedCategorical,
    MultiCategorical,
    Policy,
    ProbabilisticActor,
    make_actor_critic,
    make_discrete_actor_critic,
    orthogonal_init_,
    predict,
)
from rl4py.values import GAE, UPGO, MultiHeadGAE, TDLambda, ValueEstimator, VTrace, make_value_estimator

__version__ = "0.1.0"

__all__ = [
    "CompositeLogger",
    "JSONLinesLogger",
    "Logger",
    "NoopLogger",
    "PrintLogger",
    "TensorBoardWriter",
    "log_stats",
    "record_episode",
    "write_gif",
    "write_mp4",
    "GAE",
    "UPGO",
    "ActorCriticLoss",
    "BCLoss",
    "DQNLoss",
    "polyak_update",
    "MultiHeadGAE",
    "PolicyDistillationLoss",
    "TDLambda",
    "VTrace",
    "MLP",
    "CartPole",
    "AutoRegressiveActor",
    "Categorical",
    "DiagGaussian",
    "MaskedCategorical",
    "MultiCategorical",
    "make_actor_critic",
    "EnvBase",
    "EnvWrapper",
    "EpisodeStats",
    "GridWorld",
    "GymEnv",
    "MultiDiscreteTarget",
    "Pendulum",
    "LossModule",
    "ObservationNorm",
    "MemmapStorage",
    "PPOLoss",
    "PrioritizedSampler",
    "RandomSampler",
    "ReplayBuffer",
    "TensorStorage",
    "ProbabilisticActor",
    "RewardClip",
    "SyncCollector",
    "ValueEstimator",
    "finished_episodes",
    "keys",
    "make_discrete_actor_critic",
    "make_value_estimator",
    "orthogonal_init_",
    "total_loss",
    "Policy",
    "export_onnx",
    "export_program",
    "predict",
]
