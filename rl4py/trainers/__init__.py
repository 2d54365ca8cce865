"""Training. Each algorithm is one config (its defaults table), one builder and one update body,
called by its plain loop (``train_*``) and its LightningModule (imported on first use, so the
plain loops never import Lightning).

============  =====================  =====================  ======================  ====================
algorithm     config                 builder                update body             front-ends
============  =====================  =====================  ======================  ====================
PPO           :class:`PPOConfig`     :func:`build_ppo`      actor_critic_update     train_ppo, PPOModule
recurrent     RecurrentPPOConfig     build_recurrent_ppo    actor_critic_update     train_recurrent_ppo,
PPO                                                                                 RecurrentPPOModule
MAPPO, IPPO   :class:`MAPPOConfig`   :func:`build_mappo`    :func:`mappo_update`    train_mappo, MAPPOModule
IMPALA        :class:`ImpalaConfig`  :func:`build_impala`   actor_critic_update     train_impala, ImpalaModule
IMPALA on     ImpalaRayConfig        build_impala           actor_critic_update     train_impala_ray
Ray
DQN           :class:`DQNConfig`     :func:`build_dqn`      :func:`dqn_update`      train_dqn, DQNModule
BC / distill  :class:`BCConfig`      :func:`build_bc`       :func:`bc_update`       train_bc, BCModule
CSPL          :class:`CSPLConfig`    (PPO's and BC's)       (PPO's and BC's)        train_cspl
Dreamer       DreamerConfig          build_dreamer          dreamer_update          train_dreamer, DreamerModule
self-play,    SelfPlayConfig         build_self_play        self_play_update        train_self_play,
league, PSRO                                                                        SelfPlayModule
============  =====================  =====================  ======================  ====================
"""

from rl4py.trainers.actor_critic import ActorCriticConfig, ActorCriticParts, actor_critic_update
from rl4py.trainers.bc import BCConfig, BCParts, bc_update, build_bc, collect_demonstrations, train_bc
from rl4py.trainers.config import TrainConfig
from rl4py.trainers.cspl import (
    CSPL_PHASES,
    CompositionRouter,
    CSPLConfig,
    CSPLResult,
    composition_agreement,
    composition_returns,
    train_cspl,
)
from rl4py.trainers.dqn import DQNConfig, DQNParts, build_dqn, dqn_update, train_dqn
from rl4py.trainers.dreamer import (
    DreamerConfig,
    DreamerParts,
    TrainRatio,
    build_dreamer,
    dreamer_update,
    make_dreamer_optimizer,
    train_dreamer,
)
from rl4py.trainers.evaluation import evaluate_policy
from rl4py.trainers.impala import BehaviourLag, ImpalaConfig, build_impala, train_impala
from rl4py.trainers.impala_ray import ActorLearnerResult, ImpalaRayConfig, train_impala_ray
from rl4py.trainers.mappo import MAPPOConfig, agent_spaces, build_mappo, mappo_update, train_mappo
from rl4py.trainers.ppo import PPOConfig, build_ppo, train_ppo
from rl4py.trainers.psro import PSROPopulation
from rl4py.trainers.recurrent_ppo import RecurrentPPOConfig, build_recurrent_ppo, train_recurrent_ppo
from rl4py.trainers.self_play import (
    SelfPlayConfig,
    SelfPlayResult,
    build_self_play,
    self_play_exploitability,
    self_play_update,
    train_self_play,
)
from rl4py.trainers.tracking import EpisodeTracker, ProgressReporter, TrainResult
from rl4py.trainers.updates import NonFiniteLossError, gradient_step, minibatch_update, num_threads
from rl4py.trainers.weights import load_weights, save_weights

__all__ = [
    "CSPL_PHASES",
    "ActorCriticConfig",
    "ActorLearnerResult",
    "ActorCriticParts",
    "BCConfig",
    "BCParts",
    "BehaviourLag",
    "CSPLConfig",
    "CSPLResult",
    "CompositionRouter",
    "DQNConfig",
    "DQNParts",
    "DreamerConfig",
    "DreamerParts",
    "EpisodeTracker",
    "ImpalaConfig",
    "ImpalaRayConfig",
    "MAPPOConfig",
    "NonFiniteLossError",
    "PPOConfig",
    "PSROPopulation",
    "ProgressReporter",
    "RecurrentPPOConfig",
    "SelfPlayConfig",
    "SelfPlayResult",
    "TrainConfig",
    "TrainRatio",
    "TrainResult",
    "actor_critic_update",
    "agent_spaces",
    "bc_update",
    "build_bc",
    "build_self_play",
    "build_dqn",
    "build_dreamer",
    "build_impala",
    "build_mappo",
    "build_ppo",
    "build_recurrent_ppo",
    "collect_demonstrations",
    "composition_agreement",
    "composition_returns",
    "dqn_update",
    "dreamer_update",
    "evaluate_policy",
    "gradient_step",
    "load_weights",
    "make_dreamer_optimizer",
    "mappo_update",
    "minibatch_update",
    "num_threads",
    "save_weights",
    "self_play_exploitability",
    "self_play_update",
    "train_bc",
    "train_cspl",
    "train_dqn",
    "train_dreamer",
    "train_impala",
    "train_impala_ray",
    "train_mappo",
    "train_ppo",
    "train_recurrent_ppo",
    "train_self_play",
]


_LIGHTNING = {
    "PPOModule": "rl4py.trainers.lightning_ppo",
    "MAPPOModule": "rl4py.trainers.lightning_mappo",
    "RecurrentPPOModule": "rl4py.trainers.lightning_ppo",
    "RolloutDataset": "rl4py.trainers.lightning_base",
    "RolloutModule": "rl4py.trainers.lightning_base",
    "load_checkpoint": "rl4py.trainers.lightning_base",
    "DQNModule": "rl4py.trainers.lightning_dqn",
    "DreamerModule": "rl4py.trainers.lightning_dreamer",
    "SelfPlayModule": "rl4py.trainers.lightning_self_play",
    "ImpalaModule": "rl4py.trainers.lightning_impala",
    "ImpalaRayModule": "rl4py.trainers.lightning_impala_ray",
    "BCModule": "rl4py.trainers.lightning_bc",
    "EvaluationCallback": "rl4py.trainers.lightning_callbacks",
}


def __getattr__(name: str):
    if name in _LIGHTNING:
        import importlib

        return getattr(importlib.import_module(_LIGHTNING[name]), name)
    raise AttributeError(f"module 'rl4py.trainers' has no attribute {name!r}")
