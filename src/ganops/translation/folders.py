"""A user's own translation data set (`translate.folder`): both domains from one folder.

The layout is read from the folders that hold images (hidden ones and other files are skipped,
as by the `folder` source):

- paired folders: `A/` and `B/`, where `A/<name>` pairs with `B/<name>`;
- side-by-side (pix2pix): each image is A on its left half and B on its right half (so its
  width is even), in `train/` (and `test/`) or all at the top;
- unpaired (CycleGAN): `trainA/` and `trainB/`, with `testA/` and `testB/` optional.

A split given as a folder is kept: `train/` and `test/` of side-by-side images, and inside
`A/` and `B/` too (as pix2pix's `combine_A_and_B.py` takes them); `val/` is the test split
where there is no `test/`, and is not read beside one. A domain without a test split is split
here by `data.test_size` and `data.split_seed`, stratified by class, with the same indices for
both domains when they are paired. Class sub-folders inside a domain's folders are its classes,
as for the `folder` source (without them a domain is one class); the data set has one set of
classes, domain B's, which every other folder's must be among.

`fetch_folder` checks the whole data set, every image decoded, then copies its images as they
are into the raw directory (so errors name the user's own files, and a bad data set writes
nothing); `preprocess_folder` reads the layout there again, reads each domain at one side (a
side-by-side image's two halves apart), splits, resizes to `data.image_size` and writes B where
generation writes its data and A into `A/` (`write_domains`).
"""

from __future__ import annotations

import logging
import posixpath
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ganops.config import DataConfig, Params
from ganops.data.folder import (
    MAX_SIDE,
    ONE_CLASS,
    Half,
    class_labels,
    image_files,
    image_sizes,
    read_images,
)
from ganops.data.processing import (
    Prepared,
    center_crop_resize,
    split_record,
    stratified_split,
    training_subset,
)
from ganops.data.sources import SOURCE_RECORD, fetched_folder, source_record
from ganops.errors import DataError
from ganops.io import atomic_dir, write_json
from ganops.translation.domains import write_domains

log = logging.getLogger(__name__)

SOURCE = "translate.folder"  # the raw record's source: not a registered data source
SPLIT_FOLDERS = ("train", "test", "val")
UNPAIRED_FOLDERS = {"A": ("trainA", "testA"), "B": ("trainB", "testB")}  # (train, test)
WHOLE = "whole"  # the split of a part that preprocess divides into train and test itself
ACCEPTED = (
    "paired A/ + B/ (A/<name> pairs with B/<name>), side-by-side AB images in train/ "
    "(+ test/) or at the top, unpaired trainA/ + trainB/ (+ testA/ + testB/)"
)


@dataclass(frozen=True)
class Part:
    """The images of one domain in one split: `files` under `folder` of the data set."""

    folder: str  # relative to the data set's root; "" is the root itself
    files: tuple[str, ...]  # relative to `folder`, sorted; their class sub-folders label them
    half: Half | None = None  # side-by-side images: the half that is this domain


@dataclass(frozen=True)
class Layout:
    """How a data set holds its two domains."""

    name: str  # "paired", "side-by-side" or "unpaired"
    domains: dict[str, dict[str, Part]]  # "A"/"B" -> split ("train", "test" or WHOLE) -> part

    @property
    def paired(self) -> bool:
        """Whether A's image i and B's image i are a pair."""
        return self.name != "unpaired"

    def describe(self) -> str:
        """One line: the layout and the folders each domain comes from."""

        def origin(parts: dict[str, Part]) -> str:
            first = next(iter(parts.values()))
            halves = f"the {first.half} halves of " if first.half else ""
            folders = " + ".join(_path(part.folder) for part in parts.values())
            return halves + folders + (" (split here)" if WHOLE in parts else "")

        domains = ", ".join(f"{name} from {origin(p)}" for name, p in self.domains.items())
        return f"{self.name}: {domains}"


@dataclass(frozen=True)
class Checked:
    """A data set whose layout and images passed every check."""

    layout: Layout
    class_names: tuple[str, ...]  # the one set of classes: domain B's
    labels: dict[str, dict[str, np.ndarray]]  # domain -> split -> (N,) int64 into class_names
    sides: dict[str, int]  # domain -> side of the squares its images are read at, px
    colour: bool  # both domains RGB, else both grey


