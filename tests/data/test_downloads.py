"""Downloaded sources (mnist, fashion-mnist, cifar10) served by a real HTTP server on 127.0.0.1.

The files are tiny but in the real formats and under the real names; the tests point the
sources' pinned URLs and md5s at them, or reach them through data.mirror.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import socket
import struct
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from ganops.config import DataConfig
from ganops.data import download, sources
from ganops.data.download import Retries, extract_tar
from ganops.data.formats import idx_bytes, read_cifar_binary, read_idx
from ganops.data.processing import preprocess
from ganops.data.sources import Published, fetch_source, get_source
from ganops.errors import ConfigError, DataError
from ganops.params import parse_params

IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
RNG = np.random.default_rng(0)
TRAIN_IMAGES = RNG.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
TEST_IMAGES = RNG.integers(0, 256, size=(10, 28, 28), dtype=np.uint8)
TRAIN_LABELS = np.arange(20, dtype=np.uint8) % 10
TEST_LABELS = np.arange(10, dtype=np.uint8)
CIFAR_RECORDS = RNG.integers(0, 256, size=(6, 3, 1 + 3 * 32 * 32), dtype=np.uint8)
CIFAR_RECORDS[:, :, 0] = np.arange(18).reshape(6, 3) % 10  # the label byte


def idx_gz(array: np.ndarray) -> bytes:
    """`array` (uint8) as a gzipped IDX file, as the MNIST mirrors publish them."""
    return gzip.compress(idx_bytes(array), mtime=0)


MNIST_FILES = dict(
    zip(IDX_NAMES, map(idx_gz, (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)), strict=True)
)


def tar_gz(
    members: dict[str, bytes], special: Callable[[tarfile.TarFile], None] | None = None
) -> bytes:
    """A tar.gz holding `members` (name -> bytes), plus whatever `special` adds."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if special:
            special(tar)
    return buffer.getvalue()


def cifar_members() -> dict[str, bytes]:
    batches = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]
    members = {
        f"cifar-10-batches-bin/{name}.bin": CIFAR_RECORDS[index].tobytes()
        for index, name in enumerate(batches)
    }
    members["cifar-10-batches-bin/batches.meta.txt"] = ("\n".join(CIFAR_NAMES) + "\n\n").encode()
    members["cifar-10-batches-bin/readme.html"] = b"<html></html>"
    return members


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --- a real HTTP server ---------------------------------------------------------------------


@dataclass
class Server:
    """What the server serves (URL path -> bytes) and how; the paths it was asked for."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)  # path -> requests to cut mid-body
    requests: list[str] = field(default_factory=list)

    def publish(self, prefix: str, files: dict[str, bytes]) -> Published:
        """Serve `files` under `/<prefix>/`; a `Published` pinning their md5s there."""
        for name, data in files.items():
            self.files[f"/{prefix}/{name}"] = data
        pinned = tuple((name, md5(data)) for name, data in files.items())
        return Published(base_urls=(f"{self.url}/{prefix}/",), files=pinned)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(self.path)
            body = server.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            drop = server.drops.get(self.path, 0) > 0
            if drop:
                server.drops[self.path] -= 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # a dropped connection: half the promised body, then the socket closes
            self.wfile.write(body[: len(body) // 2] if drop else body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 (ephemeral port), in a thread, for one test."""
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # a short poll interval, so that shutdown returns at once
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "RETRIES", Retries(attempts=3, backoff_s=0, timeout_s=5))


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- fetched and decoded ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "attribute", "first_class"),
    [("mnist", "MNIST", "0"), ("fashion-mnist", "FASHION_MNIST", "T-shirt/top")],
)
def test_idx_sources_are_fetched_and_decoded(
    server: Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
    attribute: str,
    first_class: str,
) -> None:
    monkeypatch.setattr(sources, attribute, server.publish(name, MNIST_FILES))
    cfg = DataConfig(source=name, test_size=10)
    fetch_source(cfg, tmp_path / "raw")
    record = json.loads((tmp_path / "raw" / "source.json").read_text())
    assert record["source"] == name and sorted(record["files"]) == sorted(IDX_NAMES)
    entry = record["files"]["t10k-images-idx3-ubyte.gz"]
    assert entry["origin"] == f"{server.url}/{name}/t10k-images-idx3-ubyte.gz"
    assert entry["sha256"] == hashlib.sha256(MNIST_FILES["t10k-images-idx3-ubyte.gz"]).hexdigest()

    decoded = get_source(name).load(tmp_path / "raw")
    assert np.array_equal(decoded.images[:, 0], np.concatenate([TRAIN_IMAGES, TEST_IMAGES]))
    assert decoded.labels.tolist() == [*TRAIN_LABELS.tolist(), *TEST_LABELS.tolist()]
    manifest = preprocess(tmp_path / "raw", tmp_path / "processed", cfg)
    assert manifest["image_shape"] == [1, 28, 28]
    assert manifest["class_names"][0] == first_class and len(manifest["class_names"]) == 10
    assert manifest["splits"]["train"]["count"] == 20 and manifest["splits"]["test"]["count"] == 10
    assert set(manifest["splits"]["test"]["class_counts"].values()) == {1}


