"""The SNGAN ResNet: its sizes, block layout and residual structure."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganops.models import GeneratorSpec, build_discriminator, build_generator, image_size_problem


def _sides(network: nn.Module, blocks: nn.Module, *inputs: torch.Tensor) -> list[int]:
    """The side of the feature map after each residual block."""
    sides: list[int] = []
    hooks = [
        block.register_forward_hook(lambda _m, _i, out: sides.append(out.shape[-1]))
        for block in blocks.children()
    ]
    with torch.no_grad():
        network(*inputs)
    for hook in hooks:
        hook.remove()
    return sides


@pytest.mark.parametrize(
    ("size", "g_sides", "d_sides"),
    [(32, [8, 16, 32], [16, 8, 8, 8]), (64, [8, 16, 32, 64], [32, 16, 8, 8, 8])],
)
def test_block_layout_follows_sngan(size: int, g_sides: list[int], d_sides: list[int]) -> None:
    spec = GeneratorSpec("resnet", 8, 8, (3, size, size))
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    assert _sides(generator, generator.blocks, torch.randn(2, 8)) == g_sides
    images = torch.rand(2, 3, size, size)
    assert _sides(discriminator, discriminator.blocks, images) == d_sides
    for network in (generator, discriminator):  # every block has `width` channels
        for block in network.blocks.children():
            assert {m.out_channels for m in block.modules() if isinstance(m, nn.Conv2d)} == {8}
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())


def test_first_discriminator_block_sees_negative_pixels() -> None:
    """Pre-activation would rectify the image and make D blind to where it is below 0."""
    discriminator = build_discriminator(GeneratorSpec("resnet", 8, 8, (1, 32, 32))).eval()
    images = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(discriminator(images), discriminator(images.clamp(min=0)))


def test_the_sngan_cifar_model_builds() -> None:
    spec = GeneratorSpec("resnet", 128, 128, (3, 32, 32), num_classes=10)
    generator, discriminator = build_generator(spec), build_discriminator(spec, spectral_norm=True)
    labels = torch.tensor([3, 7])
    images = generator(torch.randn(2, 128), labels)
    assert images.shape == (2, 3, 32, 32)
    assert discriminator(images, labels).shape == (2,)


@pytest.mark.parametrize(("size", "ok"), [(32, True), (64, True), (28, False), (128, False)])
def test_sizes(size: int, ok: bool) -> None:
    assert (image_size_problem("resnet", size) is None) == ok
    if not ok:
        with pytest.raises(ValueError, match="resnet supports 32 or 64"):
            build_generator(GeneratorSpec("resnet", 8, 8, (3, size, size)))
