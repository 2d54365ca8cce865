"""Public test helpers: mock envs with known answers, loop references of the value estimators, and
test seeds shifted by ``RL4PY_TEST_SEED_OFFSET``."""

from rl4py.testing.mock_envs import CountingEnv, IdentityEnv, InfiniteHorizonEnv
from rl4py.testing.reference_estimators import (
    gae_reference,
    multi_head_gae_reference,
    td_lambda_reference,
    upgo_reference,
    vtrace_reference,
)
from rl4py.testing.seeds import seed_offset, shift_seed

__all__ = [
    "CountingEnv",
    "IdentityEnv",
    "InfiniteHorizonEnv",
    "gae_reference",
    "multi_head_gae_reference",
    "seed_offset",
    "shift_seed",
    "td_lambda_reference",
    "upgo_reference",
    "vtrace_reference",
]
