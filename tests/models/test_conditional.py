"""Class-conditional models (projection discriminator), spectral norm and the spec that
records the number of classes."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganops.models import GeneratorSpec, build_discriminator, build_generator
from ganops.sampling import class_grid_labels, make_grid, to_uint8

CASES = [
    *(("mlp", size) for size in (28, 32, 64, 128)),
    *(("dcgan", size) for size in (28, 32, 64, 128)),
    *(("resnet", size) for size in (32, 64)),
]
ARCHS = ["mlp", "dcgan", "resnet"]
CLASSES = 3


def _spec(arch: str, num_classes: int = CLASSES, channels: int = 1) -> GeneratorSpec:
    size = 28 if arch != "resnet" else 32
    return GeneratorSpec(arch, 8, 4, (channels, size, size), num_classes)


def _images(spec: GeneratorSpec, count: int = 4) -> torch.Tensor:
    return torch.rand(count, *spec.image_shape) * 2 - 1


@pytest.mark.parametrize(("arch", "size"), CASES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, CLASSES])
def test_shapes(arch: str, size: int, channels: int, num_classes: int) -> None:
    spec = GeneratorSpec(arch, 16, 4, (channels, size, size), num_classes)
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    labels = torch.tensor([0, 2, 1]) if num_classes else None
    images = generator(torch.randn(3, 16), labels)
    assert images.shape == (3, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert discriminator(images, labels).shape == (3,)


@pytest.mark.parametrize("arch", ARCHS)
def test_conditional_models_need_labels(arch: str) -> None:
    spec = _spec(arch)
    with pytest.raises(ValueError, match="conditioned on 3 classes: pass labels"):
        build_generator(spec)(torch.randn(2, 8))
    with pytest.raises(ValueError, match="conditioned on 3 classes: pass labels"):
        build_discriminator(spec)(_images(spec))


@pytest.mark.parametrize("arch", ARCHS)
def test_unconditional_models_refuse_labels(arch: str) -> None:
    spec = _spec(arch, num_classes=0)
    with pytest.raises(ValueError, match="unconditional"):
        build_generator(spec)(torch.randn(2, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="unconditional"):
        build_discriminator(spec)(_images(spec, 2), torch.tensor([0, 1]))


@pytest.mark.parametrize(
    "labels", [torch.tensor([0, 1, 2]), torch.tensor([[0], [1]]), torch.tensor([0.0, 1.0])]
)
def test_labels_must_be_integers_one_per_image(labels: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"labels must be integer class indices of shape \(2,\)"):
        build_generator(_spec("dcgan"))(torch.randn(2, 8), labels)


@pytest.mark.parametrize("arch", ARCHS)
def test_labels_steer_the_generator(arch: str) -> None:
    generator = build_generator(_spec(arch)).eval()
    # class-conditional batch norm starts as the identity for every class: give it a spread
    for module in generator.modules():
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight)
    z = torch.randn(1, 8).expand(CLASSES, 8)  # one latent, every class
    with torch.no_grad():
        images = generator(z, torch.arange(CLASSES))
    assert not torch.equal(images[0], images[1]) and not torch.equal(images[1], images[2])


@pytest.mark.parametrize("arch", ARCHS)
def test_logit_is_unconditional_part_plus_projection(arch: str) -> None:
    """D(x, y) = D0(x) + <E[y], h(x)>: zero E and D ignores the label and equals the
    unconditional D with the same weights; the rest is linear in E."""
    spec = _spec(arch)
    conditional = build_discriminator(spec).eval()
    unconditional = build_discriminator(_spec(arch, num_classes=0)).eval()
    shared = {k: v for k, v in conditional.state_dict().items() if not k.startswith("projection.")}
    unconditional.load_state_dict(shared)
    embedding = conditional.projection.embedding.weight  # (classes, features)
    images = _images(spec)
    first, second = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    with torch.no_grad():
        projection = conditional(images, first) - unconditional(images)
        assert not torch.allclose(conditional(images, first), conditional(images, second))
        embedding.mul_(2.0)
        doubled = conditional(images, first) - unconditional(images)
        embedding.zero_()
        assert torch.equal(conditional(images, first), unconditional(images))
        assert torch.equal(conditional(images, second), unconditional(images))
    assert projection.abs().min() > 0
    torch.testing.assert_close(doubled, 2 * projection, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("num_classes", [0, CLASSES])
def test_spectral_norm_bounds_every_weight(arch: str, num_classes: int) -> None:
    spec = _spec(arch, num_classes, channels=3)
    torch.manual_seed(0)
    discriminator = build_discriminator(spec, spectral_norm=True)
    layers = [
        m for m in discriminator.modules() if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding)
    ]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    labels = torch.arange(4) % CLASSES if num_classes else None
    for _ in range(20):  # each training forward runs one more power iteration
        discriminator(_images(spec), labels)
    discriminator.eval()  # read the weights without a further iteration
    for layer in layers:
        matrix = layer.weight.detach().flatten(1)  # (out, in * k * k)
        assert torch.linalg.matrix_norm(matrix, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_spectral_norm_off_keeps_dcgan_batch_norm() -> None:
    discriminator = build_discriminator(_spec("dcgan"))
    assert any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    assert not any(parametrize.is_parametrized(m) for m in discriminator.modules())


def test_spec_round_trip_keeps_classes() -> None:
    spec = GeneratorSpec("resnet", 8, 4, (3, 32, 32), num_classes=10)
    raw = spec.to_dict()
    assert raw["num_classes"] == 10 and type(raw["num_classes"]) is int
    assert GeneratorSpec.from_dict(raw) == spec


def test_spec_saved_before_classes_loads_unconditional() -> None:
    old = {"arch": "dcgan", "latent_dim": 8, "width": 4, "image_shape": [1, 28, 28]}
    assert GeneratorSpec.from_dict(old) == GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    assert GeneratorSpec.from_dict(old).num_classes == 0


@pytest.mark.parametrize("classes", [-1, "many"])
def test_spec_refuses_bad_class_counts(classes: object) -> None:
    raw = {**GeneratorSpec("dcgan", 8, 4, (1, 28, 28)).to_dict(), "num_classes": classes}
    with pytest.raises(ValueError, match="malformed generator spec"):
        GeneratorSpec.from_dict(raw)


def test_class_grid_has_one_row_per_class() -> None:
    labels = class_grid_labels(3, 2, torch.device("cpu"))
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
    generator = build_generator(_spec("mlp")).eval()
    with torch.no_grad():
        images = generator(torch.randn(6, 8), labels)
    grid = make_grid(to_uint8(images), columns=2, padding=0)
    assert grid.shape == (3 * 28, 2 * 28, 1)  # rows = classes, columns = samples
    with pytest.raises(ValueError, match="at least one class"):
        class_grid_labels(0, 2, torch.device("cpu"))


@pytest.mark.parametrize("arch", ARCHS)
def test_a_class_head_adds_class_logits_and_leaves_the_logit_alone(arch: str) -> None:
    spec = _spec(arch)
    torch.manual_seed(0)
    plain = build_discriminator(spec, spectral_norm=True).eval()
    torch.manual_seed(0)
    headed = build_discriminator(spec, spectral_norm=True, classifier=True).eval()
    images, labels = _images(spec), torch.tensor([0, 1, 2, 1])
    logits, classes = headed(images, labels, classify=True)
    assert classes.shape == (4, CLASSES) and logits.shape == (4,)
    # built after everything else: the rest of D is what it would be without the head
    assert torch.equal(logits, plain(images, labels))
    assert torch.equal(headed(images, labels), logits)
    assert not parametrize.is_parametrized(headed.classifier)  # no Lipschitz bound on it
    with pytest.raises(ValueError, match="no class head"):
        plain(images, labels, classify=True)


def test_an_unconditional_discriminator_gets_no_class_head() -> None:
    assert build_discriminator(_spec("dcgan", num_classes=0), classifier=True).classifier is None
