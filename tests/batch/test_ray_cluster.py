"""`--runner ray --address HOST:PORT`: the job joins a running Ray cluster (a head started by `ray start`
on 127.0.0.1 with 2 CPUs, stopped by its process group at the end) and writes the local runner's rows."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch.conftest import FOLDER_KEYS, make_folder, read_jsonl
from tests.batch.test_interrupt import env as base_env
from tests.batch.test_local_cli import run

pytestmark = [pytest.mark.model, pytest.mark.slow]
pytest.importorskip("ray", reason="needs the ocrkit[ray] extra")


def env() -> dict[str, str]:
    # a loopback-only test cluster: Ray's token authentication is switched off (Ray's documented opt-out)
    return {**base_env(), "RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    port = free_port()
    logs = tmp_path_factory.mktemp("ray-head")
    # `ray start` records its address here for later ray.init() calls; put back what was there before
    current = Path("/tmp/ray/ray_current_cluster")
    before = current.read_bytes() if current.exists() else None
    ray_bin = Path(sys.executable).with_name("ray")
    args = [str(ray_bin), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2"]
    args += ["--object-store-memory", str(100 * 1024 * 1024), "--include-dashboard=false"]
    args += ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    with open(logs / "ray.log", "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env(), start_new_session=True)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            assert proc.poll() is None, (logs / "ray.log").read_text()[-2000:]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "ray head did not answer within 90 s"
                time.sleep(0.5)
        time.sleep(2)  # the raylet registers after the GCS port opens
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if before is None:
            current.unlink(missing_ok=True)
        else:
            current.write_bytes(before)


def test_joins_a_cluster_by_address_and_writes_the_local_rows(ray_head, tmp_path):
    folder = make_folder(tmp_path / "in")
    local = tmp_path / "local.jsonl"
    assert run(["batch", str(folder), "--out", str(local), "--batch-size", "4"]) == 0
    out = tmp_path / "ray.jsonl"
    argv = [sys.executable, "-m", "ocrkit.cli", "batch", str(folder), "--out", str(out)]
    argv += ["--runner", "ray", "--address", ray_head, "--workers", "1", "--batch-size", "4"]
    done = subprocess.run(argv, env=env(), capture_output=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    rows = read_jsonl(out)
    assert sorted(r["source"] for r in rows) == FOLDER_KEYS
    assert {r["source"]: r for r in rows} == {r["source"]: r for r in read_jsonl(local)}
