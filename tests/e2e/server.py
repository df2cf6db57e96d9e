"""Start and stop `streamlit run <script>` on a free localhost port.

Shared by the browser tests (conftest.py's `app_server` fixture and the fresh server of
test_concurrency_e2e.py) and benchmarks/bench_server_memory.py, so it imports no pytest.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120  # the first start imports torch


class ServerStartError(RuntimeError):
    """Streamlit exited or did not answer its health check in time; the message names the log."""


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def start_server(
    script: str = "app.py",
    cwd: Path = REPO,
    log_path: Path | None = None,
    timeout_s: float = START_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> Server:
    """Run `streamlit run script` in `cwd` (with `env` added to this process's environment); return once
    /_stcore/health answers (output goes to log_path)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="streamlit-server-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    with open(log_path, "w") as log:  # the child keeps its own copy of the file descriptor
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
    server = Server(process, url, Path(log_path))
    deadline = time.monotonic() + timeout_s
    while not _healthy(url):
        if process.poll() is not None:
            raise ServerStartError(f"streamlit exited with {process.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            stop_server(server)
            raise ServerStartError(f"streamlit did not answer /_stcore/health within {timeout_s:g} s; see {log_path}")
        time.sleep(0.5)
    return server


def stop_server(server: Server) -> None:
    """Terminate the server (kill it if it does not stop within 15 s)."""
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