def _shown(folders: Iterable[str]) -> str:
    return ", ".join("images at the top" if f == "" else f"{f}/" for f in sorted(folders))


def _path(folder: str) -> str:
    return f"{folder or '.'}/"


def _by_top(files: Iterable[str]) -> dict[str, list[str]]:
    """Files grouped by their top folder ("" for those at the top), relative to it."""
    groups: dict[str, list[str]] = {}
    for name in files:
        top, sep, rest = name.partition("/")
        groups.setdefault(top if sep else "", []).append(rest if sep else name)
    return groups


def _family(root: Path, tops: set[str]) -> str:
    """Which layout the top folders `tops` ("" for images at the top) belong to."""
    unpaired = {name for names in UNPAIRED_FOLDERS.values() for name in names}
    hits = {
        "paired": tops & {"A", "B"},
        "side-by-side in split folders": tops & set(SPLIT_FOLDERS),
        "side-by-side at the top": tops & {""},
        "unpaired": tops & unpaired,
    }
    found = {family: hit for family, hit in hits.items() if hit}
    if not found:
        raise DataError(
            f"{root}: matches no layout of a translation data set (it holds {_shown(tops)}); "
            f"the layouts: {ACCEPTED}"
        )
    if len(found) > 1:
        mixed = " and ".join(f"{_shown(hit)} ({family})" for family, hit in found.items())
        raise DataError(f"{root}: mixes layouts, {mixed}: keep one")
    ((family, hit),) = found.items()
    others = tops - hit
    if others:
        raise DataError(
            f"{root}: {_shown(others)} beside the {family} layout's {_shown(hit)}: move them out "
            "(class sub-folders go inside each domain's folders)"
        )
    return family


def _splits(root: Path, folder: str, files: list[str]) -> dict[str, Part]:
    """A domain folder's parts: its `train/` and `test/` (or `val/`) split folders when it has
    them, else the whole folder, to be split by preprocess."""
    groups = _by_top(files)
    named = set(groups) & set(SPLIT_FOLDERS)
    if not named:
        return {WHOLE: Part(folder, tuple(files))}
    where = root / folder
    others = set(groups) - named
    if others:
        raise DataError(
            f"{where}: split folders ({_shown(named)}) beside {_shown(others)}: put the class "
            "sub-folders inside the split folders"
        )
    if "train" not in named:
        raise DataError(f"{where}: {_shown(named)} but no train/: the training images go there")
    test = next((name for name in ("test", "val") if name in named), None)
    if {"test", "val"} <= named:
        log.info("%s: val/ is not read: test/ is the test split", where)
    train = Part(posixpath.join(folder, "train"), tuple(groups["train"]))
    if test is None:
        return {WHOLE: train}
    return {"train": train, "test": Part(posixpath.join(folder, test), tuple(groups[test]))}


def _check_partners(root: Path, a: list[str], b: list[str]) -> None:
    """A one-line `DataError` unless every `A/<name>` has its `B/<name>` and back."""
    lonely_a, lonely_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if not lonely_a and not lonely_b:
        return
    domain, other, lonely = ("A", "B", lonely_a) if lonely_a else ("B", "A", lonely_b)
    problem = f"{domain}/{lonely[0]} has no partner {other}/{lonely[0]}"
    if len(lonely) > 1:
        problem += f" (nor have {len(lonely) - 1} other {domain}/ files)"
    if lonely_a and lonely_b:
        problem += f"; {len(lonely_b)} B/ files have none in A/"
    raise DataError(f"{root}: {problem}: paired folders pair A/<name> with B/<name>")


