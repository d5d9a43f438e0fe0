"""The registered text-to-image model served by the real `mlflow models serve` (texts, a count
and a seed in one request, the images out): trained through the real stages (tiny), served
from its workspace as docs/text.md says, and called over HTTP on 127.0.0.1. Its answers are
the images the model's file draws, and `ganops sample --text` writes the same pixels; the
same seed gives the same images; a bad request is a short 400 that names the cause, and the
server answers `/ping` after. `ganops sample --text` draws from the registered model (by version,
alias or run) the bytes it draws from the model's file, and names a version that is not there
or another task's model in one line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch

from ganops.cli import main
from ganops.models import GeneratorSpec, build_generator
from ganops.sampling import to_uint8
from ganops.text.artifact import load_text_model
from ganops.tracking.model import log_generator_model
from tests.helpers import ROOT, served_tiny_run, train_record
from tests.pipeline.test_serve_hostile import post, refused
from tests.text.test_text_stages import TINY_TEXT

pytestmark = pytest.mark.slow

# the tiny text run's data (so its vocabulary), one epoch; the evaluator's accuracy does not
# matter to serving, so its bar is off
SERVED = TINY_TEXT | {
    "text": TINY_TEXT["text"] | {"epochs": 1},
    "evaluator": {"epochs": 1, "min_accuracy": 0.0},
}
MODEL = "models:/ganops-text/1"  # tracking.registered_text
SEVEN = "a thick seven leaning to the right"
ONE = "a thin upright one"
# the request docs/text.md's curl command sends
DOCS_REQUEST = {"inputs": {"text": SEVEN, "count": 4, "seed": 0}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The URL of `mlflow models serve` serving the model a tiny text run registered, and the
    run's workspace."""
    with served_tiny_run(tmp_path_factory, "served_text", MODEL, SERVED) as served:
        yield served


def _body(inputs: Any) -> bytes:
    return json.dumps({"inputs": inputs}).encode()


def _images(url: str, body: bytes) -> np.ndarray:
    answer = post(url, body)
    assert answer.status_code == 200, answer.text[:2000]
    return np.asarray(answer.json()["predictions"], dtype=np.float32)


def _sampled(workspace: Path, texts: list[str], count: int, seed: int, *extra: str) -> np.ndarray:
    """What `ganops sample --text` writes for `texts` with the run's model file."""
    out = workspace / f"sampled-{seed}-{count}-{len(texts)}.npy"
    argv = ["sample", "--model", str(workspace / "data/models/model.pt"), "-n", str(count),
            "--seed", str(seed), "--out", str(out), *extra]  # fmt: skip
    for text in texts:
        argv += ["--text", text]
    assert main(argv) == 0
    return np.load(out)


def test_the_run_registers_the_model_it_writes(served: tuple[str, Path]) -> None:
    _, workspace = served
    record = train_record(workspace / "data/train/run.json")
    mlflow.set_tracking_uri(f"sqlite:///{workspace / 'mlflow.db'}")
    version = mlflow.MlflowClient().get_model_version("ganops-text", "1")
    assert version.run_id == record["run_id"]
    assert record["model_uri"] == f"models:/{mlflow.models.get_model_info(MODEL).model_uuid}"
    assert version.description.startswith("A text-to-image generator")
    assert version.tags["params.hash"] == record["params_hash"]


def test_the_served_model_draws_what_its_file_and_ganops_sample_draw(
    served: tuple[str, Path],
) -> None:
    url, workspace = served
    model = load_text_model(workspace / "data/models/model.pt")
    # the request docs/text.md shows: one text, four images, seed 0
    shown = re.search(r"curl -s http://127.0.0.1:5004/invocations .* -d '(.*?)'",
                      (ROOT / "docs/text.md").read_text())  # fmt: skip
    assert shown is not None and json.loads(shown.group(1)) == DOCS_REQUEST
    docs = _images(url, json.dumps(DOCS_REQUEST).encode())
    assert docs.shape == (4, 1, 28, 28) and docs.min() >= -1 and docs.max() <= 1
    assert np.array_equal(docs, model.draw([SEVEN], 4, 0).numpy())
    # a list of texts: `count` images of each, text by text, as `ganops sample` draws them
    both = _images(url, _body({"text": [SEVEN, ONE], "count": 3, "seed": 7}))
    assert both.shape == (6, 1, 28, 28)
    assert np.array_equal(both, model.draw([SEVEN, ONE], 3, 7).numpy())
    assert np.array_equal(to_uint8(torch.from_numpy(both)), _sampled(workspace, [SEVEN, ONE], 3, 7))
    # the same seed, the same images; another seed, others
    assert np.array_equal(_images(url, _body({"text": [SEVEN, ONE], "count": 3, "seed": 7})), both)
    other = _images(url, _body({"text": [SEVEN, ONE], "count": 3, "seed": 8}))
    assert not np.array_equal(other, both)
    # count and seed left out: one image, from seed 0
    assert np.array_equal(_images(url, _body({"text": SEVEN})), model.draw([SEVEN], 1, 0).numpy())


