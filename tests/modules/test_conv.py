from __future__ import annotations

import pytest
import torch
from torch import nn

from rl4py.modules.conv import ConvDecoder, ConvEncoder


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize(
    "image_size, kwargs, conv_shape",
    [
        (84, {}, (64, 7, 7)),  # Nature-DQN layers at the Atari size: the classic 3136 features
        ((84, 60), {}, (64, 7, 4)),
        (64, dict(kernel_sizes=4, strides=2, paddings=1), (64, 8, 8)),
        (64, dict(channels=(16, 32, 32, 32), kernel_sizes=4, strides=2, paddings=1), (32, 4, 4)),  # DreamerV3-like
        ((33, 30), dict(channels=(8, 8), kernel_sizes=4, strides=2, paddings=1), (8, 8, 7)),  # output padding
    ],
)
def test_encoder_decoder_shapes_round_trip(image_size, kwargs, conv_shape):
    encoder = ConvEncoder(3, image_size, out_features=32, **kwargs)
    decoder = ConvDecoder.from_encoder(encoder)
    assert encoder.conv_output_shape == conv_shape
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    images = torch.rand(4, 3, h, w)
    z = encoder(images)
    assert z.shape == (4, 32)
    assert decoder(z).shape == images.shape
    explicit = ConvDecoder(32, 3, image_size, **kwargs)
    assert [type(m) for m in explicit.net] == [type(m) for m in decoder.net]
    assert explicit(z).shape == images.shape


def test_encoder_mirrored_layers():
    encoder = ConvEncoder(3, 84, out_features=16)
    decoder = ConvDecoder.from_encoder(encoder, output_activation=nn.Sigmoid)
    convs = [m for m in encoder.net if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in decoder.net if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (d.out_channels, d.in_channels, d.kernel_size, d.stride) for d in reversed(deconvs)
    ]
    out = decoder(torch.randn(2, 16))
    assert bool(((out > 0) & (out < 1)).all())


@pytest.mark.parametrize(
    "image_size, kwargs", [(84, {}), ((84, 60), {}), (64, dict(kernel_sizes=4, strides=2, paddings=1))]
)
def test_encoder_is_sensitive_to_every_pixel(image_size, kwargs):
    encoder = ConvEncoder(3, image_size, out_features=32, **kwargs)
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    images = torch.rand(2, 3, h, w, requires_grad=True)
    encoder(images).square().sum().backward()
    # every pixel (incl. the last row and column) reaches the features
    assert bool((images.grad.abs().sum((0, 1)) > 0).all())
    for c, y, x in [(0, 0, 0), (2, h - 1, w - 1), (1, h // 2, w // 3)]:
        changed = images.detach().clone()
        changed[:, c, y, x] += 0.5
        assert not torch.allclose(encoder(changed), encoder(images.detach()))


def test_encoder_warns_when_its_layers_miss_pixels():
    # the Nature layers on 64x64 images: the last 4 rows and columns reach no output
    with pytest.warns(UserWarning, match="the last 4 rows and the last 4 columns of the image never reach the output"):
        encoder = ConvEncoder(3, 64, out_features=8)
    images = torch.rand(1, 3, 64, 64, requires_grad=True)
    encoder(images).sum().backward()
    assert bool((images.grad[..., 60:, :] == 0).all()) and bool((images.grad[..., :60, :60] != 0).any())
    with pytest.warns(UserWarning, match="pixels between strides"):
        ConvEncoder(1, 16, channels=(4,), kernel_sizes=2, strides=3)


def test_uint8_images_are_scaled_to_unit_interval():
    encoder = ConvEncoder(1, 84, out_features=8)
    pixels = torch.randint(0, 256, (5, 1, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(encoder(pixels), encoder(pixels.float() / 255))
    with pytest.raises(TypeError, match="uint8 .* or floating point, got torch.int64"):
        encoder(pixels.long())


def test_extra_leading_dims_and_flat_features():
    encoder = ConvEncoder(3, 84, out_features=None)
    assert encoder.out_features == 64 * 7 * 7
    images = torch.rand(2, 3, 3, 84, 84)  # [B, T, C, H, W]
    out = encoder(images)
    assert out.shape == (2, 3, 3136)
    torch.testing.assert_close(out.reshape(6, -1), encoder(images.reshape(6, 3, 84, 84)))
    decoder = ConvDecoder(10, 3, 84)
    assert decoder(torch.randn(2, 3, 10)).shape == (2, 3, 3, 84, 84)


def test_decoder_can_learn_to_reconstruct():
    # a few steps of auto-encoding reduce the reconstruction error: gradients flow through both
    encoder = ConvEncoder(1, 16, channels=(8, 8), kernel_sizes=4, strides=2, paddings=1, out_features=16)
    decoder = ConvDecoder.from_encoder(encoder)
    images = torch.rand(8, 1, 16, 16)
    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=3e-3)
    errors = []
    for _ in range(30):
        loss = (decoder(encoder(images)) - images).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        errors.append(loss.item())
    assert errors[-1] < 0.5 * errors[0]


def test_conv_errors_name_argument_expected_and_received():
    encoder = ConvEncoder(3, 84)
    with pytest.raises(ValueError, match=r"ConvEncoder: x must have shape \[\*B, 3, 84, 84\], got \(2, 84, 84, 3\)"):
        encoder(torch.rand(2, 84, 84, 3))
    with pytest.raises(ValueError, match=r"image_size \(32, 32\) is too small for layer 2"):
        ConvEncoder(3, 32)
    with pytest.raises(ValueError, match=r"kernel_sizes must have one entry per layer \(3, as channels\)"):
        ConvEncoder(3, 84, kernel_sizes=(8, 4))
    with pytest.raises(ValueError, match=r"ConvDecoder: z must have shape \[\*B, 512\], got \(2, 16\)"):
        ConvDecoder.from_encoder(encoder)(torch.randn(2, 16))
