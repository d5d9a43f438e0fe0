"""The `ganops restyle` command (its logic is `ganops.restyle.apply`):

ganops restyle --model data/models/model.pt digits/ style.png restyled/
ganops restyle --model models:/ganops-restyler/1 digits.npy styles/ restyled.npy
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganops.device import resolve_device
from ganops.errors import ConfigError

log = logging.getLogger("ganops")
ARRAY_SUFFIXES = (".npy", ".npz", ".png")


def cmd_restyle(args: argparse.Namespace) -> None:
    from ganops.restyle.apply import (
        grid,
        load_any_restyler,
        provenance,
        read_content,
        read_styles,
        restyle_all,
        write_array,
        write_folder,
    )
    from ganops.sampling import save_png

    out = Path(args.out)
    folder = not out.suffix
    if not folder and out.suffix not in ARRAY_SUFFIXES:
        raise ConfigError(
            f"OUT: use a folder or one of {', '.join(ARRAY_SUFFIXES)} (got {out.name})"
        )
    for given, what in ((args.content, "CONTENT"), (args.style, "STYLE")):
        if out.resolve() == given.resolve():
            raise ConfigError(f"OUT: {out} is {what} itself; name another place")
        if not given.exists():
            raise ConfigError(f"{what}: {given} does not exist")
    device = resolve_device(args.device, key="--device")
    restyler = load_any_restyler(args.model, device)
    content, styles = read_content(args.content), read_styles(args.style)
    if out.suffix == ".png":
        save_png(out, grid(restyler, content, styles, device))
    else:
        outputs = restyle_all(restyler, content, styles, args.batch_size, device)  # (S, N, ...)
        if folder:
            about = provenance(args.model, args.content, args.style)
            write_folder(out, outputs, content, styles, about)
        else:
            write_array(out, outputs.reshape(-1, *outputs.shape[2:]))
    log.info("%d content images restyled in %d styles into %s", len(content.pixels),
             len(styles.pixels), out)  # fmt: skip


def add_restyle_command(commands: Any, positive: Callable[[str], int]) -> None:
    """`ganops restyle` on the `ganops` command's sub-parsers."""
    restyle = commands.add_parser(
        "restyle", help="draw images in the style of a style image, with a trained restyler"
    )
    restyle.add_argument(
        "--model",
        required=True,
        help="restyler path (data/models/model.pt after a task: restyle run) or MLflow model "
        "URI (models:/ganops-restyler/1)",
    )
    restyle.add_argument(
        "content", type=Path, help="folder of content images (sub-folders kept), or .npy/.npz"
    )
    restyle.add_argument(
        "style",
        type=Path,
        help="one style image (PNG, JPEG ...), or a folder or .npy/.npz of style images: "
        "each content image is drawn in each style",
    )
    restyle.add_argument(
        "out",
        help="a folder (PNGs at the content's names, one sub-folder per style when there are "
        "several, with a manifest.json); .npy or .npz (output s*N+n: content n in style s); "
        "or a .png grid (styles along the top, contents down the left)",
    )
    restyle.add_argument("--batch-size", type=positive, default=500, help="pairs per forward")
    restyle.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    restyle.set_defaults(handler=cmd_restyle)