def test_cifar10_is_fetched_extracted_and_decoded(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        sources, "CIFAR10", server.publish("kriz", {CIFAR_ARCHIVE: tar_gz(cifar_members())})
    )
    cfg = DataConfig(source="cifar10", image_size=32, test_size=4)
    fetch_source(cfg, tmp_path / "raw")
    record = json.loads((tmp_path / "raw" / "source.json").read_text())
    assert sorted(record["files"]) == sorted(cifar_members())
    assert not (tmp_path / "raw" / CIFAR_ARCHIVE).exists()
    entry = record["files"]["cifar-10-batches-bin/test_batch.bin"]
    assert (
        entry["origin"] == f"{server.url}/kriz/{CIFAR_ARCHIVE}#cifar-10-batches-bin/test_batch.bin"
    )

    decoded = get_source("cifar10").load(tmp_path / "raw")
    records = CIFAR_RECORDS.reshape(18, -1)
    assert decoded.images.shape == (18, 3, 32, 32)
    assert np.array_equal(decoded.images.reshape(18, -1), records[:, 1:])  # R, G, B planes
    assert decoded.labels.tolist() == records[:, 0].tolist()
    assert decoded.class_names == CIFAR_NAMES
    manifest = preprocess(tmp_path / "raw", tmp_path / "processed", cfg)
    assert manifest["image_shape"] == [3, 32, 32]
    assert manifest["splits"]["train"]["count"] == 14 and manifest["splits"]["test"]["count"] == 4


def test_the_mirror_is_tried_first_then_upstream(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sources, "MNIST", server.publish("upstream", MNIST_FILES))
    server.publish("mirror", {name: MNIST_FILES[name] for name in IDX_NAMES[1:]})
    fetch_source(DataConfig(source="mnist", mirror=f"{server.url}/mirror/"), tmp_path / "raw")
    record = json.loads((tmp_path / "raw" / "source.json").read_text())
    origins = {name: entry["origin"] for name, entry in record["files"].items()}
    # the mirror lacks the first file (404: no retry), so upstream serves it
    assert origins[IDX_NAMES[0]] == f"{server.url}/upstream/{IDX_NAMES[0]}"
    assert all(origins[name] == f"{server.url}/mirror/{name}" for name in IDX_NAMES[1:])
    assert server.requests[:2] == [f"/mirror/{IDX_NAMES[0]}", f"/upstream/{IDX_NAMES[0]}"]


def test_mirror_must_be_a_url() -> None:
    with pytest.raises(ConfigError, match=r"data\.mirror: String should match pattern"):
        parse_params({"data": {"mirror": "downloads.example.org"}})
    assert DataConfig(mirror="file:///srv/datasets").mirror == "file:///srv/datasets"


# --- failures ---------------------------------------------------------------------------------


