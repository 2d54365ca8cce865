"""Saving and loading network weights: safetensors files and checkpoints read with ``weights_only=True``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

__all__ = ["load_weights", "save_weights"]


_ALIASES = "rl4py.aliases"
_EXPECTED = (
    "expected a .safetensors file written by save_weights, a state dict saved with torch.save, "
    "or a Lightning checkpoint"
)


def _not_weights(path: Path, error: Exception) -> ValueError:
    """The error for a file ``torch.load(weights_only=True)`` could not read, without torch's advice
    to retry with ``weights_only=False`` (which would run whatever code the file holds)."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
    if found:
        return ValueError(
            f"load_weights: {path} holds pickled objects that are not tensors (such as {found.group(1)}); "
            f"load_weights reads files with torch.load(weights_only=True), which unpickles tensors only; {_EXPECTED}"
        )
    return ValueError(
        f"load_weights: {path} is not an rl4py weights or checkpoint file "
        f"(torch.load(weights_only=True) could not read it: {type(error).__name__}); {_EXPECTED}"
    )


def _weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """The tensor entries of ``module.state_dict()`` (non-tensor extra state, such as an
    exploration schedule, is not a weight)."""
    return {key: value for key, value in module.state_dict().items() if isinstance(value, torch.Tensor)}


def save_weights(module: nn.Module, path: str | Path) -> Path:
    """Writes ``module.state_dict()`` to a ``.safetensors`` file (tensors only, no pickled code).

    A tensor reachable under several names (a LightningModule's ``actor.*`` is also its
    ``loss.actor.*``) is stored once; the file's metadata maps the other names to it, and
    :func:`load_weights` restores them. Non-tensor state (an exploration schedule) is left out.

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
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    storages: set[tuple] = set()
    for key, value in _weights(module).items():
        storage = (value.device, value.untyped_storage().data_ptr())
        view = (*storage, value.storage_offset(), value.shape, value.stride())
        if view in seen and value.numel() > 0:  # the same tensor under another name
            aliases[key] = seen[view]
            continue
        seen[view] = key
        # another view of a storage already written must be copied (safetensors refuses shared memory)
        tensors[key] = value.detach().clone() if storage in storages else value.detach().contiguous()
        storages.add(storage)
    save_file(tensors, str(path), metadata={_ALIASES: json.dumps(aliases)} if aliases else None)
    return path


def _read(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open
        except ImportError as error:
            raise ImportError(
                "load_weights needs safetensors for .safetensors files: pip install safetensors"
            ) from error
        try:
            with safe_open(str(path), framework="pt") as file:
                state = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 - not a dict
                aliases = json.loads((file.metadata() or {}).get(_ALIASES, "{}"))
        except OSError:
            raise
        except Exception as error:  # safetensors' SafetensorError, a bad metadata entry
            raise ValueError(
                f"load_weights: {path} is not a readable safetensors file ({type(error).__name__}: {error}); "
                "expected a file written by save_weights"
            ) from None
        for alias, key in aliases.items():
            state[alias] = state[key]
        return state
    # a checkpoint a user may have downloaded: never unpickle arbitrary objects
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:  # a missing or unreadable file: torch's message names it
        raise
    except Exception as error:  # junk bytes fail in pickle, zip or torch's reader with many error types
        raise _not_weights(path, error) from None
    if isinstance(state, dict) and "state_dict" in state:  # a Lightning checkpoint
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"load_weights: {path} holds a {type(state).__name__}, expected a state dict")
    return {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Loads weights from a ``.safetensors`` file, a ``torch.save``-d state dict or a Lightning checkpoint.

    Every tensor key must match, with the same shapes: a checkpoint of another architecture fails
    with a message listing the missing, unexpected and mis-shaped keys, and loads nothing.
    Non-tensor state (an exploration schedule's ``_extra_state``) is not a weight and stays as is.

    Args:
        module: the module to fill, in place.
        path: the weights file.

    Returns:
        ``module``.

    Raises:
        ValueError: the file is not a weights file (junk, or pickled objects other than tensors,
            which are never unpickled), or its keys or shapes differ from the module's.
    """
    path = Path(path)
    state = _read(path)
    own = _weights(module)
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
    # strict=False only lets the non-tensor extra state through: every tensor key was checked above
    module.load_state_dict(state, strict=False)
    return module
