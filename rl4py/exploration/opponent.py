"""An opponent model (a frozen Beta-VAE encoder and a strategy classifier on its embedding), the
wrapper that feeds its embedding to a policy and the entropy-reduction scouting reward (ROA-Star)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.envs.base import EnvBase, EnvStep, NestedKey
from rl4py.envs.hidden_opponent import OPPONENT
from rl4py.envs.wrappers import EnvWrapper
from rl4py.modules.vae import BetaVAE

__all__ = ["EntropyReduction", "OpponentContext", "OpponentModel"]


class OpponentModel(nn.Module):
    """A Beta-VAE over opponent features and a linear classifier over its strategy embedding.

    The VAE is fitted unsupervised on opponent features (:meth:`fit_vae`), then frozen; its posterior
    mean (:meth:`~rl4py.modules.BetaVAE.strategy_embedding`) is the strategy embedding a policy is
    conditioned on (:class:`OpponentContext`). The head, a linear layer over the embedding, is fitted
    on labelled strategies (:meth:`fit_head`: cross-entropy, the embedding frozen) and predicts which
    of ``num_strategies`` strategies the opponent plays. Its prediction entropy (:meth:`entropy`) is
    how unsure the model still is: :class:`EntropyReduction` rewards the steps that lower it. (The
    VAE's own posterior variance is not used as the uncertainty: it measures how well a feature vector
    is encoded, not which strategy is being played.)

    Args:
        vae: the Beta-VAE over opponent features ``[*B, F]``.
        num_strategies: number of strategies the head tells apart (>= 2).

    Examples:
        >>> from rl4py.modules import BetaVAE
        >>> model = OpponentModel(BetaVAE(input_dim=3, latent_dim=2, hidden=(16,)), num_strategies=3)
        >>> x = torch.rand(5, 3)
        >>> model.embedding(x).shape, model.strategy_logits(x).shape, model.entropy(x).shape
        (torch.Size([5, 2]), torch.Size([5, 3]), torch.Size([5]))
    """

    def __init__(self, vae: BetaVAE, num_strategies: int) -> None:
        super().__init__()
        if not isinstance(vae, BetaVAE):
            raise TypeError(f"OpponentModel: vae must be a BetaVAE, got {type(vae).__name__}")
        if num_strategies < 2:
            raise ValueError(f"OpponentModel: num_strategies must be >= 2, got {num_strategies}")
        self.vae = vae
        self.num_strategies = int(num_strategies)
        self.head = nn.Linear(vae.latent_dim, num_strategies)

    @property
    def embedding_dim(self) -> int:
        """Size of the strategy embedding (the VAE's latent size)."""
        return self.vae.latent_dim

    def embedding(self, features: torch.Tensor) -> torch.Tensor:
        """The strategy embedding ``[*B, latent_dim]`` of features ``[*B, F]`` (no gradient)."""
        with torch.no_grad():
            return self.vae.strategy_embedding(features)

    def strategy_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The head's logits ``[*B, num_strategies]`` (gradient through the head only)."""
        return self.head(self.embedding(features))

    def entropy(self, features: torch.Tensor) -> torch.Tensor:
        """The entropy in nats ``[*B]`` of the predicted strategy distribution (no gradient)."""
        with torch.no_grad():
            return torch.distributions.Categorical(logits=self.strategy_logits(features)).entropy()

    def fit_vae(
        self, features: torch.Tensor, epochs: int = 200, batch_size: int = 256, lr: float = 1e-3, seed: int = 0
    ) -> list[float]:
        """Fits the VAE on features ``[N, F]`` (Adam, shuffled minibatches, latent noise from ``seed``),
        then freezes it. Returns the mean loss of each epoch."""
        return _fit(self.vae, lambda x, gen: _vae_loss(self.vae, x, gen), (features,), epochs, batch_size, lr, seed)

    def fit_head(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        epochs: int = 200,
        batch_size: int = 256,
        lr: float = 1e-2,
        seed: int = 0,
    ) -> list[float]:
        """Fits the head on features ``[N, F]`` and strategies ``labels [N]`` (int64 in ``[0, K)``), the
        VAE frozen; then freezes the head. Returns the mean cross-entropy of each epoch."""
        if labels.shape != features.shape[:1] or labels.is_floating_point():
            raise ValueError(
                f"OpponentModel.fit_head: labels must be integers [{features.shape[0]}], got {tuple(labels.shape)} "
                f"{labels.dtype}"
            )
        if labels.numel() and not (int(labels.min()) >= 0 and int(labels.max()) < self.num_strategies):
            raise ValueError(f"OpponentModel.fit_head: labels must lie in [0, {self.num_strategies})")

        def loss(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
            return nn.functional.cross_entropy(self.strategy_logits(x), y)

        return _fit(self.head, loss, (features, labels), epochs, batch_size, lr, seed)


def _vae_loss(vae: BetaVAE, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    losses = vae.loss(x, vae(x, generator=generator))
    return losses["loss_reconstruction"] + losses["loss_kl"]


def _fit(module: nn.Module, loss_fn, tensors: tuple, epochs: int, batch_size: int, lr: float, seed: int) -> list:
    """Adam on ``module``'s parameters over shuffled minibatches of ``tensors``; freezes ``module`` after."""
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(f"OpponentModel: epochs, batch_size and lr must be > 0, got {epochs}, {batch_size}, {lr}")
    n = tensors[0].shape[0]
    if n < 1:
        raise ValueError("OpponentModel: no data to fit on")
    module.requires_grad_(True)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    history = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            loss = loss_fn(*(t[index.to(t.device)] for t in tensors), gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * index.numel()
        history.append(total / n)
    module.requires_grad_(False)
    return history


class EntropyReduction(nn.Module):
    """ROA-Star's scouting reward: ``max(H_prev - H_current, 0)``, the drop of the opponent model's
    prediction entropy over a transition.

    ``H_current`` is :meth:`OpponentModel.entropy` of the next state's opponent features
    (``("next", key)``) and ``H_prev`` that of the transition's own state (``key``), so each sub-env
    compares with its own previous step, and at an episode's first step ``H_prev`` is the entropy at the
    reset observation (it resets with the episode). A step that reveals nothing, or that makes the model
    less sure, pays 0. The model is frozen: :meth:`update` learns nothing.

    Args:
        model: the opponent model (any module with ``entropy(features) -> [*B]``).
        key: the opponent-feature entry.

    Examples:
        >>> from tensordict import TensorDict
        >>> from rl4py.modules import BetaVAE
        >>> model = OpponentModel(BetaVAE(input_dim=2, latent_dim=2, hidden=(8,)), num_strategies=2)
        >>> x = torch.rand(4, 2)
        >>> td = TensorDict({"opponent": x, "next": {"opponent": x}}, [4])
        >>> EntropyReduction(model)(td).squeeze(-1)   # nothing changed: nothing learned
        tensor([0., 0., 0., 0.])
    """

    update_first = True

    def __init__(self, model: nn.Module, key: NestedKey = OPPONENT) -> None:
        super().__init__()
        if not callable(getattr(model, "entropy", None)):
            raise TypeError(f"EntropyReduction: model must have entropy(features), got {type(model).__name__}")
        self.model = model
        self.key = key

    def forward(self, td: TensorDictBase) -> torch.Tensor:
        """``max(H(key) - H(("next", key)), 0)`` ``[*B, 1]``."""
        h_prev = self.model.entropy(td.get(self.key))
        h_current = self.model.entropy(td.get(keys.next_key(self.key)))
        return (h_prev - h_current).clamp(min=0.0).to(torch.float32).unsqueeze(-1)

    def update(self, td: TensorDictBase) -> dict[str, float]:
        """Nothing to learn (the model is frozen)."""
        return {}


class OpponentContext(EnvWrapper):
    """Appends the opponent model's strategy embedding of the ``key`` features to ``"observation"``.

    The policy then reads ``[own observation, embedding]``, ``[B, D + latent_dim]``, at the reset, at
    every next observation and at every root. The model should be fitted and frozen before.

    Args:
        env: the wrapped env (flat ``Box`` ``"observation"`` and an opponent-feature entry ``key``).
        model: the opponent model (``embedding(features)`` and ``embedding_dim``).
        key: the opponent-feature entry.

    Examples:
        >>> from rl4py.envs import HiddenOpponent
        >>> from rl4py.modules import BetaVAE
        >>> model = OpponentModel(BetaVAE(input_dim=3, latent_dim=2, hidden=(8,)), num_strategies=3)
        >>> env = OpponentContext(HiddenOpponent(num_envs=4), model)
        >>> env.reset(seed=0)["observation"].shape, env.single_observation_space.shape
        (torch.Size([4, 3]), (3,))
    """

    def __init__(self, env: EnvBase, model: OpponentModel, key: NestedKey = OPPONENT) -> None:
        super().__init__(env)
        space = env.single_observation_space
        if not isinstance(space, gym.spaces.Box) or space.shape is None or len(space.shape) != 1:
            raise ValueError(f"OpponentContext: needs a flat Box observation, got {space}")
        if key not in env.observation_keys:
            raise ValueError(
                f"OpponentContext: the env returns no {key!r}; its observation keys are {env.observation_keys}"
            )
        self.model = model.to(self.device)
        self.key = key
        size = space.shape[0] + model.embedding_dim
        low = np.concatenate([space.low, np.full(model.embedding_dim, -np.inf, np.float32)])
        high = np.concatenate([space.high, np.full(model.embedding_dim, np.inf, np.float32)])
        self.single_observation_space = gym.spaces.Box(low, high, (size,), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)

    def _context(self, entries: dict[NestedKey, torch.Tensor]) -> dict[NestedKey, torch.Tensor]:
        embedding = self.model.embedding(entries[self.key].to(torch.float32))
        return {**entries, keys.OBSERVATION: torch.cat([entries[keys.OBSERVATION], embedding], dim=-1)}

    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        return self._context(self.env.reset_tensors(seed))

    def _step(self, action: torch.Tensor) -> EnvStep:
        out = self.env.step_tensors(action)
        next_entries = self._context(out.next)
        out.next.clear()
        out.next.update(next_entries)
        return EnvStep(next=out.next, root=self._context(out.root))
