"""Verified downloads of the real datasets from Zenodo (standard library + tqdm only).

``download("springset", out)`` fetches ``plate-spring.zip`` from Zenodo record 3746119 and
keeps only its ``spring/`` folder (the four HDF5 files land directly in ``out``);
``download("egfxset", out)`` fetches ``Clean.zip`` and ``Spring-Reverb.zip`` from record
7044411 and leaves ``out/Clean/<Position>/`` and ``out/Spring Reverb/<Position>/``.

How a download is made safe:

* **checksums**: every archive is checked against an md5. The expected value is, in order,
  the ``checksums`` argument, :data:`KNOWN_MD5` below, or the md5 that Zenodo publishes in the
  record's ``files`` listing (``GET {base_url}/api/records/<id>``, field ``checksum``,
  ``"md5:<hex>"``); where a known value and the listing disagree, the download stops.
* **resume**: bytes go to ``<name>.part`` under ``out/.download/``; a cut connection or an
  interrupted run continues from the bytes already there with an HTTP ``Range`` request.
* **extraction**: every member name is checked before anything is written; absolute paths,
  ``..`` components, drive letters and symlinks are rejected. Members are extracted into a
  staging folder next to the target and renamed into place, so nothing is half-written.
* **offline**: a refused or unresolvable connection raises :class:`DownloadError` saying so.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import shutil
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from springstudy.data import DatasetError

ZENODO_URL = "https://zenodo.org"
CHUNK = 1 << 20
USER_AGENT = "springstudy-download/1 (+https://zenodo.org)"


class DownloadError(DatasetError):
    """A download or extraction failed; the message says which file and why."""


@dataclass(frozen=True)
class Archive:
    """One file of a Zenodo record and which of its folders to keep."""

    key: str                    #: file name in the Zenodo record
    keep: tuple[str, ...]       #: folder names inside the zip whose contents we keep
    into: str                   #: where the kept contents go under ``out`` ("" = ``out`` itself)
    whole_if_absent: bool       #: no ``keep`` folder in the zip: take all members under ``into``
    marks: tuple[str, ...]      #: paths under ``out`` whose presence means "already extracted"


@dataclass(frozen=True)
class Source:
    """A dataset on Zenodo: the record id and the archives it needs."""

    name: str
    record: int
    archives: tuple[Archive, ...]


#: Datasets this module can download.
DATASETS = ("springset", "egfxset")


@functools.cache
def sources() -> dict[str, Source]:
    """Zenodo record and archives per dataset (built on first use: formats imports h5py)."""
    from springstudy.data.formats import EGFXSET_DRY_DIR, EGFXSET_WET_DIR, SPRINGSET_SUBSETS

    return {
        "springset": Source("springset", 3746119, (
            Archive("plate-spring.zip", keep=("spring",), into="", whole_if_absent=False,
                    marks=tuple(name for s in SPRINGSET_SUBSETS for name in (s.dry_file, s.wet_file))),
        )),
        "egfxset": Source("egfxset", 7044411, (
            Archive("Clean.zip", keep=("Clean",), into=EGFXSET_DRY_DIR, whole_if_absent=True,
                    marks=(EGFXSET_DRY_DIR,)),
            Archive("Spring-Reverb.zip", keep=("Spring Reverb", "Spring-Reverb", "Spring_Reverb"),
                    into=EGFXSET_WET_DIR, whole_if_absent=True, marks=(EGFXSET_WET_DIR,)),
        )),
    }


#: md5 of each archive where known independently of the server. The EGFxSet values are the
#: ones the mirdata loader (mirdata/datasets/egfxset.py, REMOTES) publishes for record
#: 7044411; they could not be checked against Zenodo from this machine (no internet). The
#: SpringSet value is unknown here (None): the download then trusts the md5 that Zenodo's
#: record listing publishes, which still catches corrupt or truncated transfers.
KNOWN_MD5: dict[str, str | None] = {
    "plate-spring.zip": None,
    "Clean.zip": "cdb1b401960f56becc8640387910e78a",
    "Spring-Reverb.zip": "21afc47594ed8f37db008f313e50c634",
}


def download(dataset: str, out: str | Path, base_url: str = ZENODO_URL, *,
             checksums: dict[str, str] | None = None, progress: bool = True, timeout: float = 60.0,
             retries: int = 5, overwrite: bool = False, keep_archives: bool = False) -> Path:
    """Download, verify and extract ``dataset`` ("springset" or "egfxset") into ``out``.

    ``base_url`` is the Zenodo server (tests point it at a loopback server); ``checksums``
    overrides expected md5s by archive name. Returns ``out``. Raises :class:`DownloadError`.
    """
    if dataset not in DATASETS:
        raise DownloadError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    source, out = sources()[dataset], Path(out)
    if out.exists() and not out.is_dir():
        raise DownloadError(f"{out}: is a file, not a folder to extract into")
    base_url = base_url.rstrip("/")
    cache = out / ".download"
    cache.mkdir(parents=True, exist_ok=True)
    listing: dict[str, dict[str, Any]] | None = None      # fetched only when something is missing
    for archive in source.archives:
        if not overwrite and all((out / mark).exists() for mark in archive.marks):
            _say(progress, f"{archive.key}: already extracted in {out}, skipped (--overwrite to redo)")
            continue
        if listing is None:
            listing = _record_files(base_url, source.record, timeout)
        expected = _expected_md5(archive.key, listing, checksums)
        zip_path = cache / archive.key
        if zip_path.exists() and _md5(zip_path) != expected:
            zip_path.unlink()               # a stale or damaged archive from an earlier run
        if not zip_path.exists():
            url = f"{base_url}/records/{source.record}/files/{archive.key}?download=1"
            size = (listing.get(archive.key) or {}).get("size")
            part = cache / f"{archive.key}.part"
            _fetch(url, part, size, progress=progress, timeout=timeout, retries=retries)
            got = _md5(part)
            if got != expected:
                part.unlink()               # resuming a corrupt file would keep the corruption
                raise DownloadError(f"{archive.key}: checksum mismatch (md5 {got}, expected {expected}); "
                                    f"the partial file was removed, run the download again")
            os.replace(part, zip_path)
        _extract(zip_path, archive, out, overwrite=overwrite)
        if not keep_archives:
            zip_path.unlink()
    if not keep_archives and not any(cache.iterdir()):
        cache.rmdir()
    return out


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr)


# --- Zenodo metadata ---------------------------------------------------------------------------
def _record_files(base_url: str, record: int, timeout: float) -> dict[str, dict[str, Any]]:
    """``{file name: {"md5": hex, "size": bytes}}`` from the Zenodo record API."""
    url = f"{base_url}/api/records/{record}"
    try:
        with _open(url, timeout=timeout) as resp:
            meta = json.loads(resp.read().decode())
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason} (is {record} a Zenodo record there?)") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DownloadError(f"{url}: the record listing is not JSON ({err})") from err
    files = meta.get("files")
    if isinstance(files, dict):             # InvenioRDM may nest the list under "entries"
        files = files.get("entries", [])
        files = list(files.values()) if isinstance(files, dict) else files
    out: dict[str, dict[str, Any]] = {}
    for entry in files or []:
        key = entry.get("key") or entry.get("filename")
        checksum = str(entry.get("checksum") or "")
        algo, _, value = checksum.partition(":") if ":" in checksum else ("md5", "", checksum)
        out[key] = {"md5": value.lower() if algo == "md5" and value else None, "size": entry.get("size")}
    return out


def _expected_md5(key: str, listing: dict[str, dict[str, Any]], checksums: dict[str, str] | None) -> str:
    published = (listing.get(key) or {}).get("md5")
    known = (checksums or {}).get(key) or KNOWN_MD5.get(key)
    if known and published and known.lower() != published:
        raise DownloadError(f"{key}: Zenodo publishes md5 {published} but the expected md5 is {known}; "
                            f"the record has changed, check it before trusting the data")
    expected = known or published
    if not expected:
        raise DownloadError(f"{key}: no md5 to verify against (not in the record listing, none known)")
    return expected.lower()


# --- HTTP with resume ------------------------------------------------------------------------
def _open(url: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"{url}: cannot connect ({reason}); are you offline? Zenodo must be "
                            f"reachable, or pass --base-url for a mirror") from err


def _fetch(url: str, part: Path, size: int | None, *, progress: bool, timeout: float,
           retries: int) -> None:
    """Download ``url`` into ``part``, resuming from its current length (HTTP Range)."""
    from tqdm import tqdm       # the plain bar: downloads run from the command line

    last_error: Exception | None = None
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        if size is not None and have == size:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            resp = _open(url, headers, timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:    # nothing left to send: the part is complete
                return
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
        with resp:
            if have and resp.status != 206:     # server ignored the Range: start over
                have = 0
            total = size if size is not None else _content_total(resp, have)
            mode = "ab" if have else "wb"
            try:
                with open(part, mode) as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                  unit_divisor=1024, desc=part.name.removesuffix(".part"),
                                                  disable=not progress, leave=False) as bar:
                    while chunk := resp.read(CHUNK):
                        fh.write(chunk)
                        bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError, OSError) as err:
                last_error = err
            else:
                got = part.stat().st_size
                if total is None or got >= total:
                    return
                last_error = DownloadError(f"connection closed after {got} of {total} bytes")
        time.sleep(min(0.2 * 2 ** attempt, 5.0))
    raise DownloadError(f"{url}: download failed after {retries + 1} attempts ({last_error}); run again "
                        f"to resume from {part.stat().st_size if part.exists() else 0} bytes")


def _content_total(resp: Any, have: int) -> int | None:
    """Full size of the file from Content-Range (``bytes a-b/total``) or Content-Length."""
    content_range = resp.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = resp.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- safe extraction -------------------------------------------------------------------------
#: Largest ratio of a member's extracted size to its compressed size: recorded audio (h5, wav)
#: deflates to 1-3x; a member claiming far more is a decompression bomb.
MAX_EXPANSION = 20
#: Largest extracted size of one member, whatever its ratio (the real datasets' largest file is
#: under 2 GB).
MAX_MEMBER_BYTES = 8 << 30


def _size_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a member's declared sizes make it unsafe to extract (None when they do not)."""
    if info.file_size > MAX_MEMBER_BYTES:
        return f"{info.file_size:,} bytes, over the {MAX_MEMBER_BYTES:,}-byte limit of one member"
    if info.file_size > MAX_EXPANSION * max(info.compress_size, 1) and info.file_size > 1 << 20:
        return (f"{info.file_size:,} bytes from {info.compress_size:,} compressed, over {MAX_EXPANSION}x: "
                f"a decompression bomb")
    return None


