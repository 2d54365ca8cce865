"""Convolutional image encoder and the decoder that mirrors it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Union

import torch
from torch import nn

__all__ = ["ConvDecoder", "ConvEncoder"]

IntOrSeq = Union[int, Sequence[int]]


def _per_layer(owner: str, name: str, value: IntOrSeq, n_layers: int) -> tuple[int, ...]:
    values = (value,) * n_layers if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != n_layers:
        raise ValueError(f"{owner}: {name} must have one entry per layer ({n_layers}, as channels), got {value}")
    return values


def _image_size(owner: str, image_size: int | Sequence[int]) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{owner}: image_size must be a positive int or (height, width), got {image_size}")
    return size  # type: ignore[return-value]


class _ConvGeometry:
    """Layer sizes of a conv stack: spatial size after each layer and the transposed convs'
    ``output_padding`` that maps each size back exactly."""

    def __init__(
        self,
        owner: str,
        image_size: int | Sequence[int],
        channels: Sequence[int],
        kernel_sizes: IntOrSeq,
        strides: IntOrSeq,
        paddings: IntOrSeq,
    ) -> None:
        self.channels = tuple(int(c) for c in channels)
        n = len(self.channels)
        if n < 1 or min(self.channels) < 1:
            raise ValueError(f"{owner}: channels must be a non-empty sequence of positive ints, got {channels}")
        self.kernel_sizes = _per_layer(owner, "kernel_sizes", kernel_sizes, n)
        self.strides = _per_layer(owner, "strides", strides, n)
        self.paddings = _per_layer(owner, "paddings", paddings, n)
        self.image_size = _image_size(owner, image_size)
        self.sizes = [self.image_size]  # spatial (H, W) before layer i, and after the last
        for i, (k, s, p) in enumerate(zip(self.kernel_sizes, self.strides, self.paddings)):
            h, w = ((d + 2 * p - k) // s + 1 for d in self.sizes[-1])
            if h < 1 or w < 1:
                raise ValueError(
                    f"{owner}: image_size {self.image_size} is too small for layer {i} "
                    f"(kernel {k}, stride {s}, padding {p}): input {self.sizes[-1]} gives output {(h, w)}"
                )
            self.sizes.append((h, w))
        self.output_shape = (self.channels[-1], *self.sizes[-1])
        self.flat_size = self.channels[-1] * self.sizes[-1][0] * self.sizes[-1][1]

    def ignored_pixels(self) -> tuple[int, int, bool]:
        """``(rows, columns, gaps)``: how many bottom rows and right columns of the image reach no
        output, and whether a kernel smaller than its stride skips pixels in between."""
        used = [s - 1 for s in self.sizes[-1]]  # last used index of each spatial dim, from the output back
        for i in reversed(range(len(self.channels))):
            k, s, p = self.kernel_sizes[i], self.strides[i], self.paddings[i]
            used = [min(u * s + k - 1 - p, d - 1) for u, d in zip(used, self.sizes[i])]
        gaps = any(k < s for k, s in zip(self.kernel_sizes, self.strides))
        return self.image_size[0] - 1 - used[0], self.image_size[1] - 1 - used[1], gaps

    def output_padding(self, i: int) -> tuple[int, int]:
        k, s, p = self.kernel_sizes[i], self.strides[i], self.paddings[i]
        return tuple((d + 2 * p - k) % s for d in self.sizes[i])  # type: ignore[return-value]


class ConvEncoder(nn.Module):
    """A convolutional encoder from images to feature vectors.

    ``Conv2d -> activation`` per entry of ``channels``, then flatten and (unless
    ``out_features=None``) ``Linear -> activation``. The defaults are the Nature-DQN encoder
    (32/64/64 channels, kernels 8/4/3, strides 4/2/1, 512 features), made for 84x84 images. A
    geometry whose windows miss some pixels warns at construction: the Nature layers on 64x64
    images never see the last 4 rows and columns; ``kernel_sizes=4, strides=2, paddings=1``
    (DreamerV3's layout) covers any size.

    ``uint8`` images are converted to the weights' dtype and scaled to ``[0, 1]`` (divided by
    255); floating-point images are used as they are. Any number of leading batch dims is
    accepted (``[B, T, C, H, W]`` rollouts included); the image shape must be exactly
    ``(in_channels, *image_size)``.

    Args:
        in_channels: image channels ``C``.
        image_size: ``H`` (square) or ``(H, W)``.
        channels: output channels of each conv layer.
        kernel_sizes: kernel size of each layer (an int for all).
        strides: stride of each layer (an int for all).
        paddings: zero padding of each layer (an int for all).
        out_features: size of the final linear layer; ``None`` returns the flattened conv features
            (``conv_output_shape`` multiplied out).
        activation: activation class, instantiated after each layer.

    Shapes:
        ``x [*B, in_channels, H, W]`` (uint8 or float) -> ``[*B, out_features]``.

    Examples:
        >>> import torch
        >>> encoder = ConvEncoder(in_channels=3, image_size=84, out_features=256)
        >>> encoder.conv_output_shape
        (64, 7, 7)
        >>> encoder(torch.randint(0, 256, (8, 3, 84, 84), dtype=torch.uint8)).shape
        torch.Size([8, 256])
        >>> ConvEncoder(3, 64, kernel_sizes=4, strides=2, paddings=1).conv_output_shape
        (64, 8, 8)
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int | Sequence[int],
        channels: Sequence[int] = (32, 64, 64),
        kernel_sizes: IntOrSeq = (8, 4, 3),
        strides: IntOrSeq = (4, 2, 1),
        paddings: IntOrSeq = 0,
        out_features: int | None = 512,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"ConvEncoder: in_channels must be >= 1, got {in_channels}")
        if out_features is not None and out_features < 1:
            raise ValueError(f"ConvEncoder: out_features must be >= 1 or None, got {out_features}")
        geometry = _ConvGeometry("ConvEncoder", image_size, channels, kernel_sizes, strides, paddings)
        rows, columns, gaps = geometry.ignored_pixels()
        if rows or columns or gaps:
            missed = [f"the last {rows} rows"] * bool(rows) + [f"the last {columns} columns"] * bool(columns)
            missed += ["pixels between strides (a kernel smaller than its stride)"] * gaps
            warnings.warn(
                f"ConvEncoder: with image_size {geometry.image_size}, kernel_sizes {geometry.kernel_sizes}, strides "
                f"{geometry.strides} and paddings {geometry.paddings}, {' and '.join(missed)} of the image never "
                "reach the output; kernel_sizes=4, strides=2, paddings=1 covers any image size",
                stacklevel=2,
            )
        layers: list[nn.Module] = []
        n_in = in_channels
        for c, k, s, p in zip(geometry.channels, geometry.kernel_sizes, geometry.strides, geometry.paddings):
            layers += [nn.Conv2d(n_in, c, k, s, p), activation()]
            n_in = c
        layers.append(nn.Flatten())
        if out_features is not None:
            layers += [nn.Linear(geometry.flat_size, out_features), activation()]
        self.net = nn.Sequential(*layers)
        self.geometry = geometry
        self.in_channels = in_channels
        self.image_size = geometry.image_size
        self.conv_output_shape = geometry.output_shape
        self.out_features = geometry.flat_size if out_features is None else out_features
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encodes images.

        Args:
            x: ``[*B, in_channels, H, W]``, uint8 (scaled to ``[0, 1]``) or floating point.

        Returns:
            ``[*B, out_features]``.
        """
        expected = (self.in_channels, *self.image_size)
        if x.dim() < 3 or tuple(x.shape[-3:]) != expected:
            raise ValueError(
                f"ConvEncoder: x must have shape [*B, {', '.join(map(str, expected))}], got {tuple(x.shape)}"
            )
        if x.dtype == torch.uint8:
            x = x.to(self.net[0].weight.dtype).div_(255.0)
        elif not x.is_floating_point():
            raise TypeError(f"ConvEncoder: x must be uint8 (scaled to [0, 1]) or floating point, got {x.dtype}")
        batch_shape = x.shape[:-3]
        out = self.net(x.reshape(-1, *expected) if x.dim() != 4 else x)
        return out.reshape(*batch_shape, self.out_features)


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: feature vectors back to images of the encoder's shape.

    ``Linear -> activation`` to the encoder's conv output shape, then one ``ConvTranspose2d``
    per conv layer in reverse order (``activation`` between them, ``output_activation`` or none
    after the last), with ``output_padding`` chosen so the output is exactly
    ``(out_channels, *image_size)``. Pass the encoder's ``channels``, ``kernel_sizes``,
    ``strides`` and ``paddings`` (in the encoder's order), or use :meth:`from_encoder`.

    The output is unbounded unless ``output_activation`` bounds it (``nn.Sigmoid`` for images in
    ``[0, 1]``, as :class:`ConvEncoder` makes of uint8 images).

    Args:
        in_features: input feature size.
        out_channels: image channels ``C``.
        image_size: ``H`` (square) or ``(H, W)``.
        channels: the encoder's conv channels, in the encoder's order.
        kernel_sizes: the encoder's kernel sizes.
        strides: the encoder's strides.
        paddings: the encoder's paddings.
        activation: activation class between layers.
        output_activation: optional activation class applied to the image.

    Shapes:
        ``z [*B, in_features]`` -> ``[*B, out_channels, H, W]``.

    Examples:
        >>> import torch
        >>> encoder = ConvEncoder(in_channels=3, image_size=(84, 60), out_features=256)
        >>> decoder = ConvDecoder.from_encoder(encoder)
        >>> decoder(encoder(torch.rand(8, 3, 84, 60))).shape
        torch.Size([8, 3, 84, 60])
    """

    def __init__(
        self,
        in_features: int,
        out_channels: int,
        image_size: int | Sequence[int],
        channels: Sequence[int] = (32, 64, 64),
        kernel_sizes: IntOrSeq = (8, 4, 3),
        strides: IntOrSeq = (4, 2, 1),
        paddings: IntOrSeq = 0,
        activation: type[nn.Module] = nn.ReLU,
        output_activation: type[nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_channels < 1:
            raise ValueError(
                f"ConvDecoder: in_features and out_channels must be >= 1, got {in_features} and {out_channels}"
            )
        geometry = _ConvGeometry("ConvDecoder", image_size, channels, kernel_sizes, strides, paddings)
        layers: list[nn.Module] = [
            nn.Linear(in_features, geometry.flat_size),
            activation(),
            nn.Unflatten(-1, geometry.output_shape),
        ]
        outs = (out_channels, *geometry.channels[:-1])
        for i in reversed(range(len(geometry.channels))):
            k, s, p = geometry.kernel_sizes[i], geometry.strides[i], geometry.paddings[i]
            layers.append(nn.ConvTranspose2d(geometry.channels[i], outs[i], k, s, p, geometry.output_padding(i)))
            if i > 0:
                layers.append(activation())
        if output_activation is not None:
            layers.append(output_activation())
        self.net = nn.Sequential(*layers)
        self.in_features = in_features
        self.out_channels = out_channels
        self.image_size = geometry.image_size

    @classmethod
    def from_encoder(
        cls,
        encoder: ConvEncoder,
        in_features: int | None = None,
        output_activation: type[nn.Module] | None = None,
    ) -> ConvDecoder:
        """The decoder mirroring ``encoder``'s layers, from ``in_features`` (default the encoder's
        ``out_features``) to images of the encoder's input shape."""
        g = encoder.geometry
        return cls(
            encoder.out_features if in_features is None else in_features,
            encoder.in_channels,
            g.image_size,
            g.channels,
            g.kernel_sizes,
            g.strides,
            g.paddings,
            activation=encoder.activation,
            output_activation=output_activation,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decodes feature vectors.

        Args:
            z: ``[*B, in_features]``.

        Returns:
            images ``[*B, out_channels, H, W]``.
        """
        if z.dim() < 1 or z.shape[-1] != self.in_features:
            raise ValueError(f"ConvDecoder: z must have shape [*B, {self.in_features}], got {tuple(z.shape)}")
        batch_shape = z.shape[:-1]
        out = self.net(z.reshape(-1, self.in_features) if z.dim() != 2 else z)
        return out.reshape(*batch_shape, *out.shape[-3:])