def detect_layout(root: Path) -> Layout:
    """The layout of the data set at `root`, read from the folders that hold images; a
    one-line `DataError` naming what does not fit."""
    files = image_files(root)
    groups = _by_top(files)
    family = _family(root, set(groups))
    if family == "paired":
        missing = [name for name in ("A", "B") if name not in groups]
        if missing:
            raise DataError(
                f"{root}: paired folders need both A/ and B/; {missing[0]}/ holds no images"
            )
        _check_partners(root, groups["A"], groups["B"])
        domains = {name: _splits(root, name, groups[name]) for name in ("A", "B")}
        return Layout("paired", domains)
    if family == "unpaired":
        domains = {}
        for domain, (train, test) in UNPAIRED_FOLDERS.items():
            if train not in groups:
                raise DataError(
                    f"{root}: unpaired data needs trainA/ and trainB/; {train}/ holds no images"
                )
            whole = Part(train, tuple(groups[train]))
            domains[domain] = (
                {"train": whole, "test": Part(test, tuple(groups[test]))}
                if test in groups
                else {WHOLE: whole}
            )
        return Layout("unpaired", domains)
    # side-by-side: the same files for both domains, A their left half and B their right
    parts = _splits(root, "", files)
    halves: dict[str, Half] = {"A": "left", "B": "right"}
    domains = {
        domain: {split: replace(part, half=half) for split, part in parts.items()}
        for domain, half in halves.items()
    }
    return Layout("side-by-side", domains)


def _classes(names: tuple[str, ...]) -> str:
    return "no class sub-folders" if names == (ONE_CLASS,) else f"classes {', '.join(names)}"


def _labels(root: Path, layout: Layout) -> tuple[tuple[str, ...], dict[str, dict[str, np.ndarray]]]:
    """The class names (domain B's) and every part's labels among them."""
    found = {
        (domain, split): class_labels(root / part.folder, list(part.files))
        for domain, parts in layout.domains.items()
        for split, part in parts.items()
    }
    split_b = "train" if "train" in layout.domains["B"] else WHOLE
    reference, class_names = layout.domains["B"][split_b], found["B", split_b][1]
    labels: dict[str, dict[str, np.ndarray]] = {}
    for (domain, split), (part_labels, names) in found.items():
        if not set(names) <= set(class_names):
            folder = layout.domains[domain][split].folder
            raise DataError(
                f"{root}: {_shown([folder])} has {_classes(names)} but domain B's "
                f"{_shown([reference.folder])} has {_classes(class_names)}: the label-aware scores "
                "need one set of classes; give each domain folder the same class sub-folders, "
                "or none"
            )
        index = np.array([class_names.index(name) for name in names], dtype=np.int64)
        labels.setdefault(domain, {})[split] = index[part_labels]
    return class_names, labels


def _odd_widths(where: Path, part: Part, sizes: list[tuple[int, int]]) -> None:
    odd = [(name, size) for name, size in zip(part.files, sizes, strict=True) if size[0] % 2]
    if odd:
        (name, (width, height)), more = odd[0], len(odd) - 1
        also = f" ({more} more such files)" if more else ""
        raise DataError(
            f"{where}: {name} is {width}x{height} px, an odd width{also}: a side-by-side image "
            "is A on its left half and B on its right, two halves of the same size"
        )


