"""Fuzzing bad params.yaml files through the stages: always one line, exit 1, nothing written.

Each example is a params file that is certainly invalid (checked with `load_params`, the
function the stages call), given to a stage's `main(argv)` in an empty temporary workspace
whose inputs do not exist: params must be rejected first, with one line naming the file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from ganops.config import Params
from ganops.errors import ConfigError
from ganops.params import load_params, parse_params
from tests.helpers import ROOT, STAGE_ARGS, TINY, load_stage, merged, project_params

PARAMS_FILE = "params.yaml"
STAGES: dict[str, ModuleType] = {name: load_stage(name) for name in STAGE_ARGS}

MAX_NESTING = 40  # a deep but parseable nesting (1000 levels is tested as an error below)

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,  # write no .hypothesis/ folder into the project
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


def _sections() -> dict[str, type[BaseModel]]:
    """The sections of params.yaml (the top-level keys holding a mapping)."""
    sections = {}
    for name, field in Params.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            sections[name] = field.annotation
    return sections


SECTIONS = _sections()
TOP_LEVEL = list(Params.model_fields)  # the sections and the top-level scalars (`task`)
SCALARS = [name for name in TOP_LEVEL if name not in SECTIONS]
FIELDS = [(section, key) for section, model in SECTIONS.items() for key in model.model_fields]
NUMERIC = {
    (section, key): SECTIONS[section].model_fields[key].annotation
    for section, key in FIELDS
    if SECTIONS[section].model_fields[key].annotation in (int, float)
}
BASE: dict[str, Any] = merged(project_params(), TINY)  # valid: see the first test


# --- running a stage on a params file ------------------------------------------------------


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Stages reconfigure the root logger onto the (redirected) stderr; put it back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root`: file contents, or None for a directory."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def certainly_invalid(content: bytes) -> bool:
    """True when the stages' own loader rejects `content` with a ConfigError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / PARAMS_FILE
        path.write_bytes(content)
        try:
            load_params(path)
        except ConfigError:
            return True
    return False


def run_stage_on(stage: str, content: bytes) -> tuple[int, str, dict[str, bytes | None]]:
    """Run `stage` in a fresh workspace holding only `content` as params.yaml and an empty
    data/processed/; return its exit code, its stderr and what the workspace holds after."""
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        work = Path(folder)
        (work / PARAMS_FILE).write_bytes(content)
        (work / "data" / "processed").mkdir(parents=True)  # empty data, for the readers
        before = _snapshot(work)
        err = io.StringIO()
        with _logging_restored(), contextlib.redirect_stderr(err):
            code = STAGES[stage].main([*STAGE_ARGS[stage], "--params", PARAMS_FILE])
        after = _snapshot(work)
    assert after == before, f"{stage} wrote into its workspace: {sorted(set(after) - set(before))}"
    return code, err.getvalue(), after


def assert_one_line_params_error(stage: str, code: int, err: str) -> str:
    """Exit 1 and exactly `<stage>: error: params.yaml: ...` on one line, no traceback."""
    assert code == 1, err
    assert "Traceback" not in err
    assert err.endswith("\n") and len(err.splitlines()) == 1, repr(err)
    assert err.startswith(f"{stage}: error: {PARAMS_FILE}: "), repr(err)
    return err.rstrip("\n")


def dump_yaml(raw: Any) -> bytes:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(raw, buffer)
    return buffer.getvalue().encode("utf-8")


def with_value(section: str, key: str | None, value: Any) -> dict[str, Any]:
    """BASE with `section.key` (or the whole section when `key` is None) set to `value`."""
    raw = merged(BASE, {})
    if key is None:
        raw[section] = value
    else:
        raw[section][key] = value
    return raw


# --- strategies -----------------------------------------------------------------------------

stages = st.sampled_from(sorted(STAGE_ARGS))
texts = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]),
    max_size=20,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and +-inf included
    texts,
    st.dates(),
    st.binary(max_size=8),
)
containers = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8,
)
wrong_types = st.one_of(
    texts,
    st.lists(containers, max_size=3),
    st.dictionaries(texts, containers, max_size=3),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.dates(),
    st.binary(max_size=8),
)


