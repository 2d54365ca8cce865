"""Beta-VAE, for opponent modeling with strategy embeddings (ROA-Star)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import TensorDict
from torch import nn

from rl4py.modules.mlp import MLP

__all__ = ["BetaVAE", "gaussian_kl"]


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` of a diagonal Gaussian, summed over the last dim.

    ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)``.

    Args:
        mu: means ``[*B, D]``.
        logvar: log-variances ``[*B, D]``.

    Returns:
        ``[*B]``.

    Examples:
        >>> import torch
        >>> float(gaussian_kl(torch.zeros(1, 4), torch.zeros(1, 4))[0])
        0.0
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"gaussian_kl: mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape")
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)


class BetaVAE(nn.Module):
    """A variational auto-encoder whose KL term is weighted by ``beta``.

    The encoder (an :class:`~rl4py.modules.MLP`) maps ``x`` to the mean and log-variance of a
    diagonal Gaussian over the latent; a latent is drawn with the reparameterization trick
    (``z = mu + exp(logvar / 2) * eps``) and the decoder maps it back to ``x``'s space.
    :meth:`loss` returns ``loss_reconstruction`` (squared error summed over features, averaged
    over the batch) and ``loss_kl`` (``beta`` times the KL to ``N(0, I)``, averaged over the batch):
    the loss is their sum, as for every rl4py loss (``rl4py.losses.total_loss``). ``beta > 1``
    pushes towards a disentangled latent that the decoder cannot ignore.

    For opponent modeling, train it on opponent features, freeze it and feed
    :meth:`strategy_embedding` (the posterior mean, no sampling) to the policy as extra context.

    Args:
        input_dim: feature size of ``x``.
        latent_dim: latent size.
        hidden: hidden layer sizes of the encoder; the decoder uses them reversed.
        beta: weight of the KL term.
        activation: activation class of both networks.

    Shapes:
        ``x [*B, input_dim]`` -> ``reconstruction [*B, input_dim]``, ``mu``, ``logvar``, ``latent``
        ``[*B, latent_dim]``; :meth:`strategy_embedding` -> ``[*B, latent_dim]``.

    Examples:
        >>> import torch
        >>> vae = BetaVAE(input_dim=64, latent_dim=32, beta=4.0)
        >>> x = torch.randn(16, 64)
        >>> losses = vae.loss(x)
        >>> sorted(losses.keys())
        ['kl', 'loss_kl', 'loss_reconstruction', 'reconstruction_error']
        >>> (losses["loss_reconstruction"] + losses["loss_kl"]).backward()
        >>> vae.strategy_embedding(x).shape
        torch.Size([16, 32])
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int = 32,
        hidden: Sequence[int] = (128, 128),
        beta: float = 4.0,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if input_dim < 1 or latent_dim < 1:
            raise ValueError(f"BetaVAE: input_dim and latent_dim must be >= 1, got {input_dim} and {latent_dim}")
        if beta < 0:
            raise ValueError(f"BetaVAE: beta must be >= 0, got {beta}")
        self.encoder = MLP(input_dim, 2 * latent_dim, tuple(hidden), activation=activation)
        self.decoder = MLP(latent_dim, input_dim, tuple(reversed(tuple(hidden))), activation=activation)
        self.input_dim, self.latent_dim, self.beta = input_dim, latent_dim, float(beta)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() < 1 or x.shape[-1] != self.input_dim or not x.is_floating_point():
            raise ValueError(
                f"BetaVAE: x must be a floating-point tensor [*B, {self.input_dim}], got {tuple(x.shape)} {x.dtype}"
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's parameters.

        Args:
            x: ``[*B, input_dim]``.

        Returns:
            ``(mu, logvar)``, each ``[*B, latent_dim]``.
        """
        self._check(x)
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``[*B, input_dim]`` from latents ``z [*B, latent_dim]``."""
        if z.dim() < 1 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"BetaVAE: z must have shape [*B, {self.latent_dim}], got {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> TensorDict:
        """Encodes, samples a latent (reparameterized) and decodes.

        Args:
            x: ``[*B, input_dim]``.
            generator: optional ``torch.Generator`` for the latent noise.

        Returns:
            ``TensorDict[*B]`` with ``"reconstruction" [*B, input_dim]``, ``"mu"``, ``"logvar"``
            and ``"latent" [*B, latent_dim]``.
        """
        mu, logvar = self.encode(x)
        # drawn on the generator's device (a CPU generator with a CUDA model), then moved
        noise_device = mu.device if generator is None else generator.device
        eps = torch.randn(mu.shape, generator=generator, device=noise_device, dtype=mu.dtype).to(mu.device)
        z = torch.addcmul(mu, (0.5 * logvar).exp(), eps)
        return TensorDict(
            {"reconstruction": self.decoder(z), "mu": mu, "logvar": logvar, "latent": z},
            batch_size=x.shape[:-1],
        )

    def loss(self, x: torch.Tensor, output: TensorDict | None = None) -> TensorDict:
        """The beta-VAE loss terms.

        Args:
            x: ``[*B, input_dim]``.
            output: the result of ``self(x)``; computed when ``None``.

        Returns:
            scalar ``TensorDict`` with ``"loss_reconstruction"`` (per-sample squared error summed
            over features, averaged over the batch), ``"loss_kl"`` (``beta`` times the
            batch-averaged :func:`gaussian_kl`) and the diagnostics ``"kl"`` (unweighted) and
            ``"reconstruction_error"`` (mean squared error per feature), detached. The loss is
            ``loss_reconstruction + loss_kl``.
        """
        self._check(x)
        if output is None:
            output = self(x)
        elif output.batch_size != x.shape[:-1]:
            raise ValueError(
                f"BetaVAE.loss: output has batch size {tuple(output.batch_size)}, expected x's {tuple(x.shape[:-1])}"
            )
        squared_error = (output["reconstruction"] - x).square()
        kl = gaussian_kl(output["mu"], output["logvar"]).mean()
        return TensorDict(
            {
                "loss_reconstruction": squared_error.sum(-1).mean(),
                "loss_kl": self.beta * kl,
                "kl": kl.detach(),
                "reconstruction_error": squared_error.detach().mean(),
            },
            batch_size=[],
        )

    def strategy_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``mu [*B, latent_dim]`` of ``x [*B, input_dim]``: a deterministic
        embedding to condition a policy on (call under ``torch.no_grad()`` or freeze the VAE)."""
        return self.encode(x)[0]
