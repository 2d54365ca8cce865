"""Every TensorDict key name rl4py reads or writes, in one place.

Components take key overrides in their constructors; these are the defaults.
Nested keys are tuples, as in tensordict (``("next", "reward")``).

A transition batch has batch dims ``[*env_batch, T]`` (time last). Per-step
scalars (reward, done flags, values, log-probs, advantages) have shape
``[*env_batch, T, 1]``; ``action`` has shape ``[*env_batch, T, *action_shape]``.
"""

from __future__ import annotations

from typing import Union

#: a TensorDict key: a string or a tuple of strings for a nested entry
NestedKey = Union[str, tuple[str, ...]]

NEXT = "next"

OBSERVATION = "observation"
ACTION = "action"
ACTION_LOG_PROB = "action_log_prob"
ACTION_MASK = "action_mask"
#: the observation vector kept beside pixel observations (``PixelObservation(keep_state=True)``)
STATE = "state"
LOGITS = "logits"
LOC = "loc"
SCALE = "scale"
LOG_STD = "log_std"
STATE_VALUE = "state_value"
ACTION_VALUE = "action_value"
IS_INIT = "is_init"
RECURRENT_STATE = "recurrent_state"

REWARD = "reward"
DONE = "done"
TERMINATED = "terminated"
TRUNCATED = "truncated"

ADVANTAGE = "advantage"
INDEX = "index"
WEIGHT = "weight"
TARGET_LOG_PROB = "target_log_prob"
TEACHER_LOGITS = "teacher_logits"
VALUE_TARGET = "value_target"

# world models (Dreamer): the RSSM state, its features and the predicted continuation probability
DETER = "deter"
STOCH = "stoch"
FEATURES = "features"
CONTINUE = "continue"

#: actor-learner (rl4py.actor_learner): the learner update count of the weights that chose the step's action
POLICY_VERSION = "policy_version"

# multi-agent envs (rl4py.envs.MultiAgentEnv): per-agent entries are [B, n_agents, ...]
#: each agent's own reward ``[B, n_agents]`` under ``"next"`` (``"reward"`` is the team's: their mean)
AGENT_REWARD = "agent_reward"
#: an agent finished at this step while the env goes on ``[B, n_agents]`` bool, under ``"next"``
AGENT_TERMINATED = "agent_terminated"
#: the agent is in play at this step ``[B, n_agents]`` bool (an agent that finished early is not)
AGENT_ACTIVE = "agent_active"
#: what a centralized (privileged) critic reads: the global state and the agent's one-hot id
CRITIC_OBSERVATION = "critic_observation"

#: one transition as a replay buffer keeps it: what DQN's and Dreamer's losses read, plus "done"
TRANSITION_KEYS: tuple = (
    OBSERVATION,
    ACTION,
    (NEXT, OBSERVATION),
    (NEXT, REWARD),
    (NEXT, TERMINATED),
    (NEXT, DONE),
)

EPISODE_RETURN = "episode_return"
EPISODE_LENGTH = "episode_length"
#: an env with K reward heads (``EnvBase.reward_heads``): each head's running episode return ``[B, K]``
#: (``"episode_return"`` holds their sum)
EPISODE_HEAD_RETURNS = "episode_head_returns"
#: a z-conditioned env's strategy embedding ``[B, z_dim]`` (rl4py.envs.ZConditioning)
STRATEGY = "z"


def next_key(key: NestedKey) -> tuple[str, ...]:
    """Returns the key of the same entry under ``"next"``.

    Examples:
        >>> next_key("observation")
        ('next', 'observation')
        >>> next_key(("observation", "pixels"))
        ('next', 'observation', 'pixels')
    """
    if isinstance(key, str):
        return (NEXT, key)
    return (NEXT, *key)