def _sample(workspace: Path, model: str, out: Path, *extra: str) -> int:
    """`ganops sample --model MODEL --out OUT ...` from the workspace, on its store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workspace)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workspace / 'mlflow.db'}")
        return main(["sample", "--model", model, "--out", str(out), *extra])


def test_ganops_sample_draws_from_the_registry_what_the_file_draws(
    served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, workspace = served
    record = train_record(workspace / "data/train/run.json")
    mlflow.set_tracking_uri(f"sqlite:///{workspace / 'mlflow.db'}")
    mlflow.MlflowClient().set_registered_model_alias("ganops-text", "champion", "1")
    texts = ["--text", SEVEN, "--text", ONE]
    from_file = _sampled(workspace, [SEVEN, ONE], 3, 7)
    for model in (MODEL, "models:/ganops-text@champion", f"runs:/{record['run_id']}/text"):
        out = tmp_path / f"{model.replace('/', '_').replace(':', '_')}.npy"
        assert _sample(workspace, model, out, "-n", "3", "--seed", "7", *texts) == 0, model
        assert np.array_equal(np.load(out), from_file), model
    # the command docs/text.md shows: a PNG, byte for byte the file's
    shown = re.search(r"ganops sample --model models:/ganops-text/1 --out (\S+) --text \"(.*?)\"",
                      (ROOT / "docs/text.md").read_text())  # fmt: skip
    assert shown is not None and shown.group(2) == SEVEN
    png = {}
    for model in (MODEL, str(workspace / "data/models/model.pt")):
        png[model] = tmp_path / f"{len(png)}-{shown.group(1)}"
        assert _sample(workspace, model, png[model], "--text", SEVEN) == 0
    assert png[MODEL].read_bytes() == png[str(workspace / "data/models/model.pt")].read_bytes()
    # a word the model never saw names the model it was asked of
    capsys.readouterr()
    assert _sample(workspace, MODEL, tmp_path / "x.npy", "--text", "a purple seven") == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "'purple'" in said[0] and MODEL in said[0], said


def test_a_missing_version_or_another_tasks_model_is_one_line(
    served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, workspace = served
    mlflow.set_tracking_uri(f"sqlite:///{workspace / 'mlflow.db'}")
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))  # an untrained generator, registered
    if not mlflow.MlflowClient().search_model_versions("name = 'ganops-generator'"):
        with mlflow.start_run():
            log_generator_model(build_generator(spec).eval(), spec, "ganops-generator")
    cases = [
        ("models:/ganops-text/9", ["--text", SEVEN],
         "cannot load MLflow model models:/ganops-text/9"),
        ("models:/ganops-text@nobody", ["--text", SEVEN], "models:/ganops-text@nobody"),
        ("models:/ganops-generator/1", ["--text", SEVEN],
         "models:/ganops-generator/1: not a ganops text-to-image model"),
        (MODEL, [], f"{MODEL}: a text-to-image model, not a generator; draw with --text"),
    ]  # fmt: skip
    for model, extra, message in cases:
        capsys.readouterr()
        out = tmp_path / "never.npy"
        assert _sample(workspace, model, out, *extra) == 1, model
        said = capsys.readouterr().err.strip().splitlines()
        assert len(said) == 1 and message in said[0], said
        assert not out.exists()


def test_unknown_words_read_as_unknown_when_the_request_says_map(
    served: tuple[str, Path],
) -> None:
    url, workspace = served
    text = "a thick purple seven"
    mapped = _images(url, _body({"text": text, "count": 2, "seed": 3, "unknown": "map"}))
    sampled = _sampled(workspace, [text], 2, 3, "--unknown-words", "map")
    assert np.array_equal(to_uint8(torch.from_numpy(mapped)), sampled)


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        ({"text": "a thick purple seven"}, "words the model never saw: 'purple'; its vocabulary "
         "(inside the served model's file, its train run's data/models/model.pt)"),
        ({"text": ["a thin one", "a zebra on a xylophone"]},
         "words the model never saw: 'on', 'xylophone', 'zebra'"),
        ({"text": ""}, "text 0 is empty: a text needs at least one word"),
        ({"text": [SEVEN, "   ,, !"]}, "text 1 is empty"),
        ({"text": " ".join(["seven"] * 40)}, "text 0 has 40 words; the model reads at most 32"),
        ({"text": SEVEN, "count": 0}, "count: 0 is not from 1 to 1024"),
        ({"text": SEVEN, "count": -3}, "count: -3 is not from 1 to 1024"),
        ({"text": SEVEN, "count": 1025}, "count: 1025 is not from 1 to 1024"),
        ({"text": [SEVEN, ONE], "count": 600},
         "count: 600 images of 2 texts is 1200; at most 1024"),
        ({"text": SEVEN, "count": 2.5}, "count: expected a whole number from 1 to 1024; got 2.5"),
        ({"text": SEVEN, "seed": 1.5},
         "seed: expected a whole number from 0 to 9223372036854775807; got 1.5"),
        ({"text": SEVEN, "seed": "7"}, "seed: expected a whole number from 0 to"),
        ({"text": SEVEN, "seed": True}, "seed: expected a whole number from 0 to"),
        ({"text": SEVEN, "seed": [1, 2]}, "seed: expected a whole number from 0 to"),
        ({"text": SEVEN, "seed": -1}, "seed: -1 is not from 0 to 9223372036854775807"),
        ({"text": SEVEN, "seed": 2**64}, "seed: 18446744073709551616 is not from 0 to"),
        ({"count": 2}, "inputs: no 'text'"),
        ({"text": SEVEN, "colour": "red"}, "inputs: unknown field 'colour'"),
        ({"text": 7}, "text: expected a text or a list of texts; got int values"),
        ({"text": [[SEVEN]]}, "text: expected a text or a list of texts; got an array of 2"),
        ({"text": []}, "text: no text; give 1 to 64"),
        ({"text": [ONE] * 65}, "text: 65 texts; at most 64 per request"),
        ({"text": SEVEN, "unknown": "ignore"}, "unknown: expected 'error' or 'map'"),
        ([SEVEN], 'inputs: expected an object {"text"'),
    ],
    ids=["unknown-word", "unknown-words", "empty", "no-words", "too-long", "count-0",
         "count-negative", "count-1025", "count-times-texts", "count-float", "seed-float",
         "seed-text", "seed-bool", "seed-list", "seed-negative", "seed-2**64", "no-text",
         "unknown-field", "text-number", "text-nested", "no-texts", "65-texts",
         "unknown-rule", "not-an-object"],
)  # fmt: skip
def test_a_bad_request_is_a_short_400_that_names_the_cause(
    served: tuple[str, Path], inputs: Any, said: str
) -> None:
    url, _ = served
    message = refused(url, _body(inputs))
    assert said in message, message


@pytest.mark.parametrize(
    ("body", "said", "status"),
    [
        (_body({"text": [SEVEN] * 300_000}), "bytes: at most 8388608", 413),
        (b'{"inputs": {"text": "a seven", "seed": NaN}}', "holds NaN", 400),
        (b'{"inputs": {"text": "a seven", "count": Infinity}}', "holds Infinity", 400),
        (b'{"inputs": {"text": ' + b"[" * 1000 + b"]" * 1000 + b"}}", "nests arrays", 400),
        (b'{"inputs": {"text": "a seven"', "valid JSON", 400),
        (b'{"text": "a seven", "count": 2}', "inputs", 400),
    ],
    ids=["9-mb", "nan-seed", "infinite-count", "deep", "truncated", "no-inputs"],
)
def test_the_guard_answers_a_hostile_body_with_a_short_4xx(
    served: tuple[str, Path], body: bytes, said: str, status: int
) -> None:
    url, _ = served
    message = refused(url, body, status=status)
    assert said in message, message