def test_a_wrong_checksum_names_the_file_and_both_md5s(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    published = server.publish("mnist", MNIST_FILES)
    name, right = published.files[0]
    monkeypatch.setattr(sources, "MNIST", Published(published.base_urls, ((name, "0" * 32),)))
    with pytest.raises(DataError) as caught:
        fetch_source(DataConfig(source="mnist"), tmp_path / "raw")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: md5 {right} does not match the published md5 {'0' * 32}")
    assert list(tmp_path.iterdir()) == []  # no raw directory, no temporary file


def test_a_dropped_connection_is_retried(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sources, "MNIST", server.publish("mnist", MNIST_FILES))
    server.drops[f"/mnist/{IDX_NAMES[0]}"] = 1
    fetch_source(DataConfig(source="mnist"), tmp_path / "raw")
    assert server.requests.count(f"/mnist/{IDX_NAMES[0]}") == 2
    assert get_source("mnist").load(tmp_path / "raw").images.shape == (30, 1, 28, 28)


def test_a_server_that_always_drops_fails_after_the_retries(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sources, "MNIST", server.publish("mnist", MNIST_FILES))
    path = f"/mnist/{IDX_NAMES[0]}"
    server.drops[path] = 100
    size = len(MNIST_FILES[IDX_NAMES[0]])
    with pytest.raises(DataError) as caught:
        fetch_source(DataConfig(source="mnist"), tmp_path / "raw")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"cannot download {IDX_NAMES[0]} from {server.url}{path} "
        f"(connection closed after {size // 2} of {size} bytes)"
    )
    assert server.requests == [path] * 3
    assert list(tmp_path.iterdir()) == []


def test_offline_is_one_line_naming_the_url_and_the_offline_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = closed_port_url()
    monkeypatch.setattr(sources, "MNIST", Published((f"{base}/mnist/",), (("a.gz", "0" * 32),)))
    with pytest.raises(DataError) as caught:
        fetch_source(DataConfig(source="mnist", mirror=f"{base}/mirror"), tmp_path / "raw")
    message = str(caught.value)
    assert "\n" not in message
    assert f"{base}/mirror/a.gz (" in message and f"{base}/mnist/a.gz (" in message
    assert "refused" in message
    assert "data.source: mnist-5k" in message and "data.mirror" in message
    assert list(tmp_path.iterdir()) == []


# --- archives ---------------------------------------------------------------------------------


def _link(kind: bytes, name: str, target: str) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        tar.addfile(info)

    return add


@pytest.mark.parametrize(
    ("members", "special", "member", "problem"),
    [
        ({"../evil": b"x"}, None, "../evil", "path leaves the archive"),
        ({"a/../../evil": b"x"}, None, "a/../../evil", "path leaves the archive"),
        ({"/tmp/evil": b"x"}, None, "/tmp/evil", "absolute path"),
        ({}, _link(tarfile.SYMTYPE, "a/link", "/etc/passwd"), "a/link", "link"),
        ({"a/f": b"x"}, _link(tarfile.LNKTYPE, "a/hard", "a/f"), "a/hard", "link"),
        ({}, _link(tarfile.CHRTYPE, "a/tty", ""), "a/tty", "device or special file"),
    ],
)
def test_unsafe_archive_members_are_refused(
    tmp_path: Path,
    members: dict[str, bytes],
    special: Callable[[tarfile.TarFile], None] | None,
    member: str,
    problem: str,
) -> None:
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_gz({"fine.txt": b"ok", **members}, special))
    (tmp_path / "out").mkdir()
    expected = rf"^evil\.tar\.gz: refusing member '{re.escape(member)}' \({problem}\)$"
    with pytest.raises(DataError, match=expected):
        extract_tar(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_an_unsafe_cifar_archive_stops_the_fetch(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    evil = tar_gz({**cifar_members(), "../evil": b"x"})
    monkeypatch.setattr(sources, "CIFAR10", server.publish("kriz", {CIFAR_ARCHIVE: evil}))
    with pytest.raises(DataError, match=r"refusing member '\.\./evil'"):
        fetch_source(DataConfig(source="cifar10"), tmp_path / "work" / "raw")
    assert list(tmp_path.rglob("*")) == [tmp_path / "work"]


def test_broken_files_are_one_line_errors(tmp_path: Path) -> None:
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + b"abc"))
    with pytest.raises(DataError, match=r"IDX header states shape \(5,\) but 3 values follow"):
        read_idx(short)
    with pytest.raises(DataError, match=r"not a readable gzip file"):
        read_idx(tmp_path / "missing.gz")
    batch = tmp_path / "batch.bin"
    batch.write_bytes(b"\0" * 3000)
    with pytest.raises(DataError, match=r"3000 bytes is not a whole number of 3073-byte"):
        read_cifar_binary(batch)