def _sides_and_colour(root: Path, layout: Layout) -> tuple[dict[str, int], bool]:
    """Each domain's side (the shortest among its images or halves, at most `MAX_SIDE`) and
    whether it is in colour; every image decoded once."""
    decoded: dict[str, tuple[list[tuple[int, int]], bool]] = {}
    sides: dict[str, int] = {}
    colours: dict[str, bool] = {}
    for domain, parts in layout.domains.items():
        for part in parts.values():
            where = root / part.folder
            if part.folder not in decoded:  # side-by-side: both domains read the same files
                decoded[part.folder] = image_sizes(where, list(part.files))
            sizes, colour = decoded[part.folder]
            if part.half is not None:
                _odd_widths(where, part, sizes)
                sizes = [(width // 2, height) for width, height in sizes]
            sides[domain] = min(sides.get(domain, MAX_SIDE), *(min(size) for size in sizes))
            colours[domain] = colours.get(domain, False) or colour
    if colours["A"] != colours["B"]:
        kinds = {True: "in colour (3 channels)", False: "grey (1 channel)"}
        raise DataError(
            f"{root}: domain A's images are {kinds[colours['A']]} and domain B's "
            f"{kinds[colours['B']]}: a translator maps images of one channel count; save both "
            "domains in colour, or both in grey"
        )
    return sides, colours["A"]


def check_dataset(root: Path) -> Checked:
    """Read the layout of the data set at `root` and check all of it, every image decoded: a
    one-line `DataError` naming the first problem."""
    layout = detect_layout(root)
    for domain, parts in layout.domains.items():
        for split, part in parts.items():
            if split != WHOLE and len(part.files) < 2:
                raise DataError(
                    f"{root / part.folder}: domain {domain}'s {split} split has "
                    f"{len(part.files)} image; a translator needs at least 2 in each split"
                )
    class_names, labels = _labels(root, layout)
    sides, colour = _sides_and_colour(root, layout)
    return Checked(layout, class_names, labels, sides, colour)


def fetch_folder(folder: str, raw: Path, key: str = SOURCE) -> Layout:
    """Check the data set `folder`, then copy its images as they are into `raw` (replaced
    whole) with a `source.json` record naming `key` (the params key that names the folder:
    `translate.folder`, `restyle.folder`) as its source; returns its layout."""
    root = Path(folder)
    checked = check_dataset(root)
    files = image_files(root)
    with atomic_dir(raw) as staging:
        for name in files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name, staging / name)
        origins = {name: (root / name).as_posix() for name in files}
        record = source_record(staging, key, origins)
        name = root.resolve().name or "folder"  # names the domains in manifests and MLflow
        write_json(staging / SOURCE_RECORD, record | {"folder": folder, "name": name})
    return checked.layout


def _selection(labels: dict[str, np.ndarray], cfg: DataConfig) -> dict[str, tuple[str, np.ndarray]]:
    """For the train and test splits: the part each comes from and its indices there."""
    if WHOLE in labels:
        train, test = stratified_split(labels[WHOLE], cfg.test_size, cfg.split_seed)
        train = train[training_subset(labels[WHOLE][train], cfg)]
        return {"train": (WHOLE, train), "test": (WHOLE, test)}
    test = np.arange(len(labels["test"]))
    return {"train": ("train", training_subset(labels["train"], cfg)), "test": ("test", test)}


def _prepare_domain(
    root: Path, checked: Checked, domain: str, selection: dict[str, tuple[str, np.ndarray]],
    cfg: DataConfig, source: str, extra: dict[str, Any],
) -> Prepared:  # fmt: skip
    """One domain read, resized to `data.image_size` and split as `selection` says."""
    parts, labels = checked.layout.domains[domain], checked.labels[domain]
    side = checked.sides[domain]
    images = {
        name: center_crop_resize(
            read_images(root / part.folder, list(part.files), side, checked.colour, part.half),
            cfg.image_size,
        )  # (N, C, image_size, image_size)
        for name, part in parts.items()
    }
    folders = {split: _path(parts[name].folder) for split, (name, _) in selection.items()}
    return Prepared(
        source=source,
        images={split: images[name][index] for split, (name, index) in selection.items()},
        labels={split: labels[name][index] for split, (name, index) in selection.items()},
        class_names=checked.class_names,
        extra=extra | {"folders": folders},
    )


def preprocess_folder(
    params: Params, raw: Path, processed: Path, key: str = SOURCE, folder: str | None = None
) -> dict[str, Prepared]:
    """Both domains of the data set that fetch copied into `raw`, split and resized, B into
    `processed` and A into `processed/A/`; everything checked before anything is written.
    The data set is `translate.folder`, or `folder` as the params key `key` names it."""
    folder = params.translate.folder if key == SOURCE else folder
    record = fetched_folder(raw, key, folder, f"the data set {key} names")
    checked = check_dataset(raw)
    layout, cfg, name = checked.layout, params.data, str(record["name"])
    if len(checked.class_names) == 1:
        log.warning(
            "%s: domain B has no class sub-folders, so it is one class: B's evaluator has "
            "nothing to learn (its accuracy is trivially 1 and its features stay untrained), "
            "label preservation and the downstream classifiers are trivially 1 too, and FID "
            "and KID compare images in untrained features (L1, PSNR and SSIM are unaffected); "
            "give the domains class sub-folders for label-aware scores",
            folder,
        )
    selection_a = _selection(checked.labels["A"], cfg)
    # paired: the same labels in both domains, and the same indices, so A's i stays B's i
    selection_b = selection_a if layout.paired else _selection(checked.labels["B"], cfg)
    common = {"layout": layout.name, **split_record(cfg)}
    b = _prepare_domain(raw, checked, "B", selection_b, cfg, f"{name}/B", common)
    paired_with = {"paired_with": b.source} if layout.paired else {}
    a = _prepare_domain(raw, checked, "A", selection_a, cfg, f"{name}/A", common | paired_with)
    return write_domains(processed, a, b)
