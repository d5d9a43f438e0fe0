"""The semi-supervised GAN's discriminators: shapes, noise only while training, the artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.artifacts import ClassifierSpec, load_classifier, load_generator, save_generator
from ganops.errors import DataError
from ganops.models import GeneratorSpec, build_generator
from ganops.models.semi import (
    build_semi_supervised_discriminator,
    classifier_logits,
    init_from_data,
)


@pytest.mark.parametrize(("arch", "features"), [("mlp", 250), ("dcgan", 16)])
def test_features_and_class_logits_and_noise_only_in_training(arch: str, features: int) -> None:
    torch.manual_seed(0)
    network = build_semi_supervised_discriminator(arch, 8, (1, 28, 28), 10)
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    hidden, logits = network(images)
    assert hidden.shape == (5, features) and logits.shape == (5, 10)
    assert not torch.equal(network(images)[1], logits)  # training: noise (and dropout)
    network.eval()
    assert torch.equal(network(images)[1], network(images)[1])  # eval: deterministic


def test_a_resnet_has_no_semi_supervised_discriminator() -> None:
    with pytest.raises(ValueError, match="mlp or dcgan, not resnet"):
        build_semi_supervised_discriminator("resnet", 8, (1, 32, 32), 10)


def test_the_generator_file_carries_the_classifier_and_loads_it(tmp_path: Path) -> None:
    spec = GeneratorSpec("mlp", 8, 8, (1, 28, 28))
    generator = build_generator(spec)
    classifier = build_semi_supervised_discriminator("mlp", 8, (1, 28, 28), 3)
    names = ("a", "b", "c")
    path = tmp_path / "generator.pt"
    save_generator(
        path, generator, spec, (classifier, ClassifierSpec("mlp", 8, (1, 28, 28), names))
    )
    loaded = load_classifier(path)
    assert loaded is not None
    network, loaded_spec = loaded
    assert loaded_spec.class_names == names and not network.training
    images = np.random.default_rng(0).integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    assert torch.equal(classifier_logits(network, images, torch.device("cpu")),
                       classifier_logits(classifier, images, torch.device("cpu")))  # fmt: skip
    load_generator(path)  # the generator in it loads as any other
    plain = tmp_path / "plain.pt"
    save_generator(plain, generator, spec)
    assert load_classifier(plain) is None
    payload = torch.load(path, weights_only=True)
    payload["classifier"]["spec"]["class_names"] = ["a", "b"]  # 3 logits, 2 names
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(DataError, match="classifier does not match its spec"):
        load_classifier(tmp_path / "broken.pt")


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_data_dependent_init_standardises_every_layer_on_the_data(arch: str) -> None:
    torch.manual_seed(0)
    network = build_semi_supervised_discriminator(arch, 8, (1, 28, 28), 10)
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    init_from_data(network, images)
    assert network.training  # left as it was
    network.eval()
    _, logits = network(images)
    # the last layer's pre-activations: mean 0, standard deviation 1 per unit on this batch
    assert torch.allclose(logits.mean(0), torch.zeros(10), atol=1e-4)
    assert torch.allclose(logits.std(0), torch.ones(10), atol=1e-3)
