"""Downloading published files: mirror first, retries with backoff, checksums, safe archives.

A file lands in its destination only when it arrived whole and matches its published md5;
a failed or interrupted download leaves nothing behind. Every failure is one `DataError` line.
"""

from __future__ import annotations

import hashlib
import http.client
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ganops.errors import DataError, first_line
from ganops.io import atomic_open

_CHUNK = 1 << 20
PROGRESS_MIN_BYTES = 4 << 20  # smaller files arrive too fast for a progress bar to help
OFFLINE_HINT = (
    "offline? the default data.source: mnist-5k needs no network, "
    "and data.mirror can name a reachable copy"
)


@dataclass(frozen=True)
class Retries:
    """How hard to try each URL before moving on to the next."""

    attempts: int = 3  # per URL
    backoff_s: float = 1.0  # wait before the second attempt; doubles before each later one
    timeout_s: float = 60.0  # for connecting and for each read


RETRIES = Retries()  # read at call time, so tests can make backoff instant


def candidate_urls(file_name: str, base_urls: tuple[str, ...], mirror: str | None) -> list[str]:
    """Where to look for `file_name`: `<mirror>/<file name>` first, then each upstream base."""
    bases = ([mirror] if mirror else []) + list(base_urls)
    return [f"{base.rstrip('/')}/{file_name}" for base in bases]


def _one_line(error: BaseException) -> str:
    """The first line of why a download failed (a URLError's reason, not its wrapper)."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    return first_line(reason) or type(error).__name__


def _fetch_once(url: str, path: Path, md5: str, timeout_s: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        small = expected is not None and expected < PROGRESS_MIN_BYTES
        with (
            atomic_open(path, "wb") as out,
            tqdm(
                total=expected,
                desc=path.name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                disable=True if small else None,  # None: shown only on a terminal
            ) as progress,
        ):
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                progress.update(len(chunk))
            # urllib returns a short body without complaint when the server hangs up early
            if expected is not None and received != expected:
                raise ConnectionError(f"connection closed after {received} of {expected} bytes")
            if digest.hexdigest() != md5:
                raise DataError(
                    f"{path.name}: md5 {digest.hexdigest()} does not match the published md5 "
                    f"{md5} (downloaded from {url})"
                )


def download(file_name: str, urls: list[str], md5: str, dest: Path) -> str:
    """Download `file_name` into `dest` from the first of `urls` that serves it; return that URL.

    Connection errors, dropped connections, truncated bodies and server errors (5xx) are
    retried with exponential backoff (`RETRIES`); other HTTP errors move on to the next URL
    at once. A body whose md5 differs from the published `md5` stops the download.
    """
    retries = RETRIES
    failures = []
    for url in urls:
        for attempt in range(retries.attempts):
            if attempt:
                time.sleep(retries.backoff_s * 2 ** (attempt - 1))
            try:
                _fetch_once(url, dest / file_name, md5, retries.timeout_s)
            except urllib.error.HTTPError as error:
                failure = f"HTTP {error.code} {error.reason}"
                if error.code < 500:
                    break
            except (OSError, http.client.HTTPException) as error:
                failure = _one_line(error)
            else:
                return url
        failures.append(f"{url} ({failure})")
    raise DataError(f"cannot download {file_name} from {', '.join(failures)}; {OFFLINE_HINT}")


def _unsafe(member: tarfile.TarInfo) -> str | None:
    path = PurePosixPath(member.name)
    if path.is_absolute():
        return "absolute path"
    if ".." in path.parts:
        return "path leaves the archive"
    if member.issym() or member.islnk():
        return "link"
    if not (member.isfile() or member.isdir()):
        return "device or special file"
    return None


def extract_tar(archive: Path, dest: Path) -> list[str]:
    """Extract a (compressed) tar archive into `dest`; return the relative paths of its files.

    Every member is checked before anything is written: absolute paths, `..`, links and
    devices are refused with a `DataError` naming the member (and tarfile's "data" filter
    guards the extraction itself).
    """
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                problem = _unsafe(member)
                if problem:
                    raise DataError(f"{archive.name}: refusing member {member.name!r} ({problem})")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{archive.name}: cannot be extracted ({_one_line(error)})") from None
    return sorted(PurePosixPath(member.name).as_posix() for member in members if member.isfile())
