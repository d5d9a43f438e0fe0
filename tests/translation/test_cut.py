"""CUT (`translate.method: cut`): PatchNCE itself, the layers it reads, one step, and the
seven stages on a real tiny MNIST -> UCI run, with exact resume and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from ganops.config import Params, TranslateConfig, params_hash
from ganops.errors import ConfigError
from ganops.translation.apply import load_any_translator
from ganops.translation.artifact import load_translator
from ganops.translation.contrastive import (
    CUT_METRICS,
    PatchHeads,
    encode,
    nce_layers,
    patch_nce,
    sample_positions,
)
from ganops.translation.loop import build_translator, cut_step, translator_spec
from ganops.translation.networks import ResnetGenerator, TranslatorSpec
from tests.helpers import (
    STAGE_ARGS,
    STAGE_NAMES,
    load_stage,
    private_copy,
    run_stages_in,
    write_params,
)
from tests.resume import MODEL, killed_then_resumed
from tests.translation.test_translate_stages import UNPAIRED, digest

CPU = torch.device("cpu")
# 16 patches a layer: the heads' work grows with batch x patches, and at 64 a tiny run of 23
# steps of 200 images spent 71 s of the train stage's 80 in its steps (36 s in all at 16)
CUT = UNPAIRED | {"translate": UNPAIRED["translate"] | {"method": "cut", "nce_patches": 16}}


def test_the_layers_are_the_input_each_down_sampling_and_two_residual_blocks() -> None:
    spec = TranslatorSpec("resnet", 1, 1, 28, 8, 2, 4)
    generator = ResnetGenerator(spec)
    layers = nce_layers(generator)
    body = list(generator.net)
    assert layers == (0, 4, 7, 10, 12)  # pad; the two stride-2 convolutions; blocks 1 and 3
    assert isinstance(body[0], nn.ReflectionPad2d)
    sides = [f.shape[-1] for f in encode(generator, torch.zeros(2, 1, 28, 28), layers)]
    assert sides == [34, 14, 7, 7, 7]


def test_patchnce_is_low_for_the_same_place_and_high_for_another() -> None:
    """Each query patch must pick its key at its own place: near 0 when the features are the
    key's, about log(P) and more when every patch is matched to another place's key."""
    torch.manual_seed(0)
    batch, places, dim = 2, 16, 32
    key = nn.functional.normalize(torch.randn(batch * places, dim), dim=1)
    same = patch_nce(key.clone(), key, batch)
    shifted = key.view(batch, places, dim).roll(1, dims=1).reshape(-1, dim)
    other = patch_nce(shifted, key, batch)
    assert float(same) < 0.01
    assert float(other) > float(torch.log(torch.tensor(places)))


def test_the_keys_carry_no_gradient() -> None:
    query = torch.randn(8, 4, requires_grad=True)
    key = torch.randn(8, 4, requires_grad=True)
    patch_nce(query, key, 2).backward()  # type: ignore[no-untyped-call]
    assert query.grad is not None and key.grad is None


def test_the_positions_are_a_function_of_the_seed_and_never_more_than_the_map() -> None:
    maps = [torch.zeros(1, 1, 34, 34), torch.zeros(1, 1, 7, 7)]
    first, again = sample_positions(maps, 64, 3), sample_positions(maps, 64, 3)
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))
    assert [len(p) for p in first] == [64, 49]
    assert len(set(first[0].tolist())) == 64
    assert not torch.equal(first[0], sample_positions(maps, 64, 4)[0])


def _state(cfg: TranslateConfig) -> Any:
    spec = translator_spec(cfg, paired=False, channels=1, size=28)
    return build_translator(cfg, spec, paired=False, device=CPU)


def test_a_cut_state_has_one_generator_one_judge_and_heads_in_gs_optimiser() -> None:
    cfg = TranslateConfig(source="mnist-5k", method="cut", width=8, blocks=2, nce_patches=16)
    state = _state(cfg)
    assert state.method == "cut" and set(state.generators) == {"ab"}
    assert set(state.discriminators) == {"b"} and state.pools == {}
    assert isinstance(state.heads["nce"], PatchHeads)
    in_g = {id(p) for group in state.optimizer_g.param_groups for p in group["params"]}
    assert all(id(p) in in_g for p in state.heads["nce"].parameters())
    assert "heads" in state.state_dict()


def test_one_step_moves_the_generator_and_the_heads_and_is_deterministic() -> None:
    cfg = TranslateConfig(source="mnist-5k", method="cut", width=8, blocks=2, nce_patches=16)
    a = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    b = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(2)) * 2 - 1
    results = []
    for _ in range(2):
        state = _state(cfg)
        before = {k: v.clone() for k, v in state.heads["nce"].state_dict().items()}
        g_before = {k: v.clone() for k, v in state.generators["ab"].state_dict().items()}
        losses = cut_step(state, cfg, a, b)
        assert set(losses) == set(CUT_METRICS) and losses["loss_nce"] > 0
        heads = state.heads["nce"].state_dict()
        assert any(not torch.equal(before[k], heads[k]) for k in before)
        g_after = state.generators["ab"].state_dict()
        assert any(not torch.equal(g_before[k], g_after[k]) for k in g_before)
        results.append(losses)
    assert results[0] == results[1]


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where the seven stages ran MNIST -> UCI digits with CUT (tiny)."""
    base = tmp_path_factory.mktemp("cut")
    run_stages_in(base, STAGE_NAMES, CUT)
    return base


