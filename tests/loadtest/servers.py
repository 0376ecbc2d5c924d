"""Start the production server (`ocrkit serve`: gunicorn) in a subprocess on 127.0.0.1 for a test.

`running_server([...serve options...])` is a context manager yielding a `Served` (url, port, pid, log);
on exit the server gets SIGTERM (gunicorn's graceful stop) and, if still there after a grace period,
SIGKILL. Only the process the helper started is signalled, by its PID.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ocrkit.server.metrics import resident_memory_bytes

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def rss_bytes(self) -> int:
        """Resident memory of the arbiter and its workers, together."""
        total = 0
        for pid in [self.pid, *children(self.pid)]:
            total += resident_memory_bytes(pid) or 0
        return total


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, path: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    host, port = url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def post(
    url: str, path: str, body: bytes, content_type: str, headers: dict | None = None, timeout: float = 60.0
) -> tuple[int, dict[str, str], bytes]:
    host, port = url.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wait_ready(served: Served, timeout_s: float = 120.0) -> None:
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        if served.process.poll() is not None:
            raise RuntimeError(
                f"the server exited ({served.process.returncode}):\n{served.log_text()[-3000:]}"
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _, _ = get(served.url, "/ping", timeout=2.0)
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready in {timeout_s:g} s:\n{served.log_text()[-3000:]}")


def stop(served: Served, grace_s: float = 15.0) -> int | None:
    process = served.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the arbiter and its workers
            process.wait(timeout=10)
    return process.returncode


@contextlib.contextmanager
def running_server(
    args: list[str],
    *,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 120.0,
) -> Iterator[Served]:
    """`ocrkit serve --port <free> ARGS` until the block ends."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    argv = [sys.executable, "-m", "ocrkit.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=environ,
            start_new_session=True,
        )
    served = Served(f"http://127.0.0.1:{port}", port, process, log)
    try:
        wait_ready(served, ready_timeout_s)
        yield served
    finally:
        stop(served)


def small_checkpoint(path: Path) -> Path:
    """A random-init resnet18 / hidden 64 model (fast to load; its text is meaningless)."""
    from ocrkit.core_model.checkpoint import save_checkpoint
    from ocrkit.core_model.network import TransformerModel

    return save_checkpoint(TransformerModel("resnet18", 92, 64, 1, 1, 4, 0.0), path)
