"""The Zenodo download against a loopback HTTP server that serves zips built here.

The server mimics what the downloader uses of Zenodo: ``/api/records/<id>`` (a ``files``
listing with ``"md5:<hex>"`` checksums and sizes) and ``/records/<id>/files/<name>`` (with
HTTP Range support). It can cut a response off half-way, or ignore Range, to test resuming.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from datafixtures import write_egfxset, write_springset

from springstudy.errors import UserError
from springstudy.data import DatasetError, open_dataset
from springstudy.cli.data import add_download
from springstudy.data.download import DownloadError, download

SPRINGSET_RECORD, EGFXSET_RECORD = 3746119, 7044411


class FakeZenodo:
    """State of the loopback server: files per record, what to break, what was asked."""

    def __init__(self) -> None:
        self.files: dict[int, dict[str, bytes]] = {}
        self.published_md5: dict[str, str] = {}     # override the md5 the listing publishes
        self.cut_once: set[str] = set()             # file names whose next response stops half-way
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        self.base_url = ""

    def add(self, record: int, name: str, data: bytes) -> None:
        self.files.setdefault(record, {})[name] = data

    def listing(self, record: int) -> bytes:
        files = [{"key": name, "size": len(data),
                  "checksum": "md5:" + self.published_md5.get(name, hashlib.md5(data).hexdigest()),
                  "links": {"self": f"{self.base_url}/api/records/{record}/files/{name}/content"}}
                 for name, data in self.files.get(record, {}).items()]
        return json.dumps({"id": record, "files": files}).encode()

    def file_requests(self, name: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path.endswith(f"/files/{name}")]


class _Handler(BaseHTTPRequestHandler):
    state: FakeZenodo

    def log_message(self, *args) -> None:     # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        state.requests.append((path, self.headers.get("Range")))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "records"] and len(parts) == 3 and int(parts[2]) in state.files:
            return self._send(200, state.listing(int(parts[2])), "application/json")
        if len(parts) == 4 and parts[0] == "records" and parts[2] == "files":
            data = state.files.get(int(parts[1]), {}).get(parts[3])
            if data is not None:
                return self._send_file(state, parts[3], data)
        self._send(404, b"not found", "text/plain")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, state: FakeZenodo, name: str, data: bytes) -> None:
        start, rng = 0, self.headers.get("Range")
        if rng and not state.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                return self._send(416, b"", "text/plain")
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if name in state.cut_once:              # the server dies half-way through the body
            state.cut_once.discard(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def zenodo():
    state = FakeZenodo()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = state
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def springset_zip(tmp_path: Path) -> bytes:
    """plate-spring.zip as the real archive is laid out: spring/ (kept) and plate/ (dropped)."""
    src = write_springset(tmp_path / "src-spring", n_train=4, n_val=2, length=800)
    members = {f"plate-spring/spring/{p.name}": p.read_bytes() for p in sorted(src.glob("*.h5"))}
    members["plate-spring/plate/dry_train.h5"] = b"plate data, not wanted"
    members["__MACOSX/plate-spring/spring/._dry_train.h5"] = b"resource fork"
    return make_zip(members)


def fetch(zenodo: FakeZenodo, dataset: str, out: Path, **kwargs) -> Path:
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("retries", 3)
    kwargs.setdefault("progress", False)
    return download(dataset, out, zenodo.base_url, **kwargs)


def test_springset_download_keeps_only_spring(zenodo, tmp_path):
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", springset_zip(tmp_path))
    out = fetch(zenodo, "springset", tmp_path / "raw" / "springset")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["dry_train.h5", "wet_train.h5", "dry_val_test.h5", "wet_val_test.h5"])
    pairs = open_dataset(out, verify=True)
    assert len(pairs) == 6 and pairs.layout == "springset"
    # a second run finds the data in place and does not touch the network
    zenodo.requests.clear()
    fetch(zenodo, "springset", out)
    assert zenodo.requests == []


def test_download_resumes_after_the_server_cuts_off(zenodo, tmp_path):
    data = springset_zip(tmp_path)
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", data)
    zenodo.cut_once.add("plate-spring.zip")
    out = fetch(zenodo, "springset", tmp_path / "out", progress=True)     # the tqdm path too
    ranges = zenodo.file_requests("plate-spring.zip")
    assert ranges == [None, f"bytes={len(data) // 2}-"]       # second request resumes, not restarts
    assert len(open_dataset(out)) == 6


def test_download_resumes_a_part_file_left_by_an_interrupted_run(zenodo, tmp_path):
    data = springset_zip(tmp_path)
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", data)
    out = tmp_path / "out"
    (out / ".download").mkdir(parents=True)
    (out / ".download" / "plate-spring.zip.part").write_bytes(data[:1000])
    fetch(zenodo, "springset", out)
    assert zenodo.file_requests("plate-spring.zip") == ["bytes=1000-"]
    assert not (out / ".download").exists()
    assert len(open_dataset(out)) == 6


def test_server_without_range_support_restarts_cleanly(zenodo, tmp_path):
    data = springset_zip(tmp_path)
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", data)
    zenodo.ignore_range = True
    out = tmp_path / "out"
    (out / ".download").mkdir(parents=True)
    (out / ".download" / "plate-spring.zip.part").write_bytes(data[:1000])
    fetch(zenodo, "springset", out)
    assert len(open_dataset(out)) == 6


def test_checksum_mismatch_is_an_error_and_leaves_nothing(zenodo, tmp_path):
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", springset_zip(tmp_path))
    zenodo.published_md5["plate-spring.zip"] = "0" * 32
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="plate-spring.zip: checksum mismatch .*expected 0{32}"):
        fetch(zenodo, "springset", out)
    assert not any(p for p in out.rglob("*") if p.is_file())      # no partial file, nothing extracted


def test_a_member_escaping_the_target_is_refused(zenodo, tmp_path):
    evil = make_zip({"plate-spring/spring/dry_train.h5": b"x", "plate-spring/spring/../../../evil.txt": b"gotcha"})
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", evil)
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(DownloadError, match=r"refusing to extract member .*evil.txt.*'\.\.' component"):
        fetch(zenodo, "springset", out)
    assert not list(tmp_path.rglob("evil.txt"))
    assert not (out / "dry_train.h5").exists()                    # all or nothing


def test_absolute_member_is_refused(zenodo, tmp_path):
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", make_zip({"/tmp/spring/dry_train.h5": b"x"}))
    with pytest.raises(DownloadError, match="absolute path"):
        fetch(zenodo, "springset", tmp_path / "out")


def test_offline_fails_fast_with_a_clear_message(tmp_path):
    with socket.socket() as sock:             # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(DownloadError, match="cannot connect .*are you offline"):
        download("springset", tmp_path / "out", f"http://127.0.0.1:{port}", progress=False, timeout=2.0)
    assert time.monotonic() - started < 5


def _egfxset_zips(tmp_path: Path) -> tuple[bytes, bytes]:
    src = write_egfxset(tmp_path / "src-egfx", positions=("Bridge",), names=("1-0", "6-0"), length=960)
    clean = make_zip({f"Clean/Bridge/{p.name}": p.read_bytes() for p in (src / "Clean" / "Bridge").iterdir()})
    wet = make_zip({f"Spring-Reverb/Bridge/{p.name}": p.read_bytes()
                    for p in (src / "Spring Reverb" / "Bridge").iterdir()})
    return clean, wet


def test_egfxset_download_lays_out_clean_and_spring_reverb(zenodo, tmp_path):
    clean, wet = _egfxset_zips(tmp_path)
    zenodo.add(EGFXSET_RECORD, "Clean.zip", clean)
    zenodo.add(EGFXSET_RECORD, "Spring-Reverb.zip", wet)
    checksums = {"Clean.zip": hashlib.md5(clean).hexdigest(), "Spring-Reverb.zip": hashlib.md5(wet).hexdigest()}
    out = fetch(zenodo, "egfxset", tmp_path / "egfxset", checksums=checksums)
    assert (out / "Spring Reverb" / "Bridge" / "6-0.wav").is_file()
    assert open_dataset(out).ids == ["egfxset/Bridge/1-0", "egfxset/Bridge/6-0"]


def test_known_checksum_disagreeing_with_zenodo_stops_the_download(zenodo, tmp_path):
    clean, wet = _egfxset_zips(tmp_path)          # not the real archives: their md5 is not KNOWN_MD5's
    zenodo.add(EGFXSET_RECORD, "Clean.zip", clean)
    zenodo.add(EGFXSET_RECORD, "Spring-Reverb.zip", wet)
    with pytest.raises(DownloadError, match="Clean.zip: Zenodo publishes md5 .* record has changed"):
        fetch(zenodo, "egfxset", tmp_path / "egfxset")
    assert zenodo.file_requests("Clean.zip") == []


def test_missing_record_is_an_http_error(zenodo, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(zenodo, "springset", tmp_path / "out")


def test_download_errors_are_dataset_errors():
    assert issubclass(DownloadError, DatasetError)


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="springstudy")
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data").add_subparsers(dest="data_command", required=True)
    add_download(data)
    return parser.parse_args(argv)


def test_cli_download_subcommand(zenodo, tmp_path, capsys):
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", springset_zip(tmp_path))
    out = tmp_path / "cli-out"
    args = _cli(["data", "download", "springset", "--out", str(out), "--base-url", zenodo.base_url,
                 "--no-progress", "--timeout", "5"])
    args.func(args)
    assert "springset ready in" in capsys.readouterr().out
    assert len(open_dataset(out)) == 6
    with pytest.raises(SystemExit):
        _cli(["data", "download", "plate", "--out", str(out)])


def test_cli_reports_offline_as_a_user_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = _cli(["data", "download", "egfxset", "--out", str(tmp_path / "o"),
                 "--base-url", f"http://127.0.0.1:{port}", "--no-progress", "--timeout", "2"])
    with pytest.raises(UserError, match="offline"):
        args.func(args)


def deflated_zip(members: dict[str, bytes]) -> bytes:
    return make_zip(members, zipfile.ZIP_DEFLATED)


def test_a_decompression_bomb_is_refused_before_anything_is_written(zenodo, tmp_path):
    """64 MiB of zeros deflate to about 64 KiB (1000x): refused from the header, nothing written."""
    bomb = deflated_zip({"plate-spring/spring/dry_train.h5": bytes(64 << 20)})
    assert len(bomb) < 1 << 20
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", bomb)
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="dry_train.h5.*decompression bomb"):
        fetch(zenodo, "springset", out)
    assert not any(p.is_file() and p.suffix != ".zip" for p in out.rglob("*"))


def test_a_member_larger_than_its_header_says_is_refused_and_removed(tmp_path):
    from springstudy.data.download import Archive, _extract

    data = deflated_zip({"spring/dry_train.h5": bytes(range(256)) * 64})
    # Lower the declared size in the central directory (offset 24 of the entry), as a crafted archive would.
    at = data.rindex(b"PK\x01\x02")
    forged = data[:at + 24] + (100).to_bytes(4, "little") + data[at + 28:]
    (tmp_path / "a.zip").write_bytes(forged)
    archive = Archive("a.zip", ("spring",), "", False, ())
    with pytest.raises(DownloadError, match="dry_train.h5"):
        _extract(tmp_path / "a.zip", archive, tmp_path / "out", overwrite=False)
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_a_corrupt_member_with_a_matching_checksum_is_a_clear_error(zenodo, tmp_path):
    good = deflated_zip({"plate-spring/spring/dry_train.h5": bytes(range(256)) * 400})
    start = good.index(b"dry_train.h5") + len("dry_train.h5") + 10        # inside the compressed data
    corrupt = good[:start] + bytes(b ^ 0xFF for b in good[start:start + 16]) + good[start + 16:]
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip", corrupt)            # published md5 is the corrupt file's
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="dry_train.h5.*is corrupt"):
        fetch(zenodo, "springset", out)
    assert not any(p.is_file() and p.suffix != ".zip" for p in out.rglob("*"))


def test_a_member_that_is_a_file_and_a_folder_is_a_clear_error(zenodo, tmp_path):
    zenodo.add(SPRINGSET_RECORD, "plate-spring.zip",
               make_zip({"plate-spring/spring/a": b"file", "plate-spring/spring/a/b.h5": b"x"}))
    with pytest.raises(DownloadError, match="clashes with another member"):
        fetch(zenodo, "springset", tmp_path / "out")


def test_out_pointing_at_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DownloadError, match="is a file, not a folder"):
        download("springset", tmp_path / "file", "http://127.0.0.1:9", progress=False)
