"""The text task on a user's own folder of captioned images (`data.folder`): real tiny runs of
the seven stages on generated folders of coloured shapes, in each caption layout, and the
folder's errors stopping fetch in one line before anything is written."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ganops.cli import main as cli_main
from ganops.data.dataset import Split
from ganops.params import load_params
from ganops.text.captions import Caption
from ganops.text.corpus import CaptionedSplit, Corpus, load_corpus
from ganops.text.grid import grid_prompts
from ganops.text.scoring import caption_pools, retrieve
from ganops.text.vocab import Vocabulary
from tests.helpers import (
    STAGE_ARGS,
    STAGE_NAMES,
    load_script,
    load_stage,
    run_stages_in,
    write_params,
)

COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 50)}
SHAPES = ("circle", "square")
SIZES = {"small": 10, "large": 17}  # half the side of the shape, px of a 40 px image


def _shape(shape: str, colour: str, size: str, shift: int) -> Image.Image:
    image = Image.new("RGB", (40, 40), (245, 245, 240))
    pen = ImageDraw.Draw(image)
    half, centre = SIZES[size], 20 + shift
    box = (centre - half, centre - half, centre + half, centre + half)
    (pen.ellipse if shape == "circle" else pen.rectangle)(box, fill=COLOURS[colour])
    return image


def make_folder(root: Path, layout: str, classes: bool) -> dict[str, list[str]]:
    """36 images of coloured shapes (every shape, colour and size, three places each), in class
    sub-folders by shape when `classes`, with their captions in `layout`: `metadata.jsonl`,
    `metadata.csv` or `txt`. A large shape has two captions. Returns image -> captions."""
    captions: dict[str, list[str]] = {}
    for shape in SHAPES:
        for colour in COLOURS:
            for size in SIZES:
                for shift in (-2, 0, 2):
                    name = f"{colour}_{size}_{shift + 2}.png"
                    name = f"{shape}/{name}" if classes else f"{shape}_{name}"
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    _shape(shape, colour, size, shift).save(root / name)
                    texts = [f"a {size} {colour} {shape}"]
                    if size == "large":
                        texts.append(f"a big {colour} {shape}")
                    captions[name] = texts
    rows = [(name, text) for name, texts in captions.items() for text in texts]
    if layout == "metadata.jsonl":
        lines = [json.dumps({"file_name": name, "text": text}) for name, text in rows]
        (root / layout).write_text("\n".join(lines) + "\n")
    elif layout == "metadata.csv":
        with (root / layout).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", "text"])
            writer.writerows(rows)
    else:
        for name, texts in captions.items():
            (root / name).with_suffix(".txt").write_text("\n".join(texts) + "\n")
    return captions


def tiny_folder_params(folder: Path, image_size: int) -> dict[str, Any]:
    return {
        "task": "text",
        "data": {"folder": str(folder), "image_size": image_size, "test_size": 8},
        "evaluator": {"epochs": 2, "min_accuracy": 0.0},
        "eval": {"kid_subset_size": 4},
        "text": {"epochs": 2, "batch_size": 16, "width": 4, "noise_dim": 4, "embed_dim": 8,
                 "matching_epochs": 1},
    }  # fmt: skip


def _check_run(base: Path, captions: dict[str, list[str]], image_size: int) -> None:
    corpus = load_corpus(base / "data/processed")
    assert not corpus.has_digits and corpus.bins is None
    # 36 images, 8 in the test split; a large shape keeps both captions in its split
    train_images = np.load(base / "data/processed/train_images.npy")
    assert train_images.shape == (28, 3, image_size, image_size)
    pairs = len(corpus.train.captions) + len(corpus.test.captions)
    assert pairs == sum(len(texts) for texts in captions.values()) == 54
    assert corpus.train.split.images.shape[0] == len(corpus.train.captions)
    assert set(corpus.vocabulary.words) <= {w for t in corpus.train.texts for w in t.split()}
    assert {"red", "circle", "square"} <= set(corpus.vocabulary.words)
    # colour kept: a red caption's image is red where a blue one's is blue
    red = next(i for i, t in enumerate(corpus.test.texts) if "red" in t)
    pixels = corpus.test.split.images[red].reshape(3, -1).astype(int)
    assert (pixels[0] - pixels[2]).max() > 100
    samples = np.load(base / "data/samples/samples.npy")
    assert samples.shape == (len(corpus.test.captions), 3, image_size, image_size)
    prompts = grid_prompts(corpus.test.texts, digits=False)  # spread through the split
    assert len(set(prompts)) == min(8, len(set(corpus.test.texts)))
    assert {"circle", "square"} <= {prompt.split()[-1] for prompt in prompts}
    grid = Image.open(base / "data/samples/grid.png")
    rows = len(dict.fromkeys(corpus.test.texts))
    assert grid.size[1] > min(rows, 8) * image_size  # a row per test-caption prompt
    ways = json.loads((base / "data/eval/metrics.json").read_text())
    assert set(ways) == {"text_gan", "retrieval", "real_test"}
    for scores in ways.values():
        assert {"r_precision", "fid", "prompt_diversity"} <= set(scores)
        assert 0 <= scores["r_precision"] <= 1 and scores["fid"] >= 0
    assert ways["text_gan"]["prompt_diversity"] > 0
    assert ways["real_test"]["prompt_diversity"] is None  # one image a caption
    # retrieval: a training image of each test caption's own text (three places of every
    # shape, colour and size, so the training split holds each text the test split does)
    _, hits = retrieve(corpus, 0)
    assert set(ways["retrieval"]) - set(ways["text_gan"]) == {"fallback_shared_words"}
    assert ways["retrieval"]["fallback_shared_words"] == hits["shared_words"]
    picked, _ = retrieve(corpus, load_params(base / "params.yaml").eval.seed)
    same = [corpus.train.texts[i] == t for i, t in zip(picked, corpus.test.texts, strict=True)]
    assert sum(same) == len(same) - hits["shared_words"] >= len(same) - 2
    assert ways["retrieval"]["prompt_diversity"] >= 0
    assert (base / "data/train/fid.tsv").read_text().splitlines()[0].split("\t")[1:] == [
        "quick_fid"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("layout", "classes", "image_size"),
    [("metadata.jsonl", True, 32), ("txt", False, 32), ("metadata.csv", True, 64)],
)
def test_the_stages_run_on_a_captioned_folder(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], layout: str, classes: bool,
    image_size: int,
) -> None:  # fmt: skip
    folder = tmp_path / "shapes"
    captions = make_folder(folder, layout, classes)
    base = tmp_path / "work"
    base.mkdir()
    run_stages_in(base, STAGE_NAMES, tiny_folder_params(folder, image_size))
    _check_run(base, captions, image_size)
    copied = base / "data/raw"
    raw = [p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()]
    assert len([p for p in raw if p.endswith(".png")]) == 36  # the images and their captions
    assert (layout in raw) if layout != "txt" else len([p for p in raw if p.endswith(".txt")]) == 36
    said = capfd.readouterr().err
    assert "name no digit and no shape" in said and "retrieval by caption" in said
    assert ("no class sub-folders" in said) != classes
    assert "Failed to validate serving input example" not in said  # its words, not a digit's
    # ganops sample --text draws from the folder's model at its size, in colour
    out = tmp_path / "prompts.npy"
    model = str(base / "data/models/model.pt")
    assert cli_main(["sample", "--model", model, "-n", "2", "--out", str(out),
                     "--text", "a small red circle"]) == 0  # fmt: skip
    assert np.load(out).shape == (2, 3, image_size, image_size)


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        ("no_caption", "no caption"),
        ("empty_caption", "empty caption"),
        ("missing_file", "no such image in the folder"),
        ("mixed", "sit beside class sub-folders"),
        ("no_word", "has no word"),
        ("too_long", "a caption of 40 words"),
    ],
)
def test_a_bad_folder_stops_fetch_in_one_line_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    breakage: str, said: str,
) -> None:  # fmt: skip
    folder = tmp_path / "shapes"
    layout = "txt" if breakage in ("no_caption", "empty_caption", "no_word") else "metadata.jsonl"
    captions = make_folder(folder, layout, classes=True)
    first = next(iter(captions))
    if breakage == "no_caption":
        (folder / first).with_suffix(".txt").unlink()
    elif breakage == "empty_caption":
        (folder / first).with_suffix(".txt").write_text("\n  \n")
    elif breakage == "no_word":
        (folder / first).with_suffix(".txt").write_text("a red circle\n-- !\n")
    elif breakage == "too_long":
        with (folder / layout).open("a") as handle:
            handle.write(json.dumps({"file_name": first, "text": " ".join(["red"] * 40)}))
    elif breakage == "missing_file":
        with (folder / layout).open("a") as handle:
            handle.write(json.dumps({"file_name": "circle/gone.png", "text": "a red circle"}))
    else:  # an image beside the class sub-folders of the others
        _shape("circle", "red", "small", 0).save(folder / "top.png")
        with (folder / layout).open("a") as handle:
            handle.write(json.dumps({"file_name": "top.png", "text": "a small red circle"}))
    monkeypatch.chdir(tmp_path)
    write_params(Path("params.yaml"), tiny_folder_params(folder, 32))
    assert load_stage("fetch").main(STAGE_ARGS["fetch"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and said in error[0], error
    assert not Path("data/raw").exists()


def test_preprocess_refuses_the_raw_copy_of_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """data.folder changed after fetch copied a folder: preprocess says so in one line, and
    writes nothing."""
    folder, other = tmp_path / "shapes", tmp_path / "other"
    make_folder(folder, "metadata.jsonl", classes=True)
    shutil.copytree(folder, other)
    monkeypatch.chdir(tmp_path)
    write_params(Path("params.yaml"), tiny_folder_params(folder, 32))
    assert load_stage("fetch").main(STAGE_ARGS["fetch"]) == 0
    write_params(Path("params.yaml"), tiny_folder_params(other, 32))
    capsys.readouterr()
    assert load_stage("preprocess").main(STAGE_ARGS["preprocess"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert error[0].endswith(
        f"does not hold the captioned folder data.folder names ({other}); rerun the fetch stage"
    ), error
    assert not Path("data/processed").exists()


def test_a_size_the_networks_cannot_draw_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """36 px halves to 9, no side from 4 to 7: train refuses it before anything is written."""
    folder = tmp_path / "shapes"
    make_folder(folder, "txt", classes=True)
    params = tiny_folder_params(folder, 36)
    base = tmp_path / "work"
    base.mkdir()
    run_stages_in(base, STAGE_NAMES[:3], params)
    monkeypatch.chdir(base)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    capsys.readouterr()
    assert load_stage("train").main(STAGE_ARGS["train"]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "data.image_size" in error[0] and "36 px" in error[0]
    assert not (base / "data/models/model.pt").exists()


@pytest.mark.slow
def test_the_bench_draws_captioned_shapes_and_scores_a_real_run() -> None:
    """bench/text_folder.py: each image is the shape, colour and size its caption says, and a
    tiny real run of the stages' own commands on it reports the GAN beside the real images
    (its figures in docs/text.md)."""
    bench = load_script("bench", "text_folder")
    folder = Path(tempfile.mkdtemp())
    bench.make_captioned(folder, 16, 32)
    rows = [json.loads(line) for line in (folder / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and rows[1] == {"file_name": "circle/00001.png",
                                           "text": "a large red circle"}  # fmt: skip
    small, large = (np.asarray(Image.open(folder / f"circle/0000{i}.png")) for i in (0, 1))
    red = (small[..., 0] > 150) & (small[..., 2] < 100)
    assert 0 < red.sum() < (large[..., 0] > 150).sum()  # a small red circle, a larger one
    shutil.rmtree(folder)
    tiny = ["text.steps=3", "text.width=4", "text.noise_dim=4", "text.embed_dim=8",
            "text.matching_epochs=1", "text.batch_size=16", "evaluator.epochs=1",
            "evaluator.min_accuracy=0.0"]  # fmt: skip
    result = bench.run(40, 32, tiny)
    assert set(result["metrics"]) == {"text_gan", "retrieval", "real_test"}
    assert result["metrics"]["text_gan"].keys() == {"r_precision", "fid", "prompt_diversity"}
    assert list(result["seconds"]) == list(bench.STAGES)


def test_retrieval_by_caption_takes_the_same_text_else_the_most_shared_words() -> None:
    train = ["A small  red circle", "a small red circle", "a large blue square",
             "a big blue square", "a small green square", "a large green circle"]  # fmt: skip
    images_of = np.array([0, 0, 1, 1, 2, 3])  # image 0 has two captions, so has image 1
    test = ["a small RED circle", "a big blue square", "a tiny green square",
            "a large green triangle", "purple zebras"]  # fmt: skip
    pools, fallbacks = caption_pools(train, images_of, test)
    assert [pool.tolist() for pool in pools] == [
        [0],  # the same text, case and spacing aside: image 0 once, not once a caption
        [3],  # its own text, though "a large blue square" shares three of its words too
        [4],  # no such text: "a small green square" shares the most words (a, green, square)
        [5],  # a, large, green
        [0, 2, 4, 5],  # no word shared: every image, one row each
    ]
    assert fallbacks == {"shared_words": 3}
    tied = caption_pools(train, images_of, ["a blue square"])[0]  # images 1 (rows 2, 3)
    assert tied[0].tolist() == [2]
    tie = caption_pools(train, np.arange(6), ["a green"])[0]  # rows 4 and 5, two images
    assert tie[0].tolist() == [4, 5]
    # retrieve picks one of a pool's images per caption, seeded: the same seed the same
    # rows, and both tied images among 40 captions that tie
    corpus = _tiny_corpus(train, np.arange(6), ["a green"] * 40 + ["a small red circle"])
    picked, hits = retrieve(corpus, seed=3)
    assert hits == {"shared_words": 40} and picked[-1] in (0, 1)
    assert set(picked[:40].tolist()) == {4, 5}
    assert np.array_equal(picked, retrieve(corpus, seed=3)[0])
    assert not np.array_equal(picked, retrieve(corpus, seed=4)[0])
    # the images are the training rows' pixels: the GAN's row scores them alike
    assert np.array_equal(corpus.train.split.images[picked[:2]].reshape(2, -1)[:, 0], picked[:2])


def _tiny_corpus(train: list[str], images_of: np.ndarray, test: list[str]) -> Corpus:
    """A user's folder's corpus of `train` captions (row i's pixels all i) and `test` ones."""
    rows = np.arange(len(train), dtype=np.uint8)[:, None, None, None] * np.ones(
        (1, 1, 2, 2), np.uint8
    )
    split = Split(rows, np.zeros(len(train), dtype=np.int64), ("all",))
    test_split = Split(rows[:1].repeat(len(test), 0), np.zeros(len(test), np.int64), ("all",))

    def captions(texts: list[str]) -> list[Caption]:
        return [Caption(text, None, {}) for text in texts]

    return Corpus(
        CaptionedSplit(split, captions(train), {}, images_of),
        CaptionedSplit(test_split, captions(test), {}, np.arange(len(test))),
        None,
        Vocabulary.build(train),
    )
