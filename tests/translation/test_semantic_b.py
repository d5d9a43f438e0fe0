"""CyCADA's semantic term the other way (`translate.semantic_b`): B's translations into A keep
the class a reader of B is sure of in their B image."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganops.config import Params, TranslateConfig, params_hash
from ganops.translation.loop import build_translator, translator_spec, unpaired_step
from ganops.translation.terms import SURE, sure_semantic_loss
from tests.translation.test_semantic import Brightness, Flipped


class Unsure(nn.Module):
    """A reader that is never sure: every class equally likely."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images), 2) + 0 * images.mean()


def test_the_term_counts_only_the_inputs_the_reader_is_sure_of() -> None:
    inputs = torch.tensor([2.0, -2.0, 0.01, -0.01]).view(4, 1, 1, 1).expand(4, 1, 8, 8)
    sure = torch.softmax(Brightness()(inputs), 1).amax(1) >= SURE
    assert sure.tolist() == [True, True, False, False]  # 0.01: logits of 0.1, not sure
    translations = -inputs  # every class flipped, in A's classifier's eyes
    loss = sure_semantic_loss(Brightness(), inputs, Brightness(), translations)
    each = F.cross_entropy(Brightness()(translations), torch.tensor([1, 0, 1, 0]), reduction="none")
    assert float(loss) == pytest.approx(float(each[:2].sum() / 4))  # the mean over the batch
    kept = sure_semantic_loss(Brightness(), inputs, Flipped(), translations)
    assert float(kept) < 1e-6 < 4 < float(loss)  # what A's classifier reads is what counts
    assert float(sure_semantic_loss(Unsure(), inputs, Brightness(), translations)) == 0.0


def _step(semantic_b: float, reader: nn.Module) -> tuple[dict[str, torch.Tensor], float]:
    """G_ba's weights after one CycleGAN step, and the term's value."""
    cfg = TranslateConfig(
        source="mnist-5k", width=4, blocks=1, pool_size=2, semantic_classifier="handmade",
        semantic_b=semantic_b,
    )  # fmt: skip
    spec = translator_spec(cfg, paired=False, channels=1, size=16)
    state = build_translator(cfg, spec, paired=False, device=torch.device("cpu"))
    state.classifier, state.translation_classifier = Brightness(), reader
    rng = torch.Generator().manual_seed(0)
    a = torch.rand(4, 1, 16, 16, generator=rng) * 2 - 1
    b = torch.cat([torch.full((2, 1, 16, 16), 0.9), torch.full((2, 1, 16, 16), -0.9)])
    losses = unpaired_step(state, cfg, a, b)
    return {k: v.clone() for k, v in state.generators["ba"].state_dict().items()}, losses[
        "loss_semantic_b"
    ]


def test_the_term_moves_g_ba_only_where_the_reader_is_sure() -> None:
    without, off = _step(0.0, Brightness())
    with_term, value = _step(5.0, Brightness())
    assert off == 0.0 and value > 0
    assert any(not torch.equal(without[k], with_term[k]) for k in without)
    unsure, nothing = _step(5.0, Unsure())
    assert nothing == 0.0 and all(torch.equal(without[k], unsure[k]) for k in without)


def test_the_term_on_is_another_hash() -> None:
    """Off, it is left out of the hash (tests/translation/test_cut.py checks the hashes of runs
    recorded before it came); on, a run is another run."""
    translate = {"source": "mnist-5k", "semantic": 1.0, "semantic_classifier": "handmade"}
    off = params_hash(Params.model_validate({"task": "translate", "translate": translate}))
    on = translate | {"semantic_b": 1.0}
    assert params_hash(Params.model_validate({"task": "translate", "translate": on})) != off
