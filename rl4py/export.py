"""Export a trained actor's deterministic policy to ONNX and to ``torch.export``, for deployment without rl4py.

The actor's network and its distribution's mode become one tensor function, :class:`TensorPolicy`::

    inputs   observation [B, *obs_shape] float32, action_mask [B, n] bool (masked actors only)
    outputs  action [B] / [B, H] int64 (discrete) or [B, d] float32 (Box),
             and the actor's parameters: "logits" [B, n], "loc" [B, d] (before any tanh) or "action_value" [B, n]

:func:`export_program` saves it as a ``torch.export`` :class:`~torch.export.ExportedProgram`
(``torch.export.load(path).module()(obs)`` runs it with torch alone); :func:`export_onnx` writes an ONNX
model for onnxruntime (``pip install 'rl4py[export]'``: onnx, onnxscript, onnxruntime). The batch dim
is dynamic in both.

``torch.jit.script(actor)`` does not work on rl4py actors (they read and write TensorDicts, and the
distributions are Python classes); these two exports replace it for deployment.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rl4py.modules.activations import SigmoidTanh
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.distributions import Categorical, DiagGaussian, MultiCategorical
from rl4py.modules.policy import infer_observation_shape, observation_key, resolve_actor
from rl4py.modules.qvalue import QValueActor

__all__ = ["TensorPolicy", "export_onnx", "export_program"]

#: what describes the observation of an export: its space, its shape, an example observation or batch
Example = Union[gym.spaces.Box, Sequence[int], torch.Tensor, np.ndarray, None]


def _plain_tanh(module: nn.Module) -> nn.Module:
    """Replaces rl4py's :class:`~rl4py.modules.SigmoidTanh` (a size-dependent kernel choice) by ``nn.Tanh`` in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, SigmoidTanh):
            setattr(module, name, nn.Tanh())
        else:
            _plain_tanh(child)
    return module


def _start_list(value: Any, heads: int) -> list[int]:
    if value is None:
        return [0] * heads
    return [int(s) for s in (value if isinstance(value, (list, tuple)) else [value])]


