"""Saving and loading network weights: safetensors files and checkpoints read with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ["load_weights", "save_weights"]


def save_weights(module: nn.Module, path: str | Path) -> Path:
    """Writes ``module.state_dict()`` to a ``.safetensors`` file (tensors only, no pickled code).

    Args:
        module: any module (a policy, a LightningModule, a loss holding actor and critic).
        path: the file to write; ``.safetensors`` is appended if missing.

    Returns:
        The path written.

    Raises:
        ImportError: ``safetensors`` is not installed (``pip install safetensors`` or the ``export`` extra).
    """
    try:
        from safetensors.torch import save_file
    except ImportError as error:
        raise ImportError("save_weights needs safetensors: pip install safetensors") from error
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    tensors = {key: value.detach().contiguous() for key, value in module.state_dict().items()}
    save_file(tensors, str(path))
    return path


def _read(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as error:
            raise ImportError(
                "load_weights needs safetensors for .safetensors files: pip install safetensors"
            ) from error
        return load_file(str(path))
    # a checkpoint a user may have downloaded: never unpickle arbitrary objects
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:  # a Lightning checkpoint
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"load_weights: {path} holds a {type(state).__name__}, expected a state dict")
    return state


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Loads weights from a ``.safetensors`` file, a ``torch.save``-d state dict or a Lightning checkpoint.

    Every key must match, with the same shapes: a checkpoint of another architecture fails with
    a message listing the missing, unexpected and mis-shaped keys, and loads nothing.

    Args:
        module: the module to fill, in place.
        path: the weights file.

    Returns:
        ``module``.

    Raises:
        ValueError: the keys or shapes differ from the module's.
    """
    path = Path(path)
    state = _read(path)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{key}: checkpoint {tuple(state[key].shape)} vs module {tuple(own[key].shape)}"
        for key in set(own) & set(state)
        if state[key].shape != own[key].shape
    )
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if shapes:
            parts.append(f"shape mismatches {shapes}")
        raise ValueError(
            f"load_weights: {path} was saved from another architecture than {type(module).__name__}: "
            + "; ".join(parts)
        )
    module.load_state_dict(state)
    return module