def _copy_bounded(src: Any, dst: Any, limit: int) -> None:
    """Copy at most ``limit`` bytes; more means the member's header understated its size."""
    written = 0
    while chunk := src.read(CHUNK):
        written += len(chunk)
        if written > limit:
            raise DownloadError(f"more than the {limit:,} bytes its header declares")
        dst.write(chunk)


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/"):
        return "absolute path"
    if parts and len(parts[0]) >= 2 and parts[0][1] == ":":
        return "drive letter"
    if ".." in parts:
        return "'..' component escapes the target folder"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return None


def _skip(parts: tuple[str, ...]) -> bool:
    return any(p == "__MACOSX" or p == ".DS_Store" or p.startswith("._") for p in parts)


def _extract(zip_path: Path, archive: Archive, out: Path, *, overwrite: bool) -> None:
    """Extract the kept folder of ``zip_path`` into ``out / archive.into``, all or nothing."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as err:
        raise DownloadError(f"{zip_path}: not a valid zip archive ({err})") from err
    with zf:
        infos = zf.infolist()
        for info in infos:
            reason = _unsafe_reason(info) or _size_reason(info)
            if reason:
                raise DownloadError(f"{zip_path}: refusing to extract member {info.filename!r} ({reason})")
        files = [(info, PurePosixPath(info.filename.replace("\\", "/")).parts) for info in infos]
        files = [(info, parts) for info, parts in files if not info.is_dir() and not _skip(parts)]
        members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        for info, parts in files:
            cut = next((k for k, p in enumerate(parts[:-1]) if p in archive.keep), None)
            if cut is not None:
                members.append((info, parts[cut + 1:]))
        if not members and archive.whole_if_absent:
            members = files
        if not members:
            raise DownloadError(f"{zip_path}: no {'/'.join(archive.keep)}/ folder in the archive")

        out.mkdir(parents=True, exist_ok=True)
        staging = out / f".extract-{archive.key}"
        if staging.exists():
            shutil.rmtree(staging)
        root = staging / archive.into if archive.into else staging
        try:
            for info, rel in members:
                target = root.joinpath(*rel)
                if not target.resolve().is_relative_to(staging.resolve()):     # belt and braces
                    raise DownloadError(f"{zip_path}: member {info.filename!r} escapes the target folder")
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as dst:
                        _copy_bounded(src, dst, info.file_size)
                except (FileExistsError, NotADirectoryError, IsADirectoryError) as err:
                    raise DownloadError(f"{zip_path}: member {info.filename!r} clashes with another member "
                                        f"(a file and a folder of one name: {err.strerror})") from None
                except (zipfile.BadZipFile, zlib.error, EOFError) as err:
                    raise DownloadError(f"{zip_path}: member {info.filename!r} is corrupt ({err}); the archive "
                                        f"matched its checksum, so the published copy is damaged") from None
                except DownloadError as err:
                    raise DownloadError(f"{zip_path}: member {info.filename!r} holds {err}") from None
            _move_into(staging, out, overwrite=overwrite)
        finally:
            if staging.exists():
                shutil.rmtree(staging)


def _move_into(staging: Path, out: Path, *, overwrite: bool) -> None:
    entries = sorted(staging.iterdir())
    clashes = [out / e.name for e in entries if (out / e.name).exists()]
    if clashes and not overwrite:
        raise DownloadError(f"{clashes[0]}: already exists; pass overwrite=True (--overwrite) to replace it")
    for entry in entries:
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)