class TensorPolicy(nn.Module):
    """An actor's deterministic policy as a tensor function: ``observation [, action_mask] -> (action, params)``.

    Supported actors (those :func:`~rl4py.modules.make_actor_critic` and
    :func:`~rl4py.modules.make_q_network` build):

    ========================================  ============================================  ===============
    actor                                     action                                        second output
    ========================================  ============================================  ===============
    :class:`~rl4py.modules.Categorical`       ``argmax(logits) + start`` ``[B]``            ``"logits"``
    :class:`~rl4py.modules.MaskedCategorical` the argmax over allowed actions               ``"logits"``
    :class:`~rl4py.modules.MultiCategorical`  each head's argmax (masked or not) ``[B, H]``  ``"logits"``
    :class:`~rl4py.modules.DiagGaussian`      ``loc``, or ``tanh(loc)`` when squashed        ``"loc"``
    :class:`~rl4py.modules.QValueActor`       ``argmax_a Q`` (over allowed actions)         ``"action_value"``
    ========================================  ============================================  ===============

    These are the actions the actor takes under ``InteractionType.DETERMINISTIC`` (the tests check
    it). The network is a copy (later training does not change this module), with rl4py's
    :class:`~rl4py.modules.SigmoidTanh` as ``nn.Tanh``. Masks are not validated here (no data-dependent
    branch may enter an export): a row allowing no action gives action ``start``.

    Args:
        actor: a :class:`~rl4py.modules.ProbabilisticActor` with one of the distributions above, a
            :class:`~rl4py.modules.QValueActor`, or an object holding one as ``.actor``.
        observation_transform: a module applied to the observation first (a normalization), copied in.

    Raises:
        TypeError: a recurrent actor, another distribution, or an actor with several inputs.

    Examples:
        >>> import gymnasium as gym
        >>> from rl4py.modules import make_actor_critic
        >>> actor, _ = make_actor_critic(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(4))
        >>> policy = TensorPolicy(actor)
        >>> action, logits = policy(torch.zeros(5, 3))
        >>> policy.input_names, policy.output_names, action.shape, logits.shape
        (('observation',), ('action', 'logits'), torch.Size([5]), torch.Size([5, 4]))
    """

    def __init__(self, actor: Any, observation_transform: nn.Module | None = None) -> None:
        super().__init__()
        actor = resolve_actor(actor, deterministic=True)
        name = type(actor).__name__
        if hasattr(actor, "initial_state"):
            raise TypeError(f"TensorPolicy: {name} is recurrent; export supports feed-forward actors only")
        observation_key(actor)  # one observation input, or a TypeError naming the inputs
        self.masked = False
        self.tanh = False
        self.nvec: list[int] = []
        self.starts: list[int] = [0]
        if isinstance(actor, QValueActor):
            self.kind, params = "q", "action_value"
            network = actor.network
            self.masked = actor.action_mask_key is not None
        elif isinstance(actor, ProbabilisticActor):
            network = actor.module
            cls, kwargs = actor.distribution_class, actor.distribution_kwargs
            extra = set(actor.dist_in_keys) - {"mask"}
            if extra:
                raise TypeError(f"TensorPolicy: {name} reads distribution inputs {sorted(extra)}; only 'mask' exports")
            self.masked = "mask" in actor.dist_in_keys
            if issubclass(cls, MultiCategorical):
                self.kind, params = "multi", "logits"
                self.nvec = [int(n) for n in kwargs["nvec"]]
                self.starts = _start_list(kwargs.get("start"), len(self.nvec))
            elif issubclass(cls, Categorical):
                self.kind, params = "categorical", "logits"
                self.starts = _start_list(kwargs.get("start"), 1)
            elif issubclass(cls, DiagGaussian):
                self.kind, params = "gaussian", "loc"
                self.tanh = bool(kwargs.get("tanh", False))
            else:
                raise TypeError(
                    f"TensorPolicy: cannot export distribution {cls.__name__}; supported: Categorical, "
                    "MaskedCategorical, MultiCategorical, DiagGaussian"
                )
        else:
            raise TypeError(f"TensorPolicy: cannot export {name}; supported: ProbabilisticActor, QValueActor")
        self.network = _plain_tanh(copy.deepcopy(network))
        self.observation_transform = copy.deepcopy(observation_transform)
        self.observation_shape = infer_observation_shape(actor)
        self.input_names: tuple[str, ...] = ("observation", "action_mask") if self.masked else ("observation",)
        self.output_names: tuple[str, ...] = ("action", params)
        ends = np.cumsum(self.nvec).tolist()
        self._bounds = list(zip([0, *ends[:-1]], ends))  # each head's slice of the logits

    def _argmax(self, logits: torch.Tensor, mask: torch.Tensor | None, start: int, log_softmax: bool) -> torch.Tensor:
        scores = logits if mask is None else logits.masked_fill(~mask, float("-inf"))
        index = (scores.log_softmax(-1) if log_softmax else scores).argmax(-1)
        return index + start if start else index

    def forward(
        self, observation: torch.Tensor, action_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(action, params)`` for ``observation`` ``[B, *obs_shape]`` (and ``action_mask`` ``[B, n]`` bool)."""
        if self.masked and action_mask is None:
            raise ValueError("TensorPolicy: this policy is masked; pass action_mask [B, n] bool")
        if self.observation_transform is not None:
            observation = self.observation_transform(observation)
        out = self.network(observation)
        params = out if isinstance(out, torch.Tensor) else out[0]
        mask = action_mask if self.masked else None
        if self.kind == "gaussian":
            # a copy: one tensor as two outputs gets one name from torch 2.5/2.6's ONNX exporter
            return (torch.tanh(params) if self.tanh else params.clone()), params
        if self.kind == "q":
            return self._argmax(params, mask, 0, log_softmax=False), params
        if self.kind == "categorical":
            return self._argmax(params, mask, self.starts[0], log_softmax=True), params
        # slices, not split(): the exported SplitToSequence has no kernel in onnxruntime 1.20
        heads = [params[..., a:b] for a, b in self._bounds]
        masks = [mask[..., a:b] for a, b in self._bounds] if mask is not None else [None] * len(heads)
        actions = [self._argmax(h, m, s, log_softmax=True) for h, m, s in zip(heads, masks, self.starts)]
        return torch.stack(actions, dim=-1), params

    def example_inputs(self, example: Example = None, batch_size: int = 2) -> tuple[torch.Tensor, ...]:
        """Inputs to trace with: ``batch_size`` observations (and all-true masks).

        Args:
            example: the observation space (a ``Box``), one observation's shape, an observation
                ``[*obs_shape]`` or a batch ``[B, *obs_shape]``; ``None`` infers ``(obs_dim,)`` from the network.
            batch_size: rows of the example batch (>= 2, so the batch dim stays symbolic).

        Raises:
            ValueError: no example and no shape to infer, or a space that is not a ``Box``.
        """
        param = next(self.network.parameters(), None)
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        device = param.device if param is not None else torch.device("cpu")
        if isinstance(example, (torch.Tensor, np.ndarray)):
            obs = torch.as_tensor(example, dtype=dtype, device=device)
            shape = self.observation_shape or tuple(obs.shape[-1:])
            obs = obs.reshape(-1, *shape)
            obs = obs.repeat(-(-batch_size // obs.shape[0]), *([1] * len(shape)))[:batch_size]
        else:
            if isinstance(example, gym.Space):
                if not isinstance(example, gym.spaces.Box):
                    raise ValueError(f"export: the observation space must be a Box, got {example}")
                shape = tuple(int(n) for n in example.shape)
            elif example is not None:
                shape = tuple(int(n) for n in example)
            elif self.observation_shape is not None:
                shape = self.observation_shape
            else:
                raise ValueError("export: cannot infer the observation shape; pass the observation space or an example")
            obs = torch.randn(batch_size, *shape, dtype=dtype, device=device)
        if self.observation_shape is not None and tuple(obs.shape[1:]) != self.observation_shape:
            raise ValueError(
                f"export: the example observation has shape {tuple(obs.shape[1:])}, expected {self.observation_shape}"
            )
        if not self.masked:
            return (obs,)
        with torch.no_grad():
            transformed = obs if self.observation_transform is None else self.observation_transform(obs)
            out = self.network(transformed)
        n = (out if isinstance(out, torch.Tensor) else out[0]).shape[-1]
        return obs, torch.ones(batch_size, n, dtype=torch.bool, device=device)


def _export(policy: TensorPolicy, example: Example) -> torch.export.ExportedProgram:
    policy.eval()
    args = policy.example_inputs(example)
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad():
        return torch.export.export(policy, args, dynamic_shapes=tuple({0: batch} for _ in args))


def export_program(
    actor: Any,
    path: str | Path | None = None,
    example: Example = None,
    *,
    observation_transform: nn.Module | None = None,
) -> torch.export.ExportedProgram:
    """Exports ``actor``'s deterministic policy (:class:`TensorPolicy`) with ``torch.export``.

    The program's inputs are ``observation`` ``[B, *obs_shape]`` (float32) and, for a masked actor,
    ``action_mask`` ``[B, n]`` (bool), with a dynamic batch ``B >= 1``; it returns
    ``(action, params)`` as :class:`TensorPolicy`. It holds only ATen operations: it loads and runs
    with torch alone, rl4py not installed::

        program = torch.export.load("policy.pt2").module()
        action, logits = program(torch.as_tensor(obs[None]))

    Args:
        actor: the actor (see :class:`TensorPolicy`).
        path: where to save it (``torch.export.save``; ``.pt2`` by convention), or ``None`` to only return it.
        example: the observation space, shape, an observation or a batch (``None``: inferred).
        observation_transform: a module applied to the observation first.

    Returns:
        The :class:`~torch.export.ExportedProgram`.

    Examples:
        >>> import gymnasium as gym
        >>> from rl4py.modules import make_actor_critic
        >>> space = gym.spaces.Box(-1, 1, (3,))
        >>> actor, _ = make_actor_critic(space, gym.spaces.Box(-1, 1, (2,)), tanh_squash=True)
        >>> program = export_program(actor, None, space)
        >>> action, loc = program.module()(torch.zeros(4, 3))
        >>> action.shape, bool((action == loc.tanh()).all())
        (torch.Size([4, 2]), True)
    """
    program = _export(TensorPolicy(actor, observation_transform), example)
    if path is not None:
        torch.export.save(program, str(path))
    return program


def export_onnx(
    actor: Any,
    path: str | Path,
    example: Example = None,
    *,
    observation_transform: nn.Module | None = None,
) -> Path:
    """Writes ``actor``'s deterministic policy (:class:`TensorPolicy`) as an ONNX model.

    Inputs ``"observation"`` ``[B, *obs_shape]`` float32 and, for a masked actor, ``"action_mask"``
    ``[B, n]`` bool; outputs ``"action"`` and ``"logits"`` / ``"loc"`` / ``"action_value"``
    (:attr:`TensorPolicy.output_names`); ``B`` is dynamic. Needs ``onnx`` and ``onnxscript`` (torch's
    exporter); run it with onnxruntime::

        session = onnxruntime.InferenceSession("policy.onnx")
        action, logits = session.run(None, {"observation": obs[None].astype(np.float32)})

    Args:
        actor: the actor (see :class:`TensorPolicy`).
        path: the ``.onnx`` file to write.
        example: the observation space, shape, an observation or a batch (``None``: inferred).
        observation_transform: a module applied to the observation first.

    Returns:
        ``path``.

    Raises:
        ImportError: onnx or onnxscript is missing (``pip install 'rl4py[export]'``).

    Examples:
        >>> import tempfile, pathlib, onnxruntime
        >>> from rl4py.modules import make_q_network
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "q.onnx"
        >>> _ = export_onnx(make_q_network(4, 2), path, (4,))
        >>> session = onnxruntime.InferenceSession(str(path))
        >>> [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
        (['observation'], ['action', 'action_value'])
    """
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError as error:
            raise ImportError(
                f"export_onnx: needs {module} (torch's ONNX exporter); pip install 'rl4py[export]'"
            ) from error
    policy = TensorPolicy(actor, observation_transform)
    program = _export(policy, example)
    path = Path(path)
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping torchvision::nms", x4
    try:
        # onnxscript 0.6.0 prints "Applied N of general pattern rewrite rules." while it optimizes
        with contextlib.redirect_stdout(io.StringIO()):
            onnx_program = torch.onnx.export(
                program, (), input_names=list(policy.input_names), output_names=list(policy.output_names), verbose=False
            )
    finally:
        registration.setLevel(level)
    onnx_program.save(str(path))
    return path
