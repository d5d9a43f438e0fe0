"""The translator's networks at the sizes the task is sized for: 28-32 px on a CPU, and the
same code at pix2pix's and CycleGAN's 128 and 256 px (run here on the CPU, one image)."""

from __future__ import annotations

import pytest
import torch

from ganops.config import TranslateConfig
from ganops.translation.loop import translator_spec
from ganops.translation.networks import (
    PatchDiscriminator,
    build_generator,
    patch_layers,
    patch_map_side,
)


@pytest.mark.parametrize("size", [28, 32, 128, 256])
@pytest.mark.parametrize("paired", [True, False], ids=["unet", "resnet"])
def test_generator_keeps_the_image_and_the_patch_map_fits(size: int, paired: bool) -> None:
    cfg = TranslateConfig(width=4, blocks=1)
    spec = translator_spec(cfg, paired, 3, size)
    # the U-Net goes as deep as the side allows (down to 4 px); the ResNet halves twice
    assert spec.downsamplings == ({28: 2, 32: 3, 128: 5, 256: 6}[size] if paired else 2)
    generator = build_generator(spec).eval()
    images = torch.rand(1, 3, size, size) * 2 - 1  # (B, C, H, W)
    with torch.no_grad():
        out = generator(images)
    assert out.shape == images.shape and out.abs().max() <= 1  # tanh output
    layers = patch_layers(size)
    discriminator = PatchDiscriminator(6 if paired else 3, 4, layers)
    pair = torch.cat([images, out], dim=1) if paired else out  # pix2pix's D sees (input, output)
    with torch.no_grad():
        logits = discriminator(pair)
    side = patch_map_side(size, layers)
    assert logits.shape == (1, 1, side, side) and side >= 2
