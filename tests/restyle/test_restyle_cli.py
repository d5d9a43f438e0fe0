"""`ganops restyle` over a user's images: a folder or an array of content images, one style
image or several, written as a folder, an array or a grid; the outputs are the restyler's
own (the network called directly on the same pairs), and bad input is one line naming it.
The restyler is a seeded, untrained one: what is tested is the command, not the training
(tests/restyle/test_restyle_serve.py runs it with a trained, registered one)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganops.cli import main
from ganops.restyle.artifact import save_restyler
from ganops.restyle.networks import RestylerSpec, build_networks, restyle_images
from ganops.sampling import to_uint8

PROGRESS = re.compile(r"\w+:\s+\d+%\|[^\r\n]*?(?:it|img|style)/s\]")  # a tqdm bar
SPEC = RestylerSpec(channels=1, image_size=12, width=4, style_dim=2, blocks=1, num_classes=3)


def _to_float(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1)


def expected(model: Path, content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """uint8 outputs of the restyler file on each content image in the one `style` `(C, H, W)`."""
    from ganops.restyle.artifact import load_restyler

    restyler = load_restyler(model)
    styles = np.repeat(style[None], len(content), axis=0)
    return to_uint8(restyle_images(restyler, _to_float(content), _to_float(styles)))


def _png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[0]).save(path)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A restyler file, and five content and three style images (uint8 `(N, 1, 12, 12)`)."""
    restyler, _ = build_networks(SPEC, seed=3)
    save_restyler(tmp_path / "model.pt", restyler)
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (5, 1, 12, 12), dtype=np.uint8)
    styles = rng.integers(0, 256, (3, 1, 12, 12), dtype=np.uint8)
    return tmp_path / "model.pt", content, styles


def test_a_content_folder_in_one_style_is_a_folder_of_the_same_names(
    setup: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    model, content, styles = setup
    names = ["a/0.png", "a/1.png", "b/2.png", "b/3.png", "4.png"]
    for name, image in zip(names, content, strict=True):
        _png(tmp_path / "digits" / name, image)
    _png(tmp_path / "style.png", styles[0])
    out = tmp_path / "restyled"
    args = ["restyle", "--model", str(model), str(tmp_path / "digits"), str(tmp_path / "style.png")]
    assert main([*args, str(out)]) == 0
    want = expected(model, content, styles[0])
    for name, image in zip(names, want, strict=True):
        assert np.array_equal(np.asarray(Image.open(out / name))[None], image), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["producer"] == "ganops restyle" and manifest["styles"] == ["style"]
    assert sorted(manifest["files"]) == sorted(names)
    assert len(manifest["model_sha256"]) == 64


def test_several_styles_give_one_output_per_pair(
    setup: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    model, content, styles = setup
    np.save(tmp_path / "content.npy", content)
    for index, style in enumerate(styles):
        _png(tmp_path / "styles" / f"s{index}.png", style)
    args = ["restyle", "--model", str(model), str(tmp_path / "content.npy")]
    assert main([*args, str(tmp_path / "styles"), str(tmp_path / "out.npy")]) == 0
    outputs = np.load(tmp_path / "out.npy")
    assert outputs.shape == (3 * 5, 1, 12, 12) and outputs.dtype == np.uint8
    for index, style in enumerate(styles):  # style-major: output s * N + n
        assert np.array_equal(outputs[5 * index : 5 * index + 5], expected(model, content, style))
    # a folder out: one sub-folder per style, named by the style's file
    assert main([*args, str(tmp_path / "styles"), str(tmp_path / "by_style")]) == 0
    written = sorted(p.relative_to(tmp_path / "by_style").as_posix()
                     for p in (tmp_path / "by_style").rglob("*.png"))  # fmt: skip
    assert written == [f"s{s}/{n:04d}.png" for s in range(3) for n in range(5)]
    again = np.asarray(Image.open(tmp_path / "by_style/s2/0004.png"))
    assert np.array_equal(again, outputs[2 * 5 + 4, 0])
    # a .png grid: the styles along the top, the contents down the left
    assert main([*args, str(tmp_path / "styles"), str(tmp_path / "grid.png")]) == 0
    width, height = Image.open(tmp_path / "grid.png").size
    assert (width - 2) / (1 + 3) == (height - 2) / (1 + 5)  # a corner, 3 styles; 5 contents


def _bad_inputs(tmp_path: Path, content: np.ndarray, styles: np.ndarray) -> dict[str, Path]:
    np.save(tmp_path / "content.npy", content)
    np.save(tmp_path / "wide.npy", np.zeros((2, 1, 16, 16), dtype=np.uint8))
    np.save(tmp_path / "colour.npy", np.zeros((2, 3, 12, 12), dtype=np.uint8))
    _png(tmp_path / "style.png", styles[0])
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(tmp_path / "big_style.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png at all")
    torch.save({"format": "ganops-translator/1"}, tmp_path / "translator.pt")
    return {name: tmp_path / name for name in ("content.npy", "wide.npy", "colour.npy",
            "style.png", "big_style.png", "empty", "broken", "translator.pt")}  # fmt: skip


@pytest.mark.parametrize(
    ("content", "style", "out", "model", "said"),
    [
        ("wide.npy", "style.png", "o.npy", None, "CONTENT"),
        ("colour.npy", "style.png", "o.npy", None, "images are (3, 12, 12) (C, H, W)"),
        ("content.npy", "big_style.png", "o.npy", None, "STYLE"),
        ("content.npy", "wide.npy", "o.png", None, "but this restyler takes (1, 12, 12)"),
        ("empty", "style.png", "o", None, "the folder has no images"),
        ("content.npy", "empty", "o", None, "the folder has no images"),
        ("broken", "style.png", "o", None, "x.png"),
        ("content.npy", "missing.png", "o", None, "STYLE: "),
        ("content.npy", "style.png", "o.txt", None, "OUT: use a folder or one of"),
        ("content.npy", "style.png", "content.npy", None, "is CONTENT itself"),
        ("content.npy", "style.png", "o", "translator.pt", "not a ganops restyler"),
    ],
    ids=["wide-content", "colour-content", "big-style", "wide-styles-grid", "empty-content",
         "empty-styles", "corrupt-file", "no-style", "bad-suffix", "out-is-content",
         "not-a-restyler"],
)  # fmt: skip
def test_bad_input_is_one_line_that_names_it(
    setup: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], content: str, style: str, out: str, model: str | None,
    said: str,
) -> None:  # fmt: skip
    restyler, images, styles = setup
    files = _bad_inputs(tmp_path, images, styles)
    model_file = files[model] if model else restyler
    argv = ["restyle", "--model", str(model_file), str(files.get(content, tmp_path / content)),
            str(files.get(style, tmp_path / style)), str(tmp_path / out)]  # fmt: skip
    assert main(argv) != 0
    # one line, the error (the progress bar of reading a folder drawn around it aside)
    lines = [line for line in PROGRESS.sub("", capsys.readouterr().err).splitlines() if line]
    assert len(lines) == 1 and said in lines[0], lines
    assert not (tmp_path / out).exists() or out == "content.npy"
