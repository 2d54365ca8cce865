"""Seeded random generators for native envs."""

from __future__ import annotations

import torch

__all__ = ["SeededGenerator"]


class SeededGenerator:
    """A ``torch.Generator`` on a device that is seeded once and then continues its stream.

    ``seed(None)`` on a never-seeded generator draws a seed from torch's global RNG, so
    ``torch.manual_seed`` makes an unseeded env reproducible.

    Args:
        device: the generator's device.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.generator = torch.Generator(device=device)
        self._seeded = False

    def seed(self, seed: int | None) -> None:
        """Seeds the stream with ``seed``; with ``None``, keeps the current stream (seeding it once)."""
        if seed is not None:
            self.generator.manual_seed(int(seed))
            self._seeded = True
        elif not self._seeded:
            self.generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
            self._seeded = True

    def state_dict(self) -> dict:
        return {"state": self.generator.get_state(), "seeded": self._seeded}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["state"])
        self._seeded = bool(state["seeded"])