@pytest.mark.slow
def test_the_stages_train_score_and_publish_a_one_way_translator(cut_run: Path) -> None:
    generators, spec = load_translator(cut_run / "data/models/model.pt")
    assert set(generators) == {"ab"} and spec.arch == "resnet"
    metrics = json.loads((cut_run / "data/train/metrics.json").read_text())
    assert {"loss_nce", "loss_nce_identity", "quick_fid"} <= set(metrics)
    assert metrics["loss_nce"] > 0 and "loss_cycle" not in metrics
    history = (cut_run / "data/train/history.tsv").read_text().splitlines()
    assert history[0].split("\t")[1:] == list(CUT_METRICS)
    assert (cut_run / "data/samples/grid.png").stat().st_size > 0
    scores = json.loads((cut_run / "data/eval/metrics.json").read_text())
    assert set(scores) == {"translation", "identity", "handmade"}
    assert 0 <= scores["translation"]["label_preservation"] <= 1
    summary = json.loads((cut_run / "data/downstream/metrics.json").read_text())
    assert {"source", "translated", "handmade"} <= set(summary)


@pytest.mark.slow
def test_the_published_translator_has_no_way_back(cut_run: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("holds only ab (a paired or CUT translator")):
        load_any_translator(str(cut_run / "data/models/model.pt"), "ba", CPU)


@pytest.mark.slow
def test_a_sigkilled_cut_run_resumes_to_the_same_bytes(
    cut_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heads and the sampled patches resume too: the bytes of the uninterrupted run."""
    private_copy(cut_run, tmp_path, monkeypatch)
    write_params(Path("params.yaml"), CUT)
    killed_then_resumed()
    assert digest(MODEL) == digest(cut_run / MODEL)


@pytest.mark.parametrize(
    ("translate", "message"),
    [
        ({"method": "cut"}, "translate.method: cut translates unpaired domains"),
        ({"method": "cut", "source": "mnist-5k", "generator": "unet"}, "cut needs the resnet"),
        ({"method": "cycle"}, "translate.method"),
        ({"source": "mnist-5k", "nce_patches": 0}, "translate.nce_patches"),
    ],
)
def test_bad_cut_params_are_one_line_errors(
    translate: dict[str, Any], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    write_params(Path("params.yaml"), {"task": "translate", "translate": translate})
    assert load_stage("fetch").main(STAGE_ARGS["fetch"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0], error
    assert not Path("data").exists()


# params hashes of two translate tasks, recorded before `method`, `nce` and `nce_patches` came
RECORDED_HASHES = {"paired": "e7e9f16d0b9f987d", "unpaired": "abfb697d4fe2590a"}


def test_the_new_keys_at_their_defaults_keep_the_hashes_runs_were_recorded_with() -> None:
    """A CycleGAN or pix2pix run recorded before CUT came keeps its hash (its checkpoint
    resumes, `ganops report` finds it); CUT itself is another hash."""
    paired: dict[str, Any] = {"task": "translate"}
    unpaired = {
        "task": "translate",
        "translate": {"source": "mnist-5k", "semantic": 1.0, "epochs": 3},
    }
    assert params_hash(Params.model_validate(paired)) == RECORDED_HASHES["paired"]
    assert params_hash(Params.model_validate(unpaired)) == RECORDED_HASHES["unpaired"]
    cut = unpaired | {"translate": unpaired["translate"] | {"method": "cut"}}
    assert params_hash(Params.model_validate(cut)) != RECORDED_HASHES["unpaired"]
