"""DreamerV3 / R2-Dreamer losses: the world model (with swappable representation losses), the actor and the critic."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.losses.common import LossModule
from rl4py.modules.rssm import RSSM, RSSMState
from rl4py.modules.twohot import TwoHot, symlog

__all__ = [
    "BarlowTwinsLoss",
    "DecoderLoss",
    "DreamerActorLoss",
    "DreamerValueLoss",
    "DreamerProLoss",
    "DreamerWorldModelLoss",
    "InfoNCELoss",
    "RepresentationLoss",
]

_IMAGINATION = "rl4py.planning.Imagination (an imagined rollout with its lambda-returns)"


def _flat_pairs(owner: str, features: torch.Tensor, embed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if features.shape[:-1] != embed.shape[:-1]:
        raise ValueError(
            f"{owner}: features {tuple(features.shape)} and embed {tuple(embed.shape)} must share their batch dims"
        )
    x1, x2 = features.reshape(-1, features.shape[-1]), embed.reshape(-1, embed.shape[-1])
    if x1.shape[0] < 2:
        raise ValueError(f"{owner}: needs at least 2 samples (batch x time), got {x1.shape[0]}")
    return x1, x2


class RepresentationLoss(LossModule, ABC):
    """What trains the encoder beside the KL terms: ``forward(features, embed, observation) -> TensorDict``.

    ``features`` ``[B, T, F]`` are the posterior features of the next observations, ``embed`` ``[B, T, E]``
    their encoder embeddings and ``observation`` ``[B, T, ...]`` the observations themselves. Returns
    weighted ``loss_*`` terms and diagnostics, as every :class:`~rl4py.losses.LossModule`. Subclasses:
    :class:`DecoderLoss` (DreamerV3), :class:`BarlowTwinsLoss` (R2-Dreamer), :class:`InfoNCELoss`,
    :class:`DreamerProLoss` (DreamerPro).
    """

    @abstractmethod
    def forward(self, features: torch.Tensor, embed: torch.Tensor, observation: torch.Tensor) -> TensorDict:
        """The weighted ``loss_*`` terms and diagnostics (scalars)."""


class DecoderLoss(RepresentationLoss):
    """DreamerV3's reconstruction: a decoder from the features back to the observation.

    Vectors (floating point ``[B, T, D]``): squared error against ``symlog(observation)`` (``symlog=True``)
    summed over ``D``. Images (uint8 ``[B, T, C, H, W]``): squared error against ``observation / 255``
    summed over the pixels (build the :class:`~rl4py.modules.ConvDecoder` with
    ``output_activation=nn.Sigmoid``). The term is the mean over batch and time times ``coeff``.

    Args:
        decoder: ``[*B, F]`` features -> ``[*B, *observation_shape]``.
        coeff: loss weight (DreamerV3: 1).
        symlog: symlog the vector targets (DreamerV3's ``symlog_mse``).
    """

    def __init__(self, decoder: nn.Module, coeff: float = 1.0, symlog: bool = True) -> None:
        super().__init__()
        if coeff < 0:
            raise ValueError(f"DecoderLoss: coeff must be >= 0, got {coeff}")
        self.decoder = decoder
        self.coeff = float(coeff)
        self.symlog = symlog

    def forward(self, features: torch.Tensor, embed: torch.Tensor, observation: torch.Tensor) -> TensorDict:
        recon = self.decoder(features)
        if observation.dtype == torch.uint8:
            target = observation.to(recon.dtype) / 255.0
        elif observation.is_floating_point():
            target = symlog(observation) if self.symlog else observation
        else:
            raise TypeError(f"DecoderLoss: observation must be uint8 images or floating point, got {observation.dtype}")
        if recon.shape != target.shape:
            raise ValueError(
                f"DecoderLoss: the decoder returned {tuple(recon.shape)} for observations {tuple(target.shape)}"
            )
        error = (recon - target.detach()).square()
        batch_dims = features.dim() - 1
        per_sample = error.flatten(batch_dims).sum(-1)
        return TensorDict(
            {
                "loss_reconstruction": self.coeff * per_sample.mean(),
                "reconstruction_mse": error.detach().mean(),
            },
            batch_size=[],
        )


class BarlowTwinsLoss(RepresentationLoss):
    """R2-Dreamer's redundancy reduction between projected features and the detached embedding.

    With ``z1 = projector(features)`` and ``z2 = sg(embed)``, each standardized over the ``N = B * T``
    samples, and the cross-correlation ``c = z1^T z2 / N`` (``E x E``)::

        loss_barlow = coeff * (sum_i (1 - c_ii)^2 + off_diagonal_coeff * sum_{i != j} c_ij^2)

    The embedding is detached (the encoder learns through the posterior and the KL terms only); the
    projector is a linear layer ``F -> E`` unless one is given.

    Args:
        feature_size: ``F`` (the RSSM's ``feature_size``).
        embed_size: ``E`` (the encoder's output size).
        off_diagonal_coeff: weight of the redundancy term (R2-Dreamer: 5e-4).
        coeff: loss weight (R2-Dreamer: 0.05).
        projector: ``[N, F] -> [N, E]`` module (default ``nn.Linear(F, E)``).
        eps: added to the standard deviations.
    """

    def __init__(
        self,
        feature_size: int,
        embed_size: int,
        off_diagonal_coeff: float = 5e-4,
        coeff: float = 0.05,
        projector: nn.Module | None = None,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if coeff < 0 or off_diagonal_coeff < 0:
            raise ValueError(
                f"BarlowTwinsLoss: coeff and off_diagonal_coeff must be >= 0, got {coeff} and {off_diagonal_coeff}"
            )
        self.projector = nn.Linear(feature_size, embed_size) if projector is None else projector
        self.embed_size = int(embed_size)
        self.off_diagonal_coeff = float(off_diagonal_coeff)
        self.coeff = float(coeff)
        self.eps = float(eps)

    def forward(self, features: torch.Tensor, embed: torch.Tensor, observation: torch.Tensor) -> TensorDict:
        x1, x2 = _flat_pairs("BarlowTwinsLoss", features, embed.detach())
        z1 = self.projector(x1)
        if z1.shape != x2.shape:
            raise ValueError(f"BarlowTwinsLoss: the projector returned {tuple(z1.shape)}, expected {tuple(x2.shape)}")
        z1 = (z1 - z1.mean(0)) / (z1.std(0) + self.eps)
        z2 = (x2 - x2.mean(0)) / (x2.std(0) + self.eps)
        c = z1.T @ z2 / z1.shape[0]
        diagonal = torch.diagonal(c)
        on = (diagonal - 1.0).square().sum()
        off = c.square().sum() - diagonal.square().sum()
        return TensorDict(
            {
                "loss_barlow": self.coeff * (on + self.off_diagonal_coeff * off),
                "barlow_on_diagonal": on.detach(),
                "barlow_off_diagonal": off.detach(),
            },
            batch_size=[],
        )


class InfoNCELoss(RepresentationLoss):
    """Contrastive alternative (R2-Dreamer's ``infonce`` variant): each projected feature must pick its
    own (detached) embedding among the ``N = B * T`` of the batch.

    ``logits = projector(features) @ sg(embed)^T / temperature`` ``[N, N]``, cross-entropy with the
    diagonal as labels, times ``coeff``. Diagnostic ``infonce_accuracy``: how often the diagonal wins.

    Args:
        feature_size, embed_size: ``F`` and ``E``.
        coeff: loss weight.
        temperature: divides the logits.
        projector: ``[N, F] -> [N, E]`` (default ``nn.Linear(F, E)``).
    """

    def __init__(
        self,
        feature_size: int,
        embed_size: int,
        coeff: float = 1.0,
        temperature: float = 1.0,
        projector: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if coeff < 0 or not temperature > 0:
            raise ValueError(f"InfoNCELoss: coeff must be >= 0 and temperature > 0, got {coeff} and {temperature}")
        self.projector = nn.Linear(feature_size, embed_size) if projector is None else projector
        self.coeff = float(coeff)
        self.temperature = float(temperature)

    def forward(self, features: torch.Tensor, embed: torch.Tensor, observation: torch.Tensor) -> TensorDict:
        x1, x2 = _flat_pairs("InfoNCELoss", features, embed.detach())
        logits = self.projector(x1) @ x2.T / self.temperature
        labels = torch.arange(logits.shape[0], device=logits.device)
        loss = F.cross_entropy(logits, labels)
        return TensorDict(
            {
                "loss_infonce": self.coeff * loss,
                "infonce_accuracy": (logits.detach().argmax(-1) == labels).float().mean(),
            },
            batch_size=[],
        )


class DreamerProLoss(RepresentationLoss):
    """DreamerPro's prototypical representation learning (Deng, Jang & Ahn, ICML 2022), no reconstruction.

    Two views of the ``N = B * T`` embeddings: ``embed`` and a noise-perturbed copy
    ``embed + noise_scale * std(embed) * eps`` (``eps ~ N(0, 1)`` from ``generator``, ``std`` the detached
    per-dimension std over the batch). DreamerPro uses two image augmentations (random shifts) that the
    encoder embeds; a :class:`RepresentationLoss` receives the embedding, not the encoder, so the second
    view is made in embedding space, which works for vector and image observations alike. Each view is
    projected (``embed_projector``, ``E -> P``) and L2-normalised to ``z``; with the ``K`` L2-normalised
    prototypes ``c`` (``[K, P]``, learnable) the scores are ``s = z c^T`` (cosines, ``[N, K]``)::

        q = sinkhorn(s)                        soft assignments, no gradient (epsilon 0.05, 3 iterations)
        loss_swav     = swav_coeff * -1/2 mean(q1 . log softmax(s2 / tau) + q2 . log softmax(s1 / tau))
        loss_temporal = temporal_coeff * -mean(q1 . log softmax(normalize(feature_projector(features)) c^T / tau))

    The swapped prediction trains the encoder (the embedding is not detached), the projector and the
    prototypes; the temporal term makes the RSSM's posterior features predict the cluster assignment
    ``q1`` of the clean embedding of the same observation. Diagnostics: ``prototype_usage`` (fraction of
    prototypes that are some sample's most likely cluster) and ``temporal_accuracy`` (how often the
    features' most likely prototype is the assignment's).

    Args:
        feature_size: ``F`` (the RSSM's ``feature_size``).
        embed_size: ``E`` (the encoder's output size).
        num_prototypes: ``K`` (DreamerPro: 2500).
        projection_size: ``P`` (DreamerPro: 32).
        temperature: ``tau`` of the softmaxes (DreamerPro: 0.1).
        sinkhorn_epsilon: entropic regularisation of Sinkhorn-Knopp (DreamerPro: 0.05).
        sinkhorn_iterations: Sinkhorn-Knopp iterations (DreamerPro: 3).
        noise_scale: std of the second view's noise, relative to the embedding's per-dimension std.
        swav_coeff, temporal_coeff: term weights (DreamerPro: 1, 1).
        generator: for the noise.
    """

    def __init__(
        self,
        feature_size: int,
        embed_size: int,
        num_prototypes: int = 2500,
        projection_size: int = 32,
        temperature: float = 0.1,
        sinkhorn_epsilon: float = 0.05,
        sinkhorn_iterations: int = 3,
        noise_scale: float = 0.1,
        swav_coeff: float = 1.0,
        temporal_coeff: float = 1.0,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("feature_size", feature_size),
            ("embed_size", embed_size),
            ("projection_size", projection_size),
            ("sinkhorn_iterations", sinkhorn_iterations),
        ):
            if int(value) != value or value < 1:
                raise ValueError(f"DreamerProLoss: {name} must be a positive integer, got {value}")
        if int(num_prototypes) != num_prototypes or num_prototypes < 2:
            raise ValueError(f"DreamerProLoss: num_prototypes must be an integer >= 2, got {num_prototypes}")
        if not temperature > 0 or not sinkhorn_epsilon > 0:
            raise ValueError(
                "DreamerProLoss: temperature and sinkhorn_epsilon must be > 0, "
                f"got {temperature} and {sinkhorn_epsilon}"
            )
        if noise_scale < 0 or swav_coeff < 0 or temporal_coeff < 0:
            raise ValueError(
                "DreamerProLoss: noise_scale, swav_coeff and temporal_coeff must be >= 0, got "
                f"{noise_scale}, {swav_coeff} and {temporal_coeff}"
            )
        self.feature_size = int(feature_size)
        self.embed_size = int(embed_size)
        self.embed_projector = nn.Linear(self.embed_size, int(projection_size))
        self.feature_projector = nn.Linear(self.feature_size, int(projection_size))
        self.prototypes = nn.Parameter(F.normalize(torch.randn(int(num_prototypes), int(projection_size)), dim=-1))
        self.temperature = float(temperature)
        self.sinkhorn_epsilon = float(sinkhorn_epsilon)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.noise_scale = float(noise_scale)
        self.swav_coeff = float(swav_coeff)
        self.temporal_coeff = float(temporal_coeff)
        self.generator = generator

    @torch.no_grad()
    def sinkhorn(self, scores: torch.Tensor) -> torch.Tensor:
        """Soft assignments ``[*, N, K]`` of scores ``[*, N, K]`` (no gradient).

        ``Q = exp(scores / epsilon)``, then ``sinkhorn_iterations`` times: scale each prototype's column
        to sum ``1 / K``, then each sample's row to ``1 / N``; returned times ``N``, so every row sums
        to 1 and every column to about ``N / K`` (exactly in the limit of many iterations).
        """
        if scores.dim() < 2:
            raise ValueError(f"DreamerProLoss.sinkhorn: scores must be [*, N, K], got {tuple(scores.shape)}")
        n, k = scores.shape[-2:]
        logits = scores.to(torch.promote_types(scores.dtype, torch.float32)) / self.sinkhorn_epsilon
        q = torch.exp(logits - logits.amax(dim=(-2, -1), keepdim=True))  # the global shift cancels out
        for _ in range(self.sinkhorn_iterations):
            q = q / (q.sum(-2, keepdim=True) * k)
            q = q / (q.sum(-1, keepdim=True) * n)
        return (q * n).to(scores.dtype)

    def forward(self, features: torch.Tensor, embed: torch.Tensor, observation: torch.Tensor) -> TensorDict:
        x_feat, x_emb = _flat_pairs("DreamerProLoss", features, embed)
        if not (x_feat.is_floating_point() and x_emb.is_floating_point()):
            raise TypeError(
                f"DreamerProLoss: features and embed must be floating point, got {x_feat.dtype} and {x_emb.dtype}"
            )
        if x_feat.shape[-1] != self.feature_size or x_emb.shape[-1] != self.embed_size:
            raise ValueError(
                f"DreamerProLoss: expected features [..., {self.feature_size}] and embed [..., {self.embed_size}], "
                f"got {tuple(features.shape)} and {tuple(embed.shape)}"
            )
        noise = torch.randn(x_emb.shape, generator=self.generator, device=x_emb.device, dtype=x_emb.dtype)
        views = torch.stack([x_emb, x_emb + self.noise_scale * x_emb.detach().std(0) * noise])  # [2, N, E]
        prototypes = F.normalize(self.prototypes, dim=-1)
        scores = F.normalize(self.embed_projector(views), dim=-1) @ prototypes.T  # [2, N, K]
        q = self.sinkhorn(scores.detach())
        log_p = F.log_softmax(scores / self.temperature, dim=-1)
        swav = -0.5 * ((q[0] * log_p[1]).sum(-1).mean() + (q[1] * log_p[0]).sum(-1).mean())
        h = F.normalize(self.feature_projector(x_feat), dim=-1)
        temporal_logits = h @ prototypes.T / self.temperature
        temporal = -(q[0] * F.log_softmax(temporal_logits, dim=-1)).sum(-1).mean()
        with torch.no_grad():
            target = q[0].argmax(-1)
            usage = torch.zeros(prototypes.shape[0], device=q.device).index_fill_(0, target, 1.0).mean()
            accuracy = (temporal_logits.argmax(-1) == target).float().mean()
        return TensorDict(
            {
                "loss_swav": self.swav_coeff * swav,
                "loss_temporal": self.temporal_coeff * temporal,
                "prototype_usage": usage,
                "temporal_accuracy": accuracy,
            },
            batch_size=[],
        )


class DreamerWorldModelLoss(LossModule):
    """The world-model loss of DreamerV3 / R2-Dreamer on a batch of sequences ``[B, T]``.

    Reads the rl4py rollout layout: ``"observation"`` ``o_t``, ``"action"`` ``a_t``, ``"is_init"``
    (``o_t`` starts an episode) and ``("next", ...)``: ``"observation"`` ``o_{t+1}``, ``"reward"``,
    ``"terminated"``. Step ``t`` of the RSSM advances with ``a_t`` and reads the embedding of
    ``o_{t+1}``; where ``is_init``, the state before the step is the episode's first posterior
    (:meth:`~rl4py.modules.RSSM.initial_posterior` of ``o_t``, the state acting starts from). Terms::

        loss_dyn        = dyn_coeff * mean(max(free_nats, KL(sg(post) || prior)))   trains the prior
        loss_rep        = rep_coeff * mean(max(free_nats, KL(post || sg(prior))))   trains the posterior
        loss_reward     = reward_coeff * mean(twohot CE(reward head, r_{t+1}))
        loss_continue   = continue_coeff * mean(BCE(continue head, 1 - terminated_{t+1}))
        + the representation loss's terms (loss_reconstruction, loss_barlow, loss_infonce, loss_swav + loss_temporal)

    KL is summed over the stochastic groups; below ``free_nats`` a term is constant (no gradient).
    Diagnostics: ``kl`` (before the clamp), ``prior_entropy``, ``posterior_entropy``, ``reward_error``
    (mean absolute error of the decoded reward), ``continue_accuracy``.

    The posterior states are written into the batch, detached, as ``("next", "deter")`` and
    ``("next", "stoch")``: the starts of imagination (:class:`rl4py.planning.Imagination`).

    Args:
        encoder: observations ``[*B, ...]`` -> ``[*B, E]`` (an :class:`~rl4py.modules.MLP`,
            a :class:`~rl4py.modules.ConvEncoder`).
        rssm: the :class:`~rl4py.modules.RSSM` (with the reward and continue heads).
        representation_loss: :class:`DecoderLoss`, :class:`BarlowTwinsLoss`, :class:`InfoNCELoss`,
            :class:`DreamerProLoss`, or ``None`` (KL, reward and continue only).
        free_nats: KL floor per step (DreamerV3: 1).
        dyn_coeff, rep_coeff, reward_coeff, continue_coeff: term weights (DreamerV3: 1, 0.1, 1, 1).
        generator: for the posterior samples.
        observation_key, action_key, is_init_key, reward_key, terminated_key: key overrides (reward and
            terminated are read under ``"next"``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        rssm: RSSM,
        representation_loss: RepresentationLoss | None = None,
        free_nats: float = 1.0,
        dyn_coeff: float = 1.0,
        rep_coeff: float = 0.1,
        reward_coeff: float = 1.0,
        continue_coeff: float = 1.0,
        *,
        generator: torch.Generator | None = None,
        observation_key: NestedKey = keys.OBSERVATION,
        action_key: NestedKey = keys.ACTION,
        is_init_key: NestedKey = keys.IS_INIT,
        reward_key: NestedKey = keys.REWARD,
        terminated_key: NestedKey = keys.TERMINATED,
    ) -> None:
        super().__init__()
        for name, value in (
            ("free_nats", free_nats),
            ("dyn_coeff", dyn_coeff),
            ("rep_coeff", rep_coeff),
            ("reward_coeff", reward_coeff),
            ("continue_coeff", continue_coeff),
        ):
            if value < 0:
                raise ValueError(f"DreamerWorldModelLoss: {name} must be >= 0, got {value}")
        if representation_loss is not None and not isinstance(representation_loss, RepresentationLoss):
            raise TypeError(
                "DreamerWorldModelLoss: representation_loss must be a RepresentationLoss (DecoderLoss, "
                f"BarlowTwinsLoss, InfoNCELoss, DreamerProLoss) or None, got {type(representation_loss).__name__}"
            )
        self.encoder = encoder
        self.rssm = rssm
        self.representation_loss = representation_loss
        self.free_nats = float(free_nats)
        self.dyn_coeff = float(dyn_coeff)
        self.rep_coeff = float(rep_coeff)
        self.reward_coeff = float(reward_coeff)
        self.continue_coeff = float(continue_coeff)
        self.generator = generator
        self.observation_key = observation_key
        self.action_key = action_key
        self.is_init_key = is_init_key
        self.reward_key = keys.next_key(reward_key)
        self.terminated_key = keys.next_key(terminated_key)
        self.next_observation_key = keys.next_key(observation_key)

    def action_input(self, action: torch.Tensor, batch_shape: torch.Size) -> torch.Tensor:
        """The RSSM's action input (:meth:`~rl4py.modules.RSSM.action_input`), integer actions checked to
        lie in ``[0, A)``."""
        size = self.rssm.action_size
        if not action.is_floating_point() and action.numel() and (action.min() < 0 or action.max() >= size):
            raise ValueError(f"DreamerWorldModelLoss: integer actions must be in [0, {size}), got "
                             f"[{action.min().item()}, {action.max().item()}]")  # fmt: skip
        return self.rssm.action_input(action, batch_shape, "DreamerWorldModelLoss")

    def _start_states(self, observation: torch.Tensor, is_init: torch.Tensor) -> RSSMState | None:
        if not bool(is_init.any()):
            return None
        b, t = is_init.shape
        index = is_init.nonzero(as_tuple=True)
        first = self.rssm.initial_posterior(self.encoder(observation[index]), self.generator)
        deter = first.deter.new_zeros(b, t, self.rssm.deter_size).index_put(index, first.deter)
        stoch = first.stoch.new_zeros(b, t, *first.stoch.shape[1:]).index_put(index, first.stoch)
        return RSSMState(deter, stoch)

    def forward(self, td: TensorDictBase) -> TensorDict:
        """Computes the terms on a batch of sequences ``td`` ``[B, T]``."""
        if td.batch_dims != 2:
            raise ValueError(f"DreamerWorldModelLoss: the batch must be [B, T] sequences, got {tuple(td.batch_size)}")
        batch_shape = td.batch_size
        writer = "the collector (sequences from the replay buffer)"
        observation = self._require(td, self.observation_key, writer)
        next_observation = self._require(td, self.next_observation_key, writer)
        action = self.action_input(self._require(td, self.action_key, writer), batch_shape)
        is_init = self._require(td, self.is_init_key, writer).reshape(batch_shape).bool()
        reward = self._require(td, self.reward_key, writer).reshape(batch_shape)
        terminated = self._require(td, self.terminated_key, writer).reshape(batch_shape)

        embed = self.encoder(next_observation)
        post = self.rssm.observe(
            embed, action, is_init, start=self._start_states(observation, is_init), generator=self.generator
        )
        post_logits, prior_logits = post["posterior_logits"], post["prior_logits"]
        dyn = self.rssm.kl(post_logits.detach(), prior_logits)
        rep = self.rssm.kl(post_logits, prior_logits.detach())
        features = post["features"]
        reward_logits = self.rssm.reward_logits(features)
        continue_logits = self.rssm.continue_logits(features)
        continue_target = 1.0 - terminated.to(continue_logits.dtype)

        out = {
            "loss_dyn": self.dyn_coeff * dyn.clamp(min=self.free_nats).mean(),
            "loss_rep": self.rep_coeff * rep.clamp(min=self.free_nats).mean(),
            "loss_reward": self.reward_coeff * self.rssm.twohot.loss(reward_logits, reward.to(features.dtype)).mean(),
            "loss_continue": self.continue_coeff * F.binary_cross_entropy_with_logits(continue_logits, continue_target),
        }
        if self.representation_loss is not None:
            rep_out = self.representation_loss(features, embed, next_observation)
            clash = set(rep_out.keys()) & set(out)
            if clash:
                raise ValueError(f"DreamerWorldModelLoss: the representation loss returned reserved keys {clash}")
            out.update(rep_out.items())
        with torch.no_grad():
            out["kl"] = dyn.mean()
            out["prior_entropy"] = self.rssm.entropy(prior_logits).mean()
            out["posterior_entropy"] = self.rssm.entropy(post_logits).mean()
            out["reward_error"] = (self.rssm.twohot.decode(reward_logits) - reward).abs().mean()
            out["continue_accuracy"] = ((continue_logits > 0) == (continue_target > 0.5)).float().mean()
        td.set(keys.next_key(keys.DETER), post["deter"].detach())
        td.set(keys.next_key(keys.STOCH), post["stoch"].detach())
        return TensorDict(out, batch_size=[])


class DreamerActorLoss(LossModule):
    """DreamerV3's actor loss on an imagined rollout ``[N, H]`` (:class:`rl4py.planning.Imagination`).

    With the lambda-returns ``R_t`` (``"value_target"``), the critic's ``V(s_t)`` (``"state_value"``),
    the percentile scale ``S = max(1, P95(R) - P5(R))`` (passed in: ``forward(td, scale)``, for example
    ``rl4py.values.PercentileNormalizer.scale`` after an ``update`` on the returns) and the
    weights ``w_t`` (``"weight"``, the discounted probability that the imagined episode is still going)::

        reinforce (discrete actions):   loss_objective = -mean(w * log pi(a_t | s_t) * sg((R_t - V(s_t)) / S))
        dynamics (continuous actions):  loss_objective = -mean(w * R_t / S)     (R_t back-propagates through
                                                                                 the frozen world model into
                                                                                 the reparameterized actions)
        loss_entropy = -entropy_coeff * mean(w * H[pi(. | s_t)])

    Diagnostics: ``entropy``, ``advantage`` (mean normalized advantage), ``return_mean``, ``scale``.

    Args:
        actor: :class:`~rl4py.modules.ProbabilisticActor` reading ``"features"``.
        entropy_coeff: entropy weight (DreamerV3: 3e-4).
        gradient: ``"reinforce"`` or ``"dynamics"`` (which the imagination must match: reparameterized
            actions, ``Imagination(reparameterize=True)``).
        action_key, value_target_key, value_key, weight_key: key overrides.
    """

    def __init__(
        self,
        actor: nn.Module,
        entropy_coeff: float = 3e-4,
        gradient: str = "reinforce",
        *,
        action_key: NestedKey = keys.ACTION,
        value_target_key: NestedKey = keys.VALUE_TARGET,
        value_key: NestedKey = keys.STATE_VALUE,
        weight_key: NestedKey = keys.WEIGHT,
    ) -> None:
        super().__init__()
        if not hasattr(actor, "get_dist"):
            raise TypeError(f"DreamerActorLoss: actor must have a get_dist(td) method, got {type(actor).__name__}")
        if gradient not in ("reinforce", "dynamics"):
            raise ValueError(f"DreamerActorLoss: gradient must be 'reinforce' or 'dynamics', got {gradient!r}")
        if entropy_coeff < 0:
            raise ValueError(f"DreamerActorLoss: entropy_coeff must be >= 0, got {entropy_coeff}")
        self.actor = actor
        self.entropy_coeff = float(entropy_coeff)
        self.gradient = gradient
        self.action_key = action_key
        self.value_target_key = value_target_key
        self.value_key = value_key
        self.weight_key = weight_key

    def forward(self, td: TensorDictBase, scale: torch.Tensor | float = 1.0) -> TensorDict:
        """The terms on an imagined rollout ``td`` ``[N, H]``; ``scale`` is the return normalizer's scale (> 0)."""
        scale = torch.as_tensor(scale, dtype=torch.get_default_dtype())
        if scale.numel() != 1 or not bool(scale > 0):
            raise ValueError(f"DreamerActorLoss: scale must be one positive number, got {scale}")
        ret = self._require(td, self.value_target_key, _IMAGINATION)
        value = self._require(td, self.value_key, _IMAGINATION).detach()
        weight = self._require(td, self.weight_key, _IMAGINATION).detach()
        action = self._require(td, self.action_key, _IMAGINATION)
        scale = scale.to(ret.device, ret.dtype)
        dist = self.actor.get_dist(td)
        entropy = dist.entropy()
        w = weight.reshape(entropy.shape)
        advantage = ((ret - value) / scale).reshape(entropy.shape)
        if self.gradient == "reinforce":
            log_prob = dist.log_prob(action.detach())
            objective = (w * log_prob * advantage.detach()).mean()
        else:
            if not ret.requires_grad:
                raise ValueError(
                    "DreamerActorLoss: gradient='dynamics' needs returns that carry the graph to the actions "
                    "(imagine with reparameterize=True)"
                )
            objective = (w * ret.reshape(entropy.shape) / scale).mean()
        return TensorDict(
            {
                "loss_objective": -objective,
                "loss_entropy": -self.entropy_coeff * (w * entropy).mean(),
                "entropy": entropy.detach().mean(),
                "advantage": advantage.detach().mean(),
                "return_mean": ret.detach().mean(),
                "scale": scale.detach(),
            },
            batch_size=[],
        )


class DreamerValueLoss(LossModule):
    """DreamerV3's two-hot critic, regularized towards a slow EMA copy of itself.

    On an imagined rollout ``[N, H]`` with features ``f_t`` (detached), lambda-returns ``R_t`` and
    weights ``w_t``::

        loss_critic = coeff * mean(w * (CE(critic(f_t), twohot(R_t))
                                        + slow_coeff * CE(critic(f_t), twohot(v_slow(f_t)))))

    :meth:`update_slow_critic` moves the slow copy: ``slow <- slow + rate * (critic - slow)`` (DreamerV3:
    rate 0.02 after every update). :meth:`value` decodes the critic (the imagination's ``V``).

    Args:
        critic: features ``[*B, F]`` -> logits ``[*B, num_bins]``.
        twohot: the bins (default :class:`~rl4py.modules.TwoHot` with 255 bins).
        slow_rate: EMA rate of the slow critic in ``(0, 1]``.
        slow_coeff: weight of the slow-critic regularizer (DreamerV3: 1).
        coeff: loss weight.
        features_key, value_target_key, weight_key: key overrides.
    """

    def __init__(
        self,
        critic: nn.Module,
        twohot: TwoHot | None = None,
        slow_rate: float = 0.02,
        slow_coeff: float = 1.0,
        coeff: float = 1.0,
        *,
        features_key: NestedKey = keys.FEATURES,
        value_target_key: NestedKey = keys.VALUE_TARGET,
        weight_key: NestedKey = keys.WEIGHT,
    ) -> None:
        super().__init__()
        if not 0.0 < slow_rate <= 1.0:
            raise ValueError(f"DreamerValueLoss: slow_rate must be in (0, 1], got {slow_rate}")
        if slow_coeff < 0 or coeff < 0:
            raise ValueError(f"DreamerValueLoss: slow_coeff and coeff must be >= 0, got {slow_coeff} and {coeff}")
        self.critic = critic
        self.slow_critic = copy.deepcopy(critic).requires_grad_(False)
        self.twohot = TwoHot() if twohot is None else twohot
        self.slow_rate = float(slow_rate)
        self.slow_coeff = float(slow_coeff)
        self.coeff = float(coeff)
        self.features_key = features_key
        self.value_target_key = value_target_key
        self.weight_key = weight_key

    def value(self, features: torch.Tensor) -> torch.Tensor:
        """The critic's value ``[*B]`` of features ``[*B, F]``."""
        return self.twohot.decode(self.critic(features))

    @torch.no_grad()
    def slow_value(self, features: torch.Tensor) -> torch.Tensor:
        """The slow critic's value ``[*B]`` (no gradient)."""
        return self.twohot.decode(self.slow_critic(features))

    @torch.no_grad()
    def update_slow_critic(self) -> None:
        """``slow <- slow + slow_rate * (critic - slow)`` for every parameter."""
        slow = list(self.slow_critic.parameters())
        torch._foreach_lerp_(slow, [p.detach() for p in self.critic.parameters()], self.slow_rate)

    def forward(self, td: TensorDictBase) -> TensorDict:
        """The critic term on an imagined rollout ``td`` ``[N, H]``."""
        features = self._require(td, self.features_key, _IMAGINATION).detach()
        target = self._require(td, self.value_target_key, _IMAGINATION).detach()
        weight = self._require(td, self.weight_key, _IMAGINATION).detach()
        logits = self.critic(features)
        target = target.reshape(logits.shape[:-1])
        slow = self.slow_value(features)
        log_probs = logits.log_softmax(-1)  # once for both targets
        per_step = self.twohot.log_prob_loss(log_probs, target) + self.slow_coeff * self.twohot.log_prob_loss(
            log_probs, slow
        )
        loss = (weight.reshape(per_step.shape) * per_step).mean()
        return TensorDict(
            {
                "loss_critic": self.coeff * loss,
                "value": self.twohot.decode(logits.detach()).mean(),
                "slow_value": slow.mean(),
                "value_target_mean": target.mean(),
            },
            batch_size=[],
        )
