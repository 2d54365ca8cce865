"""Planning in learned models: Dreamer's imagined rollouts and their lambda-returns."""

from rl4py.planning.imagination import Imagination, frozen

__all__ = ["Imagination", "frozen"]
