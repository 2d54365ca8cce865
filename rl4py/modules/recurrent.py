"""Recurrent cores with one interface: LSTM and GRU over torch's own kernels, and a block-diagonal GRU.

A core maps an input ``[B, input_size]`` and a state (a tuple of tensors, see
:attr:`RecurrentCore.state_names`) to an output ``[B, output_size]`` and the next state. Two calls:

- :meth:`RecurrentCore.step` advances one time step (the collector's call);
- :meth:`RecurrentCore.sequence` runs ``[B, T, input_size]`` from an initial state (the loss's call,
  for back-propagation through time).

Both reset the state to :meth:`RecurrentCore.initial_state` (zeros) where ``is_init`` is true, before
the step that reads the first observation of an episode, so one sequence may span several episodes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GRUCore", "LSTMCore", "BlockGRU", "RecurrentCore", "make_core"]

State = tuple[torch.Tensor, ...]


def _check_sizes(name: str, **sizes: int) -> None:
    for arg, value in sizes.items():
        if int(value) < 1:
            raise ValueError(f"{name}: {arg} must be >= 1, got {value}")


def _mask_like(is_init: torch.Tensor, tensor: torch.Tensor) -> torch.Tensor:
    """``is_init`` ``[B, 1]`` viewed so that it broadcasts over ``tensor`` ``[B, ...]``."""
    return is_init.reshape(is_init.shape[0], *([1] * (tensor.dim() - 1)))


class RecurrentCore(nn.Module, ABC):
    """The interface shared by every recurrent core.

    The state is a tuple of tensors with a leading batch dim, named by :attr:`state_names`
    (``("h", "c")`` for an LSTM, ``("h",)`` for a GRU). The initial state is zeros, so resetting
    is a ``masked_fill``. Subclasses implement :meth:`_step` (one step without reset) and
    :meth:`initial_state`; :meth:`sequence` loops over :meth:`_step` unless a subclass has a faster path.

    Attributes:
        input_size: size of the input features.
        output_size: size of the output features.
        state_names: names of the state tensors, in the order of the state tuple.
    """

    input_size: int
    output_size: int
    state_names: tuple[str, ...]

    @abstractmethod
    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """The state at the start of an episode (zeros).

        Args:
            batch_size: B.
            device: device of the state (default: the parameters').

        Returns:
            One tensor per name in :attr:`state_names`, each ``[B, ...]``.
        """

    @abstractmethod
    def _step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One step without reset: ``x`` ``[B, input_size]`` -> ``(y [B, output_size], new_state)``."""

    def reset_state(self, state: State, is_init: torch.Tensor | None) -> State:
        """Replaces the state by the initial one (zeros) where ``is_init``.

        Args:
            state: the current state, each tensor ``[B, ...]``.
            is_init: ``[B, 1]`` bool, or ``None`` (no reset).

        Returns:
            The state after the reset (new tensors where a reset can occur).
        """
        if is_init is None:
            return state
        return tuple(s.masked_fill(_mask_like(is_init, s), 0.0) for s in state)

    def step(self, x: torch.Tensor, state: State, is_init: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """Advances one time step.

        Args:
            x: input ``[B, input_size]``.
            state: the state before the step (see :attr:`state_names`).
            is_init: ``[B, 1]`` bool: true where ``x`` is the first input of an episode, so the
                state is reset to the initial one before the step; ``None`` for no reset.

        Returns:
            ``(y, new_state)`` with ``y`` ``[B, output_size]``.
        """
        return self._step(x, self.reset_state(state, is_init))

    def sequence(
        self,
        x: torch.Tensor,
        state0: State,
        is_init: torch.Tensor | None = None,
        *,
        fused: bool | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Runs a sequence, resetting the state at every ``is_init`` step inside it.

        Equal to calling :meth:`step` for ``t = 0 .. T-1`` (the tests check it).

        Args:
            x: input ``[B, T, input_size]``.
            state0: the state before step 0.
            is_init: ``[B, T, 1]`` bool (``is_init[:, 0]`` resets ``state0``), or ``None``.
            fused: ``True`` runs torch's fused sequence kernel between resets, ``False`` loops over
                steps in Python, ``None`` picks (cores without a fused kernel always loop).

        Returns:
            ``(y, final_state)`` with ``y`` ``[B, T, output_size]``.
        """
        self._check_sequence(x, is_init)
        state = state0
        outputs = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state, None if is_init is None else is_init[:, t])
            outputs.append(y)
        return torch.stack(outputs, 1), state

    def _check_sequence(self, x: torch.Tensor, is_init: torch.Tensor | None) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}.sequence: x must be [B, T, {self.input_size}], got {tuple(x.shape)}"
            )
        if is_init is not None and tuple(is_init.shape) != (x.shape[0], x.shape[1], 1):
            raise ValueError(
                f"{type(self).__name__}.sequence: is_init must be [B, T, 1] = {(x.shape[0], x.shape[1], 1)}, "
                f"got {tuple(is_init.shape)}"
            )


class _TorchRNNCore(RecurrentCore):
    """Shared code of :class:`LSTMCore` and :class:`GRUCore`: an ``nn.LSTM``/``nn.GRU`` holds the weights.

    :meth:`step` calls torch's cell kernel (the one ``nn.LSTMCell``/``nn.GRUCell`` run) on each
    layer's weights; :meth:`sequence` calls the ``nn.LSTM``/``nn.GRU`` module itself (cuDNN on GPU,
    ATen's fused loop on CPU) on every stretch of time steps between resets.
    """

    rnn: nn.RNNBase
    #: the fused kernel runs when the stretches between resets average at least this many steps
    #: (measured on 2 CPU cores, forward + backward, B = 8..32, T = 32: 1 ms fused vs 12 ms looped
    #: without reset, 2.4 vs 12 ms with 5 stretches; the loop wins from about T / 2 stretches on).
    min_fused_segment: int = 2

    def __init__(self, rnn: nn.RNNBase, state_names: tuple[str, ...]) -> None:
        super().__init__()
        self.rnn = rnn
        self.input_size = rnn.input_size
        self.output_size = rnn.hidden_size
        self.hidden_size = rnn.hidden_size
        self.num_layers = rnn.num_layers
        self.state_names = state_names

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zeros, each ``[B, num_layers, hidden_size]`` (TorchRL's layout of a recurrent state)."""
        weight = self.rnn.weight_hh_l0
        device = weight.device if device is None else device
        shape = (batch_size, self.num_layers, self.hidden_size)
        return tuple(torch.zeros(shape, dtype=weight.dtype, device=device) for _ in self.state_names)

    def _weights(self, layer: int) -> tuple[torch.Tensor, ...]:
        rnn = self.rnn
        return (
            getattr(rnn, f"weight_ih_l{layer}"),
            getattr(rnn, f"weight_hh_l{layer}"),
            getattr(rnn, f"bias_ih_l{layer}"),
            getattr(rnn, f"bias_hh_l{layer}"),
        )

    def sequence(
        self,
        x: torch.Tensor,
        state0: State,
        is_init: torch.Tensor | None = None,
        *,
        fused: bool | None = None,
    ) -> tuple[torch.Tensor, State]:
        self._check_sequence(x, is_init)
        t_len = x.shape[1]
        state0 = self.reset_state(state0, None if is_init is None else is_init[:, 0])
        starts = [0]
        if is_init is not None and t_len > 1:
            # the time steps where some sequence of the batch resets (one host sync)
            starts += (is_init[:, 1:, 0].any(0).nonzero().squeeze(-1) + 1).tolist()
        if fused is None:
            fused = len(starts) * self.min_fused_segment <= t_len
        if not fused:
            return super().sequence(x, state0, None if len(starts) == 1 else is_init)
        # [B, L, H] -> the [L, B, H] layout of nn.LSTM / nn.GRU
        state = tuple(s.transpose(0, 1).contiguous() for s in state0)
        outputs = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else t_len
            if start > 0:
                mask = is_init[:, start, 0].view(1, -1, 1)
                state = tuple(s.masked_fill(mask, 0.0) for s in state)
            y, state = self._run_rnn(x[:, start:end], state)
            outputs.append(y)
        y = outputs[0] if len(outputs) == 1 else torch.cat(outputs, 1)
        return y, tuple(s.transpose(0, 1) for s in state)

    @abstractmethod
    def _run_rnn(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Calls the torch module on ``x`` ``[B, t, in]`` from ``state`` in ``[L, B, H]`` layout."""


class LSTMCore(_TorchRNNCore):
    """An LSTM core over ``nn.LSTM`` (weights) and torch's LSTM cell kernel (single steps).

    State ``(h, c)``, each ``[B, num_layers, hidden_size]``; output: the last layer's ``h``.

    Args:
        input_size: size of the input features.
        hidden_size: size of the hidden and cell states (and of the output).
        num_layers: stacked LSTM layers.

    Examples:
        >>> import torch
        >>> core = LSTMCore(3, 8)
        >>> state = core.initial_state(4)
        >>> y, state = core.step(torch.zeros(4, 3), state, is_init=torch.ones(4, 1, dtype=torch.bool))
        >>> y.shape, state[0].shape
        (torch.Size([4, 8]), torch.Size([4, 1, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        _check_sizes("LSTMCore", input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        super().__init__(nn.LSTM(input_size, hidden_size, num_layers, batch_first=True), ("h", "c"))

    def _step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        h, c = state
        hs, cs = [], []
        for layer in range(self.num_layers):
            h_l, c_l = torch.lstm_cell(x, (h[:, layer], c[:, layer]), *self._weights(layer))
            hs.append(h_l)
            cs.append(c_l)
            x = h_l
        return x, (torch.stack(hs, 1), torch.stack(cs, 1))

    def _run_rnn(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        y, (h, c) = self.rnn(x, state)
        return y, (h, c)


class GRUCore(_TorchRNNCore):
    """A GRU core over ``nn.GRU`` (weights) and torch's GRU cell kernel (single steps).

    State ``(h,)``, ``[B, num_layers, hidden_size]``; output: the last layer's ``h``. The gates follow
    torch's convention (the reset gate multiplies ``W_hn h + b_hn``).

    Args:
        input_size: size of the input features.
        hidden_size: size of the hidden state (and of the output).
        num_layers: stacked GRU layers.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        _check_sizes("GRUCore", input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        super().__init__(nn.GRU(input_size, hidden_size, num_layers, batch_first=True), ("h",))

    def _step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        (h,) = state
        hs = []
        for layer in range(self.num_layers):
            x = torch.gru_cell(x, h[:, layer], *self._weights(layer))
            hs.append(x)
        return x, (torch.stack(hs, 1),)

    def _run_rnn(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        y, h = self.rnn(x, state[0])
        return y, (h,)


class BlockGRU(RecurrentCore):
    """A GRU whose recurrent weights are block-diagonal (DreamerV3's sequence model).

    The hidden state is split into ``n_blocks`` equal parts; each part's gates read the whole input
    but only its own part of the previous state, so the recurrent weights ``W_hh`` hold
    ``3 * hidden_size**2 / n_blocks`` numbers instead of ``3 * hidden_size**2`` (DreamerV3: 8 blocks of a
    4096 state, 16.8M -> 2.1M per gate set). The input weights stay dense. The gate equations are
    ``nn.GRUCell``'s::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    so with ``n_blocks=1`` and ``nn.GRUCell``'s weights (``weight_hh[0] = cell.weight_hh``) it computes
    the same numbers. State ``(h,)``, ``[B, hidden_size]``; output ``h``.

    Args:
        input_size: size of the input features.
        hidden_size: size of the hidden state; divisible by ``n_blocks``.
        n_blocks: number of diagonal blocks.

    Examples:
        >>> BlockGRU(16, 64, n_blocks=8).weight_hh.numel()  # 3 * 64 * 64 / 8
        1536
    """

    def __init__(self, input_size: int, hidden_size: int, n_blocks: int = 1) -> None:
        _check_sizes("BlockGRU", input_size=input_size, hidden_size=hidden_size, n_blocks=n_blocks)
        if hidden_size % n_blocks:
            raise ValueError(f"BlockGRU: hidden_size {hidden_size} is not divisible by n_blocks {n_blocks}")
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.n_blocks = n_blocks
        self.block_size = hidden_size // n_blocks
        self.state_names = ("h",)
        #: rows ordered (r, z, n), as ``nn.GRUCell.weight_ih``
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        #: ``[n_blocks, 3 * block_size, block_size]``: block ``k`` maps state part ``k`` to the rows
        #: (r, z, n) of part ``k``
        self.weight_hh = nn.Parameter(torch.empty(n_blocks, 3 * self.block_size, self.block_size))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.GRUCell``'s initialization: every parameter uniform in ``[-1/sqrt(H), 1/sqrt(H)]``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zeros ``[B, hidden_size]``."""
        device = self.weight_hh.device if device is None else device
        return (torch.zeros(batch_size, self.hidden_size, dtype=self.weight_hh.dtype, device=device),)

    def recurrent_gates(self, h: torch.Tensor) -> torch.Tensor:
        """``W_hh h + b_hh`` with the block-diagonal ``W_hh``: ``[B, H]`` -> ``[B, 3 H]`` ordered (r, z, n)."""
        b, g, k = h.shape[0], self.n_blocks, self.block_size
        # [g, B, k] @ [g, k, 3k] -> [g, B, 3k]: one batched matmul over the blocks
        out = torch.bmm(h.view(b, g, k).transpose(0, 1), self.weight_hh.transpose(1, 2))
        # [g, B, (gate, k)] -> [B, (gate, g, k)]: the gate-major layout of the input projection
        out = out.view(g, b, 3, k).permute(1, 2, 0, 3).reshape(b, 3 * self.hidden_size)
        return out + self.bias_hh

    def _cell(self, gi: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The update from the input gates ``gi = W_ih x + b_ih`` ``[B, 3H]`` and the state ``h`` ``[B, H]``."""
        gh = self.recurrent_gates(h)
        i_r, i_z, i_n = gi.chunk(3, -1)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return n + z * (h - n)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step without reset, as ``nn.GRUCell``: ``x`` ``[B, in]``, ``h`` ``[B, H]`` -> ``h'`` ``[B, H]``."""
        return self._cell(F.linear(x, self.weight_ih, self.bias_ih), h)

    def _step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        h = self.forward(x, state[0])
        return h, (h,)

    def sequence(
        self,
        x: torch.Tensor,
        state0: State,
        is_init: torch.Tensor | None = None,
        *,
        fused: bool | None = None,
    ) -> tuple[torch.Tensor, State]:
        # no fused kernel: the input projection runs once for all steps, the recurrence loops
        self._check_sequence(x, is_init)
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        (h,) = state0
        outputs = []
        for t in range(x.shape[1]):
            if is_init is not None:
                h = h.masked_fill(is_init[:, t], 0.0)
            h = self._cell(gi[:, t], h)
            outputs.append(h)
        return torch.stack(outputs, 1), (h,)


def make_core(kind: str, input_size: int, hidden_size: int, num_layers: int = 1, n_blocks: int = 1) -> RecurrentCore:
    """Builds a core by name.

    Args:
        kind: ``"lstm"``, ``"gru"`` or ``"block_gru"``.
        input_size: size of the input features.
        hidden_size: size of the state and of the output.
        num_layers: stacked layers (``"lstm"``, ``"gru"``).
        n_blocks: diagonal blocks (``"block_gru"``).

    Returns:
        The core.
    """
    if kind == "lstm":
        return LSTMCore(input_size, hidden_size, num_layers)
    if kind == "gru":
        return GRUCore(input_size, hidden_size, num_layers)
    if kind == "block_gru":
        if num_layers != 1:
            raise ValueError(f"make_core: block_gru has one layer, got num_layers={num_layers}")
        return BlockGRU(input_size, hidden_size, n_blocks)
    raise ValueError(f"make_core: kind must be 'lstm', 'gru' or 'block_gru', got {kind!r}")
