"""Generator and discriminator shapes, layouts and initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganops.models import GeneratorSpec, build_discriminator, build_generator, image_size_problem


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
@pytest.mark.parametrize("size", [28, 32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(arch: str, size: int, channels: int) -> None:
    spec = GeneratorSpec(arch, latent_dim=16, width=4, image_shape=(channels, size, size))
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    images = generator(torch.randn(3, 16))
    assert images.shape == (3, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert discriminator(images).shape == (3,)


def test_dcgan_follows_radford() -> None:
    spec = GeneratorSpec("dcgan", latent_dim=100, width=128, image_shape=(3, 64, 64))
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    g_convs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    # the paper's 64x64 model: 1024 -> 512 -> 256 -> 128 -> 3 channels, 4x4 -> 64x64
    assert [m.out_channels for m in g_convs] == [1024, 512, 256, 128, 3]
    assert not any(isinstance(m, nn.MaxPool2d | nn.AvgPool2d) for m in discriminator.modules())
    assert any(isinstance(m, nn.ReLU) for m in generator.modules())
    relus = [m for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)]
    assert relus and all(m.negative_slope == 0.2 for m in relus)
    first_block = list(discriminator.net)[:2]  # no batch norm on D's input layer
    assert not any(isinstance(m, nn.BatchNorm2d) for m in first_block)
    weights = torch.cat([m.weight.flatten() for m in g_convs])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    assert weights.mean().abs().item() < 1e-3


def test_mnist_layout_is_7_14_28() -> None:
    spec = GeneratorSpec("dcgan", latent_dim=8, width=4, image_shape=(1, 28, 28))
    generator = build_generator(spec)
    sizes, x = [], torch.randn(2, 8, 1, 1)
    for module in generator.net:
        x = module(x)
        if isinstance(module, nn.ConvTranspose2d):
            sizes.append(x.shape[-1])
    assert sizes == [7, 14, 28]


def test_mlp_is_the_tutorial_gan() -> None:
    spec = GeneratorSpec("mlp", latent_dim=100, width=128, image_shape=(1, 28, 28))
    generator = build_generator(spec)
    linears = [m.out_features for m in generator.modules() if isinstance(m, nn.Linear)]
    assert linears == [128, 256, 512, 1024, 784]
    assert any(isinstance(m, nn.BatchNorm1d) for m in generator.modules())
    assert isinstance(list(generator.net)[-1], nn.Tanh)


@pytest.mark.parametrize(
    ("size", "ok"),
    [(28, True), (32, True), (128, True), (256, True), (48, False), (512, False), (16, False)],
)
def test_dcgan_sizes(size: int, ok: bool) -> None:
    assert (image_size_problem("dcgan", size) is None) == ok
    assert image_size_problem("mlp", size) is None


def test_spec_round_trip() -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    assert GeneratorSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="malformed generator spec"):
        GeneratorSpec.from_dict({"arch": "dcgan"})


@pytest.mark.parametrize("size", [28, 32, 64])
def test_nearest_upsampling_replaces_every_transposed_doubling(size: int) -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, size, size), upsample="nearest")
    generator = build_generator(spec)
    assert generator(torch.randn(2, 8)).shape == (2, 1, size, size)
    transposed = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(transposed) == 1  # only the projection of z to the first feature map
    upsamplings = [m for m in generator.modules() if isinstance(m, nn.Upsample)]
    convs = [m for m in generator.modules() if isinstance(m, nn.Conv2d)]
    assert upsamplings and len(upsamplings) == len(convs)
    assert all(m.kernel_size == (3, 3) for m in convs)
    # the default keeps DCGAN's layers, and the same weights for the same seed
    torch.manual_seed(0)
    plain = build_generator(GeneratorSpec("dcgan", 8, 4, (1, size, size)))
    torch.manual_seed(0)
    explicit = build_generator(GeneratorSpec("dcgan", 8, 4, (1, size, size), upsample="transposed"))
    for a, b in zip(plain.state_dict().values(), explicit.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_spec_writes_upsample_only_when_it_is_not_the_default() -> None:
    plain = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    assert "upsample" not in plain.to_dict()  # generator files from before keep their bytes
    nearest = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), upsample="nearest")
    assert nearest.to_dict()["upsample"] == "nearest"
    assert GeneratorSpec.from_dict(nearest.to_dict()) == nearest
    with pytest.raises(ValueError, match="malformed generator spec"):
        GeneratorSpec.from_dict({**nearest.to_dict(), "upsample": "bicubic"})
    with pytest.raises(ValueError, match="a dcgan option"):
        build_generator(GeneratorSpec("mlp", 8, 4, (1, 28, 28), upsample="nearest"))


def test_discriminator_takes_its_own_width() -> None:
    spec = GeneratorSpec("dcgan", 8, 16, (1, 28, 28))
    narrow = build_discriminator(spec, width=4)
    first = next(m for m in narrow.modules() if isinstance(m, nn.Conv2d))
    assert first.out_channels == 4 and narrow(torch.randn(2, 1, 28, 28)).shape == (2,)
    assert (
        next(
            m for m in build_discriminator(spec).modules() if isinstance(m, nn.Conv2d)
        ).out_channels
        == 16
    )