@st.composite
def wrong_type_params(draw: st.DrawFn) -> tuple[bytes, str]:
    """A key, a whole section or the whole file replaced by a value of another kind."""
    where = draw(st.sampled_from(["key", "key", "key", "section", "file"]))
    if where == "file":
        value = draw(st.one_of(st.lists(containers, max_size=3), texts, st.integers()))
        return dump_yaml(value), "top level must be a mapping"
    if where == "section":
        section = draw(st.sampled_from(sorted(TOP_LEVEL)))
        value = draw(st.one_of(st.lists(containers, max_size=3), texts, st.integers()))
        assume(not (section == "task" and value in ("generate", "translate")))
        return dump_yaml(with_value(section, None, value)), section
    section, key = draw(st.sampled_from(FIELDS))
    return dump_yaml(with_value(section, key, draw(wrong_types))), f"{section}.{key}"


HUGE = 10**30


@st.composite
def out_of_bounds_params(draw: st.DrawFn) -> tuple[bytes, str]:
    """A number outside its field's range: negative, zero, huge, NaN or infinite."""
    section, key = draw(st.sampled_from(sorted(NUMERIC)))
    candidates: list[st.SearchStrategy[Any]] = [
        st.integers(max_value=-1),
        st.just(0),
        st.integers(min_value=2**31, max_value=HUGE),
    ]
    if NUMERIC[section, key] is float:
        candidates += [
            st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e-300, -0.0]),
            st.floats(max_value=-1e-12),
            st.floats(min_value=1.0 + 1e-9, allow_infinity=False),
        ]
    value = draw(st.one_of(*candidates))
    return dump_yaml(with_value(section, key, value)), f"{section}.{key}"


keys = st.one_of(texts.filter(bool), st.integers())


def _typo(word: str, draw: st.DrawFn) -> str:
    """`word` with one character inserted, removed or replaced."""
    at = draw(st.integers(0, len(word)))
    char = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz_-0123456789"))
    kind = draw(st.sampled_from(["insert", "remove", "replace"]))
    if kind == "insert" or not word:
        return word[:at] + char + word[at:]
    at = min(at, len(word) - 1)
    return word[:at] + (char if kind == "replace" else "") + word[at + 1 :]


@st.composite
def unknown_key_params(draw: st.DrawFn) -> bytes:
    """Unknown keys (random names or one-character typos) at the top level or in sections."""
    raw = merged(BASE, {})
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(SECTIONS)))
        # inside a section only while it is still there (an earlier typo may have renamed it)
        inside = draw(st.booleans()) and isinstance(raw.get(section), dict)
        known = list(SECTIONS[section].model_fields) if inside else TOP_LEVEL
        typo = draw(st.booleans())
        key = _typo(draw(st.sampled_from(known)), draw) if typo else draw(keys)
        assume(key not in known)
        target: dict[Any, Any] = raw[section] if inside else raw
        original = draw(st.sampled_from(known))
        if typo and original in target and draw(st.booleans()):
            # rename a known key into the typo: its value moves under the unknown name
            target[key] = target.pop(original)
        else:
            target[key] = draw(containers)
    return dump_yaml(raw)


PROJECT_TEXT = (ROOT / PARAMS_FILE).read_bytes()
BRACKETS = ["[", "]", "{", "}", "[[", "]]", "{a: [", "[{", "}]", "{ :", ": [", "'", '"']


