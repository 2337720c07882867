"""JupyterLab as a new user meets it: `make lab`'s server lists the `springstudy` kernel (inside
this venv), serves the notebooks, and a notebook's cells run in a kernel that the server starts.

The server listens on loopback only and is stopped at the end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOKEN = uuid.uuid4().hex

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    home = tmp_path_factory.mktemp("home")      # nothing from the user's home folder
    env = dict(os.environ, HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    env.pop("JUPYTER_PATH", None)
    log = (tmp_path_factory.mktemp("log") / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={ROOT}", "--ServerApp.open_browser=False",
         *(["--allow-root"] if os.geteuid() == 0 else [])],        # as `make lab` does
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/api/status", params={"token": TOKEN}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _get(url: str, path: str) -> requests.Response:
    response = requests.get(f"{url}{path}", params={"token": TOKEN}, timeout=30)
    response.raise_for_status()
    return response


def test_lab_lists_the_springstudy_kernel_of_this_venv(lab: str) -> None:
    specs = _get(lab, "/api/kernelspecs").json()["kernelspecs"]
    assert "springstudy" in specs, sorted(specs)
    argv = specs["springstudy"]["spec"]["argv"]
    assert Path(os.path.abspath(argv[0])).is_relative_to(os.path.abspath(sys.prefix)), argv
    assert "JupyterLab" in requests.get(f"{lab}/lab", params={"token": TOKEN}, timeout=30).text


def test_lab_serves_the_ordered_notebooks(lab: str) -> None:
    listed = {item["name"] for item in _get(lab, "/api/contents/notebooks").json()["content"]}
    on_disk = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert on_disk and on_disk <= listed
    nb = _get(lab, "/api/contents/notebooks/00_environment.ipynb").json()["content"]
    assert nb["cells"][0]["cell_type"] in ("markdown", "code")


def test_a_notebook_runs_in_a_kernel_the_server_starts(lab: str) -> None:
    session = requests.post(f"{lab}/api/sessions", params={"token": TOKEN}, timeout=60, json={
        "path": "notebooks/00_environment.ipynb", "type": "notebook", "name": "",
        "kernel": {"name": "springstudy"}}).json()
    kernel = session["kernel"]["id"]
    ws = websocket.create_connection(f"{lab.replace('http', 'ws')}/api/kernels/{kernel}/channels?token={TOKEN}",
                                     timeout=120)
    try:
        notebook = json.loads((ROOT / "notebooks" / "00_environment.ipynb").read_text())
        cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
        cells.append("import sys, springstudy; print('PREFIX', sys.prefix, springstudy.__version__)")
        printed = []
        for code in cells:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                                           "session": uuid.uuid4().hex, "version": "5.3"},
                                "parent_header": {}, "metadata": {}, "channel": "shell",
                                "content": {"code": code, "silent": False, "store_history": True,
                                            "user_expressions": {}, "allow_stdin": False}}))
            replied = idle = False
            while not (replied and idle):     # the reply (shell) and the outputs (iopub) arrive apart
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "stream":
                    printed.append(msg["content"]["text"])
                elif kind == "error":
                    pytest.fail(f"cell failed in the lab kernel: {msg['content']['ename']}: {msg['content']['evalue']}")
                elif kind == "execute_reply":
                    assert msg["content"]["status"] == "ok"
                    replied = True
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
        text = "".join(printed)
        assert '"torch": "2.11' in text                     # the environment record was printed
        prefix_line = next(line for line in text.splitlines() if line.startswith("PREFIX"))
        assert os.path.abspath(prefix_line.split()[1]) == os.path.abspath(sys.prefix)
    finally:
        ws.close()
        requests.delete(f"{lab}/api/sessions/{session['id']}", params={"token": TOKEN}, timeout=30)
