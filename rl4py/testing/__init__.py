"""Public test helpers: mock envs with known answers, and test seeds shifted by ``RL4PY_TEST_SEED_OFFSET``."""

from rl4py.testing.mock_envs import CountingEnv, IdentityEnv, InfiniteHorizonEnv
from rl4py.testing.seeds import seed_offset, shift_seed

__all__ = ["CountingEnv", "IdentityEnv", "InfiniteHorizonEnv", "seed_offset", "shift_seed"]