@st.composite
def broken_yaml_text(draw: st.DrawFn) -> bytes:
    """The project's params.yaml with unbalanced brackets, bad indentation, tabs, junk bytes,
    duplicated or cut lines; or random bytes altogether."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=1, max_size=200))
    text = PROJECT_TEXT
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split(b"\n")
        row = draw(st.integers(0, len(lines) - 1))
        line = lines[row]
        kind = draw(
            st.sampled_from(["bracket", "indent", "dedent", "tab", "junk", "duplicate", "cut"])
        )
        if kind == "bracket":
            at = draw(st.integers(0, len(line)))
            lines[row] = line[:at] + draw(st.sampled_from(BRACKETS)).encode() + line[at:]
        elif kind == "indent":
            lines[row] = b" " * draw(st.integers(1, 5)) + line
        elif kind == "dedent":
            lines[row] = line.lstrip(b" ")
        elif kind == "tab":
            stripped = line.lstrip(b" ")
            lines[row] = b"\t" * draw(st.integers(1, 2)) + stripped
        elif kind == "junk":
            at = draw(st.integers(0, len(line)))
            lines[row] = line[:at] + draw(st.binary(min_size=1, max_size=8)) + line[at:]
        elif kind == "duplicate":
            lines.insert(row, line)
        else:  # cut the file inside this line
            lines = [*lines[:row], line[: draw(st.integers(0, len(line)))]]
        text = b"\n".join(lines)
    return text


# --- the properties ------------------------------------------------------------------------


def test_the_fuzzing_base_is_valid() -> None:
    parse_params(BASE)
    assert not certainly_invalid(dump_yaml(BASE))
    assert not certainly_invalid(PROJECT_TEXT)


@FUZZ
@given(stage=stages, case=wrong_type_params())
def test_wrong_types_are_one_line_errors(stage: str, case: tuple[bytes, str]) -> None:
    content, named = case
    assume(certainly_invalid(content))
    line = assert_one_line_params_error(stage, *run_stage_on(stage, content)[:2])
    assert named in line


@FUZZ
@given(stage=stages, case=out_of_bounds_params())
def test_out_of_bounds_numbers_are_one_line_errors(stage: str, case: tuple[bytes, str]) -> None:
    content, key = case
    assume(certainly_invalid(content))
    line = assert_one_line_params_error(stage, *run_stage_on(stage, content)[:2])
    assert f"{key}: " in line


@FUZZ
@given(stage=stages, content=unknown_key_params())
def test_unknown_keys_are_one_line_errors(stage: str, content: bytes) -> None:
    assume(certainly_invalid(content))
    line = assert_one_line_params_error(stage, *run_stage_on(stage, content)[:2])
    assert "unknown key" in line or "Keys should be strings" in line


@FUZZ
@given(stage=stages, content=broken_yaml_text())
def test_broken_yaml_is_a_one_line_error(stage: str, content: bytes) -> None:
    assume(certainly_invalid(content))
    assert_one_line_params_error(stage, *run_stage_on(stage, content)[:2])


def _nested(depth: int) -> bytes:
    return f"train:\n  lr: {'[' * depth}{']' * depth}\n".encode()


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param(b'train:\n  "a\\nb": 1\n', "train.a\\nb: unknown key",
                     id="newline-in-key"),
        pytest.param(b'train:\n  "a\\rb": 1\n', "train.a\\rb: unknown key",
                     id="carriage-return-in-key"),
        pytest.param(_nested(1000), "nested too deeply", id="nested-1000"),
        pytest.param(b"train: " + b"[" * 1000 + b"\n", "nested too deeply", id="unbalanced-1000"),
        pytest.param(_nested(MAX_NESTING), "train.lr", id="nested-40"),
        pytest.param(b"train:\n  lr: .nan\n", "train.lr: Input should be a finite number",
                     id="nan"),
        pytest.param(b"train:\n  lr: -.inf\n", "train.lr", id="minus-inf"),
        pytest.param(b"train:\n  seed: " + str(2**70).encode() + b"\n", "train.seed",
                     id="huge-seed"),
        pytest.param(b"train:\n  lr: 1\n  lr: 2\n", "duplicate key", id="duplicate-key"),
        pytest.param(b"train: &a\n  x: *a\n", "train.x: unknown key", id="self-alias"),
        pytest.param(b"a: *b\n", "undefined alias", id="undefined-alias"),
        pytest.param(b"? [a, b]\n: 1\n", "Keys should be strings", id="sequence-key"),
        pytest.param(b"train:\n  lr: !!python/object:os.system x\n", "not valid YAML",
                     id="python-tag"),
        pytest.param(b"train:\n\tlr: 1\n", "not valid YAML", id="tab-indent"),
        pytest.param(b"\xff\xfe\x00junk", "cannot be read", id="binary"),
        pytest.param(b"train:\n  lr: \x00\n", "not valid YAML", id="nul"),
        pytest.param(b"a: 1\n---\nb: 2\n", "not valid YAML", id="two-documents"),
    ],
)  # fmt: skip
def test_nasty_params_files(content: bytes, named: str) -> None:
    for stage in ("fetch", "train"):
        line = assert_one_line_params_error(stage, *run_stage_on(stage, content)[:2])
        assert named in line
    assert certainly_invalid(content)
