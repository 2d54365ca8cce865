"""Public test helpers: mock envs with known answers."""

from rl4py.testing.mock_envs import CountingEnv, IdentityEnv, InfiniteHorizonEnv

__all__ = ["CountingEnv", "IdentityEnv", "InfiniteHorizonEnv"]
